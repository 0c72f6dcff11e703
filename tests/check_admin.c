/* otpgate-admin: each command's effect on the rows; each bad argument
 * refused with nothing changed; import all or nothing. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "metrics.h"
#include "store.h"
#include "store_schema.h"
#include "testhelp.h"
#include "util.h"

static void setup(void) {
  th_config(NULL);
  ck_assert_int_eq(th_admin("init", NULL), 0);
}

static void teardown(void) { th_cleanup(); }

START_TEST(account_add_show_list) {
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", "+14035551111", NULL), 0);
  ck_assert_int_eq(th_admin("account", "add", "acct-2", "--status", "not_eligible", NULL), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts"), 2);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts WHERE id='acct-1' "
                              "AND phone='+14035551111' AND status='active'"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts WHERE id='acct-2' "
                              "AND phone IS NULL AND status='not_eligible'"), 1);
  ck_assert_int_eq(th_admin("account", "show", "acct-1", NULL), 0);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "+14035551111"));
  ck_assert_int_eq(th_admin("--json", "account", "list", NULL), 0);
  json_object *arr = json_tokener_parse(th_admin_out());
  ck_assert_ptr_nonnull(arr);
  ck_assert_int_eq(json_object_array_length(arr), 2);
  json_object *status;
  ck_assert(json_object_object_get_ex(json_object_array_get_idx(arr, 1), "status", &status));
  ck_assert_str_eq(json_object_get_string(status), "not_eligible");
  /* Numbers are JSON numbers, absent values null. */
  json_object *failures, *locked;
  ck_assert(json_object_object_get_ex(json_object_array_get_idx(arr, 1), "verify_failures",
                                      &failures));
  ck_assert(json_object_is_type(failures, json_type_int));
  ck_assert_int_eq(json_object_get_int(failures), 0);
  ck_assert(json_object_object_get_ex(json_object_array_get_idx(arr, 1), "locked_until",
                                      &locked));
  ck_assert_ptr_null(locked);
  json_object_put(arr);
  ck_assert_int_eq(th_admin("account", "show", "nobody", NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "nobody"));
}
END_TEST

