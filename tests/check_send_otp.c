/* sendOtp through the real worker: FastCGI records over a unix socket to a
 * running otpgate-fcgi, then the answer and the rows. */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fcgi_client.h"
#include "otp.h"
#include "secret.h"
#include "testhelp.h"
#include "util.h"

#define PATH "/integrator-base-path/e-wallets-v1/sendOtp"
#define PHONE TH_TEST_PHONE
#define TOKEN "AB12345678C"

static char sock[600];
static int worker;

static void start(const char *extra) {
  worker = th_test_worker(extra, sock, sizeof sock);
  ck_assert_int_gt(worker, 0);
}

static void setup(void) { start(NULL); }

static void teardown(void) {
  if (worker > 0)
    ck_assert_int_eq(th_worker_stop(worker), 0);
  worker = 0;
  th_cleanup();
}

/* The seeds' example request, with this moment's timestamp. */
static char *request(const char *request_id, const char *id_field,
                     const char *id_value, const char *token) {
  return xasprintf("{\"requestHeader\":{\"protocolVersion\":{\"major\":1,"
                   "\"minor\":0,\"revision\":0},\"requestId\":\"%s\","
                   "\"requestTimestamp\":\"%" PRId64 "\"},"
                   "\"%s\":\"%s\",\"smsMatchingToken\":\"%s\","
                   "\"otpContext\":{\"association\":{}}}",
                   request_id, now_ms(), id_field, id_value, token);
}

static json_object *post_json(const char *path, const char *body, int *status,
                              char **raw) {
  struct th_fcgi_reply r;
  ck_assert_int_eq(th_fcgi_post(sock, path, body, &r), 0);
  *status = r.status;
  ck_assert_ptr_nonnull(strstr(r.headers, "Content-Type: application/json"));
  json_object *o = json_tokener_parse(r.body);
  ck_assert_msg(o != NULL, "not JSON: %s", r.body);
  if (raw)
    *raw = xstrdup(r.body);
  th_fcgi_reply_free(&r);
  return o;
}

static const char *field(json_object *o, const char *name) {
  json_object *v;
  if (!json_object_object_get_ex(o, name, &v))
    return NULL;
  return json_object_get_string(v);
}

static void assert_response_header(json_object *o) {
  json_object *h, *ts;
  ck_assert(json_object_object_get_ex(o, "responseHeader", &h));
  ck_assert(json_object_object_get_ex(h, "responseTimestamp", &ts));
  ck_assert(json_object_is_type(ts, json_type_string));
  int64_t t = strtoll(json_object_get_string(ts), NULL, 10);
  ck_assert_int_le(llabs(t - now_ms()), 5000);
}

static const char *send_result(const char *rid, const char *id_field,
                               const char *id_value) {
  static char result[64];
  int status;
  char *body = request(rid, id_field, id_value, TOKEN);
  json_object *o = post_json(PATH, body, &status, NULL);
  ck_assert_msg(status == 200, "status %d", status);
  snprintf(result, sizeof result, "%s", field(o, "result"));
  json_object_put(o);
  free(body);
  return result;
}

START_TEST(seeds_example_round_trip) {
  int status;
  char *body = request("0123434-otp-abc", "accountPhoneNumber", PHONE, TOKEN);
  json_object *o = post_json(PATH, body, &status, NULL);
  ck_assert_int_eq(status, 200);
  assert_response_header(o);
  ck_assert_str_eq(field(o, "result"), "SUCCESS");
  ck_assert_int_eq((int)strlen(field(o, "paymentIntegratorSendOtpId")), 32);
  ck_assert_int_eq(json_object_object_length(o), 3);

  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps WHERE request_id='0123434-otp-abc' "
                              "AND account_id='acct-1' AND context='association' "
                              "AND length(code_hash)=32 AND expires_at-created_at=300000"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox WHERE destination='" PHONE "' "
                              "AND status='queued' AND attempts=0 AND code_length=6"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests WHERE "
                              "request_id='0123434-otp-abc' AND method='sendOtp' "
                              "AND http_status=200"), 1);
  /* The SMS: the template with the code, the token alone on the last line.
   * The row keeps it with the code masked, and the code only sealed. */
  char *stored = th_sql_text("SELECT text FROM outbox");
  char *text = th_sms_text(0);
  int64_t off = th_sql_int("SELECT code_offset FROM outbox");
  ck_assert_ptr_nonnull(text);
  ck_assert_str_eq(stored + off + 6, text + off + 6);
  ck_assert_int_eq(strncmp(stored + off, "******", 6), 0);
  ck_assert_ptr_nonnull(strstr(text, "\n" TOKEN));
  ck_assert_str_eq(text + strlen(text) - 12, "\n" TOKEN);
  ck_assert_int_eq(strncmp(text, "Your verification code is ", 26), 0);
  char code[7];
  memcpy(code, text + off, 6);
  code[6] = '\0';
  ck_assert_int_eq((int)strspn(code, "0123456789"), 6);
  /* The row keeps only the keyed hash of exactly that code. */
  struct secret_keys keys;
  char err[256];
  char *keyfile = xasprintf("%s/otp.key", th_tmpdir());
  ck_assert(secret_load(keyfile, &keys, err, sizeof err));
  unsigned char want[SECRET_HASH_LEN];
  otp_code_hash(secret_newest(&keys), "0123434-otp-abc", code, want);
  char *hex_of = th_sql_hex("code_hash");
  char *hex_sql = xasprintf("SELECT %s FROM otps", hex_of);
  char *hex = th_sql_text(hex_sql);
  free(hex_sql);
  free(hex_of);
  char want_hex[2 * SECRET_HASH_LEN + 1];
  for (int i = 0; i < SECRET_HASH_LEN; i++)
    sprintf(want_hex + 2 * i, "%02X", want[i]);
  ck_assert_str_eq(hex, want_hex);
  /* The log names the request but never the code or the full number. */
  char *log = th_path("worker.log");
  char *logtext = th_read_file(log);
  ck_assert_ptr_nonnull(logtext);
  ck_assert_ptr_nonnull(strstr(logtext, "requestId=0123434-otp-abc result=SUCCESS status=200"));
  ck_assert_ptr_null(strstr(logtext, code));
  ck_assert_ptr_null(strstr(logtext, PHONE));
  free(logtext);
  free(log);
  free(hex);
  free(keyfile);
  free(text);
  free(stored);
  free(body);
  json_object_put(o);
}
END_TEST

START_TEST(token_first_line) {
  ck_assert_int_eq(th_worker_stop(worker), 0);
  th_cleanup();
  start("[sms]\ntoken_position = first\ntemplate = Here's the OTP you requested: {otp}\n");
  ck_assert_str_eq(send_result("r1", "associationId", "assoc-1"), "SUCCESS");
  char *text = th_sms_text(0);
  ck_assert_int_eq(strncmp(text, TOKEN "\nHere's the OTP you requested: ", 42), 0);
  ck_assert_int_eq((int)strlen(text), 42 + 6);
  free(text);
}
END_TEST

