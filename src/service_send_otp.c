/* sendOtp: find the account, decide, and when it may go, make the code and
 * queue the SMS. Runs inside the caller's write transaction, so the
 * idempotency record, the OTP row and the outbox row commit together. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "otp.h"
#include "service.h"
#include "sms.h"
#include "store.h"
#include "phone.h"
#include "util.h"

/* What an account's status answers when it was named by associationId; by
 * phone number every status but active is NOT_ELIGIBLE. */
static bool status_refusal(enum account_status status, bool by_association,
                           enum send_otp_result *out) {
  static const enum send_otp_result by_status[] = {
      [ACCOUNT_NOT_ELIGIBLE] = SEND_OTP_NOT_ELIGIBLE,
      [ACCOUNT_CLOSED] = SEND_OTP_ACCOUNT_CLOSED,
      [ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER] =
          SEND_OTP_ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER,
      [ACCOUNT_CLOSED_FRAUD] = SEND_OTP_ACCOUNT_CLOSED_FRAUD,
  };
  if (status == ACCOUNT_ACTIVE)
    return false;
  *out = by_association ? by_status[status] : SEND_OTP_NOT_ELIGIBLE;
  return true;
}

static enum service_error decline(struct send_otp_outcome *out,
                                  enum send_otp_result r, const char *why) {
  out->result = r;
  snprintf(out->why, sizeof out->why, "%s", why);
  return SERVICE_OK;
}

/* Finds the account the request names, or decides the answer. *decided is
 * set when out already holds the answer. */
static enum service_error find_account(struct service *svc,
                                       const struct send_otp_request *req,
                                       struct store_account *acc,
                                       struct send_otp_outcome *out,
                                       bool *decided) {
  enum store_rc rc;
  enum send_otp_result refusal;
  *decided = true;
  if (req->account_phone_number) {
    char masked[80];
    phone_mask(req->account_phone_number, masked, sizeof masked);
    if (!phone_is_e164(req->account_phone_number)) {
      return decline(out, SEND_OTP_INVALID_PHONE_NUMBER, "phone is not E.164");
    }
    rc = store_account_by_phone(svc->store, req->account_phone_number, acc);
    if (rc == STORE_NOT_FOUND) {
      snprintf(out->why, sizeof out->why, "no account has %s", masked);
      out->result = SEND_OTP_UNKNOWN_PHONE_NUMBER;
      return SERVICE_OK;
    }
    if (rc != STORE_OK)
      return SERVICE_UNAVAILABLE;
    snprintf(out->account_id, sizeof out->account_id, "%s", acc->id);
    if (status_refusal(acc->status, false, &refusal))
      return decline(out, refusal, store_vocab_name(&store_account_statuses, acc->status));
  } else {
    rc = store_association_account(svc->store, req->association_id, acc);
    if (rc == STORE_NOT_FOUND)
      return SERVICE_UNKNOWN_ASSOCIATION;
    if (rc != STORE_OK)
      return SERVICE_UNAVAILABLE;
    snprintf(out->account_id, sizeof out->account_id, "%s", acc->id);
    if (status_refusal(acc->status, true, &refusal))
      return decline(out, refusal, store_vocab_name(&store_account_statuses, acc->status));
    if (!acc->has_phone)
      return decline(out, SEND_OTP_PHONE_NUMBER_NOT_ASSOCIATED_WITH_ACCOUNT,
                     "account has no phone");
  }
  /* The integrator's bill: no SMS to countries it does not serve. */
  if (!phone_in_countries(acc->phone, svc->conf->sms.countries))
    return decline(out, SEND_OTP_NOT_ELIGIBLE, "phone outside [sms] countries");
  *decided = false;
  return SERVICE_OK;
}

/* Warns at most once a minute per worker: a flood of refusals must not
 * become a flood of log lines. */
static void warn_capped(const char *which, int64_t now) {
  static int64_t last;
  if (now - last < 60000)
    return;
  last = now;
  log_warn("event=sms_cap_reached cap=\"[sms] %s\" detail=\"sendOtp "
           "answers MESSAGE_UNABLE_TO_BE_SENT\"",
           which);
}

/* The caps on SMS a minute, all of them and per number prefix: a leaked
 * key or a bug must not turn the SMS bill into an attacker's income. */
static enum service_error check_caps(struct service *svc,
                                     const struct store_account *acc,
                                     int64_t now, struct send_otp_outcome *out,
                                     bool *decided) {
  const struct conf *c = svc->conf;
  char prefix[24];
  int64_t n;
  *decided = true;
  snprintf(prefix, sizeof prefix, "%.*s", (int)c->sms.prefix_digits + 1,
           acc->phone);
  struct {
    long cap;
    const char *prefix, *name;
  } caps[] = {
      {c->sms.max_per_minute, NULL, "max_per_minute"},
      {c->sms.max_per_prefix_per_minute, prefix, "max_per_prefix_per_minute"},
  };
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    if (caps[i].cap == 0)
      continue;
    if (store_outbox_count_since(svc->store, now - 60000, caps[i].prefix, &n) !=
        STORE_OK)
      return SERVICE_UNAVAILABLE;
    if (n >= caps[i].cap) {
      warn_capped(caps[i].name, now);
      metrics_count_cap(svc->metrics, caps[i].name);
      return decline(out, SEND_OTP_MESSAGE_UNABLE_TO_BE_SENT, caps[i].name);
    }
  }
  *decided = false;
  return SERVICE_OK;
}

