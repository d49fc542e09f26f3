import AsyncSockets
import Foundation
import Glibc
import Testing
import TestSupport

/// Two `socksd` instances, each with a PROXY protocol listener on loopback, behind HAProxy (Debian's
/// `haproxy`) running `Configuration/haproxy.cfg` in the foreground: the shipped file with its example
/// addresses replaced by the instances' ports and free loopback ports, and its check interval shortened.
///
/// Every process it starts is a `ChildProcess`, killed when the cluster goes away if `finish()` has not
/// stopped it (a test that throws midway leaves nothing running).
final class HAProxyCluster: Sendable {
    static let haproxyPath = "/usr/sbin/haproxy"
    /// The shipped configuration, which the README shows.
    static let shippedConfigurationPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Configuration/haproxy.cfg").path
    /// The interval between HAProxy's health checks here (the shipped file says 2s).
    static let checkInterval = "500ms"

    let daemons: [DaemonProcess]
    /// The instances' PROXY listeners: `socksd1` and `socksd2` of the configuration.
    let instances: [SocketAddress]
    let haproxy: ChildProcess
    let haproxyLogPath: String
    let configuration: TemporaryFile
    /// HAProxy's frontends: version 2 headers, version 1 headers, and the stats page.
    let v2: SocketAddress
    let v1: SocketAddress
    let stats: SocketAddress
    /// The daemons' descriptors once HAProxy was up and checking, before the test did anything.
    let baselines: [ProcessResources]

    private init(
        daemons: [DaemonProcess], instances: [SocketAddress], haproxy: ChildProcess, haproxyLogPath: String,
        configuration: TemporaryFile, v2: SocketAddress, v1: SocketAddress, stats: SocketAddress, baselines: [ProcessResources]
    ) {
        self.daemons = daemons
        self.instances = instances
        self.haproxy = haproxy
        self.haproxyLogPath = haproxyLogPath
        self.configuration = configuration
        self.v2 = v2
        self.v1 = v1
        self.stats = stats
        self.baselines = baselines
    }

    deinit {
        try? FileManager.default.removeItem(atPath: haproxyLogPath)
    }

    /// What HAProxy has written (standard output and error together).
    var haproxyLog: String { (try? String(contentsOfFile: haproxyLogPath, encoding: .utf8)) ?? "" }

    /// Everything, for failure messages.
    var logs: String {
        zip(daemons.indices, daemons).map { "socksd\($0 + 1) log:\n\($1.log)" }.joined(separator: "\n") + "\nhaproxy log:\n\(haproxyLog)"
    }

    /// Starts two daemons with `arguments` after their PROXY listener flags, then HAProxy in front of them
    /// with the shipped configuration (changed further by `adapt`), and waits until HAProxy has checked
    /// both instances and counts all four servers UP. Fails the test (recording why) if `haproxy` is not
    /// installed.
    static func start(_ arguments: [String] = [], adapt: (String) -> String = { $0 }) async throws -> HAProxyCluster {
        guard FileManager.default.isExecutableFile(atPath: haproxyPath) else {
            Issue.record("\(haproxyPath) is not installed: run .ci/run, or apt-get install haproxy")
            throw SocketError.nameNotFound(haproxyPath)
        }
        let shipped = try String(contentsOfFile: shippedConfigurationPath, encoding: .utf8)
        var daemons: [DaemonProcess] = []
        var instances: [SocketAddress] = []
        for _ in 0..<2 {
            let daemon = try DaemonProcess([
                "--proxy-protocol-listen", "127.0.0.1:0", "--proxy-protocol-from", "127.0.0.1/32", "--udp-advertise", "127.0.0.1",
            ] + arguments)
            daemons.append(daemon)
            instances.append(try await proxyListener(of: daemon))
        }
        // HAProxy binds its frontends itself, on ports that were free a moment ago: if another test took
        // one in between, HAProxy exits at once, and new ports are tried. Its stats are asked for only once
        // /proc shows HAProxy holding all three listeners: until then a request could reach another
        // test's server that took the stats port (a PROXY listener's count of bad headers, say).
        for attempt in 1...3 {
            let v2 = SocketAddress(ip: .ipv4Loopback, port: try LoopbackPeers.freePort())
            let v1 = SocketAddress(ip: .ipv4Loopback, port: try LoopbackPeers.freePort())
            let stats = SocketAddress(ip: .ipv4Loopback, port: try LoopbackPeers.freePort())
            let text = adapt(try configuration(from: shipped, v2: v2.port, v1: v1.port, stats: stats.port, instances: instances))
            let file = try TemporaryFile(text, name: "haproxy-test.cfg")
            let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("haproxy-test-\(UUID().uuidString).log").path
            let haproxy = try ChildProcess(haproxyPath, ["-db", "-f", file.path], outputPath: logPath)
            let listening = await ListeningSockets.waitUntil(haproxy, listensOn: [v2.port, v1.port, stats.port])
            let up = listening ? await waitUntilServersUp(stats, while: haproxy) : false
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if !up && !haproxy.isRunning && attempt < 3 && log.contains("cannot bind") {
                try? FileManager.default.removeItem(atPath: logPath)
                continue
            }
            var baselines: [ProcessResources] = []
            for daemon in daemons { baselines.append(try await ResourceCheck.settled(daemon.process.pid)) }
            let cluster = HAProxyCluster(
                daemons: daemons, instances: instances, haproxy: haproxy, haproxyLogPath: logPath, configuration: file,
                v2: v2, v1: v1, stats: stats, baselines: baselines)
            guard up else {
                // The stats are asked for only from an HAProxy that holds their port (see above).
                let statsText = listening && haproxy.isRunning ? await cluster.statsCSV() : "(HAProxy did not listen on all three ports)"
                Issue.record("HAProxy did not report both instances UP in both backends within 20 s; stats:\n\(statsText)\n\(cluster.logs)")
                throw SocketError.timedOut
            }
            return cluster
        }
        throw SocketError.timedOut  // not reached: the third attempt returns or throws
    }

