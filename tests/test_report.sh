#!/usr/bin/env bash
# wflow report as a user runs it: one HTML page that needs nothing from
# the network (no script, no link, no URL), well-formed, with every
# workflow of the journal, a Gantt chart per workflow whose bars match the
# journal's step tries, and the stats (events by type adding up to the
# journal's events, workflows by status, the slowest steps). Then the page
# is rendered in headless Chromium, as a person would open it, and the
# screenshot is decoded (a small PNG decoder below) to check that the
# charts were drawn: their bar colors fill many pixels. Without Chromium
# the rendering is skipped, and so is the test (77) if all else passed.
# Also: exit codes 0/1/2, and a report written while a writer appends.
set -u
wflow=$1
bench=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/check.sh" # check DESCRIPTION COMMAND...

"$wflow" demo "$tmp/demo" >/dev/null 2>&1 || {
	echo "FAIL: wflow demo" >&2
	exit 1
}
"$bench" gen "$tmp/gen" --events 60000 --batch 8 >/dev/null || {
	echo "FAIL: wflow-bench gen" >&2
	exit 1
}

"$wflow" report --help >"$tmp/help.out"
check "report --help exits 0" test $? -eq 0
check "report --help shows the usage" grep -q '^usage: wflow report DIR' "$tmp/help.out"

