/* otpgate-sender: drains the outbox to the SMS gateway. Options and the
 * configuration here; the loop is sender_run() in sender.c. */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "program.h"
#include "sender.h"

static void usage(FILE *f) {
  fputs("usage: otpgate-sender [-c PATH] [--once] [--allow-root]\n"
        "  -c, --config PATH  the configuration file (else $OTPGATE_CONFIG,\n"
        "                     else " OTPGATE_SYSCONFDIR
        "/otpgate/otpgate.conf)\n"
        "      --once         send what is due now, then exit\n"
        "      --allow-root   run even as root (it refuses by default)\n"
        "  -h, --help         this text\n",
        f);
}

/* The transports' children inherit fds 0-2: make sure they are open, so a
 * pipe never lands on one of them. */
static void stdio_open(void) {
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
      abort();
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'},
      {"once", no_argument, NULL, 'o'},
      {"allow-root", no_argument, NULL, 'r'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  struct sender_options opt = {.once = false};
  const char *cli_path = NULL;
  bool allow_root = false;
  char err[1024];
  int ch;

  while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c':
      cli_path = optarg;
      break;
    case 'o':
      opt.once = true;
      break;
    case 'r':
      allow_root = true;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind != argc) {
    usage(stderr);
    return 2;
  }
  stdio_open();
  int status;
  struct conf *conf = program_start("otpgate-sender", allow_root, cli_path, &status);
  if (conf == NULL)
    return status;
  enum sender_rc rc = sender_run(conf, &opt, err, sizeof err);
  if (rc != SENDER_OK)
    log_error("%s", err);
  program_end(conf);
  return rc == SENDER_OK ? 0 : 1;
}
