/* The spool transport: one file per SMS in smstools3's outgoing directory.
 * smstools3 wants the number in international format without its '+'
 * ("To: 491721234567"), a blank line, then the text. The file is written
 * under a hidden temporary name, synced, then renamed, so smsd never reads
 * half a message; its name comes from the row id, so a retry of the same
 * row replaces the file rather than queueing a second SMS. The temporary
 * name is made by mkostemp() (random, created with O_EXCL): whoever else
 * may write in a shared spool directory cannot plant a file or a symlink
 * there for the sender to write the code into. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "transport.h"
#include "util.h"

struct spool_state {
  char *dir;
};

static void spool_close(void *state) {
  struct spool_state *sp = state;
  if (sp == NULL)
    return;
  free(sp->dir);
  free(sp);
}

static void *spool_open(const struct conf *conf, char *err, size_t errsz) {
  struct stat sb;
  /* A missing directory at start-up is a mistake in the configuration; if
   * it vanishes later, sends are retried until it is back. */
  const char *why = NULL;
  if (stat(conf->sender.spool_dir, &sb) != 0)
    why = strerror(errno);
  else if (!S_ISDIR(sb.st_mode))
    why = "not a directory";
  if (why) {
    snprintf(err, errsz, "%s: [sender] spool_dir: %s: %s", conf->file,
             conf->sender.spool_dir, why);
    return NULL;
  }
  struct spool_state *sp = xcalloc(1, sizeof *sp);
  sp->dir = xstrdup(conf->sender.spool_dir);
  return sp;
}

/* Without an Alphabet header smsd reads the text as ISO-8859-15; the
 * header is only needed (and only understood, from 3.1.16 on) when the
 * text is not plain ASCII. */
static bool spool_is_ascii(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80)
      return false;
  return true;
}

/* Writes msg's file, synced, under its final name. False (res says why)
 * when it is not there. The directory entry is made durable by the
 * caller's spool_sync_dir(). */
static bool spool_write(struct spool_state *sp, const struct transport_msg *msg,
                        struct transport_result *res) {
  const char *number = msg->destination;
  char *tmp = NULL, *final = NULL, *body = NULL;
  int fd = -1;
  bool done = false;

  if (*number == '+')
    number++;
  tmp = xasprintf("%s/.otpgate-%" PRId64 ".XXXXXX", sp->dir, msg->id);
  final = xasprintf("%s/otpgate-%" PRId64, sp->dir, msg->id);
  body = xasprintf("To: %s\n%s\n%s", number,
                   spool_is_ascii(msg->text) ? "" : "Alphabet: UTF-8\n",
                   msg->text);

  /* A new file of ours (mode 0600), never one that was there before. */
  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    transport_set_error(res, msg, GATEWAY_RETRY, "%s: %s", tmp,
                        strerror(errno));
    goto out;
  }
  /* The rename must not publish a file whose data a power cut could lose:
   * once it is in the spool, the row says 'sent'. smsd reads it through
   * the group. */
  if (fchmod(fd, 0640) != 0 || !write_all(fd, body, strlen(body)) ||
      fsync(fd) != 0) {
    transport_set_error(res, msg, GATEWAY_RETRY, "%s: %s", tmp,
                        strerror(errno));
    unlink(tmp);
    goto out;
  }
  close(fd);
  fd = -1;
  if (rename(tmp, final) != 0) {
    transport_set_error(res, msg, GATEWAY_RETRY, "%s: %s", final,
                        strerror(errno));
    unlink(tmp);
    goto out;
  }
  done = true;
out:
  if (fd >= 0)
    close(fd);
  free(tmp);
  free(final);
  free(body);
  return done;
}

/* One fsync of the directory makes every rename before it durable. */
static void spool_sync_dir(const struct spool_state *sp) {
  int dfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}

static void spool_sent(const struct transport_msg *msg,
                       struct transport_result *res) {
  res->status = GATEWAY_SENT;
  snprintf(res->ref, sizeof res->ref, "otpgate-%" PRId64, msg->id);
}

static void spool_send(void *state, const struct transport_msg *msg,
                       struct transport_result *res) {
  struct spool_state *sp = state;
  if (!spool_write(sp, msg, res))
    return;
  spool_sync_dir(sp);
  spool_sent(msg, res);
}

/* Every file of the batch, then one fsync of the directory for all of
 * them: a local disk gains nothing from sends in flight, so concurrency
 * is not used. */
static void spool_send_batch(void *state, const struct transport_msg *msgs,
                             struct transport_result *res, size_t n,
                             size_t concurrency, transport_tick_fn *tick,
                             void *ctx) {
  struct spool_state *sp = state;
  bool *written = xcalloc(n, sizeof *written);
  (void)concurrency;
  for (size_t i = 0; i < n; i++) {
    if (!transport_msg_expired(&msgs[i], &res[i]))
      written[i] = spool_write(sp, &msgs[i], &res[i]);
    tick(ctx); /* a stalled disk may make even this slow */
  }
  spool_sync_dir(sp);
  for (size_t i = 0; i < n; i++)
    if (written[i])
      spool_sent(&msgs[i], &res[i]);
  free(written);
}

const struct transport_ops transport_spool_ops = {
    .name = "spool",
    .open = spool_open,
    .send = spool_send,
    .send_batch = spool_send_batch,
    .close = spool_close,
};
