/* test_rate_replication.c -- the RATE.* commands beyond one client on one server: every change
 * they make travels to replicas and the AOF as its effect, `SET key value PXAT <absolute ms>` from
 * the master's clock (or `INCRBY key 1` for a call counted in an open window), never as the RATE.*
 * command, and a limited, over-quota, peeking or refused
 * call propagates nothing.
 *
 *   - a replica ends with the master's exact values and the same absolute expiries (PEXPIRETIME)
 *     after thousands of random RATE.THROTTLE / RATE.WINDOW / RATE.ALL calls;
 *   - the AOF holds exactly the SET ... PXAT / INCRBY effects of the calls that changed something (RATE.ALL
 *     changing two keys in MULTI/EXEC), never "RATE.";
 *   - values and absolute expiries survive an AOF replay, DEBUG RELOAD and a restart from RDB;
 *   - a replica answers READONLY to every RATE.* write and serves RATE.WINDOW.INFO as the master;
 *   - two calls inside MULTI/EXEC decide one after the other, and the replica ends equal;
 *   - refused calls and peeks move neither master_repl_offset nor rdb_changes_since_last_save;
 *   - RATE.ALL from 32 threads is all or nothing: what was allowed is exactly what the states hold,
 *     whichever limit binds;
 *   - on a Redis Cluster RATE.ALL over different slots is CROSSSLOT, one hash tag works on the
 *     owning master (MOVED from the others), and COMMAND GETKEYS names every key.
 *
 * Every test starts its own servers (sg_fixture, released pass or fail). Seeded workloads print
 * their seed; SG_WORKLOAD_SEED replays one. Every loop is bounded. */
#include "cluster.h"
#include "sharded_checks.h"

#include <pthread.h>

#define WAIT_MS 15000
#define LOAD_CALLS 3000
#define LOAD_BATCH 500

/* ---- replies --------------------------------------------------------------------------------- */

/* A RATE.THROTTLE reply (five integers) into out[5]; 0 when it has another shape. */
static int throttle_fields(const redisReply *r, long long out[5])
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 5) return 0;
    for (int i = 0; i < 5; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER) return 0;
        out[i] = r->element[i]->integer;
    }
    return 1;
}

/* RATE.THROTTLE (a command line of space-separated words) and its five integers; fails on any
 * other reply. */
__attribute__((format(printf, 3, 4))) static void throttle(redisContext *c, long long out[5], const char *fmt, ...)
{
    sh_words w;
    va_list ap;
    va_start(ap, fmt);
    sh_words_v(&w, fmt, ap);
    va_end(ap);
    redisReply *r = sg_command_args(c, w.argc, w.argv, w.len);
    int ok = throttle_fields(r, out);
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    freeReplyObject(r);
    if (!ok) fail_msg("%s %s ...: expected five integers, got %s", w.argv[0], w.argc > 1 ? w.argv[1] : "", got);
}

/* RATE.WINDOW.INFO key quota into out[4] (used, remaining, end, wait). */
static void window_info(redisContext *c, const char *key, long long quota, long long out[4])
{
    redisReply *r = sg_command(c, "RATE.WINDOW.INFO %s %lld", key, quota);
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 4;
    for (size_t i = 0; ok && i < 4; i++) {
        ok = r->element[i]->type == REDIS_REPLY_INTEGER;
        if (ok) out[i] = r->element[i]->integer;
    }
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    freeReplyObject(r);
    if (!ok) fail_msg("RATE.WINDOW.INFO %s %lld: expected four integers, got %s", key, quota, got);
}

/* The first element of a RATE.ALL reply (1 all consumed, 0 nothing), checked against the limits'
 * own replies (`kinds`: 'T' throttle, 'W' window, one per limit): 1 exactly when every throttle
 * says limited 0 and every window says 1 or 2. -1 when the reply has another shape. */
static int all_outcome(const redisReply *r, const char *kinds)
{
    size_t n = strlen(kinds);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != n + 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER)
        return -1;
    long long first = r->element[0]->integer;
    if (first != 0 && first != 1) return -1;
    int every = 1;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i + 1];
        long long t[5];
        if (kinds[i] == 'T') {
            if (!throttle_fields(e, t) || (t[0] != 0 && t[0] != 1)) return -1;
            every = every && t[0] == 0;
        } else {
            if (e->type != REDIS_REPLY_INTEGER || e->integer < 0 || e->integer > 2) return -1;
            every = every && e->integer != 0;
        }
    }
    return every == (int)first ? (int)first : -1;
}

/* ---- the dataset's picture ------------------------------------------------------------------- */

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "key=value@pexpiretime " for every key (sorted), malloc'ed: what must be identical on a master
 * and its replica, and before and after a reload. */
static char *picture(redisContext *c)
{
    redisReply *keys = sg_command(c, "KEYS *");
    assert_int_equal(keys->type, REDIS_REPLY_ARRAY);
    const char **names = calloc(keys->elements + 1, sizeof(*names));
    assert_non_null(names);
    for (size_t i = 0; i < keys->elements; i++) names[i] = keys->element[i]->str;
    qsort(names, keys->elements, sizeof(*names), compare_strings);
    size_t size = 64 + keys->elements * 96, len = 0;
    char *out = malloc(size);
    assert_non_null(out);
    out[0] = '\0';
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *v = sg_command(c, "GET %s", names[i]);
        if (v->type != REDIS_REPLY_STRING) {
            freeReplyObject(v);
            fail_msg("GET %s: not a string", names[i]);
        }
        long long at = sg_command_integer(c, "PEXPIRETIME %s", names[i]);
        len += (size_t)snprintf(out + len, size - len, "%s=%s@%lld ", names[i], v->str, at);
        freeReplyObject(v);
    }
    free(names);
    freeReplyObject(keys);
    return out;
}

static void assert_same_picture(const char *first, const char *second, const char *what)
{
    if (strcmp(first, second) == 0) return;
    fprintf(stderr, "%s:\n  first:  %.3000s\n  second: %.3000s\n", what, first, second);
    fail_msg("%s: the values or absolute expiries differ", what);
}

/* ---- a seeded random workload ------------------------------------------------------------------ */

/* The keys of the workload: each is always used by one kind of limit. Short-lived ones have periods
 * of a few hundred ms (their states expire during the load, so expiries travel too); long-lived
 * ones expire a minute or more after their last change. Tagged ones are also used by RATE.ALL. */
typedef struct rate_key {
    const char *name;
    char kind;      /* 'T' throttle, 'W' window */
    int shortlived;
    int tagged;
} rate_key;

static const rate_key load_keys[] = {
    {"ts0", 'T', 1, 0},     {"ts1", 'T', 1, 0},     {"tl0", 'T', 0, 0},     {"tl1", 'T', 0, 0},
    {"tl2", 'T', 0, 0},     {"ws0", 'W', 1, 0},     {"ws1", 'W', 1, 0},     {"wl0", 'W', 0, 0},
    {"wl1", 'W', 0, 0},     {"wl2", 'W', 0, 0},     {"{h}ts0", 'T', 1, 1},  {"{h}tl0", 'T', 0, 1},
    {"{h}tl1", 'T', 0, 1},  {"{h}ws0", 'W', 1, 1},  {"{h}wl0", 'W', 0, 1},  {"{h}wl1", 'W', 0, 1},
};
#define LOAD_KEYS (sizeof(load_keys) / sizeof(load_keys[0]))

