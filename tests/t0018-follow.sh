#!/bin/bash
# Whole jobs: a command's children are followed (fork, vfork, posix_spawn,
# the programs they exec), each process with its own address space and
# labels pid and comm on every sample; the tree is left as it was (exit
# statuses as each parent's wait sees them, SIGCHLD, nothing traced or
# stopped, also when cprof is SIGKILLed); a short-lived child's cpu is
# in the profile.
. "$(dirname "$0")/lib.sh"

# tree_of PID: PID and its descendants, one a line
tree_of() {
	local c
	echo "$1"
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree_of "$c"; done
}
kids_cpu() {	# kids_cpu PID: cutime+cstime (ticks); huge once it is gone
	local s
	read -r s 2>/dev/null </proc/"$1"/stat || { echo 99999; return; }
	set -- $s
	echo $((${16:-99999} + ${17:-0}))
}
kids_at_least() {	# kids_at_least PID TICKS
	local v
	v=$(kids_cpu "$1")
	[ "${v:-0}" -ge "$2" ] 2>/dev/null
}
tree_ok() {	# every process of the tree untraced and not stopped
	local p
	for p in "$@"; do
		[ -d /proc/"$p" ] || continue
		all_untraced "$p" && none_stopped "$p" || return 1
	done
}
# traces_without LABEL FILE: how many -traces entries lack that label
traces_without() {
	pprof -traces "$2" | awk -v l="$1:" '
		/^-+\+-+$/ { if (lines && !has) n++; on = 1; has = lines = 0; next }
		on { lines++ }
		on && $1 == l { has = 1 }
		END { if (lines && !has) n++; print n + 0 }'
}

# 1. A tree of different programs: a shell starting burn (all in work_a),
# burn-nopie (another binary, all in work_b) and forktree (children that
# fork, vfork+exec and spawn), each told apart by its labels.
tree="$T/burn -s 2 -r 100:0:0 >/dev/null & $T/burn-nopie -s 2 -r 0:100:0 >/dev/null &
      $T/forktree -n 1 -s 2 -w 5 >/dev/null; wait"
run_cprof record -o "$TMP/tree.pb.gz" -- sh -c "$tree"
is "$rc" 0 "a tree of programs: exit 0"
like "$err" "in [0-9]+ processes" "the summary counts the processes"
top=$(pprof_top "$TMP/tree.pb.gz" -nodefraction=0)
like "$top" " work_a$" "-top: burn's work_a (a child of the shell)"
like "$top" " fork_work$" "-top: forktree's forked children"
like "$top" " exec_work$" "-top: the programs its children exec"
# burn -r 100:0:0 still calls work_b(0) and work_c(0) each round (a call
# and a return: ~1% of its samples), burn-nopie work_a(0) alike: each
# process's other function is held under a tenth of its own
flat_ms() { awk -v f="$2" '$NF == f { v = $1; sub("ms$", "", v); print v; n = 1; exit } END { if (!n) print 0 }' <<<"$1"; }
minor() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > 0 && b * 10 < a) }'; }
burn=$(pprof_top "$TMP/tree.pb.gz" -unit=ms -tagfocus 'comm=^burn$')
like "$burn" " work_a$" "-tagfocus comm=^burn\$: work_a"
unlike "$burn" " fork_work$" "-tagfocus comm=^burn\$: nothing of forktree's"
minor "$(flat_ms "$burn" work_a)" "$(flat_ms "$burn" work_b)"
ok $? "-tagfocus comm=^burn\$: work_b (burn-nopie's) under a tenth of work_a"
nopie=$(pprof_top "$TMP/tree.pb.gz" -unit=ms -tagfocus 'comm=^burn-nopie$')
like "$nopie" " work_b$" "-tagfocus comm=burn-nopie: work_b, from another binary at other addresses"
minor "$(flat_ms "$nopie" work_b)" "$(flat_ms "$nopie" work_a)"
ok $? "-tagfocus comm=burn-nopie: work_a (burn's) under a tenth of work_b (no location shared by address)"
pids=$(pprof -top -nodecount=10000 -nodefraction=0 -tagroot pid "$TMP/tree.pb.gz" | awk '$NF ~ /^[0-9]+$/' | wc -l)
above "$pids" 3 "-tagroot pid: a node for each process sampled"
is "$(traces_without pid "$TMP/tree.pb.gz")" 0 "-traces: every sample has a pid label"
is "$(traces_without comm "$TMP/tree.pb.gz")" 0 "-traces: and a comm label"
# every function cprof named is named as go tool pprof would (no
# -symbolize=none here: pprof may symbolize what cprof left unnamed)
like "$(go tool pprof -top -tagfocus 'comm=^burn-nopie$' "$TMP/tree.pb.gz" 2>/dev/null)" " work_b$" \
	"go tool pprof reads it without re-symbolizing it wrongly"

# 2. --no-follow: the shell alone, as before
run_cprof record --no-follow -o "$TMP/nf.pb.gz" -- sh -c "$tree"
is "$rc" 0 "--no-follow: exit 0"
unlike "$(pprof_top "$TMP/nf.pb.gz")" " (work_a|work_b|fork_work)$" "--no-follow: the children are not recorded"

# 3. Never harm: exit statuses, a death by signal and SIGCHLD as each
# parent sees them (forktree checks), the command's status is cprof's
run_cprof record -o "$TMP/ft.pb.gz" -- "$T/forktree" -n 3 -s 2 -e 7
is "$rc" 7 "the launched command's exit status is still cprof's"
like "$(tail -n 1 "$TMP/out")" "^ok [0-9]+$" \
	"every child's exit status, a death by SIGUSR1, SIGCHLD: as without cprof"

