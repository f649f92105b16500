/* test_client_cluster.c -- libslotguard against a real Redis Cluster (three masters on loopback,
 * the module on every node): the slot map read from any seed, every call routed to the key's
 * master, MOVED after a slot was migrated (and the map re-read, so it is not asked twice), ASK
 * while a slot is migrating, a replica failover in the middle of a run, a master that dies, and
 * redirections that never end or a slot nobody serves, which must end in a clear error, and a slot
 * that gets a master while a call waits for one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "slotguard.h"

#define S(text) (text), (sizeof(text) - 1)
#define MASTERS 3

#define CHECK(ctx, call)                                                                                   \
    do {                                                                                                   \
        if ((call) != SG_OK) fail_msg("%s failed: err %d: %s", #call, (ctx)->err, (ctx)->errstr);         \
    } while (0)

static sg_context *cluster_client(sg_cluster *cl, int seed, sg_options o) {
    o.cluster = 1;
    o.host = "127.0.0.1";
    o.port = cl->node[seed]->port;
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    if (ctx->err) fail_msg("cluster connect: %s", ctx->errstr);
    return ctx;
}

/* `name` INFO errorstats counter of a node (errorstat_MOVED, errorstat_ASK, ...), 0 when absent. */
static long long error_count(redisContext *c, const char *code) {
    char field[64];
    snprintf(field, sizeof(field), "errorstat_%s", code);
    char *value = sg_info_field(c, field);
    long long count = 0;
    if (value != NULL) sscanf(value, "count=%lld", &count);
    free(value);
    return count;
}

static void one_seed_is_enough_to_reach_every_master(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 2, (sg_options){0});
    for (int m = 0; m < MASTERS; m++) {
        char trial[32];
        sg_cluster_key_on(&cl, m, "trial-", trial, sizeof(trial));
        int created;
        sg_enroll_result r;
        CHECK(ctx, sg_trial_create(ctx, trial, strlen(trial), 5, 0, &created));
        assert_int_equal(created, 1);
        CHECK(ctx, sg_enroll(ctx, trial, strlen(trial), S("patient-1"), &r));
        assert_int_equal(r, SG_ENROLL_ENROLLED);
        assert_int_equal(sg_command_integer(cl.c[m], "EXISTS %s", trial), 1);
        for (int other = 0; other < MASTERS; other++)
            if (other != m) assert_int_equal(error_count(cl.c[other], "MOVED"), 0);
    }
    sg_free(ctx);
}

