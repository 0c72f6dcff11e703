/* The worker's own listening socket (otpgate-fcgi --socket), bound here
 * rather than by libfcgi, so that a refusal names the address and the
 * reason, a unix path in use by a live worker is never taken over, and the
 * socket gets the mode the README promises. */
#ifndef OTPGATE_LISTEN_SOCKET_H
#define OTPGATE_LISTEN_SOCKET_H

#include <stddef.h>

#define LISTEN_SOCKET_MODE 0660 /* a unix socket: owner and group only */
#define LISTEN_SOCKET_BACKLOG 128

/* spec: a unix socket path (anything with a '/') or HOST:PORT ([ADDR]:PORT
 * for IPv6). A unix path where a process listens is refused; a socket file
 * left by a dead process is replaced; any other file there is refused.
 * Returns the listening fd, or -1 with err holding the reason (strerror's
 * words, or what is wrong with spec). */
int listen_socket_open(const char *spec, char *err, size_t errsz);

#endif
