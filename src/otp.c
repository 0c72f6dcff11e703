#include "config.h"

#include "otp.h"

#include <sodium.h>

void otp_generate_code(char *out, int length) {
  /* randombytes_uniform() rejects out-of-range draws: no modulo bias. */
  for (int i = 0; i < length; i++)
    out[i] = (char)('0' + randombytes_uniform(10));
  out[length] = '\0';
}

void otp_code_hash(const struct secret_key *key, const char *request_id,
                   const char *code, unsigned char out[SECRET_HASH_LEN]) {
  const char *parts[] = {"otp", request_id, code};
  secret_hash(key, parts, 3, out);
}
