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

/* Whether list is calling codes ("91,44,1": 1 to 3 digits each, the first
 * not 0, commas between), or empty. */
bool phone_countries_valid(const char *list);
/* Whether the E.164 phone's calling code is in list (empty: every one).
 * Calling codes are prefix-free, so the first that matches is the one. */
bool phone_in_countries(const char *phone, const char *list);

#endif