/* A throttle's numbers: max_burst count period [quantity] [MS]. */
static void throttle_limit(sg_prng *p, int shortlived, char *out, size_t size)
{
    long long burst, count, period;
    int ms;
    if (shortlived) { /* interval <= 200 ms, bucket <= 1 s */
        burst = (long long)sg_prng_below(p, 5);
        count = 1 + (long long)sg_prng_below(p, 5);
        period = 50 + (long long)sg_prng_below(p, 151);
        ms = 1;
    } else { /* interval >= 60 s */
        burst = (long long)sg_prng_below(p, 201);
        count = 1 + (long long)sg_prng_below(p, 10);
        period = 600 + (long long)sg_prng_below(p, 3001);
        ms = sg_prng_below(p, 4) == 0;
        if (ms) period *= 1000;
    }
    int len = snprintf(out, size, "%lld %lld %lld", burst, count, period);
    uint64_t q = sg_prng_below(p, 10);
    if (q >= 3) len += snprintf(out + len, size - (size_t)len, " %llu", 1 + (unsigned long long)sg_prng_below(p, (uint64_t)burst + 1));
    else if (q == 2) len += snprintf(out + len, size - (size_t)len, " 0"); /* a peek */
    if (ms) snprintf(out + len, size - (size_t)len, " MS");
}

/* A window's numbers: quota period [ALIGN] [MS]. Long aligned windows end at an hour or a day. */
static void window_limit(sg_prng *p, int shortlived, char *out, size_t size)
{
    int align = sg_prng_below(p, 3) == 0;
    if (shortlived) {
        snprintf(out, size, "%llu %llu%s MS", 1 + (unsigned long long)sg_prng_below(p, 5),
                 100 + (unsigned long long)sg_prng_below(p, 301), align ? " ALIGN" : "");
        return;
    }
    unsigned long long quota = 1 + sg_prng_below(p, 400);
    if (align) {
        int day = sg_prng_below(p, 2) == 0, ms = sg_prng_below(p, 2) == 0;
        unsigned long long period = day ? 86400 : 3600;
        snprintf(out, size, "%llu %llu ALIGN%s", quota, ms ? period * 1000 : period, ms ? " MS" : "");
        return;
    }
    int ms = sg_prng_below(p, 4) == 0;
    unsigned long long period = 600 + sg_prng_below(p, 6601);
    snprintf(out, size, "%llu %llu%s", quota, ms ? period * 1000 : period, ms ? " MS" : "");
}

typedef struct load_counts {
    long allowed, refused, peeks, all_allowed, all_refused;
} load_counts;

/* A key of the workload, drawn until one fits (`with_short` 0: long-lived only). */
static int draw_key(sg_prng *p, int with_short, int tagged_only)
{
    for (int tries = 0; tries < 1000; tries++) {
        int i = (int)sg_prng_below(p, LOAD_KEYS);
        if ((with_short || !load_keys[i].shortlived) && (!tagged_only || load_keys[i].tagged)) return i;
    }
    fail_msg("no workload key fits");
    return 0;
}

/* `calls` random RATE.THROTTLE / RATE.WINDOW / RATE.ALL calls, pipelined; no reply may be an error
 * or have the wrong shape. */
static void random_load(redisContext *c, sg_prng *p, long calls, int with_short, load_counts *counts)
{
    for (long done = 0; done < calls;) {
        long batch = calls - done < LOAD_BATCH ? calls - done : LOAD_BATCH;
        static char kinds[LOAD_BATCH][8];   /* "t" throttle, "w" window, else RATE.ALL's limit kinds */
        static int peeks[LOAD_BATCH];
        static char lines[LOAD_BATCH][SH_LINE / 4];
        for (long i = 0; i < batch; i++) {
            char limit[96];
            uint64_t roll = sg_prng_below(p, 100);
            peeks[i] = 0;
            if (roll < 70) {
                int k = draw_key(p, with_short, 0);
                if (load_keys[k].kind == 'T') {
                    throttle_limit(p, load_keys[k].shortlived, limit, sizeof(limit));
                    snprintf(lines[i], sizeof(lines[i]), "RATE.THROTTLE %s %s", load_keys[k].name, limit);
                    /* the fourth number, when there is one, is the quantity */
                    long long a, b, d, q;
                    peeks[i] = sscanf(limit, "%lld %lld %lld %lld", &a, &b, &d, &q) == 4 && q == 0;
                    snprintf(kinds[i], sizeof(kinds[i]), "t");
                } else {
                    window_limit(p, load_keys[k].shortlived, limit, sizeof(limit));
                    snprintf(lines[i], sizeof(lines[i]), "RATE.WINDOW %s %s", load_keys[k].name, limit);
                    snprintf(kinds[i], sizeof(kinds[i]), "w");
                }
            } else {
                int n = 2 + (int)sg_prng_below(p, 3), chosen[4];
                char names[160] = "", limits[400] = "";
                size_t nl = 0, ll = 0;
                for (int j = 0; j < n; j++) {
                    int k, fresh;
                    do { /* distinct keys */
                        k = draw_key(p, with_short, 1);
                        fresh = 1;
                        for (int m = 0; m < j; m++) fresh = fresh && chosen[m] != k;
                    } while (!fresh);
                    chosen[j] = k;
                    kinds[i][j] = load_keys[k].kind;
                    if (load_keys[k].kind == 'T') throttle_limit(p, load_keys[k].shortlived, limit, sizeof(limit));
                    else window_limit(p, load_keys[k].shortlived, limit, sizeof(limit));
                    nl += (size_t)snprintf(names + nl, sizeof(names) - nl, " %s", load_keys[k].name);
                    ll += (size_t)snprintf(limits + ll, sizeof(limits) - ll, " %s %s",
                                           load_keys[k].kind == 'T' ? "THROTTLE" : "WINDOW", limit);
                }
                kinds[i][n] = '\0';
                snprintf(lines[i], sizeof(lines[i]), "RATE.ALL %d%s%s", n, names, limits);
            }
            sh_words w;
            memcpy(w.line, lines[i], strlen(lines[i]) + 1); /* a line of lines[] fits sh_words' */
            sh_split(&w);
            assert_int_equal(redisAppendCommandArgv(c, w.argc, w.argv, w.len), REDIS_OK);
        }
        for (long i = 0; i < batch; i++) {
            void *reply = NULL;
            if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) fail_msg("the connection broke in the load");
            redisReply *r = reply;
            char got[300];
            sg_describe_reply(r, got, sizeof(got));
            int ok;
            long long t[5];
            if (kinds[i][0] == 't') {
                /* a peek may say limited too: a bucket left fuller by other parameters on the key */
                ok = throttle_fields(r, t) && (t[0] == 0 || t[0] == 1);
                if (ok && peeks[i]) counts->peeks++;
                else if (ok && t[0] == 0) counts->allowed++;
                else if (ok) counts->refused++;
            } else if (kinds[i][0] == 'w') {
                ok = r->type == REDIS_REPLY_INTEGER && r->integer >= 0 && r->integer <= 2;
                if (ok && r->integer) counts->allowed++;
                else if (ok) counts->refused++;
            } else {
                int outcome = all_outcome(r, kinds[i]);
                ok = outcome >= 0;
                if (outcome == 1) counts->all_allowed++;
                else if (outcome == 0) counts->all_refused++;
            }
            freeReplyObject(r);
            if (!ok) fail_msg("call %ld of the load (%s) answered %s", done + i, lines[i], got);
        }
        done += batch;
    }
}

