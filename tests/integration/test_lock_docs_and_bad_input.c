/* test_lock_docs_and_bad_input.c -- what the lock commands tell about themselves (COMMAND INFO,
 * COMMAND DOCS, INFO slotguard counters) and how they refuse bad input (arity, options, times,
 * owners, key types: a coded error that changes nothing), as README.md ("## Lock commands") states,
 * against a real redis-server with the module loaded.
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

#define NOT_BLOCKED_LIMIT_MS 1000 /* a command that must not block answers well within this */

/* ---- COMMAND DOCS, COMMAND INFO, INFO ------------------------------------------------------ */

/* name, write, denyoom, fast, arity (0: not checked), skip_flags */
static const sg_command_spec commands[] = {
    {"lock.acquire", 1, 1, 1, 0, 0}, {"lock.release", 1, 0, 1, 0, 0}, {"lock.extend", 1, 0, 1, 0, 0},
    {"lock.info", 0, 0, 1, 0, 0},    {"lock.grant", 1, 1, 0, 0, 0},
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void command_info_describes_every_lock_command_with_key_position_one(void **state)
{
    (void)state;
    sg_assert_command_info(sg_conn, commands, COMMAND_COUNT);
}

static void command_docs_describe_every_lock_command(void **state)
{
    (void)state;
    sg_assert_command_docs(sg_conn, commands, COMMAND_COUNT);
}

static void info_slotguard_lock_counters_increase_after_an_acquire(void **state)
{
    (void)state;
    long long before = sg_info_counter_sum(sg_conn, "slotguard_lock");
    if (before < 0) fail_msg("INFO slotguard has no line starting with slotguard_lock");
    raw_lock_acquire(sg_conn, "lock", "alice", 10000);
    long long after = sg_info_counter_sum(sg_conn, "slotguard_lock");
    if (after <= before) fail_msg("slotguard_lock counters stayed at %lld after a grant", before);
}

/* ---- bad input -------------------------------------------------------------------------------- */

#define LONG_OWNER "@513" /* replaced by a 513-byte owner */
#define BAD_NUMBER "@num" /* the case is run once per entry of bad_numbers */

/* Times are integers of milliseconds from 1 to 1000000000000. */
static const char *const bad_numbers[] = {
    "0", "-1", "-9223372036854775808", "abc", "1.5", "10ms", " 5", "", "9223372036854775808",
    "99999999999999999999", "1000000000001",
};

static const sg_bad_case bad_cases[] = {
    /* wrong arity */
    {"ERR wrong number of arguments", {"LOCK.ACQUIRE"}},
    {"ERR wrong number of arguments", {"LOCK.ACQUIRE", "bad:free"}},
    {"ERR wrong number of arguments", {"LOCK.ACQUIRE", "bad:free", "o"}},
    {"ERR wrong number of arguments", {"LOCK.RELEASE"}},
    {"ERR wrong number of arguments", {"LOCK.RELEASE", "bad:lock"}},
    {"ERR wrong number of arguments", {"LOCK.RELEASE", "bad:lock", "holder", "x"}},
    {"ERR wrong number of arguments", {"LOCK.EXTEND", "bad:lock", "holder"}},
    {"ERR wrong number of arguments", {"LOCK.EXTEND", "bad:lock", "holder", "1000", "x"}},
    {"ERR wrong number of arguments", {"LOCK.INFO"}},
    {"ERR wrong number of arguments", {"LOCK.INFO", "bad:lock", "x"}},
    {"ERR wrong number of arguments", {"LOCK.GRANT", "bad:free", "o", "5"}},
    {"ERR wrong number of arguments", {"LOCK.GRANT", "bad:free", "o", "5", "99999999999999", "1", "x"}},
    /* options */
    {"ERR ", {"LOCK.ACQUIRE", "bad:free", "o", "1000", "WAIT"}},
    {"ERR syntax error", {"LOCK.ACQUIRE", "bad:free", "o", "1000", "FOO"}},
    {"ERR syntax error", {"LOCK.ACQUIRE", "bad:free", "o", "1000", "REENTRANT", "FOO"}},
    {"ERR syntax error", {"LOCK.ACQUIRE", "bad:free", "o", "1000", "WAIT", "100", "FOO"}},
    {"ERR syntax error", {"LOCK.ACQUIRE", "bad:free", "o", "1000", "WAIT", "100", "100"}},
    {"ERR syntax error", {"LOCK.ACQUIRE", "bad:lock", "holder", "1000", "FOO"}},
    /* bad times, each run with every entry of bad_numbers */
    {"ERR invalid ttl", {"LOCK.ACQUIRE", "bad:free", "o", BAD_NUMBER}},
    {"ERR invalid ttl", {"LOCK.ACQUIRE", "bad:lock", "holder", BAD_NUMBER}},
    {"ERR invalid ttl", {"LOCK.ACQUIRE", "bad:free", "o", BAD_NUMBER, "WAIT", "100"}},
    {"ERR invalid ttl", {"LOCK.ACQUIRE", "bad:lock", "holder", BAD_NUMBER, "REENTRANT"}},
    {"ERR invalid timeout", {"LOCK.ACQUIRE", "bad:free", "o", "1000", "WAIT", BAD_NUMBER}},
    {"ERR invalid timeout", {"LOCK.ACQUIRE", "bad:lock", "other", "1000", "WAIT", BAD_NUMBER}},
    {"ERR invalid timeout", {"LOCK.ACQUIRE", "bad:lock", "holder", "1000", "WAIT", BAD_NUMBER}},
    {"ERR invalid ttl", {"LOCK.EXTEND", "bad:lock", "holder", BAD_NUMBER}},
    {"ERR invalid ttl", {"LOCK.EXTEND", "bad:free", "o", BAD_NUMBER}},
    /* empty and over-long owners */
    {"ERR invalid owner", {"LOCK.ACQUIRE", "bad:free", "", "1000"}},
    {"ERR invalid owner", {"LOCK.ACQUIRE", "bad:lock", "", "1000", "WAIT", "100"}},
    {"ERR invalid owner", {"LOCK.ACQUIRE", "bad:free", LONG_OWNER, "1000"}},
    {"ERR invalid owner", {"LOCK.ACQUIRE", "bad:lock", LONG_OWNER, "1000", "WAIT", "100"}},
    {"ERR invalid owner", {"LOCK.RELEASE", "bad:lock", ""}},
    {"ERR invalid owner", {"LOCK.RELEASE", "bad:lock", LONG_OWNER}},
    {"ERR invalid owner", {"LOCK.EXTEND", "bad:lock", "", "1000"}},
    {"ERR invalid owner", {"LOCK.EXTEND", "bad:lock", LONG_OWNER, "1000"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "", "5", "99999999999999", "1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", LONG_OWNER, "5", "99999999999999", "1"}},
    /* LOCK.GRANT fields */
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "0", "99999999999999", "1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "-1", "99999999999999", "1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "abc", "99999999999999", "1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "99999999999999999999", "99999999999999", "1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "5", "abc", "1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "5", "99999999999999", "0"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "5", "99999999999999", "-1"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:free", "o", "5", "99999999999999", "abc"}},
    {"ERR invalid", {"LOCK.GRANT", "bad:lock", "holder", "5", "99999999999999", "0"}},
    /* wrong key types: a string and a trial */
    {"WRONGTYPE ", {"LOCK.ACQUIRE", "bad:string", "o", "1000"}},
    {"WRONGTYPE ", {"LOCK.ACQUIRE", "bad:string", "o", "1000", "WAIT", "100"}},
    {"WRONGTYPE ", {"LOCK.ACQUIRE", "bad:string", "o", "1000", "REENTRANT"}},
    {"WRONGTYPE ", {"LOCK.RELEASE", "bad:string", "o"}},
    {"WRONGTYPE ", {"LOCK.EXTEND", "bad:string", "o", "1000"}},
    {"WRONGTYPE ", {"LOCK.INFO", "bad:string"}},
    {"WRONGTYPE ", {"LOCK.GRANT", "bad:string", "o", "5", "99999999999999", "1"}},
    {"WRONGTYPE ", {"LOCK.ACQUIRE", "bad:trial", "o", "1000"}},
    {"WRONGTYPE ", {"LOCK.ACQUIRE", "bad:trial", "o", "1000", "WAIT", "100"}},
    {"WRONGTYPE ", {"LOCK.RELEASE", "bad:trial", "o"}},
    {"WRONGTYPE ", {"LOCK.EXTEND", "bad:trial", "o", "1000"}},
    {"WRONGTYPE ", {"LOCK.INFO", "bad:trial"}},
    {"WRONGTYPE ", {"LOCK.GRANT", "bad:trial", "o", "5", "99999999999999", "1"}},
    /* trial commands on a lock */
    {"WRONGTYPE ", {"ENROLL", "bad:lock", "x"}},
    {"WRONGTYPE ", {"SLOTS.INFO", "bad:lock"}},
};

