/* test_lock_waiting.c -- LOCK.ACQUIRE ... WAIT in README.md ("## Lock commands"): the queue of
 * waiters, hand-offs on release, at lease end and when other commands free the lock, timeouts,
 * disconnects, CLIENT UNBLOCK (which leaves lock waiters alone), no cutting in, and WAIT inside MULTI/EXEC and Lua, against a real
 * redis-server with the module loaded.
 *
 * One server for the whole group; every test starts from an empty dataset (FLUSHALL in the per-test
 * setup) and every extra connection a test opens (waiters) is closed by the per-test teardown, so a
 * failed test cannot leave a blocked client behind. One behaviour per test function.
 *
 * Waiters are separate connections that send LOCK.ACQUIRE ... WAIT without reading the reply; the
 * test looks at the socket with poll() to tell "still blocked" from "answered", and LOCK.INFO's
 * `waiters` count to know a waiter is queued before the next one is sent. Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raw_commands.h"

#define REPLY_TIMEOUT_MS 5000     /* how long a test waits for a waiter's reply it expects */
#define NOT_BLOCKED_LIMIT_MS 1000 /* a command that must not block answers well within this */
#define FIFO_CLIENTS 12

/* A new connection blocked in LOCK.ACQUIRE key owner ttl WAIT timeout, queued at position
 * `position` (checked with LOCK.INFO before returning). */
static redisContext *enqueue_waiter(const char *key, const char *owner, long long ttl, long long timeout,
                                    long long position)
{
    redisContext *w = sg_group_open_client();
    sg_send_command(w, "LOCK.ACQUIRE %s %s %lld WAIT %lld", key, owner, ttl, timeout);
    raw_lock_wait_for_waiters(sg_conn, key, position);
    if (sg_reply_arrives_within(w, 0)) fail_msg("waiter %s was answered although the lock is held", owner);
    return w;
}

/* The token a waiter is granted (fails on nil, an error, or no reply in time). */
static long long waiter_token(redisContext *w, const char *owner)
{
    char what[128];
    snprintf(what, sizeof(what), "waiter %s", owner);
    long long token = raw_lock_token_or_nil(sg_receive_reply(w, REPLY_TIMEOUT_MS, what), what);
    if (token == 0) fail_msg("waiter %s got nil, expected to be granted the lock", owner);
    return token;
}

static long long client_id(redisContext *c)
{
    return sg_command_integer(c, "CLIENT ID");
}

static void lock_info_counts_the_clients_waiting(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    enqueue_waiter("lock", "bob", 10000, 10000, 1);
    enqueue_waiter("lock", "carol", 10000, 10000, 2);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "alice", 5);
    assert_int_equal(info.waiters, 2);
}


/* ---- WAIT ------------------------------------------------------------------------------------- */

static void waiter_is_granted_with_a_larger_token_when_the_holder_releases(void **state)
{
    (void)state;
    long long holder_token = raw_lock_acquire(sg_conn, "lock", "alice", 5000);
    redisContext *bob = enqueue_waiter("lock", "bob", 600000, 10000, 1);
    sg_sleep_ms(50);
    if (sg_reply_arrives_within(bob, 0)) fail_msg("the waiter was answered while the lock was held");
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 1);
    long long token = waiter_token(bob, "bob");
    if (token <= holder_token) fail_msg("waiter token %lld after holder token %lld", token, holder_token);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "bob", 3);
    assert_int_equal(info.token, token);
    assert_int_equal(info.waiters, 0);
    /* the waiter's own ttl, not the holder's */
    assert_true(sg_pttl(sg_conn, "lock") > 5000);
}

static void waiter_is_granted_when_the_holders_lease_ends_without_release(void **state)
{
    (void)state;
    int64_t start = sg_now_ms();
    long long holder_token = raw_lock_acquire(sg_conn, "lock", "alice", 300);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    long long token = waiter_token(bob, "bob");
    int64_t elapsed = sg_now_ms() - start;
    if (token <= holder_token) fail_msg("waiter token %lld after holder token %lld", token, holder_token);
    if (elapsed < 290) fail_msg("the waiter was granted %lld ms into a 300 ms lease", (long long)elapsed);
    if (elapsed > 2300) fail_msg("the waiter was granted %lld ms after a 300 ms lease began", (long long)elapsed);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "bob", 3);
    assert_int_equal(info.token, token);
}

