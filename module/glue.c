/* glue.c -- the helpers every command family's glue shares: see glue.h. Knows no family. */
#include "glue.h"

#include "core_alloc.h"
#include "token_clock.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static token_clock tokens;

uint64_t sg_unix_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

long long sg_ms_of(uint64_t now_us) { return (long long)(now_us / 1000); }
uint64_t sg_token_next(uint64_t now_us) { return token_clock_next(&tokens, now_us); }
uint64_t sg_token_last(void) { return tokens.last; }
int sg_token_acceptable(uint64_t token) { return token_clock_acceptable(token, sg_unix_now_us()); }

int sg_token_observe(uint64_t token, const char *from) {
    if (!token_clock_observe(&tokens, token, sg_unix_now_us())) return 0;
    RedisModule_Log(NULL, "warning",
                    "slotguard: %s carried token %llu, more than 365 days ahead of this server's clock; "
                    "the token clock stops at %llu",
                    from, (unsigned long long)token, (unsigned long long)tokens.last);
    return 1;
}

int sg_token_loaded(RedisModuleIO *io, uint64_t token, const char *what) {
    RedisModuleCtx *ctx = RedisModule_GetContextFromIO(io);
    int loading = RedisModule_GetContextFlags(ctx) & REDISMODULE_CTX_FLAGS_LOADING;
    if (!loading && !sg_token_acceptable(token)) return 0;
    sg_token_observe(token, what);
    return 1;
}

int sg_from_client(RedisModuleCtx *ctx) {
    return !(RedisModule_GetContextFlags(ctx) & (REDISMODULE_CTX_FLAGS_REPLICATED | REDISMODULE_CTX_FLAGS_LOADING));
}

RedisModuleTimerID sg_timer_at(RedisModuleCtx *ctx, int64_t at_ms, int64_t now_ms, RedisModuleTimerProc callback,
                               void *data) {
    long long period;
    if (at_ms <= now_ms) period = 0;
    else if (now_ms < 0 || at_ms - now_ms > SG_TIMER_MAX_PERIOD_MS) period = SG_TIMER_MAX_PERIOD_MS;
    else period = at_ms - now_ms;
    return RedisModule_CreateTimer(ctx, period, callback, data);
}

RedisModuleCommandKeySpec sg_spec_read[] = SG_KEY_SPEC(REDISMODULE_CMD_KEY_RO | REDISMODULE_CMD_KEY_ACCESS);
RedisModuleCommandKeySpec sg_spec_insert[] = SG_KEY_SPEC(REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_INSERT);
RedisModuleCommandKeySpec sg_spec_update[] = SG_KEY_SPEC(REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_UPDATE);
RedisModuleCommandKeySpec sg_spec_delete[] = SG_KEY_SPEC(REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_DELETE);
RedisModuleCommandKeySpec sg_spec_overwrite[] = SG_KEY_SPEC(REDISMODULE_CMD_KEY_OW | REDISMODULE_CMD_KEY_UPDATE);

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

RedisModuleType *sg_create_type(RedisModuleCtx *ctx, const char *name, int encoding_version,
                                RedisModuleTypeMethods *methods) {
    RedisModuleType *type = RedisModule_CreateDataType(ctx, name, encoding_version, methods);
    if (type == NULL) RedisModule_Log(ctx, "warning", "could not register the %s data type", name);
    return type;
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

int sg_open_key_or_reply(RedisModuleCtx *ctx, RedisModuleString *name, int mode, RedisModuleType *type,
                         const char *empty_error, RedisModuleKey **key, void **value) {
    sg_key_status status = sg_open_key(ctx, name, mode, type, key, value);
    if (status == SG_KEY_OK || (status == SG_KEY_EMPTY && empty_error == NULL)) return REDISMODULE_OK;
    RedisModule_CloseKey(*key);
    sg_reply_key_status(ctx, status, empty_error);
    return REDISMODULE_ERR;
}

void sg_info_add_fields(RedisModuleInfoCtx *ctx, const sg_info_field *fields, size_t count) {
    for (size_t i = 0; i < count; i++) RedisModule_InfoAddFieldLongLong(ctx, fields[i].name, fields[i].value);
}

void sg_use_module_allocator(void) {
    core_set_allocator(&(core_allocator){RedisModule_Alloc, RedisModule_Realloc, RedisModule_Free,
                                         RedisModule_MallocSize});
}

/* ---- duplicate keys ---------------------------------------------------------------------------- */
static int same_argument(RedisModuleString *a, RedisModuleString *b) {
    size_t la, lb;
    const char *pa = RedisModule_StringPtrLen(a, &la), *pb = RedisModule_StringPtrLen(b, &lb);
    return la == lb && memcmp(pa, pb, la) == 0;
}

int sg_reply_if_duplicate(RedisModuleCtx *ctx, RedisModuleString **keys, int n, const char *error) {
    int duplicate = 0;
    if (n <= 32) {
        for (int i = 0; i < n && !duplicate; i++)
            for (int j = i + 1; j < n && !duplicate; j++) duplicate = same_argument(keys[i], keys[j]);
    } else {
        RedisModuleDict *seen = RedisModule_CreateDict(NULL);
        for (int i = 0; i < n && !duplicate; i++) duplicate = RedisModule_DictSet(seen, keys[i], NULL) != REDISMODULE_OK;
        RedisModule_FreeDict(NULL, seen);
    }
    if (duplicate) RedisModule_ReplyWithError(ctx, error);
    return duplicate;
}
