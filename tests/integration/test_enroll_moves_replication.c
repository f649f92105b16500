/* test_enroll_moves_replication.c -- SLOTS.SEND and SLOTS.RECEIVE beyond one server: a replica ends
 * with the master's exact dataset (DEBUG DIGEST, trials and boxes) after a seeded random workload
 * of sends, receives, repeats, enrolls, cancels and resizes, and refuses both with READONLY; a
 * repeat or an empty send propagates nothing (replication offset and AOF unchanged); the AOF holds
 * both commands verbatim and DEBUG LOADAOF, a restart, DEBUG RELOAD and AOF rewrites reproduce the
 * same dataset; on a Redis Cluster a trial and a box in different slots are a CROSSSLOT error, one
 * hash tag works on the owning master (MOVED elsewhere), and a move between the shard trials of two
 * masters keeps the sum of capacities.
 *
 * Every test starts its own servers (sg_fixture, released pass or fail). Seeded workloads print
 * their seed; SG_WORKLOAD_SEED replays one. Every load loop is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "raw_commands.h"

#define TRIALS 4
#define MOVE_IDS 150
#define LOAD_CALLS 3000
#define BATCH 500
#define WAIT_MS 15000

static const char *trial_name(int i)
{
    static char names[TRIALS][16];
    snprintf(names[i], sizeof(names[i]), "{w}:t%d", i);
    return names[i];
}

static const char *box_name(int i, const char *kind)
{
    static char names[2][TRIALS][24];
    int k = strcmp(kind, "out") == 0 ? 0 : 1;
    snprintf(names[k][i], sizeof(names[k][i]), "{w}:t%d:%s", i, kind);
    return names[k][i];
}

/* {w}:t0..t3: capacities 30, 10, 5, 0, waitlists of 8, a few users each. */
static void make_trials(redisContext *c)
{
    static const long long capacity[TRIALS] = {30, 10, 5, 0};
    for (int i = 0; i < TRIALS; i++) {
        assert_int_equal(sg_command_integer(c, "SLOTS.INIT %s %lld WAITLIST 8", trial_name(i), capacity[i]), 1);
        for (int u = 0; u < 3 + 2 * i; u++) raw_enroll(c, trial_name(i), u % 2 ? "odd" : "even");
        for (int u = 0; u < 3 + 2 * i; u++) {
            char user[16];
            snprintf(user, sizeof(user), "p%d", u);
            raw_enroll(c, trial_name(i), user);
        }
    }
}

/* `calls` random commands, pipelined in batches: SEND and RECEIVE with move ids drawn from a small
 * set (so repeats are frequent), ENROLL, ENROLL.CANCEL, SLOTS.RESIZE and HDEL of outbox entries. No
 * reply may be an error. Returns the slots sent. */
