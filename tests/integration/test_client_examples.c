/* test_client_examples.c -- the example programs (examples/flash_enroll, locked_update,
 * idempotent_consumer) run as a user runs them, against a real redis-server with the module and
 * against a three-master Redis Cluster: their exit status and their output lines, exactly
 * (flash_enroll also with --shards, on a sharded trial, checked shard by shard from the servers).
 *
 * The binaries are taken from $SG_EXAMPLES (make integration sets it to examples/, make asan-test
 * to the ASan builds). Every run is bounded by timeout(1); stdout and stderr are captured apart, so
 * a failure message shows both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"
#include "cluster.h"
#include "example_runs.h"



/* The `enrolled` field of SLOTS.INFO, seen by the server itself. */
static long long trial_enrolled(redisContext *c, const char *trial) {
    redisReply *r = sg_command(c, "SLOTS.INFO %s", trial);
    long long enrolled = -1;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            if (sg_reply_is_text(r->element[i], "enrolled") && r->element[i + 1]->type == REDIS_REPLY_INTEGER)
                enrolled = r->element[i + 1]->integer;
    char described[200];
    sg_describe_reply(r, described, sizeof(described));
    freeReplyObject(r);
    if (enrolled < 0) fail_msg("SLOTS.INFO %s: no enrolled field in %s", trial, described);
    return enrolled;
}

/* One integer field of SLOTS.INFO (capacity, enrolled, ...); fails the test when it is missing. */
static long long trial_info_field(redisContext *c, const char *trial, const char *field) {
    redisReply *r = sg_command(c, "SLOTS.INFO %s", trial);
    const redisReply *value = r->type == REDIS_REPLY_ARRAY ? sg_map_get(r, field) : NULL;
    long long number = value != NULL && value->type == REDIS_REPLY_INTEGER ? value->integer : -1;
    char described[200];
    sg_describe_reply(r, described, sizeof(described));
    freeReplyObject(r);
    if (number < 0) fail_msg("SLOTS.INFO %s: no integer %s field in %s", trial, field, described);
    return number;
}

/* The shard trials of sharded trial `name` as the servers hold them, found with SCAN MATCH
 * NAME:trial:* on every node: how many, on which node, their SLOTS.INFO capacities and enrolled
 * added up. Each shard index 0..shards-1 must be found exactly once. In cluster mode (cl not NULL)
 * every key must sit on the node that serves its CLUSTER KEYSLOT, and its hash tag must be
 * {NAME:<i>:<salt>}. */
typedef struct shard_census {
    int keys;
    long long capacity, enrolled;
    int on_node[SG_CLUSTER_MAX_NODES];
} shard_census;

static void census_of_shards(sg_cluster *cl, redisContext *const *conns, int nodes, const char *name, int shards,
                             shard_census *census) {
    memset(census, 0, sizeof(*census));
    int seen[64] = {0};
    if (shards > 64) fail_msg("census_of_shards: at most 64 shards");
    char pattern[256];
    snprintf(pattern, sizeof(pattern), "%s:trial:*", name);
    for (int n = 0; n < nodes; n++) {
        char cursor[32] = "0";
        do {
            redisReply *r = sg_command(conns[n], "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
                r->element[1]->type != REDIS_REPLY_ARRAY)
                fail_msg("SCAN on node %d: unexpected reply", n);
            snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
            for (size_t k = 0; k < r->element[1]->elements; k++) {
                const char *key = r->element[1]->element[k]->str;
                int shard = -1, used = 0;
                char tag[256];
                if (sscanf(key + strlen(name), ":trial:%d:%n", &shard, &used) != 1 || shard < 0 || shard >= shards)
                    fail_msg("node %d holds %s: not a shard trial 0..%d of %s", n, key, shards - 1, name);
                if (seen[shard]++) fail_msg("shard %d of %s found twice (again as %s on node %d)", shard, name, key, n);
                if (cl != NULL) {
                    snprintf(tag, sizeof(tag), "{%s:%d:", name, shard);
                    const char *at = key + strlen(name) + (size_t)used;
                    if (strncmp(at, tag, strlen(tag)) != 0 || key[strlen(key) - 1] != '}')
                        fail_msg("%s: expected the hash tag %s<salt>}", key, tag);
                    int owner = sg_cluster_owner(cl, n, sg_cluster_slot_of(cl, key));
                    if (owner != n) fail_msg("%s is on node %d, its slot is served by node %d", key, n, owner);
                }
                census->keys++;
                census->on_node[n]++;
                census->capacity += trial_info_field(conns[n], key, "capacity");
                census->enrolled += trial_info_field(conns[n], key, "enrolled");
            }
            freeReplyObject(r);
        } while (strcmp(cursor, "0") != 0);
    }
    for (int i = 0; i < shards; i++)
        if (!seen[i]) fail_msg("shard %d of %s is on no node", i, name);
}

