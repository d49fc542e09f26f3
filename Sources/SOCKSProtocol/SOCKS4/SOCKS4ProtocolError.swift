/// Why bytes from a client are not a valid SOCKS4 or SOCKS4a request.
package enum SOCKS4ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The version byte is not 04.
    case unsupportedVersion(UInt8)
    /// No NUL within `SOCKS4Request.fieldLimit` bytes of the user id.
    case userIDTooLong
    /// No NUL within `SOCKS4Request.fieldLimit` bytes of the SOCKS4a host name.
    case hostnameTooLong
    /// A SOCKS4a host name of length 0.
    case emptyHostname
    /// A SOCKS4a host name that is no host name by `HostName`'s rule (a space, a byte that is not UTF-8, …):
    /// its bytes as sent, for the log (the description leaves them out, since it goes into the access
    /// line's outcome unescaped).
    case invalidHostname([UInt8])

    package var description: String {
        switch self {
        case .unsupportedVersion(let version): "unsupported version 0x\(String(version, radix: 16))"
        case .userIDTooLong: "user id longer than \(SOCKS4Request.fieldLimit) bytes"
        case .hostnameTooLong: "SOCKS4a host name longer than \(SOCKS4Request.fieldLimit) bytes"
        case .emptyHostname: "empty SOCKS4a host name"
        case .invalidHostname: "invalid SOCKS4a host name (a byte other than a letter, digit, -, _, . or UTF-8)"
        }
    }
}
