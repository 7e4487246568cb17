#!/bin/bash
# make demo: profile the bundled demo program (3 busy threads, one asleep)
# for 3 seconds and show where its cpu went.
set -eu
cd "$(dirname "$0")/.."
out=build/demo-cpu.pb.gz
echo "\$ cprof record -o $out -- build/targets/burn -t 3 -S 1 -s 3"
./build/cprof record -o "$out" -- build/targets/burn -t 3 -S 1 -s 3 >/dev/null
echo
echo "\$ go tool pprof -top -nodecount=12 $out"
go tool pprof -top -nodecount=12 "$out" 2>/dev/null
echo
echo "Try: go tool pprof -http=: $out   (or -traces, -tree, -lines)"
