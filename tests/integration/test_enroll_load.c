/* test_enroll_load.c -- ENROLL under concurrent load, and ENROLL / ENROLL.CANCEL compared reply by
 * reply with the Lua scripts they replace, against a real redis-server with the module loaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raw_commands.h"

/* ---- helpers ------------------------------------------------------------------------------- */

/* xorshift64*: small, seeded, the same sequence on every machine. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t test_seed(uint64_t fallback)
{
    const char *env = getenv("SG_SEED");
    if (env != NULL && env[0] != '\0') return strtoull(env, NULL, 0);
    return fallback;
}

static long long slots_info_field(const char *key, const char *field)
{
    redisReply *r = sg_command(sg_conn, "SLOTS.INFO %s", key);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *name = r->element[i];
        if (name->len == strlen(field) && memcmp(name->str, field, name->len) == 0) {
            assert_int_equal(r->element[i + 1]->type, REDIS_REPLY_INTEGER);
            long long value = r->element[i + 1]->integer;
            freeReplyObject(r);
            return value;
        }
    }
    freeReplyObject(r);
    fail_msg("SLOTS.INFO %s has no field %s", key, field);
    return 0;
}

/* Call `visit` for every enrolled user (ENROLL.MEMBERS paging); returns how many were visited. */
static long long for_each_member(const char *key, void (*visit)(const char *user, size_t len, void *arg),
                                 void *arg)
{
    unsigned long long cursor = 0;
    long long visited = 0;
    for (int page = 0; page < 100000; page++) {
        redisReply *r = sg_command(sg_conn, "ENROLL.MEMBERS %s %llu COUNT 500", key, cursor);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(r->elements, 2);
        assert_int_equal(r->element[0]->type, REDIS_REPLY_STRING);
        assert_int_equal(r->element[1]->type, REDIS_REPLY_ARRAY);
        cursor = strtoull(r->element[0]->str, NULL, 10);
        const redisReply *users = r->element[1];
        for (size_t i = 0; i < users->elements; i++) {
            visit(users->element[i]->str, users->element[i]->len, arg);
            visited++;
        }
        freeReplyObject(r);
        if (cursor == 0) return visited;
    }
    fail_msg("ENROLL.MEMBERS %s did not finish", key);
    return -1;
}

/* ---- (a) concurrent enrollment ------------------------------------------------------------- */

enum {
    LOAD_CONNECTIONS = 32,
    LOAD_USERS = 10000,
    LOAD_CAPACITY = 1000,
    LOAD_BATCH = 32,              /* commands pipelined per round trip */
    LOAD_OWN_REPEAT_EVERY = 4,    /* in phase 1, every 4th command repeats an answered own user */
    LOAD_REPEATS_PER_THREAD = 400, /* phase 2: repeats of any user */
    LOAD_TIME_LIMIT_MS = 60000,
};
#define LOAD_KEY "load:trial"

typedef struct load_shared {
    pthread_barrier_t barrier;
    /* First reply per user (1 or 0), -9 until answered. Written once, by the owning thread. */
    int first_reply[LOAD_USERS];
    int64_t deadline_ms;
} load_shared;

typedef struct load_worker {
    int index;
    redisContext *c;
    load_shared *shared;
    long long ones;           /* replies of 1 to first attempts */
    long long repeats_checked;
    long long errors;
    char first_error[256];
} load_worker;

static void worker_error(load_worker *w, const char *fmt, ...)
{
    if (w->errors++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->first_error, sizeof(w->first_error), fmt, ap);
        va_end(ap);
    }
}

static void user_name(char *out, size_t size, int user)
{
    snprintf(out, size, "load-user-%05d", user);
}

/* The reply a repeat of `user` must get, given the reply to its first attempt: once enrolled, -1;
 * once turned away, the trial is full for good (no cancels here), so 0 again. */
static int expected_repeat(int first)
{
    return first == 1 ? -1 : 0;
}

