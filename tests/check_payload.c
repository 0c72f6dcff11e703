/* The payload layer in-process and through otpgate-fcgi: base64url, key
 * loading and its refusals (each naming the key or the file), the
 * self-test that keeps a worker with unusable keys from starting, a sealed
 * round trip through api_handle(), and 500 when no Google key is left to
 * seal to. gpg makes the keys otpgate must refuse. tests/deploy/pgp.sh
 * covers every decision on real sealed bodies through a web server. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api.h"
#include "conf.h"
#include "payload.h"
#include "payload_pgp.h"
#include "testhelp.h"
#include "util.h"

static char err[1024];

/* DIR/ours and DIR/google: two key pairs made by otpgate-admin. */
static void make_key_pairs(void) {
  for (int i = 0; i < 2; i++) {
    const char *who = i ? "google" : "ours";
    char *dir = th_path(who);
    mkdir(dir, 0700);
    ck_assert_msg(th_admin("pgp", "generate", "--out", dir, "--bits", "2048",
                           "--expires", "30d", NULL) == 0,
                  "%s", th_admin_err());
    free(dir);
  }
}

static const char *pgp_config(const char *google_keys) {
  char *extra = xasprintf("[payload]\nformat = pgp\n[pgp]\n"
                          "secret_keys = %s/ours/integrator.sec\n"
                          "google_keys = %s\n",
                          th_tmpdir(), google_keys);
  const char *path = th_config(extra);
  free(extra);
  return path;
}

START_TEST(base64url) {
  struct buf b = {0};
  static const struct {
    const char *in;
    const char *out; /* NULL: refused */
  } cases[] = {
      {"aGk", "hi"},   {"aGk=", "hi"},  {"_-8", "\xff\xef"}, {"_-8=", "\xff\xef"},
      {"aGk==", NULL}, {"aG=k", NULL},  {"aGk+", NULL},      {"aGk/", NULL},
      {"aGk\n", NULL}, {"a Gk", NULL},  {"aGk%", NULL},      {"a", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    b.len = 0;
    bool ok = payload_base64url_decode(cases[i].in, strlen(cases[i].in), &b);
    ck_assert_msg(ok == (cases[i].out != NULL), "%s: %d", cases[i].in, ok);
    if (ok)
      ck_assert_msg(b.len == strlen(cases[i].out) &&
                        memcmp(b.data, cases[i].out, b.len) == 0,
                    "%s", cases[i].in);
  }
  b.len = 0;
  payload_base64url_encode((const unsigned char *)"hi", 2, &b);
  ck_assert_str_eq(b.data, "aGk=");
  buf_free(&b);
}
END_TEST

START_TEST(config_names_the_missing_keys) {
  static const char *const bad[][2] = {
      {"[payload]\nformat = pgp\n", "[pgp] secret_keys"},
      {"[payload]\nformat = pgp\n[pgp]\nsecret_keys = /x\n", "[pgp] google_keys"},
      {"[payload]\nformat = jwe\n", "[payload] format"},
      {"[pgp]\nmax_plaintext_bytes = 10\n", "[pgp] max_plaintext_bytes"},
      {"[sms]\ncountries = 91,,44\n", "[sms] countries"},
      {"[sms]\ncountries = 0044\n", "[sms] countries"},
      {"[sms]\ncountries = +91\n", "[sms] countries"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct conf *c = conf_load_string(bad[i][0], "t.conf", err, sizeof err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err, bad[i][1]) != NULL, "%s", err);
  }
}
END_TEST

/* Our key's trouble stops the start: each reason names what is wrong. */
START_TEST(unusable_keys_stop_the_start) {
  th_config(NULL);
  make_key_pairs();
  char *ours = th_path("ours/integrator.sec");
  char *google = th_path("google/integrator.pub.asc");
  struct pgp_ring *r = pgp_ring_load(ours, google, "", err, sizeof err);
  ck_assert_msg(r != NULL, "%s", err);
  pgp_ring_free(r);
  ck_assert(pgp_self_test(ours, "", err, sizeof err));

  chmod(ours, 0644);
  ck_assert_ptr_null(pgp_ring_load(ours, google, "", err, sizeof err));
  ck_assert_msg(strstr(err, ours) && strstr(err, "others"), "%s", err);
  chmod(ours, 0600);
  ck_assert_ptr_null(pgp_ring_load("/nonexistent.sec", google, "", err, sizeof err));
  ck_assert_msg(strstr(err, "/nonexistent.sec"), "%s", err);
  char *pub_text = th_read_file(google);
  char *pub_only = th_write_file("pub-only.asc", pub_text, 0600);
  ck_assert_ptr_null(pgp_ring_load(pub_only, google, "", err, sizeof err));
  ck_assert_msg(strstr(err, "no secret key"), "%s", err);
  free(pub_text);
  free(pub_only);
  ck_assert_ptr_null(pgp_ring_load(ours, google, "0123456789ABCDEF0123456789ABCDEF01234567",
                                   err, sizeof err));
  ck_assert_msg(strstr(err, "[pgp] signing_keys"), "%s", err);

  /* A key locked by a passphrase (gpg made it): nothing could type it in. */
  char *home = th_path("gnupg");
  char *cmd = xasprintf(
      "mkdir -m 700 %s && GNUPGHOME=%s gpg --batch --quiet --pinentry-mode loopback "
      "--passphrase secret --quick-gen-key 'locked <l@test>' rsa2048 default 1y "
      "2>/dev/null && GNUPGHOME=%s gpg --batch --quiet --pinentry-mode loopback "
      "--passphrase secret --export-secret-keys l@test > %s/locked.sec && chmod 600 %s/locked.sec",
      home, home, home, th_tmpdir(), th_tmpdir());
  ck_assert_int_eq(system(cmd), 0);
  char *locked = th_path("locked.sec");
  ck_assert_ptr_null(pgp_ring_load(locked, google, "", err, sizeof err));
  ck_assert_msg(strstr(err, "passphrase"), "%s", err);
  ck_assert(!pgp_self_test(locked, "", err, sizeof err));

  /* The worker refuses to start, saying why; otpgate-admin pgp check too. */
  char *extra = xasprintf("[payload]\nformat = pgp\n[pgp]\nsecret_keys = %s\n"
                          "google_keys = %s\n", locked, google);
  const char *conf = th_config(extra);
  ck_assert_int_eq(th_admin("pgp", "check", NULL), 1);
  ck_assert_msg(strstr(th_admin_err(), "passphrase"), "%s", th_admin_err());
  char *sock = th_path("w.sock");
  char *prog = xasprintf("%s/src/otpgate-fcgi", th_builddir());
  char *runnable = th_runnable(prog);
  int pid = th_spawn("worker.log", runnable, "-c", conf, "--socket", sock, NULL);
  int status = th_wait_pid(pid, 30000);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "worker status %d", status);
  char *log_path = th_path("worker.log");
  char *log = th_read_file(log_path);
  free(log_path);
  ck_assert_msg(log && strstr(log, "passphrase") && strstr(log, "[pgp]"), "%s", log);
  ck_assert_int_ne(access(sock, F_OK), 0); /* it never listened */
  free(log);
  free(runnable);
  free(prog);
  free(sock);
  free(extra);
  free(cmd);
  free(home);
  free(locked);
  free(ours);
  free(google);
  th_cleanup();
}
END_TEST

