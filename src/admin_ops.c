/* otpgate-admin's operating commands: status (what to watch, and an exit
 * status for cron and Nagios-style checks), audit, backup, and the
 * steering of accounts and the outbox, each change audited in its own
 * transaction. */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin_internal.h"
#include "conf.h"
#include "metrics.h"
#include "ops.h"
#include "payload.h"
#include "util.h"

/* ---- the audit of the operator's changes ---- */

const char *admin_who(char *buf, size_t size) {
  const struct passwd *pw = getpwuid(geteuid());
  const char *sudo = geteuid() == 0 ? getenv("SUDO_USER") : NULL;
  if (pw)
    snprintf(buf, size, "%s", pw->pw_name);
  else
    snprintf(buf, size, "uid %u", (unsigned)geteuid());
  /* root through sudo: who asked is what the audit is for. */
  if (sudo && *sudo) {
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, " (sudo from %s)", sudo);
  }
  return buf;
}

enum store_rc admin_change_begin(struct admin *a) {
  enum store_rc rc = store_begin_write(a->store);
  if (rc != STORE_OK)
    admin_report_store(a, rc, "database", conf_database_where(a->conf));
  return rc;
}

enum store_rc admin_change_end(struct admin *a, enum store_rc rc,
                               const char *action, const char *target,
                               const char *detail) {
  char who[320];
  if (rc == STORE_OK)
    rc = store_admin_audit_add(a->store, admin_who(who, sizeof who), action,
                               target, detail, now_ms());
  if (rc == STORE_OK)
    return store_commit(a->store);
  store_rollback(a->store);
  return rc;
}

int admin_cmd_audit(struct admin *a) {
  int64_t since = 0;
  if (a->nargs != 1)
    return admin_usage(a, "audit takes only options");
  if (a->since && !admin_parse_time(a->since, &since))
    return admin_fail(a, "bad --since \"%s\": ms since the epoch, YYYY-MM-DD "
                         "or YYYY-MM-DDTHH:MM:SSZ", a->since);
  if (!admin_open_store(a))
    return 1;
  json_object *arr = json_object_new_array();
  enum store_rc rc = admin_print_listing(
      a, store_admin_audit_list(a->store, since, admin_collect_row, arr), arr,
      false);
  return admin_report_store(a, rc, "listing", "audit");
}

/* ---- accounts ---- */

int admin_cmd_account_unlock(struct admin *a) {
  if (a->nargs != 3)
    return admin_usage(a, "account unlock takes one ID");
  const char *id = a->args[2];
  if (!admin_open_store(a) || admin_change_begin(a) != STORE_OK)
    return 1;
  enum store_rc rc = admin_change_end(
      a, store_account_unlock(a->store, id, now_ms()), "account unlock", id,
      "locked_until and verify_failures reset");
  if (rc == STORE_OK)
    fprintf(a->out, "account %s unlocked\n", id);
  return admin_report_store(a, rc, "account", id);
}

int admin_cmd_account_delete(struct admin *a) {
  int64_t live = 0, now = now_ms();
  char detail[96];
  if (a->nargs != 3)
    return admin_usage(a, "account delete takes one ID");
  const char *id = a->args[2];
  if (!admin_open_store(a) || admin_change_begin(a) != STORE_OK)
    return 1;
  enum store_rc rc = store_account_live_codes(a->store, id, now, &live);
  if (rc == STORE_OK && live > 0 && !a->force) {
    store_rollback(a->store);
    return admin_fail(a, "account %s has %" PRId64 " live code%s (unused, "
                         "unexpired): nothing deleted; --force supersedes "
                         "them and deletes it", id, live, live == 1 ? "" : "s");
  }
  snprintf(detail, sizeof detail, "%" PRId64 " live codes superseded", live);
  if (rc == STORE_OK)
    rc = store_account_delete(a->store, id, now);
  rc = admin_change_end(a, rc, "account delete", id, live ? detail : NULL);
  if (rc == STORE_OK)
    fprintf(a->out, "account %s deleted with its associations; its codes' and "
                    "SMS rows stay for the audit\n", id);
  return admin_report_store(a, rc, "account", id);
}

