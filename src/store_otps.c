/* OTP rows: one per code sent, holding only its keyed hash; the
 * verification counters of the code and of its account. */
#include "config.h"

#include <string.h>

#include "store_internal.h"

enum store_rc store_otp_count_since(struct store *s, const char *account_id,
                                    int64_t since, int64_t *count) {
  static const char sql[] = "SELECT count(*) FROM otps "
                            "WHERE account_id = ?1 AND created_at >= ?2";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, account_id);
  sqlite3_bind_int64(st, 2, since);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *count = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? STORE_OK : store_rc_from(rc);
}

enum store_rc store_otp_insert(struct store *s, struct store_otp *otp) {
  static const char sql_supersede[] =
      "UPDATE otps SET superseded_at = ?2 WHERE account_id = ?1 "
      "AND used_at IS NULL AND superseded_at IS NULL AND expires_at > ?2";
  static const char sql[] =
      "INSERT INTO otps (request_id, account_id, context, code_hash, "
      "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
  sqlite3_stmt *st = store_stmt(s, sql_supersede);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, otp->account_id);
  sqlite3_bind_int64(st, 2, otp->created_at);
  enum store_rc rc = store_exec_stmt(s, st);
  if (rc != STORE_OK)
    return rc;
  if ((st = store_stmt(s, sql)) == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, otp->request_id);
  store_bind_text(st, 2, otp->account_id);
  store_bind_text(st, 3, store_vocab_name(&store_otp_contexts, otp->context));
  sqlite3_bind_blob(st, 4, otp->code_hash, STORE_CODE_HASH_LEN, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, otp->created_at);
  sqlite3_bind_int64(st, 6, otp->expires_at);
  rc = store_exec_stmt(s, st);
  if (rc == STORE_OK)
    otp->id = sqlite3_last_insert_rowid(s->db);
  return rc;
}

enum store_rc store_otp_get(struct store *s, const char *request_id,
                            struct store_otp *out) {
  static const char sql[] =
      "SELECT o.id, o.request_id, o.account_id, o.code_hash, o.created_at, "
      "o.expires_at, o.attempts, coalesce(o.used_at, 0), "
      "coalesce(o.superseded_at, 0), a.locked_until "
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
  }
  return store_one_row_rc(st, rc);
}

enum store_rc store_otp_record_failure(struct store *s, int64_t otp_id,
                                       const char *account_id, int64_t now,
                                       int64_t max_account_failures,
                                       int64_t lockout_ms) {
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

enum store_rc store_otp_mark_used(struct store *s, int64_t otp_id,
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
