/* test_lock_core.c -- cmocka tests of the lock core (module/lock.h), linked without Redis.
 *
 * A counting allocator is installed with core_set_allocator() in main(); a per-test teardown fails
 * the test when a record or waiter it allocated through the core is still live. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counting_allocator.h"
#include "lock.h"

#define S(str) (str), (sizeof(str) - 1)

/* ==== records ================================================================================== */
static void record_new_keeps_every_field(void **state) {
    (void)state;
    size_t before = heap.allocations;
    lock_record *r = lock_record_new(S("host-1:42"), 7, 1700000000000LL, 1);
    assert_non_null(r);
    assert_int_equal(heap.allocations, before + 1);
    assert_int_equal(r->token, 7);
    assert_int_equal(r->deadline_ms, 1700000000000LL);
    assert_int_equal(r->holds, 1);
    assert_int_equal(r->owner_len, 9);
    assert_memory_equal(r->owner, "host-1:42", 9);
    assert_true(lock_record_size(r) >= offsetof(lock_record, owner) + 9);
    lock_record_free(r);
    lock_record_free(NULL);
}

static void record_new_accepts_owners_of_one_and_of_the_maximum_length(void **state) {
    (void)state;
    char owner[LOCK_MAX_OWNER_LEN + 1];
    memset(owner, 'o', sizeof(owner));
    lock_record *one = lock_record_new(owner, 1, 1, 0, 1);
    assert_non_null(one);
    assert_int_equal(one->owner_len, 1);
    lock_record *longest = lock_record_new(owner, 512, 1, 0, 1);
    assert_non_null(longest);
    assert_int_equal(LOCK_MAX_OWNER_LEN, 512);
    assert_int_equal(longest->owner_len, 512);
    assert_memory_equal(longest->owner, owner, 512);
    lock_record_free(one);
    lock_record_free(longest);
}

static void record_new_rejects_an_empty_or_too_long_owner(void **state) {
    (void)state;
    char owner[LOCK_MAX_OWNER_LEN + 1];
    memset(owner, 'o', sizeof(owner));
    size_t before = heap.allocations;
    assert_null(lock_record_new(owner, 0, 1, 0, 1));
    assert_null(lock_record_new(owner, 513, 1, 0, 1));
    assert_int_equal(heap.allocations, before);
}

static void record_new_rejects_token_zero_and_holds_zero(void **state) {
    (void)state;
    assert_null(lock_record_new(S("me"), 0, 0, 1));
    assert_null(lock_record_new(S("me"), 1, 0, 0));
    assert_int_equal(lock_record_valid_fields(2, 0, 1), 0);
    assert_int_equal(lock_record_valid_fields(2, 1, 0), 0);
    assert_int_equal(lock_record_valid_fields(0, 1, 1), 0);
    assert_int_equal(lock_record_valid_fields(513, 1, 1), 0);
    assert_int_not_equal(lock_record_valid_fields(512, 1, 1), 0);
    assert_int_not_equal(lock_record_valid_fields(1, 1, UINT32_MAX), 0);
}

static void record_copy_is_equal_and_independent(void **state) {
    (void)state;
    lock_record *r = lock_record_new(S("a\0b"), 99, 12345, 3);
    assert_non_null(r);
    lock_record *c = lock_record_copy(r);
    assert_non_null(c);
    assert_ptr_not_equal(c, r);
    assert_int_equal(c->token, 99);
    assert_int_equal(c->deadline_ms, 12345);
    assert_int_equal(c->holds, 3);
    assert_int_equal(c->owner_len, 3);
    assert_memory_equal(c->owner, "a\0b", 3);
    r->holds = 1;
    r->owner[0] = 'z';
    assert_int_equal(c->holds, 3);
    assert_int_equal(c->owner[0], 'a');
    lock_record_free(r);
    assert_true(lock_record_is_owner(c, S("a\0b")));
    lock_record_free(c);
}

static void is_owner_compares_every_byte_and_the_length(void **state) {
    (void)state;
    lock_record *r = lock_record_new(S("a\0b"), 1, 0, 1);
    assert_non_null(r);
    assert_true(lock_record_is_owner(r, S("a\0b")));
    assert_false(lock_record_is_owner(r, S("a\0c")));
    assert_false(lock_record_is_owner(r, S("a")));
    assert_false(lock_record_is_owner(r, S("a\0")));
    assert_false(lock_record_is_owner(r, S("a\0bb")));
    assert_false(lock_record_is_owner(r, "", 0));
    lock_record_free(r);
}

/* ==== acquisition decisions ==================================================================== */
static void acquire_of_a_free_lock_is_granted(void **state) {
    (void)state;
    assert_int_equal(lock_decide_acquire(NULL, S("me"), 0, 0), LOCK_GRANT);
    assert_int_equal(lock_decide_acquire(NULL, S("me"), 1, 0), LOCK_GRANT);
}

