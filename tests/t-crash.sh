#!/bin/sh
# Crashes: a run killed with SIGKILL at random moments (and its resume killed too, in some
# rounds) and resumed to the end equals the run that was never interrupted, bit for bit: the
# same store digest and the same metrics.jsonl, byte for byte; after every kill the store is
# whole (mdb_stat reads it, rill inspect --check passes). Ctrl-C (SIGINT) ends a run with
# status 130 after a checkpoint; a killed run can be evaluated on its last checkpoint; while a
# run trains, no other process may write it.
#
# DLRM on 60,000 generated rows, 3 epochs of 27 steps, a checkpoint every 5 steps and a 1 MiB
# row cache (rows are evicted and spilled), 2 threads (results depend on the thread count).
# The kill delays are drawn from (0, the uninterrupted run's time) with a seed printed as a
# comment; RILL_CRASH_SEED=N sh tests/t-crash.sh draws them again (the moments a kill lands
# on still vary with the machine's load).
#
# At the end, cases where a resumed run could differ from an uninterrupted one:
# early stopping killed after a best evaluation, admission counts, evaluations every N steps.
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh
bg=
trap '[ -n "$bg" ] && kill -9 "$bg" 2>/dev/null; rm -rf "$T"' EXIT
now() { date +%s.%N; }
start() { # start CMD...: CMD in the background, its pid in $bg, its output in $T/bg.*
    "$@" >"$T/bg.out" 2>"$T/bg.err" &
    bg=$!
}
finish() { # finish [SIGNAL]: signals the background command (default KILL) and waits
    kill "-${1:-KILL}" "$bg" 2>/dev/null
    wait "$bg" 2>/dev/null # (without the redirection the shell reports "Killed")
    status=$?
    bg=
}
step_of() { # the step of a run's last checkpoint (0 without one)
    s=$($R inspect "$1" 2>/dev/null | sed -n 's/^run .*: step \([0-9]*\),.*/\1/p')
    echo "${s:-0}"
}
wait_step() { # wait_step RUN N: until the run has checkpointed step N (or the command ended)
    while kill -0 "$bg" 2>/dev/null && [ "$(step_of "$1")" -lt "$2" ]; do sleep 0.02; done
}
kill_mid_checkpoint() { # kill_mid_checkpoint N CMD...: CMD in the background with every
    # background checkpoint held before its commit (RILL_CHECKPOINT_PAUSE), killed once the
    # checkpoint of step N is held there (or the command ended); $status as finish sets it
    held=$1
    shift
    export RILL_CHECKPOINT_PAUSE=2
    start "$@"
    unset RILL_CHECKPOINT_PAUSE
    while kill -0 "$bg" 2>/dev/null && ! grep -q "^checkpoint of step $held: written, committing" "$T/bg.err"; do
        sleep 0.02
    done
    finish KILL
}
digest() { $R inspect "$1" --digest 2>/dev/null | sed -n 's/^digest: //p'; }
whole() { # whole RUN: LMDB reads the file and rill inspect --check passes
    if command -v mdb_stat >/dev/null; then
        mdb_stat -n "$1/store.mdb" >"$T/stat" 2>&1 || { cat "$T/stat" >"$T/err"; return 1; }
    fi
    run $R inspect "$1" --check
    grep -q '^check: the store is sound' "$T/out" && [ "$status" -eq 0 ]
}

F=$T/data.tsv
run $R gen criteo --rows 60000 --seed 5 --max-cardinality 3000 --out "$F"
ok $status "gen: 60,000 rows" || diag "$T/err"
DATA="--data $F --set embed.buckets=65536 --set mlp.bottom=64 --set mlp.top=64 --set train.epochs=3"
FLAGS="--checkpoint-every 5 --cache 1MiB --threads 2"

# ---- the uninterrupted run