static long long random_moves(redisContext *c, sg_prng *p, long calls)
{
    long long sent = 0;
    for (long done = 0; done < calls;) {
        long batch = calls - done < BATCH ? calls - done : BATCH;
        int is_send[BATCH];
        for (long i = 0; i < batch; i++) {
            int t = (int)sg_prng_below(p, TRIALS), other = (int)sg_prng_below(p, TRIALS);
            unsigned long long id = sg_prng_below(p, MOVE_IDS), n = 1 + sg_prng_below(p, 9);
            uint64_t roll = sg_prng_below(p, 100);
            char line[160];
            is_send[i] = 0;
            if (roll < 30) {
                snprintf(line, sizeof(line), "SLOTS.SEND %s %s mv%llu %d %llu", trial_name(t), box_name(t, "out"), id,
                         other, n);
                is_send[i] = 1;
            } else if (roll < 55) {
                snprintf(line, sizeof(line), "SLOTS.RECEIVE %s %s mv%llu %d %llu", trial_name(t), box_name(t, "in"),
                         id, other, n);
            } else if (roll < 78) {
                snprintf(line, sizeof(line), "ENROLL %s u%llu", trial_name(t),
                         (unsigned long long)sg_prng_below(p, 80));
            } else if (roll < 90) {
                snprintf(line, sizeof(line), "ENROLL.CANCEL %s u%llu", trial_name(t),
                         (unsigned long long)sg_prng_below(p, 80));
            } else if (roll < 95) {
                snprintf(line, sizeof(line), "SLOTS.RESIZE %s %llu", trial_name(t),
                         (unsigned long long)sg_prng_below(p, 40));
            } else {
                snprintf(line, sizeof(line), "HDEL %s mv%llu", box_name(t, sg_prng_below(p, 2) ? "out" : "in"), id);
            }
            assert_int_equal(redisAppendCommand(c, line), REDIS_OK);
        }
        for (long i = 0; i < batch; i++) {
            void *reply = NULL;
            if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) fail_msg("the connection broke in the load");
            redisReply *r = reply;
            if (r->type == REDIS_REPLY_ERROR) fail_msg("call %ld of the load answered \"%s\"", done + i, r->str);
            if (is_send[i]) sent += r->integer;
            freeReplyObject(r);
        }
        done += batch;
    }
    return sent;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every trial's numbers and enrolled users, every box's entries (sorted), malloc'ed: what must be
 * the same on two servers or before and after a reload, read without DEBUG DIGEST. */
static char *moves_picture(redisContext *c)
{
    size_t size = 65536, len = 0;
    char *out = malloc(size);
    assert_non_null(out);
    out[0] = '\0';
    for (int i = 0; i < TRIALS; i++) {
        raw_trial_info t = raw_trial_info_of(c, trial_name(i));
        len += (size_t)snprintf(out + len, size - len, "%s=%lld/%lld/%lld/%lld/%lld [", trial_name(i), t.capacity,
                                t.remaining, t.enrolled, t.waitlisted, t.next_arrival);
        unsigned long long next = 0;
        const redisReply *users = NULL;
        redisReply *page = raw_members_page(c, trial_name(i), 0, 1000, 1, &next, &users);
        for (size_t k = 0; k < users->elements && len < size; k++)
            len += (size_t)snprintf(out + len, size - len, "%s ", users->element[k]->str);
        freeReplyObject(page);
        len += (size_t)snprintf(out + len, size - len, "] ");
        for (int b = 0; b < 2; b++) {
            const char *box = box_name(i, b ? "in" : "out");
            redisReply *r = sg_command(c, "HGETALL %s", box);
            assert_int_equal(r->type, REDIS_REPLY_ARRAY);
            size_t n = r->elements / 2;
            char **pairs = calloc(n + 1, sizeof(*pairs));
            assert_non_null(pairs);
            for (size_t k = 0; k < n; k++) {
                pairs[k] = malloc(r->element[2 * k]->len + r->element[2 * k + 1]->len + 2);
                assert_non_null(pairs[k]);
                sprintf(pairs[k], "%s=%s", r->element[2 * k]->str, r->element[2 * k + 1]->str);
            }
            qsort(pairs, n, sizeof(*pairs), compare_strings);
            len += (size_t)snprintf(out + len, size - len, "%s:", box);
            for (size_t k = 0; k < n; k++) {
                if (len < size) len += (size_t)snprintf(out + len, size - len, " %s", pairs[k]);
                free(pairs[k]);
            }
            if (len < size) len += (size_t)snprintf(out + len, size - len, " ");
            free(pairs);
            freeReplyObject(r);
        }
        if (len >= size) fail_msg("the picture of the moves is over %zu bytes", size);
    }
    return out;
}

static void assert_same_moves(redisContext *a, redisContext *b, const char *what)
{
    char *pa = moves_picture(a), *pb = moves_picture(b);
    int same = strcmp(pa, pb) == 0;
    if (!same) fprintf(stderr, "%s:\n  first:  %.3000s\n  second: %.3000s\n", what, pa, pb);
    free(pa);
    free(pb);
    if (!same) fail_msg("%s: the trials or boxes differ", what);
}

