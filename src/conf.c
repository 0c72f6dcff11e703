#include "config.h"

#include "conf.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "log.h"
#include "phone.h"
#include "sms.h"
#include "util.h"

#ifndef OTPGATE_SYSCONFDIR
#define OTPGATE_SYSCONFDIR "/etc"
#endif
#ifndef OTPGATE_LOCALSTATEDIR
#define OTPGATE_LOCALSTATEDIR "/var"
#endif
#ifndef OTPGATE_RUNSTATEDIR
#define OTPGATE_RUNSTATEDIR "/run"
#endif

enum key_type { K_STRING, K_LONG, K_BOOL, K_ENUM };

/* One row per key: where it lives, its type and bounds, its default. The
 * default goes through the same parser as a value from the file, so the
 * two can never disagree on what is valid. */
struct conf_key {
  const char *section;
  const char *name;
  enum key_type type;
  size_t offset;
  long min, max;               /* K_LONG */
  const char *const *choices;  /* K_ENUM: NULL-terminated, index stored */
  const char *default_value;
};

static const char *const sync_choices[] = {"normal", "full", NULL};
static const char *const token_choices[] = {"first", "last", NULL};
static const char *const transport_choices[] = {"exec", "spool", "http", NULL};
static const char *const method_choices[] = {"GET", "POST", NULL};
static const char *const write_lock_choices[] = {"queue", "sqlite", NULL};
static const char *const payload_choices[] = {"plain", "pgp", NULL};
static const char *const driver_choices[] = {"sqlite", "postgresql", NULL};
static const char *const level_choices[] = {"error", "warn", "info", "debug",
                                            NULL};

/* conf_set() stores an enum key's index through an int. */
_Static_assert(sizeof(enum synchronous) == sizeof(int) &&
                   sizeof(enum write_lock) == sizeof(int) &&
                   sizeof(enum token_position) == sizeof(int) &&
                   sizeof(enum transport_kind) == sizeof(int) &&
                   sizeof(enum http_method) == sizeof(int) &&
                   sizeof(enum log_level) == sizeof(int) &&
                   sizeof(enum payload_format) == sizeof(int) &&
                   sizeof(enum database_driver) == sizeof(int),
               "enum fields are int-sized");

#define OFF(field) offsetof(struct conf, field)
#define STR(sec, key, field, def) {sec, key, K_STRING, OFF(field), 0, 0, NULL, def}
#define LNG(sec, key, field, lo, hi, def) {sec, key, K_LONG, OFF(field), lo, hi, NULL, def}
#define BOOL(sec, key, field, def) {sec, key, K_BOOL, OFF(field), 0, 0, NULL, def}
#define ENUM(sec, key, field, ch, def) {sec, key, K_ENUM, OFF(field), 0, 0, ch, def}

