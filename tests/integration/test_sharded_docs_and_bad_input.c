/* test_sharded_docs_and_bad_input.c -- what the SHARDED.* commands tell about themselves (COMMAND
 * INFO with every key declared, COMMAND GETKEYS, COMMAND DOCS, the INFO slotguard_sharded counters
 * of each outcome) and how they refuse bad input (arity, counts and totals, missing keys, key
 * types, values that are not integers as DECR reads them, duplicate keys, sum overflow: a coded
 * error that changes nothing), as the contract states, against a real redis-server with
 * the module loaded.
 *
 * One server for the whole group; every test starts from an empty dataset (FLUSHALL in the per-test
 * setup). One behaviour per test function. */
#include "sharded_checks.h"
#include "raw_commands.h"

/* ---- COMMAND INFO, COMMAND GETKEYS, COMMAND DOCS ----------------------------------------------- */

typedef struct sharded_spec {
    const char *name;
    int arity;
    int write;          /* write deny-oom, else readonly */
    int first_key;      /* keys run from here to the last argument, step 1 */
    const char *key_flags[3];
    const char *leading; /* the integer argument before the keys, or NULL */
} sharded_spec;

static const sharded_spec specs[] = {
    {"sharded.decr", -2, 1, 1, {"RW", "access", "update"}, NULL},
    {"sharded.take", -3, 1, 2, {"RW", "access", "update"}, "count"},
    {"sharded.init", -3, 1, 2, {"OW", "insert", NULL}, "total"},
    {"sharded.sum", -2, 0, 1, {"RO", "access", NULL}, NULL},
};
#define SPEC_COUNT (sizeof(specs) / sizeof(specs[0]))

static void command_info_declares_every_key_flags_and_arity(void **state)
{
    (void)state;
    for (size_t i = 0; i < SPEC_COUNT; i++) {
        const sharded_spec *spec = &specs[i];
        redisReply *r = sg_command(sg_conn, "COMMAND INFO %s", spec->name);
        assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 1);
        const redisReply *e = r->element[0];
        char problem[300] = "";
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 9) {
            snprintf(problem, sizeof(problem), "no entry");
        } else if (!sg_reply_is_text(e->element[0], spec->name) || e->element[1]->integer != spec->arity) {
            snprintf(problem, sizeof(problem), "name or arity (%lld, expected %d)", e->element[1]->integer,
                     spec->arity);
        } else if (sg_list_has_word(e->element[2], "write") != spec->write ||
                   sg_list_has_word(e->element[2], "denyoom") != spec->write ||
                   sg_list_has_word(e->element[2], "readonly") == spec->write) {
            snprintf(problem, sizeof(problem), spec->write ? "flags are not write denyoom" : "flags are not readonly");
        } else if (e->element[3]->integer != spec->first_key || e->element[4]->integer != -1 ||
                   e->element[5]->integer != 1) {
            snprintf(problem, sizeof(problem), "keys first=%lld last=%lld step=%lld, expected %d -1 1",
                     e->element[3]->integer, e->element[4]->integer, e->element[5]->integer, spec->first_key);
        } else {
            const redisReply *key_specs = e->element[8];
            const redisReply *ks = key_specs->type == REDIS_REPLY_ARRAY && key_specs->elements == 1
                                       ? key_specs->element[0]
                                       : NULL;
            const redisReply *begin = sg_map_get(ks, "begin_search");
            const redisReply *find = sg_map_get(ks, "find_keys");
            if (ks == NULL || !sg_reply_is_text(sg_map_get(begin, "type"), "index") ||
                sg_map_integer(sg_map_get(begin, "spec"), "index") != spec->first_key) {
                snprintf(problem, sizeof(problem), "no single key spec beginning at index %d", spec->first_key);
            } else if (!sg_reply_is_text(sg_map_get(find, "type"), "range") ||
                       sg_map_integer(sg_map_get(find, "spec"), "lastkey") != -1 ||
                       sg_map_integer(sg_map_get(find, "spec"), "keystep") != 1 ||
                       sg_map_integer(sg_map_get(find, "spec"), "limit") != 0) {
                snprintf(problem, sizeof(problem), "the key spec does not range over every key to the last argument");
            } else {
                for (int f = 0; f < 3 && spec->key_flags[f] != NULL; f++)
                    if (!sg_list_has_word(sg_map_get(ks, "flags"), spec->key_flags[f]))
                        snprintf(problem, sizeof(problem), "the key spec lacks the flag %s", spec->key_flags[f]);
            }
        }
        freeReplyObject(r);
        if (problem[0] != '\0') fail_msg("COMMAND INFO %s: %s", spec->name, problem);
    }
}