/* ---- the lock freed by other commands: the first waiter gets it at once, not at the old lease's end */

#define LONG_LEASE_MS 600000
#define SOON_MS 3000 /* far below LONG_LEASE_MS: "at once" rather than "when the lease would have ended" */

/* alice holds `key` for 10 minutes and bob waits; `free_it` frees (or shortens) the lock some other
 * way; bob must be granted well before alice's lease would have ended. */
static void assert_handed_over_soon_after(const char *key, const char *free_it)
{
    long long holder_token = raw_lock_acquire(sg_conn, key, "alice", LONG_LEASE_MS);
    redisContext *bob = enqueue_waiter(key, "bob", 10000, LONG_LEASE_MS, 1);
    redisReply *r = sg_command(sg_conn, free_it);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("%s: %s", free_it, r->str);
    freeReplyObject(r);
    if (!sg_reply_arrives_within(bob, SOON_MS)) {
        fail_msg("after %s the waiter was not granted within %d ms", free_it, SOON_MS);
    }
    long long token = waiter_token(bob, "bob");
    if (token <= holder_token) fail_msg("waiter token %lld after holder token %lld", token, holder_token);
    raw_lock_info info = raw_lock_info_of(sg_conn, key);
    raw_lock_assert_owner(&info, "bob", 3);
    assert_int_equal(info.waiters, 0);
}

static void del_of_a_lock_with_waiters_hands_it_to_the_first_at_once(void **state)
{
    (void)state;
    assert_handed_over_soon_after("lock", "DEL lock");
}

static void unlink_of_a_lock_with_waiters_hands_it_to_the_first_at_once(void **state)
{
    (void)state;
    assert_handed_over_soon_after("lock", "UNLINK lock");
}

static void rename_of_a_lock_with_waiters_hands_the_name_to_the_first_at_once(void **state)
{
    (void)state;
    assert_handed_over_soon_after("lock", "RENAME lock elsewhere");
    assert_true(sg_pttl(sg_conn, "elsewhere") > 0); /* alice's lock moved with its lease */
}

static void a_shortened_lease_with_waiters_ends_with_a_grant_at_its_new_end(void **state)
{
    (void)state;
    assert_handed_over_soon_after("lock", "PEXPIRE lock 100");
}

static void flushall_hands_a_lock_with_waiters_to_the_first_at_once(void **state)
{
    (void)state;
    assert_handed_over_soon_after("lock", "FLUSHALL");
}

static void swapdb_that_empties_the_lock_name_hands_it_to_the_first_at_once(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "SELECT 1");
    sg_command_status(sg_conn, "OK", "FLUSHDB");
    sg_command_status(sg_conn, "OK", "SELECT 0");
    assert_handed_over_soon_after("lock", "SWAPDB 0 1");
    sg_command_status(sg_conn, "OK", "SELECT 1");
    raw_lock_info moved = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&moved, "alice", 5); /* the held lock went to db 1 */
    sg_command_status(sg_conn, "OK", "FLUSHDB");
    sg_command_status(sg_conn, "OK", "SELECT 0");
}

static void wait_times_out_with_nil_after_roughly_the_timeout(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = sg_group_open_client();
    int64_t start = sg_now_ms();
    sg_send_command(bob, "LOCK.ACQUIRE lock bob 10000 WAIT 300");
    redisReply *r = sg_receive_reply(bob, 3000, "waiter bob");
    int64_t elapsed = sg_now_ms() - start;
    if (r->type != REDIS_REPLY_NIL) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("a waiter that timed out got %s, expected nil", got);
    }
    freeReplyObject(r);
    if (elapsed < 290 || elapsed > 1500) fail_msg("WAIT 300 answered after %lld ms", (long long)elapsed);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "alice", 5);
    assert_int_equal(info.waiters, 0);
}

static void a_waiter_that_timed_out_is_not_granted_later(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = sg_group_open_client();
    sg_send_command(bob, "LOCK.ACQUIRE lock bob 10000 WAIT 100");
    assert_int_equal(raw_lock_token_or_nil(sg_receive_reply(bob, 3000, "waiter bob"), "waiter bob"), 0);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 1);
    raw_lock_assert_free(sg_conn, "lock");
}

