/* SMS text: composing the message from the template and checking that it
 * fits in one SMS (160 GSM-7 septets, or 70 UCS-2 units when any character
 * is outside GSM-7). */
#ifndef OTPGATE_SMS_H
#define OTPGATE_SMS_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define SMS_TOKEN_LEN 11
#define SMS_MAX_SEPTETS 160
#define SMS_MAX_UCS2 70

/* Septets the UTF-8 text takes in GSM-7 (extension characters count 2), or
 * -1 when a character is outside GSM-7 or the text is not valid UTF-8. */
int sms_gsm7_septets(const char *text);
/* UTF-16 code units of the UTF-8 text, or -1 when it is not valid UTF-8. */
int sms_ucs2_units(const char *text);
/* Whether the text fits in one SMS; why says by how much it does not. */
bool sms_fits(const char *text, char *why, size_t whysz);

/* The template must hold {otp} exactly once, may hold {minutes}, no other
 * {placeholder}, and its longest rendering (any 11-character token) must
 * fit in one SMS. */
bool sms_check_template(const char *tpl, int otp_length, int minutes,
                        char *why, size_t whysz);

/* Renders the SMS into out: the template with {otp} and {minutes} filled
 * in, and the token on a line of its own, first or last. code_offset gets
 * the byte offset of the code in the text. False (with why) when the result
 * does not fit in one SMS. */
bool sms_compose(const char *tpl, const char *code, int minutes,
                 const char *token, bool token_first, struct buf *out,
                 size_t *code_offset, char *why, size_t whysz);

#endif
