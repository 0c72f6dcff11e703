/* The payload layer, between the HTTP gate and the protocol decoder: it
 * opens each request body into JSON text and seals each answer, so that
 * the handlers never know which mode is in use ([payload] format).
 *
 *   plain: the body is the JSON; answers are JSON (development, tests).
 *   pgp:   the body is base64url of one OpenPGP message, signed by Google
 *          and encrypted to us; answers are signed by us (SHA-384) and
 *          encrypted (AES-256) to every live Google key, base64url with
 *          padding (payload_pgp.c).
 *
 * It never parses business JSON. */
#ifndef OTPGATE_PAYLOAD_H
#define OTPGATE_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct conf;
struct payload;

/* What opening a body came to, in the order the checks run. */
enum payload_verdict {
  PAYLOAD_OPENED,         /* the plaintext is ready */
  PAYLOAD_BAD_ENCRYPTION, /* 400 INVALID_PAYLOAD_ENCRYPTION */
  PAYLOAD_BAD_SIGNATURE,  /* 401 INVALID_PAYLOAD_SIGNATURE */
  PAYLOAD_BAD_PLAINTEXT,  /* 400 INVALID_DECRYPTED_REQUEST */
  PAYLOAD_OUR_FAULT,      /* 500: our keys or library, never Google's */
};

struct payload_opened {
  enum payload_verdict verdict;
  char why[200];    /* for errorDescription and the log; never plaintext */
  char signer[104]; /* the allow-listed key that signed it, or "" */
};

/* Sets up the configured format. pgp: loads the key files, runs the
 * self-test (seal to our own keys, open it). NULL with err (naming the
 * key) when the worker must not start. */
struct payload *payload_create(const struct conf *conf, char *err,
                               size_t errsz);
void payload_destroy(struct payload *p);

/* Whether bodies are sealed: the gate then does not look at the request's
 * Content-Type. */
bool payload_is_sealed(const struct payload *p);
/* The Content-Type of answers. */
const char *payload_content_type(const struct payload *p);

/* Opens body into plain (NUL-terminated). On any verdict but
 * PAYLOAD_OPENED plain is emptied: nothing of a failed message is kept. */
void payload_open(struct payload *p, const char *body, size_t len,
                  struct buf *plain, struct payload_opened *r);
/* Seals the answer's JSON into out. False (err says why) when it cannot:
 * that is our fault, answered 500 without a body. */
bool payload_seal(struct payload *p, const char *json, size_t len,
                  struct buf *out, char *err, size_t errsz);

/* One line per configured key (fingerprint, use, expiry, warnings), for
 * the start-up log and `otpgate-admin pgp list`. */
void payload_describe_keys(struct payload *p,
                           void (*line)(void *ctx, bool warn, const char *text),
                           void *ctx);

/* Each configured key's fingerprint, whose ("ours", "google") and whole
 * days until it dies (-1: never; 0: dead), for the metrics route. */
void payload_each_key(struct payload *p,
                      void (*fn)(void *ctx, const char *fpr, const char *whose,
                                 long days_left),
                      void *ctx);
/* The keys' self-test (payload_create()'s), run again at most once a
 * minute: false with why when it fails now (the health route). */
bool payload_check(struct payload *p, char *why, size_t whysz);

/* base64url (RFC 4648 section 5) without line breaks: decoding takes it
 * with or without '=' padding and refuses any other character; encoding
 * pads. */
bool payload_base64url_decode(const char *in, size_t len, struct buf *out);
void payload_base64url_encode(const unsigned char *in, size_t len,
                              struct buf *out);

#endif
