/* test_sharded_commands.c -- the replies and effects of SHARDED.DECR, SHARDED.TAKE, SHARDED.INIT
 * and SHARDED.SUM over plain integer string keys, as the contract states: which key DECR
 * picks (only keys above 0, uniformly, whatever their stock), the floor at 0, negative and missing
 * keys, argument positions in the reply (duplicates, binary names), TTLs kept, TAKE's amounts and
 * wrap-around, INIT's even split and its refusal when a key exists, SUM's arithmetic and errors.
 *
 * One server for the whole group; every test starts from an empty dataset (FLUSHALL in the per-test
 * setup). One behaviour per test function. Statistical checks use bounds far beyond 5 sigma, so a
 * correct module fails them with a probability below 1e-6; every load loop is bounded. */
#include "sharded_checks.h"

#define INT64_MAX_TEXT "9223372036854775807"

/* ---- SHARDED.DECR: which key --------------------------------------------------------------------- */

static void decr_always_picks_the_only_key_above_zero_until_it_is_zero_then_answers_nil(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 0);
    sh_set(sg_conn, "b", 5);
    sh_set(sg_conn, "c", 0);
    for (long long expected = 4; expected >= 0; expected--) {
        long long index = -1, value = -1;
        assert_int_equal(sh_decr(sg_conn, &index, &value, "a b c"), 1);
        assert_int_equal(index, 1);
        assert_int_equal(value, expected);
        assert_int_equal(sh_get(sg_conn, "b"), expected);
    }
    long long index, value;
    assert_int_equal(sh_decr(sg_conn, &index, &value, "a b c"), 0);
    assert_int_equal(sh_get(sg_conn, "a"), 0);
    assert_int_equal(sh_get(sg_conn, "b"), 0);
    assert_int_equal(sh_get(sg_conn, "c"), 0);
}

static void decr_never_goes_below_zero_and_answers_exactly_the_stock_it_had(void **state)
{
    (void)state;
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 100 s0 s1 s2 s3"), 1);
    long long values[4] = {25, 25, 25, 25};
    long picks[4] = {0};
    /* 150 calls one at a time: the first 100 take a unit, every later one answers nil */
    for (int call = 0; call < 150; call++) {
        long nils = sh_decr_load(sg_conn, "s0 s1 s2 s3", 4, 1, picks, values);
        if (call < 100 && nils != 0) fail_msg("call %d answered nil with %d units left", call, 100 - call);
        if (call >= 100 && nils != 1) fail_msg("call %d took a unit from an empty stock", call);
    }
    static const char *const keys[] = {"s0", "s1", "s2", "s3"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(picks[i], 25);
        assert_int_equal(values[i], 0);
        assert_int_equal(sh_get(sg_conn, keys[i]), 0);
    }
}

static void decr_never_touches_a_negative_value(void **state)
{
    (void)state;
    sh_set(sg_conn, "neg", -5);
    sh_set(sg_conn, "min", LLONG_MIN);
    sh_set(sg_conn, "pos", 3);
    for (long long expected = 2; expected >= 0; expected--) {
        long long index = -1, value = -1;
        assert_int_equal(sh_decr(sg_conn, &index, &value, "neg min pos"), 1);
        assert_int_equal(index, 2);
        assert_int_equal(value, expected);
    }
    long long index, value;
    assert_int_equal(sh_decr(sg_conn, &index, &value, "neg min pos"), 0);
    assert_int_equal(sh_decr(sg_conn, &index, &value, "neg"), 0);
    assert_int_equal(sh_get(sg_conn, "neg"), -5);
    assert_int_equal(sh_get(sg_conn, "min"), LLONG_MIN);
}

static void decr_skips_missing_keys_and_answers_the_position_among_the_arguments(void **state)
{
    (void)state;
    sh_set(sg_conn, "here", 2);
    long long index = -1, value = -1;
    assert_int_equal(sh_decr(sg_conn, &index, &value, "gone1 gone2 here gone3"), 1);
    assert_int_equal(index, 2);
    assert_int_equal(value, 1);
    assert_int_equal(sh_decr(sg_conn, &index, &value, "here gone1"), 1);
    assert_int_equal(index, 0);
    assert_int_equal(value, 0);
    assert_int_equal(sh_decr(sg_conn, &index, &value, "gone1 here"), 0);
    assert_int_equal(sg_exists(sg_conn, "gone1"), 0);
    assert_int_equal(sg_exists(sg_conn, "gone2"), 0);
    assert_int_equal(sg_exists(sg_conn, "gone3"), 0);
}

