/* test_client_decode.c -- cmocka tests of libslotguard's pure part (client/decode.c and
 * client/ratelimit_fields.c), no Redis:
 * replies built by hand in the shapes the module sends (and in wrong shapes) are decoded into
 * typed results or a coded error; cluster redirections and CLUSTER SLOTS are parsed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "decode.h"

/* ---- building replies ------------------------------------------------------------------------- */
/* Every reply a test builds is kept here and freed by the teardown. */
static redisReply *made[256];
static size_t made_count;

static redisReply *reply_of(int type) {
    assert_true(made_count < sizeof(made) / sizeof(made[0]));
    redisReply *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->type = type;
    made[made_count++] = r;
    return r;
}

static redisReply *text_of(int type, const char *text, size_t len) {
    redisReply *r = reply_of(type);
    r->str = (char *)text;
    r->len = len;
    return r;
}

static redisReply *bulk(const char *text) { return text_of(REDIS_REPLY_STRING, text, strlen(text)); }
static redisReply *status(const char *text) { return text_of(REDIS_REPLY_STATUS, text, strlen(text)); }
static redisReply *error(const char *text) { return text_of(REDIS_REPLY_ERROR, text, strlen(text)); }
static redisReply *nil(void) { return reply_of(REDIS_REPLY_NIL); }

static redisReply *integer(long long value) {
    redisReply *r = reply_of(REDIS_REPLY_INTEGER);
    r->integer = value;
    return r;
}

/* An array of the NULL-terminated elements given. */
static redisReply *array(redisReply *first, ...) {
    redisReply *r = reply_of(REDIS_REPLY_ARRAY);
    static redisReply *elements[256][32];
    redisReply **slot = elements[made_count - 1];
    size_t n = 0;
    va_list ap;
    va_start(ap, first);
    for (redisReply *e = first; e != NULL; e = va_arg(ap, redisReply *)) {
        assert_true(n < 32);
        slot[n++] = e;
    }
    va_end(ap);
    r->element = slot;
    r->elements = n;
    return r;
}

static int free_made(void **state) {
    (void)state;
    for (size_t i = 0; i < made_count; i++) free(made[i]);
    made_count = 0;
    return 0;
}

static sg_context ctx;

static int clear_context(void **state) {
    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    return 0;
}

#define EXPECT_ERR(call, code)                                                                              \
    do {                                                                                                    \
        assert_int_equal((call), SG_ERR);                                                                   \
        assert_int_equal(ctx.err, (code));                                                                  \
        assert_true(ctx.errstr[0] != '\0');                                                                 \
    } while (0)

/* ---- errors ----------------------------------------------------------------------------------- */
static void a_notrial_error_becomes_sg_err_notrial_with_the_servers_text(void **state) {
    (void)state;
    sg_enroll_result result;
    EXPECT_ERR(sg_decode_enroll(&ctx, error("NOTRIAL no trial at this key"), &result), SG_ERR_NOTRIAL);
    assert_string_equal(ctx.errstr, "NOTRIAL no trial at this key");
}

static void other_error_replies_become_sg_err_server(void **state) {
    (void)state;
    long long value;
    EXPECT_ERR(sg_decode_integer(&ctx, error("WRONGTYPE Operation against a key"), 0, 1, &value), SG_ERR_SERVER);
    assert_string_equal(ctx.errstr, "WRONGTYPE Operation against a key");
    EXPECT_ERR(sg_decode_ok(&ctx, error("READONLY You can't write against a read only replica.")), SG_ERR_SERVER);
}

static void a_long_error_text_is_cut_to_fit(void **state) {
    (void)state;
    char text[400];
    memset(text, 'x', sizeof(text) - 1);
    memcpy(text, "ERR ", 4);
    text[sizeof(text) - 1] = '\0';
    long long value;
    EXPECT_ERR(sg_decode_integer(&ctx, error(text), 0, 1, &value), SG_ERR_SERVER);
    assert_int_equal(strlen(ctx.errstr), SG_ERRSTR_SIZE - 1);
}

static void integers_out_of_range_or_of_the_wrong_type_are_protocol_errors(void **state) {
    (void)state;
    long long value = 7;
    EXPECT_ERR(sg_decode_integer(&ctx, integer(2), 0, 1, &value), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_integer(&ctx, bulk("1"), 0, 1, &value), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_integer(&ctx, nil(), 0, 1, &value), SG_ERR_PROTOCOL);
    assert_int_equal(value, 7);
    assert_int_equal(sg_decode_integer(&ctx, integer(1), 0, 1, &value), SG_OK);
    assert_int_equal(value, 1);
}

