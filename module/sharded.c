/* sharded.c -- the sharded-counter core: see sharded.h. */
#include "sharded.h"

int sharded_parse_value(const char *text, size_t len, int64_t *value) {
    /* The longest int64 in decimal is "-9223372036854775808", 20 bytes. */
    if (len == 0 || len > 20) return -1;
    if (len == 1 && text[0] == '0') {
        *value = 0;
        return 0;
    }
    size_t at = 0;
    int negative = text[0] == '-';
    if (negative) at++;
    if (at == len || text[at] < '1' || text[at] > '9') return -1; /* no leading zero, no "-0" */
    if (len - at > 19) return -1;                                  /* 20 digits are beyond int64 */
    uint64_t magnitude = 0;
    for (; at < len; at++) {
        unsigned digit = (unsigned)(unsigned char)text[at] - '0';
        if (digit > 9) return -1;
        magnitude = magnitude * 10 + digit; /* 19 digits cannot overflow uint64 */
        if (magnitude > (uint64_t)INT64_MAX + 1) return -1;
    }
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (magnitude > limit) return -1;
    *value = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
    return 0;
}

uint64_t sharded_rng_next(sharded_rng *rng) {
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

long sharded_pick(const int64_t *values, size_t n, uint64_t random) {
    size_t positive = 0;
    for (size_t i = 0; i < n; i++) positive += values[i] > 0;
    if (positive == 0) return -1;
    /* The modulo's bias is below positive / 2^64: far below anything a test could see. */
    size_t rank = (size_t)(random % positive);
    for (size_t i = 0; i < n; i++) {
        if (values[i] <= 0) continue;
        if (rank-- == 0) return (long)i;
    }
    return -1; /* not reached */
}

int64_t sharded_take(const int64_t *values, size_t n, int64_t count, uint64_t random, int64_t *taken) {
    for (size_t i = 0; i < n; i++) taken[i] = 0;
    long start = sharded_pick(values, n, random);
    if (start < 0 || count <= 0) return 0;
    int64_t left = count;
    for (size_t k = 0; k < n && left > 0; k++) {
        size_t i = ((size_t)start + k) % n;
        if (values[i] <= 0) continue;
        int64_t give = values[i] < left ? values[i] : left;
        taken[i] = give;
        left -= give;
    }
    return count - left;
}

int64_t sharded_share(int64_t total, size_t n, size_t i) {
    int64_t base = total / (int64_t)n, extra = total % (int64_t)n;
    return base + ((int64_t)i < extra ? 1 : 0);
}

int sharded_add(int64_t a, int64_t b, int64_t *out) {
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b)) return -1;
    *out = a + b;
    return 0;
}

