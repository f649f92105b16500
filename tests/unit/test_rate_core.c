/* test_rate_core.c -- cmocka tests of the rate-limit core (module/rate.c) on a fake clock, no Redis:
 * GCRA decisions against a reference model (a bucket of credit refilled one ns per ns), redis-cell's
 * reply numbers for a table of cases, bursts, a steady rate, quantities, peeks, long idle, a clock
 * that goes back (never more units than the rate allows), and fixed windows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rate.h"

#define S_NS 1000000000LL
#define MS_NS 1000000LL
#define T0 (1700000000LL * S_NS) /* a Unix time, in ns */

static rate_gcra gcra_of(int64_t max_burst, int64_t count, int64_t period_s) {
    rate_gcra g;
    assert_int_equal(rate_gcra_init(&g, max_burst, count, period_s * S_NS), 0);
    return g;
}

/* One call, the state kept as RATE.THROTTLE keeps it: the TAT when stored, nothing otherwise. */
static rate_throttle_result call(const rate_gcra *g, int64_t *tat, int64_t now, int64_t quantity) {
    rate_throttle_result r;
    assert_int_equal(rate_throttle(g, *tat, now, quantity, &r), 0);
    if (r.store) *tat = r.new_tat;
    if (r.limited || quantity == 0) assert_int_equal(r.store, 0);
    return r;
}

/* The reply RATE.THROTTLE sends, in seconds. */
static void assert_reply(const rate_throttle_result *r, int64_t limited, int64_t remaining,
                         int64_t retry_after, int64_t reset_after) {
    assert_int_equal(r->limited, limited);
    assert_int_equal(r->remaining, remaining);
    assert_int_equal(r->retry_after < 0 ? -1 : rate_round_up(r->retry_after, S_NS), retry_after);
    assert_int_equal(rate_round_up(r->reset_after, S_NS), reset_after);
}

/* ---- redis-cell's numbers --------------------------------------------------------------------- */
static void the_first_call_answers_as_redis_cells_readme_shows(void **state) {
    (void)state;
    rate_gcra g = gcra_of(15, 30, 60); /* CL.THROTTLE user123 15 30 60 1 */
    int64_t tat = 0;
    rate_throttle_result r = call(&g, &tat, T0, 1);
    assert_int_equal(g.limit, 16);
    assert_reply(&r, 0, 15, -1, 2);
    assert_true(tat == T0 + 2 * S_NS);
}

static void a_burst_is_allowed_up_to_the_limit_then_refused_with_the_wait(void **state) {
    (void)state;
    rate_gcra g = gcra_of(15, 30, 60); /* one unit every 2 s, 16 at once */
    int64_t tat = 0;
    for (int i = 0; i < 16; i++) {
        rate_throttle_result r = call(&g, &tat, T0, 1);
        assert_reply(&r, 0, 15 - i, -1, 2 * (i + 1));
    }
    rate_throttle_result r = call(&g, &tat, T0, 1);
    assert_reply(&r, 1, 0, 2, 32); /* the next unit in 2 s, the bucket full again in 32 s */
    /* 2 s later exactly one more is allowed. */
    r = call(&g, &tat, T0 + 2 * S_NS, 1);
    assert_reply(&r, 0, 0, -1, 32);
    r = call(&g, &tat, T0 + 2 * S_NS, 1);
    assert_int_equal(r.limited, 1);
}

/* A table of (parameters, calls at times, expected replies) checked against redis-cell's rules. */
typedef struct cell_case {
    int64_t max_burst, count, period_s;
    int64_t at_ms, quantity;
    int64_t limited, remaining, retry_after, reset_after;
} cell_case;

/* Play rows in order on one bucket made from the first row's parameters. */
static void play(const cell_case *rows, size_t n) {
    rate_gcra g = gcra_of(rows[0].max_burst, rows[0].count, rows[0].period_s);
    int64_t tat = 0;
    for (size_t i = 0; i < n; i++) {
        const cell_case *c = &rows[i];
        rate_throttle_result r = call(&g, &tat, T0 + c->at_ms * MS_NS, c->quantity);
        int64_t retry = r.retry_after < 0 ? -1 : rate_round_up(r.retry_after, S_NS);
        int64_t reset = rate_round_up(r.reset_after, S_NS);
        if (r.limited != c->limited || r.remaining != c->remaining || retry != c->retry_after ||
            reset != c->reset_after)
            fail_msg("row %zu: got %d %lld %lld %lld, want %lld %lld %lld %lld", i, r.limited,
                     (long long)r.remaining, (long long)retry, (long long)reset, (long long)c->limited,
                     (long long)c->remaining, (long long)c->retry_after, (long long)c->reset_after);
    }
}

