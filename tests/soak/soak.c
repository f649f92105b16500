/* soak.c -- `make soak`: every family's commands, at random, from many clients against a master
 * with a replica, both with AOF, for SG_SOAK_SECONDS (default 600). At a third of the run the
 * master rewrites its AOF; at two thirds the replica is promoted with FAILOVER (the old master
 * becomes its replica) and the workers follow it. Invariants are checked on every reply (by the
 * workers: soak_trial.c, soak_lock.c, soak_idemp.c, soak_sharded.c, soak_rate.c) and periodically
 * over the whole key space (a checker thread); a watchdog PINGs the master every 100 ms. At the
 * end: the dataset digests of master and replica agree, and a restart of the master from its AOF
 * gives back the same digest.
 *
 * AOF with `appendfsync everysec`: what this run checks about acknowledged writes goes through
 * replication (FAILOVER waits for the replica) and through a clean SHUTDOWN (which fsyncs), so
 * `always` would add nothing it can see; with `always`, every event-loop turn waits for an fsync,
 * which on a shared CI disk makes the throughput, and the PING watchdog, measure the disk.
 *
 * Environment: SG_SOAK_SECONDS (default 600), SG_SOAK_SEED (default from the clock; printed, so a
 * run replays each worker's random choices; the threads' interleaving is not replayed),
 * SG_SOAK_WORKERS (default 12, at most 32). */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "checks.h"
#include "harness.h"
#include "soak.h"

soak_state soak;
const char *const soak_family_names[SOAK_FAMILIES] = {"trial", "lock", "idemp", "sharded", "rate"};

#define SOAK_DEFAULT_SECONDS 600
#define SOAK_DEFAULT_WORKERS 12
#define SOAK_SLOW_PING_MS 2000
#define SOAK_CHECK_INTERVAL_MS 250

/* ---- threads ----------------------------------------------------------------------------------- */
static void *worker_main(void *arg)
{
    soak_worker *w = arg;
    for (int t = 0; t < SOAK_TRIALS; t++) {
        for (int u = 0; u < SOAK_USERS_PER_WORKER; u++) w->users[t][u] = USER_NONE;
    }
    while (!atomic_load(&soak.stop)) {
        switch (sg_prng_below(&w->rng, SOAK_FAMILIES)) {
        case SOAK_TRIAL: soak_trial_operation(w); break;
        case SOAK_LOCK: soak_lock_operation(w); break;
        case SOAK_IDEMP: soak_idemp_operation(w); break;
        case SOAK_SHARDED: soak_sharded_operation(w); break;
        default: soak_rate_operation(w); break;
        }
    }
    soak_client_close(&w->client);
    return NULL;
}

static void *checker_main(void *arg)
{
    (void)arg;
    soak_client cl = {0};
    while (!atomic_load(&soak.stop)) {
        soak_trial_check(&cl);
        soak_lock_check(&cl);
        soak_idemp_check(&cl);
        soak_sharded_check(&cl, 0);
        soak_rate_check(&cl);
        sg_sleep_ms(SOAK_CHECK_INTERVAL_MS);
    }
    soak_client_close(&cl);
    return NULL;
}

/* PING the master every 100 ms on a connection of its own; a slow or missing PONG is a violation. */
static void *watchdog_main(void *arg)
{
    (void)arg;
    redisContext *c = NULL;
    int port = 0;
    while (!atomic_load(&soak.stop)) {
        int master = atomic_load(&soak.master_port);
        if (c == NULL || port != master) {
            if (c != NULL) redisFree(c);
            port = master;
            c = soak_connect_port(port);
            if (c == NULL) {
                soak_violation("watchdog: cannot connect to the master on port %d", port);
                sg_sleep_ms(100);
                continue;
            }
        }
        int64_t sent = sg_now_ms();
        redisReply *r = redisCommand(c, "PING");
        long long took = sg_now_ms() - sent;
        int ok = r != NULL && soak_reply_is(r, "PONG");
        if (r != NULL) freeReplyObject(r);
        atomic_fetch_add(&soak.pings, 1);
        if (took > atomic_load(&soak.slowest_ping_ms)) atomic_store(&soak.slowest_ping_ms, took);
        soak_check(ok && took <= SOAK_SLOW_PING_MS, "PING on port %d: %s after %lld ms", port, ok ? "PONG" : "no PONG",
                   took);
        if (!ok) {
            redisFree(c);
            c = NULL;
        }
        sg_sleep_ms(100);
    }
    if (c != NULL) redisFree(c);
    return NULL;
}

