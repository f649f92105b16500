/* test_lock_wait.c -- cmocka tests of the lock core's waiting state machine (module/lock.h,
 * "waiting"), linked without Redis.
 *
 * A fake host plays Redis and the glue (module/lock_commands.c): a fake clock in ms; the lock at
 * the key (holder, token, lease end: held while now <= lease end); tokens from a counter, with a
 * switch that refuses the next grants; timers kept as (kind, target, at, armed), fired in time
 * order (ties in arming order), late when the clock jumps, or early, as a host whose timer
 * periods are bounded does; each waiter's replies. The callbacks check the contract as the core
 * calls them: one reply per waiter, its timer disarmed by then; grants to the head, in arrival
 * order, within the WAIT, never over a live lease; no nil before the deadline.
 *
 * Directed tests pin the edges; a model-based test runs 2,000 seeds of 200 random steps, checks the
 * invariants after every step and prints the seed of a failure (LOCK_WAIT_SEED=n replays one).
 * The counting allocator is installed in main(); each test's teardown fails on a live waiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counting_allocator.h"
#include "lock.h"

#define NOBODY (-1)
#define MAX_CLIENTS 512
#define START_MS 1700000000000LL /* a realistic Unix time in ms */
#define HOUR_MS 3600000LL

/* ==== the fake host ============================================================================ */
typedef struct fake_timer {
    int armed;
    int64_t at;
    uint64_t seq; /* arming order: timers due at the same ms fire in it */
} fake_timer;

typedef struct client {
    lock_waiter *w; /* while it waits in the queue */
    int waited;     /* 1: queued; 0: took the lock at once (or was refused a token) */
    int64_t deadline_ms;
    int replies;
    lock_wait_outcome outcome;
    uint64_t token;
    int64_t replied_ms;
    int left;        /* its client went away while waiting (no reply) */
    int undelivered; /* its grant was reported undelivered */
    fake_timer timer; /* its WAIT's */
} client;

static struct {
    int64_t now;
    int holder; /* client id holding the lock, or NOBODY; see lock_holder() */
    uint64_t token;
    int64_t lease_end;
    uint64_t last_token;
    int refuse_grants; /* the next n grants issue no token */
    int view_forced;   /* the queue's timer sees forced_view instead of the lock */
    lock_view forced_view;
    lock_queue q;
    fake_timer queue_timer;
    uint64_t seq;
    client c[MAX_CLIENTS];
    int clients;
    int grants, revokes, queue_arms, replies;
    int reply_order[MAX_CLIENTS];
} F;

/* Where a model run is, printed with any failure. */
static uint64_t run_seed;
static int run_step = -1;

static void print_context(void) {
    if (run_step >= 0) print_error("model run: seed %" PRIu64 ", step %d (LOCK_WAIT_SEED=%" PRIu64 " replays it)\n",
                                   run_seed, run_step, run_seed);
    print_error("now %" PRId64 ", %zu waiting, holder %d\n", F.now, F.q.count, F.holder);
}

static void CMOCKA_PRINTF_ATTRIBUTE(1, 2) check_failed(const char *format, ...) {
    print_context();
    va_list args;
    va_start(args, format);
    vprint_error(format, args);
    va_end(args);
    print_error("\n");
    fail();
}
#define CHECK(cond, ...) (!(cond) ? check_failed(__VA_ARGS__) : (void)0)

static int id_of(const lock_waiter *w) { return (int)((client *)w->handle - F.c); }

/* The holder, the lease being checked lazily as Redis expires keys: held while now <= lease end. */
static int lock_holder(void) {
    if (F.holder != NOBODY && F.now > F.lease_end) F.holder = NOBODY;
    return F.holder;
}

static int queued(const lock_waiter *w) {
    for (const lock_waiter *x = F.q.head; x != NULL; x = x->next)
        if (x == w) return 1;
    return 0;
}

static uint64_t fake_grant(void *self, lock_queue *q, const lock_waiter *w, int64_t now_ms) {
    (void)self;
    client *c = w->handle;
    int id = id_of(w);
    CHECK(q == &F.q && now_ms == F.now, "grant: wrong queue or time");
    CHECK(q->head == w, "grant to waiter %d, which is not the head", id);
    CHECK(c->w == w && c->replies == 0 && !c->left, "grant to waiter %d, which has ended", id);
    CHECK(now_ms <= c->deadline_ms, "grant to waiter %d at %" PRId64 ", after its deadline %" PRId64, id, now_ms,
          c->deadline_ms);
    CHECK(lock_holder() == NOBODY, "grant to waiter %d over the live lease of client %d (two holders)", id, F.holder);
    for (int i = 0; i < id; i++)
        CHECK(!F.c[i].waited || F.c[i].w == NULL, "grant to waiter %d while %d, who came first, still waits", id, i);
    F.grants++;
    if (F.refuse_grants > 0) {
        F.refuse_grants--;
        return 0;
    }
    F.holder = id;
    F.token = ++F.last_token;
    F.lease_end = lock_time_add(now_ms, w->ttl_ms);
    return F.token;
}

static void fake_revoke(void *self) {
    (void)self;
    CHECK(lock_holder() != NOBODY, "revoke of a lock nobody holds");
    F.holder = NOBODY;
    F.revokes++;
}

