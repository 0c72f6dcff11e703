#include "config.h"

#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "conf.h"
#include "store.h"
#include "wake.h"

bool api_init(struct api *api, const struct conf *conf, char *err,
              size_t errsz) {
  char why[512];
  memset(api, 0, sizeof *api);
  api->svc.conf = conf;
  api->svc.now = now_ms;
  api->gate.max_body_bytes = (size_t)conf->api.max_body_bytes;
  api->gate.content_type = "application/json";
  api->limits.timestamp_skew_ms = conf->api.timestamp_skew_ms;
  api->wake_socket = conf->sender.wake_socket;
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

/* Every body that leaves goes through here: the payload layer's seam
 * for sealing answers (plain JSON is sent as it is). */
static void answer_body(struct api *api, struct api_response *resp,
                        int status, const char *fields) {
  resp->status = status;
  resp->body.len = 0;
  protocol_render_answer(&resp->body, fields, api->svc.now());
}

static void respond_error(struct api *api, struct api_response *resp,
                          const struct protocol_error *err) {
  char *fields;
  random_hex_id(resp->error_id, 8);
  snprintf(resp->outcome, sizeof resp->outcome, "%s",
           err->code != GSP_ERR_NONE ? protocol_error_name(err->code)
                                     : "HTTP_ERROR");
  /* What decided it, unless the caller already said (a store failure). */
  if (resp->detail[0] == '\0')
    snprintf(resp->detail, sizeof resp->detail, "%s", err->description);
  fields = protocol_encode_error(err, resp->error_id);
  answer_body(api, resp, err->status, fields);
  free(fields);
}

/* A refusal of the HTTP gate, as an ErrorResponse. */
static void respond_refusal(struct api *api, struct api_response *resp,
                            const struct http_refusal *no) {
  struct protocol_error err = {.status = no->status, .code = GSP_ERR_NONE};
  /* A body the server could not take whole is no request at all. */
  if (no->status == 400)
    err.code = GSP_INVALID_DECRYPTED_REQUEST;
  snprintf(err.description, sizeof err.description, "%s", no->why);
  resp->allow = no->allow;
  respond_error(api, resp, &err);
}

static void response_init(struct api_response *resp) {
  memset(resp, 0, sizeof *resp);
  resp->method = "-";
  snprintf(resp->request_id, sizeof resp->request_id, "-");
}

/* ---- the stateful methods: one adapter each ---- */

/* Runs one method: *fields gets the answer's fields, *queued_sms whether
 * the commit will have queued an SMS. */
typedef enum service_error (*method_fn)(struct api *api,
                                        const struct protocol_request *r,
                                        char **fields, bool *queued_sms,
                                        struct api_response *resp);

static enum service_error run_send_otp(struct api *api,
                                       const struct protocol_request *r,
                                       char **fields, bool *queued_sms,
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
  *queued_sms = o.queued_sms;
  return SERVICE_OK;
}

static enum service_error run_verify_otp(struct api *api,
                                         const struct protocol_request *r,
                                         char **fields, bool *queued_sms,
                                         struct api_response *resp) {
  struct verify_otp_outcome o;
  enum service_error e = service_verify_otp(&api->svc, &r->u.verify_otp, &o);
  *queued_sms = false;
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
 * and record its answer with everything it wrote. Right after a commit
 * that queued an SMS, the sender is woken. */
static void handle_idempotent(struct api *api, const struct protocol_request *r,
                              method_fn run, struct api_response *resp) {
  struct store *s = api->svc.store;
  struct protocol_error err;
  struct store_request prev = {0};
  unsigned char fp[SECRET_HASH_LEN];
  char *fields = NULL;
  bool queued_sms = false;
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
      answer_body(api, resp, prev.http_status, prev.answer);
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
  e = run(api, r, &fields, &queued_sms, resp);
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
  if (queued_sms)
    wake_notify(api->wake_socket);
  answer_body(api, resp, 200, fields);
  free(fields);
  return;
unavailable:
  snprintf(resp->detail, sizeof resp->detail, "store: %s (%s)",
           store_strerror(rc), store_errmsg(s));
refuse:
  store_rollback(s);
  free(fields);
  protocol_error_from_service(e, &err);
  respond_error(api, resp, &err);
}

static void handle_echo(struct api *api, const struct protocol_request *r,
                        struct api_response *resp) {
  char *fields = protocol_encode_echo(&r->u.echo, "otpgate " PACKAGE_VERSION);
  answer_body(api, resp, 200, fields);
  snprintf(resp->outcome, sizeof resp->outcome, "SUCCESS");
  free(fields);
}

/* Every body that comes in goes through here: the payload layer's seam
 * for opening sealed requests (plain JSON is decoded as it is). */
static bool decode_body(struct api *api, enum gsp_method method,
                        const struct buf *body, struct protocol_request *r,
                        struct protocol_error *err) {
  api->limits.now_ms = api->svc.now();
  return protocol_decode(method, body->data, body->len, &api->limits, r, err);
}

static void handle_method(struct api *api, enum gsp_method method,
                          const struct buf *body, struct api_response *resp) {
  struct protocol_request r;
  struct protocol_error err;
  if (!decode_body(api, method, body, &r, &err)) {
    respond_error(api, resp, &err);
    return;
  }
  snprintf(resp->request_id, sizeof resp->request_id, "%s", r.header.request_id);
  switch (method) {
  case GSP_SEND_OTP:
    handle_idempotent(api, &r, run_send_otp, resp);
    break;
  case GSP_VERIFY_OTP:
    handle_idempotent(api, &r, run_verify_otp, resp);
    break;
  case GSP_ECHO:
    handle_echo(api, &r, resp);
    break;
  case GSP_METHOD_COUNT:
    break;
  }
  protocol_request_free(&r);
}

void api_handle(struct api *api, const struct http_request *req,
                struct api_response *resp) {
  struct buf body = {0};
  struct http_refusal no;
  enum gsp_method method;

  response_init(resp);
  bool admitted = http_gate_admit(&api->gate, req, &method, &body, &no);
  if (method != GSP_METHOD_COUNT)
    resp->method = protocol_method_name(method);
  if (admitted)
    handle_method(api, method, &body, resp);
  else
    respond_refusal(api, resp, &no);
  buf_free(&body);
}

struct memory_body {
  const char *p;
  size_t left;
};

static size_t read_memory(void *ctx, char *buf, size_t len) {
  struct memory_body *m = ctx;
  size_t n = len < m->left ? len : m->left;
  memcpy(buf, m->p, n);
  m->p += n;
  m->left -= n;
  return n;
}

void api_handle_buffer(struct api *api, const char *verb, const char *path,
                       const char *content_type, const char *body, size_t len,
                       struct api_response *resp) {
  char length[24];
  struct memory_body m = {body, len};
  snprintf(length, sizeof length, "%zu", len);
  struct http_request req = {
      .verb = verb,
      .path = path,
      .content_type = content_type,
      .content_length = length,
      .read_body = read_memory,
      .read_ctx = &m,
  };
  api_handle(api, &req, resp);
}
