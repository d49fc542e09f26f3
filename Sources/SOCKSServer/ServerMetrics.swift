import Synchronization

/// Counters a running server keeps, readable at any time from any thread.
public final class ServerMetrics: Sendable {
    private let active = Atomic<Int>(0)
    private let total = Atomic<Int>(0)
    private let failedHandshakes = Atomic<Int>(0)
    private let clientBytes = Atomic<Int>(0)
    private let targetBytes = Atomic<Int>(0)

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
