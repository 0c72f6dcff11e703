/* The worker's HTTP layer: the only code that knows FastCGI. It turns each
 * FastCGI request into an http_request (its params, and a reader of its
 * body) and the api_response back into a CGI response, one request at a
 * time. Every decision about the request is api_handle()'s. */
#ifndef OTPGATE_FCGI_WORKER_H
#define OTPGATE_FCGI_WORKER_H

#include <signal.h>
#include <stdint.h>

#include "api.h"

/* Whether fd 0 is a socket a FastCGI server handed us. */
int fcgi_worker_fd0_is_fastcgi(void);

/* Serves requests on listen_fd until *stop is set (by a signal handler that
 * also calls fcgi_worker_stop_accepting()), then serves what is already
 * queued and returns 0. */
int fcgi_worker_run(struct api *api, int listen_fd,
                    volatile sig_atomic_t *stop);
/* Async-signal-safe: the worker finishes the request in hand and the ones
 * queued on its socket, and accepts no more. */
void fcgi_worker_stop_accepting(void);
/* How long the request in hand has run (ms), 0 between requests; safe from
 * another thread. */
int64_t fcgi_worker_busy_ms(void);

#endif
