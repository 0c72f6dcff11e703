/* The SQLite engine: whole tables out and in, for otpgate-admin copy. The
 * statements are made from store_tables (fixed names, never input), once
 * per copy, so they stay out of the statement cache. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "util.h"

enum store_rc store_sqlite_table_rows(struct store_sqlite *s,
                                      enum store_table t, store_row_fn fn,
                                      void *ctx) {
  char *sql =
      store_table_select_sql(&store_tables[t], "nullif(lower(hex(", ")), '')");
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  free(sql);
  if (rc != SQLITE_OK)
    return store_rc_from(rc);
  enum store_rc r = store_rows(s, st, fn, ctx);
  sqlite3_finalize(st);
  return r;
}

enum store_rc store_sqlite_table_insert(struct store_sqlite *s,
                                        enum store_table t,
                                        const struct store_row *row) {
  const struct store_table_def *d = &store_tables[t];
  if (!store_row_matches(d, row))
    return STORE_ERROR;
  char *sql = store_table_insert_sql(d, '?');
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  free(sql);
  if (rc != SQLITE_OK)
    return store_rc_from(rc);
  for (int i = 0; i < d->ncols; i++) {
    const char *v = row->values[i];
    if (v != NULL && d->blob[i]) {
      size_t len;
      unsigned char *bytes = store_hex_decode(v, &len);
      if (bytes == NULL) {
        sqlite3_finalize(st);
        return STORE_ERROR;
      }
      sqlite3_bind_blob(st, i + 1, bytes, (int)len, SQLITE_TRANSIENT);
      free(bytes);
    } else {
      store_bind_text(st, i + 1, v); /* column affinity makes numbers */
    }
  }
  enum store_rc r = store_exec_stmt(s, st);
  sqlite3_finalize(st);
  return r;
}

enum store_rc store_sqlite_begin_snapshot(struct store_sqlite *s) {
  return store_sqlite_begin_write(s); /* nobody writes meanwhile */
}

enum store_rc store_sqlite_table_ids_done(struct store_sqlite *s) {
  (void)s; /* an INTEGER PRIMARY KEY's next id is max(id) + 1 already */
  return STORE_OK;
}
