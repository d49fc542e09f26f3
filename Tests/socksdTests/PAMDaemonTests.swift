import AsyncSockets
import Foundation
import Glibc
import SOCKSProtocol
import Testing
import TestSupport

/// `--pam-service` and `--pam-confdir` (keys `pam.service`, `pam.confdir`) against the real binary: logins
/// checked by a PAM service of the test's own (`pam_pwdfile.so` over a password file it writes, in a
/// directory of its own), through SOCKS5 and HTTP; what `--check-config` says of a PAM configuration; a host
/// without libpam; and what a few hundred PAM logins leave behind.
@Suite struct PAMDaemonTests {
    static let alice = SOCKSCredentials(username: "alice", password: "wonderland")

    static func fixture() async throws -> PAMFixture {
        try await PAMFixture(users: ["alice": "wonderland", "bob": "pam-bob"], services: ["socksd": PAMFixture.passwordService])
    }

    /// The status byte of a SOCKS5 username/password login (00 accepted).
    static func socks5LoginStatus(_ server: SocketAddress, _ credentials: SOCKSCredentials, from source: IPAddress? = nil) async throws -> UInt8 {
        let client = try await SOCKSTestClient.connect(to: server, from: source)
        defer { client.close() }
        try await client.send(SOCKSGreeting(methods: [.usernamePassword]).encoded())
        #expect(try await client.receive(exactly: 2) == [0x05, 0x02])
        try await client.send(credentials.encoded())
        return try await client.receive(exactly: 2)[1]
    }

    /// A forwarded `GET` with `Proxy-Authorization: Basic`: the response's status.
    static func httpStatus(_ server: SocketAddress, origin: SocketAddress, _ username: String, _ password: String) async throws -> Int {
        let basic = Data("\(username):\(password)".utf8).base64EncodedString()
        return try await HTTPTestExchange.send(
            "GET http://\(origin)/ HTTP/1.1\r\nHost: \(origin)\r\nProxy-Authorization: Basic \(basic)\r\nConnection: close\r\n\r\n", to: server
        ).status
    }

