# blockipam build. GNU Make: it is on every Debian machine already, builds in parallel, and the
# project is small enough that a generator (Meson, CMake) would add a dependency and a second
# language without buying anything. See README.md.
#
#   make            build libblockipam.a, the plugin build/blockipam and the CLI build/blockipamctl
#   make test       build and run every test (scripts/run-tests prints "N passed, N failed")
#   make check      what CI runs: test with -Werror, san, and a short fuzz of every parser
#   make san        the whole suite under ASan + UBSan (build-san/)
#   make fuzz       build the libFuzzer targets (clang) and run each for FUZZ_SECONDS
#   make demo       the main job: a walk through blockipam on the embedded store
#   make bench      the benchmark (bench/RESULTS.md)
#   make install    PREFIX=/usr/local DESTDIR= CNI_BIN_DIR=/opt/cni/bin
#   make image      the OCI image of deploy/kubernetes, offline with podman build (IMAGE=...)

PREFIX      ?= /usr/local
CNI_BIN_DIR ?= /opt/cni/bin
DESTDIR     ?=
BUILD       ?= build
CC          ?= cc
WERROR      ?= 0
SAN         ?= 0
FUZZ_SECONDS ?= 20

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
	-Wformat=2 -Wvla -Wundef -Wnull-dereference -Wno-missing-field-initializers
ifeq ($(WERROR),1)
WARN += -Werror
endif

CPPFLAGS += -Iinclude -D_GNU_SOURCE
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 $(WARN) -fno-strict-aliasing
LDLIBS_DEPS := -lsqlite3 -ljansson -lyaml -lm -lpthread -ldl

ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
# the plugin cannot be fully static under ASan
PLUGIN_LIBS := $(LDLIBS_DEPS)
else
# The plugin is exec'd once per pod: linking SQLite and jansson statically halves its start-up
# cost (0.46 ms instead of 0.83 ms, measured, DESIGN.md).
PLUGIN_LIBS := -Wl,-Bstatic -lsqlite3 -ljansson -Wl,-Bdynamic -lm -lpthread -ldl
endif

LIB_SRCS   := $(wildcard lib/*.c)
STORE_SRCS := $(wildcard store/*.c store/sqlite/*.c store/etcd/*.c)
FAULT_SRCS := $(wildcard store/fault/*.c)
CNI_SRCS   := $(filter-out cni/main.c,$(wildcard cni/*.c))
CLI_SRCS   := $(wildcard cli/*.c)
TEST_SRCS  := $(wildcard tests/test_*.c)
HELPER_SRCS := $(wildcard tests/helper_*.c)
FUZZ_SRCS  := $(wildcard fuzz/fuzz_*.c)
BENCH_SRCS := $(wildcard bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBA    := $(BUILD)/libblockipam.a
PLUGIN  := $(BUILD)/blockipam
CLI     := $(BUILD)/blockipamctl
TESTS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
HELPERS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(HELPER_SRCS))
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
# The benchmark's floor: a trivial program linked statically (bench/floor/nop.c).
BENCH_NOP := $(BUILD)/bench/nop
CNI_OBJS := $(call obj,$(CNI_SRCS))
CLI_OBJS := $(call obj,$(filter-out cli/main.c,$(CLI_SRCS)))
T_OBJS  := $(call obj,tests/t.c $(wildcard tests/util*.c)) $(call obj,$(FAULT_SRCS))

.PHONY: all test check san fuzz fuzz-build demo bench install clean format check-format image
# The plugin and the CLI are built once their main.c exists.
all: $(LIBA) $(if $(wildcard cni/main.c),$(PLUGIN)) $(if $(wildcard cli/main.c),$(CLI))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBA): $(call obj,$(LIB_SRCS) $(STORE_SRCS))
	@rm -f $@
	$(AR) rcs $@ $^

$(PLUGIN): $(call obj,cni/main.c) $(CNI_OBJS) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $^ $(PLUGIN_LIBS)

$(CLI): $(call obj,cli/main.c) $(CLI_OBJS) $(CNI_OBJS) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_DEPS)

$(BUILD)/tests/%: $(call obj,tests/%.c) $(T_OBJS) $(CLI_OBJS) $(CNI_OBJS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_DEPS)

$(BUILD)/bench/%: $(call obj,bench/%.c) $(T_OBJS) $(CNI_OBJS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_DEPS)

$(BENCH_NOP): bench/floor/nop.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $<

test: all $(TESTS) $(HELPERS)
	BUILD=$(BUILD) scripts/run-tests $(BUILD)

san:
	$(MAKE) BUILD=build-san SAN=1 test

# What CI runs: every test with -Werror, the sanitizer run of the whole suite, a short fuzz.
check:
	MAKE="$(MAKE)" FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/check.sh

fuzz-build:
	$(MAKE) -f fuzz/fuzz.mk BUILD=build-fuzz

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/run-fuzz build-fuzz

demo: all
	scripts/demo.sh $(BUILD)

bench: all $(BENCHES) $(BENCH_NOP)
	scripts/bench.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(CNI_BIN_DIR) $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/include/blockipam $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(PLUGIN) $(DESTDIR)$(CNI_BIN_DIR)/blockipam
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/blockipamctl
	install -m 0644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/libblockipam.a
	install -m 0644 include/blockipam/*.h $(DESTDIR)$(PREFIX)/include/blockipam/
	sed -e 's|@PREFIX@|$(PREFIX)|g' scripts/blockipam.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/blockipam.pc
	for m in docs/*.8; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(PREFIX)/share/man/man8/ || true; done

# The OCI image for deploy/kubernetes, built offline (FROM scratch, root staged from this build
# and this machine's Debian packages by scripts/image.sh).
IMAGE ?= localhost/blockipam:0.1.0
image: all
	scripts/image.sh $(BUILD) $(BUILD)/image
	podman build --network none -t $(IMAGE) -f $(BUILD)/image/Containerfile $(BUILD)/image

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
