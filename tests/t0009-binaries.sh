#!/bin/bash
# Real binaries: PIE and not, with and without frame pointers, frames in
# .debug_frame only (burn-df; Go's binaries, gospin), C++, stripped
# (symbol table only, or nothing), separate debug files found by
# .gnu_debuglink and by build-id, and a binary deleted while it runs.
. "$(dirname "$0")/lib.sh"

# profile NAME CMD...: start, record while it uses 1 s of cpu (~99
# samples however busy the machine is: the rarer frames checked below,
# cmp_slow, memchr@plt, libm's, need them), stop; -top in $top
profile() {
	local name=$1
	shift
	start_target P "$@" || return 1
	run_cprof_cpu "$P" 1000000000 record -p "$P" -o "$TMP/$name.pb.gz" ${CPROF_EXTRA:-}
	kill -TERM "$P"
	top=$(pprof_top "$TMP/$name.pb.gz")
	lines=$(pprof_top "$TMP/$name.pb.gz" -lines)
}

for b in burn-nopie burn-fp burn-df; do
	profile $b "$T/$b" -t 1
	is "$rc" 0 "$b: exit 0"
	like "$top" " work_a$" "$b: work_a"
	like "$top" " cmp_slow$" "$b: unwinds through libc's qsort"
	like "$top" " start_thread$" "$b: to the thread's start"
	unlike "$top" "\[unknown\]|\[truncated\]" "$b: no broken stacks"
done

profile cxx "$T/cxxburn"
like "$top" " shapes::Spinner<unsigned long>::spin\(unsigned int\)$" "C++: demangled name"
like "$top" " shapes::Spinner<unsigned long>::operator\+=\(unsigned int\)$" "C++: operator"
gzip -dc "$TMP/cxx.pb.gz" | grep -aq "_ZN6shapes7SpinnerImE4spinEj"; ok $? "C++: mangled name kept as system_name"
traces=$(pprof -traces "$TMP/cxx.pb.gz" | tr -s ' \n' '  ')
# libstdc++'s thread entry is a local symbol: named only with its debug info
like "$traces" "spin_forever (execute_native_thread_routine|\[libstdc\+\+\.so[.0-9]*\]) start_thread" \
	"C++: through libstdc++'s thread entry to start_thread"
like "$traces" "(__sin|__cos)[a-z_0-9]* (\(inline\) )?trig_forever" "libm frames above their caller"
unlike "$traces" "\[unknown\]" "C++: no broken stacks"

# code without unwind info (an anonymous executable mapping, like a JIT)
profile jit "$T/jit"
is "$rc" 0 "JIT-like code: exit 0"
like "$(pprof -traces "$TMP/jit.pb.gz" | tr -s ' \n' '  ')" "[0-9.]+(ms|s) <unknown> \[unknown\] -" \
	"JIT-like code: its address, then [unknown], no invented frames"

# PLT stubs: named after the function their GOT slot is bound to, as perf
# and gdb name them; the binary's mapping keeps HasFunctions (else go tool
# pprof symbolizes it again from the file, losing the inlines)
profile plt "$T/plt"
is "$rc" 0 "PLT: exit 0"
like "$top" " memchr@plt$" "PLT: a stub is named memchr@plt"
like "$(pprof -traces "$TMP/plt.pb.gz" | tr -s ' \n' '  ')" "memchr@plt call_libc main" "PLT: under its caller"
unlike "$top" "\[plt\]|<unknown>" "PLT: no stub left unnamed"
like "$(pprof -raw "$TMP/plt.pb.gz" | grep '/plt ')" "\[FN\]" "PLT: the binary's mapping has all functions named"

# Go: frames described in .debug_frame only (no .eh_frame), read by the
# frame rules; main.leaf is frameless, so a frame-pointer walk would skip
# main.middle; goroutine stacks end at runtime.goexit
if [ -x "$T/gospin" ]; then
	profile go "$T/gospin"
	is "$rc" 0 "Go: exit 0"
	traces=$(pprof -traces "$TMP/go.pb.gz" | tr -s ' \n' '  ')
	like "$traces" "main\.leaf main\.middle main\.top main\.main runtime\.main runtime\.goexit[.a-z0-9]* -" \
		"Go: every frame, main.middle too, to runtime.goexit"
	unlike "$traces" "\[unknown\]" "Go: no broken stacks"
	# the scheduler on g0, reached by runtime.mcall (and gogo): no caller
	# beyond the switch, as Go's own traceback stops there
	profile goyield "$T/gospin" -y
	traces=$(pprof -traces "$TMP/goyield.pb.gz" | tr -s ' \n' '  ')
	like "$traces" "runtime\.mcall -" "Go: stacks on g0 end at runtime.mcall"
	unlike "$traces" "\[unknown\]" "Go: no broken stacks where goroutines yield"
	start_target P "$T/gospin" || exit 1
	wait_until $WAIT eval "grep -qs '^202 ' /proc/$P/task/*/syscall" || diag "no Go thread in futex yet"
	run_cprof threads -v -p "$P"
	flat=$(tr -s ' \n\t' '   ' <"$TMP/out")
	like "$flat" "in futex\(0x[0-9a-f]+\), cpu [0-9.]+s\]: runtime\.futex[.a-z0-9]* runtime\.futexsleep " \
		"Go: runtime threads waiting in futex, their stacks"
	# blocked Go threads are read from their stack copy, without a stop
	read -r stopped of < <(sed -n 's/^cprof: \([0-9]*\) of \([0-9]*\) threads were stopped.*/\1 \2/p' "$TMP/err")
	ok "$([ -n "$of" ] && [ "$stopped" -lt "$of" ]; echo $?)" "Go: blocked threads read without a stop ($stopped of $of stopped)"
	kill "$P"
