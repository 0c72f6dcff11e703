/* otpgate-admin pgp: the operator's OpenPGP tools. generate makes our key
 * pair as GSP wants it; list and check show and test the configured keys;
 * seal and open play Google's side for the operator's own tests (Google's
 * key file named on the command line, ours from the configuration). */
#include "config.h"

#include "admin.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "payload.h"
#include "payload_pgp.h"
#include "util.h"

#define PGP_USAGE                                                              \
  "usage: otpgate-admin [-c PATH] pgp COMMAND\n"                               \
  "  pgp generate --out DIR [--bits 3072] [--expires 1y] [--uid TEXT]\n"       \
  "                       our key pair: DIR/integrator.sec (0600), and\n"      \
  "                       DIR/integrator.pub.asc to hand to Google\n"          \
  "  pgp list             every configured key: fingerprint, use, expiry\n"    \
  "  pgp check            the start-up self-test; exit 0 or one line why\n"    \
  "  pgp seal --key FILE  (a test tool) seal the JSON on stdin as Google\n"    \
  "                       would, signed by FILE's key, to our keys\n"          \
  "  pgp open --key FILE  (a test tool) open an answer on stdin with\n"        \
  "                       Google's key FILE, checking our signature\n"

struct pgp_cmd {
  FILE *out, *err;
  const char *config, *dir, *key, *uid, *expires;
  long bits;
  struct conf *conf;
};

