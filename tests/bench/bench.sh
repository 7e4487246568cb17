#!/bin/bash
# make bench: what cprof costs the target and how right it is, beside
# `perf record -g` and a bare ptrace interrupt/copy/cont loop, on the same
# fixed work, in one run.  Trials are interleaved and medians reported:
# the machine is noisy, never trust one time.  Not a test: it asserts nothing.
set -u
cd "$(dirname "$0")/../.."
B=build
TRIALS=${TRIALS:-5}
ROUNDS=${ROUNDS:-1500}
tmp=$(mktemp -d /tmp/cprof-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
have_perf=1
perf record -q -o "$tmp/p.data" -- true >/dev/null 2>&1 || have_perf=0

# ONLY=slowdown|pool|accuracy|shares|sampler|threads|report|job|build|heap|serve|uprobe-kill|hwbp runs one section
# BENCH_REDIS=0 leaves out the redis-server runs of the heap and sampler sections
want() { [ -z "${ONLY:-}" ] || [ "$ONLY" = "$1" ]; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }
elapsed() { awk '/^elapsed_ms/ { print $2 }' "$1"; }
# times_ns FILE: the cpu ns in bash's `times` lines at FILE's start
times_ns() { head -2 "$1" | awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } } END { printf "%.0f", t * 1e9 }'; }
# cpu_share_cprof PROFILE USED_NS: "% of USED in the profile, % on real
# stacks (without [not sampled])"; cpu_share_perf DATA USED_NS: the same
# for perf (periods summed; all of it on stacks)
cpu_share_cprof() {
	go tool pprof -raw -symbolize=none "$1" 2>/dev/null | awk -v u="$2" '
		/^Samples:/ { on = 1; next } /^Locations/ { on = 0; loc = 1 }
		on && /^ *[0-9]+ +[0-9]+:/ { sub(":", "", $2); s += $2; v[$3] += $2 }
		loc && /\[not sampled\]/ { ns = $1; sub(":", "", ns) }
		END { printf "%.1f %.1f\n", 100 * s / u, 100 * (s - v[ns]) / u }'
}
# summary: "mean [min-max]" of a column of numbers
summary() { awk '{ s += $1; if (NR == 1 || $1 < lo) lo = $1; if (NR == 1 || $1 > hi) hi = $1 }
	END { if (NR) printf "%5.1f [%4.1f-%4.1f]", s / NR, lo, hi; else printf "%16s", "-" }'; }
# interleave N FUNC MODE...: N rounds of FUNC MODE for each mode in turn
interleave() {
	local n=$1 f=$2 i m
	shift 2
	for i in $(seq "$n"); do
		for m in "$@"; do "$f" "$m"; done
	done
}
cpu_share_perf() {
	perf script -i "$1" -F period 2>/dev/null | awk -v u="$2" '
		$1 ~ /^[0-9]+$/ { s += $1 } END { printf "%.1f %.1f\n", 100 * s / u, 100 * s / u }'
}

# run MODE: one trial of the fixed work under MODE; appends to $tmp/MODE.*
run() {
	local mode=$1 out=$tmp/out err=$tmp/err hz=${1##*-}
	case $mode in
	bare) $B/bench/spin -n "$ROUNDS" >"$out" 2>"$err" ;;
	cprof-*) $B/cprof record -F "$hz" -o "$tmp/c.pb.gz" -- $B/bench/spin -n "$ROUNDS" >"$out" 2>"$err"
		sed -n 's/.*pause p50 \([0-9]*\)us.*/\1/p' "$err" >>"$tmp/$mode.pause" ;;
	perf-*) perf record -q -g -F "$hz" -o "$tmp/p.data" -- $B/bench/spin -n "$ROUNDS" >"$out" 2>"$err" ;;
	loop-*) $B/bench/bareloop "$hz" -- $B/bench/spin -n "$ROUNDS" >"$out" 2>"$err"
		sed -n 's/.*pause p50 \([0-9]*\) us.*/\1/p' "$err" >>"$tmp/$mode.pause" ;;
	esac
	elapsed "$out" >>"$tmp/$mode.ms"
}

if want slowdown; then
modes="bare loop-99 cprof-99 loop-999 cprof-999"
[ $have_perf = 1 ] && modes="$modes perf-99 perf-999"
echo "== target slowdown: one busy thread, fixed work, $TRIALS interleaved trials (medians)"
for i in $(seq "$TRIALS"); do
	for m in $modes; do run "$m"; done
done
base=$(median <"$tmp/bare.ms")
printf '%-12s %12s %10s %16s\n' mode elapsed_ms slowdown pause_p50_us
for m in $modes; do
	ms=$(median <"$tmp/$m.ms")
	pause=-
	[ -s "$tmp/$m.pause" ] && pause=$(median <"$tmp/$m.pause")
	printf '%-12s %12s %9s%% %16s\n' "$m" "$ms" \
		"$(awk -v a="$ms" -v b="$base" 'BEGIN { printf "%.1f", (a / b - 1) * 100 }')" "$pause"
done
fi
[ $have_perf = 1 ] || echo "(perf record does not work here: no perf rows)"

if want pool; then
# wall at 99 Hz on a thread-pool shape: one busy thread and 100 threads
# waiting on a condition variable (one woken every 10 ms): the slowdown of
# the busy work, and how often blocked threads were stopped.
echo
echo "== wall and block on 1 busy + 100 idle threads, $TRIALS interleaved trials (medians)"
run_pool() {
	local mode=$1 out=$tmp/out err=$tmp/err
	case $mode in
	bare) $B/bench/spin -i 100 -n "$ROUNDS" >"$out" 2>"$err" ;;
	*) $B/cprof record -t "$mode" -F 99 -o "$tmp/pool.pb.gz" -- $B/bench/spin -i 100 -n "$ROUNDS" >"$out" 2>"$err"
	   go tool pprof -raw "$tmp/pool.pb.gz" 2>/dev/null |
		sed -n 's/.*blocked stacks: \([0-9]*\) copied.*, \([0-9]*\) by stopping.*/\1 \2/p' >>"$tmp/pool-$mode.blk" ;;
	esac
	elapsed "$out" >>"$tmp/pool-$mode.ms"
}
for i in $(seq "$TRIALS"); do
	for m in bare cpu wall block; do run_pool "$m"; done
done
base=$(median <"$tmp/pool-bare.ms")
printf '%-8s %12s %10s %14s %14s\n' mode elapsed_ms slowdown stacks_copied blocked_stops
for m in bare cpu wall block; do
	ms=$(median <"$tmp/pool-$m.ms")
	cp=-; st=-
	if [ -s "$tmp/pool-$m.blk" ]; then
		cp=$(awk '{ print $1 }' "$tmp/pool-$m.blk" | median)
		st=$(awk '{ print $2 }' "$tmp/pool-$m.blk" | median)
	fi
	printf '%-8s %12s %9s%% %14s %14s\n' "$m" "$ms" \
		"$(awk -v a="$ms" -v b="$base" 'BEGIN { printf "%.1f", (a / b - 1) * 100 }')" "$cp" "$st"
