/* test_trial_listing.c -- cmocka tests of the enrollment core (module/trial.h), linked without
 * Redis: walking a trial's lists. trial_foreach visits a whole list in arrival order; trial_scan
 * pages through the enrolled users by arrival number (the ENROLL.MEMBERS cursor), also while users
 * come and go between pages.
 *
 * Runs on the shared counting allocator (counting_allocator.h); each test fails if it leaves
 * anything allocated through the core. TRIAL_TEST_SEED replays the printed hash seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "counting_allocator.h"
#include "memory_stream.h"
#include "trial_fixtures.h"

/* ==== foreach ==================================================================================== */
static void foreach_visits_each_list_in_arrival_order(void **state) {
    (void)state;
    trial *t = new_trial(3, 3);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave", "eve"}, 5);
    listing enrolled = list_of(t, TRIAL_LIST_ENROLLED);
    listing waiting = list_of(t, TRIAL_LIST_WAITLIST);
    assert_int_equal(enrolled.n, 3);
    assert_string_equal(enrolled.users[0], "alice");
    assert_int_equal(enrolled.tickets[0], 1);
    assert_string_equal(enrolled.users[1], "bob");
    assert_int_equal(enrolled.tickets[1], 2);
    assert_string_equal(enrolled.users[2], "carol");
    assert_int_equal(enrolled.tickets[2], 3);
    assert_int_equal(waiting.n, 2);
    assert_string_equal(waiting.users[0], "dave");
    assert_int_equal(waiting.tickets[0], 4);
    assert_string_equal(waiting.users[1], "eve");
    assert_int_equal(waiting.tickets[1], 5);
    listing_free(&enrolled);
    listing_free(&waiting);
    trial_free(t);
}

static void foreach_visits_both_lists_in_arrival_order(void **state) {
    (void)state;
    trial *t = new_trial(3, 4);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("c"), TRIAL_ENROLL_ENROLLED, 3);
    enroll_ok(t, S("w1"), TRIAL_ENROLL_WAITLISTED, 4);
    enroll_ok(t, S("w2"), TRIAL_ENROLL_WAITLISTED, 5);
    enroll_ok(t, S("w3"), TRIAL_ENROLL_WAITLISTED, 6);
    assert_int_equal(trial_cancel(t, S("b"), NULL), TRIAL_CANCEL_WITHDRAWN); /* promotes w1 */
    assert_int_equal(trial_cancel(t, S("w2"), NULL), TRIAL_CANCEL_LEFT_WAITLIST);
    enroll_ok(t, S("w4"), TRIAL_ENROLL_WAITLISTED, 7);

    listing r = {0};
    assert_int_equal(trial_foreach(t, TRIAL_LIST_ENROLLED, collect, &r), 0);
    assert_int_equal(r.n, 3);
    assert_seen(&r, 0, S("a"), 1);
    assert_seen(&r, 1, S("c"), 3);
    assert_seen(&r, 2, S("w1"), 4);
    listing_reset(&r);
    assert_int_equal(trial_foreach(t, TRIAL_LIST_WAITLIST, collect, &r), 0);
    assert_int_equal(r.n, 2);
    assert_seen(&r, 0, S("w3"), 6);
    assert_seen(&r, 1, S("w4"), 7);
    listing_free(&r);
    trial_free(t);
}

static void foreach_skips_cancelled_users(void **state) {
    (void)state;
    trial *t = new_trial(5, 0);
    enroll_all(t, (const char *[]){"alice", "bob", "carol"}, 3);
    cancel(t, "bob");
    listing l = list_of(t, TRIAL_LIST_ENROLLED);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.users[0], "alice");
    assert_string_equal(l.users[1], "carol");
    listing_free(&l);
    trial_free(t);
}

static int stop_after_two(const char *user, size_t len, uint64_t ticket, void *ctx) {
    (void)user;
    (void)len;
    (void)ticket;
    int *visits = ctx;
    return ++*visits == 2;
}

static void foreach_stops_when_the_visitor_asks(void **state) {
    (void)state;
    trial *t = new_trial(5, 0);
    enroll_all(t, (const char *[]){"alice", "bob", "carol"}, 3);
    int visits = 0;
    assert_int_not_equal(trial_foreach(t, TRIAL_LIST_ENROLLED, stop_after_two, &visits), 0);
    assert_int_equal(visits, 2);
    trial_free(t);
}

static void foreach_stops_after_the_user_the_visitor_says_is_its_last(void **state) {
    (void)state;
    trial *t = new_trial(3, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("c"), TRIAL_ENROLL_ENROLLED, 3);
    listing r = {0};
    r.stop_after = 2;
    assert_int_not_equal(trial_foreach(t, TRIAL_LIST_ENROLLED, collect, &r), 0);
    assert_int_equal(r.n, 2);
    listing_free(&r);
    trial_free(t);
}

