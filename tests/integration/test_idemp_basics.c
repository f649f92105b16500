/* test_idemp_basics.c -- IDEMP.* against a real redis-server: the contract's replies, the SET NX EX
 * interchangeability, lease expiry, bad input, and survival of RDB/AOF restarts and replication. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "raw_commands.h"

/* IDEMP.BEGIN's two-element reply: the word into `word`, and the integer (0 for a bulk). A bulk
 * second element is copied into `bulk` when not NULL. */
static long long begin(redisContext *c, const char *key, const char *fp, long long lease, char *word, char *bulk) {
    redisReply *r = sg_command(c, "IDEMP.BEGIN %s %s %lld", key, fp, lease);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        int type = r->type;
        freeReplyObject(r);
        fail_msg("IDEMP.BEGIN %s: expected a two-element array, got reply type %d", key, type);
    }
    snprintf(word, 32, "%s", r->element[0]->str);
    long long value = 0;
    if (r->element[1]->type == REDIS_REPLY_INTEGER) value = r->element[1]->integer;
    else if (bulk) snprintf(bulk, 256, "%s", r->element[1]->str);
    freeReplyObject(r);
    return value;
}

/* ---- IDEMP.SETNX ------------------------------------------------------------------------------ */
static void setnx_records_a_key_once_with_the_value_and_ttl_of_set_nx_ex(void **state) {
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 100"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 100"), 0);
    redisReply *r = sg_command(sg_conn, "GET msg:1");
    assert_string_equal(r->str, "1");
    freeReplyObject(r);
    r = sg_command(sg_conn, "TYPE msg:1");
    assert_string_equal(r->str, "string");
    freeReplyObject(r);
    long long ttl = sg_command_integer(sg_conn, "TTL msg:1");
    assert_true(ttl > 95 && ttl <= 100);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:2 100 seen"), 1);
    r = sg_command(sg_conn, "GET msg:2");
    assert_string_equal(r->str, "seen");
    freeReplyObject(r);
}

static void setnx_and_set_nx_ex_see_each_others_keys(void **state) {
    (void)state;
    sg_command_status(sg_conn, "OK", "SET msg:a 1 NX EX 100");
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:a 100"), 0);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX msg:b 100"), 1);
    sg_command_nil(sg_conn, "SET msg:b 1 NX EX 100");
}

static void setnx_counts_a_key_of_any_type_as_seen(void **state) {
    (void)state;
    sg_command_integer(sg_conn, "LPUSH listkey x");
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.SETNX listkey 100"), 0);
}

/* ---- request records -------------------------------------------------------------------------- */
static void begin_answers_new_then_in_progress_then_mismatch(void **state) {
    (void)state;
    char word[32];
    long long token = begin(sg_conn, "req:1", "fpA", 5000, word, NULL);
    assert_string_equal(word, "new");
    assert_true(token > 0);
    long long left = begin(sg_conn, "req:1", "fpA", 5000, word, NULL);
    assert_string_equal(word, "in_progress");
    assert_true(left > 0 && left <= 5000);
    char bulk[256];
    begin(sg_conn, "req:1", "fpB", 5000, word, bulk);
    assert_string_equal(word, "mismatch");
    assert_string_equal(bulk, "in_progress");
}

static void complete_stores_the_response_for_replay_and_answers_two_for_its_retry(void **state) {
    (void)state;
    char word[32], bulk[256];
    long long token = begin(sg_conn, "req:2", "fp", 5000, word, NULL);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.COMPLETE req:2 %lld %s 60", token + 1, "wrong"), 0);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.COMPLETE req:2 %lld %s 60", token, "{\"ok\":1}"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.COMPLETE req:2 %lld %s 60", token, "{\"ok\":1}"), 2);
    begin(sg_conn, "req:2", "fp", 5000, word, bulk);
    assert_string_equal(word, "completed");
    assert_string_equal(bulk, "{\"ok\":1}");
    long long ttl = sg_command_integer(sg_conn, "TTL req:2");
    assert_true(ttl > 55 && ttl <= 60);
}

static void an_expired_lease_lets_the_next_caller_take_over_and_the_old_token_store_nothing(void **state) {
    (void)state;
    char word[32];
    long long first = begin(sg_conn, "req:3", "fp", 100, word, NULL);
    assert_string_equal(word, "new");
    for (int i = 0; i < 100 && sg_command_integer(sg_conn, "EXISTS req:3") == 1; i++) usleep(20000);
    long long second = begin(sg_conn, "req:3", "fp", 5000, word, NULL);
    assert_string_equal(word, "new");
    assert_true(second > first);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.COMPLETE req:3 %lld late 60", first), 0);
    redisReply *r = sg_command(sg_conn, "IDEMP.GET req:3");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[1]->str, "in_progress");
    assert_int_equal(r->element[5]->integer, second);
    freeReplyObject(r);
}

