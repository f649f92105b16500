/* test_restore_fuzz.c -- corrupted serialized values must never crash Redis.
 *
 * RESTORE takes a value's serialized form from any client. Its CRC64 only guards against accidents:
 * anyone can compute it. So every module type's rdb_load sees whatever bytes a client chooses. This
 * suite DUMPs representative trials, locks and idempotency records, mutates the payloads (bit flips,
 * byte overwrites with boundary values, truncations, insertions, varint-sized length fields), puts
 * a correct CRC64 back and RESTOREs them. After every attempt the server must answer PING; a value it
 * accepted must be usable: read commands, DEBUG DIGEST-VALUE, MEMORY USAGE, DUMP, COPY and DEL.
 * Mutations come from a seeded PRNG (SG_FUZZ_SEED replays a run) and are bounded in count
 * (SG_FUZZ_MUTATIONS per value, default 3000).
 * Run under `make asan-test`, this also catches reads and writes out of bounds in the loaders. */
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

#define DEFAULT_MUTATIONS 3000

/* SG_FUZZ_MUTATIONS overrides the count per value, for longer runs by hand. */
static int mutations_per_value(void)
{
    const char *env = getenv("SG_FUZZ_MUTATIONS");
    int n = env != NULL ? atoi(env) : 0;
    return n > 0 ? n : DEFAULT_MUTATIONS;
}

/* ---- the checksum (checks.h: sg_crc64_jones, sg_dump_seal) ------------------------------------- */

static void test_the_crc_matches_the_one_redis_writes(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    assert_int_equal(sg_command_integer(c, "SLOTS.INIT t 5"), 1);
    redisReply *r = sg_command(c, "DUMP t");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    unsigned char *copy = malloc(r->len);
    memcpy(copy, r->str, r->len);
    sg_dump_seal(copy, r->len);
    assert_memory_equal(copy, r->str, r->len);
    free(copy);
    freeReplyObject(r);
    /* And the check value of the CRC-64/Jones definition Redis uses. */
    assert_true(sg_crc64_jones((const unsigned char *)"123456789", 9) == UINT64_C(0xe9c6d914c4b8d9ca));
}

/* ---- mutations -------------------------------------------------------------------------------- */

