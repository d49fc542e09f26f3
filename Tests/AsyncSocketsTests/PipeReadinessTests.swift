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
        // An accepted source: its first bytes may have come before its registration, so the pipe tries first.
        let (sourcePeer, source) = try await Self.pair()
        let (sink, sinkPeer) = try await Self.pair()
        defer { [source, sourcePeer, sink, sinkPeer].forEach { $0.close() } }
        #expect(!source.inputLooksDrained)
        var readiness = source.readiness(pipingTo: sink).makeAsyncIterator()
        #expect(await readiness.next() != nil)
        var buffer = [UInt8](repeating: 0, count: 16)
        // Nothing to read yet: the pipe waits for its source.
        #expect(try source.readNow(into: &buffer) == nil)
        readiness.awaiting = .readable
        let waiter = Task {
            var readiness = readiness
            return await readiness.next() != nil
        }
        try await sourcePeer.write([1, 2, 3])
        #expect(await waiter.value)
        #expect(try source.readNow(into: &buffer) == 3)
    }

    /// A source whose last read came back short (or one this side dialed, which nothing was sent on yet)
    /// has nothing queued: the first element waits for its next bytes instead of letting the pipe make a
    /// `recv` that fails with EAGAIN. A FIN taken with the last bytes' edge is no such case: after it, the
    /// pipe tries at once (and reads EOF).
    @Test func afterAShortReadTheFirstElementWaitsForBytesButNotAfterTheFIN() async throws {
        let (dialed, peer) = try await Self.pair()
        let (sink, sinkPeer) = try await Self.pair()
        defer { [dialed, peer, sink, sinkPeer].forEach { $0.close() } }
        #expect(dialed.inputLooksDrained)
        let waiting = Task {
            var readiness = dialed.readiness(pipingTo: sink).makeAsyncIterator()
            return await readiness.next() != nil
        }
        try await peer.write([1, 2, 3])
        #expect(await waiting.value)
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(try dialed.readNow(into: &buffer) == 3)
        #expect(dialed.inputLooksDrained)
        // Bytes and the FIN together, and their edge taken by a wait before the short read of the bytes.
        try await peer.write([4, 5])
        peer.shutdownWrite()
        // The loop has handled the FIN's event too (the TCP state says `finished` a moment before).
        #expect(await eventually(.seconds(20)) { dialed.peerEnding == .finished && dialed.descriptor.registration.peerHasEnded })
        var waitFor = dialed.readiness(pipingTo: sink).makeAsyncIterator()
        #expect(await waitFor.next() != nil)
        #expect(try dialed.readNow(into: &buffer) == 2)
        #expect(!dialed.inputLooksDrained)
        #expect(try dialed.readNow(into: &buffer) == 0)
    }

    @Test func theSequenceEndsWithClosedWhenTheAwaitedSocketIsClosedAndWithCancelled() async throws {
        let (sourcePeer, source) = try await Self.pair()
        let (sink, sinkPeer) = try await Self.pair()
        defer { [source, sourcePeer, sink, sinkPeer].forEach { $0.close() } }
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(try source.readNow(into: &buffer) == nil)
        let closed = Task {
            var readiness = source.readiness(pipingTo: sink).makeAsyncIterator()
            _ = await readiness.next()
            readiness.awaiting = .readable
            let ended = await readiness.next() == nil
            return (ended, readiness.ending)
        }
        // Closed by the relay's teardown (or its idle watchdog), before or during the wait.
        source.close()
        let (endedOnClose, closedEnding) = await closed.value
        #expect(endedOnClose)
        #expect(closedEnding == .closed)
        // A wait for the sink, cancelled.
        let (otherPeer, other) = try await Self.pair()
        defer { [other, otherPeer].forEach { $0.close() } }
        let cancelled = Task {
            var readiness = other.readiness(pipingTo: sink).makeAsyncIterator()
            _ = await readiness.next()
            readiness.awaiting = .readable
            let ended = await readiness.next() == nil
            return (ended, readiness.ending)
        }
        cancelled.cancel()
        let (endedOnCancel, cancelledEnding) = await cancelled.value
        #expect(endedOnCancel)
        #expect(cancelledEnding == .cancelled)
    }
}