/* ---- the outbox ---- */

static bool outbox_id(struct admin *a, const char *what, int64_t *id) {
  uint64_t v;
  if (a->nargs != 3) {
    char *why = xasprintf("outbox %s takes one ID", what);
    admin_usage(a, why);
    free(why);
    return false;
  }
  if (!parse_u64(a->args[2], &v) || v > INT64_MAX) {
    admin_fail(a, "bad outbox ID \"%s\": a number", a->args[2]);
    return false;
  }
  *id = (int64_t)v;
  return true;
}

/* Opens the change and reads the row's status; false (said, rolled back)
 * when there is no such row. */
static bool outbox_row_begin(struct admin *a, int64_t id,
                             enum outbox_status *st, bool *seal) {
  if (!admin_open_store(a) || admin_change_begin(a) != STORE_OK)
    return false;
  enum store_rc rc = store_outbox_status_of(a->store, id, st, seal);
  if (rc != STORE_OK) {
    store_rollback(a->store);
    admin_report_store(a, rc, "outbox row", a->args[2]);
    return false;
  }
  return true;
}

int admin_cmd_outbox_cancel(struct admin *a) {
  int64_t id;
  enum outbox_status st;
  bool seal;
  if (!outbox_id(a, "cancel", &id))
    return a->nargs != 3 ? 2 : 1;
  if (!outbox_row_begin(a, id, &st, &seal))
    return 1;
  if (st != OUTBOX_QUEUED) {
    store_rollback(a->store);
    return admin_fail(a, "outbox row %s is %s: only a queued row can be "
                         "cancelled%s; nothing changed", a->args[2],
                      store_vocab_name(&store_outbox_statuses, (int)st),
                      st == OUTBOX_SENDING
                          ? " (a sender is handing it to the gateway now)"
                          : "");
  }
  enum store_rc rc =
      admin_change_end(a, store_outbox_cancel(a->store, id, now_ms()),
                       "outbox cancel", a->args[2], "queued -> failed");
  if (rc == STORE_OK)
    fprintf(a->out, "outbox row %s cancelled: failed, its code dropped\n",
            a->args[2]);
  return admin_report_store(a, rc, "queued outbox row", a->args[2]);
}

/* Why a row cannot be requeued: a final row's sealed code was dropped
 * when it became final, so nothing can send that code again. */
static int requeue_refused(struct admin *a, enum outbox_status st) {
  const char *name = store_vocab_name(&store_outbox_statuses, (int)st);
  store_rollback(a->store);
  if (st == OUTBOX_SENDING)
    return admin_fail(a, "outbox row %s is sending: a sender holds it now; "
                         "nothing changed", a->args[2]);
  return admin_fail(a, "outbox row %s is %s: its code was dropped when it "
                       "became final, so it cannot be sent again (the user "
                       "asks for a new code); nothing changed",
                    a->args[2], name);
}

int admin_cmd_outbox_requeue(struct admin *a) {
  int64_t id;
  enum outbox_status st;
  bool seal;
  if (!outbox_id(a, "requeue", &id))
    return a->nargs != 3 ? 2 : 1;
  if (!outbox_row_begin(a, id, &st, &seal))
    return 1;
  if (st != OUTBOX_QUEUED || !seal)
    return requeue_refused(a, st);
  enum store_rc rc = store_outbox_requeue(a->store, id, now_ms());
  if (rc == STORE_NOT_FOUND) {
    store_rollback(a->store);
    return admin_fail(a, "outbox row %s: its code has expired; the sender "
                         "closes it as expired; nothing changed", a->args[2]);
  }
  rc = admin_change_end(a, rc, "outbox requeue", a->args[2],
                        "due now, attempts counted afresh");
  if (rc == STORE_OK)
    fprintf(a->out, "outbox row %s requeued: due now\n", a->args[2]);
  return admin_report_store(a, rc, "outbox row", a->args[2]);
}

