/* The schema: a fresh init, a second init, a migration from version 1. */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "conf.h"
#include "store.h"
#include "testhelp.h"
#include "util.h"

static struct conf *test_conf(void) {
  char err[512];
  struct conf *c = conf_load(th_config(NULL), err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  return c;
}

START_TEST(fresh_init_and_second_init) {
  th_config(NULL);
  char *latest = xasprintf("0 -> %d", th_schema_latest());
  ck_assert_int_eq(th_admin("init", NULL), 0);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), latest));
  ck_assert_int_eq(th_schema_version(), th_schema_latest());
  ck_assert_int_ge(th_schema_latest(), th_on_pg() ? 1 : 3);
  free(latest);
  if (!th_on_pg()) { /* the journal is SQLite's */
    char *mode = th_sql_text("PRAGMA journal_mode");
    ck_assert_str_eq(mode, "wal");
    free(mode);
  }
  static const char *const tables[] = {"accounts", "associations", "otps",
                                       "outbox", "requests", "senders", "admin_audit"};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
    ck_assert_msg(th_db_has("table", tables[i]), "no table %s", tables[i]);
  ck_assert(th_db_has("view", "audit_outbox"));
  ck_assert(th_db_has("view", "audit_otps"));
  char *before = th_schema_dump();
  ck_assert_ptr_nonnull(before);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "up to date"));
  ck_assert_ptr_nonnull(strstr(th_admin_out(), "exists"));
  char *after = th_schema_dump();
  ck_assert_str_eq(before, after);
  free(before);
  free(after);
  th_cleanup();
}
END_TEST

START_TEST(migrates_version_1) {
  /* A file made by the first release: tables only, user_version 1. */
  th_config(NULL);
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(th_db_path(), &db), SQLITE_OK);
  char *path = xasprintf("%s/sql/001-initial.sql", th_srcdir());
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  char sql[16384];
  sql[fread(sql, 1, sizeof sql - 1, f)] = '\0';
  fclose(f);
  ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version=1;"
                   "INSERT INTO accounts VALUES ('acct-1','+14035551111','active',0,0,1,1);",
                   NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  /* Programs other than init refuse a file at the old version. */
  ck_assert_int_eq(th_admin("account", "list", NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "schema version 1"));
  char *step = xasprintf("1 -> %d", th_schema_latest());
  ck_assert_int_eq(th_admin("init", NULL), 0);
  ck_assert_ptr_nonnull(strstr(th_admin_out(), step));
  ck_assert_int_eq(th_sql_int("PRAGMA user_version"), th_schema_latest());
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM sqlite_schema WHERE name = 'outbox_otp'"), 1);
  free(step);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM accounts WHERE id = 'acct-1'"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM audit_outbox"), 0);
  free(path);
  th_cleanup();
}
END_TEST

/* Runs sql/NNN-*.sql files 1 to 3 on a new database: a file as version 3
 * left it. */
static sqlite3 *make_version_3(void) {
  static const char *const files[] = {"001-initial", "002-audit-view",
                                      "003-outbox-otp-index"};
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(th_db_path(), &db), SQLITE_OK);
  for (int i = 0; i < 3; i++) {
    char *path = xasprintf("%s/sql/%s.sql", th_srcdir(), files[i]);
    char *sql = th_read_file(path);
    ck_assert_ptr_nonnull(sql);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    free(sql);
    free(path);
  }
  ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version=3;", NULL, NULL, NULL),
                   SQLITE_OK);
  return db;
}

/* Version 3 to 4: a drained outbox migrates with every row; the text gets
 * masked, the send's id comes out of the recorded answer, records are
 * keyed on the method, 7-digit numbers fit. A queued SMS (its code in
 * clear) stops the migration, which changes nothing. */
