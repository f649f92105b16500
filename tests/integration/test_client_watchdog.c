/* test_client_watchdog.c -- libslotguard's watched lock against a real server: the lease is renewed
 * in the background past many TTLs, the renewal stops the moment the lock is released (no
 * LOCK.EXTEND after it), it survives its connection being killed, and the holder is told, with the
 * fencing token, when the lock is lost: key deleted, lock stolen, or no renewal getting through
 * before the lease ended. Also on a Redis Cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "cluster.h"
#include "slotguard.h"

#define S(text) (text), (sizeof(text) - 1)
#define TTL_MS 300

#define CHECK(ctx, call)                                                                                   \
    do {                                                                                                   \
        if ((call) != SG_OK) fail_msg("%s failed: err %d: %s", #call, (ctx)->err, (ctx)->errstr);         \
    } while (0)


/* Per test: an empty dataset and command statistics from zero (renewals are counted). */
static int flush_and_reset_stats(void **state) {
    sg_group_flush(state);
    sg_command_status(sg_conn, "OK", "CONFIG RESETSTAT");
    return 0;
}

static sg_context *client(void) {
    sg_options o = {.host = "127.0.0.1", .port = sg_group_server->port};
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    if (ctx->err) fail_msg("connect: %s", ctx->errstr);
    return ctx;
}

/* What the loss callback saw. */
typedef struct loss_report {
    atomic_int calls;
    atomic_llong token;
    char key[64];
} loss_report;

static void record_loss(const char *key, size_t key_len, long long token, void *arg) {
    loss_report *r = arg;
    if (key_len < sizeof(r->key)) {
        memcpy(r->key, key, key_len);
        r->key[key_len] = '\0';
    }
    atomic_store(&r->token, token);
    atomic_fetch_add(&r->calls, 1);
}

/* LOCK.EXTEND calls the server has run since CONFIG RESETSTAT. */
static long long extend_calls(void) {
    char *value = sg_info_field(sg_conn, "cmdstat_lock.extend");
    long long calls = 0;
    if (value != NULL) sscanf(value, "calls=%lld", &calls);
    free(value);
    return calls;
}

static long long lock_token_on_server(const char *key) {
    redisReply *r = sg_command(sg_conn, "LOCK.INFO %s", key);
    long long token = 0;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            if (sg_reply_is_text(r->element[i], "token")) token = r->element[i + 1]->integer;
    freeReplyObject(r);
    return token;
}

/* Poll (bounded) until the watchdog says the lock is lost. */
static void wait_until_lost(sg_watched_lock *lock, int timeout_ms) {
    int64_t deadline = sg_now_ms() + timeout_ms;
    while (sg_watched_lock_held(lock)) {
        if (sg_now_ms() > deadline) fail_msg("the loss was not noticed within %d ms", timeout_ms);
        sg_sleep_ms(10);
    }
}

static void the_lease_is_renewed_past_many_ttls_while_the_holder_works(void **state) {
    (void)state;
    sg_context *ctx = client();
    loss_report loss = {0};
    sg_watch_options o = {.ttl_ms = TTL_MS, .on_lost = record_loss, .on_lost_arg = &loss};
    sg_watched_lock *lock = sg_watched_lock_acquire(ctx, S("wd:keep"), S("worker-1"), &o);
    assert_non_null(lock);
    long long token = sg_watched_lock_token(lock);
    assert_true(token > 0);
    for (int i = 0; i < 15; i++) { /* 1.5 s: five leases */
        sg_sleep_ms(100);
        assert_true(sg_watched_lock_held(lock));
        assert_int_equal(lock_token_on_server("wd:keep"), token);
        assert_true(sg_command_integer(sg_conn, "PTTL wd:keep") > 0);
    }
    assert_true(extend_calls() >= 4);
    int released = -1;
    CHECK(ctx, sg_watched_lock_release(ctx, lock, &released));
    assert_int_equal(released, 1);
    assert_int_equal(atomic_load(&loss.calls), 0);
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS wd:keep"), 0);
    sg_free(ctx);
}

static void no_renewal_is_sent_once_the_lock_is_released(void **state) {
    (void)state;
    sg_context *ctx = client();
    sg_watch_options o = {.ttl_ms = 60}; /* renewals every 20 ms: a late one would show */
    for (int round = 0; round < 10; round++) {
        sg_watched_lock *lock = sg_watched_lock_acquire(ctx, S("wd:stop"), S("worker"), &o);
        assert_non_null(lock);
        sg_sleep_ms(25 + round * 7);
        int released = -1;
        CHECK(ctx, sg_watched_lock_release(ctx, lock, &released));
        assert_int_equal(released, 1);
    }
    long long after_release = extend_calls();
    sg_sleep_ms(200);
    assert_int_equal(extend_calls(), after_release);
    /* And the lock is free for anyone. */
    long long token = 0;
    CHECK(ctx, sg_lock_acquire(ctx, S("wd:stop"), S("next"), 1000, 0, 0, &token));
    assert_true(token > 0);
    sg_free(ctx);
}