done
fi

if want accuracy; then
# Accuracy on syscall-heavy work: flat % per function (inlines folded into
# their function, as perf reports), cprof with and without the stop-bias
# correction, against perf.
echo
echo "== flat % on a syscall-heavy thread (burn: clock_gettime every ~27 us), 3 s"
top_cprof() { go tool pprof -top -noinlines -nodecount=8 "$1" 2>/dev/null |
	awk '/flat%/ { on = 1; next } on { n = $6; for (i = 7; i <= NF; i++) n = n " " $i; printf "%s %s\n", n, $2 }'; }
$B/cprof record -q -o "$tmp/fix.pb.gz" -- $B/targets/burn -t 1 -s 3 >/dev/null
$B/cprof record -q --raw-stops -o "$tmp/raw.pb.gz" -- $B/targets/burn -t 1 -s 3 >/dev/null
{
	echo "cprof (default):"; top_cprof "$tmp/fix.pb.gz" | sed 's/^/  /'
	echo "cprof --raw-stops:"; top_cprof "$tmp/raw.pb.gz" | sed 's/^/  /'
	if [ $have_perf = 1 ]; then
		perf record -q -g -F 999 -o "$tmp/p.data" -- $B/targets/burn -t 1 -s 3 >/dev/null 2>&1
		echo "perf record -g (kernel symbols folded into [kernel]):"
		perf report -i "$tmp/p.data" --no-children --sort sym --stdio 2>/dev/null |
			awk '/^ +[0-9.]+%/ { p = $1; sub("%", "", p); n = $3; for (i = 4; i <= NF; i++) n = n " " $i
				if ($2 == "[k]") k += p; else if (p >= 0.5) printf "  %s %s%%\n", n, p } END { printf "  [kernel] %.2f%%\n", k }'
	fi
}
fi

# Function shares at each rate against a known split (tests/targets/shares:
# 50/30/20 of its work, no system call while working), attached for 4 s,
# in both of cprof's sample types, beside perf record at the same rate
# (launched: it follows the same work).  Mean and range over the trials.
if want shares; then
echo
echo "== cpu shares of share_a/share_b/share_c (truth 50/30/20), 4 s, $TRIALS trials: mean [min-max]"
share_of() {	# share_of FILE INDEX FUNC: cum% in go tool pprof -top
	go tool pprof -symbolize=none -sample_index="$2" -top -nodecount=100 "$1" 2>/dev/null |
		awk -v f="$3" '$6 == f { sub("%", "", $5); print $5; exit }'
}
perf_share() {	# perf_share DATA FUNC: self % (the shares do their work themselves)
	perf report -i "$1" --no-children --sort sym --stdio 2>/dev/null |
		awk -v f="$2" '$3 == f { sub("%", "", $1); print $1; exit }'
}
printf '%4s %7s  %-8s %-22s %-22s %-22s\n' Hz threads view share_a share_b share_c
for nt in 1 5; do
for hz in 99 250 499 999; do
	rm -f "$tmp"/sh.*
	for i in $(seq "$TRIALS"); do
		exec {fd}< <($B/targets/shares -t "$nt")
		read -r -t 10 -u $fd line; pid=${line#ready }
		$B/cprof record -q -F "$hz" -d 4s -p "$pid" -o "$tmp/s.pb.gz"
		kill "$pid"; exec {fd}<&-
		for f in share_a share_b share_c; do
			share_of "$tmp/s.pb.gz" cpu $f >>"$tmp/sh.cpu.$f"
			share_of "$tmp/s.pb.gz" samples $f >>"$tmp/sh.samples.$f"
		done
		if [ $have_perf = 1 ]; then
			perf record -q -F "$hz" -o "$tmp/p.data" -- timeout 4 $B/targets/shares -t "$nt" >/dev/null 2>&1
			for f in share_a share_b share_c; do perf_share "$tmp/p.data" $f >>"$tmp/sh.perf.$f"; done
		fi
	done
	for v in cpu samples perf; do
		[ -s "$tmp/sh.$v.share_a" ] || continue
		printf '%4s %7s  %-8s' "$hz" "$nt" "$v"
		for f in share_a share_b share_c; do printf ' %-22s' "$(summary <"$tmp/sh.$v.$f")"; done
		echo
	done
done
done
fi

# Issue 24's goals for the cpu samplers: --sampler kernel (a cpu-clock perf
# event per thread copies registers and stack at the tick) and --sampler
# ptrace (each tick stops the threads), each beside perf record.
#   1. a syscall-heavy target (shares -k 25: clock_gettime after every 25
#      steps) at 99 Hz, 4 s attached: cpu outside share_a/b/c (truth: the
#      clock calls and the loop, well under 1%);
#   2. redis-server under redis-benchmark, cprof and perf -e cpu-clock
#      recording at once at 499 Hz for 4 s: half the sum of the absolute
#      differences of flat shares by function, perf's sample given to its
#      first user-space frame (the code that made the system call, as cprof
#      attributes a sample taken in the kernel);
#   3. redis-benchmark requests/s at 999 Hz against the bare run, beside
#      perf record --call-graph dwarf,32768 (cprof's default stack copy).
# BENCH_REDIS=0 leaves out 2 and 3.
if want sampler; then
[ $have_perf = 1 ] || echo "(perf record does not work here: no perf columns)"
echo
echo "== issue 24: cpu outside share_a/b/c on a syscall-heavy thread (shares -t 1 -k 25),"
echo "   99 Hz, 4 s attached, $TRIALS trials: mean [min-max]"
outside_cprof() {	# outside_cprof PROFILE: 100 - flat% of share_a/b/c
	go tool pprof -top -noinlines -symbolize=none -sample_index=cpu -nodecount=100000 \
		-nodefraction=0 "$1" 2>/dev/null |
		awk '/flat%/ { on = 1; next } on && $6 ~ /^share_[abc]$/ { sub("%", "", $2); s += $2 }
			END { if (on) printf "%.2f\n", 100 - s }'
}
outside_perf() {	# outside_perf DATA: 100 - self% of share_a/b/c
	perf report -i "$1" --no-children --sort sym --stdio 2>/dev/null |
		awk '/^ +[0-9.]+%/ && $3 ~ /^share_[abc]$/ { sub("%", "", $1); s += $1 }
			END { printf "%.2f\n", 100 - s }'
}
smodes="kernel ptrace"
[ $have_perf = 1 ] && smodes="$smodes perf"
rm -f "$tmp"/k.*
for i in $(seq "$TRIALS"); do
	exec {fd}< <($B/targets/shares -t 1 -k 25 2>"$tmp/k.target")
	read -r -t 10 -u $fd line; pid=${line#ready }
	for m in $smodes; do
		case $m in
		perf) perf record -q -g -F 99 -p "$pid" -o "$tmp/p.data" -- sleep 4 >/dev/null 2>&1
			outside_perf "$tmp/p.data" >>"$tmp/k.perf" ;;
		*) $B/cprof record --sampler $m -F 99 -d 4s -p "$pid" -o "$tmp/k.pb.gz" 2>"$tmp/k.$m.err"
			outside_cprof "$tmp/k.pb.gz" >>"$tmp/k.$m"
			sed -n 's/^cprof: \([0-9]*\) samples.*/\1/p' "$tmp/k.$m.err" >>"$tmp/k.$m.n" ;;
		esac
	done
	kill "$pid"; exec {fd}<&-
	sleep 0.2	# its last line, written on SIGTERM
	sed -n 's/.*: \([0-9]*\)\/s$/\1/p' "$tmp/k.target" >>"$tmp/k.calls"
