#!/bin/sh
# rill export: a run's last checkpoint as a manifest and NumPy .npy files (checked byte by
# byte here: magic, version, header length, dict, size; ids ascending and in range; one row per
# stored row, as rill inspect counts them); rill predict and rill eval from the export alone,
# with the run directory gone, give the same probabilities and metrics as from the run; the
# same export twice gives the same bytes; bad commands and damaged exports give clear errors.
# Everything is written under a mktemp directory that is removed at the end.
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh

F=$T/data.tsv
run $R gen criteo --rows 3000 --seed 5 --out "$F"
ok $status "gen: 3000 rows" || diag "$T/err"
# a 1 MiB cache: rows are evicted and spilled while training, so the export reads the store
SMALL="--set train.epochs=2 --set embed.buckets=4096 --set mlp.bottom=32 --set mlp.top=32"
RUN=$T/run
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua --data "$F" $SMALL --threads 2 --cache 1MiB --checkpoint-every 2 \
    --run "$RUN"
ok $status "train: exit 0" || diag "$T/err"

# ---- the export

X=$T/model
run $R export "$RUN" --out "$X"
[ "$status" -eq 0 ] && grep -q "exported $RUN to $X" "$T/out"
ok $? "export: exit 0, says where" || diag "$T/out" "$T/err"
for f in manifest.json pipeline.lua meta.lua; do
    [ -s "$X/$f" ]
    ok $? "export: wrote $f"
done
cmp -s "$X/pipeline.lua" pipelines/dlrm.lua
ok $? "export: pipeline.lua is the script that trained the run"

# every table and dense parameter the manifest lists, against the files and rill inspect
$R inspect "$RUN" >"$T/inspect" 2>&1
cat >"$T/check.pl" <<'EOF'
use strict;
use warnings;
use JSON::PP;
my ($dir, $inspect) = @ARGV;
my %stored;    # table -> rows, from rill inspect
my $section = '';
open my $in, '<', $inspect or die "$inspect: $!\n";
while (<$in>) {
    $section = 'tables' if /^table\s+rows/;
    $section = 'dense' if /^dense parameter/;
    $stored{$1} = $2 if $section eq 'tables' && /^(\S+)\s+(\d+)\s+\d+\s+\d+\s+\S+/;
}
open my $mf, '<', "$dir/manifest.json" or die "manifest.json: $!\n";
my $m = decode_json(do { local $/; <$mf> });
die "format: $m->{format}\n" unless $m->{format} eq 'rill-export 1';
die "pipeline/settings entries\n" unless $m->{pipeline} eq 'pipeline.lua' && $m->{settings} eq 'meta.lua';

# reads an .npy file: checks the preamble and dict; returns (descr, shape list, data bytes)
sub npy {
    my ($path) = @_;
    open my $f, '<:raw', $path or die "$path: $!\n";
    my $all = do { local $/; <$f> };
    die "$path: magic\n" unless substr($all, 0, 6) eq "\x93NUMPY";
    die "$path: version\n" unless substr($all, 6, 2) eq "\x01\x00";
    my $hlen = unpack('v', substr($all, 8, 2));
    die "$path: header of $hlen bytes: 10 + it is not a multiple of 64\n" if (10 + $hlen) % 64;
    my $h = substr($all, 10, $hlen);
    die "$path: header does not end with a newline\n" unless $h =~ /\n\z/;
    die "$path: dict '$h'\n"
        unless $h =~ /^\{'descr': '(<[fu][48])', 'fortran_order': False, 'shape': \((\d+),(?: (\d+))?\), \} *\n\z/;
    my ($descr, @shape) = ($1, $2, defined $3 ? $3 : ());
    my $count = 1;
    $count *= $_ for @shape;
    my $data = substr($all, 10 + $hlen);
    die "$path: " . length($data) . " data bytes for shape (@shape) of $descr\n"
        unless length($data) == $count * substr($descr, 2);
    return ($descr, \@shape, $data);
}

