#!/bin/sh
# make bench: the throughput benchmarks of DLRM and of DCNv2 stacked and parallel (see
# lua/rill/bench.lua for what they measure), after a line naming the CPU, the compiler and the
# flags bin/rill was built with (build/cflags, written by the compiler probe, tools/ccprobe/).
# Where the CPU has AMX-BF16 or AVX512-BF16 each runs again with --precision bf16 and the two
# speeds' ratio is printed.
set -e
cd "$(dirname "$0")/.."
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
isa=$(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1 | tr ' ' '\n' |
      grep -E '^(avx2|fma|avx512f|avx512bw|avx512vl|avx512_bf16|amx_tile)$' | tr '\n' ' ')
echo "cpu: ${cpu:-unknown}, $(nproc) cores (${isa% })"
if [ -f build/cflags ]; then
    . ./build/cflags
    echo "build: $CC_VERSION, CFLAGS $CFLAGS${CCPROBE_EXTRA:+ + $CCPROBE_EXTRA (added by the compiler probe)}"
else
    echo "build: unknown (no build/cflags)"
fi
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
speed() { sed -n 's/^  training  *\([0-9,]*\) examples.*/\1/p' "$1" | tr -d ,; }
bf16=yes
grep -qwE 'amx_bf16|avx512_bf16' /proc/cpuinfo || bf16=no
# RILL_BENCH_MODELS="dlrm" for one model
for model in ${RILL_BENCH_MODELS:-dlrm dcnv2 dcnv2-parallel}; do
    echo
    bin/rill bench "$model" "$@" >"$out" # the progress lines go to stderr as it runs
    cat "$out"
    a=$(speed "$out")
    if [ "$bf16" = no ]; then
        echo "bf16: not run (this CPU has neither AMX-BF16 nor AVX512-BF16)"
        continue
    fi
    bin/rill bench "$model" --precision bf16 "$@" >"$out"
    cat "$out"
    b=$(speed "$out")
    awk -v m="$model" -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%s bf16 / fp32: %.2fx examples/s (target: 2.5x on a CPU with AMX)\n", m, b / a }'
done
