import AsyncSockets
import Foundation
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport
@testable import SOCKSServer

/// What a client sends as bytes stays those bytes: a user name is compared and logged byte for byte, and a
/// name that is no host name (here one with a byte that is not UTF-8) is refused in every protocol, never
/// decoded into another name and resolved.
@Suite struct ClientBytesTests {
    /// Records every name the server asks for; finds none.
    final class RecordingResolver: HostResolver {
        let asked = Mutex<[String]>([])

        func resolve(host: String, port: UInt16) async throws -> [SocketAddress] {
            asked.withLock { $0.append(host) }
            throw SocketError.nameNotFound(host)
        }
    }

    /// `bad\xff.example`: decoded with U+FFFD it would be `bad\u{FFFD}.example`, a different name.
    static let badName: [UInt8] = Array("bad".utf8) + [0xFF] + Array(".example".utf8)
    /// How the log shows it: the byte as sent.
    static let badNameLogged = #"bad\xff.example"#

    /// `al\xffice` cannot log in as a configured `al\u{FFFD}ice` (what its bytes would decode to) or
    /// `al\u{FF}ice` (what they mean in Latin-1), over SOCKS5 or HTTP, and each failed login's access line
    /// names the user by the bytes sent; the neighbour logs in as itself.
    @Test func aUserNameIsComparedAndLoggedByteForByte() async throws {
        let harness = try ServerHarness {
            $0.users = try UserDatabase(["al\u{FFFD}ice": "pw", "al\u{FF}ice": "pw"])
        }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let alice: [UInt8] = [0x61, 0x6C, 0xFF, 0x69, 0x63, 0x65]

        let client = try await SOCKSTestClient.connect(to: harness.address, from: IPAddress("127.0.0.2")!)
        try await client.send(SOCKSGreeting(methods: [.usernamePassword]).encoded())
        #expect(try await client.receive(exactly: 2) == [0x05, 0x02])
        try await client.send(SOCKSCredentials(username: alice, password: Array("pw".utf8)).encoded())
        #expect(try await client.receive(exactly: 2) == [0x01, 0x01])
        #expect(try await client.closesWithin(.seconds(10)))
        client.close()

        // HTTP Basic carries the same bytes: base64 of `al\xffice:pw`.
        let response = try await HTTPTestExchange.send(
            "CONNECT \(echo.address) HTTP/1.1\r\nHost: \(echo.address)\r\nProxy-Authorization: Basic YWz/aWNlOnB3\r\n\r\n", to: harness.address)
        #expect(response.status == 407)

        let (neighbour, reply) = try await SOCKSTestClient.open(
            harness.address, to: SOCKSEndpoint(echo.address), credentials: SOCKSCredentials(username: "al\u{FFFD}ice", password: "pw"))
        #expect(reply.code == .succeeded)
        neighbour.close()

        #expect(await ServerHarness.eventually { harness.log.all.filter { $0.contains("session client=") }.count == 3 })
        let access = harness.log.all.filter { $0.contains("session client=") }
        #expect(access.filter { $0.contains(#" user=al\xffice "#) && $0.contains("outcome=auth-failed") }.count == 2, "\(access)")
        #expect(access.contains { $0.contains(#" user=al\xef\xbf\xbdice command=connect"#) && $0.contains("outcome=succeeded") }, "\(access)")
        #expect(harness.server.metrics.failedLoginCount == 2)
        await harness.stop()
    }

