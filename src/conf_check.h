/* The configuration test (`otpgate-admin check`, `otpgate-fcgi -t`), like
 * `nginx -t`: everything a program will need at start-up and while it
 * runs, checked as the user running the test, every problem reported (not
 * only the first), and who owns each path it names, so that a web server
 * never respawns a worker that cannot start. */
#ifndef OTPGATE_CONF_CHECK_H
#define OTPGATE_CONF_CHECK_H

#include <stdio.h>

struct conf;

/* Whose needs to check. */
enum {
  CONF_CHECK_WORKER = 1, /* otpgate-fcgi: database, secret, payload keys, wake-ups */
  CONF_CHECK_SENDER = 2, /* otpgate-sender: database, secret, transport, wake socket */
};

/* Checks conf (already loaded) for the programs in `who` as the current
 * user, printing to out one line per finding: "ok: WHAT: ...",
 * "problem: WHAT: ..." or "note: ...", then "all is well" or "N
 * problem(s)". Returns the number of problems. */
int conf_check_run(const struct conf *conf, int who, FILE *out);

#endif
