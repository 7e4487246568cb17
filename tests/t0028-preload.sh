#!/bin/bash
# heap and allocs of a command cprof starts: libcprof-heap.so, preloaded,
# samples inside the process (Go's draw by bytes) and only a sampled
# allocation and its free reach the probes (preload/heapsample.c).  The
# program's behaviour is unchanged; its children inherit the sampler;
# where it cannot be preloaded cprof probes the allocator and says why;
# attach mode never loads anything; a killed cprof leaves the command
# running to its end.
. "$(dirname "$0")/lib.sh"

samples_of() { sed -n 's/^cprof: \([0-9]*\) samples,.*/\1/p' "$TMP/err"; }
share_of() { pprof_top "$1" -sample_index="$2" | awk -v f="$3" '$NF == f { sub("%", "", $5); print $5 }'; }
tol_of() { awk -v p="$1" -v n="$2" 'BEGIN { if (n < 1) n = 1; t = 400 * sqrt(p * (1 - p) / n); printf "%.2f", t < 1 ? 1 : t }'; }
in_range() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x >= lo && x <= hi) }'; }
flat_of() { pprof_top "$1" -nodefraction=0 "${@:2}" | awk '$1 ~ /^[0-9.]+[a-zA-Z]*$/ && $1 + 0 > 0 && $2 ~ /%$/ { print $NF }' | sort -u; }
INPROC="sampled inside the process by libcprof-heap.so"
# a profile's inuse bytes, all of it
inuse_of() {
	pprof -top -nodefraction=0 -unit=B -sample_index=inuse_space "$1" |
		sed -n 's/^Showing nodes accounting for \([0-9.]*\)B.*/\1/p'
}

[ -e "$B/libcprof-heap.so" ] || skip_all "build/libcprof-heap.so is not built"
start_target P "$T/heapmix" -n 1024 || exit 1
run_cprof record -t allocs -d 200ms -p "$P" -o "$TMP/probe.pb.gz"
if [ "$rc" != 0 ] && grep -q 'perf_event_open' "$TMP/err"; then
	skip_all "perf_event_open of a uprobe refused here: $err"
fi
# attach mode: nothing loaded into the process
is "$(grep -c libcprof-heap /proc/"$P"/maps)" 0 "-p: nothing is loaded into an attached process"
unlike "$(pprof -raw "$TMP/probe.pb.gz")" "$INPROC" "-p: its allocator is probed, not sampled inside"
kill "$P"

# allocs: heapmix's truth, churn 3/4 of the bytes, the sites as leaves
run_cprof record -t allocs --rate 4096 -o "$TMP/a.pb.gz" -- "$T/heapmix" -n 1024 -x 3
is "$rc" 0 "allocs, launched: exit 0 (the command's)"
n=$(samples_of)
raw=$(pprof -raw "$TMP/a.pb.gz")
like "$raw" "$INPROC" "allocs, launched: the comment says it was sampled in the process"
within "$(share_of "$TMP/a.pb.gz" alloc_space churn)" 75 "$(tol_of 0.75 "$n")" \
	"allocs, launched: churn has 75% of the bytes ($n samples)"
is "$(flat_of "$TMP/a.pb.gz" | tr '\n' ' ')" "churn keep " \
	"allocs, launched: churn and keep are the leaves (no frame of the library's)"
above "${n:-0}" 300 "allocs, launched: samples taken"

# heap: what is live at the end is keep's ring (4096 x 512 bytes); every
# call counted, as the probes' budget is not the question here
run_cprof record -t heap --rate 4096 --max-overhead 100 -o "$TMP/h.pb.gz" -- "$T/heapmix" -n 4096 -x 3
is "$rc" 0 "heap, launched: exit 0"
keep=$(share_of "$TMP/h.pb.gz" inuse_space keep)
ok "$(in_range "$keep" 95 100; echo $?)" "heap, launched: keep holds >= 95% of inuse_space ($keep%)"
live=$(inuse_of "$TMP/h.pb.gz")
want=$((4096 * 512))
ok "$(in_range "$live" $((want * 80 / 100)) $((want * 120 / 100)); echo $?)" \
	"heap, launched: inuse within 20% of the live bytes ($live of $want)"
like "$(pprof -raw "$TMP/h.pb.gz")" "still allocated is read from the library at each process's exit" \
	"heap, launched: the blocks still allocated are read from the library, no free traps"

