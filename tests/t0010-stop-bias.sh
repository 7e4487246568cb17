#!/bin/bash
# The stop bias: a thread that calls clock_gettime every ~27 us stops at a
# syscall return almost every time; cprof's correction must put the time
# where perf (a sampling oracle that interrupts at the instant) puts it.
. "$(dirname "$0")/lib.sh"

# flat% per function with inlines folded in, as perf reports it
noinline_flat() {	# FILE FUNCTION
	pprof -top -noinlines -nodecount=50 "$1" | awk -v f="$2" '/flat%/ { on = 1; next }
		on && $6 == f { sub("%", "", $2); print $2; exit }'
}

run_cprof record -o "$TMP/fix.pb.gz" -- "$T/burn" -t 1 -s 3
is "$rc" 0 "record exits 0"
like "$(pprof -raw "$TMP/fix.pb.gz")" "stops at a system call return: [0-9]+ of [0-9]+ samples \(user share moved" \
	"the profile says how many stops landed at a syscall return"
run_cprof record --raw-stops -o "$TMP/raw.pb.gz" -- "$T/burn" -t 1 -s 3
raw_vdso=$(noinline_flat "$TMP/raw.pb.gz" __vdso_clock_gettime)
fix_vdso=$(noinline_flat "$TMP/fix.pb.gz" __vdso_clock_gettime)
diag "clock_gettime flat%: --raw-stops ${raw_vdso:-0}, corrected ${fix_vdso:-0}"
ok "$(awk -v f="${fix_vdso:-0}" 'BEGIN { exit !(f < 10) }'; echo $?)" \
	"corrected: clock_gettime under 10% flat (${fix_vdso:-0}%)"

if ! perf record -q -o "$TMP/p.data" -- true >/dev/null 2>&1; then
	skip "perf record does not work on this machine: no oracle"
	done_testing
fi
perf record -q -g -F 999 -o "$TMP/p.data" -- "$T/burn" -t 1 -s 3 >/dev/null 2>&1
perf report -i "$TMP/p.data" --no-children --sort sym --stdio 2>/dev/null >"$TMP/perf.txt"
perf_flat() { awk -v f="$1" '$2 == "[.]" && $3 == f { sub("%", "", $1); print $1; exit }' "$TMP/perf.txt"; }
for f in work_a work_b cmp_slow; do
	within "$(noinline_flat "$TMP/fix.pb.gz" $f)" "$(perf_flat $f)" 5 "$f flat% matches perf within 5 points"
done
done_testing
