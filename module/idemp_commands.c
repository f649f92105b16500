/* idemp_commands.c -- the idempotency family: IDEMP.SETNX on plain string keys, and request-level
 * records (IDEMP.BEGIN / COMPLETE / ABORT / GET) held by the idempotency data type.
 *
 * A record's lease (while in progress) and its stored response's lifetime (once completed) are the
 * key's expiry, so an abandoned request frees its key by itself and the next caller takes over.
 * Changes that depend on the clock replicate as their effect: SET ... PXAT for IDEMP.SETNX and
 * IDEMP.RECORD with an absolute deadline for records. */
#include "idemp.h"
#include "glue.h"

#include <string.h>

#define IDEMP_TYPE_NAME "sg-idemp0"
#define FINGERPRINT_ERROR "ERR invalid fingerprint: must be 1 to 1024 bytes"
#define MAX_TTL_SECONDS 1000000000LL /* about 31 years */
#define MAX_LEASE_MS 1000000000000LL

static RedisModuleType *idemp_type;
static RedisModuleString *default_value; /* "1", what SET key 1 NX EX stores */
/* Whether keys may share default_value. Not under an LRU or LFU maxmemory-policy: an object's
 * access time (or frequency) is the object's, so a read of one key would refresh every key that
 * shares it, and eviction would pick the wrong keys (Redis itself shares no object then). Read at
 * load and on every CONFIG SET of the policy. */
static int share_default_value = 1;
static RedisModuleString *pxat_word;     /* "PXAT", made once: replicating it then costs no allocation */

static struct {
    long long setnx_recorded, setnx_seen;
    long long begin_new, begin_in_progress, begin_completed, begin_mismatch;
    long long complete_stored, complete_lost, abort_freed, abort_not_held;
} stats;

/* ---- helpers --------------------------------------------------------------------------------- */
static int parse_token(RedisModuleCtx *ctx, RedisModuleString *arg, uint64_t *token) {
    long long value;
    if (sg_parse_integer(ctx, arg, 1, INT64_MAX, "token", &value) != REDISMODULE_OK) return REDISMODULE_ERR;
    *token = (uint64_t)value;
    return REDISMODULE_OK;
}

/* Open an idempotency record. *record is NULL when the key is empty. For any other type, replies
 * WRONGTYPE, closes the key and returns REDISMODULE_ERR. */
static int open_record(RedisModuleCtx *ctx, RedisModuleString *keyname, int mode, RedisModuleKey **key,
                       idemp_record **record) {
    void *value;
    int status = sg_open_key_or_reply(ctx, keyname, mode, idemp_type, NULL, key, &value);
    *record = value;
    return status;
}

static const char *state_name(int state) { return state == IDEMP_COMPLETED ? "completed" : "in_progress"; }

/* Store `r` at the open key with its deadline as the key's expiry, and replicate it as
 * IDEMP.RECORD with the absolute deadline. */
static void store_record(RedisModuleCtx *ctx, RedisModuleKey *key, RedisModuleString *keyname, idemp_record *r,
                         const char *event) {
    RedisModule_ModuleTypeSetValue(key, idemp_type, r);
    RedisModule_SetAbsExpire(key, r->deadline_ms);
    char token[SG_DECIMAL_SIZE], deadline[SG_DECIMAL_SIZE];
    sg_format_decimal(token, r->token);
    sg_format_decimal(deadline, (uint64_t)r->deadline_ms);
    if (r->state == IDEMP_COMPLETED)
        RedisModule_Replicate(ctx, "IDEMP.RECORD", "scbccb", keyname, state_name(r->state), idemp_fingerprint(r),
                              (size_t)r->fingerprint_len, token, deadline, idemp_response(r), (size_t)r->response_len);
    else
        RedisModule_Replicate(ctx, "IDEMP.RECORD", "scbcc", keyname, state_name(r->state), idemp_fingerprint(r),
                              (size_t)r->fingerprint_len, token, deadline);
    RedisModule_SignalModifiedKey(ctx, keyname);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_MODULE, event, keyname);
}