# ... so frees cost nothing: heapmix at 40k iterations a second frees
# ~80k blocks a second, every one sampled at --rate 64, which a 1% budget
# refuses where each free of a sampled block traps (80k x >= 1.6 us);
# here the windows hold it
run_cprof record -t heap --rate 64 --max-overhead 1 -o "$TMP/hb.pb.gz" -- "$T/heapmix" -i 40000 -n 4096 -x 3
is "$rc" 0 "heap, launched, --max-overhead 1: exit 0 (not refused)"
unlike "$err" "frees alone" "heap, launched, --max-overhead 1: no word of frees over the budget"

# two processes, each read at its own exit: each one's live ring (2048
# and 4096 blocks of 512 bytes; at --rate 1024 ~1000 and ~2000 samples
# live).  Loose bounds: records lost on a loaded machine scale up the
# samples of their interval (1.36 MB for 1 MB seen under ASan); a set not
# read would count every sampled block live (~30 MB), none would be 0
# (the program's own few kB aside)
run_cprof record -t heap --rate 1024 --max-overhead 100 -o "$TMP/ht.pb.gz" -- \
	sh -c "'$T/heapmix' -n 2048 -x 2 & '$T/heapmix' -n 4096 -x 2 & wait"
is "$rc" 0 "heap, a tree: exit 0"
per=$(pprof -top -nodecount=1000 -unit=B -sample_index=inuse_space -tagfocus comm=heapmix -tagroot pid \
	"$TMP/ht.pb.gz" | awk '$NF ~ /^[0-9]+$/ { sub(/B$/, "", $4); print $4 }' | sort -n | tr '\n' ' ')
set -- $per
ok "$([ $# -eq 2 ] && in_range "${1%.*}" $((2048 * 512 * 60 / 100)) $((2048 * 512 * 150 / 100)) &&
	in_range "${2%.*}" $((4096 * 512 * 60 / 100)) $((4096 * 512 * 150 / 100)); echo $?)" \
	"heap, a tree: each child's inuse is its own live ring, read at its exit ($per; want 1048576 2097152)"

# threads born while it runs, and the processes it starts (inherited)
run_cprof record -t allocs --rate 4096 -o "$TMP/t.pb.gz" -- "$T/heapmix" -n 1024 -T -x 2
is "$rc" 0 "threads: exit 0"
like "$(pprof_top "$TMP/t.pb.gz")" "worker_alloc" "threads: the new threads' allocations are sampled"
run_cprof record -t allocs --rate 4096 -o "$TMP/tree.pb.gz" -- \
	sh -c "'$T/heapmix' -n 1024 -x 2 & '$T/heapmix' -n 1024 -x 2 & wait"
is "$rc" 0 "a tree: exit 0"
pids=$(pprof -top -nodecount=1000 -tagfocus comm=heapmix -tagroot pid "$TMP/tree.pb.gz" | awk '$NF ~ /^[0-9]+$/' | wc -l)
is "$pids" 2 "a tree: both children sampled themselves (by pid)"
like "$(pprof -raw "$TMP/tree.pb.gz")" "$INPROC" "a tree: in the processes"

# the environment: the library first, the user's preloads kept, the rate
run_cprof record -t allocs --rate 8192 -o "$TMP/e.pb.gz" -- sh -c 'echo "[$LD_PRELOAD] [$CPROF_HEAP_RATE]"'
like "$(cat "$TMP/out")" "^\[[^]:]*/libcprof-heap\.so\] \[8192\]$" "the command's environment: LD_PRELOAD and the rate"
# (an ASan cprof refuses to start behind a preload unless told)
ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 LD_PRELOAD=libm.so.6 \
	run_cprof record -t allocs -o "$TMP/e.pb.gz" -- sh -c 'echo "[$LD_PRELOAD]"'
like "$(cat "$TMP/out")" "^\[[^]:]*/libcprof-heap\.so:libm\.so\.6\]$" "a user's LD_PRELOAD is kept, after the library"
run_cprof record -t allocs --no-preload -o "$TMP/e.pb.gz" -- sh -c 'echo "[$LD_PRELOAD]"'
is "$(cat "$TMP/out")" "[]" "--no-preload: nothing preloaded"
run_cprof record -t allocs --no-preload --rate 4096 -o "$TMP/np.pb.gz" -- "$T/heapmix" -n 1024 -x 2
is "$rc" 0 "--no-preload: exit 0"
unlike "$(pprof -raw "$TMP/np.pb.gz")" "$INPROC" "--no-preload: the allocator is probed"
like "$(pprof_top "$TMP/np.pb.gz")" " churn$" "--no-preload: churn allocates"
run_cprof record -t cpu -o "$TMP/e.pb.gz" -- sh -c 'echo "[$LD_PRELOAD]"'
is "$(cat "$TMP/out")" "[]" "cpu: nothing preloaded"

