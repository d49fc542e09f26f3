import AsyncSockets
import Synchronization

/// The brake on password guessing: after `failureLimit` failed logins from one IP within a minute, that
/// IP's logins are refused, unchecked, for a backoff that doubles (from `backoff` up to `backoffLimit`)
/// each time the IP earns another one. Other IPs are unaffected, whatever user they log in as.
///
/// Memory is bounded: an IP is kept while it has failures within the window or a backoff to remember, and
/// the table is swept when it grows (see `sweep`).
final class LoginThrottle: Sendable {
    /// Settings, from the server configuration.
    struct Settings: Sendable, Hashable {
        /// Failed logins within `window` that start a backoff; 0 turns throttling off.
        var failureLimit = 10
        var window: Duration = .seconds(60)
        var backoff: Duration = .seconds(30)
        var backoffLimit: Duration = .seconds(300)
    }

    /// One IP's state.
    private enum ClientState {
        /// Counting failures in the window that began at `since`; `lastBackoff` is the backoff this IP
        /// served last (0 for none), which the next one doubles.
        case counting(failures: Int, since: Int64, lastBackoff: Int64)
        /// Logins refused until `until`.
        case blocked(until: Int64, backoff: Int64)
    }

    /// What a failed login led to.
    enum FailureOutcome: Sendable, Equatable {
        case counted
        /// This failure started a backoff of this length.
        case blocked(Duration)
    }

    private struct State {
        var clients: [IPAddress: ClientState] = [:]
        var nextSweep = LoginThrottle.minimumSweep
    }

    static let minimumSweep = 1024
    /// Past this many IPs with recent failures, the table starts afresh: a flood from that many addresses
    /// costs them their backoffs, never the server its memory.
    static let capacity = 100_000

    let settings: Settings
    private let state = Mutex(State())

    init(settings: Settings) {
        self.settings = settings
    }

    var isEnabled: Bool { settings.failureLimit > 0 }

    /// Whether `client` is serving a backoff now: then its login is refused without checking the password.
    func isBlocked(_ client: IPAddress) -> Bool {
        guard isEnabled else { return false }
        let now = MonotonicClock.nanoseconds()
        return state.withLock { state in
            if case .blocked(let until, _) = state.clients[client], until > now { return true }
            return false
        }
    }

    /// Counts a failed login from `client`.
    func recordFailure(_ client: IPAddress) -> FailureOutcome {
        guard isEnabled else { return .counted }
        let now = MonotonicClock.nanoseconds()
        let window = MonotonicClock.nanoseconds(of: settings.window)
        return state.withLock { state -> FailureOutcome in
            var failures = 0
            var since = now
            var lastBackoff: Int64 = 0
            switch state.clients[client] {
            case nil:
                break
            case .counting(let counted, let start, let previous):
                lastBackoff = previous
                if now - start < window {
                    failures = counted
                    since = start
                }
            case .blocked(let until, let backoff):
                // A failure while blocked cannot happen (logins are refused unchecked); one that races the
                // end of a backoff starts the count afresh.
                if until > now { return .counted }
                lastBackoff = backoff
            }
            failures += 1
            guard failures >= settings.failureLimit else {
                state.clients[client] = .counting(failures: failures, since: since, lastBackoff: lastBackoff)
                if state.clients.count >= state.nextSweep { sweep(&state, now: now) }
                return .counted
            }
            let initial = MonotonicClock.nanoseconds(of: settings.backoff)
            let limit = MonotonicClock.nanoseconds(of: settings.backoffLimit)
            let backoff = lastBackoff == 0 ? initial : min(limit, lastBackoff * 2)
            state.clients[client] = .blocked(until: now + backoff, backoff: backoff)
            return .blocked(.nanoseconds(backoff))
        }
    }

    /// IPs the throttle holds state for (for tests).
    var trackedClients: Int { state.withLock { $0.clients.count } }

    /// Forgets IPs whose window has passed with no backoff to remember, and those whose last backoff ended
    /// more than a backoff limit ago (they start again from the initial backoff).
    private func sweep(_ state: inout State, now: Int64) {
        let window = MonotonicClock.nanoseconds(of: settings.window)
        let memory = MonotonicClock.nanoseconds(of: settings.backoffLimit)
        state.clients = state.clients.filter { _, client in
            switch client {
            case .counting(_, let since, let lastBackoff): now - since < (lastBackoff == 0 ? window : max(window, memory))
            case .blocked(let until, _): now - until < memory
            }
        }
        if state.clients.count > Self.capacity { state.clients.removeAll() }
        state.nextSweep = max(Self.minimumSweep, state.clients.count * 2)
    }
}
