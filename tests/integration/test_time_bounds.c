/* test_time_bounds.c -- every time value the module accepts, at its bounds, against a real
 * redis-server with the module loaded.
 *
 * For each command argument that is a time (README.md states its range): the largest accepted
 * value works and gives the lease, TTL or reply README promises; the next value up, 0 and negative
 * values are refused with the documented error and change nothing (DEBUG DIGEST and the key's
 * PEXPIRETIME are compared). Then times that come from elsewhere, up to INT64_MAX: key expiries set
 * with PEXPIREAT on keys of every family, a rate-limit state holding the largest TAT, deadlines
 * carried through DEBUG RELOAD, DUMP/RESTORE (also a payload whose deadline is negative) and an
 * AOF rewrite without RDB preamble. The lock's waiting at far deadlines is test_lock_time_edges.c's.
 *
 * One server for the group (FLUSHALL before each test); the AOF test starts one of its own. Every
 * wait is bounded; nothing here blocks (a WAIT on a held lock runs inside MULTI, as a single try). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raw_commands.h"

#define MAX_MS 1000000000000LL   /* lock ttl and WAIT, IDEMP.BEGIN lease, RATE periods with MS */
#define MAX_S 1000000000LL       /* IDEMP.SETNX / IDEMP.COMPLETE ttl, RATE periods in seconds */
#define FAR "9223372036854775807" /* INT64_MAX: the largest deadline or expiry */
#define SLACK_MS 60000LL          /* what a slow machine may spend between a command and its check */

/* ---- helpers ------------------------------------------------------------------------------------ */

static long long unix_ms(void) { return sg_unix_us() / 1000; }

static void assert_between(const char *what, long long value, long long lo, long long hi)
{
    if (value < lo || value > hi) fail_msg("%s is %lld, expected %lld .. %lld", what, value, lo, hi);
}

/* A ttl read now for a deadline of INT64_MAX: INT64_MAX - now, give or take the test's own time. */
static void assert_far_ttl(const char *what, long long ttl)
{
    long long now = unix_ms();
    assert_between(what, ttl, INT64_MAX - now - SLACK_MS, INT64_MAX - now + SLACK_MS);
}

static long long pexpiretime(const char *key) { return sg_command_integer(sg_conn, "PEXPIRETIME %s", key); }

static void assert_responsive(void) { sg_command_status(sg_conn, "PONG", "PING"); }

/* Run a command that must be refused with an error starting with `prefix`, and check that it
 * changed nothing: the dataset's digest and `key`'s absolute expiry are what they were. */
static void assert_refused(const char *key, const char *prefix, const char *fmt, ...)
{
    char *before = sg_debug_digest(sg_conn);
    long long expire_before = pexpiretime(key);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(sg_conn, fmt, ap);
    va_end(ap);
    if (r == NULL) fail_msg("the connection broke on \"%s\": %s", fmt, sg_conn->errstr);
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    int ok = r->type == REDIS_REPLY_ERROR && strncmp(r->str, prefix, strlen(prefix)) == 0;
    freeReplyObject(r);
    if (!ok) fail_msg("\"%s\" (key %s): expected an error starting \"%s\", got %s", fmt, key, prefix, got);
    char *after = sg_debug_digest(sg_conn);
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("\"%s\" was refused but changed the dataset", fmt);
    assert_int_equal(pexpiretime(key), expire_before);
}

/* The values just past a range [1, max] (as text): 0, -1, max + 1, and past 64 bits. */
static void assert_range_refused(const char *key, const char *prefix, const char *before_arg, long long max,
                                 const char *after_arg)
{
    char over[32];
    snprintf(over, sizeof(over), "%lld", max + 1);
    const char *values[] = {"0", "-1", over, "9223372036854775808", "1.5", "x"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char line[400];
        snprintf(line, sizeof(line), "%s %s %s", before_arg, values[i], after_arg);
        assert_refused(key, prefix, line);
    }
}

static void throttle_reply(redisReply *r, long long out[5], const char *what)
{
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 5;
    for (size_t i = 0; ok && i < 5; i++) {
        ok = r->element[i]->type == REDIS_REPLY_INTEGER;
        if (ok) out[i] = r->element[i]->integer;
    }
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    freeReplyObject(r);
    if (!ok) fail_msg("%s: expected five integers, got %s", what, got);
}

static void window_info(const char *key, long long quota, long long out[4])
{
    redisReply *r = sg_command(sg_conn, "RATE.WINDOW.INFO %s %lld", key, quota);
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 4;
    for (size_t i = 0; ok && i < 4; i++) {
        ok = r->element[i]->type == REDIS_REPLY_INTEGER;
        if (ok) out[i] = r->element[i]->integer;
    }
    freeReplyObject(r);
    if (!ok) fail_msg("RATE.WINDOW.INFO %s: expected four integers", key);
}