START_TEST(migrates_version_3) {
  th_config(NULL);
  sqlite3 *db = make_version_3();
  ck_assert_int_eq(sqlite3_exec(db,
      "INSERT INTO accounts VALUES ('acct-1','+14035551111','active',0,0,1,1);"
      "INSERT INTO associations VALUES ('assoc-1','acct-1',1,NULL);"
      "INSERT INTO otps (id, request_id, account_id, context, code_hash, created_at, "
      "  expires_at) VALUES (1, 'r1', 'acct-1', 'none', x'00', 1, 2);"
      "INSERT INTO outbox (otp_id, account_id, destination, text, code_offset, "
      "  code_length, status, next_attempt_at, expires_at, created_at, updated_at) "
      "  VALUES (1, 'acct-1', '+14035551111', 'code 123456 ok', 5, 6, 'queued', 1, 2, 1, 1);"
      "INSERT INTO requests VALUES ('r1', 'sendOtp', x'00', 200, "
      "  '{\"paymentIntegratorSendOtpId\":\"abcdef\",\"result\":\"SUCCESS\"}', 1);",
      NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  char *before = th_db_snapshot();
  ck_assert_int_eq(th_admin("init", NULL), 1);
  ck_assert_ptr_nonnull(strstr(th_admin_err(), "drain"));
  ck_assert_int_eq(th_sql_int("PRAGMA user_version"), 3);
  char *after = th_db_snapshot();
  ck_assert_str_eq(before, after);
  free(before);
  free(after);

  ck_assert_int_eq(sqlite3_open(th_db_path(), &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(db, "UPDATE outbox SET status = 'sent'", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  ck_assert_msg(th_admin("init", NULL) == 0, "%s", th_admin_err());
  ck_assert_int_eq(th_sql_int("PRAGMA user_version"), th_schema_latest());
  char *text = th_sql_text("SELECT text FROM outbox");
  ck_assert_str_eq(text, "code ****** ok");
  free(text);
  char *sid = th_sql_text("SELECT send_otp_id FROM otps WHERE request_id = 'r1'");
  ck_assert_str_eq(sid, "abcdef");
  free(sid);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests WHERE method = 'sendOtp' "
                              "AND request_id = 'r1' AND key_id = 1"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox WHERE sealed_code IS NULL "
                              "AND key_id = 1 AND otp_id = 1"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM audit_outbox WHERE send_otp_id = 'abcdef'"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pragma_foreign_key_check"), 0);
  ck_assert_int_eq(th_admin("account", "add", "niue", "--phone", "+6834002", NULL), 0);
  ck_assert_int_eq(th_admin("association", "add", "assoc-2", "niue", NULL), 0);
  th_cleanup();
}
END_TEST

START_TEST(refuses_newer_file) {
  th_config(NULL);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  th_schema_version_set(99);
  ck_assert_int_eq(th_admin("init", NULL), 1);
  ck_assert_msg(strstr(th_admin_err(), "migrated by a newer otpgate") != NULL, "%s",
                th_admin_err());
  ck_assert_int_eq(th_schema_version(), 99);
  /* Every program opening it says what is true, and does not send the
   * operator to init, which cannot migrate down. */
  ck_assert_int_eq(th_admin("account", "list", NULL), 1);
  ck_assert_msg(strstr(th_admin_err(), "schema version 99: the database was "
                                       "migrated by a newer otpgate") != NULL,
                "%s", th_admin_err());
  ck_assert_ptr_null(strstr(th_admin_err(), "otpgate-admin init"));
  th_cleanup();
}
END_TEST

START_TEST(constraints_hold) {
  th_config(NULL);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  char *blob = th_sql_blob("00");
  char *sealed = xasprintf(
      "INSERT INTO outbox (account_id, destination, text, code_offset, code_length, "
      "status, next_attempt_at, expires_at, created_at, updated_at, sealed_code) "
      "VALUES ('a','+1','x',0,0,'sent',0,0,0,0,%s)", blob);
  const char *bad[] = {
      "INSERT INTO accounts VALUES ('a','+0123456789','active',0,0,1,1)",
      "INSERT INTO accounts VALUES ('a','+1234','active',0,0,1,1)",
      "INSERT INTO accounts VALUES ('a','+1403555111x','active',0,0,1,1)",
      "INSERT INTO accounts VALUES ('a','+14035551111','gone',0,0,1,1)",
      "INSERT INTO outbox (account_id, destination, text, code_offset, code_length, "
      "status, next_attempt_at, expires_at, created_at, updated_at) "
      "VALUES ('a','+1','x',0,0,'lost',0,0,0,0)",
      sealed, /* a final row keeps no sealed code */
      "INSERT INTO associations VALUES ('x','no-such-account',1,NULL)",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(!th_sql_try(bad[i]), "accepted: %s", bad[i]);
  /* What they break, and only that: the same rows made right go in. */
  ck_assert(th_sql_try("INSERT INTO accounts VALUES ('a','+14035551111','active',0,0,1,1)"));
  ck_assert(th_sql_try("INSERT INTO associations VALUES ('x','a',1,NULL)"));
  char *queued = xasprintf(
      "INSERT INTO outbox (account_id, destination, text, code_offset, code_length, "
      "status, next_attempt_at, expires_at, created_at, updated_at, sealed_code) "
      "VALUES ('a','+1','x',0,0,'queued',0,0,0,0,%s)", blob);
  ck_assert_msg(th_sql_try(queued), "refused: %s", queued);
  free(queued);
  free(sealed);
  free(blob);
  th_cleanup();
}
END_TEST

START_TEST(audit_view_masks) {
  struct conf *c = test_conf();
  char err[512];
  ck_assert_int_eq(th_admin("init", NULL), 0);
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", "+14035551111", NULL), 0);
  struct store *s = store_open(c, false, err, sizeof err);
  ck_assert_msg(s != NULL, "%s", err);
  /* The worker writes the text masked and the code sealed. */
  const char *text = "Your code is ******.\nAB12345678C";
  unsigned char sealed[40] = {1, 2, 3};
  struct store_outbox_new row = {
      .account_id = "acct-1",
      .destination = "+14035551111",
      .text = text,
      .code_offset = 13,
      .code_length = 6,
      .sealed = sealed,
      .sealed_len = sizeof sealed,
      .key_id = 1,
      .created_at = 1700000000000,
      .expires_at = 1700000300000,
  };
  int64_t id;
  ck_assert_int_eq(store_outbox_insert(s, &row, &id), STORE_OK);
  store_close(s);
  char *t = th_sql_text("SELECT text FROM audit_outbox");
  ck_assert_str_eq(t, "Your code is ******.\nAB12345678C");
  free(t);
  t = th_sql_text("SELECT destination FROM audit_outbox");
  ck_assert_str_eq(t, "+*******1111");
  free(t);
  t = th_sql_text("SELECT created FROM audit_outbox");
  ck_assert_str_eq(t, "2023-11-14 22:13:20.000Z");
  free(t);
  t = th_sql_text("SELECT status FROM audit_outbox");
  ck_assert_str_eq(t, "queued");
  free(t);
  conf_free(c);
  th_cleanup();
}
END_TEST

/* A database never initialised: the programs send the operator to init. */
START_TEST(open_before_init_says_init) {
  struct conf *c = test_conf();
  char err[512];
  ck_assert_ptr_null(store_open(c, false, err, sizeof err));
  ck_assert_msg(strstr(err, "otpgate-admin init") != NULL, "%s", err);
  conf_free(c);
  th_cleanup();
}
END_TEST

START_TEST(connection_setup) {
  struct conf *c = test_conf();
  char err[512];
  ck_assert_ptr_null(store_open(c, false, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "otpgate-admin init"));
  ck_assert_int_eq(th_admin("init", NULL), 0);
  struct store *s = store_open(c, false, err, sizeof err);
  ck_assert_msg(s != NULL, "%s", err);
  ck_assert_int_eq(store_begin_write(s), STORE_OK);
  /* A second connection cannot take the write lock meanwhile. */
  c->database.busy_timeout_ms = 50;
  struct store *s2 = store_open(c, false, err, sizeof err);
  ck_assert_ptr_nonnull(s2);
  ck_assert_int_eq(store_begin_write(s2), STORE_BUSY);
  store_rollback(s);
  ck_assert_int_eq(store_begin_write(s2), STORE_OK);
  ck_assert_int_eq(store_commit(s2), STORE_OK);
  store_close(s2);
  store_close(s);
  conf_free(c);
  th_cleanup();
}
END_TEST

/* The write queue: a writer that stops (SIGSTOP) holding the lock makes
 * the others give up after busy_timeout_ms, never hang; one that dies
 * releases it. Writers queue whichever write_lock is chosen. */
static void queue_with_a_stopped_holder(const char *mode) {
  struct conf *c = test_conf();
  char err[512];
  int ready[2];
  ck_assert_int_eq(th_admin("init", NULL), 0);
  c->database.write_lock =
      strcmp(mode, "queue") == 0 ? WRITE_LOCK_QUEUE : WRITE_LOCK_SQLITE;
  c->database.busy_timeout_ms = 200;
  ck_assert_int_eq(pipe(ready), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    struct store *s = store_open(c, false, err, sizeof err);
    if (s == NULL || store_begin_write(s) != STORE_OK)
      _exit(1);
    if (write(ready[1], "x", 1) != 1)
      _exit(1);
    raise(SIGSTOP);
    _exit(0);
  }
  char x;
  ck_assert_int_eq(read(ready[0], &x, 1), 1);
  struct store *s = store_open(c, false, err, sizeof err);
  ck_assert_msg(s != NULL, "%s", err);
  int64_t t0 = monotonic_ms();
  ck_assert_int_eq(store_begin_write(s), STORE_BUSY);
  int64_t waited = monotonic_ms() - t0;
  ck_assert_int_ge(waited, 150);
  ck_assert_int_lt(waited, 2000);
  /* The sender's one-statement writes give up the same way. */
  t0 = monotonic_ms();
  ck_assert_int_eq(store_sender_heartbeat(s, &(struct store_sender_beat){.owner = "t:1:x",
                                          .pid = 1, .started_at = 1, .now = 2}),
                   STORE_BUSY);
  ck_assert_int_lt(monotonic_ms() - t0, 2000);
  kill(pid, SIGKILL);
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert_int_eq(store_begin_write(s), STORE_OK);
  ck_assert_int_eq(store_commit(s), STORE_OK);
  store_close(s);
  close(ready[0]);
  close(ready[1]);
  conf_free(c);
  th_cleanup();
}

START_TEST(write_queue_stopped_holder) { queue_with_a_stopped_holder("queue"); }
END_TEST

START_TEST(sqlite_lock_stopped_holder) { queue_with_a_stopped_holder("sqlite"); }
END_TEST

int main(void) {
  Suite *s = suite_create("store");
  TCase *tc = tcase_create("store");
  tcase_add_test(tc, fresh_init_and_second_init);
  TH_SQLITE_ONLY(tc, migrates_version_1, "SQLite's own schema history (sql/001-003)");
  tcase_add_test(tc, refuses_newer_file);
  TH_SQLITE_ONLY(tc, migrates_version_3, "SQLite's own schema history (sql/001-003)");
  tcase_add_test(tc, constraints_hold);
  tcase_add_test(tc, audit_view_masks);
  tcase_add_test(tc, open_before_init_says_init);
  TH_SQLITE_ONLY(tc, connection_setup,
                 "one writer at a time is SQLite's lock; PostgreSQL locks rows");
  TH_SQLITE_ONLY(tc, write_queue_stopped_holder, "[database] write_lock is SQLite's");
  TH_SQLITE_ONLY(tc, sqlite_lock_stopped_holder, "[database] write_lock is SQLite's");
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