/* Long aligned windows end at a whole hour: start a workload whose states are compared with their
 * expiries well away from one, so none of them expires while the pictures are taken. */
static void keep_clear_of_the_hour(void)
{
    long long ms = sg_unix_us() / 1000, left = 3600000 - ms % 3600000;
    if (left < 15000) {
        print_message("waiting %lld ms for the hour to turn\n", left + 200);
        sg_sleep_ms((int)left + 200);
    }
}

/* After the short-lived states have had time to expire, make the master delete each of them (a
 * lookup expires it and propagates the DEL), so the master holds only long-lived states. */
static void expire_the_short_lived(redisContext *m)
{
    sg_sleep_ms(1300); /* short-lived buckets and windows last at most 1 s after their last change */
    for (size_t i = 0; i < LOAD_KEYS; i++) {
        long long exists = sg_exists(m, load_keys[i].name);
        if (load_keys[i].shortlived) assert_int_equal(exists, 0);
    }
}

/* ---- replication ------------------------------------------------------------------------------- */

static void a_replica_holds_the_masters_values_and_absolute_expiries_after_a_random_load(void **state)
{
    sg_fixture *f = *state;
    keep_clear_of_the_hour();
    sg_server *master = sg_fixture_start(f, NULL);
    sg_server *replica_server = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica_server);
    sg_prng p = {sg_workload_seed(0x4a7e11)};
    load_counts counts = {0};
    random_load(m, &p, LOAD_CALLS, 1, &counts);
    print_message("allowed %ld, refused %ld, peeks %ld; RATE.ALL allowed %ld, refused %ld\n", counts.allowed,
                  counts.refused, counts.peeks, counts.all_allowed, counts.all_refused);
    /* the load exercised every outcome */
    assert_true(counts.allowed > 0 && counts.refused > 0 && counts.peeks > 0);
    assert_true(counts.all_allowed > 0 && counts.all_refused > 0);

    /* the states as they stand right after the load (short-lived ones included) */
    sg_wait_replicas(master, 1, WAIT_MS);
    long long live = sg_command_integer(m, "DBSIZE");
    assert_true(live > 0);

    expire_the_short_lived(m);
    sg_wait_replicas(master, 1, WAIT_MS);
    sg_assert_same_digest(m, r);
    assert_int_equal(sg_command_integer(m, "DBSIZE"), sg_command_integer(r, "DBSIZE"));
    char *pm = picture(m), *pr = picture(r);
    assert_same_picture(pm, pr, "master and replica");
    /* every long-lived key the load touched exists, each with an absolute expiry of its own */
    for (size_t i = 0; i < LOAD_KEYS; i++) {
        if (load_keys[i].shortlived) continue;
        long long at_m = sg_command_integer(m, "PEXPIRETIME %s", load_keys[i].name);
        long long at_r = sg_command_integer(r, "PEXPIRETIME %s", load_keys[i].name);
        if (at_m != at_r) fail_msg("PEXPIRETIME %s: %lld on the master, %lld on the replica", load_keys[i].name, at_m, at_r);
        if (at_m <= sg_unix_us() / 1000) fail_msg("PEXPIRETIME %s is %lld: no expiry in the future", load_keys[i].name, at_m);
    }
    free(pm);
    free(pr);
}

static void a_replica_answers_readonly_to_every_rate_write_and_serves_window_info(void **state)
{
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, NULL);
    sg_server *replica_server = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica_server);
    long long t[5];
    throttle(m, t, "RATE.THROTTLE t 4 1 3600 2");
    assert_int_equal(t[0], 0);
    assert_int_equal(sh_integer(m, "RATE.WINDOW w 5 3600"), 1);
    assert_int_equal(sh_integer(m, "RATE.WINDOW w 5 3600"), 1);
    sg_wait_replicas(master, 1, WAIT_MS);
    char *before = sg_debug_digest(r);
    sh_error(r, "READONLY ", "RATE.THROTTLE t 4 1 3600");
    sh_error(r, "READONLY ", "RATE.THROTTLE t 4 1 3600 0");
    sh_error(r, "READONLY ", "RATE.THROTTLE fresh 4 1 3600 1 MS");
    sh_error(r, "READONLY ", "RATE.WINDOW w 5 3600");
    sh_error(r, "READONLY ", "RATE.WINDOW fresh 5 3600 ALIGN MS");
    sh_error(r, "READONLY ", "RATE.ALL 2 t w THROTTLE 4 1 3600 WINDOW 5 3600");
    sh_error(r, "READONLY ", "RATE.ALL 1 fresh WINDOW 5 3600");
    char *after = sg_debug_digest(r);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* RATE.WINDOW.INFO reads: the replica answers what the master answers */
    static const struct {
        const char *key;
        long long quota;
    } reads[] = {{"w", 5}, {"w", 2}, {"w", 1}, {"missing", 3}};
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        long long on_m[4], on_r[4];
        long long before_ms = sg_unix_us() / 1000;
        window_info(m, reads[i].key, reads[i].quota, on_m);
        window_info(r, reads[i].key, reads[i].quota, on_r);
        long long after_ms = sg_unix_us() / 1000 + 1;
        /* used, remaining and the window's end do not depend on the clock: equal */
        if (memcmp(on_m, on_r, 3 * sizeof(on_m[0])) != 0)
            fail_msg("RATE.WINDOW.INFO %s %lld: [%lld, %lld, %lld] on the master, [%lld, %lld, %lld] on the replica",
                     reads[i].key, reads[i].quota, on_m[0], on_m[1], on_m[2], on_r[0], on_r[1], on_r[2]);
        /* the wait is read off each server's clock at its own moment: the end minus a time
         * within the span of the two reads (never below 0), or -1 with no window */
        for (int side = 0; side < 2; side++) {
            const long long *got = side == 0 ? on_m : on_r;
            long long lo = got[2] < 0 ? -1 : got[2] - after_ms;
            long long hi = got[2] < 0 ? -1 : got[2] - before_ms;
            if (got[2] >= 0 && lo < 0) lo = 0;
            if (got[3] < lo || got[3] > hi)
                fail_msg("RATE.WINDOW.INFO %s %lld on the %s: wait %lld ms, expected %lld..%lld", reads[i].key,
                         reads[i].quota, side == 0 ? "master" : "replica", got[3], lo, hi);
        }
    }
    long long info[4];
    window_info(r, "w", 5, info);
    assert_int_equal(info[0], 2);
    assert_int_equal(info[1], 3);
    assert_int_equal(info[2], sg_command_integer(m, "PEXPIRETIME w"));
    window_info(r, "missing", 3, info);
    assert_int_equal(info[0], 0);
    assert_int_equal(info[1], 3);
    assert_int_equal(info[2], -1);
}

