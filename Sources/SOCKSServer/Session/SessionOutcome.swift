import SOCKSProtocol

/// How a session ended: the access line's `outcome` field, and the `outcome` label of
/// `socksd_sessions_total`.
///
/// The stages set it as a value; it is put into words only when an access line is written (a client's reset
/// ends most relays with an error, and the access line that would word it is often not wanted), and the
/// metrics label is a switch over the cases, not a reading of the words.
///
/// `indirect`: a case's payload lives in a box of its own, so the value is one word. It is carried through
/// the frames of every session's idle task (a relay returns it), where each byte can cost a task-allocator
/// slab: with the payloads inline (up to 33 bytes) an idle UoT stream's task needed two more 1 KiB slabs.
/// Only the rarer endings pay the box: `succeeded` and the other cases without a payload allocate nothing.
indirect enum SessionOutcome: Sendable, CustomStringConvertible {
    /// The session ended before it got as far as any other outcome says (an HTTP request loop between
    /// requests, or a handshake ended by something unforeseen).
    case handshakeIncomplete
    /// Served: a CONNECT or BIND relay that ended normally, or a forwarded HTTP request answered.
    case succeeded
    /// Answered with a SOCKS failure reply (`failed(05 connection refused)`).
    case failed(SOCKSReplyCode)
    /// An HTTP request answered with an error status (`failed(http 502)`).
    case failedHTTP(status: Int)
    /// Refused by the destination rules (reply 02, `denied(deny-to private (rule 1))`).
    case denied(AccessDenied)
    /// Refused by a per-user or UDP limit (reply 02).
    case refusedByLimit
    /// A wrong user name or password.
    case authFailed
    /// A login refused unchecked: the address serves a backoff.
    case authThrottled
    /// A login refused unchecked: the password checker's queue was full.
    case authBusy
    /// A request without a login where one is required (SOCKS4, or HTTP without `Proxy-Authorization`).
    case authRequired
    /// No complete request within the handshake deadline.
    case handshakeTimeout
    /// A SOCKS5 greeting that offered no method the server accepts.
    case noAcceptableMethod
    /// Bytes that are not the protocol (`malformed(truncated)`).
    case malformed(String)
    /// A first byte that starts no protocol (`unsupported-protocol(0x16)`) or one the listener does not
    /// accept (`unsupported-protocol(socks4)`).
    case unsupportedProtocol(String)
    /// The client hung up before its request was served.
    case clientClosed
    /// A TCP relay's idle timeout ended it.
    case idleTimeout
    /// Cancelled: the server stopped and its grace period ran out (`shutdown()`), which cancels the
    /// session's task. A reload that ends a session closes its connection instead: the session then ends
    /// the way a closed connection ends it.
    case cancelled
    /// A handshake ended by an error no other case names.
    case handshakeError
    /// A TCP relay or HTTP exchange ended by an error (`relay-error(…)`), worded when read.
    case relayError(RelayFault)
    /// How a UDP association ended (`control-closed`, `udp-timeout`, `relay-error(…)`).
    case udpAssociation(UDPAssociation.Ending)
    /// How a UoT stream ended, after its version (`uot-v2 client-closed`).
    case uotStream(UoTVersion, UoTServerRelay.Ending)

    var description: String {
        switch self {
        case .handshakeIncomplete: "handshake-incomplete"
        case .succeeded: "succeeded"
        case .failed(let code): "failed(\(code.hex) \(code))"
        case .failedHTTP(let status): "failed(http \(status))"
        case .denied(let denial): "denied(\(denial.reason))"
        case .refusedByLimit: "refused(limit)"
        case .authFailed: "auth-failed"
        case .authThrottled: "auth-throttled"
        case .authBusy: "auth-busy"
        case .authRequired: "auth-required"
        case .handshakeTimeout: "handshake-timeout"
        case .noAcceptableMethod: "no-acceptable-method"
        case .malformed(let problem): "malformed(\(problem))"
        case .unsupportedProtocol(let what): "unsupported-protocol(\(what))"
        case .clientClosed: "client-closed"
        case .idleTimeout: "idle-timeout"
        case .cancelled: "cancelled"
        case .handshakeError: "handshake-error"
        case .relayError(let error): "relay-error(\(error))"
        case .udpAssociation(let ending): "\(ending)"
        case .uotStream(let version, let ending): "\(version) \(ending)"
        }
    }

    /// The metrics label: a fixed set, where the words carry details (reply codes, rules, errors) that
    /// would make a label of unbounded cardinality.
    var label: SessionOutcomeLabel {
        switch self {
        case .succeeded: .succeeded
        case .failed, .failedHTTP: .failed
        case .denied: .denied
        case .refusedByLimit: .refused
        case .authFailed: .authFailed
        case .authThrottled, .authBusy, .authRequired: .authRefused
        case .handshakeTimeout: .handshakeTimeout
        case .noAcceptableMethod, .malformed, .unsupportedProtocol: .protocolError
        case .clientClosed: .clientClosed
        case .idleTimeout: .idleTimeout
        case .cancelled: .cancelled
        case .handshakeIncomplete, .handshakeError, .relayError: .error
        case .udpAssociation(let ending):
            switch ending {
            case .controlClosed: .succeeded
            case .idle: .idleTimeout
            case .failed: .error
            }
        case .uotStream(_, let ending):
            switch ending {
            // A UoT stream's normal end is the client closing it, which for other sessions means the
            // client gave up early.
            case .clientClosed: .succeeded
            case .idle: .idleTimeout
            case .headerTimedOut: .handshakeTimeout
            case .malformed: .protocolError
            case .failed: .error
            }
        }
    }
}

extension SessionOutcome {
    /// What ended a relay early. A socket's error is held as itself: as `any Error` it would take a box on
    /// the heap, and a session that ends with a reset is an ordinary one.
    enum RelayFault: Sendable, CustomStringConvertible {
        case socket(SocketError)
        case other(any Error)

        var description: String {
            switch self {
            case .socket(let error): "\(error)"
            case .other(let error): "\(error)"
            }
        }
    }
}
