#!/bin/bash
# cprof report and cprof diff: golden outputs of every format on checked-in
# profiles (tests/data: written by cprof, and by tests/data/mkprof.py with
# known values), `top` row for row against `go tool pprof -top` (on those,
# on a fresh recording, and on profiles Go's own runtime/pprof writes),
# every kind of bad input, diff's gate and exit codes, streaming memory.
#
# CPROF_REGOLD=1 rewrites tests/golden from the current cprof (review the
# diff before committing it).
. "$(dirname "$0")/lib.sh"
export TZ=UTC
D=$TOP/tests/data
G=$TOP/tests/golden

# --- golden outputs ------------------------------------------------------
for prof in burn-cpu waits-block program goroutines contention; do
	for fmt in top tree folded json text svg; do
		out=$TMP/$prof.$fmt
		"$CPROF" report -f "$fmt" "$D/$prof.pb.gz" >"$out" 2>"$TMP/err"
		rc=$?
		sed -i "s|$D/||" "$out"	# the path as given differs per checkout
		if [ -n "${CPROF_REGOLD:-}" ]; then
			cp "$out" "$G/$prof.$fmt"
		fi
		if [ $rc = 0 ] && cmp -s "$out" "$G/$prof.$fmt"; then
			pass "report -f $fmt $prof.pb.gz: as tests/golden/$prof.$fmt"
		else
			fail "report -f $fmt $prof.pb.gz: as tests/golden/$prof.$fmt (rc $rc)"
			diag "$(cat "$TMP/err")" "$(diff "$G/$prof.$fmt" "$out" | head -20)"
		fi
	done
done

# the known values of mkprof.py's profiles, spelled out
has_line() {	# has_line TEXT LINE DESCRIPTION: LINE is one whole line of TEXT
	if printf '%s\n' "$1" | grep -Fxq -- "$2"; then pass "$3"; else fail "$3"; diag "text: $1" "no line: $2"; fi
}
folded=$("$CPROF" report -f folded "$D/program.pb.gz")
has_line "$folded" "main;run;parse 500000000" "folded: main;run;parse 500ms, root first"
has_line "$folded" "main;run;hash 300000000" "folded: an inlined frame is its own frame, samples of two threads merged"
has_line "$folded" "main;run;[libc.so.6];cmp 200000000" "folded: a frame without symbols is its object"
has_line "$folded" "main;run;walk;walk;walk 50000000" "folded: recursion kept"
has_line "$folded" "main;run 3000000" "folded: a stack that ends in run"
text=$("$CPROF" report -f text "$D/goroutines.pb.gz" | head -7)
is "$text" "threads profile: total 8
5 @ 0x401040 0x401020 0x401010
#	0x401040	futex	/src/server.c:40
#	0x401020	waitA	/src/server.c:20
#	0x401010	start	/src/server.c:10

3 @ 0x401040 0x401030 0x401010" "text: Go's debug=1 format, largest first"
text=$("$CPROF" report -f text "$D/contention.pb.gz" | head -3)
is "$text" "--- contention:
cycles/second=1000000000
750000000 30 @ 0x401040 0x401020 0x401010" "text: Go's contention format for contentions/delay profiles"

# --- the same numbers as go tool pprof -top ------------------------------
same_as_pprof() {	# same_as_pprof FILE "PPROF FLAGS" "CPROF FLAGS"
	local f=$1 g=$2 c=$3 a b
	# shellcheck disable=SC2086
	a=$(go tool pprof -symbolize=none -top $g "$f" 2>/dev/null | sed -n '/^Showing nodes/,$p')
	# shellcheck disable=SC2086
	b=$("$CPROF" report $c "$f" 2>"$TMP/err" | sed -n '/^Showing nodes/,$p')
	if [ -n "$a" ] && [ "$a" = "$b" ]; then
		pass "top ${c:-(defaults)} = pprof -top ${g:-(defaults)}: $(basename "$f")"
	else
		fail "top ${c:-(defaults)} = pprof -top ${g:-(defaults)}: $(basename "$f")"
		diag "$(diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | head -20)" "$(cat "$TMP/err")"
	fi
}

