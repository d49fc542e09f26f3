import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport
@testable import SOCKSServer

/// Issue 18, items 1 and 6: the server's own sockets besides its proxy listeners — the UDP sockets of its
/// relays and its metrics listeners — are never a destination, and a datagram from one of them is never a
/// client's.
@Suite struct OwnAddressesTests {
    static let alice = SOCKSCredentials(username: "alice", password: "one")
    static let bob = SOCKSCredentials(username: "bob", password: "two")

    static func twoUsers() throws -> ServerHarness {
        try ServerHarness { $0.users = try UserDatabase(["alice": "one", "bob": "two"]) }
    }

    /// A SOCKS UDP request to `destination`: what a client puts in front of its payload.
    static func framed(_ payload: [UInt8], to destination: SocketAddress) -> [UInt8] {
        SOCKSUDPHeader(endpoint: SOCKSEndpoint(destination)).encoded() + payload
    }

    // MARK: Item 1: no takeover of an association through the proxy

    /// The attack as found: alice associates with port 0 (latched to her first datagram from her IP);
    /// bob, another user of the same server on the same host, sends through his own association a datagram
    /// to alice's relay port whose payload is itself a SOCKS UDP request. It used to leave the server's own
    /// outgoing socket (127.0.0.1, alice's IP), latch her association, go on to the echo under alice's
    /// rules and accounts, and lock alice out. Now it is denied (`own UDP socket`), dropped and counted,
    /// and alice's association stays hers.
    @Test func anotherUserCannotTakeOverAPortZeroAssociationThroughTheProxy() async throws {
        let harness = try Self.twoUsers()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let alice = try await UDPTestClient.associate(harness.address, credentials: Self.alice)
        let bob = try await UDPTestClient.associate(harness.address, credentials: Self.bob)
        defer { alice.close(); bob.close() }

        try await bob.send(Self.framed(Array("takeover".utf8), to: echo.address), to: SOCKSEndpoint(alice.relay))
        #expect(await ServerHarness.eventually(.seconds(10)) { harness.server.metrics.deniedDatagramCount == 1 }, "log: \(harness.log.all)")
        #expect(harness.server.metrics.droppedDatagrams(.denied) == 1)

        // alice's first datagram is the one her association latches, and its echo comes back to her.
        try await alice.send(Array("mine".utf8), to: SOCKSEndpoint(echo.address))
        let reply = try #require(try await alice.receive(), "alice's association answers her; log: \(harness.log.all)")
        #expect(reply.payload == Array("mine".utf8) && reply.header.endpoint == SOCKSEndpoint(echo.address))
        #expect(echo.senders.all.count == 1, "only alice's datagram reached the echo")
        #expect(try await bob.receive(within: .milliseconds(300)) == nil, "nothing of alice's reaches bob")

        alice.close()
        bob.close()
        #expect(await ServerHarness.eventually {
            harness.log.all.contains { $0.contains("user=bob command=udp-associate") && $0.contains(" dropped=1 ") }
        }, "bob's access line counts the drop; log: \(harness.log.all)")
        #expect(harness.log.all.contains { $0.contains("denied by own UDP socket") }, "log: \(harness.log.all)")
        await harness.stop()
    }

    /// The same datagram through a UoT stream of bob's, and to alice's relay by the name `localhost` and by
    /// the unspecified address at its port: all denied.
    @Test func aUoTStreamCannotReachAnAssociationsRelaySocketEither() async throws {
        let harness = try Self.twoUsers()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let alice = try await UDPTestClient.associate(harness.address, credentials: Self.alice)
        defer { alice.close() }
        let stream = try await SOCKSClient(host: "127.0.0.1", port: harness.address.port, credentials: Self.bob).udpOverTCP(version: .v2)
        defer { stream.close() }
        let takeover = Self.framed(Array("takeover".utf8), to: echo.address)
        try await stream.send(takeover, to: SOCKSEndpoint(alice.relay))
        try await stream.send(takeover, to: SOCKSEndpoint(address: .domain("127.0.0.1"), port: alice.relay.port))
        try await stream.send(takeover, to: SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: alice.relay.port))
        #expect(await ServerHarness.eventually(.seconds(10)) { harness.server.metrics.deniedDatagramCount == 3 }, "log: \(harness.log.all)")

        try await alice.send(Array("mine".utf8), to: SOCKSEndpoint(echo.address))
        #expect(try await alice.receive()?.payload == Array("mine".utf8), "log: \(harness.log.all)")
        #expect(echo.senders.all.count == 1)
        await harness.stop()
    }

    /// The outgoing socket of an association or of a UoT stream (bound to the wildcard address, so reached
    /// at any address of this host) is no destination either: with a full cone, a datagram to it would
    /// otherwise be delivered to its client as a reply from bob.
    @Test(arguments: [false, true], [false, true])
    func anotherClientsOutgoingSocketIsNoDestination(victimUsesUoT: Bool, fullCone: Bool) async throws {
        let harness = try ServerHarness {
            $0.users = try UserDatabase(["alice": "one", "bob": "two"])
            $0.udpFullCone = fullCone
        }
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let victim = try await Victim.open(harness, uot: victimUsesUoT)
        defer { victim.close() }
        // The echo sees the victim's datagram arrive from the victim's outgoing socket.
        try await victim.send([1], to: echo.address)
        #expect(try await victim.receive() == [1])
        let outgoing = try #require(echo.senders.all.first)

        let bob = try await UDPTestClient.associate(harness.address, credentials: Self.bob)
        defer { bob.close() }
        try await bob.send(Array("injected".utf8), to: SOCKSEndpoint(outgoing))
        try await bob.send(Array("injected".utf8), to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 9]), port: outgoing.port))
        #expect(await ServerHarness.eventually(.seconds(10)) { harness.server.metrics.deniedDatagramCount == 2 }, "log: \(harness.log.all)")
        #expect(try await victim.receive(within: .milliseconds(300)) == nil, "nothing from bob reaches the victim")
        try await bob.send([2], to: SOCKSEndpoint(echo.address))
        #expect(try await bob.receive()?.payload == [2], "bob's association goes on")
        await harness.stop()
    }

    /// A datagram that does come from one of the server's own UDP sockets (a socket the test registers as
    /// one) is never taken for the client's, even from the client's IP before the client's first datagram:
    /// it is dropped and counted (`own-socket`), and the association latches the client's own datagram.
    @Test func aDatagramFromAnOwnSocketNeverLatchesTheAssociation() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        defer { client.close() }
        let ownSocket = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { ownSocket.close() }
        let registration = harness.server.ownAddresses.register(ownSocket.localAddress, .udp)
        defer { registration.end() }

        try await ownSocket.send(Self.framed([0x66], to: echo.address), to: client.relay)
        #expect(await ServerHarness.eventually(.seconds(10)) { harness.server.metrics.droppedDatagrams(.ownSocket) == 1 })
        try await client.send([0x77], to: SOCKSEndpoint(echo.address))
        #expect(try await client.receive()?.payload == [0x77])
        #expect(echo.senders.all.count == 1, "the own socket's datagram went nowhere")
        let metrics = harness.server.metrics.prometheusText(version: "t")
        #expect(metrics.contains(#"socksd_udp_dropped_total{reason="own-socket"} 1"#), "\(metrics)")
        await harness.stop()
    }

    /// Registrations come and go with their sockets: after 200 associations and 100 UoT streams, each of
    /// which also tried another's relay socket (denied), the registry holds only the proxy listener again.
    @Test func theRegistryEmptiesAsRelaysClose() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        // The proxy listener is registered for as long as it listens; nothing else is yet.
        let listeners = harness.server.localAddresses.count
        #expect(harness.server.ownAddresses.count == listeners)
        let rounds = 100
        for round in 0..<rounds {
            let first = try await UDPTestClient.associate(harness.address)
            let second = try await UDPTestClient.associate(harness.address)
            let stream = try await SOCKSClient(host: "127.0.0.1", port: harness.address.port).udpOverTCP(version: round.isMultiple(of: 2) ? .v2 : .v1)
            // Two relay sockets, two outgoing sockets and the stream's outgoing socket.
            try await first.send([1], to: SOCKSEndpoint(second.relay))
            try await stream.send([2], to: SOCKSEndpoint(first.relay))
            try await second.send([3], to: SOCKSEndpoint(echo.address))
            #expect(try await second.receive()?.payload == [3])
            // Both denials are in before the relays close (a datagram still queued would die with its relay).
            #expect(await ServerHarness.eventually(.seconds(10)) { harness.server.metrics.deniedDatagramCount == 2 * (round + 1) })
            first.close()
            second.close()
            stream.close()
        }
        #expect(await ServerHarness.eventually(.seconds(20)) { harness.server.ownAddresses.count == listeners },
                "\(harness.server.ownAddresses.count - listeners) registrations left beside the listener")
        #expect(await ServerHarness.eventually(.seconds(20)) { harness.server.metrics.activeSessions == 0 })
        await harness.stop()
    }

    // MARK: The registry itself

    /// Wildcard sockets are reached at every address of this host (loopback among them) and at the
    /// unspecified address; a socket bound to one address only there; TCP and UDP are apart; a registration
    /// ends once, and its port is free again.
    @Test func lookupsFollowWhatTheKernelReaches() throws {
        let registry = OwnAddresses()
        let port: UInt16 = 40_123
        let wildcard = registry.register(SocketAddress(ip: .ipv6Any, port: port), .udp)
        #expect(registry.contains(SocketAddress(ip: .ipv4Loopback, port: port), .udp))
        #expect(registry.contains(SocketAddress(ip: IPAddress("127.0.0.9")!, port: port), .udp))
        #expect(registry.contains(SocketAddress(ip: .ipv6Loopback, port: port), .udp))
        #expect(registry.contains(SocketAddress(ip: IPAddress("::ffff:127.0.0.1")!, port: port), .udp))
        #expect(registry.contains(SocketAddress(ip: .ipv4Any, port: port), .udp))
        #expect(!registry.contains(SocketAddress(ip: IPAddress("192.0.2.1")!, port: port), .udp), "not this host's")
        #expect(!registry.contains(SocketAddress(ip: .ipv4Loopback, port: port + 1), .udp))
        #expect(!registry.contains(SocketAddress(ip: .ipv4Loopback, port: port), .tcp))

        let one = registry.register(SocketAddress(ip: IPAddress("::ffff:127.0.0.2")!, port: port + 1), .tcp)
        #expect(registry.contains(SocketAddress(ip: IPAddress("127.0.0.2")!, port: port + 1), .tcp))
        #expect(registry.contains(SocketAddress(ip: .ipv6Any, port: port + 1), .tcp))
        #expect(!registry.contains(SocketAddress(ip: .ipv4Loopback, port: port + 1), .tcp))
        #expect(registry.count == 2)

        wildcard.end()
        wildcard.end()
        #expect(!registry.contains(SocketAddress(ip: .ipv4Loopback, port: port), .udp))
        #expect(registry.count == 1)
        one.end()
        #expect(registry.count == 0)
        do {
            _ = registry.register(SocketAddress(ip: .ipv4Loopback, port: port), .udp)
        }
        #expect(registry.count == 0, "a registration dropped without end() ends then")
    }

    // MARK: Item 6: the metrics listener is no destination

    /// With no rules, the metrics endpoint cannot be reached through the proxy: SOCKS5 CONNECT gets 02, an
    /// HTTP request for `/metrics` 403, by address and by a name that resolves to it. Once the endpoint is
    /// closed, its address is no longer the server's own.
    @Test func theMetricsListenerIsDeniedLikeTheServersOwnListeners() async throws {
        let metrics = try MetricsHarness {
            $0.protocols = [.socks5, .http]
            $0.resolver = DestinationPolicyTests.TableResolver(["metrics.test": ["127.0.0.1"]])
        }
        let endpoint = metrics.address
        let harness = metrics.harness
        #expect(try await DestinationPolicyTests.connect(harness, SOCKSEndpoint(endpoint)) == .notAllowed)
        #expect(try await DestinationPolicyTests.connect(harness, SOCKSEndpoint(address: .domain("metrics.test"), port: endpoint.port)) == .notAllowed)
        let forwarded = try await HTTPTestExchange.send("GET http://\(endpoint)/metrics HTTP/1.1\r\nHost: \(endpoint)\r\n\r\n", to: harness.address)
        #expect(forwarded.status == 403 && !forwarded.body.contains("socksd_"), "\(forwarded.status) \(forwarded.body)")
        let tunnel = try await HTTPTestExchange.send("CONNECT \(endpoint) HTTP/1.1\r\nHost: \(endpoint)\r\n\r\n", to: harness.address)
        #expect(tunnel.status == 403)
        #expect(await ServerHarness.eventually { harness.log.all.filter { $0.contains("outcome=denied(own listening address)") }.count == 4 },
                "log: \(harness.log.all)")

        metrics.endpoint.close()
        // What stays registered is the proxy listener alone.
        #expect(harness.server.ownAddresses.count == harness.server.localAddresses.count)
        #expect(harness.server.context.access.policy.ownAddressReason(endpoint) == nil)
        await metrics.stop()
    }
}