/* ---- the run ----------------------------------------------------------------------------------- */
static long long env_number(const char *name, long long fallback)
{
    const char *text = getenv(name);
    if (text == NULL || text[0] == '\0') return fallback;
    char *end;
    long long value = strtoll(text, &end, 10);
    if (*end != '\0' || value <= 0) fail_msg("%s=%s is not a positive integer", name, text);
    return value;
}

static uint64_t env_seed(void)
{
    const char *text = getenv("SG_SOAK_SEED");
    if (text != NULL && text[0] != '\0') return strtoull(text, NULL, 0);
    return (uint64_t)time(NULL) ^ ((uint64_t)sg_now_ms() << 20);
}

/* The server's start arguments say what it is at a restart: the promoted replica loses its
 * --replicaof (a master restarted from its AOF must come back as a master). */
static void forget_replicaof(sg_server *s)
{
    for (int i = 0; i + 2 < s->argc; i++) {
        if (strcmp(s->argv[i], "--replicaof") == 0) {
            for (int j = i; j < i + 3; j++) free(s->argv[j]);
            memmove(&s->argv[i], &s->argv[i + 3], sizeof(s->argv[0]) * (size_t)(s->argc - i - 3));
            s->argc -= 3;
            return;
        }
    }
}

static long long last_token_of(redisContext *c)
{
    char *text = sg_info_field(c, "slotguard_lock_last_token");
    assert_non_null(text);
    long long token = atoll(text);
    free(text);
    return token;
}

/* FAILOVER on the master: it pauses writes, waits for the replica to catch up, and hands over. The
 * workers find the new master by themselves (ROLE); this waits until both servers have their new
 * roles, then checks that a write acknowledged by the replica before is on the new master. */
static void fail_over(sg_fixture *f, sg_server **master, sg_server **replica)
{
    redisContext *m = sg_fixture_connect(f, *master);
    redisContext *r = sg_fixture_connect(f, *replica);
    char marker[64];
    snprintf(marker, sizeof(marker), "acknowledged-%lld", (long long)soak_elapsed_ms());
    sg_command_status(m, "OK", "SET soak:marker %s", marker);
    long long acked = sg_command_integer(m, "WAIT 1 5000");
    long long token_before = last_token_of(m);
    int64_t began = sg_now_ms();
    atomic_store(&soak.failover_running, 1);
    redisReply *reply = sg_command(m, "FAILOVER TIMEOUT 10000");
    int accepted = soak_reply_is(reply, "OK");
    char got[200];
    sg_describe_reply(reply, got, sizeof(got));
    freeReplyObject(reply);
    if (!accepted) {
        atomic_store(&soak.failover_running, 0);
        soak_violation("FAILOVER answered %s", got);
        return;
    }
    int done = 0;
    while (!done && sg_now_ms() - began < 20000) {
        sg_sleep_ms(50);
        done = soak_is_master(r) && sg_info_field_is(m, "role", "slave") &&
               sg_info_field_is(m, "master_link_status", "up");
    }
    if (!soak_check(done, "FAILOVER: roles not switched within 20 s")) {
        atomic_store(&soak.failover_running, 0);
        return;
    }
    fprintf(stderr, "soak: failover done in %lld ms at %.1f s\n", (long long)(sg_now_ms() - began),
            soak_elapsed_ms() / 1000.0);
    sg_server *promoted = *replica;
    *replica = *master;
    *master = promoted;
    forget_replicaof(promoted);
    atomic_store(&soak.master_port, promoted->port);
    atomic_fetch_add(&soak.generation, 1);
    atomic_store(&soak.failover_running, 0);
    soak.failovers++;
    reply = sg_command(r, "GET soak:marker");
    soak_check(acked < 1 || soak_reply_is(reply, marker), "the write acknowledged by WAIT 1 before FAILOVER is gone");
    freeReplyObject(reply);
    long long token_after = last_token_of(r);
    soak_check(token_after >= token_before, "the promoted replica's token clock %lld is below its master's %lld",
               token_after, token_before);
}

