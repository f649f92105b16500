/* test_idemp_contract.c -- every reply of the idempotency contract in README.md ("## Idempotency
 * commands"): IDEMP.SETNX and its interchangeability with SET key 1 NX EX, IDEMP.BEGIN / COMPLETE /
 * ABORT / GET / RECORD, COMMAND INFO / DOCS, INFO counters and bad input, against a real
 * redis-server with the module loaded.
 *
 * One server for the whole group; every test starts from an empty dataset (FLUSHALL in the per-test
 * setup). One behaviour per test function. Waits for a lease to end are bounded polls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "harness.h"

#define MAX_FINGERPRINT_LEN 1024
#define MAX_TTL_S "1000000000"
#define MAX_LEASE_MS "1000000000000"
#define COMMAND_TIMEOUT_S 5      /* no command of these tests takes longer; a hang fails fast */
#define EXPIRY_WAIT_LIMIT_MS 5000 /* how long a test waits for a short lease to end */
#define LONG_LEASE_MS 100000000LL /* about 28 hours: never ends during a test */

static sg_server *server;
static redisContext *conn;

static void connect_main(void)
{
    conn = sg_connect_to(server);
    struct timeval tv = {COMMAND_TIMEOUT_S, 0};
    redisSetTimeout(conn, tv);
}

static int start_server(void **state)
{
    (void)state;
    server = sg_server_start(NULL);
    connect_main();
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    if (conn != NULL) redisFree(conn);
    conn = NULL;
    sg_server_stop(server);
    server = NULL;
    return 0;
}

static int flush_dataset(void **state)
{
    (void)state;
    if (conn->err) {
        /* a previous test broke it: start afresh */
        redisFree(conn);
        connect_main();
    }
    sg_command_status(conn, "OK", "FLUSHALL");
    return 0;
}

/* ---- small utilities ------------------------------------------------------------------------ */

static long long unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int reply_is_bytes(const redisReply *r, const char *bytes, size_t len)
{
    return r != NULL && r->type == REDIS_REPLY_STRING && r->len == len && (len == 0 || memcmp(r->str, bytes, len) == 0);
}

/* A bulk reply as a malloc'ed NUL-terminated string; fails on anything else. */
static char *command_bulk(const char *what, redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("%s: expected a string, got %s", what, got);
    }
    char *out = malloc(r->len + 1);
    assert_non_null(out);
    memcpy(out, r->str, r->len);
    out[r->len] = '\0';
    freeReplyObject(r);
    return out;
}

static long long pttl(const char *key)
{
    return sg_command_integer(conn, "PTTL %s", key);
}

static long long exists(const char *key)
{
    return sg_command_integer(conn, "EXISTS %s", key);
}

static char *value_digest(const char *key)
{
    redisReply *r = sg_command(conn, "DEBUG DIGEST-VALUE %s", key);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        (r->element[0]->type != REDIS_REPLY_STRING && r->element[0]->type != REDIS_REPLY_STATUS)) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("DEBUG DIGEST-VALUE %s: got %s", key, got);
    }
    char *digest = strndup(r->element[0]->str, r->element[0]->len);
    assert_non_null(digest);
    freeReplyObject(r);
    return digest;
}

static void assert_type(const char *key, const char *type)
{
    char *got = command_bulk("TYPE", sg_command(conn, "TYPE %s", key));
    if (strcmp(got, type) != 0) {
        char copy[64];
        snprintf(copy, sizeof(copy), "%s", got);
        free(got);
        fail_msg("TYPE %s is \"%s\", expected \"%s\"", key, copy, type);
    }
    free(got);
}

/* ---- IDEMP.BEGIN ---------------------------------------------------------------------------- */

/* The raw two-element IDEMP.BEGIN reply (checked to be a two-element array whose first element is
 * one of the four words). Caller frees. */
static redisReply *begin_raw(const char *key, const char *fp, size_t fp_len, long long lease)
{
    redisReply *r = sg_command(conn, "IDEMP.BEGIN %s %b %lld", key, fp, fp_len, lease);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        !(sg_reply_is_text(r->element[0], "new") || sg_reply_is_text(r->element[0], "in_progress") ||
          sg_reply_is_text(r->element[0], "completed") || sg_reply_is_text(r->element[0], "mismatch"))) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1) sg_describe_reply(r->element[0], got, sizeof(got));
        freeReplyObject(r);
        fail_msg("IDEMP.BEGIN %s: expected [new|in_progress|completed|mismatch, ...], got %s", key, got);
    }
    return r;
}

static void fail_begin(const char *key, const char *expected, redisReply *r)
{
    char word[64], second[300];
    snprintf(word, sizeof(word), "%.*s", (int)r->element[0]->len, r->element[0]->str);
    sg_describe_reply(r->element[1], second, sizeof(second));
    freeReplyObject(r);
    fail_msg("IDEMP.BEGIN %s: expected %s, got [%s, %s]", key, expected, word, second);
}

/* Expect `new`; returns the token. */
static long long begin_new_bin(const char *key, const char *fp, size_t fp_len, long long lease)
{
    redisReply *r = begin_raw(key, fp, fp_len, lease);
    if (!sg_reply_is_text(r->element[0], "new") || r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->integer < 1) {
        fail_begin(key, "[new, token >= 1]", r);
    }
    long long token = r->element[1]->integer;
    freeReplyObject(r);
    return token;
}

static long long begin_new(const char *key, const char *fp, long long lease)
{
    return begin_new_bin(key, fp, strlen(fp), lease);
}

/* Expect `in_progress`; returns the remaining lease. */
static long long begin_in_progress(const char *key, const char *fp, long long lease)
{
    redisReply *r = begin_raw(key, fp, strlen(fp), lease);
    if (!sg_reply_is_text(r->element[0], "in_progress") || r->element[1]->type != REDIS_REPLY_INTEGER) {
        fail_begin(key, "[in_progress, remaining ms]", r);
    }
    long long left = r->element[1]->integer;
    freeReplyObject(r);
    return left;
}

static void begin_completed_bin(const char *key, const char *fp, size_t fp_len, const char *response,
                                size_t response_len)
{
    redisReply *r = begin_raw(key, fp, fp_len, 10000);
    if (!sg_reply_is_text(r->element[0], "completed") || !reply_is_bytes(r->element[1], response, response_len)) {
        char expected[300];
        snprintf(expected, sizeof(expected), "[completed, the %zu-byte response]", response_len);
        fail_begin(key, expected, r);
    }
    freeReplyObject(r);
}

static void begin_completed(const char *key, const char *fp, const char *response)
{
    begin_completed_bin(key, fp, strlen(fp), response, strlen(response));
}

static void begin_mismatch(const char *key, const char *fp, const char *record_state)
{
    redisReply *r = begin_raw(key, fp, strlen(fp), 10000);
    if (!sg_reply_is_text(r->element[0], "mismatch") || !sg_reply_is_text(r->element[1], record_state)) {
        char expected[100];
        snprintf(expected, sizeof(expected), "[mismatch, %s]", record_state);
        fail_begin(key, expected, r);
    }
    freeReplyObject(r);
}

/* ---- IDEMP.COMPLETE / ABORT ------------------------------------------------------------------ */

static long long complete_bin(const char *key, long long token, const char *response, size_t response_len,
                              long long ttl)
{
    return sg_command_integer(conn, "IDEMP.COMPLETE %s %lld %b %lld", key, token, response, response_len, ttl);
}

static long long complete(const char *key, long long token, const char *response, long long ttl)
{
    return complete_bin(key, token, response, strlen(response), ttl);
}

static long long abort_request(const char *key, long long token)
{
    return sg_command_integer(conn, "IDEMP.ABORT %s %lld", key, token);
}

/* ---- IDEMP.GET -------------------------------------------------------------------------------- */

typedef struct record_view {
    int present;        /* 0: IDEMP.GET answered nil */
    char state[32];
    char *fingerprint;  /* malloc'ed */
    size_t fingerprint_len;
    long long token;
    long long ttl;
    int has_response;   /* 0: the response field is nil */
    char *response;     /* malloc'ed, or NULL */
    size_t response_len;
} record_view;

static void record_view_free(record_view *v)
{
    free(v->fingerprint);
    free(v->response);
    memset(v, 0, sizeof(*v));
}

static char *copy_bytes(const char *bytes, size_t len)
{
    char *out = malloc(len + 1);
    assert_non_null(out);
    if (len > 0) memcpy(out, bytes, len);
    out[len] = '\0';
    return out;
}

