/* flash_enroll.c -- a flash crowd on one trial: many patients arrive at once, from many threads,
 * each trying several times, and nobody is enrolled beyond the trial's capacity.
 *
 * The trial is created with SLOTS.INIT (or reused when it already exists), then patients
 * patient-1 ... patient-M arrive from T threads released together by a barrier, each thread with
 * its own sg_context (a context is used by one thread at a time). Every patient calls ENROLL R
 * times. The program prints how many calls ended in each outcome, then checks the trial itself
 * (SLOTS.INFO): nobody over capacity, and as many enrolled as distinct patients were told so.
 *
 * Sharded mode (--shards S, S >= 1): the same crowd on a sharded trial of S shard trials
 * (sg_sharded_trial_create with total capacity N, split evenly; reused when it exists), so that no
 * single key takes all the traffic. Each thread has its own context (sg_clone) and its own handle
 * (sg_sharded_trial_open), and every call is sg_sharded_enroll: a patient is only ever enrolled on
 * its home shard, and free slots move to a shard that runs full. Afterwards the program checks the
 * trial from the outside, shard by shard: the shards' SLOTS.INFO added up (sg_sharded_info_get, and
 * each shard's own SLOTS.INFO) and, independently, every shard's members read page by page
 * (sg_sharded_members). Nobody may be over the total capacity N (the capacity as created), no
 * patient may be a member of two shards or of a shard other than its home (sg_sharded_trial_home),
 * and the distinct patients told enrolled (or already enrolled) must be exactly the members.
 *
 * Output, one line per outcome:
 *   enrolled N
 *   full N
 *   already_enrolled N
 *   waitlisted N / already_waitlisted N   (only when nonzero: a trial created elsewhere with a waitlist)
 *   over_enrolled 0
 * and in sharded mode three more lines after those:
 *   shards S              (the trial's shard count, from sg_sharded_info_get)
 *   moves_in_flight K     (slot moves sent and not yet received; 0 when nothing crashed)
 *   duplicates 0          (patients found enrolled twice across shards, or away from their home)
 * Under faults (a lost connection, a failover, CLUSTERDOWN, a timeout) a call that fails is
 * counted, its first messages go to stderr, and the thread waits (10 ms doubling up to 500 ms) and
 * calls again for the same patient; after --max-errors consecutive failures it gives up. The
 * trial is then read back (retried for up to about 20 s while a cluster settles) and, only when
 * some call failed, these lines follow the others:
 *   server_enrolled N     the trial's enrolled users as the servers hold them
 *   uncertain N           patients whose call failed and who were never told enrolled: each may or
 *                         may not have been enrolled by it
 *   lost N                patients told enrolled whom the trial no longer holds (a failover lost
 *                         writes its replica had not received; one trial key: from the counts)
 *   errors N              failed calls
 *   gave_up N             threads that gave up
 * Exit status: 0 when no call failed, nobody was over-enrolled, nobody is enrolled twice and the
 * counts agree; 3 when calls failed but every thread went on to the end and the trial is sound
 * (never over capacity, nobody twice, and every member was told enrolled or is uncertain); 1 on any
 * other failure; 2 on bad arguments.
 *
 * Build: make examples (links libslotguard statically). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slotguard.h"

typedef struct settings {
    const char *host;
    int port;
    int cluster;
    const char *trial;
    long long capacity;
    long patients;
    int threads;
    int repeats;
    int shards; /* 0: one trial key (sg_trial_create, sg_enroll); >= 1: a sharded trial */
    int max_errors; /* consecutive failed calls a thread accepts before it gives up */
} settings;

