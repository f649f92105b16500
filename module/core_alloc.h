/* core_alloc.h -- the one allocator hook every pure core allocates through.
 *
 * Plain C, no Redis header, no core: each core (trial.c, lock.c, idemp.c, ...) includes this and
 * nothing of another core. The module installs the RedisModule_Alloc family once at load; unit
 * tests install a counting allocator once in main(). Default: libc. */
#ifndef SG_CORE_ALLOC_H
#define SG_CORE_ALLOC_H

#include <stddef.h>

typedef struct core_allocator {
    void *(*alloc)(size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
    /* Bytes really taken by an allocation (allocator size class); NULL means "as requested".
     * Must depend only on the requested size (true of size-class allocators such as jemalloc):
     * the trial core learns it once per user-id length. */
    size_t (*usable_size)(void *ptr);
} core_allocator;

/* Replace the allocator of every core. Call before any core object exists. */
void core_set_allocator(const core_allocator *allocator);

/* The allocator in use, and how many times it was replaced (caches of block sizes compare it). */
extern core_allocator core_memory;
extern unsigned core_allocator_generation;

static inline void *core_alloc(size_t size) { return core_memory.alloc(size); }
static inline void *core_realloc(void *ptr, size_t size) { return core_memory.realloc(ptr, size); }
static inline void core_free(void *ptr) {
    if (ptr) core_memory.free(ptr);
}
/* Bytes `ptr` (asked for with `requested` bytes) really takes; 0 for NULL. */
static inline size_t core_block_size(void *ptr, size_t requested) {
    if (ptr == NULL) return 0;
    return core_memory.usable_size ? core_memory.usable_size(ptr) : requested;
}

#endif
