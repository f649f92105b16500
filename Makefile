# SlotGuard -- one Makefile, no build framework.
#   make            build module/slotguard.so
#   make test       unit tests (cmocka, core only) then integration tests (real redis-server)
#   make asan       build the module and tests with ASan+UBSan; make asan-test runs them
#   make bench      redis-benchmark comparison (bench/run.sh)
#   make bench-instructions  the same comparisons in instructions under callgrind (bench/instructions.sh)
#   make install    copy the module to $(PREFIX)/lib/redis/modules (examples/redis.conf loads it there)
#   make setup      install Debian packages and fetch redismodule.h (scripts/setup.sh)

CC       ?= cc
OPT      ?= -O2
WARN      = -std=c11 -Wall -Wextra -Werror
CFLAGS_COMMON = $(WARN) $(OPT) -g -fPIC -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
DEPS_INC  = .deps/include
HEADER    = $(DEPS_INC)/redismodule.h

# Pure cores: no Redis header, unit-tested on their own. core_alloc.c and token_clock.c are the
# neutral parts every core may use; each family's core uses no other family's.
CORE_SRCS = module/core_alloc.c module/token_clock.c module/trial.c module/lock.c module/idemp.c
# Glue: glue.c (what every family shares), one *_commands.c per family, slotguard.c (entry point).
GLUE_SRCS = module/glue.c module/enroll_commands.c module/lock_commands.c module/idemp_commands.c \
            module/slotguard.c
# The version, written once in client/slotguard_version.h for the module and the library.
VERSION_HDR = client/slotguard_version.h
MODULE_HDRS = $(wildcard module/*.h) $(VERSION_HDR)
MODULE    = module/slotguard.so

UNIT_SRCS  = $(wildcard tests/unit/test_*.c)
# Test support every unit binary links: the counting allocator, the in-memory trial stream, the
# trial fixtures (the .c files of tests/unit not named test_*).
UNIT_SUPPORT = $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_HDRS  = $(wildcard tests/unit/*.h)
INTEG_SRCS = $(wildcard tests/integration/test_*.c)
HARNESS    = tests/integration/harness.c

BUILD      = build
UNIT_BINS  = $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
INTEG_BINS = $(patsubst tests/integration/%.c,$(BUILD)/integration/%,$(INTEG_SRCS))

SAN_FLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_MODULE = $(BUILD)/asan/slotguard.so
ASAN_UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/asan/unit/%,$(UNIT_SRCS))

TEST_LIBS  = -lcmocka
INTEG_LIBS = -lhiredis -lcmocka -lpthread

.PHONY: all test unit integration asan asan-test bench bench-instructions setup demo install clean
PREFIX ?= /usr/local
MODULE_DIR = $(PREFIX)/lib/redis/modules
all: $(MODULE)

$(HEADER):
	./scripts/setup.sh

$(MODULE): $(CORE_SRCS) $(GLUE_SRCS) $(MODULE_HDRS) | $(HEADER)
	$(CC) $(CFLAGS_COMMON) -I$(DEPS_INC) -Iclient -shared -o $@ $(CORE_SRCS) $(GLUE_SRCS)

$(BUILD)/unit/%: tests/unit/%.c $(UNIT_SUPPORT) $(CORE_SRCS) $(MODULE_HDRS) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -Imodule -o $@ $< $(UNIT_SUPPORT) $(CORE_SRCS) $(TEST_LIBS)

$(BUILD)/integration/%: tests/integration/%.c $(HARNESS) tests/integration/harness.h $(VERSION_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -Itests/integration -Iclient -o $@ $< $(HARNESS) $(INTEG_LIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(MODULE) $(INTEG_BINS)
	@set -e; for t in $(INTEG_BINS); do echo "== $$t"; SG_MODULE=$(CURDIR)/$(MODULE) $$t; done

test: unit integration

# --- sanitizers ---------------------------------------------------------------------------------
# redis-server itself is not instrumented, so the sanitizer runtime is preloaded into it.
ASAN_RUNTIME = $(shell $(CC) -print-file-name=libasan.so)
UBSAN_RUNTIME = $(shell $(CC) -print-file-name=libubsan.so)

$(ASAN_MODULE): $(CORE_SRCS) $(GLUE_SRCS) $(MODULE_HDRS) | $(HEADER)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) -I$(DEPS_INC) -Iclient -shared -o $@ $(CORE_SRCS) $(GLUE_SRCS)

$(BUILD)/asan/unit/%: tests/unit/%.c $(UNIT_SUPPORT) $(CORE_SRCS) $(MODULE_HDRS) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) -Imodule -o $@ $< $(UNIT_SUPPORT) $(CORE_SRCS) $(TEST_LIBS)

asan: $(ASAN_MODULE) $(ASAN_UNIT_BINS) $(INTEG_BINS)

asan-test: asan
	@set -e; for t in $(ASAN_UNIT_BINS); do echo "== $$t (asan)"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 $$t; done
	@set -e; for t in $(INTEG_BINS); do echo "== $$t (asan module)"; \
	  SG_MODULE=$(CURDIR)/$(ASAN_MODULE) SG_PRELOAD="$(ASAN_RUNTIME) $(UBSAN_RUNTIME)" \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1 $$t; done

BENCH_BINS = $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -o $@ $< -lhiredis -lpthread

bench: $(MODULE) $(BENCH_BINS)
	./bench/run.sh

bench-instructions: $(MODULE)
	./bench/instructions.sh

setup:
	./scripts/setup.sh

demo:
	./scripts/demo.sh

install: $(MODULE)
	install -d $(DESTDIR)$(MODULE_DIR)
	install -m 0755 $(MODULE) $(DESTDIR)$(MODULE_DIR)/slotguard.so

clean:
	rm -rf $(BUILD) $(MODULE)
