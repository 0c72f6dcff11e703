/* The outbox in the store: claims, leases, outcomes, seals, purging.
 * In-process against a database made by `otpgate-admin init`, with the
 * clock passed in, so every lease edge is exact. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "testhelp.h"
#include "util.h"

#define T0 1700000000000LL
#define LEASE 2000
/* What a worker writes: the text with its code masked, the code sealed
 * (the store neither seals nor opens: these bytes stand for a seal). */
#define TEXT "Your code is ******. Bye"
#define SEALED "sealed-code-stand-in-bytes"

static struct store *s;

static void setup(void) {
  th_config("");
  ck_assert_int_eq(th_admin("init", NULL), 0);
  s = th_store_open();
}

static void teardown(void) {
  th_store_close(s);
  th_cleanup();
}

static int64_t add(int64_t created, int64_t expires, const char *text,
                   size_t off, size_t len) {
  struct store_outbox_new row = {.account_id = "a",
                                 .destination = "+4915112345678",
                                 .text = text,
                                 .code_offset = off,
                                 .code_length = len,
                                 .sealed = (const unsigned char *)SEALED,
                                 .sealed_len = sizeof SEALED - 1,
                                 .key_id = 7,
                                 .created_at = created,
                                 .expires_at = expires};
  int64_t id;
  ck_assert_int_eq(store_outbox_insert(s, &row, &id), STORE_OK);
  return id;
}

static char *col(const char *column, int64_t id) {
  char *sql =
      xasprintf("SELECT %s FROM outbox WHERE id = %lld", column, (long long)id);
  char *v = th_sql_text(sql);
  free(sql);
  return v ? v : xstrdup("(null)");
}

static void assert_col(int64_t id, const char *column, const char *want) {
  char *v = col(column, id);
  ck_assert_msg(strcmp(v, want) == 0, "row %lld %s: '%s', not '%s'",
                (long long)id, column, v, want);
  free(v);
}

/* Whether the row still holds its sealed code: live rows do, final rows
 * must not. */
static void assert_sealed(int64_t id, bool sealed) {
  char *sql = xasprintf("SELECT sealed_code IS NOT NULL FROM outbox WHERE id = %lld",
                        (long long)id);
  ck_assert_msg(th_sql_int(sql) == sealed, "row %lld: sealed code %s",
                (long long)id, sealed ? "gone" : "kept");
  free(sql);
}

static enum store_rc claim(const char *owner, int64_t now,
                           struct store_outbox_claim *c) {
  return store_outbox_claim(s, owner, now, LEASE, 5, c, NULL);
}

START_TEST(claims_oldest_first_and_never_twice) {
  int64_t a = add(T0, T0 + 300000, TEXT, 13, 6);
  int64_t b = add(T0 + 1, T0 + 300000, TEXT, 13, 6);
  struct store_outbox_claim c1, c2, c3;
  ck_assert_int_eq(claim("one", T0 + 10, &c1), STORE_OK);
  ck_assert_int_eq(claim("two", T0 + 10, &c2), STORE_OK);
  ck_assert_int_eq(claim("three", T0 + 10, &c3), STORE_NOT_FOUND);
  ck_assert_int_eq(c1.id, a);
  ck_assert_int_eq(c2.id, b);
  ck_assert_str_eq(c1.text, TEXT);
  ck_assert_str_eq(c1.destination, "+4915112345678");
  ck_assert_int_eq(c1.code_offset, 13);
  ck_assert_int_eq(c1.code_length, 6);
  ck_assert_int_eq(c1.attempts, 1);
  ck_assert_int_eq(c1.lease_until, T0 + 10 + LEASE);
  assert_col(a, "status", "sending");
  assert_col(a, "lease_owner", "one");
  assert_col(b, "lease_owner", "two");
  store_outbox_claim_free(&c1);
  store_outbox_claim_free(&c2);
}
END_TEST

