/* fuzz_client_decode.c -- libFuzzer harness of libslotguard's reply decoding (client/decode.c).
 *
 * Replies: the input, after a selector byte, is fed to hiredis's own reader (redisReader), and
 * every reply it parses goes through every decoder. Each must answer SG_OK with a result inside
 * its documented range, or SG_ERR with ctx->err set and a NUL-terminated errstr; what a decoder
 * allocates is freed with the library's own free function (leaks are detected).
 * Text: sg_parse_move_entry() against a reference of the "<to> <amount>[ done <ms>]" grammar,
 * sg_parse_redirect() for the fields it fills (and a MOVED/ASK it accepts parses back the same
 * when written out again). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "decode.h"
#include "fuzz_support.h"

static void check_outcome(const sg_context *ctx, int rc, const char *what) {
    FUZZ_CHECK(rc == SG_OK || rc == SG_ERR, "%s returned %d", what, rc);
    if (rc == SG_ERR) {
        FUZZ_CHECK(ctx->err != 0, "%s failed without an error code", what);
        FUZZ_CHECK(memchr(ctx->errstr, '\0', sizeof(ctx->errstr)) != NULL, "%s: errstr is not terminated", what);
    } else {
        FUZZ_CHECK(ctx->err == 0, "%s succeeded with an error code", what);
    }
}

static void fresh(sg_context *ctx) {
    memset(ctx, 0, sizeof(*ctx));
    sg_clear_error(ctx);
}

static void slot_range(int first, int last, const char *host, int port, void *arg) {
    int *ranges = arg;
    FUZZ_CHECK(first >= 0 && first <= last && last <= 16383, "slot range %d-%d", first, last);
    FUZZ_CHECK(port >= 1 && port <= 65535 && strlen(host) < 256, "master %s:%d", host, port);
    (*ranges)++;
}

static void decode_everything(const redisReply *reply, long long min, long long max) {
    sg_context ctx;
    int rc;
    long long v = 0;
    fresh(&ctx);
    if (min > max) {
        long long t = min;
        min = max;
        max = t;
    }
    rc = sg_decode_integer(&ctx, reply, min, max, &v);
    check_outcome(&ctx, rc, "sg_decode_integer");
    if (rc == SG_OK) FUZZ_CHECK(v >= min && v <= max, "integer %lld outside [%lld, %lld]", v, min, max);

    fresh(&ctx);
    check_outcome(&ctx, sg_decode_ok(&ctx, reply), "sg_decode_ok");

    sg_enroll_result enroll;
    fresh(&ctx);
    rc = sg_decode_enroll(&ctx, reply, &enroll);
    check_outcome(&ctx, rc, "sg_decode_enroll");
    if (rc == SG_OK) FUZZ_CHECK((int)enroll >= -2 && (int)enroll <= 2, "enroll result %d", (int)enroll);

    sg_user_status status;
    fresh(&ctx);
    rc = sg_decode_user_status(&ctx, reply, &status);
    check_outcome(&ctx, rc, "sg_decode_user_status");
    if (rc == SG_OK)
        FUZZ_CHECK(status.state == SG_USER_NONE || status.state == SG_USER_ENROLLED || status.state == SG_USER_WAITLISTED,
                   "user state %d", (int)status.state);

    sg_trial_info info;
    fresh(&ctx);
    rc = sg_decode_trial_info(&ctx, reply, &info);
    check_outcome(&ctx, rc, "sg_decode_trial_info");
    if (rc != SG_OK || !info.exists)
        FUZZ_CHECK(info.capacity == 0 && info.enrolled == 0 && info.next_arrival == 0, "trial info left filled");

    sg_members_page page;
    fresh(&ctx);
    rc = sg_decode_members_page(&ctx, reply, &page);
    check_outcome(&ctx, rc, "sg_decode_members_page");
    if (rc == SG_OK) {
        FUZZ_CHECK(page.count == 0 || page.members != NULL, "a page without members");
        size_t bytes = 0;
        for (size_t i = 0; i < page.count; i++) {
            bytes += page.members[i].user_len;
            if (page.members[i].user_len) (void)*(volatile const char *)&page.members[i].user[page.members[i].user_len - 1];
        }
        FUZZ_CHECK(page.count == reply->element[1]->elements / 2, "a page of %zu members from %zu elements",
                   page.count, reply->element[1]->elements);
        (void)bytes;
    } else {
        FUZZ_CHECK(page.storage == NULL && page.count == 0, "a failed page holds storage");
    }
    sg_members_page_free(&page);

    fresh(&ctx);
    rc = sg_decode_token_or_nil(&ctx, reply, &v);
    check_outcome(&ctx, rc, "sg_decode_token_or_nil");
    if (rc == SG_OK) FUZZ_CHECK(v >= 0, "token %lld", v);

    sg_lock_info lock;
    fresh(&ctx);
    rc = sg_decode_lock_info(&ctx, reply, &lock);
    check_outcome(&ctx, rc, "sg_decode_lock_info");
    if (rc == SG_OK) FUZZ_CHECK(lock.owner_len <= sizeof(lock.owner), "owner of %zu bytes", lock.owner_len);
    if (rc != SG_OK || !lock.held) FUZZ_CHECK(lock.owner_len == 0 && lock.token == 0, "lock info left filled");

    sg_idemp_begin begin;
    fresh(&ctx);
    rc = sg_decode_idemp_begin(&ctx, reply, &begin);
    check_outcome(&ctx, rc, "sg_decode_idemp_begin");
    if (rc == SG_OK) {
        FUZZ_CHECK(begin.outcome >= SG_IDEMP_NEW && begin.outcome <= SG_IDEMP_MISMATCH, "idemp outcome %d",
                   (int)begin.outcome);
        FUZZ_CHECK((begin.outcome == SG_IDEMP_COMPLETED) == (begin.response != NULL), "a response without COMPLETED");
    }
    sg_idemp_begin_free(&begin);

    sg_idemp_record record;
    fresh(&ctx);
    rc = sg_decode_idemp_record(&ctx, reply, &record);
    check_outcome(&ctx, rc, "sg_decode_idemp_record");
    if (rc == SG_OK && record.exists) {
        FUZZ_CHECK(record.fingerprint != NULL, "a record without fingerprint");
        FUZZ_CHECK(record.completed == (record.response != NULL), "response and completed disagree");
    } else {
        FUZZ_CHECK(record.fingerprint == NULL && record.response == NULL && !record.exists, "a failed record holds data");
    }
    sg_idemp_record_free(&record);

    sg_throttle_result throttle;
    fresh(&ctx);
    rc = sg_decode_throttle(&ctx, reply, &throttle);
    check_outcome(&ctx, rc, "sg_decode_throttle");
    if (rc == SG_OK)
        FUZZ_CHECK((throttle.limited == 0 || throttle.limited == 1) && throttle.limit >= 1 && throttle.remaining >= 0 &&
                       throttle.retry_after >= -1 && throttle.reset_after >= 0,
                   "throttle result out of range");

    sg_window_result window;
    fresh(&ctx);
    rc = sg_decode_window(&ctx, reply, &window);
    check_outcome(&ctx, rc, "sg_decode_window");
    if (rc == SG_OK) FUZZ_CHECK(window >= SG_WINDOW_OVER && window <= SG_WINDOW_LAST, "window result %d", (int)window);

    sg_window_info winfo;
    fresh(&ctx);
    rc = sg_decode_window_info(&ctx, reply, &winfo);
    check_outcome(&ctx, rc, "sg_decode_window_info");
    if (rc == SG_OK)
        FUZZ_CHECK(winfo.used >= 0 && winfo.remaining >= 0 && winfo.end_ms >= -1 && winfo.wait_ms >= -1,
                   "window info out of range");

    /* RATE.ALL with the kinds the shape suggests: as many as the reply has limits, alternating. */
    sg_limit_kind kinds[SG_RATE_MAX_LIMITS];
    sg_rate_outcome outcomes[SG_RATE_MAX_LIMITS];
    size_t n = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 ? reply->elements - 1 : 0;
    if (n > SG_RATE_MAX_LIMITS) n = SG_RATE_MAX_LIMITS;
    for (size_t i = 0; i < n; i++)
        kinds[i] = reply->element[i + 1]->type == REDIS_REPLY_ARRAY ? SG_LIMIT_THROTTLE : SG_LIMIT_WINDOW;
    int allowed = -1;
    fresh(&ctx);
    rc = sg_decode_rate_all(&ctx, reply, kinds, n, &allowed, (min & 1) ? NULL : outcomes);
    check_outcome(&ctx, rc, "sg_decode_rate_all");
    if (rc == SG_OK) {
        FUZZ_CHECK(allowed == 0 || allowed == 1, "RATE.ALL allowed %d", allowed);
        for (size_t i = 0; i < n && !(min & 1); i++) FUZZ_CHECK(outcomes[i].kind == kinds[i], "outcome kind");
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        fresh(&ctx);
        FUZZ_CHECK(sg_fail_with_reply(&ctx, reply) == SG_ERR, "sg_fail_with_reply did not fail");
        int notrial = reply->len >= 8 && memcmp(reply->str, "NOTRIAL ", 8) == 0;
        FUZZ_CHECK(ctx.err == (notrial ? SG_ERR_NOTRIAL : SG_ERR_SERVER), "error code %d", ctx.err);
    }

    int ranges = 0;
    int count = sg_parse_cluster_slots(reply, slot_range, &ranges);
    FUZZ_CHECK(count == -1 || (count == ranges && (size_t)count == reply->elements), "CLUSTER SLOTS: %d ranges, %d visited",
               count, ranges);
}

