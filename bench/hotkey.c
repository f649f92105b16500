/* hotkey.c -- one hot stock against a sharded one on a Redis Cluster, through libslotguard; and,
 * with --mode trial, one hot trial against a sharded trial (see the end of this comment).
 *
 * For each shard count S given (S = 1 is the usual single hot key), creates a counter of S shards
 * holding --stock units, lets --threads threads (a context and a counter handle each) take one
 * unit at a time until the stock is gone, then lets a crowd ask --crowd more times each (every
 * answer "sold out"). Reports, per S, one line of key=value fields:
 *   shards, stock, sold (must equal stock), below_zero (shards under 0 afterwards: must be 0),
 *   takes_per_s, rt_per_take (round trips per successful take), rt_per_take_last1pc (over the
 *   takes of the last 1% of the stock), rt_per_sold_out (the crowd's), hottest_calls_pc and
 *   hottest_cpu_pc (the busiest master's share of the SHARDED.DECR calls and of the server CPU),
 *   node<i>_calls_pc / node<i>_cpu_pc for every master, all over the sale (until every thread
 *   has heard "sold out" once); crowd_hottest_calls_pc: the busiest master's share of the
 *   crowd's calls (they go to shard 0, the one give-backs raise: the price of an honest, cheap
 *   "sold out").
 * Per-node figures come from INFO commandstats and INFO cpu of each master (reset before each S).
 *
 * --mode trial: a sharded trial of S shards and capacity --stock (S = 1 is the usual single trial
 * key), threads enrolling distinct patients until the trial is full; per S: enrolled (must equal
 * the capacity, and so must the shards' own count), rt_per_enrollment (overall and over the last
 * 1% of the capacity), moves (SLOTS.RECEIVE calls), cpu_us_per_enrolled (server CPU of every
 * master per enrolled user), per master its share of all commands and of the CPU.
 *
 * Usage: hotkey --seeds h:p[,h:p...] --masters h:p,h:p,h:p [--mode counter|trial] [--stock N]
 *               [--threads T] [--crowd C] [--name PREFIX] S [S ...] */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "slotguard.h"

#define MAX_MASTERS 16
#define MAX_THREADS 256

typedef struct settings {
    const char *seed_host;
    int seed_port;
    const char *seeds;
    int masters;
    char master_host[MAX_MASTERS][64];
    int master_port[MAX_MASTERS];
    long long stock;
    int threads;
    long long crowd;
    const char *prefix;
} settings;

typedef struct worker {
    const settings *s;
    sg_context *ctx;
    const char *name;
    atomic_llong *sold_so_far; /* shared: units sold by every thread, to know the last 1% */
    long long sold, round_trips, last_pc_takes, last_pc_round_trips, sold_out_answers, sold_out_round_trips;
    int failed;
    char error[SG_ERRSTR_SIZE + 32];
} worker;

static pthread_barrier_t start_line, sold_out_line, crowd_line;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *take_until_sold_out(void *arg) {
    worker *w = arg;
    sg_counter *c = sg_counter_open(w->ctx, w->name, strlen(w->name), NULL);
    pthread_barrier_wait(&start_line);
    if (c == NULL) {
        snprintf(w->error, sizeof(w->error), "open: %s", w->ctx->errstr);
        w->failed = 1;
        return NULL;
    }
    long long last_pc_from = w->s->stock - (w->s->stock + 99) / 100; /* the last 1% of the units */
    int crowd = 0; /* 0 while selling; 1 once every thread has heard "sold out" once */
    for (;;) {
        long long before = sg_round_trips(w->ctx);
        sg_take_result r;
        if (sg_counter_take(w->ctx, c, 1, &r) != SG_OK) {
            snprintf(w->error, sizeof(w->error), "take: %s", w->ctx->errstr);
            w->failed = 1;
            if (!crowd) { /* keep the others' barriers whole */
                pthread_barrier_wait(&sold_out_line);
                pthread_barrier_wait(&crowd_line);
            }
            break;
        }
        long long spent = sg_round_trips(w->ctx) - before;
        if (r.taken == 0) {
            if (!crowd) { /* the sale is over for this thread: wait for the others, then be the crowd */
                crowd = 1;
                pthread_barrier_wait(&sold_out_line);
                pthread_barrier_wait(&crowd_line);
                continue;
            }
            w->sold_out_answers++;
            w->sold_out_round_trips += spent;
            if (w->sold_out_answers >= w->s->crowd) break;
            continue;
        }
        long long index = atomic_fetch_add(w->sold_so_far, 1);
        w->sold++;
        w->round_trips += spent;
        if (index >= last_pc_from) {
            w->last_pc_takes++;
            w->last_pc_round_trips += spent;
        }
    }
    sg_counter_close(c);
    return NULL;
}

