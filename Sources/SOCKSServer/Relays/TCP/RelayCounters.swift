import AsyncSockets
import Synchronization

/// Byte counts and the time of the last byte of one relay, shared by its directions without locks; each
/// count also goes to the server's registry at once, so the metrics move while a long session runs.
final class RelayCounters: Sendable {
    /// The server's counters (nil for a relay tested on its own).
    private let registry: ServerMetrics?
    private let up = Atomic<Int>(0)
    private let down = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let lastActivity = Atomic<Int64>(MonotonicClock.nanoseconds())

    var bytesUp: Int { up.load(ordering: .relaxed) }
    var bytesDown: Int { down.load(ordering: .relaxed) }
    /// Datagrams a UDP relay refused or could not deliver.
    var datagramsDropped: Int { dropped.load(ordering: .relaxed) }

    init(registry: ServerMetrics? = nil) {
        self.registry = registry
    }

    func countDrop(_ reason: DatagramDropReason) {
        dropped.add(1, ordering: .relaxed)
        registry?.droppedDatagram(reason)
    }

    func countUp(_ bytes: Int) {
        up.add(bytes, ordering: .relaxed)
        registry?.relayedUp(bytes)
        touch()
    }

    func countDown(_ bytes: Int) {
        down.add(bytes, ordering: .relaxed)
        registry?.relayedDown(bytes)
        touch()
    }

    /// A datagram (or UoT frame) of `bytes` payload sent on towards its destination.
    func countDatagramUp(_ bytes: Int) {
        countUp(bytes)
        registry?.relayedDatagramUp()
    }

    /// A datagram of `bytes` payload delivered to the client.
    func countDatagramDown(_ bytes: Int) {
        countDown(bytes)
        registry?.relayedDatagramDown()
    }

    /// A task of this relay started (one direction of a TCP relay): the registry counts it while it runs.
    func relayTaskStarted() { registry?.relayTaskStarted() }
    func relayTaskEnded() { registry?.relayTaskEnded() }

    func touch() {
        lastActivity.store(MonotonicClock.nanoseconds(), ordering: .relaxed)
    }

    /// Nanoseconds since the last byte in either direction.
    var idleNanoseconds: Int64 { MonotonicClock.nanoseconds() - lastActivity.load(ordering: .relaxed) }
}