static void a_waiter_that_times_out_leaves_the_queue_and_the_next_one_is_granted(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 200, 1);
    redisContext *carol = enqueue_waiter("lock", "carol", 10000, 10000, 2);
    assert_int_equal(raw_lock_token_or_nil(sg_receive_reply(bob, 3000, "waiter bob"), "waiter bob"), 0);
    raw_lock_wait_for_waiters(sg_conn, "lock", 1);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 1);
    long long token = waiter_token(carol, "carol");
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").token, token);
    raw_lock_assert_held_by(sg_conn, "lock", "carol");
}

static void the_holder_acquiring_again_while_others_wait_keeps_its_token_and_refreshes_the_lease(void **state)
{
    (void)state;
    long long token = raw_lock_acquire(sg_conn, "lock", "alice", 1000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    assert_int_equal(raw_lock_acquire(sg_conn, "lock", "alice", 600000), token);
    assert_true(sg_pttl(sg_conn, "lock") > 1000);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "alice", 5);
    assert_int_equal(info.waiters, 1);
    if (sg_reply_arrives_within(bob, 0)) fail_msg("the waiter was answered while alice holds the lock");
}

static void a_granted_waiter_with_reentrant_holds_one_hold(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = sg_group_open_client();
    sg_send_command(bob, "LOCK.ACQUIRE lock bob 10000 WAIT 10000 REENTRANT");
    raw_lock_wait_for_waiters(sg_conn, "lock", 1);
    raw_lock_release(sg_conn, "lock", "alice");
    long long token = waiter_token(bob, "bob");
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").holds, 1);
    assert_int_equal(raw_lock_acquire_reentrant(sg_conn, "lock", "bob", 10000), token);
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").holds, 2);
}

static void a_release_by_another_owner_hands_nothing_to_the_waiters(void **state)
{
    (void)state;
    long long token = raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "carol"), 0);
    if (sg_reply_arrives_within(bob, 100)) fail_msg("the waiter was answered after a release by a non-holder");
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "alice", 5);
    assert_int_equal(info.token, token);
    assert_int_equal(info.waiters, 1);
}

static void extending_a_lease_with_waiters_queued_delays_their_grant(void **state)
{
    (void)state;
    int64_t start = sg_now_ms();
    long long holder_token = raw_lock_acquire(sg_conn, "lock", "alice", 300);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    assert_int_equal(raw_lock_extend(sg_conn, "lock", "alice", 1500), 1);
    int64_t quiet_until = start + 900;
    int64_t now = sg_now_ms();
    if (now < quiet_until && sg_reply_arrives_within(bob, (int)(quiet_until - now))) {
        fail_msg("the waiter was answered %lld ms after a 300 ms lease that was extended to 1500 ms",
                 (long long)(sg_now_ms() - start));
    }
    raw_lock_assert_held_by(sg_conn, "lock", "alice");
    long long token = waiter_token(bob, "bob");
    int64_t elapsed = sg_now_ms() - start;
    if (elapsed < 1400) fail_msg("the waiter was granted %lld ms into an extended 1500 ms lease", (long long)elapsed);
    assert_true(token > holder_token);
    raw_lock_assert_held_by(sg_conn, "lock", "bob");
}

static void waiters_are_granted_in_arrival_order(void **state)
{
    (void)state;
    redisContext *waiters[FIFO_CLIENTS];
    char owners[FIFO_CLIENTS][32];
    long long last_token = raw_lock_acquire(sg_conn, "fifo", "holder", 60000);
    for (int i = 0; i < FIFO_CLIENTS; i++) {
        snprintf(owners[i], sizeof(owners[i]), "waiter-%02d", i);
        waiters[i] = enqueue_waiter("fifo", owners[i], 60000, 30000, i + 1);
    }
    const char *holder = "holder";
    for (int i = 0; i < FIFO_CLIENTS; i++) {
        if (raw_lock_release(sg_conn, "fifo", holder) != 1) fail_msg("%s could not release", holder);
        long long token = waiter_token(waiters[i], owners[i]);
        if (token <= last_token) fail_msg("%s got token %lld after %lld", owners[i], token, last_token);
        last_token = token;
        raw_lock_info info = raw_lock_info_of(sg_conn, "fifo");
        raw_lock_assert_owner(&info, owners[i], strlen(owners[i]));
        assert_int_equal(info.token, token);
        assert_int_equal(info.waiters, FIFO_CLIENTS - 1 - i);
        for (int j = i + 1; j < FIFO_CLIENTS; j++) {
            if (sg_reply_arrives_within(waiters[j], 0)) {
                fail_msg("%s was answered when %s was granted", owners[j], owners[i]);
            }
        }
        holder = owners[i];
    }
    assert_int_equal(raw_lock_release(sg_conn, "fifo", holder), 1);
    raw_lock_assert_free(sg_conn, "fifo");
}

