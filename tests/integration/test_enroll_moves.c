/* test_enroll_moves.c -- SLOTS.SEND and SLOTS.RECEIVE, the two halves of a capacity move between the
 * shard trials of a sharded trial, on one server: what SEND gives away (the free slots, never an
 * enrolled user's), what RECEIVE adds (once, promoting waitlisted users in FIFO order), the outbox
 * and inbox entries "<shard> <amount>", repeats of a move id that change nothing, whole and cut
 * moves and the sum of capacities, bad input (a coded error that changes nothing), the dirty
 * counter, WATCH, keyspace events, the INFO slotguard_enroll counters and what COMMAND INFO,
 * COMMAND GETKEYS and COMMAND DOCS tell, as the contract of the two commands states.
 *
 * One server for the whole group; every test starts from an empty dataset (FLUSHALL in the per-test
 * setup). One behaviour per test function. Replication, persistence and the cluster are in
 * test_enroll_moves_replication.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raw_commands.h"

#define TRIAL "{s}:trial"
#define OUTBOX "{s}:out"
#define INBOX "{s}:in"
#define MAX_TEXT "9223372036854775807"
#define MAX_MOVE_ID 128

/* ---- helpers ------------------------------------------------------------------------------------- */

/* SLOTS.INIT key capacity [WAITLIST max] (waitlist < 0: none), then ENROLL u1..u<users>. */
static void make_trial(redisContext *c, const char *key, long long capacity, long long waitlist, int users)
{
    if (waitlist < 0)
        assert_int_equal(sg_command_integer(c, "SLOTS.INIT %s %lld", key, capacity), 1);
    else
        assert_int_equal(sg_command_integer(c, "SLOTS.INIT %s %lld WAITLIST %lld", key, capacity, waitlist), 1);
    for (int i = 1; i <= users; i++) {
        char user[16];
        snprintf(user, sizeof(user), "u%d", i);
        long long r = raw_enroll(c, key, user);
        if (r != 1 && r != 2) fail_msg("ENROLL %s %s answered %lld", key, user, r);
    }
}

static long long send_slots(redisContext *c, const char *key, const char *box, const char *id, long long to,
                            long long count)
{
    return sg_command_integer(c, "SLOTS.SEND %s %s %s %lld %lld", key, box, id, to, count);
}

static long long receive_slots(redisContext *c, const char *key, const char *box, const char *id, long long from,
                               long long amount)
{
    return sg_command_integer(c, "SLOTS.RECEIVE %s %s %s %lld %lld", key, box, id, from, amount);
}

static long long capacity_of(redisContext *c, const char *key)
{
    return raw_trial_info_of(c, key).capacity;
}

/* The box's entry for a (binary) move id must be `expected`; NULL: there must be none. */
static void assert_entry_bin(redisContext *c, const char *box, const char *id, size_t id_len, const char *expected)
{
    redisReply *r = sg_command(c, "HGET %s %b", box, id, id_len);
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    int ok = expected == NULL ? r->type == REDIS_REPLY_NIL : sg_reply_is_bytes(r, expected, strlen(expected));
    freeReplyObject(r);
    if (!ok) fail_msg("HGET %s <%zu-byte id>: got %s, expected %s", box, id_len, got, expected ? expected : "nil");
}

static void assert_entry(redisContext *c, const char *box, const char *id, const char *expected)
{
    assert_entry_bin(c, box, id, strlen(id), expected);
}

/* The whole dataset must still have the digest `before` (which is freed). */
static void assert_digest_is(redisContext *c, char *before, const char *after_what)
{
    char *now = sg_debug_digest(c);
    int same = strcmp(before, now) == 0;
    free(before);
    free(now);
    if (!same) fail_msg("the dataset changed after %s", after_what);
}

/* ---- SLOTS.SEND ---------------------------------------------------------------------------------- */

static void send_gives_away_the_count_asked_when_that_many_slots_are_free(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 10, -1, 3);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 2, 4), 4);
    raw_assert_trial_info(sg_conn, TRIAL, 6, 3, 3, 0, 0, 4);
}

static void send_gives_away_only_the_free_slots_when_more_are_asked(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 10, -1, 3);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 2, 100), 7);
    raw_assert_trial_info(sg_conn, TRIAL, 3, 0, 3, 0, 0, 4);
}

static void send_records_the_receiving_shard_and_the_slots_sent_in_the_outbox(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 10, -1, 3);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 2, 4), 4);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m2", 1000000, 100), 3);
    assert_entry(sg_conn, OUTBOX, "m1", "2 4");
    assert_entry(sg_conn, OUTBOX, "m2", "1000000 3");
    assert_int_equal(sg_command_integer(sg_conn, "HLEN %s", OUTBOX), 2);
    sg_assert_type(sg_conn, OUTBOX, "hash");
}

static void send_keeps_the_other_fields_of_an_existing_outbox(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 5, -1, 0);
    assert_int_equal(sg_command_integer(sg_conn, "HSET %s other value", OUTBOX), 1);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 0, 2), 2);
    assert_entry(sg_conn, OUTBOX, "other", "value");
    assert_entry(sg_conn, OUTBOX, "m1", "0 2");
    assert_int_equal(capacity_of(sg_conn, TRIAL), 3);
}

static void send_repeated_with_the_same_move_id_answers_the_recorded_amount_and_changes_nothing(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 10, -1, 2);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 3, 5), 5);
    char *before = sg_debug_digest(sg_conn);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 3, 5), 5);
    /* a repeat is recognized by the move id alone: other numbers change nothing either */
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 7, 1), 5);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 0, LLONG_MAX), 5);
    assert_digest_is(sg_conn, before, "repeating SLOTS.SEND m1");
    raw_assert_trial_info(sg_conn, TRIAL, 5, 3, 2, 0, 0, 3);
    assert_entry(sg_conn, OUTBOX, "m1", "3 5");
}

static void a_move_id_already_in_a_box_is_never_applied_again_whatever_its_entry_says(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 10, -1, 2);
    /* Entries written by hand, that name no amount: the move id is there, so it is a repeat. */
    sg_command_integer(sg_conn, "HSET %s neg %s", OUTBOX, "1 -7");
    sg_command_integer(sg_conn, "HSET %s junk %s", OUTBOX, "garbage");
    char *before = sg_debug_digest(sg_conn);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "neg", 1, 3), 0);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "junk", 1, 3), 0);
    assert_digest_is(sg_conn, before, "SLOTS.SEND of move ids already in the outbox");
    raw_assert_trial_info(sg_conn, TRIAL, 10, 8, 2, 0, 0, 3);
}

static void send_repeated_after_the_trial_changed_still_answers_the_recorded_amount(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 10, -1, 0);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 1, 4), 4);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RESIZE %s 2", TRIAL), 0);
    char *before = sg_debug_digest(sg_conn);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 1, 4), 4);
    assert_digest_is(sg_conn, before, "repeating SLOTS.SEND m1 on a smaller trial");
    assert_int_equal(capacity_of(sg_conn, TRIAL), 2);
}

static void send_from_a_full_trial_sends_nothing_and_writes_no_outbox_entry(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 3, -1, 3);
    char *before = sg_debug_digest(sg_conn);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 1, 2), 0);
    assert_digest_is(sg_conn, before, "a SLOTS.SEND from a full trial");
    assert_int_equal(sg_exists(sg_conn, OUTBOX), 0);
    raw_assert_trial_info(sg_conn, TRIAL, 3, 0, 3, 0, 0, 4);
}

static void send_from_a_trial_of_capacity_zero_sends_nothing(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 0, -1, 0);
    assert_int_equal(sg_command_integer(sg_conn, "HSET %s other value", OUTBOX), 1);
    char *before = sg_debug_digest(sg_conn);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 1, 1), 0);
    assert_digest_is(sg_conn, before, "a SLOTS.SEND from a trial of capacity 0");
    assert_entry(sg_conn, OUTBOX, "m1", NULL);
}

