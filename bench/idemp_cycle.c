/* idemp_cycle.c -- the request-level idempotency round trip, for the benchmark: IDEMP.BEGIN, then
 * IDEMP.COMPLETE with the token BEGIN returned, on `count` fresh keys; or, for comparison, the
 * same two steps done with plain SETs (SET key fingerprint NX PX lease, then SET key response XX EX
 * ttl), which is what the records replace (without fencing: a worker whose lease ended can still
 * overwrite the response).
 *
 * redis-benchmark cannot do this (COMPLETE carries the token of the BEGIN just answered), and
 * neither can a pipe of fixed commands. One connection, batches of `batch` commands pipelined:
 * every BEGIN of a batch, then every COMPLETE of it. Every reply is checked (BEGIN answers `new`
 * with a token, COMPLETE answers 1; the SETs answer OK): anything else is a failed run (exit 1), so
 * the server time a script reads from INFO commandstats afterwards is the time of `count` whole
 * round trips.
 *
 * Usage: idemp_cycle -p port [-h host] [-m module|native] [-n count] [-b batch] [-k prefix]
 * Output (one line, key=value, for scripts): mode=... cycles=... seconds=... cycles_per_s=...
 * Exit status: 0 done and every reply right, 1 a reply was wrong, 2 usage or connection error. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define MAX_BATCH 10000
#define LEASE_MS "30000"
#define RESPONSE_TTL_S "86400"
#define FINGERPRINT "fp-0123456789abcdef"
#define RESPONSE "{\"status\":201,\"id\":\"order-42\"}"

typedef enum { MODE_MODULE, MODE_NATIVE } cycle_mode;

static void usage(void)
{
    fprintf(stderr, "usage: idemp_cycle -p port [-h host] [-m module|native] [-n count] [-b batch] [-k prefix]\n");
    exit(2);
}

static long parse_positive(const char *text, const char *what, long max)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < 1 || v > max) {
        fprintf(stderr, "idemp_cycle: invalid %s '%s' (1 to %ld)\n", what, text, max);
        exit(2);
    }
    return v;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static redisReply *next_reply(redisContext *c)
{
    void *reply = NULL;
    if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) {
        fprintf(stderr, "idemp_cycle: connection error: %s\n", c->errstr);
        exit(2);
    }
    return reply;
}

static void wrong_reply(const char *what, const char *key, const redisReply *r)
{
    fprintf(stderr, "idemp_cycle: %s %s: unexpected reply (type %d%s%.*s)\n", what, key, r->type,
            r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS ? ": " : "",
            r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS ? (int)r->len : 0,
            r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS ? r->str : "");
    exit(1);
}

static int is_ok(const redisReply *r)
{
    return r->type == REDIS_REPLY_STATUS && r->len == 2 && memcmp(r->str, "OK", 2) == 0;
}

/* The token of a BEGIN reply ["new", token], or -1 when it is anything else. */
static long long new_token(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return -1;
    const redisReply *state = r->element[0], *token = r->element[1];
    if (state->type != REDIS_REPLY_STRING || state->len != 3 || memcmp(state->str, "new", 3) != 0) return -1;
    return token->type == REDIS_REPLY_INTEGER ? token->integer : -1;
}

/* One batch of cycles on keys prefix:first .. prefix:first+n-1. */
static void run_batch(redisContext *c, cycle_mode mode, const char *prefix, long first, long n, long long *tokens)
{
    char key[256];
    for (long i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%s:%ld", prefix, first + i);
        if (mode == MODE_MODULE)
            redisAppendCommand(c, "IDEMP.BEGIN %s %s %s", key, FINGERPRINT, LEASE_MS);
        else
            redisAppendCommand(c, "SET %s %s NX PX %s", key, FINGERPRINT, LEASE_MS);
    }
    for (long i = 0; i < n; i++) {
        redisReply *r = next_reply(c);
        snprintf(key, sizeof(key), "%s:%ld", prefix, first + i);
        if (mode == MODE_MODULE) {
            tokens[i] = new_token(r);
            if (tokens[i] < 0) wrong_reply("IDEMP.BEGIN", key, r);
        } else if (!is_ok(r)) {
            wrong_reply("SET NX PX", key, r);
        }
        freeReplyObject(r);
    }
    for (long i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%s:%ld", prefix, first + i);
        if (mode == MODE_MODULE)
            redisAppendCommand(c, "IDEMP.COMPLETE %s %lld %s %s", key, tokens[i], RESPONSE, RESPONSE_TTL_S);
        else
            redisAppendCommand(c, "SET %s %s XX EX %s", key, RESPONSE, RESPONSE_TTL_S);
    }
    for (long i = 0; i < n; i++) {
        redisReply *r = next_reply(c);
        snprintf(key, sizeof(key), "%s:%ld", prefix, first + i);
        if (mode == MODE_MODULE) {
            if (r->type != REDIS_REPLY_INTEGER || r->integer != 1) wrong_reply("IDEMP.COMPLETE", key, r);
        } else if (!is_ok(r)) {
            wrong_reply("SET XX EX", key, r);
        }
        freeReplyObject(r);
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *prefix = "idem";
    int port = 0;
    cycle_mode mode = MODE_MODULE;
    long count = 100000, batch = 100;
    int opt;
    while ((opt = getopt(argc, argv, "h:p:m:n:b:k:")) != -1) {
        switch (opt) {
        case 'h': host = optarg; break;
        case 'p': port = (int)parse_positive(optarg, "port", 65535); break;
        case 'm':
            if (strcasecmp(optarg, "module") == 0) mode = MODE_MODULE;
            else if (strcasecmp(optarg, "native") == 0) mode = MODE_NATIVE;
            else usage();
            break;
        case 'n': count = parse_positive(optarg, "count", 1000000000L); break;
        case 'b': batch = parse_positive(optarg, "batch", MAX_BATCH); break;
        case 'k': prefix = optarg; break;
        default: usage();
        }
    }
    if (port == 0 || optind != argc) usage();
    redisContext *c = redisConnect(host, port);
    if (c == NULL || c->err) {
        fprintf(stderr, "idemp_cycle: cannot connect to %s:%d: %s\n", host, port, c ? c->errstr : "out of memory");
        return 2;
    }
    long long *tokens = malloc(sizeof(*tokens) * (size_t)batch);
    if (tokens == NULL) {
        fprintf(stderr, "idemp_cycle: out of memory\n");
        return 2;
    }
    double start = now_seconds();
    for (long done = 0; done < count; done += batch)
        run_batch(c, mode, prefix, done, count - done < batch ? count - done : batch, tokens);
    double seconds = now_seconds() - start;
    printf("mode=%s cycles=%ld seconds=%.3f cycles_per_s=%.0f\n", mode == MODE_MODULE ? "module" : "native", count,
           seconds, seconds > 0 ? (double)count / seconds : 0.0);
    free(tokens);
    redisFree(c);
    return 0;
}