START_TEST(retry_gets_the_same_answer) {
  int status;
  char *raw1, *raw2;
  char *body = request("retry-1", "associationId", "assoc-1", TOKEN);
  json_object *a = post_json("/v1/sendOtp", body, &status, &raw1);
  ck_assert_int_eq(status, 200);
  free(body);
  usleep(5000);
  body = request("retry-1", "associationId", "assoc-1", TOKEN); /* new timestamp */
  json_object *b = post_json("/v1/sendOtp", body, &status, &raw2);
  ck_assert_int_eq(status, 200);
  ck_assert_str_eq(field(a, "paymentIntegratorSendOtpId"),
                   field(b, "paymentIntegratorSendOtpId"));
  /* Byte for byte, but for the timestamp. */
  char *ta = strstr(raw1, "\"}"), *tb = strstr(raw2, "\"}");
  ck_assert_str_eq(ta, tb);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests"), 1);
  /* The same requestId with a different request: 412, nothing written. */
  free(body);
  body = request("retry-1", "accountPhoneNumber", PHONE, TOKEN);
  char *before = th_db_snapshot();
  json_object *c = post_json(PATH, body, &status, NULL);
  ck_assert_int_eq(status, 412);
  ck_assert_str_eq(field(c, "errorResponseCode"), "IDEMPOTENCY_VIOLATION");
  ck_assert_ptr_nonnull(strstr(field(c, "errorDescription"), "retry-1"));
  char *after = th_db_snapshot();
  ck_assert_str_eq(before, after);
  free(body);
  body = request("retry-1", "associationId", "assoc-1", "ZZ12345678C");
  json_object *d = post_json(PATH, body, &status, NULL);
  ck_assert_int_eq(status, 412);
  json_object_put(a);
  json_object_put(b);
  json_object_put(c);
  json_object_put(d);
  free(before);
  free(after);
  free(body);
  free(raw1);
  free(raw2);
}
END_TEST

START_TEST(decisions) {
  ck_assert_int_eq(th_admin("account", "add", "closed-1", "--phone", "+14035550001",
                            "--status", "closed", NULL), 0);
  ck_assert_int_eq(th_admin("account", "add", "noph", NULL), 0);
  ck_assert_int_eq(th_admin("association", "add", "assoc-noph", "noph", NULL), 0);
  static const char *statuses[][2] = {
      {"not_eligible", "NOT_ELIGIBLE"},
      {"closed", "ACCOUNT_CLOSED"},
      {"closed_account_taken_over", "ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER"},
      {"closed_fraud", "ACCOUNT_CLOSED_FRAUD"},
  };
  char rid[64], id[64], phone[32];
  for (int i = 0; i < 4; i++) {
    snprintf(id, sizeof id, "st-%d", i);
    snprintf(phone, sizeof phone, "+1403555010%d", i);
    ck_assert_int_eq(th_admin("account", "add", id, "--phone", phone, "--status",
                              statuses[i][0], NULL), 0);
    ck_assert_int_eq(th_admin("association", "add", id, id, NULL), 0);
    snprintf(rid, sizeof rid, "by-assoc-%d", i);
    ck_assert_str_eq(send_result(rid, "associationId", id), statuses[i][1]);
    /* Named by phone number, any status but active is NOT_ELIGIBLE. */
    snprintf(rid, sizeof rid, "by-phone-%d", i);
    ck_assert_str_eq(send_result(rid, "accountPhoneNumber", phone), "NOT_ELIGIBLE");
  }
  ck_assert_str_eq(send_result("u1", "accountPhoneNumber", "+14035559999"),
                   "UNKNOWN_PHONE_NUMBER");
  static const char *bad_phones[] = {"+1 403 555 1111", "+1-403-555-1111",
                                     "+1403555abcd",    "+123456789012345678",
                                     "00918067218010",  "918067218010",
                                     "+0918067218",     "",
                                     "+"};
  for (size_t i = 0; i < sizeof bad_phones / sizeof bad_phones[0]; i++) {
    snprintf(rid, sizeof rid, "badphone-%zu", i);
    ck_assert_str_eq(send_result(rid, "accountPhoneNumber", bad_phones[i]),
                     "INVALID_PHONE_NUMBER");
  }
  ck_assert_str_eq(send_result("np", "associationId", "assoc-noph"),
                   "PHONE_NUMBER_NOT_ASSOCIATED_WITH_ACCOUNT");
  /* Declines write no code and no SMS, but are remembered for retries. */
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps"), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests"), 19);
}
END_TEST

/* accountPhoneNumber in any shape is the user's number as Google has it: a
 * malformed one is a decline, INVALID_PHONE_NUMBER, never a protocol
 * error, and only its idempotency record is written. */
static const char *const phone_values[] = {
    "\"+12345678901234567890123456789012345678901234567890123456789012345\"", /* 65 */
    "918067218010", "-1", "1.5", "true", "false", "{\"number\":\"" PHONE "\"}",
    "[\"" PHONE "\"]", "\"" PHONE "\\u0000\"", "\"+1234567890123456\"", "\"+123456\"",
};

START_TEST(invalid_phone_numbers_are_declined) {
  size_t n = sizeof phone_values / sizeof phone_values[0];
  char *accounts_sql = xasprintf("SELECT %s(id || status || verify_failures || "
                                 "locked_until || updated_at, ',') FROM accounts",
                                 th_sql_string_agg());
  char *accounts = th_sql_text(accounts_sql);
  for (size_t i = 0; i < n; i++) {
    struct th_fcgi_reply r;
    char *body = xasprintf("{\"requestHeader\":{\"protocolVersion\":{\"major\":1,\"minor\":0,"
                           "\"revision\":0},\"requestId\":\"ph-%zu\",\"requestTimestamp\":\"%"
                           PRId64 "\"},\"accountPhoneNumber\":%s,\"smsMatchingToken\":\""
                           TOKEN "\"}", i, now_ms(), phone_values[i]);
    ck_assert_int_eq(th_fcgi_post(sock, PATH, body, &r), 0);
    ck_assert_msg(r.status == 200 && strstr(r.body, "\"INVALID_PHONE_NUMBER\""),
                  "%d %s for %s", r.status, r.body, phone_values[i]);
    th_fcgi_reply_free(&r);
    free(body);
  }
  /* And one of 5,000 digits. */
  struct buf big = {0};
  buf_appends(&big, "+1");
  for (int i = 0; i < 5000; i++)
    buf_appends(&big, "0");
  ck_assert_str_eq(send_result("ph-big", "accountPhoneNumber", big.data), "INVALID_PHONE_NUMBER");
  buf_free(&big);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests"), (int64_t)n + 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps"), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 0);
  char *after = th_sql_text(accounts_sql);
  ck_assert_str_eq(accounts, after);
  free(accounts_sql);
  free(accounts);
  free(after);
}
END_TEST

/* E.164 numbers are 7 to 15 digits after '+' (Niue's are 7: +683 4002). */
START_TEST(short_and_long_phone_numbers_are_e164) {
  ck_assert_str_eq(send_result("n7", "accountPhoneNumber", "+6834002"), "UNKNOWN_PHONE_NUMBER");
  ck_assert_str_eq(send_result("n15", "accountPhoneNumber", "+123456789012345"),
                   "UNKNOWN_PHONE_NUMBER");
  ck_assert_str_eq(send_result("n6", "accountPhoneNumber", "+683400"), "INVALID_PHONE_NUMBER");
}
END_TEST

/* The schema (version 4) holds a 7-digit number: '+' and 7 digits. */
START_TEST(seven_digit_phone_receives_a_code) {
  ck_assert_msg(th_admin("account", "add", "niue-1", "--phone", "+6834002", NULL) == 0, "%s",
                th_admin_err());
  ck_assert_str_eq(send_result("niue", "accountPhoneNumber", "+6834002"), "SUCCESS");
  char *dest = th_sql_text("SELECT destination FROM outbox");
  ck_assert_str_eq(dest, "+6834002");
  free(dest);
}
END_TEST

