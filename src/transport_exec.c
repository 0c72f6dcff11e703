/* The exec transport: runs [sender] exec_command for each SMS, the number
 * as its last argument, the text on its standard input, the row id in
 * OTPGATE_MESSAGE_ID. No shell: the command line is split at spaces. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "transport.h"
#include "util.h"

#define EXEC_TEMPFAIL 75 /* EX_TEMPFAIL from sysexits.h */
#define EXEC_STDERR_MAX 2048
#define EXEC_STDOUT_MAX 256
#define EXEC_ENV_NAME "OTPGATE_MESSAGE_ID"

struct exec_state {
  char *words; /* the command line, NULs between words */
  char **argv; /* the words, a slot for the number, NULL */
  int nwords;
  long timeout_ms;
};

static void exec_close(void *state) {
  struct exec_state *x = state;
  if (x == NULL)
    return;
  free(x->words);
  free(x->argv);
  free(x);
}

static void *exec_open(const struct conf *conf, char *err, size_t errsz) {
  struct exec_state *x = xcalloc(1, sizeof *x);
  size_t len = strlen(conf->sender.exec_command);
  x->words = xstrdup(conf->sender.exec_command);
  x->argv = xcalloc(len / 2 + 3, sizeof *x->argv);
  for (char *p = x->words; *p;) {
    while (*p == ' ' || *p == '\t')
      *p++ = '\0';
    if (*p == '\0')
      break;
    x->argv[x->nwords++] = p;
    while (*p && *p != ' ' && *p != '\t')
      p++;
  }
  x->timeout_ms = conf->sender.exec_timeout_seconds * 1000;
  if (x->nwords == 0 || access(x->argv[0], X_OK) != 0) {
    snprintf(err, errsz, "%s: [sender] exec_command: %s: %s", conf->file,
             x->nwords ? x->argv[0] : "(empty)",
             x->nwords ? strerror(errno) : "no command");
    exec_close(x);
    return NULL;
  }
  return x;
}

/* The sender's environment with OTPGATE_MESSAGE_ID set to the row id;
 * built before fork so the child only calls async-signal-safe functions. */
static char **exec_environment(int64_t id, char *idvar, size_t idvarsz) {
  extern char **environ;
  size_t n = 0;
  while (environ[n])
    n++;
  char **envp = xcalloc(n + 2, sizeof *envp);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], EXEC_ENV_NAME "=", sizeof EXEC_ENV_NAME) != 0)
      envp[k++] = environ[i];
  snprintf(idvar, idvarsz, EXEC_ENV_NAME "=%" PRId64, id);
  envp[k] = idvar;
  return envp;
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void exec_child(char **argv, char **envp, int in, int out, int errfd,
                       int report) {
  sigset_t none;
  int e;
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
    goto fail;
  /* Its own process group, so a timeout kills whatever it started too. */
  setpgid(0, 0);
  /* The sender ignores SIGPIPE and blocks its stop signals; an ignored or
   * blocked signal would stay so across exec. */
  signal(SIGPIPE, SIG_DFL);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(argv[0], argv, envp);
fail:
  e = errno;
  (void)!write(report, &e, sizeof e);
  _exit(127);
}

struct exec_capture {
  char data[EXEC_STDERR_MAX];
  size_t len, max;
  int fd;
};

/* Reads what is there; keeps up to max bytes and discards the rest, so a
 * chatty command can neither block on a full pipe nor fill our memory. */
static void exec_read(struct exec_capture *c) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n > 0) {
      size_t keep = c->max - c->len;
      if ((size_t)n < keep)
        keep = (size_t)n;
      memcpy(c->data + c->len, buf, keep);
      c->len += keep;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      close(c->fd);
      c->fd = -1;
    }
    return;
  }
}

/* A command started for one message: its pid and our ends of its pipes
 * (-1 once closed). */
struct exec_run {
  pid_t pid;
  int in; /* its standard input */
  struct exec_capture out, err;
};

