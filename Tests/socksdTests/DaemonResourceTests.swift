import AsyncSockets
import Foundation
import SOCKSClient
import SOCKSProtocol
import Testing
import TestSupport

/// Every resource comes back (issue 8): a daemon that has served a few hundred sessions of any kind holds
/// no more descriptors than before them, and its resident set has not grown with them; idle sessions cost
/// little; a descriptor limit of 1,024 still fits hundreds of sessions.
///
/// Each test counts a `socksd` child process of its own (the test process's counts move with every test
/// running beside it) through `/proc`. Descriptor counts are exact, so they are compared with the baseline
/// itself, polled for up to 20 s after the last session (pipe ends excepted, within what the daemon's pool
/// of idle splice pipes may keep: see `ResourceCheck`). Memory is noisier: a bound per test says why.
///
/// Memory bound for the repeated sessions: the anonymous resident set (heap, stacks) may grow by 256 KiB
/// over 1,000 sessions after a warm-up of 300, with the daemon's allocator set up to show leaks
/// (`ResourceCheck.leakRevealingEnvironment`). Measured on this project's 2-core VM with the debug daemon,
/// idle and with both cores loaded: sessions that keep nothing grew it by −8 to +60 KiB per 1,000; the
/// leaks of issue 8 grew it by 680–1,420 KiB per 1,000 before their fixes (UDP ASSOCIATE 1,324, UoT v2
/// 1,156, UoT v1 796, the daemons of a chain 948–1,424). The issue's target, 2 MiB per 20,000
/// associations, is about 100 KiB per 1,000; 256 KiB leaves room above the noise. A leak much smaller than
/// a kilobyte a session may pass one run and fail another; the descriptor checks are exact.
@Suite struct DaemonResourceTests {
    static let loopback = IPAddress.ipv4Loopback
    static let residentGrowthLimitKiB = 256

    /// What an idle UDP association or UoT stream may cost, in KiB. Issue 8's target was 16 KiB, in the
    /// release build that `Benchmarks/run.sh` measures (15.8 KiB per association and 14.6 KiB per UoT v2
    /// stream there, 1,000 held). Issue 19 (target 12 KiB) took one task and one task group from each (the
    /// session's task reads the client's datagrams and watches the control connection, or decapsulates the
    /// stream, itself; name lookups run in the relay's group): this test's release run (`swift test -c
    /// release`, 200 held) went from 17.6 to 13.2 KiB per association and from 16.8 to 13.6 KiB per stream
    /// on the code of that change alone, and measured 14.8–15.4 and 14.4–14.7 KiB with the rest of issue
    /// 19's work beside it. Smaller async frames (the task allocator keeps the slabs of a task's deepest
    /// stack) and the handshake buffer given back after the reply then took this test's release run to
    /// 13.8 KiB per association and 11.3 per stream (6.4 before a stream's header), and the debug run to
    /// 19.6 and 19.9 (from 26.4): the bounds move to 15 and 24 KiB. `Benchmarks/run.sh`, whose 1,000 held
    /// share the process's fixed costs more thinly, measures 12.1 and 10.5 KiB. All are far below the
    /// 137–222 KiB that idle 64 KiB buffers cost before issue 8's fix.
    #if DEBUG
    static let idleSessionLimitKiB = 24.0
    #else
    static let idleSessionLimitKiB = 15.0
    #endif

    /// Starts a daemon listening on a free loopback port with `arguments` after `--listen`; with
    /// `revealingLeaks`, under `ResourceCheck.leakRevealingEnvironment`.
    func startDaemon(_ arguments: [String] = [], fileLimit: Int? = nil, revealingLeaks: Bool = false) async throws -> (DaemonProcess, SocketAddress) {
        LoopbackPeers.raiseDescriptorLimit()
        let daemon = try DaemonProcess(
            ["--listen", "127.0.0.1:0"] + arguments, fileLimit: fileLimit,
            environment: revealingLeaks ? ResourceCheck.leakRevealingEnvironment : [:])
        return (daemon, SocketAddress(ip: Self.loopback, port: try await daemon.port()))
    }

