/* test_idemp_complete_abort_get_record.c -- the replies of IDEMP.COMPLETE, IDEMP.ABORT, IDEMP.GET
 * and IDEMP.RECORD in README.md ("## Idempotency commands"): owners and stale tokens, retries,
 * binary and empty responses, the fields of a record, exact records, and tokens, against a real
 * redis-server with the module loaded.
 *
 * One server for the whole group; every test starts from an empty dataset (FLUSHALL in the per-test
 * setup). One behaviour per test function. Waits for a lease to end are bounded polls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raw_commands.h"

#define MAX_TTL_S "1000000000"
#define EXPIRY_WAIT_LIMIT_MS 5000 /* how long a test waits for a short lease to end */

/* ---- IDEMP.COMPLETE ------------------------------------------------------------------------- */

static void complete_by_the_owner_answers_one_and_stores_the_response(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "done", 60), 1);
    raw_idemp_assert_record(sg_conn, "req:1", "completed", "fp", 2, token, 59000, 60000, "done", 4);
}

static void a_completed_record_lives_for_the_ttl_given(void **state)
{
    (void)state;
    /* a ttl longer than the lease */
    long long token = raw_idemp_begin_new(sg_conn, "req:long", "fp", 1000);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:long", token, "r", 3600), 1);
    long long ttl = sg_command_integer(sg_conn, "TTL req:long");
    if (ttl < 3599 || ttl > 3600) fail_msg("TTL %lld of a record completed with ttl 3600", ttl);
    long long left = sg_pttl(sg_conn, "req:long");
    if (left <= 3599000 || left > 3600000) fail_msg("PTTL %lld of a record completed with ttl 3600", left);
    /* a ttl shorter than the lease */
    token = raw_idemp_begin_new(sg_conn, "req:short", "fp", 600000);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:short", token, "r", 10), 1);
    left = sg_pttl(sg_conn, "req:short");
    if (left <= 9000 || left > 10000) fail_msg("PTTL %lld of a record completed with ttl 10", left);
    /* the largest ttl */
    token = raw_idemp_begin_new(sg_conn, "req:max", "fp", 1000);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:max", token, "r", 1000000000), 1);
    ttl = sg_command_integer(sg_conn, "TTL req:max");
    if (ttl < 999999999 || ttl > 1000000000) fail_msg("TTL %lld of a record completed with ttl " MAX_TTL_S, ttl);
}

static void a_completed_record_is_gone_when_its_ttl_ends_and_begin_is_new_again(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "r", 1), 1);
    sg_wait_until_gone(sg_conn, "req:1", EXPIRY_WAIT_LIMIT_MS);
    long long next = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    if (next <= token) fail_msg("token %lld after the completed record of token %lld ended", next, token);
}

static void complete_retried_with_the_same_token_answers_two_and_changes_nothing(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "first", 60), 1);
    char *before = sg_value_digest(sg_conn, "req:1");
    long long left = sg_pttl(sg_conn, "req:1");
    sg_sleep_ms(20);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "first", 60), 2);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "second", 3600), 2);
    char *after = sg_value_digest(sg_conn, "req:1");
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("a retried IDEMP.COMPLETE changed the record");
    long long now = sg_pttl(sg_conn, "req:1");
    if (now > left) fail_msg("a retried IDEMP.COMPLETE lengthened the expiry (%lld -> %lld)", left, now);
    raw_idemp_assert_record(sg_conn, "req:1", "completed", "fp", 2, token, 1, 60000, "first", 5);
}

static void complete_with_a_wrong_token_answers_zero_and_stores_nothing(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    char *before = sg_value_digest(sg_conn, "req:1");
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token + 1, "intruder", 60), 0);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token - 1, "intruder", 60), 0);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", 1, "intruder", 60), 0);
    char *after = sg_value_digest(sg_conn, "req:1");
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("IDEMP.COMPLETE with a wrong token changed the record");
    raw_idemp_assert_record(sg_conn, "req:1", "in_progress", "fp", 2, token, 1, 5000, NULL, 0);
    /* and on a completed record */
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "mine", 60), 1);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token + 1, "intruder", 60), 0);
    raw_idemp_assert_record(sg_conn, "req:1", "completed", "fp", 2, token, 1, 60000, "mine", 4);
}

static void complete_on_a_key_without_record_answers_zero_and_creates_nothing(void **state)
{
    (void)state;
    assert_int_equal(raw_idemp_complete(sg_conn, "req:none", 12345, "r", 60), 0);
    assert_int_equal(sg_exists(sg_conn, "req:none"), 0);
}

