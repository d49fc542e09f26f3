import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// UDP ASSOCIATE: open a relay socket on the control connection's local IP, tell the client where it is,
    /// and relay until the control connection ends or the association idles out.
    func serveUDPAssociate(_ accepted: ClientRequest) async {
        guard await enterUDPLimit() else { return }
        defer { leaveUDPLimit() }
        guard let clientSocket = await openUDPRelaySocket() else { return }
        // The relay socket is one of the server's own until this function returns, after every path that
        // closes it: no other association may send to it, nor pass for its client.
        let registration = context.runtime.ownAddresses.register(clientSocket.localAddress, .udp)
        defer { registration.end() }
        let client = makeClientLatch(for: accepted.request)
        let bound = advertisedAddress(of: clientSocket)
        await serveDatagramRelay(bound: bound, abandon: { clientSocket.close() }) { forwarder in
            context.logger.debug("session \(record.client): UDP relay on \(clientSocket.localAddress) (advertised \(bound))")
            let association = UDPAssociation(
                clientSocket: clientSocket, control: connection, client: client,
                forwarder: forwarder, idleTimeout: context.configuration.udpTimeout)
            return .udpAssociation(await association.run())
        }
    }

    // The set-up's steps are functions of their own, never inlined: this function's frame lies under the
    // relay for the association's life, and a task keeps the allocator slabs of its deepest stack (with
    // them inlined, the frame was 336 bytes, and an idle association's task kept a slab more).

    /// The association's relay socket, on the control connection's local IP; nil when it cannot be opened
    /// (the client has reply 01).
    @inline(never)
    private func openUDPRelaySocket() async -> UDPSocket? {
        do {
            let localIP = connection.localAddress.unmapped.ip
            return try UDPSocket(bindingTo: SocketAddress(ip: localIP, port: 0), bufferSize: UDPAssociation.socketBufferSize)
        } catch {
            await fail(.generalFailure, reason: "cannot open the UDP relay socket: \(error)")
            return nil
        }
    }

    /// Who may send to the relay. RFC 1928: DST is where the client will send from. Only its port is used:
    /// datagrams are accepted from the client's own IP alone, whatever address it claims: the connection's
    /// peer, or the address a PROXY header named (the client then reaches this instance's UDP relay
    /// directly, at its advertised address).
    @inline(never)
    private func makeClientLatch(for request: SOCKSRequest) -> UDPClientLatch {
        let requestedPort = request.destination.port
        return UDPClientLatch(
            clientIP: record.client.ip, requiredPort: requestedPort == 0 ? nil : requestedPort, ownAddresses: context.runtime.ownAddresses,
            encapsulation: gssapi?.encapsulation)
    }

    /// The relay's address as the reply names it: `--udp-advertise`, or the socket's own.
    @inline(never)
    private func advertisedAddress(of clientSocket: UDPSocket) -> SocketAddress {
        SocketAddress(ip: context.configuration.udpAdvertiseAddress ?? clientSocket.localAddress.ip, port: clientSocket.localAddress.port)
    }
}