/// The client whose outgoing socket bob aims at: a UDP association or a UoT stream, both of alice's.
private enum Victim {
    case association(UDPTestClient)
    case stream(UoTClientStream, UoTClientStream.Frames.AsyncIterator)

    static func open(_ harness: ServerHarness, uot: Bool) async throws -> Victim {
        if uot {
            let stream = try await SOCKSClient(host: "127.0.0.1", port: harness.address.port, credentials: OwnAddressesTests.alice).udpOverTCP(version: .v2)
            return .stream(stream, stream.frames().makeAsyncIterator())
        }
        return .association(try await UDPTestClient.associate(harness.address, credentials: OwnAddressesTests.alice))
    }

    func send(_ payload: [UInt8], to destination: SocketAddress) async throws {
        switch self {
        case .association(let client): try await client.send(payload, to: SOCKSEndpoint(destination))
        case .stream(let stream, _): try await stream.send(payload, to: SOCKSEndpoint(destination))
        }
    }

    /// The next payload that comes back, or nil within `timeout`.
    func receive(within timeout: Duration = .seconds(15)) async throws -> [UInt8]? {
        switch self {
        case .association(let client):
            return try await client.receive(within: timeout)?.payload
        case .stream(_, let frames):
            do {
                return try await withDeadline(timeout) {
                    var frames = frames
                    return try await frames.next()?.payload
                }
            } catch SocketError.timedOut {
                return nil
            }
        }
    }

    func close() {
        switch self {
        case .association(let client): client.close()
        case .stream(let stream, _): stream.close()
        }
    }
}
