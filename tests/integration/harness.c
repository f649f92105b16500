/* harness.c -- real redis-server processes for the integration tests (see harness.h).
 *
 * Each server is a child process started with fork + execvp, listening on 127.0.0.1 on a free port,
 * in its own mkdtemp directory under /tmp. Every live server is kept in a static registry, so an
 * atexit handler and handlers for SIGINT, SIGTERM, SIGSEGV, SIGABRT and SIGBUS can kill it and
 * remove its directory whatever happens to the test. Helpers report failures with cmocka, so a
 * helper that fails fails the current test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "harness.h"

#define START_TIMEOUT_MS 10000
#define STOP_GRACE_MS 5000
#define START_ATTEMPTS 5          /* new ports tried when the chosen one is taken meanwhile */
#define LOG_TAIL_BYTES 4096
#define MAX_SERVERS 64
#define POLL_INTERVAL_MS 20

extern char **environ;

/* ---- registry of live servers -------------------------------------------------------------- */

static sg_server *registry[MAX_SERVERS];
static int cleanup_installed;

static void registry_add(sg_server *s)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (registry[i] == NULL) {
            registry[i] = s;
            return;
        }
    }
    fail_msg("harness: more than %d servers at once", MAX_SERVERS);
}

static void registry_remove(const sg_server *s)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (registry[i] == s) registry[i] = NULL;
    }
}

/* rm -r of a server directory (only ever one made by mkdtemp); symlinks are removed, not followed.
 * Depth is bounded: redis-server makes at most one level of subdirectories (appendonlydir). */
static void remove_tree_at(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char path[PATH_MAX];
            if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path)) continue;
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && depth < 8) {
                remove_tree_at(path, depth + 1);
            } else {
                unlink(path);
            }
        }
        closedir(d);
    }
    rmdir(dir);
}

static void remove_tree(const char *dir)
{
    if (dir[0] == '\0') return;
    remove_tree_at(dir, 0);
}

static int keep_logs(void)
{
    return getenv("SG_KEEP_LOGS") != NULL;
}

/* Kill every registered server and remove its directory. With `release`, also free the structs
 * (the normal exit path, so LeakSanitizer sees nothing); signal handlers do not free. */
static void cleanup_all(int release)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        sg_server *s = registry[i];
        if (s == NULL) continue;
        if (s->pid > 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->pid = 0;
        }
        if (keep_logs()) {
            fprintf(stderr, "harness: kept server directory %s\n", s->dir);
        } else {
            remove_tree(s->dir);
        }
        if (release) {
            registry[i] = NULL;
            for (int j = 0; j < s->argc; j++) free(s->argv[j]);
            free(s);
        }
    }
}

static void cleanup_at_exit(void)
{
    cleanup_all(1);
}

static void cleanup_on_signal(int sig)
{
    cleanup_all(0);
    signal(sig, SIG_DFL);
    raise(sig); /* delivered with the default action once the handler returns */
}

static void install_cleanup(void)
{
    if (cleanup_installed) return;
    cleanup_installed = 1;
    atexit(cleanup_at_exit);
    const int signals[] = {SIGINT, SIGTERM, SIGSEGV, SIGABRT, SIGBUS};
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = cleanup_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(signals[i], &sa, NULL);
    }
    /* A write to a server that died must fail the command, not kill the test. */
    signal(SIGPIPE, SIG_IGN);
}

/* ---- small utilities ----------------------------------------------------------------------- */

int64_t sg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t sg_prng_next(sg_prng *p)
{
    uint64_t z = (p->state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

uint64_t sg_prng_below(sg_prng *p, uint64_t n) { return n ? sg_prng_next(p) % n : 0; }

void sg_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

long long sg_unix_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Bind `port` on 127.0.0.1 (0: any); returns the port bound and releases it, or -1. */
static int bind_and_release(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail_msg("harness: socket: %s", strerror(errno));
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    socklen_t len = sizeof(addr);
    int bound = -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 && getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        bound = ntohs(addr.sin_port);
    close(fd);
    return bound;
}

int sg_free_port(void)
{
    int port = bind_and_release(0);
    if (port < 0) fail_msg("harness: cannot find a free port: %s", strerror(errno));
    return port;
}

/* A cluster node also listens on its port + 10000 (the cluster bus), so both must be free and the
 * port at most 55535: pick from 20000-45000 rather than the ephemeral range. */
static int free_cluster_port(void)
{
    static unsigned seed;
    if (seed == 0) seed = (unsigned)getpid() ^ (unsigned)sg_now_ms();
    for (int attempt = 0; attempt < 1000; attempt++) {
        int port = 20000 + (int)(rand_r(&seed) % 25000);
        if (bind_and_release(port) == port && bind_and_release(port + 10000) == port + 10000) return port;
    }
    fail_msg("harness: no free port pair for a cluster node");
    return -1;
}

static int wants_cluster(const sg_server *s)
{
    for (int i = 0; i + 1 < s->argc; i++) {
        if (strcmp(s->argv[i], "--cluster-enabled") == 0 && strcmp(s->argv[i + 1], "yes") == 0) return 1;
    }
    return 0;
}

/* Print the last LOG_TAIL_BYTES of the server's log to stderr. */
static void print_log_tail(const sg_server *s)
{
    FILE *f = fopen(s->log_path, "r");
    if (f == NULL) {
        fprintf(stderr, "harness: no log at %s\n", s->log_path);
        return;
    }
    char buf[LOG_TAIL_BYTES + 1];
    long start = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > LOG_TAIL_BYTES) start = size - LOG_TAIL_BYTES;
    }
    fseek(f, start, SEEK_SET);
    size_t n = fread(buf, 1, LOG_TAIL_BYTES, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "---- tail of %s (port %d) ----\n%s\n---- end of log ----\n", s->log_path,
            s->port, buf);
}

/* Does the log say the port was taken? */
static int log_says_port_in_use(const sg_server *s)
{
    FILE *f = fopen(s->log_path, "r");
    if (f == NULL) return 0;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "Address already in use") != NULL) found = 1;
    }
    fclose(f);
    return found;
}

/* The module path: $SG_MODULE or module/slotguard.so, made absolute (the server chdirs to --dir). */
static void module_path(char *out, size_t size)
{
    const char *configured = getenv("SG_MODULE");
    if (configured == NULL || configured[0] == '\0') configured = "module/slotguard.so";
    char resolved[PATH_MAX];
    if (realpath(configured, resolved) == NULL) {
        fail_msg("harness: module %s not found: %s", configured, strerror(errno));
    }
    if (strlen(resolved) >= size) fail_msg("harness: module path too long: %s", resolved);
    strcpy(out, resolved);
}

/* A copy of the environment with LD_PRELOAD replaced by $SG_PRELOAD (when set). Built before the
 * fork so that the child only assigns `environ` before exec. */
static char **child_environment(char *preload_entry, size_t size)
{
    const char *preload = getenv("SG_PRELOAD");
    size_t count = 0;
    while (environ[count] != NULL) count++;
    char **env = calloc(count + 2, sizeof(char *));
    if (env == NULL) fail_msg("harness: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (preload != NULL && strncmp(environ[i], "LD_PRELOAD=", 11) == 0) continue;
        env[n++] = environ[i];
    }
    if (preload != NULL) {
        snprintf(preload_entry, size, "LD_PRELOAD=%s", preload);
        env[n++] = preload_entry;
    }
    env[n] = NULL;
    return env;
}

/* ---- process control ----------------------------------------------------------------------- */

/* fork + exec redis-server for `s` (port, dir and extra args already set). Returns the pid. */
static pid_t spawn(const sg_server *s)
{
    char module[PATH_MAX];
    module_path(module, sizeof(module));
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    const char *binary = getenv("SG_REDIS_SERVER");
    if (binary == NULL || binary[0] == '\0') binary = "redis-server";

    const char *argv[SG_MAX_ARGS + 32];
    int argc = 0;
    argv[argc++] = binary;
    argv[argc++] = "--port";
    argv[argc++] = port;
    argv[argc++] = "--bind";
    argv[argc++] = "127.0.0.1";
    argv[argc++] = "--dir";
    argv[argc++] = s->dir;
    argv[argc++] = "--logfile";
    argv[argc++] = s->log_path;
    argv[argc++] = "--save";
    argv[argc++] = "";
    argv[argc++] = "--appendonly";
    argv[argc++] = "no";
    argv[argc++] = "--enable-debug-command";
    argv[argc++] = "yes";
    argv[argc++] = "--loadmodule";
    argv[argc++] = module;
    for (int i = 0; i < s->argc; i++) argv[argc++] = s->argv[i];
    argv[argc] = NULL;

    char preload_entry[PATH_MAX + 64];
    char **env = child_environment(preload_entry, sizeof(preload_entry));
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        free(env);
        fail_msg("harness: fork: %s", strerror(err));
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        setpgid(0, 0); /* a ^C meant for the test runner is handled by the runner */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        signal(SIGPIPE, SIG_DFL);
        int log = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (log >= 0) {
            dup2(log, STDOUT_FILENO);
            dup2(log, STDERR_FILENO);
            if (log > STDERR_FILENO) close(log);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            if (devnull > STDERR_FILENO) close(devnull);
        }
        for (int fd = STDERR_FILENO + 1; fd < 1024; fd++) close(fd);
        environ = env;
        execvp(binary, (char *const *)argv);
        _exit(127);
    }
    free(env);
    return pid;
}

