/* test_idemp_safety.c -- the guarantees of README.md "## Idempotency commands" under concurrency, for
 * an at-least-once consumer, across restarts and across replication.
 *
 * (a) Exactly one owner: 32 threads, each with its own connection, IDEMP.BEGIN the same key with the
 *     same fingerprint at the same moment (a barrier); exactly one gets `new`, the others
 *     `in_progress`. Repeated for 200 keys.
 * (b) Exactly-once effects: a simulated at-least-once queue delivers 10,000 messages 1 to 3 times
 *     each, shuffled, to a few worker threads. A worker begins the message's record; on `new` it
 *     sometimes dies (abandons the message: the broker redelivers it after its visibility timeout,
 *     once the lease ended) or stalls past its lease (its completion must then be refused), and
 *     otherwise applies the message's amount with the completion in one script. `in_progress` is
 *     redelivered after the remaining lease, `completed` is dropped. At the end the total is the sum
 *     of the amounts exactly and every record is completed.
 * (c) Persistence: records in progress and completed (binary fingerprints and responses, an empty
 *     and a large response) come back with the same IDEMP.GET and DEBUG DIGEST-VALUE after DEBUG
 *     RELOAD, an RDB restart, AOF restarts (rewritten with and without RDB preamble, and the plain
 *     command log), and tokens issued afterwards are larger than every token before.
 * (d) Replication: after a seeded workload of every command the replica has the master's DEBUG
 *     DIGEST and records, answers IDEMP.GET and refuses every write with READONLY.
 *
 * Every test owns its servers and connections through a fixture whose teardown stops them, pass or
 * fail. Worker threads never call cmocka: they record their first problem and the main thread
 * fails the test. Every wait is bounded. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
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

#define AHEAD_US 3600000000LL /* how far the token clock is pushed ahead of Unix time: 1 hour */

#define DEFAULT_WORKLOAD_SEED UINT64_C(0x1DE3B07E5AFE5EED)

/* ---- (a) exactly one owner --------------------------------------------------------------------- */

#define RACE_THREADS 32
#define RACE_KEYS 200
#define RACE_LEASE_MS 60000

enum { RACE_NONE, RACE_NEW, RACE_IN_PROGRESS };

typedef struct race_shared {
    pthread_barrier_t barrier;
    int outcome[RACE_KEYS][RACE_THREADS];
    long long value[RACE_KEYS][RACE_THREADS]; /* the token, or the remaining lease */
} race_shared;

typedef struct race_worker {
    pthread_t thread;
    redisContext *c;
    int index;
    race_shared *shared;
    char problem[300];
} race_worker;

static void *race_worker_main(void *arg)
{
    race_worker *w = arg;
    for (int k = 0; k < RACE_KEYS; k++) {
        /* every thread passes every barrier, even after a problem, so that none waits forever */
        pthread_barrier_wait(&w->shared->barrier);
        if (w->problem[0] != '\0') continue;
        redisReply *r = redisCommand(w->c, "IDEMP.BEGIN race:%d same-request %d", k, RACE_LEASE_MS);
        if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[1]->type == REDIS_REPLY_INTEGER &&
            (sg_reply_is_text(r->element[0], "new") || sg_reply_is_text(r->element[0], "in_progress"))) {
            w->shared->outcome[k][w->index] = sg_reply_is_text(r->element[0], "new") ? RACE_NEW : RACE_IN_PROGRESS;
            w->shared->value[k][w->index] = r->element[1]->integer;
        } else {
            char got[300] = "no reply";
            if (r != NULL) sg_describe_reply(r, got, sizeof(got));
            else if (w->c->errstr[0]) snprintf(got, sizeof(got), "connection error: %s", w->c->errstr);
            if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1) {
                sg_describe_reply(r->element[0], got, sizeof(got));
            }
            snprintf(w->problem, sizeof(w->problem), "thread %d, race:%d: IDEMP.BEGIN answered %s", w->index, k, got);
        }
        if (r != NULL) freeReplyObject(r);
    }
    return NULL;
}

static void test_threads_beginning_the_same_request_at_once_get_exactly_one_new(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    race_shared *shared = calloc(1, sizeof(*shared));
    race_worker *workers = calloc(RACE_THREADS, sizeof(*workers));
    assert_non_null(shared);
    assert_non_null(workers);
    assert_int_equal(pthread_barrier_init(&shared->barrier, NULL, RACE_THREADS), 0);
    for (int i = 0; i < RACE_THREADS; i++) {
        workers[i].index = i;
        workers[i].shared = shared;
        workers[i].c = sg_fixture_connect(f, s);
    }
    int started = 0;
    for (; started < RACE_THREADS; started++) {
        if (pthread_create(&workers[started].thread, NULL, race_worker_main, &workers[started]) != 0) break;
    }
    if (started < RACE_THREADS) {
        /* the started threads wait at the first barrier for ever: nothing can release them */
        fail_msg("could start only %d of %d threads", started, RACE_THREADS);
    }
    for (int i = 0; i < started; i++) pthread_join(workers[i].thread, NULL);
    pthread_barrier_destroy(&shared->barrier);

    char problem[400] = "";
    for (int i = 0; i < RACE_THREADS && problem[0] == '\0'; i++) {
        if (workers[i].problem[0] != '\0') snprintf(problem, sizeof(problem), "%s", workers[i].problem);
    }
    long long last_token = 0;
    for (int k = 0; k < RACE_KEYS && problem[0] == '\0'; k++) {
        int owners = 0;
        long long token = 0;
        for (int i = 0; i < RACE_THREADS; i++) {
            if (shared->outcome[k][i] == RACE_NEW) {
                owners++;
                token = shared->value[k][i];
            } else if (shared->value[k][i] < 0 || shared->value[k][i] > RACE_LEASE_MS) {
                snprintf(problem, sizeof(problem), "race:%d: in_progress with %lld ms left of a %d ms lease", k,
                         shared->value[k][i], RACE_LEASE_MS);
            }
        }
        if (problem[0] != '\0') break;
        if (owners != 1) {
            snprintf(problem, sizeof(problem), "race:%d: %d of %d threads got new, expected exactly 1", k, owners,
                     RACE_THREADS);
            break;
        }
        if (token <= last_token) {
            snprintf(problem, sizeof(problem), "race:%d: token %lld after %lld of the previous key", k, token,
                     last_token);
            break;
        }
        last_token = token;
        redisReply *r = sg_command(c, "IDEMP.GET race:%d", k);
        int same = r->type == REDIS_REPLY_ARRAY && r->elements == 10 && sg_reply_is_text(r->element[4], "token") &&
                   r->element[5]->type == REDIS_REPLY_INTEGER && r->element[5]->integer == token;
        freeReplyObject(r);
        if (!same) snprintf(problem, sizeof(problem), "race:%d: IDEMP.GET does not show the owner's token %lld", k, token);
    }
    free(shared);
    free(workers);
    if (problem[0] != '\0') fail_msg("%s", problem);
}

