import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Testing
import TestSupport

/// Issue 19, the card's shape at work: closing the control connection of a UDP association, or a UoT
/// stream, ends every task of that session and closes every socket it opened. Counted, not timed: the
/// session's sockets in this process (`SocketCensus`: the accepted control connection, the client-facing
/// relay socket, the egress socket), and the server's open sessions (a session's task returns only after
/// every child task of its relay has ended: the relays run in task groups).
@Suite struct DatagramSessionTeardownTests {
    /// A UDP target that answers each datagram and remembers the port it came from: the port of the
    /// relay's egress socket.
    struct Target {
        let socket: UDPSocket

        init() throws {
            socket = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        }

        /// Receives one datagram, echoes it, and returns its sender's port.
        func echoOne() async throws -> UInt16 {
            var buffer = [UInt8](repeating: 0, count: 2048)
            let (count, sender) = try await socket.receive(into: &buffer)
            try await socket.send(buffer[0..<count], to: sender)
            return sender.port
        }
    }

    @Test func closingAUDPAssociationsControlConnectionEndsItsTasksAndSockets() async throws {
        let harness = try ServerHarness()
        let target = try Target()
        defer { target.socket.close() }
        let serverPort = harness.address.port
        let client = try await UDPTestClient.associate(harness.address)
        defer { client.close() }
        async let egressPort = target.echoOne()
        try await client.send([1], to: SOCKSEndpoint(target.socket.localAddress))
        #expect(try await client.receive()?.payload == [1])
        let egress = try await egressPort
        // The server's end of the control connection: on the server's port, connected to the client's.
        let controlPort = client.control.connection.localAddress.port
        // While it lives: the control connection, the relay socket, the egress socket.
        #expect(SocketCensus.descriptors(onLocalPort: serverPort, remotePort: controlPort) == 1)
        #expect(SocketCensus.descriptors(onLocalPort: client.relay.port, .udp) == 1)
        #expect(SocketCensus.descriptors(onLocalPort: egress, .udp) == 1)
        #expect(harness.server.metrics.activeSessions == 1)

        client.control.close()
        #expect(await ServerHarness.eventually(.seconds(20)) { harness.server.metrics.activeSessions == 0 }, "the session's task tree ended")
        #expect(SocketCensus.descriptors(onLocalPort: serverPort, remotePort: controlPort) == 0, "the control connection is closed")
        #expect(SocketCensus.descriptors(onLocalPort: client.relay.port, .udp) == 0, "the relay socket is closed")
        #expect(SocketCensus.descriptors(onLocalPort: egress, .udp) == 0, "the egress socket is closed")
        #expect(harness.log.all.contains { $0.contains("command=udp-associate") && $0.contains("outcome=control-closed") })
        await harness.stop()
    }

    @Test(arguments: [UoTVersion.v1, .v2])
    func closingAUoTStreamEndsItsTasksAndSockets(version: UoTVersion) async throws {
        let harness = try ServerHarness()
        let target = try Target()
        defer { target.socket.close() }
        let serverPort = harness.address.port
        let stream = try await SOCKSClient(host: "127.0.0.1", port: serverPort).udpOverTCP(version: version)
        defer { stream.close() }
        var frames = stream.frames().makeAsyncIterator()
        async let egressPort = target.echoOne()
        try await stream.send([1], to: SOCKSEndpoint(target.socket.localAddress))
        #expect(try await frames.next()?.payload == [1])
        let egress = try await egressPort
        // The server's end of the stream: on the server's port, connected to the client's.
        let streamPort = stream.connection.localAddress.port
        // While it lives: the stream's connection, the egress socket.
        #expect(SocketCensus.descriptors(onLocalPort: serverPort, remotePort: streamPort) == 1)
        #expect(SocketCensus.descriptors(onLocalPort: egress, .udp) == 1)
        #expect(harness.server.metrics.activeSessions == 1)

        stream.close()
        #expect(await ServerHarness.eventually(.seconds(20)) { harness.server.metrics.activeSessions == 0 }, "the session's task tree ended")
        #expect(SocketCensus.descriptors(onLocalPort: serverPort, remotePort: streamPort) == 0, "the stream's connection is closed")
        #expect(SocketCensus.descriptors(onLocalPort: egress, .udp) == 0, "the egress socket is closed")
        #expect(harness.log.all.contains { $0.contains("outcome=\(version) client-closed") })
        await harness.stop()
    }
}
