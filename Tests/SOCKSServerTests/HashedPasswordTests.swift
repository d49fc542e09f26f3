import Foundation
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport
@testable import AsyncSockets
@testable import SOCKSServer

/// Users-file entries that are crypt(3) hashes, made at test time by `openssl passwd`, `mkpasswd` and
/// libcrypt itself, and checked through the libcrypt the server loads at run time.
///
/// Serialized: the password pool is the process's, and the flood test fills its queue on purpose, which
/// would fail the logins of a test running beside it.
@Suite(.serialized) struct HashedPasswordTests {
    /// Where a test's hash comes from.
    enum HashSource: String, CaseIterable, CustomTestStringConvertible {
        case opensslSHA512, opensslSHA256, mkpasswdYescrypt, libcryptYescrypt, libcryptBcrypt

        var testDescription: String { rawValue }

        /// The hash of `password`, freshly salted.
        func hash(_ password: String) async throws -> String {
            switch self {
            case .opensslSHA512: try await HashedPasswordTests.run("/usr/bin/openssl", ["passwd", "-6", "-salt", "NaCl4test", password], package: "openssl")
            case .opensslSHA256: try await HashedPasswordTests.run("/usr/bin/openssl", ["passwd", "-5", "-salt", "NaCl4test", password], package: "openssl")
            case .mkpasswdYescrypt: try await HashedPasswordTests.run("/usr/bin/mkpasswd", ["-m", "yescrypt", password], package: "whois")
            case .libcryptYescrypt: try HashedPasswordTests.libcryptHash(password, prefix: "$y$")
            // Cost 5, the smallest: only the method is under test.
            case .libcryptBcrypt: try HashedPasswordTests.libcryptHash(password, prefix: "$2b$", cost: 5)
            }
        }
    }

    /// Runs a hashing tool and returns its output line. A tool that is missing fails the test (it is not
    /// skipped: `.ci/run` installs it), with the package to install.
    static func run(_ executable: String, _ arguments: [String], package: String) async throws -> String {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            Issue.record("\(executable) is not installed: run .ci/run, or apt-get install \(package)")
            throw CocoaError(.fileNoSuchFile)
        }
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("hash-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let process = try ChildProcess(executable, arguments, outputPath: outputPath, errorPath: "/dev/null")
        let status = try await process.exitStatus()
        let output = try String(contentsOfFile: outputPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(status == 0, "\(executable) \(arguments) exited with \(status.map(String.init) ?? "no status")")
        return output
    }

    /// A hash made by the libcrypt the server uses: `crypt_gensalt_rn`, then `crypt_rn`.
    static func libcryptHash(_ password: String, prefix: String, cost: UInt = 0) throws -> String {
        let libcrypt = try LibCrypt.system.get()
        let setting = try #require(libcrypt.makeSetting(prefix: prefix, cost: cost), "libcrypt makes no \(prefix) setting")
        let hash = try #require(libcrypt.hash(Array(password.utf8), setting: Array(setting.utf8)))
        return String(decoding: hash, as: UTF8.self)
    }

    static func login(_ username: String, _ password: String) -> SOCKSCredentials {
        SOCKSCredentials(username: username, password: password)
    }

    @Test(arguments: HashSource.allCases)
    func aHashChecksTheRightPasswordOnly(source: HashSource) async throws {
        let hash = try await source.hash("open sesame")
        #expect(CryptHash.method(of: Array(hash.utf8)) != nil, "\(hash) is not read as a hash")
        let database = try UserDatabase(usersFile: "alice:\(hash)\n")
        #expect(await database.verify(Self.login("alice", "open sesame")))
        #expect(await !database.verify(Self.login("alice", "Open sesame")))
        #expect(await !database.verify(Self.login("alice", "open sesame ")))
        // The hash is not a password, and a zero byte does not cut the password short for crypt(3).
        #expect(await !database.verify(Self.login("alice", hash)))
        #expect(await !database.verify(SOCKSCredentials(username: Array("alice".utf8), password: Array("open sesame".utf8) + [0, 0x21])))
        #expect(await !database.verify(Self.login("carol", "open sesame")))
        // The same entry given as --user and in code.
        #expect(try await UserDatabase(["alice": hash]).verify(Self.login("alice", "open sesame")))
    }

    @Test func aHashLibcryptCannotCheckIsRefusedWithItsLine() async throws {
        let good = try await HashSource.opensslSHA512.hash("pw")
        let unusable = [
            String(good.dropLast()),  // truncated
            good + "x",  // too long
            String(good.dropLast()) + "!",  // outside crypt(3)'s alphabet
            "$6$NaCl4test",  // a salt without a hash
            "$6$NaCl4test$",
            "$y$j9T$abc$def",  // a yescrypt salt libcrypt refuses
            "$2b$05$abc",
            "$7$",
        ]
        for hash in unusable {
            let error = #expect(throws: UserDatabase.InvalidEntry.self, "\(hash)") {
                try UserDatabase(usersFile: "alice:pw\n# bob's is broken\nbob:\(hash)\n")
            }
            #expect(error?.line == 3)
            #expect(error?.description.hasPrefix("line 3: the hash for bob") == true, "\(error?.description ?? "")")
            #expect(error?.description.contains("not one libcrypt can check") == true, "\(error?.description ?? "")")
        }
    }

