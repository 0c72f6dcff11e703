/* The HTTP gate: the one place that decides every HTTP-level refusal of a
 * request (the method named by the path, the verb, the Content-Type, the
 * declared length, the size, a body that ends early), from limits read
 * once. What it admits is a method and a body of bytes; what the bytes
 * mean is the payload and protocol layers' business. */
#ifndef OTPGATE_HTTP_GATE_H
#define OTPGATE_HTTP_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol.h"
#include "util.h"

/* A request as the web server hands it over, before its body is read. */
struct http_request {
  const char *verb;           /* REQUEST_METHOD */
  const char *path;           /* routed on its last segment */
  const char *content_type;   /* NULL: none given */
  const char *content_length; /* CONTENT_LENGTH; NULL or "": no body */
  /* Reads up to len bytes of the body into buf and returns how many it
   * got; fewer means the body ended there. */
  size_t (*read_body)(void *ctx, char *buf, size_t len);
  void *read_ctx;
};

struct http_gate {
  size_t max_body_bytes;    /* [api] max_body_bytes */
  const char *content_type; /* the media type a body must have; NULL:
                               any (sealed payloads) */
};

/* Why a request was refused: the HTTP status, an Allow header for 405,
 * and a description for errorDescription and the log. */
struct http_refusal {
  int status;
  const char *allow;
  const char *why;
};

/* What a path names: a GSP method (POST), or one of the operator's
 * routes (GET): health and metrics. */
enum http_route { ROUTE_NONE, ROUTE_GSP, ROUTE_HEALTH, ROUTE_METRICS };

/* Decides whether req may go on. *route and *method say what its path
 * names (*method only for ROUTE_GSP), also when refused. When a GSP
 * method is admitted, body holds the whole body. */
bool http_gate_admit(const struct http_gate *gate,
                     const struct http_request *req, enum http_route *route,
                     enum gsp_method *method, struct buf *body,
                     struct http_refusal *no);

#endif