START_TEST(account_set) {
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", "+14035551111", NULL), 0);
  ck_assert_int_eq(th_admin("account", "set", "acct-1", "--status", "closed_fraud", NULL), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts WHERE status='closed_fraud' "
                              "AND phone='+14035551111'"), 1);
  ck_assert_int_eq(th_admin("account", "set", "acct-1", "--no-phone", NULL), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts WHERE phone IS NULL"), 1);
  ck_assert_int_eq(th_admin("account", "set", "acct-1", "--phone", "+918067218010", NULL), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts WHERE phone='+918067218010'"), 1);
  ck_assert_int_eq(th_admin("account", "set", "ghost", "--status", "active", NULL), 1);
}
END_TEST

/* Each bad command line: exit status, a word of the message, no change. */
static const struct {
  const char *argv[8];
  int status;
  const char *says;
} bad[] = {
    {{"account", "add", "x1", "--phone", "14035551111"}, 1, "E.164"},
    {{"account", "add", "x1", "--phone", "+0123456789"}, 1, "E.164"},
    {{"account", "add", "x1", "--phone", "+140355"}, 1, "7 to 15 digits"},
    {{"account", "add", "x1", "--phone", "+1234567890123456"}, 1, "E.164"},
    {{"account", "add", "x1", "--phone", "+1 403 555 1111"}, 1, "E.164"},
    {{"account", "add", "x1", "--status", "frozen"}, 1, "bad status"},
    {{"account", "add", "bad id"}, 1, "bad account ID"},
    {{"account", "add", ""}, 1, "bad account ID"},
    {{"account", "add", "acct-1"}, 1, "already exists"},
    {{"account", "add", "x1", "--phone", "+14035551111"}, 1, "already exists"},
    {{"account", "add"}, 2, "one ID"},
    {{"account", "add", "x1", "--phone"}, 2, "--phone needs"},
    {{"account", "set", "acct-1"}, 2, "needs --phone"},
    {{"account", "set", "acct-1", "--phone", "+14035552222", "--no-phone"}, 2, "exclude"},
    {{"account", "set", "acct-1", "--status", "gone"}, 1, "bad status"},
    {{"account", "frobnicate"}, 2, "account:"},
    {{"association", "add", "assoc-9", "ghost"}, 1, "no account"},
    {{"association", "add", "assoc-1", "acct-1"}, 1, "already exists"},
    {{"association", "add", "bad assoc", "acct-1"}, 1, "bad association ID"},
    {{"association", "revoke", "ghost"}, 1, "ghost"},
    {{"outbox", "list", "--status", "lost"}, 1, "bad status"},
    {{"outbox", "list", "--since", "yesterday"}, 1, "bad --since"},
    {{"outbox", "show", "x"}, 1, "bad outbox ID"},
    {{"outbox", "show", "42"}, 1, "no outbox row"},
    {{"nonsense"}, 2, "unknown command"},
    {{"--bogus", "account", "list"}, 2, "unknown option --bogus"},
    /* An option of another command is refused, not ignored. */
    {{"account", "show", "acct-1", "--phone", "+14035559999"}, 2,
     "account show does not take --phone"},
    {{"outbox", "list", "--phone", "x"}, 2, "outbox list does not take --phone"},
    {{"association", "revoke", "assoc-1", "--status", "closed"}, 2,
     "association revoke does not take --status"},
    {{"account", "add", "x2", "--no-phone"}, 2, "account add does not take --no-phone"},
    {{"account", "add", "x2", "--since", "2024-01-01"}, 2, "account add does not take --since"},
    {{"account", "set", "acct-1", "--status", "closed", "--account", "a"}, 2,
     "account set does not take --account"},
    {{"account", "add", "x2", "--json"}, 2, "account add does not take --json"},
    {{"otp", "list", "--account", "acct-1", "--status", "sent"}, 2,
     "otp list does not take --status"},
    {{"association", "add", "assoc-2", "acct-1", "--phone", "+14035551111"}, 2,
     "association add does not take --phone"},
    {{"init", "--json"}, 2, "init does not take --json"},
    {{"secret", "rotate", "--since", "0"}, 2, "secret rotate does not take --since"},
    {{"check", "--json"}, 2, "check does not take --json"},
    {{"outbox", "purge", "--since", "0"}, 2, "outbox purge does not take --since"},
    {{"check", "now"}, 2, "check takes no arguments"},
    {{"account", "unlock", "acct-1", "--force"}, 2, "account unlock does not take --force"},
    {{"status", "--since", "0"}, 2, "status does not take --since"},
    {{"backup"}, 2, "backup takes one PATH"},
    {{"outbox", "cancel", "x"}, 1, "bad outbox ID"},
    {{"outbox", "requeue", "1", "--force"}, 2, "outbox requeue does not take --force"},
    {{"pgp", "list", "--key", "x"}, 2, "pgp list does not take --key"},
    {{"pgp", "generate", "--out", "d", "--key", "x"}, 2, "pgp generate does not take --key"},
    {{"pgp", "seal", "--key", "k", "--bits", "2048"}, 2, "pgp seal does not take --bits"},
};

START_TEST(bad_arguments_change_nothing) {
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", "+14035551111", NULL), 0);
  ck_assert_int_eq(th_admin("association", "add", "assoc-1", "acct-1", NULL), 0);
  char *before = th_db_snapshot();
  const char *const *a = bad[_i].argv;
  int rc = th_admin(a[0], a[1], a[2], a[3], a[4], a[5], a[6], NULL);
  ck_assert_int_eq(rc, bad[_i].status);
  ck_assert_msg(strstr(th_admin_err(), bad[_i].says) != NULL, "'%s' lacks '%s'",
                th_admin_err(), bad[_i].says);
  char *after = th_db_snapshot();
  ck_assert_str_eq(before, after);
  free(before);
  free(after);
}
END_TEST

/* Every program has -V. */
START_TEST(version) {
  ck_assert_int_eq(th_admin("-V", NULL), 0);
  ck_assert_str_eq(th_admin_out(), "otpgate-admin " PACKAGE_VERSION "\n");
  ck_assert_int_eq(th_admin("--version", NULL), 0);
  ck_assert_str_eq(th_admin_out(), "otpgate-admin " PACKAGE_VERSION "\n");
}
END_TEST

START_TEST(associations) {
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", "+14035551111", NULL), 0);
  ck_assert_int_eq(th_admin("association", "add", "assoc-1", "acct-1", NULL), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM associations WHERE id='assoc-1' "
                              "AND account_id='acct-1' AND revoked_at IS NULL"), 1);
  ck_assert_int_eq(th_admin("association", "list", NULL), 0);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "assoc-1"));
  ck_assert_int_eq(th_admin("association", "revoke", "assoc-1", NULL), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM associations WHERE revoked_at IS NOT NULL"), 1);
  /* Revoking twice: there is no live association left. */
  ck_assert_int_eq(th_admin("association", "revoke", "assoc-1", NULL), 1);
}
END_TEST

static void write_file(const char *name, const char *text) {
  char *path = xasprintf("%s/%s", th_tmpdir(), name);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  free(path);
}

START_TEST(import_all_or_nothing) {
  char *path = xasprintf("%s/a.csv", th_tmpdir());
  write_file("a.csv", "id,phone,status\nu1,+14035550001,active\nu2,,\n"
                      "u3,+14035550003,closed\n");
  ck_assert_int_eq(th_admin("account", "import", path, NULL), 0);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "3 accounts imported"));
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts"), 3);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts WHERE id='u2' AND phone IS NULL "
                              "AND status='active'"), 1);
  char *before = th_db_snapshot();
  static const struct {
    const char *text, *says;
  } cases[] = {
      {"id,phone,status\nu4,+14035550004,active\nu5,+1403,active\n", "a.csv:3: bad phone"},
      {"id,phone,status\nu4,+14035550004,active\nu5,,nope\n", "a.csv:3: bad status"},
      {"id,phone,status\nu4,+14035550004,active\nu1,,active\n", "a.csv:3: account \"u1\""},
      {"id,phone,status\nu4,+14035550004,active\nu5,+14035550004,active\n", "a.csv:3:"},
      {"id,phone,status\nu4,+14035550004\n", "a.csv:2: need three fields"},
      {"id,phone,status\nu4,,active,extra\n", "a.csv:2: need three fields"},
      {"id,phone,status\n\"u4,,active\n", "a.csv:2: "},
      {"phone,id,status\n", "a.csv:1: the header"},
      {"", "empty file"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_file("a.csv", cases[i].text);
    ck_assert_int_eq(th_admin("account", "import", path, NULL), 1);
    ck_assert_msg(strstr(th_admin_err(), cases[i].says) != NULL, "'%s' lacks '%s'",
                  th_admin_err(), cases[i].says);
    char *after = th_db_snapshot();
    ck_assert_str_eq(before, after);
    free(after);
  }
  free(before);
  free(path);
}
END_TEST

