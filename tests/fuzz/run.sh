#!/bin/sh
# make fuzz's runner: tests/fuzz/run.sh SECONDS TARGET...
# Per target: replays tests/fuzz/regress/TARGET and tests/fuzz/corpus/TARGET (the program
# with the files as arguments: each runs once), then, if SECONDS > 0, fuzzes it that long
# under nice on one core, growing build-fuzz/corpus/TARGET (the committed seeds are read,
# never written). Crashing, leaking and slow inputs go to build-fuzz/artifacts/TARGET/, the
# logs to build-fuzz/logs/. A target whose replay fails is not fuzzed (it would find the same
# input again). Prints a line per target; exits 1 if anything was found. FUZZ_OPTS adds
# libFuzzer options (CI passes -seed=1, so that its short run is the same every time).
set -u
out=${FUZZ_OUT:-build-fuzz}
secs=${1:-60}
shift
[ $# -gt 0 ] || set -- criteo csv libsvm schema lua store store_kv npy datacache
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
opts="-timeout=10 -rss_limit_mb=2048 -detect_leaks=1"
mkdir -p "$out/logs"
failed=0
report=""

say() {
    printf '%s\n' "$1"
    report="$report$1
"
}

# the sanitizer's or libFuzzer's one-line verdict in a log
verdict() {
    grep -m1 -E '^SUMMARY: |ERROR: libFuzzer: |fuzz: engine contract broken' "$1" | cut -c1-200
}

for t in "$@"; do
    bin="$out/fuzz-$t"
    if [ ! -x "$bin" ]; then
        say "$t: no program $bin (make fuzz-build)"
        failed=1
        continue
    fi
    art="$out/artifacts/$t"
    mkdir -p "$out/corpus/$t" "$art"
    extra=""
    [ -f "tests/fuzz/dict/$t.dict" ] && extra="-dict=tests/fuzz/dict/$t.dict"
    case $t in
        lua) extra="$extra -max_len=4096" ;;
        store) extra="$extra -max_len=65536" ;;
    esac

    files=$(find "tests/fuzz/regress/$t" "tests/fuzz/corpus/$t" -type f ! -name '.*' \
        2>/dev/null | sort)
    n=$(printf '%s\n' "$files" | grep -c . || true)
    log="$out/logs/$t.replay.log"
    : >"$log"
    bad=0
    # one process per input: a leak is reported at exit, so this names the input that leaked
    for f in $files; do
        if ! "$bin" $opts -artifact_prefix="$art/" "$f" >"$log.one" 2>&1; then
            say "$t: REPLAY FAILED on $f: $(verdict "$log.one")"
            bad=1
        fi
        cat "$log.one" >>"$log"
    done
    rm -f "$log.one"
    if [ $bad -ne 0 ]; then
        say "$t: not fuzzed: its replay fails (log: $log)"
        failed=1
        continue
    fi
    if [ "$secs" = 0 ]; then
        say "$t: replayed $n inputs: ok"
        continue
    fi

    log="$out/logs/$t.log"
    # shellcheck disable=SC2086
    nice -n 10 "$bin" $opts $extra ${FUZZ_OPTS:-} -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$art/" "$out/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    corpus=$(find "$out/corpus/$t" -type f | wc -l)
    if [ $rc -eq 0 ]; then
        say "$t: replayed $n inputs, then ${execs:-?} executions in ${secs}s (working corpus $corpus inputs): nothing found"
    else
        found=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
        say "$t: FOUND after ${execs:-?} executions: $(verdict "$log") input: ${found:-?} (log: $log)"
        failed=1
    fi
done

printf '\n== fuzz summary ==\n%s' "$report"
exit $failed
