/* raw_commands.c -- the module's commands over hiredis, replies checked: see raw_commands.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "raw_commands.h"

/* ---- locks -------------------------------------------------------------------------------------- */

long long raw_lock_token_or_nil(redisReply *r, const char *what)
{
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("%s: expected a token >= 1 or nil, got %s", what, got);
    }
    long long token = r->integer;
    freeReplyObject(r);
    return token;
}

long long raw_lock_acquire(redisContext *c, const char *key, const char *owner, long long ttl)
{
    return raw_lock_token_or_nil(sg_command(c, "LOCK.ACQUIRE %s %s %lld", key, owner, ttl), "LOCK.ACQUIRE");
}

long long raw_lock_acquire_reentrant(redisContext *c, const char *key, const char *owner, long long ttl)
{
    return raw_lock_token_or_nil(sg_command(c, "LOCK.ACQUIRE %s %s %lld REENTRANT", key, owner, ttl),
                                "LOCK.ACQUIRE REENTRANT");
}

long long raw_lock_release(redisContext *c, const char *key, const char *owner)
{
    return sg_command_integer(c, "LOCK.RELEASE %s %s", key, owner);
}

long long raw_lock_extend(redisContext *c, const char *key, const char *owner, long long ttl)
{
    return sg_command_integer(c, "LOCK.EXTEND %s %s %lld", key, owner, ttl);
}

raw_lock_info raw_lock_info_of_binary(redisContext *c, const char *key, size_t key_len)
{
    raw_lock_info info;
    memset(&info, 0, sizeof(info));
    redisReply *r = redisCommand(c, "LOCK.INFO %b", key, key_len);
    if (r == NULL) fail_msg("LOCK.INFO %.*s: no reply (%s)", (int)key_len, key, c->errstr);
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return info;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("LOCK.INFO: expected nil or a flat field/value array, got %s", got);
    }
    int seen = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *name = r->element[i];
        const redisReply *value = r->element[i + 1];
        if (sg_reply_is_text(name, "owner")) {
            if (value->type != REDIS_REPLY_STRING || value->len > RAW_LOCK_MAX_OWNER_LEN) {
                freeReplyObject(r);
                fail_msg("LOCK.INFO: owner is not a bulk string of at most %d bytes", RAW_LOCK_MAX_OWNER_LEN);
            }
            memcpy(info.owner, value->str, value->len);
            info.owner_len = value->len;
            seen |= 1;
            continue;
        }
        long long *slot = NULL;
        int bit = 0;
        const char *field = name->type == REDIS_REPLY_STRING || name->type == REDIS_REPLY_STATUS ? name->str : "?";
        if (sg_reply_is_text(name, "ttl")) { slot = &info.ttl; bit = 2; }
        else if (sg_reply_is_text(name, "token")) { slot = &info.token; bit = 4; }
        else if (sg_reply_is_text(name, "holds")) { slot = &info.holds; bit = 8; }
        else if (sg_reply_is_text(name, "waiters")) { slot = &info.waiters; bit = 16; }
        if (slot == NULL) continue;
        if (value->type != REDIS_REPLY_INTEGER) {
            freeReplyObject(r);
            fail_msg("LOCK.INFO: field %s is not an integer", field);
        }
        *slot = value->integer;
        seen |= bit;
    }
    freeReplyObject(r);
    if (seen != 31) fail_msg("LOCK.INFO lacks documented fields (owner, ttl, token, holds, waiters; mask 0x%x)", seen);
    info.held = 1;
    return info;
}

raw_lock_info raw_lock_info_of(redisContext *c, const char *key)
{
    return raw_lock_info_of_binary(c, key, strlen(key));
}

void raw_lock_assert_owner(const raw_lock_info *info, const char *owner, size_t len)
{
    assert_true(info->held);
    if (info->owner_len != len || memcmp(info->owner, owner, len) != 0) {
        fail_msg("LOCK.INFO owner is \"%.*s\" (%zu bytes), expected \"%.*s\" (%zu bytes)", (int)info->owner_len,
                 info->owner, info->owner_len, (int)len, owner, len);
    }
}

void raw_lock_assert_held_by(redisContext *c, const char *key, const char *owner)
{
    raw_lock_info info = raw_lock_info_of(c, key);
    if (!info.held) fail_msg("LOCK.INFO %s is nil, expected the lock held by %s", key, owner);
    raw_lock_assert_owner(&info, owner, strlen(owner));
}

void raw_lock_assert_free(redisContext *c, const char *key)
{
    raw_lock_info info = raw_lock_info_of(c, key);
    if (info.held) fail_msg("LOCK.INFO %s: expected nil, the lock is held by \"%s\"", key, info.owner);
}

