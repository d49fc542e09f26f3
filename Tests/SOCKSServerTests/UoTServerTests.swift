import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// The UoT server, driven by the project's UoT client and by raw spec bytes.
@Suite struct UoTServerTests {
    func client(_ harness: ServerHarness) -> SOCKSClient {
        SOCKSClient(host: "127.0.0.1", port: harness.address.port)
    }

    /// Sends `payload` and returns the next frame that comes back, read with the stream's one iterator (a
    /// fresh iterator per call could drop bytes the previous one had buffered).
    func roundTrip(
        _ stream: UoTClientStream, _ frames: inout UoTClientStream.Frames.Iterator, _ payload: [UInt8], to destination: SOCKSEndpoint?
    ) async throws -> UoTFrame? {
        try await stream.send(payload, to: destination)
        let (frame, advanced) = try await withDeadline(.seconds(3)) { [frames] in
            var frames = frames
            let frame = try await frames.next()
            return (frame, frames)
        }
        frames = advanced
        return frame
    }

    @Test func v2ConnectModeToIPv4() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let stream = try await client(harness).udpOverTCP(version: .v2, connectTo: SOCKSEndpoint(echo.address))
        var streamFrames = stream.frames().makeAsyncIterator()
        #expect(stream.framing == .connect)
        // 65507: the largest IPv4 UDP payload (a UoT frame may carry 65535, a datagram cannot).
        for size in [0, 1, 1400, 16384, 65507] {
            let payload = [UInt8](repeating: UInt8(size & 0xFF), count: size)
            let frame = try #require(try await roundTrip(stream, &streamFrames, payload, to: nil))
            #expect(frame.endpoint == nil)
            #expect(frame.payload == payload)
        }
        stream.close()
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("outcome=uot-v2 client-closed") } })
        await harness.stop()
    }

    @Test(arguments: ["127.0.0.1", "::1", "localhost"])
    func v2NonConnectModeToEachAddressType(host: String) async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho(on: SocketAddress(ip: .ipv6Any, port: 0), dualStack: true)
        defer { echo.stop() }
        let stream = try await client(harness).udpOverTCP(version: .v2)
        var streamFrames = stream.frames().makeAsyncIterator()
        let destination = SOCKSEndpoint(
            address: IPAddress(host).map { $0.isIPv4 ? SOCKSAddress.ipv4($0.bytes) : .ipv6($0.bytes) } ?? .domain(host),
            port: echo.address.port)
        let frame = try #require(try await roundTrip(stream, &streamFrames, Array("to \(host)".utf8), to: destination))
        #expect(frame.payload == Array("to \(host)".utf8))
        // The reply names its real source in the per-packet encoding, never the name.
        let source = try #require(frame.endpoint)
        #expect(source.port == echo.address.port)
        #expect([SOCKSAddress.ipv4([127, 0, 0, 1]), .ipv6(IPAddress.ipv6Loopback.bytes)].contains(source.address))
        stream.close()
        await harness.stop()
    }

    @Test func v1StreamsCarryAddressesInEveryFrame() async throws {
        let harness = try ServerHarness()
        let first = try LoopbackPeers.startUDPEcho()
        let second = try LoopbackPeers.startUDPEcho(on: SocketAddress(ip: .ipv6Loopback, port: 0))
        defer { first.stop(); second.stop() }
        let stream = try await client(harness).udpOverTCP(version: .v1)
        var streamFrames = stream.frames().makeAsyncIterator()
        for echo in [first, second, first] {
            let frame = try #require(try await roundTrip(stream, &streamFrames, [1, 2, 3], to: SOCKSEndpoint(echo.address)))
            #expect(frame.endpoint == SOCKSEndpoint(echo.address))
            #expect(frame.payload == [1, 2, 3])
        }
        stream.close()
        await harness.stop()
    }

    @Test func v2DomainHeaderInConnectMode() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho(on: SocketAddress(ip: .ipv6Any, port: 0), dualStack: true)
        defer { echo.stop() }
        let stream = try await client(harness).udpOverTCP(connectTo: SOCKSEndpoint(address: .domain("localhost"), port: echo.address.port))
        var streamFrames = stream.frames().makeAsyncIterator()
        for index in 0..<5 {
            #expect(try await roundTrip(stream, &streamFrames, [UInt8(index)], to: nil)?.payload == [UInt8(index)])
        }
        stream.close()
        await harness.stop()
    }

    @Test func rawSpecBytesGluedTogetherWork() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let raw = try await SOCKSTestClient.connect(to: harness.address)
        // Greeting, the v2 CONNECT of the spec, the header and a first frame, all in one write: the server
        // must not lose what follows the request.
        let port = echo.address.port
        let header: [UInt8] = [0x01, 0x01, 127, 0, 0, 1, UInt8(port >> 8), UInt8(port & 0xFF)]
        try await raw.send([0x05, 0x01, 0x00]
            + [0x05, 0x01, 0x00, 0x03, 0x17] + Array("sp.v2.udp-over-tcp.arpa".utf8) + [0x00, 0x00]
            + header + [0x00, 0x05] + Array("hello".utf8))
        #expect(try await raw.receive(exactly: 2) == [0x05, 0x00])
        let reply = try await raw.receive(SOCKSReply.parse)
        #expect(reply.code == .succeeded)
        #expect(reply.bound == SOCKSEndpoint(raw.connection.remoteAddress), "BND is the server's end of this connection")
        #expect(try await raw.receive(exactly: 7) == [0x00, 0x05] + Array("hello".utf8))
        raw.close()
        await harness.stop()
    }

    @Test func unresolvableFrameIsDroppedWithoutDesync() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let stream = try await client(harness).udpOverTCP(version: .v2)
        var streamFrames = stream.frames().makeAsyncIterator()
        try await stream.send([9, 9, 9], to: SOCKSEndpoint(address: .domain("nowhere.invalid"), port: 53))
        #expect(try await roundTrip(stream, &streamFrames, [1], to: SOCKSEndpoint(echo.address))?.payload == [1])
        stream.close()
        await harness.stop()
    }

    @Test(arguments: [
        ("unknown family", [0x07, 1, 2, 3, 4, 0, 53, 0, 1, 0x41] as [UInt8]),
        ("zero-length name", [0x02, 0x00, 0, 53, 0, 1, 0x41]),
        ("frame over the limit", [0x00, 127, 0, 0, 1, 0, 53, 0xFF, 0xFF]),
    ])
    func malformedStreamClosesOnlyItself(reason: String, garbage: [UInt8]) async throws {
        let harness = try ServerHarness { $0.uotMaximumPayload = 16384 }
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let healthy = try await client(harness).udpOverTCP(version: .v1)
        var healthyFrames = healthy.frames().makeAsyncIterator()
        #expect(try await roundTrip(healthy, &healthyFrames, [1], to: SOCKSEndpoint(echo.address))?.payload == [1])

        let broken = try await client(harness).udpOverTCP(version: .v1)
        try await broken.connection.write(garbage)
        let closed = try await withDeadline(.seconds(3)) {
            var frames = broken.frames().makeAsyncIterator()
            return try await frames.next() == nil
        }
        #expect(closed, "\(reason): the malformed stream is closed")
        #expect(try await roundTrip(healthy, &healthyFrames, [2], to: SOCKSEndpoint(echo.address))?.payload == [2], "the other stream keeps working")
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("uot-v1 stream closed") } })
        healthy.close()
        await harness.stop()
    }

    @Test func idleStreamEndsAfterTheUDPTimeout() async throws {
        // Long enough for the first round trip on a loaded machine (1 s was not, under AddressSanitizer).
        let harness = try ServerHarness { $0.udpTimeout = .seconds(4) }
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let stream = try await client(harness).udpOverTCP(version: .v2)
        var frames = stream.frames().makeAsyncIterator()
        #expect(try await roundTrip(stream, &frames, [1], to: SOCKSEndpoint(echo.address))?.payload == [1])
        // Then nothing moves: the stream ends by itself, within the timeout and a few seconds of slack.
        let window = TimeoutWindow(.seconds(4))
        let ended = try await withDeadline(window.remaining) { [frames] in
            var frames = frames
            return try await frames.next() == nil
        }
        #expect(ended, "the idle stream did not end \(window)")
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("outcome=uot-v2 udp-timeout") } })
        await harness.stop()
    }

    /// The v2 header belongs to the handshake: a stream that never sends it ends at the handshake deadline,
    /// not after the (long) UDP timeout.
    @Test func aV2StreamWithoutItsHeaderEndsAtTheHandshakeDeadline() async throws {
        // Far below the UDP timeout; the greeting and the request go in one write, so the SOCKS exchange
        // itself never races the deadline, however loaded the machine.
        let harness = try ServerHarness {
            $0.handshakeTimeout = .seconds(2)
            $0.udpTimeout = .seconds(300)
        }
        let client = try await SOCKSTestClient.connect(to: harness.address)
        let request = SOCKSRequest(command: .connect, destination: SOCKSEndpoint(address: .domain(UoTVersion.v2.magicName), port: 0))
        try await client.send(SOCKSGreeting(methods: [.noAuthentication]).encoded() + request.encoded())
        #expect(try await client.receive(exactly: 2) == [0x05, 0x00])
        #expect(try await client.receive(SOCKSReply.parse).code == .succeeded)
        let window = TimeoutWindow(.seconds(2))
        #expect(try await client.closesWithin(window.remaining), "the stream without its header was not closed \(window)")
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("outcome=uot-v2 handshake-timeout") } })
        await harness.stop()
    }
}
