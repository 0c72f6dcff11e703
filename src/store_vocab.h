/* The schema's vocabularies: the values of accounts.status, outbox.status
 * and otps.context as C enums, and the one table of their spellings
 * (store_vocab.c, next to the SQL that stores them). Everything outside the
 * store works with the enums; the admin tool parses and lists the
 * spellings through these tables. */
#ifndef OTPGATE_STORE_VOCAB_H
#define OTPGATE_STORE_VOCAB_H

#include <stdbool.h>
#include <stddef.h>

enum account_status {
  ACCOUNT_ACTIVE,
  ACCOUNT_NOT_ELIGIBLE,
  ACCOUNT_CLOSED,
  ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER,
  ACCOUNT_CLOSED_FRAUD,
};

enum outbox_status {
  OUTBOX_QUEUED,
  OUTBOX_SENDING,
  OUTBOX_SENT,
  OUTBOX_FAILED,
  OUTBOX_EXPIRED,
  OUTBOX_UNKNOWN,
  OUTBOX_SUPERSEDED, /* a newer code was sent before this one went out */
};

enum otp_context {
  OTP_CONTEXT_NONE,
  OTP_CONTEXT_ASSOCIATION,
  OTP_CONTEXT_MANDATE_CREATION,
  OTP_CONTEXT_ASSOCIATION_WITH_MANDATE_CREATION,
};

/* One vocabulary: names[value] is the schema's spelling of value. */
struct store_vocab {
  const char *const *names;
  int count;
};
extern const struct store_vocab store_account_statuses;
extern const struct store_vocab store_outbox_statuses;
extern const struct store_vocab store_otp_contexts;

/* The spelling of value. */
const char *store_vocab_name(const struct store_vocab *v, int value);
/* The value spelled name; false for a word not in the vocabulary. */
bool store_vocab_parse(const struct store_vocab *v, const char *name,
                       int *value);
/* Every spelling, joined by ", ", into out (for usage and error messages). */
const char *store_vocab_list(const struct store_vocab *v, char *out,
                             size_t outsz);

#endif