(cd "$tmp/demo" && md5sum journal/* >"$tmp/demo.md5")
"$wflow" report "$tmp/demo" -o "$tmp/demo.html"
check "report of the demo exits 0" test $? -eq 0
(cd "$tmp/demo" && md5sum -c --quiet "$tmp/demo.md5")
check "report leaves the journal as it was" test $? -eq 0
flock -n "$tmp/demo/journal/LOCK" "$wflow" report "$tmp/demo" -o "$tmp/locked.html"
check "report works while the writer's lock is held" test $? -eq 0

# The page: self-contained, well-formed, and what the journal holds.
cat >"$tmp/check.py" <<'PY'
import collections, html.parser, json, re, sys

page, dump = sys.argv[1], sys.argv[2]
src = open(page, encoding="utf-8").read()
assert src.lower().startswith("<!doctype html>"), src[:40]
# Self-contained: nothing to fetch, nothing to run (checked on the parsed
# page below: the journal's texts, e.g. errors, may well hold URLs).
FETCHING = {"script", "link", "img", "image", "iframe", "frame", "object",
            "embed", "base", "video", "audio", "source", "use", "picture",
            "form", "applet", "track"}
FETCH_ATTRS = {"src", "srcset", "data", "poster", "action", "formaction",
               "background", "xlink:href", "ping", "manifest"}

# Well-formed: every element that is opened is closed, in order.
VOID = {"meta", "br", "hr", "input", "img", "link", "area", "base", "col",
        "source", "track", "wbr", "embed", "param"}
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.count, self.ids, self.text = [], collections.Counter(), set(), []
        self.rects = collections.Counter()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.count[tag] += 1
        assert tag not in FETCHING, ("not self-contained", tag, a)
        for k, v in attrs:
            assert k not in FETCH_ATTRS and not k.startswith("on"), \
                ("not self-contained", tag, k, v)
            assert k != "href" or v.startswith("#"), ("a link leaves the page", v)
            assert k != "style" or "url(" not in v.lower(), v
        if "id" in a:
            assert a["id"] not in self.ids, ("duplicate id", a["id"])
            self.ids.add(a["id"])
        if tag == "rect":
            self.rects[a.get("fill")] += 1
            assert float(a["width"]) > 0 and float(a["height"]) > 0, a
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()
    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, ("unbalanced", tag, self.stack[-3:])
        self.stack.pop()
    def handle_data(self, d):
        if self.stack and self.stack[-1] == "style":
            low = d.lower()
            assert "url(" not in low and "@import" not in low, \
                ("the style fetches", d)
        self.text.append(d)
p = P()
p.feed(src)
p.close()
assert not p.stack, ("left open", p.stack)
for t in ("html", "head", "body", "title", "style", "table", "svg", "h2"):
    assert p.count[t] >= 1, ("missing", t)
text = "".join(p.text)

# What the journal holds.
wfs, tries, types = [], collections.Counter(), collections.Counter()
failed_tries = 0
for line in open(dump, encoding="utf-8"):
    j = json.loads(line)
    types[j["type"]] += 1
    if j["type"] in ("workflow_created", "actor_created"):
        wfs.append(j["fields"]["workflow_id"])
    elif j["type"] == "step_started":
        tries[j["fields"]["step_id"]] += 1
    elif j["type"] == "step_failed":
        failed_tries += 1
nevents = sum(types.values())

# The sections, and every workflow in the list.
for h in ("Time span", "Workflows", "Gantt charts", "Stats",
          "Events by type", "Workflows by status", "Slowest steps"):
    assert h in text, ("missing section", h)
capped = len(wfs) > 200
for w in wfs[-200:]:
    assert w in text, ("workflow missing", w)

# A chart per workflow (at most 200), a bar per step try in them.
charts = p.count["svg"]
assert charts == min(len(wfs), 200), (charts, len(wfs))
assert ("The 200 most recent" in text) == capped
if not capped:
    bars = sum(n for f, n in p.rects.items() if f != "#b0bec5")
    assert bars == sum(tries.values()), (bars, sum(tries.values()))
    assert p.rects["#c62828"] == failed_tries, (p.rects, failed_tries)
assert p.rects["#2e7d32"] > 0, p.rects

# Events by type: a row per type, adding up to the journal's events.
sec = src[src.index("Events by type"):src.index("Workflows by status")]
rows = dict(re.findall(r'<tr><td>([a-z_]+)</td><td class="n">([0-9,]+)</td>', sec))
assert len(rows) == len(types), (rows, types)
for t, n in types.items():
    assert int(rows[t].replace(",", "")) == n, (t, rows.get(t), n)
assert re.search(r'<tr><th>events</th><td>%s</td>' % format(nevents, ","), src), nevents
# Slowest steps: p50, p95 and max columns with durations.
sl = src[src.index("Slowest steps"):]
assert "p50" in sl and "p95" in sl and "max" in sl
assert re.search(r'<td class="n">[0-9.]+ (ns|\xb5s|ms|s)</td>', sl), "no durations"
print("ok: %d workflows, %d charts, %d bars, %d events" %
      (len(wfs), charts, sum(p.rects.values()), nevents))
PY

"$wflow" dump "$tmp/demo" >"$tmp/demo.jsonl"
check "the demo's page is self-contained, well-formed and complete" \
	python3 "$tmp/check.py" "$tmp/demo.html" "$tmp/demo.jsonl"
"$wflow" report "$tmp/gen" -o "$tmp/gen.html"
check "report of a synthetic journal exits 0" test $? -eq 0
"$wflow" dump "$tmp/gen" >"$tmp/gen.jsonl"
check "the synthetic journal's page is self-contained, well-formed and complete" \
	python3 "$tmp/check.py" "$tmp/gen.html" "$tmp/gen.jsonl"
check "the page says the charts are capped" grep -q 'The 200 most recent of' "$tmp/gen.html"

# Exit codes.
"$wflow" report "$tmp/demo" >/dev/null 2>"$tmp/noout.err"
check "report without -o exits 2" test $? -eq 2
check "the missing -o is named" grep -q -- '-o' "$tmp/noout.err"
mkdir "$tmp/empty"
"$wflow" report "$tmp/empty" -o "$tmp/empty.html" 2>/dev/null
check "report of a directory without a journal exits 1" test $? -eq 1
check "nothing is written then" test ! -e "$tmp/empty.html"
"$wflow" report "$tmp/nonexistent" -o "$tmp/x.html" 2>/dev/null
check "report of a missing directory exits 2" test $? -eq 2
"$wflow" report "$tmp/demo" -o "$tmp/nonexistent/x.html" 2>"$tmp/unw.err"
check "report to an unwritable FILE exits 2" test $? -eq 2
check "the unwritable FILE is named" grep -q "$tmp/nonexistent/x.html" "$tmp/unw.err"
"$wflow" report "$tmp/demo" extra -o "$tmp/x.html" 2>/dev/null
check "report with an extra argument exits 2" test $? -eq 2
cp -r "$tmp/gen" "$tmp/bad"
seg=$(ls "$tmp/bad/journal"/*.wfj | tail -1)
size=$(stat -c %s "$seg")
python3 - "$seg" $((size / 2)) <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
b[off] ^= 0x55
open(p, "wb").write(b)
PY
"$wflow" report "$tmp/bad" -o "$tmp/bad.html" 2>"$tmp/bad.err"
check "report of a damaged journal exits 1" test $? -eq 1
check "the damage is named with its file and offset" \
	grep -q "$(basename "$seg"): offset [0-9]" "$tmp/bad.err"

# Rendered as a person sees it.
chromium=
for c in chromium chromium-browser; do
	if command -v "$c" >/dev/null; then
		chromium=$c
		break
	fi
done
if [ -z "$chromium" ]; then
	echo "chromium not found: the page is not rendered" >&2
	[ $fail -eq 0 ] && exit 77
	exit $fail
fi
timeout 120 "$chromium" --headless=new --no-sandbox --disable-gpu \
	--user-data-dir="$tmp/profile" --no-first-run --hide-scrollbars \
	--screenshot="$tmp/shot.png" --window-size=1280,2000 \
	"file://$tmp/demo.html" >"$tmp/chromium.log" 2>&1
check "chromium renders the page (exit $?)" test -s "$tmp/shot.png"
check "the screenshot shows the Gantt charts" python3 - "$tmp/shot.png" <<'PY'
import struct, sys, zlib

# A PNG decoder for what Chromium writes: 8-bit RGB or RGBA, not
# interlaced; the five row filters of the PNG spec.
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, hdr = 8, [], None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0], kind
    if kind == b"IHDR":
        hdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat.append(body)
    elif kind == b"IEND":
        break
    pos += 12 + n
w, h, depth, ctype, _, _, interlace = hdr
assert (w, h) == (1280, 2000), (w, h)
assert depth == 8 and ctype in (2, 6) and interlace == 0, hdr
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(b"".join(idat))
stride = w * bpp
assert len(raw) == h * (stride + 1), (len(raw), h, stride)

def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c

prev = bytearray(stride)
colors = {}
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if f == 1:
        for i in range(bpp, stride):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif f == 2:
        for i in range(stride):
            line[i] = (line[i] + prev[i]) & 255
    elif f == 3:
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
    elif f == 4:
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up_left = prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + paeth(left, prev[i], up_left)) & 255
    else:
        assert f == 0, ("bad filter", f)
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        colors[px] = colors.get(px, 0) + 1
    prev = line

total = w * h
white = colors.get(b"\xff\xff\xff", 0)
assert white < total * 0.97, ("blank page", white, total)
assert len(colors) > 20, ("hardly any colors", len(colors))

def count(hexcolor, tol=3):
    want = bytes.fromhex(hexcolor[1:])
    return sum(n for c, n in colors.items()
               if all(abs(c[i] - want[i]) <= tol for i in range(3)))
# The legend's swatches are 11x11 pixels: bars fill far more.
green, attempts = count("#2e7d32"), count("#b0bec5")
assert green > 3000, ("succeeded bars", green)
assert attempts > 3000, ("attempt bars", attempts)
print("ok: %dx%d, %d colors, %d%% white, succeeded %d px, attempts %d px"
      % (w, h, len(colors), 100 * white // total, green, attempts))
PY

exit $fail
