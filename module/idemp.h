/* idemp.h -- the idempotency core of SlotGuard: the record an idempotency key holds while a request
 * is processed and after it completed, and the decision IDEMP.BEGIN takes. Plain C, no Redis
 * header; memory through the cores' allocator hook (core_alloc.h). */
#ifndef SG_IDEMP_H
#define SG_IDEMP_H

#include <stddef.h>
#include <stdint.h>

#include "token_clock.h"

#define IDEMP_MAX_FINGERPRINT_LEN 1024
#define IDEMP_MAX_RESPONSE_LEN (64u * 1024 * 1024) /* 64 MiB */
#define IDEMP_ENCODING_VERSION 1

typedef enum idemp_state {
    IDEMP_IN_PROGRESS = 1, /* a caller owns processing until its lease ends */
    IDEMP_COMPLETED = 2,   /* the response is stored for replay */
} idemp_state;

typedef struct idemp_record {
    uint64_t token;       /* the processing owner's token (kept after completion) */
    int64_t deadline_ms;  /* absolute Unix time the lease or the stored response ends */
    uint8_t state;
    uint32_t fingerprint_len;
    uint32_t response_len; /* 0 while in progress */
    char data[];           /* fingerprint bytes, then response bytes */
} idemp_record;

/* 1 when the fields could belong to a record. */
int idemp_valid_fields(int state, size_t fingerprint_len, size_t response_len, uint64_t token);
/* NULL when out of memory or a field is invalid. */
idemp_record *idemp_record_new(idemp_state state, const char *fingerprint, size_t fingerprint_len, uint64_t token,
                               int64_t deadline_ms, const char *response, size_t response_len);
void idemp_record_free(idemp_record *r);
idemp_record *idemp_record_copy(const idemp_record *r);
size_t idemp_record_size(const idemp_record *r);
const char *idemp_fingerprint(const idemp_record *r);
const char *idemp_response(const idemp_record *r);

typedef enum idemp_begin_outcome {
    IDEMP_BEGIN_NEW,         /* no record: the caller owns processing */
    IDEMP_BEGIN_IN_PROGRESS, /* same fingerprint, someone else is processing */
    IDEMP_BEGIN_COMPLETED,   /* same fingerprint, the response is there to replay */
    IDEMP_BEGIN_MISMATCH,    /* the key was used with a different fingerprint */
} idemp_begin_outcome;

/* `r` is NULL when the key holds no record. */
idemp_begin_outcome idemp_decide_begin(const idemp_record *r, const char *fingerprint, size_t len);

/* 1 when `token` owns the processing of `r` (in progress with that token). */
int idemp_owns(const idemp_record *r, uint64_t token);

#endif