done
printf '%-8s %-20s %9s\n' sampler outside_%  samples
for m in $smodes; do
	n=-
	[ -s "$tmp/k.$m.n" ] && n=$(median <"$tmp/k.$m.n")
	printf '%-8s %-20s %9s\n' "$m" "$(summary <"$tmp/k.$m")" "$n"
done
echo "clock_gettime calls/s in the target (median of its trials): $(median <"$tmp/k.calls")"
echo "cprof's summaries, last trial:"
for m in kernel ptrace; do sed -n 's/^cprof: /  /p' "$tmp/k.$m.err"; done

if [ "${BENCH_REDIS:-1}" = 1 ] && command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
port=$((20000 + RANDOM % 20000))
redis-server --port $port --save "" --appendonly no --daemonize no >/dev/null 2>&1 & rp=$!
for k in $(seq 100); do redis-cli -p $port ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
# Function names folded so both tools name one function alike: libc's
# aliases (cprof's __GI___libc_write, perf's write or __libc_write) lose
# __GI_, leading underscores and libc_; perf's [unknown] in a file is
# "[file]", as cprof names code it cannot symbolize.
fold='function fold(n) { sub(/^__GI_/, "", n); sub(/^_+/, "", n); sub(/^libc_/, "", n); return n }'
flat_cprof() {	# flat_cprof PROFILE: "function<TAB>flat%" lines
	go tool pprof -top -noinlines -symbolize=none -sample_index=cpu -nodecount=100000 \
		-nodefraction=0 -edgefraction=0 "$1" 2>/dev/null |
		awk "$fold"'
		/flat%/ { on = 1; next }
		on && NF >= 6 { p = $2; sub("%", "", p); n = $6; for (i = 7; i <= NF; i++) n = n " " $i
			v[fold(n)] += p }
		END { for (n in v) printf "%s\t%.4f\n", n, v[n] }'
}
flat_perf() {	# flat_perf DATA: the same, each sample (by its period) to its first user frame
	perf script -i "$1" -F period,ip,sym,dso 2>/dev/null |
		awk "$fold"'
		function done() { if (w) v[got ? who : "[kernel]"] += w; t += w; w = 0 }
		/^ *[0-9]+ *$/ { done(); w = $1; got = 0; next }
		/^\t/ && w && !got {
			l = $0; sub(/^[ \t]+[0-9a-f]+ /, "", l)
			if (!match(l, / \([^()]*\)$/)) next
			dso = substr(l, RSTART + 2, RLENGTH - 3); sym = substr(l, 1, RSTART - 1)
			if (dso == "[kernel.kallsyms]") next
			if (sym == "[unknown]") { sub(/.*\//, "", dso); sym = "[" dso "]" }
			who = fold(sym); got = 1 }
		END { done(); for (n in v) printf "%s\t%.4f\n", n, 100 * v[n] / t }'
}
distance() {	# distance A B: half the sum of |a - b| over all functions, points
	awk -F '\t' 'FNR == NR { a[$1] = $2; u[$1]; next } { b[$1] = $2; u[$1] }
		END { for (n in u) d += (a[n] > b[n] ? a[n] - b[n] : b[n] - a[n]); printf "%.1f\n", d / 2 }' "$1" "$2"
}
top5() { sort -t "$(printf '\t')" -k2 -gr "$1" | head -5 | awk -F '\t' '{ printf "%6.1f%%  %s\n", $2, $1 }'; }
if [ $have_perf = 1 ]; then
echo
echo "== issue 24: redis-server under redis-benchmark -t set,get -c 50, cprof and perf -e cpu-clock"
echo "   recording at once, 499 Hz, 4 s; half the sum of |flat share differences| by function,"
echo "   $TRIALS trials (median [min-max])"
rm -f "$tmp"/rd.*
for i in $(seq "$TRIALS"); do
	for m in kernel ptrace; do
		redis-benchmark -p $port -t set,get -n 2000000 -c 50 -q >/dev/null 2>&1 & bp=$!
		sleep 1
		perf record -q -e cpu-clock -g -F 499 -p $rp -o "$tmp/rd.data" -- sleep 4 >/dev/null 2>&1 & pp=$!
		$B/cprof record --sampler $m -F 499 -d 4s -p $rp -o "$tmp/rd.pb.gz" 2>"$tmp/rd.$m.err"
		wait $pp
		kill $bp; wait $bp 2>/dev/null
		flat_cprof "$tmp/rd.pb.gz" >"$tmp/rd.$m.flat"
		flat_perf "$tmp/rd.data" >"$tmp/rd.$m.perf"
		distance "$tmp/rd.$m.flat" "$tmp/rd.$m.perf" >>"$tmp/rd.$m.d"
		sed -n 's/^cprof: //p' "$tmp/rd.$m.err" >>"$tmp/rd.$m.sum"
	done
done
for m in kernel ptrace; do
	printf '%-8s %6s points  [%s]  (trials: %s)\n' "$m" "$(median <"$tmp/rd.$m.d")" \
		"$(sort -n "$tmp/rd.$m.d" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }')" \
		"$(tr '\n' ' ' <"$tmp/rd.$m.d")"
done
for m in kernel ptrace; do
	echo "top 5, last trial, cprof --sampler $m:"; top5 "$tmp/rd.$m.flat" | sed 's/^/  /'
	echo "  perf at the same time:"; top5 "$tmp/rd.$m.perf" | sed 's/^/  /'
	echo "  cprof's summaries:"; sed 's/^/    /' "$tmp/rd.$m.sum"
done
fi

# 3. throughput at 999 Hz: -n for ~5 s of set and get bare; the profiler
# attached a second before the run, stopped (SIGINT) after it
echo
# Split on commas after the quotes are gone: a gsub on $0 splits the line
# again by FS, and with FS '","' that left one field, so $2 and $7 were
# empty and every rate 0.  Columns (redis 7): test, rps, avg, min, p50,
# p95, p99, max latency in ms.
rbc() {	# rbc N: "requests/s p99_ms", means over set and get (--csv: the same run as -q)
	redis-benchmark -p $port -t set,get -n "$1" -c 50 --csv 2>/dev/null |
		awk -F , 'NR > 1 { gsub(/"/, ""); r += $2; p += $7; n++ } END { if (n) printf "%.0f %.3f\n", r / n, p / n }'
}
rn=$(rbc 200000 | awk '{ printf "%d", $1 * 5 / 2 }')
echo "== issue 24: redis-benchmark -t set,get -n $rn -c 50 (~5 s bare) at 999 Hz,"
echo "   $TRIALS interleaved trials (medians; rps and p99 are means over set and get)"
run_rt() {	# run_rt MODE
	local m=$1 pp=
	case $m in
	kernel|ptrace) $B/cprof record --sampler $m -F 999 -p $rp -o "$tmp/rt.pb.gz" 2>"$tmp/rt.err" & pp=$! ;;
	perf) perf record -q -F 999 --call-graph dwarf,32768 -p $rp -o "$tmp/rt.data" >/dev/null 2>&1 & pp=$! ;;
	esac
	[ -n "$pp" ] && sleep 1
	rbc "$rn" >>"$tmp/rt.$m"
	if [ -n "$pp" ]; then
		kill -INT $pp; wait $pp 2>/dev/null
		rm -f "$tmp/rt.data"
	fi
	case $m in
	kernel) sed -n 's/.* \([0-9]*\) stops.*/\1/p' "$tmp/rt.err" >>"$tmp/rt.$m.stops" ;;
	# the ptrace sampler stops a thread for each sample
	ptrace) sed -n 's/^cprof: \([0-9]*\) samples.*pause p50 \([0-9]*\)us p99 \([0-9]*\)us.*/\1 \2 \3/p' \
		"$tmp/rt.err" >>"$tmp/rt.$m.stops" ;;
	esac
	[ -s "$tmp/rt.err" ] && sed -n 's/^cprof: /    /p' "$tmp/rt.err" >>"$tmp/rt.$m.sum"
	rm -f "$tmp/rt.err"
}
rm -f "$tmp"/rt.*
rtmodes="bare kernel ptrace"
[ $have_perf = 1 ] && rtmodes="$rtmodes perf"
interleave "$TRIALS" run_rt $rtmodes
b=$(awk '{ print $1 }' "$tmp/rt.bare" | median)
printf '%-8s %12s %8s %8s %8s  %s\n' mode requests/s ratio p99_ms stops "(pause p50/p99 us)"
for m in $rtmodes; do
	r=$(awk '{ print $1 }' "$tmp/rt.$m" | median); p=$(awk '{ print $2 }' "$tmp/rt.$m" | median)
	st=-; pz=
	case $m in
	kernel) st=$(median <"$tmp/rt.$m.stops") ;;
	ptrace) st=$(awk '{ print $1 }' "$tmp/rt.$m.stops" | median)
		pz="($(awk '{ print $2 }' "$tmp/rt.$m.stops" | median)/$(awk '{ print $3 }' "$tmp/rt.$m.stops" | median))" ;;
	esac
	printf '%-8s %12s %8s %8s %8s  %s\n' "$m" "$r" \
		"$(awk -v a="$r" -v b="$b" 'BEGIN { if (b > 0) printf "%.3f", a / b }')" "$p" "$st" "$pz"