static void send_from_a_trial_with_waitlisted_users_sends_nothing(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 2, 5, 4); /* u1 u2 enrolled, u3 u4 waitlisted */
    char *before = sg_debug_digest(sg_conn);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 1, 1), 0);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m2", 1, LLONG_MAX), 0);
    assert_digest_is(sg_conn, before, "a SLOTS.SEND from a trial with a waitlist");
    raw_assert_trial_info(sg_conn, TRIAL, 2, 0, 2, 2, 5, 5);
    assert_int_equal(sg_exists(sg_conn, OUTBOX), 0);
}

static void a_move_id_that_sent_nothing_sends_once_slots_are_free(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 2, -1, 2);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 1, 5), 0);
    assert_int_equal(raw_enroll_cancel(sg_conn, TRIAL, "u1"), 1);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 1, 5), 1);
    assert_entry(sg_conn, OUTBOX, "m1", "1 1");
    raw_assert_trial_info(sg_conn, TRIAL, 1, 0, 1, 0, 0, 3);
}

static void send_never_lowers_the_capacity_below_the_enrolled_users(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 8, -1, 5);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 1, LLONG_MAX), 3);
    raw_assert_trial_info(sg_conn, TRIAL, 5, 0, 5, 0, 0, 6);
    for (int i = 1; i <= 5; i++) {
        char user[16];
        snprintf(user, sizeof(user), "u%d", i);
        raw_assert_enroll_status(sg_conn, TRIAL, user, "enrolled", i);
    }
    assert_int_equal(raw_enroll(sg_conn, TRIAL, "late"), 0);
}

static void send_from_a_trial_resized_below_its_enrolled_users_sends_nothing_and_drops_nobody(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 6, -1, 4);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RESIZE %s 2", TRIAL), 0);
    char *before = sg_debug_digest(sg_conn);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 1, 1), 0);
    assert_digest_is(sg_conn, before, "a SLOTS.SEND from an over-full trial");
    raw_assert_trial_info(sg_conn, TRIAL, 2, 0, 4, 0, 0, 5);
}

static void different_move_ids_each_send_until_no_slot_is_free(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 10, -1, 0);
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "m%d", i);
        assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, id, i % 3, 1), 1);
        assert_int_equal(capacity_of(sg_conn, TRIAL), 9 - i);
    }
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m10", 0, 1), 0);
    assert_int_equal(sg_command_integer(sg_conn, "HLEN %s", OUTBOX), 10);
    assert_entry(sg_conn, OUTBOX, "m4", "1 1");
    assert_entry(sg_conn, OUTBOX, "m10", NULL);
}

static void send_of_the_largest_count_from_the_largest_trial_sends_it_all(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.INIT %s " MAX_TEXT, TRIAL), 1);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 1000000, LLONG_MAX), LLONG_MAX);
    raw_assert_trial_info(sg_conn, TRIAL, 0, 0, 0, 0, 0, 1);
    assert_entry(sg_conn, OUTBOX, "m1", "1000000 " MAX_TEXT);
}

/* ---- SLOTS.RECEIVE ------------------------------------------------------------------------------- */

static void receive_adds_the_amount_and_records_the_sending_shard_and_the_amount(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 3, -1, 1);
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "m1", 5, 4), 1);
    raw_assert_trial_info(sg_conn, TRIAL, 7, 6, 1, 0, 0, 2);
    assert_entry(sg_conn, INBOX, "m1", "5 4");
    sg_assert_type(sg_conn, INBOX, "hash");
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "m2", 0, 1), 1);
    assert_int_equal(capacity_of(sg_conn, TRIAL), 8);
    assert_int_equal(sg_command_integer(sg_conn, "HLEN %s", INBOX), 2);
}

static void receive_repeated_with_the_same_move_id_answers_zero_and_changes_nothing(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 3, -1, 1);
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "m1", 5, 4), 1);
    char *before = sg_debug_digest(sg_conn);
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "m1", 5, 4), 0);
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "m1", 9, 100), 0);
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "m1", 0, LLONG_MAX), 0);
    assert_digest_is(sg_conn, before, "repeating SLOTS.RECEIVE m1");
    assert_int_equal(capacity_of(sg_conn, TRIAL), 7);
    assert_entry(sg_conn, INBOX, "m1", "5 4");
}

static void receive_into_a_trial_of_capacity_zero_makes_room(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 0, -1, 0);
    assert_int_equal(raw_enroll(sg_conn, TRIAL, "alice"), 0);
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "m1", 1, 1), 1);
    assert_int_equal(raw_enroll(sg_conn, TRIAL, "alice"), 1);
    raw_assert_trial_info(sg_conn, TRIAL, 1, 0, 1, 0, 0, 2);
}

static void receive_promotes_waitlisted_users_in_fifo_order(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 2, 5, 5); /* u1 u2 enrolled; u3 u4 u5 waitlisted */
    raw_assert_trial_info(sg_conn, TRIAL, 2, 0, 2, 3, 5, 6);
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "m1", 1, 2), 1);
    raw_assert_trial_info(sg_conn, TRIAL, 4, 0, 4, 1, 5, 6);
    raw_assert_enroll_status(sg_conn, TRIAL, "u3", "enrolled", 3);
    raw_assert_enroll_status(sg_conn, TRIAL, "u4", "enrolled", 4);
    raw_assert_enroll_status(sg_conn, TRIAL, "u5", "waitlisted", 1);
    /* ENROLL.MEMBERS lists them in arrival order */
    unsigned long long next = 1;
    const redisReply *users = NULL;
    redisReply *page = raw_members_page(sg_conn, TRIAL, 0, 10, 0, &next, &users);
    assert_int_equal(users->elements, 4);
    static const char *const order[] = {"u1", "u2", "u3", "u4"};
    for (size_t i = 0; i < 4; i++) assert_true(sg_reply_is_text(users->element[i], order[i]));
    freeReplyObject(page);
}

static void receive_of_more_than_the_waitlist_promotes_everyone_and_leaves_the_rest_free(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 1, 3, 3); /* u1 enrolled; u2 u3 waitlisted */
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "m1", 1, 5), 1);
    raw_assert_trial_info(sg_conn, TRIAL, 6, 3, 3, 0, 3, 4);
    raw_assert_enroll_status(sg_conn, TRIAL, "u2", "enrolled", 2);
    raw_assert_enroll_status(sg_conn, TRIAL, "u3", "enrolled", 3);
}

static void receive_past_the_largest_capacity_is_an_error_and_changes_nothing(void **state)
{
    (void)state;
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.INIT %s 9223372036854775800", TRIAL), 1);
    char *before = sg_debug_digest(sg_conn);
    sg_command_error(sg_conn, "ERR invalid amount", "SLOTS.RECEIVE %s %s m1 1 8", TRIAL, INBOX);
    sg_command_error(sg_conn, "ERR invalid amount", "SLOTS.RECEIVE %s %s m1 1 " MAX_TEXT, TRIAL, INBOX);
    assert_digest_is(sg_conn, before, "a SLOTS.RECEIVE past the largest capacity");
    assert_int_equal(sg_exists(sg_conn, INBOX), 0);
    /* up to the largest capacity exactly is fine; one more is not, whatever the id */
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "m1", 1, 7), 1);
    assert_int_equal(capacity_of(sg_conn, TRIAL), LLONG_MAX);
    before = sg_debug_digest(sg_conn);
    sg_command_error(sg_conn, "ERR invalid amount", "SLOTS.RECEIVE %s %s m2 1 1", TRIAL, INBOX);
    assert_digest_is(sg_conn, before, "a SLOTS.RECEIVE into a trial of the largest capacity");
    assert_entry(sg_conn, INBOX, "m2", NULL);
    /* the repeat of a received move is still a repeat, not an overflow */
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "m1", 1, 7), 0);
}

