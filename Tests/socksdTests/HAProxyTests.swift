import AsyncSockets
import Foundation
import Glibc
import SOCKSClient
import SOCKSProtocol
import Testing
import TestSupport

/// Issue 11 with the real balancer: HAProxy in TCP mode (`Configuration/haproxy.cfg`, see
/// `HAProxyCluster`) in front of two `socksd` instances with PROXY protocol listeners. From the client's
/// side and in their logs, the two must behave as one socksd that sees the client's real address: curl
/// gets through from either frontend (header version 2 or 1) with both instances serving, the access
/// logs, `--allow-from`, `--max-sessions-per-ip` and the UDP client check all go by the client's address,
/// a PROXY listener closes whatever comes without a valid header or from elsewhere than HAProxy, and
/// HAProxy's health checks leave no warning in the logs. After each test, both daemons hold no more
/// descriptors than before it.
///
/// Clients take loopback addresses of their own (curl `--interface`, sockets bound before connecting):
/// 127.0.0.2 and 127.0.0.3 are clients, 127.0.0.4 a stranger to a UDP association, 127.0.0.5 a would-be
/// balancer; HAProxy connects from 127.0.0.1, the only address the instances trust.
///
/// One at a time (`.serialized`): each test runs three processes, and the machine's two cores are shared.
@Suite(.serialized) struct HAProxyTests {
    static let client = IPAddress("127.0.0.2")!
    static let otherClient = IPAddress("127.0.0.3")!
    static let stranger = IPAddress("127.0.0.4")!
    static let untrustedBalancer = IPAddress("127.0.0.5")!

    static let body = "served behind HAProxy"

    /// curl through `frontend` (`socks5h`: the instance resolves the name) from `source`; its exit status
    /// and output, with its error message after the body.
    static func curl(_ url: String, through frontend: SocketAddress, from source: IPAddress) async throws -> (status: Int32, output: String) {
        try await runCommand("/usr/bin/curl", ["-sS", "--max-time", "10", "--interface", "\(source)", "-x", "socks5h://\(frontend)", url], includeErrors: true)
    }

    // MARK: The documentation

