/* soak_lock.c -- the soak's lock workload: critical sections that write a guarded key through a
 * fencing store and read it back, so two holders at once show; tokens checked to increase. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#include "soak.h"

#define LOCK_MAX_TTL_MS 1500

/* Lua: a store guarded by fencing tokens. It refuses a write whose token is below the last one
 * written, and answers {written, previous value}. */
static const char FENCED_WRITE[] =
    "local v = redis.call('GET', KEYS[1]) "
    "local prev = 0 "
    "if v then prev = tonumber(string.match(v, '^(%d+)')) end "
    "if prev > tonumber(ARGV[1]) then return {0, v} end "
    "redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2]) "
    "return {1, v or ''}";

static void lock_key(char *out, size_t n, int l) { snprintf(out, n, "soak:lock:{l%d}", l); }
static void guard_key(char *out, size_t n, int l) { snprintf(out, n, "soak:guard:{l%d}", l); }

/* One critical section: acquire (maybe waiting), write the guarded key through the fencing store,
 * read it back, maybe extend, release (or let the lease end). While the lease surely runs (its
 * lower bound: sent + ttl, minus the margin), nobody else may write the guarded key. */
static void lock_critical_section(soak_worker *w, int l)
{
    char key[64], guard[64], owner[64];
    lock_key(key, sizeof(key), l);
    guard_key(guard, sizeof(guard), l);
    snprintf(owner, sizeof(owner), "w%d-%lld", w->id, ++w->sequence);
    long long ttl = soak_between(w, 300, LOCK_MAX_TTL_MS);
    int waits = soak_pick(w, 2) == 0;
    soak_outcome out;
    int64_t sent = sg_now_ms();
    redisReply *r = waits ? soak_command(&w->client, &out, "LOCK.ACQUIRE %s %s %lld WAIT %lld", key, owner, ttl,
                                         soak_between(w, 20, 400))
                          : soak_command(&w->client, &out, "LOCK.ACQUIRE %s %s %lld", key, owner, ttl);
    if (out != SOAK_REPLIED) return;
    char got[200];
    sg_describe_reply(r, got, sizeof(got));
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return;
    }
    if (!soak_check(r->type == REDIS_REPLY_INTEGER, "LOCK.ACQUIRE %s %s: got %s", key, owner, got)) {
        freeReplyObject(r);
        return;
    }
    long long token = r->integer;
    freeReplyObject(r);
    soak_check(token > w->last_lock_token, "LOCK.ACQUIRE %s %s: token %lld not above this worker's previous %lld",
               key, owner, token, w->last_lock_token);
    w->last_lock_token = token;
    int64_t held_until = sent + ttl - SOAK_CLOCK_MARGIN_MS;

    if (soak_pick(w, 5) == 0) { /* acquiring again refreshes the lease and keeps the token */
        sent = sg_now_ms();
        r = soak_command(&w->client, &out, "LOCK.ACQUIRE %s %s %lld", key, owner, ttl);
        if (out != SOAK_REPLIED) return;
        if (sg_now_ms() < held_until) {
            sg_describe_reply(r, got, sizeof(got));
            soak_check(r->type == REDIS_REPLY_INTEGER && r->integer == token,
                       "LOCK.ACQUIRE %s by its holder %s (token %lld) while held: got %s", key, owner, token, got);
        }
        if (r->type == REDIS_REPLY_INTEGER && r->integer == token) held_until = sent + ttl - SOAK_CLOCK_MARGIN_MS;
        freeReplyObject(r);
    }

    char token_text[32];
    snprintf(token_text, sizeof(token_text), "%lld", token);
    r = soak_command(&w->client, &out, "EVAL %s 1 %s %s %s", FENCED_WRITE, guard, token_text, owner);
    if (out != SOAK_REPLIED) return;
    int64_t answered = sg_now_ms();
    sg_describe_reply(r, got, sizeof(got));
    if (soak_check(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "fenced write of %s: got %s", guard, got)) {
        if (r->element[0]->integer == 0 && answered < held_until) {
            soak_violation("lock %s: holder %s (token %lld, lease still running) found a later token in %s: \"%s\"",
                           key, owner, token, guard, r->element[1]->str);
        } else {
            atomic_fetch_add(&soak.checks, 1);
        }
    }
    freeReplyObject(r);
    if (soak_pick(w, 2) == 0) sg_sleep_ms((int)soak_pick(w, 4));

    r = soak_command(&w->client, &out, "GET %s", guard);
    if (out != SOAK_REPLIED) return;
    answered = sg_now_ms();
    if (answered < held_until) {
        char expected[128];
        snprintf(expected, sizeof(expected), "%lld %s", token, owner);
        sg_describe_reply(r, got, sizeof(got));
        soak_check(soak_reply_is(r, expected), "lock %s: two holders: %s (token %lld) reads %s in %s", key, owner,
                   token, got, guard);
    }
    freeReplyObject(r);

    if (soak_pick(w, 5) == 0) {
        r = soak_command(&w->client, &out, "LOCK.INFO %s", key);
        if (out != SOAK_REPLIED) return;
        if (sg_now_ms() < held_until) {
            const redisReply *o = soak_map_get(r, "owner");
            soak_check(o != NULL && soak_reply_is(o, owner) && soak_map_integer(r, "token", -1) == token,
                       "LOCK.INFO %s while %s (token %lld) holds it: another owner or token", key, owner, token);
        }
        freeReplyObject(r);
    }
    if (soak_pick(w, 8) == 0) {
        long long ttl2 = soak_between(w, 300, LOCK_MAX_TTL_MS);
        sent = sg_now_ms();
        r = soak_command(&w->client, &out, "LOCK.EXTEND %s %s %lld", key, owner, ttl2);
        if (out != SOAK_REPLIED) return;
        if (sg_now_ms() < held_until) {
            soak_check(r->type == REDIS_REPLY_INTEGER && r->integer == 1, "LOCK.EXTEND %s by its holder %s refused",
                       key, owner);
        }
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) held_until = sent + ttl2 - SOAK_CLOCK_MARGIN_MS;
        freeReplyObject(r);
    }
    if (soak_pick(w, 10) == 0) return; /* walk away: the lease ends by itself and goes to the next waiter */
    r = soak_command(&w->client, &out, "LOCK.RELEASE %s %s", key, owner);
    if (out != SOAK_REPLIED) return;
    sg_describe_reply(r, got, sizeof(got));
    if (sg_now_ms() < held_until) {
        soak_check(r->type == REDIS_REPLY_INTEGER && r->integer == 1, "LOCK.RELEASE %s by its holder %s: got %s", key,
                   owner, got);
    } else {
        soak_check(r->type == REDIS_REPLY_INTEGER && (r->integer == 0 || r->integer == 1),
                   "LOCK.RELEASE %s %s: got %s", key, owner, got);
    }
    freeReplyObject(r);
}

