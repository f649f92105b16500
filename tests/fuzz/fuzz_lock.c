/* fuzz_lock.c -- libFuzzer harness of the lock core (module/lock.h).
 *
 * First the record: lock_record_valid_fields() against the contract, lock_record_new/copy/
 * is_owner/size and lock_decide_acquire() on fields from the input. Then the waiting state machine
 * (lock_wait_*) driven by operations from the input against a fake host, which plays Redis and the
 * glue: a fake clock in ms (with jumps to the end of time), the lock at the key, tokens from a
 * counter that can be told to refuse, timers that fire when due, late, or early, views forced to
 * MOVED / OTHER / PAUSED / REPLICA, clients that leave, grants that never reach their client.
 *
 * The host's callbacks check the contract as the core calls them (a grant only to the head, in
 * time, never over a live lease: at most one holder; one reply per waiter, after it left the queue
 * and its timer was disarmed; nil only after the deadline; timers armed in the future), and after
 * every operation the queue is checked whole (links and count, every waiter's timer at the end of
 * its WAIT, the queue's timer armed exactly while someone waits). At the end every waiter still
 * queued leaves, every client has had at most one reply, and no block of the allocator is live. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core_alloc.h"
#include "fuzz_support.h"
#include "lock.h"

#define NOBODY (-1)
#define MAX_CLIENTS 96
#define START_MS 1700000000000LL

/* ==== records ==================================================================================== */
static void fuzz_records(fuzz_input *in) {
    const uint8_t *owner;
    size_t len = fuzz_take_bytes(in, LOCK_MAX_OWNER_LEN + 8, &owner);
    uint64_t token = (uint64_t)fuzz_take_i64_edgy(in);
    uint64_t holds = (uint64_t)fuzz_take_i64_edgy(in);
    int64_t deadline = fuzz_take_i64_edgy(in);
    int valid = len >= 1 && len <= LOCK_MAX_OWNER_LEN && token >= 1 && token <= TOKEN_MAX && holds >= 1 &&
                holds <= UINT32_MAX;
    FUZZ_CHECK(lock_record_valid_fields(len, token, holds) == valid, "valid_fields(%zu, %llu, %llu) is not %d", len,
               (unsigned long long)token, (unsigned long long)holds, valid);
    lock_record *r = lock_record_new((const char *)owner, len, token, deadline, (uint32_t)holds);
    int valid_as_given = valid || (len >= 1 && len <= LOCK_MAX_OWNER_LEN && token >= 1 && token <= TOKEN_MAX &&
                                   (uint32_t)holds >= 1);
    FUZZ_CHECK((r != NULL) == valid_as_given, "lock_record_new accepted invalid fields, or refused valid ones");
    if (r == NULL) return;
    FUZZ_CHECK(r->token == token && r->deadline_ms == deadline && r->holds == (uint32_t)holds && r->owner_len == len,
               "a record does not hold its fields");
    FUZZ_CHECK(lock_record_is_owner(r, (const char *)owner, len), "a record is not its owner's");
    FUZZ_CHECK(lock_record_size(r) >= len, "a record smaller than its owner");
    lock_record *c = lock_record_copy(r);
    FUZZ_CHECK(c != NULL && c->token == r->token && c->holds == r->holds && c->deadline_ms == r->deadline_ms &&
                   lock_record_is_owner(c, r->owner, r->owner_len),
               "a copy differs");
    const uint8_t *other;
    size_t other_len = fuzz_take_bytes(in, 16, &other);
    int same = other_len == len && memcmp(other, owner, len) == 0;
    FUZZ_CHECK(lock_record_is_owner(r, (const char *)other, other_len) == same, "is_owner is wrong");
    uint8_t flags = fuzz_take_u8(in);
    int reentrant = flags & 1;
    size_t queued = flags >> 1;
    lock_acquire_outcome got = lock_decide_acquire(r, (const char *)other, other_len, reentrant, queued);
    lock_acquire_outcome want = !same ? LOCK_BUSY : reentrant && r->holds < UINT32_MAX ? LOCK_REENTER : LOCK_REFRESH;
    FUZZ_CHECK(got == want, "decide_acquire on a held lock: %d, want %d", (int)got, (int)want);
    got = lock_decide_acquire(NULL, (const char *)other, other_len, reentrant, queued);
    FUZZ_CHECK(got == (queued == 0 ? LOCK_GRANT : LOCK_BUSY), "decide_acquire on a free lock: %d", (int)got);
    lock_record_free(c);
    lock_record_free(r);
}