START_TEST(not_due_until_next_attempt_at) {
  int64_t a = add(T0, T0 + 300000, TEXT, 13, 6);
  struct store_outbox_claim c;
  ck_assert_int_eq(claim("one", T0, &c), STORE_OK);
  struct store_outbox_result r = {
      .outcome = STORE_OUTBOX_RETRY, .retry_at = T0 + 5000, .error = "later"};
  ck_assert_int_eq(store_outbox_record(s, a, "one", &r, T0 + 1), STORE_OK);
  store_outbox_claim_free(&c);
  assert_col(a, "status", "queued");
  assert_sealed(a, true); /* not final: the code is still needed */
  assert_col(a, "last_error", "later");
  int64_t when;
  ck_assert_int_eq(store_outbox_next_due(s, &when), STORE_OK);
  ck_assert_int_eq(when, T0 + 5000);
  ck_assert_int_eq(claim("one", T0 + 4999, &c), STORE_NOT_FOUND);
  ck_assert_int_eq(claim("one", T0 + 5000, &c), STORE_OK);
  ck_assert_int_eq(c.attempts, 2);
  store_outbox_claim_free(&c);
}
END_TEST

/* The sender's one transaction per message: the outcome of the row in
 * hand is recorded and the next row claimed together. */
START_TEST(record_and_claim_in_one_transaction) {
  int64_t a = add(T0, T0 + 300000, TEXT, 13, 6);
  int64_t b = add(T0 + 1, T0 + 300000, TEXT, 13, 6);
  struct store_outbox_claim c;
  ck_assert_int_eq(claim("one", T0 + 10, &c), STORE_OK);
  ck_assert_int_eq(c.id, a);
  store_outbox_claim_free(&c);

  struct store_outbox_done d = {
      .id = a, .result = {.outcome = STORE_OUTBOX_SENT, .gateway_ref = "g1"}};
  ck_assert_int_eq(store_outbox_record_claim(s, "one", &d, T0 + 20, LEASE, 5,
                                             &c),
                   STORE_OK);
  ck_assert_int_eq(d.recorded, STORE_OK);
  ck_assert_int_eq(c.id, b);
  assert_col(a, "status", "sent");
  assert_sealed(a, false);
  assert_col(a, "gateway_ref", "g1");
  assert_col(b, "status", "sending");
  assert_col(b, "lease_owner", "one");
  store_outbox_claim_free(&c);

  /* Nothing left to claim: the outcome is recorded all the same. */
  d.id = b;
  ck_assert_int_eq(store_outbox_record_claim(s, "one", &d, T0 + 30, LEASE, 5,
                                             &c),
                   STORE_NOT_FOUND);
  ck_assert_int_eq(d.recorded, STORE_OK);
  assert_col(b, "status", "sent");
}
END_TEST

/* The batched record-and-claim at now, max rows at most (freed here):
 * checks its result is want, puts the claimed ids in ids, returns how
 * many. */
static size_t batch(const char *owner, struct store_outbox_done *done,
                    size_t ndone, int64_t now, size_t max, int64_t *ids,
                    enum store_rc want) {
  struct store_outbox_claim c[8];
  size_t n = 99;
  ck_assert(max <= 8);
  ck_assert_int_eq(store_outbox_record_claim_batch(s, owner, done, ndone, now,
                                                   LEASE, 5, c, max, &n),
                   want);
  for (size_t i = 0; i < n; i++) {
    ids[i] = c[i].id;
    ck_assert_int_eq(c[i].lease_until, now + LEASE);
    ck_assert_int_eq(c[i].sealed_len, sizeof SEALED - 1);
    store_outbox_claim_free(&c[i]);
  }
  return n;
}

/* A batch: up to max rows claimed oldest first in one transaction; the
 * next one records every outcome, each per row, and claims what is due
 * (a row just put back for a retry is not). */
