/* test_sharded_replication.c -- the SHARDED.* commands beyond one server: a replica ends with the
 * master's exact values after thousands of random DECR/TAKE calls (their random choices travel as
 * DECRBY effects, INIT verbatim) and refuses writes with READONLY while serving SUM; values and
 * TTLs survive DEBUG RELOAD, a restart from RDB and AOF replay, and the AOF holds DECRBY effects,
 * never SHARDED.DECR or SHARDED.TAKE; on a Redis Cluster keys in different slots are a CROSSSLOT
 * error, keys under one hash tag work on the owning master, and COMMAND GETKEYS names every key.
 *
 * Every test starts its own servers (sg_fixture, released pass or fail). Seeded workloads print
 * their seed; SG_WORKLOAD_SEED replays one. Every load loop is bounded. */
#include "cluster.h"
#include "sharded_checks.h"

#define SHARDS 16
#define LOAD_CALLS 4000
#define WAIT_MS 15000

static const char *shard_name(int i)
{
    static char names[SHARDS][8];
    snprintf(names[i], sizeof(names[i]), "r%d", i);
    return names[i];
}

/* r0..r15 from one INIT of 3000, a few with a TTL, one negative. */
static void make_shards(redisContext *c)
{
    char keys[256] = "";
    size_t len = 0;
    for (int i = 0; i < SHARDS; i++)
        len += (size_t)snprintf(keys + len, sizeof(keys) - len, "%s%s", i ? " " : "", shard_name(i));
    assert_int_equal(sh_integer(c, "SHARDED.INIT 3000 %s", keys), 1);
    for (int i = 0; i < SHARDS; i += 5)
        assert_int_equal(sg_command_integer(c, "PEXPIRE %s 100000000", shard_name(i)), 1);
    sh_set(c, "r15", -4);
}

/* A space-separated list of `n` shards drawn from p (distinct when `distinct`) into out. */
static void draw_keys(sg_prng *p, int n, int distinct, char *out, size_t size)
{
    int used[SHARDS] = {0};
    size_t len = 0;
    out[0] = '\0';
    for (int k = 0; k < n; k++) {
        int i = (int)sg_prng_below(p, SHARDS);
        while (distinct && used[i]) i = (i + 1) % SHARDS;
        used[i] = 1;
        len += (size_t)snprintf(out + len, size - len, "%s%s", k ? " " : "", shard_name(i));
    }
}

/* `calls` random DECR/TAKE calls (with a few refills by SET, a few INITs and TTL changes), pipelined;
 * no reply may be an error. Returns the units taken by DECR and TAKE together. */
static long long random_load(redisContext *c, sg_prng *p, long calls)
{
    long long taken = 0;
    for (long done = 0; done < calls;) {
        long batch = calls - done < SH_BATCH ? calls - done : SH_BATCH;
        int kinds[SH_BATCH];
        for (long i = 0; i < batch; i++) {
            char keys[128], line[SH_LINE];
            uint64_t roll = sg_prng_below(p, 100);
            int n = 1 + (int)sg_prng_below(p, 6);
            if (roll < 55) {
                draw_keys(p, n, 0, keys, sizeof(keys));
                snprintf(line, sizeof(line), "SHARDED.DECR %s%s", keys, sg_prng_below(p, 4) == 0 ? " missing" : "");
                kinds[i] = 0;
            } else if (roll < 90) {
                draw_keys(p, n, 1, keys, sizeof(keys));
                unsigned long long count = 1 + (unsigned long long)sg_prng_below(p, 40);
                snprintf(line, sizeof(line), "SHARDED.TAKE %llu %s", count, keys);
                kinds[i] = 1;
            } else if (roll < 94) {
                snprintf(line, sizeof(line), "SET %s %llu", shard_name((int)sg_prng_below(p, SHARDS - 1)),
                         (unsigned long long)sg_prng_below(p, 300));
                kinds[i] = 2;
            } else if (roll < 97) {
                snprintf(line, sizeof(line), "SHARDED.INIT %llu new:%llu new:%llu r%d",
                         (unsigned long long)sg_prng_below(p, 1000), (unsigned long long)sg_prng_below(p, 50),
                         50 + (unsigned long long)sg_prng_below(p, 50), sg_prng_below(p, 2) ? 99 : 1);
                kinds[i] = 2;
            } else {
                snprintf(line, sizeof(line), sg_prng_below(p, 2) ? "PEXPIRE %s 50000000" : "PERSIST %s",
                         shard_name((int)sg_prng_below(p, SHARDS)));
                kinds[i] = 2;
            }
            sh_words w;
            snprintf(w.line, sizeof(w.line), "%s", line);
            sh_split(&w);
            assert_int_equal(redisAppendCommandArgv(c, w.argc, w.argv, w.len), REDIS_OK);
        }
        for (long i = 0; i < batch; i++) {
            void *reply = NULL;
            if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) fail_msg("the connection broke in the load");
            redisReply *r = reply;
            if (r->type == REDIS_REPLY_ERROR) fail_msg("call %ld of the load answered \"%s\"", done + i, r->str);
            if (kinds[i] == 0 && r->type == REDIS_REPLY_ARRAY) taken++;
            if (kinds[i] == 1) taken += r->integer;
            freeReplyObject(r);
        }
        done += batch;
    }
    return taken;
}