/* COMMAND GETKEYS of `line` must answer exactly the keys of `expected` (space-separated). */
static void assert_getkeys(const char *line, const char *expected)
{
    redisReply *r = sh_run(sg_conn, "COMMAND GETKEYS %s", line);
    sh_words want;
    snprintf(want.line, sizeof(want.line), "%s", expected);
    sh_split(&want);
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == (size_t)want.argc;
    for (size_t i = 0; ok && i < r->elements; i++) ok = sg_reply_is_text(r->element[i], want.argv[i]);
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    freeReplyObject(r);
    if (!ok) fail_msg("COMMAND GETKEYS %s: got %s, expected %s", line, got, expected);
}

static void command_getkeys_names_every_key_of_every_command(void **state)
{
    (void)state;
    assert_getkeys("SHARDED.DECR a", "a");
    assert_getkeys("SHARDED.DECR a b c d e", "a b c d e");
    assert_getkeys("SHARDED.DECR a b a", "a b a");
    assert_getkeys("SHARDED.TAKE 5 a", "a");
    assert_getkeys("SHARDED.TAKE 5 a b c", "a b c");
    assert_getkeys("SHARDED.INIT 100 x y z w", "x y z w");
    assert_getkeys("SHARDED.SUM p q", "p q");
}

static void command_docs_describe_every_command_since_0_3_0_with_its_arguments(void **state)
{
    (void)state;
    for (size_t i = 0; i < SPEC_COUNT; i++) {
        const sharded_spec *spec = &specs[i];
        redisReply *r = sg_command(sg_conn, "COMMAND DOCS %s", spec->name);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        const redisReply *doc = sg_map_get(r, spec->name);
        const redisReply *summary = sg_map_get(doc, "summary");
        const redisReply *complexity = sg_map_get(doc, "complexity");
        const redisReply *args = sg_map_get(doc, "arguments");
        char problem[200] = "";
        size_t want = spec->leading != NULL ? 2 : 1;
        if (summary == NULL || summary->len == 0 || complexity == NULL || complexity->len == 0) {
            snprintf(problem, sizeof(problem), "no summary or complexity");
        } else if (!sg_reply_is_text(sg_map_get(doc, "since"), "0.3.0")) {
            snprintf(problem, sizeof(problem), "since is not 0.3.0");
        } else if (args == NULL || args->type != REDIS_REPLY_ARRAY || args->elements != want) {
            snprintf(problem, sizeof(problem), "not %zu arguments", want);
        } else {
            if (spec->leading != NULL && (!sg_reply_is_text(sg_map_get(args->element[0], "name"), spec->leading) ||
                                          !sg_reply_is_text(sg_map_get(args->element[0], "type"), "integer")))
                snprintf(problem, sizeof(problem), "the first argument is not the integer %s", spec->leading);
            const redisReply *key = args->element[want - 1];
            if (!sg_reply_is_text(sg_map_get(key, "type"), "key") || sg_map_integer(key, "key_spec_index") != 0 ||
                !sg_list_has_word(sg_map_get(key, "flags"), "multiple"))
                snprintf(problem, sizeof(problem), "the last argument is not key (multiple) with key spec 0");
        }
        freeReplyObject(r);
        if (problem[0] != '\0') fail_msg("COMMAND DOCS %s: %s", spec->name, problem);
    }
}

/* deny-oom: with memory over maxmemory (noeviction) the writes are refused before they run, SUM
 * is not. The teardown lifts the limit whatever happened. */
