/* test_trial_core.c -- cmocka tests of the enrollment core (module/trial.h), linked without Redis.
 *
 * Every test runs on the shared counting allocator (counting_allocator.h) installed with
 * core_set_allocator() in main(), before any trial exists: guard zones, size classes for
 * usable_size, and a per-test teardown that fails a test leaving anything live.
 *
 * Serialization goes through an in-memory trial_writer/trial_reader over a growable byte buffer:
 * a u64 is 8 bytes little-endian, a byte string is a u64 length followed by the bytes.
 *
 * The randomized model test compares the core, step by step, with a plain reference model kept in
 * arrays. Its seed is printed; set TRIAL_TEST_SEED to replay one. */
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

#include "counting_allocator.h"
#include "trial.h"

/* ==== small helpers ============================================================================ */
#define S(str) (str), (sizeof(str) - 1) /* a string literal as (bytes, len) */

static trial *new_trial(uint64_t capacity, uint64_t waitlist_max) {
    trial *t = trial_create(capacity, waitlist_max);
    assert_non_null(t);
    return t;
}

static void enroll_ok(trial *t, const char *user, size_t len, trial_enroll_result want, uint64_t want_ticket) {
    uint64_t ticket = 0;
    assert_int_equal(trial_enroll(t, user, len, &ticket), want);
    assert_int_equal(ticket, want_ticket);
}

/* A distinct id for every integer: "u<decimal>", some with an embedded NUL, some padded long. */
#define ID_BUF 256
static size_t make_id(uint32_t i, char out[ID_BUF]) {
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

/* The integer make_id() was given, read back from the id. */
static uint32_t user_number(const char *id, size_t len) {
    assert_true(len >= 2 && id[0] == 'u');
    uint32_t n = 0;
    for (size_t i = 1; i < len && id[i] >= '0' && id[i] <= '9'; i++) n = n * 10 + (uint32_t)(id[i] - '0');
    return n;
}

/* A visitor that records what it saw. */
typedef struct seen_user {
    uint64_t ticket;
    size_t len;
    char id[TRIAL_MAX_USER_LEN];
} seen_user;

typedef struct recorder {
    seen_user *users;
    size_t n, cap;
    size_t stop_after; /* 0: never stop */
} recorder;

static int record_user(const char *user, size_t len, uint64_t ticket, void *ctx) {
    recorder *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->users = realloc(r->users, r->cap * sizeof(*r->users));
        assert_non_null(r->users);
    }
    seen_user *s = &r->users[r->n++];
    s->ticket = ticket;
    s->len = len;
    assert_true(len <= TRIAL_MAX_USER_LEN);
    memcpy(s->id, user, len);
    return r->stop_after != 0 && r->n >= r->stop_after;
}

static void recorder_reset(recorder *r) { r->n = 0; }
static void recorder_free(recorder *r) {
    free(r->users);
    memset(r, 0, sizeof(*r));
}

static void assert_seen(const recorder *r, size_t i, const char *user, size_t len, uint64_t ticket) {
    assert_true(i < r->n);
    assert_int_equal(r->users[i].ticket, ticket);
    assert_int_equal(r->users[i].len, len);
    assert_memory_equal(r->users[i].id, user, len);
}

/* ==== in-memory writer / reader ================================================================ */
typedef struct byte_buffer {
    unsigned char *data;
    size_t len, cap;
} byte_buffer;

static void buffer_put(byte_buffer *b, const void *bytes, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->data = realloc(b->data, cap);
        assert_non_null(b->data);
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, bytes, n);
    b->len += n;
}

static void put_u64(byte_buffer *b, uint64_t v) {
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(v >> (8 * i));
    buffer_put(b, le, 8);
}

static void put_bytes(byte_buffer *b, const char *bytes, size_t len) {
    put_u64(b, len);
    buffer_put(b, bytes, len);
}

static void writer_u64(void *io, uint64_t value) { put_u64(io, value); }
static void writer_bytes(void *io, const char *bytes, size_t len) { put_bytes(io, bytes, len); }

