/* verifyOtp: the full cycle through the real worker, the attempt limits,
 * supersession; expiry and the end of a lockout with an injected clock. */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api.h"
#include "conf.h"
#include "fcgi_client.h"
#include "testhelp.h"
#include "util.h"

#define PHONE TH_TEST_PHONE
#define TOKEN "AB12345678C"

static char sock[600];
static int worker;

static void start(const char *extra) {
  worker = th_test_worker(extra, sock, sizeof sock);
  ck_assert_int_gt(worker, 0);
}

static void setup(void) { start("[otp]\nmax_account_failures = 7\n"); }

/* A new worker on the same configuration and database. */
static void restart_worker(void) {
  ck_assert_int_eq(th_worker_stop(worker), 0);
  worker = th_worker_start(th_config_path(), sock, sizeof sock);
  ck_assert_int_gt(worker, 0);
}

static void teardown(void) {
  if (worker > 0)
    ck_assert_int_eq(th_worker_stop(worker), 0);
  worker = 0;
  th_cleanup();
}

static char *header(const char *rid, int64_t ts) {
  return xasprintf("\"requestHeader\":{\"protocolVersion\":{\"major\":1,\"minor\":0,"
                   "\"revision\":0},\"requestId\":\"%s\",\"requestTimestamp\":\"%" PRId64 "\"}",
                   rid, ts);
}

static char *send_body(const char *rid, int64_t ts) {
  char *h = header(rid, ts);
  char *b = xasprintf("{%s,\"associationId\":\"assoc-1\",\"smsMatchingToken\":\"" TOKEN "\"}", h);
  free(h);
  return b;
}

static char *verify_body(const char *rid, const char *send_rid, const char *otp, int64_t ts) {
  char *h = header(rid, ts);
  char *b = xasprintf("{%s,\"sendOtpRequestId\":\"%s\",\"otp\":\"%s\"}", h, send_rid, otp);
  free(h);
  return b;
}

static const char *get(json_object *o, const char *name) {
  json_object *v;
  return json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : NULL;
}

/* POSTs through the worker; returns "STATUS RESULT-or-ERRORCODE". */
static const char *call(const char *method, char *body) {
  static char out[128];
  struct th_fcgi_reply r;
  char *path = xasprintf("/integrator-base-path/e-wallets-v1/%s", method);
  ck_assert_int_eq(th_fcgi_post(sock, path, body, &r), 0);
  json_object *o = json_tokener_parse(r.body);
  ck_assert_ptr_nonnull(o);
  const char *res = get(o, "result");
  snprintf(out, sizeof out, "%d %s", r.status, res ? res : get(o, "errorResponseCode"));
  if (r.status == 404)
    ck_assert_ptr_nonnull(strstr(get(o, "errorDescription"), "sendOtpRequestId"));
  if (res && strcmp(method, "verifyOtp") == 0)
    ck_assert_int_eq((int)strlen(get(o, "paymentIntegratorVerifyOtpId")), 32);
  json_object_put(o);
  th_fcgi_reply_free(&r);
  free(path);
  free(body);
  return out;
}

/* The code in the SMS queued for a sendOtp requestId (opened from its
 * sealed form, as the sender opens it). */
static char *code_of(const char *send_rid) {
  char *sql = xasprintf("SELECT o.id FROM outbox o JOIN otps p ON p.id = o.otp_id "
                        "WHERE p.request_id = '%s'", send_rid);
  int64_t id = th_sql_int(sql);
  char *text = th_sms_text(id);
  ck_assert_msg(id > 0 && text != NULL, "no sealed SMS for %s", send_rid);
  free(sql);
  sql = xasprintf("SELECT code_offset * 100 + code_length FROM outbox "
                  "WHERE id = %lld", (long long)id);
  int64_t where = th_sql_int(sql);
  char *code = xstrdup(text + where / 100);
  code[where % 100] = '\0';
  free(text);
  free(sql);
  return code;
}

static char *wrong(const char *code) {
  char *w = xstrdup(code);
  w[0] = w[0] == '9' ? '0' : (char)(w[0] + 1);
  return w;
}

