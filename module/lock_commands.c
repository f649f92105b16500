/* lock_commands.c -- the lock family: the lock data type and LOCK.* commands.
 *
 * A lock key holds a lock_record; its lease is the key's expiry. Waiters (LOCK.ACQUIRE ... WAIT)
 * are blocked clients kept in a FIFO per lock name, outside the keyspace, because the key itself
 * disappears when a lease ends. A lock changes hands in three places: LOCK.RELEASE, the lease timer
 * of a lock that has waiters, and any LOCK.ACQUIRE that finds the lock free with waiters queued.
 * Every change is replicated as its effect (LOCK.GRANT with an absolute deadline, or DEL), never
 * as the command that caused it. */
#include <string.h>

#include "lock.h"
#include "glue.h"

#define LOCK_TYPE_NAME "sg-lock00"
#define OWNER_ERROR "ERR invalid owner: must be 1 to 512 bytes"
#define TIMER_RETRY_MS 10 /* when writes must wait (CLIENT PAUSE WRITE, failover) */

static RedisModuleType *lock_type;
/* Lock name (db number + key) -> lock_home, for names with waiters or a pending lease timer. */
static RedisModuleDict *homes;
/* Blocked-client handle -> its lock_waiter, to find the waiter from timeout/disconnect callbacks. */
static RedisModuleDict *waiters;

typedef struct lock_home {
    lock_queue queue;
    RedisModuleString *name; /* dict key: 4 bytes of db number then the key name */
    RedisModuleString *key;
    int db;
    RedisModuleTimerID timer;
    int timer_armed;
} lock_home;

/* What a granted waiter's reply callback sends. */
typedef struct lock_grant {
    uint64_t token;
} lock_grant;

static struct {
    long long granted, refreshed, reentered, busy, waited, handed_over, wait_timeouts, waiters_left;
    long long released, release_not_owner, extended, extend_not_owner;
} stats;

/* ---- arguments ------------------------------------------------------------------------------- */
static int parse_owner(RedisModuleCtx *ctx, RedisModuleString *arg, const char **owner, size_t *len) {
    return sg_parse_id(ctx, arg, LOCK_MAX_OWNER_LEN, OWNER_ERROR, owner, len);
}

static int parse_ms(RedisModuleCtx *ctx, RedisModuleString *arg, const char *what, long long *out) {
    return sg_parse_integer(ctx, arg, 1, LOCK_MAX_TTL_MS, what, out);
}


/* ---- homes (per-name waiter queues) ---------------------------------------------------------- */
static RedisModuleString *home_name(int db, RedisModuleString *key) {
    size_t len;
    const char *k = RedisModule_StringPtrLen(key, &len);
    RedisModuleString *name = RedisModule_CreateString(NULL, (const char *)&db, sizeof(db));
    RedisModule_StringAppendBuffer(NULL, name, k, len);
    return name;
}

/* The home of a key, or NULL. Called by every LOCK.ACQUIRE, so the name (the same bytes as
 * home_name's) is built on the stack for usual key lengths rather than as a string object, whose
 * creation and append cost more than the lookup (callgrind: ~820 of ~1,230 extra instructions per
 * call once any lock had waiters). */
#define HOME_NAME_STACK 256
static lock_home *home_find(int db, RedisModuleString *key) {
    if (RedisModule_DictSize(homes) == 0) return NULL; /* the common case: nobody waits anywhere */
    size_t len;
    const char *k = RedisModule_StringPtrLen(key, &len);
    char stack[HOME_NAME_STACK];
    size_t name_len = sizeof(db) + len;
    char *name = name_len <= sizeof(stack) ? stack : RedisModule_Alloc(name_len);
    memcpy(name, &db, sizeof(db));
    memcpy(name + sizeof(db), k, len);
    lock_home *home = RedisModule_DictGetC(homes, name, name_len, NULL);
    if (name != stack) RedisModule_Free(name);
    return home;
}

static lock_home *home_get_or_create(int db, RedisModuleString *key) {
    lock_home *home = home_find(db, key);
    if (home) return home;
    home = RedisModule_Calloc(1, sizeof(*home));
    home->db = db;
    home->name = home_name(db, key);
    home->key = RedisModule_CreateStringFromString(NULL, key);
    RedisModule_DictSet(homes, home->name, home);
    return home;
}