/* ---- locks: ttl, WAIT timeout, LOCK.GRANT deadline ------------------------------------------------ */

static void lock_ttl_of_10_to_the_12_ms_is_the_lease_and_anything_beyond_is_refused(void **state)
{
    (void)state;
    assert_true(raw_lock_acquire(sg_conn, "l", "a", MAX_MS) > 0);
    assert_between("PTTL after LOCK.ACQUIRE ttl 10^12", sg_pttl(sg_conn, "l"), MAX_MS - SLACK_MS, MAX_MS);
    assert_between("LOCK.INFO ttl", raw_lock_info_of(sg_conn, "l").ttl, MAX_MS - SLACK_MS, MAX_MS);
    assert_int_equal(raw_lock_extend(sg_conn, "l", "a", MAX_MS), 1);
    assert_between("PTTL after LOCK.EXTEND ttl 10^12", sg_pttl(sg_conn, "l"), MAX_MS - SLACK_MS, MAX_MS);
    /* the holder's refresh, an extend and a new lock: refused, the lease as it was */
    assert_range_refused("l", "ERR invalid ttl", "LOCK.ACQUIRE l a", MAX_MS, "");
    assert_range_refused("l", "ERR invalid ttl", "LOCK.EXTEND l a", MAX_MS, "");
    assert_range_refused("n", "ERR invalid ttl", "LOCK.ACQUIRE n a", MAX_MS, "");
    assert_int_equal(sg_exists(sg_conn, "n"), 0);
    assert_responsive();
}

static void lock_wait_of_10_to_the_12_ms_is_accepted_and_anything_beyond_is_refused_at_once(void **state)
{
    (void)state;
    /* free: granted at once, the lease is the ttl (not the wait) */
    long long token = sg_command_integer(sg_conn, "LOCK.ACQUIRE l a 5000 WAIT %lld", MAX_MS);
    assert_true(token > 0);
    assert_between("PTTL", sg_pttl(sg_conn, "l"), 1, 5000);
    /* held by another: inside MULTI the wait is a single try, answered nil */
    sg_command_status(sg_conn, "OK", "MULTI");
    sg_command_status(sg_conn, "QUEUED", "LOCK.ACQUIRE l b 5000 WAIT %lld", MAX_MS);
    redisReply *r = sg_command(sg_conn, "EXEC");
    assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_NIL);
    freeReplyObject(r);
    /* refused before anything blocks: the error comes at once, the holder keeps its lease */
    int64_t started = sg_now_ms();
    assert_range_refused("l", "ERR invalid timeout", "LOCK.ACQUIRE l b 5000 WAIT", MAX_MS, "");
    assert_range_refused("l", "ERR invalid timeout", "LOCK.ACQUIRE l a 5000 WAIT", MAX_MS, "REENTRANT");
    assert_true(sg_now_ms() - started < 5000);
    raw_lock_assert_held_by(sg_conn, "l", "a");
    assert_int_equal(raw_lock_info_of(sg_conn, "l").waiters, 0);
}

static void lock_grant_deadline_of_int64_max_is_the_key_s_expiry_and_beyond_is_refused(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "LOCK.GRANT l a 7 " FAR);
    assert_int_equal(pexpiretime("l"), INT64_MAX);
    raw_lock_info info = raw_lock_info_of(sg_conn, "l");
    assert_int_equal(info.token, 7);
    assert_far_ttl("LOCK.INFO ttl after LOCK.GRANT deadline INT64_MAX", info.ttl);
    assert_far_ttl("PTTL", sg_pttl(sg_conn, "l"));
    assert_refused("l", "ERR invalid deadline", "LOCK.GRANT l b 8 9223372036854775808");
    assert_refused("l", "ERR invalid deadline", "LOCK.GRANT l b 8 0");
    assert_refused("l", "ERR invalid deadline", "LOCK.GRANT l b 8 -1");
    assert_refused("l", "ERR invalid deadline", "LOCK.GRANT l b 8 -9223372036854775808");
    /* the smallest deadline is accepted and long past: the lock is free at once */
    sg_command_status(sg_conn, "OK", "LOCK.GRANT p a 9 1");
    raw_lock_assert_free(sg_conn, "p");
    assert_responsive();
}

/* ---- idempotency: SETNX ttl, BEGIN lease, COMPLETE ttl, RECORD deadline --------------------------- */