/* Both the digest and the picture of `c` must still be `digest` and `picture` (not freed). */
static void assert_dataset_is(redisContext *c, const char *digest, const char *picture, const char *what)
{
    char *d = sg_debug_digest(c), *p = moves_picture(c);
    int same_digest = strcmp(d, digest) == 0, same_picture = strcmp(p, picture) == 0;
    if (!same_picture) fprintf(stderr, "%s:\n  before: %.3000s\n  after:  %.3000s\n", what, picture, p);
    free(d);
    free(p);
    if (!same_digest || !same_picture)
        fail_msg("%s: the digest (%s) or the picture (%s) changed", what, same_digest ? "same" : "changed",
                 same_picture ? "same" : "changed");
}

/* ---- replication ---------------------------------------------------------------------------------- */

static void a_replica_has_the_masters_digest_after_a_random_workload_of_moves_and_enrolls(void **state)
{
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, NULL);
    sg_server *replica_server = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica_server);
    make_trials(m);
    sg_prng p = {sg_workload_seed(0x5e4d)};
    long long sent = random_moves(m, &p, LOAD_CALLS);
    print_message("%lld slots sent in the load\n", sent);
    assert_true(sent > 0);
    assert_true(sg_info_number(m, "slotguard_slots_send_repeated") > 0);
    assert_true(sg_info_number(m, "slotguard_slots_receive_repeated") > 0);
    sg_wait_replicas(master, 1, WAIT_MS);
    sg_assert_same_digest(m, r);
    assert_same_moves(m, r, "master and replica");
}

static void a_replica_answers_readonly_to_both_and_keeps_its_dataset(void **state)
{
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, NULL);
    sg_server *replica_server = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica_server);
    make_trials(m);
    assert_int_equal(sg_command_integer(m, "SLOTS.SEND {w}:t0 {w}:t0:out a 1 4"), 4);
    sg_wait_replicas(master, 1, WAIT_MS);
    char *before = sg_debug_digest(r);
    sg_command_error(r, "READONLY ", "SLOTS.SEND {w}:t0 {w}:t0:out b 1 4");
    sg_command_error(r, "READONLY ", "SLOTS.SEND {w}:t0 {w}:t0:out a 1 4");
    sg_command_error(r, "READONLY ", "SLOTS.RECEIVE {w}:t1 {w}:t1:in a 0 4");
    sg_command_error(r, "READONLY ", "SLOTS.RECEIVE {w}:none {w}:none:in a 0 4");
    char *after = sg_debug_digest(r);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(raw_trial_info_of(r, "{w}:t0").capacity, 26);
    assert_int_equal(sg_command_integer(m, "SLOTS.RECEIVE {w}:t1 {w}:t1:in a 0 4"), 1);
    sg_wait_replicas(master, 1, WAIT_MS);
    assert_int_equal(raw_trial_info_of(r, "{w}:t1").capacity, 14);
    sg_assert_same_digest(m, r);
}

static long long repl_offset(redisContext *c)
{
    return sg_info_number(c, "master_repl_offset");
}