/* A real CSV: quoted fields, a UTF-8 BOM, CRLF; --update changes the
 * accounts that are there, still all rows or none. */
START_TEST(import_csv_and_update) {
  char *path = xasprintf("%s/a.csv", th_tmpdir());
  write_file("a.csv", "\xEF\xBB\xBFid,phone,status\r\n\"u1\",\"+14035550001\",active\r\n"
                      "\"u2\",,\"closed\"\r\n");
  ck_assert_int_eq(th_admin("account", "import", path, NULL), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts WHERE id='u1' AND "
                              "phone='+14035550001'"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts WHERE id='u2' AND "
                              "status='closed'"), 1);
  /* Without --update an existing account is refused; with it, changed. */
  write_file("a.csv", "id,phone,status\nu1,+14035550009,\nu3,,\n");
  ck_assert_int_eq(th_admin("account", "import", path, NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "--update"));
  ck_assert_int_eq(th_admin("account", "import", "--update", path, NULL), 0);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "1 accounts imported, 1 updated"));
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts WHERE id='u1' AND "
                              "phone='+14035550009' AND status='active'"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts"), 3);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM admin_audit WHERE action = "
                              "'account import' AND detail = '1 added, 1 updated'"), 1);
  /* A bad row after a good update: nothing changes. */
  char *before = th_db_snapshot();
  write_file("a.csv", "id,phone,status\nu1,+14035550007,\nu2,,frozen\n");
  ck_assert_int_eq(th_admin("account", "import", "--update", path, NULL), 1);
  char *after = th_db_snapshot();
  ck_assert_str_eq(before, after);
  free(before);
  free(after);
  free(path);
}
END_TEST

/* The README's layout: the workers (the web server's user) and the sender
 * (otpgate) write one database through their shared group. init makes it
 * 0660 whatever the umask, and SQLite gives its -wal the same mode; the
 * secret, which the workers read, is the database's group's, 0640. init
 * warns, naming the path, about a directory, an older database or an
 * older secret that would stop them. */
START_TEST(init_makes_the_database_group_writable) {
  struct stat sb, key;
  char *wal = xasprintf("%s-wal", th_db_path());
  char *key_path = xasprintf("%s/otp.key", th_tmpdir());
  ck_assert_int_eq(stat(th_db_path(), &sb), 0);
  ck_assert_int_eq(sb.st_mode & 07777, 0660);
  ck_assert_int_eq(stat(key_path, &key), 0);
  ck_assert_int_eq(key.st_mode & 07777, 0640);
  ck_assert_int_eq(key.st_gid, sb.st_gid);
  /* The test directory is mkdtemp()'s 0700. */
  ck_assert_ptr_nonnull(strstr(th_admin_err(), th_tmpdir()));
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "chmod 2770"));
  /* Group-writable and setgid: nothing to say. */
  ck_assert_int_eq(chmod(th_tmpdir(), 02770), 0);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  ck_assert_str_eq(th_admin_err(), "");
  /* Made new under a tight umask: still 0660, and so is its -wal. */
  ck_assert_int_eq(unlink(th_db_path()), 0);
  mode_t old_umask = umask(077);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  ck_assert_int_eq(stat(th_db_path(), &sb), 0);
  ck_assert_int_eq(sb.st_mode & 07777, 0660);
  struct store *s = th_store_open();
  ck_assert_int_eq(stat(wal, &sb), 0);
  ck_assert_int_eq(sb.st_mode & 07777, 0660);
  th_store_close(s);
  umask(old_umask);
  /* A database and a secret made by an older init (0640, 0600). */
  ck_assert_int_eq(chmod(th_db_path(), 0640), 0);
  ck_assert_int_eq(chmod(key_path, 0600), 0);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), th_db_path()));
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "chmod 0660"));
  ck_assert_ptr_nonnull(strstr(th_admin_err(), key_path));
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "chmod 0640"));
  free(key_path);
  free(wal);
}
END_TEST

START_TEST(bad_config_stops_with_key) {
  th_config("[otp]\nlength = 4\n");
  ck_assert_int_eq(th_admin("account", "list", NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "[otp] length"));
}
END_TEST

/* Support staff quote a paymentIntegratorSendOtpId (or the requestId):
 * otp show finds the code's row and its SMS, otp list an account's codes. */
