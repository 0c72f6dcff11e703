/* sd_notify: the sender and the worker tell systemd that they are ready
 * and alive, on the datagram socket NOTIFY_SOCKET names, which the test
 * binds as systemd would; WATCHDOG_USEC and WATCHDOG_PID are set as
 * systemd sets them for a unit with WatchdogSec=. */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fcgi_client.h"
#include "testhelp.h"
#include "util.h"

#define WATCHDOG_USEC "1000000" /* a ping every 500 ms */

static int notify_fd = -1;

/* Binds DIR/notify.sock and points NOTIFY_SOCKET at it; the programs may
 * run as nobody, so anyone may send to it. The sender's pid comes with
 * each message (SO_PASSCRED), as systemd reads it. */
static void notify_listen(void) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  char *path = th_path("notify.sock");
  int one = 1;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(notify_fd, 0);
  ck_assert_int_eq(bind(notify_fd, (struct sockaddr *)&sa, sizeof sa), 0);
  ck_assert_int_eq(chmod(path, 0666), 0);
  ck_assert_int_eq(setsockopt(notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
  setenv("NOTIFY_SOCKET", path, 1);
  setenv("WATCHDOG_USEC", WATCHDOG_USEC, 1);
  free(path);
}

/* The next message within timeout_ms into buf, *from its sender's pid. */
static bool next_message(int timeout_ms, char *buf, size_t size, pid_t *from) {
  struct pollfd p = {.fd = notify_fd, .events = POLLIN};
  if (timeout_ms < 0 || poll(&p, 1, timeout_ms) != 1)
    return false;
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof(struct ucred))];
  } control;
  struct iovec iov = {.iov_base = buf, .iov_len = size - 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = &control, .msg_controllen = sizeof control};
  ssize_t n = recvmsg(notify_fd, &msg, 0);
  ck_assert_int_ge(n, 0);
  buf[n] = '\0';
  *from = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
      *from = ((struct ucred *)CMSG_DATA(c))->pid;
  return true;
}

/* The messages of pid in the next ms: how many said `what`; every one is
 * appended to *seen. */
/* Listens for MS: every message goes to SEEN; the number of WHAT from PID,
 * and in *SILENCE (if not NULL) the longest time in ms without one. */
static int listen_for(pid_t pid, int ms, const char *what, struct buf *seen,
                      int *silence) {
  int64_t until = monotonic_ms() + ms, last = monotonic_ms(), longest = 0;
  char msg[256];
  pid_t from;
  int n = 0;
  while (next_message((int)(until - monotonic_ms()), msg, sizeof msg, &from)) {
    buf_appends(seen, msg);
    buf_appends(seen, "\n");
    if (from == pid && strcmp(msg, what) == 0) {
      int64_t now = monotonic_ms();
      if (now - last > longest) longest = now - last;
      last = now;
      n++;
    }
  }
  if (until - last > longest) longest = until - last;
  if (silence != NULL) *silence = (int)longest;
  return n;
}

static int count_messages(pid_t pid, int ms, const char *what, struct buf *seen) {
  return listen_for(pid, ms, what, seen, NULL);
}

static void teardown(void) {
  if (notify_fd >= 0)
    close(notify_fd);
  notify_fd = -1;
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  th_cleanup();
}

static char *program(const char *name) {
  char *built = xasprintf("%s/src/%s", th_builddir(), name);
  char *prog = th_runnable(built);
  free(built);
  return prog;
}

/* ---- the sender ---- */

static void sender_setup(void) {
  char *spool = th_path("spool");
  char *extra = xasprintf("[sender]\ntransport = spool\nspool_dir = %s\n", spool);
  th_config(extra);
  ck_assert_int_eq(mkdir(spool, 0777), 0);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  free(extra);
  free(spool);
  notify_listen();
}

/* The sender as systemd starts it: WATCHDOG_PID is the sender itself
 * (the shell's pid, which exec hands on), or own_pid false: another's. */
static int sender_spawn(bool own_pid) {
  char *prog = program("otpgate-sender");
  const char *script = own_pid ? "WATCHDOG_PID=$$; export WATCHDOG_PID; exec \"$0\" \"$@\""
                               : "WATCHDOG_PID=1; export WATCHDOG_PID; exec \"$0\" \"$@\"";
  int pid = th_spawn("sender.log", "/bin/sh", "-c", script, prog, "-c",
                     th_config_path(), NULL);
  free(prog);
  return pid;
}

START_TEST(sender_says_ready_alive_stopping) {
  sender_setup();
  int pid = sender_spawn(true);
  char msg[256];
  pid_t from;
  ck_assert_msg(next_message(10000, msg, sizeof msg, &from), "no message");
  ck_assert_str_eq(msg, "READY=1");
  ck_assert_int_eq(from, pid);
  /* Pings twice per WatchdogSec= (1 s): about five in 2.5 s. */
  struct buf seen = {0};
  int pings = count_messages(pid, 2500, "WATCHDOG=1", &seen);
  buf_appends(&seen, "");
  ck_assert_msg(pings >= 3 && pings <= 8, "%d pings: %s", pings, seen.data);
  kill(pid, SIGTERM);
  ck_assert_int_ge(count_messages(pid, 3000, "STOPPING=1", &seen), 1);
  int status = th_wait_pid(pid, 10000);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  buf_free(&seen);
}
END_TEST

