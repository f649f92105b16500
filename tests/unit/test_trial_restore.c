/* test_trial_restore.c -- cmocka tests of the enrollment core (module/trial.h), linked without
 * Redis: copying a trial (identical, independent, counters kept) and restoring users into one
 * (SLOTS.RESTORE: appended with their arrival numbers, all or nothing, every refusal: duplicates,
 * arrival numbers that do not increase, are zero or belong to the other list, bad user ids), and
 * raising the next arrival number.
 *
 * Runs on the shared counting allocator (counting_allocator.h); each test fails if it leaves
 * anything allocated through the core. Snapshots compare the serialized form (memory_stream.h).
 * TRIAL_TEST_SEED replays the printed hash seed. */
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

/* ==== copy ======================================================================================= */
static void a_copy_is_identical_to_its_original(void **state) {
    (void)state;
    trial *t = busy_trial();
    trial *c = trial_copy(t);
    assert_non_null(c);
    assert_int_equal(trial_check(c), 0);
    assert_trials_equal(t, c);
    trial_free(c);
    trial_free(t);
}

static void a_copy_is_independent_of_its_original(void **state) {
    (void)state;
    trial *t = busy_trial();
    buffer original = save(t);
    trial *c = trial_copy(t);
    assert_non_null(c);
    assert_int_equal(cancel(c, "alice"), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(enroll(c, "zoe"), TRIAL_ENROLL_WAITLISTED);
    trial_resize(c, 50);
    assert_unchanged(t, &original);
    buffer copy_state = save(c);
    assert_int_equal(cancel(t, "carol"), TRIAL_CANCEL_WITHDRAWN);
    assert_unchanged(c, &copy_state);
    trial_free(t);
    assert_int_equal(status(c, "carol", NULL), TRIAL_STATE_ENROLLED);
    assert_int_equal(trial_check(c), 0);
    trial_free(c);
    buffer_free(&original);
    buffer_free(&copy_state);
}

static void copy_is_identical_and_independent(void **state) {
    (void)state;
    char id[ID_BUF];
    trial *t = new_trial(300, 100);
    for (uint32_t i = 0; i < 380; i++) assert_true(trial_enroll(t, id, make_id(i, id), NULL) > 0);
    for (uint32_t i = 0; i < 380; i += 7) assert_true(trial_cancel(t, id, make_id(i, id), NULL) > 0);
    trial_resize(t, 250);
    for (uint32_t i = 1; i < 100; i += 7) (void)trial_cancel(t, id, make_id(i, id), NULL);
    assert_int_equal(trial_check(t), 0);

    trial *c = trial_copy(t);
    assert_non_null(c);
    assert_int_equal(trial_check(c), 0);
    assert_same_state(t, c);
    assert_int_equal(trial_capacity(c), 250);
    assert_int_equal(trial_waitlist_max(c), 100);
    assert_int_equal(trial_next_ticket(c), trial_next_ticket(t));
    assert_int_equal(trial_enrolled_count(c), trial_enrolled_count(t));
    assert_int_equal(trial_waitlisted_count(c), trial_waitlisted_count(t));
    assert_int_equal(bytes_in_use(), trial_memory_usage(t) + trial_memory_usage(c));

    /* Changing the copy leaves the original alone, and the other way round. */
    buffer before = save(t);
    assert_int_equal(trial_cancel(c, id, make_id(2, id), NULL), TRIAL_CANCEL_WITHDRAWN);
    trial_resize(c, 1000);
    assert_true(trial_enroll(c, S("newcomer"), NULL) > 0);
    buffer after = save(t);
    assert_int_equal(before.len, after.len);
    assert_memory_equal(before.data, after.data, before.len);
    assert_int_equal(trial_status(t, id, make_id(2, id), NULL), TRIAL_STATE_ENROLLED);
    assert_int_equal(trial_status(t, S("newcomer"), NULL), TRIAL_STATE_NONE);
    trial_free(t);
    assert_int_equal(trial_check(c), 0);
    assert_int_equal(trial_status(c, S("newcomer"), NULL), TRIAL_STATE_ENROLLED);
    buffer_free(&before);
    buffer_free(&after);
    trial_free(c);
}

static void a_copy_keeps_arrival_numbers_going(void **state) {
    (void)state;
    trial *t = busy_trial();
    trial *c = trial_copy(t);
    assert_non_null(c);
    trial_resize(c, 100);
    assert_int_equal(enroll_ticket(c, "zoe"), trial_next_ticket(t));
    trial_free(c);
    trial_free(t);
}

static void copy_of_an_empty_trial_keeps_its_counters(void **state) {
    (void)state;
    trial *t = new_trial(5, 2);
    trial_raise_next_ticket(t, 40);
    trial *c = trial_copy(t);
    assert_non_null(c);
    assert_int_equal(trial_next_ticket(c), 40);
    assert_int_equal(trial_capacity(c), 5);
    assert_int_equal(trial_waitlist_max(c), 2);
    trial_free(t);
    trial_free(c);
}

/* ==== restore ==================================================================================== */
static void restoring_appends_users_with_their_arrival_numbers(void **state) {
    (void)state;
    trial *t = new_trial(10, 5);
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 3, (uint64_t[]){4, 9, 20},
                             (const char *[]){"alice", "bob", "carol"}, NULL),
                     TRIAL_RESTORE_OK);
    uint64_t value = 0;
    assert_int_equal(status(t, "bob", &value), TRIAL_STATE_ENROLLED);
    assert_int_equal(value, 9);
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 1, (uint64_t[]){21}, (const char *[]){"dave"}, NULL),
                     TRIAL_RESTORE_OK);
    listing l = list_of(t, TRIAL_LIST_ENROLLED);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.users[3], "dave");
    assert_int_equal(l.tickets[3], 21);
    listing_free(&l);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void restore_appends_users_and_raises_the_next_ticket(void **state) {
    (void)state;
    trial *t = new_trial(2, 5);
    const uint64_t tickets[] = {5, 9};
    const char *users[] = {"a", "b\0x"};
    const size_t lens[] = {1, 3};
    size_t failed_at = 99;
    assert_int_equal(trial_restore(t, TRIAL_LIST_ENROLLED, 2, tickets, users, lens, &failed_at), TRIAL_RESTORE_OK);
    assert_int_equal(trial_next_ticket(t), 10);
    const uint64_t wt[] = {12, 20};
    const char *wu[] = {"w1", "w2"};
    const size_t wl[] = {2, 2};
    assert_int_equal(trial_restore(t, TRIAL_LIST_WAITLIST, 2, wt, wu, wl, NULL), TRIAL_RESTORE_OK);
    assert_int_equal(trial_next_ticket(t), 21);
    uint64_t v;
    assert_int_equal(trial_status(t, S("b\0x"), &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 9);
    assert_int_equal(trial_status(t, S("w2"), &v), TRIAL_STATE_WAITLISTED);
    assert_int_equal(v, 2);
    enroll_ok(t, S("late"), TRIAL_ENROLL_WAITLISTED, 21);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void restoring_fills_the_waitlist_in_the_given_order(void **state) {
    (void)state;
    trial *t = new_trial(1, 5);
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 1, (uint64_t[]){1}, (const char *[]){"alice"}, NULL),
                     TRIAL_RESTORE_OK);
    assert_int_equal(restore(t, TRIAL_LIST_WAITLIST, 2, (uint64_t[]){7, 8}, (const char *[]){"bob", "carol"}, NULL),
                     TRIAL_RESTORE_OK);
    uint64_t value = 0;
    assert_int_equal(status(t, "bob", &value), TRIAL_STATE_WAITLISTED);
    assert_int_equal(value, 1);
    assert_int_equal(status(t, "carol", &value), TRIAL_STATE_WAITLISTED);
    assert_int_equal(value, 2);
    assert_int_equal(cancel(t, "alice"), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(status(t, "bob", &value), TRIAL_STATE_ENROLLED);
    assert_int_equal(value, 7);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void restore_onto_the_waitlist_with_free_slots_promotes_at_once(void **state) {
    (void)state;
    trial *t = new_trial(2, 5);
    const uint64_t tickets[] = {3, 4, 8};
    const char *users[] = {"w1", "w2", "w3"};
    const size_t lens[] = {2, 2, 2};
    assert_int_equal(trial_restore(t, TRIAL_LIST_WAITLIST, 3, tickets, users, lens, NULL), TRIAL_RESTORE_OK);
    uint64_t v;
    assert_int_equal(trial_status(t, S("w1"), &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 3);
    assert_int_equal(trial_status(t, S("w2"), &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(trial_status(t, S("w3"), &v), TRIAL_STATE_WAITLISTED);
    assert_int_equal(v, 1);
    assert_int_equal(trial_next_ticket(t), 9);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void restoring_raises_the_next_arrival_number_above_every_restored_one(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 2, (uint64_t[]){5, 50}, (const char *[]){"alice", "bob"}, NULL),
                     TRIAL_RESTORE_OK);
    assert_int_equal(trial_next_ticket(t), 51);
    assert_int_equal(enroll_ticket(t, "carol"), 51);
    trial_free(t);
}

static void restoring_lower_arrival_numbers_keeps_the_next_one(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    trial_raise_next_ticket(t, 100);
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 1, (uint64_t[]){5}, (const char *[]){"alice"}, NULL),
                     TRIAL_RESTORE_OK);
    assert_int_equal(trial_next_ticket(t), 100);
    trial_free(t);
}

static void restoring_more_users_than_the_capacity_is_allowed(void **state) {
    (void)state;
    trial *t = new_trial(1, 0);
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 3, (uint64_t[]){1, 2, 3},
                             (const char *[]){"alice", "bob", "carol"}, NULL),
                     TRIAL_RESTORE_OK);
    assert_int_equal(trial_enrolled_count(t), 3);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

/* ==== restore refusals: all or nothing =========================================================== */
static trial *trial_with_two_users(void) {
    trial *t = new_trial(10, 10);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    return t;
}

static void assert_restore_fails(trial_list list, size_t n, const uint64_t *tickets, const char *const *users,
                                 const size_t *lens, trial_restore_result want, size_t want_failed_at) {
    trial *t = trial_with_two_users();
    trial *untouched = trial_with_two_users();
    size_t failed_at = 999;
    assert_int_equal(trial_restore(t, list, n, tickets, users, lens, &failed_at), want);
    assert_int_equal(failed_at, want_failed_at);
    assert_same_state(t, untouched);
    assert_int_equal(trial_next_ticket(t), 3);
    assert_int_equal(trial_check(t), 0);
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == 0 || lens[i] > TRIAL_MAX_USER_LEN) continue;
        if ((lens[i] == 1 && (users[i][0] == 'a' || users[i][0] == 'b'))) continue;
        assert_int_equal(trial_status(t, users[i], lens[i], NULL), TRIAL_STATE_NONE);
    }
    trial_free(t);
    trial_free(untouched);
}