static void writes_are_refused_when_memory_is_full_and_sum_is_not(void **state)
{
    (void)state;
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 10 a b"), 1);
    sg_command_status(sg_conn, "OK", "CONFIG SET maxmemory-policy noeviction");
    sg_command_status(sg_conn, "OK", "CONFIG SET maxmemory 1");
    sh_error(sg_conn, "OOM ", "SHARDED.DECR a b");
    sh_error(sg_conn, "OOM ", "SHARDED.TAKE 1 a b");
    sh_error(sg_conn, "OOM ", "SHARDED.INIT 1 c");
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM a b c"), 10);
    sg_command_status(sg_conn, "OK", "CONFIG SET maxmemory 0");
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 1 a b"), 1);
}

static int lift_maxmemory(void **state)
{
    (void)state;
    freeReplyObject(sg_command(sg_conn, "CONFIG SET maxmemory 0"));
    return 0;
}

/* ---- INFO ---------------------------------------------------------------------------------------- */

static const char *const counters[] = {
    "slotguard_sharded_decr_taken", "slotguard_sharded_decr_empty",    "slotguard_sharded_take_units",
    "slotguard_sharded_take_short", "slotguard_sharded_take_empty",    "slotguard_sharded_init_created",
    "slotguard_sharded_init_existing",
};
#define COUNTER_COUNT (sizeof(counters) / sizeof(counters[0]))

/* Every counter, from the slotguard_sharded section; fails when one is missing. */
static void read_counters(long long *out)
{
    redisReply *r = sg_command(sg_conn, "INFO slotguard_sharded");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    int has_section = strstr(r->str, "# slotguard_sharded") != NULL;
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
    if (!has_section) fail_msg("INFO has no section slotguard_sharded");
    for (size_t i = 0; i < COUNTER_COUNT; i++)
        if (out[i] < 0) fail_msg("INFO slotguard_sharded has no %s", counters[i]);
}

static void info_slotguard_sharded_counts_each_outcome_and_no_error(void **state)
{
    (void)state;
    long long before[COUNTER_COUNT], after[COUNTER_COUNT];
    read_counters(before);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 4 a b"), 1);   /* init_created */
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 4 c b"), 0);   /* init_existing */
    long long index, value;
    assert_int_equal(sh_decr(sg_conn, &index, &value, "a b"), 1);     /* decr_taken */
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 2 a b"), 2);   /* take_units += 2 */
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 5 a b"), 1);   /* take_short, take_units += 1 */
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 5 a b"), 0);   /* take_empty */
    assert_int_equal(sh_decr(sg_conn, &index, &value, "a b"), 0);     /* decr_empty */
    assert_int_equal(sh_decr(sg_conn, &index, &value, "b a"), 0);     /* decr_empty */
    /* errors count nowhere */
    sg_command_integer(sg_conn, "RPUSH l x");
    sh_error(sg_conn, "NOCOUNTER ", "SHARDED.DECR gone");
    sh_error(sg_conn, "WRONGTYPE ", "SHARDED.DECR a l");
    sh_error(sg_conn, "NOCOUNTER ", "SHARDED.TAKE 3 gone");
    sh_error(sg_conn, "WRONGTYPE ", "SHARDED.TAKE 3 l a");
    sh_error(sg_conn, "ERR duplicate key", "SHARDED.INIT 3 n n");
    sh_error(sg_conn, "ERR invalid total", "SHARDED.INIT -3 n");
    read_counters(after);
    static const long long expected[COUNTER_COUNT] = {1, 2, 3, 1, 1, 1, 1};
    for (size_t i = 0; i < COUNTER_COUNT; i++)
        if (after[i] - before[i] != expected[i])
            fail_msg("%s grew by %lld, expected %lld", counters[i], after[i] - before[i], expected[i]);
}

