/* The configuration: defaults, every kind of bad value, the messages. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf.h"
#include "secret.h"
#include "testhelp.h"
#include "util.h"

static char err[512];

static struct conf *load(const char *text) {
  err[0] = '\0';
  return conf_load_string(text, "test.conf", err, sizeof err);
}

START_TEST(defaults) {
  struct conf *c = load("");
  ck_assert_ptr_nonnull(c);
  ck_assert(c->database.synchronous == SYNCHRONOUS_FULL);
  ck_assert_int_eq(c->database.busy_timeout_ms, 5000);
  ck_assert_int_eq(c->api.max_body_bytes, 65536);
  ck_assert_int_eq(c->api.timestamp_skew_ms, 60000);
  ck_assert_int_eq(c->otp.length, 6);
  ck_assert_int_eq(c->otp.ttl_seconds, 300);
  ck_assert_int_eq(c->otp.max_verify_attempts, 5);
  ck_assert_int_eq(c->otp.max_account_failures, 10);
  ck_assert_int_eq(c->otp.lockout_seconds, 900);
  ck_assert_int_eq(c->otp.send_limit, 5);
  ck_assert_int_eq(c->otp.send_window_seconds, 900);
  ck_assert_ptr_nonnull(strstr(c->otp.secret_file, "/otpgate/otp.key"));
  ck_assert_ptr_nonnull(strstr(c->database.path, "/lib/otpgate/otpgate.db"));
  ck_assert_ptr_nonnull(strstr(c->sms.template, "{otp}"));
  ck_assert_int_eq(c->sms.token_position, TOKEN_LAST);
  ck_assert_int_eq(c->sender.transport, TRANSPORT_KIND_SPOOL);
  ck_assert_str_eq(c->sender.spool_dir, "/var/spool/sms/outgoing");
  ck_assert_int_eq(c->sender.exec_timeout_seconds, 10);
  ck_assert_int_eq(c->sender.http_method, HTTP_GET);
  ck_assert_int_eq(c->sender.http_timeout_ms, 5000);
  ck_assert(c->sender.http_verify_tls);
  ck_assert(!c->sender.idempotent);
  ck_assert_int_eq(c->sender.max_attempts, 5);
  ck_assert_int_eq(c->sender.retry_base_seconds, 2);
  ck_assert_int_eq(c->sender.retry_max_seconds, 60);
  ck_assert_int_eq(c->sender.lease_seconds, 30);
  ck_assert_int_eq(c->sender.poll_interval_ms, 1000);
  ck_assert_int_eq(c->sender.heartbeat_seconds, 2);
  ck_assert_int_eq(c->sender.heartbeat_max_age_seconds, 15);
  ck_assert_int_eq(c->retention.requests_days, 30);
  ck_assert_int_eq(c->retention.otps_days, 7);
  ck_assert_int_eq(c->retention.outbox_days, 90);
  ck_assert(c->log.syslog);
  conf_free(c);
}
END_TEST

START_TEST(values_are_read) {
  struct conf *c = load("[database]\npath = /tmp/x.db\nsynchronous = normal\n"
                        "[otp]\nlength = 8\nttl_seconds = 600\n"
                        "[sms]\ntoken_position = first\n"
                        "[sender]\ntransport = exec\nexec_command = /bin/true -x\n"
                        "[log]\nsyslog = no\n");
  ck_assert_msg(c != NULL, "%s", err);
  ck_assert_str_eq(c->database.path, "/tmp/x.db");
  ck_assert(c->database.synchronous == SYNCHRONOUS_NORMAL);
  ck_assert_int_eq(c->otp.length, 8);
  ck_assert_int_eq(c->sms.token_position, TOKEN_FIRST);
  ck_assert_int_eq(c->sender.transport, TRANSPORT_KIND_EXEC);
  ck_assert_str_eq(c->sender.exec_command, "/bin/true -x");
  ck_assert(!c->log.syslog);
  conf_free(c);
}
END_TEST

/* Each bad file, and words its one-line message must hold. */
static const struct {
  const char *text;
  const char *expect1, *expect2;
} bad[] = {
    {"[otp]\nlength = 5\n", "[otp] length", "from 6 to 10"},
    {"[otp]\nlength = 11\n", "[otp] length", "from 6 to 10"},
    {"[otp]\nlength = six\n", "[otp] length", "\"six\""},
    {"[otp]\nlength = 6x\n", "[otp] length", "whole number"},
    {"[otp]\nlength = \n", "[otp] length", "whole number"},
    {"[otp]\nttl_seconds = 601\n", "[otp] ttl_seconds", "600"},
    {"[otp]\nlength = 6\nlength = 7\n", "[otp] length", "twice"},
    {"[otp]\nlenght = 6\n", "[otp] lenght", "unknown key"},
    {"[nosuch]\nkey = 1\n", "[nosuch] key", "unknown key"},
    {"[database]\nsynchronous = off\n", "[database] synchronous", "normal, full"},
    {"[database]\npath =\n", "[database] path", "empty"},
    {"[database]\nbusy_timeout_ms = -1\n", "[database] busy_timeout_ms", "0 to"},
    {"[api]\nmax_body_bytes = 99999999999999999999\n", "[api] max_body_bytes", "whole number"},
    {"[api]\ntimestamp_skew_ms = -5\n", "[api] timestamp_skew_ms", "whole number"},
    {"[sms]\ntemplate = Your code is ready\n", "[sms] template", "{otp} exactly once"},
    {"[sms]\ntemplate = {otp} and {otp}\n", "[sms] template", "exactly once"},
    {"[sms]\ntemplate = code {otp} {name}\n", "[sms] template", "unknown placeholder"},
    {"[sms]\ntemplate = {otp} xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
     "[sms] template", "160"},
    {"[sms]\ntemplate = Ваш код {otp}. Он действителен {minutes} минут. Никому его не сообщайте, даже сотрудникам банка.\n",
     "[sms] template", "70"},
    {"[sms]\ntoken_position = middle\n", "[sms] token_position", "first, last"},
    {"[sender]\ntransport = smtp\n", "[sender] transport", "exec, spool, http"},
    {"[sender]\ntransport = exec\n", "[sender] exec_command", "must be set"},
    {"[sender]\ntransport = exec\nexec_command = send-sms\n", "[sender] exec_command", "absolute"},
    {"[sender]\ntransport = exec\nexec_command = /bin/x\nexec_timeout_seconds = 30\n",
     "[sender] lease_seconds", "exec_timeout_seconds"},
    {"[sender]\ntransport = http\n", "[sender] http_url", "http://"},
    {"[sender]\ntransport = http\nhttp_url = ftp://x\n", "[sender] http_url", "https://"},
    {"[sender]\nhttp_method = PUT\n", "[sender] http_method", "GET, POST"},
    {"[sender]\nhttp_verify_tls = maybe\n", "[sender] http_verify_tls", "yes or no"},
    {"[sender]\nhttp_sent_statuses = 2xx\n", "[sender] http_sent_statuses", "list"},
    {"[sender]\nhttp_retry_statuses = 500-400\n", "[sender] http_retry_statuses", "list"},
    {"[sender]\nretry_base_seconds = 10\nretry_max_seconds = 5\n",
     "[sender] retry_max_seconds", "retry_base_seconds"},
    {"[sender]\nmax_attempts = 0\n", "[sender] max_attempts", "1 to 100"},
    {"[retention]\nrequests_days = 7\n", "[retention] requests_days", "30 to"},
    {"[log]\nlevel = loud\n", "[log] level", "error, warn"},
    {"[log]\nsyslog = sometimes\n", "[log] syslog", "yes or no"},
    {"this is not ini\n", "line 1", "not a section"},
};