/* A code that is not the one sent for send_rid. */
static char *wrong_code_of(const char *send_rid) {
  char *right = code_of(send_rid), *w = wrong(right);
  free(right);
  return w;
}

START_TEST(full_cycle) {
  ck_assert_str_eq(call("sendOtp", send_body("s1", now_ms())), "200 SUCCESS");
  char *code = code_of("s1");
  ck_assert_str_eq(call("verifyOtp", verify_body("v1", "s1", code, now_ms())), "200 SUCCESS");
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps WHERE used_at IS NOT NULL"), 1);
  /* A retry of v1 is answered from the record; a new check of the code
   * finds it used. */
  ck_assert_str_eq(call("verifyOtp", verify_body("v1", "s1", code, now_ms())), "200 SUCCESS");
  ck_assert_str_eq(call("verifyOtp", verify_body("v2", "s1", code, now_ms())),
                   "200 OTP_ALREADY_USED");
  /* Records are keyed on (method, requestId): a verifyOtp may carry the
   * requestId of the sendOtp it verifies, as Google's own example does. */
  ck_assert_str_eq(call("verifyOtp", verify_body("s1", "s1", code, now_ms())),
                   "200 OTP_ALREADY_USED");
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests WHERE request_id = 's1'"), 2);
  free(code);
}
END_TEST

START_TEST(full_cycle_through_the_sender) {
  /* The code as the gateway got it: the real sender, the exec transport,
   * a script that keeps the SMS it was handed. */
  ck_assert_int_eq(th_worker_stop(worker), 0);
  th_cleanup();
  th_tmpdir();
  char *sms = th_path("sms.txt");
  char *script = th_write_file("gateway.sh", "#!/bin/sh\ncat > \"$1\"\n", 0755);
  char *extra = xasprintf("[sender]\ntransport = exec\nexec_command = %s %s\n", script, sms);
  start(extra);
  ck_assert_str_eq(call("sendOtp", send_body("s1", now_ms())), "200 SUCCESS");
  ck_assert_int_eq(th_sender_once(), 0);
  ck_assert(th_wait_file(sms, 5000));
  char *text = th_read_file(sms);
  ck_assert_ptr_nonnull(strstr(text, "\n" TOKEN));
  char code[7] = "";
  const char *p = strstr(text, "code is ");
  ck_assert_ptr_nonnull(p);
  memcpy(code, p + 8, 6);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox WHERE status = 'sent'"), 1);
  /* Sent: the row no longer holds the code. */
  char *stored = th_sql_text("SELECT text FROM outbox");
  ck_assert_ptr_null(strstr(stored, code));
  ck_assert_str_eq(call("verifyOtp", verify_body("v1", "s1", code, now_ms())), "200 SUCCESS");
  ck_assert_str_eq(call("verifyOtp", verify_body("v2", "s1", code, now_ms())),
                   "200 OTP_ALREADY_USED");
  free(stored);
  free(text);
  free(extra);
  free(script);
  free(sms);
}
END_TEST

START_TEST(wrong_codes_and_the_per_code_limit) {
  ck_assert_str_eq(call("sendOtp", send_body("s1", now_ms())), "200 SUCCESS");
  char *code = code_of("s1"), *bad = wrong(code);
  char rid[16];
  for (int i = 0; i < 5; i++) {
    snprintf(rid, sizeof rid, "w%d", i);
    ck_assert_str_eq(call("verifyOtp", verify_body(rid, "s1", bad, now_ms())),
                     "200 OTP_NOT_MATCHED");
  }
  ck_assert_int_eq(th_sql_int("SELECT attempts FROM otps"), 5);
  ck_assert_int_eq(th_sql_int("SELECT verify_failures FROM accounts"), 5);
  /* max_verify_attempts (5) used up: even the right code fails now. */
  ck_assert_str_eq(call("verifyOtp", verify_body("right", "s1", code, now_ms())),
                   "200 OTP_NOT_MATCHED");
  free(code);
  free(bad);
}
END_TEST

