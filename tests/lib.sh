# tests/lib.sh - shared helpers for the end-to-end tests (bash, TAP output).
#
# A test sources this file, says `plan N`, then checks what a user would
# see.  Targets are started with start_target, which waits for their
# "ready" line on a FIFO (an event, bounded by a timeout), never a sleep.
# CPROF_SAN=1 runs the same test against the ASan+UBSan build; any
# sanitizer report makes cprof exit 86 and fails the test.

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$TOP/build
T=$B/targets
if [ -n "${CPROF_SAN:-}" ]; then
	CPROF=$B/asan/cprof
	UNIT=$B/asan/tests/unit
	export ASAN_OPTIONS=exitcode=86:detect_leaks=1:abort_on_error=0
	export UBSAN_OPTIONS=halt_on_error=1:exitcode=86:print_stacktrace=1
else
	CPROF=$B/cprof
	UNIT=$B/tests/unit
fi
TMP=$(mktemp -d /tmp/cprof-test.XXXXXX)
export GOFLAGS=-mod=mod GOTOOLCHAIN=local
export HOME=${HOME:-$TMP}
# decompressed debug files (symbolize/debugcache.c): one cache for the
# suite, in the build tree, not the user's
export CPROF_CACHE_DIR=${CPROF_CACHE_DIR:-$B/test-cache}
# every stack the frame rules step (attach/cfi.c) is stepped again by
# libunwind and compared: cprof aborts on any difference
export CPROF_UNWIND_CHECK=${CPROF_UNWIND_CHECK:-1}

_n=0
_failed=0
_pids=()

cleanup() {
	local p
	for p in "${_pids[@]}"; do
		kill -CONT "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

_planned=
plan() { _planned=1; echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
# diagnostics go to stderr, where prove shows them (a CI log then says why)
diag() { printf '# %s\n' "$@" | sed '2,$s/^/# /' >&2; }

ok() {	# ok CONDITION-STATUS DESCRIPTION
	_n=$((_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $_n - $2"
	else
		echo "not ok $_n - $2"
		_failed=$((_failed + 1))
	fi
}
pass() { ok 0 "$1"; }
fail() { ok 1 "$1"; }
skip() { _n=$((_n + 1)); echo "ok $_n # SKIP $*"; }
is() {	# is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then pass "$3"; else fail "$3"; diag "got: '$1'" "want: '$2'"; fi
}
like() {	# like TEXT REGEX DESCRIPTION
	if printf '%s' "$1" | grep -Eq -- "$2"; then pass "$3"; else fail "$3"; diag "text: $1" "does not match: $2"; fi
}
unlike() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then fail "$3"; diag "text: $1" "matches: $2"; else pass "$3"; fi
}
above() {	# above GOT MIN DESCRIPTION: GOT > MIN (integers)
	if [ "${1:-0}" -gt "$2" ] 2>/dev/null; then pass "$3 ($1)"; else fail "$3"; diag "got '$1', want more than $2"; fi
}
within() {	# within GOT WANT TOLERANCE DESCRIPTION (numbers; empty fails)
	if [ -n "$1" ] && [ -n "$2" ] && awk -v g="$1" -v w="$2" -v t="$3" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= t) }'; then
		pass "$4 ($1, want $2 +- $3)"
	else
		fail "$4"; diag "got $1, want $2 +- $3"
	fi
}

# Bounds on waiting for an event.  They cost time only when something is
# wrong, so they are sized for the slowest run that is still correct: the
# ASan build (2-3x slower) on a 2-core machine other jobs keep busy.
WAIT=${CPROF_TEST_WAIT:-60}

# start_target VAR CMD...: run CMD with stdout on a FIFO, wait ($WAIT s at
# most) for its "ready PID" line; VAR gets the pid, VAR_fd the FIFO's fd
# for later lines.
start_target() {
	local var=$1 fifo line fd
	shift
	fifo=$TMP/fifo.$RANDOM$RANDOM
	mkfifo "$fifo"
	"$@" >"$fifo" &
	_pids+=($!)
	exec {fd}<"$fifo"
	if ! read -r -t "$WAIT" -u "$fd" line || [ "${line%% *}" != ready ]; then
		echo "# target did not become ready: $*" >&2
		return 1
	fi
	printf -v "$var" '%s' "${line#ready }"
	printf -v "${var}_fd" '%s' "$fd"
}

# read_line FD: the next line a target prints ($WAIT s at most)
read_line() {
	local line=""
	read -r -t "$WAIT" -u "$1" line
	printf '%s' "$line"
}

# nap: 10 ms without a fork (read times out on a FIFO nobody writes to;
# forking sleep under load made each poll late by tens of ms)
mkfifo "$TMP/nap" && exec {_nap_fd}<>"$TMP/nap"
nap() { read -r -t "${1:-0.01}" -u "$_nap_fd" _; return 0; }

# wait_until SECONDS COMMAND...: poll a /proc condition (no event exists
# for it), bounded.
wait_until() {
	local end=$((SECONDS + $1))
	shift
	while ! "$@"; do
		[ $SECONDS -ge $end ] && return 1
		nap
	done
}

# traced PID: its main thread has a tracer (bash builtins only: no fork,
# so a poll sees the change within a few ms, also on a loaded machine)
traced() {
	local l
	{ while read -r l; do
		case $l in
		TracerPid:*) [ "${l##*[!0-9]}" != 0 ]; return;;
		esac
	done <"/proc/$1/status"; } 2>/dev/null
	return 1
}