static void idemp_setnx_ttl_of_10_to_the_9_s_is_the_key_s_ttl_and_beyond_is_refused(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX m %lld", MAX_S), 1);
    assert_between("PTTL after IDEMP.SETNX ttl 10^9 s", sg_pttl(sg_conn, "m"), MAX_S * 1000 - SLACK_MS, MAX_S * 1000);
    assert_between("TTL", sg_command_integer(sg_conn, "TTL m"), MAX_S - SLACK_MS / 1000, MAX_S);
    assert_range_refused("n", "ERR invalid ttl", "IDEMP.SETNX n", MAX_S, "v");
    assert_range_refused("m", "ERR invalid ttl", "IDEMP.SETNX m", MAX_S, "");
    assert_int_equal(sg_exists(sg_conn, "n"), 0);
}

static void idemp_begin_lease_and_complete_ttl_at_their_largest_and_beyond(void **state)
{
    (void)state;
    assert_range_refused("r", "ERR invalid lease", "IDEMP.BEGIN r fp", MAX_MS, "");
    assert_int_equal(sg_exists(sg_conn, "r"), 0);
    long long token = raw_idemp_begin_new(sg_conn, "r", "fp", MAX_MS);
    raw_idemp_assert_record(sg_conn, "r", "in_progress", "fp", 2, token, MAX_MS - SLACK_MS, MAX_MS, NULL, 0);
    /* a bad ttl leaves the record in progress with its lease */
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "IDEMP.COMPLETE r %lld resp", token);
    assert_range_refused("r", "ERR invalid ttl", prefix, MAX_S, "");
    raw_idemp_assert_record(sg_conn, "r", "in_progress", "fp", 2, token, MAX_MS - SLACK_MS, MAX_MS, NULL, 0);
    assert_int_equal(raw_idemp_complete(sg_conn, "r", token, "resp", MAX_S), 1);
    raw_idemp_assert_record(sg_conn, "r", "completed", "fp", 2, token, MAX_S * 1000 - SLACK_MS, MAX_S * 1000, "resp", 4);
    raw_idemp_begin_completed(sg_conn, "r", "fp", "resp");
}

static void idemp_record_deadline_of_int64_max_is_the_ttl_of_both_states_and_beyond_is_refused(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "IDEMP.RECORD p in_progress fp 5 " FAR);
    sg_command_status(sg_conn, "OK", "IDEMP.RECORD c completed fp 6 " FAR " done");
    assert_int_equal(pexpiretime("p"), INT64_MAX);
    assert_int_equal(pexpiretime("c"), INT64_MAX);
    raw_idemp_record p = raw_idemp_get(sg_conn, "p"), c = raw_idemp_get(sg_conn, "c");
    assert_far_ttl("IDEMP.GET ttl (in progress)", p.ttl);
    assert_far_ttl("IDEMP.GET ttl (completed)", c.ttl);
    raw_idemp_record_free(&p);
    raw_idemp_record_free(&c);
    assert_far_ttl("IDEMP.BEGIN in_progress remaining lease", raw_idemp_begin_in_progress(sg_conn, "p", "fp", 1000));
    raw_idemp_begin_completed(sg_conn, "c", "fp", "done");
    const char *bad[] = {"9223372036854775808", "0", "-1", "-9223372036854775808", "x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused("p", "ERR invalid deadline", "IDEMP.RECORD p in_progress fp 7 %s", bad[i]);
        assert_refused("c", "ERR invalid deadline", "IDEMP.RECORD c completed fp 7 %s other", bad[i]);
    }
    /* the owner completes with an ordinary ttl: the far expiry is replaced */
    assert_int_equal(raw_idemp_complete(sg_conn, "p", 5, "ok", 60), 1);
    assert_between("PTTL after IDEMP.COMPLETE ttl 60", sg_pttl(sg_conn, "p"), 60000 - SLACK_MS, 60000);
}

/* ---- rate limits: periods and the bucket ---------------------------------------------------------- */

static void throttle_period_of_10_to_the_9_s_or_10_to_the_12_ms_is_the_reset_and_beyond_is_refused(void **state)
{
    (void)state;
    long long f[5];
    throttle_reply(sg_command(sg_conn, "RATE.THROTTLE s 0 1 %lld", MAX_S), f, "RATE.THROTTLE period 10^9");
    assert_true(f[0] == 0 && f[1] == 1 && f[2] == 0 && f[3] == -1 && f[4] == MAX_S);
    /* the state expires at the TAT rounded up to a whole ms: up to 1 ms past the period */
    assert_between("PTTL of the state", sg_pttl(sg_conn, "s"), MAX_S * 1000 - SLACK_MS, MAX_S * 1000 + 1);
    throttle_reply(sg_command(sg_conn, "RATE.THROTTLE ms 0 1 %lld MS", MAX_MS), f, "RATE.THROTTLE period 10^12 MS");
    assert_true(f[0] == 0 && f[1] == 1 && f[2] == 0 && f[3] == -1 && f[4] == MAX_MS);
    assert_between("PTTL of the MS state", sg_pttl(sg_conn, "ms"), MAX_MS - SLACK_MS, MAX_MS + 1);
    /* refused: also on a key holding a state (a limited call would not write either, so the
     * digest tells a refusal from nothing only with a fresh key too) */
    assert_range_refused("s", "ERR invalid period", "RATE.THROTTLE s 0 1", MAX_S, "");
    assert_range_refused("n", "ERR invalid period", "RATE.THROTTLE n 0 1", MAX_S, "");
    assert_range_refused("n", "ERR invalid period", "RATE.THROTTLE n 0 1", MAX_MS, "MS");
    assert_range_refused("n", "ERR invalid period", "RATE.THROTTLE n 0 1", MAX_MS, "1 MS");
    assert_int_equal(sg_exists(sg_conn, "n"), 0);
}

