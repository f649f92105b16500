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

int sg_scaled_ms(int ms)
{
    static double scale; /* 0 until read from the environment */
    if (scale == 0) {
        const char *text = getenv("SG_TIME_SCALE");
        if (text == NULL || text[0] == '\0') {
            scale = 1;
        } else {
            char *end;
            double parsed = strtod(text, &end);
            if (*end != '\0' || !(parsed >= 1 && parsed <= 1000)) {
                fail_msg("harness: SG_TIME_SCALE=%s is not a number from 1 to 1000", text);
            }
            scale = parsed;
        }
    }
    double scaled = ms * scale;
    return scaled >= INT_MAX ? INT_MAX : (int)scaled;
}

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
    ready_result r = wait_ready(s, sg_scaled_ms(START_TIMEOUT_MS));
    if (r == READY_OK) return 1;
    kill_and_reap(s);
    if (r == READY_EXITED && may_clash && log_says_port_in_use(s)) return 0;
    print_log_tail(s);
    if (r == READY_EXITED) {
        fail_msg("harness: redis-server on port %d exited during start (log: %s)", s->port,
                 s->log_path);
    }
    fail_msg("harness: redis-server on port %d not ready within %d ms (log: %s)", s->port,
             sg_scaled_ms(START_TIMEOUT_MS), s->log_path);
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
    wait_replica_synced(s, sg_scaled_ms(START_TIMEOUT_MS));
    return s;
}

void sg_wait_replicas(const sg_server *master, int replicas, int timeout_ms)
{
    assert_non_null(master);
    if (timeout_ms < 1) timeout_ms = 1; /* WAIT 0 would block forever */
    redisContext *c = sg_connect_to(master);
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
        redisContext *c = sg_connect_to(s);
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
        if (!wait_exit(s, sg_scaled_ms(START_TIMEOUT_MS))) {
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
        if (!wait_exit(s, sg_scaled_ms(STOP_GRACE_MS))) kill_and_reap(s);
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

redisContext *sg_connect_to(const sg_server *s)
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
    struct timeval command_tv = {sg_scaled_ms(30000) / 1000, 0};
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

redisReply *sg_command_args(redisContext *c, int argc, const char **argv, const size_t *argvlen)
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
            f->clients[i] = sg_connect_to(s);
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
            f->clients[i] = sg_connect_to(s);
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
    int64_t deadline = sg_now_ms() + sg_scaled_ms(15000);
    while (!sg_info_field_is(c, "aof_rewrite_in_progress", "0") || !sg_info_field_is(c, "aof_rewrite_scheduled", "0")) {
        if (sg_now_ms() > deadline) fail_msg("BGREWRITEAOF did not finish within %d ms", sg_scaled_ms(15000));
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