# every thread's State letter and TracerPid, one "S 0" line each
task_states() {
	local f
	for f in /proc/$1/task/*/status; do
		awk '/^State:/ { s = $2 } /^TracerPid:/ { t = $2 } END { print s, t }' "$f" 2>/dev/null
	done
}
all_untraced() { ! task_states "$1" | awk '$2 != 0 { bad = 1 } END { exit !bad }'; }
all_stopped() { ! task_states "$1" | awk '$1 != "T" { bad = 1 } END { exit !bad }'; }
none_stopped() { ! task_states "$1" | awk '$1 == "T" || $1 == "t" { bad = 1 } END { exit !bad }'; }

# the sum of every thread's cpu ns (schedstat), read with builtins only
# (run_cprof_window reads it at the edges of a recording: a fork there
# let the target run on unmeasured)
_cpu_ns() {	# _cpu_ns PID: sets _cpu, in this shell (no subshell)
	local f ns
	_cpu=0
	for f in /proc/$1/task/*/schedstat; do
		read -r ns _ 2>/dev/null <"$f" && _cpu=$((_cpu + ns))
	done
}
proc_cpu_ns() { _cpu_ns "$1"; echo "$_cpu"; }

# wait_cpu PID NS: until the target used NS more cpu (it ran, and was
# sampled, a while: an event, bounded by $WAIT s)
wait_cpu() {
	local start
	start=$(proc_cpu_ns "$1")
	wait_until "$WAIT" eval '[ $(($(proc_cpu_ns '"$1"') - '"$start"')) -ge '"$2"' ]'
}

# -symbolize=none: the symbols cprof wrote.  A mapping with one address
# cprof could not name (a PLT stub) has HasFunctions false, and pprof then
# symbolizes the whole mapping again from the binary, without inlines (the
# cause of rare failures: mix_inline missing, units differing in t0015).
pprof() { go tool pprof -symbolize=none "$@" 2>/dev/null; }
# pprof_top FILE [OPTIONS]: `go tool pprof -top` rows: flat flat% sum% cum cum% name
pprof_top() { local f=$1; shift; pprof -top -nodecount=1000 "$@" "$f"; }
# cum_pct FILE FUNCTION: the cum% of a function in -top
cum_pct() { pprof_top "$1" | awk -v f="$2" '{ name = $6; for (i = 7; i <= NF; i++) name = name " " $i; sub(" \(inline\)$", "", name) } name == f { sub("%", "", $5); print $5; exit }'; }
flat_pct() { pprof_top "$1" | awk -v f="$2" '{ name = $6; for (i = 7; i <= NF; i++) name = name " " $i; sub(" \(inline\)$", "", name) } name == f { sub("%", "", $2); print $2; exit }'; }
# trace_counts FILE FUNCTION: one line per trace `go tool pprof -traces`
# prints (a distinct stack and labels): how many of its frames are
# FUNCTION.  A count of frames holds per stack; summed over the traces it
# depends on how many pcs the leaf was sampled at.
trace_counts() {
	pprof -traces "$1" | awk -v f="$2" '
		/^-+\+-+$/ { if (lines) print n; on = 1; n = lines = 0; next }
		on { lines++; sub(/ \(inline\)$/, ""); if ($NF == f) n++ }
		END { if (lines) print n }'
}
# total of the last sample type (cpu ns) over all samples, from -raw
pprof_total() {
	pprof -raw "$1" | awk '/^Samples:/ { on = 1; next } /^Locations/ { on = 0 } on && /^ *[0-9]+ +[0-9]+:/ { sub(":", "", $2); s += $2 } END { printf "%.0f\n", s }'
}
pprof_samples() {	# the first value summed (one-value profiles print "N: ids")
	pprof -raw "$1" | awk '/^Samples:/ { on = 1; next } /^Locations/ { on = 0 } on && /^ *[0-9]+( +[0-9]+)*:/ { sub(":", "", $1); s += $1 } END { printf "%.0f\n", s }'
}

