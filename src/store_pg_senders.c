/* The PostgreSQL engine: senders. NOT YET WRITTEN: every function answers
 * STORE_ERROR. */
#include "config.h"

#include <stdio.h>

#include "store_pg.h"

enum store_rc store_pg_sender_heartbeat(struct store_pg *s, const struct store_sender_beat *b) {
  (void)b;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_sender_forget(struct store_pg *s, const char *owner) {
  (void)owner;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_sender_verdict(struct store_pg *s, int64_t now, int64_t alive_since, int64_t breaker_failures, int64_t breaker_ms, bool take_probe, enum store_sender_verdict *verdict) {
  (void)now;
  (void)alive_since;
  (void)breaker_failures;
  (void)breaker_ms;
  (void)take_probe;
  (void)verdict;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_sender_list(struct store_pg *s, store_row_fn fn, void *ctx) {
  (void)fn;
  (void)ctx;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_sender_last_seen(struct store_pg *s, int64_t *seen_at) {
  (void)seen_at;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}