static void a_repeat_an_empty_send_and_an_error_propagate_nothing(void **state)
{
    sg_fixture *f = *state;
    static const char *const quiet[] = {"--repl-ping-replica-period", "3600", NULL};
    sg_server *master = sg_fixture_start(f, quiet);
    sg_server *replica_server = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica_server);
    make_trials(m);
    assert_int_equal(sg_command_integer(m, "SLOTS.SEND {w}:t0 {w}:t0:out a 1 4"), 4);
    assert_int_equal(sg_command_integer(m, "SLOTS.RECEIVE {w}:t1 {w}:t1:in a 0 4"), 1);
    assert_int_equal(sg_command_integer(m, "SLOTS.RESIZE {w}:t2 1"), 0);
    sg_wait_replicas(master, 1, WAIT_MS);
    static const char *const lines[] = {
        "SLOTS.SEND {w}:t0 {w}:t0:out a 1 4",    "SLOTS.SEND {w}:t0 {w}:t0:out a 3 9",
        "SLOTS.SEND {w}:t2 {w}:t2:out b 1 4",    "SLOTS.RECEIVE {w}:t1 {w}:t1:in a 0 4",
        "SLOTS.RECEIVE {w}:t1 {w}:t1:in a 0 1",  "SLOTS.RECEIVE {w}:t1 {w}:t1:in c 0 9223372036854775807",
        "SLOTS.SEND {w}:t0 {w}:t1 d 1 1",        "SLOTS.SEND {w}:none {w}:none:out d 1 1",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        long long before = repl_offset(m);
        freeReplyObject(sg_command(m, lines[i]));
        long long after = repl_offset(m);
        if (after != before) fail_msg("%s moved master_repl_offset by %lld", lines[i], after - before);
    }
    /* and a real change does move it */
    long long before = repl_offset(m);
    assert_int_equal(sg_command_integer(m, "SLOTS.SEND {w}:t0 {w}:t0:out e 1 1"), 1);
    assert_true(repl_offset(m) > before);
    sg_wait_replicas(master, 1, WAIT_MS);
    sg_assert_same_digest(m, r);
}

static void moves_inside_multi_and_scripts_reach_the_replica(void **state)
{
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, NULL);
    sg_server *replica_server = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica_server);
    make_trials(m);
    for (int round = 0; round < 20; round++) {
        sg_command_status(m, "OK", "MULTI");
        sg_command_status(m, "QUEUED", "SLOTS.SEND {w}:t0 {w}:t0:out x%d 3 1", round);
        sg_command_status(m, "QUEUED", "SLOTS.RECEIVE {w}:t3 {w}:t3:in x%d 0 1", round);
        sg_command_status(m, "QUEUED", "SLOTS.SEND {w}:t0 {w}:t0:out x%d 3 1", round);
        redisReply *exec = sg_command(m, "EXEC");
        assert_true(exec->type == REDIS_REPLY_ARRAY && exec->elements == 3);
        freeReplyObject(exec);
        redisReply *script = sg_command(m, "EVAL %s 4 {w}:t1 {w}:t1:out {w}:t2 {w}:t2:in y%d",
                                        "local s = redis.call('SLOTS.SEND', KEYS[1], KEYS[2], ARGV[1], '2', '1') "
                                        "if s > 0 then redis.call('SLOTS.RECEIVE', KEYS[3], KEYS[4], ARGV[1], "
                                        "'1', tostring(s)) end return s",
                                        round);
        if (script->type != REDIS_REPLY_INTEGER) {
            char got[300];
            sg_describe_reply(script, got, sizeof(got));
            freeReplyObject(script);
            fail_msg("the script answered %s", got);
        }
        freeReplyObject(script);
    }
    long long sum = 0;
    for (int i = 0; i < TRIALS; i++) sum += raw_trial_info_of(m, trial_name(i)).capacity;
    assert_int_equal(sum, 45);
    sg_wait_replicas(master, 1, WAIT_MS);
    sg_assert_same_digest(m, r);
    assert_same_moves(m, r, "master and replica after MULTI and EVAL");
}

/* ---- persistence ---------------------------------------------------------------------------------- */

