#include "config.h"

#include "protocol.h"

#include "json_strict.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* Nesting deeper than this is refused before it costs anything. */
#define PROTOCOL_MAX_DEPTH 16

static const char *const method_names[GSP_METHOD_COUNT] = {
    [GSP_SEND_OTP] = "sendOtp",
    [GSP_VERIFY_OTP] = "verifyOtp",
    [GSP_ECHO] = "echo",
};

bool protocol_method_by_name(const char *name, enum gsp_method *out) {
  for (int m = 0; m < GSP_METHOD_COUNT; m++)
    if (strcmp(name, method_names[m]) == 0) {
      *out = (enum gsp_method)m;
      return true;
    }
  return false;
}

const char *protocol_method_name(enum gsp_method m) { return method_names[m]; }

const char *protocol_error_name(enum gsp_error e) {
  static const char *const names[] = {
      [GSP_ERR_NONE] = "",
      [GSP_INVALID_API_VERSION] = "INVALID_API_VERSION",
      [GSP_REQUEST_TIMESTAMP_OUT_OF_RANGE] = "REQUEST_TIMESTAMP_OUT_OF_RANGE",
      [GSP_INVALID_IDENTIFIER] = "INVALID_IDENTIFIER",
      [GSP_IDEMPOTENCY_VIOLATION] = "IDEMPOTENCY_VIOLATION",
      [GSP_INVALID_FIELD_VALUE] = "INVALID_FIELD_VALUE",
      [GSP_MISSING_REQUIRED_FIELD] = "MISSING_REQUIRED_FIELD",
      [GSP_INVALID_DECRYPTED_REQUEST] = "INVALID_DECRYPTED_REQUEST",
      [GSP_INVALID_PAYLOAD_SIGNATURE] = "INVALID_PAYLOAD_SIGNATURE",
      [GSP_INVALID_PAYLOAD_ENCRYPTION] = "INVALID_PAYLOAD_ENCRYPTION",
  };
  return names[e];
}

const char *protocol_send_otp_result_name(enum send_otp_result r) {
  static const char *const names[] = {
      [SEND_OTP_SUCCESS] = "SUCCESS",
      [SEND_OTP_PHONE_NUMBER_NOT_ASSOCIATED_WITH_ACCOUNT] =
          "PHONE_NUMBER_NOT_ASSOCIATED_WITH_ACCOUNT",
      [SEND_OTP_UNKNOWN_PHONE_NUMBER] = "UNKNOWN_PHONE_NUMBER",
      [SEND_OTP_MESSAGE_UNABLE_TO_BE_SENT] = "MESSAGE_UNABLE_TO_BE_SENT",
      [SEND_OTP_INVALID_PHONE_NUMBER] = "INVALID_PHONE_NUMBER",
      [SEND_OTP_NOT_ELIGIBLE] = "NOT_ELIGIBLE",
      [SEND_OTP_OTP_LIMIT_REACHED] = "OTP_LIMIT_REACHED",
      [SEND_OTP_ACCOUNT_CLOSED] = "ACCOUNT_CLOSED",
      [SEND_OTP_ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER] =
          "ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER",
      [SEND_OTP_ACCOUNT_CLOSED_FRAUD] = "ACCOUNT_CLOSED_FRAUD",
  };
  return names[r];
}

const char *protocol_verify_otp_result_name(enum verify_otp_result r) {
  static const char *const names[] = {
      [VERIFY_OTP_SUCCESS] = "SUCCESS",
      [VERIFY_OTP_OTP_NOT_MATCHED] = "OTP_NOT_MATCHED",
      [VERIFY_OTP_OTP_ALREADY_USED] = "OTP_ALREADY_USED",
  };
  return names[r];
}

/* ---- the table of field rules ----
 * Fields a request carries beyond the table's are ignored (and left out of
 * the fingerprint): any v1 request must be accepted, and a later minor
 * version may add fields. */

enum rule_type {
  R_OBJECT,       /* a JSON object holding further fields */
  R_STRING,       /* stored as const char * at offset */
  R_DIGITS,       /* a string of decimal digits, stored as int64_t */
  R_INT,          /* a JSON integer, stored as int64_t */
  R_ANY_AS_TEXT,  /* any value, for the service to judge: a string as it
                   * is, anything else (or a string holding NUL) as its JSON
                   * text, stored as const char * at offset */
  R_EMPTY_OBJECT, /* an Empty: an object whose presence stores `value` as
                   * an int at offset. The seed says an Empty may gain
                   * fields in later versions: they are ignored. */
};

