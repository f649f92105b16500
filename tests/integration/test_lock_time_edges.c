/* test_lock_time_edges.c -- issue 16, "Locks under time edges": locks and their waiters when times
 * and tokens sit at the edges of what the commands accept, against a real redis-server.
 *
 * (1) A lease set far ahead must not hang the server. Redis's RedisModule_CreateTimer multiplies
 *     its period to microseconds unchecked, so a lease timer aimed at a deadline near 2^64 µs
 *     (PEXPIREAT, LOCK.GRANT, RESTORE ... ABSTTL or a huge relative RESTORE ttl) used to land in
 *     the past and fire forever: 100% CPU, PING unanswered. Here a holder's lease is pushed that
 *     far while a waiter is queued; PING must keep answering within PING_LIMIT_MS, the waiter gets
 *     exactly one reply (nil, at its own timeout) and the holder still holds the lock.
 * (2) Exactly one reply per waiter, and no grant nobody is told about. One connection pipelines
 *     LOCK.ACQUIRE k A 200 and LOCK.ACQUIRE k B 100000 WAIT w: with w at or before the lease's
 *     end (README: "a WAIT ending in the same millisecond as the lease (or before) gets nil") B
 *     gets one nil and never holds the lock; just after it, one reply that matches LOCK.INFO.
 *     Before the fix, Redis 7.0 could time the waiter out and the module grant it in the same
 *     event-loop turn: no reply at all, while B held the lock for 100 s. CLIENT UNBLOCK answers 0
 *     for a lock waiter, which keeps its place and its one reply.
 * (3) The token clock's bound: nothing from a client (LOCK.GRANT, IDEMP.RECORD, a RESTORE payload)
 *     moves the clock more than 365 days ahead of Unix time (a token just inside is taken, one just
 *     outside refused), so no command can exhaust it; an AOF carrying such a token still loads,
 *     with the clock stopped at the bound.
 * (4) IDEMP.SETNX under an LRU or LFU maxmemory-policy gives every key its own value object, so a
 *     read of one key neither refreshes the idle time nor raises the frequency of another.
 *
 * Tests that can wedge a server (1) or move its token clock (3), and the allkeys-lfu server (4),
 * each own a server through a fixture whose teardown stops it, pass or fail: a server spinning in
 * a timer or holding an exhausted clock cannot spoil the next test. The rest share one server for
 * the group (FLUSHALL and the default eviction policy before each test; the test's extra
 * connections are closed after it). Every read of a connection that may be blocked is bounded;
 * a server found hung is killed at once, so the run never waits on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raw_commands.h"

#define COMMAND_TIMEOUT_S 2 /* fixture connections: a command a hung server never answers fails fast */
#define PING_LIMIT_MS 500   /* a responsive server answers PING well within this */
#define PING_EVERY_MS 100

/* ---- (1) far-future leases ---------------------------------------------------------------------- */
#define HOLDER_LEASE_MS 1000
#define FAR_WAIT_MS 2500          /* the waiter's WAIT: outlives the holder's lease and the push */
#define FAR_PUSH_OFFSET_MS 1000   /* where the wrapped timer used to land: 1 s after the push */
#define EARLY_TOLERANCE_MS 200    /* a nil before FAR_WAIT_MS - this came before the waiter's timeout */
#define LATE_TOLERANCE_MS 1500
#define SILENCE_MS 700            /* after its reply, the waiter must get nothing more for this long */
/* 2^64 µs in ms, rounded up: a period this long (plus x ms) times 1000 wraps to x ms plus 384 µs. */
#define WRAPPING_PERIOD_MS 18446744073709552LL
#define FAR_DEADLINE_MS "9223372036854775807"

/* ---- (2) one reply per waiter ------------------------------------------------------------------ */
#define ROUNDS 15
#define ROUND_LEASE_MS 200
#define ONE_REPLY_LIMIT_MS 2000

/* ---- (3) the token clock ------------------------------------------------------------------------ */
#define TOKEN_BOUND_US 31536000000000LL /* 365 days of microseconds */
#define NEAR_NOW_US 5000000LL          /* a token issued now is within this of sg_unix_us() */
#define FAR_TOKEN "9223372036854775807"
#define FAR_TOKEN_VALUE INT64_MAX

/* A fixture connection with a short command timeout. */
static redisContext *connect_briefly(sg_fixture *f, const sg_server *s)
{
    redisContext *c = sg_fixture_connect(f, s);
    struct timeval tv = {COMMAND_TIMEOUT_S, 0};
    redisSetTimeout(c, tv);
    return c;
}

