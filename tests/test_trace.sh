#!/usr/bin/env bash
# wflow trace as a user runs it: the Chrome Trace Event JSON it writes
# follows the format's rules (valid JSON; every slice has name, ph, ts,
# dur, pid, tid; the slices of a track nest; every track is named by a
# thread_name event), and shows what the journal holds: a slice per step
# try (each retry and resume its own), instant events for the status
# changes (crashes detected at open included), the workflow's user
# metadata in the args. Also: IDs select workflows, exit codes 0/1/2 with
# the file, offset or id named, the journal left as it was, and a trace
# taken while a writer appends.
# Journals: `wflow demo` (retries, a resume, a cancel, actors, a deleted
# and re-created id) and `wflow-bench gen` (failures, continuations and,
# with seed 3 at event 152,013, an engine restart).
set -u
wflow=$1
bench=$2
tmp=$(mktemp -d)
trap 'kill $genpid 2>/dev/null; rm -rf "$tmp"' EXIT
genpid=
. "$(dirname "$0")/check.sh" # check DESCRIPTION COMMAND...

# The format's rules and the journal's contents, checked against the
# journal's own events as `wflow dump` prints them.
cat >"$tmp/check.py" <<'PY'
import collections, json, sys

trace, dump = sys.argv[1], sys.argv[2]
want_crash = len(sys.argv) > 3 and sys.argv[3] == "crash"
d = json.load(open(trace, encoding="utf-8"))
assert isinstance(d, dict) and isinstance(d["traceEvents"], list), type(d)
ev = d["traceEvents"]

names = {}          # tid -> thread name
slices = collections.defaultdict(list)
instants = []
last_ts = None
for e in ev:
    assert isinstance(e.get("name"), str) and e.get("ph") in ("M", "X", "i"), e
    assert e.get("pid") == 1 and isinstance(e.get("tid"), int), e
    if e["ph"] == "M":
        assert last_ts is None, "metadata events come first"
        if e["name"] == "thread_name":
            assert e["tid"] not in names, ("two names", e)
            names[e["tid"]] = e["args"]["name"]
        continue
    assert isinstance(e.get("ts"), (int, float)) and e["ts"] >= 0, e
    assert last_ts is None or e["ts"] >= last_ts, ("not sorted by ts", e)
    last_ts = e["ts"]
    if e["ph"] == "X":
        for k in ("name", "ph", "ts", "dur", "pid", "tid"):
            assert k in e, (k, e)
        assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0, e
        slices[(e["pid"], e["tid"])].append(e)
    else:
        assert e.get("s") == "t", e
        instants.append(e)
assert any(e["ph"] == "M" and e["name"] == "process_name" for e in ev)

# Every track (tid) with events is named; names are the workflow ids.
used = {t for (_, t) in slices} | {e["tid"] for e in instants}
for t in used:
    assert t in names, ("track without thread_name", t)

# The slices of one track nest: sorted by start (longer first), each one
# ends before the innermost one still open ends. Exactly: the times are
# printed with 3 decimals (nanoseconds).
def ns(x):
    return round(x * 1000)
for key, sl in slices.items():
    sl.sort(key=lambda e: (ns(e["ts"]), -ns(e["dur"])))
    stack = []
    for e in sl:
        s, t = ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])
        while stack and stack[-1][0] <= s:
            stack.pop()
        assert not stack or t <= stack[-1][0], \
            ("overlaps without nesting", key, e, stack[-1][1])
        stack.append((t, e))

# What the journal holds: step tries, status changes, deletions.
tries = collections.Counter()
statuses = collections.Counter()
metadata = {}
for line in open(dump, encoding="utf-8"):
    j = json.loads(line)
    f = j["fields"]
    if j["type"] == "step_started":
        tries[(f["workflow_id"], f["step_id"])] += 1
    elif j["type"] in ("status_changed", "workflow_deleted"):
        statuses[f["workflow_id"]] += 1
    elif j["type"] == "workflow_created":
        metadata[f["workflow_id"]] = j["payloads"].get("user_metadata")