START_TEST(send_limit) {
  char rid[32];
  for (int i = 0; i < 5; i++) {
    snprintf(rid, sizeof rid, "lim-%d", i);
    ck_assert_str_eq(send_result(rid, "associationId", "assoc-1"), "SUCCESS");
  }
  ck_assert_str_eq(send_result("lim-5", "associationId", "assoc-1"), "OTP_LIMIT_REACHED");
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 5);
  /* Each new code supersedes the older unused ones. */
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps WHERE superseded_at IS NULL"), 1);
}
END_TEST

START_TEST(locked_account) {
  char *sql = xasprintf("UPDATE accounts SET locked_until = %" PRId64, now_ms() + 60000);
  th_sql_exec(sql);
  free(sql);
  ck_assert_str_eq(send_result("lk", "associationId", "assoc-1"), "OTP_LIMIT_REACHED");
}
END_TEST

START_TEST(no_sender_no_promise) {
  ck_assert_int_eq(th_worker_stop(worker), 0);
  th_cleanup();
  start("[sender]\nheartbeat_max_age_seconds = 15\n");
  ck_assert_str_eq(send_result("hb-1", "associationId", "assoc-1"),
                   "MESSAGE_UNABLE_TO_BE_SENT");
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 0);
  /* A transient result is not recorded: Google's retry is processed
   * afresh once a sender is back. */
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests"), 0);
  char *sql = xasprintf("INSERT INTO senders (owner, pid, started_at, seen_at) "
                        "VALUES ('t', 1, 0, %" PRId64 ")", now_ms());
  th_sql_exec(sql);
  free(sql);
  ck_assert_str_eq(send_result("hb-2", "associationId", "assoc-1"), "SUCCESS");
  ck_assert_str_eq(send_result("hb-1", "associationId", "assoc-1"), "SUCCESS");
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 2);
}
END_TEST

/* The SMS bill's caps: countries served, SMS a minute in all and per
 * number prefix. A refusal queues nothing and is not recorded. */
START_TEST(countries_and_caps) {
  ck_assert_int_eq(th_worker_stop(worker), 0);
  th_cleanup();
  start("[sms]\ncountries = 44,1\n");
  ck_assert_str_eq(send_result("c1", "associationId", "assoc-1"), "NOT_ELIGIBLE");
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 0);
  ck_assert_int_eq(th_worker_stop(worker), 0);
  th_cleanup();
  start("[otp]\nsend_limit = 100\n[sms]\ncountries = 44,91\nmax_per_minute = 2\n");
  ck_assert_str_eq(send_result("m1", "associationId", "assoc-1"), "SUCCESS");
  ck_assert_str_eq(send_result("m2", "associationId", "assoc-1"), "SUCCESS");
  ck_assert_str_eq(send_result("m3", "associationId", "assoc-1"), "MESSAGE_UNABLE_TO_BE_SENT");
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 2);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests WHERE request_id = 'm3'"), 0);
  char *log_path = th_path("worker.log");
  char *log = th_read_file(log_path);
  free(log_path);
  ck_assert_ptr_nonnull(strstr(log, "event=sms_cap_reached cap=\"[sms] max_per_minute\""));
  free(log);
  ck_assert_int_eq(th_worker_stop(worker), 0);
  th_cleanup();
  /* Per prefix: +9180672... is capped, another prefix is not. */
  start("[otp]\nsend_limit = 100\n[sms]\nmax_per_prefix_per_minute = 1\nprefix_digits = 5\n");
  ck_assert_int_eq(th_admin("account", "add", "other", "--phone", "+4915112345678", NULL), 0);
  ck_assert_str_eq(send_result("p1", "associationId", "assoc-1"), "SUCCESS");
  ck_assert_str_eq(send_result("p2", "associationId", "assoc-1"), "MESSAGE_UNABLE_TO_BE_SENT");
  ck_assert_str_eq(send_result("p3", "accountPhoneNumber", "+4915112345678"), "SUCCESS");
}
END_TEST

/* A store failure inside the method (not at the last write): the 503's
 * log line says the database's reason. */
START_TEST(store_failure_inside_the_method_is_logged) {
  th_sql_refuse("refuse", "BEFORE INSERT ON otps", NULL, "no more codes today");
  int status;
  char *body = request("in-1", "associationId", "assoc-1", TOKEN);
  json_object *o = post_json(PATH, body, &status, NULL);
  ck_assert_int_eq(status, 503);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests"), 0);
  char *log = th_path("worker.log");
  char *logtext = th_read_file(log);
  char *line = strstr(logtext, "requestId=in-1 ");
  ck_assert_ptr_nonnull(line);
  *strchrnul(line, '\n') = '\0';
  ck_assert_msg(strstr(line, "status=503") && strstr(line, "no more codes today"),
                "%s", line);
  json_object_put(o);
  free(logtext);
  free(log);
  free(body);
}
END_TEST

/* Reading the database files gives no code: the row keeps the text
 * masked and the code sealed, and nothing wrote it in clear (the WAL, with
 * every page each commit wrote, included). */
START_TEST(no_code_in_the_database_files) {
  char rid[16];
  char *codes[4];
  for (int i = 0; i < 4; i++) {
    snprintf(rid, sizeof rid, "db-%d", i);
    ck_assert_str_eq(send_result(rid, "accountPhoneNumber", PHONE), "SUCCESS");
    char *text = th_sms_text(0);
    int64_t off = th_sql_int("SELECT code_offset FROM outbox ORDER BY id DESC");
    codes[i] = xstrdup(text + off);
    codes[i][6] = '\0';
    free(text);
  }
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox WHERE text LIKE '%******%' "
                              "AND sealed_code IS NOT NULL OR status = 'superseded'"), 4);
  const char *suffixes[] = {"", "-wal"};
  for (int f = 0; f < 2; f++) {
    char *path = xasprintf("%s%s", th_db_path(), suffixes[f]);
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    struct buf all = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
      buf_append(&all, chunk, n);
    fclose(fp);
    for (int i = 0; i < 4; i++)
      ck_assert_msg(memmem(all.data, all.len, codes[i], 6) == NULL,
                    "code %d in %s", i, path);
    buf_free(&all);
    free(path);
  }
  for (int i = 0; i < 4; i++)
    free(codes[i]);
}
END_TEST

/* Secrets rotate: codes and records keyed with secret 1 still verify and
 * replay after secret 2 takes over; a worker started before the rotation
 * reads the file again when it meets the new id. */
START_TEST(secret_rotation_keeps_old_codes_and_records) {
  int status;
  char *raw1, *raw2;
  char *body = request("rot-1", "associationId", "assoc-1", TOKEN);
  json_object *a = post_json(PATH, body, &status, &raw1);
  ck_assert_int_eq(status, 200);
  ck_assert_int_eq(th_admin("secret", "rotate", NULL), 0);
  ck_assert_int_eq(th_worker_stop(worker), 0);
  worker = th_worker_start(th_config_path(), sock, sizeof sock);
  ck_assert_int_gt(worker, 0);
  /* The retry of rot-1 is answered from its record, keyed with secret 1. */
  json_object *b = post_json(PATH, body, &status, &raw2);
  ck_assert_int_eq(status, 200);
  ck_assert_str_eq(field(a, "paymentIntegratorSendOtpId"),
                   field(b, "paymentIntegratorSendOtpId"));
  ck_assert_str_eq(send_result("rot-2", "associationId", "assoc-1"), "SUCCESS");
  ck_assert_int_eq(th_sql_int("SELECT key_id FROM otps WHERE request_id = 'rot-1'"), 1);
  ck_assert_int_eq(th_sql_int("SELECT key_id FROM otps WHERE request_id = 'rot-2'"), 2);
  ck_assert_int_eq(th_sql_int("SELECT key_id FROM requests WHERE request_id = 'rot-2'"), 2);
  ck_assert_int_eq(th_sql_int("SELECT max(key_id) FROM outbox"), 2);
  /* The SMS sealed with secret 2 opens. */
  char *text = th_sms_text(0);
  ck_assert_ptr_nonnull(text);
  free(text);
  json_object_put(a);
  json_object_put(b);
  free(raw1);
  free(raw2);
  free(body);
}
END_TEST