struct field_rule {
  const char *path;   /* dotted path, as errorDescription names it */
  enum rule_type type;
  bool required;
  int oneof;          /* 0, or the group of which exactly one must be present */
  size_t min_len, max_len;
  bool (*valid)(const char *s);
  bool (*valid_int)(int64_t v);
  const char *expect; /* what a valid value looks like, for errorDescription */
  enum gsp_error bad_code; /* GSP_ERR_NONE means INVALID_FIELD_VALUE */
  size_t offset;      /* into struct protocol_request; (size_t)-1: not kept */
  int value;          /* R_EMPTY_OBJECT: what its presence stores */
};

/* A oneof group: exactly one member present, or none if optional. */
struct oneof_rule {
  int id;
  const char *parent; /* the object holding it; NULL: the top level */
  const char *members;
};

static bool valid_request_id(const char *s) {
  for (; *s; s++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
          (*s >= '0' && *s <= '9') || *s == ':' || *s == '_' || *s == '-'))
      return false;
  return true;
}

/* Printable ASCII without white space: what may go on an SMS line alone. */
static bool valid_printable(const char *s) {
  for (; *s; s++)
    if (*s < 0x21 || *s > 0x7e)
      return false;
  return true;
}

static bool valid_major(int64_t v) { return v == 1; }
static bool valid_non_negative(int64_t v) { return v >= 0; }

#define OFF(f) offsetof(struct protocol_request, f)
#define NOT_KEPT ((size_t)-1)
#define RID_EXPECT "1 to 100 of A-Z a-z 0-9 : _ -"

/* Every request starts with these; checked first, in this order, so a
 * request of another major version is told so before anything else. */
#define HEADER_RULES                                                          \
  {.path = "requestHeader", .type = R_OBJECT, .required = true,               \
   .expect = "an object", .offset = NOT_KEPT},                                \
  {.path = "requestHeader.protocolVersion", .type = R_OBJECT,                 \
   .required = true, .expect = "an object", .offset = NOT_KEPT},              \
  {.path = "requestHeader.protocolVersion.major", .type = R_INT,              \
   .required = true, .valid_int = valid_major, .expect = "1",                 \
   .bad_code = GSP_INVALID_API_VERSION, .offset = OFF(header.major)},         \
  {.path = "requestHeader.protocolVersion.minor", .type = R_INT,              \
   .valid_int = valid_non_negative, .expect = "a non-negative integer",       \
   .offset = OFF(header.minor)},                                              \
  {.path = "requestHeader.protocolVersion.revision", .type = R_INT,           \
   .valid_int = valid_non_negative, .expect = "a non-negative integer",       \
   .offset = OFF(header.revision)},                                           \
  {.path = "requestHeader.requestId", .type = R_STRING, .required = true,     \
   .min_len = 1, .max_len = 100, .valid = valid_request_id,                   \
   .expect = RID_EXPECT, .offset = OFF(header.request_id)},                   \
  {.path = "requestHeader.requestTimestamp", .type = R_DIGITS,                \
   .required = true, .min_len = 1, .max_len = 19,                             \
   .expect = "milliseconds since the epoch as a string of digits",            \
   .offset = OFF(header.request_timestamp)}

