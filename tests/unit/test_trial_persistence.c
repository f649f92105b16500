/* test_trial_persistence.c -- cmocka tests of the enrollment core (module/trial.h), linked without
 * Redis: trial_save and trial_load. Trials of every shape survive a round trip (empty, the largest
 * capacity, waitlists, binary ids, 100,000 users with tombstones); loading refuses an unknown
 * encoding, input cut at any point, and every kind of corrupted value (absurd counts, bad ids,
 * duplicate users, arrival numbers out of order, a value of the wrong kind), without leaking.
 *
 * Streams go through the tagged in-memory writer/reader of memory_stream.h: tests cut them, rewrite
 * single tokens, or build them by hand. Runs on the shared counting allocator (counting_allocator.h);
 * each test fails if it leaves anything allocated through the core. TRIAL_TEST_SEED replays the
 * printed hash seed. */
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

/* ==== round trips ================================================================================ */
static void an_empty_trial_survives_save_and_load(void **state) {
    (void)state;
    trial *t = new_trial(7, 3);
    assert_round_trip(t);
    trial_free(t);
}

static void empty_trial_survives_save_and_load(void **state) {
    (void)state;
    trial *t = new_trial(0, 0);
    assert_round_trip(t);
    trial_free(t);
    t = new_trial(TRIAL_MAX_CAPACITY, 7);
    trial_raise_next_ticket(t, 1234);
    assert_round_trip(t);
    trial_free(t);
}

static void a_trial_of_the_largest_capacity_survives_save_and_load(void **state) {
    (void)state;
    trial *t = new_trial(TRIAL_MAX_CAPACITY, TRIAL_MAX_CAPACITY);
    assert_round_trip(t);
    trial_free(t);
}

static void a_trial_with_a_waitlist_survives_save_and_load(void **state) {
    (void)state;
    trial *t = busy_trial();
    assert_round_trip(t);
    trial_free(t);
}

static void trial_with_a_waitlist_survives_save_and_load(void **state) {
    (void)state;
    trial *t = new_trial(3, 10);
    char id[ID_BUF];
    for (uint32_t i = 0; i < 12; i++) assert_true(trial_enroll(t, id, make_id(i, id), NULL) > 0);
    assert_int_equal(trial_cancel(t, id, make_id(1, id), NULL), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_cancel(t, id, make_id(7, id), NULL), TRIAL_CANCEL_LEFT_WAITLIST);
    assert_int_equal(trial_resize(t, 2), 0);
    assert_round_trip(t);
    trial_free(t);
}

