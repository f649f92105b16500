/* trial_fixtures.h -- what the trial suites (test_trial_*.c) share: trials built for a test, short
 * calls for string ids, listings of a trial copied out for comparisons, and the hash seed.
 *
 * Failures are cmocka assertions that fail the calling test. Every helper allocates the trial
 * through the cores' allocator (the counting allocator main() installs) and its own bookkeeping
 * with malloc, so the per-test heap check counts only what the core holds. */
#ifndef SG_TRIAL_FIXTURES_H
#define SG_TRIAL_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "trial.h"

#define S(str) (str), (sizeof(str) - 1) /* a string literal as (bytes, len) */

/* ==== trials ==================================================================================== */
/* A new trial that passes trial_check(). */
trial *new_trial(uint64_t capacity, uint64_t waitlist_max);
/* Capacity 5, waitlist 4: eight arrivals, one promotion, one waitlisted user gone, over capacity
 * by one after a resize. */
trial *busy_trial(void);
/* numbered(0..n-1) enrolled in a roomy trial without waitlist. */
trial *numbered_trial(unsigned long n);

/* ==== calls with NUL-terminated ids ============================================================= */
trial_enroll_result enroll(trial *t, const char *user);
/* Enroll or waitlist `user` (asserted) and return its arrival number. */
uint64_t enroll_ticket(trial *t, const char *user);
trial_cancel_result cancel(trial *t, const char *user);
trial_state status(const trial *t, const char *user, uint64_t *value);
/* Enroll every user (each asserted enrolled or waitlisted), then trial_check(). */
void enroll_all(trial *t, const char *const *users, size_t n);
/* trial_enroll answers `want` with arrival number `want_ticket` (0 when it hands out none). */
void enroll_ok(trial *t, const char *user, size_t len, trial_enroll_result want, uint64_t want_ticket);
/* trial_restore with strlen() lengths, at most 16 users. */
trial_restore_result restore(trial *t, trial_list list, size_t n, const uint64_t *tickets,
                             const char *const *users, size_t *failed_at);

/* ==== ids ======================================================================================= */
/* "user:%012lu": 17 bytes. */
const char *numbered(char out[32], unsigned long i);

/* A distinct id for every integer: "u<decimal>", some with an embedded NUL, some padded long. */
#define ID_BUF 256
size_t make_id(uint32_t i, char out[ID_BUF]);
/* The integer make_id() was given, read back from the id. */
uint32_t user_number(const char *id, size_t len);

/* ==== listings: a list of a trial copied out ==================================================== */
typedef struct listing {
    size_t n;
    size_t cap;
    uint64_t *tickets;
    char **users; /* NUL-terminated copies (ids may hold NULs too: use lens) */
    size_t *lens;
    size_t stop_after; /* collect() asks to stop once it holds this many; 0: never */
} listing;

/* A trial visitor (trial_foreach, trial_scan) appending to the listing `ctx`. */
int collect(const char *user, size_t len, uint64_t ticket, void *ctx);
listing list_of(const trial *t, trial_list which);
/* Empty the listing, keeping its stop_after. */
void listing_reset(listing *l);
void listing_free(listing *l);
/* Entry i of the listing is `user` with arrival number `ticket`. */
void assert_seen(const listing *l, size_t i, const char *user, size_t len, uint64_t ticket);
void assert_listings_equal(const listing *a, const listing *b);

/* ==== comparisons =============================================================================== */
/* The full observable state, serialized: two trials are equal when these bytes are. */
void assert_same_state(const trial *a, const trial *b);
/* Counters, both lists and the serialized form are equal. */
void assert_trials_equal(const trial *a, const trial *b);
/* Saved and loaded, the trial comes back equal and sound. */
void assert_round_trip(const trial *t);

/* ==== randomness ================================================================================ */
/* splitmix64: a small seeded PRNG, so a run replays from its seed. */
uint64_t next_random(uint64_t *state);
/* The run's seed (TRIAL_TEST_SEED replays one; otherwise from the clock), printed with the suite's
 * name and given to trial_set_hash_seed(). Call once in main(), after core_set_allocator(). */
uint64_t seed_trial_hash(const char *suite);

#endif