void soak_lock_operation(soak_worker *w)
{
    int l = (int)soak_pick(w, SOAK_LOCKS);
    long long dice = soak_pick(w, 100);
    char key[64];
    lock_key(key, sizeof(key), l);
    if (dice < 85) {
        lock_critical_section(w, l);
    } else if (dice < 95) {
        soak_outcome out;
        redisReply *r = soak_command(&w->client, &out, "LOCK.INFO %s", key);
        if (out == SOAK_REPLIED) {
            soak_check(r->type == REDIS_REPLY_NIL ||
                           (soak_map_integer(r, "ttl", -1) >= 0 &&
                            soak_map_integer(r, "ttl", -1) <= LOCK_MAX_TTL_MS && soak_map_integer(r, "holds", 0) == 1),
                       "LOCK.INFO %s: not nil nor a lease of at most %d ms with one hold", key, LOCK_MAX_TTL_MS);
            freeReplyObject(r);
        }
    } else if (dice < 97) {
        soak_expect_error(w, SOAK_LOCK, "ERR invalid ttl", "LOCK.ACQUIRE %s %s 0", key, "someone");
    } else if (dice < 99) {
        soak_expect_error(w, SOAK_LOCK, "WRONGTYPE", "LOCK.ACQUIRE %s %s 100", SOAK_WRONG_TYPE_KEY, "someone");
    } else {
        soak_expect_error(w, SOAK_LOCK, "ERR", "LOCK.ACQUIRE %s %s 100 WAIT", key, "someone");
    }
    atomic_fetch_add(&soak.ops[SOAK_LOCK], 1);
}

static long long info_number(const char *info, const char *field)
{
    const char *p = strstr(info, field);
    if (p == NULL) return LLONG_MIN;
    return atoll(p + strlen(field));
}

void soak_lock_check(soak_client *cl)
{
    char key[64];
    soak_outcome out;
    /* the locks' tokens first, the token clock after: no token may be ahead of it */
    long long tokens[SOAK_LOCKS];
    redisReply *r;
    for (int l = 0; l < SOAK_LOCKS; l++) {
        lock_key(key, sizeof(key), l);
        r = soak_command(cl, &out, "LOCK.INFO %s", key);
        if (out != SOAK_REPLIED) return;
        tokens[l] = r->type == REDIS_REPLY_NIL ? 0 : soak_map_integer(r, "token", -1);
        if (r->type != REDIS_REPLY_NIL) {
            soak_check(tokens[l] > 0, "LOCK.INFO %s: no token", key);
            soak_check(soak_map_integer(r, "ttl", -1) <= LOCK_MAX_TTL_MS, "LOCK.INFO %s: a lease longer than any given",
                       key);
        }
        freeReplyObject(r);
    }
    int current = soak_client_current(cl);
    r = soak_command(cl, &out, "INFO slotguard");
    if (out != SOAK_REPLIED) return;
    if (!(current && soak_client_current(cl))) { /* a demoted master's clock is no reference */
        freeReplyObject(r);
        return;
    }
    long long last_token = r->type == REDIS_REPLY_STRING ? info_number(r->str, "slotguard_lock_last_token:")
                                                          : LLONG_MIN;
    freeReplyObject(r);
    long long seen = atomic_load(&soak.last_token_seen);
    if (soak_check(last_token != LLONG_MIN, "INFO slotguard has no slotguard_lock_last_token")) {
        soak_check(last_token >= seen, "the token clock went back from %lld to %lld", seen, last_token);
        if (last_token > seen) atomic_store(&soak.last_token_seen, last_token);
        for (int l = 0; l < SOAK_LOCKS; l++) {
            soak_check(tokens[l] <= last_token, "lock %d holds token %lld, the clock was at %lld after", l, tokens[l],
                       last_token);
        }
    }
}
