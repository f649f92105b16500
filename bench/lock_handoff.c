/* lock_handoff.c -- contended lock hand-off: FIFO waiting (LOCK.ACQUIRE ... WAIT) against the
 * polling loop it replaces (SET key owner NX PX ttl, sleep, try again; release by the usual
 * compare-and-delete script).
 *
 * T threads, each with its own connection, take one lock over and over for D seconds. Inside the
 * critical section each does INCR on a plain counter key (and, with -w, sleeps to model work done
 * under the lock), then releases. At the end:
 *   - the counter must equal the number of acquisitions (else the lock let two owners in: exit 1);
 *   - in fifo mode the fencing tokens, read under the lock, must strictly increase (else exit 1);
 * and one line is printed with hand-offs per second, lock attempts per acquisition, server CPU
 * time per hand-off (INFO cpu, before and after), commands per hand-off (INFO commandstats), the
 * time from asking for the lock to getting it (p50/p99/max) and fairness (fewest and most
 * acquisitions of any thread).
 *
 * redis-benchmark cannot do this: it cannot send a release that carries the owner of the acquire
 * that just succeeded, nor wait for one reply before choosing the next command.
 *
 * Usage: lock_handoff -p port [-h host] [-m fifo|poll] [-t threads] [-d seconds] [-s poll_sleep_us]
 *                     [-w work_us] [-l ttl_ms] [-k key]
 * Output (one line, key=value, for scripts): mode=... threads=... handoffs=... ...
 * Exit status: 0 measured and consistent, 1 a safety check failed, 2 usage or connection error. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define MAX_THREADS 256
#define WAIT_TIMEOUT_MS 30000 /* a FIFO waiter never gives up during a run */

static const char release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

typedef enum { MODE_FIFO, MODE_POLL } handoff_mode;

typedef struct options {
    const char *host;
    int port;
    handoff_mode mode;
    int threads;
    double seconds;
    long poll_sleep_us;
    long work_us;
    long ttl_ms;
    const char *key;
} options;

typedef struct samples {
    int64_t *values;
    size_t count, capacity;
} samples;

typedef struct worker {
    const options *opt;
    int index;
    char owner[32];
    char release_sha[41];
    redisContext *c;
    long long acquisitions;
    long long attempts;
    samples waits_ns;
    char problem[256]; /* first thing that went wrong; empty when none */
} worker;

/* Written only while holding the lock: the run's own check of mutual exclusion and token order. */
static long long last_token;
static long long holders_inside;
static int64_t run_deadline_ns;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lock_handoff: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nusage: lock_handoff -p port [-h host] [-m fifo|poll] [-t threads] [-d seconds]"
                    " [-s poll_sleep_us] [-w work_us] [-l ttl_ms] [-k key]\n");
    va_end(ap);
    exit(2);
}

static long parse_long(const char *flag, const char *text, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        die_usage("%s must be an integer from %ld to %ld (got '%s')", flag, min, max, text);
    return v;
}

static options parse_options(int argc, char **argv)
{
    options o = {"127.0.0.1", 0, MODE_FIFO, 16, 3.0, 1000, 0, 5000, "bench:handoff:lock"};
    int opt;
    while ((opt = getopt(argc, argv, "h:p:m:t:d:s:w:l:k:")) != -1) {
        switch (opt) {
        case 'h': o.host = optarg; break;
        case 'p': o.port = (int)parse_long("-p", optarg, 1, 65535); break;
        case 'm':
            if (strcmp(optarg, "fifo") == 0) o.mode = MODE_FIFO;
            else if (strcmp(optarg, "poll") == 0) o.mode = MODE_POLL;
            else die_usage("-m must be fifo or poll (got '%s')", optarg);
            break;
        case 't': o.threads = (int)parse_long("-t", optarg, 2, MAX_THREADS); break;
        case 'd': o.seconds = (double)parse_long("-d", optarg, 1, 3600); break;
        case 's': o.poll_sleep_us = parse_long("-s", optarg, 0, 1000000); break;
        case 'w': o.work_us = parse_long("-w", optarg, 0, 1000000); break;
        case 'l': o.ttl_ms = parse_long("-l", optarg, 1, 3600000); break;
        case 'k': o.key = optarg; break;
        default: die_usage("unknown option");
        }
    }
    if (o.port == 0) die_usage("-p port is required");
    if (optind != argc) die_usage("unexpected argument '%s'", argv[optind]);
    return o;
}

