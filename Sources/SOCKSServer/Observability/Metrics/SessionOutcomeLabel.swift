/// The `outcome` label of `socksd_sessions_total`: how a session ended, from a fixed set
/// (`SessionOutcome.label`), without the details (reply codes, rules, errors) of the access line's outcome,
/// which would make a label of unbounded cardinality.
enum SessionOutcomeLabel: Int, CaseIterable, Sendable {
    /// Served until the end: a CONNECT or BIND relay that ended normally, a UDP association whose control
    /// connection closed, a UoT stream the client closed.
    case succeeded
    /// Answered with a failure reply (`failed(05 connection refused)`, an unsupported command, …).
    case failed
    /// Refused by the destination rules (reply 02).
    case denied
    /// Refused by a per-user or UDP limit (reply 02).
    case refused
    /// A wrong user name or password.
    case authFailed
    /// A login refused unchecked: the address was throttled, or the password checker was busy; or a SOCKS4
    /// request while users must log in.
    case authRefused
    /// No complete request (or UoT v2 header) within the handshake deadline.
    case handshakeTimeout
    /// Bytes that are not the protocol: a malformed request or UoT stream, no acceptable method, a first
    /// byte that starts no protocol or one the listener does not accept.
    case protocolError
    /// The client hung up before its request was served.
    case clientClosed
    /// The relay's idle or UDP timeout ended it.
    case idleTimeout
    /// Cancelled: the server stopped, or a reload ended it.
    case cancelled
    /// Anything else (a relay error, an unexpected handshake error).
    case error

    var label: String {
        switch self {
        case .succeeded: "succeeded"
        case .failed: "failed"
        case .denied: "denied"
        case .refused: "refused"
        case .authFailed: "auth-failed"
        case .authRefused: "auth-refused"
        case .handshakeTimeout: "handshake-timeout"
        case .protocolError: "protocol-error"
        case .clientClosed: "client-closed"
        case .idleTimeout: "idle-timeout"
        case .cancelled: "cancelled"
        case .error: "error"
        }
    }
}