/* Drop a home nobody waits in any more. */
static void home_release_if_idle(RedisModuleCtx *ctx, lock_home *home) {
    if (home->queue.count > 0) return;
    if (home->timer_armed) RedisModule_StopTimer(ctx, home->timer, NULL);
    RedisModule_DictDel(homes, home->name, NULL);
    RedisModule_FreeString(NULL, home->name);
    RedisModule_FreeString(NULL, home->key);
    RedisModule_Free(home);
}

static void lease_timer_fired(RedisModuleCtx *ctx, void *data);

/* Wake up when the current lease may have ended (deadline_ms is absolute). */
static void home_arm_timer(RedisModuleCtx *ctx, lock_home *home, long long deadline_ms, long long now_ms) {
    if (home->timer_armed) RedisModule_StopTimer(ctx, home->timer, NULL);
    long long delay = deadline_ms - now_ms + 1;
    if (delay < 1) delay = 1;
    home->timer = RedisModule_CreateTimer(ctx, delay, lease_timer_fired, home);
    home->timer_armed = 1;
}

static void waiter_forget(lock_waiter *w) {
    RedisModule_DictDelC(waiters, &w->handle, sizeof(w->handle), NULL);
}

/* ---- changing the lock ----------------------------------------------------------------------- */
/* Replicate the lock's state. `owner` is the caller's argument when it names the holder (no copy is
 * made of it), NULL otherwise. Numbers go as C strings (one small allocation each instead of two);
 * the holds count is left out when it is 1, as it almost always is. */
static void replicate_grant(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleString *owner,
                            const lock_record *r) {
    char token[SG_DECIMAL_SIZE], deadline[SG_DECIMAL_SIZE], holds[SG_DECIMAL_SIZE];
    sg_format_decimal(token, r->token);
    sg_format_decimal(deadline, (uint64_t)r->deadline_ms);
    const char *name = "LOCK.GRANT";
    if (owner != NULL && r->holds == 1) {
        RedisModule_Replicate(ctx, name, "sscc", keyname, owner, token, deadline);
    } else if (r->holds == 1) {
        RedisModule_Replicate(ctx, name, "sbcc", keyname, r->owner, (size_t)r->owner_len, token, deadline);
    } else {
        sg_format_decimal(holds, r->holds);
        if (owner != NULL)
            RedisModule_Replicate(ctx, name, "ssccc", keyname, owner, token, deadline, holds);
        else
            RedisModule_Replicate(ctx, name, "sbccc", keyname, r->owner, (size_t)r->owner_len, token, deadline, holds);
    }
}

static void lock_changed(RedisModuleCtx *ctx, RedisModuleString *keyname, const char *event) {
    RedisModule_SignalModifiedKey(ctx, keyname);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_MODULE, event, keyname);
}

/* Give the lock to `owner` with a fresh token; the key is open for writing and empty or a lock.
 * Returns NULL, changing nothing, when the token clock is exhausted. */
static const lock_record *grant_new(RedisModuleCtx *ctx, RedisModuleKey *key, RedisModuleString *keyname,
                                    RedisModuleString *owner_arg, const char *owner, size_t len, long long ttl_ms,
                                    uint64_t now_us) {
    uint64_t token = sg_token_next(now_us);
    if (token == 0) return NULL;
    lock_record *r = lock_record_new(owner, len, token, sg_ms_of(now_us) + ttl_ms, 1);
    RedisModule_ModuleTypeSetValue(key, lock_type, r);
    RedisModule_SetAbsExpire(key, r->deadline_ms);
    replicate_grant(ctx, keyname, owner_arg, r);
    lock_changed(ctx, keyname, "lock.grant");
    stats.granted++;
    return r;
}

/* The lock is free (key open for writing, empty): hand it to the first waiter, if any. Returns
 * the new record, or NULL when nobody waits or no token can be issued (then every waiter gets
 * the error instead of a token and the queue empties). */
