/* lock.h -- the lock core of SlotGuard: the record a lock key holds, the fencing-token clock and
 * the FIFO queue of waiters. Plain C, no Redis header; memory through the cores' allocator hook
 * (core_alloc.h), tokens from token_clock.h, so the core is unit-tested alone. */
#ifndef SG_LOCK_H
#define SG_LOCK_H

#include <stddef.h>
#include <stdint.h>

#include "token_clock.h"

#define LOCK_MAX_OWNER_LEN 512
#define LOCK_MAX_TTL_MS 1000000000000LL /* 10^12 ms, about 31 years */
#define LOCK_ENCODING_VERSION 1

/* ---- the value of a lock key --------------------------------------------------------------- */
typedef struct lock_record {
    uint64_t token;
    int64_t deadline_ms; /* absolute Unix time the lease ends (mirrors the key's expiry) */
    uint32_t holds;      /* >= 1; above 1 only for REENTRANT acquisitions */
    uint32_t owner_len;
    char owner[];
} lock_record;

/* NULL when out of memory or the owner length is invalid. */
lock_record *lock_record_new(const char *owner, size_t len, uint64_t token, int64_t deadline_ms, uint32_t holds);
void lock_record_free(lock_record *r);
lock_record *lock_record_copy(const lock_record *r);
int lock_record_is_owner(const lock_record *r, const char *owner, size_t len);
size_t lock_record_size(const lock_record *r);
/* 1 when the fields could belong to a lock (owner length, token >= 1, holds >= 1). */
int lock_record_valid_fields(size_t owner_len, uint64_t token, uint64_t holds);

/* ---- what an acquisition does ---------------------------------------------------------------- */
typedef enum lock_acquire_outcome {
    LOCK_GRANT,     /* free (and nobody queued): grant with a new token */
    LOCK_REFRESH,   /* the caller holds it: same token, lease refreshed */
    LOCK_REENTER,   /* the caller holds it and asked REENTRANT: one more hold, lease refreshed */
    LOCK_BUSY,      /* someone else holds it, or waiters are queued ahead of the caller */
} lock_acquire_outcome;

/* `held` is NULL when the lock is free. `queued` is the number of waiters ahead of the caller. */
lock_acquire_outcome lock_decide_acquire(const lock_record *held, const char *owner, size_t len, int reentrant,
                                         size_t queued);

/* ---- the FIFO of waiters ----------------------------------------------------------------------- */
typedef struct lock_waiter {
    struct lock_waiter *prev, *next;
    void *handle;        /* the host's blocked-client handle */
    void *home;          /* the host's record of the queue the waiter is in */
    uint64_t timer;      /* the host's timer for the waiter's deadline (the host's to use) */
    int64_t deadline_ms; /* the last millisecond it waits (WAIT timeout from its arrival) */
    int64_t ttl_ms;      /* lease to grant */
    int reentrant;
    uint32_t owner_len;
    char owner[];
} lock_waiter;

typedef struct lock_queue {
    lock_waiter *head, *tail;
    size_t count;
    int armed;          /* the queue's timer is armed ... */
    int64_t armed_at;   /* ... to fire at (or, the host's periods being bounded, before) this ms */
    uint64_t timer;     /* the host's timer for the queue (the host's to use) */
} lock_queue;

lock_waiter *lock_waiter_new(const char *owner, size_t len, int64_t ttl_ms, int reentrant, void *handle);
void lock_waiter_free(lock_waiter *w);
void lock_queue_push(lock_queue *q, lock_waiter *w);
/* Unlink a waiter that is in the queue (O(1)). */
void lock_queue_remove(lock_queue *q, lock_waiter *w);
/* Unlink and return the head, or NULL. */
lock_waiter *lock_queue_pop(lock_queue *q);

/* ---- waiting: the state machine of one lock's waiters ------------------------------------------
 * A waiter (LOCK.ACQUIRE ... WAIT) ends in exactly one outcome, sent through the host's `reply`
 * once: granted (its token), timed out (nil), no token (error), moved (TRYAGAIN). Waiters are
 * granted in arrival order; nobody is granted after the last millisecond of its WAIT; a lease
 * holds through its last millisecond (a key with expiry E exists while now <= E).
 *
 * The core decides, the host acts: it writes the lock, arms and disarms timers, and replies. Times
 * are Unix milliseconds that the host reads once per event and passes in; the core has no clock.
 * A timer armed "at T" may fire before T (hosts bound their timer periods): the core then arms
 * it again. Every deadline up to INT64_MAX is handled without overflow. */
