/* test_idemp_setnx_and_begin.c -- the replies of IDEMP.SETNX and its interchangeability with
 * SET key 1 NX EX, and of IDEMP.BEGIN (new, in_progress, completed, mismatch; leases; binary
 * fingerprints), in README.md ("## Idempotency commands"), against a real redis-server with the
 * module loaded.
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

#define MAX_FINGERPRINT_LEN 1024
#define MAX_TTL_S "1000000000"
#define MAX_LEASE_MS "1000000000000"
#define EXPIRY_WAIT_LIMIT_MS 5000 /* how long a test waits for a short lease to end */
#define LONG_LEASE_MS 100000000LL /* about 28 hours: never ends during a test */

/* ---- IDEMP.SETNX ---------------------------------------------------------------------------- */

static void setnx_answers_one_the_first_time_and_zero_after(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 100"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 100"), 0);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 100 other"), 0);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:2 100"), 1);
}

static void setnx_stores_the_plain_string_one_by_default(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 100"), 1);
    char *value = sg_reply_text("GET", sg_command(sg_conn, "GET msg:1"));
    assert_string_equal(value, "1");
    free(value);
    sg_assert_type(sg_conn, "msg:1", "string");
}

static void setnx_stores_the_given_value_byte_for_byte(void **state)
{
    (void)state;
    static const char value[] = {'o', 'k', '\0', '\r', '\n', 'x'};
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 100 %b", value, sizeof(value)), 1);
    redisReply *r = sg_command(sg_conn, "GET msg:1");
    int same = sg_reply_is_bytes(r, value, sizeof(value));
    freeReplyObject(r);
    if (!same) fail_msg("GET msg:1 is not the 6 bytes given to IDEMP.SETNX");
    sg_assert_type(sg_conn, "msg:1", "string");
    /* a later call with another value changes nothing */
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 100 other"), 0);
    r = sg_command(sg_conn, "GET msg:1");
    same = sg_reply_is_bytes(r, value, sizeof(value));
    freeReplyObject(r);
    if (!same) fail_msg("GET msg:1 changed after a second IDEMP.SETNX");
}

static void setnx_expires_the_key_in_ttl_seconds(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 100"), 1);
    long long ttl = sg_command_integer(sg_conn, "TTL msg:1");
    long long left = sg_pttl(sg_conn, "msg:1");
    if (ttl < 99 || ttl > 100) fail_msg("TTL %lld after IDEMP.SETNX ... 100", ttl);
    if (left <= 99000 || left > 100000) fail_msg("PTTL %lld after IDEMP.SETNX ... 100", left);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:max " MAX_TTL_S), 1);
    ttl = sg_command_integer(sg_conn, "TTL msg:max");
    if (ttl < 999999999 || ttl > 1000000000) fail_msg("TTL %lld after IDEMP.SETNX ... " MAX_TTL_S, ttl);
}

static void setnx_with_ttl_one_is_gone_after_a_second_and_records_again(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 1"), 1);
    long long left = sg_pttl(sg_conn, "msg:1");
    if (left <= 0 || left > 1000) fail_msg("PTTL %lld after IDEMP.SETNX ... 1", left);
    int64_t deadline = sg_now_ms() + EXPIRY_WAIT_LIMIT_MS;
    while (sg_exists(sg_conn, "msg:1") == 1) {
        if (sg_now_ms() > deadline) fail_msg("msg:1 still exists %d ms after a ttl of 1 s", EXPIRY_WAIT_LIMIT_MS);
        sg_sleep_ms(50);
    }
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 1"), 1);
}

static void setnx_answers_zero_for_a_key_of_any_type_and_leaves_it_alone(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "SET k:string v");
    sg_command_integer(sg_conn, "RPUSH k:list a");
    sg_command_integer(sg_conn, "HSET k:hash f v");
    sg_command_integer(sg_conn, "SADD k:set m");
    sg_command_integer(sg_conn, "ZADD k:zset 1 m");
    redisReply *r = sg_command(sg_conn, "XADD k:stream * f v");
    freeReplyObject(r);
    raw_idemp_begin_new(sg_conn, "k:record", "fp", LONG_LEASE_MS);
    long long token = raw_idemp_begin_new(sg_conn, "k:done", "fp", 10000);
    assert_int_equal(raw_idemp_complete(sg_conn, "k:done", token, "resp", 1000), 1);
    const char *keys[] = {"k:string", "k:list", "k:hash", "k:set", "k:zset", "k:stream", "k:record", "k:done"};
    char *before = sg_debug_digest(sg_conn);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        long long got = sg_command_integer(sg_conn, "IDEMP.SETNX %s 100", keys[i]);
        if (got != 0) {
            free(before);
            fail_msg("IDEMP.SETNX %s (an existing key) answered %lld, expected 0", keys[i], got);
        }
        got = sg_command_integer(sg_conn, "IDEMP.SETNX %s 100 value", keys[i]);
        if (got != 0) {
            free(before);
            fail_msg("IDEMP.SETNX %s 100 value (an existing key) answered %lld, expected 0", keys[i], got);
        }
    }
    char *after = sg_debug_digest(sg_conn);
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("IDEMP.SETNX on existing keys changed the dataset");
    assert_int_equal(sg_command_integer(sg_conn, "TTL k:string"), -1);
}

