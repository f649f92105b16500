/* test_enroll_commands.c -- the replies of SLOTS.INIT, ENROLL, ENROLL.CANCEL, ENROLL.STATUS,
 * SLOTS.INFO and SLOTS.RESIZE in README.md (capacity, waitlist, arrival numbers, promotion, binary
 * user ids, NOTRIAL and WRONGTYPE), against a real redis-server with the module loaded.
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

#include "raw_commands.h"

/* ---- SLOTS.INIT ---------------------------------------------------------------------------- */

static void slots_init_returns_one_when_it_creates_a_trial(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.INIT trial 5"), 1);
    raw_assert_trial_info(sg_conn, "trial", 5, 5, 0, 0, 0, 1);
}

static void slots_init_returns_zero_and_leaves_an_existing_trial_untouched(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.INIT trial 3"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), 1);
    char *before = sg_debug_digest(sg_conn);

    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.INIT trial 10 WAITLIST 5"), 0);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.INIT trial 0"), 0);

    char *after = sg_debug_digest(sg_conn);
    assert_string_equal(before, after);
    free(before);
    free(after);
    raw_assert_trial_info(sg_conn, "trial", 3, 1, 2, 0, 0, 3);
    raw_assert_enroll_status(sg_conn, "trial", "alice", "enrolled", 1);
    raw_assert_enroll_status(sg_conn, "trial", "bob", "enrolled", 2);
}

static void slots_init_with_waitlist_sets_the_waitlist_size(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.INIT trial 2 WAITLIST 7"), 1);
    raw_assert_trial_info(sg_conn, "trial", 2, 2, 0, 0, 7, 1);
}

static void slots_init_accepts_capacity_zero_and_the_largest_capacity(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.INIT empty 0"), 1);
    raw_assert_trial_info(sg_conn, "empty", 0, 0, 0, 0, 0, 1);
    assert_int_equal(raw_enroll(sg_conn, "empty", "alice"), 0);

    assert_int_equal(
        sg_command_integer(sg_conn, "SLOTS.INIT huge 9223372036854775807 WAITLIST 9223372036854775807"), 1);
    raw_assert_trial_info(sg_conn, "huge", 9223372036854775807LL, 9223372036854775807LL, 0, 0, 9223372036854775807LL, 1);
    assert_int_equal(raw_enroll(sg_conn, "huge", "alice"), 1);
    raw_assert_trial_info(sg_conn, "huge", 9223372036854775807LL, 9223372036854775806LL, 1, 0, 9223372036854775807LL, 2);
}

static void slots_init_answers_wrongtype_for_a_string_key(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "SET trial hello");
    sg_command_error(sg_conn, "WRONGTYPE ", "SLOTS.INIT trial 5");
    redisReply *r = sg_command(sg_conn, "GET trial");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "hello");
    freeReplyObject(r);
}

/* ---- ENROLL -------------------------------------------------------------------------------- */

static void enroll_returns_one_for_a_new_user_while_slots_remain(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 2");
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    raw_assert_trial_info(sg_conn, "trial", 2, 1, 1, 0, 0, 2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), 1);
    raw_assert_trial_info(sg_conn, "trial", 2, 0, 2, 0, 0, 3);
}

static void enroll_returns_zero_when_the_trial_is_full(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 1");
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), 0);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), 0);
    /* a full reply hands out no arrival number and changes nothing */
    raw_assert_trial_info(sg_conn, "trial", 1, 0, 1, 0, 0, 2);
    raw_assert_enroll_status(sg_conn, "trial", "bob", "none", 0);
}

static void enroll_returns_minus_one_for_a_user_already_enrolled(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 5");
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), -1);
    raw_assert_trial_info(sg_conn, "trial", 5, 4, 1, 0, 0, 2);
}

