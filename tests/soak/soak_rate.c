/* soak_rate.c -- the soak's rate limits: throttles and windows from many clients, every allowed
 * call counted against what the limit may allow since the start; RATE.ALL all or nothing. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#include "soak.h"

const soak_throttle_spec soak_throttle_specs[SOAK_THROTTLES] = {{4, 20, 1000}, {9, 50, 500}};
const soak_window_spec soak_window_specs[SOAK_WINDOWS] = {{30, 1000, 0}, {5, 300, 1}};

static void throttle_key(char *out, size_t n, int k) { snprintf(out, n, "soak:tb:{r%d}", k); }
static void window_key(char *out, size_t n, int k) { snprintf(out, n, "soak:win:{r%d}", k); }

/* What a limit may have allowed since the soak started, at most. */
static long long throttle_bound(int k, int64_t now)
{
    const soak_throttle_spec *s = &soak_throttle_specs[k];
    return s->max_burst + 1 + s->count * (now - soak.start_ms) / s->period_ms + 1;
}

static long long window_bound(int k, int64_t now)
{
    const soak_window_spec *s = &soak_window_specs[k];
    return s->quota * ((now - soak.start_ms) / s->period_ms + 2);
}

/* The five integers of a throttle reply; returns 0 allowed, 1 limited, -1 malformed. */
static int check_throttle_reply(int k, const redisReply *r)
{
    const soak_throttle_spec *s = &soak_throttle_specs[k];
    char got[200];
    sg_describe_reply(r, got, sizeof(got));
    if (!soak_check(r->type == REDIS_REPLY_ARRAY && r->elements == 5, "RATE.THROTTLE %d: got %s", k, got)) return -1;
    long long limited = r->element[0]->integer, limit = r->element[1]->integer, remaining = r->element[2]->integer;
    soak_check((limited == 0 || limited == 1) && limit == s->max_burst + 1 && remaining >= 0 && remaining <= limit,
               "RATE.THROTTLE %d: reply %s for a burst of %lld", k, got, s->max_burst + 1);
    return (int)limited;
}

static void count_throttle(int k, long long quantity)
{
    long long allowed = atomic_fetch_add(&soak.throttle_allowed[k], quantity) + quantity;
    int64_t now = sg_now_ms();
    soak_check(allowed <= throttle_bound(k, now), "throttle %d allowed %lld units in %lld ms, at most %lld", k,
               allowed, (long long)(now - soak.start_ms), throttle_bound(k, now));
}

static void count_window(int k)
{
    long long allowed = atomic_fetch_add(&soak.window_allowed[k], 1) + 1;
    int64_t now = sg_now_ms();
    soak_check(allowed <= window_bound(k, now), "window %d allowed %lld calls in %lld ms, at most %lld", k, allowed,
               (long long)(now - soak.start_ms), window_bound(k, now));
}

static void check_window_info(int k, const redisReply *info)
{
    const soak_window_spec *s = &soak_window_specs[k];
    char got[200];
    sg_describe_reply(info, got, sizeof(got));
    if (!soak_check(info->type == REDIS_REPLY_ARRAY && info->elements == 4, "RATE.WINDOW.INFO %d: got %s", k, got)) {
        return;
    }
    long long used = info->element[0]->integer, remaining = info->element[1]->integer;
    long long wait = info->element[3]->integer;
    soak_check(used >= 0 && used <= s->quota && used + remaining == s->quota && wait <= s->period_ms,
               "window %d: info %s for a quota of %lld per %lld ms", k, got, s->quota, s->period_ms);
}

static void rate_window(soak_worker *w, int k)
{
    const soak_window_spec *s = &soak_window_specs[k];
    char key[64];
    window_key(key, sizeof(key), k);
    if (!soak_client_ready(&w->client)) return;
    redisAppendCommand(w->client.c, "MULTI");
    if (s->align) redisAppendCommand(w->client.c, "RATE.WINDOW %s %lld %lld ALIGN MS", key, s->quota, s->period_ms);
    else redisAppendCommand(w->client.c, "RATE.WINDOW %s %lld %lld MS", key, s->quota, s->period_ms);
    redisAppendCommand(w->client.c, "RATE.WINDOW.INFO %s %lld", key, s->quota);
    soak_outcome out;
    redisReply *r = soak_exec(&w->client, &out, 2);
    if (out != SOAK_REPLIED) return;
    char got[200];
    sg_describe_reply(r, got, sizeof(got));
    if (soak_check(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER,
                   "RATE.WINDOW %s in MULTI: got %s", key, got)) {
        long long verdict = r->element[0]->integer;
        const redisReply *info = r->element[1];
        check_window_info(k, info);
        long long used = info->type == REDIS_REPLY_ARRAY && info->elements == 4 ? info->element[0]->integer : -1;
        soak_check((verdict == 1 && used < s->quota) || ((verdict == 2 || verdict == 0) && used == s->quota),
                   "RATE.WINDOW %s answered %lld leaving %lld used of %lld", key, verdict, used, s->quota);
        if (verdict == 1 || verdict == 2) count_window(k);
    }
    freeReplyObject(r);
}

