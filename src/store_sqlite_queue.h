/* The write queue: writers line up on an flock() of a lock file beside the
 * database before BEGIN IMMEDIATE, and leave it after COMMIT or ROLLBACK.
 *
 * Why: SQLite's busy handler makes a writer that finds the database locked
 * sleep (1, 2, 5, 10 ... 100 ms) and try again, so under load a writer can
 * lose the race again and again, and single requests wait seconds while the
 * average stays low. In the kernel's queue a waiter is woken the moment the
 * holder lets go, and BEGIN IMMEDIATE then finds SQLite's lock free.
 *
 * The queue only orders writers; SQLite's lock still guards the data, so a
 * program that does not queue (the sqlite3 shell, an older otpgate) is
 * still safe, and a lock file that cannot be opened only means waiting
 * SQLite's way. The timeout bounds the wait in the queue: a holder that is
 * stopped (SIGSTOP) or stuck makes the others give up, never hang. A holder
 * that dies releases the lock with its file descriptor.
 *
 * Signals: flock() takes no timeout, so a wait arms a timer that sends
 * SIGALRM to the waiting thread. The handler and mask are installed for
 * the wait only and restored after it; a program with timers of its own
 * gives them another signal (the worker uses SIGRTMIN). */
#ifndef OTPGATE_STORE_QUEUE_H
#define OTPGATE_STORE_QUEUE_H

#include <stdbool.h>

struct store_queue {
  bool enabled;    /* [database] write_lock = queue */
  char *db_path;   /* the database: the lock file's owner follows it */
  char *lock_path; /* db_path + "-lock" */
  int lock_fd;     /* -1: not open yet; -2: cannot be opened */
  bool held;       /* this connection holds the lock */
};

void store_queue_init(struct store_queue *q, const char *db_path, bool enabled);
void store_queue_close(struct store_queue *q);

/* Takes this connection's turn, waiting at most timeout_ms. Returns the
 * milliseconds of the timeout left (SQLite's, for BEGIN IMMEDIATE), or -1
 * when the wait went past it. Holding it already, or a queue that is off
 * or whose lock file cannot be used, costs nothing and leaves all of it. */
long store_queue_enter(struct store_queue *q, long timeout_ms);
void store_queue_leave(struct store_queue *q);

#endif
