/* sharded_checks.h -- helpers shared by the SHARDED.* suites (test_sharded_*.c): commands written
 * as one line of space-separated words (no word in these suites holds a space), SHARDED.DECR
 * replies checked against README's shape, integer values read back with GET, pipelined loads and
 * the dirty counter. Header-only (static inline) so every suite stays one binary linked with the
 * harness, as the Makefile builds them. */
#ifndef SG_SHARDED_CHECKS_H
#define SG_SHARDED_CHECKS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"

#define SH_MAX_WORDS 128
#define SH_LINE 4096
#define SH_MISSING LLONG_MIN /* what sh_get returns for a missing key */
#define SH_BATCH 1000        /* commands in flight at once in a pipelined load */

typedef struct sh_words {
    int argc;
    const char *argv[SH_MAX_WORDS];
    size_t len[SH_MAX_WORDS];
    char line[SH_LINE];
} sh_words;

/* Split w->line in place on spaces. */
static inline void sh_split(sh_words *w)
{
    w->argc = 0;
    char *save = NULL;
    for (char *word = strtok_r(w->line, " ", &save); word != NULL; word = strtok_r(NULL, " ", &save)) {
        if (w->argc == SH_MAX_WORDS) fail_msg("more than %d words in a command", SH_MAX_WORDS);
        w->argv[w->argc] = word;
        w->len[w->argc++] = strlen(word);
    }
}

static inline void sh_words_v(sh_words *w, const char *fmt, va_list ap)
{
    int n = vsnprintf(w->line, sizeof(w->line), fmt, ap);
    if (n < 0 || (size_t)n >= sizeof(w->line)) fail_msg("command line too long: %.80s...", fmt);
    sh_split(w);
}

/* One command line, split into words and sent as an argv. Caller frees the reply. */
__attribute__((format(printf, 2, 3))) static inline redisReply *sh_run(redisContext *c, const char *fmt, ...)
{
    sh_words w;
    va_list ap;
    va_start(ap, fmt);
    sh_words_v(&w, fmt, ap);
    va_end(ap);
    return sg_command_args(c, w.argc, w.argv, w.len);
}

/* The integer reply of a command line; fails on anything else. */
__attribute__((format(printf, 2, 3))) static inline long long sh_integer(redisContext *c, const char *fmt, ...)
{
    sh_words w;
    va_list ap;
    va_start(ap, fmt);
    sh_words_v(&w, fmt, ap);
    va_end(ap);
    redisReply *r = sg_command_args(c, w.argc, w.argv, w.len);
    if (r->type != REDIS_REPLY_INTEGER) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("%s ...: expected an integer, got %s", w.argv[0], got);
    }
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* An error reply starting with `prefix`; fails on anything else. */
__attribute__((format(printf, 3, 4))) static inline void sh_error(redisContext *c, const char *prefix,
                                                                  const char *fmt, ...)
{
    sh_words w;
    va_list ap;
    va_start(ap, fmt);
    sh_words_v(&w, fmt, ap);
    va_end(ap);
    redisReply *r = sg_command_args(c, w.argc, w.argv, w.len);
    if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, prefix, strlen(prefix)) != 0) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("%s ...: expected an error \"%s...\", got %s", w.argv[0], prefix, got);
    }
    freeReplyObject(r);
}

/* A SHARDED.DECR reply: 1 and the pair for [index, new value], 0 for nil; fails on anything else
 * (`what` names the call). Frees the reply. */
static inline int sh_decr_outcome(redisReply *r, long long *index, long long *value, const char *what)
{
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER &&
        r->element[1]->type == REDIS_REPLY_INTEGER) {
        *index = r->element[0]->integer;
        *value = r->element[1]->integer;
        freeReplyObject(r);
        return 1;
    }
    char got[300];
    sg_describe_reply(r, got, sizeof(got));
    freeReplyObject(r);
    fail_msg("%s: expected nil or [index, value], got %s", what, got);
    return -1;
}

/* SHARDED.DECR over the keys of `fmt` (space-separated): see sh_decr_outcome. */
__attribute__((format(printf, 4, 5))) static inline int sh_decr(redisContext *c, long long *index, long long *value,
                                                                const char *fmt, ...)
{
    char keys[SH_LINE - 16];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(keys, sizeof(keys), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(keys)) fail_msg("key list too long");
    redisReply *r = sh_run(c, "SHARDED.DECR %s", keys);
    char what[96];
    snprintf(what, sizeof(what), "SHARDED.DECR %.70s", keys);
    return sh_decr_outcome(r, index, value, what);
}

/* GET key as an integer; SH_MISSING when the key does not exist; fails when it is not an integer. */
static inline long long sh_get(redisContext *c, const char *key)
{
    redisReply *r = sg_command(c, "GET %s", key);
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return SH_MISSING;
    }
    if (r->type != REDIS_REPLY_STRING) {
        char got[300];
        sg_describe_reply(r, got, sizeof(got));
        freeReplyObject(r);
        fail_msg("GET %s: got %s", key, got);
    }
    char *end = NULL;
    long long v = strtoll(r->str, &end, 10);
    int ok = r->len > 0 && end == r->str + r->len;
    freeReplyObject(r);
    if (!ok) fail_msg("GET %s is not an integer", key);
    return v;
}

static inline void sh_set(redisContext *c, const char *key, long long value)
{
    sg_command_status(c, "OK", "SET %s %lld", key, value);
}

/* The dirty counter: changes since the last save. */
static inline long long sh_dirty(redisContext *c)
{
    return sg_info_number(c, "rdb_changes_since_last_save");
}

/* `calls` SHARDED.DECR over the n keys named in `keys` (space-separated), pipelined SH_BATCH at a
 * time. picks[i] counts the calls that chose argument i; returns the number of nil replies. Every
 * reply's new value must be one less than what the key held (values[] tracks them; pass the
 * values the keys hold before). */
static inline long sh_decr_load(redisContext *c, const char *keys, size_t n, long calls, long *picks,
                                long long *values)
{
    sh_words w;
    int len = snprintf(w.line, sizeof(w.line), "SHARDED.DECR %s", keys);
    if (len < 0 || (size_t)len >= sizeof(w.line)) fail_msg("key list too long");
    sh_split(&w);
    assert_int_equal((size_t)(w.argc - 1), n);
    long nils = 0;
    for (long done = 0; done < calls;) {
        long batch = calls - done < SH_BATCH ? calls - done : SH_BATCH;
        for (long i = 0; i < batch; i++) assert_int_equal(redisAppendCommandArgv(c, w.argc, w.argv, w.len), REDIS_OK);
        for (long i = 0; i < batch; i++) {
            void *reply = NULL;
            if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) fail_msg("the connection broke in a load");
            long long index = -1, value = -1;
            if (!sh_decr_outcome(reply, &index, &value, "SHARDED.DECR in a load")) {
                nils++;
                continue;
            }
            if (index < 0 || (size_t)index >= n) fail_msg("SHARDED.DECR answered index %lld of %zu keys", index, n);
            if (value != values[index] - 1)
                fail_msg("SHARDED.DECR answered [%lld, %lld]; argument %lld held %lld", index, value, index,
                         values[index]);
            /* a key named twice holds one value: every argument naming it follows */
            for (size_t k = 0; k < n; k++) {
                if (w.len[k + 1] == w.len[index + 1] && memcmp(w.argv[k + 1], w.argv[index + 1], w.len[k + 1]) == 0)
                    values[k] = value;
            }
            picks[index]++;
        }
        done += batch;
    }
    return nils;
}

#endif
