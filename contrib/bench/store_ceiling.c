/* store-ceiling: the storage ceiling for sendOtp. Runs the write
 * transaction a successful sendOtp commits (idempotency lookup, account
 * lookup, send-limit count, sender heartbeat check, OTP insert with
 * supersession, outbox insert, idempotency insert) through the store
 * functions, in a tight loop, and prints transactions per second and the
 * latency of each (lock wait included).
 *
 * usage: store-ceiling [-c CONF] [-d DIR] [-s SECONDS] [-p PROCS] [-a N]
 *
 *   -c CONF   use this configuration (its [database] path, synchronous,
 *             busy_timeout_ms); the database must exist (the accounts
 *             "ceiling-I", phone +1 404 I, are added if absent)
 *   -d DIR    else make a throw-away configuration and database in DIR
 *             (default /tmp), synchronous=full
 *   -s N      run for N seconds (default 5)
 *   -p N      N processes at once (default 1: the ceiling; more shows how
 *             writers queue for the lock)
 *   -a N      spread the codes over N accounts in turn (default 1000), as
 *             the benchmark's load does: one account taking every code
 *             would measure its growing history, not the storage
 *
 * Prints one line: "store-ceiling procs=N tx=N seconds=S tx_per_s=R
 * p50_ms=A p99_ms=B max_ms=C errors=E".
 *
 * store-ceiling -c CONF -S CODE prints CODE sealed as a worker seals it for
 * the outbox (otp_seal_code() with the newest secret of CONF), one line
 * "key_id=N sealed=HEX", and exits: sender-latency queues rows with it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "conf.h"
#include "otp.h"
#include "secret.h"
#include "store.h"
#include "util.h"

#define FIRST_PHONE 14040000000LL /* accounts' numbers: +1 404 xxx xxxx */
#define MAX_SAMPLES (1 << 20)

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The statements of one successful sendOtp, in its order. */
static enum store_rc one_send_otp(struct store *s, const char *rid,
                                  const char *phone, const char *text) {
  struct store_request prev = {0};
  struct store_request rec = {
      .key_id = 1,
      .http_status = 200,
      .answer = "{\"sendOtpResultCode\":{\"success\":{}}}",
  };
  struct store_account acc;
  struct store_otp otp;
  unsigned char sealed[40];
  int64_t now = now_ms(), sent, seen;
  enum store_rc rc;

  randombytes_buf(rec.fingerprint, sizeof rec.fingerprint);
  randombytes_buf(sealed, sizeof sealed);
  if ((rc = store_begin_write(s)) != STORE_OK)
    return rc;
  rc = store_request_get(s, "sendOtp", rid, &prev);
  if (rc != STORE_NOT_FOUND) {
    store_request_free(&prev);
    goto fail;
  }
  if ((rc = store_account_by_phone(s, phone, &acc)) != STORE_OK ||
      (rc = store_otp_count_since(s, acc.id, now - 900000, &sent)) !=
          STORE_OK ||
      (rc = store_sender_last_seen(s, &seen)) != STORE_OK)
    goto fail;
  memset(&otp, 0, sizeof otp);
  snprintf(otp.request_id, sizeof otp.request_id, "%s", rid);
  snprintf(otp.account_id, sizeof otp.account_id, "%s", acc.id);
  otp.context = OTP_CONTEXT_ASSOCIATION;
  otp.key_id = 1;
  randombytes_buf(otp.code_hash, sizeof otp.code_hash);
  sodium_bin2hex(otp.send_otp_id, sizeof otp.send_otp_id, sealed, 16);
  otp.created_at = now;
  otp.expires_at = now + 300000;
  if ((rc = store_otp_insert(s, &otp)) != STORE_OK)
    goto fail;
  struct store_outbox_new row = {
      .otp_id = otp.id,
      .account_id = acc.id,
      .destination = acc.phone,
      .text = text,
      .code_offset = 26,
      .code_length = 6,
      .sealed = sealed,
      .sealed_len = sizeof sealed,
      .key_id = 1,
      .created_at = now,
      .expires_at = otp.expires_at,
  };
  if ((rc = store_outbox_insert(s, &row, NULL)) != STORE_OK)
    goto fail;
  rc = store_request_put(s, "sendOtp", rid, &rec, now);
  if (rc == STORE_OK)
    rc = store_commit(s);
  if (rc == STORE_OK)
    return STORE_OK;
fail:
  store_rollback(s);
  return rc == STORE_OK ? STORE_ERROR : rc;
}

