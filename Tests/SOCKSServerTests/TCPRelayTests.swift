import Synchronization
import AsyncSockets
import Testing
import TestSupport
@testable import SOCKSServer

/// The relay itself, on both of its paths: splice (the default) and copying (where no pipe can be had).
@Suite struct TCPRelayTests {
    /// Where a relay takes its pipes: the shared pool (it splices), or a pool that makes none (it copies
    /// every byte, as in a process out of descriptors).
    static func pipes(splicing: Bool) -> SplicePipePool {
        splicing ? .shared : SplicePipePool(capacity: 0, makesPipes: false)
    }

    /// A connected pair of loopback connections: (the end the relay holds, the end the test holds).
    static func pair() async throws -> (relayEnd: TCPConnection, testEnd: TCPConnection) {
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { listener.close() }
        async let accepted = listener.accept()
        let testEnd = try await TCPConnection.connect(to: listener.localAddress)
        return (try await accepted, testEnd)
    }

    @Test(arguments: [true, false])
    func relaysBothWaysWithHalfClose(splicing: Bool) async throws {
        let (clientSide, client) = try await Self.pair()
        let (targetSide, target) = try await Self.pair()
        let counters = RelayCounters()
        var relay = TCPRelay(client: clientSide, target: targetSide, idleTimeout: nil, counters: counters)
        relay.pipes = Self.pipes(splicing: splicing)
        let running = Task { [relay] in await relay.run() }

        var pattern = PatternStream(seed: splicing ? 1 : 2)
        let up = pattern.next(3_000_000)
        let down = pattern.next(2_000_000)
        async let uploaded: Void = {
            try await client.write(up)
            client.shutdownWrite()
        }()
        async let downloaded: Void = {
            try await target.write(down)
            target.shutdownWrite()
        }()
        var atTarget: [UInt8] = []
        for try await chunk in target.chunks() { atTarget += chunk }
        var atClient: [UInt8] = []
        for try await chunk in client.chunks() { atClient += chunk }
        try await uploaded
        try await downloaded
        #expect(await running.value == .completed)
        #expect(atTarget == up)
        #expect(atClient == down)
        #expect(counters.bytesUp == up.count && counters.bytesDown == down.count)
        if !splicing { #expect(relay.pipes.lentCount == 0 && relay.pipes.idleCount == 0, "copied: no pipe was made") }
        client.close()
        target.close()
    }

    /// A relay between two fresh loopback pairs, running in its own task: the test holds only its own ends,
    /// so the relay's sockets go away with the relay.
    static func startRelay(pipes: SplicePipePool = .shared) async throws -> (client: TCPConnection, target: TCPConnection, relay: Task<TCPRelay.Outcome, Never>) {
        let (clientSide, client) = try await pair()
        let (targetSide, target) = try await pair()
        var relay = TCPRelay(client: clientSide, target: targetSide, idleTimeout: nil, counters: RelayCounters())
        relay.pipes = pipes
        return (client, target, Task { [relay] in await relay.run() })
    }

    /// `startRelay`, for a test in which one side resets: that side's end (the target's with `targetResets`,
    /// else the client's) goes into `resetting`, which must be its only reference (the reset goes out when
    /// its descriptor is released); the other side's end comes back with the relay.
    static func startRelay(
        splicing: Bool, targetResets: Bool, resetting: inout TCPConnection?
    ) async throws -> (relay: Task<TCPRelay.Outcome, Never>, other: TCPConnection) {
        let started = try await startRelay(pipes: pipes(splicing: splicing))
        resetting = targetResets ? started.target : started.client
        return (started.relay, targetResets ? started.client : started.target)
    }

    /// Reads exactly `count` bytes.
    static func receive(_ count: Int, from connection: TCPConnection) async throws -> [UInt8] {
        var received: [UInt8] = []
        var chunks = connection.chunks().makeAsyncIterator()
        while received.count < count, let chunk = try await chunks.next() { received += chunk }
        return received
    }

    /// A reset on one side reaches the other side as a reset, not as a clean end of stream (a truncated
    /// download must not look complete), in both directions and on both paths.
    @Test(arguments: [true, false], [true, false])
    func aResetIsPassedOnAsAReset(splicing: Bool, targetResets: Bool) async throws {
        var resetting: TCPConnection?
        let (relay, observing) = try await Self.startRelay(splicing: splicing, targetResets: targetResets, resetting: &resetting)
        try await resetting?.write(Array("partial".utf8))
        #expect(try await Self.receive(7, from: observing) == Array("partial".utf8))
        resetting?.abort()
        resetting = nil
        var buffer = [UInt8](repeating: 0, count: 64)
        await #expect(throws: SocketError.disconnected) {
            while try await observing.read(into: &buffer) > 0 {}
        }
        _ = await relay.value
        observing.close()
    }

