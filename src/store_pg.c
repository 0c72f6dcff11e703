/* The PostgreSQL engine: the connection, transactions, the schema, and the
 * helpers the table files (store_pg_*.c) share (store_pg.h).
 *
 * One connection per process. When the server goes away (a restart, a
 * failover, the network), the call that finds out answers STORE_BUSY (the
 * request gets 503) and the log says so once; later calls try to connect
 * again, no more often than a backoff that grows from 100 ms to 2 s, and
 * the log says once that it is back. Nothing needs restarting. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "store_pg.h"
#include "store_schema.h"
#include "util.h"

#define PG_BACKOFF_FIRST_MS 100
#define PG_BACKOFF_MAX_MS 2000

/* ---- errors ---- */

/* Keeps the server's (or libpq's) message, on one line. */
static void pg_keep_message(struct store_pg *s, const char *msg) {
  if (msg == NULL || msg[0] == '\0')
    msg = "unknown PostgreSQL error";
  size_t n = strcspn(msg, "\n");
  if (n >= sizeof s->errmsg)
    n = sizeof s->errmsg - 1;
  memcpy(s->errmsg, msg, n);
  s->errmsg[n] = '\0';
}

/* The connection is gone: say so once. */
static void pg_note_lost(struct store_pg *s) {
  if (!s->lost)
    log_warn("event=database-lost driver=postgresql reason=%s",
             log_q(s->errmsg).s);
  s->lost = true;
}

static enum store_rc pg_rc_from(struct store_pg *s, const PGresult *r) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  /* The server's own words ("refused"), without libpq's "ERROR:  ". */
  const char *primary =
      r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  pg_keep_message(s, primary ? primary
                     : r     ? PQresultErrorMessage(r)
                             : PQerrorMessage(s->conn));
  if (PQstatus(s->conn) != CONNECTION_OK) {
    pg_note_lost(s);
    return STORE_BUSY;
  }
  if (state == NULL)
    return STORE_ERROR;
  if (strcmp(state, "25006") == 0)
    s->session_ok = false; /* a standby: connect again, to the primary */
  if (strncmp(state, "23", 2) == 0) /* integrity: unique, check, foreign */
    return STORE_EXISTS;
  if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
      strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0 ||
      strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
      strcmp(state, "25006") == 0) /* read-only: a standby */
    return STORE_BUSY;
  return STORE_ERROR;
}

const char *store_pg_errmsg(struct store_pg *s) {
  return s->errmsg[0] ? s->errmsg : PQerrorMessage(s->conn);
}

/* ---- the connection ---- */

/* Runs a statement of no parameters outside the prepared ones (session
 * settings, transaction control, migrations). */
static enum store_rc pg_simple(struct store_pg *s, const char *sql) {
  PGresult *r = PQexec(s->conn, sql);
  ExecStatusType st = PQresultStatus(r);
  enum store_rc rc = STORE_OK;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    rc = pg_rc_from(s, r);
  PQclear(r);
  return rc;
}

/* What every session runs first: bounds on every wait, the durability
 * asked for, and the senders' LISTEN. */
static enum store_rc pg_session_setup(struct store_pg *s) {
  char sql[320];
  /* busy_timeout_ms = 0 means "do not wait for a lock"; a statement still
   * gets a second to run. */
  long lock = s->busy_timeout_ms > 0 ? s->busy_timeout_ms : 1;
  long stmt = s->busy_timeout_ms > 1000 ? s->busy_timeout_ms : 1000;
  snprintf(sql, sizeof sql,
           "SET statement_timeout = %ld; SET lock_timeout = %ld; "
           "SET idle_in_transaction_session_timeout = %ld; "
           "SET synchronous_commit = %s; SET client_min_messages = warning",
           stmt, lock, stmt * 2 > 60000 ? stmt * 2 : 60000,
           s->synchronous ? "on" : "off");
  enum store_rc rc = pg_simple(s, sql);
  if (rc == STORE_OK && s->listening)
    rc = pg_simple(s, "LISTEN " PG_WAKE_CHANNEL);
  return rc;
}

/* STORE_OK when the connection is up, else tries to bring it back (at most
 * once per backoff period); STORE_BUSY when it cannot. */