static void two_throttles_inside_multi_decide_in_turn_and_the_replica_ends_equal(void **state)
{
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, NULL);
    sg_server *replica_server = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica_server);
    for (int round = 0; round < 5; round++) {
        sg_command_status(m, "OK", "MULTI");
        sg_command_status(m, "QUEUED", "RATE.THROTTLE k 9 1 3600");
        sg_command_status(m, "QUEUED", "RATE.THROTTLE k 9 1 3600");
        sg_command_status(m, "QUEUED", "RATE.WINDOW {t}w 100 3600");
        sg_command_status(m, "QUEUED", "RATE.ALL 2 {t}a {t}w THROTTLE 9 1 3600 WINDOW 100 3600");
        redisReply *exec = sg_command(m, "EXEC");
        char got[600];
        sg_describe_reply(exec, got, sizeof(got));
        long long first[5], second[5];
        int ok = exec->type == REDIS_REPLY_ARRAY && exec->elements == 4 && throttle_fields(exec->element[0], first) &&
                 throttle_fields(exec->element[1], second) && exec->element[2]->type == REDIS_REPLY_INTEGER &&
                 all_outcome(exec->element[3], "TW") == 1;
        if (!ok) {
            freeReplyObject(exec);
            fail_msg("EXEC answered %s", got);
        }
        /* 10 units, 1 per hour: round n takes units 2n+1 and 2n+2 */
        assert_int_equal(first[0], 0);
        assert_int_equal(second[0], 0);
        assert_int_equal(first[2], 9 - 2 * round);
        assert_int_equal(second[2], first[2] - 1);
        /* the window counted the lone call, then RATE.ALL's: 2 per round */
        assert_int_equal(exec->element[2]->integer, 1);
        freeReplyObject(exec);
    }
    /* the sixth round finds the bucket empty: both refused, nothing changes */
    char *digest = sg_debug_digest(m);
    sg_command_status(m, "OK", "MULTI");
    sg_command_status(m, "QUEUED", "RATE.THROTTLE k 9 1 3600");
    sg_command_status(m, "QUEUED", "RATE.THROTTLE k 9 1 3600");
    redisReply *exec = sg_command(m, "EXEC");
    long long a[5], b[5];
    assert_true(exec->type == REDIS_REPLY_ARRAY && exec->elements == 2);
    assert_true(throttle_fields(exec->element[0], a) && throttle_fields(exec->element[1], b));
    freeReplyObject(exec);
    assert_int_equal(a[0], 1);
    assert_int_equal(b[0], 1);
    assert_int_equal(a[2], 0);
    char *after = sg_debug_digest(m);
    assert_string_equal(digest, after);
    free(digest);
    free(after);

    long long info[4];
    window_info(m, "{t}w", 100, info);
    assert_int_equal(info[0], 10);
    sg_wait_replicas(master, 1, WAIT_MS);
    sg_assert_same_digest(m, r);
    char *pm = picture(m), *pr = picture(r);
    assert_same_picture(pm, pr, "master and replica after MULTI/EXEC");
    free(pm);
    free(pr);
    /* the replica's bucket is the master's: a peek there is not possible (READONLY), so compare the
     * state itself: the TAT of 10 units at 1 per hour, about 10 h ahead */
    long long tat_ms = sh_get(r, "k") / 1000000;
    long long now_ms = sg_unix_us() / 1000;
    assert_true(tat_ms > now_ms + 10LL * 3600 * 1000 - 60000 && tat_ms <= now_ms + 10LL * 3600 * 1000 + 1000);
}

/* The master's replication offset and dirty counter. */
static void offsets(redisContext *m, long long *offset, long long *dirty)
{
    *offset = sg_info_number(m, "master_repl_offset");
    *dirty = sg_info_number(m, "rdb_changes_since_last_save");
}

static void limited_over_quota_refused_and_peeking_calls_propagate_nothing(void **state)
{
    sg_fixture *f = *state;
    /* no replication PING during the test: only the commands move the offset */
    static const char *const quiet[] = {"--repl-ping-replica-period", "3600", NULL};
    sg_server *master = sg_fixture_start(f, quiet);
    sg_server *replica_server = sg_fixture_start_replica(f, master, NULL);
    redisContext *m = sg_fixture_connect(f, master), *r = sg_fixture_connect(f, replica_server);
    long long t[5];
    throttle(m, t, "RATE.THROTTLE a 1 1 3600 2");
    assert_int_equal(t[0], 0);
    assert_int_equal(t[2], 0);
    assert_int_equal(sh_integer(m, "RATE.WINDOW w 1 3600"), 2);
    redisReply *all = sh_run(m, "RATE.ALL 2 {t}x {t}y THROTTLE 0 1 3600 WINDOW 1 3600 ALIGN");
    assert_int_equal(all_outcome(all, "TW"), 1);
    freeReplyObject(all);
    sg_wait_replicas(master, 1, WAIT_MS);
    char *digest = sg_debug_digest(m);

    long long offset, dirty;
    offsets(m, &offset, &dirty);
    static const struct {
        const char *line;
        const char *kinds; /* "t" throttle refused, "p" peek, "w" window over, else RATE.ALL refused */
    } calls[] = {
        {"RATE.THROTTLE a 1 1 3600", "t"},
        {"RATE.THROTTLE a 1 1 3600 2", "t"},
        {"RATE.THROTTLE a 1 1 3600 1 MS", "t"},
        {"RATE.THROTTLE a 1 1 3600 0", "p"},
        {"RATE.THROTTLE fresh 5 1 60 0", "p"},
        {"RATE.THROTTLE fresh 5 1 60 0 MS", "p"},
        {"RATE.WINDOW w 1 3600", "w"},
        {"RATE.WINDOW w 1 60 ALIGN MS", "w"},
        {"RATE.ALL 2 {t}x {t}y THROTTLE 0 1 3600 WINDOW 1 3600", "TW"},        /* both refuse */
        {"RATE.ALL 2 {t}x {t}z THROTTLE 0 1 3600 WINDOW 5 3600", "TW"},        /* the throttle refuses */
        {"RATE.ALL 2 {t}z {t}y THROTTLE 5 1 3600 WINDOW 1 3600 ALIGN", "TW"},  /* the window refuses */
        {"RATE.ALL 3 {t}p {t}q {t}x WINDOW 9 60 THROTTLE 9 1 60 0 THROTTLE 0 1 3600", "WTT"},
    };
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        redisReply *reply = sh_run(m, "%s", calls[i].line);
        char got[400];
        sg_describe_reply(reply, got, sizeof(got));
        long long fields[5];
        int ok;
        switch (calls[i].kinds[0]) {
        case 't': ok = throttle_fields(reply, fields) && fields[0] == 1; break;
        case 'p': ok = throttle_fields(reply, fields) && fields[0] == 0; break;
        case 'w': ok = reply->type == REDIS_REPLY_INTEGER && reply->integer == 0; break;
        default: ok = all_outcome(reply, calls[i].kinds) == 0;
        }
        freeReplyObject(reply);
        if (!ok) fail_msg("%s: expected a refusal or a peek, got %s", calls[i].line, got);
        long long offset_now, dirty_now;
        offsets(m, &offset_now, &dirty_now);
        if (offset_now != offset || dirty_now != dirty)
            fail_msg("%s moved master_repl_offset %lld -> %lld, rdb_changes_since_last_save %lld -> %lld",
                     calls[i].line, offset, offset_now, dirty, dirty_now);
    }
    /* errors change nothing either */
    sh_error(m, "ERR ", "RATE.THROTTLE a 1 1 3600 3");
    sh_error(m, "ERR ", "RATE.ALL 2 {t}x {t}x THROTTLE 0 1 3600 THROTTLE 0 1 3600");
    sh_error(m, "ERR ", "RATE.ALL 2 {t}new {t}y WINDOW 9 3600 WINDOW 0 3600");
    long long offset_now, dirty_now;
    offsets(m, &offset_now, &dirty_now);
    assert_int_equal(offset_now, offset);
    assert_int_equal(dirty_now, dirty);
    for (const char *const *k = (const char *const[]){"fresh", "{t}z", "{t}p", "{t}q", "{t}new", NULL}; *k; k++)
        if (sg_exists(m, *k)) fail_msg("%s exists after calls that were refused or peeked", *k);
    char *digest_now = sg_debug_digest(m);
    assert_string_equal(digest, digest_now);
    free(digest_now);

    /* an allowed call moves both */
    throttle(m, t, "RATE.THROTTLE b 1 1 3600");
    assert_int_equal(t[0], 0);
    offsets(m, &offset_now, &dirty_now);
    assert_true(offset_now > offset);
    assert_true(dirty_now > dirty);
    offset = offset_now;
    all = sh_run(m, "RATE.ALL 2 {t}z {t}q THROTTLE 5 1 3600 WINDOW 1 3600");
    assert_int_equal(all_outcome(all, "TW"), 1);
    freeReplyObject(all);
    offsets(m, &offset_now, &dirty_now);
    assert_true(offset_now > offset);
    sg_wait_replicas(master, 1, WAIT_MS);
    sg_assert_same_digest(m, r);
    free(digest);
}

