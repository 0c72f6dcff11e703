/* otpgate-sender, the real binary, against real counterparts: a shell
 * script for exec, a directory for spool, a Python HTTP server on loopback
 * for http. Every row state the design names is reached and checked in
 * the database; the logs are checked for codes and numbers. */
#include "config.h"

#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "sender.h"
#include "store.h"
#include "testhelp.h"
#include "transport.h"
#include "util.h"
#include "wake.h"

#define PHONE "+4915112345678"
#define PHONE_DIGITS "4915112345678"
#define CODE "123456"
#define TEXT "Your code is 123456. It expires in 5 minutes."
#define MASKED "Your code is ******. It expires in 5 minutes."
#define CODE_OFF 13
#define CODE_LEN 6
#define MINUTE_MS 60000

/* Short leases and retries keep the whole file well under a minute. */
#define FAST                                                                   \
  "exec_timeout_seconds = 1\nlease_seconds = 2\npoll_interval_ms = 100\n"      \
  "heartbeat_seconds = 1\nhttp_timeout_ms = 1000\n"

/* The gateway: DIR/plan says what call N does (its line N, else its last
 * line): ok, "exit N" (complaining on stderr, echoing what it got), hang
 * (3 s, never delivers), kill (dies of SIGKILL), slow (1 s, then
 * delivers), nap (0.5 s, then delivers). A file DIR/hang-ID makes the
 * call for row ID hang whatever the plan says. Delivered messages are
 * appended to DIR/delivered as "id number text". */
static const char gateway_sh[] =
    "#!/bin/sh\n"
    "d='%s'\n"
    "dest=$1\n"
    "text=$(cat)\n"
    "n=$(( $(cat \"$d/calls\" 2>/dev/null || echo 0) + 1 ))\n"
    "echo $n > \"$d/calls\"\n"
    "action=$(sed -n \"${n}p\" \"$d/plan\")\n"
    "[ -n \"$action\" ] || action=$(tail -n 1 \"$d/plan\")\n"
    "[ -e \"$d/hang-$OTPGATE_MESSAGE_ID\" ] && action=hang\n"
    "case \"$action\" in\n"
    "exit\\ *)\n"
    "  echo \"gateway refused $dest: $text\" >&2\n"
    "  exit \"${action#exit }\" ;;\n"
    "hang)\n"
    "  touch \"$d/hanging\"\n"
    "  sleep 3\n"
    "  exit 0 ;;\n"
    "kill)\n"
    "  kill -9 $$ ;;\n"
    "nap)\n"
    "  sleep 0.5 ;;\n"
    "slow)\n"
    "  touch \"$d/hanging\"\n"
    "  sleep 1 ;;\n"
    "esac\n"
    "printf '%%s %%s %%s\\n' \"$OTPGATE_MESSAGE_ID\" \"$dest\" \"$text\" "
    ">> \"$d/delivered\"\n"
    "echo \"gw-$OTPGATE_MESSAGE_ID\"\n";

