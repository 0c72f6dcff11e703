/* Logging to stderr and, when enabled, syslog. Callers must never pass a
 * code, a full phone number or a secret: use phone_mask() for numbers. */
#ifndef OTPGATE_LOG_H
#define OTPGATE_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* ident: the program name; use_syslog: also send lines to syslog. */
void log_open(const char *ident, bool use_syslog);
void log_set_level(enum log_level level);
/* Reopens what can be reopened (SIGHUP): syslog's connection. */
void log_reopen(void);
void log_close(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