static void ok_is_only_the_ok_status(void **state) {
    (void)state;
    assert_int_equal(sg_decode_ok(&ctx, status("OK")), SG_OK);
    EXPECT_ERR(sg_decode_ok(&ctx, status("QUEUED")), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_ok(&ctx, bulk("OK")), SG_ERR_PROTOCOL);
}

/* ---- enrollment ------------------------------------------------------------------------------- */
static void enroll_codes_map_to_the_enum(void **state) {
    (void)state;
    const struct {
        long long code;
        sg_enroll_result expected;
    } cases[] = {{1, SG_ENROLL_ENROLLED},    {0, SG_ENROLL_FULL}, {-1, SG_ENROLL_ALREADY_ENROLLED},
                 {2, SG_ENROLL_WAITLISTED}, {-2, SG_ENROLL_ALREADY_WAITLISTED}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_enroll_result result;
        assert_int_equal(sg_decode_enroll(&ctx, integer(cases[i].code), &result), SG_OK);
        assert_int_equal(result, cases[i].expected);
    }
    sg_enroll_result result;
    EXPECT_ERR(sg_decode_enroll(&ctx, integer(3), &result), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_enroll(&ctx, integer(-3), &result), SG_ERR_PROTOCOL);
}

static void user_status_decodes_the_three_states(void **state) {
    (void)state;
    sg_user_status s;
    assert_int_equal(sg_decode_user_status(&ctx, array(bulk("enrolled"), integer(17), NULL), &s), SG_OK);
    assert_int_equal(s.state, SG_USER_ENROLLED);
    assert_int_equal(s.value, 17);
    assert_int_equal(sg_decode_user_status(&ctx, array(bulk("waitlisted"), integer(2), NULL), &s), SG_OK);
    assert_int_equal(s.state, SG_USER_WAITLISTED);
    assert_int_equal(s.value, 2);
    assert_int_equal(sg_decode_user_status(&ctx, array(bulk("none"), integer(0), NULL), &s), SG_OK);
    assert_int_equal(s.state, SG_USER_NONE);
    EXPECT_ERR(sg_decode_user_status(&ctx, array(bulk("gone"), integer(0), NULL), &s), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_user_status(&ctx, array(bulk("enrolled"), NULL), &s), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_user_status(&ctx, array(bulk("enrolled"), bulk("1"), NULL), &s), SG_ERR_PROTOCOL);
}

static redisReply *trial_info_reply(void) {
    return array(bulk("capacity"), integer(10), bulk("remaining"), integer(3), bulk("enrolled"), integer(7),
                 bulk("waitlisted"), integer(2), bulk("waitlist_max"), integer(5), bulk("next_arrival"), integer(10),
                 NULL);
}

static void trial_info_reads_every_field_and_nil_as_missing(void **state) {
    (void)state;
    sg_trial_info info;
    assert_int_equal(sg_decode_trial_info(&ctx, trial_info_reply(), &info), SG_OK);
    assert_int_equal(info.exists, 1);
    assert_int_equal(info.capacity, 10);
    assert_int_equal(info.remaining, 3);
    assert_int_equal(info.enrolled, 7);
    assert_int_equal(info.waitlisted, 2);
    assert_int_equal(info.waitlist_max, 5);
    assert_int_equal(info.next_arrival, 10);
    assert_int_equal(sg_decode_trial_info(&ctx, nil(), &info), SG_OK);
    assert_int_equal(info.exists, 0);
    assert_int_equal(info.capacity, 0);
}

static void trial_info_without_a_field_is_a_protocol_error(void **state) {
    (void)state;
    sg_trial_info info;
    EXPECT_ERR(sg_decode_trial_info(&ctx, array(bulk("capacity"), integer(10), NULL), &info), SG_ERR_PROTOCOL);
    assert_int_equal(info.exists, 0);
    EXPECT_ERR(sg_decode_trial_info(&ctx, integer(1), &info), SG_ERR_PROTOCOL);
}

