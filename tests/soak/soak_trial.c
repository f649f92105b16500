/* soak_trial.c -- the soak's enrollment workload: each worker owns its users and knows their
 * state (none, enrolled, waiting, unknown after a lost reply), so every reply is checked against
 * it; ENROLL runs in MULTI with SLOTS.INFO, so the trial it left behind is checked atomically. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#include "soak.h"

const soak_trial_spec soak_trial_specs[SOAK_TRIALS] = {{3, 0}, {8, 4}, {16, 0}, {5, 10}};

static void trial_key(char *out, size_t n, int t) { snprintf(out, n, "soak:trial:{%d}", t); }

void soak_trial_create(redisContext *c)
{
    char key[64];
    for (int t = 0; t < SOAK_TRIALS; t++) {
        trial_key(key, sizeof(key), t);
        redisReply *r = soak_trial_specs[t].waitlist_max > 0
                            ? redisCommand(c, "SLOTS.INIT %s %lld WAITLIST %lld", key, soak_trial_specs[t].capacity,
                                           soak_trial_specs[t].waitlist_max)
                            : redisCommand(c, "SLOTS.INIT %s %lld", key, soak_trial_specs[t].capacity);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 1) soak_violation("SLOTS.INIT %s failed", key);
        if (r != NULL) freeReplyObject(r);
    }
}

/* The invariants of one SLOTS.INFO reply; returns 0 when the reply is not a map. */
static int check_trial_info(const char *key, const redisReply *info, long long *enrolled_out, long long *capacity_out,
                            long long *waitlisted_out)
{
    if (!soak_check(info != NULL && info->type == REDIS_REPLY_ARRAY && info->elements == 12,
                    "trial %s: SLOTS.INFO is not a six-field map", key)) {
        return 0;
    }
    long long capacity = soak_map_integer(info, "capacity", -1);
    long long remaining = soak_map_integer(info, "remaining", -1);
    long long enrolled = soak_map_integer(info, "enrolled", -1);
    long long waitlisted = soak_map_integer(info, "waitlisted", -1);
    long long waitlist_max = soak_map_integer(info, "waitlist_max", -1);
    long long next_arrival = soak_map_integer(info, "next_arrival", -1);
    long long expected_remaining = capacity > enrolled ? capacity - enrolled : 0;
    soak_check(capacity >= 0 && enrolled >= 0 && waitlisted >= 0 && next_arrival >= 1,
               "trial %s: a negative field in SLOTS.INFO", key);
    soak_check(remaining == expected_remaining, "trial %s: remaining %lld, capacity %lld, enrolled %lld", key,
               remaining, capacity, enrolled);
    soak_check(waitlisted <= waitlist_max, "trial %s: %lld waitlisted, room for %lld", key, waitlisted, waitlist_max);
    soak_check(waitlisted == 0 || enrolled >= capacity,
               "trial %s: %lld users wait while %lld of %lld slots are taken", key, waitlisted, enrolled, capacity);
    soak_check(enrolled + waitlisted < next_arrival,
               "trial %s: %lld enrolled + %lld waitlisted but next arrival %lld", key, enrolled, waitlisted,
               next_arrival);
    *enrolled_out = enrolled;
    *capacity_out = capacity;
    *waitlisted_out = waitlisted;
    return 1;
}

static const char *user_state_name(int s)
{
    static const char *const names[] = {"none", "enrolled", "waiting", "unknown"};
    return names[s];
}

