/* Counters that every worker adds to, kept in one file they all map
 * ([api] metrics_file), so that they add up across workers and survive a
 * worker's restart: requests by method, status and result, a latency
 * histogram per method, and how often a cap refused a sendOtp. The metrics
 * route renders them in Prometheus's text format beside what the database
 * says (metrics_render() takes the counters only).
 *
 * The file is a table of named slots claimed with an atomic
 * compare-and-swap and counted with atomic adds: no lock, no syscall per
 * request. A NULL struct metrics (no file configured, or it could not be
 * opened) counts nothing. */
#ifndef OTPGATE_METRICS_H
#define OTPGATE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct metrics;

/* Maps path (created 0660 when missing). NULL with err on failure. */
struct metrics *metrics_open(const char *path, char *err, size_t errsz);
void metrics_close(struct metrics *m);

/* One request answered: its method ("sendOtp", or "-" when none), HTTP
 * status, outcome (result, errorResponseCode or HTTP reason) and time. */
void metrics_count_request(struct metrics *m, const char *method, int status,
                           const char *outcome, double seconds);
/* A sendOtp refused by a cap ([sms] max_per_minute, ...). */
void metrics_count_cap(struct metrics *m, const char *cap);

/* Every counter, as Prometheus text lines appended to out. */
void metrics_render(struct metrics *m, struct buf *out);

/* Reads the counters of the file at path without writing or creating it
 * (`otpgate-admin status`): fn gets each one's name{labels} and value.
 * False with err when it cannot be read. */
bool metrics_read(const char *path,
                  void (*fn)(void *ctx, const char *key, uint64_t value),
                  void *ctx, char *err, size_t errsz);

#endif
