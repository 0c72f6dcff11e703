#include "config.h"

#include "ops.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "conf.h"
#include "metrics.h"
#include "payload.h"
#include "store.h"

static void answer(struct api_response *resp, int status, const char *type,
                   const char *outcome) {
  resp->status = status;
  resp->content_type = type;
  snprintf(resp->outcome, sizeof resp->outcome, "%s", outcome);
}

/* ---- health ---- */

bool ops_store_writable(struct store *s, char *why, size_t whysz) {
  enum store_rc rc = store_check_writable(s);
  if (rc == STORE_OK)
    return true;
  snprintf(why, whysz, "database not writable: %s (%s)", store_strerror(rc),
           store_errmsg(s));
  return false;
}

const char *ops_senders_problem(struct store *s, const struct conf *c,
                                int64_t now) {
  enum store_sender_verdict v;
  if (c->sender.heartbeat_max_age_seconds == 0)
    return NULL;
  if (store_sender_verdict(s, now,
                           now - c->sender.heartbeat_max_age_seconds * 1000,
                           c->sender.breaker_failures,
                           c->sender.breaker_seconds * 1000, false,
                           &v) != STORE_OK)
    return NULL; /* the database's own reason is ops_store_writable()'s */
  if (v == STORE_SENDERS_NONE)
    return "no live sender";
  if (v != STORE_SENDERS_OK)
    return "breaker open: the gateway is failing";
  return NULL;
}

bool ops_breaker_open(const struct conf *c, int64_t failures,
                      int64_t failed_at, int64_t now) {
  return c->sender.breaker_failures > 0 &&
         failures >= c->sender.breaker_failures &&
         failed_at > now - c->sender.breaker_seconds * 1000;
}

static void health_store(struct api *api, json_object *reasons) {
  char why[320];
  if (!ops_store_writable(api->svc.store, why, sizeof why))
    json_object_array_add(reasons, json_object_new_string(why));
}

static void health_senders(struct api *api, json_object *reasons) {
  const char *why =
      ops_senders_problem(api->svc.store, api->svc.conf, api->svc.now());
  if (why)
    json_object_array_add(reasons, json_object_new_string(why));
}

void ops_health(struct api *api, struct api_response *resp) {
  json_object *reasons = json_object_new_array(), *o = json_object_new_object();
  char why[256];
  health_store(api, reasons);
  health_senders(api, reasons);
  if (!payload_check(api->payload, why, sizeof why)) {
    char text[300];
    snprintf(text, sizeof text, "key self-test failing: %s", why);
    json_object_array_add(reasons, json_object_new_string(text));
  }
  bool ok = json_object_array_length(reasons) == 0;
  json_object_object_add(o, "status",
                         json_object_new_string(ok ? "ok" : "unhealthy"));
  if (!ok)
    json_object_object_add(o, "reasons", json_object_get(reasons));
  buf_appends(&resp->body, json_object_to_json_string_ext(
                               o, JSON_C_TO_STRING_PLAIN |
                                      JSON_C_TO_STRING_NOSLASHESCAPE));
  answer(resp, ok ? 200 : 503, "application/json; charset=utf-8",
         ok ? "OK" : "UNHEALTHY");
  if (!ok)
    snprintf(resp->detail, sizeof resp->detail, "%s",
             json_object_to_json_string(reasons));
  json_object_put(reasons);
  json_object_put(o);
}

/* ---- metrics ---- */

struct gauges {
  struct buf *out;
  int64_t now;
  const struct conf *conf;
  int family; /* sender_row(): which of the senders' families */
};

static void gauge(struct buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void gauge(struct buf *out, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  buf_appends(out, line);
}

static void outbox_row(const struct store_row *row, void *ctx) {
  struct gauges *g = ctx;
  gauge(g->out, "otpgate_outbox_rows{status=\"%s\"} %s\n", row->values[0],
        row->values[1]);
}

static const char *const sender_families[] = {
    "otpgate_sender_heartbeat_age_seconds", "otpgate_sender_gateway_failures",
    "otpgate_sender_breaker_open"};

/* One of a sender's gauges (g->family), by owner: its heartbeat's age, its
 * gateway's refusals in a row, its breaker (1: open). */
static void sender_row(const struct store_row *row, void *ctx) {
  struct gauges *g = ctx;
  int64_t seen = strtoll(row->values[1], NULL, 10);
  int64_t failures = strtoll(row->values[2], NULL, 10);
  int64_t failed_at = strtoll(row->values[3], NULL, 10);
  bool open = ops_breaker_open(g->conf, failures, failed_at, g->now);
  double values[] = {(double)(g->now - seen) / 1000.0, (double)failures, open};
  gauge(g->out, "%s{owner=\"%s\"} %g\n", sender_families[g->family],
        row->values[0], values[g->family]);
}

static void key_row(void *ctx, const char *fpr, const char *whose,
                    long days_left) {
  struct gauges *g = ctx;
  gauge(g->out, "otpgate_pgp_key_days_left{fingerprint=\"%s\",whose=\"%s\"} %ld\n",
        fpr, whose, days_left);
}

void ops_metrics(struct api *api, struct api_response *resp) {
  struct gauges g = {.out = &resp->body, .now = api->svc.now(), .conf = api->svc.conf};
  struct store *s = api->svc.store;
  int64_t oldest = 0;
  metrics_render(api->svc.metrics, &resp->body);
  gauge(&resp->body, "# TYPE otpgate_outbox_rows gauge\n");
  enum store_rc rc = store_outbox_status_counts(s, outbox_row, &g);
  if (rc == STORE_OK)
    rc = store_outbox_oldest_queued(s, &oldest);
  gauge(&resp->body,
        "# TYPE otpgate_outbox_oldest_queued_seconds gauge\n"
        "otpgate_outbox_oldest_queued_seconds %.3f\n",
        oldest ? (double)(g.now - oldest) / 1000.0 : 0.0);
  /* The text format wants each family's lines together. */
  for (g.family = 0; rc == STORE_OK && g.family < 3; g.family++) {
    gauge(&resp->body, "# TYPE %s gauge\n", sender_families[g.family]);
    rc = store_sender_list(s, sender_row, &g);
  }
  gauge(&resp->body, "# TYPE otpgate_pgp_key_days_left gauge\n");
  payload_each_key(api->payload, key_row, &g);
  gauge(&resp->body, "# TYPE otpgate_metrics_counters_kept gauge\n"
                     "otpgate_metrics_counters_kept %d\n",
        api->svc.metrics != NULL);
  gauge(&resp->body, "# TYPE otpgate_database_up gauge\notpgate_database_up %d\n",
        rc == STORE_OK);
  answer(resp, 200, "text/plain; version=0.0.4; charset=utf-8", "OK");
}
