import AsyncSockets
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

@Suite struct SessionLifecycleTests {
    @Test func handshakeDeadlineClosesASilentClient() async throws {
        // Long enough for the partial client below to get its method selection on a loaded machine.
        let harness = try ServerHarness { $0.handshakeTimeout = .seconds(1) }
        let silent = try await SOCKSTestClient.connect(to: harness.address)
        let silentWindow = TimeoutWindow(.seconds(1))
        #expect(try await silent.closesWithin(silentWindow.remaining), "a silent client was not closed \(silentWindow)")
        // A client that stops halfway through its request is cut off the same way.
        let partial = try await SOCKSTestClient.connect(to: harness.address)
        let partialWindow = TimeoutWindow(.seconds(1))
        try await partial.send([0x05, 0x01, 0x00, 0x05, 0x01])
        #expect(try await partial.receive(exactly: 2) == [0x05, 0x00])
        #expect(try await partial.closesWithin(partialWindow.remaining), "a partial request was not closed \(partialWindow)")
        #expect(await ServerHarness.eventually { harness.log.all.filter { $0.contains("outcome=handshake-timeout") }.count == 2 })
        await harness.stop()
    }

    @Test func fiveHundredConcurrentSessions() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let clients = 500
        let echoed = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<clients {
                group.addTask {
                    let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address))
                    guard reply.code == .succeeded else { return false }
                    let message = Array("session \(index)".utf8)
                    try await client.send(message)
                    let answer = try await client.receive(exactly: message.count)
                    // Hold the session until all are open, so that 500 really are concurrent.
                    try await Task.sleep(for: .milliseconds(200))
                    client.close()
                    return answer == message
                }
            }
            var count = 0
            for try await ok in group where ok { count += 1 }
            return count
        }
        #expect(echoed == clients)
        #expect(harness.server.metrics.totalSessions == clients)
        #expect(await ServerHarness.eventually { harness.server.metrics.activeSessions == 0 })
        await harness.stop()
    }

    @Test func garbageOnThreeHundredConnectionsLeavesTheServerServing() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        var pattern = PatternStream(seed: 300)
        let garbage = (0..<300).map { index in
            // Random bytes; every tenth a plausible-looking start that goes wrong later; some empty.
            index % 10 == 0 ? [0x05, 0x01, 0x00, 0x05, 0x01, 0x00] + pattern.next(index % 50)
                : index % 37 == 0 ? [] : pattern.next(1 + index % 700)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for bytes in garbage {
                group.addTask {
                    let client = try await SOCKSTestClient.connect(to: harness.address)
                    do { try await client.send(bytes) } catch {}
                    _ = try? await client.closesWithin(.milliseconds(500))
                    client.close()
                }
            }
            try await group.waitForAll()
        }
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address))
        #expect(reply.code == .succeeded)
        try await client.send([1, 2, 3])
        #expect(try await client.receive(exactly: 3) == [1, 2, 3])
        client.close()
        #expect(await ServerHarness.eventually { harness.server.metrics.activeSessions == 0 })
        #expect(harness.server.metrics.failedHandshakeCount >= 290)
        await harness.stop()
    }

    @Test func gracefulShutdownLetsAnOpenSessionFinish() async throws {
        let harness = try ServerHarness { $0.shutdownGracePeriod = .seconds(30) }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address))
        #expect(reply.code == .succeeded)

        let listeners = SocketCensus.listenerInodes(on: harness.address)
        #expect(!listeners.isEmpty)
        harness.server.shutdown()
        // New clients are turned away at once: the listening sockets close (looked for by their sockets, not
        // by a connection to the port, which another test may have been given by then)...
        #expect(await ServerHarness.eventually {
            harness.log.all.contains { $0.contains("shutting down") }
        })
        #expect(await ServerHarness.eventually { SocketCensus.listenerInodes(on: harness.address).isDisjoint(with: listeners) })
        // ...while the open session still relays.
        try await client.send(Array("still here".utf8))
        #expect(try await client.receive(exactly: 10) == Array("still here".utf8))

        // When it ends, run() returns without waiting out the grace period.
        let clock = ContinuousClock()
        let start = clock.now
        client.close()
        try await harness.task.value
        #expect(clock.now - start < .seconds(10))
    }

    @Test func gracePeriodEndsByCancellingSessions() async throws {
        let harness = try ServerHarness { $0.shutdownGracePeriod = .milliseconds(200) }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address))
        #expect(reply.code == .succeeded)
        harness.server.shutdown()
        try await harness.task.value
        #expect(try await client.closesWithin(.seconds(2)))
        #expect(harness.server.metrics.activeSessions == 0)
        #expect(harness.log.all.contains { $0.contains("grace period over") })
    }

    @Test func runningTwiceIsRefused() async throws {
        let harness = try ServerHarness()
        try await Task.sleep(for: .milliseconds(50))
        await #expect(throws: SOCKSServerError.alreadyStarted) { try await harness.server.run() }
        await harness.stop()
    }

    @Test func listeningOnSeveralAddresses() async throws {
        let harness = try ServerHarness {
            $0.listenAddresses = [SocketAddress(ip: .ipv4Loopback, port: 0), SocketAddress(ip: .ipv6Loopback, port: 0)]
        }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        #expect(harness.server.localAddresses.count == 2)
        for address in harness.server.localAddresses {
            #expect(address.port != 0)
            let (client, reply) = try await SOCKSTestClient.open(address, to: SOCKSEndpoint(echo.address))
            #expect(reply.code == .succeeded)
            client.close()
        }
        await harness.stop()
    }
}