/* ==== scan ======================================================================================= */
static void scanning_pages_through_enrolled_users_in_arrival_order(void **state) {
    (void)state;
    trial *t = numbered_trial(25);
    listing seen = {0, 0, NULL, NULL, NULL, 0};
    uint64_t cursor = 0;
    size_t pages = 0;
    do {
        size_t before = seen.n;
        cursor = trial_scan(t, cursor, 10, collect, &seen);
        assert_true(seen.n - before <= 10);
        pages++;
    } while (cursor != 0 && pages < 100);
    assert_int_equal(cursor, 0);
    assert_int_equal(seen.n, 25);
    char id[32];
    for (size_t i = 0; i < 25; i++) {
        assert_string_equal(seen.users[i], numbered(id, i));
        assert_int_equal(seen.tickets[i], i + 1);
    }
    listing_free(&seen);
    trial_free(t);
}

static void scan_pages_in_arrival_order_and_returns_the_next_arrival_number(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("c"), TRIAL_ENROLL_ENROLLED, 3);
    enroll_ok(t, S("d"), TRIAL_ENROLL_ENROLLED, 4);
    enroll_ok(t, S("e"), TRIAL_ENROLL_ENROLLED, 5);
    listing r = {0};
    uint64_t cursor = trial_scan(t, 0, 2, collect, &r);
    assert_int_equal(cursor, 3);
    assert_int_equal(r.n, 2);
    assert_seen(&r, 0, S("a"), 1);
    assert_seen(&r, 1, S("b"), 2);
    listing_reset(&r);
    cursor = trial_scan(t, cursor, 2, collect, &r);
    assert_int_equal(cursor, 5);
    assert_seen(&r, 1, S("d"), 4);
    listing_reset(&r);
    cursor = trial_scan(t, cursor, 2, collect, &r);
    assert_int_equal(cursor, 0);
    assert_int_equal(r.n, 1);
    assert_seen(&r, 0, S("e"), 5);
    listing_free(&r);
    trial_free(t);
}

static void scanning_with_count_one_returns_one_user_per_page(void **state) {
    (void)state;
    trial *t = numbered_trial(7);
    listing seen = {0, 0, NULL, NULL, NULL, 0};
    uint64_t cursor = 0;
    size_t pages = 0;
    do {
        size_t before = seen.n;
        cursor = trial_scan(t, cursor, 1, collect, &seen);
        assert_true(seen.n - before <= 1);
        if (cursor != 0) assert_int_equal(seen.n - before, 1);
        pages++;
    } while (cursor != 0 && pages < 100);
    assert_int_equal(seen.n, 7);
    for (size_t i = 0; i < 7; i++) assert_int_equal(seen.tickets[i], i + 1);
    listing_free(&seen);
    trial_free(t);
}

static void scan_with_count_one_visits_every_user_once(void **state) {
    (void)state;
    char id[ID_BUF];
    trial *t = new_trial(100, 0);
    for (uint32_t i = 0; i < 50; i++) assert_int_equal(trial_enroll(t, id, make_id(i, id), NULL), 1);
    for (uint32_t i = 0; i < 50; i += 3) assert_int_equal(trial_cancel(t, id, make_id(i, id), NULL), 1);
    listing r = {0};
    uint64_t cursor = 0;
    size_t pages = 0;
    do {
        size_t before = r.n;
        cursor = trial_scan(t, cursor, 1, collect, &r);
        assert_int_equal(r.n, before + 1);
        pages++;
    } while (cursor != 0);
    assert_int_equal(pages, trial_enrolled_count(t));
    size_t k = 0;
    for (uint32_t i = 0; i < 50; i++) {
        if (i % 3 == 0) continue;
        size_t len = make_id(i, id);
        assert_seen(&r, k++, id, len, i + 1);
    }
    listing_free(&r);
    trial_free(t);
}

static void scanning_from_a_cursor_past_the_end_returns_zero_and_nobody(void **state) {
    (void)state;
    trial *t = numbered_trial(5);
    listing seen = {0, 0, NULL, NULL, NULL, 0};
    assert_int_equal(trial_scan(t, 6, 10, collect, &seen), 0);
    assert_int_equal(trial_scan(t, 1000, 10, collect, &seen), 0);
    assert_int_equal(trial_scan(t, UINT64_MAX, 10, collect, &seen), 0);
    assert_int_equal(seen.n, 0);
    listing_free(&seen);
    trial_free(t);
}

