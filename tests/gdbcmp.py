#!/usr/bin/env python3
# tests/gdbcmp.py CPROF_JSON GDB_BT: compare each thread's function sequence
# in `cprof threads --json` with gdb's `thread apply all bt`, innermost frame
# to main or the thread start (start_thread), the part both tools agree to
# show (gdb stops at main; cprof goes on to _start).  Prints one line per
# thread that differs, then "identical N of M".  Names are normalized the
# one way the tools differ by design: cprof's " (tail call)" mark, and the
# parameter list of a demangled C++ name.
import json, re, sys

ENDS = ("main", "start_thread")


def base(name):
    name = name.removesuffix(" (tail call)")
    if name.endswith(")") and "::" in name:
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0:
                name = name[:i]
                break
    return name


def cut(seq):
    for i, f in enumerate(seq):
        if f in ENDS:
            return seq[:i + 1]
    return seq


def cprof_threads(path):
    out = {}
    for t in json.load(open(path))["threads"]:
        seq = [base(f["function"]) if "function" in f else "??" for f in t["stack"]]
        out[t["tid"]] = (t["name"], cut(seq))
    return out


def gdb_threads(path):
    out, tid = {}, None
    frame = re.compile(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(.+?) \(")
    for line in open(path, errors="replace"):
        m = re.match(r"^Thread \d+ \(.*?LWP (\d+)\)", line)
        if m:
            tid = int(m.group(1))
            out[tid] = []
            continue
        m = frame.match(line)
        if m and tid is not None:
            out[tid].append(m.group(2))
    return {t: cut(s) for t, s in out.items()}


def main():
    c, g = cprof_threads(sys.argv[1]), gdb_threads(sys.argv[2])
    same = 0
    for tid in sorted(g):
        name, seq = c.get(tid, ("?", None))
        if seq == g[tid]:
            same += 1
            continue
        print(f"thread {tid} {name}: cprof {seq} gdb {g[tid]}")
    print(f"identical {same} of {len(g)}")


main()
