/* The store: every SQL statement otpgate runs lives behind this interface
 * (src/store*.c). Callers see plain C structs and return codes, never
 * sqlite3 handles. Times are milliseconds since the epoch, UTC. */
#ifndef OTPGATE_STORE_H
#define OTPGATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_vocab.h"

struct conf;
struct store;

enum store_rc {
  STORE_OK = 0,
  STORE_NOT_FOUND,  /* no such row */
  STORE_EXISTS,     /* a row with that key is already there */
  STORE_BUSY,       /* the database stayed locked past the busy timeout */
  STORE_ERROR       /* anything else; store_errmsg() says what */
};
const char *store_strerror(enum store_rc rc);

/* Opens the database and sets up the connection (WAL, synchronous, foreign
 * keys, busy timeout). Refuses a database whose schema is not the current
 * one unless for_init is set. */
struct store *store_open(const struct conf *conf, bool for_init, char *err,
                         size_t errsz);
void store_close(struct store *s);
/* The last error message of the engine on this connection. */
const char *store_errmsg(struct store *s);

/* Creates or migrates the schema to the newest version. *from and *to get
 * the versions before and after. */
enum store_rc store_migrate(struct store *s, int *from, int *to);
int store_schema_version_latest(struct store *s);

/* Write transactions. Every write that reads first starts with
 * store_begin_write() (BEGIN IMMEDIATE), so two processes never deadlock
 * upgrading a read lock. */
enum store_rc store_begin_write(struct store *s);
enum store_rc store_commit(struct store *s);
void store_rollback(struct store *s);

/* A generic row for listings (admin, audit): column names and text values
 * (NULL for SQL NULL). */
/* What a value of a row is, so that JSON can print numbers as numbers. */
enum store_value_kind { STORE_VALUE_TEXT, STORE_VALUE_INT, STORE_VALUE_REAL };

struct store_row {
  int ncols;
  const char *const *names;
  const char *const *values;
  const enum store_value_kind *kinds;
};
typedef void (*store_row_fn)(const struct store_row *row, void *ctx);

/* ---- accounts and associations ---- */

#define STORE_ID_MAX 100
#define STORE_ASSOCIATION_ID_MAX 255
#define STORE_PHONE_MAX 16

struct store_account {
  char id[STORE_ID_MAX + 1];
  bool has_phone;
  char phone[STORE_PHONE_MAX + 1];
  enum account_status status;
  int64_t verify_failures;
  int64_t locked_until;
};

enum store_rc store_account_add(struct store *s, const char *id,
                                const char *phone, enum account_status status,
                                int64_t now);
/* Changes what is given: phone (set_phone; NULL phone removes it) and/or
 * status (non-NULL). A status other than active also supersedes the
 * account's live codes, in the same transaction. */
enum store_rc store_account_update(struct store *s, const char *id,
                                   bool set_phone, const char *phone,
                                   const enum account_status *status,
                                   int64_t now);
enum store_rc store_account_by_phone(struct store *s, const char *phone,
                                     struct store_account *out);
enum store_rc store_account_list(struct store *s, store_row_fn fn, void *ctx);
/* One account, with the listing's columns; STORE_NOT_FOUND when none. */
enum store_rc store_account_show(struct store *s, const char *id,
                                 store_row_fn fn, void *ctx);

enum store_rc store_association_add(struct store *s, const char *association_id,
                                    const char *account_id, int64_t now);
/* Revokes a live association and supersedes its account's live codes (a
 * code does not say which association it was sent through), in one
 * transaction. */
enum store_rc store_association_revoke(struct store *s,
                                       const char *association_id, int64_t now);
/* The account behind a live (not revoked) association. */
enum store_rc store_association_account(struct store *s,
                                        const char *association_id,
                                        struct store_account *out);
enum store_rc store_association_list(struct store *s, store_row_fn fn,
                                     void *ctx);

/* ---- idempotency records ---- */

#define STORE_FINGERPRINT_LEN 32

/* What was answered to a request, keyed by (method, requestId). */
struct store_request {
  int64_t key_id; /* the secret that keyed the fingerprint */
  unsigned char fingerprint[STORE_FINGERPRINT_LEN];
  int http_status;
  char *answer; /* malloc'd; free with store_request_free() */
};
enum store_rc store_request_get(struct store *s, const char *method,
                                const char *request_id,
                                struct store_request *out);
