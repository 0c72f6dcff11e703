/* The PostgreSQL engine: the outbox, one row per SMS, from the worker's
 * insert to a final state. The same rows, states and rules as SQLite's
 * (store_sqlite_outbox.c); what differs is that senders on several
 * machines share the table:
 *
 * - a claim locks the rows it takes with FOR UPDATE SKIP LOCKED, so two
 *   senders claiming at once take different rows and neither waits for
 *   the other; each row then carries its lease (lease_owner, and
 *   next_attempt_at as the lease's end) exactly as on SQLite;
 * - closing due rows skips the rows another transaction holds (a claim,
 *   a recording): they are closed by the next pass if they still must be;
 * - an insert wakes the senders of every machine with a NOTIFY on
 *   PG_WAKE_CHANNEL in the insert's transaction (delivered at its
 *   commit), beside the wake datagram of wake.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg.h"
#include "util.h"

enum store_rc store_pg_outbox_insert(struct store_pg *s,
                                     const struct store_outbox_new *row,
                                     int64_t *id) {
  /* One statement: the row and the wake-up hold together, in the
   * caller's transaction or in their own. */
  static const char sql[] =
      "WITH ins AS (INSERT INTO outbox (otp_id, account_id, destination, "
      "text, code_offset, code_length, next_attempt_at, expires_at, "
      "created_at, updated_at, sealed_code, key_id) "
      "VALUES ($1::bigint, $2::text, $3::text, $4::text, $5::bigint, "
      "$6::bigint, $7::bigint, $8::bigint, $7::bigint, $7::bigint, "
      "$9::bytea, $10::bigint) RETURNING id) "
      "SELECT ins.id, pg_notify('" PG_WAKE_CHANNEL "', '') FROM ins";
  struct pg_params p = {0};
  enum store_rc rc;
  if (row->otp_id)
    pg_param_int(&p, row->otp_id);
  else
    pg_param_text(&p, NULL);
  pg_param_text(&p, row->account_id);
  pg_param_text(&p, row->destination);
  pg_param_text(&p, row->text);
  pg_param_int(&p, (int64_t)row->code_offset);
  pg_param_int(&p, (int64_t)row->code_length);
  pg_param_int(&p, row->created_at);
  pg_param_int(&p, row->expires_at);
  pg_param_bytes(&p, row->sealed, row->sealed_len);
  pg_param_int(&p, row->key_id);
  PGresult *r = pg_exec(s, sql, &p, &rc);
  if (r == NULL)
    return rc;
  if (PQntuples(r) == 1) {
    if (id)
      *id = pg_get_int(r, 0, 0);
  } else {
    snprintf(s->errmsg, sizeof s->errmsg, "the outbox insert returned no id");
    rc = STORE_ERROR;
  }
  PQclear(r);
  return rc;
}

enum store_rc store_pg_outbox_count_since(struct store_pg *s, int64_t since,
                                          const char *prefix, int64_t *count) {
  /* substr(), not LIKE: a prefix is digits and '+', never a pattern. */
  static const char sql[] =
      "SELECT count(*) FROM outbox WHERE created_at >= $1::bigint "
      "AND ($2::text IS NULL "
      "OR substr(destination, 1, length($2::text)) = $2::text)";
  struct pg_params p = {0};
  pg_param_int(&p, since);
  pg_param_text(&p, prefix);
  return pg_int(s, sql, &p, count);
}

enum store_rc store_pg_outbox_status_counts(struct store_pg *s, store_row_fn fn,
                                            void *ctx) {
  /* COLLATE "C": the order of SQLite's (bytes), whatever the database's
   * locale. */
  static const char sql[] =
      "SELECT status, count(*) AS count FROM outbox GROUP BY status "
      "ORDER BY status COLLATE \"C\"";
  return pg_rows(s, sql, NULL, fn, ctx);
}

enum store_rc store_pg_outbox_oldest_queued(struct store_pg *s,
                                            int64_t *created_at) {
  static const char sql[] =
      "SELECT coalesce(min(created_at), 0) FROM outbox WHERE status = 'queued'";
  return pg_int(s, sql, NULL, created_at);
}

