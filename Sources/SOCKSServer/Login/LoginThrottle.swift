import AsyncSockets
import Synchronization

/// The brake on password guessing: after `failureLimit` failed logins from one client (an IPv4 address or
/// an IPv6 /64) within a window of a minute that starts at its first failure, that client's logins are
/// refused, unchecked, for a backoff that doubles (from `backoff` up to `backoffLimit`) each time it earns
/// another one. Other clients are unaffected, whatever user they log in as.
///
/// Logins in flight count: a login is admitted (`beginAttempt`) only while the client's failures plus its
/// logins being checked stay under the limit, so a client that sends a hundred guesses at once still gets
/// only `failureLimit` of them checked before its backoff; the others wait for the checks ahead of them
/// (and go ahead if those succeed) or are refused once the backoff starts. A right password does not reset
/// the count: otherwise one known account would let a client guess at the others without end.
///
/// Memory is bounded: a client is kept while it has failures within the window, a login in flight, or a
/// backoff to remember, and the table is swept as it grows (see `sweep`).
final class LoginThrottle: Sendable {
    /// Settings, from the server configuration.
    struct Settings: Sendable, Hashable {
        /// Failed logins within `window` that start a backoff; 0 turns throttling off.
        var failureLimit = 10
        var window: Duration = .seconds(60)
        var backoff: Duration = .seconds(30)
        var backoffLimit: Duration = .seconds(300)
    }

    /// Where one client stands.
    private enum Phase {
        /// Counting failures in the window that began at `since`; `lastBackoff` is the backoff this client
        /// served last (0 for none), which the next one doubles.
        case counting(failures: Int, since: Int64, lastBackoff: Int64)
        /// Logins refused until `until`.
        case blocked(until: Int64, backoff: Int64)
    }

    private struct Client {
        var phase: Phase
        /// Logins admitted by `beginAttempt` and not yet ended.
        var inFlight = 0
    }

    /// Whether a login may be checked now.
    enum Admission: Sendable, Equatable {
        case proceed
        /// As many logins as the client has tries left are being checked: ask again shortly.
        case wait
        /// The client is serving a backoff: refuse without checking.
        case refuse
    }

    /// What a failed login led to.
    enum FailureOutcome: Sendable, Equatable {
        case counted
        /// This failure started a backoff of this length.
        case blocked(Duration)
    }

    private struct State {
        var settings: Settings
        var clients: [IPAddress: Client] = [:]
        var nextSweep = LoginThrottle.minimumSweep
    }

    static let minimumSweep = 1024
    /// Clients tracked at most; past it, a sweep forgets those merely counting, then the blocked ones whose
    /// backoff ends soonest, so a flood from many addresses never costs unbounded memory.
    static let capacity = 100_000

    private let state: Mutex<State>

    init(settings: Settings) {
        state = Mutex(State(settings: settings))
    }

    /// The settings now (a reload may change them; clients keep their counts and backoffs).
    var settings: Settings { state.withLock { $0.settings } }

    /// Takes new settings, as a reload gives them.
    func update(_ settings: Settings) {
        state.withLock { $0.settings = settings }
    }

    /// Asks to check a login from `address`; after `.proceed`, `endAttempt` must follow exactly once.
    func beginAttempt(_ address: IPAddress) -> Admission {
        let key = address.clientNetwork
        let now = MonotonicClock.nanoseconds()
        return state.withLock { state -> Admission in
            let settings = state.settings
            guard settings.failureLimit > 0 else { return .proceed }
            let window = MonotonicClock.nanoseconds(of: settings.window)
            var client = state.clients[key] ?? Client(phase: .counting(failures: 0, since: now, lastBackoff: 0))
            switch client.phase {
            case .blocked(let until, _) where until > now:
                return .refuse
            case .blocked(_, let backoff):
                client.phase = .counting(failures: 0, since: now, lastBackoff: backoff)
            case .counting(_, let since, let lastBackoff) where now - since >= window:
                client.phase = .counting(failures: 0, since: now, lastBackoff: lastBackoff)
            case .counting:
                break
            }
            guard case .counting(let failures, _, _) = client.phase, failures + client.inFlight < settings.failureLimit else {
                state.clients[key] = client
                return .wait
            }
            client.inFlight += 1
            state.clients[key] = client
            if state.clients.count >= state.nextSweep { Self.sweep(&state, now: now) }
            return .proceed
        }
    }

