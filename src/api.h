/* The request pipeline between the HTTP layer and the handlers: routing,
 * HTTP-level checks, decoding, idempotency, the write transaction, and the
 * answer. It knows HTTP semantics but not FastCGI, so the worker, the
 * tests and the fuzzers all drive this same function. */
#ifndef OTPGATE_API_H
#define OTPGATE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service.h"
#include "util.h"

struct conf;

struct api {
  struct service svc;
};

/* Sets up the service: opens the store and loads the secret. err gets a
 * one-line message on failure. */
bool api_init(struct api *api, const struct conf *conf, char *err, size_t errsz);
void api_close(struct api *api);

struct api_http_request {
  const char *verb;         /* REQUEST_METHOD */
  const char *path;         /* routed on its last segment */
  const char *content_type; /* may be NULL */
  const char *body;
  size_t body_len;
};

struct api_response {
  int status;
  const char *allow; /* an Allow header value, for 405 */
  struct buf body;   /* JSON */
  /* For the one log line per request. */
  const char *method;    /* "sendOtp", ... or "-" */
  char request_id[101];  /* "-" when unknown */
  char outcome[48];      /* result or errorResponseCode or HTTP reason */
  char error_id[24];     /* paymentIntegratorErrorIdentifier, errors only */
  char detail[320];      /* what decided it; never a code or a full number */
  bool wake_sender;      /* an SMS was queued and committed */
};

void api_handle(struct api *api, const struct api_http_request *req,
                struct api_response *resp);
/* Empties resp, ready for api_reject() (api_handle() does it itself). */
void api_response_init(struct api_response *resp);
/* An ErrorResponse decided by the HTTP layer (413, 400 short body, ...). */
void api_reject(struct api *api, struct api_response *resp, int status,
                const char *description);
void api_response_free(struct api_response *resp);

#endif
