/* test_enroll_members_restore_and_bad_input.c -- ENROLL.MEMBERS paging and SLOTS.RESTORE in
 * README.md, what the trial commands tell about themselves (COMMAND INFO, COMMAND DOCS, INFO
 * slotguard counters), and how they refuse bad input (a coded error that changes nothing), against
 * a real redis-server with the module loaded.
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

#define INFO_ENROLL_COUNTER_FIELD "slotguard_enroll_enrolled"

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
        redisReply *r = raw_members_page(sg_conn, key, cursor, 100, 1, &next, &users);
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

/* ---- ENROLL.MEMBERS ------------------------------------------------------------------------ */

static void enroll_members_pages_through_all_users_in_arrival_order(void **state)
{
    (void)state;
    enum { USERS = 25, COUNT = 7 };
    sg_command_integer(sg_conn, "SLOTS.INIT trial 100");
    char name[32];
    for (int i = 0; i < USERS; i++) {
        snprintf(name, sizeof(name), "user-%02d", i);
        assert_int_equal(raw_enroll(sg_conn, "trial", name), 1);
    }
    int seen = 0, pages = 0;
    unsigned long long cursor = 0;
    do {
        unsigned long long next;
        const redisReply *users;
        redisReply *r = raw_members_page(sg_conn, "trial", cursor, COUNT, 0, &next, &users);
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
    sg_command_integer(sg_conn, "SLOTS.INIT trial 100");
    char name[32];
    for (int i = 0; i < 15; i++) {
        snprintf(name, sizeof(name), "user-%02d", i);
        raw_enroll(sg_conn, "trial", name);
    }
    redisReply *r = sg_command(sg_conn, "ENROLL.MEMBERS trial 0");
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
    sg_command_integer(sg_conn, "SLOTS.INIT trial 2 WAITLIST 2");
    raw_enroll(sg_conn, "trial", "a");
    raw_enroll(sg_conn, "trial", "b");
    raw_enroll(sg_conn, "trial", "w");
    raw_enroll_cancel(sg_conn, "trial", "a"); /* w (arrival 3) is promoted */
    raw_enroll(sg_conn, "trial", "x"); /* waitlisted, not a member */
    unsigned long long next;
    const redisReply *users;
    redisReply *r = raw_members_page(sg_conn, "trial", 0, 10, 1, &next, &users);
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
    sg_command_integer(sg_conn, "SLOTS.INIT trial 1000");
    char name[32];
    for (int i = 0; i < USERS; i++) {
        snprintf(name, sizeof(name), "u%d", i);
        assert_int_equal(raw_enroll(sg_conn, "trial", name), 1);
    }
    for (int i = 0; i < EARLY_CANCELLED; i++) {
        snprintf(name, sizeof(name), "u%d", i);
        assert_int_equal(raw_enroll_cancel(sg_conn, "trial", name), 1);
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
        redisReply *r = raw_members_page(sg_conn, "trial", cursor, 4, 1, &next, &users);
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
            assert_int_equal(raw_enroll_cancel(sg_conn, "trial", name), 1);
            steady[victim] = 0;
        }
        snprintf(name, sizeof(name), "n%d", page);
        assert_int_equal(raw_enroll(sg_conn, "trial", name), 1);
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
    sg_command_error(sg_conn, "NOTRIAL ", "ENROLL.MEMBERS nosuchtrial 0");
}

/* ---- SLOTS.RESTORE ------------------------------------------------------------------------- */

static void slots_restore_rebuilds_a_trial_with_the_given_arrival_numbers(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 2 WAITLIST 5");
    /* one list per call; users are appended to the named list */
    sg_command_status(sg_conn, "OK", "SLOTS.RESTORE trial 50 ENROLLED 3 alice 7 bob");
    sg_command_status(sg_conn, "OK", "SLOTS.RESTORE trial 100 WAITLISTED 9 carol");
    sg_command_status(sg_conn, "OK", "SLOTS.RESTORE trial 100 WAITLISTED 12 dave");
    raw_assert_trial_info(sg_conn, "trial", 2, 0, 2, 2, 5, 100);
    raw_assert_enroll_status(sg_conn, "trial", "alice", "enrolled", 3);
    raw_assert_enroll_status(sg_conn, "trial", "bob", "enrolled", 7);
    raw_assert_enroll_status(sg_conn, "trial", "carol", "waitlisted", 1);
    raw_assert_enroll_status(sg_conn, "trial", "dave", "waitlisted", 2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), -1);
    assert_int_equal(raw_enroll(sg_conn, "trial", "carol"), -2);
    assert_int_equal(raw_enroll(sg_conn, "trial", "erin"), 2);
    assert_int_equal(raw_enroll_cancel(sg_conn, "trial", "alice"), 1);
    raw_assert_enroll_status(sg_conn, "trial", "carol", "enrolled", 9);
    char *members = members_snapshot("trial");
    assert_string_equal(members, "bob=7\ncarol=9\n");
    free(members);
    raw_assert_trial_info(sg_conn, "trial", 2, 0, 2, 2, 5, 101);
    assert_int_equal(sg_command_integer(sg_conn, "SLOTS.RESIZE trial 4"), 2);
    members = members_snapshot("trial");
    assert_string_equal(members, "bob=7\ncarol=9\ndave=12\nerin=100\n");
    free(members);
}

