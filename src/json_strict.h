/* Strict JSON (RFC 8259) checking, for what json-c's strict mode lets
 * through: single quotes, NaN and Infinity, "1.", raw control characters
 * in strings, lone surrogates, duplicate keys, and UTF-8 that RFC 3629
 * forbids (overlong forms, encoded surrogates, past U+10FFFF). Google's
 * echo probes test exactly this. */
#ifndef OTPGATE_JSON_STRICT_H
#define OTPGATE_JSON_STRICT_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

struct json_strict {
  size_t error_at;     /* byte offset of the first fault */
  const char *error;   /* what it is */
  /* Members of each object, in document order (pre-order). */
  size_t *members;
  size_t nobjects, cap;
};

/* Checks text against the JSON grammar, nesting at most max_depth. */
bool json_strict_check(const char *text, size_t len, int max_depth,
                       struct json_strict *js);
/* After json-c parsed the same text: false when an object lost members to
 * a repeated key (json-c keeps only the last). */
bool json_strict_no_duplicates(const struct json_strict *js, json_object *root);
void json_strict_free(struct json_strict *js);

#endif
