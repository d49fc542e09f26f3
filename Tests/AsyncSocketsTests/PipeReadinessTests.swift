import Testing
import TestSupport
@testable import AsyncSockets

/// The readiness sequence that drives a relay direction: it waits for what the pipe says holds it up.
@Suite struct PipeReadinessTests {
    /// A connected loopback pair: (the end under test, the peer).
    static func pair() async throws -> (TCPConnection, TCPConnection) {
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { listener.close() }
        async let accepted = listener.accept()
        let near = try await TCPConnection.connect(to: listener.localAddress)
        return (near, try await accepted)
    }

    @Test func theFirstElementComesAtOnceAndAReadableWaitEndsWhenBytesArrive() async throws {
        let (source, sourcePeer) = try await Self.pair()
        let (sink, sinkPeer) = try await Self.pair()
        defer { [source, sourcePeer, sink, sinkPeer].forEach { $0.close() } }
        var readiness = source.readiness(pipingTo: sink).makeAsyncIterator()
        #expect(try await readiness.next() != nil)
        var buffer = [UInt8](repeating: 0, count: 16)
        // Nothing to read yet: the pipe waits for its source.
        #expect(try source.readNow(into: &buffer) == nil)
        readiness.awaiting = .readable
        let waiter = Task {
            var readiness = readiness
            return try await readiness.next() != nil
        }
        try await sourcePeer.write([1, 2, 3])
        #expect(try await waiter.value)
        #expect(try source.readNow(into: &buffer) == 3)
    }

    @Test func aWaitEndsWithClosedWhenTheAwaitedSocketIsClosedAndWithCancellation() async throws {
        let (source, sourcePeer) = try await Self.pair()
        let (sink, sinkPeer) = try await Self.pair()
        defer { [source, sourcePeer, sink, sinkPeer].forEach { $0.close() } }
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(try source.readNow(into: &buffer) == nil)
        let closed = Task {
            var readiness = source.readiness(pipingTo: sink).makeAsyncIterator()
            _ = try await readiness.next()
            readiness.awaiting = .readable
            _ = try await readiness.next()
        }
        // Closed by the relay's teardown (or its idle watchdog), before or during the wait: SocketError.closed.
        source.close()
        await #expect(throws: SocketError.closed) { try await closed.value }
        // A wait for the sink, cancelled: CancellationError.
        let (other, otherPeer) = try await Self.pair()
        defer { [other, otherPeer].forEach { $0.close() } }
        let cancelled = Task {
            var readiness = other.readiness(pipingTo: sink).makeAsyncIterator()
            _ = try await readiness.next()
            readiness.awaiting = .readable
            _ = try await readiness.next()
        }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
    }
}
