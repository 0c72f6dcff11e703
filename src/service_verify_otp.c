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

/* A failed verification, counted against the code and its account (otp
 * NULL: an unknown id, the same statements matching no row). */
static enum service_error count_failure(struct service *svc,
                                        const struct store_otp *otp,
                                        int64_t now) {
  const struct conf *c = svc->conf;
  enum store_rc rc = store_otp_record_failure(
      svc->store, otp ? otp->id : -1, otp ? otp->account_id : "", now,
      c->otp.max_account_failures, c->otp.lockout_seconds * 1000);
  return rc == STORE_OK ? SERVICE_OK : SERVICE_UNAVAILABLE;
}

/* Why the right code is refused all the same, or NULL: it may be used. */
static const char *right_code_refusal(const struct conf *c,
                                      const struct store_otp *otp,
                                      int64_t now) {
  if (otp->attempts >= c->otp.max_verify_attempts)
    return "right code, but its attempts were used up";
  if (now >= otp->expires_at)
    return "right code, but expired";
  if (otp->superseded_at)
    return "right code, but superseded"; /* newer code, closed, revoked */
  return NULL;
}

/* Decides for a known code, given whether it matched, and records it. */
static enum service_error decide(struct service *svc,
                                 const struct store_otp *otp, bool match,
                                 int64_t now, enum verify_otp_result *result,
                                 const char **why) {
  enum service_error e = SERVICE_OK;
  *result = VERIFY_OTP_OTP_NOT_MATCHED;
  if (otp->account_locked_until > now) {
    /* verifyOtp has no "locked" answer: while locked, no answer may depend
     * on the code, and each try is a failure, so the account's count goes
     * on toward NIST's bound on consecutive failures. */
    *why = "account locked after failed verifications";
    return count_failure(svc, otp, now);
  }
  if (!match) {
    *why = "wrong code";
    /* Only wrong guesses count against the code and the account. */
    return otp->used_at ? SERVICE_OK : count_failure(svc, otp, now);
  }
  if (otp->used_at) {
    *result = VERIFY_OTP_OTP_ALREADY_USED;
    *why = "code already used";
  } else if ((*why = right_code_refusal(svc->conf, otp, now)) == NULL) {
    *result = VERIFY_OTP_SUCCESS;
    *why = "verified";
    if (store_otp_mark_used(svc->store, otp->id, otp->account_id, now) !=
        STORE_OK)
      e = SERVICE_UNAVAILABLE;
  }
  return e;
}

enum service_error service_verify_code(struct service *svc,
                                       const char *send_otp_request_id,
                                       const char *code,
                                       enum verify_otp_result *result,
                                       char *why, size_t whysz) {
  struct store_otp otp;
  unsigned char given[SECRET_HASH_LEN];
  const char *decided = NULL;
  int64_t now = svc->now();

  enum store_rc rc = store_otp_get(svc->store, send_otp_request_id, &otp);
  if (rc != STORE_OK && rc != STORE_NOT_FOUND)
    return SERVICE_UNAVAILABLE;
  bool known = rc == STORE_OK;
  /* Hash and compare whether or not the id is known, and whether or not
   * the account is locked, so that the time taken tells none of these
   * apart. The code is whatever the user typed: one of the wrong length or
   * with other characters simply does not match. A code whose secret was
   * retired from the file is hashed with the newest and cannot match. */
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
    enum service_error e = count_failure(svc, NULL, now);
    return e == SERVICE_OK ? SERVICE_UNKNOWN_SEND_OTP_REQUEST : e;
  }
  if (retired) {
    /* Not the user's fault: not counted. */
    *result = VERIFY_OTP_OTP_NOT_MATCHED;
    snprintf(why, whysz, "account=%s its secret is no longer in the secret "
                         "file", otp.account_id);
    return SERVICE_OK;
  }
  enum service_error e = decide(svc, &otp, match, now, result, &decided);
  if (e == SERVICE_OK)
    snprintf(why, whysz, "account=%s %s", otp.account_id, decided);
  return e;
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