/* IDEMP.GET, checked to be nil or exactly the five field/value pairs of README. */
static record_view get_record(const char *key)
{
    record_view v;
    memset(&v, 0, sizeof(v));
    redisReply *r = sg_command(conn, "IDEMP.GET %s", key);
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return v;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 10) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("IDEMP.GET %s: expected nil or 10 elements (5 field/value pairs), got %s", key, got);
    }
    int seen = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *field = r->element[i], *value = r->element[i + 1];
        const char *problem = NULL;
        if (sg_reply_is_text(field, "state")) {
            if (!(sg_reply_is_text(value, "in_progress") || sg_reply_is_text(value, "completed"))) problem = "state";
            else snprintf(v.state, sizeof(v.state), "%.*s", (int)value->len, value->str);
            seen |= 1;
        } else if (sg_reply_is_text(field, "fingerprint")) {
            if (value->type != REDIS_REPLY_STRING) problem = "fingerprint";
            else {
                v.fingerprint = copy_bytes(value->str, value->len);
                v.fingerprint_len = value->len;
            }
            seen |= 2;
        } else if (sg_reply_is_text(field, "token")) {
            if (value->type != REDIS_REPLY_INTEGER) problem = "token";
            else v.token = value->integer;
            seen |= 4;
        } else if (sg_reply_is_text(field, "ttl")) {
            if (value->type != REDIS_REPLY_INTEGER) problem = "ttl";
            else v.ttl = value->integer;
            seen |= 8;
        } else if (sg_reply_is_text(field, "response")) {
            if (value->type == REDIS_REPLY_STRING) {
                v.has_response = 1;
                v.response = copy_bytes(value->str, value->len);
                v.response_len = value->len;
            } else if (value->type != REDIS_REPLY_NIL) {
                problem = "response";
            }
            seen |= 16;
        } else {
            problem = "field name";
        }
        if (problem != NULL) {
            char got[300];
            sg_describe_reply(field->type == REDIS_REPLY_STRING && strcmp(problem, "field name") != 0 ? value : field, got,
                     sizeof(got));
            freeReplyObject(r);
            record_view_free(&v);
            fail_msg("IDEMP.GET %s: unexpected %s: %s", key, problem, got);
        }
    }
    freeReplyObject(r);
    if (seen != 31) {
        record_view_free(&v);
        fail_msg("IDEMP.GET %s: missing one of state, fingerprint, token, ttl, response", key);
    }
    v.present = 1;
    return v;
}

/* Check a record's fields; a ttl window (min_ttl..max_ttl, ms). response NULL: nil expected. */
static void assert_record(const char *key, const char *state, const char *fp, size_t fp_len, long long token,
                          long long min_ttl, long long max_ttl, const char *response, size_t response_len)
{
    record_view v = get_record(key);
    char problem[300] = "";
    if (!v.present) snprintf(problem, sizeof(problem), "nil, expected a record");
    else if (strcmp(v.state, state) != 0) snprintf(problem, sizeof(problem), "state %s, expected %s", v.state, state);
    else if (v.fingerprint_len != fp_len || memcmp(v.fingerprint, fp, fp_len) != 0)
        snprintf(problem, sizeof(problem), "fingerprint differs (%zu bytes, expected %zu)", v.fingerprint_len, fp_len);
    else if (v.token != token) snprintf(problem, sizeof(problem), "token %lld, expected %lld", v.token, token);
    else if (v.ttl < min_ttl || v.ttl > max_ttl)
        snprintf(problem, sizeof(problem), "ttl %lld, expected %lld..%lld", v.ttl, min_ttl, max_ttl);
    else if (response == NULL && v.has_response) snprintf(problem, sizeof(problem), "response is not nil");
    else if (response != NULL && !v.has_response) snprintf(problem, sizeof(problem), "response is nil");
    else if (response != NULL && (v.response_len != response_len || memcmp(v.response, response, response_len) != 0))
        snprintf(problem, sizeof(problem), "response differs (%zu bytes, expected %zu)", v.response_len,
                 response_len);
    record_view_free(&v);
    if (problem[0] != '\0') fail_msg("IDEMP.GET %s: %s", key, problem);
}

/* ---- IDEMP.SETNX ---------------------------------------------------------------------------- */

static void setnx_answers_one_the_first_time_and_zero_after(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:1 100"), 1);
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:1 100"), 0);
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:1 100 other"), 0);
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:2 100"), 1);
}

static void setnx_stores_the_plain_string_one_by_default(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:1 100"), 1);
    char *value = command_bulk("GET", sg_command(conn, "GET msg:1"));
    assert_string_equal(value, "1");
    free(value);
    assert_type("msg:1", "string");
}

static void setnx_stores_the_given_value_byte_for_byte(void **state)
{
    (void)state;
    static const char value[] = {'o', 'k', '\0', '\r', '\n', 'x'};
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:1 100 %b", value, sizeof(value)), 1);
    redisReply *r = sg_command(conn, "GET msg:1");
    int same = reply_is_bytes(r, value, sizeof(value));
    freeReplyObject(r);
    if (!same) fail_msg("GET msg:1 is not the 6 bytes given to IDEMP.SETNX");
    assert_type("msg:1", "string");
    /* a later call with another value changes nothing */
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:1 100 other"), 0);
    r = sg_command(conn, "GET msg:1");
    same = reply_is_bytes(r, value, sizeof(value));
    freeReplyObject(r);
    if (!same) fail_msg("GET msg:1 changed after a second IDEMP.SETNX");
}

static void setnx_expires_the_key_in_ttl_seconds(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:1 100"), 1);
    long long ttl = sg_command_integer(conn, "TTL msg:1");
    long long left = pttl("msg:1");
    if (ttl < 99 || ttl > 100) fail_msg("TTL %lld after IDEMP.SETNX ... 100", ttl);
    if (left <= 99000 || left > 100000) fail_msg("PTTL %lld after IDEMP.SETNX ... 100", left);
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:max " MAX_TTL_S), 1);
    ttl = sg_command_integer(conn, "TTL msg:max");
    if (ttl < 999999999 || ttl > 1000000000) fail_msg("TTL %lld after IDEMP.SETNX ... " MAX_TTL_S, ttl);
}

static void setnx_with_ttl_one_is_gone_after_a_second_and_records_again(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:1 1"), 1);
    long long left = pttl("msg:1");
    if (left <= 0 || left > 1000) fail_msg("PTTL %lld after IDEMP.SETNX ... 1", left);
    int64_t deadline = sg_now_ms() + EXPIRY_WAIT_LIMIT_MS;
    while (exists("msg:1") == 1) {
        if (sg_now_ms() > deadline) fail_msg("msg:1 still exists %d ms after a ttl of 1 s", EXPIRY_WAIT_LIMIT_MS);
        sg_sleep_ms(50);
    }
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:1 1"), 1);
}

static void setnx_answers_zero_for_a_key_of_any_type_and_leaves_it_alone(void **state)
{
    (void)state;
    sg_command_status(conn, "OK", "SET k:string v");
    sg_command_integer(conn, "RPUSH k:list a");
    sg_command_integer(conn, "HSET k:hash f v");
    sg_command_integer(conn, "SADD k:set m");
    sg_command_integer(conn, "ZADD k:zset 1 m");
    redisReply *r = sg_command(conn, "XADD k:stream * f v");
    freeReplyObject(r);
    begin_new("k:record", "fp", LONG_LEASE_MS);
    long long token = begin_new("k:done", "fp", 10000);
    assert_int_equal(complete("k:done", token, "resp", 1000), 1);
    const char *keys[] = {"k:string", "k:list", "k:hash", "k:set", "k:zset", "k:stream", "k:record", "k:done"};
    char *before = sg_debug_digest(conn);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        long long got = sg_command_integer(conn, "IDEMP.SETNX %s 100", keys[i]);
        if (got != 0) {
            free(before);
            fail_msg("IDEMP.SETNX %s (an existing key) answered %lld, expected 0", keys[i], got);
        }
        got = sg_command_integer(conn, "IDEMP.SETNX %s 100 value", keys[i]);
        if (got != 0) {
            free(before);
            fail_msg("IDEMP.SETNX %s 100 value (an existing key) answered %lld, expected 0", keys[i], got);
        }
    }
    char *after = sg_debug_digest(conn);
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("IDEMP.SETNX on existing keys changed the dataset");
    assert_int_equal(sg_command_integer(conn, "TTL k:string"), -1);
}