static void binary_move_ids_are_kept_byte_for_byte(void **state)
{
    (void)state;
    static const char id[] = {'m', '\0', '\xff', '\r', '\n', ' ', '%'};
    static const char other[] = {'m', '\0', '\xfe', '\r', '\n', ' ', '%'};
    make_trial(sg_conn, "{s}:a", 10, -1, 0);
    make_trial(sg_conn, "{s}:b", 0, -1, 0);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.SEND {s}:a %s %b 1 3", OUTBOX, id, sizeof(id)), 3);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.SEND {s}:a %s %b 1 3", OUTBOX, id, sizeof(id)), 3);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.SEND {s}:a %s %b 1 2", OUTBOX, other, sizeof(other)), 2);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RECEIVE {s}:b %s %b 0 3", INBOX, id, sizeof(id)), 1);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RECEIVE {s}:b %s %b 0 3", INBOX, id, sizeof(id)), 0);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RECEIVE {s}:b %s m 0 3", INBOX), 1); /* a prefix: another */
    assert_entry_bin(sg_conn, OUTBOX, id, sizeof(id), "1 3");
    assert_entry_bin(sg_conn, OUTBOX, other, sizeof(other), "1 2");
    assert_entry_bin(sg_conn, INBOX, id, sizeof(id), "0 3");
    assert_int_equal(capacity_of(sg_conn, "{s}:a"), 5);
    assert_int_equal(capacity_of(sg_conn, "{s}:b"), 6);
}

static void a_move_id_of_128_bytes_is_accepted(void **state)
{
    (void)state;
    char id[MAX_MOVE_ID];
    memset(id, 'x', sizeof(id));
    id[0] = '\0';
    id[sizeof(id) - 1] = '\xff';
    make_trial(sg_conn, TRIAL, 4, -1, 0);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.SEND %s %s %b 0 1", TRIAL, OUTBOX, id, sizeof(id)), 1);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RECEIVE %s %s %b 0 1", TRIAL, INBOX, id, sizeof(id)), 1);
    assert_entry_bin(sg_conn, OUTBOX, id, sizeof(id), "0 1");
    assert_entry_bin(sg_conn, INBOX, id, sizeof(id), "0 1");
    assert_int_equal(capacity_of(sg_conn, TRIAL), 4);
}

/* ---- whole and cut moves ------------------------------------------------------------------------- */

/* The two halves of a move from trial `from` to trial `to`, with the boxes next to each. */
static long long sum_of_capacities(redisContext *c, const char *a, const char *b)
{
    return capacity_of(c, a) + capacity_of(c, b);
}

static void a_whole_move_keeps_the_sum_of_capacities(void **state)
{
    (void)state;
    make_trial(sg_conn, "{s}:a", 20, -1, 5);
    make_trial(sg_conn, "{s}:b", 4, 3, 6); /* 4 enrolled, 2 waitlisted */
    long long sent = send_slots(sg_conn, "{s}:a", "{s}:a:out", "mv1", 1, 10);
    assert_int_equal(sent, 10);
    assert_int_equal(receive_slots(sg_conn, "{s}:b", "{s}:b:in", "mv1", 0, sent), 1);
    assert_int_equal(sum_of_capacities(sg_conn, "{s}:a", "{s}:b"), 24);
    raw_assert_trial_info(sg_conn, "{s}:a", 10, 5, 5, 0, 0, 6);
    raw_assert_trial_info(sg_conn, "{s}:b", 14, 8, 6, 0, 3, 7);
}

static void a_move_cut_after_send_lowers_the_sum_by_exactly_what_was_sent(void **state)
{
    (void)state;
    make_trial(sg_conn, "{s}:a", 20, -1, 17);
    make_trial(sg_conn, "{s}:b", 4, -1, 0);
    assert_int_equal(send_slots(sg_conn, "{s}:a", "{s}:a:out", "mv1", 1, 10), 3);
    assert_int_equal(sum_of_capacities(sg_conn, "{s}:a", "{s}:b"), 24 - 3);
}

/* "<shard> <amount>" of a box entry, parsed; fails when there is none or it has another shape. */
static void read_entry(redisContext *c, const char *box, const char *id, long long *shard, long long *amount)
{
    char *text = sg_reply_text("HGET", sg_command(c, "HGET %s %s", box, id));
    char tail;
    int n = sscanf(text, "%lld %lld%c", shard, amount, &tail);
    char shown[64];
    snprintf(shown, sizeof(shown), "%s", text);
    free(text);
    if (n != 2) fail_msg("the entry %s of %s is \"%s\", not \"<shard> <amount>\"", id, box, shown);
}

static void finishing_a_cut_move_from_its_outbox_entry_restores_the_sum_exactly(void **state)
{
    (void)state;
    make_trial(sg_conn, "{s}:a", 20, -1, 2);
    make_trial(sg_conn, "{s}:b", 4, 2, 6); /* 4 enrolled, 2 waitlisted */
    assert_int_equal(send_slots(sg_conn, "{s}:a", "{s}:a:out", "mv1", 1, 7), 7);
    assert_int_equal(sum_of_capacities(sg_conn, "{s}:a", "{s}:b"), 17);
    /* later, reconcile finishes it from what the outbox says, then forgets it there */
    long long shard = -1, amount = -1;
    read_entry(sg_conn, "{s}:a:out", "mv1", &shard, &amount);
    assert_int_equal(shard, 1);
    assert_int_equal(amount, 7);
    assert_int_equal(receive_slots(sg_conn, "{s}:b", "{s}:b:in", "mv1", 0, amount), 1);
    assert_int_equal(sg_command_integer(sg_conn, "HDEL {s}:a:out mv1"), 1);
    assert_int_equal(sum_of_capacities(sg_conn, "{s}:a", "{s}:b"), 24);
    raw_assert_trial_info(sg_conn, "{s}:b", 11, 5, 6, 0, 2, 7);
}

static void receive_repeated_after_the_outbox_entry_is_deleted_still_changes_nothing(void **state)
{
    (void)state;
    make_trial(sg_conn, "{s}:a", 20, -1, 0);
    make_trial(sg_conn, "{s}:b", 4, -1, 0);
    assert_int_equal(send_slots(sg_conn, "{s}:a", "{s}:a:out", "mv1", 1, 7), 7);
    assert_int_equal(receive_slots(sg_conn, "{s}:b", "{s}:b:in", "mv1", 0, 7), 1);
    assert_int_equal(sg_command_integer(sg_conn, "HDEL {s}:a:out mv1"), 1);
    assert_int_equal(sg_exists(sg_conn, "{s}:a:out"), 0);
    char *before = sg_debug_digest(sg_conn);
    /* a reconcile that ran twice: the inbox remembers the move */
    assert_int_equal(receive_slots(sg_conn, "{s}:b", "{s}:b:in", "mv1", 0, 7), 0);
    assert_digest_is(sg_conn, before, "a SLOTS.RECEIVE repeated after the HDEL");
    assert_int_equal(sum_of_capacities(sg_conn, "{s}:a", "{s}:b"), 24);
}

#define MOVE_TRIALS 4
#define MOVE_ROUNDS 300

/* Random moves among four trials, each whole or cut and finished later from its outbox entry, with
 * enrolls and cancels in between: once every move is finished the capacities add up to what they
 * did, and no trial ever holds fewer slots than users enrolled. */
