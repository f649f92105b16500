/* test_client_counter.c -- libslotguard's sharded counters against real servers: co-located on one
 * node (one SHARDED.DECR per take), and spread over a three-master cluster: shards on different
 * masters, concurrent takes that sell exactly the stock and never push a shard below 0, "sold out"
 * answered cheaply and never while a shard has stock (also after give-backs), and exact while a
 * shard's slot is migrated and while a master fails over to its replica. */
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

#include "cluster.h"
#include "slotguard.h"

#define S(text) (text), (sizeof(text) - 1)
#define MASTERS 3
#define THREADS 8

#define CHECK(ctx, call)                                                                                   \
    do {                                                                                                   \
        if ((call) != SG_OK) fail_msg("%s failed: err %d: %s", #call, (ctx)->err, (ctx)->errstr);         \
    } while (0)

static sg_context *connect_single(sg_server *s) {
    sg_options o = {.host = "127.0.0.1", .port = s->port};
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    if (ctx->err) fail_msg("connect: %s", ctx->errstr);
    return ctx;
}

static sg_context *connect_cluster(sg_cluster *cl, int seed) {
    sg_options o = {.cluster = 1, .host = "127.0.0.1", .port = cl->node[seed]->port};
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    if (ctx->err) fail_msg("cluster connect: %s", ctx->errstr);
    return ctx;
}

static sg_counter *open_counter(sg_context *ctx, const char *name, const sg_counter_options *o) {
    sg_counter *c = sg_counter_open(ctx, name, strlen(name), o);
    if (c == NULL) fail_msg("open %s: %s", name, ctx->errstr);
    return c;
}

/* GET of a shard as a number (-999 when missing). */
static long long get_number(redisContext *c, const char *key, size_t len) {
    redisReply *r = sg_command(c, "GET %b", key, len);
    long long value = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -999;
    freeReplyObject(r);
    return value;
}

/* Take one unit; 1 taken, 0 sold out. */
static int take_one(sg_context *ctx, sg_counter *c) {
    sg_take_result r;
    CHECK(ctx, sg_counter_take(ctx, c, 1, &r));
    return r.taken == 1;
}

/* ---- one node -------------------------------------------------------------------------------- */
static void on_one_node_the_shards_are_co_located_and_a_take_is_one_round_trip(void **state) {
    sg_server *s = sg_fixture_start(*state, NULL);
    redisContext *admin = sg_fixture_connect(*state, s);
    sg_context *ctx = connect_single(s);
    int created = -1;
    CHECK(ctx, sg_counter_create(ctx, S("tickets"), 4, 10, &created));
    assert_int_equal(created, 1);
    CHECK(ctx, sg_counter_create(ctx, S("tickets"), 4, 99, &created));
    assert_int_equal(created, 0);
    sg_counter *c = open_counter(ctx, "tickets", NULL);
    assert_int_equal(sg_counter_shards(c), 4);
    long long shares[4] = {3, 3, 2, 2};
    for (int i = 0; i < 4; i++) {
        size_t len;
        const char *key = sg_counter_shard_key(c, i, &len);
        assert_non_null(strstr(key, "tickets"));
        assert_int_equal(get_number(admin, key, len), shares[i]);
    }
    long long total = -1, before = sg_round_trips(ctx);
    CHECK(ctx, sg_counter_total(ctx, c, &total));
    assert_int_equal(total, 10);
    assert_int_equal(sg_round_trips(ctx) - before, 1);
    before = sg_round_trips(ctx);
    for (int i = 0; i < 10; i++) assert_int_equal(take_one(ctx, c), 1);
    assert_int_equal(sg_round_trips(ctx) - before, 10);
    assert_int_equal(take_one(ctx, c), 0);
    for (int i = 0; i < 4; i++) {
        size_t len;
        const char *key = sg_counter_shard_key(c, i, &len);
        assert_int_equal(get_number(admin, key, len), 0);
    }
    sg_counter_close(c);
    sg_free(ctx);
}

static void a_take_of_several_units_is_all_or_nothing(void **state) {
    sg_server *s = sg_fixture_start(*state, NULL);
    sg_context *ctx = connect_single(s);
    int created;
    CHECK(ctx, sg_counter_create(ctx, S("seats"), 3, 10, &created));
    sg_counter *c = open_counter(ctx, "seats", NULL);
    sg_take_result r;
    CHECK(ctx, sg_counter_take(ctx, c, 4, &r));
    assert_int_equal(r.taken, 4);
    CHECK(ctx, sg_counter_take(ctx, c, 4, &r));
    assert_int_equal(r.taken, 4);
    CHECK(ctx, sg_counter_take(ctx, c, 4, &r)); /* 2 left: not enough, and they stay */
    assert_int_equal(r.taken, 0);
    long long total;
    CHECK(ctx, sg_counter_total(ctx, c, &total));
    assert_int_equal(total, 2);
    CHECK(ctx, sg_counter_give_back(ctx, c, 5));
    CHECK(ctx, sg_counter_take(ctx, c, 7, &r));
    assert_int_equal(r.taken, 7);
    CHECK(ctx, sg_counter_total(ctx, c, &total));
    assert_int_equal(total, 0);
    sg_counter_close(c);
    sg_free(ctx);
}

static void missing_counters_bad_names_and_missing_shards_are_errors(void **state) {
    sg_server *s = sg_fixture_start(*state, NULL);
    redisContext *admin = sg_fixture_connect(*state, s);
    sg_context *ctx = connect_single(s);
    assert_null(sg_counter_open(ctx, S("nothing"), NULL));
    assert_int_equal(ctx->err, SG_ERR_NOCOUNTER);
    int created;
    assert_int_equal(sg_counter_create(ctx, S("bad{name}"), 2, 5, &created), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    assert_int_equal(sg_counter_create(ctx, "", 0, 2, 5, &created), SG_ERR);
    assert_int_equal(sg_counter_create(ctx, S("ok"), 0, 5, &created), SG_ERR);
    assert_int_equal(sg_counter_create(ctx, S("ok"), 2, -1, &created), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    /* A shard deleted behind the library's back: takes say so instead of selling less. */
    CHECK(ctx, sg_counter_create(ctx, S("broken"), 2, 4, &created));
    sg_counter *c = open_counter(ctx, "broken", NULL);
    for (int i = 0; i < 2; i++) {
        size_t len;
        const char *key = sg_counter_shard_key(c, i, &len);
        sg_command_integer(admin, "DEL %b", key, len);
    }
    sg_take_result r;
    assert_int_equal(sg_counter_take(ctx, c, 1, &r), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_NOCOUNTER);
    /* Creating it again completes the missing shards with their shares. */
    CHECK(ctx, sg_counter_create(ctx, S("broken"), 2, 4, &created));
    assert_int_equal(created, 0);
    long long total;
    CHECK(ctx, sg_counter_total(ctx, c, &total));
    assert_int_equal(total, 4);
    sg_counter_close(c);
    sg_free(ctx);
}

/* ---- many threads ------------------------------------------------------------------------------ */
typedef struct seller {
    sg_context *ctx;
    const char *name;
    long long sold, sold_out_answers, errors;
    long long round_trips_selling, round_trips_sold_out;
    long long crowd; /* "sold out" answers to collect once the stock is gone */
    char error[SG_ERRSTR_SIZE + 16];
} seller;

static void *sell(void *arg) {
    seller *s = arg;
    sg_counter *c = sg_counter_open(s->ctx, s->name, strlen(s->name), NULL);
    if (c == NULL) {
        snprintf(s->error, sizeof(s->error), "open: %s", s->ctx->errstr);
        s->errors++;
        return NULL;
    }
    for (;;) {
        long long before = sg_round_trips(s->ctx);
        sg_take_result r;
        if (sg_counter_take(s->ctx, c, 1, &r) != SG_OK) {
            snprintf(s->error, sizeof(s->error), "take: %s", s->ctx->errstr);
            s->errors++;
            if (s->errors > 100) break;
            continue;
        }
        long long spent = sg_round_trips(s->ctx) - before;
        if (r.taken) {
            s->sold++;
            s->round_trips_selling += spent;
            continue;
        }
        s->sold_out_answers++;
        s->round_trips_sold_out += spent;
        if (s->sold_out_answers >= s->crowd) break;
    }
    sg_counter_close(c);
    return NULL;
}

/* Run THREADS sellers until each has heard "sold out" `crowd` times; returns the units sold. */
static long long sell_out(seller *sellers, long long *round_trips_per_sold_out) {
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) assert_int_equal(pthread_create(&threads[t], NULL, sell, &sellers[t]), 0);
    long long sold = 0, answers = 0, spent = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        if (sellers[t].errors) fail_msg("seller %d: %lld errors, last: %s", t, sellers[t].errors, sellers[t].error);
        sold += sellers[t].sold;
        answers += sellers[t].sold_out_answers;
        spent += sellers[t].round_trips_sold_out;
    }
    if (round_trips_per_sold_out) *round_trips_per_sold_out = answers ? spent * 100 / answers : 0;
    return sold;
}

static void concurrent_takes_on_one_node_sell_exactly_the_stock(void **state) {
    sg_server *s = sg_fixture_start(*state, NULL);
    sg_context *ctx = connect_single(s);
    int created;
    CHECK(ctx, sg_counter_create(ctx, S("flash"), 4, 2000, &created));
    seller sellers[THREADS] = {0};
    for (int t = 0; t < THREADS; t++) sellers[t] = (seller){.ctx = sg_clone(ctx), .name = "flash", .crowd = 5};
    assert_int_equal(sell_out(sellers, NULL), 2000);
    for (int t = 0; t < THREADS; t++) sg_free(sellers[t].ctx);
    sg_free(ctx);
}

/* ---- a cluster ------------------------------------------------------------------------------- */
/* The node serving each shard's slot, as node 0 sees it. */
static void shard_owners(sg_cluster *cl, sg_counter *c, int *owners) {
    for (int i = 0; i < sg_counter_shards(c); i++) {
        size_t len;
        const char *key = sg_counter_shard_key(c, i, &len);
        char name[512];
        snprintf(name, sizeof(name), "%.*s", (int)len, key);
        owners[i] = sg_cluster_owner(cl, 0, sg_cluster_slot_of(cl, name));
    }
}

static long long shard_value(sg_cluster *cl, int owner, sg_counter *c, int i) {
    size_t len;
    const char *key = sg_counter_shard_key(c, i, &len);
    return get_number(cl->c[owner], key, len);
}

static void on_a_cluster_the_shards_are_spread_over_every_master(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = connect_cluster(&cl, 1);
    int created;
    CHECK(ctx, sg_counter_create(ctx, S("spread"), 6, 600, &created));
    assert_int_equal(created, 1);
    sg_counter *c = open_counter(ctx, "spread", NULL);
    int owners[6], per_master[MASTERS] = {0};
    shard_owners(&cl, c, owners);
    for (int i = 0; i < 6; i++) {
        assert_true(owners[i] >= 0 && owners[i] < MASTERS);
        per_master[owners[i]]++;
        assert_int_equal(shard_value(&cl, owners[i], c, i), 100);
    }
    for (int m = 0; m < MASTERS; m++) assert_int_equal(per_master[m], 2);
    long long total;
    CHECK(ctx, sg_counter_total(ctx, c, &total));
    assert_int_equal(total, 600);
    sg_counter_close(c);
    sg_free(ctx);
}

/* Shards raised from outside to 2^62 each: their total does not fit 64 bits, and the library says
 * so rather than wrap to a negative stock (each shard is read on its own master, summed here). */
static void a_total_beyond_64_bits_is_an_error_not_a_wrapped_number(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = connect_cluster(&cl, 0);
    int created;
    CHECK(ctx, sg_counter_create(ctx, S("huge"), 3, 3, &created));
    sg_counter *c = open_counter(ctx, "huge", NULL);
    int owners[3];
    shard_owners(&cl, c, owners);
    for (int i = 0; i < 3; i++) {
        size_t len;
        const char *key = sg_counter_shard_key(c, i, &len);
        redisReply *r = sg_command(cl.c[owners[i]], "SET %b 4611686018427387904", key, len);
        freeReplyObject(r);
    }
    long long total = 0;
    assert_int_equal(sg_counter_total(ctx, c, &total), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_PROTOCOL);
    sg_counter_close(c);
    sg_free(ctx);
}

static void concurrent_takes_on_a_cluster_sell_exactly_the_stock_and_sold_out_is_cheap(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = connect_cluster(&cl, 0);
    int created;
    CHECK(ctx, sg_counter_create(ctx, S("sale"), 6, 3000, &created));
    seller sellers[THREADS] = {0};
    for (int t = 0; t < THREADS; t++) sellers[t] = (seller){.ctx = sg_clone(ctx), .name = "sale", .crowd = 200};
    long long per_sold_out = 0;
    assert_int_equal(sell_out(sellers, &per_sold_out), 3000);
    sg_counter *c = open_counter(ctx, "sale", NULL);
    int owners[6];
    shard_owners(&cl, c, owners);
    for (int i = 0; i < 6; i++) assert_int_equal(shard_value(&cl, owners[i], c, i), 0); /* none below 0 */
    /* A crowd after the sell-out: "sold out" costs about one round trip, not six. */
    print_message("round trips per sold-out answer: %lld.%02lld\n", per_sold_out / 100, per_sold_out % 100);
    assert_true(per_sold_out < 200);
    long long selling = 0, sold = 0;
    for (int t = 0; t < THREADS; t++) {
        selling += sellers[t].round_trips_selling;
        sold += sellers[t].sold;
        sg_free(sellers[t].ctx);
    }
    print_message("round trips per take: %.3f\n", (double)selling / (double)sold);
    sg_counter_close(c);
    sg_free(ctx);
}

static void a_give_back_is_sold_again_by_a_client_that_saw_every_shard_empty(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *buyer_ctx = connect_cluster(&cl, 0), *other_ctx = connect_cluster(&cl, 2);
    int created;
    CHECK(buyer_ctx, sg_counter_create(buyer_ctx, S("honest"), 3, 3, &created));
    sg_counter *buyer = open_counter(buyer_ctx, "honest", &(sg_counter_options){.empty_memory_ms = 60000});
    sg_counter *other = open_counter(other_ctx, "honest", NULL);
    for (int i = 0; i < 3; i++) assert_int_equal(take_one(buyer_ctx, buyer), 1);
    assert_int_equal(take_one(buyer_ctx, buyer), 0); /* every shard now known empty, for a minute */
    long long before = sg_round_trips(buyer_ctx);
    assert_int_equal(take_one(buyer_ctx, buyer), 0);
    assert_int_equal(sg_round_trips(buyer_ctx) - before, 1); /* only shard 0 is asked */
    CHECK(other_ctx, sg_counter_give_back(other_ctx, other, 1)); /* another client returns a unit */
    assert_int_equal(take_one(buyer_ctx, buyer), 1);            /* and it is sold, not "sold out" */
    assert_int_equal(take_one(buyer_ctx, buyer), 0);
    sg_counter_close(buyer);
    sg_counter_close(other);
    sg_free(buyer_ctx);
    sg_free(other_ctx);
}

/* Sellers run while the main thread disturbs the cluster. */
typedef struct background_sale {
    pthread_t threads[THREADS];
    seller sellers[THREADS];
} background_sale;

static void start_sale(background_sale *b, sg_context *ctx, const char *name) {
    for (int t = 0; t < THREADS; t++) {
        b->sellers[t] = (seller){.ctx = sg_clone(ctx), .name = name, .crowd = 20};
        assert_int_equal(pthread_create(&b->threads[t], NULL, sell, &b->sellers[t]), 0);
    }
}

static long long finish_sale(background_sale *b) {
    long long sold = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(b->threads[t], NULL);
        if (b->sellers[t].errors) fail_msg("seller %d: %s", t, b->sellers[t].error);
        sold += b->sellers[t].sold;
        sg_free(b->sellers[t].ctx);
    }
    return sold;
}

