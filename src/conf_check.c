#include "config.h"

#include "conf_check.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "payload.h"
#include "secret.h"
#include "store.h"
#include "transport.h"
#include "util.h"

struct checker {
  const struct conf *conf;
  FILE *out;
  int problems;
  char user[64]; /* who runs the test, for the messages */
};

static void say(struct checker *c, const char *kind, const char *fmt,
                va_list ap) {
  fprintf(c->out, "%s: ", kind);
  vfprintf(c->out, fmt, ap);
  fputc('\n', c->out);
}

static void ok(struct checker *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ok(struct checker *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say(c, "ok", fmt, ap);
  va_end(ap);
}

static void problem(struct checker *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(struct checker *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say(c, "problem", fmt, ap);
  va_end(ap);
  c->problems++;
}

static void note(struct checker *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(struct checker *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say(c, "note", fmt, ap);
  va_end(ap);
}

/* "OWNER:GROUP MODE" of path into buf; false (errno set) when it is not
 * there. */
static bool owned(const char *path, char *buf, size_t size) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    return false;
  const struct passwd *pw = getpwuid(sb.st_uid);
  char uid[16], gid[16];
  snprintf(uid, sizeof uid, "%u", (unsigned)sb.st_uid);
  const char *owner = pw ? pw->pw_name : uid;
  const struct group *gr = getgrgid(sb.st_gid);
  snprintf(gid, sizeof gid, "%u", (unsigned)sb.st_gid);
  snprintf(buf, size, "%s:%s %04o", owner, gr ? gr->gr_name : gid,
           (unsigned)(sb.st_mode & 07777));
  return true;
}

/* Whether the running user may do `how` (R_OK, W_OK, X_OK) to path. */
static bool may(const char *path, int how) {
  return faccessat(AT_FDCWD, path, how, AT_EACCESS) == 0;
}

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash == NULL   ? xstrdup(".")
         : slash == path ? xstrdup("/")
                         : xasprintf("%.*s", (int)(slash - path), path);
}

/* Who the checks are for: the running user. */
static void check_user(struct checker *c) {
  const struct passwd *pw = getpwuid(geteuid());
  if (pw)
    snprintf(c->user, sizeof c->user, "%s", pw->pw_name);
  else
    snprintf(c->user, sizeof c->user, "uid %u", (unsigned)geteuid());
  note(c, "checking as %s (uid %u, gid %u)", c->user, (unsigned)geteuid(),
       (unsigned)getegid());
  if (geteuid() == 0)
    note(c, "root may read and write anything: run the test as each "
            "program's user too (runuser -u otpgate -- otpgate-admin check; "
            "runuser -u www-data -- otpgate-fcgi -t)");
}

static void check_config_file(struct checker *c) {
  char who[96];
  struct stat sb;
  if (!owned(c->conf->file, who, sizeof who) || stat(c->conf->file, &sb) != 0)
    return; /* it was read: a file the defaults stand for, or gone since */
  ok(c, "config %s: %s", c->conf->file, who);
  if (sb.st_mode & S_IROTH)
    note(c, "config %s: others may read it, and it may hold a gateway's "
            "password (chmod 0640)",
         c->conf->file);
}

/* A file SQLite (-wal, -shm: read and write) or the write queue (-lock:
 * flock needs read only) keeps beside the database, if it is there. */
static void check_db_side_file(struct checker *c, const char *suffix,
                               bool write) {
  char *path = xasprintf("%s%s", c->conf->database.path, suffix), who[96];
  if (owned(path, who, sizeof who)) {
    if (may(path, write ? R_OK | W_OK : R_OK))
      ok(c, "database file %s: %s", path, who);
    else
      problem(c, "database file %s: %s: %s cannot %s it", path, who, c->user,
              write ? "read and write" : "read");
  }
  free(path);
}

/* The database's directory and files: SQLite makes its -wal and -shm files
 * beside the database, the write queue its -lock file. */
static bool check_database_files(struct checker *c) {
  const char *path = c->conf->database.path;
  char *dir = dir_of(path), who[96];
  bool usable = true;
  if (!owned(dir, who, sizeof who))
    problem(c, "database directory %s: %s", dir, strerror(errno));
  else if (!may(dir, W_OK | X_OK))
    problem(c, "database directory %s: %s: %s cannot make files in it (the "
               "database's -wal, -shm and -lock files go there)",
            dir, who, c->user);
  else
    ok(c, "database directory %s: %s", dir, who);
  if (!owned(path, who, sizeof who)) {
    problem(c, "database %s: %s (run 'otpgate-admin init')", path,
            strerror(errno));
    usable = false;
  } else if (!may(path, R_OK | W_OK)) {
    problem(c, "database %s: %s: %s cannot read and write it", path, who,
            c->user);
    usable = false;
  } else {
    ok(c, "database %s: %s", path, who);
  }
  check_db_side_file(c, "-wal", true);
  check_db_side_file(c, "-shm", true);
  check_db_side_file(c, "-lock", false);
  free(dir);
  return usable;
}

/* Opens it as the programs do (the schema version must be this program's)
 * and starts a write transaction, rolled back. */
static void check_database_open(struct checker *c) {
  char err[512];
  struct store *s = store_open(c->conf, false, err, sizeof err);
  if (s == NULL) {
    problem(c, "%s", err);
    return;
  }
  enum store_rc rc = store_begin_write(s);
  if (rc != STORE_OK)
    problem(c, "database %s: cannot start a write: %s: %s",
            conf_database_where(c->conf), store_strerror(rc),
            store_errmsg(s));
  else
    ok(c, "database %s: schema version %d, current; a write can start",
       conf_database_where(c->conf), store_schema_version_latest(s));
  if (rc == STORE_OK)
    store_rollback(s);
  store_close(s);
}

static void check_secret(struct checker *c) {
  const char *path = c->conf->otp.secret_file;
  char why[512], who[96];
  struct secret_keys keys;
  if (!secret_load(path, &keys, why, sizeof why)) {
    problem(c, "[otp] secret_file: %s", why);
    return;
  }
  ok(c, "secret %s: %d secret(s), %s", path, keys.n,
     owned(path, who, sizeof who) ? who : "?");
  secret_free(&keys);
}

static void key_line(void *ctx, bool warn, const char *text) {
  struct checker *c = ctx;
  if (warn)
    note(c, "pgp %s", text);
  else
    ok(c, "pgp %s", text);
}

/* The worker's payload layer: pgp keys load and pass the self-test. */
static void check_payload(struct checker *c) {
  char err[512];
  struct payload *p = payload_create(c->conf, err, sizeof err);
  if (p == NULL) {
    problem(c, "%s", err);
    return;
  }
  if (payload_is_sealed(p)) {
    ok(c, "[payload] format = pgp: the keys load and the self-test passes");
    payload_describe_keys(p, key_line, c);
  } else {
    note(c, "[payload] format = plain: requests and answers are plain JSON "
            "(Google seals them in production: format = pgp)");
  }
  payload_destroy(p);
}

/* The exec transport's program, the spool transport's directory. */
static void check_transport_paths(struct checker *c) {
  const struct conf *conf = c->conf;
  char who[96];
  if (conf->sender.transport == TRANSPORT_KIND_EXEC) {
    char *prog = xstrdup(conf->sender.exec_command);
    prog[strcspn(prog, " \t")] = '\0';
    if (owned(prog, who, sizeof who))
      ok(c, "[sender] exec_command %s: %s, %s may run it", prog, who,
         c->user);
    free(prog);
  } else if (conf->sender.transport == TRANSPORT_KIND_SPOOL) {
    const char *dir = conf->sender.spool_dir;
    if (!owned(dir, who, sizeof who))
      return;
    if (may(dir, W_OK | X_OK))
      ok(c, "[sender] spool_dir %s: %s, %s may write in it", dir, who,
         c->user);
    else
      problem(c, "[sender] spool_dir %s: %s: %s cannot write in it", dir,
              who, c->user);
  }
}

/* The sender's transport accepts its settings (what the sender checks at
 * start-up: a command it may run, a spool directory that is there). */
static void check_transport(struct checker *c) {
  char err[512];
  struct transport *t = transport_open(c->conf, err, sizeof err);
  if (t == NULL) {
    problem(c, "%s", err);
    return;
  }
  ok(c, "[sender] transport %s: its settings are accepted", transport_name(t));
  transport_close(t);
  check_transport_paths(c);
}

/* The wake-up socket: the sender binds it (it makes the file in its
 * directory), the workers send to it. */
static void check_wake_socket(struct checker *c, int who_checks) {
  const char *path = c->conf->sender.wake_socket;
  char who[96];
  if (path[0] == '\0') {
    note(c, "[sender] wake_socket is empty: the sender looks for work every "
            "poll_interval_ms");
    return;
  }
  char *dir = dir_of(path);
  if (!owned(dir, who, sizeof who))
    problem(c, "[sender] wake_socket %s: directory %s: %s", path, dir,
            strerror(errno));
  else if ((who_checks & CONF_CHECK_SENDER) && !may(dir, W_OK | X_OK))
    problem(c, "[sender] wake_socket %s: directory %s: %s: %s cannot make "
               "the socket in it",
            path, dir, who, c->user);
  else if (!may(dir, X_OK))
    problem(c, "[sender] wake_socket %s: directory %s: %s: %s cannot reach "
               "the socket",
            path, dir, who, c->user);
  else
    ok(c, "[sender] wake_socket directory %s: %s", dir, who);
  if (owned(path, who, sizeof who)) {
    if ((who_checks & CONF_CHECK_WORKER) && !may(path, W_OK))
      problem(c, "[sender] wake_socket %s: %s: %s cannot send to it", path,
              who, c->user);
    else
      ok(c, "[sender] wake_socket %s: %s", path, who);
  }
  free(dir);
}

int conf_check_run(const struct conf *conf, int who, FILE *out) {
  struct checker c = {.conf = conf, .out = out};
  check_user(&c);
  check_config_file(&c);
  /* PostgreSQL has no files here: connecting says all. */
  if (conf->database.driver == DATABASE_DRIVER_POSTGRESQL ||
      check_database_files(&c))
    check_database_open(&c);
  check_secret(&c);
  if (who & CONF_CHECK_WORKER)
    check_payload(&c);
  if (who & CONF_CHECK_SENDER)
    check_transport(&c);
  check_wake_socket(&c, who);
  if (c.problems == 0)
    fprintf(out, "all is well\n");
  else
    fprintf(out, "%d problem%s\n", c.problems, c.problems == 1 ? "" : "s");
  return c.problems;
}
