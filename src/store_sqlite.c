#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "store_schema.h"
#include "store_sqlite.h"
#include "util.h"

enum store_rc store_rc_from(int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_DONE:
  case SQLITE_ROW:
    return STORE_OK;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return STORE_BUSY;
  case SQLITE_CONSTRAINT:
    return STORE_EXISTS;
  default:
    return STORE_ERROR;
  }
}

int store_sqlite_schema_version_latest(struct store_sqlite *s) {
  (void)s;
  int v = 0;
  for (const struct store_migration *m = store_migrations; m->sql; m++)
    v = m->version;
  return v;
}

int store_sqlite_schema_version(struct store_sqlite *s) {
  sqlite3_stmt *st;
  int v = -1;
  if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) !=
      SQLITE_OK)
    return -1;
  if (sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return v;
}

struct store_sqlite *store_sqlite_open(const struct conf *conf, bool for_init,
                                       char *err, size_t errsz) {
  struct store_sqlite *s = xcalloc(1, sizeof *s);
  const char *path = conf->database.path;
  s->busy_timeout_ms = conf->database.busy_timeout_ms;
  store_queue_init(&s->queue, path,
                   conf->database.write_lock == WRITE_LOCK_QUEUE);
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  char pragmas[256];
  mode_t old_umask;

  if (for_init)
    flags |= SQLITE_OPEN_CREATE;
  /* The database, its WAL and its shared-memory file: owner and group only.
   * A new database is made here, mode 0660, rather than by SQLite (0644
   * minus the umask): SQLite gives the -wal and -shm files the database's
   * mode, and the workers and the sender, when they run as two users, share
   * all three through their group (an empty file is an empty database). */
  old_umask = umask(007);
  if (for_init && strcmp(path, ":memory:") != 0) {
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0660);
    if (fd >= 0)
      close(fd); /* else it exists, or SQLite says why it cannot be made */
  }
  int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
  umask(old_umask);
  if (rc != SQLITE_OK) {
    snprintf(err, errsz, "%s: cannot open the database: %s%s", path,
             s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
             for_init ? "" : " (run 'otpgate-admin init' first)");
    goto fail;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, (int)conf->database.busy_timeout_ms);
  snprintf(pragmas, sizeof pragmas,
           "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; "
           "PRAGMA foreign_keys=ON; PRAGMA trusted_schema=OFF; "
           "PRAGMA secure_delete=ON;",
           conf->database.synchronous == SYNCHRONOUS_FULL ? "FULL" : "NORMAL");
  if (sqlite3_exec(s->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
    snprintf(err, errsz, "%s: cannot set up the database: %s", path,
             sqlite3_errmsg(s->db));
    goto fail;
  }
  if (!for_init) {
    int v = store_sqlite_schema_version(s),
        want = store_sqlite_schema_version_latest(s);
    if (v > want) { /* init cannot help: it never migrates down */
      snprintf(err, errsz,
               "%s: schema version %d: the database was migrated by a newer "
               "otpgate (this one, %s, knows versions up to %d); run that "
               "version",
               path, v, PACKAGE_VERSION, want);
      goto fail;
    }
    if (v != want) {
      snprintf(err, errsz,
               "%s: schema version %d, this program needs %d (run "
               "'otpgate-admin init')",
               path, v, want);
      goto fail;
    }
  }
  return s;
fail:
  store_sqlite_close(s);
  return NULL;
}

void store_sqlite_close(struct store_sqlite *s) {
  if (s == NULL)
    return;
  for (int i = 0; i < s->ncache; i++)
    sqlite3_finalize(s->cache[i].stmt);
  sqlite3_close(s->db);
  store_queue_close(&s->queue);
  free(s);
}

const char *store_sqlite_errmsg(struct store_sqlite *s) {
  return s->commit_failure[0] ? s->commit_failure : sqlite3_errmsg(s->db);
}

sqlite3_stmt *store_stmt(struct store_sqlite *s, const char *sql) {
  for (int i = 0; i < s->ncache; i++)
    if (s->cache[i].sql == sql) {
      sqlite3_reset(s->cache[i].stmt);
      sqlite3_clear_bindings(s->cache[i].stmt);
      return s->cache[i].stmt;
    }
  sqlite3_stmt *st;
  if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
                         NULL) != SQLITE_OK)
    return NULL;
  if (s->ncache < STORE_STMT_CACHE) {
    s->cache[s->ncache].sql = sql;
    s->cache[s->ncache].stmt = st;
    s->ncache++;
  } else {
    /* Cannot happen with the fixed set of statements; keep it correct. */
    abort();
  }
  return st;
}