static uint64_t fuzz_seed(void)
{
    const char *env = getenv("SG_FUZZ_SEED");
    if (env != NULL && *env != '\0') return strtoull(env, NULL, 0);
    return (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
}

/* Redis length encodings worth planting: 6-bit, 14-bit, 32-bit and 64-bit lengths, huge ones. */
static const unsigned char interesting[][10] = {
    {1, 0x00}, {1, 0x3f}, {1, 0xff}, {1, 0x7f}, {1, 0x80},
    {2, 0x7f, 0xff}, {5, 0x80, 0xff, 0xff, 0xff, 0xff}, {5, 0x80, 0x7f, 0xff, 0xff, 0xff},
    {9, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {9, 0x81, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00},
    {2, 0xc0, 0xff}, {3, 0xc1, 0xff, 0x7f},
};

/* Mutate the body (everything before the 2-byte RDB version and the CRC) of `in` into `out`;
 * returns the new length. `out` has room for in_len + 64. */
static size_t mutate(sg_prng *p, const unsigned char *in, size_t in_len, unsigned char *out)
{
    size_t body = in_len - 10;
    memcpy(out, in, in_len);
    size_t len = in_len;
    int rounds = 1 + (int)sg_prng_below(p, 3);
    for (int round = 0; round < rounds; round++) {
        body = len - 10;
        /* Never touch byte 0 (the type) nor the 8-byte module id after it: those only select
         * which loader runs, and other loaders are Redis's business. */
        size_t first = 9;
        if (body <= first) break;
        size_t at = first + sg_prng_below(p, body - first);
        switch (sg_prng_below(p, 5)) {
        case 0: out[at] ^= (unsigned char)(1u << sg_prng_below(p, 8)); break;
        case 1: out[at] = (unsigned char)sg_prng_next(p); break;
        case 2: { /* plant a length encoding */
            const unsigned char *v = interesting[sg_prng_below(p, sizeof(interesting) / sizeof(interesting[0]))];
            for (unsigned i = 0; i < v[0] && at + i < body; i++) out[at + i] = v[1 + i];
            break;
        }
        case 3: { /* truncate the body here */
            memmove(out + at, out + body, 10);
            len = at + 10;
            break;
        }
        default: { /* insert up to 8 random bytes */
            size_t n = 1 + sg_prng_below(p, 8);
            if (len + n > in_len + 64) break;
            memmove(out + at + n, out + at, len - at);
            for (size_t i = 0; i < n; i++) out[at + i] = (unsigned char)sg_prng_next(p);
            len += n;
            break;
        }
        }
    }
    sg_dump_seal(out, len);
    return len;
}

/* ---- the fuzz loop ----------------------------------------------------------------------------- */

/* After RESTORE accepted a value: use it the ways a client could. Any reply is fine; the
 * connection must stay up (the harness fails the test on a broken connection). */
static void exercise(redisContext *c, const char *family)
{
    static const char *const trial_reads[] = {"SLOTS.INFO fz", "ENROLL.STATUS fz u1", "ENROLL.MEMBERS fz 0 COUNT 50",
                                              "ENROLL fz zz-new", "ENROLL.CANCEL fz u1", "SLOTS.RESIZE fz 3", NULL};
    static const char *const lock_reads[] = {"LOCK.INFO fz", "LOCK.ACQUIRE fz x 1000", "LOCK.RELEASE fz owner-a",
                                             "LOCK.EXTEND fz owner-a 1000", NULL};
    static const char *const idemp_reads[] = {"IDEMP.GET fz", "IDEMP.BEGIN fz fp-1 1000", "IDEMP.COMPLETE fz 1 r 10",
                                              "IDEMP.ABORT fz 1", NULL};
    const char *const *reads = strcmp(family, "trial") == 0 ? trial_reads
                               : strcmp(family, "lock") == 0 ? lock_reads
                                                             : idemp_reads;
    freeReplyObject(sg_command(c, "DEBUG DIGEST-VALUE fz"));
    freeReplyObject(sg_command(c, "MEMORY USAGE fz"));
    freeReplyObject(sg_command(c, "DUMP fz"));
    freeReplyObject(sg_command(c, "COPY fz fz-copy REPLACE"));
    for (int i = 0; reads[i] != NULL; i++) freeReplyObject(sg_command(c, reads[i]));
    freeReplyObject(sg_command(c, "DEBUG DIGEST"));
    freeReplyObject(sg_command(c, "DEL fz fz-copy"));
}

static void fuzz_value(sg_fixture *f, const char *family, const char *const *setup, void (*prepare)(redisContext *))
{
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    if (prepare != NULL) prepare(c);
    for (int i = 0; setup[i] != NULL; i++) {
        redisReply *r = sg_command(c, setup[i]);
        if (r->type == REDIS_REPLY_ERROR) fail_msg("setup \"%s\": %s", setup[i], r->str);
        freeReplyObject(r);
    }
    redisReply *dump = sg_command(c, "DUMP src");
    assert_int_equal(dump->type, REDIS_REPLY_STRING);
    size_t len = dump->len;
    unsigned char *original = malloc(len), *mutated = malloc(len + 64);
    assert_non_null(original);
    assert_non_null(mutated);
    memcpy(original, dump->str, len);
    freeReplyObject(dump);

    /* The untouched payload restores to an equal value (the digest counts a TTL, and RESTORE ... 0
     * sets none: drop the source's). */
    sg_command_status(c, "OK", "RESTORE fz 0 %b", original, len);
    freeReplyObject(sg_command(c, "PERSIST src"));
    redisReply *a = sg_command(c, "DEBUG DIGEST-VALUE src fz");
    assert_int_equal(a->type, REDIS_REPLY_ARRAY);
    assert_string_equal(a->element[0]->str, a->element[1]->str);
    freeReplyObject(a);
    sg_command_integer(c, "DEL fz");

    uint64_t seed = fuzz_seed();
    sg_prng p = {seed};
    long accepted = 0, refused = 0;
    int mutations = mutations_per_value();
    for (int i = 0; i < mutations; i++) {
        size_t n = mutate(&p, original, len, mutated);
        redisReply *r = redisCommand(c, "RESTORE fz 0 %b REPLACE", mutated, n);
        if (r == NULL) {
            fail_msg("%s: the server went away on mutation %d (SG_FUZZ_SEED=%llu replays it); log: %s", family, i,
                     (unsigned long long)seed, s->log_path);
        }
        int ok = r->type == REDIS_REPLY_STATUS;
        if (!ok && r->type != REDIS_REPLY_ERROR) fail_msg("%s: RESTORE replied neither OK nor an error", family);
        freeReplyObject(r);
        if (ok) {
            accepted++;
            exercise(c, family);
        } else {
            refused++;
        }
        sg_command_status(c, "PONG", "PING");
    }
    print_message("%s: %ld mutated payloads refused, %ld accepted and exercised (SG_FUZZ_SEED=%llu)\n", family,
                  refused, accepted, (unsigned long long)seed);
    assert_true(refused > 0); /* the mutations do reach the loader's checks */
    free(original);
    free(mutated);
}

static void test_mutated_trials_never_crash_the_server(void **state)
{
    static const char *const setup[] = {
        "SLOTS.INIT src 4 WAITLIST 3", "ENROLL src u1", "ENROLL src user-two", "ENROLL src u3", "ENROLL src u4",
        "ENROLL src w1", "ENROLL src w2", "ENROLL.CANCEL src user-two", "SLOTS.RESIZE src 6", NULL};
    fuzz_value(*state, "trial", setup, NULL);
}

static void test_mutated_locks_never_crash_the_server(void **state)
{
    static const char *const setup[] = {"LOCK.ACQUIRE src owner-a 600000 REENTRANT",
                                        "LOCK.ACQUIRE src owner-a 600000 REENTRANT", NULL};
    fuzz_value(*state, "lock", setup, NULL);
}

/* A completed record, with a binary response to replay. */
static void complete_a_request(redisContext *c)
{
    redisReply *r = sg_command(c, "IDEMP.BEGIN src fingerprint-1 600000");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    long long token = r->element[1]->integer;
    freeReplyObject(r);
    assert_int_equal(sg_command_integer(c, "IDEMP.COMPLETE src %lld %b 600", token, "HTTP/1.1 201\r\n\0{}", (size_t)19), 1);
}

static void test_mutated_idempotency_records_never_crash_the_server(void **state)
{
    static const char *const setup[] = {NULL};
    fuzz_value(*state, "idemp", setup, complete_a_request);
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, sg_fixture_setup, sg_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_the_crc_matches_the_one_redis_writes),
        FIXTURE_TEST(test_mutated_trials_never_crash_the_server),
        FIXTURE_TEST(test_mutated_locks_never_crash_the_server),
        FIXTURE_TEST(test_mutated_idempotency_records_never_crash_the_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
