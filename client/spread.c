/* spread.c -- shard placement and the NAME:meta record: see spread.h. */
#include "spread.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define META_VERSION 1
#define MAX_SALT 1000000 /* a salt for each master is found within a few dozen tries */

int sg_spread_check_name(sg_context *ctx, const char *name, size_t len, const char *what) {
    if (name == NULL || len == 0 || len > SG_SPREAD_MAX_NAME)
        return sg_fail(ctx, SG_ERR_ARGUMENT, "%s name: 1 to %d bytes", what, SG_SPREAD_MAX_NAME);
    if (memchr(name, '{', len) || memchr(name, '}', len))
        return sg_fail(ctx, SG_ERR_ARGUMENT, "%s name: no '{' or '}' (the library chooses the hash tags)", what);
    return SG_OK;
}

static size_t meta_key(char *buf, size_t size, const char *name, size_t len) {
    return (size_t)snprintf(buf, size, "%.*s:meta", (int)len, name);
}

size_t sg_spread_key(char *buf, size_t size, const char *name, size_t len, const char *role, int i,
                     const sg_spread *spread) {
    if (spread->colocated)
        return (size_t)snprintf(buf, size, "%.*s:%s:%d:{%.*s}", (int)len, name, role, i, (int)len, name);
    return (size_t)snprintf(buf, size, "%.*s:%s:%d:{%.*s:%d:%ld}", (int)len, name, role, i, (int)len, name, i,
                            spread->salts[i]);
}

long long sg_spread_share(const sg_spread *spread, int i) {
    return spread->total / spread->shards + (i < spread->total % spread->shards ? 1 : 0);
}

/* A value no other creation writes: 64 bits from the kernel, or, should that fail, from the clock,
 * the process id and a call count mixed (splitmix64's finalizer). */
static uint64_t creation_nonce(void) {
    uint64_t nonce = 0;
    if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) == (ssize_t)sizeof(nonce) && nonce != 0) return nonce;
    static uint64_t calls;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t x = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    x ^= ((uint64_t)getpid() << 40) ^ ++calls * 0x9E3779B97F4A7C15u;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9u;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBu;
    return x ^ (x >> 31);
}

/* "<kind> 1 <S> <total> colocated" or "<kind> 1 <S> <total> <salt0> ... <salt S-1>", then
 * " by <16 hex digits>": the creation's nonce, so that a creator whose SET NX was repeated after a
 * lost reply recognizes its own record. */
static char *meta_text(const char *kind, const sg_spread *m) {
    size_t size = 64 + strlen(kind) + (size_t)m->shards * 12 + 24;
    char *text = malloc(size);
    if (text == NULL) return NULL;
    int at = snprintf(text, size, "%s %d %d %lld", kind, META_VERSION, m->shards, m->total);
    if (m->colocated) at += snprintf(text + at, size - (size_t)at, " colocated");
    else
        for (int i = 0; i < m->shards; i++) at += snprintf(text + at, size - (size_t)at, " %ld", m->salts[i]);
    snprintf(text + at, size - (size_t)at, " by %016llx", (unsigned long long)m->nonce);
    return text;
}

/* The optional " by <16 hex digits>" at `p` (records of older libraries have none): 1 when `p` is
 * the end of the record, with or without it. */
static int parse_nonce(const char *p, uint64_t *nonce) {
    *nonce = 0;
    if (*p == '\0') return 1;
    if (strncmp(p, " by ", 4) != 0 || strlen(p + 4) != 16) return 0;
    for (const char *h = p + 4; *h; h++) {
        int digit = *h >= '0' && *h <= '9' ? *h - '0' : *h >= 'a' && *h <= 'f' ? *h - 'a' + 10 : -1;
        if (digit < 0) return 0;
        *nonce = *nonce << 4 | (uint64_t)digit;
    }
    return 1;
}

