/* Shared by otpgate-admin's own files (admin.c, admin_ops.c) and nothing
 * else: the parsed command line and the helpers every command uses. */
#ifndef OTPGATE_ADMIN_INTERNAL_H
#define OTPGATE_ADMIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "store.h"

struct conf;

struct admin {
  FILE *out, *err;
  bool json;
  const char *config_path;
  struct conf *conf;
  struct store *store;
  /* Positional words after the options are taken out. */
  int nargs;
  char **args;
  /* Command options. */
  const char *phone, *status, *since, *account, *limit, *max_queue_age, *to;
  bool phone_given, no_phone, force, update;
  unsigned given; /* OPT_* of the options on the command line */
};

/* The options that belong to some commands (-c, -h and -V belong to all),
 * in the order of admin.c's option_names. */
enum {
  OPT_JSON = 1 << 0,
  OPT_PHONE = 1 << 1,
  OPT_NO_PHONE = 1 << 2,
  OPT_STATUS = 1 << 3,
  OPT_ACCOUNT = 1 << 4,
  OPT_SINCE = 1 << 5,
  OPT_FORCE = 1 << 6,
  OPT_LIMIT = 1 << 7,
  OPT_MAX_QUEUE_AGE = 1 << 8,
  OPT_UPDATE = 1 << 9,
  OPT_TO = 1 << 10,
};

/* Says why on stderr with the usage; returns 2. */
int admin_usage(struct admin *a, const char *why);
/* "otpgate-admin: " and the message on stderr; returns 1. */
int admin_fail(struct admin *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 0 for STORE_OK, else says what went wrong with what/id and returns 1. */
int admin_report_store(struct admin *a, enum store_rc rc, const char *what,
                       const char *id);
bool admin_open_store(struct admin *a);
bool admin_id_valid(const char *id, size_t max);
/* TIME: ms since the epoch, YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SSZ (UTC). */
bool admin_parse_time(const char *s, int64_t *out);
bool admin_parse_status(struct admin *a, const char *where,
                        const struct store_vocab *v, const char *word,
                        int *out);
/* Rows into a JSON array (a store_row_fn), and printed from it. */
void admin_collect_row(const struct store_row *row, void *ctx);
void admin_print_rows(struct admin *a, json_object *arr, bool single);
enum store_rc admin_print_listing(struct admin *a, enum store_rc rc,
                                  json_object *arr, bool single);

/* An operator's change: admin_change_begin() opens the write transaction;
 * admin_change_end() writes the audit row (admin_who(), action, target,
 * detail) and commits when rc is STORE_OK, else rolls back; it returns
 * the outcome. */
enum store_rc admin_change_begin(struct admin *a);
enum store_rc admin_change_end(struct admin *a, enum store_rc rc,
                               const char *action, const char *target,
                               const char *detail);
/* The Unix user running the command (and the sudo user behind root). */
const char *admin_who(char *buf, size_t size);

/* admin_ops.c: status, audit, backup, and the steering commands. */
int admin_cmd_status(struct admin *a);
int admin_cmd_audit(struct admin *a);
int admin_cmd_backup(struct admin *a);
int admin_cmd_copy(struct admin *a);
int admin_cmd_account_unlock(struct admin *a);
int admin_cmd_account_delete(struct admin *a);
int admin_cmd_outbox_cancel(struct admin *a);
int admin_cmd_outbox_requeue(struct admin *a);
/* init's copy of an existing database before a migration: path made from
 * the database's, its old version and the time; false with err. */
bool admin_backup_before_migration(struct admin *a, int version, char *path,
                                   size_t pathsz, char *err, size_t errsz);

#endif
