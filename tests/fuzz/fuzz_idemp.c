/* fuzz_idemp.c -- libFuzzer harness of the idempotency core (module/idemp.h).
 *
 * idemp_valid_fields() on arbitrary fields against the contract; records built from input bytes
 * hold exactly what they were given, copy to equal records and are refused for invalid fields.
 * Then one key's life as IDEMP.BEGIN / COMPLETE / ABORT / expiry drive it, with tokens from the
 * token clock on a fake clock: idemp_decide_begin() and idemp_owns() are checked against a model
 * (who owns the processing, which fingerprint the key was first used with, whether it completed),
 * with an allocator that may fail (then nothing changes). No block may leak. */
#include <stdint.h>
#include <string.h>

#include "core_alloc.h"
#include "fuzz_support.h"
#include "idemp.h"
#include "token_clock.h"

static int reference_valid(int state, size_t fingerprint_len, size_t response_len, uint64_t token) {
    int known = state == IDEMP_IN_PROGRESS || state == IDEMP_COMPLETED;
    return known && fingerprint_len >= 1 && fingerprint_len <= IDEMP_MAX_FINGERPRINT_LEN &&
           response_len <= IDEMP_MAX_RESPONSE_LEN && (state == IDEMP_COMPLETED || response_len == 0) && token >= 1 &&
           token <= TOKEN_MAX;
}

static size_t take_length(fuzz_input *in) {
    uint8_t k = fuzz_take_u8(in);
    switch (k % 6) {
    case 0: return 0;
    case 1: return IDEMP_MAX_FINGERPRINT_LEN + (k >> 3) % 3 - 1;
    case 2: return IDEMP_MAX_RESPONSE_LEN + (k >> 3) % 3 - 1;
    case 3: return (size_t)fuzz_take_u64(in);
    default: return fuzz_take_u16(in);
    }
}

static void check_record(const idemp_record *r, idemp_state state, const uint8_t *fp, size_t fp_len, uint64_t token,
                         int64_t deadline, const uint8_t *resp, size_t resp_len) {
    FUZZ_CHECK(r->state == state && r->token == token && r->deadline_ms == deadline, "a record's fields differ");
    FUZZ_CHECK(r->fingerprint_len == fp_len && memcmp(idemp_fingerprint(r), fp, fp_len) == 0, "fingerprint differs");
    FUZZ_CHECK(r->response_len == resp_len && (resp_len == 0 || memcmp(idemp_response(r), resp, resp_len) == 0),
               "response differs");
    FUZZ_CHECK(idemp_record_size(r) >= fp_len + resp_len, "a record smaller than its bytes");
}

static void fuzz_fields(fuzz_input *in) {
    int state = (int)(int8_t)fuzz_take_u8(in) % 4;
    size_t fp_len = take_length(in), resp_len = take_length(in);
    uint64_t token = (uint64_t)fuzz_take_i64_edgy(in);
    int want = reference_valid(state, fp_len, resp_len, token);
    FUZZ_CHECK(idemp_valid_fields(state, fp_len, resp_len, token) == want,
               "idemp_valid_fields(%d, %zu, %zu, %llu) is not %d", state, fp_len, resp_len, (unsigned long long)token,
               want);
    /* A record from real bytes: lengths as far as the input goes. */
    const uint8_t *fp, *resp;
    fp_len = fuzz_take_bytes(in, IDEMP_MAX_FINGERPRINT_LEN + 4, &fp);
    resp_len = fuzz_take_bytes(in, 300, &resp);
    int64_t deadline = fuzz_take_i64_edgy(in);
    want = reference_valid(state, fp_len, resp_len, token);
    idemp_record *r = idemp_record_new((idemp_state)state, (const char *)fp, fp_len, token, deadline,
                                       (const char *)resp, resp_len);
    FUZZ_CHECK((r != NULL) == want, "idemp_record_new answered %p for fields valid=%d", (void *)r, want);
    if (r == NULL) return;
    check_record(r, (idemp_state)state, fp, fp_len, token, deadline, resp, resp_len);
    idemp_record *c = idemp_record_copy(r);
    FUZZ_CHECK(c != NULL, "copy failed");
    check_record(c, (idemp_state)state, fp, fp_len, token, deadline, resp, resp_len);
    FUZZ_CHECK(idemp_decide_begin(c, (const char *)fp, fp_len) ==
                   (state == IDEMP_COMPLETED ? IDEMP_BEGIN_COMPLETED : IDEMP_BEGIN_IN_PROGRESS),
               "begin with the record's own fingerprint");
    FUZZ_CHECK(idemp_owns(c, token) == (state == IDEMP_IN_PROGRESS), "owns with the record's token");
    idemp_record_free(c);
    idemp_record_free(r);
}

/* ==== one key's life ============================================================================= */
typedef struct key_model {
    int exists;
    int completed;
    uint8_t fingerprint[64];
    size_t fingerprint_len;
    uint64_t token;
} key_model;