static void a_caller_without_wait_cannot_cut_in_while_waiters_are_queued(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    assert_int_equal(raw_lock_acquire(sg_conn, "lock", "carol", 10000), 0);
    /* The release and carol's try run back to back, with nothing in between. */
    sg_command_status(sg_conn, "OK", "MULTI");
    sg_command_status(sg_conn, "QUEUED", "LOCK.RELEASE lock alice");
    sg_command_status(sg_conn, "QUEUED", "LOCK.ACQUIRE lock carol 10000");
    redisReply *r = sg_command(sg_conn, "EXEC");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->element[0]->integer, 1);
    if (r->element[1]->type != REDIS_REPLY_NIL) {
        char got[300];
        sg_describe_reply(r->element[1], got, sizeof(got));
        freeReplyObject(r);
        fail_msg("LOCK.ACQUIRE right after the release, with bob waiting, answered %s; expected nil", got);
    }
    freeReplyObject(r);
    long long token = waiter_token(bob, "bob");
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "bob", 3);
    assert_int_equal(info.token, token);
}

/* The queue of a key is found by its name: a name longer than the lookup's stack buffer takes the
 * other path, with the same outcome. */
static void a_caller_without_wait_cannot_cut_in_on_a_long_key_name(void **state)
{
    (void)state;
    char key[1001];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    raw_lock_acquire(sg_conn, key, "alice", 10000);
    redisContext *bob = enqueue_waiter(key, "bob", 10000, 10000, 1);
    assert_int_equal(raw_lock_acquire(sg_conn, key, "carol", 10000), 0);
    assert_int_equal(raw_lock_info_of(sg_conn, key).waiters, 1);
    assert_int_equal(raw_lock_release(sg_conn, key, "alice"), 1);
    long long token = waiter_token(bob, "bob");
    raw_lock_info info = raw_lock_info_of(sg_conn, key);
    raw_lock_assert_owner(&info, "bob", 3);
    assert_int_equal(info.token, token);
    assert_int_equal(raw_lock_acquire(sg_conn, key, "carol", 10000), 0);
}

static void a_pipelined_caller_without_wait_cannot_cut_in_at_the_release(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    redisContext *carol = sg_group_open_client();
    /* one write: both commands are in the server's query buffer together */
    assert_int_equal(redisAppendCommand(carol, "LOCK.RELEASE lock alice"), REDIS_OK);
    assert_int_equal(redisAppendCommand(carol, "LOCK.ACQUIRE lock carol 10000"), REDIS_OK);
    redisReply *released = sg_receive_reply(carol, REPLY_TIMEOUT_MS, "release");
    assert_int_equal(released->type, REDIS_REPLY_INTEGER);
    assert_int_equal(released->integer, 1);
    freeReplyObject(released);
    assert_int_equal(raw_lock_token_or_nil(sg_receive_reply(carol, REPLY_TIMEOUT_MS, "carol"), "carol"), 0);
    long long token = waiter_token(bob, "bob");
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").token, token);
    raw_lock_assert_held_by(sg_conn, "lock", "bob");
}

static void a_caller_without_wait_cannot_cut_in_when_a_lease_with_waiters_ends(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 200);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    redisContext *carol = sg_group_open_client();
    int64_t deadline = sg_now_ms() + 3000;
    int tries = 0;
    while (!sg_reply_arrives_within(bob, 0)) {
        if (sg_now_ms() > deadline) fail_msg("bob was not granted within 3 s of a 200 ms lease");
        long long token = raw_lock_acquire(carol, "lock", "carol", 10000);
        if (token != 0) fail_msg("carol, without WAIT, was granted token %lld while bob waited", token);
        tries++;
    }
    long long token = waiter_token(bob, "bob");
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "bob", 3);
    assert_int_equal(info.token, token);
    assert_true(tries > 0);
}

