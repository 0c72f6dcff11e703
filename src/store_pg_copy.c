/* The PostgreSQL engine: whole tables out and in, for otpgate-admin copy.
 * The statements are made from store_tables (fixed names, never input),
 * once per copy, so they are not kept prepared. */
#include "config.h"

#include <stdlib.h>

#include "store_pg.h"
#include "util.h"

enum store_rc store_pg_table_rows(struct store_pg *s, enum store_table t,
                                  store_row_fn fn, void *ctx) {
  char *sql = store_table_select_sql(&store_tables[t], "encode(", ", 'hex')");
  enum store_rc rc;
  int rows;
  PGresult *r = pg_exec_once(s, sql, NULL, &rc);
  free(sql);
  return r ? pg_result_rows(r, fn, ctx, &rows) : rc;
}

enum store_rc store_pg_table_insert(struct store_pg *s, enum store_table t,
                                    const struct store_row *row) {
  const struct store_table_def *d = &store_tables[t];
  struct pg_params p = {0};
  unsigned char *bytes[STORE_TABLE_COLUMNS_MAX] = {0};
  enum store_rc rc = STORE_OK;
  if (!store_row_matches(d, row))
    return STORE_ERROR;
  for (int i = 0; i < d->ncols && rc == STORE_OK; i++) {
    size_t len;
    if (row->values[i] != NULL && d->blob[i]) {
      if ((bytes[i] = store_hex_decode(row->values[i], &len)) == NULL)
        rc = STORE_ERROR;
      else
        pg_param_bytes(&p, bytes[i], len);
    } else {
      pg_param_text(&p, row->values[i]);
    }
  }
  if (rc == STORE_OK) {
    char *sql = store_table_insert_sql(d, '$');
    PQclear(pg_exec_once(s, sql, &p, &rc));
    free(sql);
  }
  for (int i = 0; i < d->ncols; i++)
    free(bytes[i]);
  return rc;
}

enum store_rc store_pg_begin_snapshot(struct store_pg *s) {
  enum store_rc rc = store_pg_begin_write(s);
  if (rc == STORE_OK) {
    /* One snapshot for every table, read-only, and no timeouts: the other
     * side inserts for as long as it takes between two tables. */
    static const char sql[] =
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    static const char off[] =
        "SELECT set_config('statement_timeout', '0', true), "
        "set_config('idle_in_transaction_session_timeout', '0', true)";
    rc = pg_run(s, sql, NULL, NULL);
    if (rc == STORE_OK)
      rc = pg_run(s, off, NULL, NULL);
    if (rc != STORE_OK)
      store_pg_rollback(s);
  }
  return rc;
}

/* The identity columns hand out ids after the copied ones. */
enum store_rc store_pg_table_ids_done(struct store_pg *s) {
  enum store_rc rc = STORE_OK;
  for (int t = 0; t < STORE_TABLE_COUNT && rc == STORE_OK; t++) {
    if (!store_tables[t].has_id)
      continue;
    char *sql = xasprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), "
                          "coalesce(max(id), 0) + 1, false) FROM %s",
                          store_tables[t].name, store_tables[t].name);
    PQclear(pg_exec_once(s, sql, NULL, &rc));
    free(sql);
  }
  return rc;
}
