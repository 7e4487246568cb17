#!/bin/bash
# heap and allocs: kernel uprobes on the allocator (attach/heap.c), read
# without stopping the target.  heapmix's truth is known: churn() makes
# 3/4 of the bytes and frees them at once, keep() 1/4 and keeps the last
# RING blocks (RING x 512 bytes live).  The target runs on after cprof,
# also after a SIGKILLed cprof, and every allocator function still works.
. "$(dirname "$0")/lib.sh"

# the "N samples" of cprof's summary line
samples_of() { sed -n 's/^cprof: \([0-9]*\) samples,.*/\1/p' "$TMP/err"; }
# a sample type's total (bytes or count) and one function's share of it
total_of() {
	pprof -raw -sample_index="$2" "$1" >/dev/null || return
	pprof -top -nodefraction=0 -unit=B -sample_index="$2" "$1" |
		sed -n 's/^Showing nodes accounting for \([0-9.]*\)B.*/\1/p'
}
share_of() { pprof_top "$1" -sample_index="$2" | awk -v f="$3" '$NF == f { sub("%", "", $5); print $5 }'; }
# the four-sigma half-width, in points, of a share p measured over n samples
tol_of() { awk -v p="$1" -v n="$2" 'BEGIN { if (n < 1) n = 1; t = 400 * sqrt(p * (1 - p) / n); printf "%.2f", t < 1 ? 1 : t }'; }
# ... and of churn's share of the objects estimated from n samples taken at
# --rate r: each sample stands for 1/p objects, p = 1 - e^(-size/r), so a
# small block's sample weighs much more than a binomial count assumes.
# With equal calls C = K = N from each site, the share C / (C + K) has
# variance (Var C + Var K) / (4N)^2, Var = N x mean((1 - p) / p) over
# heapmix's cycle of sizes (32 + 64k, k < 16; churn takes 3x each).
objs_tol() { awk -v n="$1" -v r="$2" 'BEGIN {
	for (k = 0; k < 16; k++) {
		s = 32 + 64 * k; pk = 1 - exp(-s / r); pc = 1 - exp(-3 * s / r)
		P += (pk + pc) / 16; V += ((1 - pk) / pk + (1 - pc) / pc) / 16
	}
	N = (n < 1 ? 1 : n) / P; t = 400 * sqrt(N * V) / (4 * N)
	printf "%.2f", t < 1 ? 1 : t }'; }
# the functions with flat values, one a line (inline and glibc's aliases
# of malloc as one)
flat_of() { pprof_top "$1" -nodefraction=0 "${@:2}" | awk '$1 ~ /^[0-9.]+[a-zA-Z]*$/ && $1 + 0 > 0 && $2 ~ /%$/ {
	name = $6; for (i = 7; i <= NF; i++) name = name " " $i; sub(" \\(inline\\)$", "", name)
	if (name ~ /^(__GI___libc_malloc|__libc_malloc|malloc)$/) name = "malloc"; print name }' | sort -u; }
in_range() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x >= lo && x <= hi) }'; }
CHECKED="malloc free calloc realloc posix_memalign aligned_alloc valloc pvalloc reallocarray"

start_target P "$T/heapmix" -n 4096 || exit 1
run_cprof record -t allocs -d 200ms -p "$P" -o "$TMP/probe.pb.gz"
if [ "$rc" != 0 ] && grep -q 'perf_event_open' "$TMP/err"; then
	skip_all "perf_event_open of a uprobe refused here: $err"
fi