static void a_key_made_by_set_nx_ex_is_seen_by_setnx(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "SET msg:1 1 NX EX 100");
    char *before = sg_value_digest(sg_conn, "msg:1");
    long long left = sg_pttl(sg_conn, "msg:1");
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 100"), 0);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 500 other"), 0);
    char *after = sg_value_digest(sg_conn, "msg:1");
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("IDEMP.SETNX changed a key made by SET NX EX");
    long long now = sg_pttl(sg_conn, "msg:1");
    if (now > left) fail_msg("IDEMP.SETNX lengthened the expiry of a key made by SET NX EX");
}

static void a_key_made_by_setnx_is_seen_by_set_nx_ex_and_looks_the_same(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX by:module 100"), 1);
    sg_command_status(sg_conn, "OK", "SET by:set 1 NX EX 100");
    sg_command_nil(sg_conn, "SET by:module 1 NX EX 100");
    sg_command_nil(sg_conn, "SET by:module 2 NX EX 500");

    char *module_value = sg_reply_text("GET", sg_command(sg_conn, "GET by:module"));
    char *set_value = sg_reply_text("GET", sg_command(sg_conn, "GET by:set"));
    char *module_type = sg_reply_text("TYPE", sg_command(sg_conn, "TYPE by:module"));
    char *set_type = sg_reply_text("TYPE", sg_command(sg_conn, "TYPE by:set"));
    long long module_ttl = sg_command_integer(sg_conn, "TTL by:module");
    long long set_ttl = sg_command_integer(sg_conn, "TTL by:set");
    char *module_digest = sg_value_digest(sg_conn, "by:module");
    char *set_digest = sg_value_digest(sg_conn, "by:set");
    char problem[300] = "";
    if (strcmp(module_value, set_value) != 0)
        snprintf(problem, sizeof(problem), "GET \"%s\" vs \"%s\"", module_value, set_value);
    else if (strcmp(module_type, set_type) != 0 || strcmp(module_type, "string") != 0)
        snprintf(problem, sizeof(problem), "TYPE %s vs %s", module_type, set_type);
    else if (module_ttl != set_ttl && module_ttl + 1 != set_ttl && module_ttl != set_ttl + 1)
        snprintf(problem, sizeof(problem), "TTL %lld vs %lld", module_ttl, set_ttl);
    else if (module_ttl < 99 || module_ttl > 100)
        snprintf(problem, sizeof(problem), "TTL %lld, expected 99..100", module_ttl);
    else if (strcmp(module_digest, set_digest) != 0)
        snprintf(problem, sizeof(problem), "DEBUG DIGEST-VALUE %s vs %s", module_digest, set_digest);
    free(module_value);
    free(set_value);
    free(module_type);
    free(set_type);
    free(module_digest);
    free(set_digest);
    if (problem[0] != '\0') fail_msg("IDEMP.SETNX key differs from the SET 1 NX EX key: %s", problem);
}

/* README: a numeric value is kept as a string object (OBJECT ENCODING embstr, where SET would say
 * int) until the next reload; after one, the key is encoded exactly as the SET NX EX key. */
static void a_key_made_by_setnx_takes_the_set_nx_ex_encoding_after_a_reload(void **state)
{
    (void)state;
    const char *values[] = {"1", "12345", "hello"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        sg_command_status(sg_conn, "OK", "FLUSHALL");
        assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX by:module 100 %s", values[i]), 1);
        sg_command_status(sg_conn, "OK", "SET by:set %s NX EX 100", values[i]);
        sg_command_status(sg_conn, "OK", "DEBUG RELOAD");
        char *module_encoding = sg_reply_text("OBJECT ENCODING", sg_command(sg_conn, "OBJECT ENCODING by:module"));
        char *set_encoding = sg_reply_text("OBJECT ENCODING", sg_command(sg_conn, "OBJECT ENCODING by:set"));
        char problem[200] = "";
        if (strcmp(module_encoding, set_encoding) != 0)
            snprintf(problem, sizeof(problem), "value \"%s\": OBJECT ENCODING %s after IDEMP.SETNX, %s after SET NX EX",
                     values[i], module_encoding, set_encoding);
        free(module_encoding);
        free(set_encoding);
        if (problem[0] != '\0') fail_msg("%s", problem);
    }
}

