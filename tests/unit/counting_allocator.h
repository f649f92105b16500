/* counting_allocator.h -- the allocator the unit tests install for the cores (core_alloc.h hooks).
 *
 * Included by one test file each (its functions are static): it counts live blocks and bytes, checks
 * every pointer it frees came from it (a magic number before the block), refuses requests above
 * HUGE_REQUEST instead of reaching malloc, and can make one chosen allocation fail. record_heap and
 * expect_heap_balanced are cmocka setup/teardown functions that fail a test which leaves blocks live;
 * include it after <cmocka.h>. */
#ifndef SG_COUNTING_ALLOCATOR_H
#define SG_COUNTING_ALLOCATOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core_alloc.h"

#define BLOCK_MAGIC 0x5107A110C8ED0B1EULL
/* Requests above this are refused (and counted) instead of reaching malloc. */
#define HUGE_REQUEST ((size_t)1 << 30)

typedef union block_header {
    struct {
        size_t size;
        uint64_t magic;
    } h;
    max_align_t align;
} block_header;

static struct {
    size_t live_blocks;
    size_t live_bytes;
    size_t allocations; /* alloc calls that succeeded, ever */
    size_t frees;
    long fail_at;       /* -1: never fail; otherwise allocation calls to let through before one fails */
    size_t failures;    /* injected failures so far */
    size_t refused_huge;
} heap = {0, 0, 0, 0, -1, 0, 0};

static inline int injected_failure(void) {
    if (heap.fail_at < 0) return 0;
    if (heap.fail_at-- == 0) {
        heap.failures++;
        return 1;
    }
    return 0;
}

static inline block_header *header_of(void *ptr) {
    block_header *b = (block_header *)ptr - 1;
    if (b->h.magic != BLOCK_MAGIC) {
        fprintf(stderr, "counting allocator: %p was not allocated by it, or freed twice\n", ptr);
        abort();
    }
    return b;
}

static inline void *counting_alloc(size_t size) {
    if (injected_failure()) return NULL;
    if (size > HUGE_REQUEST) {
        heap.refused_huge++;
        return NULL;
    }
    block_header *b = malloc(sizeof(*b) + size);
    if (b == NULL) return NULL;
    b->h.size = size;
    b->h.magic = BLOCK_MAGIC;
    heap.live_blocks++;
    heap.live_bytes += size;
    heap.allocations++;
    return b + 1;
}

static inline void counting_free(void *ptr) {
    if (ptr == NULL) return;
    block_header *b = header_of(ptr);
    heap.live_blocks--;
    heap.live_bytes -= b->h.size;
    heap.frees++;
    b->h.magic = 0;
    free(b);
}

static inline void *counting_realloc(void *ptr, size_t size) {
    if (ptr == NULL) return counting_alloc(size);
    if (injected_failure()) return NULL;
    if (size > HUGE_REQUEST) {
        heap.refused_huge++;
        return NULL;
    }
    block_header *b = header_of(ptr);
    size_t old = b->h.size;
    block_header *moved = realloc(b, sizeof(*moved) + size);
    if (moved == NULL) return NULL;
    moved->h.size = size;
    heap.live_bytes = heap.live_bytes - old + size;
    return moved + 1;
}

static inline size_t counting_usable_size(void *ptr) { return header_of(ptr)->h.size; }

static const core_allocator counting_allocator = {counting_alloc, counting_realloc, counting_free,
                                                   counting_usable_size};

/* Make the allocation call `n` calls from now (0: the next one) fail, once. */
static inline void fail_allocation(long n) {
    heap.fail_at = n;
    heap.failures = 0;
}

static inline void stop_failing(void) { heap.fail_at = -1; }

static size_t baseline_blocks;
static size_t baseline_bytes;

static inline int record_heap(void **state) {
    (void)state;
    stop_failing();
    heap.failures = 0;
    heap.refused_huge = 0;
    baseline_blocks = heap.live_blocks;
    baseline_bytes = heap.live_bytes;
    return 0;
}

static inline int expect_heap_balanced(void **state) {
    (void)state;
    stop_failing();
    if (heap.live_blocks != baseline_blocks || heap.live_bytes != baseline_bytes) {
        print_error("leak: %zu block(s), %zu byte(s) allocated through the core are still live\n",
                    heap.live_blocks - baseline_blocks, heap.live_bytes - baseline_bytes);
        return -1;
    }
    return 0;
}

/* Bytes allocated through the core since the test started. */
static inline size_t bytes_in_use(void) { return heap.live_bytes - baseline_bytes; }

#endif
