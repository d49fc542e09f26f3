import AsyncSockets
import Foundation
import SOCKSClient
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// socksd chained to real peers from Debian: Dante (`danted`) and microsocks.
@Suite struct PeerInteropTests {
    /// Dante on loopback, no authentication. Clients are limited to 127/8 by the client rule; the socks
    /// rule matches any address because Dante checks UDP ASSOCIATE against the client's announced
    /// address (0.0.0.0 when unknown).
    static func startDante() async throws -> ExternalPeer {
        try await ExternalPeer("/usr/sbin/danted", package: "dante-server") { port in
            let config = FileManager.default.temporaryDirectory.appendingPathComponent("danted-\(UUID().uuidString).conf").path
            try """
                logoutput: stderr
                internal: 127.0.0.1 port = \(port)
                external: 127.0.0.1
                socksmethod: none
                clientmethod: none
                user.privileged: root
                user.unprivileged: nobody
                client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
                socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect bind udpassociate bindreply udpreply }

                """.write(toFile: config, atomically: true, encoding: .utf8)
            return ["-f", config, "-N", "1"]
        }
    }

    func downstream(to peer: ExternalPeer, udp: UpstreamProxy.UDPTransport) throws -> ServerHarness {
        try ServerHarness { $0.upstream = UpstreamProxy(host: "127.0.0.1", port: peer.port, udpTransport: udp) }
    }

    func tcpRoundTrip(through server: SocketAddress) async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        for destination in [SOCKSEndpoint(echo.address), SOCKSEndpoint(address: .domain("localhost"), port: echo.address.port)] {
            let (client, reply) = try await SOCKSTestClient.open(server, to: destination)
            #expect(reply.code == .succeeded, "\(destination)")
            var pattern = PatternStream(seed: 5)
            let payload = pattern.next(256 * 1024)
            async let sent: Void = client.send(payload)
            #expect(try await client.receive(exactly: payload.count) == payload)
            try await sent
            client.close()
        }
    }

    @Test func socksdThroughDanteForTCP() async throws {
        let dante = try await Self.startDante()
        defer { dante.stop() }
        let harness = try downstream(to: dante, udp: .associate)
        try await tcpRoundTrip(through: harness.address)
        // A refusal at Dante comes back as Dante's reply code.
        let refusing = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(refusing) {} }  // the reservation must outlive every connect below
        let (_, refused) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: refusing.port))
        #expect(refused.code != .succeeded)
        await harness.stop()
    }

    @Test func socksdThroughDanteForUDPByAssociate() async throws {
        let dante = try await Self.startDante()
        defer { dante.stop() }
        let harness = try downstream(to: dante, udp: .associate)
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        for size in [0, 1, 1400, 8192] {
            let payload = [UInt8](repeating: UInt8(size & 0xFF), count: size)
            try await client.send(payload, to: SOCKSEndpoint(echo.address))
            let received = try await client.receive(within: .seconds(3))
            #expect(received?.payload == payload, "\(size) bytes; Dante's log:\n\(dante.log.suffix(2000))")
            #expect(received?.header.endpoint == SOCKSEndpoint(echo.address))
        }
        client.close()
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("command=udp-associate") && $0.contains("up=9593") } })
        await harness.stop()
    }

    @Test func socksdThroughMicrosocksForTCP() async throws {
        let microsocks = try await ExternalPeer("/usr/bin/microsocks", package: "microsocks") { port in
            ["-i", "127.0.0.1", "-p", "\(port)"]
        }
        defer { microsocks.stop() }
        let harness = try downstream(to: microsocks, udp: .associate)
        try await tcpRoundTrip(through: harness.address)
        await harness.stop()
    }
}
