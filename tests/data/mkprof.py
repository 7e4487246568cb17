#!/usr/bin/env python3
"""tests/data/mkprof.py - write small pprof profiles with exactly known
contents (and broken ones), encoded here from the documented field numbers
(profiles/profile.proto), for tests/t0015-report.sh and the fuzz corpus.

  mkprof.py NAME OUT     write profile NAME (see PROFILES) to OUT
  mkprof.py --list       the names
  mkprof.py big N OUT    N samples spread over 64 stacks (plain protobuf)
"""
import gzip
import sys


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wt):
    return varint(field << 3 | wt)


def vint(field, v):
    return key(field, 0) + varint(v)


def ld(field, data):
    return key(field, 2) + varint(len(data)) + data


def packed(field, values):
    return ld(field, b"".join(varint(v) for v in values))


class Profile:
    """A Profile message built field by field, strings interned."""

    def __init__(self):
        self.strings = [""]
        self.index = {"": 0}
        self.body = []

    def s(self, text):
        if text not in self.index:
            self.index[text] = len(self.strings)
            self.strings.append(text)
        return self.index[text]

    def sample_type(self, typ, unit):
        self.body.append(ld(1, vint(1, self.s(typ)) + vint(2, self.s(unit))))

    def sample(self, locs, values, labels=()):
        msg = packed(1, locs) + packed(2, values)
        for k, v in labels:
            msg += ld(3, vint(1, self.s(k)) + vint(2, self.s(v)))
        self.body.append(ld(2, msg))

    def mapping(self, mid, start, limit, fname, build_id=""):
        self.body.append(ld(3, vint(1, mid) + vint(2, start) + vint(3, limit) +
                            vint(5, self.s(fname)) + vint(6, self.s(build_id))))

    def location(self, lid, addr, lines, mapping=1):
        """lines: [(function_id, line)], innermost first"""
        msg = vint(1, lid) + vint(2, mapping) + vint(3, addr)
        for fn, line in lines:
            msg += ld(4, vint(1, fn) + vint(2, line))
        self.body.append(ld(4, msg))

    def function(self, fid, name, fname=""):
        self.body.append(ld(5, vint(1, fid) + vint(2, self.s(name)) +
                            vint(3, self.s(name)) + vint(4, self.s(fname))))

    def raw(self, data):
        self.body.append(data)

    def encode(self, period_type=("cpu", "nanoseconds"), period=10000000,
               duration=2000000000, time_nanos=1700000000000000000):
        extra = b""
        if period_type:
            extra += ld(11, vint(1, self.s(period_type[0])) + vint(2, self.s(period_type[1])))
        extra += vint(12, period) + vint(10, duration) + vint(9, time_nanos)
        extra += vint(13, self.s("made by tests/data/mkprof.py"))
        strings = b"".join(ld(6, s.encode()) for s in self.strings)
        return b"".join(self.body) + extra + strings


