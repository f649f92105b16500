/* test_trial_memory.c -- cmocka tests of the enrollment core (module/trial.h), linked without
 * Redis: memory. trial_memory_usage() equals what the allocator holds for the trial (usable sizes)
 * while it grows, shrinks after mass cancellations and is copied; every allocation goes through the
 * cores' allocator; and with any one allocation failing, create, enroll, copy, load, restore and
 * resize fail cleanly or succeed fully, while cancel needs no memory at all.
 *
 * Runs on the shared counting allocator (counting_allocator.h), whose failure injection drives the
 * out-of-memory tests; each test fails if it leaves anything allocated through the core.
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

/* ==== memory usage =============================================================================== */
static void memory_usage_grows_with_users_and_shrinks_after_cancels(void **state) {
    (void)state;
    trial *t = new_trial(1000000, 0);
    size_t empty = trial_memory_usage(t);
    assert_true(empty > 0);
    char id[32];
    for (unsigned long i = 0; i < 10000; i++) enroll(t, numbered(id, i));
    size_t full = trial_memory_usage(t);
    assert_true(full > empty + 10000 * 17);
    for (unsigned long i = 0; i < 9000; i++) cancel(t, numbered(id, i));
    size_t after = trial_memory_usage(t);
    assert_true(after < full);
    assert_true(after < full - 9000 * 17);
    trial_free(t);
}