    /// The README's section "Running many instances" shows `Configuration/haproxy.cfg` without its
    /// comments: the same lines, in the same order (blank lines aside).
    @Test func theReadmeShowsTheShippedConfiguration() throws {
        let shippedPath = HAProxyCluster.shippedConfigurationPath
        let readmePath = URL(fileURLWithPath: shippedPath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md").path
        let shipped = try String(contentsOfFile: shippedPath, encoding: .utf8)
        let readme = try String(contentsOfFile: readmePath, encoding: .utf8)
        let section = try #require(readme.range(of: "\n## Running many instances\n").map { readme[$0.upperBound...] })
        let start = try #require(section.range(of: "```haproxy\n"), "no haproxy block in the section")
        let end = try #require(section[start.upperBound...].range(of: "```"))
        func directives(_ text: Substring) -> [String] {
            text.split(separator: "\n").map(String.init).filter { line in
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                return !trimmed.isEmpty && !trimmed.hasPrefix("#")
            }
        }
        #expect(directives(section[start.upperBound..<end.lowerBound]) == directives(shipped[...]))
    }

    // MARK: Both instances serve, as the client

    /// Four curl requests from 127.0.0.2 through each frontend: every one gets the page, HAProxy's
    /// round robin gives each instance two of each four, and each instance's access lines name the client
    /// 127.0.0.2 (never HAProxy's 127.0.0.1), for headers of version 2 and of version 1 alike.
    @Test func curlThroughHAProxyIsServedByBothInstancesAsTheRealClient() async throws {
        let web = try LoopbackPeers.startHTTP(body: Self.body)
        defer { web.stop() }
        let cluster = try await HAProxyCluster.start()
        let url = "http://127.0.0.1:\(web.address.port)/"
        let requests = 4
        for (frontend, backend) in [(cluster.v2, "socksd_v2"), (cluster.v1, "socksd_v1")] {
            let before = cluster.daemons.map { $0.accessLines(client: "127.0.0.2", containing: "outcome=succeeded").count }
            for _ in 0..<requests {
                let result = try await Self.curl(url, through: frontend, from: Self.client)
                #expect(result.status == 0 && result.output == Self.body, "\(backend): curl exited \(result.status): \(result.output)\n\(cluster.logs)")
            }
            var served: [Int] = []
            _ = await cluster.daemons[0].waitForLog { _ in
                served = zip(cluster.daemons, before).map { $0.accessLines(client: "127.0.0.2", containing: "outcome=succeeded").count - $1 }
                return served.reduce(0, +) >= requests
            }
            served = zip(cluster.daemons, before).map { $0.accessLines(client: "127.0.0.2", containing: "outcome=succeeded").count - $1 }
            let balanced = await cluster.sessionsPerInstance(backend: backend)
            print("[haproxy] \(backend): \(requests) curl requests from 127.0.0.2; access lines client=127.0.0.2 per instance \(served); HAProxy's sessions per instance \(balanced)")
            #expect(served.reduce(0, +) == requests, "\(backend): \(served)\n\(cluster.logs)")
            #expect(served.allSatisfy { $0 >= 1 }, "\(backend): both instances serve: \(served)")
            #expect(balanced == [requests / 2, requests / 2], "\(backend): round robin: \(balanced)")
        }
        for (index, daemon) in cluster.daemons.enumerated() {
            let lines = daemon.accessLines(client: "127.0.0.2", containing: "destination=127.0.0.1:\(web.address.port) ")
            #expect(lines.count == requests, "socksd\(index + 1): \(lines)")
            #expect(daemon.accessLines(client: "127.0.0.1").isEmpty, "socksd\(index + 1) names HAProxy as a client:\n\(daemon.log)")
            #expect(daemon.problemLines.isEmpty, "socksd\(index + 1): \(daemon.problemLines)")
        }
        try await cluster.finish()
    }

    // MARK: Access control sees the client

    /// With `--allow-from 127.0.0.3/32` on both instances, curl from 127.0.0.2 through HAProxy fails twice
    /// (one connection to each instance, each closed before a SOCKS reply) while 127.0.0.3 is served twice;
    /// each instance logs the refusal of 127.0.0.2 and serves 127.0.0.3. HAProxy's own address,
    /// 127.0.0.1, is not in the list either: it is not what is checked.
    @Test func allowFromGoesByTheRealClientBehindHAProxy() async throws {
        let web = try LoopbackPeers.startHTTP(body: Self.body)
        defer { web.stop() }
        let cluster = try await HAProxyCluster.start(["--allow-from", "127.0.0.3/32"])
        let url = "http://127.0.0.1:\(web.address.port)/"
        // Round robin hands the connections to the instances in turn: each gets one from each client.
        var deniedStatuses: [Int32] = []
        for source in [Self.client, Self.client, Self.otherClient, Self.otherClient] {
            let result = try await Self.curl(url, through: cluster.v2, from: source)
            if source == Self.client {
                deniedStatuses.append(result.status)
                #expect(result.status != 0 && !result.output.contains(Self.body), "127.0.0.2 must be refused: \(result.output)")
            } else {
                #expect(result.status == 0 && result.output == Self.body, "127.0.0.3 must be served: curl exited \(result.status): \(result.output)\n\(cluster.logs)")
            }
        }
        print("[haproxy] --allow-from 127.0.0.3/32: curl from 127.0.0.2 exited \(deniedStatuses); HAProxy's sessions per instance \(await cluster.sessionsPerInstance(backend: "socksd_v2"))")
        for (index, daemon) in cluster.daemons.enumerated() {
            #expect(await daemon.waitForLog { lines in
                lines.contains { $0.contains(" refused 127.0.0.2:") && $0.hasSuffix(": not in --allow-from") }
                    && lines.contains { $0.contains(" session client=127.0.0.3:") && $0.hasSuffix("outcome=succeeded") }
            }, "socksd\(index + 1) refuses 127.0.0.2 and serves 127.0.0.3:\n\(daemon.log)")
            #expect(daemon.accessLines(client: "127.0.0.2").isEmpty, "socksd\(index + 1) began a session for 127.0.0.2")
            #expect(!daemon.log.contains("refused 127.0.0.1:"), "socksd\(index + 1) judged HAProxy's address:\n\(daemon.log)")
        }
        try await cluster.finish()
    }

    /// `--max-sessions-per-ip 3` on each instance: six idle sessions from 127.0.0.2 through HAProxy are
    /// all served, three on each instance (round robin), which fills that IP's quota on both; the next two
    /// from 127.0.0.2 are closed at accept (one by each instance), while two from 127.0.0.3 are still
    /// served (one on each). Had the instances counted HAProxy's address, 127.0.0.3 would be refused too.
    @Test func maxSessionsPerIPCountsTheRealClientOnEachInstance() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let perIP = 3
        let cluster = try await HAProxyCluster.start(["--max-sessions-per-ip", "\(perIP)"])
        var held: [SOCKSTestClient] = []
        defer { held.forEach { $0.close() } }
        for index in 0..<(2 * perIP) {
            do {
                held.append(try await SessionScript.openIdleConnect(through: cluster.v2, to: echo.address, from: Self.client))
            } catch {
                Issue.record("idle session \(index + 1) from 127.0.0.2 was not served: \(error)\n\(cluster.logs)")
            }
        }
        // Each instance lists its open sessions on SIGUSR1.
        var open: [Int] = []
        for daemon in cluster.daemons {
            _ = await daemon.waitUntilCatching(SIGUSR1)
            daemon.signal(SIGUSR1)
            _ = await daemon.waitForLog { $0.contains { $0.contains("received SIGUSR1") } }
            _ = await daemon.waitForLog { $0.filter { $0.contains(" open client=127.0.0.2:") }.count >= perIP }
            open.append(daemon.logLines.filter { $0.contains(" open client=127.0.0.2:") }.count)
        }
        #expect(open == [perIP, perIP], "open sessions of 127.0.0.2 per instance: \(open)")
        var refused = 0
        for _ in 0..<2 {
            do {
                try await SessionScript.closedAtAccept(by: cluster.v2, from: Self.client)
                refused += 1
            } catch {
                Issue.record("a session from 127.0.0.2 over the limit: \(error)")
            }
        }
        var served = 0
        for _ in 0..<2 {
            do {
                held.append(try await SessionScript.openIdleConnect(through: cluster.v2, to: echo.address, from: Self.otherClient))
                served += 1
            } catch {
                Issue.record("127.0.0.3 was not served with 127.0.0.2 at its limit: \(error)\n\(cluster.logs)")
            }
        }
        print("[haproxy] --max-sessions-per-ip \(perIP): 127.0.0.2 holds \(open) sessions per instance, \(refused) of 2 more refused; 127.0.0.3 served \(served) of 2; HAProxy's sessions per instance \(await cluster.sessionsPerInstance(backend: "socksd_v2"))")
        for (index, daemon) in cluster.daemons.enumerated() {
            #expect(await daemon.waitForLog { $0.contains { $0.contains(" refused 127.0.0.2:") && $0.hasSuffix(": over --max-sessions-per-ip \(perIP)") } }, "socksd\(index + 1):\n\(daemon.log)")
            #expect(!daemon.log.contains("refused 127.0.0.3:") && !daemon.log.contains("refused 127.0.0.1:"), "socksd\(index + 1):\n\(daemon.log)")
        }
        held.forEach { $0.close() }
        held = []
        try await cluster.finish()
    }

    // MARK: UDP ASSOCIATE

    /// An association made through HAProxy from 127.0.0.2.
    struct Association {
        let control: SOCKSTestClient
        let relay: SocketAddress
        let socket: UDPSocket

        func close() {
            control.close()
            socket.close()
        }
    }

    static func associate(through frontend: SocketAddress) async throws -> Association {
        let control = try await SOCKSTestClient.connect(to: frontend, from: client)
        do {
            try await control.send(SOCKSGreeting(methods: [.noAuthentication]).encoded())
            #expect(try await control.receive(exactly: 2) == [0x05, 0x00])
            try await control.send(SOCKSRequest(command: .udpAssociate, destination: SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: 0)).encoded())
            let reply = try await control.receive(SOCKSReply.parse)
            guard reply.code == .succeeded, let relay = reply.bound.socketAddress else { throw SOCKSTestClient.Failure.unexpected(reply.encoded()) }
            return Association(control: control, relay: relay, socket: try UDPSocket(bindingTo: SocketAddress(ip: client, port: 0)))
        } catch {
            control.close()
            throw error
        }
    }

    /// The next datagram on `socket` within `timeout`, or nil.
    static func receive(on socket: UDPSocket, within timeout: Duration) async throws -> [UInt8]? {
        do {
            return try await withDeadline(timeout) {
                var buffer = [UInt8](repeating: 0, count: 2048)
                let (count, _) = try await socket.receive(into: &buffer)
                return Array(buffer[0..<count])
            }
        } catch SocketError.timedOut {
            return nil
        }
    }

    /// Two associations through HAProxy from 127.0.0.2, held at once, land on the two instances: each
    /// reply advertises that instance's own relay (127.0.0.1, `--udp-advertise`, at a port of its own), the
    /// client sends its datagrams there straight from 127.0.0.2 and gets the echo back, and a datagram
    /// from 127.0.0.4 to the same relay, before and after the client's, goes nowhere: the echo never sees
    /// it, nothing comes back to 127.0.0.4, and the access line counts it (`dropped=2`).
    @Test func udpAssociateThroughHAProxyTakesDatagramsFromTheRealClientOnly() async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let cluster = try await HAProxyCluster.start()
        let strangerSocket = try UDPSocket(bindingTo: SocketAddress(ip: Self.stranger, port: 0))
        defer { strangerSocket.close() }
        var associations: [Association] = []
        defer { associations.forEach { $0.close() } }
        for _ in 0..<2 { associations.append(try await Self.associate(through: cluster.v2)) }
        let relays = associations.map(\.relay)
        #expect(relays.allSatisfy { $0.ip == .ipv4Loopback }, "the advertised address: \(relays)")
        #expect(relays[0] != relays[1], "each instance advertises its own relay: \(relays)")

        var echoedAfter: [Int] = []
        for association in associations {
            let payload: [UInt8] = [0x55, 0x44, 0x50]
            let datagram = SOCKSUDPHeader(endpoint: SOCKSEndpoint(echo.address)).encoded() + payload
            let strangersDatagram = SOCKSUDPHeader(endpoint: SOCKSEndpoint(echo.address)).encoded() + [0x58]
            try await strangerSocket.send(strangersDatagram, to: association.relay)
            // Loopback drops a datagram only when a receive buffer overflows, which two busy cores can
            // cause: the client sends again, a few times.
            var echoed: [UInt8]?
            var attempts = 0
            while echoed == nil && attempts < 4 {
                attempts += 1
                try await association.socket.send(datagram, to: association.relay)
                echoed = try await Self.receive(on: association.socket, within: .seconds(2))
            }
            #expect(echoed?.suffix(payload.count).elementsEqual(payload) == true, "no echo through \(association.relay) after \(attempts) datagram(s)\n\(cluster.logs)")
            echoedAfter.append(attempts)
            try await strangerSocket.send(strangersDatagram, to: association.relay)
        }
        // Waited out on purpose: nothing may come back to the stranger.
        #expect(try await Self.receive(on: strangerSocket, within: .seconds(1)) == nil, "the relay answered 127.0.0.4")
        #expect(!echo.senders.all.isEmpty && echo.senders.all.count <= echoedAfter.reduce(0, +), "only the client's datagrams reach the echo: \(echo.senders.all.count), sent \(echoedAfter)")

        associations.forEach { $0.close() }
        associations = []
        var dropped: [String] = []
        for (index, daemon) in cluster.daemons.enumerated() {
            #expect(await daemon.waitForLog { $0.contains { $0.contains(" session client=127.0.0.2:") && $0.contains("command=udp-associate") } }, "socksd\(index + 1):\n\(daemon.log)")
            let line = daemon.accessLines(client: "127.0.0.2", containing: "command=udp-associate").first ?? ""
            dropped.append(line.split(separator: " ").first { $0.hasPrefix("dropped=") }.map(String.init) ?? "-")
            #expect(line.contains(" dropped=2 "), "socksd\(index + 1): the stranger's two datagrams: \(line)")
        }
        print("[haproxy] UDP ASSOCIATE through HAProxy: relays \(relays); echoed after \(echoedAfter) datagram(s); access lines \(dropped); echo heard \(echo.senders.all.count) datagram(s)")
        try await cluster.finish()
    }

    // MARK: What a PROXY listener refuses

    /// Straight to each instance's PROXY listener, not through HAProxy (`--handshake-timeout 2`: the
    /// header's deadline is its 3 s minimum): a connection from 127.0.0.5, not a trusted balancer, is closed
    /// at accept; a SOCKS greeting where the header should be, a v1 header ended by LF alone and one with
    /// an unknown protocol are closed at once; a connection that sends nothing is closed at the header's
    /// deadline (waited out, on both instances at once). Each instance logs the first of each kind, and
    /// then serves curl through HAProxy as before.
    @Test func aPROXYListenerClosesWhatHasNoValidHeaderOrComesFromElsewhere() async throws {
        let web = try LoopbackPeers.startHTTP(body: Self.body)
        defer { web.stop() }
        let cluster = try await HAProxyCluster.start(["--handshake-timeout", "2"])
        let malformed: [[UInt8]] = [
            SOCKSGreeting(methods: [.noAuthentication]).encoded(),
            Array("PROXY TCP4 127.0.0.2 127.0.0.1 5555 1080\n".utf8),
            Array("PROXY TCP9 127.0.0.2 127.0.0.1 5555 1080\r\n".utf8),
        ]
        for instance in cluster.instances {
            let untrusted = try await SOCKSTestClient.connect(to: instance, from: Self.untrustedBalancer)
            try? await untrusted.send(Array("PROXY TCP4 127.0.0.2 127.0.0.1 5555 1080\r\n".utf8) + SOCKSGreeting(methods: [.noAuthentication]).encoded())
            #expect(try await untrusted.closesWithin(.seconds(10)), "\(instance): a connection from 127.0.0.5 stays open")
            untrusted.close()
            for bytes in malformed {
                let client = try await SOCKSTestClient.connect(to: instance)
                try await client.send(bytes)
                #expect(try await client.closesWithin(.seconds(10)), "\(instance): \(bytes) left open")
                client.close()
            }
        }
        let silentTimes = try await withThrowingTaskGroup(of: Duration?.self) { group in
            for instance in cluster.instances {
                group.addTask {
                    let silent = try await SOCKSTestClient.connect(to: instance)
                    defer { silent.close() }
                    let start = ContinuousClock.now
                    let window = TimeoutWindow(.seconds(3), since: start)
                    return try await silent.closesWithin(window.remaining) ? ContinuousClock.now - start : nil
                }
            }
            var times: [Duration?] = []
            for try await time in group { times.append(time) }
            return times
        }
        print("[haproxy] a silent connection to each PROXY listener was closed after \(silentTimes.map { $0.map { "\($0)" } ?? "never" })")
        for time in silentTimes {
            let closedAfter = try #require(time, "a silent connection was not closed within the header's 3 s deadline + \(TimeoutWindow.slack)")
            #expect(closedAfter >= .milliseconds(2900), "closed before the header's 3 s deadline: \(closedAfter)")
        }
        for (index, daemon) in cluster.daemons.enumerated() {
            #expect(await daemon.waitForLog { lines in
                lines.contains { $0.contains(" warning refused 127.0.0.5:") && $0.hasSuffix("on PROXY protocol listener \(cluster.instances[index]): not a trusted balancer") }
                    && lines.contains { $0.contains(" warning PROXY protocol connection from 127.0.0.1:") && $0.contains(" closed: ") }
            }, "socksd\(index + 1):\n\(daemon.log)")
            #expect(daemon.accessLines(client: "127.0.0.1").isEmpty && daemon.accessLines(client: "127.0.0.5").isEmpty, "socksd\(index + 1):\n\(daemon.log)")
        }
        // Both go on serving.
        let url = "http://127.0.0.1:\(web.address.port)/"
        for _ in 0..<2 {
            let result = try await Self.curl(url, through: cluster.v2, from: Self.client)
            #expect(result.status == 0 && result.output == Self.body, "curl exited \(result.status): \(result.output)\n\(cluster.logs)")
        }
        for (index, daemon) in cluster.daemons.enumerated() {
            #expect(await daemon.waitForLog { $0.contains { $0.contains(" session client=127.0.0.2:") && $0.hasSuffix("outcome=succeeded") } }, "socksd\(index + 1) serves on:\n\(daemon.log)")
        }
        try await cluster.finish()
    }

    // MARK: Health checks

    /// Four seconds of HAProxy's checks every 500 ms, at `--log-level debug`: each instance logs them as
    /// health checks (a version 2 LOCAL header, then HAProxy's reset) at debug level and nothing at
    /// warning or error, no session is begun for them, and HAProxy counts no failed check.
    @Test func healthChecksLeaveNoWarningInTheLogs() async throws {
        let cluster = try await HAProxyCluster.start(["--log-level", "debug"])
        let before = cluster.daemons.map(Self.healthChecks)
        try await Task.sleep(for: .seconds(4))  // waited out on purpose: the checks happen meanwhile
        let checks = zip(cluster.daemons, before).map { Self.healthChecks($0) - $1 }
        let servers = await cluster.servers()
        print("[haproxy] health checks in 4 s per instance: \(checks); HAProxy: \(servers.map { "\($0["backend"] ?? "")/\($0["server"] ?? ""): \($0["status"] ?? "") \($0["check_status"] ?? "") chkfail=\($0["chkfail"] ?? "")" })")
        for (index, daemon) in cluster.daemons.enumerated() {
            #expect(checks[index] >= 4, "socksd\(index + 1) logged \(checks[index]) health checks in 4 s with a check every 500 ms:\n\(daemon.log)")
            #expect(daemon.problemLines.isEmpty, "socksd\(index + 1): \(daemon.problemLines)")
            #expect(daemon.accessLines(client: "127.0.0.1").isEmpty, "socksd\(index + 1) began sessions for the checks:\n\(daemon.log)")
        }
        #expect(servers.count == 4 && servers.allSatisfy { $0["status"] == "UP" }, "\(servers)")
        for server in servers where server["backend"] == "socksd_v2" {
            // HAProxy writes "* " before the status of a check that is under way as the stats are read.
            let status = server["check_status"].map { $0.hasPrefix("* ") ? String($0.dropFirst(2)) : $0 }
            #expect(status == "L4OK" && server["chkfail"] == "0", "\(server)")
        }
        try await cluster.finish()
    }

    /// The same with the version 1 backend checking the instances itself (`check` on servers with
    /// `send-proxy`, HAProxy's default for such servers) instead of following the version 2 backend's
    /// checks (`track`, as the shipped file does), with and without an `--allow-from` that leaves HAProxy's
    /// address out. HAProxy then opens each check with a version 1 header naming its own connection
    /// (`PROXY TCP4 127.0.0.1 127.0.0.1 CHECKPORT SERVERPORT`, as the PROXY protocol spec recommends for
    /// checks) and resets it.
    ///
    /// socksd once took each such check for a client session of HAProxy's (a warning and an access line per
    /// check, or a refusal under `--allow-from`); a header naming the connection's own peer is now the
    /// balancer speaking for itself, closed quietly like LOCAL.
    @Test(arguments: [[], ["--allow-from", "127.0.0.2/32"]])
    func versionOneHealthChecksLeaveNoWarningInTheLogs(arguments: [String]) async throws {
        let cluster = try await HAProxyCluster.start(["--log-level", "debug"] + arguments) { text in
            text.replacingOccurrences(of: " send-proxy track socksd_v2/socksd1\n", with: " send-proxy check inter \(HAProxyCluster.checkInterval)\n")
                .replacingOccurrences(of: " send-proxy track socksd_v2/socksd2\n", with: " send-proxy check inter \(HAProxyCluster.checkInterval)\n")
        }
        #expect(!(try String(contentsOfFile: cluster.configuration.path, encoding: .utf8)).contains("send-proxy track"), "the v1 backend checks for itself")
        try await Task.sleep(for: .seconds(4))  // waited out on purpose: the checks happen meanwhile
        let servers = await cluster.servers()
        print("[haproxy] version 1 checks: warnings per instance \(cluster.daemons.map(\.problemLines.count)), sessions from 127.0.0.1 per instance \(cluster.daemons.map { $0.accessLines(client: "127.0.0.1").count }); HAProxy: \(servers.map { "\($0["backend"] ?? "")/\($0["server"] ?? ""): \($0["status"] ?? "") \($0["check_status"] ?? "")" })")
        for (index, daemon) in cluster.daemons.enumerated() {
            #expect(daemon.problemLines.isEmpty, "socksd\(index + 1): \(daemon.problemLines.prefix(4))")
            #expect(daemon.accessLines(client: "127.0.0.1").isEmpty, "socksd\(index + 1) began sessions for the checks: \(daemon.accessLines(client: "127.0.0.1").prefix(4))")
        }
        try await cluster.finish()
    }

    /// How many health checks `daemon` has logged (at debug level).
    static func healthChecks(_ daemon: DaemonProcess) -> Int {
        daemon.logLines.filter { $0.contains(" debug PROXY protocol connection from 127.0.0.1:") && $0.hasSuffix(": health check, closed") }.count
    }
}
