#!/bin/sh
# ccprobe.sh CC CFLAGS LDFLAGS [STAMP]: the flags to add to CFLAGS so that CC compiles
# tools/ccprobe/probe.c right, on this machine. The Makefile runs it while reading itself, before building
# anything; run from the repository's root.
#
# Prints on stdout one line: a key naming the compiler, flags and machine, then the flags to
# add (none when the compiler is unaffected), or "FAIL" in their place when no remedy works.
# On stderr, one line saying what it found: on every call when flags are added (unless
# RILL_CCPROBE_SAID is the key: a make that runs make says it once), else only when it
# probed. The answer is cached in build/ccprobe/KEY, so later builds cost a few compiler
# calls that print versions and macros. The key covers the compiler and its version, CFLAGS,
# LDFLAGS, what -march=native etc. expand to (the predefined macros), the CPU (model and
# flags from /proc/cpuinfo) and this script and the probe, so a new machine, compiler or
# flags probe again.
#
# The remedies, cheapest first: -mstore-max=128 keeps every AVX-512 instruction and only
# stops the compiler storing constants in pieces wider than 16 bytes (where gcc 12.2 goes
# wrong); -mno-avx512f gives up AVX-512 altogether. The first one the probe passes with is used.
# With STAMP (the Makefile passes build/cflags) it also writes there, only when it changes (so
# objects depending on it rebuild when, and only when, the flags or what they mean do: moving
# to a machine where -march=native expands differently rebuilds), the compiler and flags the
# build uses, for tests/t-ccprobe.sh and tools/bench.sh.
cc=$1 cflags=$2 ldflags=$3 stamp=${4-}
dir=tools/ccprobe
cache=build/ccprobe
remedies="-mstore-max=128 -mno-avx512f"

version=$($cc --version 2>/dev/null | head -n 1)
[ -n "$version" ] || version="$cc (no --version)"
# shellcheck disable=SC2086 # the flags are words
macros=$($cc $cflags -E -dM -x c /dev/null 2>&1 | LC_ALL=C sort)
key=$( {
    echo "$cc" "$version"
    echo "$cflags"
    echo "$ldflags"
    echo "$macros"
    grep -m 1 '^model name' /proc/cpuinfo 2>/dev/null
    grep -m 1 '^flags' /proc/cpuinfo 2>/dev/null
    cat "$dir/probe.c" "$0"
} | cksum | tr ' ' '-')

mkdir -p "$cache"
# the compiler as the message names it: "gcc 12.2.0", "cc (gcc 12.2.0)", "clang-14 (clang 14.0.6)"
m() { echo "$macros" | sed -n "s/^#define $1 //p"; }
if [ -n "$(m __clang__)" ]; then
    short="clang $(m __clang_major__).$(m __clang_minor__).$(m __clang_patchlevel__)"
elif [ -n "$(m __GNUC__)" ]; then
    short="gcc $(m __GNUC__).$(m __GNUC_MINOR__).$(m __GNUC_PATCHLEVEL__)"
else
    short=$(echo "$version" | sed 's/ (.*)//')
fi
case $short in "$cc "*) ;; *) short="$cc ($short)" ;; esac
if [ -f "$cache/$key" ]; then
    extra=$(sed -n 1p "$cache/$key")
    note=$(sed -n 2p "$cache/$key")
    probed=0
else
    probed=1
    exe=$cache/probe-$$
    # probe CFLAGS: 0 when the probe builds and gives the right answer, 1 when it gives a
    # wrong one, 2 when it does not build (a flag this compiler lacks), 3 when it does not
    # run to its end (flags for another CPU)
    probe() {
        # shellcheck disable=SC2086
        $cc -std=c11 $1 -o "$exe" "$dir/probe.c" $ldflags >"$exe.log" 2>&1 || return 2
        "$exe" >"$exe.out" 2>&1 && return 0
        grep -q '^wrong' "$exe.out" && return 1
        return 3
    }
    probe "$cflags"
    rc=$?
    if [ $rc -eq 0 ]; then
        extra=
        note="ccprobe: $short with '$cflags' copies constant arrays right; no flags added"
    elif [ $rc -eq 2 ]; then
        extra=
        note="ccprobe: warning: the probe does not build with $short and '$cflags' ($(head -n 1 "$exe.log")); no flags added"
    elif [ $rc -eq 3 ]; then
        extra=
        note="ccprobe: warning: the probe built with $short and '$cflags' does not run on this machine, so it cannot tell whether the compiler is affected; no flags added"
    else
        wrong=$(grep -c '^wrong' "$exe.out")
        extra=FAIL
        for r in $remedies; do
            if probe "$cflags $r"; then
                extra=$r
                break
            fi
        done
        if [ "$extra" = FAIL ]; then
            note="ccprobe: error: $short with '$cflags' miscopies constant arrays ($wrong of the probe's copies wrong; tools/ccprobe/probe.c) and no remedy ($remedies) fixes it: build with other CFLAGS or another compiler"
        else
            note="ccprobe: $short with '$cflags' miscopies constant arrays ($wrong of the probe's copies wrong; tools/ccprobe/probe.c): adding $extra, with which it copies them right"
        fi
    fi
    rm -f "$exe" "$exe.log" "$exe.out"
    printf '%s\n%s\n' "$extra" "$note" >"$cache/$key.$$" && mv "$cache/$key.$$" "$cache/$key"
fi

if [ "$probed" -eq 1 ] || { [ -n "$extra" ] && [ "${RILL_CCPROBE_SAID-}" != "$key" ]; }; then
    echo "$note" >&2
fi

# the stamp, shell assignments, rewritten only when it changes
q() { printf "%s='%s'\n" "$1" "$(printf '%s' "$2" | sed "s/'/'\\\\''/g")"; }
if [ -n "$stamp" ] && [ "$extra" != FAIL ]; then
    # CC_TARGET: what the flags mean here (-march=native on another CPU is other code)
    { q CC "$cc"; q CC_VERSION "$version"; q CFLAGS "$cflags"; q CCPROBE_EXTRA "$extra"
      q LDFLAGS "$ldflags"; q CC_TARGET "$(echo "$macros" | cksum | cut -d' ' -f1)"; } >"$stamp.$$"
    if cmp -s "$stamp.$$" "$stamp"; then rm -f "$stamp.$$"; else mv "$stamp.$$" "$stamp"; fi
fi
echo "$key $extra"
