/* test_client_rate.c -- libslotguard's rate-limit calls against one real redis-server with the
 * module: sg_rate_throttle, sg_rate_window, sg_rate_window_info and sg_rate_all give the commands'
 * answers as typed results (redis-cell's numbers for a throttle, go-zero's for a window), RATE.ALL
 * consumes all limits or none, the IETF RateLimit header fields come out of real answers, bad
 * arguments are refused before anything is sent, server errors are coded, and a call that consumes
 * is never repeated after a connection error while a peek or a read is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "slotguard.h"

#define S(text) (text), (sizeof(text) - 1)

static sg_context *client(void) {
    sg_context *ctx = sg_connect(&(sg_options){.host = "127.0.0.1", .port = sg_group_server->port});
    assert_non_null(ctx);
    if (ctx->err) fail_msg("connect: %s", ctx->errstr);
    return ctx;
}

#define CHECK(ctx, call)                                                                                   \
    do {                                                                                                   \
        if ((call) != SG_OK) fail_msg("%s failed: err %d: %s", #call, (ctx)->err, (ctx)->errstr);         \
    } while (0)

static void assert_throttle(const sg_throttle_result *r, int limited, long long limit, long long remaining,
                            long long retry_after, long long reset_after) {
    if (r->limited != limited || r->limit != limit || r->remaining != remaining || r->retry_after != retry_after ||
        r->reset_after != reset_after)
        fail_msg("throttle: got %d %lld %lld %lld %lld, want %d %lld %lld %lld %lld", r->limited, r->limit,
                 r->remaining, r->retry_after, r->reset_after, limited, limit, remaining, retry_after, reset_after);
}

/* ---- the typed calls ------------------------------------------------------------------------- */
static void a_throttle_answers_redis_cells_numbers_and_a_peek_takes_nothing(void **state) {
    (void)state;
    sg_context *ctx = client();
    sg_throttle_result r;
    CHECK(ctx, sg_rate_throttle(ctx, S("user:1"), 15, 30, 60, 1, 0, &r));
    assert_throttle(&r, 0, 16, 15, -1, 2);
    CHECK(ctx, sg_rate_throttle(ctx, S("user:1"), 15, 30, 60, 15, 0, &r));
    assert_throttle(&r, 0, 16, 0, -1, 32);
    CHECK(ctx, sg_rate_throttle(ctx, S("user:1"), 15, 30, 60, 1, 0, &r));
    assert_throttle(&r, 1, 16, 0, 2, 32);
    char *before = sg_reply_text("GET", sg_command(sg_conn, "GET user:1"));
    CHECK(ctx, sg_rate_throttle(ctx, S("user:1"), 15, 30, 60, 0, 0, &r));
    assert_int_equal(r.limited, 0);
    assert_int_equal(r.remaining, 0);
    char *after = sg_reply_text("GET", sg_command(sg_conn, "GET user:1"));
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* Milliseconds: 1 per 10 s written as 10000 ms, fields in ms. */
    CHECK(ctx, sg_rate_throttle(ctx, S("user:ms"), 0, 1, 10000, 1, SG_RATE_MS, &r));
    assert_int_equal(r.limited, 0);
    assert_true(r.reset_after > 9000 && r.reset_after <= 10000);
    CHECK(ctx, sg_rate_throttle(ctx, S("user:ms"), 0, 1, 10000, 1, SG_RATE_MS, &r));
    assert_int_equal(r.limited, 1);
    assert_true(r.retry_after > 9000 && r.retry_after <= 10000);
    sg_free(ctx);
}

static void a_window_counts_to_its_quota_and_info_tells_what_is_left(void **state) {
    (void)state;
    sg_context *ctx = client();
    sg_window_result w;
    const sg_window_result expected[] = {SG_WINDOW_ALLOWED, SG_WINDOW_ALLOWED, SG_WINDOW_LAST, SG_WINDOW_OVER};
    for (size_t i = 0; i < 4; i++) {
        CHECK(ctx, sg_rate_window(ctx, S("tenant:1"), 3, 60, 0, &w));
        assert_int_equal(w, expected[i]);
    }
    sg_window_info info;
    CHECK(ctx, sg_rate_window_info(ctx, S("tenant:1"), 3, &info));
    assert_int_equal(info.used, 3);
    assert_int_equal(info.remaining, 0);
    assert_true(info.wait_ms > 55000 && info.wait_ms <= 60000);
    long long now_ms = sg_unix_us() / 1000;
    assert_true(info.end_ms > now_ms + 50000 && info.end_ms <= now_ms + 61000);
    CHECK(ctx, sg_rate_window_info(ctx, S("tenant:none"), 3, &info));
    assert_int_equal(info.used, 0);
    assert_int_equal(info.remaining, 3);
    assert_int_equal(info.end_ms, -1);
    assert_int_equal(info.wait_ms, -1);
    /* Aligned windows end on a whole period of the server's clock. */
    CHECK(ctx, sg_rate_window(ctx, S("tenant:aligned"), 5, 3600000, SG_RATE_ALIGN | SG_RATE_MS, &w));
    assert_int_equal(w, SG_WINDOW_ALLOWED);
    CHECK(ctx, sg_rate_window_info(ctx, S("tenant:aligned"), 5, &info));
    assert_int_equal(info.end_ms % 3600000, 0);
    assert_int_equal(info.remaining, 4);
    sg_free(ctx);
}