static void a_members_page_copies_users_and_arrivals(void **state) {
    (void)state;
    static const char binary[] = {'b', '\0', 'c'};
    redisReply *users = array(bulk("alice"), integer(1), text_of(REDIS_REPLY_STRING, binary, 3), integer(4), NULL);
    sg_members_page page;
    assert_int_equal(sg_decode_members_page(&ctx, array(bulk("5"), users, NULL), &page), SG_OK);
    assert_int_equal(page.next_cursor, 5);
    assert_int_equal(page.count, 2);
    assert_int_equal(page.members[0].user_len, 5);
    assert_memory_equal(page.members[0].user, "alice", 5);
    assert_int_equal(page.members[0].arrival, 1);
    assert_int_equal(page.members[1].user_len, 3);
    assert_memory_equal(page.members[1].user, binary, 3);
    assert_int_equal(page.members[1].arrival, 4);
    assert_ptr_not_equal(page.members[0].user, users->element[0]->str); /* a copy */
    sg_members_page_free(&page);
    assert_null(page.members);
}

static void an_empty_last_page_has_cursor_zero(void **state) {
    (void)state;
    sg_members_page page;
    assert_int_equal(sg_decode_members_page(&ctx, array(bulk("0"), array(NULL), NULL), &page), SG_OK);
    assert_int_equal(page.next_cursor, 0);
    assert_int_equal(page.count, 0);
    sg_members_page_free(&page);
}

static void malformed_members_pages_are_protocol_errors(void **state) {
    (void)state;
    sg_members_page page;
    EXPECT_ERR(sg_decode_members_page(&ctx, array(bulk("x5"), array(NULL), NULL), &page), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_members_page(&ctx, array(bulk(""), array(NULL), NULL), &page), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_members_page(&ctx, array(bulk("1"), array(bulk("a"), NULL), NULL), &page),
               SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_members_page(&ctx, array(bulk("1"), array(bulk("a"), bulk("1"), NULL), NULL), &page),
               SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_members_page(&ctx, array(integer(1), array(NULL), NULL), &page), SG_ERR_PROTOCOL);
    assert_null(page.storage);
}

/* ---- locks ------------------------------------------------------------------------------------ */
static void a_token_or_nil_decodes_nil_as_zero(void **state) {
    (void)state;
    long long token = -1;
    assert_int_equal(sg_decode_token_or_nil(&ctx, integer(1700000000000001LL), &token), SG_OK);
    assert_int_equal(token, 1700000000000001LL);
    assert_int_equal(sg_decode_token_or_nil(&ctx, nil(), &token), SG_OK);
    assert_int_equal(token, 0);
    EXPECT_ERR(sg_decode_token_or_nil(&ctx, integer(0), &token), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_token_or_nil(&ctx, error("ERR token clock exhausted: ..."), &token), SG_ERR_SERVER);
}

static void lock_info_reads_owner_and_numbers(void **state) {
    (void)state;
    sg_lock_info info;
    redisReply *r = array(bulk("owner"), bulk("host-1:42"), bulk("ttl"), integer(900), bulk("token"), integer(77),
                          bulk("holds"), integer(2), bulk("waiters"), integer(3), NULL);
    assert_int_equal(sg_decode_lock_info(&ctx, r, &info), SG_OK);
    assert_int_equal(info.held, 1);
    assert_int_equal(info.owner_len, 9);
    assert_memory_equal(info.owner, "host-1:42", 9);
    assert_int_equal(info.ttl_ms, 900);
    assert_int_equal(info.token, 77);
    assert_int_equal(info.holds, 2);
    assert_int_equal(info.waiters, 3);
    assert_int_equal(sg_decode_lock_info(&ctx, nil(), &info), SG_OK);
    assert_int_equal(info.held, 0);
    EXPECT_ERR(sg_decode_lock_info(&ctx, array(bulk("owner"), bulk("x"), NULL), &info), SG_ERR_PROTOCOL);
}

static void a_lock_owner_longer_than_the_largest_id_is_refused(void **state) {
    (void)state;
    static char big[SG_MAX_ID_LEN + 1];
    memset(big, 'o', sizeof(big));
    redisReply *r = array(bulk("owner"), text_of(REDIS_REPLY_STRING, big, sizeof(big)), bulk("ttl"), integer(1),
                          bulk("token"), integer(1), bulk("holds"), integer(1), bulk("waiters"), integer(0), NULL);
    sg_lock_info info;
    EXPECT_ERR(sg_decode_lock_info(&ctx, r, &info), SG_ERR_PROTOCOL);
}

