#include "config.h"

#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "conf.h"
#include "metrics.h"
#include "ops.h"
#include "payload.h"
#include "store.h"
#include "wake.h"

bool api_init(struct api *api, const struct conf *conf, char *err,
              size_t errsz) {
  char why[512];
  memset(api, 0, sizeof *api);
  api->svc.conf = conf;
  api->svc.now = now_ms;
  api->limits.timestamp_skew_ms = conf->api.timestamp_skew_ms;
  api->wake_socket = conf->sender.wake_socket;
  if ((api->payload = payload_create(conf, err, errsz)) == NULL)
    return false;
  /* Without the counters' file the workers serve on; the metrics route
   * then shows only what the database says. */
  if (conf->api.metrics_file[0] &&
      (api->svc.metrics = metrics_open(conf->api.metrics_file, why,
                                       sizeof why)) == NULL)
    snprintf(api->metrics_error, sizeof api->metrics_error,
             "[api] metrics_file: %s", why);
  api->gate.max_body_bytes = (size_t)conf->api.max_body_bytes;
  /* A sealed body is refused for what it holds, not for its label. */
  api->gate.content_type =
      payload_is_sealed(api->payload) ? NULL : "application/json";
  if (!secret_load(conf->otp.secret_file, &api->svc.keys, why, sizeof why)) {
    snprintf(err, errsz, "%s: [otp] secret_file: %s", conf->file, why);
    api_close(api);
    return false;
  }
  api->svc.store = store_open(conf, false, err, errsz);
  if (api->svc.store == NULL)
    api_close(api);
  return api->svc.store != NULL;
}

void api_close(struct api *api) {
  store_close(api->svc.store);
  api->svc.store = NULL;
  payload_destroy(api->payload);
  api->payload = NULL;
  metrics_close(api->svc.metrics);
  api->svc.metrics = NULL;
  secret_free(&api->svc.keys);
}

void api_response_free(struct api_response *resp) { buf_free(&resp->body); }

/* Every body that leaves goes through here: rendered, then sealed by the
 * payload layer. An answer that cannot be sealed is our fault: 500,
 * without a body (nothing unsealed may go out). */
