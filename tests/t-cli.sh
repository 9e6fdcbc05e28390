#!/bin/sh
# bin/rill's command line: usage and version; rill gen criteo and multitask (same seed, same
# bytes; their layouts; bad options refused without leaving a file); rill train writing a run
# directory; rill eval and rill predict on it; their errors; and reproducibility: the same
# command with the same seed and thread count gives the same parameters and predictions, bit
# for bit.
# Everything is written under a mktemp directory that is removed at the end.
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh

# ---- usage, version

run $R
[ "$status" -eq 2 ] && grep -q '^usage: rill' "$T/err" && [ ! -s "$T/out" ]
ok $? "no arguments: usage on stderr, exit 2"
run $R help
[ "$status" -eq 0 ] && grep -q '^usage: rill' "$T/out" && grep -q 'rill train' "$T/out" &&
    grep -q 'rill eval' "$T/out" && grep -q 'rill predict' "$T/out" && grep -q 'rill gen' "$T/out"
ok $? "help: usage naming train, eval, predict, gen on stdout, exit 0"
run $R --help
[ "$status" -eq 0 ] && grep -q '^usage: rill' "$T/out"
ok $? "--help: the same"
run $R version
[ "$status" -eq 0 ] && grep -Eq '^rill [0-9]+\.[0-9]+\.[0-9]+$' "$T/out"
ok $? "version: 'rill X.Y.Z', exit 0" || diag "$T/out"
fails "unknown command" "unknown command 'trian'" $R trian pipelines/dlrm.lua

# ---- gen

F=$T/data.tsv
run $R gen criteo --rows 2000 --seed 5 --out "$F"
ok $? "gen criteo --rows 2000 --seed 5: exit 0" || diag "$T/err"
run $R gen criteo --rows 2000 --seed 5 --out "$T/again.tsv"
cmp -s "$F" "$T/again.tsv"
ok $? "gen: the same seed gives the same bytes"
run $R gen criteo --rows 2000 --seed 6 --out "$T/other.tsv"
! cmp -s "$F" "$T/other.tsv"
ok $? "gen: another seed gives other data"
[ "$(wc -l <"$F")" -eq 2000 ]
ok $? "gen: 2000 lines"
awk -F '\t' 'NF != 40 || ($1 != "0" && $1 != "1") { bad++ } END { exit bad > 0 }' "$F"
ok $? "gen: every line has 40 tab-separated fields and a 0/1 label"
awk -F '\t' '{ for (i = 2; i <= 14; i++) if ($i != "" && $i !~ /^-?[0-9]+$/) bad++;
               for (i = 15; i <= 40; i++) if ($i != "" && !(length($i) == 8 && $i ~ /^[0-9a-f]+$/)) bad++ }
             END { exit bad > 0 }' "$F"
ok $? "gen: I1..I13 are empty or integers, C1..C26 empty or 8 hex digits"
run $R gen criteo --rows 5 --seed 5 --out -
[ "$status" -eq 0 ] && head -n 5 "$F" | cmp -s - "$T/out"
ok $? "gen --out -: the same rows on stdout"

fails "gen without a data set" "which data set" $R gen --rows 10 --out "$T/g1"
fails "gen of an unknown data set" "unknown data set 'avazu'" $R gen avazu --rows 10 --out "$T/g1"
fails "gen without --rows" "--rows N is required" $R gen criteo --out "$T/g1"
fails "gen without --out" "--out FILE is required" $R gen criteo --rows 10
fails "gen --rows abc" "--rows abc: expected a number" $R gen criteo --rows abc --out "$T/g1"
fails "gen --rows 1.5" "--rows 1.5: expected a whole number" $R gen criteo --rows 1.5 --out "$T/g1"
fails "gen --rows 0" "--rows 0: expected at least 1" $R gen criteo --rows 0 --out "$T/g1"
fails "gen --max-cardinality 2" "--max-cardinality 2 is out of range" \
    $R gen criteo --rows 10 --max-cardinality 2 --out "$T/g1"
