import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import TestSupport

/// One session of each kind the resource tests repeat by the hundred, written from the client's side. Each
/// checks that the session did its work (a reply of 00, bytes echoed) and throws otherwise, and each is
/// bounded in time, so that a daemon that stops answering fails the test instead of hanging it.
enum SessionScript {
    /// What a session found wrong.
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The longest any one session may take on a machine whose cores are all busy.
    static let sessionTimeLimit: Duration = .seconds(15)

    /// CONNECT to `echo`, one byte there and back, then a half-close answered by the echo's: the session
    /// ends on both sides before the next one starts, so the daemon has no more sessions in flight than the
    /// client (and keeps no more pooled pipes than the warm-up made it keep).
    static func connectEcho(through proxy: SocketAddress, to echo: SocketAddress) async throws {
        try await withDeadline(sessionTimeLimit) {
            let (client, reply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(echo))
            defer { client.close() }
            guard reply.code == .succeeded else { throw Failure("CONNECT reply \(reply.code)") }
            try await client.send([0x2A])
            guard try await client.receive(exactly: 1) == [0x2A] else { throw Failure("CONNECT echoed the wrong byte") }
            client.connection.shutdownWrite()
            guard try await client.receiveUntilEOF().isEmpty else { throw Failure("CONNECT: bytes after the echo") }
        }
    }

    /// CONNECT to `echo` and one byte there and back, leaving the session open: the caller closes it.
    static func openIdleConnect(through proxy: SocketAddress, to echo: SocketAddress) async throws -> SOCKSTestClient {
        try await withDeadline(sessionTimeLimit) {
            let (client, reply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(echo))
            do {
                try await expectEchoedByte(client, after: reply)
                return client
            } catch {
                client.close()
                throw error
            }
        }
    }

    /// A CONNECT that succeeded, then one byte there and back through it.
    static func expectEchoedByte(_ client: SOCKSTestClient, after reply: SOCKSReply) async throws {
        guard reply.code == .succeeded else { throw Failure("CONNECT reply \(reply.code)") }
        try await client.send([0x2A])
        guard try await client.receive(exactly: 1) == [0x2A] else { throw Failure("CONNECT echoed the wrong byte") }
    }

    /// BIND, a peer connects to the announced address, the second reply, one byte each way, close.
    static func bindWithPeer(through proxy: SocketAddress) async throws {
        try await withDeadline(sessionTimeLimit) {
            let (client, first) = try await SOCKSTestClient.open(proxy, command: .bind, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 0))
            defer { client.close() }
            guard first.code == .succeeded, let listening = first.bound.socketAddress else { throw Failure("BIND first reply \(first.code)") }
            let peer = try await TCPConnection.connect(to: listening)
            defer { peer.close() }
            let second = try await client.receive(SOCKSReply.parse)
            guard second.code == .succeeded else { throw Failure("BIND second reply \(second.code)") }
            try await peer.write([0x50])
            guard try await client.receive(exactly: 1) == [0x50] else { throw Failure("BIND relayed the wrong byte to the client") }
            try await client.send([0x43])
            var byte = [UInt8](repeating: 0, count: 1)
            guard try await peer.read(into: &byte) == 1, byte == [0x43] else { throw Failure("BIND relayed the wrong byte to the peer") }
            // Both half-close and see the other's EOF: the relay has ended before the next session starts.
            client.connection.shutdownWrite()
            guard try await peer.read(into: &byte) == 0 else { throw Failure("BIND: bytes after the client's half-close") }
            peer.shutdownWrite()
            guard try await client.receiveUntilEOF().isEmpty else { throw Failure("BIND: bytes after the peer's half-close") }
        }
    }

    /// BIND that no peer ever answers: the first reply, then (after the daemon's --bind-timeout) reply 06.
    static func bindWithoutPeer(through proxy: SocketAddress) async throws {
        try await withDeadline(sessionTimeLimit) {
            let (client, first) = try await SOCKSTestClient.open(proxy, command: .bind, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 0))
            defer { client.close() }
            guard first.code == .succeeded else { throw Failure("BIND first reply \(first.code)") }
            let second = try await client.receive(SOCKSReply.parse)
            guard second.code == .ttlExpired else { throw Failure("BIND without a peer: reply \(second.code), not 06") }
        }
    }

    /// UDP ASSOCIATE, one datagram to `echo` and back, close.
    static func udpEcho(through proxy: SocketAddress, to echo: SocketAddress) async throws {
        try await withDeadline(sessionTimeLimit) {
            let association = try await UDPTestClient.associate(proxy)
            defer { association.close() }
            let payload: [UInt8] = [0x55, 0x44, 0x50]
            // Loopback does not lose datagrams unless a receive buffer overflows, which a machine whose cores
            // are all busy can cause: a lost one is sent again, a few times.
            for _ in 0..<4 {
                try await association.send(payload, to: SOCKSEndpoint(echo))
                if let reply = try await association.receive(within: .seconds(2)) {
                    guard reply.payload == payload else { throw Failure("UDP ASSOCIATE echoed the wrong payload") }
                    return
                }
            }
            throw Failure("UDP ASSOCIATE: no echo after 4 datagrams")
        }
    }

    /// A UoT stream of `version` through `proxy` (v2 in non-connect mode), one frame to `echo` and back, close.
    static func uotEcho(through proxy: SocketAddress, version: UoTVersion, to echo: SocketAddress) async throws {
        try await withDeadline(sessionTimeLimit) {
            let stream = try await SOCKSClient(host: "127.0.0.1", port: proxy.port).udpOverTCP(version: version)
            defer { stream.close() }
            let payload: [UInt8] = [0x55, 0x6F, 0x54]
            var frames = stream.frames().makeAsyncIterator()
            try await stream.send(payload, to: SOCKSEndpoint(echo))
            guard let frame = try await frames.next() else { throw Failure("UoT \(version): the stream ended before the echo") }
            guard frame.payload == payload else { throw Failure("UoT \(version): echoed the wrong payload") }
        }
    }

    /// A client that connects and never says a word: the daemon must close it within `limit`.
    static func silent(to proxy: SocketAddress, closedWithin limit: Duration) async throws {
        let client = try await SOCKSTestClient.connect(to: proxy)
        defer { client.close() }
        guard try await client.closesWithin(limit) else { throw Failure("a silent client was not closed within \(limit)") }
    }
}
