/* counter.c -- libslotguard's sharded counters: one stock over S shard keys, spread over the
 * masters of a cluster (or co-located on one node), taken with SHARDED.DECR / SHARDED.TAKE.
 * See slotguard.h for the guarantees; the notes here are about how they are kept. */
#include "spread.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KIND "sg-counter"
#define MAX_SHARDS SG_SPREAD_MAX_SHARDS
#define DEFAULT_EMPTY_MEMORY_MS 1000
#define DEFAULT_WAIT_TIMEOUT_MS 100

struct sg_counter {
    int shards;
    int colocated;          /* single node: one SHARDED.DECR over every shard */
    char **keys;            /* shard keys */
    size_t *key_lens;
    long long *empty_until; /* monotonic ms until which a shard is skipped (it answered empty) */
    int *order;             /* scratch of a take: the shards to ask, in order */
    unsigned char *gave;    /* scratch of a take: the shards that gave units (for WAIT) */
    sg_link *wrote_on;      /* scratch of a take: the connection each shard's units were taken on */
    sg_counter_options options;
    uint64_t rng;
    /* A whole-counter command, built once: name, [count,] the shard keys. */
    const char **all_argv;
    size_t *all_argvlen;
};

/* ---- creating and opening ---------------------------------------------------------------------- */
int sg_counter_create(sg_context *ctx, const char *name, size_t name_len, int shards, long long total,
                      int *created) {
    sg_clear_error(ctx);
    if (sg_spread_check_name(ctx, name, name_len, "counter") != SG_OK) return SG_ERR;
    if (shards < 1 || shards > MAX_SHARDS) return sg_fail(ctx, SG_ERR_ARGUMENT, "shards: 1 to %d", MAX_SHARDS);
    if (total < 0) return sg_fail(ctx, SG_ERR_ARGUMENT, "total must not be negative");
    if (created == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "result pointer is NULL");
    sg_spread *m = calloc(1, sizeof(*m));
    if (m == NULL) return sg_fail(ctx, SG_ERR_OOM, "out of memory");
    int rc = sg_spread_create(ctx, KIND, name, name_len, shards, total, m, created);
    /* Every shard with its share, each only when absent: this also completes a creation that
     * stopped half-way (the metadata is written first, the shards after). */
    for (int i = 0; rc == SG_OK && i < m->shards; i++) {
        char shard[SG_SPREAD_KEY_SIZE], share[24];
        size_t shard_len = sg_spread_key(shard, sizeof(shard), name, name_len, "shard", i, m);
        const char *argv[] = {"SHARDED.INIT", share, shard};
        size_t argvlen[] = {12, (size_t)snprintf(share, sizeof(share), "%lld", sg_spread_share(m, i)), shard_len};
        redisReply *r = sg_execute(ctx, shard, shard_len, 3, argv, argvlen, SG_RETRIED, 0);
        if (r == NULL) {
            rc = SG_ERR;
        } else {
            long long ignored;
            rc = sg_decode_integer(ctx, r, 0, 1, &ignored);
            freeReplyObject(r);
        }
    }
    free(m);
    return rc;
}

void sg_counter_close(sg_counter *c) {
    if (c == NULL) return;
    for (int i = 0; i < c->shards; i++) free(c->keys[i]);
    free(c->keys);
    free(c->key_lens);
    free(c->empty_until);
    free(c->order);
    free(c->gave);
    free(c->wrote_on);
    free(c->all_argv);
    free(c->all_argvlen);
    free(c);
}

