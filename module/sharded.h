/* sharded.h -- the sharded-counter core of SlotGuard: one stock spread over several plain integer
 * keys ("shards"). Choosing the shard a unit is taken from, taking several units, splitting a total
 * over shards, summing them, and reading their values exactly as Redis's DECR does. Plain C, no
 * Redis header, no allocation: the glue (sharded_commands.c) passes the values it read. */
#ifndef SG_SHARDED_H
#define SG_SHARDED_H

#include <stddef.h>
#include <stdint.h>

/* ---- values ---------------------------------------------------------------------------------- */
/* Parse a shard's value as Redis reads an integer string for DECR: optional '-', no leading zeros
 * (except "0"), no sign on zero, no spaces, within int64. 0 on success, -1 otherwise. */
int sharded_parse_value(const char *text, size_t len, int64_t *value);

/* ---- the module's random choices ------------------------------------------------------------- */
/* A small PRNG (splitmix64). Choices are replicated as their effect, so replicas never replay it. */
typedef struct sharded_rng {
    uint64_t state;
} sharded_rng;
uint64_t sharded_rng_next(sharded_rng *rng);

/* ---- choosing ---------------------------------------------------------------------------------- */
/* The index of a value chosen uniformly at random among those > 0 (`random` is a fresh 64-bit
 * draw); -1 when none is > 0. Values <= 0 are empty shards: never chosen, never lowered. */
long sharded_pick(const int64_t *values, size_t n, uint64_t random);

/* Take up to `count` units: starting at the shard chosen as sharded_pick chooses and going on
 * through the next ones in order (wrapping), each gives what it has, never going below 0.
 * taken[i] receives what shard i gives. Returns the units taken in all (0..count). */
int64_t sharded_take(const int64_t *values, size_t n, int64_t count, uint64_t random, int64_t *taken);

/* ---- splitting and summing ------------------------------------------------------------------- */
/* Shard i's share when `total` (>= 0) is split over n shards as evenly as possible: total / n,
 * and one more for each of the first total % n shards. */
int64_t sharded_share(int64_t total, size_t n, size_t i);

/* a + b into *out: 0, or -1 (and *out untouched) when it overflows int64. */
int sharded_add(int64_t a, int64_t b, int64_t *out);

#endif