static void restoring_is_all_or_nothing(void **state) {
    (void)state;
    trial *t = new_trial(10, 5);
    enroll_all(t, (const char *[]){"alice", "bob"}, 2);
    buffer before = save(t);
    size_t failed_at = 99;
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 4, (uint64_t[]){10, 11, 12, 13},
                             (const char *[]){"carol", "dave", "bob", "eve"}, &failed_at),
                     TRIAL_RESTORE_DUPLICATE);
    assert_int_equal(failed_at, 2);
    assert_unchanged(t, &before);
    assert_int_equal(status(t, "carol", NULL), TRIAL_STATE_NONE);
    assert_int_equal(status(t, "dave", NULL), TRIAL_STATE_NONE);
    assert_int_equal(trial_next_ticket(t), 3);
    assert_int_equal(trial_check(t), 0);
    buffer_free(&before);
    trial_free(t);
}

static void restoring_a_large_failing_batch_leaves_the_trial_as_it_was(void **state) {
    (void)state;
    enum { N = 3000 };
    trial *t = numbered_trial(5);
    buffer before = save(t);
    char (*ids)[32] = malloc(N * sizeof(*ids));
    const char **users = malloc(N * sizeof(*users));
    size_t *lens = malloc(N * sizeof(*lens));
    uint64_t *tickets = malloc(N * sizeof(*tickets));
    assert_true(ids && users && lens && tickets);
    for (size_t i = 0; i < N; i++) {
        users[i] = numbered(ids[i], 100 + i);
        lens[i] = strlen(users[i]);
        tickets[i] = 100 + i;
    }
    lens[N - 1] = 0; /* the last one is bad */
    size_t failed_at = 0;
    assert_int_equal(trial_restore(t, TRIAL_LIST_ENROLLED, N, tickets, users, lens, &failed_at),
                     TRIAL_RESTORE_BAD_USER);
    assert_int_equal(failed_at, N - 1);
    assert_unchanged(t, &before);
    assert_int_equal(trial_check(t), 0);
    assert_int_equal(enroll_ticket(t, "zoe"), 6);
    free(ids);
    free(users);
    free(lens);
    free(tickets);
    buffer_free(&before);
    trial_free(t);
}

