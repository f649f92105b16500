/* test_command_fuzz.c -- any arguments to any SlotGuard command: an error or a reply, never a crash.
 *
 * Every command the module registers (read from COMMAND LIST FILTERBY MODULE, so a new command is
 * covered without editing this file) is called many times with 0 to 9 arguments drawn from values
 * chosen to sit on parser boundaries: empty and binary strings, 0, -1, the limits of 64-bit integers
 * and one past them, option words of every command (RATE.ALL's THROTTLE and WINDOW too), and keys holding each module type, a plain
 * string, integer strings (shards for SHARDED.*), a list, or nothing. Calls that block (LOCK.ACQUIRE ... WAIT) are abandoned after a short
 * wait by closing the connection, which exercises the disconnect path at random moments too.
 * After every call the server must answer PING; at the end DEBUG DIGEST and a DEBUG RELOAD (RDB
 * save and load of whatever the fuzzing built) must succeed. Seeded: SG_FUZZ_SEED replays a run;
 * SG_FUZZ_CALLS sets the number of calls (default 20000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raw_commands.h"

#define DEFAULT_CALLS 20000
#define MAX_COMMANDS 64
#define MAX_ARGS 10
#define BLOCKED_PATIENCE_MS 20

static uint64_t env_number(const char *name, uint64_t fallback)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? strtoull(v, NULL, 0) : fallback;
}

/* ---- argument pool ------------------------------------------------------------------------------ */

typedef struct value {
    const char *bytes;
    size_t len;
} value;

#define V(s) {(s), sizeof(s) - 1}
static char long_value[700];

static value pool[] = {
    /* keys: each holds something different after setup_keys */
    V("k:trial"), V("k:lock"), V("k:idemp"), V("k:string"), V("k:list"), V("k:none"), V("k:stock"), V("k:zero"),
    /* numbers on the edges */
    V("0"), V("1"), V("2"), V("-1"), V("3"), V("10"), V("1000"), V("60000"), V("9223372036854775807"),
    V("9223372036854775808"), V("-9223372036854775808"), V("18446744073709551615"), V("1000000000000"),
    V("1000000000001"), V("4294967295"), V("4294967296"), V("1e3"), V(" 1"), V("0x10"), V("+5"), V("00"),
    /* words the commands know */
    V("WAIT"), V("REENTRANT"), V("WAITLIST"), V("COUNT"), V("WITHARRIVALS"), V("ENROLLED"), V("WAITLISTED"),
    V("COMPLETED"), V("IN_PROGRESS"), V("completed"), V("in_progress"), V("wait"), V("THROTTLE"), V("WINDOW"),
    V("ALIGN"), V("MS"), V("window"),
    /* ids and payloads */
    V(""), V("u1"), V("owner"), V("fp"), V("a\0b"), V("\r\n"), V("\xff\xfe"), {long_value, sizeof(long_value)},
};
#define POOL_SIZE (sizeof(pool) / sizeof(pool[0]))

/* Values that pass the parsers, drawn half the time so calls reach the commands' logic. */
static value likely[] = {V("1"), V("2"), V("3"), V("10"), V("300"), V("1000"), V("60000"), V("u1"), V("u2"),
                         V("owner"), V("other"), V("fp"), V("WAIT"), V("REENTRANT"), V("WAITLIST"), V("COUNT"),
                         V("ENROLLED"), V("WAITLISTED"), V("COMPLETED"), V("IN_PROGRESS"), V("WITHARRIVALS"),
                         V("k:stock"), V("k:zero"), /* shards for the SHARDED.* commands' later keys */
                         V("THROTTLE"), V("WINDOW"), V("ALIGN"), V("MS")}; /* RATE.ALL's limits */
#define LIKELY_SIZE (sizeof(likely) / sizeof(likely[0]))

static void setup_keys(redisContext *c)
{
    redisReply *r = sg_command(c, "FLUSHALL");
    freeReplyObject(r);
    assert_int_equal(sg_command_integer(c, "SLOTS.INIT k:trial 3 WAITLIST 2"), 1);
    sg_command_integer(c, "ENROLL k:trial u1");
    sg_command_integer(c, "ENROLL k:trial u2");
    /* Both refuse once a fuzzed LOCK.GRANT or IDEMP.RECORD used the largest token (then the keys
     * stay empty): any reply will do. */
    freeReplyObject(sg_command(c, "LOCK.ACQUIRE k:lock owner 600000 REENTRANT"));
    freeReplyObject(sg_command(c, "IDEMP.BEGIN k:idemp fp 600000"));
    sg_command_status(c, "OK", "SET k:string hello");
    sg_command_integer(c, "RPUSH k:list a b");
    /* Integer strings, so that SHARDED.DECR and TAKE reach their success paths too. */
    sg_command_status(c, "OK", "SET k:stock 1000");
    sg_command_status(c, "OK", "SET k:zero 0");
}

/* ---- the loop ----------------------------------------------------------------------------------- */

#define KEYS_IN_POOL 8 /* the first entries of the pool */

typedef struct command {
    char name[32];
    long long arity; /* as COMMAND INFO gives it: n exactly, -n at least n (name included) */
} command;

