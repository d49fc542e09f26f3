import Glibc
import Testing
import TestSupport
@testable import AsyncSockets

@Suite struct UDPAndResolverTests {
    @Test(arguments: ["127.0.0.1", "::1"])
    func datagramsRoundTrip(host: String) async throws {
        let a = try UDPSocket(bindingTo: try SocketAddress(host, port: 0))
        let b = try UDPSocket(bindingTo: try SocketAddress(host, port: 0))
        defer { a.close(); b.close() }
        try await a.send(Array("ping".utf8), to: b.localAddress)
        var buffer = [UInt8](repeating: 0, count: 65536)
        let (count, sender) = try await b.receive(into: &buffer)
        #expect(Array(buffer[0..<count]) == Array("ping".utf8))
        #expect(sender == a.localAddress)
        try await b.send([], to: sender)
        #expect(try await a.receive(into: &buffer).count == 0)
    }

    @Test func dualStackSocketReachesIPv4PeersAndReportsThemUnmapped() async throws {
        let dual = try UDPSocket(bindingTo: SocketAddress(ip: .ipv6Any, port: 0), dualStack: true)
        let v4 = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { dual.close(); v4.close() }
        try await dual.send([1, 2, 3], to: v4.localAddress)
        var buffer = [UInt8](repeating: 0, count: 16)
        let (_, sender) = try await v4.receive(into: &buffer)
        try await v4.send([4], to: sender)
        let (count, back) = try await dual.receive(into: &buffer)
        #expect(count == 1)
        #expect(back == v4.localAddress)
    }

    /// Issue 19: a socket's `datagrams` sequence reads a burst with one buffer (every element a slice of
    /// the same storage), gives that buffer back to its pool while it waits on an empty queue, and a
    /// closed socket ends the iteration with an error.
    @Test func datagramSequenceReusesOneBufferAndHoldsNoneWhileWaiting() async throws {
        let sender = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        let receiver = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { sender.close(); receiver.close() }
        let pool = DatagramBufferPool(capacity: 4)
        for index in 0..<3 { try await sender.send([UInt8](repeating: UInt8(index), count: index + 1), to: receiver.localAddress) }
        let reading = Task {
            var datagrams = receiver.datagrams(pool: pool).makeAsyncIterator()
            var payloads: [[UInt8]] = []
            var storage: Set<UInt> = []
            var idleDuringBurst = -1
            for index in 0..<4 {
                guard let datagram = try await datagrams.next() else { break }
                #expect(datagram.sender == sender.localAddress)
                payloads.append(Array(datagram.payload))
                _ = datagram.payload.withUnsafeBufferPointer { storage.insert(UInt(bitPattern: $0.baseAddress)) }
                if index == 2 { idleDuringBurst = pool.idleCount }
            }
            return (payloads, storage.count, idleDuringBurst)
        }
        // The fourth read finds the queue empty: the buffer goes back to the pool before the wait.
        #expect(await eventually(.seconds(20)) { pool.idleCount == 1 }, "the buffer goes back while the queue is empty")
        try await sender.send([7, 7], to: receiver.localAddress)
        let (payloads, buffers, idleDuringBurst) = try await reading.value
        #expect(payloads == [[0], [1, 1], [2, 2, 2], [7, 7]])
        #expect(buffers == 1, "one buffer for every datagram, borrowed again from the pool after the wait")
        #expect(idleDuringBurst == 0, "the buffer is held while datagrams keep coming")
        var datagrams = receiver.datagrams(pool: pool).makeAsyncIterator()
        receiver.close()
        await #expect(throws: SocketError.self) { _ = try await datagrams.next() }
    }

    /// Reads whatever `connections` have unread, without waiting (and without their loop's readiness).
    static func drain(_ connections: TCPConnection...) {
        var buffer = [UInt8](repeating: 0, count: 64)
        for connection in connections {
            while recv(connection.descriptor.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) > 0 {}
        }
    }

