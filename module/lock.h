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
    void *handle;      /* the glue's blocked-client handle */
    void *home;        /* the glue's record of the queue the waiter is in */
    int64_t ttl_ms;    /* lease to grant */
    int reentrant;
    uint32_t owner_len;
    char owner[];
} lock_waiter;

typedef struct lock_queue {
    lock_waiter *head, *tail;
    size_t count;
} lock_queue;

lock_waiter *lock_waiter_new(const char *owner, size_t len, int64_t ttl_ms, int reentrant, void *handle);
void lock_waiter_free(lock_waiter *w);
void lock_queue_push(lock_queue *q, lock_waiter *w);
/* Unlink a waiter that is in the queue (O(1)). */
void lock_queue_remove(lock_queue *q, lock_waiter *w);
/* Unlink and return the head, or NULL. */
lock_waiter *lock_queue_pop(lock_queue *q);

#endif
