#include "config.h"

#include "admin.h"
#include "admin_internal.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <csv.h>
#include <json-c/json.h>

#include "conf.h"
#include "conf_check.h"
#include "secret.h"
#include "store.h"
#include "phone.h"
#include "util.h"

#define ADMIN_USAGE                                                            \
  "usage: otpgate-admin [-c PATH] [--json] COMMAND [ARGS]\n"                   \
  "       otpgate-admin -h | -V\n"                                              \
  "--json: for the commands that print rows (show, list, audit) and status\n"                    \
  "commands:\n"                                                                \
  "  init                                    create or migrate the database, create the secret\n" \
  "  account add ID [--phone +E164] [--status S]\n"                            \
  "  account set ID [--phone +E164 | --no-phone] [--status S]\n"               \
  "  account show ID\n"                                                        \
  "  account list\n"                                                           \
  "  account import [--update] FILE.csv      header id,phone,status; all rows or none;\n" \
  "                                          --update changes existing accounts\n" \
  "  account unlock ID                       end its lock and its failure count\n" \
  "  account delete ID [--force]             with its associations (--force: even\n" \
  "                                          with live codes, which it supersedes)\n" \
  "  association add ASSOCIATION_ID ACCOUNT_ID\n"                              \
  "  association revoke ASSOCIATION_ID\n"                                      \
  "  association list\n"                                                       \
  "  outbox list [--status S] [--since TIME] [--account ID] [--limit N]\n"  \
  "                                          TIME: ms since epoch, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ\n" \
  "  outbox cancel ID                        a queued SMS: failed, never sent\n" \
  "  outbox requeue ID                       a queued SMS waiting for a retry: due now\n" \
  "  outbox show ID\n"                                                         \
  "  otp show SEND_ID|REQUEST_ID             a send by its paymentIntegratorSendOtpId or\n" \
  "                                          sendOtp requestId: the code's row and its SMS\n" \
  "  otp list --account ID [--since TIME]\n"                                   \
  "  secret rotate                           add a new secret; older ones still verify\n" \
  "  check                                   test the configuration, the database, the\n" \
  "                                          secret, the transport and the paths as this\n" \
  "                                          user; exit 0 only when all is well\n" \
  "  pgp generate|list|check|seal|open       OpenPGP keys ('pgp --help')\n" \
  "  status [--max-queue-age S]              what to watch; exit 0 healthy, 1 not (the\n" \
  "                                          first line says why)\n" \
  "  audit [--since TIME]                    the operators' changes: who, what, when\n" \
  "  backup PATH                             online copy to a new 0600 file, checked\n" \
  "  copy --to OTHER.conf                    everything into the (new, empty) database\n" \
  "                                          OTHER.conf names, e.g. SQLite to PostgreSQL;\n" \
  "                                          the web server stopped\n"

static const char *const option_names[] = {
    "--json",  "--phone", "--no-phone",      "--status", "--account",
    "--since", "--force", "--limit",   "--max-queue-age", "--update",
    "--to"};

/* What each command takes; anything else is refused, named, so that an
 * option meant for another command is not silently ignored. A new command
 * needs its row. */
static const struct {
  const char *cmd, *sub; /* sub NULL: the command has none */
  unsigned takes;
} command_options[] = {
    {"init", NULL, 0},
    {"account", "add", OPT_PHONE | OPT_STATUS},
    {"account", "set", OPT_PHONE | OPT_NO_PHONE | OPT_STATUS},
    {"account", "show", OPT_JSON},
    {"account", "list", OPT_JSON},
    {"account", "import", OPT_UPDATE},
    {"account", "unlock", 0},
    {"account", "delete", OPT_FORCE},
    {"association", "add", 0},
    {"association", "revoke", 0},
    {"association", "list", OPT_JSON},
    {"outbox", "list", OPT_JSON | OPT_STATUS | OPT_SINCE | OPT_ACCOUNT | OPT_LIMIT},
    {"outbox", "cancel", 0},
    {"outbox", "requeue", 0},
    {"outbox", "show", OPT_JSON},
    {"otp", "show", OPT_JSON},
    {"otp", "list", OPT_JSON | OPT_ACCOUNT | OPT_SINCE},
    {"secret", "rotate", 0},
    {"check", NULL, 0},
    {"status", NULL, OPT_JSON | OPT_MAX_QUEUE_AGE},
    {"audit", NULL, OPT_JSON | OPT_SINCE},
    {"backup", NULL, 0},
    {"copy", NULL, OPT_TO},
};

/* The admin_usage text, with the statuses as the store spells them. */
static void print_usage(FILE *f) {
  char list[256];
  fputs(ADMIN_USAGE, f);
  fprintf(f, "statuses: account: %s\n",
          store_vocab_list(&store_account_statuses, list, sizeof list));
  fprintf(f, "          outbox: %s\n",
          store_vocab_list(&store_outbox_statuses, list, sizeof list));
}

int admin_usage(struct admin *a, const char *why) {
  if (why)
    fprintf(a->err, "otpgate-admin: %s\n", why);
  print_usage(a->err);
  return 2;
}

