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
            return try addresses.map { try SocketAddress($0, port: port) }
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
        let upstream = try ServerHarness { $0.resolver = TableResolver(["service.test": ["127.0.0.1"]]) }
        let harness = try ServerHarness {
            $0.upstream = UpstreamProxy(host: "127.0.0.1", port: upstream.address.port)
            $0.destinationRules = try Self.rules([(.deny, "private"), (.deny, "blocked.test")])
        }
        // A literal private address is denied here; a name is the upstream's to resolve.
        #expect(try await Self.connect(harness, SOCKSEndpoint(echo.address)) == .notAllowed)
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain("blocked.test"), port: echo.address.port)) == .notAllowed)
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain("service.test"), port: echo.address.port)) == .succeeded)
        await harness.stop()
        await upstream.stop()
    }

    @Test func unspecifiedAddressesOnTheListeningPortAreTheServerItself() async throws {
        let harness = try ServerHarness()
        for host in ["0.0.0.0", "::", "::ffff:0.0.0.0"] {
            let ip = try #require(IPAddress(host))
            let destination = SOCKSEndpoint(address: ip.isIPv4 ? .ipv4(ip.bytes) : .ipv6(ip.bytes), port: harness.address.port)
            #expect(try await Self.connect(harness, destination) == .notAllowed, "\(host)")
        }
        #expect(await ServerHarness.eventually { harness.log.all.filter { $0.contains("denied(own listening address)") }.count == 3 })
        #expect(harness.server.metrics.totalSessions == 3, "no session nested inside another")
        await harness.stop()
    }

    @Test func aCachedNameIsCheckedAgainForEachPort() async throws {
        let allowed = try LoopbackPeers.startUDPEcho()
        let denied = try LoopbackPeers.startUDPEcho()
        defer { allowed.stop(); denied.stop() }
        let harness = try ServerHarness {
            $0.resolver = TableResolver(["service.test": ["127.0.0.1"]])
            $0.destinationRules = try Self.rules([(.allow, "127.0.0.1:\(allowed.address.port)"), (.deny, "private")])
        }
        let client = try await UDPTestClient.associate(harness.address)
        // The first datagram resolves and caches the name; the second, to a denied port, must not ride on it.
        try await client.send([1], to: SOCKSEndpoint(address: .domain("service.test"), port: allowed.address.port))
        #expect(try #require(try await client.receive(within: .seconds(10))).payload == [1])
        try await client.send([2], to: SOCKSEndpoint(address: .domain("service.test"), port: denied.address.port))
        try await client.send([3], to: SOCKSEndpoint(address: .domain("service.test"), port: allowed.address.port))
        #expect(try #require(try await client.receive(within: .seconds(10))).payload == [3])
        #expect(denied.senders.all.isEmpty)
        #expect(harness.server.metrics.deniedDatagramCount == 1)
        client.close()
        await harness.stop()
    }

    @Test func namesTheRulesCannotJudgeAreDenied() async throws {
        let resolver = TableResolver(["example.test": ["192.0.2.1"], "example.test.": ["192.0.2.1"]])
        let harness = try ServerHarness {
            $0.resolver = resolver
            $0.destinationRules = try Self.rules([(.deny, "example.test")])
        }
        for name in ["example.test..", "example..test", ".example.test"] {
            #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain(name), port: 80)) == .notAllowed, "\(name)")
        }
        // A backslash is no host-name byte: such a name is refused (04) before the rules see it.
        for name in ["e\\x65xample.test", "ex\\097mple.test"] {
            #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain(name), port: 80)) == .hostUnreachable, "\(name)")
        }
        #expect(resolver.lookups.withLock { $0 } == 0, "a name denied by its form is never looked up")
        #expect(await ServerHarness.eventually { harness.log.all.filter { $0.contains("malformed name") }.count >= 3 })
        await harness.stop()
    }

    @Test func throughAnUpstreamNumericNamesAndLocalhostAreTheirAddresses() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let upstream = try ServerHarness()
        let harness = try ServerHarness {
            $0.upstream = UpstreamProxy(host: "127.0.0.1", port: upstream.address.port)
            $0.destinationRules = try Self.rules([(.deny, "private")])
        }
        for name in ["127.1", "0x7f000001", "2130706433", "0177.0.0.1", "localhost", "LOCALHOST.", "db.localhost"] {
            #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain(name), port: echo.address.port)) == .notAllowed, "\(name)")
        }
        await harness.stop()
        await upstream.stop()
    }

    @Test func aRuleSetThatDeniesEverythingAnswersUDPRequestsWith02() async throws {
        let harness = try ServerHarness { $0.destinationRules = try Self.rules([(.deny, "*:25"), (.deny, "*")]) }
        let (association, reply) = try await SOCKSTestClient.open(harness.address, command: .udpAssociate, to: SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: 0))
        #expect(reply.code == .notAllowed)
        association.close()
        let (uot, uotReply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(address: .domain("sp.v2.udp-over-tcp.arpa"), port: 0))
        #expect(uotReply.code == .notAllowed)
        uot.close()
        #expect(await ServerHarness.eventually { harness.log.all.filter { $0.contains("outcome=denied(deny-to * (rule 2))") }.count == 2 })
        // With an allow rule first, the association is granted and each datagram judged.
        let open = try ServerHarness { $0.destinationRules = try Self.rules([(.allow, "192.0.2.1"), (.deny, "*")]) }
        let granted = try await UDPTestClient.associate(open.address)
        granted.close()
        await open.stop()
        await harness.stop()
    }

    @Test func ipv4MappedNetworksAreRefusedWithTheFormThatWorks() {
        #expect(throws: RuleSyntaxError.self) { try IPNetwork(parsing: "::ffff:10.0.0.0/104") }
        #expect(throws: RuleSyntaxError.self) { try DestinationRule(action: .deny, parsing: "::ffff:0:0/96") }
        #expect(throws: RuleSyntaxError.self) { try DestinationRule(action: .deny, parsing: "[::ffff:127.0.0.1]:80") }
        do {
            _ = try IPNetwork(parsing: "::ffff:10.0.0.0/104")
        } catch {
            #expect(error.description.contains("write it as 10.0.0.0/8"))
        }
    }

    @Test func aDeniedDestinationCannotForgeWordsOfTheWarning() async throws {
        let harness = try ServerHarness { $0.destinationRules = try Self.rules([(.deny, "*:25")]) }
        // Spaces, `:`, `;` and `=` are no host-name bytes: refused (04) unresolved, and escaped in the warning.
        let forged = "mail.test:25 denied by nothing; bank.test:443 allowed by=rule"
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain(forged), port: 25)) == .hostUnreachable)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("mail.test:25\\x20denied\\x20by") } })
        #expect(!harness.log.all.contains { $0.contains("bank.test:443 allowed") })
        // Spaces that are valid UTF-8 reach the rules (as an IDN would): the denial escapes them.
        let unicodeForged = "mail.test\u{A0}denied\u{2028}bank.test\u{3000}allowed"
        #expect(try await Self.connect(harness, SOCKSEndpoint(address: .domain(unicodeForged), port: 25)) == .notAllowed)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains(#"mail.test\xc2\xa0denied\xe2\x80\xa8bank.test\xe3\x80\x80allowed:25"#) } })
        #expect(!harness.log.all.contains { $0.contains("\u{A0}") || $0.contains("\u{2028}") || $0.contains("\u{3000}") })
        await harness.stop()
    }

    @Test func aUsersOwnRulesAndLimitComeBeforeTheServers() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try ServerHarness {
            $0.users = try UserDatabase(["alice": "a", "bob": "b"])
            $0.destinationRules = try Self.rules([(.deny, "private")])
            $0.userPolicies = ["alice": UserPolicy(destinationRules: try Self.rules([(.allow, "127.0.0.1:\(echo.address.port)"), (.deny, "*:25")]), maxSessions: 1)]
        }
        let alice = SOCKSCredentials(username: "alice", password: "a")
        let bob = SOCKSCredentials(username: "bob", password: "b")
        let (first, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address), credentials: alice)
        #expect(reply.code == .succeeded, "alice's own allow rule opens what the server's rules deny")
        let (second, secondReply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address), credentials: alice)
        #expect(secondReply.code == .notAllowed, "alice's own limit of 1")
        second.close()
        first.close()
        let (bobs, bobReply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address), credentials: bob)
        #expect(bobReply.code == .notAllowed, "bob has only the server's rules")
        bobs.close()
        #expect(await ServerHarness.eventually { harness.server.metrics.activeSessions == 0 })
        let (mail, mailReply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(address: .domain("mail.test"), port: 25), credentials: alice)
        #expect(mailReply.code == .notAllowed)
        mail.close()
        #expect(await ServerHarness.eventually {
            harness.log.all.contains { $0.contains("user=bob") && $0.contains("denied(deny-to private (rule 1))") }
                && harness.log.all.contains { $0.contains("user=alice") && $0.contains("denied(deny-to *:25 (user rule 2))") }
        })
        await harness.stop()
    }
}
