import AsyncSockets
import SOCKSProtocol

extension SOCKSSession {
    /// The set-up that UDP ASSOCIATE and a UoT stream share, around the command's own relay: the relay's
    /// counters and drop reporter, its egress (a failure to open it answered in the client's dialect), the
    /// success reply naming `bound`, the tracker told the session relays, then `relay` with the forwarder,
    /// and the access record filled from the counters and the outcome `relay` returns.
    ///
    /// - Parameters:
    ///   - abandon: closes what the caller opened for the relay, on every path that ends before `relay`.
    ///   - relay: runs the relay; returns the session's outcome. It owns the egress (closes it).
    func serveDatagramRelay(bound: SocketAddress, abandon: () -> Void = {}, relay: (EgressForwarder) async -> SessionOutcome) async {
        let counters = RelayCounters(registry: context.metrics)
        let drop = makeDropReporter(counters: counters)
        guard let (egress, policy) = await openDatagramRelay(bound: bound, drop: drop, abandon: abandon) else { return }
        tracker.relaying(with: counters)
        let outcome = await relay(makeForwarder(egress: egress, policy: policy, drop: drop))
        if let routed = egress as? RoutedDatagramEgress {
            // Routed per datagram: the way the association's first egress left (none: `via=-`).
            record.via = routed.firstVia
        }
        record.bytesUp = counters.bytesUp
        record.bytesDown = counters.bytesDown
        record.datagramsDropped = counters.datagramsDropped
        record.outcome = outcome
    }

    /// Opens the egress and writes the success reply naming `bound`. Nil when either failed: the client has
    /// its failure reply or has hung up (the record says which), and `abandon` has run.
    ///
    /// A function of its own, never inlined: its failure paths would otherwise grow the frame of
    /// `serveDatagramRelay`, which lies under the relay for the association's life (the task allocator keeps
    /// the slabs of a session's deepest stack until the session ends).
    @inline(never)
    private func openDatagramRelay(
        bound: SocketAddress, drop: DropReporter, abandon: () -> Void
    ) async -> (egress: any DatagramEgress, policy: AccessPolicy)? {
        let egress: any DatagramEgress
        let policy: AccessPolicy
        do {
            guard let opened = try await makeDatagramEgress(drop: drop) else {
                abandon()
                return nil
            }
            (egress, policy) = opened
        } catch is PeerHungUp {
            abandon()
            record.outcome = .clientClosed
            return nil
        } catch {
            abandon()
            await fail(Self.upstreamFailureCode(error), reason: "cannot open the UDP egress: \(error)")
            return nil
        }
        do {
            // From the handshake's buffer, which goes back to the pool with it: kept for the reply, it
            // was held for the relay's whole life (800 bytes of every idle association and stream).
            try await writeSuccessReply(bound: SOCKSEndpoint(bound))
        } catch {
            abandon()
            egress.close()
            record.outcome = .clientClosed
            return nil
        }
        return (egress, policy)
    }
}
