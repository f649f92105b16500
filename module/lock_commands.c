/* lock_commands.c -- the lock family: the lock data type and LOCK.* commands.
 *
 * A lock key holds a lock_record; its lease is the key's expiry. Waiters (LOCK.ACQUIRE ... WAIT)
 * are blocked clients kept in a FIFO per lock name, outside the keyspace, because the key itself
 * disappears when a lease ends. A lock changes hands in three places: LOCK.RELEASE, the lease timer
 * of a lock that has waiters, and any LOCK.ACQUIRE that finds the lock free with waiters queued.
 * Every change is replicated as its effect (LOCK.GRANT with an absolute deadline, or DEL), never
 * as the command that caused it. */
#include <errno.h>
#include <string.h>

#include "lock.h"
#include "glue.h"

#define LOCK_TYPE_NAME "sg-lock00"
#define OWNER_ERROR "ERR invalid owner: must be 1 to 512 bytes"

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
} lock_home;

static struct {
    long long granted, refreshed, reentered, busy, waited, handed_over, wait_timeouts, waiters_left;
    long long waiters_moved, grants_revoked;
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

/* Drop a home nobody waits in any more (the core disarmed its timer when the last one left). */
static void home_release_if_idle(RedisModuleCtx *ctx, lock_home *home) {
    if (home->queue.count > 0) return;
    if (home->queue.timer != 0) RedisModule_StopTimer(ctx, home->queue.timer, NULL);
    RedisModule_DictDel(homes, home->name, NULL);
    RedisModule_FreeString(NULL, home->name);
    RedisModule_FreeString(NULL, home->key);
    RedisModule_Free(home);
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

/* Open the lock at `keyname`; *record is NULL when the lock is free. For a key of another type,
 * replies WRONGTYPE, closes the key and returns REDISMODULE_ERR. */
static int open_lock(RedisModuleCtx *ctx, RedisModuleString *keyname, int mode, RedisModuleKey **key,
                     lock_record **record) {
    void *value;
    int status = sg_open_key_or_reply(ctx, keyname, mode, lock_type, NULL, key, &value);
    *record = value;
    return status;
}

/* ---- waiting: the core's state machine (lock.h) acting through Redis ----------------------------
 * A waiter is a client blocked WITHOUT a Redis timeout: its WAIT deadline runs on a module timer,
 * so every outcome (granted, timed out, moved, no token) reaches it through RedisModule_UnblockClient
 * and the one reply callback. (With a Redis timeout, 7.0 handles timeouts in beforeSleep before
 * module unblocks: a waiter granted in the same event-loop turn as its timeout got no reply at all.
 * For the same reason CLIENT UNBLOCK does not apply to lock waiters: 7.0 would drop the reply of a
 * waiter granted earlier in the same turn.) */
static RedisModuleCtx *timer_ctx; /* detached: creates timers where no command context exists */

/* One event's view of Redis for the core: on the stack, for one call into it. */
typedef struct lock_env {
    RedisModuleCtx *ctx;
    RedisModuleKey *key; /* the lock's key, open for writing, where a grant or revoke may happen */
    lock_home *home;
    uint64_t now_us;
    long long now_ms;
} lock_env;

/* What a waiter's reply callback sends, and what a grant nobody received needs to be revoked. */
typedef struct lock_reply {
    lock_wait_outcome outcome;
    uint64_t token;
    int delivered;
    int db;
    RedisModuleString *key; /* the lock's name, for a grant (to revoke it when undelivered) */
} lock_reply;

static void queue_timer_fired(RedisModuleCtx *ctx, void *data);
static void waiter_timer_fired(RedisModuleCtx *ctx, void *data);

static uint64_t env_grant(void *self, lock_queue *q, const lock_waiter *w, int64_t now_ms) {
    (void)q;
    (void)now_ms; /* the same instant as env->now_us, which the token needs */
    lock_env *env = self;
    const lock_record *r = grant_new(env->ctx, env->key, env->home->key, NULL, w->owner, w->owner_len, w->ttl_ms,
                                     env->now_us);
    if (r == NULL) return 0;
    stats.handed_over++;
    return r->token;
}

static void env_revoke(void *self) {
    lock_env *env = self;
    RedisModule_DeleteKey(env->key);
    stats.grants_revoked++;
}

static void env_arm_queue(void *self, lock_queue *q, int64_t at_ms) {
    lock_env *env = self;
    if (q->timer != 0) RedisModule_StopTimer(env->ctx, q->timer, NULL);
    q->timer = sg_timer_at(env->ctx, at_ms, env->now_ms, queue_timer_fired, env->home);
}

static void env_disarm_queue(void *self, lock_queue *q) {
    lock_env *env = self;
    if (q->timer != 0) RedisModule_StopTimer(env->ctx, q->timer, NULL);
    q->timer = 0;
}

static void env_arm_waiter(void *self, lock_waiter *w, int64_t at_ms) {
    lock_env *env = self;
    if (w->timer != 0) RedisModule_StopTimer(env->ctx, w->timer, NULL);
    w->timer = sg_timer_at(env->ctx, at_ms, env->now_ms, waiter_timer_fired, w);
}

static void env_disarm_waiter(void *self, lock_waiter *w) {
    lock_env *env = self;
    if (w->timer != 0) RedisModule_StopTimer(env->ctx, w->timer, NULL);
    w->timer = 0;
}

static void env_reply(void *self, lock_waiter *w, lock_wait_outcome outcome, uint64_t token) {
    lock_env *env = self;
    RedisModule_DictDelC(waiters, &w->handle, sizeof(w->handle), NULL);
    lock_reply *reply = RedisModule_Calloc(1, sizeof(*reply));
    reply->outcome = outcome;
    reply->token = token;
    if (outcome == LOCK_WAIT_GRANTED) {
        reply->db = env->home->db;
        reply->key = RedisModule_CreateStringFromString(NULL, env->home->key);
    } else if (outcome == LOCK_WAIT_TIMED_OUT) {
        stats.wait_timeouts++;
    } else if (outcome == LOCK_WAIT_MOVED) {
        stats.waiters_moved++;
    }
    RedisModule_UnblockClient(w->handle, reply);
}

static const lock_wait_host lock_host_ops = {
    .self = NULL, /* each call gets its own lock_env: see host_for() */
    .grant = env_grant,
    .revoke = env_revoke,
    .arm_queue = env_arm_queue,
    .disarm_queue = env_disarm_queue,
    .arm_waiter = env_arm_waiter,
    .disarm_waiter = env_disarm_waiter,
    .reply = env_reply,
};

static lock_wait_host host_for(lock_env *env) {
    lock_wait_host h = lock_host_ops;
    h.self = env;
    return h;
}

/* Whether this node may write the (empty) key of `home` now. Outside a cluster it always may. In a
 * cluster, the key's slot may have moved (MIGRATE deleted the key here) or be moving: Redis itself
 * decides, as for a client's command, by routing a read of the key (a module call from a timer is
 * checked like a client's, and refused when the slot is another node's or migrating with the key
 * gone). Only this rare path pays for it: a free lock with waiters, seen by a timer. */
static lock_view view_of_free_key(RedisModuleCtx *ctx, lock_home *home, int flags) {
    if (!(flags & REDISMODULE_CTX_FLAGS_CLUSTER)) return LOCK_VIEW_FREE;
    errno = 0;
    RedisModuleCallReply *r = RedisModule_Call(ctx, "EXISTS", "s", home->key);
    if (r != NULL) {
        RedisModule_FreeCallReply(r);
        return LOCK_VIEW_FREE;
    }
    return errno == EPERM ? LOCK_VIEW_MOVED : LOCK_VIEW_PAUSED; /* ENETDOWN, EROFS: the cluster is down */
}

/* What a timer finds at the key of `home`: the key is left open in env->key (NULL when not opened). */
static lock_view view_for_timer(lock_env *env, int64_t *lease_end, uint64_t *token) {
    RedisModuleCtx *ctx = env->ctx;
    int flags = RedisModule_GetContextFlags(ctx);
    env->key = NULL;
    if (flags & REDISMODULE_CTX_FLAGS_SLAVE) return LOCK_VIEW_REPLICA;
    /* CLIENT PAUSE WRITE (failover, shutdown): writing now would crash 7.0. */
    if (RedisModule_AvoidReplicaTraffic()) return LOCK_VIEW_PAUSED;
    RedisModule_SelectDb(ctx, env->home->db);
    void *held;
    sg_key_status status = sg_open_key(ctx, env->home->key, REDISMODULE_READ | REDISMODULE_WRITE, lock_type,
                                       &env->key, &held);
    if (status == SG_KEY_WRONGTYPE) return LOCK_VIEW_OTHER;
    if (status == SG_KEY_OK) {
        long long expire = RedisModule_GetAbsExpire(env->key);
        *lease_end = expire == REDISMODULE_NO_EXPIRE ? INT64_MAX : expire;
        *token = ((const lock_record *)held)->token;
        return LOCK_VIEW_HELD;
    }
    return view_of_free_key(ctx, env->home, flags);
}

static void env_close(lock_env *env) {
    if (env->key != NULL) RedisModule_CloseKey(env->key);
    env->key = NULL;
}

/* The lease of a lock with waiters may have ended, or the lock was freed elsewhere: the core hands
 * it over, or waits for the new deadline. */
static void queue_timer_fired(RedisModuleCtx *ctx, void *data) {
    lock_home *home = data;
    home->queue.timer = 0;
    lock_env env = {.ctx = ctx, .home = home, .now_us = sg_unix_now_us()};
    env.now_ms = sg_ms_of(env.now_us);
    int64_t lease_end = 0;
    uint64_t token = 0;
    lock_view view = view_for_timer(&env, &lease_end, &token);
    lock_wait_host h = host_for(&env);
    lock_wait_queue_due(&h, &home->queue, env.now_ms, view, lease_end);
    env_close(&env);
    home_release_if_idle(ctx, home);
}

/* A waiter's WAIT may have ended. */
static void waiter_timer_fired(RedisModuleCtx *ctx, void *data) {
    lock_waiter *w = data;
    w->timer = 0;
    lock_home *home = w->home;
    lock_env env = {.ctx = ctx, .home = home, .now_us = sg_unix_now_us()};
    env.now_ms = sg_ms_of(env.now_us);
    lock_wait_host h = host_for(&env);
    lock_wait_waiter_due(&h, &home->queue, w, env.now_ms);
    home_release_if_idle(ctx, home);
}

/* A grant whose reply never reached its client (it went away in the same event-loop turn): taken
 * back if the lock still holds it, so that nobody holds a lock without knowing. */
static void revoke_timer_fired(RedisModuleCtx *ctx, void *data) {
    lock_reply *grant = data;
    lock_env env = {.ctx = ctx, .now_us = sg_unix_now_us()};
    env.now_ms = sg_ms_of(env.now_us);
    int flags = RedisModule_GetContextFlags(ctx);
    if (flags & REDISMODULE_CTX_FLAGS_SLAVE) goto done; /* the master decides */
    if (RedisModule_AvoidReplicaTraffic()) {
        sg_timer_at(ctx, env.now_ms + LOCK_RECHECK_PAUSED_MS, env.now_ms, revoke_timer_fired, grant);
        return;
    }
    RedisModule_SelectDb(ctx, grant->db);
    void *held;
    sg_key_status status = sg_open_key(ctx, grant->key, REDISMODULE_READ | REDISMODULE_WRITE, lock_type, &env.key, &held);
    lock_view view = status == SG_KEY_OK ? LOCK_VIEW_HELD : status == SG_KEY_EMPTY ? LOCK_VIEW_FREE : LOCK_VIEW_OTHER;
    uint64_t held_token = status == SG_KEY_OK ? ((const lock_record *)held)->token : 0;
    env.home = home_find(grant->db, grant->key);
    lock_wait_host h = host_for(&env);
    if (lock_wait_grant_undelivered(&h, env.home ? &env.home->queue : NULL, env.now_ms, grant->token, view,
                                    held_token)) {
        RedisModule_Replicate(ctx, "DEL", "s", grant->key);
        lock_changed(ctx, grant->key, "lock.release");
    }
    env_close(&env);
done:
    RedisModule_FreeString(NULL, grant->key);
    RedisModule_Free(grant);
}

/* ---- LOCK.ACQUIRE key owner ttl [WAIT timeout] [REENTRANT] ------------------------------------ */
static int reply_to_waiter(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    lock_reply *reply = RedisModule_GetBlockedClientPrivateData(ctx);
    reply->delivered = 1;
    switch (reply->outcome) {
    case LOCK_WAIT_GRANTED:
        return RedisModule_ReplyWithLongLong(ctx, (long long)reply->token);
    case LOCK_WAIT_NO_TOKEN:
        return RedisModule_ReplyWithError(ctx, SG_ERR_TOKENS_EXHAUSTED);
    case LOCK_WAIT_MOVED:
        return RedisModule_ReplyWithError(ctx, "TRYAGAIN the lock's key left this node while waiting; retry");
    case LOCK_WAIT_TIMED_OUT:
        break;
    }
    return RedisModule_ReplyWithNull(ctx);
}

/* After the reply (or instead of it, when the client went away first). */
static void free_reply(RedisModuleCtx *ctx, void *privdata) {
    (void)ctx;
    lock_reply *reply = privdata;
    if (reply->outcome == LOCK_WAIT_GRANTED && !reply->delivered) {
        /* Nobody was told of this grant: take it back on the next turn (no key can be written here,
         * in the middle of Redis's handling of blocked clients). */
        long long now_ms = sg_ms_of(sg_unix_now_us());
        sg_timer_at(timer_ctx, now_ms, now_ms, revoke_timer_fired, reply);
        return;
    }
    if (reply->key) RedisModule_FreeString(NULL, reply->key);
    RedisModule_Free(reply);
}

/* The waiter's client went away (disconnection, or Redis unblocked it: a master turning replica). */
static void waiter_disconnected(RedisModuleCtx *ctx, RedisModuleBlockedClient *bc) {
    lock_waiter *w = RedisModule_DictGetC(waiters, &bc, sizeof(bc), NULL);
    if (w == NULL) return; /* already answered: its reply is on the way (or undelivered, then revoked) */
    RedisModule_DictDelC(waiters, &bc, sizeof(bc), NULL);
    lock_home *home = w->home;
    lock_env env = {.ctx = ctx, .home = home, .now_us = sg_unix_now_us()};
    env.now_ms = sg_ms_of(env.now_us);
    lock_wait_host h = host_for(&env);
    lock_wait_leave(&h, &home->queue, w);
    stats.waiters_left++;
    home_release_if_idle(ctx, home);
    RedisModule_UnblockClient(bc, NULL); /* releases the handle; no reply is sent through it */
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
     * belongs to the first of them still waiting: nobody cuts in. */
    if (held == NULL && home != NULL && home->queue.count > 0) {
        lock_env env = {.ctx = ctx, .key = key, .home = home, .now_us = now_us, .now_ms = now_ms};
        lock_wait_host h = host_for(&env);
        if (lock_wait_hand_over(&h, &home->queue, now_ms) != 0) held = RedisModule_ModuleTypeGetValue(key);
    }

    switch (lock_decide_acquire(held, owner, len, reentrant, home ? home->queue.count : 0)) {
    case LOCK_GRANT: {
        const lock_record *r = grant_new(ctx, key, argv[1], argv[2], owner, len, ttl_ms, now_us);
        RedisModule_CloseKey(key);
        if (home != NULL) home_release_if_idle(ctx, home);
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
    long long expire = RedisModule_GetAbsExpire(key);
    int64_t lease_end = expire == REDISMODULE_NO_EXPIRE ? INT64_MAX : expire;
    RedisModule_CloseKey(key);
    stats.busy++;
    int flags = RedisModule_GetContextFlags(ctx);
    if (timeout_ms == 0 || (flags & (REDISMODULE_CTX_FLAGS_MULTI | REDISMODULE_CTX_FLAGS_LUA |
                                     REDISMODULE_CTX_FLAGS_DENY_BLOCKING)))
        return RedisModule_ReplyWithNull(ctx);

    /* No Redis timeout and no timeout callback: the WAIT deadline is the core's (see above). */
    RedisModuleBlockedClient *bc = RedisModule_BlockClient(ctx, reply_to_waiter, NULL, free_reply, 0);
    lock_waiter *w = lock_waiter_new(owner, len, ttl_ms, reentrant, bc);
    home = home_get_or_create(db, argv[1]);
    w->home = home;
    RedisModule_DictSetC(waiters, &w->handle, sizeof(w->handle), w);
    RedisModule_SetDisconnectCallback(bc, waiter_disconnected);
    lock_env env = {.ctx = ctx, .home = home, .now_us = now_us, .now_ms = now_ms};
    lock_wait_host h = host_for(&env);
    lock_wait_enqueue(&h, &home->queue, w, now_ms, timeout_ms, lease_end);
    stats.waited++;
    return REDISMODULE_OK;
}

/* ---- the lock changed outside the LOCK commands ------------------------------------------------ */
/* DEL, UNLINK, RENAME, MOVE, MIGRATE, expiry (also of a lease shortened with PEXPIRE), eviction,
 * FLUSHDB and SWAPDB can free a lock that has waiters; Redis 7.0 wakes no module waiter for that.
 * Rather than leave them until the old lease's timer, the queue looks again on the next event-loop
 * turn: its timer does the checking, and with it the CLIENT PAUSE, replica and cluster-slot rules.
 * Nothing is written here. Deletions arrive through the lock type's unlink callback, so other keys
 * pay nothing (a keyspace subscription would tax every SET EX and DEL in the server: +8%
 * instructions for SET NX PX). */
static void home_look_again_soon(RedisModuleCtx *ctx, lock_home *home) {
    lock_env env = {.ctx = ctx, .home = home, .now_us = sg_unix_now_us()};
    env.now_ms = sg_ms_of(env.now_us);
    lock_wait_host h = host_for(&env);
    lock_wait_look_again(&h, &home->queue, env.now_ms);
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
    /* Straight to the first waiter still waiting: its LOCK.GRANT replaces this record. Without one
     * (or without a token to give), the lock is deleted. */
    uint64_t handed = 0;
    if (home != NULL && home->queue.count > 0) {
        lock_env env = {.ctx = ctx, .key = key, .home = home, .now_us = sg_unix_now_us()};
        env.now_ms = sg_ms_of(env.now_us);
        lock_wait_host h = host_for(&env);
        handed = lock_wait_hand_over(&h, &home->queue, env.now_ms);
    }
    if (handed == 0) {
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
    /* A client may not push the token clock more than a bounded distance ahead (a master or the AOF
     * is obeyed; the clock then stops at the bound). */
    if (sg_from_client(ctx) && !sg_token_acceptable((uint64_t)token))
        return RedisModule_ReplyWithError(ctx, SG_ERR_TOKEN_AHEAD);
    lock_record *held;
    RedisModuleKey *key;
    if (open_lock(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key, &held) != REDISMODULE_OK) return REDISMODULE_OK;
    lock_record *r = lock_record_new(owner, len, (uint64_t)token, deadline, (uint32_t)holds);
    RedisModule_ModuleTypeSetValue(key, lock_type, r);
    RedisModule_SetAbsExpire(key, deadline);
    sg_token_observe((uint64_t)token, "LOCK.GRANT");
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
    if (!RedisModule_IsIOError(rdb) && owner != NULL && lock_record_valid_fields(len, token, holds) &&
        sg_token_loaded(rdb, token, "a lock being loaded")) {
        r = lock_record_new(owner, len, token, deadline < 1 ? 1 : deadline, (uint32_t)holds);
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
    sg_token_observe(last, "the RDB file's token clock");
    return REDISMODULE_OK;
}

static void lock_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) {
    const lock_record *r = value;
    RedisModule_EmitAOF(aof, "LOCK.GRANT", "sblll", key, r->owner, (size_t)r->owner_len, (long long)r->token,
                        (long long)r->deadline_ms, (long long)r->holds); /* holds always: a rewrite is rare */
    /* LOCK.GRANT gives the key the record's deadline as its expiry, but the key's expiry may have
     * changed since (PERSIST, PEXPIREAT, RESTORE): Redis writes a PEXPIREAT after this when the key
     * has an expiry, and nothing when it has none, so the expiry is cleared here first. */
    RedisModule_EmitAOF(aof, "PERSIST", "s", key);
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
        {"lock_waiters_moved", stats.waiters_moved},
        {"lock_grants_revoked", stats.grants_revoked},
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