static const lock_record *hand_over(RedisModuleCtx *ctx, RedisModuleKey *key, lock_home *home, uint64_t now_us) {
    lock_waiter *w = lock_queue_pop(&home->queue);
    if (w == NULL) return NULL;
    waiter_forget(w);
    const lock_record *r = grant_new(ctx, key, home->key, NULL, w->owner, w->owner_len, w->ttl_ms, now_us);
    for (;;) {
        lock_grant *g = RedisModule_Alloc(sizeof(*g));
        g->token = r ? r->token : 0;
        RedisModule_UnblockClient(w->handle, g);
        lock_waiter_free(w);
        if (r != NULL) break;
        /* No token can be issued: every waiter gets the error now rather than at its timeout. */
        if ((w = lock_queue_pop(&home->queue)) == NULL) return NULL;
        waiter_forget(w);
    }
    stats.handed_over++;
    if (home->queue.count > 0) home_arm_timer(ctx, home, r->deadline_ms, sg_ms_of(now_us));
    return r;
}

/* Open the lock at `keyname`; *record is NULL when the lock is free. For a key of another type,
 * replies WRONGTYPE, closes the key and returns REDISMODULE_ERR. */
static int open_lock(RedisModuleCtx *ctx, RedisModuleString *keyname, int mode, RedisModuleKey **key,
                     lock_record **record) {
    void *value;
    int status = sg_open_key_or_reply(ctx, keyname, mode, lock_type, NULL, key, &value);
    *record = value;
    return status;
}

/* ---- LOCK.ACQUIRE key owner ttl [WAIT timeout] [REENTRANT] ------------------------------------ */
static int reply_with_grant(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    const lock_grant *g = RedisModule_GetBlockedClientPrivateData(ctx);
    if (g->token == 0) return RedisModule_ReplyWithError(ctx, SG_ERR_TOKENS_EXHAUSTED);
    return RedisModule_ReplyWithLongLong(ctx, (long long)g->token);
}

/* The waiter leaves its queue: timeout, CLIENT UNBLOCK, disconnection. */
static void waiter_leaves(RedisModuleCtx *ctx, RedisModuleBlockedClient *bc) {
    lock_waiter *w = RedisModule_DictGetC(waiters, &bc, sizeof(bc), NULL);
    if (w == NULL) return; /* already granted: its reply is on the way */
    waiter_forget(w);
    lock_home *home = w->home;
    lock_queue_remove(&home->queue, w);
    lock_waiter_free(w);
    stats.waiters_left++;
    home_release_if_idle(ctx, home);
    RedisModule_UnblockClient(bc, NULL); /* releases the handle; no reply is sent through it */
}

static int reply_wait_timeout(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    stats.wait_timeouts++;
    waiter_leaves(ctx, RedisModule_GetBlockedClientHandle(ctx));
    return RedisModule_ReplyWithNull(ctx);
}

static void waiter_disconnected(RedisModuleCtx *ctx, RedisModuleBlockedClient *bc) { waiter_leaves(ctx, bc); }

static void free_grant(RedisModuleCtx *ctx, void *privdata) {
    (void)ctx;
    RedisModule_Free(privdata);
}

