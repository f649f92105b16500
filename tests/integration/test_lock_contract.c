/* test_lock_contract.c -- every reply of the lock contract in README.md ("## Lock commands"), against
 * a real redis-server with the module loaded.
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

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "harness.h"

#define MAX_OWNER_LEN 512
#define MAX_TIME_MS "1000000000000"
#define QUEUE_TIMEOUT_MS 5000     /* how long a test waits for a waiter to show up in LOCK.INFO */
#define REPLY_TIMEOUT_MS 5000     /* how long a test waits for a waiter's reply it expects */
#define NOT_BLOCKED_LIMIT_MS 1000 /* a command that must not block answers well within this */
#define COMMAND_TIMEOUT_S 5       /* no command of these tests takes longer; a hang fails fast */
#define FIFO_CLIENTS 12
#define MAX_CLIENTS (FIFO_CLIENTS + 4)

static sg_server *server;
static redisContext *conn;
static redisContext *clients[MAX_CLIENTS]; /* extra connections of the current test */

/* The main connection, with a short command timeout so that a command the server never answers
 * fails its test quickly. */
static void connect_main(void)
{
    conn = sg_connect_to(server);
    struct timeval tv = {COMMAND_TIMEOUT_S, 0};
    redisSetTimeout(conn, tv);
}

static int start_server(void **state)
{
    (void)state;
    server = sg_server_start(NULL);
    connect_main();
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    if (conn != NULL) redisFree(conn);
    conn = NULL;
    sg_server_stop(server);
    server = NULL;
    return 0;
}

static int flush_dataset(void **state)
{
    (void)state;
    if (conn->err) {
        /* a previous test broke it (a command that was never answered): start afresh */
        redisFree(conn);
        connect_main();
    }
    sg_command_status(conn, "OK", "FLUSHALL");
    return 0;
}

static int close_clients(void **state)
{
    (void)state;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i] != NULL) redisFree(clients[i]);
        clients[i] = NULL;
    }
    return 0;
}

/* ---- connections and waiters --------------------------------------------------------------- */

/* A new connection owned by the current test (closed by its teardown). */
static redisContext *open_client(void)
{
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i] == NULL) {
            clients[i] = sg_connect_to(server);
            struct timeval tv = {COMMAND_TIMEOUT_S, 0};
            redisSetTimeout(clients[i], tv);
            return clients[i];
        }
    }
    fail_msg("too many connections in one test");
    return NULL;
}

/* Close one of the test's connections now (a waiter that disconnects). */
static void close_client(redisContext *c)
{
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i] == c) {
            redisFree(c);
            clients[i] = NULL;
            return;
        }
    }
    fail_msg("close_client: unknown connection");
}

/* Has the server answered on `c` within `timeout_ms` (0: right now)? Does not consume the reply.
 * Bytes hiredis already read but not parsed count as an answer. */
/* The next reply on `c` (sending what is still buffered first); fails when none arrives within
 * `timeout_ms`. */
/* A LOCK.ACQUIRE reply: the token (>= 1) when granted, 0 for nil. Frees the reply. */
static long long token_or_nil(redisReply *r, const char *what)
{
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("%s: expected a token >= 1 or nil, got %s", what, got);
    }
    long long token = r->integer;
    freeReplyObject(r);
    return token;
}

/* LOCK.ACQUIRE key owner ttl (text key and owner): the token, or 0 for nil. */
static long long acquire(redisContext *c, const char *key, const char *owner, long long ttl)
{
    return token_or_nil(sg_command(c, "LOCK.ACQUIRE %s %s %lld", key, owner, ttl), "LOCK.ACQUIRE");
}

static long long acquire_reentrant(redisContext *c, const char *key, const char *owner, long long ttl)
{
    return token_or_nil(sg_command(c, "LOCK.ACQUIRE %s %s %lld REENTRANT", key, owner, ttl),
                        "LOCK.ACQUIRE REENTRANT");
}

static long long release(redisContext *c, const char *key, const char *owner)
{
    return sg_command_integer(c, "LOCK.RELEASE %s %s", key, owner);
}

static long long extend(redisContext *c, const char *key, const char *owner, long long ttl)
{
    return sg_command_integer(c, "LOCK.EXTEND %s %s %lld", key, owner, ttl);
}

static long long pttl(const char *key)
{
    return sg_command_integer(conn, "PTTL %s", key);
}

static long long exists(const char *key)
{
    return sg_command_integer(conn, "EXISTS %s", key);
}

/* ---- LOCK.INFO ------------------------------------------------------------------------------ */

typedef struct lock_info {
    int held; /* 0: LOCK.INFO answered nil */
    char owner[MAX_OWNER_LEN + 1];
    size_t owner_len;
    long long ttl, token, holds, waiters;
} lock_info;

static lock_info info_of_binary(const char *key, size_t key_len)
{
    lock_info info;
    memset(&info, 0, sizeof(info));
    redisReply *r = redisCommand(conn, "LOCK.INFO %b", key, key_len);
    if (r == NULL) {
        fail_msg("LOCK.INFO %.*s: no reply within %d s (%s)", (int)key_len, key, COMMAND_TIMEOUT_S, conn->errstr);
    }
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return info;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("LOCK.INFO: expected nil or a flat field/value array, got %s", got);
    }
    int seen = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *name = r->element[i];
        const redisReply *value = r->element[i + 1];
        if (sg_reply_is_text(name, "owner")) {
            if (value->type != REDIS_REPLY_STRING || value->len > MAX_OWNER_LEN) {
                freeReplyObject(r);
                fail_msg("LOCK.INFO: owner is not a bulk string of at most %d bytes", MAX_OWNER_LEN);
            }
            memcpy(info.owner, value->str, value->len);
            info.owner_len = value->len;
            seen |= 1;
            continue;
        }
        long long *slot = NULL;
        int bit = 0;
        const char *field = name->type == REDIS_REPLY_STRING || name->type == REDIS_REPLY_STATUS ? name->str : "?";
        if (sg_reply_is_text(name, "ttl")) { slot = &info.ttl; bit = 2; }
        else if (sg_reply_is_text(name, "token")) { slot = &info.token; bit = 4; }
        else if (sg_reply_is_text(name, "holds")) { slot = &info.holds; bit = 8; }
        else if (sg_reply_is_text(name, "waiters")) { slot = &info.waiters; bit = 16; }
        if (slot == NULL) continue;
        if (value->type != REDIS_REPLY_INTEGER) {
            freeReplyObject(r);
            fail_msg("LOCK.INFO: field %s is not an integer", field);
        }
        *slot = value->integer;
        seen |= bit;
    }
    freeReplyObject(r);
    if (seen != 31) fail_msg("LOCK.INFO lacks documented fields (owner, ttl, token, holds, waiters; mask 0x%x)", seen);
    info.held = 1;
    return info;
}

static lock_info info_of(const char *key)
{
    return info_of_binary(key, strlen(key));
}

static void assert_owner(const lock_info *info, const char *owner, size_t len)
{
    assert_true(info->held);
    if (info->owner_len != len || memcmp(info->owner, owner, len) != 0) {
        fail_msg("LOCK.INFO owner is \"%.*s\" (%zu bytes), expected \"%.*s\" (%zu bytes)", (int)info->owner_len,
                 info->owner, info->owner_len, (int)len, owner, len);
    }
}

static void assert_held_by(const char *key, const char *owner)
{
    lock_info info = info_of(key);
    if (!info.held) fail_msg("LOCK.INFO %s is nil, expected the lock held by %s", key, owner);
    assert_owner(&info, owner, strlen(owner));
}

static void assert_free(const char *key)
{
    lock_info info = info_of(key);
    if (info.held) fail_msg("LOCK.INFO %s: expected nil, the lock is held by \"%s\"", key, info.owner);
}