/* ---- (b) an at-least-once consumer applies every message exactly once --------------------------- */

#define MESSAGES 10000
#define CONSUMER_THREADS 8
#define CONSUMER_LEASE_MS 300
#define VISIBILITY_TIMEOUT_MS (CONSUMER_LEASE_MS + 50) /* when the broker redelivers an unacked message */
#define CRASH_PERCENT 5
#define STALL_PER_MILLE 3  /* of `new` deliveries: the worker stalls past its lease, then completes */
#define STALL_MS (CONSUMER_LEASE_MS + 100)
#define CONSUMER_LIMIT_MS 60000
#define RESPONSE_TTL_S 3600

static const char complete_and_apply_script[] =
    "local stored = redis.call('IDEMP.COMPLETE', KEYS[1], ARGV[1], ARGV[2], ARGV[3]) "
    "if stored == 1 then redis.call('INCRBY', KEYS[2], ARGV[4]) end "
    "return stored";

typedef struct delivery {
    int64_t ready_ms; /* not delivered before (monotonic ms) */
    uint64_t order;   /* ties: shuffled order of the first deliveries, then arrival order */
    int message;
} delivery;

/* The in-test broker: a min-heap of deliveries by (ready_ms, order). */
typedef struct broker {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    delivery *heap;
    size_t count, capacity;
    uint64_t next_order;
    int in_flight;  /* deliveries a worker holds */
    int stop;       /* a problem or the time limit: workers leave */
    int64_t deadline_ms;
} broker;

static int delivery_before(const delivery *a, const delivery *b)
{
    return a->ready_ms < b->ready_ms || (a->ready_ms == b->ready_ms && a->order < b->order);
}

/* Called with the lock held. Returns 0 when out of memory. */
static int broker_push_locked(broker *b, int message, int64_t ready_ms)
{
    if (b->count == b->capacity) {
        size_t capacity = b->capacity ? b->capacity * 2 : 1024;
        delivery *heap = realloc(b->heap, capacity * sizeof(*heap));
        if (heap == NULL) return 0;
        b->heap = heap;
        b->capacity = capacity;
    }
    size_t i = b->count++;
    b->heap[i] = (delivery){ready_ms, b->next_order++, message};
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!delivery_before(&b->heap[i], &b->heap[parent])) break;
        delivery tmp = b->heap[i];
        b->heap[i] = b->heap[parent];
        b->heap[parent] = tmp;
        i = parent;
    }
    return 1;
}

static delivery broker_pop_locked(broker *b)
{
    delivery top = b->heap[0];
    b->heap[0] = b->heap[--b->count];
    size_t i = 0;
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, least = i;
        if (left < b->count && delivery_before(&b->heap[left], &b->heap[least])) least = left;
        if (right < b->count && delivery_before(&b->heap[right], &b->heap[least])) least = right;
        if (least == i) break;
        delivery tmp = b->heap[i];
        b->heap[i] = b->heap[least];
        b->heap[least] = tmp;
        i = least;
    }
    return top;
}

/* The next delivery that is due; -1 when everything was acknowledged or the run stopped. */
static int broker_take(broker *b)
{
    pthread_mutex_lock(&b->lock);
    int message = -1;
    for (;;) {
        if (b->stop || (b->count == 0 && b->in_flight == 0)) break;
        int64_t now = sg_now_ms();
        if (now > b->deadline_ms) {
            b->stop = 1;
            pthread_cond_broadcast(&b->changed);
            break;
        }
        if (b->count > 0 && b->heap[0].ready_ms <= now) {
            message = broker_pop_locked(b).message;
            b->in_flight++;
            break;
        }
        int64_t wait_ms = b->count > 0 ? b->heap[0].ready_ms - now : 50;
        if (wait_ms > 50) wait_ms = 50;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)wait_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&b->changed, &b->lock, &until);
    }
    pthread_mutex_unlock(&b->lock);
    return message;
}

/* Finish a delivery: acknowledged (redeliver_after_ms < 0) or redelivered after a delay. */
static int broker_finish(broker *b, int message, int redeliver_after_ms)
{
    pthread_mutex_lock(&b->lock);
    int ok = 1;
    if (redeliver_after_ms >= 0) ok = broker_push_locked(b, message, sg_now_ms() + redeliver_after_ms);
    b->in_flight--;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->lock);
    return ok;
}

static void broker_stop(broker *b)
{
    pthread_mutex_lock(&b->lock);
    b->stop = 1;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->lock);
}

typedef struct consumer_shared {
    broker queue;
    long long amounts[MESSAGES];
    atomic_int applied[MESSAGES]; /* how often the script answered 1 for the message */
    atomic_llong deliveries, crashes, stalls, lost, in_progress, replays;
} consumer_shared;

