/* test_decimal.c -- cmocka tests of sg_format_decimal (module/decimal.h): the same text as
 * snprintf("%llu") for the edges of every digit count and for a sweep of pseudo-random values.
 * Runs on the shared counting allocator, like every unit binary: formatting allocates nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "counting_allocator.h"
#include "decimal.h"

static void assert_formats_like_snprintf(uint64_t value)
{
    char expected[32], got[SG_DECIMAL_SIZE + 8];
    int n = snprintf(expected, sizeof(expected), "%llu", (unsigned long long)value);
    memset(got, 'x', sizeof(got));
    size_t len = sg_format_decimal(got, value);
    assert_int_equal(len, (size_t)n);
    assert_string_equal(got, expected);
    for (size_t i = SG_DECIMAL_SIZE; i < sizeof(got); i++) assert_int_equal(got[i], 'x'); /* no overrun */
}

static void test_zero_is_one_digit(void **state)
{
    (void)state;
    assert_formats_like_snprintf(0);
}

static void test_every_power_of_ten_and_its_neighbours(void **state)
{
    (void)state;
    uint64_t p = 1;
    for (int digits = 1; digits <= 20; digits++) {
        assert_formats_like_snprintf(p - 1);
        assert_formats_like_snprintf(p);
        assert_formats_like_snprintf(p + 1);
        if (digits < 20) p *= 10;
    }
}

static void test_the_largest_value_fills_all_twenty_digits(void **state)
{
    (void)state;
    char out[SG_DECIMAL_SIZE];
    assert_int_equal(sg_format_decimal(out, UINT64_MAX), 20);
    assert_string_equal(out, "18446744073709551615");
}

static void test_pseudo_random_values_of_every_magnitude(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        assert_formats_like_snprintf(x >> (i % 64));
    }
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void)
{
    core_set_allocator(&counting_allocator);
    const struct CMUnitTest tests[] = {
        TEST(test_zero_is_one_digit),
        TEST(test_every_power_of_ten_and_its_neighbours),
        TEST(test_the_largest_value_fills_all_twenty_digits),
        TEST(test_pseudo_random_values_of_every_magnitude),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