sg_counter *sg_counter_open(sg_context *ctx, const char *name, size_t name_len, const sg_counter_options *options) {
    sg_clear_error(ctx);
    if (sg_spread_check_name(ctx, name, name_len, "counter") != SG_OK) return NULL;
    sg_spread *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        sg_fail(ctx, SG_ERR_OOM, "out of memory");
        return NULL;
    }
    int found = 0;
    if (sg_spread_read(ctx, KIND, name, name_len, m, &found) != SG_OK || !found) {
        if (ctx->err == 0) sg_fail(ctx, SG_ERR_NOCOUNTER, "no counter %.*s (no %.*s:meta)", (int)name_len, name,
                                   (int)name_len, name);
        free(m);
        return NULL;
    }
    sg_counter *c = calloc(1, sizeof(*c));
    int n = m->shards;
    if (c) {
        c->shards = n;
        c->colocated = m->colocated;
        c->keys = calloc((size_t)n, sizeof(*c->keys));
        c->key_lens = calloc((size_t)n, sizeof(*c->key_lens));
        c->empty_until = calloc((size_t)n, sizeof(*c->empty_until));
        c->order = calloc((size_t)n + 1, sizeof(*c->order));
        c->gave = calloc((size_t)n, 1);
        c->wrote_on = calloc((size_t)n, sizeof(*c->wrote_on));
        c->all_argv = calloc((size_t)n + 2, sizeof(*c->all_argv));
        c->all_argvlen = calloc((size_t)n + 2, sizeof(*c->all_argvlen));
    }
    int ok = c && c->keys && c->key_lens && c->empty_until && c->order && c->gave && c->wrote_on && c->all_argv && c->all_argvlen;
    for (int i = 0; ok && i < n; i++) {
        char shard[SG_SPREAD_KEY_SIZE];
        c->key_lens[i] = sg_spread_key(shard, sizeof(shard), name, name_len, "shard", i, m);
        ok = (c->keys[i] = malloc(c->key_lens[i] + 1)) != NULL;
        if (ok) memcpy(c->keys[i], shard, c->key_lens[i] + 1);
        if (ok) {
            c->all_argv[i + 2] = c->keys[i];
            c->all_argvlen[i + 2] = c->key_lens[i];
        }
    }
    free(m);
    if (!ok) {
        sg_counter_close(c);
        sg_fail(ctx, SG_ERR_OOM, "out of memory");
        return NULL;
    }
    if (options) c->options = *options;
    if (c->options.empty_memory_ms <= 0) c->options.empty_memory_ms = DEFAULT_EMPTY_MEMORY_MS;
    if (c->options.wait_timeout_ms <= 0) c->options.wait_timeout_ms = DEFAULT_WAIT_TIMEOUT_MS;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    c->rng = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)c;
    return c;
}

int sg_counter_shards(const sg_counter *c) { return c ? c->shards : 0; }

const char *sg_counter_shard_key(const sg_counter *c, int shard, size_t *len) {
    if (c == NULL || shard < 0 || shard >= c->shards) return NULL;
    if (len) *len = c->key_lens[shard];
    return c->keys[shard];
}

/* ---- taking ------------------------------------------------------------------------------------ */
static uint64_t next_random(sg_counter *c) {
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return c->rng;
}

/* WAIT on `link`, the connection that wrote. *acked: the fewest replicas that acknowledged over
 * the WAITs of one call; 0 when the connection that wrote was lost before its WAIT completed: a
 * WAIT on any other connection would acknowledge nothing, so it is never repeated. SG_ERR only for
 * an unexpected reply. */
static int wait_for_replicas(sg_context *ctx, sg_counter *c, sg_link link, int *acked) {
    char replicas[16], timeout[24];
    const char *argv[] = {"WAIT", replicas, timeout};
    size_t argvlen[] = {4, (size_t)snprintf(replicas, sizeof(replicas), "%d", c->options.wait_replicas),
                        (size_t)snprintf(timeout, sizeof(timeout), "%lld", c->options.wait_timeout_ms)};
    redisReply *r = sg_execute_on_link(ctx, link, 3, argv, argvlen, c->options.wait_timeout_ms);
    if (r == NULL) {
        sg_clear_error(ctx); /* the take itself happened: it is reported, unacknowledged */
        *acked = 0;
        return SG_OK;
    }
    long long value = 0;
    int rc = sg_decode_integer(ctx, r, 0, INT32_MAX, &value);
    freeReplyObject(r);
    if (rc == SG_OK && (*acked < 0 || value < *acked)) *acked = (int)value;
    return rc;
}

