/* The sender: drains the outbox to the gateway, a batch of leased rows at
 * a time.
 *
 * Up to [sender] batch_size rows are claimed in a short BEGIN IMMEDIATE
 * transaction, sent with no transaction open (a gateway may take seconds;
 * workers must not wait for it) with up to [sender] concurrency sends in
 * flight, and each outcome recorded by an UPDATE that only matches while
 * this sender still holds that row's lease. The recording of a batch and
 * the next claim share one transaction, so a batch costs one commit. A
 * sender that dies mid-batch leaves its rows 'sending' until the leases
 * run out; then any sender takes them again. */
#include "config.h"

#include "sender.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "log.h"
#include "notify.h"
#include "otp.h"
#include "store.h"
#include "transport.h"
#include "phone.h"
#include "secret.h"
#include "util.h"
#include "wake.h"

#define DAY_MS (86400 * (int64_t)1000)
/* Heartbeats of senders gone this long are deleted by housekeeping; a
 * stopped sender's row is only history after that. */
#define SENDER_FORGET_MS DAY_MS
#define OWNER_MAX 160
/* While draining, rows that expired or ran out of attempts are closed this
 * often (claims pass them over meanwhile). */
#define CLOSE_DUE_EVERY_MS 1000

struct sender {
  const struct conf *conf;
  struct store *store;
  struct secret_keys keys; /* open the sealed codes */
  struct transport *transport;
  char owner[OWNER_MAX];
  int64_t started_at;
  /* The gateway's health, written with the heartbeat: its latest
   * consecutive refusals (failed, retry, unknown) and when the last was. */
  int64_t failures, failed_at;
  int64_t lease_ms; /* of each row of a batch: see sender_lease_ms() */
  /* Monotonic deadlines, kept by sender_tick() in the loop and while a
   * batch is out: the heartbeat, and systemd's watchdog when it is on. */
  int64_t hb_every, next_heartbeat;
  int64_t watchdog_every, next_watchdog;
  int wake_fd;
  bool store_failing; /* said once, until a claim works again */
  sigset_t wait_mask; /* the signal mask while waiting: stop signals open */
};

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reopen_requested;

static void on_stop(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void on_reopen(int sig) {
  (void)sig;
  reopen_requested = 1;
}

static const char *sender_strerror(enum sender_rc rc) {
  switch (rc) {
  case SENDER_OK:
    return "ok";
  case SENDER_ESTORE:
    return "database error";
  case SENDER_ETRANSPORT:
    return "transport error";
  case SENDER_ESECRET:
    return "cannot read the secret file";
  case SENDER_ESIGNALS:
    return "cannot install signal handlers";
  }
  return "?";
}

int64_t sender_backoff_ms(long base_seconds, long max_seconds,
                          int64_t attempt) {
  int64_t max_ms = (int64_t)max_seconds * 1000;
  int64_t d = (int64_t)base_seconds * 1000;
  for (int64_t i = 1; i < attempt && d < max_ms; i++)
    d *= 2;
  if (d > max_ms)
    d = max_ms;
  return d - (int64_t)randombytes_uniform((uint32_t)(d / 2 + 1));
}

/* The lease of a batch's rows: lease_seconds, plus the transport's
 * timeout for every round of concurrency sends after the first, since a
 * row may wait that long for a free slot before its own send starts. */
static int64_t sender_lease_ms(const struct conf *c) {
  int64_t rounds = (c->sender.batch_size + c->sender.concurrency - 1) /
                   c->sender.concurrency;
  int64_t timeout = 0;
  if (c->sender.transport == TRANSPORT_KIND_EXEC)
    timeout = (int64_t)c->sender.exec_timeout_seconds * 1000;
  else if (c->sender.transport == TRANSPORT_KIND_HTTP)
    timeout = c->sender.http_timeout_ms;
  return (int64_t)c->sender.lease_seconds * 1000 + (rounds - 1) * timeout;
}

/* host:pid:random, unique to this process, in out. */
static void sender_owner_id(char *out, size_t outsz) {
  char host[64] = "localhost", rnd[9];
  if (gethostname(host, sizeof host) != 0)
    snprintf(host, sizeof host, "localhost");
  host[sizeof host - 1] = '\0';
  random_hex_id(rnd, 4);
  snprintf(out, outsz, "%s:%ld:%s", host, (long)getpid(), rnd);
}

/* Stop signals are blocked except while the sender waits (ppoll opens
 * them atomically), so one never lands between "is there a stop?" and
 * "sleep", and never interrupts a send: the message in hand is finished
 * and recorded before the sender exits. */
static bool sender_signals(struct sender *s) {
  struct sigaction sa;
  sigset_t stops;

  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_stop; /* no SA_RESTART: ppoll must return */
  if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
    return false;
  sa.sa_handler = on_reopen;
  if (sigaction(SIGHUP, &sa, NULL) != 0)
    return false;
  /* A gateway that hangs up, or a command that does not read its input,
   * is an error to report, not a reason to die. */
  sa.sa_handler = SIG_IGN;
  if (sigaction(SIGPIPE, &sa, NULL) != 0)
    return false;
  sigemptyset(&stops);
  sigaddset(&stops, SIGTERM);
  sigaddset(&stops, SIGINT);
  sigaddset(&stops, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &stops, &s->wait_mask) != 0)
    return false;
  sigdelset(&s->wait_mask, SIGTERM);
  sigdelset(&s->wait_mask, SIGINT);
  sigdelset(&s->wait_mask, SIGHUP);
  return true;
}

