/* Accounts and associations. */
#include "config.h"

#include <string.h>

#include "store_sqlite.h"

enum store_rc store_sqlite_account_add(struct store_sqlite *s, const char *id,
                                       const char *phone,
                                       enum account_status status,
                                       int64_t now) {
  static const char sql[] =
      "INSERT INTO accounts (id, phone, status, created_at, updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?4)";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, id);
  store_bind_text(st, 2, phone);
  store_bind_text(st, 3, store_vocab_name(&store_account_statuses, status));
  sqlite3_bind_int64(st, 4, now);
  return store_exec_write(s, st, NULL);
}

/* Runs change (a write that must change a row) and, when account_id is
 * given, supersedes the account's live codes and their queued SMS
 * (store_sqlite_otps_supersede()), in one transaction: the caller's, or its
 * own. A code sent earlier must not outlive, even for a moment, the account or
 * association it was sent for. */
static enum store_rc change_and_supersede(struct store_sqlite *s,
                                          sqlite3_stmt *change,
                                          const char *account_id, int64_t now) {
  bool own = sqlite3_get_autocommit(s->db);
  enum store_rc rc;
  if (change == NULL)
    return STORE_ERROR;
  if (account_id == NULL)
    return store_write_row(s, change);
  if (own && (rc = store_sqlite_begin_write(s)) != STORE_OK) {
    sqlite3_clear_bindings(change);
    return rc;
  }
  rc = store_write_row(s, change);
  if (rc == STORE_OK)
    rc = store_sqlite_otps_supersede(s, account_id, now);
  if (own && rc == STORE_OK)
    return store_sqlite_commit(s);
  if (own)
    store_sqlite_rollback(s);
  return rc;
}

enum store_rc store_sqlite_account_update(struct store_sqlite *s,
                                          const char *id, bool set_phone,
                                          const char *phone,
                                          const enum account_status *status,
                                          int64_t now) {
  static const char sql[] =
      "UPDATE accounts SET phone = CASE WHEN ?2 THEN ?3 ELSE phone END, "
      "status = coalesce(?4, status), updated_at = ?5 WHERE id = ?1";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, id);
  sqlite3_bind_int(st, 2, set_phone);
  store_bind_text(st, 3, phone);
  store_bind_text(st, 4,
                  status ? store_vocab_name(&store_account_statuses, *status)
                         : NULL);
  sqlite3_bind_int64(st, 5, now);
  return change_and_supersede(
      s, st, status && *status != ACCOUNT_ACTIVE ? id : NULL, now);
}

/* Reads the account columns in the order every account query selects. */
static enum store_rc account_fetch(struct store_sqlite *s, sqlite3_stmt *st,
                                   struct store_account *out) {
  int rc = sqlite3_step(st), status = 0;
  if (rc == SQLITE_ROW) {
    memset(out, 0, sizeof *out);
    store_column_copy(st, 0, out->id, sizeof out->id);
    out->has_phone = sqlite3_column_type(st, 1) != SQLITE_NULL;
    store_column_copy(st, 1, out->phone, sizeof out->phone);
    /* The schema's CHECK admits only the vocabulary's words. */
    if (!store_vocab_parse(&store_account_statuses,
                           (const char *)sqlite3_column_text(st, 2), &status))
      rc = SQLITE_CORRUPT;
    out->status = (enum account_status)status;
    out->verify_failures = sqlite3_column_int64(st, 3);
    out->locked_until = sqlite3_column_int64(st, 4);
  }
  return store_one_row_rc(st, rc);
}

#define ACCOUNT_COLUMNS                                                        \
  "a.id, a.phone, a.status, a.verify_failures, a.locked_until"

enum store_rc store_sqlite_account_by_phone(struct store_sqlite *s,
                                            const char *phone,
                                            struct store_account *out) {
  static const char sql[] =
      "SELECT " ACCOUNT_COLUMNS " FROM accounts AS a WHERE a.phone = ?1";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, phone);
  return account_fetch(s, st, out);
}

/* The listing and the single view: the same columns. id NULL: every
 * account. */
static sqlite3_stmt *account_rows(struct store_sqlite *s, const char *id) {
  static const char sql[] =
      "SELECT id, phone, status, verify_failures, "
      "CASE WHEN locked_until = 0 THEN NULL ELSE "
      "strftime('%Y-%m-%d %H:%M:%SZ', locked_until / 1000, 'unixepoch') END "
      "AS locked_until, "
      "strftime('%Y-%m-%d %H:%M:%SZ', created_at / 1000, 'unixepoch') AS "
      "created, "
      "strftime('%Y-%m-%d %H:%M:%SZ', updated_at / 1000, 'unixepoch') AS "
      "updated, "
      "(SELECT count(*) FROM associations AS x WHERE x.account_id = a.id "
      "AND x.revoked_at IS NULL) AS associations "
      "FROM accounts AS a WHERE ?1 IS NULL OR id = ?1 ORDER BY id";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st)
    store_bind_text(st, 1, id);
  return st;
}

enum store_rc store_sqlite_account_list(struct store_sqlite *s, store_row_fn fn,
                                        void *ctx) {
  return store_rows(s, account_rows(s, NULL), fn, ctx);
}

enum store_rc store_sqlite_account_show(struct store_sqlite *s, const char *id,
                                        store_row_fn fn, void *ctx) {
  sqlite3_stmt *st = account_rows(s, id);
  if (st == NULL)
    return STORE_ERROR;
  return store_rows_at_least_one(s, st, fn, ctx);
}

enum store_rc store_sqlite_association_add(struct store_sqlite *s,
                                           const char *association_id,
                                           const char *account_id,
                                           int64_t now) {
  /* No row inserted: no such account. */
  static const char sql[] =
      "INSERT INTO associations (id, account_id, created_at) "
      "SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?2)";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, association_id);
  store_bind_text(st, 2, account_id);
  sqlite3_bind_int64(st, 3, now);
  return store_write_row(s, st);
}

enum store_rc store_sqlite_association_revoke(struct store_sqlite *s,
                                              const char *association_id,
                                              int64_t now) {
  static const char sql[] = "UPDATE associations SET revoked_at = ?2 "
                            "WHERE id = ?1 AND revoked_at IS NULL";
  /* A code does not say which association it came through: revoking one
   * ends all the account's live codes. */
  struct store_account acc;
  enum store_rc rc = store_sqlite_association_account(s, association_id, &acc);
  if (rc != STORE_OK)
    return rc;
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, association_id);
  sqlite3_bind_int64(st, 2, now);
  return change_and_supersede(s, st, acc.id, now);
}

enum store_rc store_sqlite_association_account(struct store_sqlite *s,
                                               const char *association_id,
                                               struct store_account *out) {
  static const char sql[] = "SELECT " ACCOUNT_COLUMNS " FROM associations AS x "
                            "JOIN accounts AS a ON a.id = x.account_id "
                            "WHERE x.id = ?1 AND x.revoked_at IS NULL";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, association_id);
  return account_fetch(s, st, out);
}

enum store_rc store_sqlite_association_list(struct store_sqlite *s,
                                            store_row_fn fn, void *ctx) {
  static const char sql[] =
      "SELECT id, account_id AS account, "
      "strftime('%Y-%m-%d %H:%M:%SZ', created_at / 1000, 'unixepoch') AS "
      "created, "
      "CASE WHEN revoked_at IS NULL THEN NULL ELSE "
      "strftime('%Y-%m-%d %H:%M:%SZ', revoked_at / 1000, 'unixepoch') END "
      "AS revoked FROM associations ORDER BY created_at, id";
  return store_rows(s, store_stmt(s, sql), fn, ctx);
}