enum store_rc store_pg_outbox_list(struct store_pg *s,
                                   const enum outbox_status *status,
                                   int64_t since, const char *account,
                                   int64_t limit, store_row_fn fn, void *ctx) {
  /* The audit view masks the destination and the code. The newest rows
   * are taken (LIMIT NULL: all), then listed oldest first. */
  static const char sql[] =
      "SELECT * FROM (SELECT v.id, v.account, v.destination, v.status, "
      "v.attempts, v.created, v.updated, v.sent, v.last_error "
      "FROM audit_outbox AS v JOIN outbox AS o ON o.id = v.id "
      "WHERE ($1::text IS NULL OR o.status = $1::text) "
      "AND o.created_at >= $2::bigint "
      "AND ($3::text IS NULL OR o.account_id = $3::text) "
      "ORDER BY o.id DESC LIMIT $4::bigint) AS newest ORDER BY id";
  struct pg_params p = {0};
  pg_param_text(&p, status ? store_vocab_name(&store_outbox_statuses, *status)
                           : NULL);
  pg_param_int(&p, since);
  pg_param_text(&p, account);
  if (limit > 0)
    pg_param_int(&p, limit);
  else
    pg_param_text(&p, NULL);
  return pg_rows(s, sql, &p, fn, ctx);
}

enum store_rc store_pg_outbox_show(struct store_pg *s, int64_t id,
                                   store_row_fn fn, void *ctx) {
  static const char sql[] = "SELECT * FROM audit_outbox WHERE id = $1::bigint";
  struct pg_params p = {0};
  pg_param_int(&p, id);
  return pg_rows_at_least_one(s, sql, &p, fn, ctx);
}

enum store_rc store_pg_outbox_of_send(struct store_pg *s, const char *id,
                                      store_row_fn fn, void *ctx) {
  static const char sql[] =
      "SELECT * FROM audit_outbox WHERE send_otp_id = $1::text "
      "OR send_otp_request_id = $1::text ORDER BY id";
  struct pg_params p = {0};
  pg_param_text(&p, id);
  return pg_rows(s, sql, &p, fn, ctx);
}

/* Runs sql (parameters: now, then max_attempts when given) and adds the
 * rows it changed to *count. */
static enum store_rc outbox_run_counting(struct store_pg *s, const char *sql,
                                         int64_t now,
                                         const int64_t *max_attempts,
                                         int64_t *count) {
  struct pg_params p = {0};
  int64_t changed = 0;
  pg_param_int(&p, now);
  if (max_attempts)
    pg_param_int(&p, *max_attempts);
  enum store_rc rc = pg_run(s, sql, &p, &changed);
  if (rc == STORE_OK)
    *count += changed;
  return rc;
}

/* Due rows whose code expired: never sent, now final. Rows another
 * transaction holds are skipped, never waited for. */
static enum store_rc outbox_expire_due(struct store_pg *s, int64_t now,
                                       int64_t *closed) {
  static const char sql[] =
      "UPDATE outbox SET status = 'expired', sealed_code = NULL, "
      "last_error = 'the code expired before it could be sent'"
      " || coalesce('; before that: ' || last_error, ''), "
      "updated_at = $1::bigint "
      "WHERE id IN (SELECT id FROM outbox "
      "WHERE status IN ('queued', 'sending') AND next_attempt_at <= $1::bigint "
      "AND expires_at <= $1::bigint FOR UPDATE SKIP LOCKED)";
  return outbox_run_counting(s, sql, now, NULL, closed);
}

/* Due rows with no attempt left. A queued one failed transiently every
 * time (max_attempts was lowered since); a sending one lost its lease on
 * its last attempt, so nobody knows whether that attempt went out. */