/* Google's side of a sealed exchange, in-process: the mirror ring. */
static struct pgp_ring *google_ring(void) {
  char *own = th_path("google/integrator.sec");
  char *peer = th_path("ours/integrator.pub.asc");
  struct pgp_ring *r = pgp_ring_load(own, peer, "", err, sizeof err);
  ck_assert_msg(r != NULL, "%s", err);
  free(own);
  free(peer);
  return r;
}

static char *sealed_echo(struct pgp_ring *google, const char *rid) {
  struct buf bin = {0}, text = {0};
  char *json = xasprintf("{\"requestHeader\":{\"protocolVersion\":{\"major\":1},"
                         "\"requestId\":\"%s\",\"requestTimestamp\":\"%lld\"},"
                         "\"clientMessage\":\"sealed hello\"}",
                         rid, (long long)now_ms());
  ck_assert_msg(pgp_seal(google, json, strlen(json), &bin, err, sizeof err), "%s", err);
  payload_base64url_encode((const unsigned char *)bin.data, bin.len, &text);
  buf_free(&bin);
  free(json);
  return text.data;
}

START_TEST(sealed_round_trip_in_process) {
  th_config(NULL);
  make_key_pairs();
  char *google_pub = th_path("google/integrator.pub.asc");
  const char *path = pgp_config(google_pub);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  ck_assert_int_eq(th_admin("pgp", "check", NULL), 0);
  struct conf *c = conf_load(path, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  struct api api;
  ck_assert_msg(api_init(&api, c, err, sizeof err), "%s", err);
  struct pgp_ring *google = google_ring();
  char *body = sealed_echo(google, "e1");
  struct api_response resp;
  /* Any Content-Type: a sealed body is judged by what it holds. */
  api_handle_buffer(&api, "POST", "/v1/echo", "text/plain", body, strlen(body),
                    &resp);
  ck_assert_int_eq(resp.status, 200);
  ck_assert_str_eq(resp.content_type, "application/octet-stream; charset=utf-8");
  struct buf bin = {0}, plain = {0};
  struct payload_opened o;
  ck_assert(payload_base64url_decode(resp.body.data, resp.body.len, &bin));
  pgp_open(google, (const unsigned char *)bin.data, bin.len, 65536, &plain, &o);
  ck_assert_msg(o.verdict == PAYLOAD_OPENED, "%s", o.why);
  ck_assert_ptr_nonnull(strstr(plain.data, "\"clientMessage\":\"sealed hello\""));
  api_response_free(&resp);
  buf_free(&bin);
  buf_free(&plain);
  free(body);
  pgp_ring_free(google);
  api_close(&api);
  conf_free(c);
  free(google_pub);
  th_cleanup();
}
END_TEST

/* Two key pairs of ours at once (rotation): either decrypts; answers are
 * signed by both unless [pgp] signing_keys narrows it to one. */
START_TEST(two_keys_of_ours) {
  th_config(NULL);
  make_key_pairs();
  char *dir2 = th_path("ours2");
  mkdir(dir2, 0700);
  ck_assert_int_eq(th_admin("pgp", "generate", "--out", dir2, "--bits", "2048",
                            "--expires", "30d", NULL), 0);
  char fpr2[48];
  sscanf(th_admin_out(), "key %40s", fpr2);
  char *own = xasprintf("%s/ours/integrator.sec,%s/integrator.sec", th_tmpdir(), dir2);
  char *google_own = th_path("google/integrator.sec");
  char *google_pub = th_path("google/integrator.pub.asc");
  char *ours1_pub = th_path("ours/integrator.pub.asc");
  char *ours2_pub = xasprintf("%s/integrator.pub.asc", dir2);
  for (int narrow = 0; narrow < 2; narrow++) {
    char *extra = xasprintf("[payload]\nformat = pgp\n[pgp]\nsecret_keys = %s\n"
                            "google_keys = %s\nsigning_keys = %s\n",
                            own, google_pub, narrow ? fpr2 : "");
    const char *path = th_config(extra);
    if (narrow == 0)
      ck_assert_int_eq(th_admin("init", NULL), 0);
    struct conf *c = conf_load(path, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    struct api api;
    ck_assert_msg(api_init(&api, c, err, sizeof err), "%s", err);
    /* Google encrypts to our second key only: it opens. */
    struct pgp_ring *to2 = pgp_ring_load(google_own, ours2_pub, "", err, sizeof err);
    ck_assert_msg(to2 != NULL, "%s", err);
    char rid[16];
    snprintf(rid, sizeof rid, "two-%d", narrow);
    char *body = sealed_echo(to2, rid);
    struct api_response resp;
    api_handle_buffer(&api, "POST", "/v1/echo", NULL, body, strlen(body), &resp);
    ck_assert_int_eq(resp.status, 200);
    /* Google knowing only our first key: the answer's signature by it is
     * there unless signing_keys narrowed the signers to the second. */
    struct pgp_ring *knows1 = pgp_ring_load(google_own, ours1_pub, "", err, sizeof err);
    struct buf bin = {0}, plain = {0};
    struct payload_opened o;
    ck_assert(payload_base64url_decode(resp.body.data, resp.body.len, &bin));
    pgp_open(knows1, (const unsigned char *)bin.data, bin.len, 65536, &plain, &o);
    ck_assert_msg(o.verdict == (narrow ? PAYLOAD_BAD_SIGNATURE : PAYLOAD_OPENED),
                  "narrow %d: %s", narrow, o.why);
    buf_free(&bin);
    buf_free(&plain);
    api_response_free(&resp);
    pgp_ring_free(knows1);
    pgp_ring_free(to2);
    free(body);
    api_close(&api);
    conf_free(c);
    free(extra);
  }
  free(own);
  free(google_own);
  free(google_pub);
  free(ours1_pub);
  free(ours2_pub);
  free(dir2);
  th_cleanup();
}
END_TEST

/* When no Google key is left to seal to, the answer is ours to fail: 500
 * without a body (nothing goes out unsealed). */
START_TEST(no_live_google_key_is_500) {
  th_config(NULL);
  make_key_pairs();
  /* A Google key that expires in a second. */
  char *home = th_path("gnupg");
  char *cmd = xasprintf(
      "mkdir -m 700 %s && export GNUPGHOME=%s && gpg --batch --quiet --pinentry-mode loopback "
      "--passphrase '' --quick-gen-key 'g <g@test>' rsa2048 default seconds=1 2>/dev/null && "
      "gpg --batch --export g@test > %s/short.pub",
      home, home, th_tmpdir());
  ck_assert_int_eq(system(cmd), 0);
  sleep(2);
  char *short_pub = th_path("short.pub");
  const char *path = pgp_config(short_pub);
  ck_assert_int_eq(th_admin("init", NULL), 0);
  struct conf *c = conf_load(path, err, sizeof err);
  struct api api;
  ck_assert_msg(api_init(&api, c, err, sizeof err), "%s", err);
  struct api_response resp;
  api_handle_buffer(&api, "POST", "/v1/echo", NULL, "AAAA", 4, &resp);
  ck_assert_int_eq(resp.status, 500);
  ck_assert_int_eq((int)resp.body.len, 0);
  ck_assert_ptr_nonnull(strstr(resp.detail, "no key to encrypt to"));
  api_response_free(&resp);
  api_close(&api);
  conf_free(c);
  free(short_pub);
  free(cmd);
  free(home);
  th_cleanup();
}
END_TEST

int main(void) {
  Suite *s = suite_create("payload");
  TCase *tc = tcase_create("payload");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, base64url);
  tcase_add_test(tc, config_names_the_missing_keys);
  tcase_add_test(tc, unusable_keys_stop_the_start);
  tcase_add_test(tc, sealed_round_trip_in_process);
  tcase_add_test(tc, two_keys_of_ours);
  tcase_add_test(tc, no_live_google_key_is_500);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
