/* The gateway's health decides whether sendOtp promises an SMS: the real
 * worker and the real sender, with each transport's gateway refusing.
 * After [sender] breaker_failures sends in a row not taken, sendOtp
 * answers MESSAGE_UNABLE_TO_BE_SENT; after breaker_seconds one request
 * goes through as a probe; a sent SMS closes the breaker at once. A sender
 * that stops cleanly takes its heartbeat with it. */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fcgi_client.h"
#include "testhelp.h"
#include "util.h"

#define BREAKER                                                                \
  "[otp]\nsend_limit = 1000\n"                                                 \
  "[sender]\nheartbeat_max_age_seconds = 15\nheartbeat_seconds = 1\n"          \
  "poll_interval_ms = 100\nbreaker_failures = 3\nbreaker_seconds = 2\n"        \
  "max_attempts = 1\nexec_timeout_seconds = 1\nlease_seconds = 3\n"            \
  "http_timeout_ms = 1000\n"

static char sock[600];
static int worker, sender;

static void start(const char *transport_ini) {
  char *ini = xasprintf(BREAKER "%s", transport_ini);
  worker = th_test_worker(ini, sock, sizeof sock);
  ck_assert_int_gt(worker, 0);
  sender = th_sender_start(false);
  ck_assert(th_wait_sql("SELECT count(*) FROM senders", 1, 10000));
  free(ini);
}

static void stop(void) {
  if (sender > 0) {
    kill(sender, SIGTERM);
    th_wait_pid(sender, 10000);
  }
  if (worker > 0)
    th_worker_stop(worker);
  sender = worker = 0;
  th_cleanup();
}

static const char *send_otp(const char *rid) {
  static char result[64];
  struct th_fcgi_reply r;
  char *body = xasprintf(
      "{\"requestHeader\":{\"protocolVersion\":{\"major\":1},\"requestId\":\"%s\","
      "\"requestTimestamp\":\"%lld\"},\"associationId\":\"" TH_TEST_ASSOCIATION "\","
      "\"smsMatchingToken\":\"AB12345678C\"}",
      rid, (long long)now_ms());
  ck_assert_int_eq(th_fcgi_post(sock, "/v1/sendOtp", body, &r), 0);
  json_object *o = json_tokener_parse(r.body), *v;
  snprintf(result, sizeof result, "%d %s", r.status,
           o && json_object_object_get_ex(o, "result", &v)
               ? json_object_get_string(v) : r.body);
  json_object_put(o);
  th_fcgi_reply_free(&r);
  free(body);
  return result;
}

/* GET .../health: "STATUS BODY". */
static const char *health(void) {
  static char out[512];
  struct th_fcgi_reply r;
  const char *params[] = {"REQUEST_METHOD=GET", "SCRIPT_NAME=/v1/health", NULL};
  ck_assert_int_eq(th_fcgi_call(sock, params, "", 0, &r), 0);
  snprintf(out, sizeof out, "%d %s", r.status, r.body);
  th_fcgi_reply_free(&r);
  return out;
}

/* A SUCCESS whose SMS the gateway then refuses (its row ends 'failed'). */
static void refused_send(const char *rid) {
  ck_assert_str_eq(send_otp(rid), "200 SUCCESS");
  char *sql = xasprintf("SELECT count(*) FROM outbox o JOIN otps p ON p.id = o.otp_id "
                        "WHERE p.request_id = '%s' AND o.status = 'failed'", rid);
  ck_assert_msg(th_wait_sql(sql, 1, 10000), "%s not refused by the gateway", rid);
  free(sql);
}

/* Three refusals open the breaker; after breaker_seconds one probe goes
 * through and the next request is refused again. */
static void open_then_probe(void) {
  refused_send("f1");
  refused_send("f2");
  refused_send("f3");
  /* The heartbeat carries the news at once. */
  ck_assert(th_wait_sql("SELECT failures FROM senders", 3, 5000));
  ck_assert_str_eq(send_otp("b1"), "200 MESSAGE_UNABLE_TO_BE_SENT");
  ck_assert_str_eq(health(),
                   "503 {\"status\":\"unhealthy\",\"reasons\":[\"breaker open: the "
                   "gateway is failing\"]}");
  ck_assert_str_eq(send_otp("b2"), "200 MESSAGE_UNABLE_TO_BE_SENT");
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 3);
  /* Not recorded: Google's retry gets a fresh answer later. */
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests WHERE request_id = 'b1'"), 0);
  usleep(2200 * 1000);
  ck_assert_str_eq(send_otp("probe"), "200 SUCCESS");
  ck_assert_str_eq(send_otp("b3"), "200 MESSAGE_UNABLE_TO_BE_SENT");
}

