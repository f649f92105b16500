/* test_lock_pause.c -- the lease timer and queued waiters when the server may not write.
 *
 * A lock with waiters changes hands from a timer when its lease ends. In Redis 7.0.15 a timer that
 * writes while clients are paused for writes (CLIENT PAUSE WRITE, FAILOVER, SHUTDOWN waiting for
 * replicas) crashes the server, so the timer checks RedisModule_AvoidReplicaTraffic() and tries
 * again later. These tests drive exactly those moments with a waiter queued and a lease ending:
 *
 *   - CLIENT PAUSE WRITE / ALL: the server stays up, nobody is granted the lock during the pause,
 *     the first waiter is granted it right after, with a larger token;
 *   - a waiter whose WAIT ends during the pause gets nil and leaves the queue;
 *   - REPLICAOF on a master with waiters: they get UNBLOCKED errors and the queue empties; back to
 *     master, locks work again;
 *   - FAILOVER with a waiter queued: the waiter gets UNBLOCKED, the promoted replica holds the same
 *     lock and issues larger tokens, the old master answers READONLY, both end with one digest;
 *   - SHUTDOWN with a lease timer pending (AOF on): a clean exit, and the held lock, its token and
 *     its lease come back on restart.
 *
 * Each test owns its servers and connections through the harness fixture. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raw_commands.h"

#define REPLY_TIMEOUT_MS 10000
#define STATE_TIMEOUT_MS 15000

static const char *const replicated_args[] = {"--repl-diskless-sync-delay", "0", NULL};

/* ---- small helpers ------------------------------------------------------------------------------ */

static void wait_waiting_now(redisContext *c, long long count)
{
    int64_t deadline = sg_now_ms() + STATE_TIMEOUT_MS;
    while (sg_info_number(c, "slotguard_lock_waiting_now") != count) {
        if (sg_now_ms() > deadline) fail_msg("slotguard_lock_waiting_now never reached %lld", count);
        sg_sleep_ms(5);
    }
}

static void wait_role(redisContext *c, const char *role)
{
    int64_t deadline = sg_now_ms() + STATE_TIMEOUT_MS;
    while (!sg_info_field_is(c, "role", role)) {
        if (sg_now_ms() > deadline) fail_msg("role never became %s", role);
        sg_sleep_ms(20);
    }
}

/* The token LOCK.INFO shows, 0 when the lock is free; `owner` (if not NULL) must hold it. */
static long long held_token(redisContext *c, const char *key, const char *owner)
{
    redisReply *r = sg_command(c, "LOCK.INFO %s", key);
    long long token = 0;
    int owner_ok = owner == NULL;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            if (sg_reply_is_text(r->element[i], "token")) token = r->element[i + 1]->integer;
            if (sg_reply_is_text(r->element[i], "owner") && owner != NULL)
                owner_ok = sg_reply_is_text(r->element[i + 1], owner);
        }
    } else if (r->type != REDIS_REPLY_NIL) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("LOCK.INFO %s: %s", key, got);
    }
    freeReplyObject(r);
    if (token != 0 && !owner_ok) fail_msg("LOCK.INFO %s: not held by %s", key, owner);
    return token;
}

/* Receive a token (integer >= 1) from a waiter's connection. */
static long long receive_token(redisContext *c, const char *what)
{
    redisReply *r = sg_receive_reply(c, REPLY_TIMEOUT_MS, what);
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    long long token = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    if (token < 1) fail_msg("%s: expected a token, got %s", what, got);
    return token;
}

/* Receive an error starting with `prefix`; returns nothing, fails otherwise. */
static void receive_error(redisContext *c, const char *prefix, const char *what)
{
    redisReply *r = sg_receive_reply(c, REPLY_TIMEOUT_MS, what);
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    int ok = r->type == REDIS_REPLY_ERROR && strncmp(r->str, prefix, strlen(prefix)) == 0;
    freeReplyObject(r);
    if (!ok) fail_msg("%s: expected an error starting with %s, got %s", what, prefix, got);
}

static void assert_no_crash_in_log(const sg_server *s)
{
    FILE *log = fopen(s->log_path, "r");
    if (log == NULL) fail_msg("cannot read %s", s->log_path);
    char line[1024];
    while (fgets(line, sizeof(line), log) != NULL) {
        if (strstr(line, "crashed by signal") || strstr(line, "ASSERTION FAILED") || strstr(line, "Guru Meditation")) {
            fclose(log);
            fail_msg("the server log reports a crash: %s", line);
        }
    }
    fclose(log);
}

/* ---- CLIENT PAUSE ------------------------------------------------------------------------------- */

