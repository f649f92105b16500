/* decode.c -- replies into typed results, redirections, CLUSTER SLOTS: see decode.h. */
#include "decode.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int sg_fail(sg_context *ctx, int code, const char *format, ...) {
    ctx->err = code;
    va_list ap;
    va_start(ap, format);
    vsnprintf(ctx->errstr, sizeof(ctx->errstr), format, ap);
    va_end(ap);
    return SG_ERR;
}

void sg_clear_error(sg_context *ctx) {
    ctx->err = 0;
    ctx->errstr[0] = '\0';
}

static int starts_with(const char *text, size_t len, const char *prefix) {
    size_t n = strlen(prefix);
    return len >= n && memcmp(text, prefix, n) == 0;
}

int sg_fail_with_reply(sg_context *ctx, const redisReply *reply) {
    int code = starts_with(reply->str, reply->len, "NOTRIAL ") ? SG_ERR_NOTRIAL : SG_ERR_SERVER;
    return sg_fail(ctx, code, "%.*s", (int)(reply->len < SG_ERRSTR_SIZE ? reply->len : SG_ERRSTR_SIZE - 1),
                   reply->str);
}

/* The reply is an error (handled), or not of `type`: SG_ERR; otherwise SG_OK. */
static int expect_type(sg_context *ctx, const redisReply *reply, int type, const char *what) {
    if (reply->type == REDIS_REPLY_ERROR) return sg_fail_with_reply(ctx, reply);
    if (reply->type != type) return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected reply of type %d to %s", reply->type, what);
    return SG_OK;
}

static int is_text(const redisReply *r, const char *text) {
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) return 0;
    return r->len == strlen(text) && memcmp(r->str, text, r->len) == 0;
}

int sg_decode_integer(sg_context *ctx, const redisReply *reply, long long min, long long max, long long *out) {
    if (expect_type(ctx, reply, REDIS_REPLY_INTEGER, "a command answering an integer") != SG_OK) return SG_ERR;
    if (reply->integer < min || reply->integer > max)
        return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected integer reply %lld", reply->integer);
    *out = reply->integer;
    return SG_OK;
}

int sg_decode_ok(sg_context *ctx, const redisReply *reply) {
    if (expect_type(ctx, reply, REDIS_REPLY_STATUS, "a command answering OK") != SG_OK) return SG_ERR;
    if (!is_text(reply, "OK")) return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected status %.40s", reply->str);
    return SG_OK;
}

int sg_decode_enroll(sg_context *ctx, const redisReply *reply, sg_enroll_result *out) {
    long long code;
    if (sg_decode_integer(ctx, reply, -2, 2, &code) != SG_OK) return SG_ERR;
    *out = (sg_enroll_result)code;
    return SG_OK;
}

int sg_decode_user_status(sg_context *ctx, const redisReply *reply, sg_user_status *out) {
    if (expect_type(ctx, reply, REDIS_REPLY_ARRAY, "ENROLL.STATUS") != SG_OK) return SG_ERR;
    if (reply->elements != 2 || reply->element[1]->type != REDIS_REPLY_INTEGER)
        return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected reply to ENROLL.STATUS");
    const redisReply *state = reply->element[0];
    if (is_text(state, "enrolled")) out->state = SG_USER_ENROLLED;
    else if (is_text(state, "waitlisted")) out->state = SG_USER_WAITLISTED;
    else if (is_text(state, "none")) out->state = SG_USER_NONE;
    else return sg_fail(ctx, SG_ERR_PROTOCOL, "unknown state in ENROLL.STATUS reply");
    out->value = reply->element[1]->integer;
    return SG_OK;
}

/* The value of `field` in a flat field/value array, or NULL. */
static const redisReply *field_of(const redisReply *pairs, const char *field) {
    for (size_t i = 0; i + 1 < pairs->elements; i += 2)
        if (is_text(pairs->element[i], field)) return pairs->element[i + 1];
    return NULL;
}

/* The integer fields of a field/value array, all required. */
typedef struct integer_field {
    const char *name;
    long long *out;
} integer_field;

