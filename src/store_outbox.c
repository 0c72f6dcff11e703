/* The outbox: one row per SMS, from the worker's insert to a final state. */
#include "config.h"

#include <string.h>

#include "store_internal.h"

static const char *const outbox_statuses[] = {
    "queued", "sending", "sent", "failed", "expired", "unknown", NULL};

bool store_outbox_status_valid(const char *status) {
  for (int i = 0; outbox_statuses[i]; i++)
    if (strcmp(status, outbox_statuses[i]) == 0)
      return true;
  return false;
}

enum store_rc store_outbox_insert(struct store *s,
                                  const struct store_outbox_new *row,
                                  int64_t *id) {
  static const char sql[] =
      "INSERT INTO outbox (otp_id, account_id, destination, text, "
      "code_offset, code_length, next_attempt_at, expires_at, created_at, "
      "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?7)";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  if (row->otp_id)
    sqlite3_bind_int64(st, 1, row->otp_id);
  else
    sqlite3_bind_null(st, 1);
  store_bind_text(st, 2, row->account_id);
  store_bind_text(st, 3, row->destination);
  store_bind_text(st, 4, row->text);
  sqlite3_bind_int64(st, 5, (sqlite3_int64)row->code_offset);
  sqlite3_bind_int64(st, 6, (sqlite3_int64)row->code_length);
  sqlite3_bind_int64(st, 7, row->created_at);
  sqlite3_bind_int64(st, 8, row->expires_at);
  enum store_rc rc = store_exec_stmt(s, st);
  if (rc == STORE_OK && id)
    *id = sqlite3_last_insert_rowid(s->db);
  return rc;
}

enum store_rc store_outbox_list(struct store *s, const char *status,
                                int64_t since, store_row_fn fn, void *ctx) {
  /* The audit view masks the destination and the code. */
  static const char sql[] =
      "SELECT v.id, v.account, v.destination, v.status, v.attempts, v.created, "
      "v.updated, v.sent, v.last_error FROM audit_outbox AS v "
      "JOIN outbox AS o ON o.id = v.id "
      "WHERE (?1 IS NULL OR o.status = ?1) AND o.created_at >= ?2 "
      "ORDER BY o.id";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, status);
  sqlite3_bind_int64(st, 2, since);
  return store_rows(s, st, fn, ctx);
}

struct counting_fn {
  store_row_fn fn;
  void *ctx;
  int rows;
};

static void count_and_forward(const struct store_row *row, void *ctx) {
  struct counting_fn *c = ctx;
  c->rows++;
  c->fn(row, c->ctx);
}

enum store_rc store_outbox_show(struct store *s, int64_t id, store_row_fn fn,
                                void *ctx) {
  static const char sql[] = "SELECT * FROM audit_outbox WHERE id = ?1";
  sqlite3_stmt *st = store_stmt(s, sql);
  struct counting_fn c = {fn, ctx, 0};
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, id);
  enum store_rc rc = store_rows(s, st, count_and_forward, &c);
  if (rc == STORE_OK && c.rows == 0)
    return STORE_NOT_FOUND;
  return rc;
}