/* The last write of a sendOtp (its idempotency record, then the commit)
 * fails, as on a full disk: 503 with an ErrorResponse, the OTP and the SMS
 * rolled back with it, a log line that says the store failed (not what
 * the method had decided), and the worker serves again once the database
 * takes writes. A trigger stands in for the full disk (the deploy test
 * tests/deploy/diskfull.sh runs into a real one). */
START_TEST(failed_last_write_is_503) {
  th_sql_refuse("refuse", "BEFORE INSERT ON requests", NULL, "refused");
  int status;
  char *body = request("full-1", "associationId", "assoc-1", TOKEN);
  json_object *o = post_json(PATH, body, &status, NULL);
  ck_assert_int_eq(status, 503);
  assert_response_header(o);
  ck_assert_ptr_null(field(o, "result"));
  ck_assert_ptr_nonnull(field(o, "errorDescription"));
  const char *eid = field(o, "paymentIntegratorErrorIdentifier");
  ck_assert_int_eq((int)strlen(eid), 16);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps"), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests"), 0);
  char *log = th_path("worker.log");
  char *logtext = th_read_file(log);
  ck_assert_ptr_nonnull(logtext);
  char *line = strstr(logtext, "requestId=full-1 ");
  ck_assert_ptr_nonnull(line);
  *strchrnul(line, '\n') = '\0';
  ck_assert_msg(strstr(line, "status=503") && strstr(line, eid) &&
                    strstr(line, " detail=\"store: ") && strstr(line, "(refused)") &&
                    !strstr(line, "queued"),
                "%s", line);
  th_sql_refuse_drop("refuse", "requests");
  ck_assert_str_eq(send_result("full-1", "associationId", "assoc-1"), "SUCCESS");
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 1);
  json_object_put(o);
  free(logtext);
  free(log);
  free(body);
}
END_TEST

START_TEST(association_errors) {
  int status;
  char *body = request("ua", "associationId", "no-such-assoc", TOKEN);
  json_object *o = post_json(PATH, body, &status, NULL);
  ck_assert_int_eq(status, 404);
  ck_assert_str_eq(field(o, "errorResponseCode"), "INVALID_IDENTIFIER");
  ck_assert_ptr_nonnull(strstr(field(o, "errorDescription"), "associationId"));
  json_object_put(o);
  free(body);
  ck_assert_int_eq(th_admin("association", "revoke", "assoc-1", NULL), 0);
  body = request("ua", "associationId", "assoc-1", TOKEN);
  o = post_json(PATH, body, &status, NULL);
  ck_assert_int_eq(status, 404);
  json_object_put(o);
  free(body);
  /* A 4xx is not remembered: the same requestId is processed afresh. */
  ck_assert_int_eq(th_admin("association", "add", "assoc-2", "acct-1", NULL), 0);
  ck_assert_str_eq(send_result("ua", "associationId", "assoc-2"), "SUCCESS");
}
END_TEST

#define HDR(rest) "{\"requestHeader\":{\"protocolVersion\":{\"major\":1,\"minor\":0,\"revision\":0}," rest
#define GOOD_HDR HDR("\"requestId\":\"e1\",\"requestTimestamp\":\"@\"}")
#define BODY_OK "\"associationId\":\"assoc-1\",\"smsMatchingToken\":\"" TOKEN "\"}"

/* Every bad request: the status, the errorResponseCode, words of the
 * errorDescription. '@' in a body stands for this moment's timestamp. */
