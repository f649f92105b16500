/* test_enroll_persistence.c -- trials survive every way Redis persists, copies and replicates them.
 *
 * A seeded workload (own PRNG, seed printed; set SG_WORKLOAD_SEED to replay another one) builds a
 * few trials -- with and without a waitlist, one whose user ids hold NUL and CR LF bytes -- through
 * thousands of enrollments with repeats, cancellations that promote waitlisted users, and resizes
 * down and up. A snapshot captures, for every trial, the SLOTS.INFO reply, the whole ENROLL.MEMBERS
 * export with arrival numbers, the ENROLL.STATUS of every user the workload may have touched
 * (waitlist positions included) and DEBUG DIGEST-VALUE, plus the DEBUG DIGEST of the dataset. Each
 * test takes a snapshot, makes Redis persist, reload, copy or replicate, takes another and demands
 * that they are equal.
 *
 * Every test owns its servers through a fixture whose teardown stops them, pass or fail. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raw_commands.h"

/* ---- deterministic PRNG (splitmix64) ----------------------------------------------------------- */

#define DEFAULT_WORKLOAD_SEED UINT64_C(0x5107C0A2D7E51ED5)

/* Uniform enough in [0, n) for test workloads; n > 0. */
static uint64_t workload_seed(void) {
    static int printed = 0;
    uint64_t seed = DEFAULT_WORKLOAD_SEED;
    const char *env = getenv("SG_WORKLOAD_SEED");
    if (env != NULL && *env != '\0') seed = strtoull(env, NULL, 0);
    if (!printed) {
        print_message("workload seed: 0x%016" PRIx64 " (replay with SG_WORKLOAD_SEED)\n", seed);
        printed = 1;
    }
    return seed;
}

/* ---- user ids ---------------------------------------------------------------------------------- */

#define MAX_USER_LEN 512

typedef enum id_family {
    IDS_TEXT,    /* "user:000042" */
    IDS_BINARY,  /* NUL, CR and LF bytes everywhere; every 97th id is 512 bytes long */
    IDS_FIXED17, /* exactly 17 bytes: "member-0000000042" */
} id_family;

typedef struct user_id {
    char bytes[MAX_USER_LEN];
    size_t len;
} user_id;

/* User number `index` of a family; distinct indexes give distinct ids. */
static void make_user_id(id_family family, unsigned index, user_id *out) {
    switch (family) {
    case IDS_TEXT:
        out->len = (size_t)snprintf(out->bytes, sizeof(out->bytes), "user:%06u", index);
        return;
    case IDS_FIXED17:
        out->len = (size_t)snprintf(out->bytes, sizeof(out->bytes), "member-%010u", index);
        assert_int_equal(out->len, 17);
        return;
    case IDS_BINARY: {
        const char head[] = {'\0', 'b', '\r', '\n'};
        size_t n = 0;
        memcpy(out->bytes, head, sizeof(head));
        n += sizeof(head);
        out->bytes[n++] = (char)(index >> 24);
        out->bytes[n++] = (char)(index >> 16);
        out->bytes[n++] = (char)(index >> 8);
        out->bytes[n++] = (char)index;
        out->bytes[n++] = '\r';
        out->bytes[n++] = '\n';
        out->bytes[n++] = '\0';
        if (index % 97 == 0) {
            for (; n < MAX_USER_LEN; n++) out->bytes[n] = (char)((n * 31 + index) % 5 == 0 ? '\0' : '\n');
        }
        out->len = n;
        return;
    }
    }
    fail_msg("unknown id family %d", (int)family);
}

/* ---- growing text buffer (snapshots are rendered as text so that differences print well) ------- */

typedef struct text {
    char *data;
    size_t len;
    size_t cap;
} text;

static void text_append(text *t, const char *bytes, size_t len) {
    if (t->len + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + len + 1) cap *= 2;
        char *data = realloc(t->data, cap);
        assert_non_null(data);
        t->data = data;
        t->cap = cap;
    }
    memcpy(t->data + t->len, bytes, len);
    t->len += len;
    t->data[t->len] = '\0';
}

static void text_printf(text *t, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(buf));
    text_append(t, buf, (size_t)n);
}

/* Printable ASCII as is (backslash doubled), every other byte as \xNN. */
static void text_escaped(text *t, const char *bytes, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)bytes[i];
        if (b == '\\') {
            text_append(t, "\\\\", 2);
        } else if (b >= 0x20 && b < 0x7f) {
            text_append(t, (const char *)&b, 1);
        } else {
            text_printf(t, "\\x%02x", b);
        }
    }
}

/* The finished string (never NULL); ownership passes to the caller. */
static char *text_take(text *t) {
    if (t->data == NULL) text_append(t, "", 0);
    char *s = t->data;
    t->data = NULL;
    t->len = t->cap = 0;
    return s;
}

/* ---- small reply helpers ----------------------------------------------------------------------- */

static int reply_is_text(const redisReply *r) {
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

/* An integer carried as an integer or as a decimal string. */
static long long reply_as_integer(const redisReply *r) {
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (reply_is_text(r)) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(r->str, &end, 10);
        if (errno == 0 && end != r->str && *end == '\0') return v;
    }
    fail_msg("expected an integer reply, got type %d", r->type);
    return 0;
}

static redisReply *pipeline_read(redisContext *c) {
    void *reply = NULL;
    if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) {
        fail_msg("pipelined reply lost: %s", c->errstr);
    }
    return reply;
}

/* ---- SLOTS.INFO -------------------------------------------------------------------------------- */

typedef struct trial_info {
    long long capacity;
    long long remaining;
    long long enrolled;
    long long waitlisted;
    long long waitlist_max;
    long long next_arrival;
} trial_info;

/* Parse SLOTS.INFO; every documented field must be there. `rendered` (optional) receives the reply
 * as text, fields in reply order. */
static trial_info read_info(redisContext *c, const char *key, text *rendered) {
    trial_info info;
    int seen = 0;
    memset(&info, 0, sizeof(info));
    redisReply *r = sg_command(c, "SLOTS.INFO %s", key);
    if (r->type != REDIS_REPLY_ARRAY) fail_msg("SLOTS.INFO %s: expected an array, got type %d", key, r->type);
    assert_int_equal(r->elements % 2, 0);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *name = r->element[i];
        assert_true(reply_is_text(name));
        long long value = reply_as_integer(r->element[i + 1]);
        if (rendered != NULL) {
            text_printf(rendered, "%s=%lld\n", name->str, value);
        }
        if (strcmp(name->str, "capacity") == 0) { info.capacity = value; seen |= 1; }
        else if (strcmp(name->str, "remaining") == 0) { info.remaining = value; seen |= 2; }
        else if (strcmp(name->str, "enrolled") == 0) { info.enrolled = value; seen |= 4; }
        else if (strcmp(name->str, "waitlisted") == 0) { info.waitlisted = value; seen |= 8; }
        else if (strcmp(name->str, "waitlist_max") == 0) { info.waitlist_max = value; seen |= 16; }
        else if (strcmp(name->str, "next_arrival") == 0) { info.next_arrival = value; seen |= 32; }
    }
    freeReplyObject(r);
    if (seen != 63) fail_msg("SLOTS.INFO %s lacks documented fields (mask 0x%x)", key, seen);
    return info;
}

