import AsyncSockets
import Synchronization

/// Ends a relay that has moved nothing for `timeout`, using event-loop timers (no task of its own): when
/// the time is up it runs `onIdle` (which closes the relay's sockets); while bytes move, it re-arms for
/// the time that is left.
///
/// `stop()` cancels the pending timer, which drops the timer's action at once; the action holds the
/// watchdog only weakly besides, so nothing the relay owns outlives the relay.
final class IdleWatchdog: Sendable {
    /// The lifecycle: armed with the timer that will look next, until the relay stops it or it expires.
    private enum State {
        /// Between scheduling the first timer and recording it (the timer may fire in between).
        case starting
        case armed(LoopTimer)
        case expired
        case stopped
    }

    private let loop: EventLoop
    private let counters: RelayCounters
    private let timeoutNanoseconds: Int64
    private let onIdle: @Sendable () -> Void
    private let state: Mutex<State>

    init(loop: EventLoop, counters: RelayCounters, timeout: Duration, onIdle: @escaping @Sendable () -> Void) {
        self.loop = loop
        self.counters = counters
        self.timeoutNanoseconds = MonotonicClock.nanoseconds(of: timeout)
        self.onIdle = onIdle
        self.state = Mutex(.starting)
        let first = schedule(afterNanoseconds: timeoutNanoseconds)
        state.withLock { state in
            // A first timer that already fired has recorded its successor (or expired): keep that.
            if case .starting = state { state = .armed(first) }
        }
    }

    /// Whether the relay ended because it was idle.
    var hasExpired: Bool {
        state.withLock { state in
            switch state {
            case .expired: true
            case .starting, .armed, .stopped: false
            }
        }
    }

    /// Disarms the watchdog for good (the relay has ended).
    func stop() {
        let pending: LoopTimer? = state.withLock { state in
            switch state {
            case .armed(let timer):
                state = .stopped
                return timer
            case .starting:
                state = .stopped
                return nil
            case .expired, .stopped:
                return nil
            }
        }
        pending?.cancel()
    }

    private func schedule(afterNanoseconds delay: Int64) -> LoopTimer {
        loop.schedule(after: .nanoseconds(max(delay, 1_000_000))) { [weak self] in self?.check() }
    }

    /// Runs on the loop when the timer fires: re-arms for the time left, or expires.
    private func check() {
        let remaining = timeoutNanoseconds - counters.idleNanoseconds
        if remaining > 0 {
            let next = schedule(afterNanoseconds: remaining)
            let keep = state.withLock { state in
                switch state {
                case .starting, .armed:
                    state = .armed(next)
                    return true
                case .expired, .stopped:
                    return false
                }
            }
            if !keep { next.cancel() }
            return
        }
        let expires = state.withLock { state in
            switch state {
            case .starting, .armed:
                state = .expired
                return true
            case .expired, .stopped:
                return false
            }
        }
        if expires { onIdle() }
    }
}