/* ---- IDEMP.SETNX key ttl_seconds [value] ----------------------------------------------------- */
static int idemp_setnx_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3 && argc != 4) return RedisModule_WrongArity(ctx);
    long long ttl;
    if (sg_parse_integer(ctx, argv[2], 1, MAX_TTL_SECONDS, "ttl", &ttl) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleString *value = argc == 4 ? argv[3] : default_value;
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE);
    if (RedisModule_KeyType(key) != REDISMODULE_KEYTYPE_EMPTY) {
        RedisModule_CloseKey(key);
        stats.setnx_seen++;
        return RedisModule_ReplyWithLongLong(ctx, 0);
    }
    long long deadline = sg_ms_of(sg_unix_now_us()) + ttl * 1000;
    RedisModuleString *own = NULL; /* a value of this key's own */
    if (value == default_value && !share_default_value) value = own = RedisModule_CreateString(NULL, "1", 1);
    RedisModule_StringSet(key, value);
    RedisModule_SetAbsExpire(key, deadline);
    RedisModule_CloseKey(key);
    /* Exactly what SET key value NX EX ttl propagates in Redis 7.0. */
    char at[SG_DECIMAL_SIZE];
    sg_format_decimal(at, (uint64_t)deadline);
    RedisModule_Replicate(ctx, "SET", "sssc", argv[1], value, pxat_word, at);
    if (own != NULL) RedisModule_FreeString(NULL, own);
    RedisModule_SignalModifiedKey(ctx, argv[1]);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_STRING, "set", argv[1]);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_GENERIC, "expire", argv[1]);
    stats.setnx_recorded++;
    return RedisModule_ReplyWithLongLong(ctx, 1);
}

/* The eviction policy decides whether IDEMP.SETNX keys may share their default value. */
static void read_eviction_policy(RedisModuleCtx *ctx) {
    RedisModuleCallReply *r = RedisModule_Call(ctx, "CONFIG", "cc", "GET", "maxmemory-policy");
    if (r == NULL) return;
    RedisModuleCallReply *value = RedisModule_CallReplyArrayElement(r, 1);
    size_t len = 0;
    const char *policy = value ? RedisModule_CallReplyStringPtr(value, &len) : NULL;
    int recency = 0;
    for (size_t i = 0; policy != NULL && i + 3 <= len; i++)
        if (memcmp(policy + i, "lru", 3) == 0 || memcmp(policy + i, "lfu", 3) == 0) recency = 1;
    share_default_value = !recency;
    RedisModule_FreeCallReply(r);
}

static void on_config_change(RedisModuleCtx *ctx, RedisModuleEvent event, uint64_t subevent, void *data) {
    (void)event;
    (void)subevent;
    const RedisModuleConfigChange *change = data;
    for (uint32_t i = 0; i < change->num_changes; i++)
        if (strcmp(change->config_names[i], "maxmemory-policy") == 0) read_eviction_policy(ctx);
}

/* ---- IDEMP.BEGIN key fingerprint lease_ms ---------------------------------------------------- */
static int reply_pair_integer(RedisModuleCtx *ctx, const char *what, long long value) {
    RedisModule_ReplyWithArray(ctx, 2);
    RedisModule_ReplyWithCString(ctx, what);
    return RedisModule_ReplyWithLongLong(ctx, value);
}

