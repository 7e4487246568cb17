#!/bin/bash
# cprof threads: every thread's state, blocking call and stack from one
# snapshot, as a dump, a table and JSON; the threads profile and Go's text
# format; a stopped process stays stopped; a thread in uninterruptible
# sleep does not hold up the others; no blocked call returns because of us.
. "$(dirname "$0")/lib.sh"

start_target P "$T/states" -v || exit 1
tid_of() { grep -l "^$1\$" /proc/$P/task/*/comm | head -1 | awk -F/ '{ print $5 }'; }
blocked() { ! grep -q running "/proc/$P/task/$(tid_of "$1")/syscall"; }
for n in reader napper locker vforker; do
	wait_until $WAIT blocked $n || diag "$n is not blocked yet"
done
# and the spinner out of the start barrier, spinning (ready comes when
# the barrier opens, a woken thread may wait long for a cpu)
wait_until $WAIT eval '! blocked spinner' || diag "spinner is not running yet"
R=$(tid_of reader)

run_cprof threads --timeout 10s -v -p "$P"
dump=$(cat "$TMP/out")
is "$rc" 3 "exit 3: one thread (the vfork parent) could not be read"
flat=$(printf '%s' "$dump" | tr -s ' \n\t' '   ')
like "$flat" "thread $R \"reader\" \[sleeping, in read\(0x3\), cpu [0-9.]+s\]: .* read_here /[^ ]*states\.c:[0-9]+ thread_main" \
	"reader: sleeping in read(fd 3), under read_here with file:line"
like "$flat" "\"napper\" \[sleeping, in (clock_)?nanosleep\(0x[0-9a-f]+\), cpu [0-9.]+s\]: .*nap_here" "napper: in nanosleep, under nap_here"
like "$flat" "\"locker\" \[sleeping, in futex\(0x[0-9a-f]+\), cpu [0-9.]+s\]: .*pthread_mutex_lock.* lock_here" "locker: futex wait under pthread_mutex_lock and lock_here"
like "$flat" "\"spinner\" \[running, cpu [0-9.]+s\]: spin_here " "spinner: running, innermost frame spin_here"
like "$flat" "\"vforker\" \[disk sleep, in vfork\(0x[0-9a-f]+\), cpu [0-9.]+s\]: __vfork .*\[unknown\] \(did not stop in time: stack incomplete\)" \
	"a thread in uninterruptible sleep: /proc information, and what its stack copy gave"
like "$flat" "\"states\" \[sleeping, in pause\(0x0\), cpu [0-9.]+s\]: __libc_pause .* main " "main thread"
# --timeout 10s: long enough for the running threads to reach their stop
# on a loaded machine; the D thread (it never wakes) must not hold the
# others for it: half of it is the bound
stopped=$(sed -n 's/.* threads were stopped, for \([0-9]*\)us.*/\1/p' "$TMP/err")
ok "$([ -n "$stopped" ] && [ "$stopped" -lt 5000000 ]; echo $?)" \
	"-v says how long it was stopped (${stopped}us), and the D thread did not hold it for the 10 s timeout"
wait_until $WAIT all_untraced "$P"; ok $? "untraced after"

# the blocked threads' stacks, stepped by the frame rules (attach/cfi.c)
# and by libunwind alone: the same frames
block_of() { awk -v n="\"$1\"" '$1 == "thread" && $3 == n { p = 1; next } /^$/ { p = 0 } p' "$2"; }
run_cprof threads --timeout 10s -vv -p "$P"
like "$(cat "$TMP/err")" "unwind: [1-9][0-9]* stacks by the frame rules" "-vv: stacks stepped by the frame rules, not libunwind"
cp "$TMP/out" "$TMP/rules.txt"
CPROF_UNWIND=libunwind run_cprof threads --timeout 10s -vv -p "$P"
like "$(cat "$TMP/err")" "unwind: 0 stacks by the frame rules" "CPROF_UNWIND=libunwind: libunwind steps every frame"
for n in reader napper locker; do
	a=$(block_of $n "$TMP/rules.txt"); b=$(block_of $n "$TMP/out")
	ok "$([ -n "$a" ] && [ "$a" = "$b" ]; echo $?)" "$n: the same stack either way ($(printf '%s\n' "$a" | grep -vc '^	') frames)"
done

run_cprof threads --no-stacks --timeout 10s -p "$P"
table=$(cat "$TMP/out")
is "$(printf '%s\n' "$table" | wc -l)" 7 "--no-stacks: a header and one line per thread"
like "$table" "$R +reader +sleeping +[0-9.]+s +read\(0x3\)" "--no-stacks: the reader's line"
unlike "$table" "read_here" "--no-stacks: no frames"

run_cprof threads --json --timeout 10s -p "$P"
python3 - "$TMP/out" "$R" <<'PY' >"$TMP/json.txt" 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
t = {x["name"]: x for x in d["threads"]}
r = t["reader"]
assert d["pid"] > 0 and d["stopped_us"] >= 0, d
assert len(d["threads"]) == 6, len(d["threads"])
assert r["tid"] == int(sys.argv[2]) and r["state"] == "sleeping", r
assert r["syscall"]["name"] == "read" and r["syscall"]["arg0"] == "0x3", r["syscall"]
assert any(f.get("function") == "read_here" and f["file"].endswith("states.c") and f["line"] > 0
           for f in r["stack"]), r["stack"]
assert t["spinner"]["state"] == "running" and t["spinner"]["stack"][0]["function"] == "spin_here"
assert "error" in t["vforker"] and t["vforker"]["stack"][0]["function"] == "__vfork", t["vforker"]
assert d["stopped_threads"] <= 2, d["stopped_threads"]
print("json ok")
PY
is "$(cat "$TMP/json.txt")" "json ok" "--json: a valid document with states, syscalls and stacks"

run_cprof threads --tid "$R" -p "$P"
is "$rc" 0 "--tid: exit 0 when the chosen threads were read"
is "$(grep -c '^thread ' "$TMP/out")" 1 "--tid: only that thread"

# the threads profile, pprof and Go's text format
run_cprof record -t threads -p "$P" -o "$TMP/t.pb.gz"
is "$rc" 0 "record -t threads: exit 0"
raw=$(pprof -raw "$TMP/t.pb.gz")
like "$raw" "threads/count" "sample type threads/count"
like "$(pprof -tags "$TMP/t.pb.gz" | tr -s ' \n' '  ')" "thread_state: Total 6.0 .*sleeping .*disk sleep .*running" "thread_state labels"
is "$(pprof_samples "$TMP/t.pb.gz")" 6 "one count per thread"
run_cprof record -t threads -f text -p "$P" -o "$TMP/t.txt"
is "$(head -1 "$TMP/t.txt")" "threads profile: total 6" "text: Go's header line"
bad=$(awk 'NR == 1 { next }
	/^$/ { next }
	/^[0-9]+ @( 0x[0-9a-f]+)+$/ { next }
	/^# labels: \{"thread_state":"[a-z ]+"\}$/ { next }
	/^#\t0x[0-9a-f]+\t[^\t]+\+0x[0-9a-f]+(\t[^\t]+:[0-9]+)?$/ { next }
	/^#\t0x0\t\[(unknown|truncated)\]$/ { next }
	{ print NR ": " $0 }' "$TMP/t.txt")
is "$bad" "" "text: every line is a header, a count @ addresses, a labels line or a frame"
like "$(tr '\n\t' '  ' <"$TMP/t.txt")" "1 @ [0-9a-fx ]+ # labels: \{\"thread_state\":\"sleeping\"\} # 0x[0-9a-f]+ __GI___libc_read" \
	"text: the reader's entry"
run_cprof record -t threads -f dump -p "$P" -o "$TMP/t.dump"
like "$(cat "$TMP/t.dump")" "thread $R \"reader\"" "dump: per-thread listing"
run_cprof record -t threads -p "$P" -- true
is "$rc" 2 "-t threads with a command: usage error"

kill -TERM "$P"
is "$(read_line "$P_fd")" "anomalies 0" "no blocked call in the target returned because of cprof"
pkill -P "$P" 2>/dev/null

# a stopped process: dumped, and left stopped
start_target Q "$T/burn" -t 2 -S 1 || exit 1
kill -STOP "$Q"; wait_until $WAIT all_stopped "$Q"
run_cprof threads -p "$Q"
is "$rc" 0 "stopped process: exit 0"
is "$(grep -c '^thread .*\[stopped' "$TMP/out")" 4 "every thread reported stopped, with its stack"
like "$(cat "$TMP/out")" "work_|cmp_slow|mix_inline|msort" "stacks of the stopped threads"
wait_until $WAIT all_untraced "$Q"; ok $? "untraced after"
ok "$(all_stopped "$Q"; echo $?)" "still stopped after"

# compressed debug files are decompressed once, into the cache, and the
# stacks read the same with it, without it, and from it (Q is stopped:
# the same stacks each time)
libc_debug=""
libc=$(awk '$6 ~ /\/libc\.so/ { print $6; exit }' /proc/$Q/maps)
id=$(readelf -n "$libc" 2>/dev/null | awk '/Build ID/ { print $3 }')
[ -n "$id" ] && libc_debug=/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
if [ -n "$id" ] && [ -f "$libc_debug" ] && readelf -SW "$libc_debug" 2>/dev/null | grep -q ' \.debug_info .* C '; then
	cache=$TMP/cache
	CPROF_CACHE_DIR=$cache run_cprof threads -p "$Q"; cp "$TMP/out" "$TMP/cold"
	ok "$([ -s "$cache/debug/$id.debug" ]; echo $?)" "debug cache: libc's compressed debug file copied, by build-id"
	ok "$(readelf -SW "$cache/debug/$id.debug" 2>/dev/null | grep ' \.debug_info ' | grep -vq ' C '; echo $?)" "debug cache: the copy is not compressed"
	CPROF_CACHE_DIR=$cache run_cprof threads -p "$Q"; cp "$TMP/out" "$TMP/warm"
	CPROF_CACHE_DIR=off run_cprof threads -p "$Q"
	ok "$(cmp -s "$TMP/cold" "$TMP/warm" && cmp -s "$TMP/cold" "$TMP/out"; echo $?)" "debug cache: the same stacks, lines and inlines from the copy, the file, and with the cache off"
	like "$(cat "$TMP/warm")" "\.\./sysdeps/unix/sysv/linux/[a-z_]+\.c:[0-9]+" "debug cache: libc frames have file:line from the copy"
else
	skip "libc has no compressed separate debug file here: the debug cache is not exercised"
fi

kill -CONT "$Q"; wait_until $WAIT none_stopped "$Q"; ok $? "SIGCONT resumes it"

# bad input
run_cprof threads -p 4000000; is "$rc" 1 "no such process: exit 1"; like "$err" "no such process" "says so"
run_cprof threads; is "$rc" 2 "no -p: usage error"
run_cprof threads --tid x -p "$Q"; is "$rc" 2 "bad --tid: usage error"
out=$(bash -c 'exec "$0" threads -p $$' "$CPROF" 2>&1); is $? 1 "own pid: exit 1"

# cprof profiles
out=$("$CPROF" profiles); is $? 0 "cprof profiles exits 0"
like "$out" "^cpu " "profiles: cpu"
like "$out" "threads " "profiles: threads"
like "$out" "heap .*inuse_space/bytes \(record -t heap\)" "profiles: heap, with Go's four sample types"
like "$out" "allocs .*\(record -t allocs\)" "profiles: allocs"
done_testing
