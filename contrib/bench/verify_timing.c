/* verify-timing: does a verification of an unknown sendOtpRequestId take
 * measurably different time from a wrong code for a known one? Runs the
 * shared check (service_verify_code) many times for each, interleaved, each
 * inside a write transaction that is rolled back so that both cases do the
 * same store work, and prints the medians and their ratio.
 *
 * usage: verify-timing [TRIES]   (default 20000)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "api.h"
#include "conf.h"
#include "store.h"
#include "util.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

static double time_one(struct api *api, const char *rid, const char *code) {
  enum verify_otp_result result;
  char why[128];
  store_begin_write(api->svc.store);
  double t0 = monotonic_seconds();
  service_verify_code(&api->svc, rid, code, &result, why, sizeof why);
  double t = monotonic_seconds() - t0;
  store_rollback(api->svc.store);
  return t * 1e6;
}

int main(int argc, char **argv) {
  int tries = argc > 1 ? atoi(argv[1]) : 20000;
  char dir[] = "/tmp/otpgate-bench-XXXXXX", err[512];
  if (sodium_init() < 0 || mkdtemp(dir) == NULL || tries < 100)
    return 1;
  char *conf_path = xasprintf("%s/otpgate.conf", dir);
  FILE *f = fopen(conf_path, "w");
  fprintf(f, "[database]\npath = %s/db\n[otp]\nsecret_file = %s/key\n"
             "max_verify_attempts = 100\nmax_account_failures = 1000\n"
             "[sender]\nheartbeat_max_age_seconds = 0\n[log]\nsyslog = no\n",
          dir, dir);
  fclose(f);
  FILE *devnull = fopen("/dev/null", "w");
  char *init[] = {"otpgate-admin", "-c", conf_path, "init", NULL};
  char *add[] = {"otpgate-admin", "-c", conf_path, "account", "add", "a1",
                 "--phone", "+14035551111", NULL};
  if (admin_main(4, init, devnull, stderr) || admin_main(8, add, devnull, stderr))
    return 1;
  struct conf *conf = conf_load(conf_path, err, sizeof err);
  struct api api;
  if (conf == NULL || !api_init(&api, conf, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  /* One real code to guess at. */
  struct send_otp_request req = {"known-1", "+14035551111", NULL, "AB12345678C",
                                 OTP_CONTEXT_ASSOCIATION};
  struct send_otp_outcome out;
  store_begin_write(api.svc.store);
  service_send_otp(&api.svc, &req, &out);
  store_commit(api.svc.store);

  double *known = xcalloc((size_t)tries, sizeof *known);
  double *unknown = xcalloc((size_t)tries, sizeof *unknown);
  for (int i = 0; i < 1000; i++) /* warm up */
    time_one(&api, i % 2 ? "known-1" : "unknown-1", "000000");
  for (int i = 0; i < tries; i++) {
    known[i] = time_one(&api, "known-1", "000000");
    unknown[i] = time_one(&api, "unknown-1", "000000");
  }
  double mk = median(known, tries), mu = median(unknown, tries);
  printf("verify-timing: %d tries each\n", tries);
  printf("  known id, wrong code : median %.2f us\n", mk);
  printf("  unknown id           : median %.2f us\n", mu);
  printf("  ratio known/unknown  : %.3f\n", mk / mu);
  api_close(&api);
  conf_free(conf);
  char *rm = xasprintf("rm -rf %s", dir);
  if (system(rm) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return 0;
}