fails "gen --interaction 500" "--interaction = 500 is out of range" \
    $R gen criteo --rows 10 --interaction 500 --out "$T/g1"
fails "gen --bogus" "unknown option --bogus" $R gen criteo --rows 10 --bogus 1 --out "$T/g1"
fails "gen --rows without a value" "option --rows needs a value" $R gen criteo --out "$T/g1" --rows
fails "gen into a missing directory" "$T/no/such/dir/x.tsv: cannot write" \
    $R gen criteo --rows 10 --out "$T/no/such/dir/x.tsv"
[ ! -e "$T/g1" ]
ok $? "gen: no file left behind by the refused commands"

M=$T/mt.csv
run $R gen multitask --rows 2000 --seed 5 --out "$M"
ok $? "gen multitask --rows 2000 --seed 5: exit 0" || diag "$T/err"
run $R gen multitask --rows 2000 --seed 5 --out "$T/mt-again.csv"
cmp -s "$M" "$T/mt-again.csv"
ok $? "gen multitask: the same seed gives the same bytes"
run $R gen multitask --rows 2000 --seed 5 --sample 1 --out "$T/mt-sample.csv"
[ "$status" -eq 0 ] && ! cmp -s "$M" "$T/mt-sample.csv" &&
    [ "$(head -n 1 "$M")" = "$(head -n 1 "$T/mt-sample.csv")" ]
ok $? "gen multitask --sample 1: other rows under the same header" || diag "$T/err"
[ "$(head -n 1 "$M")" = "t1,t2,repeats,user,C1,C2,C3,C4,C5,C6,C7,C8,I1,I2,I3,I4" ] &&
    [ "$(wc -l <"$M")" -eq 2001 ]
ok $? "gen multitask: a header line and 2000 rows"
awk -F , 'NR > 1 && (NF != 16 || $1 !~ /^[01]$/ || $2 !~ /^[01]$/ || $3 !~ /^[0-5]$/) { bad++ }
          END { exit bad > 0 }' "$M"
ok $? "gen multitask: every row has 16 fields, labels 0/1, repeats 0..5"
run $R gen multitask --rows 2000 --seed 5 --repeat-rate 0 --correlation 0.9 --rates 0.2,0.05 \
    --repeat-lift 1 --out "$T/mt-norep.csv"
[ "$status" -eq 0 ] && awk -F , 'NR > 1 && $3 != "0" { bad++ } END { exit bad > 0 }' "$T/mt-norep.csv"
ok $? "gen multitask --repeat-rate 0 (and every other option): no repeats" || diag "$T/err"

fails "gen multitask without --rows" "rill gen multitask: --rows N is required" \
    $R gen multitask --out "$T/g2"
fails "gen multitask --rates with one number" "--rates 0.1: expected two numbers P1,P2" \
    $R gen multitask --rows 10 --rates 0.1 --out "$T/g2"
fails "gen multitask --rates x,y" "--rates x,y: expected two numbers" \
    $R gen multitask --rows 10 --rates x,y --out "$T/g2"
fails "gen multitask --rates 0.7,0.03" "--rates: rate1 0.7 is out of range (0, 0.5]" \
    $R gen multitask --rows 10 --rates 0.7,0.03 --out "$T/g2"
fails "gen multitask --rates 0.1,0" "--rates: rate2 0 is out of range (0, 0.5]" \
    $R gen multitask --rows 10 --rates 0.1,0 --out "$T/g2"
fails "gen multitask --correlation 2" "--correlation 2 is out of range [-1, 1]" \
    $R gen multitask --rows 10 --correlation 2 --out "$T/g2"
fails "gen multitask --repeat-rate 1" "--repeat-rate 1 is out of range [0, 1)" \
    $R gen multitask --rows 10 --repeat-rate 1 --out "$T/g2"
