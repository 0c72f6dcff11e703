/* The PostgreSQL engine: OTP rows, one per code sent, holding only its
 * keyed hash; the verification counters of the code and of its account
 * (store_sqlite_otps.c's twin).
 *
 * Every change to an account's codes is made under the lock of the
 * account's row (taken by sendOtp's and verifyOtp's reads, by the admin's
 * changes to the account): store_pg_otp_get() takes it before it reads, so
 * two guesses at one code on two machines count one after the other. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "store_pg.h"

enum store_rc store_pg_otp_count_since(struct store_pg *s,
                                       const char *account_id, int64_t since,
                                       int64_t *count) {
  static const char sql[] = "SELECT count(*) FROM otps "
                            "WHERE account_id = $1 AND created_at >= $2";
  struct pg_params p = {0};
  pg_param_text(&p, account_id);
  pg_param_int(&p, since);
  return pg_int(s, sql, &p, count);
}

enum store_rc store_pg_otps_supersede(struct store_pg *s,
                                      const char *account_id, int64_t now) {
  static const char sql_otps[] =
      "UPDATE otps SET superseded_at = $2::bigint WHERE account_id = $1 "
      "AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $2";
  /* Their SMS not yet handed to a gateway must not go out: a user who got
   * a newer code would be sent a dead one. Found through the account's
   * codes (otps_account_created, outbox_otp), not by walking every queued
   * row: a backlog must not make each sendOtp dearer. Every queued row has
   * its code's row (codes are purged days after they expire, a queued SMS
   * within minutes). The outer status test is not redundant: a sender on
   * another machine may claim a row between the subquery's snapshot and
   * the UPDATE's lock, and PostgreSQL re-checks only the UPDATE's own
   * conditions on the row it then finds ('sending': left alone). */
  static const char sql_outbox[] =
      "UPDATE outbox SET status = 'superseded', sealed_code = NULL, "
      "last_error = 'a newer code was sent, or the account closed, "
      "before this one went out', updated_at = $2::bigint "
      "WHERE status = 'queued' AND id IN (SELECT b.id FROM otps AS o "
      "JOIN outbox AS b "
      "ON b.otp_id = o.id WHERE o.account_id = $1 AND b.status = 'queued')";
  struct pg_params p = {0};
  bool own;
  pg_param_text(&p, account_id);
  pg_param_int(&p, now);
  enum store_rc rc = pg_tx_begin(s, &own);
  if (rc != STORE_OK)
    return rc;
  rc = pg_run(s, sql_otps, &p, NULL);
  if (rc == STORE_OK)
    rc = pg_run(s, sql_outbox, &p, NULL);
  return pg_tx_end(s, own, rc);
}

enum store_rc store_pg_otp_insert(struct store_pg *s, struct store_otp *otp) {
  /* A requestId or paymentIntegratorSendOtpId already there inserts
   * nothing: STORE_EXISTS, without an error that would abort the caller's
   * transaction. */
  static const char sql[] =
      "INSERT INTO otps (request_id, account_id, context, code_hash, "
      "created_at, expires_at, key_id, send_otp_id) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
      "ON CONFLICT DO NOTHING RETURNING id";
  struct pg_params p = {0};
  bool own;
  PGresult *r = NULL;
  enum store_rc rc = pg_tx_begin(s, &own);
  if (rc != STORE_OK)
    return rc;
  rc = store_pg_otps_supersede(s, otp->account_id, otp->created_at);
  if (rc == STORE_OK) {
    pg_param_text(&p, otp->request_id);
    pg_param_text(&p, otp->account_id);
    pg_param_text(&p, store_vocab_name(&store_otp_contexts, otp->context));
    pg_param_bytes(&p, otp->code_hash, STORE_CODE_HASH_LEN);
    pg_param_int(&p, otp->created_at);
    pg_param_int(&p, otp->expires_at);
    pg_param_int(&p, otp->key_id);
    pg_param_text(&p, otp->send_otp_id[0] ? otp->send_otp_id : NULL);
    r = pg_exec(s, sql, &p, &rc);
  }
  if (r != NULL) {
    if (PQntuples(r) == 1)
      otp->id = pg_get_int(r, 0, 0);
    else
      rc = STORE_EXISTS;
    PQclear(r);
  }
  return pg_tx_end(s, own, rc);
}

enum store_rc store_pg_otp_show(struct store_pg *s, const char *id,
                                store_row_fn fn, void *ctx) {
  static const char sql[] =
      "SELECT * FROM audit_otps WHERE send_otp_id = $1 OR request_id = $1 "
      "ORDER BY id";
  struct pg_params p = {0};
  pg_param_text(&p, id);
  return pg_rows_at_least_one(s, sql, &p, fn, ctx);
}

