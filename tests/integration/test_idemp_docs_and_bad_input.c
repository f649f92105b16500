/* test_idemp_docs_and_bad_input.c -- what the idempotency commands tell about themselves (COMMAND
 * INFO, COMMAND DOCS, the INFO slotguard counters of each outcome) and how they refuse bad input
 * (arity, ttl, lease, token, deadline, fingerprints, state words, key types: a coded error that
 * changes nothing), as README.md ("## Idempotency commands") states, against a real redis-server
 * with the module loaded.
 *
 * One server for the whole group; every test starts from an empty dataset (FLUSHALL in the per-test
 * setup). One behaviour per test function. Waits for a lease to end are bounded polls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raw_commands.h"

#define MAX_FINGERPRINT_LEN 1024
#define LONG_LEASE_MS 100000000LL /* about 28 hours: never ends during a test */

/* ---- COMMAND DOCS, COMMAND INFO, INFO ------------------------------------------------------ */

/* name, write, denyoom, fast, arity, skip_flags (README states no denyoom and fast for IDEMP.RECORD) */
static const sg_command_spec commands[] = {
    {"idemp.setnx", 1, 1, 1, -3, 0}, {"idemp.begin", 1, 1, 1, 4, 0}, {"idemp.complete", 1, 1, 0, 5, 0},
    {"idemp.abort", 1, 0, 1, 3, 0},  {"idemp.get", 0, 0, 1, 2, 0},   {"idemp.record", 1, 0, 0, -6, 1},
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void command_info_describes_every_idemp_command_with_key_position_one(void **state)
{
    (void)state;
    sg_assert_command_info(sg_conn, commands, COMMAND_COUNT);
}

static void command_docs_describe_every_idemp_command(void **state)
{
    (void)state;
    sg_assert_command_docs(sg_conn, commands, COMMAND_COUNT);
}

static const char *const idemp_counters[] = {
    "slotguard_idemp_setnx_recorded",  "slotguard_idemp_setnx_seen",        "slotguard_idemp_begin_new",
    "slotguard_idemp_begin_in_progress", "slotguard_idemp_begin_completed", "slotguard_idemp_begin_mismatch",
    "slotguard_idemp_complete_stored", "slotguard_idemp_complete_lost",     "slotguard_idemp_abort_freed",
    "slotguard_idemp_abort_not_held",
};
#define COUNTER_COUNT (sizeof(idemp_counters) / sizeof(idemp_counters[0]))

/* Every counter of INFO slotguard named in README; fails when one is missing. */
static void read_counters(long long *out)
{
    redisReply *r = sg_command(sg_conn, "INFO slotguard");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    for (size_t i = 0; i < COUNTER_COUNT; i++) {
        out[i] = -1;
        size_t len = strlen(idemp_counters[i]);
        const char *p = r->str;
        while (p != NULL && *p != '\0') {
            if (strncmp(p, idemp_counters[i], len) == 0 && p[len] == ':') {
                out[i] = strtoll(p + len + 1, NULL, 10);
                break;
            }
            p = strchr(p, '\n');
            if (p != NULL) p++;
        }
    }
    freeReplyObject(r);
    for (size_t i = 0; i < COUNTER_COUNT; i++) {
        if (out[i] < 0) fail_msg("INFO slotguard has no %s", idemp_counters[i]);
    }
}

static void info_slotguard_idemp_counters_count_each_outcome(void **state)
{
    (void)state;
    long long before[COUNTER_COUNT], after[COUNTER_COUNT];
    read_counters(before);
    sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 100");      /* setnx_recorded */
    sg_command_integer(sg_conn, "IDEMP.SETNX msg:1 100");      /* setnx_seen */
    long long token = raw_idemp_begin_new(sg_conn, "req:1", "fp", 5000);       /* begin_new */
    raw_idemp_begin_in_progress(sg_conn, "req:1", "fp", 5000);                 /* begin_in_progress */
    raw_idemp_begin_mismatch(sg_conn, "req:1", "other", "in_progress");        /* begin_mismatch */
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token + 1, "r", 60), 0); /* complete_lost */
    assert_int_equal(raw_idemp_complete(sg_conn, "req:1", token, "r", 60), 1); /* complete_stored */
    raw_idemp_begin_completed(sg_conn, "req:1", "fp", "r");                    /* begin_completed */
    long long other = raw_idemp_begin_new(sg_conn, "req:2", "fp", 5000);       /* begin_new */
    assert_int_equal(raw_idemp_abort(sg_conn, "req:2", other + 1), 0); /* abort_not_held */
    assert_int_equal(raw_idemp_abort(sg_conn, "req:2", other), 1);     /* abort_freed */
    read_counters(after);
    static const long long expected[COUNTER_COUNT] = {1, 1, 2, 1, 1, 1, 1, 1, 1, 1};
    for (size_t i = 0; i < COUNTER_COUNT; i++) {
        if (after[i] - before[i] != expected[i]) {
            fail_msg("%s grew by %lld, expected %lld", idemp_counters[i], after[i] - before[i], expected[i]);
        }
    }
}