static enum store_rc outbox_give_up_due(struct store_pg *s, int64_t now,
                                        int64_t max_attempts, int64_t *closed) {
  static const char sql[] =
      "UPDATE outbox SET "
      "status = CASE status WHEN 'sending' THEN 'unknown' ELSE 'failed' END, "
      "last_error = CASE status WHEN 'sending' "
      "THEN 'the sender died or stalled during the last attempt' "
      "ELSE coalesce(last_error, 'no attempts left') END, "
      "sealed_code = NULL, updated_at = $1::bigint "
      "WHERE id IN (SELECT id FROM outbox "
      "WHERE status IN ('queued', 'sending') AND next_attempt_at <= $1::bigint "
      "AND attempts >= $2::bigint FOR UPDATE SKIP LOCKED)";
  return outbox_run_counting(s, sql, now, &max_attempts, closed);
}

/* Claims up to max due rows into out, in the order SQLite takes them one
 * by one: rows whose lease ran out first (they have waited longest), then
 * queued ones, each by next_attempt_at (then id, as SQLite's index has
 * it). Each branch walks outbox_due (status, next_attempt_at, id) in
 * order and is read only as far as the LIMIT needs (the queued branch not
 * at all when expired leases fill it), so a backlog costs no sort. Rows
 * another transaction holds (a sender claiming them right now) are
 * skipped; rows that store_pg_outbox_close_due() would close (expired,
 * out of attempts) are passed over, never sent. *claimed says how many
 * (on error, none). */
enum store_rc store_pg_outbox_take(struct store_pg *s, const char *owner,
                                   int64_t now, int64_t lease_ms,
                                   int64_t max_attempts,
                                   struct store_outbox_claim *out, size_t max,
                                   size_t *claimed) {
  static const char sql[] =
      "WITH pick AS (SELECT id, k, due FROM ("
      "SELECT * FROM (SELECT id, 0 AS k, next_attempt_at AS due FROM outbox "
      "WHERE status = 'sending' AND next_attempt_at <= $1::bigint "
      "AND expires_at > $1::bigint AND attempts < $4::bigint "
      "ORDER BY next_attempt_at, id LIMIT $5::bigint "
      "FOR UPDATE SKIP LOCKED) AS lapsed "
      "UNION ALL "
      "SELECT * FROM (SELECT id, 1 AS k, next_attempt_at AS due FROM outbox "
      "WHERE status = 'queued' AND next_attempt_at <= $1::bigint "
      "AND expires_at > $1::bigint AND attempts < $4::bigint "
      "ORDER BY next_attempt_at, id LIMIT $5::bigint "
      "FOR UPDATE SKIP LOCKED) AS queued"
      ") AS due_rows LIMIT $5::bigint), "
      "taken AS (UPDATE outbox AS o SET status = 'sending', "
      "lease_owner = $2::text, next_attempt_at = $1::bigint + $3::bigint, "
      "attempts = o.attempts + 1, updated_at = $1::bigint "
      "FROM pick WHERE o.id = pick.id "
      "RETURNING o.id, o.destination, o.text, o.code_offset, o.code_length, "
      "o.attempts, o.expires_at, o.next_attempt_at, o.sealed_code, o.key_id, "
      "pick.k, pick.due) "
      "SELECT id, destination, text, code_offset, code_length, attempts, "
      "expires_at, next_attempt_at, sealed_code, key_id FROM taken "
      "ORDER BY k, due, id";
  struct pg_params p = {0};
  enum store_rc rc;

  *claimed = 0;
  if (max == 0)
    return STORE_OK;
  pg_param_int(&p, now);
  pg_param_text(&p, owner);
  pg_param_int(&p, lease_ms);
  pg_param_int(&p, max_attempts);
  pg_param_int(&p, (int64_t)max);
  PGresult *r = pg_exec(s, sql, &p, &rc);
  if (r == NULL)
    return rc;
  int rows = PQntuples(r);
  if (rows < 0 || (size_t)rows > max) { /* cannot be: LIMIT */
    PQclear(r);
    snprintf(s->errmsg, sizeof s->errmsg, "the claim took %d rows of %zu", rows,
             max);
    return STORE_ERROR;
  }
  for (int i = 0; i < rows; i++) {
    struct store_outbox_claim *c = &out[i];
    memset(c, 0, sizeof *c);
    c->id = pg_get_int(r, i, 0);
    pg_get_text(r, i, 1, c->destination, sizeof c->destination);
    c->text = xstrdup(pg_is_null(r, i, 2) ? "" : PQgetvalue(r, i, 2));
    c->code_offset = (size_t)pg_get_int(r, i, 3);
    c->code_length = (size_t)pg_get_int(r, i, 4);
    c->attempts = pg_get_int(r, i, 5);
    c->expires_at = pg_get_int(r, i, 6);
    c->lease_until = pg_get_int(r, i, 7);
    c->sealed_len = pg_get_bytes_max(r, i, 8, c->sealed, sizeof c->sealed);
    if (c->sealed_len > sizeof c->sealed)
      c->sealed_len = 0; /* cannot open: the sender says so */
    c->key_id = pg_get_int(r, i, 9);
  }
  PQclear(r);
  *claimed = (size_t)rows;
  return STORE_OK;
}

