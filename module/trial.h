/* trial.h -- the enrollment core of SlotGuard.
 *
 * A trial is one quota: a capacity, the users enrolled in arrival order and an optional FIFO
 * waitlist. This file and trial.c know nothing of Redis and of the other cores: memory comes through
 * the cores' allocator hook (core_alloc.h) and persistence through reader/writer callbacks, so the
 * whole core is unit-tested alone.
 *
 * Arrival numbers ("tickets") are handed out from a per-trial counter starting at 1, once per user
 * accepted (enrolled or waitlisted). A waitlisted user keeps its ticket when promoted. Tickets are
 * never reused, so they double as the ENROLL.MEMBERS cursor. */
#ifndef SG_TRIAL_H
#define SG_TRIAL_H

#include <stddef.h>
#include <stdint.h>

/* Longest user id accepted, in bytes. Ids are binary-safe and never empty. */
#define TRIAL_MAX_USER_LEN 512
/* Largest capacity and waitlist size: the largest signed 64-bit integer, so every count fits the
 * integer replies of RESP. */
#define TRIAL_MAX_CAPACITY ((uint64_t)INT64_MAX)

/* Encoding of trial_save()/trial_load(); bump when the layout changes and keep loading older ones. */
#define TRIAL_ENCODING_VERSION 1

typedef struct trial trial;

/* ---- setup ---------------------------------------------------------------------------------- */
/* Seed for the user-id hash, so table layouts cannot be predicted by clients. Call before any trial
 * exists. Layout never affects replies, arrival order or serialization. */
void trial_set_hash_seed(uint64_t seed);

/* ---- lifecycle ------------------------------------------------------------------------------- */
/* NULL when out of memory or a limit is exceeded. */
trial *trial_create(uint64_t capacity, uint64_t waitlist_max);
void trial_free(trial *t);
/* A deep copy with the same tickets, order and counters; NULL when out of memory. */
trial *trial_copy(const trial *t);

/* ---- commands -------------------------------------------------------------------------------- */
/* Replies of trial_enroll(); the first three are the Lua script's codes. */
typedef enum trial_enroll_result {
    TRIAL_ENROLL_ENROLLED = 1,
    TRIAL_ENROLL_FULL = 0,
    TRIAL_ENROLL_ALREADY_ENROLLED = -1,
    TRIAL_ENROLL_WAITLISTED = 2,
    TRIAL_ENROLL_ALREADY_WAITLISTED = -2,
    TRIAL_ENROLL_NO_MEMORY = -100,
    TRIAL_ENROLL_BAD_USER = -101, /* empty or longer than TRIAL_MAX_USER_LEN */
} trial_enroll_result;

/* Enroll `user`, or put it on the waitlist when full and the waitlist has room. On ENROLLED and
 * WAITLISTED, *ticket (when not NULL) receives the new arrival number. */
trial_enroll_result trial_enroll(trial *t, const char *user, size_t len, uint64_t *ticket);

typedef enum trial_cancel_result {
    TRIAL_CANCEL_NOT_FOUND = 0,
    TRIAL_CANCEL_WITHDRAWN = 1,      /* was enrolled; its slot is free or went to the waitlist head */
    TRIAL_CANCEL_LEFT_WAITLIST = 2,  /* was waitlisted and is gone from the waitlist */
} trial_cancel_result;

/* Withdraw `user`. *promoted (when not NULL) receives how many waitlisted users were enrolled in
 * the same step (0 or 1). Never needs memory to succeed. */
trial_cancel_result trial_cancel(trial *t, const char *user, size_t len, uint64_t *promoted);

/* Change capacity (values above TRIAL_MAX_CAPACITY are clamped). Enrolled users are never
 * dropped: lowering below the enrolled count only leaves no room until enough users cancel.
 * Raising promotes from the waitlist in FIFO order. Returns the number of users promoted, or
 * TRIAL_RESIZE_NO_MEMORY, with nothing changed, when the promotions could not be made room for. */
#define TRIAL_RESIZE_NO_MEMORY UINT64_MAX
uint64_t trial_resize(trial *t, uint64_t capacity);

typedef enum trial_state {
    TRIAL_STATE_NONE = 0,
    TRIAL_STATE_ENROLLED = 1,
    TRIAL_STATE_WAITLISTED = 2,
} trial_state;