/* ---- bad input -------------------------------------------------------------------------------- */

#define BAD_TTL "@ttl"       /* run once per entry of bad_ttls */
#define BAD_LEASE "@lease"   /* run once per entry of bad_leases */
#define BAD_TOKEN "@token"   /* run once per entry of bad_tokens */
#define BAD_DEADLINE "@dl"   /* run once per entry of bad_deadlines */
#define OPEN_TOKEN "@owner"  /* replaced by the token that owns bad:open */
#define LONG_FP "@1025"      /* replaced by a 1025-byte fingerprint */
#define FAR_DEADLINE "99999999999999"

/* ttl: integer seconds from 1 to 1000000000 */
static const char *const bad_ttls[] = {
    "0", "-1", "-9223372036854775808", "abc", "1.5", "10s", " 5", "", "9223372036854775808",
    "99999999999999999999", "1000000001",
};
/* lease: integer ms from 1 to 10^12 */
static const char *const bad_leases[] = {
    "0", "-1", "-9223372036854775808", "abc", "1.5", "10ms", " 5", "", "9223372036854775808",
    "99999999999999999999", "1000000000001",
};
static const char *const bad_tokens[] = {
    "0", "-1", "-9223372036854775808", "abc", "1.5", "", "9223372036854775808", "99999999999999999999",
};
static const char *const bad_deadlines[] = {"-1", "abc", "1.5", "", "99999999999999999999"};

