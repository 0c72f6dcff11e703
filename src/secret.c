#include "config.h"

#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

bool secret_load(const char *path, struct secret_key *key, char *err,
                 size_t errsz) {
  unsigned char raw[4096];
  struct stat sb;
  ssize_t n;
  bool ok = false;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    snprintf(err, errsz, "%s: cannot open: %s (create it with 'otpgate-admin init')",
             path, strerror(errno));
    return false;
  }
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    snprintf(err, errsz, "%s: not a regular file", path);
    goto out;
  }
  if (sb.st_mode & (S_IRWXO | S_IWGRP)) {
    snprintf(err, errsz,
             "%s: others can read or write it (mode %04o): chmod 0600 or 0640",
             path, (unsigned)(sb.st_mode & 07777));
    goto out;
  }
  n = read(fd, raw, sizeof raw);
  if (n < 0) {
    snprintf(err, errsz, "%s: cannot read: %s", path, strerror(errno));
    goto out;
  }
  while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == '\r' ||
                   raw[n - 1] == ' ' || raw[n - 1] == '\t'))
    n--;
  if (n < SECRET_FILE_MIN) {
    snprintf(err, errsz, "%s: too short (%zd bytes, at least %d)", path, n,
             SECRET_FILE_MIN);
    goto out;
  }
  /* Whatever the file holds (hex, base64, raw), the key is its hash. */
  crypto_generichash(key->bytes, SECRET_KEY_LEN, raw, (size_t)n, NULL, 0);
  ok = true;
out:
  sodium_memzero(raw, sizeof raw);
  close(fd);
  return ok;
}

bool secret_create(const char *path, gid_t group, bool *created, char *err,
                   size_t errsz) {
  unsigned char raw[32];
  char hex[2 * sizeof raw + 2];
  *created = false;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return true;
    snprintf(err, errsz, "%s: cannot create: %s", path, strerror(errno));
    return false;
  }
  randombytes_buf(raw, sizeof raw);
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  size_t len = strlen(hex);
  hex[len++] = '\n';
  /* Still 0600 if the group cannot be given: the caller sees the mode. */
  if (group != (gid_t)-1 && fchown(fd, (uid_t)-1, group) == 0)
    (void)fchmod(fd, 0640);
  bool ok = write(fd, hex, len) == (ssize_t)len && fsync(fd) == 0;
  if (!ok)
    snprintf(err, errsz, "%s: cannot write: %s", path, strerror(errno));
  close(fd);
  sodium_memzero(raw, sizeof raw);
  sodium_memzero(hex, sizeof hex);
  if (!ok)
    unlink(path);
  *created = ok;
  return ok;
}

void secret_hash(const struct secret_key *key, const char *const *parts,
                 size_t nparts, unsigned char out[SECRET_HASH_LEN]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, key->bytes, SECRET_KEY_LEN, SECRET_HASH_LEN);
  for (size_t i = 0; i < nparts; i++) {
    const char *p = parts[i] ? parts[i] : "";
    uint64_t len = strlen(p);
    unsigned char lenbuf[8];
    for (int b = 0; b < 8; b++)
      lenbuf[b] = (unsigned char)(len >> (8 * b));
    /* NULL and "" differ: a NULL part is marked by a length of all ones. */
    if (parts[i] == NULL)
      memset(lenbuf, 0xff, sizeof lenbuf);
    crypto_generichash_update(&st, lenbuf, sizeof lenbuf);
    crypto_generichash_update(&st, (const unsigned char *)p, (size_t)len);
  }
  crypto_generichash_final(&st, out, SECRET_HASH_LEN);
}