/* ---- idempotency ------------------------------------------------------------------------------ */
static void idemp_begin_decodes_each_outcome(void **state) {
    (void)state;
    sg_idemp_begin b;
    assert_int_equal(sg_decode_idemp_begin(&ctx, array(bulk("new"), integer(99), NULL), &b), SG_OK);
    assert_int_equal(b.outcome, SG_IDEMP_NEW);
    assert_int_equal(b.token, 99);
    assert_int_equal(sg_decode_idemp_begin(&ctx, array(bulk("in_progress"), integer(1500), NULL), &b), SG_OK);
    assert_int_equal(b.outcome, SG_IDEMP_IN_PROGRESS);
    assert_int_equal(b.retry_after_ms, 1500);
    static const char response[] = {'2', '0', '0', '\0', '!'};
    redisReply *done = array(bulk("completed"), text_of(REDIS_REPLY_STRING, response, 5), NULL);
    assert_int_equal(sg_decode_idemp_begin(&ctx, done, &b), SG_OK);
    assert_int_equal(b.outcome, SG_IDEMP_COMPLETED);
    assert_int_equal(b.response_len, 5);
    assert_memory_equal(b.response, response, 5);
    sg_idemp_begin_free(&b);
    assert_null(b.response);
    assert_int_equal(sg_decode_idemp_begin(&ctx, array(bulk("mismatch"), bulk("completed"), NULL), &b), SG_OK);
    assert_int_equal(b.outcome, SG_IDEMP_MISMATCH);
    assert_int_equal(b.other_completed, 1);
    assert_int_equal(sg_decode_idemp_begin(&ctx, array(bulk("mismatch"), bulk("in_progress"), NULL), &b), SG_OK);
    assert_int_equal(b.other_completed, 0);
}

static void idemp_begin_of_the_wrong_shape_is_a_protocol_error(void **state) {
    (void)state;
    sg_idemp_begin b;
    EXPECT_ERR(sg_decode_idemp_begin(&ctx, array(bulk("new"), bulk("99"), NULL), &b), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_idemp_begin(&ctx, array(bulk("later"), integer(1), NULL), &b), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_idemp_begin(&ctx, array(bulk("completed"), integer(1), NULL), &b), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_idemp_begin(&ctx, array(bulk("new"), NULL), &b), SG_ERR_PROTOCOL);
    assert_null(b.response);
}

static void an_idempotency_record_is_copied_out(void **state) {
    (void)state;
    sg_idemp_record rec;
    redisReply *r = array(bulk("state"), bulk("completed"), bulk("fingerprint"), bulk("fp-1"), bulk("token"),
                          integer(5), bulk("ttl"), integer(86000), bulk("response"), bulk("{\"ok\":true}"), NULL);
    assert_int_equal(sg_decode_idemp_record(&ctx, r, &rec), SG_OK);
    assert_int_equal(rec.exists, 1);
    assert_int_equal(rec.completed, 1);
    assert_int_equal(rec.fingerprint_len, 4);
    assert_memory_equal(rec.fingerprint, "fp-1", 4);
    assert_int_equal(rec.token, 5);
    assert_int_equal(rec.ttl_ms, 86000);
    assert_int_equal(rec.response_len, 11);
    assert_memory_equal(rec.response, "{\"ok\":true}", 11);
    sg_idemp_record_free(&rec);
    redisReply *busy = array(bulk("state"), bulk("in_progress"), bulk("fingerprint"), bulk("fp-2"), bulk("token"),
                             integer(6), bulk("ttl"), integer(900), bulk("response"), nil(), NULL);
    assert_int_equal(sg_decode_idemp_record(&ctx, busy, &rec), SG_OK);
    assert_int_equal(rec.completed, 0);
    assert_null(rec.response);
    sg_idemp_record_free(&rec);
    assert_int_equal(sg_decode_idemp_record(&ctx, nil(), &rec), SG_OK);
    assert_int_equal(rec.exists, 0);
}

static void a_completed_record_without_a_response_is_a_protocol_error(void **state) {
    (void)state;
    sg_idemp_record rec;
    redisReply *r = array(bulk("state"), bulk("completed"), bulk("fingerprint"), bulk("fp"), bulk("token"),
                          integer(5), bulk("ttl"), integer(1), bulk("response"), nil(), NULL);
    EXPECT_ERR(sg_decode_idemp_record(&ctx, r, &rec), SG_ERR_PROTOCOL);
    assert_int_equal(rec.exists, 0);
    assert_null(rec.fingerprint);
}

