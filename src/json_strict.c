#include "config.h"

#include "json_strict.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "util.h"

struct scan {
  const unsigned char *p, *start, *end;
  int depth, max_depth;
  struct json_strict *js;
};

static bool fault(struct scan *s, const char *what) {
  if (s->js->error == NULL) {
    s->js->error = what;
    s->js->error_at = (size_t)(s->p - s->start);
  }
  return false;
}

static void skip_ws(struct scan *s) {
  while (s->p < s->end &&
         (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static int hex4(const unsigned char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    int c = p[i], d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* The whole text, strings or not, before the grammar: RFC 8259 wants
 * UTF-8, and json-c's own check takes overlong forms, encoded surrogates
 * and code points past U+10FFFF, which echo would then send back. */
static bool scan_utf8(struct scan *s) {
  while (s->p < s->end) {
    uint32_t cp;
    size_t n = utf8_decode(s->p, s->end, &cp);
    if (n == 0)
      return fault(s, "invalid UTF-8");
    s->p += n;
  }
  s->p = s->start;
  return true;
}

static bool scan_string(struct scan *s) {
  s->p++; /* the opening quote */
  while (s->p < s->end) {
    unsigned char c = *s->p;
    if (c == '"') {
      s->p++;
      return true;
    }
    if (c < 0x20)
      return fault(s, "a control character inside a string");
    if (c != '\\') {
      s->p++;
      continue;
    }
    if (s->end - s->p < 2)
      break;
    c = s->p[1];
    if (strchr("\"\\/bfnrt", c) && c != '\0') {
      s->p += 2;
      continue;
    }
    if (c != 'u' || s->end - s->p < 6)
      return fault(s, "a bad escape");
    int u = hex4(s->p + 2);
    if (u < 0)
      return fault(s, "a bad \\u escape");
    /* A surrogate escape stands for a character only as a high-low pair
     * (RFC 8259 section 7); a lone one has no UTF-8 form. The fault
     * points at its backslash. */
    if (u >= 0xDC00 && u <= 0xDFFF)
      return fault(s, "a lone low surrogate");
    if (u >= 0xD800 && u <= 0xDBFF) {
      const unsigned char *q = s->p + 6;
      int lo = (s->end - q >= 6 && q[0] == '\\' && q[1] == 'u') ? hex4(q + 2)
                                                                : -1;
      if (lo < 0xDC00 || lo > 0xDFFF)
        return fault(s, "a lone high surrogate");
      s->p += 6;
    }
    s->p += 6;
  }
  return fault(s, "an unterminated string");
}

static bool digits(struct scan *s) {
  const unsigned char *from = s->p;
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
    s->p++;
  return s->p > from;
}

static bool scan_number(struct scan *s) {
  if (*s->p == '-')
    s->p++;
  if (s->p < s->end && *s->p == '0')
    s->p++;
  else if (!digits(s))
    return fault(s, "a bad number");
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    if (!digits(s))
      return fault(s, "a bad number");
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
      s->p++;
    if (!digits(s))
      return fault(s, "a bad number");
  }
  return true;
}

static bool literal(struct scan *s, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
    return fault(s, "an unexpected character");
  s->p += n;
  return true;
}

static bool scan_value(struct scan *s);

static bool scan_container(struct scan *s, bool object) {
  unsigned char close = object ? '}' : ']';
  size_t slot = 0, members = 0;
  if (++s->depth > s->max_depth)
    return fault(s, "nesting too deep");
  if (object) {
    struct json_strict *js = s->js;
    if (js->nobjects == js->cap) {
      js->cap = js->cap ? js->cap * 2 : 16;
      js->members = realloc(js->members, js->cap * sizeof *js->members);
      if (js->members == NULL)
        abort();
    }
    slot = js->nobjects++;
  }
  s->p++;
  skip_ws(s);
  if (s->p < s->end && *s->p == close) {
    s->p++;
  } else {
    for (;;) {
      skip_ws(s);
      if (object) {
        if (s->p >= s->end || *s->p != '"')
          return fault(s, "a key that is not a string");
        if (!scan_string(s))
          return false;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
          return fault(s, "a missing ':'");
        s->p++;
      }
      if (!scan_value(s))
        return false;
      members++;
      skip_ws(s);
      if (s->p < s->end && *s->p == ',') {
        s->p++;
        continue;
      }
      if (s->p < s->end && *s->p == close) {
        s->p++;
        break;
      }
      return fault(s, "a missing ',' or closing bracket");
    }
  }
  if (object)
    s->js->members[slot] = members;
  s->depth--;
  return true;
}

static bool scan_value(struct scan *s) {
  skip_ws(s);
  if (s->p >= s->end)
    return fault(s, "an unexpected end");
  switch (*s->p) {
  case '{':
    return scan_container(s, true);
  case '[':
    return scan_container(s, false);
  case '"':
    return scan_string(s);
  case 't':
    return literal(s, "true");
  case 'f':
    return literal(s, "false");
  case 'n':
    return literal(s, "null");
  default:
    if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
      return scan_number(s);
    return fault(s, "an unexpected character");
  }
}

bool json_strict_check(const char *text, size_t len, int max_depth,
                       struct json_strict *js) {
  struct scan s = {(const unsigned char *)text, (const unsigned char *)text,
                   (const unsigned char *)text + len, 0, max_depth, js};
  memset(js, 0, sizeof *js);
  if (!scan_utf8(&s) || !scan_value(&s))
    return false;
  skip_ws(&s);
  if (s.p != s.end)
    return fault(&s, "data after the value");
  return true;
}

/* Walks json-c's tree in the order the scan met the objects. */
static bool same_counts(const struct json_strict *js, json_object *o,
                        size_t *next) {
  if (json_object_is_type(o, json_type_object)) {
    if (*next >= js->nobjects ||
        (size_t)json_object_object_length(o) != js->members[(*next)++])
      return false;
    json_object_object_foreach(o, key, val) {
      (void)key;
      if (!same_counts(js, val, next))
        return false;
    }
  } else if (json_object_is_type(o, json_type_array)) {
    size_t n = json_object_array_length(o);
    for (size_t i = 0; i < n; i++)
      if (!same_counts(js, json_object_array_get_idx(o, i), next))
        return false;
  }
  return true;
}

bool json_strict_no_duplicates(const struct json_strict *js, json_object *root) {
  size_t next = 0;
  return same_counts(js, root, &next);
}

void json_strict_free(struct json_strict *js) {
  free(js->members);
  js->members = NULL;
}
