/* fuzz_support.c -- the input reader, checks and counting allocator of fuzz_support.h. */
#include "fuzz_support.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core_alloc.h"

void fuzz_fail(const char *file, int line, const char *format, ...) {
    va_list ap;
    fprintf(stderr, "\n==fuzz== invariant broken at %s:%d: ", file, line);
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* ---- the input ------------------------------------------------------------------------------- */
void fuzz_input_init(fuzz_input *in, const uint8_t *data, size_t len) {
    in->data = data;
    in->len = len;
    in->pos = 0;
}

int fuzz_input_done(const fuzz_input *in) { return in->pos >= in->len; }

size_t fuzz_input_left(const fuzz_input *in) { return in->len - in->pos; }

uint8_t fuzz_take_u8(fuzz_input *in) { return in->pos < in->len ? in->data[in->pos++] : 0; }

static uint64_t take_le(fuzz_input *in, int bytes) {
    uint64_t value = 0;
    for (int i = 0; i < bytes; i++) value |= (uint64_t)fuzz_take_u8(in) << (8 * i);
    return value;
}

uint16_t fuzz_take_u16(fuzz_input *in) { return (uint16_t)take_le(in, 2); }
uint32_t fuzz_take_u32(fuzz_input *in) { return (uint32_t)take_le(in, 4); }
uint64_t fuzz_take_u64(fuzz_input *in) { return take_le(in, 8); }

uint64_t fuzz_take_range(fuzz_input *in, uint64_t lo, uint64_t hi) {
    uint64_t span = hi - lo;
    if (span == UINT64_MAX) return fuzz_take_u64(in);
    int bytes = 0;
    for (uint64_t s = span; s > 0; s >>= 8) bytes++;
    return lo + take_le(in, bytes) % (span + 1);
}

int64_t fuzz_take_i64_edgy(fuzz_input *in) {
    uint8_t selector = fuzz_take_u8(in);
    switch (selector % 16) {
    case 0: return 0;
    case 1: return 1;
    case 2: return -1;
    case 3: return INT64_MAX;
    case 4: return INT64_MAX - (int64_t)(selector >> 4);
    case 5: return INT64_MIN;
    case 6: return INT64_MIN + (int64_t)(selector >> 4);
    case 7: return (int64_t)fuzz_take_u8(in);
    case 8: return -(int64_t)fuzz_take_u8(in);
    case 9: return (int64_t)fuzz_take_u16(in);
    case 10: { /* 2^k + d, d in [-2, 2] */
        int k = fuzz_take_u8(in) % 63;
        return ((int64_t)1 << k) + (int64_t)(selector >> 4) % 5 - 2;
    }
    case 11: return -((int64_t)1 << (fuzz_take_u8(in) % 63));
    case 12: return (int64_t)fuzz_take_u32(in);
    default: return (int64_t)fuzz_take_u64(in);
    }
}

size_t fuzz_take_bytes(fuzz_input *in, size_t max, const uint8_t **bytes) {
    size_t want = max > 255 ? fuzz_take_u16(in) : fuzz_take_u8(in);
    if (max < SIZE_MAX) want %= max + 1;
    size_t left = fuzz_input_left(in);
    if (want > left) want = left;
    *bytes = in->data + in->pos;
    in->pos += want;
    return want;
}

/* ---- the cores' allocator ---------------------------------------------------------------------- */
static long live_blocks;
static long allowed = -1;

static int may_allocate(void) {
    if (allowed < 0) return 1;
    if (allowed == 0) return 0;
    allowed--;
    return 1;
}

static void *counting_alloc(size_t size) {
    if (!may_allocate()) return NULL;
    void *p = malloc(size ? size : 1);
    if (p) live_blocks++;
    return p;
}

static void *counting_realloc(void *ptr, size_t size) {
    if (ptr == NULL) return counting_alloc(size);
    if (!may_allocate()) return NULL;
    return realloc(ptr, size ? size : 1);
}

static void counting_free(void *ptr) {
    if (ptr == NULL) return;
    live_blocks--;
    free(ptr);
}

static const core_allocator counting = {counting_alloc, counting_realloc, counting_free, NULL};

void fuzz_alloc_install(void) {
    static int installed;
    if (installed) return;
    core_set_allocator(&counting);
    installed = 1;
}

void fuzz_alloc_fail_after(long n) { allowed = n; }

long fuzz_alloc_live(void) { return live_blocks; }