/* Has the child exited? Reaps it and clears s->pid when it has. */
static int child_exited(sg_server *s)
{
    int status;
    pid_t r = waitpid(s->pid, &status, WNOHANG);
    if (r == s->pid || (r < 0 && errno == ECHILD)) {
        s->pid = 0;
        return 1;
    }
    return 0;
}

static redisContext *try_connect(int port, int timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL) return NULL;
    if (c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

/* Does `info` (an INFO reply) contain the line `field:value`? */
static int info_has(const char *info, const char *field, const char *value)
{
    size_t flen = strlen(field);
    size_t vlen = strlen(value);
    const char *p = info;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, field, flen) == 0 && p[flen] == ':' && strncmp(p + flen + 1, value, vlen) == 0 &&
            (p[flen + 1 + vlen] == '\r' || p[flen + 1 + vlen] == '\n' || p[flen + 1 + vlen] == '\0')) {
            return 1;
        }
        p = strchr(p, '\n');
        if (p != NULL) p++;
    }
    return 0;
}

typedef enum ready_result { READY_OK, READY_EXITED, READY_TIMEOUT } ready_result;

/* Poll until the server answers PING and INFO persistence says loading:0. */
static ready_result wait_ready(sg_server *s, int timeout_ms)
{
    int64_t deadline = sg_now_ms() + timeout_ms;
    while (sg_now_ms() < deadline) {
        if (child_exited(s)) return READY_EXITED;
        redisContext *c = try_connect(s->port, 500);
        if (c != NULL) {
            int ready = 0;
            redisReply *r = redisCommand(c, "PING");
            if (r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0) {
                freeReplyObject(r);
                r = redisCommand(c, "INFO persistence");
                if (r != NULL && r->type == REDIS_REPLY_STRING && info_has(r->str, "loading", "0")) {
                    ready = 1;
                }
            }
            if (r != NULL) freeReplyObject(r);
            redisFree(c);
            if (ready) return READY_OK;
        }
        sg_sleep_ms(POLL_INTERVAL_MS);
    }
    return child_exited(s) ? READY_EXITED : READY_TIMEOUT;
}

/* SIGKILL and reap, whatever state the process is in. */
static void kill_and_reap(sg_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

/* Wait up to `timeout_ms` for the child to exit; 1 when it did. */
static int wait_exit(sg_server *s, int timeout_ms)
{
    int64_t deadline = sg_now_ms() + timeout_ms;
    while (s->pid > 0) {
        if (child_exited(s)) return 1;
        if (sg_now_ms() >= deadline) return 0;
        sg_sleep_ms(POLL_INTERVAL_MS);
    }
    return 1;
}

/* Start on s->port; on failure kill the child, print the log, and fail the test, except that a
 * port clash is reported to the caller when `may_clash` (it picks another port). */
static int start_on_port(sg_server *s, int may_clash)
{
    s->pid = spawn(s);
    ready_result r = wait_ready(s, START_TIMEOUT_MS);
    if (r == READY_OK) return 1;
    kill_and_reap(s);
    if (r == READY_EXITED && may_clash && log_says_port_in_use(s)) return 0;
    print_log_tail(s);
    if (r == READY_EXITED) {
        fail_msg("harness: redis-server on port %d exited during start (log: %s)", s->port,
                 s->log_path);
    }
    fail_msg("harness: redis-server on port %d not ready within %d ms (log: %s)", s->port,
             START_TIMEOUT_MS, s->log_path);
    return 0;
}

static sg_server *server_new(const char *const *leading, const char *const *extra_args)
{
    install_cleanup();
    const char *const *lists[2] = {leading, extra_args};
    int total = 0;
    for (int l = 0; l < 2; l++) {
        for (int i = 0; lists[l] != NULL && lists[l][i] != NULL; i++) total++;
    }
    if (total > SG_MAX_ARGS) fail_msg("harness: %d extra arguments, at most %d", total, SG_MAX_ARGS);
    sg_server *s = calloc(1, sizeof(*s));
    if (s == NULL) fail_msg("harness: out of memory");
    strcpy(s->dir, "/tmp/slotguard-test-XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        int err = errno;
        free(s);
        fail_msg("harness: mkdtemp: %s", strerror(err));
    }
    snprintf(s->log_path, sizeof(s->log_path), "%s/redis.log", s->dir);
    registry_add(s); /* from here on, the exit handler releases it whatever happens */
    for (int l = 0; l < 2; l++) {
        for (int i = 0; lists[l] != NULL && lists[l][i] != NULL; i++) {
            s->argv[s->argc] = strdup(lists[l][i]);
            if (s->argv[s->argc] == NULL) fail_msg("harness: out of memory");
            s->argc++;
        }
    }
    return s;
}

static sg_server *server_start(const char *const *leading, const char *const *extra_args)
{
    sg_server *s = server_new(leading, extra_args);
    for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
        s->port = wants_cluster(s) ? free_cluster_port() : sg_free_port();
        if (start_on_port(s, attempt < START_ATTEMPTS)) return s;
        /* The port was taken between sg_free_port() and the bind: start over on a fresh log. */
        unlink(s->log_path);
    }
    return NULL; /* not reached: the last attempt fails the test */
}

sg_server *sg_server_start(const char *const *extra_args)
{
    return server_start(NULL, extra_args);
}

/* Poll INFO replication of `s` until the link to the master is up and the sync is done. */
static void wait_replica_synced(sg_server *s, int timeout_ms)
{
    int64_t deadline = sg_now_ms() + timeout_ms;
    while (sg_now_ms() < deadline) {
        if (child_exited(s)) {
            print_log_tail(s);
            fail_msg("harness: replica on port %d exited while syncing", s->port);
        }
        redisContext *c = try_connect(s->port, 500);
        if (c != NULL) {
            redisReply *r = redisCommand(c, "INFO replication");
            int synced = r != NULL && r->type == REDIS_REPLY_STRING &&
                         info_has(r->str, "master_link_status", "up") &&
                         info_has(r->str, "master_sync_in_progress", "0");
            if (r != NULL) freeReplyObject(r);
            redisFree(c);
            if (synced) return;
        }
        sg_sleep_ms(POLL_INTERVAL_MS);
    }
    print_log_tail(s);
    fail_msg("harness: replica on port %d not in sync within %d ms", s->port, timeout_ms);
}

sg_server *sg_replica_start(const sg_server *master, const char *const *extra_args)
{
    assert_non_null(master);
    char port[16];
    snprintf(port, sizeof(port), "%d", master->port);
    const char *leading[] = {"--replicaof", "127.0.0.1", port, NULL};
    sg_server *s = server_start(leading, extra_args);
    wait_replica_synced(s, START_TIMEOUT_MS);
    return s;
}

void sg_wait_replicas(const sg_server *master, int replicas, int timeout_ms)
{
    assert_non_null(master);
    if (timeout_ms < 1) timeout_ms = 1; /* WAIT 0 would block forever */
    redisContext *c = sg_connect(master);
    struct timeval tv = {timeout_ms / 1000 + 30, 0};
    redisSetTimeout(c, tv);
    /* WAIT waits for the offset of this client's last command (c->woff), which is 0 on a fresh
     * connection: WAIT would then return at once. Any command sets it to the master's current
     * offset (Redis 7.0 updates it after every call), so PING first. */
    redisReply *r = redisCommand(c, "PING");
    if (r != NULL) freeReplyObject(r);
    r = redisCommand(c, "WAIT %d %d", replicas, timeout_ms);
    if (r == NULL) {
        char err[128];
        snprintf(err, sizeof(err), "%s", c->errstr);
        redisFree(c);
        fail_msg("harness: WAIT on port %d: connection error: %s", master->port, err);
    }
    long long acked = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    int type = r->type;
    freeReplyObject(r);
    redisFree(c);
    if (type != REDIS_REPLY_INTEGER) fail_msg("harness: WAIT answered reply type %d", type);
    if (acked < replicas) {
        fail_msg("harness: only %lld of %d replicas of port %d acknowledged within %d ms", acked,
                 replicas, master->port, timeout_ms);
    }
}

