#include "config.h"

#include "notify.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "util.h"

/* sd_notify() never unsets NOTIFY_SOCKET here (0): the watchdog and the
 * stop need it again later. */
void notify_ready(void) { sd_notify(0, "READY=1"); }

void notify_stopping(void) { sd_notify(0, "STOPPING=1"); }

void notify_watchdog(void) { sd_notify(0, "WATCHDOG=1"); }

/* WATCHDOG_USEC when WATCHDOG_PID names our parent: systemd sets it to the
 * unit's main process, which for the workers is multiwatch. */
static uint64_t parent_watchdog_usec(void) {
  const char *pid = getenv("WATCHDOG_PID"), *usec = getenv("WATCHDOG_USEC");
  uint64_t p, u;
  if (pid == NULL || usec == NULL || !parse_u64(pid, &p) ||
      p != (uint64_t)getppid() || !parse_u64(usec, &u))
    return 0;
  return u;
}

int64_t notify_watchdog_every_ms(bool of_parent, int64_t *limit_ms) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0)
    usec = of_parent ? parent_watchdog_usec() : 0;
  if (limit_ms)
    *limit_ms = (int64_t)(usec / 1000);
  if (usec == 0)
    return 0;
  /* Twice per period, as sd_watchdog_enabled(3) advises; at least 1 ms. */
  int64_t every = (int64_t)(usec / 2000);
  return every > 0 ? every : 1;
}

struct watchdog_thread {
  int64_t every_ms;
  bool (*alive)(void);
};

static void *watchdog_loop(void *arg) {
  struct watchdog_thread w = *(struct watchdog_thread *)arg;
  free(arg);
  struct timespec pause = {w.every_ms / 1000, (w.every_ms % 1000) * 1000000L};
  for (;;) {
    if (w.alive())
      notify_watchdog();
    nanosleep(&pause, NULL);
  }
  return NULL;
}

bool notify_watchdog_thread(int64_t every_ms, bool (*alive)(void)) {
  struct watchdog_thread *w = xmalloc(sizeof *w);
  sigset_t all, old;
  pthread_attr_t attr;
  pthread_t thread;
  w->every_ms = every_ms;
  w->alive = alive;
  /* The thread inherits this mask: every signal stays the main thread's
   * (a stop must interrupt its accept(), not this sleep). */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&thread, &attr, watchdog_loop, w);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0)
    free(w);
  return rc == 0;
}
