#include "config.h"

#include "sms.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

/* GSM 03.38 default alphabet, as Unicode code points. */
static const uint16_t gsm7_basic[] = {
    '@', 0xA3, '$', 0xA5, 0xE8, 0xE9, 0xF9, 0xEC, 0xF2, 0xC7, '\n', 0xD8,
    0xF8, '\r', 0xC5, 0xE5, 0x394, '_', 0x3A6, 0x393, 0x39B, 0x3A9, 0x3A0,
    0x3A8, 0x3A3, 0x398, 0x39E, 0xC6, 0xE6, 0xDF, 0xC9, ' ', '!', '"', '#',
    0xA4, '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', ':', ';',
    '<', '=', '>', '?', 0xA1, 0xC4, 0xD6, 0xD1, 0xDC, 0xA7, 0xBF, 0xE4, 0xF6,
    0xF1, 0xFC, 0xE0};
/* The extension table: each takes an escape septet and its own. */
static const uint16_t gsm7_extension[] = {'^', '{', '}', '\\', '[', '~',
                                          ']', '|', 0x20AC, '\f'};

static bool in_table(const uint16_t *t, size_t n, uint32_t cp) {
  for (size_t i = 0; i < n; i++)
    if (t[i] == cp)
      return true;
  return false;
}

/* The sum of cost() over the text's characters; -1 when the text is not
 * valid UTF-8 or cost() says a character cannot be sent (-1). */
static int utf8_sum(const char *text, int (*cost)(uint32_t cp)) {
  const unsigned char *p = (const unsigned char *)text;
  const unsigned char *end = p + strlen(text);
  int n = 0;
  while (p < end) {
    uint32_t cp;
    size_t len = utf8_decode(p, end, &cp);
    int c = len ? cost(cp) : -1;
    if (c < 0)
      return -1;
    n += c;
    p += len;
  }
  return n;
}

/* Septets in GSM-7: 1 in the basic table, 2 in the extension table. */
static int gsm7_cost(uint32_t cp) {
  if ((cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') ||
      (cp >= '0' && cp <= '9') ||
      in_table(gsm7_basic, sizeof gsm7_basic / sizeof gsm7_basic[0], cp))
    return 1;
  if (in_table(gsm7_extension, sizeof gsm7_extension / sizeof gsm7_extension[0],
               cp))
    return 2;
  return -1;
}

/* UTF-16 code units: a surrogate pair above the BMP. */
static int ucs2_cost(uint32_t cp) { return cp >= 0x10000 ? 2 : 1; }

int sms_gsm7_septets(const char *text) { return utf8_sum(text, gsm7_cost); }

int sms_ucs2_units(const char *text) { return utf8_sum(text, ucs2_cost); }

bool sms_fits(const char *text, char *why, size_t whysz) {
  int septets = sms_gsm7_septets(text);
  if (septets >= 0) {
    if (septets <= SMS_MAX_SEPTETS)
      return true;
    snprintf(why, whysz, "takes %d GSM-7 characters, more than one SMS (%d)",
             septets, SMS_MAX_SEPTETS);
    return false;
  }
  int units = sms_ucs2_units(text);
  if (units < 0) {
    snprintf(why, whysz, "is not valid UTF-8");
    return false;
  }
  if (units <= SMS_MAX_UCS2)
    return true;
  snprintf(why, whysz,
           "has a character outside GSM-7, so one SMS holds %d, and it takes %d",
           SMS_MAX_UCS2, units);
  return false;
}

/* Walks the template; calls emit for each literal run and placeholder.
 * Returns false (with why) on an unknown or unclosed placeholder. */
static bool render(const char *tpl, const char *code, const char *minutes,
                   struct buf *out, size_t *code_offset, int *otp_count,
                   char *why, size_t whysz) {
  *otp_count = 0;
  for (const char *p = tpl; *p;) {
    if (*p != '{') {
      const char *q = strchr(p, '{');
      size_t n = q ? (size_t)(q - p) : strlen(p);
      buf_append(out, p, n);
      p += n;
      continue;
    }
    if (strncmp(p, "{otp}", 5) == 0) {
      *code_offset = out->len;
      buf_appends(out, code);
      (*otp_count)++;
      p += 5;
    } else if (strncmp(p, "{minutes}", 9) == 0) {
      buf_appends(out, minutes);
      p += 9;
    } else {
      snprintf(why, whysz,
               "unknown placeholder at \"%.12s\" (only {otp} and {minutes})", p);
      return false;
    }
  }
  return true;
}

bool sms_compose(const char *tpl, const char *code, int minutes,
                 const char *token, bool token_first, struct buf *out,
                 size_t *code_offset, char *why, size_t whysz) {
  char mins[16];
  int otp_count;
  size_t offset = 0;
  snprintf(mins, sizeof mins, "%d", minutes);
  if (token_first) {
    buf_appends(out, token);
    buf_appends(out, "\n");
  }
  if (!render(tpl, code, mins, out, &offset, &otp_count, why, whysz))
    return false;
  if (otp_count != 1) {
    snprintf(why, whysz, "must contain {otp} exactly once (found %d)",
             otp_count);
    return false;
  }
  if (!token_first) {
    buf_appends(out, "\n");
    buf_appends(out, token);
  }
  *code_offset = offset;
  return sms_fits(out->data, why, whysz);
}

bool sms_check_template(const char *tpl, int otp_length, int minutes,
                        char *why, size_t whysz) {
  /* The longest rendering: the longest code, the largest minute count, and
   * a token of GSM-7 extension characters, which take two septets each. */
  char code[16], token[SMS_TOKEN_LEN + 1];
  struct buf out = {0};
  size_t off;
  memset(code, '9', (size_t)otp_length);
  code[otp_length] = '\0';
  memset(token, '^', SMS_TOKEN_LEN);
  token[SMS_TOKEN_LEN] = '\0';
  for (const char *p = tpl; *p; p++)
    if (*p == '\n' || *p == '\r') {
      snprintf(why, whysz, "must be one line");
      return false;
    }
  bool ok = sms_compose(tpl, code, minutes, token, false, &out, &off, why,
                        whysz);
  buf_free(&out);
  return ok;
}

