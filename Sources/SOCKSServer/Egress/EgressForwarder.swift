import SOCKSProtocol

/// Moves a relay's datagrams through its egress, both ways. To the egress (`forward`): inline when no name lookup is needed, else from a child task
/// (at most 32 at once: `lookups`), so one slow name never holds up the datagrams behind it. Every
/// datagram's destination is checked against the access policy first (and a direct egress checks each
/// resolved address again, through its resolver); a denied one is dropped and counted, the relay goes on.
/// When the egress routes datagrams one by one (`RoutedDatagramEgress`), each datagram's route names the
/// egress it takes and the form of the rules it is checked against, and a route's upstream egress is
/// opened from a child task too. Back to the client (`relayReplies(to:)`): the egress's replies, wrapped
/// by the relay's sink.
///
/// A class, made once per relay: the relay's frames and its child tasks' closures refer to it instead of
/// each holding a copy of its eight fields (part of the slabs an idle association's tasks keep).
final class EgressForwarder: Sendable {
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

    /// One datagram from the client: checked against the rules, then sent inline or from a child task in
    /// `group` (a name to look up). A routing egress's datagrams go `forwardRouted`'s way.
    func forward(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint, lookupsIn group: inout DiscardingTaskGroup) async {
        if let routing {
            // A function of its own: the unrouted path's frames stay as small as they were (an idle relay
            // keeps the task allocator's high-water mark).
            await forwardRouted(payload, to: destination, by: routing, lookupsIn: &group)
            return
        }
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
            await send(payload, to: destination, through: egress)
        } else if lookups.begin() {
            let copy = Array(payload)
            group.addTask { [self] in
                defer { lookups.end() }
                await send(copy[...], to: destination, through: egress)
            }
        } else {
            drop(.lookupLimit, "to \(destination): too many name lookups in flight")
        }
    }

    /// One datagram of a routed association: its route picks the egress and the form of the rules it is
    /// checked against; it is sent inline, or from a child task in `group` when it waits for a name lookup
    /// or for its route's upstream egress to open.
    private func forwardRouted(
        _ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint, by routing: RoutedDatagramEgress, lookupsIn group: inout DiscardingTaskGroup
    ) async {
        counters.touch()
        let path = routing.path(to: destination)
        do {
            try path.policy.check(destination)
        } catch {
            metrics.deniedDatagram()
            drop(.denied, "\(error)")
            return
        }
        if case .unavailable(let error, _) = path {
            drop(.undeliverable, "to \(destination): \(error)")
            return
        }
        if let bandwidth, !bandwidth.admitDatagram(payload.count) {
            drop(.bandwidth, "to \(destination): over the user's bandwidth cap")
            return
        }
        if case .open(let leg, _) = path, leg.sendsWithoutLookup(to: destination) {
            await send(payload, to: destination, through: leg)
        } else if lookups.begin() {
            let copy = Array(payload)
            group.addTask { [self] in
                defer { lookups.end() }
                switch path {
                case .open(let leg, _): await send(copy[...], to: destination, through: leg)
                case .toOpen(let upstreams, _): await send(copy[...], to: destination, opening: upstreams, of: routing)
                case .unavailable: break  // dropped above
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
        guard let readable = egress as? any ReadableDatagramEgress else {
            // A routing egress: its replies come from its egresses' readers, handed in this task.
            try await egress.forEachReply { try await relay($0, to: &sink) }
            return
        }
        // One egress, read in this task's own loop, as `relay` would (no call frame on top of the loop's:
        // an idle relay keeps the task allocator's high-water mark). The drops are calls of their own, so
        // that their messages' temporaries are not part of this frame either.
        for try await reply in readable.replies {
            guard case .datagram(let payload, let source) = reply else {
                dropRefusal(reply)
                continue
            }
            guard sink.accepts(from: source), admitsReply(of: payload.count, from: source) else { continue }
            if try await sink.deliver(payload, from: source) { counters.countDatagramDown(payload.count) }
        }
    }

    /// Hands one reply to `sink`, or drops and counts it.
    private func relay(_ reply: DatagramReply, to sink: inout some ClientDatagramSink) async throws {
        guard case .datagram(let payload, let source) = reply else {
            dropRefusal(reply)
            return
        }
        guard sink.accepts(from: source), admitsReply(of: payload.count, from: source) else { return }
        if try await sink.deliver(payload, from: source) { counters.countDatagramDown(payload.count) }
    }

    /// Drops and counts a reply the egress refused.
    @inline(never)
    private func dropRefusal(_ reply: DatagramReply) {
        guard case .refused(let refused) = reply else { return }
        drop(refused.reason, "\(refused)")
    }

    /// Whether a reply of `count` bytes fits the user's bandwidth cap; dropped and counted when not.
    @inline(never)
    private func admitsReply(of count: Int, from source: SOCKSEndpoint) -> Bool {
        guard let bandwidth, !bandwidth.admitDatagram(count) else { return true }
        drop(.bandwidth, "from \(source): over the user's bandwidth cap")
        return false
    }

    private func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint, through leg: any DatagramEgress) async {
        do {
            try await leg.send(payload, to: destination)
            counters.countDatagramUp(payload.count)
        } catch {
            let denied = error is AccessDenied
            if denied { metrics.deniedDatagram() }
            drop(denied ? .denied : .undeliverable, "to \(destination): \(error)")
        }
    }

    /// Opens an egress through the first of `upstreams` that can carry the association's datagrams (failing
    /// over), then sends through it.
    private func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint, opening upstreams: [RoutedUpstream], of routing: RoutedDatagramEgress) async {
        let leg: any DatagramEgress
        do {
            leg = try await routing.open(upstreams)
        } catch {
            drop(.undeliverable, "to \(destination): \(error)")
            return
        }
        await send(payload, to: destination, through: leg)
    }
}
