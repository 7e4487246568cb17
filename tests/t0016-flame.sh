#!/bin/bash
# cprof report -f svg: a self-contained flame graph, opened in headless
# Chromium: it renders the expected frames, a click zooms, the search box
# highlights matches, and a screenshot shows a picture.  The file's test
# hooks (#zoom=ID, #search=RE; profiles/flame.c) drive the same event
# handlers a user's click and typing do.
. "$(dirname "$0")/lib.sh"
D=$TOP/tests/data

CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
[ -n "$CHROME" ] || skip_all "no chromium (apt-get install chromium, or make deps as root)"
chrome() {	# chrome ARGS... URL: headless, bounded, its noise dropped
	timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$TMP/chrome" --virtual-time-budget=5000 "$@" 2>>"$TMP/chrome.log"
}

run_cprof report -f svg -o "$TMP/f.svg" "$D/burn-cpu.pb.gz"
is "$rc" 0 "report -f svg -o FILE"
svg=$(cat "$TMP/f.svg")
python3 - "$TMP/f.svg" <<'PY' >"$TMP/xml" 2>&1
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
for el in root.iter():
    for k, v in el.attrib.items():
        assert not (k.endswith("href") or k == "src"), (k, v)
print("ok", len(root.findall(".//%sg[@class='f']" % ns)))
PY
like "$(cat "$TMP/xml")" "^ok [0-9]+$" "well-formed SVG, no external references (no href, no src)"
urls=$(printf '%s' "$svg" | grep -o 'https\?://[^"]*' | grep -v '^http://www.w3.org/' | sort -u)
is "$urls" "" "no URL in the file but the xmlns names: nothing fetched from the network"
frame_id() { printf '%s' "$svg" | grep -o "id=\"f[0-9]*\" data-n=\"$1\"" | head -1 | grep -o 'f[0-9]*'; }
C=$(frame_id work_c)
A=$(frame_id work_a)
ok "$([ -n "$C" ] && [ -n "$A" ]; echo $?)" "frames for work_a ($A) and work_c ($C)"

# a frame's attribute in a DOM dump: attr DUMP ID ATTR
rect_attr() { printf '%s' "$1" | grep -o "id=\"$2\"[^>]*>.*" | head -1 | grep -o "<rect [^>]*" | grep -o " $3=\"[^\"]*\"" | head -1 | cut -d'"' -f2; }

dom=$(chrome --dump-dom "file://$TMP/f.svg")
like "$dom" 'data-ready="1"' "the script ran in Chromium"
like "$dom" "data-n=\"work_a\"[^>]*><title>work_a \(1\.88s, 48\.46%\)</title>" \
	"tooltip: value and percentage (work_a 1.88s, 48.46%)"
wa=$(rect_attr "$dom" "$A" width)
wc=$(rect_attr "$dom" "$C" width)
within "${wa%.*}" 572 2 "work_a is 48.46% of the width ($wa px of 1180)"
within "${wc%.*}" 240 2 "work_c is 20.31% of the width ($wc px)"

dom=$(chrome --dump-dom "file://$TMP/f.svg#zoom=$C")
like "$dom" "data-zoomed=\"$C\"" "a click on work_c zooms to it"
is "$(rect_attr "$dom" "$C" width)" "1180.0" "zoomed: work_c fills the width"
like "$dom" "<g class=\"f hide\" id=\"$A\"" "zoomed: work_a (not under work_c) is hidden"
widest() { printf '%s' "$1" | grep -o 'data-n="cmp_slow"[^>]*><title>[^<]*</title><rect [^>]*' | grep -o ' width="[^"]*"' | cut -d'"' -f2 | sort -n | tail -1; }
before=$(widest "$svg")
cmp_w=$(widest "$dom")
ok "$(awk -v a="$before" -v b="$cmp_w" 'BEGIN { exit !(b > 4 * a) }'; echo $?)" \
	"zoomed: the widest cmp_slow frame grew from $before to $cmp_w px (1180/240 = 4.9x)"

nmsort=$(printf '%s' "$svg" | grep -c 'data-n="msort_with_tmp"')
dom=$(chrome --dump-dom "file://$TMP/f.svg#search=msort")
like "$dom" "data-matched=\"$nmsort\"" "search 'msort' highlights all $nmsort msort_with_tmp frames"
like "$dom" "Matched: 20\\.3% \\($nmsort frames\\)" "search: the matched share, each stack counted once (20.3%)"
like "$dom" 'data-n="msort_with_tmp"[^>]*><title>[^<]*</title><rect [^>]*fill="rgb\(230,0,230\)"' \
	"search: matches drawn in the highlight colour"

chrome --screenshot="$TMP/shot.png" --window-size=1200,500 "file://$TMP/f.svg" >/dev/null
cp "$TMP/shot.png" "$B/flame-screenshot.png" 2>/dev/null
colors=$(python3 - "$TMP/shot.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, w, h = 8, b"", 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        bpp = {2: 3, 6: 4}[ctype]
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, prev, seen, warm = zlib.decompress(idat), bytearray(w * bpp), set(), 0
stride = w * bpp
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    for x in range(0, w, 4):
        r, g, bl = line[x * bpp:x * bpp + 3]
        seen.add((r, g, bl))
        warm += r > 180 and bl < 80
print(len(seen), warm)
PY
)
set -- $colors
ok "$([ "${1:-0}" -ge 10 ] && [ "${2:-0}" -ge 2000 ]; echo $?)" \
	"the screenshot shows a flame graph: ${1:-0} colours, ${2:-0} warm pixels sampled (build/flame-screenshot.png)"

# an empty profile (everything filtered out) still draws
run_cprof report -f svg --focus nothing-matches "$D/burn-cpu.pb.gz"
dom=$(printf '%s' "$(cat "$TMP/out")" >"$TMP/e.svg"; chrome --dump-dom "file://$TMP/e.svg")
like "$dom" 'data-ready="1"' "a flame graph of nothing: renders, script runs"

done_testing
