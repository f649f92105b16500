/* test_lock_safety.c -- the guarantees of README.md "## Lock commands" under load, across restarts
 * and across replication.
 *
 * (a) Mutual exclusion: many threads, each with its own connection, increment a plain counter under
 *     the lock; no increment is lost and fencing tokens increase in the order the lock was granted.
 * (b) Persistence: a held lock comes back with its owner, token, holds and (absolute) lease after
 *     DEBUG RELOAD, an RDB restart and AOF restarts, and the next token is larger than every token
 *     seen before. The server's token clock is first pushed an hour ahead of Unix time (LOCK.GRANT
 *     on a lock that is then deleted), so only the persisted last token -- not the wall clock -- can
 *     keep later tokens above it.
 * (c) Replication: a replica ends a seeded random workload (grants, reentrant holds, releases,
 *     extends, DEL, hand-offs to waiters on release and at lease end) with the master's DEBUG DIGEST
 *     and LOCK.INFO, refuses lock writes with READONLY, and once promoted issues tokens above every
 *     token its master issued.
 *
 * Every test owns its servers and connections through a fixture whose teardown stops them, pass or
 * fail. Worker threads never call cmocka: they record their first problem and the main thread
 * fails the test. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raw_commands.h"

#define REPLY_TIMEOUT_MS 5000
#define AHEAD_US 3600000000LL /* how far the token clock is pushed ahead of Unix time: 1 hour */

#define DEFAULT_WORKLOAD_SEED UINT64_C(0x10C4ED5AFE7E5EED)

/* ---- (a) mutual exclusion ---------------------------------------------------------------------- */

#define MUTEX_THREADS 32
#define MUTEX_ITERATIONS 200
#define MUTEX_TOTAL (MUTEX_THREADS * MUTEX_ITERATIONS)
#define MUTEX_MAX_NIL 3 /* WAIT 10000 timing out this often means the lock is stuck */

typedef struct grant_record {
    long long token;
    long long counter; /* the value read under the lock: the grant's position in grant order */
} grant_record;

typedef struct mutex_worker {
    pthread_t thread;
    redisContext *c;
    int index;
    grant_record records[MUTEX_ITERATIONS];
    int done;
    int nils;
    char problem[256];
} mutex_worker;

static void worker_problem(mutex_worker *w, const char *what, const redisReply *r, const redisContext *c)
{
    char got[300] = "no reply";
    if (r != NULL) sg_describe_reply(r, got, sizeof(got));
    else if (c->errstr[0]) snprintf(got, sizeof(got), "connection error: %s", c->errstr);
    snprintf(w->problem, sizeof(w->problem), "thread %d, iteration %d: %s: %s", w->index, w->done, what, got);
}

static void *mutex_worker_main(void *arg)
{
    mutex_worker *w = arg;
    char owner[32];
    snprintf(owner, sizeof(owner), "owner-%02d", w->index);
    while (w->done < MUTEX_ITERATIONS) {
        redisReply *r = redisCommand(w->c, "LOCK.ACQUIRE mutex %s 5000 WAIT 10000", owner);
        if (r != NULL && r->type == REDIS_REPLY_NIL && ++w->nils <= MUTEX_MAX_NIL) {
            freeReplyObject(r);
            continue;
        }
        if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
            worker_problem(w, "LOCK.ACQUIRE ... WAIT", r, w->c);
            if (r != NULL) freeReplyObject(r);
            return NULL;
        }
        long long token = r->integer;
        freeReplyObject(r);

        r = redisCommand(w->c, "GET counter");
        if (r == NULL || r->type != REDIS_REPLY_STRING) {
            worker_problem(w, "GET counter", r, w->c);
            if (r != NULL) freeReplyObject(r);
            return NULL;
        }
        long long counter = strtoll(r->str, NULL, 10);
        freeReplyObject(r);

        r = redisCommand(w->c, "SET counter %lld", counter + 1);
        if (r == NULL || r->type != REDIS_REPLY_STATUS) {
            worker_problem(w, "SET counter", r, w->c);
            if (r != NULL) freeReplyObject(r);
            return NULL;
        }
        freeReplyObject(r);

        r = redisCommand(w->c, "LOCK.RELEASE mutex %s", owner);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
            worker_problem(w, "LOCK.RELEASE (expected 1: the lease is 5 s)", r, w->c);
            if (r != NULL) freeReplyObject(r);
            return NULL;
        }
        freeReplyObject(r);
        w->records[w->done].token = token;
        w->records[w->done].counter = counter;
        w->done++;
    }
    return NULL;
}

static int by_counter(const void *a, const void *b)
{
    const grant_record *x = a, *y = b;
    return (x->counter > y->counter) - (x->counter < y->counter);
}

