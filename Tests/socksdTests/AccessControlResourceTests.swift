import AsyncSockets
import Foundation
import Glibc
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport

/// Issue 9's proof against a `socksd` child process: what access control turns away costs the daemon
/// nothing it keeps. A flood from one IP under `--max-sessions-per-ip` leaves another IP served; and a
/// thousand refusals of each kind (closed at accept, denied by the rules, refused by a limit, failed and
/// throttled logins) give back every descriptor and leave the resident set where it was.
///
/// Resources are counted as in `DaemonResourceTests` (read its doc comment): descriptors exactly, against a
/// baseline taken after a warm-up that did the same, polled for up to 20 s (pooled splice pipes aside); the
/// anonymous resident set may grow by `DaemonResourceTests.residentGrowthLimitKiB` (256 KiB) over 1,000
/// measured sessions after a warm-up of 300, with the daemon's allocator set up to show leaks
/// (`ResourceCheck.leakRevealingEnvironment`). That bound was set for sessions that do more than these (a
/// relay, buffers); a refusal that kept more than about 260 bytes would exceed it. Measured here: 0 KiB of
/// growth for every kind of refusal, and the descriptors back to the exact baseline, in four runs (two
/// with both cores loaded); 20–44 KiB for the flood, whose 50 sessions relay.
///
/// The tests run one at a time (`.serialized`): each keeps a daemon busy with a thousand sessions, and the
/// machine has two cores that the rest of the suite shares.
@Suite(.serialized) struct AccessControlResourceTests {
    static let flooder = IPAddress("127.0.0.2")!
    static let bystander = IPAddress("127.0.0.3")!

    /// Starts a daemon on loopback with `arguments`, under `ResourceCheck.leakRevealingEnvironment`, after
    /// raising this process's descriptor limit (a flood holds a thousand sockets here).
    static func startMeasuredDaemon(_ arguments: [String], fileLimit: Int? = nil) async throws -> (DaemonProcess, SocketAddress) {
        LoopbackPeers.raiseDescriptorLimit()
        return try await DaemonProcess.startOnLoopback(arguments, fileLimit: fileLimit, environment: ResourceCheck.leakRevealingEnvironment)
    }

    /// The usual check of `ResourceCheck` (300 warm-up sessions, 1,000 measured, 8 at a time) of `daemon`,
    /// with the memory bound of `DaemonResourceTests`.
    static func check(
        _ daemon: DaemonProcess, named name: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ session: @escaping @Sendable (Int) async throws -> Void
    ) async throws {
        let check = ResourceCheck(subjects: [ResourceCheck.Subject(name: name, daemon: daemon)], residentGrowthLimitKiB: DaemonResourceTests.residentGrowthLimitKiB)
        try await check.run(sourceLocation: sourceLocation, session)
    }

    /// How many connections the log accounts for as refused for `reason` (`over --max-sessions-per-ip`):
    /// one line for the first of each 10 s interval (`refused 127.0.0.2:PORT: over --max-sessions-per-ip
    /// 50`), and a summary for the rest (`refused N more connection(s) over --max-sessions-per-ip in the last
    /// 10 s`).
    static func refusalsLogged(in lines: [Substring], reason: String) -> Int {
        var count = 0
        for line in lines {
            guard let start = line.range(of: " refused ")?.upperBound else { continue }
            let rest = line[start...]
            if rest.hasSuffix("more connection(s) \(reason) in the last 10 s"), let n = Int(rest.prefix { $0.isNumber }) {
                count += n
            } else if rest.contains(": \(reason)") {
                count += 1
            }
        }
        return count
    }

    // MARK: A flood from one IP

    /// What became of a flood's connections.
    struct Flood: Sendable {
        /// The sessions the daemon served (CONNECT to the echo, a byte echoed), still open.
        var held: [SOCKSTestClient] = []
        var closedAtAccept = 0
        /// Anything else: a deadline passed, a reply other than 00, a wrong echo.
        var failures: [String] = []
    }

