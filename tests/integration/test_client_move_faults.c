/* test_client_move_faults.c -- a sharded trial's capacity moves under faults (issue 17, "Prove it"),
 * on real three-master clusters, every check made from the servers' own state:
 *   - clients killed with SIGKILL at random moments while they enroll and cancel, so that moves are
 *     cut between SLOTS.SEND and SLOTS.RECEIVE, between RECEIVE and the outbox entry's "done", in a
 *     WAIT for the sender's replica (move_wait_replicas), while a master or a replica is stalled by
 *     DEBUG SLEEP, and while reconcile runs beside them; then each cut move's SEND and RECEIVE
 *     repeated by hand after reconcile, as the dead client's retries would be;
 *   - a shard's hash slot (its trial, outbox and inbox: one hash tag) migrated in steps while
 *     threads enroll with moves going on, so that calls meet ASK, TRYAGAIN and MOVED;
 *   - a sharded counter's shard migrated the same way while threads take.
 * What the servers hold is checked against the ledger after every fault: no shard's capacity below
 * 0, no shard with more users than its capacity, at most C users, nobody twice or away from home,
 * (also: a user enrolled again answers "already enrolled", and a cancel finds its user enrolled),
 * every inbox entry matched by the outbox entry that sent it and every done entry by its inbox
 * entry, each shard's capacity exactly its share less what its outbox sent plus what its inbox
 * received; and after sg_sharded_reconcile() exactly C, no move in flight.
 *
 * Children and servers belong to the test (its teardown kills and reaps the children, the fixture
 * stops the servers), pass or fail; every wait is bounded. The kill schedules come from
 * SG_WORKLOAD_SEED (the timing is real, so a run repeats the schedule, not every interleaving). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"
#include "cluster.h"
#include "sharded_trial_keys.h"
#include "slotguard.h"

#define MASTERS 3
#define SHARDS 3
#define KEY_SIZE 512
#define MOVE_ID_SIZE 160
#define USER_SIZE 48

#define CHECK(ctx, call)                                                                                   \
    do {                                                                                                   \
        if ((call) != SG_OK) fail_msg("%s failed: err %d: %s", #call, (ctx)->err, (ctx)->errstr);         \
    } while (0)

/* ---- children: always killed and reaped, pass or fail ------------------------------------------ */
#define MAX_CHILDREN 8
static pid_t children[MAX_CHILDREN];

static void kill_and_reap_children(void) {
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] <= 0) continue;
        kill(children[i], SIGKILL);
        while (waitpid(children[i], NULL, 0) < 0 && errno == EINTR) {
        }
        children[i] = 0;
    }
}

static int faults_teardown(void **state) {
    kill_and_reap_children();
    return sg_fixture_teardown(state);
}

static sg_context *cluster_client(sg_cluster *cl, int seed, int command_timeout_ms) {
    sg_options o = {.cluster = 1, .host = "127.0.0.1", .port = cl->node[seed]->port,
                    .command_timeout_ms = command_timeout_ms};
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

/* ---- what the servers hold ---------------------------------------------------------------------- */
typedef struct move_entry {
    char id[MOVE_ID_SIZE];
    int peer;         /* outbox: the receiver; inbox: the sender */
    long long amount;
    int done;         /* outbox only: marked done */
} move_entry;

typedef struct shard_state {
    sg_trial_info info;
    move_entry *out, *in;
    size_t out_n, in_n;
} shard_state;

typedef struct trial_state {
    shard_state shard[SHARDS];
    long long capacity, enrolled;
    long long pending;      /* outbox entries not marked done: moves cut somewhere after their SEND */
    long long pending_lost; /* of those, not received: slots lost until reconcile */
    long long lost_slots;
} trial_state;

static void free_state(trial_state *st) {
    for (int i = 0; i < SHARDS; i++) {
        free(st->shard[i].out);
        free(st->shard[i].in);
    }
    memset(st, 0, sizeof(*st));
}

/* HGETALL of a move box, parsed: "<peer> <amount>", and in an outbox maybe " done <unix ms>". */
static void read_box(sg_context *ctx, const char *key, int outbox, move_entry **entries, size_t *n) {
    const char *argv[] = {"HGETALL", key};
    size_t argvlen[] = {7, strlen(key)};
    redisReply *r = sg_command_argv(ctx, key, strlen(key), 2, argv, argvlen);
    if (r == NULL) fail_msg("HGETALL %s: err %d: %s", key, ctx->err, ctx->errstr);
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) fail_msg("HGETALL %s: not a hash", key);
    *n = r->elements / 2;
    *entries = calloc(*n + 1, sizeof(**entries));
    assert_non_null(*entries);
    for (size_t e = 0; e < *n; e++) {
        const redisReply *id = r->element[2 * e], *value = r->element[2 * e + 1];
        move_entry *m = &(*entries)[e];
        if (id->len >= sizeof(m->id)) fail_msg("a move id of %zu bytes in %s", id->len, key);
        memcpy(m->id, id->str, id->len);
        char text[128];
        snprintf(text, sizeof(text), "%.*s", (int)value->len, value->str);
        int used = 0;
        long long done_at = 0;
        if (sscanf(text, "%d %lld%n", &m->peer, &m->amount, &used) != 2 || m->peer < 0 || m->peer >= SHARDS ||
            m->amount < 1)
            fail_msg("%s[%s] = \"%s\" is not a move", key, m->id, text);
        if (text[used] != '\0') {
            int more = 0;
            if (!outbox || sscanf(text + used, " done %lld%n", &done_at, &more) != 1 || text[used + more] != '\0')
                fail_msg("%s[%s] = \"%s\" is not a move", key, m->id, text);
            m->done = 1;
        }
    }
    freeReplyObject(r);
}

static const move_entry *find_entry(const move_entry *entries, size_t n, const char *id) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(entries[i].id, id) == 0) return &entries[i];
    return NULL;
}

static int compare_users(const void *a, const void *b) { return strcmp(a, b); }