done
echo "trials (requests/s): $(for m in $rtmodes; do printf '%s: %s; ' $m "$(awk '{ print $1 }' "$tmp/rt.$m" | tr '\n' ' ')"; done)"
for m in kernel ptrace; do echo "  cprof --sampler $m summaries:"; cat "$tmp/rt.$m.sum"; done
kill $rp; wait $rp 2>/dev/null
fi
fi

# cprof threads beside eu-stack and gdb: wall time to stop, unwind,
# symbolize and print every thread of an idle thread-pool-like process.
if want threads; then
echo
echo "== all stacks of a process with N idle threads: wall ms (median of 3; gdb: 1 run), target stop us"
echo "   (cprof_lu: the same with CPROF_UNWIND=libunwind, every frame stepped by libunwind)"
printf '%7s %12s %12s %12s %12s %12s %10s %10s\n' threads cprof cprof_lu stopped_us eu-stack gdb x_eustack x_gdb
# $EPOCHREALTIME, not date(1): two forks would add ~8 ms to every time
ms() { local s e; s=${EPOCHREALTIME/./}; "$@" >/dev/null 2>&1; e=${EPOCHREALTIME/./}; echo $(((e - s) / 1000)); }
for n in 1 16 128 1000; do
	exec {fd}< <($B/bench/many "$n")
	read -r -t 60 -u $fd line || { echo "many $n did not start"; continue; }
	pid=${line#ready }
	# one run first, for all: /proc's entries for the new threads are
	# made on their first lookup, and would be charged to whoever came first
	$B/cprof threads -p "$pid" >/dev/null
	c=$(for i in 1 2 3; do ms $B/cprof threads -p "$pid"; done | median)
	lu=$(for i in 1 2 3; do CPROF_UNWIND=libunwind ms $B/cprof threads -p "$pid"; done | median)
	st=$(for i in 1 2 3; do $B/cprof threads --json -p "$pid" | sed -n 's/.*"stopped_us":\([0-9]*\).*/\1/p'; done | median)
	eu=-; g=-
	command -v eu-stack >/dev/null && eu=$(for i in 1 2 3; do ms timeout 300 eu-stack -p "$pid"; done | median)
	command -v gdb >/dev/null && g=$(ms timeout 600 gdb -batch -nx -ex 'thread apply all bt' -p "$pid")
	printf '%7s %12s %12s %12s %12s %12s %10s %10s\n' "$n" "$c" "$lu" "$st" "$eu" "$g" \
		"$(awk -v a="$eu" -v b="$c" 'BEGIN { if (a == "-" || b < 1) print "-"; else printf "%.1fx", a / b }')" \
		"$(awk -v a="$g" -v b="$c" 'BEGIN { if (a == "-" || b < 1) print "-"; else printf "%.1fx", a / b }')"
	kill "$pid"
	exec {fd}<&-
done
fi

if want report; then
echo
echo "== cprof report on large profiles: wall ms and peak RSS, beside go tool pprof -top"
echo "   (made by tests/data/mkprof.py: N samples over 64 stacks; plain and gzip)"
printf '%10s %8s %12s %12s %12s %12s\n' samples MiB cprof_ms cprof_rss_kb pprof_ms pprof_rss_kb
peak() {	# peak CMD...: "ms rss_kb"
	python3 -c '
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(int((time.monotonic() - t) * 1000), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
}
rtmp=$(mktemp -d)
for n in 100000 1000000 5000000; do
	python3 tests/data/mkprof.py big "$n" "$rtmp/p.pb"
	gzip -1 -c "$rtmp/p.pb" > "$rtmp/p.pb.gz"
	for f in "$rtmp/p.pb" "$rtmp/p.pb.gz"; do
		mib=$(( $(stat -c %s "$f") >> 20 ))
		set -- $(peak $B/cprof report "$f")
		c_ms=$1 c_rss=$2
		set -- $(peak go tool pprof -top "$f")
		printf '%10s %8s %12s %12s %12s %12s  %s\n' "$n" "$mib" "$c_ms" "$c_rss" "$1" "$2" "${f##*.}"
	done
done
rm -rf "$rtmp"
fi

if want job; then
# A build-like job: a shell loop starting JOBS short processes, each ~10
# ms of cpu (tests/targets/forktree -c: exec_work, then exit), bare, under
# cprof (which follows them) and under perf record -g (which does too).
# wall: the job's, start to end (cprof's and perf's writing included).
# share: the cpu the profile holds over the cpu the job used by the
# kernel's account (bash's times: the shell and its waited children);
# sampled: the same without [not sampled] (cpu on real stacks).
JOBS=${JOBS:-500}
echo
echo "== a job of $JOBS short processes (~10 ms cpu each), $TRIALS interleaved trials (medians)"
job='for i in $(seq "$1"); do "$2" -c 10 0; done; times'
run_job() {
	local mode=$1 hz=${1##*-} t0 t1
	t0=$(date +%s%N)
	case $mode in
	bare) bash -c "$job" _ "$JOBS" "$B/targets/forktree" >"$tmp/jout" 2>/dev/null ;;
	cprof-*) $B/cprof record -q -F "$hz" -o "$tmp/j.pb.gz" -- \
		bash -c "$job" _ "$JOBS" "$B/targets/forktree" >"$tmp/jout" 2>/dev/null ;;
	perf-*) perf record -q -g -F "$hz" -o "$tmp/j.data" -- \
		bash -c "$job" _ "$JOBS" "$B/targets/forktree" >"$tmp/jout" 2>/dev/null ;;
	esac
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000)) >>"$tmp/job-$mode.ms"
	used=$(times_ns "$tmp/jout")
	case $mode in
	cprof-*) cpu_share_cprof "$tmp/j.pb.gz" "$used" >>"$tmp/job-$mode.share" ;;
	perf-*) cpu_share_perf "$tmp/j.data" "$used" >>"$tmp/job-$mode.share" ;;
	esac
}
jmodes="bare cprof-99 cprof-999"
[ $have_perf = 1 ] && jmodes="$jmodes perf-99 perf-999"
interleave "$TRIALS" run_job $jmodes
base=$(median <"$tmp/job-bare.ms")
printf '%-10s %10s %9s %10s %10s\n' mode wall_ms vs_bare cpu_share sampled
for m in $jmodes; do
	ms=$(median <"$tmp/job-$m.ms")
	sh=-; sa=-
	if [ -s "$tmp/job-$m.share" ]; then
		sh=$(awk '{ print $1 }' "$tmp/job-$m.share" | median)
		sa=$(awk '{ print $2 }' "$tmp/job-$m.share" | median)
	fi
	printf '%-10s %10s %8sx %9s%% %9s%%\n' "$m" "$ms" \
		"$(awk -v a="$ms" -v b="$base" 'BEGIN { printf "%.2f", a / b }')" "$sh" "$sa"
