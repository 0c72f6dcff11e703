/* The store's front: opens the engine [database] driver names and hands
 * each call of store.h to it (store_engine.h lists them). What does not
 * touch a database (error names, freeing results) is here. */
#include "config.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "conf.h"
#include "store_engine.h"
#include "util.h"

struct store {
  struct store_sqlite *sqlite; /* driver = sqlite */
  struct store_pg *pg;         /* driver = postgresql */
};

const char *store_strerror(enum store_rc rc) {
  switch (rc) {
  case STORE_OK:
    return "ok";
  case STORE_NOT_FOUND:
    return "not found";
  case STORE_EXISTS:
    return "already exists";
  case STORE_BUSY:
    return "database busy";
  case STORE_ERROR:
    return "database error";
  }
  return "?";
}

void store_request_free(struct store_request *r) {
  free(r->answer);
  r->answer = NULL;
}

void store_outbox_claim_free(struct store_outbox_claim *c) {
  free(c->text);
  c->text = NULL;
}

const struct store_table_def store_tables[STORE_TABLE_COUNT] = {
    [STORE_TABLE_ACCOUNTS] = {"accounts",
                              7,
                              {"id", "phone", "status", "verify_failures",
                               "locked_until", "created_at", "updated_at"},
                              {0},
                              false},
    [STORE_TABLE_ASSOCIATIONS] = {"associations",
                                  4,
                                  {"id", "account_id", "created_at",
                                   "revoked_at"},
                                  {0},
                                  false},
    [STORE_TABLE_REQUESTS] = {"requests",
                              7,
                              {"method", "request_id", "key_id", "fingerprint",
                               "http_status", "answer", "created_at"},
                              {[3] = true},
                              false},
    [STORE_TABLE_OTPS] = {"otps",
                          12,
                          {"id", "request_id", "account_id", "context",
                           "code_hash", "created_at", "expires_at", "attempts",
                           "used_at", "superseded_at", "key_id", "send_otp_id"},
                          {[4] = true},
                          true},
    [STORE_TABLE_OUTBOX] = {"outbox",
                            19,
                            {"id", "otp_id", "account_id", "destination",
                             "text", "code_offset", "code_length",
                             "sealed_code", "key_id", "status", "attempts",
                             "next_attempt_at", "expires_at", "lease_owner",
                             "gateway_ref", "last_error", "created_at",
                             "updated_at", "sent_at"},
                            {[7] = true},
                            true},
    [STORE_TABLE_ADMIN_AUDIT] = {"admin_audit",
                                 6,
                                 {"id", "at", "who", "action", "target",
                                  "detail"},
                                 {0},
                                 true},
};

const char *store_table_name(enum store_table t) {
  return store_tables[t].name;
}

char *store_table_select_sql(const struct store_table_def *d,
                             const char *blob_open, const char *blob_close) {
  struct buf b = {0};
  buf_appends(&b, "SELECT ");
  for (int i = 0; i < d->ncols; i++) {
    const char *c = d->columns[i];
    char *col = d->blob[i]
                    ? xasprintf("%s%s%s AS %s", blob_open, c, blob_close, c)
                    : xstrdup(c);
    buf_appends(&b, i ? ", " : "");
    buf_appends(&b, col);
    free(col);
  }
  buf_appends(&b, " FROM ");
  buf_appends(&b, d->name);
  buf_appends(&b, " ORDER BY 1");
  buf_append(&b, "", 1);
  return b.data;
}

char *store_table_insert_sql(const struct store_table_def *d,
                             char placeholder) {
  struct buf b = {0};
  char num[16];
  buf_appends(&b, "INSERT INTO ");
  buf_appends(&b, d->name);
  buf_appends(&b, " (");
  for (int i = 0; i < d->ncols; i++) {
    buf_appends(&b, i ? ", " : "");
    buf_appends(&b, d->columns[i]);
  }
  buf_appends(&b, ") VALUES (");
  for (int i = 0; i < d->ncols; i++) {
    snprintf(num, sizeof num, "%s%c%d", i ? ", " : "", placeholder, i + 1);
    buf_appends(&b, num);
  }
  buf_appends(&b, ")");
  buf_append(&b, "", 1);
  return b.data;
}

bool store_row_matches(const struct store_table_def *d,
                       const struct store_row *row) {
  if (row->ncols != d->ncols)
    return false;
  for (int i = 0; i < d->ncols; i++)
    if (strcmp(row->names[i], d->columns[i]) != 0)
      return false;
  return true;
}

enum outbox_status store_outbox_outcome_status(enum store_outbox_outcome o) {
  static const enum outbox_status status[] = {
      [STORE_OUTBOX_SENT] = OUTBOX_SENT,
      [STORE_OUTBOX_RETRY] = OUTBOX_QUEUED,
      [STORE_OUTBOX_FAILED] = OUTBOX_FAILED,
      [STORE_OUTBOX_UNKNOWN] = OUTBOX_UNKNOWN,
      [STORE_OUTBOX_EXPIRED] = OUTBOX_EXPIRED,
  };
  assert(o <= STORE_OUTBOX_EXPIRED);
  return status[o];
}

unsigned char *store_hex_decode(const char *hex, size_t *len) {
  size_t n = strlen(hex);
  unsigned char *bytes = xmalloc(n / 2 + 1);
  if (sodium_hex2bin(bytes, n / 2 + 1, hex, n, NULL, len, NULL) != 0 ||
      *len * 2 != n) {
    free(bytes);
    return NULL;
  }
  return bytes;
}

struct store *store_open(const struct conf *conf, bool for_init, char *err,
                         size_t errsz) {
  struct store *s = xcalloc(1, sizeof *s);
  if (conf->database.driver == DATABASE_DRIVER_POSTGRESQL)
    s->pg = store_pg_open(conf, for_init, err, errsz);
  else
    s->sqlite = store_sqlite_open(conf, for_init, err, errsz);
  if (s->pg == NULL && s->sqlite == NULL) {
    free(s);
    return NULL;
  }
  return s;
}

void store_close(struct store *s) {
  if (s == NULL)
    return;
  if (s->pg)
    store_pg_close(s->pg);
  else
    store_sqlite_close(s->sqlite);
  free(s);
}

void store_rollback(struct store *s) {
  if (s->pg)
    store_pg_rollback(s->pg);
  else
    store_sqlite_rollback(s->sqlite);
}

#define STORE_DISPATCH0(ret, name)                                             \
  ret store_##name(struct store *s) {                                          \
    return s->pg ? store_pg_##name(s->pg) : store_sqlite_##name(s->sqlite);    \
  }
#define STORE_DISPATCH(ret, name, params, args)                                \
  ret store_##name(struct store *s, STORE_UNPAREN params) {                    \
    return s->pg ? store_pg_##name(s->pg, STORE_UNPAREN args)                  \
                 : store_sqlite_##name(s->sqlite, STORE_UNPAREN args);         \
  }

STORE_ENGINE_FUNCTIONS0(STORE_DISPATCH0)
STORE_ENGINE_FUNCTIONS(STORE_DISPATCH)
