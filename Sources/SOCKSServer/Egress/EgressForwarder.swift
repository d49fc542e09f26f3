import SOCKSProtocol

/// Moves a relay's datagrams through its egress, both ways. To the egress (`forward`): inline when no name lookup is needed, else from a child task
/// (at most `maximumLookups` at once), so one slow name never holds up the datagrams behind it. Every
/// datagram's destination is checked against the access policy first (and a direct egress checks each
/// resolved address again, through its resolver); a denied one is dropped and counted, the relay goes on.
/// Back to the client (`relayReplies(to:)`): the egress's replies, wrapped by the relay's sink.
struct EgressForwarder: Sendable {
    let egress: any DatagramEgress
    /// The egress as a router, when it routes each datagram by its destination (then the route's egress and
    /// its form of the rules take the place of `egress` and `policy` for the datagram).
    let routing: RoutedDatagramEgress?
    let counters: RelayCounters
    let policy: AccessPolicy
    let metrics: ServerMetrics
    /// The user's bandwidth cap: a datagram either direction that does not fit is dropped.
    let bandwidth: BandwidthLimiter?
    let drop: DropReporter
    let lookups = InFlightLimit(maximum: 32)

    init(
        egress: any DatagramEgress, counters: RelayCounters, policy: AccessPolicy, metrics: ServerMetrics, bandwidth: BandwidthLimiter?,
        drop: DropReporter
    ) {
        self.egress = egress
        routing = egress as? RoutedDatagramEgress
        self.counters = counters
        self.policy = policy
        self.metrics = metrics
        self.bandwidth = bandwidth
        self.drop = drop
    }

    /// One datagram from the client: routed (when the egress routes), checked against the rules, then sent
    /// inline or from a child task in `group` (a name to look up, or a route's upstream egress to open).
    func forward(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint, lookupsIn group: inout DiscardingTaskGroup) async {
        counters.touch()
        let path = routing?.path(to: destination) ?? .open(egress, policy: policy)
        do {
            try path.policy.check(destination)
        } catch {
            metrics.deniedDatagram()
            drop(.denied, "\(error)")
            return
        }
        let leg: any DatagramEgress
        switch path {
        case .open(let open, _):
            leg = open
        case .toOpen:
            leg = egress
        case .unavailable(let error, _):
            drop(.undeliverable, "to \(destination): \(error)")
            return
        }
        if let bandwidth, !bandwidth.admitDatagram(payload.count) {
            drop(.bandwidth, "to \(destination): over the user's bandwidth cap")
            return
        }
        if case .open = path, leg.sendsWithoutLookup(to: destination) {
            await send(payload, to: destination, through: leg)
        } else if lookups.begin() {
            let copy = Array(payload)
            group.addTask {
                defer { lookups.end() }
                if case .toOpen(let upstreams, _) = path, let routing {
                    await send(copy[...], to: destination, opening: upstreams, of: routing)
                } else {
                    await send(copy[...], to: destination, through: leg)
                }
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
        if let readable = egress as? any ReadableDatagramEgress {
            // One egress, read in this task's own loop: no closure frame parked under an idle relay's read.
            for try await reply in readable.replies { try await relay(reply, to: &sink) }
            return
        }
        try await egress.forEachReply { try await relay($0, to: &sink) }
    }

    /// Hands one reply to `sink`, or drops and counts it.
    private func relay(_ reply: DatagramReply, to sink: inout some ClientDatagramSink) async throws {
        switch reply {
        case .refused(let refused):
            drop(refused.reason, "\(refused)")
        case .datagram(let payload, let source):
            guard sink.accepts(from: source) else { return }
            if let bandwidth, !bandwidth.admitDatagram(payload.count) {
                drop(.bandwidth, "from \(source): over the user's bandwidth cap")
                return
            }
            if try await sink.deliver(payload, from: source) { counters.countDatagramDown(payload.count) }
        }
    }

    private func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint, through leg: any DatagramEgress) async {
        await counting(payload, to: destination) { try await leg.send(payload, to: destination) }
    }

    /// Opens an egress through the first of `upstreams` that can carry the association's datagrams (failing
    /// over), then sends through it.
    private func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint, opening upstreams: [RoutedUpstream], of routing: RoutedDatagramEgress) async {
        await counting(payload, to: destination) { try await routing.open(upstreams).send(payload, to: destination) }
    }

    private func counting(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint, _ send: () async throws -> Void) async {
        do {
            try await send()
            counters.countDatagramUp(payload.count)
        } catch {
            let denied = error is AccessDenied
            if denied { metrics.deniedDatagram() }
            drop(denied ? .denied : .undeliverable, "to \(destination): \(error)")
        }
    }
}