static void rate_all_consumes_every_limit_or_none(void **state) {
    (void)state;
    sg_context *ctx = client();
    sg_rate_limit limits[] = {
        {.kind = SG_LIMIT_THROTTLE, .key = "{acme}:user:7", .key_len = 13, .max_burst = 4, .count = 1,
         .period = 3600, .quantity = 1},
        {.kind = SG_LIMIT_WINDOW, .key = "{acme}:tenant", .key_len = 13, .quota = 2, .period = 3600},
    };
    sg_rate_outcome out[2];
    int allowed = -1;
    CHECK(ctx, sg_rate_all(ctx, limits, 2, &allowed, out));
    assert_int_equal(allowed, 1);
    assert_int_equal(out[0].kind, SG_LIMIT_THROTTLE);
    assert_int_equal(out[0].throttle.remaining, 4);
    assert_int_equal(out[1].window, SG_WINDOW_ALLOWED);
    CHECK(ctx, sg_rate_all(ctx, limits, 2, &allowed, out));
    assert_int_equal(allowed, 1);
    assert_int_equal(out[1].window, SG_WINDOW_LAST);
    /* The window is used up: the throttle, which would allow, consumes nothing either. */
    CHECK(ctx, sg_rate_all(ctx, limits, 2, &allowed, NULL));
    assert_int_equal(allowed, 0);
    sg_throttle_result peek;
    CHECK(ctx, sg_rate_throttle(ctx, S("{acme}:user:7"), 4, 1, 3600, 0, 0, &peek));
    assert_int_equal(peek.remaining, 3);
    sg_window_info info;
    CHECK(ctx, sg_rate_window_info(ctx, S("{acme}:tenant"), 2, &info));
    assert_int_equal(info.used, 2);
    sg_free(ctx);
}

static void header_fields_come_from_real_answers(void **state) {
    (void)state;
    sg_context *ctx = client();
    sg_throttle_result r;
    CHECK(ctx, sg_rate_throttle(ctx, S("api:user"), 99, 100, 60, 1, 0, &r));
    sg_ratelimit_fields f;
    CHECK(ctx, sg_ratelimit_from_throttle(99, 100, 60, 0, &r, &f));
    assert_int_equal(f.q, 100);
    assert_int_equal(f.w, 60);
    assert_int_equal(f.r, 99);
    assert_int_equal(f.t, 1); /* 0.6 s to refill the one unit taken, rounded up */
    char ratelimit[80], policy[80];
    CHECK(ctx, sg_ratelimit_format(&f, "user", ratelimit, sizeof(ratelimit), policy, sizeof(policy)));
    assert_string_equal(ratelimit, "\"user\";r=99;t=1");
    assert_string_equal(policy, "\"user\";q=100;w=60");
    sg_window_result w;
    CHECK(ctx, sg_rate_window(ctx, S("api:tenant"), 1000, 3600, 0, &w));
    sg_window_info info;
    CHECK(ctx, sg_rate_window_info(ctx, S("api:tenant"), 1000, &info));
    CHECK(ctx, sg_ratelimit_from_window(1000, 3600, 0, &info, &f));
    assert_int_equal(f.q, 1000);
    assert_int_equal(f.w, 3600);
    assert_int_equal(f.r, 999);
    assert_true(f.t > 3590 && f.t <= 3600);
    sg_free(ctx);
}

