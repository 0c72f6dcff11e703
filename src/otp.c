#include "config.h"

#include "otp.h"

#include <string.h>

#include <sodium.h>

_Static_assert(OTP_SEALED_MAX == crypto_secretbox_NONCEBYTES +
                                     crypto_secretbox_MACBYTES + OTP_MAX_LENGTH,
               "OTP_SEALED_MAX matches secretbox");

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

size_t otp_seal_code(const struct secret_key *key, const char *code,
                     unsigned char *out) {
  size_t len = strlen(code);
  if (len > OTP_MAX_LENGTH)
    len = OTP_MAX_LENGTH;
  randombytes_buf(out, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES,
                        (const unsigned char *)code, len, out, key->seal);
  return crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
}

bool otp_open_code(const struct secret_key *key, const unsigned char *sealed,
                   size_t len, char *code) {
  size_t head = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
  if (len < head || len > OTP_SEALED_MAX)
    return false;
  if (crypto_secretbox_open_easy((unsigned char *)code,
                                 sealed + crypto_secretbox_NONCEBYTES,
                                 len - crypto_secretbox_NONCEBYTES, sealed,
                                 key->seal) != 0)
    return false;
  code[len - head] = '\0';
  return true;
}