static void restore_failing_after_index_growth_changes_nothing(void **state) {
    (void)state;
    /* A batch large enough to grow the index and the sequence before the bad pair. */
    enum { N = 3000 };
    char (*ids)[ID_BUF] = malloc(N * sizeof(*ids));
    const char **users = malloc(N * sizeof(*users));
    size_t *lens = malloc(N * sizeof(*lens));
    uint64_t *tickets = malloc(N * sizeof(*tickets));
    for (uint32_t i = 0; i < N; i++) {
        lens[i] = make_id(1000 + i, ids[i]);
        users[i] = ids[i];
        tickets[i] = 10 + 2 * (uint64_t)i;
    }
    tickets[N - 1] = tickets[N - 2]; /* the last one is bad */
    assert_restore_fails(TRIAL_LIST_ENROLLED, N, tickets, users, lens, TRIAL_RESTORE_BAD_TICKET, N - 1);
    tickets[N - 1] = tickets[N - 2] + 1;
    lens[N - 1] = 1;
    users[N - 1] = "a";
    assert_restore_fails(TRIAL_LIST_WAITLIST, N, tickets, users, lens, TRIAL_RESTORE_DUPLICATE, N - 1);
    free(ids);
    free(users);
    free(lens);
    free(tickets);
}

static void restoring_refuses_a_user_twice_in_one_batch(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    size_t failed_at = 99;
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 3, (uint64_t[]){1, 2, 3},
                             (const char *[]){"alice", "bob", "alice"}, &failed_at),
                     TRIAL_RESTORE_DUPLICATE);
    assert_int_equal(failed_at, 2);
    assert_int_equal(trial_enrolled_count(t), 0);
    assert_int_equal(trial_next_ticket(t), 1);
    trial_free(t);
}