# refused: says what to grant, and the target is left alone
if command -v setpriv >/dev/null; then
	run_cprof_as() { setpriv --inh-caps=-sys_admin,-perfmon --bounding-set=-sys_admin,-perfmon "$CPROF" "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?; err=$(cat "$TMP/err"); }
	run_cprof_as record -t allocs -d 1s -p "$P" -o "$TMP/denied.pb.gz"
	is "$rc" 1 "without CAP_SYS_ADMIN: exit 1"
	like "$err" "perf_event_open\(uprobe\): (Permission denied|Operation not permitted): needs CAP_SYS_ADMIN" \
		"without CAP_SYS_ADMIN: names the call and what to grant"
	wait_until "$WAIT" eval '! traced "$P"'
	is "$?" 0 "without CAP_SYS_ADMIN: the target is not left traced"
fi

# allocs: 3/4 of the bytes from churn, with as many calls from each
run_cprof record -t allocs --rate 4096 -d 3s -p "$P" -o "$TMP/allocs.pb.gz"
is "$rc" 0 "allocs: exit 0"
cp "$TMP/err" "$TMP/allocs.err"
n=$(samples_of)
raw=$(pprof -raw "$TMP/allocs.pb.gz")
like "$raw" "alloc_objects/count alloc_space/bytes(\[dflt\])? inuse_objects/count inuse_space/bytes" \
	"allocs: Go's four sample types"
like "$(pprof -top "$TMP/allocs.pb.gz" | head -20)" "Type: alloc_space" "allocs: alloc_space is the default"
like "$raw" "bytes:\[[0-9]+\]" "allocs: a numeric bytes label"
churn=$(share_of "$TMP/allocs.pb.gz" alloc_space churn)
tol=$(tol_of 0.75 "$n")
diag "allocs: $n samples, churn $churn% of the bytes (4 sigma: $tol points)"
if awk -v t="$tol" 'BEGIN { exit !(t <= 3) }'; then tol=3; fi
within "$churn" 75 "$tol" "allocs: churn has 75% of the bytes (keep 25%), within $tol points"
objs=$(share_of "$TMP/allocs.pb.gz" alloc_objects churn)
within "$objs" 50 "$(objs_tol "$n" 4096)" "allocs: and half the objects"
# allocation sites are the leaves (Go's heap profile hides its runtime):
# churn and keep hold the flat bytes, not malloc
is "$(flat_of "$TMP/allocs.pb.gz" | sort | tr '\n' ' ')" "churn keep " \
	"allocs: the allocating functions are the leaves, the allocator's frames dropped"
like "$raw" "allocation sites are the leaves: .* dropped from the top of each stack, [1-9][0-9]* frames from [1-9][0-9]* samples" \
	"allocs: the comment says what was dropped"
above "${n:-0}" 300 "allocs: samples taken"

# --duty: the probes in place in windows a share of the time, the calls
# seen there scaled to the whole: the same split, the same total
all=$(total_of "$TMP/allocs.pb.gz" alloc_space)
run_cprof record -t allocs --rate 4096 --duty 0.3 -d 4s -p "$P" -o "$TMP/duty.pb.gz"
is "$rc" 0 "allocs --duty 0.3: exit 0"
n=$(samples_of)
like "$(pprof -raw "$TMP/duty.pb.gz")" "--duty: probes in place [0-9.]+% of the recording, in [1-9][0-9]* windows" \
	"allocs --duty: the comment says how much was probed"
like "$err" "probed [0-9.]+% of the time \([0-9]+ windows\)" "allocs --duty: and the summary"
within "$(share_of "$TMP/duty.pb.gz" alloc_space churn)" 75 "$(tol_of 0.75 "$n")" "allocs --duty: churn has 75% of the bytes ($n samples)"
per_sec() { awk -v b="$1" -v s="$2" 'BEGIN { if (b != "") printf "%d", b / s }'; }
a=$(per_sec "$all" 3); d=$(per_sec "$(total_of "$TMP/duty.pb.gz" alloc_space)" 4)
ok "$(in_range "${d:-0}" $((${a:-0} * 75 / 100)) $((${a:-0} * 125 / 100)); echo $?)" \
	"allocs --duty: bytes a second within 25% of every call's ($d, $a)"

# allocs probes each process through BPF uprobe links where the kernel has
# them (Linux 6.6, root), the sampling draw made in the kernel; --no-bpf:
# perf uprobe events, a set per thread, every call recorded and drawn by
# cprof.  The same split and the same bytes a second either way.
if grep -q "per-thread uprobe events instead" "$TMP/allocs.err"; then
	# (no links here: refused, a pid namespace, or a kernel whose links
	# see one thread; cprof said which)
	skip "allocs: $(grep -o '[^:]*: per-thread uprobe events instead' "$TMP/allocs.err" | head -1)"
else
	like "$(pprof -raw "$TMP/allocs.pb.gz")" \
		"probed through BPF uprobe links, one a process and file \([1-9][0-9]* made\)" \
		"allocs: through BPF links (the comment says)"
fi
run_cprof record -t allocs --no-bpf --rate 4096 -d 3s -p "$P" -o "$TMP/nobpf.pb.gz"
is "$rc" 0 "allocs --no-bpf: exit 0"
n=$(samples_of)
unlike "$(pprof -raw "$TMP/nobpf.pb.gz")" "BPF uprobe links" "allocs --no-bpf: no link"
within "$(share_of "$TMP/nobpf.pb.gz" alloc_space churn)" 75 "$(tol_of 0.75 "$n")" \
	"allocs --no-bpf: churn has 75% of the bytes ($n samples)"
p=$(per_sec "$(total_of "$TMP/nobpf.pb.gz" alloc_space)" 3)
ok "$(in_range "${p:-0}" $((${a:-0} * 75 / 100)) $((${a:-0} * 125 / 100)); echo $?)" \
	"allocs --no-bpf: bytes a second within 25% of the default's ($p, $a)"
run_cprof record -t cpu --duty 0.3 -d 1s -p "$P" -o "$TMP/none.pb.gz"
is "$rc" 2 "cpu --duty: a usage error (no probes to window)"
# heap --duty: the frees stay in place; a thread born in a pause gets them
# at once (heapmix -T starts one every 0.1 s)
start_target D "$T/heapmix" -n 1024 -T || exit 1
run_cprof record -t heap --rate 4096 --duty 0.3 -d 4s -p "$D" -o "$TMP/hduty.pb.gz"
is "$rc" 0 "heap --duty 0.3: exit 0"
like "$err" "probed [0-9.]+% of the time \([1-9][0-9]* windows\)" "heap --duty: windows were probed"
like "$(pprof_top "$TMP/hduty.pb.gz" -sample_index=alloc_space)" "worker_alloc" \
	"heap --duty: threads born during the recording are seen"
kill -USR1 "$D"
is "$(read_line "$D_fd")" "malloc ok" "heap --duty: malloc still works"
run_cprof record -t allocs --duty 0 -d 1s -p "$P" -o "$TMP/none.pb.gz"
is "$rc" 2 "allocs --duty 0: a usage error"

# --max-overhead (default 5%): a probed call's cost is measured at the
# start, the calls counted, and each --duty window's duty follows what the
# last one cost the busiest thread.  heapmix's 16k allocations a second
# cost its thread ~10% at ~6 us a call on a VM that forwards traps.
run_cprof record -t allocs --rate 4096 -d 4s -p "$P" -o "$TMP/budget.pb.gz"
is "$rc" 0 "allocs, default budget: exit 0"
n=$(samples_of)
like "$err" "estimated slowdown [0-9.]+% \(budget 5%\), (probes in all along|probed [0-9.]+% of the time \([1-9][0-9]* windows\))" \
	"allocs, default budget: the summary says the estimated slowdown, the budget and the share probed"
like "$(pprof -raw "$TMP/budget.pb.gz")" "--max-overhead 5%: a probed call costs [0-9.]+ us here \(measured at the start\)" \
	"allocs, default budget: the comment says what a call costs here"
slow=$(sed -n 's/.*estimated slowdown \([0-9.]*\)% (budget 5%).*/\1/p' "$TMP/err")
# the first window is whole (0.5 s at the full cost): an eighth of 4 s
ok "$(awk -v s="$slow" 'BEGIN { exit !(s != "" && s <= 10) }'; echo $?)" \
	"allocs, default budget: estimated slowdown within twice the budget ($slow%)"
within "$(share_of "$TMP/budget.pb.gz" alloc_space churn)" 75 "$(tol_of 0.75 "$n")" \
	"allocs, default budget: churn has 75% of the bytes ($n samples)"
# heap's frees are probed all along: where they alone take the budget,
# cprof stops, says so with the numbers, and writes what it has
run_cprof record -t heap --rate 4096 --max-overhead 0.5 -d 20s -p "$P" -o "$TMP/over.pb.gz"
is "$rc" 3 "heap, frees over the budget: cut short (exit 3)"
like "$err" "heap: the frees alone cost the target about [0-9]+% \([0-9]+ calls/s on its busiest thread, [0-9.]+ us each here\), over --max-overhead 0.5%: stopped after [0-9.]+s" \
	"heap, frees over the budget: says why, with the numbers"
like "$err" "-t allocs follows no frees, or allow more with --max-overhead [0-9]+" \
	"heap, frees over the budget: and what to do"
is "$(pprof -raw "$TMP/over.pb.gz" >/dev/null; echo $?)" 0 "heap, frees over the budget: what came before is written"
wait_until "$WAIT" eval '! traced "$P"'
is "$?" 0 "heap, frees over the budget: the target is not left traced"
run_cprof record -t allocs --max-overhead 0 -d 1s -p "$P" -o "$TMP/none.pb.gz"
is "$rc" 2 "--max-overhead 0: a usage error"

# heap: what is live at the end is keep's ring
run_cprof record -t heap --rate 4096 --max-overhead 100 -d 3s -p "$P" -o "$TMP/heap.pb.gz"
is "$rc" 0 "heap: exit 0"
like "$(pprof -top "$TMP/heap.pb.gz" | head -20)" "Type: inuse_space" "heap: inuse_space is the default"
keep=$(share_of "$TMP/heap.pb.gz" inuse_space keep)
ok "$(in_range "$keep" 95 100; echo $?)" "heap: keep holds >= 95% of inuse_space ($keep%)"
live=$(total_of "$TMP/heap.pb.gz" inuse_space)
want=$((4096 * 512))
diag "heap: inuse $live bytes, $want live in keep's ring; $(grep -o '[0-9]* records lost' "$TMP/err")"
ok "$(in_range "$live" $((want * 85 / 100)) $((want * 115 / 100)); echo $?)" \
	"heap: inuse total within 15% of the live bytes ($live of $want)"
like "$(pprof -raw "$TMP/heap.pb.gz")" "heap: allocations made while cprof recorded" "heap: the comment says what is seen"

# text: Go's heap format, read back by pprof
run_cprof record -t heap -f text --rate 4096 --max-overhead 100 -d 1s -p "$P" -o "$TMP/heap.txt"
is "$rc" 0 "heap -f text: exit 0"
like "$(head -1 "$TMP/heap.txt")" "^heap profile: [0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @ heap" "heap -f text: Go's header"
pprof -raw "$TMP/heap.txt" >"$TMP/heap.raw"
is "$?" 0 "heap -f text: go tool pprof reads it back"
like "$(cat "$TMP/heap.raw")" "inuse_space/bytes" "heap -f text: as a heap profile"

# never harm: no breakpoint left, every allocator function works
out=$(python3 "$TOP/tests/codebytes.py" "$P" $CHECKED)
is "$?" 0 "after cprof: the code of every probed function equals the file's"
kill -USR1 "$P"
is "$(read_line "$P_fd")" "malloc ok" "after cprof: malloc and friends still work"

trials=${CPROF_HEAP_KILLS:-3}
[ -n "${CPROF_TORTURE:-}" ] && trials=20
code_intact() { python3 "$TOP/tests/codebytes.py" "$P" $CHECKED >/dev/null; }
# Every other kill lands after a Ctrl-C, while cprof takes its probes out
# (each takes the kernel 30-265 ms).  The probes are owned by cprof's
# keeper process (attach/keeper.h), which removes them after cprof's
# death: the code is checked until it is the file's again, bounded.
# The kernel also says when it gives up taking a probe out ("uprobe:
# COMM:TID failed to unregister, leaking uprobe"): the uprobe then stays
# until reboot, whatever the bytes look like (before cprof-keeper, one
# run of the 20 kills printed it 27 times, 3 at a time, and the code
# check failed once).
kernel_leaks() { dmesg 2>/dev/null | grep -c 'cprof[^ ]*:[0-9]* failed to unregister'; }
leaks_before=$(kernel_leaks)
bad=""
for i in $(seq "$trials"); do
	# heap probed all along, heap with --duty (killed in a window or in
	# a pause), allocs under the default budget (while the duty changes)
	case $((i % 3)) in
	1) how="-t heap --max-overhead 100" ;;
	2) how="-t heap --duty 0.5" ;;
	0) how="-t allocs" ;;
	esac
	"$CPROF" record -q $how --rate 4096 -p "$P" -o "$TMP/k.pb.gz" 2>/dev/null & cp=$!
	wait_until "$WAIT" traced "$P"
	nap "0.$((RANDOM % 50))"
	if [ $((i % 2)) = 0 ]; then
		kill -INT $cp
		nap "0.$((RANDOM % 30))"
	fi
	kill -KILL $cp
	wait $cp 2>/dev/null
	wait_until "$WAIT" eval '! traced "$P"' || bad="$bad $i:traced"
	wait_until "$WAIT" code_intact || bad="$bad $i:code"
	kill -0 "$P" 2>/dev/null || { bad="$bad $i:dead"; break; }
	kill -USR1 "$P"
	[ "$(read_line "$P_fd")" = "malloc ok" ] || bad="$bad $i:malloc"
