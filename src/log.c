#include "config.h"

#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

static const char *log_ident = "otpgate";
static bool log_syslog;
static bool log_journal;
static enum log_level log_threshold = LOG_LVL_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* systemd sets JOURNAL_STREAM to the device and inode of the stream it
 * connects a service's stderr to. A child whose stderr went elsewhere (a
 * worker that lighttpd, itself a service, points at its error log) still
 * inherits the variable, so the stream must be stderr itself, as
 * systemd.exec(5) advises. */
static bool stderr_is_journal(void) {
  const char *v = getenv("JOURNAL_STREAM");
  uintmax_t dev, ino;
  char end;
  struct stat sb;
  if (v == NULL || sscanf(v, "%ju:%ju%c", &dev, &ino, &end) != 2 ||
      fstat(STDERR_FILENO, &sb) != 0)
    return false;
  return (uintmax_t)sb.st_dev == dev && (uintmax_t)sb.st_ino == ino;
}

void log_open(const char *ident, bool use_syslog) {
  log_ident = ident;
  log_journal = stderr_is_journal();
  /* journald reads stderr already: syslog would store every line twice. */
  log_syslog = use_syslog && !log_journal;
  if (log_syslog)
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

int log_destinations(void) {
  return (log_journal ? LOG_TO_JOURNAL : LOG_TO_STDERR) |
         (log_syslog ? LOG_TO_SYSLOG : 0);
}

/* The line on stderr: the journal's priority prefix (it adds the time, the
 * name and the pid itself), or a time stamp, the name and the pid. */
static void log_stderr(enum log_level level, const char *line) {
  static const char *const prefixes[] = {SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG};
  if (log_journal) {
    fprintf(stderr, "%s%s\n", prefixes[level], line);
    return;
  }
  struct timespec ts;
  struct tm tm;
  char stamp[32];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  fprintf(stderr, "%s.%03ldZ %s[%ld] %s: %s\n", stamp, ts.tv_nsec / 1000000,
          log_ident, (long)getpid(), level_names[level], line);
}

void log_msg(enum log_level level, const char *fmt, ...) {
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
  log_stderr(level, line);
  if (log_syslog)
    syslog(prio[level], "%s: %s", level_names[level], line);
}

static bool needs_quotes(const char *v) {
  if (*v == '\0')
    return true;
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
      return true;
  return false;
}

struct log_quoted log_q(const char *value) {
  struct log_quoted q;
  size_t n = 0, max = sizeof q.s - 2; /* room for the closing quote */
  if (value == NULL)
    value = "";
  if (!needs_quotes(value)) {
    snprintf(q.s, sizeof q.s, "%s", value);
    return q;
  }
  q.s[n++] = '"';
  for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
    bool escape = *p == '"' || *p == '\\';
    if (n + (escape ? 2 : 1) > max)
      break;
    if (escape)
      q.s[n++] = '\\';
    q.s[n++] = *p < ' ' || *p == 0x7f ? ' ' : (char)*p;
  }
  q.s[n++] = '"';
  q.s[n] = '\0';
  return q;
}
