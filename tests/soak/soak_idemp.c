/* soak_idemp.c -- the soak's idempotency workload: concurrent BEGINs on a few keys, the winner
 * completing, aborting or dying; one winner while a record lives, stored responses replayed as
 * stored, IDEMP.SETNX recording once per ttl. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#include "soak.h"

#define IDEMP_MAX_LEASE_MS 1500
#define IDEMP_MAX_TTL_S 3

static void idemp_key(char *out, size_t n, int k) { snprintf(out, n, "soak:idemp:{i%d}", k); }
static void seen_key(char *out, size_t n, int k) { snprintf(out, n, "soak:seen:{i%d}", k); }

static int response_known(soak_idemp_ledger *ledger, const char *response)
{
    for (int i = 0; i < ledger->response_count; i++) {
        if (strcmp(ledger->responses[i], response) == 0) return 1;
    }
    return 0;
}

static void remember_response(soak_idemp_ledger *ledger, const char *response)
{
    if (ledger->response_count == SOAK_RESPONSES_KEPT) {
        memmove(ledger->responses[0], ledger->responses[1], sizeof(ledger->responses[0]) * (SOAK_RESPONSES_KEPT - 1));
        ledger->response_count--;
    }
    snprintf(ledger->responses[ledger->response_count++], sizeof(ledger->responses[0]), "%s", response);
}

/* A BEGIN answered new: no other BEGIN may have won while its record could still live. */
static void idemp_won(soak_idemp_ledger *ledger, const char *key, long long token, int64_t sent, int64_t answered,
                      long long lease)
{
    pthread_mutex_lock(&ledger->mutex);
    if (ledger->holder_active && ledger->holder_sent_ms < sent &&
        answered < ledger->holder_sent_ms + ledger->holder_lease_ms - SOAK_CLOCK_MARGIN_MS) {
        soak_violation("IDEMP.BEGIN %s: token %lld won while token %lld's lease of %lld ms still ran", key, token,
                       ledger->holder_token, ledger->holder_lease_ms);
    } else if (ledger->completed && ledger->completed_sent_ms < sent &&
               answered < ledger->completed_sent_ms + ledger->completed_ttl_ms - SOAK_CLOCK_MARGIN_MS) {
        soak_violation("IDEMP.BEGIN %s: token %lld won while a completed response (ttl %lld ms) still lived", key,
                       token, ledger->completed_ttl_ms);
    } else {
        atomic_fetch_add(&soak.checks, 1);
    }
    ledger->holder_active = 1;
    ledger->holder_token = token;
    ledger->holder_sent_ms = sent;
    ledger->holder_lease_ms = lease;
    ledger->completed = 0;
    pthread_mutex_unlock(&ledger->mutex);
}