typedef struct consumer_worker {
    pthread_t thread;
    redisContext *c;
    int index;
    sg_prng rng;
    consumer_shared *shared;
    char problem[300];
} consumer_worker;

static void consumer_problem(consumer_worker *w, int message, const char *what, const redisReply *r)
{
    char got[300] = "no reply";
    if (r != NULL) sg_describe_reply(r, got, sizeof(got));
    else if (w->c->errstr[0]) snprintf(got, sizeof(got), "connection error: %s", w->c->errstr);
    if (w->problem[0] == '\0') {
        snprintf(w->problem, sizeof(w->problem), "worker %d, msg:%d: %s: %s", w->index, message, what, got);
    }
    broker_stop(&w->shared->queue);
}

static void message_response(int message, char *out, size_t size)
{
    snprintf(out, size, "ok:%d", message);
}

static void message_fingerprint(const consumer_shared *s, int message, char *out, size_t size)
{
    snprintf(out, size, "charge:%d:%lld", message, s->amounts[message]);
}

/* Handle one delivery; returns how long until the broker redelivers it, or -1 (acknowledged), or
 * -2 (a problem). */
static int consume(consumer_worker *w, int message)
{
    consumer_shared *s = w->shared;
    char key[32], fp[64], response[32], amount[32], token_text[32];
    snprintf(key, sizeof(key), "msg:%d", message);
    message_fingerprint(s, message, fp, sizeof(fp));
    message_response(message, response, sizeof(response));
    atomic_fetch_add(&s->deliveries, 1);

    redisReply *r = redisCommand(w->c, "IDEMP.BEGIN %s %s %d", key, fp, CONSUMER_LEASE_MS);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        consumer_problem(w, message, "IDEMP.BEGIN", r);
        if (r != NULL) freeReplyObject(r);
        return -2;
    }
    if (sg_reply_is_text(r->element[0], "completed")) {
        int same = sg_reply_is_bytes(r->element[1], response, strlen(response));
        if (!same) consumer_problem(w, message, "IDEMP.BEGIN replayed another response", r->element[1]);
        freeReplyObject(r);
        atomic_fetch_add(&s->replays, 1);
        return same ? -1 : -2;
    }
    if (sg_reply_is_text(r->element[0], "in_progress") && r->element[1]->type == REDIS_REPLY_INTEGER) {
        long long left = r->element[1]->integer;
        freeReplyObject(r);
        if (left < 0 || left > CONSUMER_LEASE_MS) { /* 0: the lease ends in this very millisecond */
            char what[100];
            snprintf(what, sizeof(what), "in_progress with %lld ms left of a %d ms lease", left, CONSUMER_LEASE_MS);
            consumer_problem(w, message, what, NULL);
            return -2;
        }
        atomic_fetch_add(&s->in_progress, 1);
        return (int)left; /* Retry-After */
    }
    if (!sg_reply_is_text(r->element[0], "new") || r->element[1]->type != REDIS_REPLY_INTEGER) {
        consumer_problem(w, message, "IDEMP.BEGIN answered neither new, in_progress nor completed", r->element[0]);
        freeReplyObject(r);
        return -2;
    }
    long long token = r->element[1]->integer;
    freeReplyObject(r);

    if (sg_prng_below(&w->rng, 100) < CRASH_PERCENT) {
        /* the worker dies: no completion, no acknowledgement */
        atomic_fetch_add(&s->crashes, 1);
        return VISIBILITY_TIMEOUT_MS;
    }
    int stalled = sg_prng_below(&w->rng, 1000) < STALL_PER_MILLE;
    if (stalled) {
        atomic_fetch_add(&s->stalls, 1);
        sg_sleep_ms(STALL_MS);
    }
    snprintf(amount, sizeof(amount), "%lld", s->amounts[message]);
    snprintf(token_text, sizeof(token_text), "%lld", token);
    r = redisCommand(w->c, "EVAL %s 2 %s total %s %s %d %s", complete_and_apply_script, key, token_text, response,
                     RESPONSE_TTL_S, amount);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        consumer_problem(w, message, "EVAL IDEMP.COMPLETE + INCRBY", r);
        if (r != NULL) freeReplyObject(r);
        return -2;
    }
    long long stored = r->integer;
    freeReplyObject(r);
    if (stored == 1) {
        if (stalled) {
            consumer_problem(w, message, "IDEMP.COMPLETE stored a response after the lease had ended", NULL);
            return -2;
        }
        atomic_fetch_add(&s->applied[message], 1);
        return -1;
    }
    if (stored == 0) {
        /* the lease was lost (a stall, or a slow worker): the broker redelivers */
        atomic_fetch_add(&s->lost, 1);
        return 0;
    }
    char what[100];
    snprintf(what, sizeof(what), "IDEMP.COMPLETE with a fresh token answered %lld", stored);
    consumer_problem(w, message, what, NULL);
    return -2;
}

static void *consumer_worker_main(void *arg)
{
    consumer_worker *w = arg;
    for (;;) {
        int message = broker_take(&w->shared->queue);
        if (message < 0) break;
        int after = consume(w, message);
        if (after == -2) {
            broker_finish(&w->shared->queue, message, -1);
            break;
        }
        if (!broker_finish(&w->shared->queue, message, after)) {
            snprintf(w->problem, sizeof(w->problem), "worker %d: out of memory", w->index);
            broker_stop(&w->shared->queue);
            break;
        }
    }
    return NULL;
}

/* Look up one counter of INFO slotguard. */
static long long info_counter(redisContext *c, const char *field)
{
    char *value = sg_info_field(c, field);
    if (value == NULL) fail_msg("INFO has no %s", field);
    long long n = strtoll(value, NULL, 10);
    free(value);
    return n;
}

