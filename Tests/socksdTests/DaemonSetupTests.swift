import AsyncSockets
import Foundation
import SOCKSProtocol
import SOCKSServer
import Testing

@testable import socksd

/// `DaemonSetup.load`: the configuration file mapped to what the daemon runs with, the flags laid over it,
/// and the problems only the daemon can find (files, names, log and upstream names), each with its path.
/// In-process: nothing here listens (names are numeric, so nothing leaves the machine either).
@Suite struct DaemonSetupTests {
    static func options(_ arguments: [String]) throws -> CommandLineOptions {
        try CommandLineOptions(arguments: arguments)
    }

    static func load(_ arguments: [String]) async throws -> DaemonSettings {
        try await DaemonSetup.load(try options(arguments))
    }

    /// The problems `load` reports, as printed.
    static func problems(_ arguments: [String]) async throws -> [String] {
        let options = try options(arguments)
        do {
            _ = try await DaemonSetup.load(options)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    static let file = """
        {
          "listeners": ["127.0.0.1:1080", {"address": "[::1]:1081"}],
          "users": {"alice": "secret",
                    "carol": {"password": "pw", "rules": [{"allow": "intranet.example"}], "maxSessions": 5, "bandwidth": 1048576}},
          "allowFrom": ["203.0.113.0/24"],
          "allowOpenProxy": true,
          "rules": [{"deny": "private"}, {"allow": "example.com:443"}],
          "limits": {"maxSessions": 10000, "maxSessionsPerIP": 200, "maxSessionsPerUser": 100,
                     "maxUDPAssociations": 1000, "newSessionsPerIP": "20/s", "authFailures": 3},
          "timeouts": {"handshake": 5, "connect": 2.5, "idle": 600, "udp": 30, "bind": 7, "drain": 90},
          "udp": {"advertise": "198.51.100.7", "fullCone": true},
          "upstream": {"url": "socks5://bob:pw@127.0.0.1:9", "udp": "associate"},
          "log": {"level": "warning", "file": "/tmp/socksd.log", "format": "json"},
          "metrics": {"listen": "127.0.0.1:9150"},
          "reload": {"endSessionsOfRemovedUsers": true}
        }
        """

    @Test func everyKeyReachesTheSettings() async throws {
        let config = try TemporaryFile(Self.file, name: "socksd-config")
        let settings = try await Self.load(["--config", config.path])
        let server = settings.server
        #expect(server.listenAddresses == [SocketAddress(ip: .ipv4Loopback, port: 1080), SocketAddress(ip: IPAddress("::1")!, port: 1081)])
        #expect(server.users?.usernames == ["alice", "carol"])
        let carolRules = DestinationRules([try DestinationRule(action: .allow, parsing: "intranet.example")])
        #expect(server.userPolicies == ["carol": UserPolicy(destinationRules: carolRules, maxSessions: 5, bandwidthLimit: 1_048_576)])
        #expect(server.allowFrom == [try IPNetwork(parsing: "203.0.113.0/24")] && server.allowOpenProxy)
        #expect(server.destinationRules.rules.map(\.description) == ["deny-to private", "allow-to example.com:443"])
        #expect(server.maxSessions == 10000 && server.maxSessionsPerIP == 200 && server.maxSessionsPerUser == 100)
        #expect(server.maxUDPAssociations == 1000 && server.newSessionsPerIP == SessionRate(count: 20, per: .seconds(1)))
        #expect(server.loginFailureLimit == 3)
        #expect(server.handshakeTimeout == .seconds(5) && server.connectTimeout == .milliseconds(2500) && server.idleTimeout == .seconds(600))
        #expect(server.udpTimeout == .seconds(30) && server.bindTimeout == .seconds(7) && settings.drainTimeout == .seconds(90))
        #expect(server.udpAdvertiseAddress == IPAddress("198.51.100.7") && server.udpFullCone)
        #expect(server.upstream?.redactedURL == "socks5://bob@127.0.0.1:9" && server.upstream?.udpTransport == .associate)
        #expect(server.logger.level == .warning && settings.logLevel == .warning)
        #expect(settings.logFile == "/tmp/socksd.log" && settings.logFormat == .json)
        #expect(settings.metricsListen == [SocketAddress(ip: .ipv4Loopback, port: 9150)])
        #expect(settings.endSessionsOfRemovedUsers)
        // Secrets in a file are not on the command line: nothing to warn about.
        #expect(settings.warnings == [])
    }

    /// Without `--config`, the flags alone, with the defaults of before.
    @Test func withoutAFileTheDefaultsHold() async throws {
        let settings = try await Self.load([])
        let defaults = SOCKSServer.Configuration()
        #expect(settings.server.listenAddresses == defaults.listenAddresses)
        #expect(settings.server.users == nil && settings.server.userPolicies.isEmpty)
        #expect(settings.server.handshakeTimeout == .seconds(10) && settings.server.idleTimeout == nil)
        #expect(settings.server.loginFailureLimit == 10 && settings.server.upstream == nil)
        #expect(settings.logLevel == .info && settings.logFile == nil && settings.logFormat == .text)
        #expect(settings.metricsListen.isEmpty && !settings.endSessionsOfRemovedUsers)
        #expect(settings.drainTimeout == .seconds(3600))
    }

    /// The daemon spins 50 µs by default (the library never does unless asked): `performance.spinMicroseconds`
    /// changes that, and `--spin-microseconds` wins over the file.
    @Test func theDaemonSpins50MicrosecondsUnlessToldOtherwise() async throws {
        #expect(try await Self.load([]).spinMicroseconds == 50)
        let config = try TemporaryFile(#"{"listeners": ["127.0.0.1:1080"], "performance": {"spinMicroseconds": 7}}"#, name: "socksd-config")
        #expect(try await Self.load(["--config", config.path]).spinMicroseconds == 7)
        #expect(try await Self.load(["--config", config.path, "--spin-microseconds", "0"]).spinMicroseconds == 0)
        #expect(throws: (any Error).self) { try Self.options(["--spin-microseconds", "10001"]) }
        #expect(throws: (any Error).self) { try Self.options(["--spin-microseconds", "-1"]) }
    }

    /// A flag given replaces its key; a repeatable flag replaces the whole list (`--user` the users and
    /// their settings with them); a key without a flag given stays.
    @Test func flagsOverrideTheFile() async throws {
        let config = try TemporaryFile(Self.file, name: "socksd-config")
        let settings = try await Self.load([
            "--config", config.path, "--listen", "127.0.0.1:2080", "--user", "dave:pw2", "--allow-to", "*",
            "--handshake-timeout", "1.5", "--drain-timeout", "2.5", "--auth-failures", "0", "--log-level", "debug", "--log-format", "text", "--log-file", "/tmp/other.log",
            "--metrics-listen", "127.0.0.1:9151", "--metrics-listen", "[::1]:9151", "--upstream-udp", "uot", "--allow-from", "10.0.0.0/8",
        ])
        let server = settings.server
        #expect(server.listenAddresses == [SocketAddress(ip: .ipv4Loopback, port: 2080)])
        #expect(server.users?.usernames == ["dave"] && server.userPolicies.isEmpty)
        #expect(server.destinationRules.rules.map(\.description) == ["allow-to *"])
        #expect(server.allowFrom == [try IPNetwork(parsing: "10.0.0.0/8")])
        #expect(server.handshakeTimeout == .milliseconds(1500) && server.connectTimeout == .milliseconds(2500))
        #expect(settings.drainTimeout == .milliseconds(2500))
        #expect(server.loginFailureLimit == 0 && server.maxSessions == 10000)
        #expect(server.upstream?.udpTransport == .udpOverTCP(.v2) && server.upstream?.redactedURL == "socks5://bob@127.0.0.1:9")
        #expect(settings.logLevel == .debug && settings.logFormat == .text && settings.logFile == "/tmp/other.log")
        #expect(settings.metricsListen == [SocketAddress(ip: .ipv4Loopback, port: 9151), SocketAddress(ip: IPAddress("::1")!, port: 9151)])
        #expect(settings.warnings == ["--user puts passwords on the command line, where other local users can read them; use --users-file"])
    }

    /// A users file named by the file or by `--users-file` is read; the inline users win on a name in
    /// both, and keep their settings.
    @Test func usersFileAndInlineUsersMerge() async throws {
        let users = try TemporaryFile("alice:from-file\nzoe:z\n", name: "socksd-users")
        let config = try TemporaryFile("""
            {"listeners": ["127.0.0.1:0"], "usersFile": "\(users.path)",
             "users": {"alice": {"password": "inline", "maxSessions": 2}}}
            """, name: "socksd-config")
        let settings = try await Self.load(["--config", config.path])
        let database = try #require(settings.server.users)
        #expect(database.usernames == ["alice", "zoe"])
        #expect(await database.verify(SOCKSCredentials(username: "alice", password: "inline")))
        #expect(await database.verify(SOCKSCredentials(username: "zoe", password: "z")))
        #expect(settings.server.userPolicies["alice"]?.maxSessions == 2)
    }

    /// The problems only the daemon finds, with the file's problems, all at once, each at its path: a users
    /// file that cannot be read (an `.environment` problem), names of the log and the upstream's UDP.
    @Test func theDaemonsProblemsComeWithTheFiles() async throws {
        let config = try TemporaryFile("""
            {"listeners": ["127.0.0.1:0"], "usersFile": "/nonexistent/users", "limits": {"maxSessions": 0},
             "log": {"level": "loud", "format": "xml"}, "upstream": {"url": "socks5://127.0.0.1:9", "udp": "tcp"}}
            """, name: "socksd-config")
        let options = try Self.options(["--config", config.path])
        do {
            _ = try await DaemonSetup.load(options)
            Issue.record("loaded")
        } catch {
            #expect(error.problems.map(\.description) == [
                "limits.maxSessions: must be a whole number from 1 to 10000000, not 0",
                "usersFile: cannot read /nonexistent/users: No such file or directory",
                "upstream.udp: must be uot, uot1 or associate, not 'tcp'",
                "log.level: must be debug, info, warning or error, not 'loud'",
                "log.format: must be text or json, not 'xml'",
            ])
            #expect(error.problems.map(\.kind) == [.invalid, .environment, .invalid, .invalid, .invalid])
        }
    }

    /// A problem with a value a flag gave names the flag.
    @Test(arguments: [
        (["--users-file", "/nonexistent/users"], "--users-file: cannot read /nonexistent/users: No such file or directory"),
        (["--upstream-password-file", "/x"], "--upstream-password-file: needs --upstream (or upstream.url in the configuration file)"),
        (["--upstream", "socks5://alice@127.0.0.1:9"],
         "--upstream: 'socks5://alice@127.0.0.1:9' names a user but no password (give the password with --upstream-password-file or SOCKSD_UPSTREAM_PASSWORD)"),
        (["--config", "/nonexistent/socksd.json"], "--config: cannot read /nonexistent/socksd.json: No such file or directory"),
        (["--check-config", "/nonexistent/socksd.json"], "--check-config: cannot read /nonexistent/socksd.json: No such file or directory"),
        (["--user", "bob:"], "--user: password must be 1 to 255 bytes"),
    ])
    func aFlagsProblemNamesTheFlag(arguments: [String], problem: String) async throws {
        // SOCKSD_UPSTREAM_PASSWORD may be set around the tests: only the cases without one rely on it being
        // absent, and a URL with a user and no password is refused either way when it is empty.
        if arguments.first == "--upstream", ProcessInfo.processInfo.environment["SOCKSD_UPSTREAM_PASSWORD"]?.isEmpty == false { return }
        #expect(try await Self.problems(arguments) == [problem])
    }

    /// The upstream from the file: the password file named there is read; a URL that names a user and no
    /// password points at `upstream.passwordFile`.
    @Test func upstreamPasswordFileFromTheFile() async throws {
        let password = try TemporaryFile("pw-from-file\n", name: "socksd-upstream-password")
        let config = try TemporaryFile(
            #"{"listeners": ["127.0.0.1:0"], "upstream": {"url": "socks5://bob@127.0.0.1:9", "passwordFile": "\#(password.path)"}}"#,
            name: "socksd-config")
        let settings = try await Self.load(["--config", config.path])
        #expect(settings.server.upstream?.credentials == SOCKSCredentials(username: "bob", password: "pw-from-file"))
        #expect(settings.warnings == [])
        if ProcessInfo.processInfo.environment["SOCKSD_UPSTREAM_PASSWORD"]?.isEmpty ?? true {
            let bare = try TemporaryFile(#"{"listeners": ["127.0.0.1:0"], "upstream": {"url": "socks5://bob@127.0.0.1:9"}}"#, name: "socksd-config")
            #expect(try await Self.problems(["--config", bare.path]) == [
                "upstream.url: 'socks5://bob@127.0.0.1:9' names a user but no password (give the password with upstream.passwordFile or SOCKSD_UPSTREAM_PASSWORD)"
            ])
        }
    }

