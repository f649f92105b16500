/* test_token_clock.c -- cmocka tests of the fencing-token clock (module/token_clock.h), no Redis.
 *
 * Locks and idempotency records draw their tokens from this one clock: max(last + 1, now_us),
 * saturating at the largest signed 64-bit token. Runs on the shared counting allocator, like every
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
    token_clock_observe(&observed, TOKEN_MAX);
    assert_int_equal(token_clock_next(&observed, 1), 0);
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
    token_clock_observe(&clock, 5000000);
    uint64_t next = token_clock_next(&clock, 200);
    assert_true(next > 5000000);
    assert_true(token_clock_next(&clock, 200) > next);
}

static void observing_a_smaller_token_changes_nothing(void **state) {
    (void)state;
    token_clock clock = {0};
    assert_int_equal(token_clock_next(&clock, 5000), 5000);
    token_clock_observe(&clock, 10);
    token_clock_observe(&clock, 5000);
    assert_int_equal(token_clock_next(&clock, 0), 5001);
    token_clock fresh = {0};
    token_clock_observe(&fresh, 0);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
