/* slotguard.h -- libslotguard, the C client library of the SlotGuard Redis module.
 *
 * The whole public API: one header, one prefix (sg_), built on hiredis 0.14. A context owns the
 * connection to one Redis server, or the connections to the nodes of a Redis Cluster together with
 * the cluster's slot map; the same calls work in both modes.
 *
 * Error model (as hiredis): every call that talks to the server returns SG_OK or SG_ERR. On
 * SG_ERR, ctx->err holds one of the SG_ERR_* codes below and ctx->errstr a readable message; the
 * next call clears both. Business outcomes (full, busy, already enrolled...) are never errors:
 * they come back in the typed result. Results never expose raw replies; strings are pointer +
 * length and binary-safe.
 *
 * Threads: a context is used by one thread at a time (like a hiredis context); give each thread
 * its own. The lock watchdog (sg_watched_lock_*) runs on a thread and connection of its own.
 *
 * Retries: after a connection error or a command timeout, a call whose repetition cannot do harm
 * is retried on a fresh connection up to sg_options.max_retries times; the others return SG_ERR
 * with SG_ERR_IO / SG_ERR_EOF / SG_ERR_TIMEOUT, and then the caller cannot know whether the server
 * executed the command. Each call's comment says which it is ("Retried" or "Not retried") and why.
 * In cluster mode, redirections (MOVED, ASK), TRYAGAIN and CLUSTERDOWN are followed for every call
 * (the command was not executed when the server answered so), within sg_options.max_redirects. */
#ifndef SLOTGUARD_H
#define SLOTGUARD_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "slotguard_version.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SG_OK 0
#define SG_ERR -1

/* ctx->err */
#define SG_ERR_IO 1        /* a connection error (errno in the message); see "Retries" */
#define SG_ERR_EOF 2       /* the server closed the connection */
#define SG_ERR_TIMEOUT 3   /* no reply within the command timeout (or connect timeout) */
#define SG_ERR_PROTOCOL 4  /* an unexpected reply: not a SlotGuard server, or a different version */
#define SG_ERR_OOM 5       /* out of memory in the client */
#define SG_ERR_SERVER 6    /* the server answered an error (ERR ..., WRONGTYPE ..., READONLY ...) */
#define SG_ERR_NOTRIAL 7   /* an enrollment command found no trial at the key (server's NOTRIAL) */
#define SG_ERR_CLUSTER 8   /* cluster mode: no node answers for the slot, or redirections ran out */
#define SG_ERR_ARGUMENT 9  /* a bad argument caught before sending (NULL pointer, negative count) */
#define SG_ERR_AUTH 10     /* AUTH or SELECT refused while connecting */
#define SG_ERR_NOCOUNTER 11 /* a sharded counter does not exist (or a shard of it is missing) */

#define SG_ERRSTR_SIZE 160

/* The version of the library (SG_VERSION_STRING at build time). */
const char *sg_version(void);

/* ---- connecting ------------------------------------------------------------------------------ */
typedef struct sg_options {
    /* Where to connect: a TCP host and port (default 127.0.0.1:6379), or a unix socket path. In
     * cluster mode host:port is the first seed; `seeds` may name more ("h1:p1,h2:p2"). */
    const char *host;
    int port;
    const char *unix_path;
    int cluster;           /* 1: Redis Cluster mode (slot map, MOVED/ASK) */
    const char *seeds;
    int connect_timeout_ms; /* 0: 1000 */
    int command_timeout_ms; /* 0: 5000; a blocking LOCK.ACQUIRE ... WAIT gets its wait on top */
    const char *user;       /* AUTH user (Redis 6 ACL); NULL: AUTH password alone, or no AUTH */
    const char *password;   /* NULL: no AUTH */
    int db;                 /* SELECT db after connecting; single-node mode only (cluster: 0) */
    int max_retries;        /* retries of retry-safe calls after a connection error; 0: 2, -1: none */
    int max_redirects;      /* cluster: MOVED/ASK/TRYAGAIN/CLUSTERDOWN followed per call; 0: 16 */
} sg_options;

typedef struct sg_context {
    int err;                      /* 0, or an SG_ERR_* code after a call returned SG_ERR */
    char errstr[SG_ERRSTR_SIZE];  /* what went wrong, for people */
    struct sg_connection *conn;   /* private */
} sg_context;

/* Connect (to the one server, or to the cluster: the slot map is read from the first seed that
 * answers). Returns NULL only when out of memory; otherwise check ctx->err, as with hiredis, and
 * free the context with sg_free() in both cases. */
