import Foundation
import SOCKSProtocol
import Testing
import TestSupport
@testable import AsyncSockets
@testable import SOCKSServer

extension HashedPasswordTests {
    /// Logins of names not in the users checked through a PAM service (`UserDatabase.pam`): a service of the
    /// test's own in a directory of its own (`pam_start_confdir`), whose stack is `pam_pwdfile.so` over a
    /// password file of SHA-512 hashes, through SOCKS5 and HTTP Basic, on the password-check pool.
    ///
    /// Nested in `HashedPasswordTests` for its `.serialized`: PAM logins take turns on the same process-wide
    /// password pool that some of those tests fill on purpose, and one test here holds a pool thread.
    @Suite struct PAMLoginTests {
        static let alice = SOCKSCredentials(username: "alice", password: "wonderland")

        /// A fixture with alice, slow, and bob (whose password differs from his users-file one) in the
        /// password file, and the services `socksd` (logins pass) and `refused` (the account stack denies all).
        static func fixture() async throws -> PAMFixture {
            try await PAMFixture(
                users: ["alice": "wonderland", "bob": "pam-bob", "slow": "tortoise"],
                services: ["socksd": PAMFixture.passwordService, "refused": PAMFixture.refusedAccountService])
        }

        /// A users database with bob (a plain password) and the PAM service `service` of `fixture`.
        static func users(_ fixture: PAMFixture, service: String = "socksd") throws -> UserDatabase {
            var users = try UserDatabase(["bob": "builder"])
            users.pam = try PAMService(name: service, configurationDirectory: fixture.directory)
            return users
        }

        /// The status byte of a SOCKS5 username/password login (00 accepted, 01 refused); the client is
        /// closed after it.
        static func socks5LoginStatus(_ server: SocketAddress, _ credentials: SOCKSCredentials, from source: IPAddress? = nil) async throws -> UInt8 {
            let client = try await SOCKSTestClient.connect(to: server, from: source)
            defer { client.close() }
            try await client.send(SOCKSGreeting(methods: [.usernamePassword]).encoded())
            #expect(try await client.receive(exactly: 2) == [0x05, 0x02])
            try await client.send(credentials.encoded())
            let status = try await client.receive(exactly: 2)
            #expect(status[0] == 0x01)
            return status[1]
        }

        /// A forwarded `GET` through the proxy with `Proxy-Authorization: Basic`: the response's status.
        static func httpStatus(_ server: SocketAddress, origin: SocketAddress, _ username: String, _ password: String) async throws -> Int {
            let basic = Data("\(username):\(password)".utf8).base64EncodedString()
            let response = try await HTTPTestExchange.send(
                "GET http://\(origin)/ HTTP/1.1\r\nHost: \(origin)\r\nProxy-Authorization: Basic \(basic)\r\nConnection: close\r\n\r\n", to: server)
            return response.status
        }

        @Test func pamChecksTheRightPasswordOnlyAndNamesTheUser() async throws {
            let fixture = try await Self.fixture()
            let users = try Self.users(fixture)
            let before = PasswordCheckPool.checksPerformed
            #expect(await users.check(Self.alice) == .accepted(user: "alice"))
            #expect(PasswordCheckPool.checksPerformed > before, "the PAM login did not run on the password pool")
            #expect(await users.check(SOCKSCredentials(username: "alice", password: "Wonderland")) == .rejected)
            #expect(await users.check(SOCKSCredentials(username: "carol", password: "wonderland")) == .rejected)
            // A zero byte would cut the password short for PAM: refused without asking it.
            #expect(await users.check(SOCKSCredentials(username: Array("alice".utf8), password: Array("wonderland".utf8) + [0, 0x21])) == .rejected)
            // bob is a user of the database: his own password, never PAM's.
            #expect(await users.check(SOCKSCredentials(username: "bob", password: "builder")) == .accepted(user: nil))
            #expect(await users.check(SOCKSCredentials(username: "bob", password: "pam-bob")) == .rejected)
            // The service is part of the database's value (a reload that changes it is a change).
            var other = users
            other.pam = try PAMService(name: "refused", configurationDirectory: fixture.directory)
            #expect(other != users)
        }