static void complete_after_the_lease_ended_answers_zero_and_stores_nothing(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 100);
    sg_sleep_ms(150);
    /* no client touched the key: COMPLETE itself must see that the lease ended */
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "late", 60), 0);
    assert_int_equal(sg_exists(sg_conn, "req:1"), 0);
    sg_command_nil(sg_conn, "IDEMP.GET req:1");
    raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
}

static void complete_after_another_caller_began_again_answers_zero(void **state)
{
    (void)state;
    long long first = raw_idemp_begin_new(sg_conn, "req:1", "fp", 100);
    sg_wait_until_gone(sg_conn, "req:1", EXPIRY_WAIT_LIMIT_MS);
    long long second = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    assert_true(second > first);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", first, "stale", 60), 0);
    raw_idemp_assert_record(sg_conn, "req:1", "in_progress", "fp", 2, second, 1, 5000, NULL, 0);
    assert_int_equal(raw_idemp_abort(sg_conn, "req:1", first), 0);
    raw_idemp_assert_record(sg_conn, "req:1", "in_progress", "fp", 2, second, 1, 5000, NULL, 0);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", second, "fresh", 60), 1);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", first, "stale", 60), 0);
    raw_idemp_assert_record(sg_conn, "req:1", "completed", "fp", 2, second, 1, 60000, "fresh", 5);
}

static void responses_are_binary_safe(void **state)
{
    (void)state;
    static const char fp[] = {'f', '\0', '\r', '\n'};
    static const char response[] = {'\0', 'H', 'T', 'T', 'P', '\r', '\n', '\r', '\n', '\0', 'b', 'o', 'd', 'y', '\0'};
    long long token = raw_idemp_begin_new_bin(sg_conn, "req:bin", fp, sizeof(fp), 5000);
    assert_int_equal(raw_idemp_complete_bin(sg_conn, "req:bin", token, response, sizeof(response), 60), 1);
    raw_idemp_begin_completed_bin(sg_conn, "req:bin", fp, sizeof(fp), response, sizeof(response));
    raw_idemp_assert_record(sg_conn, "req:bin", "completed", fp, sizeof(fp), token, 1, 60000, response,
                           sizeof(response));

    size_t big_len = 1 << 20;
    char *big = malloc(big_len);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++) big[i] = (char)(i * 31 + 7);
    token = raw_idemp_begin_new(sg_conn, "req:big", "fp", 5000);
    assert_int_equal(raw_idemp_complete_bin(sg_conn, "req:big", token, big, big_len, 60), 1);
    redisReply *r = raw_idemp_begin_raw(sg_conn, "req:big", "fp", 2, 5000);
    int same = sg_reply_is_text(r->element[0], "completed") && sg_reply_is_bytes(r->element[1], big, big_len);
    freeReplyObject(r);
    free(big);
    if (!same) fail_msg("a 1 MiB response did not come back byte for byte");
}

static void an_empty_response_is_stored_and_replayed_as_an_empty_string(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    assert_int_equal(raw_idemp_complete_bin(sg_conn, "req:1", token, "", 0, 60), 1);
    raw_idemp_begin_completed_bin(sg_conn, "req:1", "fp", 2, "", 0);
    raw_idemp_assert_record(sg_conn, "req:1", "completed", "fp", 2, token, 1, 60000, "", 0);
    assert_int_equal(raw_idemp_complete_bin(sg_conn, "req:1", token, "", 0, 60), 2);
}

/* ---- IDEMP.ABORT ---------------------------------------------------------------------------- */

static void abort_by_the_owner_answers_one_and_the_next_begin_is_new(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    assert_int_equal(raw_idemp_abort(sg_conn, "req:1", token), 1);
    assert_int_equal(sg_exists(sg_conn, "req:1"), 0);
    assert_int_equal(raw_idemp_abort(sg_conn, "req:1", token), 0);
    long long next = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    if (next <= token) fail_msg("token %lld after an abort of token %lld", next, token);
    /* the aborted token cannot complete the new processing */
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "stale", 60), 0);
    /* after an abort the key may be reused with another fingerprint */
    assert_int_equal(raw_idemp_abort(sg_conn, "req:1", next), 1);
    raw_idemp_begin_new(sg_conn, "req:1", "other", 5000);
}

static void abort_with_a_wrong_token_answers_zero_and_keeps_the_record(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    assert_int_equal(raw_idemp_abort(sg_conn, "req:1", token + 1), 0);
    assert_int_equal(raw_idemp_abort(sg_conn, "req:1", 1), 0);
    raw_idemp_assert_record(sg_conn, "req:1", "in_progress", "fp", 2, token, 1, 5000, NULL, 0);
    raw_idemp_begin_in_progress(sg_conn, "req:1", "fp", 5000);
}

