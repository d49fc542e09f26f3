import AsyncSockets
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport
@testable import SOCKSServer

/// `SOCKSServer.reload`: new sessions get the new configuration whole, open sessions are never dropped,
/// listeners that stay keep their sockets, and a reload that cannot be carried out changes nothing.
@Suite struct ReloadTests {
    static func rules(_ rules: [(DestinationRule.Action, String)]) throws -> DestinationRules {
        DestinationRules(try rules.map { try DestinationRule(action: $0.0, parsing: $0.1) })
    }

    @Test func aNewUserAndRuleTakeEffectWhileATransferInFlightCompletesIntact() async throws {
        let harness = try ServerHarness { $0.users = try UserDatabase(["alice": "a"]) }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        // A 64 MiB upload to a sink that counts and hashes it, started before the reload.
        let size = 64 * 1024 * 1024
        let block = 1024 * 1024
        var pattern = PatternStream(seed: 7)
        let blocks = (0..<(size / block)).map { _ in pattern.next(block) }
        var expected = SHA256()
        for chunk in blocks { expected.update(chunk) }
        let digest = expected.finalize()
        let sink = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        let received = Task {
            let connection = try await sink.accept()
            var hasher = SHA256()
            var count = 0
            for try await chunk in connection.chunks() { hasher.update(chunk); count += chunk.count }
            connection.close()
            return (count, hasher.finalize())
        }
        let (transfer, reply) = try await SOCKSTestClient.open(
            harness.address, to: SOCKSEndpoint(sink.localAddress), credentials: SOCKSCredentials(username: "alice", password: "a"))
        #expect(reply.code == .succeeded)
        let upload = Task {
            for (index, chunk) in blocks.enumerated() {
                try await transfer.connection.write(chunk)
                if index == 8 { try await Task.sleep(for: .milliseconds(50)) }
            }
            transfer.connection.shutdownWrite()
        }

        var configuration = harness.server.configuration
        configuration.users = try UserDatabase(["alice": "a", "bob": "b"])
        configuration.destinationRules = try Self.rules([(.deny, "127.0.0.1:\(echo.address.port)")])
        let outcome = try await harness.server.reload(configuration)
        #expect(harness.server.metrics.succeededReloadCount == 1)
        #expect(outcome.kept == [harness.address] && outcome.opened.isEmpty && outcome.closed.isEmpty)

        // The next session: bob exists, and the new rule denies the echo port.
        let (bobs, bobReply) = try await SOCKSTestClient.open(
            harness.address, to: SOCKSEndpoint(echo.address), credentials: SOCKSCredentials(username: "bob", password: "b"))
        #expect(bobReply.code == .notAllowed)
        bobs.close()

        try await upload.value
        let (count, hash) = try await received.value
        #expect(count == size)
        #expect(hash == digest, "the transfer that began before the reload arrived intact")
        transfer.close()
        sink.close()
        await harness.stop()
    }

    @Test func listenersThatStayKeepTheirSocketsNewOnesOpenAndRemovedOnesDrain() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let first = harness.address
        // A session on the listener about to be removed.
        let (old, oldReply) = try await SOCKSTestClient.open(first, to: SOCKSEndpoint(echo.address))
        #expect(oldReply.code == .succeeded)

        // Keep connecting to the first address throughout a reload that keeps it: none is refused.
        let stop = Mutex(false)
        let prober = Task { () -> Int in
            var refused = 0
            while !stop.withLock({ $0 }) {
                do {
                    let (client, reply) = try await SOCKSTestClient.open(first, to: SOCKSEndpoint(echo.address))
                    if reply.code != .succeeded { refused += 1 }
                    client.close()
                } catch {
                    refused += 1
                }
            }
            return refused
        }
        var configuration = harness.server.configuration
        let second = SocketAddress(ip: IPAddress("127.0.0.2")!, port: 0)
        configuration.listenAddresses = [SocketAddress(ip: .ipv4Loopback, port: 0), second]
        let grown = try await harness.server.reload(configuration)
        #expect(grown.kept == [first])
        #expect(grown.opened.count == 1)
        try await Task.sleep(for: .milliseconds(200))
        stop.withLock { $0 = true }
        #expect(await prober.value == 0, "a connection to a kept address was refused during the reload")

