/* test_client_sharded_trial.c -- libslotguard's sharded trials against a real three-master cluster
 * (and one node): exactly min(C, distinct users) enrolled by many threads with repeats, nobody
 * twice across shards (every shard read), no "full" while a shard had a free slot, skewed arrivals
 * that force moves, a move cut between its halves (by hand, and by killing a client with SIGKILL)
 * that reconcile completes back to exactly C, exactness through a slot migration of a shard and a
 * CLUSTER FAILOVER, and cancels that free slots for later users. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "example_runs.h"
#include "slotguard.h"

#define S(text) (text), (sizeof(text) - 1)
#define MASTERS 3
#define THREADS 8
#define MAX_USERS 8000

#define CHECK(ctx, call)                                                                                   \
    do {                                                                                                   \
        if ((call) != SG_OK) fail_msg("%s failed: err %d: %s", #call, (ctx)->err, (ctx)->errstr);         \
    } while (0)

static sg_context *cluster_client(sg_cluster *cl, int seed) {
    sg_options o = {.cluster = 1, .host = "127.0.0.1", .port = cl->node[seed]->port, .command_timeout_ms = 10000};
    sg_context *ctx = sg_connect(&o);
    assert_non_null(ctx);
    if (ctx->err) fail_msg("cluster connect: %s", ctx->errstr);
    return ctx;
}

static sg_sharded_trial *open_trial(sg_context *ctx, const char *name) {
    sg_sharded_trial *t = sg_sharded_trial_open(ctx, name, strlen(name), NULL);
    if (t == NULL) fail_msg("open %s: %s", name, ctx->errstr);
    return t;
}

/* ---- users ----------------------------------------------------------------------------------- */
typedef struct users {
    char id[MAX_USERS][24];
    size_t len[MAX_USERS];
    int count;
} users;

/* `count` distinct ids; with skew > 0, that share (in %) of them has home shard 0. */
static void make_users(users *u, const sg_sharded_trial *t, int count, int skew, const char *prefix) {
    u->count = 0;
    for (long n = 1; u->count < count; n++) {
        char id[24];
        int len = snprintf(id, sizeof(id), "%s%ld", prefix, n);
        int home = sg_sharded_trial_home(t, id, (size_t)len);
        if (skew > 0) {
            int want_zero = (u->count % 100) < skew;
            if ((home == 0) != want_zero) continue;
        }
        memcpy(u->id[u->count], id, (size_t)len + 1);
        u->len[u->count] = (size_t)len;
        u->count++;
    }
}

/* ---- many threads enrolling ----------------------------------------------------------------- */
typedef struct crowd {
    sg_context *seed_ctx;
    const char *name;
    const users *u;
    int repeats;
    atomic_int next; /* the next (user, try) to hand out */
    atomic_long enrolled, full, already, errors;
    char error[SG_ERRSTR_SIZE + 32];
} crowd;

static void *enroll_crowd(void *arg) {
    crowd *c = arg;
    sg_context *ctx = sg_clone(c->seed_ctx);
    sg_sharded_trial *t = ctx && !ctx->err ? sg_sharded_trial_open(ctx, c->name, strlen(c->name), NULL) : NULL;
    if (t == NULL) {
        snprintf(c->error, sizeof(c->error), "open: %s", ctx ? ctx->errstr : "oom");
        atomic_fetch_add(&c->errors, 1);
        sg_free(ctx);
        return NULL;
    }
    int total = c->u->count * c->repeats;
    for (int k; (k = atomic_fetch_add(&c->next, 1)) < total;) {
        int i = k % c->u->count; /* every user once, then every user again... */
        sg_enroll_result r;
        if (sg_sharded_enroll(ctx, t, c->u->id[i], c->u->len[i], &r) != SG_OK) {
            snprintf(c->error, sizeof(c->error), "enroll: %s", ctx->errstr);
            atomic_fetch_add(&c->errors, 1);
            continue;
        }
        if (r == SG_ENROLL_ENROLLED) atomic_fetch_add(&c->enrolled, 1);
        else if (r == SG_ENROLL_FULL) atomic_fetch_add(&c->full, 1);
        else atomic_fetch_add(&c->already, 1);
    }
    sg_sharded_trial_close(t);
    sg_free(ctx);
    return NULL;
}