int admin_fail(struct admin *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int admin_fail(struct admin *a, const char *fmt, ...) {
  va_list ap;
  fprintf(a->err, "otpgate-admin: ");
  va_start(ap, fmt);
  vfprintf(a->err, fmt, ap);
  va_end(ap);
  fputc('\n', a->err);
  return 1;
}

/* Account IDs: 1 to 100 of A-Z a-z 0-9 . _ : @ -; association IDs the same
 * alphabet, up to 255. */
bool admin_id_valid(const char *id, size_t max) {
  size_t n = strlen(id);
  if (n == 0 || n > max)
    return false;
  for (const char *p = id; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
          (*p >= '0' && *p <= '9') || strchr("._:@-", *p)))
      return false;
  return true;
}

/* TIME: ms since the epoch, YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SSZ (UTC). */
bool admin_parse_time(const char *s, int64_t *out) {
  uint64_t ms;
  struct tm tm;
  const char *end;
  if (parse_u64(s, &ms) && ms <= INT64_MAX) {
    *out = (int64_t)ms;
    return true;
  }
  memset(&tm, 0, sizeof tm);
  end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == NULL || *end) {
    memset(&tm, 0, sizeof tm);
    end = strptime(s, "%Y-%m-%d", &tm);
    if (end == NULL || *end)
      return false;
  }
  *out = (int64_t)timegm(&tm) * 1000;
  return true;
}

bool admin_open_store(struct admin *a) {
  char err[512];
  a->store = store_open(a->conf, false, err, sizeof err);
  if (a->store == NULL) {
    fprintf(a->err, "otpgate-admin: %s\n", err);
    return false;
  }
  return true;
}

/* ---- printing rows: a JSON array, or an aligned table ---- */

/* A value as JSON: numbers as numbers, SQL NULL as null. */
static json_object *json_value(const struct store_row *row, int i) {
  const char *v = row->values[i];
  if (v == NULL)
    return NULL;
  switch (row->kinds[i]) {
  case STORE_VALUE_INT:
    return json_object_new_int64(strtoll(v, NULL, 10));
  case STORE_VALUE_REAL:
    return json_object_new_double(strtod(v, NULL));
  case STORE_VALUE_TEXT:
    break;
  }
  return json_object_new_string(v);
}

void admin_collect_row(const struct store_row *row, void *ctx) {
  json_object *arr = ctx, *obj = json_object_new_object();
  for (int i = 0; i < row->ncols; i++)
    json_object_object_add(obj, row->names[i], json_value(row, i));
  json_object_array_add(arr, obj);
}

