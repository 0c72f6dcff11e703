/* OpenPGP payloads on librnp. protocol.md's measured facts shape it:
 * integrity errors can come with a good signature and the whole plaintext
 * (so decryption errors decide first and the plaintext is thrown away),
 * librnp accepts a signature made before its key expired (so the signer's
 * validity is checked as of now here), a signed-only message reports no
 * protection (refused as not encrypted), and a small message can inflate a
 * thousandfold (the plaintext is capped while it is written). */
#include "config.h"

#include "payload_pgp.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <rnp/rnp.h>
#include <rnp/rnp_err.h>
#include <sodium.h>

#define FPR_LEN 40
#define MAX_KEYS 64

/* A set of key fingerprints (primary keys and subkeys alike). */
struct fpr_set {
  int n;
  char fpr[MAX_KEYS][FPR_LEN + 1];
};

struct pgp_ring {
  rnp_ffi_t ffi;
  struct fpr_set own;     /* every key of our key pairs */
  struct fpr_set own_primary;
  struct fpr_set signers; /* our primary keys that sign */
  struct fpr_set peers;   /* every key of the other side */
  struct fpr_set peer_primary;
};

static bool fpr_has(const struct fpr_set *s, const char *fpr) {
  for (int i = 0; i < s->n; i++)
    if (strcasecmp(s->fpr[i], fpr) == 0)
      return true;
  return false;
}

/* Kept upper-case, as gpg and librnp print them. */
static void fpr_add(struct fpr_set *s, const char *fpr) {
  if (s->n == MAX_KEYS || strlen(fpr) != FPR_LEN || fpr_has(s, fpr))
    return;
  for (int i = 0; i <= FPR_LEN; i++)
    s->fpr[s->n][i] = (char)toupper((unsigned char)fpr[i]);
  s->n++;
}

static bool set_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool set_err(char *err, size_t errsz, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errsz, fmt, ap);
  va_end(ap);
  return false;
}

/* librnp writes diagnostics of its own to stderr (Debian builds it with
 * them always on, whatever RNP_LOG_CONSOLE says), one or two lines for
 * each message it refuses. stderr is our log: while librnp works it points
 * at /dev/null. The programs are single-threaded, so no line of ours is
 * lost meanwhile. */
static int quiet_begin(void) {
  int saved = dup(STDERR_FILENO);
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (saved >= 0 && null >= 0)
    dup2(null, STDERR_FILENO);
  if (null >= 0)
    close(null);
  return saved;
}

static void quiet_end(int saved) {
  if (saved < 0)
    return;
  dup2(saved, STDERR_FILENO);
  close(saved);
}

/* The key with that fingerprint (destroy it after use), or NULL. */
static rnp_key_handle_t locate(struct pgp_ring *r, const char *fpr) {
  rnp_key_handle_t key = NULL;
  if (rnp_locate_key(r->ffi, "fingerprint", fpr, &key) != RNP_SUCCESS)
    return NULL;
  return key;
}

/* Until when (seconds since the epoch) the key may be used: its expiry,
 * its revocation, its primary key's; 0 when never. */
static uint64_t valid_until(rnp_key_handle_t key) {
  uint64_t till = 0;
  bool valid = false;
  if (rnp_key_is_valid(key, &valid) != RNP_SUCCESS || !valid ||
      rnp_key_valid_till64(key, &till) != RNP_SUCCESS)
    return 0;
  return till;
}

static bool usable_now(rnp_key_handle_t key) {
  return valid_until(key) > (uint64_t)time(NULL);
}

/* ---- loading ---- */

/* Files holding secret keys must not be readable by others. */
static bool file_private_enough(const char *path, bool secret, char *err,
                                size_t errsz) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    return set_err(err, errsz, "%s: %s", path, strerror(errno));
  if (secret && (sb.st_mode & (S_IRWXO | S_IWGRP)))
    return set_err(err, errsz,
                   "%s: others can read or write it (mode %04o): chmod 0600 "
                   "or 0640",
                   path, (unsigned)(sb.st_mode & 07777));
  return true;
}

/* Adds the fingerprints librnp's import results name to keys, and the
 * primary ones to primary. */