static void acquire_of_a_free_lock_with_waiters_queued_is_busy(void **state) {
    (void)state;
    assert_int_equal(lock_decide_acquire(NULL, S("me"), 0, 1), LOCK_BUSY);
    assert_int_equal(lock_decide_acquire(NULL, S("me"), 1, 5), LOCK_BUSY);
}

static void acquire_by_the_holder_refreshes(void **state) {
    (void)state;
    lock_record *held = lock_record_new(S("me"), 10, 1000, 1);
    assert_non_null(held);
    assert_int_equal(lock_decide_acquire(held, S("me"), 0, 0), LOCK_REFRESH);
    assert_int_equal(lock_decide_acquire(held, S("me"), 0, 3), LOCK_REFRESH);
    lock_record_free(held);
}

static void reentrant_acquire_by_the_holder_adds_a_hold(void **state) {
    (void)state;
    lock_record *held = lock_record_new(S("me"), 10, 1000, 2);
    assert_non_null(held);
    assert_int_equal(lock_decide_acquire(held, S("me"), 1, 0), LOCK_REENTER);
    lock_record_free(held);
    /* No more holds can be counted: the lease is only refreshed. */
    held = lock_record_new(S("me"), 10, 1000, UINT32_MAX);
    assert_non_null(held);
    assert_int_equal(lock_decide_acquire(held, S("me"), 1, 0), LOCK_REFRESH);
    lock_record_free(held);
}

static void acquire_by_another_owner_is_busy(void **state) {
    (void)state;
    lock_record *held = lock_record_new(S("me"), 10, 1000, 1);
    assert_non_null(held);
    assert_int_equal(lock_decide_acquire(held, S("you"), 0, 0), LOCK_BUSY);
    assert_int_equal(lock_decide_acquire(held, S("you"), 1, 0), LOCK_BUSY);
    assert_int_equal(lock_decide_acquire(held, S("me\0"), 1, 0), LOCK_BUSY);
    assert_int_equal(lock_decide_acquire(held, S("m"), 0, 0), LOCK_BUSY);
    lock_record_free(held);
}

/* ==== waiter queue ============================================================================= */
static lock_waiter *waiter(const char *owner, void *handle) {
    lock_waiter *w = lock_waiter_new(owner, strlen(owner), 1000, 0, handle);
    assert_non_null(w);
    return w;
}

static void assert_queue(const lock_queue *q, lock_waiter *const *expected, size_t n) {
    assert_int_equal(q->count, n);
    lock_waiter *w = q->head;
    lock_waiter *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(w, expected[i]);
        assert_ptr_equal(w->prev, prev);
        prev = w;
        w = w->next;
    }
    assert_null(w);
    assert_ptr_equal(q->tail, n ? expected[n - 1] : NULL);
    if (n == 0) assert_null(q->head);
}

static void free_queue(lock_queue *q) {
    lock_waiter *w;
    while ((w = lock_queue_pop(q)) != NULL) lock_waiter_free(w);
}

static void waiter_new_keeps_every_field(void **state) {
    (void)state;
    int handle;
    size_t before = heap.allocations;
    lock_waiter *w = lock_waiter_new(S("own\0er"), 2500, 1, &handle);
    assert_non_null(w);
    assert_int_equal(heap.allocations, before + 1);
    assert_int_equal(w->owner_len, 6);
    assert_memory_equal(w->owner, "own\0er", 6);
    assert_int_equal(w->ttl_ms, 2500);
    assert_int_equal(w->reentrant, 1);
    assert_ptr_equal(w->handle, &handle);
    assert_null(w->home);
    assert_null(w->prev);
    assert_null(w->next);
    lock_waiter_free(w);
    lock_waiter_free(NULL);
}

static void pop_returns_waiters_in_push_order(void **state) {
    (void)state;
    lock_queue q = {0};
    assert_null(lock_queue_pop(&q));
    lock_waiter *a = waiter("a", NULL), *b = waiter("b", NULL), *c = waiter("c", NULL);
    lock_queue_push(&q, a);
    lock_queue_push(&q, b);
    lock_queue_push(&q, c);
    lock_waiter *all[] = {a, b, c};
    assert_queue(&q, all, 3);
    assert_ptr_equal(lock_queue_pop(&q), a);
    assert_null(a->prev);
    assert_null(a->next);
    assert_int_equal(q.count, 2);
    assert_ptr_equal(lock_queue_pop(&q), b);
    assert_ptr_equal(lock_queue_pop(&q), c);
    assert_null(lock_queue_pop(&q));
    assert_queue(&q, NULL, 0);
    lock_waiter_free(a);
    lock_waiter_free(b);
    lock_waiter_free(c);
}