START_TEST(bad_values) {
  struct conf *c = load(bad[_i].text);
  ck_assert_msg(c == NULL, "accepted: %s", bad[_i].text);
  ck_assert_msg(strncmp(err, "test.conf: ", 11) == 0, "no file name: %s", err);
  ck_assert_msg(strstr(err, bad[_i].expect1) != NULL, "'%s' lacks '%s'", err,
                bad[_i].expect1);
  ck_assert_msg(strstr(err, bad[_i].expect2) != NULL, "'%s' lacks '%s'", err,
                bad[_i].expect2);
  ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(status_lists) {
  ck_assert(conf_status_in_list("200-299,302", 200));
  ck_assert(conf_status_in_list("200-299,302", 299));
  ck_assert(conf_status_in_list("200-299,302", 302));
  ck_assert(!conf_status_in_list("200-299,302", 300));
  ck_assert(!conf_status_in_list("408,429,500-599", 404));
  ck_assert(conf_status_in_list("408,429,500-599", 503));
}
END_TEST

START_TEST(file_and_path_resolution) {
  const char *path = th_config("[otp]\nlength = 7\n");
  setenv("OTPGATE_CONFIG", "/env/path.conf", 1);
  ck_assert_str_eq(conf_resolve_path("/cli.conf"), "/cli.conf");
  ck_assert_str_eq(conf_resolve_path(NULL), "/env/path.conf");
  unsetenv("OTPGATE_CONFIG");
  ck_assert_ptr_nonnull(strstr(conf_resolve_path(NULL), "/otpgate/otpgate.conf"));
  struct conf *c = conf_load(path, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  ck_assert_int_eq(c->otp.length, 7);
  ck_assert_str_eq(c->database.path, th_db_path());
  conf_free(c);
  ck_assert_ptr_null(conf_load("/nonexistent/otpgate.conf", err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/otpgate.conf"));
  th_cleanup();
}
END_TEST

START_TEST(the_shipped_file_is_valid_and_all_defaults) {
  /* etc/otpgate.conf documents every key commented out with its default:
   * uncommenting each must give the same configuration as the defaults. */
  char *path = NULL;
  if (asprintf(&path, "%s/etc/otpgate.conf", th_srcdir()) < 0)
    abort();
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  char line[1024];
  char text[16384] = "";
  int keys = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '[') {
      strcat(text, line);
    } else if (line[0] == ';' && strchr(line, '=') && line[1] != ' ') {
      strcat(text, line + 1);
      keys++;
    }
  }
  fclose(f);
  /* exec_command and http_url are empty by default: fine for spool. */
  struct conf *uncommented = load(text), *dflt = load("");
  ck_assert_msg(uncommented != NULL, "%s", err);
  ck_assert_int_ge(keys, 40);
  ck_assert_str_eq(uncommented->sms.template, dflt->sms.template);
  /* The paths follow configure's directories; the file shows them for
   * --prefix=/usr --sysconfdir=/etc --localstatedir=/var. */
  ck_assert_ptr_nonnull(strstr(dflt->database.path, "/lib/otpgate/otpgate.db"));
  ck_assert_int_eq(uncommented->otp.ttl_seconds, dflt->otp.ttl_seconds);
  ck_assert_int_eq(uncommented->sender.transport, dflt->sender.transport);
  ck_assert_int_eq(uncommented->sender.lease_seconds, dflt->sender.lease_seconds);
  ck_assert_int_eq(uncommented->api.max_body_bytes, dflt->api.max_body_bytes);
  ck_assert_int_eq(uncommented->otp.length, dflt->otp.length);
  conf_free(uncommented);
  conf_free(dflt);
  free(path);
}
END_TEST

START_TEST(secret_file_rules) {
  const char *dir = th_tmpdir();
  char path[700];
  struct secret_keys k1, k2;
  bool created;
  snprintf(path, sizeof path, "%s/key", dir);
  ck_assert(!secret_load(path, &k1, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, path));
  ck_assert(secret_create(path, (gid_t)-1, &created, err, sizeof err));
  ck_assert(created);
  struct stat sb;
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_int_eq(sb.st_mode & 0777, 0600);
  ck_assert_msg(secret_load(path, &k1, err, sizeof err), "%s", err);
  ck_assert_int_eq(k1.n, 1);
  ck_assert_int_eq(secret_newest(&k1)->id, 1);
  ck_assert(secret_create(path, (gid_t)-1, &created, err, sizeof err));
  ck_assert(!created);
  ck_assert(secret_load(path, &k2, err, sizeof err));
  ck_assert_mem_eq(k1.keys[0].bytes, k2.keys[0].bytes, SECRET_KEY_LEN);
  chmod(path, 0644);
  ck_assert(!secret_load(path, &k1, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "others"));
  chmod(path, 0640);
  ck_assert(secret_load(path, &k1, err, sizeof err));
  FILE *f = fopen(path, "w");
  fputs("short\n", f);
  fclose(f);
  ck_assert(!secret_load(path, &k1, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "too short"));
  th_cleanup();
}
END_TEST

/* Secrets with ids: a file without ids (as earlier versions made it) is
 * secret 1 with the same key; rotation adds the next id, keeps the older
 * ones, the file's mode, and the material of each. */
START_TEST(secret_rotation) {
  char *path = th_path("key");
  const char *legacy =
      "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  char *legacy_nl = xasprintf("%s\n", legacy);
  struct secret_keys old, with_id, rotated;
  int64_t id;
  free(th_write_file("key", legacy_nl, 0640));
  ck_assert_msg(secret_load(path, &old, err, sizeof err), "%s", err);
  ck_assert_int_eq(old.n, 1);
  ck_assert_int_eq(old.keys[0].id, 1);
  free(th_write_file("key", "# a comment\n\n1:" "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 0600));
  ck_assert_msg(secret_load(path, &with_id, err, sizeof err), "%s", err);
  ck_assert_mem_eq(old.keys[0].bytes, with_id.keys[0].bytes, SECRET_KEY_LEN);
  ck_assert_mem_eq(old.keys[0].seal, with_id.keys[0].seal, SECRET_KEY_LEN);

  free(th_write_file("key", legacy_nl, 0640));
  ck_assert_msg(secret_rotate(path, &id, err, sizeof err), "%s", err);
  ck_assert_int_eq(id, 2);
  ck_assert_msg(secret_rotate(path, &id, err, sizeof err), "%s", err);
  ck_assert_int_eq(id, 3);
  struct stat sb;
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_int_eq(sb.st_mode & 0777, 0640);
  ck_assert_msg(secret_load(path, &rotated, err, sizeof err), "%s", err);
  ck_assert_int_eq(rotated.n, 3);
  ck_assert_int_eq(secret_newest(&rotated)->id, 3);
  ck_assert_mem_eq(secret_find(&rotated, 1)->bytes, old.keys[0].bytes,
                   SECRET_KEY_LEN);
  ck_assert(memcmp(secret_find(&rotated, 2)->bytes, old.keys[0].bytes,
                   SECRET_KEY_LEN) != 0);
  ck_assert_ptr_null(secret_find(&rotated, 4));
  char *text = th_read_file(path);
  ck_assert_int_eq(strncmp(text, "1:", 2), 0);
  ck_assert_ptr_nonnull(strstr(text, legacy));
  free(text);

  /* Bad files, each named in the message. */
  static const char *const bad_files[][2] = {
      {"1:0123456789abcdef0123456789abcdef\nx:0123456789abcdef0123456789abcdef\n", "line 2"},
      {"2:0123456789abcdef0123456789abcdef\n1:0123456789abcdef0123456789abcdef\n", "ids must grow"},
      {"1:short\n", "too short"},
      {"# only a comment\n1:\n", "too short"},
  };
  for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
    free(th_write_file("key", bad_files[i][0], 0600));
    ck_assert(!secret_load(path, &rotated, err, sizeof err));
    ck_assert_msg(strstr(err, bad_files[i][1]) && strstr(err, path), "%zu: %s",
                  i, err);
  }
  free(legacy_nl);
  free(path);
  th_cleanup();
}
END_TEST

int main(void) {
  Suite *s = suite_create("conf");
  TCase *tc = tcase_create("conf");
  tcase_add_test(tc, defaults);
  tcase_add_test(tc, values_are_read);
  tcase_add_loop_test(tc, bad_values, 0, sizeof bad / sizeof bad[0]);
  tcase_add_test(tc, status_lists);
  tcase_add_test(tc, file_and_path_resolution);
  tcase_add_test(tc, secret_rotation);
  tcase_add_test(tc, the_shipped_file_is_valid_and_all_defaults);
  tcase_add_test(tc, secret_file_rules);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