static void test_an_at_least_once_consumer_applies_every_message_exactly_once(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    consumer_shared *shared = calloc(1, sizeof(*shared));
    consumer_worker *workers = calloc(CONSUMER_THREADS, sizeof(*workers));
    assert_non_null(shared);
    assert_non_null(workers);
    sg_prng rng = {sg_workload_seed(DEFAULT_WORKLOAD_SEED)};

    /* the messages and their first deliveries: each 1 to 3 times, shuffled */
    long long sum = 0;
    int *first = malloc(3 * MESSAGES * sizeof(*first));
    assert_non_null(first);
    size_t n = 0;
    for (int m = 0; m < MESSAGES; m++) {
        shared->amounts[m] = 1 + (long long)sg_prng_below(&rng, 1000);
        sum += shared->amounts[m];
        int copies = 1 + (int)sg_prng_below(&rng, 3);
        for (int k = 0; k < copies; k++) first[n++] = m;
    }
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)sg_prng_below(&rng, i + 1);
        int tmp = first[i];
        first[i] = first[j];
        first[j] = tmp;
    }
    broker *b = &shared->queue;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->changed, NULL);
    for (size_t i = 0; i < n; i++) assert_true(broker_push_locked(b, first[i], 0));
    free(first);

    for (int i = 0; i < CONSUMER_THREADS; i++) {
        workers[i].index = i;
        workers[i].shared = shared;
        workers[i].rng.state = sg_prng_next(&rng);
        workers[i].c = sg_fixture_connect(f, s);
    }
    int64_t start = sg_now_ms();
    b->deadline_ms = start + CONSUMER_LIMIT_MS;
    int started = 0;
    for (; started < CONSUMER_THREADS; started++) {
        if (pthread_create(&workers[started].thread, NULL, consumer_worker_main, &workers[started]) != 0) break;
    }
    if (started < CONSUMER_THREADS) broker_stop(b);
    for (int i = 0; i < started; i++) pthread_join(workers[i].thread, NULL);
    int64_t elapsed = sg_now_ms() - start;
    size_t left_over = b->count;
    int stopped = b->stop;
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->changed);
    free(b->heap);
    print_message("%zu first deliveries of %d messages in %lld ms: %lld deliveries, %lld crashes, %lld stalls, "
                  "%lld leases lost, %lld in_progress, %lld replays\n",
                  n, MESSAGES, (long long)elapsed, (long long)shared->deliveries, (long long)shared->crashes,
                  (long long)shared->stalls, (long long)shared->lost, (long long)shared->in_progress,
                  (long long)shared->replays);

    char problem[400] = "";
    for (int i = 0; i < CONSUMER_THREADS && problem[0] == '\0'; i++) {
        if (workers[i].problem[0] != '\0') snprintf(problem, sizeof(problem), "%s", workers[i].problem);
    }
    if (problem[0] == '\0' && started < CONSUMER_THREADS) {
        snprintf(problem, sizeof(problem), "could start only %d threads", started);
    }
    if (problem[0] == '\0' && (stopped || left_over > 0)) {
        snprintf(problem, sizeof(problem), "%zu deliveries still queued after %d ms", left_over, CONSUMER_LIMIT_MS);
    }
    for (int m = 0; m < MESSAGES && problem[0] == '\0'; m++) {
        int applied = atomic_load(&shared->applied[m]);
        if (applied != 1) snprintf(problem, sizeof(problem), "msg:%d applied %d times", m, applied);
    }
    if (problem[0] != '\0') {
        free(workers);
        free(shared);
        fail_msg("%s", problem);
    }

    /* the total, exactly */
    redisReply *r = sg_command(c, "GET total");
    long long total = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    if (total != sum) snprintf(problem, sizeof(problem), "total is %lld, the amounts sum to %lld", total, sum);

    /* every record completed with its fingerprint and response (pipelined) */
    for (int m = 0; m < MESSAGES; m++) redisAppendCommand(c, "IDEMP.GET msg:%d", m);
    for (int m = 0; m < MESSAGES; m++) {
        void *reply = NULL;
        if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) fail_msg("IDEMP.GET msg:%d: %s", m, c->errstr);
        redisReply *g = reply;
        char fp[64], response[32];
        message_fingerprint(shared, m, fp, sizeof(fp));
        message_response(m, response, sizeof(response));
        int ok = g->type == REDIS_REPLY_ARRAY && g->elements == 10 && sg_reply_is_text(g->element[1], "completed") &&
                 sg_reply_is_bytes(g->element[3], fp, strlen(fp)) && sg_reply_is_bytes(g->element[9], response, strlen(response));
        if (!ok && problem[0] == '\0') snprintf(problem, sizeof(problem), "msg:%d is not completed with its response", m);
        freeReplyObject(g);
    }
    long long dbsize = sg_command_integer(c, "DBSIZE");
    if (problem[0] == '\0' && dbsize != MESSAGES + 1) {
        snprintf(problem, sizeof(problem), "DBSIZE %lld, expected %d records and the total", dbsize, MESSAGES);
    }
    /* the server saw one stored completion per message, and one new per message plus one per
     * abandoned or lost lease */
    long long stored = info_counter(c, "slotguard_idemp_complete_stored");
    long long begun = info_counter(c, "slotguard_idemp_begin_new");
    long long expected_new = MESSAGES + shared->crashes + shared->lost;
    if (problem[0] == '\0' && stored != MESSAGES) {
        snprintf(problem, sizeof(problem), "slotguard_idemp_complete_stored is %lld, expected %d", stored, MESSAGES);
    }
    if (problem[0] == '\0' && begun != expected_new) {
        snprintf(problem, sizeof(problem), "slotguard_idemp_begin_new is %lld, expected %lld", begun, expected_new);
    }
    free(workers);
    free(shared);
    if (problem[0] != '\0') fail_msg("%s", problem);
}

/* ---- (c) persistence ------------------------------------------------------------------------------ */

static void assert_rewritten_base(const sg_server *s, sg_persistence_mode mode)
{
    static const char *const record[] = {"IDEMP.RECORD", NULL};
    sg_assert_aof_base(s, mode == SG_AOF_REWRITE_RDB_PREAMBLE, record);
}

