/* lock.c -- the lock core: see lock.h. */
#include "lock.h"

#include "core_alloc.h"

#include <string.h>

/* ---- records --------------------------------------------------------------------------------- */
int lock_record_valid_fields(size_t owner_len, uint64_t token, uint64_t holds) {
    return owner_len > 0 && owner_len <= LOCK_MAX_OWNER_LEN && token >= 1 && token <= TOKEN_MAX &&
           holds >= 1 && holds <= UINT32_MAX;
}

lock_record *lock_record_new(const char *owner, size_t len, uint64_t token, int64_t deadline_ms, uint32_t holds) {
    if (!lock_record_valid_fields(len, token, holds)) return NULL;
    lock_record *r = core_alloc(offsetof(lock_record, owner) + len);
    if (r == NULL) return NULL;
    r->token = token;
    r->deadline_ms = deadline_ms;
    r->holds = holds;
    r->owner_len = (uint32_t)len;
    memcpy(r->owner, owner, len);
    return r;
}

void lock_record_free(lock_record *r) {
    core_free(r);
}

lock_record *lock_record_copy(const lock_record *r) {
    return lock_record_new(r->owner, r->owner_len, r->token, r->deadline_ms, r->holds);
}

int lock_record_is_owner(const lock_record *r, const char *owner, size_t len) {
    return r->owner_len == len && memcmp(r->owner, owner, len) == 0;
}

size_t lock_record_size(const lock_record *r) {
    return core_block_size((void *)r, offsetof(lock_record, owner) + r->owner_len);
}

/* ---- decisions ------------------------------------------------------------------------------- */
lock_acquire_outcome lock_decide_acquire(const lock_record *held, const char *owner, size_t len, int reentrant,
                                         size_t queued) {
    if (held == NULL) return queued == 0 ? LOCK_GRANT : LOCK_BUSY;
    if (!lock_record_is_owner(held, owner, len)) return LOCK_BUSY;
    return reentrant && held->holds < UINT32_MAX ? LOCK_REENTER : LOCK_REFRESH;
}

/* ---- waiters --------------------------------------------------------------------------------- */
lock_waiter *lock_waiter_new(const char *owner, size_t len, int64_t ttl_ms, int reentrant, void *handle) {
    lock_waiter *w = core_alloc(offsetof(lock_waiter, owner) + len);
    if (w == NULL) return NULL;
    w->prev = w->next = NULL;
    w->handle = handle;
    w->home = NULL;
    w->timer = 0;
    w->deadline_ms = INT64_MAX;
    w->ttl_ms = ttl_ms;
    w->reentrant = reentrant;
    w->owner_len = (uint32_t)len;
    memcpy(w->owner, owner, len);
    return w;
}

void lock_waiter_free(lock_waiter *w) {
    core_free(w);
}

void lock_queue_push(lock_queue *q, lock_waiter *w) {
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail) q->tail->next = w;
    else q->head = w;
    q->tail = w;
    q->count++;
}

void lock_queue_remove(lock_queue *q, lock_waiter *w) {
    if (w->prev) w->prev->next = w->next;
    else q->head = w->next;
    if (w->next) w->next->prev = w->prev;
    else q->tail = w->prev;
    w->prev = w->next = NULL;
    q->count--;
}

lock_waiter *lock_queue_pop(lock_queue *q) {
    lock_waiter *w = q->head;
    if (w) lock_queue_remove(q, w);
    return w;
}

