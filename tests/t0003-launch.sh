#!/bin/bash
# Launch mode: the command runs with its arguments, environment and stdio
# unchanged, and cprof exits with the command's own status.
. "$(dirname "$0")/lib.sh"

run_cprof record -o "$TMP/l.pb.gz" -- "$T/burn" -t 2 -s 1
is "$rc" 0 "exit status of a successful command"
like "$(cat "$TMP/out")" "^ready [0-9]+" "the command's stdout passes through"
like "$err" "wrote $TMP/l.pb.gz" "summary names the output"
top=$(pprof_top "$TMP/l.pb.gz")
like "$top" " work_a$" "the command's own functions are in the profile"

run_cprof record -q -o "$TMP/l.pb.gz" -- sh -c 'exit 7'
is "$rc" 7 "exit status 7 passes through"
run_cprof record -q -o "$TMP/l.pb.gz" -- sh -c 'kill -TERM $$'
is "$rc" 143 "death by SIGTERM: 128+15"
[ -s "$TMP/l.pb.gz" ]; ok $? "a profile is written even for a short command"
pprof -raw "$TMP/l.pb.gz" >/dev/null; ok $? "and go tool pprof reads it"

out=$(echo "from stdin" | "$CPROF" record -q -o "$TMP/l.pb.gz" -- cat)
is "$out" "from stdin" "stdin and stdout are the command's"
out=$(CPROF_TEST_VAR="an env value" "$CPROF" record -q -o "$TMP/l.pb.gz" -- sh -c 'echo "$CPROF_TEST_VAR"')
is "$out" "an env value" "the environment passes through"
out=$("$CPROF" record -q -o "$TMP/l.pb.gz" -- printf '%s|' "two words" "" "x")
is "$out" "two words||x|" "arguments pass through untouched"
out=$("$CPROF" record -q -o "$TMP/l.pb.gz" -- sh -c 'trap "" INT; grep SigBlk /proc/self/status')
like "$out" "SigBlk:[[:space:]]+0+$" "the command does not inherit cprof's blocked signals"

# default output name in the current directory
(cd "$TMP" && "$CPROF" record -q -- "$T/burn" -s 1 >/dev/null)
[ -s "$TMP/cprof-cpu-burn.pb.gz" ]; ok $? "default output cprof-cpu-COMMAND.pb.gz"

# -d shorter than the command: cprof stops sampling, waits, passes status
start=$SECONDS
run_cprof record -d 300ms -o "$TMP/d.pb.gz" -- sh -c 'sleep 1; exit 3'
is "$rc" 3 "-d ends the recording, the command finishes, its status passes"
[ -s "$TMP/d.pb.gz" ]; ok $? "profile written"
done_testing