/* Whether a sender will send the SMS: one alive, whose gateway takes
 * messages (or this request is the probe of one whose breaker is open).
 * *decided as below. */
static enum service_error check_senders(struct service *svc, int64_t now,
                                        struct send_otp_outcome *out,
                                        bool *decided) {
  const struct conf *c = svc->conf;
  enum store_sender_verdict v;
  if (store_sender_verdict(svc->store, now,
                           now - c->sender.heartbeat_max_age_seconds * 1000,
                           c->sender.breaker_failures,
                           c->sender.breaker_seconds * 1000, true,
                           &v) != STORE_OK)
    return SERVICE_UNAVAILABLE;
  if (v == STORE_SENDERS_NONE)
    return decline(out, SEND_OTP_MESSAGE_UNABLE_TO_BE_SENT,
                   "no sender alive (heartbeat too old)");
  if (v == STORE_SENDERS_OPEN)
    return decline(out, SEND_OTP_MESSAGE_UNABLE_TO_BE_SENT,
                   "the gateway is failing (breaker open)");
  *decided = false;
  return SERVICE_OK;
}

/* The limits that protect the user and the integrator's SMS bill, and
 * whether anyone will send the SMS. *decided as above. */
static enum service_error check_limits(struct service *svc,
                                       const struct store_account *acc,
                                       int64_t now,
                                       struct send_otp_outcome *out,
                                       bool *decided) {
  const struct conf *c = svc->conf;
  int64_t sent;
  *decided = true;
  if (acc->locked_until > now)
    return decline(out, SEND_OTP_OTP_LIMIT_REACHED,
                   "account locked after failed verifications");
  if (store_otp_count_since(svc->store, acc->id,
                            now - c->otp.send_window_seconds * 1000,
                            &sent) != STORE_OK)
    return SERVICE_UNAVAILABLE;
  if (sent >= c->otp.send_limit)
    return decline(out, SEND_OTP_OTP_LIMIT_REACHED, "send limit reached");
  if (c->sender.heartbeat_max_age_seconds > 0)
    return check_senders(svc, now, out, decided);
  *decided = false;
  return SERVICE_OK;
}

enum service_error service_send_otp(struct service *svc,
                                    const struct send_otp_request *req,
                                    struct send_otp_outcome *out) {
  const struct conf *c = svc->conf;
  struct store_account acc;
  struct store_otp otp;
  struct buf text = {0};
  char code[OTP_MAX_LENGTH + 1];
  char why[128];
  size_t code_offset;
  bool decided;
  int64_t now = svc->now();
  int minutes = (int)((c->otp.ttl_seconds + 59) / 60);
  enum service_error e;

  memset(out, 0, sizeof *out);
  if ((e = find_account(svc, req, &acc, out, &decided)) != SERVICE_OK || decided)
    return e;
  if ((e = check_limits(svc, &acc, now, out, &decided)) != SERVICE_OK || decided)
    return e;
  if ((e = check_caps(svc, &acc, now, out, &decided)) != SERVICE_OK || decided)
    return e;

  const struct secret_key *key = secret_newest(&svc->keys);
  unsigned char sealed[OTP_SEALED_MAX];
  otp_generate_code(code, (int)c->otp.length);
  if (!sms_compose(c->sms.template, code, minutes, req->sms_matching_token,
                   c->sms.token_position == TOKEN_FIRST, &text, &code_offset,
                   why, sizeof why)) {
    e = SERVICE_TOKEN_DOES_NOT_FIT;
    goto out;
  }
  /* The code leaves this process only hashed, sealed, and masked in the
   * text the audit keeps. */
  size_t sealed_len = otp_seal_code(key, code, sealed);
  memset(text.data + code_offset, '*', strlen(code));
  random_hex_id(out->send_otp_id, SERVICE_ID_LEN / 2);
  memset(&otp, 0, sizeof otp);
  snprintf(otp.request_id, sizeof otp.request_id, "%s", req->request_id);
  snprintf(otp.send_otp_id, sizeof otp.send_otp_id, "%s", out->send_otp_id);
  snprintf(otp.account_id, sizeof otp.account_id, "%s", acc.id);
  otp.context = req->context;
  otp.key_id = key->id;
  otp_code_hash(key, req->request_id, code, otp.code_hash);
  otp.created_at = now;
  otp.expires_at = now + c->otp.ttl_seconds * 1000;
  if (store_otp_insert(svc->store, &otp) != STORE_OK) {
    e = SERVICE_UNAVAILABLE;
    goto out;
  }
  struct store_outbox_new row = {
      .otp_id = otp.id,
      .account_id = acc.id,
      .destination = acc.phone,
      .text = text.data,
      .code_offset = code_offset,
      .code_length = strlen(code),
      .sealed = sealed,
      .sealed_len = sealed_len,
      .key_id = key->id,
      .created_at = now,
      .expires_at = otp.expires_at,
  };
  if (store_outbox_insert(svc->store, &row, NULL) != STORE_OK) {
    e = SERVICE_UNAVAILABLE;
    goto out;
  }
  out->result = SEND_OTP_SUCCESS;
  out->queued_sms = true;
  snprintf(out->why, sizeof out->why, "queued");
  e = SERVICE_OK;
out:
  if (e != SERVICE_OK)
    out->send_otp_id[0] = '\0';
  sodium_memzero(code, sizeof code);
  if (text.data)
    sodium_memzero(text.data, text.len);
  buf_free(&text);
  return e;
}
