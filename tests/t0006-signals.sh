#!/bin/bash
# Signals sent to the target while it is profiled at a high rate reach its
# handlers exactly as without cprof: every one of 20000 queued real-time
# signals is handled once.
. "$(dirname "$0")/lib.sh"
N=20000

start_target P "$T/sigcount" || exit 1
"$CPROF" record -q -F 999 -p "$P" -o "$TMP/s.pb.gz" 2>"$TMP/err" & cp=$!
wait_until $WAIT traced "$P"; ok $? "cprof attached"
"$T/sigsend" "$P" $N; is $? 0 "$N SIGRTMIN queued while sampling at 999 Hz"
for i in $(seq 200); do kill -USR1 "$P"; done
kill -INT $cp; wait $cp; is $? 0 "cprof ends cleanly on SIGINT"
# the queue may still hold signals sigsend left (each delivery under
# ptrace is a round trip); USR2 is delivered before them, so let it empty
queued() { awk '/^SigQ:/ { split($2, q, "/"); exit !(q[1] > 0) }' "/proc/$P/status"; }
wait_until $WAIT eval '! queued'
kill -USR2 "$P"
line=$(read_line "$P_fd")
like "$line" "^rt $N usr1 [1-9][0-9]*$" "handler counts: every SIGRTMIN handled, SIGUSR1 delivered"
above "$(pprof_samples "$TMP/s.pb.gz")" 0 "samples were taken meanwhile: samples"
done_testing
