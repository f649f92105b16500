/* enroll_commands.c -- the enrollment family: the trial data type and SLOTS.* / ENROLL* commands.
 *
 * Every handler: check arity, parse every argument, open the key and check its type, call the
 * core (trial.c), reply, and when the trial changed replicate verbatim (every command here is
 * deterministic given the trial), signal the key for WATCH and notify keyspace listeners. */
#include "glue.h"
#include "trial.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRIAL_TYPE_NAME "sg-trial0"
#define NOTRIAL_ERROR "NOTRIAL no trial at this key; create it with SLOTS.INIT"
#define USER_ERROR "ERR invalid user: must be 1 to 512 bytes"
#define MEMBERS_DEFAULT_COUNT 10
#define AOF_BATCH 64 /* users per SLOTS.RESTORE emitted by AOF rewrite */
#define MAX_ARRIVAL (INT64_MAX - 1)

static RedisModuleType *trial_type;

/* Counters by outcome, for INFO slotguard. Process-wide, reset on restart. */
static struct {
    long long trials_created;
    long long enrolled, full, already_enrolled, waitlisted, already_waitlisted;
    long long withdrawn, left_waitlist, cancel_not_found;
    long long promoted, resized;
    long long slots_sent, send_empty, send_repeated, slots_received, receive_repeated;
} stats;

/* ---- argument helpers ------------------------------------------------------------------------ */
static int parse_capacity(RedisModuleCtx *ctx, RedisModuleString *arg, long long *out) {
    return sg_parse_integer(ctx, arg, 0, (long long)TRIAL_MAX_CAPACITY, "capacity", out);
}

static int parse_user(RedisModuleCtx *ctx, RedisModuleString *arg, const char **user, size_t *len) {
    return sg_parse_id(ctx, arg, TRIAL_MAX_USER_LEN, USER_ERROR, user, len);
}

/* Open the trial at argv[1]; replies NOTRIAL/WRONGTYPE (and closes the key) when there is none. */
static trial *open_trial(RedisModuleCtx *ctx, RedisModuleString *name, int mode, RedisModuleKey **key) {
    void *value;
    if (sg_open_key_or_reply(ctx, name, mode, trial_type, NOTRIAL_ERROR, key, &value) != REDISMODULE_OK) return NULL;
    return value;
}

/* The trial changed: replicate the command as it was, invalidate WATCH, tell listeners. */
static void trial_changed(RedisModuleCtx *ctx, RedisModuleString *name, const char *event) {
    RedisModule_ReplicateVerbatim(ctx);
    RedisModule_SignalModifiedKey(ctx, name);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_MODULE, event, name);
}

/* ---- SLOTS.INIT key capacity [WAITLIST max] -------------------------------------------------- */
static int slots_init_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 3) return RedisModule_WrongArity(ctx);
    long long capacity, waitlist_max = 0;
    if (parse_capacity(ctx, argv[2], &capacity) != REDISMODULE_OK) return REDISMODULE_OK;
    if (argc == 5 && sg_arg_is(argv[3], "WAITLIST")) {
        if (sg_parse_integer(ctx, argv[4], 0, (long long)TRIAL_MAX_CAPACITY, "waitlist size", &waitlist_max) !=
            REDISMODULE_OK)
            return REDISMODULE_OK;
    } else if (argc != 3) {
        return RedisModule_ReplyWithError(ctx, "ERR syntax error");
    }

    RedisModuleKey *key;
    void *existing;
    sg_key_status status = sg_open_key(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, trial_type, &key, &existing);
    if (status != SG_KEY_EMPTY) {
        RedisModule_CloseKey(key);
        if (status == SG_KEY_WRONGTYPE) return sg_reply_key_status(ctx, status, NOTRIAL_ERROR);
        return RedisModule_ReplyWithLongLong(ctx, 0); /* a trial is there: leave it untouched */
    }
    trial *t = trial_create((uint64_t)capacity, (uint64_t)waitlist_max);
    RedisModule_ModuleTypeSetValue(key, trial_type, t);
    RedisModule_CloseKey(key);
    stats.trials_created++;
    trial_changed(ctx, argv[1], "slots.init");
    return RedisModule_ReplyWithLongLong(ctx, 1);
}