static enum store_rc pg_ready(struct store_pg *s) {
  if (PQstatus(s->conn) == CONNECTION_OK && s->session_ok)
    return STORE_OK;
  if (s->in_tx) {
    pg_keep_message(s, "the connection to the database was lost");
    return STORE_BUSY;
  }
  int64_t now = monotonic_ms();
  if (now < s->next_try) {
    snprintf(s->errmsg, sizeof s->errmsg,
             "the database is unreachable (next try in %lld ms)",
             (long long)(s->next_try - now));
    return STORE_BUSY;
  }
  PQreset(s->conn);
  s->nprepared = 0; /* prepared statements belong to the old session */
  s->session_ok =
      PQstatus(s->conn) == CONNECTION_OK && pg_session_setup(s) == STORE_OK;
  if (s->session_ok) {
    if (s->lost)
      log_info("event=database-reconnected driver=postgresql");
    s->lost = false;
    s->backoff_ms = 0;
    s->next_try = 0;
    return STORE_OK;
  }
  if (PQstatus(s->conn) != CONNECTION_OK) /* else the setup said why */
    pg_keep_message(s, PQerrorMessage(s->conn));
  pg_note_lost(s);
  s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : PG_BACKOFF_FIRST_MS;
  if (s->backoff_ms > PG_BACKOFF_MAX_MS)
    s->backoff_ms = PG_BACKOFF_MAX_MS;
  s->next_try = now + s->backoff_ms;
  return STORE_BUSY;
}

/* Where the database is, for messages: never the whole conninfo (it is the
 * operator's; a password has no business there, but say nothing of it). */
static void pg_where(PGconn *c, char *out, size_t outsz) {
  const char *host = c ? PQhost(c) : NULL, *db = c ? PQdb(c) : NULL;
  snprintf(out, outsz, "PostgreSQL (host=%s dbname=%s)",
           host && host[0] ? host : "?", db && db[0] ? db : "?");
}

/* A password in conninfo would end up in ps, in config backups, in
 * reviews: libpq has ~/.pgpass, PGPASSFILE and service files for it. */
static bool pg_conninfo_ok(const char *conninfo, char *err, size_t errsz) {
  char *why = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo, &why);
  if (opts == NULL) {
    /* Not libpq's words: they quote the string, password and all. */
    snprintf(err, errsz,
             "[database] conninfo: cannot be parsed as a "
             "libpq connection string or URI");
    PQfreemem(why);
    return false;
  }
  bool ok = true;
  for (PQconninfoOption *o = opts; o->keyword; o++)
    if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0])
      ok = false;
  PQconninfoFree(opts);
  if (!ok)
    snprintf(err, errsz,
             "[database] conninfo: must not hold a password (put it in "
             "~/.pgpass, PGPASSFILE or a service file)");
  return ok;
}

struct store_pg *store_pg_open(const struct conf *conf, bool for_init,
                               char *err, size_t errsz) {
  const char *conninfo = conf->database.conninfo;
  if (!pg_conninfo_ok(conninfo, err, errsz))
    return NULL;
  struct store_pg *s = xcalloc(1, sizeof *s);
  char timeout[24], where[300];
  long secs = (conf->database.busy_timeout_ms + 999) / 1000;
  snprintf(timeout, sizeof timeout, "%ld", secs >= 2 ? secs : 2);
  /* conninfo comes last: what it says wins over these defaults. */
  const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
  const char *values[] = {timeout, "otpgate", conninfo, NULL};
  s->busy_timeout_ms = conf->database.busy_timeout_ms;
  s->synchronous = conf->database.synchronous == SYNCHRONOUS_FULL;
  s->conn = PQconnectdbParams(keys, values, 1);
  pg_where(s->conn, where, sizeof where);
  if (PQstatus(s->conn) != CONNECTION_OK) {
    pg_keep_message(s, PQerrorMessage(s->conn));
    snprintf(err, errsz, "[database] conninfo: cannot connect to %s: %s", where,
             s->errmsg);
    goto fail;
  }
  if (pg_session_setup(s) != STORE_OK) {
    snprintf(err, errsz, "%s: cannot set up the session: %s", where, s->errmsg);
    goto fail;
  }
  s->session_ok = true;
  if (!for_init) {
    int v = store_pg_schema_version(s),
        want = store_pg_schema_version_latest(s);
    if (v > want) {
      snprintf(err, errsz,
               "%s: schema version %d: the database was migrated by a newer "
               "otpgate (this one, %s, knows versions up to %d); run that "
               "version",
               where, v, PACKAGE_VERSION, want);
      goto fail;
    }
    if (v != want) {
      snprintf(err, errsz,
               "%s: schema version %d, this program needs %d (run "
               "'otpgate-admin init')",
               where, v, want);
      goto fail;
    }
  }
  return s;
fail:
  store_pg_close(s);
  return NULL;
}

void store_pg_close(struct store_pg *s) {
  if (s == NULL)
    return;
  PQfinish(s->conn);
  free(s);
}

/* ---- statements ---- */

