/* The configuration file shared by all programs: one INI file, every key
 * with a documented default, every value checked at start-up. The file
 * etc/otpgate.conf documents each key; keep the two in step. */
#ifndef OTPGATE_CONF_H
#define OTPGATE_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

enum token_position { TOKEN_FIRST, TOKEN_LAST };
enum transport_kind { TRANSPORT_KIND_EXEC, TRANSPORT_KIND_SPOOL, TRANSPORT_KIND_HTTP };
enum http_method { HTTP_GET, HTTP_POST };
enum write_lock { WRITE_LOCK_QUEUE, WRITE_LOCK_SQLITE };
enum synchronous { SYNCHRONOUS_NORMAL, SYNCHRONOUS_FULL };
enum payload_format { PAYLOAD_FORMAT_PLAIN, PAYLOAD_FORMAT_PGP };
enum database_driver { DATABASE_DRIVER_SQLITE, DATABASE_DRIVER_POSTGRESQL };

struct conf {
  char *file; /* the path it was read from */

  struct {
    enum database_driver driver;
    char *conninfo; /* libpq's connection string (postgresql) */
    char *path;
    enum synchronous synchronous;
    long busy_timeout_ms;
    enum write_lock write_lock;
  } database;

  struct {
    long max_body_bytes;
    long timestamp_skew_ms;
    char *metrics_file; /* the workers' shared counters; "": none */
  } api;

  struct {
    enum payload_format format;
  } payload;

  struct {
    char *secret_keys;  /* comma-separated files: our key pairs */
    char *google_keys;  /* comma-separated files: Google's public keys */
    char *signing_keys; /* comma-separated fingerprints; "": all ours */
    long max_plaintext_bytes;
  } pgp;

  struct {
    long length;
    long ttl_seconds;
    long max_verify_attempts;
    long max_account_failures;
    long lockout_seconds;
    long send_limit;
    long send_window_seconds;
    char *secret_file;
  } otp;

  struct {
    char *template;
    enum token_position token_position;
    char *countries;               /* calling codes served; "": all */
    long max_per_minute;           /* SMS queued a minute; 0: no cap */
    long max_per_prefix_per_minute;
    long prefix_digits;            /* digits after '+' that make a prefix */
  } sms;

  struct {
    enum transport_kind transport;
    char *exec_command;
    long exec_timeout_seconds;
    char *spool_dir;
    char *http_url;
    enum http_method http_method;
    char *http_body;
    char *http_content_type;
    long http_timeout_ms;
    bool http_verify_tls;
    char *http_sent_statuses;
    char *http_retry_statuses;
    bool idempotent;
    long max_attempts;
    long retry_base_seconds;
    long retry_max_seconds;
    long lease_seconds;
    long batch_size;  /* due rows claimed in one transaction */
    long concurrency; /* sends of a batch in flight at once */
    long gather_ms;   /* after a batch that emptied the queue, the wait
                         for more before the next claim */
    long poll_interval_ms;
    char *wake_socket;
    long heartbeat_seconds;
    long heartbeat_max_age_seconds;
    long breaker_failures;
    long breaker_seconds;
    long housekeeping_interval_seconds;
  } sender;

  struct {
    long requests_days;
    long otps_days;
    long outbox_days;
  } retention;

  struct {
    bool syslog;
    enum log_level level;
  } log;
};

/* The path to read: the -c argument if given, else $OTPGATE_CONFIG, else
 * $(sysconfdir)/otpgate/otpgate.conf. */
const char *conf_resolve_path(const char *cli_path);

/* Reads and checks the file. On failure returns NULL and writes one line
 * naming the file, the key and the problem into err. */
struct conf *conf_load(const char *path, char *err, size_t errsz);
/* The same from a string (tests, fuzzing); name stands for the file name. */
struct conf *conf_load_string(const char *text, const char *name, char *err,
                              size_t errsz);
void conf_free(struct conf *conf);
/* The database as messages name it: the SQLite file's path, or
 * "(postgresql)" (never the conninfo: it is the operator's). */
const char *conf_database_where(const struct conf *conf);

/* Whether code is in a status list such as "200-299,302" (one that
 * conf_load() accepted). */
bool conf_status_in_list(const char *list, long code);

#endif
