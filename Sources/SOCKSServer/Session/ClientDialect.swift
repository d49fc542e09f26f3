import SOCKSProtocol

/// The words a session answers in: the protocol its client spoke. Serving (policy, connecting, binding,
/// relaying) is the same for all; only the reply bytes differ. Outcomes are given as SOCKS5 reply codes
/// (RFC 1928 §6), the richest of the three, and translated here.
enum ClientDialect: Sendable, Hashable, CustomStringConvertible {
    case socks5
    /// SOCKS4/4a: `5A` on success, `5B` for every refusal and failure (the protocol has no finer codes
    /// that apply: `5C`/`5D` are about identd, which socksd never asks).
    case socks4
    /// HTTP `CONNECT`: a status line.
    case httpConnect

    var description: String {
        switch self {
        case .socks5: "SOCKS5"
        case .socks4: "SOCKS4"
        case .httpConnect: "HTTP CONNECT"
        }
    }

    /// The success reply carrying `bound` (for BIND: where the peer should connect, then who did).
    func successReply(bound: SOCKSEndpoint) -> [UInt8] {
        switch self {
        case .socks5: SOCKSReply(code: .succeeded, bound: bound).encoded()
        case .socks4: SOCKS4Reply(code: .granted, bound: bound).encoded()
        case .httpConnect: Self.httpStatusLine(200, "Connection established", closing: false)
        }
    }

    /// The failure reply for what SOCKS5 would answer `code`.
    func failureReply(_ code: SOCKSReplyCode) -> [UInt8] {
        switch self {
        case .socks5:
            return SOCKSReply(code: code).encoded()
        case .socks4:
            return SOCKS4Reply(code: .rejected).encoded()
        case .httpConnect:
            let (status, reason) = Self.httpStatus(for: code)
            return Self.httpStatusLine(status, reason, closing: true)
        }
    }

    /// The HTTP status for a SOCKS5 reply code: 403 for a rule's or limit's refusal, 504 for a deadline,
    /// 501 for a request the server does not serve, 502 for every other failure to reach the destination.
    static func httpStatus(for code: SOCKSReplyCode) -> (status: Int, reason: String) {
        switch code {
        case .succeeded: (200, "Connection established")
        case .notAllowed: (403, "Forbidden")
        case .ttlExpired: (504, "Gateway Timeout")
        case .commandNotSupported, .addressTypeNotSupported: (501, "Not Implemented")
        default: (502, "Bad Gateway")
        }
    }

    /// A response head with no body. A stand-in until the HTTP side has its own renderer.
    static func httpStatusLine(_ status: Int, _ reason: String, closing: Bool) -> [UInt8] {
        let fields = closing ? "Connection: close\r\nContent-Length: 0\r\n" : ""
        return Array("HTTP/1.1 \(status) \(reason)\r\n\(fields)\r\n".utf8)
    }
}
