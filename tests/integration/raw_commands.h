/* raw_commands.h -- the module's commands sent as they are over hiredis, with their replies
 * checked against the README's shapes: for the suites that test the module itself. (libslotguard's
 * typed calls, client/slotguard.h, are the library under test in the test_client_* suites; these
 * helpers stay independent of it, hence the raw_ prefix.) */
#ifndef SG_RAW_COMMANDS_H
#define SG_RAW_COMMANDS_H

#include "checks.h"

/* ---- locks (LOCK.*) ---------------------------------------------------------------------------- */
#define RAW_LOCK_MAX_OWNER_LEN 512
#define RAW_LOCK_QUEUE_TIMEOUT_MS 5000 /* how long raw_lock_wait_for_waiters waits */
/* A LOCK.ACQUIRE reply: the token (>= 1) when granted, 0 for nil; fails on anything else. Frees it. */
long long raw_lock_token_or_nil(redisReply *r, const char *what);
/* LOCK.ACQUIRE key owner ttl [REENTRANT] (text key and owner): the token, or 0 for nil. */
long long raw_lock_acquire(redisContext *c, const char *key, const char *owner, long long ttl);
long long raw_lock_acquire_reentrant(redisContext *c, const char *key, const char *owner, long long ttl);
long long raw_lock_release(redisContext *c, const char *key, const char *owner);
long long raw_lock_extend(redisContext *c, const char *key, const char *owner, long long ttl);
typedef struct raw_lock_info {
    int held; /* 0: LOCK.INFO answered nil */
    char owner[RAW_LOCK_MAX_OWNER_LEN + 1];
    size_t owner_len;
    long long ttl, token, holds, waiters;
} raw_lock_info;
/* LOCK.INFO, checked to be nil or every documented field with the documented type. */
raw_lock_info raw_lock_info_of(redisContext *c, const char *key);
raw_lock_info raw_lock_info_of_binary(redisContext *c, const char *key, size_t key_len);
void raw_lock_assert_owner(const raw_lock_info *info, const char *owner, size_t len);
void raw_lock_assert_held_by(redisContext *c, const char *key, const char *owner);
void raw_lock_assert_free(redisContext *c, const char *key);
/* Poll LOCK.INFO until `waiters` equals `count` (the lock must be held meanwhile). */
void raw_lock_wait_for_waiters(redisContext *c, const char *key, long long count);

/* ---- idempotency records (IDEMP.*) -------------------------------------------------------------- */
/* The raw two-element IDEMP.BEGIN reply (checked to be a two-element array whose first element is
 * one of the four words). Caller frees. */
redisReply *raw_idemp_begin_raw(redisContext *c, const char *key, const char *fp, size_t fp_len, long long lease);
/* Fail with what a BEGIN reply was and what was expected; frees it. */
void raw_idemp_fail_begin(const char *key, const char *expected, redisReply *r);
/* Expect `new`; returns the token. */
long long raw_idemp_begin_new(redisContext *c, const char *key, const char *fp, long long lease);
long long raw_idemp_begin_new_bin(redisContext *c, const char *key, const char *fp, size_t fp_len, long long lease);
/* Expect `in_progress`; returns the remaining lease. */
long long raw_idemp_begin_in_progress(redisContext *c, const char *key, const char *fp, long long lease);
/* Expect `completed` with this response. */
void raw_idemp_begin_completed(redisContext *c, const char *key, const char *fp, const char *response);
void raw_idemp_begin_completed_bin(redisContext *c, const char *key, const char *fp, size_t fp_len,
                                  const char *response, size_t response_len);
/* Expect `mismatch` with the record's state. */
void raw_idemp_begin_mismatch(redisContext *c, const char *key, const char *fp, const char *record_state);
long long raw_idemp_complete(redisContext *c, const char *key, long long token, const char *response, long long ttl);
long long raw_idemp_complete_bin(redisContext *c, const char *key, long long token, const char *response,
                                size_t response_len, long long ttl);
long long raw_idemp_abort(redisContext *c, const char *key, long long token);
typedef struct raw_idemp_record {
    int present;        /* 0: IDEMP.GET answered nil */
    char state[32];
    char *fingerprint;  /* malloc'ed */
    size_t fingerprint_len;
    long long token;
    long long ttl;
    int has_response;   /* 0: the response field is nil */
    char *response;     /* malloc'ed, or NULL */
    size_t response_len;
} raw_idemp_record;
/* IDEMP.GET, checked to be nil or exactly the five field/value pairs of README. */
raw_idemp_record raw_idemp_get(redisContext *c, const char *key);
void raw_idemp_record_free(raw_idemp_record *v);
/* Check a record's fields; a ttl window (min_ttl..max_ttl, ms). response NULL: nil expected. */
void raw_idemp_assert_record(redisContext *c, const char *key, const char *state, const char *fp, size_t fp_len,
                            long long token, long long min_ttl, long long max_ttl, const char *response,
                            size_t response_len);

/* ---- trials (SLOTS.*, ENROLL.*) ----------------------------------------------------------------- */
long long raw_enroll(redisContext *c, const char *key, const char *user);
long long raw_enroll_cancel(redisContext *c, const char *key, const char *user);
typedef struct raw_trial_info {
    long long capacity, remaining, enrolled, waitlisted, waitlist_max, next_arrival;
} raw_trial_info;
/* SLOTS.INFO, checked to be exactly the six field/value pairs with integer values. */
raw_trial_info raw_trial_info_of(redisContext *c, const char *key);
void raw_assert_trial_info(redisContext *c, const char *key, long long capacity, long long remaining,
                          long long enrolled, long long waitlisted, long long waitlist_max, long long next_arrival);
/* ENROLL.STATUS as (state, number); user given with its length (binary safe). */
void raw_enroll_status(redisContext *c, const char *key, const char *user, size_t len, char *state, size_t state_size,
                      long long *number);
void raw_assert_enroll_status(redisContext *c, const char *key, const char *user, const char *state, long long number);
/* One ENROLL.MEMBERS page: returns the reply (caller frees), sets *next_cursor and *users. */
redisReply *raw_members_page(redisContext *c, const char *key, unsigned long long cursor, long long count,
                            int with_arrivals, unsigned long long *next_cursor, const redisReply **users);

#endif