# run cprof, keeping its stderr in $TMP/err and its status in $rc
run_cprof() {
	"$CPROF" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	err=$(cat "$TMP/err")
	if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP/err"; then
		diag "sanitizer report:" "$err"
	fi
	return 0
}

# run_cprof_cpu PID NS ARGS...: run_cprof until the target PID used NS of
# cpu while traced, then Ctrl-C: about as many samples on a busy machine
# as on an idle one (a fixed duration gave a loaded run a third of them)
run_cprof_cpu() {
	local pid=$1 ns=$2 cp
	shift 2
	"$CPROF" "$@" >"$TMP/out" 2>"$TMP/err" & cp=$!
	wait_until "$WAIT" traced "$pid"
	wait_cpu "$pid" "$ns"
	kill -INT $cp
	wait $cp; rc=$?
	err=$(cat "$TMP/err")
	if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP/err"; then
		diag "sanitizer report:" "$err"
	fi
}

# run_cprof_window PID ARGS...: run_cprof, and set cpu_used to the cpu ns
# the target PID used while it was traced (from attach to detach, polled:
# cprof runs on after the detach to write the profile, the target too)
run_cprof_window() {
	local pid=$1 before after cp end
	shift
	"$CPROF" "$@" >"$TMP/out" 2>"$TMP/err" & cp=$!
	# polled every 2 ms, with builtins only: each edge is read within a
	# few ms of the change (the target's cpu in that gap is the error)
	end=$((SECONDS + WAIT))
	until traced "$pid"; do [ $SECONDS -lt $end ] || break; nap 0.002; done
	_cpu_ns "$pid"; before=$_cpu
	while traced "$pid" && kill -0 "$cp" 2>/dev/null; do nap 0.002; done
	_cpu_ns "$pid"; after=$_cpu
	wait $cp; rc=$?
	err=$(cat "$TMP/err")
	cpu_used=$((after - before))
}

all_traced() { ! task_states "$1" | awk '$2 == 0 { bad = 1 } END { exit !bad }'; }
all_halted() { ! task_states "$1" | awk '$1 != "T" && $1 != "t" { bad = 1 } END { exit !bad }'; }

# record_window PID CPU_NS ARGS...: run cprof ARGS (attached to PID, no
# -d) until the target used CPU_NS of cpu while traced, then stop the
# target (SIGSTOP) and end cprof (SIGINT); $rc, $err as run_cprof.  The
# cpu it used then lies between cpu_used (from when every thread was
# traced to the stop: cprof counted all of it) and cpu_max (from before
# cprof started).  Stopping the target first is what makes cpu_used a
# bound on a loaded machine: a starved cprof reads its last cpu late, but
# not after the target stopped.  Polls are events with bounds; no sleeps.
record_window() {
	local pid=$1 ns=$2 start before cp
	shift 2
	start=$(proc_cpu_ns "$pid")
	"$CPROF" "$@" >"$TMP/out" 2>"$TMP/err" & cp=$!
	wait_until "$WAIT" all_traced "$pid"
	before=$(proc_cpu_ns "$pid")
	wait_until $((2 * WAIT)) eval '[ $(($(proc_cpu_ns '"$pid"') - '"$before"')) -ge '"$ns"' ]'
	kill -STOP "$pid"
	wait_until "$WAIT" all_halted "$pid"
	cpu_used=$(($(proc_cpu_ns "$pid") - before))
	cpu_max=$(($(proc_cpu_ns "$pid") - start))
	kill -INT "$cp"
	wait "$cp"; rc=$?
	kill -CONT "$pid"
	err=$(cat "$TMP/err")
}

# cpu_total_ok TOTAL DESCRIPTION: a profile's cpu total, after
# record_window, within 10% of the cpu the target used while traced
cpu_total_ok() {
	if awk -v t="$1" -v lo="$cpu_used" -v hi="$cpu_max" 'BEGIN { exit !(t >= 0.9 * lo && t <= 1.1 * hi) }'; then
		pass "$2 ($1 ns; used $cpu_used-$cpu_max)"
	else
		fail "$2"; diag "cpu total $1 ns; the target used at least $cpu_used and at most $cpu_max ns"
	fi
}

done_testing() {
	[ -n "$_planned" ] || echo "1..$_n"
	[ "$_failed" = 0 ] && exit 0
	exit 1
}
