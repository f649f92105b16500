/* test_enroll_contract.c -- every reply of the command contract in README.md, against a real
 * redis-server with the module loaded.
 *
 * One server for the whole group; every test starts from an empty dataset (FLUSHALL in the per-test
 * setup). One behaviour per test function. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"

/* The INFO slotguard field counting successful enrollments. */
#define INFO_ENROLL_COUNTER_FIELD "slotguard_enroll_enrolled"

static sg_server *server;
static redisContext *conn;

static int start_server(void **state)
{
    (void)state;
    server = sg_server_start(NULL);
    conn = sg_connect_to(server);
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    if (conn != NULL) redisFree(conn);
    conn = NULL;
    sg_server_stop(server);
    server = NULL;
    return 0;
}

static int flush_dataset(void **state)
{
    (void)state;
    sg_command_status(conn, "OK", "FLUSHALL");
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static long long enroll(const char *key, const char *user)
{
    return sg_command_integer(conn, "ENROLL %s %s", key, user);
}

static long long cancel(const char *key, const char *user)
{
    return sg_command_integer(conn, "ENROLL.CANCEL %s %s", key, user);
}

/* An integer from an integer reply or from a bulk/status reply holding a decimal integer. */
static long long reply_number(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        char *end = NULL;
        long long v = strtoll(r->str, &end, 10);
        if (r->len > 0 && end == r->str + r->len) return v;
    }
    fail_msg("expected a number, got reply type %d", r->type);
    return 0;
}

typedef struct trial_info {
    long long capacity, remaining, enrolled, waitlisted, waitlist_max, next_arrival;
} trial_info;

static long long info_pair(const redisReply *r, const char *field)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (sg_reply_is_text(r->element[i], field)) {
            assert_int_equal(r->element[i + 1]->type, REDIS_REPLY_INTEGER);
            return r->element[i + 1]->integer;
        }
    }
    fail_msg("SLOTS.INFO has no field %s", field);
    return 0;
}

static trial_info info_of(const char *key)
{
    redisReply *r = sg_command(conn, "SLOTS.INFO %s", key);
    if (r->type != REDIS_REPLY_ARRAY) {
        int type = r->type;
        freeReplyObject(r);
        fail_msg("SLOTS.INFO %s: expected an array, got reply type %d", key, type);
    }
    assert_int_equal(r->elements, 12);
    trial_info info = {
        .capacity = info_pair(r, "capacity"),
        .remaining = info_pair(r, "remaining"),
        .enrolled = info_pair(r, "enrolled"),
        .waitlisted = info_pair(r, "waitlisted"),
        .waitlist_max = info_pair(r, "waitlist_max"),
        .next_arrival = info_pair(r, "next_arrival"),
    };
    freeReplyObject(r);
    return info;
}

static void assert_info(const char *key, long long capacity, long long remaining, long long enrolled,
                        long long waitlisted, long long waitlist_max, long long next_arrival)
{
    trial_info i = info_of(key);
    assert_int_equal(i.capacity, capacity);
    assert_int_equal(i.remaining, remaining);
    assert_int_equal(i.enrolled, enrolled);
    assert_int_equal(i.waitlisted, waitlisted);
    assert_int_equal(i.waitlist_max, waitlist_max);
    assert_int_equal(i.next_arrival, next_arrival);
}

/* ENROLL.STATUS as (state, number); user given with its length (binary safe). */
static void status_of(const char *key, const char *user, size_t len, char *state, size_t state_size,
                      long long *number)
{
    redisReply *r = sg_command(conn, "ENROLL.STATUS %s %b", key, user, len);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        int type = r->type;
        freeReplyObject(r);
        fail_msg("ENROLL.STATUS: expected a two-element array, got reply type %d", type);
    }
    assert_true(r->element[0]->type == REDIS_REPLY_STRING || r->element[0]->type == REDIS_REPLY_STATUS);
    snprintf(state, state_size, "%s", r->element[0]->str);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_INTEGER);
    *number = r->element[1]->integer;
    freeReplyObject(r);
}

static void assert_status(const char *key, const char *user, const char *state, long long number)
{
    char got[32];
    long long n = -1;
    status_of(key, user, strlen(user), got, sizeof(got), &n);
    assert_string_equal(got, state);
    assert_int_equal(n, number);
}

/* One ENROLL.MEMBERS page: returns the reply (caller frees), sets *next_cursor and *users. */
static redisReply *members_page(const char *key, unsigned long long cursor, long long count,
                                int with_arrivals, unsigned long long *next_cursor,
                                const redisReply **users)
{
    redisReply *r = with_arrivals
                        ? sg_command(conn, "ENROLL.MEMBERS %s %llu COUNT %lld WITHARRIVALS", key, cursor, count)
                        : sg_command(conn, "ENROLL.MEMBERS %s %llu COUNT %lld", key, cursor, count);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        int type = r->type;
        freeReplyObject(r);
        fail_msg("ENROLL.MEMBERS: expected [cursor, users], got reply type %d", type);
    }
    assert_int_equal(r->element[0]->type, REDIS_REPLY_STRING);
    char *end = NULL;
    *next_cursor = strtoull(r->element[0]->str, &end, 10);
    assert_true(r->element[0]->len > 0 && end == r->element[0]->str + r->element[0]->len);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_ARRAY);
    *users = r->element[1];
    return r;
}

/* Every enrolled user via ENROLL.MEMBERS paging, as "user=arrival" lines in one string. */
static char *members_snapshot(const char *key)
{
    size_t cap = 4096, len = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    unsigned long long cursor = 0;
    for (int page = 0; page < 10000; page++) {
        unsigned long long next;
        const redisReply *users;
        redisReply *r = members_page(key, cursor, 100, 1, &next, &users);
        for (size_t i = 0; i + 1 < users->elements; i += 2) {
            size_t need = users->element[i]->len + 32;
            while (len + need >= cap) {
                cap *= 2;
                out = realloc(out, cap);
                assert_non_null(out);
            }
            memcpy(out + len, users->element[i]->str, users->element[i]->len);
            len += users->element[i]->len;
            len += (size_t)snprintf(out + len, cap - len, "=%lld\n", reply_number(users->element[i + 1]));
        }
        freeReplyObject(r);
        cursor = next;
        if (cursor == 0) return out;
    }
    free(out);
    fail_msg("ENROLL.MEMBERS %s did not finish within 10000 pages", key);
    return NULL;
}

/* ---- SLOTS.INIT ---------------------------------------------------------------------------- */

static void slots_init_returns_one_when_it_creates_a_trial(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(conn, "SLOTS.INIT trial 5"), 1);
    assert_info("trial", 5, 5, 0, 0, 0, 1);
}

static void slots_init_returns_zero_and_leaves_an_existing_trial_untouched(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(conn, "SLOTS.INIT trial 3"), 1);
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_int_equal(enroll("trial", "bob"), 1);
    char *before = sg_debug_digest(conn);

    assert_int_equal(sg_command_integer(conn, "SLOTS.INIT trial 10 WAITLIST 5"), 0);
    assert_int_equal(sg_command_integer(conn, "SLOTS.INIT trial 0"), 0);

    char *after = sg_debug_digest(conn);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_info("trial", 3, 1, 2, 0, 0, 3);
    assert_status("trial", "alice", "enrolled", 1);
    assert_status("trial", "bob", "enrolled", 2);
}