static void exec_run_close(struct exec_run *r) {
  if (r->in >= 0)
    close(r->in);
  if (r->out.fd >= 0)
    close(r->out.fd);
  if (r->err.fd >= 0)
    close(r->err.fd);
  r->in = r->out.fd = r->err.fd = -1;
}

static void close_pair(int p[2]) {
  for (int i = 0; i < 2; i++)
    if (p[i] >= 0)
      close(p[i]);
}

/* Starts the command for msg with its pipes. False (res says why) when it
 * could not be run at all. */
static bool exec_spawn(struct exec_state *x, const struct transport_msg *msg,
                       struct exec_run *r, struct transport_result *res) {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
  int report[2] = {-1, -1}, exec_errno = 0, status;
  char idvar[64];
  char **envp = NULL;
  bool started = false;
  ssize_t n;

  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
      pipe2(errp, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0) {
    transport_set_error(res, msg, GATEWAY_RETRY, "pipe: %s", strerror(errno));
    goto out;
  }
  envp = exec_environment(msg->id, idvar, sizeof idvar);
  x->argv[x->nwords] = (char *)msg->destination;
  r->pid = fork();
  if (r->pid < 0) {
    transport_set_error(res, msg, GATEWAY_RETRY, "fork: %s", strerror(errno));
    goto out;
  }
  if (r->pid == 0)
    exec_child(x->argv, envp, in[0], out[1], errp[1], report[1]);
  setpgid(r->pid, r->pid); /* as the child does: whichever runs first */
  close(report[1]);
  report[1] = -1;
  /* The report pipe closes on a successful exec, or carries errno. */
  while ((n = read(report[0], &exec_errno, sizeof exec_errno)) < 0 &&
         errno == EINTR)
    ;
  if (n == (ssize_t)sizeof exec_errno) {
    waitpid(r->pid, &status, 0);
    transport_set_error(res, msg, GATEWAY_RETRY, "cannot run %s: %s",
                        x->argv[0], strerror(exec_errno));
    goto out;
  }
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(errp[0], F_SETFL, O_NONBLOCK);
  r->in = in[1], r->out.fd = out[0], r->err.fd = errp[0];
  in[1] = out[0] = errp[0] = -1;
  started = true;
out:
  x->argv[x->nwords] = NULL;
  free(envp);
  close_pair(in), close_pair(out), close_pair(errp), close_pair(report);
  return started;
}

/* Writes what it can of the text to the command's input; closes it when
 * all is written or the command stopped reading (EPIPE). */
static void exec_feed(struct exec_run *r, const char **text, size_t *left) {
  ssize_t w = write(r->in, *text, *left);
  if (w > 0) {
    *text += w;
    *left -= (size_t)w;
  }
  if (*left == 0 || (w < 0 && errno != EAGAIN && errno != EINTR)) {
    close(r->in);
    r->in = -1;
  }
}

/* Feeds the command the text and reads what it says, until it exits or
 * timeout_ms pass. Returns whether it exited (*status: how). */
static bool exec_pump(struct exec_run *r, const char *text, long timeout_ms,
                      int *status) {
  size_t left = strlen(text);
  int64_t deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    if (waitpid(r->pid, status, WNOHANG) == r->pid) {
      /* What it wrote before exiting; pipes a grandchild still holds do
       * not keep us waiting. */
      if (r->out.fd >= 0)
        exec_read(&r->out);
      if (r->err.fd >= 0)
        exec_read(&r->err);
      return true;
    }
    struct pollfd pfd[3];
    int nfd = 0;
    if (r->in >= 0)
      pfd[nfd++] = (struct pollfd){.fd = r->in, .events = POLLOUT};
    if (r->out.fd >= 0)
      pfd[nfd++] = (struct pollfd){.fd = r->out.fd, .events = POLLIN};
    if (r->err.fd >= 0)
      pfd[nfd++] = (struct pollfd){.fd = r->err.fd, .events = POLLIN};
    int64_t now = monotonic_ms();
    if (now >= deadline)
      return false;
    /* Pipes closed but no exit yet, or a grandchild holds them open:
     * look again at the child soon. */
    int64_t wait = deadline - now;
    if (wait > (nfd ? 50 : 2))
      wait = nfd ? 50 : 2;
    if (poll(pfd, (nfds_t)nfd, (int)wait) < 0 && errno != EINTR)
      return false;
    for (int i = 0; i < nfd; i++) {
      if (pfd[i].revents == 0)
        continue;
      if (pfd[i].fd == r->in)
        exec_feed(r, &text, &left);
      else if (pfd[i].fd == r->out.fd)
        exec_read(&r->out);
      else if (pfd[i].fd == r->err.fd)
        exec_read(&r->err);
    }
  }
}