/* ---- expected outputs ---------------------------------------------------------------------------- */
/* flash_enroll on a fresh trial with no waitlist: the first min(capacity, patients) calls that find
 * room enroll; every other call of a patient who was never enrolled is full; every repeat of an
 * enrolled patient is already_enrolled. */
static void expected_flash_output(char *out, size_t size, long long capacity, long long patients, long long repeats) {
    long long enrolled = capacity < patients ? capacity : patients;
    snprintf(out, size, "enrolled %lld\nfull %lld\nalready_enrolled %lld\nover_enrolled 0\n", enrolled,
             (patients - enrolled) * repeats, enrolled * (repeats - 1));
}

/* flash_enroll --shards on a fresh sharded trial: the same counts (slots move to the shard that
 * needs them, so nobody is refused while a slot is free), then its three extra lines. */
static void expected_sharded_flash_output(char *out, size_t size, long long capacity, long long patients,
                                          long long repeats, int shards) {
    expected_flash_output(out, size, capacity, patients, repeats);
    size_t len = strlen(out);
    snprintf(out + len, size - len, "shards %d\nmoves_in_flight 0\nduplicates 0\n", shards);
}

static void expected_locked_output(char *out, size_t size, long long workers, long long updates) {
    snprintf(out, size, "updates %lld\nbalance %lld\nrefused_stale 0\npaused_holder_refused 1\nlock_lost_reported 1\n",
             workers * updates, workers * updates);
}

/* Message i carries amount i; consumer A acks only the 2nd, 4th, ... of the `crash_after` it
 * applied, so ceil(crash_after / 2) are delivered again and skipped as duplicates. */
static void expected_consumer_output(char *out, size_t size, long long messages, long long crash_after) {
    snprintf(out, size, "messages %lld\napplied %lld\nduplicates_skipped %lld\ntotal %lld\n", messages, messages,
             (crash_after + 1) / 2, messages * (messages + 1) / 2);
}

/* ---- flash_enroll -------------------------------------------------------------------------------- */
static void flash_enroll_enrolls_exactly_the_capacity_and_answers_every_repeat_already_enrolled(void **state) {
    (void)state;
    sg_example_run run;
    const char *args[] = {"--trial", "trial:crowd", "--capacity", "50", "--patients", "400",
                          "--threads", "8",           "--repeats",  "3",  NULL};
    sg_run_example(&run, "flash_enroll", sg_group_server->port, args);
    char expected[256];
    expected_flash_output(expected, sizeof(expected), 50, 400, 3); /* enrolled 50, full 1050, already 100 */
    sg_assert_example_run(&run, "flash_enroll", 0, expected);
    assert_int_equal(trial_enrolled(sg_conn, "trial:crowd"), 50);
}

/* flash_enroll while it is cut off from the server three times: the threads count the failed
 * calls, go on, and the run ends with the trial read back and exit 3 (faults, trial sound). */
