/* The write queue; store_sqlite_queue.h says why it exists and how it waits. */
#include "config.h"

#include "store_sqlite_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

void store_queue_init(struct store_queue *q, const char *db_path,
                      bool enabled) {
  memset(q, 0, sizeof *q);
  q->enabled = enabled;
  q->db_path = xstrdup(db_path);
  q->lock_path = xasprintf("%s-lock", db_path);
  q->lock_fd = -1;
}

void store_queue_close(struct store_queue *q) {
  if (q->lock_fd >= 0)
    close(q->lock_fd);
  free(q->db_path);
  free(q->lock_path);
  memset(q, 0, sizeof *q);
  q->lock_fd = -1;
}

static void store_queue_wakeup(int sig) {
  (void)sig;
}

/* Opens the lock file on first use, with the database's permissions: owner
 * and group only, and owned like the database when we run as root (as
 * SQLite does for its -wal and -shm files). */
static int store_queue_fd(struct store_queue *q) {
  if (q->lock_fd != -1)
    return q->lock_fd;
  mode_t old = umask(007);
  int fd = open(q->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0660);
  umask(old);
  if (fd < 0) /* flock() works on a descriptor open for reading only */
    fd = open(q->lock_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0 && geteuid() == 0) {
    struct stat db, lk;
    if (stat(q->db_path, &db) == 0 && fstat(fd, &lk) == 0 &&
        (lk.st_uid != db.st_uid || lk.st_gid != db.st_gid) &&
        fchown(fd, db.st_uid, db.st_gid) != 0) {
      /* Not fatal: others may be unable to queue, and wait SQLite's way. */
    }
  }
  q->lock_fd = fd >= 0 ? fd : -2;
  return q->lock_fd;
}

/* Waits in the kernel's queue for the lock, at most timeout_ms: a timer
 * aimed at this thread interrupts flock(), first at the deadline, then
 * every 2 ms in case the first signal came before flock() started waiting.
 * The handler does nothing; SIGALRM's previous disposition and mask are
 * restored before returning. */
static int store_queue_wait(int fd, long timeout_ms) {
  struct sigaction sa, old_sa;
  sigset_t alrm, old_mask;
  struct sigevent sev;
  timer_t timer;
  int rc = -1, err = 0;

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = store_queue_wakeup; /* no SA_RESTART: flock must return */
  sigemptyset(&sa.sa_mask);
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGALRM;
  sev._sigev_un._tid = gettid();
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0)
    return -1;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  sigaction(SIGALRM, &sa, &old_sa);
  sigprocmask(SIG_UNBLOCK, &alrm, &old_mask);
  struct itimerspec its = {
      .it_interval = {0, 2 * 1000 * 1000},
      .it_value = {timeout_ms / 1000, (timeout_ms % 1000) * 1000 * 1000},
  };
  int64_t deadline = monotonic_ms() + timeout_ms;
  if (timer_settime(timer, 0, &its, NULL) == 0) {
    for (;;) {
      if (flock(fd, LOCK_EX) == 0) {
        rc = 0;
        break;
      }
      err = errno;
      if (err != EINTR || monotonic_ms() >= deadline)
        break;
    }
  } else {
    err = errno;
  }
  timer_delete(timer);
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
  sigaction(SIGALRM, &old_sa, NULL);
  errno = err;
  return rc;
}

long store_queue_enter(struct store_queue *q, long timeout_ms) {
  if (!q->enabled || q->held)
    return timeout_ms;
  int fd = store_queue_fd(q);
  if (fd < 0)
    return timeout_ms;
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    q->held = true;
    return timeout_ms;
  }
  if (errno != EWOULDBLOCK)
    return timeout_ms;
  if (timeout_ms <= 0)
    return -1;
  int64_t started = monotonic_ms();
  if (store_queue_wait(fd, timeout_ms) == 0) {
    q->held = true;
    int64_t left = timeout_ms - (monotonic_ms() - started);
    return left > 0 ? (long)left : 1;
  }
  /* Trouble other than the timeout: wait SQLite's way. */
  return errno != EINTR ? timeout_ms : -1;
}

void store_queue_leave(struct store_queue *q) {
  if (!q->held)
    return;
  q->held = false;
  flock(q->lock_fd, LOCK_UN);
}
