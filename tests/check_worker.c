/* otpgate-fcgi as a process: the socket it binds itself (--socket). */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fcgi_client.h"
#include "testhelp.h"
#include "util.h"

static char sock[600];
static int worker;

static void setup(void) {
  worker = th_test_worker(NULL, sock, sizeof sock);
  ck_assert_int_gt(worker, 0);
}

static void teardown(void) {
  if (worker > 0)
    ck_assert_int_eq(th_worker_stop(worker), 0);
  worker = 0;
  th_cleanup();
}

static char *worker_program(void) {
  char *built = xasprintf("%s/src/otpgate-fcgi", th_builddir());
  char *prog = th_runnable(built);
  free(built);
  return prog;
}

/* otpgate-fcgi -c CONF --socket SPEC in the background, output to DIR/log. */
static int spawn_worker_with(const char *conf, const char *log, const char *spec) {
  char *prog = worker_program();
  int pid = th_spawn(log, prog, "-c", conf, "--socket", spec, NULL);
  free(prog);
  return pid;
}

static int spawn_worker(const char *log, const char *spec) {
  return spawn_worker_with(th_config_path(), log, spec);
}

/* The same, to its exit: the exit status, or -1 when it was still
 * running after 5 s (and is killed) or died of a signal. */
static int run_worker(const char *log, const char *spec) {
  int status = th_wait_pid(spawn_worker(log, spec), 5000);
  return status == -1 || !WIFEXITED(status) ? -1 : WEXITSTATUS(status);
}

static char *read_log(const char *name) {
  char *path = th_path(name);
  char *text = th_read_file(path);
  free(path);
  return text ? text : xstrdup("");
}

/* An echo through spec: the HTTP status, or -1 when nobody answered. */
static int echo_status(const char *spec, const char *rid) {
  struct th_fcgi_reply r;
  char *body = xasprintf("{\"requestHeader\":{\"protocolVersion\":{\"major\":1,"
                         "\"minor\":0,\"revision\":0},\"requestId\":\"%s\","
                         "\"requestTimestamp\":\"%" PRId64 "\"},"
                         "\"clientMessage\":\"hi\"}",
                         rid, now_ms());
  int status = th_fcgi_post(spec, "/v1/echo", body, &r) == 0 ? r.status : -1;
  if (status != -1)
    th_fcgi_reply_free(&r);
  free(body);
  return status;
}

/* Waits until spec answers an echo (5 s at most). */
static bool answers(const char *spec) {
  for (int i = 0; i < 500; i++) {
    if (echo_status(spec, "probe") == 200)
      return true;
    usleep(10 * 1000);
  }
  return false;
}

/* ---- --socket ---- */

/* A second worker on the path of a running one says so and exits 1; the
 * first keeps its socket. (libfcgi's bind took the path over.) */
START_TEST(live_unix_socket_is_refused) {
  ck_assert_int_eq(run_worker("second.log", sock), 1);
  char *log = read_log("second.log");
  char *want = xasprintf("otpgate-fcgi: cannot listen on %s: Address already in use", sock);
  ck_assert_msg(strstr(log, want) != NULL, "%s", log);
  ck_assert_int_eq(echo_status(sock, "still-first"), 200);
  char *first = read_log("worker.log");
  ck_assert_ptr_nonnull(strstr(first, "requestId=still-first "));
  free(first);
  free(want);
  free(log);
}
END_TEST

/* README: the socket is for owner and group only, 0660. */
START_TEST(unix_socket_mode_0660) {
  struct stat sb;
  ck_assert_int_eq(stat(sock, &sb), 0);
  ck_assert(S_ISSOCK(sb.st_mode));
  ck_assert_int_eq(sb.st_mode & 07777, 0660);
}
END_TEST

/* A socket file left by a worker that died (SIGKILL) is taken over. */
START_TEST(stale_unix_socket_is_replaced) {
  kill(worker, SIGKILL);
  waitpid(worker, NULL, 0);
  worker = 0;
  struct stat sb;
  ck_assert_int_eq(stat(sock, &sb), 0);
  ck_assert_int_eq(echo_status(sock, "nobody-there"), -1);
  worker = spawn_worker("again.log", sock);
  ck_assert_msg(answers(sock), "%s", read_log("again.log"));
}
END_TEST

