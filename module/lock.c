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