static void idemp_process(soak_worker *w, int k, const char *key, long long token, int64_t begun, long long lease)
{
    soak_idemp_ledger *ledger = &soak.idemp[k];
    int64_t held_until = begun + lease - SOAK_CLOCK_MARGIN_MS;
    soak_outcome out;
    char got[200];
    if (soak_pick(w, 2) == 0) sg_sleep_ms((int)soak_pick(w, 5));
    long long dice = soak_pick(w, 10);
    if (dice < 7) {
        char response[64];
        snprintf(response, sizeof(response), "resp:%lld:w%d:%lld", token, w->id, ++w->sequence);
        long long ttl_s = soak_between(w, 1, IDEMP_MAX_TTL_S);
        pthread_mutex_lock(&ledger->mutex);
        remember_response(ledger, response); /* before it is sent: a reader may see it at once */
        if (ledger->holder_token == token) ledger->holder_active = 0;
        pthread_mutex_unlock(&ledger->mutex);
        int64_t sent = sg_now_ms();
        redisReply *r = soak_command(&w->client, &out, "IDEMP.COMPLETE %s %lld %s %lld", key, token, response, ttl_s);
        if (out != SOAK_REPLIED) return;
        sg_describe_reply(r, got, sizeof(got));
        if (sg_now_ms() < held_until) {
            soak_check(r->type == REDIS_REPLY_INTEGER && r->integer == 1,
                       "IDEMP.COMPLETE %s by token %lld within its lease: got %s", key, token, got);
        }
        int stored = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
        if (!stored) return;
        pthread_mutex_lock(&ledger->mutex);
        ledger->completed = 1;
        ledger->completed_sent_ms = sent;
        ledger->completed_ttl_ms = ttl_s * 1000;
        pthread_mutex_unlock(&ledger->mutex);
        if (soak_pick(w, 5) == 0) { /* a retry after a lost reply: stored already, nothing changes */
            r = soak_command(&w->client, &out, "IDEMP.COMPLETE %s %lld %s %lld", key, token, response, ttl_s);
            if (out != SOAK_REPLIED) return;
            if (sg_now_ms() < sent + ttl_s * 1000 - SOAK_CLOCK_MARGIN_MS) {
                sg_describe_reply(r, got, sizeof(got));
                soak_check(r->type == REDIS_REPLY_INTEGER && r->integer == 2,
                           "IDEMP.COMPLETE %s repeated by token %lld: got %s, not 2", key, token, got);
            }
            freeReplyObject(r);
        }
    } else if (dice < 9) {
        pthread_mutex_lock(&ledger->mutex);
        if (ledger->holder_token == token) ledger->holder_active = 0;
        pthread_mutex_unlock(&ledger->mutex);
        redisReply *r = soak_command(&w->client, &out, "IDEMP.ABORT %s %lld", key, token);
        if (out != SOAK_REPLIED) return;
        sg_describe_reply(r, got, sizeof(got));
        if (sg_now_ms() < held_until) {
            soak_check(r->type == REDIS_REPLY_INTEGER && r->integer == 1,
                       "IDEMP.ABORT %s by token %lld within its lease: got %s", key, token, got);
        }
        freeReplyObject(r);
    }
    /* else: the worker "dies"; the lease ends by itself */
}

static void check_idemp_get(const char *key, soak_idemp_ledger *ledger, const redisReply *r)
{
    if (r->type == REDIS_REPLY_NIL) return;
    const redisReply *state = soak_map_get(r, "state");
    long long ttl = soak_map_integer(r, "ttl", -1);
    if (soak_reply_is(state, "in_progress")) {
        soak_check(ttl >= 0 && ttl <= IDEMP_MAX_LEASE_MS, "IDEMP.GET %s: in progress with %lld ms left", key, ttl);
    } else if (soak_check(soak_reply_is(state, "completed"), "IDEMP.GET %s: no state", key)) {
        const redisReply *response = soak_map_get(r, "response");
        soak_check(ttl >= 0 && ttl <= IDEMP_MAX_TTL_S * 1000, "IDEMP.GET %s: completed with %lld ms left", key, ttl);
        pthread_mutex_lock(&ledger->mutex);
        soak_check(response != NULL && response->type == REDIS_REPLY_STRING && response_known(ledger, response->str),
                   "IDEMP.GET %s: a completed response nobody stored", key);
        pthread_mutex_unlock(&ledger->mutex);
    }
}

static void idemp_setnx(soak_worker *w, int k)
{
    char key[64];
    seen_key(key, sizeof(key), k);
    soak_idemp_ledger *ledger = &soak.idemp[k];
    long long ttl_s = soak_between(w, 1, 2);
    soak_outcome out;
    int64_t sent = sg_now_ms();
    redisReply *r = soak_command(&w->client, &out, "IDEMP.SETNX %s %lld", key, ttl_s);
    if (out != SOAK_REPLIED) return;
    int64_t answered = sg_now_ms();
    char got[200];
    sg_describe_reply(r, got, sizeof(got));
    if (soak_check(r->type == REDIS_REPLY_INTEGER && (r->integer == 0 || r->integer == 1), "IDEMP.SETNX %s: got %s",
                   key, got) &&
        r->integer == 1) {
        pthread_mutex_lock(&ledger->mutex);
        if (ledger->setnx_won && ledger->setnx_sent_ms < sent) {
            soak_check(answered >= ledger->setnx_sent_ms + ledger->setnx_ttl_ms - SOAK_CLOCK_MARGIN_MS,
                       "IDEMP.SETNX %s recorded twice within %lld ms", key, ledger->setnx_ttl_ms);
        }
        ledger->setnx_won = 1;
        ledger->setnx_sent_ms = sent;
        ledger->setnx_ttl_ms = ttl_s * 1000;
        pthread_mutex_unlock(&ledger->mutex);
    }
    freeReplyObject(r);
}