static void trial_enroll(soak_worker *w, int t, int u, const char *key, const char *user)
{
    unsigned char *state = &w->users[t][u];
    if (!soak_client_ready(&w->client)) return;
    redisAppendCommand(w->client.c, "MULTI");
    redisAppendCommand(w->client.c, "ENROLL %s %s", key, user);
    redisAppendCommand(w->client.c, "SLOTS.INFO %s", key);
    soak_outcome out;
    redisReply *r = soak_exec(&w->client, &out, 2);
    if (out == SOAK_UNKNOWN) *state = USER_UNKNOWN;
    if (out != SOAK_REPLIED) return;
    char got[200];
    sg_describe_reply(r, got, sizeof(got));
    if (!soak_check(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER,
                    "ENROLL %s %s in MULTI: got %s", key, user, got)) {
        freeReplyObject(r);
        *state = USER_UNKNOWN;
        return;
    }
    long long reply = r->element[0]->integer;
    int has_waitlist = soak_trial_specs[t].waitlist_max > 0;
    int allowed;
    switch (*state) {
    case USER_NONE: allowed = reply == 1 || reply == 0 || (has_waitlist && reply == 2); break;
    case USER_ENROLLED: allowed = reply == -1; break;
    case USER_WAITING: allowed = reply == -2 || reply == -1; break;
    default: allowed = reply == 1 || reply == 0 || reply == -1 || (has_waitlist && (reply == 2 || reply == -2));
    }
    soak_check(allowed, "ENROLL %s %s answered %lld for a user the worker knows as %s", key, user, reply,
               user_state_name(*state));
    if (reply == 1 || reply == -1) *state = USER_ENROLLED;
    else if (reply == 2 || reply == -2) *state = USER_WAITING;
    else if (reply == 0) *state = USER_NONE;
    long long enrolled, capacity, waitlisted;
    if (check_trial_info(key, r->element[1], &enrolled, &capacity, &waitlisted)) {
        if (reply == 1) {
            soak_check(enrolled <= capacity, "ENROLL %s %s enrolled, leaving %lld enrolled for %lld slots", key,
                       user, enrolled, capacity);
        }
        if (reply == 2) {
            soak_check(enrolled >= capacity, "ENROLL %s %s waitlisted with %lld of %lld slots taken", key, user,
                       enrolled, capacity);
        }
        if (reply == 0) {
            soak_check(enrolled >= capacity && waitlisted >= soak_trial_specs[t].waitlist_max,
                       "ENROLL %s %s answered full with %lld of %lld slots and %lld waiting", key, user, enrolled,
                       capacity, waitlisted);
        }
    }
    freeReplyObject(r);
}

static void trial_cancel(soak_worker *w, int t, int u, const char *key, const char *user)
{
    unsigned char *state = &w->users[t][u];
    soak_outcome out;
    redisReply *r = soak_command(&w->client, &out, "ENROLL.CANCEL %s %s", key, user);
    if (out == SOAK_UNKNOWN) *state = USER_UNKNOWN;
    if (out != SOAK_REPLIED) return;
    char got[200];
    sg_describe_reply(r, got, sizeof(got));
    int ok = r->type == REDIS_REPLY_INTEGER &&
             (*state == USER_NONE       ? r->integer == 0
              : *state == USER_ENROLLED ? r->integer == 1
                                        : r->integer == 0 || r->integer == 1);
    soak_check(ok, "ENROLL.CANCEL %s %s answered %s for a user the worker knows as %s", key, user, got,
               user_state_name(*state));
    *state = ok ? USER_NONE : USER_UNKNOWN;
    freeReplyObject(r);
}

static void trial_status(soak_worker *w, int t, int u, const char *key, const char *user)
{
    unsigned char *state = &w->users[t][u];
    soak_outcome out;
    redisReply *r = soak_command(&w->client, &out, "ENROLL.STATUS %s %s", key, user);
    if (out != SOAK_REPLIED) return;
    char got[200];
    sg_describe_reply(r, got, sizeof(got));
    if (!soak_check(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_INTEGER,
                    "ENROLL.STATUS %s %s: got %s", key, user, got)) {
        freeReplyObject(r);
        return;
    }
    long long n = r->element[1]->integer;
    if (soak_reply_is(r->element[0], "enrolled")) {
        soak_check(*state != USER_NONE && n >= 1, "ENROLL.STATUS %s %s: enrolled (arrival %lld), the worker knows %s",
                   key, user, n, user_state_name(*state));
        *state = USER_ENROLLED;
    } else if (soak_reply_is(r->element[0], "waitlisted")) {
        soak_check((*state == USER_WAITING || *state == USER_UNKNOWN) && n >= 1 && n <= soak_trial_specs[t].waitlist_max,
                   "ENROLL.STATUS %s %s: waitlisted at %lld, the worker knows %s", key, user, n,
                   user_state_name(*state));
        *state = USER_WAITING;
    } else {
        soak_check(soak_reply_is(r->element[0], "none") && n == 0 &&
                       (*state == USER_NONE || *state == USER_UNKNOWN),
                   "ENROLL.STATUS %s %s: %s, the worker knows %s", key, user, got, user_state_name(*state));
        *state = USER_NONE;
    }
    freeReplyObject(r);
}