static void run_crowd(crowd *c) {
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&threads[i], NULL, enroll_crowd, c), 0);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    if (atomic_load(&c->errors)) fail_msg("%ld errors, last: %s", (long)atomic_load(&c->errors), c->error);
}

/* Every shard's members: no user twice, each at its home shard. Returns how many. */
static long long assert_members_unique_and_home(sg_context *ctx, sg_sharded_trial *t) {
    size_t cap = 65536, n = 0;
    char (*seen)[24] = calloc(cap, sizeof(*seen));
    assert_non_null(seen);
    for (int shard = 0; shard < sg_sharded_trial_shards(t); shard++) {
        unsigned long long cursor = 0;
        do {
            sg_members_page page;
            CHECK(ctx, sg_sharded_members(ctx, t, shard, cursor, 500, &page));
            for (size_t i = 0; i < page.count; i++) {
                const sg_member *m = &page.members[i];
                if (sg_sharded_trial_home(t, m->user, m->user_len) != shard)
                    fail_msg("%.*s is enrolled at shard %d, not at its home", (int)m->user_len, m->user, shard);
                assert_true(n < cap && m->user_len < 24);
                memcpy(seen[n], m->user, m->user_len);
                seen[n][m->user_len] = '\0';
                n++;
            }
            cursor = page.next_cursor;
            sg_members_page_free(&page);
        } while (cursor != 0);
    }
    qsort(seen, n, sizeof(*seen), (int (*)(const void *, const void *))strcmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(seen[i - 1], seen[i]) == 0) fail_msg("%s is enrolled twice", seen[i]);
    free(seen);
    return (long long)n;
}

static sg_sharded_info info_of(sg_context *ctx, sg_sharded_trial *t) {
    sg_sharded_info info;
    CHECK(ctx, sg_sharded_info_get(ctx, t, &info));
    return info;
}

/* The trial ends exactly full: `n` enrolled by the shards' own count and by reading every shard
 * (nobody twice, everyone at home), and its capacity whole again (no slot lost in a move). */
static void assert_exactly_full(sg_context *ctx, sg_sharded_trial *t, long long n) {
    sg_sharded_info info = info_of(ctx, t);
    assert_int_equal(info.enrolled, n);
    assert_int_equal(info.capacity, n);
    assert_int_equal(assert_members_unique_and_home(ctx, t), n);
}