/* ---- cluster ---------------------------------------------------------------------------------- */
static void moved_gives_the_slot_and_the_new_address(void **state) {
    (void)state;
    sg_redirect r;
    const char *text = "MOVED 3999 127.0.0.1:6381";
    assert_int_equal(sg_parse_redirect(text, strlen(text), &r), SG_REDIRECT_MOVED);
    assert_int_equal(r.slot, 3999);
    assert_string_equal(r.host, "127.0.0.1");
    assert_int_equal(r.port, 6381);
}

static void ask_with_an_ipv6_address_keeps_the_colons_of_the_host(void **state) {
    (void)state;
    sg_redirect r;
    const char *text = "ASK 16383 ::1:7002";
    assert_int_equal(sg_parse_redirect(text, strlen(text), &r), SG_REDIRECT_ASK);
    assert_int_equal(r.slot, 16383);
    assert_string_equal(r.host, "::1");
    assert_int_equal(r.port, 7002);
}

static void a_redirect_without_a_host_means_the_node_that_answered(void **state) {
    (void)state;
    sg_redirect r;
    const char *text = "MOVED 12 :7000";
    assert_int_equal(sg_parse_redirect(text, strlen(text), &r), SG_REDIRECT_MOVED);
    assert_string_equal(r.host, "");
    assert_int_equal(r.port, 7000);
}

static void tryagain_and_clusterdown_are_recognised(void **state) {
    (void)state;
    sg_redirect r;
    const char *again = "TRYAGAIN Multiple keys request during rehashing of slot";
    const char *down = "CLUSTERDOWN The cluster is down";
    assert_int_equal(sg_parse_redirect(again, strlen(again), &r), SG_REDIRECT_TRYAGAIN);
    assert_int_equal(sg_parse_redirect(down, strlen(down), &r), SG_REDIRECT_CLUSTERDOWN);
}

static void other_errors_and_malformed_redirects_are_not_redirects(void **state) {
    (void)state;
    sg_redirect r;
    const char *cases[] = {"ERR syntax error", "MOVED", "MOVED 16384 127.0.0.1:1", "MOVED -1 h:1", "MOVED 5 host",
                           "MOVED 5 host:0", "MOVED 5 host:99999", "MOVED x h:1", "ASK 5 h:1x", "NOTRIAL no trial"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(sg_parse_redirect(cases[i], strlen(cases[i]), &r), SG_REDIRECT_NONE);
}

typedef struct seen_ranges {
    int count;
    int first[8], last[8], port[8];
    char host[8][64];
} seen_ranges;

static void remember_range(int first, int last, const char *host, int port, void *arg) {
    seen_ranges *s = arg;
    assert_true(s->count < 8);
    s->first[s->count] = first;
    s->last[s->count] = last;
    s->port[s->count] = port;
    strncpy(s->host[s->count], host, sizeof(s->host[0]) - 1);
    s->count++;
}

static void cluster_slots_gives_each_range_with_its_master(void **state) {
    (void)state;
    redisReply *r = array(array(integer(0), integer(5460), array(bulk("127.0.0.1"), integer(7000), bulk("id0"), NULL),
                                array(bulk("127.0.0.1"), integer(7003), bulk("id3"), NULL), NULL),
                          array(integer(5461), integer(16383), array(bulk("10.0.0.2"), integer(7001), NULL), NULL), NULL);
    seen_ranges s = {0};
    assert_int_equal(sg_parse_cluster_slots(r, remember_range, &s), 2);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.first[0], 0);
    assert_int_equal(s.last[0], 5460);
    assert_string_equal(s.host[0], "127.0.0.1");
    assert_int_equal(s.port[0], 7000);
    assert_int_equal(s.first[1], 5461);
    assert_int_equal(s.last[1], 16383);
    assert_string_equal(s.host[1], "10.0.0.2");
    assert_int_equal(s.port[1], 7001);
}

