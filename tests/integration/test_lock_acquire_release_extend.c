/* test_lock_acquire_release_extend.c -- the replies of LOCK.ACQUIRE (without a queue of waiters),
 * LOCK.RELEASE, LOCK.EXTEND, LOCK.INFO and LOCK.GRANT in README.md ("## Lock commands"): grants,
 * REENTRANT holds, fencing tokens, leases and binary safety, against a real redis-server with the
 * module loaded. Waiting (WAIT) is in test_lock_waiting.c.
 *
 * One server for the whole group; every test starts from an empty dataset (FLUSHALL in the per-test
 * setup). One behaviour per test function. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raw_commands.h"

#define MAX_TIME_MS "1000000000000"
#define NOT_BLOCKED_LIMIT_MS 1000 /* a command that must not block answers well within this */

/* ---- grants ---------------------------------------------------------------------------------- */

static void lock_acquire_grants_a_free_lock_with_a_token_of_at_least_one(void **state)
{
    (void)state;
    long long token = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    assert_true(token >= 1);
    raw_lock_assert_held_by(sg_conn, "lock", "alice");
}

static void a_fresh_token_is_the_current_unix_time_in_microseconds(void **state)
{
    /* README: tokens are max(last token + 1, current Unix time in microseconds). After a pause the
     * clock is ahead of the last token, so the token lies between two readings of the same clock
     * taken around the command. (Runs before any test pushes the token clock ahead.) */
    (void)state;
    sg_sleep_ms(5);
    long long before = sg_unix_us();
    long long token = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    long long after = sg_unix_us();
    if (token < before || token > after) {
        fail_msg("token %lld is not the Unix time in microseconds of the grant: it was between %lld and %lld "
                 "(%lld us before the first reading)",
                 token, before, after, before - token);
    }
}

static void lock_acquire_sets_the_lease_as_the_key_expiry(void **state)
{
    (void)state;
    assert_true(raw_lock_acquire(sg_conn, "lock", "alice", 10000) >= 1);
    long long left = sg_pttl(sg_conn, "lock");
    assert_true(left > 0 && left <= 10000);
}

static void lock_acquire_returns_nil_to_a_second_owner_while_the_lock_is_held(void **state)
{
    (void)state;
    long long token = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    assert_true(token >= 1);
    assert_int_equal(raw_lock_acquire(sg_conn, "lock", "bob", 10000), 0);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "alice", 5);
    assert_int_equal(info.token, token);
}

static void lock_acquire_by_the_holder_refreshes_the_lease_and_returns_the_same_token(void **state)
{
    (void)state;
    long long token = raw_lock_acquire(sg_conn, "lock", "alice", 1000);
    sg_sleep_ms(300);
    long long before = sg_pttl(sg_conn, "lock");
    assert_true(before > 0 && before <= 700);
    assert_int_equal(raw_lock_acquire(sg_conn, "lock", "alice", 1000), token);
    long long after = sg_pttl(sg_conn, "lock");
    if (after <= before + 200) fail_msg("PTTL went from %lld only to %lld after the holder re-acquired", before, after);
    assert_true(after <= 1000);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    assert_int_equal(info.token, token);
    assert_int_equal(info.holds, 1);
}

static void lock_acquire_by_the_holder_with_a_longer_ttl_lengthens_the_lease(void **state)
{
    (void)state;
    long long token = raw_lock_acquire(sg_conn, "lock", "alice", 1000);
    assert_int_equal(raw_lock_acquire(sg_conn, "lock", "alice", 600000), token);
    assert_true(sg_pttl(sg_conn, "lock") > 1000);
}

static void lock_acquire_without_reentrant_keeps_one_hold_so_one_release_frees_it(void **state)
{
    (void)state;
    long long token = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    assert_int_equal(raw_lock_acquire(sg_conn, "lock", "alice", 10000), token);
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").holds, 1);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 1);
    raw_lock_assert_free(sg_conn, "lock");
}

