#include "config.h"

#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "conf.h"
#include "protocol.h"
#include "store.h"

bool api_init(struct api *api, const struct conf *conf, char *err,
              size_t errsz) {
  char why[512];
  memset(api, 0, sizeof *api);
  api->svc.conf = conf;
  api->svc.now = now_ms;
  if (!secret_load(conf->otp.secret_file, &api->svc.key, why, sizeof why)) {
    snprintf(err, errsz, "%s: [otp] secret_file: %s", conf->file, why);
    return false;
  }
  api->svc.store = store_open(conf, false, err, errsz);
  return api->svc.store != NULL;
}

void api_close(struct api *api) {
  store_close(api->svc.store);
  api->svc.store = NULL;
  sodium_memzero(&api->svc.key, sizeof api->svc.key);
}

void api_response_free(struct api_response *resp) { buf_free(&resp->body); }

static void respond_error(struct api *api, struct api_response *resp,
                          const struct protocol_error *err) {
  random_hex_id(resp->error_id, 8);
  resp->status = err->status;
  snprintf(resp->outcome, sizeof resp->outcome, "%s",
           err->code != GSP_ERR_NONE ? protocol_error_name(err->code)
                                     : "HTTP_ERROR");
  /* What decided it, unless the caller already said (a store failure). */
  if (resp->detail[0] == '\0')
    snprintf(resp->detail, sizeof resp->detail, "%s", err->description);
  resp->body.len = 0;
  protocol_render_error(&resp->body, err, resp->error_id, api->svc.now());
}

void api_response_init(struct api_response *resp) {
  memset(resp, 0, sizeof *resp);
  resp->method = "-";
  snprintf(resp->request_id, sizeof resp->request_id, "-");
}

void api_reject(struct api *api, struct api_response *resp, int status,
                const char *description) {
  struct protocol_error err = {.status = status, .code = GSP_ERR_NONE};
  /* A body the server could not take whole is no request at all. */
  if (status == 400)
    err.code = GSP_INVALID_DECRYPTED_REQUEST;
  snprintf(err.description, sizeof err.description, "%s", description);
  respond_error(api, resp, &err);
}

static void respond_answer(struct api *api, struct api_response *resp,
                           int status, const char *fields) {
  resp->status = status;
  resp->body.len = 0;
  protocol_render_answer(&resp->body, fields, api->svc.now());
}

/* ---- the stateful methods: one adapter each ---- */

typedef enum service_error (*method_fn)(struct api *api,
                                        const struct protocol_request *r,
                                        char **fields,
                                        struct api_response *resp);

static enum service_error run_send_otp(struct api *api,
                                       const struct protocol_request *r,
                                       char **fields,
                                       struct api_response *resp) {
  struct send_otp_outcome o;
  enum service_error e = service_send_otp(&api->svc, &r->u.send_otp, &o);
  if (e != SERVICE_OK)
    return e;
  *fields = protocol_encode_send_otp(&o);
  snprintf(resp->outcome, sizeof resp->outcome, "%s",
           protocol_send_otp_result_name(o.result));
  snprintf(resp->detail, sizeof resp->detail, "account=%s %s",
           o.account_id[0] ? o.account_id : "-", o.why);
  resp->wake_sender = o.queued_sms;
  return SERVICE_OK;
}

static enum service_error run_verify_otp(struct api *api,
                                         const struct protocol_request *r,
                                         char **fields,
                                         struct api_response *resp) {
  struct verify_otp_outcome o;
  enum service_error e = service_verify_otp(&api->svc, &r->u.verify_otp, &o);
  if (e != SERVICE_OK)
    return e;
  *fields = protocol_encode_verify_otp(&o);
  snprintf(resp->outcome, sizeof resp->outcome, "%s",
           protocol_verify_otp_result_name(o.result));
  snprintf(resp->detail, sizeof resp->detail, "%s", o.why);
  return SERVICE_OK;
}

/* Runs a method under idempotency: inside one write transaction, answer a
 * retry from the record, refuse a reused requestId, or process the request
 * and record its answer with everything it wrote. */
