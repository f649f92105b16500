/* locked_update.c -- a critical section under SlotGuard's watched lock, with fencing tokens.
 *
 * The protected store is a Redis hash (default {store}:account) with fields `balance` and
 * `last_token`. It is only read and written through two scripts that are fenced: a read records the
 * reader's token as last_token and is refused when a larger one was seen; a write is accepted only
 * when the writer's token is still the largest seen. So a holder whose lease ended (a GC pause, a
 * stalled VM) can neither overwrite the next holder's work nor write back what it read before the
 * next holder read: the read-modify-write as a whole is fenced, not only its write.
 *
 * 1. T workers, each with its own context, do N updates each: acquire the lock (the watched lock:
 *    LOCK.ACQUIRE ... WAIT in the lock's FIFO queue, then a watchdog thread renews the lease), read
 *    the balance, add 1, write it with the token, release. Printed:
 *      updates <T*N>
 *      balance <T*N>
 *      refused_stale 0
 * 2. A paused holder: it acquires the lock with a short lease and no watchdog (plain
 *    sg_lock_acquire), then stops for twice the lease. Meanwhile another client, waiting in the
 *    lock's queue, is granted the lock with a larger token and writes. When the paused holder wakes
 *    and writes with its old token, the store refuses it. Printed: paused_holder_refused 1
 * 3. The watchdog's loss report: a watched lock's key is deleted from another connection; the
 *    watchdog finds out on its next renewal (on_lost, and sg_watched_lock_held() turns 0).
 *    Printed: lock_lost_reported 1
 * The store is reset (DEL) at the start, so that the balance counts this run's updates.
 * Exit status: 0 when every check held, 1 otherwise (or on any failure), 2 on bad arguments. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slotguard.h"

/* The lease of the paused holder and of the watched lock whose key is deleted (parts 2 and 3). */
#define DEMO_TTL_MS 300
/* How long a worker waits in the lock's queue before trying again. */
#define WORKER_WAIT_MS 10000

/* KEYS[1] the store, ARGV[1] the reader's token. The balance ("0" when unset), after recording the
 * token; nil (refused) when a larger token was seen. */
static const char fenced_read_script[] =
    "if tonumber(redis.call('HGET', KEYS[1], 'last_token') or '0') > tonumber(ARGV[1]) then return false end "
    "redis.call('HSET', KEYS[1], 'last_token', ARGV[1]) "
    "return redis.call('HGET', KEYS[1], 'balance') or '0'";

/* KEYS[1] the store, ARGV[1] the writer's token, ARGV[2] the new balance. 1 accepted, 0 refused: a
 * larger token was seen (by a read or a write) since this writer read. */
static const char fenced_write_script[] =
    "if tonumber(redis.call('HGET', KEYS[1], 'last_token') or '0') <= tonumber(ARGV[1]) then "
    "redis.call('HSET', KEYS[1], 'last_token', ARGV[1], 'balance', ARGV[2]) return 1 "
    "else return 0 end";

typedef struct settings {
    const char *host;
    int port;
    int cluster;
    const char *lock;
    const char *store;
    int workers;
    long updates;
    long long ttl_ms;
} settings;

static void print_usage(FILE *out, const char *program) {
    fprintf(out,
            "usage: %s [--host H] [--port P] [--cluster] [--lock KEY] [--store KEY] [--workers T]\n"
            "          [--updates N] [--ttl MS]\n"
            "  --host H       server (cluster mode: the seed node); default 127.0.0.1\n"
            "  --port P       its port; default 6379\n"
            "  --cluster      talk to a Redis Cluster (host:port is the seed)\n"
            "  --lock KEY     the lock's key; default {store}:lock\n"
            "  --store KEY    the protected hash (balance, last_token); default {store}:account\n"
            "                 (in a cluster, give the lock and the store one hash tag)\n"
            "  --workers T    threads updating the balance, one context each; default 4\n"
            "  --updates N    updates per worker; default 50\n"
            "  --ttl MS       the workers' lease, renewed by the watchdog; default 2000\n"
            "  --help         print this and exit\n"
            "Prints updates, balance and refused_stale; then shows a paused holder's stale write\n"
            "refused (paused_holder_refused 1) and the watchdog reporting a lost lock\n"
            "(lock_lost_reported 1), both with a %d ms lease. Resets the store first.\n"
            "Exit 0 when every check held, 1 on failure, 2 on bad arguments.\n",
            program, DEMO_TTL_MS);
}

static int parse_number(const char *text, long long min, long long max, long long *out) {
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || value < min || value > max) return -1;
    *out = value;
    return 0;
}