static void restore_of_a_batch_with_a_duplicate_inside_changes_nothing(void **state) {
    (void)state;
    const uint64_t tickets[] = {10, 11, 12, 13};
    const char *users[] = {"x", "y", "z", "y"};
    const size_t lens[] = {1, 1, 1, 1};
    assert_restore_fails(TRIAL_LIST_ENROLLED, 4, tickets, users, lens, TRIAL_RESTORE_DUPLICATE, 3);
    assert_restore_fails(TRIAL_LIST_WAITLIST, 4, tickets, users, lens, TRIAL_RESTORE_DUPLICATE, 3);
}

static void restoring_refuses_a_user_already_enrolled(void **state) {
    (void)state;
    trial *t = new_trial(10, 5);
    enroll_all(t, (const char *[]){"alice"}, 1);
    size_t failed_at = 99;
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 1, (uint64_t[]){10}, (const char *[]){"alice"}, &failed_at),
                     TRIAL_RESTORE_DUPLICATE);
    assert_int_equal(failed_at, 0);
    assert_int_equal(restore(t, TRIAL_LIST_WAITLIST, 1, (uint64_t[]){10}, (const char *[]){"alice"}, &failed_at),
                     TRIAL_RESTORE_DUPLICATE);
    assert_int_equal(trial_enrolled_count(t), 1);
    assert_int_equal(trial_waitlisted_count(t), 0);
    trial_free(t);
}

static void restoring_refuses_a_user_already_waitlisted(void **state) {
    (void)state;
    trial *t = new_trial(1, 5);
    enroll_all(t, (const char *[]){"alice", "bob"}, 2);
    size_t failed_at = 99;
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 2, (uint64_t[]){10, 11}, (const char *[]){"carol", "bob"},
                             &failed_at),
                     TRIAL_RESTORE_DUPLICATE);
    assert_int_equal(failed_at, 1);
    assert_int_equal(status(t, "carol", NULL), TRIAL_STATE_NONE);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void restore_of_a_user_already_in_the_trial_changes_nothing(void **state) {
    (void)state;
    const uint64_t tickets[] = {10, 11, 12};
    const char *users[] = {"x", "y", "b"};
    const size_t lens[] = {1, 1, 1};
    assert_restore_fails(TRIAL_LIST_ENROLLED, 3, tickets, users, lens, TRIAL_RESTORE_DUPLICATE, 2);
    assert_restore_fails(TRIAL_LIST_WAITLIST, 3, tickets, users, lens, TRIAL_RESTORE_DUPLICATE, 2);
}

