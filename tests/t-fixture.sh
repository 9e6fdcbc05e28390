#!/bin/sh
# Runs written by an earlier build keep loading (tests/fixtures/format3/README.md says how they
# were made): the same parameter digest, the run state read back (step, finished), the node
# state loaded (CEL's clusters, the IPW counts) and evaluated to the AUCs of the build that
# wrote them, and a resume that reads the run state and says the run is finished.
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh
F=tests/fixtures/format3
$R gen criteo --rows 3000 --seed 21 --max-cardinality 200 --entity-clusters 8 --out "$T/c.tsv" 2>/dev/null &&
    $R gen multitask --rows 2000 --seed 22 --out "$T/m.csv" 2>/dev/null
ok $? "the fixtures' data regenerated from their seeds"
# the runs' settings name their data as /tmp/fx/c.tsv and /tmp/fx/m.csv, where they were made,
# and resume runs the pipeline, which opens it: the same files are put there for the test
# (and removed after it) when nothing is there already
FX=
if [ ! -e /tmp/fx ]; then
    FX=/tmp/fx
    mkdir -p "$FX" && cp "$T/c.tsv" "$T/m.csv" "$FX/"
    trap 'rm -rf "$FX" "$T"' EXIT
fi

check() { # check NAME DIGEST STEP DATA AUC-LINE-PATTERN
    name=$1 digest=$2 step=$3 data=$4 auc=$5
    cp -r "$F/$name" "$T/$name" # a copy: the committed files stay as they are
    run $R inspect "$T/$name" --digest
    grep -q "^digest: $digest\$" "$T/out"
    ok $? "$name: the parameter digest of the build that wrote it ($digest)" || diag "$T/out" "$T/err"
    run $R inspect "$T/$name"
    grep -q "step $step, epoch 1, finished" "$T/out"
    ok $? "$name: its run state reads back (step $step, finished)" || diag "$T/out" "$T/err"
    run $R eval "$T/$name" --data "$T/$data"
    [ "$status" -eq 0 ] && grep -q "$auc" "$T/err" "$T/out"
    ok $? "$name: evaluates as it did ($auc)" || diag "$T/out" "$T/err"
    run $R resume "$T/$name"
    [ "$status" -eq 0 ] && $R inspect "$T/$name" --digest | grep -q "^digest: $digest\$"
    ok $? "$name: resume reads the run state and changes nothing" || diag "$T/out" "$T/err"
}
check cel a3c1a5e970197b23 22 c.tsv "click: auc 0.735"
check stem 4afe73e677c58316 8 m.csv "t1: auc 0.608"
done_testing