static void the_aof_holds_both_commands_and_debug_loadaof_reproduces_the_digest(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, sg_persistence_args(SG_AOF_COMMAND_LOG));
    redisContext *c = sg_fixture_connect(f, s);
    make_trials(c);
    sg_prng p = {sg_workload_seed(0xa0f5e4d)};
    assert_true(random_moves(c, &p, LOAD_CALLS / 2) > 0);
    char *digest = sg_debug_digest(c), *picture = moves_picture(c);

    size_t len = 0;
    char *aof = sg_read_aof_part(s, 'i', NULL, 0, &len);
    int has_send = sg_contains_nocase(aof, len, "SLOTS.SEND");
    int has_receive = sg_contains_nocase(aof, len, "SLOTS.RECEIVE");
    free(aof);
    if (!has_send || !has_receive)
        fail_msg("the AOF lacks SLOTS.SEND (%d) or SLOTS.RECEIVE (%d)", has_send, has_receive);

    sg_command_status(c, "OK", "DEBUG LOADAOF");
    assert_dataset_is(c, digest, picture, "DEBUG LOADAOF");
    sg_server_restart(s);
    c = sg_fixture_reconnect(f, c, s);
    assert_dataset_is(c, digest, picture, "a restart from the AOF");
    free(digest);
    free(picture);
}

static void a_repeat_and_an_empty_send_add_nothing_to_the_aof(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, sg_persistence_args(SG_AOF_COMMAND_LOG));
    redisContext *c = sg_fixture_connect(f, s);
    make_trials(c);
    assert_int_equal(sg_command_integer(c, "SLOTS.SEND {w}:t0 {w}:t0:out a 1 4"), 4);
    assert_int_equal(sg_command_integer(c, "SLOTS.RECEIVE {w}:t1 {w}:t1:in a 0 4"), 1);
    assert_int_equal(sg_command_integer(c, "SLOTS.RESIZE {w}:t2 1"), 0);
    size_t before = 0, after = 0;
    free(sg_read_aof_part(s, 'i', NULL, 0, &before));
    assert_int_equal(sg_command_integer(c, "SLOTS.SEND {w}:t0 {w}:t0:out a 1 4"), 4);
    assert_int_equal(sg_command_integer(c, "SLOTS.SEND {w}:t2 {w}:t2:out b 1 4"), 0);
    assert_int_equal(sg_command_integer(c, "SLOTS.RECEIVE {w}:t1 {w}:t1:in a 0 4"), 0);
    free(sg_read_aof_part(s, 'i', NULL, 0, &after));
    if (after != before) fail_msg("the AOF grew by %zu bytes for a repeat and an empty send", after - before);
}

static void moves_and_boxes_survive_debug_reload_and_repeats_stay_repeats(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    make_trials(c);
    sg_prng p = {sg_workload_seed(0x7e10ad5)};
    random_moves(c, &p, LOAD_CALLS / 2);
    assert_true(sg_command_integer(c, "SLOTS.SEND {w}:t0 {w}:t0:out kept 1 1") >= 0);
    assert_int_equal(sg_command_integer(c, "SLOTS.RECEIVE {w}:t1 {w}:t1:in kept 0 1"), 1);
    char *digest = sg_debug_digest(c), *picture = moves_picture(c);
    sg_command_status(c, "OK", "DEBUG RELOAD");
    assert_dataset_is(c, digest, picture, "DEBUG RELOAD");
    /* the boxes came back: the same move ids are still repeats */
    assert_int_equal(sg_command_integer(c, "SLOTS.RECEIVE {w}:t1 {w}:t1:in kept 0 1"), 0);
    sg_command_status(c, "OK", "SAVE");
    sg_server_restart(s);
    c = sg_fixture_reconnect(f, c, s);
    assert_dataset_is(c, digest, picture, "a restart from RDB");
    free(digest);
    free(picture);
}