static const struct field_rule send_otp_rules[] = {
    HEADER_RULES,
    /* A number that is not E.164, whatever its type or length, is a
     * decline (INVALID_PHONE_NUMBER) the service gives, not a protocol
     * error. The JSON text of a non-string never looks like E.164 (strict
     * JSON has no '+' before a number), so it cannot pass as one. */
    {.path = "accountPhoneNumber", .type = R_ANY_AS_TEXT, .oneof = 1,
     .offset = OFF(u.send_otp.account_phone_number)},
    {.path = "associationId", .type = R_STRING, .oneof = 1, .min_len = 1,
     .max_len = 255, .valid = valid_printable,
     .expect = "1 to 255 printable ASCII characters",
     .offset = OFF(u.send_otp.association_id)},
    {.path = "smsMatchingToken", .type = R_STRING, .required = true,
     .min_len = 11, .max_len = 11, .valid = valid_printable,
     .expect = "exactly 11 printable ASCII characters, no white space",
     .offset = OFF(u.send_otp.sms_matching_token)},
    {.path = "otpContext", .type = R_OBJECT, .expect = "an object",
     .offset = NOT_KEPT},
    {.path = "otpContext.association", .type = R_EMPTY_OBJECT, .oneof = 2,
     .expect = "an object", .offset = OFF(u.send_otp.context),
     .value = OTP_CONTEXT_ASSOCIATION},
    {.path = "otpContext.mandateCreation", .type = R_EMPTY_OBJECT, .oneof = 2,
     .expect = "an object", .offset = OFF(u.send_otp.context),
     .value = OTP_CONTEXT_MANDATE_CREATION},
    {.path = "otpContext.associationWithMandateCreation",
     .type = R_EMPTY_OBJECT, .oneof = 2, .expect = "an object",
     .offset = OFF(u.send_otp.context),
     .value = OTP_CONTEXT_ASSOCIATION_WITH_MANDATE_CREATION},
};

static const struct oneof_rule send_otp_oneofs[] = {
    {1, NULL, "accountPhoneNumber, associationId"},
    {2, "otpContext", "otpContext.association, otpContext.mandateCreation, "
                      "otpContext.associationWithMandateCreation"},
};

static const struct field_rule verify_otp_rules[] = {
    HEADER_RULES,
    {.path = "sendOtpRequestId", .type = R_STRING, .required = true,
     .min_len = 1, .max_len = 100, .valid = valid_request_id,
     .expect = RID_EXPECT, .offset = OFF(u.verify_otp.send_otp_request_id)},
    /* Whatever the user typed: a code of the wrong length or with other
     * characters is a wrong guess, which the service decides (saying so
     * here would tell what a code looks like). Past 32 characters it is no
     * typo. */
    {.path = "otp", .type = R_STRING, .required = true, .min_len = 1,
     .max_len = 32, .expect = "a string of 1 to 32 characters",
     .offset = OFF(u.verify_otp.otp)},
};

static const struct field_rule echo_rules[] = {
    HEADER_RULES,
    /* 1,000 characters take at most 4,000 bytes; counted exactly in
     * finish_method(). */
    {.path = "clientMessage", .type = R_STRING, .required = true,
     .max_len = 4000, .expect = "a string of at most 1000 characters",
     .offset = OFF(u.echo.client_message)},
};

static const struct {
  const struct field_rule *rules;
  size_t nrules;
  const struct oneof_rule *oneofs;
  size_t noneofs;
} method_rules[GSP_METHOD_COUNT] = {
    [GSP_SEND_OTP] = {send_otp_rules, sizeof send_otp_rules / sizeof send_otp_rules[0],
                      send_otp_oneofs, sizeof send_otp_oneofs / sizeof send_otp_oneofs[0]},
    [GSP_VERIFY_OTP] = {verify_otp_rules,
                        sizeof verify_otp_rules / sizeof verify_otp_rules[0], NULL, 0},
    [GSP_ECHO] = {echo_rules, sizeof echo_rules / sizeof echo_rules[0], NULL, 0},
};

static void set_error(struct protocol_error *err, int status, enum gsp_error code,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set_error(struct protocol_error *err, int status, enum gsp_error code,
                      const char *fmt, ...) {
  va_list ap;
  err->status = status;
  err->code = code;
  va_start(ap, fmt);
  vsnprintf(err->description, sizeof err->description, fmt, ap);
  va_end(ap);
}

/* Finds the JSON value at a dotted path. *parent_missing tells whether an
 * enclosing object is absent (then the field's own rule does not apply). */
static json_object *lookup(json_object *root, const char *path,
                           bool *parent_missing) {
  char key[128];
  json_object *cur = root;
  const char *p = path;
  *parent_missing = false;
  for (;;) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    json_object *next;
    memcpy(key, p, n);
    key[n] = '\0';
    if (!json_object_is_type(cur, json_type_object)) {
      *parent_missing = true;
      return NULL;
    }
    if (!json_object_object_get_ex(cur, key, &next) || next == NULL) {
      /* JSON null counts as absent, as proto3 reads it. */
      if (dot)
        *parent_missing = true;
      return NULL;
    }
    if (!dot)
      return next;
    cur = next;
    p = dot + 1;
  }
}

