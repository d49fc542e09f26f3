import Glibc

/// An IPv4 or IPv6 address, held as its network-order bytes (4 or 16 of them).
///
/// The bytes are stored inline, in two words, not in an array: an address is made for every accepted
/// connection, every dial and every datagram a relay receives, and an array would cost a heap allocation
/// each time. `bytes` still hands out an array, for callers off the hot path.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// The bytes in network order, in memory order across the two words: an IPv4 address in the first
    /// four, the rest zero.
    private var words: (UInt64, UInt64) = (0, 0)
    /// 4 or 16.
    private let length: UInt8

    /// Creates an address from 4 (IPv4) or 16 (IPv6) network-order bytes; `nil` for any other count.
    public init?(bytes: [UInt8]) {
        guard let address = bytes.withUnsafeBytes({ IPAddress(copying: $0) }) else { return nil }
        self = address
    }

    /// Creates an address from 4 (IPv4) or 16 (IPv6) network-order bytes in `raw`; `nil` for any other count.
    package init?(copying raw: UnsafeRawBufferPointer) {
        guard raw.count == 4 || raw.count == 16 else { return nil }
        length = UInt8(raw.count)
        withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: raw) }
    }

    /// Creates an address from two big-endian integers (bytes 0–7 and 8–15) and its length.
    private init(high: UInt64, low: UInt64, length: UInt8) {
        self.words = (high.bigEndian, low.bigEndian)
        self.length = length
    }

    /// Creates an IPv6 address from two big-endian integers (bytes 0–7 and 8–15).
    package init(ipv6High high: UInt64, low: UInt64) {
        self.init(high: high, low: low, length: 16)
    }

    /// Parses the textual forms `192.0.2.1` and `2001:db8::1` (no brackets, no zone).
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = Swift.withUnsafeBytes(of: &v4) { IPAddress(copying: $0)! }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self = Swift.withUnsafeBytes(of: &v6) { IPAddress(copying: $0)! }
            return
        }
        return nil
    }

    public static let ipv4Any = IPAddress(bytes: [0, 0, 0, 0])!
    public static let ipv4Loopback = IPAddress(bytes: [127, 0, 0, 1])!
    public static let ipv6Any = IPAddress(bytes: [UInt8](repeating: 0, count: 16))!
    public static let ipv6Loopback = IPAddress(bytes: [UInt8](repeating: 0, count: 15) + [1])!

    /// The address bytes in network order: 4 for IPv4, 16 for IPv6 (a new array each time; the hot paths
    /// use `withUnsafeBytes(_:)` or `subscript(byteAt:)`).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// 4 for IPv4, 16 for IPv6.
    package var byteCount: Int { Int(length) }

    /// Byte `index` in network order (0 is the first).
    package subscript(byteAt index: Int) -> UInt8 {
        precondition(index >= 0 && index < Int(length), "byte index out of range")
        return Swift.withUnsafeBytes(of: words) { $0[index] }
    }

    /// Calls `body` with the address bytes in network order (4 or 16), valid only inside `body`.
    package func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        // The pointer is valid only inside `body`: it points at a copy of `words` that lives for this call.
        try Swift.withUnsafeBytes(of: words) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<Int(length)])) }
    }

    /// The address as two big-endian integers (bytes 0–7 and 8–15; an IPv4 address is in the top half of
    /// the first, the rest zero).
    package var integerHalves: (high: UInt64, low: UInt64) {
        (UInt64(bigEndian: words.0), UInt64(bigEndian: words.1))
    }

    public var isIPv4: Bool { length == 4 }
    public var isIPv6: Bool { length == 16 }

    /// True for `127.0.0.0/8` and `::1` (an IPv4-mapped address counts only once unmapped).
    public var isLoopback: Bool { isIPv4 ? self[byteAt: 0] == 127 : self == .ipv6Loopback }

    /// True for `0.0.0.0` and `::`.
    public var isUnspecified: Bool { words == (0, 0) }

    /// For an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), the IPv4 address; otherwise the address itself.
    ///
    /// A dual-stack socket reports IPv4 peers in the mapped form; SOCKS replies and logs want the plain form.
    public var unmapped: IPAddress {
        let (high, low) = integerHalves
        guard isIPv6, high == 0, low >> 32 == 0xFFFF else { return self }
        return IPAddress(high: low << 32, low: 0, length: 4)
    }

    /// The IPv4-mapped IPv6 form (`::ffff:a.b.c.d`) of an IPv4 address; an IPv6 address as it is.
    package var mapped: IPAddress {
        guard isIPv4 else { return self }
        return IPAddress(high: 0, low: 0xFFFF << 32 | integerHalves.high >> 32, length: 16)
    }

    public static func == (lhs: IPAddress, rhs: IPAddress) -> Bool {
        lhs.length == rhs.length && lhs.words == rhs.words
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(length)
        hasher.combine(words.0)
        hasher.combine(words.1)
    }

    public var description: String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(INET6_ADDRSTRLEN)) { text in
            let family = isIPv4 ? AF_INET : AF_INET6
            let written = withUnsafeBytes { raw in
                inet_ntop(family, raw.baseAddress, text.baseAddress, socklen_t(text.count)) != nil
            }
            guard written else { return bytes.map(String.init).joined(separator: ".") }
            return String(cString: text.baseAddress!)
        }
    }
}
