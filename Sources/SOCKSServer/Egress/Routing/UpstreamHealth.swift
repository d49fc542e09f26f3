/// Whether an upstream is used: every upstream starts `up`; `failureLimit` consecutive failures (it could
/// not be reached, or did not complete its greeting and login) make it `down`, and routes skip it until a
/// probe (or a session) reaches it again. An upstream's own refusal of a request is an answer, not a
/// failure: it resets the count.
enum UpstreamHealth: Sendable, Hashable {
    case up(consecutiveFailures: Int)
    case down(reason: String)

    /// What a recorded result changed: the log says each change once.
    enum Change: Sendable, Hashable {
        case wentDown(reason: String)
        case cameUp
    }

    static let initial = UpstreamHealth.up(consecutiveFailures: 0)

    var isUp: Bool {
        switch self {
        case .up: true
        case .down: false
        }
    }

    /// The upstream answered (a session's handshake, or a probe).
    mutating func recordSuccess() -> Change? {
        switch self {
        case .up:
            self = .up(consecutiveFailures: 0)
            return nil
        case .down:
            self = .up(consecutiveFailures: 0)
            return .cameUp
        }
    }

    /// The upstream could not be reached or did not complete its handshake.
    mutating func recordFailure(_ reason: String, failureLimit: Int) -> Change? {
        switch self {
        case .up(let failures):
            guard failures + 1 >= failureLimit else {
                self = .up(consecutiveFailures: failures + 1)
                return nil
            }
            self = .down(reason: reason)
            return .wentDown(reason: reason)
        case .down:
            // Still down: said once already.
            self = .down(reason: reason)
            return nil
        }
    }
}