/* ---- one node ---------------------------------------------------------------------------------- */
static void a_sharded_trial_on_one_node_enrolls_cancels_and_reports(void **state) {
    sg_server *s = sg_fixture_start(*state, NULL);
    sg_options o = {.host = "127.0.0.1", .port = s->port};
    sg_context *ctx = sg_connect(&o);
    assert_int_equal(ctx->err, 0);
    int created = -1;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("local"), 3, 4, &created));
    assert_int_equal(created, 1);
    CHECK(ctx, sg_sharded_trial_create(ctx, S("local"), 5, 99, &created));
    assert_int_equal(created, 0);
    sg_sharded_trial *t = open_trial(ctx, "local");
    assert_int_equal(sg_sharded_trial_shards(t), 3);
    const char *names[] = {"ann", "ben", "cid", "dee", "eve"};
    sg_enroll_result r;
    for (int i = 0; i < 4; i++) {
        CHECK(ctx, sg_sharded_enroll(ctx, t, names[i], 3, &r));
        assert_int_equal(r, SG_ENROLL_ENROLLED);
    }
    CHECK(ctx, sg_sharded_enroll(ctx, t, names[4], 3, &r));
    assert_int_equal(r, SG_ENROLL_FULL);
    CHECK(ctx, sg_sharded_enroll(ctx, t, names[0], 3, &r));
    assert_int_equal(r, SG_ENROLL_ALREADY_ENROLLED);
    sg_user_status st;
    CHECK(ctx, sg_sharded_status(ctx, t, names[1], 3, &st));
    assert_int_equal(st.state, SG_USER_ENROLLED);
    int withdrawn;
    CHECK(ctx, sg_sharded_cancel(ctx, t, names[1], 3, &withdrawn));
    assert_int_equal(withdrawn, 1);
    CHECK(ctx, sg_sharded_enroll(ctx, t, names[4], 3, &r)); /* the freed slot, wherever it is */
    assert_int_equal(r, SG_ENROLL_ENROLLED);
    sg_sharded_info info = info_of(ctx, t);
    assert_int_equal(info.capacity, 4);
    assert_int_equal(info.enrolled, 4);
    assert_int_equal(info.remaining, 0);
    assert_int_equal(info.moves_in_flight, 0);
    assert_int_equal(assert_members_unique_and_home(ctx, t), 4);
    assert_null(sg_sharded_trial_open(ctx, S("missing"), NULL));
    assert_int_equal(ctx->err, SG_ERR_NOTRIAL);
    assert_int_equal(sg_sharded_trial_create(ctx, S("bad{name}"), 2, 5, &created), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    assert_int_equal(sg_sharded_enroll(ctx, t, NULL, 3, &r), SG_ERR);
    assert_int_equal(ctx->err, SG_ERR_ARGUMENT);
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

/* ---- a cluster ------------------------------------------------------------------------------- */
static int owner_of_shard(sg_cluster *cl, sg_sharded_trial *t, int i) {
    size_t len;
    const char *key = sg_sharded_trial_key(t, i, &len);
    char name[512];
    snprintf(name, sizeof(name), "%.*s", (int)len, key);
    return sg_cluster_owner(cl, 0, sg_cluster_slot_of(cl, name));
}

static void the_shards_are_spread_over_every_master(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 1);
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("spread"), 3, 300, &created));
    sg_sharded_trial *t = open_trial(ctx, "spread");
    int seen[MASTERS] = {0};
    for (int i = 0; i < 3; i++) {
        int owner = owner_of_shard(&cl, t, i);
        assert_true(owner >= 0 && owner < MASTERS);
        seen[owner]++;
    }
    for (int m = 0; m < MASTERS; m++) assert_int_equal(seen[m], 1);
    assert_int_equal(info_of(ctx, t).capacity, 300);
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

static void many_threads_enroll_exactly_the_capacity_and_nobody_twice(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0);
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("star"), 3, 3000, &created));
    sg_sharded_trial *t = open_trial(ctx, "star");
    static users u;
    make_users(&u, t, 5000, 0, "patient-");
    static crowd c;
    memset(&c, 0, sizeof(c));
    c = (crowd){.seed_ctx = ctx, .name = "star", .u = &u, .repeats = 2};
    run_crowd(&c);
    assert_int_equal(atomic_load(&c.enrolled), 3000);
    assert_int_equal(atomic_load(&c.enrolled) + atomic_load(&c.already) + atomic_load(&c.full), 10000);
    sg_sharded_info info = info_of(ctx, t);
    assert_int_equal(info.enrolled, 3000);
    assert_int_equal(info.capacity, 3000);
    assert_int_equal(info.moves_in_flight, 0);
    assert_int_equal(assert_members_unique_and_home(ctx, t), 3000);
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

