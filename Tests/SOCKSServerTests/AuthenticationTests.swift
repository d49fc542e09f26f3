import AsyncSockets
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

@Suite struct AuthenticationTests {
    static let users = try! UserDatabase(["alice": "wonderland", "bob": "builder:with:colons"])

    @Test(arguments: [("alice", "wonderland"), ("bob", "builder:with:colons")])
    func eachUserCanLogIn(username: String, password: String) async throws {
        let harness = try ServerHarness { $0.users = Self.users }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (client, reply) = try await SOCKSTestClient.open(
            harness.address, to: SOCKSEndpoint(echo.address), credentials: SOCKSCredentials(username: username, password: password))
        #expect(reply.code == .succeeded)
        try await client.send([42])
        #expect(try await client.receive(exactly: 1) == [42])
        client.close()
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("user=\(username) command=connect") } })
        await harness.stop()
    }

    @Test(arguments: [("alice", "Wonderland"), ("alice", "wonderlan"), ("carol", "wonderland"), ("alice", "wonderlandx")])
    func wrongCredentialsGetStatusOneAndAreClosed(username: String, password: String) async throws {
        let harness = try ServerHarness { $0.users = Self.users }
        let client = try await SOCKSTestClient.connect(to: harness.address)
        try await client.send(SOCKSGreeting(methods: [.noAuthentication, .usernamePassword]).encoded())
        #expect(try await client.receive(exactly: 2) == [0x05, 0x02])
        try await client.send(SOCKSCredentials(username: username, password: password).encoded())
        #expect(try await client.receive(exactly: 2) == [0x01, 0x01])
        #expect(try await client.closesWithin(.seconds(2)))
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("outcome=auth-failed") } })
        #expect(!harness.log.all.contains { $0.contains(password) }, "a password reached the log")
        await harness.stop()
    }

    @Test func clientWithoutCredentialsGetsFF() async throws {
        let harness = try ServerHarness { $0.users = Self.users }
        let client = try await SOCKSTestClient.connect(to: harness.address)
        try await client.send(SOCKSGreeting(methods: [.noAuthentication]).encoded())
        #expect(try await client.receive(exactly: 2) == [0x05, 0xFF])
        #expect(try await client.closesWithin(.seconds(2)))
        await harness.stop()
    }

    @Test func usersFileParsing() async throws {
        let database = try UserDatabase(usersFile: "# staff\nalice:one\n\n  # indented comment\nbob:two:three\r\n")
        #expect(database.usernames == ["alice", "bob"])
        #expect(await database.verify(SOCKSCredentials(username: "bob", password: "two:three")))
        #expect(await !database.verify(SOCKSCredentials(username: "bob", password: "two")))
        #expect(throws: UserDatabase.InvalidEntry(line: 2, reason: "expected name:password")) {
            try UserDatabase(usersFile: "alice:one\nnocolon\n")
        }
        #expect(throws: UserDatabase.InvalidEntry(line: 1, reason: "password must be 1 to 255 bytes")) {
            try UserDatabase(usersFile: "alice:\n")
        }
    }

    @Test func constantTimeComparisonIsStillAComparison() {
        #expect(UserDatabase.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!UserDatabase.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(!UserDatabase.constantTimeEqual([1, 2], [1, 2, 0]))
        #expect(!UserDatabase.constantTimeEqual([], [0]))
    }
}