static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80)
      n++;
  return n;
}

/* Checks one present value against its rule and stores it. */
static bool apply_rule(const struct field_rule *r, json_object *v,
                       struct protocol_request *out,
                       struct protocol_error *err) {
  enum gsp_error bad = r->bad_code ? r->bad_code : GSP_INVALID_FIELD_VALUE;
  char *slot = r->offset == NOT_KEPT ? NULL : (char *)out + r->offset;
  switch (r->type) {
  case R_OBJECT:
  case R_EMPTY_OBJECT:
    if (!json_object_is_type(v, json_type_object)) {
      set_error(err, 400, GSP_INVALID_FIELD_VALUE, "%s must be %s", r->path,
                r->expect);
      return false;
    }
    if (r->type == R_EMPTY_OBJECT && slot)
      *(int *)(void *)slot = r->value;
    return true;
  case R_INT: {
    if (!json_object_is_type(v, json_type_int)) {
      set_error(err, 400, GSP_INVALID_FIELD_VALUE, "%s must be an integer",
                r->path);
      return false;
    }
    int64_t n = json_object_get_int64(v);
    if (r->valid_int && !r->valid_int(n)) {
      set_error(err, 400, bad, "%s must be %s", r->path, r->expect);
      return false;
    }
    if (slot)
      *(int64_t *)(void *)slot = n;
    return true;
  }
  case R_ANY_AS_TEXT: {
    const char *s = json_object_get_string(v);
    if (!json_object_is_type(v, json_type_string) ||
        strlen(s) != (size_t)json_object_get_string_len(v))
      s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    if (slot)
      *(const char **)(void *)slot = s;
    return true;
  }
  case R_STRING:
  case R_DIGITS: {
    if (!json_object_is_type(v, json_type_string)) {
      set_error(err, 400, GSP_INVALID_FIELD_VALUE, "%s must be a string (%s)",
                r->path, r->expect);
      return false;
    }
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    uint64_t digits;
    if (strlen(s) != len || len < r->min_len || len > r->max_len ||
        (r->valid && !r->valid(s)) ||
        (r->type == R_DIGITS && (!parse_u64(s, &digits) || digits > INT64_MAX))) {
      set_error(err, 400, bad, "%s must be %s", r->path, r->expect);
      return false;
    }
    if (slot && r->type == R_DIGITS)
      *(int64_t *)(void *)slot = (int64_t)digits;
    else if (slot)
      *(const char **)(void *)slot = s;
    return true;
  }
  }
  return false;
}

static bool check_rules(enum gsp_method method, json_object *root,
                        struct protocol_request *out,
                        struct protocol_error *err) {
  const struct field_rule *rules = method_rules[method].rules;
  size_t n = method_rules[method].nrules;
  int present[8] = {0};
  for (size_t i = 0; i < n; i++) {
    bool parent_missing;
    json_object *v = lookup(root, rules[i].path, &parent_missing);
    if (parent_missing)
      continue;
    if (v == NULL) {
      if (rules[i].required) {
        set_error(err, 400, GSP_MISSING_REQUIRED_FIELD, "%s is required",
                  rules[i].path);
        return false;
      }
      continue;
    }
    if (!apply_rule(&rules[i], v, out, err))
      return false;
    if (rules[i].oneof)
      present[rules[i].oneof]++;
  }
  for (size_t g = 0; g < method_rules[method].noneofs; g++) {
    const struct oneof_rule *o = &method_rules[method].oneofs[g];
    bool parent_missing = false;
    if (o->parent && lookup(root, o->parent, &parent_missing) == NULL)
      continue; /* an optional object left out: its union does not apply */
    if (present[o->id] == 0) {
      set_error(err, 400, GSP_MISSING_REQUIRED_FIELD,
                "exactly one of %s is required", o->members);
      return false;
    }
    if (present[o->id] > 1) {
      set_error(err, 400, GSP_INVALID_FIELD_VALUE,
                "only one of %s may be given", o->members);
      return false;
    }
  }
  return true;
}