start_target P "$T/burn" -t 2 -S 1 || exit 1
run_cprof record -d 2s -p "$P" -o "$TMP/fresh.pb.gz"
is "$rc" 0 "a fresh cpu recording"
kill "$P"

GOPROF=$TMP/go
mkdir -p "$GOPROF"
if [ -x "$T/goprof" ] && "$T/goprof" "$GOPROF"; then
	gofiles="$GOPROF/goroutine.pb.gz $GOPROF/heap.pb.gz $GOPROF/cpu.pb.gz"
else
	gofiles=
	diag "build/targets/goprof did not run: Go's own profiles are skipped"
fi
for f in "$D/burn-cpu.pb.gz" "$D/waits-block.pb.gz" "$D/program.pb.gz" "$D/contention.pb.gz" \
		"$TMP/fresh.pb.gz" $gofiles; do
	same_as_pprof "$f" "" ""
	same_as_pprof "$f" "-cum -nodefraction=0" "--cum --node-fraction 0"
	same_as_pprof "$f" "-sample_index=0 -nodecount=4" "-i 0 --top 4"
done
same_as_pprof "$D/burn-cpu.pb.gz" "-focus=work_b" "--focus work_b"
for f in "$D/burn-cpu.pb.gz" "$D/program.pb.gz" "$D/waits-block.pb.gz"; do
	a=$(go tool pprof -symbolize=none -tree "$f" 2>/dev/null | sed -n '/^Showing nodes/,$p')
	b=$("$CPROF" report -f tree "$f" 2>&1 | sed -n '/^Showing nodes/,$p')
	if [ -n "$a" ] && [ "$a" = "$b" ]; then
		pass "-f tree = pprof -tree: $(basename "$f")"
	else
		fail "-f tree = pprof -tree: $(basename "$f")"
		diag "$(diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | head -20)"
	fi
