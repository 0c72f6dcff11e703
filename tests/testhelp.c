#include "config.h"

#include "testhelp.h"

#include <check.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "admin.h"
#include "conf.h"
#include "otp.h"
#include "store.h"
#include "store_schema.h"
#include "util.h"

static char tmpdir[512];
static char config_path[600];
static char db_path[600];
static char *admin_out, *admin_err;

/* ---- PostgreSQL (OTPGATE_TEST_PG: the socket directory of the server
 *      tests/pg-run.sh started) ---- */

/* The test's own database on that server, made by th_config(). */
static char pg_db[64];
/* The tests' connection to it, for th_sql_*() (made on first use). */
static PGconn *pg_conn;

bool th_on_pg(void) {
  const char *s = getenv("OTPGATE_TEST_PG");
  return s != NULL && s[0] != '\0';
}

/* A conninfo value, quoted. */
static void pg_quote(struct buf *b, const char *v) {
  buf_appends(b, "'");
  for (; *v; v++) {
    if (*v == '\'' || *v == '\\')
      buf_appends(b, "\\");
    buf_append(b, v, 1);
  }
  buf_appends(b, "'");
}

/* conninfo for database db on the test server (malloc'd). */
static char *pg_conninfo(const char *db) {
  struct buf b = {0};
  buf_appends(&b, "host=");
  pg_quote(&b, getenv("OTPGATE_TEST_PG"));
  buf_appends(&b, " dbname=");
  buf_appends(&b, db);
  buf_appends(&b, " user=otpgate");
  return b.data;
}

static PGconn *pg_connect(const char *db) {
  char *ci = pg_conninfo(db);
  PGconn *c = PQconnectdb(ci);
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "testhelp: PostgreSQL %s: %s", ci, PQerrorMessage(c));
    abort();
  }
  free(ci);
  PQsetNoticeProcessor(c, NULL, NULL); /* the default prints NOTICEs */
  return c;
}

static void pg_admin_exec(const char *sql, bool must) {
  PGconn *c = pg_connect("postgres");
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && must) {
    fprintf(stderr, "testhelp: %s: %s", sql, PQerrorMessage(c));
    abort();
  }
  PQclear(r);
  PQfinish(c);
}

/* A fresh database for this test (each runs in a process of its own). */
static void pg_create_db(void) {
  static unsigned made;
  if (pg_db[0])
    return;
  snprintf(pg_db, sizeof pg_db, "t_%ld_%u", (long)getpid(), made++);
  char *sql = xasprintf("CREATE DATABASE %s", pg_db);
  pg_admin_exec(sql, true);
  free(sql);
}

static void pg_drop_db(void) {
  if (pg_conn) {
    PQfinish(pg_conn);
    pg_conn = NULL;
  }
  if (!pg_db[0])
    return;
  if (!getenv("OTPGATE_KEEP_TMP")) {
    /* FORCE: a daemon the test started may still hold a connection. */
    char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_db);
    pg_admin_exec(sql, false);
    free(sql);
  }
  pg_db[0] = '\0';
}

static PGconn *pg_tests_conn(void) {
  if (!pg_db[0]) {
    fprintf(stderr, "testhelp: no database yet (th_config() makes it)\n");
    abort();
  }
  if (pg_conn == NULL || PQstatus(pg_conn) != CONNECTION_OK) {
    if (pg_conn)
      PQfinish(pg_conn);
    pg_conn = pg_connect(pg_db);
  }
  return pg_conn;
}

/* Runs a query; its result, which has rows (or aborts the test). */
static PGresult *pg_query(const char *who, const char *sql) {
  PGconn *c = pg_tests_conn();
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    fprintf(stderr, "%s: %s: %s", who, sql, PQerrorMessage(c));
    abort();
  }
  return r;
}

const char *th_pg_database(void) { return pg_db; }

int th_run_suite(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

const char *th_builddir(void) {
  const char *d = getenv("OTPGATE_BUILDDIR");
  return d ? d : ".";
}

const char *th_srcdir(void) {
  const char *d = getenv("OTPGATE_SRCDIR");
  return d ? d : ".";
}

/* Whom th_hand_over_tmpdir() gives the tree to (nftw passes no context). */
static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *sb, int type,
                     struct FTW *ftw) {
  (void)sb, (void)type, (void)ftw;
  /* A file that cannot change hands is left for the test that needs it to
   * notice; the rest of the tree still goes over. */
  int failed = lchown(path, chown_uid, chown_gid) != 0;
  (void)failed;
  return 0;
}