static void test_threads_incrementing_under_the_lock_lose_no_update_and_see_tokens_in_grant_order(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    sg_command_status(c, "OK", "SET counter 0");
    mutex_worker *workers = calloc(MUTEX_THREADS, sizeof(*workers));
    assert_non_null(workers);
    for (int i = 0; i < MUTEX_THREADS; i++) {
        workers[i].index = i;
        workers[i].c = sg_fixture_connect(f, s);
    }
    int64_t start = sg_now_ms();
    int started = 0;
    for (; started < MUTEX_THREADS; started++) {
        if (pthread_create(&workers[started].thread, NULL, mutex_worker_main, &workers[started]) != 0) break;
    }
    for (int i = 0; i < started; i++) pthread_join(workers[i].thread, NULL);
    int64_t elapsed = sg_now_ms() - start;
    if (started < MUTEX_THREADS) {
        free(workers);
        fail_msg("could start only %d threads", started);
    }

    grant_record *all = calloc(MUTEX_TOTAL, sizeof(*all));
    assert_non_null(all);
    size_t n = 0;
    int nils = 0;
    char problem[300] = "";
    for (int i = 0; i < MUTEX_THREADS; i++) {
        if (workers[i].problem[0] != '\0' && problem[0] == '\0') {
            snprintf(problem, sizeof(problem), "%s", workers[i].problem);
        }
        nils += workers[i].nils;
        for (int k = 0; k < workers[i].done; k++) all[n++] = workers[i].records[k];
    }
    free(workers);
    print_message("%zu critical sections by %d threads in %lld ms (%d WAIT timeouts)\n", n, MUTEX_THREADS,
                  (long long)elapsed, nils);
    if (problem[0] != '\0') {
        free(all);
        fail_msg("%s", problem);
    }
    assert_int_equal(n, MUTEX_TOTAL);
    redisReply *r = sg_command(c, "GET counter");
    long long counter = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    if (counter != MUTEX_TOTAL) {
        free(all);
        fail_msg("counter is %lld after %d increments under the lock: updates were lost", counter, MUTEX_TOTAL);
    }
    qsort(all, n, sizeof(*all), by_counter);
    for (size_t i = 0; i < n; i++) {
        if (all[i].counter != (long long)i) {
            long long got = all[i].counter;
            free(all);
            fail_msg("grant #%zu read counter %lld: two holders read the same value", i, got);
        }
        if (i > 0 && all[i].token <= all[i - 1].token) {
            long long prev = all[i - 1].token, cur = all[i].token;
            free(all);
            fail_msg("grant #%zu has token %lld, not above the token %lld of the grant before", i, cur, prev);
        }
    }
    free(all);
    assert_false(raw_lock_info_of(c, "mutex").held);
}

/* ---- (b) persistence ------------------------------------------------------------------------------ */

static void assert_rewritten_base(const sg_server *s, sg_persistence_mode mode)
{
    static const char *const grant[] = {"LOCK.GRANT", NULL};
    sg_assert_aof_base(s, mode == SG_AOF_REWRITE_RDB_PREAMBLE, grant);
}

/* Acquire and release a few locks; returns the largest token granted. */
static long long churn_tokens(redisContext *c, const char *prefix, long long above)
{
    long long last = above;
    char key[64];
    for (int i = 0; i < 12; i++) {
        snprintf(key, sizeof(key), "%s:%d", prefix, i % 4);
        long long token = raw_lock_acquire(c, key, "churner", 600000);
        if (token <= last) fail_msg("%s: token %lld after %lld", key, token, last);
        last = token;
        assert_int_equal(sg_command_integer(c, "LOCK.RELEASE %s churner", key), 1);
    }
    return last;
}

static const char reentrant_owner[] = {'k', 'e', 'e', 'p', '\0', '\r', '\n', '2'};

static void assert_lock_state(redisContext *c, const char *key, const char *owner, size_t owner_len, long long token,
                              long long holds, long long pttl_before)
{
    raw_lock_info info = raw_lock_info_of(c, key);
    if (!info.held) fail_msg("%s is free after the restart, expected it held (token %lld)", key, token);
    if (info.owner_len != owner_len || memcmp(info.owner, owner, owner_len) != 0) {
        fail_msg("%s: owner changed across the restart", key);
    }
    if (info.token != token) fail_msg("%s: token %lld after the restart, %lld before", key, info.token, token);
    if (info.holds != holds) fail_msg("%s: holds %lld after the restart, %lld before", key, info.holds, holds);
    long long left = sg_command_integer(c, "PTTL %s", key);
    if (left <= 0 || left > pttl_before) {
        fail_msg("%s: PTTL %lld after the restart, %lld before", key, left, pttl_before);
    }
}

