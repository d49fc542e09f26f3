/// Why bytes from a peer are not valid SOCKS5 / RFC 1929.
public enum SOCKSProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The version byte is not 05 (or 01 in the RFC 1929 exchange).
    case unsupportedVersion(UInt8)
    /// The ATYP byte names no known address type.
    case unsupportedAddressType(UInt8)
    /// A domain name of length 0, or one that is no host name by `HostName`'s rule (a NUL, a space, a byte
    /// that is not UTF-8, …): the name's bytes as sent, for the log (the description leaves them out, since
    /// it goes into the access line's outcome unescaped).
    case invalidDomainName([UInt8])
    /// An RFC 1929 username or password of length 0.
    case emptyCredential
    /// A reserved byte that must be zero is not.
    case nonZeroReserved(UInt8)
    /// A UDP datagram shorter than its header says.
    case truncated

    public var description: String {
        switch self {
        case .unsupportedVersion(let version): "unsupported version 0x\(String(version, radix: 16))"
        case .unsupportedAddressType(let type): "unsupported address type 0x\(String(type, radix: 16))"
        case .invalidDomainName: "invalid domain name (empty, or a byte other than a letter, digit, -, _, . or UTF-8)"
        case .emptyCredential: "empty username or password"
        case .nonZeroReserved(let value): "reserved byte is 0x\(String(value, radix: 16)), not 0"
        case .truncated: "truncated message"
        }
    }

    /// The reply code a server sends when a request fails this way (RFC 1928 §6).
    public var replyCode: SOCKSReplyCode {
        switch self {
        case .unsupportedAddressType: .addressTypeNotSupported
        case .invalidDomainName: .hostUnreachable
        default: .generalFailure
        }
    }
}