static void buffer_free(byte_buffer *b) {
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static byte_buffer save_to_buffer(const trial *t) {
    byte_buffer b = {0};
    trial_writer w = {writer_u64, writer_bytes, &b};
    trial_save(t, &w);
    return b;
}

typedef struct byte_source {
    const unsigned char *data;
    size_t len; /* bytes readable (a cut point for truncation tests) */
    size_t pos;
} byte_source;

static int reader_u64(void *io, uint64_t *value) {
    byte_source *s = io;
    if (s->len - s->pos < 8) return -1;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)s->data[s->pos + i] << (8 * i);
    s->pos += 8;
    *value = v;
    return 0;
}

static int reader_bytes(void *io, char **bytes, size_t *len) {
    byte_source *s = io;
    uint64_t n;
    *bytes = NULL;
    if (reader_u64(io, &n) != 0) return -1;
    if (n > s->len - s->pos) return -1;
    char *p = core_alloc(n ? (size_t)n : 1); /* the allocator the core frees with */
    if (p == NULL) return -1;
    if (n) memcpy(p, s->data + s->pos, (size_t)n);
    s->pos += (size_t)n;
    *bytes = p;
    *len = (size_t)n;
    return 0;
}

static trial *load_prefix(const byte_buffer *b, size_t len, int version) {
    byte_source s = {b->data, len, 0};
    trial_reader r = {reader_u64, reader_bytes, &s};
    return trial_load(&r, version);
}

static trial *load_buffer(const byte_buffer *b) { return load_prefix(b, b->len, TRIAL_ENCODING_VERSION); }

/* The full observable state, serialized: two trials are equal when these bytes are. */
static void assert_same_state(const trial *a, const trial *b) {
    byte_buffer x = save_to_buffer(a), y = save_to_buffer(b);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.data, y.data, x.len);
    buffer_free(&x);
    buffer_free(&y);
}

/* ==== enroll =================================================================================== */
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

static void enrolling_twice_reports_already_enrolled(void **state) {
    (void)state;
    trial *t = new_trial(5, 0);
    enroll_ok(t, S("alice"), TRIAL_ENROLL_ENROLLED, 1);
    assert_int_equal(trial_enroll(t, S("alice"), NULL), TRIAL_ENROLL_ALREADY_ENROLLED);
    assert_int_equal(trial_enrolled_count(t), 1);
    assert_int_equal(trial_next_ticket(t), 2);
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

/* ==== waitlist ================================================================================= */
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
    recorder r = {0};
    trial_foreach(t, TRIAL_LIST_ENROLLED, record_user, &r);
    assert_int_equal(r.n, 2);
    assert_seen(&r, 0, S("b"), 2);
    assert_seen(&r, 1, S("w1"), 3);
    recorder_free(&r);
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

/* ==== resize ================================================================================== */
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
    recorder r = {0};
    trial_foreach(t, TRIAL_LIST_ENROLLED, record_user, &r);
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
    recorder_free(&r);
    assert_int_equal(trial_check(t), 0);
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
    recorder r = {0};
    trial_foreach(t, TRIAL_LIST_ENROLLED, record_user, &r);
    assert_int_equal(r.n, live + raise);
    for (size_t i = 1; i < r.n; i++) assert_true(r.users[i - 1].ticket < r.users[i].ticket);
    size_t len = make_id(100000 + (uint32_t)raise - 1, id);
    assert_seen(&r, r.n - 1, id, len, enrolled + raise);
    recorder_free(&r);
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

/* ==== limits =================================================================================== */
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
    recorder r = {0};
    trial_foreach(t, TRIAL_LIST_ENROLLED, record_user, &r);
    assert_int_equal(r.n, 5);
    assert_seen(&r, 0, S("a\0b"), 1);
    assert_seen(&r, 3, S("\0"), 5);
    recorder_free(&r);
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

/* ==== scan ===================================================================================== */
static void scan_pages_in_arrival_order_and_returns_the_next_arrival_number(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("c"), TRIAL_ENROLL_ENROLLED, 3);
    enroll_ok(t, S("d"), TRIAL_ENROLL_ENROLLED, 4);
    enroll_ok(t, S("e"), TRIAL_ENROLL_ENROLLED, 5);
    recorder r = {0};
    uint64_t cursor = trial_scan(t, 0, 2, record_user, &r);
    assert_int_equal(cursor, 3);
    assert_int_equal(r.n, 2);
    assert_seen(&r, 0, S("a"), 1);
    assert_seen(&r, 1, S("b"), 2);
    recorder_reset(&r);
    cursor = trial_scan(t, cursor, 2, record_user, &r);
    assert_int_equal(cursor, 5);
    assert_seen(&r, 1, S("d"), 4);
    recorder_reset(&r);
    cursor = trial_scan(t, cursor, 2, record_user, &r);
    assert_int_equal(cursor, 0);
    assert_int_equal(r.n, 1);
    assert_seen(&r, 0, S("e"), 5);
    recorder_free(&r);
    trial_free(t);
}