static void fake_arm_queue(void *self, lock_queue *q, int64_t at_ms) {
    (void)self;
    CHECK(q == &F.q, "arm_queue: wrong queue");
    CHECK(at_ms >= F.now, "queue timer armed in the past (%" PRId64 ")", at_ms);
    CHECK(q->count > 0, "queue timer armed with nobody waiting");
    F.queue_timer = (fake_timer){1, at_ms, ++F.seq};
    F.queue_arms++;
}

static void fake_disarm_queue(void *self, lock_queue *q) {
    (void)self, (void)q;
    F.queue_timer.armed = 0;
}

static void fake_arm_waiter(void *self, lock_waiter *w, int64_t at_ms) {
    (void)self;
    client *c = w->handle;
    CHECK(c->w == w && queued(w), "timer armed for waiter %d, which is not queued", id_of(w));
    CHECK(at_ms >= F.now, "waiter %d's timer armed in the past (%" PRId64 ")", id_of(w), at_ms);
    c->timer = (fake_timer){1, at_ms, ++F.seq};
}

static void fake_disarm_waiter(void *self, lock_waiter *w) { (void)self, ((client *)w->handle)->timer.armed = 0; }

static void fake_reply(void *self, lock_waiter *w, lock_wait_outcome outcome, uint64_t token) {
    (void)self;
    client *c = w->handle;
    int id = id_of(w);
    CHECK(c->w == w && c->replies == 0 && !c->left, "waiter %d answered twice, or after leaving", id);
    CHECK(!queued(w), "waiter %d answered while still queued", id);
    CHECK(!c->timer.armed, "waiter %d answered with its timer still armed (it would fire on freed memory)", id);
    CHECK(outcome >= LOCK_WAIT_GRANTED && outcome <= LOCK_WAIT_MOVED, "waiter %d: outcome %d", id, (int)outcome);
    if (outcome == LOCK_WAIT_GRANTED)
        CHECK(token != 0 && token == F.token && lock_holder() == id && F.now <= c->deadline_ms,
              "waiter %d granted a token it does not hold, or after its deadline", id);
    if (outcome == LOCK_WAIT_TIMED_OUT)
        CHECK(F.now > c->deadline_ms, "waiter %d timed out at %" PRId64 ", its deadline %" PRId64 " not passed", id,
              F.now, c->deadline_ms);
    c->replies++;
    c->outcome = outcome;
    c->token = token;
    c->replied_ms = F.now;
    c->w = NULL; /* the core frees it */
    F.reply_order[F.replies++] = id;
}

static const lock_wait_host H = {.self = &F, .grant = fake_grant, .revoke = fake_revoke,
                                  .arm_queue = fake_arm_queue, .disarm_queue = fake_disarm_queue,
                                  .arm_waiter = fake_arm_waiter, .disarm_waiter = fake_disarm_waiter,
                                  .reply = fake_reply};

static void fake_reset(int64_t now) {
    memset(&F, 0, sizeof(F));
    F.now = now;
    F.holder = NOBODY;
    run_step = -1;
}

/* cmocka setup: the heap's baseline, and a fresh fake at START_MS. */
static int fresh_fake(void **state) {
    fake_reset(START_MS);
    return record_heap(state);
}

/* ---- what clients and Redis do (the glue's part) ------------------------------------------------ */
static int new_client(void) {
    CHECK(F.clients < MAX_CLIENTS, "too many clients");
    int id = F.clients++;
    return id;
}

/* A client holds the lock through lease_end, without waiting. */
static int take_lock(int64_t lease_end) {
    int id = new_client();
    F.holder = id;
    F.token = ++F.last_token;
    F.lease_end = lease_end;
    return id;
}

/* LOCK.ACQUIRE ... WAIT timeout_ms that found the lock held: the client queues. */
static int wait_for_lock(int64_t timeout_ms, int64_t ttl_ms) {
    CHECK(lock_holder() != NOBODY, "a client queues only behind a held lock");
    int id = new_client();
    client *c = &F.c[id];
    char owner[16];
    int len = snprintf(owner, sizeof(owner), "c%d", id);
    c->waited = 1;
    c->deadline_ms = lock_time_add(F.now, timeout_ms);
    c->w = lock_waiter_new(owner, (size_t)len, ttl_ms, 0, c);
    assert_non_null(c->w);
    lock_wait_enqueue(&H, &F.q, c->w, F.now, timeout_ms, F.lease_end);
    CHECK(c->w->deadline_ms == c->deadline_ms, "waiter %d queued with deadline %" PRId64, id, c->w->deadline_ms);
    return id;
}

/* The lock is free and this node writes it: hand it over; the token returned is the one granted. */
static uint64_t hand_over(void) {
    uint64_t token = lock_wait_hand_over(&H, &F.q, F.now);
    if (token == 0) CHECK(lock_holder() == NOBODY && F.q.count == 0, "hand-over returned 0; someone holds or waits");
    else CHECK(lock_holder() != NOBODY && F.token == token, "hand-over returned a token nobody holds");
    return token;
}

/* LOCK.RELEASE by client id: refused (0) unless it holds the lock; else the lock goes to the first
 * waiter still waiting, or is deleted. */
static int release_by(int id) {
    if (id == NOBODY || lock_holder() != id) return 0;
    F.holder = NOBODY;
    if (F.q.count > 0) hand_over();
    return 1;
}

/* DEL, FLUSHALL, migration: the lock is gone; the queue looks again. */
static void delete_elsewhere(void) {
    F.holder = NOBODY;
    lock_wait_look_again(&H, &F.q, F.now);
}