#define PERSIST_KEYS 9
#define BIG_RESPONSE_LEN (256 * 1024)

typedef struct persisted_key {
    const char *name;
    char *get;          /* IDEMP.GET (or GET for the string) without the ttl, as bytes */
    size_t get_len;
    long long ttl;      /* ms left */
    char *value_digest; /* DEBUG DIGEST-VALUE */
} persisted_key;

typedef struct persisted {
    persisted_key keys[PERSIST_KEYS];
    char *digest;
} persisted;

static const char *const persist_names[PERSIST_KEYS] = {
    "p:open", "p:open:1024", "p:done", "p:empty", "p:big", "p:recorded", "p:recorded:done", "p:setnx", "p:late",
};

static void append_bytes(char **buf, size_t *len, const char *bytes, size_t n)
{
    char *grown = realloc(*buf, *len + n + 24);
    assert_non_null(grown);
    *buf = grown;
    *len += (size_t)snprintf(*buf + *len, 24, "%zu:", n);
    if (n > 0) memcpy(*buf + *len, bytes, n);
    *len += n;
}

/* A byte picture of one key: every IDEMP.GET field but the ttl (which is returned apart). */
static void picture_key(redisContext *c, persisted_key *k)
{
    k->get = NULL;
    k->get_len = 0;
    if (strcmp(k->name, "p:setnx") == 0) {
        redisReply *r = sg_command(c, "GET %s", k->name);
        if (r->type != REDIS_REPLY_STRING) fail_msg("GET %s: reply type %d", k->name, r->type);
        append_bytes(&k->get, &k->get_len, r->str, r->len);
        freeReplyObject(r);
        k->ttl = sg_command_integer(c, "PTTL %s", k->name);
    } else {
        redisReply *r = sg_command(c, "IDEMP.GET %s", k->name);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 10) {
            char got[300];
            sg_describe_reply(r, got, sizeof(got));
            freeReplyObject(r);
            fail_msg("IDEMP.GET %s: %s", k->name, got);
        }
        k->ttl = -1;
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const redisReply *field = r->element[i], *value = r->element[i + 1];
            append_bytes(&k->get, &k->get_len, field->str, field->len);
            if (sg_reply_is_text(field, "ttl")) {
                k->ttl = value->integer;
            } else if (value->type == REDIS_REPLY_INTEGER) {
                char number[32];
                int n = snprintf(number, sizeof(number), "%lld", value->integer);
                append_bytes(&k->get, &k->get_len, number, (size_t)n);
            } else if (value->type == REDIS_REPLY_NIL) {
                append_bytes(&k->get, &k->get_len, "(nil)", 5);
            } else {
                append_bytes(&k->get, &k->get_len, value->str, value->len);
            }
        }
        freeReplyObject(r);
    }
    k->value_digest = sg_value_digest(c, k->name);
}

static void take_picture(redisContext *c, persisted *p)
{
    for (int i = 0; i < PERSIST_KEYS; i++) {
        p->keys[i].name = persist_names[i];
        picture_key(c, &p->keys[i]);
    }
    p->digest = sg_debug_digest(c);
}

static void free_picture(persisted *p)
{
    for (int i = 0; i < PERSIST_KEYS; i++) {
        free(p->keys[i].get);
        free(p->keys[i].value_digest);
    }
    free(p->digest);
    memset(p, 0, sizeof(*p));
}

static void assert_same_picture(const persisted *before, const persisted *after)
{
    for (int i = 0; i < PERSIST_KEYS; i++) {
        const persisted_key *b = &before->keys[i], *a = &after->keys[i];
        if (b->get_len != a->get_len || memcmp(b->get, a->get, b->get_len) != 0) {
            fail_msg("%s: IDEMP.GET differs after the restart", b->name);
        }
        if (a->ttl <= 0 || a->ttl > b->ttl) fail_msg("%s: ttl %lld after the restart, %lld before", b->name, a->ttl, b->ttl);
        if (strcmp(b->value_digest, a->value_digest) != 0) {
            fail_msg("%s: DEBUG DIGEST-VALUE %s after the restart, %s before", b->name, a->value_digest, b->value_digest);
        }
    }
    if (strcmp(before->digest, after->digest) != 0) {
        fail_msg("DEBUG DIGEST %s after the restart, %s before", after->digest, before->digest);
    }
}

static const char open_fp[] = {'o', 'p', 'e', 'n', '\0', '\r', '\n', '!'};
static const char done_fp[] = {'\0', 'd', 'o', 'n', 'e', '\r', '\n'};
static const char done_response[] = {'\0', '2', '0', '1', '\r', '\n', '\r', '\n', '{', '}', '\0'};
static const char setnx_value[] = {'v', '\0', '\r', '\n'};

typedef struct persist_tokens {
    long long open, open_1024, max; /* the owners of the records in progress, the largest token issued */
} persist_tokens;

static void note(persist_tokens *t, long long token)
{
    if (token > t->max) t->max = token;
}

/* Push the token clock `ahead_us` past Unix time with a record that is then deleted: only the
 * server's persisted last token can keep later tokens above it. */
static void push_token_clock(redisContext *c, persist_tokens *t, long long ahead_us)
{
    long long pushed = sg_unix_us() + ahead_us;
    long long deadline_ms = sg_unix_us() / 1000 + 600000;
    sg_command_status(c, "OK", "IDEMP.RECORD p:pusher IN_PROGRESS fp %lld %lld", pushed, deadline_ms);
    assert_int_equal(sg_command_integer(c, "DEL p:pusher"), 1);
    note(t, pushed);
}