static void deleting_the_key_is_reported_as_a_loss_with_the_token(void **state) {
    (void)state;
    sg_context *ctx = client();
    loss_report loss = {0};
    sg_watch_options o = {.ttl_ms = TTL_MS, .on_lost = record_loss, .on_lost_arg = &loss};
    sg_watched_lock *lock = sg_watched_lock_acquire(ctx, S("wd:deleted"), S("worker"), &o);
    assert_non_null(lock);
    long long token = sg_watched_lock_token(lock);
    assert_int_equal(sg_command_integer(sg_conn, "DEL wd:deleted"), 1);
    wait_until_lost(lock, 3 * TTL_MS);
    int64_t deadline = sg_now_ms() + 1000;
    while (atomic_load(&loss.calls) == 0 && sg_now_ms() < deadline) sg_sleep_ms(5);
    assert_int_equal(atomic_load(&loss.calls), 1);
    assert_int_equal(atomic_load(&loss.token), token);
    assert_string_equal(loss.key, "wd:deleted");
    int released = -1;
    CHECK(ctx, sg_watched_lock_release(ctx, lock, &released));
    assert_int_equal(released, 0);
    assert_int_equal(atomic_load(&loss.calls), 1); /* told once */
    sg_free(ctx);
}

static void a_stolen_lock_is_reported_and_the_thief_keeps_it(void **state) {
    (void)state;
    sg_context *ctx = client(), *thief = client();
    loss_report loss = {0};
    sg_watch_options o = {.ttl_ms = TTL_MS, .on_lost = record_loss, .on_lost_arg = &loss};
    sg_watched_lock *lock = sg_watched_lock_acquire(ctx, S("wd:stolen"), S("worker"), &o);
    assert_non_null(lock);
    long long token = sg_watched_lock_token(lock), stolen = 0;
    assert_int_equal(sg_command_integer(sg_conn, "DEL wd:stolen"), 1);
    CHECK(thief, sg_lock_acquire(thief, S("wd:stolen"), S("thief"), 60000, 0, 0, &stolen));
    assert_true(stolen > token);
    wait_until_lost(lock, 3 * TTL_MS);
    int released = -1;
    CHECK(ctx, sg_watched_lock_release(ctx, lock, &released));
    assert_int_equal(released, 0); /* the release did not free the thief's lock */
    assert_int_equal(lock_token_on_server("wd:stolen"), stolen);
    assert_int_equal(atomic_load(&loss.token), token);
    sg_free(ctx);
    sg_free(thief);
}

static void the_watchdog_reconnects_when_its_connection_is_killed(void **state) {
    (void)state;
    sg_context *ctx = client();
    sg_watch_options o = {.ttl_ms = TTL_MS};
    sg_watched_lock *lock = sg_watched_lock_acquire(ctx, S("wd:killed"), S("worker"), &o);
    assert_non_null(lock);
    long long token = sg_watched_lock_token(lock);
    for (int i = 0; i < 4; i++) {
        sg_command_integer(sg_conn, "CLIENT KILL TYPE normal SKIPME yes");
        sg_sleep_ms(TTL_MS / 2);
    }
    sg_sleep_ms(2 * TTL_MS);
    assert_true(sg_watched_lock_held(lock));
    assert_int_equal(lock_token_on_server("wd:killed"), token);
    int released = -1;
    CHECK(ctx, sg_watched_lock_release(ctx, lock, &released));
    assert_int_equal(released, 1);
    sg_free(ctx);
}

static void a_lease_that_ends_while_the_server_does_not_answer_is_reported_lost(void **state) {
    (void)state;
    sg_context *ctx = client();
    loss_report loss = {0};
    sg_watch_options o = {.ttl_ms = TTL_MS, .on_lost = record_loss, .on_lost_arg = &loss};
    sg_watched_lock *lock = sg_watched_lock_acquire(ctx, S("wd:silent"), S("worker"), &o);
    assert_non_null(lock);
    /* The server stops answering for three leases: no renewal can be confirmed. */
    redisContext *sleeper = sg_connect_to(sg_group_server);
    sg_send_command(sleeper, "DEBUG SLEEP 0.9");
    int64_t started = sg_now_ms();
    wait_until_lost(lock, 2000);
    assert_true(sg_now_ms() - started <= TTL_MS + 200); /* by the lease's end, not after the pause */
    freeReplyObject(sg_receive_reply(sleeper, 5000, "DEBUG SLEEP"));
    redisFree(sleeper);
    int64_t deadline = sg_now_ms() + 1000;
    while (atomic_load(&loss.calls) == 0 && sg_now_ms() < deadline) sg_sleep_ms(5);
    assert_int_equal(atomic_load(&loss.calls), 1);
    int released;
    sg_watched_lock_release(ctx, lock, &released); /* its lease has ended: 0, or an error */
    sg_free(ctx);
}