steps = collections.Counter()
outcomes = collections.Counter()
for sl in slices.values():
    for e in sl:
        if e["cat"] != "step":
            continue
        a = e["args"]
        assert a["step_id"] == e["name"] and a["outcome"] in (
            "SUCCEEDED", "FAILED", "CONTINUED", "INTERRUPTED", "CANCELED",
            "RUNNING", "UNFINISHED"), e
        assert isinstance(a["attempt"], int) and isinstance(a["run"], int), e
        assert a["outcome"] != "FAILED" or "error" in a, e
        if metadata.get(a["workflow_id"]) is not None:
            assert a["user_metadata"] == metadata[a["workflow_id"]], e
        assert names[e["tid"]].split(" ")[0] == a["workflow_id"], \
            (names[e["tid"]], e)
        steps[(a["workflow_id"], e["name"])] += 1
        outcomes[a["outcome"]] += 1
assert steps == tries, ("a slice per try", set(steps.items()) ^ set(tries.items()))
retried = [k for k, n in tries.items() if n >= 2]
assert retried, "the journal has retried steps"

changes = collections.Counter()
crashes = 0
for e in instants:
    a = e["args"]
    if a["what"] != "status":
        continue
    if a.get("cause") == "crash detected at open":
        crashes += 1
        assert e["name"] == "RESUMABLE", e
    else:
        changes[a["workflow_id"]] += 1
assert changes == statuses, ("an instant per status change",
                             set(changes.items()) ^ set(statuses.items()))
if want_crash:
    assert crashes > 0 and outcomes["INTERRUPTED"] > 0, (crashes, outcomes)
print("ok: %d slices on %d tracks, %d instants, %d steps retried, %s" %
      (sum(map(len, slices.values())), len(slices), len(instants),
       len(retried), dict(outcomes)))
PY

"$wflow" demo "$tmp/demo" >/dev/null 2>&1 &&
	"$wflow" demo "$tmp/demo" >/dev/null 2>&1 || {
	echo "FAIL: wflow demo" >&2
	exit 1
}
"$bench" gen "$tmp/gen" --events 200000 --seed 3 --batch 16 --segment-size 1m \
	>/dev/null || {
	echo "FAIL: wflow-bench gen" >&2
	exit 1
}

"$wflow" trace --help >"$tmp/help.out"
check "trace --help exits 0" test $? -eq 0
check "trace --help shows the usage" grep -q '^usage: wflow trace DIR' "$tmp/help.out"