static int idemp_begin_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 4) return RedisModule_WrongArity(ctx);
    const char *fingerprint;
    size_t len;
    long long lease_ms;
    if (sg_parse_id(ctx, argv[2], IDEMP_MAX_FINGERPRINT_LEN, FINGERPRINT_ERROR, &fingerprint, &len) != REDISMODULE_OK)
        return REDISMODULE_OK;
    if (sg_parse_integer(ctx, argv[3], 1, MAX_LEASE_MS, "lease", &lease_ms) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleKey *key;
    idemp_record *r;
    if (open_record(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key, &r) != REDISMODULE_OK)
        return REDISMODULE_OK;

    switch (idemp_decide_begin(r, fingerprint, len)) {
    case IDEMP_BEGIN_NEW: {
        uint64_t now_us = sg_unix_now_us();
        uint64_t token = sg_token_next(now_us);
        if (token == 0) {
            RedisModule_CloseKey(key);
            return RedisModule_ReplyWithError(ctx, SG_ERR_TOKENS_EXHAUSTED);
        }
        idemp_record *fresh =
            idemp_record_new(IDEMP_IN_PROGRESS, fingerprint, len, token, sg_ms_of(now_us) + lease_ms, NULL, 0);
        store_record(ctx, key, argv[1], fresh, "idemp.begin");
        RedisModule_CloseKey(key);
        stats.begin_new++;
        return reply_pair_integer(ctx, "new", (long long)token);
    }
    case IDEMP_BEGIN_IN_PROGRESS: {
        long long ttl = RedisModule_GetExpire(key);
        RedisModule_CloseKey(key);
        stats.begin_in_progress++;
        return reply_pair_integer(ctx, "in_progress", ttl == REDISMODULE_NO_EXPIRE ? -1 : ttl);
    }
    case IDEMP_BEGIN_COMPLETED:
        RedisModule_ReplyWithArray(ctx, 2);
        RedisModule_ReplyWithCString(ctx, "completed");
        RedisModule_ReplyWithStringBuffer(ctx, idemp_response(r), r->response_len);
        RedisModule_CloseKey(key);
        stats.begin_completed++;
        return REDISMODULE_OK;
    case IDEMP_BEGIN_MISMATCH:
        RedisModule_ReplyWithArray(ctx, 2);
        RedisModule_ReplyWithCString(ctx, "mismatch");
        RedisModule_ReplyWithCString(ctx, state_name(r->state));
        RedisModule_CloseKey(key);
        stats.begin_mismatch++;
        return REDISMODULE_OK;
    }
    RedisModule_CloseKey(key);
    return RedisModule_ReplyWithError(ctx, "ERR unreachable");
}

/* ---- IDEMP.COMPLETE key token response ttl_seconds ------------------------------------------- */
static int idemp_complete_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 5) return RedisModule_WrongArity(ctx);
    uint64_t token;
    long long ttl;
    size_t response_len;
    const char *response = RedisModule_StringPtrLen(argv[3], &response_len);
    if (parse_token(ctx, argv[2], &token) != REDISMODULE_OK) return REDISMODULE_OK;
    if (response_len > IDEMP_MAX_RESPONSE_LEN)
        return RedisModule_ReplyWithError(ctx, "ERR invalid response: longer than 64 MiB");
    if (sg_parse_integer(ctx, argv[4], 1, MAX_TTL_SECONDS, "ttl", &ttl) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleKey *key;
    idemp_record *r;
    if (open_record(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key, &r) != REDISMODULE_OK)
        return REDISMODULE_OK;
    if (r != NULL && r->state == IDEMP_COMPLETED && r->token == token) {
        /* A retry after a lost reply: already stored by this caller, nothing changes. Its own
         * reply, so that an effect made conditional on "1" happens once. */
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithLongLong(ctx, 2);
    }
    if (!idemp_owns(r, token)) {
        RedisModule_CloseKey(key);
        stats.complete_lost++;
        return RedisModule_ReplyWithLongLong(ctx, 0); /* the lease was lost: nothing stored */
    }
    long long deadline = sg_ms_of(sg_unix_now_us()) + ttl * 1000;
    idemp_record *done = idemp_record_new(IDEMP_COMPLETED, idemp_fingerprint(r), r->fingerprint_len, token, deadline,
                                          response, response_len);
    store_record(ctx, key, argv[1], done, "idemp.complete");
    RedisModule_CloseKey(key);
    stats.complete_stored++;
    return RedisModule_ReplyWithLongLong(ctx, 1);
}

/* ---- IDEMP.ABORT key token ------------------------------------------------------------------- */
static int idemp_abort_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3) return RedisModule_WrongArity(ctx);
    uint64_t token;
    if (parse_token(ctx, argv[2], &token) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleKey *key;
    idemp_record *r;
    if (open_record(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key, &r) != REDISMODULE_OK)
        return REDISMODULE_OK;
    if (!idemp_owns(r, token)) {
        RedisModule_CloseKey(key);
        stats.abort_not_held++;
        return RedisModule_ReplyWithLongLong(ctx, 0);
    }
    RedisModule_DeleteKey(key);
    RedisModule_CloseKey(key);
    /* Deterministic given the record (replicas and AOF replay hold it and never expire it on their
     * own), so it replicates as itself. */
    RedisModule_ReplicateVerbatim(ctx);
    RedisModule_SignalModifiedKey(ctx, argv[1]);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_MODULE, "idemp.abort", argv[1]);
    stats.abort_freed++;
    return RedisModule_ReplyWithLongLong(ctx, 1);
}