/* The waiter's client went away while it waited. */
static void leave(int id) {
    client *c = &F.c[id];
    CHECK(c->w != NULL, "client %d does not wait", id);
    lock_wait_leave(&H, &F.q, c->w);
    c->w = NULL;
    c->left = 1;
    CHECK(!c->timer.armed, "waiter %d left with its timer armed", id);
}

/* The grant of client id never reached it; the glue's revoke timer reports it. Returns revoked. */
static int grant_undelivered(int id) {
    client *c = &F.c[id];
    int held = lock_holder() != NOBODY;
    int expected = held && F.token == c->token;
    int revokes = F.revokes;
    c->undelivered = 1;
    int revoked = lock_wait_grant_undelivered(&H, F.q.count > 0 ? &F.q : NULL, F.now, c->token,
                                              held ? LOCK_VIEW_HELD : LOCK_VIEW_OTHER, held ? F.token : 0);
    CHECK(revoked == expected && F.revokes == revokes + expected,
          "undelivered grant %" PRIu64 ": revoked %d, expected %d", c->token, revoked, expected);
    if (revoked && F.q.count > 0)
        CHECK(F.queue_timer.armed && F.queue_timer.at <= F.now, "revoked, yet the queue does not look again now");
    return revoked;
}

/* ---- timers ------------------------------------------------------------------------------------- */
#define NO_TIMER (-2)
#define QUEUE_TIMER (-1)

static fake_timer *timer_of(int t) { return t == QUEUE_TIMER ? &F.queue_timer : &F.c[t].timer; }

/* The armed timer that fires first among those due by `until`: earliest time, then earliest armed. */
static int next_timer(int64_t until) {
    int best = NO_TIMER;
    for (int t = QUEUE_TIMER; t < F.clients; t++) {
        const fake_timer *x = timer_of(t), *b = best == NO_TIMER ? NULL : timer_of(best);
        if (x->armed && x->at <= until && (b == NULL || x->at < b->at || (x->at == b->at && x->seq < b->seq)))
            best = t;
    }
    return best;
}

/* What the queue's timer finds at the key. */
static lock_view view_at_key(int64_t *lease_end) {
    *lease_end = 0;
    if (F.view_forced) return F.forced_view;
    if (lock_holder() == NOBODY) return LOCK_VIEW_FREE;
    *lease_end = F.lease_end;
    return LOCK_VIEW_HELD;
}

/* Fire timer t now, due or not (early). */
static void fire(int t) {
    CHECK(timer_of(t)->armed, "firing timer %d, which is not armed", t);
    timer_of(t)->armed = 0;
    if (t == QUEUE_TIMER) {
        int64_t lease_end;
        lock_view view = view_at_key(&lease_end);
        lock_wait_queue_due(&H, &F.q, F.now, view, lease_end);
    } else {
        CHECK(F.c[t].w != NULL, "the timer of client %d fired, and it does not wait", t);
        lock_wait_waiter_due(&H, &F.q, F.c[t].w, F.now);
    }
}

/* Let time run to `until` with every timer firing at its own time (or now, if it has passed). */
static void run_until(int64_t until) {
    int t, fired = 0;
    while ((t = next_timer(until)) != NO_TIMER) {
        if (timer_of(t)->at > F.now) F.now = timer_of(t)->at;
        fire(t);
        CHECK(++fired < 100000, "timers keep firing at %" PRId64 " (re-armed for the past?)", F.now);
    }
    F.now = until;
}

/* Fire every timer due now, in order (late, if their time has passed). */
static void fire_due(void) { run_until(F.now); }

/* The clock jumps to `to`; the timers due fire late, at `to`. */
static void jump_to(int64_t to) {
    F.now = to;
    fire_due();
}

/* ---- the end of every run ------------------------------------------------------------------------ */
/* Time passes every finite deadline and every timer fires; WAITs without end are served by
 * releases. Then every waiter was answered exactly once, or left without a word, and nothing is
 * armed or allocated. */
static void drain(void) {
    F.refuse_grants = 0;
    F.view_forced = 0;
    int64_t last = F.now;
    for (int i = 0; i < F.clients; i++)
        if (F.c[i].w != NULL && F.c[i].deadline_ms < INT64_MAX && F.c[i].deadline_ms > last) last = F.c[i].deadline_ms;
    jump_to(lock_time_add(last, 1));
    while (F.q.count > 0) CHECK(release_by(lock_holder()), "waiters left with the lock free and every timer fired");
    for (int i = 0; i < F.clients; i++) {
        const client *c = &F.c[i];
        if (!c->waited) continue;
        CHECK(c->w == NULL && !c->timer.armed, "waiter %d still waits after the drain", i);
        CHECK(c->left ? c->replies == 0 : c->replies == 1, "waiter %d: %d replies (left: %d)", i, c->replies, c->left);
    }
    CHECK(!F.queue_timer.armed && !F.q.armed && F.q.head == NULL, "the empty queue keeps its timer armed");
    CHECK(heap.live_blocks == baseline_blocks, "%zu waiter(s) never freed", heap.live_blocks - baseline_blocks);
}

static void assert_reply(int id, lock_wait_outcome outcome, int64_t at_ms) {
    assert_int_equal(F.c[id].replies, 1);
    assert_int_equal(F.c[id].outcome, outcome);
    assert_int_equal(F.c[id].replied_ms, at_ms);
}

