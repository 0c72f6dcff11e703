/* The sender's transactions on the outbox, the same on both engines: each
 * records what was sent and claims what is due, in one transaction, from
 * the engine's steps (store_outbox_record(), store_outbox_close_due(),
 * store_outbox_take()). */
#include "config.h"

#include <string.h>

#include "store.h"

/* Records every outcome of done[0..ndone): each done[i].recorded says how
 * its own went. Fails (and the transaction with it) only on a database
 * error; a lost lease is that row's STORE_NOT_FOUND (an UPDATE that
 * changed nothing: the transaction goes on). */
static enum store_rc record_all(struct store *s, const char *owner,
                                struct store_outbox_done *done, size_t ndone,
                                int64_t now) {
  for (size_t i = 0; i < ndone; i++) {
    done[i].recorded =
        store_outbox_record(s, done[i].id, owner, &done[i].result, now);
    if (done[i].recorded != STORE_OK && done[i].recorded != STORE_NOT_FOUND)
      return done[i].recorded;
  }
  return STORE_OK;
}

/* One transaction: the outcomes of done[0..ndone) recorded; when closed is
 * not NULL, the due rows that must not be sent closed (their count goes
 * there); then up to max due rows claimed into out. STORE_NOT_FOUND when
 * none was due. On a failure nothing happened, and every outcome says
 * why. */
static enum store_rc claim_tx(struct store *s, const char *owner,
                              struct store_outbox_done *done, size_t ndone,
                              int64_t now, int64_t lease_ms,
                              int64_t max_attempts, int64_t *closed,
                              struct store_outbox_claim *out, size_t max,
                              size_t *claimed) {
  int64_t nclosed = 0;
  size_t n = 0;
  memset(out, 0, max * sizeof *out);
  *claimed = 0;
  enum store_rc rc = store_begin_write(s);
  if (rc != STORE_OK)
    goto failed;
  rc = record_all(s, owner, done, ndone, now);
  if (rc == STORE_OK && closed)
    rc = store_outbox_close_due(s, now, max_attempts, &nclosed);
  if (rc == STORE_OK)
    rc = store_outbox_take(s, owner, now, lease_ms, max_attempts, out, max, &n);
  if (rc != STORE_OK) {
    store_rollback(s);
    goto failed;
  }
  if ((rc = store_commit(s)) != STORE_OK) {
    while (n > 0)
      store_outbox_claim_free(&out[--n]);
    goto failed;
  }
  if (closed)
    *closed = nclosed;
  *claimed = n;
  return n > 0 || max == 0 ? STORE_OK : STORE_NOT_FOUND;
failed:
  for (size_t i = 0; i < ndone; i++)
    done[i].recorded = rc;
  return rc;
}

enum store_rc store_outbox_claim(struct store *s, const char *owner,
                                 int64_t now, int64_t lease_ms,
                                 int64_t max_attempts,
                                 struct store_outbox_claim *out,
                                 int64_t *closed) {
  int64_t n = 0;
  size_t claimed;
  return claim_tx(s, owner, NULL, 0, now, lease_ms, max_attempts,
                  closed ? closed : &n, out, 1, &claimed);
}

enum store_rc store_outbox_record_claim(struct store *s, const char *owner,
                                        struct store_outbox_done *done,
                                        int64_t now, int64_t lease_ms,
                                        int64_t max_attempts,
                                        struct store_outbox_claim *out) {
  size_t claimed;
  return claim_tx(s, owner, done, done ? 1 : 0, now, lease_ms, max_attempts,
                  NULL, out, 1, &claimed);
}

enum store_rc store_outbox_record_claim_batch(
    struct store *s, const char *owner, struct store_outbox_done *done,
    size_t ndone, int64_t now, int64_t lease_ms, int64_t max_attempts,
    struct store_outbox_claim *out, size_t max, size_t *claimed) {
  return claim_tx(s, owner, done, ndone, now, lease_ms, max_attempts, NULL, out,
                  max, claimed);
}