    /// Opens `count` connections from `source`, at most `concurrency` being set up at once, each asking for
    /// a CONNECT to `echo`. Served ones echo a byte and are held open; the rest must be closed at accept.
    /// Each connection is bounded in time, and so is the whole: none is started after `deadline` (a few
    /// tenths of a second are usual; the rest are counted as failures).
    static func flood(
        _ proxy: SocketAddress, echo: SocketAddress, from source: IPAddress, count: Int, concurrency: Int, deadline: Duration = .seconds(60)
    ) async -> Flood {
        let end = ContinuousClock.now + deadline
        enum Outcome: Sendable {
            case held(SOCKSTestClient), closedAtAccept, failed(String)
        }
        return await withTaskGroup(of: Outcome.self) { group in
            var flood = Flood()
            func collect(_ outcome: Outcome?) {
                switch outcome {
                case .held(let client)?: flood.held.append(client)
                case .closedAtAccept?: flood.closedAtAccept += 1
                case .failed(let failure)?: flood.failures.append(failure)
                case nil: break
                }
            }
            for index in 0..<count {
                if index >= concurrency { collect(await group.next()) }
                guard ContinuousClock.now < end else {
                    flood.failures.append("\(count - index) connections not attempted: the flood's \(deadline) had passed")
                    break
                }
                group.addTask {
                    do {
                        switch try await SessionScript.connectOrRefusal(through: proxy, to: SOCKSEndpoint(echo), from: source) {
                        case .closedAtAccept:
                            return .closedAtAccept
                        case .admitted(let client, let reply):
                            do {
                                guard reply.code == .succeeded else { throw SessionScript.Failure("CONNECT reply \(reply.code)") }
                                try await withDeadline(SessionScript.sessionTimeLimit) {
                                    try await client.send([0x46])
                                    guard try await client.receive(exactly: 1) == [0x46] else { throw SessionScript.Failure("wrong echo") }
                                }
                                return .held(client)
                            } catch {
                                client.close()
                                throw error
                            }
                        }
                    } catch {
                        return .failed("\(error)")
                    }
                }
            }
            while let outcome = await group.next() { collect(outcome) }
            return flood
        }
    }

    /// One CONNECT + echo + close from the bystander, timed; a failure, or no service within 10 s (the
    /// bound the issue asks for; timing is otherwise the benchmark's business), is returned as its message.
    static func bystanderSession(_ proxy: SocketAddress, echo: SocketAddress) async -> Result<Duration, SessionScript.Failure> {
        let start = ContinuousClock.now
        do {
            try await withDeadline(.seconds(10)) { try await SessionScript.connectEcho(through: proxy, to: echo, from: bystander) }
            return .success(ContinuousClock.now - start)
        } catch {
            return .failure(SessionScript.Failure("\(error)"))
        }
    }

    /// The median and the largest of `durations`, in milliseconds, for the output.
    static func summary(_ durations: [Duration]) -> String {
        guard !durations.isEmpty else { return "no sessions" }
        let sorted = durations.sorted()
        let milliseconds = { (duration: Duration) in String(format: "%.1f ms", Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000) }
        return "median \(milliseconds(sorted[sorted.count / 2])), max \(milliseconds(sorted.last!)) (\(durations.count) sessions)"
    }

