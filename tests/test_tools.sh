#!/usr/bin/env bash
# The offline tools as a user runs them: wflow verify (summary, --json,
# exit codes 0/1/2, damage named by file and offset, torn tail a warning),
# wflow dump (one valid JSON object per event, --since), and wflow-bench
# (gen; journal --quick prints every figure the issue names).
set -u
wflow=$1
bench=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/check.sh" # check DESCRIPTION COMMAND...

"$bench" gen "$tmp/j" --events 20000 --batch 4 --segment-size 65536 >"$tmp/gen.out" || {
	echo "FAIL: wflow-bench gen" >&2
	exit 1
}
check "gen prints events=20000" grep -qx 'events=20000' "$tmp/gen.out"
check "gen writes the engine layout DIR/journal" test -f "$tmp/j/journal/00000000000000000001.wfj"

# verify: intact journal, both spellings of the directory.
"$wflow" verify "$tmp/j" >"$tmp/v.out"
check "verify of an intact journal exits 0" test $? -eq 0
check "verify counts the events" grep -Eq '^events +20000 ' "$tmp/v.out"
check "verify says intact" grep -q 'intact' "$tmp/v.out"
"$wflow" verify "$tmp/j/journal" >/dev/null
check "verify accepts the journal directory itself" test $? -eq 0
"$wflow" verify --json "$tmp/j" >"$tmp/v.json"
check "verify --json is one JSON object with the counts" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] is True and r["events"] == 20000 and r["damage"] == [], r
assert r["segments"] > 1 and r["bytes_disk"] > 0 and r["bytes_raw"] > r["bytes_disk"], r
' "$tmp/v.json"

# dump: every line valid JSON, seq 1..N, known types named.
"$wflow" dump "$tmp/j" >"$tmp/d.jsonl"
check "dump exits 0" test $? -eq 0
check "dump prints one valid JSON object per event, in order" python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    n += 1
    assert e["seq"] == n, (e["seq"], n)
    assert isinstance(e["type"], str) and "fields" in e and "payloads" in e
    assert e["time"].endswith("Z")
assert n == 20000, n
' "$tmp/d.jsonl"
"$wflow" dump "$tmp/j" --since 19990 >"$tmp/s.jsonl"
check "dump --since SEQ starts there" python3 -c '
import json, sys
seqs = [json.loads(l)["seq"] for l in open(sys.argv[1])]
assert seqs == list(range(19990, 20001)), seqs
' "$tmp/s.jsonl"