static void malformed_cluster_slots_are_refused(void **state) {
    (void)state;
    seen_ranges s = {0};
    assert_int_equal(sg_parse_cluster_slots(integer(1), remember_range, &s), -1);
    redisReply *reversed = array(array(integer(9), integer(3), array(bulk("h"), integer(1), NULL), NULL), NULL);
    assert_int_equal(sg_parse_cluster_slots(reversed, remember_range, &s), -1);
    redisReply *beyond = array(array(integer(0), integer(16384), array(bulk("h"), integer(1), NULL), NULL), NULL);
    assert_int_equal(sg_parse_cluster_slots(beyond, remember_range, &s), -1);
    redisReply *no_port = array(array(integer(0), integer(1), array(bulk("h"), NULL), NULL), NULL);
    assert_int_equal(sg_parse_cluster_slots(no_port, remember_range, &s), -1);
    assert_int_equal(s.count, 0);
    assert_int_equal(sg_parse_cluster_slots(array(NULL), remember_range, &s), 0);
}

/* ---- rate limits ------------------------------------------------------------------------------ */
static void a_throttle_reply_fills_the_five_fields(void **state) {
    (void)state;
    sg_throttle_result r;
    assert_int_equal(sg_decode_throttle(&ctx, array(integer(0), integer(16), integer(15), integer(-1), integer(2), NULL), &r),
                     SG_OK);
    assert_int_equal(r.limited, 0);
    assert_int_equal(r.limit, 16);
    assert_int_equal(r.remaining, 15);
    assert_int_equal(r.retry_after, -1);
    assert_int_equal(r.reset_after, 2);
    assert_int_equal(sg_decode_throttle(&ctx, array(integer(1), integer(16), integer(0), integer(2), integer(32), NULL), &r),
                     SG_OK);
    assert_int_equal(r.limited, 1);
    assert_int_equal(r.retry_after, 2);
}

static void throttle_replies_of_the_wrong_shape_are_protocol_errors(void **state) {
    (void)state;
    sg_throttle_result r;
    EXPECT_ERR(sg_decode_throttle(&ctx, array(integer(0), integer(16), integer(15), integer(-1), NULL), &r),
               SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_throttle(&ctx, array(integer(2), integer(16), integer(15), integer(-1), integer(2), NULL), &r),
               SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_throttle(&ctx, array(integer(0), integer(16), bulk("15"), integer(-1), integer(2), NULL), &r),
               SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_throttle(&ctx, integer(0), &r), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_throttle(&ctx, error("ERR invalid quantity: more than max_burst + 1"), &r), SG_ERR_SERVER);
}

static void window_replies_and_window_info_decode(void **state) {
    (void)state;
    sg_window_result w;
    assert_int_equal(sg_decode_window(&ctx, integer(2), &w), SG_OK);
    assert_int_equal(w, SG_WINDOW_LAST);
    EXPECT_ERR(sg_decode_window(&ctx, integer(3), &w), SG_ERR_PROTOCOL);
    sg_window_info info;
    assert_int_equal(sg_decode_window_info(&ctx, array(integer(3), integer(0), integer(1796169078386LL), integer(9000),
                                                       NULL), &info), SG_OK);
    assert_int_equal(info.used, 3);
    assert_int_equal(info.remaining, 0);
    assert_int_equal(info.end_ms, 1796169078386LL);
    assert_int_equal(info.wait_ms, 9000);
    EXPECT_ERR(sg_decode_window_info(&ctx, array(integer(3), integer(0), integer(1), NULL), &info), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_window_info(&ctx, array(integer(-1), integer(0), integer(1), integer(1), NULL), &info),
               SG_ERR_PROTOCOL);
}

static void rate_all_reads_each_limit_by_its_kind(void **state) {
    (void)state;
    const sg_limit_kind kinds[] = {SG_LIMIT_THROTTLE, SG_LIMIT_WINDOW};
    sg_rate_outcome out[2];
    int allowed = -1;
    redisReply *reply =
        array(integer(0), array(integer(0), integer(5), integer(4), integer(-1), integer(1), NULL), integer(0), NULL);
    assert_int_equal(sg_decode_rate_all(&ctx, reply, kinds, 2, &allowed, out), SG_OK);
    assert_int_equal(allowed, 0);
    assert_int_equal(out[0].kind, SG_LIMIT_THROTTLE);
    assert_int_equal(out[0].throttle.remaining, 4);
    assert_int_equal(out[1].kind, SG_LIMIT_WINDOW);
    assert_int_equal(out[1].window, SG_WINDOW_OVER);
    /* A window's reply where a throttle's is expected, a missing limit, a bad flag. */
    const sg_limit_kind swapped[] = {SG_LIMIT_WINDOW, SG_LIMIT_THROTTLE};
    EXPECT_ERR(sg_decode_rate_all(&ctx, reply, swapped, 2, &allowed, out), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_rate_all(&ctx, reply, kinds, 3, &allowed, out), SG_ERR_PROTOCOL);
    EXPECT_ERR(sg_decode_rate_all(&ctx, array(integer(7), integer(1), NULL), kinds + 1, 1, &allowed, NULL),
               SG_ERR_PROTOCOL);
    assert_int_equal(sg_decode_rate_all(&ctx, array(integer(1), integer(2), NULL), kinds + 1, 1, &allowed, NULL), SG_OK);
    assert_int_equal(allowed, 1);
}