void sg_server_kill(sg_server *s)
{
    assert_non_null(s);
    kill_and_reap(s);
}

void sg_server_start_again(sg_server *s)
{
    assert_non_null(s);
    if (s->pid > 0) fail_msg("harness: server on port %d is still running", s->port);
    start_on_port(s, 0);
}

void sg_server_restart(sg_server *s)
{
    assert_non_null(s);
    if (s->pid > 0) {
        redisContext *c = sg_connect(s);
        redisReply *r = redisCommand(c, "SHUTDOWN");
        /* A successful SHUTDOWN closes the connection without a reply. */
        if (r != NULL) {
            char msg[256];
            snprintf(msg, sizeof(msg), "%s", r->type == REDIS_REPLY_ERROR ? r->str : "(not an error)");
            freeReplyObject(r);
            redisFree(c);
            fail_msg("harness: SHUTDOWN on port %d answered: %s", s->port, msg);
        }
        redisFree(c);
        if (!wait_exit(s, START_TIMEOUT_MS)) {
            kill_and_reap(s);
            print_log_tail(s);
            fail_msg("harness: server on port %d did not exit after SHUTDOWN", s->port);
        }
    }
    start_on_port(s, 0);
}

void sg_server_stop(sg_server *s)
{
    if (s == NULL) return;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        if (!wait_exit(s, STOP_GRACE_MS)) kill_and_reap(s);
    }
    if (keep_logs()) {
        fprintf(stderr, "harness: kept server directory %s\n", s->dir);
    } else {
        remove_tree(s->dir);
    }
    registry_remove(s);
    for (int i = 0; i < s->argc; i++) free(s->argv[i]);
    free(s);
}

/* ---- client helpers ------------------------------------------------------------------------ */

redisContext *sg_connect(const sg_server *s)
{
    assert_non_null(s);
    struct timeval connect_tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, connect_tv);
    if (c == NULL) fail_msg("harness: cannot allocate a connection to port %d", s->port);
    if (c->err) {
        char err[128];
        snprintf(err, sizeof(err), "%s", c->errstr);
        redisFree(c);
        fail_msg("harness: cannot connect to port %d: %s", s->port, err);
    }
    struct timeval command_tv = {30, 0};
    redisSetTimeout(c, command_tv);
    return c;
}

static redisReply *checked(redisContext *c, redisReply *r)
{
    if (r == NULL) fail_msg("harness: connection error: %s", c->errstr[0] ? c->errstr : "(none)");
    return r;
}

static redisReply *vcommand(redisContext *c, const char *fmt, va_list ap)
{
    assert_non_null(c);
    return checked(c, redisvCommand(c, fmt, ap));
}

redisReply *sg_command(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcommand(c, fmt, ap);
    va_end(ap);
    return r;
}

redisReply *sg_command_argv(redisContext *c, int argc, const char **argv, const size_t *argvlen)
{
    assert_non_null(c);
    return checked(c, redisCommandArgv(c, argc, argv, argvlen));
}

void sg_describe_reply(const redisReply *r, char *out, size_t size)
{
    switch (r->type) {
    case REDIS_REPLY_ERROR: snprintf(out, size, "error \"%.200s\"", r->str); break;
    case REDIS_REPLY_STATUS: snprintf(out, size, "status \"%.200s\"", r->str); break;
    case REDIS_REPLY_STRING: snprintf(out, size, "bulk \"%.200s\" (%zu bytes)", r->str, r->len); break;
    case REDIS_REPLY_INTEGER: snprintf(out, size, "integer %lld", r->integer); break;
    case REDIS_REPLY_NIL: snprintf(out, size, "nil"); break;
    case REDIS_REPLY_ARRAY: snprintf(out, size, "array of %zu", r->elements); break;
    default: snprintf(out, size, "reply type %d", r->type); break;
    }
}

long long sg_command_integer(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcommand(c, fmt, ap);
    va_end(ap);
    if (r->type != REDIS_REPLY_INTEGER) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("expected an integer reply to \"%s\", got %s", fmt, got);
    }
    long long value = r->integer;
    freeReplyObject(r);
    return value;
}

void sg_command_error(redisContext *c, const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcommand(c, fmt, ap);
    va_end(ap);
    if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, prefix, strlen(prefix)) != 0) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("expected an error starting with \"%s\" to \"%s\", got %s", prefix, fmt, got);
    }
    freeReplyObject(r);
}

void sg_command_nil(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcommand(c, fmt, ap);
    va_end(ap);
    if (r->type != REDIS_REPLY_NIL) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("expected a nil reply to \"%s\", got %s", fmt, got);
    }
    freeReplyObject(r);
}

void sg_command_status(redisContext *c, const char *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcommand(c, fmt, ap);
    va_end(ap);
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, status) != 0) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("expected status \"%s\" to \"%s\", got %s", status, fmt, got);
    }
    freeReplyObject(r);
}

char *sg_info_field(redisContext *c, const char *field)
{
    redisReply *r = sg_command(c, "INFO everything");
    if (r->type != REDIS_REPLY_STRING) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("expected INFO text, got %s", got);
    }
    size_t flen = strlen(field);
    char *value = NULL;
    const char *p = r->str;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, field, flen) == 0 && p[flen] == ':') {
            const char *start = p + flen + 1;
            size_t len = strcspn(start, "\r\n");
            value = strndup(start, len);
            break;
        }
        p = strchr(p, '\n');
        if (p != NULL) p++;
    }
    freeReplyObject(r);
    return value;
}

int sg_info_field_is(redisContext *c, const char *field, const char *value)
{
    char *v = sg_info_field(c, field);
    int equal = v != NULL && strcmp(v, value) == 0;
    free(v);
    return equal;
}

long long sg_info_number(redisContext *c, const char *field)
{
    char *v = sg_info_field(c, field);
    if (v == NULL) fail_msg("INFO has no field %s", field);
    long long n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

char *sg_debug_digest(redisContext *c)
{
    redisReply *r = sg_command(c, "DEBUG DIGEST");
    if ((r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_STRING) || r->len != 40) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("expected a 40-character DEBUG DIGEST, got %s", got);
    }
    char *digest = strndup(r->str, r->len);
    freeReplyObject(r);
    if (digest == NULL) fail_msg("harness: out of memory");
    return digest;
}

/* ---- commands that block ---------------------------------------------------------------------- */

static void flush_output(redisContext *c)
{
    int done = 0;
    while (!done) {
        if (redisBufferWrite(c, &done) != REDIS_OK) fail_msg("harness: cannot send: %s", c->errstr);
    }
}

void sg_send_command(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAppendCommand(c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) fail_msg("harness: cannot format \"%s\": %s", fmt, c->errstr);
    flush_output(c);
}

void sg_send_command_argv(redisContext *c, int argc, const char **argv, const size_t *argvlen)
{
    if (redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK) fail_msg("harness: cannot format a command: %s", c->errstr);
    flush_output(c);
}

int sg_reply_arrives_within(redisContext *c, int timeout_ms)
{
    if (c->reader->pos < c->reader->len) return 1;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN, .revents = 0};
    int rc;
    do {
        rc = poll(&pfd, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) fail_msg("harness: poll: %s", strerror(errno));
    return rc > 0;
}

redisReply *sg_receive_reply(redisContext *c, int timeout_ms, const char *what)
{
    flush_output(c);
    void *reply = NULL;
    if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) fail_msg("%s: protocol error", what);
    if (reply != NULL) return reply;
    if (!sg_reply_arrives_within(c, timeout_ms)) fail_msg("%s: no reply within %d ms", what, timeout_ms);
    if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) fail_msg("%s: connection error: %s", what, c->errstr);
    return reply;
}

int sg_reply_is_text(const redisReply *r, const char *text)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && r->len == strlen(text) &&
           memcmp(r->str, text, r->len) == 0;
}

/* ---- fixtures ---------------------------------------------------------------------------------- */

int sg_fixture_setup(void **state)
{
    sg_fixture *f = calloc(1, sizeof(*f));
    if (f == NULL) return -1;
    *state = f;
    return 0;
}

