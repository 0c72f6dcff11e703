/* The methods' logic, free of JSON and HTTP: each handler takes a checked
 * request struct and decides, reading and writing through the store inside
 * the write transaction that api.c opened. */
#ifndef OTPGATE_SERVICE_H
#define OTPGATE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"
#include "store_vocab.h"

struct conf;
struct metrics;
struct store;

struct send_otp_request {
  const char *request_id;
  const char *account_phone_number; /* exactly one of these two */
  const char *association_id;
  const char *sms_matching_token;
  enum otp_context context;
};

struct verify_otp_request {
  const char *request_id;
  const char *send_otp_request_id;
  const char *otp;
};

struct echo_request {
  const char *client_message;
};

enum send_otp_result {
  SEND_OTP_SUCCESS,
  SEND_OTP_PHONE_NUMBER_NOT_ASSOCIATED_WITH_ACCOUNT,
  SEND_OTP_UNKNOWN_PHONE_NUMBER,
  SEND_OTP_MESSAGE_UNABLE_TO_BE_SENT,
  SEND_OTP_INVALID_PHONE_NUMBER,
  SEND_OTP_NOT_ELIGIBLE,
  SEND_OTP_OTP_LIMIT_REACHED,
  SEND_OTP_ACCOUNT_CLOSED,
  SEND_OTP_ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER,
  SEND_OTP_ACCOUNT_CLOSED_FRAUD,
};

enum verify_otp_result {
  VERIFY_OTP_SUCCESS,
  VERIFY_OTP_OTP_NOT_MATCHED,
  VERIFY_OTP_OTP_ALREADY_USED,
};

/* Why a request could not be processed (answered 4xx/5xx). */
enum service_error {
  SERVICE_OK,
  SERVICE_UNKNOWN_ASSOCIATION,     /* 404 INVALID_IDENTIFIER */
  SERVICE_UNKNOWN_SEND_OTP_REQUEST,/* 404 INVALID_IDENTIFIER */
  SERVICE_TOKEN_DOES_NOT_FIT,      /* 400: the SMS would exceed one SMS */
  SERVICE_UNAVAILABLE,             /* 503: the database failed or stayed busy */
};

#define SERVICE_ID_LEN 32 /* hex characters of integrator-generated ids */

struct send_otp_outcome {
  enum send_otp_result result;
  char send_otp_id[SERVICE_ID_LEN + 1]; /* set for SUCCESS */
  bool queued_sms;                      /* wake the sender after commit */
  char account_id[101];                 /* for the log, when known */
  char why[96];                         /* for the log: what decided it */
};

struct verify_otp_outcome {
  enum verify_otp_result result;
  char verify_otp_id[SERVICE_ID_LEN + 1];
  char why[96];
};

/* What every handler needs: configuration, store, secrets, clock. */
struct service {
  const struct conf *conf;
  struct store *store;
  struct secret_keys keys; /* [otp] secret_file */
  struct metrics *metrics; /* [api] metrics_file; NULL: not kept */
  int64_t (*now)(void);    /* now_ms, or a test's clock */
};

/* The secret with that id (read again from the file when another process
 * added it since), or NULL when the file no longer holds it. */
const struct secret_key *service_key(struct service *svc, int64_t id);

enum service_error service_send_otp(struct service *svc,
                                    const struct send_otp_request *req,
                                    struct send_otp_outcome *out);

/* Checks a code against the one sent for a sendOtp requestId and records
 * the outcome: the OtpVerification step that verifyOtp, and later methods
 * that carry {sendOtpRequestId, otp}, share. Must run inside a write
 * transaction. A wrong, expired or superseded code is OTP_NOT_MATCHED
 * (why says which), as is every code while the account is locked (counted
 * as a failure); SERVICE_UNKNOWN_SEND_OTP_REQUEST when no successful
 * sendOtp had that requestId. Known and unknown ids cost the same work. */
enum service_error service_verify_code(struct service *svc,
                                       const char *send_otp_request_id,
                                       const char *code,
                                       enum verify_otp_result *result,
                                       char *why, size_t whysz);

enum service_error service_verify_otp(struct service *svc,
                                      const struct verify_otp_request *req,
                                      struct verify_otp_outcome *out);

#endif