static void throttle_bucket_of_exactly_10_to_the_18_ns_and_an_interval_of_1_ns_are_the_limits(void **state)
{
    (void)state;
    long long f[5];
    /* emission interval 10^18 ns x limit 1: the largest bucket */
    throttle_reply(sg_command(sg_conn, "RATE.THROTTLE a 0 1 1000000000"), f, "bucket 10^18 ns");
    assert_true(f[0] == 0 && f[4] == MAX_S);
    throttle_reply(sg_command(sg_conn, "RATE.THROTTLE b 0 1 1000000000000 MS"), f, "bucket 10^18 ns (MS)");
    assert_true(f[0] == 0 && f[4] == MAX_MS);
    /* 10^18 ns as 10^9 units of 10^9 ns */
    throttle_reply(sg_command(sg_conn, "RATE.THROTTLE c 999999999 1 1"), f, "10^9 units of 1 s");
    assert_true(f[0] == 0 && f[1] == MAX_S && f[2] == MAX_S - 1 && f[4] == 1);
    /* an interval of exactly 1 ns */
    throttle_reply(sg_command(sg_conn, "RATE.THROTTLE d 0 1000000000 1"), f, "interval 1 ns");
    assert_true(f[0] == 0 && f[1] == 1);
    throttle_reply(sg_command(sg_conn, "RATE.THROTTLE e 0 1000000 1 MS"), f, "interval 1 ns (MS)");
    assert_true(f[0] == 0 && f[1] == 1);
    /* one step past either limit */
    assert_refused("n", "ERR invalid rate", "RATE.THROTTLE n 1 1 1000000000");
    assert_refused("n", "ERR invalid rate", "RATE.THROTTLE n 1000000000 1 1");
    assert_refused("n", "ERR invalid rate", "RATE.THROTTLE n 0 1000000001 1");
    assert_refused("n", "ERR invalid rate", "RATE.THROTTLE n 0 1000001 1 MS");
    assert_refused("n", "ERR invalid rate", "RATE.THROTTLE n 9223372036854775806 1 1");
    assert_refused("a", "ERR invalid rate", "RATE.THROTTLE a 1 1 1000000000");
    assert_int_equal(sg_exists(sg_conn, "n"), 0);
}

static void window_period_of_10_to_the_9_s_or_10_to_the_12_ms_ends_the_window_and_beyond_is_refused(void **state)
{
    (void)state;
    long long before = unix_ms();
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW w 2 %lld", MAX_S), 1);
    long long after = unix_ms();
    assert_between("the window's end", pexpiretime("w"), before + MAX_S * 1000, after + MAX_S * 1000);
    long long info[4];
    window_info("w", 2, info);
    assert_true(info[0] == 1 && info[1] == 1 && info[2] == pexpiretime("w"));
    assert_between("wait", info[3], MAX_MS - SLACK_MS, MAX_MS);
    /* ALIGN: whole periods of 10^12 ms since the epoch */
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW a 1 %lld ALIGN MS", MAX_MS), 2);
    long long end = pexpiretime("a");
    assert_int_equal(end % MAX_MS, 0);
    assert_between("ALIGN's end", end, after + 1, after + MAX_MS);
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW s 1 %lld ALIGN", MAX_S), 2);
    assert_int_equal(pexpiretime("s"), end);
    assert_range_refused("w", "ERR invalid period", "RATE.WINDOW w 2", MAX_S, "");
    assert_range_refused("n", "ERR invalid period", "RATE.WINDOW n 2", MAX_S, "ALIGN");
    assert_range_refused("n", "ERR invalid period", "RATE.WINDOW n 2", MAX_MS, "MS");
    assert_range_refused("n", "ERR invalid period", "RATE.WINDOW n 2", MAX_MS, "ALIGN MS");
    assert_int_equal(sg_exists(sg_conn, "n"), 0);
}