    /// The usual check (300 warm-up sessions, then 1,000 measured) of the daemons given.
    func check(_ subjects: [(String, DaemonProcess)]) -> ResourceCheck {
        ResourceCheck(subjects: subjects.map { ResourceCheck.Subject(name: $0.0, daemon: $0.1) }, residentGrowthLimitKiB: Self.residentGrowthLimitKiB)
    }

    // MARK: Finished sessions give everything back

    @Test func connectSessionsGiveBackEverything() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await startDaemon(revealingLeaks: true)
        try await check([("socksd", daemon)]).run { _ in try await SessionScript.connectEcho(through: proxy, to: echo.address) }
    }

    /// Issue 8, defect 1: the idle watchdog's timer kept both sockets of every finished relay until the
    /// timeout (600 s here), so with `--idle-timeout` no CONNECT ever gave its descriptors back in time.
    @Test func connectSessionsWithAnIdleTimeoutGiveBackEverything() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await startDaemon(["--idle-timeout", "600"], revealingLeaks: true)
        try await check([("socksd --idle-timeout 600", daemon)]).run { _ in try await SessionScript.connectEcho(through: proxy, to: echo.address) }
    }

    /// SOCKS4 and SOCKS4a CONNECTs (alternating) on a port that also serves SOCKS5.
    @Test func socks4ConnectSessionsGiveBackEverything() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await startDaemon(["--protocols", "socks5,socks4"], revealingLeaks: true)
        try await check([("socksd --protocols socks5,socks4", daemon)]).run { index in
            try await SessionScript.socks4ConnectEcho(through: proxy, to: echo.address, byName: index % 2 == 1)
        }
    }

    /// HTTP proxy sessions with a login (`Proxy-Authorization: Basic`), on a port that also serves SOCKS5:
    /// CONNECT tunnels to the echo server alternating with keep-alive connections that forward two GETs to
    /// an origin that keeps its connection open too.
    @Test func httpSessionsGiveBackEverything() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let body = "resources of an HTTP session"
        let origin = try LoopbackPeers.startKeepAliveHTTP(body: body)
        defer { origin.stop() }
        let (daemon, proxy) = try await startDaemon(["--user", "alice:secret"], revealingLeaks: true)
        try await check([("socksd --user alice:secret (HTTP)", daemon)]).run { index in
            if index % 2 == 0 {
                try await SessionScript.httpConnectEcho(through: proxy, to: echo.address, credentials: ("alice", "secret"))
            } else {
                try await SessionScript.httpGetTwice(through: proxy, from: origin.address, expecting: body, credentials: ("alice", "secret"))
            }
        }
    }

    @Test func bindSessionsWithAPeerGiveBackEverything() async throws {
        let (daemon, proxy) = try await startDaemon(revealingLeaks: true)
        try await check([("socksd", daemon)]).run { _ in try await SessionScript.bindWithPeer(through: proxy) }
    }

    /// Every session waits out the half-second --bind-timeout: 50 at a time keep the test to a few seconds.
    /// 300 measured sessions, and the usual memory bound (generous for 300 sessions that relay nothing).
    @Test func bindSessionsWhosePeerNeverComesGiveBackEverything() async throws {
        let (daemon, proxy) = try await startDaemon(["--bind-timeout", "0.5"], revealingLeaks: true)
        var check = check([("socksd --bind-timeout 0.5", daemon)])
        (check.sessions, check.warmUpSessions, check.concurrency) = (300, 100, 50)
        try await check.run { _ in try await SessionScript.bindWithoutPeer(through: proxy) }
    }

    /// Issue 8, defect 5: every association left about 1.5 KB behind.
    @Test func udpAssociationsGiveBackEverything() async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await startDaemon(revealingLeaks: true)
        try await check([("socksd", daemon)]).run { _ in try await SessionScript.udpEcho(through: proxy, to: echo.address) }
    }

    /// Issue 8, defect 5: every UoT stream left about 2.4 KB behind.
    @Test(arguments: [UoTVersion.v2, .v1])
    func uotStreamsGiveBackEverything(version: UoTVersion) async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await startDaemon(revealingLeaks: true)
        try await check([("socksd", daemon)]).run { _ in try await SessionScript.uotEcho(through: proxy, version: version, to: echo.address) }
    }

    // MARK: Chains: socksd → socksd

    @Test func chainedConnectSessionsGiveBackEverythingInBothDaemons() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (upstream, upstreamAddress) = try await startDaemon(revealingLeaks: true)
        let (downstream, proxy) = try await startDaemon(["--upstream", "socks5://127.0.0.1:\(upstreamAddress.port)"], revealingLeaks: true)
        try await check([("downstream socksd", downstream), ("upstream socksd", upstream)]).run { _ in
            try await SessionScript.connectEcho(through: proxy, to: echo.address)
        }
    }

    /// UDP ASSOCIATE clients of the downstream, carried to the upstream over one UoT v2 stream each (`uot`)
    /// or over the upstream's own UDP ASSOCIATE (`associate`).
    @Test(arguments: ["uot", "associate"])
    func chainedUDPGivesBackEverythingInBothDaemons(transport: String) async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let (upstream, upstreamAddress) = try await startDaemon(revealingLeaks: true)
        let (downstream, proxy) = try await startDaemon(["--upstream", "socks5://127.0.0.1:\(upstreamAddress.port)", "--upstream-udp", transport], revealingLeaks: true)
        try await check([("downstream socksd (--upstream-udp \(transport))", downstream), ("upstream socksd", upstream)]).run { _ in
            try await SessionScript.udpEcho(through: proxy, to: echo.address)
        }
    }

    // MARK: Sessions that never get going

    /// Silent clients, closed by the daemon after its one-second --handshake-timeout: 100 at a time. The
    /// client waits up to 10 s for the close (ten times the timeout, for a busy machine).
    @Test func handshakeTimeoutsGiveBackEverything() async throws {
        let (daemon, proxy) = try await startDaemon(["--handshake-timeout", "1"], revealingLeaks: true)
        var check = check([("socksd --handshake-timeout 1", daemon)])
        (check.sessions, check.warmUpSessions, check.concurrency) = (300, 200, 100)
        try await check.run { _ in try await SessionScript.silent(to: proxy, closedWithin: .seconds(10)) }
    }

    /// Issue 8, defect 2: a cancelled loop timer kept its closure (and the client socket it captured) until
    /// its deadline whenever an earlier timer was still pending, so one silent client held back the
    /// descriptors of every session that ended after it on its event loop, for the whole handshake timeout.
    ///
    /// Four silent clients, so that every event loop (one per core) most likely has one; --handshake-timeout
    /// 60. The 200 sessions after them must give their descriptors back within 10 s, long before the silent
    /// ones' deadline: baseline plus the four silent clients' descriptors (and pooled pipes, as always).
    @Test func finishedSessionsGiveBackTheirDescriptorsWhileSilentClientsWait() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await startDaemon(["--handshake-timeout", "60"])
        let pid = daemon.process.pid
        let warmUp = await ResourceCheck.repeatSessions(32, concurrency: 16) { _ in try await SessionScript.connectEcho(through: proxy, to: echo.address) }
        #expect(warmUp.failures == 0, "warm-up: \(warmUp.first ?? "")")
        let baseline = try await ResourceCheck.settled(pid)

        var silent: [TCPConnection] = []
        defer { silent.forEach { $0.close() } }
        for _ in 0..<4 { silent.append(try await TCPConnection.connect(to: proxy)) }
        let withSilent = try await ProcessResources.poll(pid, within: .seconds(20)) { $0.openDescriptors >= baseline.openDescriptors + silent.count }
        #expect(withSilent.openDescriptors == baseline.openDescriptors + silent.count, "the daemon holds one descriptor per silent client (before: \(baseline); now: \(withSilent))")

        let sessions = await ResourceCheck.repeatSessions(200, concurrency: 8) { _ in try await SessionScript.connectEcho(through: proxy, to: echo.address) }
        #expect(sessions.failures == 0, "\(sessions.failures) of 200 sessions failed, the first: \(sessions.first ?? "")")
        try await ResourceCheck.expectDescriptorsReturn(of: pid, to: withSilent, within: .seconds(10)) { end, _ in
            "\(end.openDescriptors - withSilent.openDescriptors) descriptors of finished sessions still held 10 s after the last, while 4 silent clients wait out a 60 s handshake timeout (before the sessions: \(withSilent); after: \(end))"
        }
    }

    /// Issue 8, defect 6: a UoT v2 stream that never sends its request header lived until --udp-timeout.
    /// Here the handshake timeout is 3 s (enough for a handshake on a machine whose cores are all busy) and
    /// the UDP timeout 300 s: twenty such streams must each be closed within the handshake timeout and
    /// `TimeoutWindow.slack` after its reply, and their descriptors come back. The warm-up is four such
    /// streams, so that whatever the UoT path makes once is in the baseline.
    @Test func uotStreamsThatNeverSendTheirHeaderAreClosedWithinTheHandshakeTimeout() async throws {
        let (daemon, proxy) = try await startDaemon(["--handshake-timeout", "3", "--udp-timeout", "300"])
        let pid = daemon.process.pid
        let headerless: @Sendable (Int) async throws -> Void = { _ in
            let (client, reply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(address: .domain(UoTVersion.v2.magicName), port: 0))
            defer { client.close() }
            guard reply.code == .succeeded else { throw SessionScript.Failure("UoT v2 reply \(reply.code)") }
            let window = TimeoutWindow(.seconds(3))
            guard try await client.closesWithin(window.remaining) else { throw SessionScript.Failure("a UoT v2 stream without a header was not closed \(window)") }
        }
        let warmUp = await ResourceCheck.repeatSessions(4, concurrency: 4, headerless)
        #expect(warmUp.failures == 0, "warm-up: \(warmUp.first ?? "")")
        let baseline = try await ResourceCheck.settled(pid)
        let result = await ResourceCheck.repeatSessions(20, concurrency: 20, headerless)
        #expect(result.failures == 0, "\(result.failures) of 20 streams: \(result.first ?? "")")
        try await ResourceCheck.expectDescriptorsReturn(of: pid, to: baseline, within: .seconds(20)) { end, _ in "before: \(baseline); after: \(end)" }
    }

    // MARK: What idle sessions cost

    /// Issue 8, defect 7: every CONNECT held two splice pipes (four descriptors) even idle, so under
    /// `ulimit -n 1024` only about 180–218 idle sessions fit. Target: at least 450, each having echoed a
    /// byte; then all of them close and the descriptors come back to the baseline (pooled pipes aside: at
    /// this limit the pool keeps at most 64 pipe ends).
    @Test func aDaemonUnderADescriptorLimitOf1024Holds450IdleConnectSessions() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await startDaemon(fileLimit: 1024)
        let pid = daemon.process.pid
        let warmUp = await ResourceCheck.repeatSessions(32, concurrency: 16) { _ in try await SessionScript.connectEcho(through: proxy, to: echo.address) }
        #expect(warmUp.failures == 0, "warm-up: \(warmUp.first ?? "")")
        let baseline = try await ResourceCheck.settled(pid)

        let target = 450
        let (_, opened, firstFailure, _, during) = try await ResourceCheck.idleCost(
            of: pid, holding: target, stopAtFirstFailure: true, open: { _ in try await SessionScript.openIdleConnect(through: proxy, to: echo.address) },
            close: { $0.close() })
        #expect(opened == target, "\(opened) of \(target) idle CONNECT sessions under ulimit -n 1024; the first failure: \(firstFailure ?? "none"); the daemon then held \(during)")
        try await ResourceCheck.expectDescriptorsReturn(of: pid, to: baseline, within: .seconds(20)) { end, pipeAllowance in
            "after \(opened) sessions closed: \(end) (before them: \(baseline); up to \(pipeAllowance) more pipe ends allowed for pooled pipes)"
        }
    }

    /// Issue 8, defect 4: an idle UDP ASSOCIATE cost about 137–150 KiB (64 KiB buffers per direction);
    /// the bound is `idleSessionLimitKiB` each. 200 associations, each having echoed one
    /// datagram, held at once.
    @Test func idleUDPAssociationsCostLittle() async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await startDaemon()
        _ = await ResourceCheck.repeatSessions(8, concurrency: 1) { _ in try await SessionScript.udpEcho(through: proxy, to: echo.address) }
        let cost = try await ResourceCheck.idleCost(of: daemon.process.pid, holding: 200, open: { _ in
            let association = try await UDPTestClient.associate(proxy)
            do {
                for _ in 0..<4 {
                    try await association.send([1], to: SOCKSEndpoint(echo.address))
                    if try await association.receive(within: .seconds(2)) != nil { return association }
                }
                throw SessionScript.Failure("no echo")
            } catch {
                association.close()
                throw error
            }
        }, close: { $0.close() })
        #expect(cost.opened == 200, "\(cost.opened) of 200 associations opened; the first failure: \(cost.firstFailure ?? "none")")
        #expect(cost.kibPerSession <= Self.idleSessionLimitKiB || !ResourceCheck.memoryIsMeasurable, "\(cost.kibPerSession) KiB per idle association (before: \(cost.before); during: \(cost.during))")
        print("[resources] idle UDP ASSOCIATE: \(cost.kibPerSession) KiB each (before: \(cost.before); during: \(cost.during))")
    }

    /// Issue 8, defect 4: an idle UoT stream cost about 143 KiB before its header and 217 KiB after; the
    /// bound is `idleSessionLimitKiB` each. 200 v2 streams held at once, either with the
    /// header sent and one frame echoed, or with nothing sent after the CONNECT (the handshake timeout is
    /// raised to 60 s so that they stay open while measured).
    @Test(arguments: [true, false])
    func idleUoTStreamsCostLittle(sendsHeader: Bool) async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let (daemon, proxy) = try await startDaemon(["--handshake-timeout", "60"])
        _ = await ResourceCheck.repeatSessions(8, concurrency: 1) { _ in try await SessionScript.uotEcho(through: proxy, version: .v2, to: echo.address) }
        let cost = try await ResourceCheck.idleCost(of: daemon.process.pid, holding: 200, open: { _ in
            if sendsHeader {
                let stream = try await SOCKSClient(host: "127.0.0.1", port: proxy.port).udpOverTCP(version: .v2)
                var frames = stream.frames().makeAsyncIterator()
                do {
                    try await stream.send([1], to: SOCKSEndpoint(echo.address))
                    guard try await frames.next() != nil else { throw SessionScript.Failure("no echo") }
                    return stream.connection
                } catch {
                    stream.close()
                    throw error
                }
            }
            let (client, reply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(address: .domain(UoTVersion.v2.magicName), port: 0))
            guard reply.code == .succeeded else {
                client.close()
                throw SessionScript.Failure("UoT v2 reply \(reply.code)")
            }
            return client.connection
        }, close: { $0.close() })
        let label = sendsHeader ? "UoT v2 stream (header sent, one frame echoed)" : "UoT v2 stream waiting for its header"
        #expect(cost.opened == 200, "\(cost.opened) of 200 streams opened; the first failure: \(cost.firstFailure ?? "none")")
        #expect(cost.kibPerSession <= Self.idleSessionLimitKiB || !ResourceCheck.memoryIsMeasurable, "\(cost.kibPerSession) KiB per idle \(label) (before: \(cost.before); during: \(cost.during))")
        print("[resources] idle \(label): \(cost.kibPerSession) KiB each (before: \(cost.before); during: \(cost.during))")
    }

    /// Issue 18, item 10: after a burst, freed memory goes back to the system. 5,000 UDP associations (a
    /// TCP connection and a UDP socket each in the daemon, one connection each here) are held at once and
    /// closed; once the open-session count has stayed far below its peak (`MemoryReturn`: ten seconds), the
    /// daemon trims its heap and logs it, and 30 s after the last close its resident set is within twice what
    /// it was before the burst (without the trim it stayed near the peak: glibc keeps freed heap for reuse).
    @Test func freedMemoryGoesBackAfterABurst() async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        // An association holds three descriptors in the daemon (control connection, relay socket, outgoing socket).
        let (daemon, proxy) = try await startDaemon(fileLimit: 16_500)
        let pid = daemon.process.pid
        _ = await ResourceCheck.repeatSessions(8, concurrency: 1) { _ in try await SessionScript.udpEcho(through: proxy, to: echo.address) }
        let start = try await ResourceCheck.settled(pid)
        let burst = 5_000
        let opening = ContinuousClock.now
        // Only the control connection is held here (the relay is never sent to): one descriptor a session.
        let cost = try await ResourceCheck.idleCost(of: pid, holding: burst, concurrency: 16, open: { _ in
            let (control, reply) = try await SOCKSTestClient.open(proxy, command: .udpAssociate, to: SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: 0))
            guard reply.code == .succeeded else {
                control.close()
                throw SessionScript.Failure("UDP ASSOCIATE reply \(reply.code)")
            }
            return control
        }, close: { $0.close() })
        #expect(cost.opened == burst, "\(cost.opened) of \(burst) associations opened; the first failure: \(cost.firstFailure ?? "none")")
        let closed = ContinuousClock.now
        print("[resources] \(burst) UDP associations opened and held after \(closed - opening)")
        #expect(await daemon.waitForLog(within: .seconds(60)) { lines in
            lines.contains { $0.contains(" info open sessions fell from ") && $0.hasSuffix(" to 0: freed memory given back to the system") }
        }, "log: \(daemon.log)")
        try await ResourceCheck.expectDescriptorsReturn(of: pid, to: start, within: .seconds(20)) { end, pipeAllowance in
            "after \(burst) associations closed: \(end) (before them: \(start); up to \(pipeAllowance) more pipe ends allowed)"
        }
        let remaining = closed + .seconds(30) - ContinuousClock.now
        if remaining > .zero { try await Task.sleep(for: remaining) }
        let after = try ProcessResources.of(pid)
        print("[resources] a burst of \(burst) UDP associations: RSS before \(start.residentKiB) KiB, while held \(cost.during.residentKiB) KiB, 30 s after closing \(after.residentKiB) KiB")
        if ResourceCheck.memoryIsMeasurable {
            // The burst must have grown the daemon past the bound, or the check below could not fail.
            #expect(cost.during.residentKiB > 2 * start.residentKiB, "the burst did not double the resident set: before \(start), during \(cost.during)")
            #expect(after.residentKiB <= 2 * start.residentKiB, "RSS 30 s after the burst: \(after.residentKiB) KiB; before it \(start.residentKiB) KiB; while held \(cost.during.residentKiB) KiB")
        }
        #expect(try await daemon.stop() == 0)
    }

    /// A full descriptor table never kills the daemon (seen while testing item 10: 5,000 associations opened
    /// 16 at a time under `ulimit -n 12000` ended in SIGILL inside libdispatch). Once a second, whenever a
    /// global dispatch queue has work waiting, libdispatch's worker monitor opens `/proc/<tid>/stat` for each
    /// of its threads, and a failed `open` aborts the process; `DescriptorReserve` keeps descriptors free for
    /// it. Here, under `ulimit -n 1024`, UDP associations (three descriptors each in the daemon), opened 16 at
    /// a time, fill the table until the daemon turns one away, and idle connections (no greeting, the
    /// handshake timeout raised to keep them) take whatever is left. Then SIGUSR1 is sent over and over for
    /// 10 s: its handler runs on a global queue, so the monitor often finds work waiting (about two passes
    /// in five here). Before the fix the daemon died 1-6 s into this in each of 30 runs; with it, it lived
    /// through every run. The log level keeps the signals' lines out of the log. The daemon must still run,
    /// give back every descriptor once the clients have gone, and serve a CONNECT and a UDP ASSOCIATE again.
    @Test func aFullDescriptorTableDoesNotKillTheDaemon() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let udpEcho = try LoopbackPeers.startUDPEcho()
        defer { udpEcho.stop() }
        let limit = 1024
        let (daemon, proxy) = try await startDaemon(["--handshake-timeout", "60", "--log-level", "error"], fileLimit: limit)
        let pid = daemon.process.pid
        for _ in 0..<4 {
            try await SessionScript.connectEcho(through: proxy, to: echo.address)
            try await SessionScript.udpEcho(through: proxy, to: udpEcho.address)
        }
        let baseline = try await ResourceCheck.settled(pid)

        // Associations until the first is turned away; bounded by what the limit could ever hold. One that the
        // daemon leaves in its backlog (no descriptor to accept it with) gives up after the session time limit.
        var held: [SOCKSTestClient] = []
        var firstFailure: String?
        await withTaskGroup(of: Result<SOCKSTestClient, any Error>.self) { group in
            func collect(_ result: Result<SOCKSTestClient, any Error>?) {
                switch result {
                case .success(let control)?: held.append(control)
                case .failure(let error)?: firstFailure = firstFailure ?? "\(error)"
                case nil: break
                }
            }
            for index in 0..<(limit / 3 + 64) {
                if index >= 16 { collect(await group.next()) }
                if firstFailure != nil { break }
                group.addTask {
                    do {
                        return .success(try await withDeadline(SessionScript.sessionTimeLimit) {
                            let (control, reply) = try await SOCKSTestClient.open(
                                proxy, command: .udpAssociate, to: SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: 0))
                            guard reply.code == .succeeded else {
                                control.close()
                                throw SessionScript.Failure("UDP ASSOCIATE reply \(reply.code)")
                            }
                            return control
                        })
                    } catch {
                        return .failure(error)
                    }
                }
            }
            while let result = await group.next() { collect(result) }
        }
        defer { held.forEach { $0.close() } }
        #expect(firstFailure != nil, "all \(held.count) associations opened: the table never filled")
        var idle: [TCPConnection] = []
        defer { idle.forEach { $0.close() } }
        for _ in 0..<64 {
            if let connection = try? await TCPConnection.connect(to: proxy) { idle.append(connection) }
        }
        try #require(daemon.process.isRunning, "the daemon died while its table filled up; log: \(daemon.log)")
        let full = try await ResourceCheck.settled(pid)
        print("[resources] a full table: \(held.count) associations and \(idle.count) idle connections held; the first refusal: \(firstFailure ?? "none"); the daemon: \(full)")
        #expect(full.openDescriptors >= limit - DescriptorReserve.size(forLimit: limit), "the table did not fill: \(full)")

        // Bounded by time; each signal costs a few microseconds here, and the daemon coalesces them.
        let floodEnd = ContinuousClock.now + .seconds(10)
        var signals = 0
        while ContinuousClock.now < floodEnd, daemon.process.isRunning {
            // SIGUSR1 (a session summary, below the log level): SIGUSR2 would start an upgrade.
            daemon.signal(SIGUSR1)
            signals += 1
            if signals % 1024 == 0 { await Task.yield() }
        }
        let status = daemon.process.exitStatusIfExited()
        try #require(status == nil, "the daemon died (status \(status ?? 0); 132 is SIGILL) after \(signals) SIGUSR1 with a full table (\(full))")
        held.forEach { $0.close() }
        idle.forEach { $0.close() }
        try await ResourceCheck.expectDescriptorsReturn(of: pid, to: baseline, within: .seconds(20)) { end, pipeAllowance in
            "after the associations and idle connections closed: \(end) (before them: \(baseline); up to \(pipeAllowance) more pipe ends allowed)"
        }
        try await SessionScript.connectEcho(through: proxy, to: echo.address)
        try await SessionScript.udpEcho(through: proxy, to: udpEcho.address)
        #expect(try await daemon.stop() == 0)
    }
}
