/* The PostgreSQL engine: accounts and associations (store_sqlite_accounts.c's
 * twin: the same answers).
 *
 * The account's row is the lock of its decisions: sendOtp reads the account
 * (by phone or association) FOR UPDATE inside its transaction, so two
 * requests for one account on two machines decide one after the other, as
 * SQLite's single writer has them do. Every write of an account's codes
 * (a new code, a supersede, a failure, a use) happens under that lock. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "store_pg.h"

/* Seconds, as SQLite's strftime('%Y-%m-%d %H:%M:%SZ', ms / 1000,
 * 'unixepoch') prints them. */
#define PG_TIME_S(col)                                                         \
  "to_char(to_timestamp((" col ") / 1000) AT TIME ZONE 'UTC', "                \
  "'YYYY-MM-DD HH24:MI:SS\"Z\"')"

enum store_rc store_pg_account_add(struct store_pg *s, const char *id,
                                   const char *phone,
                                   enum account_status status, int64_t now) {
  /* A taken id or phone changes nothing (and does not abort the caller's
   * transaction): STORE_EXISTS. */
  static const char sql[] =
      "INSERT INTO accounts (id, phone, status, created_at, updated_at) "
      "VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING";
  struct pg_params p = {0};
  int64_t changed = 0;
  pg_param_text(&p, id);
  pg_param_text(&p, phone);
  pg_param_text(&p, store_vocab_name(&store_account_statuses, status));
  pg_param_int(&p, now);
  enum store_rc rc = pg_run(s, sql, &p, &changed);
  return rc == STORE_OK && changed == 0 ? STORE_EXISTS : rc;
}

/* Runs change (a write that must change a row, its parameters p) and, when
 * account_id is given, supersedes the account's live codes and their
 * queued SMS (store_pg_otps_supersede()), in one transaction: the
 * caller's, or its own. A code sent earlier must not outlive, even for a
 * moment, the account or association it was sent for. */
static enum store_rc change_and_supersede(struct store_pg *s,
                                          const char *change,
                                          const struct pg_params *p,
                                          const char *account_id, int64_t now) {
  bool own;
  if (account_id == NULL)
    return pg_write_row(s, change, p);
  enum store_rc rc = pg_tx_begin(s, &own);
  if (rc != STORE_OK)
    return rc;
  rc = pg_write_row(s, change, p);
  if (rc == STORE_OK)
    rc = store_pg_otps_supersede(s, account_id, now);
  return pg_tx_end(s, own, rc);
}

enum store_rc store_pg_account_update(struct store_pg *s, const char *id,
                                      bool set_phone, const char *phone,
                                      const enum account_status *status,
                                      int64_t now) {
  /* A phone another account has fails the statement (STORE_EXISTS), and
   * with it the caller's transaction: every caller rolls back then. */
  static const char sql[] =
      "UPDATE accounts SET phone = CASE WHEN $2::int = 1 THEN $3::text "
      "ELSE phone END, status = coalesce($4::text, status), "
      "updated_at = $5::bigint WHERE id = $1";
  struct pg_params p = {0};
  pg_param_text(&p, id);
  pg_param_int(&p, set_phone);
  pg_param_text(&p, phone);
  pg_param_text(&p, status ? store_vocab_name(&store_account_statuses, *status)
                           : NULL);
  pg_param_int(&p, now);
  return change_and_supersede(
      s, sql, &p, status && *status != ACCOUNT_ACTIVE ? id : NULL, now);
}

#define ACCOUNT_COLUMNS                                                        \
  "a.id, a.phone, a.status, a.verify_failures, a.locked_until"

/* Runs a query of the account columns (in ACCOUNT_COLUMNS' order) and
 * reads its row. */
static enum store_rc account_fetch(struct store_pg *s, const char *sql,
                                   const struct pg_params *p,
                                   struct store_account *out) {
  enum store_rc rc;
  int status = 0;
  PGresult *r = pg_exec(s, sql, p, &rc);
  if (r == NULL)
    return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return STORE_NOT_FOUND;
  }
  memset(out, 0, sizeof *out);
  pg_get_text(r, 0, 0, out->id, sizeof out->id);
  out->has_phone = !pg_is_null(r, 0, 1);
  pg_get_text(r, 0, 1, out->phone, sizeof out->phone);
  /* The schema's CHECK admits only the vocabulary's words. */
  if (!store_vocab_parse(&store_account_statuses, PQgetvalue(r, 0, 2),
                         &status)) {
    snprintf(s->errmsg, sizeof s->errmsg, "account %s: unknown status \"%s\"",
             out->id, PQgetvalue(r, 0, 2));
    rc = STORE_ERROR;
  }
  out->status = (enum account_status)status;
  out->verify_failures = pg_get_int(r, 0, 3);
  out->locked_until = pg_get_int(r, 0, 4);
  PQclear(r);
  return rc;
}

enum store_rc store_pg_account_by_phone(struct store_pg *s, const char *phone,
                                        struct store_account *out) {
  /* In a transaction (sendOtp's), the account's row is locked until its
   * commit: its send limit and lock are decided by one request at a time.
   * All the columns are the account's, so the row read is the newest. */
  static const char sql_lock[] =
      "SELECT " ACCOUNT_COLUMNS " FROM accounts AS a WHERE a.phone = $1 "
      "FOR UPDATE OF a";
  static const char sql[] =
      "SELECT " ACCOUNT_COLUMNS " FROM accounts AS a WHERE a.phone = $1";
  struct pg_params p = {0};
  pg_param_text(&p, phone);
  return account_fetch(s, s->in_tx ? sql_lock : sql, &p, out);
}