void admin_print_rows(struct admin *a, json_object *arr, bool single) {
  size_t n = json_object_array_length(arr);
  if (a->json) {
    json_object *o = single ? json_object_array_get_idx(arr, 0) : arr;
    fprintf(a->out, "%s\n",
            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
    return;
  }
  if (n == 0)
    return;
  json_object *first = json_object_array_get_idx(arr, 0);
  if (single) {
    json_object_object_foreach(first, key, val) {
      const char *v = val ? json_object_get_string(val) : "-";
      fprintf(a->out, "%-20s %s\n", key, v);
    }
    return;
  }
  /* Column widths from the header and every value. */
  size_t ncols = (size_t)json_object_object_length(first), c = 0;
  size_t *w = xcalloc(ncols, sizeof *w);
  json_object_object_foreach(first, key0, val0) {
    (void)val0;
    w[c++] = strlen(key0);
  }
  for (size_t r = 0; r < n; r++) {
    c = 0;
    json_object_object_foreach(json_object_array_get_idx(arr, r), k, v) {
      (void)k;
      size_t len = v ? strlen(json_object_get_string(v)) : 1;
      if (len > w[c])
        w[c] = len;
      c++;
    }
  }
  c = 0;
  json_object_object_foreach(first, key1, val1) {
    (void)val1;
    fprintf(a->out, "%-*s%s", (int)w[c], key1, c + 1 < ncols ? "  " : "\n");
    c++;
  }
  for (size_t r = 0; r < n; r++) {
    c = 0;
    json_object_object_foreach(json_object_array_get_idx(arr, r), k, v) {
      (void)k;
      fprintf(a->out, "%-*s%s", (int)w[c], v ? json_object_get_string(v) : "-",
              c + 1 < ncols ? "  " : "\n");
      c++;
    }
  }
  free(w);
}

/* Collects a listing's rows and prints them (one row as a record when
 * single). Returns the store's answer. */
enum store_rc admin_print_listing(struct admin *a, enum store_rc rc,
                                   json_object *arr, bool single) {
  if (rc == STORE_OK)
    admin_print_rows(a, arr, single);
  json_object_put(arr);
  return rc;
}

/* ---- commands ---- */

static const char *group_name(gid_t gid, char *buf, size_t size) {
  const struct group *gr = getgrgid(gid);
  if (gr)
    return gr->gr_name;
  snprintf(buf, size, "%u", (unsigned)gid);
  return buf;
}

/* The README's layout: the workers run as the web server's user, the
 * sender as otpgate, and they share the database through a group. Each
 * writes the database, and whichever opens it first makes its -wal and
 * -shm files beside it, with the database's mode: the directory must let
 * the group make files (g+wx) and give them its group (setgid), and the
 * database must be group-writable (init makes a new one 0660). The workers
 * read the secret, which init makes 0640 and the database's group's: an
 * existing one must be readable by that group too. One user alone needs
 * none of this, so these are warnings, not refusals. */
static void init_check_sharing(struct admin *a, bool existed, mode_t old_mode) {
  const char *path = a->conf->database.path;
  const char *slash = strrchr(path, '/');
  char *dir = slash == NULL   ? xstrdup(".")
              : slash == path ? xstrdup("/")
                              : xasprintf("%.*s", (int)(slash - path), path);
  char gbuf[16];
  struct stat sb;
  if (stat(dir, &sb) == 0 && (sb.st_mode & (S_ISGID | S_IWGRP | S_IXGRP)) !=
                                 (S_ISGID | S_IWGRP | S_IXGRP))
    fprintf(a->err,
            "otpgate-admin: warning: %s: mode %04o, group %s: workers and a "
            "sender running as two users of that group cannot share the "
            "database (SQLite makes its -wal and -shm files here, under the "
            "directory's group only when it is setgid); for that layout: "
            "chmod 2770 %s\n",
            dir, (unsigned)(sb.st_mode & 07777),
            group_name(sb.st_gid, gbuf, sizeof gbuf), dir);
  if (existed && (old_mode & (S_IRGRP | S_IWGRP)) != (S_IRGRP | S_IWGRP) &&
      stat(path, &sb) == 0)
    fprintf(a->err,
            "otpgate-admin: warning: %s: mode %04o, group %s: the group "
            "cannot write it, so workers and a sender running as two users "
            "of that group cannot share it (sendOtp answers 503); for that "
            "layout: chmod 0660 %s (and its -wal and -shm files, if any)\n",
            path, (unsigned)(old_mode & 07777),
            group_name(sb.st_gid, gbuf, sizeof gbuf), path);
  const char *key = a->conf->otp.secret_file;
  struct stat ks;
  if (stat(path, &sb) == 0 && stat(key, &ks) == 0 &&
      (ks.st_gid != sb.st_gid || !(ks.st_mode & S_IRGRP))) {
    char kbuf[16];
    const char *g = group_name(sb.st_gid, gbuf, sizeof gbuf);
    fprintf(a->err,
            "otpgate-admin: warning: %s: mode %04o, group %s: workers "
            "running as another user of the database's group (%s) cannot "
            "read it; for that layout: chgrp %s %s && chmod 0640 %s\n",
            key, (unsigned)(ks.st_mode & 07777),
            group_name(ks.st_gid, kbuf, sizeof kbuf), g, g, key, key);
  }
  free(dir);
}

/* A database with a schema older than this program's is copied, checked,
 * before any migration touches it: a migration that goes wrong, or a
 * version that must be rolled back, then has its way back. */
static bool init_backup(struct admin *a, bool existed) {
  char path[PATH_MAX], err[PATH_MAX + 256];
  int v = existed ? store_schema_version(a->store) : 0;
  if (v <= 0 || v >= store_schema_version_latest(a->store))
    return true;
  if (!admin_backup_before_migration(a, v, path, sizeof path, err, sizeof err)) {
    admin_fail(a, "%s; nothing migrated", err);
    return false;
  }
  fprintf(a->out, "database %s: schema version %d backed up to %s\n",
          a->conf->database.path, v, path);
  return true;
}

static int cmd_init(struct admin *a) {
  char err[512];
  int from, to;
  bool created;
  struct stat old;
  /* PostgreSQL: no file to stat, share or copy (its migration is one
   * transaction; back it up with the server's tools). */
  bool sqlite = a->conf->database.driver == DATABASE_DRIVER_SQLITE;
  bool existed = sqlite && stat(a->conf->database.path, &old) == 0;
  a->store = store_open(a->conf, true, err, sizeof err);
  if (a->store == NULL) {
    fprintf(a->err, "otpgate-admin: %s\n", err);
    return 1;
  }
  if (!init_backup(a, existed))
    return 1;
  enum store_rc rc = store_migrate(a->store, &from, &to);
  if (rc != STORE_OK) {
    fprintf(a->err, "otpgate-admin: %s: cannot migrate the schema: %s (%s)\n",
            conf_database_where(a->conf), store_strerror(rc),
            from > store_schema_version_latest(a->store)
                ? "the database was migrated by a newer otpgate"
                : store_errmsg(a->store));
    return 1;
  }
  /* The secret goes to the database's group: the workers read it. */
  struct stat db;
  gid_t group = sqlite && stat(a->conf->database.path, &db) == 0
                    ? db.st_gid
                    : (gid_t)-1;
  if (!secret_create(a->conf->otp.secret_file, group, &created, err,
                     sizeof err)) {
    fprintf(a->err, "otpgate-admin: %s\n", err);
    return 1;
  }
  if (from == to)
    fprintf(a->out, "database %s: schema version %d, up to date\n",
            conf_database_where(a->conf), to);
  else
    fprintf(a->out, "database %s: schema version %d -> %d\n",
            conf_database_where(a->conf), from, to);
  struct stat ks;
  char gbuf[16];
  if (created && stat(a->conf->otp.secret_file, &ks) == 0)
    fprintf(a->out, "secret %s: created, mode %04o, group %s\n",
            a->conf->otp.secret_file, (unsigned)(ks.st_mode & 07777),
            group_name(ks.st_gid, gbuf, sizeof gbuf));
  else
    fprintf(a->out, "secret %s: %s\n", a->conf->otp.secret_file,
            created ? "created" : "exists");
  if (sqlite)
    init_check_sharing(a, existed, existed ? old.st_mode : 0);
  return 0;
}

/* A status word of the vocabulary v; otherwise says so, listing them. */
bool admin_parse_status(struct admin *a, const char *where,
                         const struct store_vocab *v, const char *word,
                         int *out) {
  char list[256];
  if (store_vocab_parse(v, word, out))
    return true;
  admin_fail(a, "%sbad status \"%s\": one of %s", where, word,
       store_vocab_list(v, list, sizeof list));
  return false;
}

/* The checks of every account write (add, set, each imported row): id
 * (NULL: not given), phone (NULL: none) and status (NULL: not given, *st
 * untouched). where prefixes the message ("FILE:LINE: " or ""). */
static bool check_account(struct admin *a, const char *where, const char *id,
                          const char *phone, const char *status,
                          enum account_status *st) {
  int v;
  if (id && !admin_id_valid(id, STORE_ID_MAX)) {
    admin_fail(a, "%sbad account ID \"%s\": 1 to 100 of A-Z a-z 0-9 . _ : @ -",
         where, id);
    return false;
  }
  if (phone && !phone_is_e164(phone)) {
    admin_fail(a, "%sbad phone number \"%s\": E.164 is '+' then 7 to 15 digits, "
            "the first not 0",
         where, phone);
    return false;
  }
  if (status) {
    if (!admin_parse_status(a, where, &store_account_statuses, status, &v))
      return false;
    *st = (enum account_status)v;
  }
  return true;
}

int admin_report_store(struct admin *a, enum store_rc rc, const char *what,
                        const char *id) {
  if (rc == STORE_OK)
    return 0;
  if (rc == STORE_NOT_FOUND)
    fprintf(a->err, "otpgate-admin: no %s \"%s\"\n", what, id);
  else if (rc == STORE_EXISTS)
    fprintf(a->err, "otpgate-admin: %s \"%s\": already exists or conflicts "
                    "(phone numbers are unique)\n", what, id);
  else
    fprintf(a->err, "otpgate-admin: %s \"%s\": %s: %s\n", what, id,
            store_strerror(rc), store_errmsg(a->store));
  return 1;
}

static int cmd_account_add(struct admin *a) {
  if (a->nargs != 3)
    return admin_usage(a, "account add takes one ID");
  const char *id = a->args[2];
  enum account_status status = ACCOUNT_ACTIVE;
  if (!check_account(a, "", id, a->phone, a->status, &status) ||
      !admin_open_store(a))
    return 1;
  if (admin_change_begin(a) != STORE_OK)
    return 1;
  enum store_rc rc = admin_change_end(
      a, store_account_add(a->store, id, a->phone, status, now_ms()),
      "account add", id, store_vocab_name(&store_account_statuses, status));
  if (rc == STORE_OK)
    fprintf(a->out, "account %s added\n", id);
  return admin_report_store(a, rc, "account", id);
}

static int cmd_account_set(struct admin *a) {
  if (a->nargs != 3)
    return admin_usage(a, "account set takes one ID");
  const char *id = a->args[2];
  if (a->phone_given && a->no_phone)
    return admin_usage(a, "--phone and --no-phone exclude each other");
  if (!a->phone_given && !a->no_phone && !a->status)
    return admin_usage(a, "account set needs --phone, --no-phone or --status");
  enum account_status status;
  if (!check_account(a, "", NULL, a->phone, a->status, &status) ||
      !admin_open_store(a))
    return 1;
  if (admin_change_begin(a) != STORE_OK)
    return 1;
  /* The audit says what changed, never the number. */
  char *detail = xasprintf("%s%s%s", a->no_phone ? "phone removed"
                                     : a->phone  ? "phone changed"
                                                 : "",
                           (a->no_phone || a->phone) && a->status ? ", " : "",
                           a->status ? a->status : "");
  enum store_rc rc = admin_change_end(
      a,
      store_account_update(a->store, id, a->phone_given || a->no_phone,
                           a->no_phone ? NULL : a->phone,
                           a->status ? &status : NULL, now_ms()),
      "account set", id, detail);
  free(detail);
  if (rc == STORE_OK)
    fprintf(a->out, "account %s updated\n", id);
  return admin_report_store(a, rc, "account", id);
}

static int cmd_account_show(struct admin *a) {
  if (a->nargs != 3)
    return admin_usage(a, "account show takes one ID");
  if (!admin_open_store(a))
    return 1;
  json_object *arr = json_object_new_array();
  enum store_rc rc = admin_print_listing(
      a, store_account_show(a->store, a->args[2], admin_collect_row, arr), arr, true);
  return admin_report_store(a, rc, "account", a->args[2]);
}

static int list_with(struct admin *a,
                     enum store_rc (*fn)(struct store *, store_row_fn, void *)) {
  if (a->nargs != 2)
    return admin_usage(a, "list takes no arguments");
  if (!admin_open_store(a))
    return 1;
  json_object *arr = json_object_new_array();
  enum store_rc rc = admin_print_listing(a, fn(a->store, admin_collect_row, arr), arr, false);
  return admin_report_store(a, rc, "listing", "");
}

/* An import's state as libcsv hands over fields and records. */
struct import {
  struct admin *a;
  const char *path;
  char *f[3];
  int nf;          /* fields of the record so far */
  bool bad_field;  /* a NUL byte in a field */
  long record;     /* 1: the header */
  bool ok;
  long added, updated;
  int64_t now;
};

static void import_field(void *text, size_t len, void *ctx) {
  struct import *im = ctx;
  if (im->nf < 3) {
    if (memchr(text, '\0', len))
      im->bad_field = true;
    im->f[im->nf] = xasprintf("%.*s", (int)len, (const char *)text);
  }
  im->nf++;
}

/* One account of the file: added, or with --update changed when it is
 * there (an empty phone removes it, an empty status keeps it). */
static bool import_account(struct import *im, const char *where) {
  struct admin *a = im->a;
  enum account_status status = ACCOUNT_ACTIVE;
  const char *phone = im->f[1][0] ? im->f[1] : NULL;
  const char *word = im->f[2][0] ? im->f[2] : NULL;
  if (!check_account(a, where, im->f[0], phone, word, &status))
    return false;
  enum store_rc rc = STORE_NOT_FOUND;
  if (a->update)
    rc = store_account_update(a->store, im->f[0], true, phone,
                              word ? &status : NULL, im->now);
  if (rc == STORE_OK)
    im->updated++;
  if (rc == STORE_NOT_FOUND &&
      (rc = store_account_add(a->store, im->f[0], phone, status, im->now)) ==
          STORE_OK)
    im->added++;
  if (rc != STORE_OK)
    admin_fail(a, "%saccount \"%s\": %s", where, im->f[0],
               rc == STORE_EXISTS ? (a->update ? "its phone is taken"
                                               : "already exists, or its "
                                                 "phone is taken (--update "
                                                 "changes it)")
                                  : store_errmsg(a->store));
  return rc == STORE_OK;
}

static void import_record(int end, void *ctx) {
  struct import *im = ctx;
  char where[PATH_MAX + 32];
  (void)end;
  im->record++;
  snprintf(where, sizeof where, "%s:%ld: ", im->path, im->record);
  if (!im->ok) {
  } else if (im->record == 1) {
    im->ok = im->nf == 3 && strcmp(im->f[0], "id") == 0 &&
             strcmp(im->f[1], "phone") == 0 && strcmp(im->f[2], "status") == 0;
    if (!im->ok)
      admin_fail(im->a, "%sthe header must be id,phone,status", where);
  } else if (im->nf != 3 || im->bad_field) {
    admin_fail(im->a, "%sneed three fields id,phone,status", where);
    im->ok = false;
  } else {
    im->ok = import_account(im, where);
  }
  for (int i = 0; i < 3; i++) {
    free(im->f[i]);
    im->f[i] = NULL;
  }
  im->nf = 0;
  im->bad_field = false;
}

/* Reads the whole file (RFC 4180: quoted fields, CRLF, a UTF-8 BOM) into
 * the open transaction; false at the first bad record (said on stderr).
 * Records are counted, not lines: they differ only when a quoted field
 * holds a line break, which no valid field does. */
static bool import_file(struct import *im, FILE *f) {
  struct csv_parser p;
  char buf[4096];
  size_t n, skip = 0;
  bool first = true, parsed = true;
  if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0)
    return admin_fail(im->a, "%s: cannot start the CSV parser", im->path) == 0;
  while (im->ok && parsed && (n = fread(buf, 1, sizeof buf, f)) > 0) {
    skip = first && n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    first = false;
    parsed = csv_parse(&p, buf + skip, n - skip, import_field, import_record,
                       im) == n - skip;
  }
  if (im->ok && parsed)
    parsed = csv_fini(&p, import_field, import_record, im) == 0;
  if (im->ok && !parsed) {
    admin_fail(im->a, "%s:%ld: %s", im->path, im->record + 1,
               csv_strerror(csv_error(&p)));
    im->ok = false;
  }
  csv_free(&p);
  for (int i = 0; i < 3; i++)
    free(im->f[i]);
  if (im->ok && im->record == 0) {
    admin_fail(im->a, "%s: empty file (need the header id,phone,status)",
               im->path);
    im->ok = false;
  }
  return im->ok;
}

