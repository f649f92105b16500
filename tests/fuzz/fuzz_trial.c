/* fuzz_trial.c -- libFuzzer harness of the enrollment core (module/trial.h).
 *
 * The input is, in order: a mode byte; then either a serialized trial (the format of this file's
 * reader: u64 as 8 bytes little-endian, byte strings as a u16 length and the bytes) that
 * trial_load() reads, or the capacity and waitlist size of a new trial; then operations, one
 * selector byte each, with their arguments.
 *
 * A trial that loads must pass trial_check(), list as many users as it counts, and save and load
 * back to the same bytes. The operations (enroll, cancel, resize, status, scan, restore, raise the
 * next ticket, copy, save/load) run against a model of the trial (two lists of users sorted by
 * arrival number) and each result is compared with the model's; after every operation the trial is
 * checked whole against the model. Any operation may run with an allocator that fails after a few
 * allocations: then the call must either succeed as the model says, or report no memory and change
 * nothing. At the end every block of the cores' allocator must have been freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core_alloc.h"
#include "fuzz_support.h"
#include "trial.h"

#define MAX_TICKET ((uint64_t)INT64_MAX - 1) /* trial.c's largest arrival number */
#define MAX_RESTORE_BATCH 8

/* ==== the stream: reader over the fuzz input, writer into a buffer of the same format ========== */
typedef struct byte_buffer {
    uint8_t *data;
    size_t len, cap;
} byte_buffer;

static void buffer_put(byte_buffer *b, const void *bytes, size_t len) {
    if (b->cap - b->len < len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < len) cap *= 2;
        uint8_t *grown = realloc(b->data, cap);
        FUZZ_CHECK(grown != NULL, "out of memory in the harness");
        b->data = grown;
        b->cap = cap;
    }
    if (len) memcpy(b->data + b->len, bytes, len);
    b->len += len;
}

static void writer_u64(void *io, uint64_t value) {
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(value >> (8 * i));
    buffer_put(io, le, 8);
}

static void writer_bytes(void *io, const char *bytes, size_t len) {
    FUZZ_CHECK(len <= UINT16_MAX, "saved a user id of %zu bytes", len);
    uint8_t le[2] = {(uint8_t)len, (uint8_t)(len >> 8)};
    buffer_put(io, le, 2);
    buffer_put(io, bytes, len);
}

static byte_buffer save_trial(const trial *t) {
    byte_buffer b = {0};
    trial_writer w = {writer_u64, writer_bytes, &b};
    trial_save(t, &w);
    return b;
}

static int reader_u64(void *io, uint64_t *value) {
    fuzz_input *in = io;
    if (fuzz_input_left(in) < 8) return -1;
    *value = fuzz_take_u64(in);
    return 0;
}

static int reader_bytes(void *io, char **bytes, size_t *len) {
    fuzz_input *in = io;
    if (fuzz_input_left(in) < 2) return -1;
    size_t n = fuzz_take_u16(in);
    if (fuzz_input_left(in) < n) return -1;
    char *copy = core_alloc(n ? n : 1);
    if (copy == NULL) return -1;
    memcpy(copy, in->data + in->pos, n);
    in->pos += n;
    *bytes = copy;
    *len = n;
    return 0;
}

static trial *load_from(fuzz_input *in, int version) {
    trial_reader r = {reader_u64, reader_bytes, in};
    return trial_load(&r, version);
}

/* A saved trial loads back and saves to the same bytes. */
static void check_round_trip(const byte_buffer *saved) {
    fuzz_input in;
    fuzz_input_init(&in, saved->data, saved->len);
    trial *again = load_from(&in, TRIAL_ENCODING_VERSION);
    FUZZ_CHECK(again != NULL, "a saved trial (%zu bytes) does not load", saved->len);
    FUZZ_CHECK(in.pos == saved->len, "loading read %zu of %zu saved bytes", in.pos, saved->len);
    byte_buffer resaved = save_trial(again);
    FUZZ_CHECK(resaved.len == saved->len && memcmp(resaved.data, saved->data, saved->len) == 0,
               "a loaded trial saves to other bytes");
    free(resaved.data);
    trial_free(again);
}