static void print_usage(FILE *out, const char *program) {
    fprintf(out,
            "usage: %s [--host H] [--port P] [--cluster] [--shards S] [--trial NAME] [--capacity N]\n"
            "          [--patients M] [--threads T] [--repeats R] [--max-errors N]\n"
            "  --host H       server (cluster mode: the seed node); default 127.0.0.1\n"
            "  --port P       its port; default 6379\n"
            "  --cluster      talk to a Redis Cluster (host:port is the seed)\n"
            "  --shards S     0: one trial key (the default); 1 to 1024: a sharded trial NAME of S shard\n"
            "                 trials (sg_sharded_*), checked shard by shard afterwards\n"
            "  --trial NAME   the trial's key (with --shards: the sharded trial's name); default trial:flash\n"
            "  --capacity N   slots of the trial when it is created (sharded: in total); default 100\n"
            "  --patients M   patients patient-1 ... patient-M; default 1000\n"
            "  --threads T    threads enrolling at once, one context each; default 8\n"
            "  --repeats R    ENROLL calls per patient; default 2\n"
            "  --max-errors N failed calls in a row a thread accepts (waiting between them) before it\n"
            "                 gives up; default 60\n"
            "  --help         print this and exit\n"
            "Prints enrolled, full and already_enrolled counts over all calls, then over_enrolled\n"
            "(from SLOTS.INFO); with --shards also shards, moves_in_flight and duplicates (patients\n"
            "enrolled twice across shards). Exit 0 when nobody was over-enrolled or enrolled twice and\n"
            "the counts agree, 1 on failure, 2 on bad arguments. When calls failed (a failover, a lost\n"
            "connection) the threads go on, the trial is read back, and server_enrolled, uncertain, lost,\n"
            "errors and gave_up follow; exit 3 when the trial is still sound.\n",
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
        static const char *const value_flags[] = {"--host",     "--port",     "--trial",   "--capacity",
                                                  "--patients", "--threads",  "--repeats", "--shards", "--max-errors"};
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
        else if (strcmp(flag, "--trial") == 0) s->trial = value;
        else if (strcmp(flag, "--port") == 0) {
            bad = parse_number(value, 1, 65535, &number);
            s->port = (int)number;
        } else if (strcmp(flag, "--capacity") == 0) {
            bad = parse_number(value, 0, 1000000000LL, &number);
            s->capacity = number;
        } else if (strcmp(flag, "--patients") == 0) {
            bad = parse_number(value, 0, 10000000, &number);
            s->patients = (long)number;
        } else if (strcmp(flag, "--threads") == 0) {
            bad = parse_number(value, 1, 1024, &number);
            s->threads = (int)number;
        } else if (strcmp(flag, "--repeats") == 0) {
            bad = parse_number(value, 1, 1000000, &number);
            s->repeats = (int)number;
        } else if (strcmp(flag, "--max-errors") == 0) {
            bad = parse_number(value, 1, 1000000, &number);
            s->max_errors = (int)number;
        } else if (strcmp(flag, "--shards") == 0) {
            bad = parse_number(value, 0, 1024, &number);
            s->shards = (int)number;
        }
        if (bad) {
            fprintf(stderr, "%s: bad value for %s: %s\n", argv[0], flag, value);
            print_usage(stderr, argv[0]);
            return 2;
        }
    }
    return 0;
}

/* ---- the crowd -------------------------------------------------------------------------------- */
#define OUTCOMES 5

/* Index of an ENROLL result in the counters. */
static int outcome_index(sg_enroll_result result) {
    switch (result) {
    case SG_ENROLL_ENROLLED: return 0;
    case SG_ENROLL_FULL: return 1;
    case SG_ENROLL_ALREADY_ENROLLED: return 2;
    case SG_ENROLL_WAITLISTED: return 3;
    case SG_ENROLL_ALREADY_WAITLISTED: return 4;
    }
    return -1;
}

static const char *const outcome_names[OUTCOMES] = {"enrolled", "full", "already_enrolled", "waitlisted",
                                                    "already_waitlisted"};

typedef struct crowd {
    const settings *s;
    pthread_barrier_t start;
    unsigned char *enrolled_patient;  /* [patient - 1]: 1 once told enrolled; each written by one thread */
    unsigned char *uncertain_patient; /* [patient - 1]: 1 once a call for it failed */
    pthread_mutex_t report_lock;      /* the first failures go to stderr */
    int reported;
} crowd;

#define REPORTED_ERRORS 5
#define MAX_BACKOFF_MS 500