START_TEST(batch_records_every_outcome_and_claims) {
  int64_t r[5], ids[8];
  for (int i = 0; i < 5; i++)
    r[i] = add(T0 + i, T0 + 300000, TEXT, 13, 6);
  ck_assert_uint_eq(batch("one", NULL, 0, T0 + 10, 3, ids, STORE_OK), 3);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(ids[i], r[i]);
    assert_col(r[i], "status", "sending");
    assert_col(r[i], "lease_owner", "one");
  }
  assert_col(r[3], "status", "queued");

  struct store_outbox_done d[3] = {
      {.id = r[0], .result = {.outcome = STORE_OUTBOX_SENT, .gateway_ref = "g"}},
      {.id = r[1],
       .result = {.outcome = STORE_OUTBOX_RETRY, .retry_at = T0 + 9000,
                  .error = "busy"}},
      {.id = r[2], .result = {.outcome = STORE_OUTBOX_FAILED, .error = "no"}},
  };
  ck_assert_uint_eq(batch("one", d, 3, T0 + 20, 3, ids, STORE_OK), 2);
  ck_assert_int_eq(ids[0], r[3]);
  ck_assert_int_eq(ids[1], r[4]);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(d[i].recorded, STORE_OK);
  assert_col(r[0], "status", "sent");
  assert_col(r[0], "gateway_ref", "g");
  assert_col(r[1], "status", "queued");
  assert_col(r[1], "next_attempt_at", "1700000009000");
  assert_col(r[2], "status", "failed");
  assert_sealed(r[0], false);
  assert_sealed(r[1], true);
  assert_sealed(r[2], false);
  /* One transaction, one clock: every outcome and claim carries its now. */
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox "
                              "WHERE updated_at = 1700000000020"),
                   5);

  /* Nothing due: the outcomes are recorded all the same. */
  struct store_outbox_done e[2] = {
      {.id = r[3], .result = {.outcome = STORE_OUTBOX_SENT}},
      {.id = r[4], .result = {.outcome = STORE_OUTBOX_UNKNOWN, .error = "?"}},
  };
  ck_assert_uint_eq(batch("one", e, 2, T0 + 30, 3, ids, STORE_NOT_FOUND), 0);
  ck_assert_int_eq(e[0].recorded, STORE_OK);
  ck_assert_int_eq(e[1].recorded, STORE_OK);
  assert_col(r[3], "status", "sent");
  assert_col(r[4], "status", "unknown");
}
END_TEST

/* The outcomes and the claim are one transaction: when one write fails
 * (a trigger stands in for a failing disk), none of them happened, and
 * every outcome says so. A row whose lease was lost is that row's
 * STORE_NOT_FOUND and does not stop the others. */
START_TEST(batch_is_one_transaction) {
  int64_t r[4], ids[8];
  for (int i = 0; i < 4; i++)
    r[i] = add(T0 + i, T0 + 300000, TEXT, 13, 6);
  ck_assert_uint_eq(batch("one", NULL, 0, T0 + 10, 2, ids, STORE_OK), 2);
  char *when = xasprintf("NEW.id = %lld AND NEW.status = 'failed'", (long long)r[1]);
  th_sql_refuse("boom", "BEFORE UPDATE OF status ON outbox", when, "boom");
  free(when);
  struct store_outbox_done d[2] = {
      {.id = r[0], .result = {.outcome = STORE_OUTBOX_SENT}},
      {.id = r[1], .result = {.outcome = STORE_OUTBOX_FAILED, .error = "x"}},
  };
  struct store_outbox_claim c[2];
  size_t n = 99;
  enum store_rc rc = store_outbox_record_claim_batch(s, "one", d, 2, T0 + 20,
                                                     LEASE, 5, c, 2, &n);
  ck_assert_int_ne(rc, STORE_OK);
  ck_assert_int_ne(rc, STORE_NOT_FOUND);
  ck_assert_uint_eq(n, 0);
  ck_assert_int_eq(d[0].recorded, rc);
  ck_assert_int_eq(d[1].recorded, rc);
  assert_col(r[0], "status", "sending"); /* its 'sent' was rolled back */
  assert_col(r[2], "status", "queued");  /* and so was the claim */

  th_sql_refuse_drop("boom", "outbox");
  /* r[0]'s lease is lost to "two"; r[1] is still "one"'s. */
  char *sql = xasprintf("UPDATE outbox SET lease_owner = 'two' WHERE id = %lld",
                        (long long)r[0]);
  th_sql_exec(sql);
  free(sql);
  ck_assert_uint_eq(batch("one", d, 2, T0 + 30, 2, ids, STORE_OK), 2);
  ck_assert_int_eq(d[0].recorded, STORE_NOT_FOUND);
  ck_assert_int_eq(d[1].recorded, STORE_OK);
  assert_col(r[0], "status", "sending");
  assert_col(r[1], "status", "failed");
  ck_assert_int_eq(ids[0], r[2]);
  ck_assert_int_eq(ids[1], r[3]);
}
END_TEST

