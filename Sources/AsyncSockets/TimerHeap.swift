/// The pending timers of one event loop: a binary min-heap by deadline in which every timer knows its
/// position, so that a cancelled timer leaves at once (O(log n)) instead of waiting for its deadline.
///
/// Not thread-safe by itself: the loop keeps it under a lock.
struct TimerHeap {
    private var timers: [LoopTimer] = []

    /// The timer due first.
    var first: LoopTimer? { timers.first }

    mutating func insert(_ timer: LoopTimer) {
        timers.append(timer)
        place(timers.count - 1)
        siftUp(timers.count - 1)
    }

    /// Takes out the timer due first.
    @discardableResult
    mutating func popFirst() -> LoopTimer? {
        guard !timers.isEmpty else { return nil }
        return remove(at: 0)
    }

    /// Takes `timer` out if it is still in this heap.
    mutating func remove(_ timer: LoopTimer) {
        let index = timer.heapIndex.load(ordering: .relaxed)
        guard index >= 0, index < timers.count, timers[index] === timer else { return }
        remove(at: index)
    }

    @discardableResult
    private mutating func remove(at index: Int) -> LoopTimer {
        let removed = timers[index]
        let last = timers.count - 1
        if index != last {
            timers.swapAt(index, last)
            place(index)
        }
        timers.removeLast()
        removed.heapIndex.store(-1, ordering: .relaxed)
        if index < timers.count {
            // The entry moved into the hole may belong above or below it.
            siftDown(index)
            siftUp(index)
        }
        return removed
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard timers[child].deadline < timers[parent].deadline else { return }
            swapEntries(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < timers.count && timers[left].deadline < timers[smallest].deadline { smallest = left }
            if right < timers.count && timers[right].deadline < timers[smallest].deadline { smallest = right }
            if smallest == parent { return }
            swapEntries(parent, smallest)
            parent = smallest
        }
    }

    private mutating func swapEntries(_ a: Int, _ b: Int) {
        timers.swapAt(a, b)
        place(a)
        place(b)
    }

    /// Records in the timer at `index` where it now is.
    private func place(_ index: Int) {
        timers[index].heapIndex.store(index, ordering: .relaxed)
    }
}