static void every_typed_call_runs_on_the_master_of_its_key(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0, (sg_options){0});
    for (int m = 0; m < MASTERS; m++) {
        char base[32], trial[48], lock[48], msg[48], req[48];
        sg_cluster_key_on(&cl, m, "base-", base, sizeof(base));
        snprintf(trial, sizeof(trial), "{%s}:trial", base);
        snprintf(lock, sizeof(lock), "{%s}:lock", base);
        snprintf(msg, sizeof(msg), "{%s}:msg", base);
        snprintf(req, sizeof(req), "{%s}:req", base);
        int flag;
        long long number;
        sg_enroll_result r;
        sg_user_status st;
        sg_trial_info info;
        sg_members_page page;
        sg_lock_info li;
        sg_idemp_begin b;
        sg_idemp_record rec;
        sg_idemp_complete_result done;
        CHECK(ctx, sg_trial_create(ctx, trial, strlen(trial), 3, 1, &flag));
        CHECK(ctx, sg_enroll(ctx, trial, strlen(trial), S("p1"), &r));
        CHECK(ctx, sg_enroll_status(ctx, trial, strlen(trial), S("p1"), &st));
        assert_int_equal(st.state, SG_USER_ENROLLED);
        CHECK(ctx, sg_trial_info_get(ctx, trial, strlen(trial), &info));
        assert_int_equal(info.enrolled, 1);
        CHECK(ctx, sg_trial_resize(ctx, trial, strlen(trial), 4, &number));
        CHECK(ctx, sg_enroll_members(ctx, trial, strlen(trial), 0, 10, &page));
        assert_int_equal(page.count, 1);
        sg_members_page_free(&page);
        const sg_member restored[] = {{"p9", 2, 9}};
        CHECK(ctx, sg_trial_restore(ctx, trial, strlen(trial), 10, 0, restored, 1));
        CHECK(ctx, sg_enroll_cancel(ctx, trial, strlen(trial), S("p1"), &flag));
        assert_int_equal(flag, 1);
        CHECK(ctx, sg_lock_acquire(ctx, lock, strlen(lock), S("me"), 10000, 0, 0, &number));
        assert_true(number > 0);
        CHECK(ctx, sg_lock_extend(ctx, lock, strlen(lock), S("me"), 20000, &flag));
        CHECK(ctx, sg_lock_info_get(ctx, lock, strlen(lock), &li));
        assert_int_equal(li.held, 1);
        CHECK(ctx, sg_lock_release(ctx, lock, strlen(lock), S("me"), &flag));
        assert_int_equal(flag, 1);
        CHECK(ctx, sg_lock_grant(ctx, lock, strlen(lock), S("me"), number + 1, sg_unix_us() / 1000 + 5000, 1));
        CHECK(ctx, sg_idemp_setnx(ctx, msg, strlen(msg), 600, NULL, 0, &flag));
        assert_int_equal(flag, 1);
        CHECK(ctx, sg_idemp_begin_processing(ctx, req, strlen(req), S("fp"), 10000, &b));
        assert_int_equal(b.outcome, SG_IDEMP_NEW);
        CHECK(ctx, sg_idemp_complete(ctx, req, strlen(req), b.token, S("ok"), 600, &done));
        assert_int_equal(done, SG_IDEMP_STORED);
        CHECK(ctx, sg_idemp_get(ctx, req, strlen(req), &rec));
        assert_int_equal(rec.completed, 1);
        sg_idemp_record_free(&rec);
        CHECK(ctx, sg_idemp_abort(ctx, req, strlen(req), b.token, &flag));
        assert_int_equal(flag, 0);
        CHECK(ctx, sg_idemp_record_set(ctx, req, strlen(req), 0, S("fp2"), b.token + 1, sg_unix_us() / 1000 + 5000,
                                       NULL, 0));
        assert_int_equal(sg_command_integer(cl.c[m], "EXISTS %s %s %s %s", trial, lock, msg, req), 4);
    }
    for (int m = 0; m < MASTERS; m++) {
        assert_int_equal(error_count(cl.c[m], "MOVED"), 0);
        assert_int_equal(error_count(cl.c[m], "ASK"), 0);
    }
    sg_free(ctx);
}

static void a_dead_first_seed_is_skipped_for_the_next(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    char seeds[64];
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d", cl.node[1]->port);
    sg_options o = {.cluster = 1, .host = "127.0.0.1", .port = sg_free_port(), .seeds = seeds,
                    .connect_timeout_ms = 300};
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    assert_int_equal(ctx->err, 0);
    int created;
    CHECK(ctx, sg_trial_create(ctx, S("seeded"), 1, 0, &created));
    assert_int_equal(created, 1);
    sg_free(ctx);
}

static void no_reachable_seed_is_a_connection_error(void **state) {
    (void)state;
    sg_options o = {.cluster = 1, .host = "127.0.0.1", .port = sg_free_port(), .connect_timeout_ms = 300};
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    assert_int_equal(ctx->err, SG_ERR_IO);
    sg_free(ctx);
}

static void after_a_slot_moved_the_call_follows_moved_once_and_the_map_is_updated(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0, (sg_options){0});
    char trial[32];
    sg_cluster_key_on(&cl, 0, "moving-", trial, sizeof(trial));
    int slot = sg_cluster_slot_of(&cl, trial), created;
    sg_enroll_result r;
    CHECK(ctx, sg_trial_create(ctx, trial, strlen(trial), 100, 0, &created));
    CHECK(ctx, sg_enroll(ctx, trial, strlen(trial), S("before"), &r));

    sg_cluster_move_slot(&cl, slot, 0, 1); /* the trial moves with MIGRATE; the client still maps slot -> 0 */
    assert_int_equal(sg_command_integer(cl.c[1], "EXISTS %s", trial), 1);
    long long moved_before = error_count(cl.c[0], "MOVED");
    CHECK(ctx, sg_enroll(ctx, trial, strlen(trial), S("after"), &r));
    assert_int_equal(r, SG_ENROLL_ENROLLED);
    assert_int_equal(error_count(cl.c[0], "MOVED"), moved_before + 1);
    for (int i = 0; i < 20; i++) {
        char user[16];
        int len = snprintf(user, sizeof(user), "u%d", i);
        CHECK(ctx, sg_enroll(ctx, trial, strlen(trial), user, (size_t)len, &r));
    }
    assert_int_equal(error_count(cl.c[0], "MOVED"), moved_before + 1); /* never asked again */
    sg_trial_info info;
    CHECK(ctx, sg_trial_info_get(ctx, trial, strlen(trial), &info));
    assert_int_equal(info.enrolled, 22);
    sg_free(ctx);
}

