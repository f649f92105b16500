/* test_trial_model.c -- cmocka tests of the enrollment core (module/trial.h), linked without Redis:
 * random operations compared, step by step, with plain reference models.
 *
 * The pool model keeps both lists as short arrays over 96 ids of every shape (NUL bytes, one byte,
 * the longest) and also copies, saves and loads the trial, checking memory usage after every step.
 * The slot model keeps append-only arrays with dead entries and drives a trial past 40,000 users
 * (the index doubling many times, cancels landing while it is rehashed) and a small churning one
 * (waitlist, promotions, resizes below the enrolled count), with scans running throughout.
 *
 * Runs on the shared counting allocator (counting_allocator.h); each test fails if it leaves
 * anything allocated through the core or wrote past a block. The seed is printed; TRIAL_TEST_SEED
 * replays a run (the slot model runs and the core's hash seed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counting_allocator.h"
#include "memory_stream.h"
#include "trial_fixtures.h"

/* ==== pool model: 96 ids, copies and save/load on the way ======================================== */
#define POOL 96

static struct {
    char ids[POOL][TRIAL_MAX_USER_LEN];
    size_t lens[POOL];
} pool;

/* Ids of many shapes: the first byte is the pool index (so ids are distinct), the rest includes
 * NUL bytes; lengths range from 1 to TRIAL_MAX_USER_LEN. */
static void init_pool(void) {
    for (int i = 0; i < POOL; i++) {
        size_t len = i % 5 == 0 ? 1 : 1 + (size_t)((i * 13) % 40);
        if (i == POOL - 1) len = TRIAL_MAX_USER_LEN;
        pool.ids[i][0] = (char)i;
        for (size_t k = 1; k < len; k++) pool.ids[i][k] = (char)((i * 7 + (int)k) % 3);
        pool.lens[i] = len;
    }
}

static int pool_index(const char *user, size_t len) {
    int i = (unsigned char)user[0];
    if (i >= POOL || pool.lens[i] != len || memcmp(pool.ids[i], user, len) != 0) return -1;
    return i;
}

typedef struct pool_list {
    size_t n;
    int users[POOL];
    uint64_t tickets[POOL];
} pool_list;

typedef struct pool_model {
    uint64_t capacity;
    uint64_t waitlist_max;
    uint64_t next_ticket;
    pool_list enrolled;
    pool_list waitlist;
} pool_model;

static long pool_model_find(const pool_list *l, int user) {
    for (size_t i = 0; i < l->n; i++)
        if (l->users[i] == user) return (long)i;
    return -1;
}

static void pool_model_append(pool_list *l, int user, uint64_t ticket) {
    assert_true(l->n < POOL);
    l->users[l->n] = user;
    l->tickets[l->n] = ticket;
    l->n++;
}

static void pool_model_remove_at(pool_list *l, size_t at) {
    memmove(l->users + at, l->users + at + 1, (l->n - at - 1) * sizeof(l->users[0]));
    memmove(l->tickets + at, l->tickets + at + 1, (l->n - at - 1) * sizeof(l->tickets[0]));
    l->n--;
}

static uint64_t pool_model_promote(pool_model *m) {
    uint64_t promoted = 0;
    while (m->waitlist.n > 0 && m->enrolled.n < m->capacity) {
        pool_model_append(&m->enrolled, m->waitlist.users[0], m->waitlist.tickets[0]);
        pool_model_remove_at(&m->waitlist, 0);
        promoted++;
    }
    return promoted;
}

static trial_enroll_result pool_model_enroll(pool_model *m, int user, uint64_t *ticket) {
    if (pool_model_find(&m->enrolled, user) >= 0) return TRIAL_ENROLL_ALREADY_ENROLLED;
    if (pool_model_find(&m->waitlist, user) >= 0) return TRIAL_ENROLL_ALREADY_WAITLISTED;
    if (m->enrolled.n < m->capacity) {
        *ticket = m->next_ticket++;
        pool_model_append(&m->enrolled, user, *ticket);
        return TRIAL_ENROLL_ENROLLED;
    }
    if (m->waitlist.n < m->waitlist_max) {
        *ticket = m->next_ticket++;
        pool_model_append(&m->waitlist, user, *ticket);
        return TRIAL_ENROLL_WAITLISTED;
    }
    return TRIAL_ENROLL_FULL;
}