static void assert_locks_survive(void **state, sg_persistence_mode mode)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, sg_persistence_args(mode));
    redisContext *c = sg_fixture_connect(f, s);

    /* Push the token clock ahead of Unix time on a lock that is then deleted. */
    long long ahead = sg_unix_us() + AHEAD_US;
    long long deadline_ms = sg_unix_us() / 1000 + 600000;
    sg_command_status(c, "OK", "LOCK.GRANT pusher pusher %lld %lld 1", ahead, deadline_ms);
    assert_int_equal(sg_command_integer(c, "DEL pusher"), 1);
    long long max_seen = ahead;

    long long held_token = raw_lock_acquire(c, "held", "keeper", 600000);
    if (held_token <= max_seen) fail_msg("token %lld after LOCK.GRANT of %lld", held_token, max_seen);
    max_seen = held_token;
    long long re_token = raw_lock_token_or_nil(sg_command(c, "LOCK.ACQUIRE held:re %b 600000 REENTRANT", reentrant_owner,
                                                 sizeof(reentrant_owner)),
                                      "LOCK.ACQUIRE REENTRANT");
    assert_int_equal(raw_lock_token_or_nil(sg_command(c, "LOCK.ACQUIRE held:re %b 600000 REENTRANT", reentrant_owner,
                                             sizeof(reentrant_owner)),
                                  "LOCK.ACQUIRE REENTRANT"),
                     re_token);
    assert_true(re_token > max_seen);
    max_seen = re_token;

    /* Grants that are released at once: their tokens live only in the server's last token. A plain
     * AOF rewrite does not carry it (README: it relies on the clock), so there they come after. */
    if (mode != SG_AOF_REWRITE_PLAIN) max_seen = churn_tokens(c, "before", max_seen);
    switch (mode) {
    case SG_DEBUG_RELOAD:
    case SG_RDB_SAVED_AT_SHUTDOWN: /* the restart's SHUTDOWN saves */
    case SG_AOF_COMMAND_LOG: break;
    case SG_RDB_RESTART: sg_command_status(c, "OK", "SAVE"); break;
    case SG_AOF_REWRITE_RDB_PREAMBLE:
    case SG_AOF_REWRITE_PLAIN: {
        sg_rewrite_aof(c);
        assert_rewritten_base(s, mode);
        break;
    }
    }
    /* Grants after the rewrite are in the incremental AOF as commands. Not in the preamble mode:
     * there the token of the grants before must come from the preamble's aux data alone. */
    if (mode == SG_AOF_REWRITE_PLAIN || mode == SG_AOF_COMMAND_LOG) max_seen = churn_tokens(c, "after", max_seen);
    long long held_pttl = sg_command_integer(c, "PTTL held");
    long long re_pttl = sg_command_integer(c, "PTTL held:re");

    if (mode == SG_DEBUG_RELOAD) {
        sg_command_status(c, "OK", "DEBUG RELOAD");
    } else {
        sg_server_restart(s);
        c = sg_fixture_reconnect(f, c, s);
    }

    assert_lock_state(c, "held", "keeper", 6, held_token, 1, held_pttl);
    assert_lock_state(c, "held:re", reentrant_owner, sizeof(reentrant_owner), re_token, 2, re_pttl);
    assert_int_equal(raw_lock_acquire(c, "held", "intruder", 10000), 0);
    long long fresh = raw_lock_acquire(c, "fresh", "newcomer", 10000);
    if (fresh <= max_seen) {
        fail_msg("first token after the restart is %lld, not above %lld issued before (%lld above the pushed clock)",
                 fresh, max_seen, max_seen - ahead);
    }
    assert_int_equal(sg_command_integer(c, "LOCK.RELEASE held keeper"), 1);
    long long again = raw_lock_acquire(c, "held", "keeper", 10000);
    if (again <= fresh) fail_msg("token %lld for the released lock after %lld", again, fresh);
}

static void test_debug_reload_keeps_held_locks_and_the_token_clock(void **state)
{
    assert_locks_survive(state, SG_DEBUG_RELOAD);
}

static void test_restart_from_rdb_keeps_held_locks_and_the_token_clock(void **state)
{
    assert_locks_survive(state, SG_RDB_RESTART);
}

static void test_restart_from_aof_with_rdb_preamble_keeps_held_locks_and_the_token_clock(void **state)
{
    assert_locks_survive(state, SG_AOF_REWRITE_RDB_PREAMBLE);
}

static void test_restart_from_rewritten_aof_without_preamble_keeps_held_locks_and_the_token_clock(void **state)
{
    assert_locks_survive(state, SG_AOF_REWRITE_PLAIN);
}

static void test_restart_from_the_aof_command_log_keeps_held_locks_and_the_token_clock(void **state)
{
    assert_locks_survive(state, SG_AOF_COMMAND_LOG);
}