/* Lets pending stop signals run their handlers, without waiting. */
static void sender_take_signals(struct sender *s) {
  struct timespec zero = {0, 0};
  ppoll(NULL, 0, &zero, &s->wait_mask);
  if (reopen_requested) {
    reopen_requested = 0;
    log_reopen();
    log_info("event=logs_reopened");
  }
}

/* A store call that failed: said once while the store keeps failing (the
 * database away for a while must not fill the log), not again until a
 * claim has worked. */
static void sender_store_failed(struct sender *s, const char *event,
                                enum store_rc rc) {
  if (!s->store_failing)
    log_error("event=%s error=%s reason=%s", event, log_q(store_strerror(rc)).s,
              log_q(store_errmsg(s->store)).s);
  s->store_failing = true;
}

static void sender_store_works(struct sender *s) {
  if (s->store_failing)
    log_info("event=store_back");
  s->store_failing = false;
}

static void sender_heartbeat(struct sender *s) {
  struct store_sender_beat b = {
      .owner = s->owner,
      .pid = (long)getpid(),
      .started_at = s->started_at,
      .now = now_ms(),
      .failures = s->failures,
      .failed_at = s->failed_at,
  };
  enum store_rc rc = store_sender_heartbeat(s->store, &b);
  if (rc != STORE_OK)
    sender_store_failed(s, "heartbeat_failed", rc);
}

/* Counts what the gateway said. The moment the breaker opens (the
 * failures reach [sender] breaker_failures) or closes (a send after
 * failures), the heartbeat carries it at once, so that sendOtp stops, or
 * goes on, promising SMS. */
static void sender_gateway_said(struct sender *s, enum gateway_status st) {
  int64_t before = s->failures;
  if (st == GATEWAY_SENT) {
    s->failures = 0;
  } else {
    s->failures++;
    s->failed_at = now_ms();
  }
  bool opened = s->failures == s->conf->sender.breaker_failures;
  if ((before > 0 && s->failures == 0) || opened) {
    if (opened)
      log_warn("event=breaker_open failures=%" PRId64 " detail=\"sends in a "
               "row not taken: sendOtp answers MESSAGE_UNABLE_TO_BE_SENT until "
               "one is\"",
               s->failures);
    sender_heartbeat(s);
  }
}

