/* idempotent_consumer.c -- a Redis Streams consumer group whose effect happens exactly once per
 * message, although consumers crash and messages are delivered again.
 *
 * Each message carries an `amount`; its effect is INCRBY on a total. A consumer owns a message's
 * processing with IDEMP.BEGIN (key {tag}:done:<message id>, a short lease), and the effect is made
 * conditional on the completion in one script: IDEMP.COMPLETE, then INCRBY only when it answered 1.
 * So a repeat of the message finds it completed and only acknowledges it.
 *
 * The scenario:
 *   - N messages are added (message i carries amount i) to a new stream and group;
 *   - consumer A reads them, applies the first K, but acknowledges only every other one (the 2nd,
 *     4th, ...: its acks were "lost"), then begins message K+1 and crashes: no COMPLETE, no XACK;
 *   - consumer B claims everything pending with XAUTOCLAIM: message K+1 answers in_progress until
 *     A's lease ends (B waits the retry_after_ms it is told and tries again), and each message A
 *     completed but did not ack answers completed: B just acknowledges it.
 * Output:
 *   messages N
 *   applied N
 *   duplicates_skipped D   (the messages A applied but did not ack: ceil(K/2))
 *   total T                (the sum of the amounts, N*(N+1)/2)
 * All keys of a message share the stream's hash tag (one cluster slot). The stream and the total
 * are reset (DEL) at the start. Exit status: 0 when the total is the sum of the amounts and every
 * message was applied once, 1 otherwise (or on any failure), 2 on bad arguments. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slotguard.h"

#define LEASE_MS 500           /* a consumer's hold on a message's processing */
#define CLAIM_MIN_IDLE_MS 100  /* XAUTOCLAIM takes messages idle this long */
#define RESPONSE_TTL_S 86400   /* how long a completed message is remembered */
#define CLAIM_BATCH 100

/* KEYS[1] the idempotency key, KEYS[2] the total; ARGV: token, response, ttl, amount.
 * Returns IDEMP.COMPLETE's answer: 1 stored (and applied), 2 stored before by this token, 0 lost. */
static const char complete_and_apply_script[] =
    "local stored = redis.call('IDEMP.COMPLETE', KEYS[1], ARGV[1], ARGV[2], ARGV[3]) "
    "if stored == 1 then redis.call('INCRBY', KEYS[2], ARGV[4]) end "
    "return stored";

typedef struct settings {
    const char *host;
    int port;
    int cluster;
    const char *stream;
    const char *group;
    long messages;
    long crash_after; /* -1: messages / 2 */
} settings;

static void print_usage(FILE *out, const char *program) {
    fprintf(out,
            "usage: %s [--host H] [--port P] [--cluster] [--stream KEY] [--group G] [--messages N]\n"
            "          [--crash-after K]\n"
            "  --host H          server (cluster mode: the seed node); default 127.0.0.1\n"
            "  --port P          its port; default 6379\n"
            "  --cluster         talk to a Redis Cluster (host:port is the seed)\n"
            "  --stream KEY      the stream; default {orders}:stream (its hash tag names the other\n"
            "                    keys: {orders}:done:<message id>, {orders}:total)\n"
            "  --group G         the consumer group; default billing\n"
            "  --messages N      messages added, message i with amount i; default 20\n"
            "  --crash-after K   consumer A crashes after applying K messages; default N/2\n"
            "  --help            print this and exit\n"
            "Prints messages, applied, duplicates_skipped and total. Resets the stream and the total first.\n"
            "Exit 0 when the total is the sum of the amounts, 1 on failure, 2 on bad arguments.\n",
            program);
}

static int parse_number(const char *text, long long min, long long max, long long *out) {
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || value < min || value > max) return -1;
    *out = value;
    return 0;
}