enum store_rc store_pg_outbox_close_due(struct store_pg *s, int64_t now,
                                        int64_t max_attempts, int64_t *closed) {
  int64_t n = 0;
  bool own;
  enum store_rc rc;

  if ((rc = pg_tx_begin(s, &own)) != STORE_OK)
    return rc;
  if ((rc = outbox_expire_due(s, now, &n)) == STORE_OK)
    rc = outbox_give_up_due(s, now, max_attempts, &n);
  rc = pg_tx_end(s, own, rc);
  if (rc == STORE_OK && closed)
    *closed += n;
  return rc;
}

enum store_rc store_pg_outbox_record(struct store_pg *s, int64_t id,
                                     const char *owner,
                                     const struct store_outbox_result *r,
                                     int64_t now) {
  /* One statement for every outcome: $4 is the new status. Anything but
   * 'queued' is final and drops the sealed code. A row another sender
   * claimed meanwhile (its lease ran out) no longer matches: when that
   * claim is still open, this waits for it and then finds the new owner. */
  static const char sql[] =
      "UPDATE outbox SET status = $4::text, updated_at = $3::bigint, "
      "next_attempt_at = CASE WHEN $4::text = 'queued' THEN $5::bigint "
      "ELSE next_attempt_at END, "
      "sent_at = CASE WHEN $4::text = 'sent' THEN $3::bigint "
      "ELSE sent_at END, "
      "sealed_code = CASE WHEN $4::text = 'queued' THEN sealed_code "
      "ELSE NULL END, "
      "gateway_ref = coalesce($6::text, gateway_ref), "
      "last_error = coalesce($7::text, last_error) "
      "WHERE id = $1::bigint AND status = 'sending' "
      "AND lease_owner = $2::text";
  struct pg_params p = {0};
  pg_param_int(&p, id);
  pg_param_text(&p, owner);
  pg_param_int(&p, now);
  pg_param_text(&p, store_vocab_name(&store_outbox_statuses,
                                     store_outbox_outcome_status(r->outcome)));
  pg_param_int(&p, r->retry_at);
  pg_param_text(&p, r->gateway_ref && *r->gateway_ref ? r->gateway_ref : NULL);
  pg_param_text(&p, r->error);
  return pg_write_row(s, sql, &p);
}

enum store_rc store_pg_outbox_next_due(struct store_pg *s, int64_t *when) {
  /* Two index lookups (least() skips a NULL); min() over an IN list would
   * visit every row. */
  static const char sql[] =
      "SELECT least((SELECT min(next_attempt_at) FROM outbox "
      "WHERE status = 'queued'), "
      "(SELECT min(next_attempt_at) FROM outbox WHERE status = 'sending'))";
  enum store_rc rc;
  PGresult *r = pg_exec(s, sql, NULL, &rc);
  if (r == NULL)
    return rc;
  bool found = PQntuples(r) == 1 && !pg_is_null(r, 0, 0);
  if (found)
    *when = pg_get_int(r, 0, 0);
  PQclear(r);
  return found ? STORE_OK : STORE_NOT_FOUND;
}