/* Send `n` ENROLLs for `users` pipelined; `is_repeat[i]` says whether users[i] was answered before. */
static int send_batch(load_worker *w, const int *users, const int *is_repeat, int n)
{
    char name[32];
    for (int i = 0; i < n; i++) {
        user_name(name, sizeof(name), users[i]);
        if (redisAppendCommand(w->c, "ENROLL %s %s", LOAD_KEY, name) != REDIS_OK) {
            worker_error(w, "worker %d: append failed: %s", w->index, w->c->errstr);
            return -1;
        }
    }
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(w->c, (void **)&r) != REDIS_OK || r == NULL) {
            worker_error(w, "worker %d: connection error: %s", w->index, w->c->errstr);
            return -1;
        }
        if (r->type != REDIS_REPLY_INTEGER) {
            worker_error(w, "worker %d: ENROLL answered type %d (%s)", w->index, r->type,
                         r->type == REDIS_REPLY_ERROR ? r->str : "");
            freeReplyObject(r);
            continue;
        }
        long long got = r->integer;
        freeReplyObject(r);
        int user = users[i];
        if (is_repeat[i]) {
            int want = expected_repeat(w->shared->first_reply[user]);
            w->repeats_checked++;
            if (got != want) {
                worker_error(w, "worker %d: repeat of user %d (first reply %d) answered %lld, expected %d",
                             w->index, user, w->shared->first_reply[user], got, want);
            }
        } else {
            if (got != 1 && got != 0) {
                worker_error(w, "worker %d: first ENROLL of user %d answered %lld", w->index, user, got);
            }
            if (got == 1) w->ones++;
            w->shared->first_reply[user] = (int)got;
        }
    }
    return 0;
}

static void *load_worker_main(void *arg)
{
    load_worker *w = arg;
    load_shared *shared = w->shared;
    uint64_t rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(w->index + 1) * 0xD1B54A32D192ED03ULL;
    int batch_users[LOAD_BATCH];
    int batch_repeat[LOAD_BATCH];

    /* Phase 1: this worker's own users (user % connections == index), interleaved with repeats of its
     * own users already answered. */
    int own[LOAD_USERS / LOAD_CONNECTIONS + 1];
    int own_count = 0;
    for (int u = w->index; u < LOAD_USERS; u += LOAD_CONNECTIONS) own[own_count++] = u;
    int answered = 0; /* own[0 .. answered-1] have a first reply */
    int next_own = 0;
    pthread_barrier_wait(&shared->barrier);
    int op = 0;
    while (next_own < own_count && w->errors == 0) {
        if (sg_now_ms() > shared->deadline_ms) {
            worker_error(w, "worker %d: time limit reached in phase 1", w->index);
            break;
        }
        int n = 0;
        int sent_before = next_own;
        while (n < LOAD_BATCH && next_own < own_count) {
            if (answered > 0 && (op % LOAD_OWN_REPEAT_EVERY) == LOAD_OWN_REPEAT_EVERY - 1) {
                batch_users[n] = own[next_random(&rng) % (uint64_t)answered];
                batch_repeat[n] = 1;
            } else {
                batch_users[n] = own[next_own++];
                batch_repeat[n] = 0;
            }
            n++;
            op++;
        }
        if (send_batch(w, batch_users, batch_repeat, n) != 0) break;
        answered += next_own - sent_before;
    }

    /* Phase 2: once every first attempt is answered, repeats of anyone's users. */
    pthread_barrier_wait(&shared->barrier);
    int sent = 0;
    while (sent < LOAD_REPEATS_PER_THREAD && w->errors == 0) {
        if (sg_now_ms() > shared->deadline_ms) {
            worker_error(w, "worker %d: time limit reached in phase 2", w->index);
            break;
        }
        int n = 0;
        while (n < LOAD_BATCH && sent < LOAD_REPEATS_PER_THREAD) {
            batch_users[n] = (int)(next_random(&rng) % LOAD_USERS);
            batch_repeat[n] = 1;
            n++;
            sent++;
        }
        if (send_batch(w, batch_users, batch_repeat, n) != 0) break;
    }
    return NULL;
}

typedef struct member_check {
    const int *first_reply;
    long long bad;
    int seen[LOAD_USERS];
} member_check;

static void check_load_member(const char *user, size_t len, void *arg)
{
    member_check *mc = arg;
    char name[64];
    int index = -1;
    if (len < sizeof(name)) {
        memcpy(name, user, len);
        name[len] = '\0';
        if (sscanf(name, "load-user-%d", &index) != 1) index = -1;
    }
    if (index < 0 || index >= LOAD_USERS || mc->first_reply[index] != 1 || mc->seen[index]++ != 0) mc->bad++;
}