/* ---- backup ---- */

int admin_cmd_backup(struct admin *a) {
  char err[PATH_MAX + 256];
  if (a->nargs != 2)
    return admin_usage(a, "backup takes one PATH");
  if (!admin_open_store(a))
    return 1;
  if (!store_backup(a->store, a->args[1], err, sizeof err))
    return admin_fail(a, "%s", err);
  fprintf(a->out, "backup %s: written (mode 0600), integrity_check ok\n",
          a->args[1]);
  return 0;
}

bool admin_backup_before_migration(struct admin *a, int version, char *path,
                                   size_t pathsz, char *err, size_t errsz) {
  char stamp[32];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  /* A retry in the same second (a migration refused, the cause fixed)
   * keeps the first copy and makes another beside it. */
  for (int n = 1; n < 100; n++) {
    if (n == 1)
      snprintf(path, pathsz, "%s.v%d-%s.bak", a->conf->database.path, version,
               stamp);
    else
      snprintf(path, pathsz, "%s.v%d-%s-%d.bak", a->conf->database.path,
               version, stamp, n);
    if (access(path, F_OK) != 0)
      break;
  }
  return store_backup(a->store, path, err, errsz);
}

/* ---- status ---- */

struct status {
  struct admin *a;
  int64_t now;
  json_object *o, *reasons;
};

static void reason(struct status *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void reason(struct status *st, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  json_object_array_add(st->reasons, json_object_new_string(text));
}

static double age_seconds(int64_t now, int64_t then) {
  return then ? (double)(now - then) / 1000.0 : 0.0;
}

/* Rows "status, count" into an object, every status of the vocabulary
 * there (0 when none), so a monitor finds each key. */
static void count_row(const struct store_row *row, void *ctx) {
  json_object_object_add(ctx, row->values[0],
                         json_object_new_int64(strtoll(row->values[1], NULL, 10)));
}

static json_object *zero_counts(bool final_only) {
  json_object *o = json_object_new_object();
  for (int i = 0; i < store_outbox_statuses.count; i++)
    if (!final_only || (i != OUTBOX_QUEUED && i != OUTBOX_SENDING))
      json_object_object_add(o, store_outbox_statuses.names[i],
                             json_object_new_int64(0));
  return o;
}

static enum store_rc status_outbox(struct status *st, int64_t max_age_ms) {
  int64_t queued = 0, sending = 0;
  json_object *counts = zero_counts(false);
  json_object *minute = zero_counts(true), *hour = zero_counts(true);
  struct store *s = st->a->store;
  enum store_rc rc = store_outbox_status_counts(s, count_row, counts);
  if (rc == STORE_OK)
    rc = store_outbox_oldest(s, OUTBOX_QUEUED, &queued);
  if (rc == STORE_OK)
    rc = store_outbox_oldest(s, OUTBOX_SENDING, &sending);
  if (rc == STORE_OK)
    rc = store_outbox_outcomes_since(s, st->now - 60000, count_row, minute);
  if (rc == STORE_OK)
    rc = store_outbox_outcomes_since(s, st->now - 3600000, count_row, hour);
  json_object_object_add(st->o, "outbox", counts);
  json_object_object_add(st->o, "oldest_queued_seconds",
                         json_object_new_double(age_seconds(st->now, queued)));
  json_object_object_add(st->o, "oldest_sending_seconds",
                         json_object_new_double(age_seconds(st->now, sending)));
  json_object_object_add(st->o, "final_last_minute", minute);
  json_object_object_add(st->o, "final_last_hour", hour);
  if (queued && st->now - queued > max_age_ms)
    reason(st, "oldest queued SMS is %.0f s old (more than %" PRId64 " s)",
           age_seconds(st->now, queued), max_age_ms / 1000);
  return rc;
}

static void sender_row(const struct store_row *row, void *ctx) {
  struct status *st = ctx;
  json_object *arr, *o = json_object_new_object();
  int64_t seen = strtoll(row->values[1], NULL, 10);
  int64_t failures = strtoll(row->values[2], NULL, 10);
  int64_t failed_at = strtoll(row->values[3], NULL, 10);
  json_object_object_get_ex(st->o, "senders", &arr);
  json_object_object_add(o, "owner", json_object_new_string(row->values[0]));
  json_object_object_add(o, "heartbeat_age_seconds",
                         json_object_new_double(age_seconds(st->now, seen)));
  json_object_object_add(o, "failures", json_object_new_int64(failures));
  json_object_object_add(
      o, "breaker",
      json_object_new_string(
          ops_breaker_open(st->a->conf, failures, failed_at, st->now)
              ? "open"
              : "closed"));
  json_object_array_add(arr, o);
}

static enum store_rc status_senders(struct status *st) {
  char why[320];
  json_object_object_add(st->o, "senders", json_object_new_array());
  enum store_rc rc = store_sender_list(st->a->store, sender_row, st);
  const char *problem = ops_senders_problem(st->a->store, st->a->conf, st->now);
  if (problem)
    reason(st, "%s", problem);
  if (!ops_store_writable(st->a->store, why, sizeof why))
    reason(st, "%s", why);
  return rc;
}

static enum store_rc status_codes(struct status *st) {
  struct store_otp_stats n = {0};
  enum store_rc rc = store_otp_stats_since(st->a->store, st->now - 3600000, &n);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "sent", json_object_new_int64(n.sent));
  json_object_object_add(o, "verified", json_object_new_int64(n.verified));
  json_object_object_add(o, "failed_guesses", json_object_new_int64(n.failed));
  json_object_object_add(st->o, "codes_last_hour", o);
  return rc;
}

