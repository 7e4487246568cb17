#!/bin/bash
# JIT code named from perf map files (/tmp/perf-PID.map): a C target that
# writes its own (attached, and followed as a child that exits), and node
# run with --perf-basic-prof; and from a jitdump (node --perf-prof).  The
# node checks are skipped where node is missing.
. "$(dirname "$0")/lib.sh"

# the perf maps the profile FILE names (a followed child's pid is not ours)
perf_maps() { pprof -raw "$1" | grep -o '/tmp/perf-[0-9]*\.map' | sort -u; }

# attached: the map is read at the end, the process still running
start_target P "$T/jit" -m || exit 1
run_cprof_cpu "$P" 300000000 record -p "$P" -o "$TMP/jit.pb.gz"
kill -TERM "$P"
rm -f "/tmp/perf-$P.map"
is "$rc" 0 "attached JIT: exit 0"
top=$(pprof_top "$TMP/jit.pb.gz")
like "$top" " jit_loop$" "attached JIT: its code named from its perf map"
unlike "$top" "old_code|<unknown>" "attached JIT: the line written last wins"
like "$(pprof -raw "$TMP/jit.pb.gz" | sed -n '/^Mappings/,$p')" " /tmp/perf-$P\.map " \
	"attached JIT: its mapping says where the names came from"
like "$(pprof_top "$TMP/jit.pb.gz" -lines)" "jit_loop /tmp/perf-$P\.map" \
	"attached JIT: so does the function's file"

# a jitdump, found by its mapping: its code loads and moves
start_target P "$T/jit" -d "$TMP" || exit 1
run_cprof_cpu "$P" 300000000 record -p "$P" -o "$TMP/jd.pb.gz"
kill -TERM "$P"
is "$rc" 0 "attached JIT, jitdump: exit 0"
top=$(pprof_top "$TMP/jd.pb.gz")
like "$top" " jit_loop$" "attached JIT, jitdump: its code named, moved there by the later record"
unlike "$top" "old_code|<unknown>" "attached JIT, jitdump: the load there before it is not the name"
like "$(pprof -raw "$TMP/jd.pb.gz" | sed -n '/^Mappings/,$p')" " $TMP/jit-$P\.dump " \
	"attached JIT, jitdump: its mapping says where the names came from"

# followed: a child of sh, read at its exit
run_cprof record -o "$TMP/child.pb.gz" -- sh -c "'$T/jit' -m -n 10 >/dev/null; true"
maps=$(perf_maps "$TMP/child.pb.gz")
[ -n "$maps" ] && rm -f $maps
is "$rc" 0 "followed JIT child: exit 0"
like "$(pprof_top "$TMP/child.pb.gz")" " jit_loop$" "followed JIT child: its code named"

# node: V8's code named by --perf-basic-prof
NODE=$(command -v node || command -v nodejs)
if [ -z "$NODE" ]; then
	skip "node not installed (apt-get install nodejs): no JavaScript test"
else
	cat >"$TMP/hot.js" <<'EOF'
// hotJsLoop runs 1 s of cpu, JIT-compiled after its first calls
function hotJsLoop(n) {
	let s = 0;
	for (let i = 0; i < n; i++)
		s = (s + i * 7) % 1000003;
	return s;
}
const end = process.cpuUsage().user + 1000000;
let r = 0;
while (process.cpuUsage().user < end)
	r += hotJsLoop(1000000);
console.log(r >= 0 ? "done" : "");
EOF
	# (in $TMP: node writes a v8 log where it runs)
	cd "$TMP" || exit 1
	run_cprof record -o "$TMP/node.pb.gz" -- "$NODE" --perf-basic-prof "$TMP/hot.js"
	maps=$(perf_maps "$TMP/node.pb.gz")
	[ -n "$maps" ] && rm -f $maps
	is "$rc" 0 "node: exit 0"
	top=$(pprof_top "$TMP/node.pb.gz")
	like "$top" "JS:[*~^]?hotJsLoop $TMP/hot\.js" "node: the hot JavaScript function named"
	flat=$(echo "$top" | awk '/hotJsLoop/ { sub("%", "", $2); s += $2 } END { printf "%d\n", s }')
	above "$flat" 50 "node: it holds most of the time (%)"

	# --perf-prof: a jitdump (jit-PID.dump where node runs, which it maps
	# so that a profiler finds it), no perf map
	run_cprof record -o "$TMP/nodejd.pb.gz" -- "$NODE" --perf-prof "$TMP/hot.js"
	is "$rc" 0 "node --perf-prof: exit 0"
	like "$(pprof_top "$TMP/nodejd.pb.gz")" "JS:[*~^]?hotJsLoop $TMP/hot\.js" \
		"node --perf-prof: the hot JavaScript function named from its jitdump"
	like "$(pprof -raw "$TMP/nodejd.pb.gz" | sed -n '/^Mappings/,$p')" " $TMP/jit-[0-9]+\.dump " \
		"node --perf-prof: its mapping says where the names came from"
fi
done_testing