static const struct conf_key conf_keys[] = {
    ENUM("database", "driver", database.driver, driver_choices, "sqlite"),
    STR("database", "conninfo", database.conninfo, ""),
    STR("database", "path", database.path, OTPGATE_LOCALSTATEDIR "/lib/otpgate/otpgate.db"),
    ENUM("database", "synchronous", database.synchronous, sync_choices, "full"),
    LNG("database", "busy_timeout_ms", database.busy_timeout_ms, 0, 600000, "5000"),
    ENUM("database", "write_lock", database.write_lock, write_lock_choices, "queue"),

    LNG("api", "max_body_bytes", api.max_body_bytes, 256, 16777216, "65536"),
    LNG("api", "timestamp_skew_ms", api.timestamp_skew_ms, 0, 86400000, "60000"),
    STR("api", "metrics_file", api.metrics_file, OTPGATE_RUNSTATEDIR "/otpgate/metrics"),

    ENUM("payload", "format", payload.format, payload_choices, "plain"),

    STR("pgp", "secret_keys", pgp.secret_keys, ""),
    STR("pgp", "google_keys", pgp.google_keys, ""),
    STR("pgp", "signing_keys", pgp.signing_keys, ""),
    LNG("pgp", "max_plaintext_bytes", pgp.max_plaintext_bytes, 1024, 16777216, "1048576"),

    LNG("otp", "length", otp.length, 6, 10, "6"),
    LNG("otp", "ttl_seconds", otp.ttl_seconds, 30, 600, "300"),
    LNG("otp", "max_verify_attempts", otp.max_verify_attempts, 1, 100, "5"),
    LNG("otp", "max_account_failures", otp.max_account_failures, 1, 1000, "10"),
    LNG("otp", "lockout_seconds", otp.lockout_seconds, 1, 604800, "900"),
    LNG("otp", "send_limit", otp.send_limit, 1, 1000000, "5"),
    LNG("otp", "send_window_seconds", otp.send_window_seconds, 1, 604800, "900"),
    STR("otp", "secret_file", otp.secret_file, OTPGATE_SYSCONFDIR "/otpgate/otp.key"),

    STR("sms", "template", sms.template,
        "Your verification code is {otp}. It expires in {minutes} minutes. "
        "Do not share it with anyone."),
    ENUM("sms", "token_position", sms.token_position, token_choices, "last"),
    STR("sms", "countries", sms.countries, ""),
    LNG("sms", "max_per_minute", sms.max_per_minute, 0, 1000000, "0"),
    LNG("sms", "max_per_prefix_per_minute", sms.max_per_prefix_per_minute, 0, 1000000, "0"),
    LNG("sms", "prefix_digits", sms.prefix_digits, 1, 14, "6"),

    ENUM("sender", "transport", sender.transport, transport_choices, "spool"),
    STR("sender", "exec_command", sender.exec_command, ""),
    LNG("sender", "exec_timeout_seconds", sender.exec_timeout_seconds, 1, 600, "10"),
    STR("sender", "spool_dir", sender.spool_dir, "/var/spool/sms/outgoing"),
    STR("sender", "http_url", sender.http_url, ""),
    ENUM("sender", "http_method", sender.http_method, method_choices, "GET"),
    STR("sender", "http_body", sender.http_body, ""),
    STR("sender", "http_content_type", sender.http_content_type,
        "application/x-www-form-urlencoded"),
    LNG("sender", "http_timeout_ms", sender.http_timeout_ms, 100, 600000, "5000"),
    BOOL("sender", "http_verify_tls", sender.http_verify_tls, "yes"),
    STR("sender", "http_sent_statuses", sender.http_sent_statuses, "200-299"),
    STR("sender", "http_retry_statuses", sender.http_retry_statuses, "408,429,500-599"),
    BOOL("sender", "idempotent", sender.idempotent, "no"),
    LNG("sender", "max_attempts", sender.max_attempts, 1, 100, "5"),
    LNG("sender", "retry_base_seconds", sender.retry_base_seconds, 1, 3600, "2"),
    LNG("sender", "retry_max_seconds", sender.retry_max_seconds, 1, 3600, "60"),
    LNG("sender", "lease_seconds", sender.lease_seconds, 2, 3600, "30"),
    LNG("sender", "batch_size", sender.batch_size, 1, 1000, "64"),
    LNG("sender", "concurrency", sender.concurrency, 1, 64, "8"),
    LNG("sender", "gather_ms", sender.gather_ms, 0, 1000, "10"),
    LNG("sender", "poll_interval_ms", sender.poll_interval_ms, 10, 60000, "1000"),
    STR("sender", "wake_socket", sender.wake_socket, OTPGATE_RUNSTATEDIR "/otpgate/sender.sock"),
    LNG("sender", "heartbeat_seconds", sender.heartbeat_seconds, 1, 60, "2"),
    LNG("sender", "heartbeat_max_age_seconds", sender.heartbeat_max_age_seconds, 0, 86400, "15"),
    LNG("sender", "breaker_failures", sender.breaker_failures, 0, 1000, "5"),
    LNG("sender", "breaker_seconds", sender.breaker_seconds, 1, 3600, "30"),
    LNG("sender", "housekeeping_interval_seconds", sender.housekeeping_interval_seconds, 1, 86400, "3600"),

    LNG("retention", "requests_days", retention.requests_days, 30, 3650, "30"),
    LNG("retention", "otps_days", retention.otps_days, 1, 3650, "7"),
    LNG("retention", "outbox_days", retention.outbox_days, 1, 3650, "90"),

    BOOL("log", "syslog", log.syslog, "yes"),
    ENUM("log", "level", log.level, level_choices, "info"),
};