void raw_lock_wait_for_waiters(redisContext *c, const char *key, long long count)
{
    int64_t deadline = sg_now_ms() + RAW_LOCK_QUEUE_TIMEOUT_MS;
    long long last = -1;
    while (sg_now_ms() < deadline) {
        raw_lock_info info = raw_lock_info_of(c, key);
        if (!info.held) fail_msg("LOCK.INFO %s is nil while waiting for %lld waiters", key, count);
        last = info.waiters;
        if (last == count) return;
        sg_sleep_ms(2);
    }
    fail_msg("LOCK.INFO %s waiters stayed %lld, expected %lld within %d ms", key, last, count,
             RAW_LOCK_QUEUE_TIMEOUT_MS);
}

/* ---- idempotency records ------------------------------------------------------------------------ */

redisReply *raw_idemp_begin_raw(redisContext *c, const char *key, const char *fp, size_t fp_len, long long lease)
{
    redisReply *r = sg_command(c, "IDEMP.BEGIN %s %b %lld", key, fp, fp_len, lease);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        !(sg_reply_is_text(r->element[0], "new") || sg_reply_is_text(r->element[0], "in_progress") ||
          sg_reply_is_text(r->element[0], "completed") || sg_reply_is_text(r->element[0], "mismatch"))) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1) sg_describe_reply(r->element[0], got, sizeof(got));
        freeReplyObject(r);
        fail_msg("IDEMP.BEGIN %s: expected [new|in_progress|completed|mismatch, ...], got %s", key, got);
    }
    return r;
}

void raw_idemp_fail_begin(const char *key, const char *expected, redisReply *r)
{
    char word[64], second[300];
    snprintf(word, sizeof(word), "%.*s", (int)r->element[0]->len, r->element[0]->str);
    sg_describe_reply(r->element[1], second, sizeof(second));
    freeReplyObject(r);
    fail_msg("IDEMP.BEGIN %s: expected %s, got [%s, %s]", key, expected, word, second);
}

long long raw_idemp_begin_new_bin(redisContext *c, const char *key, const char *fp, size_t fp_len, long long lease)
{
    redisReply *r = raw_idemp_begin_raw(c, key, fp, fp_len, lease);
    if (!sg_reply_is_text(r->element[0], "new") || r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->integer < 1) {
        raw_idemp_fail_begin(key, "[new, token >= 1]", r);
    }
    long long token = r->element[1]->integer;
    freeReplyObject(r);
    return token;
}

long long raw_idemp_begin_new(redisContext *c, const char *key, const char *fp, long long lease)
{
    return raw_idemp_begin_new_bin(c, key, fp, strlen(fp), lease);
}

long long raw_idemp_begin_in_progress(redisContext *c, const char *key, const char *fp, long long lease)
{
    redisReply *r = raw_idemp_begin_raw(c, key, fp, strlen(fp), lease);
    if (!sg_reply_is_text(r->element[0], "in_progress") || r->element[1]->type != REDIS_REPLY_INTEGER) {
        raw_idemp_fail_begin(key, "[in_progress, remaining ms]", r);
    }
    long long left = r->element[1]->integer;
    freeReplyObject(r);
    return left;
}

void raw_idemp_begin_completed_bin(redisContext *c, const char *key, const char *fp, size_t fp_len,
                                  const char *response, size_t response_len)
{
    redisReply *r = raw_idemp_begin_raw(c, key, fp, fp_len, 10000);
    if (!sg_reply_is_text(r->element[0], "completed") || !sg_reply_is_bytes(r->element[1], response, response_len)) {
        char expected[300];
        snprintf(expected, sizeof(expected), "[completed, the %zu-byte response]", response_len);
        raw_idemp_fail_begin(key, expected, r);
    }
    freeReplyObject(r);
}

void raw_idemp_begin_completed(redisContext *c, const char *key, const char *fp, const char *response)
{
    raw_idemp_begin_completed_bin(c, key, fp, strlen(fp), response, strlen(response));
}

void raw_idemp_begin_mismatch(redisContext *c, const char *key, const char *fp, const char *record_state)
{
    redisReply *r = raw_idemp_begin_raw(c, key, fp, strlen(fp), 10000);
    if (!sg_reply_is_text(r->element[0], "mismatch") || !sg_reply_is_text(r->element[1], record_state)) {
        char expected[100];
        snprintf(expected, sizeof(expected), "[mismatch, %s]", record_state);
        raw_idemp_fail_begin(key, expected, r);
    }
    freeReplyObject(r);
}

