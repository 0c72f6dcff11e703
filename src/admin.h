/* otpgate-admin: the operator's tool. The program's main() only calls this,
 * so the tests drive every command in-process. */
#ifndef OTPGATE_ADMIN_H
#define OTPGATE_ADMIN_H

#include <stdio.h>

/* Runs one command line; returns the exit status (0 ok, 1 failed, 2 usage). */
int admin_main(int argc, char **argv, FILE *out, FILE *err);

/* The pgp commands (admin_pgp.c), with options of their own. */
int admin_pgp_main(int argc, char **argv, FILE *out, FILE *err);

#endif