static void test_a_lease_that_ended_while_the_server_was_down_is_gone_after_the_restart(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    long long token = raw_lock_acquire(c, "short", "keeper", 300);
    assert_true(token >= 1);
    sg_command_status(c, "OK", "SAVE");
    sg_server_kill(s);
    sg_sleep_ms(400);
    sg_server_start_again(s);
    c = sg_fixture_reconnect(f, c, s);
    assert_false(raw_lock_info_of(c, "short").held);
    assert_int_equal(sg_command_integer(c, "EXISTS short"), 0);
    long long next = raw_lock_acquire(c, "short", "other", 10000);
    if (next <= token) fail_msg("token %lld after the restart, %lld before", next, token);
}

static void test_a_lease_that_ended_while_the_server_was_down_is_gone_after_an_aof_replay(void **state)
{
    static const char *const args[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, args);
    redisContext *c = sg_fixture_connect(f, s);
    long long kept = raw_lock_acquire(c, "long", "keeper", 600000);
    long long token = raw_lock_acquire(c, "short", "keeper", 300);
    assert_true(kept >= 1 && token > kept);
    long long kept_pttl = sg_command_integer(c, "PTTL long");
    sg_server_kill(s);
    sg_sleep_ms(400);
    sg_server_start_again(s);
    c = sg_fixture_reconnect(f, c, s);
    assert_false(raw_lock_info_of(c, "short").held);
    assert_int_equal(sg_command_integer(c, "EXISTS short"), 0);
    assert_lock_state(c, "long", "keeper", 6, kept, 1, kept_pttl);
    long long next = raw_lock_acquire(c, "short", "other", 10000);
    if (next <= token) fail_msg("token %lld after the AOF replay, %lld before", next, token);
}

/* ---- kill -9 under load --------------------------------------------------------------------------- */

#define DURABLE_ATTEMPTS 3000
#define DURABLE_KILL_AFTER_ACKS 600

/* With appendfsync always, Redis writes and fsyncs the AOF before it sends a reply, so every grant,
 * hand-over and idempotency record a client saw acknowledged must be there after kill -9 -- with
 * its token -- and the next token must be above all of them. */
static void test_every_acknowledged_grant_and_record_survives_kill_9_with_appendfsync_always(void **state)
{
    sg_fixture *f = *state;
    static const char *const args[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};
    sg_server *s = sg_fixture_start(f, args);
    redisContext *c = sg_fixture_connect(f, s);
    long long *tokens = calloc(DURABLE_ATTEMPTS, sizeof(*tokens));
    assert_non_null(tokens);
    sg_prng rng = {sg_workload_seed(DEFAULT_WORKLOAD_SEED) ^ UINT64_C(0x10C4D1E)};
    sg_killer *k = sg_killer_start(s, DURABLE_KILL_AFTER_ACKS, (long)sg_prng_below(&rng, 5000));

    /* No assertion while the killer runs: record, join, then check. */
    char problem[256] = "";
    int acked = 0, broke = 0;
    long long largest = 0;
    for (int i = 0; i < DURABLE_ATTEMPTS && problem[0] == '\0'; i++) {
        /* even: a lock; odd: an idempotency record */
        redisReply *r = i % 2 == 0 ? redisCommand(c, "LOCK.ACQUIRE durable:%d owner-%d 600000", i, i)
                                   : redisCommand(c, "IDEMP.BEGIN durable:%d fp-%d 600000", i, i);
        if (r == NULL) {
            broke = 1;
            break;
        }
        long long token = 0;
        if (r->type == REDIS_REPLY_INTEGER) token = r->integer;
        else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_INTEGER)
            token = r->element[1]->integer;
        if (token <= largest) snprintf(problem, sizeof(problem), "call %d: token %lld after %lld", i, token, largest);
        freeReplyObject(r);
        tokens[i] = token;
        largest = token;
        acked = i + 1;
        sg_killer_ack(k);
    }
    int killed_under_load = sg_killer_join(k);
    if (problem[0] != '\0') fail_msg("%s", problem);
    if (!killed_under_load || !broke) fail_msg("the load ended before the server was killed; nothing was tested");
    print_message("killed after %d acknowledged grants and records\n", acked);

    sg_server_kill(s); /* reaps it */
    sg_server_start_again(s);
    c = sg_fixture_reconnect(f, c, s);
    for (int i = 0; i < acked; i++) {
        char key[32];
        snprintf(key, sizeof(key), "durable:%d", i);
        if (i % 2 == 0) {
            raw_lock_info info = raw_lock_info_of(c, key);
            if (!info.held || info.token != tokens[i]) fail_msg("%s: acknowledged token %lld lost (held %d, token %lld)", key, tokens[i], info.held, info.token);
        } else {
            redisReply *r = sg_command(c, "IDEMP.BEGIN %s fp-%d 600000", key, i);
            int in_progress = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && sg_reply_is_text(r->element[0], "in_progress");
            freeReplyObject(r);
            if (!in_progress) fail_msg("%s: the acknowledged record is gone", key);
        }
    }
    long long next = raw_lock_acquire(c, "after-the-crash", "someone", 1000);
    if (next <= largest) fail_msg("token %lld after the crash, %lld acknowledged before", next, largest);
    free(tokens);
}