static void assert_waiting(int id) {
    assert_int_equal(F.c[id].replies, 0);
    assert_non_null(F.c[id].w);
}

/* ==== deadlines next to the lease end ============================================================= */
static void a_wait_ending_in_the_last_millisecond_of_the_lease_gets_nil(void **state) {
    (void)state;
    /* Whichever of the two timers due at E+1 fires first. */
    for (int queue_first = 0; queue_first <= 1; queue_first++) {
        fake_reset(START_MS);
        const int64_t E = START_MS + 10;
        take_lock(E);
        int a = wait_for_lock(10, 100);
        assert_int_equal(F.c[a].deadline_ms, E);
        run_until(E);
        assert_waiting(a);
        F.now = E + 1;
        if (queue_first) fire(QUEUE_TIMER);
        fire_due();
        assert_reply(a, LOCK_WAIT_TIMED_OUT, E + 1);
        assert_int_equal(lock_holder(), NOBODY);
        assert_int_equal(F.grants, 0);
        assert_false(F.queue_timer.armed);
        drain();
    }
}

static void a_wait_ending_a_millisecond_before_the_lease_end_gets_nil_while_the_lock_is_held(void **state) {
    (void)state;
    const int64_t E = START_MS + 10;
    int holder = take_lock(E);
    int a = wait_for_lock(9, 100);
    run_until(E - 1);
    assert_waiting(a);
    run_until(E);
    assert_reply(a, LOCK_WAIT_TIMED_OUT, E);
    assert_int_equal(lock_holder(), holder);
    assert_false(F.queue_timer.armed);
    drain();
}

static void a_wait_ending_a_millisecond_after_the_lease_end_is_granted_when_the_lock_frees(void **state) {
    (void)state;
    const int64_t E = START_MS + 10;
    take_lock(E);
    int a = wait_for_lock(11, 100);
    assert_int_equal(F.queue_timer.at, E + 1);
    assert_int_equal(F.c[a].timer.at, E + 2);
    run_until(E);
    assert_waiting(a);
    run_until(E + 1);
    assert_reply(a, LOCK_WAIT_GRANTED, E + 1);
    assert_int_equal(lock_holder(), a);
    assert_int_equal(F.lease_end, E + 1 + 100);
    drain();
}

static void late_timers_answer_nil_to_a_passed_deadline_and_grant_the_next_waiter_in_time(void **state) {
    (void)state;
    const int64_t E = START_MS + 10;
    take_lock(E);
    int a = wait_for_lock(11, 100); /* deadline E+1 */
    int b = wait_for_lock(15, 100); /* deadline E+5 */
    jump_to(E + 3);
    assert_reply(a, LOCK_WAIT_TIMED_OUT, E + 3);
    assert_reply(b, LOCK_WAIT_GRANTED, E + 3);
    assert_int_equal(F.reply_order[0], a);
    assert_int_equal(F.reply_order[1], b);
    assert_int_equal(lock_holder(), b);
    drain();
}

/* ==== release and expiry in one millisecond ======================================================== */
static void a_release_in_the_last_millisecond_of_the_lease_hands_over_once(void **state) {
    (void)state;
    const int64_t E = START_MS + 10;
    int holder = take_lock(E);
    int a = wait_for_lock(100, 20);
    int b = wait_for_lock(100, 20);
    run_until(E);
    assert_true(release_by(holder));
    assert_reply(a, LOCK_WAIT_GRANTED, E);
    assert_int_equal(F.queue_timer.at, E + 20 + 1); /* the old lease's turn at E+1 is gone */
    run_until(E + 20);
    assert_waiting(b);
    assert_int_equal(lock_holder(), a);
    run_until(E + 21);
    assert_reply(b, LOCK_WAIT_GRANTED, E + 21);
    assert_int_equal(F.grants, 2);
    drain();
}

static void a_release_after_the_lease_ended_in_the_same_millisecond_as_the_queue_turn_grants_once(void **state) {
    (void)state;
    /* At E+1 the lease has ended: the old holder's release is refused, before or after the turn. */
    for (int release_first = 0; release_first <= 1; release_first++) {
        fake_reset(START_MS);
        const int64_t E = START_MS + 10;
        int holder = take_lock(E);
        int a = wait_for_lock(100, 20);
        int b = wait_for_lock(100, 20);
        run_until(E);
        F.now = E + 1;
        if (release_first) assert_false(release_by(holder));
        assert_int_equal(F.grants, 0);
        fire_due();
        if (!release_first) assert_false(release_by(holder));
        assert_reply(a, LOCK_WAIT_GRANTED, E + 1);
        assert_waiting(b);
        assert_int_equal(F.grants, 1);
        assert_int_equal(lock_holder(), a);
        drain();
    }
}

/* ==== grants that never reached their waiter ======================================================= */
static void a_grant_that_never_reached_its_waiter_is_revoked_and_the_next_waiter_granted(void **state) {
    (void)state;
    int holder = take_lock(START_MS + 10);
    int a = wait_for_lock(100, 50);
    int b = wait_for_lock(100, 50);
    F.now = START_MS + 5;
    assert_true(release_by(holder));
    assert_reply(a, LOCK_WAIT_GRANTED, START_MS + 5);
    uint64_t token_a = F.c[a].token;
    /* a's client went away before the reply: it does not leave the queue (it is out), the glue's
     * revoke timer reports the grant at the next turn. */
    F.now = START_MS + 6;
    assert_true(grant_undelivered(a));
    assert_int_equal(lock_holder(), NOBODY);
    assert_waiting(b); /* granted at the queue's next turn, not inside the revoke */
    assert_int_equal(F.queue_timer.at, START_MS + 6);
    fire_due();
    assert_reply(b, LOCK_WAIT_GRANTED, START_MS + 6);
    assert_int_equal(F.c[b].token, token_a + 1);
    drain();
}