/* ---- the AOF --------------------------------------------------------------------------------------- */

#define AOF_MAX_COMMANDS 64
#define AOF_MAX_ARGS 8

typedef struct aof_command {
    int argc;
    char argv[AOF_MAX_ARGS][48];
} aof_command;

/* The commands of an AOF's command log (RESP arrays of bulk strings), SELECT left out. Fails on
 * anything it cannot read. Returns the number of commands. */
static int parse_aof(const char *text, size_t len, aof_command *out, int max)
{
    int n = 0;
    size_t at = 0;
    while (at < len) {
        int argc = 0, used = 0;
        if (sscanf(text + at, "*%d\r\n%n", &argc, &used) != 1 || used == 0 || argc < 1)
            fail_msg("AOF: no command at byte %zu", at);
        at += (size_t)used;
        if (n == max) fail_msg("AOF: more than %d commands", max);
        aof_command *cmd = &out[n];
        memset(cmd, 0, sizeof(*cmd));
        cmd->argc = argc;
        for (int i = 0; i < argc; i++) {
            long size = 0;
            if (sscanf(text + at, "$%ld\r\n%n", &size, &used) != 1 || used == 0 || size < 0 ||
                at + (size_t)used + (size_t)size + 2 > len)
                fail_msg("AOF: bad argument at byte %zu", at);
            at += (size_t)used;
            if (i < AOF_MAX_ARGS) snprintf(cmd->argv[i], sizeof(cmd->argv[i]), "%.*s", (int)size, text + at);
            at += (size_t)size + 2;
        }
        if (strcasecmp(cmd->argv[0], "SELECT") != 0) n++;
    }
    return n;
}

static void describe_commands(const aof_command *cmds, int n, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n && len < size; i++) {
        for (int a = 0; a < cmds[i].argc && a < AOF_MAX_ARGS && len < size; a++)
            len += (size_t)snprintf(out + len, size - len, "%s%s", a ? " " : "", cmds[i].argv[a]);
        if (len < size) len += (size_t)snprintf(out + len, size - len, "; ");
    }
}

/* cmd is `SET key <value> PXAT <ms in the future>` (any value when `value` is NULL). */
static void assert_set_effect(const aof_command *cmd, const char *key, const char *value)
{
    if (cmd->argc != 5 || strcasecmp(cmd->argv[0], "SET") != 0 || strcmp(cmd->argv[1], key) != 0 ||
        strcasecmp(cmd->argv[3], "PXAT") != 0)
        fail_msg("expected SET %s <value> PXAT <ms>, got %s %s (%d arguments)", key, cmd->argv[0], cmd->argv[1], cmd->argc);
    if (value != NULL && strcmp(cmd->argv[2], value) != 0)
        fail_msg("SET %s %s in the AOF: expected the value %s", key, cmd->argv[2], value);
    long long at = strtoll(cmd->argv[4], NULL, 10);
    if (at <= sg_unix_us() / 1000) fail_msg("SET %s ... PXAT %s: not in the future", key, cmd->argv[4]);
}