static void rate_all_refuses_a_period_beyond_its_bound_and_consumes_from_no_limit(void **state)
{
    (void)state;
    redisReply *r = sg_command(sg_conn, "RATE.ALL 2 {t}a {t}b THROTTLE 0 1 %lld WINDOW 1 %lld MS", MAX_S, MAX_MS);
    assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->integer == 1);
    freeReplyObject(r);
    assert_between("PTTL {t}a", sg_pttl(sg_conn, "{t}a"), MAX_MS - SLACK_MS, MAX_MS + 1); /* TAT rounded up */
    assert_between("PTTL {t}b", sg_pttl(sg_conn, "{t}b"), MAX_MS - SLACK_MS, MAX_MS);
    sg_command_integer(sg_conn, "DEL {t}a {t}b");
    assert_refused("{t}a", "ERR invalid period", "RATE.ALL 2 {t}a {t}b WINDOW 1 60 THROTTLE 0 1 1000000001");
    assert_refused("{t}a", "ERR invalid period", "RATE.ALL 2 {t}a {t}b THROTTLE 0 1 60 WINDOW 1 1000000000001 MS");
    assert_refused("{t}a", "ERR invalid rate", "RATE.ALL 2 {t}a {t}b WINDOW 1 60 THROTTLE 1 1 1000000000");
    assert_int_equal(sg_exists(sg_conn, "{t}a") + sg_exists(sg_conn, "{t}b"), 0);
}

/* ---- expiries and states from outside, up to INT64_MAX ------------------------------------------ */

static void a_lock_whose_key_expires_at_int64_max_answers_every_lock_command_sanely(void **state)
{
    (void)state;
    long long token = raw_lock_acquire(sg_conn, "l", "a", 5000);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIREAT l " FAR), 1);
    assert_far_ttl("LOCK.INFO ttl", raw_lock_info_of(sg_conn, "l").ttl);
    assert_far_ttl("TTL in ms", sg_command_integer(sg_conn, "TTL l") * 1000);
    assert_int_equal(raw_lock_acquire(sg_conn, "l", "b", 5000), 0); /* busy, no WAIT */
    assert_int_equal(raw_lock_acquire(sg_conn, "l", "a", 5000), token); /* refresh: the lease is the ttl again */
    assert_between("PTTL after the refresh", sg_pttl(sg_conn, "l"), 1, 5000);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIREAT l " FAR), 1);
    assert_int_equal(raw_lock_extend(sg_conn, "l", "a", 7000), 1);
    assert_between("PTTL after LOCK.EXTEND", sg_pttl(sg_conn, "l"), 1, 7000);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIREAT l " FAR), 1);
    assert_true(raw_lock_acquire_reentrant(sg_conn, "l", "a", 3000) == token);
    assert_int_equal(raw_lock_release(sg_conn, "l", "a"), 1);
    assert_int_equal(raw_lock_release(sg_conn, "l", "a"), 1);
    raw_lock_assert_free(sg_conn, "l");
    assert_responsive();
}

static void an_idempotency_record_whose_key_expires_at_int64_max_answers_sanely(void **state)
{
    (void)state;
    long long token = raw_idemp_begin_new(sg_conn, "r", "fp", 5000);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIREAT r " FAR), 1);
    raw_idemp_assert_record(sg_conn, "r", "in_progress", "fp", 2, token, INT64_MAX - unix_ms() - SLACK_MS, INT64_MAX,
                            NULL, 0);
    assert_far_ttl("IDEMP.BEGIN in_progress", raw_idemp_begin_in_progress(sg_conn, "r", "fp", 1000));
    raw_idemp_begin_mismatch(sg_conn, "r", "other", "in_progress");
    assert_int_equal(raw_idemp_complete(sg_conn, "r", token, "resp", 60), 1);
    assert_between("PTTL after COMPLETE", sg_pttl(sg_conn, "r"), 60000 - SLACK_MS, 60000);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIREAT r " FAR), 1);
    raw_idemp_assert_record(sg_conn, "r", "completed", "fp", 2, token, INT64_MAX - unix_ms() - SLACK_MS, INT64_MAX,
                            "resp", 4);
    assert_int_equal(raw_idemp_complete(sg_conn, "r", token, "resp", 60), 2); /* a retry changes nothing */
    assert_int_equal(pexpiretime("r"), INT64_MAX);
    /* IDEMP.SETNX on a plain key that expires at INT64_MAX: seen before */
    sg_command_status(sg_conn, "OK", "SET s 1 PXAT " FAR);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX s 10"), 0);
    assert_int_equal(pexpiretime("s"), INT64_MAX);
    assert_responsive();
}

