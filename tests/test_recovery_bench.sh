#!/usr/bin/env bash
# wflow-bench recovery as a user runs it, at one small history length:
# it exits 0, prints the table and every figure the recovery issue names,
# the SQLite and file-tree baselines rebuild the same state as the
# journal's fold (the file tree without attempt history, which Ray's
# layout does not keep), and it writes the CSV (a row per system) and,
# where gnuplot is installed, the PNG. About 15 s (fixed-time appends).
set -u
bench=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/check.sh" # check DESCRIPTION COMMAND...

"$bench" recovery --quick --sizes 3000 --dir "$tmp" --out "$tmp" \
	>"$tmp/out" 2>"$tmp/err"
rc=$?
check "recovery exits 0 (rc $rc)" test $rc -eq 0
for k in open_snapshot_ms_max replay_events_per_s recovery_speedup_vs_sqlite \
	recovery_speedup_vs_files durable64_speedup_vs_sqlite \
	append_1_wflow append_64_wflow append_64_sqlite append_64_files \
	recovery_open_snapshot_s_3000 recovery_open_full_s_3000 \
	recovery_sqlite_s_3000 recovery_files_s_3000 \
	close_after_snapshot_open_ms_max close_after_snapshot_open_s_3000 \
	snapshot_take_ms_max snapshot_take_s_3000 \
	decompress_events_per_cpu_s decompress_events_per_cpu_s_3000 \
	replay_events_per_cpu_s recovery_full_cpu_s_3000 \
	recovery_snapshot_cpu_s_3000 recovery_sqlite_cpu_s_3000 \
	recovery_files_cpu_s_3000; do
	check "prints $k=<number>" grep -Eq "^$k=[0-9]+(\.[0-9]+)?\$" "$tmp/out"
done
check "the figures come last" python3 -c '
import sys
lines = open(sys.argv[1]).read().splitlines()
i = next(k for k, l in enumerate(lines) if l.startswith("machine="))
assert all("=" in l for l in lines[i:]), lines[i:]
' "$tmp/out"
n=$(grep -c -E '^(wflow \(snapshot\)|wflow \(full replay\)|sqlite \(WAL\)|files \(Ray layout\)) +3000 ' "$tmp/out")
check "the table has a row per system ($n)" test "$n" -eq 4
check "sqlite rebuilds the same state" grep -qx 'sqlite_state_3000=same' "$tmp/out"
check "the file tree rebuilds the same state (but attempts)" \
	grep -Eqx 'files_state_3000=same( but attempts)?' "$tmp/out"
check "the CSV has a recovery row per system and the append rows" python3 -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
rec = {r["system"] for r in rows if r["measure"] == "recovery"}
assert rec == {"snapshot", "full", "sqlite", "files"}, rec
for m in ("append_1", "append_64"):
    assert {r["system"] for r in rows if r["measure"] == m} == {"wflow", "sqlite", "files"}, m
for r in rows:
    if r["measure"] == "recovery":
        assert int(r["events"]) == 3000 and float(r["warm_median_s"]) > 0, r
' "$tmp/recovery.csv"
if command -v gnuplot >/dev/null; then
	check "the plot is a PNG" python3 -c '
import sys
assert open(sys.argv[1], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
' "$tmp/recovery.png"
fi
"$bench" recovery --sizes 0 >/dev/null 2>"$tmp/bad"
rc=$?
check "a bad --sizes is a usage error (2, got $rc)" test $rc -eq 2
check "the error names the option" grep -q -- '--sizes' "$tmp/bad"
check "the scratch stores are removed" test -z "$(ls -A "$tmp" | grep -v -E '^(out|err|bad|recovery\.(csv|png))$')"
if [ $fail -ne 0 ]; then
	cat "$tmp/err" >&2
	exit 1
fi
echo "recovery bench: ok"
