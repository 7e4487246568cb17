#!/bin/bash
# cprof serve: Go's /debug/pprof endpoints, read by the clients that read
# Go's (go tool pprof, curl, a browser): every profile type, Go's headers
# and errors, /symbol and /cmdline, requests at once, a target that exits
# or restarts, serve killed mid-request, the listener's limits.  The target
# is untraced and running between and after requests.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || skip_all "curl is not installed (make deps)"
command -v go >/dev/null || skip_all "go is not installed (make deps)"
export PPROF_TMPDIR=$TMP/pprof

start_target P "$T/burn" -t 2 -S 1 || exit 1
start_target W "$T/waits" || exit 1
start_target F "$T/waits" -f 0 || exit 1

# start_serve VAR ARGS...: cprof serve ARGS on a free port; VAR gets the
# base URL it prints (an event: its line on a FIFO), VAR_pid its pid.
# Its stderr (a line per request) goes to $TMP/serve-VAR.err.
start_serve() {
	local var=$1 fifo line fd
	shift
	fifo=$TMP/sfifo.$RANDOM$RANDOM
	mkfifo "$fifo"
	"$CPROF" serve --listen 127.0.0.1:0 "$@" >"$fifo" 2>"$TMP/serve-$var.err" &
	printf -v "${var}_pid" '%s' "$!"
	_pids+=($!)
	exec {fd}<"$fifo"
	if ! read -r -t "$WAIT" -u "$fd" line || [ "${line%% *}" != serving ]; then
		diag "serve did not start: $*" "$(cat "$TMP/serve-$var.err")"
		return 1
	fi
	printf -v "$var" '%s' "${line#serving }"
}
# get URL: the body in $TMP/body, status in $code, headers in $hdr
get() {
	code=$(curl -s -m "$((2 * WAIT))" -D "$TMP/hdr" -o "$TMP/body" -w '%{http_code}' "$@")
	hdr=$(tr -d '\r' <"$TMP/hdr")
}
header() { printf '%s\n' "$hdr" | awk -v h="$1:" 'tolower($1) == tolower(h) { $1 = ""; sub(/^ /, ""); print; exit }'; }
untouched() {	# untouched PID WHAT: no tracer on any thread, none stopped
	wait_until "$WAIT" all_untraced "$1"; ok $? "$2: no thread of $1 traced"
	none_stopped "$1"; ok $? "$2: no thread of $1 stopped"
}
# rawpp URL-or-file ARGS...: go tool pprof -raw, what it read.  Without
# -timeout, pprof gives a ?seconds=N request N * 1.5 s: allocs?seconds=1
# under ASan answers in 1.4-1.5 s on an idle machine, and failed the
# test on a loaded one (a speed, not a behaviour: bounded like any wait)
rawpp() { local u=$1; shift; go tool pprof -raw -timeout $((2 * WAIT)) "$@" "$u" 2>"$TMP/pperr"; }

# --- the command line -----------------------------------------------------
out=$("$CPROF" serve --help); is $? 0 "serve --help exits 0"
like "$out" "^usage: cprof serve" "serve --help: its usage"
like "$("$CPROF" --help)" "  serve " "cprof --help lists serve"
run_cprof serve; is "$rc" 2 "serve without a process: usage error"
like "$err" "which process" "... says what is missing"
run_cprof serve -p "$P" --listen 0.0.0.0:0
is "$rc" 2 "a non-loopback address without --allow-remote: usage error"
like "$err" "not a loopback address.*--allow-remote" "... says who could read the stacks, and the option"
run_cprof serve -p "$P" --listen 127.0.0.1:notaport
is "$rc" 1 "a port that is not one: failure"
like "$err" "listen 127.0.0.1:notaport" "... names the address"

start_serve S -p "$P" --window 1s --max-seconds 20 -F 199 || exit 1
like "$S" "^http://127\.0\.0\.1:[0-9]+/debug/pprof/$" "serve prints the address it bound"
untouched "$P" "serve started, no request yet"

# --- the index --------------------------------------------------------------
get "$S"
is "$code" 200 "index: 200"
is "$(header Content-Type)" "text/html; charset=utf-8" "index: text/html"
for l in 'profile' 'wall?debug=1' 'block?debug=1' 'mutex?debug=1' 'threadcreate?debug=1' \
	 'threads?debug=1' 'goroutine?debug=1' 'goroutine?debug=2' 'cmdline'; do
	grep -qF "href=\"$l\"" "$TMP/body"; ok $? "index links $l"
