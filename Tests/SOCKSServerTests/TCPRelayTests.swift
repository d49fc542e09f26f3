import AsyncSockets
import Testing
import TestSupport
@testable import SOCKSServer

/// The relay itself, on both of its paths: splice (the default) and the copying fallback.
@Suite struct TCPRelayTests {
    /// A connected pair of loopback connections: (the end the relay holds, the end the test holds).
    static func pair() async throws -> (relayEnd: TCPConnection, testEnd: TCPConnection) {
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { listener.close() }
        async let accepted = listener.accept()
        let testEnd = try await TCPConnection.connect(to: listener.localAddress)
        return (try await accepted, testEnd)
    }

    @Test(arguments: [true, false])
    func relaysBothWaysWithHalfClose(usesSplice: Bool) async throws {
        let (clientSide, client) = try await Self.pair()
        let (targetSide, target) = try await Self.pair()
        let counters = RelayCounters()
        var relay = TCPRelay(client: clientSide, target: targetSide, bufferSize: 16 * 1024, idleTimeout: nil, counters: counters)
        relay.usesSplice = usesSplice
        let running = Task { [relay] in try await relay.run() }

        var pattern = PatternStream(seed: usesSplice ? 1 : 2)
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
        try await running.value
        #expect(atTarget == up)
        #expect(atClient == down)
        #expect(counters.bytesUp == up.count && counters.bytesDown == down.count)
        client.close()
        target.close()
    }

    /// Runs a relay with a long idle timeout to its normal end and returns weak references to the relay's
    /// sockets (the test's own ends are closed by then).
    private static func finishedRelayWithIdleTimeout() async throws -> (WeakConnection, WeakConnection) {
        let (clientSide, client) = try await pair()
        let (targetSide, target) = try await pair()
        let relay = TCPRelay(client: clientSide, target: targetSide, bufferSize: 16 * 1024, idleTimeout: .seconds(600), counters: RelayCounters())
        let running = Task { [relay] in try await relay.run() }
        try await client.write([1, 2, 3])
        var received: [UInt8] = []
        var chunks = target.chunks().makeAsyncIterator()
        while received.count < 3, let chunk = try await chunks.next() { received += chunk }
        client.close()
        target.close()
        try? await running.value
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
