import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// The far side for this session's datagrams, with the policy its forwarder checks them against. With
    /// routes (the server's or the user's), a `RoutedDatagramEgress` that routes each datagram by its
    /// destination and opens the egress of each route when its first datagram comes. Without: direct, or
    /// through the default upstream when there is one (asked under the connect deadline, failing over like
    /// CONNECT, ended early if the client hangs up meanwhile: `PeerHungUp`). Its UDP sockets count among
    /// the server's own while they are open; `drop` counts what the egress loses by itself (a UoT stream's
    /// end). Nil when the client has its failure reply (the upstream down or failing).
    ///
    /// Each way out is a function of its own, never inlined: this frame is allocated on the session task's
    /// allocator, which keeps the slabs of its deepest stack for the session's life. With the upstream path
    /// inlined (its configuration copy and `throughUpstreams`) and the router a value (copied in), the
    /// frame was 2,784 bytes: a slab of its own, kept by every idle association.
    func makeDatagramEgress(drop: DropReporter) async throws -> (egress: any DatagramEgress, policy: AccessPolicy)? {
        let router = context.router
        if router.hasRoutes(for: servedUser) {
            return (makeRoutedDatagramEgress(router: router, drop: drop), access.datagramPolicy)
        }
        switch router.defaultPlan {
        case .direct:
            record.via = .direct
            return (try makeDirectDatagramEgress(), access.datagramPolicy)
        case .allDown(let upstreams):
            await failAllDown(upstreams, "UDP egress")
            return nil
        case .upstreams(let upstreams):
            return try await makeUpstreamDatagramEgress(upstreams, drop: drop)
        }
    }

    /// A UDP socket of this session's own for its datagrams.
    @inline(never)
    private func makeDirectDatagramEgress() throws -> DirectDatagramEgress {
        try DirectDatagramEgress(
            resolver: access.datagramResolver, policy: access.datagramPolicy, fullCone: context.configuration.udpFullCone,
            lookupTimeout: context.configuration.connectTimeout, ownAddresses: context.runtime.ownAddresses)
    }

    /// A UDP path through the first of `upstreams` that gives one (see `makeDatagramEgress`).
    @inline(never)
    private func makeUpstreamDatagramEgress(
        _ upstreams: [RoutedUpstream], drop: DropReporter
    ) async throws -> (egress: any DatagramEgress, policy: AccessPolicy)? {
        let configuration = context.configuration
        let ownAddresses = context.runtime.ownAddresses
        let egress = await throughUpstreams(upstreams, "UDP egress", endsOnFIN: true) { client, proxy in
            try await Self.openUpstreamEgress(
                client, transport: proxy.udpTransport, configuration: configuration, ownAddresses: ownAddresses, drop: drop, reopens: true)
        }
        guard let egress else {
            if case .clientClosed = record.outcome { throw PeerHungUp() }
            return nil
        }
        return (egress, access.upstreamDatagramPolicy)
    }

    /// An egress that routes each datagram: a direct socket made like the unrouted one, and an upstream's
    /// egress opened under the connect deadline, its result counted toward the upstream's health and its
    /// connect time (as a CONNECT through it would be).
    @inline(never)
    private func makeRoutedDatagramEgress(router: Router, drop: DropReporter) -> RoutedDatagramEgress {
        let configuration = context.configuration
        let ownAddresses = context.runtime.ownAddresses
        let logger = context.logger
        let (resolver, policy) = (access.datagramResolver, access.datagramPolicy)
        let openers = RoutedDatagramEgress.Openers(
            direct: {
                try DirectDatagramEgress(
                    resolver: resolver, policy: policy, fullCone: configuration.udpFullCone, lookupTimeout: configuration.connectTimeout,
                    ownAddresses: ownAddresses)
            },
            upstream: { upstream in
                let client = upstream.client(resolver: configuration.resolver, timeout: configuration.connectTimeout)
                let start = ContinuousClock.now
                do {
                    let egress = try await withDeadline(configuration.connectTimeout) {
                        // A UoT stream that ends ends this egress: the route's next datagram is routed again.
                        try await Self.openUpstreamEgress(
                            client, transport: upstream.proxy.udpTransport, configuration: configuration, ownAddresses: ownAddresses, drop: drop,
                            reopens: false)
                    }
                    upstream.counters.connectDurations.observe(ContinuousClock.now - start)
                    upstream.succeeded(logger: logger)
                    return egress
                } catch SOCKSClientError.requestFailed(let code) {
                    upstream.succeeded(logger: logger)  // it answered: its refusal is no failure of its health
                    throw SOCKSClientError.requestFailed(code)
                } catch {
                    if !Task.isCancelled { upstream.failed("\(error)", failureLimit: configuration.upstreamFailureLimit, logger: logger) }
                    throw error
                }
            })
        return RoutedDatagramEgress(
            router: router, user: servedUser, directPolicy: access.datagramPolicy, upstreamPolicy: access.upstreamDatagramPolicy,
            openers: openers)
    }

    /// Asks the upstream for a UDP path: a UoT stream (replaced when it ends if `reopens`) or a UDP association.
    private static func openUpstreamEgress(
        _ client: SOCKSClient, transport: UpstreamProxy.UDPTransport, configuration: SOCKSServer.Configuration, ownAddresses: OwnAddresses,
        drop: DropReporter, reopens: Bool
    ) async throws -> any DatagramEgress {
        switch transport {
        case .udpOverTCP(let version):
            let timeout = configuration.connectTimeout
            let reopen: @Sendable () async throws -> UoTClientStream = {
                try await withDeadline(timeout) { try await client.udpOverTCP(version: version) }
            }
            return UoTDatagramEgress(stream: try await client.udpOverTCP(version: version), drop: drop, reopen: reopens ? reopen : nil)
        case .associate:
            return AssociateDatagramEgress(association: try await client.udpAssociate(), ownAddresses: ownAddresses)
        }
    }

    /// Counts this session in under `maxUDPAssociations`, or answers 02 and returns false when it is full,
    /// or when the rules deny every destination.
    func enterUDPLimit() async -> Bool {
        if let denial = access.policy.denialOfEverything {
            // Every datagram would be dropped: say so now, as reply 02.
            await deny(denial)
            return false
        }
        guard let limit = context.configuration.maxUDPAssociations else { return true }
        guard context.udpAssociations.enter(SessionContext.udpLimitKey, limit: limit) else {
            context.metrics.refusedByUDPLimit()
            await refuse("\(limit) UDP associations are open (--max-udp-associations)")
            return false
        }
        return true
    }

    func leaveUDPLimit() {
        guard context.configuration.maxUDPAssociations != nil else { return }
        context.udpAssociations.leave(SessionContext.udpLimitKey)
    }

    /// What counts and logs the datagrams a UDP relay of this session drops.
    func makeDropReporter(counters: RelayCounters) -> DropReporter {
        DropReporter(counters: counters, logger: context.logger, label: "session \(record.client)")
    }

    /// The forwarder of a UDP relay of this session, checking datagrams against `policy`.
    func makeForwarder(egress: any DatagramEgress, policy: AccessPolicy, drop: DropReporter) -> EgressForwarder {
        EgressForwarder(
            egress: egress, counters: drop.counters, policy: policy, metrics: context.metrics, bandwidth: bandwidth, drop: drop)
    }

    /// The reply code for a failure to use the upstream: its own code when it answered one, 06 for a
    /// deadline, 01 otherwise (the client's destination was never tried, so "refused" would mislead).
    static func upstreamFailureCode(_ error: any Error) -> SOCKSReplyCode {
        switch error {
        case let error as SOCKSClientError: error.replyCode
        case SocketError.timedOut: .ttlExpired
        default: .generalFailure
        }
    }
}