START_TEST(otp_show_and_list) {
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", "+14035551111", NULL), 0);
  struct store *s = th_store_open();
  int64_t now = now_ms();
  struct store_otp otp = {.request_id = "req-1", .send_otp_id = "0123abcd0123abcd",
                          .account_id = "acct-1", .key_id = 1,
                          .created_at = now, .expires_at = now + 300000};
  ck_assert_int_eq(store_otp_insert(s, &otp), STORE_OK);
  struct store_outbox_new row = {.otp_id = otp.id, .account_id = "acct-1",
                                 .destination = "+14035551111",
                                 .text = "code ******", .code_offset = 5,
                                 .code_length = 6, .key_id = 1,
                                 .created_at = now, .expires_at = now + 300000};
  ck_assert_int_eq(store_outbox_insert(s, &row, NULL), STORE_OK);
  th_store_close(s);
  const char *ids[] = {"0123abcd0123abcd", "req-1"};
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(th_admin("otp", "show", ids[i], NULL), 0);
    ck_assert_ptr_nonnull(strstr(th_admin_out(), "req-1"));
    ck_assert_ptr_nonnull(strstr(th_admin_out(), "0123abcd0123abcd"));
    ck_assert_ptr_nonnull(strstr(th_admin_out(), "+*******1111"));
    ck_assert_ptr_nonnull(strstr(th_admin_out(), "queued"));
  }
  ck_assert_int_eq(th_admin("--json", "otp", "show", "0123abcd0123abcd", NULL), 0);
  json_object *o = json_tokener_parse(th_admin_out()), *otp_o, *sms, *v;
  ck_assert_ptr_nonnull(o);
  ck_assert(json_object_object_get_ex(o, "otp", &otp_o));
  ck_assert(json_object_object_get_ex(otp_o, "request_id", &v));
  ck_assert_str_eq(json_object_get_string(v), "req-1");
  ck_assert(json_object_object_get_ex(o, "sms", &sms));
  ck_assert_int_eq(json_object_array_length(sms), 1);
  json_object_put(o);
  ck_assert_int_eq(th_admin("otp", "show", "nope", NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "no send \"nope\""));
  ck_assert_int_eq(th_admin("otp", "list", "--account", "acct-1", NULL), 0);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "req-1"));
  ck_assert_int_eq(th_admin("otp", "list", "--account", "acct-2", NULL), 0);
  ck_assert_ptr_null(strstr(th_admin_out(), "req-1"));
  ck_assert_int_eq(th_admin("otp", "list", NULL), 2);
}
END_TEST

START_TEST(secret_rotate_command) {
  char *key = th_path("otp.key");
  ck_assert_int_eq(th_admin("secret", "rotate", NULL), 0);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "secret 2 added"));
  char *text = th_read_file(key);
  ck_assert_int_eq(strncmp(text, "1:", 2), 0);
  ck_assert_ptr_nonnull(strstr(text, "\n2:"));
  free(text);
  ck_assert_int_eq(th_admin("secret", "spin", NULL), 2);
  free(key);
}
END_TEST

/* ---- check: the configuration test ---- */

/* The test configuration with a spool directory that is there. */
static void config_for_check(const char *extra) {
  char *spool = th_path("spool");
  char *text = xasprintf("[sender]\ntransport = spool\nspool_dir = %s\n%s", spool,
                         extra ? extra : "");
  th_config(text);
  ck_assert_int_eq(mkdir(spool, 0770), 0);
  free(text);
  free(spool);
}

static int count_lines(const char *text, const char *prefix) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, prefix)) != NULL; p++)
    n += p == text || p[-1] == '\n';
  return n;
}

/* A password in [database] conninfo is refused before anything connects,
 * and no message repeats it: neither otpgate's refusal nor libpq's parse
 * error, which quotes the string it could not read. */
START_TEST(conninfo_password_refused_unsaid) {
  static const char *const conninfos[] = {
      "host=/nonexistent dbname=otpgate password=s3cretpw",
      "postgresql://otpgate:s3cretpw@db1/otpgate",
      "postgresql://otpgate:s3cretpw%ZZ@db1/otpgate", /* cannot be parsed */
      "host=/nonexistent password='s3cretpw", /* an unclosed quote */
  };
  char *key = th_path("otp.key");
  for (size_t i = 0; i < sizeof conninfos / sizeof *conninfos; i++) {
    char *text = xasprintf("[database]\ndriver = postgresql\nconninfo = %s\n"
                           "[otp]\nsecret_file = %s\n[log]\nsyslog = no\n",
                           conninfos[i], key);
    char *conf = th_write_file("pw.conf", text, 0600);
    ck_assert_int_eq(th_admin("-c", conf, "account", "list", NULL), 1);
    ck_assert_ptr_nonnull(strstr(th_admin_err(), "[database] conninfo"));
    ck_assert_ptr_nonnull(strstr(th_admin_err(), i < 2 ? "must not hold a password"
                                                       : "cannot be parsed"));
    ck_assert_ptr_null(strstr(th_admin_err(), "s3cretpw"));
    ck_assert_ptr_null(strstr(th_admin_out(), "s3cretpw"));
    ck_assert_int_eq(th_admin("-c", conf, "check", NULL), 1);
    ck_assert_ptr_nonnull(strstr(th_admin_out(), "[database] conninfo"));
    ck_assert_ptr_null(strstr(th_admin_out(), "s3cretpw"));
    ck_assert_ptr_null(strstr(th_admin_err(), "s3cretpw"));
    free(conf);
    free(text);
  }
  free(key);
}
END_TEST

