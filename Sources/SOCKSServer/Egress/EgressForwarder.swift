import SOCKSProtocol

/// Moves a relay's datagrams through its egress, both ways. To the egress (`forward`): inline when no name lookup is needed, else from a child task
/// (at most `maximumLookups` at once), so one slow name never holds up the datagrams behind it. Every
/// datagram's destination is checked against the access policy first (and a direct egress checks each
/// resolved address again, through its resolver); a denied one is dropped and counted, the relay goes on.
/// Back to the client (`relayReplies(to:)`): the egress's replies, wrapped by the relay's sink.
struct EgressForwarder: Sendable {
    let egress: any DatagramEgress
    let counters: RelayCounters
    let policy: AccessPolicy
    let metrics: ServerMetrics
    /// The user's bandwidth cap: a datagram either direction that does not fit is dropped.
    let bandwidth: BandwidthLimiter?
    let drop: DropReporter
    let lookups = InFlightLimit(maximum: 32)

    func forward(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint, lookupsIn group: inout DiscardingTaskGroup) async {
        counters.touch()
        do {
            try policy.check(destination)
        } catch {
            metrics.deniedDatagram()
            drop(.denied, "\(error)")
            return
        }
        if let bandwidth, !bandwidth.admitDatagram(payload.count) {
            drop(.bandwidth, "to \(destination): over the user's bandwidth cap")
            return
        }
        if egress.sendsWithoutLookup(to: destination) {
            await send(payload, to: destination)
        } else if lookups.begin() {
            let copy = Array(payload)
            group.addTask {
                defer { lookups.end() }
                await send(copy[...], to: destination)
            }
        } else {
            drop(.lookupLimit, "to \(destination): too many name lookups in flight")
        }
    }

    /// The client-bound half of a UDP association or a UoT stream: every reply the egress receives (read
    /// from its `replies` sequence) is checked — refused by the egress, not deliverable yet, over the
    /// bandwidth cap: dropped and counted — and handed to `sink`, which wraps it for the client.
    ///
    /// Returns if the egress's replies end; throws when reading them fails (the egress is closed or has
    /// ended) or when the sink throws (the client's side is gone).
    func relayReplies(to sink: inout some ClientDatagramSink) async throws {
        for try await reply in egress.replies {
            switch reply {
            case .refused(let refused):
                drop(refused.reason, "\(refused)")
            case .datagram(let payload, let source):
                guard sink.accepts(from: source) else { continue }
                if let bandwidth, !bandwidth.admitDatagram(payload.count) {
                    drop(.bandwidth, "from \(source): over the user's bandwidth cap")
                    continue
                }
                if try await sink.deliver(payload, from: source) { counters.countDatagramDown(payload.count) }
            }
        }
    }

    private func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint) async {
        do {
            try await egress.send(payload, to: destination)
            counters.countDatagramUp(payload.count)
        } catch {
            let denied = error is AccessDenied
            if denied { metrics.deniedDatagram() }
            drop(denied ? .denied : .undeliverable, "to \(destination): \(error)")
        }
    }
}
