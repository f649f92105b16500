/* test_idemp_core.c -- cmocka tests of the idempotency core (module/idemp.h), linked without Redis:
 * which fields make a record, what a record keeps and copies, the decision IDEMP.BEGIN takes and who
 * owns processing. Runs on the counting allocator; every test fails if it leaves a block live. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "counting_allocator.h"
#include "idemp.h"

#define S(str) (str), (sizeof(str) - 1)

/* ==== fields =================================================================================== */
static void valid_fields_accept_both_states_within_the_limits(void **state) {
    (void)state;
    assert_true(idemp_valid_fields(IDEMP_IN_PROGRESS, 1, 0, 1));
    assert_true(idemp_valid_fields(IDEMP_IN_PROGRESS, IDEMP_MAX_FINGERPRINT_LEN, 0, (uint64_t)INT64_MAX));
    assert_true(idemp_valid_fields(IDEMP_COMPLETED, 5, 0, 9)); /* an empty response is a response */
    assert_true(idemp_valid_fields(IDEMP_COMPLETED, 5, IDEMP_MAX_RESPONSE_LEN, 9));
}

static void valid_fields_refuse_what_no_command_can_store(void **state) {
    (void)state;
    assert_false(idemp_valid_fields(0, 5, 0, 1));
    assert_false(idemp_valid_fields(3, 5, 0, 1));
    assert_false(idemp_valid_fields(IDEMP_IN_PROGRESS, 0, 0, 1));
    assert_false(idemp_valid_fields(IDEMP_IN_PROGRESS, IDEMP_MAX_FINGERPRINT_LEN + 1, 0, 1));
    assert_false(idemp_valid_fields(IDEMP_IN_PROGRESS, 5, 1, 1)); /* a response while in progress */
    assert_false(idemp_valid_fields(IDEMP_COMPLETED, 5, (size_t)IDEMP_MAX_RESPONSE_LEN + 1, 1));
    assert_false(idemp_valid_fields(IDEMP_COMPLETED, 5, 0, 0));
    assert_false(idemp_valid_fields(IDEMP_COMPLETED, 5, 0, (uint64_t)INT64_MAX + 1));
}

/* ==== records ================================================================================== */
static void an_in_progress_record_keeps_every_field_in_one_block(void **state) {
    (void)state;
    size_t before = heap.allocations;
    idemp_record *r = idemp_record_new(IDEMP_IN_PROGRESS, S("sha256:\0ab"), 42, 1700000000000LL, NULL, 0);
    assert_non_null(r);
    assert_int_equal(heap.allocations, before + 1);
    assert_int_equal(r->state, IDEMP_IN_PROGRESS);
    assert_int_equal(r->token, 42);
    assert_int_equal(r->deadline_ms, 1700000000000LL);
    assert_int_equal(r->fingerprint_len, 10);
    assert_memory_equal(idemp_fingerprint(r), "sha256:\0ab", 10);
    assert_int_equal(r->response_len, 0);
    assert_int_equal(idemp_record_size(r), counting_size_class(offsetof(idemp_record, data) + 10));
    idemp_record_free(r);
}

static void a_completed_record_keeps_its_binary_response_after_the_fingerprint(void **state) {
    (void)state;
    idemp_record *r = idemp_record_new(IDEMP_COMPLETED, S("fp"), 7, 99, S("HTTP/1.1 201\r\n\0body"));
    assert_non_null(r);
    assert_int_equal(r->response_len, 19);
    assert_memory_equal(idemp_fingerprint(r), "fp", 2);
    assert_memory_equal(idemp_response(r), "HTTP/1.1 201\r\n\0body", 19);
    assert_int_equal(idemp_record_size(r), counting_size_class(offsetof(idemp_record, data) + 2 + 19));
    idemp_record_free(r);
}

static void invalid_fields_allocate_nothing(void **state) {
    (void)state;
    size_t before = heap.allocations;
    assert_null(idemp_record_new(IDEMP_IN_PROGRESS, S("fp"), 0, 1, NULL, 0));
    assert_null(idemp_record_new(IDEMP_IN_PROGRESS, S("fp"), 1, 1, S("x")));
    assert_null(idemp_record_new(IDEMP_COMPLETED, "", 0, 1, 1, NULL, 0));
    assert_int_equal(heap.allocations, before);
}

