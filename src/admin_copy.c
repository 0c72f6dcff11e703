/* otpgate-admin copy --to OTHER.conf: everything this configuration's
 * database holds, into the database OTHER.conf names, of either engine
 * (the move from SQLite to PostgreSQL, when a second machine comes). The
 * web server and the sender are stopped meanwhile (a sender still beating
 * is refused: it would send the queued SMS the other side's senders will
 * send). What it copies is one moment's state (store_begin_snapshot()),
 * and goes into the other in one transaction: all of it or nothing. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "admin_internal.h"
#include "conf.h"
#include "secret.h"
#include "util.h"

/* The codes' hashes, the fingerprints and the sealed codes are keyed with
 * the secret: the other side must hold the same one, or nothing copied
 * would verify, replay or send. */
static bool same_secret(struct admin *a, const struct conf *other) {
  struct secret_keys mine, theirs;
  char err[512];
  if (!secret_load(a->conf->otp.secret_file, &mine, err, sizeof err)) {
    admin_fail(a, "%s", err);
    return false;
  }
  if (!secret_load(other->otp.secret_file, &theirs, err, sizeof err)) {
    secret_free(&mine);
    admin_fail(a, "%s (copy %s there first)", err, a->conf->otp.secret_file);
    return false;
  }
  bool same = mine.n == theirs.n;
  for (int i = 0; same && i < mine.n; i++)
    same = mine.keys[i].id == theirs.keys[i].id &&
           sodium_memcmp(mine.keys[i].bytes, theirs.keys[i].bytes,
                         SECRET_KEY_LEN) == 0;
  secret_free(&mine);
  secret_free(&theirs);
  if (!same)
    admin_fail(a,
               "%s's [otp] secret_file %s holds other secrets than %s: copy "
               "%s there first (codes, records and queued SMS are keyed "
               "with it); nothing copied",
               other->file, other->otp.secret_file, a->conf->otp.secret_file,
               a->conf->otp.secret_file);
  return same;
}

/* The queued SMS go with the copy and out from the other side: a sender
 * still draining this side would send them too. A sender that stopped
 * cleanly took its heartbeat with it. */
static bool no_live_sender(struct admin *a) {
  int64_t seen = 0, now = now_ms();
  long max_age = a->conf->sender.heartbeat_max_age_seconds;
  enum store_rc rc = store_sender_last_seen(a->store, &seen);
  if (rc != STORE_OK) {
    admin_fail(a, "database %s: %s: %s", conf_database_where(a->conf),
               store_strerror(rc), store_errmsg(a->store));
    return false;
  }
  if (seen > 0 && now - seen < (max_age > 0 ? max_age : 15) * 1000) {
    admin_fail(a,
               "a sender beat %" PRId64 " s ago: stop otpgate-sender (and the "
               "web server) first, or its SMS would go out from both "
               "databases; nothing copied",
               (now - seen) / 1000);
    return false;
  }
  return true;
}

static void count_row(const struct store_row *row, void *ctx) {
  (void)row;
  (*(int64_t *)ctx)++;
}

/* The other database must be new: a copy never merges. */
static bool is_empty(struct admin *a, struct store *to, const char *where) {
  for (int t = 0; t < STORE_TABLE_COUNT; t++) {
    int64_t n = 0;
    enum store_rc rc = store_table_rows(to, (enum store_table)t, count_row, &n);
    if (rc != STORE_OK || n > 0) {
      if (rc != STORE_OK)
        admin_fail(a, "database %s: %s: %s", where, store_strerror(rc),
                   store_errmsg(to));
      else
        admin_fail(a,
                   "database %s already holds data (%" PRId64 " rows in %s): "
                   "copy goes into a new database only; nothing copied",
                   where, n, store_table_name((enum store_table)t));
      return false;
    }
  }
  return true;
}

struct copying {
  struct store *to;
  enum store_table table;
  enum store_rc rc;
  int64_t rows;
};

static void copy_row(const struct store_row *row, void *ctx) {
  struct copying *c = ctx;
  if (c->rc == STORE_OK)
    c->rc = store_table_insert(c->to, c->table, row);
  if (c->rc == STORE_OK)
    c->rows++;
}

/* Every table, in order, inside the open transactions of both. */
static enum store_rc copy_tables(struct admin *a, struct store *to,
                                 char *summary, size_t size) {
  size_t used = 0;
  summary[0] = '\0';
  for (int t = 0; t < STORE_TABLE_COUNT; t++) {
    struct copying c = {to, (enum store_table)t, STORE_OK, 0};
    enum store_rc rc = store_table_rows(a->store, c.table, copy_row, &c);
    if (rc != STORE_OK)
      return rc;
    if (c.rc != STORE_OK) {
      admin_fail(a, "table %s, row %" PRId64 ": %s: %s",
                 store_table_name(c.table), c.rows + 1, store_strerror(c.rc),
                 store_errmsg(to));
      return c.rc;
    }
    used += (size_t)snprintf(summary + used, used < size ? size - used : 0,
                             "%s%s %" PRId64, t ? ", " : "",
                             store_table_name(c.table), c.rows);
  }
  return store_table_ids_done(to);
}

/* Copies inside the two transactions, writes the audit row on the other
 * side, and commits there. */
static int copy_into(struct admin *a, struct store *to, const char *where) {
  char summary[512], who[128];
  enum store_rc rc = store_begin_write(to);
  if (rc == STORE_OK)
    rc = copy_tables(a, to, summary, sizeof summary);
  if (rc == STORE_OK)
    rc = store_admin_audit_add(to, admin_who(who, sizeof who), "copy",
                               conf_database_where(a->conf), summary, now_ms());
  if (rc == STORE_OK)
    rc = store_commit(to);
  else
    store_rollback(to);
  if (rc != STORE_OK)
    return admin_fail(a, "database %s: %s: %s; nothing copied", where,
                      store_strerror(rc), store_errmsg(to));
  fprintf(a->out, "copied %s to %s: %s\n", conf_database_where(a->conf), where,
          summary);
  return 0;
}

int admin_cmd_copy(struct admin *a) {
  char err[512];
  if (a->nargs != 1 || a->to == NULL)
    return admin_usage(a, "copy takes --to OTHER.conf");
  struct conf *other = conf_load(a->to, err, sizeof err);
  if (other == NULL)
    return admin_fail(a, "%s", err);
  const char *where = conf_database_where(other);
  int status = 1;
  struct store *to = NULL;
  if (other->database.driver == a->conf->database.driver &&
      other->database.driver == DATABASE_DRIVER_SQLITE &&
      strcmp(other->database.path, a->conf->database.path) == 0) {
    admin_fail(a, "%s names this same database; nothing copied", a->to);
    goto out;
  }
  if (!same_secret(a, other) || !admin_open_store(a))
    goto out;
  if ((to = store_open(other, false, err, sizeof err)) == NULL) {
    admin_fail(a, "%s", err);
    goto out;
  }
  if (!is_empty(a, to, where))
    goto out;
  if (!no_live_sender(a))
    goto out;
  /* One moment's state of this side (SQLite: its write lock held). */
  enum store_rc rc = store_begin_snapshot(a->store);
  if (rc != STORE_OK) {
    admin_fail(a, "database %s: %s: %s", conf_database_where(a->conf),
               store_strerror(rc), store_errmsg(a->store));
    goto out;
  }
  status = copy_into(a, to, where);
  store_rollback(a->store);
out:
  store_close(to);
  conf_free(other);
  return status;
}
