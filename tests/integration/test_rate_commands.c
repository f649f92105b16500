/* test_rate_commands.c -- the RATE.* family as README.md ("## Rate-limit commands") states it,
 * against a real redis-server with the module loaded: RATE.THROTTLE's five integers exactly as
 * redis-cell's CL.THROTTLE answers them (rounding included, seconds and MS), peeks that write
 * nothing, the GCRA state (a string holding the TAT in ns of Unix time, expiring when the bucket is
 * full again), RATE.WINDOW's 1/2/0 replies, RATE.WINDOW.INFO, ALIGN, RATE.ALL's all-or-nothing
 * decisions and reply shape, a dataset left clean by every call that changes nothing, bad input (a
 * coded error that changes nothing), COMMAND INFO / DOCS / GETKEYS, the INFO slotguard_rate
 * counters and the keyspace notification of an allowed call.
 *
 * One server for the whole group; every test starts from an empty dataset (FLUSHALL in the per-test
 * setup). One behaviour per test function. Numbers that depend on the time a test takes use
 * periods of a minute or more (so the rounded value cannot move) or are asserted as ranges; waits
 * for a key to expire are bounded polls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raw_commands.h"

/* ---- helpers ------------------------------------------------------------------------------------ */

/* Run a command (hiredis format); fails the test when the connection broke. Caller frees. */
static redisReply *run(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL) fail_msg("the connection broke on \"%s\": %s", fmt, c->errstr);
    return r;
}

/* Fill out[5] from a RATE.THROTTLE reply (an array of five integers); 0 when it is not one. */
static int throttle_fields(const redisReply *r, long long out[5])
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 5) return 0;
    for (size_t i = 0; i < 5; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER) return 0;
        out[i] = r->element[i]->integer;
    }
    return 1;
}

/* Run a RATE.THROTTLE line (no format arguments: the line is the command) and return its five
 * integers in out; fails on any other reply. */
static void throttle(const char *line, long long out[5])
{
    redisReply *r = run(sg_conn, line);
    if (!throttle_fields(r, out)) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("%s: expected five integers, got %s", line, got);
    }
    freeReplyObject(r);
}

/* GET key as a malloc'ed string, or NULL when the key is absent. */
static char *get_value(redisContext *c, const char *key)
{
    redisReply *r = sg_command(c, "GET %s", key);
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return NULL;
    }
    return sg_reply_text("GET", r);
}

static long long get_integer(redisContext *c, const char *key)
{
    char *v = get_value(c, key);
    if (v == NULL) fail_msg("%s does not exist", key);
    char *end;
    long long n = strtoll(v, &end, 10);
    int ok = *v != '\0' && *end == '\0';
    char shown[64];
    snprintf(shown, sizeof(shown), "%s", v);
    free(v);
    if (!ok) fail_msg("%s holds \"%s\", not an integer", key, shown);
    return n;
}

/* RATE.WINDOW.INFO key quota: used, remaining, end (Unix ms or -1), wait (ms until the end, or -1).
 * The wait must agree with the end on this machine's clock (same machine as the server). */
static void window_info(const char *key, long long quota, long long out[4])
{
    long long before = sg_unix_us() / 1000;
    redisReply *r = sg_command(sg_conn, "RATE.WINDOW.INFO %s %lld", key, quota);
    long long after = sg_unix_us() / 1000;
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 4;
    for (size_t i = 0; ok && i < 4; i++) {
        ok = r->element[i]->type == REDIS_REPLY_INTEGER;
        if (ok) out[i] = r->element[i]->integer;
    }
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    freeReplyObject(r);
    if (!ok) fail_msg("RATE.WINDOW.INFO %s %lld: expected four integers, got %s", key, quota, got);
    if (out[2] == -1 ? out[3] != -1 : out[3] < out[2] - after - 1 || out[3] > out[2] - before + 1)
        fail_msg("RATE.WINDOW.INFO %s: wait %lld does not agree with end %lld", key, out[3], out[2]);
}

static long long unix_ms(void) { return sg_unix_us() / 1000; }

static long long rdb_changes(void) { return sg_info_number(sg_conn, "rdb_changes_since_last_save"); }

static void assert_between(const char *what, long long value, long long lo, long long hi)
{
    if (value < lo || value > hi) fail_msg("%s is %lld, expected %lld .. %lld", what, value, lo, hi);
}

/* ---- RATE.THROTTLE: replies ------------------------------------------------------------------ */

/* One call and its reply. slack_ms > 0: fields 4 and 5 (when not -1) are in ms and may be up to
 * slack_ms below `want` (the time the previous calls took); otherwise the reply is exact. */
typedef struct throttle_case {
    const char *line;
    long long want[5];
    long long slack_ms;
} throttle_case;

static const throttle_case throttle_cases[] = {
    /* redis-cell's README example: 30 per minute, bursts of 16 */
    {"RATE.THROTTLE u 15 30 60", {0, 16, 15, -1, 2}, 0},
    {"RATE.THROTTLE u 15 30 60", {0, 16, 14, -1, 4}, 0},
    {"RATE.THROTTLE u 15 30 60 1", {0, 16, 13, -1, 6}, 0},
    /* a bucket of 3, one unit a minute: three allowed, then refused with a minute to wait */
    {"RATE.THROTTLE b 2 1 60", {0, 3, 2, -1, 60}, 0},
    {"RATE.THROTTLE b 2 1 60", {0, 3, 1, -1, 120}, 0},
    {"RATE.THROTTLE b 2 1 60", {0, 3, 0, -1, 180}, 0},
    {"RATE.THROTTLE b 2 1 60", {1, 3, 0, 60, 180}, 0},
    {"RATE.THROTTLE b 2 1 60", {1, 3, 0, 60, 180}, 0},
    /* a refused call of more units waits longer */
    {"RATE.THROTTLE b 2 1 60 2", {1, 3, 0, 120, 180}, 0},
    /* quantity > 1 */
    {"RATE.THROTTLE q 5 1 60 3", {0, 6, 3, -1, 180}, 0},
    {"RATE.THROTTLE q 5 1 60 4", {1, 6, 3, 60, 180}, 0},
    {"RATE.THROTTLE q 5 1 60 3", {0, 6, 0, -1, 360}, 0},
    {"RATE.THROTTLE q 5 1 60 1", {1, 6, 0, 60, 360}, 0},
    /* the whole bucket at once (quantity max_burst + 1) */
    {"RATE.THROTTLE f 4 1 60 5", {0, 5, 0, -1, 300}, 0},
    {"RATE.THROTTLE f 4 1 60", {1, 5, 0, 60, 300}, 0},
    /* a peek of an absent key: a full bucket, nothing to wait for */
    {"RATE.THROTTLE p 15 30 60 0", {0, 16, 16, -1, 0}, 0},
    /* a peek of a used bucket */
    {"RATE.THROTTLE f 4 1 60 0", {0, 5, 0, -1, 300}, 0},
    /* no burst: one unit, then refused */
    {"RATE.THROTTLE z 0 1 60", {0, 1, 0, -1, 60}, 0},
    {"RATE.THROTTLE z 0 1 60", {1, 1, 0, 60, 60}, 0},
    /* 3 per 2 minutes: interval 40 s */
    {"RATE.THROTTLE t 9 3 120 4", {0, 10, 6, -1, 160}, 0},
    /* the largest period */
    {"RATE.THROTTLE big 0 1 1000000000", {0, 1, 0, -1, 1000000000}, 0},
    /* redis-cell's rounding, on a fresh key (reset_after is then exactly one interval, whatever
     * the time): truncated, plus one when the remainder holds at least a millisecond */
    {"RATE.THROTTLE r1 0 999999 1000000", {0, 1, 0, -1, 1}, 0},   /* 1 s + 1 us */
    {"RATE.THROTTLE r2 0 1000000 1000999", {0, 1, 0, -1, 1}, 0},  /* 1 s + 999 us */
    {"RATE.THROTTLE r3 0 1000000 1001000", {0, 1, 0, -1, 2}, 0},  /* 1 s + 1 ms */
    {"RATE.THROTTLE r4 0 3 1", {0, 1, 0, -1, 1}, 0},              /* 333.333333 ms */
    {"RATE.THROTTLE r5 1 1000000 1000999 2", {0, 2, 0, -1, 3}, 0}, /* 2 s + 1.998 ms */
    /* with MS: plus one when the remainder holds at least a microsecond */
    {"RATE.THROTTLE r6 0 999999 1000000 MS", {0, 1, 0, -1, 1}, 0},  /* 1 ms + 1 ns */
    {"RATE.THROTTLE r7 0 1000000 1000999 MS", {0, 1, 0, -1, 1}, 0}, /* 1 ms + 999 ns */
    {"RATE.THROTTLE r8 0 1000 1001 MS", {0, 1, 0, -1, 2}, 0},       /* 1 ms + 1 us */
    /* MS: the period and fields 4 and 5 in milliseconds */
    {"RATE.THROTTLE m 5 1 60000 2 MS", {0, 6, 4, -1, 120000}, 1000},
    {"RATE.THROTTLE m 5 1 60000 4 MS", {0, 6, 0, -1, 360000}, 1000},
    {"RATE.THROTTLE m 5 1 60000 1 MS", {1, 6, 0, 60000, 360000}, 1000},
    {"RATE.THROTTLE m 5 1 60000 0 MS", {0, 6, 0, -1, 360000}, 1000},
    {"RATE.THROTTLE mz 0 1 90000 MS", {0, 1, 0, -1, 90000}, 0},
};
#define THROTTLE_CASE_COUNT (sizeof(throttle_cases) / sizeof(throttle_cases[0]))