/* ==== the model ================================================================================= */
typedef struct model_user {
    uint8_t *id;
    size_t len;
    uint64_t ticket;
} model_user;

typedef struct model_list {
    model_user *items;
    size_t n, cap;
} model_list;

typedef struct model {
    uint64_t capacity, waitlist_max, next_ticket;
    model_list enrolled, waitlist;
} model;

static long list_find(const model_list *l, const void *id, size_t len) {
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].len == len && memcmp(l->items[i].id, id, len) == 0) return (long)i;
    return -1;
}

static int list_has_ticket(const model_list *l, uint64_t ticket) {
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].ticket == ticket) return 1;
    return 0;
}

/* Insert keeping the list sorted by arrival number (the core's order). */
static void list_insert(model_list *l, model_user u) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = realloc(l->items, l->cap * sizeof(*l->items));
        FUZZ_CHECK(l->items != NULL, "out of memory in the harness");
    }
    size_t at = l->n;
    while (at > 0 && l->items[at - 1].ticket > u.ticket) at--;
    memmove(l->items + at + 1, l->items + at, (l->n - at) * sizeof(*l->items));
    l->items[at] = u;
    l->n++;
}

static void list_insert_copy(model_list *l, const void *id, size_t len, uint64_t ticket) {
    model_user u = {malloc(len ? len : 1), len, ticket};
    FUZZ_CHECK(u.id != NULL, "out of memory in the harness");
    memcpy(u.id, id, len);
    list_insert(l, u);
}

static model_user list_take(model_list *l, size_t i) {
    model_user u = l->items[i];
    memmove(l->items + i, l->items + i + 1, (l->n - i - 1) * sizeof(*l->items));
    l->n--;
    return u;
}

static void list_free(model_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->items[i].id);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

static uint64_t model_remaining(const model *m) {
    return m->enrolled.n < m->capacity ? m->capacity - m->enrolled.n : 0;
}

static uint64_t model_promote(model *m) {
    uint64_t promoted = 0;
    while (m->waitlist.n > 0 && m->enrolled.n < m->capacity) {
        list_insert(&m->enrolled, list_take(&m->waitlist, 0));
        promoted++;
    }
    return promoted;
}

static int valid_user(size_t len) { return len >= 1 && len <= TRIAL_MAX_USER_LEN; }

/* ==== checking the trial against the model ========================================================= */
typedef struct listing {
    const model_list *expect;
    size_t at;
    size_t stop_after; /* stop the visit after this many users (SIZE_MAX: never) */
} listing;

static int visit_listed(const char *user, size_t len, uint64_t ticket, void *ctx) {
    listing *l = ctx;
    FUZZ_CHECK(l->at < l->expect->n, "the listing has more users than the model's %zu", l->expect->n);
    const model_user *u = &l->expect->items[l->at];
    FUZZ_CHECK(u->ticket == ticket && u->len == len && memcmp(u->id, user, len) == 0,
               "user %zu of a listing is ticket %llu, the model says ticket %llu", l->at, (unsigned long long)ticket,
               (unsigned long long)u->ticket);
    l->at++;
    return l->at >= l->stop_after;
}