static void scan_with_a_cursor_past_the_end_returns_zero_and_visits_nobody(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    listing r = {0};
    assert_int_equal(trial_scan(t, 3, 10, collect, &r), 0);
    assert_int_equal(trial_scan(t, 1000, 10, collect, &r), 0);
    assert_int_equal(trial_scan(t, UINT64_MAX, 10, collect, &r), 0);
    assert_int_equal(r.n, 0);
    listing_free(&r);
    trial_free(t);

    t = new_trial(10, 0);
    assert_int_equal(trial_scan(t, 0, 10, NULL, NULL), 0);
    trial_free(t);
}

static void scanning_an_empty_trial_returns_zero_and_nobody(void **state) {
    (void)state;
    trial *t = new_trial(3, 3);
    listing seen = {0, 0, NULL, NULL, NULL, 0};
    assert_int_equal(trial_scan(t, 0, 10, collect, &seen), 0);
    assert_int_equal(seen.n, 0);
    listing_free(&seen);
    trial_free(t);
}

static void scan_without_a_visitor_returns_the_next_cursor(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("c"), TRIAL_ENROLL_ENROLLED, 3);
    enroll_ok(t, S("d"), TRIAL_ENROLL_ENROLLED, 4);
    assert_int_equal(trial_cancel(t, S("c"), NULL), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_scan(t, 0, 2, NULL, NULL), 4);
    assert_int_equal(trial_scan(t, 2, 1, NULL, NULL), 4);
    assert_int_equal(trial_scan(t, 3, 1, NULL, NULL), 0);
    assert_int_equal(trial_scan(t, 0, 3, NULL, NULL), 0);
    trial_free(t);
}

static void scanning_returns_only_enrolled_users(void **state) {
    (void)state;
    trial *t = new_trial(2, 5);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave"}, 4);
    listing seen = {0, 0, NULL, NULL, NULL, 0};
    assert_int_equal(trial_scan(t, 0, 100, collect, &seen), 0);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.users[0], "alice");
    assert_string_equal(seen.users[1], "bob");
    listing_free(&seen);
    trial_free(t);
}

static void scanning_from_a_cursor_starts_at_that_arrival_number(void **state) {
    (void)state;
    trial *t = numbered_trial(10);
    cancel(t, "user:000000000004"); /* ticket 5 */
    listing seen = {0, 0, NULL, NULL, NULL, 0};
    trial_scan(t, 5, 2, collect, &seen);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.tickets[0], 6);
    assert_int_equal(seen.tickets[1], 7);
    listing_free(&seen);
    trial_free(t);
}

/* Users 0..N-1 with i % 3 != 0 stay for the whole scan; the others are cancelled, re-enrolled and
 * joined by newcomers between pages. */
static void scan_with_changes_between_pages(uint64_t seed) {
    enum { N = 600 };
    trial *t = numbered_trial(N);
    unsigned char visits[N + 4000];
    memset(visits, 0, sizeof(visits));
    unsigned long next_new = N;
    uint64_t rng = seed, cursor = 0, last_ticket = 0;
    size_t pages = 0;
    char id[32];
    do {
        listing page = {0, 0, NULL, NULL, NULL, 0};
        size_t count = 1 + (size_t)(next_random(&rng) % 20);
        cursor = trial_scan(t, cursor, count, collect, &page);
        assert_true(page.n <= count);
        for (size_t i = 0; i < page.n; i++) {
            unsigned long n = strtoul(page.users[i] + 5, NULL, 10);
            assert_true(n < sizeof(visits));
            visits[n]++;
            assert_true(page.tickets[i] > last_ticket); /* the whole scan is in arrival order */
            last_ticket = page.tickets[i];
            assert_true(cursor == 0 || page.tickets[i] < cursor);
        }
        listing_free(&page);
        /* churn: a few cancels, re-enrollments and newcomers */
        for (int k = 0; k < 6; k++) {
            uint64_t r = next_random(&rng);
            unsigned long victim = 3 * (unsigned long)((r >> 8) % (N / 3));
            if (r % 3 == 0) {
                cancel(t, numbered(id, victim));
            } else if (r % 3 == 1) {
                enroll(t, numbered(id, victim));
            } else if (next_new < sizeof(visits)) {
                assert_int_equal(enroll(t, numbered(id, next_new++)), TRIAL_ENROLL_ENROLLED);
            }
        }
        assert_int_equal(trial_check(t), 0);
        pages++;
    } while (cursor != 0 && pages < 10000);
    assert_int_equal(cursor, 0);
    for (unsigned long i = 0; i < N; i++)
        if (i % 3 != 0) assert_int_equal(visits[i], 1);
    for (unsigned long i = N; i < next_new; i++) assert_true(visits[i] <= 1);
    trial_free(t);
}

static void scanning_returns_every_user_present_for_the_whole_scan_exactly_once(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) scan_with_changes_between_pages(seed);
}