static trial_cancel_result pool_model_cancel(pool_model *m, int user, uint64_t *promoted) {
    *promoted = 0;
    long at = pool_model_find(&m->enrolled, user);
    if (at >= 0) {
        pool_model_remove_at(&m->enrolled, (size_t)at);
        *promoted = pool_model_promote(m);
        return TRIAL_CANCEL_WITHDRAWN;
    }
    at = pool_model_find(&m->waitlist, user);
    if (at >= 0) {
        pool_model_remove_at(&m->waitlist, (size_t)at);
        return TRIAL_CANCEL_LEFT_WAITLIST;
    }
    return TRIAL_CANCEL_NOT_FOUND;
}

static uint64_t pool_model_resize(pool_model *m, uint64_t capacity) {
    m->capacity = capacity;
    return pool_model_promote(m);
}

static trial_state pool_model_status(const pool_model *m, int user, uint64_t *value) {
    long at = pool_model_find(&m->enrolled, user);
    if (at >= 0) {
        *value = m->enrolled.tickets[at];
        return TRIAL_STATE_ENROLLED;
    }
    at = pool_model_find(&m->waitlist, user);
    if (at >= 0) {
        *value = (uint64_t)at + 1;
        return TRIAL_STATE_WAITLISTED;
    }
    *value = 0;
    return TRIAL_STATE_NONE;
}

static int collect_pool_user(const char *user, size_t len, uint64_t ticket, void *ctx) {
    pool_list *l = ctx;
    int i = pool_index(user, len);
    if (i < 0 || l->n >= POOL) return 1; /* stop: reported as a mismatch */
    pool_model_append(l, i, ticket);
    return 0;
}

/* NULL when the trial holds exactly the model's state; otherwise what differs. */
static const char *compare_with_pool_model(const trial *t, const pool_model *m) {
    if (trial_check(t) != 0) return "trial_check failed";
    if (trial_capacity(t) != m->capacity) return "capacity differs";
    if (trial_waitlist_max(t) != m->waitlist_max) return "waitlist_max differs";
    if (trial_next_ticket(t) != m->next_ticket) return "next ticket differs";
    if (trial_enrolled_count(t) != m->enrolled.n) return "enrolled count differs";
    if (trial_waitlisted_count(t) != m->waitlist.n) return "waitlisted count differs";
    uint64_t remaining = m->enrolled.n < m->capacity ? m->capacity - m->enrolled.n : 0;
    if (trial_remaining(t) != remaining) return "remaining differs";
    const pool_list *expected[2] = {&m->enrolled, &m->waitlist};
    for (int which = 0; which < 2; which++) {
        pool_list got;
        got.n = 0;
        if (trial_foreach(t, (trial_list)which, collect_pool_user, &got) != 0) return "foreach met an unknown user";
        if (got.n != expected[which]->n) return "list length differs";
        for (size_t i = 0; i < got.n; i++)
            if (got.users[i] != expected[which]->users[i] || got.tickets[i] != expected[which]->tickets[i])
                return which == 0 ? "enrolled list differs" : "waitlist differs";
    }
    return NULL;
}