/* Module bug, found by this test: SHARDED.TAKE adds the units it took to a signed 64-bit counter
 * (stats.take_units += taken, module/sharded_commands.c) with no overflow check. Taking INT64_MAX
 * units and then 1 more is signed overflow: the release build reports
 * slotguard_sharded_take_units:-9223372036854775808, the UBSan build aborts the server. Expected:
 * the server stays up and the counter never wraps below zero (saturating, or unsigned). On a server
 * of its own, so that the abort cannot take the group's server down. */
static void info_take_units_does_not_overflow_when_more_than_int64_max_units_are_taken(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    sh_set(c, "b", LLONG_MAX);
    assert_int_equal(sh_integer(c, "SHARDED.TAKE 9223372036854775807 b"), LLONG_MAX);
    sh_set(c, "b", 1);
    redisReply *r = sh_run(c, "SHARDED.TAKE 9223372036854775807 b");
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    freeReplyObject(r);
    if (strcmp(got, "integer 1") != 0) fail_msg("SHARDED.TAKE of the last unit answered %s", got);
    redisReply *pong = redisCommand(c, "PING");
    if (pong == NULL) fail_msg("the server went away after taking INT64_MAX + 1 units in all (log: %s)", s->log_path);
    freeReplyObject(pong);
    char *units = sg_info_field(c, "slotguard_sharded_take_units");
    assert_non_null(units);
    int wrapped = units[0] == '-';
    char shown[32];
    snprintf(shown, sizeof(shown), "%s", units);
    free(units);
    if (wrapped) fail_msg("slotguard_sharded_take_units is %s after INT64_MAX + 1 units taken", shown);
}

/* ---- bad input ----------------------------------------------------------------------------------- */

#define BAD_COUNT "@count" /* run once per entry of bad_counts */
#define BAD_TOTAL "@total" /* run once per entry of bad_totals */
#define BAD_VALUE "@value" /* run once per key of bad_value_keys, each holding one of bad_values */
#define BIN_KEY "@bin"     /* a binary key name */
#define NUL_NUMBER "@nul"  /* "1\0": a number with a NUL byte after it */

/* count: 1 .. INT64_MAX */
static const char *const bad_counts[] = {
    "0", "-1", "-9223372036854775808", "9223372036854775808", "18446744073709551615", "99999999999999999999",
    "abc", "1.5", "1e3", "0x10", " 1", "1 ", "+1", "", "01x",
};
/* total: 0 .. INT64_MAX */
static const char *const bad_totals[] = {
    "-1", "-9223372036854775808", "9223372036854775808", "99999999999999999999", "abc", "1.5", "1e3", " 1", "",
};

/* Strings DECR does not read as an integer (the last test checks DECR agrees on each). */
typedef struct bytes {
    const char *s;
    size_t len;
} bytes;
#define B(s) {(s), sizeof(s) - 1}
static const bytes bad_values[] = {
    B("01"), B("00"), B(" 1"), B("1 "), B("1.5"), B("-0"), B("+1"), B("9223372036854775808"),
    B("-9223372036854775809"), B("18446744073709551616"), B("99999999999999999999"), B(""), B("abc"), B("0x10"),
    B("1e3"), B("1\0"), B("\xff"), B("- 1"), B("--1"), B("1-"), B("\r\n1"),
};
#define BAD_VALUE_COUNT (sizeof(bad_values) / sizeof(bad_values[0]))
static const char *bad_value_keys[BAD_VALUE_COUNT];
static char bad_value_key_text[BAD_VALUE_COUNT][24];