static void random_moves_all_finished_keep_the_sum_and_never_drop_an_enrolled_user(void **state)
{
    (void)state;
    static const char *const trials[MOVE_TRIALS] = {"{s}:t0", "{s}:t1", "{s}:t2", "{s}:t3"};
    static const char *const outs[MOVE_TRIALS] = {"{s}:t0:out", "{s}:t1:out", "{s}:t2:out", "{s}:t3:out"};
    static const char *const ins[MOVE_TRIALS] = {"{s}:t0:in", "{s}:t1:in", "{s}:t2:in", "{s}:t3:in"};
    for (int i = 0; i < MOVE_TRIALS; i++) make_trial(sg_conn, trials[i], 25, 10, 0);
    sg_prng p = {sg_workload_seed(0x30fe5)};
    int pending_from[MOVE_ROUNDS], pending_to[MOVE_ROUNDS], pending = 0;
    char pending_id[MOVE_ROUNDS][16];
    long long moved = 0;
    for (int round = 0; round < MOVE_ROUNDS; round++) {
        int from = (int)sg_prng_below(&p, MOVE_TRIALS), to = (int)sg_prng_below(&p, MOVE_TRIALS - 1);
        if (to >= from) to++;
        char user[24];
        snprintf(user, sizeof(user), "user%llu", (unsigned long long)sg_prng_below(&p, 60));
        uint64_t roll = sg_prng_below(&p, 10);
        if (roll < 3) {
            raw_enroll(sg_conn, trials[from], user);
        } else if (roll < 5) {
            raw_enroll_cancel(sg_conn, trials[from], user);
        } else {
            char id[16];
            snprintf(id, sizeof(id), "mv%d", round);
            long long sent = send_slots(sg_conn, trials[from], outs[from], id, to, 1 + (long long)sg_prng_below(&p, 8));
            moved += sent;
            if (sent > 0 && sg_prng_below(&p, 2) == 0) {
                assert_int_equal(receive_slots(sg_conn, trials[to], ins[to], id, from, sent), 1);
                assert_int_equal(sg_command_integer(sg_conn, "HDEL %s %s", outs[from], id), 1);
            } else if (sent > 0) {
                pending_from[pending] = from;
                pending_to[pending] = to;
                snprintf(pending_id[pending], sizeof(pending_id[pending]), "%s", id);
                pending++;
            }
        }
        for (int i = 0; i < MOVE_TRIALS; i++) {
            raw_trial_info info = raw_trial_info_of(sg_conn, trials[i]);
            if (info.capacity < info.enrolled)
                fail_msg("round %d: %s has capacity %lld for %lld enrolled", round, trials[i], info.capacity,
                         info.enrolled);
        }
    }
    /* reconcile: finish every cut move from its outbox entry, twice (the second pass changes nothing) */
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < pending; k++) {
            long long shard = -1, amount = -1;
            if (pass == 0) read_entry(sg_conn, outs[pending_from[k]], pending_id[k], &shard, &amount);
            if (pass == 0) assert_int_equal(shard, pending_to[k]);
            long long added = pass == 0 ? receive_slots(sg_conn, trials[pending_to[k]], ins[pending_to[k]],
                                                        pending_id[k], pending_from[k], amount)
                                        : receive_slots(sg_conn, trials[pending_to[k]], ins[pending_to[k]],
                                                        pending_id[k], pending_from[k], 1);
            assert_int_equal(added, pass == 0 ? 1 : 0);
        }
    }
    long long sum = 0;
    for (int i = 0; i < MOVE_TRIALS; i++) sum += capacity_of(sg_conn, trials[i]);
    print_message("%lld slots moved, %d moves finished late\n", moved, pending);
    assert_true(moved > 0);
    assert_int_equal(sum, 25 * MOVE_TRIALS);
}

/* ---- bad input ----------------------------------------------------------------------------------- */

#define BAD_SHARD "@shard"   /* run once per entry of bad_shards */
#define BAD_NUMBER "@number" /* run once per entry of bad_numbers */
#define LONG_ID "@long"      /* a 129-byte move id */
#define NUL_NUMBER "@nul"    /* "1\0" */

static const char *const bad_shards[] = {
    "-1", "1000001", "9223372036854775807", "9223372036854775808", "-9223372036854775809", "abc", "1.5", "1e3", " 1",
    "1 ", "", "0x10",
};
/* count and amount: 1 .. INT64_MAX */
static const char *const bad_numbers[] = {
    "0", "-1", "-9223372036854775808", "9223372036854775808", "18446744073709551615", "99999999999999999999",
    "abc", "1.5", "1e3", "0x10", " 1", "1 ", "", "01x",
};
static char long_id[MAX_MOVE_ID + 1];