static void slots_restore_changes_nothing_when_one_pair_is_bad(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 5 WAITLIST 5");
    raw_enroll(sg_conn, "trial", "first");
    char *before = sg_debug_digest(sg_conn);
    char *members_before = members_snapshot("trial");
    sg_command_error(sg_conn, "ERR invalid arrival", "SLOTS.RESTORE trial 100 ENROLLED 3 alice 2 bob");
    sg_command_error(sg_conn, "ERR duplicate user", "SLOTS.RESTORE trial 100 ENROLLED 3 alice 4 alice");
    sg_command_error(sg_conn, "ERR duplicate user", "SLOTS.RESTORE trial 100 WAITLISTED 3 alice 4 first");
    sg_command_error(sg_conn, "ERR invalid user", "SLOTS.RESTORE trial 100 ENROLLED 3 alice 4 %b", "", (size_t)0);
    sg_command_error(sg_conn, "ERR syntax error", "SLOTS.RESTORE trial 100 ENROLLED 3 alice 4");
    sg_command_error(sg_conn, "ERR ", "SLOTS.RESTORE trial 100 ENROLLED 3 alice 4 bob WAITLISTED 5 carol");
    sg_command_error(sg_conn, "ERR ", "SLOTS.RESTORE trial 100 ENROLLED 3 alice x bob");
    char *after = sg_debug_digest(sg_conn);
    char *members_after = members_snapshot("trial");
    assert_string_equal(before, after);
    assert_string_equal(members_before, members_after);
    free(before);
    free(after);
    free(members_before);
    free(members_after);
    raw_assert_trial_info(sg_conn, "trial", 5, 4, 1, 0, 5, 2);
    raw_assert_enroll_status(sg_conn, "trial", "alice", "none", 0);
}

static void slots_restore_answers_notrial_for_a_missing_key(void **state)
{
    (void)state;
    sg_command_error(sg_conn, "NOTRIAL ", "SLOTS.RESTORE nosuchtrial 10 ENROLLED 1 alice");
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS nosuchtrial"), 0);
}

/* ---- COMMAND DOCS, COMMAND INFO, INFO ------------------------------------------------------ */