static const sg_bad_case bad_cases[] = {
    /* wrong arity */
    {"ERR wrong number of arguments", {"IDEMP.SETNX"}},
    {"ERR wrong number of arguments", {"IDEMP.SETNX", "bad:free"}},
    {"ERR wrong number of arguments", {"IDEMP.SETNX", "bad:free", "10", "v", "x"}},
    {"ERR wrong number of arguments", {"IDEMP.BEGIN"}},
    {"ERR wrong number of arguments", {"IDEMP.BEGIN", "bad:free"}},
    {"ERR wrong number of arguments", {"IDEMP.BEGIN", "bad:free", "fp"}},
    {"ERR wrong number of arguments", {"IDEMP.BEGIN", "bad:free", "fp", "1000", "x"}},
    {"ERR wrong number of arguments", {"IDEMP.COMPLETE"}},
    {"ERR wrong number of arguments", {"IDEMP.COMPLETE", "bad:open"}},
    {"ERR wrong number of arguments", {"IDEMP.COMPLETE", "bad:open", OPEN_TOKEN}},
    {"ERR wrong number of arguments", {"IDEMP.COMPLETE", "bad:open", OPEN_TOKEN, "r"}},
    {"ERR wrong number of arguments", {"IDEMP.COMPLETE", "bad:open", OPEN_TOKEN, "r", "10", "x"}},
    {"ERR wrong number of arguments", {"IDEMP.ABORT"}},
    {"ERR wrong number of arguments", {"IDEMP.ABORT", "bad:open"}},
    {"ERR wrong number of arguments", {"IDEMP.ABORT", "bad:open", OPEN_TOKEN, "x"}},
    {"ERR wrong number of arguments", {"IDEMP.GET"}},
    {"ERR wrong number of arguments", {"IDEMP.GET", "bad:open", "x"}},
    {"ERR wrong number of arguments", {"IDEMP.RECORD"}},
    {"ERR wrong number of arguments", {"IDEMP.RECORD", "bad:free", "IN_PROGRESS", "fp", "5"}},
    {"ERR wrong number of arguments", {"IDEMP.RECORD", "bad:free", "COMPLETED", "fp", "5", FAR_DEADLINE, "r", "x"}},
    /* bad ttl, lease, token and deadline values (each run with every entry of its list) */
    {"ERR invalid ttl", {"IDEMP.SETNX", "bad:free", BAD_TTL}},
    {"ERR invalid ttl", {"IDEMP.SETNX", "bad:free", BAD_TTL, "value"}},
    {"ERR invalid lease", {"IDEMP.BEGIN", "bad:free", "fp", BAD_LEASE}},
    {"ERR invalid lease", {"IDEMP.BEGIN", "bad:open", "fp-open", BAD_LEASE}},
    {"ERR invalid lease", {"IDEMP.BEGIN", "bad:done", "fp-done", BAD_LEASE}},
    {"ERR invalid ttl", {"IDEMP.COMPLETE", "bad:open", OPEN_TOKEN, "response", BAD_TTL}},
    {"ERR invalid ttl", {"IDEMP.COMPLETE", "bad:free", "5", "response", BAD_TTL}},
    {"ERR invalid token", {"IDEMP.COMPLETE", "bad:open", BAD_TOKEN, "response", "10"}},
    {"ERR invalid token", {"IDEMP.COMPLETE", "bad:free", BAD_TOKEN, "response", "10"}},
    {"ERR invalid token", {"IDEMP.ABORT", "bad:open", BAD_TOKEN}},
    {"ERR invalid token", {"IDEMP.ABORT", "bad:free", BAD_TOKEN}},
    {"ERR invalid token", {"IDEMP.RECORD", "bad:free", "IN_PROGRESS", "fp", BAD_TOKEN, FAR_DEADLINE}},
    {"ERR invalid token", {"IDEMP.RECORD", "bad:open", "COMPLETED", "fp", BAD_TOKEN, FAR_DEADLINE, "r"}},
    {"ERR ", {"IDEMP.RECORD", "bad:free", "IN_PROGRESS", "fp", "5", BAD_DEADLINE}},
    {"ERR ", {"IDEMP.RECORD", "bad:open", "COMPLETED", "fp", "5", BAD_DEADLINE, "r"}},
    /* fingerprints: 1 to 1024 bytes */
    {"ERR invalid fingerprint", {"IDEMP.BEGIN", "bad:free", "", "1000"}},
    {"ERR invalid fingerprint", {"IDEMP.BEGIN", "bad:free", LONG_FP, "1000"}},
    {"ERR invalid fingerprint", {"IDEMP.BEGIN", "bad:open", "", "1000"}},
    {"ERR invalid fingerprint", {"IDEMP.BEGIN", "bad:done", LONG_FP, "1000"}},
    {"ERR invalid fingerprint", {"IDEMP.RECORD", "bad:free", "IN_PROGRESS", "", "5", FAR_DEADLINE}},
    {"ERR invalid fingerprint", {"IDEMP.RECORD", "bad:free", "IN_PROGRESS", LONG_FP, "5", FAR_DEADLINE}},
    {"ERR invalid fingerprint", {"IDEMP.RECORD", "bad:open", "COMPLETED", LONG_FP, "5", FAR_DEADLINE, "r"}},
    /* IDEMP.RECORD's state word, and its response only with COMPLETED */
    {"ERR ", {"IDEMP.RECORD", "bad:free", "sideways", "fp", "5", FAR_DEADLINE}},
    {"ERR ", {"IDEMP.RECORD", "bad:free", "sideways", "fp", "5", FAR_DEADLINE, "r"}},
    {"ERR ", {"IDEMP.RECORD", "bad:free", "", "fp", "5", FAR_DEADLINE}},
    {"ERR ", {"IDEMP.RECORD", "bad:free", "new", "fp", "5", FAR_DEADLINE}},
    {"ERR ", {"IDEMP.RECORD", "bad:free", "COMPLETED", "fp", "5", FAR_DEADLINE}},
    {"ERR ", {"IDEMP.RECORD", "bad:open", "COMPLETED", "fp", "5", FAR_DEADLINE}},
    {"ERR ", {"IDEMP.RECORD", "bad:free", "IN_PROGRESS", "fp", "5", FAR_DEADLINE, "r"}},
    /* wrong key types: a string and a list */
    {"WRONGTYPE ", {"IDEMP.BEGIN", "bad:string", "fp", "1000"}},
    {"WRONGTYPE ", {"IDEMP.BEGIN", "bad:list", "fp", "1000"}},
    {"WRONGTYPE ", {"IDEMP.COMPLETE", "bad:string", OPEN_TOKEN, "r", "10"}},
    {"WRONGTYPE ", {"IDEMP.COMPLETE", "bad:list", "5", "r", "10"}},
    {"WRONGTYPE ", {"IDEMP.ABORT", "bad:string", OPEN_TOKEN}},
    {"WRONGTYPE ", {"IDEMP.ABORT", "bad:list", "5"}},
    {"WRONGTYPE ", {"IDEMP.GET", "bad:string"}},
    {"WRONGTYPE ", {"IDEMP.GET", "bad:list"}},
};

