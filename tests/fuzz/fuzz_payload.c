/* libFuzzer harness: a sealed body in, through the payload layer's opener
 * (the base64url decoder, then librnp's decryption and verification), as
 * a worker with [payload] format = pgp opens it. The first byte picks
 * whether the rest goes in as base64url text or as the binary message. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "payload.h"
#include "payload_pgp.h"
#include "util.h"

static struct pgp_ring *ring;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  static char ours[] = "/tmp/otpgate-fuzz-pgp-XXXXXX";
  static char google[] = "/tmp/otpgate-fuzz-pgp-XXXXXX";
  char err[512], fpr[48];
  (void)argc;
  (void)argv;
  if (sodium_init() < 0 || mkdtemp(ours) == NULL || mkdtemp(google) == NULL)
    abort();
  /* Small keys: the harness measures parsing, not RSA. */
  if (!pgp_generate(ours, 2048, 30, "fuzz <ours@test>", fpr, err, sizeof err) ||
      !pgp_generate(google, 2048, 30, "fuzz <google@test>", fpr, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    abort();
  }
  char *own = xasprintf("%s/integrator.sec", ours);
  char *peer = xasprintf("%s/integrator.pub.asc", google);
  ring = pgp_ring_load(own, peer, "", err, sizeof err);
  if (ring == NULL) {
    fprintf(stderr, "%s\n", err);
    abort();
  }
  free(own);
  free(peer);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct buf binary = {0}, plain = {0};
  struct payload_opened o;
  if (size == 0)
    return 0;
  if (data[0] & 1) {
    if (payload_base64url_decode((const char *)data + 1, size - 1, &binary))
      pgp_open(ring, (const unsigned char *)binary.data, binary.len, 65536,
               &plain, &o);
  } else {
    pgp_open(ring, data + 1, size - 1, 65536, &plain, &o);
  }
  /* Nothing of a message that did not open is kept. */
  if (o.verdict != PAYLOAD_OPENED && plain.len != 0)
    abort();
  buf_free(&binary);
  buf_free(&plain);
  return 0;
}