static void check_against_model(const trial *t, const model *m) {
    int rc = trial_check(t);
    FUZZ_CHECK(rc == 0, "trial_check: %d", rc);
    FUZZ_CHECK(trial_capacity(t) == m->capacity, "capacity %llu, model %llu", (unsigned long long)trial_capacity(t),
               (unsigned long long)m->capacity);
    FUZZ_CHECK(trial_waitlist_max(t) == m->waitlist_max, "waitlist size differs from the model");
    FUZZ_CHECK(trial_next_ticket(t) == m->next_ticket, "next ticket %llu, model %llu",
               (unsigned long long)trial_next_ticket(t), (unsigned long long)m->next_ticket);
    FUZZ_CHECK(trial_enrolled_count(t) == m->enrolled.n, "enrolled %llu, model %zu",
               (unsigned long long)trial_enrolled_count(t), m->enrolled.n);
    FUZZ_CHECK(trial_waitlisted_count(t) == m->waitlist.n, "waitlisted %llu, model %zu",
               (unsigned long long)trial_waitlisted_count(t), m->waitlist.n);
    FUZZ_CHECK(trial_remaining(t) == model_remaining(m), "remaining differs from the model");
    FUZZ_CHECK(m->waitlist.n == 0 || m->enrolled.n >= m->capacity, "users wait while a slot is free");
    FUZZ_CHECK(trial_memory_usage(t) > 0, "a trial that takes no memory");
    listing l = {&m->enrolled, 0, SIZE_MAX};
    FUZZ_CHECK(trial_foreach(t, TRIAL_LIST_ENROLLED, visit_listed, &l) == 0 && l.at == m->enrolled.n,
               "the enrolled listing has %zu users, the model %zu", l.at, m->enrolled.n);
    l = (listing){&m->waitlist, 0, SIZE_MAX};
    FUZZ_CHECK(trial_foreach(t, TRIAL_LIST_WAITLIST, visit_listed, &l) == 0 && l.at == m->waitlist.n,
               "the waitlist listing has %zu users, the model %zu", l.at, m->waitlist.n);
}

/* The model of a trial that loaded: its listings, which must be consistent on their own. */
static int collect(const char *user, size_t len, uint64_t ticket, void *ctx) {
    model_list *l = ctx;
    FUZZ_CHECK(l->n == 0 || l->items[l->n - 1].ticket < ticket, "a listing out of arrival order");
    list_insert_copy(l, user, len, ticket);
    return 0;
}

static void model_of(const trial *t, model *m) {
    memset(m, 0, sizeof(*m));
    m->capacity = trial_capacity(t);
    m->waitlist_max = trial_waitlist_max(t);
    m->next_ticket = trial_next_ticket(t);
    trial_foreach(t, TRIAL_LIST_ENROLLED, collect, &m->enrolled);
    trial_foreach(t, TRIAL_LIST_WAITLIST, collect, &m->waitlist);
    FUZZ_CHECK(m->capacity <= TRIAL_MAX_CAPACITY && m->waitlist_max <= TRIAL_MAX_CAPACITY, "limits exceeded");
    FUZZ_CHECK(m->next_ticket >= 1 && m->next_ticket <= MAX_TICKET + 1, "next ticket %llu",
               (unsigned long long)m->next_ticket);
    for (size_t i = 0; i < m->enrolled.n; i++) {
        const model_user *u = &m->enrolled.items[i];
        FUZZ_CHECK(valid_user(u->len) && u->ticket >= 1 && u->ticket < m->next_ticket, "a loaded user is invalid");
        FUZZ_CHECK(list_find(&m->enrolled, u->id, u->len) == (long)i && list_find(&m->waitlist, u->id, u->len) < 0,
                   "a loaded user is listed twice");
        FUZZ_CHECK(!list_has_ticket(&m->waitlist, u->ticket), "a loaded ticket is in both lists");
    }
    for (size_t i = 0; i < m->waitlist.n; i++) {
        const model_user *u = &m->waitlist.items[i];
        FUZZ_CHECK(valid_user(u->len) && u->ticket >= 1 && u->ticket < m->next_ticket, "a loaded user is invalid");
        FUZZ_CHECK(list_find(&m->waitlist, u->id, u->len) == (long)i, "a loaded user is listed twice");
    }
}

/* ==== operations ================================================================================= */
typedef struct user_arg {
    char text[16];
    const uint8_t *bytes;
    size_t len;
} user_arg;