/* What the command's end means for the message: exit 0 sent (its first
 * line of output the gateway's reference), EX_TEMPFAIL retry, another
 * exit failed, a signal or a timeout (killed here) unknown. */
static void exec_classify(const struct exec_state *x,
                          const struct transport_msg *msg, struct exec_run *r,
                          bool exited, int status,
                          struct transport_result *res) {
  char said[TRANSPORT_ERROR_MAX];
  transport_clean(msg, r->err.data, r->err.len, said, sizeof said);
  if (!exited) {
    kill(-r->pid, SIGKILL);
    kill(r->pid, SIGKILL);
    waitpid(r->pid, &status, 0);
    transport_set_error(res, msg, GATEWAY_UNKNOWN,
                        "still running after %ld s, killed%s%s",
                        x->timeout_ms / 1000, *said ? ": " : "", said);
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    res->status = GATEWAY_SENT;
    size_t line = 0;
    while (line < r->out.len && r->out.data[line] != '\n' &&
           r->out.data[line] != '\r')
      line++;
    transport_clean(msg, r->out.data, line, res->ref, sizeof res->ref);
  } else if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    transport_set_error(
        res, msg, code == EXEC_TEMPFAIL ? GATEWAY_RETRY : GATEWAY_FAILED,
        "exit %d%s%s", code, *said ? ": " : "", said);
  } else {
    transport_set_error(res, msg, GATEWAY_UNKNOWN, "killed by signal %d%s%s",
                        WTERMSIG(status), *said ? ": " : "", said);
  }
}

static void exec_send(void *state, const struct transport_msg *msg,
                      struct transport_result *res) {
  struct exec_state *x = state;
  struct exec_run r = {.in = -1,
                       .out = {.max = EXEC_STDOUT_MAX, .fd = -1},
                       .err = {.max = EXEC_STDERR_MAX, .fd = -1}};
  int status = 0;
  if (!exec_spawn(x, msg, &r, res))
    return;
  bool exited = exec_pump(&r, msg->text, x->timeout_ms, &status);
  exec_classify(x, msg, &r, exited, status, res);
  exec_run_close(&r);
}

/* One command of a batch in flight: which message, how much of its text
 * is still to write, when it is killed. */
struct exec_slot {
  bool busy;
  struct exec_run r;
  const struct transport_msg *msg;
  struct transport_result *res;
  const char *text;
  size_t left;
  int64_t deadline;
};

/* Starts msg in a free slot; when it cannot start, res says why and the
 * slot stays free. */
static void exec_slot_start(struct exec_state *x, struct exec_slot *sl,
                            const struct transport_msg *msg,
                            struct transport_result *res) {
  *sl = (struct exec_slot){
      .r = {.in = -1,
            .out = {.max = EXEC_STDOUT_MAX, .fd = -1},
            .err = {.max = EXEC_STDERR_MAX, .fd = -1}},
      .msg = msg,
      .res = res,
      .text = msg->text,
      .left = strlen(msg->text),
  };
  if (transport_msg_expired(msg, res))
    return; /* never send a dead code */
  if (!exec_spawn(x, msg, &sl->r, res))
    return;
  sl->deadline = monotonic_ms() + x->timeout_ms;
  sl->busy = true;
}

/* Ends the slot's command if it exited or ran out of time: its result is
 * written and the slot freed. */
