import SOCKSProtocol

/// The words a session answers in: the protocol its client spoke. Serving (policy, connecting, binding,
/// relaying) is the same for all; only the reply bytes differ. Outcomes are given as SOCKS5 reply codes
/// (RFC 1928 §6), the richest of the three, and translated here.
enum ClientDialect: Sendable, Hashable, CustomStringConvertible {
    case socks5
    /// SOCKS4/4a: `5A` on success, `5B` for every refusal and failure (the protocol has no finer codes
    /// that apply: `5C`/`5D` are about identd, which socksd never asks).
    case socks4
    /// HTTP: a `CONNECT` tunnel's status line, or the response refusing a tunnel or a request to forward.
    case http

    var description: String {
        switch self {
        case .socks5: "SOCKS5"
        case .socks4: "SOCKS4"
        case .http: "HTTP"
        }
    }

    /// The success reply carrying `bound` (for BIND: where the peer should connect, then who did).
    func successReply(bound: SOCKSEndpoint) -> [UInt8] {
        switch self {
        case .socks5: SOCKSReply(code: .succeeded, bound: bound).encoded()
        case .socks4: SOCKS4Reply(code: .granted, bound: bound).encoded()
        case .http: HTTPProxyReply.connectionEstablished
        }
    }

    /// The failure reply for what SOCKS5 would answer `code`.
    func failureReply(_ code: SOCKSReplyCode) -> [UInt8] {
        switch self {
        case .socks5:
            return SOCKSReply(code: code).encoded()
        case .socks4:
            return SOCKS4Reply(code: .rejected).encoded()
        case .http:
            return HTTPProxyReply.response(Self.httpStatus(for: code))
        }
    }

    /// The HTTP status for a SOCKS5 reply code: 403 for a rule's or limit's refusal, 504 for a deadline,
    /// 501 for a request the server does not serve, 502 for every other failure to reach the destination.
    static func httpStatus(for code: SOCKSReplyCode) -> HTTPStatus {
        switch code {
        case .succeeded: .connectionEstablished
        case .notAllowed: .forbidden
        case .ttlExpired: .gatewayTimeout
        case .commandNotSupported, .addressTypeNotSupported: .notImplemented
        default: .badGateway
        }
    }
}