/* Parses the body as strict JSON (json_strict.h) into an object; NULL
 * with err set when it is not one. */
static json_object *parse_body(const char *body, size_t len,
                               struct protocol_error *err) {
  struct json_strict js;
  assert(len <= INT32_MAX); /* the HTTP gate caps bodies far below */
  if (!json_strict_check(body, len, PROTOCOL_MAX_DEPTH, &js)) {
    set_error(err, 400, GSP_INVALID_DECRYPTED_REQUEST,
              "the body is not valid JSON: %s at byte %zu", js.error,
              js.error_at);
    json_strict_free(&js);
    return NULL;
  }
  json_tokener *tok = json_tokener_new_ex(PROTOCOL_MAX_DEPTH + 1);
  if (tok == NULL) {
    json_strict_free(&js);
    set_error(err, 503, GSP_ERR_NONE, "out of memory");
    return NULL;
  }
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  json_object *root = json_tokener_parse_ex(tok, body, (int)len);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  json_tokener_free(tok);
  bool unique = root && json_strict_no_duplicates(&js, root);
  json_strict_free(&js);
  if (root == NULL || jerr != json_tokener_success)
    /* What the grammar allows but json-c refuses. */
    set_error(err, 400, GSP_INVALID_DECRYPTED_REQUEST,
              "the body is not valid JSON: %s", json_tokener_error_desc(jerr));
  else if (!unique)
    set_error(err, 400, GSP_INVALID_DECRYPTED_REQUEST,
              "the body is not valid JSON: a key appears twice in one object");
  else if (!json_object_is_type(root, json_type_object))
    set_error(err, 400, GSP_INVALID_DECRYPTED_REQUEST,
              "the body must be a JSON object");
  else
    return root;
  json_object_put(root);
  return NULL;
}

/* The rule that depends on this server's clock. */
static bool check_timestamp(const struct protocol_limits *limits,
                            const struct protocol_request *r,
                            struct protocol_error *err) {
  if (limits->timestamp_skew_ms <= 0)
    return true;
  int64_t d = r->header.request_timestamp - limits->now_ms;
  if (d <= limits->timestamp_skew_ms && d >= -limits->timestamp_skew_ms)
    return true;
  set_error(err, 400, GSP_REQUEST_TIMESTAMP_OUT_OF_RANGE,
            "requestHeader.requestTimestamp is %" PRId64
            " ms from this server's clock; at most %" PRId64 " allowed",
            d, limits->timestamp_skew_ms);
  return false;
}

/* Each method's last rules, beyond the table's. */
static bool finish_method(struct protocol_request *r,
                          struct protocol_error *err) {
  switch (r->method) {
  case GSP_SEND_OTP:
    r->u.send_otp.request_id = r->header.request_id;
    return true;
  case GSP_VERIFY_OTP:
    r->u.verify_otp.request_id = r->header.request_id;
    return true;
  case GSP_ECHO:
    if (utf8_chars(r->u.echo.client_message) <= 1000)
      return true;
    set_error(err, 400, GSP_INVALID_FIELD_VALUE,
              "clientMessage must be at most 1000 characters");
    return false;
  case GSP_METHOD_COUNT:
    break;
  }
  return false;
}

bool protocol_decode(enum gsp_method method, const char *body, size_t len,
                     const struct protocol_limits *limits,
                     struct protocol_request *out, struct protocol_error *err) {
  memset(out, 0, sizeof *out);
  out->method = method;
  if ((out->json = parse_body(body, len, err)) == NULL)
    return false;
  if (check_rules(method, out->json, out, err) &&
      check_timestamp(limits, out, err) && finish_method(out, err))
    return true;
  protocol_request_free(out);
  return false;
}

void protocol_request_free(struct protocol_request *r) {
  json_object_put(r->json);
  r->json = NULL;
}