/* ---- ENROLL key user ------------------------------------------------------------------------- */
static int enroll_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3) return RedisModule_WrongArity(ctx);
    const char *user;
    size_t len;
    if (parse_user(ctx, argv[2], &user, &len) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleKey *key;
    trial *t = open_trial(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key);
    if (t == NULL) return REDISMODULE_OK;

    trial_enroll_result result = trial_enroll(t, user, len, NULL);
    RedisModule_CloseKey(key);
    RedisModule_Assert(result != TRIAL_ENROLL_NO_MEMORY); /* see "Out of memory" in glue.h */
    switch (result) {
    case TRIAL_ENROLL_ENROLLED: stats.enrolled++; break;
    case TRIAL_ENROLL_WAITLISTED: stats.waitlisted++; break;
    case TRIAL_ENROLL_FULL: stats.full++; break;
    case TRIAL_ENROLL_ALREADY_ENROLLED: stats.already_enrolled++; break;
    case TRIAL_ENROLL_ALREADY_WAITLISTED: stats.already_waitlisted++; break;
    case TRIAL_ENROLL_BAD_USER: return RedisModule_ReplyWithError(ctx, USER_ERROR); /* parse_user checked it */
    case TRIAL_ENROLL_NO_MEMORY: break; /* asserted above */
    }
    if (result == TRIAL_ENROLL_ENROLLED || result == TRIAL_ENROLL_WAITLISTED) trial_changed(ctx, argv[1], "enroll");
    return RedisModule_ReplyWithLongLong(ctx, result);
}

/* ---- ENROLL.CANCEL key user ------------------------------------------------------------------ */
static int enroll_cancel_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3) return RedisModule_WrongArity(ctx);
    const char *user;
    size_t len;
    if (parse_user(ctx, argv[2], &user, &len) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleKey *key;
    trial *t = open_trial(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key);
    if (t == NULL) return REDISMODULE_OK;

    uint64_t promoted = 0;
    trial_cancel_result result = trial_cancel(t, user, len, &promoted);
    RedisModule_CloseKey(key);
    if (result == TRIAL_CANCEL_NOT_FOUND) {
        stats.cancel_not_found++;
        return RedisModule_ReplyWithLongLong(ctx, 0);
    }
    if (result == TRIAL_CANCEL_WITHDRAWN) stats.withdrawn++;
    else stats.left_waitlist++;
    sg_stat_add(&stats.promoted, (long long)promoted);
    trial_changed(ctx, argv[1], "enroll.cancel");
    return RedisModule_ReplyWithLongLong(ctx, result == TRIAL_CANCEL_WITHDRAWN ? 1 : 0);
}

/* ---- ENROLL.STATUS key user ------------------------------------------------------------------ */
static int enroll_status_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3) return RedisModule_WrongArity(ctx);
    const char *user;
    size_t len;
    if (parse_user(ctx, argv[2], &user, &len) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleKey *key;
    trial *t = open_trial(ctx, argv[1], REDISMODULE_READ, &key);
    if (t == NULL) return REDISMODULE_OK;

    uint64_t value = 0;
    trial_state state = trial_status(t, user, len, &value);
    RedisModule_CloseKey(key);
    const char *name = state == TRIAL_STATE_ENROLLED ? "enrolled" : state == TRIAL_STATE_WAITLISTED ? "waitlisted" : "none";
    RedisModule_ReplyWithArray(ctx, 2);
    RedisModule_ReplyWithCString(ctx, name);
    return RedisModule_ReplyWithLongLong(ctx, (long long)value);
}

/* ---- SLOTS.INFO key -------------------------------------------------------------------------- */
static int slots_info_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 2) return RedisModule_WrongArity(ctx);
    RedisModuleKey *key;
    void *value;
    sg_key_status status = sg_open_key(ctx, argv[1], REDISMODULE_READ, trial_type, &key, &value);
    RedisModule_CloseKey(key);
    if (status == SG_KEY_EMPTY) return RedisModule_ReplyWithNull(ctx);
    if (status != SG_KEY_OK) return sg_reply_key_status(ctx, status, NOTRIAL_ERROR);
    const trial *t = value;
    const struct { const char *name; uint64_t value; } fields[] = {
        {"capacity", trial_capacity(t)},
        {"remaining", trial_remaining(t)},
        {"enrolled", trial_enrolled_count(t)},
        {"waitlisted", trial_waitlisted_count(t)},
        {"waitlist_max", trial_waitlist_max(t)},
        {"next_arrival", trial_next_ticket(t)},
    };
    size_t n = SG_COUNT(fields);
    RedisModule_ReplyWithArray(ctx, (long)(n * 2));
    for (size_t i = 0; i < n; i++) {
        RedisModule_ReplyWithCString(ctx, fields[i].name);
        RedisModule_ReplyWithLongLong(ctx, (long long)fields[i].value);
    }
    return REDISMODULE_OK;
}

