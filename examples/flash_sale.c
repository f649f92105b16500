/* flash_sale.c -- a flash sale on one stock spread over the masters of a cluster: many buyers
 * take one unit at a time, from many threads, and exactly the stock is sold, never more.
 *
 * The stock is a sharded counter (sg_counter_create: S shards holding N units between them, or
 * the counter as it is when it already exists). T threads released together by a barrier, each
 * with its own sg_context (sg_clone) and its own sg_counter handle, take 1 unit at a time until a
 * take answers sold out. On a cluster the shards sit on different masters, so the buyers spread
 * their load over all of them; on one node the shards buy nothing (a take is one SHARDED.DECR
 * over all of them: one thread of the server runs them all), they only keep the key layout.
 * The shard keys are named NAME:shard:<i>:{...} (and NAME:meta holds their names), so an operator
 * finds them with SCAN MATCH NAME:*.
 *
 * Output:
 *   sold N             units sold by all threads
 *   remaining 0        sg_counter_total after the sale
 *   shards S
 *   shard I UNITS      one line per shard: the units it gave
 *   node HOST:PORT U   one line per master (one node: the server): the units of the shards whose
 *                      slot it serves after the sale (CLUSTER SLOTS)
 *   server_sold N      the stock found at the start minus what the shards hold after the sale, as
 *                      read back from the servers (reads retried up to ~20 s while a cluster settles)
 *   uncertain N        takes that failed with a connection error or timeout: each may or may not
 *                      have taken its unit (at most one each)
 *   unacknowledged N   with --wait-replicas: takes that sold a unit that fewer than N replicas had
 *                      acknowledged within --wait-timeout (a failover may put that unit back on sale)
 *   acknowledged N     with --wait-replicas: takes acknowledged by N replicas (a failover keeps them)
 *   errors N           errors from takes, all kinds; then "error KIND N" for each kind seen (io, eof,
 *                      timeout, cluster, server, other)
 *   gave_up N          threads that stopped after --max-errors consecutive errors
 * (Those lines come after the ones above; the first lines are the same as without them.)
 *
 * Errors: a take that fails (connection lost, CLUSTERDOWN or TRYAGAIN beyond the redirections,
 * timeout...) is counted, the first 5 messages go to stderr, the thread waits (10 ms doubling up to
 * 500 ms) and tries again; after --max-errors consecutive errors (default 60) it gives up. So a
 * failover in the middle of a sale costs some errors, and the sale goes on. The run is bounded:
 * each success takes a unit of a finite stock, and each thread stops after --max-errors errors in a
 * row (at most about --max-errors * 0.5 s of waiting).
 *
 * Exit status: 0 when no take failed and exactly the stock found at the start was sold and none is
 * left; 3 when takes failed but every thread went on until sold out and the servers end
 * consistent: none left (server_sold equals the stock), and, with --wait-replicas, the acknowledged
 * takes are no more than the stock (no acknowledged unit was sold twice); 1 on any other failure
 * (a thread gave up, the final read failed, units left, more acknowledged than the stock); 2 on
 * bad arguments.
 *
 * Build: make examples (links libslotguard statically). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slotguard.h"

typedef struct settings {
    const char *host;
    int port;
    int cluster;
    const char *name;
    int shards;   /* 0: not given */
    long long stock; /* -1: not given */
    int threads;
    int max_errors;         /* consecutive errors after which a thread gives up */
    int wait_replicas;      /* 0: no WAIT */
    long long wait_timeout_ms;
} settings;