else
	for i in 1 2 3 4 5 6 7; do skip "build/targets/gospin was not built (no Go toolchain)"; done
fi

# symbol table only: names, no lines
cp "$T/burn" "$TMP/burn-nodebug"; strip -g "$TMP/burn-nodebug"
profile nodebug "$TMP/burn-nodebug" -t 1
like "$top" " work_a$" "strip -g: names from .symtab"
unlike "$lines" "work\.c:" "strip -g: no file:line invented"

# nothing but .dynsym: libc frames still named, nothing crashes
cp "$T/burn" "$TMP/burn-stripped"; strip -s "$TMP/burn-stripped"
profile stripped "$TMP/burn-stripped" -t 1
is "$rc" 0 "strip -s: exit 0"
like "$top" " (msort_with_tmp|__GI___qsort_r)( \(inline\))?$" "strip -s: shared library frames named"
# its debug file is nowhere and no debuginfod server is set: libdw's client
# (libdebuginfod, libcurl, gnutls: ~10-20 ms to load) is not loaded
start_target P "$TMP/burn-stripped" -t 1 || exit 1
loaded=$(env -u DEBUGINFOD_URLS LD_DEBUG=files "$CPROF" threads -p "$P" 2>&1 >/dev/null | grep -c 'file=libdebuginfod')
is "$loaded" 0 "strip -s, no debuginfod server: libdebuginfod not loaded"
kill "$P"

# separate debug file beside the binary, by .gnu_debuglink
mkdir -p "$TMP/dl"
objcopy --only-keep-debug "$T/burn" "$TMP/dl/burn.debug"
cp "$T/burn" "$TMP/dl/burn"; strip -s "$TMP/dl/burn"
(cd "$TMP/dl" && objcopy --add-gnu-debuglink=burn.debug burn)
profile debuglink "$TMP/dl/burn" -t 1
like "$top" " work_a$" "debuglink: names from the debug file"
like "$lines" "work_a .*work\.c:[0-9]+" "debuglink: lines from the debug file"

# separate debug file by build-id, in a --debuginfo-path tree
id=$(readelf -n "$T/burn" | awk '/Build ID/ { print $3 }')
mkdir -p "$TMP/dbg/.build-id/${id:0:2}"
cp "$TMP/dl/burn.debug" "$TMP/dbg/.build-id/${id:0:2}/${id:2}.debug"
cp "$T/burn" "$TMP/burn-bid"; strip -s "$TMP/burn-bid"
CPROF_EXTRA="--debuginfo-path $TMP/dbg" profile buildid "$TMP/burn-bid" -t 1
like "$top" " work_a$" "build-id: names from the debug file"
like "$lines" "work_a .*work\.c:[0-9]+" "build-id: lines"

# a binary deleted after it started
cp "$T/burn" "$TMP/gone"
start_target P "$TMP/gone" -t 1 || exit 1
rm -f "$TMP/gone"
run_cprof record -p "$P" -d 1s -o "$TMP/gone.pb.gz"
kill -TERM "$P"
like "$(pprof_top "$TMP/gone.pb.gz")" " work_a$" "deleted binary: still symbolized"
like "$(pprof -raw "$TMP/gone.pb.gz")" "1: 0x[0-9a-f/x]+ $TMP/gone " "deleted binary: mapping keeps its path"

# depth and stack copy limits show as [truncated]; depth counts machine
# frames (one pprof Location each), inlined functions are lines of a frame,
# and a tail-call frame put back (its own Location, "(tail call)") is none
start_target P "$T/burn" -t 1 -r 0:0:100 || exit 1
run_cprof record -p "$P" -d 1s --max-depth 3 -o "$TMP/depth.pb.gz"
most=$(pprof -raw "$TMP/depth.pb.gz" | awk '/^Samples:/ { on = 1; next } /^Locations/ { on = 0; loc = 1; next }
	/^Mappings/ { loc = 0 }
	on && /^ *[0-9]+ +[0-9]+:/ { s[++ns] = $0 }
	loc && /^ *[0-9]+: / && / \(tail call\) / { sub(":", "", $1); tail[$1] = 1 }
	END { for (i = 1; i <= ns; i++) { k = split(s[i], f, " "); n = 0
		for (j = 3; j <= k; j++) n += !(f[j] in tail); if (n > m) m = n }
	      print m + 0 }')
is "$most" 4 "--max-depth 3: at most 3 frames and a [truncated] one"
like "$(pprof_top "$TMP/depth.pb.gz")" "\[truncated\]" "--max-depth 3: deep stacks end in [truncated]"
run_cprof record -p "$P" -d 1s --stack-size 512 -o "$TMP/small.pb.gz"
like "$(pprof_top "$TMP/small.pb.gz")" "\[truncated\]" "--stack-size 512: deep stacks end in [truncated]"
done_testing
