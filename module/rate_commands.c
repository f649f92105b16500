/* rate_commands.c -- the rate-limit family: RATE.THROTTLE (GCRA with redis-cell's CL.THROTTLE
 * arguments and reply), RATE.WINDOW (a fixed-window quota with go-zero's period-limit replies),
 * RATE.WINDOW.INFO, and RATE.ALL (several limits in one all-or-nothing call).
 *
 * A limit's state is a plain string key: for a throttle the theoretical arrival time (ns of Unix
 * time) expiring when the bucket is full again, for a window the count expiring at the window's
 * end. The server's clock is read once per call. Every change is replicated as its effect,
 * `SET key value PXAT <absolute ms>` from the master's clock, never as the command, so a replica
 * or an AOF replay holds exactly the master's state; a refused or peeking call changes and
 * propagates nothing. */
#include "glue.h"
#include "rate.h"

#include <string.h>

#define NOT_STATE_ERROR "ERR the key does not hold a rate limit's state"
#define MAX_PERIOD_S 1000000000LL       /* about 31 years */
#define MAX_PERIOD_MS 1000000000000LL
#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define MAX_LIMITS 64                   /* limits in one RATE.ALL */

static RedisModuleString *pxat_word, *one_word;

static struct {
    long long throttle_allowed, throttle_limited, throttle_peeks;
    long long window_allowed, window_last, window_over;
    long long all_allowed, all_refused;
} stats;

/* ---- one limit: parsing ------------------------------------------------------------------------ */
typedef enum limit_kind { LIMIT_THROTTLE, LIMIT_WINDOW } limit_kind;

typedef struct limit {
    limit_kind kind;
    RedisModuleString *name;
    RedisModuleKey *key;
    int ms;             /* MS: periods and replied times in milliseconds */
    /* throttle */
    rate_gcra gcra;
    int64_t quantity;
    rate_throttle_result throttle;
    /* window */
    int64_t quota, period_ns;
    int align;
    int64_t used, counted, end_ns; /* end_ns: a new window's end, -1 for an open one */
    rate_window_reply window;
} limit;