static void enroll_checks_already_enrolled_before_fullness(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 1 WAITLIST 3");
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), -1);
    sg_command_integer(sg_conn, "SLOTS.INIT plain 1");
    assert_int_equal(raw_enroll(sg_conn, "plain", "alice"), 1);
    assert_int_equal(raw_enroll(sg_conn, "plain", "alice"), -1);
    raw_assert_trial_info(sg_conn, "trial", 1, 0, 1, 0, 3, 2);
}

static void enroll_returns_two_when_full_and_the_waitlist_has_room(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 1 WAITLIST 2");
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), 2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "carol"), 2);
    raw_assert_trial_info(sg_conn, "trial", 1, 0, 1, 2, 2, 4);
    raw_assert_enroll_status(sg_conn, "trial", "bob", "waitlisted", 1);
    raw_assert_enroll_status(sg_conn, "trial", "carol", "waitlisted", 2);
}

static void enroll_returns_minus_two_for_a_user_already_waitlisted(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 1 WAITLIST 2");
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), 2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), -2);
    raw_assert_trial_info(sg_conn, "trial", 1, 0, 1, 1, 2, 3);
}

static void enroll_returns_zero_when_full_and_the_waitlist_is_full(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 1 WAITLIST 1");
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), 2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "carol"), 0);
    raw_assert_trial_info(sg_conn, "trial", 1, 0, 1, 1, 1, 3);
    raw_assert_enroll_status(sg_conn, "trial", "carol", "none", 0);
}

static void enroll_answers_notrial_for_a_missing_key_and_creates_nothing(void **state)
{
    (void)state;
    sg_command_error(sg_conn, "NOTRIAL ", "ENROLL nosuchtrial alice");
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS nosuchtrial"), 0);
}

static void enroll_answers_wrongtype_for_a_string_key(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "SET trial hello");
    sg_command_error(sg_conn, "WRONGTYPE ", "ENROLL trial alice");
}

static void enroll_treats_user_ids_as_binary_safe_bytes(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 10");
    const char a[] = {'u', '\0', 'a'};
    const char b[] = {'u', '\0', 'b'};
    assert_int_equal(sg_command_integer(sg_conn, "ENROLL trial %b", a, sizeof(a)), 1);
    assert_int_equal(sg_command_integer(sg_conn, "ENROLL trial %b", b, sizeof(b)), 1);
    assert_int_equal(sg_command_integer(sg_conn, "ENROLL trial %b", "u", (size_t)1), 1);
    assert_int_equal(sg_command_integer(sg_conn, "ENROLL trial %b", a, sizeof(a)), -1);
    raw_assert_trial_info(sg_conn, "trial", 10, 7, 3, 0, 0, 4);

    char state_name[32];
    long long n;
    raw_enroll_status(sg_conn, "trial", b, sizeof(b), state_name, sizeof(state_name), &n);
    assert_string_equal(state_name, "enrolled");
    assert_int_equal(n, 2);

    unsigned long long next;
    const redisReply *users;
    redisReply *r = raw_members_page(sg_conn, "trial", 0, 10, 0, &next, &users);
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
    sg_command_integer(sg_conn, "SLOTS.INIT trial 2");
    assert_int_equal(sg_command_integer(sg_conn, "ENROLL trial %b", user, sizeof(user)), 1);
    assert_int_equal(sg_command_integer(sg_conn, "ENROLL trial %b", user, sizeof(user)), -1);
    unsigned long long next;
    const redisReply *users;
    redisReply *r = raw_members_page(sg_conn, "trial", 0, 10, 0, &next, &users);
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
    sg_command_integer(sg_conn, "SLOTS.INIT trial 2");
    sg_command_error(sg_conn, "ERR invalid user", "ENROLL trial %b", user, sizeof(user));
    raw_assert_trial_info(sg_conn, "trial", 2, 2, 0, 0, 0, 1);
}

static void enroll_rejects_an_empty_user_id(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 2");
    sg_command_error(sg_conn, "ERR invalid user", "ENROLL trial %b", "", (size_t)0);
    raw_assert_trial_info(sg_conn, "trial", 2, 2, 0, 0, 0, 1);
}

