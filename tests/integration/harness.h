/* harness.h -- real redis-server processes for the integration tests.
 *
 * Every server runs on 127.0.0.1 on a free port, in its own temporary directory, with the module
 * under test loaded. Servers are tracked: whatever happens to a test (failed assertion, crash
 * signal, exit), every server still running is killed and its directory removed.
 *
 * Environment:
 *   SG_MODULE        path of the module to load (default: module/slotguard.so under the cwd)
 *   SG_REDIS_SERVER  redis-server binary (default: redis-server from PATH)
 *   SG_PRELOAD       value for LD_PRELOAD of the server (the asan build sets the sanitizer runtime)
 *   SG_KEEP_LOGS     when set, server directories are left behind and their paths printed
 */
#ifndef SG_HARNESS_H
#define SG_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>

#define SG_MAX_ARGS 64

typedef struct sg_server {
    pid_t pid;                    /* 0 when not running */
    int port;
    char dir[256];                /* its temporary directory (--dir) */
    char log_path[300];           /* its log file */
    int argc;                     /* extra arguments given at start, kept for restarts */
    char *argv[SG_MAX_ARGS];
} sg_server;

/* Start a server with the module loaded. `extra_args` is a NULL-terminated list of additional
 * redis-server arguments, e.g. {"--appendonly", "yes", NULL}; may be NULL. Defaults given before
 * them: --port P --bind 127.0.0.1 --dir D --logfile L --save "" --appendonly no
 * --enable-debug-command yes --loadmodule $SG_MODULE. Waits until the server answers PING. With
 * "--cluster-enabled", "yes" among them, the port is chosen so that port + 10000 (the cluster bus)
 * is free too.
 * Fails the current test (cmocka) when it cannot start within 10 s. */
sg_server *sg_server_start(const char *const *extra_args);

/* Start a replica of `master` (extra args as above) and wait until its link is up and the initial
 * sync is done (master_link_status:up, master_sync_in_progress:0). */
sg_server *sg_replica_start(const sg_server *master, const char *const *extra_args);

/* Wait until every replica of `master` has acknowledged the master's current replication offset
 * (uses the WAIT command from a client connection, never from the module). Fails the test after
 * timeout_ms. */
void sg_wait_replicas(const sg_server *master, int replicas, int timeout_ms);

/* Stop gracefully (SHUTDOWN, which saves if the config says so, then waitpid) and start again on the
 * same port, directory and arguments. Waits until PING answers, and until loading is done. */
void sg_server_restart(sg_server *s);

/* kill -9 and reap the process; the directory stays (for a later sg_server_start_again). */
void sg_server_kill(sg_server *s);

/* Start a stopped or killed server again on the same port, directory and arguments. */
void sg_server_start_again(sg_server *s);

/* Stop the server if running (SIGTERM, then SIGKILL after 5 s), remove its directory, free it.
 * Accepts NULL. */
void sg_server_stop(sg_server *s);

/* A connection to the server (1 s connect timeout, 30 s command timeout). Fails the test when it
 * cannot connect. */
redisContext *sg_connect(const sg_server *s);

/* Run a command (hiredis printf-like format); fails the test when the connection broke (NULL
 * reply). Caller frees the reply with freeReplyObject. */
redisReply *sg_command(redisContext *c, const char *fmt, ...);
/* The same with an argv vector (binary safe). */
redisReply *sg_command_argv(redisContext *c, int argc, const char **argv, const size_t *argvlen);

/* Run a command, assert an integer reply, free it and return the integer. */
long long sg_command_integer(redisContext *c, const char *fmt, ...);
/* Run a command and assert that the reply is an error starting with `prefix` (e.g. "ERR ",
 * "WRONGTYPE ", "NOTRIAL "); frees the reply. */
void sg_command_error(redisContext *c, const char *prefix, const char *fmt, ...);
/* Run a command and assert a nil reply; frees it. */
void sg_command_nil(redisContext *c, const char *fmt, ...);
/* Run a command and assert a status reply equal to `status` (e.g. "OK"); frees it. */
void sg_command_status(redisContext *c, const char *status, const char *fmt, ...);