static void throttle_replies_are_cl_throttle_s_five_integers_case_by_case(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < THROTTLE_CASE_COUNT; i++) {
        const throttle_case *tc = &throttle_cases[i];
        long long got[5];
        throttle(tc->line, got);
        int ok = 1;
        for (int f = 0; f < 5; f++) {
            long long want = tc->want[f];
            if (tc->slack_ms > 0 && f >= 3 && want != -1)
                ok = ok && got[f] <= want && got[f] >= want - tc->slack_ms;
            else
                ok = ok && got[f] == want;
        }
        if (!ok) {
            failures++;
            fprintf(stderr, "  [%zu] %s: got %lld %lld %lld %lld %lld, expected %lld %lld %lld %lld %lld%s\n", i,
                    tc->line, got[0], got[1], got[2], got[3], got[4], tc->want[0], tc->want[1], tc->want[2],
                    tc->want[3], tc->want[4], tc->slack_ms > 0 ? " (fields 4, 5 up to 1000 ms less)" : "");
        }
    }
    if (failures > 0) fail_msg("%d RATE.THROTTLE case(s) answered otherwise", failures);
}

static void throttle_peek_with_quantity_zero_leaves_the_key_as_it_was(void **state)
{
    (void)state;
    long long r[5];
    /* absent: stays absent */
    throttle("RATE.THROTTLE p 15 30 60 0", r);
    assert_int_equal(r[0], 0);
    assert_int_equal(r[2], 16);
    assert_int_equal(sg_exists(sg_conn, "p"), 0);
    throttle("RATE.THROTTLE p 15 30 60 0 MS", r);
    assert_int_equal(sg_exists(sg_conn, "p"), 0);
    /* used: value and expiry unchanged, the peek answers what is left */
    throttle("RATE.THROTTLE p 15 30 60 5", r);
    assert_int_equal(r[0], 0);
    assert_int_equal(r[2], 11);
    char *before = get_value(sg_conn, "p");
    long long pttl_before = sg_pttl(sg_conn, "p");
    throttle("RATE.THROTTLE p 15 30 60 0", r);
    long long want[5] = {0, 16, 11, -1, 10};
    for (int f = 0; f < 5; f++) assert_int_equal(r[f], want[f]);
    char *after = get_value(sg_conn, "p");
    long long pttl_after = sg_pttl(sg_conn, "p");
    assert_non_null(before);
    assert_non_null(after);
    assert_string_equal(before, after);
    /* the same absolute expiry: the TTL only went down by the time between the two reads */
    assert_between("PTTL after the peek", pttl_after, pttl_before - 1000, pttl_before);
    free(before);
    free(after);
}

static void throttle_limited_call_leaves_the_key_as_it_was(void **state)
{
    (void)state;
    long long r[5];
    throttle("RATE.THROTTLE k 0 1 60", r);
    assert_int_equal(r[0], 0);
    char *before = get_value(sg_conn, "k");
    long long pttl_before = sg_pttl(sg_conn, "k");
    throttle("RATE.THROTTLE k 0 1 60", r);
    assert_int_equal(r[0], 1);
    char *after = get_value(sg_conn, "k");
    assert_non_null(before);
    assert_non_null(after);
    assert_string_equal(before, after);
    assert_between("PTTL after the refused call", sg_pttl(sg_conn, "k"), pttl_before - 1000, pttl_before);
    free(before);
    free(after);
}

/* ---- RATE.THROTTLE: state ------------------------------------------------------------------- */

static void throttle_state_is_a_string_holding_the_tat_in_ns_with_pttl_of_reset_after(void **state)
{
    (void)state;
    long long r[5];
    long long t0_ns = sg_unix_us() * 1000;
    throttle("RATE.THROTTLE s 4 1 60 2", r);
    long long t1_ns = sg_unix_us() * 1000;
    assert_int_equal(r[0], 0);
    assert_int_equal(r[4], 120);
    sg_assert_type(sg_conn, "s", "string");
    /* an empty bucket's TAT: now + quantity × interval (120 s) */
    long long tat = get_integer(sg_conn, "s");
    long long interval_ns = 60LL * 1000000000LL;
    assert_between("the TAT", tat, t0_ns + 2 * interval_ns - 1000000, t1_ns + 2 * interval_ns + 1000000);
    /* expires at the TAT (ms, rounded up): PTTL is reset_after in ms */
    assert_between("PTTL", sg_pttl(sg_conn, "s"), 120000 - 1000, 120001);
    /* the next allowed call moves the TAT one interval on, and the expiry with it */
    throttle("RATE.THROTTLE s 4 1 60", r);
    assert_int_equal(r[0], 0);
    assert_int_equal(r[4], 180);
    assert_int_equal(get_integer(sg_conn, "s"), tat + interval_ns);
    assert_between("PTTL", sg_pttl(sg_conn, "s"), 180000 - 1000, 180001);
}

static void throttle_key_vanishes_by_itself_when_the_bucket_is_full_again(void **state)
{
    (void)state;
    long long r[5];
    throttle("RATE.THROTTLE k 0 1 50 1 MS", r);
    assert_int_equal(r[0], 0);
    assert_int_equal(r[1], 1);
    assert_between("reset_after (ms)", r[4], 1, 50);
    assert_int_equal(sg_exists(sg_conn, "k"), 1);
    assert_between("PTTL", sg_pttl(sg_conn, "k"), 0, 51);
    sg_wait_until_gone(sg_conn, "k", 3000);
    /* full again: allowed at once */
    throttle("RATE.THROTTLE k 0 1 50 1 MS", r);
    assert_int_equal(r[0], 0);
}

/* ---- RATE.WINDOW ---------------------------------------------------------------------------- */

