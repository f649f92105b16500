/* test_client_lost_replies.c -- libslotguard when the server ran a command and its reply was lost.
 *
 * A proxy on loopback (fault_proxy.h) forwards the library's commands to a real server, lets one
 * chosen command through and drops its reply, closing the connection. The library reconnects and
 * repeats the call; what it reports must be what happened on the server, not what the repeat saw.
 * Creating a sharded counter or a sharded trial writes NAME:meta with SET NX: the repeat answers
 * nil (the key exists), and the creator must still know that it was the one who created it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fault_proxy.h"
#include "harness.h"
#include "slotguard.h"

#define S(text) (text), (sizeof(text) - 1)
/* SET NAME:meta <record> NX, as RESP puts its last argument on the wire. */
#define SET_NX_ON_THE_WIRE "$2\r\nNX\r\n"

#define CHECK(ctx, call)                                                                                   \
    do {                                                                                                   \
        if ((call) != SG_OK) fail_msg("%s failed: err %d: %s", #call, (ctx)->err, (ctx)->errstr);         \
    } while (0)

static sg_proxy *proxy; /* stopped by the teardown, pass or fail */

static int setup(void **state) {
    proxy = NULL;
    return sg_fixture_setup(state);
}

static int teardown(void **state) {
    sg_proxy_stop(proxy);
    proxy = NULL;
    return sg_fixture_teardown(state);
}

/* A context on the proxy in front of a new server. */
static sg_context *connect_through_proxy(void **state, sg_server **server) {
    *server = sg_fixture_start(*state, NULL);
    proxy = sg_proxy_start((*server)->port);
    sg_options o = {.host = "127.0.0.1", .port = sg_proxy_port(proxy)};
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    if (ctx->err) fail_msg("connect: %s", ctx->errstr);
    return ctx;
}

static char *get_text(redisContext *c, const char *key) {
    redisReply *r = sg_command(c, "GET %s", key);
    char *text = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return text;
}

static void a_counter_creator_whose_reply_was_lost_still_reports_created(void **state) {
    sg_server *s;
    sg_context *ctx = connect_through_proxy(state, &s);
    sg_proxy_lose_reply_to(proxy, SET_NX_ON_THE_WIRE);
    int created = -1;
    CHECK(ctx, sg_counter_create(ctx, S("tickets"), 3, 9, &created));
    assert_int_equal(sg_proxy_lost(proxy), 1); /* the fault happened: SET NX ran, its reply was lost */
    assert_int_equal(created, 1);
    /* The counter is whole, and a second creator is told it existed. */
    sg_counter *c = sg_counter_open(ctx, S("tickets"), NULL);
    assert_non_null(c);
    long long total = -1;
    CHECK(ctx, sg_counter_total(ctx, c, &total));
    assert_int_equal(total, 9);
    sg_counter_close(c);
    CHECK(ctx, sg_counter_create(ctx, S("tickets"), 3, 9, &created));
    assert_int_equal(created, 0);
    sg_free(ctx);
}

static void a_sharded_trial_creator_whose_reply_was_lost_still_reports_created(void **state) {
    sg_server *s;
    sg_context *ctx = connect_through_proxy(state, &s);
    sg_proxy_lose_reply_to(proxy, SET_NX_ON_THE_WIRE);
    int created = -1;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("study"), 2, 10, &created));
    assert_int_equal(sg_proxy_lost(proxy), 1);
    assert_int_equal(created, 1);
    CHECK(ctx, sg_sharded_trial_create(ctx, S("study"), 2, 10, &created));
    assert_int_equal(created, 0);
    sg_free(ctx);
}

/* Two creators with the same arguments write the same placement; only the nonce tells them apart.
 * The one that lost the race is told so, even though its own SET NX was the one repeated. */
static void a_creator_that_lost_the_race_and_its_reply_reports_not_created(void **state) {
    sg_server *s;
    sg_context *ctx = connect_through_proxy(state, &s);
    sg_options direct = {.host = "127.0.0.1", .port = s->port};
    sg_context *first = sg_connect(&direct);
    assert_non_null(first);
    int created = -1;
    CHECK(first, sg_counter_create(first, S("tickets"), 3, 9, &created));
    assert_int_equal(created, 1);
    CHECK(ctx, sg_counter_create(ctx, S("tickets"), 3, 9, &created));
    assert_int_equal(created, 0);
    sg_free(first);
    sg_free(ctx);
}

/* Records written by libraries older than the nonce have none: they still open and report
 * "existed". */
static void a_record_without_a_nonce_still_opens(void **state) {
    sg_server *s = sg_fixture_start(*state, NULL);
    redisContext *admin = sg_fixture_connect(*state, s);
    sg_command_status(admin, "OK", "SET old:meta %s", "sg-counter 1 2 6 colocated");
    sg_options o = {.host = "127.0.0.1", .port = s->port};
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    int created = -1;
    CHECK(ctx, sg_counter_create(ctx, S("old"), 2, 6, &created));
    assert_int_equal(created, 0);
    sg_counter *c = sg_counter_open(ctx, S("old"), NULL);
    assert_non_null(c);
    long long total = -1;
    CHECK(ctx, sg_counter_total(ctx, c, &total));
    assert_int_equal(total, 6);
    sg_counter_close(c);
    /* A new record carries one; a malformed one is refused. */
    CHECK(ctx, sg_counter_create(ctx, S("new"), 2, 6, &created));
    char *text = get_text(admin, "new:meta");
    assert_non_null(text);
    assert_non_null(strstr(text, " by "));
    free(text);
    sg_command_status(admin, "OK", "SET bad:meta %s", "sg-counter 1 2 6 colocated by 12");
    assert_null(sg_counter_open(ctx, S("bad"), NULL));
    assert_int_equal(ctx->err, SG_ERR_PROTOCOL);
    sg_free(ctx);
}

#define PROXY_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        PROXY_TEST(a_counter_creator_whose_reply_was_lost_still_reports_created),
        PROXY_TEST(a_sharded_trial_creator_whose_reply_was_lost_still_reports_created),
        PROXY_TEST(a_creator_that_lost_the_race_and_its_reply_reports_not_created),
        PROXY_TEST(a_record_without_a_nonce_still_opens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
