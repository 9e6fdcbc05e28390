#!/bin/sh
# Damaged, truncated and foreign stores, as a user meets them: every command that reads a run
# (inspect --check, inspect --digest, eval, export, resume) exits 1 with a message naming the
# store file, never with a signal, an LMDB assertion or a metric read from damaged rows.
#   - truncated to 2/3 of its size: "truncated: N bytes, expected at least M";
#   - a quarter of its pages zeroed in the middle, and 200 random bits flipped: "damaged";
#   - another run's store.mdb copied into the run directory: both identities named.
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh

F=$T/data.tsv
run $R gen criteo --rows 20000 --seed 3 --max-cardinality 2000 --out "$F"
ok $status "gen: 20,000 rows" || diag "$T/err"
SET="--data $F --set embed.buckets=65536 --set mlp.bottom=32 --set mlp.top=32 --set train.epochs=1 --threads 2"
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua $SET --run "$T/a"
ok $status "run a trained" || diag "$T/err"
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua $SET --set train.seed=2 --run "$T/b"
ok $status "run b trained" || diag "$T/err"
run $R eval "$T/a"
ok $status "run a evaluates" || diag "$T/err"
# an unfinished run for resume (a finished one has nothing left to read): killed after its
# checkpoint of step 4
# shellcheck disable=SC2086
$R train pipelines/dlrm.lua $SET --set train.epochs=50 --checkpoint-every 2 --run "$T/u" \
    >"$T/u.out" 2>&1 &
bg=$!
step=0
while kill -0 "$bg" 2>/dev/null && [ "$step" -lt 4 ]; do
    step=$($R inspect "$T/u" 2>/dev/null | sed -n 's/^run .*: step \([0-9]*\),.*/\1/p')
    step=${step:-0}
    sleep 0.05
done
kill -9 "$bg" 2>/dev/null
wait "$bg" 2>/dev/null
[ "$step" -ge 4 ]
ok $? "an unfinished run, killed after step $step" || diag "$T/u.out"

# every_command NAME NEEDLE RUN: each reading command fails on RUN (resume on RUN-u, the same
# damage done to the unfinished run), saying NEEDLE and the file
every_command() {
    name=$1 needle=$2
    for cmd in "inspect --check" "inspect --digest" "eval" "export --out $T/export-$$" "resume"; do
        dir=$3
        [ "$cmd" = resume ] && dir=$3-u
        # shellcheck disable=SC2086
        run $R $(echo "$cmd" | cut -d' ' -f1) "$dir" $(echo "$cmd" | cut -s -d' ' -f2-)
        if [ "$cmd" = resume ] && [ "$status" -eq 0 ]; then
            # the damage fell on pages LMDB had freed (old copies of rewritten pages), which
            # training writes over: sound only if the resumed run's store checks whole
            run $R inspect "$dir" --check
            ok $status "$name: rill resume trained on; the damage was on free pages and the store checks whole" ||
                { echo "#   status $status"; diag "$T/err"; }
            continue
        fi
        [ "$status" -eq 1 ] && grep -qF -- "$needle" "$T/err" && grep -qF "$dir/store.mdb" "$T/err" &&
            ! grep -q "Assertion\|auc" "$T/err" "$T/out"
        ok $? "$name: rill $cmd exits 1, naming $dir/store.mdb and saying '$needle'" ||
            { echo "#   status $status"; diag "$T/err"; diag "$T/out"; }
    done
}

truncated() { # truncated DIR: cut DIR/store.mdb to 2/3 of its size
    size=$(stat -c %s "$1/store.mdb")
    truncate -s $((size * 2 / 3)) "$1/store.mdb"
}
cp -r "$T/a" "$T/trunc" && truncated "$T/trunc"
cp -r "$T/u" "$T/trunc-u" && truncated "$T/trunc-u"
every_command "truncated to 2/3" "bytes, expected at least" "$T/trunc"
size=$(stat -c %s "$T/a/store.mdb")
run $R eval "$T/trunc"
grep -qF "truncated: $((size * 2 / 3)) bytes, expected at least $size" "$T/err"
ok $? "the message gives the size and the size expected" || diag "$T/err"

zeroed() { # zeroed DIR: a quarter of DIR/store.mdb's pages zeroed, from 3/8 of the file on
    pages=$(($(stat -c %s "$1/store.mdb") / 4096))
    dd if=/dev/zero of="$1/store.mdb" bs=4096 seek=$((pages * 3 / 8)) count=$((pages / 4)) \
        conv=notrunc 2>/dev/null
}
cp -r "$T/a" "$T/zeroed" && zeroed "$T/zeroed"
cp -r "$T/u" "$T/zeroed-u" && zeroed "$T/zeroed-u"
every_command "a quarter of the pages zeroed" "damaged" "$T/zeroed"

flipped() { # flipped DIR: 200 random bits of DIR/store.mdb flipped, past its meta pages
lua5.4 - "$1/store.mdb" <<'LUA'
local path = arg[1]
local f = assert(io.open(path, "r+b"))
local size = f:seek("end")
local x = 12345
for _ = 1, 200 do
  x = (x * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff
  local at = 8192 + (x >> 20) % (size - 8192)
  f:seek("set", at)
  local b = f:read(1):byte()
  f:seek("set", at)
  assert(f:write(string.char(b ~ (1 << ((x >> 8) % 8)))))
end
assert(f:close())
LUA
}
cp -r "$T/a" "$T/flipped" && flipped "$T/flipped"
ok $? "200 random bits flipped"
cp -r "$T/u" "$T/flipped-u" && flipped "$T/flipped-u"
every_command "200 flipped bits" "damaged" "$T/flipped"

cp -r "$T/b" "$T/foreign"
cp "$T/a/store.mdb" "$T/foreign/store.mdb"
cp -r "$T/b" "$T/foreign-u"
cp "$T/u/store.mdb" "$T/foreign-u/store.mdb"
every_command "run a's store in run b's directory" "copied in from another run" "$T/foreign"
run $R eval "$T/foreign"
grep -q "$(cat "$T/a/run.id")" "$T/err" && grep -q "$(cat "$T/b/run.id")" "$T/err"
ok $? "the refusal names both runs' identities" || diag "$T/err"

run $R eval "$T/a"
ok $status "run a itself still evaluates" || diag "$T/err"
done_testing