/* ---- IDEMP.GET key --------------------------------------------------------------------------- */
static int idemp_get_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 2) return RedisModule_WrongArity(ctx);
    RedisModuleKey *key;
    idemp_record *r;
    if (open_record(ctx, argv[1], REDISMODULE_READ, &key, &r) != REDISMODULE_OK) return REDISMODULE_OK;
    if (r == NULL) {
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithNull(ctx);
    }
    long long ttl = RedisModule_GetExpire(key);
    RedisModule_ReplyWithArray(ctx, 10);
    RedisModule_ReplyWithCString(ctx, "state");
    RedisModule_ReplyWithCString(ctx, state_name(r->state));
    RedisModule_ReplyWithCString(ctx, "fingerprint");
    RedisModule_ReplyWithStringBuffer(ctx, idemp_fingerprint(r), r->fingerprint_len);
    RedisModule_ReplyWithCString(ctx, "token");
    RedisModule_ReplyWithLongLong(ctx, (long long)r->token);
    RedisModule_ReplyWithCString(ctx, "ttl");
    RedisModule_ReplyWithLongLong(ctx, ttl == REDISMODULE_NO_EXPIRE ? -1 : ttl);
    RedisModule_ReplyWithCString(ctx, "response");
    if (r->state == IDEMP_COMPLETED) RedisModule_ReplyWithStringBuffer(ctx, idemp_response(r), r->response_len);
    else RedisModule_ReplyWithNull(ctx);
    RedisModule_CloseKey(key);
    return REDISMODULE_OK;
}

/* ---- IDEMP.RECORD key state fingerprint token deadline [response] ---------------------------- */
static int idemp_record_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 6 && argc != 7) return RedisModule_WrongArity(ctx);
    int state;
    if (sg_arg_is(argv[2], "in_progress") && argc == 6) state = IDEMP_IN_PROGRESS;
    else if (sg_arg_is(argv[2], "completed") && argc == 7) state = IDEMP_COMPLETED;
    else return RedisModule_ReplyWithError(ctx, "ERR syntax error");
    const char *fingerprint;
    size_t len, response_len = 0;
    const char *response = NULL;
    uint64_t token;
    long long deadline;
    if (sg_parse_id(ctx, argv[3], IDEMP_MAX_FINGERPRINT_LEN, FINGERPRINT_ERROR, &fingerprint, &len) != REDISMODULE_OK)
        return REDISMODULE_OK;
    if (parse_token(ctx, argv[4], &token) != REDISMODULE_OK) return REDISMODULE_OK;
    if (sg_parse_integer(ctx, argv[5], 1, INT64_MAX, "deadline", &deadline) != REDISMODULE_OK) return REDISMODULE_OK;
    if (argc == 7) response = RedisModule_StringPtrLen(argv[6], &response_len);
    if (response_len > IDEMP_MAX_RESPONSE_LEN)
        return RedisModule_ReplyWithError(ctx, "ERR invalid response: longer than 64 MiB");
    if (sg_from_client(ctx) && !sg_token_acceptable(token)) return RedisModule_ReplyWithError(ctx, SG_ERR_TOKEN_AHEAD);
    RedisModuleKey *key;
    idemp_record *r;
    if (open_record(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key, &r) != REDISMODULE_OK)
        return REDISMODULE_OK;
    idemp_record *fresh = idemp_record_new(state, fingerprint, len, token, deadline, response, response_len);
    RedisModule_ModuleTypeSetValue(key, idemp_type, fresh);
    RedisModule_SetAbsExpire(key, deadline);
    RedisModule_CloseKey(key);
    sg_token_observe(token, "IDEMP.RECORD");
    RedisModule_ReplicateVerbatim(ctx);
    RedisModule_SignalModifiedKey(ctx, argv[1]);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_MODULE, "idemp.record", argv[1]);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* ---- the data type --------------------------------------------------------------------------- */