/* ==== the fake host ============================================================================== */
typedef struct fake_timer {
    int armed;
    int64_t at;
    uint64_t seq;
} fake_timer;

typedef struct client {
    lock_waiter *w; /* while queued */
    int waited;
    int64_t deadline_ms;
    int replies;
    lock_wait_outcome outcome;
    uint64_t token;
    int left, undelivered;
    fake_timer timer;
} client;

static struct {
    int64_t now;
    int holder;
    uint64_t token, last_token;
    int64_t lease_end;
    int refuse_grants;
    int view_forced;
    lock_view forced_view;
    lock_queue q;
    fake_timer queue_timer;
    int queue_armed_in_view; /* the queue's timer was armed while a view was forced */
    uint64_t seq;
    client c[MAX_CLIENTS];
    int clients;
} F;

static int id_of(const lock_waiter *w) { return (int)((client *)w->handle - F.c); }

static int lock_holder(void) {
    if (F.holder != NOBODY && F.now > F.lease_end) F.holder = NOBODY;
    return F.holder;
}

static int queued(const lock_waiter *w) {
    for (const lock_waiter *x = F.q.head; x != NULL; x = x->next)
        if (x == w) return 1;
    return 0;
}

static uint64_t host_grant(void *self, lock_queue *q, const lock_waiter *w, int64_t now_ms) {
    (void)self;
    client *c = w->handle;
    int id = id_of(w);
    FUZZ_CHECK(q == &F.q && now_ms == F.now, "grant: wrong queue or time");
    FUZZ_CHECK(q->head == w, "grant to waiter %d, not the head", id);
    FUZZ_CHECK(c->w == w && c->replies == 0 && !c->left, "grant to waiter %d, which has ended", id);
    FUZZ_CHECK(now_ms <= c->deadline_ms, "grant to waiter %d after its deadline", id);
    FUZZ_CHECK(lock_holder() == NOBODY, "grant to waiter %d over the live lease of %d: two holders", id, F.holder);
    if (F.refuse_grants > 0) {
        F.refuse_grants--;
        return 0;
    }
    F.holder = id;
    F.token = ++F.last_token;
    F.lease_end = lock_time_add(now_ms, w->ttl_ms);
    return F.token;
}

static void host_revoke(void *self) {
    (void)self;
    FUZZ_CHECK(lock_holder() != NOBODY, "revoke of a free lock");
    F.holder = NOBODY;
}

static void host_arm_queue(void *self, lock_queue *q, int64_t at_ms) {
    (void)self;
    FUZZ_CHECK(q == &F.q && at_ms >= F.now && q->count > 0, "queue timer armed in the past or with nobody waiting");
    F.queue_timer = (fake_timer){1, at_ms, ++F.seq};
    F.queue_armed_in_view = F.view_forced;
}

static void host_disarm_queue(void *self, lock_queue *q) {
    (void)self;
    FUZZ_CHECK(q == &F.q, "disarm of another queue");
    F.queue_timer.armed = 0;
}

static void host_arm_waiter(void *self, lock_waiter *w, int64_t at_ms) {
    (void)self;
    client *c = w->handle;
    FUZZ_CHECK(c->w == w && queued(w), "timer armed for waiter %d, which is not queued", id_of(w));
    FUZZ_CHECK(at_ms >= F.now, "waiter %d's timer armed in the past", id_of(w));
    c->timer = (fake_timer){1, at_ms, ++F.seq};
}

static void host_disarm_waiter(void *self, lock_waiter *w) {
    (void)self;
    ((client *)w->handle)->timer.armed = 0;
}