static void restoring_refuses_arrival_numbers_that_do_not_increase_within_the_batch(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    size_t failed_at = 99;
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 3, (uint64_t[]){5, 9, 9},
                             (const char *[]){"alice", "bob", "carol"}, &failed_at),
                     TRIAL_RESTORE_BAD_TICKET);
    assert_int_equal(failed_at, 2);
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 2, (uint64_t[]){5, 4}, (const char *[]){"alice", "bob"},
                             &failed_at),
                     TRIAL_RESTORE_BAD_TICKET);
    assert_int_equal(failed_at, 1);
    assert_int_equal(trial_enrolled_count(t), 0);
    assert_int_equal(trial_next_ticket(t), 1);
    trial_free(t);
}

static void restoring_refuses_an_arrival_number_not_above_the_lists_last(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    enroll_all(t, (const char *[]){"alice", "bob", "carol"}, 3);
    size_t failed_at = 99;
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 1, (uint64_t[]){3}, (const char *[]){"dave"}, &failed_at),
                     TRIAL_RESTORE_BAD_TICKET);
    assert_int_equal(failed_at, 0);
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 1, (uint64_t[]){2}, (const char *[]){"dave"}, &failed_at),
                     TRIAL_RESTORE_BAD_TICKET);
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 1, (uint64_t[]){4}, (const char *[]){"dave"}, &failed_at),
                     TRIAL_RESTORE_OK);
    trial_free(t);
}

static void restore_with_non_increasing_tickets_changes_nothing(void **state) {
    (void)state;
    const char *users[] = {"x", "y", "z"};
    const size_t lens[] = {1, 1, 1};
    const uint64_t equal[] = {10, 11, 11};
    assert_restore_fails(TRIAL_LIST_ENROLLED, 3, equal, users, lens, TRIAL_RESTORE_BAD_TICKET, 2);
    const uint64_t decreasing[] = {10, 20, 15};
    assert_restore_fails(TRIAL_LIST_WAITLIST, 3, decreasing, users, lens, TRIAL_RESTORE_BAD_TICKET, 2);
    /* Not above the last ticket already in the enrolled list (2). */
    const uint64_t below_last[] = {2, 5, 6};
    assert_restore_fails(TRIAL_LIST_ENROLLED, 3, below_last, users, lens, TRIAL_RESTORE_BAD_TICKET, 0);
}

static void restoring_refuses_arrival_number_zero(void **state) {
    (void)state;
    trial *t = new_trial(10, 5);
    size_t failed_at = 99;
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 1, (uint64_t[]){0}, (const char *[]){"alice"}, &failed_at),
                     TRIAL_RESTORE_BAD_TICKET);
    assert_int_equal(failed_at, 0);
    assert_int_equal(restore(t, TRIAL_LIST_WAITLIST, 1, (uint64_t[]){0}, (const char *[]){"alice"}, &failed_at),
                     TRIAL_RESTORE_BAD_TICKET);
    assert_int_equal(trial_enrolled_count(t) + trial_waitlisted_count(t), 0);
    assert_int_equal(trial_next_ticket(t), 1);
    trial_free(t);
}

static void restore_with_ticket_zero_changes_nothing(void **state) {
    (void)state;
    const char *users[] = {"x", "y"};
    const size_t lens[] = {1, 1};
    const uint64_t first_zero[] = {0, 11};
    assert_restore_fails(TRIAL_LIST_WAITLIST, 2, first_zero, users, lens, TRIAL_RESTORE_BAD_TICKET, 0);
    trial *t = new_trial(3, 0);
    size_t failed_at = 9;
    const uint64_t zero[] = {0};
    assert_int_equal(trial_restore(t, TRIAL_LIST_ENROLLED, 1, zero, users, lens, &failed_at),
                     TRIAL_RESTORE_BAD_TICKET);
    assert_int_equal(failed_at, 0);
    assert_int_equal(trial_enrolled_count(t), 0);
    trial_free(t);
}

