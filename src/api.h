/* The request pipeline between the HTTP layer and the handlers:
 *
 *   http_request -> HTTP gate -> [payload: open] -> protocol decode
 *     -> method (idempotency, service, commit, wake the sender)
 *     -> protocol encode -> [payload: seal] -> api_response
 *
 * The bracketed steps are the payload layer (payload.h), in answer_body()
 * and decode_body(): plain JSON passes through them unchanged. It
 * knows HTTP semantics but not FastCGI, so the worker, the tests and the
 * fuzzers all drive this same function. */
#ifndef OTPGATE_API_H
#define OTPGATE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_gate.h"
#include "protocol.h"
#include "service.h"
#include "util.h"

struct conf;

struct payload;

struct api {
  struct service svc;
  struct payload *payload; /* [payload] format: plain JSON or sealed */
  struct http_gate gate;
  struct protocol_limits limits; /* now_ms is set per request */
  const char *wake_socket;       /* [sender] wake_socket; "": none */
  char metrics_error[600];       /* why the counters are not kept, or "" */
};

/* Sets up the service: opens the store, loads the secret, sets up the
 * payload layer (its keys and self-test). err gets a one-line message on
 * failure. */
bool api_init(struct api *api, const struct conf *conf, char *err, size_t errsz);
void api_close(struct api *api);

struct api_response {
  int status;
  const char *allow;        /* an Allow header value, for 405 */
  const char *content_type; /* of the body */
  struct buf body;          /* JSON, or sealed JSON */
  /* For the one log line per request. */
  const char *method;    /* "sendOtp", ... or "-" */
  char request_id[101];  /* "-" when unknown */
  char outcome[48];      /* result or errorResponseCode or HTTP reason */
  char error_id[24];     /* paymentIntegratorErrorIdentifier, errors only */
  char detail[320];      /* what decided it; never a code or a full number */
  char signer[104];      /* sealed requests: the signing key's fingerprint */
};

void api_handle(struct api *api, const struct http_request *req,
                struct api_response *resp);
/* api_handle() for a body already in memory (tests, fuzzers). */
void api_handle_buffer(struct api *api, const char *verb, const char *path,
                       const char *content_type, const char *body, size_t len,
                       struct api_response *resp);
void api_response_free(struct api_response *resp);

#endif
