/* test_sharded_side_effects.c -- what the SHARDED.* commands do besides their reply: the dirty
 * counter (INFO persistence rdb_changes_since_last_save) grows only when a call changed a key,
 * WATCH is invalidated only by a real change of a watched key, and keyspace notifications name
 * exactly the changed keys (decrby for DECR and TAKE, set for INIT), as the contract
 * states. Calls that change nothing include the ones that only read a value Redis keeps
 * int-encoded: the module turns it into a raw string in place, which must stay invisible.
 *
 * One server for the whole group; every test starts from an empty dataset (FLUSHALL in the per-test
 * setup) and closes its extra connections in the teardown. One behaviour per test function. */
#include "sharded_checks.h"

/* ---- dirty --------------------------------------------------------------------------------------- */

/* The change of the dirty counter across one command line (its reply is freed). */
__attribute__((format(printf, 1, 2))) static long long dirty_delta(const char *fmt, ...)
{
    sh_words w;
    va_list ap;
    va_start(ap, fmt);
    sh_words_v(&w, fmt, ap);
    va_end(ap);
    long long before = sh_dirty(sg_conn);
    freeReplyObject(sg_command_args(sg_conn, w.argc, w.argv, w.len));
    return sh_dirty(sg_conn) - before;
}

static void calls_that_change_a_key_mark_the_dataset_dirty(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 0);
    sh_set(sg_conn, "b", 5);
    sh_set(sg_conn, "c", 5);
    if (dirty_delta("SHARDED.DECR a b") < 1) fail_msg("a DECR that lowered b left the dirty counter");
    if (dirty_delta("SHARDED.TAKE 3 b c") < 1) fail_msg("a TAKE that took 3 left the dirty counter");
    if (dirty_delta("SHARDED.INIT 10 x y") < 1) fail_msg("an INIT that created 2 keys left the dirty counter");
    if (dirty_delta("SHARDED.INIT 0 z") < 1) fail_msg("an INIT that created z = 0 left the dirty counter");
}

static void a_nil_decr_leaves_the_dirty_counter(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 0); /* int-encoded, shared */
    sh_set(sg_conn, "b", -7);
    assert_int_equal(dirty_delta("SHARDED.DECR a b missing"), 0);
    assert_int_equal(dirty_delta("SHARDED.DECR a"), 0);
    assert_int_equal(sh_get(sg_conn, "a"), 0);
}

static void a_zero_take_and_a_zero_init_leave_the_dirty_counter(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 0);
    sh_set(sg_conn, "b", 0);
    assert_int_equal(dirty_delta("SHARDED.TAKE 5 a b missing"), 0);
    assert_int_equal(dirty_delta("SHARDED.INIT 10 missing a"), 0);
    sg_command_integer(sg_conn, "RPUSH l x");
    assert_int_equal(dirty_delta("SHARDED.INIT 10 missing l"), 0);
    assert_int_equal(sg_exists(sg_conn, "missing"), 0);
}

static void errors_and_sum_leave_the_dirty_counter(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 42); /* int-encoded: read first, then the call fails */
    sh_set(sg_conn, "m", LLONG_MAX);
    sg_command_integer(sg_conn, "RPUSH l x");
    sg_command_status(sg_conn, "OK", "SET s 1.5");
    static const char *const lines[] = {
        "SHARDED.DECR a l",      "SHARDED.DECR a s",     "SHARDED.DECR gone",      "SHARDED.TAKE 3 a l",
        "SHARDED.TAKE 3 a s",    "SHARDED.TAKE 3 gone",  "SHARDED.TAKE 0 a",       "SHARDED.TAKE 3 a a",
        "SHARDED.INIT -1 n",     "SHARDED.INIT 3 n n",   "SHARDED.SUM a m",        "SHARDED.SUM a",
        "SHARDED.SUM a l",       "SHARDED.SUM s",        "SHARDED.DECR",           "SHARDED.INIT 3",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        long long delta = dirty_delta("%s", lines[i]);
        if (delta != 0) fail_msg("%s moved the dirty counter by %lld", lines[i], delta);
    }
    assert_int_equal(sh_get(sg_conn, "a"), 42);
}