static const sg_bad_case bad_cases[] = {
    /* wrong arity */
    {"ERR wrong number of arguments", {"SHARDED.DECR"}},
    {"ERR wrong number of arguments", {"SHARDED.TAKE"}},
    {"ERR wrong number of arguments", {"SHARDED.TAKE", "1"}},
    {"ERR wrong number of arguments", {"SHARDED.TAKE", "bad:a"}},
    {"ERR wrong number of arguments", {"SHARDED.INIT"}},
    {"ERR wrong number of arguments", {"SHARDED.INIT", "10"}},
    {"ERR wrong number of arguments", {"SHARDED.INIT", "bad:new"}},
    {"ERR wrong number of arguments", {"SHARDED.SUM"}},
    /* counts and totals (each run with every entry of its list) */
    {"ERR invalid count", {"SHARDED.TAKE", BAD_COUNT, "bad:a"}},
    {"ERR invalid count", {"SHARDED.TAKE", BAD_COUNT, "bad:a", "bad:b"}},
    {"ERR invalid count", {"SHARDED.TAKE", BAD_COUNT, "bad:none"}},
    {"ERR invalid count", {"SHARDED.TAKE", BAD_COUNT, "bad:list"}},
    {"ERR invalid count", {"SHARDED.TAKE", NUL_NUMBER, "bad:a"}},
    {"ERR invalid count", {"SHARDED.TAKE", "bad:a", "bad:b"}},
    {"ERR invalid total", {"SHARDED.INIT", BAD_TOTAL, "bad:new"}},
    {"ERR invalid total", {"SHARDED.INIT", BAD_TOTAL, "bad:new", "bad:new2"}},
    {"ERR invalid total", {"SHARDED.INIT", BAD_TOTAL, "bad:a"}},
    {"ERR invalid total", {"SHARDED.INIT", NUL_NUMBER, "bad:new"}},
    {"ERR invalid total", {"SHARDED.INIT", "bad:new", "bad:new2"}},
    /* none of the keys exists */
    {"NOCOUNTER ", {"SHARDED.DECR", "bad:none"}},
    {"NOCOUNTER ", {"SHARDED.DECR", "bad:none", "bad:none2", "bad:none"}},
    {"NOCOUNTER ", {"SHARDED.DECR", ""}},
    {"NOCOUNTER ", {"SHARDED.DECR", BIN_KEY}},
    {"NOCOUNTER ", {"SHARDED.TAKE", "1", "bad:none"}},
    {"NOCOUNTER ", {"SHARDED.TAKE", "9223372036854775807", "bad:none", "bad:none2"}},
    {"NOCOUNTER ", {"SHARDED.TAKE", "1", ""}},
    /* keys of other types, wherever they stand */
    {"WRONGTYPE ", {"SHARDED.DECR", "bad:list"}},
    {"WRONGTYPE ", {"SHARDED.DECR", "bad:a", "bad:list"}},
    {"WRONGTYPE ", {"SHARDED.DECR", "bad:hash", "bad:a"}},
    {"WRONGTYPE ", {"SHARDED.DECR", "bad:b", "bad:lock"}},
    {"WRONGTYPE ", {"SHARDED.DECR", "bad:none", "bad:set"}},
    {"WRONGTYPE ", {"SHARDED.TAKE", "1", "bad:list"}},
    {"WRONGTYPE ", {"SHARDED.TAKE", "1", "bad:a", "bad:lock"}},
    {"WRONGTYPE ", {"SHARDED.TAKE", "9223372036854775807", "bad:b", "bad:hash"}},
    {"WRONGTYPE ", {"SHARDED.TAKE", "3", "bad:set", "bad:a", "bad:none"}},
    {"WRONGTYPE ", {"SHARDED.SUM", "bad:list"}},
    {"WRONGTYPE ", {"SHARDED.SUM", "bad:a", "bad:lock"}},
    {"WRONGTYPE ", {"SHARDED.SUM", "bad:none", "bad:hash"}},
    /* values that are not integers as DECR reads them, wherever they stand */
    {"ERR value is not an integer or out of range", {"SHARDED.DECR", BAD_VALUE}},
    {"ERR value is not an integer or out of range", {"SHARDED.DECR", "bad:a", BAD_VALUE}},
    {"ERR value is not an integer or out of range", {"SHARDED.DECR", BAD_VALUE, "bad:a"}},
    {"ERR value is not an integer or out of range", {"SHARDED.DECR", "bad:b", "bad:none", BAD_VALUE}},
    {"ERR value is not an integer or out of range", {"SHARDED.TAKE", "1", BAD_VALUE}},
    {"ERR value is not an integer or out of range", {"SHARDED.TAKE", "1", "bad:a", BAD_VALUE}},
    {"ERR value is not an integer or out of range", {"SHARDED.TAKE", "9223372036854775807", BAD_VALUE, "bad:a"}},
    {"ERR value is not an integer or out of range", {"SHARDED.SUM", BAD_VALUE}},
    {"ERR value is not an integer or out of range", {"SHARDED.SUM", "bad:a", BAD_VALUE, "bad:none"}},
    {"ERR value is not an integer or out of range", {"DECR", BAD_VALUE}},
    /* a key named twice */
    {"ERR duplicate key", {"SHARDED.TAKE", "1", "bad:a", "bad:a"}},
    {"ERR duplicate key", {"SHARDED.TAKE", "1", "bad:a", "bad:b", "bad:a"}},
    {"ERR duplicate key", {"SHARDED.TAKE", "1", "bad:none", "bad:none"}},
    {"ERR duplicate key", {"SHARDED.TAKE", "1", BIN_KEY, BIN_KEY}},
    {"ERR duplicate key", {"SHARDED.TAKE", "1", "", ""}},
    {"ERR duplicate key", {"SHARDED.INIT", "5", "bad:new", "bad:new"}},
    {"ERR duplicate key", {"SHARDED.INIT", "5", "bad:new", "bad:new2", "bad:new"}},
    {"ERR duplicate key", {"SHARDED.INIT", "0", "bad:a", "bad:a"}},
    {"ERR duplicate key", {"SHARDED.INIT", "1", BIN_KEY, BIN_KEY}},
    /* the sum out of int64 */
    {"ERR", {"SHARDED.SUM", "bad:max", "bad:a"}},
    {"ERR", {"SHARDED.SUM", "bad:a", "bad:max", "bad:neg"}},
    {"ERR", {"SHARDED.SUM", "bad:min", "bad:neg"}},
};