/* ---- (c) replication ------------------------------------------------------------------------------ */

static const char *const master_args[] = {"--repl-diskless-sync-delay", "0", NULL};

#define WORKLOAD_NAMES 8
#define WORKLOAD_OWNERS 6
#define WORKLOAD_OPS 300
#define WORKLOAD_WAITERS 3

typedef struct workload {
    sg_fixture *f;
    sg_server *master;
    sg_server *replica; /* NULL when the replica is started afterwards */
    redisContext *m;
    redisContext *r;
    redisContext *waiters[WORKLOAD_WAITERS];
    sg_prng rng;
    long long max_token;
    int grants, releases, extends, dels, handoffs, lease_handoffs;
} workload;

static void note_token(workload *w, long long token)
{
    if (token > w->max_token) w->max_token = token;
}

/* Replica and master agree on LOCK.INFO of `key` (owner, token, holds; waiters are not replicated). */
static void assert_replica_agrees(workload *w, const char *key)
{
    if (w->replica == NULL) return;
    sg_wait_replicas(w->master, 1, 10000);
    raw_lock_info a = raw_lock_info_of(w->m, key);
    raw_lock_info b = raw_lock_info_of(w->r, key);
    if (a.held != b.held || a.owner_len != b.owner_len || memcmp(a.owner, b.owner, a.owner_len) != 0 ||
        a.token != b.token || a.holds != b.holds) {
        fail_msg("LOCK.INFO %s: master held=%d owner=%.*s token=%lld holds=%lld, replica held=%d owner=%.*s "
                 "token=%lld holds=%lld",
                 key, a.held, (int)a.owner_len, a.owner, a.token, a.holds, b.held, (int)b.owner_len, b.owner, b.token,
                 b.holds);
    }
}

/* Release `key` held by `owner` once per hold. */
static void release_all_holds(workload *w, const char *key, const raw_lock_info *info)
{
    char owner[RAW_LOCK_MAX_OWNER_LEN + 1];
    memcpy(owner, info->owner, info->owner_len);
    for (long long h = 0; h < info->holds; h++) {
        assert_int_equal(sg_command_integer(w->m, "LOCK.RELEASE %s %b", key, owner, info->owner_len), 1);
        w->releases++;
    }
}

/* Queue 1..WORKLOAD_WAITERS waiters on `key` (held), then release the holder: each waiter in turn
 * is granted and releases to the next; the last keeps the lock. */
static void handoff_on_release(workload *w, const char *key)
{
    raw_lock_info info = raw_lock_info_of(w->m, key);
    if (!info.held) {
        note_token(w, raw_lock_acquire(w->m, key, "o0", 60000));
        w->grants++;
        info = raw_lock_info_of(w->m, key);
    }
    int count = 1 + (int)sg_prng_below(&w->rng, WORKLOAD_WAITERS);
    char owners[WORKLOAD_WAITERS][32];
    for (int i = 0; i < count; i++) {
        snprintf(owners[i], sizeof(owners[i]), "waiter-%d-%d", w->handoffs, i);
        sg_send_command(w->waiters[i], "LOCK.ACQUIRE %s %s %lld WAIT 10000", key, owners[i],
                     (long long)(20000 + sg_prng_below(&w->rng, 100000)));
        raw_lock_wait_for_waiters(w->m, key, i + 1);
    }
    long long last = info.token;
    release_all_holds(w, key, &info);
    for (int i = 0; i < count; i++) {
        char what[64];
        snprintf(what, sizeof(what), "waiter %s", owners[i]);
        long long token = raw_lock_token_or_nil(sg_receive_reply(w->waiters[i], REPLY_TIMEOUT_MS, what), what);
        if (token <= last) fail_msg("%s granted token %lld after %lld", owners[i], token, last);
        last = token;
        note_token(w, token);
        assert_replica_agrees(w, key);
        if (i + 1 < count) {
            assert_int_equal(sg_command_integer(w->m, "LOCK.RELEASE %s %s", key, owners[i]), 1);
            w->releases++;
        }
    }
    w->handoffs++;
}