/* ---- sharded trials: enroll distinct patients until the capacity is reached ------------------ */
typedef struct enroller {
    const settings *s;
    sg_context *ctx;
    const char *name;
    atomic_llong *next_patient, *enrolled_so_far;
    long long enrolled, round_trips, last_pc_enrolled, last_pc_round_trips;
    int failed;
    char error[SG_ERRSTR_SIZE + 32];
} enroller;

static void *enroll_until_full(void *arg) {
    enroller *e = arg;
    sg_sharded_trial *t = sg_sharded_trial_open(e->ctx, e->name, strlen(e->name), NULL);
    pthread_barrier_wait(&start_line);
    if (t == NULL) {
        snprintf(e->error, sizeof(e->error), "open: %s", e->ctx->errstr);
        e->failed = 1;
        return NULL;
    }
    long long last_pc_from = e->s->stock - (e->s->stock + 99) / 100;
    for (;;) {
        char id[32];
        int len = snprintf(id, sizeof(id), "patient-%lld", atomic_fetch_add(e->next_patient, 1));
        long long before = sg_round_trips(e->ctx);
        sg_enroll_result r;
        if (sg_sharded_enroll(e->ctx, t, id, (size_t)len, &r) != SG_OK) {
            snprintf(e->error, sizeof(e->error), "enroll: %s", e->ctx->errstr);
            e->failed = 1;
            break;
        }
        if (r == SG_ENROLL_FULL) break; /* honest: the shards hold C users */
        long long spent = sg_round_trips(e->ctx) - before;
        long long index = atomic_fetch_add(e->enrolled_so_far, 1);
        e->enrolled++;
        e->round_trips += spent;
        if (index >= last_pc_from) {
            e->last_pc_enrolled++;
            e->last_pc_round_trips += spent;
        }
    }
    sg_sharded_trial_close(t);
    return NULL;
}

/* ---- per-node figures ------------------------------------------------------------------------ */
static redisContext *node_connect(const settings *s, int m) {
    redisContext *c = redisConnect(s->master_host[m], s->master_port[m]);
    if (c == NULL || c->err) {
        fprintf(stderr, "hotkey: cannot connect to %s:%d\n", s->master_host[m], s->master_port[m]);
        exit(1);
    }
    return c;
}

/* A number after `field` (e.g. "cmdstat_sharded.decr:calls=" or "used_cpu_sys:") in INFO text. */
static double info_number(redisContext *c, const char *section, const char *field) {
    redisReply *r = redisCommand(c, "INFO %s", section);
    double value = 0;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *at = strstr(r->str, field);
        if (at) value = strtod(at + strlen(field), NULL);
    }
    if (r) freeReplyObject(r);
    return value;
}

static double node_cpu(redisContext *c) {
    return info_number(c, "cpu", "used_cpu_sys:") + info_number(c, "cpu", "used_cpu_user:");
}

