# libFuzzer targets (tests/fuzz/README.md). Included by the top-level Makefile.
#   make fuzz                  builds with clang, replays tests/fuzz/regress and the seed corpora,
#                              then fuzzes every target FUZZ_SECONDS seconds, one after another
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="csv npy"
#   make fuzz-build            the target programs only (build-fuzz/fuzz-NAME)
#   make fuzz-replay           only the replay of the regress and corpus inputs
# The engine is compiled again with clang, the sanitizers and the fuzzer's coverage into
# build-fuzz/, apart from the gcc build in build/.

FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= criteo csv libsvm schema lua store store_kv npy datacache
FUZZ_OUT      = build-fuzz
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# gcc's warnings (make, -Werror) guard the code; clang's own differ (it calls NAN a float
# promoted to double), so here they are shown and do not stop the build
FUZZ_WARN     = $(filter-out -Werror,$(WARN)) -Wno-double-promotion
FUZZ_ARCH    ?= -march=native
FUZZ_OBJS     = $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(LIB_SRCS))
FUZZ_ALL      = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS     = $(patsubst %,$(FUZZ_OUT)/fuzz-%,$(FUZZ_ALL))

$(FUZZ_OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(FUZZ_WARN) -O1 -g $(FUZZ_ARCH) $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(CPPFLAGS) \
	  -MMD -MP -c -o $@ $<

$(FUZZ_OUT)/librill.a: $(FUZZ_OBJS)
	@rm -f $@
	@echo '*' >$(FUZZ_OUT)/.gitignore # the tree ignores itself: the top .gitignore stays as it is
	@$(AR) rcs $@ $^

$(FUZZ_OUT)/fuzz-%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_OUT)/librill.a
	@echo "  FUZZLD  $@"
	@$(FUZZ_CC) $(FUZZ_WARN) -O1 -g $(FUZZ_ARCH) $(FUZZ_SAN) -fsanitize=fuzzer $(CPPFLAGS) -Itests/fuzz \
	  -MMD -MP -o $@ $< $(FUZZ_OUT)/librill.a $(LDLIBS)

fuzz-deps:
	@tools/install-fuzz-deps.sh

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_OUT=$(FUZZ_OUT) tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-replay: fuzz-build
	@FUZZ_OUT=$(FUZZ_OUT) tests/fuzz/run.sh 0 $(FUZZ_TARGETS)

fuzz-clean:
	rm -rf $(FUZZ_OUT)

-include $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d)

.PHONY: fuzz fuzz-deps fuzz-build fuzz-replay fuzz-clean
