#!/bin/bash
# Off the cpu: wall, block and mutex profiles of threads that wait in known
# places (tests/targets/waits.c), and threadcreate of a thread factory
# with two creation sites at 3:1.  Blocked threads are read without being
# stopped (or stopped once per place, in frame-pointer code), and no
# blocking call in the target returns early because of cprof.
. "$(dirname "$0")/lib.sh"

THREADS="sleeper holder waiter_a waiter_b condwait producer consumer futexer poller epoller"

# total of a profile in ms, restricted to one thread by name
thread_ms() {
	pprof -top -unit=ms -nodefraction=0 -tagfocus="thread_name=^$2\$" "$1" |
		sed -n 's/^Showing nodes accounting for \([0-9.]*\)ms,.*/\1/p'
}
# the "blocked stacks: N copied ..., M by stopping it once" comment
stops_of() { pprof -raw "$1" | sed -n 's/.*blocked stacks: .*, \([0-9]*\) by stopping.*/\1/p'; }
in_range() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x >= lo && x <= hi) }'; }

for build in waits waits-fp; do
	start_target P "$T/$build" || exit 1
	fd=P_fd
	diag "$build: pid $P"

	# wall
	run_cprof record -t wall -d 3s -p "$P" -o "$TMP/wall.pb.gz"
	is "$rc" 0 "$build: record -t wall: exit 0"
	raw=$(pprof -raw "$TMP/wall.pb.gz")
	like "$raw" "samples/count wall/nanoseconds" "$build: wall: sample types samples/count, wall/nanoseconds"
	bad=""
	for n in $build $THREADS; do
		ms=$(thread_ms "$TMP/wall.pb.gz" "$n")
		in_range "$ms" 2850 3150 || bad="$bad $n=${ms}ms"
	done
	is "$bad" "" "$build: wall: every thread's wall time is the 3 s recording within 5%"
	sleeper=$(thread_ms "$TMP/wall.pb.gz" sleeper)
	pct=$(pprof_top "$TMP/wall.pb.gz" -unit=ms -tagfocus='thread_name=^sleeper$' |
		awk '$NF == "sleep_here" { sub("ms", "", $4); print $4 }')
	share=$(awk -v a="$pct" -v b="$sleeper" 'BEGIN { if (b > 0) printf "%.1f", 100 * a / b }')
	ok "$(in_range "$share" 22 42; echo $?)" "$build: wall: the sleeper sleeps 30% of its time in sleep_here ($share%)"
	tags=$(pprof -tags "$TMP/wall.pb.gz" | tr -s ' \n' '  ')
	like "$tags" "syscall: .*clock_nanosleep.* futex.* (epoll_wait|poll|read)" "$build: wall: syscall labels"
	like "$tags" "thread_state: .*sleeping.* running" "$build: wall: thread_state labels: sleeping and running"
	like "$(pprof_top "$TMP/wall.pb.gz" -tagfocus='thread_name=^consumer$')" "consume" "$build: wall: the consumer waits in consume"

	# block
	run_cprof record -t block -d 3s -p "$P" -o "$TMP/block.pb.gz"
	is "$rc" 0 "$build: record -t block: exit 0"
	like "$(pprof -raw "$TMP/block.pb.gz")" "contentions/count delay/nanoseconds" "$build: block: sample types contentions/count, delay/nanoseconds"
	top=$(pprof_top "$TMP/block.pb.gz")
	unlike "$top" "burn_here" "$build: block: no time on the cpu"
	for f in consume cond_here futex_here poll_here epoll_here lock_a lock_b sleep_here; do
		like "$top" " $f\$" "$build: block: $f"
	done
	ms=$(thread_ms "$TMP/block.pb.gz" sleeper)
	ok "$(in_range "$ms" 600 1300; echo $?)" "$build: block: the sleeper is blocked ~0.9 of 3 s (${ms}ms)"
	ms=$(thread_ms "$TMP/block.pb.gz" consumer)
	ok "$(in_range "$ms" 2700 3150; echo $?)" "$build: block: the consumer is blocked nearly all the time (${ms}ms)"
	stops=$(stops_of "$TMP/block.pb.gz")
	if [ "$build" = waits ]; then
		is "$stops" 0 "$build: block: no blocked thread was stopped (stacks copied from /proc sp and pc)"
	else
		ok "$(in_range "$stops" 0 40; echo $?)" "$build: block: frame-pointer code: a blocked thread is stopped about once per place ($stops stops, ~3300 thread-ticks)"
	fi

	# mutex
	run_cprof record -t mutex -d 3s -p "$P" -o "$TMP/mutex.pb.gz"
	is "$rc" 0 "$build: record -t mutex: exit 0"
	top=$(pprof_top "$TMP/mutex.pb.gz")
	a=$(cum_pct "$TMP/mutex.pb.gz" lock_a)
	b=$(cum_pct "$TMP/mutex.pb.gz" lock_b)
	ok "$(in_range "$a" 62 86; echo $?)" "$build: mutex: lock A is waited for 3x lock B: lock_a $a%, lock_b $b%"
	unlike "$top" "cond_here|consume|sleep_here|futex_here" "$build: mutex: no condition variable, pipe, sleep or bare futex waits"

	# formats
	run_cprof record -t block -d 1s -f text -p "$P" -o "$TMP/block.txt"
	is "$(head -2 "$TMP/block.txt" | tr '\n' ' ')" "--- contention: cycles/second=1000000000 " "$build: block -f text: Go's contention header"
	bad=$(awk 'NR <= 2 || /^$/ { next }
		/^[0-9]+ [0-9]+ @( 0x[0-9a-f]+)+$/ { next }
		/^# labels: \{"syscall":"[a-z_0-9]+", "thread_state":"[a-z ]+"\}$/ { next }
		/^#\t0x[0-9a-f]+\t[^\t]+\+0x[0-9a-f]+(\t[^\t]+:[0-9]+)?$/ { next }
		/^#\t0x0\t\[(unknown|truncated)\]$/ { next }
		{ print NR ": " $0 }' "$TMP/block.txt")
	is "$bad" "" "$build: block -f text: every line is a header, 'delay count @ addresses', labels or a frame"
	like "$(pprof -raw "$TMP/block.txt")" "contentions/count delay/nanoseconds" "$build: block -f text: go tool pprof reads it"
	run_cprof record -t wall -d 1s -f dump -p "$P" -o "$TMP/wall.dump"
	like "$(tr '\n\t' '  ' <"$TMP/wall.dump")" "thread [0-9]+ \"consumer\" \[[0-9]+ samples, [0-9.]+s\]: .*consume" "$build: wall -f dump: the consumer's stack"

	wait_until $WAIT all_untraced "$P"; ok $? "$build: untraced after"

	kill -TERM "$P"
	is "$(read_line "${!fd}")" "anomalies 0" "$build: no read, nanosleep, poll, epoll_wait, futex or cond wait returned early"
	like "$(read_line "${!fd}")" "rounds [1-9][0-9]*" "$build: the consumer kept reading"
done

# a user's SIGSTOP during a wall recording stays a stop (a fresh target:
# epoll_wait returns EINTR after a stop and SIGCONT, with or without cprof)
start_target P "$T/waits" || exit 1
build=waits
"$CPROF" record -q -t wall -d 1500ms -p "$P" -o "$TMP/stop.pb.gz" 2>"$TMP/err" &
cp=$!
wait_until $WAIT traced "$P"
kill -STOP "$P"
wait "$cp"
is "$?" 0 "$build: wall with a SIGSTOP in the middle: exit 0"
wait_until $WAIT all_stopped "$P"; ok $? "$build: stopped during the recording, still stopped after"
like "$(pprof -tags "$TMP/stop.pb.gz" | tr -s ' \n' '  ')" "thread_state: .*stopped" "$build: wall: the stopped time is labelled stopped"
kill -CONT "$P"
wait_until $WAIT none_stopped "$P"; ok $? "$build: runs again after SIGCONT"
kill -KILL "$P"

# threadcreate, launch mode: every thread the program creates
run_cprof record -t threadcreate -o "$TMP/tc.pb.gz" -- "$T/waits" -f 50
is "$rc" 0 "threadcreate, launch: exit 0 (the command's)"
like "$(pprof -raw "$TMP/tc.pb.gz")" "threadcreate/count" "threadcreate: sample type threadcreate/count"
is "$(pprof_samples "$TMP/tc.pb.gz")" 200 "threadcreate: 200 threads created, 200 counted"
is "$(cum_pct "$TMP/tc.pb.gz" create_a)" "75.00" "threadcreate: create_a made 3 of every 4"
is "$(cum_pct "$TMP/tc.pb.gz" create_b)" "25.00" "threadcreate: create_b made 1 of every 4"
like "$(pprof_top "$TMP/tc.pb.gz")" "pthread_create" "threadcreate: the stack goes through pthread_create"

# threadcreate, attach mode: older threads under one frame
start_target P "$T/waits" -f 0 || exit 1
run_cprof record -t threadcreate -d 2s -p "$P" -o "$TMP/tc2.pb.gz"
is "$rc" 0 "threadcreate, attach: exit 0"
top=$(pprof_top "$TMP/tc2.pb.gz" -nodefraction=0)
like "$top" "\[created before attach\]" "threadcreate: threads older than the recording under [created before attach]"
# counts, not a ratio: the factory makes a, a, a, b in turn, so a window
# that starts and ends anywhere holds na = 3 nb +- 3 exactly (2.7-3.3 as a
# ratio needed 10 rounds or more; a starved run made 3 rounds a second)
total=$(pprof_samples "$TMP/tc2.pb.gz")
na=$(awk -v p="$(cum_pct "$TMP/tc2.pb.gz" create_a)" -v t="$total" 'BEGIN { printf "%.0f", p * t / 100 }')
nb=$(awk -v p="$(cum_pct "$TMP/tc2.pb.gz" create_b)" -v t="$total" 'BEGIN { printf "%.0f", p * t / 100 }')
ok "$([ "$nb" -ge 3 ] && [ $((na - 3 * nb)) -le 3 ] && [ $((3 * nb - na)) -le 3 ]; echo $?)" \
	"threadcreate, attach: 3:1 between the creation sites ($na by create_a, $nb by create_b)"
wait_until $WAIT all_untraced "$P"; ok $? "threadcreate: untraced after"
# thread churn under wall and block: every thread that ends is an event, not an error
for t in wall block; do
	run_cprof record -t $t -d 1s -p "$P" -o "$TMP/churn.pb.gz"
	is "$rc" 0 "$t on a thread factory: exit 0"
	unlike "$err" "error|warning" "$t on a thread factory: no error for threads that ended"
done
kill -TERM "$P"
is "$(read_line "${P_fd}")" "anomalies 0" "threadcreate: every pthread_create and join worked"

run_cprof profiles
unlike "$(grep -E '^(wall|block|mutex|threadcreate) ' "$TMP/out")" "not yet" "cprof profiles: wall, block, mutex, threadcreate are built"

done_testing