    /// A side that resets while the other side does not read. The client's reset ends the relay at once,
    /// the target reset too, although the target never reads (before, the relay read the client at no
    /// other time and waited for the target for as long as it did not read). The target's reset keeps what
    /// it sent flowing to the client, which gets every byte the relay holds and then the reset (Linux hands
    /// out queued bytes before the error: a response followed by an abortive close arrives whole).
    @Test(arguments: [true, false], [true, false])
    func aResetWhileTheOtherSideDoesNotRead(splicing: Bool, targetResets: Bool) async throws {
        var resetting: TCPConnection?
        let (relay, stalled) = try await Self.startRelay(splicing: splicing, targetResets: targetResets, resetting: &resetting)
        // Write until nothing more goes for a few rounds (bounded: at most 256 MiB, at most 400 rounds).
        let block = [UInt8](repeating: 0x42, count: 256 * 1024)
        var written = 0
        var idleRounds = 0
        for _ in 0..<400 where idleRounds < 5 && written < 256 * 1024 * 1024 {
            var moved = 0
            while let connection = resetting, let count = try connection.writeNow(block[...]), count > 0 { moved += count }
            written += moved
            idleRounds = moved == 0 ? idleRounds + 1 : 0
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(idleRounds == 5, "the writer never stalled after \(written) bytes")
        resetting?.abort()
        resetting = nil
        // Awaited beside, so that a relay that never ends fails the test (and is then cancelled) instead of
        // holding it: a task's value does not answer cancellation.
        let ended = Atomic<Bool>(false)
        let watcher = Task { let outcome = await relay.value; ended.store(true, ordering: .releasing); return outcome }
        var received = 0
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        if targetResets {
            // The client reads now: what the relay held comes, then the reset.
            await #expect(throws: SocketError.disconnected) {
                while true {
                    let count = try await stalled.read(into: &buffer)
                    if count == 0 { break }
                    received += count
                }
            }
            #expect(received > 0 && buffer.prefix(1) == [0x42], "the client got \(received) of the target's bytes")
        }
        let endedInTime = await ServerHarness.eventually(.seconds(20)) { ended.load(ordering: .acquiring) }
        #expect(endedInTime, "the relay did not end after a side reset")
        if !endedInTime { relay.cancel() }
        let outcome = await watcher.value
        #expect(outcome == .failed(.disconnected), "\(outcome)")
        if !targetResets {
            // The target, which never read, gets the reset passed on.
            await #expect(throws: SocketError.disconnected) {
                while try await stalled.read(into: &buffer) > 0 {}
            }
        }
        stalled.close()
    }

    /// An idle relay holds no splice pipe: pipes are taken while bytes move and given back when empty.
    @Test func anIdleRelayHoldsNoPipe() async throws {
        let pipes = SplicePipePool(capacity: 4)
        let (client, target, relay) = try await Self.startRelay(pipes: pipes)
        var pattern = PatternStream(seed: 9)
        let payload = pattern.next(1_000_000)
        async let sent: Void = client.write(payload)
        #expect(try await Self.receive(payload.count, from: target) == payload)
        try await sent
        try await target.write([7])
        #expect(try await Self.receive(1, from: client) == [7])
        // Both directions are idle now: every pipe is back in the pool.
        #expect(await ServerHarness.eventually(.seconds(10)) { pipes.lentCount == 0 })
        #expect(pipes.idleCount >= 1)
        client.close()
        target.close()
        _ = await relay.value
        #expect(pipes.lentCount == 0)
    }

    /// A short exchange is copied, not spliced: no pipe is taken for it. A bulk transfer then splices (a
    /// pipe was taken: the pool holds one afterwards), and every byte arrives in order across the switch.
    @Test func aShortExchangeTakesNoPipeAndABulkOneSplices() async throws {
        let pipes = SplicePipePool(capacity: 4)
        let (client, target, relay) = try await Self.startRelay(pipes: pipes)
        try await client.write(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(try await Self.receive(18, from: target) == Array("GET / HTTP/1.1\r\n\r\n".utf8))
        try await target.write([1, 2, 3])
        #expect(try await Self.receive(3, from: client) == [1, 2, 3])
        #expect(pipes.idleCount == 0 && pipes.lentCount == 0)
        var pattern = PatternStream(seed: 11)
        let payload = pattern.next(4 * SplicedDirection.copyBeforeSplice + 12_345)
        async let sent: Void = target.write(payload)
        #expect(try await Self.receive(payload.count, from: client) == payload)
        try await sent
        #expect(await ServerHarness.eventually(.seconds(10)) { pipes.lentCount == 0 })
        #expect(pipes.idleCount >= 1)
        client.close()
        target.close()
        _ = await relay.value
    }

    /// Runs a relay with a long idle timeout to its normal end and returns weak references to the relay's
    /// sockets (the test's own ends are closed by then).
    private static func finishedRelayWithIdleTimeout() async throws -> (WeakConnection, WeakConnection) {
        let (clientSide, client) = try await pair()
        let (targetSide, target) = try await pair()
        let relay = TCPRelay(client: clientSide, target: targetSide, idleTimeout: .seconds(600), counters: RelayCounters())
        let running = Task { [relay] in await relay.run() }
        try await client.write([1, 2, 3])
        var received: [UInt8] = []
        var chunks = target.chunks().makeAsyncIterator()
        while received.count < 3, let chunk = try await chunks.next() { received += chunk }
        client.close()
        target.close()
        _ = await running.value
        return (WeakConnection(clientSide), WeakConnection(targetSide))
    }

    /// The idle watchdog must not keep a finished relay's sockets (each held its descriptor for good).
    @Test func aFinishedRelayWithAnIdleTimeoutReleasesBothSockets() async throws {
        let (client, target) = try await Self.finishedRelayWithIdleTimeout()
        // The relay's task has ended; nothing may still refer to its connections.
        let released = await ServerHarness.eventually(.seconds(10)) { client.connection == nil && target.connection == nil }
        #expect(released)
    }
}

/// A weak reference to a connection, to see whether anything still holds it.
final class WeakConnection {
    weak var connection: TCPConnection?
    init(_ connection: TCPConnection) { self.connection = connection }
}