#define NKEYS (sizeof conf_keys / sizeof conf_keys[0])

struct load_state {
  struct conf *conf;
  const char *name;
  bool seen[NKEYS];
  char *err;
  size_t errsz;
  bool failed;
};

const char *conf_resolve_path(const char *cli_path) {
  if (cli_path && *cli_path)
    return cli_path;
  const char *env = getenv("OTPGATE_CONFIG");
  if (env && *env)
    return env;
  return OTPGATE_SYSCONFDIR "/otpgate/otpgate.conf";
}

static bool parse_bool(const char *v, bool *out) {
  static const char *const yes[] = {"yes", "true", "on", "1"};
  static const char *const no[] = {"no", "false", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(v, yes[i]) == 0)
      return (*out = true), true;
    if (strcasecmp(v, no[i]) == 0)
      return (*out = false), true;
  }
  return false;
}

/* Stores value into the field the key names; on a bad value writes the
 * reason (without file or key) into why. */
static bool conf_set(struct conf *conf, const struct conf_key *k,
                     const char *value, char *why, size_t whysz) {
  char *field = (char *)conf + k->offset;
  switch (k->type) {
  case K_STRING: {
    for (const char *p = value; *p; p++)
      if ((unsigned char)*p < 0x20 && *p != '\t') {
        snprintf(why, whysz, "must not contain control characters");
        return false;
      }
    char **slot = (char **)(void *)field;
    free(*slot);
    *slot = xstrdup(value);
    return true;
  }
  case K_LONG: {
    long v;
    if (!parse_long_range(value, k->min, k->max, &v)) {
      snprintf(why, whysz, "must be a whole number from %ld to %ld (got \"%.40s\")",
               k->min, k->max, value);
      return false;
    }
    *(long *)(void *)field = v;
    return true;
  }
  case K_BOOL: {
    bool b;
    if (!parse_bool(value, &b)) {
      snprintf(why, whysz, "must be yes or no (got \"%.40s\")", value);
      return false;
    }
    *(bool *)(void *)field = b;
    return true;
  }
  case K_ENUM:
    for (int i = 0; k->choices[i]; i++)
      if (strcmp(value, k->choices[i]) == 0) {
        /* Every enum field is int-sized (asserted below); its values are
         * the choices' indexes. */
        *(int *)(void *)field = i;
        return true;
      }
    {
      size_t n = (size_t)snprintf(why, whysz, "must be one of");
      for (int i = 0; k->choices[i] && n < whysz; i++)
        n += (size_t)snprintf(why + n, whysz - n, "%s %s", i ? "," : "",
                              k->choices[i]);
      if (n < whysz)
        snprintf(why + n, whysz - n, " (got \"%.40s\")", value);
    }
    return false;
  }
  return false;
}