/* Every shard's members: each at its home shard, nobody twice, as many as the shard counts. */
static void assert_members(sg_context *ctx, sg_sharded_trial *t, const trial_state *st, const char *when) {
    size_t cap = 1024, n = 0;
    char (*seen)[USER_SIZE] = malloc(cap * sizeof(*seen));
    assert_non_null(seen);
    for (int shard = 0; shard < SHARDS; shard++) {
        unsigned long long cursor = 0;
        long long here = 0;
        do {
            sg_members_page page;
            CHECK(ctx, sg_sharded_members(ctx, t, shard, cursor, 500, &page));
            for (size_t i = 0; i < page.count; i++) {
                const sg_member *m = &page.members[i];
                if (sg_sharded_trial_home(t, m->user, m->user_len) != shard)
                    fail_msg("%s: %.*s is enrolled at shard %d, not at its home", when, (int)m->user_len, m->user,
                             shard);
                if (m->user_len >= USER_SIZE) fail_msg("%s: a user id of %zu bytes", when, m->user_len);
                if (n == cap) {
                    cap *= 2;
                    seen = realloc(seen, cap * sizeof(*seen));
                    assert_non_null(seen);
                }
                memcpy(seen[n], m->user, m->user_len);
                seen[n][m->user_len] = '\0';
                n++;
                here++;
            }
            cursor = page.next_cursor;
            sg_members_page_free(&page);
        } while (cursor != 0);
        if (here != st->shard[shard].info.enrolled)
            fail_msg("%s: shard %d lists %lld members and counts %lld enrolled", when, shard, here,
                     st->shard[shard].info.enrolled);
    }
    qsort(seen, n, sizeof(*seen), compare_users);
    for (size_t i = 1; i < n; i++)
        if (strcmp(seen[i - 1], seen[i]) == 0) fail_msg("%s: %s is enrolled twice", when, seen[i]);
    free(seen);
}

/* Read every shard's SLOTS.INFO, outbox and inbox, and check them against each other and against C
 * (shares of C / SHARDS each at creation). `when` names the moment in failure messages. */
static void read_and_check(sg_context *ctx, sg_sharded_trial *t, long long capacity, trial_state *st,
                           const char *when) {
    memset(st, 0, sizeof(*st));
    assert_int_equal(sg_sharded_trial_shards(t), SHARDS);
    assert_int_equal(capacity % SHARDS, 0);
    char key[KEY_SIZE];
    for (int i = 0; i < SHARDS; i++) {
        shard_state *s = &st->shard[i];
        size_t len;
        const char *trial = sg_sharded_trial_key(t, i, &len);
        CHECK(ctx, sg_trial_info_get(ctx, trial, len, &s->info));
        if (!s->info.exists) fail_msg("%s: shard %d's trial is missing", when, i);
        sg_sharded_shard_key(t, i, "out", key, sizeof(key));
        read_box(ctx, key, 1, &s->out, &s->out_n);
        sg_sharded_shard_key(t, i, "in", key, sizeof(key));
        read_box(ctx, key, 0, &s->in, &s->in_n);
    }
    for (int i = 0; i < SHARDS; i++) {
        const shard_state *s = &st->shard[i];
        const sg_trial_info *info = &s->info;
        if (info->capacity < 0 || info->remaining < 0 || info->enrolled < 0)
            fail_msg("%s: shard %d below 0: capacity %lld, remaining %lld, enrolled %lld", when, i, info->capacity,
                     info->remaining, info->enrolled);
        if (info->enrolled > info->capacity)
            fail_msg("%s: shard %d has %lld users over a capacity of %lld", when, i, info->enrolled, info->capacity);
        if (info->enrolled + info->remaining != info->capacity)
            fail_msg("%s: shard %d: enrolled %lld + remaining %lld != capacity %lld", when, i, info->enrolled,
                     info->remaining, info->capacity);
        /* The ledger: the shard holds its share, less what it sent, plus what it received. */
        long long sent = 0, received = 0;
        for (size_t e = 0; e < s->out_n; e++) {
            const move_entry *m = &s->out[e];
            sent += m->amount;
            if (m->peer == i) fail_msg("%s: shard %d sent move %s to itself", when, i, m->id);
            const shard_state *to = &st->shard[m->peer];
            const move_entry *arrived = find_entry(to->in, to->in_n, m->id);
            if (m->done && arrived == NULL)
                fail_msg("%s: move %s (%d -> %d, %lld) is marked done but shard %d never received it", when, m->id, i,
                         m->peer, m->amount, m->peer);
            if (!m->done) st->pending++;
            if (arrived == NULL) {
                st->lost_slots += m->amount;
                st->pending_lost++;
            }
        }
        for (size_t e = 0; e < s->in_n; e++) {
            const move_entry *m = &s->in[e];
            received += m->amount;
            const shard_state *from = &st->shard[m->peer];
            const move_entry *origin = find_entry(from->out, from->out_n, m->id);
            if (origin == NULL || origin->peer != i || origin->amount != m->amount)
                fail_msg("%s: shard %d received move %s of %lld from shard %d, which never sent it so: slots made "
                         "from nothing",
                         when, i, m->id, m->amount, m->peer);
        }
        long long expected = capacity / SHARDS - sent + received;
        if (info->capacity != expected)
            fail_msg("%s: shard %d's capacity is %lld; its share %lld - sent %lld + received %lld = %lld", when, i,
                     info->capacity, capacity / SHARDS, sent, received, expected);
        st->capacity += info->capacity;
        st->enrolled += info->enrolled;
    }
    if (st->capacity > capacity) fail_msg("%s: the shards' capacities add up to %lld, over C = %lld", when,
                                          st->capacity, capacity);
    if (st->enrolled > capacity) fail_msg("%s: %lld enrolled, over C = %lld", when, st->enrolled, capacity);
    if (st->capacity != capacity - st->lost_slots)
        fail_msg("%s: capacities add up to %lld, but C - slots in cut moves = %lld", when, st->capacity,
                 capacity - st->lost_slots);
    assert_members(ctx, t, st, when);
}

