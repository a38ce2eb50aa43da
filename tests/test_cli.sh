#!/usr/bin/env bash
# The audit commands of wflow as a user runs them, on journals the engine
# wrote (wflow demo: the seed's examples) and synthetic ones (wflow-bench
# gen: retries, failures, resumes, continuations, deletes):
#   history  note2_resume's failed tries, FAILED, the resume and success;
#            note1_cancel's cancel; counter's CONTINUED tries; two lives
#            of an id the demo deletes and creates again; --json; exit codes
#   stats    the text sections; --json against dump, ls and the vid's
#            1 s calls
#   dump     --workflow, --type, --step, --since/--until SEQ and TIME,
#            --follow while another demo run appends, bad arguments
#   meta     --at SEQ, ISO 8601 time (Z and an offset), epoch seconds
#   verify   the demo journal has no logical errors
# A crash (a session_started while a workflow is RUNNING) is not made here:
# wflow demo cannot be interrupted reliably; tests/test_verify_logic.c
# crafts such a journal and checks history and verify on it.
set -u
wflow=$1
bench=$2
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
# The interpreter itself, not a wrapper (a pyenv shim costs ~0.5 s a call).
python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -x "$python" ] || python=python3
. "$(dirname "$0")/check.sh" # check DESCRIPTION COMMAND...
# py DESCRIPTION SCRIPT ARGS...: a python3 check (assert) with arguments.
py() {
	local what=$1 script=$2
	shift 2
	check "$what" "$python" -c "$script" "$@"
}
# Wait (up to $2 tenths of a second) until file $1 has at least $3 lines.
wait_lines() {
	local i
	for ((i = 0; i < $2; i++)); do
		[ "$(wc -l <"$1")" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- the journals -------------------------------------------------------

d=$tmp/d   # two demo runs (the second one while dump --follow runs)
d1=$tmp/d1 # a copy after the first run
g=$tmp/g   # wflow-bench gen
"$wflow" demo "$d" >"$tmp/demo.out" 2>&1 || {
	echo "FAIL: wflow demo" >&2
	cat "$tmp/demo.out" >&2
	exit 1
}
cp -r "$d" "$d1"
"$bench" gen "$g" --events 20000 --batch 4 >/dev/null 2>&1 || {
	echo "FAIL: wflow-bench gen" >&2
	exit 1
}
"$wflow" dump "$d1" >"$tmp/d1.jsonl"
check "dump of the demo journal exits 0" test $? -eq 0
n1=$(wc -l <"$tmp/d1.jsonl")

# ---- dump --follow: the second demo run appends -------------------------

"$wflow" dump "$d" --follow >"$tmp/f_all.jsonl" 2>"$tmp/f_all.err" &
f_all=$!
pids+=("$f_all")
"$wflow" dump "$d" -f --workflow add_example >"$tmp/f_wf.jsonl" 2>&1 &
f_wf=$!
pids+=("$f_wf")
until_seq=$((n1 + 5))
"$wflow" dump "$d" --follow --until "$until_seq" >"$tmp/f_until.jsonl" 2>&1 &
f_until=$!
pids+=("$f_until")
check "dump --follow prints what is there at once" wait_lines "$tmp/f_all.jsonl" 50 "$n1"
"$wflow" demo "$d" >"$tmp/demo2.out" 2>&1
check "wflow demo runs again on the same directory" test $? -eq 0
"$wflow" dump "$d" >"$tmp/d.jsonl"
n2=$(wc -l <"$tmp/d.jsonl")
check "the second demo run appended events" test "$n2" -gt "$n1"
check "dump --follow shows the appended events within 5 s" wait_lines "$tmp/f_all.jsonl" 50 "$n2"
sleep 0.3 # nothing more should come
kill "$f_all" "$f_wf"
wait "$f_all" "$f_wf" 2>/dev/null
pids=("$f_until")
py "dump --follow printed every event once, in order, as dump does" '
import sys
a, b = open(sys.argv[1]).read(), open(sys.argv[2]).read()
assert a == b, (len(a), len(b))
' "$tmp/f_all.jsonl" "$tmp/d.jsonl"
check "dump --follow wrote nothing to stderr" test ! -s "$tmp/f_all.err"
py "dump --follow --workflow saw the deletion and the second creation" '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
assert all(e["fields"]["workflow_id"] == "add_example" for e in evs), evs
types = [e["type"] for e in evs]
assert types.count("workflow_created") == 2, types
assert "workflow_deleted" in types, types
assert types.index("workflow_deleted") < len(types) - 1 - types[::-1].index("workflow_created"), types
' "$tmp/f_wf.jsonl"
# --follow --until SEQ ends by itself once the journal has passed SEQ.
for ((i = 0; i < 50; i++)); do
	kill -0 "$f_until" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$f_until" 2>/dev/null; then
	check "dump --follow --until ends once the journal passes SEQ" false
	kill "$f_until"
	wait "$f_until" 2>/dev/null
	pids=()
else
	wait "$f_until"
	check "dump --follow --until exits 0" test $? -eq 0
	pids=()
fi
py "dump --follow --until SEQ stopped at SEQ" '
import json, sys
seqs = [json.loads(l)["seq"] for l in open(sys.argv[1])]
assert seqs == list(range(1, int(sys.argv[2]) + 1)), (seqs[:3], seqs[-3:])
' "$tmp/f_until.jsonl" "$until_seq"

# --follow across new segments: wflow-bench gen appends to a journal of
# small segments.
r=$tmp/r
"$bench" gen "$r" --events 100 --segment-size 4096 >/dev/null 2>&1
"$wflow" dump "$r" --follow >"$tmp/f_r.jsonl" 2>&1 &
f_r=$!
pids=("$f_r")
check "dump --follow on small segments prints what is there" wait_lines "$tmp/f_r.jsonl" 50 100
"$bench" gen "$r" --events 3000 --seed 7 --segment-size 4096 >/dev/null 2>&1
check "wflow-bench gen appends to the journal" test $? -eq 0
check "dump --follow shows events appended over new segments within 5 s" wait_lines "$tmp/f_r.jsonl" 50 3100
sleep 0.3
kill "$f_r"
wait "$f_r" 2>/dev/null
pids=()
"$wflow" dump "$r" >"$tmp/r.jsonl"
check "dump --follow printed what dump prints, across segments" cmp -s "$tmp/f_r.jsonl" "$tmp/r.jsonl"
check "the journal followed has several segments" test "$(ls "$r/journal"/*.wfj | wc -l)" -gt 3

# ---- history ------------------------------------------------------------

"$wflow" history "$d1" note2_resume >"$tmp/h2.txt"
check "history exits 0" test $? -eq 0
py "history note2_resume: failed tries with their error, FAILED, the resume, the success" '
import json, re, sys
text = open(sys.argv[1]).read()
errors = [json.loads(l)["fields"]["error"] for l in open(sys.argv[2])
          if json.loads(l)["type"] == "step_failed"
          and json.loads(l)["fields"]["workflow_id"] == "note2_resume"]
assert len(errors) == 4 and errors[0], errors
lines = text.splitlines()
assert lines[0] == "workflow note2_resume: SUCCESSFUL", lines[0]
assert re.match(r"^ +SEQ +TIME +WHAT$", lines[1]), lines[1]
def at(pattern, start):
    for i in range(start, len(lines)):
        if re.search(pattern, lines[i]):
            return i
    raise AssertionError("no %r after line %d in:\n%s" % (pattern, start, text))
i = at(r"created \(run\)", 2)
i = at(r"attempt 1 started \(run", i)
for n in range(1, 5):
    i = at(r"step simple_fail try %d \(attempt 1\): FAILED after [0-9.]+ s: " % n
           + re.escape(errors[n - 1]) + "$", i + 1)
i = at(r"FAILED \(step failed\)", i + 1)
i = at(r"attempt 2 started \(resume", i + 1)
i = at(r"step simple_fail try 1 \(attempt 2\): SUCCEEDED after", i + 1)
i = at(r"SUCCESSFUL \(", i + 1)
# the rows are in sequence order
seqs = [int(l.split()[0]) for l in lines[2:]]
assert seqs == sorted(seqs), seqs
' "$tmp/h2.txt" "$tmp/d1.jsonl"

"$wflow" history "$d1" note2_resume --json >"$tmp/h2.json"
check "history --json exits 0" test $? -eq 0
py "history --json note2_resume: 4 FAILED tries with their error, then a SUCCEEDED one in run 2" '
import json, sys
h = json.load(open(sys.argv[1]))
assert h["workflow_id"] == "note2_resume", h
assert len(h["lives"]) == 1, h
life = h["lives"][0]
assert life["status"] == "SUCCESSFUL" and "deleted" not in life, life
tries = life["tries"]
assert [t["outcome"] for t in tries] == ["FAILED"] * 4 + ["SUCCEEDED"], tries
assert [t["run"] for t in tries] == [1, 1, 1, 1, 2], tries
assert [t["try"] for t in tries] == [1, 2, 3, 4, 1], tries
assert all(t["step_id"] == "simple_fail" and t["name"] == "simple_fail" for t in tries), tries
assert all(t.get("error") for t in tries[:4]) and "error" not in tries[4], tries
assert all(t["end_time"] >= t["start_time"] and t["duration"] >= 0 for t in tries), tries
ch = life["changes"]
what = [(c["what"], c.get("status"), c.get("attempt"), c.get("cause")) for c in ch]
assert what[0] == ("created", None, None, "run"), what
assert ("status", "FAILED", None, "step failed") in what, what
assert ("attempt", None, 2, "resume") in what, what
assert what.index(("status", "FAILED", None, "step failed")) < what.index(("attempt", None, 2, "resume")), what
assert what[-1][:2] == ("status", "SUCCESSFUL"), what
seqs = [c["seq"] for c in ch]
assert seqs == sorted(seqs), seqs
# the failed tries come before FAILED, the success after the resume
fail_seq = [c["seq"] for c in ch if c.get("status") == "FAILED"][0]
resume_seq = [c["seq"] for c in ch if c.get("cause") == "resume" and c["what"] == "attempt"][0]
assert all(t["seq"] < fail_seq for t in tries[:4]), (tries, fail_seq)
assert tries[4]["seq"] > resume_seq, (tries, resume_seq)
' "$tmp/h2.json"

"$wflow" history "$d1" note1_cancel >"$tmp/h1.txt"
check "history note1_cancel exits 0" test $? -eq 0
check "history note1_cancel: workflow CANCELED" grep -qx "workflow note1_cancel: CANCELED" "$tmp/h1.txt"
check "history note1_cancel: CANCELED (cancel)" grep -Eq '^ +[0-9]+  [-0-9T:.]+Z  CANCELED \(cancel\)$' "$tmp/h1.txt"
"$wflow" history "$d1" note1_cancel --json >"$tmp/h1.json"
py "history --json note1_cancel: the last change is CANCELED, cause cancel" '
import json, sys
life = json.load(open(sys.argv[1]))["lives"][0]
assert life["status"] == "CANCELED", life
last = life["changes"][-1]
assert last["what"] == "status" and last["status"] == "CANCELED" and last["cause"] == "cancel", last
' "$tmp/h1.json"

"$wflow" history "$d1" counter >"$tmp/hc.txt"
check "history counter exits 0" test $? -eq 0
check "history counter: an actor of class Counter" grep -qx "workflow counter: SUCCESSFUL, actor of class Counter" "$tmp/hc.txt"
for s in incr incr_1 incr_2 incr_3; do
	check "history counter: step $s CONTINUED" grep -Eq "step $s try 1 \(attempt [0-9]+\): CONTINUED after" "$tmp/hc.txt"
done
check "history counter: step incr_4 SUCCEEDED" grep -Eq "step incr_4 try 1 \(attempt [0-9]+\): SUCCEEDED after" "$tmp/hc.txt"
"$wflow" history "$d1" counter --json >"$tmp/hc.json"
py "history --json counter: incr..incr_4, the first four CONTINUED" '
import json, sys
life = json.load(open(sys.argv[1]))["lives"][0]
assert life["actor_class"] == "Counter", life
tries = life["tries"]
assert [t["step_id"] for t in tries] == ["incr", "incr_1", "incr_2", "incr_3", "incr_4"], tries
assert all(t["name"] == "incr" for t in tries), tries
assert [t["outcome"] for t in tries] == ["CONTINUED"] * 4 + ["SUCCEEDED"], tries
' "$tmp/hc.json"

"$wflow" history "$d1" no-such-id >"$tmp/hn.out" 2>"$tmp/hn.err"
check "history of an unknown id exits 1" test $? -eq 1
check "and says No such workflow_id" grep -q "No such workflow_id no-such-id" "$tmp/hn.err"
check "and prints nothing on stdout" test ! -s "$tmp/hn.out"
"$wflow" history "$d1" >/dev/null 2>"$tmp/hm.err"
check "history without ID exits 2" test $? -eq 2
check "and names what is missing" grep -q "missing ID" "$tmp/hm.err"
"$wflow" history "$tmp/nonexistent" add_example >/dev/null 2>&1
check "history of a missing directory exits 2" test $? -eq 2
"$wflow" history --help >/dev/null
check "history --help exits 0" test $? -eq 0

# Two demo runs: the demo deletes its ids and creates them again.
for id in add_example note2_resume vid counter; do
	"$wflow" history "$d" "$id" >"$tmp/hl.txt"
	check "history $id on two demo runs exits 0" test $? -eq 0
	check "history $id shows life 1 of 2" grep -qx "(life 1 of 2 of id $id)" "$tmp/hl.txt"
	check "history $id shows life 2 of 2" grep -qx "(life 2 of 2 of id $id)" "$tmp/hl.txt"
	"$wflow" history "$d" "$id" --json >"$tmp/hl.json"
	py "history --json $id: two lives, the first deleted" '
import json, sys
h = json.load(open(sys.argv[1]))
lives = h["lives"]
assert len(lives) == 2, lives
assert lives[0].get("deleted") is True and "deleted" not in lives[1], lives
last = lives[0]["changes"][-1]
assert last["status"] == "DELETED" and last["cause"] == "delete", last
assert lives[1]["changes"][0]["what"] == "created", lives[1]["changes"][0]
assert lives[1]["changes"][0]["seq"] > last["seq"], (lives[1]["changes"][0], last)
assert lives[1]["status"] == "SUCCESSFUL", lives[1]
' "$tmp/hl.json"
done

# ---- stats --------------------------------------------------------------

"$wflow" stats "$d1" >"$tmp/s.txt"
check "stats exits 0" test $? -eq 0
check "stats counts the events" grep -Eq "^events +$n1 in 1 segments?$" "$tmp/s.txt"
for section in '^bytes +' '^time span +' '^EVENT TYPE +COUNT$' \
	'^STATUS +WORKFLOWS$' '^SLOWEST STEPS +TRIES +P50 S +P95 S +MAX S$' \
	'^step_failed +4$' '^CANCELED +1$' '^\(all\) +7$'; do
	check "stats text has a line matching $section" grep -Eq "$section" "$tmp/s.txt"
done
# stats --json against dump and ls, on the demo journals and a synthetic one
stats_check='
import collections, json, sys
s = json.load(open(sys.argv[1]))
evs = [json.loads(l) for l in open(sys.argv[2])]
ls = json.load(open(sys.argv[3]))
assert s["events"] == len(evs), (s["events"], len(evs))
assert sum(s["events_by_type"].values()) == s["events"], s["events_by_type"]
assert s["events_by_type"] == dict(collections.Counter(e["type"] for e in evs)), s["events_by_type"]
want = collections.Counter(w["status"] for w in ls)
got = {k: v for k, v in s["workflows_by_status"].items() if v}
assert got == dict(want), (s["workflows_by_status"], want)
assert set(s["workflows_by_status"]) == {"RUNNING", "FAILED", "RESUMABLE", "CANCELED", "SUCCESSFUL"}, s
assert s["workflows"] == len(ls), (s["workflows"], len(ls))
sl = s["slowest_steps"]
assert sl, s
maxes = [x["max"] for x in sl]
assert maxes == sorted(maxes, reverse=True), maxes
assert all(0 <= x["p50"] <= x["p95"] <= x["max"] and x["tries"] >= 1 for x in sl), sl
assert s["bytes_raw"] > 0 and s["bytes_disk"] > 0 and s["segments"] >= 1, s
assert s["first_time"] <= s["last_time"], s
assert abs(s["span_s"] - (s["last_time"] - s["first_time"])) < 1e-3, s
# every try from dump: a start, then its first end (a success after a
# caught failure is no new try); per step name (the id without _N)
import re
def secs(t):
    import datetime
    d = datetime.datetime.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")
    d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp() + float("0" + t[19:-1])
openr, tries, mx = {}, collections.Counter(), {}
for e in evs:
    f = e.get("fields", {})
    if e["type"] not in ("step_started", "step_succeeded", "step_failed"):
        continue
    k = (f["workflow_id"], f["step_id"])
    if e["type"] == "step_started":
        openr[k] = secs(e["time"])
        continue
    if k not in openr:
        continue
    name = re.sub(r"_[0-9]+$", "", f["step_id"])
    tries[name] += 1
    d = secs(e["time"]) - openr.pop(k)
    mx[name] = max(mx.get(name, d), d)
# (the slowest names only; with their maxima, in order, as dump has them)
assert all(x["tries"] == tries[x["name"]] for x in sl), (sl, dict(tries))
assert all(abs(x["max"] - mx[x["name"]]) < 1e-5 for x in sl), (sl, mx)
top = sorted(mx.values(), reverse=True)[:len(sl)]
assert all(abs(a - b) < 1e-5 for a, b in zip(maxes, top)), (maxes, top)
'
for j in d1 d g; do
	"$wflow" stats "$tmp/$j" --json >"$tmp/s_$j.json"
	check "stats --json exits 0 ($j)" test $? -eq 0
	[ -f "$tmp/$j.jsonl" ] || "$wflow" dump "$tmp/$j" >"$tmp/$j.jsonl"
	"$wflow" ls "$tmp/$j" --json >"$tmp/ls_$j.json"
	py "stats --json agrees with dump and ls ($j)" "$stats_check" \
		"$tmp/s_$j.json" "$tmp/$j.jsonl" "$tmp/ls_$j.json"
done
py "stats --json: the vid calls (add, add_1, add_2: 1 s each) are the slowest steps" '
import json, sys
s = json.load(open(sys.argv[1]))
add = [x for x in s["slowest_steps"] if x["name"] == "add"]
assert len(add) == 1, s["slowest_steps"]
add = add[0]
assert add["max"] >= 1.0 and add["p95"] >= 1.0, add
assert add["tries"] >= 3, add
assert s["slowest_steps"][0]["name"] == "add", s["slowest_steps"]
incr = [x for x in s["slowest_steps"] if x["name"] == "incr"]
assert incr and incr[0]["tries"] == 5, s["slowest_steps"]
assert s["workflows_by_status"]["CANCELED"] == 1, s
assert s["span_s"] >= 3.0, s
' "$tmp/s_d1.json"
py "stats --json of the synthetic journal: deletes, failures, RESUMABLE" '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["events"] == 20000, s["events"]
bt = s["events_by_type"]
for t in ("workflow_deleted", "step_failed", "continuation"):
    assert bt.get(t, 0) > 0, (t, bt)
' "$tmp/s_g.json"
"$wflow" stats "$tmp/nonexistent" >/dev/null 2>&1
check "stats of a missing directory exits 2" test $? -eq 2
mkdir "$tmp/empty"
"$wflow" stats "$tmp/empty" >/dev/null 2>&1
check "stats of a directory without a journal exits 1" test $? -eq 1
"$wflow" stats >/dev/null 2>&1
check "stats without DIR exits 2" test $? -eq 2

# ---- dump filters -------------------------------------------------------

"$wflow" dump "$d1" --workflow vid >"$tmp/f.jsonl"
check "dump --workflow exits 0" test $? -eq 0
py "dump --workflow vid prints exactly the events of vid" '
import json, sys
got = open(sys.argv[1]).read().splitlines()
want = [l for l in open(sys.argv[2]).read().splitlines()
        if json.loads(l)["fields"].get("workflow_id") == "vid"
        and json.loads(l)["type"] not in ("session_started", "notice")]
assert got == want and len(got) > 10, (len(got), len(want))
' "$tmp/f.jsonl" "$tmp/d1.jsonl"

for j in d1 g; do
	"$wflow" dump "$tmp/$j" --type step_failed >"$tmp/f.jsonl"
	check "dump --type exits 0 ($j)" test $? -eq 0
	py "dump --type step_failed: only those, as many as stats counts ($j)" '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
s = json.load(open(sys.argv[2]))
assert evs and all(e["type"] == "step_failed" for e in evs), evs[:3]
assert len(evs) == s["events_by_type"]["step_failed"], (len(evs), s["events_by_type"])
' "$tmp/f.jsonl" "$tmp/s_$j.json"
done
"$wflow" dump "$d1" --type step_failed,workflow_created >"$tmp/f.jsonl"
py "dump --type T,T: both types, nothing else" '
import collections, json, sys
c = collections.Counter(json.loads(l)["type"] for l in open(sys.argv[1]))
assert c == {"step_failed": 4, "workflow_created": 5}, c
' "$tmp/f.jsonl"

"$wflow" dump "$d1" --step incr >"$tmp/f.jsonl"
check "dump --step exits 0" test $? -eq 0
py "dump --step incr matches incr and incr_1..incr_4, every event of them" '
import json, sys
got = open(sys.argv[1]).read().splitlines()
ids = {json.loads(l)["fields"]["step_id"] for l in got}
assert ids == {"incr", "incr_1", "incr_2", "incr_3", "incr_4"}, ids
want = [l for l in open(sys.argv[2]).read().splitlines()
        if json.loads(l)["fields"].get("step_id") in ids]
assert got == want, (len(got), len(want))
types = {json.loads(l)["type"] for l in got}
assert {"step_started", "step_succeeded", "continuation", "actor_state"} <= types, types
' "$tmp/f.jsonl" "$tmp/d1.jsonl"
"$wflow" dump "$d1" --step incr_2 >"$tmp/f.jsonl"
py "dump --step incr_2 matches only incr_2" '
import json, sys
ids = [json.loads(l)["fields"]["step_id"] for l in open(sys.argv[1])]
assert ids and set(ids) == {"incr_2"}, ids
' "$tmp/f.jsonl"
"$wflow" dump "$d1" --step add >"$tmp/f.jsonl"
py "dump --step add matches add, add_1, add_2 but not add_step" '
import json, sys
ids = {json.loads(l)["fields"]["step_id"] for l in open(sys.argv[1])}
assert ids == {"add", "add_1", "add_2"}, ids
' "$tmp/f.jsonl"

lo=20
hi=40
"$wflow" dump "$d1" --since $lo --until $hi >"$tmp/f.jsonl"
check "dump --since --until exits 0" test $? -eq 0
py "dump --since SEQ --until SEQ: both bounds inclusive" '
import json, sys
seqs = [json.loads(l)["seq"] for l in open(sys.argv[1])]
assert seqs == list(range(int(sys.argv[2]), int(sys.argv[3]) + 1)), seqs
' "$tmp/f.jsonl" $lo $hi
"$wflow" dump "$d1" --until 1 >"$tmp/f.jsonl"
py "dump --until 1: the first event only" '
import json, sys
assert [json.loads(l)["seq"] for l in open(sys.argv[1])] == [1]
' "$tmp/f.jsonl"
"$wflow" dump "$d1" --since=$hi --until=$lo >"$tmp/f.jsonl"
check "dump --since after --until: nothing, exit 0" test $? -eq 0 -a ! -s "$tmp/f.jsonl"

# --since/--until TIME, with the time of an event in the middle (vid's
# first call; the events before it are more than a second older).
t_mid=$("$python" -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
print([e for e in evs if e["type"] == "step_started" and e["fields"]["step_id"] == "add_1"][0]["time"])
' "$tmp/d1.jsonl")
"$wflow" dump "$d1" --since "$t_mid" >"$tmp/f.jsonl"
check "dump --since TIME exits 0" test $? -eq 0
"$wflow" dump "$d1" --until "$t_mid" >"$tmp/u.jsonl"
check "dump --until TIME exits 0" test $? -eq 0
py "dump --since/--until TIME (ISO 8601 of an event): no earlier / no later events" '
import json, sys
t = sys.argv[3]
evs = open(sys.argv[4]).read().splitlines()
since = open(sys.argv[1]).read().splitlines()
until = open(sys.argv[2]).read().splitlines()
# ISO times with 9 digits and Z compare as strings
assert since == [l for l in evs if json.loads(l)["time"] >= t], (len(since),)
assert 0 < len(since) < len(evs), len(since)
assert json.loads(since[0])["time"] == t, since[0]
assert until == [l for l in evs if json.loads(l)["time"] <= t], (len(until),)
assert json.loads(until[-1])["time"] == t, until[-1]
' "$tmp/f.jsonl" "$tmp/u.jsonl" "$t_mid" "$tmp/d1.jsonl"
# The same instant as epoch seconds and with a zone offset.
read -r t_epoch t_off < <("$python" -c '
import calendar, datetime, sys
t = sys.argv[1]  # e.g. 2026-11-27T20:08:30.793581640Z
secs = calendar.timegm((int(t[0:4]), int(t[5:7]), int(t[8:10]), int(t[11:13]), int(t[14:16]), int(t[17:19])))
frac = t[20:-1]
# 2 us before the event (epoch seconds parse as a double: ~0.25 us off);
# the event before it is a millisecond older
s, f = divmod(secs * 10**9 + int(frac.ljust(9, "0")) - 2000, 10**9)
e = "@%d.%06d" % (s, f // 1000)
# the same instant two hours ahead, +02:00
d = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=secs + 7200)
print(e, d.strftime("%Y-%m-%dT%H:%M:%S") + "." + frac + "+02:00")
' "$t_mid")
"$wflow" dump "$d1" --since "$t_epoch" >"$tmp/fe.jsonl"
check "dump --since @EPOCH exits 0" test $? -eq 0
"$wflow" dump "$d1" --since "$t_off" >"$tmp/fo.jsonl"
check "dump --since TIME+02:00 exits 0" test $? -eq 0
check "dump --since @EPOCH (2 us earlier) gives the same events" cmp -s "$tmp/fe.jsonl" "$tmp/f.jsonl"
check "dump --since TIME with a zone offset gives the same events" cmp -s "$tmp/fo.jsonl" "$tmp/f.jsonl"

"$wflow" dump "$d1" --type step_faild >"$tmp/f.jsonl" 2>"$tmp/f.err"
check "dump --type with an unknown type exits 2" test $? -eq 2
check "and names it" grep -q "unknown event type 'step_faild'" "$tmp/f.err"
check "and prints no events" test ! -s "$tmp/f.jsonl"
"$wflow" dump "$d1" --type step_failed,bogus >/dev/null 2>"$tmp/f.err"
check "dump --type with one unknown type in a list exits 2" test $? -eq 2
check "and names that one" grep -q "'bogus'" "$tmp/f.err"
for bad in 2026-13-01T00:00:00Z 2026-11-27T25:00:00Z yesterday 12abc @ @-5 2026-11-27T14:02:00+2; do
	"$wflow" dump "$d1" --since "$bad" >"$tmp/f.jsonl" 2>"$tmp/f.err"
	check "dump --since $bad exits 2" test $? -eq 2
	check "and names the value ($bad)" grep -qF -- "$bad" "$tmp/f.err"
done
"$wflow" dump "$d1" --until "not-a-time" >/dev/null 2>&1
check "dump --until with a bad time exits 2" test $? -eq 2
"$wflow" dump "$d1" --since >/dev/null 2>&1
check "dump --since without a value exits 2" test $? -eq 2
"$wflow" dump "$d1" --workflow >/dev/null 2>&1
check "dump --workflow without an id exits 2" test $? -eq 2

# ---- meta --at ----------------------------------------------------------

read -r created_seq failed_seq last_seq created_t failed_t mid_iso mid_epoch mid_bare mid_off vid_done < <("$python" -c '
import calendar, datetime, json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
def ns(t):
    secs = calendar.timegm((int(t[0:4]), int(t[5:7]), int(t[8:10]), int(t[11:13]), int(t[14:16]), int(t[17:19])))
    return secs * 10**9 + int(t[20:-1].ljust(9, "0"))
mine = [e for e in evs if e["fields"].get("workflow_id") == "note2_resume"]
created = mine[0]
failed = [e for e in mine if e["type"] == "status_changed" and e["fields"]["status"] == "FAILED"][0]
after = [e for e in evs if e["seq"] == failed["seq"] + 1][0]
a, b = ns(failed["time"]), ns(after["time"])
assert b - a > 20000, (failed, after)  # the resume is a later call
mid = (a + b) // 2
secs, frac = divmod(mid, 10**9)
d = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=secs)
iso = d.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % frac
d2 = d + datetime.timedelta(hours=-5, minutes=-30)
off = d2.strftime("%Y-%m-%dT%H:%M:%S") + ".%09d-05:30" % frac
# epoch seconds: microseconds are exact enough 20 us away from both events
ep = "%d.%06d" % (secs, frac // 1000)
# before its creation: a microsecond earlier, as ISO
c = ns(created["time"]) - 1000
cs, cf = divmod(c, 10**9)
before = (datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=cs)).strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % cf
vid_done = [e for e in evs if e["fields"].get("workflow_id") == "vid" and e["type"] == "status_changed"
            and e["fields"]["status"] == "SUCCESSFUL"][0]["seq"]
print(created["seq"], failed["seq"], evs[-1]["seq"], before, failed["time"], iso, "@" + ep, ep, off, vid_done)
' "$tmp/d1.jsonl")

meta_status() { # meta_status WANT ARGS...: meta DIR note2_resume ARGS... gives status WANT
	local want=$1
	shift
	"$wflow" meta "$d1" note2_resume "$@" >"$tmp/m.json" 2>"$tmp/m.err" &&
		"$python" -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["status"] == sys.argv[2], (m["status"], sys.argv[2])
' "$tmp/m.json" "$want"
}
check "meta --at the seq of FAILED ($failed_seq) gives FAILED" meta_status FAILED --at "$failed_seq"
check "meta --at=SEQ spelling works too" meta_status FAILED --at="$failed_seq"
check "meta --at the last seq gives SUCCESSFUL" meta_status SUCCESSFUL --at "$last_seq"
check "meta --at one before FAILED gives RUNNING" meta_status RUNNING --at $((failed_seq - 1))
check "meta --at the time of FAILED (ISO 8601, as dumped) gives FAILED" meta_status FAILED --at "$failed_t"
check "meta --at an ISO time between FAILED and the resume gives FAILED" meta_status FAILED --at "$mid_iso"
check "meta --at that time with a -05:30 offset gives FAILED" meta_status FAILED --at "$mid_off"
check "meta --at that time as @epoch gives FAILED" meta_status FAILED --at "$mid_epoch"
check "meta --at that time as bare epoch.fraction gives FAILED" meta_status FAILED --at "$mid_bare"
"$wflow" meta "$d1" note2_resume --at "$failed_seq" >"$tmp/m.json"
py "meta --at FAILED: one attempt, FAILED; no resume yet" '
import json, sys
m = json.load(open(sys.argv[1]))
assert [a["outcome"] for a in m["attempts"]] == ["FAILED"], m["attempts"]
' "$tmp/m.json"
"$wflow" meta "$d1" note2_resume --at "$created_t" >/dev/null 2>"$tmp/m.err"
check "meta --at a time before its creation exits 1" test $? -eq 1
check "and says No such workflow_id" grep -q "No such workflow_id note2_resume" "$tmp/m.err"
"$wflow" meta "$d1" note2_resume --at $((created_seq - 1)) >/dev/null 2>"$tmp/m.err"
check "meta --at the seq before its creation exits 1" test $? -eq 1
check "and says No such workflow_id" grep -q "No such workflow_id note2_resume" "$tmp/m.err"
"$wflow" meta "$d1" note2_resume --at "$created_seq" >"$tmp/m.json"
check "meta --at its creation exits 0" test $? -eq 0
"$wflow" meta "$d1" vid add_1 --at "$vid_done" >/dev/null 2>"$tmp/m.err"
check "meta of a step not there yet (vid add_1 after the first call) exits 1" test $? -eq 1
check "and says the step is not there" grep -qi "no such step" "$tmp/m.err"
"$wflow" meta "$d1" vid add_1 --at "$last_seq" >/dev/null
check "meta of that step at the end exits 0" test $? -eq 0
"$wflow" meta "$d1" vid add_1 >/dev/null
check "meta of that step without --at exits 0" test $? -eq 0
"$wflow" meta "$d1" note2_resume --at "2026-11-27T25:00:00Z" >/dev/null 2>&1
check "meta --at a bad time exits 2" test $? -eq 2
"$wflow" meta "$d1" note2_resume --at >/dev/null 2>&1
check "meta --at without a value exits 2" test $? -eq 2

# ---- verify -------------------------------------------------------------

for j in d1 d; do
	"$wflow" verify "$tmp/$j" >"$tmp/v.out" 2>"$tmp/v.err"
	check "verify of the demo journal exits 0 ($j)" test $? -eq 0
	check "verify: 0 logical errors ($j)" grep -Eq '^logical +0 errors' "$tmp/v.out"
	check "verify: intact ($j)" grep -Eq '^result +intact' "$tmp/v.out"
	check "verify: no logical error on stderr ($j)" sh -c "! grep -q 'logical error' '$tmp/v.err'"
	"$wflow" verify "$tmp/$j" --json >"$tmp/v.json"
	py "verify --json: ok, no damage, no logical errors ($j)" '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] is True and r["damage"] == [] and r["logical_errors"] == 0, r
assert not [i for i in r["issues"] if not i["warning"]], r["issues"]
' "$tmp/v.json"
done

if [ $fail -ne 0 ]; then
	exit 1
fi
echo "cli: all checks passed"
