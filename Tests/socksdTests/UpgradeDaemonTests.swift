import AsyncSockets
import Foundation
import Glibc
import SOCKSClient
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport

/// Issue 22 against the real `socksd` binary, run from a copy in a temporary directory that the tests
/// replace before SIGUSR2: the upgrade in place (listeners handed to the new process, the old one drains
/// and exits 0), upgrades that fail (the old one serves on), and socket activation through systemd's
/// `systemd-socket-activate`.
///
/// One at a time (`.serialized`): the first test moves 20 × 32 MiB each way beside a new session every
/// 5 ms, which on the 2-core machine is enough load for one test.
@Suite(.serialized) struct UpgradeDaemonTests {
    /// New sessions, one every 5 ms, each a CONNECT with one byte there and back, until `stop` or `limit`;
    /// counts those that succeeded and keeps what went wrong with the others.
    final class SessionStream: Sendable {
        let succeeded = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        private let stopped = Atomic<Bool>(false)
        private var task: Task<Void, Never>? { taskBox.withLock { $0 } }
        private let taskBox = Mutex<Task<Void, Never>?>(nil)

        init(proxy: SocketAddress, echo: SocketAddress, limit: Int = 12_000) {
            let task = Task { await self.run(proxy: proxy, echo: echo, limit: limit) }
            taskBox.withLock { $0 = task }
        }