    // MARK: The new flags

    @Test func theNewFlagsParse() throws {
        let options = try Self.options([
            "--config", "/etc/socksd.json", "--log-file", "/var/log/socksd.log", "--log-format", "json",
            "--metrics-listen", "127.0.0.1:9150", "--metrics-listen=[::1]:9150",
        ])
        #expect(options.mode == .serve && options.configFile == "/etc/socksd.json")
        #expect(options.logFile == "/var/log/socksd.log" && options.logFormat == .json)
        #expect(options.metricsListen == [HostAndPort(host: "127.0.0.1", port: 9150), HostAndPort(host: "::1", port: 9150)])
        let check = try Self.options(["--check-config", "socksd.json", "--listen", "127.0.0.1:0"])
        #expect(check.mode == .checkConfig && check.configFile == "socksd.json")
        // The same file twice is one file.
        #expect(try Self.options(["--config", "a.json", "--check-config", "a.json"]).mode == .checkConfig)
    }

    @Test(arguments: [
        (["--config", "a.json", "--check-config", "b.json"], "--check-config: one configuration file at a time"),
        (["--log-format", "xml"], "--log-format must be text or json, not 'xml'"),
        (["--log-file", ""], "--log-file needs a file name"),
        (["--metrics-listen", "9150"], "--metrics-listen: '9150' is not HOST:PORT"),
        (["--config"], "--config needs a value"),
        (["--idle-timeout", "0.0001"], "--idle-timeout takes a positive number of seconds (at least 0.001), not '0.0001'"),
    ])
    func aBadNewFlagIsAUsageError(arguments: [String], message: String) {
        #expect {
            try CommandLineOptions(arguments: arguments)
        } throws: { error in
            "\(error)".hasPrefix(message)
        }
    }
}