static const sg_bad_case bad_cases[] = {
    /* arity: exactly 5 arguments after the name */
    {"ERR wrong number of arguments", {"SLOTS.SEND"}},
    {"ERR wrong number of arguments", {"SLOTS.SEND", "{b}:trial"}},
    {"ERR wrong number of arguments", {"SLOTS.SEND", "{b}:trial", "{b}:out"}},
    {"ERR wrong number of arguments", {"SLOTS.SEND", "{b}:trial", "{b}:out", "m"}},
    {"ERR wrong number of arguments", {"SLOTS.SEND", "{b}:trial", "{b}:out", "m", "1"}},
    {"ERR wrong number of arguments", {"SLOTS.SEND", "{b}:trial", "{b}:out", "m", "1", "2", "3"}},
    {"ERR wrong number of arguments", {"SLOTS.RECEIVE"}},
    {"ERR wrong number of arguments", {"SLOTS.RECEIVE", "{b}:trial"}},
    {"ERR wrong number of arguments", {"SLOTS.RECEIVE", "{b}:trial", "{b}:in"}},
    {"ERR wrong number of arguments", {"SLOTS.RECEIVE", "{b}:trial", "{b}:in", "m"}},
    {"ERR wrong number of arguments", {"SLOTS.RECEIVE", "{b}:trial", "{b}:in", "m", "1"}},
    {"ERR wrong number of arguments", {"SLOTS.RECEIVE", "{b}:trial", "{b}:in", "m", "1", "2", "3"}},
    /* move ids: 1 to 128 bytes */
    {"ERR invalid move id", {"SLOTS.SEND", "{b}:trial", "{b}:out", "", "1", "2"}},
    {"ERR invalid move id", {"SLOTS.SEND", "{b}:trial", "{b}:out", LONG_ID, "1", "2"}},
    {"ERR invalid move id", {"SLOTS.RECEIVE", "{b}:trial", "{b}:in", "", "1", "2"}},
    {"ERR invalid move id", {"SLOTS.RECEIVE", "{b}:trial", "{b}:in", LONG_ID, "1", "2"}},
    /* shard index: 0 .. 1000000 */
    {"ERR invalid shard", {"SLOTS.SEND", "{b}:trial", "{b}:out", "m", BAD_SHARD, "2"}},
    {"ERR invalid shard", {"SLOTS.RECEIVE", "{b}:trial", "{b}:in", "m", BAD_SHARD, "2"}},
    {"ERR invalid shard", {"SLOTS.SEND", "{b}:trial", "{b}:out", "m", NUL_NUMBER, "2"}},
    {"ERR invalid shard", {"SLOTS.RECEIVE", "{b}:trial", "{b}:in", "m", NUL_NUMBER, "2"}},
    /* count and amount: 1 .. INT64_MAX */
    {"ERR invalid count", {"SLOTS.SEND", "{b}:trial", "{b}:out", "m", "1", BAD_NUMBER}},
    {"ERR invalid count", {"SLOTS.SEND", "{b}:trial", "{b}:out", "sent", "1", BAD_NUMBER}},
    {"ERR invalid count", {"SLOTS.SEND", "{b}:trial", "{b}:out", "m", "1", NUL_NUMBER}},
    {"ERR invalid amount", {"SLOTS.RECEIVE", "{b}:trial", "{b}:in", "m", "1", BAD_NUMBER}},
    {"ERR invalid amount", {"SLOTS.RECEIVE", "{b}:trial", "{b}:in", "got", "1", BAD_NUMBER}},
    {"ERR invalid amount", {"SLOTS.RECEIVE", "{b}:trial", "{b}:in", "m", "1", NUL_NUMBER}},
    /* the capacity would pass INT64_MAX */
    {"ERR invalid amount", {"SLOTS.RECEIVE", "{b}:big", "{b}:in", "m", "1", "2"}},
    {"ERR invalid amount", {"SLOTS.RECEIVE", "{b}:big", "{b}:in", "m", "1", "9223372036854775807"}},
    /* no trial */
    {"NOTRIAL ", {"SLOTS.SEND", "{b}:none", "{b}:out", "m", "1", "2"}},
    {"NOTRIAL ", {"SLOTS.SEND", "{b}:none", "{b}:newbox", "m", "1", "2"}},
    {"NOTRIAL ", {"SLOTS.RECEIVE", "{b}:none", "{b}:in", "m", "1", "2"}},
    {"NOTRIAL ", {"SLOTS.RECEIVE", "{b}:none", "{b}:newbox", "m", "1", "2"}},
    /* the key is not a trial */
    {"WRONGTYPE ", {"SLOTS.SEND", "{b}:list", "{b}:out", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.SEND", "{b}:string", "{b}:out", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.SEND", "{b}:out", "{b}:out", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.SEND", "{b}:lock", "{b}:newbox", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.RECEIVE", "{b}:list", "{b}:in", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.RECEIVE", "{b}:string", "{b}:in", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.RECEIVE", "{b}:in", "{b}:in", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.RECEIVE", "{b}:lock", "{b}:newbox", "m", "1", "2"}},
    /* the box is not a hash */
    {"WRONGTYPE ", {"SLOTS.SEND", "{b}:trial", "{b}:list", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.SEND", "{b}:trial", "{b}:string", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.SEND", "{b}:trial", "{b}:trial", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.SEND", "{b}:trial", "{b}:other", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.SEND", "{b}:trial", "{b}:lock", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.SEND", "{b}:trial", "{b}:set", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.RECEIVE", "{b}:trial", "{b}:list", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.RECEIVE", "{b}:trial", "{b}:string", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.RECEIVE", "{b}:trial", "{b}:trial", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.RECEIVE", "{b}:trial", "{b}:other", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.RECEIVE", "{b}:trial", "{b}:lock", "m", "1", "2"}},
    {"WRONGTYPE ", {"SLOTS.RECEIVE", "{b}:big", "{b}:set", "m", "1", "2"}},
};

/* {b}:trial (capacity 10, 3 enrolled, waitlist 4), {b}:other (another trial), {b}:big (capacity
 * INT64_MAX - 1), {b}:out holding a sent move "sent", {b}:in holding a received move "got", a list,
 * a string, a set and a lock; {b}:none and {b}:newbox do not exist. */
static void make_bad_input_fixture(redisContext *c)
{
    make_trial(c, "{b}:trial", 10, 4, 3);
    make_trial(c, "{b}:other", 2, -1, 1);
    assert_int_equal(sg_command_integer(c, "SLOTS.INIT {b}:big 9223372036854775806"), 1);
    assert_int_equal(send_slots(c, "{b}:trial", "{b}:out", "sent", 1, 2), 2);
    assert_int_equal(receive_slots(c, "{b}:trial", "{b}:in", "got", 1, 2), 1);
    sg_command_integer(c, "RPUSH {b}:list a b");
    sg_command_status(c, "OK", "SET {b}:string 5");
    sg_command_integer(c, "SADD {b}:set m");
    assert_true(raw_lock_acquire(c, "{b}:lock", "owner", 100000000) > 0);
}

/* The trials' numbers, both boxes and the key count, read without DEBUG DIGEST. */
static char *fixture_picture(redisContext *c)
{
    static const char *const trials[] = {"{b}:trial", "{b}:other", "{b}:big"};
    char *out = malloc(1024);
    assert_non_null(out);
    size_t len = 0;
    for (size_t i = 0; i < 3; i++) {
        raw_trial_info t = raw_trial_info_of(c, trials[i]);
        len += (size_t)snprintf(out + len, 1024 - len, "%s=%lld/%lld/%lld/%lld ", trials[i], t.capacity, t.remaining,
                                t.enrolled, t.waitlisted);
    }
    static const char *const boxes[] = {"{b}:out", "{b}:in"};
    for (size_t i = 0; i < 2; i++) {
        redisReply *r = sg_command(c, "HGETALL %s", boxes[i]);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        len += (size_t)snprintf(out + len, 1024 - len, "%s:", boxes[i]);
        for (size_t k = 0; k < r->elements; k++)
            len += (size_t)snprintf(out + len, 1024 - len, "%s%s", k % 2 ? "=" : " ", r->element[k]->str);
        len += (size_t)snprintf(out + len, 1024 - len, " ");
        freeReplyObject(r);
    }
    snprintf(out + len, 1024 - len, "keys=%lld", sg_command_integer(c, "DBSIZE"));
    return out;
}

#define LIST(placeholder, values) {placeholder, values, sizeof(values) / sizeof(values[0])}

static void bad_input_is_rejected_with_a_coded_error_and_changes_nothing(void **state)
{
    (void)state;
    memset(long_id, 'i', MAX_MOVE_ID + 1);
    static const char *const codes[] = {"ERR ", "WRONGTYPE ", "NOTRIAL ", NULL};
    const sg_bad_substitution substitutions[] = {
        {LONG_ID, long_id, MAX_MOVE_ID + 1, "<129 bytes>"},
        {NUL_NUMBER, "1\0", 2, "<1\\0>"},
    };
    const sg_bad_value_list lists[] = {LIST(BAD_SHARD, bad_shards), LIST(BAD_NUMBER, bad_numbers)};
    const sg_bad_input_hooks hooks = {
        .make_fixture = make_bad_input_fixture,
        .picture = fixture_picture,
        .codes = codes,
        .substitutions = substitutions,
        .substitution_count = sizeof(substitutions) / sizeof(substitutions[0]),
        .lists = lists,
        .list_count = sizeof(lists) / sizeof(lists[0]),
        .max_ms = 2000,
    };
    sg_check_bad_inputs(sg_conn, bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]), &hooks);
}

static void the_limits_of_every_number_are_accepted(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 5, -1, 0);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "a", 0, 1), 1);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "b", 1000000, LLONG_MAX), 4);
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "a", 0, 1), 1);
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "b", 1000000, LLONG_MAX - 1), 1);
    assert_int_equal(capacity_of(sg_conn, TRIAL), LLONG_MAX);
    assert_entry(sg_conn, INBOX, "b", "1000000 9223372036854775806");
}

/* ---- dirty counter, WATCH, keyspace events -------------------------------------------------------- */

static long long dirty(redisContext *c)
{
    return sg_info_number(c, "rdb_changes_since_last_save");
}

/* The change of the dirty counter across one command line (words without spaces; reply freed). */
static long long dirty_delta(const char *line)
{
    long long before = dirty(sg_conn);
    freeReplyObject(sg_command(sg_conn, line));
    return dirty(sg_conn) - before;
}

/* {s}:trial capacity 10 with u1 u2, {s}:full (2 of 2 enrolled, 1 waitlisted), a move "done" sent
 * from {s}:trial and received into {s}:full, a list. */
static void make_side_effect_fixture(void)
{
    make_trial(sg_conn, TRIAL, 10, -1, 2);
    make_trial(sg_conn, "{s}:full", 2, 3, 3);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "done", 1, 1), 1);
    assert_int_equal(receive_slots(sg_conn, TRIAL, INBOX, "done", 1, 1), 1);
    sg_command_integer(sg_conn, "RPUSH {s}:list x");
}