t0=$(now)
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua $DATA $FLAGS --run "$T/ref"
secs=$(echo "$t0 $(now)" | awk '{ printf "%.2f", $2 - $1 }')
ok $status "the uninterrupted run: exit 0 (${secs}s)" || diag "$T/err"
REF=$(digest "$T/ref")
[ -n "$REF" ] && [ "$(step_of "$T/ref")" -eq 81 ] && grep -q '"split":"valid"' "$T/ref/metrics.jsonl"
ok $? "reference: 81 steps, digest $REF, metrics with validation lines"
$R inspect "$T/ref" | grep -q ', finished$'
ok $? "reference: inspect says finished"
whole "$T/ref"
ok $? "reference: the store is whole" || diag "$T/err"
# 1 MiB over 26 tables of 96-byte rows is below the least budget a table gets, 1024 rows
big=$($R inspect "$T/ref" | awk '$1 ~ /^emb\./ && $2 > m { m = $2 } END { print m + 0 }')
[ "$big" -gt 1024 ]
ok $? "reference: a table of $big rows, more than its cache holds (rows were evicted)"

SEED=${RILL_CRASH_SEED:-${RANDOM:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}}
echo "# kill delays drawn with seed $SEED (RILL_CRASH_SEED=$SEED sh tests/t-crash.sh)"
# round i kills train after delay i and, in even rounds, its resume after delay i + 4
delays=$(awk -v s="$SEED" -v t="$secs" 'BEGIN { srand(s); for (i = 0; i < 8; i++) printf "%.3f ", rand() * t }')
delay() { echo "$delays" | awk -v i="$1" '{ print $i }'; }

# same RUN NAME: RUN finished equal to the reference
same() {
    [ "$(digest "$1")" = "$REF" ]
    ok $? "$2: the reference digest" || echo "#   digest $(digest "$1"), reference $REF"
    cmp -s "$1/metrics.jsonl" "$T/ref/metrics.jsonl"
    ok $? "$2: metrics.jsonl byte-identical" || diff "$T/ref/metrics.jsonl" "$1/metrics.jsonl" | diag
    whole "$1"
    ok $? "$2: the store is whole (mdb_stat, inspect --check)" || diag "$T/err"
}

# resume_or_train RUN NAME: resumes RUN. A kill in the first tenth of a second or so lands
# before the run has a store (or its description): resume must say so, and the run is trained
# afresh.
resume_or_train() {
    run $R resume "$1" $FLAGS
    if [ "$status" -ne 0 ] && [ ! -s "$1/store.mdb" ] && grep -q 'has no store (store.mdb)' "$T/err"; then
        echo "# $2: killed before the run had a store; resume says so; training afresh"
        # shellcheck disable=SC2086
        run $R train pipelines/dlrm.lua $DATA $FLAGS --run "$1"
    elif [ "$status" -ne 0 ] && grep -q 'does not hold its pipeline' "$T/err"; then
        echo "# $2: killed before the run's description was written; resume says so; training afresh"
        # shellcheck disable=SC2086
        run $R train pipelines/dlrm.lua $DATA $FLAGS --run "$1"
    fi
}

for i in 1 2 3 4; do
    d=$(delay $i)
    RUN=$T/k$i
    # shellcheck disable=SC2086
    start $R train pipelines/dlrm.lua $DATA $FLAGS --run "$RUN"
    sleep "$d"
    finish KILL
    at=$(step_of "$RUN")
    what="round $i: train killed after ${d}s (status $status, step $at)"
    if [ -s "$RUN/store.mdb" ]; then
        whole "$RUN"
        ok $? "$what: the store is whole" || diag "$T/err"
    else
        echo "# $what: no store yet"
    fi
    if [ $((i % 2)) -eq 0 ]; then
        d2=$(delay $((i + 4)))
        start $R resume "$RUN" $FLAGS
        sleep "$d2"
        finish KILL
        at2=$(step_of "$RUN")
        what="round $i: resume killed too, after ${d2}s (status $status, step $at2)"
        if [ -s "$RUN/store.mdb" ]; then
            whole "$RUN"
            ok $? "$what: the store is whole" || diag "$T/err"
        else
            echo "# $what: no store"
        fi
    fi
    resume_or_train "$RUN" "round $i"
    ok $status "round $i: resumed to the end, exit 0" || diag "$T/err"
    same "$RUN" "round $i"
done

# ---- killed while a background checkpoint is being written
# Checkpoints are written by a thread of their own while training goes on. RILL_CHECKPOINT_PAUSE
# holds each one that long between writing its transaction and committing it; killed in that
# window, the run's last checkpoint is the one before, the store is whole, and the resumed run
# ends equal to the reference. Then the same with checkpoints written between steps
# (--checkpoint-sync), which must give the very same run.

