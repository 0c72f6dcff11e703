/* Transports: how the sender hands SMS to a gateway, one or a batch at a
 * time. One file per transport (transport_exec.c, transport_spool.c,
 * transport_http.c) behind this interface; the sender sees only
 * transport_send(), transport_send_batch() and their results. */
#ifndef OTPGATE_TRANSPORT_H
#define OTPGATE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf;

enum gateway_status {
  GATEWAY_SENT,   /* the gateway took the message */
  GATEWAY_RETRY,  /* it did not, and it is worth trying again later */
  GATEWAY_FAILED, /* it did not, and never will */
  GATEWAY_UNKNOWN /* the message may or may not have gone out */
};
const char *gateway_status_name(enum gateway_status st);

/* One SMS. text holds the code at code_offset, code_length bytes long. */
struct transport_msg {
  int64_t id; /* the outbox row: the de-duplication key for gateways */
  const char *destination; /* E.164 */
  const char *text;
  size_t code_offset, code_length;
  /* The code's expiry (ms since the epoch; 0: none): a batch does not
   * start a send that waited for a free slot past it. */
  int64_t expires_at;
};

#define TRANSPORT_ERROR_MAX 256
#define TRANSPORT_REF_MAX 128

struct transport_result {
  enum gateway_status status;
  /* For last_error and the log: one line, never the code or the full
   * number (transport_set_error() sees to that). "" when there is none. */
  char error[TRANSPORT_ERROR_MAX];
  /* The gateway's own id for the message, if it gave one, same rules. */
  char ref[TRANSPORT_REF_MAX];
  /* Not sent: the code expired while the message waited its turn in a
   * batch. status means nothing then. */
  bool expired;
};

/* Called by a batch every 100 ms or so while its sends run, so the
 * caller can keep its heartbeat and watchdog going through a long batch. */
typedef void transport_tick_fn(void *ctx);

/* What each transport provides. */
struct transport_ops {
  const char *name;
  /* Checks what can be checked at start-up and builds the state. */
  void *(*open)(const struct conf *conf, char *err, size_t errsz);
  void (*send)(void *state, const struct transport_msg *msg,
               struct transport_result *res);
  /* Optional: sends msgs[0..n) with up to concurrency in flight, the
   * outcome of msgs[i] in res[i] (zeroed by the caller). Returns when the
   * last send has ended; each send keeps its own timeout; tick(ctx) as
   * it goes. NULL: the transport's send, one message after the other. */
  void (*send_batch)(void *state, const struct transport_msg *msgs,
                     struct transport_result *res, size_t n,
                     size_t concurrency, transport_tick_fn *tick, void *ctx);
  void (*close)(void *state);
};
extern const struct transport_ops transport_exec_ops;
extern const struct transport_ops transport_spool_ops;
extern const struct transport_ops transport_http_ops;

struct transport;
/* The transport [sender] transport names. NULL with a message in err. */
struct transport *transport_open(const struct conf *conf, char *err,
                                 size_t errsz);
const char *transport_name(const struct transport *t);
/* Never fails as such: every problem is a result. */
void transport_send(struct transport *t, const struct transport_msg *msg,
                    struct transport_result *res);
/* msgs[0..n) with up to concurrency sends in flight; res[i] is msgs[i]'s
 * outcome. Returns once every send has ended; calls tick(ctx) (tick may
 * be NULL) every 100 ms or so, and between sends one at a time. */
void transport_send_batch(struct transport *t, const struct transport_msg *msgs,
                          struct transport_result *res, size_t n,
                          size_t concurrency, transport_tick_fn *tick,
                          void *ctx);
void transport_close(struct transport *t);
/* For batches: whether msg's code expired while it waited its turn; if
 * so res->expired is set and it must not be sent. */
bool transport_msg_expired(const struct transport_msg *msg,
                           struct transport_result *res);

/* Copies len bytes of what a gateway or a command said into out (size
 * outsz) fit to store and log: the code and the destination masked
 * wherever they appear, control characters made spaces, white space at the
 * ends trimmed, truncated. */
void transport_clean(const struct transport_msg *msg, const char *in,
                     size_t len, char *out, size_t outsz);
/* res->status = st and res->error = the cleaned, formatted text. */
void transport_set_error(struct transport_result *res,
                         const struct transport_msg *msg,
                         enum gateway_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