/* Mostly one of 24 short ids, so that users repeat; sometimes raw bytes (empty, long, binary). */
static void take_user(fuzz_input *in, user_arg *u) {
    uint8_t k = fuzz_take_u8(in);
    if (k < 0xE0) {
        int n = 0;
        u->text[n++] = 'u';
        u->text[n++] = (char)('a' + k % 24);
        if (k % 5 == 0) u->text[n++] = '\0'; /* binary-safe: an id with a NUL */
        u->bytes = (const uint8_t *)u->text;
        u->len = (size_t)n;
    } else {
        u->len = fuzz_take_bytes(in, TRIAL_MAX_USER_LEN + 8, &u->bytes);
    }
}

static uint64_t take_capacity(fuzz_input *in) {
    uint8_t k = fuzz_take_u8(in);
    if (k < 0xF0) return k % 12;
    return (uint64_t)fuzz_take_i64_edgy(in);
}

static void op_enroll(trial *t, model *m, const user_arg *u, int may_fail) {
    uint64_t ticket = 0;
    trial_enroll_result got = trial_enroll(t, (const char *)u->bytes, u->len, &ticket);
    trial_enroll_result want;
    model_list *into = NULL;
    if (!valid_user(u->len)) want = TRIAL_ENROLL_BAD_USER;
    else if (list_find(&m->enrolled, u->bytes, u->len) >= 0) want = TRIAL_ENROLL_ALREADY_ENROLLED;
    else if (list_find(&m->waitlist, u->bytes, u->len) >= 0) want = TRIAL_ENROLL_ALREADY_WAITLISTED;
    else if (m->enrolled.n < m->capacity) want = TRIAL_ENROLL_ENROLLED, into = &m->enrolled;
    else if (m->waitlist.n < m->waitlist_max) want = TRIAL_ENROLL_WAITLISTED, into = &m->waitlist;
    else want = TRIAL_ENROLL_FULL;
    if (into != NULL && m->next_ticket > MAX_TICKET) want = TRIAL_ENROLL_FULL, into = NULL;
    if (got == TRIAL_ENROLL_NO_MEMORY && may_fail && into != NULL) return;
    FUZZ_CHECK(got == want, "enroll answered %d, the model %d", (int)got, (int)want);
    if (into != NULL) {
        FUZZ_CHECK(ticket == m->next_ticket, "enroll gave ticket %llu, the model %llu", (unsigned long long)ticket,
                   (unsigned long long)m->next_ticket);
        list_insert_copy(into, u->bytes, u->len, m->next_ticket++);
    }
}

static void op_cancel(trial *t, model *m, const user_arg *u) {
    uint64_t promoted = 99;
    trial_cancel_result got = trial_cancel(t, (const char *)u->bytes, u->len, &promoted);
    trial_cancel_result want = TRIAL_CANCEL_NOT_FOUND;
    uint64_t want_promoted = 0;
    long at;
    if (!valid_user(u->len)) {
        want = TRIAL_CANCEL_NOT_FOUND;
    } else if ((at = list_find(&m->enrolled, u->bytes, u->len)) >= 0) {
        free(list_take(&m->enrolled, (size_t)at).id);
        want = TRIAL_CANCEL_WITHDRAWN;
        want_promoted = model_promote(m);
    } else if ((at = list_find(&m->waitlist, u->bytes, u->len)) >= 0) {
        free(list_take(&m->waitlist, (size_t)at).id);
        want = TRIAL_CANCEL_LEFT_WAITLIST;
    }
    FUZZ_CHECK(got == want, "cancel answered %d, the model %d", (int)got, (int)want);
    FUZZ_CHECK(promoted == want_promoted, "cancel promoted %llu, the model %llu", (unsigned long long)promoted,
               (unsigned long long)want_promoted);
}

