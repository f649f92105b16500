/* test_trial.c -- cmocka unit tests of the enrollment core (module/trial.c), no Redis.
 *
 * The whole binary runs on a counting allocator installed in main() before any trial exists: every
 * test is wrapped in a setup/teardown pair that fails the test when a block or a byte it allocated
 * through the core is still live at the end. The same allocator can fail one chosen allocation, so
 * the out-of-memory paths are exercised too.
 *
 * Serialization goes through an in-memory writer/reader: a growable byte buffer where every value is
 * tagged ('U' + 8 bytes little-endian, or 'B' + 8-byte length + bytes). The tags make the stream
 * self-describing, so tests can cut it anywhere or rewrite single values without knowing the
 * layout trial_save() chose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counting_allocator.h"
#include "trial.h"

/* ==== in-memory writer / reader ================================================================= */
typedef struct buffer {
    unsigned char *data;
    size_t len;
    size_t cap;
} buffer;

static void buffer_put(buffer *b, const void *bytes, size_t len) {
    if (b->cap - b->len < len) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < len) cap *= 2;
        unsigned char *grown = realloc(b->data, cap);
        assert_non_null(grown);
        b->data = grown;
        b->cap = cap;
    }
    if (len > 0) memcpy(b->data + b->len, bytes, len);
    b->len += len;
}

static void buffer_put_u64(buffer *b, uint64_t value) {
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(value >> (8 * i));
    buffer_put(b, le, 8);
}

static void buffer_free(buffer *b) {
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static void write_u64(void *io, uint64_t value) {
    buffer_put(io, "U", 1);
    buffer_put_u64(io, value);
}

static void write_bytes(void *io, const char *bytes, size_t len) {
    buffer_put(io, "B", 1);
    buffer_put_u64(io, len);
    buffer_put(io, bytes, len);
}

typedef struct source {
    const unsigned char *data;
    size_t len; /* readable bytes: less than the buffer to simulate truncation */
    size_t pos;
} source;

static int take(source *s, void *out, size_t len) {
    if (s->len - s->pos < len) return -1;
    memcpy(out, s->data + s->pos, len);
    s->pos += len;
    return 0;
}

static int take_u64(source *s, uint64_t *value) {
    unsigned char le[8];
    if (take(s, le, 8) != 0) return -1;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)le[i] << (8 * i);
    *value = v;
    return 0;
}

static int take_tag(source *s, char expected) {
    char tag;
    if (take(s, &tag, 1) != 0 || tag != expected) return -1;
    return 0;
}

static int read_u64(void *io, uint64_t *value) {
    source *s = io;
    if (take_tag(s, 'U') != 0) return -1;
    return take_u64(s, value);
}

static int read_bytes(void *io, char **bytes, size_t *len) {
    source *s = io;
    uint64_t n;
    if (take_tag(s, 'B') != 0 || take_u64(s, &n) != 0 || n > s->len - s->pos) return -1;
    char *copy = core_alloc((size_t)n); /* the core frees it with the trial allocator */
    if (copy == NULL) return -1;
    if (take(s, copy, (size_t)n) != 0) {
        core_free(copy);
        return -1;
    }
    *bytes = copy;
    *len = (size_t)n;
    return 0;
}

static buffer save(const trial *t) {
    buffer b = {NULL, 0, 0};
    trial_writer w = {write_u64, write_bytes, &b};
    trial_save(t, &w);
    return b;
}

static trial *load_prefix(const buffer *b, size_t len, int version, size_t *consumed) {
    source s = {b->data, len, 0};
    trial_reader r = {read_u64, read_bytes, &s};
    trial *t = trial_load(&r, version);
    if (consumed) *consumed = s.pos;
    return t;
}

static trial *load(const buffer *b) {
    size_t consumed = 0;
    trial *t = load_prefix(b, b->len, TRIAL_ENCODING_VERSION, &consumed);
    if (t != NULL) assert_int_equal(consumed, b->len);
    return t;
}

