# SlotGuard -- one Makefile, no build framework.
#   make            build module/slotguard.so and libslotguard (build/client/libslotguard.{a,so})
#   make examples   build the example programs (examples/flash_enroll, ...) on libslotguard
#   make test       unit tests (cmocka, core only) then integration tests (real redis-server)
#   make asan       build the module and tests with ASan+UBSan; make asan-test runs them
#   make bench      the benchmark suite (bench/bench.sh): instruction counts, every command next to
#                   what it replaces, scaling, the 3-master cluster runs; CSV and PNG charts into
#                   bench/results/, goals table in bench/results/summary.md (about 20 minutes)
#   make bench-quick the same, short (a few minutes), into build/bench-quick/
#   make bench-instructions  the comparisons in instructions only, under callgrind (bench/instructions.sh)
#   make install    install the module ($(PREFIX)/lib/redis/modules, where examples/redis.conf loads
#                   it), libslotguard (.a, .so and its symlink), slotguard.h and slotguard.pc;
#                   PREFIX (default /usr/local) and DESTDIR as usual
#   make setup      install Debian packages and fetch redismodule.h (scripts/setup.sh)
#   make valgrind-test  the integration suites with every server under memcheck (slow; not in CI)
#   make fuzz       every libFuzzer harness for FUZZ_SECONDS (default 60; the test command runs 10)
#   make soak       10 minutes of every family at random against a master, a replica and the AOF
#                   (SOAK_SECONDS=n for another length; the test command runs 60 s)

CC       ?= cc
OPT      ?= -O2
WARN      = -std=c11 -Wall -Wextra -Werror
CFLAGS_COMMON = $(WARN) $(OPT) -g -fPIC -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
DEPS_INC  = .deps/include
HEADER    = $(DEPS_INC)/redismodule.h

# Pure cores: no Redis header, unit-tested on their own. core_alloc.c and token_clock.c are the
# neutral parts every core may use; each family's core uses no other family's.
CORE_SRCS = module/core_alloc.c module/token_clock.c module/trial.c module/lock.c module/idemp.c module/sharded.c \
            module/rate.c
# Glue: glue.c (what every family shares), one *_commands.c per family, slotguard.c (entry point).
GLUE_SRCS = module/glue.c module/enroll_commands.c module/lock_commands.c module/idemp_commands.c \
            module/sharded_commands.c module/rate_commands.c module/slotguard.c
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
HARNESS    = tests/integration/harness.c tests/integration/checks.c tests/integration/raw_commands.c \
             tests/integration/cluster.c tests/integration/example_runs.c tests/integration/fault_proxy.c

BUILD      = build
# The trial's unit tests run twice: as the module is built, and with every slot of the index two
# or more slots from its home counted as "far" (-DTRIAL_DIST_FAR=2), so that the path taken for
# distances of 255 or more (rare in a real trial) runs all the time.
FAR_UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/unit/far/%,$(wildcard tests/unit/test_trial_*.c))
UNIT_BINS  = $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS)) $(FAR_UNIT_BINS)
INTEG_BINS = $(patsubst tests/integration/%.c,$(BUILD)/integration/%,$(INTEG_SRCS))

SAN_FLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_MODULE = $(BUILD)/asan/slotguard.so
ASAN_UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/asan/unit/%,$(UNIT_SRCS)) \
                 $(patsubst $(BUILD)/unit/far/%,$(BUILD)/asan/unit/far/%,$(FAR_UNIT_BINS))

TEST_LIBS  = -lcmocka
INTEG_LIBS = -lhiredis -lcmocka -lpthread

# --- libslotguard ---------------------------------------------------------------------------------
# Pure part (slot hashing, reply decoding: unit-tested alone) and the connection part on hiredis.
CLIENT_PURE_SRCS = client/slot.c client/decode.c client/ratelimit_fields.c
CLIENT_SRCS = $(CLIENT_PURE_SRCS) client/connection.c client/commands.c client/watchdog.c client/spread.c \
              client/counter.c client/sharded_trial.c