/* ---- the trials a snapshot covers ---------------------------------------------------------------- */

typedef struct trial_spec {
    const char *key;
    id_family ids;
    unsigned universe; /* every user the test may have used is number 0 .. universe-1 */
} trial_spec;

/* ---- snapshots --------------------------------------------------------------------------------- */

#define SNAPSHOT_MAX_TRIALS 8
#define MEMBERS_PAGE 97
#define STATUS_BATCH 256

typedef struct trial_snapshot {
    char *info;         /* SLOTS.INFO, one field=value per line */
    char *members;      /* the ENROLL.MEMBERS WITHARRIVALS export, one "user arrival" per line */
    char *statuses;     /* ENROLL.STATUS of every user of the universe that is not "none" */
    char *value_digest; /* DEBUG DIGEST-VALUE key */
} trial_snapshot;

typedef struct snapshot {
    size_t count;
    const trial_spec *specs;
    trial_snapshot trials[SNAPSHOT_MAX_TRIALS];
    char *digest; /* DEBUG DIGEST of the dataset */
} snapshot;

/* Export every enrolled user with its arrival number, paging with COUNT. Checks that arrivals
 * strictly increase (arrival order) and returns how many users were exported. */
static long long export_members(redisContext *c, const char *key, long long expected, text *out) {
    char cursor[32] = "0";
    long long exported = 0;
    long long last_arrival = 0;
    long long max_pages = expected / MEMBERS_PAGE + 16;
    for (long long page = 0;; page++) {
        if (page > max_pages) fail_msg("ENROLL.MEMBERS %s: cursor did not come back to 0", key);
        redisReply *r =
            sg_command(c, "ENROLL.MEMBERS %s %s COUNT %d WITHARRIVALS", key, cursor, MEMBERS_PAGE);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            fail_msg("ENROLL.MEMBERS %s: expected [cursor, users], got type %d", key, r->type);
        }
        const redisReply *next = r->element[0];
        const redisReply *users = r->element[1];
        assert_true(reply_is_text(next));
        assert_true(next->len < sizeof(cursor));
        assert_int_equal(users->type, REDIS_REPLY_ARRAY);
        assert_int_equal(users->elements % 2, 0);
        assert_true(users->elements / 2 <= MEMBERS_PAGE);
        for (size_t i = 0; i + 1 < users->elements; i += 2) {
            const redisReply *user = users->element[i];
            assert_int_equal(user->type, REDIS_REPLY_STRING);
            long long arrival = reply_as_integer(users->element[i + 1]);
            if (arrival <= last_arrival) {
                fail_msg("ENROLL.MEMBERS %s: arrival %lld after %lld", key, arrival, last_arrival);
            }
            last_arrival = arrival;
            text_escaped(out, user->str, user->len);
            text_printf(out, " %lld\n", arrival);
            exported++;
        }
        memcpy(cursor, next->str, next->len);
        cursor[next->len] = '\0';
        freeReplyObject(r);
        if (strcmp(cursor, "0") == 0) break;
    }
    return exported;
}

/* ENROLL.STATUS of every user of the universe, pipelined. Checks that the enrolled and waitlisted
 * users found match SLOTS.INFO and that the waitlist positions are exactly 1..waitlisted. */
static void record_statuses(redisContext *c, const trial_spec *spec, const trial_info *info, text *out) {
    long long enrolled = 0, waitlisted = 0;
    unsigned char *position_seen = calloc((size_t)info->waitlisted + 1, 1);
    assert_non_null(position_seen);
    for (unsigned start = 0; start < spec->universe; start += STATUS_BATCH) {
        unsigned end = start + STATUS_BATCH < spec->universe ? start + STATUS_BATCH : spec->universe;
        user_id id;
        for (unsigned i = start; i < end; i++) {
            make_user_id(spec->ids, i, &id);
            const char *argv[3] = {"ENROLL.STATUS", spec->key, id.bytes};
            size_t argvlen[3] = {strlen("ENROLL.STATUS"), strlen(spec->key), id.len};
            assert_int_equal(redisAppendCommandArgv(c, 3, argv, argvlen), REDIS_OK);
        }
        for (unsigned i = start; i < end; i++) {
            redisReply *r = pipeline_read(c);
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !reply_is_text(r->element[0])) {
                fail_msg("ENROLL.STATUS %s #%u: expected [state, number], got type %d", spec->key, i,
                         r->type);
            }
            const char *state = r->element[0]->str;
            long long value = reply_as_integer(r->element[1]);
            if (strcmp(state, "none") == 0) {
                assert_int_equal(value, 0);
            } else {
                make_user_id(spec->ids, i, &id);
                text_printf(out, "%s ", state);
                text_escaped(out, id.bytes, id.len);
                text_printf(out, " %lld\n", value);
                if (strcmp(state, "enrolled") == 0) {
                    enrolled++;
                    assert_true(value >= 1 && value < info->next_arrival);
                } else if (strcmp(state, "waitlisted") == 0) {
                    waitlisted++;
                    if (value < 1 || value > info->waitlisted || position_seen[value]) {
                        fail_msg("ENROLL.STATUS %s #%u: waitlist position %lld out of 1..%lld or repeated",
                                 spec->key, i, value, info->waitlisted);
                    }
                    position_seen[value] = 1;
                } else {
                    fail_msg("ENROLL.STATUS %s #%u: unknown state \"%s\"", spec->key, i, state);
                }
            }
            freeReplyObject(r);
        }
    }
    free(position_seen);
    if (enrolled != info->enrolled || waitlisted != info->waitlisted) {
        fail_msg("%s: ENROLL.STATUS finds %lld enrolled and %lld waitlisted, SLOTS.INFO says %lld and %lld",
                 spec->key, enrolled, waitlisted, info->enrolled, info->waitlisted);
    }
}

static char *value_digest(redisContext *c, const char *key) {
    redisReply *r = sg_command(c, "DEBUG DIGEST-VALUE %s", key);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 || !reply_is_text(r->element[0])) {
        fail_msg("DEBUG DIGEST-VALUE %s: unexpected reply type %d", key, r->type);
    }
    char *digest = strdup(r->element[0]->str);
    assert_non_null(digest);
    freeReplyObject(r);
    return digest;
}