/* State of `user`; *value receives the arrival number when enrolled, the 1-based waitlist position
 * when waitlisted, 0 otherwise. O(1) for enrolled users, O(waitlist) for waitlisted ones. */
trial_state trial_status(const trial *t, const char *user, size_t len, uint64_t *value);

/* ---- reading --------------------------------------------------------------------------------- */
uint64_t trial_capacity(const trial *t);
uint64_t trial_waitlist_max(const trial *t);
uint64_t trial_enrolled_count(const trial *t);
uint64_t trial_waitlisted_count(const trial *t);
/* Free slots: capacity - enrolled, or 0 when at or over capacity. */
uint64_t trial_remaining(const trial *t);
/* The arrival number the next accepted user will get (1 for a new trial). */
uint64_t trial_next_ticket(const trial *t);
/* Bytes of memory the trial holds, allocator overhead included. */
size_t trial_memory_usage(const trial *t);

typedef enum trial_list {
    TRIAL_LIST_ENROLLED = 0,
    TRIAL_LIST_WAITLIST = 1,
} trial_list;

/* Called once per user, in arrival (FIFO) order. Return non-zero to stop early. */
typedef int (*trial_visit_fn)(const char *user, size_t len, uint64_t ticket, void *ctx);

/* Visit every user of one list in order. Returns non-zero when the visitor stopped early. */
int trial_foreach(const trial *t, trial_list list, trial_visit_fn visit, void *ctx);

/* SCAN-style page of enrolled users: visits up to `count` users whose ticket is >= `cursor`, in
 * arrival order, and returns the cursor for the next page (0 when the end was reached). Cursor 0
 * starts from the beginning. A user enrolled for the whole scan is returned exactly once.
 * `visit` may be NULL to learn only the next cursor. */
uint64_t trial_scan(const trial *t, uint64_t cursor, size_t count, trial_visit_fn visit, void *ctx);

/* ---- rebuilding (AOF rewrite replay and RDB load) ---------------------------------------------- */
typedef enum trial_restore_result {
    TRIAL_RESTORE_OK = 0,
    TRIAL_RESTORE_BAD_USER = 1,     /* empty or too long */
    TRIAL_RESTORE_DUPLICATE = 2,    /* the user is already in the trial (either list) */
    TRIAL_RESTORE_BAD_TICKET = 3,   /* 0, or not above the last ticket of that list */
    TRIAL_RESTORE_NO_MEMORY = 4,
} trial_restore_result;

/* Append `n` users with their tickets to one list, all or nothing: on failure the trial is left as
 * it was and *failed_at (when not NULL) receives the index of the offending pair. Arrival numbers
 * must increase within the list and be unused in the other list. The next-ticket counter is raised
 * above every restored ticket. Capacity is not checked: a trial may legitimately hold more users
 * than its capacity after SLOTS.RESIZE lowered it; but waitlisted users are promoted at once while
 * slots are free. */
trial_restore_result trial_restore(trial *t, trial_list list, size_t n, const uint64_t *tickets,
                                   const char *const *users, const size_t *lens, size_t *failed_at);

/* Raise the next-ticket counter (never lowers it). */
void trial_raise_next_ticket(trial *t, uint64_t next_ticket);

/* ---- serialization --------------------------------------------------------------------------- */
typedef struct trial_writer {
    void (*write_u64)(void *io, uint64_t value);
    void (*write_bytes)(void *io, const char *bytes, size_t len);
    void *io;
} trial_writer;

typedef struct trial_reader {
    /* Each returns 0 on success, -1 on an I/O error or truncated input. */
    int (*read_u64)(void *io, uint64_t *value);
    /* *bytes must be allocated with the cores' allocator (core_alloc); the core frees it. */
    int (*read_bytes)(void *io, char **bytes, size_t *len);
    void *io;
} trial_reader;

void trial_save(const trial *t, const trial_writer *w);
/* NULL on an unknown encoding, truncated or inconsistent input (every length and ticket is
 * validated), or out of memory. */
trial *trial_load(const trial_reader *r, int encoding_version);

/* ---- checking -------------------------------------------------------------------------------- */
/* 0 when every internal invariant holds (counts, order, index, no user in both lists); a negative
 * number naming the first broken one otherwise. For tests and debugging. */
int trial_check(const trial *t);

#endif
