/* flash_enroll.c -- a flash crowd on one trial: many patients arrive at once, from many threads,
 * each trying several times, and nobody is enrolled beyond the trial's capacity.
 *
 * The trial is created with SLOTS.INIT (or reused when it already exists), then patients
 * patient-1 ... patient-M arrive from T threads released together by a barrier, each thread with
 * its own sg_context (a context is used by one thread at a time). Every patient calls ENROLL R
 * times. The program prints how many calls ended in each outcome, then checks the trial itself
 * (SLOTS.INFO): nobody over capacity, and as many enrolled as distinct patients were told so.
 *
 * Output, one line per outcome:
 *   enrolled N
 *   full N
 *   already_enrolled N
 *   waitlisted N / already_waitlisted N   (only when nonzero: a trial created elsewhere with a waitlist)
 *   over_enrolled 0
 * Exit status: 0 when nobody was over-enrolled and the counts agree, 1 on any failure, 2 on bad
 * arguments.
 *
 * Build: make examples (links libslotguard statically). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
} settings;

static void print_usage(FILE *out, const char *program) {
    fprintf(out,
            "usage: %s [--host H] [--port P] [--cluster] [--trial NAME] [--capacity N] [--patients M]\n"
            "          [--threads T] [--repeats R]\n"
            "  --host H       server (cluster mode: the seed node); default 127.0.0.1\n"
            "  --port P       its port; default 6379\n"
            "  --cluster      talk to a Redis Cluster (host:port is the seed)\n"
            "  --trial NAME   the trial's key; default trial:flash\n"
            "  --capacity N   slots of the trial when it is created; default 100\n"
            "  --patients M   patients patient-1 ... patient-M; default 1000\n"
            "  --threads T    threads enrolling at once, one context each; default 8\n"
            "  --repeats R    ENROLL calls per patient; default 2\n"
            "  --help         print this and exit\n"
            "Prints enrolled, full and already_enrolled counts over all calls, then over_enrolled\n"
            "(from SLOTS.INFO). Exit 0 when nobody was over-enrolled, 1 on failure, 2 on bad arguments.\n",
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
        static const char *const value_flags[] = {"--host", "--port", "--trial", "--capacity",
                                                  "--patients", "--threads", "--repeats"};
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
    unsigned char *enrolled_patient; /* [patient - 1]: 1 once told enrolled; each written by one thread */
} crowd;

typedef struct worker {
    crowd *crowd;
    int index;
    sg_context *ctx;
    long long counts[OUTCOMES];
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
            if (sg_enroll(w->ctx, s->trial, strlen(s->trial), user, (size_t)user_len, &result) != SG_OK) {
                snprintf(w->error, sizeof(w->error), "ENROLL %s %s: %s", s->trial, user, w->ctx->errstr);
                w->failed = 1;
                return NULL;
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

int main(int argc, char **argv) {
    settings s = {"127.0.0.1", 6379, 0, "trial:flash", 100, 1000, 8, 2};
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
    if (sg_trial_create(ctx, s.trial, trial_len, s.capacity, 0, &created) != SG_OK) {
        fprintf(stderr, "SLOTS.INIT %s %lld: %s\n", s.trial, s.capacity, ctx->errstr);
        sg_free(ctx);
        return 1;
    }
    if (!created) fprintf(stderr, "trial %s already exists: going on with it as it is\n", s.trial);

    crowd crowd = {.s = &s};
    crowd.enrolled_patient = calloc(s.patients > 0 ? (size_t)s.patients : 1, 1);
    worker *workers = calloc((size_t)s.threads, sizeof(*workers));
    pthread_t *threads = calloc((size_t)s.threads, sizeof(*threads));
    if (crowd.enrolled_patient == NULL || workers == NULL || threads == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    pthread_barrier_init(&crowd.start, NULL, (unsigned)s.threads);

    /* Every context is connected before the barrier, so the patients really arrive together. */
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
        }
    }
    for (int t = 0; t < s.threads; t++) {
        if (pthread_create(&threads[t], NULL, enroll_patients, &workers[t]) != 0) {
            /* The others wait at the barrier for it: leave the process at once. */
            fprintf(stderr, "could not start thread %d\n", t);
            return 1;
        }
    }

    long long counts[OUTCOMES] = {0};
    for (int t = 0; t < s.threads; t++) {
        pthread_join(threads[t], NULL);
        worker *w = &workers[t];
        if (w->failed) {
            fprintf(stderr, "%s\n", w->error);
            exit_code = 1;
        }
        for (int o = 0; o < OUTCOMES; o++) counts[o] += w->counts[o];
        sg_free(w->ctx);
    }
    pthread_barrier_destroy(&crowd.start);

    if (exit_code == 0) {
        for (int o = 0; o < OUTCOMES; o++)
            if (o < 3 || counts[o] != 0) printf("%s %lld\n", outcome_names[o], counts[o]);

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
                fprintf(stderr, "error: %lld enrolled in a trial of capacity %lld\n", info.enrolled, info.capacity);
                exit_code = 1;
            }
            long long distinct = 0;
            for (long p = 0; p < s.patients; p++) distinct += crowd.enrolled_patient[p];
            if (distinct != info.enrolled) {
                fprintf(stderr, "error: %lld distinct patients were told they are enrolled, SLOTS.INFO says %lld\n",
                        distinct, info.enrolled);
                exit_code = 1;
            }
        }
    }

    free(threads);
    free(workers);
    free(crowd.enrolled_patient);
    sg_free(ctx);
    fflush(stdout);
    return exit_code;
}
