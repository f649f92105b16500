/* test_client_wait_faults.c -- libslotguard's WAITs under faults (issue 17, defect 1): a WAIT
 * acknowledges only what its own connection wrote, so the library runs it on the connection that
 * wrote, never repeats it on another, and reports "not acknowledged" when that connection broke.
 *
 * Each test: a master and a replica on loopback; the replica is stopped (SIGSTOP) so that the
 * library's WAIT blocks; the blocked client is killed (CLIENT KILL ID); the replica continues. On a
 * fresh connection Redis answers WAIT at once with the replicas connected, so a repeated WAIT used
 * to report a take, or a capacity move, as replicated when it was not.
 *   - A counter's take reports replicas_acked 0.
 *   - A sharded trial's move whose SEND's WAIT was cut is left to reconcile, never received: the
 *     slot stays in the sender's outbox, the receiver's inbox never sees the move id, and
 *     sg_sharded_reconcile then brings the capacity back to exactly C.
 * Servers belong to the test's fixture (released pass or fail); the replica is always continued
 * before the test ends, every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sharded_trial_keys.h"
#include "slotguard.h"

#define S(text) (text), (sizeof(text) - 1)
#define WAIT_TIMEOUT_MS 3000 /* the library's WAIT: long enough to be killed in */
#define FIND_WAIT_MS 5000    /* how long the test looks for the blocked WAIT */

