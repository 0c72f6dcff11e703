/* The PostgreSQL engine's shared parts (src/store_pg*.c and nothing else):
 * the connection, which comes back by itself after the server went away,
 * prepared statements keyed by their SQL literal, parameters and results.
 *
 * SQL here uses $1, $2...; every value travels as text except bytea
 * (binary); results come back as text (bytea as \x hex: pg_get_bytes()). */
#ifndef OTPGATE_STORE_PG_H
#define OTPGATE_STORE_PG_H

#include <libpq-fe.h>

#include "store_engine.h"

#define PG_STMT_CACHE 96
#define PG_PARAMS_MAX 32

struct store_pg {
  PGconn *conn;
  long busy_timeout_ms;
  bool synchronous; /* synchronous_commit on */
  bool in_tx;       /* between BEGIN and COMMIT/ROLLBACK */
  bool listening;   /* LISTEN otpgate_outbox issued (senders) */
  bool lost;        /* the server went away; said once in the log */
  bool session_ok;  /* set up (pg_session_setup()) and writable: else the
                       next call connects again */
  int64_t next_try; /* monotonic ms: when to try reconnecting again */
  long backoff_ms;
  char errmsg[512];                    /* why the last call failed */
  const char *prepared[PG_STMT_CACHE]; /* SQL literal addresses, by index */
  int nprepared;
};

/* The name of the NOTIFY channel sendOtp's transaction wakes senders on. */
#define PG_WAKE_CHANNEL "otpgate_outbox"

/* A statement's parameters, in order ($1 first). Text values are not
 * copied: they must outlive the call. */
struct pg_params {
  int n;
  const char *values[PG_PARAMS_MAX];
  int lengths[PG_PARAMS_MAX];
  int formats[PG_PARAMS_MAX]; /* 0 text, 1 binary */
  char ints[PG_PARAMS_MAX][24];
};
void pg_param_text(struct pg_params *p, const char *text); /* NULL: NULL */
void pg_param_int(struct pg_params *p, int64_t v);
void pg_param_bytes(struct pg_params *p, const void *data, size_t len);

/* Runs the prepared statement for this SQL literal (prepared on first use
 * on this connection). A result with rows or a command's result, or NULL
 * with *rc saying why (STORE_EXISTS: a unique key; STORE_BUSY: a lock or
 * statement timeout, a serialization failure, or the server unreachable;
 * s->errmsg the detail). The caller PQclear()s a result. */
PGresult *pg_exec(struct store_pg *s, const char *sql,
                  const struct pg_params *p, enum store_rc *rc);
/* As pg_exec(), for a statement made at run time (not kept prepared). */
PGresult *pg_exec_once(struct store_pg *s, const char *sql,
                       const struct pg_params *p, enum store_rc *rc);
/* Each row of a result through fn, as text, with its columns' kinds;
 * *rows gets their number. Clears the result. */
enum store_rc pg_result_rows(PGresult *r, store_row_fn fn, void *ctx,
                             int *rows);
/* pg_exec() of a statement whose rows are ignored; *changes (may be NULL)
 * gets the rows it changed. */
enum store_rc pg_run(struct store_pg *s, const char *sql,
                     const struct pg_params *p, int64_t *changes);
/* pg_run() of a statement that must change a row: STORE_NOT_FOUND when it
 * changed none. */
enum store_rc pg_write_row(struct store_pg *s, const char *sql,
                           const struct pg_params *p);
/* A query of one integer (count(*), coalesce(min(...), 0)) into *out;
 * STORE_NOT_FOUND when it returned no row. */
enum store_rc pg_int(struct store_pg *s, const char *sql,
                     const struct pg_params *p, int64_t *out);
/* Each row of the query through fn, as text, with its columns' kinds. */
enum store_rc pg_rows(struct store_pg *s, const char *sql,
                      const struct pg_params *p, store_row_fn fn, void *ctx);
/* As pg_rows(), and STORE_NOT_FOUND when there was no row. */
enum store_rc pg_rows_at_least_one(struct store_pg *s, const char *sql,
                                   const struct pg_params *p, store_row_fn fn,
                                   void *ctx);

/* Several statements that must hold together, whether or not the caller
 * has a transaction open: pg_tx_begin() starts one when none is (*own
 * says so), pg_tx_end() commits it when rc is STORE_OK, else rolls it
 * back, and returns the outcome. Inside the caller's transaction both do
 * nothing (the caller commits or rolls back). */
enum store_rc pg_tx_begin(struct store_pg *s, bool *own);
enum store_rc pg_tx_end(struct store_pg *s, bool own, enum store_rc rc);

/* Reading a result: an integer (0 for NULL), a text copied and truncated
 * (empty for NULL), a bytea of exactly len bytes (else zeroes). */
int64_t pg_get_int(const PGresult *r, int row, int col);
bool pg_is_null(const PGresult *r, int row, int col);
void pg_get_text(const PGresult *r, int row, int col, char *out, size_t outsz);
void pg_get_bytes(const PGresult *r, int row, int col, void *out, size_t len);
/* The number of bytes of a bytea column (0 for NULL); at most max copied
 * into out. */
size_t pg_get_bytes_max(const PGresult *r, int row, int col, void *out,
                        size_t max);

#endif
