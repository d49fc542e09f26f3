/// Why bytes from a client are not a valid SOCKS4 or SOCKS4a request.
public enum SOCKS4ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The version byte is not 04.
    case unsupportedVersion(UInt8)
    /// No NUL within `SOCKS4Request.fieldLimit` bytes of the user id.
    case userIDTooLong
    /// No NUL within `SOCKS4Request.fieldLimit` bytes of the SOCKS4a host name.
    case hostnameTooLong
    /// A SOCKS4a host name of length 0.
    case emptyHostname

    public var description: String {
        switch self {
        case .unsupportedVersion(let version): "unsupported version 0x\(String(version, radix: 16))"
        case .userIDTooLong: "user id longer than \(SOCKS4Request.fieldLimit) bytes"
        case .hostnameTooLong: "SOCKS4a host name longer than \(SOCKS4Request.fieldLimit) bytes"
        case .emptyHostname: "empty SOCKS4a host name"
        }
    }
}