/* After reconcile: the invariants, and exactly C with no move in flight. */
static void assert_exactly_c(sg_context *ctx, sg_sharded_trial *t, long long capacity, const char *when) {
    trial_state st;
    read_and_check(ctx, t, capacity, &st, when);
    if (st.capacity != capacity)
        fail_msg("%s: the shards' capacities add up to %lld (%lld + %lld + %lld), not exactly C = %lld", when,
                 st.capacity, st.shard[0].info.capacity, st.shard[1].info.capacity, st.shard[2].info.capacity,
                 capacity);
    if (st.pending != 0) fail_msg("%s: %lld outbox entries still in flight", when, st.pending);
    sg_sharded_info info;
    CHECK(ctx, sg_sharded_info_get(ctx, t, &info));
    assert_int_equal(info.capacity, capacity);
    assert_int_equal(info.moves_in_flight, 0);
    free_state(&st);
}

/* Reconcile until it finds nothing left (bounded); returns the moves it finished in all. */
static long long reconcile_fully(sg_context *ctx, sg_sharded_trial *t) {
    long long total = 0;
    for (int pass = 0; pass < 3; pass++) {
        long long finished = -1;
        CHECK(ctx, sg_sharded_reconcile(ctx, t, &finished));
        assert_true(finished >= 0);
        if (pass > 0 && finished != 0) fail_msg("reconcile pass %d finished %lld more moves", pass + 1, finished);
        total += finished;
        if (finished == 0) return total;
    }
    return total;
}

/* ---- the churn: enroll and cancel so that capacity keeps moving between shards ------------------ */
/* Each worker keeps its last `window` users enrolled (cancelling the oldest first, and also after a
 * "full"), and its users' home shard turns every `window` of them, all workers starting at shard 0:
 * the demand moves from shard to shard together while the windows hold more users than a shard's
 * share, so the free slots are seldom where the next user lives and most enrollments need a move. */
#define WINDOW_MAX 128

typedef struct churner {
    sg_context *ctx;
    sg_sharded_trial *t;
    char prefix[32];
    int window;
    long long made;   /* users asked for so far */
    char ring[WINDOW_MAX][USER_SIZE];
    size_t ring_len[WINDOW_MAX];
    int head, count, last_full;
    long enrolled, full, already, cancelled, repeated;
} churner;

/* The next id whose home is the shard this worker is on now. */
static size_t next_user(churner *w, char *id) {
    int target = (int)((w->made / w->window) % SHARDS);
    w->made++;
    for (long long n = w->made * 64;; n++) {
        int len = snprintf(id, USER_SIZE, "%s-%lld", w->prefix, n);
        if (sg_sharded_trial_home(w->t, id, (size_t)len) == target) return (size_t)len;
    }
}

/* One step. SG_ERR with w->ctx->err set when a call failed; *unexpected set for a result that the
 * API does not document for these calls. */
static int churn_step(churner *w, int *unexpected) {
    *unexpected = 0;
    if (w->count == w->window || (w->last_full && w->count > 0)) {
        int withdrawn = 0;
        int rc = sg_sharded_cancel(w->ctx, w->t, w->ring[w->head], w->ring_len[w->head], &withdrawn);
        w->head = (w->head + 1) % WINDOW_MAX;
        w->count--;
        if (rc != SG_OK) return SG_ERR;
        w->cancelled += withdrawn;
        if (!withdrawn) *unexpected = 200; /* a user this worker enrolled was not enrolled any more */
    }
    if (*unexpected) return SG_OK;
    char id[USER_SIZE];
    size_t len = next_user(w, id);
    sg_enroll_result r;
    if (sg_sharded_enroll(w->ctx, w->t, id, len, &r) != SG_OK) return SG_ERR;
    w->last_full = r == SG_ENROLL_FULL;
    if (r == SG_ENROLL_ENROLLED || r == SG_ENROLL_ALREADY_ENROLLED) {
        int slot = (w->head + w->count) % WINDOW_MAX;
        memcpy(w->ring[slot], id, len + 1);
        w->ring_len[slot] = len;
        w->count++;
        if (r == SG_ENROLL_ENROLLED) w->enrolled++;
        else w->already++; /* documented after a retry; these ids are new, so counted apart */
        if (w->made % 3 == 0) { /* the same user again, wherever the slots are now: never a second slot */
            if (sg_sharded_enroll(w->ctx, w->t, id, len, &r) != SG_OK) return SG_ERR;
            if (r != SG_ENROLL_ALREADY_ENROLLED) *unexpected = (int)r + 100;
            w->repeated++;
        }
    } else if (r == SG_ENROLL_FULL) {
        w->full++;
    } else {
        *unexpected = (int)r;
    }
    return SG_OK;
}

/* ---- 1. clients killed mid-move -------------------------------------------------------------- */
#define KILL_ROUNDS 24
#define KILL_CAPACITY 30   /* 10 a shard; a move carries max(1, 30 / 24) = 1 slot */
#define KILL_WINDOW 15     /* users each child keeps: 2 to 4 children want 30 to 60 of the 30 */
#define KILL_MAX_MS 30
#define STALL_SECONDS "0.05"

enum { CHILD_EXIT_SETUP = 3, CHILD_EXIT_RESULT = 4, CHILD_EXIT_ERROR = 10 };

/* A child: enroll and cancel through the library until killed. Never returns, never calls cmocka;
 * exits by itself only on something that should not happen (its status says what). */
