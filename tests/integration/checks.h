/* checks.h -- what the contract suites check the same way for every family: one server for a
 * whole cmocka group, the bad-input runner, reply and key helpers, COMMAND INFO / COMMAND DOCS and
 * INFO counters. Built on harness.h. */
#ifndef SG_CHECKS_H
#define SG_CHECKS_H

#include "harness.h"

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
/* A map's integer field, LLONG_MIN when it is missing or not an integer. */
long long sg_map_integer(const redisReply *map, const char *field);
/* Whether an array reply holds `word` as one of its strings (COMMAND INFO flags, ACL categories). */
int sg_list_has_word(const redisReply *list, const char *word);
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

/* ---- DUMP payloads ------------------------------------------------------------------------------ */
/* CRC-64 as Redis computes it for DUMP (Jones polynomial, reflected, initial value 0, no final
 * xor). A payload ends with 2 bytes of RDB version and 8 of this CRC (little endian) over the rest. */
uint64_t sg_crc64_jones(const unsigned char *data, size_t len);
/* Make the trailing CRC of an edited payload of `len` bytes valid again. */
void sg_dump_seal(unsigned char *payload, size_t len);

#endif
