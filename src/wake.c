#include "config.h"

#include "wake.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int wake_address(const char *path, struct sockaddr_un *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa->sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(sa->sun_path, path);
  return 0;
}

void wake_notify(const char *path) {
  struct sockaddr_un sa;
  static int fd = -1;
  if (path == NULL || *path == '\0' || wake_address(path, &sa) != 0)
    return;
  if (fd < 0)
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  /* ENOENT, ECONNREFUSED (no sender), EAGAIN (its queue is full: it is
   * awake already): all fine. */
  (void)sendto(fd, "w", 1, MSG_DONTWAIT | MSG_NOSIGNAL,
               (const struct sockaddr *)&sa, sizeof sa);
}

int wake_listen(const char *path) {
  struct sockaddr_un sa;
  if (wake_address(path, &sa) != 0)
    return -1;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  unlink(path);
  /* Workers run as the same user or group as the sender. */
  mode_t old = umask(007);
  int rc = bind(fd, (const struct sockaddr *)&sa, sizeof sa);
  umask(old);
  if (rc != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

void wake_drain(int fd) {
  char buf[64];
  while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
    ;
}