/* A lease lost before the recording: the row is another sender's now and
 * keeps its state; the claim goes on. */
START_TEST(record_claim_with_a_lost_lease) {
  int64_t a = add(T0, T0 + 300000, TEXT, 13, 6);
  struct store_outbox_claim c;
  ck_assert_int_eq(claim("slow", T0, &c), STORE_OK);
  store_outbox_claim_free(&c);
  ck_assert_int_eq(claim("fast", T0 + LEASE, &c), STORE_OK);
  store_outbox_claim_free(&c);
  int64_t b = add(T0 + LEASE, T0 + 300000, TEXT, 13, 6);

  struct store_outbox_done d = {
      .id = a, .result = {.outcome = STORE_OUTBOX_FAILED, .error = "late"}};
  ck_assert_int_eq(store_outbox_record_claim(s, "slow", &d, T0 + LEASE + 1,
                                             LEASE, 5, &c),
                   STORE_OK);
  ck_assert_int_eq(d.recorded, STORE_NOT_FOUND);
  ck_assert_int_eq(c.id, b);
  assert_col(a, "status", "sending");
  assert_col(a, "lease_owner", "fast");
  assert_sealed(a, true);
  store_outbox_claim_free(&c);
}
END_TEST

/* The sender's claim closes nothing (close_due does, now and then) but
 * never takes a row that close_due would close. */
START_TEST(record_claim_passes_over_rows_to_close) {
  /* With one attempt allowed: a row whose lease ran out on it, a row whose
   * code expired, and a live one. */
  int64_t tired = add(T0, T0 + 300000, TEXT, 13, 6);
  struct store_outbox_claim c;
  ck_assert_int_eq(store_outbox_claim(s, "gone", T0, LEASE, 1, &c, NULL),
                   STORE_OK);
  store_outbox_claim_free(&c);
  int64_t dead = add(T0 + 1, T0 + 100, TEXT, 13, 6);
  int64_t live = add(T0 + 2, T0 + 300000, TEXT, 13, 6);
  int64_t now = T0 + LEASE + 10;

  ck_assert_int_eq(store_outbox_record_claim(s, "one", NULL, now, LEASE, 1, &c),
                   STORE_OK);
  ck_assert_int_eq(c.id, live);
  store_outbox_claim_free(&c);
  assert_col(tired, "status", "sending");
  assert_col(dead, "status", "queued");
  ck_assert_int_eq(store_outbox_record_claim(s, "one", NULL, now, LEASE, 1, &c),
                   STORE_NOT_FOUND);

  int64_t closed = 0;
  ck_assert_int_eq(store_outbox_close_due(s, now, 1, &closed), STORE_OK);
  ck_assert_int_eq(closed, 2);
  assert_col(tired, "status", "unknown");
  assert_col(dead, "status", "expired");
  assert_sealed(dead, false);
  assert_col(live, "status", "sending");
}
END_TEST

START_TEST(lease_expiry_hands_the_row_over) {
  int64_t a = add(T0, T0 + 300000, TEXT, 13, 6);
  struct store_outbox_claim c;
  ck_assert_int_eq(claim("dead", T0, &c), STORE_OK);
  store_outbox_claim_free(&c);
  ck_assert_int_eq(claim("live", T0 + LEASE - 1, &c), STORE_NOT_FOUND);
  ck_assert_int_eq(claim("live", T0 + LEASE, &c), STORE_OK);
  ck_assert_int_eq(c.id, a);
  ck_assert_int_eq(c.attempts, 2);
  store_outbox_claim_free(&c);
  /* The first owner comes back: its outcome no longer counts. */
  struct store_outbox_result r = {.outcome = STORE_OUTBOX_SENT};
  ck_assert_int_eq(store_outbox_record(s, a, "dead", &r, T0 + LEASE + 1),
                   STORE_NOT_FOUND);
  assert_col(a, "status", "sending");
  assert_col(a, "lease_owner", "live");
  ck_assert_int_eq(store_outbox_record(s, a, "live", &r, T0 + LEASE + 2),
                   STORE_OK);
  assert_col(a, "status", "sent");
  assert_sealed(a, false);
  ck_assert_int_eq(store_outbox_record(s, a, "live", &r, T0 + LEASE + 3),
                   STORE_NOT_FOUND);
}
END_TEST