done
fi

if want build; then
# A real job: this project's own build from clean (a fresh copy, make -j2
# build/cprof: ~300 processes of make, gcc, cc1, as, ld, protoc-c), bare,
# under cprof and under perf record -g, interleaved (BTRIALS, medians).
# wall: the job's start to the profiler's exit; tail: the job's exit (its
# last `date`) to the profiler's exit, the work left after the job; share:
# the cpu in the profile over the job's (bash's times: the shell and its
# waited children); missed ticks and lost samples from cprof's summary.
echo
echo "== a real build: make -j2 build/cprof from clean, ${BTRIALS:=3} interleaved trials (medians)"
bsrc=$tmp/build-src
mkdir -p "$bsrc" && cp -r Makefile README.md attach cmd lib man preload profiles symbolize tests "$bsrc/"
bjob='make -s -C "$1" -j2 build/cprof >/dev/null 2>&1; times; date +%s%N'
run_build() {
	local mode=$1 hz=${1##*-} t0 t1 je used
	rm -rf "$tmp/bw" && cp -r "$bsrc" "$tmp/bw"
	t0=$(date +%s%N)
	case $mode in
	bare) bash -c "$bjob" _ "$tmp/bw" >"$tmp/bout" 2>/dev/null ;;
	cprof-*) $B/cprof record -F "$hz" -o "$tmp/b.pb.gz" -- \
		bash -c "$bjob" _ "$tmp/bw" >"$tmp/bout" 2>"$tmp/berr" ;;
	perf-*) perf record -q -g -F "$hz" -o "$tmp/b.data" -- \
		bash -c "$bjob" _ "$tmp/bw" >"$tmp/bout" 2>/dev/null ;;
	esac
	t1=$(date +%s%N)
	[ -x "$tmp/bw/build/cprof" ] || echo "($mode: the build failed)"
	je=$(tail -1 "$tmp/bout")
	echo $(((t1 - t0) / 1000000)) >>"$tmp/build-$mode.ms"
	echo $(((t1 - je) / 1000000)) >>"$tmp/build-$mode.tail"
	used=$(times_ns "$tmp/bout")
	case $mode in
	cprof-*) cpu_share_cprof "$tmp/b.pb.gz" "$used" >>"$tmp/build-$mode.share"
		sed -n 's/.* \([0-9]*\) missed ticks, \([0-9]*\) lost samples.*/\1 \2/p' "$tmp/berr" >>"$tmp/build-$mode.lost"
		go tool pprof -tags "$tmp/b.pb.gz" 2>/dev/null |
			awk '/^ comm:/ { on = 1; next } /^ *$/ { on = 0 } on' | head -6 >"$tmp/build-comm" ;;
	perf-*) cpu_share_perf "$tmp/b.data" "$used" >>"$tmp/build-$mode.share" ;;
	esac
}
bmodes="bare cprof-99"
[ $have_perf = 1 ] && bmodes="$bmodes perf-99"
interleave "$BTRIALS" run_build $bmodes
base=$(median <"$tmp/build-bare.ms")
pw=-
[ $have_perf = 1 ] && pw=$(median <"$tmp/build-perf-99.ms")
printf '%-10s %10s %8s %9s %9s %10s %13s\n' mode wall_ms vs_bare vs_perf tail_ms cpu_share missed/lost
for m in $bmodes; do
	ms=$(median <"$tmp/build-$m.ms")
	sh=-; lost=-
	[ -s "$tmp/build-$m.share" ] && sh=$(awk '{ print $1 }' "$tmp/build-$m.share" | median)%
	[ -s "$tmp/build-$m.lost" ] && lost=$(awk '{ m += $1; l += $2 } END { printf "%d/%d", m, l }' "$tmp/build-$m.lost")
	printf '%-10s %10s %7sx %8sx %9s %10s %13s\n' "$m" "$ms" \
		"$(awk -v a="$ms" -v b="$base" 'BEGIN { printf "%.2f", a / b }')" \
		"$(awk -v a="$ms" -v b="$pw" 'BEGIN { if (b + 0) printf "%.2f", a / b; else printf "-" }')" \
		"$(median <"$tmp/build-$m.tail")" "$sh" "$lost"