        private func run(proxy: SocketAddress, echo: SocketAddress, limit: Int) async {
            await withTaskGroup(of: Void.self) { group in
                var inFlight = 0
                for _ in 0..<limit {
                    if stopped.load(ordering: .relaxed) { break }
                    // At most 16 at once: on a loaded machine the sessions must not pile up in a process
                    // that other tests share.
                    if inFlight == 16 {
                        await group.next()
                        inFlight -= 1
                    }
                    inFlight += 1
                    group.addTask {
                        do {
                            try await SessionScript.connectEcho(through: proxy, to: echo)
                            self.succeeded.add(1, ordering: .relaxed)
                        } catch {
                            self.failures.withLock { $0.append("\(error)") }
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
        }

        /// Stops starting sessions and waits for those under way.
        func finish() async {
            stopped.store(true, ordering: .relaxed)
            await task?.value
        }

        var count: Int { succeeded.load(ordering: .relaxed) }
    }

    // MARK: The upgrade under load

    /// The whole hand-over with traffic: 20 transfers of 32 MiB each way, held in flight at 4 MiB, a UDP
    /// association and a UoT stream, and a new session every 5 ms. SIGUSR2 with a fresh binary in place:
    /// no session of the stream fails (no refusal, reset or failed handshake) before, during or after; the
    /// new process holds the listening socket and none of the old one's session sockets or pipes; a session
    /// opened after the hand-over is held by the new PID; the transfers complete byte for byte on the old
    /// process, the UDP association and UoT stream still echo, and the old process exits 0 once they close.
    @Test func anUpgradeHandsTheListenerOverWithoutRefusingAndTheOldProcessDrains() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let udpEcho = try LoopbackPeers.startUDPEcho()
        defer { udpEcho.stop() }
        let size = 32 * 1024 * 1024
        let pause = 4 * 1024 * 1024
        let gate = Gate()
        defer { gate.open() }
        let peers = try (0..<20).map { index in
            try PatternPeer(size: size, sendSeed: 100 + UInt64(index), receiveSeed: 1 + UInt64(index), pausingAfter: pause, gate: gate)
        }
        defer { peers.forEach { $0.stop() } }

        let upgradable = try await UpgradableDaemon(["--listen", "127.0.0.1:0"])
        let daemon = upgradable.daemon
        let proxy = try await daemon.proxyAddress()
        let oldPID = daemon.process.pid

        // The transfers, held at 4 MiB each way.
        var transfers: [(client: SOCKSTestClient, task: Task<PatternTransfer.Outcome, any Error>, progress: TransferProgress)] = []
        defer { transfers.forEach { $0.client.close() } }
        for (index, peer) in peers.enumerated() {
            let (client, reply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(peer.address))
            try #require(reply.code == .succeeded)
            let progress = TransferProgress()
            let task = Task {
                try await PatternTransfer.run(
                    over: client.connection, size: size, sendSeed: 1 + UInt64(index), receiveSeed: 100 + UInt64(index), pausingAfter: pause, gate: gate,
                    progress: progress)
            }
            transfers.append((client, task, progress))
        }
        let held = await eventually(.seconds(120)) {
            transfers.allSatisfy { $0.progress.received.load(ordering: .relaxed) == pause }
                && peers.allSatisfy { $0.progress.received.load(ordering: .relaxed) == pause }
        }
        try #require(held, "the transfers did not all reach 4 MiB each way")

        // A UDP association and a UoT stream, each with one echo.
        let association = try await UDPTestClient.associate(proxy)
        defer { association.close() }
        try await Self.udpRoundTrip(association, to: udpEcho.socket.localAddress)
        let uot = try await SOCKSClient(host: "127.0.0.1", port: proxy.port).udpOverTCP(version: .v2)
        defer { uot.close() }
        try await Self.uotRoundTrip(uot, [1, 2, 3], to: udpEcho.socket.localAddress)

        // A new session every 5 ms from now on.
        let stream = SessionStream(proxy: proxy, echo: echo.address)
        #expect(await eventually(.seconds(60)) { stream.count >= 20 }, "the session stream did not get going")

        try await upgradable.replaceExecutable()
        await upgradable.requestUpgrade()
        let handOver = await upgradable.handOver()
        guard let (newPID, draining) = handOver else {
            await stream.finish()
            Issue.record("no hand-over; log:\n\(daemon.log)")
            return
        }
        defer { ProcessTable.kill(newPID) }
        #expect(newPID != oldPID)
        #expect(draining >= 22, "20 transfers, the association and the UoT stream are open at least")

        // The descriptors: the new process shares exactly the listening socket with the old one, which
        // still holds every session it had.
        let listener = try #require(ProcessTable.listeningSocket(proxy))
        let old = ProcessTable.sharableDescriptors(of: oldPID)
        let new = ProcessTable.sharableDescriptors(of: newPID)
        let shared = Set(old.keys).intersection(new.keys)
        #expect(shared == [listener], "shared with the old process: \(shared.sorted()); the listener is \(listener); new: \(new)")
        #expect(old.count > 40, "the old process's sessions: \(old.count) sockets and pipes")

        // Sessions go on through the hand-over and after it, then the stream stops.
        let atHandOver = stream.count
        #expect(await eventually(.seconds(60)) { stream.count >= atHandOver + 100 }, "sessions stalled after the hand-over")
        await stream.finish()
        let failures = stream.failures.withLock { $0 }
        #expect(failures.isEmpty, "\(failures.count) of \(stream.count + failures.count) sessions failed: \(failures.prefix(5))")

        // A session opened now is the new process's.
        let late = try await SessionScript.openIdleConnect(through: proxy, to: echo.address)
        defer { late.close() }
        let lateSocket = try #require(ProcessTable.tcpSocket(local: proxy, remote: late.connection.localAddress))
        #expect(ProcessTable.sharableDescriptors(of: newPID)[lateSocket] != nil, "the session after the hand-over is not the new process's")
        #expect(ProcessTable.sharableDescriptors(of: oldPID)[lateSocket] == nil)

        // The transfers finish on the old process, intact.
        gate.open()
        for (index, transfer) in transfers.enumerated() {
            let client = try await withDeadline(.seconds(180)) { try await transfer.task.value }
            let peer = try await withDeadline(.seconds(180)) { try await peers[index].outcome }
            #expect(client.sent == size && peer.received == size, "transfer \(index) up: \(client.sent) sent, \(peer.received) arrived")
            #expect(peer.firstMismatch == nil, "transfer \(index) up: the bytes differ from offset \(peer.firstMismatch ?? 0)")
            #expect(peer.sent == size && client.received == size, "transfer \(index) down: \(peer.sent) sent, \(client.received) arrived")
            #expect(client.firstMismatch == nil, "transfer \(index) down: the bytes differ from offset \(client.firstMismatch ?? 0)")
            transfer.client.close()
        }

        // The association and the stream still work; the old process waits for them.
        try await Self.udpRoundTrip(association, to: udpEcho.socket.localAddress)
        try await Self.uotRoundTrip(uot, [4, 5, 6], to: udpEcho.socket.localAddress)
        #expect(daemon.process.isRunning, "the old process left before its last sessions ended; log:\n\(daemon.log)")
        association.close()
        uot.close()
        #expect(try await daemon.exitStatus(timeout: .seconds(60)) == 0, "log:\n\(daemon.log)")

        // The new process serves on alone.
        try await SessionScript.connectEcho(through: proxy, to: echo.address)
        #expect(await ProcessTable.stop(newPID) == false, "the new process did not stop on SIGTERM")
    }

    /// One datagram to `echo` through the association and back (sent again a few times if lost).
    static func udpRoundTrip(_ association: UDPTestClient, to echo: SocketAddress) async throws {
        let payload: [UInt8] = [0x55, 0x44, 0x50]
        for _ in 0..<4 {
            try await association.send(payload, to: SOCKSEndpoint(echo))
            if let reply = try await association.receive(within: .seconds(3)) {
                #expect(reply.payload == payload)
                return
            }
        }
        Issue.record("UDP ASSOCIATE: no echo after 4 datagrams")
    }

    /// One frame to `echo` through the UoT stream and back (one frame in flight at a time, so each round
    /// trip reads with a frame reader of its own).
    static func uotRoundTrip(_ stream: UoTClientStream, _ payload: [UInt8], to echo: SocketAddress) async throws {
        try await stream.send(payload, to: SOCKSEndpoint(echo))
        let frame = try await withDeadline(.seconds(15)) {
            var frames = stream.frames().makeAsyncIterator()
            return try await frames.next()
        }
        #expect(frame?.payload == payload)
    }

    // MARK: Draining

    /// `--drain-timeout 1`: a session that never ends is cancelled a second after the hand-over, and the
    /// old process exits 0; the new one serves.
    @Test func theOldProcessExitsAtTheDrainTimeoutWhenASessionNeverEnds() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let upgradable = try await UpgradableDaemon(["--listen", "127.0.0.1:0", "--drain-timeout", "1"])
        let daemon = upgradable.daemon
        let proxy = try await daemon.proxyAddress()
        let idle = try await SessionScript.openIdleConnect(through: proxy, to: echo.address)
        defer { idle.close() }

        try await upgradable.replaceExecutable()
        await upgradable.requestUpgrade()
        let (newPID, draining) = try #require(await upgradable.handOver(), "log:\n\(daemon.log)")
        defer { ProcessTable.kill(newPID) }
        #expect(draining == 1)
        #expect(try await idle.closesWithin(.seconds(30)), "the idle session outlived the drain timeout")
        #expect(try await daemon.exitStatus(timeout: .seconds(30)) == 0, "log:\n\(daemon.log)")
        try await SessionScript.connectEcho(through: proxy, to: echo.address)
        #expect(await ProcessTable.stop(newPID) == false)
    }

    /// SIGTERM while the old process drains (default drain timeout, an hour): the drain is cut to the
    /// 5 s grace period, the old process exits 0, and the new one, whose listener it left alone, serves.
    @Test func aSIGTERMDuringTheDrainCutsItToTheGracePeriod() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let upgradable = try await UpgradableDaemon(["--listen", "127.0.0.1:0"])
        let daemon = upgradable.daemon
        let proxy = try await daemon.proxyAddress()
        let idle = try await SessionScript.openIdleConnect(through: proxy, to: echo.address)
        defer { idle.close() }

        try await upgradable.replaceExecutable()
        await upgradable.requestUpgrade()
        let (newPID, _) = try #require(await upgradable.handOver(), "log:\n\(daemon.log)")
        defer { ProcessTable.kill(newPID) }
        daemon.signal(SIGTERM)
        #expect(try await daemon.exitStatus(timeout: .seconds(30)) == 0, "log:\n\(daemon.log)")
        #expect(try await idle.closesWithin(.seconds(10)))
        try await SessionScript.connectEcho(through: proxy, to: echo.address)
        #expect(await ProcessTable.stop(newPID) == false)
    }