void pg_param_text(struct pg_params *p, const char *text) {
  if (p->n >= PG_PARAMS_MAX)
    abort(); /* the statements are fixed: a programming error */
  p->values[p->n] = text;
  p->lengths[p->n] = 0;
  p->formats[p->n] = 0;
  p->n++;
}

void pg_param_int(struct pg_params *p, int64_t v) {
  if (p->n >= PG_PARAMS_MAX)
    abort();
  snprintf(p->ints[p->n], sizeof p->ints[p->n], "%lld", (long long)v);
  pg_param_text(p, p->ints[p->n]);
}

void pg_param_bytes(struct pg_params *p, const void *data, size_t len) {
  if (p->n >= PG_PARAMS_MAX)
    abort();
  p->values[p->n] = data;
  p->lengths[p->n] = (int)len;
  p->formats[p->n] = 1;
  p->n++;
}

/* The result of a statement that ran, or NULL with *rc (and errmsg). */
static PGresult *pg_result(struct store_pg *s, PGresult *r, enum store_rc *rc) {
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
    return r;
  *rc = pg_rc_from(s, r);
  PQclear(r);
  return NULL;
}

PGresult *pg_exec(struct store_pg *s, const char *sql,
                  const struct pg_params *p, enum store_rc *rc) {
  char name[16];
  int idx = -1;
  if ((*rc = pg_ready(s)) != STORE_OK)
    return NULL;
  for (int i = 0; i < s->nprepared; i++)
    if (s->prepared[i] == sql)
      idx = i;
  if (idx < 0) {
    if (s->nprepared >= PG_STMT_CACHE)
      abort(); /* the statements are fixed: raise PG_STMT_CACHE */
    idx = s->nprepared;
    snprintf(name, sizeof name, "s%d", idx);
    PGresult *prepared =
        pg_result(s, PQprepare(s->conn, name, sql, 0, NULL), rc);
    if (prepared == NULL)
      return NULL;
    PQclear(prepared);
    s->prepared[s->nprepared++] = sql;
  }
  snprintf(name, sizeof name, "s%d", idx);
  return pg_result(s,
                   PQexecPrepared(s->conn, name, p ? p->n : 0,
                                  p ? p->values : NULL, p ? p->lengths : NULL,
                                  p ? p->formats : NULL, 0),
                   rc);
}

PGresult *pg_exec_once(struct store_pg *s, const char *sql,
                       const struct pg_params *p, enum store_rc *rc) {
  if ((*rc = pg_ready(s)) != STORE_OK)
    return NULL;
  return pg_result(s,
                   PQexecParams(s->conn, sql, p ? p->n : 0, NULL,
                                p ? p->values : NULL, p ? p->lengths : NULL,
                                p ? p->formats : NULL, 0),
                   rc);
}

enum store_rc pg_run(struct store_pg *s, const char *sql,
                     const struct pg_params *p, int64_t *changes) {
  enum store_rc rc;
  PGresult *r = pg_exec(s, sql, p, &rc);
  if (changes)
    *changes = r ? strtoll(PQcmdTuples(r), NULL, 10) : 0;
  PQclear(r);
  return rc;
}

enum store_rc pg_write_row(struct store_pg *s, const char *sql,
                           const struct pg_params *p) {
  int64_t changed;
  enum store_rc rc = pg_run(s, sql, p, &changed);
  return rc == STORE_OK && changed == 0 ? STORE_NOT_FOUND : rc;
}

enum store_rc pg_int(struct store_pg *s, const char *sql,
                     const struct pg_params *p, int64_t *out) {
  enum store_rc rc;
  PGresult *r = pg_exec(s, sql, p, &rc);
  if (r == NULL)
    return rc;
  if (PQntuples(r) > 0)
    *out = pg_get_int(r, 0, 0);
  else
    rc = STORE_NOT_FOUND;
  PQclear(r);
  return rc;
}

/* What a column holds, from its type, so JSON prints numbers as numbers. */
static enum store_value_kind pg_kind(Oid type) {
  switch (type) {
  case 20: /* int8 */
  case 21: /* int2 */
  case 23: /* int4 */
    return STORE_VALUE_INT;
  case 700:  /* float4 */
  case 701:  /* float8 */
  case 1700: /* numeric */
    return STORE_VALUE_REAL;
  default:
    return STORE_VALUE_TEXT;
  }
}