    @Test func legacyHashesAreRefusedNotTakenForPasswords() async throws {
        for hash in ["$1$NaCl$Ez8E1dnC0cUaQt3JfKy1F/", "$3$$8846f7eaee8fb117ad06bdd830b7586c", "$sha1$1$abc$def", "$2x$05$abcdefghijklmnopqrstuu1234567890123456789012345678901"] {
            let error = #expect(throws: UserDatabase.InvalidEntry.self, "\(hash)") { try UserDatabase(["bob": hash]) }
            #expect(error?.line == 0)
            #expect(error?.description.contains("too weak") == true, "\(error?.description ?? "")")
        }
    }

    @Test func aPasswordStartingWithADollarThatIsNoHashStaysPlain() async throws {
        let passwords = ["$ecret", "$100$bill", "$$", "$6x$y", "$y", "$", "$Y$upper"]
        let file = passwords.enumerated().map { "user\($0.offset):\($0.element)" }.joined(separator: "\n")
        let database = try UserDatabase(usersFile: file)
        #expect(database.decoy == nil)
        for (index, password) in passwords.enumerated() {
            #expect(await database.verify(Self.login("user\(index)", password)), "\(password)")
            #expect(await !database.verify(Self.login("user\(index)", password + "x")), "\(password)")
        }
    }