static void decr_on_only_missing_keys_is_a_nocounter_error_and_creates_nothing(void **state)
{
    (void)state;
    sh_error(sg_conn, "NOCOUNTER ", "SHARDED.DECR gone");
    sh_error(sg_conn, "NOCOUNTER ", "SHARDED.DECR gone1 gone2 gone3");
    assert_int_equal(sg_command_integer(sg_conn, "DBSIZE"), 0);
}

static void decr_with_a_key_named_twice_answers_either_position_and_lowers_the_key_once(void **state)
{
    (void)state;
    sh_set(sg_conn, "d", 1000);
    sh_set(sg_conn, "z", 0);
    long long values[3] = {1000, 0, 1000};
    long picks[3] = {0};
    /* "d z d": positions 0 and 2 name the same key; each call lowers it by exactly 1 */
    assert_int_equal(sh_decr_load(sg_conn, "d z d", 3, 400, picks, values), 0);
    assert_int_equal(sh_get(sg_conn, "d"), 600);
    assert_int_equal(picks[1], 0);
    assert_int_equal(picks[0] + picks[2], 400);
    /* each position is picked with probability 1/2: 200 +- 100 is over 10 sigma */
    if (picks[0] < 100 || picks[2] < 100) fail_msg("positions 0 and 2 picked %ld and %ld times", picks[0], picks[2]);
}

static void decr_works_on_binary_key_names(void **state)
{
    (void)state;
    static const char key[] = {'k', '\0', 'x', '\r', '\n', '\xff', ' '};
    sg_command_status(sg_conn, "OK", "SET %b 3", key, sizeof(key));
    const char *argv[] = {"SHARDED.DECR", "missing", key};
    const size_t len[] = {12, 7, sizeof(key)};
    long long index = -1, value = -1;
    assert_int_equal(sh_decr_outcome(sg_command_args(sg_conn, 3, argv, len), &index, &value, "SHARDED.DECR"), 1);
    assert_int_equal(index, 1);
    assert_int_equal(value, 2);
    redisReply *r = sg_command(sg_conn, "GET %b", key, sizeof(key));
    int ok = sg_reply_is_bytes(r, "2", 1);
    freeReplyObject(r);
    if (!ok) fail_msg("GET of the binary key is not 2");
    assert_int_equal(sg_command_integer(sg_conn, "DBSIZE"), 1);
}

static void decr_over_many_keys_reads_and_lowers_every_one(void **state)
{
    (void)state;
    /* more keys than the command keeps on its stack: every one still counts */
    char keys[SH_LINE / 2] = "";
    size_t len = 0;
    for (int i = 0; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof(key), "m%d", i);
        sh_set(sg_conn, key, 0);
        len += (size_t)snprintf(keys + len, sizeof(keys) - len, "%s%s", i ? " " : "", key);
    }
    sh_set(sg_conn, "m39", 2);
    long long index = -1, value = -1;
    assert_int_equal(sh_decr(sg_conn, &index, &value, "%s", keys), 1);
    assert_int_equal(index, 39);
    assert_int_equal(value, 1);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 5 %s", keys), 1);
    assert_int_equal(sh_get(sg_conn, "m39"), 0);
    assert_int_equal(sh_decr(sg_conn, &index, &value, "%s", keys), 0);
}

/* ---- SHARDED.DECR: uniform ------------------------------------------------------------------------- */

static void decr_picks_each_key_with_stock_equally_often(void **state)
{
    (void)state;
    static const char *const keys[] = {"u0", "u1", "u2", "u3", "u4"};
    long long values[5];
    long picks[5] = {0};
    for (int i = 0; i < 5; i++) {
        sh_set(sg_conn, keys[i], 1000000);
        values[i] = 1000000;
    }
    /* 100,000 calls: each key 20,000 expected, sigma = sqrt(100000 * 0.2 * 0.8) = 126.5;
     * +-4% (800) is 6.3 sigma */
    assert_int_equal(sh_decr_load(sg_conn, "u0 u1 u2 u3 u4", 5, 100000, picks, values), 0);
    for (int i = 0; i < 5; i++) {
        if (picks[i] < 19200 || picks[i] > 20800)
            fail_msg("%s picked %ld times of 100000, expected 20000 +- 800", keys[i], picks[i]);
        assert_int_equal(sh_get(sg_conn, keys[i]), 1000000 - picks[i]);
    }
}

