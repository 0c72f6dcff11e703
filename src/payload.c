#include "config.h"

#include "payload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "conf.h"
#include "payload_pgp.h"

struct payload {
  enum payload_format format;
  struct pgp_ring *ring; /* pgp */
  size_t max_plaintext;
  char *secret_keys, *signing_keys; /* for the self-test again */
  int64_t checked_at;               /* the last self-test (monotonic ms) */
  bool check_ok;
  char check_why[256];
};

struct payload *payload_create(const struct conf *conf, char *err,
                               size_t errsz) {
  struct payload *p = xcalloc(1, sizeof *p);
  char why[512];
  p->format = conf->payload.format;
  p->max_plaintext = (size_t)conf->pgp.max_plaintext_bytes;
  p->secret_keys = xstrdup(conf->pgp.secret_keys);
  p->signing_keys = xstrdup(conf->pgp.signing_keys);
  p->check_ok = true;
  p->checked_at = monotonic_ms();
  if (p->format == PAYLOAD_FORMAT_PLAIN)
    return p;
  if (!pgp_self_test(conf->pgp.secret_keys, conf->pgp.signing_keys, why,
                     sizeof why) ||
      (p->ring = pgp_ring_load(conf->pgp.secret_keys, conf->pgp.google_keys,
                               conf->pgp.signing_keys, why, sizeof why)) ==
          NULL) {
    snprintf(err, errsz, "%s: [pgp]: %s", conf->file, why);
    payload_destroy(p);
    return NULL;
  }
  return p;
}

void payload_destroy(struct payload *p) {
  if (p == NULL)
    return;
  pgp_ring_free(p->ring);
  free(p->secret_keys);
  free(p->signing_keys);
  free(p);
}

struct each_key_ctx {
  void (*fn)(void *ctx, const char *fpr, const char *whose, long days_left);
  void *ctx;
};

static void each_key_facts(void *ctx, const struct pgp_key_facts *k) {
  struct each_key_ctx *e = ctx;
  e->fn(e->ctx, k->fpr, k->whose, pgp_days_left(k));
}

void payload_each_key(struct payload *p,
                      void (*fn)(void *ctx, const char *fpr, const char *whose,
                                 long days_left),
                      void *ctx) {
  struct each_key_ctx e = {fn, ctx};
  if (p->ring)
    pgp_each_key(p->ring, each_key_facts, &e);
}

bool payload_check(struct payload *p, char *why, size_t whysz) {
  if (p->format == PAYLOAD_FORMAT_PLAIN)
    return true;
  /* Two RSA operations: not on every health check. */
  if (monotonic_ms() - p->checked_at >= 60000) {
    p->checked_at = monotonic_ms();
    p->check_ok = pgp_self_test(p->secret_keys, p->signing_keys, p->check_why,
                                sizeof p->check_why);
  }
  if (!p->check_ok)
    snprintf(why, whysz, "%s", p->check_why);
  return p->check_ok;
}

bool payload_is_sealed(const struct payload *p) {
  return p->format == PAYLOAD_FORMAT_PGP;
}

const char *payload_content_type(const struct payload *p) {
  return p->format == PAYLOAD_FORMAT_PGP
             ? "application/octet-stream; charset=utf-8"
             : "application/json; charset=utf-8";
}

void payload_open(struct payload *p, const char *body, size_t len,
                  struct buf *plain, struct payload_opened *r) {
  struct buf binary = {0};
  memset(r, 0, sizeof *r);
  plain->len = 0;
  if (p->format == PAYLOAD_FORMAT_PLAIN) {
    buf_append(plain, body, len);
    r->verdict = PAYLOAD_OPENED;
    return;
  }
  if (len == 0 || !payload_base64url_decode(body, len, &binary)) {
    r->verdict = PAYLOAD_BAD_ENCRYPTION;
    snprintf(r->why, sizeof r->why, "the body is not base64url");
  } else {
    pgp_open(p->ring, (const unsigned char *)binary.data, binary.len,
             p->max_plaintext, plain, r);
  }
  buf_free(&binary);
  if (plain->data == NULL)
    buf_appends(plain, "");
}

bool payload_seal(struct payload *p, const char *json, size_t len,
                  struct buf *out, char *err, size_t errsz) {
  struct buf binary = {0};
  out->len = 0;
  if (p->format == PAYLOAD_FORMAT_PLAIN) {
    buf_append(out, json, len);
    return true;
  }
  bool ok = pgp_seal(p->ring, json, len, &binary, err, errsz);
  if (ok)
    payload_base64url_encode((const unsigned char *)binary.data, binary.len,
                             out);
  buf_free(&binary);
  return ok;
}

void payload_describe_keys(struct payload *p,
                           void (*line)(void *ctx, bool warn, const char *text),
                           void *ctx) {
  if (p->ring)
    pgp_describe(p->ring, line, ctx);
}

bool payload_base64url_decode(const char *in, size_t len, struct buf *out) {
  size_t bin_len;
  const char *end;
  /* Padding: none, or what makes the length a multiple of four. */
  int variant = len % 4 == 0 && len > 0 && in[len - 1] == '='
                    ? sodium_base64_VARIANT_URLSAFE
                    : sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  unsigned char *bin = xmalloc(len / 4 * 3 + 3);
  bool ok = sodium_base642bin(bin, len / 4 * 3 + 3, in, len, NULL, &bin_len,
                              &end, variant) == 0 &&
            end == in + len;
  if (ok)
    buf_append(out, bin, bin_len);
  free(bin);
  return ok;
}

void payload_base64url_encode(const unsigned char *in, size_t len,
                              struct buf *out) {
  size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE);
  char *text = xmalloc(n);
  sodium_bin2base64(text, n, in, len, sodium_base64_VARIANT_URLSAFE);
  buf_appends(out, text);
  free(text);
}
