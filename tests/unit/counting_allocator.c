/* counting_allocator.c -- the counting allocator of counting_allocator.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counting_allocator.h"

#define BLOCK_MAGIC 0x5107A110C8ED0B1EULL
#define GUARD_FILL 0xA5
/* Without ASan the guard zone catches writes past a block; under ASan it would hide them. A
 * variable, not a constant: with no guard zone the code handling it must still compile cleanly. */
#if defined(__SANITIZE_ADDRESS__)
static size_t guard_bytes = 0;
#else
static size_t guard_bytes = 32;
#endif

typedef union block_header {
    struct {
        size_t size;
        uint64_t magic;
    } h;
    max_align_t align;
} block_header;

heap_counters heap = {0, 0, 0, 0, 0, -1, 0, 0, 0};
size_t baseline_blocks;
size_t baseline_bytes;
size_t baseline_usable;

size_t counting_size_class(size_t requested) { return requested == 0 ? 16 : (requested + 15) & ~(size_t)15; }

static int injected_failure(void) {
    if (heap.fail_at < 0) return 0;
    if (heap.fail_at-- == 0) {
        heap.failures++;
        return 1;
    }
    return 0;
}

static void write_guard(block_header *b) {
    memset((unsigned char *)(b + 1) + b->h.size, GUARD_FILL, guard_bytes);
}

static block_header *header_of(void *ptr) {
    block_header *b = (block_header *)ptr - 1;
    if (b->h.magic != BLOCK_MAGIC) {
        fprintf(stderr, "counting allocator: %p was not allocated by it, or freed twice\n", ptr);
        abort();
    }
    const unsigned char *guard = (const unsigned char *)(b + 1) + b->h.size;
    for (size_t i = 0; i < guard_bytes; i++) {
        if (guard[i] != GUARD_FILL) {
            fprintf(stderr, "counting allocator: write past the end of a %zu-byte block\n", b->h.size);
            heap.corrupted++;
            write_guard(b);
            break;
        }
    }
    return b;
}

/* Whether a request may reach malloc: not while a failure is injected, not when it is huge. */
static int request_allowed(size_t size) {
    if (injected_failure()) return 0;
    if (size > HUGE_REQUEST) {
        heap.refused_huge++;
        return 0;
    }
    return 1;
}

static void *counting_alloc(size_t size) {
    if (!request_allowed(size)) return NULL;
    block_header *b = malloc(sizeof(*b) + size + guard_bytes);
    if (b == NULL) return NULL;
    b->h.size = size;
    b->h.magic = BLOCK_MAGIC;
    write_guard(b);
    heap.live_blocks++;
    heap.live_bytes += size;
    heap.live_usable += counting_size_class(size);
    heap.allocations++;
    return b + 1;
}

static void counting_free(void *ptr) {
    if (ptr == NULL) return;
    block_header *b = header_of(ptr);
    heap.live_blocks--;
    heap.live_bytes -= b->h.size;
    heap.live_usable -= counting_size_class(b->h.size);
    heap.frees++;
    b->h.magic = 0;
    free(b);
}

static void *counting_realloc(void *ptr, size_t size) {
    if (ptr == NULL) return counting_alloc(size);
    if (!request_allowed(size)) return NULL;
    block_header *b = header_of(ptr);
    size_t old = b->h.size;
    block_header *moved = realloc(b, sizeof(*moved) + size + guard_bytes);
    if (moved == NULL) return NULL;
    moved->h.size = size;
    write_guard(moved);
    heap.live_bytes = heap.live_bytes - old + size;
    heap.live_usable = heap.live_usable - counting_size_class(old) + counting_size_class(size);
    return moved + 1;
}

static size_t counting_usable_size(void *ptr) { return counting_size_class(header_of(ptr)->h.size); }

const core_allocator counting_allocator = {counting_alloc, counting_realloc, counting_free, counting_usable_size};

void fail_allocation(long n) {
    heap.fail_at = n;
    heap.failures = 0;
}

void stop_failing(void) { heap.fail_at = -1; }

int record_heap(void **state) {
    (void)state;
    stop_failing();
    heap.failures = 0;
    heap.refused_huge = 0;
    heap.corrupted = 0;
    baseline_blocks = heap.live_blocks;
    baseline_bytes = heap.live_bytes;
    baseline_usable = heap.live_usable;
    return 0;
}

int expect_heap_balanced(void **state) {
    (void)state;
    stop_failing();
    int rc = 0;
    if (heap.live_blocks != baseline_blocks || heap.live_bytes != baseline_bytes) {
        print_error("leak: %zu block(s), %zu byte(s) allocated through the core are still live\n",
                    heap.live_blocks - baseline_blocks, heap.live_bytes - baseline_bytes);
        rc = -1;
    }
    if (heap.corrupted != 0) {
        print_error("%zu block(s) were written past their end\n", heap.corrupted);
        rc = -1;
    }
    baseline_blocks = heap.live_blocks;
    baseline_bytes = heap.live_bytes;
    baseline_usable = heap.live_usable;
    return rc;
}

size_t bytes_in_use(void) { return heap.live_usable - baseline_usable; }