static void collect_imported(const char *results, struct fpr_set *keys,
                             struct fpr_set *primary, struct pgp_ring *r) {
  json_object *root = json_tokener_parse(results), *arr;
  if (root && json_object_object_get_ex(root, "keys", &arr))
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
      json_object *k = json_object_array_get_idx(arr, i), *f;
      if (!json_object_object_get_ex(k, "fingerprint", &f))
        continue;
      const char *fpr = json_object_get_string(f);
      fpr_add(keys, fpr);
      rnp_key_handle_t key = locate(r, fpr);
      bool is_primary = false;
      if (key && rnp_key_is_primary(key, &is_primary) == RNP_SUCCESS &&
          is_primary)
        fpr_add(primary, fpr);
      rnp_key_handle_destroy(key);
    }
  json_object_put(root);
}

static bool import_file(struct pgp_ring *r, const char *path, bool secret,
                        struct fpr_set *keys, struct fpr_set *primary,
                        char *err, size_t errsz) {
  rnp_input_t in = NULL;
  char *results = NULL;
  if (!file_private_enough(path, secret, err, errsz))
    return false;
  if (rnp_input_from_path(&in, path) != RNP_SUCCESS)
    return set_err(err, errsz, "%s: cannot read it", path);
  uint32_t flags = RNP_LOAD_SAVE_PUBLIC_KEYS |
                   (secret ? RNP_LOAD_SAVE_SECRET_KEYS : 0);
  int quiet = quiet_begin();
  rnp_result_t rc = rnp_import_keys(r->ffi, in, flags, &results);
  quiet_end(quiet);
  rnp_input_destroy(in);
  if (rc != RNP_SUCCESS)
    return set_err(err, errsz, "%s: not OpenPGP keys (%s)", path,
                   rnp_result_to_string(rc));
  int before = keys->n;
  collect_imported(results, keys, primary, r);
  rnp_buffer_destroy(results);
  if (keys->n == before)
    return set_err(err, errsz, "%s: holds no key", path);
  return true;
}

/* Imports each file of a comma-separated list. */
static bool import_list(struct pgp_ring *r, const char *list, bool secret,
                        struct fpr_set *keys, struct fpr_set *primary,
                        char *err, size_t errsz) {
  char *copy = xstrdup(list), *save = NULL;
  bool ok = true;
  for (char *f = strtok_r(copy, ",", &save); ok && f;
       f = strtok_r(NULL, ",", &save)) {
    while (*f == ' ')
      f++;
    if (*f)
      ok = import_file(r, f, secret, keys, primary, err, errsz);
  }
  free(copy);
  return ok;
}

/* Our keys must have their secret parts, unlocked (no passphrase: nothing
 * could type one in). */
static bool own_keys_usable(struct pgp_ring *r, char *err, size_t errsz) {
  for (int i = 0; i < r->own.n; i++) {
    rnp_key_handle_t key = locate(r, r->own.fpr[i]);
    bool secret = false, locked = false;
    rnp_key_have_secret(key, &secret);
    if (secret)
      rnp_key_is_protected(key, &locked);
    rnp_key_handle_destroy(key);
    if (!secret)
      return set_err(err, errsz, "key %s: no secret key in [pgp] secret_keys",
                     r->own.fpr[i]);
    if (locked)
      return set_err(err, errsz,
                     "key %s: locked by a passphrase (export it without one: "
                     "gpg --export-secret-keys after gpg --passwd)",
                     r->own.fpr[i]);
  }
  return true;
}

/* The signing keys: those named (comma-separated fingerprints), else all
 * our primary keys. */
static bool choose_signers(struct pgp_ring *r, const char *signing, char *err,
                           size_t errsz) {
  if (signing == NULL || *signing == '\0') {
    r->signers = r->own_primary;
    return true;
  }
  char *copy = xstrdup(signing), *save = NULL;
  bool ok = true;
  for (char *f = strtok_r(copy, ", ", &save); ok && f;
       f = strtok_r(NULL, ", ", &save)) {
    if (fpr_has(&r->own_primary, f))
      fpr_add(&r->signers, f);
    else
      ok = set_err(err, errsz, "[pgp] signing_keys: %s is none of our keys", f);
  }
  free(copy);
  return ok;
}

static rnp_result_t ffi_create(rnp_ffi_t *ffi) {
  rnp_result_t rc = rnp_ffi_create(ffi, "GPG", "GPG");
  if (rc == RNP_SUCCESS)
    rnp_ffi_set_log_fd(*ffi, -1);
  return rc;
}

