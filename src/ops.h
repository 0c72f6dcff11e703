/* The operator's routes, served by the workers beside Google's methods:
 * GET .../health and GET .../metrics (the shipped web-server files let
 * only loopback and a monitoring address reach them). Plain text and
 * JSON, never sealed: monitoring is not Google. */
#ifndef OTPGATE_OPS_H
#define OTPGATE_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"

struct conf;
struct store;

/* 200 {"status":"ok"}, or 503 {"status":"unhealthy","reasons":[...]}:
 * the database not writable, no live sender, every sender's breaker open,
 * the keys' self-test failing. */
void ops_health(struct api *api, struct api_response *resp);
/* Prometheus's text format: the workers' shared counters (metrics.h) and
 * what the database and the keys say now. */
void ops_metrics(struct api *api, struct api_response *resp);

/* The checks the health route and `otpgate-admin status` share. */
/* Whether a write transaction can start; why not, said in why. */
bool ops_store_writable(struct store *s, char *why, size_t whysz);
/* Why sendOtp cannot promise an SMS now ("no live sender", "breaker
 * open: ..."), or NULL when it can (or the heartbeat is not checked). */
const char *ops_senders_problem(struct store *s, const struct conf *c,
                                int64_t now);
/* One sender's breaker, by the [sender] breaker_* rule: open while its
 * last breaker_failures sends failed and the latest is younger than
 * breaker_seconds. */
bool ops_breaker_open(const struct conf *c, int64_t failures,
                      int64_t failed_at, int64_t now);

#endif
