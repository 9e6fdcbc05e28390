#!/bin/sh
# Installs what `make fuzz` needs on Debian 12 when something is missing; quiet when all is
# there. clang 14 compiles the engine and the targets; libclang-rt-14-dev holds the libFuzzer
# runtime (libclang_rt.fuzzer-x86_64.a) and the sanitizers' runtimes; llvm-14 holds
# llvm-symbolizer, which turns the sanitizers' stack traces into file:line. The engine's own
# libraries come from tools/install-deps.sh, run first. Run as root, or as a user with sudo.
set -e
PKGS="clang-14 libclang-rt-14-dev llvm-14"
dir=$(dirname "$0")
"$dir/install-deps.sh"

CLANG=${FUZZ_CC:-clang-14}
missing=""
command -v "$CLANG" >/dev/null 2>&1 || missing="$CLANG"
command -v llvm-symbolizer-14 >/dev/null 2>&1 || command -v llvm-symbolizer >/dev/null 2>&1 ||
    missing="$missing llvm-symbolizer"
if [ -z "$missing" ]; then
    # the compiler is there: can it link a libFuzzer program with the sanitizers?
    t=$(mktemp -d)
    printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$t/f.c"
    "$CLANG" -fsanitize=fuzzer,address,undefined -o "$t/f" "$t/f.c" >/dev/null 2>&1 ||
        missing="libFuzzer runtime"
    rm -rf "$t"
fi
[ -z "$missing" ] && exit 0

# shellcheck disable=SC2086
exec "$(dirname "$0")/apt-install.sh" "fuzzing dependencies" "$missing" $PKGS