static void a_failed_allocation_returns_null(void **state) {
    (void)state;
    fail_allocation(0);
    assert_null(idemp_record_new(IDEMP_COMPLETED, S("fp"), 1, 1, S("response")));
    assert_int_equal(heap.failures, 1);
}

static void a_copy_is_equal_and_independent(void **state) {
    (void)state;
    idemp_record *r = idemp_record_new(IDEMP_COMPLETED, S("fp-1"), 5, 123, S("ok"));
    idemp_record *c = idemp_record_copy(r);
    assert_non_null(c);
    assert_ptr_not_equal(c, r);
    assert_int_equal(idemp_record_size(c), idemp_record_size(r));
    assert_memory_equal(c, r, offsetof(idemp_record, data) + r->fingerprint_len + r->response_len);
    idemp_record_free(r);
    assert_memory_equal(idemp_response(c), "ok", 2); /* still readable: nothing shared */
    idemp_record_free(c);
}

static void freeing_null_does_nothing(void **state) {
    (void)state;
    size_t frees = heap.frees;
    idemp_record_free(NULL);
    assert_int_equal(heap.frees, frees);
}

/* ==== IDEMP.BEGIN's decision and ownership ===================================================== */
static void begin_on_no_record_is_new(void **state) {
    (void)state;
    assert_int_equal(idemp_decide_begin(NULL, S("fp")), IDEMP_BEGIN_NEW);
}

static void begin_with_the_same_fingerprint_reports_the_state(void **state) {
    (void)state;
    idemp_record *busy = idemp_record_new(IDEMP_IN_PROGRESS, S("fp"), 3, 1, NULL, 0);
    idemp_record *done = idemp_record_new(IDEMP_COMPLETED, S("fp"), 3, 1, S("r"));
    assert_int_equal(idemp_decide_begin(busy, S("fp")), IDEMP_BEGIN_IN_PROGRESS);
    assert_int_equal(idemp_decide_begin(done, S("fp")), IDEMP_BEGIN_COMPLETED);
    idemp_record_free(busy);
    idemp_record_free(done);
}

static void begin_with_another_fingerprint_is_a_mismatch_whatever_the_state(void **state) {
    (void)state;
    idemp_record *busy = idemp_record_new(IDEMP_IN_PROGRESS, S("fp\0a"), 3, 1, NULL, 0);
    idemp_record *done = idemp_record_new(IDEMP_COMPLETED, S("fp\0a"), 3, 1, S("r"));
    assert_int_equal(idemp_decide_begin(busy, S("fp\0b")), IDEMP_BEGIN_MISMATCH); /* same length, differs after NUL */
    assert_int_equal(idemp_decide_begin(busy, S("fp")), IDEMP_BEGIN_MISMATCH);    /* a prefix */
    assert_int_equal(idemp_decide_begin(done, S("fp\0ab")), IDEMP_BEGIN_MISMATCH); /* longer */
    idemp_record_free(busy);
    idemp_record_free(done);
}

static void only_the_token_of_an_in_progress_record_owns_it(void **state) {
    (void)state;
    idemp_record *busy = idemp_record_new(IDEMP_IN_PROGRESS, S("fp"), 77, 1, NULL, 0);
    idemp_record *done = idemp_record_new(IDEMP_COMPLETED, S("fp"), 77, 1, S("r"));
    assert_true(idemp_owns(busy, 77));
    assert_false(idemp_owns(busy, 76));
    assert_false(idemp_owns(busy, 78));
    assert_false(idemp_owns(done, 77)); /* completion ends ownership */
    assert_false(idemp_owns(NULL, 77));
    idemp_record_free(busy);
    idemp_record_free(done);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void) {
    core_set_allocator(&counting_allocator);
    const struct CMUnitTest tests[] = {
        TEST(valid_fields_accept_both_states_within_the_limits),
        TEST(valid_fields_refuse_what_no_command_can_store),
        TEST(an_in_progress_record_keeps_every_field_in_one_block),
        TEST(a_completed_record_keeps_its_binary_response_after_the_fingerprint),
        TEST(invalid_fields_allocate_nothing),
        TEST(a_failed_allocation_returns_null),
        TEST(a_copy_is_equal_and_independent),
        TEST(freeing_null_does_nothing),
        TEST(begin_on_no_record_is_new),
        TEST(begin_with_the_same_fingerprint_reports_the_state),
        TEST(begin_with_another_fingerprint_is_a_mismatch_whatever_the_state),
        TEST(only_the_token_of_an_in_progress_record_owns_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
