/* A small FastCGI client for the tests: it plays the web server, sending
 * real FastCGI records to a running otpgate-fcgi over its socket. */
#ifndef OTPGATE_TESTS_FCGI_CLIENT_H
#define OTPGATE_TESTS_FCGI_CLIENT_H

#include <stddef.h>

struct th_fcgi_reply {
  int status;       /* from the Status: header (200 when absent) */
  char *headers;    /* the CGI header block */
  char *body;       /* NUL-terminated */
  size_t body_len;
};

/* socket_path: a unix socket path, or 127.0.0.1:PORT.
 * params: "NAME=VALUE" strings, NULL-terminated. Returns 0, or -1 when the
 * connection failed or the reply was not a complete FastCGI response. */
int th_fcgi_call(const char *socket_path, const char *const *params,
              const char *body, size_t body_len, struct th_fcgi_reply *out);
void th_fcgi_reply_free(struct th_fcgi_reply *r);
/* Why the last th_fcgi_call() failed ("connect: ...", "read header: ..."). */
const char *th_fcgi_last_error(void);

/* A POST of body to path with Content-Type application/json. */
int th_fcgi_post(const char *socket_path, const char *path, const char *body,
              struct th_fcgi_reply *out);

/* Starts otpgate-fcgi on DIR/fcgi.sock with the given config and waits
 * until it accepts; returns its pid. */
int th_worker_start(const char *config_path, char *socket_out, size_t socksz);
/* The account the worker tests use, and its association. */
#define TH_TEST_ACCOUNT "acct-1"
#define TH_TEST_PHONE "+918067218010"
#define TH_TEST_ASSOCIATION "assoc-1"

/* Writes the test configuration (extra appended; the sender's heartbeat
 * check off unless extra sets heartbeat_max_age_seconds), creates the
 * database with the test account and association through otpgate-admin,
 * and starts a worker on it. Returns its pid. */
int th_test_worker(const char *extra, char *socket_out, size_t socksz);

/* SIGTERM, then waits; returns the exit status (or -1). */
int th_worker_stop(int pid);

#endif