static void ratelimit_fields_of_a_throttle(void **state) {
    (void)state;
    sg_ratelimit_fields f;
    /* 30 per 60 s, burst 15: q 16 units refilled in 32 s; reset 2 s. */
    sg_throttle_result r = {0, 16, 15, -1, 2};
    assert_int_equal(sg_ratelimit_from_throttle(15, 30, 60, 0, &r, &f), SG_OK);
    assert_int_equal(f.q, 16);
    assert_int_equal(f.w, 32);
    assert_int_equal(f.r, 15);
    assert_int_equal(f.t, 2);
    /* 3 per 1000 ms, burst 0: 1 unit in 334 ms -> w 1 s; reset 1500 ms -> t 2 s. */
    sg_throttle_result ms = {1, 1, 0, 200, 1500};
    assert_int_equal(sg_ratelimit_from_throttle(0, 3, 1000, SG_RATE_MS, &ms, &f), SG_OK);
    assert_int_equal(f.w, 1);
    assert_int_equal(f.t, 2);
    assert_int_equal(f.r, 0);
    /* A refill that fits although limit x period does not: 2 x INT64_MAX / INT64_MAX is 2 (the
     * libFuzzer harness found this refused: tests/fuzz/crashes/client-ratelimit-refill-overflow.bin). */
    assert_int_equal(sg_ratelimit_from_throttle(1, INT64_MAX, INT64_MAX, 0, &r, &f), SG_OK);
    assert_int_equal(f.w, 2);
    /* A refill longer than 64 bits can hold, and parameters that describe no rate. */
    assert_int_equal(sg_ratelimit_from_throttle(INT64_MAX - 1, 1, 1000000000, 0, &r, &f), SG_ERR);
    assert_int_equal(sg_ratelimit_from_throttle(1, 0, 60, 0, &r, &f), SG_ERR);
    assert_int_equal(sg_ratelimit_from_throttle(-1, 1, 60, 0, &r, &f), SG_ERR);
}

static void ratelimit_fields_of_a_window_and_their_header_values(void **state) {
    (void)state;
    sg_ratelimit_fields f;
    sg_window_info info = {40, 60, 1796169078386LL, 29001};
    assert_int_equal(sg_ratelimit_from_window(100, 60, 0, &info, &f), SG_OK);
    assert_int_equal(f.q, 100);
    assert_int_equal(f.w, 60);
    assert_int_equal(f.r, 60);
    assert_int_equal(f.t, 30);
    sg_window_info none = {0, 100, -1, -1};
    assert_int_equal(sg_ratelimit_from_window(100, 1500, SG_RATE_MS, &none, &f), SG_OK);
    assert_int_equal(f.w, 2);
    assert_int_equal(f.t, 0);
    char rl[64], policy[64];
    sg_ratelimit_fields g = {100, 60, 60, 30};
    assert_int_equal(sg_ratelimit_format(&g, "per-user", rl, sizeof(rl), policy, sizeof(policy)), SG_OK);
    assert_string_equal(rl, "\"per-user\";r=60;t=30");
    assert_string_equal(policy, "\"per-user\";q=100;w=60");
    assert_int_equal(sg_ratelimit_format(&g, "per user", rl, sizeof(rl), policy, sizeof(policy)), SG_ERR);
    assert_int_equal(sg_ratelimit_format(&g, "", rl, sizeof(rl), policy, sizeof(policy)), SG_ERR);
    assert_int_equal(sg_ratelimit_format(&g, "per-user", rl, 10, policy, sizeof(policy)), SG_ERR);
}

