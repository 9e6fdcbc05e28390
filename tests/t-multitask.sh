#!/bin/sh
# Multi-task training end to end on the generator's two-task data: the per-task gradient
# probes (logged, harmless to training), rill analyze entanglement (a task-specific set is not
# shared, the shared set has a cosine), IPW of the repeats lowering the predictions towards
# the first exposures' rate, the ranking-loss mix and PLE/STEM-AL pipelines' arguments, and
# the errors.
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh

TR=$T/train.csv VA=$T/valid.csv
$R gen multitask --rows 8000 --seed 5 --out "$TR" 2>/dev/null &&
    $R gen multitask --rows 3000 --seed 5 --sample 1 --repeat-rate 0 --out "$VA" 2>/dev/null
ok $? "two samples of one planted model: training with repeats, validation without"

train() { # train RUN SETTINGS...
    dir=$1
    shift
    run $R train pipelines/multitask.lua --data "$TR" --set valid_data="$VA" --set train.epochs=1 \
        --set train.batch=256 --set embed.buckets=4096 --threads 1 --run "$dir" "$@"
}

train "$T/stem" --set model=stem --set train.entanglement=5
ok $? "STEM on two tasks, probing the tasks' gradients every 5 steps" || diag "$T/err"
grep -q '"split":"entanglement","table":"shared_emb.C1","tasks":\["t1","t2"\],"norm":\[[0-9.e-]*,[0-9.e-]*\],"cos":\[-*[0-9]' \
    "$T/stem/metrics.jsonl" &&
    grep -q '"table":"t1_emb.C1","tasks":\["t1","t2"\],"norm":\[[0-9.e-]*,0\],"cos":\[null\]' \
        "$T/stem/metrics.jsonl"
ok $? "metrics.jsonl: the shared set has both tasks' gradients and a cosine, t1's own set only t1's" ||
    grep entanglement "$T/stem/metrics.jsonl" | head -n 3

train "$T/stem0" --set model=stem --set train.entanglement=0
digest() { $R inspect "$1" --digest 2>/dev/null | sed -n 's/^digest: //p'; }
[ "$status" -eq 0 ] && [ -n "$(digest "$T/stem")" ] && [ "$(digest "$T/stem")" = "$(digest "$T/stem0")" ] &&
    ! grep -q entanglement "$T/stem0/metrics.jsonl"
ok $? "the probes change nothing: the same parameters without them (store digest)"

train "$T/mm3" --set model=mmoe --set train.entanglement=3 --threads 2
train "$T/mm0" --set model=mmoe --set train.entanglement=0 --threads 2
[ "$status" -eq 0 ] && [ -n "$(digest "$T/mm3")" ] && [ "$(digest "$T/mm3")" = "$(digest "$T/mm0")" ] &&
    grep -q '"split":"entanglement"' "$T/mm3/metrics.jsonl"
ok $? "the same on 2 threads (MMoE, a probe every 3 steps)"

run $R analyze entanglement "$T/stem" --out "$T/ent"
[ "$status" -eq 0 ] && grep -q '^shared_emb  *t1 / t2  *-*[0-9.]* ' "$T/out" &&
    grep -q '^t1_emb  *t1 / t2  *not shared (trained by: t1)' "$T/out" &&
    grep -q '^t2_emb  *t1 / t2  *not shared (trained by: t2)' "$T/out" &&
    grep -q '^shared_emb  *t2  ' "$T/out" &&
    [ -s "$T/ent/entanglement.csv" ] && [ -s "$T/ent/entanglement_spectrum.csv" ] &&
    grep -q '<svg' "$T/ent/entanglement.svg" && grep -q '<svg' "$T/ent/entanglement_spectrum.svg"
ok $? "analyze entanglement: cosine of the shared set, own sets not shared, per-task spectrum, CSV and SVG" ||
    diag "$T/out" "$T/err"
head -n 1 "$T/ent/entanglement.csv" | grep -qx 'set,task_a,task_b,step,cosine,norm_a,norm_b' &&
    [ "$(grep -c '^shared_emb,t1,t2,' "$T/ent/entanglement.csv")" -eq "$(grep -c '"table":"shared_emb.C1"' "$T/stem/metrics.jsonl")" ]
ok $? "entanglement.csv: one line per probe of the shared set"

fails "analyze entanglement of a run without probes" "has no gradient probes" \
    $R analyze entanglement "$T/stem0" --out "$T/ent0"

