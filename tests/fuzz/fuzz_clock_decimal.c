/* fuzz_clock_decimal.c -- libFuzzer harness of the token clock (module/token_clock.h) and the
 * decimal formatter (module/decimal.h).
 *
 * sg_format_decimal() writes what snprintf("%llu") writes, and strtoull() reads it back. The
 * token clock runs a sequence of next / observe / acceptable calls on a clock that jumps (back,
 * too, and to the edges of uint64): issued tokens strictly increase until the clock is exhausted
 * (then 0, and only at TOKEN_MAX), never exceed TOKEN_MAX, are at least now (capped); an observed
 * token never moves the clock beyond now + 365 days (TOKEN_MAX_AHEAD_US) or back, and
 * token_clock_acceptable() is exactly "at most 365 days ahead". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "fuzz_support.h"
#include "token_clock.h"

static void check_decimal(uint64_t value) {
    char out[SG_DECIMAL_SIZE], want[32];
    size_t len = sg_format_decimal(out, value);
    int n = snprintf(want, sizeof(want), "%llu", (unsigned long long)value);
    FUZZ_CHECK(len == (size_t)n && strcmp(out, want) == 0, "sg_format_decimal(%s) wrote \"%s\"", want, out);
    FUZZ_CHECK(strtoull(out, NULL, 10) == value, "\"%s\" does not read back", out);
}

static uint64_t furthest(uint64_t now_us) {
    unsigned __int128 f = (unsigned __int128)now_us + TOKEN_MAX_AHEAD_US;
    return f > TOKEN_MAX ? TOKEN_MAX : (uint64_t)f;
}

static uint64_t take_time(fuzz_input *in, uint64_t now) {
    uint8_t k = fuzz_take_u8(in);
    switch (k % 6) {
    case 0: return now + k / 6;
    case 1: return now > 1000 ? now - k : 0; /* the clock went back */
    case 2: return (uint64_t)fuzz_take_i64_edgy(in);
    case 3: return TOKEN_MAX - TOKEN_MAX_AHEAD_US + (uint64_t)(int64_t)(int8_t)fuzz_take_u8(in);
    default: return now + fuzz_take_u32(in);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in;
    fuzz_input_init(&in, data, size);
    check_decimal(fuzz_take_u64(&in));
    check_decimal((uint64_t)fuzz_take_i64_edgy(&in));

    token_clock clock = {0};
    if (fuzz_take_u8(&in) & 1) clock.last = (uint64_t)fuzz_take_i64_edgy(&in) & TOKEN_MAX;
    uint64_t now = 1700000000000000ULL;
    while (!fuzz_input_done(&in)) {
        uint8_t op = fuzz_take_u8(&in);
        now = take_time(&in, now);
        uint64_t before = clock.last;
        switch (op % 3) {
        case 0: {
            uint64_t token = token_clock_next(&clock, now);
            if (before >= TOKEN_MAX) {
                FUZZ_CHECK(token == 0 && clock.last == before, "an exhausted clock issued %llu",
                           (unsigned long long)token);
                break;
            }
            uint64_t want = before + 1 > now ? before + 1 : now;
            if (want > TOKEN_MAX) want = TOKEN_MAX;
            FUZZ_CHECK(token == want && clock.last == token, "next after %llu at %llu: %llu, want %llu",
                       (unsigned long long)before, (unsigned long long)now, (unsigned long long)token,
                       (unsigned long long)want);
            FUZZ_CHECK(token > before && token <= TOKEN_MAX, "tokens do not increase");
            check_decimal(token);
            break;
        }
        case 1: {
            uint64_t token = (uint64_t)fuzz_take_i64_edgy(&in);
            if (fuzz_take_u8(&in) & 1) token = now + TOKEN_MAX_AHEAD_US + (uint64_t)(int64_t)(int8_t)fuzz_take_u8(&in);
            int beyond = token_clock_observe(&clock, token, now);
            FUZZ_CHECK(beyond == (token > furthest(now)), "observe(%llu) at %llu said beyond=%d",
                       (unsigned long long)token, (unsigned long long)now, beyond);
            uint64_t seen = token > furthest(now) ? furthest(now) : token;
            FUZZ_CHECK(clock.last == (seen > before ? seen : before), "observe moved the clock to %llu",
                       (unsigned long long)clock.last);
            FUZZ_CHECK(clock.last <= (before > furthest(now) ? before : furthest(now)),
                       "observe moved the clock more than 365 days ahead");
            break;
        }
        default: {
            uint64_t token = (uint64_t)fuzz_take_i64_edgy(&in);
            FUZZ_CHECK(token_clock_acceptable(token, now) == (token <= furthest(now)), "acceptable(%llu) at %llu",
                       (unsigned long long)token, (unsigned long long)now);
            FUZZ_CHECK(clock.last == before, "acceptable moved the clock");
            break;
        }
        }
        FUZZ_CHECK(clock.last >= before && clock.last <= TOKEN_MAX, "the clock went back or past TOKEN_MAX");
    }
    return 0;
}