/* "key=value/ttl?" for every key (sorted), malloc'ed: what must be the same on two servers or
 * before and after a reload. */
static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *values_picture(redisContext *c)
{
    redisReply *keys = sg_command(c, "KEYS *");
    assert_int_equal(keys->type, REDIS_REPLY_ARRAY);
    const char **names = calloc(keys->elements + 1, sizeof(*names));
    assert_non_null(names);
    for (size_t i = 0; i < keys->elements; i++) names[i] = keys->element[i]->str;
    qsort(names, keys->elements, sizeof(*names), compare_strings);
    size_t size = 64 + keys->elements * 64, len = 0;
    char *out = malloc(size);
    assert_non_null(out);
    out[0] = '\0';
    for (size_t i = 0; i < keys->elements; i++) {
        long long ttl = sg_pttl(c, names[i]);
        len += (size_t)snprintf(out + len, size - len, "%s=%lld%s ", names[i], sh_get(c, names[i]),
                                ttl > 0 ? "/ttl" : "");
    }
    free(names);
    freeReplyObject(keys);
    return out;
}

static void assert_same_values(redisContext *a, redisContext *b, const char *what)
{
    char *pa = values_picture(a), *pb = values_picture(b);
    int same = strcmp(pa, pb) == 0;
    if (!same) fprintf(stderr, "%s:\n  first:  %.2000s\n  second: %.2000s\n", what, pa, pb);
    free(pa);
    free(pb);
    if (!same) fail_msg("%s: the values differ", what);
}

/* ---- replication ---------------------------------------------------------------------------------- */

static void a_replica_ends_with_the_masters_values_after_a_random_load(void **state)
{
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, NULL);
    sg_server *replica_server = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica_server);
    make_shards(m);
    sg_prng p = {sg_workload_seed(0x5a4d3d)};
    long long before = sh_integer(m, "SHARDED.SUM r0 r1 r2 r3 r4 r5 r6 r7 r8 r9 r10 r11 r12 r13 r14");
    long long taken = random_load(m, &p, LOAD_CALLS);
    print_message("%lld units taken of %lld (and refills)\n", taken, before);
    assert_true(taken > 0);
    sg_wait_replicas(master, 1, WAIT_MS);
    sg_assert_same_digest(m, r);
    assert_same_values(m, r, "master and replica");
    assert_int_equal(sg_command_integer(m, "DBSIZE"), sg_command_integer(r, "DBSIZE"));
    /* and the replica's TTLs are the master's (within the time it took to read them) */
    for (int i = 0; i < SHARDS; i++) {
        long long tm = sg_pttl(m, shard_name(i)), tr = sg_pttl(r, shard_name(i));
        if ((tm < 0) != (tr < 0) || (tm > 0 && (tr > tm + 5000 || tr < tm - 5000)))
            fail_msg("PTTL %s: %lld on the master, %lld on the replica", shard_name(i), tm, tr);
    }
}