static void decr_picks_a_key_with_one_unit_as_often_as_a_key_with_a_million(void **state)
{
    (void)state;
    /* 2000 rounds of one call on {1, 1000000}: a pick weighted by stock would almost never choose
     * the first; a uniform one does half the time: 1000 +- 150 is 6.7 sigma (sigma 22.4) */
    long first = 0;
    for (int round = 0; round < 2000; round++) {
        redisAppendCommand(sg_conn, "SET one 1");
        redisAppendCommand(sg_conn, "SET million 1000000");
        redisAppendCommand(sg_conn, "SHARDED.DECR one million");
        void *reply = NULL;
        for (int k = 0; k < 2; k++) {
            assert_int_equal(redisGetReply(sg_conn, &reply), REDIS_OK);
            freeReplyObject(reply);
        }
        assert_int_equal(redisGetReply(sg_conn, &reply), REDIS_OK);
        long long index = -1, value = -1;
        assert_int_equal(sh_decr_outcome(reply, &index, &value, "SHARDED.DECR one million"), 1);
        if (index == 0) {
            assert_int_equal(value, 0);
            first++;
        } else {
            assert_int_equal(index, 1);
            assert_int_equal(value, 999999);
        }
    }
    if (first < 850 || first > 1150) fail_msg("the 1-unit key was picked %ld times of 2000, expected 1000", first);
}

static void decr_picks_keys_of_very_different_stock_equally_while_both_have_stock(void **state)
{
    (void)state;
    sh_set(sg_conn, "small", 20000);
    sh_set(sg_conn, "large", 1000000);
    long long values[2] = {20000, 1000000};
    long picks[2] = {0};
    /* 20,000 calls: 10,000 each expected (the small key cannot run out), sigma 70.7; +-400 is 5.7 sigma */
    assert_int_equal(sh_decr_load(sg_conn, "small large", 2, 20000, picks, values), 0);
    if (picks[0] < 9600 || picks[0] > 10400) fail_msg("small picked %ld of 20000, expected 10000 +- 400", picks[0]);
    assert_int_equal(sh_get(sg_conn, "small"), 20000 - picks[0]);
    assert_int_equal(sh_get(sg_conn, "large"), 1000000 - picks[1]);
}

/* ---- TTL ------------------------------------------------------------------------------------------- */

static void decr_keeps_the_ttl_of_the_key_it_lowers(void **state)
{
    (void)state;
    sh_set(sg_conn, "ttl:big", 1000000);
    sh_set(sg_conn, "ttl:small", 600); /* a small integer: Redis may share its object */
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIRE ttl:big 100000"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIRE ttl:small 100000"), 1);
    int64_t start = sg_now_ms();
    long long values[2] = {1000000, 600};
    long picks[2] = {0};
    for (int round = 0; round < 10; round++) {
        assert_int_equal(sh_decr_load(sg_conn, "ttl:big ttl:small", 2, 100, picks, values), 0);
        long long elapsed = sg_now_ms() - start;
        for (int k = 0; k < 2; k++) {
            long long left = sg_pttl(sg_conn, k == 0 ? "ttl:big" : "ttl:small");
            if (left < 0 || left > 100000 || left < 100000 - elapsed - 1000)
                fail_msg("PTTL %lld after %lld ms of SHARDED.DECR (PEXPIRE 100000)", left, elapsed);
        }
    }
    assert_int_equal(picks[0] + picks[1], 1000);
    assert_int_equal(sh_get(sg_conn, "ttl:small"), 600 - picks[1]);
}