START_TEST(exec_gateway_down_then_back) {
  char *gw = th_write_file("gw.sh",
                           "#!/bin/sh\ncat >/dev/null\n"
                           "[ -e \"$(dirname \"$0\")/up\" ] || { echo down >&2; exit 1; }\n"
                           "echo ref\n",
                           0755);
  char *ini = xasprintf("transport = exec\nexec_command = %s\n", gw);
  start(ini);
  open_then_probe();
  /* The gateway is back: the next probe goes out and closes the breaker
   * at once. */
  /* The probe's SMS was refused too: the breaker stays open for
   * breaker_seconds after that (its news comes with a heartbeat). */
  ck_assert_msg(th_wait_sql("SELECT count(*) FROM outbox o JOIN otps p ON p.id = o.otp_id "
                            "WHERE p.request_id = 'probe' AND o.status = 'failed'", 1, 10000),
                "%s", th_sql_text("SELECT group_concat(o.id || ':' || o.status || ':' || "
                                  "coalesce(p.request_id, '-'), ' ') FROM outbox o "
                                  "LEFT JOIN otps p ON p.id = o.otp_id"));
  free(th_write_file("up", "", 0644));
  usleep(3500 * 1000);
  ck_assert_str_eq(send_otp("probe2"), "200 SUCCESS");
  ck_assert(th_wait_sql("SELECT failures FROM senders", 0, 5000));
  ck_assert_str_eq(send_otp("ok1"), "200 SUCCESS");
  ck_assert_str_eq(send_otp("ok2"), "200 SUCCESS");
  free(ini);
  free(gw);
  stop();
}
END_TEST

START_TEST(spool_directory_gone) {
  char *dir = th_path("spool-gone");
  char *ini = xasprintf("transport = spool\nspool_dir = %s\n", dir);
  mkdir(dir, 0777);
  chmod(dir, 0777);
  start(ini);
  rmdir(dir);
  open_then_probe();
  free(ini);
  free(dir);
  stop();
}
END_TEST

START_TEST(http_gateway_refuses) {
  int port;
  int stub = th_http_stub_start(&port);
  char *ini = xasprintf("transport = http\nhttp_url = http://127.0.0.1:%d/retry?to={to}\n",
                        port);
  start(ini);
  open_then_probe();
  kill(stub, SIGTERM);
  th_wait_pid(stub, 5000);
  free(ini);
  stop();
}
END_TEST

START_TEST(stopped_sender_takes_its_heartbeat) {
  char *gw = th_write_file("gw.sh", "#!/bin/sh\ncat >/dev/null\necho ref\n", 0755);
  char *ini = xasprintf("transport = exec\nexec_command = %s\n", gw);
  start(ini);
  ck_assert_str_eq(send_otp("s1"), "200 SUCCESS");
  ck_assert_str_eq(health(), "200 {\"status\":\"ok\"}");
  kill(sender, SIGTERM);
  ck_assert_int_eq(th_wait_pid(sender, 10000), 0);
  sender = 0;
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM senders"), 0);
  /* At once, not heartbeat_max_age_seconds (15 s) later. */
  ck_assert_str_eq(send_otp("s2"), "200 MESSAGE_UNABLE_TO_BE_SENT");
  ck_assert_str_eq(health(),
                   "503 {\"status\":\"unhealthy\",\"reasons\":[\"no live sender\"]}");
  free(ini);
  free(gw);
  stop();
}
END_TEST

int main(void) {
  Suite *s = suite_create("breaker");
  TCase *tc = tcase_create("breaker");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, exec_gateway_down_then_back);
  tcase_add_test(tc, spool_directory_gone);
  tcase_add_test(tc, http_gateway_refuses);
  tcase_add_test(tc, stopped_sender_takes_its_heartbeat);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
