/* trial_fixtures.c -- the helpers of trial_fixtures.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memory_stream.h"
#include "trial_fixtures.h"

/* ==== trials ==================================================================================== */
trial *new_trial(uint64_t capacity, uint64_t waitlist_max) {
    trial *t = trial_create(capacity, waitlist_max);
    assert_non_null(t);
    assert_int_equal(trial_check(t), 0);
    return t;
}

trial *busy_trial(void) {
    trial *t = new_trial(5, 4);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave", "eve", "frank", "grace", "heidi"}, 8);
    cancel(t, "bob");   /* promotes frank */
    cancel(t, "grace"); /* leaves the waitlist */
    trial_resize(t, 4); /* over capacity by one */
    assert_int_equal(trial_check(t), 0);
    return t;
}

trial *numbered_trial(unsigned long n) {
    trial *t = new_trial(1000000, 0);
    char id[32];
    for (unsigned long i = 0; i < n; i++) assert_int_equal(enroll(t, numbered(id, i)), TRIAL_ENROLL_ENROLLED);
    return t;
}

/* ==== calls with NUL-terminated ids ============================================================= */
trial_enroll_result enroll(trial *t, const char *user) { return trial_enroll(t, user, strlen(user), NULL); }

uint64_t enroll_ticket(trial *t, const char *user) {
    uint64_t ticket = 0;
    trial_enroll_result r = trial_enroll(t, user, strlen(user), &ticket);
    assert_true(r == TRIAL_ENROLL_ENROLLED || r == TRIAL_ENROLL_WAITLISTED);
    return ticket;
}

trial_cancel_result cancel(trial *t, const char *user) { return trial_cancel(t, user, strlen(user), NULL); }

trial_state status(const trial *t, const char *user, uint64_t *value) {
    return trial_status(t, user, strlen(user), value);
}

void enroll_all(trial *t, const char *const *users, size_t n) {
    for (size_t i = 0; i < n; i++) {
        trial_enroll_result r = enroll(t, users[i]);
        assert_true(r == TRIAL_ENROLL_ENROLLED || r == TRIAL_ENROLL_WAITLISTED);
    }
    assert_int_equal(trial_check(t), 0);
}

void enroll_ok(trial *t, const char *user, size_t len, trial_enroll_result want, uint64_t want_ticket) {
    uint64_t ticket = 0;
    assert_int_equal(trial_enroll(t, user, len, &ticket), want);
    assert_int_equal(ticket, want_ticket);
}

trial_restore_result restore(trial *t, trial_list list, size_t n, const uint64_t *tickets,
                             const char *const *users, size_t *failed_at) {
    size_t lens[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) lens[i] = strlen(users[i]);
    return trial_restore(t, list, n, tickets, users, lens, failed_at);
}

/* ==== ids ======================================================================================= */
const char *numbered(char out[32], unsigned long i) {
    snprintf(out, 32, "user:%012lu", i);
    return out;
}

size_t make_id(uint32_t i, char out[ID_BUF]) {
    int n = snprintf(out, ID_BUF, "u%" PRIu32, i);
    size_t len = (size_t)n;
    if (i % 5 == 0) {
        out[len++] = '\0';
        out[len++] = 'z';
    }
    if (i % 11 == 0) {
        size_t target = 40 + i % 200;
        while (len < target) out[len++] = 'p';
    }
    return len;
}

uint32_t user_number(const char *id, size_t len) {
    assert_true(len >= 2 && id[0] == 'u');
    uint32_t n = 0;
    for (size_t i = 1; i < len && id[i] >= '0' && id[i] <= '9'; i++) n = n * 10 + (uint32_t)(id[i] - '0');
    return n;
}

/* ==== listings ================================================================================== */
int collect(const char *user, size_t len, uint64_t ticket, void *ctx) {
    listing *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->tickets = realloc(l->tickets, l->cap * sizeof(*l->tickets));
        l->users = realloc(l->users, l->cap * sizeof(*l->users));
        l->lens = realloc(l->lens, l->cap * sizeof(*l->lens));
        assert_true(l->tickets && l->users && l->lens);
    }
    assert_true(len <= TRIAL_MAX_USER_LEN);
    char *copy = malloc(len + 1);
    assert_non_null(copy);
    memcpy(copy, user, len);
    copy[len] = '\0';
    l->tickets[l->n] = ticket;
    l->users[l->n] = copy;
    l->lens[l->n] = len;
    l->n++;
    return l->stop_after != 0 && l->n >= l->stop_after;
}

listing list_of(const trial *t, trial_list which) {
    listing l = {0, 0, NULL, NULL, NULL, 0};
    assert_int_equal(trial_foreach(t, which, collect, &l), 0);
    return l;
}

void listing_reset(listing *l) {
    for (size_t i = 0; i < l->n; i++) free(l->users[i]);
    l->n = 0;
}

void listing_free(listing *l) {
    listing_reset(l);
    free(l->tickets);
    free(l->users);
    free(l->lens);
    memset(l, 0, sizeof(*l));
}

void assert_seen(const listing *l, size_t i, const char *user, size_t len, uint64_t ticket) {
    assert_true(i < l->n);
    assert_int_equal(l->tickets[i], ticket);
    assert_int_equal(l->lens[i], len);
    assert_memory_equal(l->users[i], user, len);
}

void assert_listings_equal(const listing *a, const listing *b) {
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) assert_seen(b, i, a->users[i], a->lens[i], a->tickets[i]);
}

/* ==== comparisons =============================================================================== */
void assert_same_state(const trial *a, const trial *b) {
    buffer sa = save(a);
    buffer sb = save(b);
    assert_same_bytes(&sa, &sb);
    buffer_free(&sa);
    buffer_free(&sb);
}

void assert_trials_equal(const trial *a, const trial *b) {
    assert_int_equal(trial_capacity(a), trial_capacity(b));
    assert_int_equal(trial_waitlist_max(a), trial_waitlist_max(b));
    assert_int_equal(trial_next_ticket(a), trial_next_ticket(b));
    assert_int_equal(trial_enrolled_count(a), trial_enrolled_count(b));
    assert_int_equal(trial_waitlisted_count(a), trial_waitlisted_count(b));
    assert_int_equal(trial_remaining(a), trial_remaining(b));
    for (int which = TRIAL_LIST_ENROLLED; which <= TRIAL_LIST_WAITLIST; which++) {
        listing la = list_of(a, (trial_list)which);
        listing lb = list_of(b, (trial_list)which);
        assert_listings_equal(&la, &lb);
        listing_free(&la);
        listing_free(&lb);
    }
    assert_same_state(a, b);
}

void assert_round_trip(const trial *t) {
    buffer b = save(t);
    trial *loaded = load(&b);
    assert_non_null(loaded);
    assert_int_equal(trial_check(loaded), 0);
    assert_trials_equal(t, loaded);
    assert_unchanged(loaded, &b);
    trial_free(loaded);
    buffer_free(&b);
}

/* ==== randomness ================================================================================ */
uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t seed_trial_hash(const char *suite) {
    const char *env = getenv("TRIAL_TEST_SEED");
    uint64_t seed;
    if (env && *env) seed = strtoull(env, NULL, 0);
    else seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
    trial_set_hash_seed(seed * 0x9e3779b97f4a7c15ULL + 1);
    printf("%s: TRIAL_TEST_SEED=%" PRIu64 "\n", suite, seed);
    fflush(stdout);
    return seed;
}
