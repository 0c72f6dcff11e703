#include "config.h"

#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"

#define SECRET_FILE_MAX 65536

/* Reads the whole file (owner and group only) into a NUL-terminated
 * malloc'd buffer; *sb gets its status. */
static char *secret_read(const char *path, struct stat *sb, char *err,
                         size_t errsz) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  char *raw = NULL;
  if (fd < 0) {
    snprintf(err, errsz, "%s: cannot open: %s (create it with 'otpgate-admin init')",
             path, strerror(errno));
    return NULL;
  }
  if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
    snprintf(err, errsz, "%s: not a regular file", path);
    goto out;
  }
  if (sb->st_mode & (S_IRWXO | S_IWGRP)) {
    snprintf(err, errsz,
             "%s: others can read or write it (mode %04o): chmod 0600 or 0640",
             path, (unsigned)(sb->st_mode & 07777));
    goto out;
  }
  raw = xmalloc(SECRET_FILE_MAX + 1);
  ssize_t n = read(fd, raw, SECRET_FILE_MAX + 1);
  if (n < 0 || n > SECRET_FILE_MAX) {
    snprintf(err, errsz, "%s: cannot read: %s", path,
             n < 0 ? strerror(errno) : "larger than 64 KiB");
    sodium_memzero(raw, SECRET_FILE_MAX + 1);
    free(raw);
    raw = NULL;
    goto out;
  }
  raw[n] = '\0';
out:
  close(fd);
  return raw;
}

static void wipe(char *raw) {
  if (raw) {
    sodium_memzero(raw, strlen(raw));
    free(raw);
  }
}

/* "ID:" at the start of line: the id, and where the material starts. */
static bool line_id(const char *line, int64_t *id, const char **material) {
  const char *colon = strchr(line, ':');
  char digits[24];
  uint64_t v;
  size_t n = colon ? (size_t)(colon - line) : 0;
  if (n == 0 || n >= sizeof digits)
    return false;
  memcpy(digits, line, n);
  digits[n] = '\0';
  if (!parse_u64(digits, &v) || v == 0 || v > INT32_MAX)
    return false;
  *id = (int64_t)v;
  *material = colon + 1;
  return true;
}

static bool add_key(struct secret_keys *keys, int64_t id, const char *material,
                    size_t len, const char *path, char *err, size_t errsz) {
  static const char seal_label[] = "otpgate outbox seal";
  if (len < SECRET_FILE_MIN) {
    snprintf(err, errsz, "%s: secret %lld too short (%zu bytes, at least %d)",
             path, (long long)id, len, SECRET_FILE_MIN);
    return false;
  }
  if (keys->n == SECRET_MAX_KEYS) {
    snprintf(err, errsz, "%s: more than %d secrets", path, SECRET_MAX_KEYS);
    return false;
  }
  if (keys->n > 0 && id <= keys->keys[keys->n - 1].id) {
    snprintf(err, errsz, "%s: secret %lld: ids must grow line by line", path,
             (long long)id);
    return false;
  }
  struct secret_key *k = &keys->keys[keys->n++];
  k->id = id;
  /* Whatever the material is (hex, base64, raw), the key is its hash. */
  crypto_generichash(k->bytes, SECRET_KEY_LEN, (const unsigned char *)material,
                     len, NULL, 0);
  crypto_generichash(k->seal, SECRET_KEY_LEN,
                     (const unsigned char *)seal_label, sizeof seal_label - 1,
                     k->bytes, SECRET_KEY_LEN);
  return true;
}

static size_t trimmed_length(const char *s, size_t n) {
  while (n > 0 && strchr("\r\n \t", s[n - 1]))
    n--;
  return n;
}

/* A file of lines with ids. */
static bool parse_lines(char *raw, struct secret_keys *keys, const char *path,
                        char *err, size_t errsz) {
  int lineno = 0;
  for (char *line = raw, *next; line; line = next) {
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    lineno++;
    size_t len = trimmed_length(line, strlen(line));
    int64_t id;
    const char *material;
    if (len == 0 || line[0] == '#')
      continue;
    line[len] = '\0';
    if (!line_id(line, &id, &material)) {
      snprintf(err, errsz, "%s: line %d: not ID:SECRET", path, lineno);
      return false;
    }
    if (!add_key(keys, id, material, strlen(material), path, err, errsz))
      return false;
  }
  if (keys->n == 0) {
    snprintf(err, errsz, "%s: no secret in it", path);
    return false;
  }
  return true;
}

/* Whether any line carries an id: else the whole file is one secret. */
static bool has_ids(const char *raw) {
  int64_t id;
  const char *material;
  for (const char *line = raw; line; line = strchr(line, '\n')) {
    if (*line == '\n')
      line++;
    if (line_id(line, &id, &material))
      return true;
  }
  return false;
}

