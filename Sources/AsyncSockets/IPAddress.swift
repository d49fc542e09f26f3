import Glibc

/// An IPv4 or IPv6 address, held as its network-order bytes (4 or 16 of them).
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// The address bytes in network order: 4 for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// Creates an address from 4 (IPv4) or 16 (IPv6) network-order bytes; `nil` for any other count.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses the textual forms `192.0.2.1` and `2001:db8::1` (no brackets, no zone).
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self.bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    public static let ipv4Any = IPAddress(bytes: [0, 0, 0, 0])!
    public static let ipv4Loopback = IPAddress(bytes: [127, 0, 0, 1])!
    public static let ipv6Any = IPAddress(bytes: [UInt8](repeating: 0, count: 16))!
    public static let ipv6Loopback = IPAddress(bytes: [UInt8](repeating: 0, count: 15) + [1])!

    public var isIPv4: Bool { bytes.count == 4 }
    public var isIPv6: Bool { bytes.count == 16 }

    /// True for `127.0.0.0/8` and `::1` (an IPv4-mapped address counts only once unmapped).
    public var isLoopback: Bool { isIPv4 ? bytes[0] == 127 : self == .ipv6Loopback }

    /// True for `0.0.0.0` and `::`.
    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }

    /// For an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), the IPv4 address; otherwise the address itself.
    ///
    /// A dual-stack socket reports IPv4 peers in the mapped form; SOCKS replies and logs want the plain form.
    public var unmapped: IPAddress {
        guard isIPv6, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else {
            return self
        }
        return IPAddress(bytes: Array(bytes[12..<16]))!
    }

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = isIPv4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &text, socklen_t(text.count)) != nil
        }
        guard ok else { return bytes.map(String.init).joined(separator: ".") }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
