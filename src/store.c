#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "store_internal.h"
#include "store_schema.h"
#include "util.h"

const char *store_strerror(enum store_rc rc) {
  switch (rc) {
  case STORE_OK:
    return "ok";
  case STORE_NOT_FOUND:
    return "not found";
  case STORE_EXISTS:
    return "already exists";
  case STORE_BUSY:
    return "database busy";
  case STORE_ERROR:
    return "database error";
  }
  return "?";
}

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

int store_schema_version_latest(void) {
  int v = 0;
  for (const struct store_migration *m = store_migrations; m->sql; m++)
    v = m->version;
  return v;
}

static int store_user_version(struct store *s) {
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

struct store *store_open(const struct conf *conf, bool for_init, char *err,
                         size_t errsz) {
  struct store *s = xcalloc(1, sizeof *s);
  const char *path = conf->database.path;
  s->lock_fd = -1;
  s->busy_timeout_ms = conf->database.busy_timeout_ms;
  s->use_queue = conf->database.write_lock == WRITE_LOCK_QUEUE;
  s->lock_path = xasprintf("%s-lock", path);
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
           "PRAGMA foreign_keys=ON; PRAGMA trusted_schema=OFF;",
           conf->database.synchronous_full ? "FULL" : "NORMAL");
  if (sqlite3_exec(s->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
    snprintf(err, errsz, "%s: cannot set up the database: %s", path,
             sqlite3_errmsg(s->db));
    goto fail;
  }
  if (!for_init) {
    int v = store_user_version(s), want = store_schema_version_latest();
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
  store_close(s);
  return NULL;
}

void store_close(struct store *s) {
  if (s == NULL)
    return;
  for (int i = 0; i < s->ncache; i++)
    sqlite3_finalize(s->cache[i].stmt);
  sqlite3_close(s->db);
  if (s->lock_fd >= 0)
    close(s->lock_fd);
  free(s->lock_path);
  free(s);
}

const char *store_errmsg(struct store *s) {
  return s->commit_failure[0] ? s->commit_failure : sqlite3_errmsg(s->db);
}

sqlite3_stmt *store_stmt(struct store *s, const char *sql) {
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

enum store_rc store_exec_stmt(struct store *s, sqlite3_stmt *st) {
  int rc;
  if (st == NULL)
    return STORE_ERROR;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    ;
  enum store_rc r = store_rc_from(rc);
  sqlite3_reset(st);
  return r;
}

enum store_rc store_exec_write(struct store *s, sqlite3_stmt *st,
                               int64_t *changes) {
  bool own = sqlite3_get_autocommit(s->db);
  enum store_rc rc;
  if (st == NULL)
    return STORE_ERROR;
  if (own && (rc = store_begin_write(s)) != STORE_OK) {
    sqlite3_clear_bindings(st);
    return rc;
  }
  rc = store_exec_stmt(s, st);
  if (changes)
    *changes = rc == STORE_OK ? sqlite3_changes(s->db) : 0;
  if (own) {
    if (rc == STORE_OK)
      rc = store_commit(s);
    else
      store_rollback(s);
  }
  return rc;
}

enum store_rc store_rows(struct store *s, sqlite3_stmt *st, store_row_fn fn,
                         void *ctx) {
  int rc;
  if (st == NULL)
    return STORE_ERROR;
  int n = sqlite3_column_count(st);
  const char **names = xcalloc((size_t)n, sizeof *names);
  const char **values = xcalloc((size_t)n, sizeof *values);
  for (int i = 0; i < n; i++)
    names[i] = sqlite3_column_name(st, i);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int i = 0; i < n; i++)
      values[i] = (const char *)sqlite3_column_text(st, i);
    struct store_row row = {n, names, values};
    fn(&row, ctx);
  }
  free(names);
  free(values);
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

enum store_rc store_rows_at_least_one(struct store *s, sqlite3_stmt *st,
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

/* ---- the write queue ----
 *
 * SQLite's busy handler makes a writer that finds the database locked
 * sleep (1, 2, 5, 10 ... 100 ms) and try again: under load a writer can
 * lose the race again and again, and single requests wait seconds while
 * the average stays low. So writers first line up on an flock() of a lock
 * file beside the database: the kernel wakes a waiter the moment the
 * holder lets go, and BEGIN IMMEDIATE then finds SQLite's lock free.
 *
 * The queue only orders writers; SQLite's lock still guards the data, so
 * a program that does not queue (the sqlite3 shell, an older otpgate) is
 * still safe, and a lock file that cannot be opened only means waiting
 * SQLite's way. busy_timeout_ms bounds the wait in the queue as well: a
 * holder that is stopped (SIGSTOP) or stuck makes the others give up with
 * STORE_BUSY, never hang. A holder that dies releases the lock with its
 * file descriptor. */

static void store_queue_wakeup(int sig) { (void)sig; }

/* Opens the lock file on first use, with the database's permissions: owner
 * and group only, and owned like the database when we run as root (as
 * SQLite does for its -wal and -shm files). */
static int store_queue_fd(struct store *s) {
  if (s->lock_fd != -1)
    return s->lock_fd;
  mode_t old = umask(007);
  int fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0660);
  umask(old);
  if (fd < 0) /* flock() works on a descriptor open for reading only */
    fd = open(s->lock_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0 && geteuid() == 0) {
    struct stat db, lk;
    const char *path = sqlite3_db_filename(s->db, "main");
    if (path && stat(path, &db) == 0 && fstat(fd, &lk) == 0 &&
        (lk.st_uid != db.st_uid || lk.st_gid != db.st_gid) &&
        fchown(fd, db.st_uid, db.st_gid) != 0) {
      /* Not fatal: others may be unable to queue, and wait SQLite's way. */
    }
  }
  s->lock_fd = fd >= 0 ? fd : -2;
  return s->lock_fd;
}

/* Waits in the kernel's queue for the lock, at most timeout_ms. flock()
 * takes no timeout, so a timer aimed at this thread interrupts it: first
 * at the deadline, then every 2 ms in case the first signal came before
 * flock() started waiting. The handler does nothing; SIGALRM's previous
 * disposition and mask are restored before returning. */
static int store_queue_wait(int fd, long timeout_ms) {
  struct sigaction sa, old_sa;
  sigset_t alrm, old_mask;
  struct sigevent sev;
  timer_t timer;
  int rc = -1, err = 0;

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = store_queue_wakeup; /* no SA_RESTART: flock must return */
  sigemptyset(&sa.sa_mask);
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGALRM;
  sev._sigev_un._tid = gettid();
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0)
    return -1;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  sigaction(SIGALRM, &sa, &old_sa);
  sigprocmask(SIG_UNBLOCK, &alrm, &old_mask);
  struct itimerspec its = {
      .it_interval = {0, 2 * 1000 * 1000},
      .it_value = {timeout_ms / 1000, (timeout_ms % 1000) * 1000 * 1000},
  };
  int64_t deadline = monotonic_ms() + timeout_ms;
  if (timer_settime(timer, 0, &its, NULL) == 0) {
    for (;;) {
      if (flock(fd, LOCK_EX) == 0) {
        rc = 0;
        break;
      }
      err = errno;
      if (err != EINTR || monotonic_ms() >= deadline)
        break;
    }
  } else {
    err = errno;
  }
  timer_delete(timer);
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
  sigaction(SIGALRM, &old_sa, NULL);
  errno = err;
  return rc;
}

/* Takes this connection's turn in the write queue. False: the wait went
 * past busy_timeout_ms. Any other trouble with the lock file falls back to
 * SQLite's own waiting. */
static bool store_queue_enter(struct store *s) {
  if (!s->use_queue || s->in_queue)
    return true;
  int fd = store_queue_fd(s);
  if (fd < 0)
    return true;
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    s->in_queue = true;
    return true;
  }
  if (errno != EWOULDBLOCK)
    return true;
  if (s->busy_timeout_ms <= 0)
    return false;
  int64_t started = monotonic_ms();
  if (store_queue_wait(fd, s->busy_timeout_ms) == 0) {
    s->in_queue = true;
    /* What is left of the timeout is SQLite's, for BEGIN IMMEDIATE. */
    int64_t left = s->busy_timeout_ms - (monotonic_ms() - started);
    sqlite3_busy_timeout(s->db, left > 0 ? (int)left : 1);
    return true;
  }
  return errno != EINTR;
}