struct pgp_ring *pgp_ring_load(const char *own_files, const char *peer_files,
                               const char *signing, char *err, size_t errsz) {
  struct pgp_ring *r = xcalloc(1, sizeof *r);
  if (ffi_create(&r->ffi) != RNP_SUCCESS) {
    free(r);
    set_err(err, errsz, "librnp failed to start");
    return NULL;
  }
  if (!import_list(r, own_files, true, &r->own, &r->own_primary, err, errsz) ||
      !own_keys_usable(r, err, errsz) ||
      !import_list(r, peer_files, false, &r->peers, &r->peer_primary, err,
                   errsz) ||
      !choose_signers(r, signing, err, errsz)) {
    pgp_ring_free(r);
    return NULL;
  }
  return r;
}

void pgp_ring_free(struct pgp_ring *r) {
  if (r == NULL)
    return;
  rnp_ffi_destroy(r->ffi);
  free(r);
}

/* ---- opening ---- */

struct capped {
  struct buf *out;
  size_t cap;
  bool over;
};

static bool write_capped(void *ctx, const void *buf, size_t len) {
  struct capped *c = ctx;
  if (c->out->len + len > c->cap) {
    c->over = true;
    return false;
  }
  buf_append(c->out, buf, len);
  return true;
}

static void verdict(struct payload_opened *out, enum payload_verdict v,
                    const char *why) {
  out->verdict = v;
  snprintf(out->why, sizeof out->why, "%s", why);
}

/* Decrypted by one of our keys, integrity-protected, and not a password's
 * doing. */
static bool properly_encrypted(rnp_op_verify_t op, const char **why) {
  char *mode = NULL;
  bool valid = false;
  rnp_recipient_handle_t used = NULL;
  rnp_op_verify_get_protection_info(op, &mode, NULL, &valid);
  rnp_op_verify_get_used_recipient(op, &used);
  bool none = mode == NULL || strcmp(mode, "none") == 0;
  bool plain_cfb = mode && strcmp(mode, "cfb") == 0;
  rnp_buffer_destroy(mode);
  if (none)
    *why = "the message is not encrypted";
  else if (plain_cfb || !valid)
    *why = "the message has no valid integrity protection (MDC)";
  else if (used == NULL)
    *why = "the message is not encrypted to any of our keys";
  else
    return true;
  return false;
}

static bool strong_hash(const char *hash) {
  return hash && (strcmp(hash, "SHA256") == 0 || strcmp(hash, "SHA384") == 0 ||
                  strcmp(hash, "SHA512") == 0);
}

/* A good signature by an allow-listed peer key usable now, with a strong
 * digest: its fingerprint into signer. */
static bool allow_listed_signature(struct pgp_ring *r, rnp_op_verify_t op,
                                   char *signer, size_t signersz) {
  size_t n = 0;
  rnp_op_verify_get_signature_count(op, &n);
  for (size_t i = 0; i < n; i++) {
    rnp_op_verify_signature_t sig = NULL;
    rnp_key_handle_t key = NULL;
    char *hash = NULL, *fpr = NULL;
    if (rnp_op_verify_get_signature_at(op, i, &sig) != RNP_SUCCESS)
      continue;
    bool good = rnp_op_verify_signature_get_status(sig) == RNP_SUCCESS &&
                rnp_op_verify_signature_get_hash(sig, &hash) == RNP_SUCCESS &&
                strong_hash(hash) &&
                rnp_op_verify_signature_get_key(sig, &key) == RNP_SUCCESS &&
                key && rnp_key_get_fprint(key, &fpr) == RNP_SUCCESS &&
                fpr_has(&r->peers, fpr) && usable_now(key);
    if (good)
      snprintf(signer, signersz, "%s", fpr);
    rnp_buffer_destroy(hash);
    rnp_buffer_destroy(fpr);
    rnp_key_handle_destroy(key);
    if (good)
      return true;
  }
  return false;
}