static void run_flash_enroll_through_killed_connections(const char *const *args, const char *trial, long long capacity) {
    sg_cutoff *cut = sg_cutoff_start(sg_group_server->port, sg_conn, 3);
    sg_example_run run;
    sg_run_example(&run, "flash_enroll", sg_group_server->port, args);
    long kills = sg_cutoff_join(cut);
    if (run.status != 3 || strstr(run.out, "over_enrolled 0\n") == NULL || strstr(run.out, "gave_up 0\n") == NULL ||
        strstr(run.out, "server_enrolled ") == NULL || strstr(run.out, "errors 0\n") != NULL)
        fail_msg("flash_enroll through %ld killed connections: exit %d (expected 3), stdout:\n%s\nstderr:\n%s", kills,
                 run.status, run.out, run.err);
    long long server_enrolled = -1;
    sscanf(strstr(run.out, "server_enrolled "), "server_enrolled %lld", &server_enrolled);
    assert_true(server_enrolled >= 0 && server_enrolled <= capacity);
    if (trial != NULL) assert_int_equal(trial_enrolled(sg_conn, trial), server_enrolled);
}

static void flash_enroll_goes_on_through_killed_connections_and_reads_the_trial_back(void **state) {
    (void)state;
    const char *args[] = {"--trial", "trial:cut", "--capacity", "5000", "--patients", "20000",
                          "--threads", "8",         "--repeats",  "4",    "--max-errors", "1000", NULL};
    run_flash_enroll_through_killed_connections(args, "trial:cut", 5000);
}

static void flash_enroll_sharded_goes_on_through_killed_connections_and_reads_the_shards_back(void **state) {
    (void)state;
    const char *args[] = {"--trial", "cut", "--shards", "3", "--capacity", "5000", "--patients", "20000",
                          "--threads", "8", "--repeats", "4", "--max-errors", "1000", NULL};
    run_flash_enroll_through_killed_connections(args, NULL, 5000);
}

static void flash_enroll_with_its_defaults_fills_a_trial_of_100_from_1000_patients(void **state) {
    (void)state;
    sg_example_run run;
    sg_run_example(&run, "flash_enroll", sg_group_server->port, NULL);
    char expected[256];
    expected_flash_output(expected, sizeof(expected), 100, 1000, 2);
    sg_assert_example_run(&run, "flash_enroll", 0, expected);
}

static void flash_enroll_enrolls_every_patient_when_the_trial_has_room_for_all(void **state) {
    (void)state;
    sg_example_run run;
    const char *args[] = {"--capacity", "500", "--patients", "120", "--threads", "4", "--repeats", "2", NULL};
    sg_run_example(&run, "flash_enroll", sg_group_server->port, args);
    char expected[256];
    expected_flash_output(expected, sizeof(expected), 500, 120, 2);
    sg_assert_example_run(&run, "flash_enroll", 0, expected);
}

static void flash_enroll_on_an_existing_trial_says_so_and_finds_every_patient_already_enrolled_or_full(void **state) {
    (void)state;
    sg_example_run first, second;
    const char *args[] = {"--capacity", "30", "--patients", "100", "--threads", "4", "--repeats", "1", NULL};
    sg_run_example(&first, "flash_enroll", sg_group_server->port, args);
    char expected[256];
    expected_flash_output(expected, sizeof(expected), 30, 100, 1);
    sg_assert_example_run(&first, "flash_enroll", 0, expected);

    sg_run_example(&second, "flash_enroll", sg_group_server->port, args);
    sg_assert_example_run(&second, "flash_enroll (again)", 0, "enrolled 0\nfull 70\nalready_enrolled 30\nover_enrolled 0\n");
    if (strstr(second.err, "already exists") == NULL)
        fail_msg("flash_enroll on an existing trial: expected \"already exists\" on stderr, got:\n%s", second.err);
}