static void handle_idempotent(struct api *api, const struct protocol_request *r,
                              method_fn run, struct api_response *resp) {
  struct store *s = api->svc.store;
  struct protocol_error err;
  struct store_request prev = {0};
  unsigned char fp[SECRET_HASH_LEN];
  char *fields = NULL;
  enum service_error e = SERVICE_UNAVAILABLE;
  const char *method = protocol_method_name(r->method);

  protocol_fingerprint(&api->svc.key, r, fp);
  enum store_rc rc = store_begin_write(s);
  if (rc != STORE_OK)
    goto unavailable;
  rc = store_request_get(s, r->header.request_id, &prev);
  if (rc == STORE_OK) {
    store_rollback(s);
    if (strcmp(prev.method, method) == 0 &&
        sodium_memcmp(prev.fingerprint, fp, sizeof fp) == 0) {
      respond_answer(api, resp, prev.http_status, prev.answer);
      snprintf(resp->outcome, sizeof resp->outcome, "REPLAYED");
      snprintf(resp->detail, sizeof resp->detail, "retry answered from the record");
    } else {
      err.status = 412;
      err.code = GSP_IDEMPOTENCY_VIOLATION;
      snprintf(err.description, sizeof err.description,
               "requestId %s was already used for a different request",
               r->header.request_id);
      respond_error(api, resp, &err);
    }
    store_request_free(&prev);
    return;
  }
  if (rc != STORE_NOT_FOUND)
    goto unavailable;
  e = run(api, r, &fields, resp);
  if (e != SERVICE_OK)
    goto refuse;
  rc = store_request_put(s, r->header.request_id, method, fp, 200, fields,
                         api->svc.now());
  if (rc == STORE_OK)
    rc = store_commit(s);
  if (rc != STORE_OK) {
    /* Say why, not what the method had decided: nothing was queued. */
    e = SERVICE_UNAVAILABLE;
    goto unavailable;
  }
  respond_answer(api, resp, 200, fields);
  free(fields);
  return;
unavailable:
  snprintf(resp->detail, sizeof resp->detail, "store: %s (%s)",
           store_strerror(rc), store_errmsg(s));
refuse:
  store_rollback(s);
  free(fields);
  resp->wake_sender = false;
  protocol_error_from_service(e, &err);
  respond_error(api, resp, &err);
}

static void handle_echo(struct api *api, const struct protocol_request *r,
                        struct api_response *resp) {
  char *fields = protocol_encode_echo(&r->u.echo, "otpgate " PACKAGE_VERSION);
  respond_answer(api, resp, 200, fields);
  snprintf(resp->outcome, sizeof resp->outcome, "SUCCESS");
  free(fields);
}

/* "application/json", any case, optionally followed by parameters. */
static bool content_type_is_json(const char *ct) {
  static const char json[] = "application/json";
  if (ct == NULL || strncasecmp(ct, json, sizeof json - 1) != 0)
    return false;
  ct += sizeof json - 1;
  return *ct == '\0' || *ct == ';' || *ct == ' ';
}

void api_handle(struct api *api, const struct api_http_request *req,
                struct api_response *resp) {
  struct protocol_request r;
  struct protocol_error err;
  enum gsp_method method;
  const struct conf *c = api->svc.conf;

  api_response_init(resp);
  const char *path = req->path ? req->path : "";
  const char *name = strrchr(path, '/');
  name = name ? name + 1 : path;
  if (!protocol_method_by_name(name, &method)) {
    api_reject(api, resp, 404, "no such method (sendOtp, verifyOtp, echo)");
    return;
  }
  resp->method = protocol_method_name(method);
  if (req->verb == NULL || strcmp(req->verb, "POST") != 0) {
    resp->allow = "POST";
    api_reject(api, resp, 405, "only POST is allowed");
    return;
  }
  if (!content_type_is_json(req->content_type)) {
    api_reject(api, resp, 415, "Content-Type must be application/json");
    return;
  }
  if (req->body_len > (size_t)c->api.max_body_bytes) {
    api_reject(api, resp, 413, "the body is larger than allowed");
    return;
  }
  struct protocol_limits limits = {
      .now_ms = api->svc.now(),
      .timestamp_skew_ms = c->api.timestamp_skew_ms,
      .otp_length = (int)c->otp.length,
  };
  if (!protocol_decode(method, req->body, req->body_len, &limits, &r, &err)) {
    respond_error(api, resp, &err);
    return;
  }
  snprintf(resp->request_id, sizeof resp->request_id, "%s", r.header.request_id);
  switch (method) {
  case GSP_SEND_OTP:
    handle_idempotent(api, &r, run_send_otp, resp);
    break;
  case GSP_ECHO:
    handle_echo(api, &r, resp);
    break;
  case GSP_VERIFY_OTP:
    handle_idempotent(api, &r, run_verify_otp, resp);
    break;
  case GSP_METHOD_COUNT:
    break;
  }
  protocol_request_free(&r);
}