static void decr_and_take_leave_a_persisted_key_without_ttl(void **state)
{
    (void)state;
    sh_set(sg_conn, "p", 500);
    assert_int_equal(sg_command_integer(sg_conn, "EXPIRE p 100"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "PERSIST p"), 1);
    long long index, value;
    for (int i = 0; i < 50; i++) assert_int_equal(sh_decr(sg_conn, &index, &value, "p"), 1);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 7 p"), 7);
    assert_int_equal(sg_pttl(sg_conn, "p"), -1);
    assert_int_equal(sh_get(sg_conn, "p"), 443);
}

static void take_keeps_the_ttl_of_every_key_it_lowers(void **state)
{
    (void)state;
    sh_set(sg_conn, "t1", 3);
    sh_set(sg_conn, "t2", 3);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIRE t1 100000"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIRE t2 100000"), 1);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 6 t1 t2"), 6);
    for (int k = 0; k < 2; k++) {
        long long left = sg_pttl(sg_conn, k == 0 ? "t1" : "t2");
        if (left < 90000 || left > 100000) fail_msg("PTTL %lld after SHARDED.TAKE (PEXPIRE 100000)", left);
    }
}

/* ---- SHARDED.TAKE ---------------------------------------------------------------------------------- */

static void take_takes_exactly_count_when_there_is_enough(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 10);
    sh_set(sg_conn, "b", 10);
    sh_set(sg_conn, "c", 10);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 5 a b c"), 5);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM a b c"), 25);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 25 a b c"), 25);
    assert_int_equal(sh_get(sg_conn, "a"), 0);
    assert_int_equal(sh_get(sg_conn, "b"), 0);
    assert_int_equal(sh_get(sg_conn, "c"), 0);
}

static void take_takes_what_there_is_when_short_and_zero_when_empty(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 3);
    sh_set(sg_conn, "b", 0);
    sh_set(sg_conn, "c", 4);
    sh_set(sg_conn, "n", -2);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 10 a b missing c n"), 7);
    assert_int_equal(sh_get(sg_conn, "a"), 0);
    assert_int_equal(sh_get(sg_conn, "c"), 0);
    assert_int_equal(sh_get(sg_conn, "n"), -2);
    assert_int_equal(sg_exists(sg_conn, "missing"), 0);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 1 a b missing c n"), 0);
    assert_int_equal(sh_get(sg_conn, "n"), -2);
}

/* On a server of its own: between them the two calls take more than INT64_MAX units, which
 * overflows the module's sharded_take_units counter (signed; see
 * info_take_units_does_not_overflow_when_more_than_int64_max_units_are_taken in
 * test_sharded_docs_and_bad_input.c). Under UBSan that aborts the server, which must not take
 * the group's server down with it. */
static void take_of_int64_max_takes_the_whole_stock(void **state)
{
    sg_fixture *f = *state;
    redisContext *c = sg_fixture_connect(f, sg_fixture_start(f, NULL));
    sh_set(c, "a", 7);
    sh_set(c, "b", LLONG_MAX);
    assert_int_equal(sh_integer(c, "SHARDED.TAKE " INT64_MAX_TEXT " b"), LLONG_MAX);
    assert_int_equal(sh_get(c, "b"), 0);
    sh_set(c, "b", LLONG_MAX);
    /* 7 + INT64_MAX units in stock, INT64_MAX asked: exactly INT64_MAX taken, 7 left */
    assert_int_equal(sh_integer(c, "SHARDED.TAKE " INT64_MAX_TEXT " a b"), LLONG_MAX);
    assert_int_equal(sh_integer(c, "SHARDED.SUM a b"), 7);
}

static void take_on_only_missing_keys_is_a_nocounter_error(void **state)
{
    (void)state;
    sh_error(sg_conn, "NOCOUNTER ", "SHARDED.TAKE 3 gone1 gone2");
    assert_int_equal(sg_command_integer(sg_conn, "DBSIZE"), 0);
}