/* ---- flash_enroll --shards ------------------------------------------------------------------------ */
static void flash_enroll_sharded_enrolls_exactly_the_capacity_over_three_shards_and_nobody_twice(void **state) {
    (void)state;
    sg_example_run run;
    const char *args[] = {"--shards", "3", "--capacity", "60", "--patients", "400", "--threads", "8",
                          "--repeats", "2", NULL};
    sg_run_example(&run, "flash_enroll", sg_group_server->port, args);
    char expected[256];
    expected_sharded_flash_output(expected, sizeof(expected), 60, 400, 2, 3); /* enrolled 60, full 680, already 60 */
    sg_assert_example_run(&run, "flash_enroll --shards 3", 0, expected);
    /* The server's own view: three shard trials of the default name, 60 slots, 60 enrolled. */
    shard_census census;
    census_of_shards(NULL, &sg_conn, 1, "trial:flash", 3, &census);
    assert_int_equal(census.keys, 3);
    assert_int_equal(census.capacity, 60);
    assert_int_equal(census.enrolled, 60);
    /* The single-key trial of the default mode was never made. */
    assert_int_equal(sg_exists(sg_conn, "trial:flash"), 0);
}

static void flash_enroll_sharded_enrolls_every_patient_when_the_shards_have_room_for_all(void **state) {
    (void)state;
    sg_example_run run;
    const char *args[] = {"--trial", "crowd4", "--shards", "4", "--capacity", "1000", "--patients", "300",
                          "--threads", "8", "--repeats", "3", NULL};
    sg_run_example(&run, "flash_enroll", sg_group_server->port, args);
    char expected[256];
    expected_sharded_flash_output(expected, sizeof(expected), 1000, 300, 3, 4); /* enrolled 300, full 0, already 600 */
    sg_assert_example_run(&run, "flash_enroll --shards 4", 0, expected);
    shard_census census;
    census_of_shards(NULL, &sg_conn, 1, "crowd4", 4, &census);
    assert_int_equal(census.capacity, 1000);
    assert_int_equal(census.enrolled, 300);
}

static void flash_enroll_sharded_on_an_existing_trial_says_so_and_finds_every_patient_already_enrolled_or_full(
    void **state) {
    (void)state;
    sg_example_run first, second;
    const char *args[] = {"--shards", "2", "--capacity", "30", "--patients", "100", "--threads", "4",
                          "--repeats", "1", NULL};
    sg_run_example(&first, "flash_enroll", sg_group_server->port, args);
    char expected[256];
    expected_sharded_flash_output(expected, sizeof(expected), 30, 100, 1, 2);
    sg_assert_example_run(&first, "flash_enroll --shards 2", 0, expected);

    sg_run_example(&second, "flash_enroll", sg_group_server->port, args);
    sg_assert_example_run(&second, "flash_enroll --shards 2 (again)", 0,
                          "enrolled 0\nfull 70\nalready_enrolled 30\nover_enrolled 0\nshards 2\nmoves_in_flight 0\n"
                          "duplicates 0\n");
    if (strstr(second.err, "already exists") == NULL)
        fail_msg("flash_enroll --shards on an existing trial: expected \"already exists\" on stderr, got:\n%s",
                 second.err);
}

static void flash_enroll_help_documents_shards(void **state) {
    (void)state;
    sg_example_run run;
    const char *args[] = {"--help", NULL};
    sg_run_example(&run, "flash_enroll", 0, args);
    sg_assert_example_run(&run, "flash_enroll --help", 0, NULL);
    if (strstr(run.out, "--shards S") == NULL || strstr(run.out, "duplicates") == NULL)
        fail_msg("flash_enroll --help: expected --shards S and the duplicates line documented, got:\n%s", run.out);
}

