#!/bin/bash
# A stopped target stays stopped; SIGSTOP and SIGCONT sent by someone else
# during a recording act as without cprof.
. "$(dirname "$0")/lib.sh"

# stopped before attach: stays stopped after detach
start_target P "$T/burn" -t 2 || exit 1
kill -STOP "$P"
wait_until $WAIT all_stopped "$P"; ok $? "target stopped by SIGSTOP"
run_cprof record -p "$P" -d 500ms -o "$TMP/a.pb.gz"
is "$rc" 0 "record of a stopped process exits 0"
wait_until $WAIT all_untraced "$P"; ok $? "untraced after"
ok "$(all_stopped "$P"; echo $?)" "every thread still stopped (T) after cprof left"
kill -CONT "$P"
wait_until $WAIT none_stopped "$P"; ok $? "SIGCONT resumes it"
kill -TERM "$P"; like "$(read_line "$P_fd")" "^rounds" "and it works and exits normally"

# stopped during the recording: stays stopped
start_target Q "$T/burn" -t 2 || exit 1
"$CPROF" record -q -p "$Q" -d 1500ms -o "$TMP/b.pb.gz" 2>"$TMP/err" & cp=$!
wait_until $WAIT traced "$Q"; ok $? "cprof attached"
kill -STOP "$Q"
wait $cp; is $? 0 "record exits 0"
wait_until $WAIT all_untraced "$Q"; ok $? "untraced after"
ok "$(all_stopped "$Q"; echo $?)" "SIGSTOP during the recording: still stopped after"
kill -CONT "$Q"
wait_until $WAIT none_stopped "$Q"; ok $? "SIGCONT resumes it"

# stopped before, continued during: runs on, and was sampled once running
start_target R "$T/burn" -t 1 || exit 1
kill -STOP "$R"; wait_until $WAIT all_stopped "$R"
"$CPROF" record -q -p "$R" -d 1500ms -o "$TMP/c.pb.gz" 2>"$TMP/err" & cp=$!
wait_until $WAIT traced "$R"; ok $? "cprof attached to the stopped target"
kill -CONT "$R"
wait_until $WAIT none_stopped "$R"; ok $? "SIGCONT during the recording resumes it"
wait $cp; is $? 0 "record exits 0"
ok "$(none_stopped "$R"; echo $?)" "running after cprof left"
above "$(pprof_samples "$TMP/c.pb.gz")" 0 "sampled once it ran: samples"
done_testing