static void assert_same_bytes(const buffer *a, const buffer *b) {
    assert_int_equal(a->len, b->len);
    if (a->len > 0) assert_memory_equal(a->data, b->data, a->len);
}

/* The serialized form, used as a snapshot: two trials with the same bytes hold the same state. */
static void assert_unchanged(const trial *t, const buffer *before) {
    buffer now = save(t);
    assert_same_bytes(&now, before);
    buffer_free(&now);
}

/* ---- tokens: the serialized stream as a list of values, to rewrite single values ---------------- */
typedef struct token {
    int is_bytes;
    uint64_t value;
    char *bytes;
    size_t len;
} token;

typedef struct token_list {
    token *items;
    size_t n;
} token_list;

static token_list tokenize(const buffer *b) {
    token_list l = {NULL, 0};
    source s = {b->data, b->len, 0};
    size_t bound = b->len; /* every token takes at least 9 bytes */
    for (size_t i = 0; i < bound && s.pos < s.len; i++) {
        token tk = {0, 0, NULL, 0};
        char tag = 0;
        assert_int_equal(take(&s, &tag, 1), 0);
        assert_int_equal(take_u64(&s, &tk.value), 0);
        if (tag == 'B') {
            tk.is_bytes = 1;
            tk.len = (size_t)tk.value;
            tk.bytes = malloc(tk.len + 1);
            assert_non_null(tk.bytes);
            assert_int_equal(take(&s, tk.bytes, tk.len), 0);
        } else {
            assert_int_equal(tag, 'U');
        }
        token *grown = realloc(l.items, (l.n + 1) * sizeof(*grown));
        assert_non_null(grown);
        l.items = grown;
        l.items[l.n++] = tk;
    }
    return l;
}

static buffer untokenize(const token_list *l) {
    buffer b = {NULL, 0, 0};
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i].is_bytes)
            write_bytes(&b, l->items[i].bytes, l->items[i].len);
        else
            write_u64(&b, l->items[i].value);
    }
    return b;
}

static void tokens_free(token_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->items[i].bytes);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* The one integer token holding `value` (the fixture makes every value distinct). */
static token *u64_token(token_list *l, uint64_t value) {
    token *found = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (!l->items[i].is_bytes && l->items[i].value == value) {
            found = &l->items[i];
            matches++;
        }
    }
    assert_int_equal(matches, 1);
    return found;
}

static token *bytes_token(token_list *l, const char *user) {
    token *found = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i].is_bytes && l->items[i].len == strlen(user) &&
            memcmp(l->items[i].bytes, user, l->items[i].len) == 0) {
            found = &l->items[i];
            matches++;
        }
    }
    assert_int_equal(matches, 1);
    return found;
}

static void set_token_bytes(token *tk, const char *bytes, size_t len) {
    free(tk->bytes);
    tk->bytes = malloc(len + 1);
    assert_non_null(tk->bytes);
    if (len > 0) memcpy(tk->bytes, bytes, len);
    tk->len = len;
}

static trial *load_tokens(const token_list *l) {
    buffer b = untokenize(l);
    trial *t = load(&b);
    buffer_free(&b);
    return t;
}

/* ==== listings: a list of a trial copied out, for comparisons ==================================== */
typedef struct listing {
    size_t n;
    size_t cap;
    uint64_t *tickets;
    char **users; /* NUL-terminated copies (ids may hold NULs too: use lens) */
    size_t *lens;
} listing;

static int collect(const char *user, size_t len, uint64_t ticket, void *ctx) {
    listing *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->tickets = realloc(l->tickets, l->cap * sizeof(*l->tickets));
        l->users = realloc(l->users, l->cap * sizeof(*l->users));
        l->lens = realloc(l->lens, l->cap * sizeof(*l->lens));
        assert_true(l->tickets && l->users && l->lens);
    }
    char *copy = malloc(len + 1);
    assert_non_null(copy);
    memcpy(copy, user, len);
    copy[len] = '\0';
    l->tickets[l->n] = ticket;
    l->users[l->n] = copy;
    l->lens[l->n] = len;
    l->n++;
    return 0;
}

