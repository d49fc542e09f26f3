/// An RFC 1961 protection level: what the messages after the GSS-API login are wrapped with.
///
/// Level 0 is not in RFC 1961, which knows 1 (integrity), 2 (integrity and confidentiality) and 3 (per
/// message, by local configuration); it is what curl asks for and what Dante grants when its
/// `gssapi.enctype` includes `clear`: no protection, the rest of the session in plain SOCKS5.
public enum GSSAPIProtection: UInt8, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    /// Level 0: nothing wrapped.
    case none = 0
    /// Level 1: every message `gss_wrap`ped without confidentiality (signed).
    case integrity = 1
    /// Level 2: every message `gss_wrap`ped with confidentiality (encrypted and signed).
    case confidentiality = 2

    /// The level a name (`none`, `integrity`, `confidentiality`) stands for, as flags and keys write it.
    package init?(name: String) {
        guard let level = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = level
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .none: "none"
        case .integrity: "integrity"
        case .confidentiality: "confidentiality"
        }
    }

    /// The level a server that accepts `minimum` grants a client that asks for the octet `requested`
    /// (RFC 1961 §4.3): what it asks for when that is at least the minimum, else the minimum (the client
    /// closes if that is not acceptable to it); level 3 leaves the choice to the server, which grants
    /// integrity or the minimum if higher. `nil` for an octet that is no level.
    package static func granted(requested: UInt8, minimum: GSSAPIProtection) -> GSSAPIProtection? {
        switch requested {
        case 0...2: max(GSSAPIProtection(rawValue: requested)!, minimum)
        case 3: max(.integrity, minimum)
        default: nil
        }
    }
}
