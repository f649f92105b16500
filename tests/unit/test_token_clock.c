/* test_token_clock.c -- cmocka tests of the fencing-token clock (module/token_clock.h), no Redis.
 *
 * Locks and idempotency records draw their tokens from this one clock: max(last + 1, now_us),
 * saturating at the largest signed 64-bit token; tokens from outside move it at most
 * TOKEN_MAX_AHEAD_US ahead of now_us. Runs on the shared counting allocator, like every
 * unit binary: the clock allocates nothing, and each test fails if something did. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "counting_allocator.h"
#include "token_clock.h"

static void tokens_follow_the_clock_when_it_moves_forward(void **state) {
    (void)state;
    token_clock clock = {0};
    assert_int_equal(token_clock_next(&clock, 1000), 1000);
    assert_int_equal(token_clock_next(&clock, 5000), 5000);
    assert_int_equal(token_clock_next(&clock, 5002), 5002);
}

static void tokens_strictly_increase_when_the_clock_jumps_back(void **state) {
    (void)state;
    token_clock clock = {0};
    uint64_t first = token_clock_next(&clock, 1000000);
    uint64_t second = token_clock_next(&clock, 10);
    uint64_t third = token_clock_next(&clock, 0);
    assert_int_equal(first, 1000000);
    assert_true(second > first);
    assert_true(third > second);
    assert_true(token_clock_next(&clock, 999999) > third);
}

static void tokens_strictly_increase_when_the_clock_stands_still(void **state) {
    (void)state;
    token_clock clock = {0};
    uint64_t last = token_clock_next(&clock, 777);
    for (int i = 0; i < 100000; i++) {
        uint64_t next = token_clock_next(&clock, 777);
        assert_true(next > last);
        last = next;
    }
    assert_int_equal(last, 777 + 100000);
    /* Once real time passes the issued tokens, tokens follow it again. */
    assert_int_equal(token_clock_next(&clock, 1000000), 1000000);
}

static void the_clock_saturates_at_the_largest_token_and_then_refuses(void **state) {
    (void)state;
    token_clock clock = {TOKEN_MAX - 2};
    assert_true(token_clock_next(&clock, 5) == TOKEN_MAX - 1);
    assert_true(token_clock_next(&clock, 5) == TOKEN_MAX);
    assert_int_equal(token_clock_next(&clock, 5), 0);
    assert_int_equal(token_clock_next(&clock, UINT64_MAX), 0);
    assert_true(clock.last == TOKEN_MAX); /* never beyond what a reply can carry */
}

static void a_clock_beyond_the_largest_token_is_never_issued(void **state) {
    (void)state;
    token_clock clock = {0};
    assert_true(token_clock_next(&clock, UINT64_MAX) == TOKEN_MAX); /* a wild clock is capped */
    assert_int_equal(token_clock_next(&clock, 1), 0);
    token_clock observed = {0};
    assert_int_equal(token_clock_observe(&observed, TOKEN_MAX, UINT64_MAX), 0); /* a wild clock allows it */
    assert_int_equal(token_clock_next(&observed, 1), 0);
}

#define NOW 1764000000000000ULL /* a Unix time in microseconds (2025) */

static void a_token_at_the_bound_is_acceptable_and_one_beyond_is_not(void **state) {
    (void)state;
    assert_true(token_clock_acceptable(NOW + TOKEN_MAX_AHEAD_US, NOW));
    assert_false(token_clock_acceptable(NOW + TOKEN_MAX_AHEAD_US + 1, NOW));
    assert_true(token_clock_acceptable(1, NOW));
    assert_false(token_clock_acceptable(TOKEN_MAX, NOW));
    assert_false(token_clock_acceptable(UINT64_MAX, 0));
    assert_true(token_clock_acceptable(TOKEN_MAX_AHEAD_US, 0));
    /* A clock within the bound of the largest token accepts every token up to it. */
    assert_true(token_clock_acceptable(TOKEN_MAX, TOKEN_MAX - TOKEN_MAX_AHEAD_US));
    assert_true(token_clock_acceptable(TOKEN_MAX, UINT64_MAX));
}

static void observing_a_token_beyond_the_bound_stops_the_clock_at_the_bound(void **state) {
    (void)state;
    token_clock clock = {0};
    assert_int_equal(token_clock_observe(&clock, TOKEN_MAX, NOW), 1);
    assert_true(clock.last == NOW + TOKEN_MAX_AHEAD_US);
    assert_true(token_clock_next(&clock, NOW) == NOW + TOKEN_MAX_AHEAD_US + 1);
    /* However often it is tried, the clock never passes the bound of the time it is tried at. */
    for (int i = 0; i < 1000; i++) assert_int_equal(token_clock_observe(&clock, TOKEN_MAX, NOW), 1);
    assert_true(clock.last == NOW + TOKEN_MAX_AHEAD_US + 1);
    assert_int_equal(token_clock_observe(&clock, NOW + TOKEN_MAX_AHEAD_US, NOW), 0);
    assert_true(clock.last == NOW + TOKEN_MAX_AHEAD_US + 1);
}

static void the_bound_cannot_bring_the_clock_to_exhaustion(void **state) {
    (void)state;
    /* A year of hostile grants, one a millisecond, each at the bound of its own time. */
    token_clock clock = {0};
    uint64_t now = NOW;
    for (int i = 0; i < 100000; i++, now += 1000) {
        token_clock_observe(&clock, TOKEN_MAX, now);
        uint64_t next = token_clock_next(&clock, now);
        assert_true(next != 0);
        assert_true(next <= now + TOKEN_MAX_AHEAD_US + 2);
    }
}

static void tokens_start_above_zero_even_at_time_zero(void **state) {
    (void)state;
    token_clock clock = {0};
    assert_true(token_clock_next(&clock, 0) >= 1);
}

static void tokens_stay_above_an_observed_larger_token(void **state) {
    (void)state;
    token_clock clock = {0};
    assert_int_equal(token_clock_next(&clock, 100), 100);
    assert_int_equal(token_clock_observe(&clock, 5000000, 200), 0);
    uint64_t next = token_clock_next(&clock, 200);
    assert_true(next > 5000000);
    assert_true(token_clock_next(&clock, 200) > next);
}

static void observing_a_smaller_token_changes_nothing(void **state) {
    (void)state;
    token_clock clock = {0};
    assert_int_equal(token_clock_next(&clock, 5000), 5000);
    token_clock_observe(&clock, 10, 0);
    token_clock_observe(&clock, 5000, 0);
    assert_int_equal(token_clock_next(&clock, 0), 5001);
    token_clock fresh = {0};
    token_clock_observe(&fresh, 0, 0);
    assert_int_equal(token_clock_next(&fresh, 3), 3);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void) {
    core_set_allocator(&counting_allocator);
    const struct CMUnitTest tests[] = {
        TEST(tokens_follow_the_clock_when_it_moves_forward),
        TEST(tokens_strictly_increase_when_the_clock_jumps_back),
        TEST(tokens_strictly_increase_when_the_clock_stands_still),
        TEST(tokens_start_above_zero_even_at_time_zero),
        TEST(tokens_stay_above_an_observed_larger_token),
        TEST(the_clock_saturates_at_the_largest_token_and_then_refuses),
        TEST(a_clock_beyond_the_largest_token_is_never_issued),
        TEST(observing_a_smaller_token_changes_nothing),
        TEST(a_token_at_the_bound_is_acceptable_and_one_beyond_is_not),
        TEST(observing_a_token_beyond_the_bound_stops_the_clock_at_the_bound),
        TEST(the_bound_cannot_bring_the_clock_to_exhaustion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