# IPW: the repeats' inflated positives are weighted down, so the predictions fall
mean_pred() { sed -n 's/^t1: .*mean prediction \([0-9.]*\)%.*/\1/p' "$1"; }
train "$T/shared" --set model=shared --set train.entanglement=0
cp "$T/err" "$T/plain.err"
train "$T/ipw" --set model=shared --set train.entanglement=0 --set loss.ipw=repeats
[ "$status" -eq 0 ] && awk -v a="$(mean_pred "$T/plain.err")" -v b="$(mean_pred "$T/err")" \
    'BEGIN { exit !(a > 0 && b > 0 && b < a) }'
ok $? "IPW on the repeat count lowers the mean prediction ($(mean_pred "$T/plain.err")% -> $(mean_pred "$T/err")%)" ||
    diag "$T/err"

train "$T/rank" --set model=mmoe --set loss.alpha=0.5 --set loss.alpha_to=0.2 --set loss.ramp_steps=20 \
    --set loss.ipw=repeats --set loss.ipw_estimator=linear
ok $? "MMoE with a ramped ranking share and linear IPW trains" || diag "$T/err"

run $R analyze gates "$T/rank" --out "$T/gates"
[ "$status" -eq 0 ] && grep -q '^t1_gate (3000 rows):' "$T/out" && grep -q '^t2_gate (3000 rows):' "$T/out" &&
    [ "$(grep -c '^  expert[1-4] ' "$T/out")" -eq 8 ] &&
    awk -F, 'NR > 1 { s[$1] += $3; n[$1]++ } END { for (g in s) if (n[g] != 4 || s[g] < 0.999 || s[g] > 1.001) exit 1 }' \
        "$T/gates/gates.csv" && grep -q '<svg' "$T/gates/gates.svg"
ok $? "analyze gates: each task's gate over the 4 experts, mean weights summing to 1" || diag "$T/out" "$T/err"
fails "analyze gates of a graph without gates" "has no gate node" $R analyze gates "$T/shared"

# a killed run resumed: the IPW counts and the probes' log come back from the checkpoint, and the
# run ends equal to one never interrupted (parameters and metrics.jsonl, byte for byte)
BIG=$T/big.csv
$R gen multitask --rows 60000 --seed 6 --out "$BIG" 2>/dev/null
# STEM with IPW, a ranking ramp and probes, checkpoints every 5 steps ($T has no spaces)
RESUMABLE="pipelines/multitask.lua --data $BIG --set valid_data=$VA --set model=stem
    --set train.epochs=2 --set train.batch=256 --set embed.buckets=4096 --set loss.ipw=repeats
    --set loss.alpha=0.9 --set loss.alpha_to=0.5 --set loss.ramp_steps=300
    --set train.entanglement=7 --checkpoint-every 5 --threads 2"
step_of() { s=$($R inspect "$1" 2>/dev/null | sed -n 's/^run .*: step \([0-9]*\),.*/\1/p'); echo "${s:-0}"; }
# shellcheck disable=SC2086
$R train $RESUMABLE --run "$T/ref" >/dev/null 2>&1
# shellcheck disable=SC2086
$R train $RESUMABLE --run "$T/killed" >/dev/null 2>&1 &
bg=$!
while kill -0 "$bg" 2>/dev/null && [ "$(step_of "$T/killed")" -lt 150 ]; do sleep 0.02; done
kill -9 "$bg" 2>/dev/null
wait "$bg" 2>/dev/null
at=$(step_of "$T/killed")
run $R resume "$T/killed" --threads 2
[ "$status" -eq 0 ] && [ -n "$(digest "$T/ref")" ] && [ "$(digest "$T/killed")" = "$(digest "$T/ref")" ] &&
    cmp -s "$T/killed/metrics.jsonl" "$T/ref/metrics.jsonl"
ok $? "killed at checkpoint step $at of 470 and resumed: the same parameters and metrics.jsonl" ||
    diag "$T/err"

fails "ipw on a column that is not numeric" "ipw = 'user': the" \
    $R train pipelines/multitask.lua --data "$TR" --set valid_data="$VA" --set loss.ipw=user --run "$T/bad"
grep -q "multitask.lua:[0-9]*" "$T/err"
ok $? "  and the error names the script line" || diag "$T/err"
fails "a ramp target without ramp steps" "ramp_steps is not" \
    $R train pipelines/multitask.lua --data "$TR" --set valid_data="$VA" --set loss.alpha_to=0.5 --run "$T/bad"
fails "a negative ramp" "'ramp_steps' = -5 is out of range" \
    $R train pipelines/multitask.lua --data "$TR" --set valid_data="$VA" --set loss.alpha_to=0.5 \
    --set loss.ramp_steps=-5 --run "$T/bad"
fails "an unknown IPW estimator" "'ipw_estimator' must be one of" \
    $R train pipelines/multitask.lua --data "$TR" --set valid_data="$VA" --set loss.ipw=repeats \
    --set loss.ipw_estimator=kde --run "$T/bad"

done_testing