static void flash_enroll_refuses_a_negative_or_non_numeric_shard_count_with_exit_2(void **state) {
    (void)state;
    const char *const values[] = {"-1", "abc", "3x", "", "1025"};
    for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
        sg_example_run run;
        const char *args[] = {"--shards", values[v], NULL};
        sg_run_example(&run, "flash_enroll", sg_group_server->port, args);
        sg_assert_example_run(&run, "flash_enroll --shards (bad)", 2, "");
        if (strstr(run.err, "--shards") == NULL)
            fail_msg("flash_enroll --shards '%s': expected the flag named on stderr, got:\n%s", values[v], run.err);
    }
    /* Nothing was created. */
    assert_int_equal(sg_command_integer(sg_conn, "DBSIZE"), 0);
}

/* ---- locked_update ------------------------------------------------------------------------------- */
static void locked_update_counts_every_update_once_and_refuses_the_paused_holder(void **state) {
    (void)state;
    sg_example_run run;
    const char *args[] = {"--workers", "4", "--updates", "25", NULL};
    sg_run_example(&run, "locked_update", sg_group_server->port, args);
    char expected[256];
    expected_locked_output(expected, sizeof(expected), 4, 25);
    sg_assert_example_run(&run, "locked_update", 0, expected);
    /* The successor's write after the workers' is the last one the store took. */
    redisReply *r = sg_command(sg_conn, "HGET {store}:account balance");
    assert_true(sg_reply_is_text(r, "101"));
    freeReplyObject(r);
}

static void locked_update_with_its_defaults_counts_every_update(void **state) {
    (void)state;
    sg_example_run run;
    sg_run_example(&run, "locked_update", sg_group_server->port, NULL);
    char expected[256];
    expected_locked_output(expected, sizeof(expected), 4, 50);
    sg_assert_example_run(&run, "locked_update", 0, expected);
}

static void locked_update_uses_the_lock_and_store_keys_it_is_given(void **state) {
    (void)state;
    sg_example_run run;
    const char *args[] = {"--lock", "{acct7}:lock", "--store", "{acct7}:hash", "--workers", "2", "--updates", "10",
                          "--ttl",  "1000",         NULL};
    sg_run_example(&run, "locked_update", sg_group_server->port, args);
    char expected[256];
    expected_locked_output(expected, sizeof(expected), 2, 10);
    sg_assert_example_run(&run, "locked_update", 0, expected);
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS {acct7}:hash"), 1);
    assert_int_equal(sg_command_integer(sg_conn, "EXISTS {store}:account"), 0);
}

/* ---- idempotent_consumer ------------------------------------------------------------------------- */
static void idempotent_consumer_applies_every_message_once_through_a_crash_and_redeliveries(void **state) {
    (void)state;
    sg_example_run run;
    const char *args[] = {"--messages", "30", "--crash-after", "11", NULL};
    sg_run_example(&run, "idempotent_consumer", sg_group_server->port, args);
    char expected[256];
    expected_consumer_output(expected, sizeof(expected), 30, 11);
    sg_assert_example_run(&run, "idempotent_consumer", 0, expected);
    redisReply *r = sg_command(sg_conn, "GET {orders}:total");
    assert_true(sg_reply_is_text(r, "465"));
    freeReplyObject(r);
    assert_int_equal(sg_command_integer(sg_conn, "XLEN {orders}:stream"), 30);
}

static void idempotent_consumer_with_its_defaults_crashes_halfway_and_still_applies_each_message_once(void **state) {
    (void)state;
    sg_example_run run;
    sg_run_example(&run, "idempotent_consumer", sg_group_server->port, NULL);
    char expected[256];
    expected_consumer_output(expected, sizeof(expected), 20, 10);
    sg_assert_example_run(&run, "idempotent_consumer", 0, expected);
}

static void idempotent_consumer_that_never_crashes_still_skips_the_messages_it_did_not_ack(void **state) {
    (void)state;
    sg_example_run run;
    const char *args[] = {"--stream", "{bills}:in", "--group", "g2", "--messages", "9", "--crash-after", "9", NULL};
    sg_run_example(&run, "idempotent_consumer", sg_group_server->port, args);
    char expected[256];
    expected_consumer_output(expected, sizeof(expected), 9, 9);
    sg_assert_example_run(&run, "idempotent_consumer", 0, expected);
    redisReply *r = sg_command(sg_conn, "GET {bills}:total");
    assert_true(sg_reply_is_text(r, "45"));
    freeReplyObject(r);
}