/* Fills `s` from the command line. Returns -1 to exit 0 (--help), 0 to go on, 2 on bad arguments. */
static int parse_arguments(int argc, char **argv, settings *s) {
    static const char *const value_flags[] = {"--host", "--port", "--stream", "--group", "--messages",
                                              "--crash-after"};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--help") == 0) {
            print_usage(stdout, argv[0]);
            return -1;
        }
        if (strcmp(flag, "--cluster") == 0) {
            s->cluster = 1;
            continue;
        }
        int known = 0;
        for (size_t f = 0; f < sizeof(value_flags) / sizeof(value_flags[0]); f++)
            if (strcmp(flag, value_flags[f]) == 0) known = 1;
        if (!known) {
            fprintf(stderr, "%s: unknown flag %s\n", argv[0], flag);
            print_usage(stderr, argv[0]);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", argv[0], flag);
            print_usage(stderr, argv[0]);
            return 2;
        }
        const char *value = argv[++i];
        long long number = 0;
        int bad = 0;
        if (strcmp(flag, "--host") == 0) s->host = value;
        else if (strcmp(flag, "--stream") == 0) s->stream = value;
        else if (strcmp(flag, "--group") == 0) s->group = value;
        else if (strcmp(flag, "--port") == 0) {
            bad = parse_number(value, 1, 65535, &number);
            s->port = (int)number;
        } else if (strcmp(flag, "--messages") == 0) {
            bad = parse_number(value, 0, 1000000, &number);
            s->messages = (long)number;
        } else if (strcmp(flag, "--crash-after") == 0) {
            bad = parse_number(value, 0, 1000000, &number);
            s->crash_after = (long)number;
        }
        if (bad) {
            fprintf(stderr, "%s: bad value for %s: %s\n", argv[0], flag, value);
            print_usage(stderr, argv[0]);
            return 2;
        }
    }
    if (s->crash_after < 0) s->crash_after = s->messages / 2;
    if (s->crash_after > s->messages) {
        fprintf(stderr, "%s: --crash-after %ld is more than --messages %ld\n", argv[0], s->crash_after, s->messages);
        print_usage(stderr, argv[0]);
        return 2;
    }
    return 0;
}