static void concurrent_enrolls_fill_the_trial_exactly_and_repeats_answer_minus_one(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.INIT %s %d", LOAD_KEY, LOAD_CAPACITY), 1);

    load_shared *shared = calloc(1, sizeof(*shared));
    load_worker *workers = calloc(LOAD_CONNECTIONS, sizeof(*workers));
    pthread_t threads[LOAD_CONNECTIONS];
    assert_non_null(shared);
    assert_non_null(workers);
    for (int u = 0; u < LOAD_USERS; u++) shared->first_reply[u] = -9;
    assert_int_equal(pthread_barrier_init(&shared->barrier, NULL, LOAD_CONNECTIONS), 0);
    int64_t start = sg_now_ms();
    shared->deadline_ms = start + LOAD_TIME_LIMIT_MS;
    for (int i = 0; i < LOAD_CONNECTIONS; i++) {
        workers[i].index = i;
        workers[i].shared = shared;
        workers[i].c = sg_connect_to(sg_group_server);
    }
    for (int i = 0; i < LOAD_CONNECTIONS; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, load_worker_main, &workers[i]), 0);
    }
    long long ones = 0, errors = 0, repeats = 0;
    const char *first_error = NULL;
    for (int i = 0; i < LOAD_CONNECTIONS; i++) {
        pthread_join(threads[i], NULL);
        ones += workers[i].ones;
        repeats += workers[i].repeats_checked;
        errors += workers[i].errors;
        if (first_error == NULL && workers[i].errors > 0) first_error = workers[i].first_error;
    }
    int64_t elapsed = sg_now_ms() - start;
    printf("load: %d connections, %d users, %lld repeats checked, %lld ms\n", LOAD_CONNECTIONS, LOAD_USERS,
           repeats, (long long)elapsed);
    pthread_barrier_destroy(&shared->barrier);
    if (errors > 0) fprintf(stderr, "load: %lld errors; first: %s\n", errors, first_error);
    for (int i = 0; i < LOAD_CONNECTIONS; i++) redisFree(workers[i].c);

    assert_int_equal(errors, 0);
    assert_true(elapsed < LOAD_TIME_LIMIT_MS);
    for (int u = 0; u < LOAD_USERS; u++) assert_true(shared->first_reply[u] == 0 || shared->first_reply[u] == 1);
    assert_int_equal(ones, LOAD_CAPACITY);
    assert_true(repeats >= LOAD_CONNECTIONS * LOAD_REPEATS_PER_THREAD);
    assert_int_equal(slots_info_field(LOAD_KEY, "remaining"), 0);
    assert_int_equal(slots_info_field(LOAD_KEY, "enrolled"), LOAD_CAPACITY);
    assert_int_equal(slots_info_field(LOAD_KEY, "next_arrival"), LOAD_CAPACITY + 1);

    /* the members are exactly the users that were answered 1 */
    member_check *mc = calloc(1, sizeof(*mc));
    assert_non_null(mc);
    mc->first_reply = shared->first_reply;
    long long members = for_each_member(LOAD_KEY, check_load_member, mc);
    long long bad = mc->bad;
    free(mc);
    free(shared);
    free(workers);
    assert_int_equal(bad, 0);
    assert_int_equal(members, LOAD_CAPACITY);
}

/* ---- (b) differential: ENROLL vs the Lua script it replaces -------------------------------- */

static const char enroll_script[] =
    "if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return -1 end\n"
    "local remaining = redis.call('GET', KEYS[2])\n"
    "if (not remaining) or tonumber(remaining) <= 0 then return 0 end\n"
    "redis.call('DECR', KEYS[2])\n"
    "redis.call('SADD', KEYS[1], ARGV[1])\n"
    "return 1\n";

static const char cancel_script[] =
    "if redis.call('SREM', KEYS[1], ARGV[1]) == 1 then\n"
    "  redis.call('INCR', KEYS[2])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

static char *script_load(const char *script)
{
    redisReply *r = sg_command(sg_conn, "SCRIPT LOAD %s", script);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    char *sha = strdup(r->str);
    freeReplyObject(r);
    assert_non_null(sha);
    return sha;
}

typedef struct differential {
    const char *trial;
    const char *users_set;
    const char *remaining;
    int capacity;
    int pool;         /* distinct users drawn from */
    int operations;
    int cancel_percent;
    uint64_t seed;
} differential;

typedef struct set_check {
    const char *set;
    long long missing;
} set_check;

static void check_set_member(const char *user, size_t len, void *arg)
{
    set_check *sc = arg;
    redisReply *r = sg_command(sg_conn, "SISMEMBER %s %b", sc->set, user, len);
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1) sc->missing++;
    freeReplyObject(r);
}