enum store_rc store_pg_otp_list(struct store_pg *s, const char *account_id,
                                int64_t since, store_row_fn fn, void *ctx) {
  static const char sql[] =
      "SELECT v.* FROM audit_otps AS v JOIN otps AS o ON o.id = v.id "
      "WHERE o.account_id = $1 AND o.created_at >= $2 ORDER BY o.id";
  struct pg_params p = {0};
  pg_param_text(&p, account_id);
  pg_param_int(&p, since);
  return pg_rows(s, sql, &p, fn, ctx);
}

enum store_rc store_pg_otp_get(struct store_pg *s, const char *request_id,
                               struct store_otp *out) {
  /* In a transaction (verifyOtp's), the account's row is locked first;
   * the read that follows, a statement of its own, then sees everything
   * the lock's previous holder committed: the code's attempts and use,
   * the account's lock. */
  static const char sql_lock[] =
      "SELECT 1 FROM accounts WHERE id = "
      "(SELECT account_id FROM otps WHERE request_id = $1) FOR UPDATE";
  static const char sql[] =
      "SELECT o.id, o.request_id, o.account_id, o.code_hash, o.created_at, "
      "o.expires_at, o.attempts, coalesce(o.used_at, 0), "
      "coalesce(o.superseded_at, 0), a.locked_until, o.key_id, o.send_otp_id "
      "FROM otps AS o JOIN accounts AS a ON a.id = o.account_id "
      "WHERE o.request_id = $1";
  struct pg_params p = {0};
  enum store_rc rc;
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
  out->id = pg_get_int(r, 0, 0);
  pg_get_text(r, 0, 1, out->request_id, sizeof out->request_id);
  pg_get_text(r, 0, 2, out->account_id, sizeof out->account_id);
  pg_get_bytes(r, 0, 3, out->code_hash, STORE_CODE_HASH_LEN);
  out->created_at = pg_get_int(r, 0, 4);
  out->expires_at = pg_get_int(r, 0, 5);
  out->attempts = pg_get_int(r, 0, 6);
  out->used_at = pg_get_int(r, 0, 7);
  out->superseded_at = pg_get_int(r, 0, 8);
  out->account_locked_until = pg_get_int(r, 0, 9);
  out->key_id = pg_get_int(r, 0, 10);
  pg_get_text(r, 0, 11, out->send_otp_id, sizeof out->send_otp_id);
  PQclear(r);
  return STORE_OK;
}

enum store_rc store_pg_otp_record_failure(struct store_pg *s, int64_t otp_id,
                                          const char *account_id, int64_t now,
                                          int64_t max_account_failures,
                                          int64_t lockout_ms) {
  static const char sql_otp[] =
      "UPDATE otps SET attempts = attempts + 1 WHERE id = $1";
  static const char sql_account[] =
      "UPDATE accounts SET "
      "locked_until = CASE WHEN verify_failures + 1 >= $3::bigint "
      "THEN $2::bigint + $4::bigint ELSE locked_until END, "
      "verify_failures = verify_failures + 1, "
      "updated_at = $2::bigint WHERE id = $1";
  struct pg_params po = {0}, pa = {0};
  bool own;
  enum store_rc rc = pg_tx_begin(s, &own);
  if (rc != STORE_OK)
    return rc;
  pg_param_int(&po, otp_id);
  pg_param_text(&pa, account_id);
  pg_param_int(&pa, now);
  pg_param_int(&pa, max_account_failures);
  pg_param_int(&pa, lockout_ms);
  /* The account first: the order of every writer of an account's codes. */
  rc = pg_run(s, sql_account, &pa, NULL);
  if (rc == STORE_OK)
    rc = pg_run(s, sql_otp, &po, NULL);
  return pg_tx_end(s, own, rc);
}

enum store_rc store_pg_otp_mark_used(struct store_pg *s, int64_t otp_id,
                                     const char *account_id, int64_t now) {
  static const char sql_otp[] =
      "UPDATE otps SET used_at = $2::bigint WHERE id = $1";
  static const char sql_account[] = "UPDATE accounts SET verify_failures = 0, "
                                    "updated_at = $2::bigint WHERE id = $1";
  struct pg_params po = {0}, pa = {0};
  bool own;
  enum store_rc rc = pg_tx_begin(s, &own);
  if (rc != STORE_OK)
    return rc;
  pg_param_int(&po, otp_id);
  pg_param_int(&po, now);
  pg_param_text(&pa, account_id);
  pg_param_int(&pa, now);
  /* The account first: the order of every writer of an account's codes. */
  rc = pg_run(s, sql_account, &pa, NULL);
  if (rc == STORE_OK)
    rc = pg_run(s, sql_otp, &po, NULL);
  return pg_tx_end(s, own, rc);
}
