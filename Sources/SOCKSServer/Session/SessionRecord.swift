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

    /// The info-level access line, as an event: `session` with the fields `client`, `user`, `command`,
    /// `destination`, `up`, `down`, `dropped` (UDP ASSOCIATE only), `duration` (seconds, to the millisecond)
    /// and `outcome`. In the text format that is `session client=… user=… … outcome=…`, with `-` for none;
    /// the values a client chose (user, destination) are escaped there (`SOCKSLogger.escapingFieldValue`):
    /// they never contain a space, `=`, `"` or a control character, so they cannot forge a field or a line.
    var accessEvent: LogEvent { accessEvent(endingAt: .now) }

    /// The access line for a session that ended at `end`.
    func accessEvent(endingAt end: ContinuousClock.Instant) -> LogEvent {
        let elapsed = (end - started).components
        let milliseconds = elapsed.seconds * 1000 + elapsed.attoseconds / 1_000_000_000_000_000
        var fields: [LogEvent.Field] = [
            .init("client", .text(client.description)),
            .init("user", user.map { .clientText($0) } ?? .absent),
            .init("command", command.map { .text($0.description) } ?? .absent),
            .init("destination", destination.map { .clientText($0.description) } ?? .absent),
            .init("up", .integer(bytesUp)),
            .init("down", .integer(bytesDown)),
        ]
        if let datagramsDropped {
            fields.append(.init("dropped", .integer(datagramsDropped)))
        }
        fields.append(.init("duration", .seconds(Double(milliseconds) / 1000)))
        fields.append(.init("outcome", .text(outcome)))
        return LogEvent("session", fields: fields)
    }
}
