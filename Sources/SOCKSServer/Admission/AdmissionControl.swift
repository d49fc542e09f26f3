import AsyncSockets
import Synchronization

/// The first stage of every connection (DESIGN §8), before any protocol byte: may this client address
/// connect (`allowFrom`), and is there room for it (server and per-IP session limits, per-IP rate)?
///
/// Shared by the accept loops of every event loop, so its settings and counts sit behind one lock. It
/// counts every session whatever the limits, so a reload that sets a limit finds the counts right, and it
/// outlives reloads (`update`). A client is its IPv4 address or its IPv6 /64
/// (`IPAddress.clientNetwork`). Memory is bounded: per-client counts exist only for clients with open
/// sessions, and rate buckets are forgotten once full again (see `sweepBuckets`).
final class AdmissionControl: Sendable {
    /// Why a connection was refused.
    enum Refusal: Sendable, Hashable, CustomStringConvertible {
        case notAllowedFrom
        case serverLimit(Int)
        case clientLimit(Int)
        case rate(SessionRate)

        /// The refusal without its limit, for counting and summarising by kind.
        enum Kind: Sendable, Hashable, CaseIterable, CustomStringConvertible {
            case notAllowedFrom, serverLimit, clientLimit, rate

            var description: String {
                switch self {
                case .notAllowedFrom: "not in --allow-from"
                case .serverLimit: "over --max-sessions"
                case .clientLimit: "over --max-sessions-per-ip"
                case .rate: "over --new-sessions-per-ip"
                }
            }
        }

        var kind: Kind {
            switch self {
            case .notAllowedFrom: .notAllowedFrom
            case .serverLimit: .serverLimit
            case .clientLimit: .clientLimit
            case .rate: .rate
            }
        }

        var description: String {
            switch self {
            case .notAllowedFrom: "not in --allow-from"
            case .serverLimit(let limit): "over --max-sessions \(limit)"
            case .clientLimit(let limit): "over --max-sessions-per-ip \(limit)"
            case .rate(let rate): "over --new-sessions-per-ip \(rate)"
            }
        }
    }

    /// What a configuration says about admission.
    private struct Settings {
        var allowFrom: [IPNetwork]
        var maxSessions: Int?
        var maxSessionsPerIP: Int?
        var newSessionsPerIP: SessionRate?

        init(_ configuration: SOCKSServer.Configuration) {
            allowFrom = configuration.allowFrom
            maxSessions = configuration.maxSessions
            maxSessionsPerIP = configuration.maxSessionsPerIP
            newSessionsPerIP = configuration.newSessionsPerIP
        }
    }

    private struct State {
        var settings: Settings
        var total = 0
        var perClient: [IPAddress: Int] = [:]
        var buckets: [IPAddress: TokenBucket] = [:]
        /// The bucket count at which the next sweep runs; doubles with the live buckets so sweeps stay rare.
        var nextSweep = AdmissionControl.minimumSweep
    }

    /// Rate buckets that can pile up before the first sweep.
    static let minimumSweep = 1024
    /// Past this many live buckets (clients that each opened sessions within the last interval), the half
    /// with the most tokens left (the clients that have used least of their rate) is forgotten, rather than
    /// memory spent without bound.
    static let bucketCapacity = 100_000

    private let state: Mutex<State>

    init(configuration: SOCKSServer.Configuration) {
        state = Mutex(State(settings: Settings(configuration)))
    }

    /// Takes a reloaded configuration's settings; the counts of open sessions and the rate buckets stay.
    func update(_ configuration: SOCKSServer.Configuration) {
        state.withLock { $0.settings = Settings(configuration) }
    }

    /// Admits a new connection from `client`, or says why not. An admitted client must be passed to
    /// `leave(_:)` exactly once when its session ends.
    func admit(_ address: IPAddress) -> Refusal? {
        let client = address.clientNetwork
        let now = MonotonicClock.nanoseconds()
        return state.withLock { state -> Refusal? in
            let settings = state.settings
            if !settings.allowFrom.isEmpty && !settings.allowFrom.contains(where: { $0.containsClient(address) }) { return .notAllowedFrom }
            if let maxSessions = settings.maxSessions, state.total >= maxSessions { return .serverLimit(maxSessions) }
            if let maxSessionsPerIP = settings.maxSessionsPerIP, state.perClient[client, default: 0] >= maxSessionsPerIP {
                return .clientLimit(maxSessionsPerIP)
            }
            if let rate = settings.newSessionsPerIP {
                var bucket = state.buckets[client] ?? TokenBucket(rate: rate, now: now)
                guard bucket.take(rate: rate, now: now) else {
                    state.buckets[client] = bucket
                    return .rate(rate)
                }
                state.buckets[client] = bucket
                if state.buckets.count >= state.nextSweep { Self.sweepBuckets(&state, rate: rate, now: now) }
            }
            state.total += 1
            state.perClient[client, default: 0] += 1
            return nil
        }
    }

    /// Ends the admission of a session `admit(_:)` let in.
    func leave(_ address: IPAddress) {
        let client = address.clientNetwork
        state.withLock { state in
            state.total -= 1
            if let count = state.perClient[client], count > 1 {
                state.perClient[client] = count - 1
            } else {
                state.perClient[client] = nil
            }
        }
    }

    /// Clients with open sessions right now, as counted for `--max-sessions-per-ip` (tests read it through
    /// `SOCKSServer.admissionState`).
    var trackedClients: Int { state.withLock { $0.perClient.count } }

    /// The sessions `address`'s client network has open right now, as counted for `--max-sessions-per-ip`.
    func admittedSessions(from address: IPAddress) -> Int {
        state.withLock { $0.perClient[address.clientNetwork] ?? 0 }
    }

    /// Rate buckets held right now.
    var trackedBuckets: Int { state.withLock { $0.buckets.count } }

    /// Forgets full buckets (a full bucket is the same as none); past `bucketCapacity` live ones, also the
    /// half with the most tokens left.
    private static func sweepBuckets(_ state: inout State, rate: SessionRate, now: Int64) {
        state.buckets = state.buckets.filter { !$0.value.isFull(rate: rate, now: now) }
        if state.buckets.count > bucketCapacity {
            let fullest = state.buckets.sorted { $0.value.tokens(rate: rate, now: now) > $1.value.tokens(rate: rate, now: now) }
            for (client, _) in fullest.prefix(state.buckets.count / 2) { state.buckets[client] = nil }
        }
        state.nextSweep = max(minimumSweep, state.buckets.count * 2)
    }
}