/* Fills `s` from the command line. Returns -1 to exit 0 (--help), 0 to go on, 2 on bad arguments. */
static int parse_arguments(int argc, char **argv, settings *s) {
    static const char *const value_flags[] = {"--host", "--port", "--lock", "--store",
                                              "--workers", "--updates", "--ttl"};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--help") == 0) {
            print_usage(stdout, argv[0]);
            return -1;
        }
        if (strcmp(flag, "--cluster") == 0) {
            s->cluster = 1;
            continue;
        }
        int known = 0;
        for (size_t f = 0; f < sizeof(value_flags) / sizeof(value_flags[0]); f++)
            if (strcmp(flag, value_flags[f]) == 0) known = 1;
        if (!known) {
            fprintf(stderr, "%s: unknown flag %s\n", argv[0], flag);
            print_usage(stderr, argv[0]);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", argv[0], flag);
            print_usage(stderr, argv[0]);
            return 2;
        }
        const char *value = argv[++i];
        long long number = 0;
        int bad = 0;
        if (strcmp(flag, "--host") == 0) s->host = value;
        else if (strcmp(flag, "--lock") == 0) s->lock = value;
        else if (strcmp(flag, "--store") == 0) s->store = value;
        else if (strcmp(flag, "--port") == 0) {
            bad = parse_number(value, 1, 65535, &number);
            s->port = (int)number;
        } else if (strcmp(flag, "--workers") == 0) {
            bad = parse_number(value, 1, 1024, &number);
            s->workers = (int)number;
        } else if (strcmp(flag, "--updates") == 0) {
            bad = parse_number(value, 0, 100000000, &number);
            s->updates = (long)number;
        } else if (strcmp(flag, "--ttl") == 0) {
            bad = parse_number(value, 3, 1000000000LL, &number);
            s->ttl_ms = number;
        }
        if (bad) {
            fprintf(stderr, "%s: bad value for %s: %s\n", argv[0], flag, value);
            print_usage(stderr, argv[0]);
            return 2;
        }
    }
    return 0;
}