static void chown_tree(const char *path, uid_t uid, gid_t gid) {
  chown_uid = uid;
  chown_gid = gid;
  nftw(path, chown_one, 16, FTW_PHYS);
}

char *th_runnable(const char *path) {
  if (geteuid() != 0)
    return xstrdup(path);
  const char *base = strrchr(path, '/');
  char *dir = th_path("bin");
  char *copy = xasprintf("%s/%s", dir, base ? base + 1 : path);
  if (access(copy, X_OK) == 0) { /* copied already, and perhaps running */
    free(dir);
    return copy;
  }
  mkdir(dir, 0755);
  FILE *in = fopen(path, "rb"), *out = fopen(copy, "wb");
  if (in == NULL || out == NULL)
    abort();
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, in)) > 0)
    if (fwrite(chunk, 1, n, out) != n)
      abort();
  fclose(in);
  if (fclose(out) != 0 || chmod(copy, 0755) != 0)
    abort();
  free(dir);
  return copy;
}

void th_hand_over_tmpdir(void) {
  struct passwd *pw;
  if (geteuid() == 0 && (pw = getpwnam("nobody")) != NULL)
    chown_tree(th_tmpdir(), pw->pw_uid, pw->pw_gid);
}

void th_become_unprivileged(void) {
  if (geteuid() != 0)
    return;
  struct passwd *pw = getpwnam("nobody");
  if (pw == NULL || setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
      setuid(pw->pw_uid) != 0)
    _exit(126);
}

const char *th_tmpdir(void) {
  if (tmpdir[0])
    return tmpdir;
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/otpgate-test-XXXXXX", base ? base : "/tmp");
  if (mkdtemp(tmpdir) == NULL) {
    perror("mkdtemp");
    abort();
  }
  return tmpdir;
}

static int remove_one(const char *path, const struct stat *sb, int type,
                      struct FTW *ftw) {
  (void)sb, (void)type, (void)ftw;
  remove(path);
  return 0;
}

/* Depth first: a directory goes after what it holds. */
static void rm_rf(const char *path) {
  nftw(path, remove_one, 16, FTW_PHYS | FTW_DEPTH);
}

void th_cleanup(void) {
  if (tmpdir[0] && !getenv("OTPGATE_KEEP_TMP"))
    rm_rf(tmpdir);
  tmpdir[0] = '\0';
  config_path[0] = db_path[0] = '\0';
  if (th_on_pg())
    pg_drop_db();
}

const char *th_config(const char *extra) {
  const char *dir = th_tmpdir();
  snprintf(config_path, sizeof config_path, "%s/otpgate.conf", dir);
  snprintf(db_path, sizeof db_path, "%s/otpgate.db", dir);
  FILE *f = fopen(config_path, "w");
  if (f == NULL)
    abort();
  /* Sections may repeat in INI: extra adds keys to any of them. */
  if (th_on_pg()) {
    pg_create_db();
    char *ci = pg_conninfo(pg_db);
    fprintf(f, "[database]\ndriver = postgresql\nconninfo = %s\n", ci);
    free(ci);
  }
  fprintf(f,
          "[database]\npath = %s\nsynchronous = normal\n"
          "[api]\nmetrics_file = %s/metrics\n"
          "[otp]\nsecret_file = %s/otp.key\n"
          "[sender]\nwake_socket = %s/sender.sock\n"
          "[log]\nsyslog = no\n%s\n",
          db_path, dir, dir, dir, extra ? extra : "");
  fclose(f);
  return config_path;
}

const char *th_config_path(void) { return config_path; }
const char *th_db_path(void) { return db_path; }

static char *slurp(FILE *f) {
  long n;
  fflush(f);
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  rewind(f);
  char *s = xmalloc((size_t)n + 1);
  s[fread(s, 1, (size_t)n, f)] = '\0';
  return s;
}