RUN=$T/bgk
# shellcheck disable=SC2086
kill_mid_checkpoint 10 $R train pipelines/dlrm.lua $DATA $FLAGS --run "$RUN"
at=$(step_of "$RUN")
[ "$status" -eq 137 ] && grep -q '^checkpoint of step 10: written' "$T/bg.err" && [ "$at" -eq 5 ]
ok $? "killed while the checkpoint of step 10 was written, before it committed: the last checkpoint is step 5 (status $status, step $at)" ||
    diag "$T/bg.err"
whole "$RUN"
ok $? "killed mid-checkpoint: the store is whole" || diag "$T/err"
run $R resume "$RUN" $FLAGS
ok $status "killed mid-checkpoint, resumed: exit 0" || diag "$T/err"
same "$RUN" "killed mid-checkpoint, resumed"
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua $DATA $FLAGS --checkpoint-sync --run "$T/sync"
ok $status "checkpoints between steps (--checkpoint-sync): exit 0" || diag "$T/err"
same "$T/sync" "--checkpoint-sync"

# ---- prefilled tables: checkpoints as generations, folded back a slice at a time
# (store/table_gens.c; the run above grows its tables, which take generations too). Written in
# the background or between steps, the checkpoints give the very same run; killed while a
# background checkpoint is held before its commit (steps 10 and 25, after the fold's own
# transactions committed) and at a random moment, it resumes to its uninterrupted digest.

PDATA="--data $F --set embed.buckets=8192 --set embed.prefill=true --set mlp.bottom=64 --set mlp.top=64 --set train.epochs=3"
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua $PDATA $FLAGS --run "$T/pref"
ok $status "prefilled tables: exit 0" || diag "$T/err"
PREF=$(digest "$T/pref")
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua $PDATA $FLAGS --checkpoint-sync --run "$T/pref-sync"
[ "$(digest "$T/pref-sync")" = "$PREF" ] && cmp -s "$T/pref/metrics.jsonl" "$T/pref-sync/metrics.jsonl"
ok $? "prefilled: --checkpoint-sync gives the same digest and metrics.jsonl" ||
    diff "$T/pref-sync/metrics.jsonl" "$T/pref/metrics.jsonl" | diag
whole "$T/pref"
ok $? "prefilled: the store is whole" || diag "$T/err"
$R inspect "$T/pref" --digest >/dev/null 2>&1 && [ -n "$PREF" ]
ok $? "prefilled: digest $PREF"
for at in 10 25; do
    RUN=$T/pk$at
    # shellcheck disable=SC2086
    kill_mid_checkpoint "$at" $R train pipelines/dlrm.lua $PDATA $FLAGS --run "$RUN"
    last=$(step_of "$RUN")
    [ "$status" -eq 137 ] && [ "$last" -eq $((at - 5)) ]
    ok $? "prefilled: killed while the checkpoint of step $at was written: the last is step $((at - 5)) (step $last)" ||
        diag "$T/bg.err"
    whole "$RUN"
    ok $? "prefilled, killed mid-checkpoint $at: the store is whole" || diag "$T/err"
    run $R resume "$RUN" $FLAGS
    [ "$status" -eq 0 ] && [ "$(digest "$RUN")" = "$PREF" ] && cmp -s "$RUN/metrics.jsonl" "$T/pref/metrics.jsonl"
    ok $? "prefilled, killed mid-checkpoint $at, resumed: its reference digest and metrics" ||
        diag "$T/err"
done
RUN=$T/pkr
# shellcheck disable=SC2086
start $R train pipelines/dlrm.lua $PDATA $FLAGS --run "$RUN"
sleep "$(delay 3)"
finish KILL
run $R resume "$RUN" $FLAGS
if [ "$status" -ne 0 ] && { [ ! -s "$RUN/store.mdb" ] || grep -q 'does not hold its pipeline' "$T/err"; }; then
    # shellcheck disable=SC2086
    run $R train pipelines/dlrm.lua $PDATA $FLAGS --run "$RUN"
fi
[ "$status" -eq 0 ] && [ "$(digest "$RUN")" = "$PREF" ]
ok $? "prefilled, killed after $(delay 3)s and resumed: its reference digest" || diag "$T/err"

# ---- a run killed at a known step: evaluated on its checkpoint, then resumed