/* ---- one shard count ------------------------------------------------------------------------- */
static int run(const settings *s, int shards) {
    sg_options o = {.cluster = 1, .host = s->seed_host, .port = s->seed_port, .seeds = s->seeds,
                    .command_timeout_ms = 10000};
    sg_context *ctx = sg_connect(&o);
    if (ctx == NULL || ctx->err) {
        fprintf(stderr, "hotkey: connect: %s\n", ctx ? ctx->errstr : "out of memory");
        return 1;
    }
    char name[128];
    snprintf(name, sizeof(name), "%s-s%d-%ld", s->prefix, shards, (long)time(NULL));
    int created = 0;
    if (sg_counter_create(ctx, name, strlen(name), shards, s->stock, &created) != SG_OK || !created) {
        fprintf(stderr, "hotkey: create %s: %s\n", name, created ? ctx->errstr : "it existed already");
        return 1;
    }
    redisContext *nodes[MAX_MASTERS];
    double cpu_before[MAX_MASTERS];
    for (int m = 0; m < s->masters; m++) {
        nodes[m] = node_connect(s, m);
        freeReplyObject(redisCommand(nodes[m], "CONFIG RESETSTAT"));
        cpu_before[m] = node_cpu(nodes[m]);
    }

    worker *workers = calloc((size_t)s->threads, sizeof(*workers));
    pthread_t threads[MAX_THREADS];
    atomic_llong sold_so_far = 0;
    pthread_barrier_init(&start_line, NULL, (unsigned)s->threads + 1);
    pthread_barrier_init(&sold_out_line, NULL, (unsigned)s->threads + 1);
    pthread_barrier_init(&crowd_line, NULL, (unsigned)s->threads + 1);
    for (int t = 0; t < s->threads; t++) {
        workers[t] = (worker){.s = s, .ctx = sg_clone(ctx), .name = name, .sold_so_far = &sold_so_far};
        if (workers[t].ctx == NULL || workers[t].ctx->err ||
            pthread_create(&threads[t], NULL, take_until_sold_out, &workers[t]) != 0) {
            fprintf(stderr, "hotkey: could not start thread %d\n", t);
            return 1;
        }
    }
    pthread_barrier_wait(&start_line);
    double started = now_s();
    /* The sale: from the start until every thread has heard "sold out". */
    pthread_barrier_wait(&sold_out_line);
    double elapsed = now_s() - started;
    double calls[MAX_MASTERS], cpu[MAX_MASTERS], calls_total = 0, cpu_total = 0;
    double crowd_calls[MAX_MASTERS];
    for (int m = 0; m < s->masters; m++) {
        calls[m] = info_number(nodes[m], "commandstats", "cmdstat_sharded.decr:calls=");
        cpu[m] = node_cpu(nodes[m]) - cpu_before[m];
        calls_total += calls[m];
        cpu_total += cpu[m];
        crowd_calls[m] = calls[m];
    }
    pthread_barrier_wait(&crowd_line);
    long long sold = 0, rt = 0, last_takes = 0, last_rt = 0, answers = 0, answer_rt = 0;
    int failed = 0;
    for (int t = 0; t < s->threads; t++) {
        pthread_join(threads[t], NULL);
        if (workers[t].failed) {
            fprintf(stderr, "hotkey: thread %d: %s\n", t, workers[t].error);
            failed = 1;
        }
        sold += workers[t].sold;
        rt += workers[t].round_trips;
        last_takes += workers[t].last_pc_takes;
        last_rt += workers[t].last_pc_round_trips;
        answers += workers[t].sold_out_answers;
        answer_rt += workers[t].sold_out_round_trips;
        sg_free(workers[t].ctx);
    }
    pthread_barrier_destroy(&start_line);
    pthread_barrier_destroy(&sold_out_line);
    pthread_barrier_destroy(&crowd_line);
    free(workers);

    /* Shards afterwards: none below 0. */
    sg_counter *c = sg_counter_open(ctx, name, strlen(name), NULL);
    int below_zero = 0;
    for (int i = 0; c && i < shards; i++) {
        size_t len;
        const char *key = sg_counter_shard_key(c, i, &len);
        const char *argv[] = {"GET", key};
        size_t argvlen[] = {3, len};
        redisReply *r = sg_command_argv(ctx, key, len, 2, argv, argvlen);
        if (r && r->type == REDIS_REPLY_STRING && strtoll(r->str, NULL, 10) < 0) below_zero++;
        if (r) freeReplyObject(r);
    }
    sg_counter_close(c);

    /* The crowd's calls: what came after the sale. */
    double crowd_total = 0, crowd_hottest = 0;
    for (int m = 0; m < s->masters; m++) {
        crowd_calls[m] = info_number(nodes[m], "commandstats", "cmdstat_sharded.decr:calls=") - crowd_calls[m];
        crowd_total += crowd_calls[m];
        redisFree(nodes[m]);
    }
    for (int m = 0; m < s->masters; m++) {
        double share = crowd_total > 0 ? 100 * crowd_calls[m] / crowd_total : 0;
        if (share > crowd_hottest) crowd_hottest = share;
    }
    double hottest_calls = 0, hottest_cpu = 0;
    printf("shards=%d stock=%lld sold=%lld below_zero=%d takes_per_s=%.0f rt_per_take=%.3f rt_per_take_last1pc=%.3f "
           "rt_per_sold_out=%.3f",
           shards, s->stock, sold, below_zero, (double)sold / elapsed, sold ? (double)rt / (double)sold : 0,
           last_takes ? (double)last_rt / (double)last_takes : 0, answers ? (double)answer_rt / (double)answers : 0);
    for (int m = 0; m < s->masters; m++) {
        double calls_pc = calls_total > 0 ? 100 * calls[m] / calls_total : 0;
        double cpu_pc = cpu_total > 0 ? 100 * cpu[m] / cpu_total : 0;
        if (calls_pc > hottest_calls) hottest_calls = calls_pc;
        if (cpu_pc > hottest_cpu) hottest_cpu = cpu_pc;
        printf(" node%d_calls_pc=%.1f node%d_cpu_pc=%.1f", m, calls_pc, m, cpu_pc);
    }
    printf(" hottest_calls_pc=%.1f hottest_cpu_pc=%.1f crowd_hottest_calls_pc=%.1f\n", hottest_calls, hottest_cpu,
           crowd_hottest);
    fflush(stdout);
    sg_free(ctx);
    if (sold != s->stock || below_zero) {
        fprintf(stderr, "hotkey: %d shards: sold %lld of %lld, %d shards below 0\n", shards, sold, s->stock, below_zero);
        return 1;
    }
    return failed;
}