done
like "$(grep -A0 'threads?debug=1' "$TMP/body")" "<td>4</td>" "index: the thread count (4) beside threads"
get "${S%/}"
is "$code" 301 "/debug/pprof without its slash: 301"
is "$(header Location)" "pprof/" "... to /debug/pprof/"

# --- every type through go tool pprof --------------------------------------
rawpp "${S}profile" -seconds 2 >"$TMP/cpu.raw"
ok $? "go tool pprof -seconds 2 .../profile reads a profile"
like "$(head -20 "$TMP/cpu.raw")" "samples/count cpu/nanoseconds" "cpu: Go's sample types"
like "$(grep -c work_a "$TMP/cpu.raw")" "^[1-9]" "cpu: the burners' work_a"
top=$(go tool pprof -top -timeout $((2 * WAIT)) -seconds 1 "${S}profile" 2>/dev/null)
like "$top" "Duration: 1(\.[0-9]+)?s" "cpu -top: a 1 s profile"
like "$top" "work_[abc]" "cpu -top: work_ functions at the top"

rawpp "${S}wall?seconds=1" >"$TMP/wall.raw"; ok $? "wall?seconds=1 read"
like "$(cat "$TMP/wall.raw")" "wall/nanoseconds" "wall: wall/nanoseconds"
grep -q "__libc_pause\|pause" "$TMP/wall.raw"; ok $? "wall: the main thread in pause()"

get "${S%/debug/pprof/}/pid/$W/debug/pprof/block?seconds=1"
is "$code" 404 "/pid/N/ of a process this server does not follow: 404"
start_serve S2 -p "$P" -p "$W" -p "$F" --window 1s -q || exit 1
base=${S2%/debug/pprof/}
rawpp "$base/pid/$W/debug/pprof/block?seconds=1" >"$TMP/block.raw"
ok $? "several processes: /pid/W/debug/pprof/block?seconds=1 read"
like "$(cat "$TMP/block.raw")" "contentions/count delay/nanoseconds" "block: Go's sample types"
grep -q "sleep_here" "$TMP/block.raw"; ok $? "block: the waits target's sleep_here"
rawpp "$base/pid/$W/debug/pprof/delta_mutex" >"$TMP/mutex.raw"
ok $? "delta_mutex (Alloy's path), no seconds: --window"
grep -q "lock_a" "$TMP/mutex.raw"; ok $? "mutex: lock_a"
unlike "$(cat "$TMP/mutex.raw")" "sleep_here" "mutex: not the sleeps"
rawpp "$base/pid/$F/debug/pprof/threadcreate?seconds=1" >"$TMP/tc.raw"
ok $? "threadcreate?seconds=1 read"
grep -q "create_a" "$TMP/tc.raw"; ok $? "threadcreate: create_a"
get "$base/pid/1/debug/pprof/"
is "$code" 404 "a process not served: 404"

# heap and allocs: kernel uprobes, as record -t heap (root only)
start_target H "$T/heapmix" -n 4096 || exit 1
run_cprof record -t allocs -d 200ms -p "$H" -o "$TMP/hprobe.pb.gz"
if [ "$rc" != 0 ] && grep -q 'perf_event_open' "$TMP/err"; then
	for i in $(seq 8); do skip "perf_event_open of a uprobe refused here: $err"; done
else
	start_serve SH -p "$H" --window 1s -q || exit 1
	rawpp "${SH}allocs?seconds=1" -sample_index=alloc_space >"$TMP/allocs.raw"
	r=$?; ok $r "allocs?seconds=1 read"
	[ $r = 0 ] || diag "go tool pprof: $(cat "$TMP/pperr")" "cprof serve: $(tail -5 "$TMP/serve-SH.err")"
	like "$(head -20 "$TMP/allocs.raw")" "alloc_objects/count alloc_space/bytes.* inuse_objects/count inuse_space/bytes" \
		"allocs: Go's four sample types"
	grep -q "churn" "$TMP/allocs.raw"; ok $? "allocs: heapmix's churn allocating"
	get "${SH}heap?debug=1"
	is "$code" 200 "heap?debug=1 (--window): 200"
	like "$(head -1 "$TMP/body")" "^heap profile: [0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @ heap_v2/" "heap?debug=1: Go's heap header"
	get "${SH}probe"
	is "$code" 404 "probe (record's alone): 404"
	untouched "$H" "after heap and allocs"