    @Test func withoutLibcryptAHashIsRefusedAndSaysWhy() {
        let problem = #expect(throws: CryptHash.Problem.self) {
            try CryptHash(validating: Array("$6$salt$hash".utf8), method: "6", library: .failure(LibCrypt.LoadError(description: "libcrypt.so.1: cannot open shared object file")))
        }
        #expect(problem == .libcryptUnavailable("libcrypt.so.1: cannot open shared object file"))
        let reason = problem?.reason(forUser: "alice", method: "6") ?? ""
        #expect(reason.contains("alice") && reason.contains("libcrypt cannot be loaded") && reason.contains("cannot open shared object file"), "\(reason)")
    }

    @Test func unknownUsersPayForAHashOfTheMostCommonMethod() async throws {
        let yescrypt1 = try await HashSource.libcryptYescrypt.hash("one")
        let yescrypt2 = try await HashSource.libcryptYescrypt.hash("two")
        let sha512 = try await HashSource.opensslSHA512.hash("three")
        var database = try UserDatabase(["a": sha512, "b": yescrypt1, "c": yescrypt2, "d": "plain"])
        #expect(database.decoy?.method == "y")
        // The decoy has the setting of a real hash (same cost and salt), and no password of the users.
        #expect(database.decoy.map { Array($0.encoded.prefix(29)) } == Array(yescrypt1.utf8.prefix(29)))
        for password in ["one", "two", "three", "plain", ""] {
            #expect(await !database.verify(Self.login("nobody", password)))
        }
        // merge keeps users, count and the decoy in step.
        database.merge(try UserDatabase(["b": "now plain", "c": "also plain", "e": sha512]))
        #expect(database.count == 5)
        #expect(database.usernames == ["a", "b", "c", "d", "e"])
        #expect(database.decoy?.method == "6")
        #expect(await database.verify(Self.login("b", "now plain")))
        #expect(await database.verify(Self.login("e", "three")))
        #expect(await !database.verify(Self.login("b", "one")))
        database.merge(try UserDatabase(["a": "plain", "e": "plain"]))
        #expect(database.decoy == nil)
        // Equality and hashing are about users and secrets.
        #expect(try UserDatabase(["x": yescrypt1, "y": "pw"]) == UserDatabase(usersFile: "y:pw\nx:\(yescrypt1)"))
        #expect(try UserDatabase(["x": yescrypt1]) != UserDatabase(["x": yescrypt2]))
        #expect(try Set([UserDatabase(["x": yescrypt1]), UserDatabase(["x": yescrypt1])]).count == 1)
    }

    @Test func hashedUsersLogInOverLoopback() async throws {
        let alice = try await HashSource.libcryptYescrypt.hash("wonderland")
        let bob = try await HashSource.opensslSHA512.hash("builder")
        let users = try UserDatabase(usersFile: "# hashed\nalice:\(alice)\nbob:\(bob)\ncarol:$plain$\n")
        let harness = try ServerHarness { $0.users = users }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        for (username, password) in [("alice", "wonderland"), ("bob", "builder"), ("carol", "$plain$")] {
            let (client, reply) = try await SOCKSTestClient.open(
                harness.address, to: SOCKSEndpoint(echo.address), credentials: Self.login(username, password))
            #expect(reply.code == .succeeded)
            try await client.send([7])
            #expect(try await client.receive(exactly: 1) == [7])
            client.close()
        }
        for (username, password) in [("alice", "builder"), ("bob", bob), ("dave", "wonderland")] {
            let client = try await SOCKSTestClient.connect(to: harness.address)
            try await client.send(SOCKSGreeting(methods: [.usernamePassword]).encoded())
            #expect(try await client.receive(exactly: 2) == [0x05, 0x02])
            try await client.send(Self.login(username, password).encoded())
            #expect(try await client.receive(exactly: 2) == [0x01, 0x01], "\(username)")
            #expect(try await client.closesWithin(.seconds(5)))
        }
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("user=alice command=connect") } })
        #expect(!harness.log.all.contains { $0.contains("wonderland") }, "a password reached the log")
        await harness.stop()
    }

    /// 200 clients log in at once against a costly yescrypt hash; meanwhile a client of another server (on
    /// the same event loops, without logins: a login of this one waits its turn on the password pool too)
    /// is served a CONNECT. Were the hashes computed on the event loops, it would wait for seconds behind
    /// them (some 9 s here when they were); on the password pool it takes milliseconds.
    @Test(.timeLimit(.minutes(2)))
    func aFloodOfHashedLoginsDoesNotHoldUpOtherClients() async throws {
        // Cost 7: some 4 times the default, tens of milliseconds a check.
        let slow = try Self.libcryptHash("flood", prefix: "$y$", cost: 7)
        let users = try UserDatabase(["alice": slow])
        // A handshake deadline longer than the checker's own wait (10 s), so that on a busy machine every
        // flooding client still hears its answer, accepted or refused, rather than a closed connection.
        let harness = try ServerHarness {
            $0.users = users
            $0.handshakeTimeout = .seconds(60)
        }
        let open = try ServerHarness()
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }

        // From 200 addresses: one address gets only as many logins checked at once as it has tries left
        // (login throttling), while 200 addresses together fill the checker's queue.
        let flood = (0..<200).map { index in
            Task { () -> Bool? in
                let source = IPAddress(bytes: [127, 0, 1, UInt8(index)])!
                guard let client = try? await SOCKSTestClient.connect(to: harness.address, from: source) else { return nil }
                defer { client.close() }
                try? await client.send(SOCKSGreeting(methods: [.usernamePassword]).encoded())
                guard (try? await client.receive(exactly: 2)) == [0x05, 0x02] else { return nil }
                try? await client.send(Self.login("alice", "flood").encoded())
                guard let status = try? await client.receive(exactly: 2) else { return nil }
                return status == [0x01, 0x00]
            }
        }
        // Let the flood reach the server first.
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        let (client, reply) = try await SOCKSTestClient.open(open.address, to: SOCKSEndpoint(echo.address), from: IPAddress("127.0.0.2")!)
        #expect(reply.code == .succeeded)
        try await client.send([1, 2, 3])
        #expect(try await client.receive(exactly: 3) == [1, 2, 3])
        client.close()
        let served = ContinuousClock.now - start
        #expect(served < .seconds(3), "the CONNECT took \(served) during the flood")

        var answers: [Bool?] = []
        for task in flood { answers.append(await task.value) }
        // Every flooding client got an answer: accepted, or refused because the queue was full.
        #expect(answers.allSatisfy { $0 != nil }, "\(answers.filter { $0 == nil }.count) flooding clients got no answer")
        #expect(answers.contains(true), "no flooding login went through")
        // A login the checker had no room for is no failed guess: it neither counts as one nor throttles.
        #expect(harness.server.metrics.failedLoginCount == 0)
        #expect(harness.server.metrics.uncheckedLoginCount == answers.filter { $0 == false }.count)
        await harness.stop()
        await open.stop()
    }

    /// While any user has a hash, a login costs one hash check on the password pool whoever it names: an
    /// unknown user and a plain-password user (right password or wrong) are checked against the decoy, so
    /// none answers sooner than a hashed user. Counted, since a unit test cannot tell costs apart by time.
    @Test func whileAnyUserHasAHashEveryLoginCostsAHashCheck() async throws {
        let hash = try Self.libcryptHash("wonderland", prefix: "$y$")
        let database = try UserDatabase(usersFile: "alice:\(hash)\nbob:builder\n")
        let logins = [("nobody", "wonderland", false), ("alice", "builder", false), ("alice", "wonderland", true), ("bob", "wonderland", false), ("bob", "builder", true)]
        for (username, password, accepted) in logins {
            let before = PasswordCheckPool.checksPerformed
            #expect(await database.verify(Self.login(username, password)) == accepted, "\(username)")
            #expect(PasswordCheckPool.checksPerformed > before, "the login of \(username) ran no hash check")
        }
    }

    /// With the password pool saturated, an unknown user, a hashed user and a plain-password user (right
    /// password or wrong) all get the same answer, over HTTP (503) and SOCKS5 (status 01, summarised as a
    /// busy checker): none is checked at once while the others wait, so the answer does not tell which
    /// users exist or how their secrets are stored. Once the pool is free, the plain user logs in again.
    @Test func aSaturatedCheckerAnswersEveryLoginAlike() async throws {
        let hash = try Self.libcryptHash("wonderland", prefix: "$y$")
        let harness = try ServerHarness { $0.users = try UserDatabase(usersFile: "alice:\(hash)\nbob:builder\n") }
        let logins = [("nobody", "builder"), ("alice", "builder"), ("bob", "wonderland"), ("bob", "builder")]
        try await Self.withSaturatedPasswordPool {
            for (index, (username, password)) in logins.enumerated() {
                let basic = Data("\(username):\(password)".utf8).base64EncodedString()
                let response = try await HTTPTestExchange.send(
                    "CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nProxy-Authorization: Basic \(basic)\r\n\r\n", to: harness.address)
                #expect(response.status == 503, "HTTP login of \(username):\(password)")

                let client = try await SOCKSTestClient.connect(to: harness.address, from: IPAddress(bytes: [127, 0, 2, UInt8(index + 1)])!)
                defer { client.close() }
                try await client.send(SOCKSGreeting(methods: [.usernamePassword]).encoded())
                #expect(try await client.receive(exactly: 2) == [0x05, 0x02])
                try await client.send(Self.login(username, password).encoded())
                #expect(try await client.receive(exactly: 2) == [0x01, 0x01], "SOCKS5 login of \(username):\(password)")
                #expect(try await client.closesWithin(.seconds(10)))
            }
        }
        // Every one was refused unchecked; none was checked and failed, none accepted.
        #expect(harness.server.metrics.uncheckedLoginCount == 2 * logins.count)
        #expect(harness.server.metrics.failedLoginCount == 0)
        #expect(!harness.log.all.contains { $0.contains("outcome=auth-failed") || $0.contains("command=connect") })

        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address), credentials: Self.login("bob", "builder"))
        #expect(reply.code == .succeeded)
        client.close()
        await harness.stop()
    }

    /// Runs `body` while every thread of the password pool is held and its queue is full of jobs that wait
    /// for the end of `body`: any check is then refused at once, as in a flood, without burning CPU.
    static func withSaturatedPasswordPool(_ body: () async throws -> Void) async throws {
        let gate = DispatchSemaphore(value: 0)
        let holding = HeldJobs()
        let pool = PasswordCheckPool.pool
        var jobs: [Task<Void, Never>] = []
        func release() async {
            for _ in jobs { gate.signal() }
            for job in jobs { await job.value }
        }
        for _ in 0..<PasswordCheckPool.threads {
            jobs.append(Task { _ = try? await pool.run { holding.count.add(1, ordering: .relaxed); gate.wait() } })
        }
        // A thread may still finish a check of an earlier test first: wait until all hold a job.
        let held = await TestSupport.eventually(.seconds(30)) { holding.count.load(ordering: .relaxed) == PasswordCheckPool.threads }
        for _ in 0..<PasswordCheckPool.maximumQueuedChecks {
            jobs.append(Task { _ = try? await pool.run { gate.wait() } })
        }
        let full = await TestSupport.eventually(.seconds(30)) { pool.queuedJobs == PasswordCheckPool.maximumQueuedChecks }
        do {
            try #require(held && full, "the password pool could not be saturated")
            try await body()
        } catch {
            await release()
            throw error
        }
        await release()
    }
}

/// How many of the jobs that hold the password pool's threads have started.
private final class HeldJobs: Sendable {
    let count = Atomic(0)
}