START_TEST(account_limit_spans_codes) {
  /* max_account_failures = 7: a new code does not reset the count. */
  char rid[16];
  ck_assert_str_eq(call("sendOtp", send_body("s1", now_ms())), "200 SUCCESS");
  char *bad1 = wrong_code_of("s1");
  for (int i = 0; i < 4; i++) {
    snprintf(rid, sizeof rid, "a%d", i);
    ck_assert_str_eq(call("verifyOtp", verify_body(rid, "s1", bad1, now_ms())),
                     "200 OTP_NOT_MATCHED");
  }
  ck_assert_str_eq(call("sendOtp", send_body("s2", now_ms())), "200 SUCCESS");
  ck_assert_int_eq(th_sql_int("SELECT verify_failures FROM accounts"), 4);
  char *bad2 = wrong_code_of("s2");
  for (int i = 0; i < 3; i++) {
    snprintf(rid, sizeof rid, "b%d", i);
    ck_assert_str_eq(call("verifyOtp", verify_body(rid, "s2", bad2, now_ms())),
                     "200 OTP_NOT_MATCHED");
  }
  ck_assert_int_gt(th_sql_int("SELECT locked_until FROM accounts"), now_ms() + 800 * 1000);
  ck_assert_str_eq(call("sendOtp", send_body("s3", now_ms())), "200 OTP_LIMIT_REACHED");
  free(bad1);
  free(bad2);
}
END_TEST

/* The audit's case: codes A and B out (B superseded A), wrong guesses on A
 * lock the account; B's right code must not verify while it is locked,
 * and the count goes on past the limit instead of starting again at 0. */
/* A code hashed with secret 1 still verifies once secret 2 has taken over
 * (the worker restarted with both). */
START_TEST(rotated_secret_still_verifies) {
  ck_assert_str_eq(call("sendOtp", send_body("s1", now_ms())), "200 SUCCESS");
  char *code = code_of("s1");
  ck_assert_int_eq(th_admin("secret", "rotate", NULL), 0);
  restart_worker();
  ck_assert_str_eq(call("verifyOtp", verify_body("v1", "s1", code, now_ms())), "200 SUCCESS");
  ck_assert_int_eq(th_sql_int("SELECT key_id FROM requests WHERE request_id = 'v1'"), 2);
  free(code);
}
END_TEST

START_TEST(lockout_stops_verification) {
  char rid[16];
  ck_assert_str_eq(call("sendOtp", send_body("sA", now_ms())), "200 SUCCESS");
  char *bad = wrong_code_of("sA");
  ck_assert_str_eq(call("sendOtp", send_body("sB", now_ms())), "200 SUCCESS");
  char *right = code_of("sB");
  for (int i = 0; i < 7; i++) {
    snprintf(rid, sizeof rid, "g%d", i);
    ck_assert_str_eq(call("verifyOtp", verify_body(rid, "sA", bad, now_ms())),
                     "200 OTP_NOT_MATCHED");
  }
  ck_assert_int_gt(th_sql_int("SELECT locked_until FROM accounts"), now_ms());
  ck_assert_int_eq(th_sql_int("SELECT verify_failures FROM accounts"), 7);
  ck_assert_str_eq(call("verifyOtp", verify_body("vB", "sB", right, now_ms())),
                   "200 OTP_NOT_MATCHED");
  /* Answered without looking at the code, and counted as a failure. */
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps WHERE used_at IS NOT NULL"), 0);
  ck_assert_int_eq(th_sql_int("SELECT verify_failures FROM accounts"), 8);
  ck_assert_int_eq(th_sql_int("SELECT attempts FROM otps WHERE request_id = 'sB'"), 1);
  free(bad);
  free(right);
}
END_TEST

/* A used code, checked again while the account is locked, is not told
 * apart from a wrong one either. */