static void sleep_ms(long long ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- keys and commands ------------------------------------------------------------------------ */
typedef struct keys {
    const char *stream;
    const char *group;
    char tag[256];   /* "{orders}": the stream's hash tag, braces included */
    char total[300]; /* "{orders}:total" */
} keys;

/* The stream's hash tag as Redis Cluster sees it, or the whole name when it has none. */
static int derive_keys(keys *k, const char *stream, const char *group) {
    k->stream = stream;
    k->group = group;
    const char *open = strchr(stream, '{');
    const char *close = open ? strchr(open + 1, '}') : NULL;
    int n;
    if (open && close && close > open + 1) n = snprintf(k->tag, sizeof(k->tag), "%.*s", (int)(close - open + 1), open);
    else n = snprintf(k->tag, sizeof(k->tag), "{%s}", stream);
    if (n < 0 || (size_t)n >= sizeof(k->tag)) return -1;
    snprintf(k->total, sizeof(k->total), "%s:total", k->tag);
    return 0;
}

/* Runs a command routed by `key` (argv NUL-terminated strings); an error reply is a failure,
 * reported on stderr. Returns NULL on failure. */
static redisReply *run(sg_context *ctx, const char *key, int argc, const char **argv) {
    size_t lengths[16];
    for (int i = 0; i < argc; i++) lengths[i] = strlen(argv[i]);
    redisReply *r = sg_command_argv(ctx, key, strlen(key), argc, argv, lengths);
    if (r == NULL) {
        fprintf(stderr, "%s %s: %s\n", argv[0], key, ctx->errstr);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "%s %s: %s\n", argv[0], key, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Runs a command and only checks that it succeeded. */
static int run_checked(sg_context *ctx, const char *key, int argc, const char **argv) {
    redisReply *r = run(ctx, key, argc, argv);
    if (r == NULL) return -1;
    freeReplyObject(r);
    return 0;
}

/* ---- messages ----------------------------------------------------------------------------------- */
typedef struct message {
    char id[48];
    long long amount;
} message;

typedef struct batch {
    message *items;
    size_t count;
} batch;

/* Entries of XREADGROUP / XAUTOCLAIM: [[id, [field, value, ...]], ...], appended to `out`.
 * A deleted entry (nil fields) is skipped. */
static int collect_entries(const redisReply *entries, batch *out) {
    if (entries->type != REDIS_REPLY_ARRAY) return -1;
    message *grown = realloc(out->items, (out->count + entries->elements + 1) * sizeof(*grown));
    if (grown == NULL) return -1;
    out->items = grown;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *entry = entries->element[i];
        if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 || entry->element[0]->type != REDIS_REPLY_STRING)
            return -1;
        const redisReply *fields = entry->element[1];
        if (fields->type != REDIS_REPLY_ARRAY) continue;
        message *m = &out->items[out->count];
        snprintf(m->id, sizeof(m->id), "%s", entry->element[0]->str);
        m->amount = 0;
        int found = 0;
        for (size_t f = 0; f + 1 < fields->elements; f += 2)
            if (fields->element[f]->type == REDIS_REPLY_STRING && strcmp(fields->element[f]->str, "amount") == 0 &&
                fields->element[f + 1]->type == REDIS_REPLY_STRING) {
                m->amount = strtoll(fields->element[f + 1]->str, NULL, 10);
                found = 1;
            }
        if (!found) return -1;
        out->count++;
    }
    return 0;
}

typedef struct tally {
    long applied;
    long duplicates_skipped;
    long lease_waits;
} tally;

static void done_key_of(const keys *k, const message *m, char *out, size_t size) {
    snprintf(out, size, "%s:done:%s", k->tag, m->id);
}

/* What identifies the request: a redelivery of the message carries the same. */
static int fingerprint_of(const message *m, char *out, size_t size) {
    return snprintf(out, size, "%s amount=%lld", m->id, m->amount);
}

static int acknowledge(sg_context *ctx, const keys *k, const message *m) {
    const char *argv[] = {"XACK", k->stream, k->group, m->id};
    return run_checked(ctx, k->stream, 4, argv);
}

/* Applies message `m` at most once: IDEMP.BEGIN; when new, complete-and-apply in one script. A
 * message completed before is a duplicate; one in progress elsewhere is waited for. Acknowledges
 * the message when `ack`. */
static int handle_message(sg_context *ctx, const keys *k, const message *m, int ack, tally *t) {
    char done_key[400], fingerprint[96];
    done_key_of(k, m, done_key, sizeof(done_key));
    int fingerprint_len = fingerprint_of(m, fingerprint, sizeof(fingerprint));
    for (;;) {
        sg_idemp_begin begin;
        if (sg_idemp_begin_processing(ctx, done_key, strlen(done_key), fingerprint, (size_t)fingerprint_len, LEASE_MS,
                                      &begin) != SG_OK) {
            fprintf(stderr, "IDEMP.BEGIN %s: %s\n", done_key, ctx->errstr);
            return -1;
        }
        sg_idemp_outcome outcome = begin.outcome;
        long long token = begin.token, retry_after_ms = begin.retry_after_ms;
        sg_idemp_begin_free(&begin);

        if (outcome == SG_IDEMP_IN_PROGRESS) {
            t->lease_waits++; /* someone else's lease (a crashed consumer's): wait for it to end */
            sleep_ms(retry_after_ms + 10);
            continue;
        }
        if (outcome == SG_IDEMP_MISMATCH) {
            fprintf(stderr, "IDEMP.BEGIN %s: used for another request\n", done_key);
            return -1;
        }
        if (outcome == SG_IDEMP_COMPLETED) {
            t->duplicates_skipped++;
            return ack ? acknowledge(ctx, k, m) : 0;
        }

        char token_text[24], ttl_text[24], amount_text[24], response[64];
        snprintf(token_text, sizeof(token_text), "%lld", token);
        snprintf(ttl_text, sizeof(ttl_text), "%d", RESPONSE_TTL_S);
        snprintf(amount_text, sizeof(amount_text), "%lld", m->amount);
        snprintf(response, sizeof(response), "applied %lld", m->amount);
        const char *argv[] = {"EVAL", complete_and_apply_script, "2", done_key, k->total,
                              token_text, response, ttl_text, amount_text};
        redisReply *r = run(ctx, done_key, 9, argv);
        if (r == NULL) return -1;
        long long stored = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject(r);
        if (stored == 1) {
            t->applied++;
        } else if (stored == 0) {
            /* Our lease ended before the completion: nothing applied; whoever holds it now (or a
             * retry of ours) decides. */
            fprintf(stderr, "IDEMP.COMPLETE %s: lease lost, trying again\n", done_key);
            continue;
        } else if (stored != 2) {
            fprintf(stderr, "EVAL complete-and-apply %s: unexpected reply\n", done_key);
            return -1;
        }
        return ack ? acknowledge(ctx, k, m) : 0;
    }
}

static sg_context *connect_consumer(const sg_options *options, const char *name) {
    sg_context *ctx = sg_connect(options);
    if (ctx == NULL || ctx->err) {
        fprintf(stderr, "connect (consumer %s): %s\n", name, ctx ? ctx->errstr : "out of memory");
        sg_free(ctx);
        return NULL;
    }
    return ctx;
}

/* A new stream and group holding `count` messages, message i carrying amount i. */
static int prepare(sg_context *ctx, const keys *k, long count) {
    const char *reset_stream[] = {"DEL", k->stream};
    const char *reset_total[] = {"DEL", k->total};
    const char *create[] = {"XGROUP", "CREATE", k->stream, k->group, "0", "MKSTREAM"};
    if (run_checked(ctx, k->stream, 2, reset_stream) != 0 || run_checked(ctx, k->total, 2, reset_total) != 0 ||
        run_checked(ctx, k->stream, 6, create) != 0)
        return -1;
    for (long i = 1; i <= count; i++) {
        char amount[24];
        snprintf(amount, sizeof(amount), "%ld", i);
        const char *add[] = {"XADD", k->stream, "*", "amount", amount};
        if (run_checked(ctx, k->stream, 5, add) != 0) return -1;
    }
    return 0;
}

/* Consumer A: reads every message, applies the first `crash_after` (acking only the 2nd, 4th...),
 * begins the next one and crashes. */
static int run_consumer_a(const sg_options *options, const keys *k, long count, long crash_after, tally *t) {
    sg_context *ctx = connect_consumer(options, "A");
    if (ctx == NULL) return -1;
    char count_text[24];
    snprintf(count_text, sizeof(count_text), "%ld", count > 0 ? count : 1);
    const char *read[] = {"XREADGROUP", "GROUP", k->group, "A", "COUNT", count_text, "STREAMS", k->stream, ">"};
    redisReply *r = run(ctx, k->stream, 9, read);
    if (r == NULL) {
        sg_free(ctx);
        return -1;
    }
    batch delivered = {0};
    int rc = 0;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t s = 0; s < r->elements && rc == 0; s++) {
            const redisReply *stream = r->element[s];
            if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2 ||
                collect_entries(stream->element[1], &delivered) != 0)
                rc = -1;
        }
    } else if (r->type != REDIS_REPLY_NIL) {
        rc = -1;
    }
    freeReplyObject(r);
    if (rc != 0) fprintf(stderr, "XREADGROUP %s: unexpected reply\n", k->stream);

    for (long i = 0; rc == 0 && i < crash_after && (size_t)i < delivered.count; i++)
        rc = handle_message(ctx, k, &delivered.items[i], i % 2 == 1, t);

    if (rc == 0 && (size_t)crash_after < delivered.count) {
        /* Begin the next message, then "crash": no COMPLETE, no XACK; its lease runs out alone. */
        const message *m = &delivered.items[crash_after];
        char done_key[400], fingerprint[96];
        done_key_of(k, m, done_key, sizeof(done_key));
        int fingerprint_len = fingerprint_of(m, fingerprint, sizeof(fingerprint));
        sg_idemp_begin begin;
        if (sg_idemp_begin_processing(ctx, done_key, strlen(done_key), fingerprint, (size_t)fingerprint_len, LEASE_MS,
                                      &begin) != SG_OK) {
            fprintf(stderr, "IDEMP.BEGIN %s: %s\n", done_key, ctx->errstr);
            rc = -1;
        } else {
            if (begin.outcome != SG_IDEMP_NEW) {
                fprintf(stderr, "IDEMP.BEGIN %s: expected new, got outcome %d\n", done_key, (int)begin.outcome);
                rc = -1;
            }
            sg_idemp_begin_free(&begin);
        }
    }
    if (rc == 0 && delivered.count != (size_t)count) {
        fprintf(stderr, "XREADGROUP %s: %zu messages delivered, %ld expected\n", k->stream, delivered.count, count);
        rc = -1;
    }
    free(delivered.items);
    sg_free(ctx);
    return rc;
}

