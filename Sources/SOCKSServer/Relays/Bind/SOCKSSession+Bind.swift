import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
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
            expected = try await BindRelay.expectedPeers(
                accepted.request.destination, resolver: access.destinationResolver, timeout: context.configuration.connectTimeout)
        } catch let denial as AccessDenied {
            await deny(denial)
            return
        } catch {
            await fail(SOCKSReplyCode(reaching: error), reason: "cannot resolve the expected peer: \(error)")
            return
        }
        let relay: BindRelay
        do {
            relay = try BindRelay(
                control: connection, expected: expected, policy: access.policy, timeout: context.configuration.bindTimeout,
                logger: context.logger, label: "session \(record.client)")
        } catch {
            await fail(.generalFailure, reason: "cannot listen for the peer: \(error)")
            return
        }
        defer { relay.close() }
        do {
            try await writeSuccessReply(bound: relay.bound)
        } catch {
            record.outcome = .clientClosed
            return
        }
        switch await relay.waitForPeer() {
        case .peer(let peer, let pending):
            context.logger.debug("session \(record.client): BIND peer \(peer.remoteAddress) connected")
            // The second reply carries the peer's address; then the relay, as for CONNECT.
            await replyAndRelay(with: peer, bound: SOCKSEndpoint(peer.remoteAddress), earlyData: earlyData(accepted, pending: pending))
        case .timedOut:
            await fail(.ttlExpired, reason: "no peer connected within \(context.configuration.bindTimeout)")
        case .acceptFailed(let reason):
            await fail(.generalFailure, reason: "accepting the peer failed: \(reason)")
        case .clientClosed:
            record.outcome = .clientClosed
        }
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
}