        @Test func pamLoginsThroughSOCKS5AndHTTP() async throws {
            let fixture = try await Self.fixture()
            let users = try Self.users(fixture)
            let harness = try ServerHarness { $0.users = users }
            let echo = try LoopbackPeers.startEcho()
            defer { echo.stop() }
            let origin = try LoopbackPeers.startHTTP(body: "hello")
            defer { origin.stop() }

            for credentials in [Self.alice, SOCKSCredentials(username: "bob", password: "builder")] {
                let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address), credentials: credentials)
                #expect(reply.code == .succeeded)
                try await client.send([7, 8])
                #expect(try await client.receive(exactly: 2) == [7, 8])
                client.close()
            }
            for (username, password) in [("alice", "Wonderland"), ("carol", "wonderland"), ("bob", "pam-bob")] {
                #expect(try await Self.socks5LoginStatus(harness.address, SOCKSCredentials(username: username, password: password)) == 0x01, "\(username)")
            }
            #expect(try await Self.httpStatus(harness.address, origin: origin.address, "alice", "wonderland") == 200)
            #expect(try await Self.httpStatus(harness.address, origin: origin.address, "alice", "wrong") == 407)
            #expect(try await Self.httpStatus(harness.address, origin: origin.address, "bob", "pam-bob") == 407)

