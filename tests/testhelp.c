#include "config.h"

#include "testhelp.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "admin.h"
#include "util.h"

static char tmpdir[512];
static char config_path[600];
static char db_path[600];
static char *admin_out, *admin_err;

const char *th_builddir(void) {
  const char *d = getenv("OTPGATE_BUILDDIR");
  return d ? d : ".";
}

const char *th_srcdir(void) {
  const char *d = getenv("OTPGATE_SRCDIR");
  return d ? d : ".";
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

static void rm_rf(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0)
    return;
  if (S_ISDIR(sb.st_mode)) {
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      char *sub = xasprintf("%s/%s", path, e->d_name);
      rm_rf(sub);
      free(sub);
    }
    if (d)
      closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

void th_cleanup(void) {
  if (tmpdir[0] && !getenv("OTPGATE_KEEP_TMP"))
    rm_rf(tmpdir);
  tmpdir[0] = '\0';
  config_path[0] = db_path[0] = '\0';
}

const char *th_config(const char *extra) {
  const char *dir = th_tmpdir();
  snprintf(config_path, sizeof config_path, "%s/otpgate.conf", dir);
  snprintf(db_path, sizeof db_path, "%s/otpgate.db", dir);
  FILE *f = fopen(config_path, "w");
  if (f == NULL)
    abort();
  /* Sections may repeat in INI: extra adds keys to any of them. */
  fprintf(f,
          "[database]\npath = %s\nsynchronous = normal\n"
          "[otp]\nsecret_file = %s/otp.key\n"
          "[sender]\nwake_socket = %s/sender.sock\n"
          "[log]\nsyslog = no\n%s\n",
          db_path, dir, dir, extra ? extra : "");
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

int64_t th_sql_int(const char *sql) {
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

char *th_db_snapshot(void) {
  static const char *const tables[] = {"accounts", "associations", "otps",
                                       "outbox", "requests"};
  struct buf b = {0};
  sqlite3 *db = th_open();
  for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
    char *sql = xasprintf("SELECT * FROM %s ORDER BY rowid", tables[t]);
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