int th_admin(const char *first, ...) {
  char *argv[64];
  int argc = 0;
  va_list ap;
  argv[argc++] = "otpgate-admin";
  argv[argc++] = "-c";
  argv[argc++] = config_path;
  va_start(ap, first);
  for (const char *a = first; a && argc < 63; a = va_arg(ap, const char *))
    argv[argc++] = (char *)a;
  va_end(ap);
  argv[argc] = NULL;
  FILE *out = tmpfile(), *err = tmpfile();
  int rc = admin_main(argc, argv, out, err);
  free(admin_out);
  free(admin_err);
  admin_out = slurp(out);
  admin_err = slurp(err);
  fclose(out);
  fclose(err);
  return rc;
}

const char *th_admin_out(void) { return admin_out ? admin_out : ""; }
const char *th_admin_err(void) { return admin_err ? admin_err : ""; }

static sqlite3 *th_open(void) {
  sqlite3 *db;
  if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    abort();
  sqlite3_busy_timeout(db, 10000);
  return db;
}

/* A value as th_sql_int() gives it: PostgreSQL's booleans are 1 and 0, as
 * SQLite's are. */
static int64_t pg_int(const PGresult *r) {
  if (PQntuples(r) < 1 || PQnfields(r) < 1 || PQgetisnull(r, 0, 0))
    return -1;
  const char *v = PQgetvalue(r, 0, 0);
  if (strcmp(v, "t") == 0)
    return 1;
  if (strcmp(v, "f") == 0)
    return 0;
  return strtoll(v, NULL, 10);
}

int64_t th_sql_int(const char *sql) {
  if (th_on_pg()) {
    PGresult *r = pg_query("th_sql_int", sql);
    int64_t v = pg_int(r);
    PQclear(r);
    return v;
  }
  sqlite3 *db = th_open();
  sqlite3_stmt *st;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "th_sql_int: %s: %s\n", sql, sqlite3_errmsg(db));
    abort();
  }
  if (sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

char *th_sql_text(const char *sql) {
  if (th_on_pg()) {
    PGresult *r = pg_query("th_sql_text", sql);
    char *v = NULL;
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
      v = xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
  }
  sqlite3 *db = th_open();
  sqlite3_stmt *st;
  char *v = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "th_sql_text: %s: %s\n", sql, sqlite3_errmsg(db));
    abort();
  }
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    v = xstrdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

/* Runs sql; NULL when it worked, else why (malloc'd). */
static char *sql_run(const char *sql) {
  char *why = NULL;
  if (th_on_pg()) {
    PGconn *c = pg_tests_conn();
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
      why = xstrdup(PQerrorMessage(c));
    PQclear(r);
    return why;
  }
  sqlite3 *db;
  if (sqlite3_open(db_path, &db) != SQLITE_OK)
    abort();
  sqlite3_busy_timeout(db, 10000);
  if (sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK)
    abort();
  if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
    why = xstrdup(sqlite3_errmsg(db));
  sqlite3_close(db);
  return why;
}

void th_sql_exec(const char *sql) {
  char *why = sql_run(sql);
  if (why) {
    fprintf(stderr, "th_sql_exec: %s: %s\n", sql, why);
    abort();
  }
}

bool th_sql_try(const char *sql) {
  char *why = sql_run(sql);
  free(why);
  return why == NULL;
}

void th_left_out(const char *test, const char *why) {
  printf("left out on PostgreSQL: %s (SQLite only: %s)\n", test, why);
  fflush(stdout);
}

int th_schema_version(void) {
  return (int)th_sql_int(th_on_pg() ? "SELECT version FROM otpgate_schema"
                                    : "PRAGMA user_version");
}

void th_schema_version_set(int version) {
  char *sql = xasprintf(th_on_pg() ? "UPDATE otpgate_schema SET version = %d"
                                   : "PRAGMA user_version = %d",
                        version);
  th_sql_exec(sql);
  free(sql);
}

bool th_db_has(const char *kind, const char *name) {
  char *sql;
  if (th_on_pg()) {
    char relkind = strcmp(kind, "table") == 0  ? 'r'
                   : strcmp(kind, "view") == 0 ? 'v'
                   : strcmp(kind, "index") == 0 ? 'i'
                                                : '?';
    sql = xasprintf("SELECT count(*) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                    "AND c.relkind = '%c' AND c.relname = '%s'",
                    relkind, name);
  } else {
    sql = xasprintf("SELECT count(*) FROM sqlite_schema WHERE type = '%s' "
                    "AND name = '%s'", kind, name);
  }
  int64_t n = th_sql_int(sql);
  free(sql);
  return n == 1;
}