void soak_idemp_operation(soak_worker *w)
{
    int k = (int)soak_pick(w, SOAK_IDEMP_KEYS);
    char key[64], fingerprint[32];
    idemp_key(key, sizeof(key), k);
    soak_idemp_ledger *ledger = &soak.idemp[k];
    long long dice = soak_pick(w, 100);
    atomic_fetch_add(&soak.ops[SOAK_IDEMP], 1);
    if (dice < 12) {
        idemp_setnx(w, k);
        return;
    }
    if (dice < 22) {
        soak_outcome out;
        redisReply *r = soak_command(&w->client, &out, "IDEMP.GET %s", key);
        if (out == SOAK_REPLIED) {
            check_idemp_get(key, ledger, r);
            freeReplyObject(r);
        }
        return;
    }
    if (dice < 24) {
        soak_expect_error(w, SOAK_IDEMP, "ERR invalid lease", "IDEMP.BEGIN %s %s 0", key, "fp");
        return;
    }
    if (dice < 26) {
        soak_expect_error(w, SOAK_IDEMP, "WRONGTYPE", "IDEMP.BEGIN %s %s 100", SOAK_WRONG_TYPE_KEY, "fp");
        return;
    }
    /* mostly the request's own fingerprint; sometimes another request reusing the key */
    snprintf(fingerprint, sizeof(fingerprint), dice < 30 ? "other%d" : "fp%d", k);
    long long lease = soak_between(w, 200, IDEMP_MAX_LEASE_MS);
    soak_outcome out;
    int64_t sent = sg_now_ms();
    redisReply *r = soak_command(&w->client, &out, "IDEMP.BEGIN %s %s %lld", key, fingerprint, lease);
    if (out != SOAK_REPLIED) return;
    int64_t answered = sg_now_ms();
    char got[200];
    sg_describe_reply(r, got, sizeof(got));
    if (!soak_check(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "IDEMP.BEGIN %s: got %s", key, got)) {
        freeReplyObject(r);
        return;
    }
    const redisReply *word = r->element[0], *value = r->element[1];
    if (soak_reply_is(word, "new")) {
        int has_token = value->type == REDIS_REPLY_INTEGER;
        long long token = value->integer;
        freeReplyObject(r);
        if (!soak_check(has_token, "IDEMP.BEGIN %s: new without a token", key)) return;
        idemp_won(ledger, key, token, sent, answered, lease);
        idemp_process(w, k, key, token, sent, lease);
        return;
    }
    if (soak_reply_is(word, "in_progress")) {
        soak_check(value->type == REDIS_REPLY_INTEGER && value->integer >= 0 && value->integer <= IDEMP_MAX_LEASE_MS,
                   "IDEMP.BEGIN %s: in_progress with %s", key, got);
    } else if (soak_reply_is(word, "completed")) {
        pthread_mutex_lock(&ledger->mutex);
        soak_check(value->type == REDIS_REPLY_STRING && response_known(ledger, value->str),
                   "IDEMP.BEGIN %s: replayed a response nobody stored: %s", key, got);
        pthread_mutex_unlock(&ledger->mutex);
    } else {
        soak_check(soak_reply_is(word, "mismatch"), "IDEMP.BEGIN %s: unknown reply %s", key, got);
    }
    freeReplyObject(r);
}

void soak_idemp_check(soak_client *cl)
{
    char key[64];
    for (int k = 0; k < SOAK_IDEMP_KEYS; k++) {
        idemp_key(key, sizeof(key), k);
        soak_outcome out;
        redisReply *r = soak_command(cl, &out, "IDEMP.GET %s", key);
        if (out != SOAK_REPLIED) return;
        check_idemp_get(key, &soak.idemp[k], r);
        freeReplyObject(r);
    }
}