static void lock_acquire_accepts_the_largest_ttl(void **state)
{
    (void)state;
    assert_true(raw_lock_token_or_nil(sg_command(sg_conn, "LOCK.ACQUIRE lock alice " MAX_TIME_MS), "LOCK.ACQUIRE") >= 1);
    long long left = sg_pttl(sg_conn, "lock");
    assert_true(left > 1000000000000LL - 60000 && left <= 1000000000000LL);
}

static void lock_acquire_accepts_the_smallest_ttl(void **state)
{
    (void)state;
    assert_true(raw_lock_acquire(sg_conn, "lock", "alice", 1) >= 1);
    int64_t deadline = sg_now_ms() + 2000;
    while (sg_exists(sg_conn, "lock") && sg_now_ms() < deadline) sg_sleep_ms(1);
    assert_int_equal(sg_exists(sg_conn, "lock"), 0);
}

static void lock_acquire_with_wait_on_a_free_lock_grants_at_once(void **state)
{
    (void)state;
    int64_t start = sg_now_ms();
    long long token =
        raw_lock_token_or_nil(sg_command(sg_conn, "LOCK.ACQUIRE lock alice 10000 WAIT 10000"), "LOCK.ACQUIRE WAIT");
    assert_true(token >= 1);
    assert_true(sg_now_ms() - start < NOT_BLOCKED_LIMIT_MS);
    raw_lock_assert_held_by(sg_conn, "lock", "alice");
}

static void lock_acquire_with_wait_by_the_holder_returns_its_token_at_once(void **state)
{
    (void)state;
    long long token = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    int64_t start = sg_now_ms();
    assert_int_equal(
        raw_lock_token_or_nil(sg_command(sg_conn, "LOCK.ACQUIRE lock alice 10000 WAIT 5000"), "LOCK.ACQUIRE WAIT"),
                     token);
    assert_true(sg_now_ms() - start < NOT_BLOCKED_LIMIT_MS);
}

/* ---- release ---------------------------------------------------------------------------------- */

static void lock_release_returns_one_for_the_holder_and_frees_the_lock(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 1);
    assert_int_equal(sg_exists(sg_conn, "lock"), 0);
    raw_lock_assert_free(sg_conn, "lock");
    assert_true(raw_lock_acquire(sg_conn, "lock", "bob", 10000) >= 1);
}

static void lock_release_returns_zero_for_another_owner_and_keeps_the_lock(void **state)
{
    (void)state;
    long long token = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "bob"), 0);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "alice", 5);
    assert_int_equal(info.token, token);
    assert_int_equal(info.holds, 1);
}

static void lock_release_returns_zero_after_the_lease_ended(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 100);
    sg_sleep_ms(250);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 0);
    assert_int_equal(sg_exists(sg_conn, "lock"), 0);
}

static void lock_release_returns_zero_for_a_lock_that_never_existed(void **state)
{
    (void)state;
    assert_int_equal(raw_lock_release(sg_conn, "nosuchlock", "alice"), 0);
    assert_int_equal(sg_exists(sg_conn, "nosuchlock"), 0);
}

/* ---- extend ----------------------------------------------------------------------------------- */

static void lock_extend_returns_one_and_lengthens_the_lease(void **state)
{
    (void)state;
    long long token = raw_lock_acquire(sg_conn, "lock", "alice", 1000);
    assert_int_equal(raw_lock_extend(sg_conn, "lock", "alice", 600000), 1);
    long long left = sg_pttl(sg_conn, "lock");
    assert_true(left > 590000 && left <= 600000);
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").token, token);
}

static void lock_extend_sets_the_lease_to_ttl_from_now_even_when_shorter(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 600000);
    assert_int_equal(raw_lock_extend(sg_conn, "lock", "alice", 2000), 1);
    long long left = sg_pttl(sg_conn, "lock");
    assert_true(left > 0 && left <= 2000);
}