static void make_persisted_records(redisContext *c, persist_tokens *t)
{
    memset(t, 0, sizeof(*t));
    t->open = raw_idemp_begin_new_bin(c, "p:open", open_fp, sizeof(open_fp), 600000);
    note(t, t->open);
    char fp1024[1024];
    for (size_t i = 0; i < sizeof(fp1024); i++) fp1024[i] = (char)(i * 13 + 1);
    t->open_1024 = raw_idemp_begin_new_bin(c, "p:open:1024", fp1024, sizeof(fp1024), 600000);
    note(t, t->open_1024);

    long long token = raw_idemp_begin_new_bin(c, "p:done", done_fp, sizeof(done_fp), 600000);
    note(t, token);
    assert_int_equal(raw_idemp_complete_bin(c, "p:done", token, done_response, sizeof(done_response), 3600), 1);
    token = raw_idemp_begin_new_bin(c, "p:empty", "fp", 2, 600000);
    note(t, token);
    assert_int_equal(raw_idemp_complete_bin(c, "p:empty", token, "", 0, 3600), 1);
    char *big = malloc(BIG_RESPONSE_LEN);
    assert_non_null(big);
    for (size_t i = 0; i < BIG_RESPONSE_LEN; i++) big[i] = (char)(i * 29 + 3);
    token = raw_idemp_begin_new_bin(c, "p:big", "fp", 2, 600000);
    note(t, token);
    assert_int_equal(raw_idemp_complete_bin(c, "p:big", token, big, BIG_RESPONSE_LEN, 3600), 1);
    free(big);

    /* records set by IDEMP.RECORD with tokens ahead of the clock, kept */
    long long ahead = sg_unix_us() + AHEAD_US;
    long long deadline_ms = sg_unix_us() / 1000 + 600000;
    sg_command_status(c, "OK", "IDEMP.RECORD p:recorded IN_PROGRESS %b %lld %lld", open_fp, sizeof(open_fp), ahead,
                      deadline_ms);
    sg_command_status(c, "OK", "IDEMP.RECORD p:recorded:done COMPLETED %b %lld %lld %b", done_fp, sizeof(done_fp),
                      ahead + 1, deadline_ms, done_response, sizeof(done_response));
    note(t, ahead + 1);

    /* an aborted request: its token is among those issued */
    token = raw_idemp_begin_new_bin(c, "p:aborted", "fp", 2, 600000);
    note(t, token);
    assert_int_equal(sg_command_integer(c, "IDEMP.ABORT p:aborted %lld", token), 1);
    assert_int_equal(sg_command_integer(c, "IDEMP.SETNX p:setnx 3600 %b", setnx_value, sizeof(setnx_value)), 1);
}

static void assert_records_survive(void **state, sg_persistence_mode mode)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, sg_persistence_args(mode));
    redisContext *c = sg_fixture_connect(f, s);
    persist_tokens t;
    make_persisted_records(c, &t);
    /* a plain rewrite does not carry the last token (README), so there the rewrite comes first and
     * what follows is in the incremental AOF as commands */
    if (mode == SG_AOF_REWRITE_PLAIN) {
        sg_rewrite_aof(c);
        assert_rewritten_base(s, mode);
    }
    long long late = raw_idemp_begin_new_bin(c, "p:late", "late", 4, 600000);
    note(&t, late);
    /* the last token issued before the snapshot belongs to a deleted record (see push_token_clock) */
    push_token_clock(c, &t, 2 * AHEAD_US);
    switch (mode) {
    case SG_DEBUG_RELOAD:
    case SG_RDB_SAVED_AT_SHUTDOWN: /* the restart's SHUTDOWN saves */
    case SG_AOF_COMMAND_LOG:
    case SG_AOF_REWRITE_PLAIN: break;
    case SG_RDB_RESTART: sg_command_status(c, "OK", "SAVE"); break;
    case SG_AOF_REWRITE_RDB_PREAMBLE:
        sg_rewrite_aof(c);
        assert_rewritten_base(s, mode);
        break;
    }

    persisted before, after;
    take_picture(c, &before);
    if (mode == SG_DEBUG_RELOAD) {
        sg_command_status(c, "OK", "DEBUG RELOAD");
    } else {
        sg_server_restart(s);
        c = sg_fixture_reconnect(f, c, s);
    }
    take_picture(c, &after);
    assert_same_picture(&before, &after);
    free_picture(&before);
    free_picture(&after);

    /* the records still work: owners own, completed requests replay */
    long long fresh = raw_idemp_begin_new_bin(c, "p:fresh", "fp", 2, 10000);
    if (fresh <= t.max) {
        fail_msg("first token after the restart is %lld, not above %lld issued before", fresh, t.max);
    }
    redisReply *r = sg_command(c, "IDEMP.BEGIN p:open %b 1000", open_fp, sizeof(open_fp));
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && sg_reply_is_text(r->element[0], "in_progress");
    freeReplyObject(r);
    if (!ok) fail_msg("IDEMP.BEGIN p:open after the restart is not in_progress");
    r = sg_command(c, "IDEMP.BEGIN p:done %b 1000", done_fp, sizeof(done_fp));
    ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && sg_reply_is_text(r->element[0], "completed") &&
         sg_reply_is_bytes(r->element[1], done_response, sizeof(done_response));
    freeReplyObject(r);
    if (!ok) fail_msg("IDEMP.BEGIN p:done after the restart does not replay the binary response");
    assert_int_equal(raw_idemp_complete_bin(c, "p:open", t.open, "after", 5, 60), 1);
    assert_int_equal(sg_command_integer(c, "IDEMP.ABORT p:open:1024 %lld", t.open_1024), 1);
    long long again = raw_idemp_begin_new_bin(c, "p:open:1024", "fp", 2, 10000);
    if (again <= fresh) fail_msg("token %lld after %lld", again, fresh);
}

static void test_debug_reload_keeps_records_and_the_token_clock(void **state)
{
    assert_records_survive(state, SG_DEBUG_RELOAD);
}

static void test_restart_from_rdb_keeps_records_and_the_token_clock(void **state)
{
    assert_records_survive(state, SG_RDB_RESTART);
}

