#!/bin/sh
# Training in bf16 (rill train --precision bf16): DLRM on 30,000 generated rows trains to an
# AUC within 0.01 of the fp32 run's; the same run twice gives the same parameters (a fixed
# thread count); the run records its precision, and rill eval and rill resume keep it (a run
# stopped by Ctrl-C and resumed equals the uninterrupted one); a fixed bad value or a CPU
# without bf16 (RILL_HIDE_BF16) is an error that says what is wrong. Skipped where the CPU has
# neither AMX-BF16 nor AVX512-BF16.
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh
bg=
trap '[ -n "$bg" ] && kill -9 "$bg" 2>/dev/null; rm -rf "$T"' EXIT

F=$T/data.tsv
SMALL="--set train.epochs=2 --set train.batch=512 --set embed.buckets=8192 --set mlp.bottom=64
       --set mlp.top=64"
run $R gen criteo --rows 30000 --seed 3 --out "$F"
ok $status "gen: 30,000 rows" || diag "$T/err"
fails "a precision that does not exist" "'precision' must be one of" \
    $R train pipelines/dlrm.lua --data "$F" --precision fp16 --run "$T/x"
RILL_HIDE_BF16=1 fails "bf16 on a CPU without it" "needs a CPU with AMX-BF16 or AVX512-BF16" \
    $R train pipelines/dlrm.lua --data "$F" --precision bf16 --run "$T/x"

if ! grep -qwE 'amx_bf16|avx512_bf16' /proc/cpuinfo; then
    skip "this CPU has neither AMX-BF16 nor AVX512-BF16: the bf16 training runs cannot run"
    done_testing
    exit
fi

auc() { sed -n 's/^click: auc \([0-9.]*\).*/\1/p' "$@" | tail -n 1; }
digest() { $R inspect "$1" --digest 2>/dev/null | sed -n 's/^digest: //p'; }
for p in fp32 bf16; do
    # shellcheck disable=SC2086
    run $R train pipelines/dlrm.lua --data "$F" $SMALL --threads 2 --precision $p \
        --checkpoint-every 5 --run "$T/$p"
    ok $status "train --precision $p: exit 0" || diag "$T/err"
    cat "$T/out" "$T/err" >"$T/$p.out"
done
A32=$(auc "$T/fp32.out") A16=$(auc "$T/bf16.out")
awk -v a="$A32" -v b="$A16" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0.6 && d < 0.01) }'
ok $? "bf16 AUC $A16 within 0.01 of fp32's $A32"
grep -q 'precision = "bf16"' "$T/bf16/meta.lua"
ok $? "the run records its precision (meta.lua)"
[ "$(digest "$T/fp32")" != "$(digest "$T/bf16")" ]
ok $? "bf16 and fp32 runs differ (the GEMMs did run in bf16)"

# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua --data "$F" $SMALL --threads 2 --precision bf16 \
    --checkpoint-every 5 --run "$T/again"
REF=$(digest "$T/bf16")
[ "$status" -eq 0 ] && [ "$(digest "$T/again")" = "$REF" ]
ok $? "bf16 twice: the same digest $REF"

run $R eval "$T/bf16"
[ "$status" -eq 0 ] && [ "$(auc "$T/out" "$T/err")" = "$A16" ]
ok $? "rill eval of the bf16 run: its AUC, $A16 (evaluated in bf16)" || diag "$T/out" "$T/err"

# Ctrl-C after a checkpoint, then resume: the uninterrupted run's parameters
# shellcheck disable=SC2086
$R train pipelines/dlrm.lua --data "$F" $SMALL --threads 2 --precision bf16 \
    --checkpoint-every 5 --run "$T/int" >"$T/bg.out" 2>"$T/bg.err" &
bg=$!
step_of() {
    s=$($R inspect "$1" 2>/dev/null | sed -n 's/^run .*: step \([0-9]*\),.*/\1/p')
    echo "${s:-0}"
}
while kill -0 "$bg" 2>/dev/null && [ "$(step_of "$T/int")" -lt 5 ]; do sleep 0.02; done
kill -INT "$bg" 2>/dev/null
wait "$bg"
status=$?
bg=
int_status=$status
run $R resume "$T/int" --threads 2
[ "$int_status" -eq 130 ] && [ "$status" -eq 0 ] && [ "$(digest "$T/int")" = "$REF" ]
ok $? "stopped after a checkpoint (status $int_status) and resumed: the same digest" ||
    diag "$T/err"

# layer norm and dropout after the ReLU change a layer's output after its bias epilogue; the
# bf16 copy the next layer reads is made after them (core/nodes/stack.c)
cat >"$T/norm.lua" <<'LUA'
local rill = require "rill"
local cfg = rill.config{ data = "", norm = "layer" }
local data = rill.data.criteo{ path = cfg.data, valid = 0.1 }
local g = rill.graph(data)
local ids = g:encode_hash{ fields = data.categorical, buckets = 8192, name = "ids" }
local emb = g:embed{ ids, dim = 16, name = "emb" }
local counts = g:encode_log{ fields = data.numeric, name = "counts" }
local dense = g:mlp{ counts, sizes = { 64, 32, 16 }, norm = cfg.norm, dropout = 0.1, name = "bottom" }
local z = g:interact_dot{ dense, emb, name = "interact" }
local logit = g:tower{ z, sizes = { 64, 32 }, norm = cfg.norm, dropout = 0.1, name = "top" }
g:loss_bce{ logit, name = "click" }
return rill.train{ graph = g, data = data, epochs = 2, batch = 512, seed = 1, threads = 2,
                   optim = rill.adam{ lr = 1e-3 } }
LUA
for norm in layer batch; do
    for p in fp32 bf16; do
        run $R train "$T/norm.lua" --data "$F" --set norm=$norm --precision $p --run "$T/n$p"
        cat "$T/out" "$T/err" >"$T/n$p.out"
    done
    A32=$(auc "$T/nfp32.out") A16=$(auc "$T/nbf16.out")
    awk -v a="$A32" -v b="$A16" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0.6 && d < 0.01) }'
    ok $? "norm = \"$norm\" and dropout: bf16 AUC $A16 within 0.01 of fp32's $A32" ||
        diag "$T/nbf16.out"
done

done_testing
