# The shell tests' TAP helpers, sourced from the repository's root by tests/t-*.sh:
#   cd "$(dirname "$0")/.." || exit 1
#   . tests/tap.sh
# R is bin/rill; T a temporary directory removed at exit (a test with its own EXIT trap sets
# it after sourcing and removes "$T" there). done_testing prints the plan and the status.
R=bin/rill
T=$(mktemp -d "${TMPDIR:-/tmp}/rill-test-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
# the data caches the tests' runs write go with the test's directory
[ -n "${RILL_CACHE_DIR:-}" ] || { RILL_CACHE_DIR=$T/cache; export RILL_CACHE_DIR; }
trap 'exit 1' INT TERM

n=0 failed=0
ok() { # ok STATUS NAME: passes when STATUS is 0
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else failed=$((failed + 1)); echo "not ok $n - $2"; fi
    return "$1"
}
# todo STATUS NAME WHY: a test of something not done yet (TAP "# TODO"): its failure does not
# fail the file, and prove reports it when it starts to pass
todo() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2 # TODO $3"; else echo "not ok $n - $2 # TODO $3"; fi
    return "$1"
}
# skip WHY: a test that cannot run here (TAP "# SKIP")
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
diag() { sed 's/^/#   /' "$@"; }
run() { # run CMD...: $status, stdout in $T/out, stderr in $T/err
    "$@" >"$T/out" 2>"$T/err"
    status=$?
}
# fails NAME NEEDLE CMD...: CMD exits with 1 (an error, not a signal), its first line of
# stderr starts "rill: ", and stderr says NEEDLE
fails() {
    name=$1 needle=$2
    shift 2
    run "$@"
    [ "$status" -eq 1 ] && head -n 1 "$T/err" | grep -q '^rill: ' && grep -qF -- "$needle" "$T/err"
    ok $? "$name: exit 1 with '$needle'" || { echo "#   status $status, stderr:"; diag "$T/err"; }
}
done_testing() {
    echo "1..$n"
    [ "$failed" -eq 0 ] || echo "# Looks like you failed $failed test(s) of $n."
    [ "$failed" -eq 0 ]
}