fi
get "$base/debug/pprof/cmdline"
is "$(tr '\0' ' ' <"$TMP/body")" "$(tr '\0' ' ' </proc/$P/cmdline | sed 's/ $//')" "the first -p is the default process"

rawpp "${S}goroutine" >"$TMP/g.raw"; ok $? "goroutine read"
like "$(cat "$TMP/g.raw")" "threads/count" "goroutine: threads/count"
like "$(grep -c 'burner\|work_' "$TMP/g.raw")" "^[1-9]" "goroutine: the burners' stacks"
rawpp "${S}threads" -symbolize=remote >/dev/null; ok $? "threads read with -symbolize=remote"
untouched "$P" "after a request of each type"

# --- Go's text forms and headers --------------------------------------------
get "${S}goroutine?debug=1"
is "$code" 200 "goroutine?debug=1: 200"
is "$(header Content-Type)" "text/plain; charset=utf-8" "debug=1: text/plain"
is "$(header Content-Disposition)" "" "debug=1: no attachment"
like "$(head -1 "$TMP/body")" "^threads profile: total 4$" "debug=1: Go's header line"
cp "$TMP/body" "$TMP/g1.txt"
get "${S}goroutine?debug=2"
like "$(cat "$TMP/body")" "thread $P \"burn\" \[sleeping, in pause" "debug=2: every thread, the main one in pause"
is "$(grep -c '^thread ' "$TMP/body")" 4 "debug=2: four threads"
get "${S}goroutine"
is "$(header Content-Type)" "application/octet-stream" "goroutine: octet-stream"
is "$(header Content-Disposition)" 'attachment; filename="goroutine"' "goroutine: Go's file name"
is "$(header X-Content-Type-Options)" nosniff "nosniff, as Go"
get "${S}profile?seconds=1"
is "$(header Content-Disposition)" 'attachment; filename="profile"' "profile: Go's file name"
get "${S}block?seconds=1"
is "$(header Content-Disposition)" 'attachment; filename="block-delta"' "block?seconds=: Go's NAME-delta"
get "${S}mutex?debug=1"
like "$(head -1 "$TMP/body")" "^--- (mutex|contention):" "mutex?debug=1: Go's contention text"

# --- errors, as Go's handler gives them -------------------------------------
err_is() {	# err_is PATH CODE TEXT
	get "${S}$1"
	is "$code" "$2" "$1: $2"
	is "$(cat "$TMP/body")" "$3" "$1: '$3'"
}
err_is nosuch 404 "Unknown profile"
is "$(header X-Go-Pprof)" 1 "errors carry X-Go-Pprof: 1"
is "$(header Content-Type)" "text/plain; charset=utf-8" "errors are plain text"
err_is 'block?seconds=abc' 400 'invalid value for "seconds" - must be a positive integer'
err_is 'profile?seconds=-3' 400 'invalid value for "seconds" - must be a positive integer'
err_is 'mutex?seconds=1&debug=1' 400 'seconds and debug params are incompatible'
err_is 'goroutine?seconds=1' 400 '"seconds" parameter is not supported for this profile type'
err_is 'profile?seconds=21' 400 "profile duration exceeds the server's limit (cprof serve --max-seconds)"
err_is 'delta_goroutine' 404 "Unknown profile"
get "${S%/debug/pprof/}/metrics"
is "$code" 404 "outside /debug/pprof: 404"

# --- cmdline, symbol ---------------------------------------------------------
get "${S}cmdline"
is "$code" 200 "cmdline: 200"
cmp -s "$TMP/body" <(head -c -1 /proc/$P/cmdline); ok $? "cmdline: argv separated by NULs, as Go"
get "${S}symbol"
is "$(cat "$TMP/body")" "num_symbols: 1" "symbol GET: num_symbols: 1"
# addresses from the text dump, and the function each is in (the last
# line of an address: inlined frames come first)
awk '/^#\t0x/ { name = $3; sub(/\+0x[0-9a-f]+$/, "", name); f[$2] = name } END { for (a in f) print a, f[a] }' \
	"$TMP/g1.txt" | sort >"$TMP/want.sym"
