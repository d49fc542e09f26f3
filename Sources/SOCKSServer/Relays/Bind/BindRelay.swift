import AsyncSockets
import SOCKSProtocol

/// BIND's own part (RFC 1928 §4), served directly: a listener beside the client's connection (its local
/// IP, port 0), and the wait for the one peer it accepts, from the expected address, within the BIND
/// deadline, while the client's connection is watched and what the client sends meanwhile is kept for the
/// peer. The session writes the two replies around it, then relays the peer as it relays a CONNECT
/// (`replyAndRelay`).
///
/// A value of the session's task, made for the one BIND: the listener and the wait's state live here and
/// in the wait's frames, so no session of another command carries any of it. Whoever made it closes it
/// (`close()`; `waitForPeer()` closes the listener too, as soon as the wait is over).
struct BindRelay {
    /// How the wait for the peer ended.
    enum Ending {
        /// The peer connected; `pending` is what the client sent meanwhile (for the peer, first).
        case peer(TCPConnection, pending: [UInt8])
        /// No acceptable peer within the BIND deadline.
        case timedOut
        case acceptFailed(String)
        /// The client hung up (or reset) before the peer came.
        case clientClosed
    }

    /// What can end the wait: each of its two tasks ends with one.
    private enum Event: Sendable {
        case peer(TCPConnection)
        case timedOut
        case acceptFailed(String)
        /// The client's bytes read during the wait; `closed` if it hung up.
        case control(pending: [UInt8], closed: Bool)
    }

    /// The most a client may send while its BIND waits for the peer (kept for the peer); past it the
    /// server stops reading.
    static let pendingLimit = 64 * 1024

    /// The client's connection: watched during the wait, and where the listener's IP comes from.
    let control: TCPConnection
    let listener: TCPListener
    /// The addresses the peer may come from; nil for any (then each is checked against `policy`).
    let expected: Set<IPAddress>?
    let policy: AccessPolicy
    /// The BIND deadline, for the peer to connect.
    let timeout: Duration
    let logger: SOCKSLogger
    /// How the log names the session (`session CLIENT`).
    let label: String

    /// Opens the listener on the control connection's local IP.
    ///
    /// - Throws: the listener's error (the session answers 01).
    init(control: TCPConnection, expected: Set<IPAddress>?, policy: AccessPolicy, timeout: Duration, logger: SOCKSLogger, label: String) throws {
        self.listener = try TCPListener(bindingTo: SocketAddress(ip: control.localAddress.unmapped.ip, port: 0), backlog: 4)
        self.control = control
        self.expected = expected
        self.policy = policy
        self.timeout = timeout
        self.logger = logger
        self.label = label
    }

    /// Where the peer should connect: the first reply's BND.
    var bound: SOCKSEndpoint { SOCKSEndpoint(listener.localAddress) }

    func close() {
        listener.close()
    }

    /// Races the accept (under the BIND deadline) against the control connection, whose hang-up ends the
    /// wait; closes the listener before it returns. Runs in the caller's isolation (the session's), which
    /// only waits for its two tasks.
    nonisolated(nonsending) func waitForPeer() async -> Ending {
        let (event, pending) = await firstEvent()
        listener.close()
        switch event {
        case .peer(let connection): return .peer(connection, pending: pending)
        case .timedOut: return .timedOut
        case .acceptFailed(let reason): return .acceptFailed(reason)
        case .control: return .clientClosed
        }
    }

    private nonisolated(nonsending) func firstEvent() async -> (Event, [UInt8]) {
        let (listener, expected, policy, timeout, logger, label) = (listener, expected, policy, timeout, logger, label)
        return await withTaskGroup(of: Event.self) { [control] group in
            group.addTask {
                do {
                    return .peer(try await withDeadline(timeout) {
                        for try await candidate in listener.connections() {
                            let address = candidate.remoteAddress.unmapped
                            if let expected, !expected.contains(address.ip) {
                                logger.warning("\(label): BIND refused a peer from \(address), not the expected address")
                            } else {
                                do {
                                    try policy.check(name: nil, address: address)
                                    return candidate
                                } catch {
                                    logger.warning("\(label): BIND refused a peer: \(error)")
                                }
                            }
                            candidate.close()
                        }
                        throw SocketError.closed
                    })
                } catch SocketError.timedOut {
                    return .timedOut
                } catch {
                    return .acceptFailed("\(error)")
                }
            }
            group.addTask {
                // What the client sends before the peer arrives is kept for the peer, up to a bound; then
                // reading stops, so the client's sends back up as in any relay, and only its hang-up is watched:
                // a reset ends the wait at once, but a FIN queued behind unread bytes cannot be seen, so a
                // client that closes with the bound reached waits out the BIND deadline.
                var pending: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 4096)
                do {
                    while pending.count < Self.pendingLimit {
                        let room = Self.pendingLimit - pending.count
                        if buffer.count > room { buffer = [UInt8](repeating: 0, count: room) }
                        let count = try await control.read(into: &buffer)
                        if count == 0 { return .control(pending: pending, closed: true) }
                        pending += buffer[0..<count]
                    }
                    buffer = []
                    try await control.waitUntilPeerCloses()
                    return .control(pending: pending, closed: true)
                } catch {
                    // Cancelled because the accept side finished, or a reset: the client is gone.
                    return .control(pending: pending, closed: !Task.isCancelled)
                }
            }
            let first = await group.next()!
            group.cancelAll()
            let second = await group.next()!
            switch (first, second) {
            case (.control(let pending, _), let event), (let event, .control(let pending, _)):
                // The client hung up first: the wait is over whatever the accept side says.
                if case .control(_, closed: true) = first { return (first, pending) }
                return (event, pending)
            default:
                return (first, [])
            }
        }
    }

    /// The addresses a BIND peer may come from: `nil` (anyone) for an all-zero DST.ADDR.
    static func expectedPeers(_ destination: SOCKSEndpoint, resolver: any HostResolver, timeout: Duration) async throws -> Set<IPAddress>? {
        switch destination.address {
        case .ipv4(let bytes), .ipv6(let bytes):
            guard let ip = IPAddress(bytes: bytes), !ip.isUnspecified else { return nil }
            return [ip.unmapped]
        case .domain(let name):
            return Set(try await resolver.resolve(host: name, port: destination.port, timeout: timeout).map(\.ip.unmapped))
        }
    }
}