static void remove_of_the_head_leaves_the_rest_in_order(void **state) {
    (void)state;
    lock_queue q = {0};
    lock_waiter *a = waiter("a", NULL), *b = waiter("b", NULL), *c = waiter("c", NULL);
    lock_queue_push(&q, a);
    lock_queue_push(&q, b);
    lock_queue_push(&q, c);
    lock_queue_remove(&q, a);
    assert_null(a->prev);
    assert_null(a->next);
    lock_waiter *rest[] = {b, c};
    assert_queue(&q, rest, 2);
    lock_waiter_free(a);
    free_queue(&q);
}

static void remove_from_the_middle_leaves_the_rest_in_order(void **state) {
    (void)state;
    lock_queue q = {0};
    lock_waiter *a = waiter("a", NULL), *b = waiter("b", NULL), *c = waiter("c", NULL);
    lock_queue_push(&q, a);
    lock_queue_push(&q, b);
    lock_queue_push(&q, c);
    lock_queue_remove(&q, b);
    lock_waiter *rest[] = {a, c};
    assert_queue(&q, rest, 2);
    lock_waiter_free(b);
    free_queue(&q);
}

static void remove_of_the_tail_leaves_the_rest_in_order(void **state) {
    (void)state;
    lock_queue q = {0};
    lock_waiter *a = waiter("a", NULL), *b = waiter("b", NULL), *c = waiter("c", NULL);
    lock_queue_push(&q, a);
    lock_queue_push(&q, b);
    lock_queue_push(&q, c);
    lock_queue_remove(&q, c);
    lock_waiter *rest[] = {a, b};
    assert_queue(&q, rest, 2);
    /* Pushing after removing the tail links to the new tail. */
    lock_waiter *d = waiter("d", NULL);
    lock_queue_push(&q, d);
    lock_waiter *after[] = {a, b, d};
    assert_queue(&q, after, 3);
    lock_waiter_free(c);
    free_queue(&q);
}

static void remove_of_the_only_waiter_empties_the_queue(void **state) {
    (void)state;
    lock_queue q = {0};
    lock_waiter *a = waiter("a", NULL);
    lock_queue_push(&q, a);
    lock_queue_remove(&q, a);
    assert_queue(&q, NULL, 0);
    /* And the queue is usable again. */
    lock_queue_push(&q, a);
    lock_waiter *only[] = {a};
    assert_queue(&q, only, 1);
    free_queue(&q);
}

static void many_waiters_are_allocated_and_freed_through_the_lock_allocator(void **state) {
    (void)state;
    enum { N = 1000 };
    lock_queue q = {0};
    lock_waiter *all[N];
    size_t allocs = heap.allocations, frees = heap.frees;
    for (int i = 0; i < N; i++) {
        char owner[32];
        int len = snprintf(owner, sizeof(owner), "owner-%d", i);
        all[i] = lock_waiter_new(owner, (size_t)len, i + 1, i % 2, NULL);
        assert_non_null(all[i]);
        lock_queue_push(&q, all[i]);
    }
    assert_int_equal(heap.allocations - allocs, N);
    assert_int_equal(heap.live_blocks - baseline_blocks, N);
    /* Remove every third from wherever it is, then drain in order. */
    for (int i = 0; i < N; i += 3) {
        lock_queue_remove(&q, all[i]);
        lock_waiter_free(all[i]);
    }
    assert_int_equal(q.count, N - (N + 2) / 3);
    int expect = 1;
    lock_waiter *w;
    while ((w = lock_queue_pop(&q)) != NULL) {
        assert_ptr_equal(w, all[expect]);
        expect += (expect % 3 == 1) ? 1 : 2;
        lock_waiter_free(w);
    }
    assert_int_equal(q.count, 0);
    assert_int_equal(heap.frees - frees, N);
    assert_int_equal(heap.live_blocks, baseline_blocks);
}

/* ==== main ===================================================================================== */
#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void) {
    core_set_allocator(&counting_allocator);
    const struct CMUnitTest tests[] = {
        TEST(record_new_keeps_every_field),
        TEST(record_new_accepts_owners_of_one_and_of_the_maximum_length),
        TEST(record_new_rejects_an_empty_or_too_long_owner),
        TEST(record_new_rejects_token_zero_and_holds_zero),
        TEST(record_copy_is_equal_and_independent),
        TEST(is_owner_compares_every_byte_and_the_length),
        TEST(acquire_of_a_free_lock_is_granted),
        TEST(acquire_of_a_free_lock_with_waiters_queued_is_busy),
        TEST(acquire_by_the_holder_refreshes),
        TEST(reentrant_acquire_by_the_holder_adds_a_hold),
        TEST(acquire_by_another_owner_is_busy),
        TEST(waiter_new_keeps_every_field),
        TEST(pop_returns_waiters_in_push_order),
        TEST(remove_of_the_head_leaves_the_rest_in_order),
        TEST(remove_from_the_middle_leaves_the_rest_in_order),
        TEST(remove_of_the_tail_leaves_the_rest_in_order),
        TEST(remove_of_the_only_waiter_empties_the_queue),
        TEST(many_waiters_are_allocated_and_freed_through_the_lock_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
