/* The PostgreSQL engine: accounts. NOT YET WRITTEN: every function answers
 * STORE_ERROR. */
#include "config.h"

#include <stdio.h>

#include "store_pg.h"

enum store_rc store_pg_account_add(struct store_pg *s, const char *id, const char *phone, enum account_status status, int64_t now) {
  (void)id;
  (void)phone;
  (void)status;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_account_update(struct store_pg *s, const char *id, bool set_phone, const char *phone, const enum account_status *status, int64_t now) {
  (void)id;
  (void)set_phone;
  (void)phone;
  (void)status;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_account_by_phone(struct store_pg *s, const char *phone, struct store_account *out) {
  (void)phone;
  (void)out;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_account_list(struct store_pg *s, store_row_fn fn, void *ctx) {
  (void)fn;
  (void)ctx;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_account_show(struct store_pg *s, const char *id, store_row_fn fn, void *ctx) {
  (void)id;
  (void)fn;
  (void)ctx;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_association_add(struct store_pg *s, const char *association_id, const char *account_id, int64_t now) {
  (void)association_id;
  (void)account_id;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_association_revoke(struct store_pg *s, const char *association_id, int64_t now) {
  (void)association_id;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_association_account(struct store_pg *s, const char *association_id, struct store_account *out) {
  (void)association_id;
  (void)out;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_association_list(struct store_pg *s, store_row_fn fn, void *ctx) {
  (void)fn;
  (void)ctx;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}