/* ---- SLOTS.RESIZE key capacity --------------------------------------------------------------- */
static int slots_resize_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3) return RedisModule_WrongArity(ctx);
    long long capacity;
    if (parse_capacity(ctx, argv[2], &capacity) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleKey *key;
    trial *t = open_trial(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key);
    if (t == NULL) return REDISMODULE_OK;

    int changed = trial_capacity(t) != (uint64_t)capacity;
    uint64_t promoted = trial_resize(t, (uint64_t)capacity);
    RedisModule_CloseKey(key);
    RedisModule_Assert(promoted != TRIAL_RESIZE_NO_MEMORY); /* see "Out of memory" in glue.h */
    if (changed || promoted) {
        stats.resized++;
        sg_stat_add(&stats.promoted, (long long)promoted);
        trial_changed(ctx, argv[1], "slots.resize");
    }
    return RedisModule_ReplyWithLongLong(ctx, (long long)promoted);
}

/* ---- ENROLL.MEMBERS key cursor [COUNT count] [WITHARRIVALS] ---------------------------------- */
typedef struct members_reply {
    RedisModuleCtx *ctx;
    int with_arrivals;
    long items;
} members_reply;

static int reply_member(const char *user, size_t len, uint64_t ticket, void *arg) {
    members_reply *r = arg;
    RedisModule_ReplyWithStringBuffer(r->ctx, user, len);
    r->items++;
    if (r->with_arrivals) {
        RedisModule_ReplyWithLongLong(r->ctx, (long long)ticket);
        r->items++;
    }
    return 0;
}

static int enroll_members_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 3) return RedisModule_WrongArity(ctx);
    long long cursor, count = MEMBERS_DEFAULT_COUNT;
    int with_arrivals = 0;
    if (RedisModule_StringToLongLong(argv[2], &cursor) != REDISMODULE_OK || cursor < 0)
        return RedisModule_ReplyWithError(ctx, "ERR invalid cursor");
    for (int i = 3; i < argc; i++) {
        if (sg_arg_is(argv[i], "COUNT") && i + 1 < argc) {
            if (sg_parse_integer(ctx, argv[++i], 1, INT64_MAX, "count", &count) != REDISMODULE_OK)
                return REDISMODULE_OK;
        } else if (sg_arg_is(argv[i], "WITHARRIVALS")) {
            with_arrivals = 1;
        } else {
            return RedisModule_ReplyWithError(ctx, "ERR syntax error");
        }
    }
    RedisModuleKey *key;
    trial *t = open_trial(ctx, argv[1], REDISMODULE_READ, &key);
    if (t == NULL) return REDISMODULE_OK;

    /* The next cursor comes first in the reply, so the page is walked twice: once to learn the
     * cursor, once to send the users. Both walks are O(log N + COUNT). */
    members_reply r = {ctx, with_arrivals, 0};
    RedisModule_ReplyWithArray(ctx, 2);
    uint64_t next = trial_scan(t, (uint64_t)cursor, (size_t)count, NULL, NULL);
    char buf[SG_DECIMAL_SIZE];
    RedisModule_ReplyWithStringBuffer(ctx, buf, sg_format_decimal(buf, next));
    RedisModule_ReplyWithArray(ctx, REDISMODULE_POSTPONED_LEN);
    trial_scan(t, (uint64_t)cursor, (size_t)count, reply_member, &r);
    RedisModule_ReplySetArrayLength(ctx, r.items);
    RedisModule_CloseKey(key);
    return REDISMODULE_OK;
}

