/* The PostgreSQL engine: the senders' heartbeat and their gateway's health
 * (store_sqlite_senders.c says what they are for). The senders table is
 * shared by every machine: a live sender anywhere lets sendOtp promise an
 * SMS, and the probe of a half-open breaker is taken by exactly one
 * request across all the workers (an UPDATE whose WHERE still wants the
 * old probe time: a second taker waits for the first's row lock, then
 * finds the probe gone). */
#include "config.h"

#include <stdio.h>

#include "store_pg.h"

enum store_rc store_pg_sender_heartbeat(struct store_pg *s,
                                        const struct store_sender_beat *b) {
  static const char sql[] =
      "INSERT INTO senders (owner, pid, started_at, seen_at, failures, "
      "failed_at) VALUES ($1::text, $2::bigint, $3::bigint, $4::bigint, "
      "$5::bigint, $6::bigint) "
      "ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at, "
      "failures = excluded.failures, failed_at = excluded.failed_at";
  struct pg_params p = {0};
  pg_param_text(&p, b->owner);
  pg_param_int(&p, b->pid);
  pg_param_int(&p, b->started_at);
  pg_param_int(&p, b->now);
  pg_param_int(&p, b->failures);
  pg_param_int(&p, b->failed_at);
  return pg_run(s, sql, &p, NULL);
}

enum store_rc store_pg_sender_forget(struct store_pg *s, const char *owner) {
  static const char sql[] = "DELETE FROM senders WHERE owner = $1::text";
  struct pg_params p = {0};
  pg_param_text(&p, owner);
  return pg_run(s, sql, &p, NULL);
}

/* Lets this request through as the probe of one half-open sender, if no
 * other request took that probe since it was read: STORE_NOT_FOUND when
 * one did (or the sender failed again, or recovered, meanwhile). The row
 * stays locked until the caller's transaction ends. */
static enum store_rc sender_take_probe(struct store_pg *s, const char *owner,
                                       int64_t now, int64_t cut,
                                       int64_t breaker_failures) {
  static const char sql[] =
      "UPDATE senders SET probe_at = $2::bigint WHERE owner = $1::text "
      "AND failures >= $4::bigint AND failed_at <= $3::bigint "
      "AND probe_at <= $3::bigint";
  struct pg_params p = {0};
  pg_param_text(&p, owner);
  pg_param_int(&p, now);
  pg_param_int(&p, cut);
  pg_param_int(&p, breaker_failures);
  return pg_write_row(s, sql, &p);
}

enum store_rc store_pg_sender_verdict(struct store_pg *s, int64_t now,
                                      int64_t alive_since,
                                      int64_t breaker_failures,
                                      int64_t breaker_ms, bool take_probe,
                                      enum store_sender_verdict *verdict) {
  static const char sql[] =
      "SELECT owner, failures, failed_at, probe_at FROM senders "
      "WHERE seen_at >= $1::bigint ORDER BY seen_at DESC, owner COLLATE \"C\"";
  struct pg_params p = {0};
  enum store_rc rc;
  int64_t cut = now - breaker_ms;
  bool probe = false;

  pg_param_int(&p, alive_since);
  *verdict = STORE_SENDERS_NONE;
  PGresult *r = pg_exec(s, sql, &p, &rc);
  if (r == NULL)
    return rc;
  int rows = PQntuples(r);
  for (int i = 0; i < rows; i++) {
    int64_t failures = pg_get_int(r, i, 1);
    int64_t failed_at = pg_get_int(r, i, 2);
    int64_t probe_at = pg_get_int(r, i, 3);
    if (breaker_failures == 0 || failures < breaker_failures) {
      *verdict = STORE_SENDERS_OK;
      break;
    }
    *verdict = STORE_SENDERS_OPEN;
    if (failed_at <= cut && probe_at <= cut)
      probe = true;
  }
  if (*verdict != STORE_SENDERS_OPEN || !probe) {
    PQclear(r);
    return STORE_OK;
  }
  if (!take_probe) {
    *verdict = STORE_SENDERS_PROBE;
    PQclear(r);
    return STORE_OK;
  }
  /* The first half-open sender (newest heartbeat first) whose probe is
   * still free: what SQLite's serialised writers would have found. */
  rc = STORE_OK;
  for (int i = 0; i < rows; i++) {
    if (pg_get_int(r, i, 2) > cut || pg_get_int(r, i, 3) > cut)
      continue;
    rc = sender_take_probe(s, PQgetvalue(r, i, 0), now, cut, breaker_failures);
    if (rc == STORE_OK) {
      *verdict = STORE_SENDERS_PROBE;
      break;
    }
    if (rc != STORE_NOT_FOUND)
      break;
    rc = STORE_OK; /* another request took it: the next sender's */
  }
  PQclear(r);
  return rc;
}

enum store_rc store_pg_sender_list(struct store_pg *s, store_row_fn fn,
                                   void *ctx) {
  /* COLLATE "C": SQLite's order (bytes), whatever the database's locale. */
  static const char sql[] =
      "SELECT owner, seen_at, failures, failed_at FROM senders "
      "ORDER BY owner COLLATE \"C\"";
  return pg_rows(s, sql, NULL, fn, ctx);
}

enum store_rc store_pg_sender_last_seen(struct store_pg *s, int64_t *seen_at) {
  static const char sql[] = "SELECT coalesce(max(seen_at), 0) FROM senders";
  return pg_int(s, sql, NULL, seen_at);
}
