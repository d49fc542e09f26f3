import SOCKSProtocol

/// Why a SOCKS5 client operation failed: as the proxy told it, or a request the client cannot send.
public enum SOCKSClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The proxy accepts none of the offered methods (it answered `05 FF`).
    case noAcceptableMethod
    /// The proxy refused the username/password (RFC 1929 status ≠ 0).
    case authenticationFailed(status: UInt8)
    /// The proxy asked for username/password, and the client has none.
    case credentialsRequired
    /// The request failed with this reply code.
    case requestFailed(SOCKSReplyCode)
    /// The proxy closed the connection before its answer was complete.
    case closedByProxy
    /// The proxy's bytes are not valid SOCKS5.
    case protocolViolation(String)
    /// The request cannot be made as asked (nothing was sent): UoT v1 with a connect-mode destination.
    case unsupportedRequest(String)

    public var description: String {
        switch self {
        case .noAcceptableMethod: "the proxy accepts none of the offered authentication methods"
        case .authenticationFailed(let status): "the proxy refused the credentials (status \(status))"
        case .credentialsRequired: "the proxy requires a username and password"
        case .requestFailed(let code): "the proxy replied \(code.hex) (\(code))"
        case .closedByProxy: "the proxy closed the connection"
        case .protocolViolation(let detail): "protocol violation by the proxy: \(detail)"
        case .unsupportedRequest(let detail): "unsupported request: \(detail)"
        }
    }

    /// The reply code to pass on to a downstream client: the proxy's own code for a failed request, 01
    /// (general failure) for anything else.
    public var replyCode: SOCKSReplyCode {
        if case .requestFailed(let code) = self { return code }
        return .generalFailure
    }
}
