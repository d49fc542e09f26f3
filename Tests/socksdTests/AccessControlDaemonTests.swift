import AsyncSockets
import Foundation
import Glibc
import SOCKSProtocol
import Testing
import TestSupport

/// The command-line contract of issue 9 ("safe to expose"), against the real `socksd` binary: an open proxy
/// on a public address refuses to start and names the ways out; each way out starts; a bad value for each
/// new flag exits 64 with a message naming the flag and the value; a password on the command line is
/// warned about and one from a file or the environment is not; an upstream password from either reaches a
/// real upstream daemon; and the access-control flags reach the server with the log lines scripts rely on.
///
/// The server side of each behaviour has in-process tests (`AdmissionTests`, `DestinationPolicyTests`);
/// these check the flags, exit codes and standard-error lines of the daemon. A test that starts a daemon
/// listens on 127.0.0.1 only; `0.0.0.0` appears only where the daemon must refuse before binding anything.
@Suite struct AccessControlDaemonTests {
    static let second = IPAddress("127.0.0.2")!
    static let third = IPAddress("127.0.0.3")!

    // MARK: An open proxy refuses to start

    /// Flags that restrict destinations or counts do not make an open proxy safe: only a login,
    /// `--allow-from` or `--allow-open-proxy` do. A loopback listener next to the public one does not help
    /// either, and nothing is listened on (the check comes before any bind).
    @Test(arguments: [[], ["--deny-to", "private"], ["--max-sessions-per-ip", "5"], ["--listen", "127.0.0.1:0"]])
    func anOpenProxyOnAPublicAddressRefusesToStart(extra: [String]) async throws {
        let daemon = try DaemonProcess(["--listen", "0.0.0.0:0"] + extra)
        #expect(try await daemon.exitStatus() == 64)
        let message = try #require(daemon.logLines.first.map(String.init), "no message")
        #expect(message.hasPrefix("socksd: refusing to start an open proxy on 0.0.0.0:0"), "\(message)")
        for wayOut in ["--user", "--users-file", "--allow-from", "--allow-open-proxy"] {
            #expect(message.contains(wayOut), "the refusal names \(wayOut): \(message)")
        }
        #expect(!daemon.log.contains("listening on"), "log: \(daemon.log)")
    }

    /// The ways out of the refusal above, each on 127.0.0.1 (a test never listens on a public address): the
    /// daemon starts with it, serves a client from 127.0.0.2, and stops cleanly.
    enum WayOut: String, CaseIterable, Sendable {
        case allowFrom, user, usersFile, allowOpenProxy
    }

