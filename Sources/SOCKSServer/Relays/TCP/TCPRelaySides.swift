import AsyncSockets
import Synchronization

/// The two sides of a `TCPRelay` and what both its directions share: the pipe pool, the counters, the
/// user's bandwidth cap, and how the relay ended. One object that both directions refer to, so that each
/// direction's own value (which its task keeps in its frame for the relay's life) stays small.
///
/// A direction that meets an error (a reset, a broken pipe) passes a reset on to the other side when the
/// error was the socket's own, then closes both sockets, which ends the other direction at its next wait:
/// the first failure ends the relay, without cancelling a task or throwing an error across one.
final class TCPRelaySides: Sendable {
    /// How the relay ended, as far as its directions know.
    enum Ending: Sendable {
        /// Both directions ended with EOF, or were ended by a close from outside (the idle watchdog, the
        /// session's end).
        case completed
        /// The first socket error of either direction.
        case failed(SocketError)
        /// A direction's task was cancelled.
        case cancelled
    }

    let client: TCPConnection
    let target: TCPConnection
    let pool: SplicePipePool
    let counters: RelayCounters
    /// The user's bandwidth cap, if it has one.
    let bandwidth: BandwidthLimiter?
    private let state = Mutex(Ending.completed)

    init(client: TCPConnection, target: TCPConnection, pool: SplicePipePool, counters: RelayCounters, bandwidth: BandwidthLimiter?) {
        self.client = client
        self.target = target
        self.pool = pool
        self.counters = counters
        self.bandwidth = bandwidth
    }

    /// How the relay ended: the first failure, else a cancellation, else completed.
    var ending: Ending { state.withLock { $0 } }

    /// A direction's task was cancelled.
    func cancelled() {
        state.withLock { ending in
            if case .completed = ending { ending = .cancelled }
        }
    }

    /// A direction's socket was closed here, or its task cancelled: both sockets close (a FIN to each peer,
    /// unless bytes it sent are still unread here, which the kernel answers with a reset), which ends the
    /// other direction at its wait. Closing twice is harmless.
    func closedHere() {
        client.close()
        target.close()
    }

    /// A direction failed: the first failure is the relay's; the broken side's peer is reset, and both
    /// sockets close.
    func failed(_ failure: SplicedDirection.Failure) {
        // A socket closed here (the session ended from outside, the idle watchdog, the teardown) that a
        // direction met after waking is no failure of the relay's, and no reason to reset the other side:
        // it ends as a close from outside does, with a FIN.
        if failure.error == .closed { return closedHere() }
        let isFirst = state.withLock { ending in
            if case .failed = ending { return false }
            ending = .failed(failure.error)
            return true
        }
        // A side that failed on its own gets its peer reset.
        if isFirst { (failure.brokenSide === client ? target : client).abort() }
        closedHere()
    }
}