/* A file that is not a socket is never removed. */
START_TEST(file_in_the_way_is_refused) {
  char *path = th_write_file("not-a-socket", "keep me\n", 0644);
  ck_assert_int_eq(run_worker("file.log", path), 1);
  char *log = read_log("file.log");
  char *want = xasprintf("otpgate-fcgi: cannot listen on %s: a file that is not a socket", path);
  ck_assert_msg(strstr(log, want) != NULL, "%s", log);
  char *text = th_read_file(path);
  ck_assert_str_eq(text, "keep me\n");
  free(text);
  free(want);
  free(log);
  free(path);
}
END_TEST

/* A TCP listener on 127.0.0.1 and the port it got. */
static int tcp_listener(int *port) {
  struct sockaddr_in in = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof in;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&in, sizeof in), 0);
  ck_assert_int_eq(listen(fd, 1), 0);
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&in, &len), 0);
  *port = ntohs(in.sin_port);
  return fd;
}

/* HOST:PORT in use: exit 1 and one line, not libfcgi's exit 22. */
START_TEST(tcp_port_in_use_is_refused) {
  int port, fd = tcp_listener(&port);
  char *spec = xasprintf("127.0.0.1:%d", port);
  ck_assert_int_eq(run_worker("tcp.log", spec), 1);
  char *log = read_log("tcp.log");
  char *want = xasprintf("otpgate-fcgi: cannot listen on %s: Address already in use\n", spec);
  ck_assert_str_eq(log, want);
  close(fd);
  free(want);
  free(log);
  free(spec);
}
END_TEST

/* HOST:PORT free: the worker serves FastCGI over TCP. */
START_TEST(tcp_socket_serves) {
  int port, fd = tcp_listener(&port);
  close(fd); /* free again; nothing else here takes ports below */
  char *spec = xasprintf("127.0.0.1:%d", port);
  int pid = spawn_worker("tcp.log", spec);
  ck_assert_msg(answers(spec), "%s", read_log("tcp.log"));
  ck_assert_int_eq(th_worker_stop(pid), 0);
  free(spec);
}
END_TEST

static const struct {
  const char *spec, *says;
} bad_specs[] = {
    {"nonsense", "neither a unix socket path"},
    {"127.0.0.1:0", "PORT 1 to 65535"},
    {"127.0.0.1:http", "PORT 1 to 65535"},
    {"no-such-host.invalid:9000", "cannot listen on no-such-host.invalid:9000: "},
};

START_TEST(bad_socket_spec_is_refused) {
  ck_assert_int_eq(run_worker("bad.log", bad_specs[_i].spec), 1);
  char *log = read_log("bad.log");
  ck_assert_msg(strstr(log, bad_specs[_i].says) != NULL, "%s", log);
  ck_assert_ptr_nonnull(strstr(log, "otpgate-fcgi: cannot listen on "));
  free(log);
}
END_TEST

/* ---- the log under systemd ---- */

/* The test configuration with syslog on (th_config() turns it off). */
static char *config_with_syslog(void) {
  char *text = th_read_file(th_config_path());
  char *at = strstr(text, "syslog = no");
  ck_assert_ptr_nonnull(at);
  memcpy(at, "syslog =yes", 11);
  char *path = th_write_file("syslog.conf", text, 0644);
  free(text);
  return path;
}

/* Under systemd, stderr is the journal's stream (JOURNAL_STREAM names its
 * device and inode): each line once, with its priority, no stamp (journald
 * adds the time, name and pid), and syslog stays shut although the
 * configuration has it on (journald would store every line twice). */
