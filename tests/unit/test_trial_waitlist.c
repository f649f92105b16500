/* test_trial_waitlist.c -- cmocka tests of the enrollment core (module/trial.h), linked without
 * Redis: the waitlist (who lands on it, when it is full, leaving it), promotion of its head when a
 * slot frees, and resizing (below the enrolled count, up with FIFO promotion, above the maximum).
 *
 * Runs on the shared counting allocator (counting_allocator.h); each test fails if it leaves
 * anything allocated through the core, or wrote past a block. TRIAL_TEST_SEED replays the printed
 * hash seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <string.h>

#include "counting_allocator.h"
#include "memory_stream.h"
#include "trial_fixtures.h"

/* ==== waitlist =================================================================================== */
static void a_full_trial_puts_newcomers_on_the_waitlist(void **state) {
    (void)state;
    trial *t = new_trial(1, 2);
    assert_int_equal(enroll(t, "alice"), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(enroll(t, "bob"), TRIAL_ENROLL_WAITLISTED);
    assert_int_equal(trial_enrolled_count(t), 1);
    assert_int_equal(trial_waitlisted_count(t), 1);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void waitlisted_users_receive_arrival_numbers_too(void **state) {
    (void)state;
    trial *t = new_trial(1, 2);
    assert_int_equal(enroll_ticket(t, "alice"), 1);
    assert_int_equal(enroll_ticket(t, "bob"), 2);
    assert_int_equal(enroll_ticket(t, "carol"), 3);
    assert_int_equal(trial_next_ticket(t), 4);
    trial_free(t);
}

static void enrolling_a_waitlisted_user_again_answers_already_waitlisted(void **state) {
    (void)state;
    trial *t = new_trial(1, 2);
    enroll_all(t, (const char *[]){"alice", "bob"}, 2);
    assert_int_equal(enroll(t, "bob"), TRIAL_ENROLL_ALREADY_WAITLISTED);
    assert_int_equal(trial_waitlisted_count(t), 1);
    assert_int_equal(trial_next_ticket(t), 3);
    trial_free(t);
}

static void a_waitlisted_user_hears_already_waitlisted_when_the_waitlist_is_full(void **state) {
    (void)state;
    trial *t = new_trial(1, 1);
    enroll_all(t, (const char *[]){"alice", "bob"}, 2);
    assert_int_equal(enroll(t, "bob"), TRIAL_ENROLL_ALREADY_WAITLISTED);
    trial_free(t);
}

static void a_full_waitlist_answers_full(void **state) {
    (void)state;
    trial *t = new_trial(1, 2);
    enroll_all(t, (const char *[]){"alice", "bob", "carol"}, 3);
    buffer before = save(t);
    assert_int_equal(enroll(t, "dave"), TRIAL_ENROLL_FULL);
    assert_unchanged(t, &before);
    buffer_free(&before);
    trial_free(t);
}

static void full_trial_waitlists_then_reports_full_when_the_waitlist_is_full(void **state) {
    (void)state;
    trial *t = new_trial(1, 2);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_WAITLISTED, 2);
    assert_int_equal(trial_enroll(t, S("b"), NULL), TRIAL_ENROLL_ALREADY_WAITLISTED);
    enroll_ok(t, S("c"), TRIAL_ENROLL_WAITLISTED, 3);
    uint64_t ticket = 0;
    assert_int_equal(trial_enroll(t, S("d"), &ticket), TRIAL_ENROLL_FULL);
    assert_int_equal(ticket, 0);
    /* Duplicates are still recognised while both lists are full. */
    assert_int_equal(trial_enroll(t, S("a"), NULL), TRIAL_ENROLL_ALREADY_ENROLLED);
    assert_int_equal(trial_enroll(t, S("c"), NULL), TRIAL_ENROLL_ALREADY_WAITLISTED);
    assert_int_equal(trial_waitlisted_count(t), 2);
    assert_int_equal(trial_next_ticket(t), 4);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void leaving_the_waitlist_frees_room_on_it(void **state) {
    (void)state;
    trial *t = new_trial(1, 1);
    enroll_all(t, (const char *[]){"alice", "bob"}, 2);
    assert_int_equal(enroll(t, "carol"), TRIAL_ENROLL_FULL);
    assert_int_equal(cancel(t, "bob"), TRIAL_CANCEL_LEFT_WAITLIST);
    assert_int_equal(enroll(t, "carol"), TRIAL_ENROLL_WAITLISTED);
    trial_free(t);
}

/* ==== promotion ================================================================================== */
static void cancelling_an_enrolled_user_promotes_the_waitlist_head_with_its_arrival_number(void **state) {
    (void)state;
    trial *t = new_trial(2, 3);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave"}, 4);
    uint64_t promoted = 0, value = 0;
    assert_int_equal(trial_cancel(t, "alice", 5, &promoted), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(promoted, 1);
    assert_int_equal(status(t, "carol", &value), TRIAL_STATE_ENROLLED);
    assert_int_equal(value, 3);
    assert_int_equal(status(t, "dave", &value), TRIAL_STATE_WAITLISTED);
    assert_int_equal(value, 1);
    assert_int_equal(trial_enrolled_count(t), 2);
    assert_int_equal(trial_waitlisted_count(t), 1);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(trial_next_ticket(t), 5);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void cancel_of_an_enrolled_user_promotes_the_waitlist_head_keeping_its_arrival_number(void **state) {
    (void)state;
    trial *t = new_trial(2, 5);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("w1"), TRIAL_ENROLL_WAITLISTED, 3);
    enroll_ok(t, S("w2"), TRIAL_ENROLL_WAITLISTED, 4);
    uint64_t promoted = 0, v = 0;
    assert_int_equal(trial_cancel(t, S("a"), &promoted), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(promoted, 1);
    assert_int_equal(trial_status(t, S("w1"), &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 3);
    assert_int_equal(trial_status(t, S("w2"), &v), TRIAL_STATE_WAITLISTED);
    assert_int_equal(v, 1);
    assert_int_equal(trial_enrolled_count(t), 2);
    assert_int_equal(trial_waitlisted_count(t), 1);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(trial_next_ticket(t), 5);
    listing r = {0};
    trial_foreach(t, TRIAL_LIST_ENROLLED, collect, &r);
    assert_int_equal(r.n, 2);
    assert_seen(&r, 0, S("b"), 2);
    assert_seen(&r, 1, S("w1"), 3);
    listing_free(&r);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void cancelling_a_waitlisted_user_removes_it_and_moves_the_others_up(void **state) {
    (void)state;
    trial *t = new_trial(1, 5);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave"}, 4);
    uint64_t promoted = 99, value = 0;
    assert_int_equal(trial_cancel(t, "bob", 3, &promoted), TRIAL_CANCEL_LEFT_WAITLIST);
    assert_int_equal(promoted, 0);
    assert_int_equal(status(t, "bob", &value), TRIAL_STATE_NONE);
    assert_int_equal(value, 0);
    assert_int_equal(status(t, "carol", &value), TRIAL_STATE_WAITLISTED);
    assert_int_equal(value, 1);
    assert_int_equal(status(t, "dave", &value), TRIAL_STATE_WAITLISTED);
    assert_int_equal(value, 2);
    assert_int_equal(trial_enrolled_count(t), 1);
    assert_int_equal(trial_waitlisted_count(t), 2);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void cancel_of_a_waitlisted_user_leaves_the_waitlist_and_later_positions_shift(void **state) {
    (void)state;
    trial *t = new_trial(1, 5);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("w1"), TRIAL_ENROLL_WAITLISTED, 2);
    enroll_ok(t, S("w2"), TRIAL_ENROLL_WAITLISTED, 3);
    enroll_ok(t, S("w3"), TRIAL_ENROLL_WAITLISTED, 4);
    uint64_t promoted = 99, v = 0;
    assert_int_equal(trial_cancel(t, S("w2"), &promoted), TRIAL_CANCEL_LEFT_WAITLIST);
    assert_int_equal(promoted, 0);
    assert_int_equal(trial_status(t, S("w1"), &v), TRIAL_STATE_WAITLISTED);
    assert_int_equal(v, 1);
    assert_int_equal(trial_status(t, S("w3"), &v), TRIAL_STATE_WAITLISTED);
    assert_int_equal(v, 2);
    assert_int_equal(trial_cancel(t, S("w1"), NULL), TRIAL_CANCEL_LEFT_WAITLIST);
    assert_int_equal(trial_status(t, S("w3"), &v), TRIAL_STATE_WAITLISTED);
    assert_int_equal(v, 1);
    assert_int_equal(trial_waitlisted_count(t), 1);
    assert_int_equal(trial_enrolled_count(t), 1);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void waitlist_positions_follow_promotions(void **state) {
    (void)state;
    trial *t = new_trial(1, 5);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave"}, 4);
    assert_int_equal(cancel(t, "alice"), TRIAL_CANCEL_WITHDRAWN);
    uint64_t value = 0;
    assert_int_equal(status(t, "bob", &value), TRIAL_STATE_ENROLLED);
    assert_int_equal(value, 2);
    assert_int_equal(status(t, "carol", &value), TRIAL_STATE_WAITLISTED);
    assert_int_equal(value, 1);
    assert_int_equal(status(t, "dave", &value), TRIAL_STATE_WAITLISTED);
    assert_int_equal(value, 2);
    trial_free(t);
}

/* ==== resize ===================================================================================== */
static void resizing_below_the_enrolled_count_drops_nobody(void **state) {
    (void)state;
    trial *t = new_trial(5, 0);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave"}, 4);
    assert_int_equal(trial_resize(t, 1), 0);
    assert_int_equal(trial_capacity(t), 1);
    assert_int_equal(trial_enrolled_count(t), 4);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(status(t, "dave", NULL), TRIAL_STATE_ENROLLED);
    assert_int_equal(enroll(t, "eve"), TRIAL_ENROLL_FULL);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void remaining_stays_zero_until_enough_users_cancel_after_shrinking(void **state) {
    (void)state;
    trial *t = new_trial(4, 0);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave"}, 4);
    trial_resize(t, 2);
    assert_int_equal(cancel(t, "alice"), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(enroll(t, "eve"), TRIAL_ENROLL_FULL);
    assert_int_equal(cancel(t, "bob"), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(cancel(t, "carol"), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_remaining(t), 1);
    assert_int_equal(enroll(t, "eve"), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void cancelling_while_over_capacity_promotes_nobody(void **state) {
    (void)state;
    trial *t = new_trial(3, 2);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave"}, 4);
    trial_resize(t, 1);
    uint64_t promoted = 99;
    assert_int_equal(trial_cancel(t, "alice", 5, &promoted), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(promoted, 0);
    assert_int_equal(status(t, "dave", NULL), TRIAL_STATE_WAITLISTED);
    assert_int_equal(cancel(t, "bob"), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(status(t, "dave", NULL), TRIAL_STATE_WAITLISTED);
    assert_int_equal(trial_cancel(t, "carol", 5, &promoted), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(promoted, 1);
    assert_int_equal(status(t, "dave", NULL), TRIAL_STATE_ENROLLED);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void resize_below_enrolled_never_drops_anyone_and_cancels_do_not_promote_while_over(void **state) {
    (void)state;
    trial *t = new_trial(4, 5);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("c"), TRIAL_ENROLL_ENROLLED, 3);
    enroll_ok(t, S("d"), TRIAL_ENROLL_ENROLLED, 4);
    enroll_ok(t, S("w1"), TRIAL_ENROLL_WAITLISTED, 5);
    enroll_ok(t, S("w2"), TRIAL_ENROLL_WAITLISTED, 6);
    assert_int_equal(trial_resize(t, 1), 0);
    assert_int_equal(trial_capacity(t), 1);
    assert_int_equal(trial_enrolled_count(t), 4);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(trial_status(t, S("d"), NULL), TRIAL_STATE_ENROLLED);
    assert_int_equal(trial_check(t), 0);

    uint64_t promoted = 99;
    assert_int_equal(trial_cancel(t, S("b"), &promoted), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(promoted, 0);
    assert_int_equal(trial_cancel(t, S("a"), &promoted), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(promoted, 0);
    assert_int_equal(trial_cancel(t, S("d"), &promoted), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(promoted, 0);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(trial_waitlisted_count(t), 2);
    assert_int_equal(trial_enroll(t, S("x"), NULL), TRIAL_ENROLL_WAITLISTED);
    assert_int_equal(trial_check(t), 0);

    /* Only now does a cancel bring the trial below capacity. */
    assert_int_equal(trial_cancel(t, S("c"), &promoted), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(promoted, 1);
    uint64_t v;
    assert_int_equal(trial_status(t, S("w1"), &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 5);
    assert_int_equal(trial_remaining(t), 0);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void resizing_up_promotes_the_waitlist_in_fifo_order_and_returns_the_count(void **state) {
    (void)state;
    trial *t = new_trial(1, 5);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave", "eve"}, 5);
    assert_int_equal(trial_resize(t, 3), 2);
    uint64_t value = 0;
    assert_int_equal(status(t, "bob", &value), TRIAL_STATE_ENROLLED);
    assert_int_equal(value, 2);
    assert_int_equal(status(t, "carol", &value), TRIAL_STATE_ENROLLED);
    assert_int_equal(value, 3);
    assert_int_equal(status(t, "dave", &value), TRIAL_STATE_WAITLISTED);
    assert_int_equal(value, 1);
    assert_int_equal(status(t, "eve", &value), TRIAL_STATE_WAITLISTED);
    assert_int_equal(value, 2);
    listing l = list_of(t, TRIAL_LIST_ENROLLED);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.users[0], "alice");
    assert_string_equal(l.users[1], "bob");
    assert_string_equal(l.users[2], "carol");
    listing_free(&l);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void resize_up_promotes_in_fifo_order_and_returns_the_count(void **state) {
    (void)state;
    trial *t = new_trial(2, 10);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("w1"), TRIAL_ENROLL_WAITLISTED, 3);
    enroll_ok(t, S("w2"), TRIAL_ENROLL_WAITLISTED, 4);
    enroll_ok(t, S("w3"), TRIAL_ENROLL_WAITLISTED, 5);
    assert_int_equal(trial_cancel(t, S("w2"), NULL), TRIAL_CANCEL_LEFT_WAITLIST);
    enroll_ok(t, S("w4"), TRIAL_ENROLL_WAITLISTED, 6);
    assert_int_equal(trial_resize(t, 4), 2);
    listing r = {0};
    trial_foreach(t, TRIAL_LIST_ENROLLED, collect, &r);
    assert_int_equal(r.n, 4);
    assert_seen(&r, 2, S("w1"), 3);
    assert_seen(&r, 3, S("w3"), 5);
    uint64_t v;
    assert_int_equal(trial_status(t, S("w4"), &v), TRIAL_STATE_WAITLISTED);
    assert_int_equal(v, 1);
    assert_int_equal(trial_resize(t, 4), 0);
    assert_int_equal(trial_resize(t, 100), 1);
    assert_int_equal(trial_remaining(t), 95);
    assert_int_equal(trial_waitlisted_count(t), 0);
    listing_free(&r);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void resizing_beyond_the_waitlist_promotes_everyone_and_leaves_room(void **state) {
    (void)state;
    trial *t = new_trial(1, 5);
    enroll_all(t, (const char *[]){"alice", "bob", "carol"}, 3);
    assert_int_equal(trial_resize(t, 10), 2);
    assert_int_equal(trial_waitlisted_count(t), 0);
    assert_int_equal(trial_remaining(t), 7);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

static void resizing_while_over_capacity_promotes_nobody(void **state) {
    (void)state;
    trial *t = new_trial(3, 5);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave"}, 4);
    trial_resize(t, 1);
    assert_int_equal(trial_resize(t, 3), 0);
    assert_int_equal(trial_resize(t, 4), 1);
    assert_int_equal(status(t, "dave", NULL), TRIAL_STATE_ENROLLED);
    trial_free(t);
}

/* Capacity lowered, `cancels` users cancelled from the middle of a full enrolled sequence of
 * `enrolled` users (tombstones, no promotion), then a raise that promotes `raise` waitlisted users
 * at once. */
static void promote_many_after_mid_list_cancels(uint64_t enrolled, uint64_t cancels, uint64_t raise) {
    char id[ID_BUF];
    trial *t = new_trial(enrolled, 4 * enrolled);
    for (uint32_t i = 0; i < enrolled; i++)
        assert_int_equal(trial_enroll(t, id, make_id(i, id), NULL), TRIAL_ENROLL_ENROLLED);
    for (uint32_t i = 0; i < 2 * enrolled; i++)
        assert_int_equal(trial_enroll(t, id, make_id(100000 + i, id), NULL), TRIAL_ENROLL_WAITLISTED);
    assert_int_equal(trial_resize(t, 1), 0);
    for (uint32_t k = 0; k < cancels; k++) /* users 1..cancels: strictly inside the sequence */
        assert_int_equal(trial_cancel(t, id, make_id(1 + k, id), NULL), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_check(t), 0);

    uint64_t live = enrolled - cancels;
    assert_int_equal(trial_resize(t, live + raise), raise);
    assert_int_equal(trial_enrolled_count(t), live + raise);
    assert_int_equal(trial_waitlisted_count(t), 2 * enrolled - raise);
    int rc = trial_check(t);
    if (rc != 0 || heap.corrupted)
        fail_msg("%" PRIu64 " enrolled, %" PRIu64 " cancelled mid-list, resize promoting %" PRIu64
                 ": trial_check %d, %zu block(s) written past their end",
                 enrolled, cancels, raise, rc, heap.corrupted);
    listing r = {0};
    trial_foreach(t, TRIAL_LIST_ENROLLED, collect, &r);
    assert_int_equal(r.n, live + raise);
    for (size_t i = 1; i < r.n; i++) assert_true(r.tickets[i - 1] < r.tickets[i]);
    size_t len = make_id(100000 + (uint32_t)raise - 1, id);
    assert_seen(&r, r.n - 1, id, len, enrolled + raise);
    listing_free(&r);
    trial_free(t);
    if (heap.corrupted)
        fail_msg("%" PRIu64 " enrolled, %" PRIu64 " cancelled mid-list, resize promoting %" PRIu64
                 ": the enrolled sequence was written past its end", enrolled, cancels, raise);
}

static void resize_promoting_many_after_mid_list_cancels_keeps_every_user(void **state) {
    (void)state;
    for (uint64_t enrolled = 32; enrolled <= 512; enrolled *= 2) {
        for (uint64_t cancels = 1; cancels < enrolled / 2; cancels += enrolled / 16 + 1) {
            /* Just over the spare room, up to spare room plus the tombstones, and many more. */
            promote_many_after_mid_list_cancels(enrolled, cancels, enrolled + 1);
            promote_many_after_mid_list_cancels(enrolled, cancels, enrolled + cancels);
            promote_many_after_mid_list_cancels(enrolled, cancels, 2 * enrolled - 1);
        }
    }
}

static void resize_above_the_maximum_is_clamped(void **state) {
    (void)state;
    trial *t = new_trial(1, 0);
    assert_int_equal(trial_resize(t, UINT64_MAX), 0);
    assert_int_equal(trial_capacity(t), TRIAL_MAX_CAPACITY);
    assert_int_equal(trial_remaining(t), TRIAL_MAX_CAPACITY);
    trial_free(t);
}

/* ==== main ======================================================================================= */
#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void) {
    core_set_allocator(&counting_allocator);
    seed_trial_hash("test_trial_waitlist");
    const struct CMUnitTest tests[] = {
        TEST(a_full_trial_puts_newcomers_on_the_waitlist),
        TEST(waitlisted_users_receive_arrival_numbers_too),
        TEST(enrolling_a_waitlisted_user_again_answers_already_waitlisted),
        TEST(a_waitlisted_user_hears_already_waitlisted_when_the_waitlist_is_full),
        TEST(a_full_waitlist_answers_full),
        TEST(full_trial_waitlists_then_reports_full_when_the_waitlist_is_full),
        TEST(leaving_the_waitlist_frees_room_on_it),
        TEST(cancelling_an_enrolled_user_promotes_the_waitlist_head_with_its_arrival_number),
        TEST(cancel_of_an_enrolled_user_promotes_the_waitlist_head_keeping_its_arrival_number),
        TEST(cancelling_a_waitlisted_user_removes_it_and_moves_the_others_up),
        TEST(cancel_of_a_waitlisted_user_leaves_the_waitlist_and_later_positions_shift),
        TEST(waitlist_positions_follow_promotions),
        TEST(resizing_below_the_enrolled_count_drops_nobody),
        TEST(remaining_stays_zero_until_enough_users_cancel_after_shrinking),
        TEST(cancelling_while_over_capacity_promotes_nobody),
        TEST(resize_below_enrolled_never_drops_anyone_and_cancels_do_not_promote_while_over),
        TEST(resizing_up_promotes_the_waitlist_in_fifo_order_and_returns_the_count),
        TEST(resize_up_promotes_in_fifo_order_and_returns_the_count),
        TEST(resizing_beyond_the_waitlist_promotes_everyone_and_leaves_room),
        TEST(resizing_while_over_capacity_promotes_nobody),
        TEST(resize_promoting_many_after_mid_list_cancels_keeps_every_user),
        TEST(resize_above_the_maximum_is_clamped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
