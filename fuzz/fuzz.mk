# libFuzzer targets, one per fuzz/fuzz_*.c, built with clang against the library sources:
#
#   make -f fuzz/fuzz.mk BUILD=build-fuzz     then   scripts/run-fuzz build-fuzz
#
# The library is compiled with coverage instrumentation (fuzzer-no-link) and the sanitizers, and
# archived, so that each target links only the objects it uses.

BUILD     ?= build-fuzz
FUZZ_CC   ?= $(shell command -v clang 2>/dev/null || command -v clang-14 2>/dev/null || echo clang)
SANITIZE  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
CPPFLAGS  := -Iinclude -D_GNU_SOURCE
# The project's warnings (and -Werror with WERROR=1), passed down by the top Makefile.
WARN      ?= -Wall -Wextra -Wno-missing-field-initializers
CFLAGS    := -std=c11 -g -O1 $(WARN) $(SANITIZE)
LDLIBS    := -lsqlite3 -ljansson -lyaml -lm -lpthread -ldl

LIB_SRCS  := $(wildcard lib/*.c store/*.c store/sqlite/*.c store/etcd/*.c) \
	$(filter-out cni/main.c cli/main.c,$(wildcard cni/*.c cli/*.c))
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
LIB_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
TARGETS   := $(patsubst fuzz/%.c,$(BUILD)/%,$(FUZZ_SRCS))
LIBA      := $(BUILD)/libblockipam-fuzz.a

.PHONY: all clean
# Keep the objects: make would delete them as intermediates of the pattern rules.
.SECONDARY:
all: $(TARGETS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(LIBA): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/fuzz_%: $(BUILD)/obj/fuzz/fuzz_%.o $(LIBA)
	$(FUZZ_CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