/* The value of one field of INFO (any section), as a newly malloc'ed string, or NULL if absent. */
char *sg_info_field(redisContext *c, const char *field);
/* 1 when INFO has `field` and its value is `value`. */
int sg_info_field_is(redisContext *c, const char *field, const char *value);
/* The number in an INFO field; fails the test when the field is missing. */
long long sg_info_number(redisContext *c, const char *field);
/* DEBUG DIGEST of the whole dataset as a malloc'ed 40-char hex string. */
char *sg_debug_digest(redisContext *c);

/* A free TCP port on 127.0.0.1 (bound then released). */
int sg_free_port(void);

/* Milliseconds on a monotonic clock. */
int64_t sg_now_ms(void);
/* Microseconds of Unix time (the clock the module's deadlines and tokens use). */
long long sg_unix_us(void);
/* Sleep, resuming after signals. */
void sg_sleep_ms(int ms);

/* A small seeded PRNG (splitmix64) for workloads and fuzzers: runs replay from their seed. */
typedef struct sg_prng {
    uint64_t state;
} sg_prng;
uint64_t sg_prng_next(sg_prng *p);
/* Uniform enough in [0, n); 0 when n is 0. */
uint64_t sg_prng_below(sg_prng *p, uint64_t n);

/* A short description of a reply for failure messages ("integer 3", "error \"ERR ...\"", ...). */
void sg_describe_reply(const redisReply *r, char *out, size_t size);
/* 1 when the reply is a bulk or status string equal to `text`. */
int sg_reply_is_text(const redisReply *r, const char *text);

/* Commands that may block on the server: send now, read the reply later. */
void sg_send_command(redisContext *c, const char *fmt, ...);
void sg_send_command_argv(redisContext *c, int argc, const char **argv, const size_t *argvlen);
/* 1 when a reply (or EOF) is readable within timeout_ms, 0 otherwise. */
int sg_reply_arrives_within(redisContext *c, int timeout_ms);
/* The next reply; fails the test when none arrives within timeout_ms or the connection broke.
 * `what` names the command in the failure message. Caller frees the reply. */
redisReply *sg_receive_reply(redisContext *c, int timeout_ms, const char *what);

/* ---- AOF files (Redis 7 multi-part AOF under appendonlydir/) ---- */
/* Wait until no AOF rewrite is running or scheduled and the last one succeeded (fails after 15 s). */
void sg_wait_aof_rewrite(redisContext *c);
/* BGREWRITEAOF, then sg_wait_aof_rewrite. */
void sg_rewrite_aof(redisContext *c);
/* The files of one type ('b' base, 'i' incremental) the manifest names, concatenated, malloc'ed;
 * *name (when not NULL) receives the last file's name. Fails the test when there is none. */
char *sg_read_aof_part(const sg_server *s, char type, char *name, size_t name_size, size_t *len);
/* 1 when `needle` occurs in the `len` bytes of `hay`, ignoring case. */
int sg_contains_nocase(const char *hay, size_t len, const char *needle);
/* The rewrite went through the path under test: the base file starts with an RDB preamble when
 * `preamble`; otherwise it has none and holds every command of the NULL-terminated `commands`. */
void sg_assert_aof_base(const sg_server *s, int preamble, const char *const *commands);

/* kill -9 at an arbitrary point of a load: a thread waits until the load has counted `after` acks
 * (sg_killer_ack, from the thread sending commands), sleeps `jitter_us`, then kills the server.
 * sg_killer_join waits for that thread and reports whether the threshold was reached before the
 * load ended (0: the load ended first; the server is killed then anyway, so join never hangs).
 * The caller should also check that its load saw the connection break. No cmocka call happens on
 * the killer thread. */
typedef struct sg_killer sg_killer;
sg_killer *sg_killer_start(const sg_server *s, long after, long jitter_us);
void sg_killer_ack(sg_killer *k);
int sg_killer_join(sg_killer *k);

/* A test's servers and connections, released by the teardown whether the test passed or failed.
 * Use sg_fixture_setup/sg_fixture_teardown as a cmocka setup/teardown pair; the state is an
 * sg_fixture *. */
#define SG_FIXTURE_MAX_SERVERS 8
#define SG_FIXTURE_MAX_CLIENTS 64
typedef struct sg_fixture {
    sg_server *servers[SG_FIXTURE_MAX_SERVERS];
    redisContext *clients[SG_FIXTURE_MAX_CLIENTS];
} sg_fixture;
int sg_fixture_setup(void **state);
int sg_fixture_teardown(void **state);
sg_server *sg_fixture_start(sg_fixture *f, const char *const *extra_args);
sg_server *sg_fixture_start_replica(sg_fixture *f, const sg_server *master, const char *const *extra_args);
redisContext *sg_fixture_connect(sg_fixture *f, const sg_server *s);
/* Close `old` (e.g. broken by a restart) and open a new connection in its place. */
redisContext *sg_fixture_reconnect(sg_fixture *f, redisContext *old, const sg_server *s);

