/* SMS composition and the one-SMS length rules. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "otp.h"
#include "sms.h"
#include "testhelp.h"

static char why[256];

START_TEST(token_last) {
  struct buf b = {0};
  size_t off;
  ck_assert(sms_compose("Here's the OTP you requested: {otp}", "123456", 5,
                        "0123456789A", false, &b, &off, why, sizeof why));
  ck_assert_str_eq(b.data, "Here's the OTP you requested: 123456\n0123456789A");
  ck_assert_int_eq(off, 30);
  ck_assert_int_eq(strncmp(b.data + off, "123456", 6), 0);
  buf_free(&b);
}
END_TEST

START_TEST(token_first) {
  struct buf b = {0};
  size_t off;
  ck_assert(sms_compose("Code {otp}, valid {minutes} min", "98765432", 10,
                        "AB12345678C", true, &b, &off, why, sizeof why));
  ck_assert_str_eq(b.data, "AB12345678C\nCode 98765432, valid 10 min");
  ck_assert_int_eq(strncmp(b.data + off, "98765432", 8), 0);
  buf_free(&b);
}
END_TEST

START_TEST(septets_and_units) {
  ck_assert_int_eq(sms_gsm7_septets("abc 123"), 7);
  ck_assert_int_eq(sms_gsm7_septets("[x]"), 5);       /* extension chars: 2 */
  ck_assert_int_eq(sms_gsm7_septets("\xe2\x82\xac"), 2); /* euro sign */
  ck_assert_int_eq(sms_gsm7_septets("caf\xc3\xa9"), 4);  /* é is GSM-7 */
  ck_assert_int_eq(sms_gsm7_septets("`"), -1);
  ck_assert_int_eq(sms_gsm7_septets("\xd0\x9a"), -1); /* Cyrillic */
  ck_assert_int_eq(sms_ucs2_units("\xd0\x9a\xd0\xbe"), 2);
  ck_assert_int_eq(sms_ucs2_units("\xf0\x9f\x98\x80"), 2); /* emoji: pair */
  ck_assert_int_eq(sms_ucs2_units("\xff"), -1);
  ck_assert_int_eq(sms_gsm7_septets("\xc0\x80"), -1); /* overlong NUL */
}
END_TEST

START_TEST(length_limits) {
  char text[200];
  memset(text, 'a', 160);
  text[160] = '\0';
  ck_assert(sms_fits(text, why, sizeof why));
  text[160] = 'a';
  text[161] = '\0';
  ck_assert(!sms_fits(text, why, sizeof why));
  ck_assert_ptr_nonnull(strstr(why, "161"));
  /* 70 Cyrillic letters fit; 71 do not. */
  char cyr[300] = "";
  for (int i = 0; i < 70; i++)
    strcat(cyr, "\xd0\x9a");
  ck_assert(sms_fits(cyr, why, sizeof why));
  strcat(cyr, "\xd0\x9a");
  ck_assert(!sms_fits(cyr, why, sizeof why));
}
END_TEST

START_TEST(template_checks) {
  char tpl[200];
  /* 160 - 12 (token line) - 10 (code) = 138 literal septets at most, with
   * the worst-case token of extension characters costing 11 more. */
  memset(tpl, 'x', sizeof tpl);
  memcpy(tpl, "{otp}", 5);
  tpl[5 + 127] = '\0';
  ck_assert_msg(sms_check_template(tpl, 10, 10, why, sizeof why), "%s", why);
  tpl[5 + 127] = 'x';
  tpl[5 + 128] = '\0';
  ck_assert(!sms_check_template(tpl, 10, 10, why, sizeof why));
  ck_assert(!sms_check_template("no code here", 6, 5, why, sizeof why));
  ck_assert(!sms_check_template("{otp}\n", 6, 5, why, sizeof why));
  ck_assert(!sms_check_template("{otp} {OTP}", 6, 5, why, sizeof why));
  ck_assert(sms_check_template("{otp} {minutes} {minutes}", 6, 5, why, sizeof why));
}
END_TEST

START_TEST(backtick_token_can_overflow) {
  /* A template that fits in GSM-7 may not fit once a token forces UCS-2. */
  struct buf b = {0};
  size_t off;
  char tpl[200];
  memset(tpl, 'x', sizeof tpl);
  memcpy(tpl, "{otp}", 5);
  tpl[100] = '\0';
  ck_assert(sms_compose(tpl, "123456", 5, "ABCDEFGHIJK", false, &b, &off, why,
                        sizeof why));
  buf_free(&b);
  ck_assert(!sms_compose(tpl, "123456", 5, "ABCDEFGHIJ`", false, &b, &off, why,
                         sizeof why));
  buf_free(&b);
}
END_TEST

START_TEST(codes) {
  char code[OTP_MAX_LENGTH + 1];
  int counts[10] = {0};
  for (int len = 6; len <= 10; len++) {
    otp_generate_code(code, len);
    ck_assert_int_eq((int)strlen(code), len);
    ck_assert_int_eq((int)strspn(code, "0123456789"), len);
  }
  /* Distribution sanity: 100,000 digits, each digit 10% give or take 0.6%. */
  for (int i = 0; i < 10000; i++) {
    otp_generate_code(code, 10);
    for (int j = 0; j < 10; j++)
      counts[code[j] - '0']++;
  }
  for (int d = 0; d < 10; d++)
    ck_assert_msg(counts[d] > 9400 && counts[d] < 10600, "digit %d: %d", d,
                  counts[d]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("sms");
  TCase *tc = tcase_create("sms");
  tcase_add_test(tc, token_last);
  tcase_add_test(tc, token_first);
  tcase_add_test(tc, septets_and_units);
  tcase_add_test(tc, length_limits);
  tcase_add_test(tc, template_checks);
  tcase_add_test(tc, backtick_token_can_overflow);
  tcase_add_test(tc, codes);
  suite_add_tcase(s, tc);
  return th_run_suite(s);
}