static void with_room_for_everyone_nobody_hears_full_even_with_skewed_arrivals(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0);
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("skewed"), 3, 3000, &created));
    sg_sharded_trial *t = open_trial(ctx, "skewed");
    static users u;
    make_users(&u, t, 3000, 90, "p-"); /* 90% want shard 0, which holds a third of the slots */
    static crowd c;
    memset(&c, 0, sizeof(c));
    c = (crowd){.seed_ctx = ctx, .name = "skewed", .u = &u, .repeats = 2};
    run_crowd(&c);
    /* Exactly as many slots as users: every "full" would have been false. */
    assert_int_equal(atomic_load(&c.full), 0);
    assert_int_equal(atomic_load(&c.enrolled), 3000);
    assert_int_equal(info_of(ctx, t).enrolled, 3000);
    assert_int_equal(assert_members_unique_and_home(ctx, t), 3000);
    long long sent = 0;
    for (int m = 0; m < MASTERS; m++) sent += sg_info_number(cl.c[m], "slotguard_slots_sent");
    print_message("slots moved to the crowded shard: %lld\n", sent);
    assert_true(sent >= 2700 - 1000); /* shard 0 needed ~2,700 slots and held 1,000 */
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

/* The first half of a move of 4 slots from shard 1 to shard 0, as the library sends it, and nothing
 * more: as if the client died there. */
static void cut_a_move(sg_context *ctx, sg_sharded_trial *t, const char *move_id) {
    size_t len;
    const char *trial1 = sg_sharded_trial_key(t, 1, &len);
    char outbox[512];
    snprintf(outbox, sizeof(outbox), "%.*s", (int)len, trial1);
    char *colon = strstr(outbox, ":trial:");
    assert_non_null(colon);
    memmove(colon + 4, colon + 6, strlen(colon + 6) + 1); /* NAME:trial:1:{..} -> NAME:out:1:{..} */
    memcpy(colon, ":out", 4);
    const char *send[] = {"SLOTS.SEND", trial1, outbox, move_id, "0", "4"};
    size_t send_len[] = {10, len, strlen(outbox), strlen(move_id), 1, 1};
    redisReply *r = sg_command_argv(ctx, trial1, len, 6, send, send_len);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 4);
    freeReplyObject(r);
}

static void a_move_cut_between_its_halves_loses_capacity_until_reconcile_restores_it(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0);
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("cut"), 3, 30, &created));
    sg_sharded_trial *t = open_trial(ctx, "cut");
    cut_a_move(ctx, t, "cut-move-1");
    sg_sharded_info info = info_of(ctx, t);
    assert_int_equal(info.capacity, 26); /* lost, never created */
    assert_int_equal(info.moves_in_flight, 1);
    long long finished = -1;
    CHECK(ctx, sg_sharded_reconcile(ctx, t, &finished));
    assert_int_equal(finished, 1);
    info = info_of(ctx, t);
    assert_int_equal(info.capacity, 30);
    assert_int_equal(info.moves_in_flight, 0);
    CHECK(ctx, sg_sharded_reconcile(ctx, t, &finished)); /* nothing left: and nothing doubled */
    assert_int_equal(finished, 0);
    assert_int_equal(info_of(ctx, t).capacity, 30);
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

static void the_reconcile_tool_finishes_a_cut_move_and_reports_the_trial(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0);
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("tool"), 3, 30, &created));
    sg_sharded_trial *t = open_trial(ctx, "tool");
    cut_a_move(ctx, t, "tool-move-1");
    static sg_example_run run;
    const char *args[] = {"--cluster", "--trial", "tool", NULL};
    sg_run_example(&run, "sharded_reconcile", cl.node[2]->port, args);
    sg_assert_example_run(&run, "sharded_reconcile", 0,
                          "finished 1\ncapacity 30\nenrolled 0\nremaining 30\nmoves_in_flight 0\n");
    sg_run_example(&run, "sharded_reconcile", cl.node[2]->port, args); /* again: nothing left */
    sg_assert_example_run(&run, "sharded_reconcile", 0,
                          "finished 0\ncapacity 30\nenrolled 0\nremaining 30\nmoves_in_flight 0\n");
    const char *help[] = {"--help", NULL};
    sg_run_example(&run, "sharded_reconcile", 0, help);
    sg_assert_example_run(&run, "sharded_reconcile", 0, NULL);
    assert_non_null(strstr(run.out, "--trial"));
    const char *no_trial[] = {"--cluster", NULL};
    sg_run_example(&run, "sharded_reconcile", cl.node[0]->port, no_trial);
    sg_assert_example_run(&run, "sharded_reconcile", 2, NULL);
    const char *missing[] = {"--cluster", "--trial", "nothing", NULL};
    sg_run_example(&run, "sharded_reconcile", cl.node[0]->port, missing);
    sg_assert_example_run(&run, "sharded_reconcile", 1, NULL);
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