typedef enum lock_wait_outcome {
    LOCK_WAIT_GRANTED = 1, /* the waiter holds the lock now: reply its token */
    LOCK_WAIT_TIMED_OUT,   /* its WAIT ended first: reply nil */
    LOCK_WAIT_NO_TOKEN,    /* the token clock is exhausted: reply the error */
    LOCK_WAIT_MOVED,       /* the lock's key is not this node's to write any more: reply TRYAGAIN */
} lock_wait_outcome;

/* What the host finds when the queue's timer fires. */
typedef enum lock_view {
    LOCK_VIEW_FREE,    /* no lock at the key, and this node may write it */
    LOCK_VIEW_HELD,    /* a lock holds the key through lease_end_ms */
    LOCK_VIEW_OTHER,   /* the key holds a value of another type */
    LOCK_VIEW_PAUSED,  /* writes must wait (CLIENT PAUSE WRITE, failover, cluster down) */
    LOCK_VIEW_MOVED,   /* the key's slot is served, or being taken over, by another node */
    LOCK_VIEW_REPLICA, /* this node is a replica: it writes nothing */
} lock_view;

#define LOCK_RECHECK_OTHER_MS 1000 /* a key of another type: look again after this */
#define LOCK_RECHECK_PAUSED_MS 10  /* writes paused: look again after this */

typedef struct lock_wait_host {
    void *self;
    /* Write a fresh lock for w with a lease of w->ttl_ms from now_ms; its token, or 0 when no token
     * can be issued (then nothing was written). */
    uint64_t (*grant)(void *self, lock_queue *q, const lock_waiter *w, int64_t now_ms);
    /* Delete the lock at the key (a grant whose reply never reached its client). */
    void (*revoke)(void *self);
    /* Arm (replacing an armed one) or disarm the queue's timer / a waiter's timer. */
    void (*arm_queue)(void *self, lock_queue *q, int64_t at_ms);
    void (*disarm_queue)(void *self, lock_queue *q);
    void (*arm_waiter)(void *self, lock_waiter *w, int64_t at_ms);
    void (*disarm_waiter)(void *self, lock_waiter *w);
    /* Send w its one reply. w is already out of the queue and is freed by the core afterwards. */
    void (*reply)(void *self, lock_waiter *w, lock_wait_outcome outcome, uint64_t token);
} lock_wait_host;

/* a + b for a lease or deadline (b >= 0), stopping at INT64_MAX. */
int64_t lock_time_add(int64_t a, int64_t b);

/* Queue w, arrived at now_ms with a WAIT of timeout_ms, behind the waiters already there; the lock
 * is held through lease_end_ms. */
void lock_wait_enqueue(const lock_wait_host *h, lock_queue *q, lock_waiter *w, int64_t now_ms, int64_t timeout_ms,
                       int64_t lease_end_ms);
/* The lock is free and this node may write it (a command found it so, or freed it): waiters whose
 * WAIT has ended get nil, the first one still waiting is granted. Returns the token granted, 0 when
 * nobody was (the queue is empty then). */
uint64_t lock_wait_hand_over(const lock_wait_host *h, lock_queue *q, int64_t now_ms);
/* The queue's timer fired; `view` is what the host sees at the key (lease_end_ms when HELD). */
void lock_wait_queue_due(const lock_wait_host *h, lock_queue *q, int64_t now_ms, lock_view view,
                         int64_t lease_end_ms);
/* A waiter's timer fired. */
void lock_wait_waiter_due(const lock_wait_host *h, lock_queue *q, lock_waiter *w, int64_t now_ms);
/* The waiter's client went away (disconnected, unblocked by the server): it leaves without a reply. */
void lock_wait_leave(const lock_wait_host *h, lock_queue *q, lock_waiter *w);
/* The lock may have been freed outside the lock commands (DEL, FLUSHALL, migration): look at it on
 * the next timer turn. */
void lock_wait_look_again(const lock_wait_host *h, lock_queue *q, int64_t now_ms);
/* The reply of a grant with `granted_token` never reached its client (it went away between the
 * grant and the reply). When the key still holds that grant (view HELD with `held_token`), it is
 * revoked, and the queue looks again at once (its next waiter in time gets the lock). q is NULL
 * when nobody waits. Returns 1 when
 * it was revoked. */
int lock_wait_grant_undelivered(const lock_wait_host *h, lock_queue *q, int64_t now_ms, uint64_t granted_token,
                                lock_view view, uint64_t held_token);

#endif