addrs=$(awk '{ print $1 }' "$TMP/want.sym" | paste -sd+)
get --data-binary "$addrs+notanumber+0" "${S}symbol"
is "$code" 200 "symbol POST: 200"
head -1 "$TMP/body" >"$TMP/first"
is "$(cat "$TMP/first")" "num_symbols: 1" "symbol POST: num_symbols first"
tail -n +2 "$TMP/body" | sort >"$TMP/got.sym"
above "$(wc -l <"$TMP/got.sym")" 4 "symbol POST: a line for each address"
cmp -s "$TMP/want.sym" "$TMP/got.sym"; ok $? "symbol POST: each address named as the profile names it"
[ $? = 0 ] || diag "$(diff "$TMP/want.sym" "$TMP/got.sym" | head)"
get "${S}symbol?$(head -1 "$TMP/want.sym" | awk '{ print $1 }')"
is "$(tail -1 "$TMP/body")" "$(head -1 "$TMP/want.sym")" "symbol GET with a query: Go reads the query"
get --data-binary @<(head -c 1100000 /dev/zero | tr '\0' '1') "${S}symbol"
is "$code" 413 "symbol POST of more than 1 MiB: 413"

# --- many requests at once ---------------------------------------------------
mkdir -p "$TMP/conc"
reqs=()
for i in 1 2 3 4 5 6; do reqs+=("profile?seconds=2"); done
for i in 1 2 3 4; do reqs+=("goroutine"); done
for i in 1 2 3; do reqs+=("goroutine?debug=2"); done
for i in 1 2; do reqs+=("wall?seconds=1" "block?seconds=1"); done
reqs+=("threadcreate?seconds=1" "cmdline" "")
cpids=()
for i in "${!reqs[@]}"; do
	curl -s -m $((4 * WAIT)) -o "$TMP/conc/$i" -w '%{http_code}' "${S}${reqs[$i]}" >"$TMP/conc/$i.code" &
	cpids+=($!)
done
wait "${cpids[@]}"
bad=0
for i in "${!reqs[@]}"; do
	c=$(cat "$TMP/conc/$i.code")
	case ${reqs[$i]} in
	*debug=2) grep -q '^thread ' "$TMP/conc/$i" || c="$c, not a dump";;
	cmdline|"") [ -s "$TMP/conc/$i" ] || c="$c, empty";;
	*) rawpp "$TMP/conc/$i" >"$TMP/conc/$i.raw" && grep -q '^Samples:' "$TMP/conc/$i.raw" || c="$c, not a profile";;
	esac
	[ "$c" = 200 ] || { bad=$((bad + 1)); diag "${reqs[$i]}: $c"; }
done
is "$bad" 0 "${#reqs[@]} requests at once: every answer 200 and valid"
n=$(for i in 0 1 2 3 4 5; do md5sum <"$TMP/conc/$i"; done | sort -u | wc -l)
ok "$([ "$n" -lt 6 ]; echo $?)" "6 cpu requests at once shared recordings ($n distinct profiles)"
grep -q work_a "$TMP/conc/0.raw"; ok $? "... with the burners' work in them"
untouched "$P" "after ${#reqs[@]} requests at once"

# --- the browser --------------------------------------------------------------
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
if [ -z "$CHROME" ]; then
	skip "chromium is not installed"
elif ! timeout $WAIT "$CHROME" --headless --no-sandbox --disable-gpu --dump-dom "$S" \
		>"$TMP/dom.html" 2>"$TMP/chrome.err" || ! grep -q '<table' "$TMP/dom.html"; then
	skip "headless chromium does not run here: $(tail -1 "$TMP/chrome.err")"
else
	hrefs=$(grep -o 'href="[^"]*"' "$TMP/dom.html" | sed 's/href="//; s/"$//')
	bad=0; n=0
	for h in $hrefs; do
		case $h in profile) h="profile?seconds=1";; esac
		c=$(curl -s -m $((2 * WAIT)) -o /dev/null -w '%{http_code}' "${S}$h")
		n=$((n + 1))
		[ "$c" = 200 ] || { bad=$((bad + 1)); diag "link $h: $c"; }
	done
	above "$n" 8 "chromium renders the index's links"
	is "$bad" 0 "every link of the index answers 200"
fi

# --- serve stops; the target does not notice ----------------------------------
curl -s -o /dev/null -m $((2 * WAIT)) "${S}profile?seconds=20" &
cp=$!
wait_until "$WAIT" traced "$P"; ok $? "a 20 s cpu request: the target is traced"
kill -TERM "$S_pid"
wait "$S_pid"; is $? 0 "SIGTERM mid-request: serve exits 0"
wait $cp
untouched "$P" "serve SIGTERMed mid-recording"

