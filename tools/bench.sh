#!/bin/sh
# make bench: the DLRM throughput benchmark (see lua/rill/bench.lua for what it measures),
# after a line naming the CPU, the compiler and the flags bin/rill was built with (build/cflags,
# written by the compiler probe, tools/ccprobe/).
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
exec bin/rill bench dlrm "$@"