long long raw_idemp_complete_bin(redisContext *c, const char *key, long long token, const char *response,
                                size_t response_len, long long ttl)
{
    return sg_command_integer(c, "IDEMP.COMPLETE %s %lld %b %lld", key, token, response, response_len, ttl);
}

long long raw_idemp_complete(redisContext *c, const char *key, long long token, const char *response, long long ttl)
{
    return raw_idemp_complete_bin(c, key, token, response, strlen(response), ttl);
}

long long raw_idemp_abort(redisContext *c, const char *key, long long token)
{
    return sg_command_integer(c, "IDEMP.ABORT %s %lld", key, token);
}

void raw_idemp_record_free(raw_idemp_record *v)
{
    free(v->fingerprint);
    free(v->response);
    memset(v, 0, sizeof(*v));
}

static char *copy_bytes(const char *bytes, size_t len)
{
    char *out = malloc(len + 1);
    assert_non_null(out);
    if (len > 0) memcpy(out, bytes, len);
    out[len] = '\0';
    return out;
}

raw_idemp_record raw_idemp_get(redisContext *c, const char *key)
{
    raw_idemp_record v;
    memset(&v, 0, sizeof(v));
    redisReply *r = sg_command(c, "IDEMP.GET %s", key);
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return v;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 10) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("IDEMP.GET %s: expected nil or 10 elements (5 field/value pairs), got %s", key, got);
    }
    int seen = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *field = r->element[i], *value = r->element[i + 1];
        const char *problem = NULL;
        if (sg_reply_is_text(field, "state")) {
            if (!(sg_reply_is_text(value, "in_progress") || sg_reply_is_text(value, "completed"))) problem = "state";
            else snprintf(v.state, sizeof(v.state), "%.*s", (int)value->len, value->str);
            seen |= 1;
        } else if (sg_reply_is_text(field, "fingerprint")) {
            if (value->type != REDIS_REPLY_STRING) problem = "fingerprint";
            else {
                v.fingerprint = copy_bytes(value->str, value->len);
                v.fingerprint_len = value->len;
            }
            seen |= 2;
        } else if (sg_reply_is_text(field, "token")) {
            if (value->type != REDIS_REPLY_INTEGER) problem = "token";
            else v.token = value->integer;
            seen |= 4;
        } else if (sg_reply_is_text(field, "ttl")) {
            if (value->type != REDIS_REPLY_INTEGER) problem = "ttl";
            else v.ttl = value->integer;
            seen |= 8;
        } else if (sg_reply_is_text(field, "response")) {
            if (value->type == REDIS_REPLY_STRING) {
                v.has_response = 1;
                v.response = copy_bytes(value->str, value->len);
                v.response_len = value->len;
            } else if (value->type != REDIS_REPLY_NIL) {
                problem = "response";
            }
            seen |= 16;
        } else {
            problem = "field name";
        }
        if (problem != NULL) {
            char got[300];
            sg_describe_reply(field->type == REDIS_REPLY_STRING && strcmp(problem, "field name") != 0 ? value : field, got,
                     sizeof(got));
            freeReplyObject(r);
            raw_idemp_record_free(&v);
            fail_msg("IDEMP.GET %s: unexpected %s: %s", key, problem, got);
        }
    }
    freeReplyObject(r);
    if (seen != 31) {
        raw_idemp_record_free(&v);
        fail_msg("IDEMP.GET %s: missing one of state, fingerprint, token, ttl, response", key);
    }
    v.present = 1;
    return v;
}

void raw_idemp_assert_record(redisContext *c, const char *key, const char *state, const char *fp, size_t fp_len,
                            long long token, long long min_ttl, long long max_ttl, const char *response,
                            size_t response_len)
{
    raw_idemp_record v = raw_idemp_get(c, key);
    char problem[300] = "";
    if (!v.present) snprintf(problem, sizeof(problem), "nil, expected a record");
    else if (strcmp(v.state, state) != 0) snprintf(problem, sizeof(problem), "state %s, expected %s", v.state, state);
    else if (v.fingerprint_len != fp_len || memcmp(v.fingerprint, fp, fp_len) != 0)
        snprintf(problem, sizeof(problem), "fingerprint differs (%zu bytes, expected %zu)", v.fingerprint_len, fp_len);
    else if (v.token != token) snprintf(problem, sizeof(problem), "token %lld, expected %lld", v.token, token);
    else if (v.ttl < min_ttl || v.ttl > max_ttl)
        snprintf(problem, sizeof(problem), "ttl %lld, expected %lld..%lld", v.ttl, min_ttl, max_ttl);
    else if (response == NULL && v.has_response) snprintf(problem, sizeof(problem), "response is not nil");
    else if (response != NULL && !v.has_response) snprintf(problem, sizeof(problem), "response is nil");
    else if (response != NULL && (v.response_len != response_len || memcmp(v.response, response, response_len) != 0))
        snprintf(problem, sizeof(problem), "response differs (%zu bytes, expected %zu)", v.response_len,
                 response_len);
    raw_idemp_record_free(&v);
    if (problem[0] != '\0') fail_msg("IDEMP.GET %s: %s", key, problem);
}

