/* One-time codes: making them, hashing them for storage, and sealing them
 * for the outbox. */
#ifndef OTPGATE_OTP_H
#define OTPGATE_OTP_H

#include <stdbool.h>
#include <stddef.h>

#include "secret.h"

#define OTP_MAX_LENGTH 10
/* A sealed code: a 24-byte nonce, then the code under secretbox (16 bytes
 * of tag). */
#define OTP_SEALED_MAX (24 + 16 + OTP_MAX_LENGTH)

/* length random decimal digits (uniform, from libsodium) and a NUL. */
void otp_generate_code(char *out, int length);
/* The stored form of a code: keyed hash bound to its sendOtp requestId. */
void otp_code_hash(const struct secret_key *key, const char *request_id,
                   const char *code, unsigned char out[SECRET_HASH_LEN]);
/* Seals the code with the key's sealing key (a fresh random nonce) into
 * out (OTP_SEALED_MAX bytes); returns the length. */
size_t otp_seal_code(const struct secret_key *key, const char *code,
                     unsigned char *out);
/* Opens what otp_seal_code() made into code (OTP_MAX_LENGTH + 1 bytes);
 * false when it does not open (another key, altered bytes). */
bool otp_open_code(const struct secret_key *key, const unsigned char *sealed,
                   size_t len, char *code);

#endif
