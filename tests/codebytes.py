#!/usr/bin/env python3
# tests/codebytes.py PID SYMBOL...: for each SYMBOL (a function of any ELF
# file the process maps), compare the first 16 code bytes in the live
# process (/proc/PID/mem) with the file's.  Prints "SYMBOL ok" or
# "SYMBOL differs"; exit 1 if any differs or none was found.  Pins that no
# breakpoint outlives cprof (tests/t0025-heap.sh).
import struct
import sys

pid = int(sys.argv[1])
want = sys.argv[2:]


def elf_funcs(path):
    with open(path, 'rb') as f:
        d = f.read()
    if d[:4] != b'\x7fELF' or d[4] != 2:
        return {}, []
    shoff, = struct.unpack_from('<Q', d, 0x28)
    phoff, = struct.unpack_from('<Q', d, 0x20)
    phnum, = struct.unpack_from('<H', d, 0x38)
    shentsize, shnum = struct.unpack_from('<HH', d, 0x3a)
    loads = []
    for i in range(phnum):
        t, fl, off, va, pa, fs, ms, al = struct.unpack_from('<IIQQQQQQ', d, phoff + 56 * i)
        if t == 1:
            loads.append((va, off, fs))
    secs = [struct.unpack_from('<IIQQQQIIQQ', d, shoff + shentsize * i) for i in range(shnum)]
    funcs = {}
    for s in secs:
        if s[1] not in (2, 11):     # SHT_SYMTAB, SHT_DYNSYM
            continue
        strtab = secs[s[6]]
        for k in range(1, s[5] // 24):
            name, info, other, shndx, val, size = struct.unpack_from('<IBBHQQ', d, s[4] + 24 * k)
            if info & 0xf != 2 or shndx == 0 or not val:
                continue
            a = strtab[4] + name
            n = d[a:d.index(b'\0', a)].decode(errors='replace')
            funcs.setdefault(n, val)
    return funcs, loads, d


bad = found = 0
maps = [l.split() for l in open('/proc/%d/maps' % pid)]
seen = set()
for m in maps:
    if len(m) < 6 or not m[5].startswith('/') or m[5] in seen:
        continue
    seen.add(m[5])
    try:
        funcs, loads, data = elf_funcs('/proc/%d/root%s' % (pid, m[5]))
    except (OSError, ValueError, struct.error):
        continue
    base = min(int(x[0].split('-')[0], 16) - int(x[2], 16) for x in maps if len(x) >= 6 and x[5] == m[5])
    for name in want:
        if name not in funcs:
            continue
        va = funcs[name]
        off = next((o + va - v for v, o, fs in loads if v <= va < v + fs), None)
        if off is None:
            continue
        # runtime address: base (the mapping of file offset 0) + (va - first load va)
        addr = base + va if loads and loads[0][0] == 0 else va
        with open('/proc/%d/mem' % pid, 'rb') as mem:
            mem.seek(addr)
            live = mem.read(16)
        found += 1
        ok = live == data[off:off + 16]
        bad += not ok
        print('%s %s %s' % (name, m[5], 'ok' if ok else 'differs'))
sys.exit(1 if bad or not found else 0)