static void op_resize(trial *t, model *m, uint64_t capacity, int may_fail) {
    uint64_t got = trial_resize(t, capacity);
    if (got == TRIAL_RESIZE_NO_MEMORY && may_fail) return;
    uint64_t old = m->capacity;
    m->capacity = capacity > TRIAL_MAX_CAPACITY ? TRIAL_MAX_CAPACITY : capacity;
    uint64_t want = model_promote(m);
    FUZZ_CHECK(got == want, "resize %llu -> %llu promoted %llu, the model %llu", (unsigned long long)old,
               (unsigned long long)capacity, (unsigned long long)got, (unsigned long long)want);
}

static void op_status(const trial *t, const model *m, const user_arg *u) {
    uint64_t value = 99;
    trial_state got = trial_status(t, (const char *)u->bytes, u->len, &value);
    long at = -1;
    if (valid_user(u->len) && (at = list_find(&m->enrolled, u->bytes, u->len)) >= 0) {
        FUZZ_CHECK(got == TRIAL_STATE_ENROLLED && value == m->enrolled.items[at].ticket, "status of an enrolled user");
    } else if (valid_user(u->len) && (at = list_find(&m->waitlist, u->bytes, u->len)) >= 0) {
        FUZZ_CHECK(got == TRIAL_STATE_WAITLISTED && value == (uint64_t)at + 1, "status of a waitlisted user: %d %llu",
                   (int)got, (unsigned long long)value);
    } else {
        FUZZ_CHECK(got == TRIAL_STATE_NONE && value == 0, "status of an unknown user");
    }
}

static void op_scan(const trial *t, const model *m, fuzz_input *in) {
    uint64_t cursor;
    uint8_t how = fuzz_take_u8(in);
    if (how % 3 == 0 && m->enrolled.n > 0) cursor = m->enrolled.items[fuzz_take_u8(in) % m->enrolled.n].ticket;
    else if (how % 3 == 1) cursor = (uint64_t)fuzz_take_i64_edgy(in);
    else cursor = fuzz_take_u8(in);
    size_t count = fuzz_take_u8(in) % 8;
    size_t stop_after = (how & 0x80) ? 1 + fuzz_take_u8(in) % 4 : SIZE_MAX;
    /* The model's page: users with ticket >= cursor (cursor 0: all), up to count. */
    size_t first = 0;
    while (first < m->enrolled.n && m->enrolled.items[first].ticket < cursor) first++;
    model_list tail = {m->enrolled.n ? m->enrolled.items + first : NULL, m->enrolled.n - first, 0};
    listing l = {&tail, 0, stop_after};
    uint64_t next = trial_scan(t, cursor, count, visit_listed, &l);
    size_t visited = tail.n < count ? tail.n : count;
    if (stop_after < visited) visited = stop_after;
    FUZZ_CHECK(l.at == visited, "scan from %llu count %zu visited %zu, the model %zu", (unsigned long long)cursor, count,
               l.at, visited);
    uint64_t want = first + visited < m->enrolled.n ? m->enrolled.items[first + visited].ticket : 0;
    FUZZ_CHECK(next == want, "scan's next cursor %llu, the model %llu", (unsigned long long)next,
               (unsigned long long)want);
    size_t page = tail.n < count ? tail.n : count;
    want = first + page < m->enrolled.n ? m->enrolled.items[first + page].ticket : 0;
    FUZZ_CHECK(trial_scan(t, cursor, count, NULL, NULL) == want, "scan without a visitor gives another cursor");
}