static int run_trial(const settings *s, int shards) {
    sg_options o = {.cluster = 1, .host = s->seed_host, .port = s->seed_port, .seeds = s->seeds,
                    .command_timeout_ms = 10000};
    sg_context *ctx = sg_connect(&o);
    if (ctx == NULL || ctx->err) {
        fprintf(stderr, "hotkey: connect: %s\n", ctx ? ctx->errstr : "out of memory");
        return 1;
    }
    char name[128];
    snprintf(name, sizeof(name), "%s-trial-s%d-%ld", s->prefix, shards, (long)time(NULL));
    int created = 0;
    if (sg_sharded_trial_create(ctx, name, strlen(name), shards, s->stock, &created) != SG_OK || !created) {
        fprintf(stderr, "hotkey: create %s: %s\n", name, created ? ctx->errstr : "it existed already");
        return 1;
    }
    redisContext *nodes[MAX_MASTERS];
    double cpu_before[MAX_MASTERS], commands_before[MAX_MASTERS];
    for (int m = 0; m < s->masters; m++) {
        nodes[m] = node_connect(s, m);
        freeReplyObject(redisCommand(nodes[m], "CONFIG RESETSTAT"));
        cpu_before[m] = node_cpu(nodes[m]);
        commands_before[m] = info_number(nodes[m], "stats", "total_commands_processed:");
    }
    enroller *workers = calloc((size_t)s->threads, sizeof(*workers));
    pthread_t threads[MAX_THREADS];
    atomic_llong next_patient = 1, enrolled_so_far = 0;
    pthread_barrier_init(&start_line, NULL, (unsigned)s->threads + 1);
    for (int t = 0; t < s->threads; t++) {
        workers[t] = (enroller){.s = s, .ctx = sg_clone(ctx), .name = name, .next_patient = &next_patient,
                                .enrolled_so_far = &enrolled_so_far};
        if (workers[t].ctx == NULL || workers[t].ctx->err ||
            pthread_create(&threads[t], NULL, enroll_until_full, &workers[t]) != 0) {
            fprintf(stderr, "hotkey: could not start thread %d\n", t);
            return 1;
        }
    }
    pthread_barrier_wait(&start_line);
    double started = now_s();
    long long enrolled = 0, rt = 0, last = 0, last_rt = 0;
    int failed = 0;
    for (int t = 0; t < s->threads; t++) {
        pthread_join(threads[t], NULL);
        if (workers[t].failed) {
            fprintf(stderr, "hotkey: thread %d: %s\n", t, workers[t].error);
            failed = 1;
        }
        enrolled += workers[t].enrolled;
        rt += workers[t].round_trips;
        last += workers[t].last_pc_enrolled;
        last_rt += workers[t].last_pc_round_trips;
        sg_free(workers[t].ctx);
    }
    double elapsed = now_s() - started;
    pthread_barrier_destroy(&start_line);
    free(workers);
    double commands[MAX_MASTERS], cpu[MAX_MASTERS], commands_total = 0, cpu_total = 0, moves = 0;
    for (int m = 0; m < s->masters; m++) {
        commands[m] = info_number(nodes[m], "stats", "total_commands_processed:") - commands_before[m];
        cpu[m] = node_cpu(nodes[m]) - cpu_before[m];
        moves += info_number(nodes[m], "commandstats", "cmdstat_slots.receive:calls=");
        commands_total += commands[m];
        cpu_total += cpu[m];
        redisFree(nodes[m]);
    }
    sg_sharded_trial *t = sg_sharded_trial_open(ctx, name, strlen(name), NULL);
    sg_sharded_info info = {0};
    if (t == NULL || sg_sharded_info_get(ctx, t, &info) != SG_OK) failed = 1;
    sg_sharded_trial_close(t);
    double hottest_calls = 0, hottest_cpu = 0;
    printf("mode=trial shards=%d capacity=%lld enrolled=%lld counted=%lld enrollments_per_s=%.0f rt_per_enrollment=%.3f "
           "rt_per_enrollment_last1pc=%.3f moves=%.0f cpu_us_per_enrolled=%.2f",
           shards, s->stock, enrolled, info.enrolled, (double)enrolled / elapsed,
           enrolled ? (double)rt / (double)enrolled : 0, last ? (double)last_rt / (double)last : 0, moves,
           enrolled ? 1e6 * cpu_total / (double)enrolled : 0);
    for (int m = 0; m < s->masters; m++) {
        double calls_pc = commands_total > 0 ? 100 * commands[m] / commands_total : 0;
        double cpu_pc = cpu_total > 0 ? 100 * cpu[m] / cpu_total : 0;
        if (calls_pc > hottest_calls) hottest_calls = calls_pc;
        if (cpu_pc > hottest_cpu) hottest_cpu = cpu_pc;
        printf(" node%d_calls_pc=%.1f node%d_cpu_pc=%.1f", m, calls_pc, m, cpu_pc);
    }
    printf(" hottest_calls_pc=%.1f hottest_cpu_pc=%.1f\n", hottest_calls, hottest_cpu);
    fflush(stdout);
    sg_free(ctx);
    if (enrolled != s->stock || info.enrolled != s->stock || info.capacity != s->stock) {
        fprintf(stderr, "hotkey: %d shards: %lld enrolled (shards say %lld, capacity %lld) of %lld\n", shards,
                enrolled, info.enrolled, info.capacity, s->stock);
        return 1;
    }
    return failed;
}