static int cmd_account_import(struct admin *a) {
  if (a->nargs != 3)
    return admin_usage(a, "account import takes one FILE");
  const char *path = a->args[2];
  struct import im = {.a = a, .path = path, .ok = true, .now = now_ms()};
  char detail[96];
  int status = 1;
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return admin_fail(a, "%s: %s", path, strerror(errno));
  if (!admin_open_store(a) || admin_change_begin(a) != STORE_OK)
    goto out;
  if (!import_file(&im, f)) {
    store_rollback(a->store);
    admin_fail(a, "nothing imported");
    goto out;
  }
  snprintf(detail, sizeof detail, "%ld added, %ld updated", im.added,
           im.updated);
  enum store_rc rc = admin_change_end(a, STORE_OK, "account import", path, detail);
  if (rc != STORE_OK) {
    admin_report_store(a, rc, "database", conf_database_where(a->conf));
    goto out;
  }
  if (a->update)
    fprintf(a->out, "%ld accounts imported, %ld updated\n", im.added,
            im.updated);
  else
    fprintf(a->out, "%ld accounts imported\n", im.added);
  status = 0;
out:
  fclose(f);
  return status;
}

static int cmd_association(struct admin *a) {
  const char *sub = a->nargs > 1 ? a->args[1] : "";
  enum store_rc rc;
  if (strcmp(sub, "list") == 0)
    return list_with(a, store_association_list);
  if (strcmp(sub, "add") == 0) {
    if (a->nargs != 4)
      return admin_usage(a, "association add takes ASSOCIATION_ID ACCOUNT_ID");
    if (!admin_id_valid(a->args[2], STORE_ASSOCIATION_ID_MAX))
      return admin_fail(a, "bad association ID \"%s\": 1 to 255 of A-Z a-z 0-9 . _ : @ -",
                  a->args[2]);
    if (!admin_open_store(a))
      return 1;
    if (admin_change_begin(a) != STORE_OK)
      return 1;
    rc = admin_change_end(
        a, store_association_add(a->store, a->args[2], a->args[3], now_ms()),
        "association add", a->args[2], a->args[3]);
    if (rc == STORE_NOT_FOUND)
      return admin_report_store(a, rc, "account", a->args[3]);
    if (rc == STORE_OK)
      fprintf(a->out, "association %s -> account %s added\n", a->args[2],
              a->args[3]);
    return admin_report_store(a, rc, "association", a->args[2]);
  }
  if (strcmp(sub, "revoke") == 0) {
    if (a->nargs != 3)
      return admin_usage(a, "association revoke takes ASSOCIATION_ID");
    if (!admin_open_store(a))
      return 1;
    if (admin_change_begin(a) != STORE_OK)
      return 1;
    rc = admin_change_end(
        a, store_association_revoke(a->store, a->args[2], now_ms()),
        "association revoke", a->args[2], NULL);
    if (rc == STORE_OK)
      fprintf(a->out, "association %s revoked\n", a->args[2]);
    return admin_report_store(a, rc, "live association", a->args[2]);
  }
  return admin_usage(a, "association: add, revoke or list");
}

