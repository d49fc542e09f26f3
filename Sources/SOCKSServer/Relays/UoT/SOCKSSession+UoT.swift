import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// A CONNECT to a UoT magic name: open the egress (under the connect deadline, like any upstream
    /// request), reply success (BND = this connection's local address, an IPv4-mapped one as IPv4, as every
    /// reply's `SOCKSEndpoint` names it) before reading any UoT byte, then relay frames and datagrams until either side
    /// ends. The v2 header is part of the handshake: it must arrive within the handshake timeout of the
    /// reply.
    func serveUoT(_ version: UoTVersion, _ accepted: ClientRequest) async {
        guard await enterUDPLimit() else { return }
        defer { leaveUDPLimit() }
        await serveDatagramRelay(bound: connection.localAddress) { forwarder in
            record.command = SOCKSCommand.connect
            let headerDeadline = version == .v2
                ? connection.closing(after: context.configuration.handshakeTimeout)
                : nil
            let relay = UoTServerRelay(
                connection: connection, version: version, earlyData: accepted.earlyData, forwarder: forwarder,
                idleTimeout: context.configuration.udpTimeout, maximumPayload: context.configuration.uotMaximumPayload,
                headerDeadline: headerDeadline)
            let ending = await relay.run()
            if case .malformed(let error) = ending {
                context.logger.warning("session \(record.client): \(version) stream closed: \(error)")
            }
            return .uotStream(version, ending)
        }
    }
}
