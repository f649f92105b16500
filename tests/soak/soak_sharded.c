/* soak_sharded.c -- the soak's sharded counters: DECR and TAKE in MULTI with SUM (nil or short
 * only when sold out), and a ledger of units taken from the replies that SUM must balance. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#include "soak.h"

/* The first group sells out early (its "sold out" paths run), the others last the whole run. */
const long long soak_shard_totals[SOAK_SHARD_GROUPS] = {400, 20000, 1000000000};

/* The keys of one shard group, spliced into a command's text (where hiredis splits on spaces). */
static void shard_keys(char *out, size_t n, int g)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < SOAK_SHARDS_PER_GROUP && used < n; i++) {
        used += (size_t)snprintf(out + used, n - used, "%ssoak:stock:{g%d}:%d", i ? " " : "", g, i);
    }
}

void soak_sharded_create(redisContext *c)
{
    char keys[256];
    for (int g = 0; g < SOAK_SHARD_GROUPS; g++) {
        shard_keys(keys, sizeof(keys), g);
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "SHARDED.INIT %lld %s", soak_shard_totals[g], keys);
        redisReply *r = redisCommand(c, cmd);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 1) soak_violation("%s failed", cmd);
        if (r != NULL) freeReplyObject(r);
    }
}

static void ledger_send(soak_shard_ledger *ledger, long long most)
{
    pthread_mutex_lock(&ledger->mutex);
    ledger->inflight += most;
    pthread_mutex_unlock(&ledger->mutex);
}

/* The reply came (taken >= 0) or was lost (taken < 0: up to `most` may have been taken). */
static void ledger_answer(soak_shard_ledger *ledger, long long most, long long taken)
{
    pthread_mutex_lock(&ledger->mutex);
    ledger->inflight -= most;
    if (taken >= 0) ledger->taken += taken;
    else ledger->uncertain += most;
    pthread_mutex_unlock(&ledger->mutex);
}

static void ledger_read(soak_shard_ledger *ledger, long long *taken, long long *open)
{
    pthread_mutex_lock(&ledger->mutex);
    *taken = ledger->taken;
    *open = ledger->inflight + ledger->uncertain;
    pthread_mutex_unlock(&ledger->mutex);
}

/* SHARDED.DECR or TAKE with SHARDED.SUM in one transaction: "sold out" only when it is. */
static void sharded_take(soak_worker *w, int g, const char *keys, long long count)
{
    soak_shard_ledger *ledger = &soak.shards[g];
    if (!soak_client_ready(&w->client)) return;
    char cmd[400], sum[400];
    if (count == 0) snprintf(cmd, sizeof(cmd), "SHARDED.DECR %s", keys);
    else snprintf(cmd, sizeof(cmd), "SHARDED.TAKE %lld %s", count, keys);
    snprintf(sum, sizeof(sum), "SHARDED.SUM %s", keys);
    long long most = count == 0 ? 1 : count;
    ledger_send(ledger, most);
    redisAppendCommand(w->client.c, "MULTI");
    redisAppendCommand(w->client.c, cmd);
    redisAppendCommand(w->client.c, sum);
    soak_outcome out;
    redisReply *r = soak_exec(&w->client, &out, 2);
    if (out != SOAK_REPLIED) {
        ledger_answer(ledger, most, out == SOAK_NOT_DONE ? 0 : -1);
        return;
    }
    char got[200];
    sg_describe_reply(r, got, sizeof(got));
    long long taken = 0;
    if (soak_check(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_INTEGER,
                   "%s in MULTI: got %s", cmd, got)) {
        const redisReply *took = r->element[0];
        long long left = r->element[1]->integer;
        if (count == 0 && took->type == REDIS_REPLY_NIL) {
            soak_check(left == 0, "%s answered nil (sold out) with %lld units left", cmd, left);
        } else if (count == 0) {
            if (soak_check(took->type == REDIS_REPLY_ARRAY && took->elements == 2 &&
                               took->element[0]->integer >= 0 && took->element[0]->integer < SOAK_SHARDS_PER_GROUP &&
                               took->element[1]->integer >= 0,
                           "%s: not an index and a value of at least 0", cmd)) {
                taken = 1;
            }
        } else if (soak_check(took->type == REDIS_REPLY_INTEGER && took->integer >= 0 && took->integer <= count,
                              "%s: took %lld", cmd, took->integer)) {
            taken = took->integer;
            soak_check(taken == count || left == 0, "%s took %lld of %lld with %lld units left", cmd, taken, count,
                       left);
        }
        soak_check(left >= 0, "%s: %lld units left", cmd, left);
    }
    ledger_answer(ledger, most, taken);
    freeReplyObject(r);
}

