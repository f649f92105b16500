/* decimal.h -- unsigned integers as decimal text, for arguments replicated on hot paths.
 *
 * snprintf("%llu") costs ~900 instructions a number under callgrind (locale, format parsing); a
 * grant replicates two or three numbers, which made formatting a quarter of LOCK.ACQUIRE. This
 * costs a few dozen a number. Pure C, no Redis header: unit-tested in tests/unit/test_decimal.c. */
#ifndef SG_DECIMAL_H
#define SG_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

#define SG_DECIMAL_SIZE 21 /* 20 digits of UINT64_MAX and the NUL */

/* Writes the digits of `value` and a NUL to `out`; returns the number of digits. Two digits per
 * division, from the right, into a scratch buffer; then one copy. */
static inline size_t sg_format_decimal(char out[SG_DECIMAL_SIZE], uint64_t value) {
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char scratch[SG_DECIMAL_SIZE];
    size_t at = sizeof(scratch);
    while (value >= 100) {
        unsigned pair = (unsigned)(value % 100) * 2;
        value /= 100;
        scratch[--at] = pairs[pair + 1];
        scratch[--at] = pairs[pair];
    }
    if (value >= 10) {
        scratch[--at] = pairs[value * 2 + 1];
        scratch[--at] = pairs[value * 2];
    } else {
        scratch[--at] = (char)('0' + value);
    }
    size_t len = sizeof(scratch) - at;
    for (size_t i = 0; i < len; i++) out[i] = scratch[at + i];
    out[len] = '\0';
    return len;
}

#endif