static void snapshot_trial(redisContext *c, const trial_spec *spec, trial_snapshot *out) {
    text info_text = {0}, members = {0}, statuses = {0};
    trial_info info = read_info(c, spec->key, &info_text);

    /* What README.md promises about the counters, whatever the history. */
    long long free_slots = info.capacity - info.enrolled;
    assert_int_equal(info.remaining, free_slots > 0 ? free_slots : 0);
    assert_true(info.waitlisted <= info.waitlist_max);
    assert_true(info.next_arrival >= 1 + info.enrolled + info.waitlisted);

    long long exported = export_members(c, spec->key, info.enrolled, &members);
    if (exported != info.enrolled) {
        fail_msg("%s: ENROLL.MEMBERS exported %lld users, SLOTS.INFO says %lld enrolled", spec->key,
                 exported, info.enrolled);
    }
    record_statuses(c, spec, &info, &statuses);

    out->info = text_take(&info_text);
    out->members = text_take(&members);
    out->statuses = text_take(&statuses);
    out->value_digest = value_digest(c, spec->key);
}

static void snapshot_take(redisContext *c, const trial_spec *specs, size_t count, snapshot *out) {
    assert_true(count <= SNAPSHOT_MAX_TRIALS);
    memset(out, 0, sizeof(*out));
    out->count = count;
    out->specs = specs;
    for (size_t i = 0; i < count; i++) snapshot_trial(c, &specs[i], &out->trials[i]);
    out->digest = sg_debug_digest(c);
    assert_non_null(out->digest);
}

static void trial_snapshot_free(trial_snapshot *t) {
    free(t->info);
    free(t->members);
    free(t->statuses);
    free(t->value_digest);
    memset(t, 0, sizeof(*t));
}

static void snapshot_free(snapshot *s) {
    for (size_t i = 0; i < s->count; i++) trial_snapshot_free(&s->trials[i]);
    free(s->digest);
    memset(s, 0, sizeof(*s));
}

/* Up to size-1 bytes of `from` on one line: line breaks shown as " | ". */
static void one_line_window(const char *from, char *out, size_t size) {
    size_t n = 0;
    for (; *from != '\0' && n + 4 < size; from++) {
        if (*from == '\n') {
            memcpy(out + n, " | ", 3);
            n += 3;
        } else {
            out[n++] = *from;
        }
    }
    out[n] = '\0';
}

/* Fail with the first difference (and a little context) when two rendered parts differ. */
static void assert_text_equal(const char *what, const char *key, const char *before, const char *after) {
    if (strcmp(before, after) == 0) return;
    size_t at = 0;
    while (before[at] != '\0' && before[at] == after[at]) at++;
    size_t from = at > 60 ? at - 60 : 0;
    char window_before[160], window_after[160];
    one_line_window(before + from, window_before, sizeof(window_before));
    one_line_window(after + from, window_after, sizeof(window_after));
    print_error("%s of %s differs at byte %zu\n  before: ...%s\n  after:  ...%s\n", what, key, at,
                window_before, window_after);
    fail_msg("%s of %s is not identical", what, key);
}

static void assert_trial_snapshots_equal(const char *key, const trial_snapshot *a, const trial_snapshot *b) {
    assert_text_equal("SLOTS.INFO", key, a->info, b->info);
    assert_text_equal("ENROLL.MEMBERS export", key, a->members, b->members);
    assert_text_equal("ENROLL.STATUS of every user", key, a->statuses, b->statuses);
    assert_text_equal("DEBUG DIGEST-VALUE", key, a->value_digest, b->value_digest);
}

static void assert_snapshots_equal(const snapshot *a, const snapshot *b) {
    assert_int_equal(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        assert_trial_snapshots_equal(a->specs[i].key, &a->trials[i], &b->trials[i]);
    }
    assert_text_equal("DEBUG DIGEST", "the dataset", a->digest, b->digest);
}

/* ---- the random workload ----------------------------------------------------------------------- */

typedef struct workload_trial {
    trial_spec spec;
    long long capacity;
    long long waitlist_max; /* -1: created without WAITLIST */
    unsigned weight;        /* share of the operations */
} workload_trial;

static const workload_trial WORKLOAD[] = {
    {{"trial:open", IDS_TEXT, 1500}, 900, -1, 3},
    {{"trial:queue", IDS_TEXT, 1300}, 500, 250, 4},
    {{"trial:binary", IDS_BINARY, 600}, 200, 120, 2},
    {{"trial:tiny", IDS_TEXT, 10}, 3, 2, 1},
};
#define WORKLOAD_TRIALS (sizeof(WORKLOAD) / sizeof(WORKLOAD[0]))
#define WORKLOAD_OPS 4000
#define WORKLOAD_MORE_OPS 1200

static trial_spec WORKLOAD_SPECS[WORKLOAD_TRIALS];

static const trial_spec *workload_specs(void) {
    for (size_t i = 0; i < WORKLOAD_TRIALS; i++) WORKLOAD_SPECS[i] = WORKLOAD[i].spec;
    return WORKLOAD_SPECS;
}

typedef struct workload_stats {
    long long enrolled;            /* ENROLL replied 1 */
    long long waitlisted;          /* 2 */
    long long full;                /* 0 */
    long long repeats;             /* -1 or -2 */
    long long withdrawn;           /* ENROLL.CANCEL replied 1 */
    long long promoted_by_cancel;  /* a withdrawal that enrolled the head of the waitlist */
    long long promoted_by_resize;  /* sum of SLOTS.RESIZE replies */
    long long resizes_down;
    long long resizes_up;
} workload_stats;

static void workload_enroll(redisContext *c, const workload_trial *w, const user_id *id,
                            workload_stats *stats) {
    long long r = sg_command_integer(c, "ENROLL %s %b", w->spec.key, id->bytes, id->len);
    switch (r) {
    case 1: stats->enrolled++; break;
    case 0: stats->full++; break;
    case -1: stats->repeats++; break;
    case 2:
    case -2:
        if (w->waitlist_max < 0) {
            fail_msg("ENROLL %s answered %lld on a trial without WAITLIST", w->spec.key, r);
        }
        if (r == 2) stats->waitlisted++; else stats->repeats++;
        break;
    default: fail_msg("ENROLL %s answered %lld, not a documented code", w->spec.key, r);
    }
}

