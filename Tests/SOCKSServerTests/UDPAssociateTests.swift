import AsyncSockets
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport
@testable import SOCKSServer

@Suite struct UDPAssociateTests {
    @Test func replyAdvertisesThePlainLocalAddress() async throws {
        let harness = try ServerHarness()
        let client = try await UDPTestClient.associate(harness.address)
        #expect(client.relay.ip == .ipv4Loopback)
        #expect(client.relay.port != 0)
        client.close()
        await harness.stop()
    }

    @Test func ipv4DestinationRoundTripIsByteExact() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        try await client.send(Array("hello".utf8), to: SOCKSEndpoint(echo.address))
        let raw = try #require(try await client.receiveRaw())
        let port = echo.address.port
        #expect(raw == [0, 0, 0, 0x01, 127, 0, 0, 1, UInt8(port >> 8), UInt8(port & 0xFF)] + Array("hello".utf8))
        client.close()
        await harness.stop()
    }

    @Test func ipv6DestinationRoundTripIsByteExact() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho(on: SocketAddress(ip: .ipv6Loopback, port: 0))
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        try await client.send([0xCA, 0xFE], to: SOCKSEndpoint(echo.address))
        let raw = try #require(try await client.receiveRaw())
        let port = echo.address.port
        #expect(raw == [0, 0, 0, 0x04] + IPAddress.ipv6Loopback.bytes + [UInt8(port >> 8), UInt8(port & 0xFF), 0xCA, 0xFE])
        client.close()
        await harness.stop()
    }

    @Test func domainDestinationIsResolved() async throws {
        let harness = try ServerHarness()
        // Dual-stack, so whichever address `localhost` resolves to first reaches it.
        let echo = try LoopbackPeers.startUDPEcho(on: SocketAddress(ip: .ipv6Any, port: 0), dualStack: true)
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        for round in 0..<3 {
            try await client.send([UInt8(round)], to: SOCKSEndpoint(address: .domain("localhost"), port: echo.address.port))
            let (header, payload) = try #require(try await client.receive())
            #expect(payload == [UInt8(round)])
            // The reply names its real source: a loopback address, never the name.
            #expect([SOCKSAddress.ipv4([127, 0, 0, 1]), .ipv6(IPAddress.ipv6Loopback.bytes)].contains(header.endpoint.address))
            #expect(header.endpoint.port == echo.address.port)
        }
        client.close()
        await harness.stop()
    }

    @Test(arguments: [0, 1, 1400, 8192, 60000])
    func payloadSizes(size: Int) async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        var pattern = PatternStream(seed: UInt64(size) + 1)
        let payload = pattern.next(size)
        try await client.send(payload, to: SOCKSEndpoint(echo.address))
        let (_, echoed) = try #require(try await client.receive())
        #expect(echoed == payload)
        client.close()
        await harness.stop()
    }

    @Test func largestIPv4PayloadWorksBothWays() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        // 65507 is IPv4's largest UDP payload; the 10-byte SOCKS header comes out of it on the client's leg.
        let payload = [UInt8](repeating: 0x5A, count: 65507 - 10)
        try await client.send(payload, to: SOCKSEndpoint(echo.address))
        #expect(try #require(try await client.receive()).payload == payload)
        client.close()
        await harness.stop()
    }

    @Test func thousandSequentialDatagramsAreEchoed() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        var echoed = 0
        for index in 0..<1000 {
            let payload = Array("datagram \(index)".utf8)
            try await client.send(payload, to: SOCKSEndpoint(echo.address))
            if try await client.receive()?.payload == payload { echoed += 1 }
        }
        #expect(echoed == 1000)
        client.close()
        await harness.stop()
    }

    @Test func fragmentedDatagramsAreDropped() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        try await client.send(Array("fragment".utf8), to: SOCKSEndpoint(echo.address), fragment: 1)
        try await client.send(Array("fragment".utf8), to: SOCKSEndpoint(echo.address), fragment: 0x81)
        try await client.send(Array("whole".utf8), to: SOCKSEndpoint(echo.address))
        #expect(try await client.receive()?.payload == Array("whole".utf8))
        #expect(try await client.receive(within: .milliseconds(200)) == nil)
        #expect(echo.senders.all.count == 1)
        client.close()
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("dropped=2 ") } })
        await harness.stop()
    }

    @Test func datagramsFromAnotherIPAreDropped() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        let stranger = try UDPSocket(bindingTo: SocketAddress("127.0.0.2", port: 0))
        defer { stranger.close() }
        try await stranger.send(SOCKSUDPHeader(endpoint: SOCKSEndpoint(echo.address)).encoded() + Array("stranger".utf8), to: client.relay)
        try await Task.sleep(for: .milliseconds(100))
        try await client.send(Array("friend".utf8), to: SOCKSEndpoint(echo.address))
        #expect(try await client.receive()?.payload == Array("friend".utf8))
        #expect(echo.senders.all.count == 1, "the stranger's datagram must not reach the destination")
        client.close()
        await harness.stop()
    }

    @Test func announcedPortIsEnforcedAndUnannouncedPortIsLatched() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        for announce in [true, false] {
            let client = try await UDPTestClient.associate(harness.address, announcePort: announce)
            if !announce {
                try await client.send([1], to: SOCKSEndpoint(echo.address))  // latches this socket's port
                #expect(try await client.receive()?.payload == [1])
            }
            let otherPort = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
            try await otherPort.send(SOCKSUDPHeader(endpoint: SOCKSEndpoint(echo.address)).encoded() + [2], to: client.relay)
            try await client.send([3], to: SOCKSEndpoint(echo.address))
            #expect(try await client.receive()?.payload == [3])
            otherPort.close()
            client.close()
        }
        #expect(!echo.senders.all.isEmpty)
        #expect(await ServerHarness.eventually { harness.log.all.filter { $0.contains("dropped=1 ") }.count == 2 })
        await harness.stop()
    }

    @Test func malformedAndUnresolvableDatagramsDoNotEndTheAssociation() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        for junk: [UInt8] in [[], [0], [0, 0, 0, 0x01, 127], [0, 0, 0, 0x09, 1, 2, 3, 4, 0, 1], [1, 0, 0, 0x01, 127, 0, 0, 1, 0, 1]] {
            try await client.socket.send(junk, to: client.relay)
        }
        try await client.send([7], to: SOCKSEndpoint(address: .domain("nowhere.invalid"), port: 9))
        try await client.send([8], to: SOCKSEndpoint(echo.address))
        #expect(try await client.receive()?.payload == [8])
        client.close()
        await harness.stop()
    }

    @Test func closingTheControlConnectionEndsTheAssociation() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        try await client.send([1], to: SOCKSEndpoint(echo.address))
        #expect(try await client.receive()?.payload == [1])
        client.control.close()
        // The relay socket is closed within a second: its port can be bound again.
        let freed = await ServerHarness.eventually(.seconds(1)) {
            (try? UDPSocket(bindingTo: client.relay))?.close() != nil
        }
        #expect(freed)
        try await client.send([2], to: SOCKSEndpoint(echo.address))
        #expect(try await client.receive(within: .milliseconds(200)) == nil)
        #expect(await ServerHarness.eventually { harness.server.metrics.activeSessions == 0 })
        #expect(harness.log.all.contains { $0.contains("command=udp-associate") && $0.contains("outcome=control-closed") })
        client.socket.close()
        await harness.stop()
    }

    @Test func idleAssociationTimesOutAndClosesItsControlConnection() async throws {
        let harness = try ServerHarness { $0.udpTimeout = .milliseconds(300) }
        let client = try await UDPTestClient.associate(harness.address)
        let window = TimeoutWindow(.milliseconds(300))
        #expect(try await client.control.closesWithin(window.remaining), "the idle association was not closed \(window)")
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("outcome=udp-timeout") } })
        client.close()
        await harness.stop()
    }

    @Test(arguments: [false, true])
    func repliesFromUnknownRemotesFollowTheConeSetting(fullCone: Bool) async throws {
        let harness = try ServerHarness { $0.udpFullCone = fullCone }
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        try await client.send([1], to: SOCKSEndpoint(echo.address))
        #expect(try await client.receive()?.payload == [1])
        // A third party that learned the relay's outbound address writes to it.
        let relayOutbound = try #require(echo.senders.all.first)
        let third = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { third.close() }
        try await third.send([0xEE], to: SocketAddress(ip: .ipv4Loopback, port: relayOutbound.port))
        // A datagram that should come gets a generous wait; one that should not, a short look.
        let received = try await client.receive(within: fullCone ? .seconds(15) : .milliseconds(300))
        if fullCone {
            #expect(received?.payload == [0xEE])
            #expect(received?.header.endpoint == SOCKSEndpoint(third.localAddress))
        } else {
            #expect(received == nil)
        }
        client.close()
        await harness.stop()
    }

    @Test func advertisedAddressReplacesTheLocalOne() async throws {
        let harness = try ServerHarness { $0.udpAdvertiseAddress = IPAddress("192.0.2.10") }
        let client = try await UDPTestClient.associate(harness.address)
        #expect(client.relay.ip == IPAddress("192.0.2.10"))
        client.close()
        await harness.stop()
    }

    /// A resolver whose `stall.test` never answers until cancelled; other names resolve to loopback.
    final class StallingResolver: HostResolver {
        let inFlight = Atomic<Int>(0)
        let started = Atomic<Int>(0)

        func resolve(host: String, port: UInt16) async throws -> [SocketAddress] {
            guard host == "stall.test" else { return [SocketAddress(ip: .ipv4Loopback, port: port)] }
            started.add(1, ordering: .relaxed)
            inFlight.add(1, ordering: .relaxed)
            defer { inFlight.subtract(1, ordering: .relaxed) }
            try await Task.sleep(for: .seconds(3600))
            throw SocketError.nameNotFound(host)
        }
    }

    @Test func aNameThatNeverResolvesTimesOutAndDropsOnlyItsDatagram() async throws {
        let resolver = StallingResolver()
        let harness = try ServerHarness {
            $0.connectTimeout = .milliseconds(300)
            $0.resolver = resolver
        }
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await UDPTestClient.associate(harness.address)
        try await client.send([1], to: SOCKSEndpoint(address: .domain("stall.test"), port: 9))
        #expect(await ServerHarness.eventually { resolver.started.load(ordering: .relaxed) == 1 })
        #expect(await ServerHarness.eventually { resolver.inFlight.load(ordering: .relaxed) == 0 }, "the lookup is given up after the timeout")
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("dropped datagram: to stall.test:9: timed out") } }, "log: \(harness.log.all)")
        try await client.send([2], to: SOCKSEndpoint(address: .domain("echo.test"), port: echo.address.port))
        #expect(try await client.receive()?.payload == [2], "the association carries on")
        client.close()
        await harness.stop()
    }
}