static void slots_init_with_waitlist_sets_the_waitlist_size(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(conn, "SLOTS.INIT trial 2 WAITLIST 7"), 1);
    assert_info("trial", 2, 2, 0, 0, 7, 1);
}

static void slots_init_accepts_capacity_zero_and_the_largest_capacity(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(conn, "SLOTS.INIT empty 0"), 1);
    assert_info("empty", 0, 0, 0, 0, 0, 1);
    assert_int_equal(enroll("empty", "alice"), 0);

    assert_int_equal(sg_command_integer(conn, "SLOTS.INIT huge 9223372036854775807 WAITLIST 9223372036854775807"), 1);
    assert_info("huge", 9223372036854775807LL, 9223372036854775807LL, 0, 0, 9223372036854775807LL, 1);
    assert_int_equal(enroll("huge", "alice"), 1);
    assert_info("huge", 9223372036854775807LL, 9223372036854775806LL, 1, 0, 9223372036854775807LL, 2);
}

static void slots_init_answers_wrongtype_for_a_string_key(void **state)
{
    (void)state;
    sg_command_status(conn, "OK", "SET trial hello");
    sg_command_error(conn, "WRONGTYPE ", "SLOTS.INIT trial 5");
    redisReply *r = sg_command(conn, "GET trial");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "hello");
    freeReplyObject(r);
}

/* ---- ENROLL -------------------------------------------------------------------------------- */

static void enroll_returns_one_for_a_new_user_while_slots_remain(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 2");
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_info("trial", 2, 1, 1, 0, 0, 2);
    assert_int_equal(enroll("trial", "bob"), 1);
    assert_info("trial", 2, 0, 2, 0, 0, 3);
}

static void enroll_returns_zero_when_the_trial_is_full(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 1");
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_int_equal(enroll("trial", "bob"), 0);
    assert_int_equal(enroll("trial", "bob"), 0);
    /* a full reply hands out no arrival number and changes nothing */
    assert_info("trial", 1, 0, 1, 0, 0, 2);
    assert_status("trial", "bob", "none", 0);
}

static void enroll_returns_minus_one_for_a_user_already_enrolled(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 5");
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_int_equal(enroll("trial", "alice"), -1);
    assert_info("trial", 5, 4, 1, 0, 0, 2);
}

static void enroll_checks_already_enrolled_before_fullness(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 1 WAITLIST 3");
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_int_equal(enroll("trial", "alice"), -1);
    sg_command_integer(conn, "SLOTS.INIT plain 1");
    assert_int_equal(enroll("plain", "alice"), 1);
    assert_int_equal(enroll("plain", "alice"), -1);
    assert_info("trial", 1, 0, 1, 0, 3, 2);
}

static void enroll_returns_two_when_full_and_the_waitlist_has_room(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 1 WAITLIST 2");
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_int_equal(enroll("trial", "bob"), 2);
    assert_int_equal(enroll("trial", "carol"), 2);
    assert_info("trial", 1, 0, 1, 2, 2, 4);
    assert_status("trial", "bob", "waitlisted", 1);
    assert_status("trial", "carol", "waitlisted", 2);
}

static void enroll_returns_minus_two_for_a_user_already_waitlisted(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 1 WAITLIST 2");
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_int_equal(enroll("trial", "bob"), 2);
    assert_int_equal(enroll("trial", "bob"), -2);
    assert_info("trial", 1, 0, 1, 1, 2, 3);
}

static void enroll_returns_zero_when_full_and_the_waitlist_is_full(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 1 WAITLIST 1");
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_int_equal(enroll("trial", "bob"), 2);
    assert_int_equal(enroll("trial", "carol"), 0);
    assert_info("trial", 1, 0, 1, 1, 1, 3);
    assert_status("trial", "carol", "none", 0);
}

static void enroll_answers_notrial_for_a_missing_key_and_creates_nothing(void **state)
{
    (void)state;
    sg_command_error(conn, "NOTRIAL ", "ENROLL nosuchtrial alice");
    assert_int_equal(sg_command_integer(conn, "EXISTS nosuchtrial"), 0);
}

static void enroll_answers_wrongtype_for_a_string_key(void **state)
{
    (void)state;
    sg_command_status(conn, "OK", "SET trial hello");
    sg_command_error(conn, "WRONGTYPE ", "ENROLL trial alice");
}

static void enroll_treats_user_ids_as_binary_safe_bytes(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 10");
    const char a[] = {'u', '\0', 'a'};
    const char b[] = {'u', '\0', 'b'};
    assert_int_equal(sg_command_integer(conn, "ENROLL trial %b", a, sizeof(a)), 1);
    assert_int_equal(sg_command_integer(conn, "ENROLL trial %b", b, sizeof(b)), 1);
    assert_int_equal(sg_command_integer(conn, "ENROLL trial %b", "u", (size_t)1), 1);
    assert_int_equal(sg_command_integer(conn, "ENROLL trial %b", a, sizeof(a)), -1);
    assert_info("trial", 10, 7, 3, 0, 0, 4);

    char state_name[32];
    long long n;
    status_of("trial", b, sizeof(b), state_name, sizeof(state_name), &n);
    assert_string_equal(state_name, "enrolled");
    assert_int_equal(n, 2);

    unsigned long long next;
    const redisReply *users;
    redisReply *r = members_page("trial", 0, 10, 0, &next, &users);
    assert_int_equal(users->elements, 3);
    assert_int_equal(users->element[0]->len, sizeof(a));
    assert_memory_equal(users->element[0]->str, a, sizeof(a));
    assert_int_equal(users->element[1]->len, sizeof(b));
    assert_memory_equal(users->element[1]->str, b, sizeof(b));
    assert_int_equal(users->element[2]->len, 1);
    freeReplyObject(r);
}

static void enroll_accepts_a_512_byte_user_id(void **state)
{
    (void)state;
    char user[512];
    memset(user, 'x', sizeof(user));
    user[0] = '\0';
    user[511] = '\xff';
    sg_command_integer(conn, "SLOTS.INIT trial 2");
    assert_int_equal(sg_command_integer(conn, "ENROLL trial %b", user, sizeof(user)), 1);
    assert_int_equal(sg_command_integer(conn, "ENROLL trial %b", user, sizeof(user)), -1);
    unsigned long long next;
    const redisReply *users;
    redisReply *r = members_page("trial", 0, 10, 0, &next, &users);
    assert_int_equal(users->elements, 1);
    assert_int_equal(users->element[0]->len, sizeof(user));
    assert_memory_equal(users->element[0]->str, user, sizeof(user));
    freeReplyObject(r);
}

static void enroll_rejects_a_513_byte_user_id(void **state)
{
    (void)state;
    char user[513];
    memset(user, 'x', sizeof(user));
    sg_command_integer(conn, "SLOTS.INIT trial 2");
    sg_command_error(conn, "ERR invalid user", "ENROLL trial %b", user, sizeof(user));
    assert_info("trial", 2, 2, 0, 0, 0, 1);
}

