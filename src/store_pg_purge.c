/* The PostgreSQL engine: purge. NOT YET WRITTEN: every function answers
 * STORE_ERROR. */
#include "config.h"

#include <stdio.h>

#include "store_pg.h"

enum store_rc store_pg_purge(struct store_pg *s, const struct store_purge *p, struct store_purge_counts *n) {
  (void)p;
  (void)n;
  snprintf(s->errmsg, sizeof s->errmsg, "not written yet");
  return STORE_ERROR;
}