/* The units left against the ledger: total - taken - open <= left <= total - taken. */
static void check_shard_ledger(soak_client *cl, int g, int final)
{
    char keys[256];
    shard_keys(keys, sizeof(keys), g);
    long long taken_before, open_before, taken_after, open_after;
    if (!soak_client_ready(cl)) return;
    int current = soak_client_current(cl);
    ledger_read(&soak.shards[g], &taken_before, &open_before);
    soak_outcome out;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "SHARDED.SUM %s", keys);
    redisReply *r = soak_command(cl, &out, cmd);
    if (out != SOAK_REPLIED) return;
    ledger_read(&soak.shards[g], &taken_after, &open_after);
    current = current && soak_client_current(cl);
    if (soak_check(r->type == REDIS_REPLY_INTEGER, "%s: not an integer", cmd) && current) {
        long long left = r->integer, total = soak_shard_totals[g];
        soak_check(left <= total - taken_before && left >= total - taken_after - open_after,
                   "shard group %d: %lld left of %lld, replies took %lld to %lld, %lld more open", g, left, total,
                   taken_before, taken_after, open_after);
        if (final && open_after == 0) {
            soak_check(left + taken_after == total, "shard group %d at the end: %lld left + %lld taken != %lld", g,
                       left, taken_after, total);
        }
    }
    freeReplyObject(r);
    for (int i = 0; i < SOAK_SHARDS_PER_GROUP; i++) {
        r = soak_command(cl, &out, "GET soak:stock:{g%d}:%d", g, i);
        if (out != SOAK_REPLIED) return;
        soak_check(r->type == REDIS_REPLY_STRING && atoll(r->str) >= 0, "shard soak:stock:{g%d}:%d below 0 or gone", g,
                   i);
        freeReplyObject(r);
    }
}

void soak_sharded_operation(soak_worker *w)
{
    int g = (int)soak_pick(w, SOAK_SHARD_GROUPS);
    char keys[256];
    shard_keys(keys, sizeof(keys), g);
    long long dice = soak_pick(w, 100);
    if (dice < 45) {
        sharded_take(w, g, keys, 0);
    } else if (dice < 85) {
        sharded_take(w, g, keys, soak_between(w, 1, 7));
    } else if (dice < 90) {
        check_shard_ledger(&w->client, g, 0);
    } else if (dice < 94) {
        soak_outcome out;
        redisReply *r = soak_command(&w->client, &out, "SHARDED.INIT 5 soak:stock:{g%d}:0 soak:stock:{g%d}:1", g, g);
        if (out == SOAK_REPLIED) {
            soak_check(r->type == REDIS_REPLY_INTEGER && r->integer == 0, "SHARDED.INIT over a live group %d", g);
            freeReplyObject(r);
        }
    } else if (dice < 96) {
        soak_expect_error(w, SOAK_SHARDED, "ERR invalid count", "SHARDED.TAKE %s %s", "0", "soak:stock:{g0}:0");
    } else if (dice < 97) {
        soak_expect_error(w, SOAK_SHARDED, "NOCOUNTER", "SHARDED.DECR %s %s", "soak:stock:{none}:0", "soak:stock:{none}:1");
    } else if (dice < 98) {
        soak_expect_error(w, SOAK_SHARDED, "WRONGTYPE", "SHARDED.DECR %s %s", SOAK_WRONG_TYPE_KEY, "soak:stock:{0}:1");
    } else {
        soak_expect_error(w, SOAK_SHARDED, "ERR duplicate key", "SHARDED.TAKE 1 %s %s", "soak:stock:{g0}:0",
                     "soak:stock:{g0}:0");
    }
    atomic_fetch_add(&soak.ops[SOAK_SHARDED], 1);
}

void soak_sharded_check(soak_client *cl, int final)
{
    for (int g = 0; g < SOAK_SHARD_GROUPS; g++) check_shard_ledger(cl, g, final);
}
