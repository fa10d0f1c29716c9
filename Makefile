# blockipam build. GNU Make: it is on every Debian machine already, builds in parallel, and the
# project is small enough that a generator (Meson, CMake) would add a dependency and a second
# language without buying anything. See README.md.
#
#   make            build libblockipam.a, the plugin build/blockipam and the CLI build/blockipamctl
#   make test       build and run every test (scripts/run-tests prints "N passed, N failed")
#   make test-unit  the C table tests alone (seconds): addresses, selectors, records, HTTP, ...
#   make check      what CI runs: the static checks below, test with -Werror, san, a short fuzz
#   make check-deps the layering of #includes and the library's exported symbols
#   make check-format  clang-format on the files listed in scripts/formatted-files
#   make analyze    cppcheck over the production sources, clean (see the target for its choices)
#   make san        the whole suite under ASan + UBSan (build-san/)
#   make fuzz       build the libFuzzer targets (clang) and run each for FUZZ_SECONDS
#   make demo       the main job: a walk through blockipam on the embedded store
#   make bench      the benchmark (bench/RESULTS.md)
#   make soak       a million exec'd ADDs and DELs on SQLite and etcd (bench/SOAK.md)
#   make fuzz-long  each fuzz target for an hour or 10M runs, corpus kept (fuzz/RESULTS.md)
#   make install    PREFIX=/usr/local DESTDIR= CNI_BIN_DIR=/opt/cni/bin
#   make image      the OCI image of deploy/kubernetes, offline with podman build (IMAGE=...)

PREFIX      ?= /usr/local
CNI_BIN_DIR ?= /opt/cni/bin
DESTDIR     ?=
BUILD       ?= build
WERROR      ?= 0
SAN         ?= 0
FUZZ_SECONDS ?= 20

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
	-Wformat=2 -Wvla -Wundef -Wnull-dereference -Wno-missing-field-initializers
ifeq ($(WERROR),1)
WARN += -Werror
endif

# The project's flags live in BIP_* variables of their own, so that `make CFLAGS=-O0` (or any
# CPPFLAGS, LDFLAGS the user or a packager passes) adds to them instead of silently dropping
# -std=c11 and every warning. The user's flags come last, so they win where they conflict.
VERSION      := 0.1.0
BIP_CPPFLAGS := -Iinclude -D_GNU_SOURCE
BIP_CFLAGS   := -std=c11 $(WARN) -fno-strict-aliasing
BIP_LDFLAGS  :=
CFLAGS       ?= -O2 -g
LDLIBS_DEPS := -lsqlite3 -ljansson -lyaml -lm -lpthread -ldl