static void sender_housekeeping(struct sender *s) {
  const struct conf *c = s->conf;
  int64_t now = now_ms();
  struct store_purge p = {
      .requests_before = now - c->retention.requests_days * DAY_MS,
      .otps_before = now - c->retention.otps_days * DAY_MS,
      .outbox_before = now - c->retention.outbox_days * DAY_MS,
      .senders_before = now - SENDER_FORGET_MS,
  };
  struct store_purge_counts n;
  enum store_rc rc = store_purge(s->store, &p, &n);
  if (rc != STORE_OK) {
    log_warn("event=housekeeping_failed error=%s reason=%s",
             log_q(store_strerror(rc)).s, log_q(store_errmsg(s->store)).s);
    return;
  }
  if (n.requests || n.otps || n.outbox || n.senders)
    log_info("event=housekeeping requests=%" PRId64 " otps=%" PRId64
             " outbox=%" PRId64 " senders=%" PRId64,
             n.requests, n.otps, n.outbox, n.senders);
}

/* Turns what the transport said into what the row becomes. why must hold
 * TRANSPORT_ERROR_MAX + 80 bytes. */
static void sender_decide(const struct conf *conf,
                          const struct store_outbox_claim *row,
                          const struct transport_result *res, int64_t now,
                          struct store_outbox_result *out, char *why,
                          size_t whysz) {
  const char *said =
      res->error[0] ? res->error : gateway_status_name(res->status);
  memset(out, 0, sizeof *out);
  out->gateway_ref = res->ref;
  snprintf(why, whysz, "%s", said);
  out->error = why;

  switch (res->status) {
  case GATEWAY_SENT:
    out->outcome = STORE_OUTBOX_SENT;
    out->error = NULL; /* keep the error of an earlier attempt, if any */
    return;
  case GATEWAY_FAILED:
    out->outcome = STORE_OUTBOX_FAILED;
    return;
  case GATEWAY_UNKNOWN:
    /* Sending again could deliver the code twice, unless the gateway
     * drops duplicates by message id. */
    if (!conf->sender.idempotent ||
        row->attempts >= conf->sender.max_attempts) {
      out->outcome = STORE_OUTBOX_UNKNOWN;
      return;
    }
    break;
  case GATEWAY_RETRY:
    if (row->attempts >= conf->sender.max_attempts) {
      out->outcome = STORE_OUTBOX_FAILED;
      snprintf(why, whysz, "gave up after %" PRId64 " attempts: %s",
               row->attempts, said);
      return;
    }
    break;
  }
  out->retry_at =
      now + sender_backoff_ms(conf->sender.retry_base_seconds,
                              conf->sender.retry_max_seconds, row->attempts);
  if (out->retry_at >= row->expires_at) {
    out->outcome = STORE_OUTBOX_EXPIRED;
    snprintf(why, whysz, "%s; the code expires before the next attempt", said);
    return;
  }
  out->outcome = STORE_OUTBOX_RETRY;
}

static const char *outcome_name(enum store_outbox_outcome o) {
  switch (o) {
  case STORE_OUTBOX_SENT:
    return "sent";
  case STORE_OUTBOX_RETRY:
    return "retry";
  case STORE_OUTBOX_FAILED:
    return "failed";
  case STORE_OUTBOX_UNKNOWN:
    return "unknown";
  case STORE_OUTBOX_EXPIRED:
    return "expired";
  }
  return "?";
}

/* A row that went to the gateway (or expired in hand) and whose outcome
 * is not recorded yet: the next claim records it in its own transaction. */
struct sender_done {
  bool pending;
  struct store_outbox_claim row;
  struct store_outbox_done done;
  struct transport_result res; /* the gateway's answer: done points into it */
  char why[TRANSPORT_ERROR_MAX + 80];
  int64_t took; /* ms the gateway took */
};

