#include "config.h"

#include "fcgi_worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#include "log.h"
#include "util.h"

int fcgi_worker_fd0_is_fastcgi(void) { return !FCGX_IsCGI(); }

static const char *param(FCGX_Request *req, const char *name) {
  const char *v = FCGX_GetParam(name, req->envp);
  return v ? v : "";
}

/* SCRIPT_NAME + PATH_INFO, as most servers split it; else REQUEST_URI
 * without its query. Only the last segment matters. */
static void request_path(FCGX_Request *req, char *out, size_t outsz) {
  const char *script = param(req, "SCRIPT_NAME"), *info = param(req, "PATH_INFO");
  if (*script || *info) {
    snprintf(out, outsz, "%s%s", script, info);
    return;
  }
  snprintf(out, outsz, "%s", param(req, "REQUEST_URI"));
  char *q = strchr(out, '?');
  if (q)
    *q = '\0';
}

static const char *reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 412: return "Precondition Failed";
  case 413: return "Payload Too Large";
  case 415: return "Unsupported Media Type";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return "Error";
  }
}

/* The gate's reader: up to len bytes of the FastCGI stdin stream. */
static size_t read_stdin(void *ctx, char *buf, size_t len) {
  FCGX_Stream *in = ctx;
  size_t got = 0;
  while (got < len) {
    int n = FCGX_GetStr(buf + got, (int)(len - got), in);
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  return got;
}

static void write_response(FCGX_Request *req, const struct api_response *resp) {
  /* libfcgi's own printf lacks %zu: format the head here. */
  char head[512];
  int n = snprintf(head, sizeof head,
                   "Status: %d %s\r\n"
                   "Content-Type: %s\r\n"
                   "Cache-Control: no-store\r\n"
                   "Content-Length: %zu\r\n%s%s%s\r\n",
                   resp->status, reason(resp->status),
                   resp->content_type ? resp->content_type
                                      : "application/json; charset=utf-8",
                   resp->body.len,
                   resp->allow ? "Allow: " : "", resp->allow ? resp->allow : "",
                   resp->allow ? "\r\n" : "");
  FCGX_PutStr(head, n, req->out);
  FCGX_PutStr(resp->body.data ? resp->body.data : "", (int)resp->body.len,
              req->out);
}

static void handle_one(struct api *api, FCGX_Request *req) {
  struct api_response resp;
  char path[1024];
  double start = monotonic_seconds();

  request_path(req, path, sizeof path);
  struct http_request hr = {
      .verb = param(req, "REQUEST_METHOD"),
      .path = path,
      .content_type = FCGX_GetParam("CONTENT_TYPE", req->envp),
      .content_length = param(req, "CONTENT_LENGTH"),
      .read_body = read_stdin,
      .read_ctx = req->in,
  };
  api_handle(api, &hr, &resp);
  write_response(req, &resp);
  log_info("event=request method=%s requestId=%s result=%s status=%d ms=%.2f"
           "%s%s%s%s detail=%s",
           resp.method, log_q(resp.request_id).s, log_q(resp.outcome).s,
           resp.status, (monotonic_seconds() - start) * 1000.0,
           resp.error_id[0] ? " errorId=" : "", resp.error_id,
           resp.signer[0] ? " signer=" : "",
           resp.signer[0] ? log_q(resp.signer).s : "", log_q(resp.detail).s);
  api_response_free(&resp);
}

/* Stopping. libfcgi's way is FCGX_ShutdownPending(): the accept() in
 * progress returns and no other starts. A stop should not drop requests
 * already queued on the socket, though (with mod_fcgid or lighttpd's
 * bin-path each worker has a socket of its own, and what is queued there
 * is lost when it exits). So a stop with requests waiting lets the worker
 * take them; a timer looks every few milliseconds and shuts down once none
 * is waiting (a sibling on a shared socket may have taken them while this
 * worker blocks in accept()), or when draining has gone on for too long.
 * Without a timer (timer_create failed) a stop shuts down at once.
 * The socket's flags are left alone: under spawn-fcgi it is shared. */
static int stopping_listen_fd = -1;
/* When the request in hand began (monotonic ms), 0 between requests: read
 * by the watchdog's thread (otpgate-fcgi.c). */
static atomic_int_least64_t busy_since_ms;

int64_t fcgi_worker_busy_ms(void) {
  int64_t since = atomic_load(&busy_since_ms);
  return since ? monotonic_ms() - since : 0;
}

static timer_t stop_timer;
static bool stop_timer_ok;
static volatile sig_atomic_t drain_ticks;

#define DRAIN_TICK_NS (20 * 1000 * 1000) /* how often the timer looks */
#define DRAIN_MAX_TICKS 100              /* 2 s of draining at most */
#define DRAIN_MAX_REQUESTS 128           /* nor more than a listen queue */

static bool connection_waiting(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return fd >= 0 && poll(&p, 1, 0) == 1;
}

static void on_stop_timer(int sig) {
  (void)sig;
  if (!connection_waiting(stopping_listen_fd) ||
      ++drain_ticks > DRAIN_MAX_TICKS)
    FCGX_ShutdownPending();
}

void fcgi_worker_stop_accepting(void) {
  /* The timer runs until the worker exits: besides ending a drain, its
   * signal interrupts an accept() that began after the stop was asked for
   * (libfcgi reads a connection that closes without a request, then
   * accepts again, and a stop that came in between would wait forever). */
  struct itimerspec its = {.it_value = {.tv_nsec = DRAIN_TICK_NS},
                           .it_interval = {.tv_nsec = DRAIN_TICK_NS}};
  if (!connection_waiting(stopping_listen_fd))
    FCGX_ShutdownPending();
  if (stop_timer_ok)
    timer_settime(stop_timer, 0, &its, NULL);
}

int fcgi_worker_run(struct api *api, int listen_fd,
                    volatile sig_atomic_t *stop) {
  FCGX_Request req;
  struct sigaction sa = {.sa_handler = on_stop_timer}; /* no SA_RESTART */
  /* Its own signal: SIGALRM is the write queue's (store_sqlite_queue.h). */
  struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN};
  if (FCGX_Init() != 0 || FCGX_InitRequest(&req, listen_fd, 0) != 0) {
    log_error("event=start_failed error=\"cannot set up libfcgi\"");
    return 1;
  }
  sigemptyset(&sa.sa_mask);
  sigaction(SIGRTMIN, &sa, NULL);
  stop_timer_ok = timer_create(CLOCK_MONOTONIC, &sev, &stop_timer) == 0;
  stopping_listen_fd = listen_fd;
  if (*stop) /* asked before the handler knew the socket */
    fcgi_worker_stop_accepting();
  /* A stop signal interrupts accept() only: while a request is handled it
   * waits, so that it cannot cut short a read of the body. */
  sigset_t stop_signals, unblocked;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGQUIT); /* multiwatch's TERM (otpgate-fcgi.c) */
  sigaddset(&stop_signals, SIGRTMIN);
  int drained = 0;
  while (FCGX_Accept_r(&req) >= 0) {
    sigprocmask(SIG_BLOCK, &stop_signals, &unblocked);
    atomic_store(&busy_since_ms, monotonic_ms());
    handle_one(api, &req);
    FCGX_Finish_r(&req);
    atomic_store(&busy_since_ms, 0);
    sigprocmask(SIG_SETMASK, &unblocked, NULL);
    if (*stop && (!connection_waiting(listen_fd) ||
                  ++drained >= DRAIN_MAX_REQUESTS))
      break;
  }
  stopping_listen_fd = -1;
  if (stop_timer_ok)
    timer_delete(stop_timer);
  FCGX_Free(&req, 1);
  return 0;
}