# The plugin is exec'd once per pod, so it is linked fully static (STATIC_PLUGIN=1, the
# default): no dynamic loader, no library to map at exec. Linking SQLite and jansson statically
# had halved its start-up cost (0.46 ms instead of 0.83 ms, DESIGN.md); -static takes off
# 0.3-0.4 ms more (README "Building"). Two files are compiled differently for it (PLUGIN_STATIC):
# store/etcd/resolve.c resolves without NSS (numeric addresses, /etc/hosts, localhost) and
# store/etcd/tls.c links libssl.a and libcrypto.a instead of dlopening them; these objects come
# before libblockipam.a on the link line, so the archive's own resolve.o and tls.o are never
# pulled. STATIC_PLUGIN=0 links the plugin as before: SQLite and jansson static, libc dynamic,
# NSS for names, OpenSSL dlopened for etcds:// only. The sanitizers need the dynamic one.
STATIC_PLUGIN ?= 1
ifeq ($(SAN),1)
BIP_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BIP_LDFLAGS += -fsanitize=address,undefined
override STATIC_PLUGIN := 0
PLUGIN_LIBS := $(LDLIBS_DEPS)
else ifeq ($(STATIC_PLUGIN),1)
# libssl before libcrypto (it uses it); -lpthread -ldl are empty in glibc 2.34+ but harmless.
# The link warns "Using 'dlopen' / 'getaddrinfo' / 'gethostbyname' in statically linked
# applications" three times, each from a library function the plugin never reaches: SQLite's
# extension loader (unixDlOpen: no extension is ever loaded), OpenSSL's socket BIOs
# (BIO_lookup_ex, BIO_gethostbyname, pulled in by libssl's DTLS code: tls.c gives OpenSSL a
# memory BIO pair and does its own socket I/O) and OpenSSL's DSO loader (only for an engine or
# provider module that openssl.cnf names). None comes from our code: tests/etcd_plugin.sh
# checks under strace that an etcds:// ADD by name opens no shared library and no NSS.
PLUGIN_LIBS := -static -lsqlite3 -ljansson -lssl -lcrypto -lm -lpthread -ldl
else
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
# Each bench/*.c is a program of its own; bench/cnibench/ is one program in several files;
# bench/common/ (the sample statistics) is linked into every bench.
BENCH_SRCS := $(wildcard bench/*.c)
CNIBENCH_SRCS := $(wildcard bench/cnibench/*.c)
BENCH_COMMON_SRCS := $(wildcard bench/common/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBA    := $(BUILD)/libblockipam.a
PLUGIN  := $(BUILD)/blockipam
# The plugin linked against the shared libc, whatever STATIC_PLUGIN says: for the tests that
# wrap the plugin with LD_PRELOAD (faketime in tests/clock_jump.sh), which a static binary
# ignores. Not installed.
PLUGIN_DYN := $(BUILD)/blockipam-dyn
CLI     := $(BUILD)/blockipamctl
AGENT   := $(BUILD)/blockipamd
TESTS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
HELPERS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(HELPER_SRCS))
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS)) $(BUILD)/bench/cnibench
BENCH_COMMON := $(call obj,$(BENCH_COMMON_SRCS))
# The benchmark's floor: a trivial program linked statically (bench/floor/nop.c).
BENCH_NOP := $(BUILD)/bench/nop
CNI_OBJS := $(call obj,$(CNI_SRCS))
CLI_OBJS := $(call obj,$(filter-out cli/main.c,$(CLI_SRCS)))
T_OBJS  := $(call obj,tests/t.c $(wildcard tests/util*.c)) $(call obj,$(FAULT_SRCS))

# The tests and benches link the CLI and plugin objects as archives, so each binary takes only
# the objects it uses (libcli.a before libcni.a before the library: each layer uses only those
# after it).
CNI_A   := $(BUILD)/libcni.a
CLI_A   := $(BUILD)/libcli.a

.PHONY: FORCE all test test-unit check check-deps check-format analyze san fuzz fuzz-build fuzz-long demo \
	bench soak install clean format image
all: $(LIBA) $(PLUGIN) $(PLUGIN_DYN) $(CLI) $(AGENT)
# Keep the test objects: make would delete them as intermediates of the pattern rules.
.SECONDARY:

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BIP_CPPFLAGS) $(CPPFLAGS) $(BIP_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBA): $(call obj,$(LIB_SRCS) $(STORE_SRCS))
	@rm -f $@
	$(AR) rcs $@ $^

$(CNI_A): $(CNI_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(CLI_A): $(CLI_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

ifeq ($(STATIC_PLUGIN),1)
PLUGIN_STATIC := $(patsubst %.c,$(BUILD)/obj-static/%.o,store/etcd/resolve.c store/etcd/tls.c)
else
PLUGIN_STATIC :=
endif

$(BUILD)/obj-static/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BIP_CPPFLAGS) -DBIP_STATIC_PLUGIN $(CPPFLAGS) $(BIP_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# The link line in a file that changes only with it, so that `make STATIC_PLUGIN=0` relinks.
$(BUILD)/plugin.link: FORCE
	@mkdir -p $(dir $@)
	@echo '$(PLUGIN_STATIC) $(PLUGIN_LIBS)' | cmp -s - $@ || echo '$(PLUGIN_STATIC) $(PLUGIN_LIBS)' >$@

$(PLUGIN): $(call obj,cni/main.c) $(CNI_OBJS) $(PLUGIN_STATIC) $(LIBA) $(BUILD)/plugin.link
	$(CC) $(BIP_LDFLAGS) $(LDFLAGS) -o $@ $(filter-out $(BUILD)/plugin.link,$^) $(PLUGIN_LIBS)

$(PLUGIN_DYN): $(call obj,cni/main.c) $(CNI_OBJS) $(LIBA)
	$(CC) $(BIP_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_DEPS)

FORCE:

# The CLI uses nothing of the plugin's (make check-deps keeps it so).
$(CLI): $(call obj,cli/main.c) $(CLI_OBJS) $(LIBA)
	$(CC) $(BIP_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_DEPS)

# The agent serves the plugin's code path in process (cni/run.c), so it links the plugin's objects;
# a long-lived daemon, so linked like the CLI (no static libc, NSS for names).
$(AGENT): $(call obj,$(wildcard agent/*.c)) $(CNI_A) $(LIBA)
	$(CC) $(BIP_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_DEPS)

$(BUILD)/tests/%: $(call obj,tests/%.c) $(T_OBJS) $(CLI_A) $(CNI_A) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(BIP_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_DEPS)

$(BUILD)/bench/cnibench: $(call obj,$(CNIBENCH_SRCS)) $(BENCH_COMMON) $(T_OBJS) $(CNI_A) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(BIP_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_DEPS)

$(BUILD)/bench/%: $(call obj,bench/%.c) $(BENCH_COMMON) $(T_OBJS) $(CNI_A) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(BIP_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_DEPS)

$(BENCH_NOP): bench/floor/nop.c
	@mkdir -p $(dir $@)
	$(CC) $(BIP_CFLAGS) $(CFLAGS) -static -o $@ $<

test: all $(TESTS) $(HELPERS)
	BUILD=$(BUILD) scripts/run-tests $(BUILD)

# The in-process table tests: no exec'd processes, no servers, no real network (under 2 s).
UNIT_TESTS := test_addr test_selector test_records test_http test_resolve test_routes test_cni test_cli \
	test_ipam
empty :=
comma := ,
test-unit: $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))
	BIP_TESTS=$(subst $(empty) $(empty),$(comma),$(UNIT_TESTS)) scripts/run-tests $(BUILD)

san:
	$(MAKE) BUILD=build-san SAN=1 test

# What CI runs: every test with -Werror, the sanitizer run of the whole suite, a short fuzz.
check:
	MAKE="$(MAKE)" FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/check.sh

fuzz-build:
	$(MAKE) -f fuzz/fuzz.mk BUILD=build-fuzz WARN="$(WARN)"

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/run-fuzz build-fuzz

# A quiet build first (the compiler lines are what 'make all' is for), then the walk-through.
# The build's output (the linker's notes on the static plugin included) goes to a log, shown only
# when the build fails: the demo's reader sees the demo.
demo:
	@echo "building blockipam (make all, quietly: $(BUILD)/build.log)..."
	@mkdir -p $(BUILD) && $(MAKE) --no-print-directory -s all >$(BUILD)/build.log 2>&1 || \
		{ cat $(BUILD)/build.log; echo "the build failed: $(BUILD)/build.log"; exit 1; }
	@scripts/demo.sh $(BUILD)

# The long runs of issue 19, on demand: SOAK_OPS (1000000) calls on SQLite and a 3-member etcd
# (bench/SOAK.md); each fuzz target for FUZZ_LONG_SECONDS or FUZZ_LONG_RUNS (fuzz/RESULTS.md).
soak: all
	scripts/soak.sh $(BUILD)

fuzz-long: fuzz-build
	scripts/fuzz-long.sh build-fuzz

bench: all $(BENCHES) $(BENCH_NOP)
	scripts/bench.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(CNI_BIN_DIR) $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/include/blockipam $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(PLUGIN) $(DESTDIR)$(CNI_BIN_DIR)/blockipam
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/blockipamctl
	install -m 0755 $(AGENT) $(DESTDIR)$(PREFIX)/bin/blockipamd
	install -m 0644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/libblockipam.a
	install -m 0644 include/blockipam/*.h $(DESTDIR)$(PREFIX)/include/blockipam/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' scripts/blockipam.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/blockipam.pc
	install -m 0644 docs/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/

# The OCI image for deploy/kubernetes, built offline (FROM scratch, root staged from this build
# and this machine's Debian packages by scripts/image.sh).
IMAGE ?= localhost/blockipam:$(VERSION)
image: all
	scripts/image.sh $(BUILD) $(BUILD)/image
	podman build --network none -t $(IMAGE) -f $(BUILD)/image/Containerfile $(BUILD)/image

# The layering of the README's picture: includes, symbols between layers, the library's exports
# (scripts/check-deps says what, scripts/check-deps.allow lists today's unprefixed internals).
check-deps: $(LIBA) $(CNI_OBJS) $(CLI_OBJS) $(call obj,cni/main.c cli/main.c $(wildcard agent/*.c))
	scripts/check-deps $(BUILD)

# cppcheck's bug classes (warning, portability, performance) over lib, store, cni, cli and agent,
# with the jansson loop macros it must know to parse (system headers are not read: minutes, nothing
# of ours). Its "style" class is left out: two thirds of it is variableScope, which fights the
# declarations-at-the-top of an `out:` ladder, and the rest were false "condition is always
# false" on loops bounded by a parameter. A needed suppression goes inline, with its reason:
#   // cppcheck-suppress <id> -- why
analyze:
	cppcheck -q -j2 --std=c11 --enable=warning,portability,performance --inline-suppr \
		--library=scripts/cppcheck-jansson.cfg --error-exitcode=1 -Iinclude -D_GNU_SOURCE \
		lib store cni cli agent

# clang-format: `make format` rewrites every file; `make check-format` fails on any deviation in
# the files listed in scripts/formatted-files (every production source, and the tests and benches
# formatted so far).
FORMATTED := $(shell sed -e 's/\#.*//' scripts/formatted-files)
format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	clang-format --dry-run --Werror $(FORMATTED)

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD)/obj $(BUILD)/obj-static -name '*.d' 2>/dev/null)