static void workload_cancel(redisContext *c, const workload_trial *w, const user_id *id,
                            workload_stats *stats) {
    int has_waitlist = w->waitlist_max > 0;
    trial_info before = {0};
    if (has_waitlist) before = read_info(c, w->spec.key, NULL);
    long long r = sg_command_integer(c, "ENROLL.CANCEL %s %b", w->spec.key, id->bytes, id->len);
    if (r != 0 && r != 1) fail_msg("ENROLL.CANCEL %s answered %lld", w->spec.key, r);
    if (r == 1) stats->withdrawn++;
    if (r == 1 && has_waitlist) {
        trial_info after = read_info(c, w->spec.key, NULL);
        if (after.enrolled == before.enrolled) {
            assert_int_equal(after.waitlisted, before.waitlisted - 1);
            stats->promoted_by_cancel++;
        } else {
            assert_int_equal(after.enrolled, before.enrolled - 1);
        }
    }
}

static void workload_resize(redisContext *c, const workload_trial *w, long long capacity,
                            workload_stats *stats) {
    long long promoted = sg_command_integer(c, "SLOTS.RESIZE %s %lld", w->spec.key, capacity);
    assert_true(promoted >= 0);
    stats->promoted_by_resize += promoted;
}

static const workload_trial *pick_trial(sg_prng *rng) {
    unsigned total = 0;
    for (size_t t = 0; t < WORKLOAD_TRIALS; t++) total += WORKLOAD[t].weight;
    unsigned r = (unsigned)sg_prng_below(rng, total);
    for (size_t t = 0; t < WORKLOAD_TRIALS; t++) {
        if (r < WORKLOAD[t].weight) return &WORKLOAD[t];
        r -= WORKLOAD[t].weight;
    }
    return &WORKLOAD[0];
}

/* Create the workload's trials (if missing) and run `ops` random operations from `seed`: about 3 in
 * 4 enroll a random user of the trial's universe (so repeats happen), the rest cancel one; at a
 * third of the way every trial is resized down to 2/3 of its capacity, at two thirds up to 6/5
 * (promoting part of the waitlist, not all of it). The command stream depends only on the seed. */
static workload_stats run_workload(redisContext *c, uint64_t seed, int ops) {
    workload_stats stats;
    sg_prng rng = {seed};
    memset(&stats, 0, sizeof(stats));
    for (size_t t = 0; t < WORKLOAD_TRIALS; t++) {
        const workload_trial *w = &WORKLOAD[t];
        long long created;
        if (w->waitlist_max < 0) {
            created = sg_command_integer(c, "SLOTS.INIT %s %lld", w->spec.key, w->capacity);
        } else {
            created = sg_command_integer(c, "SLOTS.INIT %s %lld WAITLIST %lld", w->spec.key, w->capacity,
                                         w->waitlist_max);
        }
        assert_true(created == 0 || created == 1);
    }
    for (int op = 0; op < ops; op++) {
        if (op == ops / 3 || op == 2 * ops / 3) {
            int down = op == ops / 3;
            for (size_t t = 0; t < WORKLOAD_TRIALS; t++) {
                const workload_trial *w = &WORKLOAD[t];
                workload_resize(c, w, down ? w->capacity * 2 / 3 : w->capacity * 6 / 5, &stats);
            }
            if (down) stats.resizes_down++; else stats.resizes_up++;
        }
        const workload_trial *w = pick_trial(&rng);
        user_id id;
        make_user_id(w->spec.ids, (unsigned)sg_prng_below(&rng, w->spec.universe), &id);
        if (sg_prng_below(&rng, 100) < 76) {
            workload_enroll(c, w, &id, &stats);
        } else {
            workload_cancel(c, w, &id, &stats);
        }
    }
    return stats;
}

/* The full workload, checked to have exercised what the persistence tests need to see. */
static void run_full_workload(redisContext *c) {
    static int printed = 0;
    workload_stats s = run_workload(c, workload_seed(), WORKLOAD_OPS);
    if (!printed) {
        print_message("workload: %lld enrolled, %lld waitlisted, %lld full, %lld repeats, %lld withdrawn, "
                      "%lld promoted by cancel, %lld by resize\n",
                      s.enrolled, s.waitlisted, s.full, s.repeats, s.withdrawn, s.promoted_by_cancel,
                      s.promoted_by_resize);
        printed = 1;
    }
    assert_true(s.enrolled > 0);
    assert_true(s.waitlisted > 0);
    assert_true(s.full > 0);
    assert_true(s.repeats > 0);
    assert_true(s.withdrawn > 0);
    assert_true(s.promoted_by_cancel > 0);
    assert_true(s.promoted_by_resize > 0);
    assert_int_equal(s.resizes_down, 1);
    assert_int_equal(s.resizes_up, 1);
    /* The waitlist trials still have people waiting, so waitlist order is part of every snapshot. */
    trial_info queue = read_info(c, "trial:queue", NULL);
    trial_info binary = read_info(c, "trial:binary", NULL);
    assert_true(queue.waitlisted > 0);
    assert_true(binary.waitlisted > 0);
    for (size_t t = 0; t < WORKLOAD_TRIALS; t++) {
        char *digest = value_digest(c, WORKLOAD[t].spec.key);
        if (strspn(digest, "0") == strlen(digest)) {
            fail_msg("DEBUG DIGEST-VALUE %s is all zeros: the type has no digest callback", WORKLOAD[t].spec.key);
        }
        free(digest);
    }
}

/* Writes after a save or rewrite, so that the restart has to combine both. */
static void run_more_workload(redisContext *c) {
    run_workload(c, workload_seed() ^ UINT64_C(0xA5A5A5A5A5A5A5A5), WORKLOAD_MORE_OPS);
}

/* ---- edge-case trials -------------------------------------------------------------------------- */

static const trial_spec EDGE_SPECS[] = {
    {"edge:empty", IDS_TEXT, 8},            /* capacity 10, nobody ever came */
    {"edge:empty-waitlist", IDS_TEXT, 8},   /* capacity 5 WAITLIST 5, nobody ever came */
    {"edge:zero", IDS_TEXT, 8},             /* capacity 0, no waitlist: every ENROLL is full */
    {"edge:zero-waitlist", IDS_BINARY, 8},  /* capacity 0 WAITLIST 3, two users waiting */
    {"edge:drained", IDS_TEXT, 8},          /* everybody cancelled: no users, next_arrival 7 */
    {"edge:overfull", IDS_TEXT, 8},         /* 5 enrolled, resized down to capacity 2 */
    {"edge:late", IDS_TEXT, 8},             /* capacity 0, created after the save or rewrite */
};
#define EDGE_TRIALS (sizeof(EDGE_SPECS) / sizeof(EDGE_SPECS[0]))

