#!/usr/bin/env python3
"""Reads a Benchmarks/tasktrace.c log: for each task, its deepest stack of task-allocator allocations (the
function that asked for each, symbolized against the binary), and the slabs Swift's task allocator would
keep for it, by replaying the allocations through a model of the runtime's StackAllocator (slabs of 984
bytes plus a 32-byte header, 16 bytes per allocation; an allocation that fits neither the current slab nor
an empty next one frees the empty successors and gets a slab of its own, at least as big as they were).

    python3 Benchmarks/tasktrace.py LOG BINARY TEXT_BASE [TASK]

With TASK (a task pointer from the first listing), also every allocation and release of that task in order,
with the running total.
"""
import collections
import subprocess
import sys

SLAB_CAPACITY = 984
SLAB_HEADER = 32
ALLOCATION_HEADER = 16


def symbolize(addresses, binary, base):
    """Function names for return addresses in the binary's text (others are the runtime's)."""
    inside = [a for a in addresses if int(a, 16) > base]
    offsets = [hex(int(a, 16) - base - 1) for a in inside]
    names = {}
    if offsets:
        raw = subprocess.run(["llvm-symbolizer", "--obj=" + binary, "--no-inlines", "-f"] + offsets,
                             capture_output=True, text=True).stdout.strip().split("\n\n")
        mangled = [block.split("\n")[0] for block in raw]
        demangled = subprocess.run(["swift-demangle", "-simplified", "-compact"], input="\n".join(mangled),
                                   capture_output=True, text=True).stdout.split("\n")
        names.update(zip(inside, demangled))
    return {a: names.get(a, "(runtime) " + a) for a in addresses}


def slabs_kept(events):
    """The capacities of the slabs a task holds after `events` ((size, id) to allocate, (None, id) to free)."""
    slabs = []  # [capacity, used]
    stack = []  # (id, slab index, used before)
    for size, ident in events:
        if size is None:
            for index in range(len(stack) - 1, -1, -1):
                if stack[index][0] == ident:
                    _, slab, before = stack.pop(index)
                    slabs[slab][1] = before
                    break
            continue
        needed = (size + 15) // 16 * 16 + ALLOCATION_HEADER
        current = stack[-1][1] if stack else (0 if slabs else -1)
        if current >= 0 and slabs[current][1] + needed <= slabs[current][0]:
            slab = current
        elif 0 <= current < len(slabs) - 1 and slabs[current + 1][1] == 0 and needed <= slabs[current + 1][0]:
            slab = current + 1
        else:
            freed = 0
            if 0 <= current < len(slabs) - 1:
                freed = sum(capacity for capacity, _ in slabs[current + 1:])
                del slabs[current + 1:]
            slabs.append([max(SLAB_CAPACITY, needed, freed), 0])
            slab = len(slabs) - 1
        stack.append((ident, slab, slabs[slab][1]))
        slabs[slab][1] += needed
    return [capacity for capacity, _ in slabs]


def main():
    log, binary, base = sys.argv[1], sys.argv[2], int(sys.argv[3], 16)
    lines = [line.split() for line in open(log) if line.strip()]
    names = symbolize(sorted({line[3] for line in lines if line[0] == "A"}), binary, base)
    stacks = collections.defaultdict(list)
    deepest = {}
    events = collections.defaultdict(list)
    for kind, task, size, caller, pointer in lines:
        if kind == "A":
            stacks[task].append((int(size), names[caller], pointer))
            events[task].append((int(size), pointer))
        else:
            stack = stacks[task]
            for index in range(len(stack) - 1, -1, -1):
                if stack[index][2] == pointer:
                    del stack[index]
                    break
            events[task].append((None, pointer))
        total = sum(entry[0] for entry in stacks[task])
        if total >= deepest.get(task, (0, []))[0]:
            deepest[task] = (total, list(stacks[task]))
    for task, (total, stack) in deepest.items():
        kept = slabs_kept(events[task])
        print(f"task {task}: deepest {total} bytes in {len(stack)} allocations; "
              f"slabs kept {kept} ({sum(c + SLAB_HEADER for c in kept)} bytes malloc'd)")
        for size, name, _ in stack:
            print(f"    {size:6d}  asked by {name[:110]}")
    if len(sys.argv) > 4:
        task = sys.argv[4]
        print(f"--- task {task}, in order (running total, size, who asked)")
        live = []
        for kind, owner, size, caller, pointer in lines:
            if owner != task:
                continue
            if kind == "A":
                live.append((int(size), pointer))
                print(f"A {sum(s for s, _ in live):6d} {size:>6} {names[caller][:90]}")
            else:
                for index in range(len(live) - 1, -1, -1):
                    if live[index][1] == pointer:
                        freed = live.pop(index)[0]
                        print(f"D {sum(s for s, _ in live):6d} {freed:6d}")
                        break


if __name__ == "__main__":
    main()
