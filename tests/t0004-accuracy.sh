#!/bin/bash
# A target that burns 50%/30%/20% of its cpu in three functions: the profile
# shows each within 3 percentage points; with more busy threads than cores
# the cpu total still matches what the target used.  At every rate, on one
# busy thread and on five on this machine's cores, both sample types give
# each function its share, and the cpu weights agree with the counts.
. "$(dirname "$0")/lib.sh"

# Shares are checked to four standard deviations of the sampling noise (a
# binomial share of the n samples the profile holds), and never tighter
# than a floor: a loaded machine, where cprof gets fewer samples, is not a
# failure.  The cpu view has the weights' noise on top (a sample after a
# late tick carries more cpu): five deviations.  With more busy threads
# than cores, a thread waiting on the run queue is runnable at each tick
# and sampled where it waits, so its samples are not independent (-F 499,
# five threads under ASan: share_b 25.83 against 30 +- 4.11 on an idle
# machine; CI, -F 999: share_c outside 20 +- 3.6).  Only the samples of
# threads that run bring new information: the deviations there are taken
# of n * cores / threads samples.
share_tol() {	# share_tol PCT N [MIN]: 4 sigma of a binomial share, in points
	awk -v p="$1" -v n="$2" -v m="${3:-1.5}" 'BEGIN { p /= 100; s = n > 0 ? 400 * sqrt(p * (1 - p) / n) : 100; printf "%.2f", s < m ? m : s }'
}

start_target P "$T/burn" -t 1 -r 50:30:20 || exit 1
run_cprof record -p "$P" -F 499 -d 3s -o "$TMP/r.pb.gz"
is "$rc" 0 "record exits 0"
n=$(pprof_samples "$TMP/r.pb.gz")
within "$(cum_pct "$TMP/r.pb.gz" work_a)" 50 "$(share_tol 50 "$n" 3)" "work_a cum%"
within "$(cum_pct "$TMP/r.pb.gz" work_b)" 30 "$(share_tol 30 "$n" 3)" "work_b cum%"
within "$(cum_pct "$TMP/r.pb.gz" work_c)" 20 "$(share_tol 20 "$n" 3)" "work_c cum%"
kill "$P"

# 5 busy threads on this machine's cores
start_target Q "$T/burn" -t 5 -S 2 || exit 1
record_window "$Q" 4000000000 record -p "$Q" -o "$TMP/m.pb.gz"
is "$rc" 0 "record of 5 busy threads exits 0"
total=$(pprof_total "$TMP/m.pb.gz")
cpu_total_ok "$total" "cpu total, against the cpu used while traced, more busy threads than cores"
n=$(pprof -tags "$Q" "$TMP/m.pb.gz" | awk '/thread_id/ { on = 1; next } /thread_name/ { on = 0 } on && /%/ { n++ } END { print n + 0 }')
is "$n" 5 "samples from each of the 5 busy threads, none from the sleepers"
kill "$Q"

# Shares at 99-999 Hz.  The target's split is in the work it does and it
# makes no system call while working, so its schedstat runtime is brought
# up to date only at its scheduler tick: cpu read at cprof's ticks lagged,
# and weights in scheduler-tick steps went to the wrong samples.  Each
# sample now carries the cpu used from the previous stop to its own,
# exact (attach/target.c, take_runtime).
#
for run in "99 8 5" "250 4 5" "499 2 5" "999 2 5" "250 4 1" "999 2 1"; do
	set -- $run
	hz=$1 cpu_s=$2 nthreads=$3
	what="-F $hz, $nthreads busy thread(s)"
	start_target S "$T/shares" -t "$nthreads" || exit 1
	record_window "$S" "${cpu_s}000000000" record -p "$S" -F "$hz" -o "$TMP/s.pb.gz"
	is "$rc" 0 "$what: exit 0"
	kill "$S"
	cpu_total_ok "$(pprof_total "$TMP/s.pb.gz")" "$what: cpu total, against the cpu used while traced"
	n=$(pprof_samples "$TMP/s.pb.gz")
	if [ "${n:-0}" -lt 200 ]; then
		for i in 1 2 3 4 5 6 7 8 9; do
			skip "$what: $n samples, too few to judge shares (is the machine overloaded?)"
		done
		continue
	fi
	# the samples in effect: those of the threads that can run at once
	neff=$(awk -v n="$n" -v t="$nthreads" -v c="$(nproc)" 'BEGIN { printf "%d", t > c ? n * c / t : n }')
	for f in share_a:50 share_b:30 share_c:20; do
		fn=${f%:*} want=${f#*:}
		tol=$(share_tol "$want" "$neff")
		wtol=$(awk -v t="$tol" 'BEGIN { printf "%.2f", t * 1.25 }')
		cpu=$(cum_pct "$TMP/s.pb.gz" "$fn")
		cnt=$(pprof_top "$TMP/s.pb.gz" -sample_index=samples |
		      awk -v f="$fn" '$6 == f { sub("%", "", $5); print $5; exit }')
		within "$cnt" "$want" "$tol" "$what: $fn sample share, $n samples ($neff in effect)"
		within "$cpu" "$want" "$wtol" "$what: $fn cpu share"
		within "$cpu" "$cnt" "$wtol" "$what: $fn cpu share agrees with its sample share"
	done
done
done_testing
