/* test_sharded_core.c -- cmocka tests of the sharded-counter core (module/sharded.c), no Redis:
 * integer values read as DECR reads them, the uniform choice among shards with stock, taking
 * several units across shards, splitting a total, sums that overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sharded.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void integers_are_read_as_redis_reads_them(void **state) {
    (void)state;
    const struct {
        const char *text;
        int64_t value;
    } good[] = {{"0", 0}, {"1", 1}, {"-1", -1}, {"42", 42}, {"1000000", 1000000},
                {"9223372036854775807", INT64_MAX}, {"-9223372036854775808", INT64_MIN}};
    for (size_t i = 0; i < COUNT(good); i++) {
        int64_t v = 7;
        assert_int_equal(sharded_parse_value(good[i].text, strlen(good[i].text), &v), 0);
        assert_true(v == good[i].value);
    }
}

static void anything_else_is_not_an_integer(void **state) {
    (void)state;
    const char *bad[] = {"", "-", "01", "-0", "+1", " 1", "1 ", "1.5", "1e3", "abc", "0x10", "--1",
                         "9223372036854775808", "-9223372036854775809", "99999999999999999999", "92233720368547758079",
                         "-92233720368547758079", "18446744073709551616",
                         "000000000000000000001"};
    for (size_t i = 0; i < COUNT(bad); i++) {
        int64_t v = 7;
        assert_int_equal(sharded_parse_value(bad[i], strlen(bad[i]), &v), -1);
        assert_true(v == 7);
    }
    int64_t v = 7;
    assert_int_equal(sharded_parse_value("1\0", 2, &v), -1); /* binary: a NUL is not a digit */
    assert_int_equal(sharded_parse_value("12", 1, &v), 0);   /* only `len` bytes count */
    assert_true(v == 1);
}

static void nothing_is_picked_when_no_shard_has_stock(void **state) {
    (void)state;
    const int64_t empty[] = {0, 0, -3, 0};
    for (uint64_t r = 0; r < 100; r++) assert_int_equal(sharded_pick(empty, COUNT(empty), r), -1);
    assert_int_equal(sharded_pick(empty, 0, 5), -1);
}

static void only_shards_with_stock_are_picked(void **state) {
    (void)state;
    const int64_t values[] = {0, 5, -1, 0, 1, 0};
    sharded_rng rng = {12345};
    int seen[6] = {0};
    for (int i = 0; i < 10000; i++) {
        long k = sharded_pick(values, COUNT(values), sharded_rng_next(&rng));
        assert_true(k == 1 || k == 4);
        seen[k]++;
    }
    assert_true(seen[1] > 0 && seen[4] > 0);
}

static void the_pick_is_uniform_among_shards_with_stock_whatever_their_stock(void **state) {
    (void)state;
    const int64_t values[] = {1, 0, 1000000, 3, 0, 7, 2};
    sharded_rng rng = {0xfeedULL};
    const int draws = 100000;
    int seen[COUNT(values)] = {0};
    for (int i = 0; i < draws; i++) seen[sharded_pick(values, COUNT(values), sharded_rng_next(&rng))]++;
    /* Five shards with stock: 20,000 each expected; 3% is over 7 standard deviations. */
    for (size_t i = 0; i < COUNT(values); i++) {
        if (values[i] <= 0) {
            assert_int_equal(seen[i], 0);
            continue;
        }
        assert_true(seen[i] > draws / 5 * 97 / 100 && seen[i] < draws / 5 * 103 / 100);
    }
}

static void a_take_starts_at_the_picked_shard_and_wraps_around(void **state) {
    (void)state;
    const int64_t values[] = {2, 0, 3, 1};
    int64_t taken[4];
    /* random 0: the first shard with stock (index 0). */
    assert_true(sharded_take(values, 4, 4, 0, taken) == 4);
    assert_true(taken[0] == 2 && taken[1] == 0 && taken[2] == 2 && taken[3] == 0);
    /* random 2: the third shard with stock (index 3), then wrapping to 0 and 2. */
    assert_true(sharded_take(values, 4, 5, 2, taken) == 5);
    assert_true(taken[3] == 1 && taken[0] == 2 && taken[2] == 2 && taken[1] == 0);
}