/* Consumer B: claims everything pending once it has been idle long enough, and handles it. */
static int run_consumer_b(const sg_options *options, const keys *k, tally *t) {
    sg_context *ctx = connect_consumer(options, "B");
    if (ctx == NULL) return -1;
    sleep_ms(CLAIM_MIN_IDLE_MS + 50);
    char idle[24], batch_size[24], cursor[48] = "0-0";
    snprintf(idle, sizeof(idle), "%d", CLAIM_MIN_IDLE_MS);
    snprintf(batch_size, sizeof(batch_size), "%d", CLAIM_BATCH);
    int rc = 0;
    do {
        const char *claim[] = {"XAUTOCLAIM", k->stream, k->group, "B", idle, cursor, "COUNT", batch_size};
        redisReply *r = run(ctx, k->stream, 8, claim);
        if (r == NULL) {
            rc = -1;
            break;
        }
        batch claimed = {0};
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            collect_entries(r->element[1], &claimed) != 0) {
            fprintf(stderr, "XAUTOCLAIM %s: unexpected reply\n", k->stream);
            rc = -1;
        } else {
            snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        }
        freeReplyObject(r);
        for (size_t i = 0; rc == 0 && i < claimed.count; i++) rc = handle_message(ctx, k, &claimed.items[i], 1, t);
        free(claimed.items);
    } while (rc == 0 && strcmp(cursor, "0-0") != 0);

    if (rc == 0) {
        const char *pending[] = {"XPENDING", k->stream, k->group};
        redisReply *r = run(ctx, k->stream, 3, pending);
        if (r == NULL) rc = -1;
        else {
            if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_INTEGER) {
                fprintf(stderr, "XPENDING %s: unexpected reply\n", k->stream);
                rc = -1;
            } else if (r->element[0]->integer != 0) {
                fprintf(stderr, "error: %lld messages still pending\n", r->element[0]->integer);
                rc = -1;
            }
            freeReplyObject(r);
        }
    }
    sg_free(ctx);
    return rc;
}