    /// Ends a login `beginAttempt` admitted; `failed` for a wrong user or password (not for one that could
    /// not be checked).
    func endAttempt(_ address: IPAddress, failed: Bool) -> FailureOutcome {
        let key = address.clientNetwork
        let now = MonotonicClock.nanoseconds()
        return state.withLock { state -> FailureOutcome in
            let settings = state.settings
            // Throttling turned off (or off when this login began): nothing to count.
            guard settings.failureLimit > 0, state.clients[key] != nil || failed else { return .counted }
            let window = MonotonicClock.nanoseconds(of: settings.window)
            // A client swept away meanwhile (only under a flood past `capacity`) starts afresh.
            var client = state.clients[key] ?? Client(phase: .counting(failures: 0, since: now, lastBackoff: 0), inFlight: 1)
            client.inFlight = max(0, client.inFlight - 1)
            defer { state.clients[key] = client }
            guard failed, case .counting(var failures, var since, let lastBackoff) = client.phase else {
                // A success, or a failure that ends while another one has already started the backoff.
                return .counted
            }
            if now - since >= window {
                failures = 0
                since = now
            }
            failures += 1
            guard failures >= settings.failureLimit else {
                client.phase = .counting(failures: failures, since: since, lastBackoff: lastBackoff)
                return .counted
            }
            let initial = MonotonicClock.nanoseconds(of: settings.backoff)
            let limit = MonotonicClock.nanoseconds(of: settings.backoffLimit)
            let backoff = lastBackoff == 0 ? initial : min(limit, lastBackoff * 2)
            client.phase = .blocked(until: now + backoff, backoff: backoff)
            return .blocked(.nanoseconds(backoff))
        }
    }

    /// Whether `address` is serving a backoff now (for tests).
    func isBlocked(_ address: IPAddress) -> Bool {
        let now = MonotonicClock.nanoseconds()
        return state.withLock { state in
            if case .blocked(let until, _)? = state.clients[address.clientNetwork]?.phase { return until > now }
            return false
        }
    }

    /// Clients the throttle holds state for (for tests).
    var trackedClients: Int { state.withLock { $0.clients.count } }

    /// Forgets clients with nothing left to remember: no login in flight, and a window passed with no
    /// backoff (or a last backoff that ended more than a backoff limit ago, so the next starts afresh).
    /// Past `capacity`, forgets the merely counting, then the blocked whose backoff ends soonest.
    private static func sweep(_ state: inout State, now: Int64) {
        let window = MonotonicClock.nanoseconds(of: state.settings.window)
        let memory = max(window, MonotonicClock.nanoseconds(of: state.settings.backoffLimit))
        state.clients = state.clients.filter { _, client in
            guard client.inFlight == 0 else { return true }
            switch client.phase {
            case .counting(let failures, let since, let lastBackoff):
                return now - since < (lastBackoff == 0 ? (failures == 0 ? 0 : window) : memory)
            case .blocked(let until, _):
                return now - until < memory
            }
        }
        if state.clients.count > capacity {
            state.clients = state.clients.filter { _, client in
                if case .blocked = client.phase { return true }
                return client.inFlight > 0
            }
        }
        if state.clients.count > capacity {
            let soonest = state.clients.sorted { lhs, rhs in
                blockedUntil(lhs.value) < blockedUntil(rhs.value)
            }
            for (key, _) in soonest.prefix(state.clients.count - capacity / 2) { state.clients[key] = nil }
        }
        state.nextSweep = max(minimumSweep, state.clients.count * 2)
    }

    private static func blockedUntil(_ client: Client) -> Int64 {
        if case .blocked(let until, _) = client.phase { return until }
        return .max
    }
}
