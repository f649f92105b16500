/* rate.h -- the rate-limit core of SlotGuard: GCRA decisions for RATE.THROTTLE (the algorithm and
 * the reply of redis-cell's CL.THROTTLE) and fixed-window quotas for RATE.WINDOW. Plain C, no Redis
 * header, no clock of its own: the glue reads the server's clock once per call and passes it in,
 * in nanoseconds of Unix time, so the core is unit-tested on a fake clock. */
#ifndef SG_RATE_H
#define SG_RATE_H

#include <stddef.h>
#include <stdint.h>

/* ---- GCRA ------------------------------------------------------------------------------------ */
typedef struct rate_gcra {
    int64_t limit;              /* max_burst + 1 */
    int64_t emission_interval;  /* ns between two units at the nominal rate: period / count */
    int64_t tolerance;          /* the bucket: emission_interval * limit (ns) */
} rate_gcra;

/* The largest bucket (emission interval x limit): 10^18 ns, about 31.7 years. With it, every TAT
 * stays below now + 2 buckets, far from int64's end (9.2 x 10^18 ns of Unix time is year 2262), so
 * a rate accepted once never fails its arithmetic later. */
#define RATE_MAX_TOLERANCE_NS 1000000000000000000LL

/* Parameters as CL.THROTTLE takes them (period in ns). 0 on success; -1 when they describe no rate
 * (count or period <= 0, max_burst < 0, an interval below 1 ns) or the bucket is larger than
 * RATE_MAX_TOLERANCE_NS. */
int rate_gcra_init(rate_gcra *g, int64_t max_burst, int64_t count, int64_t period_ns);

typedef struct rate_throttle_result {
    int limited;           /* 1: refused, nothing changes */
    int64_t remaining;     /* units that could still be taken at once */
    int64_t retry_after;   /* ns until the same request would be allowed; -1 when allowed (or never) */
    int64_t reset_after;   /* ns until the bucket is full again (what the state's expiry is set to) */
    int store;             /* 1: store new_tat, expiring at new_tat (allowed and quantity > 0) */
    int64_t new_tat;       /* the theoretical arrival time to keep (ns of Unix time) */
} rate_throttle_result;

/* One decision. `tat` is the stored theoretical arrival time, or 0 when there is none (a missing
 * or expired state is a full bucket). quantity 0 peeks (never stores). 0 on success, -1 when the
 * arithmetic would overflow (absurd quantities or clocks). A clock that goes back never hands out
 * more: the stored TAT stays the reference. */
int rate_throttle(const rate_gcra *g, int64_t tat, int64_t now, int64_t quantity, rate_throttle_result *out);

/* ns in whole units (1e9: seconds, 1e6: milliseconds) as redis-cell rounds its replies: truncated
 * toward zero, plus one when a positive rest is at least a thousandth of the unit (-1 s stays -1). */
int64_t rate_round_up(int64_t ns, int64_t unit);

/* A limit's stored state as its decimal text: 0 on success with *out set, -1 unless the text is a
 * non-negative integer of at most 19 digits that fits int64 (no sign, no spaces). */
int rate_parse_state(const char *text, size_t len, int64_t *out);

/* ---- fixed windows --------------------------------------------------------------------------- */
typedef enum rate_window_reply {
    RATE_WINDOW_OVER = 0,    /* over quota: nothing is counted */
    RATE_WINDOW_ALLOWED = 1,
    RATE_WINDOW_LAST = 2,    /* allowed, and the quota is now used up */
} rate_window_reply;

/* `used` units counted so far in the window (0 for a new one), quota >= 1, quantity >= 1: the
 * reply, and *counted the new count (unchanged when over). */
rate_window_reply rate_window(int64_t quota, int64_t used, int64_t quantity, int64_t *counted);

/* The end of the window that starts at `now` (ns): now + period, or with `align` the end of the
 * whole period of the epoch that holds now. -1 on overflow. */
int64_t rate_window_end(int64_t now, int64_t period_ns, int align);

#endif