static int read_integer_fields(sg_context *ctx, const redisReply *pairs, const integer_field *fields, size_t n,
                               const char *what) {
    for (size_t i = 0; i < n; i++) {
        const redisReply *v = field_of(pairs, fields[i].name);
        if (v == NULL || v->type != REDIS_REPLY_INTEGER)
            return sg_fail(ctx, SG_ERR_PROTOCOL, "%s reply has no integer field %s", what, fields[i].name);
        *fields[i].out = v->integer;
    }
    return SG_OK;
}

int sg_decode_trial_info(sg_context *ctx, const redisReply *reply, sg_trial_info *out) {
    memset(out, 0, sizeof(*out));
    if (reply->type == REDIS_REPLY_NIL) return SG_OK;
    if (expect_type(ctx, reply, REDIS_REPLY_ARRAY, "SLOTS.INFO") != SG_OK) return SG_ERR;
    const integer_field fields[] = {
        {"capacity", &out->capacity},         {"remaining", &out->remaining},
        {"enrolled", &out->enrolled},         {"waitlisted", &out->waitlisted},
        {"waitlist_max", &out->waitlist_max}, {"next_arrival", &out->next_arrival},
    };
    if (read_integer_fields(ctx, reply, fields, sizeof(fields) / sizeof(fields[0]), "SLOTS.INFO") != SG_OK) {
        memset(out, 0, sizeof(*out));
        return SG_ERR;
    }
    out->exists = 1;
    return SG_OK;
}

int sg_decode_members_page(sg_context *ctx, const redisReply *reply, sg_members_page *page) {
    memset(page, 0, sizeof(*page));
    if (expect_type(ctx, reply, REDIS_REPLY_ARRAY, "ENROLL.MEMBERS") != SG_OK) return SG_ERR;
    if (reply->elements != 2 || reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY || reply->element[1]->elements % 2 != 0)
        return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected reply to ENROLL.MEMBERS");
    char cursor[32];
    const redisReply *c = reply->element[0];
    if (c->len == 0 || c->len >= sizeof(cursor)) return sg_fail(ctx, SG_ERR_PROTOCOL, "bad ENROLL.MEMBERS cursor");
    memcpy(cursor, c->str, c->len);
    cursor[c->len] = '\0';
    char *end;
    page->next_cursor = strtoull(cursor, &end, 10);
    if (*end != '\0') return sg_fail(ctx, SG_ERR_PROTOCOL, "bad ENROLL.MEMBERS cursor");

    const redisReply *list = reply->element[1];
    size_t n = list->elements / 2, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *user = list->element[2 * i], *arrival = list->element[2 * i + 1];
        if (user->type != REDIS_REPLY_STRING || arrival->type != REDIS_REPLY_INTEGER)
            return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected member in ENROLL.MEMBERS reply");
        bytes += user->len;
    }
    /* One block: the member array, then every id's bytes. */
    char *storage = malloc(n * sizeof(sg_member) + bytes + 1);
    if (storage == NULL) return sg_fail(ctx, SG_ERR_OOM, "out of memory");
    sg_member *members = (sg_member *)(void *)storage;
    char *text = storage + n * sizeof(sg_member);
    for (size_t i = 0; i < n; i++) {
        const redisReply *user = list->element[2 * i];
        memcpy(text, user->str, user->len);
        members[i] = (sg_member){text, user->len, list->element[2 * i + 1]->integer};
        text += user->len;
    }
    page->count = n;
    page->members = members;
    page->storage = storage;
    return SG_OK;
}

int sg_decode_token_or_nil(sg_context *ctx, const redisReply *reply, long long *token) {
    if (reply->type == REDIS_REPLY_NIL) {
        *token = 0;
        return SG_OK;
    }
    return sg_decode_integer(ctx, reply, 1, INT64_MAX, token);
}

