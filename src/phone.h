/* Phone numbers: the E.164 rule and masking for logs. */
#ifndef OTPGATE_PHONE_H
#define OTPGATE_PHONE_H

#include <stdbool.h>
#include <stddef.h>

/* '+', then 7 to 15 digits, the first not 0: E.164 caps a number at 15
 * digits; the shortest in use have 7 (Niue: +683 and 4 digits). */
bool phone_is_e164(const char *s);
/* Writes the phone masked to its last 4 digits ("+*******1234") into out. */
void phone_mask(const char *phone, char *out, size_t outsz);

#endif
