/* Idempotency records: what was answered to each requestId. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "util.h"

enum store_rc store_request_get(struct store *s, const char *request_id,
                                struct store_request *out) {
  static const char sql[] = "SELECT method, fingerprint, http_status, answer "
                            "FROM requests WHERE request_id = ?1";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, request_id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    memset(out, 0, sizeof *out);
    store_column_copy(st, 0, out->method, sizeof out->method);
    store_column_blob(st, 1, out->fingerprint, STORE_FINGERPRINT_LEN);
    out->http_status = sqlite3_column_int(st, 2);
    const char *answer = (const char *)sqlite3_column_text(st, 3);
    out->answer = xstrdup(answer ? answer : "");
  }
  return store_one_row_rc(st, rc);
}

void store_request_free(struct store_request *r) {
  free(r->answer);
  r->answer = NULL;
}

enum store_rc store_request_put(struct store *s, const char *request_id,
                                const char *method,
                                const unsigned char *fingerprint,
                                int http_status, const char *answer,
                                int64_t now) {
  static const char sql[] =
      "INSERT INTO requests (request_id, method, fingerprint, http_status, "
      "answer, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, request_id);
  store_bind_text(st, 2, method);
  sqlite3_bind_blob(st, 3, fingerprint, STORE_FINGERPRINT_LEN, SQLITE_STATIC);
  sqlite3_bind_int(st, 4, http_status);
  store_bind_text(st, 5, answer);
  sqlite3_bind_int64(st, 6, now);
  return store_exec_stmt(s, st);
}