static int pgp_fail(struct pgp_cmd *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int pgp_fail(struct pgp_cmd *c, int status, const char *fmt, ...) {
  va_list ap;
  fputs("otpgate-admin: pgp: ", c->err);
  va_start(ap, fmt);
  vfprintf(c->err, fmt, ap);
  va_end(ap);
  fputc('\n', c->err);
  if (status == 2)
    fputs(PGP_USAGE, c->err);
  return status;
}

static bool load_conf(struct pgp_cmd *c) {
  char err[512];
  c->conf = conf_load(conf_resolve_path(c->config), err, sizeof err);
  if (c->conf == NULL)
    pgp_fail(c, 1, "%s", err);
  return c->conf != NULL;
}

/* "1y", "18m", "90d": days, at most two years (GSP's rule). */
static bool parse_expiry(const char *s, unsigned *days) {
  long n;
  size_t len = strlen(s);
  char num[16];
  if (len < 2 || len >= sizeof num)
    return false;
  memcpy(num, s, len - 1);
  num[len - 1] = '\0';
  if (!parse_long_range(num, 1, 730, &n))
    return false;
  switch (s[len - 1]) {
  case 'd': *days = (unsigned)n; break;
  case 'm': *days = (unsigned)n * 30; break;
  case 'y': *days = (unsigned)n * 365; break;
  default: return false;
  }
  return *days <= 730;
}

static int cmd_generate(struct pgp_cmd *c) {
  char err[512], fpr[48], host[64] = "localhost", uid[160];
  unsigned days = 365;
  if (c->dir == NULL)
    return pgp_fail(c, 2, "generate needs --out DIR");
  if (c->bits < 2048 || c->bits > 4096)
    return pgp_fail(c, 2, "--bits %ld: from 2048 to 4096", c->bits);
  if (c->expires && !parse_expiry(c->expires, &days))
    return pgp_fail(c, 2, "--expires %s: like 1y, 18m or 90d, at most two years",
                    c->expires);
  gethostname(host, sizeof host - 1);
  snprintf(uid, sizeof uid, "%s", c->uid ? c->uid : "");
  if (uid[0] == '\0')
    snprintf(uid, sizeof uid, "otpgate integrator <otpgate@%s>", host);
  if (!pgp_generate(c->dir, (unsigned)c->bits, days, uid, fpr, err, sizeof err))
    return pgp_fail(c, 1, "%s", err);
  fprintf(c->out,
          "key %s (RSA %ld, expires in %u days)\n"
          "  %s/integrator.sec      our key pair: [pgp] secret_keys\n"
          "  %s/integrator.pub.asc  our public key: hand it to Google\n",
          fpr, c->bits, days, c->dir, c->dir);
  return 0;
}

static void print_line(void *ctx, bool warn, const char *text) {
  struct pgp_cmd *c = ctx;
  fprintf(c->out, "%s%s\n", text, warn ? " WARNING" : "");
}

static struct pgp_ring *configured_ring(struct pgp_cmd *c) {
  char err[512];
  if (c->conf->pgp.secret_keys[0] == '\0' || c->conf->pgp.google_keys[0] == '\0') {
    pgp_fail(c, 1, "[pgp] secret_keys and google_keys are not set");
    return NULL;
  }
  struct pgp_ring *r = pgp_ring_load(c->conf->pgp.secret_keys,
                                     c->conf->pgp.google_keys,
                                     c->conf->pgp.signing_keys, err, sizeof err);
  if (r == NULL)
    pgp_fail(c, 1, "%s", err);
  return r;
}

static int cmd_list(struct pgp_cmd *c) {
  struct pgp_ring *r = configured_ring(c);
  if (r == NULL)
    return 1;
  pgp_describe(r, print_line, c);
  pgp_ring_free(r);
  return 0;
}

static int cmd_check(struct pgp_cmd *c) {
  static const char probe[] = "{}";
  char err[512];
  struct buf sealed = {0};
  struct pgp_ring *r = configured_ring(c);
  if (r == NULL)
    return 1;
  bool ok = pgp_self_test(c->conf->pgp.secret_keys, c->conf->pgp.signing_keys,
                          err, sizeof err) &&
            pgp_seal(r, probe, sizeof probe - 1, &sealed, err, sizeof err);
  buf_free(&sealed);
  pgp_ring_free(r);
  if (!ok)
    return pgp_fail(c, 1, "%s", err);
  fprintf(c->out, "pgp: ok\n");
  return 0;
}

static char *read_stdin(size_t *len) {
  struct buf b = {0};
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
    buf_append(&b, chunk, n);
  *len = b.len;
  return b.data ? b.data : xstrdup("");
}

/* Google's side: Google's key pair (--key) and our public keys. */
static struct pgp_ring *mirror_ring(struct pgp_cmd *c) {
  char err[512];
  if (c->key == NULL) {
    pgp_fail(c, 2, "seal and open need --key FILE (Google's key pair)");
    return NULL;
  }
  struct pgp_ring *r =
      pgp_ring_load(c->key, c->conf->pgp.secret_keys, "", err, sizeof err);
  if (r == NULL)
    pgp_fail(c, 1, "%s", err);
  return r;
}

static int cmd_seal(struct pgp_cmd *c) {
  char err[512];
  size_t len;
  struct buf sealed = {0}, text = {0};
  struct pgp_ring *r = mirror_ring(c);
  if (r == NULL)
    return c->key ? 1 : 2;
  char *json = read_stdin(&len);
  bool ok = pgp_seal(r, json, len, &sealed, err, sizeof err);
  if (ok) {
    payload_base64url_encode((const unsigned char *)sealed.data, sealed.len,
                             &text);
    fprintf(c->out, "%s\n", text.data);
  }
  free(json);
  buf_free(&sealed);
  buf_free(&text);
  pgp_ring_free(r);
  return ok ? 0 : pgp_fail(c, 1, "%s", err);
}

static int cmd_open(struct pgp_cmd *c) {
  size_t len;
  struct buf binary = {0}, plain = {0};
  struct payload_opened o = {.verdict = PAYLOAD_BAD_ENCRYPTION,
                             .why = "not base64url"};
  struct pgp_ring *r = mirror_ring(c);
  if (r == NULL)
    return c->key ? 1 : 2;
  char *text = read_stdin(&len);
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
    len--;
  if (payload_base64url_decode(text, len, &binary))
    pgp_open(r, (const unsigned char *)binary.data, binary.len,
             (size_t)c->conf->pgp.max_plaintext_bytes, &plain, &o);
  if (o.verdict == PAYLOAD_OPENED)
    fprintf(c->out, "%s\n", plain.data);
  free(text);
  buf_free(&binary);
  buf_free(&plain);
  pgp_ring_free(r);
  return o.verdict == PAYLOAD_OPENED ? 0 : pgp_fail(c, 1, "%s", o.why);
}

/* The options (their letters in admin_pgp_main()'s table) a pgp command
 * takes beyond -c; any other is refused, named, not ignored. */
static const char *pgp_takes(const char *cmd) {
  if (strcmp(cmd, "generate") == 0)
    return "obeu";
  return strcmp(cmd, "seal") == 0 || strcmp(cmd, "open") == 0 ? "k" : "";
}

int admin_pgp_main(int argc, char **argv, FILE *out, FILE *err) {
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'},
      {"out", required_argument, NULL, 'o'},
      {"bits", required_argument, NULL, 'b'},
      {"expires", required_argument, NULL, 'e'},
      {"uid", required_argument, NULL, 'u'},
      {"key", required_argument, NULL, 'k'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  struct pgp_cmd c = {.out = out, .err = err, .bits = 3072};
  char given[8] = ""; /* the letters of the command's options, once each */
  int ch, status;
  optind = 0; /* a full start: tests run many command lines in one process */
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    if (strchr("obeuk", ch) && !strchr(given, ch))
      given[strlen(given)] = (char)ch;
    switch (ch) {
    case 'c': c.config = optarg; break;
    case 'o': c.dir = optarg; break;
    case 'b':
      if (!parse_long_range(optarg, 1, 100000, &c.bits))
        return pgp_fail(&c, 2, "--bits %s: a number", optarg);
      break;
    case 'e': c.expires = optarg; break;
    case 'u': c.uid = optarg; break;
    case 'k': c.key = optarg; break;
    case 'h': fputs(PGP_USAGE, out); return 0;
    default: return pgp_fail(&c, 2, "%s: not an option of pgp", argv[optind - 1]);
    }
  }
  /* The words left: "pgp" and the command. */
  if (argc - optind != 2 || strcmp(argv[optind], "pgp") != 0)
    return pgp_fail(&c, 2, "pgp takes one command");
  const char *cmd = argv[optind + 1];
  for (const char *g = given; *g; g++)
    for (const struct option *o = longopts; o->name; o++)
      if (o->val == *g && !strchr(pgp_takes(cmd), *g))
        return pgp_fail(&c, 2, "pgp %s does not take --%s", cmd, o->name);
  if (strcmp(cmd, "generate") == 0)
    return cmd_generate(&c);
  if (strcmp(cmd, "list") && strcmp(cmd, "check") && strcmp(cmd, "seal") &&
      strcmp(cmd, "open"))
    return pgp_fail(&c, 2, "%s: not a pgp command", cmd);
  if (!load_conf(&c))
    return 1;
  status = strcmp(cmd, "list") == 0    ? cmd_list(&c)
           : strcmp(cmd, "check") == 0 ? cmd_check(&c)
           : strcmp(cmd, "seal") == 0  ? cmd_seal(&c)
                                       : cmd_open(&c);
  conf_free(c.conf);
  return status;
}