int sg_fixture_teardown(void **state)
{
    sg_fixture *f = *state;
    for (int i = 0; i < SG_FIXTURE_MAX_CLIENTS; i++) {
        if (f->clients[i] != NULL) redisFree(f->clients[i]);
    }
    for (int i = 0; i < SG_FIXTURE_MAX_SERVERS; i++) sg_server_stop(f->servers[i]);
    free(f);
    return 0;
}

static sg_server **fixture_free_server_slot(sg_fixture *f)
{
    for (int i = 0; i < SG_FIXTURE_MAX_SERVERS; i++) {
        if (f->servers[i] == NULL) return &f->servers[i];
    }
    fail_msg("fixture: more than %d servers", SG_FIXTURE_MAX_SERVERS);
    return NULL;
}

sg_server *sg_fixture_start(sg_fixture *f, const char *const *extra_args)
{
    sg_server **slot = fixture_free_server_slot(f);
    *slot = sg_server_start(extra_args);
    return *slot;
}

sg_server *sg_fixture_start_replica(sg_fixture *f, const sg_server *master, const char *const *extra_args)
{
    sg_server **slot = fixture_free_server_slot(f);
    *slot = sg_replica_start(master, extra_args);
    return *slot;
}

redisContext *sg_fixture_connect(sg_fixture *f, const sg_server *s)
{
    for (int i = 0; i < SG_FIXTURE_MAX_CLIENTS; i++) {
        if (f->clients[i] == NULL) {
            f->clients[i] = sg_connect(s);
            return f->clients[i];
        }
    }
    fail_msg("fixture: more than %d connections", SG_FIXTURE_MAX_CLIENTS);
    return NULL;
}

redisContext *sg_fixture_reconnect(sg_fixture *f, redisContext *old, const sg_server *s)
{
    for (int i = 0; i < SG_FIXTURE_MAX_CLIENTS; i++) {
        if (f->clients[i] == old) {
            redisFree(old);
            f->clients[i] = NULL;
            f->clients[i] = sg_connect(s);
            return f->clients[i];
        }
    }
    fail_msg("fixture: unknown connection");
    return NULL;
}

/* ---- kill -9 under load ------------------------------------------------------------------------- */

struct sg_killer {
    pid_t pid;
    long after, jitter_us;
    atomic_long acked;
    atomic_int release; /* the load ended: kill now */
    atomic_int killed_under_load;
    pthread_t thread;
};

static void *killer_main(void *arg)
{
    sg_killer *k = arg;
    int64_t deadline = sg_now_ms() + 30000;
    while (atomic_load(&k->acked) < k->after && !atomic_load(&k->release) && sg_now_ms() < deadline) {
        struct timespec pause = {0, 100 * 1000};
        nanosleep(&pause, NULL);
    }
    int under_load = !atomic_load(&k->release);
    struct timespec jitter = {k->jitter_us / 1000000, (k->jitter_us % 1000000) * 1000};
    if (under_load) nanosleep(&jitter, NULL);
    kill(k->pid, SIGKILL);
    atomic_store(&k->killed_under_load, under_load);
    return NULL;
}

sg_killer *sg_killer_start(const sg_server *s, long after, long jitter_us)
{
    sg_killer *k = calloc(1, sizeof(*k));
    if (k == NULL) fail_msg("harness: out of memory");
    k->pid = s->pid;
    k->after = after;
    k->jitter_us = jitter_us;
    atomic_init(&k->acked, 0);
    atomic_init(&k->release, 0);
    atomic_init(&k->killed_under_load, 0);
    if (pthread_create(&k->thread, NULL, killer_main, k) != 0) fail_msg("harness: cannot start the killer thread");
    return k;
}

void sg_killer_ack(sg_killer *k) { atomic_fetch_add(&k->acked, 1); }

int sg_killer_join(sg_killer *k)
{
    atomic_store(&k->release, 1);
    pthread_join(k->thread, NULL);
    int killed = atomic_load(&k->killed_under_load);
    free(k);
    return killed;
}

/* ---- AOF files ---------------------------------------------------------------------------------- */

void sg_wait_aof_rewrite(redisContext *c)
{
    int64_t deadline = sg_now_ms() + 15000;
    while (!sg_info_field_is(c, "aof_rewrite_in_progress", "0") || !sg_info_field_is(c, "aof_rewrite_scheduled", "0")) {
        if (sg_now_ms() > deadline) fail_msg("BGREWRITEAOF did not finish within 15 s");
        sg_sleep_ms(20);
    }
    if (!sg_info_field_is(c, "aof_last_bgrewrite_status", "ok")) fail_msg("BGREWRITEAOF failed");
}

void sg_rewrite_aof(redisContext *c)
{
    redisReply *r = sg_command(c, "BGREWRITEAOF");
    int ok = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!ok) fail_msg("BGREWRITEAOF was refused");
    sg_wait_aof_rewrite(c);
}