char *th_schema_dump(void) {
  if (!th_on_pg())
    return th_sql_text("SELECT group_concat(sql, ';') FROM "
                       "(SELECT sql FROM sqlite_schema ORDER BY name)");
  /* Each relation: its kind, columns and constraints. */
  return th_sql_text(
      "SELECT string_agg(c.relname || ':' || c.relkind::text || ':' || "
      "coalesce((SELECT string_agg(a.attname || ' ' || "
      "format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN "
      "' not null' ELSE '' END, ',' ORDER BY a.attnum) FROM pg_attribute a "
      "WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') "
      "|| ':' || coalesce((SELECT string_agg(pg_get_constraintdef(k.oid), ',' "
      "ORDER BY k.conname) FROM pg_constraint k WHERE k.conrelid = c.oid), ''), "
      "';' ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n "
      "ON n.oid = c.relnamespace WHERE n.nspname = current_schema()");
}

void th_db_remove(void) {
  if (!th_on_pg()) {
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
      char *path = xasprintf("%s%s", db_path, suffixes[i]);
      unlink(path);
      free(path);
    }
    return;
  }
  if (pg_conn) {
    PQfinish(pg_conn);
    pg_conn = NULL;
  }
  char *sql = xasprintf("DROP DATABASE %s WITH (FORCE)", pg_db);
  pg_admin_exec(sql, true);
  free(sql);
  sql = xasprintf("CREATE DATABASE %s", pg_db);
  pg_admin_exec(sql, true);
  free(sql);
}

const char *th_db_where(void) { return th_on_pg() ? "(postgresql)" : db_path; }

const char *th_sql_string_agg(void) {
  return th_on_pg() ? "string_agg" : "group_concat";
}

char *th_sql_blob(const char *hex) {
  return th_on_pg() ? xasprintf("'\\x%s'::bytea", hex) : xasprintf("x'%s'", hex);
}

char *th_sql_hex(const char *expr) {
  return th_on_pg() ? xasprintf("upper(encode(%s, 'hex'))", expr)
                    : xasprintf("hex(%s)", expr);
}

void th_sql_refuse(const char *name, const char *event, const char *when,
                   const char *message) {
  char *sql;
  if (th_on_pg()) {
    char *cond = when ? xasprintf(" WHEN (%s)", when) : xstrdup("");
    sql = xasprintf("CREATE FUNCTION %s_fn() RETURNS trigger LANGUAGE plpgsql AS "
                    "$f$BEGIN RAISE EXCEPTION '%s'; END$f$; "
                    "CREATE TRIGGER %s %s FOR EACH ROW%s EXECUTE FUNCTION %s_fn()",
                    name, message, name, event, cond, name);
    free(cond);
  } else {
    char *cond = when ? xasprintf(" WHEN %s", when) : xstrdup("");
    sql = xasprintf("CREATE TRIGGER %s %s%s BEGIN SELECT RAISE(ABORT, '%s'); END",
                    name, event, cond, message);
    free(cond);
  }
  th_sql_exec(sql);
  free(sql);
}

void th_sql_refuse_drop(const char *name, const char *table) {
  char *sql = th_on_pg()
                  ? xasprintf("DROP TRIGGER %s ON %s; DROP FUNCTION %s_fn()", name,
                              table, name)
                  : xasprintf("DROP TRIGGER %s", name);
  th_sql_exec(sql);
  free(sql);
}

char *th_db_snapshot(void) {
  static const char *const tables[] = {"accounts", "associations", "otps",
                                       "outbox", "requests"};
  struct buf b = {0};
  if (th_on_pg()) {
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
      char *sql = xasprintf("SELECT * FROM %s ORDER BY 1, 2", tables[t]);
      PGresult *r = pg_query("th_db_snapshot", sql);
      buf_appends(&b, tables[t]);
      buf_appends(&b, ":\n");
      for (int row = 0; row < PQntuples(r); row++) {
        for (int i = 0; i < PQnfields(r); i++) {
          buf_appends(&b, PQgetisnull(r, row, i) ? "NULL" : PQgetvalue(r, row, i));
          buf_appends(&b, "|");
        }
        buf_appends(&b, "\n");
      }
      PQclear(r);
      free(sql);
    }
    return b.data ? b.data : xstrdup("");
  }
  sqlite3 *db = th_open();
  for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
    char *sql = xasprintf("SELECT * FROM %s ORDER BY 1, 2", tables[t]);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
      abort();
    buf_appends(&b, tables[t]);
    buf_appends(&b, ":\n");
    while (sqlite3_step(st) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(st); i++) {
        const char *v = (const char *)sqlite3_column_text(st, i);
        buf_appends(&b, v ? v : "NULL");
        buf_appends(&b, "|");
      }
      buf_appends(&b, "\n");
    }
    sqlite3_finalize(st);
    free(sql);
  }
  sqlite3_close(db);
  return b.data ? b.data : xstrdup("");
}

