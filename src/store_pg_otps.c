/* The PostgreSQL engine: otps. NOT YET WRITTEN: every function answers
 * STORE_ERROR. */
#include "config.h"

#include <stdio.h>

#include "store_pg.h"

enum store_rc store_pg_otp_count_since(struct store_pg *s, const char *account_id, int64_t since, int64_t *count) {
  (void)account_id;
  (void)since;
  (void)count;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_otps_supersede(struct store_pg *s, const char *account_id, int64_t now) {
  (void)account_id;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_otp_insert(struct store_pg *s, struct store_otp *otp) {
  (void)otp;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_otp_show(struct store_pg *s, const char *id, store_row_fn fn, void *ctx) {
  (void)id;
  (void)fn;
  (void)ctx;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_otp_list(struct store_pg *s, const char *account_id, int64_t since, store_row_fn fn, void *ctx) {
  (void)account_id;
  (void)since;
  (void)fn;
  (void)ctx;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_otp_get(struct store_pg *s, const char *request_id, struct store_otp *out) {
  (void)request_id;
  (void)out;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_otp_record_failure(struct store_pg *s, int64_t otp_id, const char *account_id, int64_t now, int64_t max_account_failures, int64_t lockout_ms) {
  (void)otp_id;
  (void)account_id;
  (void)now;
  (void)max_account_failures;
  (void)lockout_ms;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_otp_mark_used(struct store_pg *s, int64_t otp_id, const char *account_id, int64_t now) {
  (void)otp_id;
  (void)account_id;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}
