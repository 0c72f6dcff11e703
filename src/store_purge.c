/* Housekeeping, the same on both engines: rows past their retention go, a
 * batch at a time (each engine's store_purge_batch()). */
#include "config.h"

#include "store_engine.h"

/* Rows per DELETE. Each batch is its own short transaction, so a worker or
 * a sender waiting for a lock waits for one batch, never for the whole
 * purge. A purge running at the same time on another machine may make a
 * batch come up short: what is left goes at the next purge. */
#define PURGE_BATCH 500

/* Deletes batches until one comes up short; before <= 0 deletes none. */
static enum store_rc purge_all(struct store *s, enum store_purge_what what,
                               int64_t before, int64_t *count) {
  enum store_rc rc;
  int64_t deleted;
  *count = 0;
  if (before <= 0)
    return STORE_OK;
  do {
    if ((rc = store_purge_batch(s, what, before, PURGE_BATCH, &deleted)) !=
        STORE_OK)
      return rc;
    *count += deleted;
  } while (deleted == PURGE_BATCH);
  return STORE_OK;
}

enum store_rc store_purge(struct store *s, const struct store_purge *p,
                          struct store_purge_counts *n) {
  enum store_rc rc;
  struct store_purge_counts zero = {0};
  *n = zero;
  if ((rc = purge_all(s, STORE_PURGE_REQUESTS, p->requests_before,
                      &n->requests)) != STORE_OK ||
      (rc = purge_all(s, STORE_PURGE_OTPS, p->otps_before, &n->otps)) !=
          STORE_OK ||
      (rc = purge_all(s, STORE_PURGE_OUTBOX, p->outbox_before,
                      &n->outbox)) != STORE_OK)
    return rc;
  return purge_all(s, STORE_PURGE_SENDERS, p->senders_before, &n->senders);
}
