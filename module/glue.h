/* glue.h -- what the glue files of every command family share: the command table and its
 * COMMAND DOCS building blocks, argument parsing, key lookup, INFO fields, the clock and the
 * server-wide token clock.
 *
 * Depends on the Redis module API and on the neutral pure parts (core_alloc.h, token_clock.h,
 * decimal.h), never on a family: families include this file, and only the entry point
 * (slotguard.c) knows every family. */
#ifndef SG_GLUE_H
#define SG_GLUE_H

#include "redismodule.h"
#include "decimal.h"
#include "slotguard_version.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define SG_MODULE_NAME "slotguard"

/* ---- families -------------------------------------------------------------------------------- */
/* A command family (enrollment, locks, ...): its glue file defines one of these and the entry
 * point lists it. */
typedef struct sg_family {
    const char *name; /* INFO section slotguard_<name> */
    /* Registers the family's data types, commands and events. */
    int (*on_load)(RedisModuleCtx *ctx);
    /* Adds the family's fields to its INFO section (already opened by the entry point). */
    void (*info)(RedisModuleInfoCtx *ctx);
} sg_family;

/* ---- the command table ----------------------------------------------------------------------- */
/* Building blocks of the command tables' COMMAND DOCS entries. Most commands take one key, at
 * position 1 (SG_KEY_SPEC); `since` is the version that introduced the command. */
#define SG_ARG(n, t) {.name = n, .type = REDISMODULE_ARG_TYPE_##t, .key_spec_index = -1}
#define SG_KEY_ARG {.name = "key", .type = REDISMODULE_ARG_TYPE_KEY, .key_spec_index = 0}
#define SG_KEY_SPEC(f)                                                                                     \
    {{.flags = (f), .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index.pos = 1,                  \
      .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {0, 1, 0}},                              \
     {0}}
/* Commands that take every argument from `first` on as a key (SHARDED.*): a range to the end. */
#define SG_KEYS_SPEC(f, first)                                                                             \
    {{.flags = (f), .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index.pos = (first),            \
      .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {-1, 1, 0}},                             \
     {0}}
#define SG_INFO(since_, summary_, complexity_, arity_, specs_, args_)                                     \
    &(RedisModuleCommandInfo) {                                                                           \
        .version = REDISMODULE_COMMAND_INFO_VERSION, .summary = summary_, .complexity = complexity_,     \
        .since = since_, .arity = arity_, .key_specs = specs_, .args = args_                             \
    }

/* The key specs of one-key commands, by what they do to the key (RW/RO/OW and access kind). */
extern RedisModuleCommandKeySpec sg_spec_read[];      /* RO ACCESS */
extern RedisModuleCommandKeySpec sg_spec_insert[];    /* RW INSERT: may create the key */
extern RedisModuleCommandKeySpec sg_spec_update[];    /* RW UPDATE */
extern RedisModuleCommandKeySpec sg_spec_delete[];    /* RW DELETE: may remove the key */
extern RedisModuleCommandKeySpec sg_spec_overwrite[]; /* OW UPDATE: replaces the value */

/* One command: registered by sg_register_commands(), documented through COMMAND DOCS. */
typedef struct sg_command {
    const char *name;
    RedisModuleCmdFunc handler;
    const char *flags;      /* RedisModule_CreateCommand flags */
    int first_key, last_key, key_step;
    RedisModuleCommandInfo *info;
} sg_command;

/* Register every command of a table. REDISMODULE_ERR (and a log line naming the command) on the
 * first failure, so a broken table fails the module load loudly. */
int sg_register_commands(RedisModuleCtx *ctx, const sg_command *table, size_t count);
#define SG_COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* Create a data type; logs and returns NULL when Redis refuses it. */
RedisModuleType *sg_create_type(RedisModuleCtx *ctx, const char *name, int encoding_version,
                                RedisModuleTypeMethods *methods);

/* ---- arguments ------------------------------------------------------------------------------- */
/* Parse an integer in [min, max]. On failure replies
 * "ERR invalid <what>: must be an integer from <min> to <max>" and returns REDISMODULE_ERR. */
int sg_parse_integer(RedisModuleCtx *ctx, RedisModuleString *arg, long long min, long long max,
                     const char *what, long long *out);

/* A binary-safe id of 1 to max_len bytes. On failure replies `error` and returns REDISMODULE_ERR. */
int sg_parse_id(RedisModuleCtx *ctx, RedisModuleString *arg, size_t max_len, const char *error, const char **ptr,
                size_t *len);

/* Case-insensitive comparison of an argument with a keyword. */
int sg_arg_is(RedisModuleString *arg, const char *keyword);

/* Replies `error` and returns 1 when two of the n keys are the same bytes (commands whose keys are
 * each used once: shards, limits). Quadratic up to a few dozen keys, a dictionary beyond. */
int sg_reply_if_duplicate(RedisModuleCtx *ctx, RedisModuleString **keys, int n, const char *error);

