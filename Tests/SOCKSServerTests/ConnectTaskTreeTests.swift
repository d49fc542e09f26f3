import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// A CONNECT session is a task tree: the session's task, and a child task per relay direction. Whatever
/// ends the session ends every task of it and lets go of every socket: counted, not timed.
@Suite struct ConnectTaskTreeTests {
    enum Ending: String, CaseIterable, CustomTestStringConvertible {
        /// The client resets its connection.
        case clientResets
        /// The client closes with a FIN; the echo target answers with its own, so both directions end.
        case clientCloses
        /// The relay moves nothing for the idle timeout.
        case idleTimeout
        /// The server's task is cancelled, and with it the session's.
        case serverCancelled

        var testDescription: String { rawValue }
    }

    @Test(arguments: Ending.allCases)
    func endingTheControlConnectionEndsEveryTaskOfTheSession(_ ending: Ending) async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try ServerHarness {
            // Long enough that only the idle case meets it, however loaded the machine.
            $0.idleTimeout = ending == .idleTimeout ? .seconds(8) : .seconds(600)
        }
        let port = harness.address.port
        let metrics = harness.server.metrics
        let listeners = SocketCensus.descriptors(onLocalPort: port)
        // The client stays open only where the server is to end the session on its own.
        var kept: SOCKSTestClient?
        do {
            let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address))
            #expect(reply.code == .succeeded)
            try await client.send([1, 2, 3])
            #expect(try await client.receive(exactly: 3) == [1, 2, 3])
            // The relay runs: a task per direction, and the session's sockets (the client's connection on the
            // server's port, the connection to the echo target).
            #expect(metrics.liveRelayTasks == 2, "relay tasks: \(metrics.liveRelayTasks)")
            // Counted by both ends' ports: another test's client socket, bound to 127.0.0.2, may share the
            // server's port number.
            #expect(SocketCensus.descriptors(onLocalPort: port, remotePort: client.connection.localAddress.port) == 1)
            #expect(await ServerHarness.eventually(.seconds(10)) { SocketCensus.descriptors(connectedTo: echo.address) == 1 })
            switch ending {
            case .clientResets: client.connection.abort()  // the reset goes out as the client goes, below
            case .clientCloses: client.close()
            case .idleTimeout: kept = client
            case .serverCancelled:
                kept = client
                await harness.stop()
            }
        }
        #expect(await ServerHarness.eventually(.seconds(30)) { metrics.activeSessions == 0 }, "the session ended")
        #expect(metrics.liveRelayTasks == 0, "no relay task outlives its session: \(metrics.liveRelayTasks)")
        #expect(
            await ServerHarness.eventually(.seconds(10)) {
                SocketCensus.descriptors(onLocalPort: port) == (ending == .serverCancelled ? 0 : listeners)
                    && SocketCensus.descriptors(connectedTo: echo.address) == 0
            },
            "the session's sockets are gone: \(SocketCensus.descriptors(onLocalPort: port)) on the server's port, \(SocketCensus.descriptors(connectedTo: echo.address)) to the target")
        kept?.close()
        if ending == .idleTimeout {
            #expect(harness.log.all.contains { $0.contains("outcome=idle-timeout") })
        }
        await harness.stop()
    }
}
