/* The sender's loop: claim a batch of due outbox rows with leases, hand
 * them to the transport outside any transaction, record each outcome while
 * its lease still holds. Plus the heartbeat, housekeeping, wake-ups and
 * signals. otpgate-sender's main only reads options and the
 * configuration. */
#ifndef OTPGATE_SENDER_H
#define OTPGATE_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf;
struct store;
struct transport;

enum sender_rc {
  SENDER_OK = 0,
  SENDER_ESTORE,     /* the database could not be opened or written */
  SENDER_ETRANSPORT, /* the transport refused its configuration */
  SENDER_ESECRET,    /* the secret file could not be read */
  SENDER_ESIGNALS    /* signal handlers could not be installed */
};

struct sender_options {
  bool once; /* send what is due now, then return */
};

/* Runs until SIGTERM or SIGINT (then finishes the message in hand), or,
 * with once, until nothing is due. Opens the database and the transport
 * itself; on failure err holds one line saying why. */
enum sender_rc sender_run(const struct conf *conf,
                          const struct sender_options *opt, char *err,
                          size_t errsz);

/* The delay before attempt `attempt + 1` after a transient failure of
 * attempt `attempt` (1-based): base seconds doubling up to max, of which a
 * random part between none and half is taken off, so rows that failed
 * together do not all come back together. Milliseconds. */
int64_t sender_backoff_ms(long base_seconds, long max_seconds, int64_t attempt);

#endif
