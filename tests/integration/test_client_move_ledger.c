/* test_client_move_ledger.c -- the ledger of a sharded trial's capacity moves (issue 17, defects 2
 * and 3), against one real server: a finished move stays in its sender's outbox, marked done, for a
 * day, so that
 *   - a repeat of its SLOTS.SEND (a client retrying after a lost reply, after reconcile finished the
 *     move meanwhile) finds it and sends nothing again: before, the entry was deleted, the repeat
 *     sent the slots a second time, their RECEIVE was answered as a repeat, and they were lost;
 *   - reconcile makes its RECEIVE again, which restores a RECEIVE a failover of the receiving master
 *     lost (its capacity and inbox entry go together, and RECEIVE is applied once per move id, so
 *     this is exact). The failover is played here by taking both away on the receiver, as a
 *     promoted replica that never got the RECEIVE would lack them.
 * After reconcile the shards' capacities add up to exactly C. Done entries past the day are removed
 * by reconcile; sg_sharded_info counts only the moves in flight.
 *
 * Moves are cut by hand, as a client that died would leave them: SLOTS.SEND on shard 1 giving a slot
 * to shard 0. One server per test (the fixture's), pass or fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sharded_trial_keys.h"
#include "slotguard.h"

#define S(text) (text), (sizeof(text) - 1)
#define CAPACITY 4 /* over 2 shards: 2 + 2 */