typedef struct worker {
    crowd *crowd;
    int index;
    sg_context *ctx;
    sg_sharded_trial *trial; /* sharded mode: this thread's own handle, opened with ctx */
    long long counts[OUTCOMES];
    long long errors;
    int gave_up;
    int failed;
    char error[SG_ERRSTR_SIZE + 64];
} worker;

/* Thread `index` takes patients index+1, index+1+T, ...; all its patients arrive in each round,
 * so the repeats of every patient race with the first calls of others. */
static void *enroll_patients(void *arg) {
    worker *w = arg;
    const settings *s = w->crowd->s;
    pthread_barrier_wait(&w->crowd->start);
    if (w->failed) return NULL; /* its context could not connect: main reports it */
    for (int round = 0; round < s->repeats; round++) {
        for (long patient = w->index + 1; patient <= s->patients; patient += s->threads) {
            char user[32];
            int user_len = snprintf(user, sizeof(user), "patient-%ld", patient);
            sg_enroll_result result;
            int rc, in_a_row = 0;
            long long backoff_ms = 10;
            /* A failed call is counted and made again after a pause, up to max_errors in a row. */
            while ((rc = s->shards > 0 ? sg_sharded_enroll(w->ctx, w->trial, user, (size_t)user_len, &result)
                                       : sg_enroll(w->ctx, s->trial, strlen(s->trial), user, (size_t)user_len,
                                                   &result)) != SG_OK) {
                w->errors++;
                w->crowd->uncertain_patient[patient - 1] = 1;
                pthread_mutex_lock(&w->crowd->report_lock);
                if (w->crowd->reported++ < REPORTED_ERRORS)
                    fprintf(stderr, "%s %s %s: %s (going on)\n", s->shards > 0 ? "sharded ENROLL" : "ENROLL", s->trial,
                            user, w->ctx->errstr);
                pthread_mutex_unlock(&w->crowd->report_lock);
                if (++in_a_row >= s->max_errors) {
                    snprintf(w->error, sizeof(w->error), "thread %d gave up after %d failed calls in a row: %s",
                             w->index, in_a_row, w->ctx->errstr);
                    w->gave_up = 1;
                    return NULL;
                }
                struct timespec pause = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000L};
                nanosleep(&pause, NULL);
                backoff_ms = backoff_ms * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff_ms * 2;
            }
            int at = outcome_index(result);
            if (at < 0) {
                snprintf(w->error, sizeof(w->error), "ENROLL %s %s: unknown result %d", s->trial, user, (int)result);
                w->failed = 1;
                return NULL;
            }
            w->counts[at]++;
            /* A retried call may answer "already" for its own enrollment: count the patient then too. */
            if (result == SG_ENROLL_ENROLLED || result == SG_ENROLL_ALREADY_ENROLLED)
                w->crowd->enrolled_patient[patient - 1] = 1;
        }
    }
    return NULL;
}

/* ---- checking a sharded trial from the outside ----------------------------------------------- */
typedef struct member_entry {
    char *user;
    size_t len;
    int shard;
} member_entry;

static int compare_members(const void *a, const void *b) {
    const member_entry *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->user, y->user, n);
    if (c != 0) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* The patient number of "patient-<p>" with 1 <= p <= patients, or 0 for any other id. */
static long patient_number(const char *user, size_t len, long patients) {
    static const char prefix[] = "patient-";
    size_t prefix_len = sizeof(prefix) - 1;
    if (len <= prefix_len || len > prefix_len + 10 || memcmp(user, prefix, prefix_len) != 0) return 0;
    long p = 0;
    for (size_t i = prefix_len; i < len; i++) {
        if (user[i] < '0' || user[i] > '9') return 0;
        p = p * 10 + (user[i] - '0');
    }
    return p >= 1 && p <= patients ? p : 0;
}

typedef struct member_list {
    member_entry *items;
    size_t count, size;
} member_list;

static void member_list_free(member_list *list) {
    for (size_t i = 0; i < list->count; i++) free(list->items[i].user);
    free(list->items);
}