static void store_queue_leave(struct store *s) {
  if (!s->in_queue)
    return;
  s->in_queue = false;
  flock(s->lock_fd, LOCK_UN);
}

enum store_rc store_begin_write(struct store *s) {
  static const char sql[] = "BEGIN IMMEDIATE";
  s->commit_failure[0] = '\0';
  bool queued_before = s->in_queue;
  if (!store_queue_enter(s))
    return STORE_BUSY;
  enum store_rc rc = store_exec_stmt(s, store_stmt(s, sql));
  sqlite3_busy_timeout(s->db, (int)s->busy_timeout_ms);
  if (rc != STORE_OK && !queued_before)
    store_queue_leave(s);
  return rc;
}

enum store_rc store_commit(struct store *s) {
  static const char sql[] = "COMMIT";
  enum store_rc rc = store_exec_stmt(s, store_stmt(s, sql));
  if (rc != STORE_OK) {
    snprintf(s->commit_failure, sizeof s->commit_failure, "%s",
             sqlite3_errmsg(s->db));
    store_rollback(s);
  }
  store_queue_leave(s);
  return rc;
}

void store_rollback(struct store *s) {
  if (!sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  store_queue_leave(s);
}

enum store_rc store_migrate(struct store *s, int *from, int *to) {
  enum store_rc rc = store_begin_write(s);
  if (rc != STORE_OK)
    return rc;
  int v = store_user_version(s);
  if (v < 0) {
    store_rollback(s);
    return STORE_ERROR;
  }
  *from = v;
  if (v > store_schema_version_latest()) {
    /* A newer program made this file: leave it alone. */
    store_rollback(s);
    *to = v;
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
  *to = v;
  return store_commit(s);
fail:
  {
    /* Keep SQLite's message across the rollback. */
    enum store_rc r = store_rc_from(sqlite3_errcode(s->db));
    store_rollback(s);
    return r == STORE_OK ? STORE_ERROR : r;
  }
}