/* Poll LOCK.INFO until `waiters` equals `count` (the lock must be held meanwhile). */
static void wait_for_waiters(const char *key, long long count)
{
    int64_t deadline = sg_now_ms() + QUEUE_TIMEOUT_MS;
    long long last = -1;
    while (sg_now_ms() < deadline) {
        lock_info info = info_of(key);
        if (!info.held) fail_msg("LOCK.INFO %s is nil while waiting for %lld waiters", key, count);
        last = info.waiters;
        if (last == count) return;
        sg_sleep_ms(2);
    }
    fail_msg("LOCK.INFO %s waiters stayed %lld, expected %lld within %d ms", key, last, count, QUEUE_TIMEOUT_MS);
}

/* A new connection blocked in LOCK.ACQUIRE key owner ttl WAIT timeout, queued at position
 * `position` (checked with LOCK.INFO before returning). */
static redisContext *enqueue_waiter(const char *key, const char *owner, long long ttl, long long timeout,
                                    long long position)
{
    redisContext *w = open_client();
    sg_send_command(w, "LOCK.ACQUIRE %s %s %lld WAIT %lld", key, owner, ttl, timeout);
    wait_for_waiters(key, position);
    if (sg_reply_arrives_within(w, 0)) fail_msg("waiter %s was answered although the lock is held", owner);
    return w;
}

/* The token a waiter is granted (fails on nil, an error, or no reply in time). */
static long long waiter_token(redisContext *w, const char *owner)
{
    char what[128];
    snprintf(what, sizeof(what), "waiter %s", owner);
    long long token = token_or_nil(sg_receive_reply(w, REPLY_TIMEOUT_MS, what), what);
    if (token == 0) fail_msg("waiter %s got nil, expected to be granted the lock", owner);
    return token;
}

static long long client_id(redisContext *c)
{
    return sg_command_integer(c, "CLIENT ID");
}

/* ---- grants ---------------------------------------------------------------------------------- */

static void lock_acquire_grants_a_free_lock_with_a_token_of_at_least_one(void **state)
{
    (void)state;
    long long token = acquire(conn, "lock", "alice", 10000);
    assert_true(token >= 1);
    assert_held_by("lock", "alice");
}

static void a_fresh_token_is_the_current_unix_time_in_microseconds(void **state)
{
    /* README: tokens are max(last token + 1, current Unix time in microseconds). After a pause the
     * clock is ahead of the last token, so the token lies between two readings of the same clock
     * taken around the command. (Runs before any test pushes the token clock ahead.) */
    (void)state;
    sg_sleep_ms(5);
    long long before = sg_unix_us();
    long long token = acquire(conn, "lock", "alice", 10000);
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
    assert_true(acquire(conn, "lock", "alice", 10000) >= 1);
    long long left = pttl("lock");
    assert_true(left > 0 && left <= 10000);
}

static void lock_acquire_returns_nil_to_a_second_owner_while_the_lock_is_held(void **state)
{
    (void)state;
    long long token = acquire(conn, "lock", "alice", 10000);
    assert_true(token >= 1);
    assert_int_equal(acquire(conn, "lock", "bob", 10000), 0);
    lock_info info = info_of("lock");
    assert_owner(&info, "alice", 5);
    assert_int_equal(info.token, token);
}

static void lock_acquire_by_the_holder_refreshes_the_lease_and_returns_the_same_token(void **state)
{
    (void)state;
    long long token = acquire(conn, "lock", "alice", 1000);
    sg_sleep_ms(300);
    long long before = pttl("lock");
    assert_true(before > 0 && before <= 700);
    assert_int_equal(acquire(conn, "lock", "alice", 1000), token);
    long long after = pttl("lock");
    if (after <= before + 200) fail_msg("PTTL went from %lld only to %lld after the holder re-acquired", before, after);
    assert_true(after <= 1000);
    lock_info info = info_of("lock");
    assert_int_equal(info.token, token);
    assert_int_equal(info.holds, 1);
}

static void lock_acquire_by_the_holder_with_a_longer_ttl_lengthens_the_lease(void **state)
{
    (void)state;
    long long token = acquire(conn, "lock", "alice", 1000);
    assert_int_equal(acquire(conn, "lock", "alice", 600000), token);
    assert_true(pttl("lock") > 1000);
}

static void lock_acquire_without_reentrant_keeps_one_hold_so_one_release_frees_it(void **state)
{
    (void)state;
    long long token = acquire(conn, "lock", "alice", 10000);
    assert_int_equal(acquire(conn, "lock", "alice", 10000), token);
    assert_int_equal(info_of("lock").holds, 1);
    assert_int_equal(release(conn, "lock", "alice"), 1);
    assert_free("lock");
}

static void lock_acquire_accepts_the_largest_ttl(void **state)
{
    (void)state;
    assert_true(token_or_nil(sg_command(conn, "LOCK.ACQUIRE lock alice " MAX_TIME_MS), "LOCK.ACQUIRE") >= 1);
    long long left = pttl("lock");
    assert_true(left > 1000000000000LL - 60000 && left <= 1000000000000LL);
}

static void lock_acquire_accepts_the_smallest_ttl(void **state)
{
    (void)state;
    assert_true(acquire(conn, "lock", "alice", 1) >= 1);
    int64_t deadline = sg_now_ms() + 2000;
    while (exists("lock") && sg_now_ms() < deadline) sg_sleep_ms(1);
    assert_int_equal(exists("lock"), 0);
}

static void lock_acquire_with_wait_on_a_free_lock_grants_at_once(void **state)
{
    (void)state;
    int64_t start = sg_now_ms();
    long long token = token_or_nil(sg_command(conn, "LOCK.ACQUIRE lock alice 10000 WAIT 10000"), "LOCK.ACQUIRE WAIT");
    assert_true(token >= 1);
    assert_true(sg_now_ms() - start < NOT_BLOCKED_LIMIT_MS);
    assert_held_by("lock", "alice");
}

static void lock_acquire_with_wait_by_the_holder_returns_its_token_at_once(void **state)
{
    (void)state;
    long long token = acquire(conn, "lock", "alice", 10000);
    int64_t start = sg_now_ms();
    assert_int_equal(token_or_nil(sg_command(conn, "LOCK.ACQUIRE lock alice 10000 WAIT 5000"), "LOCK.ACQUIRE WAIT"),
                     token);
    assert_true(sg_now_ms() - start < NOT_BLOCKED_LIMIT_MS);
}

/* ---- release ---------------------------------------------------------------------------------- */

static void lock_release_returns_one_for_the_holder_and_frees_the_lock(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    assert_int_equal(release(conn, "lock", "alice"), 1);
    assert_int_equal(exists("lock"), 0);
    assert_free("lock");
    assert_true(acquire(conn, "lock", "bob", 10000) >= 1);
}

static void lock_release_returns_zero_for_another_owner_and_keeps_the_lock(void **state)
{
    (void)state;
    long long token = acquire(conn, "lock", "alice", 10000);
    assert_int_equal(release(conn, "lock", "bob"), 0);
    lock_info info = info_of("lock");
    assert_owner(&info, "alice", 5);
    assert_int_equal(info.token, token);
    assert_int_equal(info.holds, 1);
}

static void lock_release_returns_zero_after_the_lease_ended(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 100);
    sg_sleep_ms(250);
    assert_int_equal(release(conn, "lock", "alice"), 0);
    assert_int_equal(exists("lock"), 0);
}

static void lock_release_returns_zero_for_a_lock_that_never_existed(void **state)
{
    (void)state;
    assert_int_equal(release(conn, "nosuchlock", "alice"), 0);
    assert_int_equal(exists("nosuchlock"), 0);
}

/* ---- extend ----------------------------------------------------------------------------------- */

static void lock_extend_returns_one_and_lengthens_the_lease(void **state)
{
    (void)state;
    long long token = acquire(conn, "lock", "alice", 1000);
    assert_int_equal(extend(conn, "lock", "alice", 600000), 1);
    long long left = pttl("lock");
    assert_true(left > 590000 && left <= 600000);
    assert_int_equal(info_of("lock").token, token);
}