void store_request_free(struct store_request *r);
enum store_rc store_request_put(struct store *s, const char *method,
                                const char *request_id,
                                const struct store_request *r, int64_t now);

/* ---- OTPs ---- */

#define STORE_CODE_HASH_LEN 32

struct store_otp {
  int64_t id;
  char request_id[STORE_ID_MAX + 1];
  char send_otp_id[STORE_ID_MAX + 1]; /* paymentIntegratorSendOtpId */
  int64_t key_id; /* the secret that keyed code_hash */
  char account_id[STORE_ID_MAX + 1];
  enum otp_context context;
  unsigned char code_hash[STORE_CODE_HASH_LEN];
  int64_t created_at, expires_at;
  int64_t attempts;
  int64_t used_at;       /* 0: never used */
  int64_t superseded_at; /* 0: still the account's newest */
  int64_t account_locked_until; /* the account's lock, read with the code */
};

/* Codes created for the account at or after since. */
enum store_rc store_otp_count_since(struct store *s, const char *account_id,
                                    int64_t since, int64_t *count);
/* Inserts the code and supersedes the account's older codes
 * (store_otps_supersede()). */
enum store_rc store_otp_insert(struct store *s, struct store_otp *otp);
/* Makes the account's live codes (unused, unexpired) superseded at now,
 * and their SMS still queued final as 'superseded': never sent. */
enum store_rc store_otps_supersede(struct store *s, const char *account_id,
                                   int64_t now);

/* The code sent for a sendOtp requestId, with its account's lock. */
enum store_rc store_otp_get(struct store *s, const char *request_id,
                            struct store_otp *out);
/* The audit row (audit_otps) of the code a sendOtp sent, found by its
 * paymentIntegratorSendOtpId or its requestId; STORE_NOT_FOUND when none. */
enum store_rc store_otp_show(struct store *s, const char *id, store_row_fn fn,
                             void *ctx);
/* The audit rows of an account's codes created at or after since. */
enum store_rc store_otp_list(struct store *s, const char *account_id,
                             int64_t since, store_row_fn fn, void *ctx);
/* The audit rows (audit_outbox) of the SMS of the send so found. */
enum store_rc store_outbox_of_send(struct store *s, const char *id,
                                   store_row_fn fn, void *ctx);
/* A failed verification: the code's attempts and the account's
 * consecutive failures go up. Each failure that brings the count to
 * max_account_failures or past it locks the account until now +
 * lockout_ms; the count goes on (only store_otp_mark_used resets it), so
 * once past the limit every further failure locks the account again. */
enum store_rc store_otp_record_failure(struct store *s, int64_t otp_id,
                                       const char *account_id, int64_t now,
                                       int64_t max_account_failures,
                                       int64_t lockout_ms);
/* A right guess: the code is used, the account's failure count is reset. */
enum store_rc store_otp_mark_used(struct store *s, int64_t otp_id,
                                  const char *account_id, int64_t now);

/* ---- outbox ---- */

#define STORE_SEALED_MAX 64

/* A new SMS. text has its code masked ('*'); the code itself travels only
 * sealed (otp_seal_code() with secret key_id). */
struct store_outbox_new {
  int64_t otp_id;
  const char *account_id;
  const char *destination;
  const char *text;
  size_t code_offset, code_length;
  const unsigned char *sealed;
  size_t sealed_len;
  int64_t key_id;
  int64_t created_at, expires_at;
};
enum store_rc store_outbox_insert(struct store *s,
                                  const struct store_outbox_new *row,
                                  int64_t *id);
/* SMS queued at or after since, all of them or (prefix not NULL) those
 * whose destination starts with prefix. */
enum store_rc store_outbox_count_since(struct store *s, int64_t since,
                                       const char *prefix, int64_t *count);
/* Rows per status (columns status, count), and the creation time of the
 * oldest queued row (0: none): what monitoring watches. */
enum store_rc store_outbox_status_counts(struct store *s, store_row_fn fn,
                                         void *ctx);
enum store_rc store_outbox_oldest_queued(struct store *s, int64_t *created_at);
/* Audit listing (masked): status NULL, since 0, account NULL for all;
 * limit > 0 keeps the newest limit rows (still listed oldest first). */