static void lock_extend_after_time_has_passed_pushes_the_lease_back_up(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 1000);
    sg_sleep_ms(300);
    long long before = sg_pttl(sg_conn, "lock");
    assert_int_equal(raw_lock_extend(sg_conn, "lock", "alice", 1000), 1);
    long long after = sg_pttl(sg_conn, "lock");
    if (after <= before + 200) fail_msg("PTTL went from %lld only to %lld after LOCK.EXTEND", before, after);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    assert_true(info.ttl > before && info.ttl <= 1000);
}

static void lock_extend_returns_zero_for_another_owner_and_leaves_the_lease(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 5000);
    assert_int_equal(raw_lock_extend(sg_conn, "lock", "bob", 600000), 0);
    long long left = sg_pttl(sg_conn, "lock");
    assert_true(left > 0 && left <= 5000);
    raw_lock_assert_held_by(sg_conn, "lock", "alice");
}

static void lock_extend_returns_zero_after_the_lease_ended_and_creates_nothing(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 100);
    sg_sleep_ms(250);
    assert_int_equal(raw_lock_extend(sg_conn, "lock", "alice", 10000), 0);
    assert_int_equal(sg_exists(sg_conn, "lock"), 0);
}

/* ---- LOCK.INFO -------------------------------------------------------------------------------- */

static void lock_info_reports_owner_ttl_token_holds_and_waiters(void **state)
{
    (void)state;
    long long token = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "alice", 5);
    assert_true(info.ttl > 0 && info.ttl <= 10000);
    assert_int_equal(info.token, token);
    assert_int_equal(info.holds, 1);
    assert_int_equal(info.waiters, 0);
}

static void lock_info_returns_nil_for_a_free_lock(void **state)
{
    (void)state;
    raw_lock_assert_free(sg_conn, "nosuchlock");
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    raw_lock_release(sg_conn, "lock", "alice");
    raw_lock_assert_free(sg_conn, "lock");
}

/* ---- REENTRANT -------------------------------------------------------------------------------- */

static void reentrant_acquire_by_the_holder_adds_a_hold_with_the_same_token(void **state)
{
    (void)state;
    long long token = raw_lock_acquire_reentrant(sg_conn, "lock", "alice", 10000);
    assert_int_equal(raw_lock_acquire_reentrant(sg_conn, "lock", "alice", 10000), token);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    assert_int_equal(info.holds, 2);
    assert_int_equal(info.token, token);
}

static void reentrant_lock_is_freed_after_one_release_per_hold(void **state)
{
    (void)state;
    long long token = raw_lock_acquire_reentrant(sg_conn, "lock", "alice", 10000);
    raw_lock_acquire_reentrant(sg_conn, "lock", "alice", 10000);
    raw_lock_acquire_reentrant(sg_conn, "lock", "alice", 10000);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 1);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "alice", 5);
    assert_int_equal(info.holds, 2);
    assert_int_equal(info.token, token);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 1);
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").holds, 1);
    assert_int_equal(raw_lock_acquire(sg_conn, "lock", "bob", 10000), 0);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 1);
    raw_lock_assert_free(sg_conn, "lock");
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 0);
}

static void reentrant_acquire_refreshes_the_lease(void **state)
{
    (void)state;
    raw_lock_acquire_reentrant(sg_conn, "lock", "alice", 1000);
    sg_sleep_ms(300);
    long long before = sg_pttl(sg_conn, "lock");
    raw_lock_acquire_reentrant(sg_conn, "lock", "alice", 1000);
    long long after = sg_pttl(sg_conn, "lock");
    if (after <= before + 200) fail_msg("PTTL went from %lld only to %lld after a reentrant acquire", before, after);
}

static void reentrant_acquire_by_another_owner_returns_nil(void **state)
{
    (void)state;
    raw_lock_acquire_reentrant(sg_conn, "lock", "alice", 10000);
    assert_int_equal(raw_lock_acquire_reentrant(sg_conn, "lock", "bob", 10000), 0);
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").holds, 1);
}

/* ---- fencing tokens --------------------------------------------------------------------------- */