static redisContext *connect_or_die(const options *o)
{
    struct timeval tv = {WAIT_TIMEOUT_MS / 1000 + 5, 0};
    redisContext *c = redisConnectWithTimeout(o->host, o->port, (struct timeval){2, 0});
    if (c == NULL || c->err) {
        fprintf(stderr, "lock_handoff: cannot connect to %s:%d: %s\n", o->host, o->port,
                c ? c->errstr : "out of memory");
        exit(2);
    }
    redisSetTimeout(c, tv);
    return c;
}

static void samples_add(samples *s, int64_t v)
{
    if (s->count == s->capacity) {
        size_t capacity = s->capacity ? s->capacity * 2 : 4096;
        int64_t *values = realloc(s->values, capacity * sizeof(*values));
        if (values == NULL) return; /* keep what we have; the count of acquisitions stays exact */
        s->values = values;
        s->capacity = capacity;
    }
    s->values[s->count++] = v;
}

static void note_problem(worker *w, const char *what, const redisReply *r)
{
    if (w->problem[0] != '\0') return;
    if (r == NULL) snprintf(w->problem, sizeof(w->problem), "%s: connection error: %s", what, w->c->errstr);
    else if (r->type == REDIS_REPLY_ERROR) snprintf(w->problem, sizeof(w->problem), "%s: %s", what, r->str);
    else snprintf(w->problem, sizeof(w->problem), "%s: unexpected reply type %d", what, r->type);
}

/* The critical section: check that we are alone and that tokens grow, then touch Redis. */
static int critical_section(worker *w, long long token)
{
    if (__atomic_add_fetch(&holders_inside, 1, __ATOMIC_SEQ_CST) != 1) {
        snprintf(w->problem, sizeof(w->problem), "two holders inside the critical section");
        return -1;
    }
    if (token != 0) {
        long long last = __atomic_load_n(&last_token, __ATOMIC_SEQ_CST);
        if (token <= last) {
            snprintf(w->problem, sizeof(w->problem), "token %lld granted after token %lld", token, last);
            return -1;
        }
        __atomic_store_n(&last_token, token, __ATOMIC_SEQ_CST);
    }
    redisReply *r = redisCommand(w->c, "INCR %s:counter", w->opt->key);
    int ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
    if (!ok) note_problem(w, "INCR", r);
    freeReplyObject(r);
    if (w->opt->work_us > 0) sleep_us(w->opt->work_us);
    __atomic_sub_fetch(&holders_inside, 1, __ATOMIC_SEQ_CST);
    return ok ? 0 : -1;
}

/* One acquisition in fifo mode: returns the token, 0 when the wait ended without a grant, -1 on error. */
static long long acquire_fifo(worker *w)
{
    w->attempts++;
    redisReply *r = redisCommand(w->c, "LOCK.ACQUIRE %s %s %ld WAIT %d", w->opt->key, w->owner, w->opt->ttl_ms,
                                 WAIT_TIMEOUT_MS);
    long long token = -1;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= 1) token = r->integer;
    else if (r != NULL && r->type == REDIS_REPLY_NIL) token = 0;
    else note_problem(w, "LOCK.ACQUIRE", r);
    freeReplyObject(r);
    return token;
}

