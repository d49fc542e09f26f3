import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// A CONNECT to a UoT magic name: open the egress (under the connect deadline, like any upstream
    /// request), reply success (BND = this connection's local address) before reading any UoT byte, then
    /// relay frames and datagrams until either side ends. The v2 header is part of the handshake: it must
    /// arrive within the handshake timeout of the reply.
    func serveUoT(_ version: UoTVersion, _ accepted: Accepted) async {
        guard await enterUDPLimit() else { return }
        defer { leaveUDPLimit() }
        let counters = RelayCounters(registry: context.metrics)
        let drop = makeDropReporter(counters: counters)
        let egress: any DatagramEgress
        do {
            egress = try await makeDatagramEgress(drop: drop)
        } catch is ClientHungUp {
            record.outcome = "client-closed"
            return
        } catch {
            await fail(Self.upstreamFailureCode(error), reason: "cannot open the UDP egress: \(error)")
            return
        }
        do {
            try await connection.write(SOCKSReply(code: .succeeded, bound: SOCKSEndpoint(connection.localAddress)).encoded())
        } catch {
            egress.close()
            record.outcome = "client-closed"
            return
        }
        record.command = SOCKSCommand.connect
        let headerDeadline = version == .v2
            ? connection.eventLoop.schedule(after: context.configuration.handshakeTimeout) { [connection] in connection.close() }
            : nil
        tracker.relaying(with: counters)
        let relay = UoTServerRelay(
            connection: connection, version: version, earlyData: accepted.earlyData,
            forwarder: makeForwarder(egress: egress, drop: drop),
            idleTimeout: context.configuration.udpTimeout, maximumPayload: context.configuration.uotMaximumPayload,
            headerDeadline: headerDeadline)
        let ending = await relay.run()
        record.bytesUp = counters.bytesUp
        record.bytesDown = counters.bytesDown
        record.datagramsDropped = counters.datagramsDropped
        record.outcome = "\(version) \(ending)"
        if case .malformed(let error) = ending {
            context.logger.warning("session \(record.client): \(version) stream closed: \(error)")
        }
    }
}
