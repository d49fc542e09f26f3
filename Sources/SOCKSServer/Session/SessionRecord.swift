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
    /// For UDP ASSOCIATE: datagrams refused or undeliverable.
    var datagramsDropped: Int?
    var outcome = "handshake-incomplete"
    var handshakeFailed = false
    /// The session is counted in a summary line instead of an access line of its own.
    var summarized = false

    init(client: SocketAddress) {
        self.client = client
    }

    /// One line, `key=value` pairs, for the info-level access log. `-` means none. The values a client
    /// chose (user, destination) are escaped (`SOCKSLogger.escapingFieldValue`): they never contain a space,
    /// `=`, `"` or a control character, so they cannot forge a field or a line.
    var line: String {
        let elapsed = (ContinuousClock.now - started).components
        let milliseconds = elapsed.seconds * 1000 + elapsed.attoseconds / 1_000_000_000_000_000
        let duration = Double(milliseconds) / 1000
        let user = user.map(SOCKSLogger.escapingFieldValue) ?? "-"
        let destination = destination.map { SOCKSLogger.escapingFieldValue($0.description) } ?? "-"
        return "session client=\(client) user=\(user) command=\(command?.description ?? "-") "
            + "destination=\(destination) up=\(bytesUp) down=\(bytesDown) "
            + (datagramsDropped.map { "dropped=\($0) " } ?? "")
            + "duration=\(duration)s outcome=\(outcome)"
    }
}