# 4. a short-lived child's cpu is counted: the profile's total against the
# kernel's account of the whole job (bash's times: itself and its waited
# children).  Children live ~10 ms, about a tick: many are never sampled;
# their time is in [not sampled], read at their exit stop.
run_cprof record -o "$TMP/short.pb.gz" -- bash -c "$T/forktree -n 2 -s 2 -w 10 >/dev/null; times"
is "$rc" 0 "short children: exit 0"
job=$(awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } } END { printf "%.0f\n", t * 1e9 }' "$TMP/out")
total=$(pprof_total "$TMP/short.pb.gz")
diag "the job used $job ns of cpu, the profile holds $total ns"
# the kernel time of each exit after its last read (unmapping the address
# space) is not in it: 90% is the floor on a loaded machine
ok "$(awk -v t="$total" -v j="$job" 'BEGIN { exit !(j > 0 && t >= 0.9 * j && t <= 1.05 * j) }'; echo $?)" \
	"short children: the profile holds 90-105% of the job's cpu ($total of $job ns)"

# 5. attach mode: -p PID --follow takes the processes already below PID
# and those they start; -p PID1,PID2 records both
start_target F "$T/forktree" -n 2 -s 60 || exit 1
run_cprof record -p "$F" --follow -d 2s -o "$TMP/att.pb.gz"
is "$rc" 0 "-p PID --follow: exit 0"
att=$(pprof -tags "$TMP/att.pb.gz")
children=$(pprof -top -nodecount=10000 -nodefraction=0 -tagroot pid "$TMP/att.pb.gz" | awk -v f="$F" '$NF ~ /^[0-9]+$/ && $NF != f' | wc -l)
above "$children" 1 "-p PID --follow: its children's samples"
like "$(pprof_top "$TMP/att.pb.gz")" " fork_work$" "-p PID --follow: the children's own functions"
wait_until $WAIT tree_ok $(tree_of "$F"); ok $? "-p PID --follow: the tree untraced and running after"
# cprof threads --children: the tree's threads, by process
run_cprof threads -p "$F" --children --no-stacks
ok "$([ "$rc" = 0 ] || [ "$rc" = 3 ]; echo $?)" "threads --children: exit 0 (or 3: a child gone meanwhile)"
above "$(grep -c '^process [0-9]* (forktree):$' "$TMP/out")" 2 "threads --children: the root and its workers, each under its own heading"
# processcreate follows the forks, in attach mode too
run_cprof record -t processcreate -p "$F" -d 1s -o "$TMP/pc.pb.gz"
is "$rc" 0 "processcreate, attach: exit 0"
pc=$(pprof_top "$TMP/pc.pb.gz")
like "$pc" " __libc_fork$" "processcreate: the forks' stacks"
like "$pc" " (__vfork|__GI___posix_spawn)$" "processcreate: vfork and posix_spawn too"
like "$pc" " worker$" "processcreate: from the function that forked"
kill $(tree_of "$F") 2>/dev/null
start_target P1 "$T/burn" -r 100:0:0 || exit 1
start_target P2 "$T/burn-nopie" -r 0:100:0 || exit 1
run_cprof record -p "$P1,$P2" -d 500ms -o "$TMP/two.pb.gz"
is "$rc" 0 "-p PID1,PID2: exit 0"
two=$(pprof -top -nodefraction=0 -tagroot pid "$TMP/two.pb.gz")
like "$two" " $P1$" "-p PID1,PID2: the first"
like "$two" " $P2$" "-p PID1,PID2: the second"
kill "$P1" "$P2"

# 6. cprof SIGKILLed while it follows a tree that forks all the time: the
# kernel lets every process go, none is left traced or stopped (a vfork
# parent is not left waiting), and the tree ends as it would have
# (make torture, CPROF_TORTURE=1: 30 trials over a tree of 20 workers)
KILLS=3 WORKERS=4
[ "${CPROF_TORTURE:-0}" = 1 ] && KILLS=30 WORKERS=20
bad=0
for i in $(seq "$KILLS"); do
	start_target R "$CPROF" record -q -o "$TMP/k.pb.gz" -- "$T/forktree" -n "$WORKERS" -s 3 || exit 1
	cp=${_pids[-1]}
	wait_until $WAIT eval '[ $(tree_of '"$R"' | wc -l) -ge 3 ]'
	# then until a worker's waited children used 0-190 ms of cpu (its
	# cutime+cstime, in clock ticks: it only grows)
	w=$(tree_of "$R" | sed -n 2p) k=$((RANDOM % 20))
	wait_until $WAIT kids_at_least "$w" "$k"
	kill -KILL "$cp" 2>/dev/null; { wait "$cp"; } 2>/dev/null
	if ! wait_until $WAIT tree_ok $(tree_of "$R"); then
		bad=$((bad + 1)); diag "trial $i: a process left traced or stopped"
	fi
	res=$(read_line "$R_fd")
	[ "${res%% *}" = ok ] || { bad=$((bad + 1)); diag "trial $i: forktree said '$res'"; }
done
is "$bad" 0 "cprof SIGKILLed over a tree of $WORKERS forking workers ($KILLS trials): all untraced, none stopped, every status as without cprof"
done_testing