static void *idemp_rdb_load(RedisModuleIO *rdb, int encver) {
    if (encver != IDEMP_ENCODING_VERSION) {
        RedisModule_LogIOError(rdb, "warning", "slotguard: unknown idempotency record encoding %d", encver);
        return NULL;
    }
    uint64_t state = RedisModule_LoadUnsigned(rdb);
    uint64_t token = RedisModule_LoadUnsigned(rdb);
    int64_t deadline = RedisModule_LoadSigned(rdb);
    size_t len = 0, response_len = 0;
    char *fingerprint = RedisModule_LoadStringBuffer(rdb, &len);
    char *response = RedisModule_IsIOError(rdb) ? NULL : RedisModule_LoadStringBuffer(rdb, &response_len);
    idemp_record *r = NULL;
    int complete = !RedisModule_IsIOError(rdb) && fingerprint && (response || response_len == 0);
    if (complete && idemp_valid_fields((int)state, len, response_len, token) &&
        sg_token_loaded(rdb, token, "an idempotency record being loaded")) {
        r = idemp_record_new((idemp_state)state, fingerprint, len, token, deadline < 1 ? 1 : deadline, response,
                             response_len);
    }
    if (fingerprint) RedisModule_Free(fingerprint);
    if (response) RedisModule_Free(response);
    if (r == NULL) RedisModule_LogIOError(rdb, "warning", "slotguard: idempotency record is corrupt");
    return r;
}

static void idemp_rdb_save(RedisModuleIO *rdb, void *value) {
    const idemp_record *r = value;
    RedisModule_SaveUnsigned(rdb, r->state);
    RedisModule_SaveUnsigned(rdb, r->token);
    RedisModule_SaveSigned(rdb, r->deadline_ms);
    RedisModule_SaveStringBuffer(rdb, idemp_fingerprint(r), r->fingerprint_len);
    RedisModule_SaveStringBuffer(rdb, idemp_response(r), r->response_len);
}

static void idemp_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) {
    const idemp_record *r = value;
    if (r->state == IDEMP_COMPLETED)
        RedisModule_EmitAOF(aof, "IDEMP.RECORD", "scbllb", key, state_name(r->state), idemp_fingerprint(r),
                            (size_t)r->fingerprint_len, (long long)r->token, (long long)r->deadline_ms,
                            idemp_response(r), (size_t)r->response_len);
    else
        RedisModule_EmitAOF(aof, "IDEMP.RECORD", "scbll", key, state_name(r->state), idemp_fingerprint(r),
                            (size_t)r->fingerprint_len, (long long)r->token, (long long)r->deadline_ms);
    /* As for locks: the key's expiry, not the record's deadline, is what Redis writes after this. */
    RedisModule_EmitAOF(aof, "PERSIST", "s", key);
}

static void idemp_digest(RedisModuleDigest *md, void *value) {
    const idemp_record *r = value;
    RedisModule_DigestAddLongLong(md, r->state);
    RedisModule_DigestAddLongLong(md, (long long)r->token);
    RedisModule_DigestAddLongLong(md, r->deadline_ms);
    RedisModule_DigestAddStringBuffer(md, idemp_fingerprint(r), r->fingerprint_len);
    RedisModule_DigestAddStringBuffer(md, idemp_response(r), r->response_len);
    RedisModule_DigestEndSequence(md);
}

static size_t idemp_mem_usage(const void *value) { return idemp_record_size(value); }
static void idemp_type_free(void *value) { idemp_record_free(value); }
static void *idemp_type_copy(RedisModuleString *fromkey, RedisModuleString *tokey, const void *value) {
    (void)fromkey;
    (void)tokey;
    return idemp_record_copy(value);
}

/* ---- registration ---------------------------------------------------------------------------- */

