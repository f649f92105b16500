/* slotguard.h -- what the glue files share: the command table, argument parsing, key lookup.
 * Each command family (enroll.c, ...) adapts one pure-C core to Redis commands and registers
 * itself from slotguard.c's RedisModule_OnLoad. */
#ifndef SG_SLOTGUARD_H
#define SG_SLOTGUARD_H

#include "redismodule.h"
#include "decimal.h"
#include "trial.h"

#include <stdint.h>

#define SG_MODULE_NAME "slotguard"
#define SG_MODULE_VERSION 1  /* 0.0.1 */
#define SG_SINCE "0.1.0"     /* the version that introduced a command, for COMMAND DOCS */

/* Building blocks of the command tables' COMMAND DOCS entries. Every command of SlotGuard takes
 * exactly one key, at position 1. */
#define SG_ARG(n, t) {.name = n, .type = REDISMODULE_ARG_TYPE_##t, .key_spec_index = -1}
#define SG_KEY_ARG {.name = "key", .type = REDISMODULE_ARG_TYPE_KEY, .key_spec_index = 0}
#define SG_KEY_SPEC(f)                                                                                     \
    {{.flags = (f), .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index.pos = 1,                  \
      .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {0, 1, 0}},                              \
     {0}}
#define SG_INFO(summary_, complexity_, arity_, specs_, args_)                                            \
    &(RedisModuleCommandInfo) {                                                                           \
        .version = REDISMODULE_COMMAND_INFO_VERSION, .summary = summary_, .complexity = complexity_,     \
        .since = SG_SINCE, .arity = arity_, .key_specs = specs_, .args = args_                           \
    }

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

/* Parse an integer in [min, max]. On failure replies
 * "ERR invalid <what>: must be an integer from <min> to <max>" and returns REDISMODULE_ERR. */
int sg_parse_integer(RedisModuleCtx *ctx, RedisModuleString *arg, long long min, long long max,
                     const char *what, long long *out);

/* A binary-safe id of 1 to max_len bytes. On failure replies `error` and returns REDISMODULE_ERR. */
int sg_parse_id(RedisModuleCtx *ctx, RedisModuleString *arg, size_t max_len, const char *error, const char **ptr,
                size_t *len);

/* Case-insensitive comparison of an argument with a keyword. */
int sg_arg_is(RedisModuleString *arg, const char *keyword);

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

/* Unix time in microseconds: commands read it once and derive milliseconds with sg_ms_of(). */
uint64_t sg_unix_now_us(void);
long long sg_ms_of(uint64_t now_us);

/* The server-wide token clock (fencing tokens, idempotency leases): max(last + 1, now_us). Kept in
 * RDB aux data by the lock type and raised by every replicated grant. */
uint64_t sg_token_next(uint64_t now_us); /* 0: exhausted, refuse with SG_ERR_TOKENS_EXHAUSTED */
#define SG_ERR_TOKENS_EXHAUSTED \
    "ERR token clock exhausted: a token of 9223372036854775807 was granted or restored, none can follow"

void sg_token_observe(uint64_t token);
uint64_t sg_token_last(void);

/* Module memory for the pure cores (RedisModule_Alloc family, allocator size classes). */
void sg_core_allocator(trial_allocator *out);

/* Families. */
int enroll_on_load(RedisModuleCtx *ctx);
void enroll_info(RedisModuleInfoCtx *ctx);
int lock_on_load(RedisModuleCtx *ctx);
void lock_info(RedisModuleInfoCtx *ctx);
int idemp_on_load(RedisModuleCtx *ctx);
void idemp_info(RedisModuleInfoCtx *ctx);

#endif