static const char *const unchanging_lines[] = {
    "SLOTS.SEND {s}:trial {s}:out done 1 1",     /* a repeat */
    "SLOTS.SEND {s}:trial {s}:out done 2 5",     /* a repeat with other numbers */
    "SLOTS.SEND {s}:full {s}:out empty 1 1",     /* nothing free */
    "SLOTS.RECEIVE {s}:trial {s}:in done 1 1",   /* a repeat */
    "SLOTS.RECEIVE {s}:trial {s}:in done 1 9",   /* a repeat with another amount */
    "SLOTS.SEND {s}:trial {s}:list m 1 1",       /* WRONGTYPE box */
    "SLOTS.RECEIVE {s}:list {s}:in m 1 1",       /* WRONGTYPE key */
    "SLOTS.SEND {s}:none {s}:out m 1 1",         /* NOTRIAL */
    "SLOTS.RECEIVE {s}:trial {s}:in m 1 0",      /* invalid amount */
    "SLOTS.RECEIVE {s}:trial {s}:in m 1 9223372036854775807", /* overflow */
    "SLOTS.SEND {s}:trial {s}:out m 1000001 1",  /* invalid shard */
    "SLOTS.SEND {s}:trial {s}:out m 1",          /* arity */
};
#define UNCHANGING (sizeof(unchanging_lines) / sizeof(unchanging_lines[0]))

static void a_send_and_a_receive_that_change_the_trial_mark_the_dataset_dirty(void **state)
{
    (void)state;
    make_side_effect_fixture();
    if (dirty_delta("SLOTS.SEND {s}:trial {s}:out m1 1 3") < 1) fail_msg("a SEND of 3 left the dirty counter");
    if (dirty_delta("SLOTS.RECEIVE {s}:trial {s}:in m1 1 3") < 1) fail_msg("a RECEIVE of 3 left the dirty counter");
    if (dirty_delta("SLOTS.RECEIVE {s}:full {s}:in m2 1 1") < 1)
        fail_msg("a RECEIVE that promoted left the dirty counter");
}

static void repeats_empty_sends_and_errors_leave_the_dirty_counter(void **state)
{
    (void)state;
    make_side_effect_fixture();
    for (size_t i = 0; i < UNCHANGING; i++) {
        long long delta = dirty_delta(unchanging_lines[i]);
        if (delta != 0) fail_msg("%s moved the dirty counter by %lld", unchanging_lines[i], delta);
    }
    assert_int_equal(capacity_of(sg_conn, TRIAL), 10);
}

/* WATCH `watched` on a connection of its own, run `line` on sg_conn, then MULTI PING EXEC on the
 * watcher: 1 when the transaction ran, 0 when WATCH aborted it. */
static int transaction_runs_after(const char *watched, const char *line)
{
    redisContext *w = sg_group_open_client();
    char watch[256];
    snprintf(watch, sizeof(watch), "WATCH %s", watched);
    sg_command_status(w, "OK", watch);
    freeReplyObject(sg_command(sg_conn, line));
    sg_command_status(w, "OK", "MULTI");
    sg_command_status(w, "QUEUED", "PING");
    redisReply *r = sg_command(w, "EXEC");
    int ran = r->type == REDIS_REPLY_ARRAY;
    if (!ran && r->type != REDIS_REPLY_NIL) fail_msg("EXEC answered neither an array nor nil");
    freeReplyObject(r);
    sg_group_close_client(w);
    return ran;
}

static void a_real_move_aborts_a_transaction_watching_the_trial_or_the_box(void **state)
{
    (void)state;
    make_side_effect_fixture();
    assert_false(transaction_runs_after(TRIAL, "SLOTS.SEND {s}:trial {s}:out w1 1 1"));
    assert_false(transaction_runs_after(OUTBOX, "SLOTS.SEND {s}:trial {s}:out w2 1 1"));
    assert_false(transaction_runs_after(TRIAL, "SLOTS.RECEIVE {s}:trial {s}:in w1 1 1"));
    assert_false(transaction_runs_after(INBOX, "SLOTS.RECEIVE {s}:trial {s}:in w2 1 1"));
    assert_false(transaction_runs_after("{s}:newbox", "SLOTS.SEND {s}:trial {s}:newbox w3 1 1"));
    assert_int_equal(capacity_of(sg_conn, TRIAL), 9);
}

static void repeats_empty_sends_and_errors_keep_a_transaction_watching_both_keys(void **state)
{
    (void)state;
    make_side_effect_fixture();
    for (size_t i = 0; i < UNCHANGING; i++) {
        if (!transaction_runs_after("{s}:trial {s}:out {s}:in {s}:full", unchanging_lines[i]))
            fail_msg("%s aborted a transaction watching the trial and its boxes", unchanging_lines[i]);
    }
}

static redisContext *subscriber;

/* Subscribe to the keyspace events of `classes` (e.g. "Kd") of db 0 on a connection of the test's. */
static void subscribe_to_keyspace_events(const char *classes)
{
    sg_command_status(sg_conn, "OK", "CONFIG SET notify-keyspace-events %s", classes);
    subscriber = sg_group_open_client();
    redisReply *r = sg_command(subscriber, "PSUBSCRIBE __keyspace@0__:*");
    assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    freeReplyObject(r);
}

/* Run `line`, then SET a sentinel; the events up to the sentinel's, as "key:event" in order and
 * joined with spaces, must equal `expected` ("" for none). Bounded: at most 16 events are read.
 * The sentinel's set event needs class $: subscribe with it. */
static void assert_events(const char *line, const char *expected)
{
    freeReplyObject(sg_command(sg_conn, line));
    sg_command_status(sg_conn, "OK", "SET {s}:sentinel 1");
    char got[1024] = "";
    size_t len = 0;
    for (int n = 0;; n++) {
        void *reply = NULL;
        if (redisGetReply(subscriber, &reply) != REDIS_OK || reply == NULL)
            fail_msg("no keyspace event arrived after %s", line);
        redisReply *r = reply;
        assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 4);
        const char *key = strchr(r->element[2]->str, ':') + 1;
        char text[128];
        snprintf(text, sizeof(text), "%s:%s", key, r->element[3]->str);
        freeReplyObject(r);
        if (strcmp(text, "{s}:sentinel:set") == 0) break;
        if (n == 16) fail_msg("more than 16 events after %s", line);
        len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s", len ? " " : "", text);
    }
    if (strcmp(got, expected) != 0) fail_msg("after %s the events were \"%s\", expected \"%s\"", line, got, expected);
}

static int notifications_teardown(void **state)
{
    subscriber = NULL;
    freeReplyObject(sg_command(sg_conn, "CONFIG SET notify-keyspace-events %s", ""));
    return sg_group_close_clients(state);
}

static void a_real_move_notifies_its_event_on_the_trial_key(void **state)
{
    (void)state;
    make_side_effect_fixture();
    subscribe_to_keyspace_events("Kd$");
    assert_events("SLOTS.SEND {s}:trial {s}:out n1 1 2", "{s}:trial:slots.send");
    assert_events("SLOTS.RECEIVE {s}:trial {s}:in n1 1 2", "{s}:trial:slots.receive");
    assert_events("SLOTS.RECEIVE {s}:full {s}:in n2 1 1", "{s}:full:slots.receive");
}

static void repeats_empty_sends_and_errors_notify_nothing(void **state)
{
    (void)state;
    make_side_effect_fixture();
    subscribe_to_keyspace_events("KA");
    for (size_t i = 0; i < UNCHANGING; i++) assert_events(unchanging_lines[i], "");
}

/* ---- INFO ---------------------------------------------------------------------------------------- */

static const char *const counters[] = {
    "slotguard_slots_sent", "slotguard_slots_send_empty", "slotguard_slots_send_repeated",
    "slotguard_slots_received", "slotguard_slots_receive_repeated",
};
#define COUNTER_COUNT (sizeof(counters) / sizeof(counters[0]))