static void a_replica_answers_readonly_to_every_write_and_serves_sum(void **state)
{
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, NULL);
    sg_server *replica_server = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica_server);
    assert_int_equal(sh_integer(m, "SHARDED.INIT 10 a b c"), 1);
    sg_wait_replicas(master, 1, WAIT_MS);
    char *before = sg_debug_digest(r);
    sh_error(r, "READONLY ", "SHARDED.DECR a b c");
    sh_error(r, "READONLY ", "SHARDED.TAKE 3 a b c");
    sh_error(r, "READONLY ", "SHARDED.INIT 3 x y");
    sh_error(r, "READONLY ", "SHARDED.INIT 3 a");
    assert_int_equal(sh_integer(r, "SHARDED.SUM a b c missing"), 10);
    char *after = sg_debug_digest(r);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(sh_integer(m, "SHARDED.TAKE 4 a b c"), 4);
    sg_wait_replicas(master, 1, WAIT_MS);
    assert_int_equal(sh_integer(r, "SHARDED.SUM a b c"), 6);
}

static void init_reaches_the_replica_with_the_same_split_and_a_refused_init_changes_nothing_there(void **state)
{
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, NULL);
    sg_server *replica_server = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica_server);
    assert_int_equal(sh_integer(m, "SHARDED.INIT 9223372036854775807 i0 i1 i2 i3 i4"), 1);
    assert_int_equal(sh_integer(m, "SHARDED.INIT 7 j0 j1 j2"), 1);
    sh_set(m, "k1", 3);
    assert_int_equal(sh_integer(m, "SHARDED.INIT 50 k0 k1"), 0);
    sg_wait_replicas(master, 1, WAIT_MS);
    assert_same_values(m, r, "master and replica after INIT");
    assert_int_equal(sh_get(r, "i0"), 1844674407370955162LL);
    assert_int_equal(sh_get(r, "i4"), 1844674407370955161LL);
    assert_int_equal(sh_get(r, "j0"), 3);
    assert_int_equal(sg_exists(r, "k0"), 0);
    assert_int_equal(sh_get(r, "k1"), 3);
    sg_assert_same_digest(m, r);
}

static void calls_inside_multi_and_scripts_reach_the_replica_as_their_effects(void **state)
{
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, NULL);
    sg_server *replica_server = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica_server);
    assert_int_equal(sh_integer(m, "SHARDED.INIT 400 s0 s1 s2 s3"), 1);
    long long taken = 0;
    for (int round = 0; round < 50; round++) {
        sg_command_status(m, "OK", "MULTI");
        sg_command_status(m, "QUEUED", "SHARDED.DECR s0 s1 s2 s3");
        sg_command_status(m, "QUEUED", "SHARDED.TAKE 3 s3 s2 s1 s0");
        sg_command_status(m, "QUEUED", "SHARDED.DECR s2 s2 s0");
        redisReply *exec = sg_command(m, "EXEC");
        assert_true(exec->type == REDIS_REPLY_ARRAY && exec->elements == 3);
        taken += (exec->element[0]->type == REDIS_REPLY_ARRAY) + exec->element[1]->integer +
                 (exec->element[2]->type == REDIS_REPLY_ARRAY);
        freeReplyObject(exec);
        redisReply *script = sg_command(m, "EVAL %s 4 s0 s1 s2 s3",
                                        "local a = redis.call('SHARDED.DECR', KEYS[1], KEYS[2], KEYS[3], KEYS[4]) "
                                        "local b = redis.call('SHARDED.TAKE', '2', KEYS[4], KEYS[3], KEYS[2], KEYS[1]) "
                                        "if a then return b + 1 end return b");
        if (script->type != REDIS_REPLY_INTEGER) {
            char got[300];
            sg_describe_reply(script, got, sizeof(got));
            freeReplyObject(script);
            fail_msg("the script answered %s", got);
        }
        taken += script->integer;
        freeReplyObject(script);
    }
    /* up to 50 rounds of 1 + 3 + 1 + 1 + 2 units: most of the 400, and exactly what the keys lost */
    assert_true(taken > 300);
    assert_int_equal(sh_integer(m, "SHARDED.SUM s0 s1 s2 s3"), 400 - taken);
    sg_wait_replicas(master, 1, WAIT_MS);
    assert_same_values(m, r, "master and replica after MULTI and EVAL");
    sg_assert_same_digest(m, r);
}

/* ---- persistence ---------------------------------------------------------------------------------- */