static void moves_survive_an_aof_rewrite_with_and_without_rdb_preamble(void **state)
{
    sg_fixture *f = *state;
    static const sg_persistence_mode modes[] = {SG_AOF_REWRITE_RDB_PREAMBLE, SG_AOF_REWRITE_PLAIN};
    for (int k = 0; k < 2; k++) {
        sg_server *s = sg_fixture_start(f, sg_persistence_args(modes[k]));
        redisContext *c = sg_fixture_connect(f, s);
        make_trials(c);
        sg_prng p = {sg_workload_seed(0xbe5e5e4d + (uint64_t)k)};
        random_moves(c, &p, LOAD_CALLS / 4);
        sg_rewrite_aof(c);
        static const char *const commands[] = {"SLOTS.INIT", NULL};
        sg_assert_aof_base(s, modes[k] == SG_AOF_REWRITE_RDB_PREAMBLE, commands);
        random_moves(c, &p, LOAD_CALLS / 4); /* after the rewrite: into the incremental file */
        char *digest = sg_debug_digest(c), *picture = moves_picture(c);
        sg_server_restart(s);
        c = sg_fixture_reconnect(f, c, s);
        assert_dataset_is(c, digest, picture, modes[k] == SG_AOF_REWRITE_PLAIN ? "plain AOF rewrite" : "AOF rewrite");
        free(digest);
        free(picture);
    }
}

/* ---- cluster -------------------------------------------------------------------------------------- */

#define MASTERS 3

static void a_trial_and_a_box_in_different_slots_are_a_crossslot_error_on_every_node(void **state)
{
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    char k0[32], k1[32];
    sg_cluster_key_on(&cl, 0, "trial", k0, sizeof(k0));
    sg_cluster_key_on(&cl, 0, "box", k1, sizeof(k1));
    if (sg_cluster_slot_of(&cl, k0) == sg_cluster_slot_of(&cl, k1)) fail_msg("%s and %s share a slot", k0, k1);
    assert_int_equal(sg_command_integer(cl.c[0], "SLOTS.INIT %s 10", k0), 1);
    for (int m = 0; m < MASTERS; m++) {
        sg_command_error(cl.c[m], "CROSSSLOT ", "SLOTS.SEND %s %s m 1 1", k0, k1);
        sg_command_error(cl.c[m], "CROSSSLOT ", "SLOTS.RECEIVE %s %s m 1 1", k0, k1);
        sg_command_error(cl.c[m], "CROSSSLOT ", "SLOTS.SEND {s}:trial {t}:out m 1 1");
        sg_command_error(cl.c[m], "CROSSSLOT ", "SLOTS.RECEIVE {s}:trial {t}:in m 1 1");
    }
    assert_int_equal(raw_trial_info_of(cl.c[0], k0).capacity, 10);
    assert_int_equal(sg_command_integer(cl.c[0], "DBSIZE"), 1);
}

static void a_trial_and_its_box_under_one_hash_tag_work_on_the_owner_and_are_moved_elsewhere(void **state)
{
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    for (int m = 0; m < MASTERS; m++) {
        char tag[32], trial[48], box[48];
        sg_cluster_key_on(&cl, m, "shard-", tag, sizeof(tag));
        snprintf(trial, sizeof(trial), "{%s}:trial", tag);
        snprintf(box, sizeof(box), "{%s}:box", tag);
        int slot = sg_cluster_slot_of(&cl, trial);
        assert_int_equal(sg_command_integer(cl.c[m], "SLOTS.INIT %s 10", trial), 1);
        assert_int_equal(sg_command_integer(cl.c[m], "SLOTS.SEND %s %s m 1 4", trial, box), 4);
        assert_int_equal(sg_command_integer(cl.c[m], "SLOTS.RECEIVE %s %s m 1 2", trial, box), 0); /* same box: seen */
        assert_int_equal(sg_command_integer(cl.c[m], "SLOTS.RECEIVE %s %s:in m 1 2", trial, box), 1);
        assert_int_equal(raw_trial_info_of(cl.c[m], trial).capacity, 8);
        char moved[64];
        snprintf(moved, sizeof(moved), "MOVED %d 127.0.0.1:%d", slot, cl.node[m]->port);
        for (int other = 0; other < MASTERS; other++) {
            if (other == m) continue;
            sg_command_error(cl.c[other], moved, "SLOTS.SEND %s %s n 1 4", trial, box);
            sg_command_error(cl.c[other], moved, "SLOTS.RECEIVE %s %s n 1 4", trial, box);
        }
    }
}

