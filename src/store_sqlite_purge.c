/* Housekeeping: deleting rows past their retention. */
#include "config.h"

#include "store_sqlite.h"

/* Rows per DELETE. Each batch is its own transaction, so a worker waiting
 * for the write lock waits for one batch, never for the whole purge. */
#define PURGE_BATCH 500

/* Runs a "DELETE ... LIMIT ?2"-shaped statement until it deletes fewer
 * than a batch. */
static enum store_rc purge_batches(struct store_sqlite *s, const char *sql,
                                   int64_t before, int64_t *count) {
  enum store_rc rc;
  int64_t changed;
  *count = 0;
  if (before <= 0)
    return STORE_OK;
  do {
    sqlite3_stmt *st = store_stmt(s, sql);
    if (st == NULL)
      return STORE_ERROR;
    sqlite3_bind_int64(st, 1, before);
    sqlite3_bind_int(st, 2, PURGE_BATCH);
    /* Its own transaction, in the write queue like every writer. */
    if ((rc = store_exec_write(s, st, &changed)) != STORE_OK)
      return rc;
    *count += changed;
  } while (changed == PURGE_BATCH);
  return STORE_OK;
}

enum store_rc store_sqlite_purge(struct store_sqlite *s,
                                 const struct store_purge *p,
                                 struct store_purge_counts *n) {
  static const char sql_requests[] =
      "DELETE FROM requests WHERE (method, request_id) IN "
      "(SELECT method, request_id FROM requests WHERE created_at < ?1 "
      "LIMIT ?2)";
  /* outbox.otp_id is ON DELETE SET NULL: the audit rows outlive the OTP. */
  static const char sql_otps[] =
      "DELETE FROM otps WHERE id IN (SELECT id FROM otps "
      "WHERE expires_at < ?1 LIMIT ?2)";
  static const char sql_outbox[] =
      "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
      "WHERE created_at < ?1 "
      "AND status IN ('sent', 'failed', 'expired', 'unknown', 'superseded') "
      "LIMIT ?2)";
  static const char sql_senders[] =
      "DELETE FROM senders WHERE rowid IN (SELECT rowid FROM senders "
      "WHERE seen_at < ?1 LIMIT ?2)";
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
