import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// What can end the wait for a BIND peer.
    private enum BindEvent: Sendable {
        case peer(TCPConnection)
        case timedOut
        case acceptFailed(String)
        /// The client's bytes read during the wait; `closed` if it hung up.
        case control(pending: [UInt8], closed: Bool)
    }

    /// The most a client may send while its BIND waits for the peer (kept for the peer); past it the
    /// server stops reading.
    static let bindPendingLimit = 64 * 1024

    /// BIND (RFC 1928 §4): listen, first reply with where the peer should connect, accept one peer from the
    /// expected address within the deadline, second reply with the peer's address, then relay as CONNECT.
    func serveBind(_ accepted: ClientRequest) async {
        // Routed by the expected peer's address, like a CONNECT to it.
        let plan = context.router.plan(for: accepted.request.destination, user: servedUser)
        // An all-zero expected peer means "any": then each peer that connects is checked instead.
        if accepted.request.destination.socketAddress?.ip.isUnspecified != true {
            do {
                try access.policy(for: plan).check(accepted.request.destination)
            } catch {
                await deny(error)
                return
            }
        }
        switch plan {
        case .allDown(let upstreams):
            await failAllDown(upstreams, "BIND")
            return
        case .upstreams(let upstreams):
            await serveBind(accepted, through: upstreams)
            return
        case .direct:
            record.via = .direct
        }
        let expected: Set<IPAddress>?
        do {
            expected = try await Self.expectedPeers(
                accepted.request.destination, resolver: access.destinationResolver, timeout: context.configuration.connectTimeout)
        } catch let denial as AccessDenied {
            await deny(denial)
            return
        } catch {
            await fail(SOCKSReplyCode(reaching: error), reason: "cannot resolve the expected peer: \(error)")
            return
        }
        let listener: TCPListener
        do {
            listener = try TCPListener(bindingTo: SocketAddress(ip: connection.localAddress.unmapped.ip, port: 0), backlog: 4)
        } catch {
            await fail(.generalFailure, reason: "cannot listen for the peer: \(error)")
            return
        }
        defer { listener.close() }
        do {
            try await writeSuccessReply(bound: SOCKSEndpoint(listener.localAddress))
        } catch {
            record.outcome = .clientClosed
            return
        }

        let (event, pending) = await waitForPeer(on: listener, expected: expected)
        listener.close()
        let peer: TCPConnection
        switch event {
        case .peer(let connection):
            peer = connection
        case .timedOut:
            await fail(.ttlExpired, reason: "no peer connected within \(context.configuration.bindTimeout)")
            return
        case .acceptFailed(let reason):
            await fail(.generalFailure, reason: "accepting the peer failed: \(reason)")
            return
        case .control:
            record.outcome = .clientClosed
            return
        }
        context.logger.debug("session \(record.client): BIND peer \(peer.remoteAddress) connected")

        // The second reply carries the peer's address; then the relay, as for CONNECT.
        await replyAndRelay(with: peer, bound: SOCKSEndpoint(peer.remoteAddress), earlyData: earlyData(accepted, pending: pending))
    }

    /// BIND through an upstream's BIND (the route's, failing over as for CONNECT): its two replies are passed
    /// on, then its connection is relayed.
    private func serveBind(_ accepted: ClientRequest, through upstreams: [RoutedUpstream]) async {
        let configuration = context.configuration
        let expected = accepted.request.destination
        guard let binding = await throughUpstreams(upstreams, "BIND", { client, _ in try await client.bind(expecting: expected) }) else { return }
        do {
            try await writeSuccessReply(bound: binding.listeningAddress)
        } catch {
            binding.connection.close()
            record.outcome = .clientClosed
            return
        }
        let peerAddress: SOCKSEndpoint
        do {
            peerAddress = try await whileClientWaits(timeout: configuration.bindTimeout, endsOnFIN: false) { try await binding.waitForPeer() }
        } catch is PeerHungUp {
            binding.connection.close()
            record.outcome = .clientClosed
            return
        } catch {
            binding.connection.close()
            await fail(error as? SocketError == .timedOut ? .ttlExpired : Self.upstreamFailureCode(error), reason: "upstream BIND: \(error)")
            return
        }
        await replyAndRelay(with: binding.connection, bound: peerAddress, earlyData: accepted.earlyData)
    }

    /// What goes to the peer before the relay: the client's early data and what it sent during the wait.
    /// Under GSS-API protection (levels 1 and 2) those bytes are encapsulated messages: they are handed to
    /// the encapsulated relay as its pending input instead, to be unwrapped there (RFC 1961 §5: every byte
    /// after the subnegotiation, BIND's two replies and its data included, travels encapsulated).
    private func earlyData(_ accepted: ClientRequest, pending: [UInt8]) -> [UInt8] {
        guard let gssapi, let encapsulation = gssapi.encapsulation else { return accepted.earlyData + pending }
        if !pending.isEmpty {
            self.gssapi = GSSAPISession(
                protection: gssapi.protection, encapsulation: encapsulation, encapsulatedInput: gssapi.encapsulatedInput + pending)
        }
        return accepted.earlyData
    }

    /// Races the accept (under the BIND deadline) against the control connection, whose hang-up ends the wait.
    private func waitForPeer(on listener: TCPListener, expected: Set<IPAddress>?) async -> (BindEvent, [UInt8]) {
        let timeout = context.configuration.bindTimeout
        let logger = context.logger
        let policy = access.policy
        let label = "session \(record.client)"
        return await withTaskGroup(of: BindEvent.self) { [connection] group in
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
                    while pending.count < Self.bindPendingLimit {
                        let room = Self.bindPendingLimit - pending.count
                        if buffer.count > room { buffer = [UInt8](repeating: 0, count: room) }
                        let count = try await connection.read(into: &buffer)
                        if count == 0 { return .control(pending: pending, closed: true) }
                        pending += buffer[0..<count]
                    }
                    buffer = []
                    try await connection.waitUntilPeerCloses()
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
    private static func expectedPeers(_ destination: SOCKSEndpoint, resolver: any HostResolver, timeout: Duration) async throws -> Set<IPAddress>? {
        switch destination.address {
        case .ipv4(let bytes), .ipv6(let bytes):
            guard let ip = IPAddress(bytes: bytes), !ip.isUnspecified else { return nil }
            return [ip.unmapped]
        case .domain(let name):
            return Set(try await resolver.resolve(host: name, port: destination.port, timeout: timeout).map(\.ip.unmapped))
        }
    }
}
