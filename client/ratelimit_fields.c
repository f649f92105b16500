/* ratelimit_fields.c -- the IETF RateLimit / RateLimit-Policy header fields from a rate limit's
 * answer (see slotguard.h). Pure: no connection, unit-tested alone. */
#include "slotguard.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* ceil(a / b) for a >= 0, b > 0. */
static long long divide_up(long long a, long long b) { return a / b + (a % b != 0); }

/* A duration in the limit's unit (ms with SG_RATE_MS, else s) as whole seconds, rounded up. */
static long long seconds_of(long long amount, int flags) {
    if (amount <= 0) return 0;
    return (flags & SG_RATE_MS) ? divide_up(amount, 1000) : amount;
}

int sg_ratelimit_from_throttle(long long max_burst, long long count, long long period, int flags,
                               const sg_throttle_result *result, sg_ratelimit_fields *fields) {
    if (result == NULL || fields == NULL || max_burst < 0 || count <= 0 || period <= 0 || max_burst == INT64_MAX)
        return SG_ERR;
    long long limit = max_burst + 1;
    /* limit × period / count, rounded up, in 128 bits: an error only when the result itself does
     * not fit. */
    unsigned __int128 product = (unsigned __int128)limit * (unsigned __int128)period;
    unsigned __int128 refill_wide = product / (unsigned __int128)count + (product % (unsigned __int128)count != 0);
    if (refill_wide > (unsigned __int128)LLONG_MAX) return SG_ERR;
    long long refill = (long long)refill_wide;
    fields->q = limit;
    fields->w = seconds_of(refill, flags);
    fields->r = result->remaining;
    fields->t = seconds_of(result->reset_after, flags);
    return SG_OK;
}

int sg_ratelimit_from_window(long long quota, long long period, int flags, const sg_window_info *info,
                             sg_ratelimit_fields *fields) {
    if (info == NULL || fields == NULL || quota <= 0 || period <= 0) return SG_ERR;
    fields->q = quota;
    fields->w = seconds_of(period, flags);
    fields->r = info->remaining;
    fields->t = info->wait_ms < 0 ? 0 : divide_up(info->wait_ms, 1000);
    return SG_OK;
}

static int is_token(const char *name) {
    if (name == NULL || *name == '\0') return 0;
    for (const char *p = name; *p; p++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                 ch == '_' || ch == '.';
        if (!ok) return 0;
    }
    return 1;
}

int sg_ratelimit_format(const sg_ratelimit_fields *fields, const char *name, char *ratelimit, size_t ratelimit_size,
                        char *policy, size_t policy_size) {
    if (fields == NULL || ratelimit == NULL || policy == NULL || !is_token(name)) return SG_ERR;
    int a = snprintf(ratelimit, ratelimit_size, "\"%s\";r=%lld;t=%lld", name, fields->r, fields->t);
    int b = snprintf(policy, policy_size, "\"%s\";q=%lld;w=%lld", name, fields->q, fields->w);
    if (a < 0 || (size_t)a >= ratelimit_size || b < 0 || (size_t)b >= policy_size) return SG_ERR;
    return SG_OK;
}
