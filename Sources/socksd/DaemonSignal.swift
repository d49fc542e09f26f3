import Dispatch
import Glibc
import Synchronization

/// The signals the daemon answers instead of dying, and what each one asks for.
///
/// Every one arrives on a dispatch source rather than in a signal handler, so the response may do anything
/// a normal function may (log, take locks, call into the server). SIGINT and SIGTERM shut down gracefully,
/// SIGHUP reloads the configuration (and reopens the log file), SIGUSR1 logs the open sessions, SIGUSR2
/// upgrades in place (`DaemonUpgrade`). None of them cuts a session.
enum DaemonSignal: CaseIterable, CustomStringConvertible {
    case interrupt, terminate, hangUp, user1, user2

    /// What the daemon is asked to do.
    enum Request {
        /// Stop accepting, let open sessions finish within the grace period, exit 0.
        case shutDown
        /// Read the configuration again and apply it to new sessions; reopen the log file.
        case reload
        /// Log a summary of the open sessions: one line each.
        case sessionSummary
        /// Start the executable again, hand it the listeners, drain, exit 0 (`DaemonUpgrade`).
        case upgrade
    }

    var request: Request {
        switch self {
        case .interrupt, .terminate: .shutDown
        case .hangUp: .reload
        case .user1: .sessionSummary
        case .user2: .upgrade
        }
    }

    var number: Int32 {
        switch self {
        case .interrupt: SIGINT
        case .terminate: SIGTERM
        case .hangUp: SIGHUP
        case .user1: SIGUSR1
        case .user2: SIGUSR2
        }
    }

    var description: String {
        switch self {
        case .interrupt: "SIGINT"
        case .terminate: "SIGTERM"
        case .hangUp: "SIGHUP"
        case .user1: "SIGUSR1"
        case .user2: "SIGUSR2"
        }
    }

    /// Ignores the signals that have no use during start-up, so one that arrives before `handleAll` cannot
    /// kill the daemon. SIGINT and SIGTERM keep their default until then: they should still stop a daemon
    /// that hangs while starting.
    static func ignoreUntilHandled() {
        for signal in allCases where signal.request != .shutDown {
            Glibc.signal(signal.number, SIG_IGN)
        }
    }

    /// Routes every signal of this type to `handler`, from now until the returned sources are cancelled;
    /// returns once every source is registered.
    ///
    /// Dispatch installs its own handler for a signal when the source is registered, on a thread of its
    /// own, a moment after `resume()`. Until then a signal keeps the action it had: SIGINT and SIGTERM their
    /// default (stop the process), the others `ignoreUntilHandled`'s. Setting SIG_IGN here as well would
    /// open a gap in which a SIGTERM is silently dropped; waiting for the registrations means a caller that
    /// announces readiness afterwards (`listening on`) never does so while a signal could be lost.
    static func handleAll(_ handler: @escaping @Sendable (DaemonSignal) -> Void) async -> [any DispatchSourceSignal] {
        let sources = allCases.map { signal in
            let source = DispatchSource.makeSignalSource(signal: signal.number, queue: .global())
            source.setEventHandler { handler(signal) }
            return source
        }
        let pending = Mutex(sources.count)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            for source in sources {
                source.setRegistrationHandler {
                    let remaining = pending.withLock { count in
                        count -= 1
                        return count
                    }
                    if remaining == 0 { continuation.resume() }
                }
                source.resume()
            }
        }
        return sources
    }
}