static void a_key_made_by_set_nx_ex_is_seen_by_setnx(void **state)
{
    (void)state;
    sg_command_status(conn, "OK", "SET msg:1 1 NX EX 100");
    char *before = value_digest("msg:1");
    long long left = pttl("msg:1");
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:1 100"), 0);
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX msg:1 500 other"), 0);
    char *after = value_digest("msg:1");
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("IDEMP.SETNX changed a key made by SET NX EX");
    long long now = pttl("msg:1");
    if (now > left) fail_msg("IDEMP.SETNX lengthened the expiry of a key made by SET NX EX");
}

static void a_key_made_by_setnx_is_seen_by_set_nx_ex_and_looks_the_same(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX by:module 100"), 1);
    sg_command_status(conn, "OK", "SET by:set 1 NX EX 100");
    sg_command_nil(conn, "SET by:module 1 NX EX 100");
    sg_command_nil(conn, "SET by:module 2 NX EX 500");

    char *module_value = command_bulk("GET", sg_command(conn, "GET by:module"));
    char *set_value = command_bulk("GET", sg_command(conn, "GET by:set"));
    char *module_type = command_bulk("TYPE", sg_command(conn, "TYPE by:module"));
    char *set_type = command_bulk("TYPE", sg_command(conn, "TYPE by:set"));
    long long module_ttl = sg_command_integer(conn, "TTL by:module");
    long long set_ttl = sg_command_integer(conn, "TTL by:set");
    char *module_digest = value_digest("by:module");
    char *set_digest = value_digest("by:set");
    char problem[300] = "";
    if (strcmp(module_value, set_value) != 0)
        snprintf(problem, sizeof(problem), "GET \"%s\" vs \"%s\"", module_value, set_value);
    else if (strcmp(module_type, set_type) != 0 || strcmp(module_type, "string") != 0)
        snprintf(problem, sizeof(problem), "TYPE %s vs %s", module_type, set_type);
    else if (module_ttl != set_ttl && module_ttl + 1 != set_ttl && module_ttl != set_ttl + 1)
        snprintf(problem, sizeof(problem), "TTL %lld vs %lld", module_ttl, set_ttl);
    else if (module_ttl < 99 || module_ttl > 100)
        snprintf(problem, sizeof(problem), "TTL %lld, expected 99..100", module_ttl);
    else if (strcmp(module_digest, set_digest) != 0)
        snprintf(problem, sizeof(problem), "DEBUG DIGEST-VALUE %s vs %s", module_digest, set_digest);
    free(module_value);
    free(set_value);
    free(module_type);
    free(set_type);
    free(module_digest);
    free(set_digest);
    if (problem[0] != '\0') fail_msg("IDEMP.SETNX key differs from the SET 1 NX EX key: %s", problem);
}

/* README: a numeric value is kept as a string object (OBJECT ENCODING embstr, where SET would say
 * int) until the next reload; after one, the key is encoded exactly as the SET NX EX key. */
static void a_key_made_by_setnx_takes_the_set_nx_ex_encoding_after_a_reload(void **state)
{
    (void)state;
    const char *values[] = {"1", "12345", "hello"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        sg_command_status(conn, "OK", "FLUSHALL");
        assert_int_equal(sg_command_integer(conn, "IDEMP.SETNX by:module 100 %s", values[i]), 1);
        sg_command_status(conn, "OK", "SET by:set %s NX EX 100", values[i]);
        sg_command_status(conn, "OK", "DEBUG RELOAD");
        char *module_encoding = command_bulk("OBJECT ENCODING", sg_command(conn, "OBJECT ENCODING by:module"));
        char *set_encoding = command_bulk("OBJECT ENCODING", sg_command(conn, "OBJECT ENCODING by:set"));
        char problem[200] = "";
        if (strcmp(module_encoding, set_encoding) != 0)
            snprintf(problem, sizeof(problem), "value \"%s\": OBJECT ENCODING %s after IDEMP.SETNX, %s after SET NX EX",
                     values[i], module_encoding, set_encoding);
        free(module_encoding);
        free(set_encoding);
        if (problem[0] != '\0') fail_msg("%s", problem);
    }
}

/* ---- IDEMP.BEGIN ---------------------------------------------------------------------------- */

static void begin_on_a_free_key_answers_new_with_a_token_and_the_lease_as_expiry(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 5000);
    assert_true(token >= 1);
    assert_type("req:1", "sg-idemp0");
    long long left = pttl("req:1");
    if (left <= 4000 || left > 5000) fail_msg("PTTL %lld after IDEMP.BEGIN with a lease of 5000 ms", left);
    assert_record("req:1", "in_progress", "fp", 2, token, 4000, 5000, NULL, 0);
}

static void begin_accepts_the_smallest_and_largest_lease(void **state)
{
    (void)state;
    begin_new("req:max", "fp", 1000000000000LL);
    long long left = pttl("req:max");
    if (left <= 999999000000LL || left > 1000000000000LL) fail_msg("PTTL %lld after a lease of " MAX_LEASE_MS, left);
    begin_new("req:min", "fp", 1);
}

static void begin_on_a_request_in_progress_answers_in_progress_with_the_remaining_lease(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 5000);
    long long left = begin_in_progress("req:1", "fp", 5000);
    if (left <= 4000 || left > 5000) fail_msg("in_progress with %lld ms left of a 5000 ms lease", left);
    /* another lease asked for does not change the owner's */
    left = begin_in_progress("req:1", "fp", 60000);
    if (left <= 4000 || left > 5000) fail_msg("in_progress with %lld ms left; a retry changed the lease", left);
    sg_sleep_ms(200);
    long long later = begin_in_progress("req:1", "fp", 5000);
    if (later >= left || later <= 0) fail_msg("in_progress with %lld ms left 200 ms after %lld", later, left);
    assert_record("req:1", "in_progress", "fp", 2, token, 1, 5000, NULL, 0);
}

static void begin_on_a_completed_request_answers_completed_with_the_response(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 5000);
    assert_int_equal(complete("req:1", token, "{\"status\":201}", 60), 1);
    begin_completed("req:1", "fp", "{\"status\":201}");
    begin_completed("req:1", "fp", "{\"status\":201}"); /* replays as often as asked */
}

static void begin_with_another_fingerprint_answers_mismatch_with_the_state(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fpA", 5000);
    begin_mismatch("req:1", "fpB", "in_progress");
    begin_mismatch("req:1", "fpA-longer", "in_progress");
    assert_record("req:1", "in_progress", "fpA", 3, token, 1, 5000, NULL, 0);
    assert_int_equal(complete("req:1", token, "resp", 60), 1);
    begin_mismatch("req:1", "fpB", "completed");
    begin_mismatch("req:1", "fp", "completed");
    begin_completed("req:1", "fpA", "resp");
}

/* Poll (bounded) until `key` is gone. */
static void wait_until_gone(const char *key)
{
    int64_t deadline = sg_now_ms() + EXPIRY_WAIT_LIMIT_MS;
    while (exists(key) == 1) {
        if (sg_now_ms() > deadline) fail_msg("%s still exists after %d ms", key, EXPIRY_WAIT_LIMIT_MS);
        sg_sleep_ms(20);
    }
}

static void when_a_lease_ends_the_next_begin_gets_new_with_a_larger_token(void **state)
{
    (void)state;
    long long first = begin_new("req:1", "fp", 100);
    /* bounded poll with BEGIN itself: in_progress until the lease ends, then new */
    int64_t deadline = sg_now_ms() + EXPIRY_WAIT_LIMIT_MS;
    long long second = 0;
    while (second == 0) {
        if (sg_now_ms() > deadline) fail_msg("still in progress %d ms after a 100 ms lease", EXPIRY_WAIT_LIMIT_MS);
        redisReply *r = begin_raw("req:1", "fp", 2, 5000);
        if (sg_reply_is_text(r->element[0], "new")) {
            second = r->element[1]->integer;
        } else if (sg_reply_is_text(r->element[0], "in_progress")) {
            long long left = r->element[1]->integer;
            if (left < 0 || left > 100) fail_begin("req:1", "[in_progress, 0..100 ms]", r);
        } else {
            fail_begin("req:1", "[in_progress, ...] or [new, ...]", r);
        }
        freeReplyObject(r);
        if (second == 0) sg_sleep_ms(10);
    }
    if (second <= first) fail_msg("token %lld after the lease of token %lld ended", second, first);
    assert_record("req:1", "in_progress", "fp", 2, second, 4000, 5000, NULL, 0);
}

static void a_lease_ends_without_any_client_touching_the_key(void **state)
{
    (void)state;
    begin_new("req:1", "fp", 100);
    /* DBSIZE does not touch the key: only Redis's active expiry can remove it */
    int64_t deadline = sg_now_ms() + EXPIRY_WAIT_LIMIT_MS;
    while (sg_command_integer(conn, "DBSIZE") != 0) {
        if (sg_now_ms() > deadline) fail_msg("the record is still there %d ms after its lease", EXPIRY_WAIT_LIMIT_MS);
        sg_sleep_ms(50);
    }
}