/* ---- the command line of every example ------------------------------------------------------------ */
typedef struct example_flags {
    const char *name;
    const char *flags[10];
} example_flags;

static const example_flags every_example[] = {
    {"flash_enroll",
     {"--host", "--port", "--cluster", "--trial", "--capacity", "--patients", "--threads", "--repeats", "--help",
      NULL}},
    {"locked_update",
     {"--host", "--port", "--cluster", "--lock", "--store", "--workers", "--updates", "--ttl", "--help", NULL}},
    {"idempotent_consumer",
     {"--host", "--port", "--cluster", "--stream", "--group", "--messages", "--crash-after", "--help", NULL}},
};
#define EXAMPLE_COUNT (sizeof(every_example) / sizeof(every_example[0]))

static void every_example_prints_its_usage_with_every_flag_on_help_and_exits_0(void **state) {
    (void)state;
    for (size_t e = 0; e < EXAMPLE_COUNT; e++) {
        sg_example_run run;
        const char *args[] = {"--help", NULL};
        sg_run_example(&run, every_example[e].name, 0, args);
        sg_assert_example_run(&run, every_example[e].name, 0, NULL);
        if (strncmp(run.out, "usage: ", 7) != 0)
            fail_msg("%s --help: no usage on stdout:\n%s", every_example[e].name, run.out);
        for (int f = 0; every_example[e].flags[f] != NULL; f++)
            if (strstr(run.out, every_example[e].flags[f]) == NULL)
                fail_msg("%s --help: the usage does not name %s:\n%s", every_example[e].name, every_example[e].flags[f],
                         run.out);
    }
}

static void every_example_refuses_an_unknown_flag_with_its_usage_on_stderr_and_exit_2(void **state) {
    (void)state;
    for (size_t e = 0; e < EXAMPLE_COUNT; e++) {
        sg_example_run run;
        const char *args[] = {"--no-such-flag", NULL};
        sg_run_example(&run, every_example[e].name, sg_group_server->port, args);
        sg_assert_example_run(&run, every_example[e].name, 2, "");
        if (strstr(run.err, "--no-such-flag") == NULL || strstr(run.err, "usage: ") == NULL)
            fail_msg("%s --no-such-flag: expected the flag and the usage on stderr, got:\n%s", every_example[e].name,
                     run.err);
    }
}

static void every_example_refuses_a_flag_without_its_value_with_exit_2(void **state) {
    (void)state;
    for (size_t e = 0; e < EXAMPLE_COUNT; e++) {
        sg_example_run run;
        const char *args[] = {"--port", NULL};
        sg_run_example(&run, every_example[e].name, 0, args);
        sg_assert_example_run(&run, every_example[e].name, 2, "");
        const char *bad_number[] = {"--port", "sixty", NULL};
        sg_run_example(&run, every_example[e].name, 0, bad_number);
        sg_assert_example_run(&run, every_example[e].name, 2, "");
    }
}

static void every_example_reports_a_server_it_cannot_reach_on_stderr_and_exits_1(void **state) {
    (void)state;
    int closed_port = sg_free_port();
    for (size_t e = 0; e < EXAMPLE_COUNT; e++) {
        sg_example_run run;
        sg_run_example(&run, every_example[e].name, closed_port, NULL);
        sg_assert_example_run(&run, every_example[e].name, 1, "");
        char where[32];
        snprintf(where, sizeof(where), "127.0.0.1:%d", closed_port);
        if (strstr(run.err, where) == NULL)
            fail_msg("%s on a closed port: expected the library's error naming %s, got:\n%s", every_example[e].name,
                     where, run.err);
    }
}

