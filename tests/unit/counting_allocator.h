/* counting_allocator.h -- the one allocator every unit binary installs for the cores (core_alloc.h).
 *
 * main() installs it with core_set_allocator(&counting_allocator) before any core object exists.
 * Each block carries a header (requested size, magic number) checked on every free and realloc, so
 * a pointer that did not come from it, or one freed twice, aborts the run. Without ASan a guard zone
 * follows every block and is checked on free and realloc: a write past the end is counted in
 * heap.corrupted and fails the test (under ASan the zone would hide the overflow, so it is off).
 * usable_size reports the requested size rounded up to 16 bytes, like a size-class allocator, so
 * the cores' memory accounting can be compared with what the allocator really holds.
 *
 * Requests above HUGE_REQUEST are refused (heap.refused_huge) instead of reaching malloc, and
 * fail_allocation(n) makes the n-th allocation from now fail once. record_heap and
 * expect_heap_balanced are cmocka setup/teardown functions: the teardown fails a test that leaves
 * a block live or wrote past a block (reported with cmocka's print_error). */
#ifndef SG_COUNTING_ALLOCATOR_H
#define SG_COUNTING_ALLOCATOR_H

#include <stddef.h>

#include "core_alloc.h"

/* Requests above this are refused instead of reaching malloc: a core that believed an absurd count
 * read from a stream would ask for it. */
#define HUGE_REQUEST ((size_t)1 << 30)

typedef struct heap_counters {
    size_t live_blocks;
    size_t live_bytes;   /* requested bytes of the live blocks */
    size_t live_usable;  /* usable_size() of the live blocks: what the allocator really holds */
    size_t allocations;  /* alloc calls that succeeded, ever */
    size_t frees;
    long fail_at;        /* -1: never fail; otherwise allocation calls to let through before one fails */
    size_t failures;     /* injected failures so far */
    size_t refused_huge; /* requests above HUGE_REQUEST */
    size_t corrupted;    /* blocks found written past their end */
} heap_counters;

extern heap_counters heap;

/* The live counters as record_heap() found them when the test started. */
extern size_t baseline_blocks;
extern size_t baseline_bytes;
extern size_t baseline_usable;

extern const core_allocator counting_allocator;

/* What usable_size reports for a block of `requested` bytes. */
size_t counting_size_class(size_t requested);

/* Make the allocation call `n` calls from now (0: the next one) fail, once. */
void fail_allocation(long n);
void stop_failing(void);

int record_heap(void **state);
int expect_heap_balanced(void **state);

/* Bytes the allocator holds (usable sizes) for blocks allocated since the test started. */
size_t bytes_in_use(void);

#endif
