/* The configuration's documentation cannot drift from the code: every key
 * of src/conf.c's table is in etc/otpgate.conf (commented out, with its
 * default, in its section) with its range, choices or "yes or no" in the
 * comment above it, and in otpgate.conf(5), which build-aux/conf2scd.sh
 * makes from that file; and the file documents no key the code does not
 * know. The table is static in conf.c, so this file includes conf.c itself
 * (and so does not link the library's copy of it). */
#include "../src/conf.c"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testhelp.h"

#define MAXDOC 256

struct doc_key {
  char section[64];
  char name[64];
  char value[512];
  char comment[4096]; /* the comment lines above it (and above the keys
                         written right before it), joined by spaces */
  int line;
  bool matched;
};

static struct doc_key doc[MAXDOC];
static int ndoc;

static void chomp(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' ||
                   s[n - 1] == '\t'))
    s[--n] = '\0';
}

/* Reads etc/otpgate.conf the way build-aux/conf2scd.sh does. */
static void read_doc(void) {
  char *path = xasprintf("%s/etc/otpgate.conf", th_srcdir());
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  char line[1024], section[64] = "", comment[4096] = "";
  bool in_keys = false;
  int lineno = 0;
  ndoc = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    chomp(line);
    /* ";name = value": no space after the ';' */
    size_t n =
        line[0] == ';' ? strspn(line + 1, "abcdefghijklmnopqrstuvwxyz_") : 0;
    bool is_key = n > 0 && line[1 + n + strspn(line + 1 + n, " ")] == '=';
    if (line[0] == '[') {
      char *end = strchr(line, ']');
      ck_assert_msg(end != NULL, "%s:%d: bad section", path, lineno);
      snprintf(section, sizeof section, "%.*s", (int)(end - line - 1),
               line + 1);
      comment[0] = '\0';
      in_keys = false;
    } else if (is_key) {
      ck_assert_msg(ndoc < MAXDOC, "too many keys");
      struct doc_key *d = &doc[ndoc++];
      snprintf(d->section, sizeof d->section, "%s", section);
      snprintf(d->name, sizeof d->name, "%.*s", (int)n, line + 1);
      const char *v = strchr(line, '=') + 1;
      v += strspn(v, " ");
      snprintf(d->value, sizeof d->value, "%s", v);
      snprintf(d->comment, sizeof d->comment, "%s", comment);
      d->line = lineno;
      d->matched = false;
      in_keys = true;
    } else {
      if (in_keys) /* a new comment block starts */
        comment[0] = '\0';
      in_keys = false;
      if (strncmp(line, "; ", 2) == 0) {
        size_t len = strlen(comment);
        snprintf(comment + len, sizeof comment - len, "%s%s", len ? " " : "",
                 line + 2);
      }
    }
  }
  fclose(f);
  free(path);
}

static struct doc_key *doc_find(const char *section, const char *name) {
  for (int i = 0; i < ndoc; i++)
    if (strcmp(doc[i].section, section) == 0 && strcmp(doc[i].name, name) == 0)
      return &doc[i];
  return NULL;
}

/* The file shows paths as for --prefix=/usr --sysconfdir=/etc
 * --localstatedir=/var --runstatedir=/run; the table's defaults follow
 * this build's directories. */
static char *as_documented(const char *value) {
  static const struct {
    const char *configured, *shown;
  } dirs[] = {
      /* the longest first: runstatedir may lie under localstatedir */
      {OTPGATE_RUNSTATEDIR, "/run"},
      {OTPGATE_LOCALSTATEDIR, "/var"},
      {OTPGATE_SYSCONFDIR, "/etc"},
  };
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    size_t n = strlen(dirs[i].configured);
    if (strncmp(value, dirs[i].configured, n) == 0 && value[n] == '/')
      return xasprintf("%s%s", dirs[i].shown, value + n);
  }
  return xstrdup(value);
}