static void enroll_rejects_an_empty_user_id(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 2");
    sg_command_error(conn, "ERR invalid user", "ENROLL trial %b", "", (size_t)0);
    assert_info("trial", 2, 2, 0, 0, 0, 1);
}

static void enroll_hands_out_arrival_numbers_from_one_to_enrolled_and_waitlisted_users(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 2 WAITLIST 1");
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_int_equal(enroll("trial", "alice"), -1);
    assert_int_equal(enroll("trial", "bob"), 1);
    assert_int_equal(enroll("trial", "carol"), 2);
    assert_int_equal(enroll("trial", "dave"), 0);
    assert_int_equal(enroll("trial", "carol"), -2);
    assert_info("trial", 2, 0, 2, 1, 1, 4);
    assert_status("trial", "alice", "enrolled", 1);
    assert_status("trial", "bob", "enrolled", 2);
    assert_status("trial", "carol", "waitlisted", 1);
}

/* ---- ENROLL.CANCEL ------------------------------------------------------------------------- */

static void enroll_cancel_returns_one_and_gives_the_slot_back(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 1");
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_int_equal(enroll("trial", "bob"), 0);
    assert_int_equal(cancel("trial", "alice"), 1);
    assert_info("trial", 1, 1, 0, 0, 0, 2);
    assert_status("trial", "alice", "none", 0);
    assert_int_equal(enroll("trial", "bob"), 1);
    assert_status("trial", "bob", "enrolled", 2);
}

static void enroll_cancel_returns_zero_for_a_user_not_enrolled(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 2");
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_int_equal(cancel("trial", "bob"), 0);
    assert_int_equal(cancel("trial", "alice"), 1);
    assert_int_equal(cancel("trial", "alice"), 0);
    assert_info("trial", 2, 2, 0, 0, 0, 2);
}

static void enroll_cancel_promotes_the_waitlist_head_in_the_same_step(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 1 WAITLIST 3");
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_int_equal(enroll("trial", "bob"), 2);
    assert_int_equal(enroll("trial", "carol"), 2);
    assert_int_equal(cancel("trial", "alice"), 1);
    assert_info("trial", 1, 0, 1, 1, 3, 4);
    /* the promoted user keeps the arrival number it got when it was waitlisted */
    assert_status("trial", "bob", "enrolled", 2);
    assert_status("trial", "carol", "waitlisted", 1);
    assert_int_equal(enroll("trial", "bob"), -1);
}

static void enroll_cancel_removes_a_waitlisted_user_and_returns_zero(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 1 WAITLIST 3");
    assert_int_equal(enroll("trial", "alice"), 1);
    assert_int_equal(enroll("trial", "bob"), 2);
    assert_int_equal(enroll("trial", "carol"), 2);
    assert_int_equal(cancel("trial", "bob"), 0);
    assert_info("trial", 1, 0, 1, 1, 3, 4);
    assert_status("trial", "bob", "none", 0);
    assert_status("trial", "carol", "waitlisted", 1);
    assert_int_equal(cancel("trial", "bob"), 0);
}

static void enroll_cancel_does_not_promote_while_the_trial_is_over_capacity(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 3 WAITLIST 2");
    assert_int_equal(enroll("trial", "a"), 1);
    assert_int_equal(enroll("trial", "b"), 1);
    assert_int_equal(enroll("trial", "c"), 1);
    assert_int_equal(enroll("trial", "w"), 2);
    assert_int_equal(sg_command_integer(conn, "SLOTS.RESIZE trial 2"), 0);
    assert_int_equal(cancel("trial", "a"), 1);
    assert_status("trial", "w", "waitlisted", 1);
    assert_info("trial", 2, 0, 2, 1, 2, 5);
    assert_int_equal(cancel("trial", "b"), 1);
    assert_status("trial", "w", "enrolled", 4);
    assert_info("trial", 2, 0, 2, 0, 2, 5);
}

static void enroll_cancel_answers_notrial_for_a_missing_key(void **state)
{
    (void)state;
    sg_command_error(conn, "NOTRIAL ", "ENROLL.CANCEL nosuchtrial alice");
    assert_int_equal(sg_command_integer(conn, "EXISTS nosuchtrial"), 0);
}

/* ---- ENROLL.STATUS ------------------------------------------------------------------------- */

static void enroll_status_reports_enrolled_with_the_arrival_number(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 5");
    enroll("trial", "alice");
    enroll("trial", "bob");
    enroll("trial", "carol");
    assert_int_equal(cancel("trial", "alice"), 1);
    assert_status("trial", "bob", "enrolled", 2);
    assert_status("trial", "carol", "enrolled", 3);
}

static void enroll_status_reports_waitlisted_with_the_position(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 1 WAITLIST 5");
    enroll("trial", "alice");
    assert_int_equal(enroll("trial", "w1"), 2);
    assert_int_equal(enroll("trial", "w2"), 2);
    assert_int_equal(enroll("trial", "w3"), 2);
    assert_status("trial", "w3", "waitlisted", 3);
    assert_int_equal(cancel("trial", "w1"), 0);
    assert_status("trial", "w2", "waitlisted", 1);
    assert_status("trial", "w3", "waitlisted", 2);
}

static void enroll_status_reports_none_and_zero_for_an_unknown_user(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 5");
    assert_status("trial", "stranger", "none", 0);
}

static void enroll_status_answers_notrial_for_a_missing_key(void **state)
{
    (void)state;
    sg_command_error(conn, "NOTRIAL ", "ENROLL.STATUS nosuchtrial alice");
}

/* ---- SLOTS.INFO ---------------------------------------------------------------------------- */

static void slots_info_reports_the_six_fields_as_integers(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 2 WAITLIST 4");
    enroll("trial", "a");
    enroll("trial", "b");
    enroll("trial", "c");
    /* info_of() demands exactly six field/value pairs with integer values */
    assert_info("trial", 2, 0, 2, 1, 4, 4);
}

static void slots_info_returns_nil_for_a_missing_key(void **state)
{
    (void)state;
    sg_command_nil(conn, "SLOTS.INFO nosuchtrial");
}

static void slots_info_answers_wrongtype_for_a_string_key(void **state)
{
    (void)state;
    sg_command_status(conn, "OK", "SET trial hello");
    sg_command_error(conn, "WRONGTYPE ", "SLOTS.INFO trial");
}

/* ---- SLOTS.RESIZE -------------------------------------------------------------------------- */

static void slots_resize_returns_zero_when_no_one_is_promoted(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 2");
    enroll("trial", "a");
    assert_int_equal(sg_command_integer(conn, "SLOTS.RESIZE trial 10"), 0);
    assert_info("trial", 10, 9, 1, 0, 0, 2);
}