static void churn_until_killed(int port, const char *name, const char *prefix, int wait_replicas, int ready_fd) {
    /* Not the harness's handlers: they would kill the servers were the child to crash. */
    const int handled[] = {SIGINT, SIGTERM, SIGSEGV, SIGABRT, SIGBUS};
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++) signal(handled[i], SIG_DFL);
    sg_options o = {.cluster = 1, .host = "127.0.0.1", .port = port, .command_timeout_ms = 3000};
    sg_sharded_options so = {.move_wait_replicas = wait_replicas, .move_wait_timeout_ms = 100};
    sg_context *ctx = sg_connect(&o);
    sg_sharded_trial *t = ctx && !ctx->err ? sg_sharded_trial_open(ctx, name, strlen(name), &so) : NULL;
    if (t == NULL) _exit(CHILD_EXIT_SETUP);
    if (write(ready_fd, "r", 1) != 1) _exit(CHILD_EXIT_SETUP); /* the kill clock starts now */
    close(ready_fd);
    static churner w;
    memset(&w, 0, sizeof(w));
    w.ctx = ctx;
    w.t = t;
    w.window = KILL_WINDOW;
    snprintf(w.prefix, sizeof(w.prefix), "%s", prefix);
    for (;;) {
        int unexpected;
        if (churn_step(&w, &unexpected) != SG_OK) _exit(CHILD_EXIT_ERROR + ctx->err);
        if (unexpected) _exit(CHILD_EXIT_RESULT);
    }
}

typedef struct kill_figures {
    int rounds, killed_by_us;
    long long pending, pending_lost, lost_slots, finished, replayed, finished_concurrently;
    long long pending_without_wait; /* in rounds where no child waited for replicas: kills alone */
} kill_figures;

/* A move cut before reconcile, repeated by hand after it as the dead client's retry would be: its
 * SEND answers what it sent then and sends nothing; its RECEIVE answers 0 and adds nothing. */
static void replay_cut_move(sg_context *ctx, sg_sharded_trial *t, int from, const move_entry *m) {
    char from_trial[KEY_SIZE], outbox[KEY_SIZE], to_trial[KEY_SIZE], inbox[KEY_SIZE], to_text[8], amount[24];
    sg_sharded_shard_key(t, from, "trial", from_trial, sizeof(from_trial));
    sg_sharded_shard_key(t, from, "out", outbox, sizeof(outbox));
    sg_sharded_shard_key(t, m->peer, "trial", to_trial, sizeof(to_trial));
    sg_sharded_shard_key(t, m->peer, "in", inbox, sizeof(inbox));
    snprintf(to_text, sizeof(to_text), "%d", m->peer);
    snprintf(amount, sizeof(amount), "%lld", m->amount);
    const char *send[] = {"SLOTS.SEND", from_trial, outbox, m->id, to_text, amount};
    redisReply *r = sg_command_argv(ctx, from_trial, strlen(from_trial), 6, send, NULL);
    if (r == NULL) fail_msg("repeated SLOTS.SEND: %s", ctx->errstr);
    if (r->type != REDIS_REPLY_INTEGER || r->integer != m->amount)
        fail_msg("repeated SLOTS.SEND of %s answered %s%lld, not the %lld it sent", m->id,
                 r->type == REDIS_REPLY_INTEGER ? "" : "a non-integer ", r->integer, m->amount);
    freeReplyObject(r);
    char from_text[8];
    snprintf(from_text, sizeof(from_text), "%d", from);
    const char *receive[] = {"SLOTS.RECEIVE", to_trial, inbox, m->id, from_text, amount};
    r = sg_command_argv(ctx, to_trial, strlen(to_trial), 6, receive, NULL);
    if (r == NULL) fail_msg("repeated SLOTS.RECEIVE: %s", ctx->errstr);
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 0)
        fail_msg("repeated SLOTS.RECEIVE of %s after reconcile added slots again", m->id);
    freeReplyObject(r);
}

#define EVENT_STALL -1
#define EVENT_RECONCILE -2

typedef struct kill_event {
    int at_ms;
    int child; /* or EVENT_STALL, EVENT_RECONCILE */
} kill_event;

static int compare_events(const void *a, const void *b) {
    return ((const kill_event *)a)->at_ms - ((const kill_event *)b)->at_ms;
}

/* One round on a fresh trial: 2 to 4 children churn, each killed after 0 to KILL_MAX_MS ms; in odd
 * rounds one server (a master or a replica) sleeps 50 ms at a random moment of it; in every third
 * round reconcile runs once while the children churn (documented safe while others enroll). */