/* A whole file under the server's directory, malloc'ed; NULL when missing. */
static char *read_server_file(const sg_server *s, const char *relative, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", s->dir, relative);
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 65536, used = 0, n;
    char *buf = malloc(cap + 1);
    if (buf == NULL) fail_msg("harness: out of memory");
    while ((n = fread(buf + used, 1, cap - used, f)) > 0) {
        used += n;
        if (used == cap) {
            if (cap >= ((size_t)256 << 20)) fail_msg("harness: %s is over 256 MiB", path);
            char *bigger = realloc(buf, cap * 2 + 1);
            if (bigger == NULL) fail_msg("harness: out of memory");
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    buf[used] = '\0';
    *len = used;
    return buf;
}

char *sg_read_aof_part(const sg_server *s, char type, char *name, size_t name_size, size_t *len)
{
    size_t manifest_len = 0;
    char *manifest = read_server_file(s, "appendonlydir/appendonly.aof.manifest", &manifest_len);
    if (manifest == NULL) fail_msg("no AOF manifest in %s/appendonlydir", s->dir);
    char *all = NULL;
    size_t all_len = 0;
    int found = 0;
    char *save = NULL;
    for (char *line = strtok_r(manifest, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char file[256];
        char t = 0;
        long long seq = 0;
        if (sscanf(line, "file %255s seq %lld type %c", file, &seq, &t) != 3 || t != type) continue;
        char relative[300];
        snprintf(relative, sizeof(relative), "appendonlydir/%s", file);
        size_t n = 0;
        char *content = read_server_file(s, relative, &n);
        if (content == NULL) fail_msg("the AOF manifest names %s, which is missing", file);
        char *joined = realloc(all, all_len + n + 1);
        if (joined == NULL) fail_msg("harness: out of memory");
        memcpy(joined + all_len, content, n);
        all = joined;
        all_len += n;
        all[all_len] = '\0';
        free(content);
        if (name != NULL) snprintf(name, name_size, "%s", file);
        found = 1;
    }
    free(manifest);
    if (!found) fail_msg("the AOF manifest names no file of type %c", type);
    *len = all_len;
    return all;
}

int sg_contains_nocase(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++) {
        if (strncasecmp(hay + i, needle, n) == 0) return 1;
    }
    return 0;
}

void sg_assert_aof_base(const sg_server *s, int preamble, const char *const *commands)
{
    char name[256] = "";
    size_t len = 0;
    char *base = sg_read_aof_part(s, 'b', name, sizeof(name), &len);
    int has_preamble = len >= 5 && memcmp(base, "REDIS", 5) == 0;
    if (preamble && !has_preamble) fail_msg("%s has no RDB preamble", name);
    if (!preamble) {
        if (has_preamble) fail_msg("%s has an RDB preamble", name);
        for (int i = 0; commands != NULL && commands[i] != NULL; i++) {
            if (!sg_contains_nocase(base, len, commands[i])) fail_msg("rewritten AOF %s holds no %s", name, commands[i]);
        }
    }
    free(base);
}

/* ---- one server for a whole group --------------------------------------------------------------- */

sg_server *sg_group_server;
redisContext *sg_conn;
static redisContext *group_clients[SG_GROUP_MAX_CLIENTS];

/* A connection with the short command timeout of the group suites. */
static redisContext *group_connect(void)
{
    redisContext *c = sg_connect(sg_group_server);
    struct timeval tv = {SG_GROUP_COMMAND_TIMEOUT_S, 0};
    redisSetTimeout(c, tv);
    return c;
}

int sg_group_setup(void **state)
{
    (void)state;
    sg_group_server = sg_server_start(NULL);
    sg_conn = group_connect();
    return 0;
}

int sg_group_teardown(void **state)
{
    (void)state;
    if (sg_conn != NULL) redisFree(sg_conn);
    sg_conn = NULL;
    sg_server_stop(sg_group_server);
    sg_group_server = NULL;
    return 0;
}

int sg_group_flush(void **state)
{
    (void)state;
    if (sg_conn->err) {
        /* a previous test broke it (a command that was never answered): start afresh */
        redisFree(sg_conn);
        sg_conn = group_connect();
    }
    sg_command_status(sg_conn, "OK", "FLUSHALL");
    return 0;
}

redisContext *sg_group_open_client(void)
{
    for (int i = 0; i < SG_GROUP_MAX_CLIENTS; i++) {
        if (group_clients[i] == NULL) {
            group_clients[i] = group_connect();
            return group_clients[i];
        }
    }
    fail_msg("too many connections in one test");
    return NULL;
}

void sg_group_close_client(redisContext *c)
{
    for (int i = 0; i < SG_GROUP_MAX_CLIENTS; i++) {
        if (group_clients[i] == c) {
            redisFree(c);
            group_clients[i] = NULL;
            return;
        }
    }
    fail_msg("sg_group_close_client: unknown connection");
}

int sg_group_close_clients(void **state)
{
    (void)state;
    for (int i = 0; i < SG_GROUP_MAX_CLIENTS; i++) {
        if (group_clients[i] != NULL) redisFree(group_clients[i]);
        group_clients[i] = NULL;
    }
    return 0;
}

/* ---- bad input ---------------------------------------------------------------------------------- */

/* The value list `arg` names, or NULL. */
static const sg_bad_value_list *bad_list_of(const sg_bad_input_hooks *hooks, const char *arg)
{
    for (size_t i = 0; i < hooks->list_count; i++) {
        if (strcmp(arg, hooks->lists[i].placeholder) == 0) return &hooks->lists[i];
    }
    return NULL;
}

static const sg_bad_substitution *bad_substitution_of(const sg_bad_input_hooks *hooks, const char *arg)
{
    for (size_t i = 0; i < hooks->substitution_count; i++) {
        if (strcmp(arg, hooks->substitutions[i].placeholder) == 0) return &hooks->substitutions[i];
    }
    return NULL;
}

static int starts_with_a_code(const sg_bad_input_hooks *hooks, const char *error)
{
    for (size_t i = 0; hooks->codes[i] != NULL; i++) {
        if (strncmp(error, hooks->codes[i], strlen(hooks->codes[i])) == 0) return 1;
    }
    return 0;
}

typedef struct bad_state {
    char *digest;
    char *picture; /* NULL without a picture hook */
} bad_state;

static bad_state bad_state_take(redisContext *c, const sg_bad_input_hooks *hooks)
{
    bad_state s = {sg_debug_digest(c), hooks->picture != NULL ? hooks->picture(c) : NULL};
    return s;
}

static void bad_state_free(bad_state *s)
{
    free(s->digest);
    free(s->picture);
    s->digest = s->picture = NULL;
}

/* Run one bad command; problem is "" when it was refused as expected and changed nothing. */
static void check_bad_command(redisContext *c, const sg_bad_input_hooks *hooks, int argc, const char **argv,
                              const size_t *argvlen, const char *expect, const bad_state *before, char *problem,
                              size_t size)
{
    problem[0] = '\0';
    int64_t start = sg_now_ms();
    redisReply *r = sg_command_argv(c, argc, argv, argvlen);
    int64_t elapsed = sg_now_ms() - start;
    if (r->type != REDIS_REPLY_ERROR) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        snprintf(problem, size, "not an error: %s", got);
    } else if (!starts_with_a_code(hooks, r->str)) {
        snprintf(problem, size, "error without a code: \"%.200s\"", r->str);
    } else if (strncmp(r->str, expect, strlen(expect)) != 0) {
        snprintf(problem, size, "expected \"%s...\", got \"%.200s\"", expect, r->str);
    } else if (hooks->max_ms > 0 && elapsed >= hooks->max_ms) {
        snprintf(problem, size, "the error took %lld ms (did it block?)", (long long)elapsed);
    }
    freeReplyObject(r);
    if (problem[0] != '\0') return;
    bad_state now = bad_state_take(c, hooks);
    if (strcmp(before->digest, now.digest) != 0 ||
        (now.picture != NULL && strcmp(before->picture, now.picture) != 0)) {
        snprintf(problem, size, "the dataset changed: %.200s", now.picture != NULL ? now.picture : now.digest);
    }
    bad_state_free(&now);
}

/* How often case `bc` runs: once, or once per value of the one list it uses. */
static size_t bad_case_variants(const sg_bad_input_hooks *hooks, const sg_bad_case *bc, size_t k)
{
    const sg_bad_value_list *used = NULL;
    for (int a = 0; a < SG_BAD_ARGS && bc->argv[a] != NULL; a++) {
        const sg_bad_value_list *list = bad_list_of(hooks, bc->argv[a]);
        if (list == NULL) continue;
        if (used != NULL && used != list) fail_msg("bad case %zu uses two value lists", k);
        used = list;
    }
    return used != NULL ? used->count : 1;
}

void sg_check_bad_inputs(redisContext *c, const sg_bad_case *cases, size_t n, const sg_bad_input_hooks *hooks)
{
    hooks->make_fixture(c);
    bad_state before = bad_state_take(c, hooks);
    size_t report_size = 32768, report_len = 0;
    char *report = calloc(1, report_size);
    assert_non_null(report);
    int failures = 0, runs = 0;
    for (size_t k = 0; k < n; k++) {
        const sg_bad_case *bc = &cases[k];
        size_t variants = bad_case_variants(hooks, bc, k);
        for (size_t v = 0; v < variants; v++) {
            const char *argv[SG_BAD_ARGS];
            size_t argvlen[SG_BAD_ARGS];
            int argc = 0;
            char shown[300] = "";
            size_t shown_len = 0;
            for (; argc < SG_BAD_ARGS && bc->argv[argc] != NULL; argc++) {
                const char *arg = bc->argv[argc];
                size_t len = strlen(arg);
                const char *label = arg;
                const sg_bad_value_list *list = bad_list_of(hooks, arg);
                const sg_bad_substitution *sub = bad_substitution_of(hooks, arg);
                if (list != NULL) {
                    arg = label = list->values[v];
                    len = strlen(arg);
                } else if (sub != NULL) {
                    arg = sub->bytes;
                    len = sub->len > 0 ? sub->len : strlen(sub->bytes);
                    label = sub->label != NULL ? sub->label : sub->bytes;
                }
                argv[argc] = arg;
                argvlen[argc] = len;
                shown_len += (size_t)snprintf(shown + shown_len, sizeof(shown) - shown_len, "%s\"%s\"",
                                              argc ? " " : "", label);
                if (shown_len >= sizeof(shown)) shown_len = sizeof(shown) - 1;
            }
            char problem[400];
            check_bad_command(c, hooks, argc, argv, argvlen, bc->expect, &before, problem, sizeof(problem));
            runs++;
            if (problem[0] == '\0') continue;
            failures++;
            if (report_len < report_size - 1) {
                report_len += (size_t)snprintf(report + report_len, report_size - report_len, "  [%zu] %s: %s\n", k,
                                               shown, problem);
                if (report_len > report_size - 1) report_len = report_size - 1;
            }
            /* rebuild the fixture so one bad case cannot hide or cause another */
            sg_command_status(c, "OK", "FLUSHALL");
            hooks->make_fixture(c);
            bad_state_free(&before);
            before = bad_state_take(c, hooks);
        }
    }
    bad_state_free(&before);
    print_message("%d bad commands tried\n", runs);
    if (failures > 0) {
        fprintf(stderr, "%d bad-input case(s) failed:\n%s", failures, report);
        free(report);
        fail_msg("%d bad-input case(s) failed", failures);
    }
    free(report);
}

/* ---- reply and key helpers ---------------------------------------------------------------------- */

int sg_reply_is_bytes(const redisReply *r, const char *bytes, size_t len)
{
    return r != NULL && r->type == REDIS_REPLY_STRING && r->len == len && (len == 0 || memcmp(r->str, bytes, len) == 0);
}

const redisReply *sg_map_get(const redisReply *map, const char *field)
{
    if (map == NULL || map->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < map->elements; i += 2) {
        if (sg_reply_is_text(map->element[i], field)) return map->element[i + 1];
    }
    return NULL;
}

char *sg_reply_text(const char *what, redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("%s: expected a string, got %s", what, got);
    }
    char *out = malloc(r->len + 1);
    assert_non_null(out);
    memcpy(out, r->str, r->len);
    out[r->len] = '\0';
    freeReplyObject(r);
    return out;
}

long long sg_pttl(redisContext *c, const char *key)
{
    return sg_command_integer(c, "PTTL %s", key);
}