int sg_decode_lock_info(sg_context *ctx, const redisReply *reply, sg_lock_info *out) {
    memset(out, 0, sizeof(*out));
    if (reply->type == REDIS_REPLY_NIL) return SG_OK;
    if (expect_type(ctx, reply, REDIS_REPLY_ARRAY, "LOCK.INFO") != SG_OK) return SG_ERR;
    const redisReply *owner = field_of(reply, "owner");
    if (owner == NULL || owner->type != REDIS_REPLY_STRING || owner->len > sizeof(out->owner))
        return sg_fail(ctx, SG_ERR_PROTOCOL, "LOCK.INFO reply has no owner");
    const integer_field fields[] = {
        {"ttl", &out->ttl_ms}, {"token", &out->token}, {"holds", &out->holds}, {"waiters", &out->waiters}};
    if (read_integer_fields(ctx, reply, fields, sizeof(fields) / sizeof(fields[0]), "LOCK.INFO") != SG_OK) {
        memset(out, 0, sizeof(*out));
        return SG_ERR;
    }
    memcpy(out->owner, owner->str, owner->len);
    out->owner_len = owner->len;
    out->held = 1;
    return SG_OK;
}

/* A malloc'ed copy of a bulk string's bytes (NUL-terminated for convenience). */
static char *copy_bytes(const char *bytes, size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL) return NULL;
    if (len) memcpy(copy, bytes, len);
    copy[len] = '\0';
    return copy;
}

int sg_decode_idemp_begin(sg_context *ctx, const redisReply *reply, sg_idemp_begin *out) {
    memset(out, 0, sizeof(*out));
    if (expect_type(ctx, reply, REDIS_REPLY_ARRAY, "IDEMP.BEGIN") != SG_OK) return SG_ERR;
    if (reply->elements != 2) return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected reply to IDEMP.BEGIN");
    const redisReply *what = reply->element[0], *value = reply->element[1];
    if (is_text(what, "new") && value->type == REDIS_REPLY_INTEGER) {
        out->outcome = SG_IDEMP_NEW;
        out->token = value->integer;
    } else if (is_text(what, "in_progress") && value->type == REDIS_REPLY_INTEGER) {
        out->outcome = SG_IDEMP_IN_PROGRESS;
        out->retry_after_ms = value->integer;
    } else if (is_text(what, "completed") && value->type == REDIS_REPLY_STRING) {
        out->outcome = SG_IDEMP_COMPLETED;
        if ((out->response = copy_bytes(value->str, value->len)) == NULL) return sg_fail(ctx, SG_ERR_OOM, "out of memory");
        out->response_len = value->len;
    } else if (is_text(what, "mismatch") && (is_text(value, "completed") || is_text(value, "in_progress"))) {
        out->outcome = SG_IDEMP_MISMATCH;
        out->other_completed = is_text(value, "completed");
    } else {
        return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected reply to IDEMP.BEGIN");
    }
    return SG_OK;
}

int sg_decode_idemp_record(sg_context *ctx, const redisReply *reply, sg_idemp_record *out) {
    memset(out, 0, sizeof(*out));
    if (reply->type == REDIS_REPLY_NIL) return SG_OK;
    if (expect_type(ctx, reply, REDIS_REPLY_ARRAY, "IDEMP.GET") != SG_OK) return SG_ERR;
    const redisReply *state = field_of(reply, "state"), *fingerprint = field_of(reply, "fingerprint");
    const redisReply *response = field_of(reply, "response");
    if (state == NULL || fingerprint == NULL || fingerprint->type != REDIS_REPLY_STRING || response == NULL ||
        !(is_text(state, "completed") || is_text(state, "in_progress")))
        return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected reply to IDEMP.GET");
    const integer_field fields[] = {{"token", &out->token}, {"ttl", &out->ttl_ms}};
    if (read_integer_fields(ctx, reply, fields, 2, "IDEMP.GET") != SG_OK) {
        memset(out, 0, sizeof(*out));
        return SG_ERR;
    }
    out->completed = is_text(state, "completed");
    if (out->completed && response->type != REDIS_REPLY_STRING) {
        memset(out, 0, sizeof(*out));
        return sg_fail(ctx, SG_ERR_PROTOCOL, "IDEMP.GET: a completed record without response");
    }
    out->fingerprint = copy_bytes(fingerprint->str, fingerprint->len);
    out->fingerprint_len = fingerprint->len;
    if (out->completed) {
        out->response = copy_bytes(response->str, response->len);
        out->response_len = response->len;
    }
    if (out->fingerprint == NULL || (out->completed && out->response == NULL)) {
        sg_idemp_record_free(out);
        return sg_fail(ctx, SG_ERR_OOM, "out of memory");
    }
    out->exists = 1;
    return SG_OK;
}

