import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// UDP ASSOCIATE: open a relay socket on the control connection's local IP, tell the client where it is,
    /// and relay until the control connection ends or the association idles out.
    func serveUDPAssociate(_ accepted: ClientRequest) async {
        guard await enterUDPLimit() else { return }
        defer { leaveUDPLimit() }
        let localIP = connection.localAddress.unmapped.ip
        let clientSocket: UDPSocket
        do {
            clientSocket = try UDPSocket(bindingTo: SocketAddress(ip: localIP, port: 0), bufferSize: UDPAssociation.socketBufferSize)
        } catch {
            await fail(.generalFailure, reason: "cannot open the UDP relay socket: \(error)")
            return
        }
        // The relay socket is one of the server's own until this function returns, after every path that
        // closes it: no other association may send to it, nor pass for its client.
        let registration = context.runtime.ownAddresses.register(clientSocket.localAddress, .udp)
        defer { registration.end() }
        // RFC 1928: DST is where the client will send from. Only its port is used: datagrams are accepted
        // from the control connection's IP alone, whatever address the client claims.
        let requestedPort = accepted.request.destination.port
        // The client's own IP: the connection's peer, or the address a PROXY header named (the client then
        // reaches this instance's UDP relay directly, at its advertised address).
        let client = UDPClientLatch(
            clientIP: record.client.ip, requiredPort: requestedPort == 0 ? nil : requestedPort, ownAddresses: context.runtime.ownAddresses,
            encapsulation: gssapi?.encapsulation)
        let bound = SocketAddress(ip: context.configuration.udpAdvertiseAddress ?? localIP, port: clientSocket.localAddress.port)
        await serveDatagramRelay(bound: bound, abandon: { clientSocket.close() }) { forwarder in
            context.logger.debug("session \(record.client): UDP relay on \(clientSocket.localAddress) (advertised \(bound))")
            let association = UDPAssociation(
                clientSocket: clientSocket, control: connection, client: client,
                forwarder: forwarder, idleTimeout: context.configuration.udpTimeout)
            return .udpAssociation(await association.run())
        }
    }
}