static void window_replies_1_1_2_then_0_and_info_shows_the_quota_used(void **state)
{
    (void)state;
    static const long long want[] = {1, 1, 2, 0, 0};
    long long t0 = unix_ms();
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        long long got = sg_command_integer(sg_conn, "RATE.WINDOW w 3 60");
        if (got != want[i])
            fail_msg("call %zu of RATE.WINDOW w 3 60 answered %lld, expected %lld", i + 1, got, want[i]);
    }
    long long t1 = unix_ms();
    /* over-quota calls counted nothing */
    sg_assert_type(sg_conn, "w", "string");
    assert_int_equal(get_integer(sg_conn, "w"), 3);
    long long info[4];
    window_info("w", 3, info);
    assert_int_equal(info[0], 3);
    assert_int_equal(info[1], 0);
    assert_between("the window's end", info[2], t0 + 60000, t1 + 60001);
    assert_between("PTTL", sg_pttl(sg_conn, "w"), 60000 - 1000, 60001);
    /* another quota read over the same count */
    window_info("w", 10, info);
    assert_int_equal(info[0], 3);
    assert_int_equal(info[1], 7);
    /* no window */
    window_info("none", 4, info);
    assert_int_equal(info[0], 0);
    assert_int_equal(info[1], 4);
    assert_int_equal(info[2], -1);
    assert_int_equal(sg_exists(sg_conn, "none"), 0);
}

static void window_restarts_counting_at_1_after_the_window_ends(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW r 2 100 MS"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW r 2 100 MS"), 2);
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW r 2 100 MS"), 0);
    assert_between("PTTL", sg_pttl(sg_conn, "r"), 0, 101);
    sg_wait_until_gone(sg_conn, "r", 3000);
    long long info[4];
    window_info("r", 2, info);
    assert_int_equal(info[0], 0);
    assert_int_equal(info[1], 2);
    assert_int_equal(info[2], -1);
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW r 2 100 MS"), 1);
    assert_int_equal(get_integer(sg_conn, "r"), 1);
}

static void window_align_ends_on_a_whole_multiple_of_the_period(void **state)
{
    (void)state;
    long long info[4];
    long long t0 = unix_ms();
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW a 5 1000 ALIGN MS"), 1);
    long long t1 = unix_ms();
    window_info("a", 5, info);
    assert_int_equal(info[0], 1);
    assert_int_equal(info[1], 4);
    if (info[2] % 1000 != 0) fail_msg("ALIGN MS window of 1000 ms ends at %lld, not a whole second", info[2]);
    assert_between("the aligned end", info[2], t0 - 1, t1 + 1000);
    /* the words in the other order, and seconds: a whole minute since the epoch */
    t0 = unix_ms();
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW b 5 60 ALIGN"), 1);
    t1 = unix_ms();
    window_info("b", 5, info);
    if (info[2] % 60000 != 0) fail_msg("ALIGN window of 60 s ends at %lld, not a whole minute", info[2]);
    assert_between("the aligned end", info[2], t0 - 1, t1 + 60000);
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW c 5 7 MS ALIGN"), 1);
    window_info("c", 5, info);
    if (info[2] % 7 != 0) fail_msg("MS ALIGN window of 7 ms ends at %lld, not a multiple of 7", info[2]);
}

static void window_without_align_ends_one_period_after_its_first_call(void **state)
{
    (void)state;
    long long info[4];
    long long t0 = unix_ms();
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW n 5 7777 MS"), 1);
    long long t1 = unix_ms();
    window_info("n", 5, info);
    assert_between("the window's end", info[2], t0 + 7777, t1 + 7778);
    long long end = info[2];
    /* later calls count in the same window: its end does not move */
    sg_sleep_ms(5);
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW n 5 7777 MS"), 1);
    window_info("n", 5, info);
    assert_int_equal(info[0], 2);
    assert_int_equal(info[2], end);
}

/* ---- RATE.ALL ------------------------------------------------------------------------------- */

/* Check a RATE.ALL reply: `first`, then per limit five integers (the next row of throttles) or one
 * integer (the next of windows). kinds:
 * 'T' throttle, 'W' window. For throttles, fields 4 and 5 are exact (periods of a minute). */
static void assert_all_reply(const redisReply *r, long long first, const char *kinds, const long long (*throttles)[5],
                             const long long *windows)
{
    size_t n = strlen(kinds);
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n + 1) fail_msg("RATE.ALL: not %zu elements: %s", n + 1, got);
    if (r->element[0]->type != REDIS_REPLY_INTEGER || r->element[0]->integer != first)
        fail_msg("RATE.ALL: the first element is not %lld", first);
    size_t ti = 0, wi = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i + 1];
        if (kinds[i] == 'T') {
            long long f[5];
            if (!throttle_fields(e, f)) fail_msg("RATE.ALL: limit %zu's reply is not five integers", i);
            for (int k = 0; k < 5; k++)
                if (f[k] != throttles[ti][k])
                    fail_msg("RATE.ALL: limit %zu's field %d is %lld, expected %lld", i, k + 1, f[k], throttles[ti][k]);
            ti++;
        } else {
            if (e->type != REDIS_REPLY_INTEGER || e->integer != windows[wi])
                fail_msg("RATE.ALL: limit %zu's reply is not the integer %lld", i, windows[wi]);
            wi++;
        }
    }
}

static void all_allowed_consumes_every_limit(void **state)
{
    (void)state;
    long long t0 = unix_ms();
    redisReply *r = run(sg_conn, "RATE.ALL 3 t w m THROTTLE 4 1 60 2 WINDOW 3 60 THROTTLE 1 1 60000 MS");
    long long t1 = unix_ms();
    static const long long throttles[2][5] = {{0, 5, 3, -1, 120}, {0, 2, 1, -1, 60000}};
    static const long long windows[1] = {1};
    assert_all_reply(r, 1, "TWT", throttles, windows);
    freeReplyObject(r);
    long long tat = get_integer(sg_conn, "t");
    assert_between("t's TAT (ms)", tat / 1000000, t0 + 120000 - 1, t1 + 120000 + 1);
    assert_between("t's PTTL", sg_pttl(sg_conn, "t"), 120000 - 1000, 120001);
    assert_int_equal(get_integer(sg_conn, "w"), 1);
    assert_between("w's PTTL", sg_pttl(sg_conn, "w"), 60000 - 1000, 60001);
    assert_between("m's TAT (ms)", get_integer(sg_conn, "m") / 1000000, t0 + 60000 - 1, t1 + 60000 + 1);
    /* the next call sees what the first consumed */
    r = run(sg_conn, "RATE.ALL 2 t w THROTTLE 4 1 60 2 WINDOW 3 60");
    static const long long throttles2[1][5] = {{0, 5, 1, -1, 240}};
    assert_all_reply(r, 1, "TW", throttles2, windows);
    freeReplyObject(r);
    assert_int_equal(get_integer(sg_conn, "w"), 2);
    assert_int_equal(get_integer(sg_conn, "t"), tat + 2 * 60LL * 1000000000LL);
}

static void all_refused_by_a_full_window_consumes_nothing_from_any_limit(void **state)
{
    (void)state;
    long long r5[5];
    throttle("RATE.THROTTLE t 4 1 60", r5);
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW w 1 60"), 2);
    char *t_before = get_value(sg_conn, "t");
    long long t_pttl = sg_pttl(sg_conn, "t");
    long long w_pttl = sg_pttl(sg_conn, "w");
    char *digest = sg_debug_digest(sg_conn);
    redisReply *r = run(sg_conn, "RATE.ALL 3 t w fresh THROTTLE 4 1 60 WINDOW 1 60 THROTTLE 0 1 60");
    /* each limit answers what it would alone: the throttles allow, the window is over */
    static const long long throttles[2][5] = {{0, 5, 3, -1, 120}, {0, 1, 0, -1, 60}};
    static const long long windows[1] = {0};
    assert_all_reply(r, 0, "TWT", throttles, windows);
    freeReplyObject(r);
    char *t_after = get_value(sg_conn, "t");
    assert_non_null(t_before);
    assert_non_null(t_after);
    assert_string_equal(t_before, t_after);
    assert_between("t's PTTL", sg_pttl(sg_conn, "t"), t_pttl - 1000, t_pttl);
    assert_int_equal(sg_exists(sg_conn, "fresh"), 0);
    assert_int_equal(get_integer(sg_conn, "w"), 1);
    assert_between("w's PTTL", sg_pttl(sg_conn, "w"), w_pttl - 1000, w_pttl);
    char *digest_after = sg_debug_digest(sg_conn);
    assert_string_equal(digest, digest_after);
    free(t_before);
    free(t_after);
    free(digest);
    free(digest_after);
}

