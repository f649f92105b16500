/* core_alloc.c -- the cores' allocator hook: see core_alloc.h. */
#include "core_alloc.h"

#include <stdlib.h>

static void *libc_alloc(size_t size) { return malloc(size); }
static void *libc_realloc(void *ptr, size_t size) { return realloc(ptr, size); }
static void libc_free(void *ptr) { free(ptr); }

core_allocator core_memory = {libc_alloc, libc_realloc, libc_free, NULL};
unsigned core_allocator_generation;

void core_set_allocator(const core_allocator *allocator) {
    core_memory = *allocator;
    core_allocator_generation++;
}