long long sg_exists(redisContext *c, const char *key)
{
    return sg_command_integer(c, "EXISTS %s", key);
}

void sg_wait_until_gone(redisContext *c, const char *key, int timeout_ms)
{
    int64_t deadline = sg_now_ms() + timeout_ms;
    while (sg_exists(c, key) == 1) {
        if (sg_now_ms() > deadline) fail_msg("%s still exists after %d ms", key, timeout_ms);
        sg_sleep_ms(20);
    }
}

char *sg_value_digest(redisContext *c, const char *key)
{
    redisReply *r = sg_command(c, "DEBUG DIGEST-VALUE %s", key);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        (r->element[0]->type != REDIS_REPLY_STRING && r->element[0]->type != REDIS_REPLY_STATUS)) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("DEBUG DIGEST-VALUE %s: got %s", key, got);
    }
    char *digest = strndup(r->element[0]->str, r->element[0]->len);
    assert_non_null(digest);
    freeReplyObject(r);
    return digest;
}

void sg_assert_type(redisContext *c, const char *key, const char *type)
{
    char *got = sg_reply_text("TYPE", sg_command(c, "TYPE %s", key));
    if (strcmp(got, type) != 0) {
        char copy[64];
        snprintf(copy, sizeof(copy), "%s", got);
        free(got);
        fail_msg("TYPE %s is \"%s\", expected \"%s\"", key, copy, type);
    }
    free(got);
}

void sg_assert_same_digest(redisContext *a, redisContext *b)
{
    char *da = sg_debug_digest(a);
    char *db = sg_debug_digest(b);
    int same = strcmp(da, db) == 0;
    char shown[200];
    snprintf(shown, sizeof(shown), "%s vs %s", da, db);
    free(da);
    free(db);
    if (!same) fail_msg("DEBUG DIGEST differs: %s", shown);
}

uint64_t sg_workload_seed(uint64_t fallback)
{
    uint64_t seed = fallback;
    const char *env = getenv("SG_WORKLOAD_SEED");
    if (env != NULL && *env != '\0') seed = strtoull(env, NULL, 0);
    print_message("workload seed: 0x%016llx (replay with SG_WORKLOAD_SEED)\n", (unsigned long long)seed);
    return seed;
}

/* ---- COMMAND INFO, COMMAND DOCS, INFO ----------------------------------------------------------- */

static int has_flag(const redisReply *flags, const char *flag)
{
    for (size_t i = 0; i < flags->elements; i++) {
        if (sg_reply_is_text(flags->element[i], flag)) return 1;
    }
    return 0;
}

void sg_assert_command_info(redisContext *c, const sg_command_spec *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const sg_command_spec *spec = &specs[i];
        redisReply *r = sg_command(c, "COMMAND INFO %s", spec->name);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(r->elements, 1);
        const redisReply *e = r->element[0];
        char problem[300] = "";
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 9) {
            snprintf(problem, sizeof(problem), "no entry");
        } else if (!sg_reply_is_text(e->element[0], spec->name)) {
            snprintf(problem, sizeof(problem), "another name");
        } else if (spec->arity != 0 && e->element[1]->integer != spec->arity) {
            snprintf(problem, sizeof(problem), "arity %lld, expected %d", e->element[1]->integer, spec->arity);
        } else if (e->element[2]->type != REDIS_REPLY_ARRAY) {
            snprintf(problem, sizeof(problem), "no flags");
        } else if (!has_flag(e->element[2], "write") != !spec->write ||
                   !has_flag(e->element[2], "readonly") == !spec->write ||
                   (!spec->skip_flags && (!has_flag(e->element[2], "denyoom") != !spec->denyoom ||
                                          !has_flag(e->element[2], "fast") != !spec->fast))) {
            snprintf(problem, sizeof(problem), "flags differ from README (write=%d denyoom=%d fast=%d)", spec->write,
                     spec->denyoom, spec->fast);
        } else if (e->element[3]->integer != 1 || e->element[4]->integer != 1 || e->element[5]->integer != 1) {
            snprintf(problem, sizeof(problem), "keys first=%lld last=%lld step=%lld, expected 1 1 1",
                     e->element[3]->integer, e->element[4]->integer, e->element[5]->integer);
        } else {
            const redisReply *key_specs = e->element[8];
            const redisReply *search = key_specs->type == REDIS_REPLY_ARRAY && key_specs->elements == 1
                                           ? sg_map_get(key_specs->element[0], "begin_search")
                                           : NULL;
            const redisReply *index = sg_map_get(sg_map_get(search, "spec"), "index");
            if (index == NULL || index->type != REDIS_REPLY_INTEGER || index->integer != 1)
                snprintf(problem, sizeof(problem), "no key spec with the key at index 1");
        }
        freeReplyObject(r);
        if (problem[0] != '\0') fail_msg("COMMAND INFO %s: %s", spec->name, problem);
    }
}

void sg_assert_command_docs(redisContext *c, const sg_command_spec *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = specs[i].name;
        redisReply *r = sg_command(c, "COMMAND DOCS %s", name);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        const redisReply *doc = sg_map_get(r, name);
        const redisReply *summary = sg_map_get(doc, "summary");
        const redisReply *complexity = sg_map_get(doc, "complexity");
        const redisReply *arguments = sg_map_get(doc, "arguments");
        const redisReply *first = arguments != NULL && arguments->type == REDIS_REPLY_ARRAY && arguments->elements > 0
                                      ? arguments->element[0]
                                      : NULL;
        const redisReply *first_type = sg_map_get(first, "type");
        int ok = summary != NULL && summary->len > 0 && complexity != NULL && complexity->len > 0 && first != NULL &&
                 sg_reply_is_text(first_type, "key");
        freeReplyObject(r);
        if (!ok) fail_msg("COMMAND DOCS %s lacks a summary, complexity or arguments starting with the key", name);
    }
}

long long sg_info_counter_sum(redisContext *c, const char *prefix)
{
    redisReply *r = sg_command(c, "INFO slotguard");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    long long total = -1;
    size_t prefix_len = strlen(prefix);
    const char *p = r->str;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, prefix, prefix_len) == 0) {
            const char *v = p + strcspn(p, ":\r\n");
            if (*v == ':') {
                if (total < 0) total = 0;
                v++;
                while (*v != '\0' && *v != '\r' && *v != '\n') {
                    if (*v >= '0' && *v <= '9') {
                        char *end;
                        total += strtoll(v, &end, 10);
                        v = end;
                    } else {
                        v++;
                    }
                }
            }
        }
        p = strchr(p, '\n');
        if (p != NULL) p++;
    }
    freeReplyObject(r);
    return total;
}

/* ---- locks -------------------------------------------------------------------------------------- */

long long sg_lock_token_or_nil(redisReply *r, const char *what)
{
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("%s: expected a token >= 1 or nil, got %s", what, got);
    }
    long long token = r->integer;
    freeReplyObject(r);
    return token;
}

long long sg_lock_acquire(redisContext *c, const char *key, const char *owner, long long ttl)
{
    return sg_lock_token_or_nil(sg_command(c, "LOCK.ACQUIRE %s %s %lld", key, owner, ttl), "LOCK.ACQUIRE");
}

long long sg_lock_acquire_reentrant(redisContext *c, const char *key, const char *owner, long long ttl)
{
    return sg_lock_token_or_nil(sg_command(c, "LOCK.ACQUIRE %s %s %lld REENTRANT", key, owner, ttl),
                                "LOCK.ACQUIRE REENTRANT");
}

long long sg_lock_release(redisContext *c, const char *key, const char *owner)
{
    return sg_command_integer(c, "LOCK.RELEASE %s %s", key, owner);
}

long long sg_lock_extend(redisContext *c, const char *key, const char *owner, long long ttl)
{
    return sg_command_integer(c, "LOCK.EXTEND %s %s %lld", key, owner, ttl);
}