static void rate_all(soak_worker *w)
{
    const soak_throttle_spec *t = &soak_throttle_specs[0];
    const soak_window_spec *s = &soak_window_specs[0];
    char tkey[64], wkey[64];
    throttle_key(tkey, sizeof(tkey), 0);
    window_key(wkey, sizeof(wkey), 0);
    soak_outcome out;
    redisReply *r = soak_command(&w->client, &out, "RATE.ALL 2 %s %s THROTTLE %lld %lld %lld MS WINDOW %lld %lld MS",
                                 tkey, wkey, t->max_burst, t->count, t->period_ms, s->quota, s->period_ms);
    if (out != SOAK_REPLIED) return;
    char got[200];
    sg_describe_reply(r, got, sizeof(got));
    if (soak_check(r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->type == REDIS_REPLY_INTEGER &&
                       r->element[2]->type == REDIS_REPLY_INTEGER,
                   "RATE.ALL: got %s", got)) {
        int limited = check_throttle_reply(0, r->element[1]);
        long long verdict = r->element[2]->integer;
        int all = limited == 0 && (verdict == 1 || verdict == 2);
        soak_check(r->element[0]->integer == all, "RATE.ALL answered %lld with the limits' replies %s",
                   r->element[0]->integer, got);
        if (r->element[0]->integer == 1) {
            count_throttle(0, 1);
            count_window(0);
        }
    }
    freeReplyObject(r);
}

void soak_rate_operation(soak_worker *w)
{
    long long dice = soak_pick(w, 100);
    int k = (int)soak_pick(w, 2);
    char key[64];
    atomic_fetch_add(&soak.ops[SOAK_RATE], 1);
    if (dice < 40) {
        const soak_throttle_spec *s = &soak_throttle_specs[k];
        long long quantity = soak_pick(w, 10) == 0 ? 0 : soak_pick(w, 5) == 0 ? 2 : 1;
        throttle_key(key, sizeof(key), k);
        soak_outcome out;
        redisReply *r = soak_command(&w->client, &out, "RATE.THROTTLE %s %lld %lld %lld %lld MS", key, s->max_burst,
                                     s->count, s->period_ms, quantity);
        if (out != SOAK_REPLIED) return;
        if (check_throttle_reply(k, r) == 0 && quantity > 0) count_throttle(k, quantity);
        freeReplyObject(r);
    } else if (dice < 75) {
        rate_window(w, k);
    } else if (dice < 88) {
        rate_all(w);
    } else if (dice < 95) {
        window_key(key, sizeof(key), k);
        soak_outcome out;
        redisReply *r = soak_command(&w->client, &out, "RATE.WINDOW.INFO %s %lld", key, soak_window_specs[k].quota);
        if (out != SOAK_REPLIED) return;
        check_window_info(k, r);
        freeReplyObject(r);
    } else if (dice < 97) {
        soak_expect_error(w, SOAK_RATE, "ERR invalid", "RATE.THROTTLE %s %s 0 1", "soak:tb:{r0}", "4");
    } else if (dice < 99) {
        soak_expect_error(w, SOAK_RATE, "WRONGTYPE", "RATE.WINDOW %s %s 1000 MS", SOAK_WRONG_TYPE_KEY, "5");
    } else {
        soak_expect_error(w, SOAK_RATE, "ERR invalid numkeys", "RATE.ALL %s %s WINDOW 5 1000", "0", "soak:tb:{r0}");
    }
}

void soak_rate_check(soak_client *cl)
{
    char key[64];
    for (int k = 0; k < SOAK_WINDOWS; k++) {
        window_key(key, sizeof(key), k);
        soak_outcome out;
        redisReply *r = soak_command(cl, &out, "RATE.WINDOW.INFO %s %lld", key, soak_window_specs[k].quota);
        if (out != SOAK_REPLIED) return;
        check_window_info(k, r);
        freeReplyObject(r);
    }
}
