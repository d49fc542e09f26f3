import AsyncSockets
import SOCKSProtocol

/// What the access log says about one session, filled in as the session goes.
struct SessionRecord: Sendable {
    let client: SocketAddress
    let started = ContinuousClock.now
    var user: String?
    var command: SOCKSCommand?
    var destination: SOCKSEndpoint?
    var bytesUp = 0
    var bytesDown = 0
    var outcome = "handshake-incomplete"
    var handshakeFailed = false

    init(client: SocketAddress) {
        self.client = client
    }

    /// One line, `key=value` pairs, for the info-level access log.
    var line: String {
        let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - started).components.seconds)
        let duration = (seconds * 1000).rounded() / 1000
        return "session client=\(client) user=\(user ?? "-") command=\(command?.description ?? "-") "
            + "destination=\(destination?.description ?? "-") up=\(bytesUp) down=\(bytesDown) "
            + "duration=\(duration)s outcome=\(outcome)"
    }
}
