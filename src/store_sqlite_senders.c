/* The senders' heartbeat and their gateway's health: sendOtp promises an
 * SMS only while a sender has been seen recently and its gateway takes
 * messages. */
#include "config.h"

#include "store_sqlite.h"

enum store_rc store_sqlite_sender_heartbeat(struct store_sqlite *s,
                                            const struct store_sender_beat *b) {
  static const char sql[] =
      "INSERT INTO senders (owner, pid, started_at, seen_at, failures, "
      "failed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
      "ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at, "
      "failures = excluded.failures, failed_at = excluded.failed_at";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, b->owner);
  sqlite3_bind_int64(st, 2, b->pid);
  sqlite3_bind_int64(st, 3, b->started_at);
  sqlite3_bind_int64(st, 4, b->now);
  sqlite3_bind_int64(st, 5, b->failures);
  sqlite3_bind_int64(st, 6, b->failed_at);
  return store_exec_write(s, st, NULL);
}

enum store_rc store_sqlite_sender_forget(struct store_sqlite *s,
                                         const char *owner) {
  static const char sql[] = "DELETE FROM senders WHERE owner = ?1";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, owner);
  return store_exec_write(s, st, NULL);
}

/* Lets this request through as the probe of one half-open sender. */
static enum store_rc sender_take_probe(struct store_sqlite *s,
                                       const char *owner, int64_t now) {
  static const char sql[] = "UPDATE senders SET probe_at = ?2 WHERE owner = ?1";
  sqlite3_stmt *st = store_stmt(s, sql);
  if (st == NULL)
    return STORE_ERROR;
  store_bind_text(st, 1, owner);
  sqlite3_bind_int64(st, 2, now);
  return store_exec_stmt(s, st);
}

enum store_rc store_sqlite_sender_verdict(struct store_sqlite *s, int64_t now,
                                          int64_t alive_since,
                                          int64_t breaker_failures,
                                          int64_t breaker_ms, bool take_probe,
                                          enum store_sender_verdict *verdict) {
  static const char sql[] =
      "SELECT owner, failures, failed_at, probe_at FROM senders "
      "WHERE seen_at >= ?1 ORDER BY seen_at DESC";
  sqlite3_stmt *st = store_stmt(s, sql);
  char probe_owner[200] = "";
  int rc;
  if (st == NULL)
    return STORE_ERROR;
  sqlite3_bind_int64(st, 1, alive_since);
  *verdict = STORE_SENDERS_NONE;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t failures = sqlite3_column_int64(st, 1);
    int64_t failed_at = sqlite3_column_int64(st, 2);
    int64_t probe_at = sqlite3_column_int64(st, 3);
    if (breaker_failures == 0 || failures < breaker_failures) {
      *verdict = STORE_SENDERS_OK;
      break;
    }
    *verdict = STORE_SENDERS_OPEN;
    if (probe_owner[0] == '\0' && failed_at <= now - breaker_ms &&
        probe_at <= now - breaker_ms)
      store_column_copy(st, 0, probe_owner, sizeof probe_owner);
  }
  sqlite3_reset(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return store_rc_from(rc);
  if (*verdict == STORE_SENDERS_OPEN && probe_owner[0]) {
    *verdict = STORE_SENDERS_PROBE;
    return take_probe ? sender_take_probe(s, probe_owner, now) : STORE_OK;
  }
  return STORE_OK;
}

enum store_rc store_sqlite_sender_list(struct store_sqlite *s, store_row_fn fn,
                                       void *ctx) {
  static const char sql[] =
      "SELECT owner, seen_at, failures, failed_at FROM senders ORDER BY owner";
  return store_rows(s, store_stmt(s, sql), fn, ctx);
}

enum store_rc store_sqlite_sender_last_seen(struct store_sqlite *s,
                                            int64_t *seen_at) {
  static const char sql[] = "SELECT coalesce(max(seen_at), 0) FROM senders";
  return store_int_row(store_stmt(s, sql), seen_at);
}