static int64_t q(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t q(const char *fmt, ...) {
  va_list ap;
  char *sql;
  va_start(ap, fmt);
  if (vasprintf(&sql, fmt, ap) < 0)
    abort();
  va_end(ap);
  int64_t v = th_sql_int(sql);
  free(sql);
  return v;
}

static char *qs(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *qs(const char *fmt, ...) {
  va_list ap;
  char *sql;
  va_start(ap, fmt);
  if (vasprintf(&sql, fmt, ap) < 0)
    abort();
  va_end(ap);
  char *v = th_sql_text(sql);
  free(sql);
  return v;
}

/* An exec configuration with the gateway script and plan, and a database
 * made by `otpgate-admin init`. extra: more [sender] keys. */
static void setup_exec(const char *plan, const char *extra) {
  char *script = xasprintf(gateway_sh, th_tmpdir());
  char *gw = th_write_file("gw.sh", script, 0755);
  free(th_write_file("plan", plan, 0644));
  char *ini = xasprintf("[sender]\ntransport = exec\nexec_command = %s\n"
                        "retry_base_seconds = 1\nretry_max_seconds = 2\n%s",
                        gw, extra);
  th_config(ini);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  free(script);
  free(gw);
  free(ini);
}

static void setup_other(const char *ini) {
  th_config(ini);
  ck_assert_int_eq(th_admin("init", NULL), 0);
}

static int64_t add_row(int64_t expires_in_ms) {
  return th_outbox_add(1, PHONE, TEXT, CODE_OFF, CODE_LEN, expires_in_ms);
}

static char *file_in_dir(const char *name) {
  char *path = th_path(name);
  char *text = th_read_file(path);
  free(path);
  return text;
}

static int64_t gateway_calls(void) {
  char *text = file_in_dir("calls");
  int64_t n = text ? atoi(text) : 0;
  free(text);
  return n;
}

static int lines_in(const char *name) {
  char *text = file_in_dir(name);
  int n = 0;
  for (const char *p = text; p && *p; p++)
    n += *p == '\n';
  free(text);
  return n;
}

/* Neither the code nor the full number may reach a log line or a stored
 * error, whatever happened. */
static void assert_no_secrets(void) {
  char *log = file_in_dir("sender.log");
  ck_assert_ptr_nonnull(log);
  ck_assert_msg(strstr(log, CODE) == NULL, "code in the log:\n%s", log);
  ck_assert_msg(strstr(log, PHONE_DIGITS) == NULL, "number in the log:\n%s",
                log);
  free(log);
  ck_assert_int_eq(q("SELECT count(*) FROM outbox WHERE last_error LIKE "
                     "'%%" CODE "%%' OR last_error LIKE '%%" PHONE_DIGITS
                     "%%' OR gateway_ref LIKE '%%" CODE "%%'"),
                   0);
}

static void assert_final_and_masked(int64_t id, const char *status) {
  char *st = qs("SELECT status FROM outbox WHERE id = %lld", (long long)id);
  char *text = qs("SELECT text FROM outbox WHERE id = %lld", (long long)id);
  ck_assert_str_eq(st, status);
  ck_assert_str_eq(text, MASKED);
  /* The sealed code is gone with the row's last state. */
  ck_assert_int_eq(q("SELECT count(*) FROM outbox WHERE id = %lld AND "
                     "sealed_code IS NULL", (long long)id), 1);
  free(st);
  free(text);
}

static int stop(int pid) {
  kill(pid, SIGTERM);
  int status = th_wait_pid(pid, 10000);
  ck_assert_msg(status != -1 && WIFEXITED(status), "no clean exit");
  return WEXITSTATUS(status);
}

/* ---- pure functions ---- */

START_TEST(backoff_doubles_with_jitter_and_caps) {
  ck_assert_int_ge(sodium_init(), 0);
  for (int i = 0; i < 200; i++) {
    int64_t d1 = sender_backoff_ms(2, 60, 1), d2 = sender_backoff_ms(2, 60, 2);
    int64_t d5 = sender_backoff_ms(2, 60, 5), d9 = sender_backoff_ms(2, 60, 9);
    ck_assert(d1 >= 1000 && d1 <= 2000);
    ck_assert(d2 >= 2000 && d2 <= 4000);
    ck_assert(d5 >= 16000 && d5 <= 32000);
    ck_assert(d9 >= 30000 && d9 <= 60000);
    ck_assert_int_le(sender_backoff_ms(1, 1, 100), 1000);
  }
  /* The jitter is random, not a constant. */
  int64_t first = sender_backoff_ms(60, 3600, 3);
  bool varied = false;
  for (int i = 0; i < 50 && !varied; i++)
    varied = sender_backoff_ms(60, 3600, 3) != first;
  ck_assert(varied);
}
END_TEST

START_TEST(clean_masks_code_and_number) {
  struct transport_msg m = {.id = 1,
                            .destination = PHONE,
                            .text = TEXT,
                            .code_offset = CODE_OFF,
                            .code_length = CODE_LEN};
  char out[64];
  const char said[] = "to " PHONE " and " PHONE_DIGITS ":\n" TEXT "\x01";
  transport_clean(&m, said, sizeof said - 1, out, sizeof out);
  ck_assert_str_eq(
      out, "to +*********5678 and *********5678: Your code is ******. It ex");
  ck_assert_ptr_null(strstr(out, CODE));
  transport_clean(&m, "  \n", 3, out, sizeof out);
  ck_assert_str_eq(out, "");
  /* Latin-1 (re\xe7u) and a stray continuation byte become '?'; valid
   * UTF-8 stays: the database (PostgreSQL) takes UTF-8 text only. */
  const char latin1[] = "re\xe7" "u \x80 r\xc3\xa9" "f";
  transport_clean(&m, latin1, sizeof latin1 - 1, out, sizeof out);
  ck_assert_str_eq(out, "re?u ? r\xc3\xa9" "f");
  struct transport_result r;
  transport_set_error(&r, &m, GATEWAY_RETRY, "exit %d: %s", 75, CODE);
  ck_assert_str_eq(r.error, "exit 75: ******");
  ck_assert_int_eq(r.status, GATEWAY_RETRY);
}
END_TEST

/* ---- every state, through the exec transport ---- */

START_TEST(queued_to_sent) {
  setup_exec("ok\n", FAST);
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);
  assert_final_and_masked(id, "sent");
  ck_assert_int_eq(
      q("SELECT attempts FROM outbox WHERE id = %lld", (long long)id), 1);
  ck_assert_int_gt(
      q("SELECT sent_at FROM outbox WHERE id = %lld", (long long)id), 0);
  char *ref =
      qs("SELECT gateway_ref FROM outbox WHERE id = %lld", (long long)id);
  ck_assert_str_eq(ref, "gw-1");
  /* The script got the id in its environment, the number as its last
   * argument and the text, code and all, on its standard input. */
  char *got = file_in_dir("delivered");
  ck_assert_str_eq(got, "1 " PHONE " " TEXT "\n");
  assert_no_secrets();
  free(ref);
  free(got);
  th_cleanup();
}
END_TEST

START_TEST(transient_then_queued_then_sent) {
  setup_exec("exit 75\nok\n", FAST);
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);
  /* Back in the queue, later, with the gateway's complaint kept (masked)
   * and the code still sealed in the row: it has yet to go out. */
  char *st = qs("SELECT status FROM outbox WHERE id = %lld", (long long)id);
  char *err =
      qs("SELECT last_error FROM outbox WHERE id = %lld", (long long)id);
  char *text = th_sms_text(id);
  ck_assert_str_eq(st, "queued");
  ck_assert_str_eq(text, TEXT);
  ck_assert_str_eq(err, "exit 75: gateway refused +*********5678: "
                        "Your code is ******. It expires in 5 minutes.");
  ck_assert_int_eq(
      q("SELECT attempts FROM outbox WHERE id = %lld", (long long)id), 1);
  int64_t delay = q("SELECT next_attempt_at - updated_at FROM outbox "
                    "WHERE id = %lld",
                    (long long)id);
  ck_assert(delay >= 500 && delay <= 1000);
  /* Not due yet: a run now sends nothing. */
  ck_assert_int_eq(th_sender_once(), 0);
  ck_assert_int_eq(gateway_calls(), 1);
  /* Due within the retry's second: wait for it by the clock. */
  int64_t due = q("SELECT next_attempt_at FROM outbox WHERE id = %lld", (long long)id);
  ck_assert_int_le(due - now_ms(), 2000);
  while (now_ms() < due)
    nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
  ck_assert_int_eq(th_sender_once(), 0);
  assert_final_and_masked(id, "sent");
  ck_assert_int_eq(
      q("SELECT attempts FROM outbox WHERE id = %lld", (long long)id), 2);
  ck_assert_int_eq(lines_in("delivered"), 1);
  assert_no_secrets();
  free(st);
  free(err);
  free(text);
  th_cleanup();
}
END_TEST

START_TEST(permanent_failure) {
  setup_exec("exit 1\n", FAST);
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);
  assert_final_and_masked(id, "failed");
  char *err =
      qs("SELECT last_error FROM outbox WHERE id = %lld", (long long)id);
  ck_assert_ptr_nonnull(strstr(err, "exit 1: gateway refused"));
  ck_assert_int_eq(gateway_calls(), 1);
  ck_assert_int_eq(lines_in("delivered"), 0);
  assert_no_secrets();
  free(err);
  th_cleanup();
}
END_TEST

START_TEST(max_attempts_then_failed) {
  setup_exec("exit 75\n", FAST "max_attempts = 3\n");
  int64_t id = add_row(5 * MINUTE_MS);
  int pid = th_sender_start(false);
  ck_assert(th_wait_sql("SELECT count(*) FROM outbox WHERE status = 'failed'",
                        1, 15000));
  ck_assert_int_eq(stop(pid), 0);
  assert_final_and_masked(id, "failed");
  ck_assert_int_eq(q("SELECT attempts FROM outbox"), 3);
  ck_assert_int_eq(gateway_calls(), 3);
  char *err = qs("SELECT last_error FROM outbox");
  ck_assert_ptr_nonnull(strstr(err, "gave up after 3 attempts: exit 75"));
  assert_no_secrets();
  free(err);
  th_cleanup();
}
END_TEST

