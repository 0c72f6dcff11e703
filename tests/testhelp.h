/* Helpers for the Check tests: temporary directories, configurations, a
 * database set up through the real `otpgate-admin init`, and direct SQL
 * reads so tests can assert on rows. */
#ifndef OTPGATE_TESTHELP_H
#define OTPGATE_TESTHELP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

struct Suite;
/* Runs every test of the suite (each in its own process) and returns the
 * exit status for main(). */
int th_run_suite(struct Suite *s);

/* A fresh directory under $TMPDIR (or /tmp); removed by th_cleanup(). */
const char *th_tmpdir(void);
void th_cleanup(void);

/* Writes DIR/otpgate.conf: the database, secret and wake socket in DIR,
 * syslog off, then `extra` (INI text appended verbatim; it may add keys to
 * any section but not repeat the ones set here). Returns its path. */
const char *th_config(const char *extra);
const char *th_config_path(void);
const char *th_db_path(void);

/* Runs otpgate-admin in-process with the test configuration. argv ends
 * with NULL. Captures stdout and stderr (valid until the next call). */
int th_admin(const char *first, ...);
const char *th_admin_out(void);
const char *th_admin_err(void);

/* True when the tests run on PostgreSQL: tests/pg-run.sh started a server
 * and set OTPGATE_TEST_PG (its socket directory). th_config() then gives
 * the test a fresh database of its own there ([database] driver =
 * postgresql), and th_sql_*() read it. A suite leaves its SQLite-only
 * cases out (not added to the TCase) when this is true. */
bool th_on_pg(void);
/* The test's database on PostgreSQL ("" before th_config()). */
const char *th_pg_database(void);

/* SQL against the test database, outside the store (assertions only).
 * On PostgreSQL a boolean reads as 1 or 0, as in SQLite. */
int64_t th_sql_int(const char *sql);
/* First column of the first row as text (malloc'd; NULL for no row/NULL). */
char *th_sql_text(const char *sql);
/* Runs SQL that changes the database (setting up a case), outside the
 * store, with foreign keys enforced (as the store has them); a failure
 * fails the test. */
void th_sql_exec(const char *sql);
/* The same, for a statement that may fail: whether it succeeded. */
bool th_sql_try(const char *sql);

/* ---- what differs between the engines, for tests that run on both ---- */

/* Adds test tf to tc on SQLite only. On PostgreSQL it is left out (never
 * run, so never counted as passed) and the log says so, with why. */
#define TH_SQLITE_ONLY(tc, tf, why)                                            \
  do {                                                                         \
    if (th_on_pg())                                                            \
      th_left_out(#tf, why);                                                   \
    else                                                                       \
      tcase_add_test(tc, tf);                                                  \
  } while (0)
void th_left_out(const char *test, const char *why);

/* The schema version the database records (SQLite: user_version;
 * PostgreSQL: otpgate_schema), and setting it behind the store's back. */
int th_schema_version(void);
void th_schema_version_set(int version);
/* Whether the database has a relation of that kind ("table", "view",
 * "index") and name. */
bool th_db_has(const char *kind, const char *name);
/* The schema as text, to show that nothing changed it (malloc'd). */
char *th_schema_dump(void);
/* Takes the database away, as if init had never made it: SQLite's file
 * is removed; PostgreSQL's database made again, empty. */
void th_db_remove(void);
/* Where the programs say the database is: its path, or "(postgresql)". */
const char *th_db_where(void);
/* SQL spellings: the aggregate that joins text (both take (value, sep)):
 * group_concat or string_agg; a blob literal from hex digits (malloc'd);
 * an expression's bytes in upper-case hex (malloc'd). */
const char *th_sql_string_agg(void);
char *th_sql_blob(const char *hex);
char *th_sql_hex(const char *expr);
/* A trigger that makes a write fail with message, standing in for a
 * failing disk: event as "BEFORE INSERT ON table" or "BEFORE UPDATE OF
 * column ON table", when a condition on NEW or NULL. th_sql_refuse_drop()
 * takes it away. */
void th_sql_refuse(const char *name, const char *event, const char *when,
                   const char *message);
void th_sql_refuse_drop(const char *name, const char *table);
/* A digest of every row of the main tables, to show nothing changed. */
char *th_db_snapshot(void);

/* ---- the outbox and the sender ---- */

/* The newest schema version of the engine the tests run on. */
int th_schema_latest(void);

/* The test database through the real store, for setting up rows. */
struct store *th_store_open(void);
void th_store_close(struct store *s);

/* Inserts n outbox rows through the store (one transaction), due now,
 * their code expiring expires_in_ms from now. Returns the first row id. */
int64_t th_outbox_add(int n, const char *destination, const char *text,
                      size_t code_offset, size_t code_length,
                      int64_t expires_in_ms);

/* The SMS of outbox row id (0: the newest row) as the sender will send
 * it: its masked text with the sealed code opened into place (malloc'd;
 * NULL when the row holds no sealed code, as once it is final). */
char *th_sms_text(int64_t id);

/* Starts a program in the background with stdout and stderr appended to
 * DIR/<log>. It is killed if the test process dies first, so a failed
 * assertion never leaves a daemon behind. argv ends with NULL. */
int th_spawn(const char *log, const char *prog, ...);
/* Starts $OTPGATE_BUILDDIR/src/otpgate-sender -c CONFIG [--once]; its log
 * is DIR/sender.log. */
int th_sender_start(bool once);
/* Waits up to timeout_ms for pid; its wait status, or -1 if it had to be
 * killed. */
int th_wait_pid(int pid, int timeout_ms);
/* Runs otpgate-sender --once to the end; its exit code (-1: it hung or
 * died of a signal). */
int th_sender_once(void);
/* Polls th_sql_int(sql) until it equals want; false on timeout. */
bool th_wait_sql(const char *sql, int64_t want, int timeout_ms);
/* Polls until the file exists; false on timeout. */
bool th_wait_file(const char *path, int timeout_ms);

/* DIR/name (malloc'd). */
char *th_path(const char *name);
/* A whole file (malloc'd), or NULL when it cannot be read. */
char *th_read_file(const char *path);
/* Writes DIR/name with the given mode. Returns its path (malloc'd). */
char *th_write_file(const char *name, const char *text, int mode);

/* Starts tests/http_stub.py on 127.0.0.1 and a free port; it logs each
 * request to DIR/http.log. Returns its pid; *port gets the port. */
int th_http_stub_start(int *port);

/* When the tests run as root, the programs run as the user nobody, as a
 * deployment runs them (they refuse root). Before the fork: hands the test
 * directory to nobody (SQLite, as root, then gives the files it creates to
 * the database's owner). In the forked child: becomes nobody. */
void th_hand_over_tmpdir(void);
/* A path nobody can run: when the tests run as root, a copy of the file
 * in DIR/bin (the build tree may sit where nobody cannot reach it);
 * otherwise the path itself. malloc'd. */
char *th_runnable(const char *path);
void th_become_unprivileged(void);

/* Path of a built program or a source file. */
const char *th_builddir(void);
const char *th_srcdir(void);

#endif
