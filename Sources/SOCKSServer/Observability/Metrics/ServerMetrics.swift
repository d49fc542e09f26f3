import Synchronization

/// Counters a running server keeps, readable at any time from any thread: the one registry the stages
/// (admission, handshake, policy, relays) update and the metrics endpoint reads
/// (`prometheusText(version:)`). Every update is a relaxed atomic add: no lock, even per relayed chunk.
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
    private let untrustedProxies = Atomic<Int>(0)
    private let proxyHeaderFailures = Atomic<Int>(0)
    /// Ended sessions by command and outcome: `command * outcomes + outcome`.
    private let sessionsEnded = AtomicCounterArray(count: SessionCommandLabel.allCases.count * SessionOutcomeLabel.allCases.count)
    /// Ended sessions by the protocol their first byte chose.
    private let sessionsByProtocol = AtomicCounterArray(count: SessionProtocolLabel.allCases.count)
    /// Open sessions by command (`none` while in the handshake).
    private let activeByCommand = AtomicCounterArray(count: SessionCommandLabel.allCases.count)
    private let datagramsUp = Atomic<Int>(0)
    private let datagramsDown = Atomic<Int>(0)
    private let datagramDrops = AtomicCounterArray(count: DatagramDropReason.allCases.count)
    /// From accept to a complete request, for handshakes that completed.
    let handshakeDurations = AtomicHistogram(bounds: AtomicHistogram.latencyBounds)
    /// From the start of a CONNECT's dial (direct or through the upstream) to the connection.
    let connectDurations = AtomicHistogram(bounds: AtomicHistogram.latencyBounds)
    private let reloadsSucceeded = Atomic<Int>(0)
    private let reloadsFailed = Atomic<Int>(0)
    /// Per upstream (`default` and the named ones): up or down, sessions by outcome, connect times.
    let upstreams = UpstreamMetrics()
    /// Relay tasks running now: a TCP relay's direction tasks (not exported; tests count a session's tree).
    private let relayTasks = Atomic<Int>(0)

    init() {}

    /// Sessions open right now.
    public var activeSessions: Int { active.load(ordering: .relaxed) }
    /// Sessions accepted since start.
    public var totalSessions: Int { total.load(ordering: .relaxed) }
    /// Sessions that ended before a request could be served (bad bytes, failed login, deadline).
    public var failedHandshakeCount: Int { failedHandshakes.load(ordering: .relaxed) }
    /// Bytes relayed from clients to targets (UDP: payloads), counted as they move.
    public var bytesFromClients: Int { clientBytes.load(ordering: .relaxed) }
    /// Bytes relayed from targets to clients (UDP: payloads), counted as they move.
    public var bytesToClients: Int { targetBytes.load(ordering: .relaxed) }
    /// Datagrams (and UoT frames) relayed from clients to their destinations.
    public var datagramsFromClients: Int { datagramsUp.load(ordering: .relaxed) }
    /// Datagrams relayed from destinations to clients.
    public var datagramsToClients: Int { datagramsDown.load(ordering: .relaxed) }
    /// Configuration reloads that took effect.
    public var succeededReloadCount: Int { reloadsSucceeded.load(ordering: .relaxed) }
    /// Configuration reloads refused (the old configuration stayed).
    public var failedReloadCount: Int { reloadsFailed.load(ordering: .relaxed) }

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

    /// Connections to a PROXY listener from a sender not among its trusted balancers.
    public var untrustedProxyCount: Int { untrustedProxies.load(ordering: .relaxed) }
    /// Connections to a PROXY listener closed for a missing, late or malformed header.
    public var proxyHeaderFailureCount: Int { proxyHeaderFailures.load(ordering: .relaxed) }

    func untrustedProxy() { untrustedProxies.add(1, ordering: .relaxed) }
    func proxyHeaderFailed() { proxyHeaderFailures.add(1, ordering: .relaxed) }
    func refusedByUserLimit() { refusedUser.add(1, ordering: .relaxed) }
    func refusedByUDPLimit() { refusedUDP.add(1, ordering: .relaxed) }
    func deniedRequest() { deniedRequests.add(1, ordering: .relaxed) }
    func deniedDatagram() { deniedDatagrams.add(1, ordering: .relaxed) }
    func loginFailed() { loginFailures.add(1, ordering: .relaxed) }
    func loginThrottled() { loginsRefused.add(1, ordering: .relaxed) }
    func loginUnchecked() { loginsUnchecked.add(1, ordering: .relaxed) }

    /// Counts a configuration reload: call it once per reload, after it took effect or was refused.
    package func recordReload(succeeded: Bool) {
        if succeeded {
            reloadsSucceeded.add(1, ordering: .relaxed)
        } else {
            reloadsFailed.add(1, ordering: .relaxed)
        }
    }

    func sessionStarted() {
        active.add(1, ordering: .relaxed)
        total.add(1, ordering: .relaxed)
        activeByCommand.add(1, at: SessionCommandLabel.none.rawValue)
    }

    /// The handshake of `record`'s session produced a request (its command and destination are set): times
    /// the handshake and moves the session from `none` to its command.
    func handshakeCompleted(_ record: SessionRecord) {
        handshakeDurations.observe(ContinuousClock.now - record.started)
        activeByCommand.subtract(1, at: SessionCommandLabel.none.rawValue)
        activeByCommand.add(1, at: SessionCommandLabel(record).rawValue)
    }

    /// A CONNECT reached its destination, having started to dial at `start`.
    func connected(since start: ContinuousClock.Instant) {
        connectDurations.observe(ContinuousClock.now - start)
    }

    func sessionEnded(_ record: SessionRecord) {
        let command = SessionCommandLabel(record)
        active.subtract(1, ordering: .relaxed)
        activeByCommand.subtract(1, at: command.rawValue)
        let outcome = record.outcome.label
        sessionsEnded.add(1, at: Self.sessionIndex(command, outcome))
        sessionsByProtocol.add(1, at: SessionProtocolLabel(record.clientProtocol).rawValue)
        if record.handshakeFailed { failedHandshakes.add(1, ordering: .relaxed) }
        if case .upstream(let name) = record.via { upstreams.counters(name)?.sessions.add(1, at: outcome.rawValue) }
    }

    func relayTaskStarted() { relayTasks.add(1, ordering: .relaxed) }
    func relayTaskEnded() { relayTasks.subtract(1, ordering: .relaxed) }
    /// Relay tasks running now, in every session of this server.
    var liveRelayTasks: Int { relayTasks.load(ordering: .relaxed) }

    func relayedUp(_ bytes: Int) { clientBytes.add(bytes, ordering: .relaxed) }
    func relayedDown(_ bytes: Int) { targetBytes.add(bytes, ordering: .relaxed) }
    func relayedDatagramUp() { datagramsUp.add(1, ordering: .relaxed) }
    func relayedDatagramDown() { datagramsDown.add(1, ordering: .relaxed) }
    func droppedDatagram(_ reason: DatagramDropReason) { datagramDrops.add(1, at: reason.rawValue) }

    /// Ended sessions with this command and outcome.
    func endedSessions(_ command: SessionCommandLabel, _ outcome: SessionOutcomeLabel) -> Int {
        sessionsEnded[Self.sessionIndex(command, outcome)]
    }

    /// Ended sessions whose first byte chose this protocol.
    func endedSessions(_ chosen: SessionProtocolLabel) -> Int {
        sessionsByProtocol[chosen.rawValue]
    }

    /// Open sessions with this command.
    func activeSessions(_ command: SessionCommandLabel) -> Int {
        activeByCommand[command.rawValue]
    }

    /// Datagrams dropped for `reason`.
    func droppedDatagrams(_ reason: DatagramDropReason) -> Int {
        datagramDrops[reason.rawValue]
    }

    private static func sessionIndex(_ command: SessionCommandLabel, _ outcome: SessionOutcomeLabel) -> Int {
        command.rawValue * SessionOutcomeLabel.allCases.count + outcome.rawValue
    }
}