START_TEST(expired_is_never_sent) {
  setup_exec("ok\n", FAST);
  int64_t id = add_row(-1);
  ck_assert_int_eq(th_sender_once(), 0);
  assert_final_and_masked(id, "expired");
  ck_assert_int_eq(q("SELECT attempts FROM outbox"), 0);
  ck_assert_int_eq(gateway_calls(), 0);
  char *err = qs("SELECT last_error FROM outbox");
  ck_assert_str_eq(err, "the code expired before it could be sent");
  assert_no_secrets();
  free(err);
  th_cleanup();
}
END_TEST

START_TEST(expires_before_the_retry) {
  /* The first attempt fails transiently; the next would come (at least
   * 500 ms later) after the code's expiry, so the row is expired at once
   * instead of waiting to be sent dead. */
  setup_exec("exit 75\nok\n", FAST);
  int64_t id = add_row(400);
  ck_assert_int_eq(th_sender_once(), 0);
  assert_final_and_masked(id, "expired");
  char *err = qs("SELECT last_error FROM outbox");
  ck_assert_ptr_nonnull(strstr(err, "exit 75"));
  ck_assert_ptr_nonnull(strstr(err, "expires before the next attempt"));
  ck_assert_int_eq(gateway_calls(), 1);
  ck_assert_int_eq(lines_in("delivered"), 0);
  assert_no_secrets();
  free(err);
  th_cleanup();
}
END_TEST

START_TEST(gateway_timeout_is_unknown) {
  setup_exec("hang\n", FAST);
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);
  assert_final_and_masked(id, "unknown");
  char *err = qs("SELECT last_error FROM outbox");
  ck_assert_str_eq(err, "still running after 1 s, killed");
  /* Not retried: the gateway may have sent it. */
  ck_assert_int_eq(th_sender_once(), 0);
  ck_assert_int_eq(gateway_calls(), 1);
  assert_no_secrets();
  free(err);
  th_cleanup();
}
END_TEST

START_TEST(gateway_timeout_retried_when_idempotent) {
  setup_exec("hang\nok\n", FAST "idempotent = yes\n");
  int64_t id = add_row(5 * MINUTE_MS);
  int pid = th_sender_start(false);
  ck_assert(th_wait_sql("SELECT count(*) FROM outbox WHERE status = 'sent'", 1,
                        15000));
  ck_assert_int_eq(stop(pid), 0);
  assert_final_and_masked(id, "sent");
  ck_assert_int_eq(q("SELECT attempts FROM outbox"), 2);
  char *err = qs("SELECT last_error FROM outbox");
  ck_assert_str_eq(err, "still running after 1 s, killed");
  ck_assert_int_eq(lines_in("delivered"), 1);
  assert_no_secrets();
  free(err);
  th_cleanup();
}
END_TEST

START_TEST(gateway_killed_by_a_signal_is_unknown) {
  setup_exec("kill\n", FAST);
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);
  assert_final_and_masked(id, "unknown");
  char *err = qs("SELECT last_error FROM outbox");
  ck_assert_str_eq(err, "killed by signal 9");
  ck_assert_int_eq(gateway_calls(), 1);
  free(err);
  th_cleanup();
}
END_TEST

START_TEST(command_that_cannot_start_is_retried) {
  setup_exec("ok\n", FAST);
  char *gw = th_path("gw.sh");
  int pid = th_sender_start(false);
  ck_assert(th_wait_sql("SELECT count(*) FROM senders", 1, 10000));
  chmod(gw, 0644); /* not executable, even for root */
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert(th_wait_sql("SELECT attempts FROM outbox WHERE status = 'queued'",
                        1, 5000));
  char *err = qs("SELECT last_error FROM outbox");
  char *want = xasprintf("cannot run %s: Permission denied", gw);
  ck_assert_str_eq(err, want);
  chmod(gw, 0755);
  ck_assert(th_wait_sql("SELECT count(*) FROM outbox WHERE status = 'sent'", 1,
                        5000));
  ck_assert_int_eq(stop(pid), 0);
  assert_final_and_masked(id, "sent");
  ck_assert_int_eq(lines_in("delivered"), 1);
  free(err);
  free(want);
  free(gw);
  th_cleanup();
}
END_TEST

/* ---- leases, processes, signals ---- */

/* ---- batches ---- */

/* Runs `otpgate-sender --once`; returns how long it took in ms. */
static int64_t timed_once(void) {
  int64_t t0 = monotonic_ms();
  ck_assert_int_eq(th_sender_once(), 0);
  return monotonic_ms() - t0;
}

/* Eight rows, each gateway call 0.5 s: with concurrency 8 they go out
 * together in about 0.5 s (one after the other: 4 s), each with its own
 * reference, and their outcomes are recorded by one transaction (one
 * clock reading for all). */
START_TEST(batch_goes_out_concurrently) {
  setup_exec("nap\n", FAST "batch_size = 8\nconcurrency = 8\n");
  th_outbox_add(8, PHONE, TEXT, CODE_OFF, CODE_LEN, 5 * MINUTE_MS);
  int64_t took = timed_once();
  ck_assert_msg(took >= 500 && took < 2000, "8 sends took %lld ms",
                (long long)took);
  ck_assert_int_eq(q("SELECT count(*) FROM outbox WHERE status = 'sent' AND "
                     "attempts = 1 AND gateway_ref = 'gw-' || id AND "
                     "sealed_code IS NULL"),
                   8);
  ck_assert_int_eq(lines_in("delivered"), 8);
  ck_assert_int_eq(q("SELECT count(DISTINCT updated_at) FROM outbox"), 1);
  assert_no_secrets();
  th_cleanup();
}
END_TEST

/* The control: concurrency 1 sends a batch one message after the other. */
START_TEST(concurrency_1_sends_one_at_a_time) {
  setup_exec("nap\n", FAST "batch_size = 8\nconcurrency = 1\n");
  th_outbox_add(3, PHONE, TEXT, CODE_OFF, CODE_LEN, 5 * MINUTE_MS);
  int64_t took = timed_once();
  ck_assert_msg(took >= 1500, "3 sends one at a time took %lld ms",
                (long long)took);
  ck_assert_int_eq(q("SELECT count(*) FROM outbox WHERE status = 'sent'"), 3);
  ck_assert_int_eq(q("SELECT count(DISTINCT updated_at) FROM outbox"), 1);
  th_cleanup();
}
END_TEST

/* The choice for a slow gateway: a batch is recorded when its last send
 * has ended, so it is bounded by the slowest send's timeout (per round of
 * concurrency sends). A send that hangs holds one slot until
 * exec_timeout_seconds (1 s) kills it; the seven others go out meanwhile
 * through the other three slots (3 rounds of 0.5 s), not after it (1 s +
 * 7 x 0.5 s one at a time), and all eight are recorded together. */