static const struct {
  const char *body;
  int status;
  const char *code;
  const char *says;
} bad[] = {
    {"", 400, "INVALID_DECRYPTED_REQUEST", "JSON"},
    {"not json", 400, "INVALID_DECRYPTED_REQUEST", "JSON"},
    {"[1,2]", 400, "INVALID_DECRYPTED_REQUEST", "object"},
    {"\"str\"", 400, "INVALID_DECRYPTED_REQUEST", "object"},
    {"{\"a\":1} trailing", 400, "INVALID_DECRYPTED_REQUEST", "JSON"},
    {"{'a':1}", 400, "INVALID_DECRYPTED_REQUEST", "JSON"},
    {"{\"a\":\"\xff\"}", 400, "INVALID_DECRYPTED_REQUEST", "JSON"},
    {"{\"a\":NaN}", 400, "INVALID_DECRYPTED_REQUEST", "JSON"},
    {"{\"a\":Infinity}", 400, "INVALID_DECRYPTED_REQUEST", "JSON"},
    {"{\"a\":1.}", 400, "INVALID_DECRYPTED_REQUEST", "JSON"},
    {"{\"a\":\"x\ny\"}", 400, "INVALID_DECRYPTED_REQUEST", "control character"},
    {"{\"a\":\"\\ud800\"}", 400, "INVALID_DECRYPTED_REQUEST", "surrogate"},
    /* Invalid UTF-8 (RFC 3629), refused at the first byte of the bad
     * sequence, in strings or not. */
    {"{\"a\":\"\xc0\xaf\"}", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 6"},
    {"{\"a\":\"\xe0\x80\xaf\"}", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 6"},
    {"{\"a\":\"\xf0\x8f\xbf\xbf\"}", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 6"},
    {"{\"a\":\"\xed\xa0\x80\"}", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 6"},
    {"{\"a\":\"\xed\xbf\xbf\"}", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 6"},
    {"{\"a\":\"\xf4\x90\x80\x80\"}", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 6"},
    {"{\"a\":\"\xf5\x80\x80\x80\"}", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 6"},
    {"{\"a\":\"\x80\"}", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 6"},
    {"{\"a\":\"\xc3\xa9\xbf\"}", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 8"},
    {"{\"a\":\"\xe2\x82\"}", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 6"},
    {"{\"a\":\"x\"}\xe2\x82", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 9"},
    {"{\"a\"\xc0\xaf:1}", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 4"},
    {"{\"\xed\xa0\x80\":1}", 400, "INVALID_DECRYPTED_REQUEST", "invalid UTF-8 at byte 2"},
    /* Surrogate escapes that are not a high-low pair, refused at the
     * backslash of the lone one. */
    {"{\"a\":\"\\udc00\"}", 400, "INVALID_DECRYPTED_REQUEST", "lone low surrogate at byte 6"},
    {"{\"a\":\"\\ude00\\ud83d\"}", 400, "INVALID_DECRYPTED_REQUEST",
     "lone low surrogate at byte 6"},
    {"{\"a\":\"\\ud800x\"}", 400, "INVALID_DECRYPTED_REQUEST", "lone high surrogate at byte 6"},
    {"{\"a\":\"\\ud800\\u0041\"}", 400, "INVALID_DECRYPTED_REQUEST",
     "lone high surrogate at byte 6"},
    {"{\"a\":\"\\ud83d\\ud83d\\ude00\"}", 400, "INVALID_DECRYPTED_REQUEST",
     "lone high surrogate at byte 6"},
    {"{\"a\":1,}", 400, "INVALID_DECRYPTED_REQUEST", "JSON"},
    {"{\"a\":/*c*/1}", 400, "INVALID_DECRYPTED_REQUEST", "JSON"},
    {GOOD_HDR ",\"associationId\":\"assoc-1\",\"associationId\":\"assoc-1\","
     "\"smsMatchingToken\":\"" TOKEN "\"}", 400, "INVALID_DECRYPTED_REQUEST", "twice"},
    {"{\"requestHeader\":{\"requestId\":\"a\",\"requestId\":\"b\"}}", 400,
     "INVALID_DECRYPTED_REQUEST", "twice"},
    {"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
     400, "INVALID_DECRYPTED_REQUEST", "JSON"},
    {"{" BODY_OK, 400, "MISSING_REQUIRED_FIELD", "requestHeader is required"},
    {"{\"requestHeader\":{\"requestId\":\"e1\",\"requestTimestamp\":\"@\"}," BODY_OK, 400,
     "MISSING_REQUIRED_FIELD", "protocolVersion"},
    {HDR("\"requestTimestamp\":\"@\"},") BODY_OK, 400, "MISSING_REQUIRED_FIELD",
     "requestHeader.requestId"},
    {HDR("\"requestId\":\"e1\"},") BODY_OK, 400, "MISSING_REQUIRED_FIELD",
     "requestHeader.requestTimestamp"},
    {"{\"requestHeader\":{\"protocolVersion\":{\"major\":2,\"minor\":0},\"requestId\":\"e1\","
     "\"requestTimestamp\":\"@\"}," BODY_OK, 400, "INVALID_API_VERSION", "major"},
    {"{\"requestHeader\":{\"protocolVersion\":{\"major\":\"1\"},\"requestId\":\"e1\","
     "\"requestTimestamp\":\"@\"}," BODY_OK, 400, "INVALID_FIELD_VALUE", "major"},
    {"{\"requestHeader\":{\"protocolVersion\":{\"major\":99999999999999999999999},"
     "\"requestId\":\"e1\",\"requestTimestamp\":\"@\"}," BODY_OK, 400, "INVALID_API_VERSION", "major"},
    {HDR("\"requestId\":\"\",\"requestTimestamp\":\"@\"},") BODY_OK, 400,
     "INVALID_FIELD_VALUE", "requestId"},
    {HDR("\"requestId\":\"a b\",\"requestTimestamp\":\"@\"},") BODY_OK, 400,
     "INVALID_FIELD_VALUE", "requestId"},
    {HDR("\"requestId\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"requestTimestamp\":\"@\"},") BODY_OK, 400,
     "INVALID_FIELD_VALUE", "requestId"},
    {HDR("\"requestId\":12,\"requestTimestamp\":\"@\"},") BODY_OK, 400,
     "INVALID_FIELD_VALUE", "requestId"},
    {HDR("\"requestId\":\"e1\",\"requestTimestamp\":1502545413026},") BODY_OK, 400,
     "INVALID_FIELD_VALUE", "requestTimestamp"},
    {HDR("\"requestId\":\"e1\",\"requestTimestamp\":\"15025x\"},") BODY_OK, 400,
     "INVALID_FIELD_VALUE", "requestTimestamp"},
    {HDR("\"requestId\":\"e1\",\"requestTimestamp\":\"-1\"},") BODY_OK, 400,
     "INVALID_FIELD_VALUE", "requestTimestamp"},
    {HDR("\"requestId\":\"e1\",\"requestTimestamp\":\"99999999999999999999\"},") BODY_OK, 400,
     "INVALID_FIELD_VALUE", "requestTimestamp"},
    {HDR("\"requestId\":\"e1\",\"requestTimestamp\":\"1502545413026\"},") BODY_OK, 400,
     "REQUEST_TIMESTAMP_OUT_OF_RANGE", "requestTimestamp"},
    {GOOD_HDR ",\"associationId\":\"assoc-1\"}", 400, "MISSING_REQUIRED_FIELD",
     "smsMatchingToken"},
    {GOOD_HDR ",\"smsMatchingToken\":\"" TOKEN "\"}", 400, "MISSING_REQUIRED_FIELD",
     "accountPhoneNumber, associationId"},
    {GOOD_HDR ",\"accountPhoneNumber\":\"" PHONE "\"," BODY_OK, 400,
     "INVALID_FIELD_VALUE", "accountPhoneNumber, associationId"},
    {GOOD_HDR ",\"associationId\":\"assoc-1\",\"smsMatchingToken\":\"AB1234567\"}", 400,
     "INVALID_FIELD_VALUE", "smsMatchingToken"},
    {GOOD_HDR ",\"associationId\":\"assoc-1\",\"smsMatchingToken\":\"AB1234\\n678C\"}", 400,
     "INVALID_FIELD_VALUE", "smsMatchingToken"},
    {GOOD_HDR ",\"associationId\":\"assoc-1\",\"smsMatchingToken\":\"AB12 45678C\"}", 400,
     "INVALID_FIELD_VALUE", "smsMatchingToken"},
    {GOOD_HDR ",\"associationId\":\"assoc-1\",\"smsMatchingToken\":\"AB12\\u00005678C\"}", 400,
     "INVALID_FIELD_VALUE", "smsMatchingToken"},
    {GOOD_HDR ",\"associationId\":\"assoc-1\",\"smsMatchingToken\":\"AB1234567\xc3\xa9\"}", 400,
     "INVALID_FIELD_VALUE", "smsMatchingToken"},
    {GOOD_HDR ",\"associationId\":\"assoc-1\",\"smsMatchingToken\":12345678901}", 400,
     "INVALID_FIELD_VALUE", "smsMatchingToken"},
    {GOOD_HDR ",\"associationId\":\"\",\"smsMatchingToken\":\"" TOKEN "\"}", 400,
     "INVALID_FIELD_VALUE", "associationId"},
    {GOOD_HDR ",\"associationId\":\"assoc\\u0001\",\"smsMatchingToken\":\"" TOKEN "\"}", 400,
     "INVALID_FIELD_VALUE", "associationId"},
    {GOOD_HDR ",\"otpContext\":{}," BODY_OK, 400, "MISSING_REQUIRED_FIELD", "otpContext"},
    {GOOD_HDR ",\"otpContext\":[]," BODY_OK, 400, "INVALID_FIELD_VALUE", "otpContext"},
    {GOOD_HDR ",\"otpContext\":{\"association\":{},\"mandateCreation\":{}}," BODY_OK, 400,
     "INVALID_FIELD_VALUE", "otpContext"},
    {GOOD_HDR ",\"otpContext\":{\"association\":true}," BODY_OK, 400,
     "INVALID_FIELD_VALUE", "otpContext.association"},
};

/* The body of a table row, with this moment's timestamp where it says '@'. */
static void fill_timestamp(const char *tpl, struct buf *body) {
  char ts[32];
  snprintf(ts, sizeof ts, "%" PRId64, now_ms());
  for (const char *p = tpl; *p; p++)
    if (*p == '@')
      buf_appends(body, ts);
    else
      buf_append(body, p, 1);
}

START_TEST(bad_requests) {
  char *before = th_db_snapshot();
  struct buf body = {0};
  fill_timestamp(bad[_i].body, &body);
  struct th_fcgi_reply r;
  ck_assert_msg(th_fcgi_post(sock, PATH, body.data ? body.data : "", &r) == 0, "%s",
                th_fcgi_last_error());
  ck_assert_msg(r.status == bad[_i].status, "status %d for %s: %s", r.status,
                bad[_i].body, r.body);
  json_object *o = json_tokener_parse(r.body);
  ck_assert_ptr_nonnull(o);
  assert_response_header(o);
  ck_assert_str_eq(field(o, "errorResponseCode"), bad[_i].code);
  ck_assert_msg(strstr(field(o, "errorDescription"), bad[_i].says) != NULL,
                "'%s' lacks '%s'", field(o, "errorDescription"), bad[_i].says);
  const char *eid = field(o, "paymentIntegratorErrorIdentifier");
  ck_assert_int_eq((int)strlen(eid), 16);
  /* The identifier is in the log line of that request. */
  char *log = th_path("worker.log");
  char *logtext = th_read_file(log);
  ck_assert_ptr_nonnull(logtext);
  ck_assert_ptr_nonnull(strstr(logtext, eid));
  char *after = th_db_snapshot();
  ck_assert_str_eq(before, after);
  /* And the worker still serves. */
  ck_assert_str_eq(send_result("after-bad", "associationId", "assoc-1"), "SUCCESS");
  free(logtext);
  free(log);
  free(before);
  free(after);
  json_object_put(o);
  th_fcgi_reply_free(&r);
  buf_free(&body);
}
END_TEST

/* Fields a later minor version of v1 may add, which a v1 server must accept
 * and ignore: inside an Empty (the seed: "may be extended to contain data
 * in future versions"), beside the union in otpContext, in the header, at
 * the top level. Each: SUCCESS, with the context the request named. */
static const struct {
  const char *body;
  const char *context;
} unknown_fields[] = {
    {GOOD_HDR ",\"otpContext\":{\"association\":{\"x\":1}}," BODY_OK, "association"},
    {GOOD_HDR ",\"otpContext\":{\"mandateCreation\":{\"m\":{\"a\":[1,\"b\"]}}}," BODY_OK,
     "mandate_creation"},
    {GOOD_HDR ",\"otpContext\":{\"associationWithMandateCreation\":{\"x\":null}}," BODY_OK,
     "association_with_mandate_creation"},
    {GOOD_HDR ",\"otpContext\":{\"association\":{},\"hint\":1}," BODY_OK, "association"},
    {GOOD_HDR ",\"future\":{\"a\":1}," BODY_OK, "none"},
    {HDR("\"requestId\":\"e1\",\"requestTimestamp\":\"@\",\"userLocale\":\"en\","
         "\"future\":1},") BODY_OK, "none"},
    {"{\"requestHeader\":{\"protocolVersion\":{\"major\":1,\"minor\":9,\"revision\":4,"
     "\"future\":true},\"requestId\":\"e1\",\"requestTimestamp\":\"@\"}," BODY_OK, "none"},
};

START_TEST(unknown_fields_are_ignored) {
  struct buf body = {0};
  struct th_fcgi_reply r;
  fill_timestamp(unknown_fields[_i].body, &body);
  ck_assert_int_eq(th_fcgi_post(sock, PATH, body.data, &r), 0);
  ck_assert_msg(r.status == 200 && strstr(r.body, "\"SUCCESS\""), "%d %s for %s", r.status,
                r.body, body.data);
  char *context = th_sql_text("SELECT context FROM otps");
  ck_assert_str_eq(context, unknown_fields[_i].context);
  free(context);
  th_fcgi_reply_free(&r);
  buf_free(&body);
}
END_TEST

/* Bodies the table cannot hold as C strings: NUL bytes, deep nesting, a
 * requestId of exactly 101 characters. Each: 400, nothing written, and the
 * worker still serves. */
START_TEST(hostile_bodies) {
  char *before = th_db_snapshot();
  struct th_fcgi_reply r;
  char cl[48];
  /* A raw NUL byte inside a string, and one between tokens. */
  char *good = request("nul-1", "associationId", "assoc-1", TOKEN);
  size_t len = strlen(good);
  for (int where = 0; where < 2; where++) {
    char *hostile = xstrdup(good);
    char *at = where == 0 ? strstr(hostile, "AB12345678C") + 4 : strchr(hostile, ',');
    *at = '\0';
    snprintf(cl, sizeof cl, "CONTENT_LENGTH=%zu", len);
    const char *params[] = {"REQUEST_METHOD=POST", "SCRIPT_NAME=" PATH,
                            "CONTENT_TYPE=application/json", cl, NULL};
    ck_assert_int_eq(th_fcgi_call(sock, params, hostile, len, &r), 0);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "INVALID_DECRYPTED_REQUEST"));
    th_fcgi_reply_free(&r);
    free(hostile);
  }
  /* Nesting 10,000 deep. */
  struct buf deep = {0};
  buf_appends(&deep, "{\"a\":");
  for (int i = 0; i < 10000; i++)
    buf_appends(&deep, "[");
  for (int i = 0; i < 10000; i++)
    buf_appends(&deep, "]");
  buf_appends(&deep, "}");
  ck_assert_int_eq(th_fcgi_post(sock, PATH, deep.data, &r), 0);
  ck_assert_int_eq(r.status, 400);
  ck_assert_ptr_nonnull(strstr(r.body, "nesting too deep"));
  th_fcgi_reply_free(&r);
  buf_free(&deep);
  /* requestId: 100 characters are fine, 101 are not. */
  char id[102];
  memset(id, 'x', 101);
  id[101] = '\0';
  char *body = request(id, "associationId", "assoc-1", TOKEN);
  ck_assert_int_eq(th_fcgi_post(sock, PATH, body, &r), 0);
  ck_assert_int_eq(r.status, 400);
  ck_assert_ptr_nonnull(strstr(r.body, "requestHeader.requestId"));
  th_fcgi_reply_free(&r);
  free(body);
  char *after = th_db_snapshot();
  ck_assert_str_eq(before, after);
  id[100] = '\0';
  ck_assert_str_eq(send_result(id, "associationId", "assoc-1"), "SUCCESS");
  free(good);
  free(before);
  free(after);
}
END_TEST

START_TEST(http_level_errors) {
  struct th_fcgi_reply r;
  char *body = request("h1", "associationId", "assoc-1", TOKEN);
  char cl[48];
  snprintf(cl, sizeof cl, "CONTENT_LENGTH=%zu", strlen(body));
  char *before = th_db_snapshot();

  const char *get[] = {"REQUEST_METHOD=GET", "SCRIPT_NAME=" PATH, NULL};
  ck_assert_int_eq(th_fcgi_call(sock, get, "", 0, &r), 0);
  ck_assert_int_eq(r.status, 405);
  ck_assert_ptr_nonnull(strstr(r.headers, "Allow: POST"));
  ck_assert_ptr_nonnull(strstr(r.body, "paymentIntegratorErrorIdentifier"));
  th_fcgi_reply_free(&r);

  ck_assert_int_eq(th_fcgi_post(sock, "/v1/refund", body, &r), 0);
  ck_assert_int_eq(r.status, 404);
  th_fcgi_reply_free(&r);

  const char *xml[] = {"REQUEST_METHOD=POST", "SCRIPT_NAME=" PATH,
                       "CONTENT_TYPE=text/xml", cl, NULL};
  ck_assert_int_eq(th_fcgi_call(sock, xml, body, strlen(body), &r), 0);
  ck_assert_int_eq(r.status, 415);
  th_fcgi_reply_free(&r);

  const char *lies_long[] = {"REQUEST_METHOD=POST", "SCRIPT_NAME=" PATH,
                             "CONTENT_TYPE=application/json", "CONTENT_LENGTH=5000", NULL};
  ck_assert_int_eq(th_fcgi_call(sock, lies_long, body, strlen(body), &r), 0);
  ck_assert_int_eq(r.status, 400);
  ck_assert_ptr_nonnull(strstr(r.body, "shorter"));
  th_fcgi_reply_free(&r);

  const char *lies_short[] = {"REQUEST_METHOD=POST", "SCRIPT_NAME=" PATH,
                              "CONTENT_TYPE=application/json", "CONTENT_LENGTH=10", NULL};
  ck_assert_int_eq(th_fcgi_call(sock, lies_short, body, strlen(body), &r), 0);
  ck_assert_int_eq(r.status, 400);
  ck_assert_ptr_nonnull(strstr(r.body, "INVALID_DECRYPTED_REQUEST"));
  th_fcgi_reply_free(&r);

  static const char *bad_lengths[] = {"CONTENT_LENGTH=-5", "CONTENT_LENGTH=abc",
                                      "CONTENT_LENGTH=12 ", "CONTENT_LENGTH=0x10",
                                      "CONTENT_LENGTH=99999999999999999999999"};
  for (size_t i = 0; i < 5; i++) {
    const char *p[] = {"REQUEST_METHOD=POST", "SCRIPT_NAME=" PATH,
                       "CONTENT_TYPE=application/json", bad_lengths[i], NULL};
    ck_assert_int_eq(th_fcgi_call(sock, p, body, strlen(body), &r), 0);
    ck_assert_msg(r.status == 400, "%s: %d", bad_lengths[i], r.status);
    th_fcgi_reply_free(&r);
  }

  /* Over [api] max_body_bytes (64 KiB): 413 without reading it all. */
  size_t big = 10 * 1024 * 1024;
  char *huge = xmalloc(big + 1);
  memset(huge, ' ', big);
  huge[big] = '\0';
  ck_assert_int_eq(th_fcgi_post(sock, PATH, huge, &r), 0);
  ck_assert_int_eq(r.status, 413);
  th_fcgi_reply_free(&r);
  free(huge);

  char *after = th_db_snapshot();
  ck_assert_str_eq(before, after);
  /* Other mount points and the old path family route the same. */
  const char *paths[] = {"/v1/sendOtp", "/some/mount/e-wallets-v1/sendOtp", PATH};
  for (int i = 0; i < 3; i++) {
    char rid[16];
    snprintf(rid, sizeof rid, "mount-%d", i);
    char *b = request(rid, "associationId", "assoc-1", TOKEN);
    ck_assert_int_eq(th_fcgi_post(sock, paths[i], b, &r), 0);
    ck_assert_int_eq(r.status, 200);
    th_fcgi_reply_free(&r);
    free(b);
  }
  char *b = request("uri-only", "associationId", "assoc-1", TOKEN);
  snprintf(cl, sizeof cl, "CONTENT_LENGTH=%zu", strlen(b));
  const char *uri_only[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/x/v1/sendOtp?a=b",
                            "CONTENT_TYPE=application/json; charset=utf-8", cl, NULL};
  ck_assert_int_eq(th_fcgi_call(sock, uri_only, b, strlen(b), &r), 0);
  ck_assert_int_eq(r.status, 200);
  th_fcgi_reply_free(&r);
  free(b);
  free(before);
  free(after);
  free(body);
}
END_TEST

START_TEST(echo_answers) {
  int status;
  char *body = xasprintf(HDR("\"requestId\":\"echo-1\",\"requestTimestamp\":\"%" PRId64
                             "\"},\"clientMessage\":\"hello \\u00e9\"}"), now_ms());
  json_object *o = post_json("/v1/echo", body, &status, NULL);
  ck_assert_int_eq(status, 200);
  assert_response_header(o);
  ck_assert_str_eq(field(o, "clientMessage"), "hello \xc3\xa9");
  ck_assert_ptr_nonnull(strstr(field(o, "serverMessage"), "otpgate"));
  json_object_put(o);
  free(body);
  /* Echo is idempotent too: a retry replays, another message under the
   * same requestId is refused; a sendOtp may share its requestId. */
  body = xasprintf(HDR("\"requestId\":\"echo-1\",\"requestTimestamp\":\"%" PRId64
                       "\"},\"clientMessage\":\"hello \\u00e9\"}"), now_ms());
  o = post_json("/v1/echo", body, &status, NULL);
  ck_assert_int_eq(status, 200);
  ck_assert_str_eq(field(o, "clientMessage"), "hello \xc3\xa9");
  json_object_put(o);
  free(body);
  body = xasprintf(HDR("\"requestId\":\"echo-1\",\"requestTimestamp\":\"%" PRId64
                       "\"},\"clientMessage\":\"other\"}"), now_ms());
  o = post_json("/v1/echo", body, &status, NULL);
  ck_assert_int_eq(status, 412);
  ck_assert_str_eq(field(o, "errorResponseCode"), "IDEMPOTENCY_VIOLATION");
  json_object_put(o);
  free(body);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests WHERE method = 'echo' "
                              "AND request_id = 'echo-1'"), 1);
  ck_assert_str_eq(send_result("echo-1", "associationId", "assoc-1"), "SUCCESS");
  body = xasprintf(HDR("\"requestId\":\"echo-2\",\"requestTimestamp\":\"%" PRId64 "\"}}"),
                   now_ms());
  o = post_json("/v1/echo", body, &status, NULL);
  ck_assert_int_eq(status, 400);
  ck_assert_str_eq(field(o, "errorResponseCode"), "MISSING_REQUIRED_FIELD");
  json_object_put(o);
  free(body);
}
END_TEST

/* Echo sends clientMessage back as charset=utf-8, so what it lets in it
 * hands on. Each of these sits in clientMessage after "ok ". */
static const char *const echo_bad_utf8[] = {
    "\xc0\xaf",         /* '/' in two bytes: overlong */
    "\xe0\x80\xaf",     /* '/' in three bytes: overlong */
    "\xed\xa0\x80",     /* U+D800, a surrogate, encoded */
    "\xf4\x90\x80\x80", /* U+110000, past the last code point */
    "\xf5\x80\x80\x80", /* a first byte RFC 3629 never allows */
    "\x80",             /* a continuation byte with nothing before it */
    "\xe2\x82",         /* cut short by the closing quote */
};

static char *echo_body(const char *rid, const char *message, size_t *at) {
  char *head = xasprintf(HDR("\"requestId\":\"%s\",\"requestTimestamp\":\"%" PRId64
                             "\"},\"clientMessage\":\"ok "), rid, now_ms());
  char *body = xasprintf("%s%s\"}", head, message);
  if (at)
    *at = strlen(head);
  free(head);
  return body;
}

START_TEST(echo_refuses_bad_utf8) {
  int status;
  size_t at;
  char *body = echo_body("u8-bad", echo_bad_utf8[_i], &at);
  json_object *o = post_json("/v1/echo", body, &status, NULL);
  char *says = xasprintf("invalid UTF-8 at byte %zu", at);
  ck_assert_msg(status == 400, "row %d: status %d", _i, status);
  ck_assert_str_eq(field(o, "errorResponseCode"), "INVALID_DECRYPTED_REQUEST");
  ck_assert_msg(strstr(field(o, "errorDescription"), says) != NULL, "row %d: '%s' lacks '%s'",
                _i, field(o, "errorDescription"), says);
  free(says);
  json_object_put(o);
  free(body);
}
END_TEST

/* What is valid comes back byte for byte: each edge of the RFC 3629 table,
 * and a surrogate pair escape as the one character it stands for. */
static const struct {
  const char *sent, *echoed;
} echo_good_utf8[] = {
    {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"}, /* U+1F600 */
    {"\\ud83d\\ude00", "\xf0\x9f\x98\x80"},   /* U+1F600 as an escaped pair */
    {"\\udbff\\udfff", "\xf4\x8f\xbf\xbf"},   /* U+10FFFF as an escaped pair */
    {"\xc2\x80\xdf\xbf", "\xc2\x80\xdf\xbf"}, /* U+0080, U+07FF */
    {"\xe0\xa0\x80\xed\x9f\xbf", "\xe0\xa0\x80\xed\x9f\xbf"}, /* U+0800, U+D7FF */
    {"\xee\x80\x80\xef\xbf\xbf", "\xee\x80\x80\xef\xbf\xbf"}, /* U+E000, U+FFFF */
    /* U+10000, U+10FFFF */
    {"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"},
};

START_TEST(echo_keeps_good_utf8) {
  int status;
  char *raw;
  char *body = echo_body("u8-good", echo_good_utf8[_i].sent, NULL);
  json_object *o = post_json("/v1/echo", body, &status, &raw);
  ck_assert_msg(status == 200, "row %d: status %d: %s", _i, status, raw);
  char *want = xasprintf("\"clientMessage\":\"ok %s\"", echo_good_utf8[_i].echoed);
  ck_assert_msg(strstr(raw, want) != NULL, "row %d: %s", _i, raw);
  free(want);
  free(raw);
  json_object_put(o);
  free(body);
}
END_TEST

START_TEST(concurrent_duplicates) {
  /* A second worker on its own socket, the same database. */
  char sock2[600], sock_a[600];
  /* th_worker_start names the socket after th_tmpdir(): move ours. */
  snprintf(sock_a, sizeof sock_a, "%s/first.sock", th_tmpdir());
  ck_assert_int_eq(rename(sock, sock_a), 0);
  int w2 = th_worker_start(th_config_path(), sock2, sizeof sock2);
  ck_assert_int_gt(w2, 0);
  enum { CLIENTS = 16 };
  int pipes[CLIENTS][2];
  pid_t kids[CLIENTS];
  char *body = request("dup-1", "associationId", "assoc-1", TOKEN);
  for (int i = 0; i < CLIENTS; i++) {
    ck_assert_int_eq(pipe(pipes[i]), 0);
    kids[i] = fork();
    if (kids[i] == 0) {
      struct th_fcgi_reply r;
      char out[256] = "ERR";
      if (th_fcgi_post(i % 2 ? sock_a : sock2, PATH, body, &r) == 0) {
        json_object *o = json_tokener_parse(r.body);
        snprintf(out, sizeof out, "%d %s %s", r.status, field(o, "result"),
                 field(o, "paymentIntegratorSendOtpId"));
      }
      if (write(pipes[i][1], out, strlen(out) + 1) < 0)
        _exit(1);
      _exit(0);
    }
    close(pipes[i][1]);
  }
  char first[256] = "";
  for (int i = 0; i < CLIENTS; i++) {
    char got[256] = "";
    ck_assert_int_gt(read(pipes[i][0], got, sizeof got), 0);
    close(pipes[i][0]);
    waitpid(kids[i], NULL, 0);
    ck_assert_msg(strncmp(got, "200 SUCCESS ", 12) == 0, "%s", got);
    if (i == 0)
      snprintf(first, sizeof first, "%s", got);
    ck_assert_str_eq(got, first);
  }
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps"), 1);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 1);
  ck_assert_int_eq(th_worker_stop(w2), 0);
  snprintf(sock, sizeof sock, "%s", sock_a);
  free(body);
}
END_TEST

/* How many connections wait in the accept queue of the listening socket
 * at path (ss's Recv-Q), or -1 when ss cannot say. */
static int accept_queue(const char *path) {
  FILE *p = popen("ss -xlnH 2>/dev/null", "r");
  char line[1024], netid[32], state[32], local[512];
  int n = -1, recvq, sendq;
  if (p == NULL)
    return -1;
  while (fgets(line, sizeof line, p))
    if (sscanf(line, "%31s %31s %d %d %511s", netid, state, &recvq, &sendq,
               local) == 5 &&
        strcmp(local, path) == 0)
      n = recvq;
  pclose(p);
  return n;
}

/* A request queued on the socket when the stop comes is still answered. */
START_TEST(stop_serves_what_is_queued) {
  enum { QUEUED = 3 };
  pid_t kids[QUEUED];
  int pipes[QUEUED][2];
  kill(worker, SIGSTOP);
  for (int i = 0; i < QUEUED; i++) {
    ck_assert_int_eq(pipe(pipes[i]), 0);
    kids[i] = fork();
    if (kids[i] == 0) {
      char rid[16];
      snprintf(rid, sizeof rid, "queued-%d", i);
      char *body = request(rid, "associationId", "assoc-1", TOKEN);
      struct th_fcgi_reply r;
      int status = th_fcgi_post(sock, PATH, body, &r) == 0 ? r.status : -1;
      if (write(pipes[i][1], &status, sizeof status) < 0)
        _exit(1);
      _exit(0);
    }
    close(pipes[i][1]);
  }
  /* The stop comes once every client waits in the socket's queue (a fixed
   * sleep was not always enough on a loaded machine). */
  int waiting = -1;
  for (int tries = 0; tries < 200 && waiting < QUEUED; tries++) {
    usleep(50 * 1000);
    waiting = accept_queue(sock);
  }
  ck_assert_int_eq(waiting, QUEUED);
  kill(worker, SIGTERM);
  kill(worker, SIGCONT);
  for (int i = 0; i < QUEUED; i++) {
    int status = 0;
    ck_assert_int_eq(read(pipes[i][0], &status, sizeof status), (ssize_t)sizeof status);
    ck_assert_int_eq(status, 200);
    waitpid(kids[i], NULL, 0);
  }
  int wstatus;
  ck_assert_int_eq(waitpid(worker, &wstatus, 0), worker);
  ck_assert(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  worker = 0;
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), QUEUED);
}
END_TEST

int main(void) {
  Suite *s = suite_create("send_otp");
  TCase *tc = tcase_create("send_otp");
  tcase_set_timeout(tc, 60);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, seeds_example_round_trip);
  tcase_add_test(tc, token_first_line);
  tcase_add_test(tc, retry_gets_the_same_answer);
  tcase_add_test(tc, decisions);
  tcase_add_test(tc, invalid_phone_numbers_are_declined);
  tcase_add_test(tc, short_and_long_phone_numbers_are_e164);
  tcase_add_test(tc, seven_digit_phone_receives_a_code);
  tcase_add_test(tc, send_limit);
  tcase_add_test(tc, locked_account);
  tcase_add_test(tc, no_sender_no_promise);
  tcase_add_test(tc, association_errors);
  tcase_add_test(tc, failed_last_write_is_503);
  tcase_add_test(tc, store_failure_inside_the_method_is_logged);
  tcase_add_test(tc, countries_and_caps);
  TH_SQLITE_ONLY(tc, no_code_in_the_database_files,
                 "reads SQLite's database file and its -wal");
  tcase_add_test(tc, secret_rotation_keeps_old_codes_and_records);
  tcase_add_loop_test(tc, bad_requests, 0, sizeof bad / sizeof bad[0]);
  tcase_add_loop_test(tc, unknown_fields_are_ignored, 0,
                      sizeof unknown_fields / sizeof unknown_fields[0]);
  tcase_add_test(tc, hostile_bodies);
  tcase_add_test(tc, http_level_errors);
  tcase_add_test(tc, echo_answers);
  tcase_add_loop_test(tc, echo_refuses_bad_utf8, 0,
                      sizeof echo_bad_utf8 / sizeof echo_bad_utf8[0]);
  tcase_add_loop_test(tc, echo_keeps_good_utf8, 0,
                      sizeof echo_good_utf8 / sizeof echo_good_utf8[0]);
  tcase_add_test(tc, concurrent_duplicates);
  /* About the signal path, not memory: valgrind delivers signals late,
   * so the valgrind pass leaves it to the plain and sanitizer passes. */
  if (getenv("OTPGATE_TEST_WRAPPER") == NULL)
    tcase_add_test(tc, stop_serves_what_is_queued);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