static void all_refused_by_a_throttle_counts_no_window(void **state)
{
    (void)state;
    long long r5[5];
    throttle("RATE.THROTTLE x 0 1 60", r5);
    assert_int_equal(r5[0], 0);
    /* reply shape [0, five integers, window's 1]: the window would allow, yet counts nothing */
    redisReply *r = run(sg_conn, "RATE.ALL 2 x y THROTTLE 0 1 60 WINDOW 5 60");
    static const long long throttles[1][5] = {{1, 1, 0, 60, 60}};
    static const long long windows[1] = {1};
    assert_all_reply(r, 0, "TW", throttles, windows);
    freeReplyObject(r);
    assert_int_equal(sg_exists(sg_conn, "y"), 0);
    long long info[4];
    window_info("y", 5, info);
    assert_int_equal(info[0], 0);
    assert_int_equal(info[2], -1);
}

/* ---- a clean dataset ------------------------------------------------------------------------ */

static void calls_that_change_nothing_leave_rdb_changes_and_allowed_calls_raise_it(void **state)
{
    (void)state;
    long long r5[5];
    throttle("RATE.THROTTLE t 0 1 60", r5);
    assert_int_equal(r5[0], 0);
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW w 1 60"), 2);
    sg_command_integer(sg_conn, "RPUSH l x");
    sg_command_status(sg_conn, "OK", "SET abc abc");
    static const char *const unchanged[] = {
        "RATE.THROTTLE t 0 1 60",                            /* limited */
        "RATE.THROTTLE t 0 1 60 0",                          /* peek */
        "RATE.THROTTLE new 0 1 60 0",                        /* peek of an absent key */
        "RATE.WINDOW w 1 60",                                /* over quota */
        "RATE.WINDOW.INFO w 1",                              /* a read */
        "RATE.WINDOW.INFO new 1",
        "RATE.ALL 2 new w THROTTLE 0 1 60 WINDOW 1 60",      /* refused */
        "RATE.THROTTLE new 0 0 60",                          /* errors */
        "RATE.THROTTLE new 0 1 60 2",
        "RATE.THROTTLE l 0 1 60",
        "RATE.THROTTLE abc 0 1 60",
        "RATE.WINDOW new 0 60",
        "RATE.WINDOW l 1 60",
        "RATE.ALL 2 new l THROTTLE 0 1 60 WINDOW 1 60",
        "RATE.ALL 2 new new THROTTLE 0 1 60 THROTTLE 0 1 60",
    };
    long long before = rdb_changes();
    for (size_t i = 0; i < sizeof(unchanged) / sizeof(unchanged[0]); i++) {
        freeReplyObject(run(sg_conn, unchanged[i]));
        long long now = rdb_changes();
        if (now != before)
            fail_msg("%s moved rdb_changes_since_last_save from %lld to %lld", unchanged[i], before, now);
    }
    assert_int_equal(sg_exists(sg_conn, "new"), 0);
    /* allowed calls change the dataset */
    throttle("RATE.THROTTLE t2 0 1 60", r5);
    long long after_throttle = rdb_changes();
    if (after_throttle <= before) fail_msg("an allowed RATE.THROTTLE left rdb_changes_since_last_save at %lld", before);
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW w2 2 60"), 1);
    long long after_window = rdb_changes();
    if (after_window <= after_throttle) fail_msg("an allowed RATE.WINDOW left rdb_changes_since_last_save");
    freeReplyObject(run(sg_conn, "RATE.ALL 2 t3 w3 THROTTLE 0 1 60 WINDOW 1 60"));
    if (rdb_changes() <= after_window) fail_msg("an allowed RATE.ALL left rdb_changes_since_last_save");
}

/* ---- bad input ------------------------------------------------------------------------------ */

#define BAD_BURST "@burst"   /* run once per entry of bad_bursts */
#define BAD_COUNT "@count"
#define BAD_PERIOD "@period"
#define BAD_PERIOD_MS "@period_ms"
#define BAD_QUOTA "@quota"
#define NOT_STATE "@notstate" /* run once per key holding a string that is not a state */

static const char *const bad_bursts[] = {"-1", "x", "1.5", "", "9223372036854775807", "9223372036854775808",
                                         "-9223372036854775809"};
static const char *const bad_counts[] = {"0", "-1", "x", "9223372036854775808", "1e3"};
static const char *const bad_periods[] = {"0", "-1", "1000000001", "x", "9223372036854775808"};
static const char *const bad_periods_ms[] = {"0", "-1", "1000000000001", "x"};
static const char *const bad_quotas[] = {"0", "-1", "x", "9223372036854775808"};
static const char *const not_state_keys[] = {"bad:abc", "bad:neg", "bad:float", "bad:empty"};