static void answer_body(struct api *api, struct api_response *resp,
                        int status, const char *fields) {
  struct buf json = {0};
  char why[256];
  protocol_render_answer(&json, fields, api->svc.now());
  resp->status = status;
  resp->content_type = payload_content_type(api->payload);
  if (!payload_seal(api->payload, json.data, json.len, &resp->body, why,
                    sizeof why)) {
    resp->status = 500;
    resp->body.len = 0;
    snprintf(resp->outcome, sizeof resp->outcome, "SEAL_FAILED");
    snprintf(resp->detail, sizeof resp->detail, "payload: %s", why);
  }
  buf_free(&json);
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

/* ---- the methods: one adapter each ---- */

/* What a method decided. */
struct method_out {
  char *fields;    /* the answer's fields (malloc'd) */
  bool queued_sms; /* the commit queues an SMS: wake the sender */
  bool transient;  /* a result Google may retry for a fresh answer: the
                      answer is not recorded for replay */
};

typedef enum service_error (*method_fn)(struct api *api,
                                        const struct protocol_request *r,
                                        struct method_out *out,
                                        struct api_response *resp);

static enum service_error run_send_otp(struct api *api,
                                       const struct protocol_request *r,
                                       struct method_out *out,
                                       struct api_response *resp) {
  struct send_otp_outcome o;
  enum service_error e = service_send_otp(&api->svc, &r->u.send_otp, &o);
  if (e != SERVICE_OK)
    return e;
  out->fields = protocol_encode_send_otp(&o);
  out->queued_sms = o.queued_sms;
  out->transient = o.result == SEND_OTP_MESSAGE_UNABLE_TO_BE_SENT;
  snprintf(resp->outcome, sizeof resp->outcome, "%s",
           protocol_send_otp_result_name(o.result));
  snprintf(resp->detail, sizeof resp->detail, "account=%s %s",
           o.account_id[0] ? o.account_id : "-", o.why);
  return SERVICE_OK;
}

static enum service_error run_verify_otp(struct api *api,
                                         const struct protocol_request *r,
                                         struct method_out *out,
                                         struct api_response *resp) {
  struct verify_otp_outcome o;
  enum service_error e = service_verify_otp(&api->svc, &r->u.verify_otp, &o);
  if (e != SERVICE_OK)
    return e;
  out->fields = protocol_encode_verify_otp(&o);
  snprintf(resp->outcome, sizeof resp->outcome, "%s",
           protocol_verify_otp_result_name(o.result));
  snprintf(resp->detail, sizeof resp->detail, "%s", o.why);
  return SERVICE_OK;
}

static enum service_error run_echo(struct api *api,
                                   const struct protocol_request *r,
                                   struct method_out *out,
                                   struct api_response *resp) {
  (void)api;
  out->fields = protocol_encode_echo(&r->u.echo, "otpgate " PACKAGE_VERSION);
  snprintf(resp->outcome, sizeof resp->outcome, "SUCCESS");
  return SERVICE_OK;
}

/* 503: the database failed or stayed busy; the log line says why. */
static void respond_unavailable(struct api *api, struct api_response *resp,
                                const char *why) {
  struct protocol_error err;
  snprintf(resp->detail, sizeof resp->detail, "store: %s", why);
  protocol_error_from_service(SERVICE_UNAVAILABLE, &err);
  respond_error(api, resp, &err);
}

/* There is a record for this (method, requestId): a retry of the same
 * request is answered from it; another request under the same id is
 * refused (412). The fingerprint is keyed with the record's own secret. */
static void answer_from_record(struct api *api,
                               const struct protocol_request *r,
                               const struct store_request *prev,
                               struct api_response *resp) {
  struct protocol_error err;
  unsigned char fp[SECRET_HASH_LEN];
  const struct secret_key *key = service_key(&api->svc, prev->key_id);
  if (key == NULL) {
    char why[96];
    snprintf(why, sizeof why,
             "the record's secret %lld is no longer in the secret file",
             (long long)prev->key_id);
    respond_unavailable(api, resp, why);
    return;
  }
  protocol_fingerprint(key, r, fp);
  if (sodium_memcmp(prev->fingerprint, fp, sizeof fp) == 0) {
    answer_body(api, resp, prev->http_status, prev->answer);
    snprintf(resp->outcome, sizeof resp->outcome, "REPLAYED");
    snprintf(resp->detail, sizeof resp->detail, "retry answered from the record");
    return;
  }
  err.status = 412;
  err.code = GSP_IDEMPOTENCY_VIOLATION;
  snprintf(err.description, sizeof err.description,
           "requestId %s was already used for a different %s request",
           r->header.request_id, protocol_method_name(r->method));
  respond_error(api, resp, &err);
}

/* Runs the method and, in the same transaction, records its answer
 * (unless transient) with everything it wrote. Right after a commit that
 * queued an SMS, the sender is woken. */
static void run_and_record(struct api *api, const struct protocol_request *r,
                           method_fn run, struct api_response *resp) {
  struct store *s = api->svc.store;
  struct method_out out = {0};
  struct protocol_error err;
  const struct secret_key *key = secret_newest(&api->svc.keys);
  struct store_request rec = {.key_id = key->id, .http_status = 200};
  enum store_rc rc = STORE_OK;

  enum service_error e = run(api, r, &out, resp);
  if (e == SERVICE_OK && !out.transient) {
    protocol_fingerprint(key, r, rec.fingerprint);
    rec.answer = out.fields;
    rc = store_request_put(s, protocol_method_name(r->method),
                           r->header.request_id, &rec, api->svc.now());
  }
  if (e == SERVICE_OK && rc == STORE_OK)
    rc = store_commit(s);
  if (e == SERVICE_OK && rc == STORE_OK) {
    if (out.queued_sms)
      wake_notify(api->wake_socket);
    answer_body(api, resp, 200, out.fields);
  } else if (e == SERVICE_OK || e == SERVICE_UNAVAILABLE) {
    /* Say why, not what the method had decided: nothing was queued. */
    char why[200];
    snprintf(why, sizeof why, "%s (%s)", store_strerror(rc ? rc : STORE_ERROR),
             store_errmsg(s));
    store_rollback(s);
    respond_unavailable(api, resp, why);
  } else {
    store_rollback(s);
    protocol_error_from_service(e, &err);
    respond_error(api, resp, &err);
  }
  free(out.fields);
}

/* Runs a method under idempotency, inside one write transaction: answer a
 * retry from its record, refuse a reused requestId, or run the method. */
static void handle_idempotent(struct api *api, const struct protocol_request *r,
                              method_fn run, struct api_response *resp) {
  struct store *s = api->svc.store;
  struct store_request prev = {0};
  char why[200];
  enum store_rc rc = store_begin_write(s);
  if (rc == STORE_OK)
    rc = store_request_get(s, protocol_method_name(r->method),
                           r->header.request_id, &prev);
  if (rc == STORE_NOT_FOUND) {
    run_and_record(api, r, run, resp);
    return;
  }
  if (rc == STORE_OK) {
    store_rollback(s);
    answer_from_record(api, r, &prev, resp);
    store_request_free(&prev);
    return;
  }
  snprintf(why, sizeof why, "%s (%s)", store_strerror(rc), store_errmsg(s));
  store_rollback(s);
  respond_unavailable(api, resp, why);
}

/* What a payload that does not open answers. */
static void payload_error(const struct payload_opened *o,
                          struct protocol_error *err) {
  static const struct {
    int status;
    enum gsp_error code;
  } answers[] = {
      [PAYLOAD_BAD_ENCRYPTION] = {400, GSP_INVALID_PAYLOAD_ENCRYPTION},
      [PAYLOAD_BAD_SIGNATURE] = {401, GSP_INVALID_PAYLOAD_SIGNATURE},
      [PAYLOAD_BAD_PLAINTEXT] = {400, GSP_INVALID_DECRYPTED_REQUEST},
      [PAYLOAD_OUR_FAULT] = {500, GSP_ERR_NONE},
  };
  err->status = answers[o->verdict].status;
  err->code = answers[o->verdict].code;
  snprintf(err->description, sizeof err->description, "%s",
           o->verdict == PAYLOAD_OUR_FAULT
               ? "the server could not process the payload; retry later"
               : o->why);
}

/* Every body that comes in goes through here: opened by the payload layer
 * (decrypted and verified when sealed), then decoded. */
static bool decode_body(struct api *api, enum gsp_method method,
                        const struct buf *body, struct protocol_request *r,
                        struct protocol_error *err,
                        struct api_response *resp) {
  struct payload_opened o;
  struct buf plain = {0};
  payload_open(api->payload, body->data, body->len, &plain, &o);
  snprintf(resp->signer, sizeof resp->signer, "%s", o.signer);
  bool ok = o.verdict == PAYLOAD_OPENED;
  if (!ok) {
    payload_error(&o, err);
    snprintf(resp->detail, sizeof resp->detail, "payload: %s", o.why);
  } else {
    api->limits.now_ms = api->svc.now();
    ok = protocol_decode(method, plain.data, plain.len, &api->limits, r, err);
  }
  if (plain.data)
    sodium_memzero(plain.data, plain.len);
  buf_free(&plain);
  return ok;
}

static void handle_method(struct api *api, enum gsp_method method,
                          const struct buf *body, struct api_response *resp) {
  struct protocol_request r;
  struct protocol_error err;
  if (!decode_body(api, method, body, &r, &err, resp)) {
    respond_error(api, resp, &err);
    return;
  }
  snprintf(resp->request_id, sizeof resp->request_id, "%s", r.header.request_id);
  static const method_fn runs[GSP_METHOD_COUNT] = {
      [GSP_SEND_OTP] = run_send_otp,
      [GSP_VERIFY_OTP] = run_verify_otp,
      [GSP_ECHO] = run_echo,
  };
  handle_idempotent(api, &r, runs[method], resp);
  protocol_request_free(&r);
}

void api_handle(struct api *api, const struct http_request *req,
                struct api_response *resp) {
  static const char *const route_names[] = {
      [ROUTE_NONE] = "-", [ROUTE_GSP] = "-",
      [ROUTE_HEALTH] = "health", [ROUTE_METRICS] = "metrics"};
  struct buf body = {0};
  struct http_refusal no;
  enum http_route route;
  enum gsp_method method;
  double start = monotonic_seconds();

  response_init(resp);
  bool admitted =
      http_gate_admit(&api->gate, req, &route, &method, &body, &no);
  resp->method = route == ROUTE_GSP ? protocol_method_name(method)
                                    : route_names[route];
  if (!admitted)
    respond_refusal(api, resp, &no);
  else if (route == ROUTE_GSP)
    handle_method(api, method, &body, resp);
  else if (route == ROUTE_HEALTH)
    ops_health(api, resp);
  else
    ops_metrics(api, resp);
  buf_free(&body);
  metrics_count_request(api->svc.metrics, resp->method, resp->status,
                        resp->outcome, monotonic_seconds() - start);
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