static void slots_resize_lowering_below_enrolled_never_drops_users(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 5");
    const char *users[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) assert_int_equal(enroll("trial", users[i]), 1);
    assert_int_equal(sg_command_integer(conn, "SLOTS.RESIZE trial 2"), 0);
    assert_info("trial", 2, 0, 5, 0, 0, 6);
    for (int i = 0; i < 5; i++) assert_status("trial", users[i], "enrolled", i + 1);
    assert_int_equal(enroll("trial", "f"), 0);
    assert_int_equal(cancel("trial", "a"), 1);
    assert_int_equal(cancel("trial", "b"), 1);
    assert_int_equal(cancel("trial", "c"), 1);
    assert_info("trial", 2, 0, 2, 0, 0, 6);
    assert_int_equal(enroll("trial", "f"), 0);
    assert_int_equal(cancel("trial", "d"), 1);
    assert_info("trial", 2, 1, 1, 0, 0, 6);
    assert_int_equal(enroll("trial", "f"), 1);
}

static void slots_resize_raising_promotes_waitlisted_users_in_fifo_order(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 1 WAITLIST 5");
    enroll("trial", "a");
    assert_int_equal(enroll("trial", "w1"), 2);
    assert_int_equal(enroll("trial", "w2"), 2);
    assert_int_equal(enroll("trial", "w3"), 2);
    assert_int_equal(sg_command_integer(conn, "SLOTS.RESIZE trial 3"), 2);
    assert_status("trial", "w1", "enrolled", 2);
    assert_status("trial", "w2", "enrolled", 3);
    assert_status("trial", "w3", "waitlisted", 1);
    assert_info("trial", 3, 0, 3, 1, 5, 5);
    assert_int_equal(sg_command_integer(conn, "SLOTS.RESIZE trial 100"), 1);
    assert_status("trial", "w3", "enrolled", 4);
    assert_info("trial", 100, 96, 4, 0, 5, 5);
}

static void slots_resize_answers_notrial_for_a_missing_key(void **state)
{
    (void)state;
    sg_command_error(conn, "NOTRIAL ", "SLOTS.RESIZE nosuchtrial 5");
    assert_int_equal(sg_command_integer(conn, "EXISTS nosuchtrial"), 0);
}

/* ---- ENROLL.MEMBERS ------------------------------------------------------------------------ */

static void enroll_members_pages_through_all_users_in_arrival_order(void **state)
{
    (void)state;
    enum { USERS = 25, COUNT = 7 };
    sg_command_integer(conn, "SLOTS.INIT trial 100");
    char name[32];
    for (int i = 0; i < USERS; i++) {
        snprintf(name, sizeof(name), "user-%02d", i);
        assert_int_equal(enroll("trial", name), 1);
    }
    int seen = 0, pages = 0;
    unsigned long long cursor = 0;
    do {
        unsigned long long next;
        const redisReply *users;
        redisReply *r = members_page("trial", cursor, COUNT, 0, &next, &users);
        assert_true(users->elements <= COUNT);
        for (size_t i = 0; i < users->elements; i++) {
            snprintf(name, sizeof(name), "user-%02d", seen);
            assert_true(seen < USERS);
            assert_true(sg_reply_is_text(users->element[i], name));
            seen++;
        }
        freeReplyObject(r);
        cursor = next;
        pages++;
        assert_true(pages <= USERS + 1);
    } while (cursor != 0);
    assert_int_equal(seen, USERS);
    assert_true(pages >= (USERS + COUNT - 1) / COUNT);
}

static void enroll_members_count_defaults_to_ten(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 100");
    char name[32];
    for (int i = 0; i < 15; i++) {
        snprintf(name, sizeof(name), "user-%02d", i);
        enroll("trial", name);
    }
    redisReply *r = sg_command(conn, "ENROLL.MEMBERS trial 0");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[1]->elements, 10);
    assert_false(sg_reply_is_text(r->element[0], "0"));
    freeReplyObject(r);
}

static void enroll_members_witharrivals_alternates_users_and_arrival_numbers(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 2 WAITLIST 2");
    enroll("trial", "a");
    enroll("trial", "b");
    enroll("trial", "w");
    cancel("trial", "a"); /* w (arrival 3) is promoted */
    enroll("trial", "x"); /* waitlisted, not a member */
    unsigned long long next;
    const redisReply *users;
    redisReply *r = members_page("trial", 0, 10, 1, &next, &users);
    assert_int_equal(next, 0);
    assert_int_equal(users->elements, 4);
    assert_true(sg_reply_is_text(users->element[0], "b"));
    assert_int_equal(reply_number(users->element[1]), 2);
    assert_true(sg_reply_is_text(users->element[2], "w"));
    assert_int_equal(reply_number(users->element[3]), 3);
    freeReplyObject(r);
}

static void enroll_members_returns_each_steady_user_exactly_once_while_the_trial_changes(void **state)
{
    (void)state;
    enum { USERS = 40, EARLY_CANCELLED = 5, MAX_PAGES = 200 };
    sg_command_integer(conn, "SLOTS.INIT trial 1000");
    char name[32];
    for (int i = 0; i < USERS; i++) {
        snprintf(name, sizeof(name), "u%d", i);
        assert_int_equal(enroll("trial", name), 1);
    }
    for (int i = 0; i < EARLY_CANCELLED; i++) {
        snprintf(name, sizeof(name), "u%d", i);
        assert_int_equal(cancel("trial", name), 1);
    }
    /* steady: enrolled before the export and never cancelled during it */
    int steady[USERS] = {0};
    int seen_u[USERS] = {0};
    int seen_new[MAX_PAGES] = {0};
    for (int i = EARLY_CANCELLED; i < USERS; i++) steady[i] = 1;

    unsigned long long cursor = 0;
    long long last_arrival = 0;
    int page = 0;
    do {
        unsigned long long next;
        const redisReply *users;
        redisReply *r = members_page("trial", cursor, 4, 1, &next, &users);
        assert_int_equal(users->elements % 2, 0);
        for (size_t i = 0; i < users->elements; i += 2) {
            const redisReply *u = users->element[i];
            long long arrival = reply_number(users->element[i + 1]);
            assert_true(arrival > last_arrival);
            last_arrival = arrival;
            char buf[32];
            assert_true(u->len < sizeof(buf));
            memcpy(buf, u->str, u->len);
            buf[u->len] = '\0';
            int idx;
            if (sscanf(buf, "u%d", &idx) == 1) {
                assert_true(idx >= EARLY_CANCELLED && idx < USERS);
                seen_u[idx]++;
                assert_true(seen_u[idx] == 1);
            } else {
                assert_int_equal(sscanf(buf, "n%d", &idx), 1);
                assert_true(idx >= 0 && idx < MAX_PAGES);
                seen_new[idx]++;
                assert_true(seen_new[idx] == 1);
            }
        }
        freeReplyObject(r);
        /* between pages: one user from the back cancels, one new user enrolls */
        int victim = USERS - 1 - page;
        if (victim > USERS / 2) {
            snprintf(name, sizeof(name), "u%d", victim);
            assert_int_equal(cancel("trial", name), 1);
            steady[victim] = 0;
        }
        snprintf(name, sizeof(name), "n%d", page);
        assert_int_equal(enroll("trial", name), 1);
        cursor = next;
        page++;
        assert_true(page < MAX_PAGES);
    } while (cursor != 0);
    for (int i = 0; i < USERS; i++) {
        if (steady[i]) {
            if (seen_u[i] != 1) fail_msg("steady user u%d returned %d times", i, seen_u[i]);
        }
    }
}