static void tokens_increase_across_release_and_acquire(void **state)
{
    (void)state;
    long long last = 0;
    for (int i = 0; i < 20; i++) {
        const char *owner = i % 2 ? "alice" : "bob";
        long long token = raw_lock_acquire(sg_conn, "lock", owner, 10000);
        if (token <= last) fail_msg("grant %d: token %lld after %lld", i, token, last);
        last = token;
        assert_int_equal(raw_lock_release(sg_conn, "lock", owner), 1);
    }
}

static void tokens_increase_across_a_release_and_a_reacquire_by_the_same_owner(void **state)
{
    (void)state;
    long long first = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    raw_lock_release(sg_conn, "lock", "alice");
    long long second = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    assert_true(second > first);
}

static void tokens_increase_across_lease_expiry(void **state)
{
    (void)state;
    long long first = raw_lock_acquire(sg_conn, "lock", "alice", 100);
    int64_t deadline = sg_now_ms() + 3000;
    while (sg_exists(sg_conn, "lock") && sg_now_ms() < deadline) sg_sleep_ms(5);
    assert_int_equal(sg_exists(sg_conn, "lock"), 0);
    long long second = raw_lock_acquire(sg_conn, "lock", "bob", 10000);
    if (second <= first) fail_msg("token %lld after the lease of token %lld ended", second, first);
}

static void tokens_increase_across_del_of_the_key(void **state)
{
    (void)state;
    long long first = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    assert_int_equal(sg_command_integer(sg_conn, "DEL lock"), 1);
    long long second = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    if (second <= first) fail_msg("token %lld after DEL of a lock with token %lld", second, first);
}

static void tokens_increase_across_different_lock_names(void **state)
{
    (void)state;
    long long last = 0;
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "lock:%d", i);
        long long token = raw_lock_acquire(sg_conn, key, "alice", 10000);
        if (token <= last) fail_msg("%s: token %lld after %lld on another lock", key, token, last);
        last = token;
    }
}

static void tokens_increase_across_flushall(void **state)
{
    (void)state;
    long long first = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    sg_command_status(sg_conn, "OK", "FLUSHALL");
    long long second = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    if (second <= first) fail_msg("token %lld after FLUSHALL of a lock with token %lld", second, first);
}

/* ---- lease ------------------------------------------------------------------------------------ */

static void lease_ends_on_time_although_the_holder_never_comes_back(void **state)
{
    (void)state;
    int64_t start = sg_now_ms();
    assert_true(raw_lock_acquire(sg_conn, "lock", "alice", 200) >= 1);
    long long left = sg_pttl(sg_conn, "lock");
    assert_true(left > 0 && left <= 200);
    int64_t gone_at = -1;
    while (sg_now_ms() - start < 3000) {
        if (!sg_exists(sg_conn, "lock")) {
            gone_at = sg_now_ms();
            break;
        }
        sg_sleep_ms(5);
    }
    if (gone_at < 0) fail_msg("a lock with a 200 ms lease still exists after 3 s");
    if (gone_at - start < 195) fail_msg("a 200 ms lease ended after %lld ms", (long long)(gone_at - start));
    raw_lock_assert_free(sg_conn, "lock");
    assert_true(raw_lock_acquire(sg_conn, "lock", "bob", 10000) >= 1);
}

static void lease_ends_without_any_client_touching_the_key(void **state)
{
    /* Nobody reads the key: Redis's own expiry removes it (the keyspace shrinks on its own). */
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 200);
    assert_int_equal(sg_command_integer(sg_conn, "DBSIZE"), 1);
    int64_t deadline = sg_now_ms() + 5000;
    while (sg_command_integer(sg_conn, "DBSIZE") != 0 && sg_now_ms() < deadline) sg_sleep_ms(20);
    assert_int_equal(sg_command_integer(sg_conn, "DBSIZE"), 0);
}

/* ---- binary safety ---------------------------------------------------------------------------- */

/* LOCK.ACQUIRE with one binary argument (%b in `fmt`): the token, or 0 for nil. */
static long long acquire_bytes(const char *fmt, const char *bytes, size_t len)
{
    return raw_lock_token_or_nil(sg_command(sg_conn, fmt, bytes, len), "acquire");
}