sg_context *sg_connect(const sg_options *options);
/* sg_connect to host:port with default options. */
sg_context *sg_connect_tcp(const char *host, int port);
void sg_free(sg_context *ctx);

/* A new, independent context with the same options (e.g. for another thread), connected at once as
 * by sg_connect: NULL only when out of memory, otherwise check its err. It reads `ctx`: do not clone
 * a context that another thread is using at that moment. */
sg_context *sg_clone(const sg_context *ctx);

/* Re-read the cluster's slot map now (it is re-read by itself after MOVED, failover or a
 * connection error). SG_OK in single-node mode. */
int sg_refresh_slots(sg_context *ctx);

/* ---- cluster slots (pure; usable without a context) ----------------------------------------- */
/* CRC16 as Redis Cluster computes it (XMODEM): sg_crc16("123456789", 9) == 0x31C3. */
uint16_t sg_crc16(const char *bytes, size_t len);
/* The hash slot (0..16383) of a key, with hash tags: when the key has a '{' followed later by a
 * '}' with at least one byte between them, only those bytes are hashed ("{user1000}.following").
 * "foo{}{bar}" has an empty first tag, so the whole key is hashed. */
unsigned sg_key_slot(const char *key, size_t len);

/* ---- enrollment ------------------------------------------------------------------------------ */
/* ENROLL's replies (the codes of the Lua script it replaces). */
typedef enum sg_enroll_result {
    SG_ENROLL_FULL = 0,
    SG_ENROLL_ENROLLED = 1,
    SG_ENROLL_ALREADY_ENROLLED = -1,
    SG_ENROLL_WAITLISTED = 2,
    SG_ENROLL_ALREADY_WAITLISTED = -2,
} sg_enroll_result;

/* SLOTS.INIT: create a trial with `capacity` slots and room for `waitlist_max` waiting users (0:
 * no waitlist). *created: 1 created, 0 a trial already existed (left untouched).
 * Retried: a repeat finds the trial and answers 0, changing nothing. */
int sg_trial_create(sg_context *ctx, const char *trial, size_t trial_len, long long capacity,
                    long long waitlist_max, int *created);

/* ENROLL. Retried: a repeat answers SG_ENROLL_ALREADY_ENROLLED (or _ALREADY_WAITLISTED) and never
 * takes a second slot; so after a connection error, "already" may mean "by this call".
 * SG_ERR_NOTRIAL when the trial does not exist. */
int sg_enroll(sg_context *ctx, const char *trial, size_t trial_len, const char *user, size_t user_len,
              sg_enroll_result *result);

/* ENROLL.CANCEL. *withdrawn: 1 the user was enrolled and is withdrawn (its slot went back, or to
 * the head of the waitlist), 0 it was not enrolled (a waitlisted user leaves the waitlist).
 * Retried: a repeat finds the user gone and answers 0, changing nothing. */
int sg_enroll_cancel(sg_context *ctx, const char *trial, size_t trial_len, const char *user, size_t user_len,
                     int *withdrawn);

typedef enum sg_user_state {
    SG_USER_NONE = 0,
    SG_USER_ENROLLED = 1,
    SG_USER_WAITLISTED = 2,
} sg_user_state;

typedef struct sg_user_status {
    sg_user_state state;
    long long value; /* enrolled: arrival number; waitlisted: 1-based position; none: 0 */
} sg_user_status;

/* ENROLL.STATUS. Retried (a read). */
int sg_enroll_status(sg_context *ctx, const char *trial, size_t trial_len, const char *user, size_t user_len,
                     sg_user_status *status);

typedef struct sg_trial_info {
    int exists; /* 0: no trial at the key (the other fields are 0) */
    long long capacity, remaining, enrolled, waitlisted, waitlist_max, next_arrival;
} sg_trial_info;

/* SLOTS.INFO. Retried (a read). */
int sg_trial_info_get(sg_context *ctx, const char *trial, size_t trial_len, sg_trial_info *info);

/* SLOTS.RESIZE. *promoted: users enrolled from the waitlist by the change. Retried: a repeat sets
 * the same capacity again and promotes nobody more. */
int sg_trial_resize(sg_context *ctx, const char *trial, size_t trial_len, long long capacity, long long *promoted);

/* One page of ENROLL.MEMBERS: users in arrival order. */
typedef struct sg_member {
    const char *user;
    size_t user_len;
    long long arrival;
} sg_member;

typedef struct sg_members_page {
    unsigned long long next_cursor; /* 0: the export is complete */
    size_t count;
    sg_member *members;
    void *storage; /* private: freed by sg_members_page_free */
} sg_members_page;