static const sg_bad_case bad_cases[] = {
    /* wrong arity */
    {"ERR wrong number of arguments", {"RATE.THROTTLE"}},
    {"ERR wrong number of arguments", {"RATE.THROTTLE", "bad:new"}},
    {"ERR wrong number of arguments", {"RATE.THROTTLE", "bad:new", "1", "1"}},
    {"ERR wrong number of arguments", {"RATE.THROTTLE", "bad:new", "1", "1", "1", "1", "MS", "MS"}},
    {"ERR wrong number of arguments", {"RATE.WINDOW"}},
    {"ERR wrong number of arguments", {"RATE.WINDOW", "bad:new", "1"}},
    {"ERR wrong number of arguments", {"RATE.WINDOW", "bad:new", "1", "1", "ALIGN", "MS", "MS"}},
    {"ERR wrong number of arguments", {"RATE.WINDOW.INFO", "bad:new"}},
    {"ERR wrong number of arguments", {"RATE.WINDOW.INFO", "bad:new", "1", "1"}},
    {"ERR wrong number of arguments", {"RATE.ALL", "1", "bad:new"}},
    {"ERR wrong number of arguments", {"RATE.ALL", "1", "bad:new", "THROTTLE"}},
    {"ERR wrong number of arguments", {"RATE.ALL", "1", "bad:new", "THROTTLE", "1", "1"}},
    {"ERR wrong number of arguments", {"RATE.ALL", "1", "bad:new", "WINDOW", "1"}},
    /* max_burst, count, period, quantity */
    {"ERR invalid max_burst", {"RATE.THROTTLE", "bad:new", BAD_BURST, "1", "60"}},
    {"ERR invalid max_burst", {"RATE.THROTTLE", "bad:t", BAD_BURST, "1", "60"}},
    {"ERR invalid count", {"RATE.THROTTLE", "bad:new", "1", BAD_COUNT, "60"}},
    {"ERR invalid count", {"RATE.THROTTLE", "bad:t", "5", BAD_COUNT, "600"}},
    {"ERR invalid period", {"RATE.THROTTLE", "bad:new", "1", "1", BAD_PERIOD}},
    {"ERR invalid period", {"RATE.THROTTLE", "bad:new", "1", "1", BAD_PERIOD, "1"}},
    {"ERR invalid period", {"RATE.THROTTLE", "bad:new", "1", "1", BAD_PERIOD_MS, "MS"}},
    {"ERR invalid period", {"RATE.THROTTLE", "bad:new", "1", "1", BAD_PERIOD_MS, "1", "MS"}},
    {"ERR invalid quantity", {"RATE.THROTTLE", "bad:new", "1", "1", "60", "-1"}},
    {"ERR invalid quantity", {"RATE.THROTTLE", "bad:new", "1", "1", "60", "x"}},
    {"ERR invalid quantity", {"RATE.THROTTLE", "bad:new", "1", "1", "60", "9223372036854775808"}},
    {"ERR invalid quantity", {"RATE.THROTTLE", "bad:new", "1", "1", "60", "3"}},
    {"ERR invalid quantity", {"RATE.THROTTLE", "bad:new", "0", "1", "60", "2", "MS"}},
    {"ERR invalid quantity", {"RATE.THROTTLE", "bad:t", "5", "1", "600", "7"}},
    {"ERR invalid quantity", {"RATE.THROTTLE", "bad:new", "4", "1", "60", "9223372036854775807"}},
    /* rates: an interval below 1 ns, a bucket beyond 64 bits */
    {"ERR invalid rate", {"RATE.THROTTLE", "bad:new", "0", "2000000000", "1"}},
    {"ERR invalid rate", {"RATE.THROTTLE", "bad:new", "0", "2000001", "1", "MS"}},
    {"ERR invalid rate", {"RATE.THROTTLE", "bad:new", "0", "9223372036854775807", "1"}},
    {"ERR invalid rate", {"RATE.THROTTLE", "bad:new", "9223372036854775806", "1", "1000000000"}},
    {"ERR invalid rate", {"RATE.THROTTLE", "bad:new", "9223372036854775806", "1", "1"}},
    {"ERR invalid rate", {"RATE.THROTTLE", "bad:t", "9223372036854775806", "1", "1"}},
    /* A bucket beyond 10^18 ns (9 units of 31.7 years): refused at once, not after a few calls. */
    {"ERR invalid rate", {"RATE.THROTTLE", "bad:new", "8", "1", "1000000000"}},
    {"ERR invalid rate", {"RATE.THROTTLE", "bad:new", "8", "1", "999999999", "9"}},
    /* trailing words */
    {"ERR syntax error", {"RATE.THROTTLE", "bad:new", "1", "1", "60", "1", "FOO"}},
    {"ERR syntax error", {"RATE.THROTTLE", "bad:new", "1", "1", "60", "MS", "1"}},
    {"ERR syntax error", {"RATE.THROTTLE", "bad:new", "1", "1", "60", "WINDOW"}},
    {"ERR syntax error", {"RATE.WINDOW", "bad:new", "1", "60", "FOO"}},
    {"ERR syntax error", {"RATE.WINDOW", "bad:new", "1", "60", "ALIGN", "ALIGN"}},
    {"ERR syntax error", {"RATE.WINDOW", "bad:new", "1", "60", "MS", "MS"}},
    {"ERR syntax error", {"RATE.WINDOW", "bad:w", "5", "600", "ALIGN", "FOO"}},
    /* quota, window period */
    {"ERR invalid quota", {"RATE.WINDOW", "bad:new", BAD_QUOTA, "60"}},
    {"ERR invalid quota", {"RATE.WINDOW", "bad:w", BAD_QUOTA, "600"}},
    {"ERR invalid quota", {"RATE.WINDOW.INFO", "bad:w", BAD_QUOTA}},
    {"ERR invalid period", {"RATE.WINDOW", "bad:new", "1", BAD_PERIOD}},
    {"ERR invalid period", {"RATE.WINDOW", "bad:new", "1", BAD_PERIOD, "ALIGN"}},
    {"ERR invalid period", {"RATE.WINDOW", "bad:new", "1", BAD_PERIOD_MS, "MS"}},
    {"ERR invalid period", {"RATE.WINDOW", "bad:new", "1", BAD_PERIOD_MS, "ALIGN", "MS"}},
    /* keys of another type */
    {"WRONGTYPE ", {"RATE.THROTTLE", "bad:list", "1", "1", "60"}},
    {"WRONGTYPE ", {"RATE.THROTTLE", "bad:list", "1", "1", "60", "0"}},
    {"WRONGTYPE ", {"RATE.THROTTLE", "bad:hash", "1", "1", "60", "1", "MS"}},
    {"WRONGTYPE ", {"RATE.WINDOW", "bad:list", "1", "60"}},
    {"WRONGTYPE ", {"RATE.WINDOW.INFO", "bad:list", "1"}},
    {"WRONGTYPE ", {"RATE.ALL", "1", "bad:list", "THROTTLE", "1", "1", "60"}},
    {"WRONGTYPE ", {"RATE.ALL", "2", "bad:new", "bad:list", "THROTTLE", "1", "1", "60", "WINDOW", "1", "60"}},
    {"WRONGTYPE ", {"RATE.ALL", "2", "bad:t", "bad:hash", "THROTTLE", "5", "1", "600", "THROTTLE", "1", "1", "60"}},
    /* strings that are not a state */
    {"ERR the key does not hold a rate limit's state", {"RATE.THROTTLE", NOT_STATE, "1", "1", "60"}},
    {"ERR the key does not hold a rate limit's state", {"RATE.THROTTLE", NOT_STATE, "1", "1", "60", "0"}},
    {"ERR the key does not hold a rate limit's state", {"RATE.WINDOW", NOT_STATE, "1", "60"}},
    {"ERR the key does not hold a rate limit's state", {"RATE.WINDOW.INFO", NOT_STATE, "1"}},
    {"ERR the key does not hold a rate limit's state", {"RATE.ALL", "1", NOT_STATE, "WINDOW", "1", "60"}},
    {"ERR the key does not hold a rate limit's state",
     {"RATE.ALL", "2", "bad:w", NOT_STATE, "WINDOW", "5", "600", "THROTTLE", "1", "1", "60"}},
    /* RATE.ALL's numkeys, keys and limits */
    {"ERR invalid numkeys", {"RATE.ALL", "0", "bad:new", "THROTTLE", "1", "1", "60"}},
    {"ERR invalid numkeys", {"RATE.ALL", "-1", "bad:new", "THROTTLE", "1", "1", "60"}},
    {"ERR invalid numkeys", {"RATE.ALL", "65", "bad:new", "THROTTLE", "1", "1", "60"}},
    {"ERR invalid numkeys", {"RATE.ALL", "x", "bad:new", "THROTTLE", "1", "1", "60"}},
    {"ERR numkeys is more than the keys given", {"RATE.ALL", "4", "bad:a", "bad:b", "bad:c"}},
    {"ERR numkeys is more than the keys given", {"RATE.ALL", "64", "bad:a", "THROTTLE", "1", "1", "60"}},
    {"ERR duplicate key",
     {"RATE.ALL", "2", "bad:new", "bad:new", "THROTTLE", "1", "1", "60", "THROTTLE", "1", "1", "60"}},
    {"ERR duplicate key", {"RATE.ALL", "3", "bad:t", "bad:w", "bad:t", "THROTTLE", "5", "1", "600", "WINDOW", "5",
                           "600", "THROTTLE", "5", "1", "600"}},
    {"ERR syntax error", {"RATE.ALL", "2", "bad:a", "bad:b", "THROTTLE", "1", "1", "60"}},  /* a limit missing */
    {"ERR syntax error", {"RATE.ALL", "3", "bad:a", "bad:b", "THROTTLE", "1", "1", "60"}},  /* "THROTTLE" a key */
    {"ERR syntax error", {"RATE.ALL", "1", "bad:a", "THROTTLE", "1", "1", "60", "WINDOW", "1", "60"}}, /* extra */
    {"ERR syntax error", {"RATE.ALL", "1", "bad:a", "THROTTLE", "1", "1", "60", "1", "MS", "2"}},
    {"ERR syntax error", {"RATE.ALL", "1", "bad:a", "LIMIT", "1", "1", "60"}},
    {"ERR syntax error", {"RATE.ALL", "1", "bad:a", "1", "1", "60"}},
    {"ERR syntax error", {"RATE.ALL", "2", "bad:t", "bad:w", "THROTTLE", "5", "1", "600", "1", "QUOTA", "5", "600"}},
    /* a word after a throttle's period that is not MS, THROTTLE or WINDOW reads as its quantity */
    {"ERR invalid quantity", {"RATE.ALL", "2", "bad:t", "bad:w", "THROTTLE", "5", "1", "600", "QUOTA", "5", "600"}},
    /* a limit's own errors inside RATE.ALL */
    {"ERR invalid max_burst", {"RATE.ALL", "1", "bad:new", "THROTTLE", "-1", "1", "60"}},
    {"ERR invalid count",
     {"RATE.ALL", "2", "bad:t", "bad:new", "THROTTLE", "5", "1", "600", "THROTTLE", "1", "0", "60"}},
    {"ERR invalid quantity", {"RATE.ALL", "1", "bad:new", "THROTTLE", "0", "1", "60", "2"}},
    {"ERR invalid rate", {"RATE.ALL", "1", "bad:new", "THROTTLE", "0", "2000000000", "1"}},
    {"ERR invalid quota", {"RATE.ALL", "2", "bad:new", "bad:w", "THROTTLE", "0", "1", "60", "WINDOW", "0", "600"}},
    {"ERR invalid period", {"RATE.ALL", "1", "bad:new", "WINDOW", "1", "1000000000001", "MS"}},
};