void pgp_open(struct pgp_ring *r, const unsigned char *msg, size_t len,
              size_t cap, struct buf *plain, struct payload_opened *out) {
  rnp_input_t in = NULL;
  rnp_output_t sink = NULL;
  rnp_op_verify_t op = NULL;
  struct capped c = {plain, cap, false};
  const char *why = NULL;

  memset(out, 0, sizeof *out);
  if (rnp_input_from_memory(&in, msg, len, false) != RNP_SUCCESS ||
      rnp_output_to_callback(&sink, write_capped, NULL, &c) != RNP_SUCCESS ||
      rnp_op_verify_create(&op, r->ffi, in, sink) != RNP_SUCCESS) {
    verdict(out, PAYLOAD_OUR_FAULT, "librnp could not set up a verification");
    goto done;
  }
  /* Signatures are ours to judge, after the decryption is judged. */
  rnp_op_verify_set_flags(op, RNP_VERIFY_IGNORE_SIGS_ON_DECRYPT);
  int quiet = quiet_begin();
  rnp_result_t rc = rnp_op_verify_execute(op);
  quiet_end(quiet);
  if (c.over)
    verdict(out, PAYLOAD_BAD_PLAINTEXT,
            "the decrypted request is larger than [pgp] max_plaintext_bytes");
  else if (rc != RNP_SUCCESS)
    verdict(out, PAYLOAD_BAD_ENCRYPTION,
            "the body is not an OpenPGP message encrypted to one of our "
            "keys, or it does not decrypt whole");
  else if (!properly_encrypted(op, &why))
    verdict(out, PAYLOAD_BAD_ENCRYPTION, why);
  else if (!allow_listed_signature(r, op, out->signer, sizeof out->signer))
    verdict(out, PAYLOAD_BAD_SIGNATURE,
            "no good signature (SHA-256 or stronger) by a live key of "
            "[pgp] google_keys");
  else
    verdict(out, PAYLOAD_OPENED, "opened");
done:
  if (out->verdict != PAYLOAD_OPENED && plain->data) {
    sodium_memzero(plain->data, plain->len);
    plain->len = 0;
  }
  rnp_op_verify_destroy(op);
  rnp_output_destroy(sink);
  rnp_input_destroy(in);
}

/* ---- sealing ---- */

/* Adds every usable key of the set as a recipient; returns how many. */
static int add_recipients(struct pgp_ring *r, rnp_op_encrypt_t op,
                          const struct fpr_set *primary) {
  int n = 0;
  for (int i = 0; i < primary->n; i++) {
    rnp_key_handle_t key = locate(r, primary->fpr[i]);
    if (key && usable_now(key) &&
        rnp_op_encrypt_add_recipient(op, key) == RNP_SUCCESS)
      n++;
    rnp_key_handle_destroy(key);
  }
  return n;
}

static int add_signers(struct pgp_ring *r, rnp_op_encrypt_t op) {
  int n = 0;
  for (int i = 0; i < r->signers.n; i++) {
    rnp_key_handle_t key = locate(r, r->signers.fpr[i]);
    if (key && usable_now(key) &&
        rnp_op_encrypt_add_signature(op, key, NULL) == RNP_SUCCESS)
      n++;
    rnp_key_handle_destroy(key);
  }
  return n;
}

static bool seal_to(struct pgp_ring *r, const struct fpr_set *recipients,
                    const char *text, size_t len, struct buf *out, char *err,
                    size_t errsz) {
  rnp_input_t in = NULL;
  rnp_output_t mem = NULL;
  rnp_op_encrypt_t op = NULL;
  uint8_t *data = NULL;
  size_t n = 0;
  bool ok = false;
  if (rnp_input_from_memory(&in, (const uint8_t *)text, len, false) != RNP_SUCCESS ||
      rnp_output_to_memory(&mem, 0) != RNP_SUCCESS ||
      rnp_op_encrypt_create(&op, r->ffi, in, mem) != RNP_SUCCESS) {
    set_err(err, errsz, "librnp could not set up the sealing");
    goto out;
  }
  if (add_recipients(r, op, recipients) == 0) {
    set_err(err, errsz, "no key to encrypt to is live (expired or revoked)");
    goto out;
  }
  if (add_signers(r, op) == 0) {
    set_err(err, errsz, "none of our signing keys is live");
    goto out;
  }
  rnp_result_t rc;
  int quiet = quiet_begin();
  if ((rc = rnp_op_encrypt_set_hash(op, "SHA384")) != RNP_SUCCESS ||
      (rc = rnp_op_encrypt_set_cipher(op, "AES256")) != RNP_SUCCESS ||
      (rc = rnp_op_encrypt_set_aead(op, "None")) != RNP_SUCCESS ||
      (rc = rnp_op_encrypt_execute(op)) != RNP_SUCCESS ||
      (rc = rnp_output_memory_get_buf(mem, &data, &n, false)) != RNP_SUCCESS) {
    quiet_end(quiet);
    set_err(err, errsz, "sealing failed: %s", rnp_result_to_string(rc));
    goto out;
  }
  quiet_end(quiet);
  buf_append(out, data, n);
  ok = true;
out:
  rnp_op_encrypt_destroy(op);
  rnp_output_destroy(mem);
  rnp_input_destroy(in);
  return ok;
}