/* CPU seconds (user + system) the process has used so far, from /proc; -1 when unreadable. */
static double cpu_seconds(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *after_name = strrchr(line, ')');
    unsigned long utime = 0, stime = 0;
    /* after the name: state, then 10 fields, then utime and stime (fields 14 and 15 of proc(5)) */
    if (after_name == NULL ||
        sscanf(after_name + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) {
        return -1;
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* The server did not answer in time: measure its CPU use for a moment (a spinning timer shows as
 * ~100%), kill it so that nothing waits on it any longer, and fail the test. */
static void fail_as_hung(sg_server *s, const char *what, int64_t since_ms)
{
    double before = cpu_seconds(s->pid);
    sg_sleep_ms(300);
    double after = cpu_seconds(s->pid);
    char cpu[64] = "unknown";
    if (before >= 0 && after >= 0) snprintf(cpu, sizeof(cpu), "%.0f%%", (after - before) / 0.3 * 100.0);
    long long at = (long long)(sg_now_ms() - since_ms);
    sg_server_kill(s);
    fail_msg("%s, %lld ms into the test: the server hangs (CPU use meanwhile: %s of one core); killed it", what, at,
             cpu);
}

static void ping_promptly(sg_server *s, redisContext *probe, int64_t since_ms)
{
    sg_send_command(probe, "PING");
    if (!sg_reply_arrives_within(probe, PING_LIMIT_MS)) {
        fail_as_hung(s, "PING was not answered within 500 ms", since_ms);
    }
    redisReply *r = sg_receive_reply(probe, COMMAND_TIMEOUT_S * 1000, "PING");
    int pong = sg_reply_is_text(r, "PONG");
    freeReplyObject(r);
    if (!pong) fail_msg("PING did not answer PONG");
}

/* PING every PING_EVERY_MS until `waiter` has a reply, and return it; every PING must be answered
 * promptly. Fails when the waiter has nothing by until_ms (monotonic). */
static redisReply *reply_while_pinging(sg_server *s, redisContext *probe, redisContext *waiter, int64_t since_ms,
                                       int64_t until_ms)
{
    for (;;) {
        ping_promptly(s, probe, since_ms);
        if (sg_reply_arrives_within(waiter, PING_EVERY_MS)) return sg_receive_reply(waiter, 0, "waiter B");
        if (sg_now_ms() > until_ms) {
            fail_msg("waiter B had no reply %lld ms after it was sent (WAIT %d)", (long long)(sg_now_ms() - since_ms),
                     FAR_WAIT_MS);
        }
    }
}

/* A new connection blocked in LOCK.ACQUIRE key B 1000 WAIT FAR_WAIT_MS behind the holder; *sent_ms
 * is when it was sent. */
static redisContext *queue_waiter_b(sg_fixture *f, const sg_server *s, redisContext *c, const char *key,
                                    int64_t *sent_ms)
{
    redisContext *waiter = connect_briefly(f, s);
    *sent_ms = sg_now_ms();
    sg_send_command(waiter, "LOCK.ACQUIRE %s B 1000 WAIT %d", key, FAR_WAIT_MS);
    raw_lock_wait_for_waiters(c, key, 1);
    return waiter;
}

/* The server keeps answering PING while the queued waiter B waits; B gets one nil at its own
 * timeout and nothing after it; A still holds `key` and nobody waits. */
static void assert_one_nil_at_the_timeout_while_the_server_answers(sg_server *s, redisContext *c,
                                                                   redisContext *probe, redisContext *waiter,
                                                                   const char *key, int64_t sent_ms)
{
    redisReply *r = reply_while_pinging(s, probe, waiter, sent_ms, sent_ms + FAR_WAIT_MS + LATE_TOLERANCE_MS);
    long long waited = (long long)(sg_now_ms() - sent_ms);
    if (raw_lock_token_or_nil(r, "waiter B") != 0) fail_msg("waiter B was granted the lock %lld ms in", waited);
    if (waited < FAR_WAIT_MS - EARLY_TOLERANCE_MS) {
        fail_msg("waiter B got nil %lld ms after it was sent, before its WAIT of %d ms", waited, FAR_WAIT_MS);
    }
    int64_t quiet_until = sg_now_ms() + SILENCE_MS;
    while (sg_now_ms() < quiet_until) {
        ping_promptly(s, probe, sent_ms);
        if (sg_reply_arrives_within(waiter, PING_EVERY_MS)) fail_msg("waiter B got a second reply");
    }
    raw_lock_info info = raw_lock_info_of(c, key);
    raw_lock_assert_owner(&info, "A", 1);
    assert_int_equal(info.waiters, 0);
}

/* A server where A holds "k" for HOLDER_LEASE_MS and waiter B is queued on it. */
typedef struct held_with_waiter {
    sg_server *s;
    redisContext *c, *probe, *waiter;
    int64_t sent_ms;
} held_with_waiter;

static held_with_waiter hold_k_with_waiter_b(sg_fixture *f)
{
    held_with_waiter h;
    h.s = sg_fixture_start(f, NULL);
    h.c = connect_briefly(f, h.s);
    h.probe = connect_briefly(f, h.s);
    raw_lock_acquire(h.c, "k", "A", HOLDER_LEASE_MS);
    h.waiter = queue_waiter_b(f, h.s, h.c, "k", &h.sent_ms);
    return h;
}

static void pexpireat_just_past_the_timer_wrap_with_a_waiter_keeps_the_server_answering(void **state)
{
    held_with_waiter h = hold_k_with_waiter_b(*state);
    long long at = sg_unix_us() / 1000 + WRAPPING_PERIOD_MS + FAR_PUSH_OFFSET_MS;
    assert_int_equal(sg_command_integer(h.c, "PEXPIREAT k %lld", at), 1);
    assert_one_nil_at_the_timeout_while_the_server_answers(h.s, h.c, h.probe, h.waiter, "k", h.sent_ms);
}

static void pexpireat_to_the_largest_deadline_with_a_waiter_keeps_the_server_answering(void **state)
{
    held_with_waiter h = hold_k_with_waiter_b(*state);
    assert_int_equal(sg_command_integer(h.c, "PEXPIREAT k " FAR_DEADLINE_MS), 1);
    assert_one_nil_at_the_timeout_while_the_server_answers(h.s, h.c, h.probe, h.waiter, "k", h.sent_ms);
}

static void lock_grant_with_the_largest_deadline_over_a_waited_lock_keeps_the_server_answering(void **state)
{
    held_with_waiter h = hold_k_with_waiter_b(*state);
    sg_command_status(h.c, "OK", "LOCK.GRANT k A 1 " FAR_DEADLINE_MS);
    assert_one_nil_at_the_timeout_while_the_server_answers(h.s, h.c, h.probe, h.waiter, "k", h.sent_ms);
    assert_int_equal(raw_lock_info_of(h.c, "k").token, 1);
}

/* DUMP of a lock A holds for HOLDER_LEASE_MS, as a malloc'ed buffer. */
static unsigned char *dump_of_a_held_lock(redisContext *c, const char *key, size_t *len)
{
    raw_lock_acquire(c, key, "A", HOLDER_LEASE_MS);
    redisReply *r = sg_command(c, "DUMP %s", key);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    unsigned char *payload = malloc(r->len);
    assert_non_null(payload);
    memcpy(payload, r->str, r->len);
    *len = r->len;
    freeReplyObject(r);
    return payload;
}

/* RESTORE key ttl payload [ABSTTL]; asserts OK. */
static void restore_lock(redisContext *c, const char *key, const char *ttl, const unsigned char *payload, size_t len,
                         int absttl)
{
    const char *argv[5] = {"RESTORE", key, ttl, (const char *)payload, "ABSTTL"};
    size_t argvlen[5] = {7, strlen(key), strlen(ttl), len, 6};
    redisReply *r = sg_command_args(c, absttl ? 5 : 4, argv, argvlen);
    int ok = sg_reply_is_text(r, "OK");
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    freeReplyObject(r);
    if (!ok) fail_msg("RESTORE %s %s%s answered %s", key, ttl, absttl ? " ABSTTL" : "", got);
}

static void a_lock_restored_with_the_largest_absolute_ttl_keeps_the_server_answering_with_a_waiter(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = connect_briefly(f, s);
    redisContext *probe = connect_briefly(f, s);
    size_t len;
    unsigned char *payload = dump_of_a_held_lock(c, "source", &len);
    restore_lock(c, "k2", FAR_DEADLINE_MS, payload, len, 1);
    free(payload);
    int64_t sent_ms;
    redisContext *waiter = queue_waiter_b(f, s, c, "k2", &sent_ms);
    assert_one_nil_at_the_timeout_while_the_server_answers(s, c, probe, waiter, "k2", sent_ms);
}

static void a_lock_restored_with_a_relative_ttl_just_past_the_timer_wrap_keeps_the_server_answering_with_a_waiter(
    void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = connect_briefly(f, s);
    redisContext *probe = connect_briefly(f, s);
    size_t len;
    unsigned char *payload = dump_of_a_held_lock(c, "source", &len);
    char ttl[32];
    snprintf(ttl, sizeof(ttl), "%lld", WRAPPING_PERIOD_MS);
    restore_lock(c, "k2", ttl, payload, len, 0);
    free(payload);
    int64_t sent_ms;
    redisContext *waiter = queue_waiter_b(f, s, c, "k2", &sent_ms);
    assert_one_nil_at_the_timeout_while_the_server_answers(s, c, probe, waiter, "k2", sent_ms);
}

/* ---- (2) exactly one reply per waiter ----------------------------------------------------------- */

/* The module reads the clock once per command, so B's WAIT ends at (B's millisecond + wait) and A's
 * lease at (A's millisecond + ROUND_LEASE_MS): B must get nil unless B's command ran late enough
 * after A's that its WAIT outlived the lease. The test cannot pin both commands to one millisecond,
 * but it can bracket them: A ran after the client sent the pair, and B before the client received
 * A's reply (Redis executes the whole pipelined query buffer, read in one go, before it writes
 * replies). A grant is excused only when that bracket spans enough millisecond boundaries; on an
 * idle machine it spans none, so the nil is required. */
typedef struct round_outcome {
    char key[32];
    redisContext *conn;
    long long waiter_token; /* 0: nil */
} round_outcome;

/* Fails unless `key` is free or held by someone other than B. */
static void assert_not_held_by_b(const char *key, const char *when)
{
    raw_lock_info info = raw_lock_info_of(sg_conn, key);
    if (info.held && info.owner_len == 1 && info.owner[0] == 'B') {
        fail_msg("%s: B, answered nil, holds %s (token %lld, ttl %lld ms)", when, key, info.token, info.ttl);
    }
}

/* One connection sends LOCK.ACQUIRE key A 200 and LOCK.ACQUIRE key B 100000 WAIT wait_ms in one
 * write. A is granted; B's one reply must come within ONE_REPLY_LIMIT_MS and match the lock: a
 * token that LOCK.INFO shows B holding, or nil with B not holding it. A token is wrong when B's
 * WAIT cannot have outlived A's lease (see above). */
static void run_round(round_outcome *round, int i, long long wait_ms)
{
    snprintf(round->key, sizeof(round->key), "edge-%lld-%d", wait_ms, i);
    round->conn = sg_group_open_client();
    assert_int_equal(redisAppendCommand(round->conn, "LOCK.ACQUIRE %s A %d", round->key, ROUND_LEASE_MS), REDIS_OK);
    assert_int_equal(redisAppendCommand(round->conn, "LOCK.ACQUIRE %s B 100000 WAIT %lld", round->key, wait_ms),
                     REDIS_OK);
    long long sent_ms = sg_unix_us() / 1000;
    redisReply *holder = sg_receive_reply(round->conn, ONE_REPLY_LIMIT_MS, "LOCK.ACQUIRE A");
    long long a_answered_ms = sg_unix_us() / 1000;
    if (raw_lock_token_or_nil(holder, "LOCK.ACQUIRE A") == 0) fail_msg("round %d: A was not granted %s", i, round->key);
    if (!sg_reply_arrives_within(round->conn, ONE_REPLY_LIMIT_MS)) {
        raw_lock_info info = raw_lock_info_of(sg_conn, round->key);
        fail_msg("round %d (WAIT %lld, lease %d): B had no reply after %d ms; LOCK.INFO %s: %s %.*s, token %lld, ttl "
                 "%lld ms",
                 i, wait_ms, ROUND_LEASE_MS, ONE_REPLY_LIMIT_MS, round->key, info.held ? "held by" : "free",
                 (int)info.owner_len, info.owner, info.token, info.ttl);
    }
    round->waiter_token = raw_lock_token_or_nil(sg_receive_reply(round->conn, 0, "waiter B"), "waiter B");
    if (round->waiter_token == 0) {
        assert_not_held_by_b(round->key, "right after B's nil");
        return;
    }
    long long late_enough_ms = ROUND_LEASE_MS - wait_ms + 1; /* B this far behind A outlives the lease */
    if (a_answered_ms - sent_ms < late_enough_ms) {
        fail_msg("round %d: B (WAIT %lld) was granted token %lld, but its WAIT ended by the end of A's %d ms lease "
                 "(both commands ran within ms %lld..%lld)",
                 i, wait_ms, round->waiter_token, ROUND_LEASE_MS, sent_ms, a_answered_ms);
    }
    raw_lock_info info = raw_lock_info_of(sg_conn, round->key);
    if (!info.held || info.owner_len != 1 || info.owner[0] != 'B' || info.token != round->waiter_token) {
        fail_msg("round %d: B got token %lld, but LOCK.INFO %s shows %s %.*s with token %lld", i, round->waiter_token,
                 round->key, info.held ? "owner" : "a free lock", (int)info.owner_len, info.owner, info.token);
    }
}

/* ROUNDS rounds with WAIT wait_ms (plus i % spread): each B gets one reply that matches the lock,
 * and no B gets a second one. */
static void run_rounds(long long wait_ms, int spread)
{
    round_outcome rounds[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) run_round(&rounds[i], i, wait_ms + (spread > 0 ? i % spread : 0));
    sg_sleep_ms(200);
    for (int i = 0; i < ROUNDS; i++) {
        if (sg_reply_arrives_within(rounds[i].conn, 0)) fail_msg("round %d: B got a second reply", i);
        if (rounds[i].waiter_token == 0) assert_not_held_by_b(rounds[i].key, "after every round");
    }
}

static void a_wait_ending_a_millisecond_before_the_lease_gets_exactly_one_nil_and_no_lock(void **state)
{
    (void)state;
    run_rounds(ROUND_LEASE_MS - 1, 0);
}

static void a_wait_ending_with_the_lease_gets_exactly_one_nil_and_no_lock(void **state)
{
    (void)state;
    run_rounds(ROUND_LEASE_MS, 0);
}

static void a_wait_ending_well_before_the_lease_gets_exactly_one_nil_and_no_lock(void **state)
{
    (void)state;
    run_rounds(120, 0);
}

static void a_wait_ending_just_after_the_lease_gets_exactly_one_reply_that_matches_the_lock(void **state)
{
    (void)state;
    run_rounds(ROUND_LEASE_MS + 1, 5); /* WAIT 201..205: either outcome, as long as it is told */
}

/* CLIENT UNBLOCK does not apply to lock waiters: it answers 0 and the waiter keeps its place. */
static void client_unblock_timeout_answers_0_and_the_waiter_gets_nil_at_its_own_timeout(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "A", 10000);
    redisContext *b = sg_group_open_client();
    long long b_id = sg_command_integer(b, "CLIENT ID");
    int64_t sent = sg_now_ms();
    sg_send_command(b, "LOCK.ACQUIRE lock B 10000 WAIT 700");
    raw_lock_wait_for_waiters(sg_conn, "lock", 1);
    long long unblocked = sg_command_integer(sg_conn, "CLIENT UNBLOCK %lld TIMEOUT", b_id);
    if (unblocked != 0) fail_msg("CLIENT UNBLOCK ... TIMEOUT of a lock waiter answered %lld, expected 0", unblocked);
    if (sg_reply_arrives_within(b, 200)) fail_msg("CLIENT UNBLOCK answered the lock waiter");
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").waiters, 1);
    redisReply *r = sg_receive_reply(b, 3000, "B at its timeout");
    long long waited = (long long)(sg_now_ms() - sent);
    assert_int_equal(raw_lock_token_or_nil(r, "B at its timeout"), 0);
    if (waited < 650) fail_msg("B got nil after %lld ms, before its WAIT of 700 ms", waited);
    if (sg_reply_arrives_within(b, 100)) fail_msg("B got a second reply");
    raw_lock_assert_held_by(sg_conn, "lock", "A");
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").waiters, 0);
}

static void client_unblock_error_answers_0_and_the_waiter_is_granted_when_the_holder_releases(void **state)
{
    (void)state;
    raw_lock_acquire(sg_conn, "lock", "A", 10000);
    redisContext *b = sg_group_open_client();
    long long b_id = sg_command_integer(b, "CLIENT ID");
    sg_send_command(b, "LOCK.ACQUIRE lock B 10000 WAIT 10000");
    raw_lock_wait_for_waiters(sg_conn, "lock", 1);
    long long unblocked = sg_command_integer(sg_conn, "CLIENT UNBLOCK %lld ERROR", b_id);
    if (unblocked != 0) fail_msg("CLIENT UNBLOCK ... ERROR of a lock waiter answered %lld, expected 0", unblocked);
    if (sg_reply_arrives_within(b, 200)) fail_msg("CLIENT UNBLOCK answered the lock waiter");
    assert_int_equal(raw_lock_info_of(sg_conn, "lock").waiters, 1);
    assert_int_equal(raw_lock_release(sg_conn, "lock", "A"), 1);
    long long token = raw_lock_token_or_nil(sg_receive_reply(b, 3000, "B after the release"), "B after the release");
    if (token == 0) fail_msg("B got nil after the release, expected the lock");
    if (sg_reply_arrives_within(b, 100)) fail_msg("B got a second reply");
    raw_lock_info info = raw_lock_info_of(sg_conn, "lock");
    raw_lock_assert_owner(&info, "B", 1);
    assert_int_equal(info.token, token);
}

/* ---- (3) the token clock's bound ---------------------------------------------------------------- */

static void assert_token_near_now(long long token, const char *what)
{
    long long now = sg_unix_us();
    if (token < now - NEAR_NOW_US || token > now + NEAR_NOW_US) {
        fail_msg("%s: token %lld is %+lld µs from Unix time %lld", what, token, token - now, now);
    }
}

/* A lock and an idempotency record taken now get tokens close to Unix time. */
static void assert_new_tokens_are_near_now(redisContext *c)
{
    assert_token_near_now(raw_lock_acquire(c, "x", "y", 1000), "LOCK.ACQUIRE x y 1000");
    assert_token_near_now(raw_idemp_begin_new(c, "r", "fp", 1000), "IDEMP.BEGIN r fp 1000");
}

/* `command` carries a token far beyond the bound: refused, `key` not written, the clock unmoved,
 * and new tokens still near now. */
static void assert_far_token_refused(void **state, const char *command, const char *key)
{
    sg_fixture *f = *state;
    redisContext *c = connect_briefly(f, sg_fixture_start(f, NULL));
    long long last = sg_info_number(c, "slotguard_lock_last_token");
    sg_command_error(c, "ERR invalid token", command);
    assert_int_equal(sg_exists(c, key), 0);
    assert_int_equal(sg_info_number(c, "slotguard_lock_last_token"), last);
    assert_new_tokens_are_near_now(c);
}

static void lock_grant_of_a_token_far_beyond_the_bound_is_refused_and_changes_nothing(void **state)
{
    assert_far_token_refused(state, "LOCK.GRANT lk2 me " FAR_TOKEN " 99999999999999", "lk2");
}

static void after_a_far_ahead_lock_grant_and_flushall_new_locks_and_records_get_tokens_near_now(void **state)
{
    sg_fixture *f = *state;
    redisContext *c = connect_briefly(f, sg_fixture_start(f, NULL));
    freeReplyObject(sg_command(c, "LOCK.GRANT lk2 me " FAR_TOKEN " 99999999999999")); /* refused or not */
    sg_command_status(c, "OK", "FLUSHALL");
    assert_new_tokens_are_near_now(c);
}

static void idemp_record_of_a_token_far_beyond_the_bound_is_refused_and_changes_nothing(void **state)
{
    assert_far_token_refused(state, "IDEMP.RECORD key in_progress fp " FAR_TOKEN " 99999999999999", "key");
}

static void lock_grant_of_a_token_just_inside_the_bound_is_accepted(void **state)
{
    sg_fixture *f = *state;
    redisContext *c = connect_briefly(f, sg_fixture_start(f, NULL));
    long long token = sg_unix_us() + TOKEN_BOUND_US - 10000000LL;
    sg_command_status(c, "OK", "LOCK.GRANT lk2 me %lld 99999999999999", token);
    assert_int_equal(raw_lock_info_of(c, "lk2").token, token);
    assert_int_equal(sg_info_number(c, "slotguard_lock_last_token"), token);
    assert_true(raw_lock_acquire(c, "x", "y", 1000) > token);
}

static void lock_grant_of_a_token_just_outside_the_bound_is_refused(void **state)
{
    sg_fixture *f = *state;
    redisContext *c = connect_briefly(f, sg_fixture_start(f, NULL));
    long long last = sg_info_number(c, "slotguard_lock_last_token");
    char grant[128]; /* formatted here, so that a failure shows the token */
    snprintf(grant, sizeof(grant), "LOCK.GRANT lk2 me %lld 99999999999999", sg_unix_us() + TOKEN_BOUND_US + 10000000LL);
    sg_command_error(c, "ERR invalid token", grant);
    assert_int_equal(sg_exists(c, "lk2"), 0);
    assert_int_equal(sg_info_number(c, "slotguard_lock_last_token"), last);
}

/* In a lock's module value, RedisModule_SaveUnsigned writes the token as the opcode
 * RDB_MODULE_OPCODE_UINT (2) and an RDB length; a token above 2^32 is the 64-bit form: 0x81, then
 * 8 bytes big endian. */
#define UINT_OPCODE 2
#define LEN_64BIT 0x81
#define TOKEN_FIELD_LEN 10

static void encode_token(unsigned char *out, uint64_t token)
{
    out[0] = UINT_OPCODE;
    out[1] = LEN_64BIT;
    for (int i = 0; i < 8; i++) out[2 + i] = (unsigned char)(token >> (8 * (7 - i)));
}

/* DUMP of a lock granted with `token`, re-encoded with `new_token` and sealed again: malloc'ed. The
 * unmodified payload is first resealed and compared with Redis's own, so a wrong CRC cannot pass for
 * a refused token. */
static unsigned char *lock_payload_with_token(redisContext *c, long long token, uint64_t new_token, size_t *len)
{
    long long deadline = sg_unix_us() / 1000 + 600000;
    sg_command_status(c, "OK", "LOCK.GRANT source me %lld %lld", token, deadline);
    redisReply *r = sg_command(c, "DUMP source");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_true(r->len > TOKEN_FIELD_LEN + 10);
    unsigned char *payload = malloc(r->len);
    assert_non_null(payload);
    memcpy(payload, r->str, r->len);
    *len = r->len;
    sg_dump_seal(payload, *len);
    assert_memory_equal(payload, r->str, r->len);
    freeReplyObject(r);
    unsigned char field[TOKEN_FIELD_LEN];
    encode_token(field, (uint64_t)token);
    size_t at = 0;
    int found = 0;
    for (size_t i = 0; i + TOKEN_FIELD_LEN <= *len - 10; i++) {
        if (memcmp(payload + i, field, TOKEN_FIELD_LEN) == 0) {
            at = i;
            found++;
        }
    }
    if (found != 1) fail_msg("the token field occurs %d times in the lock's DUMP payload, expected once", found);
    encode_token(payload + at, new_token);
    sg_dump_seal(payload, *len);
    return payload;
}

/* The control for the next test: the payload editing is right, so RESTORE takes a token inside the
 * bound (a day ahead) and LOCK.INFO shows it. */
static void restore_of_a_lock_payload_edited_to_a_token_a_day_ahead_is_accepted(void **state)
{
    sg_fixture *f = *state;
    redisContext *c = connect_briefly(f, sg_fixture_start(f, NULL));
    long long token = sg_unix_us();
    long long day_ahead = token + 86400000000LL;
    size_t len;
    unsigned char *payload = lock_payload_with_token(c, token, (uint64_t)day_ahead, &len);
    restore_lock(c, "k3", "0", payload, len, 0);
    free(payload);
    raw_lock_info info = raw_lock_info_of(c, "k3");
    raw_lock_assert_owner(&info, "me", 2);
    assert_int_equal(info.token, day_ahead);
}

static void restore_of_a_lock_payload_carrying_a_token_far_beyond_the_bound_is_refused(void **state)
{
    sg_fixture *f = *state;
    redisContext *c = connect_briefly(f, sg_fixture_start(f, NULL));
    size_t len;
    unsigned char *payload = lock_payload_with_token(c, sg_unix_us(), (uint64_t)FAR_TOKEN_VALUE, &len);
    long long last = sg_info_number(c, "slotguard_lock_last_token");
    const char *argv[4] = {"RESTORE", "k3", "0", (const char *)payload};
    size_t argvlen[4] = {7, 2, 1, len};
    redisReply *r = sg_command_args(c, 4, argv, argvlen);
    free(payload);
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    int refused = r->type == REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (!refused) fail_msg("RESTORE of a lock with token " FAR_TOKEN " answered %s, expected an error", got);
    assert_int_equal(sg_exists(c, "k3"), 0);
    assert_int_equal(sg_info_number(c, "slotguard_lock_last_token"), last);
    assert_new_tokens_are_near_now(c);
}

/* Replace the first `from` in the incremental AOF of the stopped server `s` by `to`. */
static void edit_incremental_aof(const sg_server *s, const char *from, const char *to)
{
    char name[256];
    size_t len, from_len = strlen(from), to_len = strlen(to);
    char *aof = sg_read_aof_part(s, 'i', name, sizeof(name), &len);
    const char *at = NULL;
    for (size_t i = 0; at == NULL && i + from_len <= len; i++) {
        if (memcmp(aof + i, from, from_len) == 0) at = aof + i;
    }
    if (at == NULL) fail_msg("the incremental AOF %s does not hold the command to edit", name);
    char path[700];
    snprintf(path, sizeof(path), "%s/appendonlydir/%s", s->dir, name);
    FILE *out = fopen(path, "wb");
    if (out == NULL) fail_msg("cannot rewrite %s", path);
    size_t head = (size_t)(at - aof), tail = len - head - from_len;
    int written = fwrite(aof, 1, head, out) == head && fwrite(to, 1, to_len, out) == to_len &&
                  fwrite(at + from_len, 1, tail, out) == tail;
    written = fclose(out) == 0 && written;
    free(aof);
    if (!written) fail_msg("cannot rewrite %s", path);
}

/* 1 when the server's log file mentions `text` (ignoring case). */
static int log_mentions(const sg_server *s, const char *text)
{
    FILE *log = fopen(s->log_path, "rb");
    if (log == NULL) fail_msg("cannot read %s", s->log_path);
    size_t cap = (size_t)1 << 20;
    char *content = malloc(cap);
    assert_non_null(content);
    size_t len = fread(content, 1, cap, log);
    fclose(log);
    int found = sg_contains_nocase(content, len, text);
    free(content);
    return found;
}

/* The AOF is obeyed, as a master is: the record loads, but the clock stops at the bound (README,
 * "The token clock's bound") and the server logs a warning. The AOF's LOCK.GRANT is edited from a
 * valid token to 2^63-1, its bulk length with it. */
static void an_aof_carrying_a_token_far_beyond_the_bound_loads_with_the_clock_stopped_at_the_bound(void **state)
{
    sg_fixture *f = *state;
    const char *args[] = {"--appendonly", "yes", "--aof-use-rdb-preamble", "no", "--appendfsync", "always", NULL};
    sg_server *s = sg_fixture_start(f, args);
    redisContext *c = connect_briefly(f, s);
    long long token = sg_unix_us();
    sg_command_status(c, "OK", "LOCK.GRANT aofk me %lld %lld", token, sg_unix_us() / 1000 + 600000);
    sg_server_kill(s); /* appendfsync always: the grant is on disk */
    char valid[64], far[64];
    snprintf(valid, sizeof(valid), "$%d\r\n%lld\r\n", snprintf(NULL, 0, "%lld", token), token);
    snprintf(far, sizeof(far), "$%d\r\n%s\r\n", (int)strlen(FAR_TOKEN), FAR_TOKEN);
    edit_incremental_aof(s, valid, far);

    sg_server_start_again(s);
    c = sg_fixture_reconnect(f, c, s);
    struct timeval tv = {COMMAND_TIMEOUT_S, 0};
    redisSetTimeout(c, tv);
    assert_int_equal(raw_lock_info_of(c, "aofk").token, FAR_TOKEN_VALUE); /* the record loaded as written */
    long long next = raw_lock_acquire(c, "other", "y", 1000);
    long long furthest = sg_unix_us() + TOKEN_BOUND_US + 1000000LL;
    if (next == 0 || next > furthest) {
        fail_msg("LOCK.ACQUIRE after the load: token %lld, beyond the bound %lld", next, furthest);
    }
    long long last = sg_info_number(c, "slotguard_lock_last_token");
    if (last > furthest) fail_msg("lock_last_token is %lld after the load, beyond the bound %lld", last, furthest);
    if (!log_mentions(s, "365 days")) fail_msg("the server's log has no warning about a token 365 days ahead");
}

/* ---- (4) IDEMP.SETNX values under LRU and LFU ---------------------------------------------------- */

/* The group's per-test setup: an empty dataset and the default eviction policy. */
static int flush_with_default_policy(void **state)
{
    sg_group_flush(state);
    sg_command_status(sg_conn, "OK", "CONFIG SET maxmemory-policy noeviction");
    return 0;
}

static void record_three_keys_with_the_default_value(redisContext *c)
{
    assert_int_equal(sg_command_integer(c, "IDEMP.SETNX d1 100"), 1);
    assert_int_equal(sg_command_integer(c, "IDEMP.SETNX d2 100"), 1);
    assert_int_equal(sg_command_integer(c, "IDEMP.SETNX d3 100"), 1);
}

/* A key's value object is its own: OBJECT REFCOUNT 1. */
static void assert_own_value_object(redisContext *c, const char *key)
{
    long long refcount = sg_command_integer(c, "OBJECT REFCOUNT %s", key);
    if (refcount != 1) fail_msg("OBJECT REFCOUNT %s is %lld: its value object is shared", key, refcount);
}

static void under_allkeys_lru_idemp_setnx_keys_do_not_share_the_default_value(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "CONFIG SET maxmemory-policy allkeys-lru");
    record_three_keys_with_the_default_value(sg_conn);
    assert_own_value_object(sg_conn, "d2");
}

static void under_allkeys_lru_reading_one_idemp_setnx_key_leaves_the_others_idle(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "CONFIG SET maxmemory-policy allkeys-lru");
    record_three_keys_with_the_default_value(sg_conn);
    for (int i = 0; i < 10; i++) {
        freeReplyObject(sg_command(sg_conn, "GET d1"));
        sg_sleep_ms(250);
    }
    /* one write: the read and the look at d1 see the same LRU clock */
    assert_int_equal(redisAppendCommand(sg_conn, "GET d1"), REDIS_OK);
    assert_int_equal(redisAppendCommand(sg_conn, "OBJECT IDLETIME d1"), REDIS_OK);
    assert_int_equal(redisAppendCommand(sg_conn, "OBJECT IDLETIME d2"), REDIS_OK);
    freeReplyObject(sg_receive_reply(sg_conn, 2000, "GET d1"));
    redisReply *d1 = sg_receive_reply(sg_conn, 2000, "OBJECT IDLETIME d1");
    redisReply *d2 = sg_receive_reply(sg_conn, 2000, "OBJECT IDLETIME d2");
    assert_int_equal(d1->type, REDIS_REPLY_INTEGER);
    assert_int_equal(d2->type, REDIS_REPLY_INTEGER);
    long long idle1 = d1->integer, idle2 = d2->integer;
    freeReplyObject(d1);
    freeReplyObject(d2);
    assert_int_equal(idle1, 0);
    if (idle2 < 2) fail_msg("OBJECT IDLETIME d2 is %lld s after 2.5 s of reading only d1", idle2);
}

