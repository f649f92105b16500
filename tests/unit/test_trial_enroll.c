/* test_trial_enroll.c -- cmocka tests of the enrollment core (module/trial.h), linked without Redis:
 * enrolling and cancelling, arrival numbers, status, the capacity limits (zero, the largest) and
 * user ids (binary, one byte, the longest, empty or too long).
 *
 * Like every trial suite it runs on the shared counting allocator (counting_allocator.h), installed
 * in main(); each test fails if it leaves anything allocated through the core. The hash seed is
 * printed; TRIAL_TEST_SEED replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "counting_allocator.h"
#include "memory_stream.h"
#include "trial_fixtures.h"

/* ==== enroll ===================================================================================== */
static void a_new_trial_is_empty_and_hands_out_arrival_one_first(void **state) {
    (void)state;
    trial *t = new_trial(5, 2);
    assert_int_equal(trial_capacity(t), 5);
    assert_int_equal(trial_waitlist_max(t), 2);
    assert_int_equal(trial_enrolled_count(t), 0);
    assert_int_equal(trial_waitlisted_count(t), 0);
    assert_int_equal(trial_remaining(t), 5);
    assert_int_equal(trial_next_ticket(t), 1);
    trial_free(t);
}

static void enrolling_a_new_user_takes_one_slot(void **state) {
    (void)state;
    trial *t = new_trial(3, 0);
    assert_int_equal(enroll(t, "alice"), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_enrolled_count(t), 1);
    assert_int_equal(trial_remaining(t), 2);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void enrolling_the_same_user_twice_answers_already_enrolled(void **state) {
    (void)state;
    trial *t = new_trial(3, 0);
    assert_int_equal(enroll(t, "alice"), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(enroll(t, "alice"), TRIAL_ENROLL_ALREADY_ENROLLED);
    assert_int_equal(trial_enrolled_count(t), 1);
    assert_int_equal(trial_next_ticket(t), 2);
    trial_free(t);
}

static void enrolling_twice_reports_already_enrolled(void **state) {
    (void)state;
    trial *t = new_trial(5, 0);
    enroll_ok(t, S("alice"), TRIAL_ENROLL_ENROLLED, 1);
    assert_int_equal(trial_enroll(t, S("alice"), NULL), TRIAL_ENROLL_ALREADY_ENROLLED);
    assert_int_equal(trial_enrolled_count(t), 1);
    assert_int_equal(trial_next_ticket(t), 2);
    trial_free(t);
}

static void an_enrolled_user_hears_already_enrolled_not_full_when_the_trial_is_full(void **state) {
    (void)state;
    trial *t = new_trial(1, 0);
    assert_int_equal(enroll(t, "alice"), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(enroll(t, "alice"), TRIAL_ENROLL_ALREADY_ENROLLED);
    trial_free(t);
}

static void duplicate_is_reported_before_full(void **state) {
    (void)state;
    trial *t = new_trial(1, 0);
    enroll_ok(t, S("alice"), TRIAL_ENROLL_ENROLLED, 1);
    assert_int_equal(trial_enroll(t, S("alice"), NULL), TRIAL_ENROLL_ALREADY_ENROLLED);
    assert_int_equal(trial_enroll(t, S("bob"), NULL), TRIAL_ENROLL_FULL);
    trial_free(t);
}

static void enrolling_into_a_full_trial_without_waitlist_answers_full_and_changes_nothing(void **state) {
    (void)state;
    trial *t = new_trial(2, 0);
    enroll_all(t, (const char *[]){"alice", "bob"}, 2);
    buffer before = save(t);
    assert_int_equal(enroll(t, "carol"), TRIAL_ENROLL_FULL);
    assert_unchanged(t, &before);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(status(t, "carol", NULL), TRIAL_STATE_NONE);
    buffer_free(&before);
    trial_free(t);
}

static void enroll_when_full_without_waitlist_reports_full_and_takes_no_ticket(void **state) {
    (void)state;
    trial *t = new_trial(2, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    uint64_t ticket = 777;
    assert_int_equal(trial_enroll(t, S("c"), &ticket), TRIAL_ENROLL_FULL);
    assert_int_equal(ticket, 777);
    assert_int_equal(trial_next_ticket(t), 3);
    assert_int_equal(trial_status(t, S("c"), NULL), TRIAL_STATE_NONE);
    trial_free(t);
}

static void arrival_numbers_count_up_from_one(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    assert_int_equal(enroll_ticket(t, "alice"), 1);
    assert_int_equal(enroll_ticket(t, "bob"), 2);
    assert_int_equal(enroll_ticket(t, "carol"), 3);
    assert_int_equal(trial_next_ticket(t), 4);
    trial_free(t);
}

static void enroll_gives_arrival_numbers_from_one(void **state) {
    (void)state;
    trial *t = new_trial(3, 0);
    assert_int_equal(trial_next_ticket(t), 1);
    enroll_ok(t, S("alice"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("bob"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("carol"), TRIAL_ENROLL_ENROLLED, 3);
    assert_int_equal(trial_enrolled_count(t), 3);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(trial_next_ticket(t), 4);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void arrival_numbers_are_never_reused_after_a_cancel(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    assert_int_equal(enroll_ticket(t, "alice"), 1);
    assert_int_equal(enroll_ticket(t, "bob"), 2);
    assert_int_equal(enroll_ticket(t, "carol"), 3);
    assert_int_equal(cancel(t, "carol"), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(cancel(t, "alice"), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(enroll_ticket(t, "carol"), 4);
    assert_int_equal(enroll_ticket(t, "alice"), 5);
    assert_int_equal(enroll_ticket(t, "dave"), 6);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void arrival_numbers_are_never_reused_after_cancel(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("c"), TRIAL_ENROLL_ENROLLED, 3);
    assert_int_equal(trial_cancel(t, S("c"), NULL), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_cancel(t, S("b"), NULL), TRIAL_CANCEL_WITHDRAWN);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 4);
    enroll_ok(t, S("d"), TRIAL_ENROLL_ENROLLED, 5);
    enroll_ok(t, S("c"), TRIAL_ENROLL_ENROLLED, 6);
    uint64_t v;
    assert_int_equal(trial_status(t, S("a"), &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 1);
    assert_int_equal(trial_status(t, S("b"), &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 4);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void a_refused_enrollment_consumes_no_arrival_number(void **state) {
    (void)state;
    trial *t = new_trial(1, 0);
    assert_int_equal(enroll_ticket(t, "alice"), 1);
    assert_int_equal(enroll(t, "bob"), TRIAL_ENROLL_FULL);
    assert_int_equal(enroll(t, "alice"), TRIAL_ENROLL_ALREADY_ENROLLED);
    assert_int_equal(trial_enroll(t, "", 0, NULL), TRIAL_ENROLL_BAD_USER);
    assert_int_equal(trial_next_ticket(t), 2);
    trial_free(t);
}

/* ==== cancel ===================================================================================== */
static void cancelling_an_enrolled_user_gives_its_slot_back(void **state) {
    (void)state;
    trial *t = new_trial(2, 0);
    enroll_all(t, (const char *[]){"alice", "bob"}, 2);
    uint64_t promoted = 99;
    assert_int_equal(trial_cancel(t, "alice", 5, &promoted), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(promoted, 0);
    assert_int_equal(trial_enrolled_count(t), 1);
    assert_int_equal(trial_remaining(t), 1);
    assert_int_equal(status(t, "alice", NULL), TRIAL_STATE_NONE);
    assert_int_equal(enroll(t, "carol"), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void cancel_returns_the_slot(void **state) {
    (void)state;
    trial *t = new_trial(2, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    assert_int_equal(trial_enroll(t, S("c"), NULL), TRIAL_ENROLL_FULL);
    uint64_t promoted = 99;
    assert_int_equal(trial_cancel(t, S("a"), &promoted), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(promoted, 0);
    assert_int_equal(trial_remaining(t), 1);
    assert_int_equal(trial_enrolled_count(t), 1);
    assert_int_equal(trial_status(t, S("a"), NULL), TRIAL_STATE_NONE);
    enroll_ok(t, S("c"), TRIAL_ENROLL_ENROLLED, 3);
    trial_free(t);
}

static void cancelling_an_unknown_user_answers_not_found_and_changes_nothing(void **state) {
    (void)state;
    trial *t = new_trial(2, 1);
    enroll_all(t, (const char *[]){"alice", "bob", "carol"}, 3);
    buffer before = save(t);
    uint64_t promoted = 99;
    assert_int_equal(trial_cancel(t, "zoe", 3, &promoted), TRIAL_CANCEL_NOT_FOUND);
    assert_int_equal(promoted, 0);
    assert_unchanged(t, &before);
    buffer_free(&before);
    trial_free(t);
}

static void cancel_of_an_unknown_user_reports_not_found(void **state) {
    (void)state;
    trial *t = new_trial(2, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    uint64_t promoted = 99;
    assert_int_equal(trial_cancel(t, S("zz"), &promoted), TRIAL_CANCEL_NOT_FOUND);
    assert_int_equal(promoted, 0);
    assert_int_equal(trial_cancel(t, S("a"), NULL), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_cancel(t, S("a"), NULL), TRIAL_CANCEL_NOT_FOUND);
    assert_int_equal(trial_enrolled_count(t), 0);
    trial_free(t);
}

static void cancelling_twice_answers_not_found_the_second_time(void **state) {
    (void)state;
    trial *t = new_trial(2, 0);
    enroll_all(t, (const char *[]){"alice"}, 1);
    assert_int_equal(cancel(t, "alice"), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(cancel(t, "alice"), TRIAL_CANCEL_NOT_FOUND);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

/* ==== status ===================================================================================== */
static void status_gives_the_arrival_number_of_an_enrolled_user(void **state) {
    (void)state;
    trial *t = new_trial(3, 0);
    enroll_all(t, (const char *[]){"alice", "bob"}, 2);
    uint64_t value = 0;
    assert_int_equal(status(t, "bob", &value), TRIAL_STATE_ENROLLED);
    assert_int_equal(value, 2);
    trial_free(t);
}

static void status_gives_the_one_based_waitlist_position_of_a_waitlisted_user(void **state) {
    (void)state;
    trial *t = new_trial(1, 5);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave"}, 4);
    const char *waiting[] = {"bob", "carol", "dave"};
    for (uint64_t i = 0; i < 3; i++) {
        uint64_t value = 0;
        assert_int_equal(status(t, waiting[i], &value), TRIAL_STATE_WAITLISTED);
        assert_int_equal(value, i + 1);
    }
    trial_free(t);
}

static void status_of_an_unknown_user_is_none_with_zero(void **state) {
    (void)state;
    trial *t = new_trial(1, 5);
    enroll_all(t, (const char *[]){"alice", "bob"}, 2);
    uint64_t value = 99;
    assert_int_equal(status(t, "zoe", &value), TRIAL_STATE_NONE);
    assert_int_equal(value, 0);
    assert_int_equal(status(t, "zoe", NULL), TRIAL_STATE_NONE);
    trial_free(t);
}

static void status_reports_ticket_when_enrolled_position_when_waitlisted_and_none_otherwise(void **state) {
    (void)state;
    trial *t = new_trial(2, 3);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("c"), TRIAL_ENROLL_WAITLISTED, 3);
    enroll_ok(t, S("d"), TRIAL_ENROLL_WAITLISTED, 4);
    enroll_ok(t, S("e"), TRIAL_ENROLL_WAITLISTED, 5);
    uint64_t v = 99;
    assert_int_equal(trial_status(t, S("b"), &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 2);
    assert_int_equal(trial_status(t, S("c"), &v), TRIAL_STATE_WAITLISTED);
    assert_int_equal(v, 1);
    assert_int_equal(trial_status(t, S("d"), &v), TRIAL_STATE_WAITLISTED);
    assert_int_equal(v, 2);
    assert_int_equal(trial_status(t, S("e"), &v), TRIAL_STATE_WAITLISTED);
    assert_int_equal(v, 3);
    v = 99;
    assert_int_equal(trial_status(t, S("nobody"), &v), TRIAL_STATE_NONE);
    assert_int_equal(v, 0);
    assert_int_equal(trial_status(t, S("a"), NULL), TRIAL_STATE_ENROLLED);
    trial_free(t);
}

/* ==== capacity limits ============================================================================ */
static void a_trial_of_capacity_zero_enrolls_nobody(void **state) {
    (void)state;
    trial *t = new_trial(0, 0);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(enroll(t, "alice"), TRIAL_ENROLL_FULL);
    assert_int_equal(trial_enrolled_count(t), 0);
    assert_int_equal(trial_next_ticket(t), 1);
    trial_free(t);
}

static void a_trial_of_capacity_zero_with_a_waitlist_queues_everyone(void **state) {
    (void)state;
    trial *t = new_trial(0, 2);
    assert_int_equal(enroll(t, "alice"), TRIAL_ENROLL_WAITLISTED);
    assert_int_equal(enroll(t, "bob"), TRIAL_ENROLL_WAITLISTED);
    assert_int_equal(enroll(t, "carol"), TRIAL_ENROLL_FULL);
    assert_int_equal(trial_resize(t, 1), 1);
    assert_int_equal(status(t, "alice", NULL), TRIAL_STATE_ENROLLED);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void capacity_zero_accepts_nobody_but_may_waitlist(void **state) {
    (void)state;
    trial *t = new_trial(0, 0);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(trial_enroll(t, S("a"), NULL), TRIAL_ENROLL_FULL);
    assert_int_equal(trial_next_ticket(t), 1);
    trial_free(t);

    t = new_trial(0, 1);
    enroll_ok(t, S("a"), TRIAL_ENROLL_WAITLISTED, 1);
    assert_int_equal(trial_enroll(t, S("b"), NULL), TRIAL_ENROLL_FULL);
    assert_int_equal(trial_check(t), 0);
    assert_int_equal(trial_resize(t, 1), 1);
    assert_int_equal(trial_status(t, S("a"), NULL), TRIAL_STATE_ENROLLED);
    trial_free(t);
}

static void the_largest_capacity_and_waitlist_are_accepted(void **state) {
    (void)state;
    trial *t = new_trial(TRIAL_MAX_CAPACITY, TRIAL_MAX_CAPACITY);
    assert_int_equal(trial_capacity(t), TRIAL_MAX_CAPACITY);
    assert_int_equal(trial_waitlist_max(t), TRIAL_MAX_CAPACITY);
    assert_int_equal(trial_remaining(t), TRIAL_MAX_CAPACITY);
    assert_int_equal(enroll(t, "alice"), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_remaining(t), TRIAL_MAX_CAPACITY - 1);
    trial_free(t);
}

static void a_capacity_or_waitlist_above_the_largest_is_refused(void **state) {
    (void)state;
    assert_null(trial_create(TRIAL_MAX_CAPACITY + 1, 0));
    assert_null(trial_create(0, TRIAL_MAX_CAPACITY + 1));
    assert_null(trial_create(UINT64_MAX, UINT64_MAX));
}

static void maximum_capacity_is_accepted_and_one_above_rejected(void **state) {
    (void)state;
    trial *t = new_trial(TRIAL_MAX_CAPACITY, TRIAL_MAX_CAPACITY);
    assert_int_equal(trial_capacity(t), TRIAL_MAX_CAPACITY);
    assert_int_equal(trial_waitlist_max(t), TRIAL_MAX_CAPACITY);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    assert_int_equal(trial_remaining(t), TRIAL_MAX_CAPACITY - 1);
    trial_free(t);
    assert_null(trial_create(TRIAL_MAX_CAPACITY + 1, 0));
    assert_null(trial_create(0, TRIAL_MAX_CAPACITY + 1));
    assert_null(trial_create(UINT64_MAX, UINT64_MAX));
}

/* ==== user ids =================================================================================== */
static void user_ids_are_binary_safe(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    assert_int_equal(trial_enroll(t, "a\0b", 3, NULL), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_enroll(t, "a\0c", 3, NULL), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_enroll(t, "a", 1, NULL), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_enroll(t, "a\0", 2, NULL), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_enroll(t, "\0", 1, NULL), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_enroll(t, "\0\0", 2, NULL), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_enroll(t, "a\0b", 3, NULL), TRIAL_ENROLL_ALREADY_ENROLLED);
    assert_int_equal(trial_enrolled_count(t), 6);
    uint64_t value = 0;
    assert_int_equal(trial_status(t, "a\0c", 3, &value), TRIAL_STATE_ENROLLED);
    assert_int_equal(value, 2);
    assert_int_equal(trial_cancel(t, "a\0b", 3, NULL), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_status(t, "a\0c", 3, NULL), TRIAL_STATE_ENROLLED);
    assert_int_equal(trial_status(t, "a", 1, NULL), TRIAL_STATE_ENROLLED);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void ids_with_nul_bytes_are_distinct_users(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    enroll_ok(t, S("a\0b"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("a\0c"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 3);
    enroll_ok(t, S("a\0"), TRIAL_ENROLL_ENROLLED, 4);
    enroll_ok(t, S("\0"), TRIAL_ENROLL_ENROLLED, 5);
    enroll_ok(t, S("\0\0"), TRIAL_ENROLL_ENROLLED, 6);
    assert_int_equal(trial_enroll(t, S("a\0b"), NULL), TRIAL_ENROLL_ALREADY_ENROLLED);
    assert_int_equal(trial_cancel(t, S("a\0c"), NULL), TRIAL_CANCEL_WITHDRAWN);
    uint64_t v;
    assert_int_equal(trial_status(t, S("a\0b"), &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 1);
    assert_int_equal(trial_status(t, S("a\0c"), NULL), TRIAL_STATE_NONE);
    assert_int_equal(trial_status(t, S("a\0"), &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 4);
    assert_int_equal(trial_status(t, S("\0\0"), &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 6);
    listing r = {0};
    trial_foreach(t, TRIAL_LIST_ENROLLED, collect, &r);
    assert_int_equal(r.n, 5);
    assert_seen(&r, 0, S("a\0b"), 1);
    assert_seen(&r, 3, S("\0"), 5);
    listing_free(&r);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void one_byte_and_longest_user_ids_are_accepted(void **state) {
    (void)state;
    char longest[TRIAL_MAX_USER_LEN];
    memset(longest, 'x', sizeof(longest));
    trial *t = new_trial(10, 0);
    assert_int_equal(trial_enroll(t, "z", 1, NULL), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_enroll(t, longest, TRIAL_MAX_USER_LEN, NULL), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_enroll(t, longest, TRIAL_MAX_USER_LEN - 1, NULL), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_status(t, longest, TRIAL_MAX_USER_LEN, NULL), TRIAL_STATE_ENROLLED);
    assert_int_equal(trial_cancel(t, longest, TRIAL_MAX_USER_LEN, NULL), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_status(t, longest, TRIAL_MAX_USER_LEN - 1, NULL), TRIAL_STATE_ENROLLED);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void ids_of_one_byte_and_of_the_maximum_length_are_accepted(void **state) {
    (void)state;
    char longest[TRIAL_MAX_USER_LEN];
    memset(longest, 'L', sizeof(longest));
    longest[100] = '\0';
    trial *t = new_trial(10, 0);
    enroll_ok(t, S("x"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, longest, TRIAL_MAX_USER_LEN, TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, longest, TRIAL_MAX_USER_LEN - 1, TRIAL_ENROLL_ENROLLED, 3);
    uint64_t v;
    assert_int_equal(trial_status(t, longest, TRIAL_MAX_USER_LEN, &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 2);
    assert_int_equal(trial_cancel(t, longest, TRIAL_MAX_USER_LEN, NULL), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_status(t, longest, TRIAL_MAX_USER_LEN - 1, &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 3);
    trial_free(t);
}

static void empty_and_over_long_user_ids_are_refused_and_change_nothing(void **state) {
    (void)state;
    char too_long[TRIAL_MAX_USER_LEN + 1];
    memset(too_long, 'x', sizeof(too_long));
    trial *t = new_trial(10, 2);
    enroll_all(t, (const char *[]){"alice"}, 1);
    buffer before = save(t);
    uint64_t ticket = 0;
    assert_int_equal(trial_enroll(t, "", 0, &ticket), TRIAL_ENROLL_BAD_USER);
    assert_int_equal(trial_enroll(t, too_long, TRIAL_MAX_USER_LEN + 1, &ticket), TRIAL_ENROLL_BAD_USER);
    assert_int_equal(trial_status(t, too_long, TRIAL_MAX_USER_LEN + 1, NULL), TRIAL_STATE_NONE);
    assert_int_equal(trial_status(t, "", 0, NULL), TRIAL_STATE_NONE);
    assert_int_equal(trial_cancel(t, too_long, TRIAL_MAX_USER_LEN + 1, NULL), TRIAL_CANCEL_NOT_FOUND);
    assert_int_equal(trial_cancel(t, "", 0, NULL), TRIAL_CANCEL_NOT_FOUND);
    assert_unchanged(t, &before);
    buffer_free(&before);
    trial_free(t);
}

static void ids_that_are_empty_or_too_long_are_rejected_as_bad_user(void **state) {
    (void)state;
    char too_long[TRIAL_MAX_USER_LEN + 1];
    memset(too_long, 'L', sizeof(too_long));
    trial *t = new_trial(1, 0);
    assert_int_equal(trial_enroll(t, "", 0, NULL), TRIAL_ENROLL_BAD_USER);
    assert_int_equal(trial_enroll(t, too_long, TRIAL_MAX_USER_LEN + 1, NULL), TRIAL_ENROLL_BAD_USER);
    assert_int_equal(trial_enrolled_count(t), 0);
    assert_int_equal(trial_next_ticket(t), 1);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    /* Still a bad user, not "full", when the trial is full. */
    assert_int_equal(trial_enroll(t, too_long, TRIAL_MAX_USER_LEN + 1, NULL), TRIAL_ENROLL_BAD_USER);
    assert_int_equal(trial_enroll(t, "", 0, NULL), TRIAL_ENROLL_BAD_USER);
    assert_int_equal(trial_cancel(t, "", 0, NULL), TRIAL_CANCEL_NOT_FOUND);
    assert_int_equal(trial_status(t, too_long, TRIAL_MAX_USER_LEN + 1, NULL), TRIAL_STATE_NONE);
    trial_free(t);
}

/* ==== main ======================================================================================= */
#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void) {
    core_set_allocator(&counting_allocator);
    seed_trial_hash("test_trial_enroll");
    const struct CMUnitTest tests[] = {
        TEST(a_new_trial_is_empty_and_hands_out_arrival_one_first),
        TEST(enrolling_a_new_user_takes_one_slot),
        TEST(enrolling_the_same_user_twice_answers_already_enrolled),
        TEST(enrolling_twice_reports_already_enrolled),
        TEST(an_enrolled_user_hears_already_enrolled_not_full_when_the_trial_is_full),
        TEST(duplicate_is_reported_before_full),
        TEST(enrolling_into_a_full_trial_without_waitlist_answers_full_and_changes_nothing),
        TEST(enroll_when_full_without_waitlist_reports_full_and_takes_no_ticket),
        TEST(arrival_numbers_count_up_from_one),
        TEST(enroll_gives_arrival_numbers_from_one),
        TEST(arrival_numbers_are_never_reused_after_a_cancel),
        TEST(arrival_numbers_are_never_reused_after_cancel),
        TEST(a_refused_enrollment_consumes_no_arrival_number),
        TEST(cancelling_an_enrolled_user_gives_its_slot_back),
        TEST(cancel_returns_the_slot),
        TEST(cancelling_an_unknown_user_answers_not_found_and_changes_nothing),
        TEST(cancel_of_an_unknown_user_reports_not_found),
        TEST(cancelling_twice_answers_not_found_the_second_time),
        TEST(status_gives_the_arrival_number_of_an_enrolled_user),
        TEST(status_gives_the_one_based_waitlist_position_of_a_waitlisted_user),
        TEST(status_of_an_unknown_user_is_none_with_zero),
        TEST(status_reports_ticket_when_enrolled_position_when_waitlisted_and_none_otherwise),
        TEST(a_trial_of_capacity_zero_enrolls_nobody),
        TEST(a_trial_of_capacity_zero_with_a_waitlist_queues_everyone),
        TEST(capacity_zero_accepts_nobody_but_may_waitlist),
        TEST(the_largest_capacity_and_waitlist_are_accepted),
        TEST(a_capacity_or_waitlist_above_the_largest_is_refused),
        TEST(maximum_capacity_is_accepted_and_one_above_rejected),
        TEST(user_ids_are_binary_safe),
        TEST(ids_with_nul_bytes_are_distinct_users),
        TEST(one_byte_and_longest_user_ids_are_accepted),
        TEST(ids_of_one_byte_and_of_the_maximum_length_are_accepted),
        TEST(empty_and_over_long_user_ids_are_refused_and_change_nothing),
        TEST(ids_that_are_empty_or_too_long_are_rejected_as_bad_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
