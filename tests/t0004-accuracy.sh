#!/bin/bash
# A target that burns 50%/30%/20% of its cpu in three functions: the profile
# shows each within 3 percentage points; with more busy threads than cores
# the cpu total still matches what the target used.
. "$(dirname "$0")/lib.sh"

start_target P "$T/burn" -t 1 -r 50:30:20 || exit 1
run_cprof record -p "$P" -F 499 -d 3s -o "$TMP/r.pb.gz"
is "$rc" 0 "record exits 0"
within "$(cum_pct "$TMP/r.pb.gz" work_a)" 50 3 "work_a cum%"
within "$(cum_pct "$TMP/r.pb.gz" work_b)" 30 3 "work_b cum%"
within "$(cum_pct "$TMP/r.pb.gz" work_c)" 20 3 "work_c cum%"
kill "$P"

# 5 busy threads on this machine's cores
start_target Q "$T/burn" -t 5 -S 2 || exit 1
run_cprof_window "$Q" record -p "$Q" -d 2s -o "$TMP/m.pb.gz"
is "$rc" 0 "record of 5 busy threads exits 0"
total=$(pprof_total "$TMP/m.pb.gz")
within "$(awk -v a="$total" -v b="$cpu_used" 'BEGIN { printf "%.3f", a / b }')" 1 0.10 \
	"cpu total / cpu used while traced, more busy threads than cores"
n=$(pprof -tags "$Q" "$TMP/m.pb.gz" | awk '/thread_id/ { on = 1; next } /thread_name/ { on = 0 } on && /%/ { n++ } END { print n + 0 }')
is "$n" 5 "samples from each of the 5 busy threads, none from the sleepers"
done_testing