static int conf_ini_handler(void *user, const char *section, const char *name,
                            const char *value) {
  struct load_state *st = user;
  char why[256];
  if (st->failed)
    return 0;
  for (size_t i = 0; i < NKEYS; i++) {
    const struct conf_key *k = &conf_keys[i];
    if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
      continue;
    if (st->seen[i]) {
      snprintf(st->err, st->errsz, "%s: [%s] %s: given twice", st->name,
               section, name);
      st->failed = true;
      return 0;
    }
    st->seen[i] = true;
    if (!conf_set(st->conf, k, value, why, sizeof why)) {
      snprintf(st->err, st->errsz, "%s: [%s] %s: %s", st->name, section, name,
               why);
      st->failed = true;
      return 0;
    }
    return 1;
  }
  snprintf(st->err, st->errsz, "%s: [%s] %s: unknown key", st->name, section,
           name);
  st->failed = true;
  return 0;
}

static struct conf *conf_defaults(void) {
  struct conf *conf = xcalloc(1, sizeof *conf);
  char why[256];
  for (size_t i = 0; i < NKEYS; i++)
    if (!conf_set(conf, &conf_keys[i], conf_keys[i].default_value, why,
                  sizeof why))
      abort(); /* a default that fails its own check is a bug */
  return conf;
}

/* The one parser of status lists ("200-299,302": statuses from 100 to
 * 599, ranges low-high, commas between). Returns whether the list is well
 * formed; *found tells whether code is in it. */
static bool status_list_scan(const char *list, long code, bool *found) {
  const char *p = list;
  *found = false;
  if (*p == '\0')
    return false;
  while (*p) {
    long lo, hi;
    char *end;
    if (*p < '0' || *p > '9')
      return false;
    lo = hi = strtol(p, &end, 10);
    p = end;
    if (*p == '-') {
      if (p[1] < '0' || p[1] > '9')
        return false;
      hi = strtol(p + 1, &end, 10);
      p = end;
    }
    if (lo < 100 || hi > 599 || lo > hi)
      return false;
    if (code >= lo && code <= hi)
      *found = true;
    if (*p == ',' && p[1] != '\0')
      p++;
    else if (*p)
      return false;
  }
  return true;
}

bool conf_status_in_list(const char *list, long code) {
  bool found;
  return status_list_scan(list, code, &found) && found;
}

static bool status_list_valid(const char *list) {
  bool found;
  return status_list_scan(list, 0, &found);
}

