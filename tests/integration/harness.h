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
 *   SG_TIME_SCALE    a number from 1 to 1000 (default 1) multiplying the harness's own waits: server
 *                    start, replica sync, exit after SHUTDOWN or SIGTERM, AOF rewrite, the command
 *                    timeout of sg_connect_to. Timeouts a test passes in are not scaled. For a slow
 *                    server (valgrind: scripts/valgrind-test.sh sets it).
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
 * Fails the current test (cmocka) when it cannot start within 10 s (times SG_TIME_SCALE). */
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

/* Stop the server if running (SIGTERM, then SIGKILL after 5 s times SG_TIME_SCALE), remove its
 * directory, free it. Accepts NULL. */
void sg_server_stop(sg_server *s);

/* A connection to the server (1 s connect timeout, 30 s command timeout times SG_TIME_SCALE). Fails
 * the test when it cannot connect. */
redisContext *sg_connect_to(const sg_server *s);

/* Run a command (hiredis printf-like format); fails the test when the connection broke (NULL
 * reply). Caller frees the reply with freeReplyObject. */
redisReply *sg_command(redisContext *c, const char *fmt, ...);
/* The same with an argv vector (binary safe). */
redisReply *sg_command_args(redisContext *c, int argc, const char **argv, const size_t *argvlen);

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

/* `ms` multiplied by $SG_TIME_SCALE (see above), for waits on the server that only a slow server
 * makes long. */
int sg_scaled_ms(int ms);

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