/* ENROLL.MEMBERS key cursor COUNT count WITHARRIVALS. Start with cursor 0 and call again with
 * page->next_cursor until it is 0; each user enrolled for the whole export comes exactly once.
 * Free every page with sg_members_page_free. Retried (a read). */
int sg_enroll_members(sg_context *ctx, const char *trial, size_t trial_len, unsigned long long cursor, size_t count,
                      sg_members_page *page);
void sg_members_page_free(sg_members_page *page);

/* SLOTS.RESTORE: append users with their arrival numbers to one list of an existing trial and
 * raise its next arrival number (migration; AOF rewrite uses it). All or nothing.
 * Not retried: a repeat after a success is refused as "duplicate user". */
int sg_trial_restore(sg_context *ctx, const char *trial, size_t trial_len, long long next_arrival, int waitlisted,
                     const sg_member *members, size_t count);

/* ---- locks ----------------------------------------------------------------------------------- */
/* LOCK.ACQUIRE key owner ttl [WAIT wait_ms] [REENTRANT]. *token: the fencing token when granted,
 * 0 when another owner holds the lock (with wait_ms > 0: when it was not granted within wait_ms;
 * waiting is FIFO and blocks this context for up to wait_ms).
 * Retried unless reentrant: the holder acquiring again gets its own token back (and a refreshed
 * lease), so a repeat after a lost reply is harmless. A reentrant repeat would add a hold, so it
 * is not retried. */
int sg_lock_acquire(sg_context *ctx, const char *key, size_t key_len, const char *owner, size_t owner_len,
                    long long ttl_ms, long long wait_ms, int reentrant, long long *token);

/* LOCK.RELEASE. *released: 1 released (one hold of a reentrant lock), 0 `owner` did not hold it.
 * Not retried: for a reentrant lock a repeat would release a second hold. A release lost to a
 * connection error leaves the lock to its lease; call again if the lock is not reentrant. */
int sg_lock_release(sg_context *ctx, const char *key, size_t key_len, const char *owner, size_t owner_len,
                    int *released);

/* LOCK.EXTEND: the lease of a lock held by `owner` ends ttl_ms from now. *extended: 1, or 0 when
 * `owner` does not hold it (its lease ended, or it was released or taken).
 * Retried: a repeat sets the same lease again. */
int sg_lock_extend(sg_context *ctx, const char *key, size_t key_len, const char *owner, size_t owner_len,
                   long long ttl_ms, int *extended);

#define SG_MAX_ID_LEN 512

typedef struct sg_lock_info {
    int held;                    /* 0: the lock is free (the other fields are 0) */
    char owner[SG_MAX_ID_LEN];   /* not NUL-terminated: owner_len bytes */
    size_t owner_len;
    long long ttl_ms, token, holds, waiters;
} sg_lock_info;

/* LOCK.INFO. Retried (a read). */
int sg_lock_info_get(sg_context *ctx, const char *key, size_t key_len, sg_lock_info *info);

/* LOCK.GRANT: set a lock to an exact state (migration tools; the form the module replicates lock
 * changes in). Not for applications. Retried: it sets the same state again. */
int sg_lock_grant(sg_context *ctx, const char *key, size_t key_len, const char *owner, size_t owner_len,
                  long long token, long long deadline_unix_ms, long long holds);

/* ---- the watched lock: a lease renewed in the background while the caller works ---------------- */
typedef struct sg_watched_lock sg_watched_lock;

/* Called once, on the watchdog's thread, when the lock is lost while watched: LOCK.EXTEND
 * answered that `owner` no longer holds it, or no renewal succeeded before the lease ended (the
 * server may have given it away). Keep it short and thread-safe. */
typedef void (*sg_lock_lost_fn)(const char *key, size_t key_len, long long token, void *arg);

typedef struct sg_watch_options {
    long long ttl_ms;     /* the lease; renewed with LOCK.EXTEND every ttl_ms / 3 */
    long long wait_ms;    /* 0: one try; > 0: wait up to this long in the lock's FIFO queue */
    sg_lock_lost_fn on_lost; /* may be NULL: poll sg_watched_lock_held() instead */
    void *on_lost_arg;
} sg_watch_options;

/* Acquire `key` for `owner` and start renewing its lease on a thread with its own connection
 * (a clone of ctx): each watched acquisition costs a thread and a connection for as long as it is
 * held, so keep it for locks held long enough to need renewing. Returns the handle, or NULL when
 * not granted (ctx->err is 0) or on an error (ctx->err set; a lock granted before the error is
 * released again, or, if even that fails, left to end with its lease). The lock is not reentrant.
 * With wait_ms > 0 the grant is renewed once at once (its lease is then known to start now). */