/* Every member of every shard into `list`, read page by page with sg_sharded_members; per_shard[i]
 * gets shard i's count. Returns 0, or -1 with a message on stderr. */
static int read_every_member(sg_context *ctx, sg_sharded_trial *trial, member_list *list, long long *per_shard) {
    int shards = sg_sharded_trial_shards(trial);
    for (int shard = 0; shard < shards; shard++) {
        unsigned long long cursor = 0;
        per_shard[shard] = 0;
        do {
            sg_members_page page;
            if (sg_sharded_members(ctx, trial, shard, cursor, 100, &page) != SG_OK) {
                fprintf(stderr, "ENROLL.MEMBERS of shard %d: %s\n", shard, ctx->errstr);
                return -1;
            }
            for (size_t m = 0; m < page.count; m++) {
                if (list->count == list->size) {
                    size_t size = list->size ? 2 * list->size : 256;
                    member_entry *items = realloc(list->items, size * sizeof(*items));
                    if (items == NULL) {
                        sg_members_page_free(&page);
                        fprintf(stderr, "out of memory\n");
                        return -1;
                    }
                    list->items = items;
                    list->size = size;
                }
                member_entry *e = &list->items[list->count];
                e->len = page.members[m].user_len;
                e->shard = shard;
                e->user = malloc(e->len + 1);
                if (e->user == NULL) {
                    sg_members_page_free(&page);
                    fprintf(stderr, "out of memory\n");
                    return -1;
                }
                memcpy(e->user, page.members[m].user, e->len);
                e->user[e->len] = '\0';
                list->count++;
                per_shard[shard]++;
            }
            cursor = page.next_cursor;
            sg_members_page_free(&page);
        } while (cursor != 0);
    }
    return 0;
}

/* After the crowd: prints over_enrolled, shards, moves_in_flight and duplicates, and checks the
 * sharded trial against what the patients were told and against its total capacity. Returns the
 * exit code. */