START_TEST(lockout_hides_used_codes) {
  char rid[16];
  ck_assert_str_eq(call("sendOtp", send_body("s1", now_ms())), "200 SUCCESS");
  char *used = code_of("s1");
  ck_assert_str_eq(call("verifyOtp", verify_body("v1", "s1", used, now_ms())), "200 SUCCESS");
  ck_assert_str_eq(call("sendOtp", send_body("s2", now_ms())), "200 SUCCESS");
  char *bad = wrong_code_of("s2");
  for (int i = 0; i < 7; i++) {
    snprintf(rid, sizeof rid, "g%d", i);
    ck_assert_str_eq(call("verifyOtp", verify_body(rid, "s2", bad, now_ms())),
                     "200 OTP_NOT_MATCHED");
  }
  ck_assert_str_eq(call("verifyOtp", verify_body("v2", "s1", used, now_ms())),
                   "200 OTP_NOT_MATCHED");
  free(used);
  free(bad);
}
END_TEST

/* Closing an account (any status but active) or revoking an association
 * kills the codes already sent: the right code no longer verifies. */
START_TEST(closing_or_revoking_kills_codes) {
  static const char *statuses[] = {"closed_fraud", "not_eligible"};
  char *code;
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(th_admin("account", "set", TH_TEST_ACCOUNT, "--status", "active", NULL), 0);
    char *srid = xasprintf("s-%s", statuses[i]), *vrid = xasprintf("v-%s", statuses[i]);
    ck_assert_str_eq(call("sendOtp", send_body(srid, now_ms())), "200 SUCCESS");
    code = code_of(srid);
    ck_assert_int_eq(th_admin("account", "set", TH_TEST_ACCOUNT, "--status", statuses[i], NULL),
                     0);
    ck_assert_str_eq(call("verifyOtp", verify_body(vrid, srid, code, now_ms())),
                     "200 OTP_NOT_MATCHED");
    free(code);
    free(srid);
    free(vrid);
  }
  /* Back to active: a new code works, and setting the status to active
   * again leaves it alone. */
  ck_assert_int_eq(th_admin("account", "set", TH_TEST_ACCOUNT, "--status", "active", NULL), 0);
  ck_assert_str_eq(call("sendOtp", send_body("s-live", now_ms())), "200 SUCCESS");
  ck_assert_int_eq(th_admin("account", "set", TH_TEST_ACCOUNT, "--status", "active", NULL), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps WHERE superseded_at IS NULL"), 1);
  /* Revoking the association it came through kills it too. */
  code = code_of("s-live");
  ck_assert_int_eq(th_admin("association", "revoke", TH_TEST_ASSOCIATION, NULL), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps WHERE superseded_at IS NULL"), 0);
  ck_assert_str_eq(call("verifyOtp", verify_body("v-live", "s-live", code, now_ms())),
                   "200 OTP_NOT_MATCHED");
  free(code);
}
END_TEST

/* Only the closed account's codes die, and a used code keeps its record. */
START_TEST(closing_spares_other_accounts_and_used_codes) {
  ck_assert_int_eq(th_admin("account", "add", "acct-2", "--phone", "+14035550002", NULL), 0);
  ck_assert_int_eq(th_admin("association", "add", "assoc-2", "acct-2", NULL), 0);
  ck_assert_str_eq(call("sendOtp", send_body("s1", now_ms())), "200 SUCCESS");
  char *used = code_of("s1");
  ck_assert_str_eq(call("verifyOtp", verify_body("v1", "s1", used, now_ms())), "200 SUCCESS");
  char *h = header("s2", now_ms());
  ck_assert_str_eq(call("sendOtp", xasprintf("{%s,\"associationId\":\"assoc-2\","
                                             "\"smsMatchingToken\":\"" TOKEN "\"}", h)),
                   "200 SUCCESS");
  char *other = code_of("s2");
  ck_assert_int_eq(th_admin("account", "set", TH_TEST_ACCOUNT, "--status", "closed", NULL), 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM otps WHERE superseded_at IS NOT NULL"), 0);
  ck_assert_str_eq(call("verifyOtp", verify_body("v2", "s2", other, now_ms())), "200 SUCCESS");
  free(h);
  free(used);
  free(other);
}
END_TEST

START_TEST(success_resets_the_account_count) {
  ck_assert_str_eq(call("sendOtp", send_body("s1", now_ms())), "200 SUCCESS");
  char *code = code_of("s1"), *bad = wrong(code);
  ck_assert_str_eq(call("verifyOtp", verify_body("w1", "s1", bad, now_ms())), "200 OTP_NOT_MATCHED");
  ck_assert_str_eq(call("verifyOtp", verify_body("w2", "s1", bad, now_ms())), "200 OTP_NOT_MATCHED");
  ck_assert_int_eq(th_sql_int("SELECT verify_failures FROM accounts"), 2);
  ck_assert_str_eq(call("verifyOtp", verify_body("ok", "s1", code, now_ms())), "200 SUCCESS");
  ck_assert_int_eq(th_sql_int("SELECT verify_failures FROM accounts"), 0);
  free(code);
  free(bad);
}
END_TEST

START_TEST(newer_code_supersedes) {
  ck_assert_str_eq(call("sendOtp", send_body("s1", now_ms())), "200 SUCCESS");
  char *c1 = code_of("s1");
  ck_assert_str_eq(call("sendOtp", send_body("s2", now_ms())), "200 SUCCESS");
  char *c2 = code_of("s2");
  /* s1's SMS had not gone out: it never will, and says why. */
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox o JOIN otps p ON p.id = o.otp_id "
                              "WHERE p.request_id = 's1' AND o.status = 'superseded' "
                              "AND o.sealed_code IS NULL AND o.last_error LIKE '%newer code%'"), 1);
  ck_assert_str_eq(call("verifyOtp", verify_body("v1", "s1", c1, now_ms())), "200 OTP_NOT_MATCHED");
  ck_assert_str_eq(call("verifyOtp", verify_body("v2", "s2", c2, now_ms())), "200 SUCCESS");
  /* A right-but-superseded code is not a guess: the account count stays. */
  ck_assert_int_eq(th_sql_int("SELECT verify_failures FROM accounts"), 0);
  free(c1);
  free(c2);
}
END_TEST

