import AsyncSockets
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// One port, several protocols: the first byte picks SOCKS5, SOCKS4/4a or HTTP, and a listener serves only
/// those it accepts. Raw SOCKS4 bytes over loopback, against an in-process server.
@Suite struct MixedProtocolTests {
    static func server(_ protocols: Set<ClientProtocol> = [.socks5, .socks4, .http], _ configure: (inout SOCKSServer.Configuration) throws -> Void = { _ in }) throws -> ServerHarness {
        try ServerHarness { configuration in
            configuration.protocols = protocols
            try configure(&configuration)
        }
    }

    static func request(_ command: SOCKSCommand = .connect, to destination: SOCKSEndpoint, userID: String = "") -> [UInt8] {
        SOCKS4Request(command: command, destination: destination, userID: Array(userID.utf8)).encoded()
    }

    static func reply(_ client: SOCKSTestClient) async throws -> SOCKS4Reply {
        var reader = ByteReader(try await client.receive(exactly: 8)[...])
        return try #require(try SOCKS4Reply.parse(from: &reader))
    }

    /// The access line of the session from `client` (its local port), once it is logged.
    static func accessLine(_ harness: ServerHarness, of client: SOCKSTestClient) async -> String? {
        let needle = "session client=\(client.connection.localAddress) "
        _ = await ServerHarness.eventually { harness.log.all.contains { $0.contains(needle) } }
        return harness.log.all.first { $0.contains(needle) }
    }