static void enroll_members_answers_notrial_for_a_missing_key(void **state)
{
    (void)state;
    sg_command_error(conn, "NOTRIAL ", "ENROLL.MEMBERS nosuchtrial 0");
}

/* ---- SLOTS.RESTORE ------------------------------------------------------------------------- */

static void slots_restore_rebuilds_a_trial_with_the_given_arrival_numbers(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 2 WAITLIST 5");
    /* one list per call; users are appended to the named list */
    sg_command_status(conn, "OK", "SLOTS.RESTORE trial 50 ENROLLED 3 alice 7 bob");
    sg_command_status(conn, "OK", "SLOTS.RESTORE trial 100 WAITLISTED 9 carol");
    sg_command_status(conn, "OK", "SLOTS.RESTORE trial 100 WAITLISTED 12 dave");
    assert_info("trial", 2, 0, 2, 2, 5, 100);
    assert_status("trial", "alice", "enrolled", 3);
    assert_status("trial", "bob", "enrolled", 7);
    assert_status("trial", "carol", "waitlisted", 1);
    assert_status("trial", "dave", "waitlisted", 2);
    assert_int_equal(enroll("trial", "alice"), -1);
    assert_int_equal(enroll("trial", "carol"), -2);
    assert_int_equal(enroll("trial", "erin"), 2);
    assert_int_equal(cancel("trial", "alice"), 1);
    assert_status("trial", "carol", "enrolled", 9);
    char *members = members_snapshot("trial");
    assert_string_equal(members, "bob=7\ncarol=9\n");
    free(members);
    assert_info("trial", 2, 0, 2, 2, 5, 101);
    assert_int_equal(sg_command_integer(conn, "SLOTS.RESIZE trial 4"), 2);
    members = members_snapshot("trial");
    assert_string_equal(members, "bob=7\ncarol=9\ndave=12\nerin=100\n");
    free(members);
}

static void slots_restore_changes_nothing_when_one_pair_is_bad(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 5 WAITLIST 5");
    enroll("trial", "first");
    char *before = sg_debug_digest(conn);
    char *members_before = members_snapshot("trial");
    sg_command_error(conn, "ERR invalid arrival", "SLOTS.RESTORE trial 100 ENROLLED 3 alice 2 bob");
    sg_command_error(conn, "ERR duplicate user", "SLOTS.RESTORE trial 100 ENROLLED 3 alice 4 alice");
    sg_command_error(conn, "ERR duplicate user", "SLOTS.RESTORE trial 100 WAITLISTED 3 alice 4 first");
    sg_command_error(conn, "ERR invalid user", "SLOTS.RESTORE trial 100 ENROLLED 3 alice 4 %b", "", (size_t)0);
    sg_command_error(conn, "ERR syntax error", "SLOTS.RESTORE trial 100 ENROLLED 3 alice 4");
    sg_command_error(conn, "ERR ", "SLOTS.RESTORE trial 100 ENROLLED 3 alice 4 bob WAITLISTED 5 carol");
    sg_command_error(conn, "ERR ", "SLOTS.RESTORE trial 100 ENROLLED 3 alice x bob");
    char *after = sg_debug_digest(conn);
    char *members_after = members_snapshot("trial");
    assert_string_equal(before, after);
    assert_string_equal(members_before, members_after);
    free(before);
    free(after);
    free(members_before);
    free(members_after);
    assert_info("trial", 5, 4, 1, 0, 5, 2);
    assert_status("trial", "alice", "none", 0);
}

static void slots_restore_answers_notrial_for_a_missing_key(void **state)
{
    (void)state;
    sg_command_error(conn, "NOTRIAL ", "SLOTS.RESTORE nosuchtrial 10 ENROLLED 1 alice");
    assert_int_equal(sg_command_integer(conn, "EXISTS nosuchtrial"), 0);
}

/* ---- COMMAND DOCS, COMMAND INFO, INFO ------------------------------------------------------ */

typedef struct command_spec {
    const char *name;
    int write;   /* else readonly */
    int denyoom;
    int fast;
} command_spec;

static const command_spec commands[] = {
    {"slots.init", 1, 1, 1},     {"enroll", 1, 1, 1},       {"enroll.cancel", 1, 0, 1},
    {"enroll.status", 0, 0, 1},  {"slots.info", 0, 0, 1},   {"slots.resize", 1, 1, 0},
    {"enroll.members", 0, 0, 0}, {"slots.restore", 1, 1, 0},
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static int has_flag(const redisReply *flags, const char *flag)
{
    for (size_t i = 0; i < flags->elements; i++) {
        if (sg_reply_is_text(flags->element[i], flag)) return 1;
    }
    return 0;
}

static void command_info_describes_every_command_with_key_position_one(void **state)
{
    (void)state;
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const command_spec *spec = &commands[i];
        redisReply *r = sg_command(conn, "COMMAND INFO %s", spec->name);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(r->elements, 1);
        const redisReply *e = r->element[0];
        if (e->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            fail_msg("COMMAND INFO has no entry for %s", spec->name);
        }
        assert_true(e->elements >= 6);
        assert_true(sg_reply_is_text(e->element[0], spec->name));
        const redisReply *flags = e->element[2];
        assert_int_equal(flags->type, REDIS_REPLY_ARRAY);
        if (has_flag(flags, "write") != spec->write || has_flag(flags, "readonly") == spec->write ||
            has_flag(flags, "denyoom") != spec->denyoom || has_flag(flags, "fast") != spec->fast) {
            freeReplyObject(r);
            fail_msg("COMMAND INFO %s: flags differ from README (write=%d denyoom=%d fast=%d)", spec->name,
                     spec->write, spec->denyoom, spec->fast);
        }
        assert_int_equal(e->element[3]->integer, 1); /* first key */
        assert_int_equal(e->element[4]->integer, 1); /* last key */
        assert_int_equal(e->element[5]->integer, 1); /* step */
        freeReplyObject(r);
    }
}

/* The value of `field` in a RESP2 flat map (array of field, value), or NULL. */
static const redisReply *map_get(const redisReply *map, const char *field)
{
    if (map->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < map->elements; i += 2) {
        if (sg_reply_is_text(map->element[i], field)) return map->element[i + 1];
    }
    return NULL;
}

static void command_docs_describe_every_command(void **state)
{
    (void)state;
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const char *name = commands[i].name;
        redisReply *r = sg_command(conn, "COMMAND DOCS %s", name);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        const redisReply *doc = map_get(r, name);
        const redisReply *summary = doc != NULL ? map_get(doc, "summary") : NULL;
        const redisReply *complexity = doc != NULL ? map_get(doc, "complexity") : NULL;
        const redisReply *arguments = doc != NULL ? map_get(doc, "arguments") : NULL;
        int ok = summary != NULL && summary->len > 0 && complexity != NULL && complexity->len > 0 &&
                 arguments != NULL && arguments->type == REDIS_REPLY_ARRAY && arguments->elements > 0;
        freeReplyObject(r);
        if (!ok) fail_msg("COMMAND DOCS %s lacks a summary, complexity or arguments", name);
    }
}

/* The "slotguard_" lines of INFO slotguard: names and, per line, the sum of the integers in the value
 * (so both "slotguard_x:5" and "slotguard_x:a=1,b=4" are counters). */