done
echo "trials (wall ms): $(for m in $bmodes; do printf '%s: %s; ' "$m" "$(tr '\n' ' ' <"$tmp/build-$m.ms")"; done)"
echo "(missed/lost: summed over the trials)  top programs by comm, cprof's last trial:"
cat "$tmp/build-comm"
fi

if want heap; then
echo
echo "== heap and allocs: allocation throughput as a share of the unprofiled run,"
echo "   malloc(16..4096)+free, ${HEAP_SECS:=3} s per run, $TRIALS interleaved trials (medians)"
ml=$B/bench/mallocloop
ops() { sed -n 's/^ops_per_sec //p' "$1"; }
# W units of work per call for ~20k allocations a second unprofiled
w=10000
r=$($ml -w $w -s 1 | sed -n 's/^ops_per_sec //p')
w=$(awk -v w=$w -v r="$r" 'BEGIN { printf "%d", w * r / 20000 }')
bcc=""
if command -v memleak-bpfcc >/dev/null; then
	# BCC compiles against kernel headers; Debian's for an older kernel
	# do, once its two halves (-common and -amd64) are one tree
	hdr=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | tail -1)
	if [ -n "$hdr" ] && [ -d "${hdr%-amd64}-common" ]; then
		mkdir -p "$tmp/kh"
		cp -rs "${hdr%-amd64}-common/." "$tmp/kh/" 2>/dev/null
		cp -rsf "$hdr/." "$tmp/kh/" 2>/dev/null
		bcc="env BCC_KERNEL_SOURCE=$tmp/kh"
	fi
	# BCC places its uprobes through tracefs, which a fresh VM may not
	# have mounted (memleak: "open(/sys/kernel/tracing/uprobe_events)")
	if [ ! -e /sys/kernel/tracing/uprobe_events ]; then
		mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null ||
			echo "   (tracefs not mounted and cannot be: memleak-bpfcc will fail)"
	fi
fi
# memleak-bpfcc -p: it takes seconds to compile and attach, so the loop
# waits (-g) until memleak's first report, then runs
run_memleak() {	# run_memleak WORK OUT
	local mpid lpid i
	rm -f "$tmp/go"; mkfifo "$tmp/go"
	$ml -w "$1" -s $HEAP_SECS -g <"$tmp/go" >"$2" 2>/dev/null &
	mpid=$!
	exec 7>"$tmp/go"
	for i in $(seq 200); do grep -q '^ready' "$2" && break; sleep 0.1; done
	# its first report (every second) comes once its probes are in
	PYTHONUNBUFFERED=1 $bcc memleak-bpfcc -p "$mpid" 1 >"$tmp/ml.out" 2>&1 &
	lpid=$!
	for i in $(seq 1200); do
		grep -q 'Top 10' "$tmp/ml.out" && break
		kill -0 "$lpid" 2>/dev/null || break	# it failed: its output says why
		sleep 0.1
	done
	grep -q 'Top 10' "$tmp/ml.out" || echo "   (memleak-bpfcc: $(grep -m1 -i 'cannot\|error\|no such\|exception' "$tmp/ml.out"))"
	if grep -q 'Top 10' "$tmp/ml.out"; then echo go >&7; else kill "$mpid"; fi
	exec 7>&-
	wait "$mpid"
	kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null	# (an async job ignores SIGINT)
}
run_heap() {	# run_heap MODE WORK: one trial, appends ops/s to $tmp/h.MODE.WORK
	local mode=$1 wk=$2 out=$tmp/hout cmd="$ml -w $2 -s $HEAP_SECS"
	case $mode in
	bare) $cmd >"$out" 2>/dev/null ;;
	# under the default --max-overhead: its estimate beside the slowdown
	allocs|heap) $B/cprof record -t $mode -o "$tmp/h.pb.gz" -- $cmd >"$out" 2>"$tmp/h.err"
		sed -n 's/.*estimated slowdown \([0-9.]*\)%.*/\1/p' "$tmp/h.err" >>"$tmp/h.$mode.$wk.est"
		grep -q 'frees alone cost' "$tmp/h.err" && echo 1 >>"$tmp/h.$mode.$wk.refused" ;;
	# the allocator probed (as for -p): under the budget, and every call
	allocs-uprobe|heap-uprobe) $B/cprof record -t ${mode%-uprobe} --no-preload -o "$tmp/h.pb.gz" -- \
		$cmd >"$out" 2>"$tmp/h.err"
		sed -n 's/.*estimated slowdown \([0-9.]*\)%.*/\1/p' "$tmp/h.err" >>"$tmp/h.$mode.$wk.est" ;;
	allocs-nobpf) $B/cprof record -t allocs --no-preload --no-bpf -o "$tmp/h.pb.gz" -- \
		$cmd >"$out" 2>"$tmp/h.err"
		sed -n 's/.*estimated slowdown \([0-9.]*\)%.*/\1/p' "$tmp/h.err" >>"$tmp/h.$mode.$wk.est" ;;
	allocs-all|heap-all) $B/cprof record -q -t ${mode%-all} --no-preload --max-overhead 100 -o "$tmp/h.pb.gz" -- \
		$cmd >"$out" 2>/dev/null ;;
	# (15 s: a window of 500 ms every 5 s or so; in 3 s, one or none)
	allocs-duty|heap-duty) $B/cprof record -q -t ${mode%-duty} --no-preload --duty 0.1 -o "$tmp/h.pb.gz" -- \
		$ml -w "$wk" -s 15 >"$out" 2>/dev/null ;;
	heaptrack) heaptrack -o "$tmp/ht" $cmd >"$out" 2>/dev/null; rm -f "$tmp"/ht* ;;
	dhat) valgrind -q --tool=dhat --dhat-out-file="$tmp/dhat.out" $cmd >"$out" 2>/dev/null ;;
	memleak) run_memleak "$wk" "$out" ;;
	esac
	ops "$out" >>"$tmp/h.$mode.$wk"
}
hmodes="bare allocs allocs-uprobe allocs-nobpf allocs-all allocs-duty heap heap-uprobe heap-all heap-duty heaptrack dhat"
command -v memleak-bpfcc >/dev/null && hmodes="$hmodes memleak"
for i in $(seq "$TRIALS"); do
	for m in $hmodes; do run_heap $m "$w"; run_heap $m 0; done