    /// The shipped configuration with its example addresses replaced (each must occur as often as the
    /// file is known to have it: a changed file fails the test instead of running something else).
    static func configuration(from shipped: String, v2: UInt16, v1: UInt16, stats: UInt16, instances: [SocketAddress]) throws -> String {
        var text = shipped
        func replace(_ old: String, _ new: String, occurring count: Int) throws {
            let found = text.components(separatedBy: old).count - 1
            guard found == count else {
                Issue.record("Configuration/haproxy.cfg has '\(old)' \(found) time(s), where the test expects \(count)")
                throw SocketError.nameNotFound(old)
            }
            text = text.replacingOccurrences(of: old, with: new)
        }
        try replace("bind 127.0.0.1:1080\n", "bind 127.0.0.1:\(v2)\n", occurring: 1)
        try replace("bind 127.0.0.1:1081\n", "bind 127.0.0.1:\(v1)\n", occurring: 1)
        try replace("bind 127.0.0.1:8404\n", "bind 127.0.0.1:\(stats)\n", occurring: 1)
        try replace("server socksd1 127.0.0.1:10801 ", "server socksd1 \(instances[0]) ", occurring: 2)
        try replace("server socksd2 127.0.0.1:10802 ", "server socksd2 \(instances[1]) ", occurring: 2)
        try replace("check inter 2s ", "check inter \(checkInterval) ", occurring: 1)
        return text
    }

    /// The address of `daemon`'s PROXY listener, from its `listening on 127.0.0.1:PORT (PROXY protocol)`.
    static func proxyListener(of daemon: DaemonProcess) async throws -> SocketAddress {
        let line = try #require(try await daemon.listeningAddresses().first)
        #expect(line.hasSuffix(" (PROXY protocol)"), "listening on \(line)")
        let address = line.split(separator: " ").first.map(String.init) ?? ""
        let port = try #require(address.split(separator: ":").last.flatMap { UInt16($0) }, "listening on \(line)")
        return SocketAddress(ip: .ipv4Loopback, port: port)
    }

