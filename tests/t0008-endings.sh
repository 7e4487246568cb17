#!/bin/bash
# However a recording ends (SIGINT, SIGTERM, SIGHUP to cprof; the target
# exiting or being killed), cprof detaches, writes what it collected, and
# exits 0; ended by an error, it still writes and exits 3.
. "$(dirname "$0")/lib.sh"

for sig in INT TERM HUP; do
	start_target P "$T/burn" -t 2 || exit 1
	"$CPROF" record -p "$P" -o "$TMP/$sig.pb.gz" 2>"$TMP/err" & cp=$!
	wait_until $WAIT traced "$P"
	wait_cpu "$P" 300000000
	kill -$sig $cp
	wait_until $WAIT eval "! kill -0 $cp 2>/dev/null"; ok $? "SIG$sig: cprof ends promptly"
	wait $cp; is $? 0 "SIG$sig: exit 0"
	above "$(pprof_samples "$TMP/$sig.pb.gz")" 10 "SIG$sig: what was collected is written: samples"
	wait_until $WAIT all_untraced "$P"; ok $? "SIG$sig: target untraced"
	ok "$(none_stopped "$P"; echo $?)" "SIG$sig: target running"
	kill -TERM "$P"; like "$(read_line "$P_fd")" "^rounds" "SIG$sig: target unharmed"
done

# the target ends itself (SIGTERM: it prints rounds and exits) once it
# used 300 ms of cpu while traced: ~30 samples, however busy the machine
start_target P "$T/burn" -t 2 || exit 1
"$CPROF" record -p "$P" -o "$TMP/exit.pb.gz" 2>"$TMP/err" & cp=$!
wait_until $WAIT traced "$P"
wait_cpu "$P" 300000000
kill -TERM "$P"
wait $cp; is $? 0 "target exits during the recording: exit 0"
above "$(pprof_samples "$TMP/exit.pb.gz")" 10 "target exit: profile written: samples"

start_target P "$T/burn" -t 2 || exit 1
"$CPROF" record -p "$P" -o "$TMP/kill.pb.gz" 2>"$TMP/err" & cp=$!
wait_until $WAIT traced "$P"
wait_cpu "$P" 300000000
kill -KILL "$P"; { wait "$P"; } 2>/dev/null
wait $cp; is $? 0 "target killed by SIGKILL: exit 0"
above "$(pprof_samples "$TMP/kill.pb.gz")" 5 "target SIGKILL: profile written: samples"

# cprof killed with SIGKILL: the kernel detaches; the target runs on
for i in 1 2 3; do
	start_target P "$T/burn" -t 2 || exit 1
	"$CPROF" record -q -F 999 -p "$P" -o "$TMP/k9.pb.gz" 2>/dev/null & cp=$!
	wait_until $WAIT traced "$P"
	wait_cpu "$P" $((i * 50000000))
	kill -KILL $cp; { wait $cp; } 2>/dev/null
	wait_until $WAIT all_untraced "$P"; ok $? "cprof SIGKILLed ($i): target untraced"
	ok "$(none_stopped "$P"; echo $?)" "cprof SIGKILLed ($i): no thread left stopped"
	before=$(proc_cpu_ns "$P")
	wait_until $WAIT eval '[ $(proc_cpu_ns '"$P"') -gt '"$before"' ]'; ok $? "cprof SIGKILLed ($i): target still working"
	ls "$TMP"/.cprof-out.* >/dev/null 2>&1 && rm -f "$TMP"/.cprof-out.*
	kill -TERM "$P"; read_line "$P_fd" >/dev/null
done

# An error mid-recording: what was collected is written, exit 3.  No real
# poll failure can be provoked from outside, so CPROF_TEST_FAIL_POLL=N
# (attach/sampler.c, for tests only) makes the poll after tick N fail.
start_target P "$T/burn" -t 2 || exit 1
CPROF_TEST_FAIL_POLL=10 run_cprof record -p "$P" -o "$TMP/cut.pb.gz"
is "$rc" 3 "error mid-recording: exit 3"
like "$err" "poll: Input/output error" "error mid-recording: says which call failed"
like "$err" "cut short" "error mid-recording: says the profile is partial"
[ "$(pprof_samples "$TMP/cut.pb.gz")" -gt 0 ]; ok $? "error mid-recording: what was collected is written"
wait_until 5 all_untraced "$P"; ok $? "error mid-recording: target untraced"
kill -TERM "$P"; like "$(read_line "$P_fd")" "^rounds" "error mid-recording: target unharmed"
# launch mode: the same, and the command still runs to its end
# (the command runs 3 s: the 10th tick comes long before its end)
CPROF_TEST_FAIL_POLL=10 run_cprof record -o "$TMP/cutl.pb.gz" -- "$T/burn" -t 2 -s 3
is "$rc" 3 "launch mode, error mid-recording: exit 3"
gzip -t "$TMP/cutl.pb.gz"; ok $? "launch mode, error mid-recording: profile written"

# the output file appears only when complete
start_target P "$T/burn" -t 1 || exit 1
"$CPROF" record -q -p "$P" -o "$TMP/atomic.pb.gz" 2>"$TMP/err" & cp=$!
wait_until $WAIT traced "$P"
[ ! -e "$TMP/atomic.pb.gz" ]; ok $? "no output file while recording"
kill -INT $cp; wait $cp
gzip -t "$TMP/atomic.pb.gz"; ok $? "a whole gzip file after"
done_testing