static void run_pool_model(uint64_t seed, uint64_t capacity, uint64_t waitlist_max, size_t steps) {
    trial *t = new_trial(capacity, waitlist_max);
    static pool_model m;
    memset(&m, 0, sizeof(m));
    m.capacity = capacity;
    m.waitlist_max = waitlist_max;
    m.next_ticket = 1;
    uint64_t rng = seed;
    for (size_t step = 0; step < steps; step++) {
        uint64_t r = next_random(&rng);
        int user = (int)((r >> 16) % POOL);
        const char *id = pool.ids[user];
        size_t len = pool.lens[user];
        unsigned op = (unsigned)(r % 100);
        const char *what = "?";
        if (op < 45) {
            what = "enroll";
            uint64_t got_ticket = 0, want_ticket = 0;
            trial_enroll_result got = trial_enroll(t, id, len, &got_ticket);
            trial_enroll_result want = pool_model_enroll(&m, user, &want_ticket);
            if (got != want) fail_msg("seed %llu step %zu: enroll answered %d, model %d", (unsigned long long)seed, step, got, want);
            if ((want == TRIAL_ENROLL_ENROLLED || want == TRIAL_ENROLL_WAITLISTED) && got_ticket != want_ticket)
                fail_msg("seed %llu step %zu: ticket %llu, model %llu", (unsigned long long)seed, step,
                         (unsigned long long)got_ticket, (unsigned long long)want_ticket);
        } else if (op < 80) {
            what = "cancel";
            uint64_t got_promoted = 99, want_promoted = 0;
            trial_cancel_result got = trial_cancel(t, id, len, &got_promoted);
            trial_cancel_result want = pool_model_cancel(&m, user, &want_promoted);
            if (got != want || got_promoted != want_promoted)
                fail_msg("seed %llu step %zu: cancel answered %d (promoted %llu), model %d (%llu)",
                         (unsigned long long)seed, step, got, (unsigned long long)got_promoted, want,
                         (unsigned long long)want_promoted);
        } else if (op < 92) {
            what = "status";
            uint64_t got_value = 99, want_value = 0;
            trial_state got = trial_status(t, id, len, &got_value);
            trial_state want = pool_model_status(&m, user, &want_value);
            if (got != want || got_value != want_value)
                fail_msg("seed %llu step %zu: status %d/%llu, model %d/%llu", (unsigned long long)seed, step, got,
                         (unsigned long long)got_value, want, (unsigned long long)want_value);
        } else if (op < 98) {
            what = "resize";
            uint64_t to = (r >> 40) % (POOL / 2 + 8);
            uint64_t got = trial_resize(t, to);
            uint64_t want = pool_model_resize(&m, to);
            if (got != want)
                fail_msg("seed %llu step %zu: resize to %llu promoted %llu, model %llu", (unsigned long long)seed,
                         step, (unsigned long long)to, (unsigned long long)got, (unsigned long long)want);
        } else if (op == 98) {
            what = "copy";
            trial *c = trial_copy(t);
            assert_non_null(c);
            const char *diff = compare_with_pool_model(c, &m);
            if (diff) fail_msg("seed %llu step %zu: copy: %s", (unsigned long long)seed, step, diff);
            trial_free(c);
        } else {
            what = "save/load";
            buffer b = save(t);
            trial *loaded = load(&b);
            assert_non_null(loaded);
            const char *diff = compare_with_pool_model(loaded, &m);
            if (diff) fail_msg("seed %llu step %zu: loaded: %s", (unsigned long long)seed, step, diff);
            /* continue on the loaded trial half of the time */
            if (r & (1ULL << 63)) {
                trial_free(t);
                t = loaded;
            } else {
                trial_free(loaded);
            }
            buffer_free(&b);
        }
        int rc = trial_check(t);
        if (rc != 0) fail_msg("seed %llu step %zu (%s): trial_check = %d", (unsigned long long)seed, step, what, rc);
        const char *diff = compare_with_pool_model(t, &m);
        if (diff) fail_msg("seed %llu step %zu (%s): %s", (unsigned long long)seed, step, what, diff);
        if (trial_memory_usage(t) != bytes_in_use())
            fail_msg("seed %llu step %zu (%s): memory usage %zu, allocator holds %zu", (unsigned long long)seed, step,
                     what, trial_memory_usage(t), bytes_in_use());
    }
    trial_free(t);
}

static void random_operations_match_a_reference_model(void **state) {
    (void)state;
    run_pool_model(1, 20, 0, 50000);
    run_pool_model(2, 20, 10, 50000);
    run_pool_model(3, 0, 5, 25000);
    run_pool_model(4, 40, 40, 50000);
    run_pool_model(5, 1, POOL, 25000);
}

/* ==== slot model: growth past forty thousand users, churn, scans ================================= */
static uint64_t rng_state;
static uint64_t rng_next(void) { return next_random(&rng_state); }
static uint64_t rng_below(uint64_t n) { return n ? rng_next() % n : 0; }