enum store_rc store_outbox_list(struct store *s,
                                const enum outbox_status *status,
                                int64_t since, const char *account,
                                int64_t limit, store_row_fn fn, void *ctx);
enum store_rc store_outbox_show(struct store *s, int64_t id, store_row_fn fn,
                                void *ctx);

/* A row the sender holds a lease on. */
#define STORE_DESTINATION_MAX 32
struct store_outbox_claim {
  int64_t id;
  char destination[STORE_DESTINATION_MAX + 1];
  char *text; /* malloc'd, code masked; free with store_outbox_claim_free() */
  size_t code_offset, code_length;
  unsigned char sealed[STORE_SEALED_MAX]; /* the code, sealed */
  size_t sealed_len;
  int64_t key_id;
  int64_t attempts;    /* counting this one */
  int64_t expires_at;  /* the code's expiry: never send after it */
  int64_t lease_until; /* the lease runs out then */
};
void store_outbox_claim_free(struct store_outbox_claim *c);

/* Closes due rows (queued and next_attempt_at <= now, or sending with a
 * lease that ran out) that must not be sent: those whose code expired
 * become 'expired'; those that already had max_attempts become 'failed'
 * (queued) or 'unknown' (a lease ran out on their last attempt). Adds how
 * many to *closed (may be NULL). Its own transaction, or the caller's. */
enum store_rc store_outbox_close_due(struct store *s, int64_t now,
                                     int64_t max_attempts, int64_t *closed);

/* In one BEGIN IMMEDIATE transaction: store_outbox_close_due(), then the
 * oldest due row is claimed: 'sending', leased to owner until now +
 * lease_ms, its attempt counted. *closed (may be NULL) gets how many rows
 * the first step made final. STORE_NOT_FOUND: nothing due. */
enum store_rc store_outbox_claim(struct store *s, const char *owner,
                                 int64_t now, int64_t lease_ms,
                                 int64_t max_attempts,
                                 struct store_outbox_claim *out,
                                 int64_t *closed);

/* What happened to a claimed row. */
enum store_outbox_outcome {
  STORE_OUTBOX_SENT,
  STORE_OUTBOX_RETRY, /* back to 'queued', due at retry_at */
  STORE_OUTBOX_FAILED,
  STORE_OUTBOX_UNKNOWN,
  STORE_OUTBOX_EXPIRED
};
struct store_outbox_result {
  enum store_outbox_outcome outcome;
  int64_t retry_at;        /* STORE_OUTBOX_RETRY */
  const char *gateway_ref; /* NULL or "": none */
  const char *error;       /* for last_error; NULL keeps the previous one */
};
/* Records the outcome only while the row is still 'sending' and leased to
 * owner; STORE_NOT_FOUND when the lease was lost (another sender took the
 * row). A final outcome drops the sealed code in the same statement. */
enum store_rc store_outbox_record(struct store *s, int64_t id,
                                  const char *owner,
                                  const struct store_outbox_result *r,
                                  int64_t now);
/* The outcome of the row claimed last, handed to the next claim. */
struct store_outbox_done {
  int64_t id;
  struct store_outbox_result result;
  enum store_rc recorded; /* out: STORE_OK; STORE_NOT_FOUND when the lease
                             was lost; else why the transaction failed */
};
/* The sender's step: store_outbox_record() for done (may be NULL), then
 * the claim of the oldest due row, in one transaction, so a message costs
 * one commit. Unlike store_outbox_claim() it closes nothing (that walks
 * every due row: the sender calls store_outbox_close_due() now and then);
 * it passes over the rows that would close. done->recorded says how the
 * recording went; the return value is the claim's. When the transaction
 * fails, neither happened and both say why. */
enum store_rc store_outbox_record_claim(struct store *s, const char *owner,
                                        struct store_outbox_done *done,
                                        int64_t now, int64_t lease_ms,
                                        int64_t max_attempts,
                                        struct store_outbox_claim *out);
/* The batched step: the outcomes of done[0..ndone) recorded (each
 * done[i].recorded as above), then up to max due rows claimed into out
 * (*claimed of them, oldest first, each leased to owner until now +
 * lease_ms), in one transaction. STORE_NOT_FOUND: nothing was due (the
 * outcomes are recorded all the same). On a database error neither
 * happened and every done[i].recorded says why. */
