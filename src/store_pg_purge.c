/* The PostgreSQL engine: housekeeping, deleting rows past their retention
 * (store_sqlite_purge.c's rules). */
#include "config.h"

#include "store_pg.h"

/* Rows per DELETE. Each batch is its own short transaction (when the
 * caller has none open), so no row stays locked long: a worker or a
 * sender that needs one waits for one batch, never for the whole purge. */
#define PURGE_BATCH 500

/* Runs a "DELETE ... WHERE key IN (SELECT key ... LIMIT $2)"-shaped
 * statement until it deletes fewer than a batch. A purge running at the
 * same time on another machine may make a batch come up short: what is
 * left goes at the next purge. */
static enum store_rc purge_batches(struct store_pg *s, const char *sql,
                                   int64_t before, int64_t *count) {
  enum store_rc rc;
  int64_t changed;
  *count = 0;
  if (before <= 0)
    return STORE_OK;
  do {
    struct pg_params p = {0};
    pg_param_int(&p, before);
    pg_param_int(&p, PURGE_BATCH);
    if ((rc = pg_run(s, sql, &p, &changed)) != STORE_OK)
      return rc;
    *count += changed;
  } while (changed == PURGE_BATCH);
  return STORE_OK;
}

enum store_rc store_pg_purge(struct store_pg *s, const struct store_purge *p,
                             struct store_purge_counts *n) {
  static const char sql_requests[] =
      "DELETE FROM requests WHERE (method, request_id) IN "
      "(SELECT method, request_id FROM requests "
      "WHERE created_at < $1::bigint LIMIT $2::bigint)";
  /* outbox.otp_id is ON DELETE SET NULL: the audit rows outlive the OTP. */
  static const char sql_otps[] =
      "DELETE FROM otps WHERE id IN (SELECT id FROM otps "
      "WHERE expires_at < $1::bigint LIMIT $2::bigint)";
  static const char sql_outbox[] =
      "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
      "WHERE created_at < $1::bigint "
      "AND status IN ('sent', 'failed', 'expired', 'unknown', 'superseded') "
      "LIMIT $2::bigint)";
  static const char sql_senders[] =
      "DELETE FROM senders WHERE owner IN (SELECT owner FROM senders "
      "WHERE seen_at < $1::bigint LIMIT $2::bigint)";
  enum store_rc rc;
  struct store_purge_counts zero = {0};

  *n = zero;
  if ((rc = purge_batches(s, sql_requests, p->requests_before, &n->requests)) !=
      STORE_OK)
    return rc;
  if ((rc = purge_batches(s, sql_otps, p->otps_before, &n->otps)) != STORE_OK)
    return rc;
  if ((rc = purge_batches(s, sql_outbox, p->outbox_before, &n->outbox)) !=
      STORE_OK)
    return rc;
  return purge_batches(s, sql_senders, p->senders_before, &n->senders);
}
