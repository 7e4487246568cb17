#!/bin/bash
# Frames that tail calls removed, put back from DWARF call sites when one
# chain of calls fits (symbolize/tailcall.c), marked " (tail call)": in the
# dump, JSON and pprof; none where two chains fit; and each thread's
# functions as gdb's `thread apply all bt` shows them, on our own target
# and on Debian's redis-server, SIGSTOPped.
. "$(dirname "$0")/lib.sh"

start_target P "$T/tailcall" || exit 1
tid_of() { grep -l "^$1\$" /proc/$P/task/*/comm | head -1 | awk -F/ '{ print $5 }'; }
# futex(2) is system call 202 (x86-64)
in_futex() { local nr rest; read -r nr rest <"/proc/$P/task/$(tid_of "$1")/syscall" && [ "$nr" = 202 ]; }
for n in chain amb; do
	wait_until 10 in_futex $n || diag "$n is not waiting yet"
done

# the function lines of one thread's block in a dump
funcs_of() { awk -v n="\"$1\"" '$1 == "thread" && $3 == n { p = 1; next } /^$/ { p = 0 } p && !/^\t/' "$2"; }

run_cprof threads -p "$P"
is "$rc" 0 "cprof threads: exit 0"
cp "$TMP/out" "$TMP/dump.txt"
chain=$(funcs_of chain "$TMP/dump.txt" | tr '\n' '|')
like "$chain" "\|tc_block\|tc_wait\|tc_c \(tail call\)\|tc_b \(tail call\)\|tc_a \(tail call\)\|chain_top\|chain_main\|" \
	"three tail calls: tc_c, tc_b and tc_a put back between tc_wait and chain_top, marked"
like "$(awk '$0 == "tc_b (tail call)" { getline; print; exit }' "$TMP/dump.txt")" "tailcall2\.c:[0-9]+$" \
	"a tail-call frame has its jump's file:line"
amb=$(funcs_of amb "$TMP/dump.txt" | tr '\n' '|')
like "$amb" "\|tc_block\|amb_top\|amb_main\|" "two chains fit (amb_y, amb_p or amb_q): nothing put back"
unlike "$amb" "amb_[ypq]" "no guessed frame"
if dpkg -s libc6-dbg 2>/dev/null | grep -q '^Status: install ok installed'; then
	like "$chain" "^([^|]*\|)?__futex_abstimed_wait_common\|[^|]*__futex_abstimed_wait_cancelable64 \(tail call\)\|([^|]*\|)?[^|]*pthread_cond_wait\|" \
		"libc (libc6-dbg): pthread_cond_wait's futex wait reached by a tail call"
else
	skip "libc6-dbg is not installed: libc has no call-site information"
fi

run_cprof threads --json -p "$P"
python3 - "$TMP/out" <<'PY' >"$TMP/json.txt" 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
t = {x["name"]: x for x in d["threads"]}
st = t["chain"]["stack"]
tb = [f for f in st if f.get("function") == "tc_b (tail call)"]
assert len(tb) == 1 and tb[0]["tail_call"] is True and tb[0]["file"].endswith("tailcall2.c"), tb
assert all("tail_call" not in f for f in st if f.get("function") in ("tc_block", "tc_wait")), st
assert not any(f.get("tail_call") for f in t["amb"]["stack"]
               if f.get("function", "").startswith("amb_")), t["amb"]["stack"]
print("json ok")
PY
is "$(cat "$TMP/json.txt")" "json ok" "--json: tail-call frames named with the mark and \"tail_call\":true"

# pprof: a location per tail-call frame, at its jump; the same both times
run_cprof record -t threads -p "$P" -o "$TMP/t1.pb.gz"
is "$rc" 0 "record -t threads: exit 0"
run_cprof record -t threads -p "$P" -o "$TMP/t2.pb.gz"
traces=$(pprof -traces "$TMP/t1.pb.gz")
like "$(printf '%s\n' "$traces" | awk '{ $1 = $1 } 1' | tr '\n' '|')" \
	"\|tc_block\|tc_wait\|tc_c \(tail call\)\|tc_b \(tail call\)\|tc_a \(tail call\)\|chain_top\|" "pprof -traces: the tail-call frames, in order"
like "$(printf '%s\n' "$traces" | awk '{ $1 = $1 } 1' | tr '\n' '|')" "\|tc_block\|amb_top\|" "pprof -traces: none in the ambiguous stack"
like "$(pprof_top "$TMP/t1.pb.gz" | awk '$6 == "tc_a" { print $1, $6, $7, $8 }')" "^0 tc_a \(tail call\)" \
	"pprof -top: a tail-call frame is never a leaf (flat 0)"
# (below the header: time, duration, the command line in a comment)
is "$(pprof -traces "$TMP/t2.pb.gz" | sed -n '/^-----------+/,$p')" \
	"$(printf '%s\n' "$traces" | sed -n '/^-----------+/,$p')" "the same stacks from the same process"

# gdb_compare PID WHAT: cprof threads and gdb on the SIGSTOPped process
gdb_compare() {
	local pid=$1 what=$2 cmp
	kill -STOP "$pid"
	wait_until 10 all_stopped "$pid" || diag "$what did not stop"
	"$CPROF" threads --json -p "$pid" >"$TMP/c.json" 2>"$TMP/err"
	ok $? "$what: cprof threads exit 0"
	timeout 300 gdb -nx -batch -iex 'set debuginfod enabled off' -p "$pid" \
		-ex 'thread apply all bt' >"$TMP/gdb.txt" 2>&1
	cmp=$(python3 "$TOP/tests/gdbcmp.py" "$TMP/c.json" "$TMP/gdb.txt")
	like "$cmp" "identical ([1-9][0-9]*) of \1$" "$what: every thread's functions as gdb shows them ($(printf '%s' "$cmp" | tail -1))"
	[ "$(printf '%s\n' "$cmp" | wc -l)" = 1 ] || diag "$cmp"
	kill -CONT "$pid"
}

if ! command -v gdb >/dev/null; then
	skip "gdb is not installed: no comparison with gdb"
	skip "gdb is not installed"
	skip "gdb is not installed"
	skip "gdb is not installed"
	done_testing
fi
gdb_compare "$P" tailcall

# Debian's redis-server: background threads waiting on condition variables
if ! command -v redis-server >/dev/null; then
	skip "redis-server is not installed (apt-get install redis-server)"
	skip "redis-server is not installed"
	done_testing
fi
redis-server --port 0 --unixsocket "$TMP/redis.sock" --save '' --appendonly no \
	--dir "$TMP" --logfile "$TMP/redis.log" >/dev/null 2>&1 &
R=$!
_pids+=("$R")
all_blocked() {
	local f n=0
	for f in /proc/$R/task/*/syscall; do
		grep -q running "$f" 2>/dev/null && return 1
		n=$((n + 1))
	done
	[ "$n" -ge 4 ]
}
wait_until 20 grep -qs 'ready to accept' "$TMP/redis.log" || diag "redis-server: $(tail -3 "$TMP/redis.log")"
wait_until 10 all_blocked || diag "redis-server threads not all blocked"
gdb_compare "$R" redis-server

done_testing
