/* The PostgreSQL engine: requests. NOT YET WRITTEN: every function answers
 * STORE_ERROR. */
#include "config.h"

#include <stdio.h>

#include "store_pg.h"

enum store_rc store_pg_request_get(struct store_pg *s, const char *method, const char *request_id, struct store_request *out) {
  (void)method;
  (void)request_id;
  (void)out;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}

enum store_rc store_pg_request_put(struct store_pg *s, const char *method, const char *request_id, const struct store_request *r, int64_t now) {
  (void)method;
  (void)request_id;
  (void)r;
  (void)now;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}
