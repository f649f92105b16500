/* fuzz_sharded.c -- libFuzzer harness of the sharded-counter core (module/sharded.h).
 *
 * sharded_parse_value() on arbitrary text against a reference built on strtoll() and the grammar
 * Redis reads DECR's integers with (optional '-', no leading zero, no "-0", no spaces, within
 * int64); sharded_add() against 128-bit sums; sharded_pick() and sharded_take() on arrays of
 * extreme values (what is taken comes only from shards > 0, never below 0, starts at the shard
 * pick chooses, adds up to min(count, stock)); sharded_share() splits every total exactly. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "sharded.h"

#define MAX_SHARDS 24

static int reference_parse(const uint8_t *text, size_t len, int64_t *value) {
    char buf[32];
    if (len == 0 || len >= sizeof(buf)) return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (strlen(buf) != len) return -1; /* a NUL inside */
    size_t at = buf[0] == '-';
    if (at == len) return -1;
    for (size_t i = at; i < len; i++)
        if (buf[i] < '0' || buf[i] > '9') return -1;
    if (buf[at] == '0' && (len - at > 1 || at == 1)) return -1; /* leading zero, or "-0" */
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (errno == ERANGE || *end != '\0') return -1;
    *value = v;
    return 0;
}

static void fuzz_parse(fuzz_input *in) {
    const uint8_t *text;
    size_t len = fuzz_take_bytes(in, 24, &text);
    int64_t got = 7, want = 7;
    int rc = sharded_parse_value((const char *)text, len, &got);
    int ref = reference_parse(text, len, &want);
    FUZZ_CHECK(rc == ref, "sharded_parse_value(\"%.*s\") = %d, the reference %d", (int)len, (const char *)text, rc, ref);
    FUZZ_CHECK(got == want, "sharded_parse_value read %lld, the reference %lld", (long long)got, (long long)want);
}

static void fuzz_arithmetic(fuzz_input *in) {
    int64_t a = fuzz_take_i64_edgy(in), b = fuzz_take_i64_edgy(in), out = 7;
    __int128 sum = (__int128)a + b;
    int fits = sum >= INT64_MIN && sum <= INT64_MAX;
    int rc = sharded_add(a, b, &out);
    FUZZ_CHECK(rc == (fits ? 0 : -1), "sharded_add(%lld, %lld) = %d", (long long)a, (long long)b, rc);
    FUZZ_CHECK(out == (fits ? (int64_t)sum : 7), "sharded_add wrote %lld", (long long)out);

    int64_t total = fuzz_take_i64_edgy(in);
    if (total < 0) total = total == INT64_MIN ? INT64_MAX : -total;
    size_t n = 1 + fuzz_take_u8(in) % MAX_SHARDS;
    __int128 shares = 0;
    int64_t previous = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        int64_t s = sharded_share(total, n, i);
        FUZZ_CHECK(s >= 0 && s <= previous, "share %zu of %lld over %zu is %lld", i, (long long)total, n, (long long)s);
        FUZZ_CHECK(s == total / (int64_t)n || s == total / (int64_t)n + 1, "shares differ by more than one");
        previous = s;
        shares += s;
    }
    FUZZ_CHECK(shares == total, "the shares of %lld over %zu add up to another total", (long long)total, n);
}

static void fuzz_choose(fuzz_input *in) {
    int64_t values[MAX_SHARDS], taken[MAX_SHARDS];
    size_t n = fuzz_take_u8(in) % (MAX_SHARDS + 1);
    size_t positive = 0;
    __int128 stock = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t k = fuzz_take_u8(in);
        values[i] = k < 0x80 ? (int64_t)(k % 6) - 1 : fuzz_take_i64_edgy(in);
        if (values[i] > 0) positive++, stock += values[i];
    }
    uint64_t random = fuzz_take_u64(in);
    long pick = sharded_pick(values, n, random);
    if (positive == 0) {
        FUZZ_CHECK(pick == -1, "picked shard %ld with none > 0", pick);
    } else {
        size_t rank = (size_t)(random % positive), seen = 0;
        long want = -1;
        for (size_t i = 0; i < n && want < 0; i++)
            if (values[i] > 0 && seen++ == rank) want = (long)i;
        FUZZ_CHECK(pick == want, "picked shard %ld, the reference %ld", pick, want);
    }
    int64_t count = fuzz_take_i64_edgy(in);
    if (fuzz_take_u8(in) & 1) count = count % 50;
    int64_t got = sharded_take(values, n, count, random, taken);
    __int128 want = count <= 0 ? 0 : (stock < count ? stock : count);
    FUZZ_CHECK(got == want, "took %lld of %lld, the reference %lld", (long long)got, (long long)count, (long long)want);
    __int128 sum = 0;
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(taken[i] >= 0 && (taken[i] == 0 || taken[i] <= values[i]), "shard %zu gave %lld of %lld", i,
                   (long long)taken[i], (long long)values[i]);
        sum += taken[i];
    }
    FUZZ_CHECK(sum == got, "the shards gave %lld in all, the call says %lld", (long long)sum, (long long)got);
    if (got > 0) {
        FUZZ_CHECK(taken[pick] > 0, "the picked shard gave nothing");
        /* Going on from the pick, every shard > 0 passed on the way gave all it had. */
        int64_t left = count;
        for (size_t k = 0; k < n && left > 0; k++) {
            size_t i = ((size_t)pick + k) % n;
            if (values[i] <= 0) continue;
            int64_t give = values[i] < left ? values[i] : left;
            FUZZ_CHECK(taken[i] == give, "shard %zu gave %lld, the walk from the pick says %lld", i,
                       (long long)taken[i], (long long)give);
            left -= give;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in;
    fuzz_input_init(&in, data, size);
    switch (fuzz_take_u8(&in) % 3) {
    case 0: fuzz_parse(&in); break;
    case 1: fuzz_arithmetic(&in); break;
    default: fuzz_choose(&in); break;
    }
    return 0;
}
