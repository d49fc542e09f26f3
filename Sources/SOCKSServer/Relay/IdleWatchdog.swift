import AsyncSockets
import Synchronization

/// Ends a relay that has moved nothing for `timeout`, using event-loop timers (no task of its own): when
/// the time is up it runs `onIdle` (which closes the relay's sockets); while bytes move, it re-arms for
/// the time that is left.
final class IdleWatchdog: Sendable {
    private let loop: EventLoop
    private let counters: RelayCounters
    private let timeoutNanoseconds: Int64
    private let onIdle: @Sendable () -> Void
    private let timer = Mutex<LoopTimer?>(nil)
    private let expired = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)

    init(loop: EventLoop, counters: RelayCounters, timeout: Duration, onIdle: @escaping @Sendable () -> Void) {
        self.loop = loop
        self.counters = counters
        self.timeoutNanoseconds = MonotonicClock.nanoseconds(of: timeout)
        self.onIdle = onIdle
        arm(afterNanoseconds: timeoutNanoseconds)
    }

    /// Whether the relay ended because it was idle.
    var hasExpired: Bool { expired.load(ordering: .acquiring) }

    func stop() {
        stopped.store(true, ordering: .releasing)
        timer.withLock { $0?.cancel() }
    }

    private func arm(afterNanoseconds delay: Int64) {
        guard !stopped.load(ordering: .acquiring) else { return }
        let next = loop.schedule(after: .nanoseconds(max(delay, 1_000_000))) { [self] in check() }
        timer.withLock { $0 = next }
    }

    private func check() {
        let remaining = timeoutNanoseconds - counters.idleNanoseconds
        if remaining > 0 {
            arm(afterNanoseconds: remaining)
        } else if !stopped.load(ordering: .acquiring) {
            expired.store(true, ordering: .releasing)
            onIdle()
        }
    }
}