START_TEST(every_key_in_the_file_with_its_default_and_range) {
  read_doc();
  ck_assert_int_ge(ndoc, 40);
  for (size_t i = 0; i < NKEYS; i++) {
    const struct conf_key *k = &conf_keys[i];
    struct doc_key *d = doc_find(k->section, k->name);
    ck_assert_msg(d != NULL,
                  "[%s] %s is in src/conf.c but not in etc/otpgate.conf "
                  "(as ;%s = default, with its meaning above it)",
                  k->section, k->name, k->name);
    d->matched = true;
    char *want = as_documented(k->default_value);
    ck_assert_msg(
        strcmp(d->value, want) == 0,
        "etc/otpgate.conf:%d: [%s] %s shows \"%s\", the default is \"%s\"",
        d->line, k->section, k->name, d->value, want);
    free(want);
    ck_assert_msg(d->comment[0] != '\0',
                  "etc/otpgate.conf:%d: [%s] %s has no comment above it",
                  d->line, k->section, k->name);
    char range[128];
    switch (k->type) {
    case K_LONG:
      snprintf(range, sizeof range, "%ld to %ld", k->min, k->max);
      ck_assert_msg(
          strstr(d->comment, range) != NULL,
          "etc/otpgate.conf:%d: [%s] %s: the comment above it does not "
          "give its range \"%s\"",
          d->line, k->section, k->name, range);
      break;
    case K_BOOL:
      ck_assert_msg(
          strstr(d->comment, "yes or no") != NULL,
          "etc/otpgate.conf:%d: [%s] %s: the comment above it does not "
          "say \"yes or no\"",
          d->line, k->section, k->name);
      break;
    case K_ENUM: {
      const char *list = strstr(d->comment, "One of: ");
      ck_assert_msg(
          list != NULL,
          "etc/otpgate.conf:%d: [%s] %s: the comment above it does not "
          "list its choices (\"One of: ...\")",
          d->line, k->section, k->name);
      list += strlen("One of: ");
      size_t len = strcspn(list, ".");
      int listed = 0;
      for (const char *p = list; p < list + len; listed++) {
        size_t w = strcspn(p, ",.");
        bool known = false;
        for (int c = 0; k->choices[c]; c++)
          if (strlen(k->choices[c]) == w && strncmp(p, k->choices[c], w) == 0)
            known = true;
        ck_assert_msg(
            known, "etc/otpgate.conf:%d: [%s] %s lists \"%.*s\", not a choice",
            d->line, k->section, k->name, (int)w, p);
        p += w;
        p += strspn(p, ", ");
      }
      int choices = 0;
      while (k->choices[choices])
        choices++;
      ck_assert_msg(
          listed == choices,
          "etc/otpgate.conf:%d: [%s] %s lists %d choices, the code has %d",
          d->line, k->section, k->name, listed, choices);
      break;
    }
    default:
      break;
    }
  }
  for (int i = 0; i < ndoc; i++)
    ck_assert_msg(doc[i].matched,
                  "etc/otpgate.conf:%d: [%s] %s is not a key src/conf.c knows "
                  "(or it is documented twice)",
                  doc[i].line, doc[i].section, doc[i].name);
}
END_TEST

/* The built page (or the one a tarball carries) has every key under its
 * section, with its range. */
START_TEST(every_key_in_the_man_page) {
  char *path = xasprintf("%s/man/otpgate.conf.5", th_builddir());
  char *text = th_read_file(path);
  if (text == NULL) {
    free(path);
    path = xasprintf("%s/man/otpgate.conf.5", th_srcdir());
    text = th_read_file(path);
  }
  ck_assert_msg(text != NULL, "no man/otpgate.conf.5: run make");
  read_doc();
  for (size_t i = 0; i < NKEYS; i++) {
    const struct conf_key *k = &conf_keys[i];
    char *heading = xasprintf(".SS [%s]\n", k->section);
    const char *sec = strstr(text, heading);
    ck_assert_msg(sec != NULL, "%s: no section [%s]", path, k->section);
    const char *next = strstr(sec + 1, "\n.S");
    size_t span = next ? (size_t)(next - sec) : strlen(sec);
    char *entry = xasprintf("\\fB%s\\fR = ", k->name);
    const char *at = strstr(sec, entry);
    ck_assert_msg(at != NULL && (size_t)(at - sec) < span,
                  "%s: [%s] %s is not under its section", path, k->section,
                  k->name);
    if (k->type == K_LONG) {
      char range[128];
      snprintf(range, sizeof range, "%ld to %ld", k->min, k->max);
      const char *r = strstr(sec, range);
      ck_assert_msg(r != NULL && (size_t)(r - sec) < span,
                    "%s: [%s] %s: no \"%s\" in its section", path, k->section,
                    k->name, range);
    }
    free(entry);
    free(heading);
  }
  free(text);
  free(path);
}
END_TEST

int main(void) {
  Suite *s = suite_create("confdoc");
  TCase *tc = tcase_create("confdoc");
  tcase_add_test(tc, every_key_in_the_file_with_its_default_and_range);
  tcase_add_test(tc, every_key_in_the_man_page);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