static int module_commands(redisContext *c, command *out)
{
    redisReply *r = sg_command(c, "COMMAND LIST FILTERBY MODULE slotguard");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    int n = 0;
    for (size_t i = 0; i < r->elements && n < MAX_COMMANDS; i++) {
        snprintf(out[n].name, sizeof(out[n].name), "%s", r->element[i]->str);
        redisReply *info = sg_command(c, "COMMAND INFO %s", out[n].name);
        assert_true(info->type == REDIS_REPLY_ARRAY && info->elements == 1 && info->element[0]->type == REDIS_REPLY_ARRAY);
        out[n].arity = info->element[0]->element[1]->integer;
        freeReplyObject(info);
        n++;
    }
    freeReplyObject(r);
    return n;
}

/* Mostly the number of arguments the command takes (so calls get past the arity check and into
 * the parsers), sometimes any number. */
static int argument_count(sg_prng *p, const command *cmd)
{
    if (sg_prng_below(p, 5) == 0) return (int)sg_prng_below(p, MAX_ARGS);
    int n = (int)(cmd->arity < 0 ? -cmd->arity : cmd->arity) - 1;
    if (cmd->arity < 0) n += (int)sg_prng_below(p, 5);
    return n < MAX_ARGS ? n : MAX_ARGS - 1;
}

static void test_random_arguments_to_every_command_never_crash_the_server(void **state)
{
    sg_fixture *f = *state;
    memset(long_value, 'x', sizeof(long_value));
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *admin = sg_fixture_connect(f, s);
    redisContext *c = sg_fixture_connect(f, s);
    command cmds[MAX_COMMANDS];
    int commands = module_commands(admin, cmds);
    assert_true(commands >= 19);
    setup_keys(admin);

    uint64_t seed = env_number("SG_FUZZ_SEED", (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32));
    long calls = (long)env_number("SG_FUZZ_CALLS", DEFAULT_CALLS);
    sg_prng p = {seed};
    long errors = 0, replies = 0, abandoned = 0;
    for (long i = 0; i < calls; i++) {
        if (i % 2000 == 0) setup_keys(admin); /* keep every kind of key around */
        const char *argv[MAX_ARGS];
        size_t argvlen[MAX_ARGS];
        int argc = 0;
        const command *cmd = &cmds[sg_prng_below(&p, (size_t)commands)];
        argv[argc] = cmd->name;
        argvlen[argc] = strlen(argv[argc]);
        argc++;
        int extra = argument_count(&p, cmd);
        if (sg_prng_below(&p, 20) == 0) { /* a wait on the held lock: blocks, times out, or is abandoned */
            static const char *const wait_call[] = {"LOCK.ACQUIRE", "k:lock", "waiter", "1000", "WAIT", NULL};
            static const char *const timeouts[] = {"1", "5", "50", "100000"};
            for (argc = 0; wait_call[argc] != NULL; argc++) {
                argv[argc] = wait_call[argc];
                argvlen[argc] = strlen(argv[argc]);
            }
            argv[argc] = timeouts[sg_prng_below(&p, 4)];
            argvlen[argc] = strlen(argv[argc]);
            argc++;
            extra = 0;
        }
        for (int a = 0; a < extra; a++) {
            /* The first argument is the key: mostly one of the prepared keys. */
            const value *v = a == 0 && sg_prng_below(&p, 10) != 0 ? &pool[sg_prng_below(&p, KEYS_IN_POOL)]
                             : sg_prng_below(&p, 2) == 0          ? &likely[sg_prng_below(&p, LIKELY_SIZE)]
                                                          : &pool[sg_prng_below(&p, POOL_SIZE)];
            argv[argc] = v->bytes;
            argvlen[argc++] = v->len;
        }
        sg_send_command_argv(c, argc, argv, argvlen);
        if (!sg_reply_arrives_within(c, BLOCKED_PATIENCE_MS)) {
            /* Blocked (or slow): walk away; the server must clean up after the disconnect. */
            c = sg_fixture_reconnect(f, c, s);
            abandoned++;
        } else {
            redisReply *r = sg_receive_reply(c, 5000, argv[0]);
            if (r->type == REDIS_REPLY_ERROR) errors++;
            else replies++;
            freeReplyObject(r);
        }
        redisReply *pong = redisCommand(admin, "PING");
        if (pong == NULL) {
            fail_msg("the server went away after call %ld (%s with %d arguments); SG_FUZZ_SEED=%llu replays it; log: %s",
                     i, argv[0], argc - 1, (unsigned long long)seed, s->log_path);
        }
        freeReplyObject(pong);
    }
    print_message("%ld calls: %ld replies, %ld errors, %ld abandoned while blocked (SG_FUZZ_SEED=%llu)\n", calls,
                  replies, errors, abandoned, (unsigned long long)seed);
    assert_true(errors > 0 && replies > 0);

    free(sg_debug_digest(admin));
    sg_command_status(admin, "OK", "DEBUG RELOAD");
    free(sg_debug_digest(admin));
    sg_command_status(admin, "PONG", "PING");
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, sg_fixture_setup, sg_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_random_arguments_to_every_command_never_crash_the_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