static void a_trial_and_shards_whose_keys_expire_at_int64_max_keep_that_expiry(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.INIT t 2 WAITLIST 1"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIREAT t " FAR), 1);
    assert_int_equal(raw_enroll(sg_conn, "t", "u1"), 1);
    assert_int_equal(raw_enroll(sg_conn, "t", "u2"), 1);
    assert_int_equal(raw_enroll(sg_conn, "t", "u3"), 2);
    assert_int_equal(raw_enroll_cancel(sg_conn, "t", "u1"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RESIZE t 3"), 0);
    raw_assert_trial_info(sg_conn, "t", 3, 1, 2, 0, 1, 4);
    assert_int_equal(pexpiretime("t"), INT64_MAX);
    sg_command_status(sg_conn, "OK", "MSET {s}1 2 {s}2 0");
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIREAT {s}1 " FAR), 1);
    redisReply *r = sg_command(sg_conn, "SHARDED.DECR {s}1 {s}2");
    assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->integer == 1);
    freeReplyObject(r);
    assert_int_equal(sg_command_integer(sg_conn, "SHARDED.TAKE 5 {s}1 {s}2"), 1);
    assert_int_equal(pexpiretime("{s}1"), INT64_MAX);
    assert_responsive();
}

static void rate_states_whose_keys_expire_at_int64_max_are_read_and_counted_sanely(void **state)
{
    (void)state;
    long long f[5], info[4];
    throttle_reply(sg_command(sg_conn, "RATE.THROTTLE g 0 1 60"), f, "first call");
    assert_int_equal(f[0], 0);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIREAT g " FAR), 1);
    throttle_reply(sg_command(sg_conn, "RATE.THROTTLE g 0 1 60"), f, "limited call");
    assert_true(f[0] == 1 && f[3] >= 1 && f[3] <= 60 && f[4] >= 1 && f[4] <= 60);
    assert_int_equal(pexpiretime("g"), INT64_MAX); /* a refused call writes nothing */
    /* a window that never ends: counted in place, its end and wait read from the expiry */
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW w 3 60"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIREAT w " FAR), 1);
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW w 3 60"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW w 3 60 ALIGN MS"), 2);
    assert_int_equal(sg_command_integer(sg_conn, "RATE.WINDOW w 3 60"), 0);
    window_info("w", 3, info);
    assert_true(info[0] == 3 && info[1] == 0 && info[2] == INT64_MAX);
    assert_far_ttl("RATE.WINDOW.INFO wait", info[3]);
    redisReply *r = sg_command(sg_conn, "RATE.ALL 2 w g WINDOW 3 60 THROTTLE 0 1 60");
    assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->integer == 0);
    freeReplyObject(r);
    assert_int_equal(pexpiretime("w"), INT64_MAX);
    assert_responsive();
}

static void a_throttle_state_holding_int64_max_ns_is_refused_as_overflow_and_peeks_sanely(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "SET g " FAR);
    assert_refused("g", "ERR the rate limit's arithmetic overflows 64 bits", "RATE.THROTTLE g 0 1 60");
    assert_refused("g", "ERR the rate limit's arithmetic overflows 64 bits", "RATE.ALL 2 {x}w g WINDOW 1 60 THROTTLE 0 1 60");
    assert_int_equal(sg_exists(sg_conn, "{x}w"), 0);
    /* a peek takes nothing, so nothing overflows: limited until the TAT, in seconds and in ms */
    long long f[5], left_s = (INT64_MAX / 1000000 - unix_ms()) / 1000;
    throttle_reply(sg_command(sg_conn, "RATE.THROTTLE g 0 1 60 0"), f, "peek");
    assert_true(f[0] == 1 && f[1] == 1 && f[2] == 0);
    assert_between("retry_after", f[3], left_s - 120, left_s + 120);
    assert_between("reset_after", f[4], left_s - 60, left_s + 120);
    throttle_reply(sg_command(sg_conn, "RATE.THROTTLE g 0 1 60000 0 MS"), f, "peek MS");
    assert_between("reset_after (ms)", f[4], left_s * 1000 - SLACK_MS, left_s * 1000 + SLACK_MS * 2);
    char *v = sg_reply_text("GET", sg_command(sg_conn, "GET g"));
    assert_string_equal(v, FAR);
    free(v);
    assert_responsive();
}

/* ---- deadlines through persistence and payloads ----------------------------------------------- */