static void enroll_expect(redisContext *c, const char *key, id_family ids, unsigned index, long long expected) {
    user_id id;
    make_user_id(ids, index, &id);
    assert_int_equal(sg_command_integer(c, "ENROLL %s %b", key, id.bytes, id.len), expected);
}

static void cancel_expect(redisContext *c, const char *key, id_family ids, unsigned index, long long expected) {
    user_id id;
    make_user_id(ids, index, &id);
    assert_int_equal(sg_command_integer(c, "ENROLL.CANCEL %s %b", key, id.bytes, id.len), expected);
}

static void create_edge_trials(redisContext *c) {
    assert_int_equal(sg_command_integer(c, "SLOTS.INIT edge:empty 10"), 1);
    assert_int_equal(sg_command_integer(c, "SLOTS.INIT edge:empty-waitlist 5 WAITLIST 5"), 1);
    assert_int_equal(sg_command_integer(c, "SLOTS.INIT edge:zero 0"), 1);
    enroll_expect(c, "edge:zero", IDS_TEXT, 0, 0);
    assert_int_equal(sg_command_integer(c, "SLOTS.INIT edge:zero-waitlist 0 WAITLIST 3"), 1);
    enroll_expect(c, "edge:zero-waitlist", IDS_BINARY, 1, 2);
    enroll_expect(c, "edge:zero-waitlist", IDS_BINARY, 2, 2);

    assert_int_equal(sg_command_integer(c, "SLOTS.INIT edge:drained 4 WAITLIST 2"), 1);
    for (unsigned i = 0; i < 4; i++) enroll_expect(c, "edge:drained", IDS_TEXT, i, 1);
    for (unsigned i = 4; i < 6; i++) enroll_expect(c, "edge:drained", IDS_TEXT, i, 2);
    for (unsigned i = 0; i < 6; i++) cancel_expect(c, "edge:drained", IDS_TEXT, i, 1);

    assert_int_equal(sg_command_integer(c, "SLOTS.INIT edge:overfull 5"), 1);
    for (unsigned i = 0; i < 5; i++) enroll_expect(c, "edge:overfull", IDS_TEXT, i, 1);
    assert_int_equal(sg_command_integer(c, "SLOTS.RESIZE edge:overfull 2"), 0);

    trial_info drained = read_info(c, "edge:drained", NULL);
    assert_int_equal(drained.enrolled, 0);
    assert_int_equal(drained.waitlisted, 0);
    assert_int_equal(drained.next_arrival, 7);
    trial_info overfull = read_info(c, "edge:overfull", NULL);
    assert_int_equal(overfull.enrolled, 5);
    assert_int_equal(overfull.remaining, 0);
}

static void create_late_edge_trial(redisContext *c) {
    assert_int_equal(sg_command_integer(c, "SLOTS.INIT edge:late 0"), 1);
}

/* After the restart the edge trials still behave as before, not only look the same. */
static void assert_edge_trials_behave(redisContext *c) {
    enroll_expect(c, "edge:zero", IDS_TEXT, 3, 0);
    enroll_expect(c, "edge:late", IDS_TEXT, 3, 0);
    enroll_expect(c, "edge:zero-waitlist", IDS_BINARY, 3, 2);
    enroll_expect(c, "edge:zero-waitlist", IDS_BINARY, 4, 0);
    enroll_expect(c, "edge:overfull", IDS_TEXT, 7, 0);
    enroll_expect(c, "edge:drained", IDS_TEXT, 7, 1);
    redisReply *r = sg_command(c, "ENROLL.STATUS edge:drained user:000007");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->str, "enrolled");
    assert_int_equal(reply_as_integer(r->element[1]), 7);
    freeReplyObject(r);
}

/* ---- persistence modes ------------------------------------------------------------------------- */

/* The rewrite really went through the path under test: SLOTS.INIT + SLOTS.RESTORE commands in a
 * plain base file, or an RDB preamble. */
static void assert_rewritten_base(const sg_server *s, sg_persistence_mode mode) {
    static const char *const rebuild[] = {"SLOTS.INIT", "SLOTS.RESTORE", NULL};
    sg_assert_aof_base(s, mode == SG_AOF_REWRITE_RDB_PREAMBLE, rebuild);
}

/* Nothing was rewritten: the writes are in the incremental file as the commands sent. */
static void assert_plain_command_log(const sg_server *s) {
    char name[256] = "";
    size_t len = 0;
    char *incr = sg_read_aof_part(s, 'i', name, sizeof(name), &len);
    if (!sg_contains_nocase(incr, len, "ENROLL.CANCEL") || !sg_contains_nocase(incr, len, "SLOTS.RESIZE")) {
        fail_msg("%s does not hold the ENROLL.CANCEL and SLOTS.RESIZE commands", name);
    }
    if (sg_contains_nocase(incr, len, "SLOTS.RESTORE")) {
        fail_msg("%s holds SLOTS.RESTORE, so it was rewritten", name);
    }
    free(incr);
}

typedef void (*populate_fn)(redisContext *c);

/* Populate with `first`, persist according to `mode` with `then` written after the save or rewrite
 * point, restart, and demand an identical snapshot. Returns the connection to the restarted
 * server. */
static redisContext *assert_restart_keeps_trials(sg_fixture *f, sg_persistence_mode mode, populate_fn first,
                                                 populate_fn then, const trial_spec *specs, size_t count) {
    sg_server *s = sg_fixture_start(f, sg_persistence_args(mode));
    redisContext *c = sg_fixture_connect(f, s);
    first(c);
    switch (mode) {
    case SG_DEBUG_RELOAD: fail_msg("DEBUG RELOAD has its own test: it does not restart"); break;
    case SG_RDB_RESTART:
        then(c);
        sg_command_status(c, "OK", "SAVE");
        break;
    case SG_RDB_SAVED_AT_SHUTDOWN:
        sg_command_status(c, "OK", "SAVE");
        then(c);
        break;
    case SG_AOF_COMMAND_LOG:
        then(c);
        assert_plain_command_log(s);
        break;
    case SG_AOF_REWRITE_PLAIN:
    case SG_AOF_REWRITE_RDB_PREAMBLE: {
        sg_rewrite_aof(c);
        assert_rewritten_base(s, mode);
        then(c);
        break;
    }
    }
    snapshot before, after;
    snapshot_take(c, specs, count, &before);
    long long keys = sg_command_integer(c, "DBSIZE");

    sg_server_restart(s);
    c = sg_fixture_reconnect(f, c, s);

    assert_int_equal(sg_command_integer(c, "DBSIZE"), keys);
    snapshot_take(c, specs, count, &after);
    assert_snapshots_equal(&before, &after);
    snapshot_free(&before);
    snapshot_free(&after);
    return c;
}