static void lock_extend_sets_the_lease_to_ttl_from_now_even_when_shorter(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 600000);
    assert_int_equal(extend(conn, "lock", "alice", 2000), 1);
    long long left = pttl("lock");
    assert_true(left > 0 && left <= 2000);
}

static void lock_extend_after_time_has_passed_pushes_the_lease_back_up(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 1000);
    sg_sleep_ms(300);
    long long before = pttl("lock");
    assert_int_equal(extend(conn, "lock", "alice", 1000), 1);
    long long after = pttl("lock");
    if (after <= before + 200) fail_msg("PTTL went from %lld only to %lld after LOCK.EXTEND", before, after);
    lock_info info = info_of("lock");
    assert_true(info.ttl > before && info.ttl <= 1000);
}

static void lock_extend_returns_zero_for_another_owner_and_leaves_the_lease(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 5000);
    assert_int_equal(extend(conn, "lock", "bob", 600000), 0);
    long long left = pttl("lock");
    assert_true(left > 0 && left <= 5000);
    assert_held_by("lock", "alice");
}

static void lock_extend_returns_zero_after_the_lease_ended_and_creates_nothing(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 100);
    sg_sleep_ms(250);
    assert_int_equal(extend(conn, "lock", "alice", 10000), 0);
    assert_int_equal(exists("lock"), 0);
}

/* ---- LOCK.INFO -------------------------------------------------------------------------------- */

static void lock_info_reports_owner_ttl_token_holds_and_waiters(void **state)
{
    (void)state;
    long long token = acquire(conn, "lock", "alice", 10000);
    lock_info info = info_of("lock");
    assert_owner(&info, "alice", 5);
    assert_true(info.ttl > 0 && info.ttl <= 10000);
    assert_int_equal(info.token, token);
    assert_int_equal(info.holds, 1);
    assert_int_equal(info.waiters, 0);
}

static void lock_info_returns_nil_for_a_free_lock(void **state)
{
    (void)state;
    assert_free("nosuchlock");
    acquire(conn, "lock", "alice", 10000);
    release(conn, "lock", "alice");
    assert_free("lock");
}

static void lock_info_counts_the_clients_waiting(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    enqueue_waiter("lock", "bob", 10000, 10000, 1);
    enqueue_waiter("lock", "carol", 10000, 10000, 2);
    lock_info info = info_of("lock");
    assert_owner(&info, "alice", 5);
    assert_int_equal(info.waiters, 2);
}

/* ---- REENTRANT -------------------------------------------------------------------------------- */

static void reentrant_acquire_by_the_holder_adds_a_hold_with_the_same_token(void **state)
{
    (void)state;
    long long token = acquire_reentrant(conn, "lock", "alice", 10000);
    assert_int_equal(acquire_reentrant(conn, "lock", "alice", 10000), token);
    lock_info info = info_of("lock");
    assert_int_equal(info.holds, 2);
    assert_int_equal(info.token, token);
}

static void reentrant_lock_is_freed_after_one_release_per_hold(void **state)
{
    (void)state;
    long long token = acquire_reentrant(conn, "lock", "alice", 10000);
    acquire_reentrant(conn, "lock", "alice", 10000);
    acquire_reentrant(conn, "lock", "alice", 10000);
    assert_int_equal(release(conn, "lock", "alice"), 1);
    lock_info info = info_of("lock");
    assert_owner(&info, "alice", 5);
    assert_int_equal(info.holds, 2);
    assert_int_equal(info.token, token);
    assert_int_equal(release(conn, "lock", "alice"), 1);
    assert_int_equal(info_of("lock").holds, 1);
    assert_int_equal(acquire(conn, "lock", "bob", 10000), 0);
    assert_int_equal(release(conn, "lock", "alice"), 1);
    assert_free("lock");
    assert_int_equal(release(conn, "lock", "alice"), 0);
}

static void reentrant_acquire_refreshes_the_lease(void **state)
{
    (void)state;
    acquire_reentrant(conn, "lock", "alice", 1000);
    sg_sleep_ms(300);
    long long before = pttl("lock");
    acquire_reentrant(conn, "lock", "alice", 1000);
    long long after = pttl("lock");
    if (after <= before + 200) fail_msg("PTTL went from %lld only to %lld after a reentrant acquire", before, after);
}

static void reentrant_acquire_by_another_owner_returns_nil(void **state)
{
    (void)state;
    acquire_reentrant(conn, "lock", "alice", 10000);
    assert_int_equal(acquire_reentrant(conn, "lock", "bob", 10000), 0);
    assert_int_equal(info_of("lock").holds, 1);
}

/* ---- fencing tokens --------------------------------------------------------------------------- */

static void tokens_increase_across_release_and_acquire(void **state)
{
    (void)state;
    long long last = 0;
    for (int i = 0; i < 20; i++) {
        const char *owner = i % 2 ? "alice" : "bob";
        long long token = acquire(conn, "lock", owner, 10000);
        if (token <= last) fail_msg("grant %d: token %lld after %lld", i, token, last);
        last = token;
        assert_int_equal(release(conn, "lock", owner), 1);
    }
}

static void tokens_increase_across_a_release_and_a_reacquire_by_the_same_owner(void **state)
{
    (void)state;
    long long first = acquire(conn, "lock", "alice", 10000);
    release(conn, "lock", "alice");
    long long second = acquire(conn, "lock", "alice", 10000);
    assert_true(second > first);
}

static void tokens_increase_across_lease_expiry(void **state)
{
    (void)state;
    long long first = acquire(conn, "lock", "alice", 100);
    int64_t deadline = sg_now_ms() + 3000;
    while (exists("lock") && sg_now_ms() < deadline) sg_sleep_ms(5);
    assert_int_equal(exists("lock"), 0);
    long long second = acquire(conn, "lock", "bob", 10000);
    if (second <= first) fail_msg("token %lld after the lease of token %lld ended", second, first);
}

static void tokens_increase_across_del_of_the_key(void **state)
{
    (void)state;
    long long first = acquire(conn, "lock", "alice", 10000);
    assert_int_equal(sg_command_integer(conn, "DEL lock"), 1);
    long long second = acquire(conn, "lock", "alice", 10000);
    if (second <= first) fail_msg("token %lld after DEL of a lock with token %lld", second, first);
}

static void tokens_increase_across_different_lock_names(void **state)
{
    (void)state;
    long long last = 0;
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "lock:%d", i);
        long long token = acquire(conn, key, "alice", 10000);
        if (token <= last) fail_msg("%s: token %lld after %lld on another lock", key, token, last);
        last = token;
    }
}

static void tokens_increase_across_flushall(void **state)
{
    (void)state;
    long long first = acquire(conn, "lock", "alice", 10000);
    sg_command_status(conn, "OK", "FLUSHALL");
    long long second = acquire(conn, "lock", "alice", 10000);
    if (second <= first) fail_msg("token %lld after FLUSHALL of a lock with token %lld", second, first);
}

/* ---- lease ------------------------------------------------------------------------------------ */

static void lease_ends_on_time_although_the_holder_never_comes_back(void **state)
{
    (void)state;
    int64_t start = sg_now_ms();
    assert_true(acquire(conn, "lock", "alice", 200) >= 1);
    long long left = pttl("lock");
    assert_true(left > 0 && left <= 200);
    int64_t gone_at = -1;
    while (sg_now_ms() - start < 3000) {
        if (!exists("lock")) {
            gone_at = sg_now_ms();
            break;
        }
        sg_sleep_ms(5);
    }
    if (gone_at < 0) fail_msg("a lock with a 200 ms lease still exists after 3 s");
    if (gone_at - start < 195) fail_msg("a 200 ms lease ended after %lld ms", (long long)(gone_at - start));
    assert_free("lock");
    assert_true(acquire(conn, "lock", "bob", 10000) >= 1);
}