/* A code of the wrong length or with other characters is a user's typo,
 * not a protocol error: OTP_NOT_MATCHED, counted like any wrong guess, and
 * the answer does not tell what a code looks like. */
START_TEST(malformed_codes_are_wrong_guesses) {
  static const char *typos[] = {"12345", "abcdef", " 12345", "1234567"};
  char rid[16];
  ck_assert_str_eq(call("sendOtp", send_body("s1", now_ms())), "200 SUCCESS");
  for (int i = 0; i < 4; i++) {
    snprintf(rid, sizeof rid, "t%d", i);
    ck_assert_str_eq(call("verifyOtp", verify_body(rid, "s1", typos[i], now_ms())),
                     "200 OTP_NOT_MATCHED");
  }
  ck_assert_int_eq(th_sql_int("SELECT attempts FROM otps"), 4);
  ck_assert_int_eq(th_sql_int("SELECT verify_failures FROM accounts"), 4);
  /* Like a well-formed code, for an id nobody sent. */
  ck_assert_str_eq(call("verifyOtp", verify_body("t9", "nope", "12345", now_ms())),
                   "404 INVALID_IDENTIFIER");
  char *code = code_of("s1");
  ck_assert_str_eq(call("verifyOtp", verify_body("ok", "s1", code, now_ms())), "200 SUCCESS");
  free(code);
}
END_TEST