/* Both transports' slow-gateway test, once set up with batch_size 8 and
 * concurrency 4: eight rows, the first one's send hangs. The batch takes
 * the timeout (1 s), not the sum; the slow row is 'unknown', the seven
 * others sent, all eight recorded together, nothing in clear. The slow
 * row's last_error. */
static char *slow_batch(void) {
  int64_t first =
      th_outbox_add(8, PHONE, TEXT, CODE_OFF, CODE_LEN, 5 * MINUTE_MS);
  char *name = xasprintf("hang-%lld", (long long)first);
  free(th_write_file(name, "", 0644));
  free(name);
  int64_t took = timed_once();
  ck_assert_msg(took >= 1000 && took < 3000, "the batch took %lld ms",
                (long long)took);
  assert_final_and_masked(first, "unknown");
  ck_assert_int_eq(q("SELECT count(*) FROM outbox WHERE status = 'sent'"), 7);
  ck_assert_int_eq(q("SELECT count(DISTINCT updated_at) FROM outbox"), 1);
  assert_no_secrets();
  return qs("SELECT last_error FROM outbox WHERE id = %lld", (long long)first);
}

START_TEST(slow_send_holds_one_slot_not_the_others) {
  setup_exec("nap\n", FAST "batch_size = 8\nconcurrency = 4\n");
  char *err = slow_batch();
  ck_assert_str_eq(err, "still running after 1 s, killed");
  ck_assert_int_eq(lines_in("delivered"), 7);
  free(err);
  th_cleanup();
}
END_TEST

/* A row whose code expires while it waits for a free slot behind a slow
 * send is not sent: 'expired', the gateway called once. */
START_TEST(batch_never_sends_a_code_that_expired_in_the_queue) {
  setup_exec("hang\nok\n", FAST "batch_size = 8\nconcurrency = 1\n");
  int64_t slow = add_row(5 * MINUTE_MS);
  int64_t late = add_row(700);
  ck_assert_int_eq(th_sender_once(), 0);
  assert_final_and_masked(slow, "unknown");
  assert_final_and_masked(late, "expired");
  char *err =
      qs("SELECT last_error FROM outbox WHERE id = %lld", (long long)late);
  ck_assert_str_eq(err, "the code expired before it could be sent");
  /* Claimed in the batch (an attempt counted), not closed unclaimed. */
  ck_assert_int_eq(
      q("SELECT attempts FROM outbox WHERE id = %lld", (long long)late), 1);
  ck_assert_int_eq(gateway_calls(), 1);
  assert_no_secrets();
  free(err);
  th_cleanup();
}
END_TEST

/* A batch may last several send timeouts: the heartbeat goes on while
 * it is out, or sendOtp would think the sender dead. Eight sends of 0.5 s
 * one at a time: 4 s in the transport. */
START_TEST(batch_keeps_the_heartbeat_going) {
  setup_exec("nap\n", FAST "batch_size = 8\nconcurrency = 1\n");
  th_outbox_add(8, PHONE, TEXT, CODE_OFF, CODE_LEN, 5 * MINUTE_MS);
  int pid = th_sender_start(false);
  ck_assert(th_wait_sql("SELECT count(*) FROM outbox WHERE status = 'sending'",
                        8, 10000));
  struct timespec ts = {2, 500 * 1000 * 1000};
  nanosleep(&ts, NULL);
  /* Still out (recorded only at its end), and the sender seen meanwhile. */
  ck_assert_int_eq(q("SELECT count(*) FROM outbox WHERE status = 'sending'"),
                   8);
  ck_assert_int_ge(q("SELECT seen_at - started_at FROM senders"), 1500);
  ck_assert(th_wait_sql("SELECT count(*) FROM outbox WHERE status = 'sent'", 8,
                        10000));
  ck_assert_int_eq(stop(pid), 0);
  th_cleanup();
}
END_TEST

START_TEST(two_senders_send_each_row_once) {
  char *script = xasprintf("#!/bin/sh\ncat > /dev/null\n"
                           "echo \"$OTPGATE_MESSAGE_ID\" >> '%s/delivered'\n",
                           th_tmpdir());
  char *gw = th_write_file("gw.sh", script, 0755);
  char *ini =
      xasprintf("[sender]\ntransport = exec\nexec_command = %s\n" FAST, gw);
  setup_other(ini);
  enum { N = 1000 };
  int64_t first =
      th_outbox_add(N, PHONE, TEXT, CODE_OFF, CODE_LEN, 5 * MINUTE_MS);
  int a = th_sender_start(false), b = th_sender_start(false);
  ck_assert(th_wait_sql("SELECT count(*) FROM outbox WHERE status = 'sent'", N,
                        45000));
  ck_assert_int_eq(stop(a), 0);
  ck_assert_int_eq(stop(b), 0);

  char *got = file_in_dir("delivered");
  static unsigned char seen[N];
  int lines = 0;
  for (char *p = got, *end; p && *p; p = end + 1) {
    long id = strtol(p, &end, 10);
    ck_assert_int_eq(*end, '\n');
    ck_assert(id >= first && id < first + N);
    ck_assert_msg(!seen[id - first], "row %ld sent twice", id);
    seen[id - first] = 1;
    lines++;
  }
  ck_assert_int_eq(lines, N);
  ck_assert_int_eq(q("SELECT count(*) FROM outbox WHERE attempts = 1"), N);
  ck_assert_int_eq(q("SELECT count(*) FROM outbox WHERE text = '" MASKED "'"),
                   N);
  /* Both took part. */
  ck_assert_int_eq(q("SELECT count(DISTINCT lease_owner) FROM outbox"), 2);
  free(got);
  free(script);
  free(gw);
  free(ini);
  th_cleanup();
}
END_TEST

START_TEST(killed_mid_send_then_sent_after_the_lease) {
  setup_exec("hang\nok\n", FAST);
  int64_t id = add_row(5 * MINUTE_MS);
  char *hanging = th_path("hanging");
  int pid = th_sender_start(false);
  ck_assert(th_wait_file(hanging, 10000));
  kill(pid, SIGKILL);
  ck_assert_int_eq(th_wait_pid(pid, 5000), SIGKILL);
  /* Left leased: nobody may take it before the lease runs out. */
  char *st = qs("SELECT status FROM outbox WHERE id = %lld", (long long)id);
  ck_assert_str_eq(st, "sending");
  int64_t lease_until = q("SELECT next_attempt_at FROM outbox");

  pid = th_sender_start(false);
  ck_assert(th_wait_sql("SELECT count(*) FROM outbox WHERE status = 'sent'", 1,
                        10000));
  ck_assert_int_eq(stop(pid), 0);
  assert_final_and_masked(id, "sent");
  ck_assert_int_eq(q("SELECT attempts FROM outbox"), 2);
  ck_assert_int_ge(q("SELECT sent_at FROM outbox"), lease_until);
  ck_assert_int_eq(lines_in("delivered"), 1);
  assert_no_secrets();
  free(st);
  free(hanging);
  th_cleanup();
}
END_TEST

