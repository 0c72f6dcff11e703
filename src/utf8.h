/* UTF-8 as RFC 3629 defines it: the one decoder that the strict JSON pass
 * and the SMS length rules share. */
#ifndef OTPGATE_UTF8_H
#define OTPGATE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the sequence at p (no further than end) into *cp and returns its
 * length, or 0 when it is not a sequence RFC 3629 allows: an overlong
 * form, an encoded surrogate, a code point past U+10FFFF, a stray
 * continuation byte, or a sequence cut short by end. */
size_t utf8_decode(const unsigned char *p, const unsigned char *end,
                   uint32_t *cp);

#endif