static void a_trial_with_binary_ids_survives_save_and_load(void **state) {
    (void)state;
    char longest[TRIAL_MAX_USER_LEN];
    for (size_t i = 0; i < sizeof(longest); i++) longest[i] = (char)(i % 7);
    trial *t = new_trial(2, 3);
    assert_int_equal(trial_enroll(t, "\0", 1, NULL), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_enroll(t, longest, sizeof(longest), NULL), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(trial_enroll(t, "a\0b", 3, NULL), TRIAL_ENROLL_WAITLISTED);
    assert_round_trip(t);
    trial_free(t);
}

static void a_large_trial_with_tombstones_survives_save_and_load(void **state) {
    (void)state;
    enum { N = 100000, WAITING = 5000 };
    trial *t = new_trial(N, WAITING);
    char id[32];
    for (unsigned long i = 0; i < N + WAITING; i++) {
        trial_enroll_result r = enroll(t, numbered(id, i));
        assert_int_equal(r, i < N ? TRIAL_ENROLL_ENROLLED : TRIAL_ENROLL_WAITLISTED);
    }
    /* every third enrolled user leaves (the first WAITING cancels promote the waitlist), and every
     * seventh waitlisted user leaves while there is still a waitlist */
    for (unsigned long i = N; i < N + WAITING; i += 7) cancel(t, numbered(id, i));
    for (unsigned long i = 0; i < N; i += 3) assert_int_equal(cancel(t, numbered(id, i)), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(trial_check(t), 0);
    assert_int_equal(trial_waitlisted_count(t), 0);
    trial_resize(t, 50000); /* over capacity */
    assert_round_trip(t);
    buffer b = save(t);
    trial *loaded = load(&b);
    assert_non_null(loaded);
    trial_resize(loaded, N * 2);
    trial_resize(t, N * 2);
    assert_int_equal(enroll_ticket(loaded, "newcomer"), enroll_ticket(t, "newcomer"));
    assert_trials_equal(t, loaded);
    trial_free(loaded);
    buffer_free(&b);
    trial_free(t);
}

static void hundred_thousand_users_with_many_cancels_survive_save_and_load(void **state) {
    (void)state;
    enum { USERS = 100000, WAITING = 3000 };
    char id[ID_BUF];
    trial *t = new_trial(USERS, WAITING);
    for (uint32_t i = 0; i < USERS + WAITING; i++) assert_true(trial_enroll(t, id, make_id(i, id), NULL) > 0);
    /* Lower the capacity so cancels leave tombstones instead of promoting. */
    trial_resize(t, USERS / 2);
    for (uint32_t i = 0; i < USERS; i++)
        if (i % 3 == 1 || i % 10 == 7) assert_int_equal(trial_cancel(t, id, make_id(i, id), NULL), 1);
    for (uint32_t i = USERS; i < USERS + WAITING; i += 4)
        assert_int_equal(trial_cancel(t, id, make_id(i, id), NULL), TRIAL_CANCEL_LEFT_WAITLIST);
    assert_int_equal(trial_check(t), 0);
    assert_true(trial_waitlisted_count(t) > 0);
    assert_round_trip(t);
    trial_free(t);
}

static void a_large_waitlist_survives_save_and_load(void **state) {
    (void)state;
    enum { N = 20000 };
    trial *t = new_trial(10, N);
    char id[32];
    for (unsigned long i = 0; i < N + 10; i++) enroll(t, numbered(id, i));
    for (unsigned long i = 10; i < N + 10; i += 2) assert_int_equal(cancel(t, numbered(id, i)), TRIAL_CANCEL_LEFT_WAITLIST);
    assert_int_equal(trial_check(t), 0);
    assert_round_trip(t);
    trial_free(t);
}

static void saving_a_loaded_trial_gives_the_same_bytes(void **state) {
    (void)state;
    trial *t = busy_trial();
    buffer first = save(t);
    trial *loaded = load(&first);
    assert_non_null(loaded);
    buffer second = save(loaded);
    assert_same_bytes(&first, &second);
    buffer_free(&first);
    buffer_free(&second);
    trial_free(loaded);
    trial_free(t);
}

/* ==== encoding version and truncation ============================================================ */
static void small_serialized_trial(buffer *out) {
    trial *t = new_trial(2, 3);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("bb\0"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("w1"), TRIAL_ENROLL_WAITLISTED, 3);
    enroll_ok(t, S("w2"), TRIAL_ENROLL_WAITLISTED, 4);
    *out = save(t);
    trial_free(t);
}

static void loading_refuses_an_unknown_encoding_version(void **state) {
    (void)state;
    trial *t = busy_trial();
    buffer b = save(t);
    assert_null(load_prefix(&b, b.len, 0, NULL));
    assert_null(load_prefix(&b, b.len, TRIAL_ENCODING_VERSION + 1, NULL));
    assert_null(load_prefix(&b, b.len, -1, NULL));
    buffer_free(&b);
    trial_free(t);
}

static void load_rejects_an_unknown_encoding(void **state) {
    (void)state;
    buffer b;
    small_serialized_trial(&b);
    assert_null(load_prefix(&b, b.len, TRIAL_ENCODING_VERSION + 1, NULL));
    assert_null(load_prefix(&b, b.len, 0, NULL));
    assert_null(load_prefix(&b, b.len, -1, NULL));
    trial *t = load(&b);
    assert_non_null(t);
    trial_free(t);
    buffer_free(&b);
}

static void loading_refuses_input_cut_at_any_point(void **state) {
    (void)state;
    trial *t = busy_trial();
    buffer b = save(t);
    for (size_t len = 0; len < b.len; len++) {
        trial *loaded = load_prefix(&b, len, TRIAL_ENCODING_VERSION, NULL);
        if (loaded != NULL) fail_msg("input cut to %zu of %zu bytes was accepted", len, b.len);
        assert_int_equal(bytes_in_use(), trial_memory_usage(t));
    }
    trial *whole = load_prefix(&b, b.len, TRIAL_ENCODING_VERSION, NULL);
    assert_non_null(whole);
    trial_free(whole);
    buffer_free(&b);
    trial_free(t);
}

static void load_of_input_truncated_at_any_point_fails_without_leaking(void **state) {
    (void)state;
    buffer b;
    small_serialized_trial(&b);
    for (size_t cut = 0; cut < b.len; cut++) {
        size_t blocks = heap.live_blocks;
        trial *t = load_prefix(&b, cut, TRIAL_ENCODING_VERSION, NULL);
        if (t != NULL) print_error("a stream cut at byte %zu of %zu loaded\n", cut, b.len);
        assert_null(t);
        assert_int_equal(heap.live_blocks, blocks);
    }
    trial *t = load(&b);
    assert_non_null(t);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
    buffer_free(&b);
}

static void loading_refuses_an_empty_trial_cut_at_any_point(void **state) {
    (void)state;
    trial *t = new_trial(3, 3);
    buffer b = save(t);
    for (size_t len = 0; len < b.len; len++) assert_null(load_prefix(&b, len, TRIAL_ENCODING_VERSION, NULL));
    buffer_free(&b);
    trial_free(t);
}

/* ==== corrupted values, rewritten in a saved stream ============================================== */
/* A trial whose serialized values are all distinct, so a test can find and rewrite any one of them:
 * capacity 3, waitlist 500, next arrival 100, enrolled alpha..delta (11, 22, 33, 44: over capacity
 * after a resize), waitlisted echo and foxtrot (55, 66). */
static token_list fixture_tokens(void) {
    trial *t = new_trial(3, 500);
    assert_int_equal(restore(t, TRIAL_LIST_ENROLLED, 4, (uint64_t[]){11, 22, 33, 44},
                             (const char *[]){"alpha", "bravo", "charlie", "delta"}, NULL),
                     TRIAL_RESTORE_OK);
    assert_int_equal(restore(t, TRIAL_LIST_WAITLIST, 2, (uint64_t[]){55, 66}, (const char *[]){"echo", "foxtrot"}, NULL),
                     TRIAL_RESTORE_OK);
    trial_raise_next_ticket(t, 100);
    assert_int_equal(trial_check(t), 0);
    assert_int_equal(trial_enrolled_count(t), 4);
    assert_int_equal(trial_waitlisted_count(t), 2);
    buffer b = save(t);
    trial_free(t);
    token_list l = tokenize(&b);
    buffer_free(&b);
    return l;
}

static void assert_tokens_refused(token_list *l) {
    trial *t = load_tokens(l);
    if (t != NULL) trial_free(t);
    assert_null(t);
    tokens_free(l);
}

static void the_untouched_fixture_loads(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    trial *t = load_tokens(&l);
    assert_non_null(t);
    assert_int_equal(trial_check(t), 0);
    assert_int_equal(trial_next_ticket(t), 100);
    assert_int_equal(trial_enrolled_count(t), 4);
    assert_int_equal(trial_waitlisted_count(t), 2);
    trial_free(t);
    tokens_free(&l);
}

static void loading_refuses_an_absurd_enrolled_count(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    u64_token(&l, 4)->value = (uint64_t)1 << 60;
    assert_tokens_refused(&l);
    assert_int_equal(heap.refused_huge, 0);
}

static void loading_refuses_an_absurd_waitlist_count(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    u64_token(&l, 2)->value = (uint64_t)1 << 60;
    assert_tokens_refused(&l);
    assert_int_equal(heap.refused_huge, 0);
}

static void loading_refuses_a_count_above_the_users_present(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    u64_token(&l, 2)->value = 3;
    assert_tokens_refused(&l);
}

static void loading_refuses_an_empty_user(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    set_token_bytes(bytes_token(&l, "bravo"), "", 0);
    assert_tokens_refused(&l);
}

static void loading_refuses_an_over_long_user(void **state) {
    (void)state;
    char too_long[TRIAL_MAX_USER_LEN + 1];
    memset(too_long, 'x', sizeof(too_long));
    token_list l = fixture_tokens();
    set_token_bytes(bytes_token(&l, "echo"), too_long, sizeof(too_long));
    assert_tokens_refused(&l);
}

static void loading_accepts_the_longest_user(void **state) {
    (void)state;
    char longest[TRIAL_MAX_USER_LEN];
    memset(longest, 'x', sizeof(longest));
    token_list l = fixture_tokens();
    set_token_bytes(bytes_token(&l, "echo"), longest, sizeof(longest));
    trial *t = load_tokens(&l);
    assert_non_null(t);
    assert_int_equal(trial_status(t, longest, sizeof(longest), NULL), TRIAL_STATE_WAITLISTED);
    trial_free(t);
    tokens_free(&l);
}

static void loading_refuses_a_user_twice_in_the_enrolled_list(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    set_token_bytes(bytes_token(&l, "charlie"), "alpha", 5);
    assert_tokens_refused(&l);
}

static void loading_refuses_a_user_in_both_lists(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    set_token_bytes(bytes_token(&l, "foxtrot"), "alpha", 5);
    assert_tokens_refused(&l);
}

static void loading_refuses_decreasing_arrival_numbers(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    u64_token(&l, 22)->value = 40;
    u64_token(&l, 33)->value = 30;
    assert_tokens_refused(&l);
}

static void loading_refuses_decreasing_arrival_numbers_on_the_waitlist(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    u64_token(&l, 66)->value = 54;
    assert_tokens_refused(&l);
}

static void loading_refuses_a_repeated_arrival_number(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    u64_token(&l, 33)->value = 22;
    assert_tokens_refused(&l);
}

static void loading_refuses_arrival_number_zero(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    u64_token(&l, 11)->value = 0;
    assert_tokens_refused(&l);
}

static void loading_refuses_an_arrival_number_held_by_both_lists(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    u64_token(&l, 55)->value = 44; /* echo (waitlisted) would share delta's arrival number */
    assert_tokens_refused(&l);
}

static void loading_refuses_a_next_arrival_number_not_above_every_user(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    u64_token(&l, 100)->value = 66;
    assert_tokens_refused(&l);
}

static void loading_refuses_a_capacity_above_the_largest(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    u64_token(&l, 3)->value = TRIAL_MAX_CAPACITY + 1;
    assert_tokens_refused(&l);
    l = fixture_tokens();
    u64_token(&l, 500)->value = UINT64_MAX;
    assert_tokens_refused(&l);
}

static void loading_refuses_a_value_of_the_wrong_kind(void **state) {
    (void)state;
    token_list l = fixture_tokens();
    token *tk = bytes_token(&l, "charlie");
    free(tk->bytes);
    tk->bytes = NULL;
    tk->is_bytes = 0;
    tk->value = 7;
    assert_tokens_refused(&l);
}

/* ==== hand-built streams ========================================================================= */
/* A hand-built stream: header, then enrolled and waitlist pairs. */
typedef struct pair {
    uint64_t ticket;
    const char *user;
    size_t len;
} pair;

static buffer build_stream(uint64_t capacity, uint64_t waitlist_max, uint64_t next_ticket, uint64_t n_enrolled,
                                const pair *enrolled, size_t enrolled_written, uint64_t n_waiting,
                                const pair *waiting, size_t waiting_written) {
    buffer b = {0};
    write_u64(&b, capacity);
    write_u64(&b, waitlist_max);
    write_u64(&b, next_ticket);
    write_u64(&b, n_enrolled);
    for (size_t i = 0; i < enrolled_written; i++) {
        write_u64(&b, enrolled[i].ticket);
        write_bytes(&b, enrolled[i].user, enrolled[i].len);
    }
    write_u64(&b, n_waiting);
    for (size_t i = 0; i < waiting_written; i++) {
        write_u64(&b, waiting[i].ticket);
        write_bytes(&b, waiting[i].user, waiting[i].len);
    }
    return b;
}

static void assert_stream_rejected(buffer b) {
    trial *t = load(&b);
    assert_null(t);
    buffer_free(&b);
}

static void load_of_a_hand_built_stream_succeeds(void **state) {
    (void)state;
    const pair en[] = {{2, "a", 1}, {5, "b\0", 2}};
    const pair wl[] = {{7, "w", 1}};
    buffer b = build_stream(2, 4, 8, 2, en, 2, 1, wl, 1);
    trial *t = load(&b);
    assert_non_null(t);
    assert_int_equal(trial_next_ticket(t), 8);
    uint64_t v;
    assert_int_equal(trial_status(t, S("b\0"), &v), TRIAL_STATE_ENROLLED);
    assert_int_equal(v, 5);
    assert_int_equal(trial_status(t, S("w"), &v), TRIAL_STATE_WAITLISTED);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
    buffer_free(&b);
}

static void load_rejects_absurd_counts(void **state) {
    (void)state;
    const pair en[] = {{1, "a", 1}, {2, "b", 1}};
    const uint64_t absurd = (uint64_t)1 << 60;
    size_t refused = heap.refused_huge;
    assert_stream_rejected(build_stream(10, 10, 3, absurd, en, 2, 0, NULL, 0));
    assert_stream_rejected(build_stream(10, 10, 3, 2, en, 2, absurd, NULL, 0));
    assert_stream_rejected(build_stream(10, 10, 3, UINT64_MAX, en, 0, 0, NULL, 0));
    /* Nothing was sized from the count. */
    assert_int_equal(heap.refused_huge, refused);
    assert_stream_rejected(build_stream(TRIAL_MAX_CAPACITY + 1, 10, 3, 2, en, 2, 0, NULL, 0));
    assert_stream_rejected(build_stream(10, TRIAL_MAX_CAPACITY + 1, 3, 2, en, 2, 0, NULL, 0));
    assert_stream_rejected(build_stream(10, 10, 0, 0, en, 0, 0, NULL, 0));
    assert_stream_rejected(build_stream(10, 10, UINT64_MAX, 0, en, 0, 0, NULL, 0));
}

static void load_rejects_empty_and_over_long_user_ids(void **state) {
    (void)state;
    static char too_long[TRIAL_MAX_USER_LEN + 1];
    memset(too_long, 'x', sizeof(too_long));
    const pair empty[] = {{1, "a", 1}, {2, "", 0}};
    assert_stream_rejected(build_stream(10, 10, 3, 2, empty, 2, 0, NULL, 0));
    const pair over[] = {{1, too_long, TRIAL_MAX_USER_LEN + 1}};
    assert_stream_rejected(build_stream(10, 10, 3, 1, over, 1, 0, NULL, 0));
    assert_stream_rejected(build_stream(0, 10, 3, 0, NULL, 0, 1, over, 1));
    const pair longest[] = {{1, too_long, TRIAL_MAX_USER_LEN}};
    buffer b = build_stream(10, 10, 3, 1, longest, 1, 0, NULL, 0);
    trial *t = load(&b);
    assert_non_null(t);
    trial_free(t);
    buffer_free(&b);
}

static void load_rejects_duplicate_users(void **state) {
    (void)state;
    const pair twice[] = {{1, "a", 1}, {2, "a", 1}};
    assert_stream_rejected(build_stream(10, 10, 3, 2, twice, 2, 0, NULL, 0));
    const pair en[] = {{1, "a", 1}};
    const pair wl[] = {{2, "a", 1}};
    assert_stream_rejected(build_stream(1, 10, 3, 1, en, 1, 1, wl, 1));
}

static void load_rejects_tickets_that_do_not_increase(void **state) {
    (void)state;
    const pair decreasing[] = {{5, "a", 1}, {3, "b", 1}};
    assert_stream_rejected(build_stream(10, 10, 6, 2, decreasing, 2, 0, NULL, 0));
    const pair equal[] = {{5, "a", 1}, {5, "b", 1}};
    assert_stream_rejected(build_stream(10, 10, 6, 2, equal, 2, 0, NULL, 0));
    const pair zero[] = {{0, "a", 1}};
    assert_stream_rejected(build_stream(10, 10, 6, 1, zero, 1, 0, NULL, 0));
    const pair wl[] = {{4, "w", 1}, {2, "v", 1}};
    const pair en[] = {{1, "a", 1}};
    assert_stream_rejected(build_stream(1, 10, 6, 1, en, 1, 2, wl, 2));
    /* A ticket at or above the stored next ticket. */
    const pair high[] = {{1, "a", 1}, {6, "b", 1}};
    assert_stream_rejected(build_stream(10, 10, 6, 2, high, 2, 0, NULL, 0));
}

/* ==== main ======================================================================================= */
#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void) {
    core_set_allocator(&counting_allocator);
    seed_trial_hash("test_trial_persistence");
    const struct CMUnitTest tests[] = {
        TEST(an_empty_trial_survives_save_and_load),
        TEST(empty_trial_survives_save_and_load),
        TEST(a_trial_of_the_largest_capacity_survives_save_and_load),
        TEST(a_trial_with_a_waitlist_survives_save_and_load),
        TEST(trial_with_a_waitlist_survives_save_and_load),
        TEST(a_trial_with_binary_ids_survives_save_and_load),
        TEST(a_large_trial_with_tombstones_survives_save_and_load),
        TEST(hundred_thousand_users_with_many_cancels_survive_save_and_load),
        TEST(a_large_waitlist_survives_save_and_load),
        TEST(saving_a_loaded_trial_gives_the_same_bytes),
        TEST(loading_refuses_an_unknown_encoding_version),
        TEST(load_rejects_an_unknown_encoding),
        TEST(loading_refuses_input_cut_at_any_point),
        TEST(load_of_input_truncated_at_any_point_fails_without_leaking),
        TEST(loading_refuses_an_empty_trial_cut_at_any_point),
        TEST(the_untouched_fixture_loads),
        TEST(loading_refuses_an_absurd_enrolled_count),
        TEST(loading_refuses_an_absurd_waitlist_count),
        TEST(loading_refuses_a_count_above_the_users_present),
        TEST(loading_refuses_an_empty_user),
        TEST(loading_refuses_an_over_long_user),
        TEST(loading_accepts_the_longest_user),
        TEST(loading_refuses_a_user_twice_in_the_enrolled_list),
        TEST(loading_refuses_a_user_in_both_lists),
        TEST(loading_refuses_decreasing_arrival_numbers),
        TEST(loading_refuses_decreasing_arrival_numbers_on_the_waitlist),
        TEST(loading_refuses_a_repeated_arrival_number),
        TEST(loading_refuses_arrival_number_zero),
        TEST(loading_refuses_an_arrival_number_held_by_both_lists),
        TEST(loading_refuses_a_next_arrival_number_not_above_every_user),
        TEST(loading_refuses_a_capacity_above_the_largest),
        TEST(loading_refuses_a_value_of_the_wrong_kind),
        TEST(load_of_a_hand_built_stream_succeeds),
        TEST(load_rejects_absurd_counts),
        TEST(load_rejects_empty_and_over_long_user_ids),
        TEST(load_rejects_duplicate_users),
        TEST(load_rejects_tickets_that_do_not_increase),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