/* ---- the move ledger's outbox entries ------------------------------------------------------- */
static void move_entries_in_flight_and_done_are_read(void **state) {
    (void)state;
    int to = -1;
    long long amount = -1, done_at = 0;
    assert_int_equal(sg_parse_move_entry("1 12", 4, 2, &to, &amount, &done_at), 0);
    assert_int_equal(to, 1);
    assert_int_equal(amount, 12);
    assert_int_equal(done_at, -1);
    const char *done = "0 3 done 1764000000123";
    assert_int_equal(sg_parse_move_entry(done, strlen(done), 2, &to, &amount, &done_at), 0);
    assert_int_equal(to, 0);
    assert_int_equal(amount, 3);
    assert_true(done_at == 1764000000123LL);
    const char *largest = "999 9223372036854775807 done 0";
    assert_int_equal(sg_parse_move_entry(largest, strlen(largest), 1000, &to, &amount, &done_at), 0);
    assert_true(amount == 9223372036854775807LL);
    assert_int_equal(done_at, 0);
}

static void anything_else_is_not_a_move_entry(void **state) {
    (void)state;
    const char *bad[] = {"",        "1",          "1 ",           "x 1",          "1 x",           "1 0",
                         "-1 2",    "1 -2",       "2 1",          "1 2 done",     "1 2 done ",     "1 2 done x",
                         "1 2 gone 5", "1 2 done 5 6", "1 2 done -5", "1  2",       " 1 2",          "1 2x",
                         "1 9223372036854775808", "1 2 done 99999999999999999999",
                         "1 2 ",    "1 2 done 5 "}; /* no writer leaves a trailing space */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int to = 7;
        long long amount = 7, done_at = 7;
        if (sg_parse_move_entry(bad[i], strlen(bad[i]), 2, &to, &amount, &done_at) != -1)
            fail_msg("\"%s\" was read as a move entry", bad[i]);
        assert_int_equal(to, 7);
    }
    int to;
    long long amount, done_at;
    assert_int_equal(sg_parse_move_entry(NULL, 0, 2, &to, &amount, &done_at), -1);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, clear_context, free_made)

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST(a_notrial_error_becomes_sg_err_notrial_with_the_servers_text),
        TEST(other_error_replies_become_sg_err_server),
        TEST(a_long_error_text_is_cut_to_fit),
        TEST(integers_out_of_range_or_of_the_wrong_type_are_protocol_errors),
        TEST(ok_is_only_the_ok_status),
        TEST(enroll_codes_map_to_the_enum),
        TEST(user_status_decodes_the_three_states),
        TEST(trial_info_reads_every_field_and_nil_as_missing),
        TEST(trial_info_without_a_field_is_a_protocol_error),
        TEST(a_members_page_copies_users_and_arrivals),
        TEST(an_empty_last_page_has_cursor_zero),
        TEST(malformed_members_pages_are_protocol_errors),
        TEST(a_token_or_nil_decodes_nil_as_zero),
        TEST(lock_info_reads_owner_and_numbers),
        TEST(a_lock_owner_longer_than_the_largest_id_is_refused),
        TEST(idemp_begin_decodes_each_outcome),
        TEST(idemp_begin_of_the_wrong_shape_is_a_protocol_error),
        TEST(an_idempotency_record_is_copied_out),
        TEST(a_completed_record_without_a_response_is_a_protocol_error),
        TEST(moved_gives_the_slot_and_the_new_address),
        TEST(ask_with_an_ipv6_address_keeps_the_colons_of_the_host),
        TEST(a_redirect_without_a_host_means_the_node_that_answered),
        TEST(tryagain_and_clusterdown_are_recognised),
        TEST(other_errors_and_malformed_redirects_are_not_redirects),
        TEST(cluster_slots_gives_each_range_with_its_master),
        TEST(malformed_cluster_slots_are_refused),
        TEST(a_throttle_reply_fills_the_five_fields),
        TEST(throttle_replies_of_the_wrong_shape_are_protocol_errors),
        TEST(window_replies_and_window_info_decode),
        TEST(rate_all_reads_each_limit_by_its_kind),
        TEST(ratelimit_fields_of_a_throttle),
        TEST(ratelimit_fields_of_a_window_and_their_header_values),
        TEST(move_entries_in_flight_and_done_are_read),
        TEST(anything_else_is_not_a_move_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
