/* OpenPGP for the payload layer, on librnp (in-process, keys from files):
 * a ring of our key pairs and the other side's public keys, and the two
 * operations GSP needs, open (decrypt and verify) and seal (sign and
 * encrypt). The worker's ring is ours + Google's; the operator's test
 * tools (otpgate-admin pgp seal|open) build the mirror ring. */
#ifndef OTPGATE_PAYLOAD_PGP_H
#define OTPGATE_PAYLOAD_PGP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "payload.h"
#include "util.h"

struct pgp_ring;

/* own_files: comma-separated files holding our key pairs (their secret
 * parts decrypt and sign); peer_files: the other side's public keys (the
 * allow-list of signers, and the recipients of what we seal). signing:
 * comma-separated fingerprints of our keys that sign, or "" for all.
 * Refuses an unreadable file, one that others may read when it holds a
 * secret key, a secret key locked by a passphrase, a signing fingerprint
 * that names none of our keys. */
struct pgp_ring *pgp_ring_load(const char *own_files, const char *peer_files,
                               const char *signing, char *err, size_t errsz);
void pgp_ring_free(struct pgp_ring *r);

/* Opens a binary OpenPGP message (decisions in payload.h's order); the
 * plaintext stops at cap bytes. */
void pgp_open(struct pgp_ring *r, const unsigned char *msg, size_t len,
              size_t cap, struct buf *plain, struct payload_opened *out);
/* Signs text (SHA-384) with our signing keys and encrypts it (AES-256,
 * integrity-protected) to every peer key that is neither expired nor
 * revoked, as a binary message in out. */
bool pgp_seal(struct pgp_ring *r, const char *text, size_t len,
              struct buf *out, char *err, size_t errsz);

/* The self-test: our keys seal to themselves and open it. */
bool pgp_self_test(const char *own_files, const char *signing, char *err,
                   size_t errsz);

/* What monitoring and the operator see of a key. */
struct pgp_key_facts {
  const char *fpr;   /* 40 hex digits */
  const char *whose; /* "ours" or "google" */
  bool sign, encrypt;
  uint64_t until; /* usable until (seconds since the epoch); 0: dead;
                     UINT64_MAX: never expires */
};
/* Calls fn for each key of the ring. */
void pgp_each_key(struct pgp_ring *r,
                  void (*fn)(void *ctx, const struct pgp_key_facts *k),
                  void *ctx);
/* Whole days until the key dies: -1 never, 0 dead (or less than a day). */
long pgp_days_left(const struct pgp_key_facts *k);

/* One line per key of the ring: fingerprint, whose, use, expiry, days
 * left, status; warn is set for keys expiring within 30 days or dead. */
void pgp_describe(struct pgp_ring *r,
                  void (*line)(void *ctx, bool warn, const char *text),
                  void *ctx);

/* Generates an RSA key pair as GSP wants it (primary key for signing, an
 * encryption subkey, expiring after expires_days) into DIR/integrator.sec
 * (binary, mode 0600) and DIR/integrator.pub.asc (armored, for Google).
 * fingerprint (41 bytes) gets the primary key's. */
bool pgp_generate(const char *dir, unsigned bits, unsigned expires_days,
                  const char *uid, char *fingerprint, char *err, size_t errsz);

#endif