static void under_allkeys_lru_an_idemp_setnx_value_given_is_the_keys_own(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "CONFIG SET maxmemory-policy allkeys-lru");
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX d4 100 v"), 1);
    assert_own_value_object(sg_conn, "d4");
}

static const char *const lfu_args[] = {"--maxmemory-policy", "allkeys-lfu", NULL};

static void on_a_server_started_under_allkeys_lfu_idemp_setnx_keys_do_not_share_the_default_value(void **state)
{
    sg_fixture *f = *state;
    redisContext *c = connect_briefly(f, sg_fixture_start(f, lfu_args));
    record_three_keys_with_the_default_value(c);
    assert_own_value_object(c, "d2");
}

static void under_allkeys_lfu_reading_one_idemp_setnx_key_raises_only_its_frequency(void **state)
{
    sg_fixture *f = *state;
    redisContext *c = connect_briefly(f, sg_fixture_start(f, lfu_args));
    record_three_keys_with_the_default_value(c);
    long long before = sg_command_integer(c, "OBJECT FREQ d2");
    const int reads = 2000;
    for (int i = 0; i < reads; i++) assert_int_equal(redisAppendCommand(c, "GET d1"), REDIS_OK);
    for (int i = 0; i < reads; i++) freeReplyObject(sg_receive_reply(c, 2000, "GET d1"));
    long long d1 = sg_command_integer(c, "OBJECT FREQ d1");
    long long d2 = sg_command_integer(c, "OBJECT FREQ d2");
    if (d1 <= before + 3) fail_msg("OBJECT FREQ d1 is %lld after %d reads (d2 was %lld before)", d1, reads, before);
    if (d2 > before) fail_msg("OBJECT FREQ d2 rose from %lld to %lld through reads of d1 only", before, d2);
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, sg_fixture_setup, sg_fixture_teardown)
#define SHARED_TEST(name) cmocka_unit_test_setup_teardown(name, flush_with_default_policy, sg_group_close_clients)