static void begin_accepts_binary_fingerprints_of_up_to_1024_bytes(void **state)
{
    (void)state;
    static const char fp[] = {'a', '\0', 'b', '\r', '\n', '\0'};
    long long token = begin_new_bin("req:bin", fp, sizeof(fp), 5000);
    /* a fingerprint that differs after the NUL byte is another request */
    static const char other[] = {'a', '\0', 'c', '\r', '\n', '\0'};
    redisReply *r = begin_raw("req:bin", other, sizeof(other), 5000);
    if (!sg_reply_is_text(r->element[0], "mismatch")) fail_begin("req:bin", "[mismatch, in_progress]", r);
    freeReplyObject(r);
    r = begin_raw("req:bin", fp, 1, 5000); /* the prefix before the NUL byte */
    if (!sg_reply_is_text(r->element[0], "mismatch")) fail_begin("req:bin", "[mismatch, in_progress]", r);
    freeReplyObject(r);
    assert_record("req:bin", "in_progress", fp, sizeof(fp), token, 1, 5000, NULL, 0);

    char big[MAX_FINGERPRINT_LEN];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = (char)(i * 7);
    long long big_token = begin_new_bin("req:big", big, sizeof(big), 5000);
    assert_record("req:big", "in_progress", big, sizeof(big), big_token, 1, 5000, NULL, 0);
    assert_int_equal(complete("req:big", big_token, "r", 60), 1);
    begin_completed_bin("req:big", big, sizeof(big), "r", 1);
}

/* ---- IDEMP.COMPLETE ------------------------------------------------------------------------- */

static void complete_by_the_owner_answers_one_and_stores_the_response(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 5000);
    assert_int_equal(complete("req:1", token, "done", 60), 1);
    assert_record("req:1", "completed", "fp", 2, token, 59000, 60000, "done", 4);
}

static void a_completed_record_lives_for_the_ttl_given(void **state)
{
    (void)state;
    /* a ttl longer than the lease */
    long long token = begin_new("req:long", "fp", 1000);
    assert_int_equal(complete("req:long", token, "r", 3600), 1);
    long long ttl = sg_command_integer(conn, "TTL req:long");
    if (ttl < 3599 || ttl > 3600) fail_msg("TTL %lld of a record completed with ttl 3600", ttl);
    long long left = pttl("req:long");
    if (left <= 3599000 || left > 3600000) fail_msg("PTTL %lld of a record completed with ttl 3600", left);
    /* a ttl shorter than the lease */
    token = begin_new("req:short", "fp", 600000);
    assert_int_equal(complete("req:short", token, "r", 10), 1);
    left = pttl("req:short");
    if (left <= 9000 || left > 10000) fail_msg("PTTL %lld of a record completed with ttl 10", left);
    /* the largest ttl */
    token = begin_new("req:max", "fp", 1000);
    assert_int_equal(complete("req:max", token, "r", 1000000000), 1);
    ttl = sg_command_integer(conn, "TTL req:max");
    if (ttl < 999999999 || ttl > 1000000000) fail_msg("TTL %lld of a record completed with ttl " MAX_TTL_S, ttl);
}

static void a_completed_record_is_gone_when_its_ttl_ends_and_begin_is_new_again(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 5000);
    assert_int_equal(complete("req:1", token, "r", 1), 1);
    wait_until_gone("req:1");
    long long next = begin_new("req:1", "fp", 5000);
    if (next <= token) fail_msg("token %lld after the completed record of token %lld ended", next, token);
}

static void complete_retried_with_the_same_token_answers_two_and_changes_nothing(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 5000);
    assert_int_equal(complete("req:1", token, "first", 60), 1);
    char *before = value_digest("req:1");
    long long left = pttl("req:1");
    sg_sleep_ms(20);
    assert_int_equal(complete("req:1", token, "first", 60), 2);
    assert_int_equal(complete("req:1", token, "second", 3600), 2);
    char *after = value_digest("req:1");
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("a retried IDEMP.COMPLETE changed the record");
    long long now = pttl("req:1");
    if (now > left) fail_msg("a retried IDEMP.COMPLETE lengthened the expiry (%lld -> %lld)", left, now);
    assert_record("req:1", "completed", "fp", 2, token, 1, 60000, "first", 5);
}

static void complete_with_a_wrong_token_answers_zero_and_stores_nothing(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 5000);
    char *before = value_digest("req:1");
    assert_int_equal(complete("req:1", token + 1, "intruder", 60), 0);
    assert_int_equal(complete("req:1", token - 1, "intruder", 60), 0);
    assert_int_equal(complete("req:1", 1, "intruder", 60), 0);
    char *after = value_digest("req:1");
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("IDEMP.COMPLETE with a wrong token changed the record");
    assert_record("req:1", "in_progress", "fp", 2, token, 1, 5000, NULL, 0);
    /* and on a completed record */
    assert_int_equal(complete("req:1", token, "mine", 60), 1);
    assert_int_equal(complete("req:1", token + 1, "intruder", 60), 0);
    assert_record("req:1", "completed", "fp", 2, token, 1, 60000, "mine", 4);
}

static void complete_on_a_key_without_record_answers_zero_and_creates_nothing(void **state)
{
    (void)state;
    assert_int_equal(complete("req:none", 12345, "r", 60), 0);
    assert_int_equal(exists("req:none"), 0);
}

static void complete_after_the_lease_ended_answers_zero_and_stores_nothing(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 100);
    sg_sleep_ms(150);
    /* no client touched the key: COMPLETE itself must see that the lease ended */
    assert_int_equal(complete("req:1", token, "late", 60), 0);
    assert_int_equal(exists("req:1"), 0);
    sg_command_nil(conn, "IDEMP.GET req:1");
    begin_new("req:1", "fp", 5000);
}

static void complete_after_another_caller_began_again_answers_zero(void **state)
{
    (void)state;
    long long first = begin_new("req:1", "fp", 100);
    wait_until_gone("req:1");
    long long second = begin_new("req:1", "fp", 5000);
    assert_true(second > first);
    assert_int_equal(complete("req:1", first, "stale", 60), 0);
    assert_record("req:1", "in_progress", "fp", 2, second, 1, 5000, NULL, 0);
    assert_int_equal(abort_request("req:1", first), 0);
    assert_record("req:1", "in_progress", "fp", 2, second, 1, 5000, NULL, 0);
    assert_int_equal(complete("req:1", second, "fresh", 60), 1);
    assert_int_equal(complete("req:1", first, "stale", 60), 0);
    assert_record("req:1", "completed", "fp", 2, second, 1, 60000, "fresh", 5);
}

static void responses_are_binary_safe(void **state)
{
    (void)state;
    static const char fp[] = {'f', '\0', '\r', '\n'};
    static const char response[] = {'\0', 'H', 'T', 'T', 'P', '\r', '\n', '\r', '\n', '\0', 'b', 'o', 'd', 'y', '\0'};
    long long token = begin_new_bin("req:bin", fp, sizeof(fp), 5000);
    assert_int_equal(complete_bin("req:bin", token, response, sizeof(response), 60), 1);
    begin_completed_bin("req:bin", fp, sizeof(fp), response, sizeof(response));
    assert_record("req:bin", "completed", fp, sizeof(fp), token, 1, 60000, response, sizeof(response));

    size_t big_len = 1 << 20;
    char *big = malloc(big_len);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++) big[i] = (char)(i * 31 + 7);
    token = begin_new("req:big", "fp", 5000);
    assert_int_equal(complete_bin("req:big", token, big, big_len, 60), 1);
    redisReply *r = begin_raw("req:big", "fp", 2, 5000);
    int same = sg_reply_is_text(r->element[0], "completed") && reply_is_bytes(r->element[1], big, big_len);
    freeReplyObject(r);
    free(big);
    if (!same) fail_msg("a 1 MiB response did not come back byte for byte");
}

static void an_empty_response_is_stored_and_replayed_as_an_empty_string(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 5000);
    assert_int_equal(complete_bin("req:1", token, "", 0, 60), 1);
    begin_completed_bin("req:1", "fp", 2, "", 0);
    assert_record("req:1", "completed", "fp", 2, token, 1, 60000, "", 0);
    assert_int_equal(complete_bin("req:1", token, "", 0, 60), 2);
}

/* ---- IDEMP.ABORT ---------------------------------------------------------------------------- */