static void restoring_refuses_empty_and_over_long_users(void **state) {
    (void)state;
    char too_long[TRIAL_MAX_USER_LEN + 1];
    memset(too_long, 'x', sizeof(too_long));
    trial *t = new_trial(10, 0);
    const char *users[2] = {"alice", too_long};
    size_t lens[2] = {5, TRIAL_MAX_USER_LEN + 1};
    size_t failed_at = 99;
    assert_int_equal(trial_restore(t, TRIAL_LIST_ENROLLED, 2, (uint64_t[]){1, 2}, users, lens, &failed_at),
                     TRIAL_RESTORE_BAD_USER);
    assert_int_equal(failed_at, 1);
    lens[1] = 0;
    assert_int_equal(trial_restore(t, TRIAL_LIST_ENROLLED, 2, (uint64_t[]){1, 2}, users, lens, &failed_at),
                     TRIAL_RESTORE_BAD_USER);
    lens[1] = TRIAL_MAX_USER_LEN;
    assert_int_equal(trial_restore(t, TRIAL_LIST_ENROLLED, 2, (uint64_t[]){1, 2}, users, lens, &failed_at),
                     TRIAL_RESTORE_OK);
    assert_int_equal(trial_enrolled_count(t), 2);
    trial_free(t);
}

static void restore_of_an_empty_or_too_long_user_changes_nothing(void **state) {
    (void)state;
    static char too_long[TRIAL_MAX_USER_LEN + 1];
    memset(too_long, 'q', sizeof(too_long));
    const char *users[] = {"x", "", too_long};
    const uint64_t tickets[] = {10, 11, 12};
    const size_t empty_second[] = {1, 0, 1};
    assert_restore_fails(TRIAL_LIST_ENROLLED, 3, tickets, users, empty_second, TRIAL_RESTORE_BAD_USER, 1);
    const size_t long_third[] = {1, 1, TRIAL_MAX_USER_LEN + 1};
    const char *users2[] = {"x", "y", too_long};
    assert_restore_fails(TRIAL_LIST_ENROLLED, 3, tickets, users2, long_third, TRIAL_RESTORE_BAD_USER, 2);
}

/* ==== restore and arrival numbers of the other list ============================================== */
static void a_restored_waitlisted_user_older_than_the_enrolled_ones_is_promoted_in_arrival_order(void **state) {
    (void)state;
    trial *t = new_trial(2, 5);
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 2, (uint64_t[]){10, 20}, (const char *[]){"alice", "bob"}, NULL),
                     TRIAL_RESTORE_OK);
    assert_int_equal(restore(t, TRIAL_LIST_WAITLIST, 1, (uint64_t[]){5}, (const char *[]){"wendy"}, NULL),
                     TRIAL_RESTORE_OK);
    assert_int_equal(cancel(t, "bob"), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_check(t), 0);
    listing l = list_of(t, TRIAL_LIST_ENROLLED);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.tickets[0], 5);
    assert_int_equal(l.tickets[1], 10);
    listing_free(&l);
    listing seen = {0, 0, NULL, NULL, NULL, 0};
    uint64_t cursor = 0;
    size_t pages = 0;
    do cursor = trial_scan(t, cursor, 1, collect, &seen);
    while (cursor != 0 && ++pages < 10);
    assert_int_equal(seen.n, 2);
    listing_free(&seen);
    trial_free(t);
}

/* Arrival numbers identify users (they are the ENROLL.MEMBERS cursor): a restored user may not take
 * one held in the other list. */
static void restoring_a_waitlisted_user_with_an_enrolled_users_arrival_number_is_refused(void **state) {
    (void)state;
    trial *t = new_trial(2, 5);
    enroll_all(t, (const char *[]){"alice", "bob"}, 2); /* tickets 1 and 2 */
    buffer before = save(t);
    size_t failed_at = 99;
    assert_int_equal(restore(t, TRIAL_LIST_WAITLIST, 1, (uint64_t[]){1}, (const char *[]){"wendy"}, &failed_at),
                     TRIAL_RESTORE_BAD_TICKET);
    assert_int_equal(failed_at, 0);
    assert_unchanged(t, &before);
    assert_int_equal(trial_check(t), 0);
    buffer_free(&before);
    trial_free(t);
}

