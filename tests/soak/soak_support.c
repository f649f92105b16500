/* soak_support.c -- what the soak's threads share: the violation log, connections that follow the
 * master through a failover, and reply helpers. No cmocka here: worker threads call all of it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#include "soak.h"

#define SOAK_COMMAND_TIMEOUT_MS 10000  /* above FAILOVER's pause: a paused write is not a lost one */
#define SOAK_RECONNECT_LIMIT_MS 30000
#define SOAK_MESSAGES_KEPT 20

static pthread_mutex_t messages_mutex = PTHREAD_MUTEX_INITIALIZER;
static char messages[SOAK_MESSAGES_KEPT][400];
static int message_count;

/* ---- violations -------------------------------------------------------------------------------- */
int64_t soak_elapsed_ms(void) { return sg_now_ms() - soak.start_ms; }

static void record_violation(const char *fmt, va_list ap)
{
    char text[360];
    vsnprintf(text, sizeof(text), fmt, ap);
    long long n = atomic_fetch_add(&soak.violations, 1) + 1;
    pthread_mutex_lock(&messages_mutex);
    if (message_count < SOAK_MESSAGES_KEPT) {
        snprintf(messages[message_count++], sizeof(messages[0]), "[%.1f s] %s", soak_elapsed_ms() / 1000.0, text);
    }
    pthread_mutex_unlock(&messages_mutex);
    if (n <= 50) fprintf(stderr, "soak: VIOLATION at %.1f s: %s\n", soak_elapsed_ms() / 1000.0, text);
}

void soak_violation(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record_violation(fmt, ap);
    va_end(ap);
}

int soak_check(int ok, const char *fmt, ...)
{
    atomic_fetch_add(&soak.checks, 1);
    if (!ok) {
        va_list ap;
        va_start(ap, fmt);
        record_violation(fmt, ap);
        va_end(ap);
    }
    return ok;
}

/* ---- connections to the master ----------------------------------------------------------------- */
redisContext *soak_connect_port(int port)
{
    struct timeval connect_tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, connect_tv);
    if (c == NULL) return NULL;
    if (c->err) {
        redisFree(c);
        return NULL;
    }
    struct timeval command_tv = {SOAK_COMMAND_TIMEOUT_MS / 1000, 0};
    redisSetTimeout(c, command_tv);
    return c;
}

int soak_is_master(redisContext *c)
{
    redisReply *r = redisCommand(c, "ROLE");
    int master = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 && soak_reply_is(r->element[0], "master");
    if (r != NULL) freeReplyObject(r);
    return master;
}

void soak_client_close(soak_client *cl)
{
    if (cl->c != NULL) redisFree(cl->c);
    cl->c = NULL;
}

int soak_client_current(const soak_client *cl)
{
    return cl->c != NULL && !atomic_load(&soak.failover_running) && cl->generation == atomic_load(&soak.generation);
}

int soak_client_ready(soak_client *cl)
{
    if (cl->c != NULL && cl->generation != atomic_load(&soak.generation)) soak_client_close(cl);
    if (cl->c != NULL) return 1;
    if (cl->reconnect_deadline_ms == 0) cl->reconnect_deadline_ms = sg_now_ms() + SOAK_RECONNECT_LIMIT_MS;
    while (sg_now_ms() < cl->reconnect_deadline_ms) {
        int first = atomic_load(&soak.master_port);
        int candidates[3] = {first, soak.ports[0], soak.ports[1]};
        for (int i = 0; i < 3; i++) {
            redisContext *c = soak_connect_port(candidates[i]);
            if (c == NULL) continue;
            int generation = atomic_load(&soak.generation);
            if (soak_is_master(c)) {
                cl->c = c;
                cl->generation = generation;
                cl->reconnect_deadline_ms = 0;
                return 1;
            }
            redisFree(c);
        }
        if (atomic_load(&soak.stop)) return 0;
        sg_sleep_ms(50);
    }
    soak_violation("no master answered for %d ms", SOAK_RECONNECT_LIMIT_MS);
    cl->reconnect_deadline_ms = 0;
    return 0;
}

/* Errors that refuse a command as a whole because of the failover: nothing happened. */
static int is_redirect_error(const redisReply *r)
{
    static const char *const codes[] = {"READONLY", "UNBLOCKED", "EXECABORT", "LOADING", "MASTERDOWN", NULL};
    for (int i = 0; codes[i] != NULL; i++) {
        if (soak_error_starts(r, codes[i])) return 1;
    }
    return 0;
}