static void th_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static struct conf *th_store_conf;

int th_schema_latest(void) {
  int v = 0;
  for (const struct store_migration *m = th_on_pg() ? store_pg_migrations
                                                    : store_migrations;
       m->sql; m++)
    v = m->version;
  return v;
}

struct store *th_store_open(void) {
  char err[512];
  if (th_store_conf == NULL &&
      (th_store_conf = conf_load(config_path, err, sizeof err)) == NULL) {
    fprintf(stderr, "th_store_open: %s\n", err);
    abort();
  }
  struct store *s = store_open(th_store_conf, false, err, sizeof err);
  if (s == NULL) {
    fprintf(stderr, "th_store_open: %s\n", err);
    abort();
  }
  return s;
}

void th_store_close(struct store *s) {
  store_close(s);
  conf_free(th_store_conf);
  th_store_conf = NULL;
}

/* The test's secrets (DIR/otp.key, as otpgate-admin init made it). */
static void th_keys(struct secret_keys *keys) {
  char err[512];
  char *path = th_path("otp.key");
  if (!secret_load(path, keys, err, sizeof err)) {
    fprintf(stderr, "th_keys: %s\n", err);
    abort();
  }
  free(path);
}

int64_t th_outbox_add(int n, const char *destination, const char *text,
                      size_t code_offset, size_t code_length,
                      int64_t expires_in_ms) {
  struct store *s = th_store_open();
  int64_t now = now_ms(), first = 0, id;
  struct secret_keys keys;
  unsigned char sealed[OTP_SEALED_MAX];
  char code[OTP_MAX_LENGTH + 1] = "";
  char *masked = xstrdup(text);
  th_keys(&keys);
  if (code_length > OTP_MAX_LENGTH || code_offset + code_length > strlen(text))
    abort();
  memcpy(code, text + code_offset, code_length);
  code[code_length] = '\0';
  memset(masked + code_offset, '*', code_length);
  struct store_outbox_new row = {
      .account_id = "acct-1",
      .destination = destination,
      .text = masked,
      .code_offset = code_offset,
      .code_length = code_length,
      .sealed = sealed,
      .sealed_len = otp_seal_code(secret_newest(&keys), code, sealed),
      .key_id = secret_newest(&keys)->id,
      .created_at = now,
      .expires_at = now + expires_in_ms,
  };
  if (store_begin_write(s) != STORE_OK)
    abort();
  for (int i = 0; i < n; i++) {
    if (store_outbox_insert(s, &row, &id) != STORE_OK) {
      fprintf(stderr, "th_outbox_add: %s\n", store_errmsg(s));
      abort();
    }
    if (i == 0)
      first = id;
  }
  if (store_commit(s) != STORE_OK)
    abort();
  th_store_close(s);
  free(masked);
  return first;
}

