import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// The far side for this session's datagrams, with the policy its forwarder checks them against: direct,
    /// or through the default upstream when there is one (asked under the connect deadline, failing over
    /// like CONNECT, ended early if the client hangs up meanwhile: `PeerHungUp`). Its UDP socket counts among
    /// the server's own while it is open; `drop` counts what the egress loses by itself (a UoT stream's end).
    /// Nil when the client has its failure reply (the upstream down or failing).
    func makeDatagramEgress(drop: DropReporter) async throws -> (egress: any DatagramEgress, policy: AccessPolicy)? {
        let configuration = context.configuration
        let ownAddresses = context.runtime.ownAddresses
        switch context.router.defaultPlan {
        case .direct:
            record.via = .direct
            let egress = try DirectDatagramEgress(
                resolver: access.datagramResolver, policy: access.datagramPolicy, fullCone: configuration.udpFullCone,
                lookupTimeout: configuration.connectTimeout, ownAddresses: ownAddresses)
            return (egress, access.datagramPolicy)
        case .allDown(let upstreams):
            await failAllDown(upstreams, "UDP egress")
            return nil
        case .upstreams(let upstreams):
            let egress = await throughUpstreams(upstreams, "UDP egress", endsOnFIN: true) { client, proxy in
                try await Self.openUpstreamEgress(
                    client, transport: proxy.udpTransport, configuration: configuration, ownAddresses: ownAddresses, drop: drop)
            }
            guard let egress else {
                if case .clientClosed = record.outcome { throw PeerHungUp() }
                return nil
            }
            return (egress, access.upstreamDatagramPolicy)
        }
    }

    /// Asks the upstream for a UDP path: a UoT stream or a UDP association.
    private static func openUpstreamEgress(
        _ client: SOCKSClient, transport: UpstreamProxy.UDPTransport, configuration: SOCKSServer.Configuration, ownAddresses: OwnAddresses, drop: DropReporter
    ) async throws -> any DatagramEgress {
        switch transport {
        case .udpOverTCP(let version):
            let timeout = configuration.connectTimeout
            return UoTDatagramEgress(stream: try await client.udpOverTCP(version: version), drop: drop) {
                try await withDeadline(timeout) { try await client.udpOverTCP(version: version) }
            }
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