#define CHECK(ctx, call)                                                                                   \
    do {                                                                                                   \
        if ((call) != SG_OK) fail_msg("%s failed: err %d: %s", #call, (ctx)->err, (ctx)->errstr);         \
    } while (0)

static sg_context *client_of(const sg_server *s) {
    sg_options o = {.host = "127.0.0.1", .port = s->port, .command_timeout_ms = 10000};
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    if (ctx->err) fail_msg("connect: %s", ctx->errstr);
    return ctx;
}

/* The CLIENT ID of the client blocked in WAIT now on the server (polled; fails after FIND_WAIT_MS). */
static long long blocked_wait_client(redisContext *admin) {
    int64_t until = sg_now_ms() + FIND_WAIT_MS;
    while (sg_now_ms() < until) {
        redisReply *r = sg_command(admin, "CLIENT LIST");
        long long id = -1;
        for (char *line = r->str; line != NULL && id < 0; line = strchr(line, '\n')) {
            if (*line == '\n') line++;
            char *end = strchr(line, '\n');
            size_t len = end ? (size_t)(end - line) : strlen(line);
            char text[1024];
            snprintf(text, sizeof(text), "%.*s", (int)(len < sizeof(text) ? len : sizeof(text) - 1), line);
            /* cmd is a client's last command: only flags=b says it is blocked in it now */
            char *flags = strstr(text, " flags=");
            int blocked = flags != NULL && strcspn(flags + 7, " ") > strcspn(flags + 7, "b");
            if (blocked && strstr(text, " cmd=wait") != NULL && strncmp(text, "id=", 3) == 0) id = atoll(text + 3);
        }
        freeReplyObject(r);
        if (id >= 0) return id;
        sg_sleep_ms(5);
    }
    fail_msg("no client blocked in WAIT within %d ms", FIND_WAIT_MS);
    return -1;
}

/* A master with one replica, a connection to the master for the test's own commands, and a
 * libslotguard context on the master (freed by the test). */
typedef struct pair {
    sg_server *master, *replica;
    redisContext *admin;
    sg_context *ctx;
} pair;

static pair start_pair(sg_fixture *f) {
    pair p;
    p.master = sg_fixture_start(f, NULL);
    p.replica = sg_fixture_start_replica(f, p.master, NULL);
    p.admin = sg_fixture_connect(f, p.master);
    p.ctx = client_of(p.master);
    return p;
}

/* Stop the replica (its acknowledgements with it), and make sure the test continues it. */
static void stop_replica(const sg_server *replica) { assert_int_equal(kill(replica->pid, SIGSTOP), 0); }
static void continue_replica(const sg_server *replica) { kill(replica->pid, SIGCONT); }

/* ---- a counter's take ------------------------------------------------------------------------- */
typedef struct take_job {
    sg_context *ctx;
    sg_counter *counter;
    int rc;
    sg_take_result result;
    char error[256];
} take_job;

static void *take_one(void *arg) {
    take_job *job = arg;
    job->rc = sg_counter_take(job->ctx, job->counter, 1, &job->result);
    snprintf(job->error, sizeof(job->error), "%s", job->ctx->errstr);
    return NULL;
}

static void a_take_whose_wait_connection_is_killed_is_reported_unacknowledged(void **state) {
    pair p = start_pair(*state);
    sg_server *replica = p.replica;
    redisContext *admin = p.admin;
    sg_context *ctx = p.ctx;
    int created;
    CHECK(ctx, sg_counter_create(ctx, S("sale"), 2, 5, &created));
    sg_counter_options options = {.wait_replicas = 1, .wait_timeout_ms = WAIT_TIMEOUT_MS};
    sg_counter *counter = sg_counter_open(ctx, S("sale"), &options);
    assert_non_null(counter);

    /* With the replica running, a take is acknowledged. */
    take_job job = {.ctx = ctx, .counter = counter};
    take_one(&job);
    assert_int_equal(job.rc, SG_OK);
    assert_int_equal(job.result.taken, 1);
    assert_int_equal(job.result.replicas_acked, 1);

    stop_replica(replica);
    pthread_t thread;
    job = (take_job){.ctx = ctx, .counter = counter};
    assert_int_equal(pthread_create(&thread, NULL, take_one, &job), 0);
    long long id = blocked_wait_client(admin);
    long long killed = sg_command_integer(admin, "CLIENT KILL ID %lld", id);
    int64_t killed_at = sg_now_ms();
    pthread_join(thread, NULL);
    int64_t returned_after = sg_now_ms() - killed_at;
    continue_replica(replica);

    assert_int_equal(killed, 1);
    if (job.rc != SG_OK) fail_msg("the take failed (taken %lld, acked %d): %s", job.result.taken, job.result.replicas_acked, job.error);
    assert_int_equal(job.result.taken, 1);
    if (job.result.replicas_acked != 0)
        fail_msg("the take reported %d replica(s) acknowledging (after %lld ms) although its WAIT was cut "
                 "and the replica was stopped",
                 job.result.replicas_acked, (long long)returned_after);
    /* The units are taken all the same: 3 of 5 are left. */
    long long total = -1;
    CHECK(ctx, sg_counter_total(ctx, counter, &total));
    assert_int_equal(total, 3);
    sg_counter_close(counter);
    sg_free(ctx);
}

/* ---- a sharded trial's move ------------------------------------------------------------------- */

typedef struct enroll_job {
    sg_context *ctx;
    sg_sharded_trial *trial;
    const char *user;
    int rc;
    sg_enroll_result result;
    char error[256];
} enroll_job;

static void *enroll_one(void *arg) {
    enroll_job *job = arg;
    job->rc = sg_sharded_enroll(job->ctx, job->trial, job->user, strlen(job->user), &job->result);
    snprintf(job->error, sizeof(job->error), "%s", job->ctx->errstr);
    return NULL;
}

/* Three distinct users whose home is shard 0. */
static void home_zero_users(sg_sharded_trial *t, char users[3][16]) {
    int found = 0;
    for (int i = 0; found < 3 && i < 10000; i++) {
        snprintf(users[found], sizeof(users[found]), "user-%d", i);
        if (sg_sharded_trial_home(t, users[found], strlen(users[found])) == 0) found++;
    }
    assert_int_equal(found, 3);
}

static void a_move_whose_wait_connection_is_killed_is_left_to_reconcile_never_received(void **state) {
    pair p = start_pair(*state);
    sg_server *replica = p.replica;
    redisContext *admin = p.admin;
    sg_context *ctx = p.ctx;
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("trial"), 2, 4, &created)); /* 2 + 2 */
    sg_sharded_options options = {.move_wait_replicas = 1, .move_wait_timeout_ms = WAIT_TIMEOUT_MS};
    sg_sharded_trial *t = sg_sharded_trial_open(ctx, S("trial"), &options);
    assert_non_null(t);
    char users[3][16];
    home_zero_users(t, users);
    sg_enroll_result r;
    for (int i = 0; i < 2; i++) {
        CHECK(ctx, sg_sharded_enroll(ctx, t, users[i], strlen(users[i]), &r));
        assert_int_equal(r, SG_ENROLL_ENROLLED);
    }
    char outbox1[512], inbox0[512];
    sg_sharded_shard_key(t, 1, "out", outbox1, sizeof(outbox1));
    sg_sharded_shard_key(t, 0, "in", inbox0, sizeof(inbox0));

    /* Shard 0 is full: the third user's enrollment moves a slot from shard 1, and its WAIT blocks. */
    stop_replica(replica);
    pthread_t thread;
    enroll_job job = {.ctx = ctx, .trial = t, .user = users[2]};
    assert_int_equal(pthread_create(&thread, NULL, enroll_one, &job), 0);
    long long id = blocked_wait_client(admin);
    redisReply *pending = sg_command(admin, "HKEYS %s", outbox1);
    assert_int_equal(pending->type, REDIS_REPLY_ARRAY);
    assert_int_equal(pending->elements, 1);
    char move[256];
    snprintf(move, sizeof(move), "%s", pending->element[0]->str);
    freeReplyObject(pending);
    long long killed = sg_command_integer(admin, "CLIENT KILL ID %lld", id);
    continue_replica(replica);
    pthread_join(thread, NULL);
    assert_int_equal(killed, 1);
    if (job.rc != SG_OK) fail_msg("the enrollment failed: %s", job.error);
    assert_int_equal(job.result, SG_ENROLL_ENROLLED); /* through a later move, acknowledged */

    /* The cut move was never received: its slot is lost until reconcile, not counted twice. */
    if (sg_command_integer(admin, "HEXISTS %s %s", inbox0, move) != 0)
        fail_msg("move %s was received although its WAIT was cut: it was acknowledged on another connection", move);
    assert_int_equal(sg_command_integer(admin, "HEXISTS %s %s", outbox1, move), 1);
    sg_sharded_info info;
    CHECK(ctx, sg_sharded_info_get(ctx, t, &info));
    assert_int_equal(info.enrolled, 3);
    assert_true(info.capacity < 4);
    assert_true(info.moves_in_flight >= 1);

    long long finished = -1;
    CHECK(ctx, sg_sharded_reconcile(ctx, t, &finished));
    assert_true(finished >= 1);
    CHECK(ctx, sg_sharded_info_get(ctx, t, &info));
    assert_int_equal(info.capacity, 4);
    assert_int_equal(info.enrolled, 3);
    assert_int_equal(info.moves_in_flight, 0);
    assert_int_equal(sg_command_integer(admin, "HEXISTS %s %s", inbox0, move), 1);
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