sg_watched_lock *sg_watched_lock_acquire(sg_context *ctx, const char *key, size_t key_len, const char *owner,
                                         size_t owner_len, const sg_watch_options *options);
/* The fencing token of the grant: pass it to the storage the lock protects. */
long long sg_watched_lock_token(const sg_watched_lock *lock);
/* 1 while the lock is held as far as the watchdog knows: the last renewal succeeded and its lease
 * has not ended. 0 once lost: stop working under the lock. */
int sg_watched_lock_held(sg_watched_lock *lock);
/* Stop the renewal (no LOCK.EXTEND is sent once this returns), release the lock with ctx, free the
 * handle. *released (may be NULL): 1 released, 0 it was no longer held (after a retried release,
 * 0 may also mean that the first attempt released it). Retried: the lock is not reentrant, so a
 * repeated release changes nothing. SG_ERR when the release could not be sent within the retries
 * (the handle is freed all the same; the lease then ends by itself). */
int sg_watched_lock_release(sg_context *ctx, sg_watched_lock *lock, int *released);

/* ---- idempotency ----------------------------------------------------------------------------- */
/* IDEMP.SETNX key ttl_s [value]: record `key` the first time it is seen (what SET key value NX EX
 * ttl_s does; value NULL: "1"). *recorded: 1 first time, 0 seen before.
 * Not retried: a repeat of a successful call answers 0, which would read as "a duplicate". */
int sg_idemp_setnx(sg_context *ctx, const char *key, size_t key_len, long long ttl_s, const char *value,
                   size_t value_len, int *recorded);

typedef enum sg_idemp_outcome {
    SG_IDEMP_NEW = 1,         /* the caller owns the processing: token */
    SG_IDEMP_IN_PROGRESS = 2, /* someone else is processing it: retry_after_ms */
    SG_IDEMP_COMPLETED = 3,   /* done before: response */
    SG_IDEMP_MISMATCH = 4,    /* the key was used with another fingerprint: other_completed (a retry
                               * must send the same fingerprint, or it gets this, not IN_PROGRESS) */
} sg_idemp_outcome;

typedef struct sg_idemp_begin {
    sg_idemp_outcome outcome;
    long long token;          /* NEW */
    long long retry_after_ms; /* IN_PROGRESS: what is left of the other caller's lease */
    char *response;           /* COMPLETED: the stored response (malloc'ed; sg_idemp_begin_free) */
    size_t response_len;
    int other_completed;      /* MISMATCH: 1 the other request completed, 0 it is in progress */
} sg_idemp_begin;

/* IDEMP.BEGIN key fingerprint lease_ms. Free the result with sg_idemp_begin_free.
 * Not retried: a repeat of a successful BEGIN answers IN_PROGRESS (the caller's own lease), which
 * would read as someone else's; after a connection error, call again and treat IN_PROGRESS with
 * care, or wait for the lease. */
int sg_idemp_begin_processing(sg_context *ctx, const char *key, size_t key_len, const char *fingerprint,
                              size_t fingerprint_len, long long lease_ms, sg_idemp_begin *result);
void sg_idemp_begin_free(sg_idemp_begin *result);

typedef enum sg_idemp_complete_result {
    SG_IDEMP_LOST = 0,           /* the lease was lost: nothing stored, the work may not count */
    SG_IDEMP_STORED = 1,
    SG_IDEMP_ALREADY_STORED = 2, /* stored before by this token (a repeat) */
} sg_idemp_complete_result;

/* IDEMP.COMPLETE key token response ttl_s. Retried: a repeat answers SG_IDEMP_ALREADY_STORED.
 * To make an effect in Redis happen only when the completion does, run both in one script (the
 * README's IDEMP.COMPLETE section; examples/idempotent_consumer.c does it with sg_command_argv). */
int sg_idemp_complete(sg_context *ctx, const char *key, size_t key_len, long long token, const char *response,
                      size_t response_len, long long ttl_s, sg_idemp_complete_result *result);

/* IDEMP.ABORT key token. *freed: 1 freed for a retry, 0 not owned by token.
 * Retried: a repeat finds the key free and answers 0, changing nothing. */
int sg_idemp_abort(sg_context *ctx, const char *key, size_t key_len, long long token, int *freed);

typedef struct sg_idemp_record {
    int exists;             /* 0: no record at the key */
    int completed;          /* 1 completed, 0 in progress */
    char *fingerprint;      /* malloc'ed; sg_idemp_record_free */
    size_t fingerprint_len;
    long long token, ttl_ms;
    char *response;         /* completed only */
    size_t response_len;
} sg_idemp_record;