static int cmd_account(struct admin *a) {
  const char *sub = a->nargs > 1 ? a->args[1] : "";
  if (strcmp(sub, "add") == 0)
    return cmd_account_add(a);
  if (strcmp(sub, "set") == 0)
    return cmd_account_set(a);
  if (strcmp(sub, "show") == 0)
    return cmd_account_show(a);
  if (strcmp(sub, "list") == 0)
    return list_with(a, store_account_list);
  if (strcmp(sub, "import") == 0)
    return cmd_account_import(a);
  if (strcmp(sub, "unlock") == 0)
    return admin_cmd_account_unlock(a);
  if (strcmp(sub, "delete") == 0)
    return admin_cmd_account_delete(a);
  return admin_usage(a, "account: add, set, show, list, import, unlock or delete");
}

static int cmd_outbox(struct admin *a) {
  const char *sub = a->nargs > 1 ? a->args[1] : "";
  json_object *arr;
  enum store_rc rc;
  if (strcmp(sub, "list") == 0) {
    int64_t since = 0;
    int status = 0;
    if (a->nargs != 2)
      return admin_usage(a, "outbox list takes only options");
    if (a->status &&
        !admin_parse_status(a, "", &store_outbox_statuses, a->status, &status))
      return 1;
    if (a->since && !admin_parse_time(a->since, &since))
      return admin_fail(a, "bad --since \"%s\": ms since the epoch, YYYY-MM-DD or "
                     "YYYY-MM-DDTHH:MM:SSZ", a->since);
    uint64_t limit = 0;
    if (a->limit && (!parse_u64(a->limit, &limit) || limit == 0 ||
                     limit > INT64_MAX))
      return admin_fail(a, "bad --limit \"%s\": a number, 1 or more", a->limit);
    if (!admin_open_store(a))
      return 1;
    arr = json_object_new_array();
    enum outbox_status st = (enum outbox_status)status;
    rc = admin_print_listing(
        a,
        store_outbox_list(a->store, a->status ? &st : NULL, since, a->account,
                          (int64_t)limit, admin_collect_row, arr),
        arr, false);
    return admin_report_store(a, rc, "listing", "outbox");
  }
  if (strcmp(sub, "show") == 0) {
    uint64_t id;
    if (a->nargs != 3)
      return admin_usage(a, "outbox show takes one ID");
    if (!parse_u64(a->args[2], &id) || id > INT64_MAX)
      return admin_fail(a, "bad outbox ID \"%s\": a number", a->args[2]);
    if (!admin_open_store(a))
      return 1;
    arr = json_object_new_array();
    rc = admin_print_listing(
        a, store_outbox_show(a->store, (int64_t)id, admin_collect_row, arr), arr,
        true);
    return admin_report_store(a, rc, "outbox row", a->args[2]);
  }
  if (strcmp(sub, "cancel") == 0)
    return admin_cmd_outbox_cancel(a);
  if (strcmp(sub, "requeue") == 0)
    return admin_cmd_outbox_requeue(a);
  return admin_usage(a, "outbox: list, show, cancel or requeue");
}

