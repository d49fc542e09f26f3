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