static void kill_round(sg_cluster *cl, sg_context *ctx, redisContext *stall_c[], sg_prng *p, int round,
                       kill_figures *fig) {
    char name[32], when[64];
    snprintf(name, sizeof(name), "killed-%d", round);
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, name, strlen(name), SHARDS, KILL_CAPACITY, &created));
    sg_sharded_trial *t = open_trial(ctx, name);
    int n = 2 + (int)sg_prng_below(p, 3);
    int wait_replicas = round % 4 >= 2; /* rounds 2, 3, 6, 7...: every move WAITs for the sender's replica */
    kill_event events[MAX_CHILDREN + 2];
    int events_n = 0;
    for (int i = 0; i < n; i++) events[events_n++] = (kill_event){(int)sg_prng_below(p, KILL_MAX_MS + 1), i};
    int stalled = -1;
    if (round % 2) {
        stalled = (int)sg_prng_below(p, (uint64_t)cl->nodes);
        events[events_n++] = (kill_event){(int)sg_prng_below(p, KILL_MAX_MS + 1), EVENT_STALL};
    }
    if (round % 3 == 0) events[events_n++] = (kill_event){(int)sg_prng_below(p, KILL_MAX_MS + 1), EVENT_RECONCILE};
    qsort(events, (size_t)events_n, sizeof(events[0]), compare_events);

    int ready[2];
    assert_int_equal(pipe(ready), 0);
    fflush(NULL);
    for (int i = 0; i < n; i++) {
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "r%dc%d", round, i);
        pid_t pid = fork();
        if (pid < 0) fail_msg("fork: %s", strerror(errno));
        if (pid == 0) {
            close(ready[0]);
            churn_until_killed(cl->node[i % MASTERS]->port, name, prefix, wait_replicas, ready[1]);
        }
        children[i] = pid;
    }
    close(ready[1]);
    /* The kill clock starts when every child is connected and churning (or one gave up: its exit
     * status tells below). */
    int64_t start = sg_now_ms();
    for (int got = 0; got < n && sg_now_ms() < start + 10000;) {
        struct pollfd pfd = {ready[0], POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0) continue;
        char byte;
        ssize_t r = read(ready[0], &byte, 1);
        if (r == 0) break; /* every child closed its end */
        if (r == 1) got++;
    }
    close(ready[0]);
    start = sg_now_ms();
    for (int e = 0; e < events_n; e++) {
        int64_t wait = start + events[e].at_ms - sg_now_ms();
        if (wait > 0) sg_sleep_ms((int)wait);
        if (events[e].child == EVENT_STALL) {
            sg_send_command(stall_c[stalled], "DEBUG SLEEP %s", STALL_SECONDS);
        } else if (events[e].child == EVENT_RECONCILE) {
            long long finished = -1;
            CHECK(ctx, sg_sharded_reconcile(ctx, t, &finished));
            fig->finished_concurrently += finished;
        } else {
            kill(children[events[e].child], SIGKILL);
        }
    }
    for (int i = 0; i < n; i++) {
        int status = 0;
        while (waitpid(children[i], &status, 0) < 0 && errno == EINTR) {
        }
        children[i] = 0;
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("round %d: child %d ended by itself (exit status %d): setup %d, unexpected result %d, "
                     "error %d + SG_ERR_*",
                     round, i, WIFEXITED(status) ? WEXITSTATUS(status) : -1, CHILD_EXIT_SETUP, CHILD_EXIT_RESULT,
                     CHILD_EXIT_ERROR);
        fig->killed_by_us++;
    }
    if (stalled >= 0) freeReplyObject(sg_receive_reply(stall_c[stalled], 5000, "DEBUG SLEEP"));
    /* A dead child's last command may still wait in its socket: the server runs it when it next
     * reads. Two round trips on every node end after the event-loop turn that read every socket
     * readable before them (seen under valgrind: SLOTS.INFO, then a late ENROLL, then the members). */
    for (int i = 0; i < cl->nodes; i++)
        for (int k = 0; k < 2; k++) sg_command_status(stall_c[i], "PONG", "PING");

    /* What the kills left, from the servers. */
    trial_state st;
    snprintf(when, sizeof(when), "round %d, after the kills", round);
    read_and_check(ctx, t, KILL_CAPACITY, &st, when);
    fig->pending += st.pending;
    fig->pending_lost += st.pending_lost;
    fig->lost_slots += st.lost_slots;
    if (!wait_replicas) fig->pending_without_wait += st.pending;
    /* Keep the cut moves to repeat their steps after reconcile. */
    move_entry cut[64];
    int cut_from[64], cut_n = 0;
    for (int i = 0; i < SHARDS; i++)
        for (size_t e = 0; e < st.shard[i].out_n && cut_n < 64; e++)
            if (!st.shard[i].out[e].done) {
                cut[cut_n] = st.shard[i].out[e];
                cut_from[cut_n++] = i;
            }
    long long enrolled_before = st.enrolled;
    free_state(&st);

    fig->finished += reconcile_fully(ctx, t);
    snprintf(when, sizeof(when), "round %d, after reconcile", round);
    assert_exactly_c(ctx, t, KILL_CAPACITY, when);
    for (int k = 0; k < cut_n; k++) replay_cut_move(ctx, t, cut_from[k], &cut[k]);
    fig->replayed += cut_n;
    snprintf(when, sizeof(when), "round %d, after the cut moves were repeated", round);
    assert_exactly_c(ctx, t, KILL_CAPACITY, when);
    sg_sharded_info info;
    CHECK(ctx, sg_sharded_info_get(ctx, t, &info));
    assert_int_equal(info.enrolled, enrolled_before); /* reconcile moves capacity, never users */
    sg_sharded_trial_close(t);
    fig->rounds++;
}

static void clients_killed_mid_move_never_break_the_ledger_and_reconcile_restores_exactly_c(void **state) {
    sg_fixture *f = *state;
    sg_cluster cl;
    sg_cluster_start(&cl, f, MASTERS);
    for (int m = 0; m < MASTERS; m++) sg_cluster_add_replica(&cl, m);
    redisContext *stall_c[SG_CLUSTER_MAX_NODES];
    for (int i = 0; i < cl.nodes; i++) stall_c[i] = sg_fixture_connect(f, cl.node[i]);
    sg_context *ctx = cluster_client(&cl, 0, 10000);
    sg_prng p = {sg_workload_seed(0x6b111ed)};
    kill_figures fig = {0};
    for (int round = 0; round < KILL_ROUNDS; round++) kill_round(&cl, ctx, stall_c, &p, round, &fig);
    long long sent = 0;
    for (int m = 0; m < MASTERS; m++) sent += sg_info_number(cl.c[m], "slotguard_slots_sent"); /* not replicas */
    print_message("%d rounds, %d children killed; %lld slots sent in moves; %lld moves cut (%lld in rounds without "
                  "WAIT; %lld before their RECEIVE, %lld slots lost until reconcile); reconcile finished %lld "
                  "(and %lld while children ran); %lld cut moves repeated by hand\n",
                  fig.rounds, fig.killed_by_us, sent, fig.pending, fig.pending_without_wait, fig.pending_lost,
                  fig.lost_slots, fig.finished, fig.finished_concurrently, fig.replayed);
    /* Otherwise the kills proved nothing. */
    if (fig.pending_without_wait == 0) fail_msg("no kill cut a move (in the rounds without WAIT)");
    if (fig.pending_lost == 0) fail_msg("no kill landed between a SEND and its RECEIVE");
    assert_true(fig.finished >= fig.pending);
    sg_free(ctx);
}

/* ---- 2. a shard's slot migrated mid-run ------------------------------------------------------- */
#define MIGRATE_THREADS 4
#define MIGRATE_CAPACITY 240 /* 80 a shard; a move carries 240 / 24 = 10 slots */
#define MIGRATE_WINDOW 60    /* 4 x 60 = 240 users wanted, 240 slots */
#define STEP_PAUSE_MS 40
#define JOIN_TIMEOUT_MS 30000

