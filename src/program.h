/* The start-up that otpgate-fcgi and otpgate-sender share: the common
 * options, the root policy, libsodium, the configuration and the log. */
#ifndef OTPGATE_PROGRAM_H
#define OTPGATE_PROGRAM_H

#include <stdbool.h>

struct conf;

/* An option of one program beyond the common ones (-c/--config PATH,
 * --allow-root, -h/--help, -V/--version): --name with a value (stored in
 * *value) or a flag (sets *flag), and -letter too when letter is not 0.
 * The list ends with a NULL name. */
struct program_option {
  const char *name;
  const char **value;
  bool *flag;
  char letter;
};

/* Reads the command line; refuses root unless --allow-root (the worker
 * and the sender face the network and hold secrets); initialises
 * libsodium; loads the configuration (conf_resolve_path() of -c) and opens
 * the log under prog's name at the configured level. Returns NULL when
 * the program is to exit with *status: after --help or --version (0), a
 * bad command line (2, usage on stderr), or a failure said on stderr. */
struct conf *program_start(int argc, char **argv, const char *prog,
                           const char *usage,
                           const struct program_option *extra, int *status);
/* Closes the log and frees the configuration. */
void program_end(struct conf *conf);

#endif
