/* The PostgreSQL engine: outbox. NOT YET WRITTEN: every function answers
 * STORE_ERROR. */
#include "config.h"

#include <stdio.h>

#include "store_pg.h"

enum store_rc store_pg_outbox_insert(struct store_pg *s, const struct store_outbox_new *row, int64_t *id) {
  (void)row;
  (void)id;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_count_since(struct store_pg *s, int64_t since, const char *prefix, int64_t *count) {
  (void)since;
  (void)prefix;
  (void)count;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_status_counts(struct store_pg *s, store_row_fn fn, void *ctx) {
  (void)fn;
  (void)ctx;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_oldest_queued(struct store_pg *s, int64_t *created_at) {
  (void)created_at;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_list(struct store_pg *s, const enum outbox_status *status, int64_t since, const char *account, int64_t limit, store_row_fn fn, void *ctx) {
  (void)status;
  (void)since;
  (void)account;
  (void)limit;
  (void)fn;
  (void)ctx;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_show(struct store_pg *s, int64_t id, store_row_fn fn, void *ctx) {
  (void)id;
  (void)fn;
  (void)ctx;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_of_send(struct store_pg *s, const char *id, store_row_fn fn, void *ctx) {
  (void)id;
  (void)fn;
  (void)ctx;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_close_due(struct store_pg *s, int64_t now, int64_t max_attempts, int64_t *closed) {
  (void)now;
  (void)max_attempts;
  (void)closed;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_claim(struct store_pg *s, const char *owner, int64_t now, int64_t lease_ms, int64_t max_attempts, struct store_outbox_claim *out, int64_t *closed) {
  (void)owner;
  (void)now;
  (void)lease_ms;
  (void)max_attempts;
  (void)out;
  (void)closed;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_record_claim_batch(struct store_pg *s, const char *owner, struct store_outbox_done *done, size_t ndone, int64_t now, int64_t lease_ms, int64_t max_attempts, struct store_outbox_claim *out, size_t max, size_t *claimed) {
  (void)owner;
  (void)done;
  (void)ndone;
  (void)now;
  (void)lease_ms;
  (void)max_attempts;
  (void)out;
  (void)max;
  (void)claimed;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_record_claim(struct store_pg *s, const char *owner, struct store_outbox_done *done, int64_t now, int64_t lease_ms, int64_t max_attempts, struct store_outbox_claim *out) {
  (void)owner;
  (void)done;
  (void)now;
  (void)lease_ms;
  (void)max_attempts;
  (void)out;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_record(struct store_pg *s, int64_t id, const char *owner, const struct store_outbox_result *r, int64_t now) {
  (void)id;
  (void)owner;
  (void)r;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_next_due(struct store_pg *s, int64_t *when) {
  (void)when;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}
