/* The store's engines: SQLite (store_sqlite*.c, the embedded default) and
 * PostgreSQL (store_pg*.c, shared by several machines). store.c opens the
 * one [database] driver names and hands every call of store.h to it.
 *
 * Each function of store.h that an engine implements is listed once,
 * below, as X(return type, name, (parameters after the store),
 * (arguments)). From the list come each engine's declarations
 * (store_sqlite_NAME(struct store_sqlite *, ...) and
 * store_pg_NAME(struct store_pg *, ...)) and store.c's dispatch, so the
 * three cannot drift apart. Shared by store.c and the engines' files only. */
#ifndef OTPGATE_STORE_ENGINE_H
#define OTPGATE_STORE_ENGINE_H

#include "store.h"

struct store_sqlite;
struct store_pg;

/* What store_purge() deletes, a batch at a time (store_purge_batch()). */
enum store_purge_what {
  STORE_PURGE_REQUESTS, /* idempotency records created before */
  STORE_PURGE_OTPS,     /* codes that expired before */
  STORE_PURGE_OUTBOX,   /* final SMS rows created before */
  STORE_PURGE_SENDERS,  /* heartbeats last seen before */
};
/* The step store_purge() repeats: up to limit of those rows older than
 * before deleted, in a transaction of their own (when none is open);
 * *deleted says how many. */
enum store_rc store_purge_batch(struct store *s, enum store_purge_what what,
                                int64_t before, int64_t limit,
                                int64_t *deleted);

/* The functions that take nothing but the store. */
#define STORE_ENGINE_FUNCTIONS0(X)                                             \
  X(const char *, errmsg)                                                      \
  X(enum store_rc, begin_write)                                                \
  X(enum store_rc, commit)                                                     \
  X(int, schema_version)                                                       \
  X(int, schema_version_latest)                                                \
  X(enum store_rc, check_writable)                                             \
  X(int, wake_fd)                                                              \
  X(bool, wake_drain)                                                          \
  X(enum store_rc, table_ids_done)                                             \
  X(enum store_rc, begin_snapshot)

