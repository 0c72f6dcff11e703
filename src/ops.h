/* The operator's routes, served by the workers beside Google's methods:
 * GET .../health and GET .../metrics (the shipped web-server files let
 * only loopback and a monitoring address reach them). Plain text and
 * JSON, never sealed: monitoring is not Google. */
#ifndef OTPGATE_OPS_H
#define OTPGATE_OPS_H

#include "api.h"

/* 200 {"status":"ok"}, or 503 {"status":"unhealthy","reasons":[...]}:
 * the database not writable, no live sender, every sender's breaker open,
 * the keys' self-test failing. */
void ops_health(struct api *api, struct api_response *resp);
/* Prometheus's text format: the workers' shared counters (metrics.h) and
 * what the database and the keys say now. */
void ops_metrics(struct api *api, struct api_response *resp);

#endif