START_TEST(errors) {
  ck_assert_str_eq(call("sendOtp", send_body("s1", now_ms())), "200 SUCCESS");
  char *before = th_db_snapshot();
  ck_assert_str_eq(call("verifyOtp", verify_body("v1", "nope", "123456", now_ms())),
                   "404 INVALID_IDENTIFIER");
  /* An empty code is no code (proto3 reads "" as unset); one longer than
   * anything a user types is no typo. */
  ck_assert_str_eq(call("verifyOtp", verify_body("v1", "s1", "", now_ms())),
                   "400 INVALID_FIELD_VALUE");
  ck_assert_str_eq(call("verifyOtp", verify_body("v1", "s1", "123456789012345678901234567890123",
                                                 now_ms())),
                   "400 INVALID_FIELD_VALUE");
  ck_assert_str_eq(call("verifyOtp", verify_body("v1", "bad id", "123456", now_ms())),
                   "400 INVALID_FIELD_VALUE");
  char *h = header("v1", now_ms());
  ck_assert_str_eq(call("verifyOtp", xasprintf("{%s,\"otp\":\"123456\"}", h)),
                   "400 MISSING_REQUIRED_FIELD");
  ck_assert_str_eq(call("verifyOtp", xasprintf("{%s,\"sendOtpRequestId\":\"s1\"}", h)),
                   "400 MISSING_REQUIRED_FIELD");
  ck_assert_str_eq(call("verifyOtp", xasprintf("{%s,\"sendOtpRequestId\":\"s1\",\"otp\":123456}", h)),
                   "400 INVALID_FIELD_VALUE");
  char *after = th_db_snapshot();
  ck_assert_str_eq(before, after);
  free(h);
  free(before);
  free(after);
}
END_TEST

/* ---- in-process, with a clock the test moves ---- */

static int64_t fake_now;
static int64_t fake_clock(void) { return fake_now; }

static const char *call_api(struct api *api, const char *method, char *body) {
  static char out[128];
  struct api_response resp;
  char *path = xasprintf("/v1/%s", method);
  api_handle_buffer(api, "POST", path, "application/json", body, strlen(body),
                    &resp);
  json_object *o = json_tokener_parse(resp.body.data);
  const char *res = get(o, "result");
  snprintf(out, sizeof out, "%d %s", resp.status, res ? res : get(o, "errorResponseCode"));
  json_object_put(o);
  api_response_free(&resp);
  free(path);
  free(body);
  return out;
}

static struct api *api_with_clock(struct conf **conf) {
  char err[512];
  static struct api api;
  teardown(); /* no worker here: the clock lives in this process */
  th_config("[sender]\nheartbeat_max_age_seconds = 0\n[otp]\nmax_account_failures = 2\n"
            "lockout_seconds = 60\nttl_seconds = 120\n");
  ck_assert_int_eq(th_admin("init", NULL), 0);
  ck_assert_int_eq(th_admin("account", "add", "acct-1", "--phone", PHONE, NULL), 0);
  ck_assert_int_eq(th_admin("association", "add", "assoc-1", "acct-1", NULL), 0);
  *conf = conf_load(th_config_path(), err, sizeof err);
  ck_assert_ptr_nonnull(*conf);
  ck_assert_msg(api_init(&api, *conf, err, sizeof err), "%s", err);
  api.svc.now = fake_clock;
  fake_now = 1800000000000;
  return &api;
}

START_TEST(expiry) {
  struct conf *conf;
  struct api *api = api_with_clock(&conf);
  ck_assert_str_eq(call_api(api, "sendOtp", send_body("s1", fake_now)), "200 SUCCESS");
  char *code = code_of("s1");
  fake_now += 120 * 1000 - 1;
  ck_assert_str_eq(call_api(api, "sendOtp", send_body("s-other", fake_now)), "200 SUCCESS");
  /* s-other superseded s1; s-other's own code expires at its own time. */
  char *code2 = code_of("s-other");
  fake_now += 120 * 1000;
  ck_assert_str_eq(call_api(api, "verifyOtp", verify_body("v1", "s-other", code2, fake_now)),
                   "200 OTP_NOT_MATCHED");
  fake_now -= 2;
  ck_assert_str_eq(call_api(api, "verifyOtp", verify_body("v2", "s-other", code2, fake_now)),
                   "200 SUCCESS");
  ck_assert_str_eq(call_api(api, "verifyOtp", verify_body("v3", "s1", code, fake_now)),
                   "200 OTP_NOT_MATCHED");
  api_close(api);
  conf_free(conf);
  free(code);
  free(code2);
}
END_TEST