static int parse_period(RedisModuleCtx *ctx, RedisModuleString *arg, int ms, int64_t *period_ns) {
    long long period;
    if (sg_parse_integer(ctx, arg, 1, ms ? MAX_PERIOD_MS : MAX_PERIOD_S, "period", &period) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    *period_ns = (int64_t)period * (ms ? NS_PER_MS : NS_PER_S);
    return REDISMODULE_OK;
}

/* THROTTLE's numbers from argv[at..]: max_burst count period [quantity] [MS]. *next: the argument
 * after them. A quantity is an argument that is not one of the words that may follow it. */
static int parse_throttle(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int at, limit *l, int *next) {
    if (argc - at < 3) {
        RedisModule_WrongArity(ctx);
        return REDISMODULE_ERR;
    }
    long long max_burst, count, quantity = 1;
    int end = at + 3;
    if (sg_parse_integer(ctx, argv[at], 0, INT64_MAX - 1, "max_burst", &max_burst) != REDISMODULE_OK ||
        sg_parse_integer(ctx, argv[at + 1], 1, INT64_MAX, "count", &count) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    /* The period's unit is known only after the optional words: look ahead for MS. */
    int ms = 0, has_quantity = end < argc && !sg_arg_is(argv[end], "MS") && !sg_arg_is(argv[end], "THROTTLE") &&
                               !sg_arg_is(argv[end], "WINDOW");
    if (has_quantity) {
        if (sg_parse_integer(ctx, argv[end], 0, INT64_MAX, "quantity", &quantity) != REDISMODULE_OK)
            return REDISMODULE_ERR;
        end++;
    }
    if (end < argc && sg_arg_is(argv[end], "MS")) {
        ms = 1;
        end++;
    }
    int64_t period_ns;
    if (parse_period(ctx, argv[at + 2], ms, &period_ns) != REDISMODULE_OK) return REDISMODULE_ERR;
    if (rate_gcra_init(&l->gcra, max_burst, count, period_ns) != 0) {
        RedisModule_ReplyWithError(ctx, "ERR invalid rate: count per period must leave at least 1 ns between units, "
                                        "and the bucket (period / count x (max_burst + 1)) must not exceed 10^18 ns "
                                        "(about 31 years)");
        return REDISMODULE_ERR;
    }
    if (quantity > l->gcra.limit) {
        RedisModule_ReplyWithError(ctx, "ERR invalid quantity: more than max_burst + 1, which no bucket can hold");
        return REDISMODULE_ERR;
    }
    l->kind = LIMIT_THROTTLE;
    l->quantity = quantity;
    l->ms = ms;
    *next = end;
    return REDISMODULE_OK;
}

/* WINDOW's numbers from argv[at..]: quota period [ALIGN] [MS]. */
static int parse_window(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int at, limit *l, int *next) {
    if (argc - at < 2) {
        RedisModule_WrongArity(ctx);
        return REDISMODULE_ERR;
    }
    long long quota;
    if (sg_parse_integer(ctx, argv[at], 1, INT64_MAX, "quota", &quota) != REDISMODULE_OK) return REDISMODULE_ERR;
    int end = at + 2, align = 0, ms = 0;
    for (; end < argc; end++) {
        if (sg_arg_is(argv[end], "ALIGN") && !align) align = 1;
        else if (sg_arg_is(argv[end], "MS") && !ms) ms = 1;
        else break;
    }
    if (parse_period(ctx, argv[at + 1], ms, &l->period_ns) != REDISMODULE_OK) return REDISMODULE_ERR;
    l->kind = LIMIT_WINDOW;
    l->quota = quota;
    l->align = align;
    l->ms = ms;
    *next = end;
    return REDISMODULE_OK;
}

/* ---- one limit: deciding and applying ------------------------------------------------------ */
/* Open the limit's key (empty or a string holding an integer) and read its state. */
static int open_limit(RedisModuleCtx *ctx, limit *l, int64_t *value) {
    l->key = RedisModule_OpenKey(ctx, l->name, REDISMODULE_READ | REDISMODULE_WRITE);
    *value = 0;
    int type = RedisModule_KeyType(l->key);
    if (type == REDISMODULE_KEYTYPE_EMPTY) return REDISMODULE_OK;
    if (type != REDISMODULE_KEYTYPE_STRING) {
        RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
        return REDISMODULE_ERR;
    }
    size_t len;
    const char *text = RedisModule_StringDMA(l->key, &len, REDISMODULE_READ);
    if (rate_parse_state(text, len, value) != 0) {
        RedisModule_ReplyWithError(ctx, NOT_STATE_ERROR);
        return REDISMODULE_ERR;
    }
    return REDISMODULE_OK;
}

/* Decide without changing anything; 1 when the limit allows the call. */
static int decide(RedisModuleCtx *ctx, limit *l, int64_t now_ns, int *allowed) {
    int64_t value;
    if (open_limit(ctx, l, &value) != REDISMODULE_OK) return REDISMODULE_ERR;
    if (l->kind == LIMIT_THROTTLE) {
        if (rate_throttle(&l->gcra, value, now_ns, l->quantity, &l->throttle) != 0) {
            RedisModule_ReplyWithError(ctx, "ERR the rate limit's arithmetic overflows 64 bits");
            return REDISMODULE_ERR;
        }
        *allowed = !l->throttle.limited;
        return REDISMODULE_OK;
    }
    l->used = value;
    /* A new window needs its end; an open one keeps the end its key expires at, unread (counting in
     * it leaves the expiry alone). */
    l->end_ns = -1;
    if (RedisModule_KeyType(l->key) == REDISMODULE_KEYTYPE_EMPTY) {
        l->end_ns = rate_window_end(now_ns, l->period_ns, l->align);
        if (l->end_ns < 0) {
            RedisModule_ReplyWithError(ctx, "ERR the window's end overflows 64 bits");
            return REDISMODULE_ERR;
        }
    }
    l->window = rate_window(l->quota, l->used, 1, &l->counted);
    *allowed = l->window != RATE_WINDOW_OVER;
    return REDISMODULE_OK;
}

/* Write `digits` over the key's string in place: no new object, and the key keeps its expiry. */
static void overwrite_in_place(RedisModuleKey *key, const char *digits, size_t len) {
    size_t old_len;
    char *text = RedisModule_StringDMA(key, &old_len, REDISMODULE_WRITE);
    if (old_len != len) {
        RedisModule_StringTruncate(key, len);
        text = RedisModule_StringDMA(key, &old_len, REDISMODULE_WRITE);
    }
    memcpy(text, digits, len);
}

/* Store the new state expiring at expire_ms (> 0), replicate it as SET key value PXAT ms, signal
 * and notify. */
static void store_state(RedisModuleCtx *ctx, limit *l, int64_t value, int64_t expire_ms) {
    char digits[SG_DECIMAL_SIZE], at[SG_DECIMAL_SIZE];
    size_t len = sg_format_decimal(digits, (uint64_t)value);
    RedisModuleString *state = NULL;
    if (RedisModule_KeyType(l->key) == REDISMODULE_KEYTYPE_EMPTY) {
        state = RedisModule_CreateString(ctx, digits, len);
        RedisModule_StringSet(l->key, state);
    } else {
        overwrite_in_place(l->key, digits, len);
    }
    RedisModule_SetAbsExpire(l->key, expire_ms);
    sg_format_decimal(at, (uint64_t)expire_ms);
    RedisModule_Replicate(ctx, "SET", "sbsc", l->name, digits, len, pxat_word, at);
    if (state) RedisModule_FreeString(ctx, state);
    RedisModule_SignalModifiedKey(ctx, l->name);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_STRING, "set", l->name);
}

/* One more call counted in a window that is open: the count goes up in place and the expiry
 * stays, so the effect is exactly INCRBY key 1 (cheaper to replicate and apply than a SET). */
static void count_in_window(RedisModuleCtx *ctx, limit *l) {
    char digits[SG_DECIMAL_SIZE];
    size_t len = sg_format_decimal(digits, (uint64_t)l->counted);
    overwrite_in_place(l->key, digits, len);
    RedisModule_Replicate(ctx, "INCRBY", "ss", l->name, one_word);
    RedisModule_SignalModifiedKey(ctx, l->name);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_STRING, "incrby", l->name);
}