    @Test(arguments: WayOut.allCases)
    func eachWayOutStarts(wayOut: WayOut) async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let usersFile = try TemporaryFile("alice:s3cret\n", name: "socksd-users")
        let credentials = SOCKSCredentials(username: "alice", password: "s3cret")
        let (arguments, login): ([String], SOCKSCredentials?) = switch wayOut {
        case .allowFrom: (["--allow-from", "127.0.0.0/8"], nil)
        case .user: (["--user", "alice:s3cret"], credentials)
        case .usersFile: (["--users-file", usersFile.path], credentials)
        case .allowOpenProxy: (["--allow-open-proxy"], nil)
        }
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback(arguments)
        let (client, reply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(echo.address), credentials: login, from: Self.second)
        #expect(reply.code == .succeeded)
        try await client.send([1])
        #expect(try await client.receive(exactly: 1) == [1])
        client.close()
        #expect(try await daemon.stop() == 0, "log: \(daemon.log)")
        #expect(!daemon.log.contains("refusing"))
    }

    // MARK: Bad values

    /// Each new flag with a value it cannot use: exit 64, and a first line that names the flag, quotes the
    /// value and says what would do (then the usage). `--listen 127.0.0.1:0` comes first, so that a value
    /// wrongly accepted could never make a test listen anywhere else.
    @Test(arguments: [
        (["--allow-from", "10.1.2.3/8"], ["--allow-from", "'10.1.2.3/8'", "host bits", "did you mean 10.0.0.0/8"]),
        (["--allow-from"], ["--allow-from needs a value"]),
        (["--deny-to", "*.example.com"], ["--deny-to", "'*.example.com'", "wildcard", "'example.com' already covers its subdomains"]),
        (["--allow-to", "300.1.1.1"], ["--allow-to", "'300.1.1.1'", "not an IPv4 address"]),
        (["--allow-to", "example.com:70000"], ["--allow-to", "'70000'", "port from 0 to 65535"]),
        (["--new-sessions-per-ip", "5/x"], ["--new-sessions-per-ip", "'5/x'", "such as 20/s"]),
        (["--max-sessions", "0"], ["--max-sessions", "'0'", "from 1 to 10000000"]),
        (["--max-sessions-per-ip", "many"], ["--max-sessions-per-ip", "'many'", "from 1 to 10000000"]),
        (["--max-sessions-per-user", "1.5"], ["--max-sessions-per-user", "'1.5'", "from 1 to 10000000"]),
        (["--max-udp-associations", "-5"], ["--max-udp-associations", "'-5'", "from 1 to 10000000"]),
        (["--auth-failures", "-1"], ["--auth-failures", "'-1'", "0 turns throttling off"]),
        (["--upstream-password-file", "/nonexistent"], ["--upstream-password-file: needs --upstream"]),
        (["--upstream", "socks5://alice@127.0.0.1:9"], ["--upstream", "names a user but no password", "--upstream-password-file or SOCKSD_UPSTREAM_PASSWORD"]),
    ])
    func aBadValueExits64WithAClearMessage(arguments: [String], says expected: [String]) async throws {
        let daemon = try DaemonProcess(["--listen", "127.0.0.1:0"] + arguments, environment: ["SOCKSD_UPSTREAM_PASSWORD": ""])
        #expect(try await daemon.exitStatus() == 64, "log: \(daemon.log)")
        let message = try #require(daemon.logLines.first.map(String.init), "no message")
        #expect(message.hasPrefix("socksd: "))
        for part in expected {
            #expect(message.contains(part), "'\(part)' in: \(message)")
        }
        #expect(daemon.log.contains("usage: socksd"))
        #expect(!daemon.log.contains("listening on"))
    }

    // MARK: Passwords on the command line

    /// How a test gives a password to the daemon: where a warning is due, and where not.
    enum PasswordSource: String, CaseIterable, Sendable {
        case userFlag, upstreamURL, upstreamPasswordFile, environment

        /// Whether other local users could read the password (in `ps`, `/proc/PID/cmdline`).
        var isOnTheCommandLine: Bool { self == .userFlag || self == .upstreamURL }
    }

    /// A password in `--user` or in the `--upstream` URL gets a `socksd: warning:` line saying that other
    /// local users can read it, and what to use instead; one from `--upstream-password-file` or
    /// `SOCKSD_UPSTREAM_PASSWORD` gets none. The upstream is never contacted (no session is opened): its
    /// port refuses. No line of the log carries the password itself.
    @Test(arguments: PasswordSource.allCases)
    func aPasswordOnTheCommandLineIsWarnedAbout(source: PasswordSource) async throws {
        let upstream = try LoopbackPeers.refusingPort()
        let passwordFile = try TemporaryFile("pw-0f-the-upstream\n", name: "socksd-upstream-password")
        let (arguments, environment): ([String], [String: String]) = switch source {
        case .userFlag: (["--user", "alice:pw-0f-the-user"], [:])
        case .upstreamURL: (["--upstream", "socks5://alice:pw-0f-the-upstream@127.0.0.1:\(upstream.port)"], [:])
        case .upstreamPasswordFile: (["--upstream", "socks5://alice@127.0.0.1:\(upstream.port)", "--upstream-password-file", passwordFile.path], [:])
        case .environment: (["--upstream", "socks5://alice@127.0.0.1:\(upstream.port)"], ["SOCKSD_UPSTREAM_PASSWORD": "pw-0f-the-upstream"])
        }
        let (daemon, _) = try await DaemonProcess.startOnLoopback(arguments, environment: environment)
        // The warnings are written before the server starts, so by "listening on" they are all there.
        let warnings = daemon.logLines.filter { $0.hasPrefix("socksd: warning:") }
        if source.isOnTheCommandLine {
            #expect(warnings.count == 1, "log: \(daemon.log)")
            let warning = String(warnings.first ?? "")
            #expect(warning.contains(source == .userFlag ? "--user" : "--upstream password"), "\(warning)")
            #expect(warning.contains("other local users can read"), "\(warning)")
            #expect(warning.contains(source == .userFlag ? "use --users-file" : "use --upstream-password-file or SOCKSD_UPSTREAM_PASSWORD"), "\(warning)")
        } else {
            #expect(warnings.isEmpty, "log: \(daemon.log)")
        }
        if source != .userFlag {
            // Logged after "listening on", by the daemon's log thread: it may take a moment.
            #expect(await daemon.waitForLog { $0.contains { $0.hasSuffix("forwarding through socks5://alice@127.0.0.1:\(upstream.port), UDP by uot") } }, "log: \(daemon.log)")
        }
        // After the exit, which flushes the log: no line can still be on its way.
        #expect(try await daemon.stop() == 0)
        #expect(!daemon.log.contains("pw-0f-the"), "a password reached the log: \(daemon.log)")
    }

    // MARK: A chain with the upstream password kept off the command line

    /// Daemon A forwards through daemon B, which requires a login; A's password for B comes from a file
    /// (its first line) or from `SOCKSD_UPSTREAM_PASSWORD`. A CONNECT through A reaches an echo, B logs the
    /// session as alice's, and neither log carries the password.
    @Test(arguments: [PasswordSource.upstreamPasswordFile, .environment])
    func aChainLogsInUpstreamWithThePasswordFromAFileOrTheEnvironment(source: PasswordSource) async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (upstream, upstreamAddress) = try await DaemonProcess.startOnLoopback(["--user", "alice:chain-s3cret"])
        // Only the first line of the file counts: what follows it is not part of the password.
        let passwordFile = try TemporaryFile("chain-s3cret\nnot part of it\n", name: "socksd-upstream-password")
        let url = "socks5://alice@127.0.0.1:\(upstreamAddress.port)"
        let (downstream, proxy) = source == .environment
            ? try await DaemonProcess.startOnLoopback(["--upstream", url], environment: ["SOCKSD_UPSTREAM_PASSWORD": "chain-s3cret"])
            : try await DaemonProcess.startOnLoopback(["--upstream", url, "--upstream-password-file", passwordFile.path])

        let (client, reply) = try await withDeadline(.seconds(15)) { try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(echo.address)) }
        #expect(reply.code == .succeeded, "downstream log: \(downstream.log)\nupstream log: \(upstream.log)")
        if reply.code == .succeeded {
            try await client.send([5, 6, 7])
            #expect(try await client.receive(exactly: 3) == [5, 6, 7])
        }
        client.close()
        #expect(await upstream.waitForLog { $0.contains { $0.contains("user=alice command=connect destination=127.0.0.1:\(echo.address.port)") } }, "upstream log: \(upstream.log)")
        #expect(try await downstream.stop() == 0)
        #expect(try await upstream.stop() == 0)
        #expect(!downstream.log.contains("s3cret") && !upstream.log.contains("s3cret"), "a password reached a log")
    }

    /// A wrong password in the file: the upstream refuses the login, and the client of A gets a failure
    /// reply (not 00) promptly and a closed connection, not a hang. B logs the failed login.
    @Test func aWrongUpstreamPasswordGivesTheClientAFailureReply() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (upstream, upstreamAddress) = try await DaemonProcess.startOnLoopback(["--user", "alice:chain-s3cret"])
        let passwordFile = try TemporaryFile("not-the-password\n", name: "socksd-upstream-password")
        let (downstream, proxy) = try await DaemonProcess.startOnLoopback(
            ["--upstream", "socks5://alice@127.0.0.1:\(upstreamAddress.port)", "--upstream-password-file", passwordFile.path])

        // 15 s: the reply is due at once (B answers the login at once), but a busy machine may be slow.
        let (client, reply) = try await withDeadline(.seconds(15)) { try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(echo.address)) }
        defer { client.close() }
        #expect(reply.code != .succeeded)
        print("[access] wrong upstream password: the client got reply \(reply.code)")
        #expect(try await client.closesWithin(.seconds(15)))
        #expect(await upstream.waitForLog { $0.contains { $0.contains("user=alice") && $0.contains("outcome=auth-failed") } }, "upstream log: \(upstream.log)")
        #expect(await downstream.waitForLog { $0.contains { $0.contains("outcome=failed(") && $0.contains("destination=127.0.0.1:\(echo.address.port)") } }, "downstream log: \(downstream.log)")
        #expect(try await downstream.stop() == 0)
        #expect(try await upstream.stop() == 0)
        #expect(!downstream.log.contains("not-the-password") && !upstream.log.contains("not-the-password"))
    }

    // MARK: The flags reach the server, with their log lines

    /// `--allow-from`: a client outside it is closed right after accept, before any protocol byte. The
    /// first refusal is logged with the client's address, the rest are summarised once the 10 s interval
    /// ends (the test waits that out on purpose): 1 + N lines account for every refusal.
    @Test func allowFromClosesOthersAtAcceptAndSummarisesThem() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback(["--allow-from", "127.0.0.2/32"])
        try await SessionScript.connectEcho(through: proxy, to: echo.address, from: Self.second)
        let refusals = 5
        for _ in 0..<refusals { try await SessionScript.closedAtAccept(by: proxy, from: Self.third) }
        try await SessionScript.connectEcho(through: proxy, to: echo.address, from: Self.second)

        let firstLine = { (lines: [Substring]) in
            lines.contains { line in
                guard let range = line.range(of: "refused 127.0.0.3:"), line.hasSuffix(": not in --allow-from") else { return false }
                return UInt16(line[range.upperBound...].dropLast(": not in --allow-from".count)) != nil
            }
        }
        #expect(await daemon.waitForLog(firstLine), "log: \(daemon.log)")
        let summary = "refused \(refusals - 1) more connection(s) not in --allow-from in the last 10 s"
        #expect(await daemon.waitForLog(within: .seconds(30)) { $0.contains { $0.hasSuffix(summary) } }, "log: \(daemon.log)")
        let status = try await daemon.stop()
        #expect(status == 0, "log: \(daemon.log)")
        #expect(daemon.logLines.filter { $0.contains("client=127.0.0.2:") && $0.contains("outcome=") }.count == 2, "both sessions from 127.0.0.2 were served; log: \(daemon.log)")
        #expect(!daemon.log.contains("client=127.0.0.3:"), "a refused connection is no session: no access line")
    }

    /// `--allow-from` and `--proxy-protocol-from` grant trust, so an IPv4 network in them matches IPv4
    /// clients and their IPv4-mapped IPv6 form only: a PROXY-protocol client `64:ff9b::a09:909` (NAT64 for
    /// 10.9.9.9, but an IPv6 host) is refused by `--allow-from 10.9.9.9/32` at once, while `::ffff:10.9.9.9`
    /// and `10.9.9.9` themselves are served. (Destination rules still read NAT64 as the IPv4 host, where a
    /// match denies; `DestinationRuleTests` holds that.)
    @Test func anIPv4AllowFromAdmitsNoNAT64Client() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let daemon = try DaemonProcess([
            "--proxy-protocol-listen", "127.0.0.1:0", "--proxy-protocol-from", "127.0.0.1/32", "--allow-from", "10.9.9.9/32",
        ])
        let proxy = SocketAddress(ip: .ipv4Loopback, port: try await daemon.port())
        func served(_ header: String) async throws -> Bool {
            let client = try await SOCKSTestClient.connect(to: proxy)
            defer { client.close() }
            try? await client.send(Array(header.utf8) + SOCKSGreeting(methods: [.noAuthentication]).encoded())
            guard let selection = try? await client.receive(exactly: 2) else { return false }
            #expect(selection == [0x05, 0x00])
            try await client.send(SOCKSRequest(command: .connect, destination: SOCKSEndpoint(echo.address)).encoded())
            let reply = try await client.receive(SOCKSReply.parse)
            return reply.code == .succeeded
        }
        #expect(try await !served("PROXY TCP6 64:ff9b::a09:909 ::1 5555 1080\r\n"), "log: \(daemon.log)")
        #expect(try await served("PROXY TCP6 ::ffff:10.9.9.9 ::1 5556 1080\r\n"), "log: \(daemon.log)")
        #expect(try await served("PROXY TCP4 10.9.9.9 127.0.0.1 5557 1080\r\n"), "log: \(daemon.log)")
        #expect(await daemon.waitForLog { $0.contains { $0.contains("refused [64:ff9b::a09:909]:5555") && $0.hasSuffix(": not in --allow-from") } }, "log: \(daemon.log)")
        #expect(try await daemon.stop() == 0, "log: \(daemon.log)")
    }

    /// A CONNECT to the daemon's own listening address, as an address or as the address literal in a name
    /// (what `socks5h://` clients send), is denied with no rule given: reply 02 and
    /// `outcome=denied(own listening address)`. (Not `localhost`: where it also resolves to ::1, the
    /// daemon would rightly try ::1, where nothing listens.)
    @Test func connectingToTheDaemonItselfIsDenied() async throws {
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback()
        try await SessionScript.refusedRequest(through: proxy, to: SOCKSEndpoint(proxy))
        try await SessionScript.refusedRequest(through: proxy, to: SOCKSEndpoint(address: .domain("127.0.0.1"), port: proxy.port))
        #expect(await daemon.waitForLog { lines in
            lines.filter { $0.contains("command=connect") && $0.hasSuffix("outcome=denied(own listening address)") }.count == 2
        }, "log: \(daemon.log)")
        #expect(try await daemon.stop() == 0)
    }

    /// Issue 18, item 6: with no rules, the metrics listener (`--metrics-listen`) is the daemon's own address
    /// like its proxy listeners: SOCKS5 CONNECT gets 02 (by address and by the address as a name), SOCKS4
    /// CONNECT 5B, HTTP `GET http://METRICS/metrics` and `CONNECT METRICS` 403 — never the metrics. Each is
    /// logged `outcome=denied(own listening address)`; the endpoint itself still answers directly.
    @Test func theMetricsListenerCannotBeReachedThroughTheDaemon() async throws {
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback(["--metrics-listen", "127.0.0.1:0", "--protocols", "socks5,socks4,http"])
        let metrics = try await daemon.metricsAddress()
        try await SessionScript.refusedRequest(through: proxy, to: SOCKSEndpoint(metrics))
        try await SessionScript.refusedRequest(through: proxy, to: SOCKSEndpoint(address: .domain("127.0.0.1"), port: metrics.port))

        let socks4 = try await SOCKSTestClient.connect(to: proxy)
        try await socks4.send(SOCKS4Request(command: .connect, destination: SOCKSEndpoint(metrics), userID: []).encoded())
        let reply = try await socks4.receive(exactly: 8)
        #expect(reply[0] == 0x00 && reply[1] == 0x5B, "SOCKS4 reply \(reply)")
        #expect(try await socks4.closesWithin(.seconds(10)))
        socks4.close()

        let forwarded = try await HTTPTestExchange.send("GET http://\(metrics)/metrics HTTP/1.1\r\nHost: \(metrics)\r\n\r\n", to: proxy)
        #expect(forwarded.status == 403 && !forwarded.body.contains("socksd_"), "\(forwarded.status) \(forwarded.body)")
        let tunnel = try await HTTPTestExchange.send("CONNECT \(metrics) HTTP/1.1\r\nHost: \(metrics)\r\n\r\n", to: proxy)
        #expect(tunnel.status == 403, "\(tunnel.status) \(tunnel.body)")

        #expect(try await HTTPTestExchange.get("/healthz", from: metrics).status == 200)
        #expect(await daemon.waitForLog { lines in
            lines.filter { $0.hasSuffix("outcome=denied(own listening address)") }.count == 5
        }, "log: \(daemon.log)")
        #expect(try await daemon.stop() == 0)
    }

    /// Issue 18, item 1, against the daemon: alice associates naming port 0; bob, through his own
    /// association, sends her relay socket a datagram that is itself a SOCKS UDP request for the echo. It is
    /// denied (his access line counts `dropped=1`), never reaches the echo, and alice's association stays
    /// hers: her own datagram is echoed back to her.
    @Test func anotherUserCannotTakeOverAUDPAssociationThroughTheDaemon() async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback(["--user", "alice:one", "--user", "bob:two"])
        let alice = try await UDPTestClient.associate(proxy, credentials: SOCKSCredentials(username: "alice", password: "one"))
        let bob = try await UDPTestClient.associate(proxy, credentials: SOCKSCredentials(username: "bob", password: "two"))
        defer { alice.close(); bob.close() }
        let takeover = SOCKSUDPHeader(endpoint: SOCKSEndpoint(echo.address)).encoded() + Array("takeover".utf8)
        try await bob.send(takeover, to: SOCKSEndpoint(alice.relay))
        // bob's datagram to the echo comes back once bob's first datagram has been handled.
        try await bob.send([0x42], to: SOCKSEndpoint(echo.address))
        #expect(try await bob.receive()?.payload == [0x42])

        try await alice.send(Array("mine".utf8), to: SOCKSEndpoint(echo.address))
        let reply = try #require(try await alice.receive(), "alice's association answers her; log: \(daemon.log)")
        #expect(reply.payload == Array("mine".utf8))
        #expect(echo.senders.all.count == 2, "bob's and alice's own datagrams only: \(echo.senders.all)")
        alice.close()
        bob.close()
        #expect(await daemon.waitForLog { lines in
            lines.contains { $0.contains("user=bob command=udp-associate") && $0.contains(" dropped=1 ") }
                && lines.contains { $0.contains("user=alice command=udp-associate") && $0.contains(" dropped=0 ") }
        }, "log: \(daemon.log)")
        #expect(try await daemon.stop() == 0)
    }

    /// `--auth-failures N` (default 10): after N failed logins from 127.0.0.2 within a minute, one line
    /// announces a 30 s backoff, and 127.0.0.2's logins are refused, the right password too, while
    /// 127.0.0.3 logs in. Each failed login is one access line (`outcome=auth-failed`), nothing more.
    @Test(arguments: [nil, 3])
    func authFailuresSetsHowManyFailedLoginsStartABackoff(limit: Int?) async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback(["--user", "alice:s3cret"] + (limit.map { ["--auth-failures", "\($0)"] } ?? []))
        let failures = limit ?? 10
        let wrong = SOCKSCredentials(username: "alice", password: "wrong")
        let right = SOCKSCredentials(username: "alice", password: "s3cret")
        for _ in 0..<failures { try await SessionScript.failedLogin(through: proxy, as: wrong, from: Self.second) }
        let throttling = "login throttling: 127.0.0.2 failed \(failures) logins within 60.0 seconds; refusing its logins for 30.0 seconds"
        #expect(await daemon.waitForLog { $0.contains { $0.hasSuffix(throttling) } }, "log: \(daemon.log)")
        try await SessionScript.failedLogin(through: proxy, as: right, from: Self.second)

        let (client, reply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(echo.address), credentials: right, from: Self.third)
        #expect(reply.code == .succeeded, "127.0.0.3 is not throttled")
        client.close()
        #expect(await daemon.waitForLog { $0.contains { $0.contains("client=127.0.0.3:") && $0.contains("user=alice command=connect") } })
        #expect(try await daemon.stop() == 0)
        // The exit flushed the log: every line is in.
        let lines = daemon.logLines
        #expect(lines.filter { $0.contains("client=127.0.0.2:") && $0.hasSuffix("outcome=auth-failed") }.count == failures, "log: \(daemon.log)")
        #expect(lines.filter { $0.contains("login throttling:") }.count == 1, "log: \(daemon.log)")
        #expect(!lines.contains { $0.contains("session 127.0.0.2:") && $0.contains("handshake failed") }, "a failed login is its access line alone")
        #expect(!daemon.log.contains("s3cret"))
    }

    /// `--auth-failures 0` turns throttling off: after 15 failed logins, the right password still works.
    @Test func authFailuresZeroTurnsThrottlingOff() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback(["--user", "alice:s3cret", "--auth-failures", "0"])
        let wrong = SOCKSCredentials(username: "alice", password: "wrong")
        for _ in 0..<15 { try await SessionScript.failedLogin(through: proxy, as: wrong, from: Self.second) }
        let (client, reply) = try await SOCKSTestClient.open(
            proxy, to: SOCKSEndpoint(echo.address), credentials: SOCKSCredentials(username: "alice", password: "s3cret"), from: Self.second)
        #expect(reply.code == .succeeded)
        client.close()
        #expect(try await daemon.stop() == 0)
        #expect(!daemon.log.contains("login throttling"), "log: \(daemon.log)")
    }

    // MARK: Found while testing

    /// A SIGTERM sent as soon as the daemon says `listening on` stops it. It once could not: the dispatch
    /// source that handles SIGTERM registers asynchronously, and SIGTERM was set to SIG_IGN before that, so
    /// one sent in the window was lost for good (about 1 start in 25 with both cores loaded). Now
    /// `DaemonSignal.handleAll` leaves the default action in place and returns only when every source is
    /// registered, before `listening on`. Twenty starts, each stopped at once; the log is watched every
    /// millisecond so that the SIGTERM follows `listening on` as closely as a supervisor's.
    @Test
    func aSIGTERMRightAfterListeningStopsTheDaemon() async throws {
        for attempt in 1...20 {
            let daemon = try DaemonProcess(["--listen", "127.0.0.1:0"])
            let deadline = ContinuousClock.now + .seconds(20)
            while !daemon.log.contains("listening on") && daemon.process.isRunning && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(1))
            }
            daemon.signal(SIGTERM)
            let status = try await daemon.process.exitStatus(timeout: .seconds(10))
            #expect(status == 0, "start \(attempt): no exit within 10 s of a SIGTERM sent right after 'listening on'; log: \(daemon.log)")
            if status == nil { break }
        }
    }
}