START_TEST(sigterm_finishes_the_message_in_hand) {
  setup_exec("slow\n", "exec_timeout_seconds = 3\nlease_seconds = 5\n");
  int64_t id = add_row(5 * MINUTE_MS);
  char *hanging = th_path("hanging");
  int pid = th_sender_start(false);
  ck_assert(th_wait_file(hanging, 10000));
  ck_assert_int_eq(stop(pid), 0);
  assert_final_and_masked(id, "sent");
  ck_assert_int_eq(lines_in("delivered"), 1);
  free(hanging);
  th_cleanup();
}
END_TEST

START_TEST(sighup_reopens_logs_and_keeps_running) {
  setup_exec("ok\n", FAST);
  int pid = th_sender_start(false);
  ck_assert(th_wait_sql("SELECT count(*) FROM senders", 1, 10000));
  kill(pid, SIGHUP);
  char *log = NULL;
  for (int i = 0; i < 200; i++) {
    free(log);
    log = file_in_dir("sender.log");
    if (log && strstr(log, "event=logs_reopened"))
      break;
    usleep(10000);
  }
  ck_assert_ptr_nonnull(strstr(log, "event=logs_reopened"));
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert(th_wait_sql("SELECT count(*) FROM outbox WHERE status = 'sent'", 1,
                        5000));
  ck_assert_int_eq(stop(pid), 0);
  assert_final_and_masked(id, "sent");
  free(log);
  th_cleanup();
}
END_TEST

START_TEST(wake_up_beats_the_poll_interval) {
  /* Polling once a minute: only the wake-up can make this quick. */
  setup_exec("ok\n", "exec_timeout_seconds = 1\nlease_seconds = 2\n"
                     "poll_interval_ms = 60000\nheartbeat_seconds = 60\n");
  int pid = th_sender_start(false);
  ck_assert(th_wait_sql("SELECT count(*) FROM senders", 1, 10000));
  usleep(100000); /* let it fall asleep */
  int64_t t0 = monotonic_ms();
  add_row(5 * MINUTE_MS);
  char *sock = th_path("sender.sock");
  wake_notify(sock);
  ck_assert(th_wait_sql("SELECT count(*) FROM outbox WHERE status = 'sent'", 1,
                        10000));
  ck_assert_int_lt(monotonic_ms() - t0, 10000);
  ck_assert_int_eq(stop(pid), 0);
  free(sock);
  th_cleanup();
}
END_TEST

START_TEST(heartbeat_is_written) {
  setup_exec("ok\n", FAST);
  int pid = th_sender_start(false);
  ck_assert(th_wait_sql("SELECT count(*) FROM senders", 1, 10000));
  int64_t first = q("SELECT seen_at FROM senders");
  char *later =
      xasprintf("SELECT seen_at > %lld FROM senders", (long long)first);
  ck_assert(th_wait_sql(later, 1, 5000));
  free(later);
  ck_assert_int_gt(q("SELECT seen_at FROM senders"), first);
  ck_assert_int_eq(q("SELECT pid FROM senders"), pid);
  char *owner = qs("SELECT owner FROM senders");
  char host[64] = "";
  gethostname(host, sizeof host);
  char *prefix = xasprintf("%s:%d:", host, pid);
  ck_assert_msg(strncmp(owner, prefix, strlen(prefix)) == 0, "%s", owner);
  ck_assert_int_eq(strlen(owner), strlen(prefix) + 8);
  ck_assert_int_eq(stop(pid), 0);
  free(owner);
  free(prefix);
  th_cleanup();
}
END_TEST

START_TEST(housekeeping_deletes_what_is_past_retention) {
  setup_exec("ok\n", FAST);
  struct store *s = th_store_open();
  int64_t now = now_ms(), day = 86400000;
  struct store_request rec = {.key_id = 1, .http_status = 200, .answer = "{}"};
  ck_assert_int_eq(store_request_put(s, "sendOtp", "old", &rec, now - 31 * day),
                   STORE_OK);
  ck_assert_int_eq(store_request_put(s, "sendOtp", "new", &rec, now - 29 * day),
                   STORE_OK);
  ck_assert_int_eq(store_account_add(s, "acct-1", PHONE, ACCOUNT_ACTIVE, now),
                   STORE_OK);
  struct store_otp old_otp = {.request_id = "r-old",
                              .account_id = "acct-1",
                              .context = OTP_CONTEXT_NONE,
                              .created_at = now - 9 * day,
                              .expires_at = now - 8 * day};
  struct store_otp new_otp = {.request_id = "r-new",
                              .account_id = "acct-1",
                              .context = OTP_CONTEXT_NONE,
                              .created_at = now - 6 * day,
                              .expires_at = now - 6 * day + 300000};
  ck_assert_int_eq(store_otp_insert(s, &old_otp), STORE_OK);
  ck_assert_int_eq(store_otp_insert(s, &new_otp), STORE_OK);
  /* A final outbox row from 91 days ago, one from 89 days ago. */
  for (int age = 91; age >= 89; age -= 2) {
    int64_t t = now - age * day;
    struct store_outbox_new row = {.otp_id =
                                       age == 91 ? old_otp.id : new_otp.id,
                                   .account_id = "acct-1",
                                   .destination = PHONE,
                                   .text = TEXT,
                                   .code_offset = CODE_OFF,
                                   .code_length = CODE_LEN,
                                   .created_at = t,
                                   .expires_at = t + 300000};
    struct store_outbox_claim c;
    struct store_outbox_result r = {.outcome = STORE_OUTBOX_SENT};
    ck_assert_int_eq(store_outbox_insert(s, &row, NULL), STORE_OK);
    ck_assert_int_eq(store_outbox_claim(s, "x", t + 1, 1000, 5, &c, NULL),
                     STORE_OK);
    ck_assert_int_eq(store_outbox_record(s, c.id, "x", &r, t + 2), STORE_OK);
    store_outbox_claim_free(&c);
  }
  ck_assert_int_eq(
      store_sender_heartbeat(s, &(struct store_sender_beat){.owner = "gone:1:x", .pid = 1,
                                 .started_at = now - 3 * day, .now = now - 2 * day}),
      STORE_OK);
  th_store_close(s);

  ck_assert_int_eq(th_sender_once(), 0);
  char *req = qs("SELECT %s(request_id, ',') FROM requests", th_sql_string_agg());
  char *otps = qs("SELECT %s(request_id, ',') FROM otps", th_sql_string_agg());
  ck_assert_str_eq(req, "new");
  ck_assert_str_eq(otps, "r-new");
  ck_assert_int_eq(q("SELECT count(*) FROM outbox"), 1);
  ck_assert_int_eq(q("SELECT otp_id FROM outbox"), new_otp.id);
  ck_assert_int_eq(q("SELECT count(*) FROM senders WHERE owner = 'gone:1:x'"),
                   0);
  ck_assert_int_eq(q("SELECT count(*) FROM senders"), 1);
  free(req);
  free(otps);
  th_cleanup();
}
END_TEST