static void abort_by_the_owner_answers_one_and_the_next_begin_is_new(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 5000);
    assert_int_equal(abort_request("req:1", token), 1);
    assert_int_equal(exists("req:1"), 0);
    assert_int_equal(abort_request("req:1", token), 0);
    long long next = begin_new("req:1", "fp", 5000);
    if (next <= token) fail_msg("token %lld after an abort of token %lld", next, token);
    /* the aborted token cannot complete the new processing */
    assert_int_equal(complete("req:1", token, "stale", 60), 0);
    /* after an abort the key may be reused with another fingerprint */
    assert_int_equal(abort_request("req:1", next), 1);
    begin_new("req:1", "other", 5000);
}

static void abort_with_a_wrong_token_answers_zero_and_keeps_the_record(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 5000);
    assert_int_equal(abort_request("req:1", token + 1), 0);
    assert_int_equal(abort_request("req:1", 1), 0);
    assert_record("req:1", "in_progress", "fp", 2, token, 1, 5000, NULL, 0);
    begin_in_progress("req:1", "fp", 5000);
}

static void abort_of_a_completed_request_answers_zero_and_keeps_the_response(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 5000);
    assert_int_equal(complete("req:1", token, "kept", 60), 1);
    assert_int_equal(abort_request("req:1", token), 0);
    begin_completed("req:1", "fp", "kept");
}

static void abort_of_a_key_without_record_answers_zero(void **state)
{
    (void)state;
    assert_int_equal(abort_request("req:none", 12345), 0);
    assert_int_equal(exists("req:none"), 0);
    long long token = begin_new("req:1", "fp", 100);
    wait_until_gone("req:1");
    assert_int_equal(abort_request("req:1", token), 0);
}

/* ---- IDEMP.GET ------------------------------------------------------------------------------ */

static void get_reports_every_field_of_a_request_in_progress(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fingerprint-1", 5000);
    record_view v = get_record("req:1");
    char problem[200] = "";
    if (!v.present) snprintf(problem, sizeof(problem), "nil");
    else if (strcmp(v.state, "in_progress") != 0) snprintf(problem, sizeof(problem), "state %s", v.state);
    else if (v.fingerprint_len != 13 || memcmp(v.fingerprint, "fingerprint-1", 13) != 0)
        snprintf(problem, sizeof(problem), "fingerprint %s", v.fingerprint);
    else if (v.token != token) snprintf(problem, sizeof(problem), "token %lld, BEGIN gave %lld", v.token, token);
    else if (v.ttl <= 4000 || v.ttl > 5000) snprintf(problem, sizeof(problem), "ttl %lld of a 5000 ms lease", v.ttl);
    else if (v.has_response) snprintf(problem, sizeof(problem), "response not nil while in progress");
    record_view_free(&v);
    if (problem[0] != '\0') fail_msg("IDEMP.GET req:1: %s", problem);
}

static void get_reports_every_field_of_a_completed_request(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fingerprint-1", 5000);
    assert_int_equal(complete("req:1", token, "the response", 120), 1);
    assert_record("req:1", "completed", "fingerprint-1", 13, token, 119000, 120000, "the response", 12);
}

static void get_returns_nil_for_a_key_without_record(void **state)
{
    (void)state;
    sg_command_nil(conn, "IDEMP.GET req:none");
    long long token = begin_new("req:1", "fp", 5000);
    assert_int_equal(abort_request("req:1", token), 1);
    sg_command_nil(conn, "IDEMP.GET req:1");
}

static void get_changes_nothing(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "fp", 5000);
    char *before = sg_debug_digest(conn);
    record_view v = get_record("req:1");
    record_view_free(&v);
    char *after = sg_debug_digest(conn);
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("IDEMP.GET changed the dataset");
    assert_record("req:1", "in_progress", "fp", 2, token, 1, 5000, NULL, 0);
}

/* ---- IDEMP.RECORD --------------------------------------------------------------------------- */

static void record_sets_an_exact_request_in_progress(void **state)
{
    (void)state;
    long long deadline = unix_ms() + 60000;
    sg_command_status(conn, "OK", "IDEMP.RECORD req:1 IN_PROGRESS fp 4242 %lld", deadline);
    assert_type("req:1", "sg-idemp0");
    assert_record("req:1", "in_progress", "fp", 2, 4242, 58000, 60000, NULL, 0);
    long long left = begin_in_progress("req:1", "fp", 5000);
    if (left <= 58000 || left > 60000) fail_msg("in_progress with %lld ms left of a 60 s deadline", left);
    begin_mismatch("req:1", "other", "in_progress");
    assert_int_equal(complete("req:1", 4242, "by the recorded token", 60), 1);
    begin_completed("req:1", "fp", "by the recorded token");
}

static void record_sets_an_exact_completed_request_with_a_binary_response(void **state)
{
    (void)state;
    static const char fp[] = {'f', '\0', 'p'};
    static const char response[] = {'r', '\r', '\n', '\0'};
    long long deadline = unix_ms() + 60000;
    redisReply *r = sg_command(conn, "IDEMP.RECORD req:1 COMPLETED %b 777 %lld %b", fp, sizeof(fp), deadline, response,
                               sizeof(response));
    int ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    freeReplyObject(r);
    if (!ok) fail_msg("IDEMP.RECORD ... COMPLETED answered %s", got);
    assert_record("req:1", "completed", fp, sizeof(fp), 777, 58000, 60000, response, sizeof(response));
    begin_completed_bin("req:1", fp, sizeof(fp), response, sizeof(response));
    assert_int_equal(complete("req:1", 777, "again", 60), 2);
    /* an empty response */
    sg_command_status(conn, "OK", "IDEMP.RECORD req:2 COMPLETED fp 778 %lld %b", deadline, "", (size_t)0);
    assert_record("req:2", "completed", "fp", 2, 778, 58000, 60000, "", 0);
}

static void record_replaces_an_existing_record(void **state)
{
    (void)state;
    long long token = begin_new("req:1", "old", 5000);
    assert_int_equal(complete("req:1", token, "old response", 60), 1);
    long long deadline = unix_ms() + 30000;
    sg_command_status(conn, "OK", "IDEMP.RECORD req:1 IN_PROGRESS new %lld %lld", token + 5, deadline);
    assert_record("req:1", "in_progress", "new", 3, token + 5, 28000, 30000, NULL, 0);
}

static void tokens_after_a_record_are_larger_than_its_token(void **state)
{
    (void)state;
    long long ahead = unix_ms() * 1000 + 3600000000LL; /* an hour ahead of the clock, in microseconds */
    sg_command_status(conn, "OK", "IDEMP.RECORD req:ahead IN_PROGRESS fp %lld %lld", ahead, unix_ms() + 60000);
    assert_int_equal(sg_command_integer(conn, "DEL req:ahead"), 1);
    long long next = begin_new("req:other", "fp", 5000);
    if (next <= ahead) fail_msg("token %lld after IDEMP.RECORD of token %lld", next, ahead);
}

static void tokens_increase_across_begins_on_different_keys(void **state)
{
    (void)state;
    long long last = 0;
    char key[32];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "req:%d", i % 5);
        long long token = begin_new(key, "fp", 5000);
        if (token <= last) fail_msg("token %lld after %lld", token, last);
        last = token;
        assert_int_equal(abort_request(key, token), 1);
    }
}

/* ---- COMMAND DOCS, COMMAND INFO, INFO ------------------------------------------------------ */

typedef struct command_spec {
    const char *name;
    int arity;
    int check_flags; /* README states the flags */
    int write;       /* else readonly */
    int denyoom;
    int fast;
} command_spec;