/* A child process that enrolls skewed users until it is killed. */
static void enroll_until_killed(int port, const char *name) {
    sg_options o = {.cluster = 1, .host = "127.0.0.1", .port = port};
    sg_context *ctx = sg_connect(&o);
    sg_sharded_trial *t = ctx && !ctx->err ? sg_sharded_trial_open(ctx, name, strlen(name), NULL) : NULL;
    if (t == NULL) _exit(3);
    char id[32];
    for (long n = 1;; n++) {
        int len = snprintf(id, sizeof(id), "k%ld", n);
        if (n % 10 != 0 && sg_sharded_trial_home(t, id, (size_t)len) != 0) continue; /* mostly shard 0 */
        sg_enroll_result r;
        if (sg_sharded_enroll(ctx, t, id, (size_t)len, &r) != SG_OK) _exit(4);
        if (r == SG_ENROLL_FULL) _exit(0);
    }
}

static void a_client_killed_mid_run_leaves_at_most_lost_capacity_and_reconcile_brings_it_back(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0);
    int cut_moves = 0;
    for (int round = 0; round < 6; round++) {
        /* A fresh trial each time, large enough that the client is still enrolling when it is
         * killed, about a second in, after its crowded shard started pulling slots. */
        char name[32];
        snprintf(name, sizeof(name), "killed-%d", round);
        int created;
        CHECK(ctx, sg_sharded_trial_create(ctx, name, strlen(name), 3, 20000, &created));
        sg_sharded_trial *t = open_trial(ctx, name);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) enroll_until_killed(cl.node[0]->port, name);
        sg_sleep_ms(800 + round * 150);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        sg_sharded_info info = info_of(ctx, t);
        if (!WIFSIGNALED(status)) print_message("round %d: the client ended before the kill (status %d)\n", round, status);
        assert_true(info.capacity <= 20000); /* never more than C */
        assert_true(info.enrolled <= info.capacity);
        cut_moves += info.moves_in_flight > 0;
        long long finished = 0;
        CHECK(ctx, sg_sharded_reconcile(ctx, t, &finished));
        info = info_of(ctx, t);
        assert_int_equal(info.capacity, 20000);
        assert_int_equal(info.moves_in_flight, 0);
        assert_int_equal(assert_members_unique_and_home(ctx, t), info.enrolled);
        sg_sharded_trial_close(t);
    }
    print_message("%d of 6 kills left a move half-done\n", cut_moves);
    sg_free(ctx);
}

/* Threads enroll in the background while the main thread disturbs the cluster. */
typedef struct background {
    pthread_t threads[THREADS];
    crowd c;
} background;

static void start_background(background *b, sg_context *ctx, const char *name, const users *u) {
    memset(&b->c, 0, sizeof(b->c));
    b->c = (crowd){.seed_ctx = ctx, .name = name, .u = u, .repeats = 1};
    for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&b->threads[i], NULL, enroll_crowd, &b->c), 0);
}

static void finish_background(background *b) {
    for (int i = 0; i < THREADS; i++) pthread_join(b->threads[i], NULL);
    if (atomic_load(&b->c.errors)) fail_msg("%ld errors, last: %s", (long)atomic_load(&b->c.errors), b->c.error);
}

