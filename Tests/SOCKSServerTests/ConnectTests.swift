import Glibc
import AsyncSockets
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

@Suite struct ConnectTests {
    enum Target: String, CaseIterable, Sendable {
        case ipv4, ipv6, domain
    }

    @Test(arguments: Target.allCases)
    func connectRelaysBothWays(target: Target) async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startEcho(on: SocketAddress(ip: target == .ipv6 ? .ipv6Loopback : .ipv4Loopback, port: 0))
        defer { echo.stop() }
        let destination = switch target {
        case .ipv4, .ipv6: SOCKSEndpoint(echo.address)
        case .domain: SOCKSEndpoint(address: .domain("localhost"), port: echo.address.port)
        }
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: destination)
        #expect(reply.code == .succeeded)
        // The bound address is the proxy's real outbound address: loopback, plain (never IPv4-mapped), a real port.
        switch (target, reply.bound.address) {
        case (.ipv6, .ipv6(let bytes)): #expect(bytes == IPAddress.ipv6Loopback.bytes)
        case (.ipv4, .ipv4(let bytes)), (.domain, .ipv4(let bytes)): #expect(bytes == [127, 0, 0, 1])
        default: Issue.record("unexpected bound address \(reply.bound)")
        }
        #expect(reply.bound.port != 0)
        try await client.send(Array("ping".utf8))
        #expect(try await client.receive(exactly: 4) == Array("ping".utf8))
        client.close()
        await harness.stop()
    }

    @Test func refusedPortGetsReply05() async throws {
        let harness = try ServerHarness()
        let refusing = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(refusing) {} }  // the reservation must outlive every connect below
        let port = refusing.port
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: port))
        #expect(reply == SOCKSReply(code: .connectionRefused))
        #expect(try await client.closesWithin(.seconds(2)))
        await harness.stop()
    }

    @Test func unresolvableNameGetsReply04() async throws {
        let harness = try ServerHarness()
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(address: .domain("no-such-host.invalid"), port: 80))
        #expect(reply == SOCKSReply(code: .hostUnreachable))
        #expect(try await client.closesWithin(.seconds(2)))
        await harness.stop()
    }

    @Test(arguments: [SOCKSCommand(rawValue: 0x00), SOCKSCommand(rawValue: 0x04), SOCKSCommand(rawValue: 0x09), SOCKSCommand(rawValue: 0xFF)])
    func unsupportedCommandGetsReply07(command: SOCKSCommand) async throws {
        let harness = try ServerHarness()
        let (client, reply) = try await SOCKSTestClient.open(harness.address, command: command, to: .unspecified)
        #expect(reply == SOCKSReply(code: .commandNotSupported))
        #expect(try await client.closesWithin(.seconds(2)))
        await harness.stop()
    }

    @Test func unknownAddressTypeGetsReply08() async throws {
        let harness = try ServerHarness()
        let client = try await SOCKSTestClient.connect(to: harness.address)
        try await client.send([0x05, 0x01, 0x00])
        #expect(try await client.receive(exactly: 2) == [0x05, 0x00])
        try await client.send([0x05, 0x01, 0x00, 0x09, 1, 2, 3, 4, 0, 80])
        #expect(try await client.receive(SOCKSReply.parse) == SOCKSReply(code: .addressTypeNotSupported))
        #expect(try await client.closesWithin(.seconds(2)))
        await harness.stop()
    }

    @Test func earlyDataReachesTheTarget() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let client = try await SOCKSTestClient.connect(to: harness.address)
        let payload = Array("sent before the reply".utf8)
        // Greeting, request and data in one write: a client that does not wait for the replies.
        try await client.send(SOCKSGreeting(methods: [.noAuthentication]).encoded()
            + SOCKSRequest(command: .connect, destination: SOCKSEndpoint(echo.address)).encoded() + payload)
        #expect(try await client.receive(SOCKSMethodSelection.parse).method == .noAuthentication)
        #expect(try await client.receive(SOCKSReply.parse).code == .succeeded)
        #expect(try await client.receive(exactly: payload.count) == payload)
        client.close()
        await harness.stop()
    }

    @Test func halfCloseIsPassedOnAndTheOtherDirectionKeepsFlowing() async throws {
        let harness = try ServerHarness()
        // A target that reads to EOF, then answers with what it counted, then closes.
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        let target = Task {
            let connection = try await listener.accept()
            var total = 0
            for try await chunk in connection.chunks() { total += chunk.count }
            try await connection.write(Array("got \(total)".utf8))
            connection.shutdownWrite()
            return total
        }
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(listener.localAddress))
        #expect(reply.code == .succeeded)
        try await client.send([UInt8](repeating: 7, count: 100_000))
        client.connection.shutdownWrite()
        #expect(try await client.receiveUntilEOF() == Array("got 100000".utf8))
        #expect(try await target.value == 100_000)
        listener.close()
        client.close()
        await harness.stop()
    }

    @Test func sixtyFourMebibytesEachWayArriveIntact() async throws {
        let harness = try ServerHarness()
        let size = 64 * 1024 * 1024
        let block = 1024 * 1024
        // Both ends send the same deterministic stream; its digest is computed once.
        var expected = SHA256()
        var pattern = PatternStream(seed: 42)
        let blocks = (0..<(size / block)).map { _ in pattern.next(block) }
        for chunk in blocks { expected.update(chunk) }
        let digest = expected.finalize()

        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        let target = Task {
            let connection = try await listener.accept()
            async let sent: Void = {
                for chunk in blocks { try await connection.write(chunk) }
                connection.shutdownWrite()
            }()
            var hasher = SHA256()
            var received = 0
            for try await chunk in connection.chunks() { hasher.update(chunk); received += chunk.count }
            try await sent
            connection.close()
            return (received, hasher.finalize())
        }
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(listener.localAddress))
        #expect(reply.code == .succeeded)
        async let upload: Void = {
            for chunk in blocks { try await client.connection.write(chunk) }
            client.connection.shutdownWrite()
        }()
        var hasher = SHA256()
        var received = 0
        for try await chunk in client.connection.chunks() { hasher.update(chunk); received += chunk.count }
        try await upload
        let (targetReceived, targetDigest) = try await target.value
        #expect(received == size)
        #expect(targetReceived == size)
        #expect(hasher.finalize() == digest, "client → target")
        #expect(targetDigest == digest, "target → client")
        client.close()
        listener.close()
        #expect(await ServerHarness.eventually { harness.server.metrics.bytesFromClients == size && harness.server.metrics.bytesToClients == size })
        await harness.stop()
    }

    @Test func idleTimeoutClosesAQuietRelay() async throws {
        // Long enough that the exchange below finishes first even on a loaded machine or under
        // AddressSanitizer (300 ms did not, and 2 s did not once in a CI run under AddressSanitizer: the
        // relay closed before the echo came back). The relay must close within the timeout and a few seconds
        // of slack after the last byte moved: one that never fires, or fires far too late, fails.
        let harness = try ServerHarness { $0.idleTimeout = .seconds(6) }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address))
        #expect(reply.code == .succeeded)
        try await client.send([1])
        #expect(try await client.receive(exactly: 1) == [1])
        let window = TimeoutWindow(.seconds(6))
        #expect(try await client.closesWithin(window.remaining), "the quiet relay was not closed \(window)")
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("outcome=idle-timeout") } })
        await harness.stop()
    }

    @Test func accessLogHasOneLinePerSession() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (client, _) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(address: .domain("localhost"), port: echo.address.port))
        try await client.send(Array("abc".utf8))
        _ = try await client.receive(exactly: 3)
        client.close()
        let wanted = "command=connect destination=localhost:\(echo.address.port) via=direct up=3 down=3"
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.hasPrefix("info session client=127.0.0.1:") && $0.contains(wanted) && $0.contains("outcome=succeeded") } })
        await harness.stop()
    }
}


