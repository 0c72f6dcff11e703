/* otpgate-fcgi: the FastCGI worker. One request at a time; run several. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "api.h"
#include "conf.h"
#include "fcgi_worker.h"
#include "log.h"

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig) {
  (void)sig;
  stop_requested = 1;
  fcgi_worker_shutdown();
}

static void usage(FILE *f) {
  fputs("usage: otpgate-fcgi [-c PATH] [--socket PATH|HOST:PORT]\n"
        "  -c PATH         configuration file (else $OTPGATE_CONFIG, else "
        OTPGATE_SYSCONFDIR "/otpgate/otpgate.conf)\n"
        "  --socket SPEC   listen on a unix socket PATH or HOST:PORT; without\n"
        "                  it the listening socket is taken on fd 0, as\n"
        "                  spawn-fcgi, mod_fcgid and lighttpd hand it over\n"
        "  -h, --help      this text;  -V, --version  the version\n",
        f);
}

int main(int argc, char **argv) {
  const char *config = NULL, *socket_spec = NULL;
  char err[1024];
  struct api api;
  int listen_fd = 0, status;

  for (int i = 1; i < argc; i++) {
    if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
        i + 1 < argc) {
      config = argv[++i];
    } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
      socket_spec = argv[++i];
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
      puts("otpgate-fcgi " PACKAGE_VERSION);
      return 0;
    } else {
      fprintf(stderr, "otpgate-fcgi: bad argument \"%s\"\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  /* Before the socket is bound: a SIGTERM that comes as soon as someone
   * can connect must stop the worker cleanly, not kill it. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal; /* no SA_RESTART: accept() must return */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (sodium_init() < 0) {
    fputs("otpgate-fcgi: libsodium failed to initialise\n", stderr);
    return 1;
  }
  struct conf *conf = conf_load(conf_resolve_path(config), err, sizeof err);
  if (conf == NULL) {
    fprintf(stderr, "otpgate-fcgi: %s\n", err);
    return 1;
  }
  log_open("otpgate-fcgi", conf->log.syslog);
  log_set_level((enum log_level)conf->log.level);
  if (socket_spec) {
    listen_fd = fcgi_worker_listen(socket_spec);
    if (listen_fd < 0) {
      log_error("cannot listen on %s", socket_spec);
      conf_free(conf);
      return 1;
    }
  } else if (!fcgi_worker_fd0_is_fastcgi()) {
    fprintf(stderr, "otpgate-fcgi: fd 0 is not a FastCGI socket: run it under "
                    "spawn-fcgi, mod_fcgid or lighttpd, or give --socket\n");
    conf_free(conf);
    return 2;
  }
  /* The database is opened here, after any fork by the process manager. */
  if (!api_init(&api, conf, err, sizeof err)) {
    log_error("%s", err);
    conf_free(conf);
    return 1;
  }

  log_info("ready (pid %ld)", (long)getpid());
  status = fcgi_worker_run(&api, listen_fd, &stop_requested);
  log_info("stopping");
  api_close(&api);
  conf_free(conf);
  log_close();
  return status;
}