static void a_take_never_takes_more_than_there_is(void **state) {
    (void)state;
    const int64_t values[] = {2, -4, 3, 0};
    int64_t taken[4];
    assert_true(sharded_take(values, 4, 100, 1, taken) == 5);
    for (int i = 0; i < 4; i++) assert_true(taken[i] == (values[i] > 0 ? values[i] : 0));
    const int64_t none[] = {0, 0};
    assert_true(sharded_take(none, 2, 3, 9, taken) == 0);
    assert_true(taken[0] == 0 && taken[1] == 0);
    assert_true(sharded_take(values, 4, 0, 1, taken) == 0);
}

static void random_takes_keep_every_shard_at_or_above_zero_and_count_exactly(void **state) {
    (void)state;
    sharded_rng rng = {77};
    for (int round = 0; round < 2000; round++) {
        int64_t values[8], taken[8], before = 0;
        size_t n = 1 + sharded_rng_next(&rng) % 8;
        for (size_t i = 0; i < n; i++) {
            values[i] = (int64_t)(sharded_rng_next(&rng) % 5) - 1;
            before += values[i] > 0 ? values[i] : 0;
        }
        int64_t count = 1 + (int64_t)(sharded_rng_next(&rng) % 12);
        int64_t got = sharded_take(values, n, count, sharded_rng_next(&rng), taken);
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            assert_true(taken[i] >= 0);
            assert_true(values[i] - taken[i] >= (values[i] < 0 ? values[i] : 0));
            sum += taken[i];
        }
        assert_true(sum == got);
        assert_true(got == (count < before ? count : before));
    }
}

static void a_total_is_split_as_evenly_as_possible(void **state) {
    (void)state;
    const int64_t totals[] = {0, 1, 7, 10, 99, 100, 1000001, INT64_MAX};
    const size_t shards[] = {1, 2, 3, 4, 10, 12};
    for (size_t t = 0; t < COUNT(totals); t++) {
        for (size_t s = 0; s < COUNT(shards); s++) {
            int64_t sum = 0, lowest = INT64_MAX, highest = 0;
            for (size_t i = 0; i < shards[s]; i++) {
                int64_t share = sharded_share(totals[t], shards[s], i);
                assert_true(share >= 0);
                if (i > 0) assert_true(share <= sharded_share(totals[t], shards[s], i - 1)); /* extras first */
                assert_int_equal(sharded_add(sum, share, &sum), 0);
                if (share < lowest) lowest = share;
                if (share > highest) highest = share;
            }
            assert_true(sum == totals[t]);
            assert_true(highest - lowest <= 1);
        }
    }
    assert_true(sharded_share(10, 4, 0) == 3 && sharded_share(10, 4, 1) == 3 && sharded_share(10, 4, 2) == 2);
}

static void additions_refuse_to_overflow(void **state) {
    (void)state;
    int64_t sum = 5;
    assert_int_equal(sharded_add(INT64_MAX - 1, 1, &sum), 0);
    assert_true(sum == INT64_MAX);
    sum = 5;
    assert_int_equal(sharded_add(INT64_MAX, 1, &sum), -1);
    assert_true(sum == 5);
    assert_int_equal(sharded_add(INT64_MIN, -1, &sum), -1);
    assert_true(sum == 5);
    assert_int_equal(sharded_add(INT64_MAX, INT64_MIN, &sum), 0);
    assert_true(sum == -1);
    assert_int_equal(sharded_add(0, 0, &sum), 0);
    assert_true(sum == 0);
}

static void the_rng_replays_from_its_seed(void **state) {
    (void)state;
    sharded_rng a = {99}, b = {99}, c = {100};
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = sharded_rng_next(&a);
        assert_true(x == sharded_rng_next(&b));
        differ += x != sharded_rng_next(&c);
    }
    assert_true(differ > 90);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers_are_read_as_redis_reads_them),
        cmocka_unit_test(anything_else_is_not_an_integer),
        cmocka_unit_test(nothing_is_picked_when_no_shard_has_stock),
        cmocka_unit_test(only_shards_with_stock_are_picked),
        cmocka_unit_test(the_pick_is_uniform_among_shards_with_stock_whatever_their_stock),
        cmocka_unit_test(a_take_starts_at_the_picked_shard_and_wraps_around),
        cmocka_unit_test(a_take_never_takes_more_than_there_is),
        cmocka_unit_test(random_takes_keep_every_shard_at_or_above_zero_and_count_exactly),
        cmocka_unit_test(a_total_is_split_as_evenly_as_possible),
        cmocka_unit_test(additions_refuse_to_overflow),
        cmocka_unit_test(the_rng_replays_from_its_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
