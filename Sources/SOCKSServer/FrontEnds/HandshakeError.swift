import SOCKSProtocol

/// Why a session ended before serving a request: what the front-ends and the login stage throw.
enum HandshakeError: Error, CustomStringConvertible {
    case clientClosed
    case rejected(SOCKSHandshakeFailure)
    /// A login refused unchecked: the client's IP is serving a login backoff.
    case throttled
    /// A login refused unchecked: the password checker's queue was full.
    case checkerBusy
    /// The first byte starts no protocol socksd speaks.
    case unknownProtocol(firstByte: UInt8)
    /// The first byte chose a protocol this listener does not accept.
    case protocolNotAccepted(ClientProtocol)
    /// A SOCKS4 request that is not one.
    case rejectedSOCKS4(SOCKS4ProtocolError)
    /// A SOCKS4 request while users must log in: SOCKS4 carries no password (answered 5B).
    case socks4WithoutLogin
    /// An HTTP request refused with `status` before anything was served (already answered).
    case httpRefused(HTTPStatus, reason: String)
    /// An HTTP request without credentials while users must log in (answered 407; no failed login).
    case httpLoginRequired

    var description: String {
        switch self {
        case .clientClosed: "client closed the connection during the handshake"
        case .rejected(let failure): failure.description
        case .throttled: "login refused: too many failed logins from this address"
        case .checkerBusy: "login refused: the password checker is busy"
        case .unknownProtocol(let byte):
            "closed: the first byte \(Self.hex(byte)) starts no protocol socksd speaks (SOCKS5, SOCKS4, HTTP)"
        case .protocolNotAccepted(let chosen):
            "closed: \(chosen) is not among this listener's protocols (--protocols)"
        case .rejectedSOCKS4(let error): "malformed SOCKS4 request: \(error)"
        case .socks4WithoutLogin: "SOCKS4 request refused (5B): users must log in, and SOCKS4 carries no password"
        case .httpRefused(let status, let reason): "HTTP request answered \(status.code): \(reason)"
        case .httpLoginRequired: "HTTP request without Proxy-Authorization answered 407"
        }
    }

    /// `0x16`: a byte as the log shows one.
    static func hex(_ byte: UInt8) -> String {
        "0x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
    }
}