#define MAX_INFO_FIELDS 64
typedef struct info_counters {
    int count;
    char name[MAX_INFO_FIELDS][64];
    long long value[MAX_INFO_FIELDS];
} info_counters;

static void read_counters(info_counters *out)
{
    memset(out, 0, sizeof(*out));
    redisReply *r = sg_command(conn, "INFO slotguard");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    const char *p = r->str;
    while (p != NULL && *p != '\0' && out->count < MAX_INFO_FIELDS) {
        if (strncmp(p, "slotguard_", 10) == 0) {
            size_t name_len = strcspn(p, ":\r\n");
            if (p[name_len] == ':' && name_len < sizeof(out->name[0])) {
                memcpy(out->name[out->count], p, name_len);
                long long sum = 0;
                const char *v = p + name_len + 1;
                while (*v != '\0' && *v != '\r' && *v != '\n') {
                    if (*v >= '0' && *v <= '9') {
                        char *end;
                        sum += strtoll(v, &end, 10);
                        v = end;
                    } else {
                        v++;
                    }
                }
                out->value[out->count++] = sum;
            }
        }
        p = strchr(p, '\n');
        if (p != NULL) p++;
    }
    freeReplyObject(r);
}

static void info_slotguard_counters_increase_after_an_enroll(void **state)
{
    (void)state;
    sg_command_integer(conn, "SLOTS.INIT trial 5");
    info_counters before, after;
    read_counters(&before);
    if (before.count == 0) fail_msg("INFO slotguard has no slotguard_ fields");
    assert_int_equal(enroll("trial", "alice"), 1);
    read_counters(&after);
    int grew = 0;
    for (int i = 0; i < after.count; i++) {
        for (int j = 0; j < before.count; j++) {
            if (strcmp(after.name[i], before.name[j]) != 0) continue;
            if (strcmp(after.name[i], INFO_ENROLL_COUNTER_FIELD) == 0) {
                assert_int_equal(after.value[i], before.value[j] + 1);
                grew = 1;
            }
        }
    }
    if (!grew) fail_msg("INFO slotguard has no %s counter", INFO_ENROLL_COUNTER_FIELD);
}

/* ---- bad input ----------------------------------------------------------------------------- */

#define LONG_USER "@513" /* replaced by a 513-byte user id */

typedef struct bad_case {
    const char *expect; /* error prefix */
    const char *argv[12];
} bad_case;

static const bad_case bad_cases[] = {
    /* wrong arity */
    {"ERR wrong number of arguments", {"SLOTS.INIT"}},
    {"ERR wrong number of arguments", {"SLOTS.INIT", "bad:missing"}},
    {"ERR wrong number of arguments", {"ENROLL"}},
    {"ERR wrong number of arguments", {"ENROLL", "bad:trial"}},
    {"ERR wrong number of arguments", {"ENROLL", "bad:trial", "x", "y"}},
    {"ERR wrong number of arguments", {"ENROLL.CANCEL", "bad:trial"}},
    {"ERR wrong number of arguments", {"ENROLL.CANCEL", "bad:trial", "a", "b"}},
    {"ERR wrong number of arguments", {"ENROLL.STATUS", "bad:trial"}},
    {"ERR wrong number of arguments", {"ENROLL.STATUS", "bad:trial", "a", "b"}},
    {"ERR wrong number of arguments", {"SLOTS.INFO"}},
    {"ERR wrong number of arguments", {"SLOTS.INFO", "bad:trial", "extra"}},
    {"ERR wrong number of arguments", {"SLOTS.RESIZE", "bad:trial"}},
    {"ERR wrong number of arguments", {"SLOTS.RESIZE", "bad:trial", "5", "6"}},
    {"ERR wrong number of arguments", {"ENROLL.MEMBERS", "bad:trial"}},
    {"ERR wrong number of arguments", {"SLOTS.RESTORE", "bad:trial"}},
    {"ERR ", {"SLOTS.INIT", "bad:missing", "5", "WAITLIST"}},
    {"ERR syntax error", {"SLOTS.INIT", "bad:missing", "5", "WAITLIST", "3", "extra"}},
    {"ERR syntax error", {"SLOTS.INIT", "bad:missing", "5", "6"}},
    {"ERR ", {"ENROLL.MEMBERS", "bad:trial", "0", "COUNT"}},
    /* not numbers */
    {"ERR invalid capacity", {"SLOTS.INIT", "bad:missing", "abc"}},
    {"ERR invalid capacity", {"SLOTS.INIT", "bad:missing", "1.5"}},
    {"ERR invalid capacity", {"SLOTS.INIT", "bad:missing", "5x"}},
    {"ERR invalid capacity", {"SLOTS.INIT", "bad:missing", " 5"}},
    {"ERR invalid capacity", {"SLOTS.INIT", "bad:missing", ""}},
    {"ERR invalid waitlist size", {"SLOTS.INIT", "bad:missing", "5", "WAITLIST", "abc"}},
    {"ERR invalid capacity", {"SLOTS.RESIZE", "bad:trial", "abc"}},
    {"ERR invalid capacity", {"SLOTS.RESIZE", "bad:trial", "2.0"}},
    {"ERR invalid cursor", {"ENROLL.MEMBERS", "bad:trial", "abc"}},
    {"ERR invalid count", {"ENROLL.MEMBERS", "bad:trial", "0", "COUNT", "abc"}},
    {"ERR ", {"SLOTS.RESTORE", "bad:trial", "abc"}},
    {"ERR ", {"SLOTS.RESTORE", "bad:trial", "100", "ENROLLED", "abc", "x"}},
    /* negative */
    {"ERR invalid capacity", {"SLOTS.INIT", "bad:missing", "-1"}},
    {"ERR invalid waitlist size", {"SLOTS.INIT", "bad:missing", "5", "WAITLIST", "-1"}},
    {"ERR invalid capacity", {"SLOTS.RESIZE", "bad:trial", "-1"}},
    {"ERR invalid cursor", {"ENROLL.MEMBERS", "bad:trial", "-1"}},
    {"ERR invalid count", {"ENROLL.MEMBERS", "bad:trial", "0", "COUNT", "-1"}},
    {"ERR ", {"SLOTS.RESTORE", "bad:trial", "-5"}},
    {"ERR invalid arrival", {"SLOTS.RESTORE", "bad:trial", "100", "ENROLLED", "-1", "x"}},
    /* overflowing */
    {"ERR invalid capacity", {"SLOTS.INIT", "bad:missing", "9223372036854775808"}},
    {"ERR invalid capacity", {"SLOTS.INIT", "bad:missing", "99999999999999999999"}},
    {"ERR invalid waitlist size", {"SLOTS.INIT", "bad:missing", "5", "WAITLIST", "9223372036854775808"}},
    {"ERR invalid capacity", {"SLOTS.RESIZE", "bad:trial", "9223372036854775808"}},
    {"ERR invalid capacity", {"SLOTS.RESIZE", "bad:trial", "99999999999999999999"}},
    {"ERR invalid cursor", {"ENROLL.MEMBERS", "bad:trial", "99999999999999999999"}},
    {"ERR invalid count", {"ENROLL.MEMBERS", "bad:trial", "0", "COUNT", "9223372036854775808"}},
    {"ERR ", {"SLOTS.RESTORE", "bad:trial", "99999999999999999999"}},
    {"ERR invalid arrival", {"SLOTS.RESTORE", "bad:trial", "100", "ENROLLED", "99999999999999999999", "x"}},
    /* zero where not allowed */
    {"ERR invalid count", {"ENROLL.MEMBERS", "bad:trial", "0", "COUNT", "0"}},
    {"ERR invalid arrival", {"SLOTS.RESTORE", "bad:trial", "100", "ENROLLED", "0", "x"}},
    /* empty and over-long users */
    {"ERR invalid user", {"ENROLL", "bad:trial", ""}},
    {"ERR invalid user", {"ENROLL.CANCEL", "bad:trial", ""}},
    {"ERR invalid user", {"ENROLL.STATUS", "bad:trial", ""}},
    {"ERR invalid user", {"SLOTS.RESTORE", "bad:trial", "100", "ENROLLED", "50", ""}},
    {"ERR invalid user", {"ENROLL", "bad:trial", LONG_USER}},
    {"ERR invalid user", {"ENROLL.CANCEL", "bad:trial", LONG_USER}},
    {"ERR invalid user", {"ENROLL.STATUS", "bad:trial", LONG_USER}},
    {"ERR invalid user", {"SLOTS.RESTORE", "bad:trial", "100", "ENROLLED", "50", LONG_USER}},
    /* a user already in the trial */
    {"ERR duplicate user", {"SLOTS.RESTORE", "bad:trial", "100", "ENROLLED", "50", "a"}},
    {"ERR duplicate user", {"SLOTS.RESTORE", "bad:trial", "100", "WAITLISTED", "50", "c"}},
    /* unknown options */
    {"ERR syntax error", {"SLOTS.INIT", "bad:missing", "5", "FOO", "3"}},
    {"ERR syntax error", {"ENROLL.MEMBERS", "bad:trial", "0", "FOO"}},
    {"ERR syntax error", {"ENROLL.MEMBERS", "bad:trial", "0", "COUNT", "5", "FOO"}},
    {"ERR syntax error", {"SLOTS.RESTORE", "bad:trial", "100", "FOO", "50", "x"}},
    {"ERR syntax error", {"SLOTS.RESTORE", "bad:trial", "100", "ENROLLED", "50"}},
    /* missing keys */
    {"NOTRIAL ", {"ENROLL", "bad:missing", "x"}},
    {"NOTRIAL ", {"ENROLL.CANCEL", "bad:missing", "x"}},
    {"NOTRIAL ", {"ENROLL.STATUS", "bad:missing", "x"}},
    {"NOTRIAL ", {"SLOTS.RESIZE", "bad:missing", "5"}},
    {"NOTRIAL ", {"ENROLL.MEMBERS", "bad:missing", "0"}},
    {"NOTRIAL ", {"SLOTS.RESTORE", "bad:missing", "100", "ENROLLED", "50", "x"}},
    /* wrong key types */
    {"WRONGTYPE ", {"SLOTS.INIT", "bad:string", "5"}},
    {"WRONGTYPE ", {"ENROLL", "bad:string", "x"}},
    {"WRONGTYPE ", {"ENROLL.CANCEL", "bad:string", "x"}},
    {"WRONGTYPE ", {"ENROLL.STATUS", "bad:string", "x"}},
    {"WRONGTYPE ", {"SLOTS.INFO", "bad:string"}},
    {"WRONGTYPE ", {"SLOTS.RESIZE", "bad:string", "5"}},
    {"WRONGTYPE ", {"ENROLL.MEMBERS", "bad:string", "0"}},
    {"WRONGTYPE ", {"SLOTS.RESTORE", "bad:string", "100", "ENROLLED", "50", "x"}},
    {"WRONGTYPE ", {"ENROLL", "bad:list", "x"}},
    {"WRONGTYPE ", {"SLOTS.INFO", "bad:list"}},
};