static void sleep_ms(long long ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static long long monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the store -------------------------------------------------------------------------------- */
/* Runs a command routed by `key`; an error reply counts as a failure. On failure writes the reason
 * into `error` and returns NULL. */
static redisReply *run(sg_context *ctx, const char *key, int argc, const char **argv, char *error, size_t size) {
    size_t lengths[8];
    for (int i = 0; i < argc; i++) lengths[i] = strlen(argv[i]);
    redisReply *r = sg_command_argv(ctx, key, strlen(key), argc, argv, lengths);
    if (r == NULL) {
        snprintf(error, size, "%s %s: %s", argv[0], key, ctx->errstr);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(error, size, "%s %s: %s", argv[0], key, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* The balance as it is, unfenced: for checking the result once nobody works under the lock. */
static int peek_balance(sg_context *ctx, const char *store, long long *balance, char *error, size_t size) {
    const char *argv[] = {"HGET", store, "balance"};
    redisReply *r = run(ctx, store, 3, argv, error, size);
    if (r == NULL) return -1;
    *balance = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
    freeReplyObject(r);
    return 0;
}

/* The fenced read: the store's balance into *balance, *accepted 0 when it refused the token. */
static int read_balance(sg_context *ctx, const char *store, long long token, long long *balance, int *accepted,
                        char *error, size_t size) {
    char token_text[24];
    snprintf(token_text, sizeof(token_text), "%lld", token);
    const char *argv[] = {"EVAL", fenced_read_script, "1", store, token_text};
    redisReply *r = run(ctx, store, 5, argv, error, size);
    if (r == NULL) return -1;
    int rc = 0;
    *accepted = r->type == REDIS_REPLY_STRING;
    if (r->type == REDIS_REPLY_STRING) *balance = strtoll(r->str, NULL, 10);
    else if (r->type != REDIS_REPLY_NIL) {
        snprintf(error, size, "EVAL fenced read on %s: unexpected reply type %d", store, r->type);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* The fenced write: *accepted 1 when the store took it, 0 when it refused the token as stale. */
static int write_balance(sg_context *ctx, const char *store, long long token, long long balance, int *accepted,
                         char *error, size_t size) {
    char token_text[24], balance_text[24];
    snprintf(token_text, sizeof(token_text), "%lld", token);
    snprintf(balance_text, sizeof(balance_text), "%lld", balance);
    const char *argv[] = {"EVAL", fenced_write_script, "1", store, token_text, balance_text};
    redisReply *r = run(ctx, store, 6, argv, error, size);
    if (r == NULL) return -1;
    int rc = 0;
    if (r->type == REDIS_REPLY_INTEGER) *accepted = r->integer == 1;
    else {
        snprintf(error, size, "EVAL fenced write on %s: unexpected reply type %d", store, r->type);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* ---- 1. workers --------------------------------------------------------------------------------- */
typedef struct worker {
    const settings *s;
    int index;
    sg_context *ctx;
    long updates_done;
    long refused_stale;
    long lost_before_write;
    int failed;
    char error[SG_ERRSTR_SIZE + 128];
} worker;

static void *update_balance(void *arg) {
    worker *w = arg;
    const settings *s = w->s;
    char owner[64];
    int owner_len = snprintf(owner, sizeof(owner), "worker-%d@%ld", w->index, (long)getpid());
    sg_watch_options watch = {.ttl_ms = s->ttl_ms, .wait_ms = WORKER_WAIT_MS};
    while (w->updates_done < s->updates) {
        sg_watched_lock *lock = sg_watched_lock_acquire(w->ctx, s->lock, strlen(s->lock), owner, (size_t)owner_len,
                                                        &watch);
        if (lock == NULL) {
            if (w->ctx->err == 0) continue; /* not granted within the wait: queue again */
            snprintf(w->error, sizeof(w->error), "LOCK.ACQUIRE %s: %s", s->lock, w->ctx->errstr);
            w->failed = 1;
            return NULL;
        }
        long long token = sg_watched_lock_token(lock), balance = 0;
        int accepted = 0, failed = read_balance(w->ctx, s->store, token, &balance, &accepted, w->error,
                                                sizeof(w->error));
        /* Stop working under a lost lock (the store would refuse us anyway: a newer holder's read
         * or write raised last_token above ours). */
        if (!failed && !accepted) {
            w->refused_stale++; /* do this update again */
        } else if (!failed && !sg_watched_lock_held(lock)) {
            w->lost_before_write++; /* stop working under a lost lock; do this update again */
        } else if (!failed) {
            failed = write_balance(w->ctx, s->store, token, balance + 1, &accepted, w->error, sizeof(w->error));
            if (!failed && accepted) w->updates_done++;
            else if (!failed) w->refused_stale++; /* the update did not happen: do it again */
        }
        int released = 0;
        if (sg_watched_lock_release(w->ctx, lock, &released) != SG_OK && !failed) {
            snprintf(w->error, sizeof(w->error), "LOCK.RELEASE %s: %s", s->lock, w->ctx->errstr);
            failed = 1;
        }
        if (failed) {
            w->failed = 1;
            return NULL;
        }
    }
    return NULL;
}

/* Part 1. Returns 0 when the balance counts every update. */
static int run_workers(sg_context *ctx, const settings *s) {
    char error[SG_ERRSTR_SIZE + 128];
    const char *reset[] = {"DEL", s->store};
    redisReply *r = run(ctx, s->store, 2, reset, error, sizeof(error));
    if (r == NULL) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    freeReplyObject(r);

    worker *workers = calloc((size_t)s->workers, sizeof(*workers));
    pthread_t *threads = calloc((size_t)s->workers, sizeof(*threads));
    if (workers == NULL || threads == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    int failed = 0;
    for (int t = 0; t < s->workers; t++) {
        workers[t].s = s;
        workers[t].index = t;
        workers[t].ctx = sg_clone(ctx);
        if (workers[t].ctx == NULL || workers[t].ctx->err) {
            fprintf(stderr, "connect (worker %d): %s\n", t, workers[t].ctx ? workers[t].ctx->errstr : "out of memory");
            failed = 1;
        }
    }
    int started = 0;
    for (; !failed && started < s->workers; started++) {
        if (pthread_create(&threads[started], NULL, update_balance, &workers[started]) != 0) {
            fprintf(stderr, "could not start worker %d\n", started);
            failed = 1;
            break;
        }
    }

    long long updates = 0, refused = 0, lost = 0;
    for (int t = 0; t < started; t++) {
        pthread_join(threads[t], NULL);
        if (workers[t].failed) {
            fprintf(stderr, "worker %d: %s\n", t, workers[t].error);
            failed = 1;
        }
        updates += workers[t].updates_done;
        refused += workers[t].refused_stale;
        lost += workers[t].lost_before_write;
    }
    for (int t = 0; t < s->workers; t++) sg_free(workers[t].ctx);
    free(threads);
    free(workers);
    if (failed) return 1;

    long long balance = 0;
    if (peek_balance(ctx, s->store, &balance, error, sizeof(error)) != 0) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    printf("updates %lld\n", updates);
    printf("balance %lld\n", balance);
    printf("refused_stale %lld\n", refused);
    if (lost) fprintf(stderr, "note: %lld updates found the lock lost before writing and were done again\n", lost);
    if (balance != updates) {
        fprintf(stderr, "error: the balance is %lld after %lld updates\n", balance, updates);
        return 1;
    }
    return 0;
}

/* ---- 2. the paused holder ----------------------------------------------------------------------- */
typedef struct successor {
    sg_context *ctx;
    const settings *s;
    long long token;
    int failed;
    char error[SG_ERRSTR_SIZE + 128];
} successor;

/* Waits in the lock's queue while the holder is paused, is granted the lock when the holder's
 * lease ends, and writes with its (larger) token. */
static void *take_over(void *arg) {
    successor *n = arg;
    const settings *s = n->s;
    static const char owner[] = "successor";
    if (sg_lock_acquire(n->ctx, s->lock, strlen(s->lock), owner, sizeof(owner) - 1, DEMO_TTL_MS * 10,
                        DEMO_TTL_MS * 20, 0, &n->token) != SG_OK) {
        snprintf(n->error, sizeof(n->error), "LOCK.ACQUIRE %s (successor): %s", s->lock, n->ctx->errstr);
        n->failed = 1;
        return NULL;
    }
    if (n->token == 0) {
        snprintf(n->error, sizeof(n->error), "LOCK.ACQUIRE %s (successor): not granted after the holder's lease",
                 s->lock);
        n->failed = 1;
        return NULL;
    }
    long long balance = 0;
    int accepted = 0, read_accepted = 0;
    if (read_balance(n->ctx, s->store, n->token, &balance, &read_accepted, n->error, sizeof(n->error)) != 0 ||
        write_balance(n->ctx, s->store, n->token, balance + 1, &accepted, n->error, sizeof(n->error)) != 0) {
        n->failed = 1;
        return NULL;
    }
    if (!accepted || !read_accepted) {
        snprintf(n->error, sizeof(n->error), "the store refused the successor's token %lld", n->token);
        n->failed = 1;
    }
    int released = 0;
    if (sg_lock_release(n->ctx, s->lock, strlen(s->lock), owner, sizeof(owner) - 1, &released) != SG_OK &&
        !n->failed) {
        snprintf(n->error, sizeof(n->error), "LOCK.RELEASE %s (successor): %s", s->lock, n->ctx->errstr);
        n->failed = 1;
    }
    return NULL;
}

/* Part 2. Returns 0 when the paused holder's stale write was refused. */
static int run_paused_holder(sg_context *ctx, const settings *s) {
    static const char owner[] = "paused-holder";
    size_t lock_len = strlen(s->lock);
    char error[SG_ERRSTR_SIZE + 128];
    long long old_token = 0, balance = 0;
    /* No watchdog: nobody renews this lease while the holder is paused. */
    if (sg_lock_acquire(ctx, s->lock, lock_len, owner, sizeof(owner) - 1, DEMO_TTL_MS, 0, 0, &old_token) != SG_OK) {
        fprintf(stderr, "LOCK.ACQUIRE %s (paused holder): %s\n", s->lock, ctx->errstr);
        return 1;
    }
    if (old_token == 0) {
        fprintf(stderr, "LOCK.ACQUIRE %s (paused holder): the lock is held by someone else\n", s->lock);
        return 1;
    }
    int read_accepted = 0;
    if (read_balance(ctx, s->store, old_token, &balance, &read_accepted, error, sizeof(error)) != 0 ||
        !read_accepted) {
        fprintf(stderr, "%s\n", read_accepted ? error : "the store refused the holder's first read");
        return 1;
    }

    successor next = {.s = s};
    next.ctx = sg_clone(ctx);
    if (next.ctx == NULL || next.ctx->err) {
        fprintf(stderr, "connect (successor): %s\n", next.ctx ? next.ctx->errstr : "out of memory");
        sg_free(next.ctx);
        return 1;
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, take_over, &next) != 0) {
        fprintf(stderr, "could not start the successor's thread\n");
        sg_free(next.ctx);
        return 1;
    }
    sleep_ms(2 * DEMO_TTL_MS); /* the pause: the lease ends meanwhile */
    pthread_join(thread, NULL);
    sg_free(next.ctx);
    if (next.failed) {
        fprintf(stderr, "%s\n", next.error);
        return 1;
    }

    /* The holder wakes up, unaware, and writes what it computed before its pause. */
    int accepted = 0;
    if (write_balance(ctx, s->store, old_token, balance + 1, &accepted, error, sizeof(error)) != 0) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    fprintf(stderr, "paused holder: token %lld, successor's token %lld, stale write %s\n", old_token, next.token,
            accepted ? "ACCEPTED" : "refused");
    printf("paused_holder_refused %d\n", accepted ? 0 : 1);
    int released = 0;
    if (sg_lock_release(ctx, s->lock, lock_len, owner, sizeof(owner) - 1, &released) != SG_OK) {
        fprintf(stderr, "LOCK.RELEASE %s (paused holder): %s\n", s->lock, ctx->errstr);
        return 1;
    }
    if (released) {
        fprintf(stderr, "error: the paused holder still held the lock after its lease\n");
        return 1;
    }
    return accepted ? 1 : 0;
}

/* ---- 3. the watchdog's loss report -------------------------------------------------------------- */
static void note_loss(const char *key, size_t key_len, long long token, void *arg) {
    (void)key;
    (void)key_len;
    (void)token;
    atomic_store((atomic_int *)arg, 1);
}

/* Part 3. Returns 0 when the watchdog reported the loss. */
static int run_lost_lock(sg_context *ctx, const settings *s) {
    static const char owner[] = "watched-holder";
    atomic_int lost_reported;
    atomic_init(&lost_reported, 0);
    sg_watch_options watch = {.ttl_ms = DEMO_TTL_MS, .wait_ms = 0, .on_lost = note_loss, .on_lost_arg = &lost_reported};
    sg_watched_lock *lock = sg_watched_lock_acquire(ctx, s->lock, strlen(s->lock), owner, sizeof(owner) - 1, &watch);
    if (lock == NULL) {
        fprintf(stderr, "LOCK.ACQUIRE %s (watched holder): %s\n", s->lock,
                ctx->err ? ctx->errstr : "the lock is held by someone else");
        return 1;
    }

    /* Someone else removes the lock behind the holder's back. */
    sg_context *other = sg_clone(ctx);
    char error[SG_ERRSTR_SIZE + 128];
    redisReply *r = NULL;
    if (other == NULL || other->err) {
        snprintf(error, sizeof(error), "connect (other client): %s", other ? other->errstr : "out of memory");
    } else {
        const char *argv[] = {"DEL", s->lock};
        r = run(other, s->lock, 2, argv, error, sizeof(error));
    }
    sg_free(other);
    if (r == NULL) {
        fprintf(stderr, "%s\n", error);
        sg_watched_lock_release(ctx, lock, NULL);
        return 1;
    }
    freeReplyObject(r);

    long long deadline = monotonic_ms() + 3 * DEMO_TTL_MS;
    while (monotonic_ms() < deadline && !atomic_load(&lost_reported) && sg_watched_lock_held(lock)) sleep_ms(5);
    int reported = atomic_load(&lost_reported) || !sg_watched_lock_held(lock);
    printf("lock_lost_reported %d\n", reported);
    int released = 0;
    if (sg_watched_lock_release(ctx, lock, &released) != SG_OK) {
        fprintf(stderr, "LOCK.RELEASE %s (watched holder): %s\n", s->lock, ctx->errstr);
        return 1;
    }
    if (!reported) fprintf(stderr, "error: the watchdog did not report the loss within %d ms\n", 3 * DEMO_TTL_MS);
    return reported ? 0 : 1;
}

int main(int argc, char **argv) {
    settings s = {"127.0.0.1", 6379, 0, "{store}:lock", "{store}:account", 4, 50, 2000};
    int parsed = parse_arguments(argc, argv, &s);
    if (parsed < 0) return 0;
    if (parsed > 0) return parsed;

    sg_options options = {0};
    options.host = s.host;
    options.port = s.port;
    options.cluster = s.cluster;
    sg_context *ctx = sg_connect(&options);
    if (ctx == NULL) {
        fprintf(stderr, "connect: out of memory\n");
        return 1;
    }
    if (ctx->err) {
        fprintf(stderr, "connect: %s\n", ctx->errstr);
        sg_free(ctx);
        return 1;
    }
    if (s.cluster && sg_key_slot(s.lock, strlen(s.lock)) != sg_key_slot(s.store, strlen(s.store)))
        fprintf(stderr, "note: %s and %s are in different cluster slots\n", s.lock, s.store);

    int exit_code = run_workers(ctx, &s);
    fflush(stdout);
    if (run_paused_holder(ctx, &s) != 0) exit_code = 1;
    fflush(stdout);
    if (run_lost_lock(ctx, &s) != 0) exit_code = 1;
    sg_free(ctx);
    fflush(stdout);
    return exit_code;
}