    /// Set when the flood is over, for the bystander and the sampler that run beside it.
    final class Finished: Sendable {
        private let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .acquiring) }
        func set() { flag.store(true, ordering: .releasing) }
    }

    /// "1,000 connections from one IP with `--max-sessions-per-ip 50` leave another IP served within its
    /// usual time; descriptors return afterwards."
    ///
    /// 127.0.0.2 opens 1,000 connections (64 being set up at a time), each asking for a CONNECT to an echo
    /// and holding it open once served. Exactly 50 are served and the other 950 closed at accept, and the
    /// log accounts for all 950 (one line and 10 s summaries). Meanwhile 127.0.0.3 runs CONNECT + echo +
    /// close, one after another: every one is served within 10 s (asserted; how long they take is recorded,
    /// not asserted: speed is the benchmark's). While the flood runs, the daemon holds no more sockets than
    /// its baseline, the 50 sessions (two sockets each) and a few in passing. Once the flood's sessions are
    /// closed, its descriptors return to the baseline within 20 s and its anonymous resident set grows by at
    /// most 256 KiB, after an identical warm-up flood.
    ///
    /// The daemon runs under `ulimit -n 1024`: admitting the whole flood would take 2,000 sockets, so the
    /// per-IP limit is what keeps it within its descriptors, and the bystander served.
    ///
    /// Measured on the project's 2-core VM with the debug daemon (other builds running beside it), in ten
    /// runs, four of them with both cores loaded. 127.0.0.3's CONNECT + echo + close before the flood:
    /// median 1.2–3.4 ms (max 5.8–36 ms); during it (1–17 sessions while the 1,000 connections were made, a
    /// few tenths of a second; the first starts together with the flood's first 64 connections, in the same
    /// test process): median 1.6–92 ms (max 28–92 ms), 27–47 ms with both cores loaded; with the flood's 50
    /// sessions open: median 0.7–2.2 ms (max 1.1–10.5 ms). Descriptors: 19–21 before (2 sockets), 121–124 at
    /// the flood's peak (104–105 sockets: the 2 listening sockets, the 50 sessions' 100, the bystander's),
    /// exactly the baseline after (pooled pipe ends within their allowance). Anonymous RSS grew 20–44 KiB.
    @Test func aFloodFromOneIPLeavesAnotherServedAndGivesItsDescriptorsBack() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let limit = 50
        let connections = 1000
        let (daemon, proxy) = try await Self.startMeasuredDaemon(["--max-sessions-per-ip", "\(limit)"], fileLimit: 1024)
        let pid = daemon.process.pid

        // Warm-up: the same flood once, so that what 50 sessions at once leave in the heap's high-water
        // mark is in the baseline.
        let warmUp = await Self.flood(proxy, echo: echo.address, from: Self.flooder, count: connections, concurrency: 64)
        #expect(warmUp.held.count == limit && warmUp.failures.isEmpty, "warm-up flood: \(warmUp.held.count) held, \(warmUp.closedAtAccept) closed at accept, failures: \(warmUp.failures.prefix(3))")
        warmUp.held.forEach { $0.close() }

        var before: [Duration] = []
        for _ in 0..<20 {
            switch await Self.bystanderSession(proxy, echo: echo.address) {
            case .success(let duration): before.append(duration)
            case .failure(let failure): Issue.record("the bystander before the flood: \(failure)")
            }
        }
        let baseline = try await ResourceCheck.settled(pid)

        // The flood, with the bystander and a descriptor sampler beside it.
        let finished = Finished()
        async let measured: Flood = {
            let flood = await Self.flood(proxy, echo: echo.address, from: Self.flooder, count: connections, concurrency: 64)
            finished.set()
            return flood
        }()
        async let peak: ProcessResources? = {
            var peak: ProcessResources?
            while !finished.isSet {
                if let sample = try? ProcessResources.of(pid), sample.descriptorsOtherThanPipes > peak?.descriptorsOtherThanPipes ?? -1 { peak = sample }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return peak
        }()
        var during: [Duration] = []
        var bystanderFailures: [String] = []
        // At least one bystander session overlaps the flood (it starts with it); at most 200, and none
        // started after 60 s, in case the flood runs long on a busy machine.
        let bystanderEnd = ContinuousClock.now + .seconds(60)
        repeat {
            switch await Self.bystanderSession(proxy, echo: echo.address) {
            case .success(let duration): during.append(duration)
            case .failure(let failure): bystanderFailures.append(failure.description)
            }
        } while during.count + bystanderFailures.count < 200 && !finished.isSet && ContinuousClock.now < bystanderEnd
        let flood = await measured
        let peakDuringFlood = await peak
        // Closed below once measured; this is for a test that throws before then (closing twice is harmless).
        defer { flood.held.forEach { $0.close() } }

        #expect(bystanderFailures.isEmpty, "127.0.0.3 during the flood: \(bystanderFailures.count) sessions not served within 10 s, the first: \(bystanderFailures.first ?? "")")
        #expect(flood.held.count == limit, "\(flood.held.count) sessions served from one IP under --max-sessions-per-ip \(limit)")
        #expect(flood.closedAtAccept == connections - limit, "\(flood.closedAtAccept) closed at accept")
        #expect(flood.failures.isEmpty, "\(flood.failures.count) flood connections neither served nor closed at accept, the first: \(flood.failures.first ?? "")")
        var whileHeld: [Duration] = []
        for _ in 0..<20 {
            switch await Self.bystanderSession(proxy, echo: echo.address) {
            case .success(let duration): whileHeld.append(duration)
            case .failure(let failure): Issue.record("127.0.0.3 with the flood's \(limit) sessions open: \(failure)")
            }
        }

        // Two sockets per served session, two for the bystander's session (one at a time), and a few the
        // flood's connections hold between accept and close (each accept loop closes one before it accepts
        // the next).
        if let peakDuringFlood {
            #expect(peakDuringFlood.descriptorsOtherThanPipes <= baseline.descriptorsOtherThanPipes + 2 * limit + 20, "the daemon held \(peakDuringFlood) during the flood (baseline: \(baseline))")
        }
        print("[access] 127.0.0.3 CONNECT + echo + close: before the flood \(Self.summary(before)); during it \(Self.summary(during)); with the flood's \(limit) sessions open \(Self.summary(whileHeld))")
        print("[access] flood of \(connections) from 127.0.0.2: \(flood.held.count) served, \(flood.closedAtAccept) closed at accept; the daemon held \(baseline) before, \(peakDuringFlood.map(\.description) ?? "?") at its peak")

        flood.held.forEach { $0.close() }
        let end = try await ResourceCheck.expectDescriptorsReturn(of: pid, to: baseline, within: .seconds(20)) { end, pipeAllowance in
            "after the flood's sessions closed: \(end) (before the flood: \(baseline); up to \(pipeAllowance) more pipe ends allowed for pooled pipes)"
        }
        let growth = end.residentAnonymousKiB - baseline.residentAnonymousKiB
        #expect(growth <= DaemonResourceTests.residentGrowthLimitKiB || !ResourceCheck.memoryIsMeasurable, "anonymous RSS grew \(growth) KiB over a flood of \(connections) (before: \(baseline); after: \(end))")
        print("[access] after the flood: \(end); anonymous RSS growth \(growth) KiB")

        // Every refusal of both floods is in the log: the last summary comes when its 10 s interval ends.
        let refused = warmUp.closedAtAccept + flood.closedAtAccept
        #expect(await daemon.waitForLog(within: .seconds(30)) { Self.refusalsLogged(in: $0, reason: "over --max-sessions-per-ip") == refused },
                "the log accounts for \(Self.refusalsLogged(in: daemon.logLines, reason: "over --max-sessions-per-ip")) of \(refused) refusals:\n\(daemon.logLines.filter { $0.contains("refused") }.joined(separator: "\n"))")
        #expect(daemon.log.contains("refused 127.0.0.2:") && daemon.log.contains(": over --max-sessions-per-ip \(limit)"))
        #expect(try await daemon.stop() == 0)
    }

    // MARK: A thousand refusals of each kind

    /// The refusals that close a connection right after accept, before any protocol byte.
    enum AcceptRefusal: String, CaseIterable, Sendable {
        /// `--allow-from 127.0.0.1/32`; clients from 127.0.0.3–127.0.0.10.
        case notInAllowFrom
        /// `--max-sessions-per-ip 2`, filled by two sessions from 127.0.0.2 held open; clients from 127.0.0.2.
        case overSessionsPerIP
        /// `--new-sessions-per-ip 2/h`, used up by two sessions from 127.0.0.2 before the check (an hour
        /// refills it); clients from 127.0.0.2.
        case overSessionRate
        /// `--max-sessions 2`, filled by two sessions from 127.0.0.2 held open; clients from 127.0.0.3–127.0.0.10.
        case overMaxSessions

        var arguments: [String] {
            switch self {
            case .notInAllowFrom: ["--allow-from", "127.0.0.1/32"]
            case .overSessionsPerIP: ["--max-sessions-per-ip", "2"]
            case .overSessionRate: ["--new-sessions-per-ip", "2/h"]
            case .overMaxSessions: ["--max-sessions", "2"]
            }
        }

        /// Where the refused client of session `index` connects from.
        func source(_ index: Int) -> IPAddress {
            switch self {
            case .overSessionsPerIP, .overSessionRate: AccessControlResourceTests.flooder
            case .notInAllowFrom, .overMaxSessions: IPAddress(bytes: [127, 0, 0, UInt8(3 + index % 8)])!
            }
        }
    }

    /// Connections refused at accept, by each of the four kinds, give back everything: the daemon closes
    /// each at once (the client sees no byte, only the close) and keeps nothing per refusal (the per-IP
    /// counts and rate buckets belong to the admitted sessions, which stay open or were made before the
    /// baseline).
    @Test(arguments: AcceptRefusal.allCases)
    func connectionsRefusedAtAcceptGiveBackEverything(refusal: AcceptRefusal) async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await Self.startMeasuredDaemon(refusal.arguments)
        var held: [SOCKSTestClient] = []
        defer { held.forEach { $0.close() } }
        switch refusal {
        case .notInAllowFrom:
            break
        case .overSessionsPerIP, .overMaxSessions:
            for _ in 0..<2 { held.append(try await SessionScript.openIdleConnect(through: proxy, to: echo.address, from: Self.flooder)) }
        case .overSessionRate:
            for _ in 0..<2 { try await SessionScript.connectEcho(through: proxy, to: echo.address, from: Self.flooder) }
        }
        try await Self.check(daemon, named: "socksd \(refusal.arguments.joined(separator: " "))") { index in
            try await SessionScript.closedAtAccept(by: proxy, from: refusal.source(index))
        }
        // The sessions that filled the limit were served all along.
        for client in held {
            try await client.send([1])
            #expect(try await client.receive(exactly: 1) == [1])
        }
    }

    /// CONNECTs denied by `--deny-to private` give back everything: half to the echo's loopback address
    /// (denied by the rule), half to `localhost` (a name the rules cannot match, denied by the address it
    /// resolves to). Each gets reply 02 and is closed; the 1,300 access lines all name the rule.
    @Test func deniedConnectsGiveBackEverything() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await Self.startMeasuredDaemon(["--deny-to", "private"])
        let byAddress = SOCKSEndpoint(echo.address)
        let byName = SOCKSEndpoint(address: .domain("localhost"), port: echo.address.port)
        try await Self.check(daemon, named: "socksd --deny-to private") { index in
            try await SessionScript.refusedRequest(through: proxy, to: index.isMultiple(of: 2) ? byAddress : byName)
        }
        #expect(await daemon.waitForLog { lines in
            lines.filter { $0.contains("command=connect") && $0.hasSuffix("outcome=denied(deny-to private (rule 1))") }.count == 1300
        }, "\(daemon.logLines.filter { $0.contains("outcome=denied") }.count) of 1300 denied CONNECTs logged")
    }

    /// UDP associations that send two datagrams to denied destinations (a loopback port denied by `private`
    /// after `--allow-to` let only the echo's port through, and `localhost` at that port) and then one to
    /// the echo: the denied datagrams are dropped (their peer hears nothing), the association goes on (the
    /// echo comes back), every access line counts `dropped=2`, and everything is given back.
    @Test func deniedDatagramsGiveBackEverything() async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        let deniedPeer = try LoopbackPeers.startUDPEcho()
        defer { echo.stop(); deniedPeer.stop() }
        let (daemon, proxy) = try await Self.startMeasuredDaemon(["--allow-to", "127.0.0.1:\(echo.address.port)", "--deny-to", "private"])
        let denied = [SOCKSEndpoint(deniedPeer.address), SOCKSEndpoint(address: .domain("localhost"), port: deniedPeer.address.port)]
        try await Self.check(daemon, named: "socksd --allow-to 127.0.0.1:ECHO --deny-to private") { _ in
            try await SessionScript.udpEchoAfterDeniedDatagrams(through: proxy, denied: denied, echo: echo.address)
        }
        #expect(deniedPeer.senders.all.isEmpty, "\(deniedPeer.senders.all.count) denied datagrams reached their destination")
        #expect(await daemon.waitForLog { lines in
            lines.filter { $0.contains("command=udp-associate") && $0.contains(" dropped=2 ") }.count == 1300
        }, "\(daemon.logLines.filter { $0.contains("command=udp-associate") && $0.contains(" dropped=2 ") }.count) of 1300 associations logged dropped=2")
    }

    /// Issue 18, item 1: every relay socket and outgoing socket counts among the daemon's own while it is
    /// open. UDP associations that each send a datagram to their own relay socket (denied: `own UDP socket`)
    /// and then one to the echo give back everything: each association's sockets leave the registry with
    /// it, and every access line counts `dropped=1`.
    @Test func datagramsToTheDaemonsOwnRelaySocketsGiveBackEverything() async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await Self.startMeasuredDaemon([])
        try await Self.check(daemon, named: "socksd, datagrams to its own relay sockets") { _ in
            try await SessionScript.udpEchoAfterDeniedDatagrams(through: proxy, denied: [], toItsOwnRelay: true, echo: echo.address)
        }
        #expect(await daemon.waitForLog { lines in
            lines.filter { $0.contains("command=udp-associate") && $0.contains(" dropped=1 ") }.count == 1300
        }, "\(daemon.logLines.filter { $0.contains("command=udp-associate") && $0.contains(" dropped=1 ") }.count) of 1300 associations logged dropped=1")
    }

    /// Wrong passwords from 100 addresses (127.0.1.1–127.0.1.100), 13 each over the warm-up and the check:
    /// each address's first 10 fail (one `outcome=auth-failed` access line each, and the tenth starts a
    /// 30 s backoff, announced once), the rest are refused unchecked (summarised, no line of their own).
    /// Everything is given back, the throttle's table of 100 addresses being in the baseline. The log
    /// accounts for all 1,300 logins once the last 10 s summary is out.
    @Test func failedAndThrottledLoginsGiveBackEverything() async throws {
        let (daemon, proxy) = try await Self.startMeasuredDaemon(["--user", "alice:s3cret"])
        let wrong = SOCKSCredentials(username: "alice", password: "wrong")
        let addresses = 100
        let source: @Sendable (Int) -> IPAddress = { index in IPAddress(bytes: [127, 0, 1, UInt8(1 + index % addresses)])! }
        try await Self.check(daemon, named: "socksd --user (failed and throttled logins)") { index in
            try await SessionScript.failedLogin(through: proxy, as: wrong, from: source(index))
        }

        // Every login is in the log: an access line for each failed one, one line or a summary for each
        // refused one. The last summary comes when its 10 s interval ends.
        let accounted = { (lines: [Substring]) -> Int in
            var count = lines.filter { $0.hasSuffix("outcome=auth-failed") }.count
            for line in lines {
                if line.hasSuffix("login refused: this address is throttled after too many failed logins") { count += 1 }
                if let range = line.range(of: "login throttling: refused "), let n = Int(line[range.upperBound...].prefix { $0.isNumber }) { count += n }
            }
            return count
        }
        #expect(await daemon.waitForLog(within: .seconds(30)) { accounted($0) == 1300 }, "the log accounts for \(accounted(daemon.logLines)) of 1300 logins")
        let lines = daemon.logLines
        for index in 0..<addresses {
            let address = source(index)
            let failed = lines.filter { $0.contains("client=\(address):") && $0.hasSuffix("outcome=auth-failed") }.count
            let backoffs = lines.filter { $0.contains("login throttling: \(address) failed 10 logins within 60.0 seconds; refusing its logins for ") }.count
            // Ten failures start each backoff; a run longer than the 30 s backoff may start another.
            #expect(backoffs >= 1 && (10 * backoffs..<10 * backoffs + 10).contains(failed), "\(address): \(failed) failed logins logged, \(backoffs) backoffs")
        }
        #expect(!daemon.log.contains("s3cret") && !daemon.log.contains("wrong"), "a password reached the log")
    }

    /// The limits checked after the handshake (reply 02): `--max-sessions-per-user 1` with alice's session
    /// held, then CONNECTs as alice; `--max-udp-associations 1` with one association held, then UDP
    /// ASSOCIATEs. Each refused request is closed, and everything is given back.
    @Test(arguments: ["--max-sessions-per-user", "--max-udp-associations"])
    func requestsOverALimitGiveBackEverything(flag: String) async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let alice = SOCKSCredentials(username: "alice", password: "s3cret")
        if flag == "--max-sessions-per-user" {
            let (daemon, proxy) = try await Self.startMeasuredDaemon(["--user", "alice:s3cret", flag, "1"])
            let (held, reply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(echo.address), credentials: alice)
            defer { held.close() }
            try #require(reply.code == .succeeded)
            try await Self.check(daemon, named: "socksd \(flag) 1") { _ in
                try await SessionScript.refusedRequest(through: proxy, to: SOCKSEndpoint(echo.address), credentials: alice)
            }
        } else {
            let (daemon, proxy) = try await Self.startMeasuredDaemon([flag, "1"])
            let held = try await UDPTestClient.associate(proxy)
            defer { held.close() }
            try await Self.check(daemon, named: "socksd \(flag) 1") { _ in
                try await SessionScript.refusedRequest(through: proxy, command: .udpAssociate, to: SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: 0))
            }
        }
    }
}