static const command_spec commands[] = {
    {"idemp.setnx", -3, 1, 1, 1, 1}, {"idemp.begin", 4, 1, 1, 1, 1}, {"idemp.complete", 5, 1, 1, 1, 0},
    {"idemp.abort", 3, 1, 1, 0, 1},  {"idemp.get", 2, 1, 0, 0, 1},   {"idemp.record", -6, 0, 1, 0, 0},
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static int has_flag(const redisReply *flags, const char *flag)
{
    for (size_t i = 0; i < flags->elements; i++) {
        if (sg_reply_is_text(flags->element[i], flag)) return 1;
    }
    return 0;
}

/* The value of `field` in a RESP2 flat map (array of field, value), or NULL. */
static const redisReply *map_get(const redisReply *map, const char *field)
{
    if (map == NULL || map->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < map->elements; i += 2) {
        if (sg_reply_is_text(map->element[i], field)) return map->element[i + 1];
    }
    return NULL;
}

static void command_info_describes_every_idemp_command_with_key_position_one(void **state)
{
    (void)state;
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const command_spec *spec = &commands[i];
        redisReply *r = sg_command(conn, "COMMAND INFO %s", spec->name);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(r->elements, 1);
        const redisReply *e = r->element[0];
        char problem[300] = "";
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 9) {
            snprintf(problem, sizeof(problem), "no entry");
        } else if (!sg_reply_is_text(e->element[0], spec->name)) {
            snprintf(problem, sizeof(problem), "another name");
        } else if (e->element[1]->integer != spec->arity) {
            snprintf(problem, sizeof(problem), "arity %lld, expected %d", e->element[1]->integer, spec->arity);
        } else if (e->element[2]->type != REDIS_REPLY_ARRAY) {
            snprintf(problem, sizeof(problem), "no flags");
        } else if (!has_flag(e->element[2], "write") != !spec->write ||
                   !has_flag(e->element[2], "readonly") == !spec->write ||
                   (spec->check_flags && (!has_flag(e->element[2], "denyoom") != !spec->denyoom ||
                                          !has_flag(e->element[2], "fast") != !spec->fast))) {
            snprintf(problem, sizeof(problem), "flags differ from README (write=%d denyoom=%d fast=%d)", spec->write,
                     spec->denyoom, spec->fast);
        } else if (e->element[3]->integer != 1 || e->element[4]->integer != 1 || e->element[5]->integer != 1) {
            snprintf(problem, sizeof(problem), "keys first=%lld last=%lld step=%lld, expected 1 1 1",
                     e->element[3]->integer, e->element[4]->integer, e->element[5]->integer);
        } else {
            const redisReply *specs = e->element[8];
            const redisReply *search = specs->type == REDIS_REPLY_ARRAY && specs->elements == 1
                                           ? map_get(specs->element[0], "begin_search")
                                           : NULL;
            const redisReply *index = map_get(map_get(search, "spec"), "index");
            if (index == NULL || index->type != REDIS_REPLY_INTEGER || index->integer != 1)
                snprintf(problem, sizeof(problem), "no key spec with the key at index 1");
        }
        freeReplyObject(r);
        if (problem[0] != '\0') fail_msg("COMMAND INFO %s: %s", spec->name, problem);
    }
}

static void command_docs_describe_every_idemp_command(void **state)
{
    (void)state;
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const char *name = commands[i].name;
        redisReply *r = sg_command(conn, "COMMAND DOCS %s", name);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        const redisReply *doc = map_get(r, name);
        const redisReply *summary = map_get(doc, "summary");
        const redisReply *complexity = map_get(doc, "complexity");
        const redisReply *arguments = map_get(doc, "arguments");
        const redisReply *first = arguments != NULL && arguments->type == REDIS_REPLY_ARRAY && arguments->elements > 0
                                      ? arguments->element[0]
                                      : NULL;
        const redisReply *first_type = map_get(first, "type");
        int ok = summary != NULL && summary->len > 0 && complexity != NULL && complexity->len > 0 && first != NULL &&
                 sg_reply_is_text(first_type, "key");
        freeReplyObject(r);
        if (!ok) fail_msg("COMMAND DOCS %s lacks a summary, complexity or arguments starting with the key", name);
    }
}

static const char *const idemp_counters[] = {
    "slotguard_idemp_setnx_recorded",  "slotguard_idemp_setnx_seen",        "slotguard_idemp_begin_new",
    "slotguard_idemp_begin_in_progress", "slotguard_idemp_begin_completed", "slotguard_idemp_begin_mismatch",
    "slotguard_idemp_complete_stored", "slotguard_idemp_complete_lost",     "slotguard_idemp_abort_freed",
    "slotguard_idemp_abort_not_held",
};
#define COUNTER_COUNT (sizeof(idemp_counters) / sizeof(idemp_counters[0]))

/* Every counter of INFO slotguard named in README; fails when one is missing. */
static void read_counters(long long *out)
{
    redisReply *r = sg_command(conn, "INFO slotguard");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    for (size_t i = 0; i < COUNTER_COUNT; i++) {
        out[i] = -1;
        size_t len = strlen(idemp_counters[i]);
        const char *p = r->str;
        while (p != NULL && *p != '\0') {
            if (strncmp(p, idemp_counters[i], len) == 0 && p[len] == ':') {
                out[i] = strtoll(p + len + 1, NULL, 10);
                break;
            }
            p = strchr(p, '\n');
            if (p != NULL) p++;
        }
    }
    freeReplyObject(r);
    for (size_t i = 0; i < COUNTER_COUNT; i++) {
        if (out[i] < 0) fail_msg("INFO slotguard has no %s", idemp_counters[i]);
    }
}

static void info_slotguard_idemp_counters_count_each_outcome(void **state)
{
    (void)state;
    long long before[COUNTER_COUNT], after[COUNTER_COUNT];
    read_counters(before);
    sg_command_integer(conn, "IDEMP.SETNX msg:1 100");      /* setnx_recorded */
    sg_command_integer(conn, "IDEMP.SETNX msg:1 100");      /* setnx_seen */
    long long token = begin_new("req:1", "fp", 5000);       /* begin_new */
    begin_in_progress("req:1", "fp", 5000);                 /* begin_in_progress */
    begin_mismatch("req:1", "other", "in_progress");        /* begin_mismatch */
    assert_int_equal(complete("req:1", token + 1, "r", 60), 0); /* complete_lost */
    assert_int_equal(complete("req:1", token, "r", 60), 1); /* complete_stored */
    begin_completed("req:1", "fp", "r");                    /* begin_completed */
    long long other = begin_new("req:2", "fp", 5000);       /* begin_new */
    assert_int_equal(abort_request("req:2", other + 1), 0); /* abort_not_held */
    assert_int_equal(abort_request("req:2", other), 1);     /* abort_freed */
    read_counters(after);
    static const long long expected[COUNTER_COUNT] = {1, 1, 2, 1, 1, 1, 1, 1, 1, 1};
    for (size_t i = 0; i < COUNTER_COUNT; i++) {
        if (after[i] - before[i] != expected[i]) {
            fail_msg("%s grew by %lld, expected %lld", idemp_counters[i], after[i] - before[i], expected[i]);
        }
    }
}

/* ---- bad input -------------------------------------------------------------------------------- */

#define BAD_TTL "@ttl"       /* run once per entry of bad_ttls */
#define BAD_LEASE "@lease"   /* run once per entry of bad_leases */
#define BAD_TOKEN "@token"   /* run once per entry of bad_tokens */
#define BAD_DEADLINE "@dl"   /* run once per entry of bad_deadlines */
#define OPEN_TOKEN "@owner"  /* replaced by the token that owns bad:open */
#define LONG_FP "@1025"      /* replaced by a 1025-byte fingerprint */
#define FAR_DEADLINE "99999999999999"

typedef struct bad_case {
    const char *expect; /* error prefix */
    const char *argv[10];
} bad_case;

/* ttl: integer seconds from 1 to 1000000000 */
static const char *const bad_ttls[] = {
    "0", "-1", "-9223372036854775808", "abc", "1.5", "10s", " 5", "", "9223372036854775808",
    "99999999999999999999", "1000000001",
};
/* lease: integer ms from 1 to 10^12 */
static const char *const bad_leases[] = {
    "0", "-1", "-9223372036854775808", "abc", "1.5", "10ms", " 5", "", "9223372036854775808",
    "99999999999999999999", "1000000000001",
};
static const char *const bad_tokens[] = {
    "0", "-1", "-9223372036854775808", "abc", "1.5", "", "9223372036854775808", "99999999999999999999",
};
static const char *const bad_deadlines[] = {"-1", "abc", "1.5", "", "99999999999999999999"};