static void take_goes_on_through_the_following_keys_and_wraps_around(void **state)
{
    (void)state;
    /* From {5, 5, 5}, TAKE 7 empties the start key and takes 2 from the next one (wrapping after
     * the last); from {5, 0, 5} the empty key in between is passed over. Starting at the last key
     * in none of 60 rounds has probability (2/3)^60 < 1e-10. */
    int wrapped = 0, skipped_empty = 0;
    for (int round = 0; round < 60; round++) {
        sh_set(sg_conn, "w0", 5);
        sh_set(sg_conn, "w1", 5);
        sh_set(sg_conn, "w2", 5);
        assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 7 w0 w1 w2"), 7);
        long long v[3] = {sh_get(sg_conn, "w0"), sh_get(sg_conn, "w1"), sh_get(sg_conn, "w2")};
        int start = -1;
        for (int i = 0; i < 3; i++)
            if (v[i] == 0) start = i;
        if (start < 0 || v[(start + 1) % 3] != 3 || v[(start + 2) % 3] != 5)
            fail_msg("after TAKE 7 of {5,5,5}: {%lld,%lld,%lld}", v[0], v[1], v[2]);
        wrapped += start == 2;

        sh_set(sg_conn, "w1", 0);
        sh_set(sg_conn, "w2", 5);
        sh_set(sg_conn, "w0", 5);
        assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 7 w0 w1 w2"), 7);
        long long a = sh_get(sg_conn, "w0"), b = sh_get(sg_conn, "w1"), c = sh_get(sg_conn, "w2");
        if (b != 0 || !((a == 0 && c == 3) || (a == 3 && c == 0)))
            fail_msg("after TAKE 7 of {5,0,5}: {%lld,%lld,%lld}", a, b, c);
        skipped_empty += c == 0;
    }
    if (wrapped == 0) fail_msg("TAKE never started at the last key in 60 rounds");
    if (skipped_empty == 0) fail_msg("TAKE never started at w2 (then wrapping past w1) in 60 rounds");
}

static void take_answers_exactly_what_the_stock_lost(void **state)
{
    (void)state;
    sg_prng p = {sg_workload_seed(0x5eed7a6e)};
    static const char *const keys[] = {"k0", "k1", "k2", "k3", "k4", "k5"};
    for (int i = 0; i < 6; i++) sh_set(sg_conn, keys[i], (long long)sg_prng_below(&p, 50));
    long long stock = sh_integer(sg_conn, "SHARDED.SUM k0 k1 k2 k3 k4 k5");
    for (int call = 0; call < 300 && stock > 0; call++) {
        long long count = 1 + (long long)sg_prng_below(&p, 12);
        long long taken = sh_integer(sg_conn, "SHARDED.TAKE %lld k0 k1 k2 k3 k4 k5", count);
        long long expected = count < stock ? count : stock;
        if (taken != expected) fail_msg("TAKE %lld with %lld in stock took %lld", count, stock, taken);
        stock -= taken;
        long long sum = 0;
        for (int i = 0; i < 6; i++) {
            long long v = sh_get(sg_conn, keys[i]);
            if (v < 0) fail_msg("%s went below 0: %lld", keys[i], v);
            sum += v;
        }
        assert_int_equal(sum, stock);
    }
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 1 k0 k1 k2 k3 k4 k5"), 0);
}

/* ---- SHARDED.INIT ---------------------------------------------------------------------------------- */

/* INIT total over n fresh keys i0.., then check each share and the sum. */
static void check_split(long long total, int n)
{
    char keys[SH_LINE / 2] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++) len += (size_t)snprintf(keys + len, sizeof(keys) - len, "%si%d", i ? " " : "", i);
    sg_command_status(sg_conn, "OK", "FLUSHALL");
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT %lld %s", total, keys), 1);
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof(key), "i%d", i);
        long long expected = total / n + (i < total % n ? 1 : 0);
        long long got = sh_get(sg_conn, key);
        if (got != expected)
            fail_msg("INIT %lld over %d keys: %s holds %lld, expected %lld", total, n, key, got, expected);
        sg_assert_type(sg_conn, key, "string");
        assert_int_equal(sg_pttl(sg_conn, key), -1);
    }
    assert_int_equal(sg_command_integer(sg_conn, "DBSIZE"), n);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM %s", keys), total);
}

static void init_splits_the_total_as_evenly_as_possible_first_keys_first(void **state)
{
    (void)state;
    static const struct {
        long long total;
        int n;
    } cases[] = {{10, 3}, {0, 1}, {0, 5}, {1, 4}, {5, 8}, {12, 4}, {100, 7}, {1000001, 40},
                 {LLONG_MAX, 1}, {LLONG_MAX, 2}, {LLONG_MAX, 7}, {LLONG_MAX, 40}, {LLONG_MAX - 1, 3}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) check_split(cases[k].total, cases[k].n);
}

