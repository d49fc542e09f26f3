import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// CONNECT: check the destination against the access policy, reach it within the connect deadline, reply with the real bound address, pass
    /// on any early data, then relay until both directions end.
    func serveConnect(_ accepted: ClientRequest) async {
        guard let (target, bound) = await reach(accepted.request.destination) else { return }
        await replyAndRelay(with: target, bound: bound, earlyData: accepted.earlyData)
    }

    /// Routes `destination`, checks it against the access policy and connects to it within the connect
    /// deadline, directly or through the route's upstreams (`throughUpstreams`): the connection and its
    /// bound address (the upstream's BND, or this side's local address). On a failure the client has its reply (denied or failed, in its dialect), the
    /// record says why, and the result is nil. A client that hangs up (resets) while the dial waits ends it
    /// at once, on either path; it gets no reply (outcome `client-closed`).
    func reach(_ destination: SOCKSEndpoint) async -> (TCPConnection, bound: SOCKSEndpoint)? {
        // The route only picks the policy's form (direct or through an upstream): the rules decide before
        // anything is tried, and a denied request is never sent anywhere.
        let plan = context.router.plan(for: destination, user: servedUser)
        do {
            try access.policy(for: plan).check(destination)
        } catch {
            await deny(error)
            return nil
        }
        let dialing = ContinuousClock.now
        let reached: (TCPConnection, bound: SOCKSEndpoint)?
        switch plan {
        case .allDown(let upstreams):
            await failAllDown(upstreams, "CONNECT")
            return nil
        case .upstreams(let upstreams):
            reached = await reach(destination, through: upstreams)
        case .direct:
            reached = await reachDirectly(destination)
        }
        guard let reached else { return nil }
        context.metrics.connected(since: dialing)
        return reached
    }

    /// `reach` through the first of `upstreams` that connects. Never inlined, like `reachDirectly`: a task
    /// keeps the allocator slabs its deepest stack ever needed for as long as it lives, and this frame (the
    /// upstream client, the failover's state) was 1.5 KiB of `reach`'s, which every CONNECT session kept.
    @inline(never)
    private func reach(_ destination: SOCKSEndpoint, through upstreams: [RoutedUpstream]) async -> (TCPConnection, bound: SOCKSEndpoint)? {
        guard let tunnel = await throughUpstreams(upstreams, "CONNECT", { client, _ in try await client.connect(to: destination) }) else {
            return nil
        }
        // The upstream's BND is the real outbound address; this server's own leg would say less.
        return (tunnel.connection, tunnel.bound)
    }

    /// `reach` by a direct dial.
    @inline(never)
    private func reachDirectly(_ destination: SOCKSEndpoint) async -> (TCPConnection, bound: SOCKSEndpoint)? {
        record.via = .direct
        let target: TCPConnection
        do {
            target = try await dial(destination, timeout: context.configuration.connectTimeout)
        } catch is PeerHungUp {
            record.outcome = .clientClosed
            return nil
        } catch let denial as AccessDenied {
            // The name resolved only to addresses the policy denies.
            await deny(denial)
            return nil
        } catch {
            await fail(SOCKSReplyCode(reaching: error), reason: "\(error)")
            return nil
        }
        return (target, SOCKSEndpoint(target.localAddress))
    }

    /// Connects to a literal address directly, or resolves a name and races its addresses, all within
    /// `timeout` (timed by the event loop). A connect that `connect()` itself finished (loopback, usually)
    /// costs no wait, no timer and no task; whatever waits (a pending handshake, a lookup) runs under
    /// `whileClientWaits`, so a client that resets meanwhile ends the dial at once (`PeerHungUp`) instead
    /// of at the deadline. A FIN does not: for CONNECT it is a half-close the relay passes on.
    private func dial(_ destination: SOCKSEndpoint, timeout: Duration) async throws -> TCPConnection {
        if let address = destination.socketAddress {
            switch try TCPConnection.startConnect(to: address) {
            case .connected(let connection):
                return connection
            case .pending(let pending):
                return try await whileClientWaits(timeout: nil, endsOnFIN: false) { try await pending.finish(timeout: timeout) }
            }
        }
        guard case .domain(let name) = destination.address else { throw SocketError.nameNotFound("\(destination)") }
        let (resolver, port) = (access.destinationResolver, destination.port)
        return try await whileClientWaits(timeout: nil, endsOnFIN: false) {
            try await TCPConnection.connect(toHost: name, port: port, resolver: resolver, timeout: timeout)
        }
    }
}
