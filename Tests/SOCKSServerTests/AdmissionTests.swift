import AsyncSockets
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// The admission stage and the limits over loopback, with 127.0.0.2, 127.0.0.3… as distinct clients.
@Suite struct AdmissionTests {
    static let second = IPAddress("127.0.0.2")!
    static let third = IPAddress("127.0.0.3")!

    /// Whether the server closes a fresh connection from `source` without answering a greeting.
    static func isClosedAtAccept(_ harness: ServerHarness, from source: IPAddress) async throws -> Bool {
        let client = try await SOCKSTestClient.connect(to: harness.address, from: source)
        defer { client.close() }
        try? await client.send(SOCKSGreeting(methods: [.noAuthentication]).encoded())
        return try await withDeadline(.seconds(10)) {
            var buffer = [UInt8](repeating: 0, count: 16)
            do { return try await client.connection.read(into: &buffer) == 0 } catch { return true }
        }
    }

    /// Opens a CONNECT session to `echo` from `source` and checks it relays.
    static func openSession(_ harness: ServerHarness, to echo: RunningPeer, from source: IPAddress, credentials: SOCKSCredentials? = nil) async throws -> SOCKSTestClient {
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address), credentials: credentials, from: source)
        #expect(reply.code == .succeeded)
        try await client.send([7])
        #expect(try await client.receive(exactly: 1) == [7])
        return client
    }

    @Test func allowFromAdmitsOnlyListedNetworks() async throws {
        let harness = try ServerHarness { $0.allowFrom = [try IPNetwork(parsing: "127.0.0.2/32"), try IPNetwork(parsing: "::1")] }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let served = try await Self.openSession(harness, to: echo, from: Self.second)
        served.close()
        #expect(try await Self.isClosedAtAccept(harness, from: Self.third))
        #expect(try await Self.isClosedAtAccept(harness, from: .ipv4Loopback))
        #expect(harness.server.metrics.refusedNotAllowedFrom == 2)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("refused 127.0.0.3:") && $0.contains("not in --allow-from") } })
        // The first refusal is logged at once, the next one only counted for the summary.
        #expect(!harness.log.all.contains { $0.contains("refused 127.0.0.1:") })
        await harness.stop()
    }

    @Test func perIPLimitRefusesThatIPOnlyAndFreesItsPlaces() async throws {
        let harness = try ServerHarness { $0.maxSessionsPerIP = 2 }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let first = try await Self.openSession(harness, to: echo, from: Self.second)
        let second = try await Self.openSession(harness, to: echo, from: Self.second)
        #expect(try await Self.isClosedAtAccept(harness, from: Self.second))
        let other = try await Self.openSession(harness, to: echo, from: Self.third)
        #expect(harness.server.metrics.refusedOverClientLimit == 1)
        first.close()
        // Once the first session has ended, 127.0.0.2 has a place again (admission gives it back just after
        // the session's end is counted, so the test waits for both).
        #expect(await ServerHarness.eventually { harness.server.metrics.activeSessions == 2 })
        #expect(await ServerHarness.eventually { harness.server.admittedSessions(from: Self.second) == 1 })
        let again = try await Self.openSession(harness, to: echo, from: Self.second)
        for client in [second, other, again] { client.close() }
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("over --max-sessions-per-ip 2") } })
        #expect(await ServerHarness.eventually { harness.server.metrics.activeSessions == 0 })
        #expect(harness.server.admissionState.clients == 0, "no per-IP entry outlives its sessions")
        await harness.stop()
    }

    @Test func serverLimitRefusesEveryoneOverIt() async throws {
        let harness = try ServerHarness { $0.maxSessions = 1 }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let first = try await Self.openSession(harness, to: echo, from: Self.second)
        #expect(try await Self.isClosedAtAccept(harness, from: Self.third))
        first.close()
        #expect(await ServerHarness.eventually { harness.server.metrics.activeSessions == 0 })
        // The session's place is given back just after it ends, a moment after the metrics count it out:
        // a session opened in between is refused (the AddressSanitizer suite in CI once met that window).
        #expect(await ServerHarness.eventually { harness.server.admittedSessions(from: Self.second) == 0 })
        let next = try await Self.openSession(harness, to: echo, from: Self.third)
        next.close()
        #expect(harness.server.metrics.refusedOverServerLimit == 1)
        await harness.stop()
    }

    @Test func newSessionRateIsPerIP() async throws {
        let harness = try ServerHarness { $0.newSessionsPerIP = SessionRate(count: 3, per: .seconds(3600)) }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        for _ in 0..<3 { try await Self.openSession(harness, to: echo, from: Self.second).close() }
        #expect(try await Self.isClosedAtAccept(harness, from: Self.second))
        try await Self.openSession(harness, to: echo, from: Self.third).close()
        #expect(harness.server.metrics.refusedOverRate == 1)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("over --new-sessions-per-ip 3/h") } })
        await harness.stop()
    }

    @Test func sessionRateParsing() throws {
        #expect(try SessionRate(parsing: "20/s") == SessionRate(count: 20, per: .seconds(1)))
        #expect(try SessionRate(parsing: "600/min").description == "600/m")
        for bad in ["", "20", "0/s", "-1/s", "20/fortnight", "20/s/s", "x/s"] {
            #expect(throws: SessionRate.InvalidRate.self) { try SessionRate(parsing: bad) }
        }
    }

    @Test func perUserLimitAnswers02AndCountsOtherUsersApart() async throws {
        let harness = try ServerHarness {
            $0.users = try UserDatabase(["alice": "one", "bob": "two"])
            $0.maxSessionsPerUser = 1
        }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let alice = SOCKSCredentials(username: "alice", password: "one")
        let first = try await Self.openSession(harness, to: echo, from: Self.second, credentials: alice)
        let (refused, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address), credentials: alice, from: Self.third)
        #expect(reply.code == .notAllowed)
        #expect(try await refused.closesWithin(.seconds(5)))
        let bob = try await Self.openSession(harness, to: echo, from: Self.third, credentials: SOCKSCredentials(username: "bob", password: "two"))
        first.close()
        #expect(await ServerHarness.eventually { harness.server.metrics.activeSessions == 1 })
        let again = try await Self.openSession(harness, to: echo, from: Self.second, credentials: alice)
        again.close()
        bob.close()
        #expect(harness.server.metrics.refusedOverUserLimit == 1)
        #expect(await ServerHarness.eventually {
            harness.log.all.contains { $0.contains("user alice has 1 sessions open (--max-sessions-per-user)") }
                && harness.log.all.contains { $0.contains("user=alice") && $0.contains("outcome=refused(limit)") }
        })
        await harness.stop()
    }

    @Test func udpLimitCountsAssociationsAndUoTStreams() async throws {
        let harness = try ServerHarness { $0.maxUDPAssociations = 1 }
        let association = try await UDPTestClient.associate(harness.address)
        let (second, reply) = try await SOCKSTestClient.open(harness.address, command: .udpAssociate, to: SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: 0))
        #expect(reply.code == .notAllowed)
        second.close()
        let (uot, uotReply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(address: .domain("sp.v2.udp-over-tcp.arpa"), port: 0))
        #expect(uotReply.code == .notAllowed)
        uot.close()
        association.close()
        #expect(await ServerHarness.eventually { harness.server.metrics.activeSessions == 0 })
        let next = try await UDPTestClient.associate(harness.address)
        next.close()
        #expect(harness.server.metrics.refusedOverUDPLimit == 2)
        await harness.stop()
    }

    /// Greets with username/password and logs in; returns the RFC 1929 status byte.
    static func login(_ harness: ServerHarness, from source: IPAddress, _ credentials: SOCKSCredentials) async throws -> UInt8 {
        let client = try await SOCKSTestClient.connect(to: harness.address, from: source)
        defer { client.close() }
        try await client.send(SOCKSGreeting(methods: [.usernamePassword]).encoded())
        #expect(try await client.receive(exactly: 2) == [0x05, 0x02])
        try await client.send(credentials.encoded())
        return try await client.receive(exactly: 2)[1]
    }

    @Test func failedLoginsThrottleOnlyTheirIPWithADoublingBackoff() async throws {
        let harness = try ServerHarness {
            $0.users = try UserDatabase(["alice": "right"])
            $0.loginFailureLimit = 3
            // Long enough that the refusals below all land inside it on a loaded machine (the whole suite
            // beside two busy loops took over 4 s for them once); the test waits it out on purpose later.
            $0.loginBackoff = .seconds(10)
            $0.loginBackoffLimit = .seconds(60)
        }
        let wrong = SOCKSCredentials(username: "alice", password: "wrong")
        let right = SOCKSCredentials(username: "alice", password: "right")
        for _ in 0..<3 { #expect(try await Self.login(harness, from: Self.second, wrong) == 1) }
        // Throttled: even the right password is refused from 127.0.0.2, unchecked...
        for _ in 0..<5 { #expect(try await Self.login(harness, from: Self.second, right) == 1) }
        // ...but not from another address.
        #expect(try await Self.login(harness, from: Self.third, right) == 0)
        #expect(harness.server.metrics.failedLoginCount == 3)
        #expect(harness.server.metrics.throttledLoginCount == 5)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("login throttling: 127.0.0.2 failed 3 logins within 60.0 seconds; refusing its logins for 10.0 seconds") } })
        // One line per failed login (the access line); the refusals are one line and a summary.
        #expect(await ServerHarness.eventually { harness.log.all.filter { $0.contains("client=127.0.0.2:") && $0.contains("outcome=auth-failed") }.count == 3 })
        #expect(!harness.log.all.contains { $0.contains("session 127.0.0.2:") && $0.contains("handshake failed") })
        #expect(!harness.log.all.contains { $0.contains("outcome=auth-throttled") })
        #expect(harness.log.all.filter { $0.contains("this address is throttled") }.count == 1)

        // The test waits the backoff out on purpose; then the right password works again.
        #expect(await ServerHarness.eventually(.seconds(30)) { !harness.server.context.loginThrottle.isBlocked(Self.second) })
        #expect(try await Self.login(harness, from: Self.second, right) == 0)
        // The next backoff of the same IP is twice as long.
        for _ in 0..<3 { #expect(try await Self.login(harness, from: Self.second, wrong) == 1) }
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("refusing its logins for 20.0 seconds") } })
        #expect(await ServerHarness.eventually(.seconds(20)) { harness.log.all.contains { $0.contains("refused 4 more login(s) from throttled addresses") } })
        await harness.stop()
    }

    @Test func openProxyOnAPublicAddressIsRefusedUnlessAskedFor() throws {
        var configuration = SOCKSServer.Configuration()
        configuration.logger = LogCollector().logger
        for address in ["0.0.0.0", "::"] {
            configuration.listenAddresses = [try SocketAddress(address, port: 0)]
            #expect(throws: SOCKSServerError.openProxy([try SocketAddress(address, port: 0)])) { try SOCKSServer(configuration: configuration) }
        }
        // The check that decides, without binding a public address in a test.
        configuration.listenAddresses = [try SocketAddress("0.0.0.0", port: 0)]
        #expect(SOCKSServer.openProxyAddresses(configuration) == [try SocketAddress("0.0.0.0", port: 0)])
        var withUsers = configuration
        withUsers.users = try UserDatabase(["alice": "one"])
        #expect(SOCKSServer.openProxyAddresses(withUsers).isEmpty)
        var withAllowFrom = configuration
        withAllowFrom.allowFrom = [try IPNetwork(parsing: "192.0.2.0/24")]
        #expect(SOCKSServer.openProxyAddresses(withAllowFrom).isEmpty)
        var meant = configuration
        meant.allowOpenProxy = true
        #expect(SOCKSServer.openProxyAddresses(meant).isEmpty)
        var loopback = configuration
        loopback.listenAddresses = [try SocketAddress("127.0.0.5", port: 0), try SocketAddress("::1", port: 0), try SocketAddress("::ffff:127.0.0.1", port: 0)]
        #expect(SOCKSServer.openProxyAddresses(loopback).isEmpty)
    }

    @Test func loginsSentAllAtOnceGetNoMoreChecksThanTheLimit() async throws {
        let harness = try ServerHarness {
            $0.users = try UserDatabase(["alice": "right"])
            $0.loginFailureLimit = 5
            $0.loginBackoff = .seconds(60)
            // The first greeting must still be open when the last one is in (seconds under load).
            $0.handshakeTimeout = .seconds(120)
        }
        // Every connection greets first, then all the guesses go out together.
        var clients: [SOCKSTestClient] = []
        for _ in 0..<40 {
            let client = try await SOCKSTestClient.connect(to: harness.address, from: Self.second)
            try await client.send(SOCKSGreeting(methods: [.usernamePassword]).encoded())
            #expect(try await client.receive(exactly: 2) == [0x05, 0x02])
            clients.append(client)
        }
        let statuses = try await withThrowingTaskGroup(of: UInt8.self) { group in
            for (index, client) in clients.enumerated() {
                let password = index == clients.count - 1 ? "right" : "wrong"
                group.addTask {
                    try await client.send(SOCKSCredentials(username: "alice", password: password).encoded())
                    return try await client.receive(exactly: 2)[1]
                }
            }
            return try await group.reduce(into: [UInt8]()) { $0.append($1) }
        }
        for client in clients { client.close() }
        #expect(statuses.count == 40)
        #expect(harness.server.metrics.failedLoginCount <= 5, "only as many guesses as the limit were checked")
        #expect(harness.server.metrics.failedLoginCount + harness.server.metrics.throttledLoginCount + statuses.filter { $0 == 0 }.count == 40)
        #expect(harness.server.context.loginThrottle.isBlocked(Self.second))
        await harness.stop()
    }

    @Test func ipv6ClientsAreCountedByTheirSlash64() {
        var configuration = SOCKSServer.Configuration()
        configuration.maxSessionsPerIP = 2
        let admission = AdmissionControl(configuration: configuration)
        let first = IPAddress("2001:db8:1:2::1")!
        let sibling = IPAddress("2001:db8:1:2:ffff::9")!
        let neighbour = IPAddress("2001:db8:1:3::1")!
        #expect(admission.admit(first) == nil)
        #expect(admission.admit(sibling) == nil)
        #expect(admission.admit(IPAddress("2001:db8:1:2::abcd")!) == .clientLimit(2), "a third address of the same /64 is the same client")
        #expect(admission.admit(neighbour) == nil)
        #expect(admission.admit(IPAddress("192.0.2.1")!) == nil)
        #expect(admission.admit(IPAddress("::ffff:192.0.2.1")!) == nil, "the mapped form is the IPv4 client")
        #expect(admission.admit(IPAddress("192.0.2.1")!) == .clientLimit(2))
        for address in [first, sibling, neighbour, IPAddress("192.0.2.1")!, IPAddress("::ffff:192.0.2.1")!] { admission.leave(address) }
        #expect(admission.trackedClients == 0)
    }

    @Test func aSummaryIsNeverLostWhenTheNextEventBeatsItsTimer() async throws {
        let lines = LogCollector()
        let logger = lines.logger
        let report = SummarizingReport(interval: .milliseconds(300)) { suppressed in logger.warning("\(suppressed) more") }
        report { logger.warning("first") }
        report { logger.warning("not shown") }
        report { logger.warning("not shown") }
        // Wait the interval out on purpose; whichever comes first, the timer or the next event, the two
        // counted events are summarised exactly once, before the next line. After a summary the report
        // holds for another interval, so the next event is either its own line (it beat the timer) or
        // counted in the next summary (the timer wrote its summary first): never lost, never twice.
        try await Task.sleep(for: .milliseconds(400))
        report { logger.warning("second") }
        try await Task.sleep(for: .milliseconds(700))
        let written = lines.all
        #expect(written == ["warning first", "warning 2 more", "warning second"] || written == ["warning first", "warning 2 more", "warning 1 more"], "\(written)")
    }
}