enum store_rc store_exec_stmt(struct store_sqlite *s, sqlite3_stmt *st) {
  int rc;
  if (st == NULL)
    return STORE_ERROR;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    ;
  enum store_rc r = store_rc_from(rc);
  sqlite3_reset(st);
  return r;
}

enum store_rc store_exec_write(struct store_sqlite *s, sqlite3_stmt *st,
                               int64_t *changes) {
  bool own = sqlite3_get_autocommit(s->db);
  enum store_rc rc;
  if (st == NULL)
    return STORE_ERROR;
  if (own && (rc = store_sqlite_begin_write(s)) != STORE_OK) {
    sqlite3_clear_bindings(st);
    return rc;
  }
  rc = store_exec_stmt(s, st);
  if (changes)
    *changes = rc == STORE_OK ? sqlite3_changes(s->db) : 0;
  if (own) {
    if (rc == STORE_OK)
      rc = store_sqlite_commit(s);
    else
      store_sqlite_rollback(s);
  }
  return rc;
}

enum store_rc store_write_row(struct store_sqlite *s, sqlite3_stmt *st) {
  int64_t changed;
  enum store_rc rc = store_exec_write(s, st, &changed);
  return rc == STORE_OK && changed == 0 ? STORE_NOT_FOUND : rc;
}

enum store_rc store_rows(struct store_sqlite *s, sqlite3_stmt *st,
                         store_row_fn fn, void *ctx) {
  int rc;
  if (st == NULL)
    return STORE_ERROR;
  int n = sqlite3_column_count(st);
  const char **names = xcalloc((size_t)n, sizeof *names);
  const char **values = xcalloc((size_t)n, sizeof *values);
  enum store_value_kind *kinds = xcalloc((size_t)n, sizeof *kinds);
  for (int i = 0; i < n; i++)
    names[i] = sqlite3_column_name(st, i);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int i = 0; i < n; i++) {
      int type = sqlite3_column_type(st, i);
      kinds[i] = type == SQLITE_INTEGER ? STORE_VALUE_INT
                 : type == SQLITE_FLOAT ? STORE_VALUE_REAL
                                        : STORE_VALUE_TEXT;
      values[i] = (const char *)sqlite3_column_text(st, i);
    }
    struct store_row row = {n, names, values, kinds};
    fn(&row, ctx);
  }
  free(names);
  free(values);
  free(kinds);
  enum store_rc r = store_rc_from(rc);
  sqlite3_reset(st);
  return r;
}

struct counting_fn {
  store_row_fn fn;
  void *ctx;
  int rows;
};

static void count_and_forward(const struct store_row *row, void *ctx) {
  struct counting_fn *c = ctx;
  c->rows++;
  c->fn(row, c->ctx);
}

enum store_rc store_rows_at_least_one(struct store_sqlite *s, sqlite3_stmt *st,
                                      store_row_fn fn, void *ctx) {
  struct counting_fn c = {fn, ctx, 0};
  enum store_rc rc = store_rows(s, st, count_and_forward, &c);
  return rc == STORE_OK && c.rows == 0 ? STORE_NOT_FOUND : rc;
}

void store_bind_text(sqlite3_stmt *st, int idx, const char *text) {
  if (text)
    sqlite3_bind_text(st, idx, text, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, idx);
}

enum store_rc store_one_row_rc(sqlite3_stmt *st, int rc) {
  sqlite3_reset(st);
  if (rc == SQLITE_ROW)
    return STORE_OK;
  return rc == SQLITE_DONE ? STORE_NOT_FOUND : store_rc_from(rc);
}

enum store_rc store_int_row(sqlite3_stmt *st, int64_t *out) {
  if (st == NULL)
    return STORE_ERROR;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? STORE_OK : store_rc_from(rc);
}

void store_column_blob(sqlite3_stmt *st, int col, void *out, size_t len) {
  if ((size_t)sqlite3_column_bytes(st, col) == len)
    memcpy(out, sqlite3_column_blob(st, col), len);
  else
    memset(out, 0, len);
}