done
printf "%-12s %14s %8s %9s %14s %8s %9s\n" mode "~20k/s ops/s" ratio "est.slow" "flat ops/s" ratio "est.slow"
b20=$(median <"$tmp/h.bare.$w"); b0=$(median <"$tmp/h.bare.0")
est() { [ -s "$tmp/h.$1.$2.est" ] && printf "%s%%" "$(median <"$tmp/h.$1.$2.est")" || echo -; }
for m in $hmodes; do
	a=$(median <"$tmp/h.$m.$w"); z=$(median <"$tmp/h.$m.0")
	printf "%-12s %14s %8s %9s %14s %8s %9s\n" "$m" "$a" \
		"$(awk -v a="$a" -v b="$b20" 'BEGIN { if (a != "-" && b > 0) printf "%.3f", a / b; else print "-" }')" "$(est $m $w)" "$z" \
		"$(awk -v a="$z" -v b="$b0" 'BEGIN { if (a != "-" && b > 0) printf "%.4f", a / b; else print "-" }')" "$(est $m 0)"
done
for k in $w 0; do
	[ -s "$tmp/h.heap.$k.refused" ] && echo "   heap at $([ $k = 0 ] && echo 'flat out' || echo '~20k/s'): refused (frees over the budget) in $(wc -l <"$tmp/h.heap.$k.refused") of $TRIALS trials"
done
echo "   (allocs, heap: cprof's defaults for a launched command: libcprof-heap.so"
echo "    preloaded, --max-overhead 5%; est.slow is cprof's estimate of the slowdown;"
echo "    -uprobe: --no-preload, the allocator probed under the budget (allocs: through"
echo "    BPF links where the kernel allows; -nobpf: --no-bpf, perf uprobe events); -all: every"
echo "    call probed (--no-preload --max-overhead 100); -duty: --no-preload --duty 0.1;"
echo "    heaptrack and dhat run the program themselves (LD_PRELOAD, emulation);"
echo "    memleak-bpfcc and cprof load nothing into it; -duty: --duty 0.1, 15 s runs)"

# the split under the default budget: heapmix's churn makes 3/4 of the
# bytes, keep 1/4 and holds RING x 512 bytes live; ~20k allocations a
# second (-i 10000) and flat out (-i 10000000), 4 s each
echo
echo "== heapmix under the default --max-overhead: allocs' churn share (truth 75%), heap's keep share of inuse (>= 95%)"
printf "%-10s %-7s %8s %9s %8s %s\n" pace mode share samples est.slow summary
for i in $(seq "$TRIALS"); do
	for pace in 10000 10000000; do
		$B/targets/heapmix -n 4096 -i $pace >"$tmp/hm.out" & hp=$!
		for k in $(seq 100); do grep -q '^ready' "$tmp/hm.out" && break; sleep 0.1; done
		for m in allocs heap; do
			$B/cprof record -t $m --rate 4096 -d 4s -p $hp -o "$tmp/hm.pb.gz" 2>"$tmp/hm.err"
			idx=alloc_space; f=churn
			[ $m = heap ] && { idx=inuse_space; f=keep; }
			sh=$(go tool pprof -top -nodecount=100 -sample_index=$idx "$tmp/hm.pb.gz" 2>/dev/null |
				awk -v f=$f '$NF == f { print $2 }')
			printf "%-10s %-7s %8s %9s %8s %s\n" $pace $m "${sh:--}" \
				"$(sed -n 's/^cprof: \([0-9]*\) samples.*/\1/p' "$tmp/hm.err")" \
				"$(sed -n 's/.*estimated slowdown \([0-9.]*%\).*/\1/p' "$tmp/hm.err")" \
				"$(grep -o 'probed [0-9.]*% of the time\|probes in all along[a-z ]*\|frees alone cost the target about [0-9]*%' "$tmp/hm.err" | head -1)"
		done
		kill $hp; wait $hp 2>/dev/null
	done
done

if [ "${BENCH_REDIS:-1}" = 1 ] && command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
	echo
	echo "== redis-server (jemalloc) under pipelined redis-benchmark -P 8 -t set,lpush -n 500000: requests/s, $TRIALS trials (medians)"
	echo "   cprof -t allocs (BPF links; allocs-nobpf: --no-bpf) and -t heap -p under the default --max-overhead"
	port=$((20000 + RANDOM % 20000))
	redis-server --port $port --save "" --appendonly no --daemonize no >/dev/null 2>&1 & rp=$!
	# (redis-benchmark -n 1 with its 50 clients spins forever here)
	for k in $(seq 100); do redis-cli -p $port ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
	rb() { redis-benchmark -p $port -P 8 -t set,lpush -n 500000 -q 2>/dev/null |
		awk '{ for (i = 1; i <= NF; i++) if ($i ~ /requests/) { s += $(i - 1); n++ } } END { if (n) printf "%.0f\n", s / n }'; }
	for i in $(seq "$TRIALS"); do
		rb >>"$tmp/r.bare"
		for m in allocs allocs-nobpf heap; do
			case $m in
			allocs-nobpf) $B/cprof record -t allocs --no-bpf -p $rp -o "$tmp/r.$m.pb.gz" 2>"$tmp/r.$m.err" & cp=$! ;;
			*) $B/cprof record -t $m -p $rp -o "$tmp/r.$m.pb.gz" 2>"$tmp/r.$m.err" & cp=$! ;;
			esac
			sleep 1
			rb >>"$tmp/r.$m"
			kill -INT $cp 2>/dev/null; wait $cp
			sed -n 's/.*\(estimated slowdown [0-9.]*%[^,]*\), \([^,]*\).*/\1, \2/p' "$tmp/r.$m.err" >>"$tmp/r.$m.sum"
			grep -o 'frees alone cost the target about [0-9]*% ([0-9]* calls/s' "$tmp/r.$m.err" >>"$tmp/r.$m.sum"
		done
	done
	rbare=$(median <"$tmp/r.bare")
	for m in bare allocs allocs-nobpf heap; do
		v=$(median <"$tmp/r.$m")
		printf "%-8s %10s req/s  ratio %s\n" $m "$v" "$(awk -v a="$v" -v b="$rbare" 'BEGIN { if (b > 0) printf "%.3f", a / b }')"
		[ -s "$tmp/r.$m.sum" ] && sed 's/^/           cprof: /' "$tmp/r.$m.sum"
	done
	echo "   top allocating functions in the allocs profile of the last run:"
	go tool pprof -top -nodecount=6 -sample_index=alloc_space "$tmp/r.allocs.pb.gz" 2>/dev/null | sed -n '/flat%/,$p' | sed 's/^/   /'
	echo "   top allocating functions in the heap profile of the last run:"
	go tool pprof -top -nodecount=6 -sample_index=alloc_space "$tmp/r.heap.pb.gz" 2>/dev/null | sed -n '/flat%/,$p' | sed 's/^/   /'
	kill $rp; wait $rp 2>/dev/null
	# launched under cprof record -t heap (libcprof-heap.so preloaded),
	# each trial a pair (a bare server, then one under cprof, the order
	# alternating) on its own ports: this VM's bare throughput drifts by
	# a third within minutes, so the ratio is each pair's, their median
	pairs=${REDIS_PAIRS:-9}
	echo "== redis-server launched under cprof record -t heap (preloaded), beside bare, -P 8 -t set,lpush, $pairs pairs"
	one_redis() {
		port=$((20000 + RANDOM % 20000))
		case $1 in
		bare) redis-server --port $port --save "" --appendonly no >/dev/null 2>&1 & rp=$! ;;
		heap) $B/cprof record -t heap -o "$tmp/rl.pb.gz" -- redis-server --port $port --save "" \
			--appendonly no >/dev/null 2>"$tmp/rl.err" & rp=$! ;;
		esac
		for k in $(seq 100); do redis-cli -p $port ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
		rb >>"$tmp/rl.$1"
		redis-cli -p $port shutdown nosave >/dev/null 2>&1; wait $rp 2>/dev/null
	}
	for i in $(seq "$pairs"); do
		if [ $((i % 2)) = 1 ]; then one_redis bare; one_redis heap; else one_redis heap; one_redis bare; fi
	done
	rbare=$(median <"$tmp/rl.bare"); v=$(median <"$tmp/rl.heap")
	ratio=$(paste "$tmp/rl.bare" "$tmp/rl.heap" | awk '$1 > 0 { printf "%.3f\n", $2 / $1 }' | median)
	printf "%-8s %10s req/s\n%-8s %10s req/s  ratio %s (the median of the pairs' ratios)\n" \
		bare "$rbare" heap "$v" "$ratio"
	echo "   cprof: $(grep -o '[0-9]* samples,.*' "$tmp/rl.err" | head -1)"
	echo "   top allocating functions (alloc_space, last trial):"
	go tool pprof -top -nodecount=6 -sample_index=alloc_space "$tmp/rl.pb.gz" 2>/dev/null | sed -n '/flat%/,$p' | sed 's/^/   /'