done
is "$bad" "" "cprof SIGKILLed $trials times during -t heap and allocs (half after a Ctrl-C; all along, in --duty windows, under the budget): the target runs on, untraced, code intact, malloc works"
if dmesg >/dev/null 2>&1; then
	wait_until "$WAIT" eval '! pgrep -x cprof-keeper >/dev/null'
	is "$(kernel_leaks)" "$leaks_before" "and the kernel says it leaked no uprobe (dmesg)"
else
	skip "dmesg cannot be read here: the kernel's word on leaked uprobes is not checked"
fi

# probe:SYMBOL: the stacks that called a function, every call or one in N
run_cprof record -t probe:libc.so.6:free -d 1s -p "$P" -o "$TMP/free.pb.gz"
is "$rc" 0 "probe:libc.so.6:free: exit 0"
like "$(pprof -raw "$TMP/free.pb.gz")" "calls/count" "probe: sample type calls/count"
n=$(samples_of)
within "$(share_of "$TMP/free.pb.gz" calls churn)" 50 "$(tol_of 0.5 "$n")" "probe: churn and keep free as often ($n calls)"
run_cprof record -t probe:keep --every 10 -d 1s -p "$P" -o "$TMP/keep.pb.gz"
is "$rc" 0 "probe:keep (a static function of the program) --every 10: exit 0"
like "$(pprof_top "$TMP/keep.pb.gz")" "main" "probe:keep: called from main"
run_cprof record -t probe:no_such_function -d 1s -p "$P" -o "$TMP/none.pb.gz"
is "$rc" 1 "probe: a function that does not exist: exit 1"
like "$err" "no function no_such_function" "probe: says so"
like "$("$CPROF" profiles)" "probe .*calls/count" "cprof profiles lists probe"