enum store_rc store_outbox_record_claim_batch(
    struct store *s, const char *owner, struct store_outbox_done *done,
    size_t ndone, int64_t now, int64_t lease_ms, int64_t max_attempts,
    struct store_outbox_claim *out, size_t max, size_t *claimed);
/* The step the three above share (store_claims.c), in the caller's write
 * transaction: up to max due rows leased to owner into out, oldest first
 * (rows whose lease ran out, then queued ones), passing over the rows
 * store_outbox_close_due() would close. *claimed says how many (0: none
 * due, STORE_OK); on an error none (what was taken is freed). */
enum store_rc store_outbox_take(struct store *s, const char *owner,
                                int64_t now, int64_t lease_ms,
                                int64_t max_attempts,
                                struct store_outbox_claim *out, size_t max,
                                size_t *claimed);
/* When the next queued row is due or the earliest lease runs out;
 * STORE_NOT_FOUND when no row is waiting. */
enum store_rc store_outbox_next_due(struct store *s, int64_t *when);

/* ---- housekeeping ---- */

/* Rows older than these times go; 0 in a field keeps that table. */
struct store_purge {
  int64_t requests_before; /* idempotency records created before */
  int64_t otps_before;     /* OTPs that expired before */
  int64_t outbox_before;   /* final outbox rows created before */
  int64_t senders_before;  /* heartbeats last seen before */
};
struct store_purge_counts {
  int64_t requests, otps, outbox, senders;
};
/* Deletes in batches, each its own short transaction, so a worker never
 * waits long for the write lock. */
enum store_rc store_purge(struct store *s, const struct store_purge *p,
                          struct store_purge_counts *n);

/* ---- senders' heartbeat and the gateway's health ---- */

/* A sender's heartbeat, with how its gateway fares: failures is the count
 * of its latest consecutive sends the gateway did not take, failed_at the
 * time of the last of them. */
struct store_sender_beat {
  const char *owner;
  long pid;
  int64_t started_at, now;
  int64_t failures, failed_at;
};
enum store_rc store_sender_heartbeat(struct store *s,
                                     const struct store_sender_beat *b);
/* A sender that stops cleanly takes its heartbeat with it. */
enum store_rc store_sender_forget(struct store *s, const char *owner);

/* Whether sendOtp may promise an SMS now, from the live senders (seen at
 * or after alive_since): */
enum store_sender_verdict {
  STORE_SENDERS_OK,     /* one with a closed breaker */
  STORE_SENDERS_NONE,   /* no sender alive */
  STORE_SENDERS_OPEN,   /* every live sender's breaker is open */
  STORE_SENDERS_PROBE,  /* open, but a probe may go: this request is it */
};
/* A breaker is open when failures >= breaker_failures (0: never) and the
 * last failure is younger than breaker_ms; once older, one request per
 * breaker_ms goes through as a probe (recorded in the caller's write
 * transaction). */
enum store_rc store_sender_verdict(struct store *s, int64_t now,
                                   int64_t alive_since,
                                   int64_t breaker_failures, int64_t breaker_ms,
                                   bool take_probe,
                                   enum store_sender_verdict *verdict);
/* Each sender's row: owner, seen_at, failures, failed_at (for monitoring). */
enum store_rc store_sender_list(struct store *s, store_row_fn fn, void *ctx);
/* The engine's own wake-up for senders on other machines: a descriptor
 * that becomes readable when an SMS was queued anywhere (PostgreSQL's
 * LISTEN), or -1 (SQLite: the wake datagram of wake.c does it). */
int store_wake_fd(struct store *s);
/* Takes the wake-ups that arrived; true when there was at least one. */
bool store_wake_drain(struct store *s);
/* The newest heartbeat of any sender; 0 when none was ever seen. */
enum store_rc store_sender_last_seen(struct store *s, int64_t *seen_at);

/* ---- the operator's hand (otpgate-admin) ----
 * The changes run inside the caller's write transaction
 * (store_begin_write()), beside the audit row that records them. */

/* One row of the operator's audit: who (the Unix user), action (the
 * command), target (the ID acted on), detail (NULL or what changed; never
 * a phone number or a code). */