/* ---- one server for a whole group -------------------------------------------------------------- */
/* For suites that run every test of a cmocka group against one server: sg_group_setup /
 * sg_group_teardown as the group's setup and teardown start it (module loaded, no extra arguments)
 * and connect sg_conn to it; sg_group_flush as the per-test setup empties the dataset (FLUSHALL),
 * first reconnecting when a previous test broke the connection. Connections made here have a short
 * command timeout, so a command the server never answers fails its test quickly. */
#define SG_GROUP_COMMAND_TIMEOUT_S 5
#define SG_GROUP_MAX_CLIENTS 16
extern sg_server *sg_group_server;
extern redisContext *sg_conn;
int sg_group_setup(void **state);
int sg_group_teardown(void **state);
int sg_group_flush(void **state);
/* An extra connection owned by the current test (e.g. a waiter); sg_group_close_clients, as the
 * per-test teardown, closes all of them so a failed test cannot leave a blocked client behind. */
redisContext *sg_group_open_client(void);
/* Close one of the test's connections now (a waiter that disconnects). */
void sg_group_close_client(redisContext *c);
int sg_group_close_clients(void **state);

/* ---- bad input ---------------------------------------------------------------------------------- */
/* One table of bad commands per suite, one runner: every case is sent (binary safe), its reply must
 * be an error that starts with one of hooks->codes and with `expect`, and (when max_ms > 0) come
 * within max_ms; afterwards DEBUG DIGEST and the suite's picture must be what they were before.
 * The fixture is built first and rebuilt (after FLUSHALL) after a failing case, so one bad case
 * cannot hide or cause another. The problems are collected and the test fails at the end with all
 * of them on stderr. */
#define SG_BAD_ARGS 16
typedef struct sg_bad_case {
    const char *expect;            /* the error's prefix, e.g. "ERR invalid ttl" */
    const char *argv[SG_BAD_ARGS]; /* NULL-terminated; placeholders are replaced, see below */
} sg_bad_case;

/* An argument replaced by other bytes (an over-long owner, a token the fixture learned). `bytes` is
 * read when the case runs, so the fixture builder may fill it in; len 0 means strlen(bytes) then.
 * The report shows `label`, or the bytes when it is NULL. */
typedef struct sg_bad_substitution {
    const char *placeholder;
    const char *bytes;
    size_t len;
    const char *label;
} sg_bad_substitution;

/* An argument that makes its case run once per value (a case uses at most one list). */
typedef struct sg_bad_value_list {
    const char *placeholder;
    const char *const *values;
    size_t count;
} sg_bad_value_list;

typedef struct sg_bad_input_hooks {
    void (*make_fixture)(redisContext *c);  /* builds the dataset the cases run against */
    char *(*picture)(redisContext *c);      /* optional: a malloc'ed text picture of it that does not
                                             * rely on the module's digest callback */
    const char *const *codes;               /* NULL-terminated error codes, e.g. "ERR ", "WRONGTYPE " */
    const sg_bad_substitution *substitutions;
    size_t substitution_count;
    const sg_bad_value_list *lists;
    size_t list_count;
    int max_ms;                             /* > 0: the error must come within (it must not block) */
} sg_bad_input_hooks;

void sg_check_bad_inputs(redisContext *c, const sg_bad_case *cases, size_t n, const sg_bad_input_hooks *hooks);

/* ---- reply and key helpers ---------------------------------------------------------------------- */
/* 1 when the reply is a bulk string of exactly these bytes. */
int sg_reply_is_bytes(const redisReply *r, const char *bytes, size_t len);
/* The value of `field` in a RESP2 flat map (array of field, value), or NULL (also for a NULL map). */
const redisReply *sg_map_get(const redisReply *map, const char *field);
/* A bulk or status reply as a malloc'ed NUL-terminated string; fails on anything else (`what` names
 * the command). Frees the reply. */
