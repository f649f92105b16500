/* test_cluster.c -- SlotGuard on Redis Cluster: three masters on loopback, one with a replica.
 *
 * Every command names exactly one key, declared by key spec at position 1, so the cluster routes
 * it like any native single-key command: the node that owns the key's slot runs it, every other node
 * answers MOVED with the owner's address, and COMMAND GETKEYS names the key. A cluster replica
 * holds the same trials, locks and idempotency records as its master (DEBUG DIGEST) and, after a
 * CLUSTER FAILOVER, serves them and issues lock tokens above every token of its old master, which
 * now redirects writes to it. A client waiting in LOCK.ACQUIRE ... WAIT on the old master gets an
 * error when the failover demotes it, not a grant.
 *
 * The cluster is built by hand (cluster.c: CLUSTER ADDSLOTSRANGE, CLUSTER MEET, CLUSTER REPLICATE),
 * no redis-cli --cluster. Servers and connections belong to the test's fixture, released pass or
 * fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cluster.h"

#define MASTERS 3
#define REPLY_TIMEOUT_MS 20000

/* ---- keys and routing --------------------------------------------------------------------------- */

typedef struct routed_command {
    const char *format; /* one %s: the key */
    const char *name;   /* for COMMAND GETKEYS, the words before the key */
    const char *rest;   /* the words after the key */
} routed_command;

/* In an order that makes each succeed on the owner: create, use, read, remove. */
static const routed_command routed[] = {
    {"SLOTS.INIT %s 10 WAITLIST 5", "SLOTS.INIT", "10"},
    {"ENROLL %s patient-1", "ENROLL", "patient-1"},
    {"ENROLL.STATUS %s patient-1", "ENROLL.STATUS", "patient-1"},
    {"SLOTS.INFO %s", "SLOTS.INFO", NULL},
    {"SLOTS.RESIZE %s 20", "SLOTS.RESIZE", "20"},
    {"ENROLL.MEMBERS %s 0", "ENROLL.MEMBERS", "0"},
    {"ENROLL.CANCEL %s patient-1", "ENROLL.CANCEL", "patient-1"},
    {"LOCK.ACQUIRE %s:lock owner-1 10000", "LOCK.ACQUIRE", "owner-1 10000"},
    {"LOCK.EXTEND %s:lock owner-1 20000", "LOCK.EXTEND", "owner-1 20000"},
    {"LOCK.INFO %s:lock", "LOCK.INFO", NULL},
    {"LOCK.RELEASE %s:lock owner-1", "LOCK.RELEASE", "owner-1"},
    {"IDEMP.SETNX %s:msg 60", "IDEMP.SETNX", "60"},
    {"IDEMP.BEGIN %s:req fp-1 10000", "IDEMP.BEGIN", "fp-1 10000"},
    {"IDEMP.GET %s:req", "IDEMP.GET", NULL},
};

/* The key the command at `format` touches when given `base` (some use base:lock and the like). */
static void key_of(const char *format, const char *base, char *out, size_t size)
{
    const char *at = strstr(format, "%s");
    size_t tail = strcspn(at + 2, " ");
    snprintf(out, size, "%s%.*s", base, (int)tail, at + 2);
}

static void assert_moved_to(redisReply *r, int slot, int port, const char *what)
{
    char expected[64], got[300];
    snprintf(expected, sizeof(expected), "MOVED %d 127.0.0.1:%d", slot, port);
    if (r->type != REDIS_REPLY_ERROR || strcmp(r->str, expected) != 0) {
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("%s: expected \"%s\", got %s", what, expected, got);
    }
    freeReplyObject(r);
}

static void test_every_command_runs_on_the_owner_of_its_key_and_is_moved_elsewhere(void **state)
{
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    for (int m = 0; m < MASTERS; m++) {
        /* A hash tag keeps base, base:lock, base:msg and base:req in one slot. */
        char tag[32], base[48];
        sg_cluster_key_on(&cl, m, "trial-", tag, sizeof(tag));
        snprintf(base, sizeof(base), "{%s}", tag);
        int slot = sg_cluster_slot_of(&cl, base);
        for (size_t i = 0; i < sizeof(routed) / sizeof(routed[0]); i++) {
            char key[96], what[160];
            key_of(routed[i].format, base, key, sizeof(key));
            assert_int_equal(sg_cluster_slot_of(&cl, key), slot);
            snprintf(what, sizeof(what), "%s on master %d", routed[i].name, m);

            redisReply *r = sg_command(cl.c[m], routed[i].format, base);
            if (r->type == REDIS_REPLY_ERROR) fail_msg("%s: owner answered error \"%s\"", what, r->str);
            freeReplyObject(r);
            for (int other = 0; other < MASTERS; other++) {
                if (other == m) continue;
                assert_moved_to(sg_command(cl.c[other], routed[i].format, base), slot, cl.node[m]->port, what);
            }
        }
        assert_int_equal(sg_command_integer(cl.c[m], "EXISTS %s %s:msg %s:req", base, base, base), 3);
    }
}

static void test_command_getkeys_names_the_one_key_of_every_command(void **state)
{
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    for (size_t i = 0; i < sizeof(routed) / sizeof(routed[0]); i++) {
        char key[96];
        key_of(routed[i].format, "{k}", key, sizeof(key));
        char line[256];
        snprintf(line, sizeof(line), "COMMAND GETKEYS %s %s%s%s", routed[i].name, key, routed[i].rest ? " " : "",
                 routed[i].rest ? routed[i].rest : "");
        /* Split on spaces: none of the words holds one. */
        const char *argv[16];
        size_t argvlen[16];
        int argc = 0;
        for (char *word = strtok(line, " "); word != NULL && argc < 16; word = strtok(NULL, " ")) {
            argv[argc] = word;
            argvlen[argc++] = strlen(word);
        }
        redisReply *r = sg_command_args(cl.c[0], argc, argv, argvlen);
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 || !sg_reply_is_text(r->element[0], key))
            fail_msg("COMMAND GETKEYS %s: expected [%s], got %s", routed[i].name, key, got);
        freeReplyObject(r);
    }
}

