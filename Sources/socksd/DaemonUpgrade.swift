import AsyncSockets
import Glibc
import SOCKSServer
import Synchronization

/// What SIGUSR2 does: an upgrade in place. socksd starts its executable again (from the path it was
/// started from, so a new binary installed there runs) with the same arguments and environment, handing it
/// the listening sockets; the old process keeps accepting meanwhile. Once the new process says it listens,
/// the old one lets go of the sockets (never closing them, so no connection is refused), drains its open
/// sessions for up to `--drain-timeout`, and exits 0. If the new process exits, or is not ready within 30 s,
/// the upgrade fails: the old process stops it and goes on serving as before.
///
/// An actor: one upgrade at a time, and its state has one owner. A second request while one is under way
/// is logged and ignored.
actor DaemonUpgrade {
    /// Where an upgrade is.
    enum State {
        /// None under way: a request starts one.
        case idle
        /// The new process runs and has not said it listens yet.
        case starting(pid: pid_t, deadline: ContinuousClock.Instant)
        /// The new process serves; this one drains and exits.
        case handedOver(pid: pid_t)
        /// The last attempt failed; a request starts a new one.
        case failed(reason: String)
    }

    /// How long the new process has to say it listens.
    static let readyTimeout = Duration.seconds(30)

    private var state = State.idle
    private let executable: String
    private let arguments: [String]
    private let server: SOCKSServer
    private let metricsEndpoints: [MetricsEndpoint]
    private let logger: SOCKSLogger
    private let drainTimeout: @Sendable () async -> Duration
    private let handedOverFlag = Atomic<Bool>(false)

    /// - Parameters:
    ///   - executable: the path socksd was started from; `arguments` its command line, `argv[0]` first.
    ///   - drainTimeout: the drain time in force (a reload may change it).
    init(
        executable: String, arguments: [String], server: SOCKSServer, metricsEndpoints: [MetricsEndpoint], logger: SOCKSLogger,
        drainTimeout: @escaping @Sendable () async -> Duration
    ) {
        self.executable = executable
        self.arguments = arguments
        self.server = server
        self.metricsEndpoints = metricsEndpoints
        self.logger = logger
        self.drainTimeout = drainTimeout
    }

    /// Whether the listeners went to a new process: this one no longer speaks for the service (no
    /// `STATUS=`, no `STOPPING=1` to systemd, which follows the new main PID).
    nonisolated var hasHandedOver: Bool { handedOverFlag.load(ordering: .acquiring) }

    /// Runs an upgrade, unless one is under way; returns when it has handed over or failed.
    func request(_ signal: DaemonSignal) async {
        switch state {
        case .starting(let pid, _):
            logger.warning("received \(signal): an upgrade to process \(pid) is already under way; ignoring it")
            return
        case .handedOver(let pid):
            logger.warning("received \(signal): already handed over to process \(pid); ignoring it")
            return
        case .idle, .failed:
            break
        }
        guard server.phase == .serving else {
            logger.warning("received \(signal): the server is shutting down; no upgrade")
            return
        }
        logger.info("received \(signal): starting \(executable) to take over the listeners")
        let child: UpgradeChild
        do {
            child = try UpgradeChild.start(
                executable: executable, arguments: arguments,
                sockets: server.listeningSockets + metricsEndpoints.map(\.listeningSocket))
        } catch {
            fail("\(error)")
            return
        }
        state = .starting(pid: child.pid, deadline: .now + Self.readyTimeout)
        await watch(child)
    }

    /// Polls the new process until it is ready, exits, or runs out of time; the old one serves meanwhile.
    private func watch(_ child: UpgradeChild) async {
        while case .starting(let pid, let deadline) = state {
            if let exit = child.exitDescription() {
                child.stop()
                fail("process \(pid) \(exit)")
                return
            }
            if server.phase != .serving {
                child.stop()
                fail("this process is shutting down; stopped process \(pid)")
                return
            }
            if child.saidReady() {
                // Ready and gone at once is no hand-over.
                if let exit = child.exitDescription() {
                    child.stop()
                    fail("process \(pid) \(exit)")
                    return
                }
                child.closeReadyPipe()
                handOver(to: pid, drainingFor: await drainTimeout())
                return
            }
            if ContinuousClock.now >= deadline {
                child.stop()
                fail("process \(pid) did not report listening within \(Self.readyTimeout); stopped it")
                return
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private func handOver(to pid: pid_t, drainingFor drainTimeout: Duration) {
        state = .handedOver(pid: pid)
        handedOverFlag.store(true, ordering: .releasing)
        logger.info("upgrade: process \(pid) is serving; draining \(server.metrics.activeSessions) open sessions")
        metricsEndpoints.forEach { $0.release() }
        server.handOver(drainingFor: drainTimeout)
    }

    private func fail(_ reason: String) {
        state = .failed(reason: reason)
        logger.error("upgrade failed: \(reason); carrying on")
    }
}