static void enroll_hands_out_arrival_numbers_from_one_to_enrolled_and_waitlisted_users(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 2 WAITLIST 1");
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), -1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "carol"), 2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "dave"), 0);
    assert_int_equal(raw_enroll(sg_conn, "trial", "carol"), -2);
    raw_assert_trial_info(sg_conn, "trial", 2, 0, 2, 1, 1, 4);
    raw_assert_enroll_status(sg_conn, "trial", "alice", "enrolled", 1);
    raw_assert_enroll_status(sg_conn, "trial", "bob", "enrolled", 2);
    raw_assert_enroll_status(sg_conn, "trial", "carol", "waitlisted", 1);
}

/* ---- ENROLL.CANCEL ------------------------------------------------------------------------- */

static void enroll_cancel_returns_one_and_gives_the_slot_back(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 1");
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), 0);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "alice"), 1);
    raw_assert_trial_info(sg_conn, "trial", 1, 1, 0, 0, 0, 2);
    raw_assert_enroll_status(sg_conn, "trial", "alice", "none", 0);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), 1);
    raw_assert_enroll_status(sg_conn, "trial", "bob", "enrolled", 2);
}

static void enroll_cancel_returns_zero_for_a_user_not_enrolled(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 2");
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "bob"), 0);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "alice"), 0);
    raw_assert_trial_info(sg_conn, "trial", 2, 2, 0, 0, 0, 2);
}

static void enroll_cancel_promotes_the_waitlist_head_in_the_same_step(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 1 WAITLIST 3");
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), 2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "carol"), 2);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "alice"), 1);
    raw_assert_trial_info(sg_conn, "trial", 1, 0, 1, 1, 3, 4);
    /* the promoted user keeps the arrival number it got when it was waitlisted */
    raw_assert_enroll_status(sg_conn, "trial", "bob", "enrolled", 2);
    raw_assert_enroll_status(sg_conn, "trial", "carol", "waitlisted", 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), -1);
}

static void enroll_cancel_removes_a_waitlisted_user_and_returns_zero(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 1 WAITLIST 3");
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "bob"), 2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "carol"), 2);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "bob"), 0);
    raw_assert_trial_info(sg_conn, "trial", 1, 0, 1, 1, 3, 4);
    raw_assert_enroll_status(sg_conn, "trial", "bob", "none", 0);
    raw_assert_enroll_status(sg_conn, "trial", "carol", "waitlisted", 1);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "bob"), 0);
}

static void enroll_cancel_does_not_promote_while_the_trial_is_over_capacity(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 3 WAITLIST 2");
    assert_int_equal(raw_enroll(sg_conn, "trial", "a"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "b"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "c"), 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "w"), 2);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RESIZE trial 2"), 0);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "a"), 1);
    raw_assert_enroll_status(sg_conn, "trial", "w", "waitlisted", 1);
    raw_assert_trial_info(sg_conn, "trial", 2, 0, 2, 1, 2, 5);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "b"), 1);
    raw_assert_enroll_status(sg_conn, "trial", "w", "enrolled", 4);
    raw_assert_trial_info(sg_conn, "trial", 2, 0, 2, 0, 2, 5);
}

static void enroll_cancel_answers_notrial_for_a_missing_key(void **state)
{
    (void)state;
    sg_command_error(sg_conn, "NOTRIAL ", "ENROLL.CANCEL nosuchtrial alice");
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS nosuchtrial"), 0);
}

/* ---- ENROLL.STATUS ------------------------------------------------------------------------- */

static void enroll_status_reports_enrolled_with_the_arrival_number(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 5");
    raw_enroll(sg_conn, "trial", "alice");
    raw_enroll(sg_conn, "trial", "bob");
    raw_enroll(sg_conn, "trial", "carol");
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "alice"), 1);
    raw_assert_enroll_status(sg_conn, "trial", "bob", "enrolled", 2);
    raw_assert_enroll_status(sg_conn, "trial", "carol", "enrolled", 3);
}