START_TEST(every_final_state_drops_the_seal) {
  static const enum store_outbox_outcome finals[] = {
      STORE_OUTBOX_SENT, STORE_OUTBOX_FAILED, STORE_OUTBOX_UNKNOWN,
      STORE_OUTBOX_EXPIRED};
  static const char *const names[] = {"sent", "failed", "unknown", "expired"};
  for (int i = 0; i < 4; i++) {
    int64_t id = add(T0, T0 + 300000, TEXT, 13, 6);
    struct store_outbox_claim c;
    ck_assert_int_eq(claim("me", T0 + i, &c), STORE_OK);
    ck_assert_int_eq(c.id, id);
    struct store_outbox_result r = {
        .outcome = finals[i], .error = "why", .gateway_ref = "ref"};
    ck_assert_int_eq(store_outbox_record(s, id, "me", &r, T0 + 100), STORE_OK);
    store_outbox_claim_free(&c);
    assert_col(id, "status", names[i]);
    assert_sealed(id, false);
    assert_col(id, "gateway_ref", "ref");
    assert_col(id, "sent_at", i == 0 ? "1700000000100" : "(null)");
  }
}
END_TEST

START_TEST(claims_hand_over_the_sealed_code) {
  /* Cyrillic letters are two bytes each: the offset counts bytes. */
  const char text[] = "Код: ******** — никому";
  int64_t id = add(T0, T0 + 300000, text, strlen("Код: "), 8);
  struct store_outbox_claim c;
  ck_assert_int_eq(claim("me", T0, &c), STORE_OK);
  ck_assert_int_eq(c.sealed_len, sizeof SEALED - 1);
  ck_assert_mem_eq(c.sealed, SEALED, sizeof SEALED - 1);
  ck_assert_int_eq(c.key_id, 7);
  ck_assert_int_eq(c.code_offset, strlen("Код: "));
  struct store_outbox_result r = {.outcome = STORE_OUTBOX_SENT};
  ck_assert_int_eq(store_outbox_record(s, id, "me", &r, T0 + 1), STORE_OK);
  store_outbox_claim_free(&c);
  assert_sealed(id, false);
  assert_col(id, "text", text);
  /* The audit view agrees with the row. */
  char *view = th_sql_text("SELECT text FROM audit_outbox");
  ck_assert_str_eq(view, text);
  free(view);
}
END_TEST

START_TEST(expired_rows_are_closed_not_claimed) {
  int64_t a = add(T0, T0 + 1000, TEXT, 13, 6);
  int64_t b = add(T0, T0 + 9000, TEXT, 13, 6);
  struct store_outbox_claim c;
  int64_t closed = 0;
  ck_assert_int_eq(
      store_outbox_claim(s, "me", T0 + 1000, LEASE, 5, &c, &closed), STORE_OK);
  ck_assert_int_eq(closed, 1);
  ck_assert_int_eq(c.id, b);
  store_outbox_claim_free(&c);
  assert_col(a, "status", "expired");
  assert_sealed(a, false);
  assert_col(a, "attempts", "0");
  assert_col(a, "last_error", "the code expired before it could be sent");
  /* A leased row whose code expires meanwhile: expired once the lease
   * lapses, never handed out again. */
  ck_assert_int_eq(
      store_outbox_claim(s, "me", T0 + 10000, LEASE, 5, &c, &closed),
      STORE_NOT_FOUND);
  ck_assert_int_eq(closed, 1);
  assert_col(b, "status", "expired");
}
END_TEST