# A flipped byte in the middle of a middle segment: exit 1, file and offset named.
cp -r "$tmp/j" "$tmp/bad"
seg=$(ls "$tmp/bad/journal"/*.wfj | sed -n 2p)
size=$(stat -c %s "$seg")
off=$((size / 2))
python3 - "$seg" "$off" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
b[off] ^= 0x55
open(p, "wb").write(b)
PY
"$wflow" verify "$tmp/bad" >"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
check "verify of a corrupted journal exits 1 (got $rc)" test $rc -eq 1
check "the damage is named with its file and offset" grep -q "$(basename "$seg"): offset [0-9]" "$tmp/bad.err"
"$wflow" dump "$tmp/bad" >/dev/null 2>&1
check "dump of a corrupted journal exits 1" test $? -eq 1

# A torn tail: a warning, exit 0.
cp -r "$tmp/j" "$tmp/torn"
last=$(ls "$tmp/torn/journal"/*.wfj | tail -1)
truncate -s -3 "$last"
"$wflow" verify "$tmp/torn" >"$tmp/torn.out" 2>&1
check "verify of a torn tail exits 0" test $? -eq 0
check "the torn tail is reported" grep -qi 'torn' "$tmp/torn.out"

# Usage and unreadable directories: exit 2.
"$wflow" verify "$tmp/nonexistent" >/dev/null 2>&1
check "verify of a missing directory exits 2" test $? -eq 2
"$wflow" frobnicate >/dev/null 2>&1
check "an unknown command exits 2" test $? -eq 2
"$wflow" verify >/dev/null 2>&1
check "verify without DIR exits 2" test $? -eq 2
"$wflow" verify --help >/dev/null
check "verify --help exits 0" test $? -eq 0

# The benchmark's smoke run prints every figure the issue names, last.
"$bench" journal --quick --dir "$tmp" >"$tmp/b.out" 2>/dev/null
check "wflow-bench journal --quick exits 0" test $? -eq 0
for name in replay_events_per_s replay_mb_per_s append_none_events_per_s \
	append_always_1_commits_per_s append_always_64_events_per_s \
	compression_ratio_small_frames compression_ratio_large_frames; do
	check "wflow-bench journal prints $name" grep -Eq "^$name=[0-9.]+$" "$tmp/b.out"
done
check "the figures come last, one name=value per line" python3 -c '
import sys
lines = open(sys.argv[1]).read().splitlines()
assert lines and all("=" in l for l in lines[-10:]), lines[-10:]
' "$tmp/b.out"

# The main job: wflow demo runs the seed's examples and checks them.
"$wflow" demo "$tmp/demo" >"$tmp/demo.out" 2>&1
check "wflow demo exits 0 (every seed assertion held)" test $? -eq 0
check "wflow demo reports its checks passed" grep -Eq 'all [0-9]+ checks passed' "$tmp/demo.out"
"$wflow" demo "$tmp/demo" >/dev/null 2>&1
check "wflow demo runs again on the same directory" test $? -eq 0
# meta: offline, the same JSON as get_metadata.
"$wflow" meta "$tmp/demo" add_example >"$tmp/meta.json"
check "wflow meta exits 0" test $? -eq 0
check "wflow meta gives the workflow's metadata" python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["status"] == "SUCCESSFUL", m
assert "start_time" in m["stats"] and "end_time" in m["stats"], m
assert m["user_metadata"] == {}, m
' "$tmp/meta.json"
"$wflow" meta "$tmp/demo" add_example_3 add_step >"$tmp/meta3.json"
check "wflow meta of a step gives its user metadata and options" python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["user_metadata"] == {"step_k": "step_v"}, m
assert m["step_options"]["step_type"] == "FUNCTION", m
' "$tmp/meta3.json"
"$wflow" meta "$tmp/demo" vid add_1 >"$tmp/meta_actor.json"
check "wflow meta of an actor's call gives its metadata (the seed's vid)" python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["user_metadata"] == {"k2": "v2"}, m
assert m["step_options"]["step_type"] == "ACTOR_METHOD", m
assert m["step_options"]["max_retries"] == 0, m
assert m["stats"]["end_time"] >= m["stats"]["start_time"] + 1, m
' "$tmp/meta_actor.json"
"$wflow" meta "$tmp/demo" counter incr_4 >"$tmp/meta_counter.json"
check "wflow meta of a nested actor call (incr_4)" python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["user_metadata"] == {"current_n": 4}, m
' "$tmp/meta_counter.json"
"$wflow" meta "$tmp/demo" no-such-workflow >/dev/null 2>"$tmp/meta.err"
check "wflow meta of an unknown id exits 1" test $? -eq 1
check "and says No such workflow_id" grep -q 'No such workflow_id no-such-workflow' "$tmp/meta.err"
"$wflow" ls "$tmp/demo" --json >"$tmp/ls.json"
check "wflow ls --json lists the demo's workflows with their status" python3 -c '
import json, sys
ws = json.load(open(sys.argv[1]))
l = {w["workflow_id"]: w["status"] for w in ws}
assert l.get("add_example") == "SUCCESSFUL", l
assert "CANCELED" in l.values(), l
for w in ws:  # duration = end - start, when both are known
    if "end_time" in w:
        assert abs(w["duration"] - (w["end_time"] - w["start_time"])) < 1e-6, w
    else:
        assert "duration" not in w, w
vid = [w for w in ws if w["workflow_id"] == "vid"][0]
assert vid["duration"] >= 1.0, vid  # its last call sleeps 1 s
' "$tmp/ls.json"
"$wflow" ls "$tmp/demo" >"$tmp/ls_all.out"
check "wflow ls's table says what ls --json says, row for row" python3 -c '
import json, sys, datetime
ws = json.load(open(sys.argv[1]))
lines = open(sys.argv[2]).read().splitlines()
assert lines[0].split()[:2] == ["ID", "STATUS"], lines[0]
rows = [l.split() for l in lines[1:] if l.strip()]
assert len(rows) == len(ws) and len(ws) >= 5, (len(rows), len(ws))
def iso(t):
    if t is None:
        return "-"
    ms = int(t * 1000 + 0.5)
    d = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)
for r, w in zip(rows, ws):
    want = [w["workflow_id"], w["status"], iso(w.get("start_time")),
            iso(w.get("end_time")),
            "%.6f" % w["duration"] if "duration" in w else "-",
            str(w["steps"]), str(w["attempts"])]
    assert r == want, (r, want)
' "$tmp/ls.json" "$tmp/ls_all.out"
"$wflow" ls "$tmp/demo" --status canceled >"$tmp/ls.out"
check "wflow ls --status filters" python3 -c '
import sys
rows = [l for l in open(sys.argv[1]).read().splitlines()[1:] if l.strip()]
assert rows and all("CANCELED" in r for r in rows), rows
' "$tmp/ls.out"

# The engine benchmark's smoke run prints the figures the engine issue names.
"$bench" engine --quick --dir "$tmp" >"$tmp/e.out" 2>/dev/null
check "wflow-bench engine --quick exits 0" test $? -eq 0
for name in noop_step_us chain_fsyncs_per_step parallel64_fsyncs \
	get_metadata_us open_1m_events_s bytes_per_step_after_open; do
	check "wflow-bench engine prints $name" grep -Eq "^$name=[0-9.]+$" "$tmp/e.out"
done

if [ $fail -ne 0 ]; then
	exit 1
fi
echo "tools: all checks passed"
