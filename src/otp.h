/* One-time codes: making them, and hashing them for storage. */
#ifndef OTPGATE_OTP_H
#define OTPGATE_OTP_H

#include "secret.h"

#define OTP_MAX_LENGTH 10

/* length random decimal digits (uniform, from libsodium) and a NUL. */
void otp_generate_code(char *out, int length);
/* The stored form of a code: keyed hash bound to its sendOtp requestId. */
void otp_code_hash(const struct secret_key *key, const char *request_id,
                   const char *code, unsigned char out[SECRET_HASH_LEN]);

#endif
