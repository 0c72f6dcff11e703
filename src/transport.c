/* The transport interface: picking the configured transport, and making
 * what gateways say safe to keep. */
#include "config.h"

#include "transport.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "utf8.h"
#include "util.h"

struct transport {
  const struct transport_ops *ops;
  void *state;
};

const char *gateway_status_name(enum gateway_status st) {
  switch (st) {
  case GATEWAY_SENT:
    return "sent";
  case GATEWAY_RETRY:
    return "retry";
  case GATEWAY_FAILED:
    return "failed";
  case GATEWAY_UNKNOWN:
    return "unknown";
  }
  return "?";
}

struct transport *transport_open(const struct conf *conf, char *err,
                                 size_t errsz) {
  const struct transport_ops *ops;
  switch (conf->sender.transport) {
  case TRANSPORT_KIND_EXEC:
    ops = &transport_exec_ops;
    break;
  case TRANSPORT_KIND_SPOOL:
    ops = &transport_spool_ops;
    break;
  case TRANSPORT_KIND_HTTP:
    ops = &transport_http_ops;
    break;
  default:
    snprintf(err, errsz, "[sender] transport: not built in");
    return NULL;
  }
  void *state = ops->open(conf, err, errsz);
  if (state == NULL)
    return NULL;
  struct transport *t = xcalloc(1, sizeof *t);
  t->ops = ops;
  t->state = state;
  return t;
}

const char *transport_name(const struct transport *t) {
  return t->ops->name;
}

void transport_send(struct transport *t, const struct transport_msg *msg,
                    struct transport_result *res) {
  memset(res, 0, sizeof *res);
  t->ops->send(t->state, msg, res);
}

static void no_tick(void *ctx) {
  (void)ctx;
}

void transport_send_batch(struct transport *t, const struct transport_msg *msgs,
                          struct transport_result *res, size_t n,
                          size_t concurrency, transport_tick_fn *tick,
                          void *ctx) {
  memset(res, 0, n * sizeof *res);
  if (tick == NULL)
    tick = no_tick;
  if (t->ops->send_batch != NULL && n > 1) {
    t->ops->send_batch(t->state, msgs, res, n, concurrency, tick, ctx);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      tick(ctx);
    if (!transport_msg_expired(&msgs[i], &res[i]))
      t->ops->send(t->state, &msgs[i], &res[i]);
  }
}


bool transport_msg_expired(const struct transport_msg *msg,
                           struct transport_result *res) {
  if (msg->expires_at == 0 || now_ms() < msg->expires_at)
    return false;
  res->expired = true;
  return true;
}

void transport_close(struct transport *t) {
  if (t == NULL)
    return;
  t->ops->close(t->state);
  free(t);
}

/* Overwrites every occurrence of needle (n bytes) in hay with '*', leaving
 * the last `keep` bytes of each occurrence as they are. */
static void mask_all(char *hay, size_t len, const char *needle, size_t n,
                     size_t keep) {
  if (n == 0 || n > len)
    return;
  for (size_t i = 0; i + n <= len;) {
    if (memcmp(hay + i, needle, n) == 0) {
      memset(hay + i, '*', n - keep);
      i += n;
    } else {
      i++;
    }
  }
}

void transport_clean(const struct transport_msg *msg, const char *in,
                     size_t len, char *out, size_t outsz) {
  assert(outsz > 0);
  char *work = xmalloc(len + 1);
  memcpy(work, in, len);
  work[len] = '\0';

  /* The number first, without its '+' so both spellings match, keeping
   * the last four digits as phone_mask() does; then the code. */
  if (msg->destination) {
    const char *digits = msg->destination;
    if (*digits == '+')
      digits++;
    size_t nd = strlen(digits);
    if (nd > 4)
      mask_all(work, len, digits, nd, 4);
  }
  if (msg->text && msg->code_length > 0)
    mask_all(work, len, msg->text + msg->code_offset, msg->code_length, 0);

  /* One line: a newline must not forge a log line, a NUL must not cut.
   * And UTF-8 only: a gateway answering in Latin-1 must not make the
   * record of a sent SMS fail (PostgreSQL refuses such text). */
  for (size_t i = 0; i < len;) {
    unsigned char c = (unsigned char)work[i];
    uint32_t cp;
    size_t n = c < 0x80 ? 1
                        : utf8_decode((const unsigned char *)work + i,
                                      (const unsigned char *)work + len, &cp);
    if (c < 0x20 || c == 0x7f)
      work[i] = ' ';
    else if (n == 0)
      work[i] = '?';
    i += n ? n : 1;
  }

  size_t start = 0, end = len;
  while (start < end && work[start] == ' ')
    start++;
  while (end > start && work[end - 1] == ' ')
    end--;
  size_t n = end - start;
  if (n > outsz - 1) {
    n = outsz - 1;
    /* Do not cut a UTF-8 sequence in two. */
    while (n > 0 && ((unsigned char)work[start + n] & 0xc0) == 0x80)
      n--;
  }
  memcpy(out, work + start, n);
  out[n] = '\0';
  free(work);
}

void transport_set_error(struct transport_result *res,
                         const struct transport_msg *msg,
                         enum gateway_status st, const char *fmt, ...) {
  char raw[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  if ((size_t)n >= sizeof raw)
    n = sizeof raw - 1;
  res->status = st;
  transport_clean(msg, raw, (size_t)n, res->error, sizeof res->error);
}