/* ---- SLOTS.RESTORE key next_arrival [ENROLLED|WAITLISTED arrival user ...] -------------------- */
static int slots_restore_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 3) return RedisModule_WrongArity(ctx);
    long long next_arrival;
    if (sg_parse_integer(ctx, argv[2], 1, INT64_MAX, "next arrival", &next_arrival) != REDISMODULE_OK)
        return REDISMODULE_OK;
    trial_list list = TRIAL_LIST_ENROLLED;
    size_t n = 0;
    if (argc > 3) {
        if (sg_arg_is(argv[3], "ENROLLED")) list = TRIAL_LIST_ENROLLED;
        else if (sg_arg_is(argv[3], "WAITLISTED")) list = TRIAL_LIST_WAITLIST;
        else return RedisModule_ReplyWithError(ctx, "ERR syntax error");
        if (argc < 6 || (argc - 4) % 2 != 0) return RedisModule_ReplyWithError(ctx, "ERR syntax error");
        n = (size_t)(argc - 4) / 2;
    }
    uint64_t *tickets = NULL;
    const char **users = NULL;
    size_t *lens = NULL;
    if (n > 0) {
        tickets = RedisModule_Alloc(n * sizeof(*tickets));
        users = RedisModule_Alloc(n * sizeof(*users));
        lens = RedisModule_Alloc(n * sizeof(*lens));
    }
    int rc = REDISMODULE_OK;
    for (size_t i = 0; i < n && rc == REDISMODULE_OK; i++) {
        long long arrival = 0;
        rc = sg_parse_integer(ctx, argv[4 + 2 * i], 1, MAX_ARRIVAL, "arrival", &arrival);
        if (rc == REDISMODULE_OK) rc = parse_user(ctx, argv[5 + 2 * i], &users[i], &lens[i]);
        tickets[i] = (uint64_t)arrival;
    }
    if (rc == REDISMODULE_OK) {
        RedisModuleKey *key;
        trial *t = open_trial(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key);
        if (t != NULL) {
            size_t failed_at = 0;
            trial_restore_result result = trial_restore(t, list, n, tickets, users, lens, &failed_at);
            RedisModule_Assert(result != TRIAL_RESTORE_NO_MEMORY); /* see "Out of memory" in glue.h */
            if (result == TRIAL_RESTORE_OK) trial_raise_next_ticket(t, (uint64_t)next_arrival);
            RedisModule_CloseKey(key);
            char msg[160];
            switch (result) {
            case TRIAL_RESTORE_OK:
                trial_changed(ctx, argv[1], "slots.restore");
                RedisModule_ReplyWithSimpleString(ctx, "OK");
                break;
            case TRIAL_RESTORE_DUPLICATE:
                snprintf(msg, sizeof(msg), "ERR duplicate user in pair %zu: already in the trial or the batch", failed_at + 1);
                RedisModule_ReplyWithError(ctx, msg);
                break;
            case TRIAL_RESTORE_BAD_TICKET:
                snprintf(msg, sizeof(msg), "ERR invalid arrival in pair %zu: must be above the list's last arrival", failed_at + 1);
                RedisModule_ReplyWithError(ctx, msg);
                break;
            case TRIAL_RESTORE_BAD_USER:
                RedisModule_ReplyWithError(ctx, USER_ERROR);
                break;
            case TRIAL_RESTORE_NO_MEMORY: break; /* asserted above */
            }
        }
    }
    RedisModule_Free(tickets);
    RedisModule_Free(users);
    RedisModule_Free(lens);
    return REDISMODULE_OK;
}

/* ---- moving capacity between the shards of a sharded trial ------------------------------------ */
/* A move takes free slots from one trial (SLOTS.SEND) and adds them to another (SLOTS.RECEIVE): two
 * nodes, two steps. Each step records the move's id in a hash next to its trial (the outbox of the
 * sender, the inbox of the receiver; same hash tag, so one slot) and is applied at most once, so a
 * repeat is harmless. A move cut between its halves has only lost capacity (taken from the sender,
 * not yet given); the outbox entry tells reconcile what to finish. Both commands are deterministic
 * given the keys, so they replicate verbatim. */
#define MOVE_ID_ERROR "ERR invalid move id: must be 1 to 128 bytes"
#define MAX_SHARD_INDEX 1000000

/* Open the hash next to a trial (empty or a hash); replies WRONGTYPE and returns NULL otherwise. */
static RedisModuleKey *open_box(RedisModuleCtx *ctx, RedisModuleString *name) {
    RedisModuleKey *box = RedisModule_OpenKey(ctx, name, REDISMODULE_READ | REDISMODULE_WRITE);
    int type = RedisModule_KeyType(box);
    if (type == REDISMODULE_KEYTYPE_EMPTY || type == REDISMODULE_KEYTYPE_HASH) return box;
    RedisModule_CloseKey(box);
    RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    return NULL;
}

/* The move's entry in a box: "<shard> <amount>". *amount -1 when there is none. */
static void box_entry(RedisModuleKey *box, RedisModuleString *move_id, long long *amount) {
    RedisModuleString *entry = NULL;
    *amount = -1;
    if (RedisModule_KeyType(box) != REDISMODULE_KEYTYPE_HASH) return;
    RedisModule_HashGet(box, REDISMODULE_HASH_NONE, move_id, &entry, NULL);
    if (entry == NULL) return;
    size_t len;
    const char *text = RedisModule_StringPtrLen(entry, &len);
    const char *space = memchr(text, ' ', len);
    /* Present is what counts: an entry someone wrote by hand that says no amount is a move seen
     * with 0 slots, never a move to apply again. */
    long long parsed = space ? strtoll(space + 1, NULL, 10) : 0;
    *amount = parsed > 0 ? parsed : 0;
    RedisModule_FreeString(NULL, entry);
}