bool pgp_seal(struct pgp_ring *r, const char *text, size_t len,
              struct buf *out, char *err, size_t errsz) {
  return seal_to(r, &r->peer_primary, text, len, out, err, errsz);
}

bool pgp_self_test(const char *own_files, const char *signing, char *err,
                   size_t errsz) {
  static const char probe[] = "{\"otpgate\":\"self-test\"}";
  /* Our keys on both sides: they must seal, decrypt and verify. */
  struct pgp_ring *r = pgp_ring_load(own_files, own_files, signing, err, errsz);
  struct buf sealed = {0}, plain = {0};
  struct payload_opened o;
  bool ok = false;
  if (r == NULL)
    return false;
  if (!seal_to(r, &r->own_primary, probe, sizeof probe - 1, &sealed, err,
               errsz))
    goto out;
  pgp_open(r, (const unsigned char *)sealed.data, sealed.len, 4096, &plain, &o);
  if (o.verdict != PAYLOAD_OPENED || plain.len != sizeof probe - 1 ||
      memcmp(plain.data, probe, plain.len) != 0) {
    set_err(err, errsz, "self-test: our keys cannot open what they seal: %s",
            o.why);
    goto out;
  }
  ok = true;
out:
  buf_free(&sealed);
  buf_free(&plain);
  pgp_ring_free(r);
  return ok;
}

/* ---- describing ---- */

/* Each key of the ring with what monitoring and the operator want to see;
 * until is 0 for a dead key, UINT64_MAX for one that never expires. */
void pgp_each_key(struct pgp_ring *r,
                     void (*fn)(void *ctx, const struct pgp_key_facts *k),
                     void *ctx) {
  const struct fpr_set *sets[] = {&r->own, &r->peers};
  for (int w = 0; w < 2; w++)
    for (int i = 0; i < sets[w]->n; i++) {
      struct pgp_key_facts k = {.fpr = sets[w]->fpr[i],
                                .whose = w ? "google" : "ours"};
      rnp_key_handle_t key = locate(r, k.fpr);
      if (key == NULL)
        continue;
      rnp_key_allows_usage(key, "sign", &k.sign);
      rnp_key_allows_usage(key, "encrypt", &k.encrypt);
      k.until = valid_until(key);
      rnp_key_handle_destroy(key);
      fn(ctx, &k);
    }
}


long pgp_days_left(const struct pgp_key_facts *k) {
  uint64_t now = (uint64_t)time(NULL);
  if (k->until == UINT64_MAX)
    return -1;
  return k->until > now ? (long)((k->until - now) / 86400) : 0;
}

struct describe_ctx {
  void (*line)(void *ctx, bool warn, const char *text);
  void *ctx;
};

static void describe_one(void *ctx, const struct pgp_key_facts *k) {
  struct describe_ctx *d = ctx;
  char text[256], use[32], expiry[32] = "never", days_left[24] = "-";
  long days = pgp_days_left(k);
  const char *status = days == 0 ? "expired or revoked"
                       : days >= 0 && days < 30 ? "expires soon"
                                                : "ok";
  snprintf(use, sizeof use, "%s%s%s", k->sign ? "sign" : "",
           k->sign && k->encrypt ? "," : "", k->encrypt ? "encrypt" : "");
  if (k->until == 0) {
    snprintf(expiry, sizeof expiry, "-");
  } else if (days >= 0) {
    time_t t = (time_t)k->until;
    strftime(expiry, sizeof expiry, "%Y-%m-%d", gmtime(&t));
    snprintf(days_left, sizeof days_left, "%ld", days);
  }
  snprintf(text, sizeof text,
           "key=%s whose=%s use=%s expires=%s days_left=%s status=%s", k->fpr,
           k->whose, use[0] ? use : "-", expiry, days_left, status);
  d->line(d->ctx, strcmp(status, "ok") != 0, text);
}