static int lock_acquire_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 4) return RedisModule_WrongArity(ctx);
    const char *owner;
    size_t len;
    long long ttl_ms, timeout_ms = 0;
    int reentrant = 0;
    if (parse_owner(ctx, argv[2], &owner, &len) != REDISMODULE_OK) return REDISMODULE_OK;
    if (parse_ms(ctx, argv[3], "ttl", &ttl_ms) != REDISMODULE_OK) return REDISMODULE_OK;
    for (int i = 4; i < argc; i++) {
        if (sg_arg_is(argv[i], "WAIT") && i + 1 < argc && timeout_ms == 0) {
            if (parse_ms(ctx, argv[++i], "timeout", &timeout_ms) != REDISMODULE_OK) return REDISMODULE_OK;
        } else if (sg_arg_is(argv[i], "REENTRANT") && !reentrant) {
            reentrant = 1;
        } else {
            return RedisModule_ReplyWithError(ctx, "ERR syntax error");
        }
    }
    lock_record *held;
    RedisModuleKey *key;
    if (open_lock(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key, &held) != REDISMODULE_OK) return REDISMODULE_OK;
    uint64_t now_us = sg_unix_now_us();
    long long now_ms = sg_ms_of(now_us);
    int db = RedisModule_GetSelectedDb(ctx);
    lock_home *home = home_find(db, argv[1]);

    /* A free lock with waiters (its lease ended or the key was deleted before the timer ran)
     * belongs to the first of them: nobody cuts in. */
    if (held == NULL && home != NULL && home->queue.count > 0) held = (lock_record *)hand_over(ctx, key, home, now_us);

    switch (lock_decide_acquire(held, owner, len, reentrant, home ? home->queue.count : 0)) {
    case LOCK_GRANT: {
        const lock_record *r = grant_new(ctx, key, argv[1], argv[2], owner, len, ttl_ms, now_us);
        RedisModule_CloseKey(key);
        if (r == NULL) return RedisModule_ReplyWithError(ctx, SG_ERR_TOKENS_EXHAUSTED);
        return RedisModule_ReplyWithLongLong(ctx, (long long)r->token);
    }
    case LOCK_REENTER:
    case LOCK_REFRESH:
        if (held->holds < UINT32_MAX && reentrant) {
            held->holds++;
            stats.reentered++;
        } else {
            stats.refreshed++;
        }
        held->deadline_ms = now_ms + ttl_ms;
        RedisModule_SetAbsExpire(key, held->deadline_ms);
        replicate_grant(ctx, argv[1], argv[2], held);
        lock_changed(ctx, argv[1], "lock.grant");
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithLongLong(ctx, (long long)held->token);
    case LOCK_BUSY:
        break;
    }
    long long deadline_ms = held ? held->deadline_ms : now_ms;
    RedisModule_CloseKey(key);
    stats.busy++;
    int flags = RedisModule_GetContextFlags(ctx);
    if (timeout_ms == 0 || (flags & (REDISMODULE_CTX_FLAGS_MULTI | REDISMODULE_CTX_FLAGS_LUA |
                                     REDISMODULE_CTX_FLAGS_DENY_BLOCKING)))
        return RedisModule_ReplyWithNull(ctx);

    RedisModuleBlockedClient *bc = RedisModule_BlockClient(ctx, reply_with_grant, reply_wait_timeout, free_grant, timeout_ms);
    lock_waiter *w = lock_waiter_new(owner, len, ttl_ms, reentrant, bc);
    home = home_get_or_create(db, argv[1]);
    w->home = home;
    lock_queue_push(&home->queue, w);
    RedisModule_DictSetC(waiters, &w->handle, sizeof(w->handle), w);
    RedisModule_SetDisconnectCallback(bc, waiter_disconnected);
    if (!home->timer_armed) home_arm_timer(ctx, home, deadline_ms, now_ms);
    stats.waited++;
    return REDISMODULE_OK;
}

/* The lease of a lock with waiters may have ended: hand it over, or wait for the new deadline. */
static void lease_timer_fired(RedisModuleCtx *ctx, void *data) {
    lock_home *home = data;
    home->timer_armed = 0;
    if (home->queue.count == 0) {
        home_release_if_idle(ctx, home);
        return;
    }
    uint64_t now_us = sg_unix_now_us();
    long long now_ms = sg_ms_of(now_us);
    int flags = RedisModule_GetContextFlags(ctx);
    if (flags & REDISMODULE_CTX_FLAGS_SLAVE) return; /* Redis unblocks waiters on a role change */
    if (RedisModule_AvoidReplicaTraffic()) {
        /* CLIENT PAUSE WRITE (failover, shutdown): writing now would crash 7.0; try again soon. */
        home_arm_timer(ctx, home, now_ms + TIMER_RETRY_MS, now_ms);
        return;
    }
    RedisModule_SelectDb(ctx, home->db);
    RedisModuleKey *key;
    void *held;
    sg_key_status status = sg_open_key(ctx, home->key, REDISMODULE_READ | REDISMODULE_WRITE, lock_type, &key, &held);
    if (status == SG_KEY_WRONGTYPE) {
        /* Replaced by another type: check again later; waiters leave at their own timeout. */
        home_arm_timer(ctx, home, now_ms + 1000, now_ms);
    } else if (held != NULL) {
        long long expire = RedisModule_GetAbsExpire(key);
        home_arm_timer(ctx, home, expire == REDISMODULE_NO_EXPIRE ? now_ms + 1000 : expire, now_ms);
    } else {
        hand_over(ctx, key, home, now_us);
    }
    RedisModule_CloseKey(key);
    home_release_if_idle(ctx, home);
}

