#include "config.h"

#include "listen_socket.h"

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

static int refuse(char *err, size_t errsz, const char *why) {
  snprintf(err, errsz, "%s", why);
  return -1;
}

static int refuse_errno(char *err, size_t errsz, int fd) {
  int e = errno;
  snprintf(err, errsz, "%s", strerror(e));
  if (fd >= 0)
    close(fd);
  errno = e;
  return -1;
}

/* bind() makes the socket file with 0777 less the umask: 0660 it is. */
static int bind_unix(int fd, const struct sockaddr_un *sa) {
  mode_t old = umask(0777 & ~LISTEN_SOCKET_MODE);
  int rc = bind(fd, (const struct sockaddr *)sa, sizeof *sa);
  int e = errno;
  umask(old);
  errno = e;
  return rc;
}

/* The path is taken: a socket file whose listener has gone may be
 * replaced (a worker killed with SIGKILL leaves one), as spawn-fcgi does;
 * a live one, or a file that is no socket, may not. True once the stale
 * file is removed. */
static bool unix_path_stale(const struct sockaddr_un *sa, char *err,
                            size_t errsz) {
  struct stat sb;
  if (lstat(sa->sun_path, &sb) == 0 && !S_ISSOCK(sb.st_mode)) {
    refuse(err, errsz, "a file that is not a socket is in the way");
    return false;
  }
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) {
    refuse_errno(err, errsz, -1);
    return false;
  }
  int rc = connect(probe, (const struct sockaddr *)sa, sizeof *sa);
  int e = errno;
  close(probe);
  if (rc == 0) {
    refuse(err, errsz, "Address already in use: a process listens on it");
    return false;
  }
  if (e != ECONNREFUSED) {
    errno = e;
    refuse_errno(err, errsz, -1);
    return false;
  }
  if (unlink(sa->sun_path) != 0 && errno != ENOENT) {
    refuse_errno(err, errsz, -1);
    return false;
  }
  return true;
}

static int listen_unix(const char *path, char *err, size_t errsz) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path)
    return refuse(err, errsz, "the path is too long for a unix socket");
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return refuse_errno(err, errsz, -1);
  /* Bind first, and look at what holds the path only when that fails:
   * a live worker's socket is never unlinked on a guess. */
  int rc = bind_unix(fd, &sa);
  if (rc != 0 && errno == EADDRINUSE) {
    if (!unix_path_stale(&sa, err, errsz)) {
      close(fd);
      return -1;
    }
    rc = bind_unix(fd, &sa);
  }
  if (rc != 0 || listen(fd, LISTEN_SOCKET_BACKLOG) != 0)
    return refuse_errno(err, errsz, fd);
  return fd;
}

/* The first of host's addresses that binds. */
static int listen_tcp(const char *host, const char *port, char *err,
                      size_t errsz) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res;
  int gai = getaddrinfo(*host ? host : NULL, port, &hints, &res);
  if (gai != 0)
    return refuse(err, errsz, gai_strerror(gai));
  int fd = -1;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    int one = 1;
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
      continue;
    /* A restarted worker binds again at once, despite TIME_WAIT. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        listen(fd, LISTEN_SOCKET_BACKLOG) == 0)
      break;
    refuse_errno(err, errsz, fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

int listen_socket_open(const char *spec, char *err, size_t errsz) {
  if (strchr(spec, '/'))
    return listen_unix(spec, err, errsz);
  const char *colon = strrchr(spec, ':');
  long port;
  if (colon == NULL || !parse_long_range(colon + 1, 1, 65535, &port))
    return refuse(err, errsz,
                  "neither a unix socket path (one with a '/') nor HOST:PORT "
                  "(PORT 1 to 65535)");
  char *host = xasprintf("%.*s", (int)(colon - spec), spec);
  size_t n = strlen(host);
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') { /* [::1]:9000 */
    memmove(host, host + 1, n - 2);
    host[n - 2] = '\0';
  }
  int fd = listen_tcp(host, colon + 1, err, errsz);
  free(host);
  return fd;
}
