/* sharded_commands.c -- the sharded-counter family: SHARDED.DECR / TAKE / INIT / SUM over plain
 * integer string keys (what SET and SETNX store), so the shards of a stock stay readable and
 * writable with GET, SET and INCRBY.
 *
 * Values are read in place (RedisModule_StringDMA) and a taken unit is written back in place, so a
 * shard keeps its TTL and a call allocates nothing once the shard's string is raw (the first read
 * of an int-encoded value unshares it into a raw string: OBJECT ENCODING then says raw on the
 * master where DECRBY would say int; the value, the digest and replicas are the same). Random
 * choices are replicated as their effect, DECRBY of the chosen keys, never as the command. */
#include "glue.h"
#include "sharded.h"

#include <string.h>

#define NOCOUNTER_ERROR "NOCOUNTER none of the keys exists; create the shards with SHARDED.INIT or SET"
#define NOT_INTEGER_ERROR "ERR value is not an integer or out of range"
#define DUPLICATE_ERROR "ERR duplicate key: every shard may be named once"
#define STACK_KEYS 16 /* calls naming more keys allocate their arrays */

static sharded_rng rng;
static RedisModuleString *one; /* "1", made once: replicating a DECR then allocates no amount */

static struct {
    long long decr_taken, decr_empty, take_units, take_short, take_empty, init_created, init_existing;
} stats;

/* ---- reading the shards ---------------------------------------------------------------------- */
/* The keys of one call, open for writing, with their values (0 for a missing key). */
typedef struct shard_set {
    size_t n;
    RedisModuleKey **keys;
    int64_t *values;
    int64_t *taken;
    RedisModuleKey *stack_keys[STACK_KEYS];
    int64_t stack_values[STACK_KEYS], stack_taken[STACK_KEYS];
    size_t existing;
} shard_set;

static void shards_close(shard_set *s) {
    for (size_t i = 0; i < s->n; i++)
        if (s->keys[i]) RedisModule_CloseKey(s->keys[i]);
    if (s->keys != s->stack_keys) {
        RedisModule_Free(s->keys);
        RedisModule_Free(s->values);
        RedisModule_Free(s->taken);
    }
}

/* Open and read every key of argv[first..]. On a key of another type or a value that is not an
 * integer, replies the error, closes everything and returns REDISMODULE_ERR. */
static int shards_open(RedisModuleCtx *ctx, RedisModuleString **argv, int first, int argc, int mode, shard_set *s) {
    s->n = (size_t)(argc - first);
    s->existing = 0;
    if (s->n <= STACK_KEYS) {
        s->keys = s->stack_keys;
        s->values = s->stack_values;
        s->taken = s->stack_taken;
    } else {
        s->keys = RedisModule_Alloc(s->n * sizeof(*s->keys));
        s->values = RedisModule_Alloc(s->n * sizeof(*s->values));
        s->taken = RedisModule_Alloc(s->n * sizeof(*s->taken));
    }
    memset(s->keys, 0, s->n * sizeof(*s->keys));
    for (size_t i = 0; i < s->n; i++) {
        RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[first + (int)i], mode);
        s->keys[i] = key;
        s->values[i] = 0;
        int type = RedisModule_KeyType(key);
        if (type == REDISMODULE_KEYTYPE_EMPTY) continue;
        const char *error = NULL;
        if (type != REDISMODULE_KEYTYPE_STRING) {
            error = REDISMODULE_ERRORMSG_WRONGTYPE;
        } else {
            size_t len;
            const char *text = RedisModule_StringDMA(key, &len, REDISMODULE_READ);
            if (sharded_parse_value(text, len, &s->values[i]) != 0) error = NOT_INTEGER_ERROR;
        }
        if (error) {
            shards_close(s);
            RedisModule_ReplyWithError(ctx, error);
            return REDISMODULE_ERR;
        }
        s->existing++;
    }
    return REDISMODULE_OK;
}

/* Lower shard i by `units` in place (its TTL stays), replicate the effect, signal and notify. */
static void shard_lower(RedisModuleCtx *ctx, shard_set *s, RedisModuleString *name, size_t i, int64_t units) {
    int64_t value = s->values[i] - units; /* >= 0: units never exceed the value */
    char digits[SG_DECIMAL_SIZE];
    size_t len = sg_format_decimal(digits, (uint64_t)value), old_len;
    char *text = RedisModule_StringDMA(s->keys[i], &old_len, REDISMODULE_WRITE);
    if (len != old_len) { /* 1000 -> 999: shorter; the string is resized and found again */
        RedisModule_StringTruncate(s->keys[i], len);
        text = RedisModule_StringDMA(s->keys[i], &old_len, REDISMODULE_WRITE);
    }
    memcpy(text, digits, len);
    s->values[i] = value;
    if (units == 1) {
        RedisModule_Replicate(ctx, "DECRBY", "ss", name, one);
    } else {
        char amount[SG_DECIMAL_SIZE];
        sg_format_decimal(amount, (uint64_t)units);
        RedisModule_Replicate(ctx, "DECRBY", "sc", name, amount);
    }
    RedisModule_SignalModifiedKey(ctx, name);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_STRING, "decrby", name);
}