    /// Issue 19: one task waits on two sockets with one `ReadinessWait`, made once: a wait says which socket
    /// ended it (or both, when both had an edge), and a socket it does not name keeps its edge for the next
    /// wait (nothing is lost by not reading it).
    @Test func aWaitOnTwoSocketsSaysWhichAndTheOtherKeepsItsEdge() async throws {
        let (first, firstPeer) = try await PipeReadinessTests.pair()
        let (second, secondPeer) = try await PipeReadinessTests.pair()
        defer { first.close(); firstPeer.close(); second.close(); secondPeer.close() }
        let wait = ReadinessWait()
        let registrations = (first.descriptor.registration, second.descriptor.registration)
        // Edges on both while nobody waits: one wait takes both, and names both.
        try await firstPeer.write([1])
        try await secondPeer.write([2])
        #expect(await eventually(.seconds(20)) { registrations.0.recordedReadiness.read && registrations.1.recordedReadiness.read })
        #expect(try await IORegistration.waitForEither(registrations.0, .read, registrations.1, using: wait) == .both)
        #expect(!registrations.0.recordedReadiness.read && !registrations.1.recordedReadiness.read)
        // Each byte is read once its wait has named it, as the relay does. Epoll may report an edge-triggered
        // socket again on any later wake-up of it, with readable set while unread bytes wait; a socket with
        // nothing unread is not reported readable.
        Self.drain(first, second)
        // An edge on the second only: the wait names it, and the first keeps none.
        try await secondPeer.write([3])
        #expect(await eventually(.seconds(20)) { registrations.1.recordedReadiness.read })
        #expect(try await IORegistration.waitForEither(registrations.0, .read, registrations.1, using: wait) == .second)
        Self.drain(second)
        // Nothing left: a wait now lasts until a byte comes, on either.
        let waiting = Task { try await IORegistration.waitForEither(registrations.0, .read, registrations.1, using: wait) }
        try await secondPeer.write([5])
        #expect(try await waiting.value == .second)
        Self.drain(second)
        let again = Task { try await IORegistration.waitForEither(registrations.0, .read, registrations.1, using: wait) }
        try await firstPeer.write([4])
        #expect(try await again.value == .first)
        // A closed socket ends the wait with an error; so does cancellation.
        let cancelled = Task { try await IORegistration.waitForEither(registrations.0, .read, registrations.1, using: wait) }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        second.close()
        await #expect(throws: SocketError.self) { _ = try await IORegistration.waitForEither(registrations.0, .read, registrations.1, using: wait) }
    }

    /// Issue 19: the datagrams of an association and the end of its control connection, read by one task:
    /// bytes on the control connection between datagrams are read (and dropped) without losing a datagram,
    /// and its end ends the sequence.
    @Test func datagramsUntilTheControlConnectionEnds() async throws {
        let sender = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        let receiver = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        let (control, controlPeer) = try await PipeReadinessTests.pair()
        defer { sender.close(); receiver.close(); control.close(); controlPeer.close() }
        var datagrams = receiver.datagrams().makeAsyncIterator()
        try await sender.send([1], to: receiver.localAddress)
        #expect(try await datagrams.next(untilEndOf: control).map { Array($0.payload) } == [1])
        try await controlPeer.write([9, 9, 9])
        try await sender.send([2], to: receiver.localAddress)
        #expect(try await datagrams.next(untilEndOf: control).map { Array($0.payload) } == [2])
        let reading = Task { [datagrams] in
            var datagrams = datagrams
            var payloads: [[UInt8]] = []
            while let datagram = try await datagrams.next(untilEndOf: control) { payloads.append(Array(datagram.payload)) }
            return payloads
        }
        try await sender.send([3], to: receiver.localAddress)
        try await controlPeer.write([9])
        try await sender.send([4], to: receiver.localAddress)
        controlPeer.close()
        #expect(try await reading.value == [[3], [4]])
    }

    /// Issue 19: a header and a payload sent gathered arrive as one datagram, header first.
    @Test func gatheredSendIsOneDatagram() async throws {
        let a = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        let b = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { a.close(); b.close() }
        let payload: [UInt8] = [9, 8, 7, 6]
        try await a.send(header: [1, 2][...], payload: payload[1...], to: b.localAddress)
        var datagrams = b.datagrams().makeAsyncIterator()
        let datagram = try #require(try await datagrams.next())
        #expect(Array(datagram.payload) == [1, 2, 8, 7, 6])
    }

    @Test func localhostResolves() async throws {
        let addresses = try await NameResolver.shared.resolve(host: "localhost", port: 80)
        #expect(addresses.contains(SocketAddress(ip: .ipv4Loopback, port: 80)))
    }

    @Test func literalAddressesSkipTheLookup() async throws {
        #expect(try await NameResolver.shared.resolve(host: "::1", port: 5) == [try SocketAddress("::1", port: 5)])
    }

    @Test(arguments: ["nonexistent.invalid", "INVALID", "a.b.invalid."])
    func invalidNamesFailAtOnce(name: String) async throws {
        await #expect(throws: SocketError.nameNotFound(name)) {
            try await NameResolver.shared.resolve(host: name, port: 80)
        }
    }
}