# pair:ACQUIRE,RELEASE: objects ACQUIRE returned that RELEASE was not yet
# given.  On the allocator it is heap by objects: churn's blocks are
# released at once, keep's stay in the ring until it turns over.
run_cprof record -t pair:malloc,libc.so.6:free --max-overhead 100 -d 2s -p "$P" -o "$TMP/pair.pb.gz"
is "$rc" 0 "pair:malloc,libc.so.6:free: exit 0"
n=$(samples_of)
raw=$(pprof -raw "$TMP/pair.pb.gz")
like "$raw" "acquired/count live/count\[dflt\]" "pair: sample types acquired and live, live the default"
within "$(share_of "$TMP/pair.pb.gz" acquired churn)" 50 "$(tol_of 0.5 "$n")" "pair: churn and keep acquire as often ($n calls)"
keep=$(share_of "$TMP/pair.pb.gz" live keep)
ok "$(in_range "$keep" 95 100; echo $?)" "pair: keep holds >= 95% of the live objects ($keep%)"
# live at the end: the ring's blocks malloc'ed while cprof recorded
live=$(printf '%s\n' "$raw" | awk '/^ *[0-9]+ +[0-9]+: / { t += $2 } END { print t + 0 }')
acq=$(pprof_top "$TMP/pair.pb.gz" -sample_index=acquired | awk '$NF == "keep" { print $4 }')
want=$(( ${acq:-0} < 4096 ? ${acq:-0} : 4096 ))
# a release record the ring had no room for leaves its object live: the
# summary counts them, and each can add one (issue 26: not lose them).  On
# a loaded 2-core machine 38-55k were lost and live read 7000-9900.
lost=$(printf '%s\n' "$err" | sed -n 's/.* \([0-9][0-9]*\) records lost.*/\1/p')
ok "$(in_range "$live" $((want * 85 / 100)) $((want * 115 / 100 + ${lost:-0})); echo $?)" \
	"pair: live objects within 15% of the ring's new blocks, plus one per lost record ($live of $want, ${lost:-0} lost)"
