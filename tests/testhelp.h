/* Helpers for the Check tests: temporary directories, configurations, a
 * database set up through the real `otpgate-admin init`, and direct SQL
 * reads so tests can assert on rows. */
#ifndef OTPGATE_TESTHELP_H
#define OTPGATE_TESTHELP_H

#include <stdbool.h>
#include <stdint.h>

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

/* SQL against the test database, outside the store (assertions only). */
int64_t th_sql_int(const char *sql);
/* First column of the first row as text (malloc'd; NULL for no row/NULL). */
char *th_sql_text(const char *sql);
/* A digest of every row of the main tables, to show nothing changed. */
char *th_db_snapshot(void);

/* Path of a built program or a source file. */
const char *th_builddir(void);
const char *th_srcdir(void);

#endif
