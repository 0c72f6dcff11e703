#include "config.h"

#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define METRICS_MAGIC 0x316374656d70746fULL /* "otpmetc1" */
#define METRICS_SLOTS 1024
#define METRICS_KEY_MAX 160

enum { SLOT_FREE, SLOT_CLAIMED, SLOT_READY };

struct metrics_slot {
  uint32_t state;
  char key[METRICS_KEY_MAX]; /* name{labels}: what the text format prints */
  uint64_t value;
};

struct metrics_file {
  uint64_t magic;
  struct metrics_slot slots[METRICS_SLOTS];
};

struct metrics {
  struct metrics_file *f;
};

/* The latency buckets, in seconds: GSP's callers time out in seconds. */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,  0.1,    0.25,  0.5,  1,    2.5};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

struct metrics *metrics_open(const char *path, char *err, size_t errsz) {
  mode_t old = umask(007);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660);
  umask(old);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0) {
    snprintf(err, errsz, "%s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  /* Every worker may grow it to the size; none shrinks it. */
  if ((size_t)sb.st_size < sizeof(struct metrics_file) &&
      ftruncate(fd, sizeof(struct metrics_file)) != 0) {
    snprintf(err, errsz, "%s: %s", path, strerror(errno));
    close(fd);
    return NULL;
  }
  void *map = mmap(NULL, sizeof(struct metrics_file), PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) {
    snprintf(err, errsz, "%s: %s", path, strerror(errno));
    return NULL;
  }
  struct metrics_file *f = map;
  uint64_t zero = 0;
  __atomic_compare_exchange_n(&f->magic, &zero, METRICS_MAGIC, false,
                              __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  if (__atomic_load_n(&f->magic, __ATOMIC_ACQUIRE) != METRICS_MAGIC) {
    snprintf(err, errsz, "%s: not an otpgate metrics file", path);
    munmap(map, sizeof(struct metrics_file));
    return NULL;
  }
  struct metrics *m = xcalloc(1, sizeof *m);
  m->f = f;
  return m;
}

void metrics_close(struct metrics *m) {
  if (m == NULL)
    return;
  munmap(m->f, sizeof(struct metrics_file));
  free(m);
}

static uint32_t hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* The slot named key, claimed when there is none yet; NULL when the table
 * is full (the counter is then not kept). */
static struct metrics_slot *slot(struct metrics *m, const char *key) {
  uint32_t start = hash(key) % METRICS_SLOTS;
  for (uint32_t i = 0; i < METRICS_SLOTS; i++) {
    struct metrics_slot *s = &m->f->slots[(start + i) % METRICS_SLOTS];
    uint32_t state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if (state == SLOT_FREE) {
      uint32_t expect = SLOT_FREE;
      if (__atomic_compare_exchange_n(&s->state, &expect, SLOT_CLAIMED, false,
                                      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        snprintf(s->key, sizeof s->key, "%s", key);
        __atomic_store_n(&s->state, SLOT_READY, __ATOMIC_RELEASE);
        return s;
      }
      state = expect;
    }
    /* Another process is naming it: its name is a moment away. */
    while (state == SLOT_CLAIMED)
      state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if (strcmp(s->key, key) == 0)
      return s;
  }
  return NULL;
}

static void add(struct metrics *m, const char *key, uint64_t n) {
  struct metrics_slot *s = m ? slot(m, key) : NULL;
  if (s)
    __atomic_fetch_add(&s->value, n, __ATOMIC_RELAXED);
}

/* Label values come from our own vocabularies; quotes and backslashes
 * are dropped all the same, so no value can break a line. */
static void label(char *out, size_t outsz, const char *v) {
  size_t n = 0;
  for (; *v && n + 1 < outsz; v++)
    if (*v != '"' && *v != '\\' && *v != '\n')
      out[n++] = *v;
  out[n] = '\0';
}

void metrics_count_request(struct metrics *m, const char *method, int status,
                           const char *outcome, double seconds) {
  char key[METRICS_KEY_MAX], meth[32], out[48];
  if (m == NULL)
    return;
  label(meth, sizeof meth, method);
  label(out, sizeof out, outcome);
  snprintf(key, sizeof key,
           "otpgate_requests_total{method=\"%s\",status=\"%d\",result=\"%s\"}",
           meth, status, out);
  add(m, key, 1);
  for (size_t i = 0; i <= NBUCKETS; i++) {
    if (i < NBUCKETS && seconds > buckets[i])
      continue;
    char le[16];
    if (i < NBUCKETS)
      snprintf(le, sizeof le, "%g", buckets[i]);
    else
      snprintf(le, sizeof le, "+Inf");
    snprintf(key, sizeof key,
             "otpgate_request_duration_seconds_bucket{method=\"%s\",le=\"%s\"}",
             meth, le);
    add(m, key, 1);
  }
  snprintf(key, sizeof key, "otpgate_request_duration_seconds_count{method=\"%s\"}",
           meth);
  add(m, key, 1);
  /* The sum is kept in microseconds: counters are integers. */
  snprintf(key, sizeof key, "otpgate_request_duration_seconds_sum{method=\"%s\"}",
           meth);
  add(m, key, (uint64_t)(seconds * 1e6));
}

void metrics_count_cap(struct metrics *m, const char *cap) {
  char key[METRICS_KEY_MAX], c[48];
  label(c, sizeof c, cap);
  snprintf(key, sizeof key, "otpgate_sms_capped_total{cap=\"%s\"}", c);
  add(m, key, 1);
}

static int by_key(const void *a, const void *b) {
  return strcmp((*(struct metrics_slot *const *)a)->key,
                (*(struct metrics_slot *const *)b)->key);
}

/* The "# TYPE" line of the family a sorted run of keys begins. */
static void type_line(const char *key, const char **family, struct buf *out) {
  static const struct {
    const char *family, *type;
  } types[] = {
      {"otpgate_request_duration_seconds", "histogram"},
      {"otpgate_requests_total", "counter"},
      {"otpgate_sms_capped_total", "counter"},
  };
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strncmp(key, types[i].family, strlen(types[i].family)) == 0) {
      if (*family != types[i].family) {
        *family = types[i].family;
        char line[128];
        snprintf(line, sizeof line, "# TYPE %s %s\n", types[i].family,
                 types[i].type);
        buf_appends(out, line);
      }
      return;
    }
}

void metrics_render(struct metrics *m, struct buf *out) {
  struct metrics_slot *ready[METRICS_SLOTS];
  char line[METRICS_KEY_MAX + 48];
  const char *family = NULL;
  int n = 0;
  if (m == NULL)
    return;
  for (int i = 0; i < METRICS_SLOTS; i++)
    if (__atomic_load_n(&m->f->slots[i].state, __ATOMIC_ACQUIRE) == SLOT_READY)
      ready[n++] = &m->f->slots[i];
  /* The text format wants each family's lines together. */
  qsort(ready, (size_t)n, sizeof ready[0], by_key);
  for (int i = 0; i < n; i++) {
    uint64_t v = __atomic_load_n(&ready[i]->value, __ATOMIC_RELAXED);
    type_line(ready[i]->key, &family, out);
    if (strstr(ready[i]->key, "_seconds_sum{"))
      snprintf(line, sizeof line, "%s %.6f\n", ready[i]->key, (double)v / 1e6);
    else
      snprintf(line, sizeof line, "%s %" PRIu64 "\n", ready[i]->key, v);
    buf_appends(out, line);
  }
}

bool metrics_read(const char *path,
                  void (*fn)(void *ctx, const char *key, uint64_t value),
                  void *ctx, char *err, size_t errsz) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat sb;
  const char *why = fd < 0 || fstat(fd, &sb) != 0 ? strerror(errno)
                    : (size_t)sb.st_size < sizeof(struct metrics_file)
                        ? "not an otpgate metrics file"
                        : NULL;
  if (why) {
    snprintf(err, errsz, "%s: %s", path, why);
    if (fd >= 0)
      close(fd);
    return false;
  }
  void *map = mmap(NULL, sizeof(struct metrics_file), PROT_READ, MAP_SHARED,
                   fd, 0);
  close(fd);
  if (map == MAP_FAILED) {
    snprintf(err, errsz, "%s: %s", path, strerror(errno));
    return false;
  }
  const struct metrics_file *f = map;
  bool ok = __atomic_load_n(&f->magic, __ATOMIC_ACQUIRE) == METRICS_MAGIC;
  if (!ok)
    snprintf(err, errsz, "%s: not an otpgate metrics file", path);
  for (int i = 0; ok && i < METRICS_SLOTS; i++)
    if (__atomic_load_n(&f->slots[i].state, __ATOMIC_ACQUIRE) == SLOT_READY)
      fn(ctx, f->slots[i].key,
         __atomic_load_n(&f->slots[i].value, __ATOMIC_RELAXED));
  munmap(map, sizeof(struct metrics_file));
  return ok;
}