/* ---- IDEMP.BEGIN ---------------------------------------------------------------------------- */

static void begin_on_a_free_key_answers_new_with_a_token_and_the_lease_as_expiry(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    assert_true(token >= 1);
    sg_assert_type(sg_conn, "req:1", "sg-idemp0");
    long long left = sg_pttl(sg_conn, "req:1");
    if (left <= 4000 || left > 5000) fail_msg("PTTL %lld after IDEMP.BEGIN with a lease of 5000 ms", left);
    raw_idemp_assert_record(sg_conn, "req:1", "in_progress", "fp", 2, token, 4000, 5000, NULL, 0);
}

static void begin_accepts_the_smallest_and_largest_lease(void **state)
{
    (void)state;
    raw_idemp_begin_new(sg_conn, "req:max", "fp", 1000000000000LL);
    long long left = sg_pttl(sg_conn, "req:max");
    if (left <= 999999000000LL || left > 1000000000000LL) fail_msg("PTTL %lld after a lease of " MAX_LEASE_MS, left);
    raw_idemp_begin_new(sg_conn, "req:min", "fp", 1);
}

static void begin_on_a_request_in_progress_answers_in_progress_with_the_remaining_lease(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    long long left = raw_idemp_begin_in_progress(sg_conn, "req:1", "fp", 5000);
    if (left <= 4000 || left > 5000) fail_msg("in_progress with %lld ms left of a 5000 ms lease", left);
    /* another lease asked for does not change the owner's */
    left = raw_idemp_begin_in_progress(sg_conn, "req:1", "fp", 60000);
    if (left <= 4000 || left > 5000) fail_msg("in_progress with %lld ms left; a retry changed the lease", left);
    sg_sleep_ms(200);
    long long later = raw_idemp_begin_in_progress(sg_conn, "req:1", "fp", 5000);
    if (later >= left || later <= 0) fail_msg("in_progress with %lld ms left 200 ms after %lld", later, left);
    raw_idemp_assert_record(sg_conn, "req:1", "in_progress", "fp", 2, token, 1, 5000, NULL, 0);
}

static void begin_on_a_completed_request_answers_completed_with_the_response(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "{\"status\":201}", 60), 1);
    raw_idemp_begin_completed(sg_conn, "req:1", "fp", "{\"status\":201}");
    raw_idemp_begin_completed(sg_conn, "req:1", "fp", "{\"status\":201}"); /* replays as often as asked */
}

static void begin_with_another_fingerprint_answers_mismatch_with_the_state(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fpA", 5000);
    raw_idemp_begin_mismatch(sg_conn, "req:1", "fpB", "in_progress");
    raw_idemp_begin_mismatch(sg_conn, "req:1", "fpA-longer", "in_progress");
    raw_idemp_assert_record(sg_conn, "req:1", "in_progress", "fpA", 3, token, 1, 5000, NULL, 0);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "resp", 60), 1);
    raw_idemp_begin_mismatch(sg_conn, "req:1", "fpB", "completed");
    raw_idemp_begin_mismatch(sg_conn, "req:1", "fp", "completed");
    raw_idemp_begin_completed(sg_conn, "req:1", "fpA", "resp");
}

static void when_a_lease_ends_the_next_begin_gets_new_with_a_larger_token(void **state)
{
    (void)state;
    long long first = raw_idemp_begin_new(sg_conn, "req:1", "fp", 100);
    /* bounded poll with BEGIN itself: in_progress until the lease ends, then new */
    int64_t deadline = sg_now_ms() + EXPIRY_WAIT_LIMIT_MS;
    long long second = 0;
    while (second == 0) {
        if (sg_now_ms() > deadline) fail_msg("still in progress %d ms after a 100 ms lease", EXPIRY_WAIT_LIMIT_MS);
        redisReply *r = raw_idemp_begin_raw(sg_conn, "req:1", "fp", 2, 5000);
        if (sg_reply_is_text(r->element[0], "new")) {
            second = r->element[1]->integer;
        } else if (sg_reply_is_text(r->element[0], "in_progress")) {
            long long left = r->element[1]->integer;
            if (left < 0 || left > 100) raw_idemp_fail_begin("req:1", "[in_progress, 0..100 ms]", r);
        } else {
            raw_idemp_fail_begin("req:1", "[in_progress, ...] or [new, ...]", r);
        }
        freeReplyObject(r);
        if (second == 0) sg_sleep_ms(10);
    }
    if (second <= first) fail_msg("token %lld after the lease of token %lld ended", second, first);
    raw_idemp_assert_record(sg_conn, "req:1", "in_progress", "fp", 2, second, 4000, 5000, NULL, 0);
}

