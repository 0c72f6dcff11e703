/* The GSP wire format: the only module that knows the protocol's JSON field
 * names. It decodes a request body into a checked C struct (through one
 * table of field rules), fingerprints it for idempotency, and encodes
 * answers and ErrorResponses. */
#ifndef OTPGATE_PROTOCOL_H
#define OTPGATE_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"
#include "service.h"
#include "util.h"

enum gsp_method { GSP_SEND_OTP, GSP_VERIFY_OTP, GSP_ECHO, GSP_METHOD_COUNT };

/* The method named by the last path segment; false for any other name. */
bool protocol_method_by_name(const char *name, enum gsp_method *out);
const char *protocol_method_name(enum gsp_method m);

/* errorResponseCode values (GSP_ERR_NONE: the field is left out, as for
 * 404/405/413/415/503 answers that are about HTTP, not the payload). */
enum gsp_error {
  GSP_ERR_NONE,
  GSP_INVALID_API_VERSION,
  GSP_REQUEST_TIMESTAMP_OUT_OF_RANGE,
  GSP_INVALID_IDENTIFIER,
  GSP_IDEMPOTENCY_VIOLATION,
  GSP_INVALID_FIELD_VALUE,
  GSP_MISSING_REQUIRED_FIELD,
  GSP_INVALID_DECRYPTED_REQUEST,
  GSP_INVALID_PAYLOAD_SIGNATURE,
  GSP_INVALID_PAYLOAD_ENCRYPTION,
};
const char *protocol_error_name(enum gsp_error e);

/* A failed request: the HTTP status, the code and what to tell Google's
 * support staff (names the field or identifier; never a secret). */
struct protocol_error {
  int status;
  enum gsp_error code;
  char description[256];
};

struct request_header {
  const char *request_id;
  int64_t request_timestamp;
  int64_t major, minor, revision;
};

/* A decoded, checked request. Strings point into the parsed JSON and live
 * until protocol_request_free(). */
struct protocol_request {
  enum gsp_method method;
  struct request_header header;
  union {
    struct send_otp_request send_otp;
    struct verify_otp_request verify_otp;
    struct echo_request echo;
  } u;
  void *json; /* owns the strings */
};

struct protocol_limits {
  int64_t now_ms;
  int64_t timestamp_skew_ms; /* 0: no window check */
};

/* Parses and checks body as a request of the method. On failure fills err
 * and returns false; nothing needs freeing then. */
bool protocol_decode(enum gsp_method method, const char *body, size_t len,
                     const struct protocol_limits *limits,
                     struct protocol_request *out, struct protocol_error *err);
void protocol_request_free(struct protocol_request *r);

/* Keyed hash of everything in the request except requestTimestamp: two
 * requests with one requestId are "the same request" when these match. */
void protocol_fingerprint(const struct secret_key *key,
                          const struct protocol_request *r,
                          unsigned char out[SECRET_HASH_LEN]);

/* The answer's fields without responseHeader, as a JSON object text: what
 * the idempotency record keeps. */
char *protocol_encode_send_otp(const struct send_otp_outcome *o);
char *protocol_encode_verify_otp(const struct verify_otp_outcome *o);
char *protocol_encode_echo(const struct echo_request *req,
                           const char *server_message);
/* The body sent: responseHeader with now_ms, then the stored fields. */
void protocol_render_answer(struct buf *out, const char *fields, int64_t now_ms);
/* An ErrorResponse's fields, without responseHeader, as the answers'. */
char *protocol_encode_error(const struct protocol_error *err,
                            const char *error_id);

/* Maps a service refusal to the HTTP status, code and description. */
void protocol_error_from_service(enum service_error e, struct protocol_error *err);

/* The result value of an outcome, as the protocol spells it (for logs). */
const char *protocol_send_otp_result_name(enum send_otp_result r);
const char *protocol_verify_otp_result_name(enum verify_otp_result r);

#endif