typedef struct model_slot {
    uint64_t ticket;
    uint32_t user;
    uint8_t alive;
} model_slot;

/* Both lists are append-only arrays (dead entries stay) in arrival order: promotions always carry
 * tickets above every enrolled one, because nobody enrolls while someone waits. */
typedef struct slot_model {
    uint64_t capacity, waitlist_max, next_ticket;
    model_slot *enrolled;
    size_t enrolled_n, enrolled_live;
    model_slot *waitlist;
    size_t waitlist_n, waitlist_head, waitlist_live;
    uint8_t *state;     /* per user: TRIAL_STATE_* */
    size_t *where;      /* per user: index in its list */
    uint32_t *present;  /* users in either list, for picking cancels */
    size_t *present_at; /* per user: index in `present` */
    size_t present_n;
    size_t users;       /* size of the user space */
} slot_model;

static void slot_model_init(slot_model *m, size_t users, size_t max_arrivals, uint64_t capacity, uint64_t waitlist_max) {
    memset(m, 0, sizeof(*m));
    m->capacity = capacity;
    m->waitlist_max = waitlist_max;
    m->next_ticket = 1;
    m->users = users;
    m->enrolled = malloc(max_arrivals * sizeof(model_slot));
    m->waitlist = malloc(max_arrivals * sizeof(model_slot));
    m->state = calloc(users, 1);
    m->where = calloc(users, sizeof(size_t));
    m->present = malloc(users * sizeof(uint32_t));
    m->present_at = calloc(users, sizeof(size_t));
    assert_true(m->enrolled && m->waitlist && m->state && m->where && m->present && m->present_at);
}

static void slot_model_free(slot_model *m) {
    free(m->enrolled);
    free(m->waitlist);
    free(m->state);
    free(m->where);
    free(m->present);
    free(m->present_at);
}

static void slot_model_present_add(slot_model *m, uint32_t u) {
    m->present_at[u] = m->present_n;
    m->present[m->present_n++] = u;
}

static void slot_model_present_remove(slot_model *m, uint32_t u) {
    size_t at = m->present_at[u];
    uint32_t last = m->present[--m->present_n];
    m->present[at] = last;
    m->present_at[last] = at;
}

static uint64_t slot_model_remaining(const slot_model *m) {
    return m->enrolled_live < m->capacity ? m->capacity - m->enrolled_live : 0;
}

static void slot_model_append_enrolled(slot_model *m, uint32_t u, uint64_t ticket) {
    m->enrolled[m->enrolled_n] = (model_slot){ticket, u, 1};
    m->where[u] = m->enrolled_n++;
    m->enrolled_live++;
    m->state[u] = TRIAL_STATE_ENROLLED;
}

static uint64_t slot_model_promote(slot_model *m) {
    uint64_t promoted = 0;
    while (m->waitlist_live > 0 && m->enrolled_live < m->capacity) {
        while (!m->waitlist[m->waitlist_head].alive) m->waitlist_head++;
        model_slot *s = &m->waitlist[m->waitlist_head++];
        s->alive = 0;
        m->waitlist_live--;
        slot_model_append_enrolled(m, s->user, s->ticket);
        promoted++;
    }
    return promoted;
}

static trial_enroll_result slot_model_enroll(slot_model *m, uint32_t u, uint64_t *ticket) {
    if (m->state[u] == TRIAL_STATE_ENROLLED) return TRIAL_ENROLL_ALREADY_ENROLLED;
    if (m->state[u] == TRIAL_STATE_WAITLISTED) return TRIAL_ENROLL_ALREADY_WAITLISTED;
    if (m->enrolled_live < m->capacity) {
        *ticket = m->next_ticket++;
        slot_model_append_enrolled(m, u, *ticket);
        slot_model_present_add(m, u);
        return TRIAL_ENROLL_ENROLLED;
    }
    if (m->waitlist_live < m->waitlist_max) {
        *ticket = m->next_ticket++;
        m->waitlist[m->waitlist_n] = (model_slot){*ticket, u, 1};
        m->where[u] = m->waitlist_n++;
        m->waitlist_live++;
        m->state[u] = TRIAL_STATE_WAITLISTED;
        slot_model_present_add(m, u);
        return TRIAL_ENROLL_WAITLISTED;
    }
    return TRIAL_ENROLL_FULL;
}