my ($tables, $rows, $files) = (0, 0, 0);
for my $t (@{ $m->{tables} }) {
    my $name = $t->{name};
    die "table $name: rill inspect has no such table\n" unless exists $stored{$name};
    die "table $name: $t->{rows} rows exported, $stored{$name} stored\n" unless $t->{rows} == $stored{$name};
    my ($d, $s, $data) = npy("$dir/$t->{values}");
    die "$t->{values}: $d (@$s), expected <f4 ($t->{rows} $t->{dim})\n"
        unless $d eq '<f4' && @$s == 2 && $s->[0] == $t->{rows} && $s->[1] == $t->{dim};
    for my $v (unpack('f<*', $data)) {
        die "$t->{values}: a value that is not finite\n" unless $v == $v && abs($v) < 1e30;
    }
    my ($di, $si, $ids) = npy("$dir/$t->{ids}");
    die "$t->{ids}: $di (@$si), expected <u8 ($t->{rows})\n"
        unless $di eq '<u8' && @$si == 1 && $si->[0] == $t->{rows};
    my $prev = -1;
    for my $id (unpack('Q<*', $ids)) {
        die "$t->{ids}: id $id after $prev\n" unless $id > $prev;
        die "$t->{ids}: id $id out of [0, $t->{id_range})\n" unless $id < $t->{id_range};
        $prev = $id;
    }
    ($tables, $rows, $files) = ($tables + 1, $rows + $t->{rows}, $files + 2);
    delete $stored{$name};
}
die "tables stored but not exported: " . join(' ', keys %stored) . "\n" if %stored;
my $dense = 0;
for my $p (@{ $m->{dense} }) {
    my ($d, $s) = npy("$dir/$p->{file}");
    die "$p->{file}: $d (@$s), expected <f4 (@{ $p->{shape} })\n"
        unless $d eq '<f4' && @$s == 2 && $s->[0] == $p->{shape}[0] && $s->[1] == $p->{shape}[1];
    ($dense, $files) = ($dense + 1, $files + 1);
}
opendir my $dh, $dir or die;
my $npy = grep { /\.npy$/ } readdir $dh;
die "$npy .npy files, the manifest lists $files\n" unless $npy == $files;
print "$tables tables, $rows rows, $dense dense parameters\n";
EOF
run perl "$T/check.pl" "$X" "$T/inspect"
ok $status "the manifest and every .npy: valid headers and sizes, ids ascending, every stored row ($(cat "$T/out"))" ||
    diag "$T/err"
[ "$(grep -c '"name"' "$X/manifest.json")" -gt 26 ]
ok $? "the manifest lists the 26 tables and the dense parameters"

# the same, parsed by Python without numpy (when there is a python3)
if command -v python3 >/dev/null 2>&1; then
    cat >"$T/check.py" <<'EOF'
import ast, json, os, struct, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "manifest.json")))
names = [(t["values"], "<f4", (t["rows"], t["dim"])) for t in m["tables"]]
names += [(t["ids"], "<u8", (t["rows"],)) for t in m["tables"]]
names += [(p["file"], "<f4", tuple(p["shape"])) for p in m["dense"]]
for f, descr, shape in names:
    b = open(os.path.join(d, f), "rb").read()
    assert b[:6] == b"\x93NUMPY" and b[6:8] == b"\x01\x00", f
    (hlen,) = struct.unpack("<H", b[8:10])
    h = ast.literal_eval(b[10:10 + hlen].decode("latin1"))
    assert h == {"descr": descr, "fortran_order": False, "shape": shape}, (f, h)
    count = 1
    for s in shape:
        count *= s
    assert len(b) - 10 - hlen == count * int(descr[2]), f
print(len(names), "files")
EOF
    run python3 "$T/check.py" "$X"
    ok $status "python3 (no numpy) reads every header and size ($(cat "$T/out"))" || diag "$T/err"
else
    n=$((n + 1))
    echo "ok $n # SKIP no python3"
fi

# ---- predict and eval from the export alone

run $R predict "$RUN" --data "$F" --out "$T/p-run"
ok $status "predict from the run: exit 0" || diag "$T/err"
run $R eval "$RUN" --data "$F"
sed -n 's/^click: //p' "$T/out" >"$T/e-run"
mv "$RUN" "$T/gone"
run $R predict "$X" --data "$F" --out "$T/p-export"
ok $status "predict from the export, the run directory moved away: exit 0" || diag "$T/err"
[ "$(wc -l <"$T/p-export")" -eq 3000 ] && cmp -s "$T/p-run" "$T/p-export"
ok $? "predict: the same 3000 probabilities, byte for byte"
run $R eval "$X" --data "$F"
[ "$status" -eq 0 ] && [ -s "$T/e-run" ] && sed -n 's/^click: //p' "$T/out" | cmp -s - "$T/e-run"
ok $? "eval from the export: the same AUC and logloss as from the run ($(cat "$T/e-run"))" ||
    diag "$T/out" "$T/err"
fails "predict from the moved run's old place" "has no store (store.mdb)" $R predict "$RUN" --data "$F"
mv "$T/gone" "$RUN"

run $R export "$RUN" --out "$T/again"
same=0
for f in "$X"/*; do
    cmp -s "$f" "$T/again/${f##*/}" || same=1
done
[ "$status" -eq 0 ] && [ "$(ls "$X" | wc -l)" -eq "$(ls "$T/again" | wc -l)" ] && [ $same -eq 0 ]
ok $? "the same run exported twice: the same files, byte for byte"
run $R export "$RUN" --out "$X"
ok $status "export over an earlier export: exit 0" || diag "$T/err"

# ---- errors

fails "export of a missing run" "$T/nope has no store (store.mdb)" $R export "$T/nope" --out "$T/x1"
[ ! -e "$T/x1" ]
ok $? "export of a missing run: makes no directory"
fails "export without --out" "--out DIR is required" $R export "$RUN"
fails "export without a run" "which run directory?" $R export
fails "export with --out under a file" "cannot create directory $F: a file of that name is in the way" \
    $R export "$RUN" --out "$F/x"