/* IDEMP.GET. Free with sg_idemp_record_free. Retried (a read). */
int sg_idemp_get(sg_context *ctx, const char *key, size_t key_len, sg_idemp_record *record);
void sg_idemp_record_free(sg_idemp_record *record);

/* IDEMP.RECORD: set a record to an exact state (migration tools; the replicated form). Not for
 * applications. Retried: it sets the same state again. */
int sg_idemp_record_set(sg_context *ctx, const char *key, size_t key_len, int completed, const char *fingerprint,
                        size_t fingerprint_len, long long token, long long deadline_unix_ms, const char *response,
                        size_t response_len);

/* ---- sharded counters ---------------------------------------------------------------------- */
/* One stock spread over S shards: plain integer keys that SHARDED.DECR/TAKE lower, never below 0.
 *
 * In cluster mode the shards sit on different masters: the library names shard i
 * "NAME:shard:<i>:{NAME:<i>:<salt>}" with the first salt whose hash slot a master serves that
 * shards 0..i-1 leave least used, round-robin over the masters of the slot map at creation. The
 * names are kept in "NAME:meta" for every client that opens the counter; where a shard lives
 * afterwards is the cluster's business (the calls follow MOVED/ASK and re-read the map after a
 * resharding or a failover). In single-node mode the shards share one hash tag,
 * "NAME:shard:<i>:{NAME}", and a take is one SHARDED.DECR over all of them: on one node the shards
 * buy no parallelism (one thread runs them all), they only keep the key layout.
 *
 * Guarantees: the total is exact (a take lowers a shard by what it returns, never below 0); a
 * take never answers "sold out" while a shard has stock, within the limits below. A take starts
 * at a random shard and falls back to the others. It remembers shards that answered empty for
 * empty_memory_ms and skips them, so a nearly sold-out counter costs few round trips: this is
 * honest because shards 1..S-1 are only ever lowered (a give-back always goes to shard 0), so a
 * shard seen empty stays empty, and shard 0 is always asked before "sold out" is answered.
 * Limits: a failover can lose the last takes or give-backs the replica had not received
 * (replication is asynchronous: a unit taken on the old master may be on sale again); wait_replicas
 * narrows that window with WAIT. A shard raised outside the library (SET, INCRBY on shards 1..S-1)
 * may be skipped for up to empty_memory_ms. A connection error in the middle of a take means at
 * most the units of the one request in flight may have been taken (for a take of 1: at most one
 * unit, never two), and the call reports it; takes and give-backs are never retried blindly. */
typedef struct sg_counter sg_counter;

typedef struct sg_counter_options {
    long long empty_memory_ms; /* how long a shard that answered empty is skipped; 0: 1000 */
    int wait_replicas;         /* > 0: after each take and give-back, WAIT for that many replicas, on
                                * the connection that wrote (a WAIT acknowledges only its own
                                * connection's writes: it is never repeated on another) */
    long long wait_timeout_ms; /* WAIT's timeout; 0: 100 */
} sg_counter_options;

/* Create counter `name` (1 to 200 bytes, no '{' or '}') of `shards` shards (1 to 1024) holding
 * `total` units split evenly. *created: 1 created; 0 it existed: then `shards` and `total` are not
 * used, the counter keeps its own (sg_counter_open + sg_counter_shards tell them), except that
 * shards a crashed creation left missing are created with their share. Retried (idempotent). */
int sg_counter_create(sg_context *ctx, const char *name, size_t name_len, int shards, long long total,
                      int *created);

/* A handle on an existing counter (reads NAME:meta), for the thread that uses ctx; NULL with
 * ctx->err set (SG_ERR_NOCOUNTER when there is no such counter). options may be NULL. */
sg_counter *sg_counter_open(sg_context *ctx, const char *name, size_t name_len, const sg_counter_options *options);
void sg_counter_close(sg_counter *counter);

typedef struct sg_take_result {
    long long taken;    /* the units asked for, or 0: sold out (fewer left than asked) */
    int shard;          /* the shard the unit came from; for a take of several units spread over
                         * shards, the last one that gave; -1 when none (and on one node for a
                         * take of several units, which one command takes from all shards) */
    int replicas_acked; /* with wait_replicas: WAIT's answer (the fewest, over the shards that gave);
                         * 0 when a connection that took units broke before its WAIT completed:
                         * those units are taken but not acknowledged; -1 without wait_replicas */
} sg_take_result;

/* Take `units` (>= 1), all or nothing: when fewer are left, what was gathered is given back and
 * the result is 0 (others may see those units missing for that moment). Not retried. */