START_TEST(lapsed_lease_on_the_last_attempt_is_unknown) {
  int64_t a = add(T0, T0 + 300000, TEXT, 13, 6);
  struct store_outbox_claim c;
  int64_t closed = 0;
  ck_assert_int_eq(store_outbox_claim(s, "x", T0, LEASE, 2, &c, NULL),
                   STORE_OK);
  store_outbox_claim_free(&c);
  ck_assert_int_eq(store_outbox_claim(s, "y", T0 + LEASE, LEASE, 2, &c, NULL),
                   STORE_OK);
  store_outbox_claim_free(&c);
  ck_assert_int_eq(
      store_outbox_claim(s, "z", T0 + 2 * LEASE, LEASE, 2, &c, &closed),
      STORE_NOT_FOUND);
  ck_assert_int_eq(closed, 1);
  assert_col(a, "status", "unknown");
  assert_col(a, "attempts", "2");
  assert_sealed(a, false);
}
END_TEST

START_TEST(purge_keeps_live_rows) {
  int64_t day = 86400000;
  int64_t old_final = add(T0 - 100 * day, T0 - 100 * day + 1, TEXT, 13, 6);
  int64_t old_queued = add(T0 - 100 * day, T0 + 300000, TEXT, 13, 6);
  struct store_outbox_claim c;
  ck_assert_int_eq(claim("me", T0 - 100 * day, &c), STORE_OK);
  ck_assert_int_eq(c.id, old_final);
  struct store_outbox_result r = {.outcome = STORE_OUTBOX_FAILED};
  ck_assert_int_eq(store_outbox_record(s, c.id, "me", &r, T0 - 100 * day),
                   STORE_OK);
  store_outbox_claim_free(&c);
  struct store_purge p = {.outbox_before = T0 - 90 * day};
  struct store_purge_counts n;
  ck_assert_int_eq(store_purge(s, &p, &n), STORE_OK);
  ck_assert_int_eq(n.outbox, 1);
  ck_assert_int_eq(n.requests + n.otps + n.senders, 0);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM outbox"), 1);
  assert_col(old_queued, "status", "queued");
  /* Batches: more than one of them. */
  struct store_request rec = {.key_id = 1, .http_status = 200, .answer = "{}"};
  ck_assert_int_eq(store_begin_write(s), STORE_OK);
  for (int i = 0; i < 1234; i++) {
    char id[32];
    snprintf(id, sizeof id, "r%d", i);
    ck_assert_int_eq(store_request_put(s, "m", id, &rec, T0 - i), STORE_OK);
  }
  ck_assert_int_eq(store_commit(s), STORE_OK);
  struct store_purge p2 = {.requests_before = T0 - 9};
  ck_assert_int_eq(store_purge(s, &p2, &n), STORE_OK);
  ck_assert_int_eq(n.requests, 1234 - 10);
  ck_assert_int_eq(th_sql_int("SELECT count(*) FROM requests"), 10);
}
END_TEST

int main(void) {
  Suite *su = suite_create("outbox");
  TCase *tc = tcase_create("outbox");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, claims_oldest_first_and_never_twice);
  tcase_add_test(tc, not_due_until_next_attempt_at);
  tcase_add_test(tc, lease_expiry_hands_the_row_over);
  tcase_add_test(tc, record_and_claim_in_one_transaction);
  tcase_add_test(tc, record_claim_with_a_lost_lease);
  tcase_add_test(tc, batch_records_every_outcome_and_claims);
  tcase_add_test(tc, batch_is_one_transaction);
  tcase_add_test(tc, record_claim_passes_over_rows_to_close);
  tcase_add_test(tc, every_final_state_drops_the_seal);
  tcase_add_test(tc, claims_hand_over_the_sealed_code);
  tcase_add_test(tc, expired_rows_are_closed_not_claimed);
  tcase_add_test(tc, lapsed_lease_on_the_last_attempt_is_unknown);
  tcase_add_test(tc, purge_keeps_live_rows);
  suite_add_tcase(su, tc);
  return th_run_suite(su);
}