def program(fractions=(50, 30, 20)):
    """main -> run -> {parse, hash (inlined into run), sort -> cmp};
    values in ms of cpu, with samples/count, the shape of a cprof cpu
    profile; a line-less location in libc; a recursive function."""
    p = Profile()
    p.sample_type("samples", "count")
    p.sample_type("cpu", "nanoseconds")
    p.mapping(1, 0x400000, 0x500000, "/usr/bin/prog", "abc123")
    p.mapping(2, 0x7f0000000000, 0x7f0000100000, "/lib/x86_64-linux-gnu/libc.so.6")
    for fid, name in enumerate(["main", "run", "parse", "hash", "sort", "cmp",
                                "walk"], 1):
        p.function(fid, name, "/src/prog/%s.c" % ("main" if fid < 3 else name))
    p.location(1, 0x401000, [(1, 10)])            # main
    p.location(2, 0x402000, [(2, 20)])            # run
    p.location(3, 0x403000, [(3, 30)])            # parse
    p.location(4, 0x402100, [(4, 41), (2, 21)])   # hash inlined into run
    p.location(5, 0x7f0000001000, [], mapping=2)  # libc qsort, no symbols
    p.location(6, 0x404000, [(6, 60)])            # cmp
    p.location(7, 0x405000, [(7, 70)])            # walk (recursive)
    p.location(8, 0x405010, [(7, 71)])
    a, b, c = fractions
    ms = 1000000
    p.sample([3, 2, 1], [a, a * 10 * ms], [("thread", "w1")])
    p.sample([4, 1], [b // 2, b // 2 * 10 * ms], [("thread", "w1")])
    p.sample([4, 1], [b - b // 2, (b - b // 2) * 10 * ms], [("thread", "w2")])
    p.sample([6, 5, 2, 1], [c, c * 10 * ms])
    p.sample([7, 8, 7, 2, 1], [5, 50 * ms])
    p.sample([2, 1], [0, 3 * ms])   # cpu without a tick
    return p.encode()


def goroutines():
    """a count profile: 5 threads in waitA, 3 in waitB"""
    p = Profile()
    p.sample_type("threads", "count")
    p.mapping(1, 0x400000, 0x500000, "/usr/bin/server")
    for fid, name in enumerate(["start", "waitA", "waitB", "futex"], 1):
        p.function(fid, name, "/src/server.c")
    for lid in range(1, 5):
        p.location(lid, 0x401000 + lid * 16, [(lid, lid * 10)])
    p.sample([4, 2, 1], [5])
    p.sample([4, 3, 1], [3])
    return p.encode(period_type=("threads", "count"), period=1, duration=0)


def contention():
    """Go's block profile shape: contentions/count, delay/nanoseconds"""
    p = Profile()
    p.sample_type("contentions", "count")
    p.sample_type("delay", "nanoseconds")
    p.mapping(1, 0x400000, 0x500000, "/usr/bin/db")
    for fid, name in enumerate(["worker", "lock_a", "lock_b", "mutex_lock"], 1):
        p.function(fid, name, "/src/db.c")
    for lid in range(1, 5):
        p.location(lid, 0x401000 + lid * 16, [(lid, lid)])
    p.sample([4, 2, 1], [30, 750000000])
    p.sample([4, 3, 1], [10, 250000000])
    return p.encode(period_type=("contentions", "count"), period=1)


def broken(kind):
    p = Profile()
    p.sample_type("samples", "count")
    p.function(1, "f")
    p.location(1, 0x1000, [(1, 1)], mapping=0)
    if kind == "bad-location-id":
        p.sample([1, 9], [1])
    elif kind == "bad-function-id":
        p.location(2, 0x2000, [(7, 1)], mapping=0)
        p.sample([2], [1])
    elif kind == "bad-mapping-id":
        p.location(2, 0x2000, [(1, 1)], mapping=5)
        p.sample([2], [1])
    elif kind == "bad-string":
        p.raw(ld(5, vint(1, 2) + vint(2, 999)))
        p.sample([1], [1])
    elif kind == "value-count":
        p.sample([1], [1, 2])
    elif kind == "duplicate-id":
        p.location(1, 0x3000, [(1, 1)], mapping=0)
        p.sample([1], [1])
    else:
        p.sample([1], [1])
    if kind == "negative-period":
        return p.encode(period=-5 & ((1 << 64) - 1))
    if kind == "zero-period":
        return p.encode(period=0)
    return p.encode()


PROFILES = {
    "program": lambda: program(),
    "program-new": lambda: program((40, 30, 30)),
    "goroutines": goroutines,
    "contention": contention,
    "bad-location-id": lambda: broken("bad-location-id"),
    "bad-function-id": lambda: broken("bad-function-id"),
    "bad-mapping-id": lambda: broken("bad-mapping-id"),
    "bad-string": lambda: broken("bad-string"),
    "value-count": lambda: broken("value-count"),
    "duplicate-id": lambda: broken("duplicate-id"),
    "negative-period": lambda: broken("negative-period"),
    "zero-period": lambda: broken("zero-period"),
}


def big(n, out):
    """n samples over 64 stacks of 8 frames, written in pieces"""
    p = Profile()
    p.sample_type("samples", "count")
    p.sample_type("cpu", "nanoseconds")
    for fid in range(1, 81):
        p.function(fid, "fn_%02d" % fid, "/src/big.c")
        p.location(fid, 0x1000 * fid, [(fid, fid)], mapping=0)
    head = p.encode()
    stacks = [packed(1, [(s * 7 + k) % 80 + 1 for k in range(8)]) for s in range(64)]
    with open(out, "wb") as f:
        f.write(head)
        chunk = []
        for i in range(n):
            msg = stacks[i % 64] + packed(2, [1, 10000000 + i % 1000])
            chunk.append(ld(2, msg))
            if len(chunk) == 65536:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))


def main():
    if sys.argv[1:2] == ["--list"]:
        print("\n".join(PROFILES))
        return
    if sys.argv[1] == "big":
        big(int(sys.argv[2]), sys.argv[3])
        return
    data = PROFILES[sys.argv[1]]()
    with open(sys.argv[2], "wb") as f:
        f.write(gzip.compress(data, mtime=0))


main()