/* clang-format off */
#define STORE_ENGINE_FUNCTIONS(X) \
  X(enum store_rc, migrate, (int *from, int *to), (from, to)) \
  X(enum store_rc, account_add, (const char *id, const char *phone, enum account_status status, int64_t now), (id, phone, status, now)) \
  X(enum store_rc, account_update, (const char *id, bool set_phone, const char *phone, const enum account_status *status, int64_t now), (id, set_phone, phone, status, now)) \
  X(enum store_rc, account_by_phone, (const char *phone, struct store_account *out), (phone, out)) \
  X(enum store_rc, account_list, (store_row_fn fn, void *ctx), (fn, ctx)) \
  X(enum store_rc, account_show, (const char *id, store_row_fn fn, void *ctx), (id, fn, ctx)) \
  X(enum store_rc, association_add, (const char *association_id, const char *account_id, int64_t now), (association_id, account_id, now)) \
  X(enum store_rc, association_revoke, (const char *association_id, int64_t now), (association_id, now)) \
  X(enum store_rc, association_account, (const char *association_id, struct store_account *out), (association_id, out)) \
  X(enum store_rc, association_list, (store_row_fn fn, void *ctx), (fn, ctx)) \
  X(enum store_rc, request_get, (const char *method, const char *request_id, struct store_request *out), (method, request_id, out)) \
  X(enum store_rc, request_put, (const char *method, const char *request_id, const struct store_request *r, int64_t now), (method, request_id, r, now)) \
  X(enum store_rc, otp_count_since, (const char *account_id, int64_t since, int64_t *count), (account_id, since, count)) \
  X(enum store_rc, otp_insert, (struct store_otp *otp), (otp)) \
  X(enum store_rc, otps_supersede, (const char *account_id, int64_t now), (account_id, now)) \
  X(enum store_rc, otp_get, (const char *request_id, struct store_otp *out), (request_id, out)) \
  X(enum store_rc, otp_show, (const char *id, store_row_fn fn, void *ctx), (id, fn, ctx)) \
  X(enum store_rc, otp_list, (const char *account_id, int64_t since, store_row_fn fn, void *ctx), (account_id, since, fn, ctx)) \
  X(enum store_rc, outbox_of_send, (const char *id, store_row_fn fn, void *ctx), (id, fn, ctx)) \
  X(enum store_rc, otp_record_failure, (int64_t otp_id, const char *account_id, int64_t now, int64_t max_account_failures, int64_t lockout_ms), (otp_id, account_id, now, max_account_failures, lockout_ms)) \
  X(enum store_rc, otp_mark_used, (int64_t otp_id, const char *account_id, int64_t now), (otp_id, account_id, now)) \
  X(enum store_rc, outbox_insert, (const struct store_outbox_new *row, int64_t *id), (row, id)) \
  X(enum store_rc, outbox_count_since, (int64_t since, const char *prefix, int64_t *count), (since, prefix, count)) \
  X(enum store_rc, outbox_status_counts, (store_row_fn fn, void *ctx), (fn, ctx)) \
  X(enum store_rc, outbox_oldest_queued, (int64_t *created_at), (created_at)) \
  X(enum store_rc, outbox_list, (const enum outbox_status *status, int64_t since, const char *account, int64_t limit, store_row_fn fn, void *ctx), (status, since, account, limit, fn, ctx)) \
  X(enum store_rc, outbox_show, (int64_t id, store_row_fn fn, void *ctx), (id, fn, ctx)) \
  X(enum store_rc, outbox_close_due, (int64_t now, int64_t max_attempts, int64_t *closed), (now, max_attempts, closed)) \
  X(enum store_rc, outbox_record, (int64_t id, const char *owner, const struct store_outbox_result *r, int64_t now), (id, owner, r, now)) \
  X(enum store_rc, outbox_take, (const char *owner, int64_t now, int64_t lease_ms, int64_t max_attempts, struct store_outbox_claim *out, size_t max, size_t *claimed), (owner, now, lease_ms, max_attempts, out, max, claimed)) \
  X(enum store_rc, outbox_next_due, (int64_t *when), (when)) \
  X(enum store_rc, purge_batch, (enum store_purge_what what, int64_t before, int64_t limit, int64_t *deleted), (what, before, limit, deleted)) \
  X(enum store_rc, sender_heartbeat, (const struct store_sender_beat *b), (b)) \
  X(enum store_rc, sender_forget, (const char *owner), (owner)) \
  X(enum store_rc, sender_verdict, (int64_t now, int64_t alive_since, int64_t breaker_failures, int64_t breaker_ms, bool take_probe, enum store_sender_verdict *verdict), (now, alive_since, breaker_failures, breaker_ms, take_probe, verdict)) \
  X(enum store_rc, sender_list, (store_row_fn fn, void *ctx), (fn, ctx)) \
  X(enum store_rc, sender_last_seen, (int64_t *seen_at), (seen_at)) \
  X(enum store_rc, admin_audit_add, (const char *who, const char *action, const char *target, const char *detail, int64_t now), (who, action, target, detail, now)) \
  X(enum store_rc, admin_audit_list, (int64_t since, store_row_fn fn, void *ctx), (since, fn, ctx)) \
  X(enum store_rc, account_unlock, (const char *id, int64_t now), (id, now)) \
  X(enum store_rc, account_live_codes, (const char *id, int64_t now, int64_t *count), (id, now, count)) \
  X(enum store_rc, account_delete, (const char *id, int64_t now), (id, now)) \
  X(enum store_rc, outbox_status_of, (int64_t id, enum outbox_status *status, bool *has_seal), (id, status, has_seal)) \
  X(enum store_rc, outbox_cancel, (int64_t id, int64_t now), (id, now)) \
  X(enum store_rc, outbox_requeue, (int64_t id, int64_t now), (id, now)) \
  X(enum store_rc, outbox_oldest, (enum outbox_status status, int64_t *created_at), (status, created_at)) \
  X(enum store_rc, outbox_outcomes_since, (int64_t since, store_row_fn fn, void *ctx), (since, fn, ctx)) \
  X(enum store_rc, otp_stats_since, (int64_t since, struct store_otp_stats *out), (since, out)) \
  X(bool, backup, (const char *path, char *err, size_t errsz), (path, err, errsz)) \
  X(enum store_rc, table_rows, (enum store_table t, store_row_fn fn, void *ctx), (t, fn, ctx)) \
  X(enum store_rc, table_insert, (enum store_table t, const struct store_row *row), (t, row))