/* ---- replica and failover ----------------------------------------------------------------------- */

static long long lock_token(redisContext *c, const char *key)
{
    redisReply *r = sg_command(c, "LOCK.INFO %s", key);
    long long token = -1;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            if (sg_reply_is_text(r->element[i], "token")) token = r->element[i + 1]->integer;
        }
    }
    freeReplyObject(r);
    if (token < 1) fail_msg("LOCK.INFO %s: no token", key);
    return token;
}

static void test_a_cluster_replica_takes_over_the_locks_trials_and_records_of_its_master(void **state)
{
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    int replica_node = sg_cluster_add_replica(&cl, 0);
    redisContext *master = cl.c[0], *replica = cl.c[replica_node];

    char base[32], lock[48], trial[48], msg[48], other_lock[48];
    sg_cluster_key_on(&cl, 0, "failover-", base, sizeof(base));
    snprintf(lock, sizeof(lock), "{%s}:lock", base);
    snprintf(trial, sizeof(trial), "{%s}:trial", base);
    snprintf(msg, sizeof(msg), "{%s}:msg", base);
    snprintf(other_lock, sizeof(other_lock), "{%s}:other", base);

    long long token = sg_command_integer(master, "LOCK.ACQUIRE %s holder 60000", lock);
    assert_true(token >= 1);
    assert_int_equal(sg_command_integer(master, "SLOTS.INIT %s 2", trial), 1);
    assert_int_equal(sg_command_integer(master, "ENROLL %s p1", trial), 1);
    assert_int_equal(sg_command_integer(master, "IDEMP.SETNX %s 600", msg), 1);

    /* A waiter on the master, in the queue when the failover happens. */
    redisContext *waiter = sg_fixture_connect(cl.f, cl.node[0]);
    sg_send_command(waiter, "LOCK.ACQUIRE %s waiter 60000 WAIT 30000", lock);
    int64_t deadline = sg_now_ms() + 5000;
    while (!sg_info_field_is(master, "slotguard_lock_waiting_now", "1")) {
        if (sg_now_ms() > deadline) fail_msg("the waiter never queued");
        sg_sleep_ms(10);
    }

    sg_wait_replicas(cl.node[0], 1, 10000);
    char *d_master = sg_debug_digest(master), *d_replica = sg_debug_digest(replica);
    assert_string_equal(d_master, d_replica);
    free(d_master);
    free(d_replica);
    sg_command_status(replica, "OK", "READONLY");
    assert_int_equal(lock_token(replica, lock), token);
    redisReply *status = sg_command(replica, "ENROLL.STATUS %s p1", trial);
    assert_int_equal(status->type, REDIS_REPLY_ARRAY);
    assert_true(sg_reply_is_text(status->element[0], "enrolled"));
    freeReplyObject(status);

    /* Manual failover: the replica waits for the master's offset, then takes its slots. */
    sg_cluster_failover(&cl, replica_node);

    redisReply *r = sg_receive_reply(waiter, REPLY_TIMEOUT_MS, "the waiter on the demoted master");
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    if (r->type != REDIS_REPLY_ERROR) fail_msg("the waiter on the demoted master got %s, not an error", got);
    print_message("the waiter on the demoted master got %s\n", got);
    freeReplyObject(r);
    assert_true(sg_info_field_is(master, "slotguard_lock_waiting_now", "0"));

    /* The new master serves everything and fences above the old master's tokens. */
    int slot = sg_cluster_slot_of(&cl, lock);
    assert_moved_to(sg_command(master, "LOCK.ACQUIRE %s someone 1000", other_lock), slot, cl.node[replica_node]->port,
                    "LOCK.ACQUIRE on the demoted master");
    assert_int_equal(lock_token(replica, lock), token);
    assert_int_equal(sg_command_integer(replica, "LOCK.RELEASE %s holder", lock), 1);
    long long next = sg_command_integer(replica, "LOCK.ACQUIRE %s successor 60000", lock);
    assert_true(next > token);
    assert_true(sg_command_integer(replica, "LOCK.ACQUIRE %s someone 60000", other_lock) > next);
    assert_int_equal(sg_command_integer(replica, "ENROLL %s p2", trial), 1);
    assert_int_equal(sg_command_integer(replica, "ENROLL %s p3", trial), 0); /* capacity 2 */
    assert_int_equal(sg_command_integer(replica, "IDEMP.SETNX %s 600", msg), 0);

    /* The old master follows as a replica and ends with the same data. */
    sg_wait_replicas(cl.node[replica_node], 1, 10000);
    d_master = sg_debug_digest(replica);
    d_replica = sg_debug_digest(master);
    assert_string_equal(d_master, d_replica);
    free(d_master);
    free(d_replica);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_command_runs_on_the_owner_of_its_key_and_is_moved_elsewhere,
                                        sg_fixture_setup, sg_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_command_getkeys_names_the_one_key_of_every_command, sg_fixture_setup,
                                        sg_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_cluster_replica_takes_over_the_locks_trials_and_records_of_its_master,
                                        sg_fixture_setup, sg_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
