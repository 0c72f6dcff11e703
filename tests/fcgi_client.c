#include "config.h"

#include "fcgi_client.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testhelp.h"
#include "util.h"

enum {
  FCGI_BEGIN_REQUEST = 1,
  FCGI_END_REQUEST = 3,
  FCGI_PARAMS = 4,
  FCGI_STDIN = 5,
  FCGI_STDOUT = 6,
  FCGI_STDERR = 7,
};

static void record(struct buf *b, int type, const void *content, size_t len) {
  unsigned char h[8] = {1, (unsigned char)type, 0, 1,
                        (unsigned char)(len >> 8), (unsigned char)len, 0, 0};
  buf_append(b, h, sizeof h);
  if (len)
    buf_append(b, content, len);
}

static void put_length(struct buf *b, size_t n) {
  if (n < 128) {
    unsigned char c = (unsigned char)n;
    buf_append(b, &c, 1);
  } else {
    unsigned char c[4] = {(unsigned char)((n >> 24) | 0x80),
                          (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                          (unsigned char)n};
    buf_append(b, c, 4);
  }
}

static int read_all(int fd, unsigned char *p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static char last_error[128];

const char *th_fcgi_last_error(void) { return last_error; }

#define FAIL_AT(stage)                                                         \
  do {                                                                         \
    snprintf(last_error, sizeof last_error, "%s: %s", stage, strerror(errno)); \
    goto out;                                                                  \
  } while (0)

/* A unix socket path (with a '/'), or 127.0.0.1:PORT. */
static int connect_to(const char *spec) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  struct sockaddr_in in = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  const char *colon = strrchr(spec, ':');
  bool tcp = strchr(spec, '/') == NULL && colon != NULL;
  int fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", spec);
  in.sin_port = tcp ? htons((uint16_t)atoi(colon + 1)) : 0;
  if ((tcp ? connect(fd, (struct sockaddr *)&in, sizeof in)
           : connect(fd, (struct sockaddr *)&sa, sizeof sa)) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int th_fcgi_call(const char *socket_path, const char *const *params,
              const char *body, size_t body_len, struct th_fcgi_reply *out) {
  struct buf req = {0}, pbuf = {0}, stdout_buf = {0};
  int rc = -1;
  memset(out, 0, sizeof *out);
  last_error[0] = '\0';
  int fd = connect_to(socket_path);
  if (fd < 0)
    FAIL_AT("connect");

  unsigned char begin[8] = {0, 1, 0, 0, 0, 0, 0, 0}; /* responder, no keep */
  record(&req, FCGI_BEGIN_REQUEST, begin, sizeof begin);
  for (const char *const *p = params; *p; p++) {
    const char *eq = strchr(*p, '=');
    size_t nl = (size_t)(eq - *p), vl = strlen(eq + 1);
    put_length(&pbuf, nl);
    put_length(&pbuf, vl);
    buf_append(&pbuf, *p, nl);
    buf_append(&pbuf, eq + 1, vl);
  }
  for (size_t off = 0; off < pbuf.len; off += 65535)
    record(&req, FCGI_PARAMS, pbuf.data + off,
           pbuf.len - off > 65535 ? 65535 : pbuf.len - off);
  record(&req, FCGI_PARAMS, NULL, 0);
  if (!write_all(fd, req.data, req.len))
    FAIL_AT("write params");
  /* The body goes in pieces, so a worker that answers early (413) is not
   * stuck behind one huge write. */
  for (size_t off = 0; off < body_len; off += 65535) {
    struct buf chunk = {0};
    record(&chunk, FCGI_STDIN, body + off,
           body_len - off > 65535 ? 65535 : body_len - off);
    bool written = write_all(fd, chunk.data, chunk.len);
    buf_free(&chunk);
    if (!written)
      break; /* the worker may have answered and closed */
  }
  {
    struct buf end = {0};
    record(&end, FCGI_STDIN, NULL, 0);
    (void)write_all(fd, end.data, end.len);
    buf_free(&end);
  }
  for (;;) {
    unsigned char h[8], content[65536 + 256];
    if (read_all(fd, h, 8) != 0)
      FAIL_AT("read header");
    size_t len = ((size_t)h[4] << 8) | h[5], pad = h[6];
    if (read_all(fd, content, len + pad) != 0)
      FAIL_AT("read content");
    if (h[1] == FCGI_STDOUT)
      buf_append(&stdout_buf, content, len);
    else if (h[1] == FCGI_END_REQUEST)
      break;
  }
  if (stdout_buf.data == NULL)
    goto out;
  char *sep = strstr(stdout_buf.data, "\r\n\r\n");
  if (sep == NULL)
    goto out;
  *sep = '\0';
  out->headers = xstrdup(stdout_buf.data);
  out->body_len = stdout_buf.len - (size_t)(sep + 4 - stdout_buf.data);
  out->body = xmalloc(out->body_len + 1);
  memcpy(out->body, sep + 4, out->body_len);
  out->body[out->body_len] = '\0';
  out->status = 200;
  char *st = strstr(out->headers, "Status: ");
  if (st)
    out->status = atoi(st + 8);
  rc = 0;
out:
  if (fd >= 0)
    close(fd);
  buf_free(&req);
  buf_free(&pbuf);
  buf_free(&stdout_buf);
  return rc;
}

void th_fcgi_reply_free(struct th_fcgi_reply *r) {
  free(r->headers);
  free(r->body);
  memset(r, 0, sizeof *r);
}

int th_fcgi_post(const char *socket_path, const char *path, const char *body,
              struct th_fcgi_reply *out) {
  char cl[48], uri[512];
  snprintf(cl, sizeof cl, "CONTENT_LENGTH=%zu", strlen(body));
  snprintf(uri, sizeof uri, "SCRIPT_NAME=%s", path);
  const char *params[] = {"REQUEST_METHOD=POST",
                          "CONTENT_TYPE=application/json",
                          cl,
                          uri,
                          "SERVER_PROTOCOL=HTTP/1.1",
                          NULL};
  return th_fcgi_call(socket_path, params, body, strlen(body), out);
}

int th_worker_start(const char *config_path, char *socket_out, size_t socksz) {
  snprintf(socket_out, socksz, "%s/fcgi.sock", th_tmpdir());
  unlink(socket_out);
  char *built = xasprintf("%s/src/otpgate-fcgi", th_builddir());
  char *prog = th_runnable(built);
  free(built);
  th_hand_over_tmpdir();
  pid_t pid = fork();
  if (pid == 0) {
    /* The worker's log, for tests that read it. */
    char *log = xasprintf("%s/worker.log", th_tmpdir());
    FILE *lf = freopen(log, "a", stderr);
    (void)lf;
    th_become_unprivileged();
    const char *wrap = getenv("OTPGATE_TEST_WRAPPER"); /* e.g. valgrind */
    if (wrap && *wrap)
      execlp("sh", "sh", "-c", "exec $OTPGATE_TEST_WRAPPER \"$@\"", "sh", prog,
             "-c", config_path, "--socket", socket_out, (char *)NULL);
    else
      execl(prog, prog, "-c", config_path, "--socket", socket_out, (char *)NULL);
    _exit(127);
  }
  free(prog);
  /* Wait until it accepts connections (up to 20 s under valgrind). */
  for (int i = 0; i < 2000; i++) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", socket_out);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    if (ok)
      return pid;
    int wstatus;
    if (waitpid(pid, &wstatus, WNOHANG) == pid)
      return -1;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

int th_test_worker(const char *extra, char *socket_out, size_t socksz) {
  bool hb = extra && strstr(extra, "heartbeat_max_age_seconds");
  char *conf = xasprintf("%s%s", hb ? "" : "[sender]\nheartbeat_max_age_seconds = 0\n",
                         extra ? extra : "");
  th_config(conf);
  free(conf);
  if (th_admin("init", NULL) != 0 ||
      th_admin("account", "add", TH_TEST_ACCOUNT, "--phone", TH_TEST_PHONE,
               NULL) != 0 ||
      th_admin("association", "add", TH_TEST_ASSOCIATION, TH_TEST_ACCOUNT,
               NULL) != 0)
    return -1;
  return th_worker_start(th_config_path(), socket_out, socksz);
}

int th_worker_stop(int pid) {
  int wstatus;
  if (pid <= 0)
    return -1;
  kill(pid, SIGTERM);
  if (waitpid(pid, &wstatus, 0) != pid)
    return -1;
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}