/* Reconcile with move_wait_replicas waits for the sender's replicas before it receives a move that
 * another connection sent: with the replica stopped the move stays in the outbox (its WAIT, on the
 * connection that read the outbox after the SEND, times out); once the replica runs, reconcile
 * finishes it. */
static void reconcile_receives_a_move_only_once_the_senders_replica_has_it(void **state) {
    pair p = start_pair(*state);
    sg_server *master = p.master, *replica = p.replica;
    redisContext *admin = p.admin;
    sg_context *ctx = p.ctx;
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("slow"), 2, 4, &created));
    sg_sharded_options options = {.move_wait_replicas = 1, .move_wait_timeout_ms = 300};
    sg_sharded_trial *t = sg_sharded_trial_open(ctx, S("slow"), &options);
    assert_non_null(t);
    char outbox1[512];
    sg_sharded_shard_key(t, 1, "out", outbox1, sizeof(outbox1));
    size_t len;
    const char *trial1 = sg_sharded_trial_key(t, 1, &len);
    char trial1_name[512];
    snprintf(trial1_name, sizeof(trial1_name), "%.*s", (int)len, trial1);

    /* Everything this client wrote so far is on the replica: a WAIT on its connection would answer
     * at once, whatever another connection wrote since. */
    sg_wait_replicas(master, 1, 10000);
    stop_replica(replica);
    assert_int_equal(sg_command_integer(admin, "SLOTS.SEND %s %s cut-1 0 1", trial1_name, outbox1), 1);
    long long finished = -1;
    int rc = sg_sharded_reconcile(ctx, t, &finished);
    continue_replica(replica);
    CHECK(ctx, rc);
    assert_int_equal(finished, 0);
    sg_sharded_info info;
    CHECK(ctx, sg_sharded_info_get(ctx, t, &info));
    assert_int_equal(info.capacity, 3);
    assert_int_equal(info.moves_in_flight, 1);

    sg_wait_replicas(master, 1, 10000);
    CHECK(ctx, sg_sharded_reconcile(ctx, t, &finished));
    assert_int_equal(finished, 1);
    CHECK(ctx, sg_sharded_info_get(ctx, t, &info));
    assert_int_equal(info.capacity, 4);
    assert_int_equal(info.moves_in_flight, 0);
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, sg_fixture_setup, sg_fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(a_take_whose_wait_connection_is_killed_is_reported_unacknowledged),
        FIXTURE_TEST(a_move_whose_wait_connection_is_killed_is_left_to_reconcile_never_received),
        FIXTURE_TEST(reconcile_receives_a_move_only_once_the_senders_replica_has_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