START_TEST(check_all_is_well) {
  config_for_check(NULL);
  ck_assert_int_eq(th_admin("check", NULL), 0);
  const char *out = th_admin_out();
  ck_assert_msg(count_lines(out, "problem: ") == 0, "%s", out);
  char *want = xasprintf("ok: database %s: schema version %d, current", th_db_where(),
                         th_schema_latest());
  ck_assert_msg(strstr(out, want) != NULL, "%s", out);
  ck_assert_ptr_nonnull(strstr(out, "ok: secret "));
  ck_assert_ptr_nonnull(strstr(out, "ok: [sender] transport spool"));
  ck_assert_ptr_nonnull(strstr(out, "ok: [sender] wake_socket directory "));
  ck_assert_ptr_nonnull(strstr(out, "note: checking as "));
  /* Who owns what: "OWNER:GROUP MODE" (the database file: SQLite's). */
  if (!th_on_pg())
    ck_assert_ptr_nonnull(strstr(out, " 0660\n"));
  size_t n = strlen(out);
  ck_assert_str_eq(out + n - strlen("all is well\n"), "all is well\n");
  free(want);
}
END_TEST

/* Every problem, not only the first: a database a newer otpgate migrated,
 * a secret others may read, a spool directory and a wake socket directory
 * that are not there, an exec command that cannot run. */
START_TEST(check_reports_every_problem) {
  config_for_check(NULL);
  th_schema_version_set(99);
  char *key = th_path("otp.key"), *spool = th_path("spool");
  ck_assert_int_eq(chmod(key, 0644), 0);
  ck_assert_int_eq(rmdir(spool), 0);
  char *extra = xasprintf("[sender]\nwake_socket = %s/gone/sender.sock\n", th_tmpdir());
  char *conf = th_read_file(th_config_path());
  /* The configuration again, its wake socket moved. */
  char *at = strstr(conf, "wake_socket = ");
  ck_assert_ptr_nonnull(at);
  *at = ';';
  FILE *f = fopen(th_config_path(), "w");
  fprintf(f, "%s%s", conf, extra);
  fclose(f);
  ck_assert_int_eq(th_admin("check", NULL), 1);
  const char *out = th_admin_out();
  ck_assert_msg(count_lines(out, "problem: ") == 4, "%s", out);
  ck_assert_ptr_nonnull(strstr(out, "schema version 99: the database was migrated by a newer otpgate"));
  ck_assert_ptr_nonnull(strstr(out, "problem: [otp] secret_file: "));
  ck_assert_ptr_nonnull(strstr(out, "[sender] spool_dir: "));
  ck_assert_ptr_nonnull(strstr(out, "problem: [sender] wake_socket "));
  ck_assert_ptr_nonnull(strstr(out, "\n4 problems\n"));
  free(conf);
  free(extra);
  free(spool);
  free(key);
}
END_TEST

START_TEST(check_exec_command_and_missing_database) {
  char *gw = th_write_file("gw.sh", "#!/bin/sh\nexit 0\n", 0644); /* not runnable */
  char *extra = xasprintf("[sender]\ntransport = exec\nexec_command = %s --flag\n", gw);
  th_config(extra);
  th_db_remove();
  ck_assert_int_eq(th_admin("check", NULL), 1);
  const char *out = th_admin_out();
  char *want = th_on_pg() ? xasprintf("schema version 0, this program needs %d (run "
                                      "'otpgate-admin init')", th_schema_latest())
                          : xasprintf("problem: database %s: No such file or directory (run "
                                      "'otpgate-admin init')", th_db_path());
  ck_assert_msg(strstr(out, want) != NULL, "%s", out);
  ck_assert_msg(strstr(out, "[sender] exec_command: ") != NULL, "%s", out);
  ck_assert_int_eq(count_lines(out, "problem: "), 2);
  /* Runnable: that problem is gone, and who owns the program is said. */
  ck_assert_int_eq(chmod(gw, 0755), 0);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  ck_assert_int_eq(th_admin("check", NULL), 0);
  free(want);
  want = xasprintf("ok: [sender] exec_command %s: ", gw);
  ck_assert_msg(strstr(th_admin_out(), want) != NULL, "%s", th_admin_out());
  free(want);
  free(extra);
  free(gw);
}
END_TEST

/* ---- operating: status, steering, audit, backup ---- */

static void sql_exec(const char *sql) { th_sql_exec(sql); }

/* A sender's heartbeat now, with failures in a row ending now. */
static void heartbeat(int64_t failures) {
  struct store *s = th_store_open();
  int64_t now = now_ms();
  struct store_sender_beat b = {.owner = "host:1:1", .pid = 1, .started_at = now,
                                .now = now, .failures = failures,
                                .failed_at = failures ? now : 0};
  ck_assert_int_eq(store_sender_heartbeat(s, &b), STORE_OK);
  th_store_close(s);
}