char *sg_reply_text(const char *what, redisReply *r);
long long sg_pttl(redisContext *c, const char *key);
long long sg_exists(redisContext *c, const char *key);
/* Poll (bounded) until `key` no longer exists; fails after timeout_ms. */
void sg_wait_until_gone(redisContext *c, const char *key, int timeout_ms);
/* DEBUG DIGEST-VALUE of one key, malloc'ed. */
char *sg_value_digest(redisContext *c, const char *key);
/* Assert TYPE key. */
void sg_assert_type(redisContext *c, const char *key, const char *type);
/* Assert that two servers (e.g. a master and its replica) have the same DEBUG DIGEST. */
void sg_assert_same_digest(redisContext *a, redisContext *b);
/* The seed of a seeded workload: SG_WORKLOAD_SEED when set, else `fallback`; printed for replay. */
uint64_t sg_workload_seed(uint64_t fallback);

/* ---- COMMAND INFO, COMMAND DOCS, INFO ----------------------------------------------------------- */
/* What README states about a command. */
typedef struct sg_command_spec {
    const char *name;
    int write;      /* else readonly */
    int denyoom;
    int fast;
    int arity;      /* 0: not checked */
    int skip_flags; /* README does not state denyoom and fast */
} sg_command_spec;
/* COMMAND INFO of every command: its name, arity, flags, keys 1 1 1 and a key spec at index 1. */
void sg_assert_command_info(redisContext *c, const sg_command_spec *specs, size_t n);
/* COMMAND DOCS of every command: a summary, a complexity, and arguments starting with the key. */
void sg_assert_command_docs(redisContext *c, const sg_command_spec *specs, size_t n);
/* The sum of the integers in every INFO slotguard line that starts with `prefix` (so both "x:5"
 * and "x:a=1,b=4" count; end the prefix with ':' for one field); -1 when there is no such line. */
long long sg_info_counter_sum(redisContext *c, const char *prefix);

/* ---- locks (LOCK.*) ---------------------------------------------------------------------------- */
#define SG_LOCK_MAX_OWNER_LEN 512
#define SG_LOCK_QUEUE_TIMEOUT_MS 5000 /* how long sg_lock_wait_for_waiters waits */
/* A LOCK.ACQUIRE reply: the token (>= 1) when granted, 0 for nil; fails on anything else. Frees it. */
long long sg_lock_token_or_nil(redisReply *r, const char *what);
/* LOCK.ACQUIRE key owner ttl [REENTRANT] (text key and owner): the token, or 0 for nil. */
long long sg_lock_acquire(redisContext *c, const char *key, const char *owner, long long ttl);
long long sg_lock_acquire_reentrant(redisContext *c, const char *key, const char *owner, long long ttl);
long long sg_lock_release(redisContext *c, const char *key, const char *owner);
long long sg_lock_extend(redisContext *c, const char *key, const char *owner, long long ttl);
typedef struct sg_lock_info {
    int held; /* 0: LOCK.INFO answered nil */
    char owner[SG_LOCK_MAX_OWNER_LEN + 1];
    size_t owner_len;
    long long ttl, token, holds, waiters;
} sg_lock_info;
/* LOCK.INFO, checked to be nil or every documented field with the documented type. */
sg_lock_info sg_lock_info_of(redisContext *c, const char *key);
sg_lock_info sg_lock_info_of_binary(redisContext *c, const char *key, size_t key_len);
void sg_lock_assert_owner(const sg_lock_info *info, const char *owner, size_t len);
void sg_lock_assert_held_by(redisContext *c, const char *key, const char *owner);
void sg_lock_assert_free(redisContext *c, const char *key);
/* Poll LOCK.INFO until `waiters` equals `count` (the lock must be held meanwhile). */
void sg_lock_wait_for_waiters(redisContext *c, const char *key, long long count);

/* ---- idempotency records (IDEMP.*) -------------------------------------------------------------- */
/* The raw two-element IDEMP.BEGIN reply (checked to be a two-element array whose first element is
 * one of the four words). Caller frees. */
