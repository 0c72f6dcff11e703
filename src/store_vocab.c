/* The spellings of the schema's vocabularies. the schema's CHECK
 * constraints hold the same words: keep the two in step. */
#include "config.h"

#include "store_vocab.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#define VOCAB(table) {table, (int)(sizeof table / sizeof table[0])}

static const char *const account_status_names[] = {
    [ACCOUNT_ACTIVE] = "active",
    [ACCOUNT_NOT_ELIGIBLE] = "not_eligible",
    [ACCOUNT_CLOSED] = "closed",
    [ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER] = "closed_account_taken_over",
    [ACCOUNT_CLOSED_FRAUD] = "closed_fraud",
};
const struct store_vocab store_account_statuses = VOCAB(account_status_names);

static const char *const outbox_status_names[] = {
    [OUTBOX_QUEUED] = "queued",   [OUTBOX_SENDING] = "sending",
    [OUTBOX_SENT] = "sent",       [OUTBOX_FAILED] = "failed",
    [OUTBOX_EXPIRED] = "expired", [OUTBOX_UNKNOWN] = "unknown",
    [OUTBOX_SUPERSEDED] = "superseded",
};
const struct store_vocab store_outbox_statuses = VOCAB(outbox_status_names);

static const char *const otp_context_names[] = {
    [OTP_CONTEXT_NONE] = "none",
    [OTP_CONTEXT_ASSOCIATION] = "association",
    [OTP_CONTEXT_MANDATE_CREATION] = "mandate_creation",
    [OTP_CONTEXT_ASSOCIATION_WITH_MANDATE_CREATION] =
        "association_with_mandate_creation",
};
const struct store_vocab store_otp_contexts = VOCAB(otp_context_names);

const char *store_vocab_name(const struct store_vocab *v, int value) {
  assert(value >= 0 && value < v->count);
  return v->names[value];
}

bool store_vocab_parse(const struct store_vocab *v, const char *name,
                       int *value) {
  for (int i = 0; i < v->count; i++)
    if (strcmp(name, v->names[i]) == 0) {
      *value = i;
      return true;
    }
  return false;
}

const char *store_vocab_list(const struct store_vocab *v, char *out,
                             size_t outsz) {
  size_t n = 0;
  out[0] = '\0';
  for (int i = 0; i < v->count && n < outsz; i++)
    n += (size_t)snprintf(out + n, outsz - n, "%s%s", i ? ", " : "",
                          v->names[i]);
  return out;
}
