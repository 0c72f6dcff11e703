#include "config.h"

#include "program.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "log.h"
#include "util.h"

#define PROGRAM_MAX_EXTRA 8

/* The command line into *config, *allow_root and extra's slots. Returns
 * -1 to go on, or the exit status. */
static int program_options(int argc, char **argv, const char *prog,
                           const char *usage,
                           const struct program_option *extra,
                           const char **config, bool *allow_root) {
  struct option longopts[PROGRAM_MAX_EXTRA + 5] = {
      {"config", required_argument, NULL, 'c'},
      {"allow-root", no_argument, NULL, 'r'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
  };
  char shortopts[8 + 2 * PROGRAM_MAX_EXTRA] = "c:hV";
  int n = 4, ch, index;
  for (int i = 0; i < PROGRAM_MAX_EXTRA && extra[i].name; i++) {
    longopts[n++] = (struct option){extra[i].name,
                                    extra[i].value ? required_argument
                                                   : no_argument,
                                    NULL, 1000 + i};
    if (extra[i].letter)
      snprintf(shortopts + strlen(shortopts), 3, "%c%s", extra[i].letter,
               extra[i].value ? ":" : "");
  }
  longopts[n] = (struct option){NULL, 0, NULL, 0};
  while ((ch = getopt_long(argc, argv, shortopts, longopts, &index)) != -1) {
    for (int i = 0; ch != 'c' && ch != 'h' && ch != 'V' && extra[i].name; i++)
      if (ch == extra[i].letter)
        ch = 1000 + i; /* -letter is --name */
    if (ch == 'c') {
      *config = optarg;
    } else if (ch == 'r') {
      *allow_root = true;
    } else if (ch == 'h') {
      fputs(usage, stdout);
      return 0;
    } else if (ch == 'V') {
      printf("%s %s\n", prog, PACKAGE_VERSION);
      return 0;
    } else if (ch >= 1000) {
      const struct program_option *o = &extra[ch - 1000];
      if (o->value)
        *o->value = optarg;
      else
        *o->flag = true;
    } else {
      fputs(usage, stderr);
      return 2;
    }
  }
  if (optind != argc) {
    fputs(usage, stderr);
    return 2;
  }
  return -1;
}

struct conf *program_start(int argc, char **argv, const char *prog,
                           const char *usage,
                           const struct program_option *extra, int *status) {
  char err[1024];
  const char *config = NULL;
  bool allow_root = false;
  if ((*status = program_options(argc, argv, prog, usage, extra, &config,
                                 &allow_root)) >= 0)
    return NULL;
  if (geteuid() == 0 && !allow_root) {
    fprintf(stderr,
            "%s: refusing to run as root: run it as an unprivileged user (the "
            "web server's, or one of its own), or give --allow-root\n",
            prog);
    *status = 2;
    return NULL;
  }
  *status = 1;
  if (sodium_init() < 0) {
    fprintf(stderr, "%s: libsodium failed to initialise\n", prog);
    return NULL;
  }
  struct conf *conf = conf_load(conf_resolve_path(config), err, sizeof err);
  if (conf == NULL) {
    fprintf(stderr, "%s: %s\n", prog, err);
    return NULL;
  }
  log_open(prog, conf->log.syslog);
  log_set_level(conf->log.level);
  *status = 0;
  return conf;
}

void program_end(struct conf *conf) {
  log_close();
  conf_free(conf);
}
