// The growable code sets of SOCKS5: each a byte with named constants, so unknown values still round-trip.

/// The address type byte (ATYP).
package struct SOCKSAddressType: RawRepresentable, Hashable, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }

    package static let ipv4 = SOCKSAddressType(rawValue: 0x01)
    package static let domain = SOCKSAddressType(rawValue: 0x03)
    package static let ipv6 = SOCKSAddressType(rawValue: 0x04)
}

/// The request's command byte (CMD).
package struct SOCKSCommand: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }

    package static let connect = SOCKSCommand(rawValue: 0x01)
    package static let bind = SOCKSCommand(rawValue: 0x02)
    package static let udpAssociate = SOCKSCommand(rawValue: 0x03)

    package var description: String {
        switch self {
        case .connect: "connect"
        case .bind: "bind"
        case .udpAssociate: "udp-associate"
        default: "command-0x\(String(rawValue, radix: 16))"
        }
    }
}

/// An authentication method (RFC 1928 §3).
package struct SOCKSAuthenticationMethod: RawRepresentable, Hashable, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }

    package static let noAuthentication = SOCKSAuthenticationMethod(rawValue: 0x00)
    package static let gssapi = SOCKSAuthenticationMethod(rawValue: 0x01)
    package static let usernamePassword = SOCKSAuthenticationMethod(rawValue: 0x02)
    /// The server's answer when none of the client's methods is acceptable.
    package static let noAcceptableMethods = SOCKSAuthenticationMethod(rawValue: 0xFF)
}

/// The reply field (REP) of a server's reply (RFC 1928 §6).
public struct SOCKSReplyCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let succeeded = SOCKSReplyCode(rawValue: 0x00)
    public static let generalFailure = SOCKSReplyCode(rawValue: 0x01)
    public static let notAllowed = SOCKSReplyCode(rawValue: 0x02)
    public static let networkUnreachable = SOCKSReplyCode(rawValue: 0x03)
    public static let hostUnreachable = SOCKSReplyCode(rawValue: 0x04)
    public static let connectionRefused = SOCKSReplyCode(rawValue: 0x05)
    public static let ttlExpired = SOCKSReplyCode(rawValue: 0x06)
    public static let commandNotSupported = SOCKSReplyCode(rawValue: 0x07)
    public static let addressTypeNotSupported = SOCKSReplyCode(rawValue: 0x08)

    public var description: String {
        switch self {
        case .succeeded: "succeeded"
        case .generalFailure: "general failure"
        case .notAllowed: "not allowed by ruleset"
        case .networkUnreachable: "network unreachable"
        case .hostUnreachable: "host unreachable"
        case .connectionRefused: "connection refused"
        case .ttlExpired: "TTL expired"
        case .commandNotSupported: "command not supported"
        case .addressTypeNotSupported: "address type not supported"
        default: "reply 0x\(String(rawValue, radix: 16))"
        }
    }

    /// Two hex digits, as RFC 1928 writes reply codes: `05`.
    public var hex: String { (rawValue < 16 ? "0" : "") + String(rawValue, radix: 16) }
}