static void an_undelivered_grant_is_kept_when_the_lock_changed_hands_or_is_free(void **state) {
    (void)state;
    int holder = take_lock(START_MS + 10);
    int a = wait_for_lock(100, 50);
    int b = wait_for_lock(100, 50);
    assert_true(release_by(holder));
    assert_true(release_by(a));
    assert_int_equal(lock_holder(), b);
    assert_false(grant_undelivered(a)); /* b's token is held now */
    assert_int_equal(lock_holder(), b);
    assert_true(release_by(b));
    assert_false(grant_undelivered(b)); /* released already */
    assert_int_equal(F.revokes, 0);
    drain();
}

static void an_undelivered_grant_with_nobody_waiting_is_revoked(void **state) {
    (void)state;
    int holder = take_lock(START_MS + 10);
    int a = wait_for_lock(100, 50);
    assert_true(release_by(holder));
    assert_reply(a, LOCK_WAIT_GRANTED, START_MS);
    assert_int_equal(lock_wait_grant_undelivered(&H, NULL, F.now, F.c[a].token, LOCK_VIEW_HELD, F.token), 1);
    assert_int_equal(F.revokes, 1);
    assert_int_equal(lock_holder(), NOBODY);
    assert_false(F.queue_timer.armed);
    drain();
}

/* ==== times at 0, 1 and INT64_MAX ==================================================================== */
static void time_add_saturates_at_int64_max_and_ignores_negative_lengths(void **state) {
    (void)state;
    static const int64_t sums[][3] = { /* a, b, a + b stopping at INT64_MAX */
        {0, 0, 0}, {0, 1, 1}, {1, 0, 1}, {INT64_MAX - 10, 10, INT64_MAX}, {INT64_MAX - 10, 11, INT64_MAX},
        {INT64_MAX, 1, INT64_MAX}, {1, INT64_MAX, INT64_MAX}, {INT64_MAX, INT64_MAX, INT64_MAX}, {5, -3, 5},
        {5, INT64_MIN, 5}, {-10, 3, -7}, {INT64_MIN, INT64_MAX, -1}};
    for (size_t i = 0; i < sizeof(sums) / sizeof(sums[0]); i++)
        assert_true(lock_time_add(sums[i][0], sums[i][1]) == sums[i][2]);
}

static void deadlines_and_leases_at_zero_and_one_millisecond_follow_the_same_rules(void **state) {
    (void)state;
    fake_reset(0);
    take_lock(0); /* held through ms 0 */
    int a = wait_for_lock(1, 1); /* waits through ms 1 */
    int b = wait_for_lock(3, 1); /* waits through ms 3 */
    int c = wait_for_lock(1, 1); /* waits through ms 1, behind a */
    assert_int_equal(F.queue_timer.at, 1);
    run_until(1);
    assert_reply(a, LOCK_WAIT_GRANTED, 1);
    assert_int_equal(F.lease_end, 2);
    assert_int_equal(F.queue_timer.at, 3);
    run_until(2);
    assert_reply(c, LOCK_WAIT_TIMED_OUT, 2);
    assert_waiting(b);
    run_until(3);
    assert_reply(b, LOCK_WAIT_GRANTED, 3);
    drain();
}

static void a_wait_and_a_lease_of_int64_max_saturate_and_never_end_on_their_own(void **state) {
    (void)state;
    int holder = take_lock(INT64_MAX); /* a lock without expiry */
    int a = wait_for_lock(INT64_MAX, LOCK_MAX_TTL_MS);
    int b = wait_for_lock(INT64_MAX - START_MS, INT64_MAX);
    assert_true(F.c[a].deadline_ms == INT64_MAX && F.c[b].deadline_ms == INT64_MAX);
    assert_true(F.c[a].timer.at == INT64_MAX && F.queue_timer.at == INT64_MAX);
    jump_to(INT64_MAX - 1);
    assert_waiting(a);
    assert_waiting(b);
    fire(QUEUE_TIMER); /* early, as a bounded host fires */
    fire(a);
    assert_true(F.queue_timer.armed && F.queue_timer.at == INT64_MAX);
    assert_true(F.c[a].timer.armed && F.c[a].timer.at == INT64_MAX);
    assert_true(release_by(holder));
    assert_reply(a, LOCK_WAIT_GRANTED, INT64_MAX - 1);
    assert_true(F.lease_end == INT64_MAX && F.queue_timer.at == INT64_MAX);
    assert_true(release_by(a));
    assert_reply(b, LOCK_WAIT_GRANTED, INT64_MAX - 1);
    assert_true(F.lease_end == INT64_MAX);
    assert_false(F.queue_timer.armed);
    drain();
}