/* ---- SHARDED.DECR key [key ...] ---------------------------------------------------------------- */
static int sharded_decr_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2) return RedisModule_WrongArity(ctx);
    shard_set s;
    if (shards_open(ctx, argv, 1, argc, REDISMODULE_READ | REDISMODULE_WRITE, &s) != REDISMODULE_OK)
        return REDISMODULE_OK;
    if (s.existing == 0) {
        shards_close(&s);
        return RedisModule_ReplyWithError(ctx, NOCOUNTER_ERROR);
    }
    long chosen = sharded_pick(s.values, s.n, sharded_rng_next(&rng));
    if (chosen < 0) {
        shards_close(&s);
        stats.decr_empty++;
        return RedisModule_ReplyWithNull(ctx);
    }
    shard_lower(ctx, &s, argv[1 + chosen], (size_t)chosen, 1);
    long long left = s.values[chosen];
    shards_close(&s);
    stats.decr_taken++;
    RedisModule_ReplyWithArray(ctx, 2);
    RedisModule_ReplyWithLongLong(ctx, chosen);
    return RedisModule_ReplyWithLongLong(ctx, left);
}

/* ---- SHARDED.TAKE count key [key ...] ---------------------------------------------------------- */
static int sharded_take_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 3) return RedisModule_WrongArity(ctx);
    long long count;
    if (sg_parse_integer(ctx, argv[1], 1, INT64_MAX, "count", &count) != REDISMODULE_OK) return REDISMODULE_OK;
    if (sg_reply_if_duplicate(ctx, argv + 2, argc - 2, DUPLICATE_ERROR)) return REDISMODULE_OK;
    shard_set s;
    if (shards_open(ctx, argv, 2, argc, REDISMODULE_READ | REDISMODULE_WRITE, &s) != REDISMODULE_OK)
        return REDISMODULE_OK;
    if (s.existing == 0) {
        shards_close(&s);
        return RedisModule_ReplyWithError(ctx, NOCOUNTER_ERROR);
    }
    int64_t taken = sharded_take(s.values, s.n, count, sharded_rng_next(&rng), s.taken);
    for (size_t i = 0; i < s.n; i++)
        if (s.taken[i] > 0) shard_lower(ctx, &s, argv[2 + i], i, s.taken[i]);
    shards_close(&s);
    sg_stat_add(&stats.take_units, taken);
    if (taken == 0) stats.take_empty++;
    else if (taken < count) stats.take_short++;
    return RedisModule_ReplyWithLongLong(ctx, taken);
}

/* ---- SHARDED.INIT total key [key ...] ---------------------------------------------------------- */
static int sharded_init_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 3) return RedisModule_WrongArity(ctx);
    long long total;
    if (sg_parse_integer(ctx, argv[1], 0, INT64_MAX, "total", &total) != REDISMODULE_OK) return REDISMODULE_OK;
    if (sg_reply_if_duplicate(ctx, argv + 2, argc - 2, DUPLICATE_ERROR)) return REDISMODULE_OK;
    size_t n = (size_t)(argc - 2);
    for (size_t i = 0; i < n; i++) {
        RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[2 + i], REDISMODULE_READ);
        int exists = RedisModule_KeyType(key) != REDISMODULE_KEYTYPE_EMPTY;
        RedisModule_CloseKey(key);
        if (exists) { /* like SETNX: a stock in place is never reset */
            stats.init_existing++;
            return RedisModule_ReplyWithLongLong(ctx, 0);
        }
    }
    for (size_t i = 0; i < n; i++) {
        RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[2 + i], REDISMODULE_WRITE);
        RedisModuleString *share = RedisModule_CreateStringFromLongLong(ctx, sharded_share(total, n, i));
        RedisModule_StringSet(key, share);
        RedisModule_CloseKey(key);
        RedisModule_FreeString(ctx, share);
        RedisModule_SignalModifiedKey(ctx, argv[2 + i]);
        RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_STRING, "set", argv[2 + i]);
    }
    RedisModule_ReplicateVerbatim(ctx); /* deterministic: the split depends on the arguments only */
    stats.init_created++;
    return RedisModule_ReplyWithLongLong(ctx, 1);
}

/* ---- SHARDED.SUM key [key ...] ----------------------------------------------------------------- */
/* A read: the types are checked through key handles opened for reading, the values fetched with
 * one MGET, so that a read never rewrites a key (a DMA read would unshare an int-encoded value). */
