/* The PostgreSQL engine: idempotency records, what was answered to each
 * (method, requestId) (store_sqlite_requests.c's twin). */
#include "config.h"

#include <string.h>

#include "store_pg.h"
#include "util.h"

enum store_rc store_pg_request_get(struct store_pg *s, const char *method,
                                   const char *request_id,
                                   struct store_request *out) {
  /* Two copies of one request on two machines: the second waits here,
   * until the first's transaction ends, and then (its own statement, READ
   * COMMITTED) reads the answer the first recorded, as SQLite's single
   * writer has it. */
  static const char sql_lock[] =
      "SELECT pg_advisory_xact_lock(hashtextextended("
      "$1::text || chr(10) || $2::text, 0))";
  static const char sql[] =
      "SELECT key_id, fingerprint, http_status, answer FROM requests "
      "WHERE method = $1 AND request_id = $2";
  struct pg_params p = {0};
  enum store_rc rc;
  pg_param_text(&p, method);
  pg_param_text(&p, request_id);
  if (s->in_tx && (rc = pg_run(s, sql_lock, &p, NULL)) != STORE_OK)
    return rc;
  PGresult *r = pg_exec(s, sql, &p, &rc);
  if (r == NULL)
    return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return STORE_NOT_FOUND;
  }
  memset(out, 0, sizeof *out);
  out->key_id = pg_get_int(r, 0, 0);
  pg_get_bytes(r, 0, 1, out->fingerprint, STORE_FINGERPRINT_LEN);
  out->http_status = (int)pg_get_int(r, 0, 2);
  out->answer = xstrdup(pg_is_null(r, 0, 3) ? "" : PQgetvalue(r, 0, 3));
  PQclear(r);
  return STORE_OK;
}

enum store_rc store_pg_request_put(struct store_pg *s, const char *method,
                                   const char *request_id,
                                   const struct store_request *r, int64_t now) {
  /* A record already there changes nothing: STORE_EXISTS, without an
   * error that would abort the caller's transaction. */
  static const char sql[] =
      "INSERT INTO requests (method, request_id, key_id, fingerprint, "
      "http_status, answer, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
      "ON CONFLICT DO NOTHING";
  struct pg_params p = {0};
  int64_t changed = 0;
  pg_param_text(&p, method);
  pg_param_text(&p, request_id);
  pg_param_int(&p, r->key_id);
  pg_param_bytes(&p, r->fingerprint, STORE_FINGERPRINT_LEN);
  pg_param_int(&p, r->http_status);
  pg_param_text(&p, r->answer);
  pg_param_int(&p, now);
  enum store_rc rc = pg_run(s, sql, &p, &changed);
  return rc == STORE_OK && changed == 0 ? STORE_EXISTS : rc;
}