static void enrollment_stays_exact_while_a_shard_is_migrated(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0);
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("moving"), 3, 2000, &created));
    sg_sharded_trial *t = open_trial(ctx, "moving");
    static users u;
    make_users(&u, t, 3000, 60, "m-");
    size_t len;
    const char *key = sg_sharded_trial_key(t, 1, &len);
    char name[512];
    snprintf(name, sizeof(name), "%.*s", (int)len, key);
    int slot = sg_cluster_slot_of(&cl, name), from = owner_of_shard(&cl, t, 1), to = (from + 1) % MASTERS;
    static background b;
    start_background(&b, ctx, "moving", &u);
    sg_sleep_ms(100);
    sg_cluster_move_slot(&cl, slot, from, to); /* the trial, its outbox and inbox move together */
    finish_background(&b);
    assert_int_equal(atomic_load(&b.c.enrolled), 2000);
    assert_exactly_full(ctx, t, 2000);
    assert_int_equal(owner_of_shard(&cl, t, 1), to);
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

static void enrollment_stays_exact_through_a_manual_failover(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0);
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("failing"), 3, 2000, &created));
    sg_sharded_trial *t = open_trial(ctx, "failing");
    int replica = sg_cluster_add_replica(&cl, owner_of_shard(&cl, t, 0));
    static users u;
    make_users(&u, t, 3000, 60, "f-");
    static background b;
    start_background(&b, ctx, "failing", &u);
    sg_sleep_ms(100);
    /* A manual failover waits for the replica to have the whole stream: nothing is lost. */
    sg_cluster_failover(&cl, replica);
    finish_background(&b);
    assert_int_equal(atomic_load(&b.c.enrolled), 2000);
    assert_exactly_full(ctx, t, 2000);
    assert_int_equal(owner_of_shard(&cl, t, 0), replica);
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

static void cancels_under_load_free_slots_that_later_users_get(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0);
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, S("churn"), 3, 1000, &created));
    sg_sharded_trial *t = open_trial(ctx, "churn");
    static users first, later;
    make_users(&first, t, 1000, 0, "first-");
    make_users(&later, t, 300, 80, "later-"); /* most of them at shard 0 */
    static crowd c;
    memset(&c, 0, sizeof(c));
    c = (crowd){.seed_ctx = ctx, .name = "churn", .u = &first, .repeats = 1};
    run_crowd(&c);
    assert_int_equal(atomic_load(&c.enrolled), 1000);
    /* 300 of the first leave while the later ones arrive. */
    static background b;
    start_background(&b, ctx, "churn", &later);
    for (int i = 0; i < 300; i++) {
        int withdrawn;
        CHECK(ctx, sg_sharded_cancel(ctx, t, first.id[i * 3], first.len[i * 3], &withdrawn));
        assert_int_equal(withdrawn, 1);
    }
    finish_background(&b);
    /* The later users who heard "full" came too early; now that the slots are back, they get in. */
    for (int i = 0; i < later.count; i++) {
        sg_enroll_result r;
        CHECK(ctx, sg_sharded_enroll(ctx, t, later.id[i], later.len[i], &r));
        assert_true(r == SG_ENROLL_ENROLLED || r == SG_ENROLL_ALREADY_ENROLLED);
    }
    assert_exactly_full(ctx, t, 1000);
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, sg_fixture_setup, sg_fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(a_sharded_trial_on_one_node_enrolls_cancels_and_reports),
        FIXTURE_TEST(the_shards_are_spread_over_every_master),
        FIXTURE_TEST(many_threads_enroll_exactly_the_capacity_and_nobody_twice),
        FIXTURE_TEST(with_room_for_everyone_nobody_hears_full_even_with_skewed_arrivals),
        FIXTURE_TEST(a_move_cut_between_its_halves_loses_capacity_until_reconcile_restores_it),
        FIXTURE_TEST(the_reconcile_tool_finishes_a_cut_move_and_reports_the_trial),
        FIXTURE_TEST(a_client_killed_mid_run_leaves_at_most_lost_capacity_and_reconcile_brings_it_back),
        FIXTURE_TEST(enrollment_stays_exact_while_a_shard_is_migrated),
        FIXTURE_TEST(enrollment_stays_exact_through_a_manual_failover),
        FIXTURE_TEST(cancels_under_load_free_slots_that_later_users_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