static trial_cancel_result slot_model_cancel(slot_model *m, uint32_t u, uint64_t *promoted) {
    *promoted = 0;
    if (m->state[u] == TRIAL_STATE_NONE) return TRIAL_CANCEL_NOT_FOUND;
    slot_model_present_remove(m, u);
    if (m->state[u] == TRIAL_STATE_WAITLISTED) {
        m->waitlist[m->where[u]].alive = 0;
        m->waitlist_live--;
        m->state[u] = TRIAL_STATE_NONE;
        return TRIAL_CANCEL_LEFT_WAITLIST;
    }
    m->enrolled[m->where[u]].alive = 0;
    m->enrolled_live--;
    m->state[u] = TRIAL_STATE_NONE;
    *promoted = slot_model_promote(m);
    return TRIAL_CANCEL_WITHDRAWN;
}

static trial_state slot_model_status(const slot_model *m, uint32_t u, uint64_t *value) {
    *value = 0;
    if (m->state[u] == TRIAL_STATE_ENROLLED) {
        *value = m->enrolled[m->where[u]].ticket;
    } else if (m->state[u] == TRIAL_STATE_WAITLISTED) {
        uint64_t position = 1;
        for (size_t i = m->waitlist_head; i < m->where[u]; i++) position += m->waitlist[i].alive;
        *value = position;
    }
    return (trial_state)m->state[u];
}

/* Fills `out` with the page, returns the next cursor. */
static uint64_t slot_model_scan(const slot_model *m, uint64_t cursor, size_t count, model_slot *out, size_t *n) {
    size_t lo = 0, hi = m->enrolled_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->enrolled[mid].ticket < cursor) lo = mid + 1;
        else hi = mid;
    }
    *n = 0;
    for (size_t i = lo; i < m->enrolled_n; i++) {
        if (!m->enrolled[i].alive) continue;
        if (*n == count) return m->enrolled[i].ticket;
        out[(*n)++] = m->enrolled[i];
    }
    return 0;
}

static void assert_counts_match(const trial *t, const slot_model *m) {
    assert_int_equal(trial_capacity(t), m->capacity);
    assert_int_equal(trial_enrolled_count(t), m->enrolled_live);
    assert_int_equal(trial_waitlisted_count(t), m->waitlist_live);
    assert_int_equal(trial_remaining(t), slot_model_remaining(m));
    assert_int_equal(trial_next_ticket(t), m->next_ticket);
}

static void assert_lists_match(const trial *t, const slot_model *m) {
    listing r = {0};
    char id[ID_BUF];
    trial_foreach(t, TRIAL_LIST_ENROLLED, collect, &r);
    size_t k = 0;
    for (size_t i = 0; i < m->enrolled_n; i++) {
        if (!m->enrolled[i].alive) continue;
        size_t len = make_id(m->enrolled[i].user, id);
        assert_seen(&r, k++, id, len, m->enrolled[i].ticket);
    }
    assert_int_equal(k, r.n);
    listing_reset(&r);
    trial_foreach(t, TRIAL_LIST_WAITLIST, collect, &r);
    k = 0;
    for (size_t i = m->waitlist_head; i < m->waitlist_n; i++) {
        if (!m->waitlist[i].alive) continue;
        size_t len = make_id(m->waitlist[i].user, id);
        assert_seen(&r, k++, id, len, m->waitlist[i].ticket);
    }
    assert_int_equal(k, r.n);
    listing_free(&r);
}

/* One seed per run (TRIAL_TEST_SEED replays it): the model runs and the core's hash seed. */
static uint64_t run_seed;

/* One randomized run. `growth_ops` first operations keep a roomy capacity so the trial grows (the
 * index doubles many times, with cancels landing while it is rehashed); later ones keep the capacity
 * near the enrolled count so the waitlist, promotions and resizes below the count are exercised. */
