#include "config.h"

#include "utf8.h"

/* The table of RFC 3629, section 4, by byte:
 *
 *   00..7F                            U+0000..U+007F
 *   C2..DF  80..BF                    U+0080..U+07FF
 *   E0      A0..BF  80..BF            U+0800..U+0FFF
 *   E1..EC  80..BF  80..BF            U+1000..U+CFFF
 *   ED      80..9F  80..BF            U+D000..U+D7FF
 *   EE..EF  80..BF  80..BF            U+E000..U+FFFF
 *   F0      90..BF  80..BF  80..BF    U+10000..U+3FFFF
 *   F1..F3  80..BF  80..BF  80..BF    U+40000..U+FFFFF
 *   F4      80..8F  80..BF  80..BF    U+100000..U+10FFFF
 *
 * Only the second byte's range depends on the first. The narrow ones shut
 * out overlong forms (E0 80..9F, F0 80..8F; C0 and C1 could start only
 * overlong ones), the surrogates U+D800..U+DFFF (ED A0..BF) and code
 * points past U+10FFFF (F4 90..BF; F5..FF). 80..BF never comes first: a
 * stray continuation. A sequence cut short by the end of text is none. */
size_t utf8_decode(const unsigned char *p, const unsigned char *end,
                   uint32_t *cp) {
  unsigned char c = p[0], lo = 0x80, hi = 0xBF;
  size_t n;
  if (c <= 0x7F) {
    *cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF)
    n = 2, *cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3, *cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4, *cp = c & 0x07;
  else
    return 0;
  if (c == 0xE0)
    lo = 0xA0;
  else if (c == 0xED)
    hi = 0x9F;
  else if (c == 0xF0)
    lo = 0x90;
  else if (c == 0xF4)
    hi = 0x8F;
  if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if (p[i] < 0x80 || p[i] > 0xBF)
      return 0;
    *cp = (*cp << 6) | (p[i] & 0x3F);
  }
  return n;
}