/* Logs how the recording of d's outcome went and lets the row go. */
static void sender_done_log(struct sender *s, struct sender_done *d) {
  const struct store_outbox_result *o = &d->done.result;
  char masked[STORE_DESTINATION_MAX + 1];

  phone_mask(d->row.destination, masked, sizeof masked);
  if (d->done.recorded == STORE_NOT_FOUND) {
    log_warn("event=message id=%" PRId64 " to=%s outcome=%s recorded=no "
             "reason=\"the lease ran out first; another sender may send it "
             "again\"",
             d->row.id, masked, outcome_name(o->outcome));
  } else if (d->done.recorded != STORE_OK) {
    log_error("event=message id=%" PRId64 " to=%s outcome=%s recorded=no "
              "reason=%s",
              d->row.id, masked, outcome_name(o->outcome),
              log_q(store_errmsg(s->store)).s);
  } else {
    enum log_level lvl =
        o->outcome == STORE_OUTBOX_SENT ? LOG_LVL_INFO : LOG_LVL_WARN;
    log_msg(lvl,
            "event=message id=%" PRId64 " to=%s outcome=%s attempt=%" PRId64
            " ms=%" PRId64 "%s%s",
            d->row.id, masked, outcome_name(o->outcome), d->row.attempts,
            d->took, o->error ? " error=" : "",
            o->error ? log_q(o->error).s : "");
  }
  store_outbox_claim_free(&d->row);
  d->pending = false;
}

/* The rows in hand: claimed together, sent together, their outcomes
 * recorded together by the next claim. */
struct sender_batch {
  size_t n, max;
  struct sender_done *d;            /* max of them; d[0..n) in hand */
  struct store_outbox_claim *claims; /* max: where a claim lands */
  struct store_outbox_done *done;    /* max: the outcomes to record */
};

static void sender_batch_init(struct sender_batch *b, size_t max) {
  b->n = 0;
  b->max = max;
  b->d = xcalloc(max, sizeof *b->d);
  b->claims = xcalloc(max, sizeof *b->claims);
  b->done = xcalloc(max, sizeof *b->done);
}

static void sender_batch_free(struct sender_batch *b) {
  free(b->d);
  free(b->claims);
  free(b->done);
}

/* The earliest lease among the outcomes in hand: recording is worth
 * retrying on a busy database until then. */
static int64_t sender_batch_lease(const struct sender_batch *b) {
  int64_t until = INT64_MAX;
  for (size_t i = 0; i < b->n; i++)
    if (b->d[i].pending && b->d[i].row.lease_until < until)
      until = b->d[i].row.lease_until;
  return until;
}

/* Gathers the outcomes in hand into b->done; returns how many. */
static size_t sender_batch_outcomes(struct sender_batch *b) {
  size_t k = 0;
  for (size_t i = 0; i < b->n; i++)
    if (b->d[i].pending)
      b->done[k++] = b->d[i].done;
  return k;
}

/* Logs how each recording went and lets the rows go. */
static void sender_batch_logged(struct sender *s, struct sender_batch *b) {
  size_t k = 0;
  for (size_t i = 0; i < b->n; i++) {
    if (!b->d[i].pending)
      continue;
    b->d[i].done.recorded = b->done[k++].recorded;
    sender_done_log(s, &b->d[i]);
  }
  b->n = 0;
}

/* Records the outcomes in hand (if any) and, when next is true, claims up
 * to batch_size due rows into b in the same transaction. The messages are
 * out (or not): recording them matters more than a busy database, so keep
 * trying while their leases hold. Returns the claim's result
 * (STORE_NOT_FOUND: nothing due, or next was false). */