/* ---- on a cluster --------------------------------------------------------------------------------- */
#define MASTERS 3

static void flash_enroll_on_a_three_master_cluster_enrolls_exactly_the_capacity(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    sg_example_run run;
    /* The seed is a node that does not serve the trial's slot: the library follows MOVED. */
    int slot = sg_cluster_slot_of(&cl, "trial:flash");
    int owner = sg_cluster_owner(&cl, 0, slot);
    int seed = (owner + 1) % MASTERS;
    const char *args[] = {"--cluster", "--capacity", "50", "--patients", "400",
                          "--threads", "8",          "--repeats", "3", NULL};
    sg_run_example(&run, "flash_enroll", cl.node[seed]->port, args);
    char expected[256];
    expected_flash_output(expected, sizeof(expected), 50, 400, 3);
    sg_assert_example_run(&run, "flash_enroll --cluster", 0, expected);
    assert_int_equal(trial_enrolled(cl.c[owner], "trial:flash"), 50);
}

/* flash_enroll --cluster --shards S: the exact counts, then from the nodes themselves: the shard
 * trials spread round-robin over the masters (S / MASTERS each), each on the node serving its slot,
 * their capacities adding up to the total and every slot taken. */
static void flash_enroll_sharded_on_the_cluster(sg_cluster *cl, int shards) {
    sg_example_run run;
    char shards_text[16];
    snprintf(shards_text, sizeof(shards_text), "%d", shards);
    const char *args[] = {"--cluster", "--shards", shards_text, "--capacity", "300", "--patients", "2000",
                          "--threads", "8", "--repeats", "2", NULL};
    sg_run_example(&run, "flash_enroll", cl->node[0]->port, args);
    char expected[256], name[64];
    expected_sharded_flash_output(expected, sizeof(expected), 300, 2000, 2, shards);
    snprintf(name, sizeof(name), "flash_enroll --cluster --shards %d", shards);
    sg_assert_example_run(&run, name, 0, expected);

    shard_census census;
    census_of_shards(cl, cl->c, MASTERS, "trial:flash", shards, &census);
    assert_int_equal(census.keys, shards);
    assert_int_equal(census.capacity, 300);
    assert_int_equal(census.enrolled, 300);
    int masters_used = 0;
    for (int m = 0; m < MASTERS; m++) {
        masters_used += census.on_node[m] > 0;
        if (census.on_node[m] != shards / MASTERS)
            fail_msg("--shards %d: node %d holds %d shard trials, expected %d on each master", shards, m,
                     census.on_node[m], shards / MASTERS);
    }
    assert_int_equal(masters_used, MASTERS);
}

static void flash_enroll_sharded_over_three_masters_puts_one_shard_on_each_and_enrolls_exactly_the_capacity(
    void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    flash_enroll_sharded_on_the_cluster(&cl, 3);
}

static void flash_enroll_sharded_six_shards_over_three_masters_enrolls_exactly_the_capacity(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    flash_enroll_sharded_on_the_cluster(&cl, 6);
}

static void locked_update_on_a_three_master_cluster_counts_every_update_and_refuses_the_paused_holder(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    int owner = sg_cluster_owner(&cl, 0, sg_cluster_slot_of(&cl, "{store}:account"));
    int seed = (owner + 1) % MASTERS;
    sg_example_run run;
    const char *args[] = {"--cluster", "--workers", "4", "--updates", "20", NULL};
    sg_run_example(&run, "locked_update", cl.node[seed]->port, args);
    char expected[256];
    expected_locked_output(expected, sizeof(expected), 4, 20);
    sg_assert_example_run(&run, "locked_update --cluster", 0, expected);
    redisReply *r = sg_command(cl.c[owner], "HGET {store}:account balance");
    assert_true(sg_reply_is_text(r, "81"));
    freeReplyObject(r);
}