/* One acquisition in poll mode: returns 1 when held, -1 on error. */
static long long acquire_poll(worker *w)
{
    for (;;) {
        w->attempts++;
        redisReply *r = redisCommand(w->c, "SET %s %s NX PX %ld", w->opt->key, w->owner, w->opt->ttl_ms);
        if (r != NULL && r->type == REDIS_REPLY_STATUS) {
            freeReplyObject(r);
            return 1;
        }
        if (r == NULL || r->type != REDIS_REPLY_NIL) {
            note_problem(w, "SET NX PX", r);
            freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
        if (w->opt->poll_sleep_us > 0) sleep_us(w->opt->poll_sleep_us);
    }
}

static int release(worker *w)
{
    redisReply *r;
    if (w->opt->mode == MODE_FIFO) r = redisCommand(w->c, "LOCK.RELEASE %s %s", w->opt->key, w->owner);
    else r = redisCommand(w->c, "EVALSHA %s 1 %s %s", w->release_sha, w->opt->key, w->owner);
    int ok = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (!ok) {
        if (r != NULL && r->type == REDIS_REPLY_INTEGER)
            snprintf(w->problem, sizeof(w->problem), "release found the lock not ours: lease too short?");
        else note_problem(w, "release", r);
    }
    freeReplyObject(r);
    return ok ? 0 : -1;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    while (now_ns() < run_deadline_ns) {
        int64_t asked = now_ns();
        long long got = w->opt->mode == MODE_FIFO ? acquire_fifo(w) : acquire_poll(w);
        if (got < 0) break;
        if (got == 0) continue; /* WAIT elapsed: ask again */
        samples_add(&w->waits_ns, now_ns() - asked);
        w->acquisitions++;
        if (critical_section(w, w->opt->mode == MODE_FIFO ? got : 0) != 0) break;
        if (release(w) != 0) break;
    }
    return NULL;
}

/* ---- server-side figures ------------------------------------------------------------------------ */
static redisReply *command_or_die(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "lock_handoff: %s failed: %s\n", fmt, r ? r->str : c->errstr);
        exit(2);
    }
    return r;
}

/* Sum of the numbers after each "name:" in an INFO text. */
static double info_number(const char *info, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = info; (p = strstr(p, name)) != NULL; p += len) {
        if ((p == info || p[-1] == '\n') && p[len] == ':') return strtod(p + len + 1, NULL);
    }
    return 0;
}

/* Total calls over every command in INFO commandstats. */
static long long total_calls(redisContext *c)
{
    redisReply *r = command_or_die(c, "INFO commandstats");
    long long total = 0;
    for (const char *p = r->str; (p = strstr(p, "calls=")) != NULL; p += 6) total += strtoll(p + 6, NULL, 10);
    freeReplyObject(r);
    return total;
}