static void apply(RedisModuleCtx *ctx, limit *l) {
    if (l->kind == LIMIT_THROTTLE) {
        if (!l->throttle.store) return; /* a peek */
        int64_t tat = l->throttle.new_tat;
        store_state(ctx, l, tat, tat / NS_PER_MS + (tat % NS_PER_MS ? 1 : 0)); /* expires once full again */
        return;
    }
    if (RedisModule_KeyType(l->key) != REDISMODULE_KEYTYPE_EMPTY) {
        count_in_window(ctx, l);
        return;
    }
    /* A new window's end in whole ms, rounded down: the window never outlasts its period. */
    store_state(ctx, l, l->counted, l->end_ns / NS_PER_MS);
}

static void count_outcome(const limit *l) {
    if (l->kind == LIMIT_THROTTLE) {
        if (l->quantity == 0) stats.throttle_peeks++;
        else if (l->throttle.limited) stats.throttle_limited++;
        else stats.throttle_allowed++;
    } else if (l->window == RATE_WINDOW_OVER) {
        stats.window_over++;
    } else if (l->window == RATE_WINDOW_LAST) {
        stats.window_last++;
    } else {
        stats.window_allowed++;
    }
}

static void reply_limit(RedisModuleCtx *ctx, const limit *l) {
    if (l->kind == LIMIT_WINDOW) {
        RedisModule_ReplyWithLongLong(ctx, l->window);
        return;
    }
    const rate_throttle_result *r = &l->throttle;
    int64_t unit = l->ms ? NS_PER_MS : NS_PER_S;
    RedisModule_ReplyWithArray(ctx, 5);
    RedisModule_ReplyWithLongLong(ctx, r->limited);
    RedisModule_ReplyWithLongLong(ctx, l->gcra.limit);
    RedisModule_ReplyWithLongLong(ctx, r->remaining);
    RedisModule_ReplyWithLongLong(ctx, r->retry_after < 0 ? -1 : rate_round_up(r->retry_after, unit));
    RedisModule_ReplyWithLongLong(ctx, rate_round_up(r->reset_after, unit));
}

static int64_t now_ns(void) { return (int64_t)sg_unix_now_us() * 1000; }

/* One limit on its own (RATE.THROTTLE, RATE.WINDOW): decide on the clock read now, apply when
 * allowed, reply, close its key. */