static long long fixture_open_token;
static long long fixture_done_token;
static char fixture_open_token_text[32]; /* what OPEN_TOKEN stands for */

/* bad:open in progress for a long time, bad:done completed, bad:string, bad:list; bad:free does
 * not exist. */
static void make_bad_input_fixture(redisContext *c)
{
    fixture_open_token = raw_idemp_begin_new(c, "bad:open", "fp-open", LONG_LEASE_MS);
    fixture_done_token = raw_idemp_begin_new(c, "bad:done", "fp-done", 10000);
    assert_int_equal(raw_idemp_complete(c, "bad:done", fixture_done_token, "done-response", 100000), 1);
    sg_command_status(c, "OK", "SET bad:string hello");
    sg_command_integer(c, "RPUSH bad:list a b");
    snprintf(fixture_open_token_text, sizeof(fixture_open_token_text), "%lld", fixture_open_token);
}

/* A text picture of the fixture that does not rely on the module's digest callback. */
static char *fixture_picture(redisContext *c)
{
    raw_idemp_record open = raw_idemp_get(c, "bad:open");
    raw_idemp_record done = raw_idemp_get(c, "bad:done");
    char *out = malloc(512);
    assert_non_null(out);
    snprintf(out, 512,
             "open=%d:%s:%.*s:%lld:%d done=%d:%s:%.*s:%lld:%.*s free=%lld keys=%lld string=%lld list=%lld",
             open.present, open.state, (int)open.fingerprint_len, open.fingerprint ? open.fingerprint : "",
             open.token, open.has_response, done.present, done.state, (int)done.fingerprint_len,
             done.fingerprint ? done.fingerprint : "", done.token, (int)done.response_len,
             done.response ? done.response : "", sg_exists(c, "bad:free"), sg_command_integer(c, "DBSIZE"),
             sg_command_integer(c, "STRLEN bad:string"), sg_command_integer(c, "LLEN bad:list"));
    raw_idemp_record_free(&open);
    raw_idemp_record_free(&done);
    return out;
}

static char long_fp[MAX_FINGERPRINT_LEN + 1];

#define LIST(placeholder, values) {placeholder, values, sizeof(values) / sizeof(values[0])}

static void bad_input_is_rejected_with_a_coded_error_and_changes_nothing(void **state)
{
    (void)state;
    memset(long_fp, 'f', sizeof(long_fp));
    static const char *const codes[] = {"ERR ", "WRONGTYPE ", NULL};
    const sg_bad_substitution substitutions[] = {
        {LONG_FP, long_fp, sizeof(long_fp), "<1025 bytes>"},
        {OPEN_TOKEN, fixture_open_token_text, 0, NULL},
    };
    const sg_bad_value_list lists[] = {
        LIST(BAD_TTL, bad_ttls),
        LIST(BAD_LEASE, bad_leases),
        LIST(BAD_TOKEN, bad_tokens),
        LIST(BAD_DEADLINE, bad_deadlines),
    };
    const sg_bad_input_hooks hooks = {
        .make_fixture = make_bad_input_fixture,
        .picture = fixture_picture,
        .codes = codes,
        .substitutions = substitutions,
        .substitution_count = sizeof(substitutions) / sizeof(substitutions[0]),
        .lists = lists,
        .list_count = sizeof(lists) / sizeof(lists[0]),
    };
    sg_check_bad_inputs(sg_conn, bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]), &hooks);
}

#define IDEMP_TEST(name) cmocka_unit_test_setup(name, sg_group_flush)

int main(void)
{
    const struct CMUnitTest tests[] = {
        IDEMP_TEST(command_info_describes_every_idemp_command_with_key_position_one),
        IDEMP_TEST(command_docs_describe_every_idemp_command),
        IDEMP_TEST(info_slotguard_idemp_counters_count_each_outcome),
        IDEMP_TEST(bad_input_is_rejected_with_a_coded_error_and_changes_nothing),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