static void during_a_migration_a_moved_key_is_reached_with_asking(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0, (sg_options){0});
    char tag[32], moved_key[64], staying_key[64];
    sg_cluster_key_on(&cl, 0, "half-", tag, sizeof(tag));
    snprintf(moved_key, sizeof(moved_key), "{%s}:moved", tag);
    snprintf(staying_key, sizeof(staying_key), "{%s}:staying", tag);
    int slot = sg_cluster_slot_of(&cl, moved_key), created;
    CHECK(ctx, sg_trial_create(ctx, moved_key, strlen(moved_key), 10, 0, &created));
    CHECK(ctx, sg_trial_create(ctx, staying_key, strlen(staying_key), 10, 0, &created));

    sg_cluster_migration_begin(&cl, slot, 0, 2);
    redisReply *m = sg_command(cl.c[0], "MIGRATE 127.0.0.1 %d %s 0 5000", cl.node[2]->port, moved_key);
    assert_int_equal(m->type, REDIS_REPLY_STATUS);
    freeReplyObject(m);

    long long ask_before = error_count(cl.c[0], "ASK");
    sg_enroll_result r;
    CHECK(ctx, sg_enroll(ctx, moved_key, strlen(moved_key), S("asked"), &r));
    assert_int_equal(r, SG_ENROLL_ENROLLED);
    assert_int_equal(error_count(cl.c[0], "ASK"), ask_before + 1);
    CHECK(ctx, sg_enroll(ctx, staying_key, strlen(staying_key), S("stayed"), &r)); /* still on node 0 */
    assert_int_equal(r, SG_ENROLL_ENROLLED);
    /* ASK is for one command: the next one asks node 0 again (and is sent on with ASKING again). */
    CHECK(ctx, sg_enroll(ctx, moved_key, strlen(moved_key), S("asked-again"), &r));
    assert_int_equal(error_count(cl.c[0], "ASK"), ask_before + 2);

    sg_command_status(cl.c[2], "OK", "READONLY");
    redisReply *status = sg_command(cl.c[0], "ENROLL.STATUS %s stayed", staying_key);
    assert_true(sg_reply_is_text(status->element[0], "enrolled"));
    freeReplyObject(status);
    while (sg_cluster_migrate_keys(&cl, slot, 0, 2, 100) > 0) {
    }
    sg_cluster_migration_end(&cl, slot, 2);
    sg_trial_info info;
    CHECK(ctx, sg_trial_info_get(ctx, moved_key, strlen(moved_key), &info));
    assert_int_equal(info.enrolled, 2);
    CHECK(ctx, sg_trial_info_get(ctx, staying_key, strlen(staying_key), &info));
    assert_int_equal(info.enrolled, 1);
    sg_free(ctx);
}

static void enrollments_go_on_through_a_replica_failover(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    int replica = sg_cluster_add_replica(&cl, 0);
    sg_context *ctx = cluster_client(&cl, 1, (sg_options){0});
    char trial[32];
    sg_cluster_key_on(&cl, 0, "failing-", trial, sizeof(trial));
    int created;
    CHECK(ctx, sg_trial_create(ctx, trial, strlen(trial), 1000, 0, &created));
    sg_enroll_result r;
    char user[16];
    for (int i = 0; i < 200; i++) {
        if (i == 100) sg_cluster_failover(&cl, replica);
        int len = snprintf(user, sizeof(user), "p%d", i);
        CHECK(ctx, sg_enroll(ctx, trial, strlen(trial), user, (size_t)len, &r));
        assert_int_equal(r, SG_ENROLL_ENROLLED);
    }
    assert_int_equal(sg_cluster_owner(&cl, 1, sg_cluster_slot_of(&cl, trial)), replica);
    sg_trial_info info;
    CHECK(ctx, sg_trial_info_get(ctx, trial, strlen(trial), &info));
    assert_int_equal(info.enrolled, 200);
    redisReply *direct = sg_command(cl.c[replica], "SLOTS.INFO %s", trial);
    assert_int_equal(direct->type, REDIS_REPLY_ARRAY);
    freeReplyObject(direct);
    sg_free(ctx);
}

