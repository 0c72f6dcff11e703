/* Shared by the store's own files (src/store*.c) and nothing else. */
#ifndef OTPGATE_STORE_SQLITE_H
#define OTPGATE_STORE_SQLITE_H

#include <sqlite3.h>

#include "store_engine.h"
#include "store_sqlite_queue.h"

#define STORE_STMT_CACHE 96

struct store_sqlite {
  sqlite3 *db;
  /* Writers take it, in turn, around BEGIN IMMEDIATE ... COMMIT. */
  struct store_queue queue;
  long busy_timeout_ms;
  /* Why the last COMMIT failed: the rollback that follows it replaces
   * SQLite's own message ("database or disk is full"). */
  char commit_failure[256];
  struct {
    const char *sql; /* the literal's address is the key */
    sqlite3_stmt *stmt;
  } cache[STORE_STMT_CACHE];
  int ncache;
};

/* The prepared statement for this SQL literal, reset and unbound, or NULL
 * (the caller returns STORE_ERROR; store_sqlite_errmsg() says why). */
sqlite3_stmt *store_stmt(struct store_sqlite *s, const char *sql);
/* Maps an sqlite3 result code to ours. */
enum store_rc store_rc_from(int rc);
/* Steps a statement that returns no rows (or whose rows are ignored). */
enum store_rc store_exec_stmt(struct store_sqlite *s, sqlite3_stmt *st);
/* A write of one statement: when no transaction is open, in its own
 * (queued) write transaction, so it lines up with the other writers
 * instead of racing them through SQLite's busy handler. *changes (may be
 * NULL) gets the rows it changed. */
enum store_rc store_exec_write(struct store_sqlite *s, sqlite3_stmt *st,
                               int64_t *changes);
/* store_exec_write() of a statement that must change a row:
 * STORE_NOT_FOUND when it changed none. */
enum store_rc store_write_row(struct store_sqlite *s, sqlite3_stmt *st);
/* Runs each row of a prepared statement through fn as text. */
enum store_rc store_rows(struct store_sqlite *s, sqlite3_stmt *st,
                         store_row_fn fn, void *ctx);
/* As store_rows(), and STORE_NOT_FOUND when there was no row. */
enum store_rc store_rows_at_least_one(struct store_sqlite *s, sqlite3_stmt *st,
                                      store_row_fn fn, void *ctx);
/* Binds a text, or NULL when text is NULL. */
void store_bind_text(sqlite3_stmt *st, int idx, const char *text);
/* Ends a single-row lookup whose sqlite3_step() returned rc: resets the
 * statement; STORE_OK for a row, STORE_NOT_FOUND for none. */
enum store_rc store_one_row_rc(sqlite3_stmt *st, int rc);
/* Steps a query of one integer (count(*), min(...)) into *out. */
enum store_rc store_int_row(sqlite3_stmt *st, int64_t *out);
/* Copies a blob column of exactly len bytes into out (else zeroes it). */
void store_column_blob(sqlite3_stmt *st, int col, void *out, size_t len);
/* Copies column col as text into out (empty for NULL), truncating. */
void store_column_copy(sqlite3_stmt *st, int col, char *out, size_t outsz);

#endif