START_TEST(bad_configuration_exits_1_with_one_line) {
  th_config("[sender]\nmax_attempts = 0\n");
  ck_assert_int_eq(th_sender_once(), 1);
  char *log = file_in_dir("sender.log");
  ck_assert_ptr_nonnull(strstr(log, "[sender] max_attempts"));
  ck_assert_ptr_nonnull(strstr(log, "1 to 100"));
  ck_assert_ptr_eq(strchr(log, '\n'), log + strlen(log) - 1);
  free(log);
  /* A database that was never made: also 1, with a hint. */
  th_config("[sender]\ntransport = spool\nspool_dir = /tmp\n");
  char *path = th_path("sender.log");
  unlink(path);
  free(path);
  ck_assert_int_eq(th_sender_once(), 1);
  log = file_in_dir("sender.log");
  ck_assert_ptr_nonnull(strstr(log, "otpgate-admin init"));
  free(log);
  th_cleanup();
}
END_TEST

/* ---- spool ---- */

START_TEST(spool_writes_smstools_files) {
  char *dir = th_path("spool");
  mkdir(dir, 0755);
  char *ini = xasprintf("[sender]\ntransport = spool\nspool_dir = %s\n", dir);
  setup_other(ini);
  int64_t a = add_row(5 * MINUTE_MS);
  /* Composed like sms_compose() does: the code in the middle, UTF-8. */
  const char utf8[] = "Код 123456 — никому не сообщайте\nAbCdEfGhIjK";
  int64_t b =
      th_outbox_add(1, PHONE, utf8, strlen("Код "), CODE_LEN, 5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);

  char *path = xasprintf("%s/otpgate-%lld", dir, (long long)a);
  char *got = th_read_file(path);
  ck_assert_ptr_nonnull(got);
  ck_assert_str_eq(got, "To: " PHONE_DIGITS "\n\n" TEXT);
  free(path);
  free(got);
  path = xasprintf("%s/otpgate-%lld", dir, (long long)b);
  got = th_read_file(path);
  char *want = xasprintf("To: %s\nAlphabet: UTF-8\n\n%s", PHONE_DIGITS, utf8);
  ck_assert_str_eq(got, want);
  /* Nothing else: no temporary file left behind. */
  char *ls = xasprintf("ls -A '%s' | wc -l", dir);
  FILE *p = popen(ls, "r");
  int n = -1;
  ck_assert_int_eq(fscanf(p, "%d", &n), 1);
  pclose(p);
  ck_assert_int_eq(n, 2);
  assert_final_and_masked(a, "sent");
  char *masked = qs("SELECT text FROM outbox WHERE id = %lld", (long long)b);
  ck_assert_str_eq(masked, "Код ****** — никому не сообщайте\nAbCdEfGhIjK");
  char *ref =
      qs("SELECT gateway_ref FROM outbox WHERE id = %lld", (long long)a);
  ck_assert_str_eq(ref, "otpgate-1");
  assert_no_secrets();
  free(masked);
  free(ref);
  free(ls);
  free(path);
  free(got);
  free(want);
  free(ini);
  free(dir);
  th_cleanup();
}
END_TEST

/* Another user of a shared spool directory knows the row ids, so the old
 * temporary names (.otpgate-ID.tmp): they plant a file anyone may write
 * there, keeping a second name for it to read what lands in it, and a
 * symlink to a file of theirs. The sender opens neither: the messages go
 * out whole under their own names and the planted files keep what they
 * held. */
START_TEST(spool_ignores_files_planted_at_temporary_names) {
  char *dir = th_path("spool");
  mkdir(dir, 0755);
  char *ini = xasprintf("[sender]\ntransport = spool\nspool_dir = %s\n", dir);
  setup_other(ini);
  int64_t a = add_row(5 * MINUTE_MS), b = add_row(5 * MINUTE_MS);
  char *planted = xasprintf("%s/.otpgate-%lld.tmp", dir, (long long)a);
  char *link_name = xasprintf("%s/.otpgate-%lld.tmp", dir, (long long)b);
  char *held = th_path("held"), *target = th_path("target");
  FILE *f = fopen(planted, "w");
  ck_assert_ptr_nonnull(f);
  fputs("planted\n", f);
  ck_assert_int_eq(fclose(f), 0);
  ck_assert_int_eq(chmod(planted, 0666), 0);
  ck_assert_int_eq(link(planted, held), 0);
  free(th_write_file("target", "target\n", 0666));
  ck_assert_int_eq(symlink(target, link_name), 0);
  struct stat before, sb;
  ck_assert_int_eq(lstat(planted, &before), 0);

  ck_assert_int_eq(th_sender_once(), 0);

  for (int i = 0; i < 2; i++) {
    int64_t id = i ? b : a;
    char *path = xasprintf("%s/otpgate-%lld", dir, (long long)id);
    char *got = th_read_file(path);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, "To: " PHONE_DIGITS "\n\n" TEXT);
    ck_assert_int_eq(lstat(path, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode));
    ck_assert_int_eq(sb.st_mode & 0777, 0640);
    ck_assert(sb.st_ino != before.st_ino);
    assert_final_and_masked(id, "sent");
    free(got);
    free(path);
  }
  char *got = th_read_file(planted);
  ck_assert_str_eq(got, "planted\n");
  free(got);
  got = th_read_file(held);
  ck_assert_str_eq(got, "planted\n");
  free(got);
  ck_assert_int_eq(lstat(planted, &sb), 0);
  ck_assert(sb.st_ino == before.st_ino && sb.st_size == before.st_size);
  ck_assert_int_eq(lstat(link_name, &sb), 0);
  ck_assert(S_ISLNK(sb.st_mode));
  got = th_read_file(target);
  ck_assert_str_eq(got, "target\n");
  free(got);
  /* The two messages and the two planted names: no temporary file left. */
  char *ls = xasprintf("ls -A '%s' | wc -l", dir);
  FILE *p = popen(ls, "r");
  int n = -1;
  ck_assert_int_eq(fscanf(p, "%d", &n), 1);
  pclose(p);
  ck_assert_int_eq(n, 4);
  assert_no_secrets();
  free(ls);
  free(held);
  free(target);
  free(planted);
  free(link_name);
  free(ini);
  free(dir);
  th_cleanup();
}
END_TEST