static redisReply *judge(soak_client *cl, soak_outcome *out, redisReply *r)
{
    if (r != NULL && !is_redirect_error(r)) {
        *out = SOAK_REPLIED;
        return r;
    }
    *out = r == NULL ? SOAK_UNKNOWN : SOAK_NOT_DONE;
    if (r != NULL) freeReplyObject(r);
    atomic_fetch_add(&soak.redirects, 1);
    if (*out == SOAK_UNKNOWN) atomic_fetch_add(&soak.unknown_outcomes, 1);
    soak_client_close(cl);
    return NULL;
}

redisReply *soak_command(soak_client *cl, soak_outcome *out, const char *fmt, ...)
{
    if (!soak_client_ready(cl)) {
        *out = SOAK_NOT_DONE;
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(cl->c, fmt, ap);
    va_end(ap);
    return judge(cl, out, r);
}

redisReply *soak_exec(soak_client *cl, soak_outcome *out, int queued)
{
    redisAppendCommand(cl->c, "EXEC");
    redisReply *refused = NULL;
    for (int i = 0; i < queued + 1; i++) { /* MULTI's OK, then QUEUED (or a refusal) per command */
        redisReply *r = NULL;
        if (redisGetReply(cl->c, (void **)&r) != REDIS_OK || r == NULL) return judge(cl, out, NULL);
        if (r->type == REDIS_REPLY_ERROR && refused == NULL) refused = r;
        else freeReplyObject(r);
    }
    redisReply *exec = NULL;
    if (redisGetReply(cl->c, (void **)&exec) != REDIS_OK || exec == NULL) {
        if (refused != NULL) freeReplyObject(refused);
        return judge(cl, out, NULL);
    }
    if (refused != NULL) {
        /* a command refused while queuing: EXEC discards the transaction */
        freeReplyObject(exec);
        if (is_redirect_error(refused)) return judge(cl, out, refused);
        char got[200];
        sg_describe_reply(refused, got, sizeof(got));
        soak_violation("a command queued in MULTI was refused: %s", got);
        freeReplyObject(refused);
        soak_client_close(cl);
        *out = SOAK_NOT_DONE;
        return NULL;
    }
    return judge(cl, out, exec);
}

void soak_print_violations(void)
{
    pthread_mutex_lock(&messages_mutex);
    for (int i = 0; i < message_count; i++) fprintf(stderr, "soak: violation %d: %s\n", i + 1, messages[i]);
    pthread_mutex_unlock(&messages_mutex);
}

/* ---- reply helpers ----------------------------------------------------------------------------- */
int soak_reply_is(const redisReply *r, const char *text)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
           strcmp(r->str, text) == 0;
}

int soak_error_starts(const redisReply *r, const char *prefix)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, prefix, strlen(prefix)) == 0;
}

const redisReply *soak_map_get(const redisReply *map, const char *field)
{
    if (map == NULL || map->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < map->elements; i += 2) {
        if (soak_reply_is(map->element[i], field)) return map->element[i + 1];
    }
    return NULL;
}

long long soak_map_integer(const redisReply *map, const char *field, long long missing)
{
    const redisReply *v = soak_map_get(map, field);
    return v != NULL && v->type == REDIS_REPLY_INTEGER ? v->integer : missing;
}


long long soak_pick(soak_worker *w, long long n) { return (long long)sg_prng_below(&w->rng, (uint64_t)n); }
long long soak_between(soak_worker *w, long long lo, long long hi) { return lo + soak_pick(w, hi - lo + 1); }

/* A command we sent wrong on purpose: its reply must be an error starting with `expect`. */
void soak_expect_error(soak_worker *w, soak_family family, const char *expect, const char *fmt, const char *a,
                         const char *b)
{
    soak_outcome out;
    redisReply *r = soak_command(&w->client, &out, fmt, a, b);
    if (out != SOAK_REPLIED) return;
    atomic_fetch_add(&soak.errors_on_purpose, 1);
    char got[200];
    sg_describe_reply(r, got, sizeof(got));
    soak_check(soak_error_starts(r, expect), "%s: expected an error \"%s...\" for \"%s\" (%s, %s), got %s",
               soak_family_names[family], expect, fmt, a, b, got);
    freeReplyObject(r);
}
