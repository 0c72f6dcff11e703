/* The store's front: opens the engine [database] driver names and hands
 * each call of store.h to it (store_engine.h lists them). What does not
 * touch a database (error names, freeing results) is here. */
#include "config.h"

#include <stdlib.h>

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
