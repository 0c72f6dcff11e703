/* The outbox: one row per SMS, from the worker's insert to a final state. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "util.h"

enum store_rc store_sqlite_outbox_insert(struct store_sqlite *s,
                                         const struct store_outbox_new *row,
                                         int64_t *id) {
  static const char sql[] =
      "INSERT INTO outbox (otp_id, account_id, destination, text, "
      "code_offset, code_length, next_attempt_at, expires_at, created_at, "
      "updated_at, sealed_code, key_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?7, ?9, ?10)";
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
  sqlite3_bind_blob(st, 9, row->sealed, (int)row->sealed_len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 10, row->key_id);
  enum store_rc rc = store_exec_stmt(s, st);
  if (rc == STORE_OK && id)
    *id = sqlite3_last_insert_rowid(s->db);
  return rc;
}

enum store_rc store_sqlite_outbox_count_since(struct store_sqlite *s,
                                              int64_t since, const char *prefix,
                                              int64_t *count) {
  /* substr(), not LIKE: a prefix is digits and '+', never a pattern. */
  static const char sql[] =
      "SELECT count(*) FROM outbox WHERE created_at >= ?1 "
      "AND (?2 IS NULL OR substr(destination, 1, length(?2)) = ?2)";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, since);
  store_bind_text(st, 2, prefix);
  return store_int_row(st, count);
}

enum store_rc store_sqlite_outbox_status_counts(struct store_sqlite *s,
                                                store_row_fn fn, void *ctx) {
  static const char sql[] =
      "SELECT status, count(*) AS count FROM outbox GROUP BY status "
      "ORDER BY status";
  return store_rows(s, store_stmt(s, sql), fn, ctx);
}

enum store_rc store_sqlite_outbox_oldest_queued(struct store_sqlite *s,
                                                int64_t *created_at) {
  static const char sql[] =
      "SELECT coalesce(min(created_at), 0) FROM outbox WHERE status = 'queued'";
  return store_int_row(store_stmt(s, sql), created_at);
}

enum store_rc store_sqlite_outbox_list(struct store_sqlite *s,
                                       const enum outbox_status *status,
                                       int64_t since, const char *account,
                                       int64_t limit, store_row_fn fn,
                                       void *ctx) {
  /* The audit view masks the destination and the code. The newest rows
   * are taken (LIMIT -1: all), then listed oldest first. */
  static const char sql[] =
      "SELECT * FROM (SELECT v.id, v.account, v.destination, v.status, "
      "v.attempts, v.created, v.updated, v.sent, v.last_error "
      "FROM audit_outbox AS v JOIN outbox AS o ON o.id = v.id "
      "WHERE (?1 IS NULL OR o.status = ?1) AND o.created_at >= ?2 "
      "AND (?3 IS NULL OR o.account_id = ?3) "
      "ORDER BY o.id DESC LIMIT ?4) ORDER BY id";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(
      st, 1, status ? store_vocab_name(&store_outbox_statuses, *status) : NULL);
  sqlite3_bind_int64(st, 2, since);
  store_bind_text(st, 3, account);
  sqlite3_bind_int64(st, 4, limit > 0 ? limit : -1);
  return store_rows(s, st, fn, ctx);
}

enum store_rc store_sqlite_outbox_show(struct store_sqlite *s, int64_t id,
                                       store_row_fn fn, void *ctx) {
  static const char sql[] = "SELECT * FROM audit_outbox WHERE id = ?1";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, id);
  return store_rows_at_least_one(s, st, fn, ctx);
}

enum store_rc store_sqlite_outbox_of_send(struct store_sqlite *s,
                                          const char *id, store_row_fn fn,
                                          void *ctx) {
  static const char sql[] = "SELECT * FROM audit_outbox WHERE send_otp_id = ?1 "
                            "OR send_otp_request_id = ?1 ORDER BY id";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, id);
  return store_rows(s, st, fn, ctx);
}

/* Runs st and adds the rows it changed to *count. */
static enum store_rc outbox_exec_counting(struct store_sqlite *s,
                                          sqlite3_stmt *st, int64_t *count) {
  enum store_rc rc = store_exec_stmt(s, st);
  if (rc == STORE_OK)
    *count += sqlite3_changes(s->db);
  return rc;
}

