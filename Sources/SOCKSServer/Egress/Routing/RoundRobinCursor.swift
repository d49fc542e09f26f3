import Synchronization

/// Where a round-robin route's next session starts among its healthy upstreams.
final class RoundRobinCursor: Sendable {
    private let next = Atomic<Int>(0)

    /// The turn of a new session, counting up from 0 (wrapping).
    func take() -> Int {
        next.wrappingAdd(1, ordering: .relaxed).oldValue
    }
}