/* ---- errors ---------------------------------------------------------------------------------- */
static void bad_arguments_are_refused_before_anything_is_sent(void **state) {
    (void)state;
    sg_context *ctx = client();
    long long calls = sg_info_number(sg_conn, "total_commands_processed");
    sg_throttle_result r;
    sg_window_result w;
    int allowed;
    assert_int_equal(sg_rate_throttle(ctx, NULL, 1, 1, 1, 1, 1, 0, &r), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    assert_int_equal(sg_rate_throttle(ctx, S("k"), 1, 1, 1, 1, SG_RATE_ALIGN, &r), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    assert_int_equal(sg_rate_throttle(ctx, S("k"), 1, 1, 1, 1, 0, NULL), SG_ERR);
    assert_int_equal(sg_rate_window(ctx, S("k"), 1, 1, 8, &w), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    assert_int_equal(sg_rate_window_info(ctx, S("k"), 1, NULL), SG_ERR);
    sg_rate_limit limits[SG_RATE_MAX_LIMITS + 1];
    for (size_t i = 0; i < SG_RATE_MAX_LIMITS + 1; i++)
        limits[i] = (sg_rate_limit){.kind = SG_LIMIT_WINDOW, .key = "k", .key_len = 1, .quota = 1, .period = 1};
    assert_int_equal(sg_rate_all(ctx, limits, 0, &allowed, NULL), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    assert_int_equal(sg_rate_all(ctx, limits, SG_RATE_MAX_LIMITS + 1, &allowed, NULL), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    limits[1].kind = (sg_limit_kind)7;
    assert_int_equal(sg_rate_all(ctx, limits, 2, &allowed, NULL), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    limits[1] = (sg_rate_limit){.kind = SG_LIMIT_THROTTLE, .key = NULL, .key_len = 1};
    assert_int_equal(sg_rate_all(ctx, limits, 2, &allowed, NULL), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    assert_int_equal(sg_rate_all(ctx, limits, 1, NULL, NULL), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    /* Only the INFO calls of this test reached the server. */
    assert_int_equal(sg_info_number(sg_conn, "total_commands_processed"), calls + 1);
    sg_free(ctx);
}

static void server_errors_come_back_coded_with_the_servers_text(void **state) {
    (void)state;
    sg_context *ctx = client();
    sg_throttle_result r;
    assert_int_equal(sg_rate_throttle(ctx, S("k"), 1, 1, 60, 3, 0, &r), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_SERVER);
    assert_non_null(strstr(ctx->errstr, "ERR invalid quantity"));
    sg_command_integer(sg_conn, "LPUSH list x");
    sg_window_result w;
    assert_int_equal(sg_rate_window(ctx, S("list"), 1, 1, 0, &w), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_SERVER);
    assert_int_equal(strncmp(ctx->errstr, "WRONGTYPE", 9), 0);
    /* Two limits on one key. */
    sg_rate_limit twice[] = {{.kind = SG_LIMIT_WINDOW, .key = "k2", .key_len = 2, .quota = 1, .period = 1},
                             {.kind = SG_LIMIT_WINDOW, .key = "k2", .key_len = 2, .quota = 1, .period = 1}};
    int allowed;
    assert_int_equal(sg_rate_all(ctx, twice, 2, &allowed, NULL), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_SERVER);
    assert_non_null(strstr(ctx->errstr, "duplicate key"));
    sg_free(ctx);
}

/* ---- retries --------------------------------------------------------------------------------- */
static void a_consuming_call_is_not_repeated_after_a_broken_connection_but_a_peek_is(void **state) {
    (void)state;
    sg_context *ctx = client();
    sg_throttle_result r;
    CHECK(ctx, sg_rate_throttle(ctx, S("once"), 9, 1, 3600, 1, 0, &r));
    sg_command_integer(sg_conn, "CLIENT KILL TYPE normal SKIPME yes");
    assert_int_equal(sg_rate_throttle(ctx, S("once"), 9, 1, 3600, 1, 0, &r), SG_ERR);
    assert_true(ctx->err == SG_ERR_EOF || ctx->err == SG_ERR_IO);
    sg_command_integer(sg_conn, "CLIENT KILL TYPE normal SKIPME yes");
    CHECK(ctx, sg_rate_throttle(ctx, S("once"), 9, 1, 3600, 0, 0, &r));
    assert_int_equal(r.remaining, 9); /* the failed call took nothing: it never reached the server */
    sg_command_integer(sg_conn, "CLIENT KILL TYPE normal SKIPME yes");
    sg_window_result w;
    assert_int_equal(sg_rate_window(ctx, S("win"), 5, 60, 0, &w), SG_ERR);
    sg_command_integer(sg_conn, "CLIENT KILL TYPE normal SKIPME yes");
    sg_window_info info;
    CHECK(ctx, sg_rate_window_info(ctx, S("win"), 5, &info));
    assert_int_equal(info.used, 0);
    sg_free(ctx);
}

#define TEST(f) cmocka_unit_test_setup(f, sg_group_flush)

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST(a_throttle_answers_redis_cells_numbers_and_a_peek_takes_nothing),
        TEST(a_window_counts_to_its_quota_and_info_tells_what_is_left),
        TEST(rate_all_consumes_every_limit_or_none),
        TEST(header_fields_come_from_real_answers),
        TEST(bad_arguments_are_refused_before_anything_is_sent),
        TEST(server_errors_come_back_coded_with_the_servers_text),
        TEST(a_consuming_call_is_not_repeated_after_a_broken_connection_but_a_peek_is),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