# a static program: nothing can be preloaded; probed, and said
run_cprof record -t allocs --rate 4096 -o "$TMP/s.pb.gz" -- "$T/heapmix-static" -n 1024 -x 2
is "$rc" 0 "static: exit 0"
like "$err" "every allocator call is probed: the program defines malloc itself" "static: says why it probes every call"
like "$(pprof -raw "$TMP/s.pb.gz")" "libcprof-heap.so was preloaded but every allocator call is probed" \
	"static: the comment says so too"
above "$(samples_of)" 0 "static: its allocations are seen"

# the program's behaviour is unchanged: real programs' outputs compared
seq 200000 | awk 'BEGIN { srand(7) } { print int(rand() * 1000000), $0 }' >"$TMP/in.txt"
sort -n "$TMP/in.txt" | md5sum >"$TMP/want"
run_cprof record -t heap -o "$TMP/sort.pb.gz" -- sh -c "sort -n '$TMP/in.txt' | md5sum"
is "$(cat "$TMP/out")" "$(cat "$TMP/want")" "sort under -t heap: the same output"
if command -v python3 >/dev/null; then
	py='import json, collections; d = collections.OrderedDict((str(i), [i] * (i % 7)) for i in range(100000)); print(len(json.dumps(d)), sum(map(len, d.values())))'
	want=$(python3 -c "$py")
	run_cprof record -t allocs -o "$TMP/py.pb.gz" -- python3 -c "$py"
	is "$(cat "$TMP/out")" "$want" "python3 under -t allocs: the same output"
	like "$(pprof_top "$TMP/py.pb.gz")" "PyObject_Malloc|PyMem_Malloc|_PyObject|list_|dict" \
		"python3: its allocating functions are named"
else
	skip "python3 is not installed"
	skip "python3 is not installed"
fi

# OpenTelemetry's memory-profiling USDT contract: the library's SDT probes
# otel_memory:alloc(ptr, size, weight) and :free(ptr), read by gdb, a
# consumer of .note.stapsdt; at CPROF_HEAP_RATE=1 every allocation is
# sampled and weighs its size
if command -v gdb >/dev/null; then
	is "$(gdb -batch -ex 'info probes stap otel_memory' "$B/libcprof-heap.so" 2>&1 |
		awk '$1 == "stap" && $2 == "otel_memory" { print $3 }' | sort | tr '\n' ' ')" "alloc free " \
		"OpenTelemetry contract: the library has otel_memory:alloc and :free"
	out=$(timeout 120 gdb -batch -ex "set environment LD_PRELOAD=$B/libcprof-heap.so" \
		-ex 'set environment CPROF_HEAP_RATE=1' -ex 'set breakpoint pending on' \
		-ex 'break -probe-stap otel_memory:alloc' -ex run \
		-ex 'printf "args %d size %lu weight %lu\n", $_probe_argc, $_probe_arg1, $_probe_arg2' \
		-ex 'printf "ptr %d\n", $_probe_arg0 == (unsigned long)ptr' -ex kill \
		--args "$T/heapmix" -n 16 -x 1 2>&1 | tr '\n' ' ')
	like "$out" "args 3 size ([1-9][0-9]*) weight \1 ptr 1 " \
		"OpenTelemetry contract: a sampled allocation fires alloc with its pointer, size and weight"
else
	skip "gdb is not installed"
	skip "gdb is not installed"
fi

# attached to a process that samples itself, only its samples are
# probed and nothing is loaded: one started with the library (a user's
# LD_PRELOAD: its rate is read from it, the blocks still allocated too) ...
start_target L env LD_PRELOAD="$B/libcprof-heap.so" CPROF_HEAP_RATE=4096 "$T/heapmix" -n 1024 || exit 1
run_cprof record -t allocs -d 2s -p "$L" -o "$TMP/la.pb.gz"
is "$rc" 0 "attached, started with the library: exit 0"
like "$err" "libcprof-heap.so samples the process's allocations itself, one per 4096 bytes" \
	"attached, started with the library: its rate is read from it"
n=$(samples_of)
within "$(share_of "$TMP/la.pb.gz" alloc_space churn)" 75 "$(tol_of 0.75 "$n")" \
	"attached, started with the library: churn has 75% of the bytes ($n samples)"
is "$(flat_of "$TMP/la.pb.gz" | tr '\n' ' ')" "churn keep " \
	"attached, started with the library: churn and keep are the leaves"
