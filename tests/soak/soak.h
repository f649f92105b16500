/* soak.h -- what the soak's threads share: the run's state, the workers' connections to whichever
 * server is master now, and the violation log.
 *
 * Worker, checker and watchdog threads never call cmocka (it is not thread-safe): they use plain
 * hiredis and record what they find here; the main thread asserts at the end. */
#ifndef SG_SOAK_H
#define SG_SOAK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

#include "harness.h"

/* ---- the key space ------------------------------------------------------------------------------ */
#define SOAK_TRIALS 4
#define SOAK_USERS_PER_WORKER 4     /* each worker owns its users: it knows their state */
#define SOAK_LOCKS 3
#define SOAK_IDEMP_KEYS 8
#define SOAK_SHARD_GROUPS 3
#define SOAK_SHARDS_PER_GROUP 4
#define SOAK_THROTTLES 2
#define SOAK_WINDOWS 2
#define SOAK_MAX_WORKERS 32

/* A margin for comparing the soak's monotonic clock with the server's wall clock, and for the
 * rounding of leases to milliseconds. */
#define SOAK_CLOCK_MARGIN_MS 50

typedef enum soak_family {
    SOAK_TRIAL,
    SOAK_LOCK,
    SOAK_IDEMP,
    SOAK_SHARDED,
    SOAK_RATE,
    SOAK_FAMILIES
} soak_family;

extern const char *const soak_family_names[SOAK_FAMILIES];

typedef struct soak_trial_spec {
    long long capacity;
    long long waitlist_max;   /* 0: no waitlist */
} soak_trial_spec;
extern const soak_trial_spec soak_trial_specs[SOAK_TRIALS];

typedef struct soak_throttle_spec {
    long long max_burst, count, period_ms;
} soak_throttle_spec;
extern const soak_throttle_spec soak_throttle_specs[SOAK_THROTTLES];

typedef struct soak_window_spec {
    long long quota, period_ms;
    int align;
} soak_window_spec;
extern const soak_window_spec soak_window_specs[SOAK_WINDOWS];

extern const long long soak_shard_totals[SOAK_SHARD_GROUPS];

/* ---- the ledgers the invariants are checked against -------------------------------------------- */
/* Units taken from a group of shards, as the replies said. `inflight` is what calls sent but not yet
 * answered may take; `uncertain` what calls whose reply was lost may have taken. At any instant the
 * units left must lie in [total - taken - inflight - uncertain, total - taken]. */
typedef struct soak_shard_ledger {
    pthread_mutex_t mutex;
    long long taken, inflight, uncertain;
} soak_shard_ledger;

/* The request-level idempotency records: who won the last BEGIN, and every response stored. */
#define SOAK_RESPONSES_KEPT 16
typedef struct soak_idemp_ledger {
    pthread_mutex_t mutex;
    int holder_active;            /* a BEGIN won and its lease may still run */
    long long holder_token;
    int64_t holder_sent_ms;       /* when that BEGIN was sent: the lease ends no earlier than +lease */
    long long holder_lease_ms;
    int completed;                /* a COMPLETE answered 1 */
    int64_t completed_sent_ms;    /* the stored response lives at least ttl from then */
    long long completed_ttl_ms;
    char responses[SOAK_RESPONSES_KEPT][64]; /* every response a COMPLETE may have stored, newest last */
    int response_count;
    int setnx_won;                /* IDEMP.SETNX on the key's "seen" twin */
    int64_t setnx_sent_ms;
    long long setnx_ttl_ms;
} soak_idemp_ledger;

typedef struct soak_state {
    int seconds;
    uint64_t seed;
    int workers;
    int64_t start_ms;
    atomic_int stop;
    atomic_int master_port;       /* the master as the main thread last saw it */
    atomic_int generation;        /* +1 at each failover: connections made before reconnect */
    atomic_int failover_running;  /* between FAILOVER and the new roles: reads may be stale */
    int ports[2];                 /* both servers: a worker looking for the master asks each */

    atomic_llong ops[SOAK_FAMILIES];
    atomic_llong errors_on_purpose;
    atomic_llong checks;
    atomic_llong violations;
    atomic_llong redirects;       /* READONLY, UNBLOCKED, EXECABORT, lost connections: reconnected */
    atomic_llong unknown_outcomes;/* writes whose reply was lost (their effect is tracked as uncertain) */
    atomic_llong pings;
    atomic_llong slowest_ping_ms;
    atomic_llong last_token_seen; /* INFO slotguard_lock_last_token never goes down */
    int failovers, rewrites;

    soak_shard_ledger shards[SOAK_SHARD_GROUPS];
    soak_idemp_ledger idemp[SOAK_IDEMP_KEYS];
    atomic_llong throttle_allowed[SOAK_THROTTLES];
    atomic_llong window_allowed[SOAK_WINDOWS];
} soak_state;