/* ---- trials ------------------------------------------------------------------------------------- */

long long raw_enroll(redisContext *c, const char *key, const char *user)
{
    return sg_command_integer(c, "ENROLL %s %s", key, user);
}

long long raw_enroll_cancel(redisContext *c, const char *key, const char *user)
{
    return sg_command_integer(c, "ENROLL.CANCEL %s %s", key, user);
}

static long long trial_info_pair(const redisReply *r, const char *field)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (sg_reply_is_text(r->element[i], field)) {
            assert_int_equal(r->element[i + 1]->type, REDIS_REPLY_INTEGER);
            return r->element[i + 1]->integer;
        }
    }
    fail_msg("SLOTS.INFO has no field %s", field);
    return 0;
}

raw_trial_info raw_trial_info_of(redisContext *c, const char *key)
{
    redisReply *r = sg_command(c, "SLOTS.INFO %s", key);
    if (r->type != REDIS_REPLY_ARRAY) {
        int type = r->type;
        freeReplyObject(r);
        fail_msg("SLOTS.INFO %s: expected an array, got reply type %d", key, type);
    }
    assert_int_equal(r->elements, 12);
    raw_trial_info info = {
        .capacity = trial_info_pair(r, "capacity"),
        .remaining = trial_info_pair(r, "remaining"),
        .enrolled = trial_info_pair(r, "enrolled"),
        .waitlisted = trial_info_pair(r, "waitlisted"),
        .waitlist_max = trial_info_pair(r, "waitlist_max"),
        .next_arrival = trial_info_pair(r, "next_arrival"),
    };
    freeReplyObject(r);
    return info;
}

void raw_assert_trial_info(redisContext *c, const char *key, long long capacity, long long remaining,
                          long long enrolled, long long waitlisted, long long waitlist_max, long long next_arrival)
{
    raw_trial_info i = raw_trial_info_of(c, key);
    assert_int_equal(i.capacity, capacity);
    assert_int_equal(i.remaining, remaining);
    assert_int_equal(i.enrolled, enrolled);
    assert_int_equal(i.waitlisted, waitlisted);
    assert_int_equal(i.waitlist_max, waitlist_max);
    assert_int_equal(i.next_arrival, next_arrival);
}

void raw_enroll_status(redisContext *c, const char *key, const char *user, size_t len, char *state, size_t state_size,
                      long long *number)
{
    redisReply *r = sg_command(c, "ENROLL.STATUS %s %b", key, user, len);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        int type = r->type;
        freeReplyObject(r);
        fail_msg("ENROLL.STATUS: expected a two-element array, got reply type %d", type);
    }
    assert_true(r->element[0]->type == REDIS_REPLY_STRING || r->element[0]->type == REDIS_REPLY_STATUS);
    snprintf(state, state_size, "%s", r->element[0]->str);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_INTEGER);
    *number = r->element[1]->integer;
    freeReplyObject(r);
}

void raw_assert_enroll_status(redisContext *c, const char *key, const char *user, const char *state, long long number)
{
    char got[32];
    long long n = -1;
    raw_enroll_status(c, key, user, strlen(user), got, sizeof(got), &n);
    assert_string_equal(got, state);
    assert_int_equal(n, number);
}

redisReply *raw_members_page(redisContext *c, const char *key, unsigned long long cursor, long long count,
                            int with_arrivals, unsigned long long *next_cursor, const redisReply **users)
{
    redisReply *r = with_arrivals
                        ? sg_command(c, "ENROLL.MEMBERS %s %llu COUNT %lld WITHARRIVALS", key, cursor, count)
                        : sg_command(c, "ENROLL.MEMBERS %s %llu COUNT %lld", key, cursor, count);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        int type = r->type;
        freeReplyObject(r);
        fail_msg("ENROLL.MEMBERS: expected [cursor, users], got reply type %d", type);
    }
    assert_int_equal(r->element[0]->type, REDIS_REPLY_STRING);
    char *end = NULL;
    *next_cursor = strtoull(r->element[0]->str, &end, 10);
    assert_true(r->element[0]->len > 0 && end == r->element[0]->str + r->element[0]->len);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_ARRAY);
    *users = r->element[1];
    return r;
}