enum store_rc store_admin_audit_add(struct store *s, const char *who,
                                    const char *action, const char *target,
                                    const char *detail, int64_t now);
/* The audit rows written at or after since, oldest first. */
enum store_rc store_admin_audit_list(struct store *s, int64_t since,
                                     store_row_fn fn, void *ctx);
/* Ends the account's lock and its count of failed verifications. */
enum store_rc store_account_unlock(struct store *s, const char *id,
                                   int64_t now);
/* The account's live codes: unused, not superseded, unexpired. */
enum store_rc store_account_live_codes(struct store *s, const char *id,
                                       int64_t now, int64_t *count);
/* Supersedes the account's live codes (store_otps_supersede()), deletes
 * its associations and then the account. Its codes' and SMS rows stay for
 * the audit (they name the account by its ID only). */
enum store_rc store_account_delete(struct store *s, const char *id,
                                   int64_t now);
/* The status of one outbox row and whether it still holds its sealed code
 * (queued and sending rows do; a final row's was dropped). */
enum store_rc store_outbox_status_of(struct store *s, int64_t id,
                                     enum outbox_status *status,
                                     bool *has_seal);
/* A queued row becomes final: failed, last_error "cancelled by the
 * operator", its sealed code dropped. STORE_NOT_FOUND: no queued row. */
enum store_rc store_outbox_cancel(struct store *s, int64_t id, int64_t now);
/* A queued row that still holds its seal and whose code is unexpired is
 * due now with its attempts counted afresh. STORE_NOT_FOUND: no such row. */
enum store_rc store_outbox_requeue(struct store *s, int64_t id, int64_t now);

/* ---- moving between databases (otpgate-admin copy) ---- */

/* The tables a copy moves, in an order that keeps the foreign keys. The
 * senders' heartbeats are not among them: they are live state. */
enum store_table {
  STORE_TABLE_ACCOUNTS,
  STORE_TABLE_ASSOCIATIONS,
  STORE_TABLE_REQUESTS,
  STORE_TABLE_OTPS,
  STORE_TABLE_OUTBOX,
  STORE_TABLE_ADMIN_AUDIT,
  STORE_TABLE_COUNT
};
const char *store_table_name(enum store_table t);
/* A transaction that reads one moment's state of every table, however
 * long it takes (SQLite: the write lock, which keeps writers out;
 * PostgreSQL: a repeatable-read snapshot, no statement timeout). End it
 * with store_rollback(). */
enum store_rc store_begin_snapshot(struct store *s);
/* Every row of the table, every column (blobs as lowercase hex), in the
 * order of its key, through fn. */
enum store_rc store_table_rows(struct store *s, enum store_table t,
                               store_row_fn fn, void *ctx);
/* Inserts a row that store_table_rows() gave (from this engine or the
 * other), keeping its id. In the caller's write transaction. */
enum store_rc store_table_insert(struct store *s, enum store_table t,
                                 const struct store_row *row);
/* After rows were inserted with their ids: new ids come after them. */
enum store_rc store_table_ids_done(struct store *s);

/* ---- what `otpgate-admin status` reads ---- */

/* The creation time of the oldest row of that status (0: none). */
enum store_rc store_outbox_oldest(struct store *s, enum outbox_status status,
                                  int64_t *created_at);
/* The rows that became final at or after since (sent_at, else
 * updated_at), per status: columns status, count. */
enum store_rc store_outbox_outcomes_since(struct store *s, int64_t since,
                                          store_row_fn fn, void *ctx);
struct store_otp_stats {
  int64_t sent;     /* codes created since */
  int64_t verified; /* codes used since */
  int64_t failed;   /* failed guesses at the codes created since */
};
enum store_rc store_otp_stats_since(struct store *s, int64_t since,
                                    struct store_otp_stats *out);
/* The schema version of the open database (PRAGMA user_version). */
int store_schema_version(struct store *s);
/* Whether a write transaction can start now (started and rolled back);
 * store_errmsg() says why not. */
enum store_rc store_check_writable(struct store *s);
/* SQLite's online backup of the database to path, a new file made 0600
 * (an existing path is refused), then PRAGMA integrity_check on the copy.
 * A failed copy is removed. False with err. */
bool store_backup(struct store *s, const char *path, char *err, size_t errsz);

#endif