void sg_members_page_free(sg_members_page *page) {
    if (page == NULL) return;
    free(page->storage);
    memset(page, 0, sizeof(*page));
}

void sg_idemp_begin_free(sg_idemp_begin *result) {
    if (result == NULL) return;
    free(result->response);
    result->response = NULL;
    result->response_len = 0;
}

void sg_idemp_record_free(sg_idemp_record *record) {
    if (record == NULL) return;
    free(record->fingerprint);
    free(record->response);
    memset(record, 0, sizeof(*record));
}

/* ---- cluster --------------------------------------------------------------------------------- */
/* "<slot> <host>:<port>" after the word; the host may be an IPv6 address (the port follows the
 * last colon) or empty (the node that answered, which the caller knows; we leave host empty). */
static int parse_slot_and_address(const char *text, size_t len, sg_redirect *out) {
    char buf[320];
    if (len >= sizeof(buf)) return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *end;
    long slot = strtol(buf, &end, 10);
    if (end == buf || *end != ' ' || slot < 0 || slot > 16383) return -1;
    char *address = end + 1;
    char *colon = strrchr(address, ':');
    if (colon == NULL) return -1;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || (*end != '\0' && *end != '\r' && *end != '\n') || port <= 0 || port > 65535) return -1;
    size_t host_len = (size_t)(colon - address);
    if (host_len >= sizeof(out->host)) return -1;
    memcpy(out->host, address, host_len);
    out->host[host_len] = '\0';
    out->slot = (int)slot;
    out->port = (int)port;
    return 0;
}

sg_redirect_kind sg_parse_redirect(const char *text, size_t len, sg_redirect *out) {
    memset(out, 0, sizeof(*out));
    sg_redirect_kind kind = SG_REDIRECT_NONE;
    if (starts_with(text, len, "MOVED ")) {
        if (parse_slot_and_address(text + 6, len - 6, out) == 0) kind = SG_REDIRECT_MOVED;
    } else if (starts_with(text, len, "ASK ")) {
        if (parse_slot_and_address(text + 4, len - 4, out) == 0) kind = SG_REDIRECT_ASK;
    } else if (starts_with(text, len, "TRYAGAIN")) {
        kind = SG_REDIRECT_TRYAGAIN;
    } else if (starts_with(text, len, "CLUSTERDOWN")) {
        kind = SG_REDIRECT_CLUSTERDOWN;
    }
    out->kind = kind;
    return kind;
}

int sg_parse_cluster_slots(const redisReply *reply, sg_slot_range_fn visit, void *arg) {
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) return -1;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *range = reply->element[i];
        /* [first, last, [host, port, id, ...], replicas...] */
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) return -1;
        const redisReply *first = range->element[0], *last = range->element[1], *master = range->element[2];
        if (first->type != REDIS_REPLY_INTEGER || last->type != REDIS_REPLY_INTEGER || first->integer < 0 ||
            last->integer > 16383 || first->integer > last->integer)
            return -1;
        if (master->type != REDIS_REPLY_ARRAY || master->elements < 2 || master->element[0]->type != REDIS_REPLY_STRING ||
            master->element[1]->type != REDIS_REPLY_INTEGER || master->element[1]->integer <= 0 ||
            master->element[1]->integer > 65535 || master->element[0]->len >= 256)
            return -1;
        char host[256];
        memcpy(host, master->element[0]->str, master->element[0]->len);
        host[master->element[0]->len] = '\0';
        visit((int)first->integer, (int)last->integer, host, (int)master->element[1]->integer, arg);
    }
    return (int)reply->elements;
}

/* ---- rate limits ----------------------------------------------------------------------------- */
/* An array of exactly n integers into out. */
static int integer_array(sg_context *ctx, const redisReply *reply, size_t n, long long *out, const char *what) {
    if (expect_type(ctx, reply, REDIS_REPLY_ARRAY, what) != SG_OK) return SG_ERR;
    if (reply->elements != n) return sg_fail(ctx, SG_ERR_PROTOCOL, "%s reply has %zu elements", what, reply->elements);
    for (size_t i = 0; i < n; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER)
            return sg_fail(ctx, SG_ERR_PROTOCOL, "%s reply element %zu is not an integer", what, i);
        out[i] = reply->element[i]->integer;
    }
    return SG_OK;
}