static void the_sale_stays_exact_while_a_shard_is_migrated(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = connect_cluster(&cl, 0);
    int created;
    CHECK(ctx, sg_counter_create(ctx, S("moving"), 3, 6000, &created));
    sg_counter *c = open_counter(ctx, "moving", NULL);
    int owners[3];
    shard_owners(&cl, c, owners);
    size_t len;
    const char *key = sg_counter_shard_key(c, 1, &len);
    char name[512];
    snprintf(name, sizeof(name), "%.*s", (int)len, key);
    int slot = sg_cluster_slot_of(&cl, name), from = owners[1], to = (owners[1] + 1) % MASTERS;
    background_sale b;
    start_sale(&b, ctx, "moving");
    sg_sleep_ms(100);
    sg_cluster_move_slot(&cl, slot, from, to);
    assert_int_equal(finish_sale(&b), 6000);
    assert_int_equal(sg_cluster_owner(&cl, 0, slot), to);
    assert_int_equal(shard_value(&cl, to, c, 1), 0);
    sg_counter_close(c);
    sg_free(ctx);
}

static void the_sale_stays_exact_through_a_manual_failover(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = connect_cluster(&cl, 0);
    int created;
    CHECK(ctx, sg_counter_create(ctx, S("failing"), 3, 6000, &created));
    sg_counter *c = open_counter(ctx, "failing", NULL);
    int owners[3];
    shard_owners(&cl, c, owners);
    int replica = sg_cluster_add_replica(&cl, owners[0]);
    background_sale b;
    start_sale(&b, ctx, "failing");
    sg_sleep_ms(100);
    /* CLUSTER FAILOVER waits until the replica has the master's whole stream: nothing is lost, so
     * the sale must stay exact. (A crashed master can lose the takes its replica had not received:
     * those units would be sold twice. WAIT, sg_counter_options.wait_replicas, narrows that.) */
    sg_cluster_failover(&cl, replica);
    assert_int_equal(finish_sale(&b), 6000);
    shard_owners(&cl, c, owners);
    assert_int_equal(owners[0], replica);
    for (int i = 0; i < 3; i++) assert_int_equal(shard_value(&cl, owners[i], c, i), 0);
    sg_counter_close(c);
    sg_free(ctx);
}