static void host_reply(void *self, lock_waiter *w, lock_wait_outcome outcome, uint64_t token) {
    (void)self;
    client *c = w->handle;
    int id = id_of(w);
    FUZZ_CHECK(c->w == w && c->replies == 0 && !c->left, "waiter %d answered twice or after leaving", id);
    FUZZ_CHECK(!queued(w), "waiter %d answered while queued", id);
    FUZZ_CHECK(!c->timer.armed, "waiter %d answered with its timer armed", id);
    FUZZ_CHECK(outcome >= LOCK_WAIT_GRANTED && outcome <= LOCK_WAIT_MOVED, "outcome %d", (int)outcome);
    if (outcome == LOCK_WAIT_GRANTED)
        FUZZ_CHECK(token != 0 && token == F.token && lock_holder() == id && F.now <= c->deadline_ms,
                   "waiter %d granted a token it does not hold", id);
    else
        FUZZ_CHECK(token == 0, "a token with outcome %d", (int)outcome);
    if (outcome == LOCK_WAIT_TIMED_OUT) FUZZ_CHECK(F.now > c->deadline_ms, "waiter %d timed out early", id);
    if (outcome == LOCK_WAIT_MOVED) FUZZ_CHECK(F.view_forced && F.forced_view == LOCK_VIEW_MOVED, "MOVED unasked");
    c->replies++;
    c->outcome = outcome;
    c->token = token;
    c->w = NULL;
}

static const lock_wait_host H = {.self = &F, .grant = host_grant, .revoke = host_revoke,
                                  .arm_queue = host_arm_queue, .disarm_queue = host_disarm_queue,
                                  .arm_waiter = host_arm_waiter, .disarm_waiter = host_disarm_waiter,
                                  .reply = host_reply};

/* ==== operations ================================================================================= */
static int new_client(void) {
    int id = F.clients++;
    memset(&F.c[id], 0, sizeof(F.c[id]));
    return id;
}

static lock_view view_at_key(int64_t *lease_end) {
    if (F.view_forced) return F.forced_view;
    if (lock_holder() != NOBODY) {
        *lease_end = F.lease_end;
        return LOCK_VIEW_HELD;
    }
    return LOCK_VIEW_FREE;
}

static void acquire(int64_t timeout, int64_t ttl) {
    if (F.clients == MAX_CLIENTS) return;
    if (lock_holder() == NOBODY && F.q.count > 0 && !F.view_forced) lock_wait_hand_over(&H, &F.q, F.now);
    int id = new_client();
    client *c = &F.c[id];
    if (lock_holder() != NOBODY || F.view_forced) {
        char owner[16];
        int len = snprintf(owner, sizeof(owner), "c%d", id);
        lock_waiter *w = lock_waiter_new(owner, (size_t)len, ttl, 0, c);
        FUZZ_CHECK(w != NULL, "out of memory");
        c->w = w;
        c->waited = 1;
        c->deadline_ms = lock_time_add(F.now, timeout);
        int64_t lease_end = lock_holder() != NOBODY ? F.lease_end : F.now;
        lock_wait_enqueue(&H, &F.q, w, F.now, timeout, lease_end);
        FUZZ_CHECK(w->deadline_ms == c->deadline_ms, "the waiter's deadline is not now + timeout");
    } else if (F.refuse_grants > 0) {
        F.refuse_grants--;
    } else {
        F.holder = id;
        F.token = ++F.last_token;
        F.lease_end = lock_time_add(F.now, ttl);
    }
}

/* LOCK.RELEASE by the holder; not served while a view is forced (no writes, or not this node's key). */
static void release(void) {
    if (lock_holder() == NOBODY || F.view_forced) return;
    F.holder = NOBODY;
    if (F.q.count > 0) lock_wait_hand_over(&H, &F.q, F.now);
}

enum { QUEUE_TIMER = -1, NO_TIMER = -2 };

/* The armed timer due first (at <= until), ties in arming order; NO_TIMER when none. */
static int next_timer(int64_t until) {
    int best = NO_TIMER;
    const fake_timer *bt = NULL;
    if (F.queue_timer.armed && F.queue_timer.at <= until) best = QUEUE_TIMER, bt = &F.queue_timer;
    for (int i = 0; i < F.clients; i++) {
        const fake_timer *t = &F.c[i].timer;
        if (t->armed && t->at <= until && (bt == NULL || t->at < bt->at || (t->at == bt->at && t->seq < bt->seq)))
            best = i, bt = t;
    }
    return best;
}

static void fire(int timer) {
    if (timer == QUEUE_TIMER) {
        F.queue_timer.armed = 0;
        int64_t lease_end = 0;
        lock_view view = view_at_key(&lease_end);
        lock_wait_queue_due(&H, &F.q, F.now, view, lease_end);
    } else {
        client *c = &F.c[timer];
        c->timer.armed = 0;
        FUZZ_CHECK(c->w != NULL, "the timer of client %d fired after its end", timer);
        lock_wait_waiter_due(&H, &F.q, c->w, F.now);
    }
}

