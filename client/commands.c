/* commands.c -- libslotguard's typed calls: build the command, send it through sg_execute with the
 * call's retry class, decode the reply (decode.c). One function per module command. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building commands ----------------------------------------------------------------------- */
#define MAX_FIXED_ARGS 12

typedef struct command {
    int argc;
    const char *argv[MAX_FIXED_ARGS];
    size_t argvlen[MAX_FIXED_ARGS];
    char numbers[MAX_FIXED_ARGS][24];
} command;

static void add_bytes(command *c, const char *bytes, size_t len) {
    c->argv[c->argc] = bytes;
    c->argvlen[c->argc] = len;
    c->argc++;
}

static void add_word(command *c, const char *word) { add_bytes(c, word, strlen(word)); }

static void add_number(command *c, long long value) {
    char *text = c->numbers[c->argc];
    int len = snprintf(text, sizeof(c->numbers[0]), "%lld", value);
    add_bytes(c, text, (size_t)len);
}

/* Binary-safe arguments may hold any byte but need a pointer when they have a length. */
static int check_bytes(sg_context *ctx, const char *bytes, size_t len, const char *what) {
    if (bytes == NULL && len > 0) return sg_fail(ctx, SG_ERR_ARGUMENT, "%s is NULL", what);
    return SG_OK;
}

static int check_key(sg_context *ctx, const char *key, size_t len) {
    if (key == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "key is NULL");
    return check_bytes(ctx, key, len, "key");
}

static int check_out(sg_context *ctx, const void *out) {
    if (out == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "result pointer is NULL");
    return SG_OK;
}

/* Send `c`, routed by its key (argv[1]); NULL with ctx->err set. */
static redisReply *send_command(sg_context *ctx, command *c, sg_retry_class retry, long long extra_timeout_ms) {
    return sg_execute(ctx, c->argv[1], c->argvlen[1], c->argc, c->argv, c->argvlen, retry, extra_timeout_ms);
}