static void idempotent_consumer_on_a_three_master_cluster_applies_every_message_once(void **state) {
    sg_cluster cl;
    sg_cluster_start(&cl, *state, MASTERS);
    int owner = sg_cluster_owner(&cl, 0, sg_cluster_slot_of(&cl, "{orders}:stream"));
    int seed = (owner + 1) % MASTERS;
    sg_example_run run;
    const char *args[] = {"--cluster", "--messages", "20", NULL};
    sg_run_example(&run, "idempotent_consumer", cl.node[seed]->port, args);
    char expected[256];
    expected_consumer_output(expected, sizeof(expected), 20, 10);
    sg_assert_example_run(&run, "idempotent_consumer --cluster", 0, expected);
}

#define ON_SERVER(f) cmocka_unit_test_setup(f, sg_group_flush)
#define ON_CLUSTER(f) cmocka_unit_test_setup_teardown(f, sg_fixture_setup, sg_fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        ON_SERVER(flash_enroll_enrolls_exactly_the_capacity_and_answers_every_repeat_already_enrolled),
        ON_SERVER(flash_enroll_with_its_defaults_fills_a_trial_of_100_from_1000_patients),
        ON_SERVER(flash_enroll_enrolls_every_patient_when_the_trial_has_room_for_all),
        ON_SERVER(flash_enroll_on_an_existing_trial_says_so_and_finds_every_patient_already_enrolled_or_full),
        ON_SERVER(flash_enroll_sharded_enrolls_exactly_the_capacity_over_three_shards_and_nobody_twice),
        ON_SERVER(flash_enroll_sharded_enrolls_every_patient_when_the_shards_have_room_for_all),
        ON_SERVER(flash_enroll_sharded_on_an_existing_trial_says_so_and_finds_every_patient_already_enrolled_or_full),
        ON_SERVER(flash_enroll_goes_on_through_killed_connections_and_reads_the_trial_back),
        ON_SERVER(flash_enroll_sharded_goes_on_through_killed_connections_and_reads_the_shards_back),
        ON_SERVER(flash_enroll_help_documents_shards),
        ON_SERVER(flash_enroll_refuses_a_negative_or_non_numeric_shard_count_with_exit_2),
        ON_SERVER(locked_update_counts_every_update_once_and_refuses_the_paused_holder),
        ON_SERVER(locked_update_with_its_defaults_counts_every_update),
        ON_SERVER(locked_update_uses_the_lock_and_store_keys_it_is_given),
        ON_SERVER(idempotent_consumer_applies_every_message_once_through_a_crash_and_redeliveries),
        ON_SERVER(idempotent_consumer_with_its_defaults_crashes_halfway_and_still_applies_each_message_once),
        ON_SERVER(idempotent_consumer_that_never_crashes_still_skips_the_messages_it_did_not_ack),
        ON_SERVER(every_example_prints_its_usage_with_every_flag_on_help_and_exits_0),
        ON_SERVER(every_example_refuses_an_unknown_flag_with_its_usage_on_stderr_and_exit_2),
        ON_SERVER(every_example_refuses_a_flag_without_its_value_with_exit_2),
        ON_SERVER(every_example_reports_a_server_it_cannot_reach_on_stderr_and_exits_1),
        ON_CLUSTER(flash_enroll_on_a_three_master_cluster_enrolls_exactly_the_capacity),
        ON_CLUSTER(flash_enroll_sharded_over_three_masters_puts_one_shard_on_each_and_enrolls_exactly_the_capacity),
        ON_CLUSTER(flash_enroll_sharded_six_shards_over_three_masters_enrolls_exactly_the_capacity),
        ON_CLUSTER(locked_update_on_a_three_master_cluster_counts_every_update_and_refuses_the_paused_holder),
        ON_CLUSTER(idempotent_consumer_on_a_three_master_cluster_applies_every_message_once),
    };
    return cmocka_run_group_tests(tests, sg_group_setup, sg_group_teardown);
}