static void abort_of_a_completed_request_answers_zero_and_keeps_the_response(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "kept", 60), 1);
    assert_int_equal(raw_idemp_abort(sg_conn, "req:1", token), 0);
    raw_idemp_begin_completed(sg_conn, "req:1", "fp", "kept");
}

static void abort_of_a_key_without_record_answers_zero(void **state)
{
    (void)state;
    assert_int_equal(raw_idemp_abort(sg_conn, "req:none", 12345), 0);
    assert_int_equal(sg_exists(sg_conn, "req:none"), 0);
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 100);
    sg_wait_until_gone(sg_conn, "req:1", EXPIRY_WAIT_LIMIT_MS);
    assert_int_equal(raw_idemp_abort(sg_conn, "req:1", token), 0);
}

/* ---- IDEMP.GET ------------------------------------------------------------------------------ */

static void get_reports_every_field_of_a_request_in_progress(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fingerprint-1", 5000);
    raw_idemp_record v = raw_idemp_get(sg_conn, "req:1");
    char problem[200] = "";
    if (!v.present) snprintf(problem, sizeof(problem), "nil");
    else if (strcmp(v.state, "in_progress") != 0) snprintf(problem, sizeof(problem), "state %s", v.state);
    else if (v.fingerprint_len != 13 || memcmp(v.fingerprint, "fingerprint-1", 13) != 0)
        snprintf(problem, sizeof(problem), "fingerprint %s", v.fingerprint);
    else if (v.token != token) snprintf(problem, sizeof(problem), "token %lld, BEGIN gave %lld", v.token, token);
    else if (v.ttl <= 4000 || v.ttl > 5000) snprintf(problem, sizeof(problem), "ttl %lld of a 5000 ms lease", v.ttl);
    else if (v.has_response) snprintf(problem, sizeof(problem), "response not nil while in progress");
    raw_idemp_record_free(&v);
    if (problem[0] != '\0') fail_msg("IDEMP.GET req:1: %s", problem);
}

static void get_reports_every_field_of_a_completed_request(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fingerprint-1", 5000);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "the response", 120), 1);
    raw_idemp_assert_record(sg_conn, "req:1", "completed", "fingerprint-1", 13, token, 119000, 120000, "the response",
                           12);
}

static void get_returns_nil_for_a_key_without_record(void **state)
{
    (void)state;
    sg_command_nil(sg_conn, "IDEMP.GET req:none");
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    assert_int_equal(raw_idemp_abort(sg_conn, "req:1", token), 1);
    sg_command_nil(sg_conn, "IDEMP.GET req:1");
}

static void get_changes_nothing(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    char *before = sg_debug_digest(sg_conn);
    raw_idemp_record v = raw_idemp_get(sg_conn, "req:1");
    raw_idemp_record_free(&v);
    char *after = sg_debug_digest(sg_conn);
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("IDEMP.GET changed the dataset");
    raw_idemp_assert_record(sg_conn, "req:1", "in_progress", "fp", 2, token, 1, 5000, NULL, 0);
}

/* ---- IDEMP.RECORD --------------------------------------------------------------------------- */

static void record_sets_an_exact_request_in_progress(void **state)
{
    (void)state;
    long long deadline = sg_unix_us() / 1000 + 60000;
    sg_command_status(sg_conn, "OK", "IDEMP.RECORD req:1 IN_PROGRESS fp 4242 %lld", deadline);
    sg_assert_type(sg_conn, "req:1", "sg-idemp0");
    raw_idemp_assert_record(sg_conn, "req:1", "in_progress", "fp", 2, 4242, 58000, 60000, NULL, 0);
    long long left = raw_idemp_begin_in_progress(sg_conn, "req:1", "fp", 5000);
    if (left <= 58000 || left > 60000) fail_msg("in_progress with %lld ms left of a 60 s deadline", left);
    raw_idemp_begin_mismatch(sg_conn, "req:1", "other", "in_progress");
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", 4242, "by the recorded token", 60), 1);
    raw_idemp_begin_completed(sg_conn, "req:1", "fp", "by the recorded token");
}