static void key_row(void *ctx, const char *fpr, const char *whose,
                    long days_left) {
  struct status *st = ctx;
  json_object *arr, *o = json_object_new_object();
  json_object_object_get_ex(st->o, "keys", &arr);
  json_object_object_add(o, "fingerprint", json_object_new_string(fpr));
  json_object_object_add(o, "whose", json_object_new_string(whose));
  json_object_object_add(o, "days_left", days_left < 0
                                             ? json_object_new_string("never")
                                             : json_object_new_int64(days_left));
  json_object_array_add(arr, o);
  if (days_left == 0)
    reason(st, "PGP key %s (%s) has expired", fpr, whose);
  else if (days_left > 0 && days_left <= 7)
    reason(st, "PGP key %s (%s) expires in %ld days", fpr, whose, days_left);
}

/* The keys' days left (plain format: none); the secret never expires. */
static void status_keys(struct status *st) {
  char err[512];
  json_object_object_add(st->o, "secret_expires",
                         json_object_new_string("never (rotate it by hand)"));
  json_object_object_add(st->o, "keys", json_object_new_array());
  struct payload *p = payload_create(st->a->conf, err, sizeof err);
  if (p == NULL) {
    reason(st, "keys: %s", err);
    return;
  }
  payload_each_key(p, key_row, st);
  payload_destroy(p);
}

static void cap_count(void *ctx, const char *key, uint64_t value) {
  static const char family[] = "otpgate_sms_capped_total{cap=\"";
  if (strncmp(key, family, sizeof family - 1) != 0)
    return;
  char cap[64];
  snprintf(cap, sizeof cap, "%s", key + sizeof family - 1);
  cap[strcspn(cap, "\"")] = '\0';
  json_object_object_add(ctx, cap, json_object_new_int64((int64_t)value));
}

