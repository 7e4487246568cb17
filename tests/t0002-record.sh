#!/bin/bash
# Attach to a running multi-threaded program: the profile has its real
# stacks (through libc, with inlined frames and file:line), per-thread
# labels, cpu that adds up to what the target used, and the target runs on
# untraced afterwards.
. "$(dirname "$0")/lib.sh"

start_target P "$T/burn" -t 2 -S 1 || exit 1
run_cprof_window "$P" record -p "$P" -d 2s -o "$TMP/cpu.pb.gz"
is "$rc" 0 "record exits 0"
# the sampler is the kernel's where perf_event_open allows it, and ptrace
# stops under CPROF_SAMPLER=ptrace (the ASan run of the suite)
like "$err" "^cprof: [0-9]+ samples, 4 threads, 2\.[0-9]+s, (kernel sampler, 0 stops, [0-9]+ in system calls, [0-9]+ records lost|ptrace sampler, pause p50 [0-9]+us p99 [0-9]+us max [0-9]+us, [0-9]+ missed ticks, [0-9]+ lost samples), wrote $TMP/cpu.pb.gz$" \
	"one summary line on stderr"
wait_until $WAIT all_untraced "$P"; ok $? "every thread untraced after detach"
ok "$(none_stopped "$P"; echo $?)" "no thread left stopped"

top=$(pprof_top "$TMP/cpu.pb.gz")
like "$top" "Type: cpu" "go tool pprof reads it as a cpu profile"
for f in work_a work_b work_c mix_inline cmp_slow burner start_thread; do
	like "$top" " $f( \(inline\))?$" "stack frame $f"
done
like "$top" " (msort_with_tmp|qsort|__qsort_r)( \(inline\))?$" "the libc frame between work_c and cmp_slow"
unlike "$top" "\[unknown\]|\[truncated\]" "no broken stacks"
traces=$(pprof -traces "$TMP/cpu.pb.gz" | tr -s " \n" "  ")
like "$traces" "mix_inline \(inline\)[[:space:]]+work_b[[:space:]]+burner" "inlined function is its own frame under its caller"
lines=$(pprof_top "$TMP/cpu.pb.gz" -lines)
like "$lines" "work_a .*work\.c:[0-9]+" "file:line for work_a"
like "$lines" "mix_inline .*work\.c:[0-9]+" "file:line for an inlined frame"
tags=$(pprof -tags "$TMP/cpu.pb.gz")
like "$tags" "burner" "thread_name label"
unlike "$tags" "sleeper" "a sleeping thread has no cpu samples"
like "$tags" "thread_id" "thread_id label"
raw=$(pprof -raw "$TMP/cpu.pb.gz")
like "$raw" "PeriodType: cpu nanoseconds" "period type cpu/nanoseconds"
like "$raw" "Period: 10101010" "period 1e9/99"
like "$raw" "samples/count cpu/nanoseconds" "sample types"
like "$raw" "Comment: command: record -p $P" "command line comment"
if [[ $err == *"ptrace sampler"* ]]; then
	like "$raw" "Comment: pause per sample: p50" "pause statistics comment"
else
	like "$raw" "Comment: cpu sampler: kernel" "the comments say which sampler ran"
fi
like "$raw" "1: 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ $T/burn [0-9a-f]{40} \[FN\]\[FL\]\[LN\]\[IN\]" \
	"first mapping: the executable, build-id, honest has_* flags"
total=$(pprof_total "$TMP/cpu.pb.gz")
within "$(awk -v a="$total" -v b="$cpu_used" 'BEGIN { printf "%.3f", a / b }')" 1 0.10 \
	"profile cpu total / cpu the target used while traced"
# 99 Hz x 2 busy threads x 2 s = 396 on an idle machine.  A thread is
# sampled only at a tick it ran before, so on a busy machine there are
# fewer; but a tick covers at most 1/99 s of a thread's cpu, so the cpu it
# used needs cpu_used / period samples (half of that allows for ticks
# cprof itself missed while the machine kept it waiting).  Above: ticks
# are dithered (gaps of 0.5-1.5 periods), so 2 s hold 198 +- 4 of them
# (one deviation); both threads are sampled at every tick they run, so
# 2 x (198 + 5 deviations + the first) = 438 at most.
n=$(pprof_samples "$TMP/cpu.pb.gz")
lo=$((cpu_used / 10101010 / 2))
diag "samples: $n, cpu used while traced: $((cpu_used / 1000000)) ms"
ok "$([ "$n" -ge "$lo" ] && [ "$n" -le 438 ]; echo $?)" \
	"about 99 Hz of the cpu used, at most 99 Hz x 2 busy threads x 2 s with dithered ticks: $n samples (from $lo to 438)"

# same input, same bytes: -top is stable across two reads of one file
a=$(pprof_top "$TMP/cpu.pb.gz" | md5sum); b=$(pprof_top "$TMP/cpu.pb.gz" | md5sum)
is "$a" "$b" "pprof output stable"

# it keeps running: work goes on after cprof left
kill -TERM "$P"
line=$(read_line "$P_fd")
like "$line" "^rounds [1-9][0-9]*" "the target kept working and exits normally"
done_testing