static json_object *json_path(json_object *o, const char *a, const char *b) {
  json_object *v = NULL;
  ck_assert_msg(json_object_object_get_ex(o, a, &v), "no %s", a);
  if (b)
    ck_assert_msg(json_object_object_get_ex(v, b, &v), "no %s.%s", a, b);
  return v;
}

/* Exit 0 when healthy, 1 with the reason on the first line: no sender, a
 * breaker open, a queued SMS too old. */
START_TEST(status_says_why) {
  ck_assert_int_eq(th_admin("status", NULL), 1);
  ck_assert_msg(strncmp(th_admin_out(), "UNHEALTHY: no live sender\n", 26) == 0, "%s",
                th_admin_out());
  heartbeat(0);
  ck_assert_int_eq(th_admin("status", NULL), 0);
  ck_assert_msg(strncmp(th_admin_out(), "OK\n", 3) == 0, "%s", th_admin_out());
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "senders[0].breaker closed\n"));
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "secret_expires never"));
  heartbeat(5);
  ck_assert_int_eq(th_admin("status", NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "UNHEALTHY: breaker open"));
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "senders[0].breaker open\n"));
  heartbeat(0);
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", "+14035551111", NULL), 0);
  int64_t id = th_outbox_add(1, "+14035551111", "code 123456", 5, 6, 600000);
  char *sql = xasprintf("UPDATE outbox SET created_at = created_at - 120000 WHERE id = %lld",
                        (long long)id);
  sql_exec(sql);
  free(sql);
  ck_assert_int_eq(th_admin("status", NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "UNHEALTHY: oldest queued SMS is 120 s old"));
  ck_assert_int_eq(th_admin("status", "--max-queue-age", "300", NULL), 0);
  ck_assert_int_eq(th_admin("status", "--max-queue-age", "soon", NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "bad --max-queue-age"));
}
END_TEST

/* --json: numbers as numbers; outcomes by status over the last minute and
 * hour; codes of the last hour; the caps' refusals from the metrics file. */
START_TEST(status_json) {
  heartbeat(0);
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", "+14035551111", NULL), 0);
  th_outbox_add(2, "+14035551111", "code 123456", 5, 6, 600000);
  int64_t now = now_ms();
  char *blob = th_sql_blob("00");
  char *sql = xasprintf(
      "UPDATE outbox SET status = 'sent', sealed_code = NULL, sent_at = %lld, "
      "updated_at = %lld WHERE id = (SELECT max(id) FROM outbox);"
      "INSERT INTO otps (request_id, account_id, context, code_hash, created_at, "
      "expires_at, attempts, used_at) VALUES ('r1', 'acct-1', 'none', %s, %lld, "
      "%lld, 2, %lld)", (long long)now - 30000, (long long)now - 30000, blob,
      (long long)now - 60000, (long long)now + 60000, (long long)now - 1000);
  sql_exec(sql);
  free(sql);
  free(blob);
  char *mpath = th_path("metrics");
  char err[256];
  struct metrics *m = metrics_open(mpath, err, sizeof err);
  ck_assert_ptr_nonnull(m);
  metrics_count_cap(m, "max_per_minute");
  metrics_count_cap(m, "max_per_minute");
  metrics_close(m);
  free(mpath);
  ck_assert_int_eq(th_admin("--json", "status", NULL), 0);
  json_object *o = json_tokener_parse(th_admin_out());
  ck_assert_ptr_nonnull(o);
  ck_assert(json_object_get_boolean(json_path(o, "healthy", NULL)));
  ck_assert(json_object_is_type(json_path(o, "outbox", "queued"), json_type_int));
  ck_assert_int_eq(json_object_get_int64(json_path(o, "outbox", "queued")), 1);
  ck_assert_int_eq(json_object_get_int64(json_path(o, "outbox", "sent")), 1);
  ck_assert_int_eq(json_object_get_int64(json_path(o, "outbox", "failed")), 0);
  ck_assert_int_eq(json_object_get_int64(json_path(o, "final_last_minute", "sent")), 1);
  ck_assert_int_eq(json_object_get_int64(json_path(o, "final_last_hour", "sent")), 1);
  ck_assert_int_eq(json_object_get_int64(json_path(o, "codes_last_hour", "sent")), 1);
  ck_assert_int_eq(json_object_get_int64(json_path(o, "codes_last_hour", "verified")), 1);
  ck_assert_int_eq(json_object_get_int64(json_path(o, "codes_last_hour", "failed_guesses")), 2);
  ck_assert_int_eq(json_object_get_int64(json_path(o, "sms_capped", "max_per_minute")), 2);
  ck_assert(json_object_is_type(json_path(o, "oldest_queued_seconds", NULL), json_type_double));
  ck_assert_int_eq(json_object_array_length(json_path(o, "keys", NULL)), 0);
  json_object_put(o);
  /* No phone number anywhere in what status prints. */
  ck_assert_ptr_null(strstr(th_admin_out(), "5551111"));
}
END_TEST