START_TEST(lockout_ends) {
  struct conf *conf;
  struct api *api = api_with_clock(&conf);
  ck_assert_str_eq(call_api(api, "sendOtp", send_body("s1", fake_now)), "200 SUCCESS");
  char *bad = wrong_code_of("s1");
  ck_assert_str_eq(call_api(api, "verifyOtp", verify_body("w1", "s1", bad, fake_now)),
                   "200 OTP_NOT_MATCHED");
  ck_assert_str_eq(call_api(api, "verifyOtp", verify_body("w2", "s1", bad, fake_now)),
                   "200 OTP_NOT_MATCHED");
  fake_now += 59 * 1000;
  ck_assert_str_eq(call_api(api, "sendOtp", send_body("s2", fake_now)), "200 OTP_LIMIT_REACHED");
  fake_now += 1000;
  ck_assert_str_eq(call_api(api, "sendOtp", send_body("s3", fake_now)), "200 SUCCESS");
  api_close(api);
  conf_free(conf);
  free(bad);
}
END_TEST

/* Past the limit the count is not forgotten when the lock ends: each
 * further failure locks the account again, until a success resets it. */
START_TEST(lockout_rearms_until_success) {
  struct conf *conf;
  struct api *api = api_with_clock(&conf);
  ck_assert_str_eq(call_api(api, "sendOtp", send_body("s1", fake_now)), "200 SUCCESS");
  char *bad = wrong_code_of("s1");
  ck_assert_str_eq(call_api(api, "verifyOtp", verify_body("w1", "s1", bad, fake_now)),
                   "200 OTP_NOT_MATCHED");
  ck_assert_str_eq(call_api(api, "verifyOtp", verify_body("w2", "s1", bad, fake_now)),
                   "200 OTP_NOT_MATCHED");
  fake_now += 60 * 1000;
  ck_assert_str_eq(call_api(api, "sendOtp", send_body("s2", fake_now)), "200 SUCCESS");
  char *right = code_of("s2"), *bad2 = wrong(right);
  ck_assert_str_eq(call_api(api, "verifyOtp", verify_body("w3", "s2", bad2, fake_now)),
                   "200 OTP_NOT_MATCHED");
  ck_assert_int_eq(th_sql_int("SELECT verify_failures FROM accounts"), 3);
  ck_assert_int_eq(th_sql_int("SELECT locked_until FROM accounts"), fake_now + 60 * 1000);
  ck_assert_str_eq(call_api(api, "verifyOtp", verify_body("v1", "s2", right, fake_now)),
                   "200 OTP_NOT_MATCHED");
  fake_now += 60 * 1000;
  ck_assert_str_eq(call_api(api, "verifyOtp", verify_body("v2", "s2", right, fake_now)),
                   "200 SUCCESS");
  ck_assert_int_eq(th_sql_int("SELECT verify_failures FROM accounts"), 0);
  api_close(api);
  conf_free(conf);
  free(bad);
  free(bad2);
  free(right);
}
END_TEST

int main(void) {
  Suite *s = suite_create("verify_otp");
  TCase *tc = tcase_create("verify_otp");
  tcase_set_timeout(tc, 60);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, full_cycle);
  tcase_add_test(tc, full_cycle_through_the_sender);
  tcase_add_test(tc, wrong_codes_and_the_per_code_limit);
  tcase_add_test(tc, account_limit_spans_codes);
  tcase_add_test(tc, lockout_stops_verification);
  tcase_add_test(tc, rotated_secret_still_verifies);
  tcase_add_test(tc, lockout_hides_used_codes);
  tcase_add_test(tc, closing_or_revoking_kills_codes);
  tcase_add_test(tc, closing_spares_other_accounts_and_used_codes);
  tcase_add_test(tc, success_resets_the_account_count);
  tcase_add_test(tc, newer_code_supersedes);
  tcase_add_test(tc, malformed_codes_are_wrong_guesses);
  tcase_add_test(tc, errors);
  tcase_add_test(tc, expiry);
  tcase_add_test(tc, lockout_ends);
  tcase_add_test(tc, lockout_rearms_until_success);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
