/* The senders' heartbeat: sendOtp promises an SMS only while a sender
 * has been seen recently. */
#include "config.h"

#include "store_internal.h"

enum store_rc store_sender_heartbeat(struct store *s, const char *owner,
                                     long pid, int64_t started_at,
                                     int64_t now) {
  static const char sql[] =
      "INSERT INTO senders (owner, pid, started_at, seen_at) "
      "VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, owner);
  sqlite3_bind_int64(st, 2, pid);
  sqlite3_bind_int64(st, 3, started_at);
  sqlite3_bind_int64(st, 4, now);
  return store_exec_write(s, st, NULL);
}

enum store_rc store_sender_last_seen(struct store *s, int64_t *seen_at) {
  static const char sql[] = "SELECT coalesce(max(seen_at), 0) FROM senders";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *seen_at = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? STORE_OK : store_rc_from(rc);
}