fails "gen multitask --repeat-lift 11" "--repeat-lift 11 is out of range [0, 10]" \
    $R gen multitask --rows 10 --repeat-lift 11 --out "$T/g2"
fails "gen multitask --max-cardinality" "unknown option --max-cardinality" \
    $R gen multitask --rows 10 --max-cardinality 100 --out "$T/g2"
fails "gen without a data set names both" "(known: criteo, multitask)" $R gen
[ ! -e "$T/g2" ] && [ ! -e "$T/g2.tmp" ]
ok $? "gen multitask: no file left behind by the refused commands"

# ---- train

SMALL="--set train.epochs=1 --set embed.buckets=4096 --set mlp.bottom=32 --set mlp.top=32"
RUN=$T/run
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua --data "$F" $SMALL --run "$RUN"
ok $? "train pipelines/dlrm.lua: exit 0" || diag "$T/err"
grep -q "done: run saved in $RUN" "$T/err"
ok $? "train: says where the run is saved"
for f in store.mdb metrics.jsonl meta.lua pipeline.lua; do
    [ -s "$RUN/$f" ]
    ok $? "train: wrote $f"
done
cmp -s "$RUN/pipeline.lua" pipelines/dlrm.lua
ok $? "train: pipeline.lua is the script that ran"
perl -MJSON::PP -e '
    my ($lines, $valid) = (0, 0);
    while (<>) {
        my $r = eval { decode_json($_) } or die "line $.: not JSON: $_";
        die "line $.: no step\n" unless defined $r->{step};
        $lines++;
        if (($r->{split} // "") eq "valid") {
            die "line $.: auc $r->{auc} not in (0, 1)\n" unless $r->{auc} > 0 && $r->{auc} < 1;
            die "line $.: no logloss\n" unless $r->{logloss} > 0;
            $valid++;
        }
    }
    die "no validation line\n" unless $valid;
' "$RUN/metrics.jsonl" 2>"$T/err"
ok $? "train: metrics.jsonl is JSON lines with a validation auc and logloss" || diag "$T/err" "$RUN/metrics.jsonl"
cat >"$T/meta-check.lua" <<'EOF'
local m = dofile(arg[1])
assert(m.script == "pipelines/dlrm.lua", "script: " .. tostring(m.script))
assert(m.data == arg[2], "data: " .. tostring(m.data))
assert(#m.set == 4 and m.set[1][1] == "train.epochs" and m.set[1][2] == "1", "set")
assert(m.version and m.version ~= "", "version")
EOF
run $R run "$T/meta-check.lua" "$RUN/meta.lua" "$F"
ok $? "train: meta.lua records the script, the data and the --set values" || diag "$T/err"

# ---- eval, predict

run $R eval "$RUN" --data "$F"
[ "$status" -eq 0 ] &&
    grep -Eq 'auc 0\.[0-9]+ +logloss [0-9]+\.[0-9]+ +\(2000 rows' "$T/out"
ok $? "eval: prints auc and logloss over the 2000 rows on stdout" || diag "$T/out" "$T/err"
P=$T/pred.txt
run $R predict "$RUN" --data "$F" --out "$P"
ok $? "predict --out: exit 0" || diag "$T/err"
[ "$(wc -l <"$P")" -eq 2000 ]
ok $? "predict: one line per data line"
awk '!($1 ~ /^[0-9.e-]+$/ && $1 + 0 > 0 && $1 + 0 < 1 && NF == 1) { bad++ } END { exit bad > 0 }' "$P"
ok $? "predict: each line is one probability in (0, 1)"
[ "$(sort -u "$P" | wc -l)" -gt 100 ]
ok $? "predict: the probabilities differ between examples"
run $R predict "$RUN" --data "$F"
[ "$status" -eq 0 ] && cmp -s "$P" "$T/out"
ok $? "predict without --out: the same lines on stdout"

fails "eval of a missing run" "$T/nope has no store (store.mdb)" $R eval "$T/nope" --data "$F"
run $R eval "$RUN"
[ "$status" -eq 0 ] && grep -q "its validation part" "$T/out" && grep -q "auc" "$T/out"
ok $? "eval without --data: the run's own validation part" || diag "$T/err"
fails "predict without --data" "--data PATH is required" $R predict "$RUN"
fails "eval without a run" "which run directory" $R eval
fails "eval on a missing data file" "$T/missing.tsv: cannot open" $R eval "$RUN" --data "$T/missing.tsv"
fails "predict into a missing directory" "cannot write predictions" \
    $R predict "$RUN" --data "$F" --out "$T/no/such/p.txt"
mkdir "$T/half" && cp "$RUN/meta.lua" "$RUN/pipeline.lua" "$T/half/"
fails "eval on a run without its store" "has no store (store.mdb)" $R eval "$T/half" --data "$F"
head -c 5000 "$RUN/store.mdb" >"$T/half/store.mdb"
fails "eval on a truncated store" "too short for a store" $R eval "$T/half" --data "$F"
head -c 100000 /dev/urandom >"$T/half/store.mdb"
fails "eval on random bytes" "is not an LMDB store" $R eval "$T/half" --data "$F"

# a start that fails leaves an existing run as it was
cp "$RUN/meta.lua" "$T/meta.before"
# shellcheck disable=SC2086
fails "train with epochs = 0" "argument 'epochs' = 0 is out of range" \
    $R train pipelines/dlrm.lua --data "$F" $SMALL --set train.epochs=0 --run "$RUN"
cmp -s "$T/meta.before" "$RUN/meta.lua"
ok $? "train: a failed start leaves the run's meta.lua as it was"
fails "train with an unknown --set" "--set train.epoch: no such setting in pipelines/dlrm.lua:6" \
    $R train pipelines/dlrm.lua --data "$F" --set train.epoch=1 --run "$T/r-bad"
[ ! -e "$T/r-bad" ]
ok $? "train: a failed start makes no run directory"
fails "train without a script" "which script?" $R train
fails "train of a missing script" "cannot open $T/none.lua" $R train "$T/none.lua"
fails "train --threads x" "--threads x: expected a whole number" $R train pipelines/dlrm.lua --threads x
fails "train --set without =" "--set epochs: expected key=value" $R train pipelines/dlrm.lua --set epochs

# a script run by rill train must build a training run; rill run runs anything
printf 'local rill = require "rill"\nlocal cfg = rill.config{ x = 1 }\n' >"$T/notrain.lua"
fails "train of a script that never calls rill.train" \
    "$T/notrain.lua: the script built no training run (rill.train was never called)" \
    $R train "$T/notrain.lua" --run "$T/r-notrain"
run $R run "$T/notrain.lua"
[ "$status" -eq 0 ] && [ ! -s "$T/err" ]
ok $? "run of the same script: exit 0, no complaint" || diag "$T/err"

run $R export "$RUN" --out "$T/exp"
ok $? "export of the run" || diag "$T/err"
printf 'local rill = require "rill"\nlocal g = rill.graph\n' >"$T/exp/pipeline.lua"
fails "predict with an export whose pipeline never calls rill.train" \
    "$T/exp/pipeline.lua: the script built no model to predict with (rill.train was never called)" \
    $R predict "$T/exp" --data "$F"

# --run DIR that holds other files than a run's: refused unless --force
$R help | grep -q -- '\[--force\]' && $R help | grep -q 'refused unless --force'
ok $? "help: documents train --force"
mkdir "$T/notes" && echo "keep me" >"$T/notes/notes.txt" && echo "me too" >"$T/notes/pipeline.lua"
# shellcheck disable=SC2086
fails "train --run into a directory that is not a run" \
    "$T/notes exists and is not a Rill run directory (no store.mdb; it holds notes.txt)" \
    $R train pipelines/dlrm.lua --data "$F" $SMALL --run "$T/notes"
grep -q 'pass --force' "$T/err" && [ "$(cat "$T/notes/notes.txt")" = "keep me" ] &&
    [ "$(cat "$T/notes/pipeline.lua")" = "me too" ] && [ ! -e "$T/notes/store.mdb" ]
ok $? "train refused: says --force, wrote nothing there" || diag "$T/err"
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua --data "$F" $SMALL --run "$T/notes" --force
[ "$status" -eq 0 ] && [ -s "$T/notes/store.mdb" ] && [ "$(cat "$T/notes/notes.txt")" = "keep me" ]
ok $? "train --force: trains there (its own files written, others kept)" || diag "$T/err"
mkdir "$T/empty"
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua --data "$F" $SMALL --run "$T/empty"
ok $? "train --run into an empty directory: fine" || diag "$T/err"
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua --data "$F" $SMALL --run "$T/empty"
ok $? "train --run into an earlier run: trains it anew, as before" || diag "$T/err"
echo x >"$T/afile"
# shellcheck disable=SC2086
fails "train --run naming a file" "$T/afile is a file, not a run directory" $R train pipelines/dlrm.lua --data "$F" $SMALL --run "$T/afile"

# ---- no shell: rill bench's --data directory is made as named, nothing in it is run
# (from a directory without pipelines/, so that the benchmark stops right after making the
# data: "cannot open pipelines/dlrm.lua")
mkdir "$T/bench"
nl='
'
hostile="d ;touch PWNED1; \$(touch PWNED2) \`touch PWNED3\` 'q' \"dq\"${nl}touch PWNED4${nl}/-rf/x.tsv"
(cd "$T/bench" && "$OLDPWD/$R" bench dlrm --rows 10000 --data "$hostile" >"$T/out" 2>"$T/err")
status=$?
[ "$status" -eq 1 ] && grep -q 'pipelines/dlrm.lua' "$T/err" && [ "$(wc -l <"$T/bench/$hostile")" -eq 10000 ]
ok $? "bench dlrm --data with a hostile directory name: made as named, the data generated there" ||
    diag "$T/err"
[ -z "$(find "$T/bench" "$T" -maxdepth 1 -name 'PWNED*')" ] && [ ! -e PWNED1 ]
ok $? "bench dlrm --data with a hostile directory name: nothing run (no PWNED marker)" || ls "$T/bench" | diag

# ---- reproducibility: same seed and thread count, same bits

# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua --data "$F" $SMALL --run "$T/run2"
ok $? "train again, the same command: exit 0" || diag "$T/err"
digest() { $R inspect "$1" --digest 2>/dev/null | sed -n 's/^digest: //p'; }
[ -n "$(digest "$RUN")" ] && [ "$(digest "$RUN")" = "$(digest "$T/run2")" ]
ok $? "the same command: the same parameters (store digest)"
run $R predict "$T/run2" --data "$F" --out "$T/pred2.txt"
cmp -s "$P" "$T/pred2.txt"
ok $? "the same command: the same predictions"

# more steps (batches of 256) to give the threads something to disagree on
for threads in 1 2; do
    for i in a b; do
        # shellcheck disable=SC2086
        run $R train pipelines/dlrm.lua --data "$F" $SMALL --set train.batch=256 --set train.epochs=2 \
            --threads $threads --run "$T/t$threads$i"
        ok $? "train --threads $threads ($i): exit 0" || diag "$T/err"
        $R predict "$T/t$threads$i" --data "$F" --out "$T/p$threads$i" 2>/dev/null
    done
    [ "$(digest "$T/t${threads}a")" = "$(digest "$T/t${threads}b")" ] && cmp -s "$T/p${threads}a" "$T/p${threads}b"
    ok $? "--threads $threads twice: the same parameters and predictions"
done
# the runs trained (14 steps), so agreement is not that of untouched initial values
! cmp -s "$T/p1a" "$P"
ok $? "the longer runs predict otherwise than the one-step run"

done_testing
