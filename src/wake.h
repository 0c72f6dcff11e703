/* Wake-ups: after a commit that queued an SMS, a worker pokes the sender
 * with one datagram on a unix socket, so the sender sends at once instead
 * of at its next poll. A lost wake-up only costs a poll interval. */
#ifndef OTPGATE_WAKE_H
#define OTPGATE_WAKE_H

/* Worker side: sends one datagram to the socket at path. Never blocks; a
 * missing or busy sender is not an error. path "" does nothing. */
void wake_notify(const char *path);

/* Sender side: binds a datagram socket at path (replacing a stale one),
 * non-blocking, close-on-exec. Returns the fd, or -1 with errno set. */
int wake_listen(const char *path);
/* Reads and discards every pending datagram. */
void wake_drain(int fd);

#endif
