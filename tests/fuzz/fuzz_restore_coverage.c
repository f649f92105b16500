/* fuzz_restore_coverage.c -- coverage of the module, from inside redis-server, for fuzz_restore.
 *
 * fuzz_restore runs the module in another process, so libFuzzer's own coverage sees only the
 * harness. The module's fuzzing build (build/fuzz/slotguard-cov.so: the ASan build compiled with
 * gcc -fsanitize-coverage=trace-pc, plus this file) calls __sanitizer_cov_trace_pc at every basic
 * block; this counts each block in a byte of a file named by $SG_FUZZ_COVERAGE_FILE, mapped shared.
 * The harness maps the same file, clears it before an input and copies it into libFuzzer's extra
 * counters after, so inputs that reach new code in the loaders are kept. Without the variable the
 * counts go to a private array (the build still works as an ordinary module). Linked into nothing
 * else: the module's own builds do not contain it. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_restore_coverage.h"

#define NOT_COUNTED __attribute__((no_sanitize_coverage, no_sanitize_address, no_sanitize_undefined))

static uint8_t private_counters[SG_COVERAGE_COUNTERS];
static uint8_t *counters;

NOT_COUNTED static void map_counters(void) {
    counters = private_counters;
    const char *path = getenv(SG_COVERAGE_ENV);
    if (path == NULL || path[0] == '\0') return;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    void *shared = mmap(NULL, SG_COVERAGE_COUNTERS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (shared != MAP_FAILED) counters = shared;
}

/* Hidden: the module's calls bind here, never to a same-named symbol of a preloaded runtime. */
__attribute__((visibility("hidden"))) void __sanitizer_cov_trace_pc(void);

NOT_COUNTED void __sanitizer_cov_trace_pc(void) {
    if (counters == NULL) map_counters();
    /* Blocks are a few bytes apart: a multiplicative hash of the offset from this function spreads
     * them over the counters (the offset, not the address, so the slots do not depend on where
     * the module was loaded). */
    uint64_t offset = (uint64_t)((uintptr_t)__builtin_return_address(0) - (uintptr_t)&__sanitizer_cov_trace_pc);
    size_t slot = (size_t)((offset * UINT64_C(0x9e3779b97f4a7c15)) >> 48) % SG_COVERAGE_COUNTERS;
    if (counters[slot] != UINT8_MAX) counters[slot]++;
}
