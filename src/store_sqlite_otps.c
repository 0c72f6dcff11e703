/* OTP rows: one per code sent, holding only its keyed hash; the
 * verification counters of the code and of its account. */
#include "config.h"

#include <string.h>

#include "store_sqlite.h"

enum store_rc store_sqlite_otp_count_since(struct store_sqlite *s,
                                           const char *account_id,
                                           int64_t since, int64_t *count) {
  static const char sql[] = "SELECT count(*) FROM otps "
                            "WHERE account_id = ?1 AND created_at >= ?2";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, account_id);
  sqlite3_bind_int64(st, 2, since);
  return store_int_row(st, count);
}

enum store_rc store_sqlite_otps_supersede(struct store_sqlite *s,
                                          const char *account_id, int64_t now) {
  static const char sql_otps[] =
      "UPDATE otps SET superseded_at = ?2 WHERE account_id = ?1 "
      "AND used_at IS NULL AND superseded_at IS NULL AND expires_at > ?2";
  /* Their SMS not yet handed to a gateway must not go out: a user who got
   * a newer code would be sent a dead one. Found through the account's
   * codes (otps_account_created, outbox_otp), not by walking every queued
   * row: a backlog must not make each sendOtp dearer. Every queued row has
   * its code's row (codes are purged days after they expire, a queued SMS
   * within minutes). The unary + keeps SQLite's planner off outbox_due
   * (status), which would walk the queue. */
  static const char sql_outbox[] =
      "UPDATE outbox SET status = 'superseded', sealed_code = NULL, "
      "last_error = 'a newer code was sent, or the account closed, "
      "before this one went out', updated_at = ?2 "
      "WHERE +status = 'queued' AND id IN (SELECT b.id FROM otps AS o "
      "JOIN outbox AS b "
      "ON b.otp_id = o.id WHERE o.account_id = ?1 AND +b.status = 'queued')";
  sqlite3_stmt *st = store_stmt(s, sql_otps);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, account_id);
  sqlite3_bind_int64(st, 2, now);
  enum store_rc rc = store_exec_stmt(s, st);
  if (rc != STORE_OK)
    return rc;
  if ((st = store_stmt(s, sql_outbox)) == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, account_id);
  sqlite3_bind_int64(st, 2, now);
  return store_exec_stmt(s, st);
}

enum store_rc store_sqlite_otp_insert(struct store_sqlite *s,
                                      struct store_otp *otp) {
  static const char sql[] =
      "INSERT INTO otps (request_id, account_id, context, code_hash, "
      "created_at, expires_at, key_id, send_otp_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
  enum store_rc rc =
      store_sqlite_otps_supersede(s, otp->account_id, otp->created_at);
  if (rc != STORE_OK)
    return rc;
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, otp->request_id);
  store_bind_text(st, 2, otp->account_id);
  store_bind_text(st, 3, store_vocab_name(&store_otp_contexts, otp->context));
  sqlite3_bind_blob(st, 4, otp->code_hash, STORE_CODE_HASH_LEN, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, otp->created_at);
  sqlite3_bind_int64(st, 6, otp->expires_at);
  sqlite3_bind_int64(st, 7, otp->key_id);
  store_bind_text(st, 8, otp->send_otp_id[0] ? otp->send_otp_id : NULL);
  rc = store_exec_stmt(s, st);
  if (rc == STORE_OK)
    otp->id = sqlite3_last_insert_rowid(s->db);
  return rc;
}

enum store_rc store_sqlite_otp_show(struct store_sqlite *s, const char *id,
                                    store_row_fn fn, void *ctx) {
  static const char sql[] =
      "SELECT * FROM audit_otps WHERE send_otp_id = ?1 OR request_id = ?1 "
      "ORDER BY id";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, id);
  return store_rows_at_least_one(s, st, fn, ctx);
}

enum store_rc store_sqlite_otp_list(struct store_sqlite *s,
                                    const char *account_id, int64_t since,
                                    store_row_fn fn, void *ctx) {
  static const char sql[] =
      "SELECT v.* FROM audit_otps AS v JOIN otps AS o ON o.id = v.id "
      "WHERE o.account_id = ?1 AND o.created_at >= ?2 ORDER BY o.id";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, account_id);
  sqlite3_bind_int64(st, 2, since);
  return store_rows(s, st, fn, ctx);
}

enum store_rc store_sqlite_otp_get(struct store_sqlite *s,
                                   const char *request_id,
                                   struct store_otp *out) {
  static const char sql[] =
      "SELECT o.id, o.request_id, o.account_id, o.code_hash, o.created_at, "
      "o.expires_at, o.attempts, coalesce(o.used_at, 0), "
      "coalesce(o.superseded_at, 0), a.locked_until, o.key_id, o.send_otp_id "
      "FROM otps AS o JOIN accounts AS a ON a.id = o.account_id "
      "WHERE o.request_id = ?1";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, request_id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(st, 0);
    store_column_copy(st, 1, out->request_id, sizeof out->request_id);
    store_column_copy(st, 2, out->account_id, sizeof out->account_id);
    store_column_blob(st, 3, out->code_hash, STORE_CODE_HASH_LEN);
    out->created_at = sqlite3_column_int64(st, 4);
    out->expires_at = sqlite3_column_int64(st, 5);
    out->attempts = sqlite3_column_int64(st, 6);
    out->used_at = sqlite3_column_int64(st, 7);
    out->superseded_at = sqlite3_column_int64(st, 8);
    out->account_locked_until = sqlite3_column_int64(st, 9);
    out->key_id = sqlite3_column_int64(st, 10);
    store_column_copy(st, 11, out->send_otp_id, sizeof out->send_otp_id);
  }
  return store_one_row_rc(st, rc);
}

enum store_rc store_sqlite_otp_record_failure(
    struct store_sqlite *s, int64_t otp_id, const char *account_id, int64_t now,
    int64_t max_account_failures, int64_t lockout_ms) {
  static const char sql_otp[] =
      "UPDATE otps SET attempts = attempts + 1 WHERE id = ?1";
  static const char sql_account[] =
      "UPDATE accounts SET "
      "locked_until = CASE WHEN verify_failures + 1 >= ?3 THEN ?2 + ?4 "
      "  ELSE locked_until END, "
      "verify_failures = verify_failures + 1, "
      "updated_at = ?2 WHERE id = ?1";
  sqlite3_stmt *st = store_stmt(s, sql_otp);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, otp_id);
  enum store_rc rc = store_exec_stmt(s, st);
  if (rc != STORE_OK)
    return rc;
  if ((st = store_stmt(s, sql_account)) == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, account_id);
  sqlite3_bind_int64(st, 2, now);
  sqlite3_bind_int64(st, 3, max_account_failures);
  sqlite3_bind_int64(st, 4, lockout_ms);
  return store_exec_stmt(s, st);
}

enum store_rc store_sqlite_otp_mark_used(struct store_sqlite *s, int64_t otp_id,
                                         const char *account_id, int64_t now) {
  static const char sql_otp[] = "UPDATE otps SET used_at = ?2 WHERE id = ?1";
  static const char sql_account[] =
      "UPDATE accounts SET verify_failures = 0, updated_at = ?2 WHERE id = ?1";
  sqlite3_stmt *st = store_stmt(s, sql_otp);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, otp_id);
  sqlite3_bind_int64(st, 2, now);
  enum store_rc rc = store_exec_stmt(s, st);
  if (rc != STORE_OK)
    return rc;
  if ((st = store_stmt(s, sql_account)) == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, account_id);
  sqlite3_bind_int64(st, 2, now);
  return store_exec_stmt(s, st);
}