static void deadlines_of_int64_max_survive_debug_reload_and_dump_restore(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "LOCK.GRANT l a 5 " FAR " 2");
    sg_command_status(sg_conn, "OK", "IDEMP.RECORD p in_progress fp 6 " FAR);
    sg_command_status(sg_conn, "OK", "IDEMP.RECORD c completed fp 7 " FAR " done");
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.INIT t 3"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "PEXPIREAT t " FAR), 1);
    char *digest = sg_debug_digest(sg_conn);
    sg_command_status(sg_conn, "OK", "DEBUG RELOAD");
    char *reloaded = sg_debug_digest(sg_conn);
    assert_string_equal(reloaded, digest);
    free(reloaded);
    free(digest);
    const char *keys[] = {"l", "p", "c", "t"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(pexpiretime(keys[i]), INT64_MAX);
        redisReply *dump = sg_command(sg_conn, "DUMP %s", keys[i]);
        assert_int_equal(dump->type, REDIS_REPLY_STRING);
        char copy[16];
        snprintf(copy, sizeof(copy), "%s:copy", keys[i]);
        sg_command_status(sg_conn, "OK", "RESTORE %s " FAR " %b ABSTTL", copy, dump->str, dump->len);
        freeReplyObject(dump);
        assert_int_equal(pexpiretime(copy), INT64_MAX);
        char *a = sg_value_digest(sg_conn, keys[i]), *b = sg_value_digest(sg_conn, copy);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    raw_lock_info info = raw_lock_info_of(sg_conn, "l:copy");
    assert_true(info.token == 5 && info.holds == 2);
    assert_far_ttl("LOCK.INFO ttl of the copy", info.ttl);
    raw_idemp_begin_completed(sg_conn, "c:copy", "fp", "done");
    assert_responsive();
}


/* DUMP `key` (whose record's deadline is INT64_MAX, saved as the unsigned opcode 2 and an 8-byte
 * length 0x81 ...) with that deadline replaced by `deadline`, the checksum made valid again. */
static char *payload_with_deadline(const char *key, int64_t deadline, size_t *len)
{
    redisReply *dump = sg_command(sg_conn, "DUMP %s", key);
    assert_int_equal(dump->type, REDIS_REPLY_STRING);
    assert_true(dump->len > 10);
    *len = dump->len;
    unsigned char *p = malloc(dump->len);
    memcpy(p, dump->str, dump->len);
    freeReplyObject(dump);
    uint64_t stored = 0;
    for (int i = 0; i < 8; i++) stored |= (uint64_t)p[*len - 8 + i] << (8 * i);
    assert_true(sg_crc64_jones(p, *len - 8) == stored); /* the checksum is the one Redis computes */
    static const unsigned char far[] = {0x02, 0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    unsigned char *at = NULL;
    for (size_t i = 0; i + sizeof(far) <= *len - 10 && at == NULL; i++)
        if (memcmp(p + i, far, sizeof(far)) == 0) at = p + i;
    if (at == NULL) fail_msg("DUMP %s: no deadline of INT64_MAX found in the payload", key);
    for (int i = 0; i < 8; i++) at[2 + i] = (unsigned char)((uint64_t)deadline >> (56 - 8 * i));
    sg_dump_seal(p, *len);
    return (char *)p;
}

static void a_restore_payload_with_a_negative_deadline_loads_and_the_record_works(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "LOCK.GRANT l a 5 " FAR);
    sg_command_status(sg_conn, "OK", "IDEMP.RECORD r completed fp 6 " FAR " done");
    const int64_t deadlines[] = {-1, INT64_MIN, 0};
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        char *lock = payload_with_deadline("l", deadlines[i], &len);
        sg_command_status(sg_conn, "OK", "RESTORE l:%d 60000 %b", (int)i, lock, len);
        free(lock);
        char *record = payload_with_deadline("r", deadlines[i], &len);
        sg_command_status(sg_conn, "OK", "RESTORE r:%d 60000 %b", (int)i, record, len);
        free(record);
        char lkey[16], rkey[16];
        snprintf(lkey, sizeof(lkey), "l:%zu", i);
        snprintf(rkey, sizeof(rkey), "r:%zu", i);
        raw_lock_info info = raw_lock_info_of(sg_conn, lkey);
        assert_true(info.held && info.token == 5);
        assert_between("LOCK.INFO ttl of a restored lock", info.ttl, 60000 - SLACK_MS, 60000);
        free(sg_value_digest(sg_conn, lkey));
        assert_int_equal(raw_lock_extend(sg_conn, lkey, "a", 1000), 1);
        assert_between("PTTL after LOCK.EXTEND", sg_pttl(sg_conn, lkey), 1, 1000);
        raw_idemp_assert_record(sg_conn, rkey, "completed", "fp", 2, 6, 60000 - SLACK_MS, 60000, "done", 4);
    }
    sg_command_status(sg_conn, "OK", "DEBUG RELOAD");
    raw_lock_assert_held_by(sg_conn, "l:1", "a");
    assert_responsive();
}

/* An AOF rewrite must rebuild every record as it is (STYLE.md: "aof_rewrite that rebuilds exactly
 * the same object"), whatever was done to its key's expiry: a lock and a record whose expiry was
 * taken off (PERSIST) or set to INT64_MAX are the same after DEBUG LOADAOF. */