START_TEST(account_unlock_is_audited) {
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", "+14035551111", NULL), 0);
  sql_exec("UPDATE accounts SET locked_until = 99999999999999, verify_failures = 7");
  ck_assert_int_eq(th_admin("account", "unlock", "acct-1", NULL), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts WHERE locked_until = 0 "
                              "AND verify_failures = 0"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM admin_audit WHERE action = "
                              "'account unlock' AND target = 'acct-1' AND who <> ''"), 1);
  ck_assert_int_eq(th_admin("account", "unlock", "ghost", NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "no account \"ghost\""));
  /* A refused change writes no audit row. */
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM admin_audit WHERE target = 'ghost'"), 0);
  ck_assert_int_eq(th_admin("audit", NULL), 0);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "account unlock"));
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "account add"));
  /* The audit never holds the number. */
  ck_assert_ptr_null(strstr(th_admin_out(), "5551111"));
  ck_assert_int_eq(th_admin("audit", "--since", "2999-01-01", NULL), 0);
  ck_assert_str_eq(th_admin_out(), "");
}
END_TEST

/* Refused while the account has a live code; --force supersedes it (and
 * its queued SMS) and deletes the account and its associations, leaving
 * the code's and the SMS's rows for the audit. */
START_TEST(account_delete_keeps_the_audit) {
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", "+14035551111", NULL), 0);
  ck_assert_int_eq(th_admin("association", "add", "assoc-1", "acct-1", NULL), 0);
  int64_t now = now_ms();
  char *blob = th_sql_blob("00");
  char *sql = xasprintf("INSERT INTO otps (request_id, account_id, context, code_hash, "
                        "created_at, expires_at) VALUES ('r1', 'acct-1', 'none', %s, "
                        "%lld, %lld)", blob, (long long)now, (long long)now + 300000);
  sql_exec(sql);
  free(sql);
  free(blob);
  th_outbox_add(1, "+14035551111", "code 123456", 5, 6, 300000);
  /* The SMS of that code, as sendOtp queues it. */
  sql_exec("UPDATE outbox SET otp_id = (SELECT id FROM otps WHERE request_id = 'r1')");
  char *before = th_db_snapshot();
  ck_assert_int_eq(th_admin("account", "delete", "acct-1", NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "1 live code"));
  char *after = th_db_snapshot();
  ck_assert_str_eq(before, after);
  ck_assert_int_eq(th_admin("account", "delete", "acct-1", "--force", NULL), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts"), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM associations"), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps WHERE superseded_at IS NOT NULL"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox WHERE status = 'superseded' "
                              "AND sealed_code IS NULL"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM admin_audit WHERE action = "
                              "'account delete' AND detail = '1 live codes superseded'"), 1);
  ck_assert_int_eq(th_admin("account", "delete", "acct-1", NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "no account"));
  /* Without live codes no --force is needed. */
  ck_assert_int_eq(th_admin("account", "add", "acct-2", NULL), 0);
  ck_assert_int_eq(th_admin("account", "delete", "acct-2", NULL), 0);
  free(before);
  free(after);
}
END_TEST

START_TEST(outbox_cancel_and_requeue) {
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", "+14035551111", NULL), 0);
  int64_t id = th_outbox_add(3, "+14035551111", "code 123456", 5, 6, 300000);
  char *ids[3];
  for (int i = 0; i < 3; i++)
    ids[i] = xasprintf("%lld", (long long)id + i);
  ck_assert_int_eq(th_admin("outbox", "cancel", ids[0], NULL), 0);
  char *sql = xasprintf("SELECT count(*) FROM outbox WHERE id = %s AND status = 'failed' "
                        "AND sealed_code IS NULL AND last_error = 'cancelled by the operator'",
                        ids[0]);
  ck_assert_int_eq(th_sql_int(sql), 1);
  free(sql);
  ck_assert_int_eq(th_admin("outbox", "cancel", ids[0], NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "is failed: only a queued row"));
  /* A final row cannot be requeued: its code is gone. */
  ck_assert_int_eq(th_admin("outbox", "requeue", ids[0], NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "its code was dropped"));
  /* A queued row waiting for its retry: due now, attempts afresh. */
  sql = xasprintf("UPDATE outbox SET attempts = 2, next_attempt_at = next_attempt_at + "
                  "100000 WHERE id = %s", ids[1]);
  sql_exec(sql);
  free(sql);
  ck_assert_int_eq(th_admin("outbox", "requeue", ids[1], NULL), 0);
  sql = xasprintf("SELECT count(*) FROM outbox WHERE id = %s AND attempts = 0 "
                  "AND next_attempt_at <= %lld AND status = 'queued'", ids[1],
                  (long long)now_ms());
  ck_assert_int_eq(th_sql_int(sql), 1);
  free(sql);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM admin_audit WHERE action IN "
                              "('outbox cancel', 'outbox requeue')"), 2);
  ck_assert_int_eq(th_admin("outbox", "requeue", "999", NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "no outbox row \"999\""));
  ck_assert_int_eq(th_admin("outbox", "cancel", NULL), 2);
  /* list --account --limit: the newest rows of that account. */
  ck_assert_int_eq(th_admin("--json", "outbox", "list", "--account", "acct-1", "--limit",
                            "2", NULL), 0);
  json_object *arr = json_tokener_parse(th_admin_out());
  ck_assert_int_eq(json_object_array_length(arr), 2);
  ck_assert_str_eq(json_object_get_string(json_path(json_object_array_get_idx(arr, 1), "id",
                                                    NULL)), ids[2]);
  json_object_put(arr);
  ck_assert_int_eq(th_admin("--json", "outbox", "list", "--account", "nobody", NULL), 0);
  ck_assert_str_eq(th_admin_out(), "[\n]\n");
  ck_assert_int_eq(th_admin("outbox", "list", "--limit", "0", NULL), 1);
  for (int i = 0; i < 3; i++)
    free(ids[i]);
}
END_TEST