static int check_sharded_trial(sg_context *ctx, sg_sharded_trial *trial, const settings *s,
                               const unsigned char *enrolled_patient, const unsigned char *uncertain_patient,
                               int faults, long long *server_enrolled, long long *lost) {
    sg_sharded_info info;
    if (sg_sharded_info_get(ctx, trial, &info) != SG_OK) {
        fprintf(stderr, "SLOTS.INFO of the shards of %s: %s\n", s->trial, ctx->errstr);
        return 1;
    }
    int exit_code = 0;
    long long capacity = sg_sharded_trial_capacity(trial); /* C as created, also for a trial that existed */

    /* Every shard by itself: its own SLOTS.INFO. */
    long long *per_shard = calloc((size_t)info.shards, sizeof(*per_shard));
    long long *shard_enrolled = calloc((size_t)info.shards, sizeof(*shard_enrolled));
    unsigned char *member_patient = calloc(s->patients > 0 ? (size_t)s->patients : 1, 1);
    member_list list = {0};
    if (per_shard == NULL || shard_enrolled == NULL || member_patient == NULL) {
        fprintf(stderr, "out of memory\n");
        exit_code = 1;
        goto done;
    }
    long long capacity_sum = 0, enrolled_sum = 0;
    for (int shard = 0; shard < info.shards; shard++) {
        size_t key_len = 0;
        const char *key = sg_sharded_trial_key(trial, shard, &key_len);
        sg_trial_info one;
        if (sg_trial_info_get(ctx, key, key_len, &one) != SG_OK) {
            fprintf(stderr, "SLOTS.INFO %.*s: %s\n", (int)key_len, key, ctx->errstr);
            exit_code = 1;
            goto done;
        }
        if (!one.exists) {
            fprintf(stderr, "SLOTS.INFO %.*s: shard %d of the trial is gone\n", (int)key_len, key, shard);
            exit_code = 1;
            goto done;
        }
        if (one.enrolled > one.capacity) {
            fprintf(stderr, "error: shard %d (%.*s) has %lld enrolled for a capacity of %lld\n", shard, (int)key_len,
                    key, one.enrolled, one.capacity);
            exit_code = 1;
        }
        shard_enrolled[shard] = one.enrolled;
        capacity_sum += one.capacity;
        enrolled_sum += one.enrolled;
    }
    if (capacity_sum != info.capacity || enrolled_sum != info.enrolled) {
        fprintf(stderr, "error: the shards' SLOTS.INFO add up to capacity %lld, enrolled %lld; "
                        "sg_sharded_info_get says %lld, %lld\n",
                capacity_sum, enrolled_sum, info.capacity, info.enrolled);
        exit_code = 1;
    }
    if (info.capacity > capacity) {
        fprintf(stderr, "error: the shards' capacities add up to %lld, more than the trial's %lld\n", info.capacity,
                capacity);
        exit_code = 1;
    }

    /* Independently: every member of every shard. */
    if (read_every_member(ctx, trial, &list, per_shard) != 0) {
        exit_code = 1;
        goto done;
    }
    long long members = (long long)list.count;
    long long counted = info.enrolled > members ? info.enrolled : members;
    long long over_enrolled = counted > capacity ? counted - capacity : 0;
    printf("over_enrolled %lld\n", over_enrolled);
    printf("shards %d\n", info.shards);
    printf("moves_in_flight %lld\n", info.moves_in_flight);
    if (over_enrolled != 0) {
        fprintf(stderr,
                "error: %lld enrolled (SLOTS.INFO) and %lld members over the shards of a trial of capacity %lld\n",
                info.enrolled, members, capacity);
        exit_code = 1;
    }
    for (int shard = 0; shard < info.shards; shard++)
        if (per_shard[shard] != shard_enrolled[shard]) {
            fprintf(stderr, "error: shard %d exports %lld members, its SLOTS.INFO says %lld enrolled\n", shard,
                    per_shard[shard], shard_enrolled[shard]);
            exit_code = 1;
        }

    long long away = 0, duplicates = 0;
    for (size_t m = 0; m < list.count; m++) {
        const member_entry *e = &list.items[m];
        int home = sg_sharded_trial_home(trial, e->user, e->len);
        if (home != e->shard) {
            if (away++ < 10)
                fprintf(stderr, "error: %s is enrolled on shard %d, its home is shard %d\n", e->user, e->shard, home);
        }
        long p = patient_number(e->user, e->len, s->patients);
        if (p > 0) member_patient[p - 1] = 1;
    }
    if (away != 0) exit_code = 1;
    if (list.count > 1) qsort(list.items, list.count, sizeof(*list.items), compare_members);
    for (size_t m = 1; m < list.count; m++)
        if (compare_members(&list.items[m - 1], &list.items[m]) == 0) {
            if (duplicates++ < 10)
                fprintf(stderr, "error: %s is enrolled on shards %d and %d\n", list.items[m].user,
                        list.items[m - 1].shard, list.items[m].shard);
        }
    printf("duplicates %lld\n", duplicates);
    if (duplicates != 0) exit_code = 1;

    *server_enrolled = members;
    long long distinct = 0, told_not_member = 0, member_not_told = 0;
    for (long p = 0; p < s->patients; p++) {
        distinct += enrolled_patient[p];
        /* Under faults a failover may lose an acknowledged enrollment (counted as lost), and a
         * failed call may have enrolled its patient (uncertain); nothing else explains a difference. */
        if (enrolled_patient[p] && !member_patient[p] && told_not_member++ < 10 && !faults)
            fprintf(stderr, "error: patient-%ld was told enrolled and is a member of no shard\n", p + 1);
        if (!enrolled_patient[p] && member_patient[p] && !(faults && uncertain_patient[p]) && member_not_told++ < 10)
            fprintf(stderr, "error: patient-%ld is a member and was never told enrolled\n", p + 1);
    }
    *lost = told_not_member;
    if (info.enrolled != members) exit_code = 1; /* reported above, shard by shard */
    if (faults) {
        if (member_not_told != 0) exit_code = 1;
    } else if (distinct != info.enrolled || distinct != members || told_not_member != 0 || member_not_told != 0) {
        fprintf(stderr,
                "error: %lld distinct patients were told they are enrolled, the shards' SLOTS.INFO say %lld, "
                "their members %lld\n",
                distinct, info.enrolled, members);
        exit_code = 1;
    }

done:
    member_list_free(&list);
    free(member_patient);
    free(shard_enrolled);
    free(per_shard);
    return exit_code;
}