/* ---- keys ------------------------------------------------------------------------------------ */
/* Outcome of looking up a key of one of our types. */
typedef enum sg_key_status {
    SG_KEY_OK = 0,
    SG_KEY_EMPTY,
    SG_KEY_WRONGTYPE,
} sg_key_status;

/* Open `name` and check that it is empty or holds `type`. *value receives the value when
 * SG_KEY_OK. The key stays open (caller closes it) whatever the status. */
sg_key_status sg_open_key(RedisModuleCtx *ctx, RedisModuleString *name, int mode, RedisModuleType *type,
                          RedisModuleKey **key, void **value);

/* The one error reply for a failed lookup: WRONGTYPE, or `empty_error` (e.g. "NOTRIAL ...") for a
 * missing key. Always returns REDISMODULE_OK after replying. */
int sg_reply_key_status(RedisModuleCtx *ctx, sg_key_status status, const char *empty_error);

/* Open `name` for a command: REDISMODULE_OK with the key open and *value the value (NULL when the
 * key is empty and `empty_error` is NULL). Otherwise replies WRONGTYPE, or `empty_error` for an
 * empty key when it is not NULL, closes the key and returns REDISMODULE_ERR. */
int sg_open_key_or_reply(RedisModuleCtx *ctx, RedisModuleString *name, int mode, RedisModuleType *type,
                         const char *empty_error, RedisModuleKey **key, void **value);

/* ---- INFO ------------------------------------------------------------------------------------ */
typedef struct sg_info_field {
    const char *name;
    long long value;
} sg_info_field;
void sg_info_add_fields(RedisModuleInfoCtx *ctx, const sg_info_field *fields, size_t count);
/* Add n (>= 0) to an INFO counter, stopping at LLONG_MAX instead of overflowing: counters that add
 * amounts (units taken, users promoted) can be driven there by a client. */
static inline void sg_stat_add(long long *counter, long long n) {
    *counter = *counter > LLONG_MAX - n ? LLONG_MAX : *counter + n;
}

/* ---- time and tokens ------------------------------------------------------------------------- */
/* Unix time in microseconds: commands read it once and derive milliseconds with sg_ms_of(). */
uint64_t sg_unix_now_us(void);
long long sg_ms_of(uint64_t now_us);

/* The server-wide token clock (fencing tokens, idempotency leases): max(last + 1, now_us). Kept in
 * RDB aux data by the lock type and raised by every replicated grant. */
uint64_t sg_token_next(uint64_t now_us); /* 0: exhausted, refuse with SG_ERR_TOKENS_EXHAUSTED */
#define SG_ERR_TOKENS_EXHAUSTED "ERR token clock exhausted: no token can follow the largest one issued"

/* A token given by a client (LOCK.GRANT, IDEMP.RECORD) must be at most 365 days ahead of Unix time
 * (TOKEN_MAX_AHEAD_US); otherwise they reply this. */
int sg_token_acceptable(uint64_t token);
#define SG_ERR_TOKEN_AHEAD "ERR invalid token: more than 365 days of microseconds ahead of this server's clock"
/* A token issued elsewhere (a command from a client, the master or the AOF; an RDB file or
 * payload): raises the clock to it, at most to 365 days ahead of now. Logs a warning naming `from`
 * and returns 1 when it had to stop at that bound. */
int sg_token_observe(uint64_t token, const char *from);
uint64_t sg_token_last(void);
/* A token in a value being loaded (rdb_load of a record). An RDB file or a full sync may carry any
 * token (the clock stops at the bound, with a warning); a RESTORE payload is a client's word and is
 * refused beyond the bound: returns 0 then (the caller refuses the value), 1 otherwise. */
int sg_token_loaded(RedisModuleIO *io, uint64_t token, const char *what);
/* 1 when the command runs for a client (not replayed from the master or the AOF, not loading). */
int sg_from_client(RedisModuleCtx *ctx);

/* ---- timers ---------------------------------------------------------------------------------- */
/* Every module timer's period is at most this: RedisModule_CreateTimer multiplies it to
 * microseconds without checking (a far deadline would overflow into the past and spin), so a far
 * deadline is reached in steps, each timer looking again when it fires. */
#define SG_TIMER_MAX_PERIOD_MS 3600000LL /* one hour */
/* A timer that fires at Unix ms `at_ms` (any value, INT64_MIN..INT64_MAX), or after
 * SG_TIMER_MAX_PERIOD_MS when that comes first; at once when `at_ms` has passed. */
RedisModuleTimerID sg_timer_at(RedisModuleCtx *ctx, int64_t at_ms, int64_t now_ms, RedisModuleTimerProc callback,
                               void *data);

/* ---- memory ---------------------------------------------------------------------------------- */
/* Make every pure core allocate through the RedisModule_Alloc family (called once at load).
 * Out of memory: that family never returns NULL -- like Redis's own allocations, a failed one
 * aborts the server (zmalloc's out-of-memory handler). So the cores' NO_MEMORY outcomes, which their
 * unit tests reach with a failing allocator, cannot happen in the module; the glue asserts that
 * (RedisModule_Assert) instead of carrying error replies no client could ever receive. */
void sg_use_module_allocator(void);

#endif