/* A new file, 0600, with the rows; an existing path is refused. */
START_TEST(backup_copies_and_checks) {
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", "+14035551111", NULL), 0);
  char *path = th_path("copy.db");
  ck_assert_int_eq(th_admin("backup", path, NULL), 0);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "integrity_check ok"));
  struct stat sb;
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_int_eq(sb.st_mode & 07777, 0600);
  sqlite3 *db;
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM accounts", -1, &st, NULL),
                   SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
  ck_assert_int_eq(th_admin("backup", path, NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "File exists"));
  free(path);
}
END_TEST

/* init copies a database of an older schema before migrating it, and
 * says where; the copy keeps the old version. */
START_TEST(init_backs_up_before_migrating) {
  ck_assert_int_eq(unlink(th_db_path()), 0);
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(th_db_path(), &db), SQLITE_OK);
  for (const struct store_migration *m = store_migrations; m->sql && m->version <= 5; m++) {
    ck_assert_int_eq(sqlite3_exec(db, m->sql, NULL, NULL, NULL), SQLITE_OK);
    char *pragma = xasprintf("PRAGMA user_version=%d", m->version);
    ck_assert_int_eq(sqlite3_exec(db, pragma, NULL, NULL, NULL), SQLITE_OK);
    free(pragma);
  }
  sqlite3_exec(db, "INSERT INTO accounts (id, created_at, updated_at) VALUES ('old', 1, 1)",
               NULL, NULL, NULL);
  sqlite3_close(db);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  const char *at = strstr(th_admin_out(), "schema version 5 backed up to ");
  ck_assert_msg(at != NULL, "%s", th_admin_out());
  char *copy = xstrdup(at + strlen("schema version 5 backed up to "));
  copy[strcspn(copy, "\n")] = '\0';
  struct stat sb;
  ck_assert_int_eq(stat(copy, &sb), 0);
  ck_assert_int_eq(sb.st_mode & 07777, 0600);
  ck_assert_int_eq(sqlite3_open(copy, &db), SQLITE_OK);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  ck_assert_int_eq(sqlite3_column_int(st, 0), 5);
  sqlite3_finalize(st);
  sqlite3_close(db);
  ck_assert_int_eq(th_sql_int("PRAGMA user_version"), th_schema_latest());
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts WHERE id = 'old'"), 1);
  /* Another copy in the same second goes beside the first. */
  ck_assert_int_eq(sqlite3_open(th_db_path(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version=5", NULL, NULL, NULL);
  sqlite3_close(db);
  ck_assert_int_eq(th_admin("init", NULL), 1); /* 006 again: admin_audit exists */
  ck_assert_int_eq(th_admin("init", NULL), 1);
  ck_assert_msg(strstr(th_admin_out(), "backed up to") != NULL, "%s", th_admin_err());
  ck_assert_int_eq(stat(copy, &sb), 0);
  sql_exec("PRAGMA user_version=6");
  /* Up to date: no copy. */
  ck_assert_int_eq(th_admin("init", NULL), 0);
  ck_assert_ptr_null(strstr(th_admin_out(), "backed up"));
  free(copy);
}
END_TEST

int main(void) {
  Suite *s = suite_create("admin");
  TCase *tc = tcase_create("admin");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, account_add_show_list);
  tcase_add_test(tc, account_set);
  tcase_add_loop_test(tc, bad_arguments_change_nothing, 0, sizeof bad / sizeof bad[0]);
  tcase_add_test(tc, version);
  tcase_add_test(tc, associations);
  tcase_add_test(tc, import_all_or_nothing);
  tcase_add_test(tc, import_csv_and_update);
  TH_SQLITE_ONLY(tc, init_makes_the_database_group_writable,
                 "the database file's and its -wal's modes");
  tcase_add_test(tc, bad_config_stops_with_key);
  tcase_add_test(tc, otp_show_and_list);
  tcase_add_test(tc, secret_rotate_command);
  tcase_add_test(tc, check_all_is_well);
  tcase_add_test(tc, conninfo_password_refused_unsaid);
  tcase_add_test(tc, check_reports_every_problem);
  tcase_add_test(tc, check_exec_command_and_missing_database);
  tcase_add_test(tc, status_says_why);
  tcase_add_test(tc, status_json);
  tcase_add_test(tc, account_unlock_is_audited);
  tcase_add_test(tc, account_delete_keeps_the_audit);
  tcase_add_test(tc, outbox_cancel_and_requeue);
  TH_SQLITE_ONLY(tc, backup_copies_and_checks,
                 "the online backup is SQLite's (PostgreSQL: the server's tools)");
  TH_SQLITE_ONLY(tc, init_backs_up_before_migrating,
                 "SQLite's schema history and the file copy init makes");
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