/* Due rows whose code expired: never sent, now final. */
static enum store_rc outbox_expire_due(struct store_sqlite *s, int64_t now,
                                       int64_t *closed) {
  static const char sql[] =
      "UPDATE outbox SET status = 'expired', sealed_code = NULL, "
      "last_error = 'the code expired before it could be sent'"
      " || coalesce('; before that: ' || last_error, ''), updated_at = ?1 "
      "WHERE status IN ('queued', 'sending') AND next_attempt_at <= ?1 "
      "AND expires_at <= ?1";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, now);
  return outbox_exec_counting(s, st, closed);
}

/* Due rows with no attempt left. A queued one failed transiently every
 * time (max_attempts was lowered since); a sending one lost its lease on
 * its last attempt, so nobody knows whether that attempt went out. */
static enum store_rc outbox_give_up_due(struct store_sqlite *s, int64_t now,
                                        int64_t max_attempts, int64_t *closed) {
  static const char sql[] =
      "UPDATE outbox SET "
      "status = CASE status WHEN 'sending' THEN 'unknown' ELSE 'failed' END, "
      "last_error = CASE status WHEN 'sending' "
      "THEN 'the sender died or stalled during the last attempt' "
      "ELSE coalesce(last_error, 'no attempts left') END, "
      "sealed_code = NULL, updated_at = ?1 "
      "WHERE status IN ('queued', 'sending') AND next_attempt_at <= ?1 "
      "AND attempts >= ?2";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, now);
  sqlite3_bind_int64(st, 2, max_attempts);
  return outbox_exec_counting(s, st, closed);
}

/* Takes the oldest due row: rows whose lease ran out first (they have
 * waited longest), then queued ones. Each subquery walks outbox_due in
 * order, so a backlog costs no sort. Rows that store_sqlite_outbox_close_due()
 * would close (expired, out of attempts) are passed over, never sent. */
static enum store_rc outbox_take_due(struct store_sqlite *s, const char *owner,
                                     int64_t now, int64_t lease_ms,
                                     int64_t max_attempts,
                                     struct store_outbox_claim *out) {
  static const char sql[] =
      "UPDATE outbox SET status = 'sending', lease_owner = ?2, "
      "next_attempt_at = ?1 + ?3, attempts = attempts + 1, updated_at = ?1 "
      "WHERE id = coalesce("
      "(SELECT id FROM outbox WHERE status = 'sending' "
      "AND next_attempt_at <= ?1 AND expires_at > ?1 AND attempts < ?4 "
      "ORDER BY next_attempt_at LIMIT 1), "
      "(SELECT id FROM outbox WHERE status = 'queued' "
      "AND next_attempt_at <= ?1 AND expires_at > ?1 AND attempts < ?4 "
      "ORDER BY next_attempt_at LIMIT 1)) "
      "RETURNING id, destination, text, code_offset, code_length, attempts, "
      "expires_at, next_attempt_at, sealed_code, key_id";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, now);
  store_bind_text(st, 2, owner);
  sqlite3_bind_int64(st, 3, lease_ms);
  sqlite3_bind_int64(st, 4, max_attempts);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *text = (const char *)sqlite3_column_text(st, 2);
    out->id = sqlite3_column_int64(st, 0);
    store_column_copy(st, 1, out->destination, sizeof out->destination);
    out->text = xstrdup(text ? text : "");
    out->code_offset = (size_t)sqlite3_column_int64(st, 3);
    out->code_length = (size_t)sqlite3_column_int64(st, 4);
    out->attempts = sqlite3_column_int64(st, 5);
    out->expires_at = sqlite3_column_int64(st, 6);
    out->lease_until = sqlite3_column_int64(st, 7);
    out->sealed_len = (size_t)sqlite3_column_bytes(st, 8);
    if (out->sealed_len > sizeof out->sealed)
      out->sealed_len = 0; /* cannot open: the sender says so */
    if (out->sealed_len)
      memcpy(out->sealed, sqlite3_column_blob(st, 8), out->sealed_len);
    out->key_id = sqlite3_column_int64(st, 9);
    /* The UPDATE is done only once the statement has run to its end. */
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
      store_outbox_claim_free(out);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : store_rc_from(rc);
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? STORE_NOT_FOUND : store_rc_from(rc);
}