like "$raw" "live: their results not passed to libc.so.6:free by its end" "pair: the comment says what live is"
is "$(flat_of "$TMP/pair.pb.gz" -sample_index=acquired | tr '\n' ' ')" "churn keep " "pair: the callers of malloc are the leaves"
run_cprof record -t pair:malloc,free -f text --max-overhead 100 -d 1s -p "$P" -o "$TMP/pair.txt"
like "$(head -1 "$TMP/pair.txt")" "^pair profile: total [0-9]+$" "pair -f text: Go's count profile, of the live objects"
is "$(pprof -raw "$TMP/pair.txt" >/dev/null; echo $?)" 0 "pair -f text: go tool pprof reads it back"
run_cprof record -t pair:malloc -d 1s -p "$P" -o "$TMP/none.pb.gz"
is "$rc" 2 "pair: one function only: a usage error"
like "$err" "pair:ACQUIRE,RELEASE" "pair: one function only: says the form"
run_cprof record -t pair:malloc,no_such_release -d 1s -p "$P" -o "$TMP/none.pb.gz"
is "$rc" 1 "pair: a function that does not exist: exit 1"
like "$err" "no function no_such_release" "pair: names it"
like "$("$CPROF" profiles)" "pair .*acquired/count, live/count \(record -t pair:ACQUIRE,RELEASE\)" "cprof profiles lists pair"