static void print_usage(FILE *out, const char *program) {
    fprintf(out,
            "usage: %s [--cluster] [--host H] [--port P] --name NAME --shards S --stock N [--threads T]\n"
            "          [--max-errors N] [--wait-replicas N] [--wait-timeout MS]\n"
            "  --cluster      talk to a Redis Cluster (host:port is the seed)\n"
            "  --host H       server (cluster mode: the seed node); default 127.0.0.1\n"
            "  --port P       its port; default 6379\n"
            "  --name NAME    the sharded counter (its keys are NAME:meta and NAME:shard:<i>:{...}); required\n"
            "  --shards S     shards of the counter when it is created (1 to 1024); required\n"
            "  --stock N      units of the counter when it is created; required\n"
            "  --threads T    threads buying at once, one context each; default 8\n"
            "  --max-errors N a thread that gets an error waits (10 ms doubling to 500 ms) and goes on;\n"
            "                 it gives up after N consecutive errors (1 to 100000); default 60\n"
            "  --wait-replicas N  each take waits for N replicas (WAIT); default 0: no wait\n"
            "  --wait-timeout MS  how long that WAIT waits; default 100\n"
            "  --help         print this and exit\n"
            "Sells the whole stock one unit at a time, then prints sold, remaining, the units per shard\n"
            "and per node, then what the servers hold (server_sold), uncertain, acknowledged and\n"
            "unacknowledged takes, errors per kind and threads that gave up. Exit 0 when exactly the\n"
            "stock was sold without errors, 3 when takes failed but the sale went on to sold out and the\n"
            "servers end consistent (none left, no acknowledged unit sold twice), 1 on failure, 2 on\n"
            "bad arguments.\n",
            program);
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
        static const char *const value_flags[] = {"--host",    "--port",       "--name",
                                                         "--shards",  "--stock",      "--threads",
                                                         "--max-errors", "--wait-replicas", "--wait-timeout"};
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
        else if (strcmp(flag, "--name") == 0) {
            s->name = value;
            bad = value[0] == '\0' ? -1 : 0;
        } else if (strcmp(flag, "--port") == 0) {
            bad = parse_number(value, 1, 65535, &number);
            s->port = (int)number;
        } else if (strcmp(flag, "--shards") == 0) {
            bad = parse_number(value, 1, 1024, &number);
            s->shards = (int)number;
        } else if (strcmp(flag, "--stock") == 0) {
            bad = parse_number(value, 0, 1000000000000LL, &number);
            s->stock = number;
        } else if (strcmp(flag, "--threads") == 0) {
            bad = parse_number(value, 1, 1024, &number);
            s->threads = (int)number;
        } else if (strcmp(flag, "--max-errors") == 0) {
            bad = parse_number(value, 1, 100000, &number);
            s->max_errors = (int)number;
        } else if (strcmp(flag, "--wait-replicas") == 0) {
            bad = parse_number(value, 0, 1000, &number);
            s->wait_replicas = (int)number;
        } else if (strcmp(flag, "--wait-timeout") == 0) {
            bad = parse_number(value, 1, 3600000, &number);
            s->wait_timeout_ms = number;
        }
        if (bad) {
            fprintf(stderr, "%s: bad value for %s: %s\n", argv[0], flag, value);
            print_usage(stderr, argv[0]);
            return 2;
        }
    }
    const char *missing = s->name == NULL ? "--name" : s->shards == 0 ? "--shards" : s->stock < 0 ? "--stock" : NULL;
    if (missing != NULL) {
        fprintf(stderr, "%s: %s is required\n", argv[0], missing);
        print_usage(stderr, argv[0]);
        return 2;
    }
    return 0;
}

/* ---- the buyers ------------------------------------------------------------------------------- */
/* The kinds of errors counted. */
enum { KIND_IO, KIND_EOF, KIND_TIMEOUT, KIND_CLUSTER, KIND_SERVER, KIND_OTHER, KINDS };
static const char *const kind_names[KINDS] = {"io", "eof", "timeout", "cluster", "server", "other"};
#define ERRORS_PRINTED 5
#define BACKOFF_FIRST_MS 10
#define BACKOFF_MAX_MS 500

