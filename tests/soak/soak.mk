# tests/soak/soak.mk -- `make soak`: every family at random from many clients against a master with
# a replica and AOF, an AOF rewrite and a failover inside, invariants checked all along
# (tests/soak/soak.c). SOAK_SECONDS sets the length (CI: 60); SG_SOAK_SEED replays a run's choices.
# Included by the Makefile, which defines HARNESS, CFLAGS_COMMON, INTEG_LIBS, BUILD and MODULE.

SOAK_SECONDS ?= 600
SOAK_SRCS = $(wildcard tests/soak/*.c)
SOAK_BIN  = $(BUILD)/soak/soak

.PHONY: soak

$(SOAK_BIN): $(SOAK_SRCS) tests/soak/soak.h $(HARNESS) $(wildcard tests/integration/*.h) $(VERSION_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -pthread -Itests/integration -Iclient -o $@ $(SOAK_SRCS) $(HARNESS) $(INTEG_LIBS)

soak: $(MODULE) $(SOAK_BIN)
	SG_MODULE=$(CURDIR)/$(MODULE) SG_SOAK_SECONDS=$(SOAK_SECONDS) $(SOAK_BIN)
