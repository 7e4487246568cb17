#!/bin/bash
# A process that execs while recorded: samples after the exec are
# symbolized against the new program (a new epoch of mappings), and the
# new program is left untraced.
. "$(dirname "$0")/lib.sh"

# launch mode through a shell that execs the real program
run_cprof record -o "$TMP/l.pb.gz" -- sh -c "exec \"$T/burn\" -t 1 -s 1"
is "$rc" 0 "launch through exec: exit 0"
top=$(pprof_top "$TMP/l.pb.gz")
like "$top" " work_a$" "launch through exec: the new program's functions"
unlike "$top" "\[unknown\]" "launch through exec: no broken stacks"

# attach mode: the traced process execs in the middle of the recording
fifo=$TMP/go; mkfifo "$fifo"
bash -c 'read x < "$1"; exec "$2" -t 1' _ "$fifo" "$T/burn" >"$TMP/exec.out" & P=$!; _pids+=($P)
"$CPROF" record -p "$P" -o "$TMP/e.pb.gz" 2>"$TMP/err" & cp=$!
wait_until $WAIT traced "$P"; ok $? "attached to the shell"
echo go >"$fifo"
wait_until $WAIT grep -q '^ready' "$TMP/exec.out"; ok $? "it exec'd the program"
# recorded until the new program used 200 ms of cpu (a -d 2s recording
# could end before it ran much, on a loaded machine)
wait_cpu "$P" 200000000
kill -INT $cp; wait $cp; is $? 0 "record exits 0"
like "$(pprof_top "$TMP/e.pb.gz")" " work_a$" "samples after the exec are symbolized against the new program"
wait_until $WAIT all_untraced "$P"; ok $? "the new program is untraced after"
ok "$(none_stopped "$P"; echo $?)" "and running"
done_testing