done
# what go tool pprof itself writes (-proto: its own encoder, merged ids)
go tool pprof -symbolize=none -proto "$D/burn-cpu.pb.gz" >"$TMP/proto.pb.gz" 2>/dev/null
same_as_pprof "$TMP/proto.pb.gz" "" ""
same_as_pprof "$D/burn-cpu.pb.gz" "-ignore=qsort" "--ignore qsort"
if [ -n "$gofiles" ]; then
	same_as_pprof "$GOPROF/heap.pb.gz" "-sample_index=alloc_space -ignore=^main.alloc" \
		"-i alloc_space --ignore ^main.alloc"
	# what Go's profiles hold, read by cprof
	folded=$("$CPROF" report -f folded "$GOPROF/goroutine.pb.gz")
	like "$folded" "main.waitA;runtime.chanrecv1;runtime.chanrecv;runtime.gopark 5$" \
		"Go goroutine profile: 5 goroutines parked in main.waitA"
	like "$folded" "main.waitB;runtime.chanrecv1;runtime.chanrecv;runtime.gopark 3$" \
		"Go goroutine profile: 3 in main.waitB"
	pct=$("$CPROF" report -f json -i alloc_space "$GOPROF/heap.pb.gz" | python3 -c '
import json, sys
d = json.load(sys.stdin)
f = {x["name"]: x for x in d["functions"]}
a, b = f["main.allocA"]["flat"], f["main.allocB"]["flat"]
print(round(100 * a / (a + b)))')
	within "${pct:-0}" 75 3 "Go heap profile: allocA has 3/4 of allocA+allocB's bytes (${pct}%)"
else
	skip "no Go profiles (goprof did not build or run)"
	skip "no Go profiles"
	skip "no Go profiles"
fi

# --- json is json --------------------------------------------------------
"$CPROF" report -f json "$D/program.pb.gz" >"$TMP/j" 2>"$TMP/err"
python3 - "$TMP/j" <<'PY' >"$TMP/jr" 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
assert d["sample_type"] == "cpu" and d["unit"] == "nanoseconds", d
assert d["total"] == 1053000000, d["total"]
assert d["duration_nanos"] == 2000000000
assert [x["name"] for x in d["functions"]][:3] == ["parse", "hash", "cmp"], d["functions"]
assert d["functions"][1]["inline"] is True
assert d["functions_total"] == 7
print("ok")
PY
is "$(cat "$TMP/jr")" ok "json: totals, units and the top functions, parsed by python"

# --- record writes these formats directly -------------------------------
start_target P "$T/burn" -t 1 || exit 1
run_cprof record -d 1s -f folded -p "$P" -o "$TMP/rec.folded"
like "$(cat "$TMP/rec.folded")" "burner;work_a [0-9]+" "record -f folded: stacks with values"
run_cprof record -d 1s -f json -p "$P" -o "$TMP/rec.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["sample_type"]=="cpu" and d["total"]>0' \
	"$TMP/rec.json"
ok $? "record -f json: a json report of the recording"
run_cprof record -d 1s -f svg -p "$P" -o "$TMP/rec.svg"
like "$(head -c 400 "$TMP/rec.svg")" "<svg " "record -f svg: a flame graph"
kill "$P"

# --- bad input: a clear error, never a crash -----------------------------
bad() {	# bad FILE REGEX DESCRIPTION [OPTIONS...]
	local f=$1 re=$2 what=$3
	shift 3
	run_cprof report "$@" "$f"
	if [ "$rc" = 1 ] && printf '%s' "$err" | grep -Eq "$re"; then
		pass "bad input, $what: exit 1, says why"
	else
		fail "bad input, $what: exit 1, says why (rc $rc)"
		diag "$err"
	fi
}
: >"$TMP/empty"
bad "$TMP/empty" "empty file: not a pprof profile" "empty file"
bad /etc/passwd "not a pprof profile" "a text file"
bad "$T/burn" "not a pprof profile" "an ELF file"
head -c 600 "$D/burn-cpu.pb.gz" >"$TMP/trunc.gz"
bad "$TMP/trunc.gz" "truncated gzip data" "truncated gzip"
python3 -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); d[300] ^= 0xff; d[301] ^= 0x55; open(sys.argv[2], "wb").write(d)' \
	"$D/burn-cpu.pb.gz" "$TMP/corrupt.gz"
bad "$TMP/corrupt.gz" "corrupt gzip data|not a pprof profile|is string|truncated" "corrupt gzip stream"
gzip -dc "$D/burn-cpu.pb.gz" | head -c 900 >"$TMP/trunc.pb"
bad "$TMP/trunc.pb" "truncated protobuf" "truncated protobuf"
for name in bad-location-id bad-function-id bad-mapping-id bad-string value-count duplicate-id \
		negative-period zero-period; do
	python3 "$D/mkprof.py" "$name" "$TMP/$name.pb.gz"
done
bad "$TMP/bad-location-id.pb.gz" "location id 9, which is not in the profile" "a sample names a missing location"
bad "$TMP/bad-function-id.pb.gz" "function id 7, which is not in the profile" "a location names a missing function"
bad "$TMP/bad-mapping-id.pb.gz" "mapping id 5, which is not in the profile" "a location names a missing mapping"
bad "$TMP/bad-string.pb.gz" "string 999, but the string table has" "a string index past the table"
bad "$TMP/value-count.pb.gz" "samples have 2 values but there are 1 sample types" "values and sample types differ"
bad "$TMP/duplicate-id.pb.gz" "location id 1 appears twice" "an id used twice"
bad "$TMP/negative-period.pb.gz" "period is -5" "a negative period"
bad "$TMP/zero-period.pb.gz" "period is 0" "a zero period"
bad "$D/program.pb.gz" "sample type 'alloc_space' is not in the profile \(it has: samples, cpu\)" \
	"a sample type not in the file" -i alloc_space
bad "$TMP/nonexistent" "open: No such file" "a missing file"
run_cprof report --focus '(' "$D/program.pb.gz"
ok "$([ "$rc" = 1 ] && printf '%s' "$err" | grep -q "bad regular expression"; echo $?)" "a bad --focus: exit 1"
run_cprof report -f pdf "$D/program.pb.gz"
is "$rc" 2 "an unknown format: usage error"