static void scan_returns_each_user_present_for_the_whole_scan_exactly_once(void **state) {
    (void)state;
    enum { FIRST = 400, WAITING = 100, POOL = 4000 };
    char id[ID_BUF];
    for (size_t count = 1; count <= 9; count += 4) {
        trial *t = new_trial(FIRST, WAITING);
        int *visits = calloc(POOL, sizeof(int));
        uint32_t next_new = FIRST + WAITING;
        for (uint32_t i = 0; i < FIRST + WAITING; i++) assert_true(trial_enroll(t, id, make_id(i, id), NULL) > 0);
        /* Users i < FIRST with i % 3 != 0 stay for the whole scan; the others come and go. */
        uint32_t victim = 0;
        uint64_t cursor = 0;
        listing r = {0};
        do {
            listing_reset(&r);
            cursor = trial_scan(t, cursor, count, collect, &r);
            assert_true(r.n <= count);
            for (size_t k = 0; k < r.n; k++) {
                uint32_t who = user_number(r.users[k], r.lens[k]);
                assert_true(who < POOL);
                visits[who]++;
            }
            /* Between pages: cancel a transient enrolled user (promoting a waitlisted one), cancel
             * a waitlisted one, enroll newcomers. */
            while (victim < FIRST && victim % 3 != 0) victim++;
            if (victim < FIRST) {
                assert_int_equal(trial_cancel(t, id, make_id(victim, id), NULL), TRIAL_CANCEL_WITHDRAWN);
                victim++;
            }
            if (next_new + 2 < POOL) {
                (void)trial_enroll(t, id, make_id(next_new++, id), NULL);
                (void)trial_enroll(t, id, make_id(next_new++, id), NULL);
            }
            assert_int_equal(trial_check(t), 0);
        } while (cursor != 0);
        for (uint32_t i = 0; i < POOL; i++) {
            if (i < FIRST && i % 3 != 0) assert_int_equal(visits[i], 1);
            else assert_true(visits[i] <= 1);
        }
        listing_free(&r);
        free(visits);
        trial_free(t);
    }
}

static void scanning_continues_when_the_next_user_is_cancelled_between_pages(void **state) {
    (void)state;
    trial *t = numbered_trial(6);
    listing seen = {0, 0, NULL, NULL, NULL, 0};
    uint64_t cursor = trial_scan(t, 0, 2, collect, &seen);
    assert_int_equal(cursor, 3);
    cancel(t, "user:000000000002"); /* ticket 3, the cursor itself */
    cancel(t, "user:000000000003"); /* ticket 4 */
    cursor = trial_scan(t, cursor, 2, collect, &seen);
    assert_int_equal(seen.n, 4);
    assert_int_equal(seen.tickets[2], 5);
    assert_int_equal(seen.tickets[3], 6);
    if (cursor != 0) assert_int_equal(trial_scan(t, cursor, 2, collect, &seen), 0);
    assert_int_equal(seen.n, 4);
    listing_free(&seen);
    trial_free(t);
}

static void scan_resumes_after_a_visitor_that_stops(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("c"), TRIAL_ENROLL_ENROLLED, 3);
    listing r = {0};
    r.stop_after = 1;
    assert_int_equal(trial_scan(t, 0, 10, collect, &r), 2);
    assert_int_equal(r.n, 1);
    listing_free(&r);
    trial_free(t);
}

/* ==== main ======================================================================================= */
#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void) {
    core_set_allocator(&counting_allocator);
    seed_trial_hash("test_trial_listing");
    const struct CMUnitTest tests[] = {
        TEST(foreach_visits_each_list_in_arrival_order),
        TEST(foreach_visits_both_lists_in_arrival_order),
        TEST(foreach_skips_cancelled_users),
        TEST(foreach_stops_when_the_visitor_asks),
        TEST(foreach_stops_after_the_user_the_visitor_says_is_its_last),
        TEST(scanning_pages_through_enrolled_users_in_arrival_order),
        TEST(scan_pages_in_arrival_order_and_returns_the_next_arrival_number),
        TEST(scanning_with_count_one_returns_one_user_per_page),
        TEST(scan_with_count_one_visits_every_user_once),
        TEST(scanning_from_a_cursor_past_the_end_returns_zero_and_nobody),
        TEST(scan_with_a_cursor_past_the_end_returns_zero_and_visits_nobody),
        TEST(scanning_an_empty_trial_returns_zero_and_nobody),
        TEST(scan_without_a_visitor_returns_the_next_cursor),
        TEST(scanning_returns_only_enrolled_users),
        TEST(scanning_from_a_cursor_starts_at_that_arrival_number),
        TEST(scanning_returns_every_user_present_for_the_whole_scan_exactly_once),
        TEST(scan_returns_each_user_present_for_the_whole_scan_exactly_once),
        TEST(scanning_continues_when_the_next_user_is_cancelled_between_pages),
        TEST(scan_resumes_after_a_visitor_that_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
