/* The operator's hand (otpgate-admin): the audit of its changes, the
 * changes themselves, what `status` reads, and the backup. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_sqlite.h"

enum store_rc store_sqlite_admin_audit_add(struct store_sqlite *s,
                                           const char *who, const char *action,
                                           const char *target,
                                           const char *detail, int64_t now) {
  static const char sql[] =
      "INSERT INTO admin_audit (at, who, action, target, detail) "
      "VALUES (?1, ?2, ?3, ?4, ?5)";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, now);
  store_bind_text(st, 2, who);
  store_bind_text(st, 3, action);
  store_bind_text(st, 4, target);
  store_bind_text(st, 5, detail);
  return store_exec_write(s, st, NULL);
}

enum store_rc store_sqlite_admin_audit_list(struct store_sqlite *s,
                                            int64_t since, store_row_fn fn,
                                            void *ctx) {
  static const char sql[] =
      "SELECT id, strftime('%Y-%m-%d %H:%M:%fZ', at / 1000.0, 'unixepoch') "
      "AS at, who, action, target, detail FROM admin_audit WHERE at >= ?1 "
      "ORDER BY id";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, since);
  return store_rows(s, st, fn, ctx);
}

enum store_rc store_sqlite_account_unlock(struct store_sqlite *s,
                                          const char *id, int64_t now) {
  static const char sql[] =
      "UPDATE accounts SET locked_until = 0, verify_failures = 0, "
      "updated_at = ?2 WHERE id = ?1";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, id);
  sqlite3_bind_int64(st, 2, now);
  return store_write_row(s, st);
}

enum store_rc store_sqlite_account_live_codes(struct store_sqlite *s,
                                              const char *id, int64_t now,
                                              int64_t *count) {
  static const char sql[] =
      "SELECT count(*) FROM otps WHERE account_id = ?1 AND used_at IS NULL "
      "AND superseded_at IS NULL AND expires_at > ?2";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, id);
  sqlite3_bind_int64(st, 2, now);
  return store_int_row(st, count);
}

enum store_rc store_sqlite_account_delete(struct store_sqlite *s,
                                          const char *id, int64_t now) {
  static const char sql_assoc[] =
      "DELETE FROM associations WHERE account_id = ?1";
  static const char sql_account[] = "DELETE FROM accounts WHERE id = ?1";
  enum store_rc rc = store_sqlite_otps_supersede(s, id, now);
  sqlite3_stmt *st = rc == STORE_OK ? store_stmt(s, sql_assoc) : NULL;
  if (rc != STORE_OK || st == NULL)
    return rc != STORE_OK ? rc : STORE_ERROR;
  store_bind_text(st, 1, id);
  if ((rc = store_exec_write(s, st, NULL)) != STORE_OK)
    return rc;
  if ((st = store_stmt(s, sql_account)) == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, id);
  return store_write_row(s, st);
}

enum store_rc store_sqlite_outbox_status_of(struct store_sqlite *s, int64_t id,
                                            enum outbox_status *status,
                                            bool *has_seal) {
  static const char sql[] =
      "SELECT status, sealed_code IS NOT NULL FROM outbox WHERE id = ?1";
  sqlite3_stmt *st = store_stmt(s, sql);
  int v = 0;
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    /* The schema's CHECK admits only the vocabulary's words. */
    if (!store_vocab_parse(&store_outbox_statuses,
                           (const char *)sqlite3_column_text(st, 0), &v))
      rc = SQLITE_CORRUPT;
    *status = (enum outbox_status)v;
    *has_seal = sqlite3_column_int(st, 1) != 0;
  }
  return store_one_row_rc(st, rc);
}

enum store_rc store_sqlite_outbox_cancel(struct store_sqlite *s, int64_t id,
                                         int64_t now) {
  static const char sql[] =
      "UPDATE outbox SET status = 'failed', sealed_code = NULL, "
      "last_error = 'cancelled by the operator', updated_at = ?2 "
      "WHERE id = ?1 AND status = 'queued'";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, now);
  return store_write_row(s, st);
}

enum store_rc store_sqlite_outbox_requeue(struct store_sqlite *s, int64_t id,
                                          int64_t now) {
  static const char sql[] =
      "UPDATE outbox SET next_attempt_at = ?2, attempts = 0, updated_at = ?2 "
      "WHERE id = ?1 AND status = 'queued' AND sealed_code IS NOT NULL "
      "AND expires_at > ?2";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, now);
  return store_write_row(s, st);
}