static void waiting_for_replicas_reports_their_acknowledgement(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = connect_cluster(&cl, 0);
    int created;
    CHECK(ctx, sg_counter_create(ctx, S("durable"), 1, 5, &created));
    sg_counter *c = open_counter(ctx, "durable", &(sg_counter_options){.wait_replicas = 1, .wait_timeout_ms = 2000});
    int owners[1];
    shard_owners(&cl, c, owners);
    sg_cluster_add_replica(&cl, owners[0]);
    sg_take_result r;
    CHECK(ctx, sg_counter_take(ctx, c, 1, &r));
    assert_int_equal(r.taken, 1);
    assert_int_equal(r.replicas_acked, 1);
    sg_counter_close(c);
    sg_free(ctx);
}

#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, sg_fixture_setup, sg_fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(on_one_node_the_shards_are_co_located_and_a_take_is_one_round_trip),
        FIXTURE_TEST(a_take_of_several_units_is_all_or_nothing),
        FIXTURE_TEST(missing_counters_bad_names_and_missing_shards_are_errors),
        FIXTURE_TEST(concurrent_takes_on_one_node_sell_exactly_the_stock),
        FIXTURE_TEST(on_a_cluster_the_shards_are_spread_over_every_master),
        FIXTURE_TEST(a_total_beyond_64_bits_is_an_error_not_a_wrapped_number),
        FIXTURE_TEST(concurrent_takes_on_a_cluster_sell_exactly_the_stock_and_sold_out_is_cheap),
        FIXTURE_TEST(a_give_back_is_sold_again_by_a_client_that_saw_every_shard_empty),
        FIXTURE_TEST(the_sale_stays_exact_while_a_shard_is_migrated),
        FIXTURE_TEST(the_sale_stays_exact_through_a_manual_failover),
        FIXTURE_TEST(waiting_for_replicas_reports_their_acknowledgement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