typedef struct model_run {
    const char *name;
    size_t ops, growth_ops, users;
    uint64_t capacity, waitlist_max;
    uint64_t growth_capacity_min, growth_capacity_spread;
    uint64_t churn_spread;   /* later resizes: enrolled count +- churn_spread / 2 */
    uint64_t promote_spread; /* occasional resizes far above the enrolled count */
    size_t min_peak;         /* the run must reach this many enrolled users */
} model_run;

static void run_slot_model(const model_run *cfg, uint64_t seed) {
    rng_state = seed;
    printf("%s: TRIAL_TEST_SEED=%" PRIu64 " replays this run\n", cfg->name, run_seed);
    fflush(stdout);

    slot_model m;
    slot_model_init(&m, cfg->users, cfg->ops + 1, cfg->capacity, cfg->waitlist_max);
    trial *t = new_trial(cfg->capacity, cfg->waitlist_max);
    model_slot *page = malloc(64 * sizeof(*page));
    listing r = {0};
    char id[ID_BUF];
    uint32_t fresh = 0; /* users below this have been tried */
    uint64_t scan_cursor = 0;
    size_t most_enrolled = 0, scans_finished = 0, promotions = 0;

    for (size_t op = 0; op < cfg->ops; op++) {
        int growth = op < cfg->growth_ops;
        uint64_t dice = rng_below(100);
        if (dice < (growth ? 68u : 42u)) { /* enroll: mostly newcomers, sometimes a known user */
            uint32_t u;
            if (rng_below(10) == 0 && fresh > 0) u = (uint32_t)rng_below(fresh);
            else u = fresh < cfg->users ? fresh++ : (uint32_t)rng_below(cfg->users);
            size_t len = make_id(u, id);
            uint64_t want_ticket = 0, got_ticket = 0;
            trial_enroll_result want = slot_model_enroll(&m, u, &want_ticket);
            trial_enroll_result got = trial_enroll(t, id, len, &got_ticket);
            if (got != want) fail_msg("op %zu: enroll u%" PRIu32 ": got %d, model %d", op, u, got, want);
            if (want == TRIAL_ENROLL_ENROLLED || want == TRIAL_ENROLL_WAITLISTED)
                assert_int_equal(got_ticket, want_ticket);
        } else if (dice < (growth ? 90u : 82u)) { /* cancel: mostly present users */
            uint32_t u;
            if (rng_below(20) == 0 || m.present_n == 0) u = (uint32_t)rng_below(cfg->users);
            else u = m.present[rng_below(m.present_n)];
            size_t len = make_id(u, id);
            uint64_t want_promoted, got_promoted = 99;
            trial_cancel_result want = slot_model_cancel(&m, u, &want_promoted);
            trial_cancel_result got = trial_cancel(t, id, len, &got_promoted);
            if (got != want || got_promoted != want_promoted)
                fail_msg("op %zu: cancel u%" PRIu32 ": got %d (+%" PRIu64 " promoted), model %d (+%" PRIu64 ")", op,
                         u, got, got_promoted, want, want_promoted);
        } else if (dice < (growth ? 95u : 88u)) { /* status */
            uint32_t u;
            if (rng_below(4) == 0 || m.present_n == 0) u = (uint32_t)rng_below(cfg->users);
            else u = m.present[rng_below(m.present_n)];
            size_t len = make_id(u, id);
            uint64_t want_value, got_value = 99;
            trial_state want = slot_model_status(&m, u, &want_value);
            trial_state got = trial_status(t, id, len, &got_value);
            if (got != want || got_value != want_value)
                fail_msg("op %zu: status u%" PRIu32 ": got %d/%" PRIu64 ", model %d/%" PRIu64, op, u, got, got_value,
                         want, want_value);
        } else if (dice < 98) { /* scan: continue the running scan with a random page size */
            size_t count = 1 + (size_t)rng_below(64);
            size_t n;
            uint64_t want = slot_model_scan(&m, scan_cursor, count, page, &n);
            listing_reset(&r);
            uint64_t got = trial_scan(t, scan_cursor, count, collect, &r);
            if (got != want || r.n != n)
                fail_msg("op %zu: scan from %" PRIu64 " count %zu: got cursor %" PRIu64 " and %zu users, model %" PRIu64
                         " and %zu", op, scan_cursor, count, got, r.n, want, n);
            for (size_t i = 0; i < n; i++) {
                size_t len = make_id(page[i].user, id);
                assert_seen(&r, i, id, len, page[i].ticket);
            }
            scan_cursor = got;
            if (got == 0) scans_finished++;
        } else { /* resize */
            uint64_t capacity, live = m.enrolled_live;
            if (growth) {
                capacity = cfg->growth_capacity_min + rng_below(cfg->growth_capacity_spread);
            } else {
                uint64_t roll = rng_below(10);
                uint64_t half = cfg->churn_spread / 2;
                if (roll == 0) capacity = 0;
                else if (roll <= 2) capacity = live + 1 + rng_below(cfg->promote_spread); /* promote many */
                else capacity = live + rng_below(cfg->churn_spread + 1) - (live >= half ? half : live);
            }
            m.capacity = capacity;
            uint64_t want = slot_model_promote(&m);
            promotions += want;
            uint64_t got = trial_resize(t, capacity);
            if (got != want)
                fail_msg("op %zu: resize to %" PRIu64 ": promoted %" PRIu64 ", model %" PRIu64, op, capacity, got, want);
        }
        assert_counts_match(t, &m);
        if (m.enrolled_live > most_enrolled) most_enrolled = m.enrolled_live;
        if (op % 997 == 0 || !growth) {
            int rc = (op % 997 == 0 || m.enrolled_live + m.waitlist_live < 2000) ? trial_check(t) : 0;
            if (rc != 0) fail_msg("op %zu: trial_check %d (TRIAL_TEST_SEED=%" PRIu64 ")", op, rc, run_seed);
        }
        if (op % 25000 == 0) {
            assert_lists_match(t, &m);
            assert_int_equal(trial_memory_usage(t), bytes_in_use());
        }
        if (heap.corrupted) fail_msg("op %zu: a block was written past its end (TRIAL_TEST_SEED=%" PRIu64 ")", op, run_seed);
    }
    assert_int_equal(trial_check(t), 0);
    assert_lists_match(t, &m);
    assert_round_trip(t);
    assert_true(most_enrolled >= cfg->min_peak);
    assert_true(scans_finished > 0);
    assert_true(promotions > 0);
    printf("%s: peak %zu enrolled, %zu scans finished, %zu promoted by resize\n", cfg->name, most_enrolled,
           scans_finished, promotions);

    listing_free(&r);
    free(page);
    slot_model_free(&m);
    trial_free(t);
}