/* bad:a 5, bad:b 0, bad:neg -3, bad:max INT64_MAX (with a TTL), bad:min INT64_MIN, a list, a hash,
 * a set, a lock (a module type) and one key per bad value; bad:none, bad:new do not exist. */
static void make_bad_input_fixture(redisContext *c)
{
    sh_set(c, "bad:a", 5);
    sh_set(c, "bad:b", 0);
    sh_set(c, "bad:neg", -3);
    sh_set(c, "bad:max", LLONG_MAX);
    sh_set(c, "bad:min", LLONG_MIN);
    assert_int_equal(sg_command_integer(c, "PEXPIREAT bad:max 99999999999999"), 1);
    sg_command_integer(c, "RPUSH bad:list a b");
    sg_command_integer(c, "HSET bad:hash f v");
    sg_command_integer(c, "SADD bad:set m");
    assert_true(raw_lock_acquire(c, "bad:lock", "owner", 100000000) > 0);
    for (size_t i = 0; i < BAD_VALUE_COUNT; i++) {
        snprintf(bad_value_key_text[i], sizeof(bad_value_key_text[i]), "bad:v:%zu", i);
        bad_value_keys[i] = bad_value_key_text[i];
        sg_command_status(c, "OK", "SET %s %b", bad_value_keys[i], bad_values[i].s, bad_values[i].len);
    }
}

/* The integer keys' values, TTL and the key count: a picture that does not rely on DEBUG DIGEST. */
static char *fixture_picture(redisContext *c)
{
    char *out = malloc(256);
    assert_non_null(out);
    snprintf(out, 256, "a=%lld b=%lld neg=%lld max=%lld min=%lld max_ttl=%d keys=%lld", sh_get(c, "bad:a"),
             sh_get(c, "bad:b"), sh_get(c, "bad:neg"), sh_get(c, "bad:max"), sh_get(c, "bad:min"),
             sg_pttl(c, "bad:max") > 0, sg_command_integer(c, "DBSIZE"));
    return out;
}

#define LIST(placeholder, values) {placeholder, values, sizeof(values) / sizeof(values[0])}

