/* otpgate-sender: drains the outbox to the SMS gateway. Options and the
 * configuration here; the loop is sender_run() in sender.c. */
#include "config.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "program.h"
#include "sender.h"

static const char usage[] =
    "usage: otpgate-sender [-c PATH] [--once] [--allow-root]\n"
    "  -c, --config PATH  the configuration file (else $OTPGATE_CONFIG,\n"
    "                     else " OTPGATE_SYSCONFDIR "/otpgate/otpgate.conf)\n"
    "      --once         send what is due now, then exit\n"
    "      --allow-root   run even as root (it refuses by default)\n"
    "  -h, --help         this text\n"
    "  -V, --version      the version\n";

/* The transports' children inherit fds 0-2: make sure they are open, so a
 * pipe never lands on one of them. */
static void stdio_open(void) {
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
      abort();
}

int main(int argc, char **argv) {
  struct sender_options opt = {.once = false};
  const struct program_option options[] = {
      {"once", NULL, &opt.once, 0},
      {NULL, NULL, NULL, 0},
  };
  char err[1024];
  int status;

  stdio_open();
  struct conf *conf =
      program_start(argc, argv, "otpgate-sender", usage, options, &status);
  if (conf == NULL)
    return status;
  enum sender_rc rc = sender_run(conf, &opt, err, sizeof err);
  if (rc != SENDER_OK)
    log_error("event=exit error=%s", log_q(err).s);
  program_end(conf);
  return rc == SENDER_OK ? 0 : 1;
}