/* The sequence redis-cell's own limiter is tested with (limit 5, one per second), its durations
 * rounded up to whole seconds as CL.THROTTLE replies them. */
static void redis_cells_own_sequence_gets_its_replies(void **state) {
    (void)state;
    static const cell_case rows[] = {
        {4, 1, 1, 0, 1, 0, 4, -1, 1},    {4, 1, 1, 0, 1, 0, 3, -1, 2},    {4, 1, 1, 0, 1, 0, 2, -1, 3},
        {4, 1, 1, 0, 1, 0, 1, -1, 4},    {4, 1, 1, 0, 1, 0, 0, -1, 5},    {4, 1, 1, 0, 1, 1, 0, 1, 5},
        {4, 1, 1, 3000, 1, 0, 2, -1, 3}, {4, 1, 1, 3100, 1, 0, 1, -1, 4}, {4, 1, 1, 4000, 1, 0, 1, -1, 4},
        {4, 1, 1, 8000, 1, 0, 4, -1, 1}, {4, 1, 1, 9500, 1, 0, 4, -1, 1}, {4, 1, 1, 9500, 0, 0, 4, -1, 1},
        {4, 1, 1, 9500, 2, 0, 2, -1, 3}, {4, 1, 1, 9500, 5, 1, 2, 3, 3},
    };
    play(rows, sizeof(rows) / sizeof(rows[0]));
}

static void a_table_of_cases_gets_redis_cells_replies(void **state) {
    (void)state;
    /* Calls in order on one bucket; times in ms after T0. */
    static const cell_case rows[] = {
        /* 5 per 10 s, burst 4 (limit 5), one unit every 2 s */
        {4, 5, 10, 0, 1, 0, 4, -1, 2},
        {4, 5, 10, 0, 3, 0, 1, -1, 8},
        {4, 5, 10, 0, 1, 0, 0, -1, 10},
        {4, 5, 10, 0, 1, 1, 0, 2, 10},     /* full: retry in 2 s */
        {4, 5, 10, 500, 1, 1, 0, 2, 10},   /* 1.5 s to go reads 2; reset 9.5 s reads 10 */
        {4, 5, 10, 2000, 0, 0, 1, -1, 8},  /* a peek two seconds later: 1 unit back */
        {4, 5, 10, 2000, 2, 1, 1, 2, 8},   /* 2 units ask for 2 s more */
        {4, 5, 10, 4000, 2, 0, 0, -1, 10}, /* now they fit */
        {4, 5, 10, 60000, 5, 0, 0, -1, 10},/* after a long idle the whole burst at once */
        {4, 5, 10, 60000, 1, 1, 0, 2, 10},
    };
    play(rows, sizeof(rows) / sizeof(rows[0]));
}

/* ---- against a reference model ------------------------------------------------------------- */
/* A bucket of credit, in ns: it holds at most the tolerance, refills one ns per ns of clock going
 * forward, and a call of q units costs q intervals. The same rule told another way. */
typedef struct credit_model {
    int64_t credit, last;
} credit_model;

static int model_call(credit_model *m, const rate_gcra *g, int64_t now, int64_t quantity) {
    if (now > m->last) {
        int64_t refill = now - m->last;
        m->credit = m->credit > g->tolerance - refill ? g->tolerance : m->credit + refill;
        m->last = now;
    } else {
        m->credit -= m->last - now; /* the clock went back: the debt is measured from now */
        m->last = now;
    }
    int64_t cost = g->emission_interval * quantity;
    if (m->credit < cost) return 0;
    m->credit -= cost;
    return 1;
}

