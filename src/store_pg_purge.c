/* The PostgreSQL engine: housekeeping's step, one batch of rows past their
 * retention (store_purge.c repeats it). */
#include "config.h"

#include "store_pg.h"

enum store_rc store_pg_purge_batch(struct store_pg *s,
                                   enum store_purge_what what, int64_t before,
                                   int64_t limit, int64_t *deleted) {
  static const char *const sql[] = {
      [STORE_PURGE_REQUESTS] =
          "DELETE FROM requests WHERE (method, request_id) IN "
          "(SELECT method, request_id FROM requests "
          "WHERE created_at < $1::bigint LIMIT $2::bigint)",
      /* outbox.otp_id is ON DELETE SET NULL: the audit rows outlive the
       * OTP. */
      [STORE_PURGE_OTPS] = "DELETE FROM otps WHERE id IN (SELECT id FROM otps "
                           "WHERE expires_at < $1::bigint LIMIT $2::bigint)",
      [STORE_PURGE_OUTBOX] =
          "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
          "WHERE created_at < $1::bigint "
          "AND status IN ('sent', 'failed', 'expired', 'unknown', "
          "'superseded') LIMIT $2::bigint)",
      [STORE_PURGE_SENDERS] =
          "DELETE FROM senders WHERE owner IN (SELECT owner FROM senders "
          "WHERE seen_at < $1::bigint LIMIT $2::bigint)",
  };
  struct pg_params p = {0};
  pg_param_int(&p, before);
  pg_param_int(&p, limit);
  /* Outside a transaction, the statement is its own. */
  return pg_run(s, sql[what], &p, deleted);
}