static void the_aof_holds_set_pxat_and_incrby_effects_and_never_a_rate_command(void **state)
{
    sg_fixture *f = *state;
    keep_clear_of_the_hour();
    sg_server *s = sg_fixture_start(f, sg_persistence_args(SG_AOF_COMMAND_LOG));
    redisContext *c = sg_fixture_connect(f, s);
    long long t[5];
    throttle(c, t, "RATE.THROTTLE a 2 1 3600 3");                    /* allowed: the bucket empties */
    assert_int_equal(t[0], 0);
    assert_int_equal(t[2], 0);
    char *a_value = sg_reply_text("GET a", sg_command(c, "GET a"));
    long long a_at = sg_command_integer(c, "PEXPIRETIME a");
    throttle(c, t, "RATE.THROTTLE a 2 1 3600");                      /* limited */
    assert_int_equal(t[0], 1);
    throttle(c, t, "RATE.THROTTLE a 2 1 3600 0");                    /* a peek */
    assert_int_equal(t[0], 0);
    throttle(c, t, "RATE.THROTTLE fresh 2 1 3600 0 MS");             /* a peek at nothing */
    assert_int_equal(t[0], 0);
    assert_int_equal(sh_integer(c, "RATE.WINDOW w 2 3600"), 1);      /* allowed twice, then over */
    assert_int_equal(sh_integer(c, "RATE.WINDOW w 2 3600"), 2);
    assert_int_equal(sh_integer(c, "RATE.WINDOW w 2 3600"), 0);
    long long w_at = sg_command_integer(c, "PEXPIRETIME w");
    redisReply *all = sh_run(c, "RATE.ALL 2 {t}x {t}y THROTTLE 4 1 3600 WINDOW 3 3600000 ALIGN MS");
    assert_int_equal(all_outcome(all, "TW"), 1);
    freeReplyObject(all);
    char *x_value = sg_reply_text("GET {t}x", sg_command(c, "GET {t}x"));
    long long x_at = sg_command_integer(c, "PEXPIRETIME {t}x"), y_at = sg_command_integer(c, "PEXPIRETIME {t}y");
    all = sh_run(c, "RATE.ALL 2 {t}x {t}y THROTTLE 4 1 3600 WINDOW 1 3600");   /* the window refuses */
    assert_int_equal(all_outcome(all, "TW"), 0);
    freeReplyObject(all);
    all = sh_run(c, "RATE.ALL 2 a {t}z THROTTLE 2 1 3600 WINDOW 5 3600");      /* the throttle refuses */
    assert_int_equal(all_outcome(all, "TW"), 0);
    freeReplyObject(all);
    sh_error(c, "ERR ", "RATE.ALL 2 {t}x {t}q THROTTLE 4 1 3600 WINDOW 5");    /* an error */
    assert_int_equal(sg_exists(c, "fresh"), 0);
    assert_int_equal(sg_exists(c, "{t}z"), 0);

    size_t len = 0;
    char *aof = sg_read_aof_part(s, 'i', NULL, 0, &len);
    int has_rate = sg_contains_nocase(aof, len, "RATE."), has_pxat = sg_contains_nocase(aof, len, "PXAT");
    static aof_command cmds[AOF_MAX_COMMANDS];
    int n = parse_aof(aof, len, cmds, AOF_MAX_COMMANDS);
    free(aof);
    char listing[2000];
    describe_commands(cmds, n, listing, sizeof(listing));
    print_message("AOF: %s\n", listing);
    if (has_rate) fail_msg("the AOF holds a RATE.* command: %s", listing);
    if (!has_pxat) fail_msg("the AOF holds no PXAT: %s", listing);
    /* exactly: a's SET, w's SET then INCRBY (the window's end stays where its first call put it),
     * and RATE.ALL's two SETs in MULTI/EXEC */
    if (n != 7) fail_msg("expected 7 commands in the AOF, got %d: %s", n, listing);
    char at[32];
    assert_set_effect(&cmds[0], "a", a_value);
    snprintf(at, sizeof(at), "%lld", a_at);
    assert_string_equal(cmds[0].argv[4], at);
    assert_set_effect(&cmds[1], "w", "1");
    snprintf(at, sizeof(at), "%lld", w_at);
    assert_string_equal(cmds[1].argv[4], at);
    if (cmds[2].argc != 3 || strcasecmp(cmds[2].argv[0], "INCRBY") != 0 || strcmp(cmds[2].argv[1], "w") != 0 ||
        strcmp(cmds[2].argv[2], "1") != 0)
        fail_msg("expected INCRBY w 1 for the window's second call: %s", listing);
    assert_true(cmds[3].argc == 1 && strcasecmp(cmds[3].argv[0], "MULTI") == 0);
    assert_set_effect(&cmds[4], "{t}x", x_value);
    snprintf(at, sizeof(at), "%lld", x_at);
    assert_string_equal(cmds[4].argv[4], at);
    assert_set_effect(&cmds[5], "{t}y", "1");
    snprintf(at, sizeof(at), "%lld", y_at);
    assert_string_equal(cmds[5].argv[4], at);
    assert_true(cmds[6].argc == 1 && strcasecmp(cmds[6].argv[0], "EXEC") == 0);
    /* an aligned hour window ends at a whole hour */
    assert_int_equal(y_at % 3600000, 0);
    free(a_value);
    free(x_value);
}

/* ---- persistence --------------------------------------------------------------------------------- */

/* A deterministic throttle next to the random load: 3 of 10 units taken at 1 per hour. */
static void make_known_bucket(redisContext *c)
{
    long long t[5];
    throttle(c, t, "RATE.THROTTLE known 9 1 3600 3");
    assert_int_equal(t[0], 0);
    assert_int_equal(t[2], 7);
}

/* After a reload: the known bucket is where it was (a peek), and it still takes and refuses. */
static void assert_known_bucket_continues(redisContext *c)
{
    long long t[5];
    throttle(c, t, "RATE.THROTTLE known 9 1 3600 0");
    assert_int_equal(t[0], 0);
    assert_int_equal(t[2], 7);
    throttle(c, t, "RATE.THROTTLE known 9 1 3600 7");
    assert_int_equal(t[0], 0);
    assert_int_equal(t[2], 0);
    throttle(c, t, "RATE.THROTTLE known 9 1 3600");
    assert_int_equal(t[0], 1);
}

static void assert_unchanged(redisContext *c, const char *before, const char *digest, const char *what)
{
    char *after = picture(c), *digest_after = sg_debug_digest(c);
    assert_same_picture(before, after, what);
    if (strcmp(digest, digest_after) != 0) fail_msg("%s: DEBUG DIGEST %s before, %s after", what, digest, digest_after);
    free(after);
    free(digest_after);
}

static void values_and_absolute_expiries_survive_an_aof_replay(void **state)
{
    sg_fixture *f = *state;
    keep_clear_of_the_hour();
    sg_server *s = sg_fixture_start(f, sg_persistence_args(SG_AOF_COMMAND_LOG));
    redisContext *c = sg_fixture_connect(f, s);
    make_known_bucket(c);
    sg_prng p = {sg_workload_seed(0xa0f7a7e)};
    load_counts counts = {0};
    random_load(c, &p, LOAD_CALLS / 2, 0, &counts);
    assert_true(counts.allowed > 0 && counts.all_allowed > 0);
    char *before = picture(c), *digest = sg_debug_digest(c);

    sg_server_restart(s);
    c = sg_fixture_reconnect(f, c, s);
    assert_int_equal(sg_info_number(c, "aof_enabled"), 1);
    assert_unchanged(c, before, digest, "before and after a restart from the AOF");
    assert_known_bucket_continues(c);
    free(before);
    free(digest);
}

static void values_and_absolute_expiries_survive_debug_reload_and_a_restart_from_rdb(void **state)
{
    sg_fixture *f = *state;
    keep_clear_of_the_hour();
    sg_server *s = sg_fixture_start(f, sg_persistence_args(SG_RDB_RESTART));
    redisContext *c = sg_fixture_connect(f, s);
    make_known_bucket(c);
    sg_prng p = {sg_workload_seed(0x7db0)};
    load_counts counts = {0};
    random_load(c, &p, LOAD_CALLS / 2, 0, &counts);
    assert_true(counts.allowed > 0 && counts.all_allowed > 0);
    char *before = picture(c), *digest = sg_debug_digest(c);

    sg_command_status(c, "OK", "DEBUG RELOAD");
    assert_unchanged(c, before, digest, "before and after DEBUG RELOAD");

    sg_command_status(c, "OK", "SAVE");
    sg_server_restart(s); /* --save "": the shutdown does not save again, the dump is loaded */
    c = sg_fixture_reconnect(f, c, s);
    assert_unchanged(c, before, digest, "before and after a restart from the RDB");
    assert_known_bucket_continues(c);
    free(before);
    free(digest);
}

/* ---- RATE.ALL from 32 threads -------------------------------------------------------------------- */