sg_lock_info sg_lock_info_of_binary(redisContext *c, const char *key, size_t key_len)
{
    sg_lock_info info;
    memset(&info, 0, sizeof(info));
    redisReply *r = redisCommand(c, "LOCK.INFO %b", key, key_len);
    if (r == NULL) fail_msg("LOCK.INFO %.*s: no reply (%s)", (int)key_len, key, c->errstr);
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return info;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("LOCK.INFO: expected nil or a flat field/value array, got %s", got);
    }
    int seen = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *name = r->element[i];
        const redisReply *value = r->element[i + 1];
        if (sg_reply_is_text(name, "owner")) {
            if (value->type != REDIS_REPLY_STRING || value->len > SG_LOCK_MAX_OWNER_LEN) {
                freeReplyObject(r);
                fail_msg("LOCK.INFO: owner is not a bulk string of at most %d bytes", SG_LOCK_MAX_OWNER_LEN);
            }
            memcpy(info.owner, value->str, value->len);
            info.owner_len = value->len;
            seen |= 1;
            continue;
        }
        long long *slot = NULL;
        int bit = 0;
        const char *field = name->type == REDIS_REPLY_STRING || name->type == REDIS_REPLY_STATUS ? name->str : "?";
        if (sg_reply_is_text(name, "ttl")) { slot = &info.ttl; bit = 2; }
        else if (sg_reply_is_text(name, "token")) { slot = &info.token; bit = 4; }
        else if (sg_reply_is_text(name, "holds")) { slot = &info.holds; bit = 8; }
        else if (sg_reply_is_text(name, "waiters")) { slot = &info.waiters; bit = 16; }
        if (slot == NULL) continue;
        if (value->type != REDIS_REPLY_INTEGER) {
            freeReplyObject(r);
            fail_msg("LOCK.INFO: field %s is not an integer", field);
        }
        *slot = value->integer;
        seen |= bit;
    }
    freeReplyObject(r);
    if (seen != 31) fail_msg("LOCK.INFO lacks documented fields (owner, ttl, token, holds, waiters; mask 0x%x)", seen);
    info.held = 1;
    return info;
}

sg_lock_info sg_lock_info_of(redisContext *c, const char *key)
{
    return sg_lock_info_of_binary(c, key, strlen(key));
}

void sg_lock_assert_owner(const sg_lock_info *info, const char *owner, size_t len)
{
    assert_true(info->held);
    if (info->owner_len != len || memcmp(info->owner, owner, len) != 0) {
        fail_msg("LOCK.INFO owner is \"%.*s\" (%zu bytes), expected \"%.*s\" (%zu bytes)", (int)info->owner_len,
                 info->owner, info->owner_len, (int)len, owner, len);
    }
}

void sg_lock_assert_held_by(redisContext *c, const char *key, const char *owner)
{
    sg_lock_info info = sg_lock_info_of(c, key);
    if (!info.held) fail_msg("LOCK.INFO %s is nil, expected the lock held by %s", key, owner);
    sg_lock_assert_owner(&info, owner, strlen(owner));
}

void sg_lock_assert_free(redisContext *c, const char *key)
{
    sg_lock_info info = sg_lock_info_of(c, key);
    if (info.held) fail_msg("LOCK.INFO %s: expected nil, the lock is held by \"%s\"", key, info.owner);
}

void sg_lock_wait_for_waiters(redisContext *c, const char *key, long long count)
{
    int64_t deadline = sg_now_ms() + SG_LOCK_QUEUE_TIMEOUT_MS;
    long long last = -1;
    while (sg_now_ms() < deadline) {
        sg_lock_info info = sg_lock_info_of(c, key);
        if (!info.held) fail_msg("LOCK.INFO %s is nil while waiting for %lld waiters", key, count);
        last = info.waiters;
        if (last == count) return;
        sg_sleep_ms(2);
    }
    fail_msg("LOCK.INFO %s waiters stayed %lld, expected %lld within %d ms", key, last, count,
             SG_LOCK_QUEUE_TIMEOUT_MS);
}

/* ---- idempotency records ------------------------------------------------------------------------ */

redisReply *sg_idemp_begin_raw(redisContext *c, const char *key, const char *fp, size_t fp_len, long long lease)
{
    redisReply *r = sg_command(c, "IDEMP.BEGIN %s %b %lld", key, fp, fp_len, lease);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        !(sg_reply_is_text(r->element[0], "new") || sg_reply_is_text(r->element[0], "in_progress") ||
          sg_reply_is_text(r->element[0], "completed") || sg_reply_is_text(r->element[0], "mismatch"))) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1) sg_describe_reply(r->element[0], got, sizeof(got));
        freeReplyObject(r);
        fail_msg("IDEMP.BEGIN %s: expected [new|in_progress|completed|mismatch, ...], got %s", key, got);
    }
    return r;
}

void sg_idemp_fail_begin(const char *key, const char *expected, redisReply *r)
{
    char word[64], second[300];
    snprintf(word, sizeof(word), "%.*s", (int)r->element[0]->len, r->element[0]->str);
    sg_describe_reply(r->element[1], second, sizeof(second));
    freeReplyObject(r);
    fail_msg("IDEMP.BEGIN %s: expected %s, got [%s, %s]", key, expected, word, second);
}

long long sg_idemp_begin_new_bin(redisContext *c, const char *key, const char *fp, size_t fp_len, long long lease)
{
    redisReply *r = sg_idemp_begin_raw(c, key, fp, fp_len, lease);
    if (!sg_reply_is_text(r->element[0], "new") || r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->integer < 1) {
        sg_idemp_fail_begin(key, "[new, token >= 1]", r);
    }
    long long token = r->element[1]->integer;
    freeReplyObject(r);
    return token;
}

long long sg_idemp_begin_new(redisContext *c, const char *key, const char *fp, long long lease)
{
    return sg_idemp_begin_new_bin(c, key, fp, strlen(fp), lease);
}

long long sg_idemp_begin_in_progress(redisContext *c, const char *key, const char *fp, long long lease)
{
    redisReply *r = sg_idemp_begin_raw(c, key, fp, strlen(fp), lease);
    if (!sg_reply_is_text(r->element[0], "in_progress") || r->element[1]->type != REDIS_REPLY_INTEGER) {
        sg_idemp_fail_begin(key, "[in_progress, remaining ms]", r);
    }
    long long left = r->element[1]->integer;
    freeReplyObject(r);
    return left;
}

void sg_idemp_begin_completed_bin(redisContext *c, const char *key, const char *fp, size_t fp_len,
                                  const char *response, size_t response_len)
{
    redisReply *r = sg_idemp_begin_raw(c, key, fp, fp_len, 10000);
    if (!sg_reply_is_text(r->element[0], "completed") || !sg_reply_is_bytes(r->element[1], response, response_len)) {
        char expected[300];
        snprintf(expected, sizeof(expected), "[completed, the %zu-byte response]", response_len);
        sg_idemp_fail_begin(key, expected, r);
    }
    freeReplyObject(r);
}

void sg_idemp_begin_completed(redisContext *c, const char *key, const char *fp, const char *response)
{
    sg_idemp_begin_completed_bin(c, key, fp, strlen(fp), response, strlen(response));
}

void sg_idemp_begin_mismatch(redisContext *c, const char *key, const char *fp, const char *record_state)
{
    redisReply *r = sg_idemp_begin_raw(c, key, fp, strlen(fp), 10000);
    if (!sg_reply_is_text(r->element[0], "mismatch") || !sg_reply_is_text(r->element[1], record_state)) {
        char expected[100];
        snprintf(expected, sizeof(expected), "[mismatch, %s]", record_state);
        sg_idemp_fail_begin(key, expected, r);
    }
    freeReplyObject(r);
}

long long sg_idemp_complete_bin(redisContext *c, const char *key, long long token, const char *response,
                                size_t response_len, long long ttl)
{
    return sg_command_integer(c, "IDEMP.COMPLETE %s %lld %b %lld", key, token, response, response_len, ttl);
}

long long sg_idemp_complete(redisContext *c, const char *key, long long token, const char *response, long long ttl)
{
    return sg_idemp_complete_bin(c, key, token, response, strlen(response), ttl);
}

long long sg_idemp_abort(redisContext *c, const char *key, long long token)
{
    return sg_command_integer(c, "IDEMP.ABORT %s %lld", key, token);
}

void sg_idemp_record_free(sg_idemp_record *v)
{
    free(v->fingerprint);
    free(v->response);
    memset(v, 0, sizeof(*v));
}

static char *copy_bytes(const char *bytes, size_t len)
{
    char *out = malloc(len + 1);
    assert_non_null(out);
    if (len > 0) memcpy(out, bytes, len);
    out[len] = '\0';
    return out;
}

