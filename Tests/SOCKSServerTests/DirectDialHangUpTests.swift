import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// A direct dial races the client's hang-up as the upstream path does: a client that resets while the
/// target cannot be reached ends the session at once, not at the connect deadline.
@Suite struct DirectDialHangUpTests {
    @Test func aClientHangingUpEndsADirectDialThatCannotFinish() async throws {
        // A target whose accept queue is full and never accepted: its SYNs are dropped, so a connect to it
        // pends (the kernel retries for minutes).
        let target = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0), backlog: 0)
        defer { target.close() }
        var fillers: [TCPConnection] = []
        for _ in 0..<4 {
            if let filler = try? await TCPConnection.connect(to: target.localAddress, timeout: .milliseconds(200)) { fillers.append(filler) }
        }
        defer { fillers.forEach { $0.close() } }
        let harness = try ServerHarness { $0.connectTimeout = .seconds(60) }
        // This process's sockets connected to the target before the session: the fillers (an attempt that
        // timed out is closed).
        let before = fillers.count
        #expect(await ServerHarness.eventually(.seconds(10)) { SocketCensus.descriptors(connectedTo: target.localAddress) == before })
        let listeners = SocketCensus.descriptors(onLocalPort: harness.address.port)
        let started = ContinuousClock.now
        do {
            let client = try await SOCKSTestClient.connect(to: harness.address)
            try await client.send(SOCKSGreeting(methods: [.noAuthentication]).encoded())
            #expect(try await client.receive(exactly: 2) == [0x05, 0x00])
            try await client.send(SOCKSRequest(command: .connect, destination: SOCKSEndpoint(target.localAddress)).encoded())
            // The server is dialing: its socket to the target is there, its handshake pending.
            #expect(
                await ServerHarness.eventually(.seconds(20)) { SocketCensus.descriptors(connectedTo: target.localAddress) == before + 1 },
                "the server's connect to the target: \(SocketCensus.descriptors(connectedTo: target.localAddress) - before)")
            // The client gives up. A FIN would be a half-close the relay passes on; hanging up is a reset,
            // sent as the client's last reference goes at the end of this block.
            client.connection.abort()
        }
        // Long before the 60 s deadline (20 s is a bound for a loaded machine, not a speed test).
        #expect(await ServerHarness.eventually(.seconds(20)) { harness.server.metrics.activeSessions == 0 }, "the session ended")
        #expect(ContinuousClock.now - started < .seconds(50))
        #expect(harness.log.all.contains { $0.contains("command=connect") && $0.contains("outcome=client-closed") })
        #expect(
            await ServerHarness.eventually(.seconds(10)) { SocketCensus.descriptors(connectedTo: target.localAddress) == before },
            "the pending connect's socket is closed")
        #expect(
            await ServerHarness.eventually(.seconds(10)) { SocketCensus.descriptors(onLocalPort: harness.address.port) == listeners },
            "only the listener is left")
        await harness.stop()
    }
}