static void core_matches_a_reference_model_while_growing_past_forty_thousand_users(void **state) {
    (void)state;
    const model_run cfg = {
        .name = "growing model run",
        .ops = 200000,
        .growth_ops = 110000,
        .users = 400000,
        .capacity = 60000,
        .waitlist_max = 2500,
        .growth_capacity_min = 50000,
        .growth_capacity_spread = 20000,
        .churn_spread = 600,
        .promote_spread = 4000,
        .min_peak = 40000,
    };
    run_slot_model(&cfg, run_seed);
}

static void core_matches_a_reference_model_on_a_small_churning_trial(void **state) {
    (void)state;
    const model_run cfg = {
        .name = "churning model run",
        .ops = 100000,
        .growth_ops = 500,
        .users = 5000,
        .capacity = 40,
        .waitlist_max = 300,
        .growth_capacity_min = 30,
        .growth_capacity_spread = 60,
        .churn_spread = 30,
        .promote_spread = 300,
        .min_peak = 30,
    };
    run_slot_model(&cfg, run_seed ^ 0x5eed5eed5eedULL);
}

/* ==== main ======================================================================================= */
#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void) {
    core_set_allocator(&counting_allocator);
    run_seed = seed_trial_hash("test_trial_model");
    init_pool();
    const struct CMUnitTest tests[] = {
        TEST(random_operations_match_a_reference_model),
        TEST(core_matches_a_reference_model_while_growing_past_forty_thousand_users),
        TEST(core_matches_a_reference_model_on_a_small_churning_trial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