typedef struct outcomes {
    atomic_long calls_ok, documented_errors, other_errors, unexpected_results;
    atomic_long by_code[16];
    char last_error[SG_ERRSTR_SIZE + 32];
    pthread_mutex_t lock;
} outcomes;

/* An error the API documents for a call made while a slot moves: redirections ran out (CLUSTER),
 * or a reply that did not come in time / a connection lost (for a non-retried step). */
static int documented_error(int err) {
    return err == SG_ERR_CLUSTER || err == SG_ERR_TIMEOUT || err == SG_ERR_IO || err == SG_ERR_EOF;
}

static void record_outcome(outcomes *o, int rc, int err, const char *errstr, int unexpected) {
    if (unexpected) atomic_fetch_add(&o->unexpected_results, 1);
    if (rc == SG_OK) {
        atomic_fetch_add(&o->calls_ok, 1);
        return;
    }
    atomic_fetch_add(&o->by_code[err >= 0 && err < 16 ? err : 0], 1);
    if (documented_error(err)) atomic_fetch_add(&o->documented_errors, 1);
    else atomic_fetch_add(&o->other_errors, 1);
    pthread_mutex_lock(&o->lock);
    snprintf(o->last_error, sizeof(o->last_error), "err %d: %s", err, errstr);
    pthread_mutex_unlock(&o->lock);
}

typedef struct trial_worker {
    int port, index;
    const char *name;
    atomic_int *stop, *done;
    outcomes *o;
    churner w;
} trial_worker;

static void *churn_while_migrating(void *arg) {
    trial_worker *tw = arg;
    sg_options o = {.cluster = 1, .host = "127.0.0.1", .port = tw->port, .command_timeout_ms = 3000};
    sg_context *ctx = sg_connect(&o);
    sg_sharded_trial *t = ctx && !ctx->err ? sg_sharded_trial_open(ctx, tw->name, strlen(tw->name), NULL) : NULL;
    if (t == NULL) {
        record_outcome(tw->o, SG_ERR, ctx ? ctx->err : SG_ERR_OOM, ctx ? ctx->errstr : "oom", 0);
    } else {
        tw->w.ctx = ctx;
        tw->w.t = t;
        tw->w.window = MIGRATE_WINDOW;
        snprintf(tw->w.prefix, sizeof(tw->w.prefix), "m%d", tw->index);
        while (!atomic_load(tw->stop)) {
            int unexpected;
            int rc = churn_step(&tw->w, &unexpected);
            record_outcome(tw->o, rc, ctx->err, ctx->errstr, unexpected);
        }
    }
    sg_sharded_trial_close(t);
    sg_free(ctx);
    atomic_fetch_add(tw->done, 1);
    return NULL;
}

/* Wait (bounded) until `n` workers said they are done, then join them. */
static void join_bounded(pthread_t *threads, int n, atomic_int *done, const char *what) {
    int64_t deadline = sg_now_ms() + JOIN_TIMEOUT_MS;
    while (atomic_load(done) < n) {
        if (sg_now_ms() > deadline)
            fail_msg("%s: %d of %d threads still in a library call after %d ms: a call hung", what,
                     n - atomic_load(done), n, JOIN_TIMEOUT_MS);
        sg_sleep_ms(5);
    }
    for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
}

/* The redirections the masters answered so far (INFO errorstats): ASK, TRYAGAIN, MOVED. */
static long long errorstat(sg_cluster *cl, const char *code) {
    long long total = 0;
    char field[64];
    snprintf(field, sizeof(field), "errorstat_%s", code);
    for (int m = 0; m < cl->nodes; m++) {
        char *value = sg_info_field(cl->c[m], field);
        if (value == NULL) continue;
        const char *count = strstr(value, "count=");
        if (count) total += strtoll(count + 6, NULL, 10);
        free(value);
    }
    return total;
}

/* Migrate `slot` from `from` to `to` in steps, `keys_per_step` keys at a time, pausing between them
 * so that the workers run through every half-moved state. `between` (may be NULL) runs at each
 * pause. Returns the keys moved. */
static int migrate_in_steps(sg_cluster *cl, int slot, int from, int to, int keys_per_step,
                            void (*between)(void *), void *arg) {
    sg_sleep_ms(STEP_PAUSE_MS);
    sg_cluster_migration_begin(cl, slot, from, to);
    int moved = 0;
    for (int step = 0; step < 100; step++) {
        sg_sleep_ms(STEP_PAUSE_MS);
        if (between) between(arg);
        int now = sg_cluster_migrate_keys(cl, slot, from, to, keys_per_step);
        if (now == 0) break;
        moved += now;
    }
    sg_sleep_ms(STEP_PAUSE_MS);
    sg_cluster_migration_end(cl, slot, to);
    sg_sleep_ms(STEP_PAUSE_MS);
    return moved;
}

static int slot_of_key(sg_cluster *cl, const char *key, size_t len) {
    char name[KEY_SIZE];
    snprintf(name, sizeof(name), "%.*s", (int)len, key);
    return sg_cluster_slot_of(cl, name);
}