@Suite struct ConnectDeadlineTests {
    /// A resolver that never answers (until cancelled): a destination that cannot be reached in time.
    struct SilentResolver: HostResolver {
        func resolve(host: String, port: UInt16) async throws -> [SocketAddress] {
            try await Task.sleep(for: .seconds(3600))
            throw SocketError.nameNotFound(host)
        }
    }

    @Test func connectDeadlineGetsReply06() async throws {
        let harness = try ServerHarness {
            $0.connectTimeout = .milliseconds(300)
            $0.resolver = SilentResolver()
        }
        let clock = ContinuousClock()
        let start = clock.now
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(address: .domain("slow.example"), port: 80))
        #expect(reply == SOCKSReply(code: .ttlExpired))
        #expect(clock.now - start >= .milliseconds(300))
        // Only that it does not hang: the suite under AddressSanitizer beside real client programs once
        // took 14 s for this 300 ms deadline.
        #expect(clock.now - start < .seconds(60))
        #expect(try await client.closesWithin(.seconds(2)))
        await harness.stop()
    }

    @Test func errnoMapsToReplyCodes() {
        let cases: [(SocketError, SOCKSReplyCode)] = [
            (.failed(operation: "connect", errno: Errno(rawValue: ECONNREFUSED)), .connectionRefused),
            (.failed(operation: "connect", errno: Errno(rawValue: ENETUNREACH)), .networkUnreachable),
            (.failed(operation: "connect", errno: Errno(rawValue: EHOSTUNREACH)), .hostUnreachable),
            (.failed(operation: "connect", errno: Errno(rawValue: ETIMEDOUT)), .ttlExpired),
            (.failed(operation: "connect", errno: Errno(rawValue: EACCES)), .notAllowed),
            (.failed(operation: "connect", errno: Errno(rawValue: EINVAL)), .generalFailure),
            (.nameNotFound("x.invalid"), .hostUnreachable),
            (.timedOut, .ttlExpired),
        ]
        for (error, code) in cases {
            #expect(SOCKSReplyCode(reaching: error) == code, "\(error)")
        }
        #expect(SOCKSReplyCode(reaching: CancellationError()) == .generalFailure)
    }
}