/* INCRBY `units` on shard 0. Not retried. */
static int raise_shard_zero(sg_context *ctx, sg_counter *c, long long units) {
    char amount[24];
    const char *argv[] = {"INCRBY", c->keys[0], amount};
    size_t argvlen[] = {6, c->key_lens[0], (size_t)snprintf(amount, sizeof(amount), "%lld", units)};
    redisReply *r = sg_execute(ctx, c->keys[0], c->key_lens[0], 3, argv, argvlen, SG_NOT_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    long long ignored;
    int rc = sg_decode_integer(ctx, r, INT64_MIN, INT64_MAX, &ignored);
    freeReplyObject(r);
    return rc;
}

/* Give back units gathered by a take that cannot complete, keeping the take's own error. */
static void return_gathered(sg_context *ctx, sg_counter *c, long long gathered) {
    if (gathered <= 0) return;
    sg_context saved = *ctx;
    raise_shard_zero(ctx, c, gathered);
    ctx->err = saved.err;
    memcpy(ctx->errstr, saved.errstr, sizeof(ctx->errstr));
}

/* Ask one shard (spread) or every shard (co-located, `shard` -1) for up to `want` units: SHARDED.DECR
 * for one unit, SHARDED.TAKE otherwise. *got: units taken; *index: the shard that gave (DECR);
 * *now_empty: the shard has nothing left. Not retried: a repeat could take twice. */
static int ask(sg_context *ctx, sg_counter *c, int shard, long long want, long long *got, int *index, int *now_empty) {
    char count[24];
    const char *single[3];
    size_t single_len[3];
    const char **argv = single;
    size_t *argvlen = single_len;
    int argc = 3, decr = want == 1;
    if (shard < 0) { /* every shard in one command: [name, count, keys...] built at open */
        argv = c->all_argv;
        argvlen = c->all_argvlen;
        argc = c->shards + 2;
    } else {
        single[2] = c->keys[shard];
        single_len[2] = c->key_lens[shard];
    }
    argv[0] = "SHARDED.TAKE";
    argvlen[0] = 12;
    argv[1] = count;
    argvlen[1] = (size_t)snprintf(count, sizeof(count), "%lld", want);
    if (decr) { /* SHARDED.DECR key [key ...]: the name takes the count's place */
        argv[1] = "SHARDED.DECR";
        argvlen[1] = 12;
        argv++;
        argvlen++;
        argc--;
    }
    const int route = shard < 0 ? 0 : shard;
    redisReply *r = sg_execute(ctx, c->keys[route], c->key_lens[route], argc, argv, argvlen, SG_NOT_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = SG_OK;
    *got = 0;
    *index = shard;
    *now_empty = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = strncmp(r->str, "NOCOUNTER ", 10) == 0
                 ? sg_fail(ctx, SG_ERR_NOCOUNTER, "a shard of the counter is missing: %.80s", r->str)
                 : sg_fail_with_reply(ctx, r);
    } else if (decr && r->type == REDIS_REPLY_NIL) {
        *now_empty = 1;
    } else if (decr && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER &&
               r->element[1]->type == REDIS_REPLY_INTEGER) {
        *got = 1;
        if (shard < 0) *index = (int)r->element[0]->integer;
        *now_empty = r->element[1]->integer == 0;
    } else if (!decr && r->type == REDIS_REPLY_INTEGER && r->integer >= 0 && r->integer <= want) {
        *got = r->integer;
        *now_empty = r->integer < want;
    } else {
        rc = sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected reply to %s", decr ? "SHARDED.DECR" : "SHARDED.TAKE");
    }
    freeReplyObject(r);
    return rc;
}

int sg_counter_take(sg_context *ctx, sg_counter *c, long long units, sg_take_result *result) {
    sg_clear_error(ctx);
    if (c == NULL || result == NULL || units < 1) return sg_fail(ctx, SG_ERR_ARGUMENT, "counter, result and units >= 1");
    *result = (sg_take_result){0, -1, -1};
    long long gathered = 0, got;
    int index, empty;
    if (c->colocated) {
        if (ask(ctx, c, -1, units, &got, &index, &empty) != SG_OK) return SG_ERR;
        if (got < units) {
            return_gathered(ctx, c, got); /* not enough: all or nothing */
            return ctx->err ? SG_ERR : SG_OK;
        }
        result->taken = units;
        result->shard = index;
        if (c->options.wait_replicas > 0 &&
            wait_for_replicas(ctx, c, sg_last_link(ctx), &result->replicas_acked) != SG_OK)
            return SG_ERR;
        return SG_OK;
    }
    /* Spread: a random start among the shards not known empty, then the others of them in
     * order. Shard 0 (the one give-backs raise) is asked last when it is known empty, before
     * "sold out" is answered. */
    long long now = sg_client_clock_ms();
    int n = c->shards, candidates = 0, *order = c->order;
    for (int i = 0; i < n; i++)
        if (c->empty_until[i] <= now) order[candidates++] = i;
    int zero_skipped = c->empty_until[0] > now;
    if (zero_skipped) order[candidates++] = 0;
    int random_part = candidates - zero_skipped;
    int start = random_part > 0 ? (int)(next_random(c) % (uint64_t)random_part) : 0;
    unsigned char *gave = c->gave;
    memset(gave, 0, (size_t)(unsigned)c->shards);
    for (int k = 0; k < candidates && gathered < units; k++) {
        int i = k < random_part ? order[(start + k) % random_part] : order[k];
        if (ask(ctx, c, i, units - gathered, &got, &index, &empty) != SG_OK) {
            return_gathered(ctx, c, gathered);
            return SG_ERR;
        }
        if (empty) c->empty_until[i] = now > LLONG_MAX - c->options.empty_memory_ms ? LLONG_MAX
                                                                                    : now + c->options.empty_memory_ms;
        if (got > 0) {
            gathered += got;
            gave[i] = 1;
            c->wrote_on[i] = sg_last_link(ctx);
            result->shard = i;
        }
    }
    if (gathered < units) {
        return_gathered(ctx, c, gathered);
        result->shard = -1;
        return ctx->err ? SG_ERR : SG_OK;
    }
    result->taken = units;
    if (c->options.wait_replicas > 0) {
        for (int i = 0; i < n; i++)
            if (gave[i] && wait_for_replicas(ctx, c, c->wrote_on[i], &result->replicas_acked) != SG_OK) return SG_ERR;
    }
    return SG_OK;
}

int sg_counter_give_back(sg_context *ctx, sg_counter *c, long long units) {
    sg_clear_error(ctx);
    if (c == NULL || units < 1) return sg_fail(ctx, SG_ERR_ARGUMENT, "counter and units >= 1");
    if (raise_shard_zero(ctx, c, units) != SG_OK) return SG_ERR;
    c->empty_until[0] = 0; /* we know it has stock now */
    int acked = -1;
    if (c->options.wait_replicas > 0 && wait_for_replicas(ctx, c, sg_last_link(ctx), &acked) != SG_OK) return SG_ERR;
    return SG_OK;
}

int sg_counter_total(sg_context *ctx, sg_counter *c, long long *total) {
    sg_clear_error(ctx);
    if (c == NULL || total == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "counter and result");
    long long sum = 0;
    int groups = c->colocated ? 1 : c->shards;
    for (int g = 0; g < groups; g++) {
        const char *one_argv[] = {"SHARDED.SUM", c->keys[g]};
        size_t one_argvlen[] = {11, c->key_lens[g]};
        const char **argv = one_argv;
        size_t *argvlen = one_argvlen;
        int argc = 2;
        if (c->colocated) { /* one SHARDED.SUM over every shard */
            argv = c->all_argv + 1;
            argvlen = c->all_argvlen + 1;
            argv[0] = "SHARDED.SUM";
            argvlen[0] = 11;
            argc = c->shards + 1;
        }
        redisReply *r = sg_execute(ctx, c->keys[g], c->key_lens[g], argc, argv, argvlen, SG_RETRIED, 0);
        if (r == NULL) return SG_ERR;
        long long value = 0;
        int rc = sg_decode_integer(ctx, r, INT64_MIN, INT64_MAX, &value);
        freeReplyObject(r);
        if (rc != SG_OK) return SG_ERR;
        if ((value > 0 && sum > LLONG_MAX - value) || (value < 0 && sum < LLONG_MIN - value))
            return sg_fail(ctx, SG_ERR_PROTOCOL, "the shards hold more than a 64-bit total (set from outside the library)");
        sum += value;
    }
    *total = sum;
    return SG_OK;
}
