import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport
@testable import SOCKSServer

/// The destination rules applied for real: CONNECT, names and what they resolve to, UDP datagrams, UoT
/// frames, BIND, the server's own address, and an upstream.
@Suite struct DestinationPolicyTests {
    /// Names that resolve without /etc/hosts, and a count of lookups.
    final class TableResolver: HostResolver {
        let table: [String: [String]]
        let lookups = Mutex(0)

        init(_ table: [String: [String]]) {
            self.table = table
        }

        func resolve(host: String, port: UInt16) async throws -> [SocketAddress] {
            lookups.withLock { $0 += 1 }
            guard let addresses = table[host] else { throw SocketError.nameNotFound(host) }
            return addresses.map { SocketAddress($0, port: port)! }
        }
    }

    static func rules(_ rules: [(DestinationRule.Action, String)]) throws -> DestinationRules {
        DestinationRules(try rules.map { try DestinationRule(action: $0.0, parsing: $0.1) })
    }

    static func connect(_ harness: ServerHarness, _ destination: SOCKSEndpoint) async throws -> SOCKSReplyCode {
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: destination)
        if reply.code == .succeeded {
            try await client.send([1, 2])
            #expect(try await client.receive(exactly: 2) == [1, 2])
        } else {
            #expect(try await client.closesWithin(.seconds(5)))
        }
        client.close()
        return reply.code
    }

    @Test func denyToPrivateAnswers02AndNamesTheRule() async throws {
        let harness = try ServerHarness { $0.destinationRules = try Self.rules([(.deny, "private")]) }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        #expect(try await Self.connect(harness, SOCKSEndpoint(echo.address)) == .notAllowed)
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .ipv6(IPAddress("::ffff:127.0.0.1")!.bytes), port: echo.address.port)) == .notAllowed)
        #expect(harness.server.metrics.deniedRequestCount == 2)
        #expect(await ServerHarness.eventually {
            harness.log.all.contains { $0.contains("command=connect destination=127.0.0.1:\(echo.address.port)") && $0.contains("outcome=denied(deny-to private (rule 1))") }
        })
        await harness.stop()
    }

    @Test func firstMatchWinsWithPortsAndRanges() async throws {
        let echo = try LoopbackPeers.startEcho()
        let other = try LoopbackPeers.startEcho()
        defer { echo.stop(); other.stop() }
        let harness = try ServerHarness {
            $0.destinationRules = try Self.rules([(.allow, "127.0.0.1:\(echo.address.port)"), (.deny, "127.0.0.0/8:1-65535"), (.allow, "*")])
        }
        #expect(try await Self.connect(harness, SOCKSEndpoint(echo.address)) == .succeeded)
        #expect(try await Self.connect(harness, SOCKSEndpoint(other.address)) == .notAllowed)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("denied(deny-to 127.0.0.0/8:1-65535 (rule 2))") } })
        await harness.stop()
    }

    @Test func namesAreCheckedByNameThenByEveryAddressTheyResolveTo() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let resolver = TableResolver([
            "intranet.test": ["127.0.0.1"], "rebind.test": ["127.0.0.1"], "blocked.test": ["127.0.0.1"],
            "mixed.test": ["127.0.0.9", "127.0.0.1"],
        ])
        let harness = try ServerHarness {
            $0.resolver = resolver
            $0.destinationRules = try Self.rules([(.deny, "blocked.test"), (.deny, "127.0.0.9"), (.allow, "intranet.test"), (.deny, "private")])
        }
        let port = echo.address.port
        // Allowed by name before a network rule could deny its address.
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain("intranet.test"), port: port)) == .succeeded)
        // A name that resolves to a denied address: no DNS-rebinding way around --deny-to private.
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain("rebind.test"), port: port)) == .notAllowed)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("destination=rebind.test:\(port)") && $0.contains("denied(deny-to private (rule 4))") } })
        // Denied by name: never even looked up.
        let before = resolver.lookups.withLock { $0 }
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain("BLOCKED.test."), port: port)) == .notAllowed)
        #expect(resolver.lookups.withLock { $0 } == before)
        // A name with one denied address connects to the allowed one... but with private denied, only by
        // its allow rule: here mixed.test has none, so both of its addresses are checked and denied.
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain("mixed.test"), port: port)) == .notAllowed)
        await harness.stop()
    }

    @Test func deniedAddressesOfANameAreSkippedWhenAnotherIsAllowed() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try ServerHarness {
            $0.resolver = TableResolver(["mixed.test": ["127.0.0.9", "127.0.0.1"]])
            $0.destinationRules = try Self.rules([(.deny, "127.0.0.9")])
        }
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain("mixed.test"), port: echo.address.port)) == .succeeded)
        await harness.stop()
    }

    @Test func theServersOwnAddressIsAlwaysDenied() async throws {
        let harness = try ServerHarness { $0.resolver = TableResolver(["self.test": ["127.0.0.1"]]) }
        #expect(try await Self.connect(harness, SOCKSEndpoint(harness.address)) == .notAllowed)
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain("self.test"), port: harness.address.port)) == .notAllowed)
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain("127.0.0.1"), port: harness.address.port)) == .notAllowed)
        #expect(await ServerHarness.eventually { harness.log.all.filter { $0.contains("denied(own listening address)") }.count == 3 })
        // Only one session at a time was ever open: no nesting.
        #expect(harness.server.metrics.totalSessions == 3)
        await harness.stop()
    }

    @Test func deniedDatagramsAreDroppedAndTheAssociationGoesOn() async throws {
        let allowed = try LoopbackPeers.startUDPEcho()
        let denied = try LoopbackPeers.startUDPEcho()
        defer { allowed.stop(); denied.stop() }
        let harness = try ServerHarness {
            $0.resolver = TableResolver(["rebind.test": ["127.0.0.1"]])
            $0.destinationRules = try Self.rules([(.deny, "127.0.0.1:\(denied.address.port)"), (.deny, "blocked.test")])
        }
        let client = try await UDPTestClient.associate(harness.address)
        try await client.send([1], to: SOCKSEndpoint(denied.address))
        try await client.send([2], to: SOCKSEndpoint(address: .domain("blocked.test"), port: allowed.address.port))
        try await client.send([3], to: SOCKSEndpoint(address: .domain("rebind.test"), port: denied.address.port))
        try await client.send([4], to: SOCKSEndpoint(allowed.address))
        let (header, payload) = try #require(try await client.receive(within: .seconds(10)))
        #expect(payload == [4], "the denied datagrams never left")
        #expect(header.endpoint == SOCKSEndpoint(allowed.address))
        #expect(await ServerHarness.eventually { harness.server.metrics.deniedDatagramCount == 3 })
        #expect(denied.senders.all.isEmpty)
        client.close()
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("command=udp-associate") && $0.contains("dropped=3") } })
        await harness.stop()
    }

    @Test func deniedUoTFramesAreDroppedAndTheStreamGoesOn() async throws {
        let allowed = try LoopbackPeers.startUDPEcho()
        let denied = try LoopbackPeers.startUDPEcho()
        defer { allowed.stop(); denied.stop() }
        let harness = try ServerHarness { $0.destinationRules = try Self.rules([(.deny, "127.0.0.1:\(denied.address.port)")]) }
        let stream = try await SOCKSClient(host: "127.0.0.1", port: harness.address.port).udpOverTCP(version: .v2)
        let frames = stream.frames().makeAsyncIterator()
        try await stream.send([1], to: SOCKSEndpoint(denied.address))
        try await stream.send([2], to: SOCKSEndpoint(allowed.address))
        let frame = try await withDeadline(.seconds(10)) { [frames] in
            var frames = frames
            return try await frames.next()
        }
        #expect(frame?.payload == [2])
        #expect(await ServerHarness.eventually { harness.server.metrics.deniedDatagramCount == 1 })
        #expect(denied.senders.all.isEmpty)
        stream.close()
        await harness.stop()
    }

    @Test func bindChecksTheExpectedPeerOrEachPeerThatConnects() async throws {
        let harness = try ServerHarness { $0.destinationRules = try Self.rules([(.deny, "127.0.0.3")]) }
        let (refused, reply) = try await SOCKSTestClient.open(harness.address, command: .bind, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 3]), port: 0))
        #expect(reply.code == .notAllowed)
        refused.close()

        // "Any peer": a peer from a denied address is turned away, an allowed one is taken.
        let (client, first) = try await SOCKSTestClient.open(harness.address, command: .bind, to: SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: 0))
        #expect(first.code == .succeeded)
        let listening = try #require(first.bound.socketAddress)
        let deniedPeer = try await TCPConnection.connect(to: listening, from: SocketAddress(ip: IPAddress("127.0.0.3")!, port: 0))
        let closed = try await withDeadline(.seconds(10)) { [deniedPeer] in
            var buffer = [UInt8](repeating: 0, count: 16)
            do { return try await deniedPeer.read(into: &buffer) == 0 } catch { return true }
        }
        #expect(closed)
        deniedPeer.close()
        let peer = try await TCPConnection.connect(to: listening, from: SocketAddress(ip: IPAddress("127.0.0.2")!, port: 0))
        let second = try await client.receive(SOCKSReply.parse)
        #expect(second.code == .succeeded)
        #expect(second.bound == SOCKSEndpoint(peer.localAddress))
        peer.close()
        client.close()
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("BIND refused a peer") && $0.contains("deny-to 127.0.0.3") } })
        await harness.stop()
    }

    @Test func throughAnUpstreamTheRulesSeeWhatTheClientAskedFor() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let upstream = try ServerHarness()
        let harness = try ServerHarness {
            $0.upstream = UpstreamProxy(host: "127.0.0.1", port: upstream.address.port)
            $0.destinationRules = try Self.rules([(.deny, "private"), (.deny, "blocked.test")])
        }
        // A literal private address is denied here; a name is the upstream's to resolve.
        #expect(try await Self.connect(harness, SOCKSEndpoint(echo.address)) == .notAllowed)
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain("blocked.test"), port: echo.address.port)) == .notAllowed)
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain("localhost"), port: echo.address.port)) == .succeeded)
        await harness.stop()
        await upstream.stop()
    }
}