/* ==== timers fired early ================================================================================ */
static void timers_fired_early_arm_again_and_answer_nobody(void **state) {
    (void)state;
    const int64_t E = START_MS + 3 * HOUR_MS;
    take_lock(E);
    int a = wait_for_lock(5 * HOUR_MS, 10);
    int b = wait_for_lock(2 * HOUR_MS, 10);
    /* A host bounds its timer periods to an hour: every hour each timer fires before its time. */
    for (int64_t t = START_MS; t < E; t += HOUR_MS) {
        F.now = t;
        fire(QUEUE_TIMER);
        fire(a);
        if (F.c[b].w != NULL) fire(b);
        assert_int_equal(F.replies, 0);
        assert_true(F.queue_timer.armed && F.queue_timer.at == E + 1);
        assert_true(F.c[a].timer.armed && F.c[a].timer.at == F.c[a].deadline_ms + 1);
        run_until(t + HOUR_MS - 1);
    }
    assert_reply(b, LOCK_WAIT_TIMED_OUT, START_MS + 2 * HOUR_MS + 1);
    assert_waiting(a);
    run_until(E + 1);
    assert_reply(a, LOCK_WAIT_GRANTED, E + 1);
    drain();
}

/* ==== no token, MOVED, REPLICA, other views ============================================================ */
static void a_grant_without_a_token_answers_no_token_and_the_next_waiter_is_tried(void **state) {
    (void)state;
    int holder = take_lock(START_MS + 10);
    int a = wait_for_lock(100, 10);
    int b = wait_for_lock(100, 10);
    int c = wait_for_lock(100, 10);
    F.refuse_grants = 1;
    assert_true(release_by(holder));
    assert_reply(a, LOCK_WAIT_NO_TOKEN, START_MS);
    assert_reply(b, LOCK_WAIT_GRANTED, START_MS);
    assert_waiting(c);
    assert_int_equal(F.grants, 2);
    drain();
}

static void waiters_all_refused_a_token_leave_the_lock_free_and_the_queue_disarmed(void **state) {
    (void)state;
    take_lock(START_MS + 10);
    int a = wait_for_lock(100, 10);
    int b = wait_for_lock(100, 10);
    F.refuse_grants = 2;
    run_until(START_MS + 11);
    assert_reply(a, LOCK_WAIT_NO_TOKEN, START_MS + 11);
    assert_reply(b, LOCK_WAIT_NO_TOKEN, START_MS + 11);
    assert_int_equal(lock_holder(), NOBODY);
    assert_false(F.queue_timer.armed);
    assert_int_equal(lock_wait_hand_over(&H, &F.q, F.now), 0); /* nobody left to hand it to */
    drain();
}

static void a_moved_key_answers_every_waiter_moved_once(void **state) {
    (void)state;
    take_lock(START_MS + 10);
    int ids[3];
    for (int i = 0; i < 3; i++) ids[i] = wait_for_lock(100 + i, 10);
    F.view_forced = 1;
    F.forced_view = LOCK_VIEW_MOVED;
    run_until(START_MS + 11);
    for (int i = 0; i < 3; i++) {
        assert_reply(ids[i], LOCK_WAIT_MOVED, START_MS + 11);
        assert_int_equal(F.reply_order[i], ids[i]);
        assert_false(F.c[ids[i]].timer.armed);
    }
    assert_int_equal(F.replies, 3);
    assert_false(F.queue_timer.armed);
    assert_int_equal(F.grants, 0);
    drain();
}

static void a_replica_arms_nothing_and_its_waiters_end_at_their_deadlines(void **state) {
    (void)state;
    take_lock(START_MS + 10);
    int a = wait_for_lock(20, 10);
    int b = wait_for_lock(30, 10);
    F.view_forced = 1;
    F.forced_view = LOCK_VIEW_REPLICA;
    int arms = F.queue_arms;
    run_until(START_MS + 11);
    assert_int_equal(F.queue_arms, arms);
    assert_false(F.queue_timer.armed);
    assert_false(F.q.armed);
    assert_waiting(a);
    run_until(START_MS + 31);
    assert_reply(a, LOCK_WAIT_TIMED_OUT, START_MS + 21);
    assert_reply(b, LOCK_WAIT_TIMED_OUT, START_MS + 31);
    assert_int_equal(F.grants, 0);
    drain();
}

static void a_key_of_another_type_or_paused_writes_look_again_later(void **state) {
    (void)state;
    take_lock(START_MS + 10);
    int a = wait_for_lock(5000, 10);
    F.view_forced = 1;
    F.forced_view = LOCK_VIEW_OTHER;
    run_until(START_MS + 11);
    assert_true(F.queue_timer.armed && F.queue_timer.at == START_MS + 11 + LOCK_RECHECK_OTHER_MS);
    F.forced_view = LOCK_VIEW_PAUSED;
    run_until(START_MS + 11 + LOCK_RECHECK_OTHER_MS);
    assert_true(F.queue_timer.armed);
    assert_true(F.queue_timer.at == START_MS + 11 + LOCK_RECHECK_OTHER_MS + LOCK_RECHECK_PAUSED_MS);
    F.view_forced = 0;
    run_until(START_MS + 11 + LOCK_RECHECK_OTHER_MS + LOCK_RECHECK_PAUSED_MS);
    assert_reply(a, LOCK_WAIT_GRANTED, START_MS + 11 + LOCK_RECHECK_OTHER_MS + LOCK_RECHECK_PAUSED_MS);
    drain();
}

