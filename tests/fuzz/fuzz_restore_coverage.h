/* fuzz_restore_coverage.h -- what fuzz_restore and the module's fuzzing build agree on: the
 * module's basic blocks are counted into a file both map (see fuzz_restore_coverage.c). */
#ifndef SG_FUZZ_RESTORE_COVERAGE_H
#define SG_FUZZ_RESTORE_COVERAGE_H

/* Counters in the file: one byte each, a block's counter chosen by hashing its address. */
#define SG_COVERAGE_COUNTERS 65536
/* The environment variable naming the file, set by fuzz_restore for the server. */
#define SG_COVERAGE_ENV "SG_FUZZ_COVERAGE_FILE"

#endif