/* bad:lock held by "holder" for a long time, bad:string, bad:trial; bad:free does not exist. */
static void make_bad_input_fixture(redisContext *c)
{
    assert_true(raw_lock_acquire(c, "bad:lock", "holder", 100000000) >= 1);
    sg_command_status(c, "OK", "SET bad:string hello");
    sg_command_integer(c, "SLOTS.INIT bad:trial 2");
}

/* A text picture of the fixture that does not rely on the module's digest callback. */
static char *fixture_picture(redisContext *c)
{
    raw_lock_info i = raw_lock_info_of(c, "bad:lock");
    char *out = malloc(256);
    assert_non_null(out);
    snprintf(out, 256, "held=%d owner=%.*s token=%lld holds=%lld waiters=%lld free=%lld keys=%lld string=%s", i.held,
             (int)i.owner_len, i.owner, i.token, i.holds, i.waiters, sg_exists(c, "bad:free"),
             sg_command_integer(c, "DBSIZE"), sg_command_integer(c, "STRLEN bad:string") == 5 ? "ok" : "changed");
    return out;
}

static char long_owner[RAW_LOCK_MAX_OWNER_LEN + 1];

static void bad_input_is_rejected_with_a_coded_error_and_changes_nothing(void **state)
{
    (void)state;
    memset(long_owner, 'o', sizeof(long_owner));
    static const char *const codes[] = {"ERR ", "WRONGTYPE ", NULL};
    const sg_bad_substitution substitutions[] = {{LONG_OWNER, long_owner, sizeof(long_owner), "<513 bytes>"}};
    const sg_bad_value_list lists[] = {{BAD_NUMBER, bad_numbers, sizeof(bad_numbers) / sizeof(bad_numbers[0])}};
    const sg_bad_input_hooks hooks = {
        .make_fixture = make_bad_input_fixture,
        .picture = fixture_picture,
        .codes = codes,
        .substitutions = substitutions,
        .substitution_count = 1,
        .lists = lists,
        .list_count = 1,
        .max_ms = NOT_BLOCKED_LIMIT_MS,
    };
    sg_check_bad_inputs(sg_conn, bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]), &hooks);
}

#define LOCK_TEST(name) cmocka_unit_test_setup(name, sg_group_flush)

int main(void)
{
    const struct CMUnitTest tests[] = {
        LOCK_TEST(command_info_describes_every_lock_command_with_key_position_one),
        LOCK_TEST(command_docs_describe_every_lock_command),
        LOCK_TEST(info_slotguard_lock_counters_increase_after_an_acquire),
        LOCK_TEST(bad_input_is_rejected_with_a_coded_error_and_changes_nothing),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
