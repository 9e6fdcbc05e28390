# Rill: `make` builds bin/rill, the Lua module and the tests; `make test` runs them under prove.
# See README.md for demo, bench, check.

PKGS    = lua5.4 yaml-0.1 lmdb openblas
WARN    = -std=c11 -Wall -Wextra -Werror -Wshadow -Wundef -Wwrite-strings -Wstrict-prototypes \
          -Wmissing-prototypes -Wdouble-promotion -Wno-unused-parameter
CFLAGS ?= -O3 -g -march=native
PROVE  ?= prove
JOBS   ?= 2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# plain `make` on a machine without the packages: say what to run instead of failing on a header
ifeq ($(filter deps clean check-includes,$(MAKECMDGOALS)),)
ifeq ($(shell pkg-config --exists $(PKGS) 2>/dev/null && test -f /usr/include/oneapi/dnnl/dnnl.h && echo yes),)
ifeq ($(filter test check demo bench bench-store fuzz,$(MAKECMDGOALS)),)
$(error missing build dependencies ($(PKGS) through pkg-config, or oneDNN's libdnnl-dev): run `make deps` (tools/install-deps.sh) first)
endif
endif
endif
# core/ is the engine's base (errors, arena, pool, BLAS, arguments, graph, node contract,
# optimizers); its parts have folders of their own: nodes/ (one file per kind, with kernels),
# data/ (batches, readers, schemas), gen/ (generators), train/ (the loop, evaluation, metrics,
# export and parameter files), analysis/ (spectra). Headers are included by name.
CORE_DIRS = core core/nodes core/data core/gen core/train core/analysis
CPPFLAGS += -D_GNU_SOURCE $(addprefix -I,$(CORE_DIRS)) -Istore -Ilua $(PKG_CFLAGS)
# oneDNN (bf16 GEMMs, core/gemm_bf16.c) has no pkg-config file; it runs on libgomp
LDLIBS  = $(PKG_LIBS) -ldnnl -lgomp -lpthread -lm
# `make` alone builds everything: the probe's build/cflags rule below comes first in the file
.DEFAULT_GOAL := all

# The compiler probe (tools/ccprobe/): before anything is built, CC compiles and runs a small
# program with CFLAGS, on this machine; where it copies constant arrays wrong (gcc 12.2 with
# AVX-512) the cheapest flag that makes it right is added (one line in the output says which and
# why). Cached in build/ccprobe/ by compiler, flags and CPU. Not run for clean and deps.
ccprobe_q = '$(subst ','\'',$1)'
ccprobe = $(shell tools/ccprobe/ccprobe.sh $(call ccprobe_q,$(CC)) $(call ccprobe_q,$1) \
	$(call ccprobe_q,$(LDFLAGS)) $2)
# the flags the probe adds to $1, without writing build/cflags; an error when none work
ccprobe_extra = $(call ccprobe_pick,$(call ccprobe,$1),$1)
ccprobe_pick = $(if $(filter FAIL,$1),$(error ccprobe: no flags make $(CC) copy constant \
	arrays right with $2),$(wordlist 2,99,$1))
ifneq ($(if $(MAKECMDGOALS),$(filter-out clean deps check-includes,$(MAKECMDGOALS)),all),)
CCPROBE := $(call ccprobe,$(CFLAGS),build/cflags)
ifeq ($(CCPROBE),)
$(error ccprobe: tools/ccprobe/ccprobe.sh did not run)
endif
ifeq ($(lastword $(CCPROBE)),FAIL)
$(error ccprobe: no flags make $(CC) copy constant arrays right (above); not building)
endif
CCPROBE_EXTRA := $(wordlist 2,99,$(CCPROBE))
export RILL_CCPROBE_SAID := $(firstword $(CCPROBE))
endif
# what every object, program and library is compiled with; build/cflags (written by the probe
# when it changes) makes objects rebuild when it changes
RILL_CFLAGS = $(CFLAGS) $(CCPROBE_EXTRA)
build/cflags:
	@tools/ccprobe/ccprobe.sh $(call ccprobe_q,$(CC)) $(call ccprobe_q,$(CFLAGS)) \
	  $(call ccprobe_q,$(LDFLAGS)) $@ >/dev/null

LIB_SRCS  = $(foreach d,$(CORE_DIRS),$(wildcard $(d)/*.c)) $(wildcard store/*.c) $(filter-out lua/main.c,$(wildcard lua/*.c))
LIB_OBJS  = $(patsubst %.c,build/%.o,$(LIB_SRCS))
TEST_SRCS = $(wildcard tests/t-*.c)
TESTS     = $(patsubst tests/%.c,build/tests/%,$(TEST_SRCS))
SCRIPT_TESTS = $(wildcard tests/t-*.lua tests/t-*.sh)

all: bin/rill lib/rill/core.so $(TESTS)

build/%.o: %.c build/cflags
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(WARN) $(RILL_CFLAGS) -fPIC $(CPPFLAGS) -MMD -MP -c -o $@ $<

build/librill.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

bin/rill: build/lua/main.o build/librill.a
	@mkdir -p bin
	$(CC) $(RILL_CFLAGS) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

# The module for a plain lua5.4 interpreter: `require "rill"` loads lua/rill/init.lua, which
# loads this as rill.core. It takes the Lua API from the interpreter, so liblua is not linked.
lib/rill/core.so: $(LIB_OBJS)
	@mkdir -p lib/rill
	$(CC) $(RILL_CFLAGS) $(LDFLAGS) -shared -o $@ $^ $(filter-out -llua5.4,$(LDLIBS))

build/tests/%: tests/%.c build/librill.a tests/tap.h tests/tmpfiles.h build/cflags
	@mkdir -p build/tests
	@echo "  CC      $<"
	@$(CC) $(WARN) $(RILL_CFLAGS) $(CPPFLAGS) -Itests -o $@ $< build/librill.a $(LDFLAGS) $(LDLIBS)

deps:
	@tools/install-deps.sh

test: deps
	@$(MAKE) --no-print-directory all
	$(PROVE) -j$(JOBS) --exec tools/run-test $(TESTS) $(SCRIPT_TESTS)

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer, in their own build tree.
check: deps
	@$(MAKE) --no-print-directory clean
	@$(MAKE) --no-print-directory test CFLAGS="-O1 -g -march=native -fsanitize=address,undefined \
	  -fno-omit-frame-pointer -fno-sanitize-recover=all" LDFLAGS="-fsanitize=address,undefined"
	@$(MAKE) --no-print-directory clean

demo: deps
	@$(MAKE) --no-print-directory all
	tools/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	tools/bench.sh

# the include graph points one way (store/ knows no graph; core/ no lua/): tools/check-includes.sh
check-includes:
	@tools/check-includes.sh

bench-store: deps
	@$(MAKE) --no-print-directory all
	bin/rill bench store

# the straightforward single-threaded DLRM the benchmark's AUC is compared with (README)
ref: build/ref_dlrm
# (compiled with its own flags, so probed with them, when it is built)
REF_CFLAGS = -O2 -march=native
build/ref_dlrm: tools/ref_dlrm.c
	@mkdir -p build
	$(CC) $(REF_CFLAGS) $(call ccprobe_extra,$(REF_CFLAGS)) -std=c11 -Wall -Wextra -D_GNU_SOURCE -o $@ $< $(PKG_CFLAGS) $(PKG_LIBS) -lm

clean:
	rm -rf build bin lib

-include $(LIB_OBJS:.o=.d) build/lua/main.d

# make fuzz: libFuzzer targets over the readers, the schema loader, the store and exports
-include tests/fuzz/fuzz.mk

.PHONY: all deps test check check-includes demo bench bench-store ref clean