static void when_a_master_dies_calls_fail_with_a_code_then_reach_its_promoted_replica(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    int replica = sg_cluster_add_replica(&cl, 0);
    sg_context *ctx = cluster_client(&cl, 1, (sg_options){.connect_timeout_ms = 200, .command_timeout_ms = 1000});
    char trial[32];
    sg_cluster_key_on(&cl, 0, "dying-", trial, sizeof(trial));
    int created;
    CHECK(ctx, sg_trial_create(ctx, trial, strlen(trial), 1000, 0, &created));
    sg_wait_replicas(cl.node[0], 1, 10000);
    sg_server_kill(cl.node[0]);

    /* Until the cluster promotes the replica (node timeout 2 s), calls end in a coded error
     * within their bounds; then they succeed, on the promoted replica. */
    int64_t deadline = sg_now_ms() + 20000, failures = 0;
    sg_enroll_result r;
    for (;;) {
        int64_t started = sg_now_ms();
        if (sg_enroll(ctx, trial, strlen(trial), S("survivor"), &r) == SG_OK) break;
        assert_true(ctx->err == SG_ERR_IO || ctx->err == SG_ERR_EOF || ctx->err == SG_ERR_TIMEOUT ||
                    ctx->err == SG_ERR_CLUSTER);
        assert_true(sg_now_ms() - started < 5000);
        failures++;
        if (sg_now_ms() > deadline) fail_msg("no promotion in time: %s", ctx->errstr);
        sg_sleep_ms(100);
    }
    assert_int_equal(r, SG_ENROLL_ENROLLED);
    assert_true(sg_info_field_is(cl.c[replica], "role", "master"));
    redisReply *status = sg_command(cl.c[replica], "ENROLL.STATUS %s survivor", trial);
    assert_true(sg_reply_is_text(status->element[0], "enrolled"));
    freeReplyObject(status);
    print_message("%lld call(s) failed with a coded error before the promotion\n", (long long)failures);
    sg_free(ctx);
}

static void redirections_that_never_end_are_cut_off_with_a_cluster_error(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0, (sg_options){.max_redirects = 5});
    char key[32];
    sg_cluster_key_on(&cl, 0, "loop-", key, sizeof(key));
    int slot = sg_cluster_slot_of(&cl, key);
    /* Node 0 says ASK node 1 for a missing key; node 1 is not importing, so it says MOVED back. */
    char *id1 = sg_cluster_node_id(cl.c[1]);
    sg_command_status(cl.c[0], "OK", "CLUSTER SETSLOT %d MIGRATING %s", slot, id1);
    free(id1);
    int created;
    int64_t started = sg_now_ms();
    assert_int_equal(sg_trial_create(ctx, key, strlen(key), 1, 0, &created), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_CLUSTER);
    assert_non_null(strstr(ctx->errstr, "redirections"));
    assert_true(sg_now_ms() - started < 5000);
    sg_command_status(cl.c[0], "OK", "CLUSTER SETSLOT %d STABLE", slot);
    CHECK(ctx, sg_trial_create(ctx, key, strlen(key), 1, 0, &created));
    assert_int_equal(created, 1);
    sg_free(ctx);
}

static void tryagain_is_retried_with_backoff_and_bounded(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0, (sg_options){.max_redirects = 4});
    char tag[32], a[48], b[48];
    sg_cluster_key_on(&cl, 0, "again-", tag, sizeof(tag));
    snprintf(a, sizeof(a), "{%s}:a", tag);
    snprintf(b, sizeof(b), "{%s}:b", tag);
    int slot = sg_cluster_slot_of(&cl, a);
    sg_command_status(cl.c[0], "OK", "SET %s 1", a);
    sg_command_status(cl.c[0], "OK", "SET %s 2", b);
    sg_cluster_migration_begin(&cl, slot, 0, 1);
    redisReply *m = sg_command(cl.c[0], "MIGRATE 127.0.0.1 %d %s 0 5000", cl.node[1]->port, a);
    freeReplyObject(m);
    /* A multi-key command over a half-moved slot: TRYAGAIN from the importing node, until the end. */
    const char *mget[] = {"MGET", a, b};
    redisReply *r = sg_command_argv(ctx, a, strlen(a), 3, mget, NULL);
    assert_null(r);
    assert_int_equal(ctx->err, SG_ERR_CLUSTER);
    assert_non_null(strstr(ctx->errstr, "TRYAGAIN"));
    while (sg_cluster_migrate_keys(&cl, slot, 0, 1, 100) > 0) {
    }
    sg_cluster_migration_end(&cl, slot, 1);
    r = sg_command_argv(ctx, a, strlen(a), 3, mget, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_true(sg_reply_is_text(r->element[0], "1") && sg_reply_is_text(r->element[1], "2"));
    freeReplyObject(r);
    sg_free(ctx);
}

