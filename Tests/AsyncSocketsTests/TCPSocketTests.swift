import Glibc
import Testing
import TestSupport
@testable import AsyncSockets

@Suite struct TCPSocketTests {
    @Test(arguments: ["127.0.0.1", "::1"])
    func echoRoundTrip(host: String) async throws {
        let echo = try LoopbackPeers.startEcho(on: try SocketAddress(host, port: 0))
        defer { echo.stop() }
        let connection = try await TCPConnection.connect(to: echo.address)
        defer { connection.close() }
        #expect(connection.remoteAddress == echo.address)
        try await connection.write(Array("hello".utf8))
        var buffer = [UInt8](repeating: 0, count: 16)
        var received: [UInt8] = []
        while received.count < 5 {
            let count = try await connection.read(into: &buffer)
            try #require(count > 0)
            received += buffer[0..<count]
        }
        #expect(received == Array("hello".utf8))
    }

    /// Both legs of a relay send small writes at once: an accepted socket gets `TCP_NODELAY` from its
    /// listener (no setsockopt per connection), a connected one sets it itself, also when the connect
    /// finished inside `connect()` (loopback).
    @Test(arguments: ["127.0.0.1", "::1"])
    func acceptedAndConnectedSocketsHaveNoDelay(host: String) async throws {
        let listener = try TCPListener(bindingTo: try SocketAddress(host, port: 0))
        defer { listener.close() }
        async let accepted = listener.accept()
        let connected = try await TCPConnection.connect(to: listener.localAddress, timeout: .seconds(10))
        defer { connected.close() }
        let server = try await accepted
        defer { server.close() }
        for connection in [connected, server] {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            #expect(getsockopt(connection.descriptor.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &value, &length) == 0)
            #expect(value != 0)
        }
        #expect(server.remoteAddress == connected.localAddress)
    }

    /// A socket registered before `connect()` carries the unconnected socket's EPOLLOUT|EPOLLHUP edge; a
    /// pending connect must not take it for completion.
    @Test func aStaleWriteEdgeDoesNotFinishAPendingConnect() async throws {
        // A listener that never accepts, its queue filled: a further SYN is dropped and the connect pends.
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0), backlog: 0)
        defer { listener.close() }
        var fillers: [TCPConnection] = []
        for _ in 0..<4 {
            if let filler = try? await TCPConnection.connect(to: listener.localAddress, timeout: .milliseconds(200)) { fillers.append(filler) }
        }
        defer { fillers.forEach { $0.close() } }
        let descriptor = try SocketDescriptor(family: AF_INET, type: Int32(SOCK_STREAM.rawValue))
        let clock = ContinuousClock()
        let waitLimit = clock.now + .seconds(10)
        while !descriptor.registration.recordedReadiness.write && clock.now < waitLimit {
            try await Task.sleep(for: .milliseconds(5))
        }
        try #require(descriptor.registration.recordedReadiness.write, "the loop never reported the unconnected socket writable")
        await #expect(throws: SocketError.timedOut) {
            _ = try await TCPConnection.connect(using: descriptor, to: listener.localAddress, from: nil, timeout: .milliseconds(300))
        }
    }

    @Test func chunksEndAtEOFAfterHalfClose() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let connection = try await TCPConnection.connect(to: echo.address)
        defer { connection.close() }
        var pattern = PatternStream(seed: 7)
        let payload = pattern.next(1_000_000)
        async let sent: Void = {
            try await connection.write(payload)
            connection.shutdownWrite()
        }()
        var received: [UInt8] = []
        for try await chunk in connection.chunks() { received += chunk }
        try await sent
        #expect(received == payload)
    }

    @Test func connectToClosedPortIsRefused() async throws {
        let refusing = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(refusing) {} }  // the reservation must outlive every connect below
        let port = refusing.port
        await #expect(throws: SocketError.failed(operation: "connect 127.0.0.1:\(port)", errno: .connectionRefused)) {
            try await TCPConnection.connect(to: SocketAddress(ip: .ipv4Loopback, port: port))
        }
    }

    @Test func closeWakesAPendingRead() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let connection = try await TCPConnection.connect(to: echo.address)
        let reader = Task {
            var buffer = [UInt8](repeating: 0, count: 16)
            return try await connection.read(into: &buffer)
        }
        try await Task.sleep(for: .milliseconds(50))
        connection.close()
        await #expect(throws: SocketError.closed) { try await reader.value }
    }

    @Test func cancellationWakesAPendingRead() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let connection = try await TCPConnection.connect(to: echo.address)
        defer { connection.close() }
        let reader = Task {
            var buffer = [UInt8](repeating: 0, count: 16)
            return try await connection.read(into: &buffer)
        }
        try await Task.sleep(for: .milliseconds(50))
        reader.cancel()
        await #expect(throws: CancellationError.self) { try await reader.value }
    }

    @Test func closingAListenerEndsItsConnectionSequence() async throws {
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        let accepting = Task {
            var count = 0
            for try await connection in listener.connections() { count += 1; connection.close() }
            return count
        }
        let client = try await TCPConnection.connect(to: listener.localAddress)
        client.close()
        try await Task.sleep(for: .milliseconds(50))
        listener.close()
        #expect(try await accepting.value == 1)
    }

    @Test func bindingAPortInUseFails() throws {
        let first = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { first.close() }
        #expect(throws: SocketError.failed(operation: "bind \(first.localAddress)", errno: .addressInUse)) {
            try TCPListener(bindingTo: first.localAddress)
        }
    }

    @Test func deadlineCancelsASlowOperation() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: SocketError.timedOut) {
            try await withDeadline(.milliseconds(100)) { try await Task.sleep(for: .seconds(30)) }
        }
        // Far less than the 30 s the operation would take, with room for a loaded machine.
        #expect(clock.now - start < .seconds(25))
        #expect(try await withDeadline(.seconds(5)) { 42 } == 42)
    }

    @Test func happyEyeballsSkipsARefusedAddress() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let refusing = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(refusing) {} }  // the reservation must outlive every connect below
        let refused = SocketAddress(ip: .ipv6Loopback, port: refusing.port)
        let connection = try await HappyEyeballs.connect(to: [echo.address, refused], attemptDelay: .seconds(5))
        defer { connection.close() }
        #expect(connection.remoteAddress == echo.address)
    }

    @Test func happyEyeballsReportsRefusedWhenAllFail() async throws {
        let refusing = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(refusing) {} }  // the reservation must outlive every connect below
        let port = refusing.port
        let addresses = [SocketAddress(ip: .ipv4Loopback, port: port), SocketAddress(ip: .ipv6Loopback, port: port)]
        await #expect {
            try await HappyEyeballs.connect(to: addresses)
        } throws: { error in
            (error as? SocketError)?.errno == .connectionRefused
        }
    }
}
