/* The secrets: codes are stored only as a hash keyed with one, idempotency
 * fingerprints are keyed with one, and the outbox seals codes with a key
 * derived from one. Each has an id, recorded beside what it keyed, so that
 * a new secret can take over (`otpgate-admin secret rotate`) while the
 * older ones still verify and replay what they keyed until it ages out.
 *
 * The file ([otp] secret_file) holds one secret a line, "ID:MATERIAL",
 * MATERIAL at least SECRET_FILE_MIN bytes; '#' lines and blank lines are
 * ignored. A file of one line without an id (what otpgate made before
 * secrets had ids) is secret 1. New records use the highest id. */
#ifndef OTPGATE_SECRET_H
#define OTPGATE_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SECRET_KEY_LEN 32
#define SECRET_FILE_MIN 32 /* bytes of secret material a line */
#define SECRET_HASH_LEN 32
#define SECRET_MAX_KEYS 16

struct secret_key {
  int64_t id;
  unsigned char bytes[SECRET_KEY_LEN]; /* keys hashes: BLAKE2b of material */
  unsigned char seal[SECRET_KEY_LEN];  /* seals outbox codes: from bytes */
};

struct secret_keys {
  int n; /* ascending ids; keys[n - 1] is the newest */
  struct secret_key keys[SECRET_MAX_KEYS];
};

/* Reads the file. Refuses a missing file, a line with too little material,
 * a repeated or bad id, and a file that others can read or write
 * (group-readable at most). err names the file. */
bool secret_load(const char *path, struct secret_keys *keys, char *err,
                 size_t errsz);
/* The newest key: new codes, records and seals use it. */
const struct secret_key *secret_newest(const struct secret_keys *keys);
/* The key with that id, or NULL. */
const struct secret_key *secret_find(const struct secret_keys *keys,
                                     int64_t id);
/* secret_find(), and when the id is not among the keys (another process
 * rotated the file since they were read), the file read again first. */
const struct secret_key *secret_find_or_reload(struct secret_keys *keys,
                                               const char *path, int64_t id);
/* Wipes the keys. */
void secret_free(struct secret_keys *keys);

/* Creates the key file (secret 1: 64 random hex digits) unless it exists;
 * *created tells which. It is the caller's, mode 0600; given a group (not
 * (gid_t)-1) that the caller may give it, it becomes that group's, mode
 * 0640, for the workers and the sender that run as other users of the
 * group. */
bool secret_create(const char *path, gid_t group, bool *created, char *err,
                   size_t errsz);
/* Adds a new secret with the next id to the file (rewritten whole, same
 * owner and mode, renamed into place). *id gets the new id. */
bool secret_rotate(const char *path, int64_t *id, char *err, size_t errsz);

/* Keyed BLAKE2b-256 over the parts, each length-prefixed so that no two
 * different lists of parts hash alike. */
void secret_hash(const struct secret_key *key, const char *const *parts,
                 size_t nparts, unsigned char out[SECRET_HASH_LEN]);

#endif