static void an_aof_rewrite_keeps_the_expiry_a_lock_or_record_has_now_persisted_or_int64_max(void **state)
{
    (void)state;
    const char *args[] = {"--appendonly", "yes", "--aof-use-rdb-preamble", "no", NULL};
    sg_server *s = sg_server_start(args);
    redisContext *c = sg_connect_to(s);
    assert_true(sg_command_integer(c, "LOCK.ACQUIRE far a 5000") > 0);
    assert_true(sg_command_integer(c, "LOCK.ACQUIRE kept a 5000") > 0);
    freeReplyObject(sg_command(c, "IDEMP.BEGIN rfar fp 5000"));
    freeReplyObject(sg_command(c, "IDEMP.BEGIN rkept fp 5000"));
    const char *keys[] = {"far", "kept", "rfar", "rkept"};
    assert_int_equal(sg_command_integer(c, "PEXPIREAT far " FAR), 1);
    assert_int_equal(sg_command_integer(c, "PEXPIREAT rfar " FAR), 1);
    assert_int_equal(sg_command_integer(c, "PERSIST kept"), 1);
    assert_int_equal(sg_command_integer(c, "PERSIST rkept"), 1);
    char *digest = sg_debug_digest(c);
    sg_rewrite_aof(c);
    sg_assert_aof_base(s, 0, (const char *const[]){"LOCK.GRANT", "IDEMP.RECORD", NULL});
    sg_command_status(c, "OK", "DEBUG LOADAOF");
    char *loaded = sg_debug_digest(c);
    long long expiry[4];
    for (size_t i = 0; i < 4; i++) expiry[i] = sg_command_integer(c, "PEXPIRETIME %s", keys[i]);
    int same = strcmp(digest, loaded) == 0;
    free(digest);
    free(loaded);
    redisFree(c);
    sg_server_stop(s);
    assert_int_equal(expiry[0], INT64_MAX);
    assert_int_equal(expiry[2], INT64_MAX);
    if (expiry[1] != -1 || expiry[3] != -1)
        fail_msg("after the rewrite and DEBUG LOADAOF, PEXPIRETIME of the persisted lock is %lld and of the record "
                 "%lld (-2: gone), expected -1: the rewrite emits the record's old deadline and no PERSIST",
                 expiry[1], expiry[3]);
    assert_true(same);
}

/* ---- main ----------------------------------------------------------------------------------- */

#define TIME_TEST(name) cmocka_unit_test_setup(name, sg_group_flush)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TIME_TEST(lock_ttl_of_10_to_the_12_ms_is_the_lease_and_anything_beyond_is_refused),
        TIME_TEST(lock_wait_of_10_to_the_12_ms_is_accepted_and_anything_beyond_is_refused_at_once),
        TIME_TEST(lock_grant_deadline_of_int64_max_is_the_key_s_expiry_and_beyond_is_refused),
        TIME_TEST(idemp_setnx_ttl_of_10_to_the_9_s_is_the_key_s_ttl_and_beyond_is_refused),
        TIME_TEST(idemp_begin_lease_and_complete_ttl_at_their_largest_and_beyond),
        TIME_TEST(idemp_record_deadline_of_int64_max_is_the_ttl_of_both_states_and_beyond_is_refused),
        TIME_TEST(throttle_period_of_10_to_the_9_s_or_10_to_the_12_ms_is_the_reset_and_beyond_is_refused),
        TIME_TEST(throttle_bucket_of_exactly_10_to_the_18_ns_and_an_interval_of_1_ns_are_the_limits),
        TIME_TEST(window_period_of_10_to_the_9_s_or_10_to_the_12_ms_ends_the_window_and_beyond_is_refused),
        TIME_TEST(rate_all_refuses_a_period_beyond_its_bound_and_consumes_from_no_limit),
        TIME_TEST(a_lock_whose_key_expires_at_int64_max_answers_every_lock_command_sanely),
        TIME_TEST(an_idempotency_record_whose_key_expires_at_int64_max_answers_sanely),
        TIME_TEST(a_trial_and_shards_whose_keys_expire_at_int64_max_keep_that_expiry),
        TIME_TEST(rate_states_whose_keys_expire_at_int64_max_are_read_and_counted_sanely),
        TIME_TEST(a_throttle_state_holding_int64_max_ns_is_refused_as_overflow_and_peeks_sanely),
        TIME_TEST(deadlines_of_int64_max_survive_debug_reload_and_dump_restore),
        TIME_TEST(a_restore_payload_with_a_negative_deadline_loads_and_the_record_works),
        TIME_TEST(an_aof_rewrite_keeps_the_expiry_a_lock_or_record_has_now_persisted_or_int64_max),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