static void record_sets_an_exact_completed_request_with_a_binary_response(void **state)
{
    (void)state;
    static const char fp[] = {'f', '\0', 'p'};
    static const char response[] = {'r', '\r', '\n', '\0'};
    long long deadline = sg_unix_us() / 1000 + 60000;
    redisReply *r = sg_command(sg_conn, "IDEMP.RECORD req:1 COMPLETED %b 777 %lld %b", fp, sizeof(fp), deadline,
                               response, sizeof(response));
    int ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    freeReplyObject(r);
    if (!ok) fail_msg("IDEMP.RECORD ... COMPLETED answered %s", got);
    raw_idemp_assert_record(sg_conn, "req:1", "completed", fp, sizeof(fp), 777, 58000, 60000, response,
                           sizeof(response));
    raw_idemp_begin_completed_bin(sg_conn, "req:1", fp, sizeof(fp), response, sizeof(response));
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", 777, "again", 60), 2);
    /* an empty response */
    sg_command_status(sg_conn, "OK", "IDEMP.RECORD req:2 COMPLETED fp 778 %lld %b", deadline, "", (size_t)0);
    raw_idemp_assert_record(sg_conn, "req:2", "completed", "fp", 2, 778, 58000, 60000, "", 0);
}

static void record_replaces_an_existing_record(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "old", 5000);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "old response", 60), 1);
    long long deadline = sg_unix_us() / 1000 + 30000;
    sg_command_status(sg_conn, "OK", "IDEMP.RECORD req:1 IN_PROGRESS new %lld %lld", token + 5, deadline);
    raw_idemp_assert_record(sg_conn, "req:1", "in_progress", "new", 3, token + 5, 28000, 30000, NULL, 0);
}

static void tokens_after_a_record_are_larger_than_its_token(void **state)
{
    (void)state;
    long long ahead = sg_unix_us() + 3600000000LL; /* an hour ahead of the clock, in microseconds */
    sg_command_status(sg_conn, "OK", "IDEMP.RECORD req:ahead IN_PROGRESS fp %lld %lld", ahead,
                      sg_unix_us() / 1000 + 60000);
    assert_int_equal(sg_command_integer(sg_conn, "DEL req:ahead"), 1);
    long long next = raw_idemp_begin_new(sg_conn, "req:other", "fp", 5000);
    if (next <= ahead) fail_msg("token %lld after IDEMP.RECORD of token %lld", next, ahead);
}

static void tokens_increase_across_begins_on_different_keys(void **state)
{
    (void)state;
    long long last = 0;
    char key[32];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "req:%d", i % 5);
        long long token = raw_idemp_begin_new(sg_conn, key, "fp", 5000);
        if (token <= last) fail_msg("token %lld after %lld", token, last);
        last = token;
        assert_int_equal(raw_idemp_abort(sg_conn, key, token), 1);
    }
}

#define IDEMP_TEST(name) cmocka_unit_test_setup(name, sg_group_flush)

int main(void)
{
    const struct CMUnitTest tests[] = {
        IDEMP_TEST(complete_by_the_owner_answers_one_and_stores_the_response),
        IDEMP_TEST(a_completed_record_lives_for_the_ttl_given),
        IDEMP_TEST(a_completed_record_is_gone_when_its_ttl_ends_and_begin_is_new_again),
        IDEMP_TEST(complete_retried_with_the_same_token_answers_two_and_changes_nothing),
        IDEMP_TEST(complete_with_a_wrong_token_answers_zero_and_stores_nothing),
        IDEMP_TEST(complete_on_a_key_without_record_answers_zero_and_creates_nothing),
        IDEMP_TEST(complete_after_the_lease_ended_answers_zero_and_stores_nothing),
        IDEMP_TEST(complete_after_another_caller_began_again_answers_zero),
        IDEMP_TEST(responses_are_binary_safe),
        IDEMP_TEST(an_empty_response_is_stored_and_replayed_as_an_empty_string),
        IDEMP_TEST(abort_by_the_owner_answers_one_and_the_next_begin_is_new),
        IDEMP_TEST(abort_with_a_wrong_token_answers_zero_and_keeps_the_record),
        IDEMP_TEST(abort_of_a_completed_request_answers_zero_and_keeps_the_response),
        IDEMP_TEST(abort_of_a_key_without_record_answers_zero),
        IDEMP_TEST(get_reports_every_field_of_a_request_in_progress),
        IDEMP_TEST(get_reports_every_field_of_a_completed_request),
        IDEMP_TEST(get_returns_nil_for_a_key_without_record),
        IDEMP_TEST(get_changes_nothing),
        IDEMP_TEST(record_sets_an_exact_request_in_progress),
        IDEMP_TEST(record_sets_an_exact_completed_request_with_a_binary_response),
        IDEMP_TEST(record_replaces_an_existing_record),
        IDEMP_TEST(tokens_after_a_record_are_larger_than_its_token),
        IDEMP_TEST(tokens_increase_across_begins_on_different_keys),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
