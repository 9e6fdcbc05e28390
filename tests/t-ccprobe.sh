#!/bin/sh
# The compiler probe (tools/ccprobe/): compiled with the flags the build used (build/cflags:
# CFLAGS and what the probe added) it copies constant arrays right; the probe script gives
# those flags again; and flags were added exactly when the build's CFLAGS alone miscompile it.
# The diagnostics say whether the plain flags, and -O3 -march=native, are affected here.
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh

[ -f build/cflags ] || { echo "1..0 # SKIP no build/cflags: run make first"; exit 0; }
. ./build/cflags
echo "# built by $CC_VERSION"
echo "# with CFLAGS '$CFLAGS', the probe added '${CCPROBE_EXTRA:-nothing}'"

# probe NAME FLAGS: compiles tools/ccprobe/probe.c with FLAGS; $built 0 when it compiled,
# $right 0 when it ran and printed "ok", the output in $T/out
probe() {
    # shellcheck disable=SC2086 # the flags are words
    $CC -std=c11 $2 -o "$T/$1" tools/ccprobe/probe.c $LDFLAGS >"$T/cc.err" 2>&1
    built=$?
    right=1
    if [ "$built" -eq 0 ]; then
        "$T/$1" >"$T/out" 2>&1
        right=$?
    fi
}

probe used "$CFLAGS $CCPROBE_EXTRA"
ok "$built" "the probe compiles with the build's flags" || diag "$T/cc.err"
[ "$right" -eq 0 ] && grep -qx ok "$T/out"
ok $? "with them it copies every constant array right" || diag "$T/out"

run tools/ccprobe/ccprobe.sh "$CC" "$CFLAGS" "$LDFLAGS"
extra=$(cut -d' ' -f2- "$T/out")
[ "$status" -eq 0 ] && [ "$extra" = "$CCPROBE_EXTRA" ]
ok $? "tools/ccprobe/ccprobe.sh gives the same flags for these CFLAGS ('$extra')" || diag "$T/err"

probe plain "$CFLAGS"
if [ "$right" -eq 0 ]; then
    echo "# '$CFLAGS' alone: this compiler copies the probe's arrays right here"
    [ -z "$CCPROBE_EXTRA" ]
    ok $? "nothing was added, as nothing was needed"
else
    echo "# '$CFLAGS' alone: this compiler MISCOMPILES the probe here:"
    diag "$T/out"
    [ -n "$CCPROBE_EXTRA" ]
    ok $? "so the build added '$CCPROBE_EXTRA'"
fi

# the default flags on this machine, for the record (a diagnostic, not a test)
probe native "-O3 -g -march=native"
if [ "$built" -ne 0 ]; then
    echo "# '-O3 -g -march=native' does not compile here: $(head -n 1 "$T/cc.err")"
elif [ "$right" -eq 0 ]; then
    echo "# '-O3 -g -march=native' on this CPU: not affected"
else
    echo "# '-O3 -g -march=native' on this CPU: AFFECTED ($(grep -c '^wrong' "$T/out") wrong copies)"
fi
done_testing