/* hiredis 0.14's reader allocates the elements an array announces ("*<n>") before any of them
 * arrives, so a few bytes can ask it for gigabytes (libFuzzer stopped on its rss limit). That is
 * the reader's, not the decoders' under test: inputs announcing more than MAX_ANNOUNCED elements
 * are skipped. */
#define MAX_ANNOUNCED 4096
static int announces_a_huge_array(const uint8_t *p, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '*') continue;
        unsigned long long n = 0;
        for (size_t j = i + 1; j < len && p[j] >= '0' && p[j] <= '9' && n <= MAX_ANNOUNCED; j++) n = n * 10 + (p[j] - '0');
        if (n > MAX_ANNOUNCED) return 1;
    }
    return 0;
}

static void fuzz_replies(fuzz_input *in) {
    long long min = fuzz_take_i64_edgy(in), max = fuzz_take_i64_edgy(in);
    const uint8_t *rest = in->data + in->pos;
    size_t len = fuzz_input_left(in);
    if (announces_a_huge_array(rest, len)) return;
    redisReader *reader = redisReaderCreate();
    FUZZ_CHECK(reader != NULL, "out of memory");
    if (redisReaderFeed(reader, (const char *)rest, len) == REDIS_OK) {
        for (int replies = 0; replies < 64; replies++) {
            void *reply = NULL;
            if (redisReaderGetReply(reader, &reply) != REDIS_OK || reply == NULL) break;
            decode_everything(reply, min, max);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(reader);
}

/* ==== the move ledger's entries ===================================================================== */
/* Digits only, fitting long long; *at moves past them. */
static int reference_number(const char *text, size_t len, size_t *at, long long *out) {
    size_t start = *at;
    long long value = 0;
    while (*at < len && text[*at] >= '0' && text[*at] <= '9') {
        int digit = text[*at] - '0';
        if (value > (LLONG_MAX - digit) / 10) return -1;
        value = value * 10 + digit;
        (*at)++;
    }
    if (*at == start) return -1;
    *out = value;
    return 0;
}

/* "<to> <amount>" or "<to> <amount> done <ms>", single spaces, nothing else. */
static int reference_move_entry(const char *text, size_t len, int shards, int *to, long long *amount, long long *done) {
    size_t at = 0;
    long long shard, slots, done_at = -1;
    if (reference_number(text, len, &at, &shard) != 0 || at == len || text[at++] != ' ') return -1;
    if (reference_number(text, len, &at, &slots) != 0) return -1;
    /* No trailing space ("2 22 ", "2 22 done 5 "): no writer leaves one (once accepted:
     * tests/fuzz/crashes/client-move-entry-trailing-space.bin). */
    if (at < len) {
        if (len - at < 6 || memcmp(text + at, " done ", 6) != 0) return -1;
        at += 6;
        if (reference_number(text, len, &at, &done_at) != 0 || at != len) return -1;
    }
    if (shard >= shards || slots < 1) return -1;
    *to = (int)shard;
    *amount = slots;
    *done = done_at;
    return 0;
}

static void fuzz_text(fuzz_input *in) {
    int shards = (int)(int8_t)fuzz_take_u8(in);
    const uint8_t *bytes;
    size_t len = fuzz_take_bytes(in, 400, &bytes);
    const char *text = (const char *)bytes;
    int to = -5, rto = -5;
    long long amount = -5, done = -5, ramount = -5, rdone = -5;
    int rc = sg_parse_move_entry(text, len, shards, &to, &amount, &done);
    int ref = reference_move_entry(text, len, shards, &rto, &ramount, &rdone);
    FUZZ_CHECK(rc == ref, "sg_parse_move_entry(\"%.*s\", %d) = %d, the reference %d", (int)len, text, shards, rc, ref);
    if (rc == 0)
        FUZZ_CHECK(to == rto && amount == ramount && done == rdone && to >= 0 && to < shards && amount >= 1 &&
                       done >= -1,
                   "sg_parse_move_entry read other values");

    sg_redirect r;
    sg_redirect_kind kind = sg_parse_redirect(text, len, &r);
    FUZZ_CHECK(kind == r.kind, "kind returned and stored differ");
    if (kind == SG_REDIRECT_MOVED || kind == SG_REDIRECT_ASK) {
        const char *word = kind == SG_REDIRECT_MOVED ? "MOVED " : "ASK ";
        FUZZ_CHECK(len >= strlen(word) && memcmp(text, word, strlen(word)) == 0, "a redirect without its word");
        FUZZ_CHECK(r.slot >= 0 && r.slot <= 16383 && r.port >= 1 && r.port <= 65535, "slot %d port %d", r.slot, r.port);
        FUZZ_CHECK(memchr(r.host, '\0', sizeof(r.host)) != NULL, "host not terminated");
        char again[400];
        int n = snprintf(again, sizeof(again), "%s%d %s:%d", word, r.slot, r.host, r.port);
        sg_redirect r2;
        FUZZ_CHECK(n > 0 && (size_t)n < sizeof(again) && sg_parse_redirect(again, (size_t)n, &r2) == kind &&
                       r2.slot == r.slot && r2.port == r.port && strcmp(r2.host, r.host) == 0,
                   "\"%s\" does not parse back the same", again);
    } else if (kind == SG_REDIRECT_TRYAGAIN || kind == SG_REDIRECT_CLUSTERDOWN) {
        const char *word = kind == SG_REDIRECT_TRYAGAIN ? "TRYAGAIN" : "CLUSTERDOWN";
        FUZZ_CHECK(len >= strlen(word) && memcmp(text, word, strlen(word)) == 0, "a redirect without its word");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in;
    fuzz_input_init(&in, data, size);
    if (fuzz_take_u8(&in) & 1) fuzz_text(&in);
    else fuzz_replies(&in);
    return 0;
}