int sg_counter_take(sg_context *ctx, sg_counter *counter, long long units, sg_take_result *result);
/* Give `units` back (to shard 0). Not retried: a repeat would give them twice; after SG_ERR they
 * may or may not have been given back. */
int sg_counter_give_back(sg_context *ctx, sg_counter *counter, long long units);
/* The units left in all shards (a read of every shard, one after another: not one instant). */
int sg_counter_total(sg_context *ctx, sg_counter *counter, long long *total);
/* The handle's shard count; 0 for NULL. */
int sg_counter_shards(const sg_counter *counter);
/* The key of shard i (0 <= i < shards), valid while the handle is open; NULL when out of range. */
const char *sg_counter_shard_key(const sg_counter *counter, int shard, size_t *len);

/* ---- sharded trials --------------------------------------------------------------------------- */
/* One trial of capacity C over S shard trials (module trials) on the masters of a cluster, so that
 * no single key carries a star trial's traffic. Placement and names as for counters: shard i's trial
 * is "NAME:trial:<i>:{NAME:<i>:<salt>}", next to it (same hash tag) its outbox "NAME:out:<i>:{...}"
 * and inbox "NAME:in:<i>:{...}" (plain hashes of moves), recorded in "NAME:meta".
 *
 * Exact dedup: every user has a home shard, a stable hash of the id (FNV-1a, mod S), and is only
 * ever enrolled there, so nobody can be enrolled twice across shards. Never over capacity: the
 * shards' capacities always add up to at most C. When the home shard is full but others have free
 * slots, slots move to it: SLOTS.SEND on another shard (up to a batch of max(1, C / (8 S)) slots;
 * the shards are asked in a random order) removes them there and records the move in its outbox,
 * SLOTS.RECEIVE adds them at home once per move id (recorded in the inbox), then the outbox entry is
 * marked done ("<to> <slots> done <unix ms>"): kept a day, so that a repeat of the SEND finds it and
 * sends nothing, and so that reconcile can make the RECEIVE again should a failover of the home
 * shard's master lose it. A move cut between its halves (a crash, a lost reply) has only lost slots,
 * never made any: sg_sharded_reconcile() finishes every move left in an outbox, bringing the total
 * back to C.
 * "Full" is answered only when no other shard gave slots and the shards' enrolled counts add up to
 * C (read one after another; they only grow, but for cancels), or when the only slots left are in
 * moves nobody finished within 20 ms (a crashed client's: lost until reconcile). Waitlists are not
 * supported on sharded trials. Arrival numbers are per shard.
 *
 * Replication is asynchronous. A failover can lose the last enrollments the promoted replica had
 * not received (those users are simply not enrolled there, and may enroll again), and the halves of
 * a move: a lost SLOTS.RECEIVE only loses slots, but a lost SLOTS.SEND whose slots were already
 * received elsewhere would count them twice. move_wait_replicas closes that: the library then waits
 * (WAIT) until the SEND has reached that many replicas before it adds the slots elsewhere, and leaves
 * the move to reconcile (the slots unused meanwhile) when they do not acknowledge in time. The WAIT
 * runs on the connection that sent the SEND (reconcile: that read the outbox), never on another,
 * where it would acknowledge nothing; when that connection breaks first, the move is left to
 * reconcile. */
typedef struct sg_sharded_trial sg_sharded_trial;

typedef struct sg_sharded_options {
    int move_wait_replicas;         /* > 0: a SEND must reach this many replicas before its RECEIVE */
    long long move_wait_timeout_ms; /* WAIT's timeout; 0: 100 */
} sg_sharded_options;

/* Create sharded trial `name` (1 to 200 bytes, no braces) of `shards` shards (1 to 1024) and total
 * `capacity`, split evenly; *created 0 when it existed (missing shards of a creation that stopped
 * half-way are created). Retried. */
int sg_sharded_trial_create(sg_context *ctx, const char *name, size_t name_len, int shards, long long capacity,
                            int *created);
/* A handle (reads NAME:meta), for the thread using ctx; NULL with ctx->err set (SG_ERR_NOTRIAL when
 * there is no such trial). options may be NULL. */
sg_sharded_trial *sg_sharded_trial_open(sg_context *ctx, const char *name, size_t name_len,
                                        const sg_sharded_options *options);
void sg_sharded_trial_close(sg_sharded_trial *trial);
int sg_sharded_trial_shards(const sg_sharded_trial *trial);
/* C, the trial's total capacity as created (what the shards add up to when no move is in flight). */
long long sg_sharded_trial_capacity(const sg_sharded_trial *trial);
/* The shard a user belongs to (the same in every client), and the key of a shard's trial. */
int sg_sharded_trial_home(const sg_sharded_trial *trial, const char *user, size_t user_len);
const char *sg_sharded_trial_key(const sg_sharded_trial *trial, int shard, size_t *len);

