/* checks.c -- checks shared by the contract suites: see checks.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

/* ---- one server for a whole group --------------------------------------------------------------- */

sg_server *sg_group_server;
redisContext *sg_conn;
static redisContext *group_clients[SG_GROUP_MAX_CLIENTS];

/* A connection with the short command timeout of the group suites. */
static redisContext *group_connect(void)
{
    redisContext *c = sg_connect_to(sg_group_server);
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
    if (sg_conn == NULL || sg_conn->err) {
        /* a previous test broke it (a command that was never answered): start afresh. NULL first,
         * so that a failing reconnect (the server died) cannot leave a freed connection behind. */
        if (sg_conn) redisFree(sg_conn);
        sg_conn = NULL;
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
    redisReply *r = sg_command_args(c, argc, argv, argvlen);
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


long long sg_map_integer(const redisReply *map, const char *field)
{
    const redisReply *v = sg_map_get(map, field);
    return v != NULL && v->type == REDIS_REPLY_INTEGER ? v->integer : LLONG_MIN;
}

int sg_list_has_word(const redisReply *list, const char *word)
{
    if (list == NULL || list->type != REDIS_REPLY_ARRAY) return 0;
    for (size_t i = 0; i < list->elements; i++)
        if (sg_reply_is_text(list->element[i], word)) return 1;
    return 0;
}

/* ---- DUMP payloads ------------------------------------------------------------------------------ */
uint64_t sg_crc64_jones(const unsigned char *data, size_t len)
{
    const uint64_t poly = UINT64_C(0x95ac9329ac4bc9b5); /* 0xad93d23594c935a9 reflected */
    uint64_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++) crc = (crc & 1) ? (crc >> 1) ^ poly : crc >> 1;
    }
    return crc;
}

void sg_dump_seal(unsigned char *payload, size_t len)
{
    uint64_t crc = sg_crc64_jones(payload, len - 8);
    for (int i = 0; i < 8; i++) payload[len - 8 + i] = (unsigned char)(crc >> (8 * i));
}