static const bad_case bad_cases[] = {
    /* wrong arity */
    {"ERR wrong number of arguments", {"IDEMP.SETNX"}},
    {"ERR wrong number of arguments", {"IDEMP.SETNX", "bad:free"}},
    {"ERR wrong number of arguments", {"IDEMP.SETNX", "bad:free", "10", "v", "x"}},
    {"ERR wrong number of arguments", {"IDEMP.BEGIN"}},
    {"ERR wrong number of arguments", {"IDEMP.BEGIN", "bad:free"}},
    {"ERR wrong number of arguments", {"IDEMP.BEGIN", "bad:free", "fp"}},
    {"ERR wrong number of arguments", {"IDEMP.BEGIN", "bad:free", "fp", "1000", "x"}},
    {"ERR wrong number of arguments", {"IDEMP.COMPLETE"}},
    {"ERR wrong number of arguments", {"IDEMP.COMPLETE", "bad:open"}},
    {"ERR wrong number of arguments", {"IDEMP.COMPLETE", "bad:open", OPEN_TOKEN}},
    {"ERR wrong number of arguments", {"IDEMP.COMPLETE", "bad:open", OPEN_TOKEN, "r"}},
    {"ERR wrong number of arguments", {"IDEMP.COMPLETE", "bad:open", OPEN_TOKEN, "r", "10", "x"}},
    {"ERR wrong number of arguments", {"IDEMP.ABORT"}},
    {"ERR wrong number of arguments", {"IDEMP.ABORT", "bad:open"}},
    {"ERR wrong number of arguments", {"IDEMP.ABORT", "bad:open", OPEN_TOKEN, "x"}},
    {"ERR wrong number of arguments", {"IDEMP.GET"}},
    {"ERR wrong number of arguments", {"IDEMP.GET", "bad:open", "x"}},
    {"ERR wrong number of arguments", {"IDEMP.RECORD"}},
    {"ERR wrong number of arguments", {"IDEMP.RECORD", "bad:free", "IN_PROGRESS", "fp", "5"}},
    {"ERR wrong number of arguments", {"IDEMP.RECORD", "bad:free", "COMPLETED", "fp", "5", FAR_DEADLINE, "r", "x"}},
    /* bad ttl, lease, token and deadline values (each run with every entry of its list) */
    {"ERR invalid ttl", {"IDEMP.SETNX", "bad:free", BAD_TTL}},
    {"ERR invalid ttl", {"IDEMP.SETNX", "bad:free", BAD_TTL, "value"}},
    {"ERR invalid lease", {"IDEMP.BEGIN", "bad:free", "fp", BAD_LEASE}},
    {"ERR invalid lease", {"IDEMP.BEGIN", "bad:open", "fp-open", BAD_LEASE}},
    {"ERR invalid lease", {"IDEMP.BEGIN", "bad:done", "fp-done", BAD_LEASE}},
    {"ERR invalid ttl", {"IDEMP.COMPLETE", "bad:open", OPEN_TOKEN, "response", BAD_TTL}},
    {"ERR invalid ttl", {"IDEMP.COMPLETE", "bad:free", "5", "response", BAD_TTL}},
    {"ERR invalid token", {"IDEMP.COMPLETE", "bad:open", BAD_TOKEN, "response", "10"}},
    {"ERR invalid token", {"IDEMP.COMPLETE", "bad:free", BAD_TOKEN, "response", "10"}},
    {"ERR invalid token", {"IDEMP.ABORT", "bad:open", BAD_TOKEN}},
    {"ERR invalid token", {"IDEMP.ABORT", "bad:free", BAD_TOKEN}},
    {"ERR invalid token", {"IDEMP.RECORD", "bad:free", "IN_PROGRESS", "fp", BAD_TOKEN, FAR_DEADLINE}},
    {"ERR invalid token", {"IDEMP.RECORD", "bad:open", "COMPLETED", "fp", BAD_TOKEN, FAR_DEADLINE, "r"}},
    {"ERR ", {"IDEMP.RECORD", "bad:free", "IN_PROGRESS", "fp", "5", BAD_DEADLINE}},
    {"ERR ", {"IDEMP.RECORD", "bad:open", "COMPLETED", "fp", "5", BAD_DEADLINE, "r"}},
    /* fingerprints: 1 to 1024 bytes */
    {"ERR invalid fingerprint", {"IDEMP.BEGIN", "bad:free", "", "1000"}},
    {"ERR invalid fingerprint", {"IDEMP.BEGIN", "bad:free", LONG_FP, "1000"}},
    {"ERR invalid fingerprint", {"IDEMP.BEGIN", "bad:open", "", "1000"}},
    {"ERR invalid fingerprint", {"IDEMP.BEGIN", "bad:done", LONG_FP, "1000"}},
    {"ERR invalid fingerprint", {"IDEMP.RECORD", "bad:free", "IN_PROGRESS", "", "5", FAR_DEADLINE}},
    {"ERR invalid fingerprint", {"IDEMP.RECORD", "bad:free", "IN_PROGRESS", LONG_FP, "5", FAR_DEADLINE}},
    {"ERR invalid fingerprint", {"IDEMP.RECORD", "bad:open", "COMPLETED", LONG_FP, "5", FAR_DEADLINE, "r"}},
    /* IDEMP.RECORD's state word, and its response only with COMPLETED */
    {"ERR ", {"IDEMP.RECORD", "bad:free", "sideways", "fp", "5", FAR_DEADLINE}},
    {"ERR ", {"IDEMP.RECORD", "bad:free", "sideways", "fp", "5", FAR_DEADLINE, "r"}},
    {"ERR ", {"IDEMP.RECORD", "bad:free", "", "fp", "5", FAR_DEADLINE}},
    {"ERR ", {"IDEMP.RECORD", "bad:free", "new", "fp", "5", FAR_DEADLINE}},
    {"ERR ", {"IDEMP.RECORD", "bad:free", "COMPLETED", "fp", "5", FAR_DEADLINE}},
    {"ERR ", {"IDEMP.RECORD", "bad:open", "COMPLETED", "fp", "5", FAR_DEADLINE}},
    {"ERR ", {"IDEMP.RECORD", "bad:free", "IN_PROGRESS", "fp", "5", FAR_DEADLINE, "r"}},
    /* wrong key types: a string and a list */
    {"WRONGTYPE ", {"IDEMP.BEGIN", "bad:string", "fp", "1000"}},
    {"WRONGTYPE ", {"IDEMP.BEGIN", "bad:list", "fp", "1000"}},
    {"WRONGTYPE ", {"IDEMP.COMPLETE", "bad:string", OPEN_TOKEN, "r", "10"}},
    {"WRONGTYPE ", {"IDEMP.COMPLETE", "bad:list", "5", "r", "10"}},
    {"WRONGTYPE ", {"IDEMP.ABORT", "bad:string", OPEN_TOKEN}},
    {"WRONGTYPE ", {"IDEMP.ABORT", "bad:list", "5"}},
    {"WRONGTYPE ", {"IDEMP.GET", "bad:string"}},
    {"WRONGTYPE ", {"IDEMP.GET", "bad:list"}},
};

static long long fixture_open_token;
static long long fixture_done_token;

/* bad:open in progress for a long time, bad:done completed, bad:string, bad:list; bad:free does
 * not exist. */
static void make_bad_input_fixture(void)
{
    fixture_open_token = begin_new("bad:open", "fp-open", LONG_LEASE_MS);
    fixture_done_token = begin_new("bad:done", "fp-done", 10000);
    assert_int_equal(complete("bad:done", fixture_done_token, "done-response", 100000), 1);
    sg_command_status(conn, "OK", "SET bad:string hello");
    sg_command_integer(conn, "RPUSH bad:list a b");
}

/* A text picture of the fixture that does not rely on the module's digest callback. */
static char *fixture_picture(void)
{
    record_view open = get_record("bad:open");
    record_view done = get_record("bad:done");
    char *out = malloc(512);
    assert_non_null(out);
    snprintf(out, 512,
             "open=%d:%s:%.*s:%lld:%d done=%d:%s:%.*s:%lld:%.*s free=%lld keys=%lld string=%lld list=%lld",
             open.present, open.state, (int)open.fingerprint_len, open.fingerprint ? open.fingerprint : "",
             open.token, open.has_response, done.present, done.state, (int)done.fingerprint_len,
             done.fingerprint ? done.fingerprint : "", done.token, (int)done.response_len,
             done.response ? done.response : "", exists("bad:free"), sg_command_integer(conn, "DBSIZE"),
             sg_command_integer(conn, "STRLEN bad:string"), sg_command_integer(conn, "LLEN bad:list"));
    record_view_free(&open);
    record_view_free(&done);
    return out;
}

static int starts_with_code(const char *s)
{
    return strncmp(s, "ERR ", 4) == 0 || strncmp(s, "WRONGTYPE ", 10) == 0;
}

/* Run one bad command; problem is "" when it was refused as expected and changed nothing. */
static void check_bad_command(int argc, const char **argv, const size_t *argvlen, const char *expect,
                              const char *digest, const char *picture, char *problem, size_t size)
{
    problem[0] = '\0';
    redisReply *r = sg_command_args(conn, argc, argv, argvlen);
    if (r->type != REDIS_REPLY_ERROR) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        snprintf(problem, size, "not an error: %s", got);
    } else if (!starts_with_code(r->str)) {
        snprintf(problem, size, "error without a code: \"%.200s\"", r->str);
    } else if (strncmp(r->str, expect, strlen(expect)) != 0) {
        snprintf(problem, size, "expected \"%s...\", got \"%.200s\"", expect, r->str);
    }
    freeReplyObject(r);
    if (problem[0] == '\0') {
        char *digest_now = sg_debug_digest(conn);
        char *picture_now = fixture_picture();
        if (strcmp(digest, digest_now) != 0 || strcmp(picture, picture_now) != 0) {
            snprintf(problem, size, "the dataset changed: %.200s", picture_now);
        }
        free(digest_now);
        free(picture_now);
    }
}