static int decide_apply_reply(RedisModuleCtx *ctx, limit *l) {
    int allowed;
    if (decide(ctx, l, now_ns(), &allowed) == REDISMODULE_OK) {
        if (allowed) apply(ctx, l);
        count_outcome(l);
        reply_limit(ctx, l);
    }
    RedisModule_CloseKey(l->key);
    return REDISMODULE_OK;
}

/* ---- RATE.THROTTLE key max_burst count period [quantity] [MS] -------------------------------- */
static int rate_throttle_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 5 || argc > 7) return RedisModule_WrongArity(ctx);
    limit l = {.name = argv[1]};
    int next;
    if (parse_throttle(ctx, argv, argc, 2, &l, &next) != REDISMODULE_OK) return REDISMODULE_OK;
    if (next != argc) return RedisModule_ReplyWithError(ctx, "ERR syntax error");
    return decide_apply_reply(ctx, &l);
}

/* ---- RATE.WINDOW key quota period [ALIGN] [MS] ----------------------------------------------- */
static int rate_window_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 4 || argc > 6) return RedisModule_WrongArity(ctx);
    limit l = {.name = argv[1]};
    int next;
    if (parse_window(ctx, argv, argc, 2, &l, &next) != REDISMODULE_OK) return REDISMODULE_OK;
    if (next != argc) return RedisModule_ReplyWithError(ctx, "ERR syntax error");
    return decide_apply_reply(ctx, &l);
}

/* ---- RATE.WINDOW.INFO key quota -------------------------------------------------------------- */
static int rate_window_info_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3) return RedisModule_WrongArity(ctx);
    long long quota;
    if (sg_parse_integer(ctx, argv[2], 1, INT64_MAX, "quota", &quota) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_READ);
    int type = RedisModule_KeyType(key);
    long long used = 0, end = -1;
    if (type != REDISMODULE_KEYTYPE_EMPTY) {
        if (type != REDISMODULE_KEYTYPE_STRING) {
            RedisModule_CloseKey(key);
            return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
        }
        /* Read through GET semantics (a DMA read would unshare an int-encoded count). */
        RedisModuleCallReply *value = RedisModule_Call(ctx, "GET", "s", argv[1]);
        size_t len = 0;
        const char *text = value ? RedisModule_CallReplyStringPtr(value, &len) : NULL;
        int64_t count = 0;
        int ok = text && rate_parse_state(text, len, &count) == 0; /* as the writing commands read it */
        used = count;
        if (value) RedisModule_FreeCallReply(value);
        long long expire = RedisModule_GetAbsExpire(key);
        end = expire == REDISMODULE_NO_EXPIRE ? -1 : expire;
        if (!ok) {
            RedisModule_CloseKey(key);
            return RedisModule_ReplyWithError(ctx, NOT_STATE_ERROR);
        }
    }
    RedisModule_CloseKey(key);
    /* The end both as a time of the server's clock and as a wait from now (what a client needs
     * without trusting its own clock: the IETF RateLimit header's `t`). */
    long long wait = end < 0 ? -1 : end - sg_ms_of(sg_unix_now_us());
    RedisModule_ReplyWithArray(ctx, 4);
    RedisModule_ReplyWithLongLong(ctx, used);
    RedisModule_ReplyWithLongLong(ctx, used >= quota ? 0 : quota - used);
    RedisModule_ReplyWithLongLong(ctx, end);
    return RedisModule_ReplyWithLongLong(ctx, wait < 0 && end >= 0 ? 0 : wait);
}

/* ---- RATE.ALL numkeys key [key ...] limit [limit ...] ---------------------------------------- */
/* limit: THROTTLE max_burst count period quantity [MS] | WINDOW quota period [ALIGN] [MS], one per
 * key, in the keys' order. All or nothing: when one limit refuses, none changes. */