void store_column_copy(sqlite3_stmt *st, int col, char *out, size_t outsz) {
  const char *t = (const char *)sqlite3_column_text(st, col);
  snprintf(out, outsz, "%s", t ? t : "");
}

enum store_rc store_sqlite_begin_write(struct store_sqlite *s) {
  static const char sql[] = "BEGIN IMMEDIATE";
  s->commit_failure[0] = '\0';
  bool queued_before = s->queue.held;
  long left = store_queue_enter(&s->queue, s->busy_timeout_ms);
  if (left < 0)
    return STORE_BUSY;
  sqlite3_busy_timeout(s->db, (int)left);
  enum store_rc rc = store_exec_stmt(s, store_stmt(s, sql));
  sqlite3_busy_timeout(s->db, (int)s->busy_timeout_ms);
  if (rc != STORE_OK && !queued_before)
    store_queue_leave(&s->queue);
  return rc;
}

enum store_rc store_sqlite_commit(struct store_sqlite *s) {
  static const char sql[] = "COMMIT";
  enum store_rc rc = store_exec_stmt(s, store_stmt(s, sql));
  if (rc != STORE_OK) {
    snprintf(s->commit_failure, sizeof s->commit_failure, "%s",
             sqlite3_errmsg(s->db));
    store_sqlite_rollback(s);
  }
  store_queue_leave(&s->queue);
  return rc;
}

void store_sqlite_rollback(struct store_sqlite *s) {
  if (!sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  store_queue_leave(&s->queue);
}

/* Whether PRAGMA foreign_key_check finds no violation. */
static bool store_foreign_keys_hold(struct store_sqlite *s) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL) !=
      SQLITE_OK)
    return false;
  bool ok = sqlite3_step(st) == SQLITE_DONE;
  sqlite3_finalize(st);
  return ok;
}

/* Applies the migrations newer than the file's version, in one
 * transaction. Foreign keys are off meanwhile (a migration may rebuild a
 * table others refer to, as SQLite's procedure for changing a table's
 * definition does) and checked before the commit. */
static enum store_rc store_apply_migrations(struct store_sqlite *s, int *from,
                                            int *to) {
  enum store_rc rc = store_sqlite_begin_write(s);
  if (rc != STORE_OK)
    return rc;
  int v = store_sqlite_schema_version(s);
  if (v < 0) {
    store_sqlite_rollback(s);
    return STORE_ERROR;
  }
  *from = *to = v;
  if (v > store_sqlite_schema_version_latest(s)) {
    /* A newer program made this file: leave it alone. */
    store_sqlite_rollback(s);
    return STORE_ERROR;
  }
  for (const struct store_migration *m = store_migrations; m->sql; m++) {
    if (m->version <= v)
      continue;
    char pragma[64];
    if (sqlite3_exec(s->db, m->sql, NULL, NULL, NULL) != SQLITE_OK)
      goto fail;
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", m->version);
    if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK)
      goto fail;
    v = m->version;
  }
  if (!store_foreign_keys_hold(s)) {
    snprintf(s->commit_failure, sizeof s->commit_failure,
             "a foreign key does not hold after the migration");
    store_sqlite_rollback(s);
    return STORE_ERROR;
  }
  *to = v;
  return store_sqlite_commit(s);
fail:
  /* Keep SQLite's message across the rollback. */
  snprintf(s->commit_failure, sizeof s->commit_failure, "%s",
           sqlite3_errmsg(s->db));
  rc = store_rc_from(sqlite3_errcode(s->db));
  store_sqlite_rollback(s);
  return rc == STORE_OK ? STORE_ERROR : rc;
}

enum store_rc store_sqlite_migrate(struct store_sqlite *s, int *from, int *to) {
  sqlite3_exec(s->db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL);
  enum store_rc rc = store_apply_migrations(s, from, to);
  sqlite3_exec(s->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
  return rc;
}

int store_sqlite_wake_fd(struct store_sqlite *s) {
  (void)s;
  return -1; /* wake.c's datagram wakes the sender on this machine */
}

bool store_sqlite_wake_drain(struct store_sqlite *s) {
  (void)s;
  return false;
}