static double server_cpu_us(redisContext *c)
{
    redisReply *r = command_or_die(c, "INFO cpu");
    double s = info_number(r->str, "used_cpu_sys") + info_number(r->str, "used_cpu_user");
    freeReplyObject(r);
    return s * 1e6;
}

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    options o = parse_options(argc, argv);
    redisContext *admin = connect_or_die(&o);
    freeReplyObject(command_or_die(admin, "DEL %s %s:counter", o.key, o.key));
    redisReply *sha = command_or_die(admin, "SCRIPT LOAD %s", release_script);
    if (sha->type != REDIS_REPLY_STRING || sha->len != 40) {
        fprintf(stderr, "lock_handoff: SCRIPT LOAD returned no sha\n");
        return 2;
    }

    static worker workers[MAX_THREADS];
    pthread_t threads[MAX_THREADS];
    for (int i = 0; i < o.threads; i++) {
        worker *w = &workers[i];
        w->opt = &o;
        w->index = i;
        snprintf(w->owner, sizeof(w->owner), "owner-%d", i);
        memcpy(w->release_sha, sha->str, 40);
        w->c = connect_or_die(&o);
    }
    freeReplyObject(sha);

    freeReplyObject(command_or_die(admin, "CONFIG RESETSTAT"));
    long long calls_before = total_calls(admin);
    double cpu_before = server_cpu_us(admin);
    int64_t started = now_ns();
    run_deadline_ns = started + (int64_t)(o.seconds * 1e9);
    for (int i = 0; i < o.threads; i++) {
        if (pthread_create(&threads[i], NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "lock_handoff: cannot start thread %d\n", i);
            return 2;
        }
    }
    for (int i = 0; i < o.threads; i++) pthread_join(threads[i], NULL);
    double elapsed = (double)(now_ns() - started) / 1e9;
    double cpu_after = server_cpu_us(admin);
    long long calls = total_calls(admin) - calls_before - 1; /* not counting the INFO cpu above */

    int failed = 0;
    long long acquisitions = 0, attempts = 0, fewest = -1, most = 0;
    size_t nwaits = 0;
    for (int i = 0; i < o.threads; i++) {
        worker *w = &workers[i];
        if (w->problem[0] != '\0') {
            fprintf(stderr, "lock_handoff: thread %d: %s\n", i, w->problem);
            failed = 1;
        }
        acquisitions += w->acquisitions;
        attempts += w->attempts;
        if (fewest < 0 || w->acquisitions < fewest) fewest = w->acquisitions;
        if (w->acquisitions > most) most = w->acquisitions;
        nwaits += w->waits_ns.count;
    }
    redisReply *counter = command_or_die(admin, "GET %s:counter", o.key);
    long long counted = counter->type == REDIS_REPLY_STRING ? strtoll(counter->str, NULL, 10) : 0;
    freeReplyObject(counter);
    if (counted != acquisitions) {
        fprintf(stderr, "lock_handoff: counter is %lld after %lld acquisitions: the lock let owners overlap\n",
                counted, acquisitions);
        failed = 1;
    }
    if (acquisitions == 0) {
        fprintf(stderr, "lock_handoff: no acquisition at all\n");
        failed = 1;
    }

    int64_t *all = malloc((nwaits ? nwaits : 1) * sizeof(*all));
    size_t n = 0;
    for (int i = 0; i < o.threads && all != NULL; i++) {
        memcpy(all + n, workers[i].waits_ns.values, workers[i].waits_ns.count * sizeof(*all));
        n += workers[i].waits_ns.count;
    }
    int64_t p50 = 0, p99 = 0, max = 0;
    if (all != NULL && n > 0) {
        qsort(all, n, sizeof(*all), compare_int64);
        p50 = all[n / 2];
        p99 = all[(size_t)((double)(n - 1) * 0.99)];
        max = all[n - 1];
    }

    printf("mode=%s threads=%d seconds=%.2f handoffs=%lld handoffs_per_s=%.0f attempts_per_acquisition=%.2f"
           " commands_per_handoff=%.2f server_cpu_us_per_handoff=%.2f wait_p50_us=%.0f wait_p99_us=%.0f"
           " wait_max_us=%.0f fewest_per_thread=%lld most_per_thread=%lld poll_sleep_us=%ld work_us=%ld counter_ok=%d\n",
           o.mode == MODE_FIFO ? "fifo" : "poll", o.threads, elapsed, acquisitions,
           (double)acquisitions / elapsed, acquisitions ? (double)attempts / (double)acquisitions : 0.0,
           acquisitions ? (double)calls / (double)acquisitions : 0.0,
           acquisitions ? (cpu_after - cpu_before) / (double)acquisitions : 0.0, (double)p50 / 1e3,
           (double)p99 / 1e3, (double)max / 1e3, fewest, most, o.mode == MODE_POLL ? o.poll_sleep_us : 0L, o.work_us,
           counted == acquisitions);

    free(all);
    for (int i = 0; i < o.threads; i++) {
        free(workers[i].waits_ns.values);
        redisFree(workers[i].c);
    }
    freeReplyObject(command_or_die(admin, "DEL %s %s:counter", o.key, o.key));
    redisFree(admin);
    return failed;
}