/* ==== order, leaving, deletion ========================================================================== */
static void waiters_are_granted_in_arrival_order_whatever_their_timeouts(void **state) {
    (void)state;
    take_lock(START_MS + 20);
    int a = wait_for_lock(50, 10);  /* through +50 */
    int b = wait_for_lock(5, 10);   /* through +5 */
    int c = wait_for_lock(100, 10); /* through +100 */
    int d = wait_for_lock(10, 10);  /* through +10 */
    int e = wait_for_lock(100, 10); /* through +100 */
    run_until(START_MS + 21);
    assert_reply(b, LOCK_WAIT_TIMED_OUT, START_MS + 6);
    assert_reply(d, LOCK_WAIT_TIMED_OUT, START_MS + 11);
    assert_reply(a, LOCK_WAIT_GRANTED, START_MS + 21);
    assert_true(release_by(a));
    assert_reply(c, LOCK_WAIT_GRANTED, START_MS + 21);
    run_until(START_MS + 32);
    assert_reply(e, LOCK_WAIT_GRANTED, START_MS + 32);
    assert_true(F.c[a].token < F.c[c].token && F.c[c].token < F.c[e].token);
    drain();
}

static void a_waiter_that_leaves_gets_no_reply_and_the_last_to_leave_disarms_the_queue(void **state) {
    (void)state;
    int holder = take_lock(START_MS + 10);
    int a = wait_for_lock(100, 10);
    int b = wait_for_lock(100, 10);
    int c = wait_for_lock(100, 10);
    leave(b);
    assert_true(F.queue_timer.armed);
    assert_true(release_by(holder));
    assert_reply(a, LOCK_WAIT_GRANTED, START_MS);
    leave(c);
    assert_false(F.queue_timer.armed);
    assert_int_equal(F.c[b].replies + F.c[c].replies, 0);
    assert_int_equal(F.replies, 1);
    drain();
}

static void a_lock_deleted_elsewhere_goes_to_the_first_waiter_at_the_next_queue_turn(void **state) {
    (void)state;
    take_lock(START_MS + HOUR_MS);
    int a = wait_for_lock(100, 10);
    F.now = START_MS + 7;
    delete_elsewhere();
    assert_int_equal(F.queue_timer.at, START_MS + 7);
    assert_waiting(a);
    fire_due();
    assert_reply(a, LOCK_WAIT_GRANTED, START_MS + 7);
    drain();
}

/* ==== the model: random interleavings ================================================================== */
static uint64_t rng_state;