static void enroll_status_reports_waitlisted_with_the_position(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 1 WAITLIST 5");
    raw_enroll(sg_conn, "trial", "alice");
    assert_int_equal(raw_enroll(sg_conn, "trial", "w1"), 2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "w2"), 2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "w3"), 2);
    raw_assert_enroll_status(sg_conn, "trial", "w3", "waitlisted", 3);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "w1"), 0);
    raw_assert_enroll_status(sg_conn, "trial", "w2", "waitlisted", 1);
    raw_assert_enroll_status(sg_conn, "trial", "w3", "waitlisted", 2);
}

static void enroll_status_reports_none_and_zero_for_an_unknown_user(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 5");
    raw_assert_enroll_status(sg_conn, "trial", "stranger", "none", 0);
}

static void enroll_status_answers_notrial_for_a_missing_key(void **state)
{
    (void)state;
    sg_command_error(sg_conn, "NOTRIAL ", "ENROLL.STATUS nosuchtrial alice");
}

/* ---- SLOTS.INFO ---------------------------------------------------------------------------- */

static void slots_info_reports_the_six_fields_as_integers(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 2 WAITLIST 4");
    raw_enroll(sg_conn, "trial", "a");
    raw_enroll(sg_conn, "trial", "b");
    raw_enroll(sg_conn, "trial", "c");
    /* raw_trial_info_of() demands exactly six field/value pairs with integer values */
    raw_assert_trial_info(sg_conn, "trial", 2, 0, 2, 1, 4, 4);
}

static void slots_info_returns_nil_for_a_missing_key(void **state)
{
    (void)state;
    sg_command_nil(sg_conn, "SLOTS.INFO nosuchtrial");
}

static void slots_info_answers_wrongtype_for_a_string_key(void **state)
{
    (void)state;
    sg_command_status(sg_conn, "OK", "SET trial hello");
    sg_command_error(sg_conn, "WRONGTYPE ", "SLOTS.INFO trial");
}

/* ---- SLOTS.RESIZE -------------------------------------------------------------------------- */

static void slots_resize_returns_zero_when_no_one_is_promoted(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 2");
    raw_enroll(sg_conn, "trial", "a");
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RESIZE trial 10"), 0);
    raw_assert_trial_info(sg_conn, "trial", 10, 9, 1, 0, 0, 2);
}

static void slots_resize_lowering_below_enrolled_never_drops_users(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 5");
    const char *users[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) assert_int_equal(raw_enroll(sg_conn, "trial", users[i]), 1);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RESIZE trial 2"), 0);
    raw_assert_trial_info(sg_conn, "trial", 2, 0, 5, 0, 0, 6);
    for (int i = 0; i < 5; i++) raw_assert_enroll_status(sg_conn, "trial", users[i], "enrolled", i + 1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "f"), 0);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "a"), 1);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "b"), 1);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "c"), 1);
    raw_assert_trial_info(sg_conn, "trial", 2, 0, 2, 0, 0, 6);
    assert_int_equal(raw_enroll(sg_conn, "trial", "f"), 0);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "d"), 1);
    raw_assert_trial_info(sg_conn, "trial", 2, 1, 1, 0, 0, 6);
    assert_int_equal(raw_enroll(sg_conn, "trial", "f"), 1);
}

static void slots_resize_raising_promotes_waitlisted_users_in_fifo_order(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 1 WAITLIST 5");
    raw_enroll(sg_conn, "trial", "a");
    assert_int_equal(raw_enroll(sg_conn, "trial", "w1"), 2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "w2"), 2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "w3"), 2);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RESIZE trial 3"), 2);
    raw_assert_enroll_status(sg_conn, "trial", "w1", "enrolled", 2);
    raw_assert_enroll_status(sg_conn, "trial", "w2", "enrolled", 3);
    raw_assert_enroll_status(sg_conn, "trial", "w3", "waitlisted", 1);
    raw_assert_trial_info(sg_conn, "trial", 3, 0, 3, 1, 5, 5);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RESIZE trial 100"), 1);
    raw_assert_enroll_status(sg_conn, "trial", "w3", "enrolled", 4);
    raw_assert_trial_info(sg_conn, "trial", 100, 96, 4, 0, 5, 5);
}

