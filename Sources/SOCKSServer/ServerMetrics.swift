import Synchronization

/// Counters a running server keeps, readable at any time from any thread.
public final class ServerMetrics: Sendable {
    private let active = Atomic<Int>(0)
    private let total = Atomic<Int>(0)
    private let failedHandshakes = Atomic<Int>(0)
    private let clientBytes = Atomic<Int>(0)
    private let targetBytes = Atomic<Int>(0)
    private let refusedNotAllowed = Atomic<Int>(0)
    private let refusedServerLimit = Atomic<Int>(0)
    private let refusedClientLimit = Atomic<Int>(0)
    private let refusedRate = Atomic<Int>(0)
    private let refusedUser = Atomic<Int>(0)
    private let refusedUDP = Atomic<Int>(0)
    private let deniedRequests = Atomic<Int>(0)
    private let deniedDatagrams = Atomic<Int>(0)
    private let loginFailures = Atomic<Int>(0)
    private let loginsRefused = Atomic<Int>(0)
    private let loginsUnchecked = Atomic<Int>(0)

    init() {}

    /// Sessions open right now.
    public var activeSessions: Int { active.load(ordering: .relaxed) }
    /// Sessions accepted since start.
    public var totalSessions: Int { total.load(ordering: .relaxed) }
    /// Sessions that ended before a request could be served (bad bytes, failed login, deadline).
    public var failedHandshakeCount: Int { failedHandshakes.load(ordering: .relaxed) }
    /// Bytes relayed from clients to targets.
    public var bytesFromClients: Int { clientBytes.load(ordering: .relaxed) }
    /// Bytes relayed from targets to clients.
    public var bytesToClients: Int { targetBytes.load(ordering: .relaxed) }

    /// Connections closed right after accept: the client is not in `allowFrom`.
    public var refusedNotAllowedFrom: Int { refusedNotAllowed.load(ordering: .relaxed) }
    /// Connections closed right after accept: `maxSessions` were open.
    public var refusedOverServerLimit: Int { refusedServerLimit.load(ordering: .relaxed) }
    /// Connections closed right after accept: the client IP had `maxSessionsPerIP` open.
    public var refusedOverClientLimit: Int { refusedClientLimit.load(ordering: .relaxed) }
    /// Connections closed right after accept: the client IP was over `newSessionsPerIP`.
    public var refusedOverRate: Int { refusedRate.load(ordering: .relaxed) }
    /// Requests answered 02 because the user had `maxSessionsPerUser` open.
    public var refusedOverUserLimit: Int { refusedUser.load(ordering: .relaxed) }
    /// UDP ASSOCIATE and UoT requests answered 02 because `maxUDPAssociations` were open.
    public var refusedOverUDPLimit: Int { refusedUDP.load(ordering: .relaxed) }
    /// Requests (CONNECT, BIND, UDP ASSOCIATE, UoT) answered 02 by the destination rules or because they
    /// named this server's own listening address.
    public var deniedRequestCount: Int { deniedRequests.load(ordering: .relaxed) }
    /// Datagrams and UoT frames dropped by the destination rules.
    public var deniedDatagramCount: Int { deniedDatagrams.load(ordering: .relaxed) }
    /// Logins with a wrong user name or password.
    public var failedLoginCount: Int { loginFailures.load(ordering: .relaxed) }
    /// Logins refused unchecked because their IP was throttled.
    public var throttledLoginCount: Int { loginsRefused.load(ordering: .relaxed) }
    /// Logins refused unchecked because the crypt(3) checker's queue was full (not counted as failures).
    public var uncheckedLoginCount: Int { loginsUnchecked.load(ordering: .relaxed) }

    func refused(_ refusal: AdmissionControl.Refusal) {
        switch refusal {
        case .notAllowedFrom: refusedNotAllowed.add(1, ordering: .relaxed)
        case .serverLimit: refusedServerLimit.add(1, ordering: .relaxed)
        case .clientLimit: refusedClientLimit.add(1, ordering: .relaxed)
        case .rate: refusedRate.add(1, ordering: .relaxed)
        }
    }

    func refusedByUserLimit() { refusedUser.add(1, ordering: .relaxed) }
    func refusedByUDPLimit() { refusedUDP.add(1, ordering: .relaxed) }
    func deniedRequest() { deniedRequests.add(1, ordering: .relaxed) }
    func deniedDatagram() { deniedDatagrams.add(1, ordering: .relaxed) }
    func loginFailed() { loginFailures.add(1, ordering: .relaxed) }
    func loginThrottled() { loginsRefused.add(1, ordering: .relaxed) }
    func loginUnchecked() { loginsUnchecked.add(1, ordering: .relaxed) }

    func sessionStarted() {
        active.add(1, ordering: .relaxed)
        total.add(1, ordering: .relaxed)
    }

    func sessionEnded(up: Int, down: Int, handshakeFailed: Bool) {
        active.subtract(1, ordering: .relaxed)
        clientBytes.add(up, ordering: .relaxed)
        targetBytes.add(down, ordering: .relaxed)
        if handshakeFailed { failedHandshakes.add(1, ordering: .relaxed) }
    }
}