static void exec_slot_reap(const struct exec_state *x, struct exec_slot *sl) {
  int status = 0;
  bool exited = waitpid(sl->r.pid, &status, WNOHANG) == sl->r.pid;
  if (!exited && monotonic_ms() < sl->deadline)
    return;
  if (exited) { /* what it wrote before exiting */
    if (sl->r.out.fd >= 0)
      exec_read(&sl->r.out);
    if (sl->r.err.fd >= 0)
      exec_read(&sl->r.err);
  }
  exec_classify(x, sl->msg, &sl->r, exited, status, sl->res);
  exec_run_close(&sl->r);
  sl->busy = false;
}

/* Adds the slot's open pipes to pfd; returns how many. */
static int exec_slot_fds(const struct exec_slot *sl, struct pollfd *pfd) {
  int n = 0;
  if (sl->r.in >= 0)
    pfd[n++] = (struct pollfd){.fd = sl->r.in, .events = POLLOUT};
  if (sl->r.out.fd >= 0)
    pfd[n++] = (struct pollfd){.fd = sl->r.out.fd, .events = POLLIN};
  if (sl->r.err.fd >= 0)
    pfd[n++] = (struct pollfd){.fd = sl->r.err.fd, .events = POLLIN};
  return n;
}

/* Moves data for the pipes poll found ready (pfd: this slot's part). */
static void exec_slot_io(struct exec_slot *sl, const struct pollfd *pfd,
                         int nfd) {
  for (int i = 0; i < nfd; i++) {
    if (pfd[i].revents == 0)
      continue;
    if (pfd[i].fd == sl->r.in)
      exec_feed(&sl->r, &sl->text, &sl->left);
    else if (pfd[i].fd == sl->r.out.fd)
      exec_read(&sl->r.out);
    else if (pfd[i].fd == sl->r.err.fd)
      exec_read(&sl->r.err);
  }
}

/* One wait over every running command's pipes: at most 50 ms (an exit
 * is seen by waitpid, not by poll), 2 ms when one has closed them all. */
static void exec_slots_wait(struct exec_slot *slots, size_t nslots) {
  struct pollfd *pfd = xcalloc(nslots * 3, sizeof *pfd);
  int *count = xcalloc(nslots, sizeof *count);
  int nfd = 0, wait = 50;
  for (size_t i = 0; i < nslots; i++) {
    if (!slots[i].busy)
      continue;
    count[i] = exec_slot_fds(&slots[i], pfd + nfd);
    nfd += count[i];
    if (count[i] == 0)
      wait = 2;
  }
  if (poll(pfd, (nfds_t)nfd, wait) > 0)
    for (size_t i = 0, at = 0; i < nslots; at += (size_t)count[i], i++)
      if (count[i])
        exec_slot_io(&slots[i], pfd + at, count[i]);
  free(count);
  free(pfd);
}

/* Up to concurrency commands at once: a slow gateway holds one slot for
 * at most exec_timeout_seconds while the others go on through the rest;
 * the batch ends with its last command. */
static void exec_send_batch(void *state, const struct transport_msg *msgs,
                            struct transport_result *res, size_t n,
                            size_t concurrency, transport_tick_fn *tick,
                            void *ctx) {
  struct exec_state *x = state;
  size_t nslots = concurrency < n ? concurrency : n, next = 0, busy;
  struct exec_slot *slots = xcalloc(nslots, sizeof *slots);
  for (;;) {
    busy = 0;
    for (size_t i = 0; i < nslots; i++) {
      if (slots[i].busy)
        exec_slot_reap(x, &slots[i]);
      while (!slots[i].busy && next < n) {
        /* One that cannot start has its result already: take the next. */
        exec_slot_start(x, &slots[i], &msgs[next], &res[next]);
        next++;
      }
      busy += slots[i].busy;
    }
    if (busy == 0)
      break;
    exec_slots_wait(slots, nslots);
    tick(ctx);
  }
  free(slots);
}

const struct transport_ops transport_exec_ops = {
    .name = "exec",
    .open = exec_open,
    .send = exec_send,
    .send_batch = exec_send_batch,
    .close = exec_close,
};