static void a_lease_ends_without_any_client_touching_the_key(void **state)
{
    (void)state;
    raw_idemp_begin_new(sg_conn, "req:1", "fp", 100);
    /* DBSIZE does not touch the key: only Redis's active expiry can remove it */
    int64_t deadline = sg_now_ms() + EXPIRY_WAIT_LIMIT_MS;
    while (sg_command_integer(sg_conn, "DBSIZE") != 0) {
        if (sg_now_ms() > deadline) fail_msg("the record is still there %d ms after its lease", EXPIRY_WAIT_LIMIT_MS);
        sg_sleep_ms(50);
    }
}

static void begin_accepts_binary_fingerprints_of_up_to_1024_bytes(void **state)
{
    (void)state;
    static const char fp[] = {'a', '\0', 'b', '\r', '\n', '\0'};
    long long token = raw_idemp_begin_new_bin(sg_conn, "req:bin", fp, sizeof(fp), 5000);
    /* a fingerprint that differs after the NUL byte is another request */
    static const char other[] = {'a', '\0', 'c', '\r', '\n', '\0'};
    redisReply *r = raw_idemp_begin_raw(sg_conn, "req:bin", other, sizeof(other), 5000);
    if (!sg_reply_is_text(r->element[0], "mismatch")) raw_idemp_fail_begin("req:bin", "[mismatch, in_progress]", r);
    freeReplyObject(r);
    r = raw_idemp_begin_raw(sg_conn, "req:bin", fp, 1, 5000); /* the prefix before the NUL byte */
    if (!sg_reply_is_text(r->element[0], "mismatch")) raw_idemp_fail_begin("req:bin", "[mismatch, in_progress]", r);
    freeReplyObject(r);
    raw_idemp_assert_record(sg_conn, "req:bin", "in_progress", fp, sizeof(fp), token, 1, 5000, NULL, 0);

    char big[MAX_FINGERPRINT_LEN];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = (char)(i * 7);
    long long big_token = raw_idemp_begin_new_bin(sg_conn, "req:big", big, sizeof(big), 5000);
    raw_idemp_assert_record(sg_conn, "req:big", "in_progress", big, sizeof(big), big_token, 1, 5000, NULL, 0);
    assert_int_equal(raw_idemp_complete(sg_conn, "req:big", big_token, "r", 60), 1);
    raw_idemp_begin_completed_bin(sg_conn, "req:big", big, sizeof(big), "r", 1);
}

#define IDEMP_TEST(name) cmocka_unit_test_setup(name, sg_group_flush)

int main(void)
{
    const struct CMUnitTest tests[] = {
        IDEMP_TEST(setnx_answers_one_the_first_time_and_zero_after),
        IDEMP_TEST(setnx_stores_the_plain_string_one_by_default),
        IDEMP_TEST(setnx_stores_the_given_value_byte_for_byte),
        IDEMP_TEST(setnx_expires_the_key_in_ttl_seconds),
        IDEMP_TEST(setnx_with_ttl_one_is_gone_after_a_second_and_records_again),
        IDEMP_TEST(setnx_answers_zero_for_a_key_of_any_type_and_leaves_it_alone),
        IDEMP_TEST(a_key_made_by_set_nx_ex_is_seen_by_setnx),
        IDEMP_TEST(a_key_made_by_setnx_is_seen_by_set_nx_ex_and_looks_the_same),
        IDEMP_TEST(a_key_made_by_setnx_takes_the_set_nx_ex_encoding_after_a_reload),
        IDEMP_TEST(begin_on_a_free_key_answers_new_with_a_token_and_the_lease_as_expiry),
        IDEMP_TEST(begin_accepts_the_smallest_and_largest_lease),
        IDEMP_TEST(begin_on_a_request_in_progress_answers_in_progress_with_the_remaining_lease),
        IDEMP_TEST(begin_on_a_completed_request_answers_completed_with_the_response),
        IDEMP_TEST(begin_with_another_fingerprint_answers_mismatch_with_the_state),
        IDEMP_TEST(when_a_lease_ends_the_next_begin_gets_new_with_a_larger_token),
        IDEMP_TEST(a_lease_ends_without_any_client_touching_the_key),
        IDEMP_TEST(begin_accepts_binary_fingerprints_of_up_to_1024_bytes),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