static int rate_all_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    /* Redis 7.0 routes cluster commands (MOVED, CROSSSLOT) by the legacy key range or this
     * callback, not by key specs: name the numkeys keys, as many as were given. */
    if (RedisModule_IsKeysPositionRequest(ctx)) {
        long long numkeys;
        if (argc >= 3 && RedisModule_StringToLongLong(argv[1], &numkeys) == REDISMODULE_OK && numkeys > 0)
            for (long long i = 0; i < numkeys && 2 + i < argc; i++) RedisModule_KeyAtPos(ctx, (int)(2 + i));
        return REDISMODULE_OK;
    }
    if (argc < 4) return RedisModule_WrongArity(ctx);
    long long numkeys;
    /* A bounded number of limits: each is parsed, opened and replied to. */
    if (sg_parse_integer(ctx, argv[1], 1, MAX_LIMITS, "numkeys", &numkeys) != REDISMODULE_OK) return REDISMODULE_OK;
    if (numkeys > argc - 2) return RedisModule_ReplyWithError(ctx, "ERR numkeys is more than the keys given");
    int n = (int)numkeys;
    if (sg_reply_if_duplicate(ctx, argv + 2, n, "ERR duplicate key: each limit needs a key of its own"))
        return REDISMODULE_OK;
    limit *limits = RedisModule_Calloc((size_t)n, sizeof(*limits));
    int at = 2 + n, rc = REDISMODULE_OK;
    for (int i = 0; i < n && rc == REDISMODULE_OK; i++) {
        limits[i].name = argv[2 + i];
        if (at < argc && sg_arg_is(argv[at], "THROTTLE")) {
            rc = parse_throttle(ctx, argv, argc, at + 1, &limits[i], &at);
        } else if (at < argc && sg_arg_is(argv[at], "WINDOW")) {
            rc = parse_window(ctx, argv, argc, at + 1, &limits[i], &at);
        } else {
            RedisModule_ReplyWithError(ctx, "ERR syntax error: expected one THROTTLE or WINDOW limit per key");
            rc = REDISMODULE_ERR;
        }
    }
    if (rc == REDISMODULE_OK && at != argc) {
        RedisModule_ReplyWithError(ctx, "ERR syntax error: more limits than keys");
        rc = REDISMODULE_ERR;
    }
    int64_t now = now_ns();
    int all_allowed = 1;
    for (int i = 0; i < n && rc == REDISMODULE_OK; i++) {
        int allowed;
        rc = decide(ctx, &limits[i], now, &allowed);
        all_allowed = all_allowed && allowed;
    }
    if (rc == REDISMODULE_OK) {
        /* Several effects: Redis wraps them in MULTI/EXEC for the replicas and the AOF. */
        if (all_allowed)
            for (int i = 0; i < n; i++) apply(ctx, &limits[i]);
        if (all_allowed) stats.all_allowed++;
        else stats.all_refused++;
        RedisModule_ReplyWithArray(ctx, n + 1);
        RedisModule_ReplyWithLongLong(ctx, all_allowed);
        /* Each limit replies what it would have answered alone; the first element says whether
         * anything was consumed. */
        for (int i = 0; i < n; i++) reply_limit(ctx, &limits[i]);
    }
    for (int i = 0; i < n; i++)
        if (limits[i].key) RedisModule_CloseKey(limits[i].key);
    RedisModule_Free(limits);
    return REDISMODULE_OK;
}

/* ---- registration ---------------------------------------------------------------------------- */
static RedisModuleCommandKeySpec spec_all[] = {
    {.flags = REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_ACCESS | REDISMODULE_CMD_KEY_UPDATE,
     .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index.pos = 1,
     .find_keys_type = REDISMODULE_KSPEC_FK_KEYNUM, .fk.keynum = {0, 1, 1}},
    {0}};
static RedisModuleCommandKeySpec spec_rate_update[] = SG_KEY_SPEC(REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_ACCESS |
                                                                  REDISMODULE_CMD_KEY_UPDATE);