/* bad:trial (capacity 2, waitlist 2; a and b enrolled, c waitlisted), bad:string, bad:list. */
static void make_bad_input_fixture(void)
{
    sg_command_integer(conn, "SLOTS.INIT bad:trial 2 WAITLIST 2");
    assert_int_equal(enroll("bad:trial", "a"), 1);
    assert_int_equal(enroll("bad:trial", "b"), 1);
    assert_int_equal(enroll("bad:trial", "c"), 2);
    sg_command_status(conn, "OK", "SET bad:string hello");
    sg_command_integer(conn, "RPUSH bad:list x");
}

/* A text picture of the fixture trial that does not rely on the module's digest callback. */
static char *fixture_picture(void)
{
    trial_info i = info_of("bad:trial");
    char *members = members_snapshot("bad:trial");
    char state_name[32];
    long long position;
    status_of("bad:trial", "c", 1, state_name, sizeof(state_name), &position);
    size_t size = strlen(members) + 256;
    char *out = malloc(size);
    assert_non_null(out);
    snprintf(out, size, "%lld %lld %lld %lld %lld %lld | %s | c=%s:%lld | keys=%lld", i.capacity, i.remaining,
             i.enrolled, i.waitlisted, i.waitlist_max, i.next_arrival, members, state_name, position,
             sg_command_integer(conn, "DBSIZE"));
    free(members);
    return out;
}

static int starts_with_code(const char *s)
{
    return strncmp(s, "ERR ", 4) == 0 || strncmp(s, "WRONGTYPE ", 10) == 0 || strncmp(s, "NOTRIAL ", 8) == 0;
}