/* A lock with a 150 ms lease and a waiter: the waiter is granted when the lease ends. */
static void handoff_at_lease_end(workload *w)
{
    const char *key = "wl:lease";
    raw_lock_info info = raw_lock_info_of(w->m, key);
    if (info.held) release_all_holds(w, key, &info);
    long long first = raw_lock_acquire(w->m, key, "short-lived", 150);
    assert_true(first >= 1);
    note_token(w, first);
    sg_send_command(w->waiters[0], "LOCK.ACQUIRE %s heir-%d 60000 WAIT 10000", key, w->lease_handoffs);
    long long token = raw_lock_token_or_nil(sg_receive_reply(w->waiters[0], REPLY_TIMEOUT_MS, "heir"), "heir");
    if (token <= first) fail_msg("the heir was granted token %lld after %lld", token, first);
    note_token(w, token);
    assert_replica_agrees(w, key);
    w->lease_handoffs++;
}

static void run_lock_workload(workload *w, int ops)
{
    char key[32], owner[32];
    /* an hour ahead of Unix time: from here on only the replicated last token orders the tokens */
    long long ahead = sg_unix_us() + AHEAD_US;
    sg_command_status(w->m, "OK", "LOCK.GRANT wl:pusher pusher %lld %lld 1", ahead, sg_unix_us() / 1000 + 600000);
    assert_int_equal(sg_command_integer(w->m, "DEL wl:pusher"), 1);
    note_token(w, ahead);
    for (int op = 0; op < ops; op++) {
        snprintf(key, sizeof(key), "wl:%d", (int)sg_prng_below(&w->rng, WORKLOAD_NAMES));
        snprintf(owner, sizeof(owner), "o%d", (int)sg_prng_below(&w->rng, WORKLOAD_OWNERS));
        long long ttl = 20000 + (long long)sg_prng_below(&w->rng, 100000);
        unsigned roll = (unsigned)sg_prng_below(&w->rng, 100);
        if (roll < 35) {
            int reentrant = roll < 12;
            redisReply *r = reentrant ? sg_command(w->m, "LOCK.ACQUIRE %s %s %lld REENTRANT", key, owner, ttl)
                                      : sg_command(w->m, "LOCK.ACQUIRE %s %s %lld", key, owner, ttl);
            long long token = raw_lock_token_or_nil(r, "LOCK.ACQUIRE");
            if (token) w->grants++;
            note_token(w, token);
        } else if (roll < 55) {
            raw_lock_info info = raw_lock_info_of(w->m, key);
            const char *who = owner;
            char holder[RAW_LOCK_MAX_OWNER_LEN + 1];
            if (info.held && sg_prng_below(&w->rng, 10) < 7) {
                memcpy(holder, info.owner, info.owner_len);
                holder[info.owner_len] = '\0';
                who = holder;
            }
            w->releases += (int)sg_command_integer(w->m, "LOCK.RELEASE %s %s", key, who);
        } else if (roll < 70) {
            raw_lock_info info = raw_lock_info_of(w->m, key);
            const char *who = owner;
            char holder[RAW_LOCK_MAX_OWNER_LEN + 1];
            if (info.held && sg_prng_below(&w->rng, 10) < 7) {
                memcpy(holder, info.owner, info.owner_len);
                holder[info.owner_len] = '\0';
                who = holder;
            }
            w->extends += (int)sg_command_integer(w->m, "LOCK.EXTEND %s %s %lld", key, who, ttl);
        } else if (roll < 74) {
            w->dels += (int)sg_command_integer(w->m, "DEL %s", key);
        } else if (roll < 86) {
            handoff_on_release(w, key);
        } else if (roll < 90) {
            handoff_at_lease_end(w);
        } else {
            raw_lock_info info = raw_lock_info_of(w->m, key);
            if (info.held) note_token(w, info.token);
        }
    }
    print_message("workload: %d grants, %d releases, %d extends, %d DEL, %d hand-offs on release, "
                  "%d at lease end; max token %lld\n",
                  w->grants, w->releases, w->extends, w->dels, w->handoffs, w->lease_handoffs, w->max_token);
}

static void workload_start(workload *w, sg_fixture *f, int with_replica)
{
    memset(w, 0, sizeof(*w));
    w->f = f;
    w->rng.state = sg_workload_seed(DEFAULT_WORKLOAD_SEED);
    w->master = sg_fixture_start(f, master_args);
    w->m = sg_fixture_connect(f, w->master);
    for (int i = 0; i < WORKLOAD_WAITERS; i++) w->waiters[i] = sg_fixture_connect(f, w->master);
    if (with_replica) {
        w->replica = sg_fixture_start_replica(f, w->master, NULL);
        w->r = sg_fixture_connect(f, w->replica);
    }
}

