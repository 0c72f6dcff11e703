/* The SQLite engine: housekeeping's step, one batch of rows past their
 * retention (store_purge.c repeats it). */
#include "config.h"

#include "store_sqlite.h"

enum store_rc store_sqlite_purge_batch(struct store_sqlite *s,
                                       enum store_purge_what what,
                                       int64_t before, int64_t limit,
                                       int64_t *deleted) {
  static const char *const sql[] = {
      [STORE_PURGE_REQUESTS] =
          "DELETE FROM requests WHERE (method, request_id) IN "
          "(SELECT method, request_id FROM requests WHERE created_at < ?1 "
          "LIMIT ?2)",
      /* outbox.otp_id is ON DELETE SET NULL: the audit rows outlive the
       * OTP. */
      [STORE_PURGE_OTPS] = "DELETE FROM otps WHERE id IN (SELECT id FROM otps "
                           "WHERE expires_at < ?1 LIMIT ?2)",
      [STORE_PURGE_OUTBOX] =
          "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
          "WHERE created_at < ?1 "
          "AND status IN ('sent', 'failed', 'expired', 'unknown', "
          "'superseded') LIMIT ?2)",
      [STORE_PURGE_SENDERS] =
          "DELETE FROM senders WHERE rowid IN (SELECT rowid FROM senders "
          "WHERE seen_at < ?1 LIMIT ?2)",
  };
  sqlite3_stmt *st = store_stmt(s, sql[what]);
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, before);
  sqlite3_bind_int64(st, 2, limit);
  /* Its own transaction, in the write queue like every writer. */
  return store_exec_write(s, st, deleted);
}