static int sharded_sum_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2) return RedisModule_WrongArity(ctx);
    for (int i = 1; i < argc; i++) {
        RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[i], REDISMODULE_READ);
        int type = RedisModule_KeyType(key);
        RedisModule_CloseKey(key);
        if (type != REDISMODULE_KEYTYPE_EMPTY && type != REDISMODULE_KEYTYPE_STRING)
            return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    }
    RedisModuleCallReply *values = RedisModule_Call(ctx, "MGET", "v", argv + 1, (size_t)(argc - 1));
    if (values == NULL || RedisModule_CallReplyType(values) != REDISMODULE_REPLY_ARRAY) {
        if (values) RedisModule_FreeCallReply(values);
        return RedisModule_ReplyWithError(ctx, "ERR could not read the keys");
    }
    const char *error = NULL;
    int64_t sum = 0;
    for (size_t i = 0; i < RedisModule_CallReplyLength(values) && error == NULL; i++) {
        RedisModuleCallReply *value = RedisModule_CallReplyArrayElement(values, i);
        if (RedisModule_CallReplyType(value) != REDISMODULE_REPLY_STRING) continue; /* missing: 0 */
        size_t len;
        const char *text = RedisModule_CallReplyStringPtr(value, &len);
        int64_t number;
        if (sharded_parse_value(text, len, &number) != 0) error = NOT_INTEGER_ERROR;
        else if (sharded_add(sum, number, &sum) != 0) error = "ERR the sum is out of the range of a 64-bit integer";
    }
    RedisModule_FreeCallReply(values);
    if (error) return RedisModule_ReplyWithError(ctx, error);
    return RedisModule_ReplyWithLongLong(ctx, sum);
}

/* ---- registration ---------------------------------------------------------------------------- */
static RedisModuleCommandKeySpec spec_decr[] = SG_KEYS_SPEC(REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_ACCESS |
                                                                REDISMODULE_CMD_KEY_UPDATE, 1);
static RedisModuleCommandKeySpec spec_take[] = SG_KEYS_SPEC(REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_ACCESS |
                                                                REDISMODULE_CMD_KEY_UPDATE, 2);
static RedisModuleCommandKeySpec spec_init[] = SG_KEYS_SPEC(REDISMODULE_CMD_KEY_OW | REDISMODULE_CMD_KEY_INSERT, 2);
static RedisModuleCommandKeySpec spec_sum[] = SG_KEYS_SPEC(REDISMODULE_CMD_KEY_RO | REDISMODULE_CMD_KEY_ACCESS, 1);

static RedisModuleCommandArg keys_args[] = {
    {.name = "key", .type = REDISMODULE_ARG_TYPE_KEY, .key_spec_index = 0, .flags = REDISMODULE_CMD_ARG_MULTIPLE},
    {0}};
static RedisModuleCommandArg take_args[] = {
    SG_ARG("count", INTEGER),
    {.name = "key", .type = REDISMODULE_ARG_TYPE_KEY, .key_spec_index = 0, .flags = REDISMODULE_CMD_ARG_MULTIPLE},
    {0}};
static RedisModuleCommandArg init_args[] = {
    SG_ARG("total", INTEGER),
    {.name = "key", .type = REDISMODULE_ARG_TYPE_KEY, .key_spec_index = 0, .flags = REDISMODULE_CMD_ARG_MULTIPLE},
    {0}};

static const sg_command sharded_commands[] = {
    {"sharded.decr", sharded_decr_command, "write deny-oom", 1, -1, 1,
     SG_INFO("0.3.0", "Decrements one key chosen at random among those above 0: the key's index and its new value, "
                      "or nil when all are 0.", "O(N), N the number of keys", -2, spec_decr, keys_args)},
    {"sharded.take", sharded_take_command, "write deny-oom", 2, -1, 1,
     SG_INFO("0.3.0", "Takes up to count units from the keys, starting at a random key above 0: the units taken.",
             "O(N), N the number of keys", -3, spec_take, take_args)},
    {"sharded.init", sharded_init_command, "write deny-oom", 2, -1, 1,
     SG_INFO("0.3.0", "Splits a total over the keys as evenly as possible, only when none of them exists: 1 or 0.",
             "O(N), N the number of keys", -3, spec_init, init_args)},
    {"sharded.sum", sharded_sum_command, "readonly", 1, -1, 1,
     SG_INFO("0.3.0", "Returns the sum of the keys' values (a missing key counts 0).", "O(N), N the number of keys",
             -2, spec_sum, keys_args)},
};

static int sharded_on_load(RedisModuleCtx *ctx) {
    RedisModule_GetRandomBytes((unsigned char *)&rng.state, sizeof(rng.state));
    one = RedisModule_CreateString(NULL, "1", 1);
    return sg_register_commands(ctx, sharded_commands, SG_COUNT(sharded_commands));
}

static void sharded_info(RedisModuleInfoCtx *ctx) {
    const sg_info_field fields[] = {
        {"sharded_decr_taken", stats.decr_taken},
        {"sharded_decr_empty", stats.decr_empty},
        {"sharded_take_units", stats.take_units},
        {"sharded_take_short", stats.take_short},
        {"sharded_take_empty", stats.take_empty},
        {"sharded_init_created", stats.init_created},
        {"sharded_init_existing", stats.init_existing},
    };
    sg_info_add_fields(ctx, fields, SG_COUNT(fields));
}

const sg_family sharded_family = {"sharded", sharded_on_load, sharded_info};