extern soak_state soak;

/* ---- violations -------------------------------------------------------------------------------- */
/* Record one violation (printf-like message); the first few are kept for the final report. */
void soak_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One invariant evaluated: counts a check; records a violation when `ok` is 0. Returns `ok`. */
int soak_check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t soak_elapsed_ms(void);

/* ---- a connection to the current master -------------------------------------------------------- */
typedef enum soak_outcome {
    SOAK_REPLIED,   /* a reply to judge (possibly an error we asked for) */
    SOAK_NOT_DONE,  /* refused as a whole (READONLY, UNBLOCKED, EXECABORT...): nothing happened */
    SOAK_UNKNOWN,   /* connection lost or timed out: the command may or may not have run */
} soak_outcome;

typedef struct soak_client {
    redisContext *c;
    int generation;                /* soak.generation when it connected */
    int64_t reconnect_deadline_ms; /* 0 unless a reconnection is under way */
} soak_client;

/* Connect to whichever server is master now (asking ROLE); 0 when none answered within 30 s. */
int soak_client_ready(soak_client *cl);
void soak_client_close(soak_client *cl);
/* 1 when the client's connection surely goes to the current master (no failover running, none
 * since it connected): checks that compare a read with other clients' replies need that, since
 * a demoted master may serve reads that miss writes made on the new one. */
int soak_client_current(const soak_client *cl);
/* A command (hiredis format). Returns the reply when *out is SOAK_REPLIED, else NULL: the client
 * has then been closed (the next command reconnects) and the redirect counted. */
redisReply *soak_command(soak_client *cl, soak_outcome *out, const char *fmt, ...);
/* MULTI, then `queued` commands the caller appended with redisAppendCommand(cl->c, ...), then
 * EXEC: returns EXEC's array as soak_command does. Call soak_client_ready first. */
redisReply *soak_exec(soak_client *cl, soak_outcome *out, int queued);

/* Connect to one server (1 s connect timeout, 10 s command timeout); NULL when it does not answer. */
redisContext *soak_connect_port(int port);
/* ROLE says master. */
int soak_is_master(redisContext *c);
/* The first violations, with the time they were found, on stderr. */
void soak_print_violations(void);

/* ---- the families (soak_trial.c, soak_lock.c, soak_idemp.c, soak_sharded.c, soak_rate.c) ------- */
typedef enum soak_user_state { USER_NONE, USER_ENROLLED, USER_WAITING, USER_UNKNOWN } soak_user_state;

typedef struct soak_worker {
    int id;
    soak_client client;
    sg_prng rng;
    long long last_lock_token;  /* tokens granted to this worker, in order, must increase */
    long long sequence;         /* makes owner ids and responses unique */
    unsigned char users[SOAK_TRIALS][SOAK_USERS_PER_WORKER]; /* soak_user_state */
} soak_worker;

/* A key of another type, for the WRONGTYPE errors asked on purpose: trial 0. */
#define SOAK_WRONG_TYPE_KEY "soak:trial:{0}"

/* Create the trials and the shard groups (main thread, before the workers start). */
void soak_trial_create(redisContext *c);
void soak_sharded_create(redisContext *c);
/* One random operation of one family, its reply checked (worker threads). */
void soak_trial_operation(soak_worker *w);
void soak_lock_operation(soak_worker *w);
void soak_idemp_operation(soak_worker *w);
void soak_sharded_operation(soak_worker *w);
void soak_rate_operation(soak_worker *w);
/* The checker thread's pass over one family's keys. soak_sharded_check with `final` (workers
 * stopped) also wants the ledger to balance exactly when no reply was lost. */
void soak_trial_check(soak_client *cl);
void soak_lock_check(soak_client *cl);
void soak_idemp_check(soak_client *cl);
void soak_sharded_check(soak_client *cl, int final);
void soak_rate_check(soak_client *cl);

/* ---- helpers (soak_support.c) ------------------------------------------------------------------ */
long long soak_pick(soak_worker *w, long long n);                   /* [0, n) from the worker's PRNG */
long long soak_between(soak_worker *w, long long lo, long long hi); /* [lo, hi] */
/* A command sent wrong on purpose (hiredis format with two string arguments): the reply must be
 * an error starting with `expect`. */
void soak_expect_error(soak_worker *w, soak_family family, const char *expect, const char *fmt, const char *a,
                       const char *b);
int soak_reply_is(const redisReply *r, const char *text);
int soak_error_starts(const redisReply *r, const char *prefix);
const redisReply *soak_map_get(const redisReply *map, const char *field);
long long soak_map_integer(const redisReply *map, const char *field, long long missing);

#endif