static void values_and_ttls_survive_debug_reload_and_a_restart_from_rdb(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    make_shards(c);
    sg_prng p = {sg_workload_seed(0x7e10ad)};
    random_load(c, &p, LOAD_CALLS / 2);
    char *before = values_picture(c), *digest = sg_debug_digest(c);
    sg_command_status(c, "OK", "DEBUG RELOAD");
    char *after = values_picture(c), *digest_after = sg_debug_digest(c);
    assert_string_equal(before, after);
    assert_string_equal(digest, digest_after);
    free(after);
    free(digest_after);

    sg_command_status(c, "OK", "SAVE");
    sg_server_restart(s); /* --save "": shutdown does not save again, the dump is loaded */
    c = sg_fixture_reconnect(f, c, s);
    after = values_picture(c);
    digest_after = sg_debug_digest(c);
    assert_string_equal(before, after);
    assert_string_equal(digest, digest_after);
    free(before);
    free(after);
    free(digest);
    free(digest_after);
    /* and the shards still work after loading */
    assert_true(sh_integer(c, "SHARDED.TAKE 1 r1 r2 r3 r4 r5 r6 r7 r8 r9") >= 0);
}

static void the_aof_holds_decrby_effects_and_replays_to_the_same_values(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, sg_persistence_args(SG_AOF_COMMAND_LOG));
    redisContext *c = sg_fixture_connect(f, s);
    make_shards(c);
    sg_prng p = {sg_workload_seed(0xa0f)};
    assert_true(random_load(c, &p, LOAD_CALLS / 2) > 0);
    char *before = values_picture(c), *digest = sg_debug_digest(c);

    size_t len = 0;
    char *aof = sg_read_aof_part(s, 'i', NULL, 0, &len);
    int has_decrby = sg_contains_nocase(aof, len, "DECRBY"), has_init = sg_contains_nocase(aof, len, "SHARDED.INIT");
    int has_decr = sg_contains_nocase(aof, len, "SHARDED.DECR");
    int has_take = sg_contains_nocase(aof, len, "SHARDED.TAKE");
    free(aof);
    if (!has_decrby || !has_init) fail_msg("the AOF lacks DECRBY (%d) or SHARDED.INIT (%d)", has_decrby, has_init);
    if (has_decr || has_take)
        fail_msg("the AOF holds SHARDED.DECR (%d) or SHARDED.TAKE (%d) verbatim", has_decr, has_take);

    sg_command_status(c, "OK", "DEBUG LOADAOF");
    char *after = values_picture(c), *digest_after = sg_debug_digest(c);
    assert_string_equal(before, after);
    assert_string_equal(digest, digest_after);
    free(after);
    free(digest_after);

    sg_server_restart(s);
    c = sg_fixture_reconnect(f, c, s);
    after = values_picture(c);
    digest_after = sg_debug_digest(c);
    assert_string_equal(before, after);
    assert_string_equal(digest, digest_after);
    free(before);
    free(after);
    free(digest);
    free(digest_after);
}

static void values_survive_an_aof_rewrite_with_and_without_rdb_preamble(void **state)
{
    sg_fixture *f = *state;
    static const sg_persistence_mode modes[] = {SG_AOF_REWRITE_RDB_PREAMBLE, SG_AOF_REWRITE_PLAIN};
    for (int k = 0; k < 2; k++) {
        sg_server *s = sg_fixture_start(f, sg_persistence_args(modes[k]));
        redisContext *c = sg_fixture_connect(f, s);
        make_shards(c);
        sg_prng p = {sg_workload_seed(0xbe5e + (uint64_t)k)};
        random_load(c, &p, LOAD_CALLS / 4);
        sg_rewrite_aof(c);
        static const char *const none[] = {NULL};
        sg_assert_aof_base(s, modes[k] == SG_AOF_REWRITE_RDB_PREAMBLE, none);
        random_load(c, &p, LOAD_CALLS / 4); /* after the rewrite: into the incremental file */
        char *before = values_picture(c), *digest = sg_debug_digest(c);
        sg_server_restart(s);
        c = sg_fixture_reconnect(f, c, s);
        char *after = values_picture(c), *digest_after = sg_debug_digest(c);
        assert_string_equal(before, after);
        assert_string_equal(digest, digest_after);
        free(before);
        free(after);
        free(digest);
        free(digest_after);
    }
}

/* ---- cluster -------------------------------------------------------------------------------------- */

#define MASTERS 3

