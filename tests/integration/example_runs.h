/* example_runs.h -- running the example programs (examples/) as a user would, for the tests that
 * check them: the binaries are found in $SG_EXAMPLES (make integration sets it), each run is
 * bounded by timeout(1), its exit status, stdout and stderr are kept. */
#ifndef SG_EXAMPLE_RUNS_H
#define SG_EXAMPLE_RUNS_H

#include "harness.h"

#define SG_EXAMPLE_OUTPUT_SIZE 16384
#define SG_EXAMPLE_MAX_ARGS 32

typedef struct sg_example_run {
    int status; /* the exit status; 128 + signal when killed; 124 when timeout(1) stopped it */
    char out[SG_EXAMPLE_OUTPUT_SIZE];
    char err[SG_EXAMPLE_OUTPUT_SIZE];
} sg_example_run;

/* Runs $SG_EXAMPLES/<name> [--port port] args... (NULL-terminated) under `timeout 60`; port 0: no
 * --port. Fails the test when SG_EXAMPLES is unset or the binary is missing. */
void sg_run_example(sg_example_run *run, const char *name, int port, const char *const *args);
/* The run ended with `status` and, when expected_out is not NULL, printed exactly it on stdout. */
void sg_assert_example_run(const sg_example_run *run, const char *name, int status, const char *expected_out);

/* Cuts a server's clients off, `rounds` times, from a thread of its own: new connections are
 * refused (maxclients lowered to 2), every normal client but the thread's and `keep`'s is killed,
 * and 300 ms later connections are accepted again (the first cut 50 ms after the start, the others
 * 200 ms apart). For examples that must go on through faults. sg_cutoff_join waits for the thread
 * and returns how many clients it killed. */
typedef struct sg_cutoff sg_cutoff;
sg_cutoff *sg_cutoff_start(int port, redisContext *keep, int rounds);
long sg_cutoff_join(sg_cutoff *cut);

#endif