int main(int argc, char **argv) {
    settings s = {"127.0.0.1", 6379, 0, "{orders}:stream", "billing", 20, -1};
    int parsed = parse_arguments(argc, argv, &s);
    if (parsed < 0) return 0;
    if (parsed > 0) return parsed;
    keys k;
    if (derive_keys(&k, s.stream, s.group) != 0) {
        fprintf(stderr, "%s: the stream name is too long\n", argv[0]);
        return 2;
    }

    sg_options options = {0};
    options.host = s.host;
    options.port = s.port;
    options.cluster = s.cluster;
    sg_context *ctx = sg_connect(&options);
    if (ctx == NULL) {
        fprintf(stderr, "connect: out of memory\n");
        return 1;
    }
    if (ctx->err) {
        fprintf(stderr, "connect: %s\n", ctx->errstr);
        sg_free(ctx);
        return 1;
    }

    tally t = {0};
    int exit_code = 0;
    if (prepare(ctx, &k, s.messages) != 0 || run_consumer_a(&options, &k, s.messages, s.crash_after, &t) != 0 ||
        run_consumer_b(&options, &k, &t) != 0)
        exit_code = 1;

    if (exit_code == 0) {
        const char *get[] = {"GET", k.total};
        redisReply *r = run(ctx, k.total, 2, get);
        long long total = 0;
        if (r == NULL) exit_code = 1;
        else {
            if (r->type == REDIS_REPLY_STRING) total = strtoll(r->str, NULL, 10);
            else if (r->type != REDIS_REPLY_NIL) exit_code = 1;
            freeReplyObject(r);
        }
        long long expected = (long long)s.messages * (s.messages + 1) / 2;
        printf("messages %ld\n", s.messages);
        printf("applied %ld\n", t.applied);
        printf("duplicates_skipped %ld\n", t.duplicates_skipped);
        printf("total %lld\n", total);
        if (t.lease_waits) fprintf(stderr, "waited %ld times for the crashed consumer's lease\n", t.lease_waits);
        if (total != expected) {
            fprintf(stderr, "error: the total is %lld, the amounts add up to %lld\n", total, expected);
            exit_code = 1;
        }
        if (t.applied != s.messages) {
            fprintf(stderr, "error: %ld messages applied, %ld sent\n", t.applied, s.messages);
            exit_code = 1;
        }
    }
    sg_free(ctx);
    fflush(stdout);
    return exit_code;
}