/* ---- the lock changed outside the LOCK commands ------------------------------------------------ */
/* DEL, UNLINK, RENAME, MOVE, expiry (also of a lease shortened with PEXPIRE), eviction, FLUSHDB and
 * SWAPDB can free a lock that has waiters; Redis 7.0 wakes no module waiter for that. Rather than
 * leave them until the old lease's timer, look again on the next event-loop turn: the lease timer
 * does the checking, and with it the CLIENT PAUSE and replica rules. Nothing is written here.
 * Deletions arrive through the lock type's unlink callback, so other keys pay nothing (a keyspace
 * subscription would tax every SET EX and DEL in the server: +8% instructions for SET NX PX). */
static RedisModuleCtx *timer_ctx; /* detached: creates timers where no command context exists */

static void home_look_again_soon(RedisModuleCtx *ctx, lock_home *home) {
    if (home->queue.count == 0) return;
    long long now_ms = sg_ms_of(sg_unix_now_us());
    home_arm_timer(ctx, home, now_ms, now_ms);
}

static void lock_unlinked(RedisModuleKeyOptCtx *octx, const void *value) {
    (void)value;
    if (RedisModule_DictSize(homes) == 0) return;
    lock_home *home = home_find(RedisModule_GetDbIdFromOptCtx(octx),
                                (RedisModuleString *)RedisModule_GetKeyNameFromOptCtx(octx));
    if (home != NULL) home_look_again_soon(timer_ctx, home);
}

/* FLUSHDB/FLUSHALL (after the flush) and SWAPDB: every lock with waiters may have gone. */
static void on_flush_or_swap(RedisModuleCtx *ctx, RedisModuleEvent event, uint64_t subevent, void *data) {
    (void)data;
    if (event.id == REDISMODULE_EVENT_FLUSHDB && subevent != REDISMODULE_SUBEVENT_FLUSHDB_END) return;
    RedisModuleDictIter *it = RedisModule_DictIteratorStartC(homes, "^", NULL, 0);
    lock_home *home;
    while (RedisModule_DictNextC(it, NULL, (void **)&home) != NULL) home_look_again_soon(ctx, home);
    RedisModule_DictIteratorStop(it);
}

/* ---- LOCK.RELEASE key owner ------------------------------------------------------------------ */
static int lock_release_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3) return RedisModule_WrongArity(ctx);
    const char *owner;
    size_t len;
    if (parse_owner(ctx, argv[2], &owner, &len) != REDISMODULE_OK) return REDISMODULE_OK;
    lock_record *held;
    RedisModuleKey *key;
    if (open_lock(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key, &held) != REDISMODULE_OK) return REDISMODULE_OK;
    if (held == NULL || !lock_record_is_owner(held, owner, len)) {
        RedisModule_CloseKey(key);
        stats.release_not_owner++;
        return RedisModule_ReplyWithLongLong(ctx, 0);
    }
    stats.released++;
    /* Releasing a held lock without waiters is deterministic given the lock (a replica or an AOF
     * replay holds the same record and never expires it on its own), so it replicates verbatim.
     * A hand-over draws a new token and replicates as LOCK.GRANT instead. */
    if (held->holds > 1) {
        held->holds--;
        RedisModule_ReplicateVerbatim(ctx);
        lock_changed(ctx, argv[1], "lock.release");
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithLongLong(ctx, 1);
    }
    lock_home *home = home_find(RedisModule_GetSelectedDb(ctx), argv[1]);
    /* Straight to the first waiter: its LOCK.GRANT replaces this record. Without a waiter (or
     * without a token to give one), the lock is deleted. */
    if (home == NULL || home->queue.count == 0 || hand_over(ctx, key, home, sg_unix_now_us()) == NULL) {
        RedisModule_DeleteKey(key);
        RedisModule_ReplicateVerbatim(ctx);
        lock_changed(ctx, argv[1], "lock.release");
    }
    if (home != NULL) home_release_if_idle(ctx, home);
    RedisModule_CloseKey(key);
    return RedisModule_ReplyWithLongLong(ctx, 1);
}