fi
fi

if want serve; then
# cprof serve: how fast it answers goroutine (a snapshot) on a 100-thread
# process, and what a scraper asking for a 10 s cpu profile every 15 s
# (the duty cycle of Parca's or Alloy's cpu scrape) costs the target's
# throughput, against no scraping.
echo
echo "== cprof serve: goroutine requests/s on 100 idle threads (median of 3 runs of 50)"
# start_serve PID: $surl, $spid (serve prints its address on stdout)
start_serve() {
	exec {sfd}< <($B/cprof serve -q -p "$1" --listen 127.0.0.1:0 2>/dev/null & echo "pid $!"; wait)
	local l
	for l in 1 2; do	# in either order
		read -r -t 30 -u $sfd line
		case $line in pid\ *) spid=${line#pid };; serving\ *) surl=${line#serving };; esac
	done
}
stop_serve() { kill "$spid"; exec {sfd}<&-; }
exec {fd}< <($B/bench/many 100)
read -r -t 60 -u $fd line; pid=${line#ready }
start_serve "$pid"
urls=$(for i in $(seq 50); do printf -- '-o /dev/null %sgoroutine ' "$surl"; done)
for dbg in 0 2; do
	r=$(for t in 1 2 3; do
		s=${EPOCHREALTIME/./}
		curl -s $( [ $dbg = 2 ] && echo "${urls//goroutine/goroutine?debug=2}" || echo "$urls")
		e=${EPOCHREALTIME/./}
		awk -v us=$((e - s)) 'BEGIN { printf "%.1f\n", 50 / (us / 1e6) }'
	done | median)
	echo "goroutine?debug=$dbg: $r requests/s (one client, keep-alive)"
done
s=${EPOCHREALTIME/./}
cps=()
for c in 1 2 3 4; do curl -s $urls & cps+=($!); done
wait "${cps[@]}"	# not a bare wait: that waits for serve's <( ) too
e=${EPOCHREALTIME/./}
echo "4 clients at once: $(awk -v us=$((e - s)) 'BEGIN { printf "%.1f", 200 / (us / 1e6) }') requests/s in all"
stop_serve
kill "$pid"; exec {fd}<&-

SROUNDS=${SROUNDS:-21000}
stmp=$(mktemp -d /tmp/cprof-bench-serve.XXXXXX)
echo
echo "== cprof serve: a scraper asking profile?seconds=10 every 15 s, one busy thread,"
echo "   spin -n $SROUNDS (~30 s), ${STRIALS:-3} interleaved trials (medians)"
scrape_trial() {	# scrape_trial MODE: elapsed_ms of the fixed work
	exec {wfd}< <($B/bench/spin -n "$SROUNDS")
	read -r -t 30 -u $wfd line; wpid=${line#ready }
	if [ "$1" = scraped ]; then
		start_serve "$wpid"
		( while kill -0 "$wpid" 2>/dev/null; do
			s=$SECONDS
			curl -s -o /dev/null "${surl}profile?seconds=10"
			sleep $((15 - (SECONDS - s))) 2>/dev/null
		done ) & scr=$!
	fi
	read -r -u $wfd line
	while [ "${line%% *}" != elapsed_ms ]; do read -r -u $wfd line || break; done
	if [ "$1" = scraped ]; then
		kill "$scr" 2>/dev/null; wait "$scr" 2>/dev/null
		stop_serve
	fi
	exec {wfd}<&-
	echo "${line#elapsed_ms }"
}
for t in $(seq "${STRIALS:-3}"); do
	scrape_trial none >>"$stmp/scrape-none.ms"
	scrape_trial scraped >>"$stmp/scrape-scraped.ms"
done
a=$(median <"$stmp/scrape-none.ms"); b=$(median <"$stmp/scrape-scraped.ms")
echo "no scraper: ${a} ms; scraped: ${b} ms; throughput ratio $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }') ($(tr '\n' ' ' <"$stmp/scrape-none.ms")/ $(tr '\n' ' ' <"$stmp/scrape-scraped.ms"))"
rm -rf "$stmp"
fi

if want uprobe-kill; then
echo
echo "== uprobe breakpoints left in a target by a prober that dies while events are opened or closed"
echo "   (tests/bench/uprobe-kill.c: why cprof-keeper owns the events, attach/keeper.h)"
"$B/bench/uprobe-kill" "${KTRIALS:-20}"
fi

if want hwbp; then
echo
echo "== hardware breakpoints: do they fire here? (tests/bench/hwbp.c; issue 15's ptrace fallback)"
"$B/bench/hwbp" 1000
fi