START_TEST(spool_retries_while_the_directory_is_gone) {
  char *dir = th_path("spool");
  mkdir(dir, 0755);
  char *ini = xasprintf("[sender]\ntransport = spool\nspool_dir = %s\n"
                        "retry_base_seconds = 1\n" FAST,
                        dir);
  setup_other(ini);
  int pid = th_sender_start(false);
  ck_assert(th_wait_sql("SELECT count(*) FROM senders", 1, 10000));
  rmdir(dir);
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert(th_wait_sql("SELECT attempts FROM outbox WHERE status = 'queued'",
                        1, 5000));
  char *err = qs("SELECT last_error FROM outbox");
  ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
  char *text = th_sms_text(id);
  ck_assert_str_eq(text, TEXT);
  /* Made by the test (perhaps root) for the sender (perhaps nobody). */
  mkdir(dir, 0777);
  chmod(dir, 0777);
  ck_assert(th_wait_sql("SELECT count(*) FROM outbox WHERE status = 'sent'", 1,
                        5000));
  ck_assert_int_eq(stop(pid), 0);
  assert_final_and_masked(id, "sent");
  char *path = xasprintf("%s/otpgate-%lld", dir, (long long)id);
  ck_assert_int_eq(access(path, F_OK), 0);
  assert_no_secrets();
  free(path);
  free(err);
  free(text);
  free(ini);
  free(dir);
  th_cleanup();
}
END_TEST

/* ---- http ---- */

static int stub_pid, stub_port;

static void setup_http(const char *path, const char *extra) {
  stub_pid = th_http_stub_start(&stub_port);
  char *ini =
      xasprintf("[sender]\ntransport = http\n"
                "http_url = http://127.0.0.1:%d%s?to={to}&text={text}&id={id}\n"
                "retry_base_seconds = 1\n%s",
                stub_port, path, extra);
  setup_other(ini);
  free(ini);
}

static void stop_stub(void) {
  kill(stub_pid, SIGTERM);
  th_wait_pid(stub_pid, 5000);
}

static char *http_log(void) {
  char *log = file_in_dir("http.log");
  return log ? log : xstrdup("");
}

START_TEST(http_get_sent) {
  setup_http("/ok", FAST);
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);
  assert_final_and_masked(id, "sent");
  char *ref = qs("SELECT gateway_ref FROM outbox");
  ck_assert_str_eq(ref, "0: Accepted for delivery");
  /* The stub decoded exactly what was sent: '+' and spaces survived. */
  char *log = http_log();
  ck_assert_ptr_nonnull(strstr(log, "\"method\": \"GET\""));
  ck_assert_ptr_nonnull(strstr(log, "\"to\": \"" PHONE "\""));
  ck_assert_ptr_nonnull(strstr(log, "\"text\": \"" TEXT "\""));
  ck_assert_ptr_nonnull(strstr(log, "\"id\": \"1\""));
  assert_no_secrets();
  stop_stub();
  free(ref);
  free(log);
  th_cleanup();
}
END_TEST

START_TEST(http_post_sent) {
  setup_http("/ok", FAST "http_method = POST\n"
                         "http_body = dest={to}&msg={text}&ref={id}\n");
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);
  assert_final_and_masked(id, "sent");
  char *log = http_log();
  ck_assert_ptr_nonnull(strstr(log, "\"method\": \"POST\""));
  ck_assert_ptr_nonnull(strstr(log, "\"dest\": \"" PHONE "\""));
  ck_assert_ptr_nonnull(strstr(log, "\"msg\": \"" TEXT "\""));
  ck_assert_ptr_nonnull(strstr(log, "\"ref\": \"1\""));
  ck_assert_ptr_nonnull(
      strstr(log, "\"content_type\": \"application/x-www-form-urlencoded\""));
  stop_stub();
  free(log);
  th_cleanup();
}
END_TEST

START_TEST(http_statuses_decide) {
  /* 503 is in the retry list: queued again. */
  setup_http("/retry", FAST);
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);
  char *st = qs("SELECT status FROM outbox WHERE id = %lld", (long long)id);
  char *err = qs("SELECT last_error FROM outbox");
  ck_assert_str_eq(st, "queued");
  ck_assert_str_eq(err, "HTTP 503: queue full");
  stop_stub();
  free(st);
  free(err);
  th_cleanup();

  /* 400 is in neither list: failed, and the echo of our number and text
   * in the answer is masked. */
  setup_http("/fail", FAST);
  id = add_row(5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);
  assert_final_and_masked(id, "failed");
  err = qs("SELECT last_error FROM outbox");
  ck_assert_str_eq(err, "HTTP 400: bad request for +*********5678: " MASKED);
  assert_no_secrets();
  stop_stub();
  free(err);
  th_cleanup();
}
END_TEST

START_TEST(http_flaky_gateway_then_sent) {
  setup_http("/flaky", FAST);
  int64_t id = add_row(5 * MINUTE_MS);
  int pid = th_sender_start(false);
  ck_assert(th_wait_sql("SELECT count(*) FROM outbox WHERE status = 'sent'", 1,
                        10000));
  ck_assert_int_eq(stop(pid), 0);
  assert_final_and_masked(id, "sent");
  ck_assert_int_eq(q("SELECT attempts FROM outbox"), 2);
  char *err = qs("SELECT last_error FROM outbox");
  ck_assert_str_eq(err, "HTTP 503: try later");
  stop_stub();
  free(err);
  th_cleanup();
}
END_TEST

START_TEST(http_timeout_after_sending_is_unknown) {
  setup_http("/slow", "http_timeout_ms = 500\nlease_seconds = 2\n"
                      "exec_timeout_seconds = 1\n");
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);
  assert_final_and_masked(id, "unknown");
  char *err = qs("SELECT last_error FROM outbox");
  ck_assert_ptr_nonnull(strstr(err, "after the request was sent"));
  assert_no_secrets();
  stop_stub();
  free(err);
  th_cleanup();
}
END_TEST

