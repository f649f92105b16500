/* slotguard.c -- module entry point and the helpers every command family shares. */
#include "slotguard.h"
#include "lock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static lock_token_clock token_clock;

uint64_t sg_unix_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

long long sg_ms_of(uint64_t now_us) { return (long long)(now_us / 1000); }
uint64_t sg_token_next(uint64_t now_us) { return lock_token_next(&token_clock, now_us); }
void sg_token_observe(uint64_t token) { lock_token_observe(&token_clock, token); }
uint64_t sg_token_last(void) { return token_clock.last; }

int sg_register_commands(RedisModuleCtx *ctx, const sg_command *table, size_t count) {
    for (size_t i = 0; i < count; i++) {
        const sg_command *c = &table[i];
        if (RedisModule_CreateCommand(ctx, c->name, c->handler, c->flags, c->first_key, c->last_key,
                                      c->key_step) == REDISMODULE_ERR) {
            RedisModule_Log(ctx, "warning", "could not register command %s", c->name);
            return REDISMODULE_ERR;
        }
        RedisModuleCommand *cmd = RedisModule_GetCommand(ctx, c->name);
        if (c->info && (cmd == NULL || RedisModule_SetCommandInfo(cmd, c->info) == REDISMODULE_ERR)) {
            RedisModule_Log(ctx, "warning", "could not set the documentation of command %s", c->name);
            return REDISMODULE_ERR;
        }
    }
    return REDISMODULE_OK;
}

int sg_parse_integer(RedisModuleCtx *ctx, RedisModuleString *arg, long long min, long long max,
                     const char *what, long long *out) {
    long long value;
    if (RedisModule_StringToLongLong(arg, &value) != REDISMODULE_OK || value < min || value > max) {
        char msg[160];
        snprintf(msg, sizeof(msg), "ERR invalid %s: must be an integer from %lld to %lld", what, min, max);
        RedisModule_ReplyWithError(ctx, msg);
        return REDISMODULE_ERR;
    }
    *out = value;
    return REDISMODULE_OK;
}

int sg_parse_id(RedisModuleCtx *ctx, RedisModuleString *arg, size_t max_len, const char *error, const char **ptr,
                size_t *len) {
    *ptr = RedisModule_StringPtrLen(arg, len);
    if (*len == 0 || *len > max_len) {
        RedisModule_ReplyWithError(ctx, error);
        return REDISMODULE_ERR;
    }
    return REDISMODULE_OK;
}

void sg_core_allocator(trial_allocator *out) {
    *out = (trial_allocator){RedisModule_Alloc, RedisModule_Realloc, RedisModule_Free, RedisModule_MallocSize};
}

int sg_arg_is(RedisModuleString *arg, const char *keyword) {
    size_t len;
    const char *s = RedisModule_StringPtrLen(arg, &len);
    return len == strlen(keyword) && strncasecmp(s, keyword, len) == 0;
}

sg_key_status sg_open_key(RedisModuleCtx *ctx, RedisModuleString *name, int mode, RedisModuleType *type,
                          RedisModuleKey **key, void **value) {
    *key = RedisModule_OpenKey(ctx, name, mode);
    *value = NULL;
    int kind = RedisModule_KeyType(*key);
    if (kind == REDISMODULE_KEYTYPE_EMPTY) return SG_KEY_EMPTY;
    if (kind != REDISMODULE_KEYTYPE_MODULE || RedisModule_ModuleTypeGetType(*key) != type) return SG_KEY_WRONGTYPE;
    *value = RedisModule_ModuleTypeGetValue(*key);
    return SG_KEY_OK;
}

int sg_reply_key_status(RedisModuleCtx *ctx, sg_key_status status, const char *empty_error) {
    if (status == SG_KEY_WRONGTYPE) return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    return RedisModule_ReplyWithError(ctx, empty_error);
}

static void info_callback(RedisModuleInfoCtx *ctx, int for_crash_report) {
    (void)for_crash_report;
    enroll_info(ctx);
    lock_info(ctx);
    idemp_info(ctx);
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    if (RedisModule_Init(ctx, SG_MODULE_NAME, SG_MODULE_VERSION, REDISMODULE_APIVER_1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (argc != 0) {
        RedisModule_Log(ctx, "warning", "slotguard takes no module arguments (got %d)", argc);
        return REDISMODULE_ERR;
    }
    /* Loading keys from a truncated RDB must fail cleanly, not abort; and WATCH is invalidated
     * only by commands that really changed a key. */
    RedisModule_SetModuleOptions(ctx, REDISMODULE_OPTIONS_HANDLE_IO_ERRORS |
                                          REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED);
    if (enroll_on_load(ctx) == REDISMODULE_ERR || lock_on_load(ctx) == REDISMODULE_ERR ||
        idemp_on_load(ctx) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_RegisterInfoFunc(ctx, info_callback) == REDISMODULE_ERR) return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
