/* rate.c -- the rate-limit core: see rate.h. */
#include "rate.h"

static int add_overflows(int64_t a, int64_t b, int64_t *out) { return __builtin_add_overflow(a, b, out); }
static int sub_overflows(int64_t a, int64_t b, int64_t *out) { return __builtin_sub_overflow(a, b, out); }
static int mul_overflows(int64_t a, int64_t b, int64_t *out) { return __builtin_mul_overflow(a, b, out); }

int rate_gcra_init(rate_gcra *g, int64_t max_burst, int64_t count, int64_t period_ns) {
    if (max_burst < 0 || count <= 0 || period_ns <= 0) return -1;
    if (max_burst == INT64_MAX) return -1;
    g->limit = max_burst + 1;
    g->emission_interval = period_ns / count; /* truncated to whole ns, as redis-cell does */
    if (g->emission_interval < 1) return -1;
    if (mul_overflows(g->emission_interval, g->limit, &g->tolerance) || g->tolerance > RATE_MAX_TOLERANCE_NS)
        return -1;
    return 0;
}

int rate_throttle(const rate_gcra *g, int64_t tat, int64_t now, int64_t quantity, rate_throttle_result *out) {
    int64_t increment, new_tat, allow_at, diff, ttl;
    if (quantity < 0 || mul_overflows(g->emission_interval, quantity, &increment)) return -1;
    if (tat <= 0) tat = now; /* no state: a full bucket */
    int64_t base = now > tat ? now : tat;
    if (add_overflows(base, increment, &new_tat) || sub_overflows(new_tat, g->tolerance, &allow_at) ||
        sub_overflows(now, allow_at, &diff))
        return -1;
    out->new_tat = new_tat;
    out->retry_after = -1;
    if (diff < 0) {
        out->limited = 1;
        if (increment <= g->tolerance) out->retry_after = -diff; /* else it can never be allowed */
        ttl = base - now; /* a stored TAT in the past is a full bucket, not more than full */
        out->store = 0;
    } else {
        out->limited = 0;
        ttl = new_tat - now;
        out->store = quantity > 0;
    }
    /* What is left of the bucket after this call, in whole units, at most the limit. redis-cell
     * divides whole microseconds by the interval truncated to whole microseconds, which gives the
     * same number when the interval is a whole number of microseconds, and more than the limit
     * when it is not (1.5 µs: 13 of 10); the division here is exact, in integers. */
    int64_t next = g->tolerance - ttl;
    out->remaining = next > 0 ? next / g->emission_interval : 0;
    if (out->remaining > g->limit) out->remaining = g->limit;
    out->reset_after = ttl;
    return 0;
}

int64_t rate_round_up(int64_t ns, int64_t unit) {
    /* Truncated toward zero; up by one when a positive rest holds at least a thousandth of the
     * unit (so -1 s stays -1, and -0.5 s, a limited call's reset, reads 0). */
    int64_t whole = ns / unit, rest = ns % unit;
    return rest / (unit / 1000) > 0 ? whole + 1 : whole;
}

rate_window_reply rate_window(int64_t quota, int64_t used, int64_t quantity, int64_t *counted) {
    *counted = used;
    if (used > quota - quantity) return RATE_WINDOW_OVER; /* used + quantity > quota, without overflow */
    *counted = used + quantity;
    return *counted == quota ? RATE_WINDOW_LAST : RATE_WINDOW_ALLOWED;
}

int64_t rate_window_end(int64_t now, int64_t period_ns, int align) {
    int64_t end;
    if (!align) return add_overflows(now, period_ns, &end) ? -1 : end;
    int64_t start = now - now % period_ns;
    return add_overflows(start, period_ns, &end) ? -1 : end;
}

int rate_parse_state(const char *text, size_t len, int64_t *out) {
    if (len == 0 || len > 19) return -1;
    int64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') return -1;
        if (mul_overflows(value, 10, &value) || add_overflows(value, text[i] - '0', &value)) return -1;
    }
    *out = value;
    return 0;
}
