/* idemp.c -- the idempotency core: see idemp.h. */
#include "idemp.h"

#include "core_alloc.h"

#include <string.h>

int idemp_valid_fields(int state, size_t fingerprint_len, size_t response_len, uint64_t token) {
    if (state != IDEMP_IN_PROGRESS && state != IDEMP_COMPLETED) return 0;
    if (fingerprint_len == 0 || fingerprint_len > IDEMP_MAX_FINGERPRINT_LEN) return 0;
    if (response_len > IDEMP_MAX_RESPONSE_LEN) return 0;
    if (state == IDEMP_IN_PROGRESS && response_len != 0) return 0;
    return token >= 1 && token <= TOKEN_MAX;
}

idemp_record *idemp_record_new(idemp_state state, const char *fingerprint, size_t fingerprint_len, uint64_t token,
                               int64_t deadline_ms, const char *response, size_t response_len) {
    if (!idemp_valid_fields(state, fingerprint_len, response_len, token)) return NULL;
    idemp_record *r = core_alloc(offsetof(idemp_record, data) + fingerprint_len + response_len);
    if (r == NULL) return NULL;
    r->token = token;
    r->deadline_ms = deadline_ms;
    r->state = (uint8_t)state;
    r->fingerprint_len = (uint32_t)fingerprint_len;
    r->response_len = (uint32_t)response_len;
    memcpy(r->data, fingerprint, fingerprint_len);
    if (response_len) memcpy(r->data + fingerprint_len, response, response_len);
    return r;
}

void idemp_record_free(idemp_record *r) {
    core_free(r);
}

idemp_record *idemp_record_copy(const idemp_record *r) {
    return idemp_record_new(r->state, idemp_fingerprint(r), r->fingerprint_len, r->token, r->deadline_ms,
                            idemp_response(r), r->response_len);
}

size_t idemp_record_size(const idemp_record *r) {
    return core_block_size((void *)r, offsetof(idemp_record, data) + r->fingerprint_len + r->response_len);
}

const char *idemp_fingerprint(const idemp_record *r) { return r->data; }
const char *idemp_response(const idemp_record *r) { return r->data + r->fingerprint_len; }

idemp_begin_outcome idemp_decide_begin(const idemp_record *r, const char *fingerprint, size_t len) {
    if (r == NULL) return IDEMP_BEGIN_NEW;
    if (r->fingerprint_len != len || memcmp(r->data, fingerprint, len) != 0) return IDEMP_BEGIN_MISMATCH;
    return r->state == IDEMP_COMPLETED ? IDEMP_BEGIN_COMPLETED : IDEMP_BEGIN_IN_PROGRESS;
}

int idemp_owns(const idemp_record *r, uint64_t token) {
    return r != NULL && r->state == IDEMP_IN_PROGRESS && r->token == token;
}