static enum store_rc sender_record_claim(struct sender *s,
                                         struct sender_batch *b, bool next) {
  size_t ndone = sender_batch_outcomes(b), claimed = 0;
  int64_t lease_end = sender_batch_lease(b);
  enum store_rc rc;

  if (!next && ndone == 0)
    return STORE_NOT_FOUND;
  for (;;) {
    rc = store_outbox_record_claim_batch(
        s->store, s->owner, b->done, ndone, now_ms(), s->lease_ms,
        s->conf->sender.max_attempts, b->claims, next ? b->max : 0, &claimed);
    if (ndone == 0 || rc != STORE_BUSY || now_ms() >= lease_end)
      break;
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  sender_batch_logged(s, b);
  if (!next)
    return STORE_NOT_FOUND;
  for (size_t i = 0; i < claimed; i++)
    b->d[i] = (struct sender_done){.row = b->claims[i]};
  b->n = claimed;
  return rc;
}

/* Makes final the due rows that must not be sent (expired, out of
 * attempts); claims pass them over. It walks every due row, so it runs
 * when nothing is left to claim and once a second while draining. */
static void sender_close_due(struct sender *s) {
  int64_t closed = 0;
  enum store_rc rc = store_outbox_close_due(s->store, now_ms(),
                                            s->conf->sender.max_attempts,
                                            &closed);
  if (rc != STORE_OK)
    sender_store_failed(s, "close_due_failed", rc);
  else if (closed)
    log_info("event=closed_due messages=%" PRId64
             " why=\"expired or out of attempts\"",
             closed);
}

/* The SMS as it goes out: the row's masked text with its sealed code
 * opened into place. NULL (why says so) when the code does not open. */
static char *sender_open_text(struct sender *s,
                              const struct store_outbox_claim *row,
                              const char **why) {
  char code[OTP_MAX_LENGTH + 1];
  const struct secret_key *key = secret_find_or_reload(
      &s->keys, s->conf->otp.secret_file, row->key_id);
  if (key == NULL) {
    *why = "the code was sealed with a secret no longer in the secret file";
    return NULL;
  }
  if (!otp_open_code(key, row->sealed, row->sealed_len, code) ||
      strlen(code) != row->code_length ||
      row->code_offset + row->code_length > strlen(row->text)) {
    *why = "the sealed code does not open";
    return NULL;
  }
  char *text = xstrdup(row->text);
  memcpy(text + row->code_offset, code, row->code_length);
  sodium_memzero(code, sizeof code);
  return text;
}

/* What happened to a row that never reached the transport. */
static void sender_not_sent(struct store_outbox_result *outcome,
                            enum store_outbox_outcome what, const char *why) {
  memset(outcome, 0, sizeof *outcome);
  outcome->outcome = what;
  outcome->error = why;
}

/* Pings the watchdog and writes the heartbeat when they are due: from the
 * loop, and from the transport while a batch is out (a batch may last
 * several send timeouts; sendOtp must not think the sender dead). */
static void sender_tick(void *ctx) {
  struct sender *s = ctx;
  int64_t mono = monotonic_ms();
  if (mono >= s->next_watchdog) { /* systemd's, when WatchdogSec= is set */
    notify_watchdog();
    s->next_watchdog = mono + s->watchdog_every;
  }
  if (mono >= s->next_heartbeat) {
    sender_heartbeat(s);
    s->next_heartbeat = mono + s->hb_every;
  }
}

/* Readies d's row for the batch: its code opened into msg->text, or its
 * outcome decided here when it must not go (expired, code does not open).
 * Returns whether it goes to the transport. */
static bool sender_prepare(struct sender *s, struct sender_done *d,
                           struct transport_msg *msg) {
  const struct store_outbox_claim *row = &d->row;
  const char *why = NULL;
  char *text;

  d->done.id = row->id;
  d->pending = true;
  if (now_ms() >= row->expires_at) {
    /* It expired between the claim and now: never send a dead code. */
    sender_not_sent(&d->done.result, STORE_OUTBOX_EXPIRED,
                    "the code expired before it could be sent");
    return false;
  }
  if ((text = sender_open_text(s, row, &why)) == NULL) {
    sender_not_sent(&d->done.result, STORE_OUTBOX_FAILED, why);
    return false;
  }
  *msg = (struct transport_msg){
      .id = row->id,
      .destination = row->destination,
      .text = text,
      .code_offset = row->code_offset,
      .code_length = row->code_length,
      .expires_at = row->expires_at,
  };
  return true;
}

/* What the transport said about d's row becomes its outcome, and the
 * opened code is wiped. */
static void sender_judge(struct sender *s, struct sender_done *d,
                         struct transport_msg *msg,
                         const struct transport_result *res, int64_t took) {
  char *text = (char *)msg->text;
  d->res = *res;
  d->took = took;
  if (res->expired) {
    /* It waited for a free slot past its code's expiry: never sent. */
    sender_not_sent(&d->done.result, STORE_OUTBOX_EXPIRED,
                    "the code expired before it could be sent");
  } else {
    sender_decide(s->conf, &d->row, &d->res, now_ms(), &d->done.result,
                  d->why, sizeof d->why);
    sender_gateway_said(s, d->res.status);
  }
  sodium_memzero(text, strlen(text));
  free(text);
}

/* Sends the claimed rows (unless a code expired meanwhile) with up to
 * [sender] concurrency in flight, and keeps their outcomes in b for the
 * next claim to record. Each row's ms is the batch's: the transport
 * returns when the last send has ended. */
static void sender_send(struct sender *s, struct sender_batch *b) {
  struct transport_msg *msgs = xcalloc(b->n, sizeof *msgs);
  struct transport_result *res = xcalloc(b->n, sizeof *res);
  size_t *which = xcalloc(b->n, sizeof *which), m = 0;
  int64_t started = monotonic_ms();

  for (size_t i = 0; i < b->n; i++)
    if (sender_prepare(s, &b->d[i], &msgs[m]))
      which[m++] = i;
  if (m > 0)
    transport_send_batch(s->transport, msgs, res, m,
                         (size_t)s->conf->sender.concurrency, sender_tick, s);
  int64_t took = monotonic_ms() - started;
  for (size_t k = 0; k < m; k++)
    sender_judge(s, &b->d[which[k]], &msgs[k], &res[k], took);
  free(which);
  free(res);
  free(msgs);
}

/* How long to sleep: the poll interval, or less when a row falls due or a
 * heartbeat (or the watchdog's ping) is due sooner. */
static int sender_wait_ms(struct sender *s, int64_t next_heartbeat) {
  int64_t wait = s->conf->sender.poll_interval_ms, when;
  if (store_outbox_next_due(s->store, &when) == STORE_OK) {
    int64_t due = when - now_ms();
    if (due < wait)
      wait = due;
  }
  int64_t hb = next_heartbeat - monotonic_ms();
  if (hb < wait)
    wait = hb;
  /* Never spin, even if the clock and the rows disagree. */
  return wait < 5 ? 5 : (int)wait;
}

/* Sleeps ms, or until a stop signal: no wake-up ends it. */
static void sender_pause(struct sender *s, int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  ppoll(NULL, 0, &ts, &s->wait_mask);
}

/* Sleeps ms, or until woken: by the wake datagram of a worker on this
 * machine, or by the store (PostgreSQL: a NOTIFY from sendOtp's commit on
 * any machine). A wake-up that came in with a statement's answer is
 * already read: no sleep then. */
static void sender_wait(struct sender *s, int ms) {
  if (store_wake_drain(s->store))
    return;
  struct pollfd pfd[2] = {{.fd = s->wake_fd, .events = POLLIN},
                          {.fd = store_wake_fd(s->store), .events = POLLIN}};
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  int n = ppoll(pfd, 2, &ts, &s->wait_mask);
  if (n > 0 && (pfd[0].revents & POLLIN))
    wake_drain(s->wake_fd);
  if (n > 0 && pfd[1].revents)
    store_wake_drain(s->store);
}

static enum sender_rc sender_loop(struct sender *s, bool once) {
  const struct conf *conf = s->conf;
  int64_t hk_every = conf->sender.housekeeping_interval_seconds * 1000;
  int64_t next_housekeeping = monotonic_ms() + hk_every;
  int64_t next_close = monotonic_ms() + CLOSE_DUE_EVERY_MS;
  s->hb_every = conf->sender.heartbeat_seconds * 1000;
  s->next_heartbeat = monotonic_ms() + s->hb_every;
  s->watchdog_every = once ? 0 : notify_watchdog_every_ms(false, NULL);
  s->next_watchdog = s->watchdog_every ? monotonic_ms() : INT64_MAX;
  struct sender_batch b;
  enum sender_rc result = SENDER_OK;

  sender_batch_init(&b, (size_t)conf->sender.batch_size);
  sender_heartbeat(s);
  sender_housekeeping(s);
  for (;;) {
    sender_take_signals(s);
    if (stop_requested) {
      if (!once)
        notify_stopping();
      break;
    }
    int64_t mono = monotonic_ms();
    sender_tick(s);
    if (mono >= next_housekeeping) {
      sender_housekeeping(s);
      next_housekeeping = mono + hk_every;
    }
    if (mono >= next_close) {
      sender_close_due(s);
      next_close = mono + CLOSE_DUE_EVERY_MS;
    }
    /* One transaction records the last batch and claims the next. */
    enum store_rc rc = sender_record_claim(s, &b, true);
    if (rc == STORE_OK || rc == STORE_NOT_FOUND)
      sender_store_works(s);
    if (rc == STORE_OK) {
      sender_send(s, &b);
      /* A full batch: more are waiting, claim at once. A partial one
       * emptied the queue: let what comes meanwhile gather into the next
       * batch, one commit for many (SMS are sent, only not yet recorded). */
      if (b.n < b.max && !once && conf->sender.gather_ms > 0)
        sender_pause(s, (int)conf->sender.gather_ms);
      continue; /* drain: more may be due */
    }
    if (rc == STORE_NOT_FOUND) {
      sender_close_due(s);
      next_close = monotonic_ms() + CLOSE_DUE_EVERY_MS;
      if (once)
        break;
    } else {
      sender_store_failed(s, "claim_failed", rc);
      if (once) {
        result = SENDER_ESTORE;
        break;
      }
    }
    sender_wait(s, sender_wait_ms(s, s->next_heartbeat < s->next_watchdog
                                         ? s->next_heartbeat
                                         : s->next_watchdog));
  }
  /* Stopping with messages sent but not recorded: record them alone. */
  sender_record_claim(s, &b, false);
  sender_batch_free(&b);
  return result;
}

enum sender_rc sender_run(const struct conf *conf,
                          const struct sender_options *opt, char *err,
                          size_t errsz) {
  struct sender s = {.conf = conf, .wake_fd = -1};
  enum sender_rc rc = SENDER_OK;

  s.started_at = now_ms();
  s.lease_ms = sender_lease_ms(conf);
  sender_owner_id(s.owner, sizeof s.owner);
  char why[512];
  if (!secret_load(conf->otp.secret_file, &s.keys, why, sizeof why)) {
    snprintf(err, errsz, "%s: [otp] secret_file: %s", conf->file, why);
    return SENDER_ESECRET;
  }
  if ((s.store = store_open(conf, false, err, errsz)) == NULL) {
    secret_free(&s.keys);
    return SENDER_ESTORE;
  }
  if ((s.transport = transport_open(conf, err, errsz)) == NULL) {
    rc = SENDER_ETRANSPORT;
    goto out;
  }
  if (!sender_signals(&s)) {
    snprintf(err, errsz, "cannot install signal handlers: %s", strerror(errno));
    rc = SENDER_ESIGNALS;
    goto out;
  }
  /* A --once run must not take the wake-up socket from a running daemon. */
  if (!opt->once && conf->sender.wake_socket[0]) {
    s.wake_fd = wake_listen(conf->sender.wake_socket);
    if (s.wake_fd < 0)
      log_warn("event=wake_socket_failed path=%s error=%s poll_ms=%ld",
               log_q(conf->sender.wake_socket).s, log_q(strerror(errno)).s,
               conf->sender.poll_interval_ms);
  }
  log_info("event=started once=%s transport=%s owner=%s",
           opt->once ? "yes" : "no", transport_name(s.transport),
           log_q(s.owner).s);
  if (!opt->once)
    notify_ready(); /* Type=notify: the outbox is being drained */
  rc = sender_loop(&s, opt->once);
  /* Gone: no worker should count on this sender any more. A --once run
   * leaves its heartbeat, the way cron-only sending works (README). */
  if (!opt->once && store_sender_forget(s.store, s.owner) != STORE_OK)
    log_warn("event=heartbeat_remove_failed reason=%s",
             log_q(store_errmsg(s.store)).s);
  log_info("event=stopped");
  if (rc != SENDER_OK)
    snprintf(err, errsz, "%s", sender_strerror(rc));
out:
  if (s.wake_fd >= 0)
    close(s.wake_fd);
  transport_close(s.transport);
  store_close(s.store);
  secret_free(&s.keys);
  return rc;
}