/* ENROLL at the user's home shard, moving free slots there when it is full. Results as sg_enroll
 * (never waitlisted). Retried as sg_enroll is; a move's steps are retried too (each is applied at
 * most once); a connection error in the middle of a move leaves it to reconcile. */
int sg_sharded_enroll(sg_context *ctx, sg_sharded_trial *trial, const char *user, size_t user_len,
                      sg_enroll_result *result);
/* ENROLL.CANCEL at the home shard: the slot is free there for the next user (of any shard, through
 * a move). Retried. */
int sg_sharded_cancel(sg_context *ctx, sg_sharded_trial *trial, const char *user, size_t user_len, int *withdrawn);
/* ENROLL.STATUS at the home shard; the arrival number is the home shard's. Retried. */
int sg_sharded_status(sg_context *ctx, sg_sharded_trial *trial, const char *user, size_t user_len,
                      sg_user_status *status);

typedef struct sg_sharded_info {
    int shards;
    long long capacity;        /* the shards' capacities added up: C, less what moves in flight carry */
    long long enrolled;
    long long remaining;
    long long moves_in_flight; /* outbox entries not marked done: moves sent and not (known to be)
                                * received */
} sg_sharded_info;

/* Every shard's SLOTS.INFO and outbox, one after another (not one instant). Retried. */
int sg_sharded_info_get(sg_context *ctx, sg_sharded_trial *trial, sg_sharded_info *info);
/* ENROLL.MEMBERS of one shard (0 <= shard < shards): export the trial shard by shard. */
int sg_sharded_members(sg_context *ctx, sg_sharded_trial *trial, int shard, unsigned long long cursor,
                       size_t count, sg_members_page *page);
/* Finish every move left half-done in an outbox, make the RECEIVE of every finished move again (a
 * failover of the receiving master may have lost it: once per move id, so a repeat changes
 * nothing), and remove finished moves older than a day (safe while others enroll: each step is
 * applied at most once). Afterwards the shards' capacities add up to exactly C, up to what
 * move_wait_replicas leaves open. Run it after every failover, within a day. *finished (may be
 * NULL): the moves finished, and the RECEIVEs made again that had been lost. */
int sg_sharded_reconcile(sg_context *ctx, sg_sharded_trial *trial, long long *finished);

/* Requests this context has sent and read a reply for (redirections and map reads included). */
long long sg_round_trips(const sg_context *ctx);

/* ---- rate limits ----------------------------------------------------------------------------- */
/* Flags of a limit. SG_RATE_MS: the period is in milliseconds, and so are a throttle's retry_after
 * and reset_after. SG_RATE_ALIGN (windows only): windows are whole periods since the Unix epoch. */
#define SG_RATE_MS 1
#define SG_RATE_ALIGN 2

/* RATE.THROTTLE's reply (redis-cell's CL.THROTTLE reply). */
typedef struct sg_throttle_result {
    int limited;           /* 1: refused, nothing was taken */
    long long limit;       /* max_burst + 1 */
    long long remaining;   /* units that could still be taken at once */
    long long retry_after; /* seconds (ms with SG_RATE_MS) until the same call is allowed; -1 when allowed */
    long long reset_after; /* seconds (ms) until the bucket is full again */
} sg_throttle_result;

/* RATE.THROTTLE: take `quantity` units (0 peeks) from a GCRA bucket of `count` units per `period`
 * seconds (ms with SG_RATE_MS) with bursts of max_burst + 1. flags: 0 or SG_RATE_MS.
 * Not retried when quantity > 0 (a repeat would take again); a peek is retried. */
int sg_rate_throttle(sg_context *ctx, const char *key, size_t key_len, long long max_burst, long long count,
                     long long period, long long quantity, int flags, sg_throttle_result *result);

/* RATE.WINDOW's reply. */
typedef enum sg_window_result {
    SG_WINDOW_OVER = 0,    /* over quota: nothing counted */
    SG_WINDOW_ALLOWED = 1,
    SG_WINDOW_LAST = 2,    /* allowed, and the quota is now used up */
} sg_window_result;

/* RATE.WINDOW: count one call against `quota` calls per `period` seconds (ms with SG_RATE_MS;
 * SG_RATE_ALIGN for windows on whole periods of the clock). Not retried: a repeat counts twice. */
int sg_rate_window(sg_context *ctx, const char *key, size_t key_len, long long quota, long long period, int flags,
                   sg_window_result *result);