static void assert_workload_survives(void **state, sg_persistence_mode mode) {
    assert_restart_keeps_trials(*state, mode, run_full_workload, run_more_workload, workload_specs(),
                                WORKLOAD_TRIALS);
}

static void assert_edge_trials_survive(void **state, sg_persistence_mode mode) {
    redisContext *c = assert_restart_keeps_trials(*state, mode, create_edge_trials, create_late_edge_trial,
                                                  EDGE_SPECS, EDGE_TRIALS);
    assert_edge_trials_behave(c);
}

/* ---- 1. DEBUG RELOAD --------------------------------------------------------------------------- */

static void test_debug_reload_keeps_every_trial_identical(void **state) {
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    run_full_workload(c);
    snapshot before, after;
    snapshot_take(c, workload_specs(), WORKLOAD_TRIALS, &before);
    sg_command_status(c, "OK", "DEBUG RELOAD");
    snapshot_take(c, workload_specs(), WORKLOAD_TRIALS, &after);
    assert_snapshots_equal(&before, &after);
    snapshot_free(&before);
    snapshot_free(&after);
}

/* ---- 2. RDB ------------------------------------------------------------------------------------ */

static void test_restart_from_a_saved_rdb_keeps_every_trial_identical(void **state) {
    assert_workload_survives(state, SG_RDB_RESTART);
}

static void test_restart_after_shutdown_save_keeps_every_trial_identical(void **state) {
    assert_workload_survives(state, SG_RDB_SAVED_AT_SHUTDOWN);
}

/* ---- 3. AOF after a rewrite, then more writes -------------------------------------------------- */

static void test_restart_from_rewritten_aof_without_preamble_keeps_every_trial_identical(void **state) {
    assert_workload_survives(state, SG_AOF_REWRITE_PLAIN);
}

static void test_restart_from_rewritten_aof_with_rdb_preamble_keeps_every_trial_identical(void **state) {
    assert_workload_survives(state, SG_AOF_REWRITE_RDB_PREAMBLE);
}

/* ---- 4. AOF command log ------------------------------------------------------------------------ */

static void test_replaying_the_aof_command_log_keeps_every_trial_identical(void **state) {
    assert_workload_survives(state, SG_AOF_COMMAND_LOG);
}

/* ---- 5. replication ---------------------------------------------------------------------------- */

/* Masters send their RDB to a new replica at once instead of after the 5 s diskless-sync delay. */
static const char *const MASTER_ARGS[] = {"--repl-diskless-sync-delay", "0", NULL};

static void test_replica_holds_identical_trials_after_a_streamed_workload(void **state) {
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, MASTER_ARGS);
    sg_server *replica = sg_fixture_start_replica(f, master, NULL);
    redisContext *mc = sg_fixture_connect(f, master);
    redisContext *rc = sg_fixture_connect(f, replica);
    run_full_workload(mc);
    sg_wait_replicas(master, 1, 10000);

    sg_assert_same_digest(mc, rc);

    snapshot on_master, on_replica;
    snapshot_take(mc, workload_specs(), WORKLOAD_TRIALS, &on_master);
    snapshot_take(rc, workload_specs(), WORKLOAD_TRIALS, &on_replica);
    assert_snapshots_equal(&on_master, &on_replica);
    snapshot_free(&on_master);
    snapshot_free(&on_replica);
}

static void test_replica_that_syncs_after_the_workload_holds_identical_trials(void **state) {
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, MASTER_ARGS);
    redisContext *mc = sg_fixture_connect(f, master);
    run_full_workload(mc);
    sg_server *replica = sg_fixture_start_replica(f, master, NULL);
    redisContext *rc = sg_fixture_connect(f, replica);
    sg_wait_replicas(master, 1, 10000);

    snapshot on_master, on_replica;
    snapshot_take(mc, workload_specs(), WORKLOAD_TRIALS, &on_master);
    snapshot_take(rc, workload_specs(), WORKLOAD_TRIALS, &on_replica);
    assert_snapshots_equal(&on_master, &on_replica);
    snapshot_free(&on_master);
    snapshot_free(&on_replica);
}

/* "ro": capacity 2 WAITLIST 2, user:000000 and user:000001 enrolled, user:000002 waiting. */
static void create_small_queue(redisContext *c) {
    assert_int_equal(sg_command_integer(c, "SLOTS.INIT ro 2 WAITLIST 2"), 1);
    enroll_expect(c, "ro", IDS_TEXT, 0, 1);
    enroll_expect(c, "ro", IDS_TEXT, 1, 1);
    enroll_expect(c, "ro", IDS_TEXT, 2, 2);
}

static void test_replica_refuses_every_write_command_with_readonly(void **state) {
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, MASTER_ARGS);
    sg_server *replica = sg_fixture_start_replica(f, master, NULL);
    redisContext *mc = sg_fixture_connect(f, master);
    redisContext *rc = sg_fixture_connect(f, replica);
    create_small_queue(mc);
    sg_wait_replicas(master, 1, 10000);
    static const trial_spec ro_spec[] = {{"ro", IDS_TEXT, 8}};
    snapshot before, after;
    snapshot_take(rc, ro_spec, 1, &before);

    sg_command_error(rc, "READONLY", "ENROLL ro user:000003");
    sg_command_error(rc, "READONLY", "ENROLL ro user:000000");
    sg_command_error(rc, "READONLY", "SLOTS.INIT fresh 5");
    sg_command_error(rc, "READONLY", "SLOTS.INIT ro 5");
    sg_command_error(rc, "READONLY", "ENROLL.CANCEL ro user:000000");
    sg_command_error(rc, "READONLY", "SLOTS.RESIZE ro 10");
    sg_command_error(rc, "READONLY", "SLOTS.RESTORE ro 100 ENROLLED 50 user:000004");
    sg_command_error(rc, "READONLY", "SLOTS.RESTORE fresh 1");

    snapshot_take(rc, ro_spec, 1, &after);
    assert_snapshots_equal(&before, &after);
    assert_int_equal(sg_command_integer(rc, "EXISTS fresh"), 0);
    snapshot_free(&before);
    snapshot_free(&after);
}