/* ---- LOCK.EXTEND key owner ttl --------------------------------------------------------------- */
static int lock_extend_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 4) return RedisModule_WrongArity(ctx);
    const char *owner;
    size_t len;
    long long ttl_ms;
    if (parse_owner(ctx, argv[2], &owner, &len) != REDISMODULE_OK) return REDISMODULE_OK;
    if (parse_ms(ctx, argv[3], "ttl", &ttl_ms) != REDISMODULE_OK) return REDISMODULE_OK;
    lock_record *held;
    RedisModuleKey *key;
    if (open_lock(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key, &held) != REDISMODULE_OK) return REDISMODULE_OK;
    if (held == NULL || !lock_record_is_owner(held, owner, len)) {
        RedisModule_CloseKey(key);
        stats.extend_not_owner++;
        return RedisModule_ReplyWithLongLong(ctx, 0);
    }
    held->deadline_ms = sg_ms_of(sg_unix_now_us()) + ttl_ms;
    RedisModule_SetAbsExpire(key, held->deadline_ms);
    replicate_grant(ctx, argv[1], argv[2], held);
    lock_changed(ctx, argv[1], "lock.extend");
    RedisModule_CloseKey(key);
    stats.extended++;
    return RedisModule_ReplyWithLongLong(ctx, 1);
}

/* ---- LOCK.INFO key --------------------------------------------------------------------------- */
static int lock_info_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 2) return RedisModule_WrongArity(ctx);
    lock_record *held;
    RedisModuleKey *key;
    if (open_lock(ctx, argv[1], REDISMODULE_READ, &key, &held) != REDISMODULE_OK) return REDISMODULE_OK;
    if (held == NULL) {
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithNull(ctx);
    }
    long long ttl = RedisModule_GetExpire(key);
    lock_home *home = home_find(RedisModule_GetSelectedDb(ctx), argv[1]);
    RedisModule_ReplyWithArray(ctx, 10);
    RedisModule_ReplyWithCString(ctx, "owner");
    RedisModule_ReplyWithStringBuffer(ctx, held->owner, held->owner_len);
    RedisModule_ReplyWithCString(ctx, "ttl");
    RedisModule_ReplyWithLongLong(ctx, ttl == REDISMODULE_NO_EXPIRE ? -1 : ttl);
    RedisModule_ReplyWithCString(ctx, "token");
    RedisModule_ReplyWithLongLong(ctx, (long long)held->token);
    RedisModule_ReplyWithCString(ctx, "holds");
    RedisModule_ReplyWithLongLong(ctx, held->holds);
    RedisModule_ReplyWithCString(ctx, "waiters");
    RedisModule_ReplyWithLongLong(ctx, home ? (long long)home->queue.count : 0);
    RedisModule_CloseKey(key);
    return REDISMODULE_OK;
}

/* ---- LOCK.GRANT key owner token deadline holds ----------------------------------------------- */
static int lock_grant_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 5 && argc != 6) return RedisModule_WrongArity(ctx);
    const char *owner;
    size_t len;
    long long token, deadline, holds = 1;
    if (parse_owner(ctx, argv[2], &owner, &len) != REDISMODULE_OK) return REDISMODULE_OK;
    if (sg_parse_integer(ctx, argv[3], 1, INT64_MAX, "token", &token) != REDISMODULE_OK) return REDISMODULE_OK;
    if (sg_parse_integer(ctx, argv[4], 1, INT64_MAX, "deadline", &deadline) != REDISMODULE_OK) return REDISMODULE_OK;
    if (argc == 6 && sg_parse_integer(ctx, argv[5], 1, UINT32_MAX, "holds", &holds) != REDISMODULE_OK)
        return REDISMODULE_OK;
    lock_record *held;
    RedisModuleKey *key;
    if (open_lock(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key, &held) != REDISMODULE_OK) return REDISMODULE_OK;
    lock_record *r = lock_record_new(owner, len, (uint64_t)token, deadline, (uint32_t)holds);
    RedisModule_ModuleTypeSetValue(key, lock_type, r);
    RedisModule_SetAbsExpire(key, deadline);
    sg_token_observe((uint64_t)token);
    RedisModule_CloseKey(key);
    RedisModule_ReplicateVerbatim(ctx);
    lock_changed(ctx, argv[1], "lock.grant");
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* ---- the data type --------------------------------------------------------------------------- */
static void *lock_rdb_load(RedisModuleIO *rdb, int encver) {
    if (encver != LOCK_ENCODING_VERSION) {
        RedisModule_LogIOError(rdb, "warning", "slotguard: unknown lock encoding %d", encver);
        return NULL;
    }
    size_t len = 0;
    char *owner = RedisModule_LoadStringBuffer(rdb, &len);
    uint64_t token = RedisModule_LoadUnsigned(rdb);
    int64_t deadline = RedisModule_LoadSigned(rdb);
    uint64_t holds = RedisModule_LoadUnsigned(rdb);
    lock_record *r = NULL;
    if (!RedisModule_IsIOError(rdb) && owner != NULL && lock_record_valid_fields(len, token, holds)) {
        r = lock_record_new(owner, len, token, deadline, (uint32_t)holds);
        sg_token_observe(token);
    }
    if (owner) RedisModule_Free(owner);
    if (r == NULL) RedisModule_LogIOError(rdb, "warning", "slotguard: lock data is corrupt");
    return r;
}