static void fire_due(void) {
    for (int rounds = 0; rounds < 4 * MAX_CLIENTS + 16; rounds++) {
        int t = next_timer(F.now);
        if (t == NO_TIMER) return;
        fire(t);
    }
    /* Each firing either ends a waiter or re-arms later than now, except views that look again
     * after a delay; a few hundred rounds settle any queue here. */
}

static int random_waiter(fuzz_input *in) {
    if (F.q.count == 0) return NOBODY;
    size_t k = fuzz_take_u8(in) % F.q.count;
    lock_waiter *w = F.q.head;
    while (k-- > 0) w = w->next;
    return id_of(w);
}

static void leave(int id) {
    client *c = &F.c[id];
    c->left = 1;
    lock_waiter *w = c->w;
    c->w = NULL;
    lock_wait_leave(&H, &F.q, w);
    FUZZ_CHECK(!c->timer.armed, "a waiter left with its timer armed");
}

static int64_t take_duration(fuzz_input *in) {
    uint8_t k = fuzz_take_u8(in);
    switch (k % 8) {
    case 0: return INT64_MAX;
    case 1: return LOCK_MAX_TTL_MS;
    case 2: return 0;
    case 3: return (int64_t)fuzz_take_u16(in);
    default: return 1 + k % 20;
    }
}

static void check_queue(void) {
    size_t n = 0;
    int last = -1;
    for (lock_waiter *w = F.q.head; w != NULL; w = w->next, n++) {
        FUZZ_CHECK(n <= (size_t)F.clients, "the queue loops");
        const client *c = w->handle;
        int id = id_of(w);
        FUZZ_CHECK(id >= 0 && id < F.clients && c->w == w && c->replies == 0 && !c->left, "waiter %d queued after its end", id);
        FUZZ_CHECK(id > last, "waiter %d queued behind %d, who came later", id, last);
        FUZZ_CHECK(w->next == NULL ? F.q.tail == w : w->next->prev == w, "broken links");
        FUZZ_CHECK(c->timer.armed && c->timer.at == lock_time_add(c->deadline_ms, 1),
                   "waiter %d's timer is not armed at the end of its WAIT", id);
        last = id;
    }
    FUZZ_CHECK(n == F.q.count, "the queue counts %zu and links %zu", F.q.count, n);
    size_t waiting = 0;
    for (int i = 0; i < F.clients; i++) {
        const client *c = &F.c[i];
        FUZZ_CHECK(c->replies <= 1, "client %d got %d replies", i, c->replies);
        if (c->w != NULL) waiting++;
        else FUZZ_CHECK(!c->timer.armed, "client %d no longer waits, its timer is armed", i);
    }
    FUZZ_CHECK(waiting == n, "%zu clients wait, %zu queued", waiting, n);
    if (!(F.view_forced && F.forced_view == LOCK_VIEW_REPLICA))
        FUZZ_CHECK(n > 0 ? F.queue_timer.armed : !F.queue_timer.armed, "%zu waiting, queue timer armed %d", n,
                   F.queue_timer.armed);
    else
        FUZZ_CHECK(n > 0 || !F.queue_timer.armed, "queue timer armed with nobody waiting");
    FUZZ_CHECK(F.q.armed == F.queue_timer.armed && (!F.q.armed || F.q.armed_at == F.queue_timer.at),
               "the queue's record of its timer differs from the host's");
    /* (A timer armed while a view was forced follows that view's recheck period instead.) */
    if (n > 0 && lock_holder() != NOBODY && !F.view_forced && !F.queue_armed_in_view)
        FUZZ_CHECK(F.queue_timer.at <= lock_time_add(F.lease_end, 1), "queue turn after the lease ends");
    if (F.holder != NOBODY && F.c[F.holder].waited)
        FUZZ_CHECK(F.c[F.holder].outcome == LOCK_WAIT_GRANTED && F.c[F.holder].token == F.token,
                   "client %d holds a token it was not granted", F.holder);
}