static RedisModuleCommandArg setnx_args[] = {
    SG_KEY_ARG, SG_ARG("ttl", INTEGER),
    {.name = "value", .type = REDISMODULE_ARG_TYPE_STRING, .key_spec_index = -1, .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {0}};
static RedisModuleCommandArg begin_args[] = {SG_KEY_ARG, SG_ARG("fingerprint", STRING), SG_ARG("lease", INTEGER), {0}};
static RedisModuleCommandArg complete_args[] = {
    SG_KEY_ARG, SG_ARG("token", INTEGER), SG_ARG("response", STRING), SG_ARG("ttl", INTEGER), {0}};
static RedisModuleCommandArg abort_args[] = {SG_KEY_ARG, SG_ARG("token", INTEGER), {0}};
static RedisModuleCommandArg key_args[] = {SG_KEY_ARG, {0}};
static RedisModuleCommandArg record_state[] = {
    {.name = "in_progress", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "IN_PROGRESS"},
    {.name = "completed", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "COMPLETED"},
    {0}};
static RedisModuleCommandArg record_args[] = {
    SG_KEY_ARG,
    {.name = "state", .type = REDISMODULE_ARG_TYPE_ONEOF, .key_spec_index = -1, .subargs = record_state},
    SG_ARG("fingerprint", STRING), SG_ARG("token", INTEGER), SG_ARG("deadline", UNIX_TIME),
    {.name = "response", .type = REDISMODULE_ARG_TYPE_STRING, .key_spec_index = -1,
     .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {0}};

static const sg_command idemp_commands[] = {
    {"idemp.setnx", idemp_setnx_command, "write deny-oom fast", 1, 1, 1,
     SG_INFO("0.1.0", "Records a key the first time it is seen (as SET key value NX EX ttl): 1 recorded, 0 seen before.",
             "O(1)", -3, sg_spec_insert, setnx_args)},
    {"idemp.begin", idemp_begin_command, "write deny-oom fast", 1, 1, 1,
     SG_INFO("0.1.0", "Starts processing a request under an idempotency key: new (with a token), in_progress, completed "
             "(with the stored response) or mismatch.", "O(1)", 4, sg_spec_insert, begin_args)},
    {"idemp.complete", idemp_complete_command, "write deny-oom", 1, 1, 1,
     SG_INFO("0.1.0", "Stores the response of a request whose processing the token still owns.", "O(N), N the response size",
             5, sg_spec_update, complete_args)},
    {"idemp.abort", idemp_abort_command, "write fast", 1, 1, 1,
     SG_INFO("0.1.0", "Frees an idempotency key whose processing the token owns, for a retry.", "O(1)", 3, sg_spec_delete,
             abort_args)},
    {"idemp.get", idemp_get_command, "readonly fast", 1, 1, 1,
     SG_INFO("0.1.0", "Returns an idempotency record: state, fingerprint, token, ttl and response.", "O(N), N the response size",
             2, sg_spec_read, key_args)},
    {"idemp.record", idemp_record_command, "write deny-oom", 1, 1, 1,
     SG_INFO("0.1.0", "Sets an idempotency record to an exact state; the form changes are replicated and rewritten in.",
             "O(N), N the response size", -6, sg_spec_overwrite, record_args)},
};

static int idemp_on_load(RedisModuleCtx *ctx) {
    default_value = RedisModule_CreateString(NULL, "1", 1);
    pxat_word = RedisModule_CreateString(NULL, "PXAT", 4);
    RedisModuleTypeMethods methods = {
        .version = REDISMODULE_TYPE_METHOD_VERSION,
        .rdb_load = idemp_rdb_load,
        .rdb_save = idemp_rdb_save,
        .aof_rewrite = idemp_aof_rewrite,
        .mem_usage = idemp_mem_usage,
        .digest = idemp_digest,
        .free = idemp_type_free,
        .copy = idemp_type_copy,
    };
    idemp_type = sg_create_type(ctx, IDEMP_TYPE_NAME, IDEMP_ENCODING_VERSION, &methods);
    if (idemp_type == NULL) return REDISMODULE_ERR;
    read_eviction_policy(ctx);
    if (RedisModule_SubscribeToServerEvent(ctx, RedisModuleEvent_Config, on_config_change) == REDISMODULE_ERR) {
        RedisModule_Log(ctx, "warning", "could not subscribe to configuration changes");
        return REDISMODULE_ERR;
    }
    return sg_register_commands(ctx, idemp_commands, SG_COUNT(idemp_commands));
}

static void idemp_info(RedisModuleInfoCtx *ctx) {
    const sg_info_field fields[] = {
        {"idemp_setnx_recorded", stats.setnx_recorded},
        {"idemp_setnx_seen", stats.setnx_seen},
        {"idemp_begin_new", stats.begin_new},
        {"idemp_begin_in_progress", stats.begin_in_progress},
        {"idemp_begin_completed", stats.begin_completed},
        {"idemp_begin_mismatch", stats.begin_mismatch},
        {"idemp_complete_stored", stats.complete_stored},
        {"idemp_complete_lost", stats.complete_lost},
        {"idemp_abort_freed", stats.abort_freed},
        {"idemp_abort_not_held", stats.abort_not_held},
    };
    sg_info_add_fields(ctx, fields, SG_COUNT(fields));
}

const sg_family idemp_family = {"idemp", idemp_on_load, idemp_info};
