import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport
@testable import SOCKSServer

/// socksd → socksd: a downstream server forwarding through an upstream that requires a password.
@Suite struct ChainingTests {
    struct Chain {
        let upstream: ServerHarness
        let downstream: ServerHarness

        init(udp: UpstreamProxy.UDPTransport = .udpOverTCP(.v2)) throws {
            let upstream = try ServerHarness { $0.users = try UserDatabase(["relay": "s3cret"]) }
            self.upstream = upstream
            downstream = try ServerHarness {
                $0.upstream = UpstreamProxy(
                    host: "127.0.0.1", port: upstream.address.port,
                    credentials: SOCKSCredentials(username: "relay", password: "s3cret"), udpTransport: udp)
            }
        }

        func stop() async {
            await downstream.stop()
            await upstream.stop()
        }
    }

    @Test func connectGoesThroughTheUpstream() async throws {
        let chain = try Chain()
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (client, reply) = try await SOCKSTestClient.open(chain.downstream.address, to: SOCKSEndpoint(address: .domain("localhost"), port: echo.address.port))
        #expect(reply.code == .succeeded)
        try await client.send(Array("chained".utf8))
        #expect(try await client.receive(exactly: 7) == Array("chained".utf8))
        client.close()
        #expect(await ServerHarness.eventually {
            chain.upstream.log.all.contains { $0.contains("user=relay command=connect destination=localhost:\(echo.address.port)") }
        })
        await chain.stop()
    }

    /// A client that sends its request, early data and a FIN in one go is served through the upstream as
    /// it is directly: the FIN is a half-close for the relay, not a hang-up that ends the wait.
    @Test func earlyDataAndAHalfCloseAreServedThroughTheUpstream() async throws {
        let chain = try Chain()
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let client = try await SOCKSTestClient.connect(to: chain.downstream.address)
        let request = SOCKSRequest(command: .connect, destination: SOCKSEndpoint(echo.address))
        try await client.send(SOCKSGreeting(methods: [.noAuthentication]).encoded() + request.encoded() + Array("hello".utf8))
        client.connection.shutdownWrite()
        #expect(try await client.receive(exactly: 2) == [0x05, 0x00])
        #expect(try await client.receive(SOCKSReply.parse).code == .succeeded)
        #expect(try await client.receiveUntilEOF() == Array("hello".utf8))
        client.close()
        await chain.stop()
    }

    @Test func theUpstreamsFailureCodeIsPassedBack() async throws {
        let chain = try Chain()
        let refusing = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(refusing) {} }  // the reservation must outlive every connect below
        let refused = SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: refusing.port)
        let (_, reply) = try await SOCKSTestClient.open(chain.downstream.address, to: refused)
        #expect(reply == SOCKSReply(code: .connectionRefused))
        let (_, unknown) = try await SOCKSTestClient.open(chain.downstream.address, to: SOCKSEndpoint(address: .domain("x.invalid"), port: 1))
        #expect(unknown == SOCKSReply(code: .hostUnreachable))
        await chain.stop()
    }

    @Test func wrongUpstreamPasswordIsAGeneralFailure() async throws {
        let upstream = try ServerHarness { $0.users = try UserDatabase(["relay": "s3cret"]) }
        let downstream = try ServerHarness {
            $0.upstream = UpstreamProxy(host: "127.0.0.1", port: upstream.address.port, credentials: SOCKSCredentials(username: "relay", password: "wrong"))
        }
        let (_, reply) = try await SOCKSTestClient.open(downstream.address, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 9))
        #expect(reply == SOCKSReply(code: .generalFailure))
        #expect(!downstream.log.all.contains { $0.contains("wrong") }, "the upstream password stays out of the log")
        await downstream.stop()
        await upstream.stop()
    }

    @Test(arguments: [UpstreamProxy.UDPTransport.udpOverTCP(.v2), .udpOverTCP(.v1), .associate])
    func udpGoesThroughTheUpstream(transport: UpstreamProxy.UDPTransport) async throws {
        let chain = try Chain(udp: transport)
        let echo = try LoopbackPeers.startUDPEcho(on: SocketAddress(ip: .ipv6Any, port: 0), dualStack: true)
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(chain.downstream.address)
        let destinations = [
            SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: echo.address.port),
            SOCKSEndpoint(address: .ipv6(IPAddress.ipv6Loopback.bytes), port: echo.address.port),
            SOCKSEndpoint(address: .domain("localhost"), port: echo.address.port),
        ]
        for (index, destination) in destinations.enumerated() {
            for size in [0, 1400, 8000] {
                let payload = [UInt8](repeating: UInt8(index), count: size)
                try await client.send(payload, to: destination)
                let (header, echoed) = try #require(try await client.receive(), "\(transport) to \(destination), \(size) bytes")
                #expect(echoed == payload)
                #expect(header.endpoint.port == echo.address.port)
            }
        }
        client.close()
        let upstreamCommand = transport == .associate ? "command=udp-associate" : "outcome=\(transport == .udpOverTCP(.v1) ? "uot-v1" : "uot-v2")"
        #expect(await ServerHarness.eventually { chain.upstream.log.all.contains { $0.contains("user=relay") && $0.contains(upstreamCommand) } })
        await chain.stop()
    }

    @Test func uotClientsOfTheDownstreamAlsoTravelThroughTheUpstream() async throws {
        let chain = try Chain(udp: .udpOverTCP(.v2))
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let stream = try await SOCKSClient(host: "127.0.0.1", port: chain.downstream.address.port).udpOverTCP(version: .v1)
        let frames = stream.frames().makeAsyncIterator()
        try await stream.send([5, 5], to: SOCKSEndpoint(echo.address))
        let frame = try await withDeadline(.seconds(3)) { [frames] in
            var frames = frames
            return try await frames.next()
        }
        #expect(frame?.payload == [5, 5])
        #expect(frame?.endpoint == SOCKSEndpoint(echo.address))
        stream.close()
        await chain.stop()
    }

    @Test func aUoTStreamTheUpstreamClosesIsReplacedForTheNextDatagram() async throws {
        let raw = try RawUoTServer()
        defer { raw.close() }
        let downstream = try ServerHarness {
            $0.upstream = UpstreamProxy(host: "127.0.0.1", port: raw.address.port, udpTransport: .udpOverTCP(.v2))
            $0.connectTimeout = .seconds(30)  // the raw server is a test task that a busy suite may hold up
        }
        async let firstStream = raw.acceptStream()
        let client = try await UDPTestClient.associate(downstream.address)
        let (first, _) = try await firstStream

        // The header names the first datagram's destination (not 0.0.0.0:0), byte for byte.
        let one = SOCKSEndpoint(address: .domain("one.example"), port: 53)
        try await client.send([1], to: one)
        let expected = UoTRequestHeader(isConnect: false, destination: one).encoded() + (try UoTFrame(endpoint: one, payload: [1]).encoded(framing: .addressed))
        #expect(try await RawUoTServer.read(exactly: expected.count, from: first) == expected)
        #expect(expected.prefix(3) == [0x00, 0x03, 0x0b])
        // A reply, half of another frame, then the upstream closes the stream (as sing-box does when a name
        // in it does not resolve).
        try await first.write(try UoTFrame(endpoint: one, payload: [0x11]).encoded(framing: .addressed) + [0x00, 127, 0])
        first.close()
        let reply = try #require(try await client.receive())
        #expect(reply.payload == [0x11] && reply.header.endpoint == one)

        // The next datagram opens a new stream. One sent before the downstream has seen the end of the first
        // stream is lost with it, as UDP may be: the client sends again, as UDP clients do.
        let opened = Mutex<TCPConnection?>(nil)
        let acceptSecond = Task { let (connection, _) = try await raw.acceptStream(); opened.withLock { $0 = connection } }
        defer { acceptSecond.cancel() }
        let two = SOCKSEndpoint(address: .ipv4([192, 0, 2, 2]), port: 7)
        var second: TCPConnection?
        for _ in 0..<20 where second == nil {
            try await client.send([2], to: two)
            _ = await ServerHarness.eventually(.milliseconds(500)) { opened.withLock { $0 } != nil }
            second = opened.withLock { $0 }
        }
        let stream = try #require(second, "no second stream; log: \(downstream.log.all)")
        defer { stream.close() }
        #expect(try await RawUoTServer.readHeader(from: stream) == UoTRequestHeader(isConnect: false, destination: two))
        #expect(try await RawUoTServer.readFrame(from: stream) == UoTFrame(endpoint: two, payload: [2]))
        try await stream.write(try UoTFrame(endpoint: two, payload: [0x22]).encoded(framing: .addressed))
        let secondReply = try #require(try await client.receive(), "the new stream's reply reaches the client")
        #expect(secondReply.payload == [0x22] && secondReply.header.endpoint == two)

        // The association is still up and carries on over the new stream.
        #expect(try await client.control.closesWithin(.milliseconds(100)) == false)
        try await client.send([3], to: two)
        while try await RawUoTServer.readFrame(from: stream).payload != [3] {}  // repeats of [2], if any
        try await stream.write(try UoTFrame(endpoint: two, payload: [0x33]).encoded(framing: .addressed))
        #expect(try await client.receive()?.payload == [0x33])
        client.close()
        await downstream.stop()
    }

    /// Issue 18, item 11: an upstream that accepts every UoT stream and closes it at once used to be dialled
    /// again for nearly every datagram, inline on the relay path. Now a stream that ends within the back-off
    /// (1 s) of its opening is treated like a failed open: a burst of 300 datagrams opens at most one stream
    /// per second (and one to start with), each stream's end counts as a drop (`stream-ended`), and the
    /// datagrams that find no stream are dropped and counted (`undeliverable`). After the back-off the next
    /// datagram dials again.
    @Test func anUpstreamThatClosesEveryUoTStreamAtOnceIsDialledOncePerBackOff() async throws {
        let raw = try RawUoTServer()
        defer { raw.close() }
        let accepted = Atomic<Int>(0)
        let acceptor = Task {
            var failures = 0
            while !Task.isCancelled && failures < 100 {
                do {
                    let (connection, _) = try await raw.acceptStream()
                    accepted.add(1, ordering: .relaxed)
                    connection.close()
                } catch {
                    failures += 1  // a handshake the downstream gave up on, or the end of the test
                }
            }
        }
        defer { acceptor.cancel() }
        let downstream = try ServerHarness {
            $0.upstream = UpstreamProxy(host: "127.0.0.1", port: raw.address.port, udpTransport: .udpOverTCP(.v2))
            $0.connectTimeout = .seconds(30)  // the raw server is a test task that a busy suite may hold up
        }
        let client = try await UDPTestClient.associate(downstream.address)
        defer { client.close() }
        let start = ContinuousClock.now
        let burst = 300
        let destination = SOCKSEndpoint(address: .ipv4([192, 0, 2, 7]), port: 7)
        for index in 0..<burst {
            try await client.send([UInt8(truncatingIfNeeded: index)], to: destination)
        }
        // Every datagram is handled: written into a stream (which the upstream then loses) or dropped.
        let metrics = downstream.server.metrics
        let handled = { metrics.datagramsFromClients + metrics.droppedDatagrams(.undeliverable) }
        #expect(await ServerHarness.eventually(.seconds(60)) { handled() == burst }, "\(handled()) of \(burst) handled; log: \(downstream.log.all.suffix(20))")
        let streams = accepted.load(ordering: .relaxed)
        let elapsed = ContinuousClock.now - start
        let allowed = 2 + Int(elapsed / UoTDatagramEgress.reopenBackOff)
        #expect(streams <= allowed, "\(streams) upstream streams for \(burst) datagrams in \(elapsed), at most \(allowed) allowed")
        #expect(metrics.droppedDatagrams(.undeliverable) >= burst / 2, "\(metrics.droppedDatagrams(.undeliverable)) dropped")
        #expect(await ServerHarness.eventually { metrics.droppedDatagrams(.streamEnded) >= 1 })
        #expect(metrics.droppedDatagrams(.streamEnded) <= accepted.load(ordering: .relaxed))
        #expect(downstream.log.all.contains { $0.contains("the upstream closed the last stream at once") })

        // The back-off ends: a later datagram dials the upstream again.
        let before = accepted.load(ordering: .relaxed)
        var redialled = false
        for _ in 0..<40 where !redialled {
            try await client.send([0xEE], to: destination)
            redialled = await ServerHarness.eventually(.milliseconds(500)) { accepted.load(ordering: .relaxed) > before }
        }
        #expect(redialled, "no new stream after the back-off; log: \(downstream.log.all.suffix(20))")
        client.close()
        await downstream.stop()
    }

    @Test func bindGoesThroughTheUpstream() async throws {
        let chain = try Chain()
        let (client, first) = try await SOCKSTestClient.open(chain.downstream.address, command: .bind, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 0))
        #expect(first.code == .succeeded)
        let listening = try #require(first.bound.socketAddress)
        let peer = try await TCPConnection.connect(to: listening)
        let second = try await client.receive(SOCKSReply.parse)
        #expect(second == SOCKSReply(code: .succeeded, bound: SOCKSEndpoint(peer.localAddress)))
        try await peer.write([1, 2])
        #expect(try await client.receive(exactly: 2) == [1, 2])
        try await client.send([3])
        var buffer = [UInt8](repeating: 0, count: 1)
        #expect(try await peer.read(into: &buffer) == 1 && buffer == [3])
        peer.close()
        client.close()
        #expect(await ServerHarness.eventually { chain.upstream.log.all.contains { $0.contains("user=relay command=bind") } })
        await chain.stop()
    }

    @Test func upstreamURLParsing() throws {
        let plain = try UpstreamProxy(url: "socks5://10.0.0.1:1080")
        #expect(plain.host == "10.0.0.1" && plain.port == 1080 && plain.credentials == nil)
        let withUser = try UpstreamProxy(url: "socks5://al%40ice:p%3Ass@proxy.example:9050", udpTransport: .associate)
        #expect(withUser.credentials == SOCKSCredentials(username: "al@ice", password: "p:ss"))
        #expect(withUser.host == "proxy.example" && withUser.udpTransport == .associate)
        #expect(withUser.redactedURL == "socks5://al@ice@proxy.example:9050")
        let ipv6 = try UpstreamProxy(url: "socks5h://[::1]:1081/")
        #expect(ipv6.host == "::1" && ipv6.port == 1081)
        for bad in ["http://h:1", "socks5://h", "socks5://h:0", "socks5://:1080", "socks5://user@h:1", "socks5://[::1:1080"] {
            #expect(throws: UpstreamProxy.InvalidURL.self, "\(bad)") { try UpstreamProxy(url: bad) }
        }
        do {
            _ = try UpstreamProxy(url: "socks5://u:topsecret@h")
        } catch {
            #expect(!error.description.contains("topsecret"))
        }
        #expect(UpstreamProxy.UDPTransport(name: "uot1") == .udpOverTCP(.v1))
        #expect(UpstreamProxy.UDPTransport(name: "udp") == nil)
    }
}