static void test_replica_answers_every_read_command(void **state) {
    sg_fixture *f = *state;
    sg_server *master = sg_fixture_start(f, MASTER_ARGS);
    sg_server *replica = sg_fixture_start_replica(f, master, NULL);
    redisContext *mc = sg_fixture_connect(f, master);
    redisContext *rc = sg_fixture_connect(f, replica);
    create_small_queue(mc);
    sg_wait_replicas(master, 1, 10000);

    trial_info info = read_info(rc, "ro", NULL);
    assert_int_equal(info.capacity, 2);
    assert_int_equal(info.enrolled, 2);
    assert_int_equal(info.waitlisted, 1);
    assert_int_equal(info.next_arrival, 4);

    redisReply *r = sg_command(rc, "ENROLL.STATUS ro user:000002");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->str, "waitlisted");
    assert_int_equal(reply_as_integer(r->element[1]), 1);
    freeReplyObject(r);

    r = sg_command(rc, "ENROLL.MEMBERS ro 0 WITHARRIVALS");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->str, "0");
    assert_int_equal(r->element[1]->elements, 4);
    assert_string_equal(r->element[1]->element[0]->str, "user:000000");
    assert_int_equal(reply_as_integer(r->element[1]->element[1]), 1);
    assert_string_equal(r->element[1]->element[2]->str, "user:000001");
    assert_int_equal(reply_as_integer(r->element[1]->element[3]), 2);
    freeReplyObject(r);
}

/* ---- 6. durability under kill -9 --------------------------------------------------------------- */

#define DURABLE_CAPACITY 5000
#define DURABLE_ATTEMPTS 3000
#define DURABLE_KILL_AFTER_ACKS 1000

static void test_every_acknowledged_enrollment_survives_kill_9_with_appendfsync_always(void **state) {
    sg_fixture *f = *state;
    static const char *const args[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};
    sg_server *s = sg_fixture_start(f, args);
    redisContext *c = sg_fixture_connect(f, s);
    assert_int_equal(sg_command_integer(c, "SLOTS.INIT durable %d", DURABLE_CAPACITY), 1);

    unsigned *acked = calloc(DURABLE_ATTEMPTS, sizeof(*acked));
    assert_non_null(acked);
    size_t acked_count = 0;
    unsigned next_new = 0;
    int broke = 0;
    sg_prng rng = {workload_seed() ^ UINT64_C(0xD0AB1E)};

    sg_killer *k = sg_killer_start(s, DURABLE_KILL_AFTER_ACKS, (long)sg_prng_below(&rng, 5000));

    /* No assertion may fire while the killer runs (it must be joined first), so the loop only
     * records what went wrong. */
    char problem[256] = "";
    for (int attempt = 0; attempt < DURABLE_ATTEMPTS; attempt++) {
        int repeat = acked_count > 0 && sg_prng_below(&rng, 8) == 0;
        unsigned index = repeat ? acked[sg_prng_below(&rng, acked_count)] : next_new++;
        user_id id;
        make_user_id(IDS_TEXT, index, &id);
        redisReply *r = redisCommand(c, "ENROLL durable %b", id.bytes, id.len);
        if (r == NULL) {
            broke = 1;
            break;
        }
        long long expected = repeat ? -1 : 1;
        if (r->type != REDIS_REPLY_INTEGER || r->integer != expected) {
            snprintf(problem, sizeof(problem), "ENROLL durable user:%06u: expected %lld, got type %d (%lld %s)",
                     index, expected, r->type, r->integer, r->type == REDIS_REPLY_ERROR ? r->str : "");
            freeReplyObject(r);
            break;
        }
        freeReplyObject(r);
        if (!repeat) {
            acked[acked_count++] = index;
            sg_killer_ack(k);
        }
    }
    int killed_under_load = sg_killer_join(k);
    if (problem[0] != '\0') fail_msg("%s", problem);
    assert_true(killed_under_load);
    if (!broke) fail_msg("the load finished before the server was killed; nothing was tested");
    print_message("killed after %zu acknowledged enrollments, %u attempted\n", acked_count, next_new);

    sg_server_kill(s); /* already dead: reaps it and marks it stopped */
    sg_server_start_again(s);
    c = sg_fixture_reconnect(f, c, s);

    trial_info info = read_info(c, "durable", NULL);
    assert_int_equal(info.capacity, DURABLE_CAPACITY);
    assert_int_equal(info.remaining + info.enrolled, DURABLE_CAPACITY);
    assert_true(info.enrolled >= (long long)acked_count);
    assert_true(info.enrolled <= (long long)next_new);
    assert_int_equal(info.waitlisted, 0);

    size_t lost = 0;
    for (size_t start = 0; start < acked_count; start += STATUS_BATCH) {
        size_t end = start + STATUS_BATCH < acked_count ? start + STATUS_BATCH : acked_count;
        user_id id;
        for (size_t i = start; i < end; i++) {
            make_user_id(IDS_TEXT, acked[i], &id);
            const char *argv[3] = {"ENROLL.STATUS", "durable", id.bytes};
            size_t argvlen[3] = {13, 7, id.len};
            assert_int_equal(redisAppendCommandArgv(c, 3, argv, argvlen), REDIS_OK);
        }
        for (size_t i = start; i < end; i++) {
            redisReply *r = pipeline_read(c);
            assert_int_equal(r->type, REDIS_REPLY_ARRAY);
            assert_int_equal(r->elements, 2);
            if (strcmp(r->element[0]->str, "enrolled") != 0) {
                if (lost == 0) {
                    print_error("acknowledged user:%06u is %s after the restart\n", acked[i], r->element[0]->str);
                }
                lost++;
            }
            freeReplyObject(r);
        }
    }
    free(acked);
    if (lost > 0) fail_msg("%zu acknowledged enrollments were lost by kill -9", lost);
}

/* ---- 7. COPY and MEMORY USAGE ------------------------------------------------------------------ */

static void test_copy_produces_an_identical_trial(void **state) {
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    run_full_workload(c);
    for (size_t t = 0; t < WORKLOAD_TRIALS; t++) {
        const trial_spec *src = &WORKLOAD[t].spec;
        char dst_key[64];
        snprintf(dst_key, sizeof(dst_key), "%s:copy", src->key);
        trial_spec dst = *src;
        dst.key = dst_key;
        trial_snapshot a, b;
        snapshot_trial(c, src, &a);
        assert_int_equal(sg_command_integer(c, "COPY %s %s", src->key, dst_key), 1);
        snapshot_trial(c, &dst, &b);
        assert_trial_snapshots_equal(dst_key, &a, &b);
        trial_snapshot_free(&a);
        trial_snapshot_free(&b);
    }
}