static void keys_in_different_slots_are_a_crossslot_error_on_every_node(void **state)
{
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    char k0[32], k1[32];
    sg_cluster_key_on(&cl, 0, "x", k0, sizeof(k0));
    sg_cluster_key_on(&cl, 1, "y", k1, sizeof(k1));
    for (int m = 0; m < MASTERS; m++) {
        sh_error(cl.c[m], "CROSSSLOT ", "SHARDED.DECR %s %s", k0, k1);
        sh_error(cl.c[m], "CROSSSLOT ", "SHARDED.TAKE 3 %s %s", k0, k1);
        sh_error(cl.c[m], "CROSSSLOT ", "SHARDED.INIT 10 %s %s", k0, k1);
        sh_error(cl.c[m], "CROSSSLOT ", "SHARDED.SUM %s %s", k0, k1);
        assert_int_equal(sg_command_integer(cl.c[m], "DBSIZE"), 0);
    }
}

static void keys_under_one_hash_tag_work_on_the_owning_master_and_are_moved_elsewhere(void **state)
{
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    for (int m = 0; m < MASTERS; m++) {
        char tag[32];
        sg_cluster_key_on(&cl, m, "stock-", tag, sizeof(tag));
        int slot = sg_cluster_slot_of(&cl, tag);
        char keys[160];
        snprintf(keys, sizeof(keys), "{%s}:0 {%s}:1 {%s}:2", tag, tag, tag);
        assert_int_equal(sh_integer(cl.c[m], "SHARDED.INIT 30 %s", keys), 1);
        long long index = -1, value = -1;
        assert_int_equal(sh_decr(cl.c[m], &index, &value, "%s", keys), 1);
        assert_int_equal(value, 9);
        assert_int_equal(sh_integer(cl.c[m], "SHARDED.TAKE 5 %s", keys), 5);
        assert_int_equal(sh_integer(cl.c[m], "SHARDED.SUM %s", keys), 24);
        char moved[64];
        snprintf(moved, sizeof(moved), "MOVED %d 127.0.0.1:%d", slot, cl.node[m]->port);
        for (int other = 0; other < MASTERS; other++) {
            if (other == m) continue;
            sh_error(cl.c[other], moved, "SHARDED.DECR %s", keys);
            sh_error(cl.c[other], moved, "SHARDED.TAKE 1 %s", keys);
            sh_error(cl.c[other], moved, "SHARDED.INIT 1 %s", keys);
            sh_error(cl.c[other], moved, "SHARDED.SUM %s", keys);
        }
    }
}

static void command_getkeys_on_a_cluster_node_names_every_key(void **state)
{
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    static const struct {
        const char *line;
        int keys;
    } cases[] = {
        {"SHARDED.DECR {t}a {t}b {t}c", 3},
        {"SHARDED.TAKE 9 {t}a {t}b", 2},
        {"SHARDED.INIT 9 {t}a {t}b {t}c {t}d", 4},
        {"SHARDED.SUM {t}a", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        redisReply *r = sh_run(cl.c[0], "COMMAND GETKEYS %s", cases[i].line);
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        int ok = r->type == REDIS_REPLY_ARRAY && r->elements == (size_t)cases[i].keys;
        for (size_t k = 0; ok && k < r->elements; k++) {
            char want[8];
            snprintf(want, sizeof(want), "{t}%c", (char)('a' + k));
            ok = sg_reply_is_text(r->element[k], want);
        }
        freeReplyObject(r);
        if (!ok) fail_msg("COMMAND GETKEYS %s: got %s", cases[i].line, got);
    }
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, sg_fixture_setup, sg_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(a_replica_ends_with_the_masters_values_after_a_random_load),
        FIXTURE_TEST(a_replica_answers_readonly_to_every_write_and_serves_sum),
        FIXTURE_TEST(init_reaches_the_replica_with_the_same_split_and_a_refused_init_changes_nothing_there),
        FIXTURE_TEST(calls_inside_multi_and_scripts_reach_the_replica_as_their_effects),
        FIXTURE_TEST(values_and_ttls_survive_debug_reload_and_a_restart_from_rdb),
        FIXTURE_TEST(the_aof_holds_decrby_effects_and_replays_to_the_same_values),
        FIXTURE_TEST(values_survive_an_aof_rewrite_with_and_without_rdb_preamble),
        FIXTURE_TEST(keys_in_different_slots_are_a_crossslot_error_on_every_node),
        FIXTURE_TEST(keys_under_one_hash_tag_work_on_the_owning_master_and_are_moved_elsewhere),
        FIXTURE_TEST(command_getkeys_on_a_cluster_node_names_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
