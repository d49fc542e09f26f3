import Synchronization

/// A Prometheus histogram of durations: a fixed array of atomic buckets and an atomic sum, so observing
/// costs two relaxed adds and a short walk over the bounds, and never a lock.
///
/// Buckets are stored per bucket (not cumulative) and summed when read; the count is the sum of the
/// buckets, so a scrape's `+Inf` bucket always equals its `_count`, even with observations racing it.
final class AtomicHistogram: Sendable {
    /// The upper bounds of the buckets, in seconds, ascending; `+Inf` is implied.
    let bounds: [Double]
    private let boundNanoseconds: [Int]
    /// `bounds.count + 1` buckets: the last one holds what is above every bound.
    private let buckets: AtomicCounterArray
    private let sumNanoseconds = Atomic<Int>(0)

    /// What one read found.
    struct Snapshot: Sendable {
        /// Cumulative counts, one per bound and a last one for `+Inf` (equal to `count`).
        var cumulativeCounts: [Int]
        var count: Int { cumulativeCounts.last ?? 0 }
        var sumSeconds: Double
    }

    init(bounds: [Double]) {
        precondition(zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 }, "histogram bounds must ascend")
        self.bounds = bounds
        boundNanoseconds = bounds.map { Int(($0 * 1e9).rounded()) }
        buckets = AtomicCounterArray(count: bounds.count + 1)
    }

    /// Bounds for latencies from half a millisecond on a loopback to the 10 s default deadlines.
    static let latencyBounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    func observe(_ duration: Duration) {
        let nanoseconds = Self.nanoseconds(duration)
        // Few bounds: a linear walk beats a binary search here, and most observations stop early.
        let index = boundNanoseconds.firstIndex { nanoseconds <= $0 } ?? boundNanoseconds.count
        buckets.add(1, at: index)
        sumNanoseconds.add(nanoseconds, ordering: .relaxed)
    }

    var snapshot: Snapshot {
        var cumulative: [Int] = []
        cumulative.reserveCapacity(buckets.count)
        var running = 0
        for index in 0..<buckets.count {
            running += buckets[index]
            cumulative.append(running)
        }
        return Snapshot(cumulativeCounts: cumulative, sumSeconds: Double(sumNanoseconds.load(ordering: .relaxed)) / 1e9)
    }

    /// Whole nanoseconds, 0 for a negative duration, capped at about a century (no overflow of the sum).
    private static func nanoseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let cappedSeconds = min(seconds, 3_000_000_000)
        return Int(cappedSeconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
    }
}