/* clang-format on */

#define STORE_UNPAREN(...) __VA_ARGS__

/* What a copy moves of each table (store_table_rows()), for both engines'
 * SQL: the columns in order, and which hold bytes (hex in a row). */
#define STORE_TABLE_COLUMNS_MAX 20
struct store_table_def {
  const char *name;
  int ncols;
  const char *columns[STORE_TABLE_COLUMNS_MAX];
  bool blob[STORE_TABLE_COLUMNS_MAX];
  bool has_id; /* an integer id the engine hands out */
};
extern const struct store_table_def store_tables[STORE_TABLE_COUNT];
/* "SELECT a, b, ... FROM t ORDER BY 1", each blob column c written as
 * blob_open c blob_close AS c (the engine's hex of it, NULL kept). */
char *store_table_select_sql(const struct store_table_def *d,
                             const char *blob_open, const char *blob_close);
/* "INSERT INTO t (a, b, ...) VALUES (P1, P2, ...)", P the placeholder
 * character ('?' for SQLite, '$' for PostgreSQL). malloc'd. */
char *store_table_insert_sql(const struct store_table_def *d, char placeholder);
/* Whether the row has the table's columns, in order. */
bool store_row_matches(const struct store_table_def *d,
                       const struct store_row *row);
/* The status a claimed row takes for what happened to it (store_outbox_record()). */
enum outbox_status store_outbox_outcome_status(enum store_outbox_outcome o);
/* Bytes from lowercase or uppercase hex (malloc'd), NULL when it is not. */
unsigned char *store_hex_decode(const char *hex, size_t *len);

/* Declares ENGINE's implementation of every listed function, and its
 * open, close and rollback. */
#define STORE_ENGINE_DECLARE0(ret, name, engine)                               \
  ret store_##engine##_##name(struct store_##engine *s);
#define STORE_ENGINE_DECLARE(ret, name, params, engine)                        \
  ret store_##engine##_##name(struct store_##engine *s, STORE_UNPAREN params);

#define STORE_SQLITE_DECLARE0(ret, name) STORE_ENGINE_DECLARE0(ret, name, sqlite)
#define STORE_SQLITE_DECLARE(ret, name, params, args)                          \
  STORE_ENGINE_DECLARE(ret, name, params, sqlite)
#define STORE_PG_DECLARE0(ret, name) STORE_ENGINE_DECLARE0(ret, name, pg)
#define STORE_PG_DECLARE(ret, name, params, args)                              \
  STORE_ENGINE_DECLARE(ret, name, params, pg)

STORE_ENGINE_FUNCTIONS0(STORE_SQLITE_DECLARE0)
STORE_ENGINE_FUNCTIONS(STORE_SQLITE_DECLARE)
STORE_ENGINE_FUNCTIONS0(STORE_PG_DECLARE0)
STORE_ENGINE_FUNCTIONS(STORE_PG_DECLARE)

struct store_sqlite *store_sqlite_open(const struct conf *conf, bool for_init,
                                       char *err, size_t errsz);
void store_sqlite_close(struct store_sqlite *s);
void store_sqlite_rollback(struct store_sqlite *s);

struct store_pg *store_pg_open(const struct conf *conf, bool for_init,
                               char *err, size_t errsz);
void store_pg_close(struct store_pg *s);
void store_pg_rollback(struct store_pg *s);

#endif
