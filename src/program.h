/* The start-up that otpgate-fcgi and otpgate-sender share. */
#ifndef OTPGATE_PROGRAM_H
#define OTPGATE_PROGRAM_H

#include <stdbool.h>

struct conf;

/* Refuses root unless allow_root (the worker and the sender face the
 * network and hold secrets), initialises libsodium, loads the
 * configuration (conf_resolve_path(config_path)) and opens the log under
 * prog's name at the configured level. On failure says why on stderr,
 * sets *status to the exit code and returns NULL. */
struct conf *program_start(const char *prog, bool allow_root,
                           const char *config_path, int *status);
/* Closes the log and frees the configuration. */
void program_end(struct conf *conf);

#endif