static void lease_ends_without_any_client_touching_the_key(void **state)
{
    /* Nobody reads the key: Redis's own expiry removes it (the keyspace shrinks on its own). */
    (void)state;
    acquire(conn, "lock", "alice", 200);
    assert_int_equal(sg_command_integer(conn, "DBSIZE"), 1);
    int64_t deadline = sg_now_ms() + 5000;
    while (sg_command_integer(conn, "DBSIZE") != 0 && sg_now_ms() < deadline) sg_sleep_ms(20);
    assert_int_equal(sg_command_integer(conn, "DBSIZE"), 0);
}

/* ---- binary safety ---------------------------------------------------------------------------- */

static void owners_are_binary_safe(void **state)
{
    (void)state;
    const char owner[] = {'a', '\0', 'b', '\r', '\n', 'c'};
    const char other[] = {'a', '\0', 'b', '\r', '\n', 'X'};
    long long token = token_or_nil(sg_command(conn, "LOCK.ACQUIRE lock %b 10000", owner, sizeof(owner)), "acquire");
    assert_true(token >= 1);
    lock_info info = info_of("lock");
    assert_owner(&info, owner, sizeof(owner));
    assert_int_equal(token_or_nil(sg_command(conn, "LOCK.ACQUIRE lock %b 10000", other, sizeof(other)), "acquire"), 0);
    assert_int_equal(token_or_nil(sg_command(conn, "LOCK.ACQUIRE lock %b 10000", owner, (size_t)1), "acquire"), 0);
    assert_int_equal(token_or_nil(sg_command(conn, "LOCK.ACQUIRE lock %b 10000", owner, sizeof(owner)), "acquire"),
                     token);
    assert_int_equal(sg_command_integer(conn, "LOCK.EXTEND lock %b 10000", other, sizeof(other)), 0);
    assert_int_equal(sg_command_integer(conn, "LOCK.RELEASE lock %b", owner, (size_t)1), 0);
    assert_int_equal(sg_command_integer(conn, "LOCK.RELEASE lock %b", other, sizeof(other)), 0);
    assert_int_equal(sg_command_integer(conn, "LOCK.EXTEND lock %b 20000", owner, sizeof(owner)), 1);
    assert_int_equal(sg_command_integer(conn, "LOCK.RELEASE lock %b", owner, sizeof(owner)), 1);
    assert_free("lock");
}

static void lock_names_are_binary_safe(void **state)
{
    (void)state;
    const char key1[] = {'k', '\0', '\r', '\n', '1'};
    const char key2[] = {'k', '\0', '\r', '\n', '2'};
    long long t1 = token_or_nil(sg_command(conn, "LOCK.ACQUIRE %b alice 10000", key1, sizeof(key1)), "acquire");
    long long t2 = token_or_nil(sg_command(conn, "LOCK.ACQUIRE %b bob 10000", key2, sizeof(key2)), "acquire");
    assert_true(t1 >= 1 && t2 > t1);
    lock_info i1 = info_of_binary(key1, sizeof(key1));
    lock_info i2 = info_of_binary(key2, sizeof(key2));
    assert_owner(&i1, "alice", 5);
    assert_owner(&i2, "bob", 3);
    assert_int_equal(i1.token, t1);
    assert_int_equal(i2.token, t2);
    assert_int_equal(sg_command_integer(conn, "EXISTS %b", key1, sizeof(key1)), 1);
    assert_int_equal(sg_command_integer(conn, "LOCK.RELEASE %b alice", key1, sizeof(key1)), 1);
    assert_int_equal(sg_command_integer(conn, "EXISTS %b", key1, sizeof(key1)), 0);
    i2 = info_of_binary(key2, sizeof(key2));
    assert_owner(&i2, "bob", 3);
}

static void a_512_byte_owner_is_accepted_and_reported_whole(void **state)
{
    (void)state;
    char owner[MAX_OWNER_LEN];
    for (size_t i = 0; i < sizeof(owner); i++) owner[i] = (char)(i % 251);
    assert_true(token_or_nil(sg_command(conn, "LOCK.ACQUIRE lock %b 10000", owner, sizeof(owner)), "acquire") >= 1);
    lock_info info = info_of("lock");
    assert_owner(&info, owner, sizeof(owner));
    assert_int_equal(sg_command_integer(conn, "LOCK.RELEASE lock %b", owner, sizeof(owner)), 1);
}

/* ---- WAIT ------------------------------------------------------------------------------------- */

static void waiter_is_granted_with_a_larger_token_when_the_holder_releases(void **state)
{
    (void)state;
    long long holder_token = acquire(conn, "lock", "alice", 5000);
    redisContext *bob = enqueue_waiter("lock", "bob", 600000, 10000, 1);
    sg_sleep_ms(50);
    if (sg_reply_arrives_within(bob, 0)) fail_msg("the waiter was answered while the lock was held");
    assert_int_equal(release(conn, "lock", "alice"), 1);
    long long token = waiter_token(bob, "bob");
    if (token <= holder_token) fail_msg("waiter token %lld after holder token %lld", token, holder_token);
    lock_info info = info_of("lock");
    assert_owner(&info, "bob", 3);
    assert_int_equal(info.token, token);
    assert_int_equal(info.waiters, 0);
    /* the waiter's own ttl, not the holder's */
    assert_true(pttl("lock") > 5000);
}

static void waiter_is_granted_when_the_holders_lease_ends_without_release(void **state)
{
    (void)state;
    int64_t start = sg_now_ms();
    long long holder_token = acquire(conn, "lock", "alice", 300);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    long long token = waiter_token(bob, "bob");
    int64_t elapsed = sg_now_ms() - start;
    if (token <= holder_token) fail_msg("waiter token %lld after holder token %lld", token, holder_token);
    if (elapsed < 290) fail_msg("the waiter was granted %lld ms into a 300 ms lease", (long long)elapsed);
    if (elapsed > 2300) fail_msg("the waiter was granted %lld ms after a 300 ms lease began", (long long)elapsed);
    lock_info info = info_of("lock");
    assert_owner(&info, "bob", 3);
    assert_int_equal(info.token, token);
}

/* ---- the lock freed by other commands: the first waiter gets it at once, not at the old lease's end */

#define LONG_LEASE_MS 600000
#define SOON_MS 3000 /* far below LONG_LEASE_MS: "at once" rather than "when the lease would have ended" */

/* alice holds `key` for 10 minutes and bob waits; `free_it` frees (or shortens) the lock some other
 * way; bob must be granted well before alice's lease would have ended. */
static void assert_handed_over_soon_after(const char *key, const char *free_it)
{
    long long holder_token = acquire(conn, key, "alice", LONG_LEASE_MS);
    redisContext *bob = enqueue_waiter(key, "bob", 10000, LONG_LEASE_MS, 1);
    redisReply *r = sg_command(conn, free_it);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("%s: %s", free_it, r->str);
    freeReplyObject(r);
    if (!sg_reply_arrives_within(bob, SOON_MS)) fail_msg("after %s the waiter was not granted within %d ms", free_it, SOON_MS);
    long long token = waiter_token(bob, "bob");
    if (token <= holder_token) fail_msg("waiter token %lld after holder token %lld", token, holder_token);
    lock_info info = info_of(key);
    assert_owner(&info, "bob", 3);
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
    assert_true(pttl("elsewhere") > 0); /* alice's lock moved with its lease */
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
    sg_command_status(conn, "OK", "SELECT 1");
    sg_command_status(conn, "OK", "FLUSHDB");
    sg_command_status(conn, "OK", "SELECT 0");
    assert_handed_over_soon_after("lock", "SWAPDB 0 1");
    sg_command_status(conn, "OK", "SELECT 1");
    lock_info moved = info_of("lock");
    assert_owner(&moved, "alice", 5); /* the held lock went to db 1 */
    sg_command_status(conn, "OK", "FLUSHDB");
    sg_command_status(conn, "OK", "SELECT 0");
}