/* One process's loop; writes "tx errors" and its latencies (ms, doubles)
 * to fd. */
static int run_loop(const struct conf *conf, double seconds, int who,
                    long accounts, int fd) {
  char err[512], rid[64], phone[24];
  const char *text = "Your verification code is ******. It expires in 5 "
                     "minutes. Do not share it with anyone.\nAB12345678C";
  struct store *s = store_open(conf, false, err, sizeof err);
  if (s == NULL) {
    fprintf(stderr, "store-ceiling: %s\n", err);
    return 1;
  }
  double *lat = xcalloc(MAX_SAMPLES, sizeof *lat);
  long n = 0, errors = 0;
  char tag[9];
  random_hex_id(tag, 4);
  double start = monotonic_seconds(), end = start + seconds;
  for (long i = 0;; i++) {
    double t0 = monotonic_seconds();
    if (t0 >= end)
      break;
    snprintf(rid, sizeof rid, "ceiling-%s-%d-%ld", tag, who, i);
    snprintf(phone, sizeof phone, "+%lld", FIRST_PHONE + (i + who) % accounts);
    enum store_rc rc = one_send_otp(s, rid, phone, text);
    double t1 = monotonic_seconds();
    if (rc != STORE_OK)
      errors++;
    else if (n < MAX_SAMPLES)
      lat[n++] = (t1 - t0) * 1000.0;
  }
  long hdr[2] = {n, errors};
  if (write(fd, hdr, sizeof hdr) != (ssize_t)sizeof hdr ||
      write(fd, lat, (size_t)n * sizeof *lat) != (ssize_t)((size_t)n * sizeof *lat))
    return 1;
  free(lat);
  store_close(s);
  return 0;
}

/* The accounts ceiling-0 .. ceiling-(n-1), in one transaction; those
 * there already (a second run on one database) are kept. */
static bool add_accounts(const struct conf *conf, long n) {
  char err[512], id[32], phone[24];
  struct store *s = store_open(conf, false, err, sizeof err);
  if (s == NULL) {
    fprintf(stderr, "store-ceiling: %s\n", err);
    return false;
  }
  enum store_rc rc = store_begin_write(s);
  for (long i = 0; i < n && rc == STORE_OK; i++) {
    snprintf(id, sizeof id, "ceiling-%ld", i);
    snprintf(phone, sizeof phone, "+%lld", FIRST_PHONE + i);
    rc = store_account_add(s, id, phone, ACCOUNT_ACTIVE, now_ms());
    if (rc == STORE_EXISTS)
      rc = STORE_OK;
  }
  if (rc == STORE_OK)
    rc = store_commit(s);
  else
    store_rollback(s);
  if (rc != STORE_OK)
    fprintf(stderr, "store-ceiling: adding accounts: %s\n", store_errmsg(s));
  store_close(s);
  return rc == STORE_OK;
}

static bool read_all(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t r = read(fd, p, len);
    if (r <= 0)
      return false;
    p += r;
    len -= (size_t)r;
  }
  return true;
}

static int print_sealed_code(const struct conf *conf, const char *code) {
  struct secret_keys keys;
  unsigned char sealed[OTP_SEALED_MAX];
  char err[512], hex[2 * OTP_SEALED_MAX + 1];
  if (!secret_load(conf->otp.secret_file, &keys, err, sizeof err)) {
    fprintf(stderr, "store-ceiling: %s\n", err);
    return 1;
  }
  const struct secret_key *key = secret_newest(&keys);
  size_t n = otp_seal_code(key, code, sealed);
  sodium_bin2hex(hex, sizeof hex, sealed, n);
  printf("key_id=%lld sealed=%s\n", (long long)key->id, hex);
  secret_free(&keys);
  return 0;
}

