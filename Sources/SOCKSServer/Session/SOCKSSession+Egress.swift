import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// The far side for this session's datagrams: direct, or through the upstream as configured.
    func makeDatagramEgress() async throws -> any DatagramEgress {
        let configuration = context.configuration
        guard let upstream = configuration.upstream else {
            return try DirectDatagramEgress(
                resolver: configuration.resolver, fullCone: configuration.udpFullCone, lookupTimeout: configuration.connectTimeout)
        }
        let client = upstream.client(resolver: configuration.resolver, timeout: configuration.connectTimeout)
        switch upstream.udpTransport {
        case .udpOverTCP(let version):
            return UoTDatagramEgress(stream: try await client.udpOverTCP(version: version)) { try await client.udpOverTCP(version: version) }
        case .associate:
            return AssociateDatagramEgress(association: try await client.udpAssociate())
        }
    }

    /// The forwarder of a UDP relay of this session.
    func makeForwarder(egress: any DatagramEgress, counters: RelayCounters) -> EgressForwarder {
        EgressForwarder(
            egress: egress, counters: counters,
            drop: DropReporter(counters: counters, logger: context.logger, label: "session \(record.client)"))
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