/* Rules that tie keys together, checked once every key is read. */
static bool conf_check(struct conf *c, const char *name, char *err,
                       size_t errsz) {
  char why[256];
#define FAIL(sec, key, ...)                                                    \
  do {                                                                         \
    snprintf(why, sizeof why, __VA_ARGS__);                                    \
    snprintf(err, errsz, "%s: [%s] %s: %s", name, sec, key, why);              \
    return false;                                                              \
  } while (0)

  if (c->database.driver == DATABASE_DRIVER_SQLITE &&
      c->database.path[0] == '\0')
    FAIL("database", "path", "must not be empty");
  if (c->database.driver == DATABASE_DRIVER_POSTGRESQL &&
      c->database.conninfo[0] == '\0')
    FAIL("database", "conninfo", "must name the database when driver = postgresql");
  if (c->otp.secret_file[0] == '\0')
    FAIL("otp", "secret_file", "must not be empty");
  if (c->payload.format == PAYLOAD_FORMAT_PGP && c->pgp.secret_keys[0] == '\0')
    FAIL("pgp", "secret_keys", "must name our key files when [payload] format = pgp");
  if (c->payload.format == PAYLOAD_FORMAT_PGP && c->pgp.google_keys[0] == '\0')
    FAIL("pgp", "google_keys",
         "must name Google's key files when [payload] format = pgp");
  if (!sms_check_template(c->sms.template, (int)c->otp.length,
                          (int)((c->otp.ttl_seconds + 59) / 60), why,
                          sizeof why)) {
    snprintf(err, errsz, "%s: [sms] template: %s", name, why);
    return false;
  }
  if (!phone_countries_valid(c->sms.countries))
    FAIL("sms", "countries",
         "must be calling codes (1 to 3 digits, the first not 0) separated by "
         "commas, such as 91,44,1");
  switch (c->sender.transport) {
  case TRANSPORT_KIND_EXEC:
    if (c->sender.exec_command[0] == '\0')
      FAIL("sender", "exec_command", "must be set when transport = exec");
    if (c->sender.exec_command[0] != '/')
      FAIL("sender", "exec_command", "must start with an absolute path");
    if (c->sender.lease_seconds <= c->sender.exec_timeout_seconds)
      FAIL("sender", "lease_seconds",
           "must be longer than exec_timeout_seconds (%ld)",
           c->sender.exec_timeout_seconds);
    break;
  case TRANSPORT_KIND_SPOOL:
    if (c->sender.spool_dir[0] != '/')
      FAIL("sender", "spool_dir", "must be an absolute path");
    break;
  case TRANSPORT_KIND_HTTP:
    if (strncmp(c->sender.http_url, "http://", 7) != 0 &&
        strncmp(c->sender.http_url, "https://", 8) != 0)
      FAIL("sender", "http_url",
           "must start with http:// or https:// when transport = http");
    if (c->sender.lease_seconds * 1000 <= c->sender.http_timeout_ms)
      FAIL("sender", "lease_seconds",
           "must be longer than http_timeout_ms (%ld ms)",
           c->sender.http_timeout_ms);
    break;
  }
  if (!status_list_valid(c->sender.http_sent_statuses))
    FAIL("sender", "http_sent_statuses",
         "must be a list of HTTP statuses or ranges, such as 200-299,302");
  if (!status_list_valid(c->sender.http_retry_statuses))
    FAIL("sender", "http_retry_statuses",
         "must be a list of HTTP statuses or ranges, such as 429,500-599");
  if (c->sender.retry_max_seconds < c->sender.retry_base_seconds)
    FAIL("sender", "retry_max_seconds",
         "must not be less than retry_base_seconds (%ld)",
         c->sender.retry_base_seconds);
#undef FAIL
  return true;
}

static struct conf *conf_finish(struct conf *conf, struct load_state *st,
                                int rc, const char *name, char *err,
                                size_t errsz) {
  if (!st->failed && rc != 0) {
    if (rc < 0)
      snprintf(err, errsz, "%s: cannot read the file", name);
    else
      snprintf(err, errsz, "%s: line %d: not a section, key = value or comment",
               name, rc);
    st->failed = true;
  }
  if (st->failed || !conf_check(conf, name, err, errsz)) {
    conf_free(conf);
    return NULL;
  }
  conf->file = xstrdup(name);
  return conf;
}

struct conf *conf_load(const char *path, char *err, size_t errsz) {
  struct conf *conf = conf_defaults();
  struct load_state st = {.conf = conf, .name = path, .err = err, .errsz = errsz};
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(err, errsz, "%s: cannot open the file: %m", path);
    conf_free(conf);
    return NULL;
  }
  int rc = ini_parse_file(f, conf_ini_handler, &st);
  fclose(f);
  return conf_finish(conf, &st, rc, path, err, errsz);
}

struct conf *conf_load_string(const char *text, const char *name, char *err,
                              size_t errsz) {
  struct conf *conf = conf_defaults();
  struct load_state st = {.conf = conf, .name = name, .err = err, .errsz = errsz};
  int rc = ini_parse_string(text, conf_ini_handler, &st);
  return conf_finish(conf, &st, rc, name, err, errsz);
}

void conf_free(struct conf *conf) {
  if (conf == NULL)
    return;
  for (size_t i = 0; i < NKEYS; i++)
    if (conf_keys[i].type == K_STRING)
      free(*(char **)(void *)((char *)conf + conf_keys[i].offset));
  free(conf->file);
  free(conf);
}

const char *conf_database_where(const struct conf *conf) {
  return conf->database.driver == DATABASE_DRIVER_POSTGRESQL
             ? "(postgresql)"
             : conf->database.path;
}