like "$(pprof -raw "$TMP/la.pb.gz")" "libcprof-heap.so, which the process was started with" \
	"attached, started with the library: the comment says so"
run_cprof record -t heap -d 2s -p "$L" -o "$TMP/lh.pb.gz"
live=$(inuse_of "$TMP/lh.pb.gz")
want=$((1024 * 512))
ok "$(in_range "$live" $((want * 60 / 100)) $((want * 150 / 100)); echo $?)" \
	"attached, started with the library: inuse is the live ring, read from it ($live of $want)"
kill "$L"

# ... and one with OpenTelemetry's otel_memory probes of its own, each
# behind a semaphore that the kernel raises while cprof's probe is in
start_target O "$T/otelmix" -r 16384 -n 4096 || exit 1
sems() { kill -USR1 "$O" && read_line "$O_fd"; }
is "$(sems)" "semaphores 0 0" "otel_memory: unprobed, the semaphores are 0"
run_cprof record -t allocs -d 2s -p "$O" -o "$TMP/oa.pb.gz"
is "$rc" 0 "otel_memory, allocs: exit 0"
like "$err" "otelmix samples the process's allocations itself \(OpenTelemetry's otel_memory probes\)" \
	"otel_memory, allocs: its probes are used, and said"
n=$(samples_of)
above "${n:-0}" 50 "otel_memory, allocs: samples (fired only with the semaphore raised)"
within "$(share_of "$TMP/oa.pb.gz" alloc_space churn)" 75 "$(tol_of 0.75 "$n")" \
	"otel_memory, allocs: churn has 75% of the bytes, by the probe's weights ($n samples)"
is "$(flat_of "$TMP/oa.pb.gz" | tr '\n' ' ')" "churn keep " \
	"otel_memory, allocs: the sampler's frame dropped, churn and keep the leaves"
like "$(pprof -raw "$TMP/oa.pb.gz")" "fires OpenTelemetry's otel_memory:alloc probe" \
	"otel_memory, allocs: the comment says so"
is "$(sems)" "semaphores 0 0" "otel_memory: cprof gone, the kernel took the semaphores back"
# (every sampled free traps: ~1000/s; the budget is not the question here)
run_cprof record -t heap --max-overhead 100 -d 2s -p "$O" -o "$TMP/oh.pb.gz"
is "$rc" 0 "otel_memory, heap: exit 0"
live=$(inuse_of "$TMP/oh.pb.gz")
want=$((4096 * 512))
ok "$(in_range "$live" $((want * 60 / 100)) $((want * 150 / 100)); echo $?)" \
	"otel_memory, heap: inuse is the live ring, by otel_memory:free ($live of $want)"
run_cprof record -t allocs --no-preload -d 1s -p "$O" -o "$TMP/on.pb.gz"
unlike "$err" "samples the process's allocations itself" "otel_memory, --no-preload: the allocator is probed"
# (no budget: a machine whose kernel single-steps the nop could refuse
# heap for its frees before the semaphores are seen)
"$CPROF" record -q -t heap --max-overhead 100 -d 60s -p "$O" -o "$TMP/ok.pb.gz" & cp=$!
wait_until "$WAIT" eval '[ "$(sems)" = "semaphores 1 1" ]'
ok $? "otel_memory: while cprof records, each semaphore is raised once"
kill -KILL "$cp"; wait "$cp" 2>/dev/null
wait_until "$WAIT" eval '[ "$(sems)" = "semaphores 0 0" ]'
ok $? "otel_memory: cprof SIGKILLed, the semaphores go back to 0"
kill "$O"

# cprof SIGKILLed: the command runs on, at full speed, to the same end
"$CPROF" record -q -t heap --rate 4096 -o "$TMP/k.pb.gz" -- \
	sh -c "sort -n '$TMP/in.txt' >'$TMP/k.out'; '$T/heapmix' -n 1024 -x 1 >/dev/null; echo done >'$TMP/k.done'" & cp=$!
# (heapmix started by this test's shell: another test's may be running)
wait_until "$WAIT" eval '[ -n "$(for s in $(pgrep -f "$TMP/k.done"); do pgrep -P "$s" -x heapmix; done)" ]'
kill -KILL "$cp"; wait "$cp" 2>/dev/null
wait_until "$WAIT" eval '[ -e "$TMP/k.done" ]'
ok $? "cprof SIGKILLed: the command ran to its end"
is "$(md5sum <"$TMP/k.out")" "$(cat "$TMP/want")" "cprof SIGKILLed: with the same output"
done_testing
