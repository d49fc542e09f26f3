import AsyncSockets
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// The open-session summary (what the daemon logs on SIGUSR1).
@Suite struct SessionSummaryTests {
    @Test func listsOpenSessionsWithLiveBytesAndForgetsEndedOnes() async throws {
        let harness = try ServerHarness { $0.users = try UserDatabase(["alice": "a"]) }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (client, reply) = try await SOCKSTestClient.open(
            harness.address, to: SOCKSEndpoint(echo.address), credentials: SOCKSCredentials(username: "alice", password: "a"))
        #expect(reply.code == .succeeded)
        try await client.send([UInt8](repeating: 1, count: 1000))
        _ = try await client.receive(exactly: 1000)
        let wanted = "user=alice command=connect destination=\(echo.address) up=1000 down=1000 age="
        #expect(await ServerHarness.eventually { harness.server.openSessionSummary().contains { $0.hasPrefix("open client=127.0.0.1:") && $0.contains(wanted) } })
        client.close()
        #expect(await ServerHarness.eventually { harness.server.openSessionSummary().isEmpty })
        await harness.stop()
    }
}