redisReply *sg_idemp_begin_raw(redisContext *c, const char *key, const char *fp, size_t fp_len, long long lease);
/* Fail with what a BEGIN reply was and what was expected; frees it. */
void sg_idemp_fail_begin(const char *key, const char *expected, redisReply *r);
/* Expect `new`; returns the token. */
long long sg_idemp_begin_new(redisContext *c, const char *key, const char *fp, long long lease);
long long sg_idemp_begin_new_bin(redisContext *c, const char *key, const char *fp, size_t fp_len, long long lease);
/* Expect `in_progress`; returns the remaining lease. */
long long sg_idemp_begin_in_progress(redisContext *c, const char *key, const char *fp, long long lease);
/* Expect `completed` with this response. */
void sg_idemp_begin_completed(redisContext *c, const char *key, const char *fp, const char *response);
void sg_idemp_begin_completed_bin(redisContext *c, const char *key, const char *fp, size_t fp_len,
                                  const char *response, size_t response_len);
/* Expect `mismatch` with the record's state. */
void sg_idemp_begin_mismatch(redisContext *c, const char *key, const char *fp, const char *record_state);
long long sg_idemp_complete(redisContext *c, const char *key, long long token, const char *response, long long ttl);
long long sg_idemp_complete_bin(redisContext *c, const char *key, long long token, const char *response,
                                size_t response_len, long long ttl);
long long sg_idemp_abort(redisContext *c, const char *key, long long token);
typedef struct sg_idemp_record {
    int present;        /* 0: IDEMP.GET answered nil */
    char state[32];
    char *fingerprint;  /* malloc'ed */
    size_t fingerprint_len;
    long long token;
    long long ttl;
    int has_response;   /* 0: the response field is nil */
    char *response;     /* malloc'ed, or NULL */
    size_t response_len;
} sg_idemp_record;
/* IDEMP.GET, checked to be nil or exactly the five field/value pairs of README. */
sg_idemp_record sg_idemp_get(redisContext *c, const char *key);
void sg_idemp_record_free(sg_idemp_record *v);
/* Check a record's fields; a ttl window (min_ttl..max_ttl, ms). response NULL: nil expected. */
void sg_idemp_assert_record(redisContext *c, const char *key, const char *state, const char *fp, size_t fp_len,
                            long long token, long long min_ttl, long long max_ttl, const char *response,
                            size_t response_len);

/* ---- trials (SLOTS.*, ENROLL.*) ----------------------------------------------------------------- */
long long sg_enroll(redisContext *c, const char *key, const char *user);
long long sg_enroll_cancel(redisContext *c, const char *key, const char *user);
typedef struct sg_trial_info {
    long long capacity, remaining, enrolled, waitlisted, waitlist_max, next_arrival;
} sg_trial_info;
/* SLOTS.INFO, checked to be exactly the six field/value pairs with integer values. */
sg_trial_info sg_trial_info_of(redisContext *c, const char *key);
void sg_assert_trial_info(redisContext *c, const char *key, long long capacity, long long remaining,
                          long long enrolled, long long waitlisted, long long waitlist_max, long long next_arrival);
/* ENROLL.STATUS as (state, number); user given with its length (binary safe). */
void sg_enroll_status(redisContext *c, const char *key, const char *user, size_t len, char *state, size_t state_size,
                      long long *number);
void sg_assert_enroll_status(redisContext *c, const char *key, const char *user, const char *state, long long number);
/* One ENROLL.MEMBERS page: returns the reply (caller frees), sets *next_cursor and *users. */
redisReply *sg_members_page(redisContext *c, const char *key, unsigned long long cursor, long long count,
                            int with_arrivals, unsigned long long *next_cursor, const redisReply **users);

/* ---- persistence modes -------------------------------------------------------------------------- */
/* The ways the persistence suites make their data survive; each suite drives the steps of a mode
 * itself (what to write before and after the save or rewrite point, what to check). */
typedef enum sg_persistence_mode {
    SG_DEBUG_RELOAD,             /* DEBUG RELOAD: save and load the RDB in place */
    SG_RDB_RESTART,              /* SAVE, then restart without saving at shutdown: loads that dump */
    SG_RDB_SAVED_AT_SHUTDOWN,    /* save configured: SHUTDOWN saves what came after a SAVE */
    SG_AOF_REWRITE_RDB_PREAMBLE, /* BGREWRITEAOF with RDB preamble */
    SG_AOF_REWRITE_PLAIN,        /* BGREWRITEAOF without RDB preamble */
    SG_AOF_COMMAND_LOG,          /* appendonly without preamble, never rewritten: the command log is replayed */
} sg_persistence_mode;
/* The server arguments a mode needs (for sg_server_start; NULL for none). */
const char *const *sg_persistence_args(sg_persistence_mode mode);

#endif