/* ---- WATCH --------------------------------------------------------------------------------------- */

/* WATCH `watched` on a connection of its own, run `line` on sg_conn, then MULTI PING EXEC on the
 * watcher: 1 when the transaction ran, 0 when WATCH aborted it. */
static int transaction_runs_after(const char *watched, const char *line)
{
    redisContext *w = sg_group_open_client();
    redisReply *r = sh_run(w, "WATCH %s", watched);
    assert_true(sg_reply_is_text(r, "OK"));
    freeReplyObject(r);
    freeReplyObject(sh_run(sg_conn, "%s", line));
    sg_command_status(w, "OK", "MULTI");
    sg_command_status(w, "QUEUED", "PING");
    r = sg_command(w, "EXEC");
    int ran = r->type == REDIS_REPLY_ARRAY;
    if (!ran && r->type != REDIS_REPLY_NIL) fail_msg("EXEC answered neither an array nor nil");
    freeReplyObject(r);
    sg_group_close_client(w);
    return ran;
}

static void a_change_to_a_watched_key_aborts_the_transaction(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 0);
    sh_set(sg_conn, "b", 5);
    assert_false(transaction_runs_after("b", "SHARDED.DECR a b"));
    assert_false(transaction_runs_after("a b", "SHARDED.DECR a b"));
    assert_false(transaction_runs_after("b", "SHARDED.TAKE 2 a b"));
    assert_false(transaction_runs_after("new2", "SHARDED.INIT 10 new1 new2"));
    assert_int_equal(sh_get(sg_conn, "b"), 1);
}

static void a_watched_key_the_call_did_not_change_keeps_the_transaction(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 0); /* int-encoded */
    sh_set(sg_conn, "b", 5);
    assert_true(transaction_runs_after("a", "SHARDED.DECR a b"));
    assert_true(transaction_runs_after("a", "SHARDED.TAKE 2 a b"));
    sh_set(sg_conn, "c", 7);
    assert_true(transaction_runs_after("c", "SHARDED.DECR a b"));
    assert_int_equal(sh_get(sg_conn, "b"), 1);
}

static void a_nil_decr_and_a_zero_take_keep_the_transaction(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 0);
    sh_set(sg_conn, "b", 0);
    assert_true(transaction_runs_after("a b", "SHARDED.DECR a b"));
    assert_true(transaction_runs_after("a b", "SHARDED.TAKE 9 a b"));
    assert_true(transaction_runs_after("a b missing", "SHARDED.DECR a missing b"));
}

static void a_refused_init_a_sum_and_errors_keep_the_transaction(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 12); /* int-encoded: read, then the call fails on the list */
    sh_set(sg_conn, "b", 3);
    sg_command_integer(sg_conn, "RPUSH l x");
    assert_true(transaction_runs_after("a missing", "SHARDED.INIT 10 missing a"));
    assert_true(transaction_runs_after("a b", "SHARDED.SUM a b"));
    assert_true(transaction_runs_after("a", "SHARDED.DECR a l"));
    assert_true(transaction_runs_after("a b", "SHARDED.TAKE 4 a b l"));
    assert_true(transaction_runs_after("a", "SHARDED.TAKE 4 a a"));
    assert_true(transaction_runs_after("gone", "SHARDED.DECR gone"));
    assert_int_equal(sh_get(sg_conn, "a"), 12);
}

/* ---- keyspace notifications ---------------------------------------------------------------------- */

static redisContext *subscriber;

