/* log.c: under the journal (JOURNAL_STREAM names stderr) each line goes to
 * stderr once, with the journal's priority prefix, and not to syslog;
 * elsewhere stamped lines on stderr, and syslog as configured; values
 * quoted so that a line stays key=value. Each test runs in its own process
 * (Check forks), so stderr and the environment are its own. */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "testhelp.h"
#include "util.h"

static char *err_path;

/* stderr into DIR/stderr.log; JOURNAL_STREAM set to that file's device and
 * inode when journal, to another file's when elsewhere, else unset. */
static void redirect_stderr(const char *journal_stream) {
  err_path = th_path("stderr.log");
  int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
  close(fd);
  if (journal_stream == NULL) {
    unsetenv("JOURNAL_STREAM");
    return;
  }
  struct stat sb;
  ck_assert_int_eq(stat(strcmp(journal_stream, "stderr") == 0 ? err_path : th_tmpdir(), &sb), 0);
  char *v = xasprintf("%ju:%ju", (uintmax_t)sb.st_dev, (uintmax_t)sb.st_ino);
  setenv("JOURNAL_STREAM", v, 1);
  free(v);
}

static char *logged(void) {
  fflush(stderr);
  char *text = th_read_file(err_path);
  ck_assert_ptr_nonnull(text);
  return text;
}

static void teardown(void) {
  log_close();
  free(err_path);
  err_path = NULL;
  th_cleanup();
}

static void log_three(void) {
  log_set_level(LOG_LVL_DEBUG);
  log_error("event=e n=1");
  log_warn("event=w n=2");
  log_info("event=i n=3");
  log_debug("event=d n=4");
}

START_TEST(journal_gets_each_line_once_with_its_priority) {
  redirect_stderr("stderr");
  log_open("otpgate-test", true);
  ck_assert_int_eq(log_destinations(), LOG_TO_JOURNAL);
  log_three();
  char *text = logged();
  ck_assert_str_eq(text, "<3>event=e n=1\n<4>event=w n=2\n<6>event=i n=3\n<7>event=d n=4\n");
  free(text);
}
END_TEST

/* The variable names another stream (a web server's, inherited by a worker
 * whose stderr is a file): not the journal. */
START_TEST(another_stream_is_not_the_journal) {
  redirect_stderr("elsewhere");
  log_open("otpgate-test", true);
  ck_assert_int_eq(log_destinations(), LOG_TO_STDERR | LOG_TO_SYSLOG);
  log_three();
  char *text = logged();
  ck_assert_ptr_nonnull(strstr(text, " otpgate-test["));
  ck_assert_ptr_nonnull(strstr(text, "] error: event=e n=1\n"));
  ck_assert_ptr_nonnull(strstr(text, "] info: event=i n=3\n"));
  ck_assert_ptr_null(strchr(text, '<'));
  free(text);
}
END_TEST

START_TEST(no_journal_keeps_syslog_as_configured) {
  redirect_stderr(NULL);
  log_open("otpgate-test", true);
  ck_assert_int_eq(log_destinations(), LOG_TO_STDERR | LOG_TO_SYSLOG);
  log_close();
  log_open("otpgate-test", false);
  ck_assert_int_eq(log_destinations(), LOG_TO_STDERR);
  setenv("JOURNAL_STREAM", "nonsense", 1);
  log_open("otpgate-test", false);
  ck_assert_int_eq(log_destinations(), LOG_TO_STDERR);
}
END_TEST

START_TEST(values_stay_one_token) {
  ck_assert_str_eq(log_q("plain-1.2:3").s, "plain-1.2:3");
  ck_assert_str_eq(log_q("").s, "\"\"");
  ck_assert_str_eq(log_q(NULL).s, "\"\"");
  ck_assert_str_eq(log_q("two words").s, "\"two words\"");
  ck_assert_str_eq(log_q("a=b").s, "\"a=b\"");
  ck_assert_str_eq(log_q("say \"hi\" \\o/").s, "\"say \\\"hi\\\" \\\\o/\"");
  ck_assert_str_eq(log_q("tab\there").s, "\"tab here\"");
  /* Cut, but still closed. */
  char *longer = xmalloc(2000);
  memset(longer, '"', 1999);
  longer[1999] = '\0';
  struct log_quoted lq = log_q(longer);
  size_t n = strlen(lq.s);
  ck_assert_uint_lt(n, sizeof lq.s);
  ck_assert_int_eq(lq.s[0], '"');
  ck_assert_int_eq(lq.s[n - 1], '"');
  ck_assert_int_eq(lq.s[n - 2], '"'); /* an escaped quote, whole */
  ck_assert_int_eq(lq.s[n - 3], '\\');
  free(longer);
}
END_TEST

int main(void) {
  Suite *s = suite_create("log");
  TCase *tc = tcase_create("log");
  tcase_add_checked_fixture(tc, NULL, teardown);
  tcase_add_test(tc, journal_gets_each_line_once_with_its_priority);
  tcase_add_test(tc, another_stream_is_not_the_journal);
  tcase_add_test(tc, no_journal_keeps_syslog_as_configured);
  tcase_add_test(tc, values_stay_one_token);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