int main(int argc, char **argv) {
  const char *conf_path = NULL, *dir = "/tmp";
  double seconds = 5;
  int procs = 1, opt;
  long accounts = 1000;
  char err[512];
  const char *seal_code = NULL;
  while ((opt = getopt(argc, argv, "c:d:s:p:a:S:")) != -1) {
    switch (opt) {
    case 'S': seal_code = optarg; break;
    case 'c': conf_path = optarg; break;
    case 'd': dir = optarg; break;
    case 's': seconds = atof(optarg); break;
    case 'p': procs = atoi(optarg); break;
    case 'a': accounts = atol(optarg); break;
    default:
      fprintf(stderr, "usage: store-ceiling [-c CONF] [-d DIR] [-s SECONDS] "
                      "[-p PROCS] [-a ACCOUNTS]\n");
      return 2;
    }
  }
  if (sodium_init() < 0 || procs < 1 || procs > 64 || seconds <= 0 ||
      accounts < 1 || accounts > 10000000)
    return 2;
  char *tmp = NULL;
  FILE *devnull = fopen("/dev/null", "w");
  if (conf_path == NULL) {
    tmp = xasprintf("%s/otpgate-ceiling-XXXXXX", dir);
    if (mkdtemp(tmp) == NULL) {
      perror(tmp);
      return 1;
    }
    conf_path = xasprintf("%s/otpgate.conf", tmp);
    FILE *f = fopen(conf_path, "w");
    fprintf(f, "[database]\npath = %s/db\n[otp]\nsecret_file = %s/key\n"
               "[log]\nsyslog = no\n", tmp, tmp);
    fclose(f);
    char *init[] = {"otpgate-admin", "-c", (char *)conf_path, "init", NULL};
    if (admin_main(4, init, devnull, stderr))
      return 1;
  }
  struct conf *conf = conf_load(conf_path, err, sizeof err);
  if (conf == NULL) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  if (seal_code)
    return print_sealed_code(conf, seal_code);
  if (!add_accounts(conf, accounts))
    return 1;

  int pfd[64][2];
  pid_t pids[64];
  for (int i = 0; i < procs; i++) {
    if (pipe(pfd[i]) != 0 || (pids[i] = fork()) < 0)
      return 1;
    if (pids[i] == 0) {
      close(pfd[i][0]);
      _exit(run_loop(conf, seconds, i, accounts, pfd[i][1]));
    }
    close(pfd[i][1]);
  }
  double *all = NULL;
  long total = 0, errors = 0;
  for (int i = 0; i < procs; i++) {
    long hdr[2];
    if (!read_all(pfd[i][0], hdr, sizeof hdr)) {
      fprintf(stderr, "store-ceiling: process %d failed\n", i);
      return 1;
    }
    all = realloc(all, (size_t)(total + hdr[0] + 1) * sizeof *all);
    if (all == NULL || !read_all(pfd[i][0], all + total,
                                 (size_t)hdr[0] * sizeof *all))
      return 1;
    total += hdr[0];
    errors += hdr[1];
    close(pfd[i][0]);
  }
  int failed = 0;
  for (int i = 0; i < procs; i++) {
    int st;
    if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
      failed++;
  }
  /* Each process ran for exactly that long. */
  double took = seconds;
  if (total == 0 || failed) {
    fprintf(stderr, "store-ceiling: no transaction committed\n");
    return 1;
  }
  qsort(all, (size_t)total, sizeof *all, cmp_double);
  printf("store-ceiling procs=%d tx=%ld seconds=%.2f tx_per_s=%.0f "
         "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%ld\n",
         procs, total, took, total / took, all[total / 2],
         all[(long)(total * 0.99)], all[total - 1], errors);
  free(all);
  conf_free(conf);
  if (tmp) {
    char *rm = xasprintf("rm -rf '%s'", tmp);
    if (system(rm) != 0)
      fprintf(stderr, "could not remove %s\n", tmp);
    free(rm);
  }
  return 0;
}