/* libcurl's multi interface: eight requests of 0.5 s each at once go out
 * in about 0.5 s (one after the other: 4 s), recorded together. */
START_TEST(http_batch_goes_out_concurrently) {
  setup_http("/nap", FAST "batch_size = 8\nconcurrency = 8\n");
  th_outbox_add(8, PHONE, TEXT, CODE_OFF, CODE_LEN, 5 * MINUTE_MS);
  int64_t took = timed_once();
  ck_assert_msg(took >= 500 && took < 2000, "8 requests took %lld ms",
                (long long)took);
  ck_assert_int_eq(q("SELECT count(*) FROM outbox WHERE status = 'sent' AND "
                     "gateway_ref = '0: Accepted for delivery'"),
                   8);
  ck_assert_int_eq(q("SELECT count(DISTINCT updated_at) FROM outbox"), 1);
  char *log = http_log();
  int requests = 0;
  for (const char *p = log; (p = strstr(p, "\"path\": \"/nap\"")); p++)
    requests++;
  ck_assert_int_eq(requests, 8);
  assert_no_secrets();
  stop_stub();
  free(log);
  th_cleanup();
}
END_TEST

/* As with exec: a request the gateway sits on holds one transfer until
 * http_timeout_ms (1 s); the seven others go through the other three
 * meanwhile; the batch is recorded when the last one ends. */
START_TEST(http_slow_request_holds_one_transfer_not_the_others) {
  setup_http("/nap", FAST "batch_size = 8\nconcurrency = 4\n");
  char *err = slow_batch();
  ck_assert_ptr_nonnull(strstr(err, "after the request was sent"));
  stop_stub();
  free(err);
  th_cleanup();
}
END_TEST

/* spool: a batch writes every file, then syncs the directory once; all
 * forty are there under their final names and recorded together. */
START_TEST(spool_batch_writes_every_file) {
  char *dir = th_path("spool");
  mkdir(dir, 0755);
  char *ini = xasprintf("[sender]\ntransport = spool\nspool_dir = %s\n", dir);
  setup_other(ini);
  int64_t first =
      th_outbox_add(40, PHONE, TEXT, CODE_OFF, CODE_LEN, 5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);
  for (int64_t id = first; id < first + 40; id++) {
    char *path = xasprintf("%s/otpgate-%lld", dir, (long long)id);
    char *got = th_read_file(path);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, "To: " PHONE_DIGITS "\n\n" TEXT);
    free(got);
    free(path);
  }
  ck_assert_int_eq(q("SELECT count(*) FROM outbox WHERE status = 'sent' AND "
                     "gateway_ref = 'otpgate-' || id"),
                   40);
  ck_assert_int_eq(q("SELECT count(DISTINCT updated_at) FROM outbox"), 1);
  assert_no_secrets();
  free(ini);
  free(dir);
  th_cleanup();
}
END_TEST

START_TEST(http_refused_connection_is_retried) {
  /* A port nobody listens on: nothing was sent, so try again later. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  close(fd);
  char *ini = xasprintf("[sender]\ntransport = http\n"
                        "http_url = http://127.0.0.1:%d/?to={to}\n" FAST,
                        ntohs(sa.sin_port));
  setup_other(ini);
  int64_t id = add_row(5 * MINUTE_MS);
  ck_assert_int_eq(th_sender_once(), 0);
  char *st = qs("SELECT status FROM outbox WHERE id = %lld", (long long)id);
  ck_assert_str_eq(st, "queued");
  char *err = qs("SELECT last_error FROM outbox");
  ck_assert_ptr_nonnull(strstr(err, "onnect"));
  ck_assert_ptr_null(strstr(err, "after the request was sent"));
  free(st);
  free(err);
  free(ini);
  th_cleanup();
}
END_TEST

int main(void) {
  Suite *s = suite_create("sender");
  TCase *unit = tcase_create("unit");
  tcase_add_test(unit, backoff_doubles_with_jitter_and_caps);
  tcase_add_test(unit, clean_masks_code_and_number);
  suite_add_tcase(s, unit);

  TCase *states = tcase_create("states");
  tcase_add_test(states, queued_to_sent);
  tcase_add_test(states, transient_then_queued_then_sent);
  tcase_add_test(states, permanent_failure);
  tcase_add_test(states, max_attempts_then_failed);
  tcase_add_test(states, expired_is_never_sent);
  tcase_add_test(states, expires_before_the_retry);
  tcase_add_test(states, gateway_timeout_is_unknown);
  tcase_add_test(states, gateway_timeout_retried_when_idempotent);
  tcase_add_test(states, gateway_killed_by_a_signal_is_unknown);
  tcase_add_test(states, command_that_cannot_start_is_retried);
  suite_add_tcase(s, states);

  TCase *procs = tcase_create("processes");
  tcase_add_test(states, batch_goes_out_concurrently);
  tcase_add_test(states, concurrency_1_sends_one_at_a_time);
  tcase_add_test(states, slow_send_holds_one_slot_not_the_others);
  tcase_add_test(states, batch_never_sends_a_code_that_expired_in_the_queue);
  tcase_add_test(procs, batch_keeps_the_heartbeat_going);
  tcase_add_test(procs, two_senders_send_each_row_once);
  tcase_add_test(procs, killed_mid_send_then_sent_after_the_lease);
  tcase_add_test(procs, sigterm_finishes_the_message_in_hand);
  tcase_add_test(procs, sighup_reopens_logs_and_keeps_running);
  tcase_add_test(procs, wake_up_beats_the_poll_interval);
  tcase_add_test(procs, heartbeat_is_written);
  tcase_add_test(procs, housekeeping_deletes_what_is_past_retention);
  tcase_add_test(procs, bad_configuration_exits_1_with_one_line);
  suite_add_tcase(s, procs);

  TCase *transports = tcase_create("transports");
  tcase_add_test(transports, spool_writes_smstools_files);
  tcase_add_test(transports, spool_ignores_files_planted_at_temporary_names);
  tcase_add_test(transports, spool_retries_while_the_directory_is_gone);
  tcase_add_test(transports, http_get_sent);
  tcase_add_test(transports, http_post_sent);
  tcase_add_test(transports, http_statuses_decide);
  tcase_add_test(transports, http_flaky_gateway_then_sent);
  tcase_add_test(transports, http_timeout_after_sending_is_unknown);
  tcase_add_test(transports, http_refused_connection_is_retried);
  tcase_add_test(transports, http_batch_goes_out_concurrently);
  tcase_add_test(transports, http_slow_request_holds_one_transfer_not_the_others);
  tcase_add_test(transports, spool_batch_writes_every_file);
  suite_add_tcase(s, transports);

  return th_run_suite(s);
}