/* Every counter, from the slotguard_enroll section; fails when one is missing. */
static void read_counters(redisContext *c, long long *out)
{
    redisReply *r = sg_command(c, "INFO slotguard_enroll");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    int has_section = strstr(r->str, "# slotguard_enroll") != NULL;
    for (size_t i = 0; i < COUNTER_COUNT; i++) {
        out[i] = -1;
        size_t len = strlen(counters[i]);
        for (const char *p = r->str; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
            if (strncmp(p, counters[i], len) == 0 && p[len] == ':') {
                out[i] = strtoll(p + len + 1, NULL, 10);
                break;
            }
        }
    }
    freeReplyObject(r);
    if (!has_section) fail_msg("INFO has no section slotguard_enroll");
    for (size_t i = 0; i < COUNTER_COUNT; i++)
        if (out[i] < 0) fail_msg("INFO slotguard_enroll has no %s", counters[i]);
}

static void info_slotguard_enroll_counts_each_outcome_and_no_error(void **state)
{
    /* a server of its own: the group's counters of slots may have saturated in earlier tests */
    sg_fixture *f = *state;
    redisContext *c = sg_fixture_connect(f, sg_fixture_start(f, NULL));
    make_trial(c, TRIAL, 10, -1, 2);
    make_trial(c, "{s}:full", 1, -1, 1);
    long long before[COUNTER_COUNT], after[COUNTER_COUNT];
    read_counters(c, before);
    assert_int_equal(send_slots(c, TRIAL, OUTBOX, "a", 1, 3), 3);      /* sent += 3 */
    assert_int_equal(send_slots(c, TRIAL, OUTBOX, "b", 1, 100), 5);    /* sent += 5 */
    assert_int_equal(send_slots(c, TRIAL, OUTBOX, "a", 1, 3), 3);      /* send_repeated */
    assert_int_equal(send_slots(c, TRIAL, OUTBOX, "c", 1, 1), 0);      /* send_empty */
    assert_int_equal(send_slots(c, "{s}:full", OUTBOX, "d", 1, 1), 0); /* send_empty */
    assert_int_equal(receive_slots(c, TRIAL, INBOX, "a", 1, 4), 1);    /* received += 4 */
    assert_int_equal(receive_slots(c, TRIAL, INBOX, "b", 1, 6), 1);    /* received += 6 */
    assert_int_equal(receive_slots(c, TRIAL, INBOX, "a", 1, 4), 0);    /* receive_repeated */
    assert_int_equal(receive_slots(c, TRIAL, INBOX, "b", 1, 1), 0);    /* receive_repeated */
    /* errors count nowhere */
    sg_command_error(c, "NOTRIAL ", "SLOTS.SEND {s}:none %s e 1 1", OUTBOX);
    sg_command_error(c, "WRONGTYPE ", "SLOTS.RECEIVE %s %s e 1 1", TRIAL, TRIAL);
    sg_command_error(c, "ERR invalid amount", "SLOTS.RECEIVE %s %s e 1 " MAX_TEXT, TRIAL, INBOX);
    sg_command_error(c, "ERR invalid count", "SLOTS.SEND %s %s e 1 0", TRIAL, OUTBOX);
    read_counters(c, after);
    static const long long expected[COUNTER_COUNT] = {8, 2, 1, 10, 2};
    for (size_t i = 0; i < COUNTER_COUNT; i++)
        if (after[i] - before[i] != expected[i])
            fail_msg("%s grew by %lld, expected %lld", counters[i], after[i] - before[i], expected[i]);
}

/* The counters that add slots saturate at INT64_MAX instead of wrapping below zero. */
static void info_counters_of_slots_stay_at_int64_max_once_more_slots_have_moved(void **state)
{
    sg_fixture *f = *state;
    redisContext *c = sg_fixture_connect(f, sg_fixture_start(f, NULL));
    assert_int_equal(sg_command_integer(c, "SLOTS.INIT %s " MAX_TEXT, TRIAL), 1);
    assert_int_equal(send_slots(c, TRIAL, OUTBOX, "a", 1, LLONG_MAX), LLONG_MAX);
    assert_int_equal(receive_slots(c, TRIAL, INBOX, "a", 1, LLONG_MAX), 1);
    assert_int_equal(send_slots(c, TRIAL, OUTBOX, "b", 1, 5), 5);
    assert_int_equal(receive_slots(c, TRIAL, INBOX, "b", 1, 5), 1);
    long long now[COUNTER_COUNT];
    read_counters(c, now);
    assert_int_equal(now[0], LLONG_MAX);
    assert_int_equal(now[3], LLONG_MAX);
    assert_int_equal(capacity_of(c, TRIAL), LLONG_MAX);
}

/* ---- COMMAND INFO, COMMAND GETKEYS, COMMAND DOCS, deny-oom ---------------------------------------- */

static const char *const move_commands[] = {"slots.send", "slots.receive"};

/* A key spec of one key at argument `index`. */
static int is_single_key_spec(const redisReply *ks, long long index)
{
    const redisReply *begin = sg_map_get(ks, "begin_search"), *find = sg_map_get(ks, "find_keys");
    return sg_reply_is_text(sg_map_get(begin, "type"), "index") &&
           sg_map_integer(sg_map_get(begin, "spec"), "index") == index &&
           sg_reply_is_text(sg_map_get(find, "type"), "range") &&
           sg_map_integer(sg_map_get(find, "spec"), "lastkey") == 0 &&
           sg_map_integer(sg_map_get(find, "spec"), "keystep") == 1 && sg_list_has_word(sg_map_get(ks, "flags"), "RW");
}

static void command_info_declares_both_keys_the_flags_and_the_arity(void **state)
{
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        redisReply *r = sg_command(sg_conn, "COMMAND INFO %s", move_commands[i]);
        assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 1);
        const redisReply *e = r->element[0];
        char problem[300] = "";
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 9) {
            snprintf(problem, sizeof(problem), "no entry");
        } else if (!sg_reply_is_text(e->element[0], move_commands[i]) || e->element[1]->integer != 6) {
            snprintf(problem, sizeof(problem), "name or arity (%lld, expected 6)", e->element[1]->integer);
        } else if (!sg_list_has_word(e->element[2], "write") || !sg_list_has_word(e->element[2], "denyoom") ||
                   sg_list_has_word(e->element[2], "readonly") || sg_list_has_word(e->element[2], "fast")) {
            snprintf(problem, sizeof(problem), "the flags are not write denyoom");
        } else if (e->element[3]->integer != 1 || e->element[4]->integer != 2 || e->element[5]->integer != 1) {
            snprintf(problem, sizeof(problem), "keys first=%lld last=%lld step=%lld, expected 1 2 1",
                     e->element[3]->integer, e->element[4]->integer, e->element[5]->integer);
        } else if (e->element[8]->type != REDIS_REPLY_ARRAY || e->element[8]->elements != 2 ||
                   !is_single_key_spec(e->element[8]->element[0], 1) ||
                   !is_single_key_spec(e->element[8]->element[1], 2)) {
            snprintf(problem, sizeof(problem), "not two RW key specs, of the key at 1 and of the box at 2");
        }
        freeReplyObject(r);
        if (problem[0] != '\0') fail_msg("COMMAND INFO %s: %s", move_commands[i], problem);
    }
}

static void command_getkeys_names_the_trial_and_the_box(void **state)
{
    (void)state;
    static const char *const lines[] = {"SLOTS.SEND {s}:trial {s}:out m 1 2", "SLOTS.RECEIVE {s}:trial {s}:in m 1 2"};
    static const char *const boxes[] = {"{s}:out", "{s}:in"};
    for (size_t i = 0; i < 2; i++) {
        char line[128];
        snprintf(line, sizeof(line), "COMMAND GETKEYS %s", lines[i]);
        redisReply *r = sg_command(sg_conn, line);
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && sg_reply_is_text(r->element[0], TRIAL) &&
                 sg_reply_is_text(r->element[1], boxes[i]);
        freeReplyObject(r);
        if (!ok) fail_msg("%s: got %s", line, got);
    }
}