enum store_rc pg_result_rows(PGresult *r, store_row_fn fn, void *ctx,
                             int *rows) {
  int n = PQnfields(r);
  const char **names = xcalloc((size_t)n + 1, sizeof *names);
  const char **values = xcalloc((size_t)n + 1, sizeof *values);
  enum store_value_kind *kinds = xcalloc((size_t)n + 1, sizeof *kinds);
  for (int i = 0; i < n; i++) {
    names[i] = PQfname(r, i);
    kinds[i] = pg_kind(PQftype(r, i));
  }
  *rows = PQntuples(r);
  for (int row = 0; row < *rows; row++) {
    for (int i = 0; i < n; i++)
      values[i] = PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
    struct store_row sr = {n, names, values, kinds};
    fn(&sr, ctx);
  }
  free(names);
  free(values);
  free(kinds);
  PQclear(r);
  return STORE_OK;
}

enum store_rc pg_rows(struct store_pg *s, const char *sql,
                      const struct pg_params *p, store_row_fn fn, void *ctx) {
  int rows;
  enum store_rc rc;
  PGresult *r = pg_exec(s, sql, p, &rc);
  return r ? pg_result_rows(r, fn, ctx, &rows) : rc;
}

enum store_rc pg_rows_at_least_one(struct store_pg *s, const char *sql,
                                   const struct pg_params *p, store_row_fn fn,
                                   void *ctx) {
  int rows = 0;
  enum store_rc rc;
  PGresult *r = pg_exec(s, sql, p, &rc);
  if (r != NULL)
    rc = pg_result_rows(r, fn, ctx, &rows);
  return rc == STORE_OK && rows == 0 ? STORE_NOT_FOUND : rc;
}

int64_t pg_get_int(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? 0
                                  : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool pg_is_null(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) != 0;
}

void pg_get_text(const PGresult *r, int row, int col, char *out, size_t outsz) {
  snprintf(out, outsz, "%s",
           PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

size_t pg_get_bytes_max(const PGresult *r, int row, int col, void *out,
                        size_t max) {
  size_t len = 0;
  if (PQgetisnull(r, row, col))
    return 0;
  unsigned char *b =
      PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &len);
  if (b == NULL)
    return 0;
  memcpy(out, b, len < max ? len : max);
  PQfreemem(b);
  return len;
}

void pg_get_bytes(const PGresult *r, int row, int col, void *out, size_t len) {
  unsigned char tmp[256];
  size_t got = len <= sizeof tmp ? pg_get_bytes_max(r, row, col, tmp, len) : 0;
  if (got == len)
    memcpy(out, tmp, len);
  else
    memset(out, 0, len);
}

/* ---- transactions ---- */

enum store_rc store_pg_begin_write(struct store_pg *s) {
  s->errmsg[0] = '\0';
  bool was_up = PQstatus(s->conn) == CONNECTION_OK && s->session_ok;
  enum store_rc rc = pg_ready(s);
  if (rc == STORE_OK)
    rc = pg_simple(s, "BEGIN");
  /* A connection that died while idle is found out here: once more, on a
   * fresh one, before the request is told 503. (Once: while the server
   * stays away, the backoff decides when to try.) */
  if (rc == STORE_BUSY && was_up && PQstatus(s->conn) != CONNECTION_OK) {
    s->next_try = 0;
    if (pg_ready(s) == STORE_OK)
      rc = pg_simple(s, "BEGIN");
  }
  s->in_tx = rc == STORE_OK;
  return rc;
}

enum store_rc store_pg_commit(struct store_pg *s) {
  PGresult *r = PQexec(s->conn, "COMMIT");
  enum store_rc rc = STORE_OK;
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    rc = pg_rc_from(s, r);
    if (PQstatus(s->conn) != CONNECTION_OK)
      pg_keep_message(s, "the connection was lost during COMMIT: its outcome "
                         "is unknown");
  } else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
    /* An aborted transaction's COMMIT is a ROLLBACK. */
    pg_keep_message(s, "the transaction had failed and was rolled back");
    rc = STORE_ERROR;
  }
  PQclear(r);
  s->in_tx = false;
  return rc;
}

void store_pg_rollback(struct store_pg *s) {
  if (s->in_tx && PQstatus(s->conn) == CONNECTION_OK)
    PQclear(PQexec(s->conn, "ROLLBACK"));
  s->in_tx = false;
}

enum store_rc pg_tx_begin(struct store_pg *s, bool *own) {
  *own = !s->in_tx;
  return *own ? store_pg_begin_write(s) : STORE_OK;
}

enum store_rc pg_tx_end(struct store_pg *s, bool own, enum store_rc rc) {
  if (!own)
    return rc;
  if (rc == STORE_OK)
    return store_pg_commit(s);
  store_pg_rollback(s);
  return rc;
}