static void wait_times_out_with_nil_after_roughly_the_timeout(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = open_client();
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
    lock_info info = info_of("lock");
    assert_owner(&info, "alice", 5);
    assert_int_equal(info.waiters, 0);
}

static void a_waiter_that_timed_out_is_not_granted_later(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = open_client();
    sg_send_command(bob, "LOCK.ACQUIRE lock bob 10000 WAIT 100");
    assert_int_equal(token_or_nil(sg_receive_reply(bob, 3000, "waiter bob"), "waiter bob"), 0);
    assert_int_equal(release(conn, "lock", "alice"), 1);
    assert_free("lock");
}

static void a_waiter_that_times_out_leaves_the_queue_and_the_next_one_is_granted(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 200, 1);
    redisContext *carol = enqueue_waiter("lock", "carol", 10000, 10000, 2);
    assert_int_equal(token_or_nil(sg_receive_reply(bob, 3000, "waiter bob"), "waiter bob"), 0);
    wait_for_waiters("lock", 1);
    assert_int_equal(release(conn, "lock", "alice"), 1);
    long long token = waiter_token(carol, "carol");
    assert_int_equal(info_of("lock").token, token);
    assert_held_by("lock", "carol");
}

static void the_holder_acquiring_again_while_others_wait_keeps_its_token_and_refreshes_the_lease(void **state)
{
    (void)state;
    long long token = acquire(conn, "lock", "alice", 1000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    assert_int_equal(acquire(conn, "lock", "alice", 600000), token);
    assert_true(pttl("lock") > 1000);
    lock_info info = info_of("lock");
    assert_owner(&info, "alice", 5);
    assert_int_equal(info.waiters, 1);
    if (sg_reply_arrives_within(bob, 0)) fail_msg("the waiter was answered while alice holds the lock");
}

static void a_granted_waiter_with_reentrant_holds_one_hold(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = open_client();
    sg_send_command(bob, "LOCK.ACQUIRE lock bob 10000 WAIT 10000 REENTRANT");
    wait_for_waiters("lock", 1);
    release(conn, "lock", "alice");
    long long token = waiter_token(bob, "bob");
    assert_int_equal(info_of("lock").holds, 1);
    assert_int_equal(acquire_reentrant(conn, "lock", "bob", 10000), token);
    assert_int_equal(info_of("lock").holds, 2);
}

static void a_release_by_another_owner_hands_nothing_to_the_waiters(void **state)
{
    (void)state;
    long long token = acquire(conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    assert_int_equal(release(conn, "lock", "carol"), 0);
    if (sg_reply_arrives_within(bob, 100)) fail_msg("the waiter was answered after a release by a non-holder");
    lock_info info = info_of("lock");
    assert_owner(&info, "alice", 5);
    assert_int_equal(info.token, token);
    assert_int_equal(info.waiters, 1);
}

static void extending_a_lease_with_waiters_queued_delays_their_grant(void **state)
{
    (void)state;
    int64_t start = sg_now_ms();
    long long holder_token = acquire(conn, "lock", "alice", 300);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    assert_int_equal(extend(conn, "lock", "alice", 1500), 1);
    int64_t quiet_until = start + 900;
    int64_t now = sg_now_ms();
    if (now < quiet_until && sg_reply_arrives_within(bob, (int)(quiet_until - now))) {
        fail_msg("the waiter was answered %lld ms after a 300 ms lease that was extended to 1500 ms",
                 (long long)(sg_now_ms() - start));
    }
    assert_held_by("lock", "alice");
    long long token = waiter_token(bob, "bob");
    int64_t elapsed = sg_now_ms() - start;
    if (elapsed < 1400) fail_msg("the waiter was granted %lld ms into an extended 1500 ms lease", (long long)elapsed);
    assert_true(token > holder_token);
    assert_held_by("lock", "bob");
}

static void waiters_are_granted_in_arrival_order(void **state)
{
    (void)state;
    redisContext *waiters[FIFO_CLIENTS];
    char owners[FIFO_CLIENTS][32];
    long long last_token = acquire(conn, "fifo", "holder", 60000);
    for (int i = 0; i < FIFO_CLIENTS; i++) {
        snprintf(owners[i], sizeof(owners[i]), "waiter-%02d", i);
        waiters[i] = enqueue_waiter("fifo", owners[i], 60000, 30000, i + 1);
    }
    const char *holder = "holder";
    for (int i = 0; i < FIFO_CLIENTS; i++) {
        if (release(conn, "fifo", holder) != 1) fail_msg("%s could not release", holder);
        long long token = waiter_token(waiters[i], owners[i]);
        if (token <= last_token) fail_msg("%s got token %lld after %lld", owners[i], token, last_token);
        last_token = token;
        lock_info info = info_of("fifo");
        assert_owner(&info, owners[i], strlen(owners[i]));
        assert_int_equal(info.token, token);
        assert_int_equal(info.waiters, FIFO_CLIENTS - 1 - i);
        for (int j = i + 1; j < FIFO_CLIENTS; j++) {
            if (sg_reply_arrives_within(waiters[j], 0)) {
                fail_msg("%s was answered when %s was granted", owners[j], owners[i]);
            }
        }
        holder = owners[i];
    }
    assert_int_equal(release(conn, "fifo", holder), 1);
    assert_free("fifo");
}

static void a_caller_without_wait_cannot_cut_in_while_waiters_are_queued(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    assert_int_equal(acquire(conn, "lock", "carol", 10000), 0);
    /* The release and carol's try run back to back, with nothing in between. */
    sg_command_status(conn, "OK", "MULTI");
    sg_command_status(conn, "QUEUED", "LOCK.RELEASE lock alice");
    sg_command_status(conn, "QUEUED", "LOCK.ACQUIRE lock carol 10000");
    redisReply *r = sg_command(conn, "EXEC");
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
    lock_info info = info_of("lock");
    assert_owner(&info, "bob", 3);
    assert_int_equal(info.token, token);
}

static void a_pipelined_caller_without_wait_cannot_cut_in_at_the_release(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    redisContext *carol = open_client();
    /* one write: both commands are in the server's query buffer together */
    assert_int_equal(redisAppendCommand(carol, "LOCK.RELEASE lock alice"), REDIS_OK);
    assert_int_equal(redisAppendCommand(carol, "LOCK.ACQUIRE lock carol 10000"), REDIS_OK);
    redisReply *released = sg_receive_reply(carol, REPLY_TIMEOUT_MS, "release");
    assert_int_equal(released->type, REDIS_REPLY_INTEGER);
    assert_int_equal(released->integer, 1);
    freeReplyObject(released);
    assert_int_equal(token_or_nil(sg_receive_reply(carol, REPLY_TIMEOUT_MS, "carol"), "carol"), 0);
    long long token = waiter_token(bob, "bob");
    assert_int_equal(info_of("lock").token, token);
    assert_held_by("lock", "bob");
}

static void a_caller_without_wait_cannot_cut_in_when_a_lease_with_waiters_ends(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 200);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    redisContext *carol = open_client();
    int64_t deadline = sg_now_ms() + 3000;
    int tries = 0;
    while (!sg_reply_arrives_within(bob, 0)) {
        if (sg_now_ms() > deadline) fail_msg("bob was not granted within 3 s of a 200 ms lease");
        long long token = acquire(carol, "lock", "carol", 10000);
        if (token != 0) fail_msg("carol, without WAIT, was granted token %lld while bob waited", token);
        tries++;
    }
    long long token = waiter_token(bob, "bob");
    lock_info info = info_of("lock");
    assert_owner(&info, "bob", 3);
    assert_int_equal(info.token, token);
    assert_true(tries > 0);
}

static void a_new_waiter_queues_behind_the_waiters_already_there(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    redisContext *carol = enqueue_waiter("lock", "carol", 10000, 10000, 2);
    release(conn, "lock", "alice");
    waiter_token(bob, "bob");
    if (sg_reply_arrives_within(carol, 50)) fail_msg("carol was answered while bob holds the lock");
    release(conn, "lock", "bob");
    waiter_token(carol, "carol");
    assert_held_by("lock", "carol");
}

static void a_waiting_client_that_disconnects_leaves_the_queue(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    redisContext *carol = enqueue_waiter("lock", "carol", 10000, 10000, 2);
    close_client(bob);
    wait_for_waiters("lock", 1);
    assert_int_equal(release(conn, "lock", "alice"), 1);
    long long token = waiter_token(carol, "carol");
    lock_info info = info_of("lock");
    assert_owner(&info, "carol", 5);
    assert_int_equal(info.token, token);
    assert_int_equal(info.waiters, 0);
}

static void a_lock_whose_only_waiter_disconnected_is_freed_by_release(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = enqueue_waiter("lock", "bob", 10000, 10000, 1);
    close_client(bob);
    wait_for_waiters("lock", 0);
    assert_int_equal(release(conn, "lock", "alice"), 1);
    assert_free("lock");
}

static void client_unblock_timeout_removes_the_waiter_which_gets_nil(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = open_client();
    long long bob_id = client_id(bob);
    sg_send_command(bob, "LOCK.ACQUIRE lock bob 10000 WAIT 10000");
    wait_for_waiters("lock", 1);
    redisContext *carol = enqueue_waiter("lock", "carol", 10000, 10000, 2);
    assert_int_equal(sg_command_integer(conn, "CLIENT UNBLOCK %lld TIMEOUT", bob_id), 1);
    assert_int_equal(token_or_nil(sg_receive_reply(bob, REPLY_TIMEOUT_MS, "unblocked bob"), "unblocked bob"), 0);
    wait_for_waiters("lock", 1);
    assert_int_equal(release(conn, "lock", "alice"), 1);
    long long token = waiter_token(carol, "carol");
    assert_int_equal(info_of("lock").token, token);
    assert_held_by("lock", "carol");
}

static void client_unblock_error_removes_the_waiter_which_gets_an_error(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = open_client();
    long long bob_id = client_id(bob);
    sg_send_command(bob, "LOCK.ACQUIRE lock bob 10000 WAIT 10000");
    wait_for_waiters("lock", 1);
    assert_int_equal(sg_command_integer(conn, "CLIENT UNBLOCK %lld ERROR", bob_id), 1);
    redisReply *r = sg_receive_reply(bob, REPLY_TIMEOUT_MS, "unblocked bob");
    if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "UNBLOCKED", 9) != 0) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("a waiter unblocked with ERROR got %s, expected an UNBLOCKED error", got);
    }
    freeReplyObject(r);
    wait_for_waiters("lock", 0);
    assert_int_equal(release(conn, "lock", "alice"), 1);
    assert_free("lock");
}