fails "export --bogus" "unknown option --bogus" $R export "$RUN" --out "$T/x2" --bogus 1

damaged() { rm -rf "$T/dmg" && cp -r "$X" "$T/dmg"; }
damaged && rm "$T/dmg/top.W1.npy"
fails "predict from an export without top.W1.npy" "the export lacks dense parameter 'top.W1'" \
    $R predict "$T/dmg" --data "$F"
damaged && head -c 1000 "$X/emb.C3.npy" >"$T/dmg/emb.C3.npy"
fails "predict from an export with a truncated emb.C3.npy" "emb.C3.npy: truncated" \
    $R predict "$T/dmg" --data "$F"
damaged && printf 'not an array' >"$T/dmg/emb.C3.ids.npy"
fails "predict from an export whose emb.C3.ids.npy is text" "not a NumPy .npy file" \
    $R predict "$T/dmg" --data "$F"
damaged && rm "$T/dmg/emb.C5.ids.npy"
fails "predict from an export without emb.C5.ids.npy" "the export lacks table 'emb.C5'" \
    $R predict "$T/dmg" --data "$F"
damaged && rm "$T/dmg/pipeline.lua"
fails "predict from an export without pipeline.lua" "the export lacks pipeline.lua or meta.lua" \
    $R predict "$T/dmg" --data "$F"

# ---- a run directory reused: export must take the new run, not an old run's best/

# A run with early stopping keeps its best checkpoint in RUN/best, which eval, predict and export
# prefer. Training a new run into the same directory leaves that best/ behind, and the new run
# is then shadowed by it.
sed 's/threads = cfg.train.threads,/threads = cfg.train.threads, early_stop = 1,/' pipelines/dlrm.lua \
    >"$T/dlrm-es.lua"
# shellcheck disable=SC2086
$R train "$T/dlrm-es.lua" --data "$F" $SMALL --set train.epochs=1 --threads 2 --run "$T/reused" 2>"$T/err" &&
    $R train pipelines/dlrm.lua --data "$F" $SMALL --threads 2 --run "$T/reused" 2>"$T/err" &&
    $R train pipelines/dlrm.lua --data "$F" $SMALL --threads 2 --run "$T/fresh" 2>"$T/err" &&
    $R export "$T/reused" --out "$T/x-reused" >/dev/null 2>"$T/err" &&
    $R predict "$T/x-reused" --data "$F" --out "$T/p-reused" 2>"$T/err" &&
    $R predict "$T/fresh" --data "$F" --out "$T/p-fresh" 2>"$T/err"
ok $? "an early-stopped run, then a new run trained into its directory, and the same new run afresh" ||
    diag "$T/err"
cmp -s "$T/p-reused" "$T/p-fresh"
ok $? "export of the new run predicts as the same run trained afresh"

# ---- MLET: the export collapses each factorised table to W1 W2 (rows x dim)

# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua --data "$F" $SMALL --set embed.kind=mlet --set embed.dim=4 \
    --set embed.inner=16 --threads 2 --run "$T/mlet"
ok $status "MLET (dim 4, inner 16): trained" || diag "$T/err"
run $R export "$T/mlet" --out "$T/x-mlet"
ok $status "MLET: exported" || diag "$T/err"
# the table's .npy header: float32 rows of dim 4, not the inner 16
head -c 128 "$T/x-mlet/emb.C1.npy" | tr -d '\000' | grep -Eq "'shape': \([0-9]+, 4\)"
ok $? "MLET: the exported emb.C1 is rows x 4 (collapsed)" ||
    { head -c 128 "$T/x-mlet/emb.C1.npy" | tr -d '\000' | diag; }
run $R predict "$T/mlet" --data "$F" --out "$T/p-mlet-run"
run $R predict "$T/x-mlet" --data "$F" --out "$T/p-mlet-x"
[ "$status" -eq 0 ] && paste "$T/p-mlet-run" "$T/p-mlet-x" |
    awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { exit !(NR == 3000 && m < 1e-5) }'
ok $? "MLET: the collapsed export predicts as the factorised run (within 1e-5)" || diag "$T/err"

# fine-tuning the collapsed model: the same pipeline started from the export builds plain
# single-layer tables of dim 4 (no W2) with the export's rows, and trains on
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua --data "$F" $SMALL --set embed.kind=mlet --set embed.dim=4 \
    --set embed.inner=16 --set init_from="$T/x-mlet" --set train.epochs=1 --threads 2 --run "$T/ft"
ok $status "MLET: fine-tuned from its collapsed export" || diag "$T/err"
$R inspect "$T/ft" >"$T/ft.inspect" 2>&1
awk '$1 == "emb.C1" { dim = $3 } /^emb\.W2/ { w2++ } END { exit !(dim == 4 && !w2) }' "$T/ft.inspect"
ok $? "MLET: the fine-tuned model has single-layer tables of dim 4 and no W2" || diag "$T/ft.inspect"

done_testing
