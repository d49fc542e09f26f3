import AsyncSockets
import Synchronization

/// Byte counts and the time of the last byte of one relay, shared by its directions without locks.
final class RelayCounters: Sendable {
    private let up = Atomic<Int>(0)
    private let down = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let lastActivity = Atomic<Int64>(MonotonicClock.nanoseconds())

    var bytesUp: Int { up.load(ordering: .relaxed) }
    var bytesDown: Int { down.load(ordering: .relaxed) }
    /// Datagrams a UDP relay refused or could not deliver.
    var datagramsDropped: Int { dropped.load(ordering: .relaxed) }

    func countDrop() {
        dropped.add(1, ordering: .relaxed)
    }

    func countUp(_ bytes: Int) {
        up.add(bytes, ordering: .relaxed)
        touch()
    }

    func countDown(_ bytes: Int) {
        down.add(bytes, ordering: .relaxed)
        touch()
    }

    func touch() {
        lastActivity.store(MonotonicClock.nanoseconds(), ordering: .relaxed)
    }

    /// Nanoseconds since the last byte in either direction.
    var idleNanoseconds: Int64 { MonotonicClock.nanoseconds() - lastActivity.load(ordering: .relaxed) }
}