static void op_restore(trial *t, model *m, fuzz_input *in, int may_fail) {
    trial_list list = (fuzz_take_u8(in) & 1) ? TRIAL_LIST_WAITLIST : TRIAL_LIST_ENROLLED;
    size_t n = fuzz_take_u8(in) % (MAX_RESTORE_BATCH + 1);
    user_arg users[MAX_RESTORE_BATCH];
    const char *ids[MAX_RESTORE_BATCH];
    size_t lens[MAX_RESTORE_BATCH];
    uint64_t tickets[MAX_RESTORE_BATCH];
    model_list *into = list == TRIAL_LIST_ENROLLED ? &m->enrolled : &m->waitlist;
    model_list *other = list == TRIAL_LIST_ENROLLED ? &m->waitlist : &m->enrolled;
    uint64_t last = into->n ? into->items[into->n - 1].ticket : 0;
    for (size_t i = 0; i < n; i++) {
        take_user(in, &users[i]);
        ids[i] = (const char *)users[i].bytes;
        lens[i] = users[i].len;
        uint8_t k = fuzz_take_u8(in);
        if (k < 0xC0) tickets[i] = last + 1 + k % 4; /* mostly acceptable */
        else if (k < 0xE0 && other->n) tickets[i] = other->items[k % other->n].ticket;
        else tickets[i] = (uint64_t)fuzz_take_i64_edgy(in);
        last = tickets[i] > last ? tickets[i] : last;
    }
    /* The model's answer, checking the pairs in order as the contract says. */
    trial_restore_result want = TRIAL_RESTORE_OK;
    size_t want_at = n;
    /* A cancelled user's number (a tombstone in the other list) belongs to nobody: accepted, whether
     * or not that list was compacted since (once refused only before compaction:
     * tests/fuzz/crashes/trial-restore-tombstone-ticket.bin). */
    last = into->n ? into->items[into->n - 1].ticket : 0;
    for (size_t i = 0; i < n && want == TRIAL_RESTORE_OK; i++) {
        int seen_in_batch = 0;
        for (size_t j = 0; j < i; j++) seen_in_batch |= lens[j] == lens[i] && memcmp(ids[j], ids[i], lens[i]) == 0;
        if (!valid_user(lens[i])) want = TRIAL_RESTORE_BAD_USER;
        else if (tickets[i] == 0 || tickets[i] > MAX_TICKET || tickets[i] <= last) want = TRIAL_RESTORE_BAD_TICKET;
        else if (seen_in_batch || list_find(&m->enrolled, ids[i], lens[i]) >= 0 ||
                 list_find(&m->waitlist, ids[i], lens[i]) >= 0)
            want = TRIAL_RESTORE_DUPLICATE;
        else if (list_has_ticket(other, tickets[i])) want = TRIAL_RESTORE_BAD_TICKET;
        if (want != TRIAL_RESTORE_OK) want_at = i;
        last = tickets[i];
    }
    byte_buffer before = save_trial(t);
    size_t failed_at = 999;
    trial_restore_result got = trial_restore(t, list, n, tickets, ids, lens, &failed_at);
    /* Out of memory may stop the batch before the pair the model fails at. */
    if (got == TRIAL_RESTORE_NO_MEMORY && may_fail) want = got;
    FUZZ_CHECK(got == want, "restore of %zu answered %d, the model %d", n, (int)got, (int)want);
    if (got != TRIAL_RESTORE_OK) {
        if (got != TRIAL_RESTORE_NO_MEMORY)
            FUZZ_CHECK(failed_at == want_at, "restore failed at %zu, the model at %zu", failed_at, want_at);
        byte_buffer after = save_trial(t);
        FUZZ_CHECK(after.len == before.len && memcmp(after.data, before.data, before.len) == 0,
                   "a failed restore changed the trial");
        free(after.data);
    } else {
        for (size_t i = 0; i < n; i++) {
            list_insert_copy(into, ids[i], lens[i], tickets[i]);
            if (tickets[i] >= m->next_ticket) m->next_ticket = tickets[i] + 1;
        }
        model_promote(m);
    }
    free(before.data);
}

static void op_copy(const trial *t, int may_fail) {
    trial *c = trial_copy(t);
    if (c == NULL) {
        FUZZ_CHECK(may_fail, "trial_copy failed with memory to spare");
        return;
    }
    FUZZ_CHECK(trial_check(c) == 0, "a copy fails trial_check");
    byte_buffer a = save_trial(t), b = save_trial(c);
    FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0, "a copy saves to other bytes");
    free(a.data);
    free(b.data);
    trial_free(c);
}

