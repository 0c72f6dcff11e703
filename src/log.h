/* Logging: one line per event, its message key=value pairs
 * (`event=stopped`, `requestId=r-1 status=200`, values with spaces in
 * double quotes: log_q()). Under systemd, when stderr is the journal's
 * stream (JOURNAL_STREAM names it), a line goes to stderr only, with the
 * journal's priority prefix (<3> ...); elsewhere to stderr, with a time
 * stamp, and to syslog unless it is off. Callers must never pass a code, a
 * full phone number or a secret: use phone_mask() for numbers. */
#ifndef OTPGATE_LOG_H
#define OTPGATE_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Where lines go (log_destinations()). */
enum {
  LOG_TO_STDERR = 1,  /* stamped lines on stderr */
  LOG_TO_JOURNAL = 2, /* stderr is the journal: priority-prefixed lines */
  LOG_TO_SYSLOG = 4,
};

/* ident: the program name; use_syslog: also send lines to syslog (never
 * under the journal: it would store each line twice). */
void log_open(const char *ident, bool use_syslog);
void log_set_level(enum log_level level);
/* Reopens what can be reopened (SIGHUP): syslog's connection. */
void log_reopen(void);
void log_close(void);
/* LOG_TO_* of the destinations log_open() chose. */
int log_destinations(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* A value as one token of a key=value line: as it is when it holds no
 * space, '"', '=', '\' or control character, else in double quotes with
 * '"' and '\' escaped (longer values are cut). Used inside the call:
 * log_info("path=%s", log_q(path).s) (C11 keeps the temporary alive to
 * the end of the full expression). */
struct log_quoted {
  char s[768];
};
struct log_quoted log_q(const char *value);

#endif
