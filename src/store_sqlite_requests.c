/* Idempotency records: what was answered to each (method, requestId). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "util.h"

enum store_rc store_sqlite_request_get(struct store_sqlite *s,
                                       const char *method,
                                       const char *request_id,
                                       struct store_request *out) {
  static const char sql[] =
      "SELECT key_id, fingerprint, http_status, answer FROM requests "
      "WHERE method = ?1 AND request_id = ?2";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, method);
  store_bind_text(st, 2, request_id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    memset(out, 0, sizeof *out);
    out->key_id = sqlite3_column_int64(st, 0);
    store_column_blob(st, 1, out->fingerprint, STORE_FINGERPRINT_LEN);
    out->http_status = sqlite3_column_int(st, 2);
    const char *answer = (const char *)sqlite3_column_text(st, 3);
    out->answer = xstrdup(answer ? answer : "");
  }
  return store_one_row_rc(st, rc);
}

enum store_rc store_sqlite_request_put(struct store_sqlite *s,
                                       const char *method,
                                       const char *request_id,
                                       const struct store_request *r,
                                       int64_t now) {
  static const char sql[] =
      "INSERT INTO requests (method, request_id, key_id, fingerprint, "
      "http_status, answer, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, method);
  store_bind_text(st, 2, request_id);
  sqlite3_bind_int64(st, 3, r->key_id);
  sqlite3_bind_blob(st, 4, r->fingerprint, STORE_FINGERPRINT_LEN,
                    SQLITE_STATIC);
  sqlite3_bind_int(st, 5, r->http_status);
  store_bind_text(st, 6, r->answer);
  sqlite3_bind_int64(st, 7, now);
  return store_exec_stmt(s, st);
}