/* Keys that expire (leases, windows, stored responses) make a digest a moving target: wait until
 * the master has none left (they all live a few seconds at most). */
static void wait_volatile_keys_gone(redisContext *c)
{
    int64_t deadline = sg_now_ms() + 20000;
    while (sg_now_ms() < deadline) {
        char *keyspace = sg_info_field(c, "db0");
        int none = keyspace == NULL || strstr(keyspace, "expires=0,") != NULL;
        free(keyspace);
        if (none) return;
        redisReply *r = sg_command(c, "SCAN 0 COUNT 1000"); /* touching keys expires them lazily */
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
            for (size_t i = 0; i < r->element[1]->elements; i++) {
                freeReplyObject(sg_command(c, "PTTL %s", r->element[1]->element[i]->str));
            }
        }
        freeReplyObject(r);
        sg_sleep_ms(200);
    }
    soak_violation("keys with an expiry still there 20 s after the workers stopped");
}

static void print_summary(void)
{
    long long total = 0;
    char per_family[300] = "";
    size_t used = 0;
    for (int i = 0; i < SOAK_FAMILIES; i++) {
        long long n = atomic_load(&soak.ops[i]);
        total += n;
        used += (size_t)snprintf(per_family + used, sizeof(per_family) - used, " %s=%lld", soak_family_names[i], n);
    }
    printf("soak: seconds: %d (%d workers, AOF appendfsync everysec)\n", soak.seconds, soak.workers);
    printf("soak: operations: %lld (%s; errors on purpose %lld)\n", total, per_family + 1,
           (long long)atomic_load(&soak.errors_on_purpose));
    printf("soak: checks: %lld\n", (long long)atomic_load(&soak.checks));
    printf("soak: violations: %lld\n", (long long)atomic_load(&soak.violations));
    printf("soak: failovers: %d (redirects %lld, replies lost %lld)\n", soak.failovers,
           (long long)atomic_load(&soak.redirects), (long long)atomic_load(&soak.unknown_outcomes));
    printf("soak: rewrites: %d\n", soak.rewrites);
    printf("soak: pings: %lld (slowest %lld ms)\n", (long long)atomic_load(&soak.pings),
           (long long)atomic_load(&soak.slowest_ping_ms));
    printf("soak: seed: %" PRIu64 " (replay: SG_SOAK_SEED=%" PRIu64 ")\n", soak.seed, soak.seed);
    fflush(stdout);
    soak_print_violations();
}