/* name, write, denyoom, fast, arity (0: not checked), skip_flags */
static const sg_command_spec commands[] = {
    {"slots.init", 1, 1, 1, 0, 0},     {"enroll", 1, 1, 1, 0, 0},     {"enroll.cancel", 1, 0, 1, 0, 0},
    {"enroll.status", 0, 0, 1, 0, 0},  {"slots.info", 0, 0, 1, 0, 0}, {"slots.resize", 1, 1, 0, 0, 0},
    {"enroll.members", 0, 0, 0, 0, 0}, {"slots.restore", 1, 1, 0, 0, 0},
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void command_info_describes_every_command_with_key_position_one(void **state)
{
    (void)state;
    sg_assert_command_info(sg_conn, commands, COMMAND_COUNT);
}

static void command_docs_describe_every_command(void **state)
{
    (void)state;
    sg_assert_command_docs(sg_conn, commands, COMMAND_COUNT);
}

static void info_slotguard_counters_increase_after_an_enroll(void **state)
{
    (void)state;
    sg_command_integer(sg_conn, "SLOTS.INIT trial 5");
    if (sg_info_counter_sum(sg_conn, "slotguard_") < 0) fail_msg("INFO slotguard has no slotguard_ fields");
    long long before = sg_info_counter_sum(sg_conn, INFO_ENROLL_COUNTER_FIELD ":");
    if (before < 0) fail_msg("INFO slotguard has no %s counter", INFO_ENROLL_COUNTER_FIELD);
    assert_int_equal(raw_enroll(sg_conn, "trial", "alice"), 1);
    assert_int_equal(sg_info_counter_sum(sg_conn, INFO_ENROLL_COUNTER_FIELD ":"), before + 1);
}

/* ---- bad input ----------------------------------------------------------------------------- */

#define LONG_USER "@513" /* replaced by a 513-byte user id */

static const sg_bad_case bad_cases[] = {
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
static void make_bad_input_fixture(redisContext *c)
{
    sg_command_integer(c, "SLOTS.INIT bad:trial 2 WAITLIST 2");
    assert_int_equal(raw_enroll(c, "bad:trial", "a"), 1);
    assert_int_equal(raw_enroll(c, "bad:trial", "b"), 1);
    assert_int_equal(raw_enroll(c, "bad:trial", "c"), 2);
    sg_command_status(c, "OK", "SET bad:string hello");
    sg_command_integer(c, "RPUSH bad:list x");
}

/* A text picture of the fixture trial that does not rely on the module's digest callback. */
static char *fixture_picture(redisContext *c)
{
    raw_trial_info i = raw_trial_info_of(c, "bad:trial");
    char *members = members_snapshot("bad:trial");
    char state_name[32];
    long long position;
    raw_enroll_status(c, "bad:trial", "c", 1, state_name, sizeof(state_name), &position);
    size_t size = strlen(members) + 256;
    char *out = malloc(size);
    assert_non_null(out);
    snprintf(out, size, "%lld %lld %lld %lld %lld %lld | %s | c=%s:%lld | keys=%lld", i.capacity, i.remaining,
             i.enrolled, i.waitlisted, i.waitlist_max, i.next_arrival, members, state_name, position,
             sg_command_integer(c, "DBSIZE"));
    free(members);
    return out;
}

static char long_user[513];

static void bad_input_is_rejected_with_a_coded_error_and_changes_nothing(void **state)
{
    (void)state;
    memset(long_user, 'u', sizeof(long_user));
    static const char *const codes[] = {"ERR ", "WRONGTYPE ", "NOTRIAL ", NULL};
    const sg_bad_substitution substitutions[] = {{LONG_USER, long_user, sizeof(long_user), "<513 bytes>"}};
    const sg_bad_input_hooks hooks = {
        .make_fixture = make_bad_input_fixture,
        .picture = fixture_picture,
        .codes = codes,
        .substitutions = substitutions,
        .substitution_count = 1,
    };
    sg_check_bad_inputs(sg_conn, bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]), &hooks);
}

#define ENROLL_TEST(name) cmocka_unit_test_setup(name, sg_group_flush)

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENROLL_TEST(enroll_members_pages_through_all_users_in_arrival_order),
        ENROLL_TEST(enroll_members_count_defaults_to_ten),
        ENROLL_TEST(enroll_members_witharrivals_alternates_users_and_arrival_numbers),
        ENROLL_TEST(enroll_members_returns_each_steady_user_exactly_once_while_the_trial_changes),
        ENROLL_TEST(enroll_members_answers_notrial_for_a_missing_key),
        ENROLL_TEST(slots_restore_rebuilds_a_trial_with_the_given_arrival_numbers),
        ENROLL_TEST(slots_restore_changes_nothing_when_one_pair_is_bad),
        ENROLL_TEST(slots_restore_answers_notrial_for_a_missing_key),
        ENROLL_TEST(command_info_describes_every_command_with_key_position_one),
        ENROLL_TEST(command_docs_describe_every_command),
        ENROLL_TEST(info_slotguard_counters_increase_after_an_enroll),
        ENROLL_TEST(bad_input_is_rejected_with_a_coded_error_and_changes_nothing),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