static void run_operations(trial *t, model *m, fuzz_input *in) {
    check_against_model(t, m);
    while (!fuzz_input_done(in)) {
        uint8_t op = fuzz_take_u8(in);
        int may_fail = (op & 0x80) != 0;
        if (may_fail) fuzz_alloc_fail_after(fuzz_take_u8(in) % 6);
        user_arg u;
        switch (op % 11) {
        case 0:
        case 1:
            take_user(in, &u);
            op_enroll(t, m, &u, may_fail);
            break;
        case 2:
            take_user(in, &u);
            op_cancel(t, m, &u);
            break;
        case 3:
            op_resize(t, m, take_capacity(in), may_fail);
            break;
        case 4:
            take_user(in, &u);
            op_status(t, m, &u);
            break;
        case 5:
            op_scan(t, m, in);
            break;
        case 6:
            op_restore(t, m, in, may_fail);
            break;
        case 7: {
            uint64_t v = (uint64_t)fuzz_take_i64_edgy(in);
            trial_raise_next_ticket(t, v);
            if (v > MAX_TICKET + 1) v = MAX_TICKET + 1;
            if (v > m->next_ticket) m->next_ticket = v;
            break;
        }
        case 8:
            op_copy(t, may_fail);
            break;
        case 9: {
            fuzz_alloc_fail_after(-1);
            byte_buffer saved = save_trial(t);
            check_round_trip(&saved);
            free(saved.data);
            break;
        }
        default: {
            listing l = {&m->enrolled, 0, 1 + fuzz_take_u8(in) % 4};
            int stopped = trial_foreach(t, TRIAL_LIST_ENROLLED, visit_listed, &l);
            FUZZ_CHECK(stopped == (m->enrolled.n >= l.stop_after), "foreach's early stop");
            break;
        }
        }
        fuzz_alloc_fail_after(-1);
        check_against_model(t, m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_alloc_install();
    fuzz_alloc_fail_after(-1);
    long live_before = fuzz_alloc_live();
    fuzz_input in;
    fuzz_input_init(&in, data, size);
    uint8_t mode = fuzz_take_u8(&in);
    trial *t;
    if (mode & 1) {
        int version = (mode & 0x40) ? (int)(mode >> 1) % 4 : TRIAL_ENCODING_VERSION;
        if (mode & 0x80) fuzz_alloc_fail_after(fuzz_take_u8(&in) % 16);
        size_t start = in.pos;
        t = load_from(&in, version);
        fuzz_alloc_fail_after(-1);
        if (t == NULL) {
            FUZZ_CHECK(fuzz_alloc_live() == live_before, "a failed load leaked %ld blocks", fuzz_alloc_live() - live_before);
            return 0;
        }
        FUZZ_CHECK(version == TRIAL_ENCODING_VERSION, "encoding %d loaded", version);
        FUZZ_CHECK(in.pos > start, "a trial loaded from nothing");
        FUZZ_CHECK(trial_check(t) == 0, "a loaded trial fails trial_check: %d", trial_check(t));
        byte_buffer saved = save_trial(t);
        check_round_trip(&saved);
        free(saved.data);
    } else {
        uint64_t capacity = take_capacity(&in), waitlist_max = take_capacity(&in);
        t = trial_create(capacity, waitlist_max);
        if (t == NULL) {
            FUZZ_CHECK(capacity > TRIAL_MAX_CAPACITY || waitlist_max > TRIAL_MAX_CAPACITY,
                       "trial_create(%llu, %llu) failed", (unsigned long long)capacity,
                       (unsigned long long)waitlist_max);
            return 0;
        }
    }
    model m;
    model_of(t, &m);
    run_operations(t, &m, &in);
    trial_free(t);
    list_free(&m.enrolled);
    list_free(&m.waitlist);
    FUZZ_CHECK(fuzz_alloc_live() == live_before, "%ld blocks of the cores' allocator leaked",
               fuzz_alloc_live() - live_before);
    return 0;
}
