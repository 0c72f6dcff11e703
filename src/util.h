/* Small helpers shared by every part of otpgate. */
#ifndef OTPGATE_UTIL_H
#define OTPGATE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the epoch, UTC (CLOCK_REALTIME). */
int64_t now_ms(void);
/* Milliseconds from an arbitrary origin (CLOCK_MONOTONIC), for latencies. */
int64_t monotonic_ms(void);
double monotonic_seconds(void);

/* Strict decimal parse of the whole string: no sign, no spaces, no overflow. */
bool parse_u64(const char *s, uint64_t *out);
/* Strict decimal parse with an optional leading '-'; bounds inclusive. */
bool parse_long_range(const char *s, long min, long max, long *out);

/* Writes all n bytes (retrying short writes and EINTR); false on error
 * (errno says why). */
bool write_all(int fd, const void *p, size_t n);

/* Random lowercase hex identifier of 2*nbytes characters (plus NUL). */
void random_hex_id(char *out, size_t nbytes);

/* malloc/strdup that abort on failure: these are tiny, and running on
 * without memory helps nobody. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Growable byte buffer. */
struct buf {
  char *data;
  size_t len, cap;
};
void buf_append(struct buf *b, const void *p, size_t n);
void buf_appends(struct buf *b, const char *s);
void buf_free(struct buf *b);

#endif
