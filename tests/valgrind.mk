# valgrind.mk -- the integration suite's servers under memcheck (included by the Makefile).
#   make valgrind-test                     the default set of integration binaries (see
#                                          scripts/valgrind-test.sh for what is left out and why)
#   make valgrind-test VALGRIND_TESTS="test_enroll_commands test_idemp_basics"   a chosen few
# Each redis-server runs under scripts/valgrind-server.sh with a module built at -O1 for readable
# stacks; the run fails on any memcheck error or definitely lost byte, and on a failing test. Slow
# (Redis is 20-50 times slower under memcheck): not part of `make test`.
ifndef SG_VALGRIND_MK
SG_VALGRIND_MK := 1

VALGRIND_MODULE = $(BUILD)/valgrind/slotguard.so
VALGRIND_TESTS ?=

.PHONY: valgrind-test

# -O1 keeps memcheck's stacks close to the source (-O2 inlines and reorders) at little cost in speed.
$(VALGRIND_MODULE): OPT = -O1 -fno-omit-frame-pointer
$(VALGRIND_MODULE): $(CORE_SRCS) $(GLUE_SRCS) $(MODULE_HDRS) | $(HEADER)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -I$(DEPS_INC) -Iclient -shared -o $@ $(CORE_SRCS) $(GLUE_SRCS)

valgrind-test: $(VALGRIND_MODULE) $(INTEG_BINS) $(EXAMPLE_BINS)
	SG_VALGRIND_NO_BUILD=1 ./scripts/valgrind-test.sh $(VALGRIND_TESTS)

endif
