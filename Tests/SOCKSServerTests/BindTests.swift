import AsyncSockets
import Synchronization
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

@Suite struct BindTests {
    @Test func twoRepliesThenDataBothWaysWithHalfClose() async throws {
        let harness = try ServerHarness()
        let (client, first) = try await SOCKSTestClient.open(harness.address, command: .bind, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 0))
        #expect(first.code == .succeeded)
        let listening = try #require(first.bound.socketAddress)
        #expect(listening.ip == .ipv4Loopback && listening.port != 0)

        let peer = try await TCPConnection.connect(to: listening)
        let second = try await client.receive(SOCKSReply.parse)
        #expect(second == SOCKSReply(code: .succeeded, bound: SOCKSEndpoint(peer.localAddress)))

        try await peer.write(Array("from peer".utf8))
        #expect(try await client.receive(exactly: 9) == Array("from peer".utf8))
        try await client.send(Array("from client".utf8))
        client.connection.shutdownWrite()
        var received: [UInt8] = []
        for try await chunk in peer.chunks() { received += chunk }
        #expect(received == Array("from client".utf8), "the client's half-close reaches the peer as EOF")
        try await peer.write(Array("after EOF".utf8))
        peer.shutdownWrite()
        #expect(try await client.receiveUntilEOF() == Array("after EOF".utf8))
        peer.close()
        client.close()
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("command=bind") && $0.contains("up=11 down=18") } })
        await harness.stop()
    }

    @Test func peerFromAnotherAddressIsRefusedAndTheWaitGoesOn() async throws {
        let harness = try ServerHarness()
        let expected = try #require(IPAddress("127.0.0.2"))
        let (client, first) = try await SOCKSTestClient.open(harness.address, command: .bind, to: SOCKSEndpoint(address: .ipv4(expected.bytes), port: 0))
        let listening = try #require(first.bound.socketAddress)

        let wrong = try await TCPConnection.connect(to: listening)  // from 127.0.0.1
        let refused = try await withDeadline(.seconds(3)) { [wrong] in
            var buffer = [UInt8](repeating: 0, count: 16)
            do { return try await wrong.read(into: &buffer) == 0 } catch { return true }
        }
        #expect(refused, "the wrong peer is closed")
        wrong.close()

        let right = try await TCPConnection.connect(to: listening, from: SocketAddress(ip: expected, port: 0))
        let second = try await client.receive(SOCKSReply.parse)
        #expect(second.code == .succeeded)
        #expect(second.bound == SOCKSEndpoint(right.localAddress))
        try await right.write([1, 2, 3])
        #expect(try await client.receive(exactly: 3) == [1, 2, 3])
        right.close()
        client.close()
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("BIND refused a peer from 127.0.0.1") } })
        await harness.stop()
    }

    @Test func noPeerWithinTheDeadlineGetsAFailureReply() async throws {
        // Long enough for the test to find the listener open first (it waits the deadline out on purpose).
        let harness = try ServerHarness { $0.bindTimeout = .seconds(3) }
        let (client, first) = try await SOCKSTestClient.open(harness.address, command: .bind, to: .unspecified)
        #expect(first.code == .succeeded)
        let bound = try #require(first.bound.socketAddress)
        let listener = SocketCensus.listenerInodes(on: bound)
        #expect(listener.count == 1, "the BIND listener is open while the client waits")
        #expect(try await client.receive(SOCKSReply.parse) == SOCKSReply(code: .ttlExpired))
        #expect(try await client.closesWithin(.seconds(2)))
        // The listener is gone with the failure (its socket, whatever else has its port by now).
        #expect(await ServerHarness.eventually { SocketCensus.listenerInodes(on: bound).isDisjoint(with: listener) })
        await harness.stop()
    }

    @Test func clientHangingUpEndsTheWait() async throws {
        let harness = try ServerHarness()
        let (client, first) = try await SOCKSTestClient.open(harness.address, command: .bind, to: .unspecified)
        #expect(first.code == .succeeded)
        client.close()
        #expect(await ServerHarness.eventually { harness.server.metrics.activeSessions == 0 })
        #expect(harness.log.all.contains { $0.contains("command=bind") && $0.contains("outcome=client-closed") })
        await harness.stop()
    }

    /// The expected peer's name is looked up within the connect deadline, like any other name.
    @Test func anExpectedPeerWhoseNameNeverResolvesGetsReply06() async throws {
        let harness = try ServerHarness {
            $0.connectTimeout = .milliseconds(300)
            $0.resolver = ConnectDeadlineTests.SilentResolver()
        }
        let (client, reply) = try await SOCKSTestClient.open(harness.address, command: .bind, to: SOCKSEndpoint(address: .domain("peer.example"), port: 0))
        #expect(reply.code == .ttlExpired)
        #expect(try await client.closesWithin(.seconds(20)))
        await harness.stop()
    }

    /// What a client sends while its BIND waits is kept for the peer only up to a bound: then the server
    /// stops reading, the client's writes back up, and nothing is lost once the peer arrives.
    @Test func bytesSentDuringTheWaitAreBoundedAndReachThePeer() async throws {
        let harness = try ServerHarness()
        let (client, first) = try await SOCKSTestClient.open(harness.address, command: .bind, to: .unspecified)
        let listening = try #require(first.bound.socketAddress)
        var pattern = PatternStream(seed: 33)
        // Far more than the kernel's socket buffers on both sides can hold.
        let payload = pattern.next(48 * 1024 * 1024)
        let sent = Flag()
        let sending = Task {
            try await client.send(payload)
            sent.raise()
        }
        // Without a bound the server would swallow all of it in well under a second; give it three.
        let clock = ContinuousClock()
        let until = clock.now + .seconds(3)
        while clock.now < until {
            try await Task.sleep(for: .milliseconds(50))
            #expect(!sent.isRaised, "the server read everything the client sent while no peer was there")
        }
        let peer = try await TCPConnection.connect(to: listening)
        let second = try await client.receive(SOCKSReply.parse)
        #expect(second.code == .succeeded)
        var received: [UInt8] = []
        received.reserveCapacity(payload.count)
        var chunks = peer.chunks().makeAsyncIterator()
        while received.count < payload.count, let chunk = try await chunks.next() { received += chunk }
        try await sending.value
        #expect(received.count == payload.count)
        #expect(received == payload)
        peer.close()
        client.close()
        await harness.stop()
    }
}

/// A flag one task raises and another reads.
final class Flag: Sendable {
    private let raised = Atomic<Bool>(false)
    func raise() { raised.store(true, ordering: .releasing) }
    var isRaised: Bool { raised.load(ordering: .acquiring) }
}