    @Test func socks4ConnectRelaysWithEarlyDataAndLogsTheUserID() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        let client = try await SOCKSTestClient.connect(to: harness.address)
        defer { client.close() }
        // The request and early data in one write: the data goes to the echo after the reply.
        try await client.send(Self.request(to: SOCKSEndpoint(echo.address), userID: "fr ed\n") + [1, 2, 3])
        let reply = try await Self.reply(client)
        #expect(reply.code == .granted)
        #expect(try await client.receive(exactly: 3) == [1, 2, 3])
        client.close()
        let line = try #require(await Self.accessLine(harness, of: client))
        #expect(line.contains(" protocol=socks4 user=- userid=fr\\x20ed\\x0a command=connect destination=\(echo.address) via=direct up=3 down=3 "), "\(line)")
        #expect(harness.server.metrics.prometheusText(version: "t").contains(#"socksd_protocol_sessions_total{protocol="socks4"} 1"#))
    }

    @Test func socks4aResolvesTheName() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        let client = try await SOCKSTestClient.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.request(to: SOCKSEndpoint(address: .domain("localhost"), port: echo.address.port)))
        #expect(try await Self.reply(client).code == .granted)
        try await client.send([0x2A])
        #expect(try await client.receive(exactly: 1) == [0x2A])
    }

    /// Two replies, as in SOCKS5: where the peer should connect, then which peer did; then the relay.
    @Test func socks4BindRepliesTwiceAndRelays() async throws {
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        let client = try await SOCKSTestClient.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.request(.bind, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 0)))
        let first = try await Self.reply(client)
        #expect(first.code == .granted && first.address == [127, 0, 0, 1] && first.port != 0)
        let peer = try await TCPConnection.connect(to: SocketAddress(ip: .ipv4Loopback, port: first.port))
        defer { peer.close() }
        let second = try await Self.reply(client)
        #expect(second.code == .granted && second.address == [127, 0, 0, 1] && second.port == peer.localAddress.port)
        try await peer.write([7])
        #expect(try await client.receive(exactly: 1) == [7])
    }

    @Test func aDeniedSOCKS4DestinationGets5BAndAnAccessLine() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try Self.server { $0.destinationRules = DestinationRules([try DestinationRule(action: .deny, parsing: "127.0.0.1:\(echo.address.port)")]) }
        defer { Task { await harness.stop() } }
        let client = try await SOCKSTestClient.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.request(to: SOCKSEndpoint(echo.address)))
        #expect(try await Self.reply(client) == SOCKS4Reply(code: .rejected))
        #expect(try await client.closesWithin(.seconds(5)))
        let line = try #require(await Self.accessLine(harness, of: client))
        #expect(line.contains(" protocol=socks4 ") && line.contains(" outcome=denied("), "\(line)")
    }

    @Test func uotMagicNamesAreNotServedOverSOCKS4a() async throws {
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        let client = try await SOCKSTestClient.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.request(to: SOCKSEndpoint(address: .domain(UoTVersion.v2.magicName), port: 0)))
        #expect(try await Self.reply(client).code == .rejected)
    }

    /// SOCKS4 is not among the default protocols: closed without a reply, a warning and the access line.
    @Test func aProtocolTheListenerDoesNotAcceptIsClosed() async throws {
        let harness = try ServerHarness()
        defer { Task { await harness.stop() } }
        let client = try await SOCKSTestClient.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.request(to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 9)))
        #expect(try await client.receiveUntilEOF().isEmpty)
        let line = try #require(await Self.accessLine(harness, of: client))
        #expect(line.contains(" protocol=socks4 ") && line.contains(" outcome=unsupported-protocol(socks4)"), "\(line)")
        #expect(harness.log.all.contains { $0.hasPrefix("warning") && $0.contains("socks4 is not among this listener's protocols") })
    }

    /// A TLS ClientHello (first byte 16) starts no protocol: closed, logged.
    @Test func anUnknownFirstByteIsClosed() async throws {
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        let client = try await SOCKSTestClient.connect(to: harness.address)
        defer { client.close() }
        try await client.send([0x16, 0x03, 0x01, 0x00])
        #expect(try await client.receiveUntilEOF().isEmpty)
        let line = try #require(await Self.accessLine(harness, of: client))
        #expect(line.contains(" protocol=- ") && line.contains(" outcome=unsupported-protocol(0x16)"), "\(line)")
        #expect(harness.log.all.contains { $0.contains("the first byte 0x16 starts no protocol") })
        #expect(harness.server.metrics.prometheusText(version: "t").contains(#"socksd_protocol_sessions_total{protocol="none"} 1"#))
    }

    /// An HTTP request on the same port is served as HTTP: a destination that refuses is 502, in HTTP.
    @Test func anHTTPRequestIsServedAsHTTP() async throws {
        let harness = try ServerHarness()
        defer { Task { await harness.stop() } }
        let refusing = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(refusing) {} }
        let closed = "127.0.0.1:\(refusing.port)"
        let client = try await SOCKSTestClient.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Array("GET http://\(closed)/ HTTP/1.1\r\nHost: \(closed)\r\n\r\n".utf8))
        let response = String(decoding: try await client.receiveUntilEOF(), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n") && response.contains("Connection: close\r\n"), "\(response)")
        let line = try #require(await Self.accessLine(harness, of: client))
        #expect(line.contains(" protocol=http ") && line.contains(" command=GET destination=\(closed) "), "\(line)")
    }

    /// SOCKS5 on the same port goes on as before.
    @Test func socks5SharesThePort() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address))
        defer { client.close() }
        #expect(reply.code == .succeeded)
        try await client.send([9])
        #expect(try await client.receive(exactly: 1) == [9])
    }

    /// The PROXY header's client is the SOCKS4 session's client; its request may follow in the same write.
    @Test func socks4BehindAProxyProtocolListener() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try ProxyProtocolServerTests.server { $0.protocols = [.socks4] }
        defer { Task { await harness.stop() } }
        let client = try await SOCKSTestClient.connect(to: harness.address)
        defer { client.close() }
        try await client.send(ProxyProtocolServerTests.v1("192.0.2.9", 5555) + Self.request(to: SOCKSEndpoint(echo.address), userID: "bob"))
        #expect(try await Self.reply(client).code == .granted)
        try await client.send([5])
        #expect(try await client.receive(exactly: 1) == [5])
        client.close()
        _ = await ServerHarness.eventually { harness.log.all.contains { $0.contains("session client=192.0.2.9:5555 ") } }
        let line = try #require(harness.log.all.first { $0.contains("session client=192.0.2.9:5555 ") })
        #expect(line.contains(" protocol=socks4 user=- userid=bob command=connect "), "\(line)")
    }

    /// The configuration refuses SOCKS4 beside users, at start and at a reload.
    @Test func socks4BesideUsersIsRefusedByTheConfiguration() async throws {
        var configuration = SOCKSServer.Configuration()
        configuration.listenAddresses = [SocketAddress(ip: .ipv4Loopback, port: 0)]
        configuration.users = try UserDatabase(["alice": "secret"])
        configuration.protocols = [.socks5, .socks4]
        #expect(throws: SOCKSServerError.socks4WithAuthentication([SocketAddress(ip: .ipv4Loopback, port: 0)])) {
            try SOCKSServer(configuration: configuration)
        }
        configuration.protocols = []
        #expect(throws: SOCKSServerError.noProtocols(SocketAddress(ip: .ipv4Loopback, port: 0))) { try SOCKSServer(configuration: configuration) }

        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var reloaded = harness.server.configuration
        reloaded.listenAddresses = [harness.address]
        reloaded.users = try UserDatabase(["alice": "secret"])
        await #expect(throws: SOCKSServerError.socks4WithAuthentication([harness.address])) { try await harness.server.reload(reloaded) }
    }

    /// Defence in depth: a session that sees users with a SOCKS4 request (whatever let it through) answers 5B.
    @Test func aSOCKS4RequestWhileUsersMustLogInGets5B() async throws {
        LoopbackPeers.raiseDescriptorLimit()
        let log = LogCollector()
        var configuration = SOCKSServer.Configuration()
        configuration.users = try UserDatabase(["alice": "secret"])
        configuration.logger = log.logger
        let openSessions = OpenSessions()
        let context = SessionContext(
            configuration: configuration, metrics: ServerMetrics(),
            runtime: SessionRuntime(configuration: configuration, openSessions: openSessions))
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { listener.close() }
        let client = try await SOCKSTestClient.connect(to: listener.localAddress)
        defer { client.close() }
        var accepted = listener.connections().makeAsyncIterator()
        let connection = try #require(try await accepted.next())
        let session = Task { await SOCKSSession(connection: connection, context: context, protocols: [.socks4]).run() }
        try await client.send(Self.request(to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 9), userID: "alice"))
        #expect(try await Self.reply(client) == SOCKS4Reply(code: .rejected))
        await session.value
        #expect(log.all.contains { $0.contains("SOCKS4 request refused (5B): users must log in") })
        #expect(log.all.contains { $0.contains(" protocol=socks4 user=- userid=alice ") && $0.contains(" outcome=auth-required") })
    }
}