int sg_decode_throttle(sg_context *ctx, const redisReply *reply, sg_throttle_result *out) {
    long long v[5];
    memset(out, 0, sizeof(*out));
    if (integer_array(ctx, reply, 5, v, "RATE.THROTTLE") != SG_OK) return SG_ERR;
    if ((v[0] != 0 && v[0] != 1) || v[1] < 1 || v[2] < 0 || v[3] < -1 || v[4] < 0)
        return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected RATE.THROTTLE reply");
    *out = (sg_throttle_result){(int)v[0], v[1], v[2], v[3], v[4]};
    return SG_OK;
}

int sg_decode_window(sg_context *ctx, const redisReply *reply, sg_window_result *out) {
    long long v;
    if (sg_decode_integer(ctx, reply, SG_WINDOW_OVER, SG_WINDOW_LAST, &v) != SG_OK) return SG_ERR;
    *out = (sg_window_result)v;
    return SG_OK;
}

int sg_decode_window_info(sg_context *ctx, const redisReply *reply, sg_window_info *out) {
    long long v[4];
    memset(out, 0, sizeof(*out));
    if (integer_array(ctx, reply, 4, v, "RATE.WINDOW.INFO") != SG_OK) return SG_ERR;
    if (v[0] < 0 || v[1] < 0 || v[2] < -1 || v[3] < -1)
        return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected RATE.WINDOW.INFO reply");
    *out = (sg_window_info){v[0], v[1], v[2], v[3]};
    return SG_OK;
}

int sg_decode_rate_all(sg_context *ctx, const redisReply *reply, const sg_limit_kind *kinds, size_t n, int *allowed,
                       sg_rate_outcome *outcomes) {
    if (expect_type(ctx, reply, REDIS_REPLY_ARRAY, "RATE.ALL") != SG_OK) return SG_ERR;
    if (reply->elements != n + 1 || reply->element[0]->type != REDIS_REPLY_INTEGER ||
        (reply->element[0]->integer != 0 && reply->element[0]->integer != 1))
        return sg_fail(ctx, SG_ERR_PROTOCOL, "unexpected RATE.ALL reply");
    for (size_t i = 0; i < n; i++) {
        sg_rate_outcome o = {.kind = kinds[i]};
        int rc = kinds[i] == SG_LIMIT_THROTTLE ? sg_decode_throttle(ctx, reply->element[i + 1], &o.throttle)
                                               : sg_decode_window(ctx, reply->element[i + 1], &o.window);
        if (rc != SG_OK) return SG_ERR;
        if (outcomes != NULL) outcomes[i] = o;
    }
    *allowed = (int)reply->element[0]->integer;
    return SG_OK;
}

/* ---- sharded trials' move ledger ------------------------------------------------------------- */
/* The next number of an entry: digits only (a sign where allowed), then a space or the end. */
static int entry_number(const char **at, const char *end, int sign_allowed, long long *out) {
    const char *p = *at;
    int negative = sign_allowed && p < end && *p == '-';
    if (negative) p++;
    if (p == end || *p < '0' || *p > '9') return -1;
    long long value = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (value > (LLONG_MAX - (*p - '0')) / 10) return -1;
        value = value * 10 + (*p - '0');
    }
    if (p < end && (*p != ' ' || p + 1 == end)) return -1; /* a space only between two fields */
    *out = negative ? -value : value;
    *at = p < end ? p + 1 : p;
    return 0;
}

int sg_parse_move_entry(const char *text, size_t len, int shards, int *to, long long *amount, long long *done_at_ms) {
    const char *at = text, *end = text + len;
    long long shard, slots, done_at = -1;
    if (text == NULL || entry_number(&at, end, 0, &shard) != 0 || entry_number(&at, end, 0, &slots) != 0) return -1;
    if (at < end) {
        if (end - at < 5 || memcmp(at, "done ", 5) != 0) return -1;
        at += 5;
        if (entry_number(&at, end, 0, &done_at) != 0 || at != end) return -1;
    }
    if (shard >= shards || slots < 1) return -1;
    *to = (int)shard;
    *amount = slots;
    *done_at_ms = done_at;
    return 0;
}
