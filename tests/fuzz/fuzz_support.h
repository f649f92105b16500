/* fuzz_support.h -- what every libFuzzer harness of tests/fuzz/ shares: reading typed values from
 * the fuzz input, a checked-invariant macro that aborts (libFuzzer saves the input), and an
 * allocator for the pure cores that counts live blocks and can be told to fail.
 *
 * The input reader never fails: once the input is used up every value reads as 0 and every byte
 * string as empty, so a harness can keep taking values and stop when fuzz_input_done() says so. */
#ifndef SG_FUZZ_SUPPORT_H
#define SG_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* ---- checks ---------------------------------------------------------------------------------- */
/* Print where and what, then abort(): the input is a crash for libFuzzer. */
void fuzz_fail(const char *file, int line, const char *format, ...) __attribute__((format(printf, 3, 4), noreturn));
#define FUZZ_CHECK(cond, ...)                                  \
    do {                                                       \
        if (!(cond)) fuzz_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

/* ---- the input ------------------------------------------------------------------------------- */
typedef struct fuzz_input {
    const uint8_t *data;
    size_t len;
    size_t pos;
} fuzz_input;

void fuzz_input_init(fuzz_input *in, const uint8_t *data, size_t len);
int fuzz_input_done(const fuzz_input *in);
size_t fuzz_input_left(const fuzz_input *in);

uint8_t fuzz_take_u8(fuzz_input *in);
uint16_t fuzz_take_u16(fuzz_input *in); /* little-endian */
uint32_t fuzz_take_u32(fuzz_input *in);
uint64_t fuzz_take_u64(fuzz_input *in);
/* A value in [lo, hi] (hi >= lo), from as few bytes as the range needs. */
uint64_t fuzz_take_range(fuzz_input *in, uint64_t lo, uint64_t hi);
/* A signed 64-bit value biased towards the edges: one selector byte picks 0, +-1, INT64_MIN/MAX
 * and their neighbours, a small value, a power of two +-1, or 8 raw bytes. */
int64_t fuzz_take_i64_edgy(fuzz_input *in);
/* A byte string of 0..max bytes (a length byte, or two when max > 255), pointing into the input;
 * shorter when the input ends. */
size_t fuzz_take_bytes(fuzz_input *in, size_t max, const uint8_t **bytes);

/* ---- the cores' allocator ---------------------------------------------------------------------- */
/* Install the counting allocator (core_set_allocator); idempotent. */
void fuzz_alloc_install(void);
/* Let `n` more allocations succeed, then fail every one (realloc too); -1: never fail. */
void fuzz_alloc_fail_after(long n);
/* Blocks allocated through the hook and not freed yet. */
long fuzz_alloc_live(void);

#endif
