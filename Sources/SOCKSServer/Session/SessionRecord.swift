import AsyncSockets
import SOCKSProtocol

/// What the access log says about one session, filled in as the session goes.
struct SessionRecord: Sendable {
    let client: SocketAddress
    /// When the session started; for the second and later requests of an HTTP connection, when that
    /// request's head arrived (each request has an access line of its own).
    var started = ContinuousClock.now
    /// What the first byte chose; nil before it (or for a byte that starts no protocol).
    var clientProtocol: ClientProtocol?
    /// The user name the client gave, as the bytes it sent (RFC 1929 and HTTP Basic do not promise UTF-8),
    /// so that the access line shows `al\xffice` as sent and never as another name.
    var user: [UInt8]?
    /// A SOCKS4 request's user id: what the client says, unchecked (SOCKS4 has no password), so logged in
    /// a field of its own and never used as `user` (whose rules and limits it would otherwise claim).
    var socks4UserID: [UInt8]?
    var command: SOCKSCommand?
    /// An HTTP request's method (`GET`, `CONNECT`, …): the access line's command for HTTP.
    var httpMethod: String?
    var destination: SOCKSEndpoint?
    /// Which way the request left, once the route chose (nil when it never got that far).
    var via: EgressVia?
    /// The GSS-API protection level granted (RFC 1961), for a session that logged in by GSS-API.
    var protection: GSSAPIProtection?
    var bytesUp = 0
    var bytesDown = 0
    /// For UDP ASSOCIATE and UoT streams: datagrams refused or undeliverable.
    var datagramsDropped: Int?
    /// How the session ended (the access line's `outcome`, worded only when the line is written).
    var outcome = SessionOutcome.handshakeIncomplete
    var handshakeFailed = false
    /// The session is counted in a summary line instead of an access line of its own.
    var summarized = false

    init(client: SocketAddress) {
        self.client = client
    }

    /// Records that the relay ended with `error`: the outcome `relay-error(…)`, worded when it is read.
    mutating func relayFailed(_ error: any Error) {
        if let socketError = error as? SocketError {
            relayFailed(socketError)
        } else {
            outcome = .relayError(.other(error))
        }
    }

    /// Records a relay's socket error as its outcome: held as it is, so a session that ends with a reset
    /// allocates no error box for it.
    mutating func relayFailed(_ error: SocketError) {
        outcome = .relayError(.socket(error))
    }

    /// The info-level access line, as an event: `session` with the fields `client`, `protocol` (`socks5`,
    /// `socks4`, `http`), `user`, `userid` (SOCKS4 only), `command` (for HTTP the request's method), `destination`, `via` (`direct`, `default` or an upstream's name), `up`, `down`,
    /// `protection` (GSS-API logins only), `dropped` (UDP ASSOCIATE and UoT only), `duration` (seconds, to the millisecond) and `outcome`. In the text format that
    /// is `session client=… protocol=… user=… … outcome=…`, with `-` for none; the values a client chose
    /// (user, user id, destination) are escaped there (`SOCKSLogger.escapingFieldValue`):
    /// they never contain a space, `=`, `"` or a control character, so they cannot forge a field or a line.
    var accessEvent: LogEvent { accessEvent(endingAt: .now) }

    /// The access line for a session that ended at `end`.
    func accessEvent(endingAt end: ContinuousClock.Instant) -> LogEvent {
        let elapsed = (end - started).components
        let milliseconds = elapsed.seconds * 1000 + elapsed.attoseconds / 1_000_000_000_000_000
        var fields: [LogEvent.Field] = [
            .init("client", .text(client.description)),
            .init("protocol", clientProtocol.map { .text($0.rawValue) } ?? .absent),
            .init("user", user.map { .clientBytes($0) } ?? .absent),
        ]
        if let socks4UserID {
            // An empty user id (what curl sends) shows as `-`; a user id that is literally `-` is escaped.
            fields.append(.init("userid", socks4UserID.isEmpty ? .absent : .clientBytes(socks4UserID)))
        }
        fields += [
            // An HTTP line names the request's method; a head that was no request has none (`-`), whatever
            // SOCKS command serving the connection took.
            .init("command", httpMethod.map { .clientText($0) } ?? (clientProtocol == .http ? nil : command).map { .text($0.description) } ?? .absent),
            .init("destination", destination.map { .clientText($0.description) } ?? .absent),
            // Upstream names are the configuration's (letters, digits, `.`, `_`, `-`), never the client's.
            .init("via", via.map { .text($0.description) } ?? .absent),
            .init("up", .integer(bytesUp)),
            .init("down", .integer(bytesDown)),
        ]
        if let protection {
            // Above level 0 every byte was wrapped or unwrapped: the relay did not splice.
            fields.append(.init("protection", .text(protection.description)))
        }
        if let datagramsDropped {
            fields.append(.init("dropped", .integer(datagramsDropped)))
        }
        fields.append(.init("duration", .seconds(Double(milliseconds) / 1000)))
        fields.append(.init("outcome", .text(outcome.description)))
        return LogEvent("session", fields: fields)
    }
}