static void test_restart_from_aof_with_rdb_preamble_keeps_records_and_the_token_clock(void **state)
{
    assert_records_survive(state, SG_AOF_REWRITE_RDB_PREAMBLE);
}

static void test_restart_from_rewritten_aof_without_preamble_keeps_records_and_the_token_clock(void **state)
{
    assert_records_survive(state, SG_AOF_REWRITE_PLAIN);
}

static void test_restart_from_the_aof_command_log_keeps_records_and_the_token_clock(void **state)
{
    assert_records_survive(state, SG_AOF_COMMAND_LOG);
}

/* ---- (d) replication ------------------------------------------------------------------------------ */

static const char *const master_args[] = {"--repl-diskless-sync-delay", "0", NULL};

#define WORKLOAD_KEYS 40
#define WORKLOAD_OPS 4000
#define SHORT_LEASE_KEYS 20

typedef struct workload {
    sg_prng rng;
    redisContext *mc;
    long long tokens[WORKLOAD_KEYS]; /* the last token issued per key, 0 when none */
} workload;

static void random_bytes(sg_prng *rng, char *out, size_t len)
{
    static const char alphabet[] = {'a', 'b', '\0', '\r', '\n', 'z', '0', '9'};
    for (size_t i = 0; i < len; i++) out[i] = alphabet[sg_prng_below(rng, sizeof(alphabet))];
}

static void run_idemp_workload(workload *w)
{
    char key[32], response[64];
    static const char *const fingerprints[] = {"fp-a", "fp-b"};
    for (int op = 0; op < WORKLOAD_OPS; op++) {
        int k = (int)sg_prng_below(&w->rng, WORKLOAD_KEYS);
        snprintf(key, sizeof(key), "w:%d", k);
        uint64_t what = sg_prng_below(&w->rng, 100);
        if (what < 10) {
            snprintf(key, sizeof(key), "s:%d", (int)sg_prng_below(&w->rng, WORKLOAD_KEYS));
            if (sg_prng_below(&w->rng, 2)) sg_command_integer(w->mc, "IDEMP.SETNX %s 3600", key);
            else sg_command_integer(w->mc, "IDEMP.SETNX %s 3600 seen-%d", key, op);
        } else if (what < 45) {
            const char *fp = fingerprints[sg_prng_below(&w->rng, 2)];
            redisReply *r = sg_command(w->mc, "IDEMP.BEGIN %s %s 600000", key, fp);
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) fail_msg("IDEMP.BEGIN %s: type %d", key, r->type);
            if (sg_reply_is_text(r->element[0], "new")) w->tokens[k] = r->element[1]->integer;
            freeReplyObject(r);
        } else if (what < 70) {
            size_t len = (size_t)sg_prng_below(&w->rng, sizeof(response));
            random_bytes(&w->rng, response, len);
            long long token = w->tokens[k] ? w->tokens[k] : 1;
            if (sg_prng_below(&w->rng, 5) == 0) token += 1; /* a wrong token */
            raw_idemp_complete_bin(w->mc, key, token, response, len, 3600);
        } else if (what < 80) {
            long long token = w->tokens[k] ? w->tokens[k] : 1;
            long long amount = 1 + (long long)sg_prng_below(&w->rng, 100);
            redisReply *r = sg_command(w->mc, "EVAL %s 2 %s total %lld ok 3600 %lld", complete_and_apply_script, key,
                                       token, amount);
            if (r->type != REDIS_REPLY_INTEGER) fail_msg("EVAL on %s: type %d", key, r->type);
            freeReplyObject(r);
        } else if (what < 95) {
            long long token = w->tokens[k] ? w->tokens[k] : 1;
            if (sg_prng_below(&w->rng, 4) == 0) token += 1;
            sg_command_integer(w->mc, "IDEMP.ABORT %s %lld", key, token);
        } else {
            long long token = sg_unix_us() + (long long)sg_prng_below(&w->rng, 1000000);
            long long deadline = sg_unix_us() / 1000 + 600000;
            if (sg_prng_below(&w->rng, 2)) {
                sg_command_status(w->mc, "OK", "IDEMP.RECORD %s IN_PROGRESS fp-a %lld %lld", key, token, deadline);
                w->tokens[k] = token;
            } else {
                sg_command_status(w->mc, "OK", "IDEMP.RECORD %s COMPLETED fp-b %lld %lld recorded", key, token,
                                  deadline);
            }
        }
    }
    /* leases that end: on the master the expired keys are deleted (and DEL replicated) when touched;
     * every one is then begun again, completed late (refused) or left to BEGIN */
    long long short_tokens[SHORT_LEASE_KEYS];
    for (int i = 0; i < SHORT_LEASE_KEYS; i++) {
        snprintf(key, sizeof(key), "x:%d", i);
        short_tokens[i] = raw_idemp_begin_new_bin(w->mc, key, "fp", 2, 50);
    }
    sg_sleep_ms(150);
    for (int i = 0; i < SHORT_LEASE_KEYS; i++) {
        snprintf(key, sizeof(key), "x:%d", i);
        if (i % 2 == 0) assert_int_equal(raw_idemp_complete_bin(w->mc, key, short_tokens[i], "late", 4, 3600), 0);
        long long token = raw_idemp_begin_new_bin(w->mc, key, "fp", 2, 600000);
        if (token <= short_tokens[i]) fail_msg("%s: token %lld after the lease of %lld ended", key, token, short_tokens[i]);
        if (i % 3 == 0) assert_int_equal(raw_idemp_complete_bin(w->mc, key, token, "r", 1, 3600), 1);
    }
}