static void restore_of_a_ticket_held_in_the_other_list_changes_nothing(void **state) {
    (void)state;
    const char *users[] = {"x", "y"};
    const size_t lens[] = {1, 1};
    const uint64_t tickets[] = {1, 7}; /* 1 is "a"'s, in the enrolled list */
    assert_restore_fails(TRIAL_LIST_WAITLIST, 2, tickets, users, lens, TRIAL_RESTORE_BAD_TICKET, 0);
}

static void restoring_an_enrolled_user_with_a_waitlisted_users_arrival_number_is_refused(void **state) {
    (void)state;
    trial *t = new_trial(0, 5);
    assert_int_equal(restore(t, TRIAL_LIST_WAITLIST, 2, (uint64_t[]){10, 20}, (const char *[]){"vera", "wendy"}, NULL),
                     TRIAL_RESTORE_OK);
    buffer before = save(t);
    size_t failed_at = 99;
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 3, (uint64_t[]){5, 20, 30},
                             (const char *[]){"alice", "bob", "carol"}, &failed_at),
                     TRIAL_RESTORE_BAD_TICKET);
    assert_int_equal(failed_at, 1);
    assert_unchanged(t, &before);
    assert_int_equal(trial_check(t), 0);
    buffer_free(&before);
    trial_free(t);
}

/* Whatever restore accepts, cancelling the promoted user afterwards must leave a sound trial. */
static void cancelling_a_promoted_user_with_an_older_arrival_number_leaves_the_others_intact(void **state) {
    (void)state;
    trial *t = new_trial(2, 5);
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 2, (uint64_t[]){10, 20}, (const char *[]){"alice", "bob"}, NULL),
                     TRIAL_RESTORE_OK);
    assert_int_equal(restore(t, TRIAL_LIST_WAITLIST, 1, (uint64_t[]){5}, (const char *[]){"wendy"}, NULL),
                     TRIAL_RESTORE_OK);
    assert_int_equal(cancel(t, "bob"), TRIAL_CANCEL_WITHDRAWN); /* promotes wendy ahead of alice */
    assert_int_equal(trial_check(t), 0);
    assert_int_equal(cancel(t, "wendy"), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_check(t), 0);
    assert_int_equal(status(t, "alice", NULL), TRIAL_STATE_ENROLLED);
    listing l = list_of(t, TRIAL_LIST_ENROLLED);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.users[0], "alice");
    listing_free(&l);
    trial_free(t);
}

/* SLOTS.RESTORE may target a live trial: the enrolled list can hold a tombstone whose arrival
 * number a waitlist restore then reuses. The number belongs to nobody any more, so the restore is
 * accepted whether or not that list was compacted since (the fuzzer found the answer depended on
 * it: tests/fuzz/crashes/trial-restore-tombstone-ticket.bin), and the trial stays consistent once
 * that user is promoted. */