static void bad_input_is_rejected_with_a_coded_error_and_changes_nothing(void **state)
{
    (void)state;
    static const char bin_key[] = {'b', '\0', '\xff', '\r', '\n'};
    static const char *const codes[] = {"ERR ", "WRONGTYPE ", "NOCOUNTER ", NULL};
    const sg_bad_substitution substitutions[] = {
        {BIN_KEY, bin_key, sizeof(bin_key), "<b\\0\\xff\\r\\n>"},
        {NUL_NUMBER, "1\0", 2, "<1\\0>"},
    };
    const sg_bad_value_list lists[] = {
        LIST(BAD_COUNT, bad_counts),
        LIST(BAD_TOTAL, bad_totals),
        {BAD_VALUE, bad_value_keys, BAD_VALUE_COUNT},
    };
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
    /* the value list names keys the fixture creates: fill it in before the runner reads it */
    for (size_t i = 0; i < BAD_VALUE_COUNT; i++) {
        snprintf(bad_value_key_text[i], sizeof(bad_value_key_text[i]), "bad:v:%zu", i);
        bad_value_keys[i] = bad_value_key_text[i];
    }
    sg_check_bad_inputs(sg_conn, bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]), &hooks);
}

static void take_of_the_largest_count_is_valid_and_takes_what_there_is(void **state)
{
    (void)state;
    sh_set(sg_conn, "a", 5);
    sh_set(sg_conn, "b", 0);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 9223372036854775807 a b"), 5);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.TAKE 9223372036854775807 a b"), 0);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 9223372036854775807 c"), 1);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.INIT 0 d"), 1);
    assert_int_equal(sh_get(sg_conn, "d"), 0);
}

static void a_non_integer_value_far_from_the_first_key_still_refuses_the_whole_call(void **state)
{
    (void)state;
    /* 20 keys (beyond what the command keeps on its stack), the bad one last: nothing lowered */
    char keys[SH_LINE / 2] = "";
    size_t len = 0;
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof(key), "f%d", i);
        sh_set(sg_conn, key, 3);
        len += (size_t)snprintf(keys + len, sizeof(keys) - len, "%s ", key);
    }
    sg_command_status(sg_conn, "OK", "SET f20 3.0");
    char *before = sg_debug_digest(sg_conn);
    sh_error(sg_conn, "ERR value is not an integer or out of range", "SHARDED.DECR %sf20", keys);
    sh_error(sg_conn, "ERR value is not an integer or out of range", "SHARDED.TAKE 100 %sf20", keys);
    sg_command_integer(sg_conn, "DEL f20");
    sg_command_integer(sg_conn, "RPUSH f20 x");
    sh_error(sg_conn, "WRONGTYPE ", "SHARDED.TAKE 100 %sf20", keys);
    sg_command_integer(sg_conn, "DEL f20");
    sg_command_status(sg_conn, "OK", "SET f20 3.0");
    char *after = sg_debug_digest(sg_conn);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(sh_integer(sg_conn, "SHARDED.SUM %sgone", keys), 60);
}

#define SHARDED_TEST(name) cmocka_unit_test_setup(name, sg_group_flush)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SHARDED_TEST(command_info_declares_every_key_flags_and_arity),
        SHARDED_TEST(command_getkeys_names_every_key_of_every_command),
        SHARDED_TEST(command_docs_describe_every_command_since_0_3_0_with_its_arguments),
        cmocka_unit_test_setup_teardown(writes_are_refused_when_memory_is_full_and_sum_is_not, sg_group_flush,
                                        lift_maxmemory),
        SHARDED_TEST(info_slotguard_sharded_counts_each_outcome_and_no_error),
        cmocka_unit_test_setup_teardown(info_take_units_does_not_overflow_when_more_than_int64_max_units_are_taken,
                                        sg_fixture_setup, sg_fixture_teardown),
        SHARDED_TEST(bad_input_is_rejected_with_a_coded_error_and_changes_nothing),
        SHARDED_TEST(take_of_the_largest_count_is_valid_and_takes_what_there_is),
        SHARDED_TEST(a_non_integer_value_far_from_the_first_key_still_refuses_the_whole_call),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
