/* example_runs.c -- running the example programs for their tests: see example_runs.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "example_runs.h"

#define RUN_TIMEOUT_S "60"

static const char *examples_dir(void) {
    const char *dir = getenv("SG_EXAMPLES");
    if (dir == NULL || dir[0] == '\0')
        fail_msg("SG_EXAMPLES is not set: give the directory holding the example binaries "
                 "(make integration sets it)");
    return dir;
}

/* The whole content of an open file from its start, NUL-terminated (cut at `size` - 1). */
static void read_all(int fd, char *out, size_t size) {
    size_t len = 0;
    lseek(fd, 0, SEEK_SET);
    while (len + 1 < size) {
        ssize_t n = read(fd, out + len, size - 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
    out[len] = '\0';
}

static int temporary_file(void) {
    char path[] = "/tmp/sg-example-output-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) fail_msg("mkstemp: %s", strerror(errno));
    unlink(path);
    return fd;
}

/* Runs $SG_EXAMPLES/<name> [--port port] args... (NULL-terminated) under timeout(1). port 0: no
 * --port. */
void sg_run_example(sg_example_run *run, const char *name, int port, const char *const *args) {
    char path[1024], port_text[16];
    snprintf(path, sizeof(path), "%s/%s", examples_dir(), name);
    if (access(path, X_OK) != 0) fail_msg("%s is not an executable: %s", path, strerror(errno));

    const char *argv[SG_EXAMPLE_MAX_ARGS + 6];
    int argc = 0;
    argv[argc++] = "timeout";
    argv[argc++] = RUN_TIMEOUT_S;
    argv[argc++] = path;
    if (port > 0) {
        snprintf(port_text, sizeof(port_text), "%d", port);
        argv[argc++] = "--port";
        argv[argc++] = port_text;
    }
    for (int i = 0; args != NULL && args[i] != NULL; i++) {
        if (i >= SG_EXAMPLE_MAX_ARGS) fail_msg("too many arguments for %s", name);
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;

    int out_fd = temporary_file(), err_fd = temporary_file();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(out_fd, STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec timeout: %s\n", strerror(errno));
        _exit(127);
    }
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) fail_msg("waitpid: %s", strerror(errno));
    }
    run->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    read_all(out_fd, run->out, sizeof(run->out));
    read_all(err_fd, run->err, sizeof(run->err));
    close(out_fd);
    close(err_fd);
}

/* The run ended with `status` and printed exactly `expected_out` on stdout. */
void sg_assert_example_run(const sg_example_run *run, const char *name, int status, const char *expected_out) {
    if (run->status != status || (expected_out != NULL && strcmp(run->out, expected_out) != 0))
        fail_msg("%s: expected exit %d and stdout:\n%s\ngot exit %d, stdout:\n%s\nstderr:\n%s", name, status,
                 expected_out ? expected_out : "(any)", run->status, run->out, run->err);
}


/* ---- cutting clients off ------------------------------------------------------------------------- */
struct sg_cutoff {
    int port, rounds;
    long long keep_id;
    long kills;
    pthread_t thread;
};

/* Plain hiredis: no cmocka off the main thread. */
static void *cut_clients_off(void *arg) {
    sg_cutoff *k = arg;
    redisContext *c = redisConnect("127.0.0.1", k->port);
    if (c == NULL || c->err) {
        if (c != NULL) redisFree(c);
        return NULL;
    }
    redisReply *r = redisCommand(c, "CLIENT ID");
    long long own = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    for (int round = 0; round < k->rounds; round++) {
        sg_sleep_ms(round == 0 ? 50 : 200);
        freeReplyObject(redisCommand(c, "CONFIG SET maxclients 2"));
        r = redisCommand(c, "CLIENT LIST TYPE normal");
        const char *at = r != NULL && r->type == REDIS_REPLY_STRING ? r->str : "";
        while ((at = strstr(at, "id=")) != NULL) {
            long long id = strtoll(at + 3, NULL, 10);
            at += 3;
            if (id == own || id == k->keep_id) continue;
            redisReply *killed = redisCommand(c, "CLIENT KILL ID %lld", id);
            if (killed != NULL && killed->type == REDIS_REPLY_INTEGER) k->kills += killed->integer;
            freeReplyObject(killed);
        }
        freeReplyObject(r);
        sg_sleep_ms(300);
        freeReplyObject(redisCommand(c, "CONFIG SET maxclients 10000"));
    }
    redisFree(c);
    return NULL;
}

sg_cutoff *sg_cutoff_start(int port, redisContext *keep, int rounds) {
    sg_cutoff *cut = calloc(1, sizeof(*cut));
    assert_non_null(cut);
    redisReply *id = sg_command(keep, "CLIENT ID");
    cut->port = port;
    cut->rounds = rounds;
    cut->keep_id = id->integer;
    freeReplyObject(id);
    if (pthread_create(&cut->thread, NULL, cut_clients_off, cut) != 0) fail_msg("cannot start the cut-off thread");
    return cut;
}

long sg_cutoff_join(sg_cutoff *cut) {
    pthread_join(cut->thread, NULL);
    long kills = cut->kills;
    free(cut);
    return kills;
}