static void run_differential(const differential *d)
{
    printf("differential %s: seed 0x%016llx (set SG_SEED to replay), %d operations\n", d->trial,
           (unsigned long long)d->seed, d->operations);
    char *enroll_sha = script_load(enroll_script);
    char *cancel_sha = script_load(cancel_script);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.INIT %s %d", d->trial, d->capacity), 1);
    assert_int_equal(sg_command_integer(sg_conn, "SETNX %s %d", d->remaining, d->capacity), 1);

    long long enroll_outcomes[3] = {0, 0, 0}; /* -1, 0, 1 */
    long long cancel_outcomes[2] = {0, 0};    /* 0, 1 */
    uint64_t rng = d->seed;
    char user[32];
    for (int op = 0; op < d->operations; op++) {
        snprintf(user, sizeof(user), "user:%llu", (unsigned long long)(next_random(&rng) % (uint64_t)d->pool));
        int is_cancel = (int)(next_random(&rng) % 100) < d->cancel_percent;
        long long scripted, native;
        if (is_cancel) {
            scripted = sg_command_integer(sg_conn, "EVALSHA %s 2 %s %s %s", cancel_sha, d->users_set, d->remaining,
                                          user);
            native = sg_command_integer(sg_conn, "ENROLL.CANCEL %s %s", d->trial, user);
        } else {
            scripted = sg_command_integer(sg_conn, "EVALSHA %s 2 %s %s %s", enroll_sha, d->users_set, d->remaining,
                                          user);
            native = sg_command_integer(sg_conn, "ENROLL %s %s", d->trial, user);
        }
        if (scripted != native) {
            free(enroll_sha);
            free(cancel_sha);
            fail_msg("operation %d (%s %s, seed 0x%016llx): script answered %lld, module answered %lld", op,
                     is_cancel ? "cancel" : "enroll", user, (unsigned long long)d->seed, scripted, native);
        }
        if (is_cancel) {
            assert_true(native == 0 || native == 1);
            cancel_outcomes[native]++;
        } else {
            assert_true(native >= -1 && native <= 1);
            enroll_outcomes[native + 1]++;
        }
    }
    free(enroll_sha);
    free(cancel_sha);
    printf("differential %s: enroll -1/0/1 = %lld/%lld/%lld, cancel 0/1 = %lld/%lld\n", d->trial,
           enroll_outcomes[0], enroll_outcomes[1], enroll_outcomes[2], cancel_outcomes[0], cancel_outcomes[1]);
    /* the sequence must have exercised every outcome, or the comparison proves little */
    assert_true(enroll_outcomes[0] > 0 && enroll_outcomes[1] > 0 && enroll_outcomes[2] > 0);
    if (d->cancel_percent > 0) assert_true(cancel_outcomes[0] > 0 && cancel_outcomes[1] > 0);

    long long scard = sg_command_integer(sg_conn, "SCARD %s", d->users_set);
    assert_int_equal(scard, slots_info_field(d->trial, "enrolled"));
    redisReply *r = sg_command(sg_conn, "GET %s", d->remaining);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    long long remaining = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    assert_int_equal(remaining, slots_info_field(d->trial, "remaining"));

    /* the same users, not just the same count */
    set_check sc = {.set = d->users_set, .missing = 0};
    long long members = for_each_member(d->trial, check_set_member, &sc);
    assert_int_equal(sc.missing, 0);
    assert_int_equal(members, scard);
}

static void enroll_answers_exactly_like_the_lua_script_it_replaces(void **state)
{
    (void)state;
    differential d = {
        .trial = "diff:enroll:trial",
        .users_set = "diff:enroll:users",
        .remaining = "diff:enroll:remaining",
        .capacity = 250,
        .pool = 600,
        .operations = 4000,
        .cancel_percent = 0,
        .seed = test_seed(0x5107C0DEULL),
    };
    run_differential(&d);
}

static void enroll_and_cancel_answer_exactly_like_the_lua_scripts_they_replace(void **state)
{
    (void)state;
    differential d = {
        .trial = "diff:cancel:trial",
        .users_set = "diff:cancel:users",
        .remaining = "diff:cancel:remaining",
        .capacity = 100,
        .pool = 300,
        .operations = 5000,
        .cancel_percent = 35,
        .seed = test_seed(0xCA9CE11EDULL),
    };
    run_differential(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(concurrent_enrolls_fill_the_trial_exactly_and_repeats_answer_minus_one),
        cmocka_unit_test(enroll_answers_exactly_like_the_lua_script_it_replaces),
        cmocka_unit_test(enroll_and_cancel_answer_exactly_like_the_lua_scripts_they_replace),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