static void box_record(RedisModuleKey *box, RedisModuleString *move_id, long long shard, long long amount) {
    char text[48];
    int len = snprintf(text, sizeof(text), "%lld %lld", shard, amount);
    RedisModuleString *entry = RedisModule_CreateString(NULL, text, (size_t)len);
    RedisModule_HashSet(box, REDISMODULE_HASH_NONE, move_id, entry, NULL);
    RedisModule_FreeString(NULL, entry);
}

/* The arguments both halves share: key box move_id shard amount. */
static int parse_move(RedisModuleCtx *ctx, RedisModuleString **argv, const char *what, long long *shard,
                      long long *amount) {
    const char *id;
    size_t id_len;
    if (sg_parse_id(ctx, argv[3], 128, MOVE_ID_ERROR, &id, &id_len) != REDISMODULE_OK) return REDISMODULE_ERR;
    if (sg_parse_integer(ctx, argv[4], 0, MAX_SHARD_INDEX, "shard", shard) != REDISMODULE_OK) return REDISMODULE_ERR;
    return sg_parse_integer(ctx, argv[5], 1, (long long)TRIAL_MAX_CAPACITY, what, amount);
}

static void move_changed(RedisModuleCtx *ctx, RedisModuleString **argv, const char *event) {
    RedisModule_ReplicateVerbatim(ctx);
    RedisModule_SignalModifiedKey(ctx, argv[1]);
    RedisModule_SignalModifiedKey(ctx, argv[2]);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_MODULE, event, argv[1]);
}

/* SLOTS.SEND key outbox move_id to count: gives up to count free slots away. Reply: the slots sent
 * (0 when none is free); the same again for a move id already sent, changing nothing. */
static int slots_send_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 6) return RedisModule_WrongArity(ctx);
    long long to, count;
    if (parse_move(ctx, argv, "count", &to, &count) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleKey *key;
    trial *t = open_trial(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key);
    if (t == NULL) return REDISMODULE_OK;
    RedisModuleKey *outbox = open_box(ctx, argv[2]);
    if (outbox == NULL) {
        RedisModule_CloseKey(key);
        return REDISMODULE_OK;
    }
    long long sent;
    box_entry(outbox, argv[3], &sent);
    if (sent >= 0) {
        stats.send_repeated++;
    } else {
        uint64_t free_slots = trial_remaining(t);
        sent = (long long)(free_slots < (uint64_t)count ? free_slots : (uint64_t)count);
        if (sent > 0) {
            trial_resize(t, trial_capacity(t) - (uint64_t)sent); /* lowering: promotes nobody, needs no memory */
            box_record(outbox, argv[3], to, sent);
            move_changed(ctx, argv, "slots.send");
            sg_stat_add(&stats.slots_sent, sent);
        } else {
            stats.send_empty++;
        }
    }
    RedisModule_CloseKey(outbox);
    RedisModule_CloseKey(key);
    return RedisModule_ReplyWithLongLong(ctx, sent);
}

/* SLOTS.RECEIVE key inbox move_id from amount: adds the slots of a move once. Reply: 1 added, 0 the
 * move id was received before (nothing changes). */
static int slots_receive_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 6) return RedisModule_WrongArity(ctx);
    long long from, amount;
    if (parse_move(ctx, argv, "amount", &from, &amount) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleKey *key;
    trial *t = open_trial(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &key);
    if (t == NULL) return REDISMODULE_OK;
    RedisModuleKey *inbox = open_box(ctx, argv[2]);
    if (inbox == NULL) {
        RedisModule_CloseKey(key);
        return REDISMODULE_OK;
    }
    long long seen;
    box_entry(inbox, argv[3], &seen);
    int reply = 0;
    if (seen >= 0) {
        stats.receive_repeated++;
    } else if ((uint64_t)amount > TRIAL_MAX_CAPACITY - trial_capacity(t)) {
        RedisModule_CloseKey(inbox);
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithError(ctx, "ERR invalid amount: the capacity would pass 9223372036854775807");
    } else {
        uint64_t promoted = trial_resize(t, trial_capacity(t) + (uint64_t)amount);
        RedisModule_Assert(promoted != TRIAL_RESIZE_NO_MEMORY); /* see "Out of memory" in glue.h */
        sg_stat_add(&stats.promoted, (long long)promoted);
        box_record(inbox, argv[3], from, amount);
        move_changed(ctx, argv, "slots.receive");
        sg_stat_add(&stats.slots_received, amount);
        reply = 1;
    }
    RedisModule_CloseKey(inbox);
    RedisModule_CloseKey(key);
    return RedisModule_ReplyWithLongLong(ctx, reply);
}