void pgp_describe(struct pgp_ring *r,
                  void (*line)(void *ctx, bool warn, const char *text),
                  void *ctx) {
  struct describe_ctx d = {line, ctx};
  pgp_each_key(r, describe_one, &d);
}

/* ---- generating ---- */

static bool export_key(rnp_key_handle_t key, const char *path, int mode,
                       uint32_t flags, char *err, size_t errsz) {
  rnp_output_t out = NULL;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return set_err(err, errsz, "%s: %s", path, strerror(errno));
  close(fd);
  bool ok = rnp_output_to_path(&out, path) == RNP_SUCCESS &&
            rnp_key_export(key, out, flags | RNP_KEY_EXPORT_SUBKEYS) ==
                RNP_SUCCESS &&
            rnp_output_finish(out) == RNP_SUCCESS;
  rnp_output_destroy(out);
  if (!ok) {
    unlink(path);
    return set_err(err, errsz, "%s: cannot write the key", path);
  }
  return chmod(path, (mode_t)mode) == 0 ||
         set_err(err, errsz, "%s: %s", path, strerror(errno));
}

/* Runs one key generation: primary (NULL) or a subkey of it. */
static bool generate_one(rnp_ffi_t ffi, rnp_key_handle_t primary,
                         unsigned bits, unsigned expires_days,
                         const char *uid, const char *usage,
                         rnp_key_handle_t *key) {
  rnp_op_generate_t op = NULL;
  bool ok =
      (primary ? rnp_op_generate_subkey_create(&op, ffi, primary, "RSA")
               : rnp_op_generate_create(&op, ffi, "RSA")) == RNP_SUCCESS &&
      rnp_op_generate_set_bits(op, bits) == RNP_SUCCESS &&
      rnp_op_generate_clear_usage(op) == RNP_SUCCESS &&
      rnp_op_generate_add_usage(op, usage) == RNP_SUCCESS &&
      rnp_op_generate_set_expiration(op, expires_days * 86400u) == RNP_SUCCESS &&
      (primary || rnp_op_generate_set_userid(op, uid) == RNP_SUCCESS) &&
      rnp_op_generate_execute(op) == RNP_SUCCESS &&
      rnp_op_generate_get_key(op, key) == RNP_SUCCESS;
  rnp_op_generate_destroy(op);
  return ok;
}

bool pgp_generate(const char *dir, unsigned bits, unsigned expires_days,
                  const char *uid, char *fingerprint, char *err, size_t errsz) {
  rnp_ffi_t ffi = NULL;
  rnp_key_handle_t primary = NULL, sub = NULL;
  char *fpr = NULL;
  char *sec = xasprintf("%s/integrator.sec", dir);
  char *pub = xasprintf("%s/integrator.pub.asc", dir);
  int quiet = quiet_begin();
  bool ok = ffi_create(&ffi) == RNP_SUCCESS;
  ok = ok && generate_one(ffi, NULL, bits, expires_days, uid, "sign", &primary) &&
       generate_one(ffi, primary, bits, expires_days, uid, "encrypt", &sub);
  quiet_end(quiet);
  if (!ok)
    set_err(err, errsz, "librnp could not generate the key pair");
  ok = ok && export_key(primary, sec, 0600, RNP_KEY_EXPORT_SECRET, err, errsz) &&
       export_key(primary, pub, 0644,
                  RNP_KEY_EXPORT_PUBLIC | RNP_KEY_EXPORT_ARMORED, err, errsz);
  if (ok && rnp_key_get_fprint(primary, &fpr) == RNP_SUCCESS)
    snprintf(fingerprint, FPR_LEN + 1, "%s", fpr);
  rnp_buffer_destroy(fpr);
  rnp_key_handle_destroy(sub);
  rnp_key_handle_destroy(primary);
  rnp_ffi_destroy(ffi);
  free(sec);
  free(pub);
  return ok;
}
