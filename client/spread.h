/* spread.h -- libslotguard's placement of S shard keys over the masters of a cluster (or on one
 * node, co-located), and the metadata key NAME:meta that records it for every client: shared by
 * sharded counters (counter.c) and sharded trials (sharded_trial.c). Private to the library. */
#ifndef SG_SPREAD_H
#define SG_SPREAD_H

#include <stdint.h>

#include "internal.h"

#define SG_SPREAD_MAX_SHARDS 1024
#define SG_SPREAD_MAX_NAME 200
#define SG_SPREAD_KEY_SIZE (2 * SG_SPREAD_MAX_NAME + 64)

typedef struct sg_spread {
    int shards;
    long long total;  /* what the creator split over the shards */
    int colocated;    /* one node: every shard on the tag {NAME} */
    uint64_t nonce;   /* the creation's random id (0 in records of libraries older than the nonce) */
    long salts[SG_SPREAD_MAX_SHARDS];
} sg_spread;

/* 1 to 200 bytes, no '{' or '}' (the library chooses the hash tags). `what` names the thing. */
int sg_spread_check_name(sg_context *ctx, const char *name, size_t len, const char *what);

/* The key of one role of shard i: "NAME:<role>:<i>:{NAME:<i>:<salt>}" when spread, or
 * "NAME:<role>:<i>:{NAME}" when co-located; every role of one shard shares its hash slot. */
size_t sg_spread_key(char *buf, size_t size, const char *name, size_t len, const char *role, int i,
                     const sg_spread *spread);

/* Shard i's share of spread->total: total / S, one more for the first total % S shards. */
long long sg_spread_share(const sg_spread *spread, int i);

/* Read NAME:meta of `kind` ("sg-counter", "sg-trial"): SG_OK with *found 0 when there is none. */
int sg_spread_read(sg_context *ctx, const char *kind, const char *name, size_t len, sg_spread *spread, int *found);

/* Create NAME:meta for `shards` shards holding `total`, unless one exists: *created 1 when this call
 * wrote it, 0 when it existed (then *spread is the existing one). In cluster mode shard i's salt is
 * the first whose hash slot the (i mod M)-th master (address order) serves now. */
int sg_spread_create(sg_context *ctx, const char *kind, const char *name, size_t len, int shards, long long total,
                     sg_spread *spread, int *created);

#endif