void protocol_fingerprint(const struct secret_key *key,
                          const struct protocol_request *r,
                          unsigned char out[SECRET_HASH_LEN]) {
  char version[64];
  char context[4];
  snprintf(version, sizeof version, "%" PRId64 ".%" PRId64 ".%" PRId64,
           r->header.major, r->header.minor, r->header.revision);
  const char *parts[8] = {"request", method_names[r->method],
                          r->header.request_id, version};
  size_t n = 4;
  switch (r->method) {
  case GSP_SEND_OTP:
    snprintf(context, sizeof context, "%d", (int)r->u.send_otp.context);
    parts[n++] = r->u.send_otp.account_phone_number;
    parts[n++] = r->u.send_otp.association_id;
    parts[n++] = r->u.send_otp.sms_matching_token;
    parts[n++] = context;
    break;
  case GSP_VERIFY_OTP:
    parts[n++] = r->u.verify_otp.send_otp_request_id;
    parts[n++] = r->u.verify_otp.otp;
    break;
  case GSP_ECHO:
    parts[n++] = r->u.echo.client_message;
    break;
  case GSP_METHOD_COUNT:
    break;
  }
  secret_hash(key, parts, n, out);
}

static char *to_text(json_object *o) {
  char *s = xstrdup(json_object_to_json_string_ext(
      o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
  return s;
}

char *protocol_encode_send_otp(const struct send_otp_outcome *o) {
  json_object *obj = json_object_new_object();
  if (o->result == SEND_OTP_SUCCESS)
    json_object_object_add(obj, "paymentIntegratorSendOtpId",
                           json_object_new_string(o->send_otp_id));
  json_object_object_add(
      obj, "result", json_object_new_string(protocol_send_otp_result_name(o->result)));
  return to_text(obj);
}

char *protocol_encode_verify_otp(const struct verify_otp_outcome *o) {
  json_object *obj = json_object_new_object();
  if (o->verify_otp_id[0])
    json_object_object_add(obj, "paymentIntegratorVerifyOtpId",
                           json_object_new_string(o->verify_otp_id));
  json_object_object_add(
      obj, "result",
      json_object_new_string(protocol_verify_otp_result_name(o->result)));
  return to_text(obj);
}

char *protocol_encode_echo(const struct echo_request *req,
                           const char *server_message) {
  json_object *obj = json_object_new_object();
  json_object_object_add(obj, "clientMessage",
                         json_object_new_string(req->client_message));
  json_object_object_add(obj, "serverMessage",
                         json_object_new_string(server_message));
  return to_text(obj);
}

static void render_header(struct buf *out, int64_t now_ms) {
  char head[96];
  snprintf(head, sizeof head,
           "{\"responseHeader\":{\"responseTimestamp\":\"%" PRId64 "\"}", now_ms);
  buf_appends(out, head);
}

void protocol_render_answer(struct buf *out, const char *fields, int64_t now_ms) {
  /* fields is a JSON object text from protocol_encode_*(): "{...}". */
  render_header(out, now_ms);
  const char *inner = fields + 1;
  while (*inner == ' ')
    inner++;
  if (*inner != '}')
    buf_appends(out, ",");
  buf_appends(out, inner);
}

char *protocol_encode_error(const struct protocol_error *err,
                            const char *error_id) {
  json_object *obj = json_object_new_object();
  if (err->code != GSP_ERR_NONE)
    json_object_object_add(obj, "errorResponseCode",
                           json_object_new_string(protocol_error_name(err->code)));
  json_object_object_add(obj, "errorDescription",
                         json_object_new_string(err->description));
  json_object_object_add(obj, "paymentIntegratorErrorIdentifier",
                         json_object_new_string(error_id));
  return to_text(obj);
}

void protocol_error_from_service(enum service_error e, struct protocol_error *err) {
  switch (e) {
  case SERVICE_UNKNOWN_ASSOCIATION:
    set_error(err, 404, GSP_INVALID_IDENTIFIER,
              "associationId is not a known, live association");
    return;
  case SERVICE_UNKNOWN_SEND_OTP_REQUEST:
    set_error(err, 404, GSP_INVALID_IDENTIFIER,
              "sendOtpRequestId names no successful sendOtp");
    return;
  case SERVICE_TOKEN_DOES_NOT_FIT:
    set_error(err, 400, GSP_INVALID_FIELD_VALUE,
              "smsMatchingToken makes the SMS longer than one message "
              "(a character outside GSM-7?)");
    return;
  case SERVICE_UNAVAILABLE:
  case SERVICE_OK:
    set_error(err, 503, GSP_ERR_NONE,
              "temporarily unable to process the request; retry later");
    return;
  }
}