static void init_answers_zero_and_changes_nothing_when_any_key_exists(void **state)
{
    (void)state;
    sh_set(sg_conn, "x2", 42);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIRE x2 100000"), 1);
    sg_command_integer(sg_conn, "RPUSH l a");
    sg_command_status(sg_conn, "OK", "SET str hello");
    char *before = sg_debug_digest(sg_conn);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 30 x0 x1 x2"), 0);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 30 x2 x0 x1"), 0);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 30 x0 l"), 0);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 30 str x0"), 0);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 0 x2"), 0);
    char *after = sg_debug_digest(sg_conn);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(sg_exists(sg_conn, "x0"), 0);
    assert_int_equal(sg_exists(sg_conn, "x1"), 0);
    assert_int_equal(sh_get(sg_conn, "x2"), 42);
    long long left = sg_pttl(sg_conn, "x2");
    if (left < 90000) fail_msg("PTTL of x2 is %lld after a refused INIT", left);
}

static void init_a_second_time_answers_zero_and_keeps_the_stock_taken_meanwhile(void **state)
{
    (void)state;
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 9 y0 y1 y2"), 1);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 4 y0 y1 y2"), 4);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 9 y0 y1 y2"), 0);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM y0 y1 y2"), 5);
}

static void init_refuses_a_key_named_twice_also_among_many_keys(void **state)
{
    (void)state;
    sh_error(sg_conn, "ERR duplicate key", "SHARDED.INIT 10 a b a");
    sh_error(sg_conn, "ERR duplicate key", "SHARDED.INIT 10 a a");
    sh_error(sg_conn, "ERR duplicate key", "SHARDED.TAKE 1 a b a");
    char keys[SH_LINE / 2] = "";
    size_t len = 0;
    for (int i = 0; i < 40; i++) len += (size_t)snprintf(keys + len, sizeof(keys) - len, "%sq%d", i ? " " : "", i);
    /* beyond a few dozen keys the check works another way: still refused */
    sh_error(sg_conn, "ERR duplicate key", "SHARDED.INIT 10 %s q17", keys);
    sh_error(sg_conn, "ERR duplicate key", "SHARDED.INIT 10 q39 %s", keys);
    sh_set(sg_conn, "q0", 5);
    sh_error(sg_conn, "ERR duplicate key", "SHARDED.TAKE 1 %s q0", keys);
    assert_int_equal(sh_get(sg_conn, "q0"), 5);
    assert_int_equal(sg_command_integer(sg_conn, "DBSIZE"), 1);
    /* and 40 distinct keys are fine */
    sg_command_integer(sg_conn, "DEL q0");
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 80 %s", keys), 1);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM %s", keys), 80);
}

static void init_shards_are_plain_strings_that_get_incrby_and_set_use(void **state)
{
    (void)state;
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 6 g0 g1"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "INCRBY g0 10"), 13);
    long long index, value;
    assert_int_equal(sh_decr(sg_conn, &index, &value, "g0 g1"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "DECRBY g1 0") + sh_get(sg_conn, "g0"), 15);
}

/* ---- SHARDED.SUM ----------------------------------------------------------------------------------- */

static void sum_adds_the_values_counting_missing_keys_as_zero(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 5);
    sh_set(sg_conn, "b", -3);
    sh_set(sg_conn, "c", 1000000000000LL);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM a"), 5);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM a b"), 2);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM a b missing c"), 1000000000002LL);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM missing"), 0);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM a a a"), 15);
    assert_int_equal(sg_exists(sg_conn, "missing"), 0);
}

static void sum_reaches_the_int64_limits_and_refuses_to_overflow(void **state)
{
    (void)state;
    sh_set(sg_conn, "max", LLONG_MAX);
    sh_set(sg_conn, "min", LLONG_MIN);
    sh_set(sg_conn, "one", 1);
    sh_set(sg_conn, "minus", -1);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM max"), LLONG_MAX);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM max minus one"), LLONG_MAX);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM min"), LLONG_MIN);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM max min"), -1);
    sh_error(sg_conn, "ERR", "SHARDED.SUM max one");
    sh_error(sg_conn, "ERR", "SHARDED.SUM one max");
    sh_error(sg_conn, "ERR", "SHARDED.SUM min minus");
    sh_error(sg_conn, "ERR", "SHARDED.SUM max max min");
}