static void a_waited_acquire_is_watched_from_its_grant(void **state) {
    (void)state;
    sg_context *holder = client(), *ctx = client();
    long long held = 0;
    int extended;
    CHECK(holder, sg_lock_acquire(holder, S("wd:queue"), S("holder"), 60000, 0, 0, &held));
    CHECK(holder, sg_lock_extend(holder, S("wd:queue"), S("holder"), 500, &extended));
    sg_watch_options o = {.ttl_ms = TTL_MS, .wait_ms = 5000};
    sg_watched_lock *lock = sg_watched_lock_acquire(ctx, S("wd:queue"), S("waiter"), &o);
    assert_non_null(lock);
    assert_true(sg_watched_lock_token(lock) > held);
    sg_sleep_ms(3 * TTL_MS);
    assert_true(sg_watched_lock_held(lock));
    int released;
    CHECK(ctx, sg_watched_lock_release(ctx, lock, &released));
    assert_int_equal(released, 1);
    sg_free(holder);
    sg_free(ctx);
}

static void a_lock_held_by_another_is_not_granted_and_no_thread_is_left(void **state) {
    (void)state;
    sg_context *holder = client(), *ctx = client();
    long long held = 0;
    CHECK(holder, sg_lock_acquire(holder, S("wd:busy"), S("holder"), 60000, 0, 0, &held));
    sg_watch_options o = {.ttl_ms = TTL_MS};
    assert_null(sg_watched_lock_acquire(ctx, S("wd:busy"), S("other"), &o));
    assert_int_equal(ctx->err, 0);
    o.wait_ms = 200;
    assert_null(sg_watched_lock_acquire(ctx, S("wd:busy"), S("other"), &o));
    assert_int_equal(ctx->err, 0);
    o.ttl_ms = 1;
    assert_null(sg_watched_lock_acquire(ctx, S("wd:busy"), S("other"), &o));
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    sg_sleep_ms(100);
    assert_int_equal(extend_calls(), 0);
    sg_free(holder);
    sg_free(ctx);
}

static void a_watched_lock_on_a_cluster_is_renewed_on_its_master(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, 3);
    sg_options options = {.cluster = 1, .host = "127.0.0.1", .port = cl.node[0]->port};
    sg_context *ctx = sg_connect(&options);
    assert_non_null(ctx);
    assert_int_equal(ctx->err, 0);
    char key[32];
    sg_cluster_key_on(&cl, 2, "wd-cluster-", key, sizeof(key));
    sg_watch_options o = {.ttl_ms = TTL_MS};
    sg_watched_lock *lock = sg_watched_lock_acquire(ctx, key, strlen(key), S("worker"), &o);
    assert_non_null(lock);
    sg_sleep_ms(4 * TTL_MS);
    assert_true(sg_watched_lock_held(lock));
    assert_true(sg_command_integer(cl.c[2], "PTTL %s", key) > 0);
    int released;
    CHECK(ctx, sg_watched_lock_release(ctx, lock, &released));
    assert_int_equal(released, 1);
    sg_free(ctx);
}

#define TEST(f) cmocka_unit_test_setup(f, flush_and_reset_stats)

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST(the_lease_is_renewed_past_many_ttls_while_the_holder_works),
        TEST(no_renewal_is_sent_once_the_lock_is_released),
        TEST(deleting_the_key_is_reported_as_a_loss_with_the_token),
        TEST(a_stolen_lock_is_reported_and_the_thief_keeps_it),
        TEST(the_watchdog_reconnects_when_its_connection_is_killed),
        TEST(a_lease_that_ends_while_the_server_does_not_answer_is_reported_lost),
        TEST(a_waited_acquire_is_watched_from_its_grant),
        TEST(a_lock_held_by_another_is_not_granted_and_no_thread_is_left),
        cmocka_unit_test_setup_teardown(a_watched_lock_on_a_cluster_is_renewed_on_its_master, sg_fixture_setup,
                                        sg_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