/* Commands whose reply is an integer in [min, max]. */
static int integer_command(sg_context *ctx, command *c, sg_retry_class retry, long long min, long long max,
                           long long *out) {
    redisReply *r = send_command(ctx, c, retry, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_integer(ctx, r, min, max, out);
    freeReplyObject(r);
    return rc;
}

static int flag_command(sg_context *ctx, command *c, sg_retry_class retry, int *out) {
    long long value = 0;
    if (integer_command(ctx, c, retry, 0, 1, &value) != SG_OK) return SG_ERR;
    *out = (int)value;
    return SG_OK;
}

/* A command with a key (and usually a user or owner) after its name. */
static int begin_command(sg_context *ctx, command *c, const char *name, const char *key, size_t key_len) {
    sg_clear_error(ctx);
    if (check_key(ctx, key, key_len) != SG_OK) return SG_ERR;
    c->argc = 0;
    add_word(c, name);
    add_bytes(c, key, key_len);
    return SG_OK;
}

static int begin_with_id(sg_context *ctx, command *c, const char *name, const char *key, size_t key_len,
                         const char *id, size_t id_len, const char *what) {
    if (begin_command(ctx, c, name, key, key_len) != SG_OK) return SG_ERR;
    if (id == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "%s is NULL", what);
    add_bytes(c, id, id_len);
    return SG_OK;
}

/* ---- enrollment ------------------------------------------------------------------------------ */
int sg_trial_create(sg_context *ctx, const char *trial, size_t trial_len, long long capacity,
                    long long waitlist_max, int *created) {
    command c;
    if (begin_command(ctx, &c, "SLOTS.INIT", trial, trial_len) != SG_OK || check_out(ctx, created) != SG_OK)
        return SG_ERR;
    add_number(&c, capacity);
    if (waitlist_max != 0) {
        add_word(&c, "WAITLIST");
        add_number(&c, waitlist_max);
    }
    return flag_command(ctx, &c, SG_RETRIED, created);
}

int sg_enroll(sg_context *ctx, const char *trial, size_t trial_len, const char *user, size_t user_len,
              sg_enroll_result *result) {
    command c;
    if (begin_with_id(ctx, &c, "ENROLL", trial, trial_len, user, user_len, "user") != SG_OK ||
        check_out(ctx, result) != SG_OK)
        return SG_ERR;
    redisReply *r = send_command(ctx, &c, SG_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_enroll(ctx, r, result);
    freeReplyObject(r);
    return rc;
}

int sg_enroll_cancel(sg_context *ctx, const char *trial, size_t trial_len, const char *user, size_t user_len,
                     int *withdrawn) {
    command c;
    if (begin_with_id(ctx, &c, "ENROLL.CANCEL", trial, trial_len, user, user_len, "user") != SG_OK ||
        check_out(ctx, withdrawn) != SG_OK)
        return SG_ERR;
    return flag_command(ctx, &c, SG_RETRIED, withdrawn);
}

int sg_enroll_status(sg_context *ctx, const char *trial, size_t trial_len, const char *user, size_t user_len,
                     sg_user_status *status) {
    command c;
    if (begin_with_id(ctx, &c, "ENROLL.STATUS", trial, trial_len, user, user_len, "user") != SG_OK ||
        check_out(ctx, status) != SG_OK)
        return SG_ERR;
    redisReply *r = send_command(ctx, &c, SG_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_user_status(ctx, r, status);
    freeReplyObject(r);
    return rc;
}

int sg_trial_info_get(sg_context *ctx, const char *trial, size_t trial_len, sg_trial_info *info) {
    command c;
    if (begin_command(ctx, &c, "SLOTS.INFO", trial, trial_len) != SG_OK || check_out(ctx, info) != SG_OK)
        return SG_ERR;
    redisReply *r = send_command(ctx, &c, SG_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_trial_info(ctx, r, info);
    freeReplyObject(r);
    return rc;
}

int sg_trial_resize(sg_context *ctx, const char *trial, size_t trial_len, long long capacity, long long *promoted) {
    command c;
    if (begin_command(ctx, &c, "SLOTS.RESIZE", trial, trial_len) != SG_OK || check_out(ctx, promoted) != SG_OK)
        return SG_ERR;
    add_number(&c, capacity);
    return integer_command(ctx, &c, SG_RETRIED, 0, INT64_MAX, promoted);
}

int sg_enroll_members(sg_context *ctx, const char *trial, size_t trial_len, unsigned long long cursor, size_t count,
                      sg_members_page *page) {
    command c;
    if (begin_command(ctx, &c, "ENROLL.MEMBERS", trial, trial_len) != SG_OK || check_out(ctx, page) != SG_OK)
        return SG_ERR;
    memset(page, 0, sizeof(*page));
    if (count == 0 || count > (size_t)INT64_MAX) return sg_fail(ctx, SG_ERR_ARGUMENT, "count must be at least 1");
    if (cursor > (unsigned long long)INT64_MAX) return sg_fail(ctx, SG_ERR_ARGUMENT, "cursor out of range");
    add_number(&c, (long long)cursor);
    add_word(&c, "COUNT");
    add_number(&c, (long long)count);
    add_word(&c, "WITHARRIVALS");
    redisReply *r = send_command(ctx, &c, SG_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_members_page(ctx, r, page);
    freeReplyObject(r);
    return rc;
}

int sg_trial_restore(sg_context *ctx, const char *trial, size_t trial_len, long long next_arrival, int waitlisted,
                     const sg_member *members, size_t count) {
    sg_clear_error(ctx);
    if (check_key(ctx, trial, trial_len) != SG_OK) return SG_ERR;
    if (count > 0 && members == NULL) return sg_fail(ctx, SG_ERR_ARGUMENT, "members is NULL");
    if (count > ((size_t)INT32_MAX - 4) / 2) return sg_fail(ctx, SG_ERR_ARGUMENT, "too many members in one call");
    int argc = 3 + (count ? 1 + 2 * (int)count : 0);
    const char **argv = malloc((size_t)argc * sizeof(*argv));
    size_t *argvlen = malloc((size_t)argc * sizeof(*argvlen));
    char (*numbers)[24] = malloc((count + 1) * sizeof(*numbers));
    if (argv == NULL || argvlen == NULL || numbers == NULL) {
        free(argv);
        free(argvlen);
        free(numbers);
        return sg_fail(ctx, SG_ERR_OOM, "out of memory");
    }
    int at = 0;
    argv[at] = "SLOTS.RESTORE", argvlen[at++] = 13;
    argv[at] = trial, argvlen[at++] = trial_len;
    argv[at] = numbers[count], argvlen[at++] = (size_t)snprintf(numbers[count], 24, "%lld", next_arrival);
    int rc = SG_OK;
    if (count) {
        argv[at] = waitlisted ? "WAITLISTED" : "ENROLLED", argvlen[at] = strlen(argv[at]), at++;
        for (size_t i = 0; i < count && rc == SG_OK; i++) {
            rc = check_bytes(ctx, members[i].user, members[i].user_len, "member user");
            argv[at] = numbers[i], argvlen[at++] = (size_t)snprintf(numbers[i], 24, "%lld", members[i].arrival);
            argv[at] = members[i].user, argvlen[at++] = members[i].user_len;
        }
    }
    if (rc == SG_OK) {
        redisReply *r = sg_execute(ctx, trial, trial_len, argc, argv, argvlen, SG_NOT_RETRIED, 0);
        rc = r ? sg_decode_ok(ctx, r) : SG_ERR;
        if (r) freeReplyObject(r);
    }
    free(argv);
    free(argvlen);
    free(numbers);
    return rc;
}

/* ---- locks ----------------------------------------------------------------------------------- */
int sg_lock_acquire(sg_context *ctx, const char *key, size_t key_len, const char *owner, size_t owner_len,
                    long long ttl_ms, long long wait_ms, int reentrant, long long *token) {
    command c;
    if (begin_with_id(ctx, &c, "LOCK.ACQUIRE", key, key_len, owner, owner_len, "owner") != SG_OK ||
        check_out(ctx, token) != SG_OK)
        return SG_ERR;
    if (wait_ms < 0) return sg_fail(ctx, SG_ERR_ARGUMENT, "wait_ms must not be negative");
    add_number(&c, ttl_ms);
    if (wait_ms > 0) {
        add_word(&c, "WAIT");
        add_number(&c, wait_ms);
    }
    if (reentrant) add_word(&c, "REENTRANT");
    redisReply *r = send_command(ctx, &c, reentrant ? SG_NOT_RETRIED : SG_RETRIED, wait_ms);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_token_or_nil(ctx, r, token);
    freeReplyObject(r);
    return rc;
}

int sg_lock_release_as(sg_context *ctx, const char *key, size_t key_len, const char *owner, size_t owner_len,
                       int *released, sg_retry_class retry) {
    command c;
    if (begin_with_id(ctx, &c, "LOCK.RELEASE", key, key_len, owner, owner_len, "owner") != SG_OK ||
        check_out(ctx, released) != SG_OK)
        return SG_ERR;
    return flag_command(ctx, &c, retry, released);
}

int sg_lock_release(sg_context *ctx, const char *key, size_t key_len, const char *owner, size_t owner_len,
                    int *released) {
    return sg_lock_release_as(ctx, key, key_len, owner, owner_len, released, SG_NOT_RETRIED);
}

int sg_lock_extend(sg_context *ctx, const char *key, size_t key_len, const char *owner, size_t owner_len,
                   long long ttl_ms, int *extended) {
    command c;
    if (begin_with_id(ctx, &c, "LOCK.EXTEND", key, key_len, owner, owner_len, "owner") != SG_OK ||
        check_out(ctx, extended) != SG_OK)
        return SG_ERR;
    add_number(&c, ttl_ms);
    return flag_command(ctx, &c, SG_RETRIED, extended);
}

int sg_lock_info_get(sg_context *ctx, const char *key, size_t key_len, sg_lock_info *info) {
    command c;
    if (begin_command(ctx, &c, "LOCK.INFO", key, key_len) != SG_OK || check_out(ctx, info) != SG_OK) return SG_ERR;
    redisReply *r = send_command(ctx, &c, SG_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_lock_info(ctx, r, info);
    freeReplyObject(r);
    return rc;
}

int sg_lock_grant(sg_context *ctx, const char *key, size_t key_len, const char *owner, size_t owner_len,
                  long long token, long long deadline_unix_ms, long long holds) {
    command c;
    if (begin_with_id(ctx, &c, "LOCK.GRANT", key, key_len, owner, owner_len, "owner") != SG_OK) return SG_ERR;
    add_number(&c, token);
    add_number(&c, deadline_unix_ms);
    add_number(&c, holds);
    redisReply *r = send_command(ctx, &c, SG_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_ok(ctx, r);
    freeReplyObject(r);
    return rc;
}

/* ---- idempotency ----------------------------------------------------------------------------- */
int sg_idemp_setnx(sg_context *ctx, const char *key, size_t key_len, long long ttl_s, const char *value,
                   size_t value_len, int *recorded) {
    command c;
    if (begin_command(ctx, &c, "IDEMP.SETNX", key, key_len) != SG_OK || check_out(ctx, recorded) != SG_OK)
        return SG_ERR;
    add_number(&c, ttl_s);
    if (value != NULL) add_bytes(&c, value, value_len);
    return flag_command(ctx, &c, SG_NOT_RETRIED, recorded);
}

int sg_idemp_begin_processing(sg_context *ctx, const char *key, size_t key_len, const char *fingerprint,
                              size_t fingerprint_len, long long lease_ms, sg_idemp_begin *result) {
    command c;
    if (begin_with_id(ctx, &c, "IDEMP.BEGIN", key, key_len, fingerprint, fingerprint_len, "fingerprint") != SG_OK ||
        check_out(ctx, result) != SG_OK)
        return SG_ERR;
    memset(result, 0, sizeof(*result));
    add_number(&c, lease_ms);
    redisReply *r = send_command(ctx, &c, SG_NOT_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_idemp_begin(ctx, r, result);
    freeReplyObject(r);
    return rc;
}

int sg_idemp_complete(sg_context *ctx, const char *key, size_t key_len, long long token, const char *response,
                      size_t response_len, long long ttl_s, sg_idemp_complete_result *result) {
    command c;
    if (begin_command(ctx, &c, "IDEMP.COMPLETE", key, key_len) != SG_OK || check_out(ctx, result) != SG_OK ||
        check_bytes(ctx, response, response_len, "response") != SG_OK)
        return SG_ERR;
    add_number(&c, token);
    add_bytes(&c, response ? response : "", response_len);
    add_number(&c, ttl_s);
    long long value;
    if (integer_command(ctx, &c, SG_RETRIED, 0, 2, &value) != SG_OK) return SG_ERR;
    *result = (sg_idemp_complete_result)value;
    return SG_OK;
}

int sg_idemp_abort(sg_context *ctx, const char *key, size_t key_len, long long token, int *freed) {
    command c;
    if (begin_command(ctx, &c, "IDEMP.ABORT", key, key_len) != SG_OK || check_out(ctx, freed) != SG_OK)
        return SG_ERR;
    add_number(&c, token);
    return flag_command(ctx, &c, SG_RETRIED, freed);
}

int sg_idemp_get(sg_context *ctx, const char *key, size_t key_len, sg_idemp_record *record) {
    command c;
    if (begin_command(ctx, &c, "IDEMP.GET", key, key_len) != SG_OK || check_out(ctx, record) != SG_OK)
        return SG_ERR;
    memset(record, 0, sizeof(*record));
    redisReply *r = send_command(ctx, &c, SG_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_idemp_record(ctx, r, record);
    freeReplyObject(r);
    return rc;
}

int sg_idemp_record_set(sg_context *ctx, const char *key, size_t key_len, int completed, const char *fingerprint,
                        size_t fingerprint_len, long long token, long long deadline_unix_ms, const char *response,
                        size_t response_len) {
    command c;
    if (begin_command(ctx, &c, "IDEMP.RECORD", key, key_len) != SG_OK ||
        check_bytes(ctx, fingerprint, fingerprint_len, "fingerprint") != SG_OK ||
        check_bytes(ctx, response, response_len, "response") != SG_OK)
        return SG_ERR;
    add_word(&c, completed ? "COMPLETED" : "IN_PROGRESS");
    add_bytes(&c, fingerprint ? fingerprint : "", fingerprint_len);
    add_number(&c, token);
    add_number(&c, deadline_unix_ms);
    if (completed) add_bytes(&c, response ? response : "", response_len);
    redisReply *r = send_command(ctx, &c, SG_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_ok(ctx, r);
    freeReplyObject(r);
    return rc;
}

/* ---- rate limits ----------------------------------------------------------------------------- */
static int check_rate_flags(sg_context *ctx, int flags, int allowed) {
    if (flags & ~allowed) return sg_fail(ctx, SG_ERR_ARGUMENT, "unknown rate-limit flags 0x%x", (unsigned)flags);
    return SG_OK;
}

int sg_rate_throttle(sg_context *ctx, const char *key, size_t key_len, long long max_burst, long long count,
                     long long period, long long quantity, int flags, sg_throttle_result *result) {
    command c;
    if (begin_command(ctx, &c, "RATE.THROTTLE", key, key_len) != SG_OK || check_out(ctx, result) != SG_OK ||
        check_rate_flags(ctx, flags, SG_RATE_MS) != SG_OK)
        return SG_ERR;
    add_number(&c, max_burst);
    add_number(&c, count);
    add_number(&c, period);
    add_number(&c, quantity);
    if (flags & SG_RATE_MS) add_word(&c, "MS");
    redisReply *r = send_command(ctx, &c, quantity == 0 ? SG_RETRIED : SG_NOT_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_throttle(ctx, r, result);
    freeReplyObject(r);
    return rc;
}

int sg_rate_window(sg_context *ctx, const char *key, size_t key_len, long long quota, long long period, int flags,
                   sg_window_result *result) {
    command c;
    if (begin_command(ctx, &c, "RATE.WINDOW", key, key_len) != SG_OK || check_out(ctx, result) != SG_OK ||
        check_rate_flags(ctx, flags, SG_RATE_MS | SG_RATE_ALIGN) != SG_OK)
        return SG_ERR;
    add_number(&c, quota);
    add_number(&c, period);
    if (flags & SG_RATE_ALIGN) add_word(&c, "ALIGN");
    if (flags & SG_RATE_MS) add_word(&c, "MS");
    redisReply *r = send_command(ctx, &c, SG_NOT_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_window(ctx, r, result);
    freeReplyObject(r);
    return rc;
}

int sg_rate_window_info(sg_context *ctx, const char *key, size_t key_len, long long quota, sg_window_info *info) {
    command c;
    if (begin_command(ctx, &c, "RATE.WINDOW.INFO", key, key_len) != SG_OK || check_out(ctx, info) != SG_OK)
        return SG_ERR;
    add_number(&c, quota);
    redisReply *r = send_command(ctx, &c, SG_RETRIED, 0);
    if (r == NULL) return SG_ERR;
    int rc = sg_decode_window_info(ctx, r, info);
    freeReplyObject(r);
    return rc;
}

/* RATE.ALL's arguments: numkeys, the keys, then per limit its word and at most six numbers/words. */
#define RATE_ALL_ARGS_PER_LIMIT 8
typedef struct rate_all_command {
    int argc;
    const char **argv;
    size_t *argvlen;
    char (*numbers)[24];
    int numbers_used;
} rate_all_command;

static void all_add(rate_all_command *c, const char *bytes, size_t len) {
    c->argv[c->argc] = bytes;
    c->argvlen[c->argc++] = len;
}

static void all_add_number(rate_all_command *c, long long value) {
    char *text = c->numbers[c->numbers_used++];
    all_add(c, text, (size_t)snprintf(text, 24, "%lld", value));
}

int sg_rate_all(sg_context *ctx, const sg_rate_limit *limits, size_t n, int *allowed, sg_rate_outcome *outcomes) {
    sg_clear_error(ctx);
    if (check_out(ctx, allowed) != SG_OK) return SG_ERR;
    if (limits == NULL || n == 0 || n > SG_RATE_MAX_LIMITS)
        return sg_fail(ctx, SG_ERR_ARGUMENT, "RATE.ALL takes 1 to %d limits", SG_RATE_MAX_LIMITS);
    sg_limit_kind kinds[SG_RATE_MAX_LIMITS];
    for (size_t i = 0; i < n; i++) {
        if (check_key(ctx, limits[i].key, limits[i].key_len) != SG_OK) return SG_ERR;
        if (limits[i].kind != SG_LIMIT_THROTTLE && limits[i].kind != SG_LIMIT_WINDOW)
            return sg_fail(ctx, SG_ERR_ARGUMENT, "limit %zu is neither a throttle nor a window", i);
        if (check_rate_flags(ctx, limits[i].flags,
                             limits[i].kind == SG_LIMIT_WINDOW ? SG_RATE_MS | SG_RATE_ALIGN : SG_RATE_MS) != SG_OK)
            return SG_ERR;
        kinds[i] = limits[i].kind;
    }
    size_t max_args = 2 + n + n * RATE_ALL_ARGS_PER_LIMIT;
    rate_all_command c = {.argv = malloc(max_args * sizeof(*c.argv)),
                          .argvlen = malloc(max_args * sizeof(*c.argvlen)),
                          .numbers = malloc((1 + n * RATE_ALL_ARGS_PER_LIMIT) * sizeof(*c.numbers))};
    int rc = SG_ERR;
    if (c.argv == NULL || c.argvlen == NULL || c.numbers == NULL) {
        sg_fail(ctx, SG_ERR_OOM, "out of memory building RATE.ALL");
        goto done;
    }
    all_add(&c, "RATE.ALL", 8);
    all_add_number(&c, (long long)n);
    for (size_t i = 0; i < n; i++) all_add(&c, limits[i].key, limits[i].key_len);
    for (size_t i = 0; i < n; i++) {
        const sg_rate_limit *l = &limits[i];
        if (l->kind == SG_LIMIT_THROTTLE) {
            all_add(&c, "THROTTLE", 8);
            all_add_number(&c, l->max_burst);
            all_add_number(&c, l->count);
            all_add_number(&c, l->period);
            all_add_number(&c, l->quantity);
        } else {
            all_add(&c, "WINDOW", 6);
            all_add_number(&c, l->quota);
            all_add_number(&c, l->period);
            if (l->flags & SG_RATE_ALIGN) all_add(&c, "ALIGN", 5);
        }
        if (l->flags & SG_RATE_MS) all_add(&c, "MS", 2);
    }
    /* Routed by the first key: in a cluster every key must share its slot (the server says
     * CROSSSLOT otherwise). */
    redisReply *r = sg_execute(ctx, limits[0].key, limits[0].key_len, c.argc, c.argv, c.argvlen, SG_NOT_RETRIED, 0);
    if (r == NULL) goto done;
    rc = sg_decode_rate_all(ctx, r, kinds, n, allowed, outcomes);
    freeReplyObject(r);
done:
    free(c.argv);
    free(c.argvlen);
    free(c.numbers);
    return rc;
}