enum store_rc store_sqlite_outbox_close_due(struct store_sqlite *s, int64_t now,
                                            int64_t max_attempts,
                                            int64_t *closed) {
  int64_t n = 0;
  enum store_rc rc;
  bool own = sqlite3_get_autocommit(s->db);

  if (own && (rc = store_sqlite_begin_write(s)) != STORE_OK)
    return rc;
  if ((rc = outbox_expire_due(s, now, &n)) == STORE_OK)
    rc = outbox_give_up_due(s, now, max_attempts, &n);
  if (own) {
    if (rc == STORE_OK)
      rc = store_sqlite_commit(s);
    else
      store_sqlite_rollback(s);
  }
  if (rc == STORE_OK && closed)
    *closed += n;
  return rc;
}

/* Claims up to max due rows into out, oldest first; *claimed says how
 * many (on error, none: what was taken is freed). */
enum store_rc store_sqlite_outbox_take(struct store_sqlite *s,
                                       const char *owner, int64_t now,
                                       int64_t lease_ms, int64_t max_attempts,
                                       struct store_outbox_claim *out,
                                       size_t max, size_t *claimed) {
  enum store_rc rc = STORE_OK;
  size_t n = 0;
  while (n < max && (rc = outbox_take_due(s, owner, now, lease_ms, max_attempts,
                                          &out[n])) == STORE_OK)
    n++;
  if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
    while (n > 0)
      store_outbox_claim_free(&out[--n]);
    *claimed = 0;
    return rc;
  }
  *claimed = n;
  return STORE_OK;
}

enum store_rc store_sqlite_outbox_record(struct store_sqlite *s, int64_t id,
                                         const char *owner,
                                         const struct store_outbox_result *r,
                                         int64_t now) {
  /* One statement for every outcome: ?4 is the new status. Anything but
   * 'queued' is final and drops the sealed code. */
  static const char sql[] =
      "UPDATE outbox SET status = ?4, updated_at = ?3, "
      "next_attempt_at = CASE ?4 WHEN 'queued' THEN ?5 "
      "ELSE next_attempt_at END, "
      "sent_at = CASE ?4 WHEN 'sent' THEN ?3 ELSE sent_at END, "
      "sealed_code = CASE ?4 WHEN 'queued' THEN sealed_code ELSE NULL END, "
      "gateway_ref = coalesce(?6, gateway_ref), "
      "last_error = coalesce(?7, last_error) "
      "WHERE id = ?1 AND status = 'sending' AND lease_owner = ?2";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, id);
  store_bind_text(st, 2, owner);
  sqlite3_bind_int64(st, 3, now);
  store_bind_text(st, 4,
                  store_vocab_name(&store_outbox_statuses,
                                   store_outbox_outcome_status(r->outcome)));
  sqlite3_bind_int64(st, 5, r->retry_at);
  store_bind_text(st, 6,
                  r->gateway_ref && *r->gateway_ref ? r->gateway_ref : NULL);
  store_bind_text(st, 7, r->error);
  return store_write_row(s, st);
}

enum store_rc store_sqlite_outbox_next_due(struct store_sqlite *s,
                                           int64_t *when) {
  /* Two index lookups; min() over an IN list would visit every row. */
  static const char sql[] = "SELECT coalesce(min(q, l), q, l) FROM "
                            "(SELECT (SELECT min(next_attempt_at) FROM outbox "
                            "WHERE status = 'queued') AS q, "
                            "(SELECT min(next_attempt_at) FROM outbox "
                            "WHERE status = 'sending') AS l)";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  int rc = sqlite3_step(st);
  bool found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
  if (found)
    *when = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  if (rc != SQLITE_ROW)
    return store_rc_from(rc);
  return found ? STORE_OK : STORE_NOT_FOUND;
}