/* otp show: the code's row, then its SMS rows (JSON: {"otp", "sms"}). */
static int cmd_otp_show(struct admin *a) {
  if (a->nargs != 3)
    return admin_usage(a, "otp show takes one SEND_ID or REQUEST_ID");
  if (!admin_open_store(a))
    return 1;
  const char *id = a->args[2];
  json_object *otp = json_object_new_array(), *sms = json_object_new_array();
  enum store_rc rc = store_otp_show(a->store, id, admin_collect_row, otp);
  if (rc == STORE_OK)
    rc = store_outbox_of_send(a->store, id, admin_collect_row, sms);
  if (rc == STORE_OK && a->json) {
    json_object *both = json_object_new_object();
    json_object_object_add(both, "otp",
                           json_object_get(json_object_array_get_idx(otp, 0)));
    json_object_object_add(both, "sms", json_object_get(sms));
    fprintf(a->out, "%s\n",
            json_object_to_json_string_ext(both, JSON_C_TO_STRING_PRETTY |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(both);
  } else if (rc == STORE_OK) {
    admin_print_rows(a, otp, true);
    fprintf(a->out, "\nsms:\n");
    admin_print_rows(a, sms, false);
  }
  json_object_put(otp);
  json_object_put(sms);
  return admin_report_store(a, rc, "send", id);
}

static int cmd_otp(struct admin *a) {
  const char *sub = a->nargs > 1 ? a->args[1] : "";
  if (strcmp(sub, "show") == 0)
    return cmd_otp_show(a);
  if (strcmp(sub, "list") == 0) {
    int64_t since = 0;
    if (a->nargs != 2 || a->account == NULL)
      return admin_usage(a, "otp list takes --account ID");
    if (a->since && !admin_parse_time(a->since, &since))
      return admin_fail(a, "bad --since \"%s\": ms since the epoch, YYYY-MM-DD or "
                     "YYYY-MM-DDTHH:MM:SSZ", a->since);
    if (!admin_open_store(a))
      return 1;
    json_object *arr = json_object_new_array();
    enum store_rc rc = admin_print_listing(
        a, store_otp_list(a->store, a->account, since, admin_collect_row, arr), arr,
        false);
    return admin_report_store(a, rc, "listing", "otps");
  }
  return admin_usage(a, "otp: show or list");
}

/* secret rotate: a new secret takes over new codes and records. */
static int cmd_secret(struct admin *a) {
  char err[512];
  int64_t id;
  if (a->nargs != 2 || strcmp(a->args[1], "rotate") != 0)
    return admin_usage(a, "secret: rotate");
  if (!secret_rotate(a->conf->otp.secret_file, &id, err, sizeof err))
    return admin_fail(a, "%s", err);
  fprintf(a->out,
          "secret %s: secret %lld added; new codes and records use it once "
          "the workers and the sender reload (older secrets still verify and "
          "replay what they keyed; remove a line only after [retention] "
          "requests_days)\n",
          a->conf->otp.secret_file, (long long)id);
  return 0;
}

/* check: what the worker and the sender need, as this user. */
static int cmd_check(struct admin *a) {
  if (a->nargs != 1)
    return admin_usage(a, "check takes no arguments");
  return conf_check_run(a->conf, CONF_CHECK_WORKER | CONF_CHECK_SENDER,
                        a->out) == 0
             ? 0
             : 1;
}

/* Refuses, naming it, the first option the command does not take; a
 * command without a row in command_options takes none (a new command
 * cannot silently ignore options). -1 when all belong. */
static int refuse_foreign_options(struct admin *a) {
  const char *cmd = a->args[0], *sub = a->nargs > 1 ? a->args[1] : "";
  unsigned takes = 0;
  bool has_sub = a->nargs > 1;
  for (size_t i = 0; i < sizeof command_options / sizeof command_options[0]; i++)
    if (strcmp(cmd, command_options[i].cmd) == 0 &&
        (!command_options[i].sub || strcmp(sub, command_options[i].sub) == 0)) {
      takes = command_options[i].takes;
      has_sub = command_options[i].sub != NULL;
      break;
    }
  unsigned foreign = a->given & ~takes;
  if (foreign == 0)
    return -1;
  int bit = 0;
  while (!(foreign & (1u << bit)))
    bit++;
  char *why = xasprintf("%s%s%s does not take %s", cmd, has_sub ? " " : "",
                        has_sub ? sub : "", option_names[bit]);
  int status = admin_usage(a, why);
  free(why);
  return status;
}

/* Takes the options out of argv, wherever they stand, leaving the words. */
static int parse_options(struct admin *a, int argc, char **argv) {
  a->args = xcalloc((size_t)argc + 1, sizeof *a->args);
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    bool has_next = i + 1 < argc;
    if (strcmp(o, "--json") == 0) {
      a->json = true;
      a->given |= OPT_JSON;
    } else if (strcmp(o, "--force") == 0) {
      a->force = true;
      a->given |= OPT_FORCE;
    } else if (strcmp(o, "--update") == 0) {
      a->update = true;
      a->given |= OPT_UPDATE;
    } else if (strcmp(o, "--limit") == 0) {
      if (!has_next)
        return admin_usage(a, "--limit needs a number");
      a->limit = argv[++i];
      a->given |= OPT_LIMIT;
    } else if (strcmp(o, "--to") == 0) {
      if (!has_next)
        return admin_usage(a, "--to needs the other configuration file");
      a->to = argv[++i];
      a->given |= OPT_TO;
    } else if (strcmp(o, "--max-queue-age") == 0) {
      if (!has_next)
        return admin_usage(a, "--max-queue-age needs seconds");
      a->max_queue_age = argv[++i];
      a->given |= OPT_MAX_QUEUE_AGE;
    } else if (strcmp(o, "--no-phone") == 0) {
      a->no_phone = true;
      a->given |= OPT_NO_PHONE;
    } else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
      print_usage(a->out);
      return 0;
    } else if (strcmp(o, "-V") == 0 || strcmp(o, "--version") == 0) {
      fprintf(a->out, "otpgate-admin %s\n", PACKAGE_VERSION);
      return 0;
    } else if (strcmp(o, "-c") == 0 || strcmp(o, "--config") == 0) {
      if (!has_next)
        return admin_usage(a, "-c needs a PATH");
      a->config_path = argv[++i];
    } else if (strcmp(o, "--phone") == 0) {
      if (!has_next)
        return admin_usage(a, "--phone needs a number");
      a->phone = argv[++i];
      a->phone_given = true;
      a->given |= OPT_PHONE;
    } else if (strcmp(o, "--status") == 0) {
      if (!has_next)
        return admin_usage(a, "--status needs a status");
      a->status = argv[++i];
      a->given |= OPT_STATUS;
    } else if (strcmp(o, "--account") == 0) {
      if (!has_next)
        return admin_usage(a, "--account needs an ID");
      a->account = argv[++i];
      a->given |= OPT_ACCOUNT;
    } else if (strcmp(o, "--since") == 0) {
      if (!has_next)
        return admin_usage(a, "--since needs a TIME");
      a->since = argv[++i];
      a->given |= OPT_SINCE;
    } else if (o[0] == '-' && o[1] != '\0') {
      char *why = xasprintf("unknown option %s", o);
      int status = admin_usage(a, why);
      free(why);
      return status;
    } else {
      a->args[a->nargs++] = argv[i];
    }
  }
  return -1;
}

