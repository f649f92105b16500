/* test_client_ledger_failover.c -- a sharded trial's RECEIVE lost in a real failover, restored by
 * sg_sharded_reconcile (issue 17, defect 3), on a three-master cluster on loopback.
 *
 * The receiving shard's master has a replica, stopped (SIGSTOP) and then buried under 32 MB of
 * writes, so that what the master writes next stays in its own output buffer. A move is finished
 * there (RECEIVE on that master, then the sender's entry marked done); the master is killed
 * (kill -9), the replica continues and takes over (CLUSTER FAILOVER TAKEOVER), without the RECEIVE:
 * the shards' capacities add up to C - 1. Reconcile makes the RECEIVE again from the done entry and
 * they add up to exactly C. Servers belong to the test's fixture, released pass or fail; every wait
 * is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "sharded_trial_keys.h"
#include "slotguard.h"

#define S(text) (text), (sizeof(text) - 1)
#define MASTERS 3
#define SHARDS 3
#define CAPACITY 6 /* 2 per shard */
#define FILL_MB 32
#define TAKEOVER_TIMEOUT_MS 20000

#define CHECK(ctx, call)                                                                                   \
    do {                                                                                                   \
        if ((call) != SG_OK) fail_msg("%s failed: err %d: %s", #call, (ctx)->err, (ctx)->errstr);         \
    } while (0)

static int owner_of_shard(sg_cluster *cl, sg_sharded_trial *t, int shard, int asked) {
    size_t len;
    const char *key = sg_sharded_trial_key(t, shard, &len);
    char name[512];
    snprintf(name, sizeof(name), "%.*s", (int)len, key);
    return sg_cluster_owner(cl, asked, sg_cluster_slot_of(cl, name));
}


static void a_receive_lost_in_a_failover_is_made_again_by_reconcile(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_options o = {.cluster = 1, .host = "127.0.0.1", .port = cl.node[0]->port, .command_timeout_ms = 10000};
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    assert_int_equal(ctx->err, 0);
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("failing"), SHARDS, CAPACITY, &created));
    sg_sharded_trial *t = sg_sharded_trial_open(ctx, S("failing"), NULL);
    assert_non_null(t);
    int receiver = owner_of_shard(&cl, t, 0, 0), sender = owner_of_shard(&cl, t, 1, 0);
    assert_true(receiver >= 0 && sender >= 0 && receiver != sender);
    int replica = sg_cluster_add_replica(&cl, receiver);

    /* Stop the replica, then bury its stream under FILL_MB of writes on the receiver. */
    assert_int_equal(kill(cl.node[replica]->pid, SIGSTOP), 0);
    char fill_key[64];
    sg_cluster_key_on(&cl, receiver, "fill-", fill_key, sizeof(fill_key));
    size_t mb = 1024 * 1024;
    char *megabyte = malloc(mb);
    memset(megabyte, 'x', mb);
    for (int i = 0; i < FILL_MB; i++) {
        redisReply *r = sg_command(cl.c[receiver], "SET %s %b", fill_key, megabyte, mb);
        freeReplyObject(r);
    }
    free(megabyte);

    /* A move from shard 1 to shard 0, cut after its SEND; reconcile finishes it: the RECEIVE lands
     * on the receiver (and stays in its output buffer), the entry is marked done on the sender. */
    char trial1[512], outbox1[1024];
    snprintf(trial1, sizeof(trial1), "%s", sg_sharded_trial_key(t, 1, &(size_t){0}));
    sg_sharded_shard_key(t, 1, "out", outbox1, sizeof(outbox1));
    assert_int_equal(sg_command_integer(cl.c[sender], "SLOTS.SEND %s %s m1 0 1", trial1, outbox1), 1);
    long long finished = -1;
    CHECK(ctx, sg_sharded_reconcile(ctx, t, &finished));
    assert_int_equal(finished, 1);
    sg_sharded_info info;
    CHECK(ctx, sg_sharded_info_get(ctx, t, &info));
    assert_int_equal(info.capacity, CAPACITY);

    /* The receiver dies; its replica, without the RECEIVE, takes over. (Slots are read first: node
     * 0 may be the one that dies.) */
    size_t len0;
    const char *key0 = sg_sharded_trial_key(t, 0, &len0);
    char name0[512];
    snprintf(name0, sizeof(name0), "%.*s", (int)len0, key0);
    int slot0 = sg_cluster_slot_of(&cl, name0);
    int receiver_port = cl.node[receiver]->port;
    sg_server_kill(cl.node[receiver]);
    kill(cl.node[replica]->pid, SIGCONT);
    sg_command_status(cl.c[replica], "OK", "CLUSTER FAILOVER TAKEOVER");
    /* Every live node maps the slot to the replica before the library asks any of them. */
    int64_t deadline = sg_now_ms() + TAKEOVER_TIMEOUT_MS;
    for (int i = 0; i < cl.nodes; i++) {
        if (i == receiver) continue;
        while (sg_cluster_owner(&cl, i, slot0) != replica) {
            if (sg_now_ms() > deadline)
                fail_msg("node %d did not see the replica of port %d take over in time", i, receiver_port);
            sg_sleep_ms(50);
        }
    }

    CHECK(ctx, sg_sharded_info_get(ctx, t, &info));
    if (info.capacity == CAPACITY)
        fail_msg("the promoted replica had the RECEIVE after all: the failover lost nothing, nothing to restore");
    assert_int_equal(info.capacity, CAPACITY - 1);
    CHECK(ctx, sg_sharded_reconcile(ctx, t, &finished));
    assert_int_equal(finished, 1);
    CHECK(ctx, sg_sharded_info_get(ctx, t, &info));
    assert_int_equal(info.capacity, CAPACITY);
    assert_int_equal(info.moves_in_flight, 0);
    CHECK(ctx, sg_sharded_reconcile(ctx, t, &finished));
    assert_int_equal(finished, 0);
    CHECK(ctx, sg_sharded_info_get(ctx, t, &info));
    assert_int_equal(info.capacity, CAPACITY);
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, sg_fixture_setup, sg_fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(a_receive_lost_in_a_failover_is_made_again_by_reconcile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