RUN=$T/mid
# shellcheck disable=SC2086
start $R train pipelines/dlrm.lua $DATA $FLAGS --run "$RUN"
wait_step "$RUN" 30
finish KILL
at=$(step_of "$RUN")
[ "$status" -eq 137 ] && [ "$at" -ge 30 ] && [ "$at" -lt 81 ]
ok $? "killed after its checkpoint of step 30 (status $status, step $at)"
run $R eval "$RUN" --data "$F" --threads 2
[ "$status" -eq 0 ] && grep -Eq 'auc 0\.[0-9]+ +logloss [0-9.]+ +\(60000 rows' "$T/out"
ok $? "rill eval on the killed run: AUC and logloss of its last checkpoint" || diag "$T/out" "$T/err"
run $R predict "$RUN" --data "$F" --out "$T/p-mid"
[ "$status" -eq 0 ] && [ "$(wc -l <"$T/p-mid")" -eq 60000 ]
ok $? "rill predict on the killed run: 60,000 probabilities" || diag "$T/err"
run $R resume "$RUN" $FLAGS
ok $status "resumed after the evaluation: exit 0" || diag "$T/err"
same "$RUN" "killed at step $at, evaluated, resumed"

# ---- one writer; Ctrl-C

RUN=$T/int
# shellcheck disable=SC2086
start $R train pipelines/dlrm.lua $DATA $FLAGS --run "$RUN"
wait_step "$RUN" 5
run $R resume "$RUN" $FLAGS
[ "$status" -eq 1 ] && grep -q 'is being written by another process' "$T/err"
ok $? "resume while the run trains: refused, 'being written by another process'" || diag "$T/err"
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua $DATA $FLAGS --run "$RUN"
[ "$status" -eq 1 ] && grep -q 'is being written by another process' "$T/err"
ok $? "a new train into the run while it trains: refused the same way" || diag "$T/err"
finish INT
at=$(step_of "$RUN")
[ "$status" -eq 130 ]
ok $? "SIGINT: exit status 130 (got $status)" || diag "$T/bg.err"
grep -q "interrupted: run saved in $RUN" "$T/bg.err"
ok $? "SIGINT: says the run is saved" || diag "$T/bg.err"
run $R inspect "$RUN"
grep -q 'not finished' "$T/out" && [ "$at" -gt 0 ] && [ "$at" -lt 81 ]
ok $? "SIGINT: a checkpoint at step $at, not finished" || diag "$T/out"
whole "$RUN"
ok $? "SIGINT: the store is whole" || diag "$T/err"
run $R resume "$RUN" $FLAGS
ok $status "resume after SIGINT: exit 0" || diag "$T/err"
same "$RUN" "interrupted at step $at, resumed"
run $R resume "$RUN" $FLAGS
ok $status "resume of a finished run: exit 0" || diag "$T/err"
same "$RUN" "a finished run resumed again"

# ---- known faults: resumed runs that differ from uninterrupted ones

# variant NAME SETTING [WHERE]: $T/dlrm-NAME.lua, pipelines/dlrm.lua with SETTING added to the
# rill.train call (or, with WHERE = embed, to the embed node)
variant() {
    if [ "${3:-train}" = embed ]; then
        sed "s/optim = rill.rowwise_adagrad{/$2, optim = rill.rowwise_adagrad{/" pipelines/dlrm.lua
    else
        sed "s/threads = cfg.train.threads,/threads = cfg.train.threads, $2,/" pipelines/dlrm.lua
    fi >"$T/dlrm-$1.lua"
    cmp -s pipelines/dlrm.lua "$T/dlrm-$1.lua" && echo "# variant $1: pipelines/dlrm.lua has changed"
}

# Early stopping: an evaluation that finds a new best writes a checkpoint (and a copy of it).
# Killed after it (and before the next checkpoint: here none until the end), the resumed run
# must not evaluate that epoch again.
variant es "early_stop = 1"
RUN=$T/es
# shellcheck disable=SC2086
start $R train "$T/dlrm-es.lua" $DATA --checkpoint-every 1000 --cache 1MiB --threads 2 --run "$RUN"
wait_step "$RUN" 27
finish KILL
at=$(step_of "$RUN")
run $R resume "$RUN" --checkpoint-every 1000 --cache 1MiB --threads 2
ok $status "early_stop = 1, killed after the best evaluation's checkpoint (step $at), resumed: exit 0" ||
    diag "$T/err"
