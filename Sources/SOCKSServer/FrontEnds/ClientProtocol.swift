/// A protocol a client may speak to a listener: the first byte of its connection says which (`05` SOCKS5,
/// `04` SOCKS4/4a, an ASCII letter an HTTP/1.x request line). A listener accepts a set of them
/// (`--protocols socks5,socks4,http`, the configuration file's `protocols`); the default is SOCKS5 and HTTP.
/// SOCKS4 is opt-in, and refused while users must log in: it carries no password.
public enum ClientProtocol: String, CaseIterable, Sendable, Hashable, Comparable, CustomStringConvertible {
    case socks5
    case socks4
    case http

    /// What a listener accepts unless told otherwise.
    public static let defaultSet: Set<ClientProtocol> = [.socks5, .http]

    /// The protocol a connection's first byte announces; `nil` for a byte that starts none of them.
    init?(firstByte: UInt8) {
        switch firstByte {
        case 0x05: self = .socks5
        case 0x04: self = .socks4
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"): self = .http
        default: return nil
        }
    }

    public var description: String { rawValue }

    public static func < (lhs: ClientProtocol, rhs: ClientProtocol) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// A set written as a list, in the canonical order: `socks5,socks4,http`.
    static func listText(_ protocols: Set<ClientProtocol>) -> String {
        protocols.sorted().map(\.rawValue).joined(separator: ",")
    }

    /// Why a list of protocols cannot be used.
    package struct ListError: Error, Sendable, Hashable, CustomStringConvertible {
        package var description: String
    }

    /// The protocols of a list's names (`--protocols socks5,http`, or the elements of the configuration
    /// file's array): each one of `socks5`, `socks4`, `http`, at least one, none twice.
    static func parse<Names: Collection>(names: Names) throws(ListError) -> Set<ClientProtocol> where Names.Element == String {
        guard !names.isEmpty else { throw ListError(description: "names no protocol: list at least one of socks5, socks4, http") }
        var protocols: Set<ClientProtocol> = []
        for name in names {
            guard let named = ClientProtocol(rawValue: name) else {
                throw ListError(description: "unknown protocol '\(name)': the protocols are socks5, socks4 and http")
            }
            guard protocols.insert(named).inserted else {
                throw ListError(description: "names '\(name)' more than once")
            }
        }
        return protocols
    }

    /// The protocols of a comma-separated list (`socks5,socks4,http`; spaces around names are allowed).
    package static func parse(list text: String) throws(ListError) -> Set<ClientProtocol> {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
        if names == [""] { throw ListError(description: "names no protocol: list at least one of socks5, socks4, http") }
        if names.contains("") { throw ListError(description: "'\(text)' has an empty name: write the names separated by commas, such as socks5,http") }
        return try parse(names: names)
    }
}

extension Substring {
    /// Without leading and trailing spaces.
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