static uint64_t rng(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int64_t below(int64_t n) { return (int64_t)(rng() % (uint64_t)n); }

/* LOCK.ACQUIRE ... WAIT, as the glue does it: a free lock with waiters goes to the first of them
 * still waiting; a free lock with nobody waiting to the caller at once; else the caller queues. */
static void model_acquire(void) {
    int64_t timeout = 1 + below(20), ttl = 1 + below(10);
    int64_t r = below(40);
    if (r == 0) timeout = LOCK_MAX_TTL_MS;
    else if (r == 1) timeout = INT64_MAX;
    if (below(30) == 0) ttl = LOCK_MAX_TTL_MS;
    if (lock_holder() == NOBODY && F.q.count > 0) hand_over();
    if (lock_holder() != NOBODY) wait_for_lock(timeout, ttl);
    else if (F.refuse_grants > 0) F.refuse_grants--, new_client(); /* no token: the caller gets the error */
    else take_lock(lock_time_add(F.now, ttl));
}

static int random_waiter(void) {
    if (F.q.count == 0) return NOBODY;
    int64_t k = below((int64_t)F.q.count);
    lock_waiter *w = F.q.head;
    while (k-- > 0) w = w->next;
    return id_of(w);
}

/* A random armed timer that is not due yet, or NO_TIMER. */
static int random_early_timer(void) {
    int candidates[MAX_CLIENTS + 1], n = 0;
    if (F.queue_timer.armed && F.queue_timer.at > F.now) candidates[n++] = QUEUE_TIMER;
    for (int i = 0; i < F.clients; i++)
        if (F.c[i].timer.armed && F.c[i].timer.at > F.now) candidates[n++] = i;
    return n == 0 ? NO_TIMER : candidates[below(n)];
}

/* After every step: the queue holds exactly the waiters still waiting, in arrival order, each with
 * its timer at the first millisecond after its WAIT; a queue with waiters has its timer armed, no
 * later than the first free millisecond of a held lock; an empty one has none. */
static void check_model(void) {
    size_t n = 0;
    int last = -1;
    for (lock_waiter *w = F.q.head; w != NULL; w = w->next, n++) {
        const client *c = w->handle;
        int id = id_of(w);
        CHECK(c->w == w && c->replies == 0 && !c->left, "waiter %d queued after its end", id);
        CHECK(id > last, "waiter %d queued behind %d, who came later", id, last);
        CHECK(c->timer.armed && c->timer.at == lock_time_add(c->deadline_ms, 1),
              "waiter %d's timer is not armed at the end of its WAIT", id);
        last = id;
    }
    CHECK(n == F.q.count, "the queue counts %zu waiters and links %zu", F.q.count, n);
    size_t waiting = 0;
    for (int i = 0; i < F.clients; i++) {
        if (F.c[i].w != NULL) waiting++;
        else CHECK(!F.c[i].timer.armed, "client %d no longer waits, yet its timer is armed", i);
    }
    CHECK(waiting == n, "%zu clients wait, %zu are queued", waiting, n);
    CHECK(n > 0 ? F.queue_timer.armed : !F.queue_timer.armed, "%zu waiting, queue timer armed: %d", n,
          F.queue_timer.armed);
    CHECK(F.q.armed == F.queue_timer.armed && (!F.queue_timer.armed || F.q.armed_at == F.queue_timer.at),
          "the queue's record of its timer differs from the host's");
    if (n > 0 && lock_holder() != NOBODY)
        CHECK(F.queue_timer.at <= lock_time_add(F.lease_end, 1),
              "queue turn at %" PRId64 ", after the lease ends at %" PRId64,
              F.queue_timer.at, F.lease_end);
    if (F.holder != NOBODY && F.c[F.holder].waited)
        CHECK(F.c[F.holder].outcome == LOCK_WAIT_GRANTED && F.c[F.holder].token == F.token,
              "client %d holds a token it was not granted", F.holder);
}

static void model_step(void) {
    int64_t op = below(100);
    if (op < 24) {
        model_acquire();
    } else if (op < 38) {
        release_by(lock_holder());
    } else if (op < 58) {
        F.now += below(6); /* leases may end; the timers have not run yet */
    } else if (op < 76) {
        if (below(4) == 0) {
            int t = next_timer(F.now);
            if (t != NO_TIMER) fire(t);
        } else {
            fire_due();
            /* Liveness: every due timer has fired and the lock is free, so nobody still waits. */
            if (lock_holder() == NOBODY)
                CHECK(F.q.count == 0, "the lock is free after every due timer fired, and %zu waiter(s) still wait",
                      F.q.count);
        }
    } else if (op < 83) {
        int t = random_early_timer();
        if (t != NO_TIMER) {
            int replies = F.replies;
            int64_t lease_end;
            int may_hand_over = t == QUEUE_TIMER && view_at_key(&lease_end) == LOCK_VIEW_FREE;
            fire(t);
            if (!may_hand_over) CHECK(F.replies == replies, "a timer fired early answered a waiter");
        }
    } else if (op < 90) {
        int id = random_waiter();
        if (id != NOBODY) leave(id);
    } else if (op < 94) {
        delete_elsewhere();
    } else if (op < 98) {
        int id = (int)below(F.clients ? F.clients : 1);
        if (id < F.clients && F.c[id].waited && F.c[id].outcome == LOCK_WAIT_GRANTED && !F.c[id].undelivered)
            grant_undelivered(id);
    } else {
        F.refuse_grants = 1 + (int)below(2);
    }
}

static void run_model(uint64_t seed, int steps) {
    fake_reset(START_MS);
    rng_state = seed;
    run_seed = seed;
    for (run_step = 0; run_step < steps; run_step++) {
        model_step();
        check_model();
    }
    drain();
    run_step = -1;
}

static void random_interleavings_keep_every_promise_of_the_waiting_contract(void **state) {
    (void)state;
    const char *replay = getenv("LOCK_WAIT_SEED");
    uint64_t first = 1, last = 2000;
    if (replay != NULL) first = last = strtoull(replay, NULL, 10);
    for (uint64_t seed = first; seed <= last; seed++) run_model(seed, 200);
}

/* ==== main ================================================================================================ */
#define TEST(f) cmocka_unit_test_setup_teardown(f, fresh_fake, expect_heap_balanced)

int main(void) {
    core_set_allocator(&counting_allocator);
    const struct CMUnitTest tests[] = {
        TEST(a_wait_ending_in_the_last_millisecond_of_the_lease_gets_nil),
        TEST(a_wait_ending_a_millisecond_before_the_lease_end_gets_nil_while_the_lock_is_held),
        TEST(a_wait_ending_a_millisecond_after_the_lease_end_is_granted_when_the_lock_frees),
        TEST(late_timers_answer_nil_to_a_passed_deadline_and_grant_the_next_waiter_in_time),
        TEST(a_release_in_the_last_millisecond_of_the_lease_hands_over_once),
        TEST(a_release_after_the_lease_ended_in_the_same_millisecond_as_the_queue_turn_grants_once),
        TEST(a_grant_that_never_reached_its_waiter_is_revoked_and_the_next_waiter_granted),
        TEST(an_undelivered_grant_is_kept_when_the_lock_changed_hands_or_is_free),
        TEST(an_undelivered_grant_with_nobody_waiting_is_revoked),
        TEST(time_add_saturates_at_int64_max_and_ignores_negative_lengths),
        TEST(deadlines_and_leases_at_zero_and_one_millisecond_follow_the_same_rules),
        TEST(a_wait_and_a_lease_of_int64_max_saturate_and_never_end_on_their_own),
        TEST(timers_fired_early_arm_again_and_answer_nobody),
        TEST(a_grant_without_a_token_answers_no_token_and_the_next_waiter_is_tried),
        TEST(waiters_all_refused_a_token_leave_the_lock_free_and_the_queue_disarmed),
        TEST(a_moved_key_answers_every_waiter_moved_once),
        TEST(a_replica_arms_nothing_and_its_waiters_end_at_their_deadlines),
        TEST(a_key_of_another_type_or_paused_writes_look_again_later),
        TEST(waiters_are_granted_in_arrival_order_whatever_their_timeouts),
        TEST(a_waiter_that_leaves_gets_no_reply_and_the_last_to_leave_disarms_the_queue),
        TEST(a_lock_deleted_elsewhere_goes_to_the_first_waiter_at_the_next_queue_turn),
        TEST(random_interleavings_keep_every_promise_of_the_waiting_contract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
