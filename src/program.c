#include "config.h"

#include "program.h"

#include <stdio.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "log.h"

struct conf *program_start(const char *prog, bool allow_root,
                           const char *config_path, int *status) {
  char err[1024];
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
  struct conf *conf = conf_load(conf_resolve_path(config_path), err, sizeof err);
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