[ "$(digest "$RUN")" = "$REF" ] && cmp -s "$RUN/metrics.jsonl" "$T/ref/metrics.jsonl"
ok $? "early_stop: resumed, it trains all 81 steps like the uninterrupted run (same digest, metrics)"

# Admission: the counts of ids seen but not yet admitted are part of the checkpoint.
variant admit "admit = 2" embed
# shellcheck disable=SC2086
run $R train "$T/dlrm-admit.lua" $DATA --set train.epochs=1 $FLAGS --run "$T/admit-ref"
ok $status "admit = 2: the uninterrupted run (1 epoch)" || diag "$T/err"
RUN=$T/admit
# shellcheck disable=SC2086
start $R train "$T/dlrm-admit.lua" $DATA --set train.epochs=1 $FLAGS --run "$RUN"
wait_step "$RUN" 10
finish KILL
at=$(step_of "$RUN")
run $R resume "$RUN" $FLAGS
ok $status "admit = 2: killed at step $at, resumed: exit 0" || diag "$T/err"
[ "$(digest "$RUN")" = "$(digest "$T/admit-ref")" ] && cmp -s "$RUN/metrics.jsonl" "$T/admit-ref/metrics.jsonl"
ok $? "admit = 2: the resumed run equals the uninterrupted one"

# Evaluations every N steps: the evaluation of the step Ctrl-C stops at is made before the
# checkpoint, so every step has its line in metrics.jsonl.
variant every "eval_every = 1"
RUN=$T/every
# shellcheck disable=SC2086
start $R train "$T/dlrm-every.lua" $DATA --set train.epochs=1 --set valid=0.02 $FLAGS --run "$RUN"
wait_step "$RUN" 5
finish INT
at=$(step_of "$RUN")
run $R resume "$RUN" $FLAGS
ok $status "eval_every = 1: interrupted at step $at, resumed: exit 0" || diag "$T/err"
steps=$(sed -n 's/^{"step":\([0-9]*\),.*"split":"valid".*/\1/p' "$RUN/metrics.jsonl" | tr '\n' ' ')
last=$(step_of "$RUN")
[ "$last" -gt 0 ] && [ "$steps" = "$(seq 1 "$last" | tr '\n' ' ')" ]
ok $? "eval_every = 1: metrics.jsonl has one validation line for each of the $last steps" ||
    diag "lines for: $steps"

# CEL: the cluster assignment (a table), the cluster sizes, the gradient window since the
# last cluster event and the losses reassignment has summed in its probing steps (node
# state) are part of the checkpoint; events at steps that are not checkpoints leave a window
# and a part-summed reassignment to carry.
CEL="--set cel.clusters=16 --set cel.split_every=3 --set cel.reassign_every=7 --set cel.reassign_window=4 --set train.epochs=1"
# shellcheck disable=SC2086
run $R train pipelines/cel.lua $DATA $CEL $FLAGS --run "$T/cel-ref"
ok $status "CEL: the uninterrupted run (1 epoch)" || diag "$T/err"
clusters=$($R inspect "$T/cel-ref" | awk '$1 == "entity_emb.C21" { print $3 }')
[ "${clusters:-0}" -ge 8 ]
ok $? "CEL: clusters were split (${clusters:-none} in C21)" || $R inspect "$T/cel-ref" | diag
RUN=$T/cel
# shellcheck disable=SC2086
start $R train pipelines/cel.lua $DATA $CEL $FLAGS --run "$RUN"
wait_step "$RUN" 10
finish KILL
at=$(step_of "$RUN")
run $R resume "$RUN" $FLAGS
ok $status "CEL: killed at step $at, resumed: exit 0" || diag "$T/err"
[ "$(digest "$RUN")" = "$(digest "$T/cel-ref")" ] && cmp -s "$RUN/metrics.jsonl" "$T/cel-ref/metrics.jsonl"
ok $? "CEL: the resumed run equals the uninterrupted one (digest, metrics)"

# Prefetch (rill.train{ prefetch = true }): reading the next batch's rows ahead changes no value.
variant pf "prefetch = true"
# shellcheck disable=SC2086
run $R train "$T/dlrm-pf.lua" $DATA $FLAGS --run "$T/pf"
ok $status "prefetch = true: exit 0" || diag "$T/err"
same "$T/pf" "prefetch = true"

done_testing