/* The listing and the single view: the same columns. */
#define ACCOUNT_ROWS                                                                                                                                                    \
  "SELECT id, phone, status, verify_failures, "                                                                                                                         \
  "CASE WHEN locked_until = 0 THEN NULL ELSE " PG_TIME_S(                                                                                                               \
      "locked_until") " END AS locked_until, " PG_TIME_S("created_at") " AS "                                                                                           \
                                                                       "creat"                                                                                          \
                                                                       "ed,"                                                                                            \
                                                                       " " PG_TIME_S("updated_at") " AS updated, "                                                      \
                                                                                                   "(SELECT count(*) FROM associations AS x WHERE x.account_id = a.id " \
                                                                                                   "AND x.revoked_at IS NULL) AS associations FROM accounts AS a "

enum store_rc store_pg_account_list(struct store_pg *s, store_row_fn fn,
                                    void *ctx) {
  /* Byte order, as SQLite's BINARY collation sorts. */
  static const char sql[] = ACCOUNT_ROWS "ORDER BY id COLLATE \"C\"";
  return pg_rows(s, sql, NULL, fn, ctx);
}

enum store_rc store_pg_account_show(struct store_pg *s, const char *id,
                                    store_row_fn fn, void *ctx) {
  static const char sql[] = ACCOUNT_ROWS "WHERE id = $1";
  struct pg_params p = {0};
  pg_param_text(&p, id);
  return pg_rows_at_least_one(s, sql, &p, fn, ctx);
}

enum store_rc store_pg_association_add(struct store_pg *s,
                                       const char *association_id,
                                       const char *account_id, int64_t now) {
  /* Nothing inserted: no such account (STORE_NOT_FOUND), else the
   * association is there (STORE_EXISTS), without an error that would
   * abort the caller's transaction. */
  static const char sql[] =
      "WITH ins AS (INSERT INTO associations (id, account_id, created_at) "
      "SELECT $1::text, $2::text, $3::bigint "
      "WHERE EXISTS (SELECT 1 FROM accounts WHERE id = $2::text) "
      "ON CONFLICT DO NOTHING RETURNING 1) "
      "SELECT (SELECT count(*) FROM ins), "
      "(SELECT count(*) FROM accounts WHERE id = $2::text)";
  struct pg_params p = {0};
  enum store_rc rc;
  pg_param_text(&p, association_id);
  pg_param_text(&p, account_id);
  pg_param_int(&p, now);
  PGresult *r = pg_exec(s, sql, &p, &rc);
  if (r == NULL)
    return rc;
  if (PQntuples(r) != 1)
    rc = STORE_ERROR;
  else if (pg_get_int(r, 0, 0) == 1)
    rc = STORE_OK;
  else
    rc = pg_get_int(r, 0, 1) == 0 ? STORE_NOT_FOUND : STORE_EXISTS;
  PQclear(r);
  return rc;
}

enum store_rc store_pg_association_revoke(struct store_pg *s,
                                          const char *association_id,
                                          int64_t now) {
  static const char sql[] = "UPDATE associations SET revoked_at = $2::bigint "
                            "WHERE id = $1 AND revoked_at IS NULL";
  struct store_account acc;
  struct pg_params p = {0};
  bool own;
  /* The lookup (which locks the account) and the change, together. */
  enum store_rc rc = pg_tx_begin(s, &own);
  if (rc != STORE_OK)
    return rc;
  /* A code does not say which association it came through: revoking one
   * ends all the account's live codes. */
  rc = store_pg_association_account(s, association_id, &acc);
  if (rc == STORE_OK) {
    pg_param_text(&p, association_id);
    pg_param_int(&p, now);
    rc = change_and_supersede(s, sql, &p, acc.id, now);
  }
  return pg_tx_end(s, own, rc);
}

enum store_rc store_pg_association_account(struct store_pg *s,
                                           const char *association_id,
                                           struct store_account *out) {
  /* In a transaction, the account's row is locked first (as by phone);
   * the read that follows, a statement of its own, then sees what the
   * lock's previous holder committed, the association's revocation too. */
  static const char sql_lock[] =
      "SELECT 1 FROM associations AS x JOIN accounts AS a "
      "ON a.id = x.account_id WHERE x.id = $1 FOR UPDATE OF a";
  static const char sql[] = "SELECT " ACCOUNT_COLUMNS " FROM associations AS x "
                            "JOIN accounts AS a ON a.id = x.account_id "
                            "WHERE x.id = $1 AND x.revoked_at IS NULL";
  struct pg_params p = {0};
  pg_param_text(&p, association_id);
  if (s->in_tx) {
    enum store_rc rc = pg_run(s, sql_lock, &p, NULL);
    if (rc != STORE_OK)
      return rc;
  }
  return account_fetch(s, sql, &p, out);
}

enum store_rc store_pg_association_list(struct store_pg *s, store_row_fn fn,
                                        void *ctx) {
  static const char sql[] = "SELECT id, account_id AS account, " PG_TIME_S(
      "created_at") " AS created, CASE WHEN revoked_at IS NULL THEN NULL "
                    "ELSE " PG_TIME_S("revoked_at") " END AS revoked FROM "
                                                    "associations "
                                                    "ORDER BY created_at, id "
                                                    "COLLATE \"C\"";
  return pg_rows(s, sql, NULL, fn, ctx);
}