static void lock_rdb_save(RedisModuleIO *rdb, void *value) {
    const lock_record *r = value;
    RedisModule_SaveStringBuffer(rdb, r->owner, r->owner_len);
    RedisModule_SaveUnsigned(rdb, r->token);
    RedisModule_SaveSigned(rdb, r->deadline_ms);
    RedisModule_SaveUnsigned(rdb, r->holds);
}

/* The token clock travels in every RDB file (and so to replicas on full sync). */
static void lock_aux_save(RedisModuleIO *rdb, int when) {
    (void)when;
    RedisModule_SaveUnsigned(rdb, sg_token_last());
}

static int lock_aux_load(RedisModuleIO *rdb, int encver, int when) {
    (void)when;
    if (encver != LOCK_ENCODING_VERSION) return REDISMODULE_ERR;
    uint64_t last = RedisModule_LoadUnsigned(rdb);
    if (RedisModule_IsIOError(rdb)) return REDISMODULE_ERR;
    sg_token_observe(last);
    return REDISMODULE_OK;
}

static void lock_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) {
    const lock_record *r = value;
    RedisModule_EmitAOF(aof, "LOCK.GRANT", "sblll", key, r->owner, (size_t)r->owner_len, (long long)r->token,
                        (long long)r->deadline_ms, (long long)r->holds); /* holds always: a rewrite is rare */
}

static void lock_digest(RedisModuleDigest *md, void *value) {
    const lock_record *r = value;
    RedisModule_DigestAddStringBuffer(md, r->owner, r->owner_len);
    RedisModule_DigestAddLongLong(md, (long long)r->token);
    RedisModule_DigestAddLongLong(md, r->deadline_ms);
    RedisModule_DigestAddLongLong(md, r->holds);
    RedisModule_DigestEndSequence(md);
}

static size_t lock_mem_usage(const void *value) { return lock_record_size(value); }
static void lock_type_free(void *value) { lock_record_free(value); }
static void *lock_type_copy(RedisModuleString *fromkey, RedisModuleString *tokey, const void *value) {
    (void)fromkey;
    (void)tokey;
    return lock_record_copy(value);
}

/* ---- registration ---------------------------------------------------------------------------- */