static int parse_meta(sg_context *ctx, const char *kind, const char *text, size_t len, sg_spread *m) {
    char *copy = malloc(len + 1);
    if (copy == NULL) return sg_fail(ctx, SG_ERR_OOM, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    int version = 0, used = 0, ok = 0;
    char magic[32];
    memset(m, 0, sizeof(*m));
    if (sscanf(copy, "%31s %d %d %lld%n", magic, &version, &m->shards, &m->total, &used) == 4 &&
        strcmp(magic, kind) == 0 && version == META_VERSION && m->shards >= 1 && m->shards <= SG_SPREAD_MAX_SHARDS &&
        m->total >= 0) {
        const char *p = copy + used;
        if (strncmp(p, " colocated", 10) == 0) {
            m->colocated = 1;
            ok = parse_nonce(p + 10, &m->nonce);
        } else {
            ok = 1;
            for (int i = 0; i < m->shards && ok; i++) {
                char *end;
                m->salts[i] = strtol(p, &end, 10);
                ok = end != p && m->salts[i] >= 0;
                p = end;
            }
            ok = ok && parse_nonce(p, &m->nonce);
        }
    }
    free(copy);
    return ok ? SG_OK : sg_fail(ctx, SG_ERR_PROTOCOL, "NAME:meta does not describe a %s of this library", kind);
}

int sg_spread_read(sg_context *ctx, const char *kind, const char *name, size_t len, sg_spread *m, int *found) {
    char key[SG_SPREAD_MAX_NAME + 16];
    size_t key_len = meta_key(key, sizeof(key), name, len);
    const char *argv[] = {"GET", key};
    size_t argvlen[] = {3, key_len};
    redisReply *r = sg_execute(ctx, key, key_len, 2, argv, argvlen, SG_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = SG_OK;
    *found = 0;
    if (r->type == REDIS_REPLY_STRING) {
        *found = 1;
        rc = parse_meta(ctx, kind, r->str, r->len, m);
    } else if (r->type == REDIS_REPLY_ERROR) {
        rc = sg_fail_with_reply(ctx, r);
    } else if (r->type != REDIS_REPLY_NIL) {
        rc = sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected reply reading %s", key);
    }
    freeReplyObject(r);
    return rc;
}

static int choose_salts(sg_context *ctx, const char *name, size_t len, sg_spread *m) {
    int masters[256];
    int count = sg_slot_map_masters(ctx, masters, 256);
    if (count == 0) return ctx->err ? SG_ERR : sg_fail(ctx, SG_ERR_CLUSTER, "no master in the slot map");
    for (int i = 0; i < m->shards; i++) {
        int target = masters[i % count];
        long salt = 0;
        for (; salt < MAX_SALT; salt++) {
            char tag[SG_SPREAD_MAX_NAME + 32];
            int tag_len = snprintf(tag, sizeof(tag), "%.*s:%d:%ld", (int)len, name, i, salt);
            if (sg_slot_map_node(ctx, sg_key_slot(tag, (size_t)tag_len)) == target) break;
        }
        if (salt == MAX_SALT) return sg_fail(ctx, SG_ERR_CLUSTER, "no hash tag found for shard %d", i);
        m->salts[i] = salt;
    }
    return SG_OK;
}

int sg_spread_create(sg_context *ctx, const char *kind, const char *name, size_t len, int shards, long long total,
                     sg_spread *m, int *created) {
    *created = 0;
    int found = 0;
    if (sg_spread_read(ctx, kind, name, len, m, &found) != SG_OK || found) return ctx->err ? SG_ERR : SG_OK;
    /* Ours, unless another client writes its metadata first (SET NX): then we take theirs. */
    memset(m, 0, sizeof(*m));
    m->shards = shards;
    m->total = total;
    m->colocated = !ctx->conn->options.cluster;
    m->nonce = creation_nonce();
    uint64_t ours = m->nonce;
    if (!m->colocated && choose_salts(ctx, name, len, m) != SG_OK) return SG_ERR;
    char key[SG_SPREAD_MAX_NAME + 16];
    size_t key_len = meta_key(key, sizeof(key), name, len);
    char *text = meta_text(kind, m);
    if (text == NULL) return sg_fail(ctx, SG_ERR_OOM, "out of memory");
    const char *argv[] = {"SET", key, text, "NX"};
    size_t argvlen[] = {3, key_len, strlen(text), 2};
    redisReply *r = sg_execute(ctx, key, key_len, 4, argv, argvlen, SG_RETRIED, 0);
    free(text);
    int rc = SG_OK;
    if (r == NULL) rc = SG_ERR;
    else if (r->type == REDIS_REPLY_ERROR) rc = sg_fail_with_reply(ctx, r);
    else if (r->type == REDIS_REPLY_STATUS) *created = 1;
    else {
        /* nil: someone was first -- or this call was, and SET NX was repeated after its reply was
         * lost: then the record carries our nonce. */
        rc = sg_spread_read(ctx, kind, name, len, m, &found);
        if (rc == SG_OK && found && m->nonce == ours) *created = 1;
    }
    if (r) freeReplyObject(r);
    return rc;
}
