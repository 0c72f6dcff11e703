/* otpgate-fcgi: the FastCGI worker. One request at a time; run several. */
#include "config.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "conf.h"
#include "conf_check.h"
#include "fcgi_worker.h"
#include "listen_socket.h"
#include "log.h"
#include "notify.h"
#include "payload.h"
#include "program.h"

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig) {
  (void)sig;
  stop_requested = 1;
  fcgi_worker_stop_accepting();
}

/* One key of the payload layer: "key=FPR whose=... status=WORDS", whose
 * last value may hold spaces ("expires soon"): quoted here, so that the
 * line stays key=value. */
static void log_key(void *ctx, bool warn, const char *text) {
  (void)ctx;
  const char *status = strstr(text, " status=");
  int head = status ? (int)(status - text) : (int)strlen(text);
  log_msg(warn ? LOG_LVL_WARN : LOG_LVL_INFO, "event=pgp_key %.*s%s%s", head,
          text, status ? " status=" : "",
          status ? log_q(status + 8).s : "");
}

static int64_t watchdog_limit_ms;

/* Alive, for the watchdog: between requests, or not held by one request
 * for a whole WatchdogSec=. */
static bool worker_alive(void) {
  return fcgi_worker_busy_ms() < watchdog_limit_ms;
}

/* Under otpgate-fcgi.service (Type=notify, NotifyAccess=all): ready, and a
 * watchdog from a thread (the main one may wait in accept() for good).
 * Never STOPPING=1: one worker stopping is not the service stopping
 * (multiwatch starts another), but systemd would take it so. */
static void worker_notify_start(void) {
  /* READY=1 first: a ping from the thread must not come before it. */
  notify_ready();
  int64_t every = notify_watchdog_every_ms(true, &watchdog_limit_ms);
  if (every > 0 && !notify_watchdog_thread(every, worker_alive))
    log_warn("event=watchdog_failed error=\"cannot start its thread\"");
}

/* -t: the configuration test; exit 0 only when all is well. */
static int configuration_test(struct conf *conf) {
  int problems = conf_check_run(conf, CONF_CHECK_WORKER, stdout);
  printf("otpgate-fcgi: the configuration test %s\n",
         problems ? "failed" : "is successful");
  program_end(conf);
  return problems ? 1 : 0;
}

static const char usage[] =
    "usage: otpgate-fcgi [-c PATH] [--socket PATH|HOST:PORT] [--allow-root]\n"
    "       otpgate-fcgi -t [-c PATH]\n"
    "  -c, --config PATH  the configuration file (else $OTPGATE_CONFIG,\n"
    "                     else " OTPGATE_SYSCONFDIR "/otpgate/otpgate.conf)\n"
    "      --socket SPEC  listen on a unix socket PATH (one with a '/',\n"
    "                     made 0660) or on HOST:PORT;\n"
    "                     without it the listening socket is taken on\n"
    "                     fd 0, as spawn-fcgi, mod_fcgid and lighttpd\n"
    "                     hand it over\n"
    "  -t, --test         test the configuration (the database, the secret,\n"
    "                     the keys, the paths) as this user, then exit: 0\n"
    "                     when all is well\n"
    "      --allow-root   run even as root (it refuses by default)\n"
    "  -h, --help         this text\n"
    "  -V, --version      the version\n";

int main(int argc, char **argv) {
  const char *socket_spec = NULL;
  bool test = false;
  const struct program_option options[] = {
      {"socket", &socket_spec, NULL, 0},
      {"test", NULL, &test, 't'},
      {NULL, NULL, NULL, 0},
  };
  char err[1024];
  struct api api;
  int listen_fd = 0, status;

  /* Before anything else: a stop asked for during start-up is a clean
   * stop too. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal; /* no SA_RESTART: accept() is retried */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  /* multiwatch 1.0.0 (Debian 12) sends SIGQUIT for its `-s TERM`. */
  sigaction(SIGQUIT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct conf *conf =
      program_start(argc, argv, "otpgate-fcgi", usage, options, &status);
  if (conf == NULL)
    return status;
  if (test) /* like nginx -t: all a worker needs, as this user */
    return configuration_test(conf);
  if (!socket_spec && !fcgi_worker_fd0_is_fastcgi()) {
    fprintf(stderr, "otpgate-fcgi: fd 0 is not a FastCGI socket: run it under "
                    "spawn-fcgi, mod_fcgid or lighttpd, or give --socket\n");
    program_end(conf);
    return 2;
  }
  /* The database is opened here, after any fork by the process manager,
   * and before a socket of our own accepts anyone: a connection that gets
   * through finds the worker ready. */
  if (!api_init(&api, conf, err, sizeof err)) {
    log_error("event=start_failed error=%s", log_q(err).s);
    program_end(conf);
    return 1;
  }
  if (socket_spec &&
      (listen_fd = listen_socket_open(socket_spec, err, sizeof err)) < 0) {
    fprintf(stderr, "otpgate-fcgi: cannot listen on %s: %s\n", socket_spec,
            err);
    api_close(&api);
    program_end(conf);
    return 1;
  }

  if (api.metrics_error[0])
    log_warn("event=metrics_counters_off error=%s detail=\"the metrics route "
             "shows only what the database says\"",
             log_q(api.metrics_error).s);
  if (payload_is_sealed(api.payload))
    payload_describe_keys(api.payload, log_key, NULL);
  else
    log_warn("event=payload_plain detail=\"[payload] format = plain: requests "
             "and answers are plain JSON (Google seals them in production: "
             "format = pgp)\"");
  log_info("event=ready");
  worker_notify_start();
  status = stop_requested ? 0 : fcgi_worker_run(&api, listen_fd, &stop_requested);
  log_info("event=stopped status=%d", status);
  api_close(&api);
  program_end(conf);
  return status;
}
