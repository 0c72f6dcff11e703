/* The PostgreSQL engine: admin. NOT YET WRITTEN: every function answers
 * STORE_ERROR. */
#include "config.h"

#include <stdio.h>

#include "store_pg.h"

enum store_rc store_pg_admin_audit_add(struct store_pg *s, const char *who, const char *action, const char *target, const char *detail, int64_t now) {
  (void)who;
  (void)action;
  (void)target;
  (void)detail;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_admin_audit_list(struct store_pg *s, int64_t since, store_row_fn fn, void *ctx) {
  (void)since;
  (void)fn;
  (void)ctx;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_account_unlock(struct store_pg *s, const char *id, int64_t now) {
  (void)id;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_account_live_codes(struct store_pg *s, const char *id, int64_t now, int64_t *count) {
  (void)id;
  (void)now;
  (void)count;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_account_delete(struct store_pg *s, const char *id, int64_t now) {
  (void)id;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_status_of(struct store_pg *s, int64_t id, enum outbox_status *status, bool *has_seal) {
  (void)id;
  (void)status;
  (void)has_seal;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_cancel(struct store_pg *s, int64_t id, int64_t now) {
  (void)id;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_requeue(struct store_pg *s, int64_t id, int64_t now) {
  (void)id;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_oldest(struct store_pg *s, enum outbox_status status, int64_t *created_at) {
  (void)status;
  (void)created_at;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_outbox_outcomes_since(struct store_pg *s, int64_t since, store_row_fn fn, void *ctx) {
  (void)since;
  (void)fn;
  (void)ctx;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_otp_stats_since(struct store_pg *s, int64_t since, struct store_otp_stats *out) {
  (void)since;
  (void)out;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}
