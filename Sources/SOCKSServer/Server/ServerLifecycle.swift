import Synchronization

/// Where a server is in its life, readable from any thread without an actor hop: what `/healthz` reports.
///
/// The phase only moves forward (ready → serving → draining → stopped, skipping any), by compare-exchange,
/// so a `shutdown()` that races `run()` can never be undone by it.
final class ServerLifecycle: Sendable {
    private let phase = Atomic<UInt8>(SOCKSServer.Phase.ready.rawValue)

    var current: SOCKSServer.Phase {
        SOCKSServer.Phase(rawValue: phase.load(ordering: .acquiring)) ?? .stopped
    }

    /// `run()` began: serving, unless a `shutdown()` came first.
    func started() { advance(to: .serving) }
    /// `shutdown()` was asked for: draining, unless already stopped.
    func draining() { advance(to: .draining) }
    /// `run()` returned.
    func stopped() { advance(to: .stopped) }

    private func advance(to next: SOCKSServer.Phase) {
        var seen = phase.load(ordering: .relaxed)
        while seen < next.rawValue {
            let (exchanged, original) = phase.compareExchange(expected: seen, desired: next.rawValue, ordering: .acquiringAndReleasing)
            if exchanged { return }
            seen = original
        }
    }
}