            #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("protocol=socks5 user=alice command=connect") } })
            #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("protocol=http user=alice command=GET") } })
            #expect(harness.server.metrics.failedLoginCount == 5)
            #expect(!harness.log.all.contains { $0.contains("wonderland") }, "a password reached the log")
            await harness.stop()
        }

        /// pam_acct_mgmt refusing the account (pam_deny.so in the account stack) refuses the login, right
        /// password and all, as a failed login.
        @Test func anAccountPAMRefusesCannotLogIn() async throws {
            let fixture = try await Self.fixture()
            let users = try Self.users(fixture, service: "refused")
            #expect(await users.check(Self.alice) == .rejected)
            let harness = try ServerHarness { $0.users = users }
            let origin = try LoopbackPeers.startHTTP(body: "hello")
            defer { origin.stop() }
            #expect(try await Self.socks5LoginStatus(harness.address, Self.alice) == 0x01)
            #expect(try await Self.httpStatus(harness.address, origin: origin.address, "alice", "wonderland") == 407)
            #expect(harness.server.metrics.failedLoginCount == 2)
            await harness.stop()
        }

        /// Failed PAM logins count towards the client's backoff like any other: after `loginFailureLimit`
        /// of them, even the right password is refused without asking PAM; another client still logs in.
        @Test func failedPAMLoginsThrottleTheirIP() async throws {
            let fixture = try await Self.fixture()
            let users = try Self.users(fixture)
            let harness = try ServerHarness {
                $0.users = users
                $0.loginFailureLimit = 3
                $0.loginBackoff = .seconds(60)
            }
            let throttled = IPAddress("127.0.0.2")!
            for password in ["a", "b", "c"] {
                #expect(try await Self.socks5LoginStatus(harness.address, SOCKSCredentials(username: "alice", password: password), from: throttled) == 0x01)
            }
            let before = PasswordCheckPool.checksPerformed
            #expect(try await Self.socks5LoginStatus(harness.address, Self.alice, from: throttled) == 0x01)
            #expect(PasswordCheckPool.checksPerformed == before, "a throttled login was sent to PAM")
            #expect(harness.server.metrics.failedLoginCount == 3)
            #expect(harness.server.metrics.throttledLoginCount == 1)
            #expect(try await Self.socks5LoginStatus(harness.address, Self.alice, from: IPAddress("127.0.0.3")!) == 0x00)
            await harness.stop()
        }

        /// A PAM login takes a turn on the password pool's bounded queue: with the pool saturated it is
        /// refused unchecked (HTTP 503, SOCKS5 status 01, no failed login), as a hashed one is.
        @Test func pamLoginsWaitTheirTurnOnThePasswordPool() async throws {
            let fixture = try await Self.fixture()
            let users = try Self.users(fixture)
            let harness = try ServerHarness { $0.users = users }
            try await HashedPasswordTests.withSaturatedPasswordPool {
                let response = try await HTTPTestExchange.send(
                    "CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nProxy-Authorization: Basic \(Data("alice:wonderland".utf8).base64EncodedString())\r\n\r\n",
                    to: harness.address)
                #expect(response.status == 503)
                #expect(try await Self.socks5LoginStatus(harness.address, Self.alice, from: IPAddress("127.0.0.2")!) == 0x01)
            }
            #expect(harness.server.metrics.uncheckedLoginCount == 2)
            #expect(harness.server.metrics.failedLoginCount == 0)
            #expect(try await Self.socks5LoginStatus(harness.address, Self.alice) == 0x00)
            await harness.stop()
        }

        /// A PAM stack that takes its time (pam_exec.so running a script that waits for the test's word) holds
        /// one password-pool thread, and nothing else: meanwhile a user of the database logs in and relays,
        /// a PAM login of another user goes through on another thread, and a session of a server without
        /// logins (on the same event loops) is served. Then the slow login ends, accepted.
        @Test(.timeLimit(.minutes(2))) func aSlowPAMStackDoesNotStallOtherSessions() async throws {
            let fixture = try await Self.fixture()
            // The script waits (at most 60 s) for the file `gate` when the user is `slow`, after saying it started.
            try fixture.write(
                "wait-for-gate",
                """
                #!/bin/sh
                [ "$PAM_USER" = slow ] || exit 0
                /usr/bin/touch DIR/started
                i=0
                while [ ! -e DIR/gate ] && [ $i -lt 1200 ]; do /bin/sleep 0.05; i=$((i + 1)); done
                exit 0

                """, executable: true)
            try fixture.write("slow", "auth required pam_exec.so quiet DIR/wait-for-gate\n" + PAMFixture.passwordService)
            let users = try Self.users(fixture, service: "slow")
            let harness = try ServerHarness {
                $0.users = users
                $0.handshakeTimeout = .seconds(60)
            }
            let open = try ServerHarness()
            let echo = try LoopbackPeers.startEcho()
            defer { echo.stop() }

            let slowLogin = Task {
                try await Self.socks5LoginStatus(harness.address, SOCKSCredentials(username: "slow", password: "tortoise"), from: IPAddress("127.0.0.2")!)
            }
            let started = await TestSupport.eventually(.seconds(30)) { FileManager.default.fileExists(atPath: fixture.directory + "/started") }
            try #require(started, "the slow PAM stack did not start")

            for (server, credentials) in [(harness.address, SOCKSCredentials(username: "bob", password: "builder")), (harness.address, Self.alice)] {
                let (client, reply) = try await SOCKSTestClient.open(server, to: SOCKSEndpoint(echo.address), credentials: credentials)
                #expect(reply.code == .succeeded)
                try await client.send([1, 2, 3])
                #expect(try await client.receive(exactly: 3) == [1, 2, 3])
                client.close()
            }
            let (client, reply) = try await SOCKSTestClient.open(open.address, to: SOCKSEndpoint(echo.address))
            #expect(reply.code == .succeeded)
            client.close()
            // All of that while the slow login was still held in its module.
            #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/gate"))

            #expect(FileManager.default.createFile(atPath: fixture.directory + "/gate", contents: nil))
            #expect(try await slowLogin.value == 0x00)
            await harness.stop()
            await open.stop()
        }

        /// A reload that ends the sessions of removed users keeps those PAM logged in while the new users
        /// still have a PAM service (PAM might accept them still), and ends them once it has none.
        @Test func aReloadEndsPAMSessionsOnlyWhenPAMIsGone() async throws {
            let fixture = try await Self.fixture()
            let harness = try ServerHarness { $0.users = try Self.users(fixture) }
            let echo = try LoopbackPeers.startEcho()
            defer { echo.stop() }
            let (kept, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address), credentials: Self.alice)
            #expect(reply.code == .succeeded)
            defer { kept.close() }

            var configuration = harness.server.configuration
            configuration.users = try Self.users(fixture)
            #expect(try await harness.server.reload(configuration, endingSessionsOfRemovedUsers: true).endedSessions == 0)
            try await kept.send([1])
            #expect(try await kept.receive(exactly: 1) == [1], "alice's PAM session ended while PAM still checks logins")

            configuration.users?.pam = nil
            #expect(try await harness.server.reload(configuration, endingSessionsOfRemovedUsers: true).endedSessions == 1)
            #expect(try await kept.closesWithin(.seconds(10)))
            await harness.stop()
        }

        /// Services that cannot be used are refused when the database is made, each saying why.
        @Test func unusableServicesAreRefusedAndSayWhy() async throws {
            let fixture = try await Self.fixture()
            #expect(throws: PAMService.Problem.serviceFileMissing(fixture.directory + "/absent")) {
                try PAMService(name: "absent", configurationDirectory: fixture.directory)
            }
            for name in ["", "../socksd", "a\u{0}b"] {
                #expect(throws: PAMService.Problem.invalidName(name)) { try PAMService(name: name, configurationDirectory: fixture.directory) }
            }
            let missing = LibPAM.load(name: "libpam-socksd-test-absent.so.0")
            guard case .failure(let error) = missing else {
                Issue.record("a library that does not exist was loaded")
                return
            }
            let problem = #expect(throws: PAMService.Problem.self) {
                try PAMService(name: "socksd", configurationDirectory: nil, library: missing)
            }
            #expect(problem == .libpamUnavailable(error.description))
            #expect(problem?.description.contains("libpam.so.0") == true && problem?.description.contains("cannot open shared object file") == true, "\(problem?.description ?? "")")
            // Service names are read lower-cased, as Linux-PAM does.
            #expect(try PAMService(name: "SOCKSD", configurationDirectory: fixture.directory).name == "SOCKSD")
        }
    }
}
