#!/bin/sh
# A full disk and a read-only one, seen from the command line. Every write is checked: a write
# that finds no space ends the command with exit status 1 and a message naming the file and
# the OS error ("No space left on device (the disk is full)"), never exit status 0 with a short
# or empty file. The read-only commands (eval, predict, inspect, export, analyze) write nothing
# into the run directory, so they work on a run whose disk is full or mounted read-only.
#
# Single writes go to /dev/full (always full), through a symbolic link so that nothing could
# ever rename a file over the device. The rest needs a small disk of its own: as root, a tmpfs
# of 1 MiB mounted under the test's directory (skipped where mount is not permitted).
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh
DISK=$T/disk
mounted=
trap '[ -n "$mounted" ] && umount "$DISK" 2>/dev/null; rm -rf "$T"' EXIT

F=$T/data.tsv
$R gen criteo --rows 500 --seed 3 --out "$F" || exit 1
TINY="--set train.epochs=1 --set embed.buckets=256 --set mlp.bottom=8 --set mlp.top=8"
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua --data "$F" $TINY --run "$T/run"
ok $? "a tiny run to read" || diag "$T/err"

# ---- single writes to a full device

if [ -c /dev/full ]; then
    ln -s /dev/full "$T/full"
    fails "eval --result to a full device" "cannot write $T/full: No space left on device (the disk is full)" \
        $R eval "$T/run" --result "$T/full"
    fails "predict --out to a full device" "$T/full: writing predictions failed: No space left on device" \
        $R predict "$T/run" --data "$F" --out "$T/full"
    fails "gen --out to a full device" "$T/full: generator: writing rows up to 1000 failed: No space left on device" \
        $R gen criteo --rows 1000 --out "$T/full"
    [ -L "$T/full" ] && [ ! -e "$T/full.tmp" ]
    ok $? "gen: a device is written in place, not replaced by a renamed file"
    run $R eval "$T/run"
    [ "$status" -eq 0 ] && grep -q auc "$T/out"
    ok $? "eval to stdout: exit 0 when stdout takes it" || diag "$T/err"
    fails "eval with stdout on a full device" \
        "rill: cannot write to standard output: No space left on device (the disk is full)" \
        sh -c '"$0" eval "$1" >/dev/full' "$R" "$T/run"
    fails "predict to stdout on a full device" "rill: cannot write to standard output" \
        sh -c '"$0" predict "$1" --data "$2" >/dev/full' "$R" "$T/run" "$F"
    fails "help on a full device" "rill: cannot write to standard output" sh -c '"$0" help >/dev/full' "$R"
else
    skip "no /dev/full: the single-write cases"
fi

# ---- a disk of its own: full, then read-only

if [ "$(id -u)" -eq 0 ] && mkdir "$DISK" && mount -t tmpfs -o size=1m tmpfs "$DISK" 2>/dev/null; then
    mounted=1
else
    skip "mount -t tmpfs is not permitted here (needs root): the full and read-only disk cases"
    done_testing
    exit
fi

RUN=$DISK/run
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua --data "$F" $TINY --run "$RUN"
ok $? "a tiny run on the small disk" || diag "$T/err"
# RUN/pipeline.lua is a copy for people (written at the end of rill train; a run killed
# earlier has none): the commands read the pipeline from the store
rm -f "$RUN/pipeline.lua"
ls "$RUN" >"$T/files.before"
head -c 4000000 /dev/zero >"$DISK/fill" 2>/dev/null
! printf 'x' >"$DISK/probe" 2>/dev/null
ok $? "the disk is full"
rm -f "$DISK/probe"

run $R eval "$RUN"
[ "$status" -eq 0 ] && grep -Eq 'click: auc 0\.[0-9]+ +logloss' "$T/out"
ok $? "full disk: eval reads the run (exit 0, its AUC and logloss)" || diag "$T/out" "$T/err"
[ ! -e "$RUN/pipeline.lua" ]
ok $? "full disk: eval wrote no RUN/pipeline.lua (not even an empty one)"
run $R predict "$RUN" --data "$F" --out "$T/pred.txt"
[ "$status" -eq 0 ] && [ -f "$T/pred.txt" ] && [ "$(wc -l <"$T/pred.txt")" -eq 500 ]
ok $? "full disk: predict into another disk, 500 lines" || diag "$T/err"
run $R inspect "$RUN" --check
[ "$status" -eq 0 ] && grep -q 'the store is sound' "$T/out"
ok $? "full disk: inspect --check" || diag "$T/err"
run $R export "$RUN" --out "$T/export"
[ "$status" -eq 0 ] && [ -s "$T/export/manifest.json" ]
ok $? "full disk: export into another disk" || diag "$T/err"
run $R analyze spectrum "$RUN" --out "$T/analysis"
[ "$status" -eq 0 ] && [ -s "$T/analysis/spectrum.csv" ]
ok $? "full disk: analyze spectrum into another disk" || diag "$T/err"

# what is written onto the full disk fails, and says so
fails "full disk: eval --result" "cannot write $DISK/eval.lua: No space left on device (the disk is full)" \
    $R eval "$RUN" --result "$DISK/eval.lua"
fails "full disk: predict --out" "$DISK/pred.txt: writing predictions failed: No space left on device" \
    $R predict "$RUN" --data "$F" --out "$DISK/pred.txt"
