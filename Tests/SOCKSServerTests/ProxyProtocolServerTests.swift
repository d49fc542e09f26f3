import AsyncSockets
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// PROXY protocol listeners, in-process with hand-written headers (HAProxy itself is in the daemon tests).
@Suite struct ProxyProtocolServerTests {
    static func server(trusting trusted: String = "127.0.0.1/32", _ configure: (inout SOCKSServer.Configuration) throws -> Void = { _ in }) throws -> ServerHarness {
        try ServerHarness { configuration in
            configuration.listenAddresses = []
            configuration.proxyProtocolListeners = [
                ProxyProtocolListener(address: SocketAddress(ip: .ipv4Loopback, port: 0), trustedProxies: [try IPNetwork(parsing: trusted)]),
            ]
            try configure(&configuration)
        }
    }

    static func v1(_ source: String, _ sourcePort: UInt16, destinationPort: UInt16 = 1080) -> [UInt8] {
        let family = source.contains(":") ? "TCP6" : "TCP4"
        let destination = source.contains(":") ? "::1" : "127.0.0.1"
        return Array("PROXY \(family) \(source) \(destination) \(sourcePort) \(destinationPort)\r\n".utf8)
    }

    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    static func v2(_ source: [UInt8], _ sourcePort: UInt16) -> [UInt8] {
        v2Signature + [0x21, 0x11, 0x00, 12] + source + [127, 0, 0, 1] + [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xFF), 0x04, 0x38]
    }

    static let v2Local: [UInt8] = v2Signature + [0x20, 0x00, 0x00, 0x00]

    /// Sends `header` and a CONNECT to `echo` (in one write when `together`), checks the relay.
    static func connect(_ harness: ServerHarness, header: [UInt8], to echo: RunningPeer, together: Bool) async throws -> SOCKSReply {
        let client = try await SOCKSTestClient.connect(to: harness.address)
        defer { client.close() }
        let greeting = SOCKSGreeting(methods: [.noAuthentication]).encoded()
        if together {
            try await client.send(header + greeting)
        } else {
            for byte in header { try await client.send([byte]) }
            try await client.send(greeting)
        }
        #expect(try await client.receive(exactly: 2) == [0x05, 0x00])
        try await client.send(SOCKSRequest(command: .connect, destination: SOCKSEndpoint(echo.address)).encoded())
        let reply = try await client.receive(SOCKSReply.parse)
        if reply.code == .succeeded {
            try await client.send([5])
            #expect(try await client.receive(exactly: 1) == [5])
        }
        return reply
    }

    @Test func theHeadersClientIsTheClientInTheLog() async throws {
        let harness = try Self.server()
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        #expect(try await Self.connect(harness, header: Self.v1("198.51.100.7", 5555), to: echo, together: true).code == .succeeded)
        #expect(try await Self.connect(harness, header: Self.v2([203, 0, 113, 9], 6666), to: echo, together: false).code == .succeeded)
        #expect(try await Self.connect(harness, header: Self.v1("2001:db8::7", 7777), to: echo, together: true).code == .succeeded)
        #expect(await ServerHarness.eventually {
            let lines = harness.log.all
            return lines.contains { $0.contains("session client=198.51.100.7:5555 ") && $0.contains("outcome=succeeded") }
                && lines.contains { $0.contains("session client=203.0.113.9:6666 ") }
                && lines.contains { $0.contains("session client=[2001:db8::7]:7777 ") }
        })
        #expect(harness.server.proxyProtocolAddresses == [harness.address])
        await harness.stop()
    }

    @Test func allowFromAndLimitsSeeTheRealClient() async throws {
        let harness = try Self.server { $0.allowFrom = [try IPNetwork(parsing: "198.51.100.0/24")] }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        #expect(try await Self.connect(harness, header: Self.v1("198.51.100.7", 5555), to: echo, together: true).code == .succeeded)
        let refused = try await SOCKSTestClient.connect(to: harness.address)
        try await refused.send(Self.v1("203.0.113.9", 1234) + SOCKSGreeting(methods: [.noAuthentication]).encoded())
        #expect(try await refused.closesWithin(.seconds(10)))
        refused.close()
        #expect(harness.server.metrics.refusedNotAllowedFrom == 1)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("refused 203.0.113.9:1234: not in --allow-from") } })
        await harness.stop()
    }

    @Test func untrustedSendersNoHeaderBadHeadersAndHealthChecksAreClosed() async throws {
        let harness = try Self.server(trusting: "127.0.0.1/32") { $0.handshakeTimeout = .seconds(1) }
        // From an address that is not a trusted balancer: closed at accept.
        let untrusted = try await SOCKSTestClient.connect(to: harness.address, from: IPAddress("127.0.0.2")!)
        try? await untrusted.send(Self.v1("198.51.100.7", 5555))
        #expect(try await untrusted.closesWithin(.seconds(10)))
        untrusted.close()
        #expect(harness.server.metrics.untrustedProxyCount == 1)
        // A plain SOCKS greeting is no header; nor is a malformed one.
        for bytes in [SOCKSGreeting(methods: [.noAuthentication]).encoded(), Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n".utf8), Array("PROXY TCP9 x\r\n".utf8)] {
            let client = try await SOCKSTestClient.connect(to: harness.address)
            try await client.send(bytes)
            #expect(try await client.closesWithin(.seconds(10)))
            client.close()
        }
        // Nothing at all: closed at the header deadline (at least 3 s; waited out on purpose).
        let silent = try await SOCKSTestClient.connect(to: harness.address)
        let window = TimeoutWindow(ProxyHeaderReader.minimumDeadline)
        #expect(try await silent.closesWithin(window.remaining), "a silent connection was not closed \(window)")
        silent.close()
        #expect(await ServerHarness.eventually { harness.server.metrics.proxyHeaderFailureCount == 4 })
        // Health checks: a LOCAL header, or a connection closed at once. Quiet: no warning for either.
        // (Warnings about these two connections by their addresses: a summary of the refusals above may
        // still come out meanwhile, late on a loaded machine.)
        let local = try await SOCKSTestClient.connect(to: harness.address)
        let localAddress = local.connection.localAddress.description
        try await local.send(Self.v2Local)
        #expect(try await local.closesWithin(.seconds(10)))
        local.close()
        let empty = try await SOCKSTestClient.connect(to: harness.address)
        let emptyAddress = empty.connection.localAddress.description
        empty.close()
        try await Task.sleep(for: .milliseconds(300))
        let aboutHealthChecks = harness.log.all.filter { $0.hasPrefix("warning") && ($0.contains(localAddress) || $0.contains(emptyAddress)) }
        #expect(aboutHealthChecks.isEmpty, "\(harness.log.all)")
        #expect(harness.server.metrics.proxyHeaderFailureCount == 4)
        await harness.stop()
    }

    @Test func udpAssociateAcceptsDatagramsFromTheRealClientOnly() async throws {
        let harness = try Self.server()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        // The header says the client is 127.0.0.3: its datagrams come straight to the relay from there.
        let control = try await SOCKSTestClient.connect(to: harness.address)
        defer { control.close() }
        try await control.send(Self.v1("127.0.0.3", 4444) + SOCKSGreeting(methods: [.noAuthentication]).encoded())
        #expect(try await control.receive(exactly: 2) == [0x05, 0x00])
        try await control.send(SOCKSRequest(command: .udpAssociate, destination: SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: 0)).encoded())
        let reply = try await control.receive(SOCKSReply.parse)
        let relay = try #require(reply.bound.socketAddress)
        let stranger = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        let client = try UDPSocket(bindingTo: SocketAddress(ip: IPAddress("127.0.0.3")!, port: 0))
        defer { stranger.close(); client.close() }
        let datagram = SOCKSUDPHeader(endpoint: SOCKSEndpoint(echo.address)).encoded() + [1, 2, 3]
        try await stranger.send(datagram[...], to: relay)
        try await client.send(datagram[...], to: relay)
        let reply3 = try await withDeadline(.seconds(10)) { [client] in
            var buffer = [UInt8](repeating: 0, count: 512)
            let (count, _) = try await client.receive(into: &buffer)
            return Array(buffer[0..<count])
        }
        #expect(reply3.suffix(3) == [1, 2, 3])
        #expect(echo.senders.all.count == 1, "only the real client's datagram went out")
        await harness.stop()
    }
}