static void enrollment_keeps_the_ledger_while_a_shards_slot_migrates_mid_move(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0, 10000);
    int created;
    CHECK(ctx, sg_sharded_trial_create(ctx, "migrating", 9, SHARDS, MIGRATE_CAPACITY, &created));
    sg_sharded_trial *t = open_trial(ctx, "migrating");
    size_t len;
    const char *key = sg_sharded_trial_key(t, 0, &len);
    int slot = slot_of_key(&cl, key, len), from = sg_cluster_owner(&cl, 0, slot), to = (from + 1) % MASTERS;
    char part[KEY_SIZE];
    for (int k = 0; k < 2; k++) { /* the outbox and the inbox share the trial's slot */
        sg_sharded_shard_key(t, 0, k ? "in" : "out", part, sizeof(part));
        assert_int_equal(sg_cluster_slot_of(&cl, part), slot);
    }
    static outcomes o;
    memset(&o, 0, sizeof(o));
    pthread_mutex_init(&o.lock, NULL);
    atomic_int stop = 0, done = 0;
    static trial_worker workers[MIGRATE_THREADS];
    pthread_t threads[MIGRATE_THREADS];
    for (int i = 0; i < MIGRATE_THREADS; i++) {
        memset(&workers[i], 0, sizeof(workers[i]));
        workers[i] = (trial_worker){.port = cl.node[i % MASTERS]->port, .index = i, .name = "migrating",
                                    .stop = &stop, .done = &done, .o = &o};
        assert_int_equal(pthread_create(&threads[i], NULL, churn_while_migrating, &workers[i]), 0);
    }
    /* Once shard 0 has sent and received (its outbox and inbox exist), its slot moves. */
    for (int64_t deadline = sg_now_ms() + 10000;
         sg_command_integer(cl.c[from], "CLUSTER COUNTKEYSINSLOT %d", slot) < 3 && sg_now_ms() < deadline;)
        sg_sleep_ms(5);
    long long sent_before = 0;
    for (int m = 0; m < MASTERS; m++) sent_before += sg_info_number(cl.c[m], "slotguard_slots_sent");
    long long ask0 = errorstat(&cl, "ASK"), tryagain0 = errorstat(&cl, "TRYAGAIN"), moved0 = errorstat(&cl, "MOVED");
    /* One key a step: the trial, its outbox and its inbox part company for a while (TRYAGAIN). */
    int moved_keys = migrate_in_steps(&cl, slot, from, to, 1, NULL, NULL);
    atomic_store(&stop, 1);
    join_bounded(threads, MIGRATE_THREADS, &done, "enrolling through a migration");

    long long sent = -sent_before;
    for (int m = 0; m < MASTERS; m++) sent += sg_info_number(cl.c[m], "slotguard_slots_sent");
    long long asks = errorstat(&cl, "ASK") - ask0, tryagains = errorstat(&cl, "TRYAGAIN") - tryagain0,
              moveds = errorstat(&cl, "MOVED") - moved0;
    long enrolled = 0, full = 0, already = 0, cancelled = 0, repeated = 0;
    for (int i = 0; i < MIGRATE_THREADS; i++) {
        enrolled += workers[i].w.enrolled;
        full += workers[i].w.full;
        already += workers[i].w.already;
        cancelled += workers[i].w.cancelled;
        repeated += workers[i].w.repeated;
    }
    print_message("migration of slot %d (%d keys) from node %d to %d mid-run: %ld steps ok (%ld enrolled, %ld full, "
                  "%ld already, %ld cancelled, %ld repeats answered already), %ld documented errors (cluster %ld, "
                  "timeout %ld, io %ld, eof %ld); %lld slots sent in moves during it; the masters answered %lld ASK, "
                  "%lld TRYAGAIN, %lld MOVED\n",
                  slot, moved_keys, from, to, (long)atomic_load(&o.calls_ok), enrolled, full, already, cancelled,
                  repeated,
                  (long)atomic_load(&o.documented_errors), (long)atomic_load(&o.by_code[SG_ERR_CLUSTER]),
                  (long)atomic_load(&o.by_code[SG_ERR_TIMEOUT]), (long)atomic_load(&o.by_code[SG_ERR_IO]),
                  (long)atomic_load(&o.by_code[SG_ERR_EOF]), sent, asks, tryagains, moveds);
    if (atomic_load(&o.other_errors))
        fail_msg("%ld calls failed with an error the API does not document here; last: %s",
                 (long)atomic_load(&o.other_errors), o.last_error);
    assert_int_equal(atomic_load(&o.unexpected_results), 0);
    assert_int_equal(moved_keys, 3);
    assert_int_equal(sg_cluster_owner(&cl, 0, slot), to);
    assert_true(sent > 0);          /* moves happened while the slot moved */
    assert_true(asks + moveds > 0); /* and calls met the migration */

    trial_state st;
    read_and_check(ctx, t, MIGRATE_CAPACITY, &st, "after the migration");
    long long pending = st.pending;
    free_state(&st);
    long long finished = reconcile_fully(ctx, t);
    print_message("moves left in flight: %lld; reconcile finished %lld\n", pending, finished);
    assert_true(finished >= pending);
    assert_exactly_c(ctx, t, MIGRATE_CAPACITY, "after the migration and reconcile");
    pthread_mutex_destroy(&o.lock);
    sg_sharded_trial_close(t);
    sg_free(ctx);
}

/* ---- 2b. a sharded counter's shard migrated mid-run -------------------------------------------- */
#define COUNTER_THREADS 4
#define COUNTER_STOCK 30000
#define COUNTER_SHARDS 3

typedef struct taker {
    int port;
    atomic_int *stop, *done;
    outcomes *o;
    long long taken, sold_out, errors;
} taker;

static void *take_while_migrating(void *arg) {
    taker *k = arg;
    sg_options o = {.cluster = 1, .host = "127.0.0.1", .port = k->port, .command_timeout_ms = 3000};
    sg_context *ctx = sg_connect(&o);
    sg_counter *c = ctx && !ctx->err ? sg_counter_open(ctx, "stock", 5, NULL) : NULL;
    if (c == NULL) {
        record_outcome(k->o, SG_ERR, ctx ? ctx->err : SG_ERR_OOM, ctx ? ctx->errstr : "oom", 0);
        k->errors++;
    }
    while (c != NULL && !atomic_load(k->stop)) {
        sg_take_result r;
        int rc = sg_counter_take(ctx, c, 1, &r);
        int unexpected = rc == SG_OK && r.taken != 0 && r.taken != 1;
        record_outcome(k->o, rc, ctx->err, ctx->errstr, unexpected);
        if (rc != SG_OK) k->errors++; /* may or may not have taken its unit */
        else if (r.taken == 1) k->taken++;
        else k->sold_out++;
    }
    sg_counter_close(c);
    sg_free(ctx);
    atomic_fetch_add(k->done, 1);
    return NULL;
}