    /// The name `bad\xff.example` asked for by SOCKS5 (04), SOCKS4a (5B) and HTTP (400, CONNECT and absolute
    /// form) is refused and never resolved; the SOCKS refusals log it escaped as sent. A name in Unicode
    /// form (an IDN) is still asked for, as sent.
    @Test func aNameThatIsNoHostNameIsRefusedUnresolved() async throws {
        let resolver = RecordingResolver()
        let harness = try ServerHarness {
            $0.resolver = resolver
            $0.protocols = [.socks5, .socks4, .http]
        }

        for name in [Self.badName, Array("bücher.example".utf8)] {
            let client = try await SOCKSTestClient.connect(to: harness.address)
            try await client.send(SOCKSGreeting(methods: [.noAuthentication]).encoded())
            #expect(try await client.receive(exactly: 2) == [0x05, 0x00])
            try await client.send([0x05, 0x01, 0x00, 0x03, UInt8(name.count)] + name + [0x00, 0x50])
            #expect(try await client.receive(SOCKSReply.parse).code == .hostUnreachable)
            #expect(try await client.closesWithin(.seconds(10)))
            client.close()
        }

        let socks4a = try await SOCKSTestClient.connect(to: harness.address)
        try await socks4a.send([0x04, 0x01, 0x00, 0x50, 0, 0, 0, 1, 0x00] + Self.badName + [0x00])
        #expect(try await socks4a.receive(exactly: 8) == [0x00, 0x5B, 0, 0, 0, 0, 0, 0])
        #expect(try await socks4a.closesWithin(.seconds(10)))
        socks4a.close()
        // A SOCKS4 user id is bytes too, logged as sent.
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let socks4 = try await SOCKSTestClient.connect(to: harness.address)
        try await socks4.send(SOCKS4Request(command: .connect, destination: SOCKSEndpoint(echo.address), userID: Array("fr".utf8) + [0xFF]).encoded())
        #expect(try await socks4.receive(exactly: 8).prefix(2) == [0x00, 0x5A])
        socks4.close()

        for head in ["CONNECT \u{0}:80 HTTP/1.1\r\nHost: \u{0}:80\r\n\r\n", "GET http://\u{0}/ HTTP/1.1\r\nHost: \u{0}\r\n\r\n"] {
            // The name's bytes in place of the NUL.
            let bytes = Array(head.utf8).split(separator: 0, omittingEmptySubsequences: false).map(Array.init).joined(separator: Self.badName)
            let response = try await HTTPTestExchange.send(Array(bytes), to: harness.address)
            #expect(response.status == 400, "\(head)")
        }

        #expect(await ServerHarness.eventually { harness.log.all.filter { $0.contains("session client=") }.count == 6 })
        #expect(resolver.asked.withLock { $0 } == ["bücher.example"])
        let log = harness.log.all
        #expect(log.contains { $0.contains("invalid domain name") && $0.hasSuffix(": \(Self.badNameLogged)") }, "\(log)")
        #expect(log.contains { $0.contains("invalid SOCKS4a host name") && $0.hasSuffix(": \(Self.badNameLogged)") }, "\(log)")
        #expect(log.contains { $0.contains(#"userid=fr\xff "#) }, "the SOCKS4 user id, as sent: \(log)")
        #expect(!log.contains { $0.contains("\u{FFFD}") || $0.contains(#"\xef\xbf\xbd"#) }, "\(log)")
        await harness.stop()
    }

    /// A UDP datagram, and a UoT frame, to `bad\xff.example` is dropped and counted as malformed, unresolved;
    /// the association and the stream go on.
    @Test func aDatagramToANameThatIsNoHostNameIsDroppedAndCounted() async throws {
        let resolver = RecordingResolver()
        let harness = try ServerHarness { $0.resolver = resolver }
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let port = [UInt8(echo.address.port >> 8), UInt8(echo.address.port & 0xFF)]

        let udp = try await UDPTestClient.associate(harness.address)
        try await udp.socket.send([0, 0, 0, 0x03, UInt8(Self.badName.count)] + Self.badName + port + [7], to: udp.relay)
        try await udp.send([8], to: SOCKSEndpoint(echo.address))
        #expect(try await udp.receive()?.payload == [8])
        #expect(await ServerHarness.eventually { harness.server.metrics.droppedDatagrams(.malformed) == 1 })
        udp.close()

        // UoT v2, addressed frames: one to the name, then one to the echo, in one write.
        let uot = try await SOCKSTestClient.connect(to: harness.address)
        try await uot.send(
            [0x05, 0x01, 0x00]
                + [0x05, 0x01, 0x00, 0x03, 0x17] + Array("sp.v2.udp-over-tcp.arpa".utf8) + [0x00, 0x00]
                + [0x00, 0x01, 127, 0, 0, 1] + port
                + [0x02, UInt8(Self.badName.count)] + Self.badName + port + [0x00, 0x01, 7]
                + [0x00, 127, 0, 0, 1] + port + [0x00, 0x05] + Array("hello".utf8))
        #expect(try await uot.receive(exactly: 2) == [0x05, 0x00])
        #expect(try await uot.receive(SOCKSReply.parse).code == .succeeded)
        #expect(try await uot.receive(exactly: 14) == [0x00, 127, 0, 0, 1] + port + [0x00, 0x05] + Array("hello".utf8))
        #expect(await ServerHarness.eventually { harness.server.metrics.droppedDatagrams(.malformed) == 2 })
        uot.close()

        #expect(resolver.asked.withLock { $0 }.isEmpty)
        #expect(harness.log.all.filter { $0.contains("dropped datagram: to \(Self.badNameLogged): not a host name") }.count == 2, "\(harness.log.all)")
        await harness.stop()
    }
}