static void test_copied_trial_is_independent_of_its_source(void **state) {
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    run_full_workload(c);
    const trial_spec *src = &WORKLOAD[1].spec; /* trial:queue: enrolled users and a waitlist */
    trial_spec dst = *src;
    dst.key = "trial:queue:copy";
    assert_int_equal(sg_command_integer(c, "COPY trial:queue trial:queue:copy"), 1);

    trial_snapshot src_before, dst_before, after;
    snapshot_trial(c, src, &src_before);
    snapshot_trial(c, &dst, &dst_before);

    /* Writes to the copy leave the source alone... */
    trial_info copy_info = read_info(c, dst.key, NULL);
    assert_int_equal(sg_command_integer(c, "SLOTS.RESIZE trial:queue:copy 2000"), copy_info.waitlisted);
    enroll_expect(c, "trial:queue:copy", IDS_TEXT, src->universe + 1, 1);
    snapshot_trial(c, src, &after);
    assert_trial_snapshots_equal(src->key, &src_before, &after);
    trial_snapshot_free(&after);

    /* ...and writes to the source leave the copy alone. */
    assert_int_equal(sg_command_integer(c, "DEL trial:queue:copy"), 1);
    assert_int_equal(sg_command_integer(c, "COPY trial:queue trial:queue:copy"), 1);
    redisReply *m = sg_command(c, "ENROLL.MEMBERS trial:queue 0 COUNT 1");
    assert_int_equal(m->type, REDIS_REPLY_ARRAY);
    assert_int_equal(m->element[1]->elements, 1);
    const redisReply *first = m->element[1]->element[0];
    assert_int_equal(sg_command_integer(c, "ENROLL.CANCEL trial:queue %b", first->str, first->len), 1);
    assert_int_equal(sg_command_integer(c, "SLOTS.RESIZE trial:queue 1"), 0);
    freeReplyObject(m);
    snapshot_trial(c, &dst, &after);
    assert_trial_snapshots_equal(dst.key, &dst_before, &after);
    trial_snapshot_free(&after);
    trial_snapshot_free(&src_before);
    trial_snapshot_free(&dst_before);
}

#define MEMORY_USERS 10000

static void enroll_fixed17_users(redisContext *c, const char *key, unsigned from, unsigned to) {
    for (unsigned start = from; start < to; start += STATUS_BATCH) {
        unsigned end = start + STATUS_BATCH < to ? start + STATUS_BATCH : to;
        user_id id;
        for (unsigned i = start; i < end; i++) {
            make_user_id(IDS_FIXED17, i, &id);
            const char *argv[3] = {"ENROLL", key, id.bytes};
            size_t argvlen[3] = {6, strlen(key), id.len};
            assert_int_equal(redisAppendCommandArgv(c, 3, argv, argvlen), REDIS_OK);
        }
        for (unsigned i = start; i < end; i++) {
            redisReply *r = pipeline_read(c);
            assert_int_equal(r->type, REDIS_REPLY_INTEGER);
            assert_int_equal(r->integer, 1);
            freeReplyObject(r);
        }
    }
}

static void test_memory_usage_of_a_trial_is_plausible_and_grows_with_users(void **state) {
    sg_fixture *f = *state;
    sg_server *s = sg_fixture_start(f, NULL);
    redisContext *c = sg_fixture_connect(f, s);
    assert_int_equal(sg_command_integer(c, "SLOTS.INIT mem %d", 3 * MEMORY_USERS), 1);
    enroll_fixed17_users(c, "mem", 0, MEMORY_USERS);
    long long with_10k = sg_command_integer(c, "MEMORY USAGE mem SAMPLES 0");
    print_message("MEMORY USAGE of a trial with %d 17-byte ids: %lld bytes\n", MEMORY_USERS, with_10k);
    assert_true(with_10k > (long long)MEMORY_USERS * 20);
    assert_true(with_10k < (long long)MEMORY_USERS * 200);

    enroll_fixed17_users(c, "mem", MEMORY_USERS, 2 * MEMORY_USERS);
    long long with_20k = sg_command_integer(c, "MEMORY USAGE mem SAMPLES 0");
    assert_true(with_20k > with_10k);
}

/* ---- 8. edge-case trials ----------------------------------------------------------------------- */

static void test_empty_and_zero_capacity_trials_survive_an_rdb_restart(void **state) {
    assert_edge_trials_survive(state, SG_RDB_SAVED_AT_SHUTDOWN);
}

static void test_empty_and_zero_capacity_trials_survive_an_aof_rewrite_without_preamble(void **state) {
    assert_edge_trials_survive(state, SG_AOF_REWRITE_PLAIN);
}

static void test_empty_and_zero_capacity_trials_survive_an_aof_rewrite_with_rdb_preamble(void **state) {
    assert_edge_trials_survive(state, SG_AOF_REWRITE_RDB_PREAMBLE);
}

static void test_empty_and_zero_capacity_trials_survive_aof_command_log_replay(void **state) {
    assert_edge_trials_survive(state, SG_AOF_COMMAND_LOG);
}

#define FIXTURE_TEST(fn) cmocka_unit_test_setup_teardown(fn, sg_fixture_setup, sg_fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_debug_reload_keeps_every_trial_identical),
        FIXTURE_TEST(test_restart_from_a_saved_rdb_keeps_every_trial_identical),
        FIXTURE_TEST(test_restart_after_shutdown_save_keeps_every_trial_identical),
        FIXTURE_TEST(test_restart_from_rewritten_aof_without_preamble_keeps_every_trial_identical),
        FIXTURE_TEST(test_restart_from_rewritten_aof_with_rdb_preamble_keeps_every_trial_identical),
        FIXTURE_TEST(test_replaying_the_aof_command_log_keeps_every_trial_identical),
        FIXTURE_TEST(test_replica_holds_identical_trials_after_a_streamed_workload),
        FIXTURE_TEST(test_replica_that_syncs_after_the_workload_holds_identical_trials),
        FIXTURE_TEST(test_replica_refuses_every_write_command_with_readonly),
        FIXTURE_TEST(test_replica_answers_every_read_command),
        FIXTURE_TEST(test_every_acknowledged_enrollment_survives_kill_9_with_appendfsync_always),
        FIXTURE_TEST(test_copy_produces_an_identical_trial),
        FIXTURE_TEST(test_copied_trial_is_independent_of_its_source),
        FIXTURE_TEST(test_memory_usage_of_a_trial_is_plausible_and_grows_with_users),
        FIXTURE_TEST(test_empty_and_zero_capacity_trials_survive_an_rdb_restart),
        FIXTURE_TEST(test_empty_and_zero_capacity_trials_survive_an_aof_rewrite_without_preamble),
        FIXTURE_TEST(test_empty_and_zero_capacity_trials_survive_an_aof_rewrite_with_rdb_preamble),
        FIXTURE_TEST(test_empty_and_zero_capacity_trials_survive_aof_command_log_replay),
    };
    const char *filter = getenv("SG_TEST_FILTER"); /* e.g. "*aof*" to run a subset */
    if (filter != NULL && *filter != '\0') cmocka_set_test_filter(filter);
    return cmocka_run_group_tests_name("enroll persistence", tests, NULL, NULL);
}