static void slots_resize_answers_notrial_for_a_missing_key(void **state)
{
    (void)state;
    sg_command_error(sg_conn, "NOTRIAL ", "SLOTS.RESIZE nosuchtrial 5");
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS nosuchtrial"), 0);
}

#define ENROLL_TEST(name) cmocka_unit_test_setup(name, sg_group_flush)

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENROLL_TEST(slots_init_returns_one_when_it_creates_a_trial),
        ENROLL_TEST(slots_init_returns_zero_and_leaves_an_existing_trial_untouched),
        ENROLL_TEST(slots_init_with_waitlist_sets_the_waitlist_size),
        ENROLL_TEST(slots_init_accepts_capacity_zero_and_the_largest_capacity),
        ENROLL_TEST(slots_init_answers_wrongtype_for_a_string_key),
        ENROLL_TEST(enroll_returns_one_for_a_new_user_while_slots_remain),
        ENROLL_TEST(enroll_returns_zero_when_the_trial_is_full),
        ENROLL_TEST(enroll_returns_minus_one_for_a_user_already_enrolled),
        ENROLL_TEST(enroll_checks_already_enrolled_before_fullness),
        ENROLL_TEST(enroll_returns_two_when_full_and_the_waitlist_has_room),
        ENROLL_TEST(enroll_returns_minus_two_for_a_user_already_waitlisted),
        ENROLL_TEST(enroll_returns_zero_when_full_and_the_waitlist_is_full),
        ENROLL_TEST(enroll_answers_notrial_for_a_missing_key_and_creates_nothing),
        ENROLL_TEST(enroll_answers_wrongtype_for_a_string_key),
        ENROLL_TEST(enroll_treats_user_ids_as_binary_safe_bytes),
        ENROLL_TEST(enroll_accepts_a_512_byte_user_id),
        ENROLL_TEST(enroll_rejects_a_513_byte_user_id),
        ENROLL_TEST(enroll_rejects_an_empty_user_id),
        ENROLL_TEST(enroll_hands_out_arrival_numbers_from_one_to_enrolled_and_waitlisted_users),
        ENROLL_TEST(enroll_cancel_returns_one_and_gives_the_slot_back),
        ENROLL_TEST(enroll_cancel_returns_zero_for_a_user_not_enrolled),
        ENROLL_TEST(enroll_cancel_promotes_the_waitlist_head_in_the_same_step),
        ENROLL_TEST(enroll_cancel_removes_a_waitlisted_user_and_returns_zero),
        ENROLL_TEST(enroll_cancel_does_not_promote_while_the_trial_is_over_capacity),
        ENROLL_TEST(enroll_cancel_answers_notrial_for_a_missing_key),
        ENROLL_TEST(enroll_status_reports_enrolled_with_the_arrival_number),
        ENROLL_TEST(enroll_status_reports_waitlisted_with_the_position),
        ENROLL_TEST(enroll_status_reports_none_and_zero_for_an_unknown_user),
        ENROLL_TEST(enroll_status_answers_notrial_for_a_missing_key),
        ENROLL_TEST(slots_info_reports_the_six_fields_as_integers),
        ENROLL_TEST(slots_info_returns_nil_for_a_missing_key),
        ENROLL_TEST(slots_info_answers_wrongtype_for_a_string_key),
        ENROLL_TEST(slots_resize_returns_zero_when_no_one_is_promoted),
        ENROLL_TEST(slots_resize_lowering_below_enrolled_never_drops_users),
        ENROLL_TEST(slots_resize_raising_promotes_waitlisted_users_in_fifo_order),
        ENROLL_TEST(slots_resize_answers_notrial_for_a_missing_key),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