static void check_key(const idemp_record *r, const key_model *m) {
    FUZZ_CHECK((r != NULL) == m->exists, "the key exists: %d, the model: %d", r != NULL, m->exists);
    if (r == NULL) return;
    FUZZ_CHECK(r->state == (m->completed ? IDEMP_COMPLETED : IDEMP_IN_PROGRESS), "state differs from the model");
    FUZZ_CHECK(r->token == m->token, "token differs from the model");
    FUZZ_CHECK(r->fingerprint_len == m->fingerprint_len &&
                   memcmp(idemp_fingerprint(r), m->fingerprint, m->fingerprint_len) == 0,
               "fingerprint differs from the model");
}

static void fuzz_key(fuzz_input *in) {
    static const char *const fingerprints[] = {"a", "b", "sha:1", "sha:1\0x"};
    static const size_t fingerprint_lens[] = {1, 1, 5, 7};
    token_clock clock = {0};
    uint64_t now_us = 1700000000000000ULL, last_token = 0;
    idemp_record *r = NULL;
    key_model m = {0};
    while (!fuzz_input_done(in)) {
        uint8_t op = fuzz_take_u8(in);
        int may_fail = (op & 0x80) != 0;
        if (may_fail) fuzz_alloc_fail_after(0);
        now_us += fuzz_take_u8(in) % 3;
        uint8_t k = fuzz_take_u8(in);
        const char *fp = fingerprints[k % 4];
        size_t fp_len = fingerprint_lens[k % 4];
        switch (op % 5) {
        case 0: { /* IDEMP.BEGIN */
            idemp_begin_outcome got = idemp_decide_begin(r, fp, fp_len);
            idemp_begin_outcome want = !m.exists ? IDEMP_BEGIN_NEW
                                       : m.fingerprint_len != fp_len || memcmp(m.fingerprint, fp, fp_len) != 0
                                           ? IDEMP_BEGIN_MISMATCH
                                       : m.completed ? IDEMP_BEGIN_COMPLETED
                                                     : IDEMP_BEGIN_IN_PROGRESS;
            FUZZ_CHECK(got == want, "decide_begin %d, the model %d", (int)got, (int)want);
            if (got != IDEMP_BEGIN_NEW) break;
            uint64_t token = token_clock_next(&clock, now_us);
            FUZZ_CHECK(token > last_token, "token %llu after %llu", (unsigned long long)token,
                       (unsigned long long)last_token);
            last_token = token;
            idemp_record *fresh = idemp_record_new(IDEMP_IN_PROGRESS, fp, fp_len, token, 1000, NULL, 0);
            if (fresh == NULL) {
                FUZZ_CHECK(may_fail, "a valid record could not be made");
                break;
            }
            r = fresh;
            m = (key_model){1, 0, {0}, fp_len, token};
            memcpy(m.fingerprint, fp, fp_len);
            break;
        }
        case 1: { /* IDEMP.COMPLETE token response: the owner's, or a stale / made-up token */
            uint64_t token = (k & 0x10) ? m.token : (k & 0x20) ? last_token + 1 : (uint64_t)fuzz_take_i64_edgy(in);
            int owns = idemp_owns(r, token);
            FUZZ_CHECK(owns == (m.exists && !m.completed && m.token == token), "owns %d disagrees", owns);
            if (!owns) break;
            const uint8_t *resp;
            size_t resp_len = fuzz_take_bytes(in, 40, &resp);
            idemp_record *done = idemp_record_new(IDEMP_COMPLETED, idemp_fingerprint(r), r->fingerprint_len, r->token,
                                                  2000, (const char *)resp, resp_len);
            if (done == NULL) {
                FUZZ_CHECK(may_fail, "a completed record could not be made");
                break;
            }
            check_record(done, IDEMP_COMPLETED, m.fingerprint, m.fingerprint_len, m.token, 2000, resp, resp_len);
            idemp_record_free(r);
            r = done;
            m.completed = 1;
            FUZZ_CHECK(!idemp_owns(r, token), "a completed record is still owned");
            break;
        }
        case 2: { /* IDEMP.ABORT token */
            uint64_t token = (k & 0x10) ? m.token : (uint64_t)fuzz_take_i64_edgy(in);
            if (!idemp_owns(r, token)) break;
            idemp_record_free(r);
            r = NULL;
            m.exists = 0;
            break;
        }
        case 3: /* the lease or the stored response ended */
            idemp_record_free(r);
            r = NULL;
            m.exists = 0;
            break;
        default: { /* a token from outside (IDEMP.RECORD, a replica's stream) moves the clock */
            uint64_t token = (uint64_t)fuzz_take_i64_edgy(in);
            uint64_t before = clock.last;
            token_clock_observe(&clock, token, now_us);
            FUZZ_CHECK(clock.last >= before, "the clock went back");
            if (clock.last > last_token) last_token = clock.last;
            break;
        }
        }
        fuzz_alloc_fail_after(-1);
        check_key(r, &m);
    }
    idemp_record_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_alloc_install();
    fuzz_alloc_fail_after(-1);
    fuzz_input in;
    fuzz_input_init(&in, data, size);
    if (fuzz_take_u8(&in) & 1) fuzz_fields(&in);
    else fuzz_key(&in);
    FUZZ_CHECK(fuzz_alloc_live() == 0, "%ld blocks leaked", fuzz_alloc_live());
    return 0;
}