static void abort_frees_the_key_only_for_its_token(void **state) {
    (void)state;
    char word[32];
    long long token = begin(sg_conn, "req:4", "fp", 5000, word, NULL);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.ABORT req:4 %lld", token + 1), 0);
    assert_int_equal(sg_command_integer(sg_conn, "IDEMP.ABORT req:4 %lld", token), 1);
    begin(sg_conn, "req:4", "fp", 5000, word, NULL);
    assert_string_equal(word, "new");
    sg_command_nil(sg_conn, "IDEMP.GET nothing:here");
}

static void records_keep_binary_fingerprints_and_responses(void **state) {
    (void)state;
    const char *fp = "f\0p\r\n";
    const char *resp = "r\0e\r\ns";
    const char *argv[4] = {"IDEMP.BEGIN", "req:bin", fp, "5000"};
    size_t lens[4] = {11, 7, 5, 4};
    redisReply *r = sg_command_args(sg_conn, 4, argv, lens);
    long long token = r->element[1]->integer;
    freeReplyObject(r);
    char tok[32];
    snprintf(tok, sizeof(tok), "%lld", token);
    const char *cargv[5] = {"IDEMP.COMPLETE", "req:bin", tok, resp, "60"};
    size_t clens[5] = {14, 7, strlen(tok), 6, 2};
    r = sg_command_args(sg_conn, 5, cargv, clens);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    r = sg_command_args(sg_conn, 4, argv, lens);
    assert_string_equal(r->element[0]->str, "completed");
    assert_int_equal(r->element[1]->len, 6);
    assert_memory_equal(r->element[1]->str, resp, 6);
    freeReplyObject(r);
}

/* ---- bad input -------------------------------------------------------------------------------- */
static const sg_bad_case bad_cases[] = {
    {"ERR wrong number of arguments", {"IDEMP.SETNX", "k"}},
    {"ERR wrong number of arguments", {"IDEMP.SETNX", "k", "10", "v", "x"}},
    {"ERR invalid ttl", {"IDEMP.SETNX", "k", "0"}},
    {"ERR invalid ttl", {"IDEMP.SETNX", "k", "-1"}},
    {"ERR invalid ttl", {"IDEMP.SETNX", "k", "ten"}},
    {"ERR invalid ttl", {"IDEMP.SETNX", "k", "1000000001"}},
    {"ERR invalid ttl", {"IDEMP.SETNX", "k", "9223372036854775808"}},
    {"ERR wrong number of arguments", {"IDEMP.BEGIN", "k", "fp"}},
    {"ERR invalid fingerprint", {"IDEMP.BEGIN", "k", "", "100"}},
    {"ERR invalid lease", {"IDEMP.BEGIN", "k", "fp", "0"}},
    {"ERR invalid lease", {"IDEMP.BEGIN", "k", "fp", "1000000000001"}},
    {"WRONGTYPE", {"IDEMP.BEGIN", "str", "fp", "100"}},
    {"ERR wrong number of arguments", {"IDEMP.COMPLETE", "k", "1", "r"}},
    {"ERR invalid token", {"IDEMP.COMPLETE", "k", "0", "r", "10"}},
    {"ERR invalid token", {"IDEMP.COMPLETE", "k", "x", "r", "10"}},
    {"ERR invalid ttl", {"IDEMP.COMPLETE", "k", "1", "r", "0"}},
    {"WRONGTYPE", {"IDEMP.COMPLETE", "str", "1", "r", "10"}},
    {"ERR wrong number of arguments", {"IDEMP.ABORT", "k"}},
    {"ERR invalid token", {"IDEMP.ABORT", "k", "-5"}},
    {"WRONGTYPE", {"IDEMP.ABORT", "str", "1"}},
    {"ERR wrong number of arguments", {"IDEMP.GET"}},
    {"WRONGTYPE", {"IDEMP.GET", "str"}},
    {"ERR syntax error", {"IDEMP.RECORD", "k", "sideways", "fp", "1", "99999999999999"}},
    {"ERR syntax error", {"IDEMP.RECORD", "k", "completed", "fp", "1", "99999999999999"}},
    {"ERR invalid token", {"IDEMP.RECORD", "k", "in_progress", "fp", "0", "99999999999999"}},
};

/* A string key for the WRONGTYPE cases; k does not exist. */
static void make_bad_input_fixture(redisContext *c) {
    sg_command_status(c, "OK", "SET str v");
}

static void bad_input_is_refused_with_a_coded_error_and_changes_nothing(void **state) {
    (void)state;
    static const char *const codes[] = {"ERR ", "WRONGTYPE ", NULL};
    const sg_bad_input_hooks hooks = {.make_fixture = make_bad_input_fixture, .codes = codes};
    sg_check_bad_inputs(sg_conn, bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]), &hooks);
}

