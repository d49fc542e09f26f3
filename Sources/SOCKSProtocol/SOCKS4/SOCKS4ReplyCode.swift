/// The CD byte of a SOCKS4 reply.
///
/// 5C and 5D are about identd (RFC 1413): the server was to ask the client host's identd who owns the
/// connection and compare that with the user id. socksd never runs identd queries (they cost a connection
/// back to the client per session and prove nothing on today's networks), so it never sends them; they are
/// here so that a client library or a test can encode and decode every code the protocol has.
package struct SOCKS4ReplyCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Request granted.
    package static let granted = SOCKS4ReplyCode(rawValue: 0x5A)
    /// Request rejected or failed: every refusal and failure socksd answers.
    package static let rejected = SOCKS4ReplyCode(rawValue: 0x5B)
    /// Rejected: the server cannot reach the client's identd. Never sent by socksd.
    package static let identdUnreachable = SOCKS4ReplyCode(rawValue: 0x5C)
    /// Rejected: identd reports a user other than the user id. Never sent by socksd.
    package static let identdMismatch = SOCKS4ReplyCode(rawValue: 0x5D)

    package var description: String {
        switch self {
        case .granted: "granted"
        case .rejected: "rejected or failed"
        case .identdUnreachable: "identd unreachable"
        case .identdMismatch: "identd user mismatch"
        default: "reply 0x\(String(rawValue, radix: 16))"
        }
    }

    /// Two hex digits, as the SOCKS4 text writes codes: `5B`.
    package var hex: String { (rawValue < 16 ? "0" : "") + String(rawValue, radix: 16, uppercase: true) }
}