/* The first word of the command line that is not an option (or an
 * option's value). */
static const char *first_word(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
      i++;
    else if (argv[i][0] != '-')
      return argv[i];
  }
  return "";
}

int admin_main(int argc, char **argv, FILE *out, FILE *err) {
  struct admin a = {.out = out, .err = err};
  if (strcmp(first_word(argc, argv), "pgp") == 0)
    return admin_pgp_main(argc, argv, out, err);
  char cerr[512];
  int status = parse_options(&a, argc, argv);
  if (status >= 0)
    goto out;
  if (a.nargs == 0) {
    status = admin_usage(&a, "no command");
    goto out;
  }
  if ((status = refuse_foreign_options(&a)) >= 0)
    goto out;
  const char *path = conf_resolve_path(a.config_path);
  a.conf = conf_load(path, cerr, sizeof cerr);
  if (a.conf == NULL) {
    fprintf(err, "otpgate-admin: %s\n", cerr);
    status = 1;
    goto out;
  }
  const char *cmd = a.args[0];
  if (strcmp(cmd, "init") == 0)
    status = a.nargs == 1 ? cmd_init(&a) : admin_usage(&a, "init takes no arguments");
  else if (strcmp(cmd, "account") == 0)
    status = cmd_account(&a);
  else if (strcmp(cmd, "association") == 0)
    status = cmd_association(&a);
  else if (strcmp(cmd, "outbox") == 0)
    status = cmd_outbox(&a);
  else if (strcmp(cmd, "otp") == 0)
    status = cmd_otp(&a);
  else if (strcmp(cmd, "secret") == 0)
    status = cmd_secret(&a);
  else if (strcmp(cmd, "check") == 0)
    status = cmd_check(&a);
  else if (strcmp(cmd, "status") == 0)
    status = admin_cmd_status(&a);
  else if (strcmp(cmd, "audit") == 0)
    status = admin_cmd_audit(&a);
  else if (strcmp(cmd, "backup") == 0)
    status = admin_cmd_backup(&a);
  else if (strcmp(cmd, "copy") == 0)
    status = admin_cmd_copy(&a);
  else
    status = admin_usage(&a, "unknown command");
out:
  store_close(a.store);
  conf_free(a.conf);
  free(a.args);
  fflush(out);
  return status;
}
