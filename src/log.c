#include "config.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "otpgate";
static bool log_syslog;
static enum log_level log_threshold = LOG_LVL_INFO;

void log_open(const char *ident, bool use_syslog) {
  log_ident = ident;
  log_syslog = use_syslog;
  if (use_syslog)
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level) { log_threshold = level; }

void log_reopen(void) {
  if (log_syslog) {
    closelog();
    openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
  }
}

void log_close(void) {
  if (log_syslog)
    closelog();
}

void log_msg(enum log_level level, const char *fmt, ...) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
  char line[2048];
  va_list ap;

  if (level > log_threshold)
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  /* A log line is one line: a newline in a value must not forge another. */
  for (char *p = line; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';

  struct timespec ts;
  struct tm tm;
  char stamp[32];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  fprintf(stderr, "%s.%03ldZ %s[%ld] %s: %s\n", stamp, ts.tv_nsec / 1000000,
          log_ident, (long)getpid(), names[level], line);
  if (log_syslog)
    syslog(prio[level], "%s: %s", names[level], line);
}