    // MARK: Upgrades that fail

    /// The file replaced by a program that exits 1: `upgrade failed: process PID exited with status 1`,
    /// nothing of it left running, and the old process serves on (a later upgrade to a real binary works).
    @Test func anUpgradeToAProgramThatExitsFailsAndServiceGoesOn() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let upgradable = try await UpgradableDaemon(["--listen", "127.0.0.1:0"])
        let daemon = upgradable.daemon
        let proxy = try await daemon.proxyAddress()

        try await upgradable.replaceExecutable(script: "#!/bin/sh\nexit 1\n")
        await upgradable.requestUpgrade()
        let reason = try #require(await upgradable.failure(), "no 'upgrade failed'; log:\n\(daemon.log)")
        #expect(reason.hasPrefix("process ") && reason.contains(" exited with status 1"), "\(reason)")
        if let pid = reason.split(separator: " ").dropFirst().first.flatMap({ pid_t($0) }) {
            #expect(!ProcessTable.isRunning(pid))
        }
        #expect(daemon.process.isRunning)
        try await SessionScript.connectEcho(through: proxy, to: echo.address)

        // The listener was never closed: a real upgrade afterwards hands it over.
        try await upgradable.replaceExecutable()
        await upgradable.requestUpgrade()
        let (newPID, _) = try #require(await upgradable.handOver(earlierFailures: 1), "log:\n\(daemon.log)")
        defer { ProcessTable.kill(newPID) }
        #expect(try await daemon.exitStatus(timeout: .seconds(30)) == 0, "log:\n\(daemon.log)")
        try await SessionScript.connectEcho(through: proxy, to: echo.address)
        #expect(await ProcessTable.stop(newPID) == false)
    }