# The demo: retries (note2_resume), a resume, a step cut by a cancel,
# actors, continuations, user metadata, an id deleted and re-created (the
# demo ran twice).
(cd "$tmp/demo" && md5sum journal/* >"$tmp/demo.md5")
"$wflow" trace "$tmp/demo" -o "$tmp/demo.json"
check "trace of the demo exits 0" test $? -eq 0
"$wflow" dump "$tmp/demo" >"$tmp/demo.jsonl"
check "the demo's trace follows the format and the journal" \
	python3 "$tmp/check.py" "$tmp/demo.json" "$tmp/demo.jsonl"
check "the demo's trace names its tracks by workflow id, #2 for a reused id" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
names = {e["args"]["name"] for e in d["traceEvents"] if e["name"] == "thread_name"}
for n in ("add_example", "add_example #2", "note2_resume", "vid", "counter"):
    assert n in names, (n, sorted(names))
sl = [e for e in d["traceEvents"] if e["ph"] == "X" and e["name"] == "simple_fail"]
assert len(sl) == 10 and sum(e["args"]["outcome"] == "FAILED" for e in sl) == 8, sl
assert all(e["args"]["error"] == "ValueError (error_flag is set)"
           for e in sl if e["args"]["outcome"] == "FAILED"), sl
assert {e["args"]["run"] for e in sl} == {1, 2}, sl
md = [e for e in d["traceEvents"] if e.get("args", {}).get("workflow_id") == "add_example_3" and e["ph"] == "X"]
assert md and all(e["args"]["user_metadata"] == {"workflow_k": "workflow_v"} for e in md), md
att = [e["name"] for e in d["traceEvents"] if e.get("cat") == "attempt"]
assert "attempt 2 (resume)" in att and "attempt 2 (call)" in att, att
cut = [e for e in d["traceEvents"] if e["name"] == "simple_sleep"]
assert cut and all(e["args"]["outcome"] == "CANCELED" for e in cut), cut
' "$tmp/demo.json"
(cd "$tmp/demo" && md5sum -c --quiet "$tmp/demo.md5")
check "trace leaves the journal as it was" test $? -eq 0
# The writer's lock is a flock on journal/LOCK: held here as an engine
# would hold it, the trace must not need it.
flock -n "$tmp/demo/journal/LOCK" "$wflow" trace "$tmp/demo" -o "$tmp/locked.json"
check "trace works while the writer's lock is held" test $? -eq 0

# IDs select workflows.
"$wflow" trace "$tmp/demo" note2_resume counter -o "$tmp/two.json"
check "trace with IDs exits 0" test $? -eq 0
check "trace with IDs has just their tracks" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ids = {e["args"]["workflow_id"] for e in d["traceEvents"] if e["ph"] != "M"}
assert ids == {"note2_resume", "counter"}, ids
' "$tmp/two.json"

# The synthetic journal: thousands of workflows over several segments,
# failures, continuations, an engine restart (crash detected at open).
"$wflow" trace "$tmp/gen" -o "$tmp/gen.json"
check "trace of a synthetic journal exits 0" test $? -eq 0
"$wflow" dump "$tmp/gen" --type step_started,status_changed,workflow_deleted,workflow_created \
	>"$tmp/gen.jsonl"
check "the synthetic journal's trace follows the format and the journal" \
	python3 "$tmp/check.py" "$tmp/gen.json" "$tmp/gen.jsonl" crash
# -o - writes to stdout.
"$wflow" trace "$tmp/demo" counter -o - >"$tmp/stdout.json"
check "trace -o - writes the JSON to stdout" python3 -c '
import json, sys; json.load(open(sys.argv[1]))' "$tmp/stdout.json"

# Exit codes, and what the messages name.
"$wflow" trace "$tmp/demo" no_such_wf -o "$tmp/none.json" 2>"$tmp/none.err"
check "an unknown ID exits 1" test $? -eq 1
check "the unknown ID is named" grep -q 'no_such_wf' "$tmp/none.err"
check "nothing is written for an unknown ID" test ! -e "$tmp/none.json"
"$wflow" trace "$tmp/demo" >/dev/null 2>"$tmp/noout.err"
check "trace without -o exits 2" test $? -eq 2
check "the missing -o is named" grep -q -- '-o' "$tmp/noout.err"
mkdir "$tmp/empty"
"$wflow" trace "$tmp/empty" -o "$tmp/empty.json" 2>/dev/null
check "trace of a directory without a journal exits 1" test $? -eq 1
"$wflow" trace "$tmp/nonexistent" -o "$tmp/x.json" 2>/dev/null
check "trace of a missing directory exits 2" test $? -eq 2
"$wflow" trace "$tmp/demo" -o "$tmp/nonexistent/x.json" 2>"$tmp/unw.err"
check "trace to an unwritable FILE exits 2" test $? -eq 2
check "the unwritable FILE is named" grep -q "$tmp/nonexistent/x.json" "$tmp/unw.err"
"$wflow" trace "$tmp/demo" --frobnicate -o "$tmp/x.json" 2>/dev/null
check "trace with an unknown option exits 2" test $? -eq 2

# A flipped byte in a middle segment: exit 1, file and offset named.
cp -r "$tmp/gen" "$tmp/bad"
seg=$(ls "$tmp/bad/journal"/*.wfj | sed -n 2p)
size=$(stat -c %s "$seg")
python3 - "$seg" $((size / 2)) <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
b[off] ^= 0x55
open(p, "wb").write(b)
PY
"$wflow" trace "$tmp/bad" -o "$tmp/bad.json" 2>"$tmp/bad.err"
check "trace of a damaged journal exits 1" test $? -eq 1
check "the damage is named with its file and offset" \
	grep -q "$(basename "$seg"): offset [0-9]" "$tmp/bad.err"

# While a writer appends: a trace of what is there so far.
"$bench" gen "$tmp/live" --events 3000000 --batch 4 --segment-size 4m \
	>/dev/null 2>&1 &
genpid=$!
for _ in $(seq 100); do
	ls "$tmp/live/journal/"*.wfj >/dev/null 2>&1 && break
	sleep 0.05
done
"$wflow" trace "$tmp/live" -o "$tmp/live.json" 2>"$tmp/live.err"
rc=$?
check "trace while a writer appends exits 0 (got $rc: $(head -c 300 "$tmp/live.err"))" test $rc -eq 0
check "trace while a writer appends writes valid JSON" python3 -c '
import json, sys; json.load(open(sys.argv[1]))' "$tmp/live.json"
kill $genpid 2>/dev/null
wait $genpid 2>/dev/null
genpid=

exit $fail