static void owners_are_binary_safe(void **state)
{
    (void)state;
    const char owner[] = {'a', '\0', 'b', '\r', '\n', 'c'};
    const char other[] = {'a', '\0', 'b', '\r', '\n', 'X'};
    long long token = acquire_bytes("LOCK.ACQUIRE lock %b 10000", owner, sizeof(owner));
    assert_true(token >= 1);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, owner, sizeof(owner));
    assert_int_equal(acquire_bytes("LOCK.ACQUIRE lock %b 10000", other, sizeof(other)), 0);
    assert_int_equal(acquire_bytes("LOCK.ACQUIRE lock %b 10000", owner, (size_t)1), 0);
    assert_int_equal(acquire_bytes("LOCK.ACQUIRE lock %b 10000", owner, sizeof(owner)), token);
    assert_int_equal(sg_command_integer(sg_conn, "LOCK.EXTEND lock %b 10000", other, sizeof(other)), 0);
    assert_int_equal(sg_command_integer(sg_conn, "LOCK.RELEASE lock %b", owner, (size_t)1), 0);
    assert_int_equal(sg_command_integer(sg_conn, "LOCK.RELEASE lock %b", other, sizeof(other)), 0);
    assert_int_equal(sg_command_integer(sg_conn, "LOCK.EXTEND lock %b 20000", owner, sizeof(owner)), 1);
    assert_int_equal(sg_command_integer(sg_conn, "LOCK.RELEASE lock %b", owner, sizeof(owner)), 1);
    raw_lock_assert_free(sg_conn, "lock");
}

static void lock_names_are_binary_safe(void **state)
{
    (void)state;
    const char key1[] = {'k', '\0', '\r', '\n', '1'};
    const char key2[] = {'k', '\0', '\r', '\n', '2'};
    long long t1 = acquire_bytes("LOCK.ACQUIRE %b alice 10000", key1, sizeof(key1));
    long long t2 = acquire_bytes("LOCK.ACQUIRE %b bob 10000", key2, sizeof(key2));
    assert_true(t1 >= 1 && t2 > t1);
    raw_lock_info i1 = raw_lock_info_of_binary(sg_conn, key1, sizeof(key1));
    raw_lock_info i2 = raw_lock_info_of_binary(sg_conn, key2, sizeof(key2));
    raw_lock_assert_owner(&i1, "alice", 5);
    raw_lock_assert_owner(&i2, "bob", 3);
    assert_int_equal(i1.token, t1);
    assert_int_equal(i2.token, t2);
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS %b", key1, sizeof(key1)), 1);
    assert_int_equal(sg_command_integer(sg_conn, "LOCK.RELEASE %b alice", key1, sizeof(key1)), 1);
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS %b", key1, sizeof(key1)), 0);
    i2 = raw_lock_info_of_binary(sg_conn, key2, sizeof(key2));
    raw_lock_assert_owner(&i2, "bob", 3);
}

static void a_512_byte_owner_is_accepted_and_reported_whole(void **state)
{
    (void)state;
    char owner[RAW_LOCK_MAX_OWNER_LEN];
    for (size_t i = 0; i < sizeof(owner); i++) owner[i] = (char)(i % 251);
    assert_true(acquire_bytes("LOCK.ACQUIRE lock %b 10000", owner, sizeof(owner)) >= 1);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, owner, sizeof(owner));
    assert_int_equal(sg_command_integer(sg_conn, "LOCK.RELEASE lock %b", owner, sizeof(owner)), 1);
}

/* ---- LOCK.GRANT ------------------------------------------------------------------------------- */