enum store_rc store_pg_check_writable(struct store_pg *s) {
  int64_t standby = 0;
  static const char sql[] = "SELECT pg_is_in_recovery()::int";
  enum store_rc rc = pg_int(s, sql, NULL, &standby);
  if (rc == STORE_OK && standby) {
    pg_keep_message(s, "the server is a standby (read-only)");
    return STORE_BUSY;
  }
  if (rc == STORE_OK)
    rc = store_pg_begin_write(s);
  if (rc == STORE_OK)
    store_pg_rollback(s);
  return rc;
}

/* ---- the schema ---- */

int store_pg_schema_version_latest(struct store_pg *s) {
  (void)s;
  int v = 0;
  for (const struct store_migration *m = store_pg_migrations; m->sql; m++)
    v = m->version;
  return v;
}

/* The version otpgate_schema records: 0 before the first init, -1 when it
 * cannot be read. */
int store_pg_schema_version(struct store_pg *s) {
  if (pg_ready(s) != STORE_OK)
    return -1;
  PGresult *r = PQexec(s->conn, "SELECT to_regclass('otpgate_schema') IS NULL");
  int v = -1;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
    v = strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 0 : -2;
  else
    pg_rc_from(s, r);
  PQclear(r);
  if (v != -2)
    return v;
  r = PQexec(s->conn, "SELECT version FROM otpgate_schema");
  v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
          ? atoi(PQgetvalue(r, 0, 0))
          : -1;
  if (v < 0)
    pg_rc_from(s, r);
  PQclear(r);
  return v;
}

/* Applies the migrations newer than the database's version in one
 * transaction, under an advisory lock so that two inits do not race. */
enum store_rc store_pg_migrate(struct store_pg *s, int *from, int *to) {
  enum store_rc rc = store_pg_begin_write(s);
  if (rc != STORE_OK)
    return rc;
  rc = pg_simple(s, "SELECT pg_advisory_xact_lock(7461626)");
  if (rc == STORE_OK)
    rc = pg_simple(s, "CREATE TABLE IF NOT EXISTS otpgate_schema "
                      "(version integer NOT NULL); "
                      "INSERT INTO otpgate_schema (version) SELECT 0 "
                      "WHERE NOT EXISTS (SELECT 1 FROM otpgate_schema)");
  int v = rc == STORE_OK ? store_pg_schema_version(s) : -1;
  *from = *to = v;
  if (v < 0 || v > store_pg_schema_version_latest(s)) {
    store_pg_rollback(s);
    return rc == STORE_OK ? STORE_ERROR : rc;
  }
  for (const struct store_migration *m = store_pg_migrations; m->sql; m++) {
    char update[64];
    if (m->version <= v)
      continue;
    snprintf(update, sizeof update, "UPDATE otpgate_schema SET version = %d",
             m->version);
    if ((rc = pg_simple(s, m->sql)) != STORE_OK ||
        (rc = pg_simple(s, update)) != STORE_OK) {
      char why[sizeof s->errmsg + 64];
      snprintf(why, sizeof why, "%s: %s", m->name, s->errmsg);
      store_pg_rollback(s);
      pg_keep_message(s, why);
      return rc;
    }
    v = m->version;
  }
  *to = v;
  return store_pg_commit(s);
}

/* ---- waking senders ---- */

int store_pg_wake_fd(struct store_pg *s) {
  if (!s->listening && pg_ready(s) == STORE_OK &&
      pg_simple(s, "LISTEN " PG_WAKE_CHANNEL) == STORE_OK)
    s->listening = true;
  if (s->listening && PQstatus(s->conn) != CONNECTION_OK)
    pg_ready(s); /* comes back LISTENing (pg_session_setup()) */
  return PQstatus(s->conn) == CONNECTION_OK ? PQsocket(s->conn) : -1;
}

bool store_pg_wake_drain(struct store_pg *s) {
  bool woken = false;
  if (PQstatus(s->conn) != CONNECTION_OK || !PQconsumeInput(s->conn)) {
    if (PQstatus(s->conn) != CONNECTION_OK) {
      pg_keep_message(s, PQerrorMessage(s->conn));
      pg_note_lost(s);
    }
    return false;
  }
  PGnotify *n;
  while ((n = PQnotifies(s->conn)) != NULL) {
    woken = true;
    PQfreemem(n);
  }
  return woken;
}

/* ---- what only SQLite has ---- */

bool store_pg_backup(struct store_pg *s, const char *path, char *err,
                     size_t errsz) {
  (void)s;
  (void)path;
  snprintf(err, errsz,
           "backup copies an SQLite database; with driver = postgresql use "
           "pg_dump or the server's own backups (pg_basebackup, WAL archive)");
  return false;
}