CLIENT_HDRS = $(wildcard client/*.h)
CLIENT_CFLAGS = $(CFLAGS_COMMON) -pthread -Iclient
CLIENT_LIBS = -lhiredis -lpthread
version_part = $(shell sed -n 's/^\#define SG_VERSION_$(1) \([0-9][0-9]*\).*/\1/p' $(VERSION_HDR))
SG_MAJOR := $(call version_part,MAJOR)
SG_MINOR := $(call version_part,MINOR)
SG_PATCH := $(call version_part,PATCH)
SG_VERSION := $(SG_MAJOR).$(SG_MINOR).$(SG_PATCH)
# Before 1.0 a minor release may change the ABI, so the soname carries the minor (as hiredis 0.x).
LIB_SONAME = libslotguard.so.$(SG_MAJOR).$(SG_MINOR)
CLIENT_DIR = $(BUILD)/client
LIB_STATIC = $(CLIENT_DIR)/libslotguard.a
LIB_SHARED = $(CLIENT_DIR)/$(LIB_SONAME)
CLIENT_OBJS = $(patsubst client/%.c,$(CLIENT_DIR)/%.o,$(CLIENT_SRCS))
ASAN_LIB_STATIC = $(BUILD)/asan/client/libslotguard.a
ASAN_CLIENT_OBJS = $(patsubst client/%.c,$(BUILD)/asan/client/%.o,$(CLIENT_SRCS))

EXAMPLE_SRCS = $(wildcard examples/*.c)
EXAMPLE_BINS = $(EXAMPLE_SRCS:.c=)
ASAN_EXAMPLE_BINS = $(patsubst examples/%.c,$(BUILD)/asan/examples/%,$(EXAMPLE_SRCS))

.PHONY: all client examples test unit integration asan asan-test bench bench-quick bench-instructions setup demo install clean
PREFIX ?= /usr/local
MODULE_DIR = $(PREFIX)/lib/redis/modules
all: $(MODULE) client

client: $(LIB_STATIC) $(LIB_SHARED)

$(CLIENT_DIR)/%.o: client/%.c $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -c -o $@ $<

$(LIB_STATIC): $(CLIENT_OBJS)
	rm -f $@
	ar rcs $@ $^

$(LIB_SHARED): $(CLIENT_OBJS)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -o $@ $^ $(CLIENT_LIBS)
	ln -sf $(LIB_SONAME) $(CLIENT_DIR)/libslotguard.so

examples: $(EXAMPLE_BINS)

examples/%: examples/%.c $(LIB_STATIC) client/slotguard.h $(VERSION_HDR)
	$(CC) $(CLIENT_CFLAGS) -o $@ $< $(LIB_STATIC) $(CLIENT_LIBS)

$(HEADER):
	./scripts/setup.sh

$(MODULE): $(CORE_SRCS) $(GLUE_SRCS) $(MODULE_HDRS) | $(HEADER)
	$(CC) $(CFLAGS_COMMON) -I$(DEPS_INC) -Iclient -shared -o $@ $(CORE_SRCS) $(GLUE_SRCS)

$(BUILD)/unit/%: tests/unit/%.c $(UNIT_SUPPORT) $(CORE_SRCS) $(MODULE_HDRS) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -Imodule -o $@ $< $(UNIT_SUPPORT) $(CORE_SRCS) $(TEST_LIBS)

$(BUILD)/unit/far/%: tests/unit/%.c $(UNIT_SUPPORT) $(CORE_SRCS) $(MODULE_HDRS) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -DTRIAL_DIST_FAR=2 -Imodule -o $@ $< $(UNIT_SUPPORT) $(CORE_SRCS) $(TEST_LIBS)

# Tests of libslotguard link it (the ASan suite links an ASan build of it instead).
$(BUILD)/integration/test_client_%: tests/integration/test_client_%.c $(HARNESS) $(wildcard tests/integration/*.h) $(LIB_STATIC) $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -Itests/integration -Iclient -o $@ $< $(HARNESS) $(LIB_STATIC) $(INTEG_LIBS)

$(BUILD)/asan/integration/test_client_%: tests/integration/test_client_%.c $(HARNESS) $(wildcard tests/integration/*.h) $(ASAN_LIB_STATIC) $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) -Itests/integration -Iclient -o $@ $< $(HARNESS) $(ASAN_LIB_STATIC) $(INTEG_LIBS)

$(BUILD)/integration/%: tests/integration/%.c $(HARNESS) $(wildcard tests/integration/*.h) $(VERSION_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -Itests/integration -Iclient -o $@ $< $(HARNESS) $(INTEG_LIBS)

# Unit tests of libslotguard's pure part link it alone (hiredis headers only, no hiredis library).
$(BUILD)/unit/test_client_%: tests/unit/test_client_%.c $(CLIENT_PURE_SRCS) $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -Iclient -o $@ $< $(CLIENT_PURE_SRCS) $(TEST_LIBS)

$(BUILD)/asan/unit/test_client_%: tests/unit/test_client_%.c $(CLIENT_PURE_SRCS) $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) -Iclient -o $@ $< $(CLIENT_PURE_SRCS) $(TEST_LIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(MODULE) $(INTEG_BINS) $(EXAMPLE_BINS)
	@set -e; for t in $(INTEG_BINS); do echo "== $$t"; \
	  SG_MODULE=$(CURDIR)/$(MODULE) SG_EXAMPLES=$(CURDIR)/examples SG_SOURCE_DIR=$(CURDIR) $$t; done

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

$(BUILD)/asan/unit/far/%: tests/unit/%.c $(UNIT_SUPPORT) $(CORE_SRCS) $(MODULE_HDRS) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) -DTRIAL_DIST_FAR=2 -Imodule -o $@ $< $(UNIT_SUPPORT) $(CORE_SRCS) $(TEST_LIBS)

$(BUILD)/asan/client/%.o: client/%.c $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) $(SAN_FLAGS) -c -o $@ $<

$(ASAN_LIB_STATIC): $(ASAN_CLIENT_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/asan/examples/%: examples/%.c $(ASAN_LIB_STATIC) client/slotguard.h $(VERSION_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) $(SAN_FLAGS) -o $@ $< $(ASAN_LIB_STATIC) $(CLIENT_LIBS)

# The module's suites run as they are against the ASan module; libslotguard's suites and the
# examples are themselves built with ASan.
ASAN_INTEG_BINS = $(foreach t,$(INTEG_BINS),$(if $(findstring /test_client_,$(t)),$(subst $(BUILD)/,$(BUILD)/asan/,$(t)),$(t)))

asan: $(ASAN_MODULE) $(ASAN_UNIT_BINS) $(ASAN_INTEG_BINS) $(ASAN_EXAMPLE_BINS)

asan-test: asan
	@set -e; for t in $(ASAN_UNIT_BINS); do echo "== $$t (asan)"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 $$t; done
	@set -e; for t in $(ASAN_INTEG_BINS); do echo "== $$t (asan module)"; \
	  SG_MODULE=$(CURDIR)/$(ASAN_MODULE) SG_PRELOAD="$(ASAN_RUNTIME) $(UBSAN_RUNTIME)" \
	  SG_EXAMPLES=$(CURDIR)/$(BUILD)/asan/examples SG_SOURCE_DIR=$(CURDIR) \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1 $$t; done

BENCH_BINS = $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))

# The hot-key load generator runs on libslotguard; the others on hiredis alone.
$(BUILD)/bench/hotkey: bench/hotkey.c $(LIB_STATIC) client/slotguard.h
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -o $@ $< $(LIB_STATIC) $(CLIENT_LIBS)

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -o $@ $< -lhiredis -lpthread

bench: $(MODULE) $(BENCH_BINS)
	./bench/bench.sh

bench-quick: $(MODULE) $(BENCH_BINS)
	SG_BENCH_QUICK=1 SG_BENCH_RESULTS=$(CURDIR)/$(BUILD)/bench-quick ./bench/bench.sh

bench-instructions: $(MODULE) $(BUILD)/bench/idemp_cycle
	./bench/instructions.sh

setup:
	./scripts/setup.sh

demo:
	./scripts/demo.sh

LIBDIR = $(PREFIX)/lib
INCLUDEDIR = $(PREFIX)/include
PKGCONFIGDIR = $(LIBDIR)/pkgconfig

install: $(MODULE) $(LIB_STATIC) $(LIB_SHARED)
	install -d $(DESTDIR)$(MODULE_DIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0755 $(MODULE) $(DESTDIR)$(MODULE_DIR)/slotguard.so
	install -m 0644 $(LIB_STATIC) $(DESTDIR)$(LIBDIR)/libslotguard.a
	install -m 0755 $(LIB_SHARED) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libslotguard.so
	install -m 0644 client/slotguard.h client/slotguard_version.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	  -e 's|@VERSION@|$(SG_VERSION)|' client/slotguard.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/slotguard.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/slotguard.pc

clean:
	rm -rf $(BUILD) $(MODULE) $(EXAMPLE_BINS)

# --- fault-finding beyond the test suite ----------------------------------------------------------
#   make valgrind-test   the integration suite's servers under memcheck (tests/valgrind.mk)
include tests/valgrind.mk
#   make soak            every family's commands from many clients for SOAK_SECONDS (default 600)
#                        against a master, a replica and the AOF (tests/soak/soak.mk)
include tests/soak/soak.mk
#   make fuzz            the libFuzzer harnesses, FUZZ_SECONDS each (tests/fuzz/fuzz.mk)
include tests/fuzz/fuzz.mk