static int parse_address(const char *text, char *host, size_t size, int *port) {
    const char *colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= size) return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    *port = atoi(colon + 1);
    return *port > 0 ? 0 : -1;
}

static void usage(void) {
    fprintf(stderr, "usage: hotkey --seeds h:p[,h:p...] --masters h:p,h:p,... [--mode counter|trial] [--stock N] "
                    "[--threads T] [--crowd C] [--name PREFIX] S [S ...]\n");
    exit(2);
}

int main(int argc, char **argv) {
    settings s = {.stock = 100000, .threads = 32, .crowd = 200, .prefix = "hotkey"};
    int trial_mode = 0;
    static char seed_host[64];
    int first_shard_arg = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            s.seeds = argv[++i];
            char first[128];
            snprintf(first, sizeof(first), "%.*s", (int)strcspn(s.seeds, ","), s.seeds);
            if (parse_address(first, seed_host, sizeof(seed_host), &s.seed_port) != 0) usage();
            s.seed_host = seed_host;
        } else if (strcmp(argv[i], "--masters") == 0 && i + 1 < argc) {
            char *list = strdup(argv[++i]);
            for (char *item = strtok(list, ","); item && s.masters < MAX_MASTERS; item = strtok(NULL, ",")) {
                if (parse_address(item, s.master_host[s.masters], sizeof(s.master_host[0]), &s.master_port[s.masters]))
                    usage();
                s.masters++;
            }
            free(list);
        } else if (strcmp(argv[i], "--stock") == 0 && i + 1 < argc) {
            s.stock = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            s.threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--crowd") == 0 && i + 1 < argc) {
            s.crowd = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            const char *mode = argv[++i];
            if (strcmp(mode, "trial") == 0) trial_mode = 1;
            else if (strcmp(mode, "counter") != 0) usage();
        } else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            s.prefix = argv[++i];
        } else if (argv[i][0] != '-') {
            first_shard_arg = i;
            break;
        } else {
            usage();
        }
    }
    if (s.seed_host == NULL || s.masters == 0 || first_shard_arg == argc || s.stock < 1 || s.threads < 1 ||
        s.threads > MAX_THREADS)
        usage();
    int status = 0;
    for (int i = first_shard_arg; i < argc; i++) status |= trial_mode ? run_trial(&s, atoi(argv[i])) : run(&s, atoi(argv[i]));
    return status;
}
