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
CPPFLAGS += -D_GNU_SOURCE -Icore -Istore -Ilua $(PKG_CFLAGS)
LDLIBS  = $(PKG_LIBS) -lpthread -lm

LIB_SRCS  = $(wildcard core/*.c store/*.c) lua/rill.c
LIB_OBJS  = $(patsubst %.c,build/%.o,$(LIB_SRCS))
TEST_SRCS = $(wildcard tests/t-*.c)
TESTS     = $(patsubst tests/%.c,build/tests/%,$(TEST_SRCS))
SCRIPT_TESTS = $(wildcard tests/t-*.lua tests/t-*.sh)

all: bin/rill lib/rill/core.so $(TESTS)

build/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(WARN) $(CFLAGS) -fPIC $(CPPFLAGS) -MMD -MP -c -o $@ $<

build/librill.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

bin/rill: build/lua/main.o build/librill.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

# The module for a plain lua5.4 interpreter: `require "rill"` loads lua/rill/init.lua, which
# loads this as rill.core. It takes the Lua API from the interpreter, so liblua is not linked.
lib/rill/core.so: $(LIB_OBJS)
	@mkdir -p lib/rill
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -o $@ $^ $(filter-out -llua5.4,$(LDLIBS))

build/tests/%: tests/%.c build/librill.a tests/tap.h tests/tmpfiles.h
	@mkdir -p build/tests
	@echo "  CC      $<"
	@$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -Itests -o $@ $< build/librill.a $(LDFLAGS) $(LDLIBS)

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

bench-store: deps
	@$(MAKE) --no-print-directory all
	bin/rill bench store

# the straightforward single-threaded DLRM the benchmark's AUC is compared with (README)
ref: build/ref_dlrm
build/ref_dlrm: tools/ref_dlrm.c
	@mkdir -p build
	$(CC) -O2 -march=native -std=c11 -Wall -Wextra -D_GNU_SOURCE -o $@ $< $(PKG_CFLAGS) $(PKG_LIBS) -lm

clean:
	rm -rf build bin lib

-include $(LIB_OBJS:.o=.d) build/lua/main.d

# make fuzz: libFuzzer targets over the readers, the schema loader, the store and exports
-include tests/fuzz/fuzz.mk

.PHONY: all deps test check demo bench bench-store ref clean