static void attach_replica(workload *w)
{
    w->replica = sg_fixture_start_replica(w->f, w->master, NULL);
    w->r = sg_fixture_connect(w->f, w->replica);
    sg_wait_replicas(w->master, 1, 10000);
}

static void assert_digests_equal(workload *w)
{
    sg_wait_replicas(w->master, 1, 10000);
    char *a = sg_debug_digest(w->m);
    char *b = sg_debug_digest(w->r);
    long long keys_m = sg_command_integer(w->m, "DBSIZE");
    long long keys_r = sg_command_integer(w->r, "DBSIZE");
    int equal = strcmp(a, b) == 0;
    char msg[200];
    snprintf(msg, sizeof(msg), "DEBUG DIGEST master %s (%lld keys), replica %s (%lld keys)", a, keys_m, b, keys_r);
    free(a);
    free(b);
    if (!equal) fail_msg("%s", msg);
    char key[32];
    for (int i = 0; i < WORKLOAD_NAMES; i++) {
        snprintf(key, sizeof(key), "wl:%d", i);
        assert_replica_agrees(w, key);
    }
    assert_replica_agrees(w, "wl:lease");
}

static void promote_and_assert_larger_tokens(workload *w)
{
    sg_wait_replicas(w->master, 1, 10000);
    raw_lock_info kept = raw_lock_info_of(w->r, "wl:lease");
    sg_command_status(w->r, "OK", "REPLICAOF NO ONE");
    long long token = raw_lock_acquire(w->r, "promoted:new", "successor", 10000);
    if (token <= w->max_token) {
        fail_msg("the promoted replica granted token %lld, not above %lld issued by its master", token, w->max_token);
    }
    /* the locks it replicated are still held there */
    if (kept.held) {
        raw_lock_info now = raw_lock_info_of(w->r, "wl:lease");
        assert_true(now.held);
        assert_int_equal(now.token, kept.token);
        assert_int_equal(raw_lock_acquire(w->r, "wl:lease", "intruder", 10000), 0);
    }
}

static void test_replica_holds_the_same_locks_after_a_random_workload_with_handoffs(void **state)
{
    workload w;
    workload_start(&w, *state, 1);
    run_lock_workload(&w, WORKLOAD_OPS);
    assert_digests_equal(&w);
}

static void test_replica_that_syncs_after_the_workload_holds_the_same_locks(void **state)
{
    workload w;
    workload_start(&w, *state, 0);
    run_lock_workload(&w, WORKLOAD_OPS / 2);
    attach_replica(&w);
    assert_digests_equal(&w);
}

static void test_replica_refuses_lock_writes_with_readonly(void **state)
{
    workload w;
    workload_start(&w, *state, 1);
    note_token(&w, raw_lock_acquire(w.m, "ro:held", "keeper", 60000));
    sg_wait_replicas(w.master, 1, 10000);
    char *before = sg_debug_digest(w.r);
    sg_command_error(w.r, "READONLY", "LOCK.ACQUIRE ro:free someone 10000");
    sg_command_error(w.r, "READONLY", "LOCK.ACQUIRE ro:free someone 10000 WAIT 100");
    sg_command_error(w.r, "READONLY", "LOCK.ACQUIRE ro:held keeper 10000");
    sg_command_error(w.r, "READONLY", "LOCK.RELEASE ro:held keeper");
    sg_command_error(w.r, "READONLY", "LOCK.EXTEND ro:held keeper 10000");
    sg_command_error(w.r, "READONLY", "LOCK.GRANT ro:free someone %lld %lld 1", sg_unix_us() + AHEAD_US,
                     sg_unix_us() / 1000 + 60000);
    char *after = sg_debug_digest(w.r);
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("the replica's dataset changed after refused writes");
    raw_lock_info info = raw_lock_info_of(w.r, "ro:held");
    assert_true(info.held);
    assert_int_equal(info.owner_len, 6);
    assert_memory_equal(info.owner, "keeper", 6);
}

static void test_promoted_replica_issues_tokens_above_every_token_of_its_master(void **state)
{
    workload w;
    workload_start(&w, *state, 1);
    run_lock_workload(&w, WORKLOAD_OPS / 2);
    promote_and_assert_larger_tokens(&w);
}

static void test_replica_synced_after_the_workload_once_promoted_issues_larger_tokens(void **state)
{
    workload w;
    workload_start(&w, *state, 0);
    run_lock_workload(&w, WORKLOAD_OPS / 3);
    /* the last grant is of a lock released at once: its token reaches the replica only as the
     * server's last token in the RDB of the full sync */
    long long token = raw_lock_acquire(w.m, "gone", "briefly", 10000);
    note_token(&w, token);
    assert_int_equal(sg_command_integer(w.m, "LOCK.RELEASE gone briefly"), 1);
    attach_replica(&w);
    promote_and_assert_larger_tokens(&w);
}