/* The list a placeholder stands for, or NULL. */
static const char *const *value_list(const char *arg, size_t *count)
{
    if (strcmp(arg, BAD_TTL) == 0) {
        *count = sizeof(bad_ttls) / sizeof(bad_ttls[0]);
        return bad_ttls;
    }
    if (strcmp(arg, BAD_LEASE) == 0) {
        *count = sizeof(bad_leases) / sizeof(bad_leases[0]);
        return bad_leases;
    }
    if (strcmp(arg, BAD_TOKEN) == 0) {
        *count = sizeof(bad_tokens) / sizeof(bad_tokens[0]);
        return bad_tokens;
    }
    if (strcmp(arg, BAD_DEADLINE) == 0) {
        *count = sizeof(bad_deadlines) / sizeof(bad_deadlines[0]);
        return bad_deadlines;
    }
    *count = 1;
    return NULL;
}

static void bad_input_is_rejected_with_a_coded_error_and_changes_nothing(void **state)
{
    (void)state;
    make_bad_input_fixture();
    char long_fp[MAX_FINGERPRINT_LEN + 1];
    memset(long_fp, 'f', sizeof(long_fp));
    char *digest = sg_debug_digest(conn);
    char *picture = fixture_picture();

    size_t report_size = 32768, report_len = 0;
    char *report = calloc(1, report_size);
    assert_non_null(report);
    int failures = 0, runs = 0;
    for (size_t k = 0; k < sizeof(bad_cases) / sizeof(bad_cases[0]); k++) {
        const bad_case *bc = &bad_cases[k];
        size_t variants = 1;
        for (int a = 0; a < 10 && bc->argv[a] != NULL; a++) {
            size_t count;
            if (value_list(bc->argv[a], &count) != NULL) variants = count;
        }
        for (size_t n = 0; n < variants; n++) {
            const char *argv[10];
            size_t argvlen[10];
            char owner_token[32];
            int argc = 0;
            char shown[300] = "";
            size_t shown_len = 0;
            for (; argc < 10 && bc->argv[argc] != NULL; argc++) {
                const char *arg = bc->argv[argc];
                size_t count;
                const char *const *list = value_list(arg, &count);
                const char *label = arg;
                size_t len = strlen(arg);
                if (list != NULL) {
                    arg = label = list[n];
                    len = strlen(arg);
                } else if (strcmp(arg, LONG_FP) == 0) {
                    arg = long_fp;
                    len = sizeof(long_fp);
                    label = "<1025 bytes>";
                } else if (strcmp(arg, OPEN_TOKEN) == 0) {
                    snprintf(owner_token, sizeof(owner_token), "%lld", fixture_open_token);
                    arg = label = owner_token;
                    len = strlen(arg);
                }
                argv[argc] = arg;
                argvlen[argc] = len;
                shown_len += (size_t)snprintf(shown + shown_len, sizeof(shown) - shown_len, "%s\"%s\"",
                                              argc ? " " : "", label);
                if (shown_len >= sizeof(shown)) shown_len = sizeof(shown) - 1;
            }
            char problem[400];
            check_bad_command(argc, argv, argvlen, bc->expect, digest, picture, problem, sizeof(problem));
            runs++;
            if (problem[0] == '\0') continue;
            failures++;
            if (report_len < report_size - 1) {
                report_len += (size_t)snprintf(report + report_len, report_size - report_len, "  [%zu] %s: %s\n", k,
                                               shown, problem);
                if (report_len > report_size - 1) report_len = report_size - 1;
            }
            /* rebuild the fixture so one bad case cannot hide or cause another */
            sg_command_status(conn, "OK", "FLUSHALL");
            make_bad_input_fixture();
            free(digest);
            free(picture);
            digest = sg_debug_digest(conn);
            picture = fixture_picture();
        }
    }
    free(digest);
    free(picture);
    print_message("%d bad commands tried\n", runs);
    if (failures > 0) {
        fprintf(stderr, "%d bad-input case(s) failed:\n%s", failures, report);
        free(report);
        fail_msg("%d bad-input case(s) failed", failures);
    }
    free(report);
}

#define IDEMP_TEST(name) cmocka_unit_test_setup(name, flush_dataset)

int main(void)
{
    const struct CMUnitTest tests[] = {
        IDEMP_TEST(setnx_answers_one_the_first_time_and_zero_after),
        IDEMP_TEST(setnx_stores_the_plain_string_one_by_default),
        IDEMP_TEST(setnx_stores_the_given_value_byte_for_byte),
        IDEMP_TEST(setnx_expires_the_key_in_ttl_seconds),
        IDEMP_TEST(setnx_with_ttl_one_is_gone_after_a_second_and_records_again),
        IDEMP_TEST(setnx_answers_zero_for_a_key_of_any_type_and_leaves_it_alone),
        IDEMP_TEST(a_key_made_by_set_nx_ex_is_seen_by_setnx),
        IDEMP_TEST(a_key_made_by_setnx_is_seen_by_set_nx_ex_and_looks_the_same),
        IDEMP_TEST(a_key_made_by_setnx_takes_the_set_nx_ex_encoding_after_a_reload),
        IDEMP_TEST(begin_on_a_free_key_answers_new_with_a_token_and_the_lease_as_expiry),
        IDEMP_TEST(begin_accepts_the_smallest_and_largest_lease),
        IDEMP_TEST(begin_on_a_request_in_progress_answers_in_progress_with_the_remaining_lease),
        IDEMP_TEST(begin_on_a_completed_request_answers_completed_with_the_response),
        IDEMP_TEST(begin_with_another_fingerprint_answers_mismatch_with_the_state),
        IDEMP_TEST(when_a_lease_ends_the_next_begin_gets_new_with_a_larger_token),
        IDEMP_TEST(a_lease_ends_without_any_client_touching_the_key),
        IDEMP_TEST(begin_accepts_binary_fingerprints_of_up_to_1024_bytes),
        IDEMP_TEST(complete_by_the_owner_answers_one_and_stores_the_response),
        IDEMP_TEST(a_completed_record_lives_for_the_ttl_given),
        IDEMP_TEST(a_completed_record_is_gone_when_its_ttl_ends_and_begin_is_new_again),
        IDEMP_TEST(complete_retried_with_the_same_token_answers_two_and_changes_nothing),
        IDEMP_TEST(complete_with_a_wrong_token_answers_zero_and_stores_nothing),
        IDEMP_TEST(complete_on_a_key_without_record_answers_zero_and_creates_nothing),
        IDEMP_TEST(complete_after_the_lease_ended_answers_zero_and_stores_nothing),
        IDEMP_TEST(complete_after_another_caller_began_again_answers_zero),
        IDEMP_TEST(responses_are_binary_safe),
        IDEMP_TEST(an_empty_response_is_stored_and_replayed_as_an_empty_string),
        IDEMP_TEST(abort_by_the_owner_answers_one_and_the_next_begin_is_new),
        IDEMP_TEST(abort_with_a_wrong_token_answers_zero_and_keeps_the_record),
        IDEMP_TEST(abort_of_a_completed_request_answers_zero_and_keeps_the_response),
        IDEMP_TEST(abort_of_a_key_without_record_answers_zero),
        IDEMP_TEST(get_reports_every_field_of_a_request_in_progress),
        IDEMP_TEST(get_reports_every_field_of_a_completed_request),
        IDEMP_TEST(get_returns_nil_for_a_key_without_record),
        IDEMP_TEST(get_changes_nothing),
        IDEMP_TEST(record_sets_an_exact_request_in_progress),
        IDEMP_TEST(record_sets_an_exact_completed_request_with_a_binary_response),
        IDEMP_TEST(record_replaces_an_existing_record),
        IDEMP_TEST(tokens_after_a_record_are_larger_than_its_token),
        IDEMP_TEST(tokens_increase_across_begins_on_different_keys),
        IDEMP_TEST(command_info_describes_every_idemp_command_with_key_position_one),
        IDEMP_TEST(command_docs_describe_every_idemp_command),
        IDEMP_TEST(info_slotguard_idemp_counters_count_each_outcome),
        IDEMP_TEST(bad_input_is_rejected_with_a_coded_error_and_changes_nothing),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