/* Every record and SETNX key of the workload reads the same on master and replica. */
static void assert_replica_agrees(redisContext *mc, redisContext *rc)
{
    sg_assert_same_digest(mc, rc);
    assert_int_equal(sg_command_integer(rc, "DBSIZE"), sg_command_integer(mc, "DBSIZE"));
    char key[32];
    for (int i = 0; i < WORKLOAD_KEYS + SHORT_LEASE_KEYS; i++) {
        if (i < WORKLOAD_KEYS) snprintf(key, sizeof(key), "w:%d", i);
        else snprintf(key, sizeof(key), "x:%d", i - WORKLOAD_KEYS);
        redisReply *m = sg_command(mc, "IDEMP.GET %s", key);
        redisReply *r = sg_command(rc, "IDEMP.GET %s", key);
        int ok = m->type == r->type;
        if (ok && m->type == REDIS_REPLY_ARRAY) {
            ok = m->elements == 10 && r->elements == 10;
            for (size_t e = 0; ok && e < 10; e++) {
                const redisReply *a = m->element[e], *b = r->element[e];
                if (e == 7) continue; /* ttl: each server's own clock */
                ok = a->type == b->type && a->integer == b->integer && a->len == b->len &&
                     (a->len == 0 || memcmp(a->str, b->str, a->len) == 0);
            }
        }
        freeReplyObject(m);
        freeReplyObject(r);
        if (!ok) fail_msg("IDEMP.GET %s differs between master and replica", key);
    }
}

static void test_replica_holds_the_same_records_after_a_workload_of_every_command(void **state)
{
    sg_fixture *f = *state;
    sg_server *m = sg_fixture_start(f, master_args);
    sg_server *r = sg_fixture_start_replica(f, m, NULL);
    workload w = {.rng = {sg_workload_seed(DEFAULT_WORKLOAD_SEED)}};
    w.mc = sg_fixture_connect(f, m);
    redisContext *rc = sg_fixture_connect(f, r);
    run_idemp_workload(&w);
    sg_wait_replicas(m, 1, 10000);
    assert_replica_agrees(w.mc, rc);
    /* and a replica that syncs afterwards, from the master's RDB */
    sg_server *late = sg_fixture_start_replica(f, m, NULL);
    redisContext *lc = sg_fixture_connect(f, late);
    sg_wait_replicas(m, 2, 10000);
    assert_replica_agrees(w.mc, lc);
}

static void test_replica_refuses_idemp_writes_with_readonly_and_answers_get(void **state)
{
    sg_fixture *f = *state;
    sg_server *m = sg_fixture_start(f, master_args);
    sg_server *r = sg_fixture_start_replica(f, m, NULL);
    redisContext *mc = sg_fixture_connect(f, m);
    redisContext *rc = sg_fixture_connect(f, r);
    long long open = raw_idemp_begin_new_bin(mc, "open", "fp", 2, 600000);
    long long done = raw_idemp_begin_new_bin(mc, "done", "fp", 2, 600000);
    assert_int_equal(raw_idemp_complete_bin(mc, "done", done, "resp", 4, 3600), 1);
    assert_int_equal(sg_command_integer(mc, "IDEMP.SETNX seen 3600"), 1);
    sg_wait_replicas(m, 1, 10000);
    char *before = sg_debug_digest(rc);

    /* commands that would succeed on the master */
    sg_command_error(rc, "READONLY", "IDEMP.SETNX fresh 3600");
    sg_command_error(rc, "READONLY", "IDEMP.BEGIN fresh fp 1000");
    sg_command_error(rc, "READONLY", "IDEMP.BEGIN open fp 1000");
    sg_command_error(rc, "READONLY", "IDEMP.COMPLETE open %lld resp 60", open);
    sg_command_error(rc, "READONLY", "IDEMP.ABORT open %lld", open);
    sg_command_error(rc, "READONLY", "IDEMP.RECORD fresh IN_PROGRESS fp 5 %lld", sg_unix_us() / 1000 + 60000);
    char *after = sg_debug_digest(rc);
    int same = strcmp(before, after) == 0;
    free(before);
    free(after);
    if (!same) fail_msg("a refused write changed the replica");

    redisReply *g = sg_command(rc, "IDEMP.GET open");
    int ok = g->type == REDIS_REPLY_ARRAY && g->elements == 10 && sg_reply_is_text(g->element[1], "in_progress") &&
             g->element[5]->type == REDIS_REPLY_INTEGER && g->element[5]->integer == open;
    freeReplyObject(g);
    if (!ok) fail_msg("IDEMP.GET open on the replica does not show the request in progress");
    g = sg_command(rc, "IDEMP.GET done");
    ok = g->type == REDIS_REPLY_ARRAY && g->elements == 10 && sg_reply_is_text(g->element[1], "completed") &&
         sg_reply_is_bytes(g->element[9], "resp", 4);
    freeReplyObject(g);
    if (!ok) fail_msg("IDEMP.GET done on the replica does not show the stored response");
    sg_command_nil(rc, "IDEMP.GET nothing");
    g = sg_command(rc, "GET seen");
    ok = sg_reply_is_bytes(g, "1", 1);
    freeReplyObject(g);
    if (!ok) fail_msg("GET seen on the replica is not \"1\"");
}

#define SAFETY_TEST(name) cmocka_unit_test_setup_teardown(name, sg_fixture_setup, sg_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SAFETY_TEST(test_threads_beginning_the_same_request_at_once_get_exactly_one_new),
        SAFETY_TEST(test_an_at_least_once_consumer_applies_every_message_exactly_once),
        SAFETY_TEST(test_debug_reload_keeps_records_and_the_token_clock),
        SAFETY_TEST(test_restart_from_rdb_keeps_records_and_the_token_clock),
        SAFETY_TEST(test_restart_from_aof_with_rdb_preamble_keeps_records_and_the_token_clock),
        SAFETY_TEST(test_restart_from_rewritten_aof_without_preamble_keeps_records_and_the_token_clock),
        SAFETY_TEST(test_restart_from_the_aof_command_log_keeps_records_and_the_token_clock),
        SAFETY_TEST(test_replica_holds_the_same_records_after_a_workload_of_every_command),
        SAFETY_TEST(test_replica_refuses_idemp_writes_with_readonly_and_answers_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