static void fuzz_waiting(fuzz_input *in) {
    memset(&F, 0, sizeof(F));
    F.holder = NOBODY;
    F.now = (fuzz_take_u8(in) & 1) ? START_MS : fuzz_take_i64_edgy(in);
    if (F.now < 0) F.now = 0;
    while (!fuzz_input_done(in)) {
        uint8_t op = fuzz_take_u8(in);
        switch (op % 12) {
        case 0:
        case 1: {
            int64_t timeout = take_duration(in);
            acquire(timeout, take_duration(in));
            break;
        }
        case 2: release(); break;
        case 3: F.now = lock_time_add(F.now, fuzz_take_u8(in) % 8); break;
        case 4: F.now = lock_time_add(F.now, take_duration(in)); break;
        case 5: {
            fire_due();
            /* Liveness: the lock is free and every due timer fired, so nobody waits, or (a waiter
             * queued while a forced view kept the lock from it) the queue looks again soon. */
            if (!F.view_forced && lock_holder() == NOBODY)
                FUZZ_CHECK(F.q.count == 0 || (F.queue_timer.armed && F.queue_timer.at > F.now &&
                                              F.queue_timer.at <= lock_time_add(F.now, LOCK_RECHECK_OTHER_MS)),
                           "the lock is free after every due timer fired and %zu still wait (queue timer %d at %lld, now %lld, armed in a view %d)", F.q.count, F.queue_timer.armed, (long long)F.queue_timer.at, (long long)F.now, F.queue_armed_in_view);
            break;
        }
        case 6: { /* a timer fires early (bounded periods) or late */
            int t = next_timer(INT64_MAX);
            if (t != NO_TIMER) fire(t);
            break;
        }
        case 7: {
            int id = random_waiter(in);
            if (id != NOBODY) leave(id);
            break;
        }
        case 8: /* deleted elsewhere (DEL, FLUSHALL) */
            F.holder = NOBODY;
            lock_wait_look_again(&H, &F.q, F.now);
            break;
        case 9: {
            int id = F.clients ? fuzz_take_u8(in) % F.clients : NOBODY;
            if (id == NOBODY) break;
            client *c = &F.c[id];
            if (!c->waited || c->outcome != LOCK_WAIT_GRANTED || c->undelivered) break;
            c->undelivered = 1;
            int64_t lease_end = 0;
            lock_view view = view_at_key(&lease_end);
            uint64_t held = lock_holder() != NOBODY ? F.token : 0;
            int was_holder = lock_holder() == id;
            int revoked = lock_wait_grant_undelivered(&H, F.q.count ? &F.q : NULL, F.now, c->token, view, held);
            FUZZ_CHECK(revoked == (view == LOCK_VIEW_HELD && was_holder), "undelivered grant revoked: %d", revoked);
            break;
        }
        case 10: {
            uint8_t v = fuzz_take_u8(in);
            /* A replica's queue is not armed again when its timer fires; when the node turns
             * master, the host looks at every queue again. */
            int was_replica = F.view_forced && F.forced_view == LOCK_VIEW_REPLICA;
            F.view_forced = v % 6 != 0;
            static const lock_view views[] = {LOCK_VIEW_MOVED, LOCK_VIEW_OTHER, LOCK_VIEW_PAUSED, LOCK_VIEW_REPLICA,
                                              LOCK_VIEW_FREE};
            F.forced_view = views[(v / 6) % 5];
            if (F.forced_view == LOCK_VIEW_FREE) F.view_forced = 0;
            if (was_replica && !(F.view_forced && F.forced_view == LOCK_VIEW_REPLICA))
                lock_wait_look_again(&H, &F.q, F.now);
            break;
        }
        default: F.refuse_grants = 1 + fuzz_take_u8(in) % 2; break;
        }
        check_queue();
    }
    while (F.q.head != NULL) leave(id_of(F.q.head));
    check_queue();
    FUZZ_CHECK(!F.queue_timer.armed, "the queue's timer is armed with nobody waiting");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_alloc_install();
    fuzz_alloc_fail_after(-1);
    fuzz_input in;
    fuzz_input_init(&in, data, size);
    if (fuzz_take_u8(&in) & 1) fuzz_records(&in);
    else fuzz_waiting(&in);
    FUZZ_CHECK(fuzz_alloc_live() == 0, "%ld blocks of the cores' allocator leaked", fuzz_alloc_live());
    return 0;
}