static void command_docs_describe_both_commands_since_0_4_0_with_two_key_arguments_first(void **state)
{
    (void)state;
    const sg_command_spec specs[] = {{"slots.send", 1, 1, 0, 6, 0}, {"slots.receive", 1, 1, 0, 6, 0}};
    sg_assert_command_docs(sg_conn, specs, 2);
    static const char *const names[2][5] = {{"key", "outbox", "move_id", "to", "count"},
                                            {"key", "inbox", "move_id", "from", "amount"}};
    static const char *const types[5] = {"key", "key", "string", "integer", "integer"};
    for (size_t i = 0; i < 2; i++) {
        redisReply *r = sg_command(sg_conn, "COMMAND DOCS %s", move_commands[i]);
        const redisReply *doc = sg_map_get(r, move_commands[i]);
        const redisReply *args = sg_map_get(doc, "arguments");
        char problem[200] = "";
        if (!sg_reply_is_text(sg_map_get(doc, "since"), "0.4.0")) {
            snprintf(problem, sizeof(problem), "since is not 0.4.0");
        } else if (args == NULL || args->type != REDIS_REPLY_ARRAY || args->elements != 5) {
            snprintf(problem, sizeof(problem), "not 5 arguments");
        } else {
            for (size_t a = 0; a < 5 && problem[0] == '\0'; a++) {
                if (!sg_reply_is_text(sg_map_get(args->element[a], "name"), names[i][a]) ||
                    !sg_reply_is_text(sg_map_get(args->element[a], "type"), types[a]))
                    snprintf(problem, sizeof(problem), "argument %zu is not %s (%s)", a + 1, names[i][a], types[a]);
                else if (a < 2 && sg_map_integer(args->element[a], "key_spec_index") != (long long)a)
                    snprintf(problem, sizeof(problem), "argument %zu is not key spec %zu", a + 1, a);
            }
        }
        freeReplyObject(r);
        if (problem[0] != '\0') fail_msg("COMMAND DOCS %s: %s", move_commands[i], problem);
    }
}

/* deny-oom: with memory over maxmemory (noeviction) both are refused before they run, even a
 * repeat; the teardown lifts the limit whatever happened. */
static void both_are_refused_when_memory_is_full(void **state)
{
    (void)state;
    make_trial(sg_conn, TRIAL, 10, -1, 0);
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m1", 1, 1), 1);
    char *before = sg_debug_digest(sg_conn);
    sg_command_status(sg_conn, "OK", "CONFIG SET maxmemory-policy noeviction");
    sg_command_status(sg_conn, "OK", "CONFIG SET maxmemory 1");
    sg_command_error(sg_conn, "OOM ", "SLOTS.SEND %s %s m2 1 1", TRIAL, OUTBOX);
    sg_command_error(sg_conn, "OOM ", "SLOTS.RECEIVE %s %s m2 1 1", TRIAL, INBOX);
    sg_command_error(sg_conn, "OOM ", "SLOTS.SEND %s %s m1 1 1", TRIAL, OUTBOX);
    sg_command_status(sg_conn, "OK", "CONFIG SET maxmemory 0");
    assert_digest_is(sg_conn, before, "SLOTS.SEND and SLOTS.RECEIVE refused for memory");
    assert_int_equal(send_slots(sg_conn, TRIAL, OUTBOX, "m2", 1, 1), 1);
}

static int lift_maxmemory(void **state)
{
    (void)state;
    freeReplyObject(sg_command(sg_conn, "CONFIG SET maxmemory 0"));
    return 0;
}

#define MOVE_TEST(name) cmocka_unit_test_setup_teardown(name, sg_group_flush, sg_group_close_clients)
#define NOTIFY_TEST(name) cmocka_unit_test_setup_teardown(name, sg_group_flush, notifications_teardown)
#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, sg_fixture_setup, sg_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        MOVE_TEST(send_gives_away_the_count_asked_when_that_many_slots_are_free),
        MOVE_TEST(send_gives_away_only_the_free_slots_when_more_are_asked),
        MOVE_TEST(send_records_the_receiving_shard_and_the_slots_sent_in_the_outbox),
        MOVE_TEST(send_keeps_the_other_fields_of_an_existing_outbox),
        MOVE_TEST(send_repeated_with_the_same_move_id_answers_the_recorded_amount_and_changes_nothing),
        MOVE_TEST(send_repeated_after_the_trial_changed_still_answers_the_recorded_amount),
        MOVE_TEST(a_move_id_already_in_a_box_is_never_applied_again_whatever_its_entry_says),
        MOVE_TEST(send_from_a_full_trial_sends_nothing_and_writes_no_outbox_entry),
        MOVE_TEST(send_from_a_trial_of_capacity_zero_sends_nothing),
        MOVE_TEST(send_from_a_trial_with_waitlisted_users_sends_nothing),
        MOVE_TEST(a_move_id_that_sent_nothing_sends_once_slots_are_free),
        MOVE_TEST(send_never_lowers_the_capacity_below_the_enrolled_users),
        MOVE_TEST(send_from_a_trial_resized_below_its_enrolled_users_sends_nothing_and_drops_nobody),
        MOVE_TEST(different_move_ids_each_send_until_no_slot_is_free),
        MOVE_TEST(send_of_the_largest_count_from_the_largest_trial_sends_it_all),
        MOVE_TEST(receive_adds_the_amount_and_records_the_sending_shard_and_the_amount),
        MOVE_TEST(receive_repeated_with_the_same_move_id_answers_zero_and_changes_nothing),
        MOVE_TEST(receive_into_a_trial_of_capacity_zero_makes_room),
        MOVE_TEST(receive_promotes_waitlisted_users_in_fifo_order),
        MOVE_TEST(receive_of_more_than_the_waitlist_promotes_everyone_and_leaves_the_rest_free),
        MOVE_TEST(receive_past_the_largest_capacity_is_an_error_and_changes_nothing),
        MOVE_TEST(binary_move_ids_are_kept_byte_for_byte),
        MOVE_TEST(a_move_id_of_128_bytes_is_accepted),
        MOVE_TEST(a_whole_move_keeps_the_sum_of_capacities),
        MOVE_TEST(a_move_cut_after_send_lowers_the_sum_by_exactly_what_was_sent),
        MOVE_TEST(finishing_a_cut_move_from_its_outbox_entry_restores_the_sum_exactly),
        MOVE_TEST(receive_repeated_after_the_outbox_entry_is_deleted_still_changes_nothing),
        MOVE_TEST(random_moves_all_finished_keep_the_sum_and_never_drop_an_enrolled_user),
        MOVE_TEST(bad_input_is_rejected_with_a_coded_error_and_changes_nothing),
        MOVE_TEST(the_limits_of_every_number_are_accepted),
        MOVE_TEST(a_send_and_a_receive_that_change_the_trial_mark_the_dataset_dirty),
        MOVE_TEST(repeats_empty_sends_and_errors_leave_the_dirty_counter),
        MOVE_TEST(a_real_move_aborts_a_transaction_watching_the_trial_or_the_box),
        MOVE_TEST(repeats_empty_sends_and_errors_keep_a_transaction_watching_both_keys),
        NOTIFY_TEST(a_real_move_notifies_its_event_on_the_trial_key),
        NOTIFY_TEST(repeats_empty_sends_and_errors_notify_nothing),
        FIXTURE_TEST(info_slotguard_enroll_counts_each_outcome_and_no_error),
        FIXTURE_TEST(info_counters_of_slots_stay_at_int64_max_once_more_slots_have_moved),
        MOVE_TEST(command_info_declares_both_keys_the_flags_and_the_arity),
        MOVE_TEST(command_getkeys_names_the_trial_and_the_box),
        MOVE_TEST(command_docs_describe_both_commands_since_0_4_0_with_two_key_arguments_first),
        cmocka_unit_test_setup_teardown(both_are_refused_when_memory_is_full, sg_group_flush, lift_maxmemory),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