#define THREADS 32
#define THREAD_CALLS 200
#define USERS 4

typedef struct worker {
    redisContext *c;
    int index;
    const char *tag;
    const char *user_limit;   /* THROTTLE's numbers */
    const char *tenant_limit; /* WINDOW's numbers */
    long allowed[USERS];
    long last;                /* allowed calls whose window said 2: the quota is now used up */
    /* remaining values seen in allowed replies, per user (each must be seen at most once overall) */
    long long seen_remaining[USERS][THREAD_CALLS];
    long seen[USERS];
    char error[300];          /* no cmocka call on a worker thread: the first problem, for main */
    pthread_barrier_t *start; /* every thread begins its calls at once */
} worker;

static void *worker_run(void *arg)
{
    worker *w = arg;
    int user = w->index % USERS;
    char user_key[32], tenant_key[32], line[256];
    snprintf(user_key, sizeof(user_key), "{%s}:user:%d", w->tag, user);
    snprintf(tenant_key, sizeof(tenant_key), "{%s}:tenant", w->tag);
    snprintf(line, sizeof(line), "RATE.ALL 2 %s %s THROTTLE %s WINDOW %s", user_key, tenant_key, w->user_limit,
             w->tenant_limit);
    const char *argv[32];
    size_t len[32];
    int argc = 0;
    char *save = NULL;
    for (char *word = strtok_r(line, " ", &save); word != NULL && argc < 32; word = strtok_r(NULL, " ", &save)) {
        argv[argc] = word;
        len[argc++] = strlen(word);
    }
    pthread_barrier_wait(w->start);
    for (int i = 0; i < THREAD_CALLS; i++) {
        redisReply *r = redisCommandArgv(w->c, argc, argv, len);
        if (r == NULL) {
            snprintf(w->error, sizeof(w->error), "thread %d: the connection broke: %s", w->index, w->c->errstr);
            return NULL;
        }
        int outcome = all_outcome(r, "TW");
        if (outcome < 0) {
            char got[200];
            sg_describe_reply(r, got, sizeof(got));
            snprintf(w->error, sizeof(w->error), "thread %d: RATE.ALL answered %s", w->index, got);
            freeReplyObject(r);
            return NULL;
        }
        if (outcome == 1) {
            w->allowed[user]++;
            w->seen_remaining[user][w->seen[user]++] = r->element[1]->element[2]->integer;
            if (r->element[2]->integer == 2) w->last++;
        }
        freeReplyObject(r);
    }
    return NULL;
}

typedef struct storm_result {
    long allowed[USERS];
    long total;
    long last;
} storm_result;

/* THREADS threads, each on its own connection, THREAD_CALLS RATE.ALL calls each over its user's
 * throttle and the shared tenant window (keys under {tag}). Also checks that no two allowed calls
 * on one user saw the same remaining (each allowed call saw the bucket the previous one left). */
static void storm(redisContext **conns, const char *tag, const char *user_limit, const char *tenant_limit,
                  storm_result *out)
{
    static worker workers[THREADS];
    pthread_t threads[THREADS];
    pthread_barrier_t start;
    if (pthread_barrier_init(&start, NULL, THREADS) != 0) fail_msg("pthread_barrier_init failed");
    memset(workers, 0, sizeof(workers));
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker){.c = conns[i], .index = i, .tag = tag, .user_limit = user_limit,
                              .tenant_limit = tenant_limit, .start = &start};
        /* a thread that cannot be created would leave the others waiting at the barrier */
        if (pthread_create(&threads[i], NULL, worker_run, &workers[i]) != 0) abort();
    }
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < THREADS; i++) {
        if (workers[i].error[0] != '\0') fail_msg("%s", workers[i].error);
        for (int u = 0; u < USERS; u++) out->allowed[u] += workers[i].allowed[u];
        out->last += workers[i].last;
    }
    for (int u = 0; u < USERS; u++) {
        out->total += out->allowed[u];
        /* remaining values in allowed replies for user u: all distinct */
        static long long all[THREADS * THREAD_CALLS];
        long n = 0;
        for (int i = 0; i < THREADS; i++)
            for (long k = 0; k < workers[i].seen[u]; k++) all[n++] = workers[i].seen_remaining[u][k];
        for (long a = 0; a < n; a++)
            for (long b = a + 1; b < n; b++)
                if (all[a] == all[b])
                    fail_msg("{%s}:user:%d: two allowed calls both left %lld remaining", tag, u, all[a]);
    }
    print_message("{%s}: allowed %ld (per user %ld %ld %ld %ld), quota used up %ld time(s)\n", tag, out->total,
                  out->allowed[0], out->allowed[1], out->allowed[2], out->allowed[3], out->last);
}

/* For each user, a peek at its bucket: what remains. */
static long long user_remaining(redisContext *c, const char *tag, int user, const char *user_limit)
{
    long long t[5];
    throttle(c, t, "RATE.THROTTLE {%s}:user:%d %s 0", tag, user, user_limit);
    assert_int_equal(t[0], 0);
    return t[2];
}

static void rate_all_from_32_threads_is_all_or_nothing_whichever_limit_binds(void **state)
{
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    redisContext *conns[THREADS];
    for (int i = 0; i < THREADS; i++) conns[i] = sg_fixture_connect(f, s);

    /* the users' throttles bind: 10 units each at 1 per hour, against a tenant quota of 500 */
    storm_result res;
    storm(conns, "a", "9 1 3600", "500 3600", &res);
    long long info[4];
    window_info(c, "{a}:tenant", 500, info);
    assert_true(res.total <= 500);
    assert_int_equal(info[0], res.total);     /* refused calls counted nothing */
    assert_int_equal(info[1], 500 - res.total);
    for (int u = 0; u < USERS; u++) {
        assert_true(res.allowed[u] <= 10);
        assert_int_equal(res.allowed[u], 10); /* 1600 attempts each: the bucket was emptied */
        assert_int_equal(user_remaining(c, "a", u, "9 1 3600"), 10 - res.allowed[u]);
    }
    assert_int_equal(res.last, 0);

    /* the tenant's window binds: 2000 per hour, against 4 users of 1000 units each */
    storm(conns, "b", "999 1 3600", "2000 3600", &res);
    window_info(c, "{b}:tenant", 2000, info);
    assert_int_equal(res.total, 2000);
    assert_int_equal(info[0], 2000);
    assert_int_equal(info[1], 0);
    assert_int_equal(res.last, 1);            /* exactly one allowed call used the quota up */
    long long states = USERS + 1 + 1;         /* {a}'s users and tenant, {b}'s tenant */
    for (int u = 0; u < USERS; u++) {         /* the window's refusals took nothing from the users */
        assert_true(res.allowed[u] <= 1000);
        assert_int_equal(user_remaining(c, "b", u, "999 1 3600"), 1000 - res.allowed[u]);
        /* a user all of whose calls came after the quota was used up has no state at all */
        char key[32];
        snprintf(key, sizeof(key), "{b}:user:%d", u);
        assert_int_equal(sg_exists(c, key), res.allowed[u] > 0);
        states += res.allowed[u] > 0;
    }
    assert_int_equal(sg_command_integer(c, "DBSIZE"), states);
}