static void a_new_waiter_queues_behind_the_waiters_already_there(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    redisContext *carol = enqueue_waiter("lock", "carol", 10000, 10000, 2);
    raw_lock_release(sg_conn, "lock", "alice");
    waiter_token(bob, "bob");
    if (sg_reply_arrives_within(carol, 50)) fail_msg("carol was answered while bob holds the lock");
    raw_lock_release(sg_conn, "lock", "bob");
    waiter_token(carol, "carol");
    raw_lock_assert_held_by(sg_conn, "lock", "carol");
}

static void a_waiting_client_that_disconnects_leaves_the_queue(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    redisContext *carol = enqueue_waiter("lock", "carol", 10000, 10000, 2);
    sg_group_close_client(bob);
    raw_lock_wait_for_waiters(sg_conn, "lock", 1);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 1);
    long long token = waiter_token(carol, "carol");
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "carol", 5);
    assert_int_equal(info.token, token);
    assert_int_equal(info.waiters, 0);
}

/* The release and the killing of the first waiter's connection in one write, so that both run in
 * one event-loop turn: the waiter is granted the lock, then its client is gone before Redis sends
 * blocked clients their replies. Nobody was told of that grant: it is taken back on the next turn
 * and the lock goes to the next waiter (or is freed). */
/* As enqueue_waiter; returns the waiter's CLIENT ID (asked before it blocks). */
static long long enqueue_waiter_with_id(const char *key, const char *owner, long long ttl, long long timeout,
                                        long long position)
{
    redisContext *w = sg_group_open_client();
    long long id = client_id(w);
    sg_send_command(w, "LOCK.ACQUIRE %s %s %lld WAIT %lld", key, owner, ttl, timeout);
    raw_lock_wait_for_waiters(sg_conn, key, position);
    return id;
}

static void release_and_kill_first_waiter_in_one_turn(long long bob_id)
{
    if (redisAppendCommand(sg_conn, "LOCK.RELEASE lock alice") != REDIS_OK ||
        redisAppendCommand(sg_conn, "CLIENT KILL ID %lld", bob_id) != REDIS_OK)
        fail_msg("could not pipeline the release and the kill");
    redisReply *released = sg_receive_reply(sg_conn, REPLY_TIMEOUT_MS, "LOCK.RELEASE");
    redisReply *killed = sg_receive_reply(sg_conn, REPLY_TIMEOUT_MS, "CLIENT KILL ID");
    assert_int_equal(released->type, REDIS_REPLY_INTEGER);
    assert_int_equal(released->integer, 1);
    assert_int_equal(killed->type, REDIS_REPLY_INTEGER);
    assert_int_equal(killed->integer, 1);
    freeReplyObject(released);
    freeReplyObject(killed);
}

static void a_grant_whose_client_went_away_in_the_same_turn_goes_to_the_next_waiter(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    long long bob_id = enqueue_waiter_with_id("lock", "bob", 600000, 10000, 1);
    redisContext *carol = enqueue_waiter("lock", "carol", 10000, 10000, 2);
    long long revoked = sg_info_number(sg_conn, "slotguard_lock_grants_revoked");
    release_and_kill_first_waiter_in_one_turn(bob_id);
    long long token = waiter_token(carol, "carol");
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "carol", 5);
    assert_int_equal(info.token, token);
    assert_int_equal(sg_info_number(sg_conn, "slotguard_lock_grants_revoked"), revoked + 1);
}

static void a_grant_whose_client_went_away_in_the_same_turn_frees_a_lock_nobody_else_waits_for(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    release_and_kill_first_waiter_in_one_turn(enqueue_waiter_with_id("lock", "bob", 600000, 10000, 1));
    int64_t until = sg_now_ms() + REPLY_TIMEOUT_MS;
    while (raw_lock_info_of(sg_conn, "lock").held && sg_now_ms() < until) sg_sleep_ms(5);
    raw_lock_assert_free(sg_conn, "lock");
    /* Taken back, not just expired: the next caller gets it at once. */
    assert_true(raw_lock_acquire(sg_conn, "lock", "dave", 1000) > 0);
}

static void a_lock_whose_only_waiter_disconnected_is_freed_by_release(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    sg_group_close_client(bob);
    raw_lock_wait_for_waiters(sg_conn, "lock", 0);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 1);
    raw_lock_assert_free(sg_conn, "lock");
}