static void lease_ends_during_a_pause(sg_fixture *f, const char *mode, int with_replica)
{
    sg_server *s = sg_fixture_start(f, replicated_args);
    sg_server *replica = with_replica ? sg_fixture_start_replica(f, s, NULL) : NULL;
    redisContext *holder = sg_fixture_connect(f, s), *waiter = sg_fixture_connect(f, s);
    redisContext *admin = sg_fixture_connect(f, s);

    long long first = sg_command_integer(holder, "LOCK.ACQUIRE pl holder 300");
    sg_send_command(waiter, "LOCK.ACQUIRE pl waiter 5000 WAIT 20000");
    wait_waiting_now(admin, 1);

    sg_command_status(admin, "OK", "CLIENT PAUSE 1500 %s", mode);
    int64_t paused_at = sg_now_ms();
    sg_sleep_ms(700); /* the lease ends 300 ms in; the timer fires and must not write */
    assert_false(sg_reply_arrives_within(waiter, 300));
    if (strcmp(mode, "WRITE") == 0) {
        /* Reads still run: the lock is free (its key expired) but nobody has it yet. */
        assert_int_equal(held_token(admin, "pl", NULL), 0);
        assert_int_equal(sg_info_number(admin, "slotguard_lock_waiting_now"), 1);
        sg_command_status(admin, "OK", "CLIENT UNPAUSE");
    }

    long long granted = receive_token(waiter, "the waiter after the pause");
    assert_true(granted > first);
    if (strcmp(mode, "ALL") == 0) assert_true(sg_now_ms() - paused_at >= 1400); /* not before the pause ended */
    assert_int_equal(held_token(admin, "pl", "waiter"), granted);
    assert_int_equal(sg_info_number(admin, "slotguard_lock_waiting_now"), 0);
    sg_command_status(admin, "PONG", "PING");
    assert_no_crash_in_log(s);
    if (replica != NULL) {
        /* The grant reached the replica as its effect. */
        sg_wait_replicas(s, 1, 10000);
        redisContext *r = sg_fixture_connect(f, replica);
        assert_int_equal(held_token(r, "pl", "waiter"), granted);
    }
}

static void test_a_lease_that_ends_during_client_pause_write_is_handed_over_after_the_pause(void **state)
{
    lease_ends_during_a_pause(*state, "WRITE", 0);
}

static void test_a_lease_that_ends_during_client_pause_write_with_a_replica_is_handed_over_after_it(void **state)
{
    lease_ends_during_a_pause(*state, "WRITE", 1);
}

static void test_a_lease_that_ends_during_client_pause_all_is_handed_over_after_the_pause(void **state)
{
    lease_ends_during_a_pause(*state, "ALL", 0);
}

static void test_a_wait_that_times_out_during_a_pause_replies_nil_and_leaves_the_queue(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *holder = sg_fixture_connect(f, s), *waiter = sg_fixture_connect(f, s);
    redisContext *admin = sg_fixture_connect(f, s);

    long long first = sg_command_integer(holder, "LOCK.ACQUIRE pt holder 10000");
    sg_send_command(waiter, "LOCK.ACQUIRE pt waiter 5000 WAIT 300");
    wait_waiting_now(admin, 1);
    sg_command_status(admin, "OK", "CLIENT PAUSE 1000 WRITE");

    redisReply *r = sg_receive_reply(waiter, REPLY_TIMEOUT_MS, "the waiter whose WAIT ends in the pause");
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    assert_int_equal(sg_info_number(admin, "slotguard_lock_waiting_now"), 0);
    sg_command_status(admin, "OK", "CLIENT UNPAUSE");
    assert_int_equal(held_token(admin, "pt", "holder"), first);
    assert_int_equal(sg_command_integer(holder, "LOCK.RELEASE pt holder"), 1);
    assert_true(sg_command_integer(waiter, "LOCK.ACQUIRE pt waiter 5000") > first);
}

/* ---- role changes ------------------------------------------------------------------------------- */

