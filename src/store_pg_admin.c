/* The PostgreSQL engine: the operator's hand (otpgate-admin): the audit of
 * its changes, the changes themselves, what `status` reads
 * (store_sqlite_admin.c's twin; the backup is pg_dump's, store_pg.c). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "store_pg.h"

enum store_rc store_pg_admin_audit_add(struct store_pg *s, const char *who,
                                       const char *action, const char *target,
                                       const char *detail, int64_t now) {
  static const char sql[] =
      "INSERT INTO admin_audit (at, who, action, target, detail) "
      "VALUES ($1, $2, $3, $4, $5)";
  struct pg_params p = {0};
  pg_param_int(&p, now);
  pg_param_text(&p, who);
  pg_param_text(&p, action);
  pg_param_text(&p, target);
  pg_param_text(&p, detail);
  return pg_run(s, sql, &p, NULL);
}

enum store_rc store_pg_admin_audit_list(struct store_pg *s, int64_t since,
                                        store_row_fn fn, void *ctx) {
  static const char sql[] =
      "SELECT id, otpgate_time(at) AS at, who, action, target, detail "
      "FROM admin_audit WHERE at >= $1 ORDER BY id";
  struct pg_params p = {0};
  pg_param_int(&p, since);
  return pg_rows(s, sql, &p, fn, ctx);
}

enum store_rc store_pg_account_unlock(struct store_pg *s, const char *id,
                                      int64_t now) {
  static const char sql[] =
      "UPDATE accounts SET locked_until = 0, verify_failures = 0, "
      "updated_at = $2 WHERE id = $1";
  struct pg_params p = {0};
  pg_param_text(&p, id);
  pg_param_int(&p, now);
  return pg_write_row(s, sql, &p);
}

enum store_rc store_pg_account_live_codes(struct store_pg *s, const char *id,
                                          int64_t now, int64_t *count) {
  static const char sql[] =
      "SELECT count(*) FROM otps WHERE account_id = $1 AND used_at IS NULL "
      "AND superseded_at IS NULL AND expires_at > $2";
  struct pg_params p = {0};
  pg_param_text(&p, id);
  pg_param_int(&p, now);
  return pg_int(s, sql, &p, count);
}

enum store_rc store_pg_account_delete(struct store_pg *s, const char *id,
                                      int64_t now) {
  /* The account's row first, as every writer of its codes takes it. */
  static const char sql_lock[] =
      "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE";
  static const char sql_assoc[] =
      "DELETE FROM associations WHERE account_id = $1";
  static const char sql_account[] = "DELETE FROM accounts WHERE id = $1";
  struct pg_params p = {0};
  bool own;
  pg_param_text(&p, id);
  enum store_rc rc = pg_tx_begin(s, &own);
  if (rc != STORE_OK)
    return rc;
  rc = pg_run(s, sql_lock, &p, NULL);
  if (rc == STORE_OK)
    rc = store_pg_otps_supersede(s, id, now);
  if (rc == STORE_OK)
    rc = pg_run(s, sql_assoc, &p, NULL);
  if (rc == STORE_OK)
    rc = pg_write_row(s, sql_account, &p);
  return pg_tx_end(s, own, rc);
}

enum store_rc store_pg_outbox_status_of(struct store_pg *s, int64_t id,
                                        enum outbox_status *status,
                                        bool *has_seal) {
  static const char sql[] =
      "SELECT status, (sealed_code IS NOT NULL)::int FROM outbox "
      "WHERE id = $1";
  struct pg_params p = {0};
  enum store_rc rc;
  int v = 0;
  pg_param_int(&p, id);
  PGresult *r = pg_exec(s, sql, &p, &rc);
  if (r == NULL)
    return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return STORE_NOT_FOUND;
  }
  /* The schema's CHECK admits only the vocabulary's words. */
  if (!store_vocab_parse(&store_outbox_statuses, PQgetvalue(r, 0, 0), &v)) {
    snprintf(s->errmsg, sizeof s->errmsg,
             "outbox row %lld: unknown status \"%s\"", (long long)id,
             PQgetvalue(r, 0, 0));
    rc = STORE_ERROR;
  }
  *status = (enum outbox_status)v;
  *has_seal = pg_get_int(r, 0, 1) != 0;
  PQclear(r);
  return rc;
}

enum store_rc store_pg_outbox_cancel(struct store_pg *s, int64_t id,
                                     int64_t now) {
  static const char sql[] =
      "UPDATE outbox SET status = 'failed', sealed_code = NULL, "
      "last_error = 'cancelled by the operator', updated_at = $2 "
      "WHERE id = $1 AND status = 'queued'";
  struct pg_params p = {0};
  pg_param_int(&p, id);
  pg_param_int(&p, now);
  return pg_write_row(s, sql, &p);
}

enum store_rc store_pg_outbox_requeue(struct store_pg *s, int64_t id,
                                      int64_t now) {
  static const char sql[] =
      "UPDATE outbox SET next_attempt_at = $2::bigint, attempts = 0, "
      "updated_at = $2::bigint WHERE id = $1 AND status = 'queued' "
      "AND sealed_code IS NOT NULL AND expires_at > $2::bigint";
  struct pg_params p = {0};
  pg_param_int(&p, id);
  pg_param_int(&p, now);
  return pg_write_row(s, sql, &p);
}

enum store_rc store_pg_outbox_oldest(struct store_pg *s,
                                     enum outbox_status status,
                                     int64_t *created_at) {
  static const char sql[] =
      "SELECT coalesce(min(created_at), 0) FROM outbox WHERE status = $1";
  struct pg_params p = {0};
  pg_param_text(&p, store_vocab_name(&store_outbox_statuses, status));
  return pg_int(s, sql, &p, created_at);
}

enum store_rc store_pg_outbox_outcomes_since(struct store_pg *s, int64_t since,
                                             store_row_fn fn, void *ctx) {
  /* Byte order of the status words, as SQLite sorts them. */
  static const char sql[] =
      "SELECT status, count(*) AS count FROM outbox "
      "WHERE status NOT IN ('queued', 'sending') "
      "AND coalesce(sent_at, updated_at) >= $1 GROUP BY status "
      "ORDER BY status COLLATE \"C\"";
  struct pg_params p = {0};
  pg_param_int(&p, since);
  return pg_rows(s, sql, &p, fn, ctx);
}

enum store_rc store_pg_otp_stats_since(struct store_pg *s, int64_t since,
                                       struct store_otp_stats *out) {
  /* attempts counts a code's failed guesses; they carry no time of their
   * own, so they are those of the codes created since. */
  static const char sql[] =
      "SELECT (SELECT count(*) FROM otps WHERE created_at >= $1), "
      "(SELECT count(*) FROM otps WHERE used_at >= $1), "
      "(SELECT coalesce(sum(attempts), 0)::bigint FROM otps "
      "WHERE created_at >= $1)";
  struct pg_params p = {0};
  enum store_rc rc;
  pg_param_int(&p, since);
  PGresult *r = pg_exec(s, sql, &p, &rc);
  if (r == NULL)
    return rc;
  if (PQntuples(r) == 1) {
    out->sent = pg_get_int(r, 0, 0);
    out->verified = pg_get_int(r, 0, 1);
    out->failed = pg_get_int(r, 0, 2);
  } else {
    rc = STORE_NOT_FOUND;
  }
  PQclear(r);
  return rc;
}
