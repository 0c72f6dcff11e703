#include "config.h"

#include "phone.h"

#include <string.h>

bool phone_is_e164(const char *s) {
  if (s == NULL || s[0] != '+' || s[1] < '1' || s[1] > '9')
    return false;
  size_t n = 0;
  for (const char *p = s + 1; *p; p++, n++)
    if (*p < '0' || *p > '9')
      return false;
  return n >= 7 && n <= 15;
}

void phone_mask(const char *phone, char *out, size_t outsz) {
  size_t len = phone ? strlen(phone) : 0;
  size_t i = 0;
  if (outsz == 0)
    return;
  for (; i < len && i + 1 < outsz; i++) {
    char c = phone[i];
    out[i] = (i + 4 >= len || c == '+') ? c : '*';
  }
  out[i] = '\0';
}
