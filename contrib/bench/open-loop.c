/* open-loop: sendOtp at a fixed rate, whatever the answers do (issue 13).
 *
 * Request i is due at start + i / RATE. It is sent then on an idle
 * keep-alive connection, or on a new one (up to -c), or, when all of those
 * are busy, as soon as one comes free. Its latency is measured from the
 * time it was DUE, not from when it could be sent: a slow answer makes the
 * requests behind it late and they count as late (no coordinated
 * omission). The body is the one contrib/bench/run's wrk script sends: a
 * requestId no other request has (TAG-counter), the current time, the
 * accounts +FIRST .. +FIRST+N-1 in turn. An answer counts as an error
 * when it is not a 200 whose body holds "result":"SUCCESS", or when the
 * connection fails or it has not come 10 s after the last request was due.
 *
 * usage: open-loop -p PORT -u PATH -r RATE -d SECONDS [-c MAXCONN]
 *                  [-t TAG] [-a ACCOUNTS] [-f FIRST] [-n PREOPEN] [-o FILE]
 *
 * -o FILE writes one line per request, "due_ms latency_ms" (due: since the
 * start; latency -1: no answer), to see when the slow ones came.
 *
 * Prints one line: OPENLOOP {"rate":R,"requests":N,"answered":N,
 * "non200":N,"nonsuccess":N,"socket_errors":N,"timeouts":N,"p50_us":..,
 * "p99_us":..,"p999_us":..,"max_us":..,"late_p99_us":..,"late_max_us":..,
 * "conns":N,"seconds":S}: late_* is how far behind its schedule this
 * program itself got to each request (its own lag, from the timer to the
 * request going out or joining the queue for a connection; included in
 * the latencies), conns the most connections open at once.
 *
 * One thread, epoll, a timerfd for the schedule; plain C, no libraries.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN 1024
#define BUF 16384
#define DRAIN_NS (10LL * 1000000000LL)

struct conn {
  int fd;
  int connected;
  long req;          /* the request in flight, -1: none */
  size_t out_len, out_off;
  char out[1024];
  size_t in_len;
  char in[BUF];
  int retried;       /* the request was resent once after a close */
};

static struct conn conns[MAX_CONN];
static int nconn, maxconn = 256, epfd;
static int idle[MAX_CONN], nidle, idle_head; /* FIFO ring of idle conns */
static long *pending, npending, pending_head; /* requests waiting */
static int64_t *due, *lat, *late;
static long nreq, answered, non200, nonsuccess, sock_err;
static int port;
static const char *path = "/", *tag = "ol";
static long accounts = 10000;
static long long first_phone = 14035000000LL;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void idle_push(int c) {
  idle[(idle_head + nidle) % MAX_CONN] = c;
  nidle++;
}

static int idle_pop(void) {
  int c = idle[idle_head];
  idle_head = (idle_head + 1) % MAX_CONN;
  nidle--;
  return c;
}

static int open_conn(void) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 &&
      errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  int c;
  for (c = 0; c < nconn; c++)
    if (conns[c].fd < 0)
      break;
  if (c == nconn)
    nconn++;
  memset(&conns[c], 0, sizeof conns[c]);
  conns[c].fd = fd;
  conns[c].req = -1;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
                           .data.u32 = (uint32_t)c};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  return c;
}

static void close_conn(int c) {
  close(conns[c].fd);
  conns[c].fd = -1;
  /* Drop it from the idle ring if it is there. */
  for (int i = 0; i < nidle; i++) {
    int k = (idle_head + i) % MAX_CONN;
    if (idle[k] == c) {
      for (int j = i; j < nidle - 1; j++)
        idle[(idle_head + j) % MAX_CONN] = idle[(idle_head + j + 1) % MAX_CONN];
      nidle--;
      break;
    }
  }
}

static int live_conns(void) {
  int n = 0;
  for (int c = 0; c < nconn; c++)
    n += conns[c].fd >= 0;
  return n;
}

static void try_write(int c) {
  struct conn *k = &conns[c];
  while (k->out_off < k->out_len) {
    ssize_t w = send(k->fd, k->out + k->out_off, k->out_len - k->out_off,
                     MSG_NOSIGNAL);
    if (w < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ENOTCONN)
        k->out_off = k->out_len; /* the read side sees the failure */
      return;
    }
    k->out_off += (size_t)w;
  }
}