/* CLIENT UNBLOCK does not apply to lock waiters (README, "Lock commands"): on Redis 7.0 it would
 * drop the one reply of a waiter granted earlier in the same event-loop turn. The waiter keeps its
 * place and gets its one reply later. */
static void client_unblock_timeout_leaves_a_waiter_in_its_place_and_it_is_granted_later(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = sg_group_open_client();
    long long bob_id = client_id(bob);
    sg_send_command(bob, "LOCK.ACQUIRE lock bob 10000 WAIT 10000");
    raw_lock_wait_for_waiters(sg_conn, "lock", 1);
    redisContext *carol = enqueue_waiter("lock", "carol", 10000, 10000, 2);
    assert_int_equal(sg_command_integer(sg_conn, "CLIENT UNBLOCK %lld TIMEOUT", bob_id), 0);
    if (sg_reply_arrives_within(bob, 200)) fail_msg("CLIENT UNBLOCK answered a lock waiter");
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").waiters, 2);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "alice"), 1);
    long long token = waiter_token(bob, "bob");
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").token, token);
    raw_lock_assert_held_by(sg_conn, "lock", "bob");
    if (sg_reply_arrives_within(carol, 0)) fail_msg("carol was answered while bob holds the lock");
}

static void client_unblock_error_leaves_a_waiter_which_gets_nil_at_its_own_timeout(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = sg_group_open_client();
    long long bob_id = client_id(bob);
    int64_t sent = sg_now_ms();
    sg_send_command(bob, "LOCK.ACQUIRE lock bob 10000 WAIT 700");
    raw_lock_wait_for_waiters(sg_conn, "lock", 1);
    assert_int_equal(sg_command_integer(sg_conn, "CLIENT UNBLOCK %lld ERROR", bob_id), 0);
    redisReply *r = sg_receive_reply(bob, REPLY_TIMEOUT_MS, "bob at its timeout");
    int64_t waited = sg_now_ms() - sent;
    assert_int_equal(raw_lock_token_or_nil(r, "bob at its timeout"), 0);
    if (waited < 650) fail_msg("bob was answered after %lld ms, before its WAIT of 700 ms", (long long)waited);
    if (sg_reply_arrives_within(bob, 100)) fail_msg("bob got a second reply");
    raw_lock_wait_for_waiters(sg_conn, "lock", 0);
    raw_lock_assert_held_by(sg_conn, "lock", "alice");
}

static void wait_inside_multi_exec_on_a_held_lock_returns_nil_at_once(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = sg_group_open_client();
    sg_command_status(bob, "OK", "MULTI");
    sg_command_status(bob, "QUEUED", "LOCK.ACQUIRE lock bob 10000 WAIT 10000");
    int64_t start = sg_now_ms();
    sg_send_command(bob, "EXEC");
    redisReply *r = sg_receive_reply(bob, 3000, "EXEC");
    int64_t elapsed = sg_now_ms() - start;
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    if (r->element[0]->type != REDIS_REPLY_NIL) {
        char got[300];
        sg_describe_reply(r->element[0], got, sizeof(got));
        freeReplyObject(r);
        fail_msg("LOCK.ACQUIRE ... WAIT inside EXEC answered %s, expected nil", got);
    }
    freeReplyObject(r);
    if (elapsed >= NOT_BLOCKED_LIMIT_MS) fail_msg("EXEC took %lld ms", (long long)elapsed);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "alice", 5);
    assert_int_equal(info.waiters, 0);
}

static void wait_inside_multi_exec_on_a_free_lock_grants_it(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "MULTI");
    sg_command_status(sg_conn, "QUEUED", "LOCK.ACQUIRE lock bob 10000 WAIT 10000");
    redisReply *r = sg_command(sg_conn, "EXEC");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_INTEGER);
    assert_true(r->element[0]->integer >= 1);
    long long token = r->element[0]->integer;
    freeReplyObject(r);
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").token, token);
}

#define ACQUIRE_SCRIPT "return redis.call('LOCK.ACQUIRE', KEYS[1], ARGV[1], ARGV[2], 'WAIT', ARGV[3])"

