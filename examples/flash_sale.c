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
 * Exit status: 0 when exactly the stock found at the start was sold and none is left, 1 on any
 * failure, 2 on bad arguments.
 *
 * Build: make examples (links libslotguard statically). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotguard.h"

typedef struct settings {
    const char *host;
    int port;
    int cluster;
    const char *name;
    int shards;   /* 0: not given */
    long long stock; /* -1: not given */
    int threads;
} settings;

static void print_usage(FILE *out, const char *program) {
    fprintf(out,
            "usage: %s [--cluster] [--host H] [--port P] --name NAME --shards S --stock N [--threads T]\n"
            "  --cluster      talk to a Redis Cluster (host:port is the seed)\n"
            "  --host H       server (cluster mode: the seed node); default 127.0.0.1\n"
            "  --port P       its port; default 6379\n"
            "  --name NAME    the sharded counter (its keys are NAME:meta and NAME:shard:<i>:{...}); required\n"
            "  --shards S     shards of the counter when it is created (1 to 1024); required\n"
            "  --stock N      units of the counter when it is created; required\n"
            "  --threads T    threads buying at once, one context each; default 8\n"
            "  --help         print this and exit\n"
            "Sells the whole stock one unit at a time, then prints sold, remaining, the units per shard\n"
            "and per node. Exit 0 when exactly the stock was sold, 1 on failure, 2 on bad arguments.\n",
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
        static const char *const value_flags[] = {"--host", "--port", "--name", "--shards", "--stock", "--threads"};
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
typedef struct sale {
    const settings *s;
    int shards; /* of the counter as it exists (an existing one may have another count than --shards) */
    pthread_barrier_t start;
} sale;

typedef struct buyer {
    sale *sale;
    sg_context *ctx;
    sg_counter *counter;
    long long *per_shard; /* [shard]: units this thread took from it */
    long long sold;
    int failed;
    char error[SG_ERRSTR_SIZE + 64];
} buyer;

/* One unit at a time until a take answers sold out: a take of 1 is never given back, so every
 * unit a take reports is sold, and "sold out" is only answered once every shard is empty. */
static void *buy_until_sold_out(void *arg) {
    buyer *b = arg;
    pthread_barrier_wait(&b->sale->start);
    if (b->failed) return NULL; /* its context or handle could not be made: main reports it */
    for (;;) {
        sg_take_result taken;
        if (sg_counter_take(b->ctx, b->counter, 1, &taken) != SG_OK) {
            snprintf(b->error, sizeof(b->error), "take %s: %s", b->sale->s->name, b->ctx->errstr);
            b->failed = 1;
            return NULL;
        }
        if (taken.taken == 0) return NULL; /* sold out */
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
    settings s = {"127.0.0.1", 6379, 0, NULL, 0, -1, 8};
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
        b->counter = sg_counter_open(b->ctx, s.name, name_len, NULL);
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

    long long sold = 0;
    for (int t = 0; t < s.threads; t++) {
        pthread_join(threads[t], NULL);
        buyer *b = &buyers[t];
        if (b->failed) {
            fprintf(stderr, "%s\n", b->error);
            exit_code = 1;
        }
        sold += b->sold;
        for (int i = 0; b->per_shard != NULL && i < sale.shards; i++) per_shard[i] += b->per_shard[i];
        sg_counter_close(b->counter);
        sg_free(b->ctx);
        free(b->per_shard);
    }
    pthread_barrier_destroy(&sale.start);

    long long remaining = 0;
    int node_count = 0;
    if (exit_code == 0 && sg_counter_total(ctx, counter, &remaining) != SG_OK) {
        fprintf(stderr, "total of %s after the sale: %s\n", s.name, ctx->errstr);
        exit_code = 1;
    }
    if (exit_code == 0 && units_per_node(ctx, &s, counter, per_shard, nodes, &node_count) != 0) exit_code = 1;
    if (exit_code == 0) {
        printf("sold %lld\nremaining %lld\nshards %d\n", sold, remaining, sale.shards);
        for (int i = 0; i < sale.shards; i++) printf("shard %d %lld\n", i, per_shard[i]);
        for (int n = 0; n < node_count; n++) printf("node %s %lld\n", nodes[n].address, nodes[n].units);
        if (sold != stock) {
            fprintf(stderr, "error: sold %lld of a stock of %lld\n", sold, stock);
            exit_code = 1;
        }
        if (remaining != 0) {
            fprintf(stderr, "error: %lld units left after every buyer was told sold out\n", remaining);
            exit_code = 1;
        }
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