    /// A users file with bob beside the PAM service: bob logs in with the file's password, never PAM's;
    /// alice, who is only in PAM's password file, through SOCKS5 and HTTP, named in the access lines.
    @Test func theFlagsLogPAMUsersInBesideTheUsersFile() async throws {
        let fixture = try await Self.fixture()
        let usersFile = try TemporaryFile("bob:builder\n", name: "socksd-users")
        let (daemon, address) = try await DaemonProcess.startOnLoopback([
            "--users-file", usersFile.path, "--pam-service", "socksd", "--pam-confdir", fixture.directory,
        ])
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let origin = try LoopbackPeers.startHTTP(body: "hello")
        defer { origin.stop() }

        for credentials in [Self.alice, SOCKSCredentials(username: "bob", password: "builder")] {
            let (client, reply) = try await SOCKSTestClient.open(address, to: SOCKSEndpoint(echo.address), credentials: credentials)
            #expect(reply.code == .succeeded)
            try await client.send([42])
            #expect(try await client.receive(exactly: 1) == [42])
            client.close()
        }
        #expect(try await Self.socks5LoginStatus(address, SOCKSCredentials(username: "alice", password: "wrong")) == 0x01)
        #expect(try await Self.socks5LoginStatus(address, SOCKSCredentials(username: "bob", password: "pam-bob")) == 0x01)
        #expect(try await Self.httpStatus(address, origin: origin.address, "alice", "wonderland") == 200)
        #expect(try await Self.httpStatus(address, origin: origin.address, "alice", "wrong") == 407)

        #expect(await daemon.waitForLog { lines in
            lines.contains { $0.contains("protocol=socks5 user=alice command=connect") } && lines.contains { $0.contains("protocol=http user=alice command=GET") }
        }, "\(daemon.log)")
        #expect(daemon.log.contains("authentication required: 1 user(s), others through PAM service socksd"), "\(daemon.log)")
        #expect(!daemon.log.contains("wonderland"), "a password reached the log")
        #expect(try await daemon.stop() == 0)
    }

    /// PAM is told the client's address (PAM_RHOST) before `pam_authenticate`: a service whose account stack
    /// is `pam_access.so` over an access file that refuses 127.0.0.3 lets the same user with the same
    /// password in from 127.0.0.2 and not from 127.0.0.3. (pam_access wants a system account: `nobody`.)
    @Test func pamIsToldTheClientsAddress() async throws {
        let fixture = try await PAMFixture(
            users: ["nobody": "by-address"],
            services: ["socksd": "auth required pam_pwdfile.so pwdfile=PWDFILE\naccount required pam_access.so accessfile=DIR/access.conf\n"])
        try fixture.write("access.conf", "-:ALL:127.0.0.3\n+:ALL:ALL\n")
        let (daemon, address) = try await DaemonProcess.startOnLoopback(["--pam-service", "socksd", "--pam-confdir", fixture.directory])
        let nobody = SOCKSCredentials(username: "nobody", password: "by-address")
        #expect(try await Self.socks5LoginStatus(address, nobody, from: IPAddress("127.0.0.2")) == 0x00, "\(daemon.log)")
        #expect(try await Self.socks5LoginStatus(address, nobody, from: IPAddress("127.0.0.3")) == 0x01, "\(daemon.log)")
        #expect(try await Self.socks5LoginStatus(address, SOCKSCredentials(username: "nobody", password: "wrong"), from: IPAddress("127.0.0.2")) == 0x01)
        #expect(try await daemon.stop() == 0)
    }

    /// The `pam` section alone makes login required (no `users` needed); `--check-config` accepts it.
    @Test func thePAMSectionOfAConfigurationFile() async throws {
        let fixture = try await Self.fixture()
        let config = try TemporaryFile(
            #"{"listeners": ["127.0.0.1:0"], "pam": {"service": "socksd", "confdir": "\#(fixture.directory)"}}"#, name: "socksd-config")
        let check = try await ConfigurationDaemonTests.run(["--check-config", config.path])
        #expect(check.status == 0, "\(check.errors)")
        #expect(check.output == "\(config.path): OK\n")

        let daemon = try DaemonProcess(["--config", config.path])
        let address = SocketAddress(ip: .ipv4Loopback, port: try await daemon.port())
        #expect(try await Self.socks5LoginStatus(address, Self.alice) == 0x00)
        #expect(try await Self.socks5LoginStatus(address, SOCKSCredentials(username: "alice", password: "wrong")) == 0x01)
        // Without a login, nothing: the greeting's only method is refused.
        let client = try await SOCKSTestClient.connect(to: address)
        try await client.send(SOCKSGreeting(methods: [.noAuthentication]).encoded())
        #expect(try await client.receive(exactly: 2) == [0x05, 0xFF])
        client.close()
        #expect(try await daemon.stop() == 0)
    }

    /// What cannot be used is said, at its key or flag: a confdir without a service, a service the confdir has
    /// no file for, a name that is no file name, a `pam` section without its service.
    @Test func checkConfigReportsPAMProblems() async throws {
        let fixture = try await Self.fixture()
        let config = try TemporaryFile(#"{"listeners": ["127.0.0.1:0"], "pam": {"confdir": "\#(fixture.directory)"}}"#, name: "socksd-config")
        let result = try await ConfigurationDaemonTests.run(["--check-config", config.path])
        #expect(result.status == 64)
        #expect(result.errors == [
            "pam.service: required: the PAM service to check logins with, such as \"socksd\"",
            "pam.confdir: needs --pam-service (or pam.service in the configuration file)",
        ])

        let absent = try await ConfigurationDaemonTests.run(["--check-config", config.path, "--pam-service", "absent"])
        #expect(absent.status == 64)
        #expect(absent.errors.contains("pam.confdir: \(fixture.directory)/absent does not exist: PAM would fall back to the 'other' service"), "\(absent.errors)")

        let slash = try await ConfigurationDaemonTests.run(["--check-config", config.path, "--pam-service", "../socksd"])
        #expect(slash.errors.contains("--pam-service: '../socksd' is not a PAM service name (a file name in /etc/pam.d: not empty, without '/')"), "\(slash.errors)")

        // Serving with a service the directory lacks: a problem of the host (exit 1), before listening.
        let serving = try await runCommand(
            DaemonProcess.binaryPath, ["--listen", "127.0.0.1:0", "--pam-service", "absent", "--pam-confdir", fixture.directory], includeErrors: true)
        #expect(serving.status == 1)
        #expect(serving.output.contains("socksd: --pam-confdir: \(fixture.directory)/absent does not exist"), "\(serving.output)")
        #expect(!serving.output.contains("listening on"))
    }

    /// The file libpam.so.0 is loaded from here, as this process's own dlopen finds it.
    static func libpamPath() throws -> String {
        try libraryPath("libpam.so.0")
    }

    /// The file the library `soname` is loaded from here, as this process's own dlopen finds it (what a
    /// test hides from the daemon by a bind mount in a mount namespace of its own).
    static func libraryPath(_ soname: String) throws -> String {
        let handle = try #require(dlopen(soname, RTLD_NOW | RTLD_LOCAL), "\(soname) cannot be loaded here")
        defer { dlclose(handle) }
        let maps = try #require(ProcessResources.readWhole("/proc/self/maps"))
        let line = try #require(maps.split(separator: "\n").first { $0.contains("/\(soname)") }, "\(soname) is not mapped")
        let path = try #require(line.split(separator: " ", omittingEmptySubsequences: true).last.map(String.init))
        return URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    /// Runs socksd with `arguments` as on a host without `library` (a path from `libraryPath(_:)`): in a
    /// mount namespace of its own (`unshare`, propagation private), where a bind mount of `/dev/null` hides the
    /// library from socksd alone and goes away with the namespace.
    static func runSocksd(without library: String, _ arguments: [String], environment: [String: String] = [:]) async throws
        -> (status: Int32, output: String)
    {
        let hide = "mount --bind /dev/null \"$1\" && shift && exec \"$@\""
        return try await runCommand(
            "/usr/bin/unshare", ["--mount", "/bin/sh", "-c", hide, "sh", library, DaemonProcess.binaryPath] + arguments, includeErrors: true,
            environment: environment)
    }

    /// On a host without libpam (here: a mount namespace of the test's own in which the library is an empty
    /// file), asking for PAM is a configuration problem that says what is missing: `--check-config` and
    /// start-up both exit 64, start-up before listening.
    @Test func withoutLibpamPAMIsAConfigurationProblem() async throws {
        let fixture = try await Self.fixture()
        let library = try Self.libpamPath()
        let config = try TemporaryFile(
            #"{"listeners": ["127.0.0.1:0"], "pam": {"service": "socksd", "confdir": "\#(fixture.directory)"}}"#, name: "socksd-config")
        let check = try await Self.runSocksd(without: library, ["--check-config", config.path])
        #expect(check.status == 64, "\(check.output)")
        #expect(check.output.contains("pam.service: PAM logins need libpam.so.0 (Debian: libpam0g), which cannot be loaded: "), "\(check.output)")

        let serving = try await Self.runSocksd(
            without: library, ["--listen", "127.0.0.1:0", "--pam-service", "socksd", "--pam-confdir", fixture.directory])
        #expect(serving.status == 64, "\(serving.output)")
        #expect(serving.output.contains("socksd: --pam-service: PAM logins need libpam.so.0"), "\(serving.output)")
        #expect(!serving.output.contains("listening on"))
        // A configuration without PAM passes there: only asking for PAM needs libpam.
        let plainConfig = try TemporaryFile(#"{"listeners": ["127.0.0.1:0"], "users": {"bob": "builder"}}"#, name: "socksd-config")
        let plain = try await Self.runSocksd(without: library, ["--check-config", plainConfig.path])
        #expect(plain.status == 0, "\(plain.output)")
    }

    /// A few hundred PAM logins (three of four right, with a relay; one of four wrong) give back every
    /// descriptor and leave the resident set where it was: each login's PAM handle, the modules it loads
    /// and the conversation's answers are all freed. Login throttling is off, so that the wrong passwords
    /// keep being checked.
    @Test(.timeLimit(.minutes(5))) func pamLoginsGiveBackWhatTheyHold() async throws {
        let fixture = try await Self.fixture()
        LoopbackPeers.raiseDescriptorLimit()
        let (daemon, address) = try await DaemonProcess.startOnLoopback(
            ["--pam-service", "socksd", "--pam-confdir", fixture.directory, "--auth-failures", "0", "--log-level", "warning"],
            environment: ResourceCheck.leakRevealingEnvironment)
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        var check = ResourceCheck(
            subjects: [ResourceCheck.Subject(name: "PAM logins", daemon: daemon)], residentGrowthLimitKiB: DaemonResourceTests.residentGrowthLimitKiB)
        check.sessions = 400
        check.warmUpSessions = 200
        check.concurrency = 4
        try await check.run { index in
            if index % 4 == 3 {
                let status = try await Self.socks5LoginStatus(address, SOCKSCredentials(username: "alice", password: "wrong \(index)"))
                guard status == 0x01 else { throw SOCKSTestClient.Failure.unexpected([status]) }
                return
            }
            let (client, reply) = try await SOCKSTestClient.open(address, to: SOCKSEndpoint(echo.address), credentials: Self.alice)
            defer { client.close() }
            guard reply.code == .succeeded else { throw SOCKSTestClient.Failure.unexpected(reply.encoded()) }
            try await client.send([UInt8(truncatingIfNeeded: index)])
            guard try await client.receive(exactly: 1) == [UInt8(truncatingIfNeeded: index)] else { throw SOCKSTestClient.Failure.unexpected([]) }
        }
        #expect(try await daemon.stop() == 0)
    }
}
