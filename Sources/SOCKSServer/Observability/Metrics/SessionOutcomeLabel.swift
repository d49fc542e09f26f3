/// The `outcome` label of `socksd_sessions_total`: how a session ended, from a fixed set, read off the
/// free-form outcome of its access line (`SessionRecord.outcome`), whose details (reply codes, rules,
/// errors) would make a label of unbounded cardinality.
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

    /// How `record`'s session ended, without putting a relay's error into words.
    init(_ record: SessionRecord) {
        self = record.relayError == nil ? SessionOutcomeLabel(outcome: record.outcome) : .error
    }

    /// Reads an access line's outcome, such as `succeeded`, `failed(05 connection refused)`,
    /// `denied(rule 2 deny-to private)`, `uot-v2 client-closed` or `control-closed`.
    init(outcome: String) {
        var text = Substring(outcome)
        // A UoT stream's outcome is its version, a space, and how the stream ended; its normal end is the
        // client closing the stream, which for other sessions means the client gave up early.
        if text.hasPrefix("uot-v"), let space = text.firstIndex(of: " ") {
            text = text[text.index(after: space)...]
            if text == "client-closed" {
                self = .succeeded
                return
            }
        }
        switch text {
        case "succeeded", "control-closed": self = .succeeded
        case "auth-failed": self = .authFailed
        case "auth-throttled", "auth-busy", "auth-required": self = .authRefused
        case "handshake-timeout": self = .handshakeTimeout
        case "no-acceptable-method": self = .protocolError
        case "client-closed": self = .clientClosed
        case "idle-timeout", "udp-timeout": self = .idleTimeout
        case "cancelled": self = .cancelled
        case _ where text.hasPrefix("failed("): self = .failed
        case _ where text.hasPrefix("denied("): self = .denied
        case _ where text.hasPrefix("refused("): self = .refused
        case _ where text.hasPrefix("malformed"), _ where text.hasPrefix("unsupported-protocol("): self = .protocolError
        default: self = .error
        }
    }
}