static void start_request(int c, long r) {
  struct conn *k = &conns[c];
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  char body[512];
  int blen = snprintf(
      body, sizeof body,
      "{\"requestHeader\":{\"protocolVersion\":{\"major\":1,\"minor\":0,"
      "\"revision\":0},\"requestId\":\"%s-%ld\",\"requestTimestamp\":\"%lld\"},"
      "\"accountPhoneNumber\":\"+%lld\",\"smsMatchingToken\":\"AB12345678C\","
      "\"otpContext\":{\"association\":{}}}",
      tag, r, (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000,
      first_phone + r % accounts);
  k->out_len = (size_t)snprintf(
      k->out, sizeof k->out,
      "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
      path, port, blen, body);
  k->out_off = 0;
  k->in_len = 0;
  k->req = r;
  if (k->connected)
    try_write(c);
}

/* Request r goes out now, or waits for a connection. */
static void dispatch(long r) {
  late[r] = now_ns() - due[r];
  if (nidle > 0) {
    start_request(idle_pop(), r);
    return;
  }
  if (live_conns() < maxconn) {
    int c = open_conn();
    if (c >= 0) {
      start_request(c, r);
      return;
    }
  }
  pending[(pending_head + npending) % nreq] = r;
  npending++;
}

static void conn_free(int c) {
  conns[c].req = -1;
  conns[c].retried = 0;
  if (npending > 0) {
    long r = pending[pending_head];
    pending_head = (pending_head + 1) % nreq;
    npending--;
    start_request(c, r);
  } else {
    idle_push(c);
  }
}

/* The connection failed or the server closed it. A request in flight is
 * sent once more on a new connection (an idle keep-alive connection the
 * server closed as we wrote); a second failure is a socket error. */
static void conn_lost(int c) {
  long r = conns[c].req;
  int retried = conns[c].retried;
  close_conn(c);
  if (r < 0)
    return;
  if (!retried) {
    int n = open_conn();
    if (n >= 0) {
      conns[n].retried = 1;
      start_request(n, r);
      return;
    }
  }
  sock_err++;
  lat[r] = -2;
}

/* Whether a whole answer is in; then its status and body are checked. */
static int parse_answer(int c) {
  struct conn *k = &conns[c];
  k->in[k->in_len] = 0;
  char *eoh = strstr(k->in, "\r\n\r\n");
  if (!eoh)
    return 0;
  char *body = eoh + 4;
  size_t have = k->in_len - (size_t)(body - k->in);
  int status = atoi(k->in + 9);
  int close_after = 0;
  long clen = -1;
  int chunked = 0;
  for (char *h = strstr(k->in, "\r\n") + 2; h < eoh;
       h = strstr(h, "\r\n") + 2) {
    if (!strncasecmp(h, "Content-Length:", 15))
      clen = atol(h + 15);
    else if (!strncasecmp(h, "Transfer-Encoding:", 18) &&
             strstr(h, "chunked") && strstr(h, "chunked") < strstr(h, "\r\n"))
      chunked = 1;
    else if (!strncasecmp(h, "Connection:", 11) &&
             strcasestr(h, "close") && strcasestr(h, "close") < strstr(h, "\r\n"))
      close_after = 1;
  }
  if (chunked) {
    if (have < 5 || memcmp(k->in + k->in_len - 5, "0\r\n\r\n", 5) != 0)
      return 0;
  } else if (clen >= 0) {
    if ((long)have < clen)
      return 0;
  } else {
    return 0; /* until the server closes */
  }
  long r = k->req;
  lat[r] = now_ns() - due[r];
  answered++;
  if (status != 200)
    non200++;
  else if (!strstr(body, "\"result\":\"SUCCESS\""))
    nonsuccess++;
  if (close_after) {
    k->req = -1;
    close_conn(c);
  } else {
    conn_free(c);
  }
  return 1;
}

static void on_event(int c, uint32_t events) {
  struct conn *k = &conns[c];
  if (k->fd < 0)
    return;
  if (!k->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
      conn_lost(c);
      return;
    }
    k->connected = 1;
    if (k->req < 0)
      idle_push(c); /* pre-opened */
  }
  if (k->req >= 0 && k->out_off < k->out_len)
    try_write(c);
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    for (;;) {
      ssize_t n = recv(k->fd, k->in + k->in_len, BUF - 1 - k->in_len, 0);
      if (n > 0) {
        k->in_len += (size_t)n;
        if (k->req >= 0 && parse_answer(c))
          return;
        if (k->in_len >= BUF - 1) {
          conn_lost(c);
          return;
        }
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
      conn_lost(c); /* EOF or error */
      return;
    }
  }
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static int64_t pct(const int64_t *v, long n, double p) {
  if (n == 0)
    return 0;
  long i = (long)(p * (double)n);
  if (i >= n)
    i = n - 1;
  return v[i];
}

int main(int argc, char **argv) {
  double rate = 0, seconds = 0;
  int preopen = 8, opt;
  const char *dump = NULL;
  while ((opt = getopt(argc, argv, "p:u:r:d:c:t:a:f:n:o:")) != -1) {
    switch (opt) {
    case 'p': port = atoi(optarg); break;
    case 'u': path = optarg; break;
    case 'r': rate = atof(optarg); break;
    case 'd': seconds = atof(optarg); break;
    case 'c': maxconn = atoi(optarg); break;
    case 't': tag = optarg; break;
    case 'a': accounts = atol(optarg); break;
    case 'f': first_phone = atoll(optarg); break;
    case 'n': preopen = atoi(optarg); break;
    case 'o': dump = optarg; break;
    default:
      fprintf(stderr, "usage: open-loop -p PORT -u PATH -r RATE -d SECONDS "
                      "[-c MAXCONN] [-t TAG] [-a ACCOUNTS] [-f FIRST] "
                      "[-n PREOPEN] [-o FILE]\n");
      return 2;
    }
  }
  if (port <= 0 || rate <= 0 || seconds <= 0 || maxconn < 1 ||
      maxconn > MAX_CONN || accounts < 1 || preopen < 0 || preopen > maxconn)
    return 2;
  nreq = (long)(rate * seconds);
  if (nreq < 1)
    nreq = 1;
  due = calloc((size_t)nreq, sizeof *due);
  lat = calloc((size_t)nreq, sizeof *lat);
  late = calloc((size_t)nreq, sizeof *late);
  pending = calloc((size_t)nreq, sizeof *pending);
  if (!due || !lat || !late || !pending)
    return 1;
  for (long i = 0; i < nreq; i++)
    lat[i] = late[i] = -1;
  for (int c = 0; c < MAX_CONN; c++)
    conns[c].fd = -1;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  struct epoll_event tev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
  epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);

  /* Connections opened before the clock starts, as a client that has
   * been talking to the server for a while has. */
  for (int i = 0; i < preopen; i++)
    open_conn();
  int64_t wait_until = now_ns() + 2000000000LL;
  while (nidle < preopen && now_ns() < wait_until) {
    struct epoll_event evs[64];
    int n = epoll_wait(epfd, evs, 64, 10);
    for (int i = 0; i < n; i++)
      if (evs[i].data.u32 != UINT32_MAX)
        on_event((int)evs[i].data.u32, evs[i].events);
  }

  int64_t start = now_ns();
  for (long i = 0; i < nreq; i++)
    due[i] = start + (int64_t)((double)i * 1e9 / rate);
  int64_t end = due[nreq - 1] + DRAIN_NS;
  long next = 0;
  int maxlive = 0;
  for (;;) {
    int64_t t = now_ns();
    while (next < nreq && due[next] <= t)
      dispatch(next++);
    int live = live_conns();
    if (live > maxlive)
      maxlive = live;
    if (next == nreq && answered + sock_err == nreq)
      break;
    if (t >= end)
      break;
    int64_t wake = next < nreq ? due[next] : end;
    struct itimerspec its = {0};
    its.it_value.tv_sec = wake / 1000000000LL;
    its.it_value.tv_nsec = wake % 1000000000LL;
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    struct epoll_event evs[64];
    int n = epoll_wait(epfd, evs, 64, -1);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.u32 == UINT32_MAX) {
        uint64_t x;
        if (read(tfd, &x, sizeof x) < 0 && errno != EAGAIN)
          return 1;
      } else {
        on_event((int)evs[i].data.u32, evs[i].events);
      }
    }
  }
  double took = (double)(now_ns() - start) / 1e9;
  if (dump) {
    FILE *f = fopen(dump, "w");
    if (!f) {
      perror(dump);
      return 1;
    }
    for (long i = 0; i < nreq; i++)
      fprintf(f, "%.3f %.3f\n", (double)(due[i] - start) / 1e6,
              lat[i] >= 0 ? (double)lat[i] / 1e6 : -1.0);
    fclose(f);
  }
  long timeouts = 0, nl = 0, nlate = 0;
  int64_t *ok = calloc((size_t)nreq, sizeof *ok);
  int64_t *lt = calloc((size_t)nreq, sizeof *lt);
  for (long i = 0; i < nreq; i++) {
    if (lat[i] == -1)
      timeouts++;
    /* A request that never got an answer counts at the worst latency
     * there is: the drain time, so it cannot flatter the tail. */
    ok[nl++] = lat[i] >= 0 ? lat[i] : (end - due[i]);
    if (late[i] >= 0)
      lt[nlate++] = late[i];
  }
  qsort(ok, (size_t)nl, sizeof *ok, cmp64);
  qsort(lt, (size_t)nlate, sizeof *lt, cmp64);
  printf("OPENLOOP {\"rate\":%.1f,\"requests\":%ld,\"answered\":%ld,"
         "\"non200\":%ld,\"nonsuccess\":%ld,\"socket_errors\":%ld,"
         "\"timeouts\":%ld,\"p50_us\":%lld,\"p99_us\":%lld,\"p999_us\":%lld,"
         "\"max_us\":%lld,\"late_p99_us\":%lld,\"late_max_us\":%lld,"
         "\"conns\":%d,\"seconds\":%.2f}\n",
         rate, nreq, answered, non200, nonsuccess, sock_err, timeouts,
         (long long)pct(ok, nl, 0.50) / 1000, (long long)pct(ok, nl, 0.99) / 1000,
         (long long)pct(ok, nl, 0.999) / 1000, (long long)ok[nl - 1] / 1000,
         (long long)pct(lt, nlate, 0.99) / 1000,
         nlate ? (long long)lt[nlate - 1] / 1000 : 0LL, maxlive, took);
  return 0;
}