static RedisModuleCommandArg acquire_args[] = {
    SG_KEY_ARG, SG_ARG("owner", STRING), SG_ARG("ttl", INTEGER),
    {.name = "timeout", .type = REDISMODULE_ARG_TYPE_INTEGER, .key_spec_index = -1, .token = "WAIT",
     .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {.name = "reentrant", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "REENTRANT",
     .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {0}};
static RedisModuleCommandArg owner_args[] = {SG_KEY_ARG, SG_ARG("owner", STRING), {0}};
static RedisModuleCommandArg extend_args[] = {SG_KEY_ARG, SG_ARG("owner", STRING), SG_ARG("ttl", INTEGER), {0}};
static RedisModuleCommandArg key_args[] = {SG_KEY_ARG, {0}};
static RedisModuleCommandArg grant_args[] = {
    SG_KEY_ARG, SG_ARG("owner", STRING), SG_ARG("token", INTEGER), SG_ARG("deadline", UNIX_TIME),
    {.name = "holds", .type = REDISMODULE_ARG_TYPE_INTEGER, .key_spec_index = -1, .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {0}};

static const sg_command lock_commands[] = {
    {"lock.acquire", lock_acquire_command, "write deny-oom fast blocking", 1, 1, 1,
     SG_INFO("0.1.0", "Acquires a lock with a lease and returns its fencing token; WAIT queues the caller FIFO.", "O(1)",
          -4, sg_spec_update, acquire_args)},
    {"lock.release", lock_release_command, "write fast", 1, 1, 1,
     SG_INFO("0.1.0", "Releases a lock held by the owner and hands it to the first waiter.", "O(1)", 3, sg_spec_delete,
          owner_args)},
    {"lock.extend", lock_extend_command, "write fast", 1, 1, 1,
     SG_INFO("0.1.0", "Sets the lease of a lock held by the owner to ttl ms from now.", "O(1)", 4, sg_spec_update, extend_args)},
    {"lock.info", lock_info_command, "readonly fast", 1, 1, 1,
     SG_INFO("0.1.0", "Returns a lock's owner, remaining lease, fencing token, holds and waiters.", "O(1)", 2, sg_spec_read,
          key_args)},
    {"lock.grant", lock_grant_command, "write deny-oom", 1, 1, 1,
     SG_INFO("0.1.0", "Sets a lock to an exact state; the form lock changes are replicated and rewritten in.", "O(1)", -5,
          sg_spec_overwrite, grant_args)},
};

static int lock_on_load(RedisModuleCtx *ctx) {
    homes = RedisModule_CreateDict(NULL);
    waiters = RedisModule_CreateDict(NULL);
    RedisModuleTypeMethods methods = {
        .version = REDISMODULE_TYPE_METHOD_VERSION,
        .rdb_load = lock_rdb_load,
        .rdb_save = lock_rdb_save,
        .aof_rewrite = lock_aof_rewrite,
        .mem_usage = lock_mem_usage,
        .digest = lock_digest,
        .free = lock_type_free,
        .aux_load = lock_aux_load,
        .aux_save = lock_aux_save,
        .aux_save_triggers = REDISMODULE_AUX_BEFORE_RDB,
        .copy = lock_type_copy,
        .unlink2 = lock_unlinked,
    };
    lock_type = sg_create_type(ctx, LOCK_TYPE_NAME, LOCK_ENCODING_VERSION, &methods);
    if (lock_type == NULL) return REDISMODULE_ERR;
    timer_ctx = RedisModule_GetDetachedThreadSafeContext(ctx);
    if (RedisModule_SubscribeToServerEvent(ctx, RedisModuleEvent_FlushDB, on_flush_or_swap) == REDISMODULE_ERR ||
        RedisModule_SubscribeToServerEvent(ctx, RedisModuleEvent_SwapDB, on_flush_or_swap) == REDISMODULE_ERR) {
        RedisModule_Log(ctx, "warning", "could not subscribe to key and database events");
        return REDISMODULE_ERR;
    }
    return sg_register_commands(ctx, lock_commands, SG_COUNT(lock_commands));
}

static void lock_info(RedisModuleInfoCtx *ctx) {
    const sg_info_field fields[] = {
        {"lock_granted", stats.granted},
        {"lock_refreshed", stats.refreshed},
        {"lock_reentered", stats.reentered},
        {"lock_busy", stats.busy},
        {"lock_waited", stats.waited},
        {"lock_handed_over", stats.handed_over},
        {"lock_wait_timeouts", stats.wait_timeouts},
        {"lock_waiters_left", stats.waiters_left},
        {"lock_released", stats.released},
        {"lock_release_not_owner", stats.release_not_owner},
        {"lock_extended", stats.extended},
        {"lock_extend_not_owner", stats.extend_not_owner},
        {"lock_waiting_now", (long long)RedisModule_DictSize(waiters)},
        {"lock_last_token", (long long)sg_token_last()},
    };
    sg_info_add_fields(ctx, fields, SG_COUNT(fields));
}

const sg_family lock_family = {"lock", lock_on_load, lock_info};
