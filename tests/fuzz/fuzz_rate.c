/* fuzz_rate.c -- libFuzzer harness of the rate-limit core (module/rate.h).
 *
 * rate_parse_state() on arbitrary text against a reference; rate_gcra_init() on arbitrary
 * parameters against the contract, and for every rate it accepts, rate_throttle() on arbitrary
 * (edge-heavy) stored TATs, clocks and quantities: it fails exactly when the arithmetic of GCRA
 * (computed here in 128 bits) leaves int64, and otherwise answers within the documented bounds
 * (remaining in [0, limit], reset_after within the bucket, a refused call allowed again after
 * retry_after, a peek never stores). Fixed windows and rate_round_up() likewise. Unix time is not
 * negative: clocks and stored states range over [0, INT64_MAX], as the glue produces them. */
#include <stdint.h>
#include <string.h>

#include "fuzz_support.h"
#include "rate.h"

typedef __int128 wide;

static int fits(wide v) { return v >= INT64_MIN && v <= INT64_MAX; }

static void fuzz_parse_state(fuzz_input *in) {
    const uint8_t *text;
    size_t len = fuzz_take_bytes(in, 24, &text);
    int ok = len >= 1 && len <= 19;
    wide value = 0;
    for (size_t i = 0; ok && i < len; i++) {
        if (text[i] < '0' || text[i] > '9') ok = 0;
        else value = value * 10 + (text[i] - '0');
    }
    if (value > INT64_MAX) ok = 0;
    int64_t out = -7;
    int rc = rate_parse_state((const char *)text, len, &out);
    FUZZ_CHECK(rc == (ok ? 0 : -1), "rate_parse_state(\"%.*s\") = %d", (int)len, (const char *)text, rc);
    if (ok) FUZZ_CHECK(out == (int64_t)value, "rate_parse_state read another value");
    else FUZZ_CHECK(out == -7, "a refused state was written");
}

static int64_t take_time(fuzz_input *in) {
    int64_t t = fuzz_take_i64_edgy(in);
    if (t < 0) t = t == INT64_MIN ? 0 : -t;
    if (fuzz_take_u8(in) & 1) t = 1700000000000000000LL + t % 1000000000000LL; /* now-ish */
    return t;
}

static void fuzz_gcra(fuzz_input *in) {
    int64_t max_burst = fuzz_take_i64_edgy(in), count = fuzz_take_i64_edgy(in), period = fuzz_take_i64_edgy(in);
    rate_gcra g;
    int rc = rate_gcra_init(&g, max_burst, count, period);
    int ok = max_burst >= 0 && count > 0 && period > 0 && max_burst < INT64_MAX && period / count >= 1 &&
             (wide)(period / count) * ((wide)max_burst + 1) <= RATE_MAX_TOLERANCE_NS;
    FUZZ_CHECK(rc == (ok ? 0 : -1), "rate_gcra_init(%lld, %lld, %lld) = %d", (long long)max_burst, (long long)count,
               (long long)period, rc);
    if (!ok) return;
    FUZZ_CHECK(g.limit == max_burst + 1 && g.emission_interval == period / count &&
                   g.tolerance == g.emission_interval * g.limit,
               "gcra parameters differ");
    for (int calls = 0; calls < 8 && !fuzz_input_done(in); calls++) {
        int64_t now = take_time(in), tat = (fuzz_take_u8(in) & 3) == 0 ? 0 : take_time(in);
        int64_t quantity = fuzz_take_i64_edgy(in);
        if (fuzz_take_u8(in) & 1) quantity = quantity < 0 ? 1 : quantity % (g.limit + 2);
        rate_throttle_result r;
        memset(&r, 0x5a, sizeof(r));
        rc = rate_throttle(&g, tat, now, quantity, &r);
        /* GCRA in 128 bits. */
        wide increment = (wide)g.emission_interval * quantity;
        wide t = tat <= 0 ? now : tat;
        wide base = now > t ? now : t;
        wide new_tat = base + increment, allow_at = new_tat - g.tolerance, diff = (wide)now - allow_at;
        int computable = quantity >= 0 && fits(increment) && fits(new_tat) && fits(allow_at) && fits(diff);
        FUZZ_CHECK(rc == (computable ? 0 : -1), "rate_throttle(tat %lld, now %lld, quantity %lld) = %d", (long long)tat,
                   (long long)now, (long long)quantity, rc);
        if (rc != 0) continue;
        FUZZ_CHECK(r.limited == (diff < 0), "limited %d, diff %lld", r.limited, (long long)diff);
        /* remaining: the whole intervals left in the bucket after the call, at most the limit (a
         * stored TAT in the past is a full bucket). Once found above the limit and unbounded:
         * tests/fuzz/crashes/rate-remaining-*.bin. */
        wide ttl = diff < 0 ? base - now : (wide)new_tat - now;
        wide next = (wide)g.tolerance - ttl;
        wide want = next > 0 ? next / g.emission_interval : 0;
        if (want > g.limit) want = g.limit;
        FUZZ_CHECK(r.remaining == (int64_t)want,
                   "remaining %lld, expected %lld (tat %lld, now %lld, quantity %lld, interval %lld, limited %d)",
                   (long long)r.remaining, (long long)want, (long long)tat, (long long)now, (long long)quantity,
                   (long long)g.emission_interval, r.limited);
        FUZZ_CHECK(r.new_tat == (int64_t)new_tat, "new_tat differs");
        if (r.limited) {
            FUZZ_CHECK(!r.store, "a refused call stores");
            FUZZ_CHECK(r.reset_after == (int64_t)(base - now), "reset_after of a refused call");
            if (increment <= g.tolerance) {
                FUZZ_CHECK(r.retry_after > 0 && r.retry_after == (int64_t)-diff, "retry_after %lld",
                           (long long)r.retry_after);
                /* The same call at now + retry_after is allowed. */
                rate_throttle_result again;
                if (now <= INT64_MAX - r.retry_after &&
                    rate_throttle(&g, tat, now + r.retry_after, quantity, &again) == 0)
                    FUZZ_CHECK(!again.limited, "refused again after retry_after");
            } else {
                FUZZ_CHECK(r.retry_after == -1, "a call larger than the bucket has a retry_after");
            }
        } else {
            FUZZ_CHECK(r.retry_after == -1, "an allowed call has a retry_after");
            FUZZ_CHECK(r.store == (quantity > 0), "store %d with quantity %lld", r.store, (long long)quantity);
            FUZZ_CHECK(r.reset_after >= 0 && r.reset_after <= g.tolerance, "reset_after %lld outside the bucket",
                       (long long)r.reset_after);
        }
    }
}

