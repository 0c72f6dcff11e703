#include "config.h"

#include "http_gate.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* The media type, any case, optionally followed by parameters. */
static bool content_type_is(const char *ct, const char *want) {
  size_t n = strlen(want);
  if (ct == NULL || strncasecmp(ct, want, n) != 0)
    return false;
  ct += n;
  return *ct == '\0' || *ct == ';' || *ct == ' ';
}

static bool refuse(struct http_refusal *no, int status, const char *why) {
  no->status = status;
  no->why = why;
  return false;
}

/* What the path's last segment names. */
static enum http_route route_of(const char *path, enum gsp_method *method) {
  const char *name = strrchr(path ? path : "", '/');
  name = name ? name + 1 : (path ? path : "");
  *method = GSP_METHOD_COUNT;
  if (protocol_method_by_name(name, method))
    return ROUTE_GSP;
  if (strcmp(name, "health") == 0)
    return ROUTE_HEALTH;
  if (strcmp(name, "metrics") == 0)
    return ROUTE_METRICS;
  return ROUTE_NONE;
}

/* Reads exactly len bytes into body; false when the body ends early. */
static bool read_whole(const struct http_request *req, size_t len,
                       struct buf *body) {
  char chunk[16384];
  while (len > 0) {
    size_t want = len < sizeof chunk ? len : sizeof chunk;
    size_t got = req->read_body(req->read_ctx, chunk, want);
    buf_append(body, chunk, got);
    if (got < want)
      return false;
    len -= got;
  }
  return true;
}

bool http_gate_admit(const struct http_gate *gate,
                     const struct http_request *req, enum http_route *route,
                     enum gsp_method *method, struct buf *body,
                     struct http_refusal *no) {
  uint64_t len = 0;
  memset(no, 0, sizeof *no);
  *route = route_of(req->path, method);
  if (*route == ROUTE_NONE)
    return refuse(no, 404, "no such method (sendOtp, verifyOtp, echo)");
  if (*route != ROUTE_GSP) {
    /* The operator's routes read; they take no body. */
    if (req->verb && strcmp(req->verb, "GET") == 0)
      return true;
    no->allow = "GET";
    return refuse(no, 405, "only GET is allowed");
  }
  if (req->verb == NULL || strcmp(req->verb, "POST") != 0) {
    no->allow = "POST";
    return refuse(no, 405, "only POST is allowed");
  }
  if (gate->content_type &&
      !content_type_is(req->content_type, gate->content_type))
    return refuse(no, 415, "Content-Type must be application/json");
  if (req->content_length && *req->content_length &&
      !parse_u64(req->content_length, &len))
    return refuse(no, 400, "CONTENT_LENGTH is not a length");
  /* Not read: refused from the declared length alone. */
  if (len > gate->max_body_bytes)
    return refuse(no, 413, "the body is larger than allowed");
  if (!read_whole(req, (size_t)len, body))
    return refuse(no, 400, "the body is shorter than CONTENT_LENGTH");
  if (body->data == NULL)
    buf_appends(body, "");
  return true;
}