    /// The file replaced by a program that never prints `listening on` (a script that starts a child and
    /// waits): a second SIGUSR2 meanwhile is logged and ignored; after 30 s `upgrade failed`, the script
    /// and its child are gone, and the old process serves on.
    @Test func anUpgradeToAProgramThatNeverListensFailsAfter30Seconds() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let upgradable = try await UpgradableDaemon(["--listen", "127.0.0.1:0"])
        let daemon = upgradable.daemon
        let proxy = try await daemon.proxyAddress()
        let childPIDFile = upgradable.directory.file("child.pid")

        try await upgradable.replaceExecutable(script: "#!/bin/sh\nsleep 600 &\necho $! > '\(childPIDFile)'\nwait\n")
        await upgradable.requestUpgrade()
        #expect(await daemon.waitForLog(within: .seconds(20)) { $0.contains { $0.contains("received SIGUSR2: starting ") } })
        daemon.signal(SIGUSR2)
        #expect(
            await daemon.waitForLog(within: .seconds(20)) { $0.contains { $0.contains("an upgrade to process ") && $0.hasSuffix(" is already under way; ignoring it") } },
            "log:\n\(daemon.log)")
        try await SessionScript.connectEcho(through: proxy, to: echo.address)

        let reason = try #require(await upgradable.failure(within: .seconds(90)), "no 'upgrade failed'; log:\n\(daemon.log)")
        #expect(reason.contains(" did not report listening within 30"), "\(reason)")
        if let pid = reason.split(separator: " ").dropFirst().first.flatMap({ pid_t($0) }) {
            #expect(!ProcessTable.isRunning(pid), "the script still runs")
        }
        let child = (try? String(contentsOfFile: childPIDFile, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        if let child {
            #expect(await eventually(.seconds(10)) { !ProcessTable.isRunning(child) }, "the script's child still runs")
            if ProcessTable.isRunning(child) { kill(child, SIGKILL) }
        } else {
            Issue.record("the script did not write its child's PID")
        }
        #expect(daemon.process.isRunning)
        try await SessionScript.connectEcho(through: proxy, to: echo.address)
        #expect(try await daemon.stop() == 0)
    }

    // MARK: Socket activation

    static let socketActivate = "/usr/bin/systemd-socket-activate"

    /// `systemd-socket-activate -l 127.0.0.1:PORT socksd --listen …`: socksd serves on the passed socket,
    /// whether the listener names that port or port 0 (which takes the passed socket's port).
    @Test(arguments: [false, true])
    func socksdServesOnASocketPassedBySystemdSocketActivate(configuredPortZero: Bool) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.socketActivate) else {
            Issue.record("\(Self.socketActivate) is not installed: run .ci/run, or apt-get install systemd")
            return
        }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let port = try LoopbackPeers.freePort()
        let daemon = try DaemonProcess(
            ["-l", "127.0.0.1:\(port)", DaemonProcess.binaryPath, "--listen", configuredPortZero ? "127.0.0.1:0" : "127.0.0.1:\(port)"],
            executable: Self.socketActivate)
        // systemd-socket-activate starts socksd at the first connection, which waits in the backlog.
        try await Self.waitForSocketActivate(daemon, port: port)
        let proxy = SocketAddress(ip: .ipv4Loopback, port: port)
        try await SessionScript.connectEcho(through: proxy, to: echo.address)
        #expect(try await daemon.listeningAddresses() == ["127.0.0.1:\(port)"], "log:\n\(daemon.log)")
        try await SessionScript.connectEcho(through: proxy, to: echo.address)
        #expect(try await daemon.stop() == 0, "log:\n\(daemon.log)")
    }

    /// A `[::]` socket passed by systemd is dual-stack (`net.ipv6.bindv6only` is 0 here, as by default), so
    /// an IPv4 client's connection arrives on it as IPv4-mapped (`::ffff:127.0.0.1`). The replies still
    /// give the bound address in the client's own family, as IPv4 (ATYP 1): UDP ASSOCIATE's relay address,
    /// which the client then sends its datagrams to, and a UoT stream's BND.
    @Test func aDualStackPassedSocketRepliesToIPv4ClientsWithIPv4BoundAddresses() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.socketActivate) else {
            Issue.record("\(Self.socketActivate) is not installed: run .ci/run, or apt-get install systemd")
            return
        }
        let bindsBothFamilies = (try? String(contentsOfFile: "/proc/sys/net/ipv6/bindv6only", encoding: .utf8))?.hasPrefix("0") ?? false
        try #require(bindsBothFamilies, "this test needs net.ipv6.bindv6only = 0, for a dual-stack [::] socket")
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let port = try LoopbackPeers.freePort()
        let daemon = try DaemonProcess(["-l", "[::]:\(port)", DaemonProcess.binaryPath, "--listen", "[::]:0", "--allow-from", "127.0.0.0/8"], executable: Self.socketActivate)
        try await Self.waitForSocketActivate(daemon, port: port, host: "[::]")
        let proxy = SocketAddress(ip: .ipv4Loopback, port: port)

        let udp = try await UDPTestClient.associate(proxy)
        #expect(udp.relay.ip == .ipv4Loopback, "UDP ASSOCIATE's relay address must be 127.0.0.1 (ATYP 1), not \(udp.relay)")
        try await udp.send(Array("dual".utf8), to: SOCKSEndpoint(echo.address))
        let answer = try #require(try await udp.receive(), "no datagram came back through the relay; log:\n\(daemon.log)")
        #expect(answer.payload == Array("dual".utf8) && answer.header.endpoint == SOCKSEndpoint(echo.address))

        let (uot, uotReply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(address: .domain("sp.v2.udp-over-tcp.arpa"), port: 0))
        #expect(uotReply.code == .succeeded, "\(uotReply)")
        #expect(uotReply.bound.address == .ipv4([127, 0, 0, 1]), "a UoT stream's BND must be 127.0.0.1 (ATYP 1), not \(uotReply.bound)")
        udp.close()
        uot.close()
        #expect(try await daemon.stop() == 0, "log:\n\(daemon.log)")
    }

    /// Waits for systemd-socket-activate's `Listening on HOST:PORT as 3.`: until then the port refuses.
    static func waitForSocketActivate(_ process: DaemonProcess, port: UInt16, host: String = "127.0.0.1") async throws {
        let listening = await process.waitForLog(within: .seconds(20)) { $0.contains { $0.hasPrefix("Listening on \(host):\(port) ") } }
        try #require(listening, "systemd-socket-activate did not listen; log:\n\(process.log)")
    }

    /// A passed socket that matches no configured listener: socksd says which and exits 64.
    @Test func aPassedSocketThatMatchesNoListenerIsAConfigurationProblem() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.socketActivate) else {
            Issue.record("\(Self.socketActivate) is not installed: run .ci/run, or apt-get install systemd")
            return
        }
        let port = try LoopbackPeers.freePort()
        let daemon = try DaemonProcess(
            ["-l", "127.0.0.1:\(port)", DaemonProcess.binaryPath, "--listen", "127.0.0.2:0"], executable: Self.socketActivate)
        // The connection that starts socksd; it is closed when socksd exits.
        try await Self.waitForSocketActivate(daemon, port: port)
        let trigger = try? await SOCKSTestClient.connect(to: SocketAddress(ip: .ipv4Loopback, port: port))
        defer { trigger?.close() }
        #expect(try await daemon.exitStatus(timeout: .seconds(30)) == 64, "log:\n\(daemon.log)")
        #expect(daemon.log.contains("socksd: passed listening socket(s) 127.0.0.1:\(port) match no configured listener"), "log:\n\(daemon.log)")
    }
}
