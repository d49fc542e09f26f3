import AsyncSockets

/// Pipes bytes both ways between two TCP connections until both directions have ended.
///
/// Each direction is a child task of the caller's task (the session's), in a discarding task group: a
/// `SplicedDirection` driven by the readiness sequence of its two sockets. It copies its first bytes through
/// its thread's scratch buffer, then moves bytes with `splice(2)` through pipes taken from the pool only
/// while bytes move (zero copy; an idle relay holds no pipe and no buffer, only its two suspended tasks,
/// about 1.4 KiB each), and copies again where no pipe can be had or the kernel refuses to splice. EOF in
/// one direction becomes a half-close (`shutdown(SHUT_WR)`) on the other, and the opposite direction keeps
/// flowing. A reset (or any other error) on one side is passed on as a reset to the other, so a cut-off
/// download never looks complete, and the direction that met it closes both sockets, which ends the other
/// direction; the idle watchdog and anyone ending the session close the sockets too; cancelling the
/// caller's task cancels both. The directions end with values, not thrown errors (a
/// direction's `SplicedDirection.Failure` goes to `TCPRelaySides.failed`, and the relay reads the end as
/// `TCPRelaySides.Ending`), and so does the relay (`Outcome`): a relay that ends with a reset allocates no
/// error. Either way both connections are closed when `run()` returns, and no task of the relay is left.
struct TCPRelay {
    /// How a relay ended.
    enum Outcome: Sendable, Equatable {
        /// Both directions ended with EOF, or the session closed the sockets.
        case completed
        /// The idle watchdog ended it.
        case idleTimeout
        /// The first socket error of either direction (a reset, a broken pipe).
        case failed(SocketError)
        /// The caller's task was cancelled.
        case cancelled
    }

    let client: TCPConnection
    let target: TCPConnection
    let idleTimeout: Duration?
    let counters: RelayCounters
    /// The user's bandwidth cap, if it has one: a direction waits until the cap allows a piece, takes no
    /// more than it allows, and pays for it as it takes it (`BandwidthLimiter`).
    var bandwidth: BandwidthLimiter?
    /// Where the directions take their pipes.
    var pipes = SplicePipePool.shared

    /// Runs in the caller's isolation (the session actor's): it only starts the directions and waits for
    /// them, which saves a hop off the actor and back; the directions themselves run on their loop.
    ///
    /// - Returns: how it ended: an idle timeout, else the first socket error of either direction, else a
    ///   cancellation of the caller's task, else completed.
    nonisolated(nonsending) func run() async -> Outcome {
        defer {
            client.close()
            target.close()
        }
        let watchdog = idleTimeout.map { timeout in
            IdleWatchdog(loop: client.eventLoop, counters: counters, timeout: timeout) { [client, target] in
                client.close()
                target.close()
            }
        }
        defer { watchdog?.stop() }
        let sides = TCPRelaySides(client: client, target: target, pool: pipes, counters: counters, bandwidth: bandwidth)
        // A throwing group although no child throws (so it never throws): its specialization allocates less
        // per child here.
        _ = try? await withThrowingDiscardingTaskGroup { group in
            let up = SplicedDirection(.up, of: sides)
            let down = SplicedDirection(.down, of: sides)
            group.addTask { await up.run() }
            group.addTask { await down.run() }
        }
        if watchdog?.hasExpired == true { return .idleTimeout }
        switch sides.ending {
        case .failed(let error): return .failed(error)
        case .cancelled: return .cancelled
        case .completed: return .completed
        }
    }
}