static void wait_inside_a_lua_script_on_a_held_lock_returns_nil_at_once(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    redisContext *bob = sg_group_open_client();
    int64_t start = sg_now_ms();
    sg_send_command(bob, "EVAL %s 1 lock bob 10000 10000", ACQUIRE_SCRIPT);
    redisReply *r = sg_receive_reply(bob, 3000, "EVAL");
    int64_t elapsed = sg_now_ms() - start;
    if (r->type != REDIS_REPLY_NIL) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("LOCK.ACQUIRE ... WAIT inside EVAL answered %s, expected nil", got);
    }
    freeReplyObject(r);
    if (elapsed >= NOT_BLOCKED_LIMIT_MS) fail_msg("EVAL took %lld ms", (long long)elapsed);
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "alice", 5);
    assert_int_equal(info.waiters, 0);
}

static void wait_inside_a_lua_script_on_a_free_lock_grants_it(void **state)
{
    (void)state;
    long long token = sg_command_integer(sg_conn, "EVAL %s 1 lock bob 10000 10000", ACQUIRE_SCRIPT);
    assert_true(token >= 1);
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").token, token);
}

#define LOCK_TEST(name) cmocka_unit_test_setup_teardown(name, sg_group_flush, sg_group_close_clients)

int main(void)
{
    const struct CMUnitTest tests[] = {
        LOCK_TEST(lock_info_counts_the_clients_waiting),
        LOCK_TEST(waiter_is_granted_with_a_larger_token_when_the_holder_releases),
        LOCK_TEST(waiter_is_granted_when_the_holders_lease_ends_without_release),
        LOCK_TEST(wait_times_out_with_nil_after_roughly_the_timeout),
        LOCK_TEST(a_waiter_that_timed_out_is_not_granted_later),
        LOCK_TEST(a_waiter_that_times_out_leaves_the_queue_and_the_next_one_is_granted),
        LOCK_TEST(the_holder_acquiring_again_while_others_wait_keeps_its_token_and_refreshes_the_lease),
        LOCK_TEST(a_granted_waiter_with_reentrant_holds_one_hold),
        LOCK_TEST(a_release_by_another_owner_hands_nothing_to_the_waiters),
        LOCK_TEST(extending_a_lease_with_waiters_queued_delays_their_grant),
        LOCK_TEST(waiters_are_granted_in_arrival_order),
        LOCK_TEST(a_caller_without_wait_cannot_cut_in_while_waiters_are_queued),
        LOCK_TEST(a_caller_without_wait_cannot_cut_in_on_a_long_key_name),
        LOCK_TEST(a_pipelined_caller_without_wait_cannot_cut_in_at_the_release),
        LOCK_TEST(a_caller_without_wait_cannot_cut_in_when_a_lease_with_waiters_ends),
        LOCK_TEST(a_new_waiter_queues_behind_the_waiters_already_there),
        LOCK_TEST(a_waiting_client_that_disconnects_leaves_the_queue),
        LOCK_TEST(del_of_a_lock_with_waiters_hands_it_to_the_first_at_once),
        LOCK_TEST(unlink_of_a_lock_with_waiters_hands_it_to_the_first_at_once),
        LOCK_TEST(rename_of_a_lock_with_waiters_hands_the_name_to_the_first_at_once),
        LOCK_TEST(a_shortened_lease_with_waiters_ends_with_a_grant_at_its_new_end),
        LOCK_TEST(flushall_hands_a_lock_with_waiters_to_the_first_at_once),
        LOCK_TEST(swapdb_that_empties_the_lock_name_hands_it_to_the_first_at_once),
        LOCK_TEST(a_lock_whose_only_waiter_disconnected_is_freed_by_release),
        LOCK_TEST(a_grant_whose_client_went_away_in_the_same_turn_goes_to_the_next_waiter),
        LOCK_TEST(a_grant_whose_client_went_away_in_the_same_turn_frees_a_lock_nobody_else_waits_for),
        LOCK_TEST(client_unblock_timeout_leaves_a_waiter_in_its_place_and_it_is_granted_later),
        LOCK_TEST(client_unblock_error_leaves_a_waiter_which_gets_nil_at_its_own_timeout),
        LOCK_TEST(wait_inside_multi_exec_on_a_held_lock_returns_nil_at_once),
        LOCK_TEST(wait_inside_multi_exec_on_a_free_lock_grants_it),
        LOCK_TEST(wait_inside_a_lua_script_on_a_held_lock_returns_nil_at_once),
        LOCK_TEST(wait_inside_a_lua_script_on_a_free_lock_grants_it),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