#define CHECK(ctx, call)                                                                                   \
    do {                                                                                                   \
        if ((call) != SG_OK) fail_msg("%s failed: err %d: %s", #call, (ctx)->err, (ctx)->errstr);         \
    } while (0)

typedef struct ledger {
    redisContext *c; /* raw commands */
    sg_context *ctx;
    sg_sharded_trial *t;
    char trial[2][512], outbox[2][512], inbox[2][512];
} ledger;


static void open_ledger(ledger *l, sg_fixture *f) {
    sg_server *s = sg_fixture_start(f, NULL);
    l->c = sg_fixture_connect(f, s);
    sg_options o = {.host = "127.0.0.1", .port = s->port};
    l->ctx = sg_connect(&o);
    assert_non_null(l->ctx);
    assert_int_equal(l->ctx->err, 0);
    int created;
    CHECK(l->ctx, sg_sharded_trial_create(l->ctx, S("ledger"), 2, CAPACITY, &created));
    l->t = sg_sharded_trial_open(l->ctx, S("ledger"), NULL);
    assert_non_null(l->t);
    for (int i = 0; i < 2; i++) {
        sg_sharded_shard_key(l->t, i, "trial", l->trial[i], sizeof(l->trial[i]));
        sg_sharded_shard_key(l->t, i, "out", l->outbox[i], sizeof(l->outbox[i]));
        sg_sharded_shard_key(l->t, i, "in", l->inbox[i], sizeof(l->inbox[i]));
    }
}

static void close_ledger(ledger *l) {
    sg_sharded_trial_close(l->t);
    sg_free(l->ctx);
}

/* SLOTS.SEND of one slot from shard 1 to shard 0 under `move`: what a client sends (and repeats). */
static long long send_one(ledger *l, const char *move) {
    return sg_command_integer(l->c, "SLOTS.SEND %s %s %s 0 1", l->trial[1], l->outbox[1], move);
}

static long long shard_capacity(ledger *l, int shard) {
    redisReply *r = sg_command(l->c, "SLOTS.INFO %s", l->trial[shard]);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    long long capacity = -1;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (strcmp(r->element[i]->str, "capacity") == 0) capacity = r->element[i + 1]->integer;
    freeReplyObject(r);
    return capacity;
}

static long long reconcile(ledger *l) {
    long long finished = -1;
    CHECK(l->ctx, sg_sharded_reconcile(l->ctx, l->t, &finished));
    return finished;
}

static void assert_capacity_is_exactly_c(ledger *l) {
    sg_sharded_info info;
    CHECK(l->ctx, sg_sharded_info_get(l->ctx, l->t, &info));
    if (info.capacity != CAPACITY)
        fail_msg("the shards' capacities add up to %lld (%lld + %lld), expected exactly %d", info.capacity,
                 shard_capacity(l, 0), shard_capacity(l, 1), CAPACITY);
    assert_int_equal(info.moves_in_flight, 0);
}

static void a_repeated_send_after_reconcile_finished_the_move_sends_nothing_again(void **state) {
    ledger l;
    open_ledger(&l, *state);
    assert_int_equal(send_one(&l, "m1"), 1); /* its reply lost: the client will repeat it */
    assert_int_equal(reconcile(&l), 1);      /* meanwhile reconcile finishes the move */
    assert_int_equal(shard_capacity(&l, 0), 3);
    assert_int_equal(shard_capacity(&l, 1), 1);
    /* The client's repeat: the same answer, nothing sent again. */
    assert_int_equal(send_one(&l, "m1"), 1);
    assert_int_equal(shard_capacity(&l, 1), 1);
    assert_int_equal(reconcile(&l), 0);
    assert_capacity_is_exactly_c(&l);
    close_ledger(&l);
}

static void a_receive_a_failover_lost_is_made_again_by_reconcile(void **state) {
    ledger l;
    open_ledger(&l, *state);
    assert_int_equal(send_one(&l, "m1"), 1);
    assert_int_equal(reconcile(&l), 1);
    assert_capacity_is_exactly_c(&l);
    /* The receiving master fails over to a replica that never got the RECEIVE: its slot and its
     * inbox entry are gone together. */
    assert_int_equal(sg_command_integer(l.c, "HDEL %s m1", l.inbox[0]), 1);
    assert_int_equal(sg_command_integer(l.c, "SLOTS.RESIZE %s 2", l.trial[0]), 0); /* nobody promoted */
    assert_int_equal(shard_capacity(&l, 0), 2);
    assert_int_equal(reconcile(&l), 1); /* the RECEIVE, made again */
    assert_capacity_is_exactly_c(&l);
    assert_int_equal(reconcile(&l), 0); /* and only once */
    assert_capacity_is_exactly_c(&l);
    close_ledger(&l);
}

static void a_finished_move_stays_in_the_outbox_for_a_day_and_reconcile_then_removes_it(void **state) {
    ledger l;
    open_ledger(&l, *state);
    assert_int_equal(send_one(&l, "m1"), 1);
    assert_int_equal(send_one(&l, "m2"), 1);
    assert_int_equal(reconcile(&l), 2);
    assert_capacity_is_exactly_c(&l); /* two done entries, no move in flight */
    assert_int_equal(sg_command_integer(l.c, "HLEN %s", l.outbox[1]), 2);
    /* m1 finished more than a day ago (its done time rewritten), m2 just now. */
    assert_int_equal(sg_command_integer(l.c, "HSET %s m1 %s", l.outbox[1], "0 1 done 1"), 0);
    assert_int_equal(reconcile(&l), 0);
    assert_int_equal(sg_command_integer(l.c, "HEXISTS %s m1", l.outbox[1]), 0);
    assert_int_equal(sg_command_integer(l.c, "HEXISTS %s m2", l.outbox[1]), 1);
    assert_capacity_is_exactly_c(&l);
    close_ledger(&l);
}

static void moves_in_flight_count_only_the_moves_not_yet_received(void **state) {
    ledger l;
    open_ledger(&l, *state);
    assert_int_equal(send_one(&l, "m1"), 1);
    assert_int_equal(reconcile(&l), 1);
    assert_int_equal(send_one(&l, "m2"), 1); /* cut: in flight */
    sg_sharded_info info;
    CHECK(l.ctx, sg_sharded_info_get(l.ctx, l.t, &info));
    assert_int_equal(info.moves_in_flight, 1);
    assert_int_equal(info.capacity, CAPACITY - 1);
    assert_int_equal(reconcile(&l), 1);
    assert_capacity_is_exactly_c(&l);
    close_ledger(&l);
}

#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, sg_fixture_setup, sg_fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(a_repeated_send_after_reconcile_finished_the_move_sends_nothing_again),
        FIXTURE_TEST(a_receive_a_failover_lost_is_made_again_by_reconcile),
        FIXTURE_TEST(a_finished_move_stays_in_the_outbox_for_a_day_and_reconcile_then_removes_it),
        FIXTURE_TEST(moves_in_flight_count_only_the_moves_not_yet_received),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