/* How often a cap refused a sendOtp, from the workers' counters file. */
static void status_caps(struct status *st) {
  char err[512];
  const char *path = st->a->conf->api.metrics_file;
  json_object *caps = json_object_new_object();
  if (path == NULL || !*path)
    snprintf(err, sizeof err, "no [api] metrics_file");
  else if (metrics_read(path, cap_count, caps, err, sizeof err))
    err[0] = '\0';
  if (err[0]) {
    json_object_put(caps);
    json_object_object_add(st->o, "sms_capped",
                           json_object_new_string(err));
  } else {
    json_object_object_add(st->o, "sms_capped", caps);
  }
}

/* "key value" lines, nested keys joined with '.' and array items by index. */
static void print_flat(FILE *f, const char *prefix, json_object *v) {
  char key[256];
  if (json_object_is_type(v, json_type_object)) {
    json_object_object_foreach(v, k, sub) {
      snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k);
      print_flat(f, key, sub);
    }
  } else if (json_object_is_type(v, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(v); i++) {
      snprintf(key, sizeof key, "%s[%zu]", prefix, i);
      print_flat(f, key, json_object_array_get_idx(v, i));
    }
  } else {
    fprintf(f, "%s %s\n", prefix, v ? json_object_get_string(v) : "-");
  }
}

static bool parse_max_age(struct admin *a, int64_t *ms) {
  uint64_t s = 60;
  if (a->max_queue_age &&
      (!parse_u64(a->max_queue_age, &s) || s == 0 || s > 86400 * 365)) {
    admin_fail(a, "bad --max-queue-age \"%s\": seconds, 1 or more",
               a->max_queue_age);
    return false;
  }
  *ms = (int64_t)s * 1000;
  return true;
}

/* The verdict: "OK" or "UNHEALTHY: why; why", the first line a check
 * reads (JSON: "healthy" and "reasons"). */
static int status_print(struct status *st) {
  struct admin *a = st->a;
  size_t n = json_object_array_length(st->reasons);
  json_object_object_add(st->o, "healthy", json_object_new_boolean(n == 0));
  if (a->json) {
    json_object_object_add(st->o, "reasons", json_object_get(st->reasons));
    fprintf(a->out, "%s\n", json_object_to_json_string_ext(
                                st->o, JSON_C_TO_STRING_PRETTY |
                                           JSON_C_TO_STRING_NOSLASHESCAPE));
    return n == 0 ? 0 : 1;
  }
  fputs(n == 0 ? "OK" : "UNHEALTHY: ", a->out);
  for (size_t i = 0; i < n; i++)
    fprintf(a->out, "%s%s", i ? "; " : "",
            json_object_get_string(json_object_array_get_idx(st->reasons, i)));
  fputc('\n', a->out);
  json_object_object_del(st->o, "healthy");
  print_flat(a->out, "", st->o);
  return n == 0 ? 0 : 1;
}

int admin_cmd_status(struct admin *a) {
  int64_t max_age_ms;
  if (a->nargs != 1)
    return admin_usage(a, "status takes only options");
  if (!parse_max_age(a, &max_age_ms))
    return 1;
  if (!admin_open_store(a)) {
    fprintf(a->out, "UNHEALTHY: database cannot be opened\n");
    return 1;
  }
  struct status st = {.a = a, .now = now_ms(), .o = json_object_new_object(),
                      .reasons = json_object_new_array()};
  enum store_rc rc = status_outbox(&st, max_age_ms);
  if (rc == STORE_OK)
    rc = status_senders(&st);
  if (rc == STORE_OK)
    rc = status_codes(&st);
  if (rc != STORE_OK)
    reason(&st, "database: %s (%s)", store_strerror(rc), store_errmsg(a->store));
  status_keys(&st);
  status_caps(&st);
  int status = status_print(&st);
  json_object_put(st.reasons);
  json_object_put(st.o);
  return status;
}