static void test_replicaof_on_a_master_with_waiters_unblocks_them_and_empties_the_queue(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    sg_server *other = sg_fixture_start(f, NULL);
    redisContext *holder = sg_fixture_connect(f, s), *admin = sg_fixture_connect(f, s);
    redisContext *waiters[3];
    long long first = sg_command_integer(holder, "LOCK.ACQUIRE rl holder 600");
    for (int i = 0; i < 3; i++) {
        waiters[i] = sg_fixture_connect(f, s);
        sg_send_command(waiters[i], "LOCK.ACQUIRE rl waiter-%d 5000 WAIT 20000", i);
    }
    wait_waiting_now(admin, 3);

    sg_command_status(admin, "OK", "REPLICAOF 127.0.0.1 %d", other->port);
    for (int i = 0; i < 3; i++) receive_error(waiters[i], "UNBLOCKED", "a waiter on the new replica");
    assert_int_equal(sg_info_number(admin, "slotguard_lock_waiting_now"), 0);
    sg_sleep_ms(700); /* past the old lease: the timer must not act on a replica */
    sg_command_status(admin, "PONG", "PING");

    sg_command_status(admin, "OK", "REPLICAOF NO ONE");
    wait_role(admin, "master");
    /* It synced from `other`, which has no locks; the token clock still remembers `first`. */
    long long next = sg_command_integer(admin, "LOCK.ACQUIRE rl someone 5000");
    assert_true(next > first);
    assert_no_crash_in_log(s);
}

static void test_failover_with_a_waiter_queued_unblocks_it_and_the_new_master_fences_higher(void **state)
{
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, replicated_args);
    sg_server *replica = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica);
    redisContext *waiter = sg_fixture_connect(f, master);

    long long held = sg_command_integer(m, "LOCK.ACQUIRE fo holder 30000");
    sg_send_command(waiter, "LOCK.ACQUIRE fo waiter 5000 WAIT 30000");
    wait_waiting_now(m, 1);
    sg_wait_replicas(master, 1, 10000);

    sg_command_status(m, "OK", "FAILOVER TO 127.0.0.1 %d TIMEOUT 10000", replica->port);
    wait_role(r, "master");
    wait_role(m, "slave");
    receive_error(waiter, "UNBLOCKED", "the waiter on the demoted master");
    assert_int_equal(sg_info_number(m, "slotguard_lock_waiting_now"), 0);
    sg_command_error(m, "READONLY", "LOCK.ACQUIRE fo someone 1000");

    assert_int_equal(held_token(r, "fo", "holder"), held);
    assert_int_equal(sg_command_integer(r, "LOCK.RELEASE fo holder"), 1);
    long long next = sg_command_integer(r, "LOCK.ACQUIRE fo successor 30000");
    assert_true(next > held);

    sg_wait_replicas(replica, 1, 10000);
    char *d_new = sg_debug_digest(r), *d_old = sg_debug_digest(m);
    assert_string_equal(d_new, d_old);
    free(d_new);
    free(d_old);
    assert_no_crash_in_log(master);
    assert_no_crash_in_log(replica);
}

/* ---- shutdown ----------------------------------------------------------------------------------- */

static void test_shutdown_with_a_lease_timer_pending_is_clean_and_the_lock_comes_back(void **state)
{
    sg_fixture *f = *state;
    static const char *const aof[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};
    sg_server *s = sg_fixture_start(f, aof);
    redisContext *holder = sg_fixture_connect(f, s), *waiter = sg_fixture_connect(f, s);
    redisContext *admin = sg_fixture_connect(f, s);

    long long held = sg_command_integer(holder, "LOCK.ACQUIRE sd holder 60000");
    sg_send_command(waiter, "LOCK.ACQUIRE sd waiter 5000 WAIT 30000");
    wait_waiting_now(admin, 1);

    sg_server_restart(s); /* SHUTDOWN (the waiter is still queued, its timer armed), then start */
    assert_no_crash_in_log(s);
    admin = sg_fixture_reconnect(f, admin, s);
    assert_int_equal(held_token(admin, "sd", "holder"), held);
    long long pttl = sg_command_integer(admin, "PTTL sd");
    assert_true(pttl > 50000 && pttl <= 60000);
    assert_int_equal(sg_info_number(admin, "slotguard_lock_waiting_now"), 0);
    assert_int_equal(sg_command_integer(admin, "LOCK.RELEASE sd holder"), 1);
    assert_true(sg_command_integer(admin, "LOCK.ACQUIRE sd next 1000") > held);
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, sg_fixture_setup, sg_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_a_lease_that_ends_during_client_pause_write_is_handed_over_after_the_pause),
        FIXTURE_TEST(test_a_lease_that_ends_during_client_pause_write_with_a_replica_is_handed_over_after_it),
        FIXTURE_TEST(test_a_lease_that_ends_during_client_pause_all_is_handed_over_after_the_pause),
        FIXTURE_TEST(test_a_wait_that_times_out_during_a_pause_replies_nil_and_leaves_the_queue),
        FIXTURE_TEST(test_replicaof_on_a_master_with_waiters_unblocks_them_and_empties_the_queue),
        FIXTURE_TEST(test_failover_with_a_waiter_queued_unblocks_it_and_the_new_master_fences_higher),
        FIXTURE_TEST(test_shutdown_with_a_lease_timer_pending_is_clean_and_the_lock_comes_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