char *th_sms_text(int64_t id) {
  struct secret_keys keys;
  char code[OTP_MAX_LENGTH + 1];
  if (th_on_pg()) {
    char *text = NULL;
    th_keys(&keys);
    char *sql = xasprintf("SELECT text, code_offset, sealed_code, key_id FROM outbox "
                          "WHERE id = %lld OR %lld = 0 ORDER BY id DESC LIMIT 1",
                          (long long)id, (long long)id);
    PGresult *r = pg_query("th_sms_text", sql);
    free(sql);
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 2)) {
      size_t n = 0;
      unsigned char *sealed =
          PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 2), &n);
      const struct secret_key *key =
          secret_find(&keys, strtoll(PQgetvalue(r, 0, 3), NULL, 10));
      size_t off = (size_t)strtoll(PQgetvalue(r, 0, 1), NULL, 10);
      if (sealed && n > 0 && key && otp_open_code(key, sealed, n, code)) {
        text = xstrdup(PQgetvalue(r, 0, 0));
        memcpy(text + off, code, strlen(code));
      }
      PQfreemem(sealed);
    }
    PQclear(r);
    return text;
  }
  sqlite3 *db = th_open();
  sqlite3_stmt *st;
  char *text = NULL;
  th_keys(&keys);
  const char *sql = "SELECT text, code_offset, code_length, sealed_code, key_id "
                    "FROM outbox WHERE id = ?1 OR ?1 = 0 ORDER BY id DESC LIMIT 1";
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    abort();
  sqlite3_bind_int64(st, 1, id);
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 3) > 0) {
    const struct secret_key *key = secret_find(&keys, sqlite3_column_int64(st, 4));
    size_t off = (size_t)sqlite3_column_int64(st, 1);
    if (key && otp_open_code(key, sqlite3_column_blob(st, 3),
                             (size_t)sqlite3_column_bytes(st, 3), code)) {
      text = xstrdup((const char *)sqlite3_column_text(st, 0));
      memcpy(text + off, code, strlen(code));
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return text;
}

char *th_path(const char *name) { return xasprintf("%s/%s", th_tmpdir(), name); }

char *th_read_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return NULL;
  char *s = slurp(f);
  fclose(f);
  return s;
}

char *th_write_file(const char *name, const char *text, int mode) {
  char *path = th_path(name);
  FILE *f = fopen(path, "w");
  if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
    abort();
  chmod(path, (mode_t)mode);
  return path;
}

static int th_spawnv(const char *log, char *const argv[]) {
  char *logpath = th_path(log);
  pid_t parent = getpid();
  th_hand_over_tmpdir();
  pid_t pid = fork();
  if (pid < 0)
    abort();
  if (pid == 0) {
    th_become_unprivileged();
    /* Dies with the test: a failed assertion must not leave it running.
     * (Set after the change of user, which clears it.) */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null = open("/dev/null", O_RDONLY);
    if (fd < 0 || null < 0)
      _exit(127);
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  free(logpath);
  return pid;
}

int th_spawn(const char *log, const char *prog, ...) {
  char *argv[32];
  int argc = 0;
  va_list ap;
  argv[argc++] = (char *)prog;
  va_start(ap, prog);
  for (const char *a; argc < 31 && (a = va_arg(ap, const char *));)
    argv[argc++] = (char *)a;
  va_end(ap);
  argv[argc] = NULL;
  return th_spawnv(log, argv);
}

int th_sender_start(bool once) {
  char *built = xasprintf("%s/src/otpgate-sender", th_builddir());
  char *prog = th_runnable(built);
  free(built);
  int pid = th_spawn("sender.log", prog, "-c", config_path,
                     once ? "--once" : NULL, NULL);
  free(prog);
  return pid;
}

int th_wait_pid(int pid, int timeout_ms) {
  int status;
  for (int waited = 0;; waited += 5) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    if (r < 0 || waited >= timeout_ms)
      break;
    th_sleep_ms(5);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

int th_sender_once(void) {
  int status = th_wait_pid(th_sender_start(true), 20000);
  if (status == -1 || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

bool th_wait_sql(const char *sql, int64_t want, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    if (th_sql_int(sql) == want)
      return true;
    th_sleep_ms(10);
  }
  return false;
}

bool th_wait_file(const char *path, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    if (access(path, F_OK) == 0)
      return true;
    th_sleep_ms(5);
  }
  return false;
}

int th_http_stub_start(int *port) {
  char *source = xasprintf("%s/tests/http_stub.py", th_srcdir());
  char *script = th_runnable(source);
  free(source);
  char *portfile = th_path("http.port"), *logfile = th_path("http.log");
  int pid = th_spawn("http-stub.err", "/usr/bin/env", "python3", script,
                     portfile, logfile, NULL);
  char *text = NULL;
  if (th_wait_file(portfile, 10000)) {
    /* The stub writes the file under a temporary name, then renames it. */
    text = th_read_file(portfile);
  }
  if (text == NULL || (*port = atoi(text)) <= 0) {
    fprintf(stderr, "th_http_stub_start: the stub did not start\n");
    abort();
  }
  free(text);
  free(script);
  free(portfile);
  free(logfile);
  return pid;
}