# --- diff ---------------------------------------------------------------
# program: parse/hash/cmp 50/30/20 (+walk, run); program-new: 40/30/30
python3 "$D/mkprof.py" program-new "$TMP/new.pb.gz"
run_cprof diff "$D/program.pb.gz" "$TMP/new.pb.gz"
is "$rc" 0 "diff without a gate: exit 0"
like "$(cat "$TMP/out")" "18\.99% +28\.49% +\+9\.50  cmp" "diff: cmp went from 18.99% to 28.49% of the total"
like "$(cat "$TMP/out")" "47\.48% +37\.99% +-9\.50  parse" "diff: parse went down 9.50 points"
run_cprof diff --fail-if-slower 5 "$D/program.pb.gz" "$TMP/new.pb.gz"
is "$rc" 4 "--fail-if-slower 5: exit 4, a function grew by more than 5 points"
like "$err" "cmp is slower: 18.99% -> 28.49% of the total \(\+9.50 points, gate 5\)" "... and says which"
run_cprof diff --fail-if-slower 10 "$D/program.pb.gz" "$TMP/new.pb.gz"
is "$rc" 0 "--fail-if-slower 10: nothing grew that much, exit 0"
run_cprof diff --fail-if-slower '5:^(parse|hash)$' "$D/program.pb.gz" "$TMP/new.pb.gz"
is "$rc" 0 "--fail-if-slower 5:RE: only matching functions count"
run_cprof diff --cum --fail-if-slower '5:^sort|cmp' "$D/program.pb.gz" "$TMP/new.pb.gz"
is "$rc" 4 "--cum --fail-if-slower: on cumulative values"
run_cprof diff -f json --fail-if-slower 5 "$D/program.pb.gz" "$TMP/new.pb.gz"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
slow = [f["name"] for f in d["functions"] if f["slower"]]
assert slow == ["cmp"], slow
assert d["gate"]["slower"] == 1
print("ok")' "$TMP/out" >"$TMP/jr" 2>&1
is "$(cat "$TMP/jr")" ok "diff -f json: the same verdict, for scripts"
run_cprof diff --fail-if-slower 5 "$D/program.pb.gz" "$D/program.pb.gz"
is "$rc" 0 "a profile against itself: exit 0"
run_cprof diff "$D/program.pb.gz" "$D/goroutines.pb.gz"
ok "$([ "$rc" = 1 ] && printf '%s' "$err" | grep -q "not the same kind of profile"; echo $?)" \
	"diff of a cpu and a threads profile: exit 1, not the same kind"
run_cprof diff -i samples "$D/program.pb.gz" "$D/burn-cpu.pb.gz"
is "$rc" 0 "diff -i: a sample type both have"
run_cprof diff --fail-if-slower x "$D/program.pb.gz" "$D/program.pb.gz"
is "$rc" 2 "a bad gate: usage error"
run_cprof diff "$D/program.pb.gz" "$TMP/trunc.gz"
is "$rc" 1 "diff with an unreadable profile: exit 1"

# --- streaming: memory follows distinct stacks, not samples ---------------
python3 "$D/mkprof.py" big 20000 "$TMP/small.pb"
python3 "$D/mkprof.py" big 1000000 "$TMP/big.pb"
rss() { python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"; }
if [ -z "${CPROF_SAN:-}" ]; then
	r1=$(rss "$CPROF" report "$TMP/small.pb")
	r2=$(rss "$CPROF" report "$TMP/big.pb")
	size=$(stat -c %s "$TMP/big.pb")
	ok "$([ -n "$r2" ] && [ "$r2" -lt $((r1 + 4096)) ]; echo $?)" \
		"a $((size >> 20)) MiB profile (1M samples) is read in ${r2} KiB, a 20k-sample one in ${r1} KiB"
else
	skip "memory is not measured under ASan"
fi
samples=$("$CPROF" report -f json "$TMP/big.pb" | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples"])')
is "$samples" 1000000 "every sample of the big profile counted"

done_testing