/* bad:t a used throttle, bad:w a used window (both with an expiry), a list, a hash and strings that
 * are not a state; bad:new, bad:a, bad:b, bad:c do not exist. */
static void make_bad_input_fixture(redisContext *c)
{
    redisReply *r = sg_command(c, "RATE.THROTTLE bad:t 5 1 600 2");
    long long f[5];
    assert_true(throttle_fields(r, f) && f[0] == 0);
    freeReplyObject(r);
    assert_int_equal(sg_command_integer(c, "RATE.WINDOW bad:w 5 600"), 1);
    sg_command_integer(c, "RPUSH bad:list a b");
    sg_command_integer(c, "HSET bad:hash f v");
    sg_command_status(c, "OK", "SET bad:abc abc");
    sg_command_status(c, "OK", "SET bad:neg -5");
    sg_command_status(c, "OK", "SET bad:float 1.5");
    sg_command_status(c, "OK", "SET bad:empty %s", "");
}

/* The states' values and the key count: a picture that does not rely on DEBUG DIGEST. */
static char *fixture_picture(redisContext *c)
{
    char *t = get_value(c, "bad:t"), *w = get_value(c, "bad:w");
    char *out = malloc(256);
    assert_non_null(out);
    snprintf(out, 256, "t=%s w=%s keys=%lld new=%lld", t ? t : "(nil)", w ? w : "(nil)",
             sg_command_integer(c, "DBSIZE"), sg_exists(c, "bad:new"));
    free(t);
    free(w);
    return out;
}

#define LIST(placeholder, values) {placeholder, values, sizeof(values) / sizeof(values[0])}

static void bad_input_is_rejected_with_a_coded_error_and_changes_nothing(void **state)
{
    (void)state;
    static const char *const codes[] = {"ERR ", "WRONGTYPE ", NULL};
    const sg_bad_value_list lists[] = {
        LIST(BAD_BURST, bad_bursts),   LIST(BAD_COUNT, bad_counts), LIST(BAD_PERIOD, bad_periods),
        LIST(BAD_PERIOD_MS, bad_periods_ms), LIST(BAD_QUOTA, bad_quotas), LIST(NOT_STATE, not_state_keys),
    };
    const sg_bad_input_hooks hooks = {
        .make_fixture = make_bad_input_fixture,
        .picture = fixture_picture,
        .codes = codes,
        .lists = lists,
        .list_count = sizeof(lists) / sizeof(lists[0]),
        .max_ms = 2000,
    };
    sg_check_bad_inputs(sg_conn, bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]), &hooks);
}

/* ---- COMMAND INFO, COMMAND DOCS, COMMAND GETKEYS ------------------------------------------- */

/* name, write, denyoom, fast, arity, skip_flags */
static const sg_command_spec key_one_commands[] = {
    {"rate.throttle", 1, 1, 1, -5, 0},
    {"rate.window", 1, 1, 1, -4, 0},
    {"rate.window.info", 0, 0, 1, 3, 0},
};
#define KEY_ONE_COUNT (sizeof(key_one_commands) / sizeof(key_one_commands[0]))

static void command_info_gives_the_single_key_commands_their_flags_arity_and_key(void **state)
{
    (void)state;
    sg_assert_command_info(sg_conn, key_one_commands, KEY_ONE_COUNT);
    /* the key specs: the state is read and updated by the writers, only read by INFO */
    static const char *const key_flags[KEY_ONE_COUNT][3] = {
        {"RW", "access", "update"}, {"RW", "access", "update"}, {"RO", "access", NULL}};
    for (size_t i = 0; i < KEY_ONE_COUNT; i++) {
        redisReply *r = sg_command(sg_conn, "COMMAND INFO %s", key_one_commands[i].name);
        const redisReply *e = r->type == REDIS_REPLY_ARRAY && r->elements == 1 ? r->element[0] : NULL;
        const redisReply *specs = e != NULL && e->type == REDIS_REPLY_ARRAY && e->elements >= 9 ? e->element[8] : NULL;
        const redisReply *ks = specs != NULL && specs->type == REDIS_REPLY_ARRAY && specs->elements == 1
                                   ? specs->element[0]
                                   : NULL;
        char problem[200] = "";
        if (ks == NULL) snprintf(problem, sizeof(problem), "not one key spec");
        for (int f = 0; problem[0] == '\0' && f < 3 && key_flags[i][f] != NULL; f++)
            if (!sg_list_has_word(sg_map_get(ks, "flags"), key_flags[i][f]))
                snprintf(problem, sizeof(problem), "the key spec lacks %s", key_flags[i][f]);
        if (problem[0] == '\0' && e != NULL && sg_list_has_word(e->element[2], "movablekeys"))
            snprintf(problem, sizeof(problem), "movablekeys");
        freeReplyObject(r);
        if (problem[0] != '\0') fail_msg("COMMAND INFO %s: %s", key_one_commands[i].name, problem);
    }
}

static void command_info_of_rate_all_declares_numkeys_keys_write_denyoom_not_fast(void **state)
{
    (void)state;
    redisReply *r = sg_command(sg_conn, "COMMAND INFO rate.all");
    assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    const redisReply *e = r->element[0];
    char problem[300] = "";
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 9) {
        snprintf(problem, sizeof(problem), "no entry");
    } else if (!sg_reply_is_text(e->element[0], "rate.all") || e->element[1]->integer != -5) {
        snprintf(problem, sizeof(problem), "name or arity (%lld, expected -5)", e->element[1]->integer);
    } else if (!sg_list_has_word(e->element[2], "write") || !sg_list_has_word(e->element[2], "denyoom") ||
               sg_list_has_word(e->element[2], "readonly") || sg_list_has_word(e->element[2], "fast")) {
        snprintf(problem, sizeof(problem), "flags are not write denyoom (without fast)");
    } else if (!sg_list_has_word(e->element[2], "movablekeys")) {
        snprintf(problem, sizeof(problem), "no movablekeys flag for keys counted by numkeys");
    } else {
        const redisReply *specs = e->element[8];
        const redisReply *ks = specs->type == REDIS_REPLY_ARRAY && specs->elements == 1 ? specs->element[0] : NULL;
        const redisReply *begin = sg_map_get(ks, "begin_search");
        const redisReply *find = sg_map_get(ks, "find_keys");
        if (ks == NULL || !sg_reply_is_text(sg_map_get(begin, "type"), "index") ||
            sg_map_integer(sg_map_get(begin, "spec"), "index") != 1) {
            snprintf(problem, sizeof(problem), "no single key spec beginning at index 1 (numkeys)");
        } else if (!sg_reply_is_text(sg_map_get(find, "type"), "keynum") ||
                   sg_map_integer(sg_map_get(find, "spec"), "keynumidx") != 0 ||
                   sg_map_integer(sg_map_get(find, "spec"), "firstkey") != 1 ||
                   sg_map_integer(sg_map_get(find, "spec"), "keystep") != 1) {
            snprintf(problem, sizeof(problem), "the key spec is not keynum 0 1 1");
        } else if (!sg_list_has_word(sg_map_get(ks, "flags"), "RW") || !sg_list_has_word(sg_map_get(ks, "flags"), "update")) {
            snprintf(problem, sizeof(problem), "the key spec is not RW update");
        }
    }
    freeReplyObject(r);
    if (problem[0] != '\0') fail_msg("COMMAND INFO rate.all: %s", problem);
}