int main(void)
{
    const struct CMUnitTest own_server[] = {
        FIXTURE_TEST(pexpireat_just_past_the_timer_wrap_with_a_waiter_keeps_the_server_answering),
        FIXTURE_TEST(pexpireat_to_the_largest_deadline_with_a_waiter_keeps_the_server_answering),
        FIXTURE_TEST(lock_grant_with_the_largest_deadline_over_a_waited_lock_keeps_the_server_answering),
        FIXTURE_TEST(a_lock_restored_with_the_largest_absolute_ttl_keeps_the_server_answering_with_a_waiter),
        FIXTURE_TEST(
            a_lock_restored_with_a_relative_ttl_just_past_the_timer_wrap_keeps_the_server_answering_with_a_waiter),
        FIXTURE_TEST(lock_grant_of_a_token_far_beyond_the_bound_is_refused_and_changes_nothing),
        FIXTURE_TEST(after_a_far_ahead_lock_grant_and_flushall_new_locks_and_records_get_tokens_near_now),
        FIXTURE_TEST(idemp_record_of_a_token_far_beyond_the_bound_is_refused_and_changes_nothing),
        FIXTURE_TEST(lock_grant_of_a_token_just_inside_the_bound_is_accepted),
        FIXTURE_TEST(lock_grant_of_a_token_just_outside_the_bound_is_refused),
        FIXTURE_TEST(restore_of_a_lock_payload_edited_to_a_token_a_day_ahead_is_accepted),
        FIXTURE_TEST(restore_of_a_lock_payload_carrying_a_token_far_beyond_the_bound_is_refused),
        FIXTURE_TEST(an_aof_carrying_a_token_far_beyond_the_bound_loads_with_the_clock_stopped_at_the_bound),
        FIXTURE_TEST(on_a_server_started_under_allkeys_lfu_idemp_setnx_keys_do_not_share_the_default_value),
        FIXTURE_TEST(under_allkeys_lfu_reading_one_idemp_setnx_key_raises_only_its_frequency),
    };
    const struct CMUnitTest shared_server[] = {
        SHARED_TEST(a_wait_ending_a_millisecond_before_the_lease_gets_exactly_one_nil_and_no_lock),
        SHARED_TEST(a_wait_ending_with_the_lease_gets_exactly_one_nil_and_no_lock),
        SHARED_TEST(a_wait_ending_well_before_the_lease_gets_exactly_one_nil_and_no_lock),
        SHARED_TEST(a_wait_ending_just_after_the_lease_gets_exactly_one_reply_that_matches_the_lock),
        SHARED_TEST(client_unblock_timeout_answers_0_and_the_waiter_gets_nil_at_its_own_timeout),
        SHARED_TEST(client_unblock_error_answers_0_and_the_waiter_is_granted_when_the_holder_releases),
        SHARED_TEST(under_allkeys_lru_idemp_setnx_keys_do_not_share_the_default_value),
        SHARED_TEST(under_allkeys_lru_reading_one_idemp_setnx_key_leaves_the_others_idle),
        SHARED_TEST(under_allkeys_lru_an_idemp_setnx_value_given_is_the_keys_own),
    };
    int failed = cmocka_run_group_tests_name("lock time edges, one server per test", own_server, NULL, NULL);
    failed += cmocka_run_group_tests_name("lock time edges, one shared server", shared_server, sg_group_setup,
                                          sg_group_teardown);
    return failed;
}
