#!/bin/bash
# The kernel's cpu sampler (--sampler kernel; cprof's default where
# perf_event_open allows it): a cpu-clock perf event on each thread copies
# registers and stack at the tick, so no thread is stopped for a sample;
# each sample weighs the cpu its thread used since its previous one.
# Where perf_event_open is refused (a seccomp filter, as containers have),
# auto falls back to ptrace stops and says why; asked for, it is an error.
# Unprivileged, only user space is sampled and the kernel's share is said.
. "$(dirname "$0")/lib.sh"

probe=$("$CPROF" record --sampler kernel -q -o "$TMP/probe.pb.gz" -- true 2>&1)
if [[ $probe == *"perf_event_open(cpu-clock)"* ]]; then
	skip_all "the kernel refuses cpu-clock events here: $probe"
fi

# attached to a running program of 2 busy threads, new threads followed
start_target P "$T/burn" -t 2 -S 1 || exit 1
record_window "$P" 1500000000 record --sampler kernel -p "$P" -o "$TMP/att.pb.gz"
is "$rc" 0 "attached: record exits 0"
like "$err" "^cprof: [0-9]+ samples, 4 threads, [0-9.]+s, kernel sampler, 0 stops, [0-9]+ in system calls, 0 records lost, wrote " \
	"the summary says the kernel sampled, no thread stopped, no record lost"
raw=$(pprof -raw "$TMP/att.pb.gz")
like "$raw" "Comment: cpu sampler: kernel" "the profile says which sampler ran"
like "$raw" "Comment: samples taken in a system call: [0-9]+ of [0-9]+" "... and how many samples fell in a system call"
unlike "$raw" "pause per sample" "no pauses: no stop"
top=$(pprof_top "$TMP/att.pb.gz")
for f in work_a work_b work_c mix_inline cmp_slow burner start_thread; do
	like "$top" " $f( \(inline\))?$" "stack frame $f, unwound from the kernel's copy"
done
unlike "$top" "\[unknown\]|\[truncated\]" "no broken stacks"
# the weights are the events' counts: the cpu the threads used
cpu_total_ok "$(pprof_total "$TMP/att.pb.gz")" "cpu total: what the target used while recorded"
wait_until $WAIT all_untraced "$P"; ok $? "every thread untraced after the recording"
ok "$(none_stopped "$P"; echo $?)" "no thread left stopped"

# a launched command whose threads come and go: each born thread gets its
# events in its first stop, before it runs
run_cprof record --sampler kernel -o "$TMP/sp.pb.gz" -- "$T/spawner" 1
is "$rc" 0 "launched: record exits 0"
like "$(pprof_top "$TMP/sp.pb.gz")" " spawned_work$" "short-lived threads born during the recording are sampled"
unlike "$err" "warning|error" "no error for threads that came and went"

# cprof SIGKILLed while the kernel samples: its events die with its fds;
# the target runs on untraced, never stopped
"$CPROF" record --sampler kernel -p "$P" -o "$TMP/k.pb.gz" 2>/dev/null & cp=$!
wait_until $WAIT all_traced "$P"; ok $? "cprof attached"
wait_cpu "$P" 200000000
kill -KILL $cp; { wait $cp; } 2>/dev/null
wait_until $WAIT all_untraced "$P"; ok $? "cprof SIGKILLed: target untraced"
ok "$(none_stopped "$P"; echo $?)" "cprof SIGKILLed: no thread left stopped"
before=$(proc_cpu_ns "$P")
wait_until $WAIT eval '[ $(proc_cpu_ns '"$P"') -gt '"$before"' ]'; ok $? "cprof SIGKILLed: target still working"

# refused (a seccomp filter, as a container's): auto falls back to ptrace
# stops and says why; --sampler kernel is an error, and the command it
# launched is not left running
run_cprof_nop() { env -u CPROF_SAMPLER "$T/noperf" "$CPROF" "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?; err=$(cat "$TMP/err"); }
run_cprof_nop record --no-follow -d 1s -o "$TMP/fb.pb.gz" -- "$T/burn" -t 1 -s 2
is "$rc" 0 "refused: auto records anyway"
like "$err" "ptrace sampler, pause p50 [0-9]+us" "refused: the summary says ptrace stops sampled"
like "$(pprof -raw "$TMP/fb.pb.gz")" "Comment: cpu sampler: ptrace stops \(perf_event_open\(cpu-clock\): not permitted" \
	"refused: the profile says why ptrace stops sampled"
like "$(pprof_top "$TMP/fb.pb.gz")" " work_a$" "refused: the profile has the stacks"
run_cprof_nop record --sampler kernel -o "$TMP/no.pb.gz" -- "$T/burn" -t 1 -s 2
is "$rc" 1 "refused, --sampler kernel: exit 1"
like "$err" "cprof: cpu: --sampler kernel: perf_event_open\(cpu-clock\): not permitted" \
	"refused, --sampler kernel: the call and the cause"
like "$err" "the command \(pid [0-9]+\) was killed" "refused, --sampler kernel: the command it started is not left running"
ok "$([ ! -e "$TMP/no.pb.gz" ]; echo $?)" "refused, --sampler kernel: no profile written"

run_cprof record -t wall --sampler kernel -- true
is "$rc" 2 "--sampler is for cpu: usage error"

# unprivileged (perf_event_paranoid 2): user space only; the ticks in the
# kernel are "[not sampled]", and the total is still the cpu used
if ! id nobody >/dev/null 2>&1 || ! command -v setpriv >/dev/null; then
	skip "no user nobody or no setpriv: the unprivileged case is not run"
elif [ "$(id -u)" != 0 ]; then
	skip "not root: cannot become another user for the unprivileged case"
elif ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$CPROF" -a -x "$T/burn"; then
	skip "user nobody cannot run the build tree's programs (its directories' modes)"
else
	# (the test's own directory is private: mktemp -d)
	out=$(mktemp -d /tmp/cprof-nobody.XXXXXX) && chmod 777 "$out"
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$CPROF" record --sampler kernel -d 1500ms -o "$out/u.pb.gz" -- "$T/burn" -t 1 -s 3 \
		>"$TMP/out" 2>"$TMP/err"
	rc=$?; err=$(cat "$TMP/err")
	is "$rc" 0 "unprivileged: record exits 0"
	if [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -ge 2 ]; then
		like "$err" "kernel sampler \(user space only: [0-9]+ ms not sampled\)" \
			"unprivileged: the summary says only user space was sampled"
		like "$(pprof -raw "$out/u.pb.gz")" "Comment: only user space may be sampled here" \
			"unprivileged: the profile says what the cpu view holds"
	fi
	like "$(pprof_top "$out/u.pb.gz")" " work_a$" "unprivileged: the profile has the stacks"
	rm -rf "$out"
fi
done_testing
