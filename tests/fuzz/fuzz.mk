# tests/fuzz/fuzz.mk -- the libFuzzer harnesses (included by the Makefile).
#   make fuzz-build            build every tests/fuzz/fuzz_<name>.c into build/fuzz/fuzz_<name>
#   make fuzz [FUZZ_SECONDS=n] build, then run each harness n seconds (default 60) on a copy of its
#                              corpus, tests/fuzz/corpus/<name>/ (scripts/fuzz.sh)
# clang from Debian (libclang-rt-14-dev holds libFuzzer). Every harness links the pure cores and
# libslotguard's pure part (CORE_SRCS, CLIENT_PURE_SRCS of the Makefile) and tests/fuzz/fuzz_support.c.
FUZZ_CC      ?= clang
FUZZ_CFLAGS   = -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
                -Imodule -Iclient -Itests/fuzz -Itests/integration
FUZZ_SUPPORT  = tests/fuzz/fuzz_support.c
# A harness is a tests/fuzz/fuzz_*.c that defines LLVMFuzzerTestOneInput (other fuzz_*.c files are
# helpers, e.g. fuzz_restore_coverage.c, which goes into the module's fuzzing build, not a harness).
# FUZZ_EXTRA_<name>: more sources for harness <name> alone.
FUZZ_SRCS     = $(shell grep -l '^int LLVMFuzzerTestOneInput' $(filter-out $(FUZZ_SUPPORT),$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BINS     = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 60

.PHONY: fuzz fuzz-build

fuzz-build: $(FUZZ_BINS)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SUPPORT) tests/fuzz/fuzz_support.h $(CORE_SRCS) $(CLIENT_PURE_SRCS) \
                      $(MODULE_HDRS) $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SUPPORT) $(FUZZ_EXTRA_$*) $(CORE_SRCS) $(CLIENT_PURE_SRCS) -lhiredis

# fuzz_restore's server loads the module built with ASan+UBSan (cc, as make asan) and with its
# blocks counted (tests/fuzz/fuzz_restore_coverage.c) into a file the harness hands to libFuzzer, so
# payloads that reach new code in the loaders are kept although the module runs in another process.
FUZZ_COVERAGE_MODULE = $(BUILD)/fuzz/slotguard-cov.so
$(FUZZ_COVERAGE_MODULE): $(CORE_SRCS) $(GLUE_SRCS) $(MODULE_HDRS) tests/fuzz/fuzz_restore_coverage.c \
                         tests/fuzz/fuzz_restore_coverage.h | $(HEADER)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) -fsanitize-coverage=trace-pc -I$(DEPS_INC) -Iclient -Itests/fuzz -shared \
	  -o $@ $(CORE_SRCS) $(GLUE_SRCS) tests/fuzz/fuzz_restore_coverage.c
fuzz-build: $(FUZZ_COVERAGE_MODULE)

fuzz: fuzz-build
	./scripts/fuzz.sh $(FUZZ_SECONDS)
