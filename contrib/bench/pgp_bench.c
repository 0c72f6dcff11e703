/* pgp-bench: the OpenPGP side of the benchmark (contrib/bench/run), on the
 * library's own PGP layer (payload_pgp.h) and librnp.
 *
 *   pgp-bench keys -o DIR [-b BITS]
 *       Our key pair and one standing in for Google's, both made by
 *       pgp_generate (RSA BITS, default 3072: GSP's recommended size):
 *       DIR/ours/integrator.{sec,pub.asc}, DIR/google/integrator.{sec,pub.asc}.
 *
 *   pgp-bench seal -k DIR -n N -t TAG [-a ACCOUNTS] [-f FIRST] [-s START]
 *                  -o FILE
 *       N sendOtp requests sealed as Google seals them (signed by Google's
 *       key, SHA-384; encrypted to ours), one base64url body a line. Each
 *       has its own requestId (TAG-i) and takes the accounts in turn from
 *       START (phone +FIRST+k, k < ACCOUNTS). requestTimestamp is the time
 *       of sealing: the benchmark turns [api] timestamp_skew_ms off.
 *
 *   pgp-bench open -k DIR [-m MAX] FILE...
 *       Opens answers (one base64url body a line) as Google would, with
 *       Google's key pair and our public key (pgp_open on the mirror ring:
 *       decrypted, integrity-protected, signed by our key with SHA-256+),
 *       at most MAX of them (default 300) spread evenly over all lines, and
 *       counts those whose JSON says "result":"SUCCESS".
 *       Prints "pgp-bench open answers=N opened=K success=S refused=R".
 *
 *   pgp-bench rsa -k DIR [-n N] [-R]
 *       Times, one at a time in this process, N times each (default 200),
 *       the two RSA private-key operations of a sealed round trip with our
 *       key, straight on librnp: decrypt-only (a small message encrypted
 *       to our key, unsigned: the session key's RSA decryption and
 *       nothing else of note) and sign-only (a small text, SHA-384). Then
 *       (unless -R) what a worker does per request, on the library:
 *       pgp_open of a sealed sendOtp and pgp_seal of an answer (0 with
 *       -R). The four run in turn, round after round. Prints medians in
 *       ms, wall time and the process's CPU time (which other work on the
 *       machine does not inflate): "pgp-bench rsa bits=B n=N decrypt_ms=…
 *       decrypt_cpu_ms=… sign_ms=… sign_cpu_ms=… open_ms=… open_cpu_ms=…
 *       seal_ms=… seal_cpu_ms=…".
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rnp/rnp.h>
#include <rnp/rnp_err.h>
#include <sodium.h>

#include "payload.h"
#include "payload_pgp.h"
#include "util.h"

#define ANSWER_CAP (1u << 20)

static const char usage[] =
    "usage: pgp-bench keys -o DIR [-b BITS]\n"
    "       pgp-bench seal -k DIR -n N -t TAG [-a ACCOUNTS] [-f FIRST] "
    "[-s START] -o FILE\n"
    "       pgp-bench open -k DIR [-m MAX] FILE...\n"
    "       pgp-bench rsa -k DIR [-n N] [-R]\n";

struct opts {
  const char *dir, *keys, *tag, *out;
  long bits, n, accounts, start, max;
  long long first;
  bool only_rsa; /* rsa -R: the two operations only */
};

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...) {
  va_list ap;
  fputs("pgp-bench: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 1;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median_ms(double *v, long n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2] * 1e3;
}

/* Google's side: Google's key pair, our public key. */
static struct pgp_ring *mirror_ring(const char *dir) {
  char err[512];
  char *own = xasprintf("%s/google/integrator.sec", dir);
  char *peer = xasprintf("%s/ours/integrator.pub.asc", dir);
  struct pgp_ring *r = pgp_ring_load(own, peer, "", err, sizeof err);
  if (r == NULL)
    die("mirror ring: %s", err);
  free(own);
  free(peer);
  return r;
}

/* A worker's side: our key pair, Google's public key. */
static struct pgp_ring *server_ring(const char *dir) {
  char err[512];
  char *own = xasprintf("%s/ours/integrator.sec", dir);
  char *peer = xasprintf("%s/google/integrator.pub.asc", dir);
  struct pgp_ring *r = pgp_ring_load(own, peer, "", err, sizeof err);
  if (r == NULL)
    die("server ring: %s", err);
  free(own);
  free(peer);
  return r;
}

static int cmd_keys(const struct opts *o) {
  static const char *const who[] = {"ours", "google"};
  char err[512], fpr[48];
  if (o->dir == NULL)
    return die("%s", "keys needs -o DIR");
  if (mkdir(o->dir, 0700) != 0 && errno != EEXIST)
    return die("%s: cannot make it", o->dir);
  for (int i = 0; i < 2; i++) {
    char *d = xasprintf("%s/%s", o->dir, who[i]);
    char *uid = xasprintf("otpgate bench %s <%s@bench.test>", who[i], who[i]);
    if (mkdir(d, 0700) != 0 && errno != EEXIST)
      return die("%s: cannot make it", d);
    if (!pgp_generate(d, (unsigned)o->bits, 365, uid, fpr, err, sizeof err))
      return die("pgp_generate: %s", err);
    printf("%s %s RSA %ld\n", who[i], fpr, o->bits);
    free(d);
    free(uid);
  }
  return 0;
}

static void send_otp_json(struct buf *b, const char *tag, long i,
                          long long phone) {
  char text[512];
  snprintf(text, sizeof text,
           "{\"requestHeader\":{\"protocolVersion\":{\"major\":1,\"minor\":0,"
           "\"revision\":0},\"requestId\":\"%s-%ld\",\"requestTimestamp\":"
           "\"%lld\"},\"accountPhoneNumber\":\"+%lld\",\"smsMatchingToken\":"
           "\"AB12345678C\",\"otpContext\":{\"association\":{}}}",
           tag, i, (long long)now_ms(), phone);
  b->len = 0;
  buf_appends(b, text);
}

static int cmd_seal(const struct opts *o) {
  char err[512];
  if (o->keys == NULL || o->tag == NULL || o->out == NULL || o->n < 1)
    return die("%s", "seal needs -k DIR -n N -t TAG -o FILE");
  struct pgp_ring *r = mirror_ring(o->keys);
  if (r == NULL)
    return 1;
  FILE *f = fopen(o->out, "w");
  if (f == NULL)
    return die("%s: cannot write it", o->out);
  struct buf json = {0}, sealed = {0}, text = {0};
  int rc = 0;
  for (long i = 0; i < o->n && rc == 0; i++) {
    send_otp_json(&json, o->tag, i, o->first + (o->start + i) % o->accounts);
    sealed.len = text.len = 0;
    if (!pgp_seal(r, json.data, json.len, &sealed, err, sizeof err)) {
      rc = die("pgp_seal: %s", err);
      break;
    }
    payload_base64url_encode((const unsigned char *)sealed.data, sealed.len,
                             &text);
    fprintf(f, "%s\n", text.data);
  }
  if (fclose(f) != 0)
    rc = die("%s: cannot write it", o->out);
  buf_free(&json);
  buf_free(&sealed);
  buf_free(&text);
  pgp_ring_free(r);
  return rc;
}

/* Every line of the files, kept. */
struct lines {
  size_t n, cap;
  char **v;
};

static void read_lines(const char *path, struct lines *l) {
  FILE *f = fopen(path, "r");
  char *line = NULL;
  size_t sz = 0;
  ssize_t len;
  if (f == NULL) {
    die("%s: cannot read it", path);
    return;
  }
  while ((len = getline(&line, &sz, f)) > 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if (l->n == l->cap) {
      l->cap = l->cap ? 2 * l->cap : 1024;
      char **v = realloc(l->v, l->cap * sizeof *v);
      if (v == NULL)
        abort();
      l->v = v;
    }
    l->v[l->n++] = xstrdup(line);
  }
  free(line);
  fclose(f);
}

static int cmd_open(const struct opts *o, int nfiles, char **files) {
  if (o->keys == NULL)
    return die("%s", "open needs -k DIR");
  struct pgp_ring *r = mirror_ring(o->keys);
  if (r == NULL)
    return 1;
  struct lines l = {0};
  for (int i = 0; i < nfiles; i++)
    read_lines(files[i], &l);
  size_t take = l.n < (size_t)o->max ? l.n : (size_t)o->max;
  long opened = 0, success = 0, refused = 0;
  struct buf binary = {0}, plain = {0};
  for (size_t k = 0; k < take; k++) {
    const char *a = l.v[k * l.n / take];
    struct payload_opened res = {.verdict = PAYLOAD_BAD_ENCRYPTION};
    binary.len = plain.len = 0;
    if (payload_base64url_decode(a, strlen(a), &binary))
      pgp_open(r, (const unsigned char *)binary.data, binary.len, ANSWER_CAP,
               &plain, &res);
    if (res.verdict != PAYLOAD_OPENED) {
      if (refused++ < 3)
        fprintf(stderr, "pgp-bench open: answer %zu: %s\n", k * l.n / take,
                res.why[0] ? res.why : "not base64url");
      continue;
    }
    opened++;
    buf_append(&plain, "", 1);
    if (strstr(plain.data, "\"result\":\"SUCCESS\""))
      success++;
    else if (opened - success <= 3)
      fprintf(stderr, "pgp-bench open: not SUCCESS: %.300s\n", plain.data);
  }
  printf("pgp-bench open answers=%zu opened=%ld success=%ld refused=%ld\n", l.n,
         opened, success, refused);
  for (size_t i = 0; i < l.n; i++)
    free(l.v[i]);
  free(l.v);
  buf_free(&binary);
  buf_free(&plain);
  pgp_ring_free(r);
  return 0;
}

/* ---- the private-key operations, straight on librnp ---- */

static rnp_ffi_t ffi_with(const char *path, rnp_key_handle_t *primary) {
  rnp_ffi_t ffi = NULL;
  rnp_input_t in = NULL;
  char *results = NULL;
  if (rnp_ffi_create(&ffi, "GPG", "GPG") != RNP_SUCCESS)
    return NULL;
  rnp_ffi_set_log_fd(ffi, -1);
  bool ok = rnp_input_from_path(&in, path) == RNP_SUCCESS &&
            rnp_import_keys(
                ffi, in, RNP_LOAD_SAVE_PUBLIC_KEYS | RNP_LOAD_SAVE_SECRET_KEYS,
                &results) == RNP_SUCCESS;
  rnp_input_destroy(in);
  rnp_buffer_destroy(results);
  /* The primary key (sign) carries the encryption subkey. */
  rnp_identifier_iterator_t it = NULL;
  const char *id = NULL;
  *primary = NULL;
  if (ok &&
      rnp_identifier_iterator_create(ffi, &it, "fingerprint") == RNP_SUCCESS) {
    while (*primary == NULL &&
           rnp_identifier_iterator_next(it, &id) == RNP_SUCCESS && id) {
      rnp_key_handle_t k = NULL;
      bool is_primary = false;
      if (rnp_locate_key(ffi, "fingerprint", id, &k) == RNP_SUCCESS && k &&
          rnp_key_is_primary(k, &is_primary) == RNP_SUCCESS && is_primary)
        *primary = k;
      else
        rnp_key_handle_destroy(k);
    }
    rnp_identifier_iterator_destroy(it);
  }
  if (*primary == NULL) {
    rnp_ffi_destroy(ffi);
    return NULL;
  }
  return ffi;
}

static const char small_text[] =
    "{\"responseHeader\":{\"responseTimestamp\":\"1700000000000\"},"
    "\"paymentIntegratorSendOtpId\":\"0123456789abcdef0123456789abcdef\","
    "\"sendOtpResultCode\":{\"result\":\"SUCCESS\"}}";

/* A small message encrypted (AES-256, MDC) to key, not signed. */
static bool encrypt_only(rnp_ffi_t ffi, rnp_key_handle_t key, struct buf *msg) {
  rnp_input_t in = NULL;
  rnp_output_t out = NULL;
  rnp_op_encrypt_t op = NULL;
  uint8_t *data = NULL;
  size_t n = 0;
  bool ok =
      rnp_input_from_memory(&in, (const uint8_t *)small_text,
                            sizeof small_text - 1, false) == RNP_SUCCESS &&
      rnp_output_to_memory(&out, 0) == RNP_SUCCESS &&
      rnp_op_encrypt_create(&op, ffi, in, out) == RNP_SUCCESS &&
      rnp_op_encrypt_add_recipient(op, key) == RNP_SUCCESS &&
      rnp_op_encrypt_set_cipher(op, "AES256") == RNP_SUCCESS &&
      rnp_op_encrypt_set_aead(op, "None") == RNP_SUCCESS &&
      rnp_op_encrypt_execute(op) == RNP_SUCCESS &&
      rnp_output_memory_get_buf(out, &data, &n, false) == RNP_SUCCESS;
  if (ok)
    buf_append(msg, data, n);
  rnp_op_encrypt_destroy(op);
  rnp_output_destroy(out);
  rnp_input_destroy(in);
  return ok;
}

/* This process's CPU time, all threads (Botan computes an RSA private
 * operation's two CRT halves on two threads): the operation's own cost,
 * without the time other work on the machine took from it. */
static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall time of one decryption; its CPU time into *cpu. */
static double time_decrypt(rnp_ffi_t ffi, const struct buf *msg, double *cpu) {
  rnp_input_t in = NULL;
  rnp_output_t out = NULL;
  double c0 = cpu_seconds(), t0 = monotonic_seconds();
  bool ok = rnp_input_from_memory(&in, (const uint8_t *)msg->data, msg->len,
                                  false) == RNP_SUCCESS &&
            rnp_output_to_null(&out) == RNP_SUCCESS &&
            rnp_decrypt(ffi, in, out) == RNP_SUCCESS;
  double t = monotonic_seconds() - t0;
  *cpu = cpu_seconds() - c0;
  rnp_output_destroy(out);
  rnp_input_destroy(in);
  return ok ? t : -1;
}

static double time_sign(rnp_ffi_t ffi, rnp_key_handle_t key, double *cpu) {
  rnp_input_t in = NULL;
  rnp_output_t out = NULL;
  rnp_op_sign_t op = NULL;
  double c0 = cpu_seconds(), t0 = monotonic_seconds();
  bool ok =
      rnp_input_from_memory(&in, (const uint8_t *)small_text,
                            sizeof small_text - 1, false) == RNP_SUCCESS &&
      rnp_output_to_null(&out) == RNP_SUCCESS &&
      rnp_op_sign_create(&op, ffi, in, out) == RNP_SUCCESS &&
      rnp_op_sign_add_signature(op, key, NULL) == RNP_SUCCESS &&
      rnp_op_sign_set_hash(op, "SHA384") == RNP_SUCCESS &&
      rnp_op_sign_execute(op) == RNP_SUCCESS;
  double t = monotonic_seconds() - t0;
  *cpu = cpu_seconds() - c0;
  rnp_op_sign_destroy(op);
  rnp_output_destroy(out);
  rnp_input_destroy(in);
  return ok ? t : -1;
}

/* What a worker does per sealed request, on the library: its rings and
 * one request sealed by Google's key. */
struct worker_side {
  struct pgp_ring *google, *ours;
  struct buf req, plain, ans;
};

static bool worker_side_init(struct worker_side *w, const char *dir) {
  char err[512];
  struct buf json = {0};
  memset(w, 0, sizeof *w);
  w->google = mirror_ring(dir);
  w->ours = server_ring(dir);
  bool ok = w->google && w->ours;
  if (ok) {
    send_otp_json(&json, "rsa-timing", 0, 14035550000LL);
    ok = pgp_seal(w->google, json.data, json.len, &w->req, err, sizeof err);
  }
  buf_free(&json);
  return ok;
}

static void worker_side_free(struct worker_side *w) {
  buf_free(&w->req);
  buf_free(&w->plain);
  buf_free(&w->ans);
  pgp_ring_free(w->google);
  pgp_ring_free(w->ours);
}

static double time_open(struct worker_side *w, double *cpu) {
  struct payload_opened res;
  w->plain.len = 0;
  double c0 = cpu_seconds(), t0 = monotonic_seconds();
  pgp_open(w->ours, (const unsigned char *)w->req.data, w->req.len, ANSWER_CAP,
           &w->plain, &res);
  double t = monotonic_seconds() - t0;
  *cpu = cpu_seconds() - c0;
  return res.verdict == PAYLOAD_OPENED ? t : -1;
}

static double time_seal(struct worker_side *w, double *cpu) {
  char err[512];
  w->ans.len = 0;
  double c0 = cpu_seconds(), t0 = monotonic_seconds();
  bool ok = pgp_seal(w->ours, small_text, sizeof small_text - 1, &w->ans, err,
                     sizeof err);
  double t = monotonic_seconds() - t0;
  *cpu = cpu_seconds() - c0;
  return ok ? t : -1;
}

enum { DEC, SIG, OPN, SEL, NOPS };

static int cmd_rsa(const struct opts *o) {
  static const char *const name[NOPS] = {"decrypt", "sign", "open", "seal"};
  if (o->keys == NULL || o->n < 10)
    return die("%s", "rsa needs -k DIR and -n 10 or more");
  char *sec = xasprintf("%s/ours/integrator.sec", o->keys);
  rnp_key_handle_t key = NULL;
  rnp_ffi_t ffi = ffi_with(sec, &key);
  if (ffi == NULL)
    return die("%s: cannot load our key pair", sec);
  uint32_t bits = 0;
  rnp_key_get_bits(key, &bits);
  struct buf msg = {0};
  if (!encrypt_only(ffi, key, &msg))
    return die("%s", "librnp could not encrypt to our key");
  struct worker_side w;
  if (!o->only_rsa && !worker_side_init(&w, o->keys))
    return die("%s", "cannot set up a worker's rings");
  int nops = o->only_rsa ? 2 : NOPS;
  double *wall[NOPS], *cpu[NOPS];
  for (int k = 0; k < NOPS; k++) {
    wall[k] = xcalloc((size_t)o->n, sizeof *wall[k]);
    cpu[k] = xcalloc((size_t)o->n, sizeof *cpu[k]);
  }
  /* Interleaved, so that a burst of other work on the machine falls on
   * each alike; the first 5 rounds warm up. */
  for (long i = -5; i < o->n; i++) {
    long j = i < 0 ? 0 : i;
    for (int k = 0; k < nops; k++) {
      double *c = &cpu[k][j];
      double t = k == DEC   ? time_decrypt(ffi, &msg, c)
                 : k == SIG ? time_sign(ffi, key, c)
                 : k == OPN ? time_open(&w, c)
                            : time_seal(&w, c);
      if (t < 0)
        return die("%s failed", name[k]);
      wall[k][j] = t;
    }
  }
  printf("pgp-bench rsa bits=%u n=%ld", bits, o->n);
  for (int k = 0; k < NOPS; k++) /* with -R, open and seal stay 0 */
    printf(" %s_ms=%.3f %s_cpu_ms=%.3f", name[k], median_ms(wall[k], o->n),
           name[k], median_ms(cpu[k], o->n));
  printf("\n");
  for (int k = 0; k < NOPS; k++) {
    free(wall[k]);
    free(cpu[k]);
  }
  if (!o->only_rsa)
    worker_side_free(&w);
  buf_free(&msg);
  rnp_key_handle_destroy(key);
  rnp_ffi_destroy(ffi);
  free(sec);
  return 0;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  struct opts o = {.bits = 3072, .n = 200, .accounts = 10000, .max = 300,
                   .first = 14035000000LL};
  int ch;
  if (sodium_init() < 0)
    return 1;
  if (argc < 2 || argv[1][0] == '-') {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *cmd = argv[1];
  optind = 2;
  while ((ch = getopt_long(argc, argv, "o:b:k:n:t:a:f:s:m:Rh", longopts,
                           NULL)) != -1) {
    long v = 0;
    switch (ch) {
    case 'o': o.dir = o.out = optarg; break;
    case 'k': o.keys = optarg; break;
    case 't': o.tag = optarg; break;
    case 'f': o.first = atoll(optarg); break;
    case 'R': o.only_rsa = true; break;
    case 'b': case 'n': case 'a': case 's': case 'm':
      if (!parse_long_range(optarg, ch == 's' ? 0 : 1, 100000000, &v))
        return die("-%c: a number", ch);
      if (ch == 'b') o.bits = v;
      else if (ch == 'n') o.n = v;
      else if (ch == 'a') o.accounts = v;
      else if (ch == 's') o.start = v;
      else o.max = v;
      break;
    case 'h': fputs(usage, stdout); return 0;
    default: fputs(usage, stderr); return 2;
    }
  }
  if (strcmp(cmd, "keys") == 0)
    return cmd_keys(&o);
  if (strcmp(cmd, "seal") == 0)
    return cmd_seal(&o);
  if (strcmp(cmd, "open") == 0)
    return cmd_open(&o, argc - optind, argv + optind);
  if (strcmp(cmd, "rsa") == 0)
    return cmd_rsa(&o);
  fputs(usage, stderr);
  return 2;
}