typedef struct shard_reader {
    sg_context *ctx;
    sg_counter *c;
    long long samples;
} shard_reader;

/* A shard's value through the library (GET routed by its key); fails below 0. */
static long long shard_value(sg_context *ctx, sg_counter *c, int shard) {
    size_t len;
    const char *key = sg_counter_shard_key(c, shard, &len);
    const char *argv[] = {"GET", key};
    size_t argvlen[] = {3, len};
    redisReply *r = sg_command_argv(ctx, key, len, 2, argv, argvlen);
    if (r == NULL) fail_msg("GET shard %d: %s", shard, ctx->errstr);
    if (r->type != REDIS_REPLY_STRING) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("GET shard %d: %s", shard, got);
    }
    long long value = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    if (value < 0) fail_msg("shard %d holds %lld: below 0", shard, value);
    return value;
}

static void sample_shards(void *arg) {
    shard_reader *reader = arg;
    for (int i = 0; i < COUNTER_SHARDS; i++) shard_value(reader->ctx, reader->c, i);
    reader->samples++;
}

static void counter_takes_stay_exact_while_a_shards_slot_migrates(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_context *ctx = cluster_client(&cl, 0, 10000);
    int created;
    CHECK(ctx, sg_counter_create(ctx, "stock", 5, COUNTER_SHARDS, COUNTER_STOCK, &created));
    sg_counter *c = sg_counter_open(ctx, "stock", 5, NULL);
    if (c == NULL) fail_msg("open: %s", ctx->errstr);
    size_t len;
    const char *key = sg_counter_shard_key(c, 1, &len);
    int slot = slot_of_key(&cl, key, len), from = sg_cluster_owner(&cl, 0, slot), to = (from + 1) % MASTERS;
    long long ask0 = errorstat(&cl, "ASK"), moved0 = errorstat(&cl, "MOVED");

    static outcomes o;
    memset(&o, 0, sizeof(o));
    pthread_mutex_init(&o.lock, NULL);
    atomic_int stop = 0, done = 0;
    static taker takers[COUNTER_THREADS];
    pthread_t threads[COUNTER_THREADS];
    for (int i = 0; i < COUNTER_THREADS; i++) {
        memset(&takers[i], 0, sizeof(takers[i]));
        takers[i] = (taker){.port = cl.node[i % MASTERS]->port, .stop = &stop, .done = &done, .o = &o};
        assert_int_equal(pthread_create(&threads[i], NULL, take_while_migrating, &takers[i]), 0);
    }
    shard_reader reader = {ctx, c, 0};
    int moved_keys = migrate_in_steps(&cl, slot, from, to, 1, sample_shards, &reader);
    atomic_store(&stop, 1);
    join_bounded(threads, COUNTER_THREADS, &done, "taking through a migration");

    long long taken = 0, sold_out = 0, errors = 0, sum = 0;
    for (int i = 0; i < COUNTER_THREADS; i++) {
        taken += takers[i].taken;
        sold_out += takers[i].sold_out;
        errors += takers[i].errors;
    }
    for (int i = 0; i < COUNTER_SHARDS; i++) sum += shard_value(ctx, c, i);
    long long asks = errorstat(&cl, "ASK") - ask0, moveds = errorstat(&cl, "MOVED") - moved0;
    print_message("counter: slot %d migrated from node %d to %d mid-run (%lld shard samples, none below 0); %lld "
                  "taken, %lld sold-out answers, %lld errors (cluster %ld); stock %d - shards %lld = %lld; the "
                  "masters answered %lld ASK, %lld MOVED\n",
                  slot, from, to, reader.samples, taken, sold_out, errors,
                  (long)atomic_load(&o.by_code[SG_ERR_CLUSTER]), COUNTER_STOCK, sum, COUNTER_STOCK - sum, asks,
                  moveds);
    if (atomic_load(&o.other_errors))
        fail_msg("%ld takes failed with an error the API does not document here; last: %s",
                 (long)atomic_load(&o.other_errors), o.last_error);
    assert_int_equal(atomic_load(&o.unexpected_results), 0);
    assert_int_equal(moved_keys, 1);
    assert_int_equal(sg_cluster_owner(&cl, 0, slot), to);
    assert_true(asks + moveds > 0);
    assert_true(taken > 0 && sum > 0); /* the migration happened while stock was being sold */
    assert_int_equal(sold_out, 0);     /* never "sold out" while every shard had stock */
    /* A take that failed may or may not have taken its one unit. */
    if (COUNTER_STOCK - sum < taken || COUNTER_STOCK - sum > taken + errors)
        fail_msg("stock %d - shards %lld = %lld units gone, but %lld takes succeeded and %lld failed",
                 COUNTER_STOCK, sum, COUNTER_STOCK - sum, taken, errors);
    /* The rest sells exactly, and then nothing more. */
    long long total = -1;
    CHECK(ctx, sg_counter_total(ctx, c, &total));
    assert_int_equal(total, sum);
    sg_take_result r;
    CHECK(ctx, sg_counter_take(ctx, c, total, &r));
    assert_int_equal(r.taken, total);
    CHECK(ctx, sg_counter_take(ctx, c, 1, &r));
    assert_int_equal(r.taken, 0);
    for (int i = 0; i < COUNTER_SHARDS; i++) assert_int_equal(shard_value(ctx, c, i), 0);
    pthread_mutex_destroy(&o.lock);
    sg_counter_close(c);
    sg_free(ctx);
}

#define FAULT_TEST(f) cmocka_unit_test_setup_teardown(f, sg_fixture_setup, faults_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        FAULT_TEST(clients_killed_mid_move_never_break_the_ledger_and_reconcile_restores_exactly_c),
        FAULT_TEST(enrollment_keeps_the_ledger_while_a_shards_slot_migrates_mid_move),
        FAULT_TEST(counter_takes_stay_exact_while_a_shards_slot_migrates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