bool secret_load(const char *path, struct secret_keys *keys, char *err,
                 size_t errsz) {
  struct stat sb;
  memset(keys, 0, sizeof *keys);
  char *raw = secret_read(path, &sb, err, errsz);
  if (raw == NULL)
    return false;
  bool ok;
  if (has_ids(raw)) {
    ok = parse_lines(raw, keys, path, err, errsz);
  } else {
    size_t len = trimmed_length(raw, strlen(raw));
    ok = add_key(keys, 1, raw, len, path, err, errsz);
    if (!ok && len < SECRET_FILE_MIN)
      snprintf(err, errsz, "%s: too short (%zu bytes, at least %d)", path, len,
               SECRET_FILE_MIN);
  }
  wipe(raw);
  if (!ok)
    secret_free(keys);
  return ok;
}

const struct secret_key *secret_newest(const struct secret_keys *keys) {
  return keys->n > 0 ? &keys->keys[keys->n - 1] : NULL;
}

const struct secret_key *secret_find(const struct secret_keys *keys,
                                     int64_t id) {
  for (int i = 0; i < keys->n; i++)
    if (keys->keys[i].id == id)
      return &keys->keys[i];
  return NULL;
}

const struct secret_key *secret_find_or_reload(struct secret_keys *keys,
                                               const char *path, int64_t id) {
  const struct secret_key *k = secret_find(keys, id);
  struct secret_keys fresh;
  char err[512];
  if (k == NULL && secret_load(path, &fresh, err, sizeof err)) {
    secret_free(keys);
    *keys = fresh;
    secret_free(&fresh);
    k = secret_find(keys, id);
  }
  return k;
}

void secret_free(struct secret_keys *keys) {
  sodium_memzero(keys, sizeof *keys);
}

/* "ID:" and 64 random hex digits and a newline, into line. */
static void new_secret_line(int64_t id, char *line, size_t linesz) {
  unsigned char raw[32];
  char hex[2 * sizeof raw + 1];
  randombytes_buf(raw, sizeof raw);
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  snprintf(line, linesz, "%lld:%s\n", (long long)id, hex);
  sodium_memzero(raw, sizeof raw);
  sodium_memzero(hex, sizeof hex);
}

bool secret_create(const char *path, gid_t group, bool *created, char *err,
                   size_t errsz) {
  char line[128];
  *created = false;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return true;
    snprintf(err, errsz, "%s: cannot create: %s", path, strerror(errno));
    return false;
  }
  new_secret_line(1, line, sizeof line);
  /* Still 0600 if the group cannot be given: the caller sees the mode. */
  if (group != (gid_t)-1 && fchown(fd, (uid_t)-1, group) == 0)
    (void)fchmod(fd, 0640);
  bool ok = write_all(fd, line, strlen(line)) && fsync(fd) == 0;
  if (!ok)
    snprintf(err, errsz, "%s: cannot write: %s", path, strerror(errno));
  close(fd);
  sodium_memzero(line, sizeof line);
  if (!ok)
    unlink(path);
  *created = ok;
  return ok;
}

/* Writes text to a new file beside path with path's owner and mode,
 * synced, and renames it over path. */
static bool replace_file(const char *path, const struct stat *sb,
                         const char *text, char *err, size_t errsz) {
  char *tmp = xasprintf("%s.new-XXXXXX", path);
  int fd = mkostemp(tmp, O_CLOEXEC);
  bool ok = fd >= 0 && fchmod(fd, sb->st_mode & 0777) == 0 &&
            (geteuid() != 0 || fchown(fd, sb->st_uid, sb->st_gid) == 0) &&
            write_all(fd, text, strlen(text)) && fsync(fd) == 0;
  if (fd >= 0)
    close(fd);
  if (ok && rename(tmp, path) != 0)
    ok = false;
  if (!ok) {
    snprintf(err, errsz, "%s: cannot rewrite it: %s", path, strerror(errno));
    if (fd >= 0)
      unlink(tmp);
  }
  free(tmp);
  return ok;
}

bool secret_rotate(const char *path, int64_t *id, char *err, size_t errsz) {
  struct secret_keys keys;
  struct stat sb;
  char line[128];
  if (!secret_load(path, &keys, err, errsz))
    return false;
  *id = secret_newest(&keys)->id + 1;
  secret_free(&keys);
  char *raw = secret_read(path, &sb, err, errsz);
  if (raw == NULL)
    return false;
  struct buf text = {0};
  size_t len = trimmed_length(raw, strlen(raw));
  if (!has_ids(raw)) {
    /* One secret without an id: it stays secret 1, material unchanged. */
    if (memchr(raw, '\n', len)) {
      snprintf(err, errsz, "%s: a secret of several lines without an id: "
                           "write it as 1:SECRET on one line first", path);
      wipe(raw);
      return false;
    }
    buf_appends(&text, "1:");
  }
  buf_append(&text, raw, len);
  buf_appends(&text, "\n");
  new_secret_line(*id, line, sizeof line);
  buf_appends(&text, line);
  bool ok = replace_file(path, &sb, text.data, err, errsz);
  sodium_memzero(line, sizeof line);
  sodium_memzero(text.data, text.len);
  buf_free(&text);
  wipe(raw);
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