static int error_kind(int err) {
    switch (err) {
    case SG_ERR_IO: return KIND_IO;
    case SG_ERR_EOF: return KIND_EOF;
    case SG_ERR_TIMEOUT: return KIND_TIMEOUT;
    case SG_ERR_CLUSTER: return KIND_CLUSTER;
    case SG_ERR_SERVER: return KIND_SERVER;
    default: return KIND_OTHER;
    }
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

typedef struct sale {
    const settings *s;
    int shards; /* of the counter as it exists (an existing one may have another count than --shards) */
    pthread_barrier_t start;
    pthread_mutex_t print_lock; /* guards printed */
    int printed;                /* error messages printed so far (the first ERRORS_PRINTED) */
} sale;

typedef struct buyer {
    sale *sale;
    sg_context *ctx;
    sg_counter *counter;
    long long *per_shard; /* [shard]: units this thread took from it */
    long long sold;
    long long errors[KINDS];
    long long uncertain;      /* takes that broke with a connection error or timeout */
    long long acknowledged;   /* with wait_replicas: takes acknowledged by that many replicas */
    long long unacknowledged; /* with wait_replicas: takes that were not */
    int gave_up;              /* stopped after max_errors consecutive errors */
    int failed;
    char error[SG_ERRSTR_SIZE + 64];
} buyer;

/* One unit at a time until a take answers sold out: a take of 1 is never given back, so every
 * unit a take reports is sold, and "sold out" is only answered once every shard is empty. */
static void *buy_until_sold_out(void *arg) {
    buyer *b = arg;
    pthread_barrier_wait(&b->sale->start);
    if (b->failed) return NULL; /* its context or handle could not be made: main reports it */
    int consecutive = 0;
    long backoff_ms = BACKOFF_FIRST_MS;
    for (;;) {
        sg_take_result taken;
        if (sg_counter_take(b->ctx, b->counter, 1, &taken) != SG_OK) {
            int err = b->ctx->err;
            b->errors[error_kind(err)]++;
            if (err == SG_ERR_IO || err == SG_ERR_EOF || err == SG_ERR_TIMEOUT) b->uncertain++;
            pthread_mutex_lock(&b->sale->print_lock);
            if (b->sale->printed++ < ERRORS_PRINTED) fprintf(stderr, "take %s: %s\n", b->sale->s->name, b->ctx->errstr);
            pthread_mutex_unlock(&b->sale->print_lock);
            if (++consecutive >= b->sale->s->max_errors) {
                snprintf(b->error, sizeof(b->error), "take %s: gave up after %d errors in a row, the last: %s",
                         b->sale->s->name, consecutive, b->ctx->errstr);
                b->gave_up = 1;
                return NULL;
            }
            sleep_ms(backoff_ms);
            backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
            continue;
        }
        consecutive = 0;
        backoff_ms = BACKOFF_FIRST_MS;
        if (taken.taken == 0) return NULL; /* sold out */
        if (b->sale->s->wait_replicas > 0) {
            if (taken.replicas_acked >= b->sale->s->wait_replicas) b->acknowledged++;
            else b->unacknowledged++;
        }
        if (taken.shard < 0 || taken.shard >= b->sale->shards) {
            snprintf(b->error, sizeof(b->error), "take %s: a unit from shard %d of %d", b->sale->s->name,
                     taken.shard, b->sale->shards);
            b->failed = 1;
            return NULL;
        }
        b->per_shard[taken.shard]++;
        b->sold++;
    }
}

/* ---- where the shards live -------------------------------------------------------------------- */
#define MAX_NODES 256
#define FINAL_READ_ATTEMPTS 40 /* reads of the shards after the sale, FINAL_READ_PAUSE_MS apart */
#define FINAL_READ_PAUSE_MS 500

typedef struct node_units {
    char address[300]; /* host:port */
    long long units;
} node_units;

typedef struct slot_range {
    long long first, last;
    int node; /* index in the node list */
} slot_range;

/* The master of every slot range from CLUSTER SLOTS: the masters into nodes (in the order of their
 * first range), the ranges into ranges. Returns 0, or -1 with a message on stderr. */
static int read_slot_map(sg_context *ctx, const char *seed_host, node_units *nodes, int *node_count,
                         slot_range **ranges, size_t *range_count) {
    const char *argv[] = {"CLUSTER", "SLOTS"};
    redisReply *r = sg_command_argv(ctx, NULL, 0, 2, argv, NULL);
    if (r == NULL) {
        fprintf(stderr, "CLUSTER SLOTS: %s\n", ctx->errstr);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "CLUSTER SLOTS: unexpected reply%s%s\n", r->type == REDIS_REPLY_ERROR ? ": " : "",
                r->type == REDIS_REPLY_ERROR ? r->str : "");
        freeReplyObject(r);
        return -1;
    }
    *ranges = calloc(r->elements ? r->elements : 1, sizeof(**ranges));
    if (*ranges == NULL) {
        fprintf(stderr, "out of memory\n");
        freeReplyObject(r);
        return -1;
    }
    *node_count = 0;
    *range_count = 0;
    for (size_t e = 0; e < r->elements; e++) {
        const redisReply *range = r->element[e];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 || range->element[0]->type != REDIS_REPLY_INTEGER ||
            range->element[1]->type != REDIS_REPLY_INTEGER || range->element[2]->type != REDIS_REPLY_ARRAY ||
            range->element[2]->elements < 2 || range->element[2]->element[0]->type != REDIS_REPLY_STRING ||
            range->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
            fprintf(stderr, "CLUSTER SLOTS: unexpected entry %zu\n", e);
            freeReplyObject(r);
            return -1;
        }
        const redisReply *master = range->element[2];
        /* A node that does not know its own address answers "" (or "?"): it is the one asked. */
        const char *host = master->element[0]->str;
        if (host[0] == '\0' || strcmp(host, "?") == 0) host = seed_host;
        char address[300];
        snprintf(address, sizeof(address), "%s:%lld", host, master->element[1]->integer);
        int node = 0;
        while (node < *node_count && strcmp(nodes[node].address, address) != 0) node++;
        if (node == *node_count) {
            if (*node_count == MAX_NODES) {
                fprintf(stderr, "CLUSTER SLOTS: more than %d masters\n", MAX_NODES);
                freeReplyObject(r);
                return -1;
            }
            snprintf(nodes[node].address, sizeof(nodes[node].address), "%s", address);
            nodes[node].units = 0;
            (*node_count)++;
        }
        (*ranges)[*range_count] =
            (slot_range){range->element[0]->integer, range->element[1]->integer, node};
        (*range_count)++;
    }
    freeReplyObject(r);
    return 0;
}