static void scan_with_count_one_visits_every_user_once(void **state) {
    (void)state;
    char id[ID_BUF];
    trial *t = new_trial(100, 0);
    for (uint32_t i = 0; i < 50; i++) assert_int_equal(trial_enroll(t, id, make_id(i, id), NULL), 1);
    for (uint32_t i = 0; i < 50; i += 3) assert_int_equal(trial_cancel(t, id, make_id(i, id), NULL), 1);
    recorder r = {0};
    uint64_t cursor = 0;
    size_t pages = 0;
    do {
        size_t before = r.n;
        cursor = trial_scan(t, cursor, 1, record_user, &r);
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
    recorder_free(&r);
    trial_free(t);
}

static void scan_with_a_cursor_past_the_end_returns_zero_and_visits_nobody(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    recorder r = {0};
    assert_int_equal(trial_scan(t, 3, 10, record_user, &r), 0);
    assert_int_equal(trial_scan(t, 1000, 10, record_user, &r), 0);
    assert_int_equal(trial_scan(t, UINT64_MAX, 10, record_user, &r), 0);
    assert_int_equal(r.n, 0);
    recorder_free(&r);
    trial_free(t);

    t = new_trial(10, 0);
    assert_int_equal(trial_scan(t, 0, 10, NULL, NULL), 0);
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
        recorder r = {0};
        do {
            recorder_reset(&r);
            cursor = trial_scan(t, cursor, count, record_user, &r);
            assert_true(r.n <= count);
            for (size_t k = 0; k < r.n; k++) {
                uint32_t who = user_number(r.users[k].id, r.users[k].len);
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
        recorder_free(&r);
        free(visits);
        trial_free(t);
    }
}

static void scan_resumes_after_a_visitor_that_stops(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("c"), TRIAL_ENROLL_ENROLLED, 3);
    recorder r = {0};
    r.stop_after = 1;
    assert_int_equal(trial_scan(t, 0, 10, record_user, &r), 2);
    assert_int_equal(r.n, 1);
    recorder_free(&r);
    trial_free(t);
}

/* ==== foreach ================================================================================== */
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

    recorder r = {0};
    assert_int_equal(trial_foreach(t, TRIAL_LIST_ENROLLED, record_user, &r), 0);
    assert_int_equal(r.n, 3);
    assert_seen(&r, 0, S("a"), 1);
    assert_seen(&r, 1, S("c"), 3);
    assert_seen(&r, 2, S("w1"), 4);
    recorder_reset(&r);
    assert_int_equal(trial_foreach(t, TRIAL_LIST_WAITLIST, record_user, &r), 0);
    assert_int_equal(r.n, 2);
    assert_seen(&r, 0, S("w3"), 6);
    assert_seen(&r, 1, S("w4"), 7);
    recorder_free(&r);
    trial_free(t);
}

static void foreach_stops_when_the_visitor_asks(void **state) {
    (void)state;
    trial *t = new_trial(3, 0);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("b"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("c"), TRIAL_ENROLL_ENROLLED, 3);
    recorder r = {0};
    r.stop_after = 2;
    assert_int_not_equal(trial_foreach(t, TRIAL_LIST_ENROLLED, record_user, &r), 0);
    assert_int_equal(r.n, 2);
    recorder_free(&r);
    trial_free(t);
}

/* ==== copy ===================================================================================== */
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
    assert_int_equal(heap.live_usable - baseline_usable, trial_memory_usage(t) + trial_memory_usage(c));

    /* Changing the copy leaves the original alone, and the other way round. */
    byte_buffer before = save_to_buffer(t);
    assert_int_equal(trial_cancel(c, id, make_id(2, id), NULL), TRIAL_CANCEL_WITHDRAWN);
    trial_resize(c, 1000);
    assert_true(trial_enroll(c, S("newcomer"), NULL) > 0);
    byte_buffer after = save_to_buffer(t);
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