static listing list_of(const trial *t, trial_list which) {
    listing l = {0, 0, NULL, NULL, NULL};
    assert_int_equal(trial_foreach(t, which, collect, &l), 0);
    return l;
}

static void listing_free(listing *l) {
    for (size_t i = 0; i < l->n; i++) free(l->users[i]);
    free(l->tickets);
    free(l->users);
    free(l->lens);
    memset(l, 0, sizeof(*l));
}

static void assert_listings_equal(const listing *a, const listing *b) {
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->tickets[i], b->tickets[i]);
        assert_int_equal(a->lens[i], b->lens[i]);
        assert_memory_equal(a->users[i], b->users[i], a->lens[i]);
    }
}

static void assert_trials_equal(const trial *a, const trial *b) {
    assert_int_equal(trial_capacity(a), trial_capacity(b));
    assert_int_equal(trial_waitlist_max(a), trial_waitlist_max(b));
    assert_int_equal(trial_next_ticket(a), trial_next_ticket(b));
    assert_int_equal(trial_enrolled_count(a), trial_enrolled_count(b));
    assert_int_equal(trial_waitlisted_count(a), trial_waitlisted_count(b));
    assert_int_equal(trial_remaining(a), trial_remaining(b));
    for (int which = TRIAL_LIST_ENROLLED; which <= TRIAL_LIST_WAITLIST; which++) {
        listing la = list_of(a, (trial_list)which);
        listing lb = list_of(b, (trial_list)which);
        assert_listings_equal(&la, &lb);
        listing_free(&la);
        listing_free(&lb);
    }
    buffer sa = save(a);
    buffer sb = save(b);
    assert_same_bytes(&sa, &sb);
    buffer_free(&sa);
    buffer_free(&sb);
}

/* ==== small helpers ============================================================================== */
static trial_enroll_result enroll(trial *t, const char *user) { return trial_enroll(t, user, strlen(user), NULL); }

static uint64_t enroll_ticket(trial *t, const char *user) {
    uint64_t ticket = 0;
    trial_enroll_result r = trial_enroll(t, user, strlen(user), &ticket);
    assert_true(r == TRIAL_ENROLL_ENROLLED || r == TRIAL_ENROLL_WAITLISTED);
    return ticket;
}

static trial_cancel_result cancel(trial *t, const char *user) { return trial_cancel(t, user, strlen(user), NULL); }

static trial_state status(const trial *t, const char *user, uint64_t *value) {
    return trial_status(t, user, strlen(user), value);
}

/* "user:%012lu": 17 bytes. */
static const char *numbered(char out[32], unsigned long i) {
    snprintf(out, 32, "user:%012lu", i);
    return out;
}

static trial *new_trial(uint64_t capacity, uint64_t waitlist_max) {
    trial *t = trial_create(capacity, waitlist_max);
    assert_non_null(t);
    assert_int_equal(trial_check(t), 0);
    return t;
}

static void enroll_all(trial *t, const char *const *users, size_t n) {
    for (size_t i = 0; i < n; i++) {
        trial_enroll_result r = enroll(t, users[i]);
        assert_true(r == TRIAL_ENROLL_ENROLLED || r == TRIAL_ENROLL_WAITLISTED);
    }
    assert_int_equal(trial_check(t), 0);
}

/* splitmix64: a small seeded PRNG, so every run replays the same operations. */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

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