static void wait_inside_multi_exec_on_a_held_lock_returns_nil_at_once(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = open_client();
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
    lock_info info = info_of("lock");
    assert_owner(&info, "alice", 5);
    assert_int_equal(info.waiters, 0);
}

static void wait_inside_multi_exec_on_a_free_lock_grants_it(void **state)
{
    (void)state;
    sg_command_status(conn, "OK", "MULTI");
    sg_command_status(conn, "QUEUED", "LOCK.ACQUIRE lock bob 10000 WAIT 10000");
    redisReply *r = sg_command(conn, "EXEC");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_INTEGER);
    assert_true(r->element[0]->integer >= 1);
    long long token = r->element[0]->integer;
    freeReplyObject(r);
    assert_int_equal(info_of("lock").token, token);
}

#define ACQUIRE_SCRIPT "return redis.call('LOCK.ACQUIRE', KEYS[1], ARGV[1], ARGV[2], 'WAIT', ARGV[3])"

static void wait_inside_a_lua_script_on_a_held_lock_returns_nil_at_once(void **state)
{
    (void)state;
    acquire(conn, "lock", "alice", 10000);
    redisContext *bob = open_client();
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
    lock_info info = info_of("lock");
    assert_owner(&info, "alice", 5);
    assert_int_equal(info.waiters, 0);
}

static void wait_inside_a_lua_script_on_a_free_lock_grants_it(void **state)
{
    (void)state;
    long long token = sg_command_integer(conn, "EVAL %s 1 lock bob 10000 10000", ACQUIRE_SCRIPT);
    assert_true(token >= 1);
    assert_int_equal(info_of("lock").token, token);
}

/* ---- LOCK.GRANT ------------------------------------------------------------------------------- */

static void lock_grant_sets_the_exact_state_and_raises_the_last_token(void **state)
{
    (void)state;
    long long ahead = sg_unix_us() + 1000000000LL; /* 1000 s ahead of the clock */
    long long deadline_ms = sg_unix_us() / 1000 + 60000;
    sg_command_status(conn, "OK", "LOCK.GRANT lock alice %lld %lld 3", ahead, deadline_ms);
    lock_info info = info_of("lock");
    assert_owner(&info, "alice", 5);
    assert_int_equal(info.token, ahead);
    assert_int_equal(info.holds, 3);
    long long left = pttl("lock");
    assert_true(left > 55000 && left <= 60000);
    long long next = acquire(conn, "other", "bob", 10000);
    if (next <= ahead) fail_msg("token %lld after LOCK.GRANT of token %lld", next, ahead);
}

/* ---- COMMAND DOCS, COMMAND INFO, INFO ------------------------------------------------------ */

typedef struct command_spec {
    const char *name;
    int write; /* else readonly */
    int denyoom;
    int fast;
} command_spec;

static const command_spec commands[] = {
    {"lock.acquire", 1, 1, 1}, {"lock.release", 1, 0, 1}, {"lock.extend", 1, 0, 1},
    {"lock.info", 0, 0, 1},    {"lock.grant", 1, 1, 0},
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static int has_flag(const redisReply *flags, const char *flag)
{
    for (size_t i = 0; i < flags->elements; i++) {
        if (sg_reply_is_text(flags->element[i], flag)) return 1;
    }
    return 0;
}

static void command_info_describes_every_lock_command_with_key_position_one(void **state)
{
    (void)state;
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const command_spec *spec = &commands[i];
        redisReply *r = sg_command(conn, "COMMAND INFO %s", spec->name);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(r->elements, 1);
        const redisReply *e = r->element[0];
        if (e->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            fail_msg("COMMAND INFO has no entry for %s", spec->name);
        }
        assert_true(e->elements >= 6);
        assert_true(sg_reply_is_text(e->element[0], spec->name));
        const redisReply *flags = e->element[2];
        assert_int_equal(flags->type, REDIS_REPLY_ARRAY);
        if (has_flag(flags, "write") != spec->write || has_flag(flags, "readonly") == spec->write ||
            has_flag(flags, "denyoom") != spec->denyoom || has_flag(flags, "fast") != spec->fast) {
            freeReplyObject(r);
            fail_msg("COMMAND INFO %s: flags differ from README (write=%d denyoom=%d fast=%d)", spec->name,
                     spec->write, spec->denyoom, spec->fast);
        }
        if (e->element[3]->integer != 1 || e->element[4]->integer != 1 || e->element[5]->integer != 1) {
            long long first = e->element[3]->integer, last = e->element[4]->integer, step = e->element[5]->integer;
            freeReplyObject(r);
            fail_msg("COMMAND INFO %s: keys first=%lld last=%lld step=%lld, expected 1 1 1", spec->name, first, last,
                     step);
        }
        freeReplyObject(r);
    }
}

/* The value of `field` in a RESP2 flat map (array of field, value), or NULL. */
static const redisReply *map_get(const redisReply *map, const char *field)
{
    if (map->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < map->elements; i += 2) {
        if (sg_reply_is_text(map->element[i], field)) return map->element[i + 1];
    }
    return NULL;
}

