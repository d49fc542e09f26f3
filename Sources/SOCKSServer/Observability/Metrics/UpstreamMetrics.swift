import Synchronization

/// The counters of the upstreams the configuration names (`default` for the unnamed one), by name: whether
/// each is up, its sessions by outcome, and how long reaching a destination through it took. The set of
/// names follows the configuration (`register`); an upstream kept across a reload keeps its counters.
final class UpstreamMetrics: Sendable {
    /// One upstream's counters.
    final class Counters: Sendable {
        /// 1 while the upstream is up, 0 while it is down.
        let up = Atomic<Int>(1)
        /// Ended sessions that went through this upstream, by `SessionOutcomeLabel`.
        let sessions = AtomicCounterArray(count: SessionOutcomeLabel.allCases.count)
        /// From the start of a try through this upstream to its success reply.
        let connectDurations = AtomicHistogram(bounds: AtomicHistogram.latencyBounds)
    }

    private let byName = Mutex<[String: Counters]>([:])

    /// Makes `names` the upstreams exported (in name order); those already known keep their counters.
    func register(_ names: some Sequence<String>) {
        byName.withLock { byName in
            var kept: [String: Counters] = [:]
            for name in names { kept[name] = byName[name] ?? Counters() }
            byName = kept
        }
    }

    /// The counters of `name`, if the configuration names it.
    func counters(_ name: String) -> Counters? {
        byName.withLock { $0[name] }
    }

    /// Every upstream's counters, in name order.
    var all: [(name: String, counters: Counters)] {
        byName.withLock { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }
}
