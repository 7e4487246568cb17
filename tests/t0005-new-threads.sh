#!/bin/bash
# Threads born while cprof records are followed (PTRACE_O_TRACECLONE),
# sampled, and let go when they exit; nothing is reported as an error.
. "$(dirname "$0")/lib.sh"

# 8 s: the 1.5 s recording must start and end while it lives (the ASan
# cprof took 1 s to attach to it on a loaded machine)
start_target P "$T/spawner" 8 || exit 1
run_cprof record -p "$P" -d 1500ms -o "$TMP/s.pb.gz"
is "$rc" 0 "record exits 0"
unlike "$err" "warning|error" "no error for threads that came and went"
n=$(pprof -tags "$TMP/s.pb.gz" | awk '/thread_id/ { on = 1; next } /thread_name/ { on = 0 } on && /%/ { n++ } END { print n + 0 }')
ok $((n < 10)) "samples from many short-lived threads ($n)"
like "$(pprof_top "$TMP/s.pb.gz")" " spawned_work$" "their function is in the profile"
line=$(read_line "$P_fd")
like "$line" "^threads [0-9]+" "the target finished normally"

run_cprof record -o "$TMP/l.pb.gz" -- "$T/spawner" 1
is "$rc" 0 "launch mode: exit 0"
like "$(pprof_top "$TMP/l.pb.gz")" " spawned_work$" "launch mode: new threads sampled"
done_testing