static void sum_refuses_other_types_and_non_integer_strings(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 5);
    sg_command_integer(sg_conn, "RPUSH l x");
    sg_command_integer(sg_conn, "HSET h f v");
    sg_command_status(sg_conn, "OK", "SET s abc");
    sg_command_status(sg_conn, "OK", "SET z 01");
    sh_error(sg_conn, "WRONGTYPE ", "SHARDED.SUM a l");
    sh_error(sg_conn, "WRONGTYPE ", "SHARDED.SUM h a");
    sh_error(sg_conn, "ERR value is not an integer or out of range", "SHARDED.SUM a s");
    sh_error(sg_conn, "ERR value is not an integer or out of range", "SHARDED.SUM z");
}

static void sum_leaves_the_values_and_their_encoding_as_they_were(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 5);
    sh_set(sg_conn, "b", 123456789);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM a b"), 123456794);
    char *enc = sg_reply_text("OBJECT ENCODING", sg_command(sg_conn, "OBJECT ENCODING b"));
    assert_string_equal(enc, "int");
    free(enc);
    assert_int_equal(sh_get(sg_conn, "a"), 5);
}

#define SHARDED_TEST(name) cmocka_unit_test_setup(name, sg_group_flush)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SHARDED_TEST(decr_always_picks_the_only_key_above_zero_until_it_is_zero_then_answers_nil),
        SHARDED_TEST(decr_never_goes_below_zero_and_answers_exactly_the_stock_it_had),
        SHARDED_TEST(decr_never_touches_a_negative_value),
        SHARDED_TEST(decr_skips_missing_keys_and_answers_the_position_among_the_arguments),
        SHARDED_TEST(decr_on_only_missing_keys_is_a_nocounter_error_and_creates_nothing),
        SHARDED_TEST(decr_with_a_key_named_twice_answers_either_position_and_lowers_the_key_once),
        SHARDED_TEST(decr_works_on_binary_key_names),
        SHARDED_TEST(decr_over_many_keys_reads_and_lowers_every_one),
        SHARDED_TEST(decr_picks_each_key_with_stock_equally_often),
        SHARDED_TEST(decr_picks_a_key_with_one_unit_as_often_as_a_key_with_a_million),
        SHARDED_TEST(decr_picks_keys_of_very_different_stock_equally_while_both_have_stock),
        SHARDED_TEST(decr_keeps_the_ttl_of_the_key_it_lowers),
        SHARDED_TEST(decr_and_take_leave_a_persisted_key_without_ttl),
        SHARDED_TEST(take_keeps_the_ttl_of_every_key_it_lowers),
        SHARDED_TEST(take_takes_exactly_count_when_there_is_enough),
        SHARDED_TEST(take_takes_what_there_is_when_short_and_zero_when_empty),
        cmocka_unit_test_setup_teardown(take_of_int64_max_takes_the_whole_stock, sg_fixture_setup, sg_fixture_teardown),
        SHARDED_TEST(take_on_only_missing_keys_is_a_nocounter_error),
        SHARDED_TEST(take_goes_on_through_the_following_keys_and_wraps_around),
        SHARDED_TEST(take_answers_exactly_what_the_stock_lost),
        SHARDED_TEST(init_splits_the_total_as_evenly_as_possible_first_keys_first),
        SHARDED_TEST(init_answers_zero_and_changes_nothing_when_any_key_exists),
        SHARDED_TEST(init_a_second_time_answers_zero_and_keeps_the_stock_taken_meanwhile),
        SHARDED_TEST(init_refuses_a_key_named_twice_also_among_many_keys),
        SHARDED_TEST(init_shards_are_plain_strings_that_get_incrby_and_set_use),
        SHARDED_TEST(sum_adds_the_values_counting_missing_keys_as_zero),
        SHARDED_TEST(sum_reaches_the_int64_limits_and_refuses_to_overflow),
        SHARDED_TEST(sum_refuses_other_types_and_non_integer_strings),
        SHARDED_TEST(sum_leaves_the_values_and_their_encoding_as_they_were),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
