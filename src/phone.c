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

/* Walks a countries list: false when an entry is not a calling code;
 * *found tells whether phone's (if given) calling code is among them. */
static bool each_country(const char *list, const char *phone, bool *found) {
  const char *p = list;
  *found = false;
  while (*p) {
    size_t n = strspn(p, "0123456789");
    if (n < 1 || n > 3 || *p == '0' || (p[n] != ',' && p[n] != '\0'))
      return false;
    if (phone && strncmp(phone + 1, p, n) == 0)
      *found = true;
    p += n;
    if (*p == ',' && *++p == '\0')
      return false;
  }
  return true;
}

bool phone_countries_valid(const char *list) {
  bool found;
  return each_country(list, NULL, &found);
}

bool phone_in_countries(const char *phone, const char *list) {
  bool found;
  if (*list == '\0')
    return true;
  return each_country(list, phone, &found) && found;
}
