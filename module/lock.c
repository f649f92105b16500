/* lock.c -- the lock core: see lock.h. */
#include "lock.h"

#include <stdlib.h>
#include <string.h>

static void *libc_alloc(size_t size) { return malloc(size); }
static void *libc_realloc(void *ptr, size_t size) { return realloc(ptr, size); }
static void libc_free(void *ptr) { free(ptr); }

static trial_allocator allocator = {libc_alloc, libc_realloc, libc_free, NULL};

void lock_set_allocator(const trial_allocator *a) { allocator = *a; }

/* ---- records --------------------------------------------------------------------------------- */
int lock_record_valid_fields(size_t owner_len, uint64_t token, uint64_t holds) {
    return owner_len > 0 && owner_len <= LOCK_MAX_OWNER_LEN && token >= 1 && token <= LOCK_MAX_TOKEN &&
           holds >= 1 && holds <= UINT32_MAX;
}

lock_record *lock_record_new(const char *owner, size_t len, uint64_t token, int64_t deadline_ms, uint32_t holds) {
    if (!lock_record_valid_fields(len, token, holds)) return NULL;
    lock_record *r = allocator.alloc(offsetof(lock_record, owner) + len);
    if (r == NULL) return NULL;
    r->token = token;
    r->deadline_ms = deadline_ms;
    r->holds = holds;
    r->owner_len = (uint32_t)len;
    memcpy(r->owner, owner, len);
    return r;
}

void lock_record_free(lock_record *r) {
    if (r) allocator.free(r);
}

lock_record *lock_record_copy(const lock_record *r) {
    return lock_record_new(r->owner, r->owner_len, r->token, r->deadline_ms, r->holds);
}

int lock_record_is_owner(const lock_record *r, const char *owner, size_t len) {
    return r->owner_len == len && memcmp(r->owner, owner, len) == 0;
}

size_t lock_record_size(const lock_record *r) {
    size_t requested = offsetof(lock_record, owner) + r->owner_len;
    return allocator.usable_size ? allocator.usable_size((void *)r) : requested;
}

/* ---- decisions ------------------------------------------------------------------------------- */
lock_acquire_outcome lock_decide_acquire(const lock_record *held, const char *owner, size_t len, int reentrant,
                                         size_t queued) {
    if (held == NULL) return queued == 0 ? LOCK_GRANT : LOCK_BUSY;
    if (!lock_record_is_owner(held, owner, len)) return LOCK_BUSY;
    return reentrant && held->holds < UINT32_MAX ? LOCK_REENTER : LOCK_REFRESH;
}

/* ---- tokens ---------------------------------------------------------------------------------- */
uint64_t lock_token_next(lock_token_clock *clock, uint64_t now_us) {
    if (clock->last >= LOCK_MAX_TOKEN) return 0;
    uint64_t next = clock->last + 1;
    if (now_us > next) next = now_us;
    if (next > LOCK_MAX_TOKEN) next = LOCK_MAX_TOKEN;
    clock->last = next;
    return next;
}

void lock_token_observe(lock_token_clock *clock, uint64_t token) {
    if (token > clock->last) clock->last = token;
}

/* ---- waiters --------------------------------------------------------------------------------- */
lock_waiter *lock_waiter_new(const char *owner, size_t len, int64_t ttl_ms, int reentrant, void *handle) {
    lock_waiter *w = allocator.alloc(offsetof(lock_waiter, owner) + len);
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
    if (w) allocator.free(w);
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