/* ---- cluster ---------------------------------------------------------------------------------------- */

#define MASTERS 3

/* The problems of the cluster test, collected so that one failure does not hide the others. */
typedef struct problems {
    int count;
    char text[4000];
    size_t len;
} problems;

__attribute__((format(printf, 2, 3))) static void problem(problems *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (p->len < sizeof(p->text)) {
        int n = vsnprintf(p->text + p->len, sizeof(p->text) - p->len, fmt, ap);
        if (n > 0) p->len += (size_t)n;
        if (p->len < sizeof(p->text)) p->text[p->len++] = '\n';
        if (p->len >= sizeof(p->text)) p->len = sizeof(p->text) - 1;
        p->text[p->len] = '\0';
    }
    va_end(ap);
    p->count++;
}

/* The command line's reply must be an error starting with `prefix`; a problem otherwise. */
__attribute__((format(printf, 5, 6))) static void expect_error(problems *p, redisContext *c, int node,
                                                               const char *prefix, const char *fmt, ...)
{
    sh_words w;
    va_list ap;
    va_start(ap, fmt);
    sh_words_v(&w, fmt, ap);
    va_end(ap);
    char line[SH_LINE];
    size_t len = 0;
    for (int i = 0; i < w.argc; i++) len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s", i ? " " : "", w.argv[i]);
    redisReply *r = sg_command_args(c, w.argc, w.argv, w.len);
    if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, prefix, strlen(prefix)) != 0) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        problem(p, "node %d: %s: expected \"%s...\", got %s", node, line, prefix, got);
    }
    freeReplyObject(r);
}

/* Redis 7.0 finds a command's keys for cluster redirection (getKeysFromCommand) from the legacy
 * first/last/step range or a getkeys callback, not from key specs; COMMAND GETKEYS uses the specs.
 * So a command declaring its keys by key spec alone passes the GETKEYS part of this test and fails
 * the CROSSSLOT and MOVED parts. */
static void on_a_cluster_rate_all_needs_one_slot_and_getkeys_names_every_key(void **state)
{
    sg_cluster cl;
    int64_t started = sg_now_ms();
    sg_cluster_start(&cl, *state, MASTERS);
    print_message("cluster of %d masters up in %lld ms\n", MASTERS, (long long)(sg_now_ms() - started));
    problems p = {0};
    char k0[32], k1[32];
    sg_cluster_key_on(&cl, 0, "x", k0, sizeof(k0));
    sg_cluster_key_on(&cl, 1, "y", k1, sizeof(k1));
    for (int m = 0; m < MASTERS; m++) {
        expect_error(&p, cl.c[m], m, "CROSSSLOT ", "RATE.ALL 2 %s %s THROTTLE 1 1 1 WINDOW 1 1", k0, k1);
        expect_error(&p, cl.c[m], m, "CROSSSLOT ", "RATE.ALL 2 %s %s WINDOW 5 60 WINDOW 5 60 ALIGN", k1, k0);
        long long keys = sg_command_integer(cl.c[m], "DBSIZE");
        if (keys != 0) problem(&p, "node %d: DBSIZE %lld after refused cross-slot calls", m, keys);
    }
    for (int m = 0; m < MASTERS; m++) {
        char tag[32];
        sg_cluster_key_on(&cl, m, "limit-", tag, sizeof(tag));
        int slot = sg_cluster_slot_of(&cl, tag);
        /* elsewhere first: MOVED to the owner, and nothing counted there */
        char moved[64];
        snprintf(moved, sizeof(moved), "MOVED %d 127.0.0.1:%d", slot, cl.node[m]->port);
        for (int other = 0; other < MASTERS; other++) {
            if (other == m) continue;
            expect_error(&p, cl.c[other], other, moved, "RATE.ALL 2 {%s}:user {%s}:tenant THROTTLE 4 1 60 WINDOW 10 60",
                         tag, tag);
        }
        redisReply *r = sh_run(cl.c[m], "RATE.ALL 2 {%s}:user {%s}:tenant THROTTLE 4 1 60 WINDOW 10 60", tag, tag);
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        int outcome = all_outcome(r, "TW");
        freeReplyObject(r);
        if (outcome != 1) problem(&p, "node %d: RATE.ALL under {%s} on its master answered %s", m, tag, got);
        char key[48];
        snprintf(key, sizeof(key), "{%s}:tenant", tag);
        long long info[4];
        window_info(cl.c[m], key, 10, info);
        if (info[0] != 1) problem(&p, "node %d: RATE.WINDOW.INFO %s 10: used %lld, expected 1", m, key, info[0]);
    }
    static const struct {
        const char *line;
        const char *keys[3];
    } getkeys[] = {
        {"RATE.ALL 2 {x}a {x}b THROTTLE 1 1 1 WINDOW 1 1", {"{x}a", "{x}b", NULL}},
        {"RATE.ALL 3 {x}a {x}b {x}c THROTTLE 1 1 1 0 MS WINDOW 1 1 ALIGN WINDOW 2 2", {"{x}a", "{x}b", "{x}c"}},
        {"RATE.ALL 1 {x}c WINDOW 2 2", {"{x}c", NULL, NULL}},
    };
    for (size_t i = 0; i < sizeof(getkeys) / sizeof(getkeys[0]); i++) {
        redisReply *r = sh_run(cl.c[0], "COMMAND GETKEYS %s", getkeys[i].line);
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        size_t want = 0;
        while (want < 3 && getkeys[i].keys[want] != NULL) want++;
        int ok = r->type == REDIS_REPLY_ARRAY && r->elements == want;
        for (size_t k = 0; ok && k < want; k++) ok = sg_reply_is_text(r->element[k], getkeys[i].keys[k]);
        freeReplyObject(r);
        if (!ok) problem(&p, "COMMAND GETKEYS %s: got %s", getkeys[i].line, got);
    }
    if (p.count > 0) {
        fprintf(stderr, "%d problem(s):\n%s", p.count, p.text);
        fail_msg("%d problem(s) with RATE.ALL on a cluster (listed above)", p.count);
    }
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, sg_fixture_setup, sg_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(a_replica_holds_the_masters_values_and_absolute_expiries_after_a_random_load),
        FIXTURE_TEST(the_aof_holds_set_pxat_and_incrby_effects_and_never_a_rate_command),
        FIXTURE_TEST(values_and_absolute_expiries_survive_an_aof_replay),
        FIXTURE_TEST(values_and_absolute_expiries_survive_debug_reload_and_a_restart_from_rdb),
        FIXTURE_TEST(a_replica_answers_readonly_to_every_rate_write_and_serves_window_info),
        FIXTURE_TEST(two_throttles_inside_multi_decide_in_turn_and_the_replica_ends_equal),
        FIXTURE_TEST(limited_over_quota_refused_and_peeking_calls_propagate_nothing),
        FIXTURE_TEST(rate_all_from_32_threads_is_all_or_nothing_whichever_limit_binds),
        FIXTURE_TEST(on_a_cluster_rate_all_needs_one_slot_and_getkeys_names_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