sg_idemp_record sg_idemp_get(redisContext *c, const char *key)
{
    sg_idemp_record v;
    memset(&v, 0, sizeof(v));
    redisReply *r = sg_command(c, "IDEMP.GET %s", key);
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return v;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 10) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("IDEMP.GET %s: expected nil or 10 elements (5 field/value pairs), got %s", key, got);
    }
    int seen = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *field = r->element[i], *value = r->element[i + 1];
        const char *problem = NULL;
        if (sg_reply_is_text(field, "state")) {
            if (!(sg_reply_is_text(value, "in_progress") || sg_reply_is_text(value, "completed"))) problem = "state";
            else snprintf(v.state, sizeof(v.state), "%.*s", (int)value->len, value->str);
            seen |= 1;
        } else if (sg_reply_is_text(field, "fingerprint")) {
            if (value->type != REDIS_REPLY_STRING) problem = "fingerprint";
            else {
                v.fingerprint = copy_bytes(value->str, value->len);
                v.fingerprint_len = value->len;
            }
            seen |= 2;
        } else if (sg_reply_is_text(field, "token")) {
            if (value->type != REDIS_REPLY_INTEGER) problem = "token";
            else v.token = value->integer;
            seen |= 4;
        } else if (sg_reply_is_text(field, "ttl")) {
            if (value->type != REDIS_REPLY_INTEGER) problem = "ttl";
            else v.ttl = value->integer;
            seen |= 8;
        } else if (sg_reply_is_text(field, "response")) {
            if (value->type == REDIS_REPLY_STRING) {
                v.has_response = 1;
                v.response = copy_bytes(value->str, value->len);
                v.response_len = value->len;
            } else if (value->type != REDIS_REPLY_NIL) {
                problem = "response";
            }
            seen |= 16;
        } else {
            problem = "field name";
        }
        if (problem != NULL) {
            char got[300];
            sg_describe_reply(field->type == REDIS_REPLY_STRING && strcmp(problem, "field name") != 0 ? value : field, got,
                     sizeof(got));
            freeReplyObject(r);
            sg_idemp_record_free(&v);
            fail_msg("IDEMP.GET %s: unexpected %s: %s", key, problem, got);
        }
    }
    freeReplyObject(r);
    if (seen != 31) {
        sg_idemp_record_free(&v);
        fail_msg("IDEMP.GET %s: missing one of state, fingerprint, token, ttl, response", key);
    }
    v.present = 1;
    return v;
}

void sg_idemp_assert_record(redisContext *c, const char *key, const char *state, const char *fp, size_t fp_len,
                            long long token, long long min_ttl, long long max_ttl, const char *response,
                            size_t response_len)
{
    sg_idemp_record v = sg_idemp_get(c, key);
    char problem[300] = "";
    if (!v.present) snprintf(problem, sizeof(problem), "nil, expected a record");
    else if (strcmp(v.state, state) != 0) snprintf(problem, sizeof(problem), "state %s, expected %s", v.state, state);
    else if (v.fingerprint_len != fp_len || memcmp(v.fingerprint, fp, fp_len) != 0)
        snprintf(problem, sizeof(problem), "fingerprint differs (%zu bytes, expected %zu)", v.fingerprint_len, fp_len);
    else if (v.token != token) snprintf(problem, sizeof(problem), "token %lld, expected %lld", v.token, token);
    else if (v.ttl < min_ttl || v.ttl > max_ttl)
        snprintf(problem, sizeof(problem), "ttl %lld, expected %lld..%lld", v.ttl, min_ttl, max_ttl);
    else if (response == NULL && v.has_response) snprintf(problem, sizeof(problem), "response is not nil");
    else if (response != NULL && !v.has_response) snprintf(problem, sizeof(problem), "response is nil");
    else if (response != NULL && (v.response_len != response_len || memcmp(v.response, response, response_len) != 0))
        snprintf(problem, sizeof(problem), "response differs (%zu bytes, expected %zu)", v.response_len,
                 response_len);
    sg_idemp_record_free(&v);
    if (problem[0] != '\0') fail_msg("IDEMP.GET %s: %s", key, problem);
}

/* ---- trials ------------------------------------------------------------------------------------- */

long long sg_enroll(redisContext *c, const char *key, const char *user)
{
    return sg_command_integer(c, "ENROLL %s %s", key, user);
}

long long sg_enroll_cancel(redisContext *c, const char *key, const char *user)
{
    return sg_command_integer(c, "ENROLL.CANCEL %s %s", key, user);
}

static long long trial_info_pair(const redisReply *r, const char *field)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (sg_reply_is_text(r->element[i], field)) {
            assert_int_equal(r->element[i + 1]->type, REDIS_REPLY_INTEGER);
            return r->element[i + 1]->integer;
        }
    }
    fail_msg("SLOTS.INFO has no field %s", field);
    return 0;
}

sg_trial_info sg_trial_info_of(redisContext *c, const char *key)
{
    redisReply *r = sg_command(c, "SLOTS.INFO %s", key);
    if (r->type != REDIS_REPLY_ARRAY) {
        int type = r->type;
        freeReplyObject(r);
        fail_msg("SLOTS.INFO %s: expected an array, got reply type %d", key, type);
    }
    assert_int_equal(r->elements, 12);
    sg_trial_info info = {
        .capacity = trial_info_pair(r, "capacity"),
        .remaining = trial_info_pair(r, "remaining"),
        .enrolled = trial_info_pair(r, "enrolled"),
        .waitlisted = trial_info_pair(r, "waitlisted"),
        .waitlist_max = trial_info_pair(r, "waitlist_max"),
        .next_arrival = trial_info_pair(r, "next_arrival"),
    };
    freeReplyObject(r);
    return info;
}

void sg_assert_trial_info(redisContext *c, const char *key, long long capacity, long long remaining,
                          long long enrolled, long long waitlisted, long long waitlist_max, long long next_arrival)
{
    sg_trial_info i = sg_trial_info_of(c, key);
    assert_int_equal(i.capacity, capacity);
    assert_int_equal(i.remaining, remaining);
    assert_int_equal(i.enrolled, enrolled);
    assert_int_equal(i.waitlisted, waitlisted);
    assert_int_equal(i.waitlist_max, waitlist_max);
    assert_int_equal(i.next_arrival, next_arrival);
}

void sg_enroll_status(redisContext *c, const char *key, const char *user, size_t len, char *state, size_t state_size,
                      long long *number)
{
    redisReply *r = sg_command(c, "ENROLL.STATUS %s %b", key, user, len);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        int type = r->type;
        freeReplyObject(r);
        fail_msg("ENROLL.STATUS: expected a two-element array, got reply type %d", type);
    }
    assert_true(r->element[0]->type == REDIS_REPLY_STRING || r->element[0]->type == REDIS_REPLY_STATUS);
    snprintf(state, state_size, "%s", r->element[0]->str);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_INTEGER);
    *number = r->element[1]->integer;
    freeReplyObject(r);
}

void sg_assert_enroll_status(redisContext *c, const char *key, const char *user, const char *state, long long number)
{
    char got[32];
    long long n = -1;
    sg_enroll_status(c, key, user, strlen(user), got, sizeof(got), &n);
    assert_string_equal(got, state);
    assert_int_equal(n, number);
}

redisReply *sg_members_page(redisContext *c, const char *key, unsigned long long cursor, long long count,
                            int with_arrivals, unsigned long long *next_cursor, const redisReply **users)
{
    redisReply *r = with_arrivals
                        ? sg_command(c, "ENROLL.MEMBERS %s %llu COUNT %lld WITHARRIVALS", key, cursor, count)
                        : sg_command(c, "ENROLL.MEMBERS %s %llu COUNT %lld", key, cursor, count);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        int type = r->type;
        freeReplyObject(r);
        fail_msg("ENROLL.MEMBERS: expected [cursor, users], got reply type %d", type);
    }
    assert_int_equal(r->element[0]->type, REDIS_REPLY_STRING);
    char *end = NULL;
    *next_cursor = strtoull(r->element[0]->str, &end, 10);
    assert_true(r->element[0]->len > 0 && end == r->element[0]->str + r->element[0]->len);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_ARRAY);
    *users = r->element[1];
    return r;
}

/* ---- persistence modes -------------------------------------------------------------------------- */

const char *const *sg_persistence_args(sg_persistence_mode mode)
{
    static const char *const saving[] = {"--save", "3600 1", NULL};
    static const char *const aof_plain[] = {"--appendonly", "yes", "--aof-use-rdb-preamble", "no", NULL};
    static const char *const aof_preamble[] = {"--appendonly", "yes", "--aof-use-rdb-preamble", "yes", NULL};
    switch (mode) {
    case SG_DEBUG_RELOAD:
    case SG_RDB_RESTART: return NULL;
    case SG_RDB_SAVED_AT_SHUTDOWN: return saving;
    case SG_AOF_REWRITE_RDB_PREAMBLE: return aof_preamble;
    case SG_AOF_REWRITE_PLAIN:
    case SG_AOF_COMMAND_LOG: return aof_plain;
    }
    return NULL;
}