int main(int argc, char **argv) {
    settings s = {"127.0.0.1", 6379, 0, "trial:flash", 100, 1000, 8, 2, 0, 60};
    int parsed = parse_arguments(argc, argv, &s);
    if (parsed < 0) return 0;
    if (parsed > 0) return parsed;
    size_t trial_len = strlen(s.trial);

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

    int created = 0;
    sg_sharded_trial *sharded = NULL;
    if (s.shards > 0) {
        if (sg_sharded_trial_create(ctx, s.trial, trial_len, s.shards, s.capacity, &created) != SG_OK) {
            fprintf(stderr, "sharded trial %s of %d shards, capacity %lld: %s\n", s.trial, s.shards, s.capacity,
                    ctx->errstr);
            sg_free(ctx);
            return 1;
        }
        if (!created) fprintf(stderr, "sharded trial %s already exists: going on with it as it is\n", s.trial);
        sharded = sg_sharded_trial_open(ctx, s.trial, trial_len, NULL);
        if (sharded == NULL) {
            fprintf(stderr, "open sharded trial %s: %s\n", s.trial, ctx->errstr);
            sg_free(ctx);
            return 1;
        }
    } else {
        if (sg_trial_create(ctx, s.trial, trial_len, s.capacity, 0, &created) != SG_OK) {
            fprintf(stderr, "SLOTS.INIT %s %lld: %s\n", s.trial, s.capacity, ctx->errstr);
            sg_free(ctx);
            return 1;
        }
        if (!created) fprintf(stderr, "trial %s already exists: going on with it as it is\n", s.trial);
    }

    crowd crowd = {.s = &s};
    crowd.enrolled_patient = calloc(s.patients > 0 ? (size_t)s.patients : 1, 1);
    crowd.uncertain_patient = calloc(s.patients > 0 ? (size_t)s.patients : 1, 1);
    pthread_mutex_init(&crowd.report_lock, NULL);
    worker *workers = calloc((size_t)s.threads, sizeof(*workers));
    pthread_t *threads = calloc((size_t)s.threads, sizeof(*threads));
    if (crowd.enrolled_patient == NULL || crowd.uncertain_patient == NULL || workers == NULL || threads == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    pthread_barrier_init(&crowd.start, NULL, (unsigned)s.threads);

    /* Every context is connected (and, sharded, has its handle) before the barrier, so the patients
     * really arrive together. */
    int exit_code = 0;
    for (int t = 0; t < s.threads; t++) {
        worker *w = &workers[t];
        w->crowd = &crowd;
        w->index = t;
        w->ctx = sg_clone(ctx);
        if (w->ctx == NULL || w->ctx->err) {
            snprintf(w->error, sizeof(w->error), "connect (thread %d): %s", t,
                     w->ctx ? w->ctx->errstr : "out of memory");
            w->failed = 1;
        } else if (s.shards > 0) {
            w->trial = sg_sharded_trial_open(w->ctx, s.trial, trial_len, NULL);
            if (w->trial == NULL) {
                snprintf(w->error, sizeof(w->error), "open sharded trial %s (thread %d): %s", s.trial, t,
                         w->ctx->errstr);
                w->failed = 1;
            }
        }
    }
    for (int t = 0; t < s.threads; t++) {
        if (pthread_create(&threads[t], NULL, enroll_patients, &workers[t]) != 0) {
            /* The others wait at the barrier for it: leave the process at once. */
            fprintf(stderr, "could not start thread %d\n", t);
            return 1;
        }
    }

    long long counts[OUTCOMES] = {0}, errors = 0, gave_up = 0;
    for (int t = 0; t < s.threads; t++) {
        pthread_join(threads[t], NULL);
        worker *w = &workers[t];
        if (w->failed) {
            fprintf(stderr, "%s\n", w->error);
            exit_code = 1;
        }
        if (w->gave_up) {
            fprintf(stderr, "%s\n", w->error);
            gave_up++;
        }
        errors += w->errors;
        for (int o = 0; o < OUTCOMES; o++) counts[o] += w->counts[o];
        sg_sharded_trial_close(w->trial);
        sg_free(w->ctx);
    }
    pthread_barrier_destroy(&crowd.start);

    int faults = errors > 0;
    long long server_enrolled = -1, lost = 0, uncertain = 0;
    for (long p = 0; p < s.patients; p++) uncertain += crowd.uncertain_patient[p] && !crowd.enrolled_patient[p];
    if (exit_code == 0) {
        for (int o = 0; o < OUTCOMES; o++)
            if (o < 3 || counts[o] != 0) printf("%s %lld\n", outcome_names[o], counts[o]);
        /* After faults the servers may still be settling (a failover): wait, bounded, until the
         * trial can be read. */
        for (int attempt = 0; faults && attempt < 40; attempt++) {
            sg_sharded_info shards_info;
            sg_trial_info one;
            int rc = s.shards > 0 ? sg_sharded_info_get(ctx, sharded, &shards_info)
                                  : sg_trial_info_get(ctx, s.trial, trial_len, &one);
            if (rc == SG_OK) break;
            struct timespec pause = {0, 500 * 1000000L};
            nanosleep(&pause, NULL);
        }

        if (s.shards > 0) {
            exit_code = check_sharded_trial(ctx, sharded, &s, crowd.enrolled_patient, crowd.uncertain_patient, faults,
                                            &server_enrolled, &lost);
        } else {
            sg_trial_info info;
            if (sg_trial_info_get(ctx, s.trial, trial_len, &info) != SG_OK) {
                fprintf(stderr, "SLOTS.INFO %s: %s\n", s.trial, ctx->errstr);
                exit_code = 1;
            } else if (!info.exists) {
                fprintf(stderr, "SLOTS.INFO %s: the trial is gone\n", s.trial);
                exit_code = 1;
            } else {
                long long over_enrolled = info.enrolled > info.capacity ? info.enrolled - info.capacity : 0;
                printf("over_enrolled %lld\n", over_enrolled);
                if (over_enrolled != 0) {
                    fprintf(stderr, "error: %lld enrolled in a trial of capacity %lld\n", info.enrolled,
                            info.capacity);
                    exit_code = 1;
                }
                long long distinct = 0;
                for (long p = 0; p < s.patients; p++) distinct += crowd.enrolled_patient[p];
                server_enrolled = info.enrolled;
                if (faults) {
                    lost = distinct > info.enrolled ? distinct - info.enrolled : 0;
                    if (info.enrolled > distinct + uncertain) {
                        fprintf(stderr, "error: %lld enrolled, but only %lld patients were told so and %lld are "
                                        "uncertain\n", info.enrolled, distinct, uncertain);
                        exit_code = 1;
                    }
                } else if (distinct != info.enrolled) {
                    fprintf(stderr,
                            "error: %lld distinct patients were told they are enrolled, SLOTS.INFO says %lld\n",
                            distinct, info.enrolled);
                    exit_code = 1;
                }
            }
        }
    }

    if (faults || gave_up) {
        if (server_enrolled >= 0) printf("server_enrolled %lld\n", server_enrolled);
        printf("uncertain %lld\n", uncertain);
        printf("lost %lld\n", lost);
        printf("errors %lld\n", errors);
        printf("gave_up %lld\n", gave_up);
        if (gave_up) exit_code = 1;
        else if (exit_code == 0) exit_code = 3;
    }

    pthread_mutex_destroy(&crowd.report_lock);
    free(threads);
    free(workers);
    free(crowd.uncertain_patient);
    free(crowd.enrolled_patient);
    sg_sharded_trial_close(sharded);
    sg_free(ctx);
    fflush(stdout);
    return exit_code;
}