/* Subscribe to every keyspace event of db 0 on a connection of the test's. */
static void subscribe_to_keyspace_events(void)
{
    sg_command_status(sg_conn, "OK", "CONFIG SET notify-keyspace-events KA");
    subscriber = sg_group_open_client();
    redisReply *r = sg_command(subscriber, "PSUBSCRIBE __keyspace@0__:*");
    assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    freeReplyObject(r);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Run `line`, then SET a sentinel; the events up to the sentinel's, as "key:event" sorted and
 * joined with spaces, must equal `expected` ("" for none). Bounded: at most 32 events are read. */
static void assert_events(const char *line, const char *expected)
{
    freeReplyObject(sh_run(sg_conn, "%s", line));
    sg_command_status(sg_conn, "OK", "SET sentinel 1");
    char *events[32];
    int n = 0;
    for (;;) {
        void *reply = NULL;
        if (redisGetReply(subscriber, &reply) != REDIS_OK || reply == NULL)
            fail_msg("no keyspace event arrived after %s", line);
        redisReply *r = reply;
        assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 4);
        const char *channel = r->element[2]->str;
        const char *key = strchr(channel, ':') + 1;
        char text[128];
        snprintf(text, sizeof(text), "%s:%s", key, r->element[3]->str);
        freeReplyObject(r);
        if (strcmp(text, "sentinel:set") == 0) break;
        if (n == 32) fail_msg("more than 32 events after %s", line);
        events[n++] = strdup(text);
    }
    qsort(events, (size_t)n, sizeof(events[0]), compare_strings);
    char got[1024] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s", i ? " " : "", events[i]);
        free(events[i]);
    }
    if (strcmp(got, expected) != 0) fail_msg("after %s the events were \"%s\", expected \"%s\"", line, got, expected);
}

static int notifications_teardown(void **state)
{
    subscriber = NULL;
    freeReplyObject(sg_command(sg_conn, "CONFIG SET notify-keyspace-events %s", ""));
    return sg_group_close_clients(state);
}

static void decr_and_take_notify_decrby_on_each_key_they_lowered_only(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 0);
    sh_set(sg_conn, "b", 5);
    sh_set(sg_conn, "c", 5);
    sh_set(sg_conn, "d", 0);
    subscribe_to_keyspace_events();
    assert_events("SHARDED.DECR a b d", "b:decrby");
    /* 4 in b and 5 in c, 9 taken: both lowered, whichever start */
    assert_events("SHARDED.TAKE 9 a b c d", "b:decrby c:decrby");
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM a b c d"), 0);
}

static void init_notifies_set_on_every_key_it_created(void **state)
{
    (void)state;
    subscribe_to_keyspace_events();
    assert_events("SHARDED.INIT 2 x y z", "x:set y:set z:set");
    assert_int_equal(sh_get(sg_conn, "z"), 0);
}

static void calls_that_change_nothing_notify_nothing(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 0);
    sh_set(sg_conn, "b", 8);
    sg_command_integer(sg_conn, "RPUSH l x");
    subscribe_to_keyspace_events();
    assert_events("SHARDED.DECR a", "");
    assert_events("SHARDED.TAKE 3 a missing", "");
    assert_events("SHARDED.INIT 3 missing b", "");
    assert_events("SHARDED.SUM a b", "");
    assert_events("SHARDED.DECR b l", "");
    assert_events("SHARDED.TAKE 3 b b", "");
    assert_events("SHARDED.DECR gone", "");
    assert_int_equal(sh_get(sg_conn, "b"), 8);
}

#define SHARDED_TEST(name) cmocka_unit_test_setup_teardown(name, sg_group_flush, sg_group_close_clients)
#define NOTIFY_TEST(name) cmocka_unit_test_setup_teardown(name, sg_group_flush, notifications_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SHARDED_TEST(calls_that_change_a_key_mark_the_dataset_dirty),
        SHARDED_TEST(a_nil_decr_leaves_the_dirty_counter),
        SHARDED_TEST(a_zero_take_and_a_zero_init_leave_the_dirty_counter),
        SHARDED_TEST(errors_and_sum_leave_the_dirty_counter),
        SHARDED_TEST(a_change_to_a_watched_key_aborts_the_transaction),
        SHARDED_TEST(a_watched_key_the_call_did_not_change_keeps_the_transaction),
        SHARDED_TEST(a_nil_decr_and_a_zero_take_keep_the_transaction),
        SHARDED_TEST(a_refused_init_a_sum_and_errors_keep_the_transaction),
        NOTIFY_TEST(decr_and_take_notify_decrby_on_each_key_they_lowered_only),
        NOTIFY_TEST(init_notifies_set_on_every_key_it_created),
        NOTIFY_TEST(calls_that_change_nothing_notify_nothing),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