static void restore_reusing_a_cancelled_arrival_number_keeps_the_trial_consistent(void **state) {
    (void)state;
    trial *t = new_trial(4, 5);
    const uint64_t tickets[] = {1, 3, 5, 10};
    const char *users[] = {"a", "b", "c", "d"};
    const size_t lens[] = {1, 1, 1, 1};
    assert_int_equal(trial_restore(t, TRIAL_LIST_ENROLLED, 4, tickets, users, lens, NULL), TRIAL_RESTORE_OK);
    assert_int_equal(trial_resize(t, 3), 0);
    assert_int_equal(trial_cancel(t, S("c"), NULL), TRIAL_CANCEL_WITHDRAWN); /* 5 becomes a tombstone */
    const uint64_t reused[] = {5};
    const char *waiting[] = {"w"};
    const size_t waiting_lens[] = {1};
    trial_restore_result result = trial_restore(t, TRIAL_LIST_WAITLIST, 1, reused, waiting, waiting_lens, NULL);
    assert_int_equal(result, TRIAL_RESTORE_OK);
    assert_int_equal(trial_check(t), 0);
    uint64_t promoted = 0;
    assert_int_equal(trial_cancel(t, S("a"), &promoted), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(promoted, 1);
    int rc = trial_check(t);
    if (rc != 0) fail_msg("trial_check %d after promoting a user restored with a cancelled arrival number", rc);
    listing r = {0};
    trial_foreach(t, TRIAL_LIST_ENROLLED, collect, &r);
    for (size_t i = 1; i < r.n; i++) assert_true(r.tickets[i - 1] < r.tickets[i]);
    listing_free(&r);
    trial_free(t);
}

/* ==== next arrival number ======================================================================== */
static void raising_the_next_arrival_number_never_lowers_it(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    trial_raise_next_ticket(t, 50);
    assert_int_equal(trial_next_ticket(t), 50);
    trial_raise_next_ticket(t, 10);
    assert_int_equal(trial_next_ticket(t), 50);
    trial_raise_next_ticket(t, 0);
    assert_int_equal(trial_next_ticket(t), 50);
    assert_int_equal(enroll_ticket(t, "alice"), 50);
    trial_raise_next_ticket(t, 51);
    assert_int_equal(trial_next_ticket(t), 51);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void raise_next_ticket_never_lowers_it(void **state) {
    (void)state;
    trial *t = new_trial(5, 0);
    trial_raise_next_ticket(t, 100);
    assert_int_equal(trial_next_ticket(t), 100);
    trial_raise_next_ticket(t, 50);
    assert_int_equal(trial_next_ticket(t), 100);
    trial_raise_next_ticket(t, 0);
    assert_int_equal(trial_next_ticket(t), 100);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 100);
    trial_raise_next_ticket(t, 101);
    assert_int_equal(trial_next_ticket(t), 101);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 101);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

/* ==== main ======================================================================================= */
#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void) {
    core_set_allocator(&counting_allocator);
    seed_trial_hash("test_trial_restore");
    const struct CMUnitTest tests[] = {
        TEST(a_copy_is_identical_to_its_original),
        TEST(a_copy_is_independent_of_its_original),
        TEST(copy_is_identical_and_independent),
        TEST(a_copy_keeps_arrival_numbers_going),
        TEST(copy_of_an_empty_trial_keeps_its_counters),
        TEST(restoring_appends_users_with_their_arrival_numbers),
        TEST(restore_appends_users_and_raises_the_next_ticket),
        TEST(restoring_fills_the_waitlist_in_the_given_order),
        TEST(restore_onto_the_waitlist_with_free_slots_promotes_at_once),
        TEST(restoring_raises_the_next_arrival_number_above_every_restored_one),
        TEST(restoring_lower_arrival_numbers_keeps_the_next_one),
        TEST(restoring_more_users_than_the_capacity_is_allowed),
        TEST(restoring_is_all_or_nothing),
        TEST(restoring_a_large_failing_batch_leaves_the_trial_as_it_was),
        TEST(restore_failing_after_index_growth_changes_nothing),
        TEST(restoring_refuses_a_user_twice_in_one_batch),
        TEST(restore_of_a_batch_with_a_duplicate_inside_changes_nothing),
        TEST(restoring_refuses_a_user_already_enrolled),
        TEST(restoring_refuses_a_user_already_waitlisted),
        TEST(restore_of_a_user_already_in_the_trial_changes_nothing),
        TEST(restoring_refuses_arrival_numbers_that_do_not_increase_within_the_batch),
        TEST(restoring_refuses_an_arrival_number_not_above_the_lists_last),
        TEST(restore_with_non_increasing_tickets_changes_nothing),
        TEST(restoring_refuses_arrival_number_zero),
        TEST(restore_with_ticket_zero_changes_nothing),
        TEST(restoring_refuses_empty_and_over_long_users),
        TEST(restore_of_an_empty_or_too_long_user_changes_nothing),
        TEST(a_restored_waitlisted_user_older_than_the_enrolled_ones_is_promoted_in_arrival_order),
        TEST(restoring_a_waitlisted_user_with_an_enrolled_users_arrival_number_is_refused),
        TEST(restore_of_a_ticket_held_in_the_other_list_changes_nothing),
        TEST(restoring_an_enrolled_user_with_a_waitlisted_users_arrival_number_is_refused),
        TEST(cancelling_a_promoted_user_with_an_older_arrival_number_leaves_the_others_intact),
        TEST(restore_reusing_a_cancelled_arrival_number_keeps_the_trial_consistent),
        TEST(raising_the_next_arrival_number_never_lowers_it),
        TEST(raise_next_ticket_never_lowers_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
