/* verifyOtp, and the code check it shares with any method that carries an
 * OtpVerification. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "conf.h"
#include "otp.h"
#include "service.h"
#include "store.h"
#include "util.h"

enum service_error service_verify_code(struct service *svc,
                                       const char *send_otp_request_id,
                                       const char *code,
                                       enum verify_otp_result *result,
                                       char *why, size_t whysz) {
  const struct conf *c = svc->conf;
  struct store_otp otp;
  unsigned char given[SECRET_HASH_LEN];
  int64_t now = svc->now();

  enum store_rc rc = store_otp_get(svc->store, send_otp_request_id, &otp);
  if (rc != STORE_OK && rc != STORE_NOT_FOUND)
    return SERVICE_UNAVAILABLE;
  bool known = rc == STORE_OK;
  /* Hash and compare whether or not the id is known, so that the time
   * taken does not tell the two apart. A code whose secret was retired
   * from the file is hashed with the newest and cannot match. */
  if (!known)
    memset(otp.code_hash, 0, sizeof otp.code_hash);
  const struct secret_key *key = known ? service_key(svc, otp.key_id) : NULL;
  bool retired = known && key == NULL;
  if (key == NULL)
    key = secret_newest(&svc->keys);
  otp_code_hash(key, send_otp_request_id, code, given);
  bool match = sodium_memcmp(given, otp.code_hash, sizeof given) == 0 &&
               !retired;
  sodium_memzero(given, sizeof given);
  if (!known) {
    /* The same statements a wrong guess runs, matching no row. */
    if (store_otp_record_failure(svc->store, -1, "", now,
                                 c->otp.max_account_failures,
                                 c->otp.lockout_seconds * 1000) != STORE_OK)
      return SERVICE_UNAVAILABLE;
    return SERVICE_UNKNOWN_SEND_OTP_REQUEST;
  }

  if (match && otp.used_at) {
    *result = VERIFY_OTP_OTP_ALREADY_USED;
    snprintf(why, whysz, "code already used");
    return SERVICE_OK;
  }
  const char *refusal = NULL;
  if (retired)
    refusal = "its secret is no longer in the secret file";
  else if (!match)
    refusal = "wrong code";
  else if (otp.attempts >= c->otp.max_verify_attempts)
    refusal = "right code, but its attempts were used up";
  else if (now >= otp.expires_at)
    refusal = "right code, but expired";
  else if (otp.superseded_at)
    refusal = "right code, but a newer code was sent";
  else if (otp.used_at)
    refusal = "code already used";
  if (refusal == NULL) {
    if (store_otp_mark_used(svc->store, otp.id, otp.account_id, now) != STORE_OK)
      return SERVICE_UNAVAILABLE;
    *result = VERIFY_OTP_SUCCESS;
    snprintf(why, whysz, "account=%s verified", otp.account_id);
    return SERVICE_OK;
  }
  /* Only wrong guesses count against the code and the account. */
  if (!match && !retired && !otp.used_at &&
      store_otp_record_failure(svc->store, otp.id, otp.account_id, now,
                               c->otp.max_account_failures,
                               c->otp.lockout_seconds * 1000) != STORE_OK)
    return SERVICE_UNAVAILABLE;
  *result = VERIFY_OTP_OTP_NOT_MATCHED;
  snprintf(why, whysz, "account=%s %s", otp.account_id, refusal);
  return SERVICE_OK;
}

enum service_error service_verify_otp(struct service *svc,
                                      const struct verify_otp_request *req,
                                      struct verify_otp_outcome *out) {
  memset(out, 0, sizeof *out);
  enum service_error e = service_verify_code(
      svc, req->send_otp_request_id, req->otp, &out->result, out->why,
      sizeof out->why);
  if (e == SERVICE_OK)
    random_hex_id(out->verify_otp_id, SERVICE_ID_LEN / 2);
  return e;
}