/* ---- the data type --------------------------------------------------------------------------- */
static void rdb_write_u64(void *io, uint64_t value) { RedisModule_SaveUnsigned(io, value); }
static void rdb_write_bytes(void *io, const char *bytes, size_t len) { RedisModule_SaveStringBuffer(io, bytes, len); }

static int rdb_read_u64(void *io, uint64_t *value) {
    *value = RedisModule_LoadUnsigned(io);
    return RedisModule_IsIOError(io) ? -1 : 0;
}

static int rdb_read_bytes(void *io, char **bytes, size_t *len) {
    *bytes = RedisModule_LoadStringBuffer(io, len);
    if (RedisModule_IsIOError(io) || *bytes == NULL) {
        if (*bytes) RedisModule_Free(*bytes);
        *bytes = NULL;
        return -1;
    }
    return 0;
}

static void *trial_rdb_load(RedisModuleIO *rdb, int encver) {
    trial_reader reader = {rdb_read_u64, rdb_read_bytes, rdb};
    trial *t = trial_load(&reader, encver);
    if (t == NULL) RedisModule_LogIOError(rdb, "warning", "slotguard: trial data is corrupt or of unknown encoding %d", encver);
    return t;
}

static void trial_rdb_save(RedisModuleIO *rdb, void *value) {
    trial_writer writer = {rdb_write_u64, rdb_write_bytes, rdb};
    trial_save(value, &writer);
}

/* AOF rewrite: SLOTS.INIT, then SLOTS.RESTORE batches rebuilding both lists in order. */
typedef struct aof_batch {
    RedisModuleIO *aof;
    RedisModuleString *key;
    const char *list_name;
    long long next_arrival;
    RedisModuleString *args[AOF_BATCH * 2];
    size_t count;
} aof_batch;

static void aof_flush(aof_batch *b) {
    if (b->count == 0) return;
    RedisModule_EmitAOF(b->aof, "SLOTS.RESTORE", "slcv", b->key, b->next_arrival, b->list_name, b->args, b->count);
    for (size_t i = 0; i < b->count; i++) RedisModule_FreeString(NULL, b->args[i]);
    b->count = 0;
}

static int aof_add_user(const char *user, size_t len, uint64_t ticket, void *arg) {
    aof_batch *b = arg;
    b->args[b->count++] = RedisModule_CreateStringFromLongLong(NULL, (long long)ticket);
    b->args[b->count++] = RedisModule_CreateString(NULL, user, len);
    if (b->count == AOF_BATCH * 2) aof_flush(b);
    return 0;
}

static void trial_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) {
    const trial *t = value;
    RedisModule_EmitAOF(aof, "SLOTS.INIT", "slcl", key, (long long)trial_capacity(t), "WAITLIST",
                        (long long)trial_waitlist_max(t));
    aof_batch b = {.aof = aof, .key = key, .next_arrival = (long long)trial_next_ticket(t)};
    b.list_name = "ENROLLED";
    trial_foreach(t, TRIAL_LIST_ENROLLED, aof_add_user, &b);
    aof_flush(&b);
    b.list_name = "WAITLISTED";
    trial_foreach(t, TRIAL_LIST_WAITLIST, aof_add_user, &b);
    aof_flush(&b);
    RedisModule_EmitAOF(aof, "SLOTS.RESTORE", "sl", key, (long long)trial_next_ticket(t));
}

static int digest_user(const char *user, size_t len, uint64_t ticket, void *arg) {
    RedisModuleDigest *md = arg;
    RedisModule_DigestAddLongLong(md, (long long)ticket);
    RedisModule_DigestAddStringBuffer(md, (const char *)user, len);
    RedisModule_DigestEndSequence(md);
    return 0;
}

static void trial_digest(RedisModuleDigest *md, void *value) {
    const trial *t = value;
    RedisModule_DigestAddLongLong(md, (long long)trial_capacity(t));
    RedisModule_DigestAddLongLong(md, (long long)trial_waitlist_max(t));
    RedisModule_DigestAddLongLong(md, (long long)trial_next_ticket(t));
    RedisModule_DigestEndSequence(md);
    RedisModule_DigestAddStringBuffer(md, "enrolled", 8);
    RedisModule_DigestEndSequence(md);
    trial_foreach(t, TRIAL_LIST_ENROLLED, digest_user, md);
    RedisModule_DigestAddStringBuffer(md, "waitlist", 8);
    RedisModule_DigestEndSequence(md);
    trial_foreach(t, TRIAL_LIST_WAITLIST, digest_user, md);
}