static void lock_grant_sets_the_exact_state_and_raises_the_last_token(void **state)
{
    (void)state;
    long long ahead = sg_unix_us() + 1000000000LL; /* 1000 s ahead of the clock */
    long long deadline_ms = sg_unix_us() / 1000 + 60000;
    sg_command_status(sg_conn, "OK", "LOCK.GRANT lock alice %lld %lld 3", ahead, deadline_ms);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "alice", 5);
    assert_int_equal(info.token, ahead);
    assert_int_equal(info.holds, 3);
    long long left = sg_pttl(sg_conn, "lock");
    assert_true(left > 55000 && left <= 60000);
    long long next = raw_lock_acquire(sg_conn, "other", "bob", 10000);
    if (next <= ahead) fail_msg("token %lld after LOCK.GRANT of token %lld", next, ahead);
}

#define LOCK_TEST(name) cmocka_unit_test_setup(name, sg_group_flush)

int main(void)
{
    const struct CMUnitTest tests[] = {
        LOCK_TEST(lock_acquire_grants_a_free_lock_with_a_token_of_at_least_one),
        LOCK_TEST(a_fresh_token_is_the_current_unix_time_in_microseconds),
        LOCK_TEST(lock_acquire_sets_the_lease_as_the_key_expiry),
        LOCK_TEST(lock_acquire_returns_nil_to_a_second_owner_while_the_lock_is_held),
        LOCK_TEST(lock_acquire_by_the_holder_refreshes_the_lease_and_returns_the_same_token),
        LOCK_TEST(lock_acquire_by_the_holder_with_a_longer_ttl_lengthens_the_lease),
        LOCK_TEST(lock_acquire_without_reentrant_keeps_one_hold_so_one_release_frees_it),
        LOCK_TEST(lock_acquire_accepts_the_largest_ttl),
        LOCK_TEST(lock_acquire_accepts_the_smallest_ttl),
        LOCK_TEST(lock_acquire_with_wait_on_a_free_lock_grants_at_once),
        LOCK_TEST(lock_acquire_with_wait_by_the_holder_returns_its_token_at_once),
        LOCK_TEST(lock_release_returns_one_for_the_holder_and_frees_the_lock),
        LOCK_TEST(lock_release_returns_zero_for_another_owner_and_keeps_the_lock),
        LOCK_TEST(lock_release_returns_zero_after_the_lease_ended),
        LOCK_TEST(lock_release_returns_zero_for_a_lock_that_never_existed),
        LOCK_TEST(lock_extend_returns_one_and_lengthens_the_lease),
        LOCK_TEST(lock_extend_sets_the_lease_to_ttl_from_now_even_when_shorter),
        LOCK_TEST(lock_extend_after_time_has_passed_pushes_the_lease_back_up),
        LOCK_TEST(lock_extend_returns_zero_for_another_owner_and_leaves_the_lease),
        LOCK_TEST(lock_extend_returns_zero_after_the_lease_ended_and_creates_nothing),
        LOCK_TEST(lock_info_reports_owner_ttl_token_holds_and_waiters),
        LOCK_TEST(lock_info_returns_nil_for_a_free_lock),
        LOCK_TEST(reentrant_acquire_by_the_holder_adds_a_hold_with_the_same_token),
        LOCK_TEST(reentrant_lock_is_freed_after_one_release_per_hold),
        LOCK_TEST(reentrant_acquire_refreshes_the_lease),
        LOCK_TEST(reentrant_acquire_by_another_owner_returns_nil),
        LOCK_TEST(tokens_increase_across_release_and_acquire),
        LOCK_TEST(tokens_increase_across_a_release_and_a_reacquire_by_the_same_owner),
        LOCK_TEST(tokens_increase_across_lease_expiry),
        LOCK_TEST(tokens_increase_across_del_of_the_key),
        LOCK_TEST(tokens_increase_across_different_lock_names),
        LOCK_TEST(tokens_increase_across_flushall),
        LOCK_TEST(lease_ends_on_time_although_the_holder_never_comes_back),
        LOCK_TEST(lease_ends_without_any_client_touching_the_key),
        LOCK_TEST(owners_are_binary_safe),
        LOCK_TEST(lock_names_are_binary_safe),
        LOCK_TEST(a_512_byte_owner_is_accepted_and_reported_whole),
        LOCK_TEST(lock_grant_sets_the_exact_state_and_raises_the_last_token),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