enum store_rc store_sqlite_outbox_oldest(struct store_sqlite *s,
                                         enum outbox_status status,
                                         int64_t *created_at) {
  static const char sql[] =
      "SELECT coalesce(min(created_at), 0) FROM outbox WHERE status = ?1";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, store_vocab_name(&store_outbox_statuses, status));
  return store_int_row(st, created_at);
}

enum store_rc store_sqlite_outbox_outcomes_since(struct store_sqlite *s,
                                                 int64_t since, store_row_fn fn,
                                                 void *ctx) {
  static const char sql[] =
      "SELECT status, count(*) AS count FROM outbox "
      "WHERE status NOT IN ('queued', 'sending') "
      "AND coalesce(sent_at, updated_at) >= ?1 GROUP BY status ORDER BY status";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, since);
  return store_rows(s, st, fn, ctx);
}

enum store_rc store_sqlite_otp_stats_since(struct store_sqlite *s,
                                           int64_t since,
                                           struct store_otp_stats *out) {
  /* attempts counts a code's failed guesses; they carry no time of their
   * own, so they are those of the codes created since. */
  static const char sql[] =
      "SELECT (SELECT count(*) FROM otps WHERE created_at >= ?1), "
      "(SELECT count(*) FROM otps WHERE used_at >= ?1), "
      "(SELECT coalesce(sum(attempts), 0) FROM otps WHERE created_at >= ?1)";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, since);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    out->sent = sqlite3_column_int64(st, 0);
    out->verified = sqlite3_column_int64(st, 1);
    out->failed = sqlite3_column_int64(st, 2);
  }
  return store_one_row_rc(st, rc);
}

enum store_rc store_sqlite_check_writable(struct store_sqlite *s) {
  enum store_rc rc = store_sqlite_begin_write(s);
  if (rc == STORE_OK)
    store_sqlite_rollback(s);
  return rc;
}

/* PRAGMA integrity_check on db: true when it says "ok". */
static bool integrity_ok(sqlite3 *db, char *err, size_t errsz) {
  sqlite3_stmt *st;
  bool ok = false;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) !=
      SQLITE_OK) {
    snprintf(err, errsz, "integrity_check: %s", sqlite3_errmsg(db));
    return false;
  }
  if (sqlite3_step(st) == SQLITE_ROW) {
    const char *said = (const char *)sqlite3_column_text(st, 0);
    ok = said && strcmp(said, "ok") == 0;
    if (!ok)
      snprintf(err, errsz, "integrity_check: %s", said ? said : "?");
  } else {
    snprintf(err, errsz, "integrity_check: %s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(st);
  return ok;
}

/* Copies every page of s's database into dst, the readers and writers of
 * the source going on meanwhile (SQLite restarts the copy if one writes). */
static bool copy_pages(struct store_sqlite *s, sqlite3 *dst, char *err,
                       size_t errsz) {
  sqlite3_backup *b = sqlite3_backup_init(dst, "main", s->db, "main");
  if (b == NULL) {
    snprintf(err, errsz, "%s", sqlite3_errmsg(dst));
    return false;
  }
  int rc;
  while ((rc = sqlite3_backup_step(b, 256)) == SQLITE_OK || rc == SQLITE_BUSY ||
         rc == SQLITE_LOCKED)
    if (rc != SQLITE_OK)
      sqlite3_sleep(50);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    snprintf(err, errsz, "%s", sqlite3_errstr(rc));
    return false;
  }
  return true;
}

bool store_sqlite_backup(struct store_sqlite *s, const char *path, char *err,
                         size_t errsz) {
  char why[256] = "";
  sqlite3 *dst = NULL;
  /* Made here, 0600 and new: a backup holds every hash and account, and
   * must never overwrite what is there. */
  int fd =
      open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    snprintf(err, errsz, "%s: %s", path, strerror(errno));
    return false;
  }
  bool ok = fchmod(fd, 0600) == 0;
  close(fd);
  if (!ok)
    snprintf(why, sizeof why, "%s", strerror(errno));
  else if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL) !=
           SQLITE_OK)
    snprintf(why, sizeof why, "%s",
             dst ? sqlite3_errmsg(dst) : "out of memory");
  else
    ok = copy_pages(s, dst, why, sizeof why) &&
         integrity_ok(dst, why, sizeof why);
  ok = ok && why[0] == '\0';
  sqlite3_close(dst);
  if (!ok) {
    snprintf(err, errsz, "%s: backup failed: %s", path, why);
    unlink(path);
  }
  return ok;
}