/* WATCHDOG_PID names another process: the watchdog is not this one's. */
START_TEST(sender_leaves_another_process_watchdog_alone) {
  sender_setup();
  int pid = sender_spawn(false);
  char msg[256];
  pid_t from;
  ck_assert(next_message(10000, msg, sizeof msg, &from));
  ck_assert_str_eq(msg, "READY=1");
  struct buf seen = {0};
  ck_assert_int_eq(count_messages(pid, 1500, "WATCHDOG=1", &seen), 0);
  kill(pid, SIGTERM);
  th_wait_pid(pid, 10000);
  buf_free(&seen);
}
END_TEST

/* ---- the worker under multiwatch ---- */

static char wsock[600];

/* A worker started as multiwatch starts one: its parent (this test) is the
 * unit's main process, which WATCHDOG_PID names. */
static int worker_spawn(const char *watchdog_pid) {
  char *extra = xasprintf("[sender]\nheartbeat_max_age_seconds = 0\n"
                          "[database]\nbusy_timeout_ms = 8000\n");
  th_config(extra);
  free(extra);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  notify_listen();
  setenv("WATCHDOG_PID", watchdog_pid, 1);
  snprintf(wsock, sizeof wsock, "%s/w.sock", th_tmpdir());
  char *prog = program("otpgate-fcgi");
  int pid = th_spawn("worker.log", prog, "-c", th_config_path(), "--socket", wsock, NULL);
  free(prog);
  return pid;
}

/* An echo that waits (busy_timeout_ms) for the write lock the test holds:
 * the worker is held inside the request. In a child; its pid. */
static int held_request(void) {
  int pid = fork();
  if (pid == 0) {
    struct th_fcgi_reply r;
    char *body = xasprintf("{\"requestHeader\":{\"protocolVersion\":{\"major\":1,"
                           "\"minor\":0,\"revision\":0},\"requestId\":\"held\","
                           "\"requestTimestamp\":\"%" PRId64 "\"},"
                           "\"clientMessage\":\"hi\"}", now_ms());
    _exit(th_fcgi_post(wsock, "/v1/echo", body, &r) == 0 ? 0 : 1);
  }
  return pid;
}

START_TEST(worker_says_ready_and_alive_not_stopping) {
  char parent[24];
  snprintf(parent, sizeof parent, "%ld", (long)getpid());
  int pid = worker_spawn(parent);
  char msg[256];
  pid_t from;
  ck_assert_msg(next_message(10000, msg, sizeof msg, &from), "no message");
  ck_assert_str_eq(msg, "READY=1");
  ck_assert_int_eq(from, pid);
  struct buf seen = {0};
  int pings = count_messages(pid, 2500, "WATCHDOG=1", &seen);
  buf_appends(&seen, "");
  ck_assert_msg(pings >= 3 && pings <= 8, "%d pings: %s", pings, seen.data);
  /* Held by one request for longer than WatchdogSec=: no pings, until the
   * request is over (it waits up to 8 s for the write lock the test
   * holds). The request's connection may take a while on a loaded
   * machine, so the test does not guess when the worker took it: in 6 s
   * after the request is sent, pings (every 500 ms otherwise) stop for
   * at least 3 s. */
  char *lock_path = xasprintf("%s-lock", th_db_path());
  int lock = open(lock_path, O_RDWR);
  ck_assert_int_ge(lock, 0);
  ck_assert_int_eq(flock(lock, LOCK_EX), 0);
  int client = held_request();
  int silence;
  listen_for(pid, 6000, "WATCHDOG=1", &seen, &silence);
  buf_appends(&seen, "");
  ck_assert_msg(silence >= 3000, "longest silence %d ms: %s", silence, seen.data);
  close(lock);
  ck_assert_int_eq(th_wait_pid(client, 10000), 0);
  ck_assert_int_ge(count_messages(pid, 1500, "WATCHDOG=1", &seen), 1);
  /* One worker stopping is not the service stopping. */
  kill(pid, SIGTERM);
  ck_assert_int_eq(count_messages(pid, 1500, "STOPPING=1", &seen), 0);
  int status = th_wait_pid(pid, 10000);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  free(lock_path);
  buf_free(&seen);
}
END_TEST

START_TEST(worker_leaves_another_process_watchdog_alone) {
  int pid = worker_spawn("1");
  char msg[256];
  pid_t from;
  ck_assert(next_message(10000, msg, sizeof msg, &from));
  ck_assert_str_eq(msg, "READY=1");
  struct buf seen = {0};
  ck_assert_int_eq(count_messages(pid, 1500, "WATCHDOG=1", &seen), 0);
  kill(pid, SIGTERM);
  th_wait_pid(pid, 10000);
  buf_free(&seen);
}
END_TEST

int main(void) {
  Suite *s = suite_create("notify");
  TCase *tc = tcase_create("notify");
  tcase_set_timeout(tc, 60);
  tcase_add_checked_fixture(tc, NULL, teardown);
  tcase_add_test(tc, sender_says_ready_alive_stopping);
  tcase_add_test(tc, sender_leaves_another_process_watchdog_alone);
  tcase_add_test(tc, worker_says_ready_and_alive_not_stopping);
  tcase_add_test(tc, worker_leaves_another_process_watchdog_alone);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