static void command_docs_describe_every_rate_command_since_0_5_0(void **state)
{
    (void)state;
    sg_assert_command_docs(sg_conn, key_one_commands, KEY_ONE_COUNT);
    static const char *const names[] = {"rate.throttle", "rate.window", "rate.window.info", "rate.all"};
    /* the argument names, in order */
    static const char *const args[4][6] = {
        {"key", "max_burst", "count", "period", "quantity", "ms"},
        {"key", "quota", "period", "align", "ms", NULL},
        {"key", "quota", NULL},
        {"numkeys", "key", "throttle", "window", NULL},
    };
    for (size_t i = 0; i < 4; i++) {
        /* one command per call: hiredis 0.14 parses at most 7 levels of nesting */
        redisReply *r = sg_command(sg_conn, "COMMAND DOCS %s", names[i]);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        const redisReply *doc = sg_map_get(r, names[i]);
        const redisReply *summary = sg_map_get(doc, "summary");
        const redisReply *complexity = sg_map_get(doc, "complexity");
        const redisReply *arguments = sg_map_get(doc, "arguments");
        char problem[200] = "";
        size_t want = 0;
        while (want < 6 && args[i][want] != NULL) want++;
        if (summary == NULL || summary->type != REDIS_REPLY_STRING || summary->len == 0) {
            snprintf(problem, sizeof(problem), "no summary");
        } else if (complexity == NULL || complexity->type != REDIS_REPLY_STRING || complexity->len == 0) {
            snprintf(problem, sizeof(problem), "no complexity");
        } else if (!sg_reply_is_text(sg_map_get(doc, "since"), "0.5.0")) {
            snprintf(problem, sizeof(problem), "since is not 0.5.0");
        } else if (arguments == NULL || arguments->type != REDIS_REPLY_ARRAY || arguments->elements != want) {
            snprintf(problem, sizeof(problem), "not %zu arguments", want);
        } else {
            for (size_t a = 0; a < want && problem[0] == '\0'; a++)
                if (!sg_reply_is_text(sg_map_get(arguments->element[a], "name"), args[i][a]))
                    snprintf(problem, sizeof(problem), "argument %zu is not %s", a + 1, args[i][a]);
        }
        if (problem[0] == '\0' && i == 3) {
            const redisReply *key = arguments->element[1];
            if (!sg_reply_is_text(sg_map_get(key, "type"), "key") || sg_map_integer(key, "key_spec_index") != 0 ||
                !sg_list_has_word(sg_map_get(key, "flags"), "multiple"))
                snprintf(problem, sizeof(problem), "the keys are not a multiple key argument of key spec 0");
            for (size_t b = 2; b < 4 && problem[0] == '\0'; b++) {
                const redisReply *block = arguments->element[b];
                if (!sg_reply_is_text(sg_map_get(block, "type"), "block") ||
                    !sg_reply_is_text(sg_map_get(block, "token"), b == 2 ? "THROTTLE" : "WINDOW"))
                    snprintf(problem, sizeof(problem), "argument %zu is not a THROTTLE/WINDOW block", b + 1);
            }
        }
        if (problem[0] == '\0' && i < 2) {
            /* the optional words are tokens */
            const redisReply *last = arguments->element[want - 1];
            if (!sg_reply_is_text(sg_map_get(last, "token"), "MS") || !sg_list_has_word(sg_map_get(last, "flags"), "optional"))
                snprintf(problem, sizeof(problem), "the last argument is not the optional token MS");
        }
        freeReplyObject(r);
        if (problem[0] != '\0') fail_msg("COMMAND DOCS %s: %s", names[i], problem);
    }
}

/* COMMAND GETKEYS of `line` must answer exactly the keys `want` (NULL-terminated). */
static void assert_getkeys(const char *line, const char *const *want)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "COMMAND GETKEYS %s", line);
    redisReply *r = run(sg_conn, cmd);
    size_t n = 0;
    while (want[n] != NULL) n++;
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == n;
    for (size_t i = 0; ok && i < n; i++) ok = sg_reply_is_text(r->element[i], want[i]);
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    freeReplyObject(r);
    if (!ok) fail_msg("COMMAND GETKEYS %s: got %s", line, got);
}

static void command_getkeys_names_the_keys_of_every_rate_command(void **state)
{
    (void)state;
    static const char *const a_b[] = {"a", "b", NULL};
    static const char *const k[] = {"k", NULL};
    static const char *const x_y_z[] = {"x", "y", "z", NULL};
    assert_getkeys("RATE.ALL 2 a b THROTTLE 1 1 1 WINDOW 1 1", a_b);
    assert_getkeys("RATE.ALL 3 x y z WINDOW 1 1 ALIGN THROTTLE 1 1 1 0 MS WINDOW 2 2", x_y_z);
    assert_getkeys("RATE.THROTTLE k 15 30 60", k);
    assert_getkeys("RATE.THROTTLE k 15 30 60 1 MS", k);
    assert_getkeys("RATE.WINDOW k 3 60 ALIGN", k);
    assert_getkeys("RATE.WINDOW.INFO k 3", k);
}

/* ---- INFO slotguard_rate -------------------------------------------------------------------- */

static const char *const counters[] = {
    "slotguard_rate_throttle_allowed", "slotguard_rate_throttle_limited", "slotguard_rate_throttle_peeks",
    "slotguard_rate_window_allowed",   "slotguard_rate_window_last",      "slotguard_rate_window_over",
    "slotguard_rate_all_allowed",      "slotguard_rate_all_refused",
};
#define COUNTER_COUNT (sizeof(counters) / sizeof(counters[0]))
enum { T_ALLOWED, T_LIMITED, T_PEEKS, W_ALLOWED, W_LAST, W_OVER, A_ALLOWED, A_REFUSED, NO_COUNTER = -1 };

/* Every counter, from the slotguard_rate section; fails when the section or a counter is missing. */
static void read_counters(long long *out)
{
    redisReply *r = sg_command(sg_conn, "INFO slotguard_rate");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    int has_section = strstr(r->str, "# slotguard_rate") != NULL;
    for (size_t i = 0; i < COUNTER_COUNT; i++) {
        out[i] = -1;
        size_t len = strlen(counters[i]);
        for (const char *p = r->str; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
            if (strncmp(p, counters[i], len) == 0 && p[len] == ':') {
                out[i] = strtoll(p + len + 1, NULL, 10);
                break;
            }
        }
    }
    freeReplyObject(r);
    if (!has_section) fail_msg("INFO has no section slotguard_rate");
    for (size_t i = 0; i < COUNTER_COUNT; i++)
        if (out[i] < 0) fail_msg("INFO slotguard_rate has no %s", counters[i]);
}

typedef struct counted_call {
    const char *line;
    int counter; /* the one counter that grows by one, or NO_COUNTER (an error) */
} counted_call;