void soak_trial_operation(soak_worker *w)
{
    int t = (int)soak_pick(w, SOAK_TRIALS);
    int u = (int)soak_pick(w, SOAK_USERS_PER_WORKER);
    char key[64], user[64];
    trial_key(key, sizeof(key), t);
    snprintf(user, sizeof(user), "w%d-u%d", w->id, u);
    long long dice = soak_pick(w, 100);
    if (dice < 35) {
        trial_enroll(w, t, u, key, user);
    } else if (dice < 65) {
        trial_cancel(w, t, u, key, user);
    } else if (dice < 88) {
        trial_status(w, t, u, key, user);
    } else if (dice < 93) {
        soak_outcome out;
        redisReply *r = soak_command(&w->client, &out, "SLOTS.INFO %s", key);
        if (out == SOAK_REPLIED) {
            long long e, c, wl;
            check_trial_info(key, r, &e, &c, &wl);
            freeReplyObject(r);
        }
    } else if (dice < 95) {
        /* capacity moves between half and twice the initial: enrolled users may exceed it */
        long long capacity = soak_between(w, soak_trial_specs[t].capacity / 2, soak_trial_specs[t].capacity * 2);
        soak_outcome out;
        redisReply *r = soak_command(&w->client, &out, "SLOTS.RESIZE %s %lld", key, capacity);
        if (out == SOAK_REPLIED) {
            soak_check(r->type == REDIS_REPLY_INTEGER && r->integer >= 0 &&
                           r->integer <= soak_trial_specs[t].waitlist_max,
                       "SLOTS.RESIZE %s %lld: not a count of promoted users", key, capacity);
            freeReplyObject(r);
        }
    } else if (dice < 97) {
        soak_expect_error(w, SOAK_TRIAL, "NOTRIAL", "ENROLL %s %s", "soak:trial:{none}", user);
    } else if (dice < 98) {
        soak_expect_error(w, SOAK_TRIAL, "WRONGTYPE", "ENROLL %s %s", "soak:stock:{g0}:0", user);
    } else {
        soak_expect_error(w, SOAK_TRIAL, "ERR", "SLOTS.RESIZE %s %s", key, "-1");
    }
    atomic_fetch_add(&soak.ops[SOAK_TRIAL], 1);
}

/* The checker's view of a trial: SLOTS.INFO and every member, atomically. */
static void check_trial(soak_client *cl, int t)
{
    char key[64];
    trial_key(key, sizeof(key), t);
    if (!soak_client_ready(cl)) return;
    redisAppendCommand(cl->c, "MULTI");
    redisAppendCommand(cl->c, "SLOTS.INFO %s", key);
    redisAppendCommand(cl->c, "ENROLL.MEMBERS %s 0 COUNT 100000 WITHARRIVALS", key);
    soak_outcome out;
    redisReply *r = soak_exec(cl, &out, 2);
    if (out != SOAK_REPLIED) return;
    long long enrolled, capacity, waitlisted;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        check_trial_info(key, r->element[0], &enrolled, &capacity, &waitlisted)) {
        const redisReply *m = r->element[1];
        if (soak_check(m->type == REDIS_REPLY_ARRAY && m->elements == 2 && soak_reply_is(m->element[0], "0") &&
                           m->element[1]->type == REDIS_REPLY_ARRAY,
                       "ENROLL.MEMBERS %s: not one complete page", key)) {
            const redisReply *list = m->element[1];
            soak_check((long long)list->elements == 2 * enrolled, "trial %s: %zu users listed, %lld enrolled", key,
                       list->elements / 2, enrolled);
            long long previous_arrival = 0;
            for (size_t i = 0; i + 1 < list->elements; i += 2) {
                long long arrival = list->element[i + 1]->integer;
                soak_check(arrival > previous_arrival, "trial %s: arrivals out of order at %s", key,
                           list->element[i]->str);
                previous_arrival = arrival;
                for (size_t j = 0; j < i; j += 2) {
                    soak_check(strcmp(list->element[i]->str, list->element[j]->str) != 0,
                               "trial %s: user %s enrolled twice", key, list->element[i]->str);
                }
            }
        }
    }
    freeReplyObject(r);
}

void soak_trial_check(soak_client *cl)
{
    for (int t = 0; t < SOAK_TRIALS; t++) check_trial(cl, t);
}