/* Adds each shard's units to the master serving the slot of its key. Returns 0, or -1 with a
 * message on stderr (a slot no master serves). */
static int units_per_node(sg_context *ctx, const settings *s, sg_counter *counter, const long long *per_shard,
                          node_units *nodes, int *node_count) {
    if (!s->cluster) { /* one server: it holds every shard */
        snprintf(nodes[0].address, sizeof(nodes[0].address), "%s:%d", s->host, s->port);
        nodes[0].units = 0;
        for (int i = 0; i < sg_counter_shards(counter); i++) nodes[0].units += per_shard[i];
        *node_count = 1;
        return 0;
    }
    slot_range *ranges = NULL;
    size_t range_count = 0;
    int rc = read_slot_map(ctx, s->host, nodes, node_count, &ranges, &range_count);
    for (int i = 0; rc == 0 && i < sg_counter_shards(counter); i++) {
        size_t len = 0;
        const char *key = sg_counter_shard_key(counter, i, &len);
        long long slot = sg_key_slot(key, len);
        size_t at = 0;
        while (at < range_count && !(ranges[at].first <= slot && slot <= ranges[at].last)) at++;
        if (at == range_count) {
            fprintf(stderr, "CLUSTER SLOTS: no master serves slot %lld of shard %d (%.*s)\n", slot, i, (int)len, key);
            rc = -1;
        } else {
            nodes[ranges[at].node].units += per_shard[i];
        }
    }
    free(ranges);
    return rc;
}

