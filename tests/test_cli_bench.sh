#!/usr/bin/env bash
# wflow-bench cli as a user runs it, on a small journal (--quick): it
# exits 0 and prints every figure the offline-tool issue names, the
# wall-clock and per-CPU-second rates of verify and stats, and the rate of
# decompression alone (their floor), as name=value numbers, last. A
# second or so.
set -u
bench=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/check.sh" # check DESCRIPTION COMMAND...

"$bench" cli --quick --dir "$tmp" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "cli exits 0 (rc $rc)" test $rc -eq 0
for k in verify_events_per_s verify_mb_per_s verify_cpu_s \
	verify_events_per_cpu_s stats_events_per_s stats_mb_per_s stats_cpu_s \
	stats_events_per_cpu_s meta_10m_events_s meta_with_snapshot_s \
	engine_open_full_replay_s decompress_cpu_s decompress_events_per_cpu_s \
	decompress_mb_per_cpu_s decompress_raw_mb_per_cpu_s; do
	check "prints $k=<number>" grep -Eq "^$k=[0-9]+(\.[0-9]+)?\$" "$tmp/out"
done
check "it read the journal it wrote" grep -qx 'cli_events=200000' "$tmp/out"
# The floor is a lower bound on the work of any reader of the frames:
# verify does all of it and more, so its rate per CPU second is below
# (a ratio of one run; verify is about 5 times slower here).
check "verify per CPU second is below decompression alone" python3 -c '
import sys
v = dict(l.split("=", 1) for l in open(sys.argv[1]).read().splitlines() if "=" in l)
assert float(v["verify_events_per_cpu_s"]) < float(v["decompress_events_per_cpu_s"]), v
' "$tmp/out"
check "the figures come last" python3 -c '
import sys
lines = open(sys.argv[1]).read().splitlines()
assert lines and all("=" in l for l in lines), lines
assert lines[-1].startswith("machine="), lines[-1]
' "$tmp/out"
check "it leaves nothing behind" test -z "$(ls -A "$tmp" | grep -vx -e out -e err)"
if [ $fail -ne 0 ]; then
	echo "--- stdout"; cat "$tmp/out"; echo "--- stderr"; cat "$tmp/err"
fi
exit $fail