/* ---- an exhausted token clock ---------------------------------------------------------------------- */

/* A client may move the token clock at most 365 days (TOKEN_MAX_AHEAD_US) ahead of Unix time:
 * LOCK.GRANT of a token beyond refuses and changes nothing, so nobody can exhaust the clock (one
 * grant of 2^63-1 used to make every later LOCK.ACQUIRE and IDEMP.BEGIN fail, through FLUSHALL and
 * reloads). A token at the bound is taken, tokens continue above it, a reload keeps the clock and
 * the replica agrees. */
#define TOKEN_MAX_AHEAD_US 31536000000000LL

static void test_a_token_beyond_the_bound_is_refused_and_poisons_nothing(void **state)
{
    sg_fixture *f = *state;
    static const char *const args[] = {"--repl-diskless-sync-delay", "0", NULL};
    sg_server *master = sg_fixture_start(f, args);
    sg_server *replica = sg_fixture_start_replica(f, master, NULL);
    redisContext *c = sg_fixture_connect(f, master);
    long long deadline = sg_unix_us() / 1000 + 600000;
    long long last_before = sg_info_number(c, "slotguard_lock_last_token");

    sg_command_error(c, "ERR invalid token", "LOCK.GRANT top holder 9223372036854775807 %lld", deadline);
    sg_command_error(c, "ERR invalid token", "IDEMP.RECORD req in_progress fp 9223372036854775807 %lld", deadline);
    assert_int_equal(sg_command_integer(c, "EXISTS top req"), 0);
    assert_int_equal(sg_info_number(c, "slotguard_lock_last_token"), last_before);
    long long now_us = sg_unix_us();
    long long token = raw_lock_acquire(c, "other", "someone", 1000);
    if (token < now_us - 1000000 || token > now_us + 60000000)
        fail_msg("token %lld after a refused far grant, Unix time %lld us", token, now_us);

    /* At the bound (minus a margin for the time the command takes to arrive): taken. */
    long long far = sg_unix_us() + TOKEN_MAX_AHEAD_US - 60000000;
    sg_command_status(c, "OK", "LOCK.GRANT top holder %lld %lld", far, deadline);
    long long next = raw_lock_acquire(c, "next", "someone", 1000);
    assert_true(next > far);
    sg_command_status(c, "OK", "FLUSHALL");
    assert_true(raw_lock_acquire(c, "after-flush", "someone", 1000) > next);

    /* The clock survives a reload, and the replica holds the same locks. */
    sg_command_status(c, "OK", "DEBUG RELOAD");
    assert_true(raw_lock_acquire(c, "after-reload", "someone", 1000) > next);
    sg_wait_replicas(master, 1, 10000);
    redisContext *rc = sg_fixture_connect(f, replica);
    char *d_master = sg_debug_digest(c), *d_replica = sg_debug_digest(rc);
    assert_string_equal(d_master, d_replica);
    free(d_master);
    free(d_replica);
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, sg_fixture_setup, sg_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_threads_incrementing_under_the_lock_lose_no_update_and_see_tokens_in_grant_order),
        FIXTURE_TEST(test_debug_reload_keeps_held_locks_and_the_token_clock),
        FIXTURE_TEST(test_restart_from_rdb_keeps_held_locks_and_the_token_clock),
        FIXTURE_TEST(test_restart_from_aof_with_rdb_preamble_keeps_held_locks_and_the_token_clock),
        FIXTURE_TEST(test_restart_from_rewritten_aof_without_preamble_keeps_held_locks_and_the_token_clock),
        FIXTURE_TEST(test_restart_from_the_aof_command_log_keeps_held_locks_and_the_token_clock),
        FIXTURE_TEST(test_a_lease_that_ended_while_the_server_was_down_is_gone_after_the_restart),
        FIXTURE_TEST(test_a_lease_that_ended_while_the_server_was_down_is_gone_after_an_aof_replay),
        FIXTURE_TEST(test_replica_holds_the_same_locks_after_a_random_workload_with_handoffs),
        FIXTURE_TEST(test_replica_that_syncs_after_the_workload_holds_the_same_locks),
        FIXTURE_TEST(test_replica_refuses_lock_writes_with_readonly),
        FIXTURE_TEST(test_promoted_replica_issues_tokens_above_every_token_of_its_master),
        FIXTURE_TEST(test_replica_synced_after_the_workload_once_promoted_issues_larger_tokens),
        FIXTURE_TEST(test_a_token_beyond_the_bound_is_refused_and_poisons_nothing),
        FIXTURE_TEST(test_every_acknowledged_grant_and_record_survives_kill_9_with_appendfsync_always),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