start_serve K -p "$P" -q || exit 1
curl -s -o /dev/null -m $((2 * WAIT)) "${K}profile?seconds=20" &
cp=$!
wait_until "$WAIT" traced "$P"; ok $? "serve 2: the target is traced for a request"
kill -KILL "$K_pid"
wait "$K_pid" 2>/dev/null; wait $cp
untouched "$P" "serve SIGKILLed mid-recording"
wait_cpu "$P" 100000000; ok $? "the burners run on after serve was killed"
kill -TERM "$S2_pid"; wait "$S2_pid"

# --- the target exits; a restarted one under --pid-file ------------------------
start_target A "$T/burn" -t 1 || exit 1
echo "$A" >"$TMP/pidfile"
start_serve R --pid-file "$TMP/pidfile" --window 1s || exit 1
get "${R}cmdline"
like "$(tr '\0' ' ' <"$TMP/body")" "burn -t 1" "--pid-file: the process in the file"
kill -TERM "$A"; wait "$A" 2>/dev/null
get "${R}goroutine"
is "$code" 503 "the process gone: 503"
like "$(cat "$TMP/body")" "process $A .*is not running" "... says which process and why"
kill -0 "$R_pid"; ok $? "serve answers on after its process exited"
start_target B "$T/burn" -t 3 || exit 1
echo "$B" >"$TMP/pidfile.new" && mv "$TMP/pidfile.new" "$TMP/pidfile"
get "${R}goroutine?debug=1"
is "$code" 200 "the restarted service (new pid in the file): 200"
like "$(head -1 "$TMP/body")" "total 4" "... its four threads"
get "${R}profile?seconds=1"
rawpp "$TMP/body" >"$TMP/b.raw"; like "$(grep -m1 'target: pid' "$TMP/b.raw")" "pid $B" "... a cpu profile of the new pid"
untouched "$B" "after the restart"
kill -TERM "$R_pid"; wait "$R_pid"

# --exe: every process of a program; the lowest pid by default
start_serve E --exe "$T/waits" -q || exit 1
get "${E}"
like "$(cat "$TMP/body")" "pid/$W/debug/pprof/" "--exe: the index lists each process of the program"
like "$(cat "$TMP/body")" "pid/$F/debug/pprof/" "... both of them"
kill -TERM "$E_pid"; wait "$E_pid"
start_serve C --comm waits -q || exit 1
lo=$((W < F ? W : F)) hi=$((W < F ? F : W))
get "${C}cmdline"
cmp -s "$TMP/body" <(head -c -1 /proc/$lo/cmdline); ok $? "--comm: the lowest pid of that name is the default"
get "${C%/debug/pprof/}/pid/$hi/debug/pprof/cmdline"
cmp -s "$TMP/body" <(head -c -1 /proc/$hi/cmdline); ok $? "--comm: /pid/N/ reaches the other"
kill -TERM "$C_pid"; wait "$C_pid"

# --- the listener: Unix socket, request limits, idle connections ---------------
start_serve U -p "$P" --listen "unix:$TMP/s.sock" --timeout 1s -q || exit 1
is "$U" "unix:$TMP/s.sock" "unix: serve says where"
is "$(stat -c %a "$TMP/s.sock")" 600 "the socket is the owner's only"
code=$(curl -s -o "$TMP/body" -w '%{http_code}' --unix-socket "$TMP/s.sock" http://x/debug/pprof/)
is "$code" 200 "index through the Unix socket"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$TMP/s.sock" \
	-H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)" http://x/debug/pprof/)
like "$code" "^4[0-9][0-9]$" "40 KB of headers: refused with a 4xx ($code)"
# a client that sends half a request and nothing more is dropped after
# --timeout (slowloris): the server closes, read sees the end
exec {sl}< <(python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.send(b"GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\n")
t = time.time(); s.settimeout(float(sys.argv[2]))
try:
    d = s.recv(100)
    print("closed" if not d else "data", round(time.time() - t))
except socket.timeout:
    print("open")
' "$TMP/s.sock" "$WAIT")
read -r -t $((WAIT + 5)) -u $sl slow
like "$slow" "^closed" "half a request, then silence: serve closes the connection (--timeout 1s)"
kill -TERM "$U_pid"; wait "$U_pid"
untouched "$P" "at the end"
grep -h 'AddressSanitizer\|LeakSanitizer\|runtime error' "$TMP"/serve-*.err >&2 && fail "sanitizer reports" || pass "no sanitizer report"

done_testing
