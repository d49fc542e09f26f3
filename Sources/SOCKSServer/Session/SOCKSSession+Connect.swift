import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// CONNECT: check the destination against the access policy, reach it within the connect deadline, reply with the real bound address, pass
    /// on any early data, then relay until both directions end.
    func serveConnect(_ accepted: Accepted) async {
        guard let (target, bound) = await reach(accepted.request.destination) else { return }
        await replyAndRelay(with: target, bound: bound, earlyData: accepted.earlyData)
    }

    /// Checks `destination` against the access policy and connects to it within the connect deadline,
    /// directly or through the upstream: the connection and its bound address (the upstream's BND, or this
    /// side's local address). On a failure the client has its reply (denied or failed, in its dialect), the
    /// record says why, and the result is nil.
    func reach(_ destination: SOCKSEndpoint) async -> (TCPConnection, bound: SOCKSEndpoint)? {
        let configuration = context.configuration
        do {
            try access.policy.check(destination)
        } catch {
            await deny(error)
            return nil
        }
        let dialing = ContinuousClock.now
        let target: TCPConnection
        let bound: SOCKSEndpoint
        if let upstream = configuration.upstream {
            do {
                let client = upstream.client(resolver: configuration.resolver, timeout: configuration.connectTimeout)
                let tunnel = try await whileClientWaits(timeout: configuration.connectTimeout, endsOnFIN: false) { try await client.connect(to: destination) }
                target = tunnel.connection
                // The upstream's BND is the real outbound address; this server's own leg would say less.
                bound = tunnel.bound
            } catch is ClientHungUp {
                record.outcome = "client-closed"
                return nil
            } catch {
                await fail(Self.upstreamFailureCode(error), reason: "through upstream \(upstream.redactedURL): \(error)")
                return nil
            }
        } else {
            do {
                target = try await Self.dial(destination, resolver: access.destinationResolver, timeout: configuration.connectTimeout)
            } catch let denial as AccessDenied {
                // The name resolved only to addresses the policy denies.
                await deny(denial)
                return nil
            } catch {
                await fail(SOCKSReplyCode(reaching: error), reason: "\(error)")
                return nil
            }
            bound = SOCKSEndpoint(target.localAddress)
        }
        context.metrics.connected(since: dialing)
        return (target, bound)
    }

    /// Connects to a literal address directly, or resolves a name and races its addresses, all within
    /// `timeout` (timed by the event loop: no task group for the common cases).
    private static func dial(_ destination: SOCKSEndpoint, resolver: any HostResolver, timeout: Duration) async throws -> TCPConnection {
        if let address = destination.socketAddress {
            return try await TCPConnection.connect(to: address, timeout: timeout)
        }
        guard case .domain(let name) = destination.address else { throw SocketError.nameNotFound("\(destination)") }
        return try await TCPConnection.connect(toHost: name, port: destination.port, resolver: resolver, timeout: timeout)
    }
}