    /// Polls HAProxy's stats until all four servers are UP and the checked ones have passed a check
    /// (`L4OK`), for at most 20 s or while `haproxy` runs; returns whether they were.
    static func waitUntilServersUp(_ stats: SocketAddress, while haproxy: ChildProcess) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline && haproxy.isRunning {
            let servers = StatsRow.servers(in: (try? await fetchStats(stats)) ?? "")
            if servers.count == 4 && servers.allSatisfy({ $0["status"] == "UP" })
                && servers.filter({ $0["backend"] == "socksd_v2" }).allSatisfy({ $0["check_status"] == "L4OK" }) {
                return true
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// The stats page as CSV (`GET /stats;csv`).
    static func fetchStats(_ stats: SocketAddress) async throws -> String {
        try await withDeadline(.seconds(10)) {
            let connection = try await TCPConnection.connect(to: stats)
            defer { connection.close() }
            try await connection.write(Array("GET /stats;csv HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            var bytes: [UInt8] = []
            for try await chunk in connection.chunks() { bytes.append(contentsOf: chunk) }
            return HTTPBody.decode(bytes)
        }
    }

    func statsCSV() async -> String {
        (try? await Self.fetchStats(stats)) ?? "(no stats)"
    }

    /// Each server row of the stats, as name → value (`backend` and `server` for `pxname` and `svname`).
    func servers() async -> [[String: String]] {
        StatsRow.servers(in: await statsCSV())
    }

    /// HAProxy's count of sessions each instance got from `backend` (`stot`), socksd1's first.
    func sessionsPerInstance(backend: String) async -> [Int] {
        let rows = await servers()
        return ["socksd1", "socksd2"].map { name in
            rows.first { $0["backend"] == backend && $0["server"] == name }.flatMap { $0["stot"] }.flatMap { Int($0) } ?? -1
        }
    }

    /// Checks that both daemons are back to the descriptors they held before the test (pooled splice pipes
    /// aside), then stops HAProxy and the daemons (each must exit 0).
    func finish(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for (index, (daemon, baseline)) in zip(daemons, baselines).enumerated() {
            try await ResourceCheck.expectDescriptorsReturn(of: daemon.process.pid, to: baseline, within: .seconds(20), sourceLocation: sourceLocation) { end, allowance in
                "socksd\(index + 1): \(end.openDescriptors - baseline.openDescriptors) descriptors more than before the test, 20 s after its last client closed (up to \(allowance) more pipe ends allowed; before: \(baseline); after: \(end))"
            }
        }
        haproxy.signal(SIGTERM)
        if try await haproxy.exitStatus(timeout: .seconds(10)) == nil {
            Issue.record("haproxy did not stop within 10 s of SIGTERM", sourceLocation: sourceLocation)
            haproxy.signal(SIGKILL)
        }
        for (index, daemon) in daemons.enumerated() {
            #expect(try await daemon.stop() == 0, "socksd\(index + 1) log:\n\(daemon.log)", sourceLocation: sourceLocation)
        }
    }
}

/// The body of an HTTP/1.1 response read to its end, as text: HAProxy sends its stats page in chunks.
enum HTTPBody {
    static func decode(_ response: [UInt8]) -> String {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = response.indices.first(where: { response[$0...].starts(with: separator) }) else { return "" }
        let head = String(decoding: response[..<end], as: UTF8.self).lowercased()
        var rest = response[(end + 4)...]
        guard head.contains("transfer-encoding: chunked") else { return String(decoding: rest, as: UTF8.self) }
        var body: [UInt8] = []
        // Each chunk: its size in hexadecimal, CRLF, the bytes, CRLF; a size of 0 ends the body.
        while let lineEnd = rest.indices.first(where: { rest[$0...].starts(with: [13, 10]) }),
              let size = Int(String(decoding: rest[..<lineEnd], as: UTF8.self).split(separator: ";").first ?? "", radix: 16),
              size > 0, rest.count >= lineEnd - rest.startIndex + 2 + size {
            let start = lineEnd + 2
            body.append(contentsOf: rest[start..<(start + size)])
            rest = rest[(start + size)...].dropFirst(2)
        }
        return String(decoding: body, as: UTF8.self)
    }
}

/// Rows of HAProxy's CSV stats.
enum StatsRow {
    /// The rows of servers (not the FRONTEND/BACKEND summaries), each as column → value, with `pxname` and
    /// `svname` also as `backend` and `server`.
    static func servers(in csv: String) -> [[String: String]] {
        let lines = csv.split(separator: "\n")
        guard let header = lines.first, header.hasPrefix("# ") else { return [] }
        let columns = header.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        return lines.dropFirst().compactMap { line -> [String: String]? in
            let values = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            var row: [String: String] = [:]
            for (column, value) in zip(columns, values) where !column.isEmpty { row[column] = value }
            guard let server = row["svname"], server != "FRONTEND", server != "BACKEND" else { return nil }
            row["backend"] = row["pxname"]
            row["server"] = server
            return row
        }
    }
}

extension DaemonProcess {
    /// The log lines at warning or error level (`TIME LEVEL message`).
    var problemLines: [Substring] {
        logLines.filter { line in
            let fields = line.split(separator: " ", maxSplits: 2)
            return fields.count >= 2 && (fields[1] == "warning" || fields[1] == "error")
        }
    }

    /// Access lines (`session client=…`) whose client has the IP `client`, and that contain `containing`.
    func accessLines(client: String, containing: String = "") -> [Substring] {
        // (Foundation's contains says false for "".)
        logLines.filter { $0.contains(" session client=\(client):") && (containing.isEmpty || $0.contains(containing)) }
    }
}