/* ==== restore ================================================================================== */
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

static void restore_of_a_batch_with_a_duplicate_inside_changes_nothing(void **state) {
    (void)state;
    const uint64_t tickets[] = {10, 11, 12, 13};
    const char *users[] = {"x", "y", "z", "y"};
    const size_t lens[] = {1, 1, 1, 1};
    assert_restore_fails(TRIAL_LIST_ENROLLED, 4, tickets, users, lens, TRIAL_RESTORE_DUPLICATE, 3);
    assert_restore_fails(TRIAL_LIST_WAITLIST, 4, tickets, users, lens, TRIAL_RESTORE_DUPLICATE, 3);
}

static void restore_of_a_user_already_in_the_trial_changes_nothing(void **state) {
    (void)state;
    const uint64_t tickets[] = {10, 11, 12};
    const char *users[] = {"x", "y", "b"};
    const size_t lens[] = {1, 1, 1};
    assert_restore_fails(TRIAL_LIST_ENROLLED, 3, tickets, users, lens, TRIAL_RESTORE_DUPLICATE, 2);
    assert_restore_fails(TRIAL_LIST_WAITLIST, 3, tickets, users, lens, TRIAL_RESTORE_DUPLICATE, 2);
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

static void restore_of_a_ticket_held_in_the_other_list_changes_nothing(void **state) {
    (void)state;
    const char *users[] = {"x", "y"};
    const size_t lens[] = {1, 1};
    const uint64_t tickets[] = {1, 7}; /* 1 is "a"'s, in the enrolled list */
    assert_restore_fails(TRIAL_LIST_WAITLIST, 2, tickets, users, lens, TRIAL_RESTORE_BAD_TICKET, 0);
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

/* SLOTS.RESTORE may target a live trial: the enrolled list can hold a tombstone whose arrival
 * number a waitlist restore then reuses. Whether restore refuses it or accepts it, the trial must
 * stay consistent once that user is promoted. */
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
    assert_true(result == TRIAL_RESTORE_OK || result == TRIAL_RESTORE_BAD_TICKET);
    assert_int_equal(trial_check(t), 0);
    uint64_t promoted = 0;
    assert_int_equal(trial_cancel(t, S("a"), &promoted), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(promoted, result == TRIAL_RESTORE_OK ? 1 : 0);
    int rc = trial_check(t);
    if (rc != 0) fail_msg("trial_check %d after promoting a user restored with a cancelled arrival number", rc);
    recorder r = {0};
    trial_foreach(t, TRIAL_LIST_ENROLLED, record_user, &r);
    for (size_t i = 1; i < r.n; i++) assert_true(r.users[i - 1].ticket < r.users[i].ticket);
    recorder_free(&r);
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

/* ==== serialization ============================================================================ */
static void assert_round_trip(const trial *t) {
    byte_buffer b = save_to_buffer(t);
    trial *loaded = load_buffer(&b);
    assert_non_null(loaded);
    assert_int_equal(trial_check(loaded), 0);
    assert_int_equal(trial_capacity(loaded), trial_capacity(t));
    assert_int_equal(trial_waitlist_max(loaded), trial_waitlist_max(t));
    assert_int_equal(trial_next_ticket(loaded), trial_next_ticket(t));
    assert_int_equal(trial_enrolled_count(loaded), trial_enrolled_count(t));
    assert_int_equal(trial_waitlisted_count(loaded), trial_waitlisted_count(t));
    assert_int_equal(trial_remaining(loaded), trial_remaining(t));
    recorder x = {0}, y = {0};
    for (int list = TRIAL_LIST_ENROLLED; list <= TRIAL_LIST_WAITLIST; list++) {
        recorder_reset(&x);
        recorder_reset(&y);
        trial_foreach(t, (trial_list)list, record_user, &x);
        trial_foreach(loaded, (trial_list)list, record_user, &y);
        assert_int_equal(x.n, y.n);
        for (size_t i = 0; i < x.n; i++) assert_seen(&y, i, x.users[i].id, x.users[i].len, x.users[i].ticket);
    }
    recorder_free(&x);
    recorder_free(&y);
    byte_buffer again = save_to_buffer(loaded);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.data, b.data, b.len);
    buffer_free(&again);
    buffer_free(&b);
    trial_free(loaded);
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

static void small_serialized_trial(byte_buffer *out) {
    trial *t = new_trial(2, 3);
    enroll_ok(t, S("a"), TRIAL_ENROLL_ENROLLED, 1);
    enroll_ok(t, S("bb\0"), TRIAL_ENROLL_ENROLLED, 2);
    enroll_ok(t, S("w1"), TRIAL_ENROLL_WAITLISTED, 3);
    enroll_ok(t, S("w2"), TRIAL_ENROLL_WAITLISTED, 4);
    *out = save_to_buffer(t);
    trial_free(t);
}

static void load_rejects_an_unknown_encoding(void **state) {
    (void)state;
    byte_buffer b;
    small_serialized_trial(&b);
    assert_null(load_prefix(&b, b.len, TRIAL_ENCODING_VERSION + 1));
    assert_null(load_prefix(&b, b.len, 0));
    assert_null(load_prefix(&b, b.len, -1));
    trial *t = load_buffer(&b);
    assert_non_null(t);
    trial_free(t);
    buffer_free(&b);
}

static void load_of_input_truncated_at_any_point_fails_without_leaking(void **state) {
    (void)state;
    byte_buffer b;
    small_serialized_trial(&b);
    for (size_t cut = 0; cut < b.len; cut++) {
        size_t blocks = heap.live_blocks;
        trial *t = load_prefix(&b, cut, TRIAL_ENCODING_VERSION);
        if (t != NULL) print_error("a stream cut at byte %zu of %zu loaded\n", cut, b.len);
        assert_null(t);
        assert_int_equal(heap.live_blocks, blocks);
    }
    trial *t = load_buffer(&b);
    assert_non_null(t);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
    buffer_free(&b);
}

/* A hand-built stream: header, then enrolled and waitlist pairs. */
typedef struct pair {
    uint64_t ticket;
    const char *user;
    size_t len;
} pair;

static byte_buffer build_stream(uint64_t capacity, uint64_t waitlist_max, uint64_t next_ticket, uint64_t n_enrolled,
                                const pair *enrolled, size_t enrolled_written, uint64_t n_waiting,
                                const pair *waiting, size_t waiting_written) {
    byte_buffer b = {0};
    put_u64(&b, capacity);
    put_u64(&b, waitlist_max);
    put_u64(&b, next_ticket);
    put_u64(&b, n_enrolled);
    for (size_t i = 0; i < enrolled_written; i++) {
        put_u64(&b, enrolled[i].ticket);
        put_bytes(&b, enrolled[i].user, enrolled[i].len);
    }
    put_u64(&b, n_waiting);
    for (size_t i = 0; i < waiting_written; i++) {
        put_u64(&b, waiting[i].ticket);
        put_bytes(&b, waiting[i].user, waiting[i].len);
    }
    return b;
}

static void assert_stream_rejected(byte_buffer b) {
    trial *t = load_buffer(&b);
    assert_null(t);
    buffer_free(&b);
}

static void load_of_a_hand_built_stream_succeeds(void **state) {
    (void)state;
    const pair en[] = {{2, "a", 1}, {5, "b\0", 2}};
    const pair wl[] = {{7, "w", 1}};
    byte_buffer b = build_stream(2, 4, 8, 2, en, 2, 1, wl, 1);
    trial *t = load_buffer(&b);
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
    byte_buffer b = build_stream(10, 10, 3, 1, longest, 1, 0, NULL, 0);
    trial *t = load_buffer(&b);
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

/* ==== memory =================================================================================== */
static void memory_usage_matches_the_allocator_and_grows_and_shrinks_with_users(void **state) {
    (void)state;
    char id[ID_BUF];
    trial *t = new_trial(100000, 0);
    size_t empty = trial_memory_usage(t);
    assert_true(empty > 0);
    assert_int_equal(trial_memory_usage(t), heap.live_usable - baseline_usable);
    for (uint32_t i = 0; i < 20000; i++) assert_int_equal(trial_enroll(t, id, make_id(i, id), NULL), 1);
    size_t full = trial_memory_usage(t);
    assert_true(full > empty + 20000 * 8);
    assert_int_equal(full, heap.live_usable - baseline_usable);
    for (uint32_t i = 0; i < 20000; i++)
        if (i % 10 != 0) assert_int_equal(trial_cancel(t, id, make_id(i, id), NULL), 1);
    size_t after = trial_memory_usage(t);
    assert_true(after < full);
    assert_int_equal(after, heap.live_usable - baseline_usable);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

/* ==== randomized comparison with a reference model ============================================ */
static uint64_t rng_state;
static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint64_t rng_below(uint64_t n) { return n ? rng_next() % n : 0; }

typedef struct model_slot {
    uint64_t ticket;
    uint32_t user;
    uint8_t alive;
} model_slot;

/* Both lists are append-only arrays (dead entries stay) in arrival order: promotions always carry
 * tickets above every enrolled one, because nobody enrolls while someone waits. */
typedef struct model {
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
} model;

static void model_init(model *m, size_t users, size_t max_arrivals, uint64_t capacity, uint64_t waitlist_max) {
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

static void model_free(model *m) {
    free(m->enrolled);
    free(m->waitlist);
    free(m->state);
    free(m->where);
    free(m->present);
    free(m->present_at);
}

static void model_present_add(model *m, uint32_t u) {
    m->present_at[u] = m->present_n;
    m->present[m->present_n++] = u;
}

static void model_present_remove(model *m, uint32_t u) {
    size_t at = m->present_at[u];
    uint32_t last = m->present[--m->present_n];
    m->present[at] = last;
    m->present_at[last] = at;
}

static uint64_t model_remaining(const model *m) {
    return m->enrolled_live < m->capacity ? m->capacity - m->enrolled_live : 0;
}

static void model_append_enrolled(model *m, uint32_t u, uint64_t ticket) {
    m->enrolled[m->enrolled_n] = (model_slot){ticket, u, 1};
    m->where[u] = m->enrolled_n++;
    m->enrolled_live++;
    m->state[u] = TRIAL_STATE_ENROLLED;
}

static uint64_t model_promote(model *m) {
    uint64_t promoted = 0;
    while (m->waitlist_live > 0 && m->enrolled_live < m->capacity) {
        while (!m->waitlist[m->waitlist_head].alive) m->waitlist_head++;
        model_slot *s = &m->waitlist[m->waitlist_head++];
        s->alive = 0;
        m->waitlist_live--;
        model_append_enrolled(m, s->user, s->ticket);
        promoted++;
    }
    return promoted;
}

static trial_enroll_result model_enroll(model *m, uint32_t u, uint64_t *ticket) {
    if (m->state[u] == TRIAL_STATE_ENROLLED) return TRIAL_ENROLL_ALREADY_ENROLLED;
    if (m->state[u] == TRIAL_STATE_WAITLISTED) return TRIAL_ENROLL_ALREADY_WAITLISTED;
    if (m->enrolled_live < m->capacity) {
        *ticket = m->next_ticket++;
        model_append_enrolled(m, u, *ticket);
        model_present_add(m, u);
        return TRIAL_ENROLL_ENROLLED;
    }
    if (m->waitlist_live < m->waitlist_max) {
        *ticket = m->next_ticket++;
        m->waitlist[m->waitlist_n] = (model_slot){*ticket, u, 1};
        m->where[u] = m->waitlist_n++;
        m->waitlist_live++;
        m->state[u] = TRIAL_STATE_WAITLISTED;
        model_present_add(m, u);
        return TRIAL_ENROLL_WAITLISTED;
    }
    return TRIAL_ENROLL_FULL;
}

static trial_cancel_result model_cancel(model *m, uint32_t u, uint64_t *promoted) {
    *promoted = 0;
    if (m->state[u] == TRIAL_STATE_NONE) return TRIAL_CANCEL_NOT_FOUND;
    model_present_remove(m, u);
    if (m->state[u] == TRIAL_STATE_WAITLISTED) {
        m->waitlist[m->where[u]].alive = 0;
        m->waitlist_live--;
        m->state[u] = TRIAL_STATE_NONE;
        return TRIAL_CANCEL_LEFT_WAITLIST;
    }
    m->enrolled[m->where[u]].alive = 0;
    m->enrolled_live--;
    m->state[u] = TRIAL_STATE_NONE;
    *promoted = model_promote(m);
    return TRIAL_CANCEL_WITHDRAWN;
}

static trial_state model_status(const model *m, uint32_t u, uint64_t *value) {
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
static uint64_t model_scan(const model *m, uint64_t cursor, size_t count, model_slot *out, size_t *n) {
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

static void assert_counts_match(const trial *t, const model *m) {
    assert_int_equal(trial_capacity(t), m->capacity);
    assert_int_equal(trial_enrolled_count(t), m->enrolled_live);
    assert_int_equal(trial_waitlisted_count(t), m->waitlist_live);
    assert_int_equal(trial_remaining(t), model_remaining(m));
    assert_int_equal(trial_next_ticket(t), m->next_ticket);
}

static void assert_lists_match(const trial *t, const model *m) {
    recorder r = {0};
    char id[ID_BUF];
    trial_foreach(t, TRIAL_LIST_ENROLLED, record_user, &r);
    size_t k = 0;
    for (size_t i = 0; i < m->enrolled_n; i++) {
        if (!m->enrolled[i].alive) continue;
        size_t len = make_id(m->enrolled[i].user, id);
        assert_seen(&r, k++, id, len, m->enrolled[i].ticket);
    }
    assert_int_equal(k, r.n);
    recorder_reset(&r);
    trial_foreach(t, TRIAL_LIST_WAITLIST, record_user, &r);
    k = 0;
    for (size_t i = m->waitlist_head; i < m->waitlist_n; i++) {
        if (!m->waitlist[i].alive) continue;
        size_t len = make_id(m->waitlist[i].user, id);
        assert_seen(&r, k++, id, len, m->waitlist[i].ticket);
    }
    assert_int_equal(k, r.n);
    recorder_free(&r);
}

/* One seed per run (TRIAL_TEST_SEED replays it): the model runs and the core's hash seed. */
static uint64_t run_seed;

static uint64_t choose_seed(void) {
    const char *env = getenv("TRIAL_TEST_SEED");
    if (env && *env) return strtoull(env, NULL, 0);
    return (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
}

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

static void run_model(const model_run *cfg, uint64_t seed) {
    rng_state = seed;
    printf("%s: TRIAL_TEST_SEED=%" PRIu64 " replays this run\n", cfg->name, run_seed);
    fflush(stdout);

    model m;
    model_init(&m, cfg->users, cfg->ops + 1, cfg->capacity, cfg->waitlist_max);
    trial *t = new_trial(cfg->capacity, cfg->waitlist_max);
    model_slot *page = malloc(64 * sizeof(*page));
    recorder r = {0};
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
            trial_enroll_result want = model_enroll(&m, u, &want_ticket);
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
            trial_cancel_result want = model_cancel(&m, u, &want_promoted);
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
            trial_state want = model_status(&m, u, &want_value);
            trial_state got = trial_status(t, id, len, &got_value);
            if (got != want || got_value != want_value)
                fail_msg("op %zu: status u%" PRIu32 ": got %d/%" PRIu64 ", model %d/%" PRIu64, op, u, got, got_value,
                         want, want_value);
        } else if (dice < 98) { /* scan: continue the running scan with a random page size */
            size_t count = 1 + (size_t)rng_below(64);
            size_t n;
            uint64_t want = model_scan(&m, scan_cursor, count, page, &n);
            recorder_reset(&r);
            uint64_t got = trial_scan(t, scan_cursor, count, record_user, &r);
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
            uint64_t want = model_promote(&m);
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
            assert_int_equal(trial_memory_usage(t), heap.live_usable - baseline_usable);
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

    recorder_free(&r);
    free(page);
    model_free(&m);
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
    run_model(&cfg, run_seed);
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
    run_model(&cfg, run_seed ^ 0x5eed5eed5eedULL);
}

/* ==== main ===================================================================================== */
#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void) {
    core_set_allocator(&counting_allocator);
    run_seed = choose_seed();
    trial_set_hash_seed(run_seed * 0x9e3779b97f4a7c15ULL + 1);
    printf("test_trial_core: TRIAL_TEST_SEED=%" PRIu64 "\n", run_seed);
    const struct CMUnitTest tests[] = {
        TEST(enroll_gives_arrival_numbers_from_one),
        TEST(enrolling_twice_reports_already_enrolled),
        TEST(duplicate_is_reported_before_full),
        TEST(enroll_when_full_without_waitlist_reports_full_and_takes_no_ticket),
        TEST(arrival_numbers_are_never_reused_after_cancel),
        TEST(cancel_returns_the_slot),
        TEST(cancel_of_an_unknown_user_reports_not_found),
        TEST(full_trial_waitlists_then_reports_full_when_the_waitlist_is_full),
        TEST(cancel_of_an_enrolled_user_promotes_the_waitlist_head_keeping_its_arrival_number),
        TEST(cancel_of_a_waitlisted_user_leaves_the_waitlist_and_later_positions_shift),
        TEST(status_reports_ticket_when_enrolled_position_when_waitlisted_and_none_otherwise),
        TEST(resize_below_enrolled_never_drops_anyone_and_cancels_do_not_promote_while_over),
        TEST(resize_up_promotes_in_fifo_order_and_returns_the_count),
        TEST(resize_promoting_many_after_mid_list_cancels_keeps_every_user),
        TEST(resize_above_the_maximum_is_clamped),
        TEST(capacity_zero_accepts_nobody_but_may_waitlist),
        TEST(maximum_capacity_is_accepted_and_one_above_rejected),
        TEST(ids_with_nul_bytes_are_distinct_users),
        TEST(ids_of_one_byte_and_of_the_maximum_length_are_accepted),
        TEST(ids_that_are_empty_or_too_long_are_rejected_as_bad_user),
        TEST(scan_pages_in_arrival_order_and_returns_the_next_arrival_number),
        TEST(scan_with_count_one_visits_every_user_once),
        TEST(scan_with_a_cursor_past_the_end_returns_zero_and_visits_nobody),
        TEST(scan_without_a_visitor_returns_the_next_cursor),
        TEST(scan_returns_each_user_present_for_the_whole_scan_exactly_once),
        TEST(scan_resumes_after_a_visitor_that_stops),
        TEST(foreach_visits_both_lists_in_arrival_order),
        TEST(foreach_stops_when_the_visitor_asks),
        TEST(copy_is_identical_and_independent),
        TEST(copy_of_an_empty_trial_keeps_its_counters),
        TEST(restore_appends_users_and_raises_the_next_ticket),
        TEST(restore_onto_the_waitlist_with_free_slots_promotes_at_once),
        TEST(restore_of_a_batch_with_a_duplicate_inside_changes_nothing),
        TEST(restore_of_a_user_already_in_the_trial_changes_nothing),
        TEST(restore_with_non_increasing_tickets_changes_nothing),
        TEST(restore_with_ticket_zero_changes_nothing),
        TEST(restore_of_a_ticket_held_in_the_other_list_changes_nothing),
        TEST(restore_of_an_empty_or_too_long_user_changes_nothing),
        TEST(restore_failing_after_index_growth_changes_nothing),
        TEST(restore_reusing_a_cancelled_arrival_number_keeps_the_trial_consistent),
        TEST(raise_next_ticket_never_lowers_it),
        TEST(empty_trial_survives_save_and_load),
        TEST(trial_with_a_waitlist_survives_save_and_load),
        TEST(hundred_thousand_users_with_many_cancels_survive_save_and_load),
        TEST(load_rejects_an_unknown_encoding),
        TEST(load_of_input_truncated_at_any_point_fails_without_leaking),
        TEST(load_of_a_hand_built_stream_succeeds),
        TEST(load_rejects_absurd_counts),
        TEST(load_rejects_empty_and_over_long_user_ids),
        TEST(load_rejects_duplicate_users),
        TEST(load_rejects_tickets_that_do_not_increase),
        TEST(memory_usage_matches_the_allocator_and_grows_and_shrinks_with_users),
        TEST(core_matches_a_reference_model_while_growing_past_forty_thousand_users),
        TEST(core_matches_a_reference_model_on_a_small_churning_trial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