static void command_docs_describe_every_lock_command(void **state)
{
    (void)state;
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const char *name = commands[i].name;
        redisReply *r = sg_command(conn, "COMMAND DOCS %s", name);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        const redisReply *doc = map_get(r, name);
        const redisReply *summary = doc != NULL ? map_get(doc, "summary") : NULL;
        const redisReply *complexity = doc != NULL ? map_get(doc, "complexity") : NULL;
        const redisReply *arguments = doc != NULL ? map_get(doc, "arguments") : NULL;
        int ok = summary != NULL && summary->len > 0 && complexity != NULL && complexity->len > 0 &&
                 arguments != NULL && arguments->type == REDIS_REPLY_ARRAY && arguments->elements > 0;
        freeReplyObject(r);
        if (!ok) fail_msg("COMMAND DOCS %s lacks a summary, complexity or arguments", name);
    }
}

/* Sum of the integers in every "slotguard_lock..." line of INFO slotguard; -1 when there is none. */
static long long lock_counters_total(void)
{
    redisReply *r = sg_command(conn, "INFO slotguard");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    long long total = -1;
    const char *p = r->str;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, "slotguard_lock", 14) == 0) {
            const char *v = p + strcspn(p, ":\r\n");
            if (*v == ':') {
                if (total < 0) total = 0;
                v++;
                while (*v != '\0' && *v != '\r' && *v != '\n') {
                    if (*v >= '0' && *v <= '9') {
                        char *end;
                        total += strtoll(v, &end, 10);
                        v = end;
                    } else {
                        v++;
                    }
                }
            }
        }
        p = strchr(p, '\n');
        if (p != NULL) p++;
    }
    freeReplyObject(r);
    return total;
}

static void info_slotguard_lock_counters_increase_after_an_acquire(void **state)
{
    (void)state;
    long long before = lock_counters_total();
    if (before < 0) fail_msg("INFO slotguard has no line starting with slotguard_lock");
    acquire(conn, "lock", "alice", 10000);
    long long after = lock_counters_total();
    if (after <= before) fail_msg("slotguard_lock counters stayed at %lld after a grant", before);
}

/* ---- bad input -------------------------------------------------------------------------------- */

#define LONG_OWNER "@513" /* replaced by a 513-byte owner */
#define BAD_NUMBER "@num" /* the case is run once per entry of bad_numbers */

typedef struct bad_case {
    const char *expect; /* error prefix */
    const char *argv[10];
} bad_case;

/* Times are integers of milliseconds from 1 to 1000000000000. */
static const char *const bad_numbers[] = {
    "0", "-1", "-9223372036854775808", "abc", "1.5", "10ms", " 5", "", "9223372036854775808",
    "99999999999999999999", "1000000000001",
};

static const bad_case bad_cases[] = {
    /* wrong arity */
    {"ERR wrong number of arguments", {"LOCK.ACQUIRE"}},
    {"ERR wrong number of arguments", {"LOCK.ACQUIRE", "bad:free"}},
    {"ERR wrong number of arguments", {"LOCK.ACQUIRE", "bad:free", "o"}},
    {"ERR wrong number of arguments", {"LOCK.RELEASE"}},
    {"ERR wrong number of arguments", {"LOCK.RELEASE", "bad:lock"}},
    {"ERR wrong number of arguments", {"LOCK.RELEASE", "bad:lock", "holder", "x"}},
    {"ERR wrong number of arguments", {"LOCK.EXTEND", "bad:lock", "holder"}},
    {"ERR wrong number of arguments", {"LOCK.EXTEND", "bad:lock", "holder", "1000", "x"}},
    {"ERR wrong number of arguments", {"LOCK.INFO"}},
    {"ERR wrong number of arguments", {"LOCK.INFO", "bad:lock", "x"}},
    {"ERR wrong number of arguments", {"LOCK.GRANT", "bad:free", "o", "5"}},
    {"ERR wrong number of arguments", {"LOCK.GRANT", "bad:free", "o", "5", "99999999999999", "1", "x"}},
    /* options */
    {"ERR ", {"LOCK.ACQUIRE", "bad:free", "o", "1000", "WAIT"}},
    {"ERR syntax error", {"LOCK.ACQUIRE", "bad:free", "o", "1000", "FOO"}},
    {"ERR syntax error", {"LOCK.ACQUIRE", "bad:free", "o", "1000", "REENTRANT", "FOO"}},
    {"ERR syntax error", {"LOCK.ACQUIRE", "bad:free", "o", "1000", "WAIT", "100", "FOO"}},
    {"ERR syntax error", {"LOCK.ACQUIRE", "bad:free", "o", "1000", "WAIT", "100", "100"}},
    {"ERR syntax error", {"LOCK.ACQUIRE", "bad:lock", "holder", "1000", "FOO"}},
    /* bad times, each run with every entry of bad_numbers */
    {"ERR invalid ttl", {"LOCK.ACQUIRE", "bad:free", "o", BAD_NUMBER}},
    {"ERR invalid ttl", {"LOCK.ACQUIRE", "bad:lock", "holder", BAD_NUMBER}},
    {"ERR invalid ttl", {"LOCK.ACQUIRE", "bad:free", "o", BAD_NUMBER, "WAIT", "100"}},
    {"ERR invalid ttl", {"LOCK.ACQUIRE", "bad:lock", "holder", BAD_NUMBER, "REENTRANT"}},
    {"ERR invalid timeout", {"LOCK.ACQUIRE", "bad:free", "o", "1000", "WAIT", BAD_NUMBER}},
    {"ERR invalid timeout", {"LOCK.ACQUIRE", "bad:lock", "other", "1000", "WAIT", BAD_NUMBER}},
    {"ERR invalid timeout", {"LOCK.ACQUIRE", "bad:lock", "holder", "1000", "WAIT", BAD_NUMBER}},
    {"ERR invalid ttl", {"LOCK.EXTEND", "bad:lock", "holder", BAD_NUMBER}},
    {"ERR invalid ttl", {"LOCK.EXTEND", "bad:free", "o", BAD_NUMBER}},
    /* empty and over-long owners */
    {"ERR invalid owner", {"LOCK.ACQUIRE", "bad:free", "", "1000"}},
    {"ERR invalid owner", {"LOCK.ACQUIRE", "bad:lock", "", "1000", "WAIT", "100"}},
    {"ERR invalid owner", {"LOCK.ACQUIRE", "bad:free", LONG_OWNER, "1000"}},
    {"ERR invalid owner", {"LOCK.ACQUIRE", "bad:lock", LONG_OWNER, "1000", "WAIT", "100"}},
    {"ERR invalid owner", {"LOCK.RELEASE", "bad:lock", ""}},
    {"ERR invalid owner", {"LOCK.RELEASE", "bad:lock", LONG_OWNER}},
    {"ERR invalid owner", {"LOCK.EXTEND", "bad:lock", "", "1000"}},
    {"ERR invalid owner", {"LOCK.EXTEND", "bad:lock", LONG_OWNER, "1000"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "", "5", "99999999999999", "1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", LONG_OWNER, "5", "99999999999999", "1"}},
    /* LOCK.GRANT fields */
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "0", "99999999999999", "1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "-1", "99999999999999", "1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "abc", "99999999999999", "1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "99999999999999999999", "99999999999999", "1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "5", "abc", "1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "5", "99999999999999", "0"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "5", "99999999999999", "-1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "5", "99999999999999", "abc"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:lock", "holder", "5", "99999999999999", "0"}},
    /* wrong key types: a string and a trial */
    {"WRONGTYPE ", {"LOCK.ACQUIRE", "bad:string", "o", "1000"}},
    {"WRONGTYPE ", {"LOCK.ACQUIRE", "bad:string", "o", "1000", "WAIT", "100"}},
    {"WRONGTYPE ", {"LOCK.ACQUIRE", "bad:string", "o", "1000", "REENTRANT"}},
    {"WRONGTYPE ", {"LOCK.RELEASE", "bad:string", "o"}},
    {"WRONGTYPE ", {"LOCK.EXTEND", "bad:string", "o", "1000"}},
    {"WRONGTYPE ", {"LOCK.INFO", "bad:string"}},
    {"WRONGTYPE ", {"LOCK.GRANT", "bad:string", "o", "5", "99999999999999", "1"}},
    {"WRONGTYPE ", {"LOCK.ACQUIRE", "bad:trial", "o", "1000"}},
    {"WRONGTYPE ", {"LOCK.ACQUIRE", "bad:trial", "o", "1000", "WAIT", "100"}},
    {"WRONGTYPE ", {"LOCK.RELEASE", "bad:trial", "o"}},
    {"WRONGTYPE ", {"LOCK.EXTEND", "bad:trial", "o", "1000"}},
    {"WRONGTYPE ", {"LOCK.INFO", "bad:trial"}},
    {"WRONGTYPE ", {"LOCK.GRANT", "bad:trial", "o", "5", "99999999999999", "1"}},
    /* trial commands on a lock */
    {"WRONGTYPE ", {"ENROLL", "bad:lock", "x"}},
    {"WRONGTYPE ", {"SLOTS.INFO", "bad:lock"}},
};

