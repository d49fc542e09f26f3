#!/usr/bin/env python3
"""Reads a Benchmarks/liveheap.c dump: live allocations grouped by size and call stack, each group's count
divided by the sessions held (SESSIONS), largest total first; stacks symbolized against the mapped files
(`grep r-xp /proc/PID/maps` taken while the process ran), runtime frames (swift_*, malloc) left out.

    python3 Benchmarks/liveheap.py DUMP MAPS SESSIONS [MIN_SHARE]

MIN_SHARE (default 0.9): groups with fewer than this many allocations per session are not shown.
"""
import collections
import subprocess
import sys


def load_maps(path):
    maps = []
    for line in open(path):
        fields = line.split()
        if len(fields) < 6:
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        maps.append((start, end, int(fields[2], 16), fields[5]))
    return maps


def symbolize(address, maps, cache):
    if address in cache:
        return cache[address]
    value = int(address, 16)
    name = address
    for start, end, offset, path in maps:
        if start <= value < end:
            raw = subprocess.run(["llvm-symbolizer", "--obj=" + path, "-f", "--no-inlines", hex(value - start + offset - 1)],
                                 capture_output=True, text=True).stdout.split("\n")[0]
            name = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input=raw,
                                  capture_output=True, text=True).stdout.strip()[:90]
            break
    cache[address] = name
    return name


def main():
    dump, maps_path, sessions = sys.argv[1], sys.argv[2], int(sys.argv[3])
    min_share = float(sys.argv[4]) if len(sys.argv) > 4 else 0.9
    maps = load_maps(maps_path)
    groups = collections.Counter(tuple(line.split()) for line in open(dump) if line.strip())
    cache = {}
    rows = []
    for key, count in groups.items():
        share = count / sessions
        if share >= min_share:
            rows.append((int(key[0]) * share, int(key[0]), share, key[1:]))
    for total, size, share, stack in sorted(rows, reverse=True):
        names = [symbolize(a, maps, cache) for a in stack if a != "(nil)"]
        names = [n for n in names if not n.startswith("swift_slowAlloc") and not n.startswith("swift_allocObject") and "malloc" not in n]
        print(f"{size:6d} B x {share:4.2f} = {total:7.0f} B per session: " + " <- ".join(names[:4]))


if __name__ == "__main__":
    main()