static void test_a_long_random_workload_with_a_rewrite_and_a_failover_breaks_no_invariant(void **state)
{
    sg_fixture *f = *state;
    soak.seconds = (int)env_number("SG_SOAK_SECONDS", SOAK_DEFAULT_SECONDS);
    soak.workers = (int)env_number("SG_SOAK_WORKERS", SOAK_DEFAULT_WORKERS);
    if (soak.workers > SOAK_MAX_WORKERS) soak.workers = SOAK_MAX_WORKERS;
    soak.seed = env_seed();
    printf("soak: %d s, %d workers, seed %" PRIu64 "\n", soak.seconds, soak.workers, soak.seed);
    fflush(stdout);
    for (int g = 0; g < SOAK_SHARD_GROUPS; g++) pthread_mutex_init(&soak.shards[g].mutex, NULL);
    for (int k = 0; k < SOAK_IDEMP_KEYS; k++) pthread_mutex_init(&soak.idemp[k].mutex, NULL);

    const char *const aof[] = {"--appendonly", "yes", "--appendfsync", "everysec", NULL};
    sg_server *master = sg_fixture_start(f, aof);
    sg_server *replica = sg_fixture_start_replica(f, master, aof);
    soak.ports[0] = master->port;
    soak.ports[1] = replica->port;
    atomic_store(&soak.master_port, master->port);
    redisContext *c = sg_fixture_connect(f, master);
    soak_trial_create(c);
    soak_sharded_create(c);

    soak.start_ms = sg_now_ms();
    static soak_worker workers[SOAK_MAX_WORKERS];
    pthread_t threads[SOAK_MAX_WORKERS + 2];
    for (int i = 0; i < soak.workers; i++) {
        workers[i].id = i;
        workers[i].rng.state = soak.seed + (uint64_t)i * UINT64_C(0x9E3779B97F4A7C15);
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    assert_int_equal(pthread_create(&threads[soak.workers], NULL, checker_main, NULL), 0);
    assert_int_equal(pthread_create(&threads[soak.workers + 1], NULL, watchdog_main, NULL), 0);

    int64_t end = soak.start_ms + (int64_t)soak.seconds * 1000;
    int64_t rewrite_at = soak.start_ms + (int64_t)soak.seconds * 1000 / 3;
    int64_t failover_at = soak.start_ms + (int64_t)soak.seconds * 2000 / 3;
    int64_t next_report = soak.start_ms + 60000;
    while (sg_now_ms() < end) {
        sg_sleep_ms(100);
        if (soak.rewrites == 0 && sg_now_ms() >= rewrite_at) {
            fprintf(stderr, "soak: BGREWRITEAOF at %.1f s\n", soak_elapsed_ms() / 1000.0);
            sg_rewrite_aof(c);
            soak.rewrites++;
        }
        if (soak.failovers == 0 && sg_now_ms() >= failover_at) {
            fprintf(stderr, "soak: FAILOVER at %.1f s\n", soak_elapsed_ms() / 1000.0);
            fail_over(f, &master, &replica);
            if (soak.failovers == 0) break; /* recorded as a violation */
            c = sg_fixture_connect(f, master);
        }
        if (sg_now_ms() >= next_report) {
            fprintf(stderr, "soak: %.0f s: %lld checks, %lld violations\n", soak_elapsed_ms() / 1000.0,
                    (long long)atomic_load(&soak.checks), (long long)atomic_load(&soak.violations));
            next_report += 60000;
        }
    }
    atomic_store(&soak.stop, 1);
    for (int i = 0; i < soak.workers + 2; i++) pthread_join(threads[i], NULL);

    /* The end: the ledgers balance, the replica holds the same data, the AOF gives it back. */
    soak_client final_client = {0};
    soak_sharded_check(&final_client, 1);
    soak_trial_check(&final_client);
    soak_client_close(&final_client);
    wait_volatile_keys_gone(c);
    sg_wait_replicas(master, 1, 10000);
    redisContext *rc = sg_fixture_connect(f, replica);
    char *master_digest = sg_debug_digest(c);
    char *replica_digest = sg_debug_digest(rc);
    soak_check(strcmp(master_digest, replica_digest) == 0, "master digest %s, replica digest %s", master_digest,
               replica_digest);
    sg_server_restart(master);
    c = sg_fixture_reconnect(f, c, master);
    char *restarted_digest = sg_debug_digest(c);
    soak_check(strcmp(master_digest, restarted_digest) == 0, "digest %s before the restart from the AOF, %s after",
               master_digest, restarted_digest);
    free(master_digest);
    free(replica_digest);
    free(restarted_digest);

    print_summary();
    if (atomic_load(&soak.violations) > 0) {
        fail_msg("%lld violations (first ones above); replay with SG_SOAK_SEED=%" PRIu64,
                 (long long)atomic_load(&soak.violations), soak.seed);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_long_random_workload_with_a_rewrite_and_a_failover_breaks_no_invariant,
                                        sg_fixture_setup, sg_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