/* ---- waiting --------------------------------------------------------------------------------- */
int64_t lock_time_add(int64_t a, int64_t b) {
    if (b < 0) b = 0;
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Arm the queue's timer for `at_ms` unless it already fires by then. */
static void arm_queue_by(const lock_wait_host *h, lock_queue *q, int64_t at_ms) {
    if (q->armed && q->armed_at <= at_ms) return;
    q->armed = 1;
    q->armed_at = at_ms;
    h->arm_queue(h->self, q, at_ms);
}

static void arm_queue_at(const lock_wait_host *h, lock_queue *q, int64_t at_ms) {
    q->armed = 1;
    q->armed_at = at_ms;
    h->arm_queue(h->self, q, at_ms);
}

static void disarm_queue(const lock_wait_host *h, lock_queue *q) {
    if (!q->armed) return;
    q->armed = 0;
    h->disarm_queue(h->self, q);
}

/* Take w out of the queue and send its one reply; w is freed. */
static void finish(const lock_wait_host *h, lock_queue *q, lock_waiter *w, lock_wait_outcome outcome,
                   uint64_t token) {
    lock_queue_remove(q, w);
    h->disarm_waiter(h->self, w);
    h->reply(h->self, w, outcome, token);
    lock_waiter_free(w);
    if (q->count == 0) disarm_queue(h, q);
}

void lock_wait_enqueue(const lock_wait_host *h, lock_queue *q, lock_waiter *w, int64_t now_ms, int64_t timeout_ms,
                       int64_t lease_end_ms) {
    w->deadline_ms = lock_time_add(now_ms, timeout_ms);
    lock_queue_push(q, w);
    h->arm_waiter(h->self, w, lock_time_add(w->deadline_ms, 1));
    /* The lease holds through lease_end_ms: the lock can be free from the next millisecond. */
    int64_t free_at = lock_time_add(lease_end_ms, 1);
    arm_queue_by(h, q, free_at > now_ms ? free_at : lock_time_add(now_ms, 1));
}

uint64_t lock_wait_hand_over(const lock_wait_host *h, lock_queue *q, int64_t now_ms) {
    lock_waiter *w;
    while ((w = q->head) != NULL) {
        if (now_ms > w->deadline_ms) { /* its WAIT ended before its own timer could say so */
            finish(h, q, w, LOCK_WAIT_TIMED_OUT, 0);
            continue;
        }
        uint64_t token = h->grant(h->self, q, w, now_ms);
        if (token == 0) {
            finish(h, q, w, LOCK_WAIT_NO_TOKEN, 0);
            continue;
        }
        int64_t lease_end = lock_time_add(now_ms, w->ttl_ms);
        finish(h, q, w, LOCK_WAIT_GRANTED, token);
        if (q->count > 0) arm_queue_at(h, q, lock_time_add(lease_end, 1));
        return token;
    }
    disarm_queue(h, q);
    return 0;
}

void lock_wait_queue_due(const lock_wait_host *h, lock_queue *q, int64_t now_ms, lock_view view,
                         int64_t lease_end_ms) {
    q->armed = 0;
    if (q->count == 0) return;
    switch (view) {
    case LOCK_VIEW_FREE:
        lock_wait_hand_over(h, q, now_ms);
        return;
    case LOCK_VIEW_HELD: {
        int64_t free_at = lock_time_add(lease_end_ms, 1);
        arm_queue_at(h, q, free_at > now_ms ? free_at : lock_time_add(now_ms, 1));
        return;
    }
    case LOCK_VIEW_OTHER:
        arm_queue_at(h, q, lock_time_add(now_ms, LOCK_RECHECK_OTHER_MS));
        return;
    case LOCK_VIEW_PAUSED:
        arm_queue_at(h, q, lock_time_add(now_ms, LOCK_RECHECK_PAUSED_MS));
        return;
    case LOCK_VIEW_MOVED:
        while (q->head != NULL) finish(h, q, q->head, LOCK_WAIT_MOVED, 0);
        return;
    case LOCK_VIEW_REPLICA:
        /* A replica writes nothing; its waiters end at their own deadlines (Redis also answers
         * every blocked client when a master turns replica). */
        return;
    }
}

void lock_wait_waiter_due(const lock_wait_host *h, lock_queue *q, lock_waiter *w, int64_t now_ms) {
    if (now_ms > w->deadline_ms) finish(h, q, w, LOCK_WAIT_TIMED_OUT, 0);
    else h->arm_waiter(h->self, w, lock_time_add(w->deadline_ms, 1)); /* fired early: a bounded period */
}

void lock_wait_leave(const lock_wait_host *h, lock_queue *q, lock_waiter *w) {
    lock_queue_remove(q, w);
    h->disarm_waiter(h->self, w);
    lock_waiter_free(w);
    if (q->count == 0) disarm_queue(h, q);
}

void lock_wait_look_again(const lock_wait_host *h, lock_queue *q, int64_t now_ms) {
    if (q->count > 0) arm_queue_by(h, q, now_ms);
}

int lock_wait_grant_undelivered(const lock_wait_host *h, lock_queue *q, int64_t now_ms, uint64_t granted_token,
                                lock_view view, uint64_t held_token) {
    if (view != LOCK_VIEW_HELD || held_token != granted_token) return 0; /* released or replaced since */
    h->revoke(h->self);
    /* The next waiter gets it at the queue's next turn, where the host checks it may still write. */
    if (q != NULL) lock_wait_look_again(h, q, now_ms);
    return 1;
}
