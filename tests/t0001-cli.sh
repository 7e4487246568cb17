#!/bin/bash
# The command line: help, version, and every bad input gets one clear line,
# a distinct exit status, and leaves the target untouched.
. "$(dirname "$0")/lib.sh"

out=$("$CPROF" --help); is $? 0 "cprof --help exits 0"
like "$out" "record" "cprof --help lists record"
like "$out" "exit status" "cprof --help documents exit status"
for c in report diff; do
	out=$("$CPROF" $c --help); is $? 0 "cprof $c --help exits 0"
	like "$out" "^usage: cprof $c" "cprof $c --help: its usage"
	like "$("$CPROF" --help)" "^  $c " "cprof --help lists $c"
done
out=$("$CPROF" record --help); is $? 0 "cprof record --help exits 0"

like "$out" "--duration" "record --help lists options"
run_cprof record -h; is "$rc" 0 "record -h exits 0"
out=$("$CPROF" --version); like "$out" "^cprof [0-9]+\.[0-9]+" "--version"
run_cprof; is "$rc" 2 "no command: usage error"
run_cprof frobnicate; is "$rc" 2 "unknown command: usage error"
like "$err" "unknown command 'frobnicate'" "unknown command named"

start_target P "$T/burn" -t 1 || exit 1
bad() {	# bad WANT-RC REGEX DESCRIPTION ARGS...
	local want=$1 re=$2 d=$3
	shift 3
	run_cprof "$@"
	is "$rc" "$want" "$d: exit $want"
	like "$err" "$re" "$d: says why"
}
bad 2 "-F: '0' is not a frequency" "-F 0" record -F 0 -p "$P"
bad 2 "-F: '-5'" "-F -5" record -F -5 -p "$P"
bad 2 "-F: '100000'" "-F 100000" record -F 100000 -p "$P"
bad 2 "-d: 'abc' is not a duration" "-d abc" record -d abc -p "$P"
bad 2 "unknown profile type 'bogus'" "-t bogus" record -t bogus -p "$P"
bad 2 "nothing to profile" "no target" record -d 1s
bad 2 "either -p PID or a command" "-p and a command" record -p "$P" -- true
bad 2 "-p: 'x1' is not a process id" "-p x1" record -p x1
bad 2 "--stack-size: '2097152' is not a size from 512 bytes to 1 MiB" "--stack-size 2 MiB" \
	record --stack-size 2097152 -d 1s -o "$TMP/ss.pb.gz" -p "$P"
bad 1 "attach 4000000: no such process" "no such process" record -p 4000000 -d 1s
bad 1 "cannot create a file in its directory" "unwritable output" \
	record -p "$P" -d 1s -o /nonexistent/dir/out.pb.gz
bad 1 "Is a directory" "output is a directory" record -p "$P" -d 1s -o "$TMP"
ok "$(all_untraced "$P"; echo $?)" "the target was never traced by a failed run"

# cprof's own pid: exec keeps the shell's pid
out=$(bash -c 'exec "$0" record -d 1s -o /dev/null -p $$' "$CPROF" 2>&1); rc=$?
is "$rc" 1 "own pid: exit 1"
like "$out" "that is cprof itself" "own pid: says so"

# a zombie: a child its parent never reaps
perl -e 'my $p = fork(); exit 0 unless $p; open(F, ">", $ARGV[0]); print F "$p\n"; close F; sleep 30' "$TMP/zpid" & _pids+=($!)
wait_until $WAIT test -s "$TMP/zpid"
zpid=$(cat "$TMP/zpid")
wait_until $WAIT grep -q '^State:.*Z' "/proc/$zpid/status" 2>/dev/null
bad 1 "is a zombie" "zombie" record -p "$zpid" -d 1s -o "$TMP/z.pb.gz"

# another tracer: a first cprof holds the target
"$CPROF" record -q -p "$P" -o "$TMP/first.pb.gz" & first=$!
wait_until $WAIT traced "$P"
bad 1 "ptrace\(PTRACE_SEIZE, $P\): Operation not permitted \(traced by cprof, pid $first\)" \
	"already traced" record -p "$P" -d 1s -o "$TMP/second.pb.gz"
kill -INT $first; wait $first; is $? 0 "the first cprof was not disturbed"