int main(int argc, char **argv) {
    settings s = {"127.0.0.1", 6379, 0, NULL, 0, -1, 8, 60, 0, 100};
    int parsed = parse_arguments(argc, argv, &s);
    if (parsed < 0) return 0;
    if (parsed > 0) return parsed;
    size_t name_len = strlen(s.name);

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

    int created = 0;
    if (sg_counter_create(ctx, s.name, name_len, s.shards, s.stock, &created) != SG_OK) {
        fprintf(stderr, "create counter %s (%d shards, %lld units): %s\n", s.name, s.shards, s.stock, ctx->errstr);
        sg_free(ctx);
        return 1;
    }
    if (!created) fprintf(stderr, "counter %s already exists: selling what it holds\n", s.name);
    sg_counter *counter = sg_counter_open(ctx, s.name, name_len, NULL);
    if (counter == NULL) {
        fprintf(stderr, "open counter %s: %s\n", s.name, ctx->errstr);
        sg_free(ctx);
        return 1;
    }
    long long stock = 0;
    if (sg_counter_total(ctx, counter, &stock) != SG_OK) {
        fprintf(stderr, "total of %s: %s\n", s.name, ctx->errstr);
        sg_counter_close(counter);
        sg_free(ctx);
        return 1;
    }

    sale sale = {.s = &s, .shards = sg_counter_shards(counter)};
    buyer *buyers = calloc((size_t)s.threads, sizeof(*buyers));
    pthread_t *threads = calloc((size_t)s.threads, sizeof(*threads));
    long long *per_shard = calloc((size_t)sale.shards, sizeof(*per_shard));
    node_units *nodes = calloc(MAX_NODES, sizeof(*nodes));
    if (buyers == NULL || threads == NULL || per_shard == NULL || nodes == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    pthread_barrier_init(&sale.start, NULL, (unsigned)s.threads);
    pthread_mutex_init(&sale.print_lock, NULL);
    sg_counter_options counter_options = {0};
    counter_options.wait_replicas = s.wait_replicas;
    counter_options.wait_timeout_ms = s.wait_timeout_ms;

    /* Every context and handle is made before the barrier, so the buyers really arrive together. */
    int exit_code = 0;
    for (int t = 0; t < s.threads; t++) {
        buyer *b = &buyers[t];
        b->sale = &sale;
        b->per_shard = calloc((size_t)sale.shards, sizeof(*b->per_shard));
        b->ctx = sg_clone(ctx);
        if (b->per_shard == NULL || b->ctx == NULL || b->ctx->err) {
            snprintf(b->error, sizeof(b->error), "connect (thread %d): %s", t,
                     b->ctx && b->per_shard ? b->ctx->errstr : "out of memory");
            b->failed = 1;
            continue;
        }
        b->counter = sg_counter_open(b->ctx, s.name, name_len, &counter_options);
        if (b->counter == NULL) {
            snprintf(b->error, sizeof(b->error), "open counter %s (thread %d): %s", s.name, t, b->ctx->errstr);
            b->failed = 1;
        }
    }
    for (int t = 0; t < s.threads; t++) {
        if (pthread_create(&threads[t], NULL, buy_until_sold_out, &buyers[t]) != 0) {
            /* The others wait at the barrier for it: leave the process at once. */
            fprintf(stderr, "could not start thread %d\n", t);
            return 1;
        }
    }

    long long sold = 0, errors[KINDS] = {0}, error_total = 0, uncertain = 0, acknowledged = 0, unacknowledged = 0;
    int gave_up = 0;
    for (int t = 0; t < s.threads; t++) {
        pthread_join(threads[t], NULL);
        buyer *b = &buyers[t];
        if (b->failed || b->gave_up) {
            fprintf(stderr, "%s\n", b->error);
            exit_code = 1;
        }
        gave_up += b->gave_up;
        sold += b->sold;
        for (int k = 0; k < KINDS; k++) {
            errors[k] += b->errors[k];
            error_total += b->errors[k];
        }
        uncertain += b->uncertain;
        acknowledged += b->acknowledged;
        unacknowledged += b->unacknowledged;
        for (int i = 0; b->per_shard != NULL && i < sale.shards; i++) per_shard[i] += b->per_shard[i];
        sg_counter_close(b->counter);
        sg_free(b->ctx);
        free(b->per_shard);
    }
    pthread_barrier_destroy(&sale.start);
    pthread_mutex_destroy(&sale.print_lock);
    if (sale.printed > ERRORS_PRINTED)
        fprintf(stderr, "(%d more take errors not shown)\n", sale.printed - ERRORS_PRINTED);

    /* What the servers hold: read back, retried while a cluster settles after a failover (without
     * errors the first read answers). */
    long long remaining = 0;
    int node_count = 0, read_ok = 0, setup_failed = 0;
    for (int t = 0; t < s.threads; t++) setup_failed |= buyers[t].failed;
    for (int attempt = 0; !setup_failed && attempt < FINAL_READ_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            sleep_ms(FINAL_READ_PAUSE_MS);
            sg_refresh_slots(ctx);
        }
        int last = attempt == FINAL_READ_ATTEMPTS - 1;
        if (sg_counter_total(ctx, counter, &remaining) != SG_OK) {
            if (last || error_total == 0) break;
            continue;
        }
        if (units_per_node(ctx, &s, counter, per_shard, nodes, &node_count) == 0) {
            read_ok = 1;
            break;
        }
        if (error_total == 0) break;
    }
    if (!setup_failed && !read_ok) {
        if (ctx->err) fprintf(stderr, "total of %s after the sale: %s\n", s.name, ctx->errstr);
        exit_code = 1;
    }
    if (read_ok) {
        printf("sold %lld\nremaining %lld\nshards %d\n", sold, remaining, sale.shards);
        for (int i = 0; i < sale.shards; i++) printf("shard %d %lld\n", i, per_shard[i]);
        for (int n = 0; n < node_count; n++) printf("node %s %lld\n", nodes[n].address, nodes[n].units);
        printf("server_sold %lld\nuncertain %lld\n", stock - remaining, uncertain);
        if (s.wait_replicas > 0) printf("unacknowledged %lld\nacknowledged %lld\n", unacknowledged, acknowledged);
        printf("errors %lld\n", error_total);
        for (int k = 0; k < KINDS; k++)
            if (errors[k] > 0) printf("error %s %lld\n", kind_names[k], errors[k]);
        printf("gave_up %d\n", gave_up);
        if (error_total == 0 && sold != stock) {
            fprintf(stderr, "error: sold %lld of a stock of %lld\n", sold, stock);
            exit_code = 1;
        }
        if (error_total > 0 && sold != stock - remaining)
            fprintf(stderr, "note: the threads count %lld sold, the servers %lld (errors and failovers: see "
                            "uncertain and unacknowledged)\n", sold, stock - remaining);
        if (remaining != 0) {
            fprintf(stderr, "error: %lld units left after every buyer was told sold out\n", remaining);
            exit_code = 1;
        }
        if (s.wait_replicas > 0 && acknowledged > stock) {
            fprintf(stderr, "error: %lld takes acknowledged by replicas, more than the stock of %lld\n",
                    acknowledged, stock);
            exit_code = 1;
        }
        if (exit_code == 0 && error_total > 0) exit_code = 3;
    }

    free(nodes);
    free(per_shard);
    free(threads);
    free(buyers);
    sg_counter_close(counter);
    sg_free(ctx);
    fflush(stdout);
    return exit_code;
}