static void an_enrolled_user_hears_already_enrolled_not_full_when_the_trial_is_full(void **state) {
    (void)state;
    trial *t = new_trial(1, 0);
    assert_int_equal(enroll(t, "alice"), TRIAL_ENROLL_ENROLLED);
    assert_int_equal(enroll(t, "alice"), TRIAL_ENROLL_ALREADY_ENROLLED);
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

static void arrival_numbers_count_up_from_one(void **state) {
    (void)state;
    trial *t = new_trial(10, 0);
    assert_int_equal(enroll_ticket(t, "alice"), 1);
    assert_int_equal(enroll_ticket(t, "bob"), 2);
    assert_int_equal(enroll_ticket(t, "carol"), 3);
    assert_int_equal(trial_next_ticket(t), 4);
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

static void cancelling_twice_answers_not_found_the_second_time(void **state) {
    (void)state;
    trial *t = new_trial(2, 0);
    enroll_all(t, (const char *[]){"alice"}, 1);
    assert_int_equal(cancel(t, "alice"), TRIAL_CANCEL_WITHDRAWN);
    assert_int_equal(cancel(t, "alice"), TRIAL_CANCEL_NOT_FOUND);
    assert_int_equal(trial_check(t), 0);
    trial_free(t);
}

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

static void leaving_the_waitlist_frees_room_on_it(void **state) {
    (void)state;
    trial *t = new_trial(1, 1);
    enroll_all(t, (const char *[]){"alice", "bob"}, 2);
    assert_int_equal(enroll(t, "carol"), TRIAL_ENROLL_FULL);
    assert_int_equal(cancel(t, "bob"), TRIAL_CANCEL_LEFT_WAITLIST);
    assert_int_equal(enroll(t, "carol"), TRIAL_ENROLL_WAITLISTED);
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

/* ==== limits ===================================================================================== */
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

/* ==== scan ======================================================================================= */
static trial *numbered_trial(unsigned long n) {
    trial *t = new_trial(1000000, 0);
    char id[32];
    for (unsigned long i = 0; i < n; i++) assert_int_equal(enroll(t, numbered(id, i)), TRIAL_ENROLL_ENROLLED);
    return t;
}

static void scanning_pages_through_enrolled_users_in_arrival_order(void **state) {
    (void)state;
    trial *t = numbered_trial(25);
    listing seen = {0, 0, NULL, NULL, NULL};
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

static void scanning_with_count_one_returns_one_user_per_page(void **state) {
    (void)state;
    trial *t = numbered_trial(7);
    listing seen = {0, 0, NULL, NULL, NULL};
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

static void scanning_from_a_cursor_past_the_end_returns_zero_and_nobody(void **state) {
    (void)state;
    trial *t = numbered_trial(5);
    listing seen = {0, 0, NULL, NULL, NULL};
    assert_int_equal(trial_scan(t, 6, 10, collect, &seen), 0);
    assert_int_equal(trial_scan(t, 1000, 10, collect, &seen), 0);
    assert_int_equal(trial_scan(t, UINT64_MAX, 10, collect, &seen), 0);
    assert_int_equal(seen.n, 0);
    listing_free(&seen);
    trial_free(t);
}

static void scanning_an_empty_trial_returns_zero_and_nobody(void **state) {
    (void)state;
    trial *t = new_trial(3, 3);
    listing seen = {0, 0, NULL, NULL, NULL};
    assert_int_equal(trial_scan(t, 0, 10, collect, &seen), 0);
    assert_int_equal(seen.n, 0);
    listing_free(&seen);
    trial_free(t);
}

static void scanning_returns_only_enrolled_users(void **state) {
    (void)state;
    trial *t = new_trial(2, 5);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave"}, 4);
    listing seen = {0, 0, NULL, NULL, NULL};
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
    listing seen = {0, 0, NULL, NULL, NULL};
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
        listing page = {0, 0, NULL, NULL, NULL};
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

static void scanning_continues_when_the_next_user_is_cancelled_between_pages(void **state) {
    (void)state;
    trial *t = numbered_trial(6);
    listing seen = {0, 0, NULL, NULL, NULL};
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

/* ==== copy ======================================================================================= */
static trial *busy_trial(void) {
    trial *t = new_trial(5, 4);
    enroll_all(t, (const char *[]){"alice", "bob", "carol", "dave", "eve", "frank", "grace", "heidi"}, 8);
    cancel(t, "bob");   /* promotes frank */
    cancel(t, "grace"); /* leaves the waitlist */
    trial_resize(t, 4); /* over capacity by one */
    assert_int_equal(trial_check(t), 0);
    return t;
}

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

/* ==== restore ==================================================================================== */
static trial_restore_result restore(trial *t, trial_list list, size_t n, const uint64_t *tickets,
                                    const char *const *users, size_t *failed_at) {
    size_t lens[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) lens[i] = strlen(users[i]);
    return trial_restore(t, list, n, tickets, users, lens, failed_at);
}

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
    listing seen = {0, 0, NULL, NULL, NULL};
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

/* ==== serialization ============================================================================== */
static void assert_round_trip(const trial *t) {
    buffer b = save(t);
    trial *loaded = load(&b);
    assert_non_null(loaded);
    assert_int_equal(trial_check(loaded), 0);
    assert_trials_equal(t, loaded);
    trial_free(loaded);
    buffer_free(&b);
}

static void an_empty_trial_survives_save_and_load(void **state) {
    (void)state;
    trial *t = new_trial(7, 3);
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

static void loading_refuses_an_empty_trial_cut_at_any_point(void **state) {
    (void)state;
    trial *t = new_trial(3, 3);
    buffer b = save(t);
    for (size_t len = 0; len < b.len; len++) assert_null(load_prefix(&b, len, TRIAL_ENCODING_VERSION, NULL));
    buffer_free(&b);
    trial_free(t);
}

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

/* ==== memory ===================================================================================== */
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

/* ==== randomized model test ====================================================================== */
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

typedef struct model_list {
    size_t n;
    int users[POOL];
    uint64_t tickets[POOL];
} model_list;

typedef struct model {
    uint64_t capacity;
    uint64_t waitlist_max;
    uint64_t next_ticket;
    model_list enrolled;
    model_list waitlist;
} model;

static long model_find(const model_list *l, int user) {
    for (size_t i = 0; i < l->n; i++)
        if (l->users[i] == user) return (long)i;
    return -1;
}

static void model_append(model_list *l, int user, uint64_t ticket) {
    assert_true(l->n < POOL);
    l->users[l->n] = user;
    l->tickets[l->n] = ticket;
    l->n++;
}

static void model_remove_at(model_list *l, size_t at) {
    memmove(l->users + at, l->users + at + 1, (l->n - at - 1) * sizeof(l->users[0]));
    memmove(l->tickets + at, l->tickets + at + 1, (l->n - at - 1) * sizeof(l->tickets[0]));
    l->n--;
}

static uint64_t model_promote(model *m) {
    uint64_t promoted = 0;
    while (m->waitlist.n > 0 && m->enrolled.n < m->capacity) {
        model_append(&m->enrolled, m->waitlist.users[0], m->waitlist.tickets[0]);
        model_remove_at(&m->waitlist, 0);
        promoted++;
    }
    return promoted;
}

static trial_enroll_result model_enroll(model *m, int user, uint64_t *ticket) {
    if (model_find(&m->enrolled, user) >= 0) return TRIAL_ENROLL_ALREADY_ENROLLED;
    if (model_find(&m->waitlist, user) >= 0) return TRIAL_ENROLL_ALREADY_WAITLISTED;
    if (m->enrolled.n < m->capacity) {
        *ticket = m->next_ticket++;
        model_append(&m->enrolled, user, *ticket);
        return TRIAL_ENROLL_ENROLLED;
    }
    if (m->waitlist.n < m->waitlist_max) {
        *ticket = m->next_ticket++;
        model_append(&m->waitlist, user, *ticket);
        return TRIAL_ENROLL_WAITLISTED;
    }
    return TRIAL_ENROLL_FULL;
}

static trial_cancel_result model_cancel(model *m, int user, uint64_t *promoted) {
    *promoted = 0;
    long at = model_find(&m->enrolled, user);
    if (at >= 0) {
        model_remove_at(&m->enrolled, (size_t)at);
        *promoted = model_promote(m);
        return TRIAL_CANCEL_WITHDRAWN;
    }
    at = model_find(&m->waitlist, user);
    if (at >= 0) {
        model_remove_at(&m->waitlist, (size_t)at);
        return TRIAL_CANCEL_LEFT_WAITLIST;
    }
    return TRIAL_CANCEL_NOT_FOUND;
}

static uint64_t model_resize(model *m, uint64_t capacity) {
    m->capacity = capacity;
    return model_promote(m);
}

static trial_state model_status(const model *m, int user, uint64_t *value) {
    long at = model_find(&m->enrolled, user);
    if (at >= 0) {
        *value = m->enrolled.tickets[at];
        return TRIAL_STATE_ENROLLED;
    }
    at = model_find(&m->waitlist, user);
    if (at >= 0) {
        *value = (uint64_t)at + 1;
        return TRIAL_STATE_WAITLISTED;
    }
    *value = 0;
    return TRIAL_STATE_NONE;
}

static int collect_model(const char *user, size_t len, uint64_t ticket, void *ctx) {
    model_list *l = ctx;
    int i = pool_index(user, len);
    if (i < 0 || l->n >= POOL) return 1; /* stop: reported as a mismatch */
    model_append(l, i, ticket);
    return 0;
}

/* NULL when the trial holds exactly the model's state; otherwise what differs. */
static const char *compare_with_model(const trial *t, const model *m) {
    if (trial_check(t) != 0) return "trial_check failed";
    if (trial_capacity(t) != m->capacity) return "capacity differs";
    if (trial_waitlist_max(t) != m->waitlist_max) return "waitlist_max differs";
    if (trial_next_ticket(t) != m->next_ticket) return "next ticket differs";
    if (trial_enrolled_count(t) != m->enrolled.n) return "enrolled count differs";
    if (trial_waitlisted_count(t) != m->waitlist.n) return "waitlisted count differs";
    uint64_t remaining = m->enrolled.n < m->capacity ? m->capacity - m->enrolled.n : 0;
    if (trial_remaining(t) != remaining) return "remaining differs";
    const model_list *expected[2] = {&m->enrolled, &m->waitlist};
    for (int which = 0; which < 2; which++) {
        model_list got;
        got.n = 0;
        if (trial_foreach(t, (trial_list)which, collect_model, &got) != 0) return "foreach met an unknown user";
        if (got.n != expected[which]->n) return "list length differs";
        for (size_t i = 0; i < got.n; i++)
            if (got.users[i] != expected[which]->users[i] || got.tickets[i] != expected[which]->tickets[i])
                return which == 0 ? "enrolled list differs" : "waitlist differs";
    }
    return NULL;
}

static void run_model(uint64_t seed, uint64_t capacity, uint64_t waitlist_max, size_t steps) {
    trial *t = new_trial(capacity, waitlist_max);
    static model m;
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
            trial_enroll_result want = model_enroll(&m, user, &want_ticket);
            if (got != want) fail_msg("seed %llu step %zu: enroll answered %d, model %d", (unsigned long long)seed, step, got, want);
            if ((want == TRIAL_ENROLL_ENROLLED || want == TRIAL_ENROLL_WAITLISTED) && got_ticket != want_ticket)
                fail_msg("seed %llu step %zu: ticket %llu, model %llu", (unsigned long long)seed, step,
                         (unsigned long long)got_ticket, (unsigned long long)want_ticket);
        } else if (op < 80) {
            what = "cancel";
            uint64_t got_promoted = 99, want_promoted = 0;
            trial_cancel_result got = trial_cancel(t, id, len, &got_promoted);
            trial_cancel_result want = model_cancel(&m, user, &want_promoted);
            if (got != want || got_promoted != want_promoted)
                fail_msg("seed %llu step %zu: cancel answered %d (promoted %llu), model %d (%llu)",
                         (unsigned long long)seed, step, got, (unsigned long long)got_promoted, want,
                         (unsigned long long)want_promoted);
        } else if (op < 92) {
            what = "status";
            uint64_t got_value = 99, want_value = 0;
            trial_state got = trial_status(t, id, len, &got_value);
            trial_state want = model_status(&m, user, &want_value);
            if (got != want || got_value != want_value)
                fail_msg("seed %llu step %zu: status %d/%llu, model %d/%llu", (unsigned long long)seed, step, got,
                         (unsigned long long)got_value, want, (unsigned long long)want_value);
        } else if (op < 98) {
            what = "resize";
            uint64_t to = (r >> 40) % (POOL / 2 + 8);
            uint64_t got = trial_resize(t, to);
            uint64_t want = model_resize(&m, to);
            if (got != want)
                fail_msg("seed %llu step %zu: resize to %llu promoted %llu, model %llu", (unsigned long long)seed,
                         step, (unsigned long long)to, (unsigned long long)got, (unsigned long long)want);
        } else if (op == 98) {
            what = "copy";
            trial *c = trial_copy(t);
            assert_non_null(c);
            const char *diff = compare_with_model(c, &m);
            if (diff) fail_msg("seed %llu step %zu: copy: %s", (unsigned long long)seed, step, diff);
            trial_free(c);
        } else {
            what = "save/load";
            buffer b = save(t);
            trial *loaded = load(&b);
            assert_non_null(loaded);
            const char *diff = compare_with_model(loaded, &m);
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
        const char *diff = compare_with_model(t, &m);
        if (diff) fail_msg("seed %llu step %zu (%s): %s", (unsigned long long)seed, step, what, diff);
        if (trial_memory_usage(t) != bytes_in_use())
            fail_msg("seed %llu step %zu (%s): memory usage %zu, allocator holds %zu", (unsigned long long)seed, step,
                     what, trial_memory_usage(t), bytes_in_use());
    }
    trial_free(t);
}

static void random_operations_match_a_reference_model(void **state) {
    (void)state;
    run_model(1, 20, 0, 50000);
    run_model(2, 20, 10, 50000);
    run_model(3, 0, 5, 25000);
    run_model(4, 40, 40, 50000);
    run_model(5, 1, POOL, 25000);
}

/* ==== main ======================================================================================= */
#define TEST(f) cmocka_unit_test_setup_teardown(f, record_heap, expect_heap_balanced)

int main(void) {
    /* Before any trial exists, for the whole binary: every test checks its own balance. */
    core_set_allocator(&counting_allocator);
    trial_set_hash_seed(0x51075EED2024ULL);
    init_pool();

    const struct CMUnitTest tests[] = {
        TEST(a_new_trial_is_empty_and_hands_out_arrival_one_first),
        TEST(enrolling_a_new_user_takes_one_slot),
        TEST(enrolling_the_same_user_twice_answers_already_enrolled),
        TEST(an_enrolled_user_hears_already_enrolled_not_full_when_the_trial_is_full),
        TEST(enrolling_into_a_full_trial_without_waitlist_answers_full_and_changes_nothing),
        TEST(arrival_numbers_count_up_from_one),
        TEST(arrival_numbers_are_never_reused_after_a_cancel),
        TEST(a_refused_enrollment_consumes_no_arrival_number),
        TEST(cancelling_an_enrolled_user_gives_its_slot_back),
        TEST(cancelling_an_unknown_user_answers_not_found_and_changes_nothing),
        TEST(cancelling_twice_answers_not_found_the_second_time),
        TEST(a_full_trial_puts_newcomers_on_the_waitlist),
        TEST(waitlisted_users_receive_arrival_numbers_too),
        TEST(enrolling_a_waitlisted_user_again_answers_already_waitlisted),
        TEST(a_waitlisted_user_hears_already_waitlisted_when_the_waitlist_is_full),
        TEST(a_full_waitlist_answers_full),
        TEST(cancelling_an_enrolled_user_promotes_the_waitlist_head_with_its_arrival_number),
        TEST(cancelling_a_waitlisted_user_removes_it_and_moves_the_others_up),
        TEST(leaving_the_waitlist_frees_room_on_it),
        TEST(status_gives_the_arrival_number_of_an_enrolled_user),
        TEST(status_gives_the_one_based_waitlist_position_of_a_waitlisted_user),
        TEST(status_of_an_unknown_user_is_none_with_zero),
        TEST(waitlist_positions_follow_promotions),
        TEST(resizing_below_the_enrolled_count_drops_nobody),
        TEST(remaining_stays_zero_until_enough_users_cancel_after_shrinking),
        TEST(cancelling_while_over_capacity_promotes_nobody),
        TEST(resizing_up_promotes_the_waitlist_in_fifo_order_and_returns_the_count),
        TEST(resizing_beyond_the_waitlist_promotes_everyone_and_leaves_room),
        TEST(resizing_while_over_capacity_promotes_nobody),
        TEST(a_trial_of_capacity_zero_enrolls_nobody),
        TEST(a_trial_of_capacity_zero_with_a_waitlist_queues_everyone),
        TEST(the_largest_capacity_and_waitlist_are_accepted),
        TEST(a_capacity_or_waitlist_above_the_largest_is_refused),
        TEST(user_ids_are_binary_safe),
        TEST(one_byte_and_longest_user_ids_are_accepted),
        TEST(empty_and_over_long_user_ids_are_refused_and_change_nothing),
        TEST(foreach_visits_each_list_in_arrival_order),
        TEST(foreach_skips_cancelled_users),
        TEST(foreach_stops_when_the_visitor_asks),
        TEST(scanning_pages_through_enrolled_users_in_arrival_order),
        TEST(scanning_with_count_one_returns_one_user_per_page),
        TEST(scanning_from_a_cursor_past_the_end_returns_zero_and_nobody),
        TEST(scanning_an_empty_trial_returns_zero_and_nobody),
        TEST(scanning_returns_only_enrolled_users),
        TEST(scanning_from_a_cursor_starts_at_that_arrival_number),
        TEST(scanning_returns_every_user_present_for_the_whole_scan_exactly_once),
        TEST(scanning_continues_when_the_next_user_is_cancelled_between_pages),
        TEST(a_copy_is_identical_to_its_original),
        TEST(a_copy_is_independent_of_its_original),
        TEST(a_copy_keeps_arrival_numbers_going),
        TEST(restoring_appends_users_with_their_arrival_numbers),
        TEST(restoring_fills_the_waitlist_in_the_given_order),
        TEST(restoring_raises_the_next_arrival_number_above_every_restored_one),
        TEST(restoring_lower_arrival_numbers_keeps_the_next_one),
        TEST(restoring_is_all_or_nothing),
        TEST(restoring_a_large_failing_batch_leaves_the_trial_as_it_was),
        TEST(restoring_refuses_a_user_twice_in_one_batch),
        TEST(restoring_refuses_a_user_already_enrolled),
        TEST(restoring_refuses_a_user_already_waitlisted),
        TEST(restoring_refuses_arrival_numbers_that_do_not_increase_within_the_batch),
        TEST(restoring_refuses_an_arrival_number_not_above_the_lists_last),
        TEST(restoring_refuses_arrival_number_zero),
        TEST(restoring_refuses_empty_and_over_long_users),
        TEST(restoring_more_users_than_the_capacity_is_allowed),
        TEST(a_restored_waitlisted_user_older_than_the_enrolled_ones_is_promoted_in_arrival_order),
        TEST(restoring_a_waitlisted_user_with_an_enrolled_users_arrival_number_is_refused),
        TEST(restoring_an_enrolled_user_with_a_waitlisted_users_arrival_number_is_refused),
        TEST(cancelling_a_promoted_user_with_an_older_arrival_number_leaves_the_others_intact),
        TEST(raising_the_next_arrival_number_never_lowers_it),
        TEST(an_empty_trial_survives_save_and_load),
        TEST(a_trial_of_the_largest_capacity_survives_save_and_load),
        TEST(a_trial_with_a_waitlist_survives_save_and_load),
        TEST(a_trial_with_binary_ids_survives_save_and_load),
        TEST(a_large_trial_with_tombstones_survives_save_and_load),
        TEST(a_large_waitlist_survives_save_and_load),
        TEST(saving_a_loaded_trial_gives_the_same_bytes),
        TEST(loading_refuses_an_unknown_encoding_version),
        TEST(loading_refuses_input_cut_at_any_point),
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
        TEST(memory_usage_grows_with_users_and_shrinks_after_cancels),
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
        TEST(random_operations_match_a_reference_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