static void memory_usage_matches_the_allocator_and_grows_and_shrinks_with_users(void **state) {
    (void)state;
    char id[ID_BUF];
    trial *t = new_trial(100000, 0);
    size_t empty = trial_memory_usage(t);
    assert_true(empty > 0);
    assert_int_equal(trial_memory_usage(t), bytes_in_use());
    for (uint32_t i = 0; i < 20000; i++) assert_int_equal(trial_enroll(t, id, make_id(i, id), NULL), 1);
    size_t full = trial_memory_usage(t);
    assert_true(full > empty + 20000 * 8);
    assert_int_equal(full, bytes_in_use());
    for (uint32_t i = 0; i < 20000; i++)
        if (i % 10 != 0) assert_int_equal(trial_cancel(t, id, make_id(i, id), NULL), 1);
    size_t after = trial_memory_usage(t);
    assert_true(after < full);
    assert_int_equal(after, bytes_in_use());
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

/* The hash index gives memory back too: after 99.9% of 100,000 users cancel, the trial holds
 * little more than an empty one, the few left are all found, and the trial grows again normally. */
static void the_index_shrinks_after_mass_cancellations_and_keeps_every_user(void **state) {
    (void)state;
    trial *t = new_trial(1000000, 0);
    size_t empty = trial_memory_usage(t);
    char id[32];
    for (unsigned long i = 0; i < 100000; i++) enroll(t, numbered(id, i));
    size_t full = trial_memory_usage(t);
    for (unsigned long i = 0; i < 100000; i++) {
        if (i % 1000 != 0) cancel(t, numbered(id, i));
    }
    size_t after = trial_memory_usage(t);
    assert_int_equal(after, bytes_in_use());
    if (after > empty + (full - empty) / 50)
        fail_msg("100 users left hold %zu bytes: full %zu, empty %zu", after, full, empty);
    for (unsigned long i = 0; i < 100000; i++) {
        uint64_t value;
        trial_state expected = i % 1000 == 0 ? TRIAL_STATE_ENROLLED : TRIAL_STATE_NONE;
        assert_int_equal(trial_status(t, numbered(id, i), strlen(id), &value), expected);
    }
    for (unsigned long i = 100000; i < 150000; i++) enroll(t, numbered(id, i));
    assert_int_equal(trial_enrolled_count(t), 50100);
    assert_int_equal(trial_memory_usage(t), bytes_in_use());
    trial_free(t);
}

/* Waves of arrivals and mass cancellations, so shrinking and growing tables interleave with
 * drains still in progress: after every wave each user is found exactly when it should be, the
 * internal invariants hold and the memory accounting is exact. */
static void waves_of_growth_and_mass_cancellation_keep_the_index_consistent(void **state) {
    (void)state;
    trial *t = new_trial(1000000, 0);
    char id[32];
    unsigned long next = 0, first_live = 0;
    for (int wave = 0; wave < 12; wave++) {
        unsigned long arrivals = 2000 + (unsigned long)wave * 1500;
        for (unsigned long i = 0; i < arrivals; i++) enroll(t, numbered(id, next++));
        assert_int_equal(trial_check(t), 0);
        /* cancel all but every 97th of the live range, interleaved with a few new arrivals */
        for (unsigned long i = first_live; i < next; i++) {
            if (i % 97 != 0) cancel(t, numbered(id, i));
            if (i % 500 == 0) {
                enroll(t, numbered(id, 10000000 + i));
                cancel(t, numbered(id, 10000000 + i));
            }
        }
        assert_int_equal(trial_check(t), 0);
        for (unsigned long i = 0; i < next; i++) {
            uint64_t value;
            trial_state expected = i % 97 == 0 ? TRIAL_STATE_ENROLLED : TRIAL_STATE_NONE;
            if (trial_status(t, numbered(id, i), strlen(id), &value) != expected) fail_msg("wave %d: user %lu", wave, i);
        }
        assert_int_equal(trial_memory_usage(t), bytes_in_use());
        first_live = next;
    }
    trial_free(t);
}

static void memory_usage_counts_every_byte_the_trial_holds(void **state) {
    (void)state;
    trial *t = new_trial(1000000, 100);
    assert_int_equal(trial_memory_usage(t), bytes_in_use());
    char id[32];
    for (unsigned long i = 0; i < 5000; i++) enroll(t, numbered(id, i));
    assert_int_equal(trial_memory_usage(t), bytes_in_use());
    for (unsigned long i = 0; i < 5000; i += 2) cancel(t, numbered(id, i));
    assert_int_equal(trial_memory_usage(t), bytes_in_use());
    trial_resize(t, 10);
    for (unsigned long i = 5000; i < 5100; i++) enroll(t, numbered(id, i));
    assert_int_equal(trial_memory_usage(t), bytes_in_use());
    trial *c = trial_copy(t);
    assert_non_null(c);
    assert_int_equal(trial_memory_usage(t) + trial_memory_usage(c), bytes_in_use());
    trial_free(t);
    assert_int_equal(trial_memory_usage(c), bytes_in_use());
    trial_free(c);
}

static void every_allocation_goes_through_the_allocator_and_is_freed(void **state) {
    (void)state;
    size_t allocations = heap.allocations;
    trial *t = busy_trial();
    trial *c = trial_copy(t);
    buffer b = save(c);
    trial *loaded = load(&b);
    assert_non_null(loaded);
    assert_true(heap.allocations > allocations);
    assert_true(heap.live_blocks > baseline_blocks);
    trial_free(loaded);
    trial_free(c);
    trial_free(t);
    buffer_free(&b);
    assert_int_equal(heap.live_blocks, baseline_blocks);
    assert_int_equal(heap.live_bytes, baseline_bytes);
}

/* ==== out of memory ============================================================================== */
#define MAX_INJECTIONS 200

static void creating_without_memory_returns_null(void **state) {
    (void)state;
    fail_allocation(0);
    assert_null(trial_create(5, 5));
    stop_failing();
}

static void enrolling_without_memory_answers_no_memory_and_changes_nothing(void **state) {
    (void)state;
    trial *t = new_trial(100, 100);
    char id[32];
    size_t refusals = 0;
    for (unsigned long i = 0; i < 150; i++) {
        for (long k = 0; k < MAX_INJECTIONS; k++) {
            buffer before = save(t);
            fail_allocation(k);
            trial_enroll_result r = enroll(t, numbered(id, i));
            int injected = heap.failures > 0;
            stop_failing();
            assert_int_equal(trial_check(t), 0);
            if (r == TRIAL_ENROLL_NO_MEMORY) {
                assert_unchanged(t, &before);
                assert_int_equal(status(t, id, NULL), TRIAL_STATE_NONE);
                refusals++;
            } else {
                assert_int_equal(r, i < 100 ? TRIAL_ENROLL_ENROLLED : TRIAL_ENROLL_WAITLISTED);
                assert_int_equal(trial_memory_usage(t), bytes_in_use());
            }
            buffer_free(&before);
            if (!injected || r != TRIAL_ENROLL_NO_MEMORY) break;
        }
    }
    assert_true(refusals > 0);
    trial_free(t);
}

static void copying_without_memory_returns_null_and_leaks_nothing(void **state) {
    (void)state;
    trial *t = numbered_trial(300);
    size_t held = bytes_in_use();
    for (long k = 0; k < MAX_INJECTIONS * 10; k++) {
        fail_allocation(k);
        trial *c = trial_copy(t);
        int injected = heap.failures > 0;
        stop_failing();
        if (c != NULL) {
            assert_trials_equal(t, c);
            trial_free(c);
        }
        assert_int_equal(bytes_in_use(), held);
        if (!injected) break;
        assert_null(c);
    }
    trial_free(t);
}

static void loading_without_memory_returns_null_and_leaks_nothing(void **state) {
    (void)state;
    trial *t = busy_trial();
    buffer b = save(t);
    size_t held = bytes_in_use();
    for (long k = 0; k < MAX_INJECTIONS; k++) {
        fail_allocation(k);
        trial *loaded = load(&b);
        int injected = heap.failures > 0;
        stop_failing();
        if (loaded != NULL) {
            assert_trials_equal(t, loaded);
            trial_free(loaded);
        }
        assert_int_equal(bytes_in_use(), held);
        if (!injected) break;
    }
    buffer_free(&b);
    trial_free(t);
}

static void restoring_without_memory_answers_no_memory_and_changes_nothing(void **state) {
    (void)state;
    enum { N = 100 };
    trial *t = numbered_trial(5);
    char ids[N][32];
    const char *users[N];
    size_t lens[N];
    uint64_t tickets[N];
    for (size_t i = 0; i < N; i++) {
        users[i] = numbered(ids[i], 1000 + i);
        lens[i] = strlen(users[i]);
        tickets[i] = 1000 + i;
    }
    size_t refusals = 0;
    for (long k = 0; k < MAX_INJECTIONS * 5; k++) {
        buffer before = save(t);
        fail_allocation(k);
        size_t failed_at = 0;
        trial_restore_result r = trial_restore(t, TRIAL_LIST_ENROLLED, N, tickets, users, lens, &failed_at);
        int injected = heap.failures > 0;
        stop_failing();
        assert_int_equal(trial_check(t), 0);
        if (r == TRIAL_RESTORE_NO_MEMORY) {
            assert_unchanged(t, &before);
            assert_true(failed_at < N);
            refusals++;
        } else {
            assert_int_equal(r, TRIAL_RESTORE_OK);
        }
        buffer_free(&before);
        if (!injected || r == TRIAL_RESTORE_OK) break;
    }
    assert_true(refusals > 0);
    assert_int_equal(trial_enrolled_count(t), 5 + N);
    trial_free(t);
}

/* Cancel never needs memory (trial.h): with any one allocation failing it does exactly what it does
 * with memory to spare, promotion included. */
static void cancelling_needs_no_memory(void **state) {
    (void)state;
    /* 8 enrolled fill their slot array exactly; cancelling one in the middle leaves a tombstone, so
     * promoting the waitlist head has no free slot at the end of the array */
    const unsigned long victims[] = {3, 0, 7, 8};
    for (size_t v = 0; v < sizeof(victims) / sizeof(victims[0]); v++) {
        for (long k = 0; k < 20; k++) {
            trial *t = new_trial(8, 4);
            trial *reference = new_trial(8, 4);
            char id[32];
            for (unsigned long i = 0; i < 10; i++) {
                enroll(t, numbered(id, i));
                enroll(reference, id);
            }
            uint64_t want_promoted = 0, got_promoted = 0;
            trial_cancel_result want = trial_cancel(reference, numbered(id, victims[v]), 17, &want_promoted);
            fail_allocation(k);
            trial_cancel_result got = trial_cancel(t, id, 17, &got_promoted);
            stop_failing();
            if (trial_check(t) != 0)
                fail_msg("allocation %ld failed while cancelling %s: trial_check = %d, enrolled %llu of %llu, "
                         "waiting %llu", k, id, trial_check(t), (unsigned long long)trial_enrolled_count(t),
                         (unsigned long long)trial_capacity(t), (unsigned long long)trial_waitlisted_count(t));
            assert_int_equal(got, want);
            assert_int_equal(got_promoted, want_promoted);
            buffer expected = save(reference);
            assert_unchanged(t, &expected);
            buffer_free(&expected);
            trial_free(reference);
            trial_free(t);
        }
    }
}

/* Resize either promotes exactly as with memory to spare, or answers TRIAL_RESIZE_NO_MEMORY and
 * changes nothing. */
static void resizing_without_memory_promotes_fully_or_changes_nothing(void **state) {
    (void)state;
    size_t refusals = 0;
    for (long k = 0; k < 40; k++) {
        trial *t = new_trial(8, 40);
        trial *reference = new_trial(8, 40);
        char id[32];
        for (unsigned long i = 0; i < 40; i++) {
            enroll(t, numbered(id, i));
            enroll(reference, id);
        }
        uint64_t want = trial_resize(reference, 30);
        buffer before = save(t);
        fail_allocation(k);
        uint64_t got = trial_resize(t, 30);
        int injected = heap.failures > 0;
        stop_failing();
        if (trial_check(t) != 0)
            fail_msg("allocation %ld failed during resize: trial_check = %d, enrolled %llu of %llu, waiting %llu", k,
                     trial_check(t), (unsigned long long)trial_enrolled_count(t),
                     (unsigned long long)trial_capacity(t), (unsigned long long)trial_waitlisted_count(t));
        if (got == TRIAL_RESIZE_NO_MEMORY) {
            assert_true(injected);
            assert_unchanged(t, &before);
            refusals++;
        } else {
            assert_int_equal(got, want);
            buffer expected = save(reference);
            assert_unchanged(t, &expected);
            buffer_free(&expected);
        }
        buffer_free(&before);
        trial_free(reference);
        trial_free(t);
        if (!injected) break;
    }
    (void)refusals;
}

/* ==== main ======================================================================================= */
#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void) {
    core_set_allocator(&counting_allocator);
    seed_trial_hash("test_trial_memory");
    const struct CMUnitTest tests[] = {
        TEST(memory_usage_grows_with_users_and_shrinks_after_cancels),
        TEST(memory_usage_matches_the_allocator_and_grows_and_shrinks_with_users),
        TEST(the_index_shrinks_after_mass_cancellations_and_keeps_every_user),
        TEST(waves_of_growth_and_mass_cancellation_keep_the_index_consistent),
        TEST(memory_usage_counts_every_byte_the_trial_holds),
        TEST(every_allocation_goes_through_the_allocator_and_is_freed),
        TEST(creating_without_memory_returns_null),
        TEST(enrolling_without_memory_answers_no_memory_and_changes_nothing),
        TEST(copying_without_memory_returns_null_and_leaks_nothing),
        TEST(loading_without_memory_returns_null_and_leaks_nothing),
        TEST(restoring_without_memory_answers_no_memory_and_changes_nothing),
        TEST(cancelling_needs_no_memory),
        TEST(resizing_without_memory_promotes_fully_or_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