START_TEST(journal_gets_each_line_once) {
  ck_assert_int_eq(th_worker_stop(worker), 0);
  worker = 0;
  char *conf = config_with_syslog(), *log = th_write_file("journal.log", "", 0644);
  char *spec = th_path("journal.sock");
  struct stat sb;
  ck_assert_int_eq(stat(log, &sb), 0);
  char *stream = xasprintf("%ju:%ju", (uintmax_t)sb.st_dev, (uintmax_t)sb.st_ino);
  setenv("JOURNAL_STREAM", stream, 1);
  worker = spawn_worker_with(conf, "journal.log", spec);
  unsetenv("JOURNAL_STREAM");
  ck_assert(answers(spec));
  ck_assert_int_eq(echo_status(spec, "j-1"), 200);
  ck_assert_int_eq(th_worker_stop(worker), 0);
  worker = 0;
  char *text = th_read_file(log);
  ck_assert_msg(strstr(text, "<6>event=ready\n") != NULL, "%s", text);
  int lines = 0, j1 = 0;
  for (char *line = text, *end; *line; line = end + 1) {
    end = strchrnul(line, '\n');
    ck_assert_msg(line[0] == '<' && line[2] == '>', "no priority: %.*s", (int)(end - line), line);
    if (strstr(line, "requestId=j-1 ") && strstr(line, "requestId=j-1 ") < end) {
      ck_assert_int_eq(strncmp(line, "<6>event=request method=echo requestId=j-1 result=SUCCESS status=200 ", 69), 0);
      j1++;
    }
    lines++;
    if (*end == '\0')
      break;
  }
  ck_assert_int_eq(j1, 1);
  ck_assert_ptr_nonnull(strstr(text, "\n<6>event=stopped status=0\n"));
  ck_assert_ptr_null(strstr(text, "otpgate-fcgi["));
  ck_assert_int_ge(lines, 3);
  free(text);
  free(stream);
  free(spec);
  free(log);
  free(conf);
}
END_TEST

/* ---- -t: the configuration test ---- */

/* otpgate-fcgi -t, run as a worker runs (nobody, when the tests are
 * root's): its exit status, its output in DIR/test.log. */
static int run_test(void) {
  char *path = th_path("test.log");
  unlink(path);
  free(path);
  char *prog = worker_program();
  int status = th_wait_pid(th_spawn("test.log", prog, "-t", "-c", th_config_path(), NULL), 20000);
  free(prog);
  return status == -1 || !WIFEXITED(status) ? -1 : WEXITSTATUS(status);
}

START_TEST(test_option_all_is_well) {
  ck_assert_int_eq(run_test(), 0);
  char *log = read_log("test.log");
  ck_assert_msg(strstr(log, "\nall is well\notpgate-fcgi: the configuration test is successful\n"), "%s", log);
  ck_assert_ptr_null(strstr(log, "problem: "));
  free(log);
}
END_TEST

/* What the worker's user cannot do, every problem of it: a database it
 * cannot write (the worker would answer 503 to every sendOtp) and a
 * secret others may read (it would not start). */
START_TEST(test_option_reports_every_problem) {
  char *key = th_path("otp.key");
  ck_assert_int_eq(chmod(th_db_path(), 0440), 0);
  ck_assert_int_eq(chmod(key, 0644), 0);
  ck_assert_int_eq(run_test(), 1);
  char *log = read_log("test.log");
  char *want = xasprintf("problem: database %s: ", th_db_path());
  ck_assert_msg(strstr(log, want) && strstr(log, " 0440: "), "%s", log);
  ck_assert_msg(strstr(log, "cannot read and write it\n"), "%s", log);
  ck_assert_msg(strstr(log, "problem: [otp] secret_file: "), "%s", log);
  ck_assert_msg(strstr(log, "\n2 problems\notpgate-fcgi: the configuration test failed\n"), "%s", log);
  ck_assert_int_eq(chmod(th_db_path(), 0660), 0);
  free(want);
  free(log);
  free(key);
}
END_TEST

int main(void) {
  Suite *s = suite_create("worker");
  TCase *tc = tcase_create("socket");
  tcase_set_timeout(tc, 60);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, live_unix_socket_is_refused);
  tcase_add_test(tc, unix_socket_mode_0660);
  tcase_add_test(tc, stale_unix_socket_is_replaced);
  tcase_add_test(tc, file_in_the_way_is_refused);
  tcase_add_test(tc, tcp_port_in_use_is_refused);
  tcase_add_test(tc, tcp_socket_serves);
  tcase_add_loop_test(tc, bad_socket_spec_is_refused, 0,
                      sizeof bad_specs / sizeof bad_specs[0]);
  tcase_add_test(tc, journal_gets_each_line_once);
  tcase_add_test(tc, test_option_all_is_well);
  tcase_add_test(tc, test_option_reports_every_problem);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
