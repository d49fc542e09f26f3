import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import SOCKSServer
import Testing
import TestSupport

/// The client against a real server in the same process.
@Suite struct SOCKSClientTests {
    /// A running server with `users` (none: no login), and a client for it.
    func start(users: [String: String]? = nil) throws -> (SOCKSServer, Task<Void, any Error>) {
        var configuration = SOCKSServer.Configuration()
        configuration.listenAddresses = [SocketAddress(ip: .ipv4Loopback, port: 0)]
        configuration.logger = .disabled
        configuration.users = try users.map { try UserDatabase($0) }
        let server = try SOCKSServer(configuration: configuration)
        return (server, Task { try await server.run() })
    }

    /// UoT v1 has no connect mode: asking for one is an error thrown before anything is sent (it was a
    /// precondition that took the process down).
    @Test func uotV1WithADestinationThrows() async throws {
        let refusing = try LoopbackPeers.refusingPort()
        let proxy = SOCKSClient(host: "127.0.0.1", port: refusing.port)
        await #expect(throws: SOCKSClientError.unsupportedRequest("UoT v1 has no connect mode")) {
            _ = try await proxy.udpOverTCP(version: .v1, connectTo: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 53))
        }
    }

    @Test func connectWithAndWithoutCredentials() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        for users in [nil, ["ann": "pw"]] as [[String: String]?] {
            let (server, task) = try start(users: users)
            let client = SOCKSClient(host: "127.0.0.1", port: server.localAddresses[0].port,
                                     credentials: users == nil ? nil : SOCKSCredentials(username: "ann", password: "pw"))
            let tunnel = try await client.connect(to: SOCKSEndpoint(echo.address))
            #expect(tunnel.bound.socketAddress?.ip == .ipv4Loopback)
            try await tunnel.connection.write([1, 2, 3])
            var buffer = [UInt8](repeating: 0, count: 3)
            var received: [UInt8] = []
            while received.count < 3 {
                let count = try await tunnel.connection.read(into: &buffer)
                try #require(count > 0)
                received += buffer[0..<count]
            }
            #expect(received == [1, 2, 3])
            tunnel.connection.close()
            task.cancel()
        }
    }

    @Test func failuresCarryTheProxysAnswer() async throws {
        let (server, task) = try start(users: ["ann": "pw"])
        defer { task.cancel() }
        let port = server.localAddresses[0].port
        let refusing = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(refusing) {} }  // the reservation must outlive every connect below
        let target = SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: refusing.port)
        await #expect(throws: SOCKSClientError.noAcceptableMethod) {
            try await SOCKSClient(host: "127.0.0.1", port: port).connect(to: target)
        }
        await #expect(throws: SOCKSClientError.authenticationFailed(status: 1)) {
            try await SOCKSClient(host: "127.0.0.1", port: port, credentials: SOCKSCredentials(username: "ann", password: "no")).connect(to: target)
        }
        await #expect(throws: SOCKSClientError.requestFailed(.connectionRefused)) {
            try await SOCKSClient(host: "localhost", port: port, credentials: SOCKSCredentials(username: "ann", password: "pw")).connect(to: target)
        }
    }

    @Test func bindThroughTheClient() async throws {
        let (server, task) = try start()
        defer { task.cancel() }
        let binding = try await SOCKSClient(host: "127.0.0.1", port: server.localAddresses[0].port)
            .bind(expecting: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 0))
        let listening = try #require(binding.listeningAddress.socketAddress)
        let peer = try await TCPConnection.connect(to: listening)
        #expect(try await binding.waitForPeer() == SOCKSEndpoint(peer.localAddress))
        try await peer.write([42])
        var buffer = [UInt8](repeating: 0, count: 1)
        #expect(try await binding.connection.read(into: &buffer) == 1 && buffer == [42])
        peer.close()
        binding.connection.close()
    }

    @Test func udpAssociateThroughTheClient() async throws {
        let (server, task) = try start()
        defer { task.cancel() }
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let association = try await SOCKSClient(host: "127.0.0.1", port: server.localAddresses[0].port).udpAssociate()
        defer { association.close() }
        for size in [0, 100, 60000] {
            let payload = [UInt8](repeating: 7, count: size)
            try await association.send(payload, to: SOCKSEndpoint(echo.address))
            let (echoed, source) = try await withDeadline(.seconds(3)) {
                var buffer = [UInt8](repeating: 0, count: 65536)
                let (range, source) = try await association.receive(into: &buffer)
                return (Array(buffer[range]), source)
            }
            #expect(echoed == payload)
            #expect(source == SOCKSEndpoint(echo.address))
        }
    }

    @Test func uotWriterRefusesOversizedPayloads() async throws {
        let (server, task) = try start()
        defer { task.cancel() }
        let stream = try await SOCKSClient(host: "127.0.0.1", port: server.localAddresses[0].port).udpOverTCP()
        defer { stream.close() }
        await #expect(throws: UoTProtocolError.payloadTooLarge(65536)) {
            try await stream.send([UInt8](repeating: 0, count: 65536), to: SOCKSEndpoint(address: .domain("example.com"), port: 53))
        }
    }

    /// How long a client of a `RawUoTServer` waits for its handshake: long, as the server is a test task
    /// that the whole suite, starting at once, may hold up (under AddressSanitizer the default 10 s ran out).
    static let rawServerPatience = Duration.seconds(30)

    @Test func uotHeaderNamesTheFirstDatagramsDestination() async throws {
        let raw = try RawUoTServer()
        defer { raw.close() }
        async let accepted = raw.acceptStream()
        let stream = try await SOCKSClient(host: "127.0.0.1", port: raw.address.port, handshakeTimeout: Self.rawServerPatience).udpOverTCP()
        defer { stream.close() }
        let (connection, request) = try await accepted
        defer { connection.close() }
        #expect(request == SOCKSRequest(command: .connect, destination: SOCKSEndpoint(address: .domain("sp.v2.udp-over-tcp.arpa"), port: 0)))
        try await stream.send(Array("q".utf8), to: SOCKSEndpoint(address: .domain("example.com"), port: 53))
        try await stream.send(Array("r".utf8), to: SOCKSEndpoint(address: .ipv4([1, 2, 3, 4]), port: 53))
        let name = Array("example.com".utf8)
        let header: [UInt8] = [0x00, 0x03, 0x0b] + name + [0x00, 0x35]  // non-connect, example.com:53
        let first: [UInt8] = [0x02, 0x0b] + name + [0x00, 0x35, 0x00, 0x01, 0x71]
        let second: [UInt8] = [0x00, 1, 2, 3, 4, 0x00, 0x35, 0x00, 0x01, 0x72]
        let expected = header + first + second
        #expect(try await RawUoTServer.read(exactly: expected.count, from: connection) == expected)
    }

    @Test func uotConnectModeHeaderNamesItsDestination() async throws {
        let raw = try RawUoTServer()
        defer { raw.close() }
        async let accepted = raw.acceptStream()
        let stream = try await SOCKSClient(host: "127.0.0.1", port: raw.address.port, handshakeTimeout: Self.rawServerPatience)
            .udpOverTCP(connectTo: SOCKSEndpoint(address: .ipv4([1, 2, 3, 4]), port: 53))
        defer { stream.close() }
        let (connection, _) = try await accepted
        defer { connection.close() }
        try await stream.send(Array("hello".utf8), to: nil)
        // The spec's vector: the first write of a v2 connect client.
        let expected: [UInt8] = [0x01, 0x01, 0x01, 0x02, 0x03, 0x04, 0x00, 0x35, 0x00, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f]
        #expect(try await RawUoTServer.read(exactly: expected.count, from: connection) == expected)
    }
}