# permission: another user without CAP_SYS_PTRACE
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$CPROF" record -p "$P" -d 1s -o /tmp/cprof-nobody.$$.pb.gz 2>&1); rc=$?
	is "$rc" 1 "another user's process: exit 1"
	like "$out" "Operation not permitted \(process $P belongs to uid 0; run cprof as that user or with CAP_SYS_PTRACE\)" \
		"another user's process: says why"
	rm -f /tmp/cprof-nobody.$$.pb.gz
else
	skip "not root or no setpriv: cannot test another user's process"
	skip "not root or no setpriv"
fi

# a thread id means its process
tid=$(ls /proc/$P/task | grep -v "^$P\$" | head -1)
run_cprof record -p "$tid" -d 300ms -o "$TMP/t.pb.gz"
is "$rc" 0 "a thread id: profiles its process"
like "$err" "$tid is a thread of process $P" "a thread id: says so"

# launch failures: like a shell
bad 127 "no-such-command-xyz: No such file or directory" "missing command" \
	record -o "$TMP/l.pb.gz" -- no-such-command-xyz
printf 'not a program\n' >"$TMP/notexec"; chmod 644 "$TMP/notexec"
bad 126 "Permission denied" "not executable" record -o "$TMP/l.pb.gz" -- "$TMP/notexec"
[ ! -e "$TMP/l.pb.gz" ]; ok $? "no profile left behind by a failed launch"
ls "$TMP"/.cprof-out.* >/dev/null 2>&1; ok $((! $?)) "no temporary file left behind"
# make install puts the binary and the man page under DESTDIR/PREFIX
make -s -C "$TOP" install DESTDIR="$TMP/inst" PREFIX=/usr >/dev/null 2>&1
[ -x "$TMP/inst/usr/bin/cprof" ] && [ -f "$TMP/inst/usr/share/man/man1/cprof.1" ]
ok $? "make install DESTDIR= PREFIX="

# every option of --help is documented in the man page and the README
man=$(sed 's/\\-/-/g' "$TOP/man/cprof.1")
for o in $({ "$CPROF" record --help; "$CPROF" threads --help; "$CPROF" report --help
		"$CPROF" diff --help; "$CPROF" serve --help; } | grep -oE -- '--[a-z-]+' | sort -u); do
	like "$man" "$o" "man page documents $o"
	like "$(cat "$TOP/README.md")" "$o" "README documents $o"
done
# the profile types come from one table (cmd/profiles.c): the man page's
# PROFILE TYPES and the README's table list the same ones, in its order,
# each with its sample types
"$CPROF" profiles >"$TMP/types"; is $? 0 "cprof profiles"
ready=$(awk '$2 != "(not" { print $1 }' "$TMP/types" | tr '\n' ' ')
man_entry() {	# the text of a PROFILE TYPES entry, on one line
	sed 's/\\-/-/g' "$TOP/man/cprof.1" | awk -v t="$1" '
		/^\.SH/ { sec = $0 } sec != ".SH PROFILE TYPES" { next }
		/^\.(TP|PP)/ { on = 0 } on { printf "%s ", $0 }
		prev == ".TP" && $0 == ".B " t { on = 1 } { prev = $0 }'
}
is "$(sed 's/\\-/-/g' "$TOP/man/cprof.1" | awk '/^\.SH/ { sec = $0 }
	sec == ".SH PROFILE TYPES" && prev == ".TP" && /^\.B / { printf "%s ", $2 } { prev = $0 }')" \
	"$ready" "man page: PROFILE TYPES lists what cprof profiles lists"
is "$(awk '/^### Profile types/ { on = 1; next } /^#/ { on = 0 }
	on && /^\| `/ { split($0, f, "`"); printf "%s ", f[2] }' "$TOP/README.md")" \
	"$ready" "README: the profile types table lists what cprof profiles lists"
for t in $ready; do
	entry=$(man_entry "$t")
	row=$(grep "^| \`$t\` |" "$TOP/README.md")
	for st in $(grep "^$t " "$TMP/types" | grep -oE '[a-z_]+/[a-z]+'); do
		case "$entry" in *"$st"*) pass "man page: $t has $st" ;;
			*) fail "man page: $t has $st"; diag "entry: $entry" ;; esac
		case "$row" in *"\`$st\`"*) pass "README: $t has $st" ;;
			*) fail "README: $t has $st"; diag "row: $row" ;; esac
	done
done
done_testing