static void fuzz_window(fuzz_input *in) {
    int64_t quota = fuzz_take_i64_edgy(in), used = fuzz_take_i64_edgy(in), quantity = fuzz_take_i64_edgy(in);
    if (quota < 1) quota = 1;
    if (quantity < 1) quantity = 1;
    if (used < 0) used = 0;
    int64_t counted = -7;
    rate_window_reply got = rate_window(quota, used, quantity, &counted);
    wide sum = (wide)used + quantity;
    rate_window_reply want = sum > quota ? RATE_WINDOW_OVER : sum == quota ? RATE_WINDOW_LAST : RATE_WINDOW_ALLOWED;
    FUZZ_CHECK(got == want, "rate_window(%lld, %lld, %lld) = %d", (long long)quota, (long long)used,
               (long long)quantity, (int)got);
    FUZZ_CHECK(counted == (want == RATE_WINDOW_OVER ? used : (int64_t)sum), "counted %lld", (long long)counted);

    int64_t now = take_time(in), period = fuzz_take_i64_edgy(in);
    if (period < 1) period = period == INT64_MIN ? 1 : (period == 0 ? 1 : -period);
    int align = fuzz_take_u8(in) & 1;
    int64_t end = rate_window_end(now, period, align);
    wide start = align ? (wide)now - now % period : now, want_end = start + period;
    FUZZ_CHECK(end == (fits(want_end) ? (int64_t)want_end : -1), "rate_window_end(%lld, %lld, %d) = %lld",
               (long long)now, (long long)period, align, (long long)end);
    if (end != -1) FUZZ_CHECK(end > now && end - now <= period, "the window does not hold now");

    int64_t ns = fuzz_take_i64_edgy(in), unit = (fuzz_take_u8(in) & 1) ? 1000000000LL : 1000000LL;
    int64_t rounded = rate_round_up(ns, unit);
    int64_t whole = ns / unit, rest = ns % unit;
    FUZZ_CHECK(rounded == (rest >= unit / 1000 ? whole + 1 : whole), "rate_round_up(%lld, %lld) = %lld",
               (long long)ns, (long long)unit, (long long)rounded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in;
    fuzz_input_init(&in, data, size);
    switch (fuzz_take_u8(&in) % 3) {
    case 0: fuzz_parse_state(&in); break;
    case 1: fuzz_gcra(&in); break;
    default: fuzz_window(&in); break;
    }
    return 0;
}