fails "full disk: analyze spectrum --out" "cannot write $DISK/analysis/spectrum.csv: No space left on device" \
    $R analyze spectrum "$RUN" --out "$DISK/analysis"
fails "full disk: export --out" "$DISK/export/" $R export "$RUN" --out "$DISK/export"
fails "full disk: gen criteo --out" "$DISK/gen.tsv: generator: writing rows" \
    $R gen criteo --rows 5000 --out "$DISK/gen.tsv"
[ ! -e "$DISK/gen.tsv" ] && [ ! -e "$DISK/gen.tsv.tmp" ]
ok $? "full disk: gen leaves no partial file"
printf 'user_id\titem_id\ttime\nu1\ta\t30\nu2\tb\t10\nu1\tb\t20\nu1\tc\t40\nu2\tc\t20\nu1\td\t50\n' >"$T/log.tsv"
fails "full disk: prep sequences --out" "$DISK/seq.train.tsv: cannot write: No space left on device" \
    $R prep sequences --log "$T/log.tsv" --out "$DISK/seq"
ls "$RUN" | cmp -s "$T/files.before" -
ok $? "full disk: the run directory holds the same files as before" || ls "$RUN" | diag

# ---- read-only: the reading commands write nothing at all into the run

rm -f "$DISK/fill"
if mount -o remount,ro "$DISK" 2>/dev/null; then
    run $R eval "$RUN" --data "$F"
    [ "$status" -eq 0 ] && grep -q '(500 rows' "$T/out"
    ok $? "read-only disk: eval" || diag "$T/err"
    run $R predict "$RUN" --data "$F" --out "$T/pred2.txt"
    [ "$status" -eq 0 ] && cmp -s "$T/pred.txt" "$T/pred2.txt"
    ok $? "read-only disk: predict, the same predictions" || diag "$T/err"
    run $R inspect "$RUN" --digest
    ok $? "read-only disk: inspect --digest" || diag "$T/err"
    run $R export "$RUN" --out "$T/export2"
    ok $? "read-only disk: export" || diag "$T/err"
    run $R analyze spectrum "$RUN" --out "$T/analysis2"
    ok $? "read-only disk: analyze spectrum" || diag "$T/err"
    fails "read-only disk: resume, which must write, says where" "$RUN" $R resume "$RUN"
    mount -o remount,rw "$DISK"
else
    skip "mount -o remount,ro is not permitted: the read-only cases"
fi

# resume writes the copies people read when they are missing: the stored pipeline
run $R resume "$RUN"
[ "$status" -eq 0 ] && cmp -s "$RUN/pipeline.lua" pipelines/dlrm.lua
ok $? "resume: writes the missing RUN/pipeline.lua, the pipeline the run was made with" || diag "$T/err"

# ---- training that fills the disk: the message says so and names the last checkpoint, which
# is intact: the run moved to a larger disk resumes to the uninterrupted run's parameters

umount "$DISK" && mounted=
TRAIN="--set train.epochs=3 --set embed.buckets=4096 --set mlp.bottom=8 --set mlp.top=8
       --set train.batch=256 --checkpoint-every 2 --threads 2"
$R gen criteo --rows 3000 --seed 4 --out "$T/big.tsv"
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua --data "$T/big.tsv" $TRAIN --run "$T/ref"
ok $status "the uninterrupted run (on the large disk)" || diag "$T/err"
ref=$($R inspect "$T/ref" --digest | sed -n 's/^digest: //p')
filled=
for size in 500k 700k 900k 1200k 1600k; do # room for a first checkpoint, not for the run
    mount -t tmpfs -o size=$size tmpfs "$DISK" 2>/dev/null || break
    mounted=1
    # shellcheck disable=SC2086
    run $R train pipelines/dlrm.lua --data "$T/big.tsv" $TRAIN --run "$DISK/run"
    if [ "$status" -ne 0 ] && grep -q 'the last checkpoint (step' "$T/err"; then
        filled=$size
        break
    fi
    umount "$DISK" && mounted=
done
if [ -n "$filled" ]; then
    step=$(sed -n 's/.*the last checkpoint (step \([0-9]*\)) is intact.*/\1/p' "$T/err")
    [ "$status" -eq 1 ] && grep -q "^rill: .*$DISK/run/store.mdb: writing a checkpoint: .*the disk is full; the last checkpoint (step $step) is intact: free space and run rill resume $DISK/run" "$T/err"
    ok $? "training on a $filled disk that fills: exit 1, 'the disk is full', the last checkpoint (step $step) is intact, resume" ||
        { echo "#   status $status"; diag "$T/err"; }
    run $R inspect "$DISK/run" --check
    ok $status "... and the store on the full disk checks whole at step $step" || diag "$T/err"
    cp -r "$DISK/run" "$T/moved"
    run $R resume "$T/moved"
    got=$($R inspect "$T/moved" --digest | sed -n 's/^digest: //p')
    [ "$status" -eq 0 ] && [ -n "$ref" ] && [ "$got" = "$ref" ]
    ok $? "... moved to a larger disk, it resumes to the uninterrupted run's digest ($got)" ||
        { echo "#   status $status, digests $got and $ref"; diag "$T/err"; }
elif [ -n "$mounted" ] || mount -t tmpfs -o size=1m tmpfs "$DISK" 2>/dev/null; then
    mounted=1
    ok 1 "no tmpfs size from 500k to 1600k let a first checkpoint through and stopped the run"
else
    skip "a second tmpfs could not be mounted"
fi

done_testing