/* ---- persistence and replication -------------------------------------------------------------- */
static void make_records(redisContext *c) {
    char word[32];
    sg_command_integer(c, "IDEMP.SETNX plain 1000");
    begin(c, "open", "fp-open", 600000, word, NULL);
    long long token = begin(c, "done", "fp-done", 600000, word, NULL);
    sg_command_integer(c, "IDEMP.COMPLETE done %lld %s 1000", token, "stored-response");
}

static void records_survive_rdb_and_aof_restarts(void **state) {
    (void)state;
    const char *variants[3][7] = {
        {"--save", "3600 1", NULL},
        {"--appendonly", "yes", "--aof-use-rdb-preamble", "no", NULL},
        {"--appendonly", "yes", "--aof-use-rdb-preamble", "yes", NULL},
    };
    for (int v = 0; v < 3; v++) {
        sg_server *s = sg_server_start(variants[v]);
        redisContext *c = sg_connect_to(s);
        make_records(c);
        if (v > 0) {
            sg_rewrite_aof(c); /* started or scheduled, then waited for */
        } else {
            sg_command_status(c, "OK", "SAVE");
        }
        char *digest = sg_debug_digest(c);
        redisReply *r = sg_command(c, "IDEMP.GET done");
        long long token = r->element[5]->integer;
        freeReplyObject(r);
        redisFree(c);
        sg_server_restart(s);
        c = sg_connect_to(s);
        char *after = sg_debug_digest(c);
        assert_string_equal(digest, after);
        r = sg_command(c, "IDEMP.GET done");
        assert_string_equal(r->element[1]->str, "completed");
        assert_string_equal(r->element[9]->str, "stored-response");
        freeReplyObject(r);
        char word[32];
        long long fresh = begin(c, "later", "fp", 1000, word, NULL);
        assert_true(fresh > token);
        free(digest);
        free(after);
        redisFree(c);
        sg_server_stop(s);
    }
}

static void a_replica_holds_the_same_records_and_refuses_writes(void **state) {
    (void)state;
    const char *master_args[] = {"--repl-diskless-sync-delay", "0", NULL};
    sg_server *m = sg_server_start(master_args);
    sg_server *r = sg_replica_start(m, NULL);
    redisContext *mc = sg_connect_to(m);
    redisContext *rc = sg_connect_to(r);
    make_records(mc);
    char word[32];
    long long token = begin(mc, "aborted", "fp", 60000, word, NULL);
    sg_command_integer(mc, "IDEMP.ABORT aborted %lld", token);
    sg_wait_replicas(m, 1, 10000);
    sg_assert_same_digest(mc, rc);
    sg_command_error(rc, "READONLY", "IDEMP.SETNX x 10");
    sg_command_error(rc, "READONLY", "IDEMP.BEGIN x fp 10");
    sg_command_error(rc, "READONLY", "IDEMP.COMPLETE done 1 r 10");
    sg_command_error(rc, "READONLY", "IDEMP.ABORT open 1");
    redisReply *g = sg_command(rc, "IDEMP.GET done");
    assert_int_equal(g->type, REDIS_REPLY_ARRAY);
    freeReplyObject(g);
    redisFree(mc);
    redisFree(rc);
    sg_server_stop(r);
    sg_server_stop(m);
}

int main(void) {
    const struct CMUnitTest contract[] = {
        cmocka_unit_test_setup(setnx_records_a_key_once_with_the_value_and_ttl_of_set_nx_ex, sg_group_flush),
        cmocka_unit_test_setup(setnx_and_set_nx_ex_see_each_others_keys, sg_group_flush),
        cmocka_unit_test_setup(setnx_counts_a_key_of_any_type_as_seen, sg_group_flush),
        cmocka_unit_test_setup(begin_answers_new_then_in_progress_then_mismatch, sg_group_flush),
        cmocka_unit_test_setup(complete_stores_the_response_for_replay_and_answers_two_for_its_retry, sg_group_flush),
        cmocka_unit_test_setup(an_expired_lease_lets_the_next_caller_take_over_and_the_old_token_store_nothing,
                               sg_group_flush),
        cmocka_unit_test_setup(abort_frees_the_key_only_for_its_token, sg_group_flush),
        cmocka_unit_test_setup(records_keep_binary_fingerprints_and_responses, sg_group_flush),
        cmocka_unit_test_setup(bad_input_is_refused_with_a_coded_error_and_changes_nothing, sg_group_flush),
    };
    const struct CMUnitTest durability[] = {
        cmocka_unit_test(records_survive_rdb_and_aof_restarts),
        cmocka_unit_test(a_replica_holds_the_same_records_and_refuses_writes),
    };
    int failed = cmocka_run_group_tests_name("idemp contract", contract, sg_group_setup, sg_group_teardown);
    failed += cmocka_run_group_tests_name("idemp durability", durability, NULL, NULL);
    return failed;
}