static void bad_input_is_rejected_with_a_coded_error_and_changes_nothing(void **state)
{
    (void)state;
    make_bad_input_fixture();
    char long_user[513];
    memset(long_user, 'u', sizeof(long_user));
    char *digest = sg_debug_digest(conn);
    char *picture = fixture_picture();

    size_t report_size = 16384, report_len = 0;
    char *report = calloc(1, report_size);
    assert_non_null(report);
    int failures = 0;
    for (size_t k = 0; k < sizeof(bad_cases) / sizeof(bad_cases[0]); k++) {
        const bad_case *bc = &bad_cases[k];
        const char *argv[12];
        size_t argvlen[12];
        int argc = 0;
        char shown[256] = "";
        size_t shown_len = 0;
        for (; argc < 12 && bc->argv[argc] != NULL; argc++) {
            int is_long = strcmp(bc->argv[argc], LONG_USER) == 0;
            argv[argc] = is_long ? long_user : bc->argv[argc];
            argvlen[argc] = is_long ? sizeof(long_user) : strlen(bc->argv[argc]);
            shown_len += (size_t)snprintf(shown + shown_len, sizeof(shown) - shown_len, "%s\"%s\"",
                                          argc ? " " : "", is_long ? "<513 bytes>" : bc->argv[argc]);
            if (shown_len >= sizeof(shown)) shown_len = sizeof(shown) - 1;
        }
        redisReply *r = sg_command_args(conn, argc, argv, argvlen);
        char problem[300] = "";
        if (r->type == REDIS_REPLY_INTEGER) {
            snprintf(problem, sizeof(problem), "not an error: integer %lld", r->integer);
        } else if (r->type != REDIS_REPLY_ERROR) {
            snprintf(problem, sizeof(problem), "not an error: reply type %d", r->type);
        } else if (!starts_with_code(r->str)) {
            snprintf(problem, sizeof(problem), "error without a code: \"%.200s\"", r->str);
        } else if (strncmp(r->str, bc->expect, strlen(bc->expect)) != 0) {
            snprintf(problem, sizeof(problem), "expected \"%s...\", got \"%.200s\"", bc->expect, r->str);
        }
        freeReplyObject(r);
        if (problem[0] == '\0') {
            char *digest_now = sg_debug_digest(conn);
            char *picture_now = fixture_picture();
            if (strcmp(digest, digest_now) != 0 || strcmp(picture, picture_now) != 0) {
                snprintf(problem, sizeof(problem), "the dataset changed: %.200s", picture_now);
            }
            free(digest_now);
            free(picture_now);
        }
        if (problem[0] != '\0') {
            failures++;
            if (report_len < report_size - 1) {
                report_len += (size_t)snprintf(report + report_len, report_size - report_len, "  [%zu] %s: %s\n", k,
                                               shown, problem);
                if (report_len > report_size - 1) report_len = report_size - 1;
            }
            /* rebuild the fixture so one bad case cannot hide or cause another */
            sg_command_status(conn, "OK", "FLUSHALL");
            make_bad_input_fixture();
        }
    }
    free(digest);
    free(picture);
    if (failures > 0) {
        fprintf(stderr, "%d bad-input case(s) failed:\n%s", failures, report);
        free(report);
        fail_msg("%d bad-input case(s) failed", failures);
    }
    free(report);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(slots_init_returns_one_when_it_creates_a_trial, flush_dataset),
        cmocka_unit_test_setup(slots_init_returns_zero_and_leaves_an_existing_trial_untouched, flush_dataset),
        cmocka_unit_test_setup(slots_init_with_waitlist_sets_the_waitlist_size, flush_dataset),
        cmocka_unit_test_setup(slots_init_accepts_capacity_zero_and_the_largest_capacity, flush_dataset),
        cmocka_unit_test_setup(slots_init_answers_wrongtype_for_a_string_key, flush_dataset),
        cmocka_unit_test_setup(enroll_returns_one_for_a_new_user_while_slots_remain, flush_dataset),
        cmocka_unit_test_setup(enroll_returns_zero_when_the_trial_is_full, flush_dataset),
        cmocka_unit_test_setup(enroll_returns_minus_one_for_a_user_already_enrolled, flush_dataset),
        cmocka_unit_test_setup(enroll_checks_already_enrolled_before_fullness, flush_dataset),
        cmocka_unit_test_setup(enroll_returns_two_when_full_and_the_waitlist_has_room, flush_dataset),
        cmocka_unit_test_setup(enroll_returns_minus_two_for_a_user_already_waitlisted, flush_dataset),
        cmocka_unit_test_setup(enroll_returns_zero_when_full_and_the_waitlist_is_full, flush_dataset),
        cmocka_unit_test_setup(enroll_answers_notrial_for_a_missing_key_and_creates_nothing, flush_dataset),
        cmocka_unit_test_setup(enroll_answers_wrongtype_for_a_string_key, flush_dataset),
        cmocka_unit_test_setup(enroll_treats_user_ids_as_binary_safe_bytes, flush_dataset),
        cmocka_unit_test_setup(enroll_accepts_a_512_byte_user_id, flush_dataset),
        cmocka_unit_test_setup(enroll_rejects_a_513_byte_user_id, flush_dataset),
        cmocka_unit_test_setup(enroll_rejects_an_empty_user_id, flush_dataset),
        cmocka_unit_test_setup(enroll_hands_out_arrival_numbers_from_one_to_enrolled_and_waitlisted_users,
                               flush_dataset),
        cmocka_unit_test_setup(enroll_cancel_returns_one_and_gives_the_slot_back, flush_dataset),
        cmocka_unit_test_setup(enroll_cancel_returns_zero_for_a_user_not_enrolled, flush_dataset),
        cmocka_unit_test_setup(enroll_cancel_promotes_the_waitlist_head_in_the_same_step, flush_dataset),
        cmocka_unit_test_setup(enroll_cancel_removes_a_waitlisted_user_and_returns_zero, flush_dataset),
        cmocka_unit_test_setup(enroll_cancel_does_not_promote_while_the_trial_is_over_capacity, flush_dataset),
        cmocka_unit_test_setup(enroll_cancel_answers_notrial_for_a_missing_key, flush_dataset),
        cmocka_unit_test_setup(enroll_status_reports_enrolled_with_the_arrival_number, flush_dataset),
        cmocka_unit_test_setup(enroll_status_reports_waitlisted_with_the_position, flush_dataset),
        cmocka_unit_test_setup(enroll_status_reports_none_and_zero_for_an_unknown_user, flush_dataset),
        cmocka_unit_test_setup(enroll_status_answers_notrial_for_a_missing_key, flush_dataset),
        cmocka_unit_test_setup(slots_info_reports_the_six_fields_as_integers, flush_dataset),
        cmocka_unit_test_setup(slots_info_returns_nil_for_a_missing_key, flush_dataset),
        cmocka_unit_test_setup(slots_info_answers_wrongtype_for_a_string_key, flush_dataset),
        cmocka_unit_test_setup(slots_resize_returns_zero_when_no_one_is_promoted, flush_dataset),
        cmocka_unit_test_setup(slots_resize_lowering_below_enrolled_never_drops_users, flush_dataset),
        cmocka_unit_test_setup(slots_resize_raising_promotes_waitlisted_users_in_fifo_order, flush_dataset),
        cmocka_unit_test_setup(slots_resize_answers_notrial_for_a_missing_key, flush_dataset),
        cmocka_unit_test_setup(enroll_members_pages_through_all_users_in_arrival_order, flush_dataset),
        cmocka_unit_test_setup(enroll_members_count_defaults_to_ten, flush_dataset),
        cmocka_unit_test_setup(enroll_members_witharrivals_alternates_users_and_arrival_numbers, flush_dataset),
        cmocka_unit_test_setup(enroll_members_returns_each_steady_user_exactly_once_while_the_trial_changes,
                               flush_dataset),
        cmocka_unit_test_setup(enroll_members_answers_notrial_for_a_missing_key, flush_dataset),
        cmocka_unit_test_setup(slots_restore_rebuilds_a_trial_with_the_given_arrival_numbers, flush_dataset),
        cmocka_unit_test_setup(slots_restore_changes_nothing_when_one_pair_is_bad, flush_dataset),
        cmocka_unit_test_setup(slots_restore_answers_notrial_for_a_missing_key, flush_dataset),
        cmocka_unit_test_setup(command_info_describes_every_command_with_key_position_one, flush_dataset),
        cmocka_unit_test_setup(command_docs_describe_every_command, flush_dataset),
        cmocka_unit_test_setup(info_slotguard_counters_increase_after_an_enroll, flush_dataset),
        cmocka_unit_test_setup(bad_input_is_rejected_with_a_coded_error_and_changes_nothing, flush_dataset),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
