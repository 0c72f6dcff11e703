/* The secret key: codes are stored only as a hash keyed with it, and
 * idempotency fingerprints are keyed with it too. */
#ifndef OTPGATE_SECRET_H
#define OTPGATE_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SECRET_KEY_LEN 32
#define SECRET_FILE_MIN 32 /* bytes of secret material in the file */
#define SECRET_HASH_LEN 32

struct secret_key {
  unsigned char bytes[SECRET_KEY_LEN];
};

/* Reads the key file. Refuses a missing file, one shorter than
 * SECRET_FILE_MIN bytes (trailing white space aside), and one that others
 * can read or write (group-readable at most). err names the file. */
bool secret_load(const char *path, struct secret_key *key, char *err,
                 size_t errsz);
/* Creates the key file (64 random hex digits) unless it exists; *created
 * tells which. It is the caller's, mode 0600; given a group (not
 * (gid_t)-1) that the caller may give it, it becomes that group's, mode
 * 0640, for workers that run as another user of the group. */
bool secret_create(const char *path, gid_t group, bool *created, char *err,
                   size_t errsz);

/* Keyed BLAKE2b-256 over the parts, each length-prefixed so that no two
 * different lists of parts hash alike. */
void secret_hash(const struct secret_key *key, const char *const *parts,
                 size_t nparts, unsigned char out[SECRET_HASH_LEN]);

#endif