# threads born while cprof records get their probes
start_target W "$T/heapmix" -n 1024 -T || exit 1
run_cprof record -t heap --rate 4096 -d 2s -p "$W" -o "$TMP/threads.pb.gz"
is "$rc" 0 "new threads: exit 0"
like "$(pprof_top "$TMP/threads.pb.gz" -sample_index=alloc_space)" "worker_alloc" \
	"new threads: allocations of threads born during the recording are seen"
kill -USR1 "$W"
is "$(read_line "$W_fd")" "malloc ok" "new threads: malloc still works, pthread_create too"

# C++: new/delete through libstdc++ into malloc
start_target C "$T/cxxheap" || exit 1
run_cprof record -t allocs --rate 4096 -d 2s -p "$C" -o "$TMP/cxx.pb.gz"
is "$rc" 0 "c++ allocs: exit 0"
top=$(pprof_top "$TMP/cxx.pb.gz")
like "$top" "build_tree" "c++ allocs: build_tree allocates"
like "$top" "churn_vectors" "c++ allocs: churn_vectors allocates"
flat=$(flat_of "$TMP/cxx.pb.gz")
unlike "$flat" "operator new|malloc" "c++ allocs: neither operator new nor malloc is a leaf"
like "$flat" "allocate|_M_construct|_M_create|build_tree|churn_vectors" \
	"c++ allocs: the code that called operator new is ($(echo $flat | tr '\n' ','))"
run_cprof record -t allocs --allocator-frames --rate 4096 -d 1s -p "$C" -o "$TMP/cxxf.pb.gz"
is "$rc" 0 "c++ allocs --allocator-frames: exit 0"
is "$(flat_of "$TMP/cxxf.pb.gz")" "malloc" "c++ allocs --allocator-frames: every stack begins in malloc"
like "$(pprof_top "$TMP/cxxf.pb.gz")" "operator new" "c++ allocs --allocator-frames: through operator new"
like "$(pprof -raw "$TMP/cxxf.pb.gz")" "--allocator-frames: stacks begin in the allocator's own frames" \
	"c++ allocs --allocator-frames: the comment says so"
run_cprof record -t heap --rate 4096 --max-overhead 100 -d 2s -p "$C" -o "$TMP/cxxh.pb.gz"
is "$rc" 0 "c++ heap: exit 0"
like "$(pprof_top "$TMP/cxxh.pb.gz" -sample_index=inuse_space)" "build_tree" "c++ heap: the tree is what stays live"
kill -0 "$C" 2>/dev/null
is "$?" 0 "c++: the target runs on"

# launch mode: the allocator is found once the loader maps it
run_cprof record -t allocs --rate 4096 -o "$TMP/launch.pb.gz" -- "$T/heapmix" -n 1024 -x 2
is "$rc" 0 "launch: exit 0 (the command's)"
like "$(pprof_top "$TMP/launch.pb.gz")" "churn" "launch: allocs of a command cprof starts"

# a launched shell's children (followed): each process's stacks unwound
# in its own maps, told apart by pid
run_cprof record -t allocs --rate 4096 -o "$TMP/tree.pb.gz" -- \
	sh -c "'$T/heapmix' -n 1024 -x 2 & '$T/heapmix' -n 1024 -x 2 & wait"
is "$rc" 0 "a tree: exit 0"
like "$err" "in [0-9]+ processes" "a tree: the processes are counted"
pids=$(pprof -top -nodecount=1000 -tagroot pid "$TMP/tree.pb.gz" | awk '$NF ~ /^[0-9]+$/' | wc -l)
is "$pids" 2 "a tree: allocations of both heapmix children, by pid"
like "$(pprof_top "$TMP/tree.pb.gz" -tagfocus comm=heapmix)" " churn$" "a tree: the children's stacks unwound (churn)"

done_testing