static void info_slotguard_rate_counts_each_outcome_by_exactly_one(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "RPUSH l x");
    static const counted_call calls[] = {
        {"RATE.THROTTLE t 1 1 60", T_ALLOWED},
        {"RATE.THROTTLE t 1 1 60", T_ALLOWED},
        {"RATE.THROTTLE t 1 1 60", T_LIMITED},
        {"RATE.THROTTLE t 1 1 60 0", T_PEEKS},
        {"RATE.THROTTLE fresh 1 1 60 0 MS", T_PEEKS},
        {"RATE.WINDOW w 2 60", W_ALLOWED},
        {"RATE.WINDOW w 2 60", W_LAST},
        {"RATE.WINDOW w 2 60", W_OVER},
        {"RATE.WINDOW one 1 60 ALIGN", W_LAST},
        {"RATE.WINDOW.INFO w 2", NO_COUNTER},
        {"RATE.ALL 2 a b THROTTLE 1 1 60 WINDOW 3 60", A_ALLOWED},
        {"RATE.ALL 2 a w THROTTLE 1 1 60 WINDOW 2 60", A_REFUSED},
        {"RATE.ALL 2 t c THROTTLE 1 1 60 WINDOW 2 60", A_REFUSED},
        {"RATE.THROTTLE l 1 1 60", NO_COUNTER},
        {"RATE.THROTTLE e 1 0 60", NO_COUNTER},
        {"RATE.THROTTLE e 1 1 60 3", NO_COUNTER},
        {"RATE.WINDOW l 1 60", NO_COUNTER},
        {"RATE.WINDOW e 0 60", NO_COUNTER},
        {"RATE.ALL 2 e l THROTTLE 1 1 60 WINDOW 2 60", NO_COUNTER},
        {"RATE.ALL 2 e e THROTTLE 1 1 60 WINDOW 2 60", NO_COUNTER},
    };
    long long before[COUNTER_COUNT], after[COUNTER_COUNT];
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        read_counters(before);
        freeReplyObject(run(sg_conn, calls[i].line));
        read_counters(after);
        for (size_t k = 0; k < COUNTER_COUNT; k++) {
            long long want = (int)k == calls[i].counter ? 1 : 0;
            if (after[k] - before[k] != want)
                fail_msg("%s moved %s by %lld, expected %lld", calls[i].line, counters[k], after[k] - before[k], want);
        }
    }
}

/* ---- keyspace notifications ----------------------------------------------------------------- */

/* The next keyspace message's event on `sub` (a "message" of a SUBSCRIBE), malloc'ed. */
static char *next_event(redisContext *sub, const char *channel, const char *what)
{
    redisReply *r = sg_receive_reply(sub, 2000, what);
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3 && sg_reply_is_text(r->element[0], "message") &&
             sg_reply_is_text(r->element[1], channel) && r->element[2]->type == REDIS_REPLY_STRING;
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    char *event = ok ? strndup(r->element[2]->str, r->element[2]->len) : NULL;
    freeReplyObject(r);
    if (!ok) fail_msg("%s: expected a message on %s, got %s", what, channel, got);
    return event;
}

static void assert_next_event(redisContext *sub, const char *channel, const char *want, const char *what)
{
    char *event = next_event(sub, channel, what);
    char shown[64];
    snprintf(shown, sizeof(shown), "%s", event);
    int ok = strcmp(event, want) == 0;
    free(event);
    if (!ok) fail_msg("%s: the event on %s was \"%s\", expected \"%s\"", what, channel, shown, want);
}

static int notifications_teardown(void **state)
{
    freeReplyObject(sg_command(sg_conn, "CONFIG SET notify-keyspace-events %s", ""));
    return sg_group_close_clients(state);
}

/* PUBLISH a marker on the key's channel: it reaches the subscriber after every event published
 * before it, so "the next message is the marker" means nothing was published in between. */
static void assert_nothing_published_since(redisContext *sub, const char *channel, const char *marker,
                                           const char *what)
{
    assert_int_equal(sg_command_integer(sg_conn, "PUBLISH %s %s", channel, marker), 1);
    assert_next_event(sub, channel, marker, what);
}

static void allowed_calls_notify_set_and_refused_calls_or_peeks_notify_nothing(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "CONFIG SET notify-keyspace-events K$");
    redisContext *sub = sg_group_open_client();
    const char *channel = "__keyspace@0__:n";
    redisReply *r = sg_command(sub, "SUBSCRIBE %s", channel);
    assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 3 && sg_reply_is_text(r->element[0], "subscribe"));
    freeReplyObject(r);
    long long f[5];
    throttle("RATE.THROTTLE n 0 1 60", f);
    assert_int_equal(f[0], 0);
    assert_next_event(sub, channel, "set", "an allowed RATE.THROTTLE");
    throttle("RATE.THROTTLE n 0 1 60", f);
    assert_int_equal(f[0], 1);
    assert_nothing_published_since(sub, channel, "after-limited", "a limited RATE.THROTTLE");
    throttle("RATE.THROTTLE n 0 1 60 0", f);
    assert_nothing_published_since(sub, channel, "after-peek", "a peeking RATE.THROTTLE");
    /* DEL is a generic event, outside K$ */
    sg_command_integer(sg_conn, "DEL n");
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW n 1 60"), 2);
    assert_next_event(sub, channel, "set", "an allowed RATE.WINDOW");
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW n 1 60"), 0);
    freeReplyObject(run(sg_conn, "RATE.ALL 1 n WINDOW 1 60"));
    assert_nothing_published_since(sub, channel, "after-over", "an over-quota RATE.WINDOW and RATE.ALL");
    sg_command_integer(sg_conn, "DEL n");
    freeReplyObject(run(sg_conn, "RATE.ALL 1 n THROTTLE 0 1 60"));
    assert_next_event(sub, channel, "set", "an allowed RATE.ALL");
    assert_nothing_published_since(sub, channel, "end", "one allowed RATE.ALL");
}

/* ---- main ----------------------------------------------------------------------------------- */

#define RATE_TEST(name) cmocka_unit_test_setup(name, sg_group_flush)

int main(void)
{
    const struct CMUnitTest tests[] = {
        RATE_TEST(throttle_replies_are_cl_throttle_s_five_integers_case_by_case),
        RATE_TEST(throttle_peek_with_quantity_zero_leaves_the_key_as_it_was),
        RATE_TEST(throttle_limited_call_leaves_the_key_as_it_was),
        RATE_TEST(throttle_state_is_a_string_holding_the_tat_in_ns_with_pttl_of_reset_after),
        RATE_TEST(throttle_key_vanishes_by_itself_when_the_bucket_is_full_again),
        RATE_TEST(window_replies_1_1_2_then_0_and_info_shows_the_quota_used),
        RATE_TEST(window_restarts_counting_at_1_after_the_window_ends),
        RATE_TEST(window_align_ends_on_a_whole_multiple_of_the_period),
        RATE_TEST(window_without_align_ends_one_period_after_its_first_call),
        RATE_TEST(all_allowed_consumes_every_limit),
        RATE_TEST(all_refused_by_a_full_window_consumes_nothing_from_any_limit),
        RATE_TEST(all_refused_by_a_throttle_counts_no_window),
        RATE_TEST(calls_that_change_nothing_leave_rdb_changes_and_allowed_calls_raise_it),
        RATE_TEST(bad_input_is_rejected_with_a_coded_error_and_changes_nothing),
        RATE_TEST(command_info_gives_the_single_key_commands_their_flags_arity_and_key),
        RATE_TEST(command_info_of_rate_all_declares_numkeys_keys_write_denyoom_not_fast),
        RATE_TEST(command_docs_describe_every_rate_command_since_0_5_0),
        RATE_TEST(command_getkeys_names_the_keys_of_every_rate_command),
        RATE_TEST(info_slotguard_rate_counts_each_outcome_by_exactly_one),
        cmocka_unit_test_setup_teardown(allowed_calls_notify_set_and_refused_calls_or_peeks_notify_nothing,
                                        sg_group_flush, notifications_teardown),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