        let added = try #require(grown.opened.first)
        let (fresh, freshReply) = try await SOCKSTestClient.open(added, to: SOCKSEndpoint(echo.address))
        #expect(freshReply.code == .succeeded)
        fresh.close()

        // Now remove the first address: it stops accepting (its listening socket goes: looked for by inode, as
        // a connection to the port could reach another test's server that was given it), its open session
        // goes on.
        let firstListener = SocketCensus.listenerInodes(on: first)
        try #require(!firstListener.isEmpty)
        configuration.listenAddresses = [second]
        let shrunk = try await harness.server.reload(configuration)
        #expect(shrunk.closed == [first] && shrunk.kept == [added])
        #expect(await ServerHarness.eventually { SocketCensus.listenerInodes(on: first).isDisjoint(with: firstListener) })
        try await old.send([9, 9])
        #expect(try await old.receive(exactly: 2) == [9, 9], "the session of a removed listener is not dropped")
        #expect(harness.server.localAddresses == [added])
        old.close()
        await harness.stop()
    }

    @Test func aReloadThatCannotBeCarriedOutChangesNothing() async throws {
        let harness = try ServerHarness { $0.users = try UserDatabase(["alice": "a"]) }
        let busy = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { busy.close() }
        var configuration = harness.server.configuration
        configuration.users = try UserDatabase(["bob": "b"])
        configuration.listenAddresses = [SocketAddress(ip: .ipv4Loopback, port: 0), busy.localAddress]
        await #expect(throws: SocketError.self) { try await harness.server.reload(configuration) }
        var open = harness.server.configuration
        open.users = nil
        open.listenAddresses = [try SocketAddress("0.0.0.0", port: 0)]
        await #expect(throws: SOCKSServerError.self) { try await harness.server.reload(open) }
        // An embedder's reloads count as the daemon's do (socksd_config_reloads_total).
        #expect(harness.server.metrics.failedReloadCount == 2)
        #expect(harness.server.metrics.succeededReloadCount == 0)
        #expect(harness.server.configuration.users?.usernames == ["alice"])
        #expect(harness.server.localAddresses == [harness.address])
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (client, reply) = try await SOCKSTestClient.open(
            harness.address, to: SOCKSEndpoint(echo.address), credentials: SOCKSCredentials(username: "alice", password: "a"))
        #expect(reply.code == .succeeded)
        client.close()
        await harness.stop()
    }

    @Test func sessionsOfARemovedUserEndOnlyWhenAskedAndBackoffsCarryOver() async throws {
        let harness = try ServerHarness {
            $0.users = try UserDatabase(["alice": "a", "bob": "b"])
            $0.loginFailureLimit = 2
            $0.loginBackoff = .seconds(60)
        }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let bob = SOCKSCredentials(username: "bob", password: "b")
        let (kept, _) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address), credentials: bob)
        // 127.0.0.2 earns a backoff before the reload.
        for _ in 0..<2 {
            let client = try await SOCKSTestClient.connect(to: harness.address, from: IPAddress("127.0.0.2")!)
            try await client.send(SOCKSGreeting(methods: [.usernamePassword]).encoded())
            _ = try await client.receive(exactly: 2)
            try await client.send(SOCKSCredentials(username: "alice", password: "wrong").encoded())
            _ = try await client.receive(exactly: 2)
            client.close()
        }
        var configuration = harness.server.configuration
        configuration.users = try UserDatabase(["alice": "a"])
        let quiet = try await harness.server.reload(configuration)
        #expect(quiet.endedSessions == 0)
        try await kept.send([1])
        #expect(try await kept.receive(exactly: 1) == [1], "bob's session outlives a reload that removes bob")
        #expect(harness.server.context.loginThrottle.isBlocked(IPAddress("127.0.0.2")!), "a reload does not lift a backoff")

        let ending = try await harness.server.reload(configuration, endingSessionsOfRemovedUsers: true)
        #expect(ending.endedSessions == 1)
        #expect(try await kept.closesWithin(.seconds(10)))
        // The whole session ends, not only its client's side: the relay's socket to the echo server (which
        // sends nothing of its own) closes too, and the access line is written.
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("session client=") && $0.contains("user=bob") } }, "\(harness.log.all)")
        #expect(await ServerHarness.eventually { harness.server.metrics.activeSessions == 0 })
        kept.close()
        await harness.stop()
    }
}
