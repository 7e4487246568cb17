#!/bin/bash
# Never harm the target: cprof killed or interrupted at random moments, a
# storm of signals, hostile stacks and binaries, endings mid-tick, threads
# in uninterruptible sleep, thread churn, and memcheck over each profile
# type.  `make test` runs a bounded version; `make torture`
# (CPROF_TORTURE=1) runs 50 trials of the random ones.
. "$(dirname "$0")/lib.sh"

TORTURE=${CPROF_TORTURE:-0}
KILLS=5 SIGNALS=3
[ "$TORTURE" = 1 ] && KILLS=50 SIGNALS=50
TYPES=(cpu wall block mutex threadcreate)

rand() { echo $((RANDOM % ($2 - $1 + 1) + $1)); }
working() {	# the target's cpu time still rises
	local before
	before=$(proc_cpu_ns "$1")
	wait_until $WAIT eval '[ $(proc_cpu_ns '"$1"') -gt '"$before"' ]'
}

# 1. cprof killed with SIGKILL at random moments, every profile type
start_target P "$T/waits" || exit 1
bad=0
for i in $(seq "$KILLS"); do
	type=${TYPES[$((RANDOM % ${#TYPES[@]}))]}
	hz=$(rand 50 999)
	"$CPROF" record -q -t "$type" -F "$hz" -p "$P" -o "$TMP/k.pb.gz" 2>/dev/null & cp=$!
	wait_until $WAIT traced "$P"
	wait_cpu "$P" $(($(rand 1 40) * 5000000))
	kill -KILL $cp; { wait $cp; } 2>/dev/null
	if ! wait_until $WAIT all_untraced "$P" || ! none_stopped "$P" || ! working "$P"; then
		bad=$((bad + 1)); diag "trial $i ($type at $hz Hz): target left traced, stopped or idle"
	fi
	rm -f "$TMP"/.cprof-out.*
done
is "$bad" 0 "cprof SIGKILLed at random moments ($KILLS trials): target untraced, no thread stopped, still working"

# 2. SIGINT, SIGTERM, SIGHUP at random moments: detach, a valid profile
bad=0
for i in $(seq "$SIGNALS"); do
	sig=$(printf 'INT\nTERM\nHUP\n' | shuf -n 1)
	type=${TYPES[$((RANDOM % ${#TYPES[@]}))]}
	"$CPROF" record -q -t "$type" -p "$P" -o "$TMP/s.pb.gz" 2>"$TMP/err" & cp=$!
	wait_until $WAIT traced "$P"
	wait_cpu "$P" $(($(rand 1 40) * 5000000))
	kill -"$sig" $cp; wait $cp; st=$?
	if [ "$st" != 0 ] || ! gzip -t "$TMP/s.pb.gz" 2>/dev/null ||
	   ! pprof -raw "$TMP/s.pb.gz" | grep -q '^Samples:' ||
	   ! wait_until $WAIT all_untraced "$P" || ! none_stopped "$P"; then
		bad=$((bad + 1)); diag "trial $i ($type, SIG$sig): exit $st" "$(cat "$TMP/err")"
	fi
done
is "$bad" 0 "SIGINT/TERM/HUP at random moments ($SIGNALS trials): exit 0, a profile go tool pprof reads, target untraced"
kill -TERM "$P"
is "$(read_line "$P_fd")" "anomalies 0" "after all that, no blocked call in the target returned early"

# 3. ~3000 signals a second (a SIGALRM timer, SIGUSR1 from another
# process, SIGCHLD from children it reaps) while sampled at 999 Hz
for type in cpu wall; do
	start_target P "$T/sigmix" || exit 1
	run_cprof record -t $type -F 999 -d 2s -p "$P" -o "$TMP/sig.pb.gz"
	is "$rc" 0 "signal storm, $type at 999 Hz: exit 0"
	kill -TERM "$P"
	read -r _ total _ expected _ got sent _ reaped forked <<<"$(read_line "$P_fd")"
	diag "alarms $total of $expected, SIGUSR1 $got of $sent, children $reaped of $forked"
	ok "$([ "$total" -ge $((expected - 2)) ] && [ "$total" -le $((expected + 1)) ]; echo $?)" \
		"signal storm, $type: every timer expiration delivered ($total of $expected, with overruns)"
	# how many are sent in 2 s depends on the cpu the machine gives the
	# sender, the target and cprof (each delivery is a round trip through
	# cprof): ~1000 of each idle, ~150 seen under load.  The promise is
	# received = sent; the floor only says the storm ran.
	ok "$([ "$sent" -ge 50 ] && [ "$got" = "$sent" ]; echo $?)" "signal storm, $type: SIGUSR1 received = sent ($got of $sent, 50 at least)"
	ok "$([ "$forked" -ge 50 ] && [ "$reaped" = "$forked" ]; echo $?)" "signal storm, $type: SIGCHLD: children reaped = forked ($reaped of $forked, 50 at least)"
done

# 4. hostile stacks: never a crash or a loop; frames end in a pseudo frame.
# Each recording lasts while the target uses 200 ms of cpu (~20 samples):
# a 500 ms one on a loaded machine once caught none at all.
start_target P "$T/hostile" deep 10000 || exit 1
run_cprof_cpu "$P" 200000000 record -p "$P" -o "$TMP/deep.pb.gz"
is "$rc" 0 "recursion 10000 deep: exit 0"
traces=$(pprof -traces "$TMP/deep.pb.gz" | tr -s ' \n' '  ')
like "$traces" "spin deep_here deep_here .* \[truncated\]" "recursion 10000 deep: 256 frames, then [truncated]"
# per trace: spin is sampled at one pc or several, one trace each
counts=$(trace_counts "$TMP/deep.pb.gz" deep_here | sort -u | tr '\n' ' ')
is "$counts" "255 " "... 255 of them deep_here, in every trace"
run_cprof_cpu "$P" 200000000 record --max-depth 65536 --stack-size 1048576 -p "$P" -o "$TMP/deep2.pb.gz"
is "$rc" 0 "recursion 10000 deep, the depth and copy at their maximum: exit 0"
n=$(trace_counts "$TMP/deep2.pb.gz" deep_here | sort -n | head -1)
ok "$([ "${n:-0}" -ge 5000 ]; echo $?)" "... every trace unwound ${n:-0} frames deep or more, to the end of the copy or the stack"
run_cprof threads -p "$P"; is "$rc" 0 "recursion 10000 deep: cprof threads exit 0"
kill "$P"
start_target P "$T/hostile" smash || exit 1
run_cprof_cpu "$P" 200000000 record -p "$P" -o "$TMP/smash.pb.gz"
is "$rc" 0 "smashed return address and frame pointer: exit 0"
like "$(pprof -traces "$TMP/smash.pb.gz" | tr -s ' \n' '  ')" "smash_here \[unknown\]" "smashed frame: the stack ends in [unknown]"
kill "$P"
start_target P "$T/hostile" context || exit 1
run_cprof_cpu "$P" 200000000 record -p "$P" -o "$TMP/ctx.pb.gz"
is "$rc" 0 "makecontext/swapcontext stack: exit 0"
like "$(pprof -traces "$TMP/ctx.pb.gz" | tr -s ' \n' '  ')" "spin coro_here " "makecontext/swapcontext stack: the coroutine's frames"
kill "$P"
start_target P "$T/hostile" altstack || exit 1
run_cprof_cpu "$P" 200000000 record -p "$P" -o "$TMP/alt.pb.gz"
is "$rc" 0 "a handler spinning on a sigaltstack: exit 0"
like "$(pprof -traces "$TMP/alt.pb.gz" | tr -s ' \n' '  ')" "spin alt_here .* __GI_raise main " "sigaltstack: through the signal frame, back to main"
kill "$P"

# 5. endings mid-tick: exit_group from a non-main thread, death by signal,
# a non-main thread that execs (the thread group changes leader), forks
start_target P "$T/hostile" exitthread || exit 1
"$CPROF" record -F 999 -p "$P" -o "$TMP/exit.pb.gz" 2>"$TMP/err" & cp=$!
wait_until $WAIT traced "$P"; wait_cpu "$P" 100000000
kill -USR1 "$P"; wait $cp
is "$?" 0 "exit_group from a non-main thread mid-recording: exit 0"
gzip -t "$TMP/exit.pb.gz"; ok $? "... and a profile written"
run_cprof record -F 999 -o "$TMP/segv.pb.gz" -- bash -c '"$0" segv & p=$!; read -r l <&- 2>/dev/null; sleep 0.3; kill -USR1 $p; wait $p' "$T/hostile"
is "$rc" 139 "a target dying of SIGSEGV: cprof exits 128+11, as the shell reports"
gzip -t "$TMP/segv.pb.gz"; ok $? "... and a profile written"
start_target P "$T/hostile" execthread || exit 1
"$CPROF" record -F 499 -p "$P" -o "$TMP/exec.pb.gz" 2>"$TMP/err" & cp=$!
wait_until $WAIT traced "$P"; wait_cpu "$P" 100000000
kill -USR1 "$P"
# the new program says ready (same pid, same stdout) once it spins in
# deep_here; the recording ends after it ran a while, not at a fixed time
# that a slow machine might reach before the exec
like "$(read_line "$P_fd")" "^ready $P$" "a non-main thread execs mid-recording: the new program runs"
wait_cpu "$P" 100000000
kill -INT $cp; wait $cp
is "$?" 0 "a non-main thread execs mid-recording: exit 0"
like "$(pprof_top "$TMP/exec.pb.gz")" "deep_here" "... the new program is sampled after the exec"
wait_until $WAIT all_untraced "$P"; ok $? "... and left untraced"
working "$P"; st=$?
[ $st = 0 ] || diag "after the exec: $(task_states "$P" | tr '\n' ' ')" "$(cat "$TMP/err")"
ok $st "... and running"
kill "$P"
start_target P "$T/hostile" forker || exit 1
run_cprof record -F 999 -d 1s -p "$P" -o "$TMP/fork.pb.gz"
is "$rc" 0 "a target forking every 2 ms: exit 0"
unlike "$err" "error|warning" "forks: no error (children are not followed)"
wait_until $WAIT all_untraced "$P"; ok $? "forks: untraced after"
kill "$P"

# 6. a thread in uninterruptible sleep never holds cprof up
start_target P "$T/states" -v || exit 1
for type in cpu wall block; do
	"$CPROF" record -q -t $type -p "$P" -o "$TMP/d.pb.gz" 2>"$TMP/err" & cp=$!
	wait_until $WAIT traced "$P"; wait_cpu "$P" 100000000
	kill -INT $cp
	# the D thread never wakes (its vfork child pauses): a cprof waiting
	# for it would never detach; 10 s leaves room for a loaded machine
	wait_until 10 all_untraced "$P"; ok $? "$type with a D-state thread: Ctrl-C detaches (within 10 s)"
	wait_until $WAIT eval "! kill -0 $cp 2>/dev/null"; ok $? "$type with a D-state thread: and cprof ends"
	wait $cp; is $? 0 "$type with a D-state thread: exit 0"
done
wait_until $WAIT all_untraced "$P"; ok $? "D state: untraced after"
kill -TERM "$P"; is "$(read_line "$P_fd")" "anomalies 0" "D state: no blocked call returned early"
pkill -P "$P" 2>/dev/null

# 7. thread churn: thousands of threads a second, each an event
start_target P "$T/waits" -f 0 || exit 1
for type in cpu wall threadcreate; do
	run_cprof record -t $type -F 999 -d 1s -p "$P" -o "$TMP/churn.pb.gz"
	is "$rc" 0 "churn, $type at 999 Hz: exit 0"
	unlike "$err" "error|warning" "churn, $type: no error for threads that ended"
done
wait_until $WAIT all_untraced "$P"; ok $? "churn: untraced after"
kill -TERM "$P"; is "$(read_line "$P_fd")" "anomalies 0" "churn: every pthread_create and join worked"

# 8. hostile binaries: damaged copies degrade symbols, never crash cprof
cp "$T/burn" "$TMP/damaged"
python3 - "$TMP/damaged" <<'PY'
import random, struct, sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
shoff, = struct.unpack_from("<Q", b, 0x28); shentsize, shnum, shstrndx = struct.unpack_from("<HHH", b, 0x3a)
sec = lambda i: struct.unpack_from("<IIQQQQIIQQ", b, shoff + i * shentsize)
stroff = sec(shstrndx)[4]
rnd = random.Random(7)
for i in range(shnum):
    name_off, typ, flags, addr, off, size = sec(i)[:6]
    name = b[stroff + name_off:b.index(0, stroff + name_off)].decode()
    if name in (".eh_frame", ".debug_info", ".debug_line", ".debug_abbrev", ".eh_frame_hdr") and size:
        for _ in range(max(1, size // 16)):
            b[off + rnd.randrange(size)] = rnd.randrange(256)
open(p, "wb").write(b)
PY
chmod +x "$TMP/damaged"
run_cprof record -o "$TMP/dmg.pb.gz" -- "$TMP/damaged" -t 2 -s 1
ok "$([ "$rc" = 0 ] || [ "$rc" -ge 128 ]; echo $?)" "corrupt .eh_frame, .eh_frame_hdr and .debug_*: cprof runs it to the end (status $rc)"
unlike "$err" "AddressSanitizer|runtime error" "corrupt sections: no memory error in cprof"
gzip -t "$TMP/dmg.pb.gz" 2>/dev/null; ok $? "corrupt sections: a profile is written"
# cut after the last loaded segment: no section headers, no symbols
end=0
while read -r type off _ _ filesz _; do
	[ "$type" = LOAD ] && [ $((off + filesz)) -gt "$end" ] && end=$((off + filesz))
done < <(readelf -lW "$T/burn")
head -c "$end" "$T/burn" >"$TMP/cut"; chmod +x "$TMP/cut"
start_target P "$TMP/cut" -t 1 || exit 1
run_cprof_cpu "$P" 200000000 record -p "$P" -o "$TMP/cut.pb.gz"
kill "$P"
is "$rc" 0 "a binary cut after its last segment (no section headers): exit 0"
above "$(pprof_samples "$TMP/cut.pb.gz")" 5 "cut binary: still sampled (while it used 200 ms of cpu): samples"

# 9. another tracer (strace) holds it: a clear error, strace undisturbed
if command -v strace >/dev/null; then
	start_target P "$T/waits" || exit 1
	strace -f -qq -o /dev/null -p "$P" 2>/dev/null & st=$!
	wait_until $WAIT traced "$P"
	for cmd in "record -d 1s" "record -t wall -d 1s"; do
		run_cprof $cmd -p "$P" -o "$TMP/x.pb.gz"
		is "$rc" 1 "traced by strace: cprof $cmd exits 1"
		like "$err" "ptrace\(PTRACE_SEIZE, $P\): Operation not permitted \(traced by strace, pid $st\)" "... and says who holds it"
	done
	# threads stops only running threads: either none was, or the error
	run_cprof threads -p "$P"
	ok "$([ "$rc" = 0 ] || { [ "$rc" = 1 ] && grep -q "traced by strace, pid $st" "$TMP/err"; }; echo $?)" \
		"traced by strace: cprof threads reads the blocked threads, or says who holds the running one"
	tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$P/status")
	is "$tracer" "$st" "strace still traces the target"
	kill -INT $st; wait $st 2>/dev/null
	wait_until $WAIT all_untraced "$P"; ok $? "strace detaches as usual after"
	kill -TERM "$P"
else
	skip "strace is not installed"
fi

# 10. memcheck: every profile type, and cprof threads, under valgrind
if [ -n "${CPROF_SAN:-}" ]; then
	skip "valgrind runs on the plain build (this is the ASan one)"
elif ! command -v valgrind >/dev/null; then
	skip "valgrind is not installed"
else
	start_target P "$T/waits" || exit 1
	start_target F "$T/waits" -f 0 || exit 1
	vg() { valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite "$@" >"$TMP/vg.out" 2>"$TMP/vg.err"; }
	for type in cpu wall block mutex threads; do
		vg "$CPROF" record -t $type -d 1s -p "$P" -o "$TMP/vg.pb.gz"
		is "$?" 0 "valgrind memcheck, record -t $type: no errors, no leaks"
	done
	vg "$CPROF" record -t threadcreate -d 1s -p "$F" -o "$TMP/vg.pb.gz"
	is "$?" 0 "valgrind memcheck, record -t threadcreate (thread churn): no errors, no leaks"
	vg "$CPROF" threads -p "$P"
	is "$?" 0 "valgrind memcheck, cprof threads: no errors, no leaks"
	[ -s "$TMP/vg.err" ] && diag "$(head -30 "$TMP/vg.err")"
	kill -TERM "$P" "$F"
fi

done_testing