static size_t trial_mem_usage(const void *value) { return trial_memory_usage(value); }

static size_t trial_free_effort(RedisModuleString *key, const void *value) {
    (void)key;
    const trial *t = value;
    return (size_t)(trial_enrolled_count(t) + trial_waitlisted_count(t));
}

static void trial_type_free(void *value) { trial_free(value); }

static void *trial_type_copy(RedisModuleString *fromkey, RedisModuleString *tokey, const void *value) {
    (void)fromkey;
    (void)tokey;
    return trial_copy(value);
}

/* ---- registration ---------------------------------------------------------------------------- */


static RedisModuleCommandArg waitlist_block[] = {
    {.name = "waitlist", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "WAITLIST"},
    SG_ARG("max", INTEGER),
    {0}};
static RedisModuleCommandArg init_args[] = {
    SG_KEY_ARG, SG_ARG("capacity", INTEGER),
    {.name = "waitlist", .type = REDISMODULE_ARG_TYPE_BLOCK, .key_spec_index = -1,
     .flags = REDISMODULE_CMD_ARG_OPTIONAL, .subargs = waitlist_block},
    {0}};
static RedisModuleCommandArg key_user_args[] = {SG_KEY_ARG, SG_ARG("user", STRING), {0}};
static RedisModuleCommandArg key_args[] = {SG_KEY_ARG, {0}};
static RedisModuleCommandArg resize_args[] = {SG_KEY_ARG, SG_ARG("capacity", INTEGER), {0}};
static RedisModuleCommandArg members_args[] = {
    SG_KEY_ARG, SG_ARG("cursor", INTEGER),
    {.name = "count", .type = REDISMODULE_ARG_TYPE_INTEGER, .key_spec_index = -1, .token = "COUNT",
     .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {.name = "witharrivals", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1,
     .token = "WITHARRIVALS", .flags = REDISMODULE_CMD_ARG_OPTIONAL},
    {0}};
static RedisModuleCommandArg restore_list_choice[] = {
    {.name = "enrolled", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "ENROLLED"},
    {.name = "waitlisted", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "WAITLISTED"},
    {0}};
static RedisModuleCommandArg restore_pair[] = {SG_ARG("arrival", INTEGER), SG_ARG("user", STRING), {0}};
static RedisModuleCommandArg restore_users[] = {
    {.name = "list", .type = REDISMODULE_ARG_TYPE_ONEOF, .key_spec_index = -1, .subargs = restore_list_choice},
    {.name = "pair", .type = REDISMODULE_ARG_TYPE_BLOCK, .key_spec_index = -1,
     .flags = REDISMODULE_CMD_ARG_MULTIPLE, .subargs = restore_pair},
    {0}};
static RedisModuleCommandArg restore_args[] = {
    SG_KEY_ARG, SG_ARG("next_arrival", INTEGER),
    {.name = "users", .type = REDISMODULE_ARG_TYPE_BLOCK, .key_spec_index = -1,
     .flags = REDISMODULE_CMD_ARG_OPTIONAL, .subargs = restore_users},
    {0}};

/* A trial at 1 and the box next to it at 2. */
static RedisModuleCommandKeySpec spec_move[] = {
    {.flags = REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_UPDATE, .begin_search_type = REDISMODULE_KSPEC_BS_INDEX,
     .bs.index.pos = 1, .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {0, 1, 0}},
    {.flags = REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_INSERT, .begin_search_type = REDISMODULE_KSPEC_BS_INDEX,
     .bs.index.pos = 2, .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {0, 1, 0}},
    {0}};
static RedisModuleCommandArg send_args[] = {
    SG_KEY_ARG, {.name = "outbox", .type = REDISMODULE_ARG_TYPE_KEY, .key_spec_index = 1},
    SG_ARG("move_id", STRING), SG_ARG("to", INTEGER), SG_ARG("count", INTEGER), {0}};
static RedisModuleCommandArg receive_args[] = {
    SG_KEY_ARG, {.name = "inbox", .type = REDISMODULE_ARG_TYPE_KEY, .key_spec_index = 1},
    SG_ARG("move_id", STRING), SG_ARG("from", INTEGER), SG_ARG("amount", INTEGER), {0}};

static const sg_command enroll_commands[] = {
    {"slots.init", slots_init_command, "write deny-oom fast", 1, 1, 1,
     SG_INFO("0.1.0", "Creates a trial with a capacity and an optional waitlist, unless one exists.", "O(1)", -3,
          sg_spec_insert, init_args)},
    {"enroll", enroll_command, "write deny-oom fast", 1, 1, 1,
     SG_INFO("0.1.0", "Enrolls a user if a slot is free: 1 enrolled, 0 full, -1 already enrolled, 2 waitlisted, "
          "-2 already waitlisted.", "O(1)", 3, sg_spec_update, key_user_args)},
    {"enroll.cancel", enroll_cancel_command, "write fast", 1, 1, 1,
     SG_INFO("0.1.0", "Withdraws a user; the slot goes back or to the head of the waitlist.",
             "O(1) amortized; O(log N) at worst, N the users in the trial", 3, sg_spec_delete,
             key_user_args)},
    {"enroll.status", enroll_status_command, "readonly fast", 1, 1, 1,
     SG_INFO("0.1.0", "Tells whether a user is enrolled (with its arrival number), waitlisted (with its position) "
          "or neither.", "O(1) for enrolled users, O(W) for waitlisted users, W the waitlist length", 3,
          sg_spec_read, key_user_args)},
    {"slots.info", slots_info_command, "readonly fast", 1, 1, 1,
     SG_INFO("0.1.0", "Returns a trial's capacity, remaining slots, enrolled and waitlisted counts.", "O(1)", 2,
          sg_spec_read, key_args)},
    {"slots.resize", slots_resize_command, "write deny-oom", 1, 1, 1,
     SG_INFO("0.1.0", "Changes a trial's capacity without dropping enrolled users; raising it promotes waitlisted "
          "users in FIFO order.", "O(P), P the number of users promoted", 3, sg_spec_update, resize_args)},
    {"enroll.members", enroll_members_command, "readonly", 1, 1, 1,
     SG_INFO("0.1.0", "Iterates over enrolled users in arrival order, SCAN-style.", "O(log N + COUNT)", -3,
          sg_spec_read, members_args)},
    {"slots.restore", slots_restore_command, "write deny-oom", 1, 1, 1,
     SG_INFO("0.1.0", "Appends users with their arrival numbers to a trial (used by AOF rewrite).",
          "O(N), N the number of users given", -3, sg_spec_insert, restore_args)},
    {"slots.send", slots_send_command, "write deny-oom", 1, 2, 1,
     SG_INFO("0.4.0", "First half of a capacity move between the shards of a sharded trial: gives up to count "
             "free slots away, once per move id.", "O(1)", 6, spec_move, send_args)},
    {"slots.receive", slots_receive_command, "write deny-oom", 1, 2, 1,
     SG_INFO("0.4.0", "Second half of a capacity move: adds the slots of a move to a trial, once per move id.",
             "O(1)", 6, spec_move, receive_args)},
};

static int enroll_on_load(RedisModuleCtx *ctx) {
    uint64_t seed;
    RedisModule_GetRandomBytes((unsigned char *)&seed, sizeof(seed));
    trial_set_hash_seed(seed);

    RedisModuleTypeMethods methods = {
        .version = REDISMODULE_TYPE_METHOD_VERSION,
        .rdb_load = trial_rdb_load,
        .rdb_save = trial_rdb_save,
        .aof_rewrite = trial_aof_rewrite,
        .mem_usage = trial_mem_usage,
        .digest = trial_digest,
        .free = trial_type_free,
        .free_effort = trial_free_effort,
        .copy = trial_type_copy,
    };
    trial_type = sg_create_type(ctx, TRIAL_TYPE_NAME, TRIAL_ENCODING_VERSION, &methods);
    if (trial_type == NULL) return REDISMODULE_ERR;
    return sg_register_commands(ctx, enroll_commands, SG_COUNT(enroll_commands));
}

static void enroll_info(RedisModuleInfoCtx *ctx) {
    const sg_info_field fields[] = {
        {"trials_created", stats.trials_created},
        {"enroll_enrolled", stats.enrolled},
        {"enroll_waitlisted", stats.waitlisted},
        {"enroll_full", stats.full},
        {"enroll_already_enrolled", stats.already_enrolled},
        {"enroll_already_waitlisted", stats.already_waitlisted},
        {"cancel_withdrawn", stats.withdrawn},
        {"cancel_left_waitlist", stats.left_waitlist},
        {"cancel_not_found", stats.cancel_not_found},
        {"promoted", stats.promoted},
        {"resized", stats.resized},
        {"slots_sent", stats.slots_sent},
        {"slots_send_empty", stats.send_empty},
        {"slots_send_repeated", stats.send_repeated},
        {"slots_received", stats.slots_received},
        {"slots_receive_repeated", stats.receive_repeated},
    };
    sg_info_add_fields(ctx, fields, SG_COUNT(fields));
}

const sg_family enroll_family = {"enroll", enroll_on_load, enroll_info};
