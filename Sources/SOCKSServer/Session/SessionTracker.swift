import AsyncSockets
import SOCKSProtocol
import Synchronization

/// What can be seen of one open session from outside it, without an actor hop: who, what, where, since
/// when, and its live byte counters. The session fills it in as it goes; `OpenSessions` lists the open
/// sessions, whose trackers it reads for the session summary (SIGUSR1) and for ending a removed user's
/// sessions.
///
/// A noncopyable struct that lives inside its session's object: one allocation less per session than an
/// object of its own.
struct SessionTracker: ~Copyable, Sendable {
    /// A point-in-time view of a session.
    struct Snapshot: Sendable {
        let client: SocketAddress
        let user: String?
        let command: SOCKSCommand?
        let destination: SOCKSEndpoint?
        let bytesUp: Int
        let bytesDown: Int
        let age: Duration

        /// One summary line: the access line's fields and escaping, with the age instead of a duration.
        var line: String {
            let seconds = Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18
            return "open client=\(client) user=\(user.map(SOCKSLogger.escapingFieldValue) ?? "-") "
                + "command=\(command?.description ?? "-") "
                + "destination=\(destination.map { SOCKSLogger.escapingFieldValue($0.description) } ?? "-") "
                + "up=\(bytesUp) down=\(bytesDown) age=\((seconds * 10).rounded() / 10)s"
        }
    }

    /// Internal rather than private: Swift 6.3.1's debug build emits a broken module ("Global is external,
    /// but doesn't have external or weak linkage") when this struct's private nested type is laid out inside
    /// `SOCKSSession`, another file's type.
    struct State: Sendable {
        var user: String?
        var command: SOCKSCommand?
        var destination: SOCKSEndpoint?
        var counters: RelayCounters?
    }

    let client: SocketAddress
    let started = ContinuousClock.now
    private let state = Mutex(State())
    /// Ends the session from outside (closes its client connection, which ends every wait of the session).
    private let connection: TCPConnection

    init(connection: TCPConnection, client: SocketAddress) {
        self.client = client
        self.connection = connection
    }

    /// Records the request, once the handshake has produced it.
    func accepted(user: String?, command: SOCKSCommand, destination: SOCKSEndpoint) {
        state.withLock { state in
            state.user = user
            state.command = command
            state.destination = destination
        }
    }

    /// The counters of the relay now running, so the summary shows bytes so far.
    func relaying(with counters: RelayCounters) {
        state.withLock { $0.counters = counters }
    }

    var user: String? { state.withLock { $0.user } }

    var snapshot: Snapshot {
        state.withLock { state in
            Snapshot(
                client: client, user: state.user, command: state.command, destination: state.destination,
                bytesUp: state.counters?.bytesUp ?? 0, bytesDown: state.counters?.bytesDown ?? 0, age: ContinuousClock.now - started)
        }
    }

    /// Ends the session: closes its client connection (its relay and waits end with it).
    func end() {
        connection.close()
    }
}