static void a_slot_nobody_serves_ends_in_a_cluster_error(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0, (sg_options){.max_redirects = 3});
    char key[32];
    sg_cluster_key_on(&cl, 2, "orphan-", key, sizeof(key));
    int slot = sg_cluster_slot_of(&cl, key);
    for (int i = 0; i < cl.nodes; i++) sg_command_status(cl.c[i], "OK", "CLUSTER DELSLOTS %d", slot);
    int created;
    assert_int_equal(sg_trial_create(ctx, key, strlen(key), 1, 0, &created), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_CLUSTER);
    assert_non_null(strstr(ctx->errstr, "no node serves slot"));
    sg_free(ctx);
}

typedef struct late_owner {
    int port, slot, delay_ms;
} late_owner;

/* Gives the slot to the node on `port` after a while (plain hiredis: no cmocka off the main thread). */
static void *assign_slot_later(void *arg) {
    late_owner *o = arg;
    sg_sleep_ms(o->delay_ms);
    redisContext *c = redisConnect("127.0.0.1", o->port);
    if (c != NULL && !c->err) {
        freeReplyObject(redisCommand(c, "CLUSTER ADDSLOTS %d", o->slot));
        freeReplyObject(redisCommand(c, "CLUSTER BUMPEPOCH"));
    }
    if (c != NULL) redisFree(c);
    return NULL;
}

/* A slot missing from the map the seed gives (a failover seen from a node that has not heard of it
 * yet) is waited out like CLUSTERDOWN: the call reaches the slot's master once the map names one. */
static void a_slot_that_gets_a_master_while_the_call_waits_is_reached(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0, (sg_options){0});
    char key[32];
    sg_cluster_key_on(&cl, 2, "late-", key, sizeof(key));
    int slot = sg_cluster_slot_of(&cl, key);
    for (int i = 0; i < cl.nodes; i++) sg_command_status(cl.c[i], "OK", "CLUSTER DELSLOTS %d", slot);
    late_owner owner = {cl.node[2]->port, slot, 300};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, assign_slot_later, &owner), 0);
    int created = -1;
    int rc = sg_trial_create(ctx, key, strlen(key), 1, 0, &created);
    pthread_join(t, NULL);
    if (rc != SG_OK) fail_msg("the call did not wait for the slot's master: %s", ctx->errstr);
    assert_int_equal(created, 1);
    redisReply *r = sg_command(cl.c[2], "EXISTS %s", key);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    sg_free(ctx);
}

#define CLUSTER_TEST(f) cmocka_unit_test_setup_teardown(f, sg_fixture_setup, sg_fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        CLUSTER_TEST(one_seed_is_enough_to_reach_every_master),
        CLUSTER_TEST(every_typed_call_runs_on_the_master_of_its_key),
        CLUSTER_TEST(a_dead_first_seed_is_skipped_for_the_next),
        cmocka_unit_test(no_reachable_seed_is_a_connection_error),
        CLUSTER_TEST(after_a_slot_moved_the_call_follows_moved_once_and_the_map_is_updated),
        CLUSTER_TEST(during_a_migration_a_moved_key_is_reached_with_asking),
        CLUSTER_TEST(enrollments_go_on_through_a_replica_failover),
        CLUSTER_TEST(when_a_master_dies_calls_fail_with_a_code_then_reach_its_promoted_replica),
        CLUSTER_TEST(redirections_that_never_end_are_cut_off_with_a_cluster_error),
        CLUSTER_TEST(tryagain_is_retried_with_backoff_and_bounded),
        CLUSTER_TEST(a_slot_nobody_serves_ends_in_a_cluster_error),
        CLUSTER_TEST(a_slot_that_gets_a_master_while_the_call_waits_is_reached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