/* bad:lock held by "holder" for a long time, bad:string, bad:trial; bad:free does not exist. */
static void make_bad_input_fixture(void)
{
    assert_true(acquire(conn, "bad:lock", "holder", 100000000) >= 1);
    sg_command_status(conn, "OK", "SET bad:string hello");
    sg_command_integer(conn, "SLOTS.INIT bad:trial 2");
}

/* A text picture of the fixture that does not rely on the module's digest callback. */
static char *fixture_picture(void)
{
    lock_info i = info_of("bad:lock");
    char *out = malloc(256);
    assert_non_null(out);
    snprintf(out, 256, "held=%d owner=%.*s token=%lld holds=%lld waiters=%lld free=%lld keys=%lld string=%s", i.held,
             (int)i.owner_len, i.owner, i.token, i.holds, i.waiters, exists("bad:free"),
             sg_command_integer(conn, "DBSIZE"), sg_command_integer(conn, "STRLEN bad:string") == 5 ? "ok" : "changed");
    return out;
}

static int starts_with_code(const char *s)
{
    return strncmp(s, "ERR ", 4) == 0 || strncmp(s, "WRONGTYPE ", 10) == 0;
}

/* Run one bad command; "" when it was refused as expected and changed nothing, else the problem. */
static void check_bad_command(int argc, const char **argv, const size_t *argvlen, const char *expect,
                              const char *digest, const char *picture, char *problem, size_t size)
{
    problem[0] = '\0';
    int64_t start = sg_now_ms();
    redisReply *r = sg_command_args(conn, argc, argv, argvlen);
    int64_t elapsed = sg_now_ms() - start;
    if (r->type == REDIS_REPLY_INTEGER) {
        snprintf(problem, size, "not an error: integer %lld", r->integer);
    } else if (r->type != REDIS_REPLY_ERROR) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        snprintf(problem, size, "not an error: %s", got);
    } else if (!starts_with_code(r->str)) {
        snprintf(problem, size, "error without a code: \"%.200s\"", r->str);
    } else if (strncmp(r->str, expect, strlen(expect)) != 0) {
        snprintf(problem, size, "expected \"%s...\", got \"%.200s\"", expect, r->str);
    } else if (elapsed >= NOT_BLOCKED_LIMIT_MS) {
        snprintf(problem, size, "the error took %lld ms (did it block?)", (long long)elapsed);
    }
    freeReplyObject(r);
    if (problem[0] == '\0') {
        char *digest_now = sg_debug_digest(conn);
        char *picture_now = fixture_picture();
        if (strcmp(digest, digest_now) != 0 || strcmp(picture, picture_now) != 0) {
            snprintf(problem, size, "the dataset changed: %.200s", picture_now);
        }
        free(digest_now);
        free(picture_now);
    }
}

static void bad_input_is_rejected_with_a_coded_error_and_changes_nothing(void **state)
{
    (void)state;
    make_bad_input_fixture();
    char long_owner[MAX_OWNER_LEN + 1];
    memset(long_owner, 'o', sizeof(long_owner));
    char *digest = sg_debug_digest(conn);
    char *picture = fixture_picture();

    size_t report_size = 32768, report_len = 0;
    char *report = calloc(1, report_size);
    assert_non_null(report);
    int failures = 0, runs = 0;
    const size_t number_count = sizeof(bad_numbers) / sizeof(bad_numbers[0]);
    for (size_t k = 0; k < sizeof(bad_cases) / sizeof(bad_cases[0]); k++) {
        const bad_case *bc = &bad_cases[k];
        int uses_number = 0;
        for (int a = 0; a < 10 && bc->argv[a] != NULL; a++) {
            if (strcmp(bc->argv[a], BAD_NUMBER) == 0) uses_number = 1;
        }
        for (size_t n = 0; n < (uses_number ? number_count : 1); n++) {
            const char *argv[10];
            size_t argvlen[10];
            int argc = 0;
            char shown[300] = "";
            size_t shown_len = 0;
            for (; argc < 10 && bc->argv[argc] != NULL; argc++) {
                const char *arg = bc->argv[argc];
                size_t len = strlen(arg);
                const char *label = arg;
                if (strcmp(arg, LONG_OWNER) == 0) {
                    arg = long_owner;
                    len = sizeof(long_owner);
                    label = "<513 bytes>";
                } else if (strcmp(arg, BAD_NUMBER) == 0) {
                    arg = label = bad_numbers[n];
                    len = strlen(arg);
                }
                argv[argc] = arg;
                argvlen[argc] = len;
                shown_len += (size_t)snprintf(shown + shown_len, sizeof(shown) - shown_len, "%s\"%s\"",
                                              argc ? " " : "", label);
                if (shown_len >= sizeof(shown)) shown_len = sizeof(shown) - 1;
            }
            char problem[400];
            check_bad_command(argc, argv, argvlen, bc->expect, digest, picture, problem, sizeof(problem));
            runs++;
            if (problem[0] == '\0') continue;
            failures++;
            if (report_len < report_size - 1) {
                report_len += (size_t)snprintf(report + report_len, report_size - report_len, "  [%zu] %s: %s\n", k,
                                               shown, problem);
                if (report_len > report_size - 1) report_len = report_size - 1;
            }
            /* rebuild the fixture so one bad case cannot hide or cause another */
            sg_command_status(conn, "OK", "FLUSHALL");
            make_bad_input_fixture();
            free(digest);
            free(picture);
            digest = sg_debug_digest(conn);
            picture = fixture_picture();
        }
    }
    free(digest);
    free(picture);
    print_message("%d bad commands tried\n", runs);
    if (failures > 0) {
        fprintf(stderr, "%d bad-input case(s) failed:\n%s", failures, report);
        free(report);
        fail_msg("%d bad-input case(s) failed", failures);
    }
    free(report);
}

#define LOCK_TEST(name) cmocka_unit_test_setup_teardown(name, flush_dataset, close_clients)

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
        LOCK_TEST(lock_info_counts_the_clients_waiting),
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
        LOCK_TEST(client_unblock_timeout_removes_the_waiter_which_gets_nil),
        LOCK_TEST(client_unblock_error_removes_the_waiter_which_gets_an_error),
        LOCK_TEST(wait_inside_multi_exec_on_a_held_lock_returns_nil_at_once),
        LOCK_TEST(wait_inside_multi_exec_on_a_free_lock_grants_it),
        LOCK_TEST(wait_inside_a_lua_script_on_a_held_lock_returns_nil_at_once),
        LOCK_TEST(wait_inside_a_lua_script_on_a_free_lock_grants_it),
        LOCK_TEST(lock_grant_sets_the_exact_state_and_raises_the_last_token),
        LOCK_TEST(command_info_describes_every_lock_command_with_key_position_one),
        LOCK_TEST(command_docs_describe_every_lock_command),
        LOCK_TEST(info_slotguard_lock_counters_increase_after_an_acquire),
        LOCK_TEST(bad_input_is_rejected_with_a_coded_error_and_changes_nothing),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