static void a_move_between_shard_trials_on_two_masters_keeps_the_sum_of_capacities(void **state)
{
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    char tag_a[32], tag_b[32], a[48], a_out[48], b[48], b_in[48];
    sg_cluster_key_on(&cl, 0, "a", tag_a, sizeof(tag_a));
    sg_cluster_key_on(&cl, 2, "b", tag_b, sizeof(tag_b));
    snprintf(a, sizeof(a), "{%s}:trial", tag_a);
    snprintf(a_out, sizeof(a_out), "{%s}:out", tag_a);
    snprintf(b, sizeof(b), "{%s}:trial", tag_b);
    snprintf(b_in, sizeof(b_in), "{%s}:in", tag_b);
    assert_int_equal(sg_command_integer(cl.c[0], "SLOTS.INIT %s 12", a), 1);
    assert_int_equal(sg_command_integer(cl.c[2], "SLOTS.INIT %s 0 WAITLIST 3", b), 1);
    assert_int_equal(raw_enroll(cl.c[2], b, "waiting"), 2);
    long long sent = sg_command_integer(cl.c[0], "SLOTS.SEND %s %s move-1 2 5", a, a_out);
    assert_int_equal(sent, 5);
    assert_int_equal(sg_command_integer(cl.c[2], "SLOTS.RECEIVE %s %s move-1 0 %lld", b, b_in, sent), 1);
    assert_int_equal(sg_command_integer(cl.c[2], "SLOTS.RECEIVE %s %s move-1 0 %lld", b, b_in, sent), 0);
    assert_int_equal(raw_trial_info_of(cl.c[0], a).capacity + raw_trial_info_of(cl.c[2], b).capacity, 12);
    raw_assert_enroll_status(cl.c[2], b, "waiting", "enrolled", 1);
}

static void command_getkeys_on_a_cluster_node_names_the_trial_and_the_box(void **state)
{
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    static const char *const lines[] = {"COMMAND GETKEYS SLOTS.SEND {t}a {t}b m 1 2",
                                        "COMMAND GETKEYS SLOTS.RECEIVE {t}a {t}b m 1 2"};
    for (size_t i = 0; i < 2; i++) {
        redisReply *r = sg_command(cl.c[1], lines[i]);
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && sg_reply_is_text(r->element[0], "{t}a") &&
                 sg_reply_is_text(r->element[1], "{t}b");
        freeReplyObject(r);
        if (!ok) fail_msg("%s: got %s", lines[i], got);
    }
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, sg_fixture_setup, sg_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(a_replica_has_the_masters_digest_after_a_random_workload_of_moves_and_enrolls),
        FIXTURE_TEST(a_replica_answers_readonly_to_both_and_keeps_its_dataset),
        FIXTURE_TEST(a_repeat_an_empty_send_and_an_error_propagate_nothing),
        FIXTURE_TEST(moves_inside_multi_and_scripts_reach_the_replica),
        FIXTURE_TEST(the_aof_holds_both_commands_and_debug_loadaof_reproduces_the_digest),
        FIXTURE_TEST(a_repeat_and_an_empty_send_add_nothing_to_the_aof),
        FIXTURE_TEST(moves_and_boxes_survive_debug_reload_and_repeats_stay_repeats),
        FIXTURE_TEST(moves_survive_an_aof_rewrite_with_and_without_rdb_preamble),
        FIXTURE_TEST(a_trial_and_a_box_in_different_slots_are_a_crossslot_error_on_every_node),
        FIXTURE_TEST(a_trial_and_its_box_under_one_hash_tag_work_on_the_owner_and_are_moved_elsewhere),
        FIXTURE_TEST(a_move_between_shard_trials_on_two_masters_keeps_the_sum_of_capacities),
        FIXTURE_TEST(command_getkeys_on_a_cluster_node_names_the_trial_and_the_box),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