typedef struct sg_window_info {
    long long used, remaining;
    long long end_ms;  /* the window's end, Unix ms of the server's clock; -1: no window open */
    long long wait_ms; /* ms from the server's now until end_ms; -1: no window open */
} sg_window_info;

/* RATE.WINDOW.INFO: a window's state, counting nothing. Retried (a read). */
int sg_rate_window_info(sg_context *ctx, const char *key, size_t key_len, long long quota, sg_window_info *info);

/* One limit of sg_rate_all(). */
typedef enum sg_limit_kind { SG_LIMIT_THROTTLE = 0, SG_LIMIT_WINDOW = 1 } sg_limit_kind;
typedef struct sg_rate_limit {
    sg_limit_kind kind;
    const char *key;
    size_t key_len;
    long long max_burst, count, quantity; /* throttles (quantity 0 peeks) */
    long long quota;                      /* windows */
    long long period;                     /* both: seconds, or ms with SG_RATE_MS */
    int flags;                            /* SG_RATE_MS, SG_RATE_ALIGN (windows) */
} sg_rate_limit;

/* One limit's answer in sg_rate_all(): what it would have answered alone. */
typedef struct sg_rate_outcome {
    sg_limit_kind kind;
    sg_throttle_result throttle; /* throttles */
    sg_window_result window;     /* windows */
} sg_rate_outcome;

#define SG_RATE_MAX_LIMITS 64

/* RATE.ALL: 1 to SG_RATE_MAX_LIMITS limits on distinct keys (in a cluster, keys of one slot: one
 * hash tag), all or nothing. *allowed: 1 when every limit allowed and all consumed, 0 when one
 * refused and none consumed. outcomes (n of them, may be NULL): each limit's answer.
 * Not retried: a repeat would consume again. */
int sg_rate_all(sg_context *ctx, const sg_rate_limit *limits, size_t n, int *allowed, sg_rate_outcome *outcomes);

/* The fields of the IETF RateLimit and RateLimit-Policy headers (draft-ietf-httpapi-ratelimit-
 * headers): RateLimit-Policy: "name";q=<quota>;w=<window> and RateLimit: "name";r=<remaining>;
 * t=<reset>, all in whole units and seconds. Pure: no context, no I/O. */
typedef struct sg_ratelimit_fields {
    long long q; /* quota: units the policy allows per window */
    long long w; /* window, seconds */
    long long r; /* units left now */
    long long t; /* seconds until the quota is whole again */
} sg_ratelimit_fields;

/* From a throttle: q = limit (max_burst + 1), w = the seconds the bucket takes to refill q units
 * (q × period / count, rounded up), r = remaining, t = reset_after in seconds (rounded up).
 * SG_ERR when the parameters describe no rate (count or period <= 0, max_burst < 0) or the
 * result does not fit. `flags` as given to sg_rate_throttle (SG_RATE_MS). */
int sg_ratelimit_from_throttle(long long max_burst, long long count, long long period, int flags,
                               const sg_throttle_result *result, sg_ratelimit_fields *fields);
/* From a window: q = quota, w = period in seconds (rounded up), r = remaining, t = wait_ms in
 * seconds (rounded up; a window not open: 0). */
int sg_ratelimit_from_window(long long quota, long long period, int flags, const sg_window_info *info,
                             sg_ratelimit_fields *fields);
/* Format both headers' values for policy `name` (a token of letters, digits, '-', '_', '.': it is
 * quoted, not escaped) into ratelimit and policy, NUL-terminated. SG_ERR when a buffer is too
 * small or the name is not such a token. */
int sg_ratelimit_format(const sg_ratelimit_fields *fields, const char *name, char *ratelimit, size_t ratelimit_size,
                        char *policy, size_t policy_size);

/* ---- other commands -------------------------------------------------------------------------- */
/* Any other command (XREADGROUP, HSET, WAIT...), binary-safe with argvlen (argvlen NULL: every
 * argument is a C string, as in hiredis). In cluster mode it goes to the node serving `key`'s slot,
 * following MOVED/ASK; key NULL: any node. In single-node mode `key` is not
 * used and may be NULL. Returns the hiredis reply (free it with freeReplyObject), or NULL with
 * ctx->err set. An error reply is a reply, not SG_ERR (but MOVED/ASK/TRYAGAIN/CLUSTERDOWN are
 * followed). Not retried after a connection error: the library cannot know whether an arbitrary
 * command is safe to repeat. */
redisReply *sg_command_argv(sg_context *ctx, const char *key, size_t key_len, int argc, const char **argv,
                            const size_t *argvlen);

#ifdef __cplusplus
}
#endif

#endif