static uint64_t next_random(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void random_calls_match_the_credit_model(void **state) {
    (void)state;
    uint64_t seed = 0x5eedULL;
    for (int round = 0; round < 200; round++) {
        int64_t max_burst = (int64_t)(next_random(&seed) % 20), count = 1 + (int64_t)(next_random(&seed) % 50);
        int64_t period = 1 + (int64_t)(next_random(&seed) % 60);
        rate_gcra g = gcra_of(max_burst, count, period);
        int64_t tat = 0, now = T0;
        credit_model m = {g.tolerance, T0};
        for (int i = 0; i < 300; i++) {
            now += (int64_t)(next_random(&seed) % (uint64_t)(3 * g.emission_interval / 2 + 1));
            int64_t quantity = (int64_t)(next_random(&seed) % (uint64_t)(g.limit + 1));
            rate_throttle_result r = call(&g, &tat, now, quantity);
            int expected = model_call(&m, &g, now, quantity);
            if (quantity == 0) {
                assert_int_equal(r.limited, 0);
                continue;
            }
            if (r.limited == expected) fail_msg("round %d call %d: gcra %s, model %s", round, i,
                                                r.limited ? "refused" : "allowed", expected ? "allowed" : "refused");
        }
    }
}

/* Found by the libFuzzer harness (tests/fuzz/crashes/rate-remaining-*.bin). */
static void remaining_is_exact_and_never_above_the_limit(void **state) {
    (void)state;
    /* 666,666 per second: an interval of 1.5 us, which redis-cell's whole-microsecond division
     * read as 1 us (13 of 10 left after one unit). */
    rate_gcra g = gcra_of(9, 666666, 1);
    int64_t tat = 0;
    rate_throttle_result r = call(&g, &tat, T0, 1);
    assert_int_equal(r.limited, 0);
    assert_int_equal(r.remaining, 9);
    r = call(&g, &tat, T0, 0);
    assert_int_equal(r.remaining, 9);
    r = call(&g, &tat, T0 + S_NS, 0); /* a second later the bucket is full: 10, not more */
    assert_int_equal(r.remaining, 10);
    /* A call that can never fit, on a state whose TAT lies far in the past: a full bucket. */
    rate_gcra small = gcra_of(1, 1, 1);
    rate_throttle_result never;
    assert_int_equal(rate_throttle(&small, 1, T0, 3, &never), 0);
    assert_int_equal(never.limited, 1);
    assert_int_equal(never.remaining, 2);
    assert_true(never.reset_after >= 0);
}

static void a_steady_rate_is_always_allowed(void **state) {
    (void)state;
    rate_gcra g = gcra_of(0, 10, 1); /* no burst: one unit every 100 ms */
    int64_t tat = 0;
    for (int i = 0; i < 1000; i++) {
        rate_throttle_result r = call(&g, &tat, T0 + i * 100 * MS_NS, 1);
        assert_int_equal(r.limited, 0);
    }
    rate_throttle_result r = call(&g, &tat, T0 + 999 * 100 * MS_NS + 1, 1); /* 1 ns too early */
    assert_int_equal(r.limited, 1);
}

static void a_quantity_as_large_as_the_limit_needs_a_full_bucket(void **state) {
    (void)state;
    rate_gcra g = gcra_of(9, 10, 10); /* limit 10, one every second */
    int64_t tat = 0;
    rate_throttle_result r = call(&g, &tat, T0, 10);
    assert_int_equal(r.limited, 0);
    assert_int_equal(r.remaining, 0);
    r = call(&g, &tat, T0 + 9 * S_NS, 10);
    assert_int_equal(r.limited, 1);
    assert_int_equal(rate_round_up(r.retry_after, S_NS), 1);
    r = call(&g, &tat, T0 + 10 * S_NS, 10);
    assert_int_equal(r.limited, 0);
    /* More than the bucket holds can never be allowed: no retry time. */
    r = call(&g, &tat, T0 + 1000 * S_NS, 11);
    assert_int_equal(r.limited, 1);
    assert_true(r.retry_after < 0);
}

static void a_peek_changes_nothing_and_tells_what_is_left(void **state) {
    (void)state;
    rate_gcra g = gcra_of(4, 5, 10);
    int64_t tat = 0;
    rate_throttle_result r = call(&g, &tat, T0, 0);
    assert_int_equal(r.store, 0);
    assert_int_equal(r.remaining, 5);
    assert_true(tat == 0);
    call(&g, &tat, T0, 2);
    int64_t kept = tat;
    r = call(&g, &tat, T0 + 1, 0);
    assert_int_equal(r.remaining, 3);
    assert_true(tat == kept);
}

static void after_a_long_idle_the_bucket_is_full_and_not_more(void **state) {
    (void)state;
    rate_gcra g = gcra_of(2, 1, 1);
    int64_t tat = 0;
    for (int i = 0; i < 3; i++) assert_int_equal(call(&g, &tat, T0, 1).limited, 0);
    int64_t later = T0 + 86400LL * 365 * S_NS;
    for (int i = 0; i < 3; i++) assert_int_equal(call(&g, &tat, later, 1).limited, 0);
    assert_int_equal(call(&g, &tat, later, 1).limited, 1);
}

static void a_clock_going_back_never_hands_out_more_than_the_rate(void **state) {
    (void)state;
    uint64_t seed = 0xbacc;
    rate_gcra g = gcra_of(3, 10, 1); /* limit 4, one every 100 ms */
    int64_t tat = 0, now = T0, highest = T0, allowed = 0;
    for (int i = 0; i < 20000; i++) {
        /* Mostly forward, sometimes back by up to a second (an NTP step, a VM resumed). */
        if (next_random(&seed) % 10 == 0) now -= (int64_t)(next_random(&seed) % (uint64_t)S_NS);
        else now += (int64_t)(next_random(&seed) % (uint64_t)(60 * MS_NS));
        if (now > highest) highest = now;
        rate_throttle_result r = call(&g, &tat, now, 1);
        allowed += !r.limited;
        /* Never more than the burst plus what the clock's furthest point allows. */
        int64_t most = g.limit + (highest - T0) / g.emission_interval;
        if (allowed > most) fail_msg("call %d: %lld allowed, the rate allows %lld", i, (long long)allowed,
                                     (long long)most);
    }
    assert_true(allowed > 0);
}

/* ---- parameters and rounding ------------------------------------------------------------------ */
static void rates_that_cannot_be_kept_are_refused(void **state) {
    (void)state;
    rate_gcra g;
    assert_int_equal(rate_gcra_init(&g, 1, 0, S_NS), -1);            /* count 0 */
    assert_int_equal(rate_gcra_init(&g, 1, 5, 0), -1);               /* period 0 */
    assert_int_equal(rate_gcra_init(&g, -1, 5, S_NS), -1);           /* negative burst */
    assert_int_equal(rate_gcra_init(&g, 1, 2 * S_NS, S_NS), -1);     /* below 1 ns per unit */
    assert_int_equal(rate_gcra_init(&g, INT64_MAX - 1, 1, S_NS), -1); /* the bucket overflows */
    assert_int_equal(rate_gcra_init(&g, 8, 1, 1000000000 * S_NS), -1); /* 9 x 31.7 years: too large */
    assert_int_equal(rate_gcra_init(&g, 0, 1, 1000000000 * S_NS), 0);  /* exactly the largest bucket */
    /* The largest bucket, full to the brim and asked for everything, still computes. */
    rate_throttle_result big;
    assert_int_equal(rate_throttle(&g, T0 + RATE_MAX_TOLERANCE_NS, T0, 1, &big), 0);
    assert_int_equal(big.limited, 1);
    assert_int_equal(rate_gcra_init(&g, 0, 1, S_NS), 0);
    assert_int_equal(g.limit, 1);
    rate_throttle_result r;
    assert_int_equal(rate_throttle(&g, 0, T0, INT64_MAX, &r), -1);    /* quantity overflows */
    assert_int_equal(rate_throttle(&g, INT64_MAX - 10, T0, 1, &r), -1);
}

static void replies_are_rounded_up_as_redis_cell_rounds_them(void **state) {
    (void)state;
    assert_int_equal(rate_round_up(0, S_NS), 0);
    assert_int_equal(rate_round_up(999999, S_NS), 0); /* under a millisecond: not rounded up */
    assert_int_equal(rate_round_up(MS_NS, S_NS), 1);
    assert_int_equal(rate_round_up(S_NS, S_NS), 1);
    assert_int_equal(rate_round_up(2 * S_NS + MS_NS, S_NS), 3);
    assert_int_equal(rate_round_up(-S_NS, S_NS), -1);
    assert_int_equal(rate_round_up(-S_NS / 2, S_NS), 0);
    assert_int_equal(rate_round_up(1500, MS_NS), 1);    /* milliseconds: rounded at microseconds */
    assert_int_equal(rate_round_up(999, MS_NS), 0);
}

/* ---- fixed windows ---------------------------------------------------------------------------- */
static void a_window_allows_its_quota_says_when_it_is_used_up_and_counts_nothing_over_it(void **state) {
    (void)state;
    int64_t counted;
    assert_int_equal(rate_window(3, 0, 1, &counted), RATE_WINDOW_ALLOWED);
    assert_int_equal(counted, 1);
    assert_int_equal(rate_window(3, 1, 1, &counted), RATE_WINDOW_ALLOWED);
    assert_int_equal(rate_window(3, 2, 1, &counted), RATE_WINDOW_LAST);
    assert_int_equal(counted, 3);
    assert_int_equal(rate_window(3, 3, 1, &counted), RATE_WINDOW_OVER);
    assert_int_equal(counted, 3);
    assert_int_equal(rate_window(1, 0, 1, &counted), RATE_WINDOW_LAST);
    assert_int_equal(rate_window(INT64_MAX, INT64_MAX - 1, 1, &counted), RATE_WINDOW_LAST);
    assert_int_equal(rate_window(INT64_MAX, INT64_MAX, 1, &counted), RATE_WINDOW_OVER);
}

static void windows_end_a_period_later_or_on_the_clocks_whole_periods(void **state) {
    (void)state;
    int64_t now = T0 + 1234 * MS_NS;
    assert_true(rate_window_end(now, 60 * S_NS, 0) == now + 60 * S_NS);
    int64_t aligned = rate_window_end(now, 60 * S_NS, 1);
    assert_true(aligned % (60 * S_NS) == 0);
    assert_true(aligned > now && aligned - now <= 60 * S_NS);
    assert_true(rate_window_end(INT64_MAX - 5, 60 * S_NS, 0) == -1);
}

static void only_non_negative_decimal_integers_are_a_state(void **state) {
    (void)state;
    int64_t v = -1;
    assert_int_equal(rate_parse_state("0", 1, &v), 0);
    assert_true(v == 0);
    assert_int_equal(rate_parse_state("9223372036854775807", 19, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(rate_parse_state("1796169421522000000", 19, &v), 0);
    assert_true(v == 1796169421522000000LL);
    assert_int_equal(rate_parse_state("9223372036854775808", 19, &v), -1);
    assert_int_equal(rate_parse_state("10000000000000000000", 20, &v), -1);
    assert_int_equal(rate_parse_state("", 0, &v), -1);
    assert_int_equal(rate_parse_state("-5", 2, &v), -1);
    assert_int_equal(rate_parse_state("+5", 2, &v), -1);
    assert_int_equal(rate_parse_state(" 5", 2, &v), -1);
    assert_int_equal(rate_parse_state("5x", 2, &v), -1);
    assert_int_equal(rate_parse_state("1\0", 2, &v), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_first_call_answers_as_redis_cells_readme_shows),
        cmocka_unit_test(a_burst_is_allowed_up_to_the_limit_then_refused_with_the_wait),
        cmocka_unit_test(a_table_of_cases_gets_redis_cells_replies),
        cmocka_unit_test(redis_cells_own_sequence_gets_its_replies),
        cmocka_unit_test(random_calls_match_the_credit_model),
        cmocka_unit_test(a_steady_rate_is_always_allowed),
        cmocka_unit_test(a_quantity_as_large_as_the_limit_needs_a_full_bucket),
        cmocka_unit_test(a_peek_changes_nothing_and_tells_what_is_left),
        cmocka_unit_test(after_a_long_idle_the_bucket_is_full_and_not_more),
        cmocka_unit_test(a_clock_going_back_never_hands_out_more_than_the_rate),
        cmocka_unit_test(rates_that_cannot_be_kept_are_refused),
        cmocka_unit_test(replies_are_rounded_up_as_redis_cell_rounds_them),
        cmocka_unit_test(a_window_allows_its_quota_says_when_it_is_used_up_and_counts_nothing_over_it),
        cmocka_unit_test(windows_end_a_period_later_or_on_the_clocks_whole_periods),
        cmocka_unit_test(only_non_negative_decimal_integers_are_a_state),
        cmocka_unit_test(remaining_is_exact_and_never_above_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