static RedisModuleCommandArg throttle_args[] = {
    SG_KEY_ARG, SG_ARG("max_burst", INTEGER), SG_ARG("count", INTEGER), SG_ARG("period", INTEGER),
    {.name = "quantity", .type = REDISMODULE_ARG_TYPE_INTEGER, .key_spec_index = -1,
     .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {.name = "ms", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "MS",
     .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {0}};
static RedisModuleCommandArg window_args[] = {
    SG_KEY_ARG, SG_ARG("quota", INTEGER), SG_ARG("period", INTEGER),
    {.name = "align", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "ALIGN",
     .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {.name = "ms", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "MS",
     .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {0}};
static RedisModuleCommandArg window_info_args[] = {SG_KEY_ARG, SG_ARG("quota", INTEGER), {0}};
/* RATE.ALL's limits are documented as two optional, repeatable blocks rather than a oneof of
 * blocks: one level less of nesting keeps COMMAND DOCS within what hiredis 0.14 can parse (7). */
static RedisModuleCommandArg all_throttle[] = {
    SG_ARG("max_burst", INTEGER), SG_ARG("count", INTEGER), SG_ARG("period", INTEGER),
    {.name = "quantity", .type = REDISMODULE_ARG_TYPE_INTEGER, .key_spec_index = -1,
     .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {.name = "ms", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "MS",
     .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {0}};
static RedisModuleCommandArg all_window[] = {
    SG_ARG("quota", INTEGER), SG_ARG("period", INTEGER),
    {.name = "align", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "ALIGN",
     .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {.name = "ms", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "MS",
     .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {0}};
static RedisModuleCommandArg all_args[] = {
    SG_ARG("numkeys", INTEGER),
    {.name = "key", .type = REDISMODULE_ARG_TYPE_KEY, .key_spec_index = 0, .flags = REDISMODULE_CMD_ARG_MULTIPLE},
    {.name = "throttle", .type = REDISMODULE_ARG_TYPE_BLOCK, .key_spec_index = -1, .token = "THROTTLE",
     .flags = REDISMODULE_CMD_ARG_OPTIONAL | REDISMODULE_CMD_ARG_MULTIPLE, .subargs = all_throttle},
    {.name = "window", .type = REDISMODULE_ARG_TYPE_BLOCK, .key_spec_index = -1, .token = "WINDOW",
     .flags = REDISMODULE_CMD_ARG_OPTIONAL | REDISMODULE_CMD_ARG_MULTIPLE, .subargs = all_window},
    {0}};

static const sg_command rate_commands[] = {
    {"rate.throttle", rate_throttle_command, "write deny-oom fast", 1, 1, 1,
     SG_INFO("0.5.0", "GCRA rate limit with CL.THROTTLE's arguments and reply: limited, limit, remaining, "
             "retry_after, reset_after (seconds, or milliseconds and a millisecond period with MS); quantity 0 "
             "peeks.", "O(1)", -5, spec_rate_update, throttle_args)},
    {"rate.window", rate_window_command, "write deny-oom fast", 1, 1, 1,
     SG_INFO("0.5.0", "Fixed-window quota: 1 allowed, 2 allowed and the quota now used up, 0 over quota (nothing "
             "counted); ALIGN aligns windows to whole periods of the clock, MS takes the period in milliseconds.",
             "O(1)", -4, spec_rate_update, window_args)},
    {"rate.window.info", rate_window_info_command, "readonly fast", 1, 1, 1,
     SG_INFO("0.5.0", "A window's count, what is left of the quota, the window's end (Unix ms) and the ms until "
             "then (-1 and -1 when no window is open).", "O(1)",
             3, sg_spec_read, window_info_args)},
    {"rate.all", rate_all_command, "write deny-oom getkeys-api", 0, 0, 0,
     SG_INFO("0.5.0", "Several limits (THROTTLE or WINDOW, one per key, keys in one slot) in one call, all or "
             "nothing: 1 and every limit's reply when all allow, 0 and nothing consumed otherwise.",
             "O(N), N the number of limits", -5, spec_all, all_args)},
};

static int rate_on_load(RedisModuleCtx *ctx) {
    pxat_word = RedisModule_CreateString(NULL, "PXAT", 4);
    one_word = RedisModule_CreateString(NULL, "1", 1);
    return sg_register_commands(ctx, rate_commands, SG_COUNT(rate_commands));
}

static void rate_info(RedisModuleInfoCtx *ctx) {
    const sg_info_field fields[] = {
        {"rate_throttle_allowed", stats.throttle_allowed},
        {"rate_throttle_limited", stats.throttle_limited},
        {"rate_throttle_peeks", stats.throttle_peeks},
        {"rate_window_allowed", stats.window_allowed},
        {"rate_window_last", stats.window_last},
        {"rate_window_over", stats.window_over},
        {"rate_all_allowed", stats.all_allowed},
        {"rate_all_refused", stats.all_refused},
    };
    sg_info_add_fields(ctx, fields, SG_COUNT(fields));
}

const sg_family rate_family = {"rate", rate_on_load, rate_info};
