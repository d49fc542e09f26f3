import AsyncSockets

/// An IPv4 or IPv6 network in CIDR form: an address and how many of its leading bits are the network
/// (`10.0.0.0/8`, `fd00::/8`; a single address is a /32 or a /128).
///
/// Matching sees through the two ways an IPv6 address can carry an IPv4 one, so that a client cannot step
/// around an IPv4 rule by writing its destination in IPv6: an IPv4-mapped address (`::ffff:a.b.c.d`, which a
/// dual-stack socket connects to a.b.c.d) and a NAT64 address under the well-known prefix (`64:ff9b::/96`,
/// which a NAT64 gateway forwards to a.b.c.d) are also checked as the IPv4 address they embed. An IPv6
/// network is checked against the IPv6 address as it is.
///
/// That reading suits destinations, where a match denies. A network that *grants* trust to a client
/// (`allowFrom`, the PROXY protocol's trusted balancers) uses `containsClient(_:)` instead, which leaves NAT64
/// out: a host in `64:ff9b::/96` is an IPv6 host, not the IPv4 one its last bytes spell.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The network's first address: the given address with every bit after the prefix clear.
    public let address: IPAddress
    /// How many leading bits of `address` name the network: 0 to 32 for IPv4, 0 to 128 for IPv6.
    public let prefixLength: Int

    /// The network `address` belongs to at `prefixLength`, its host bits cleared (`10.1.2.3`, 8 gives
    /// `10.0.0.0/8`); `nil` when `prefixLength` is outside 0...32 for IPv4 or 0...128 for IPv6.
    public init?(masking address: IPAddress, prefixLength: Int) {
        guard (0...address.byteCount * 8).contains(prefixLength) else { return nil }
        var bytes = address.bytes
        for index in bytes.indices {
            bytes[index] &= Self.prefixMask(ofByte: index, prefixLength: prefixLength)
        }
        self.address = IPAddress(bytes: bytes)!
        self.prefixLength = prefixLength
    }

    /// Parses `ADDRESS/PREFIX` (`10.0.0.0/8`, `fd00::/8`) or a single address (`192.0.2.7` is a /32, `::1`
    /// a /128). IPv6 is written without brackets and without a zone. An address with bits set after the
    /// prefix (`10.1.2.3/8`) is refused, since it usually means a mistyped prefix length.
    public init(parsing text: String) throws(RuleSyntaxError) {
        guard !text.isEmpty else { throw RuleSyntaxError(text, "is empty; expected an IP address or network such as 10.0.0.0/8") }
        let slash = text.firstIndex(of: "/")
        let addressText = text[..<(slash ?? text.endIndex)]
        // Only the characters of an address reach inet_pton: it reads a C string, and would stop at a NUL
        // and take "10.0.0.1\0junk" for 10.0.0.1.
        guard !addressText.isEmpty, addressText.utf8.allSatisfy(Self.isAddressCharacter),
            let address = IPAddress(String(addressText))
        else {
            throw RuleSyntaxError(text, "is not an IP address or network (expected the form 10.0.0.0/8, fd00::/8, 192.0.2.7 or ::1)")
        }
        let bitCount = address.byteCount * 8
        var prefixLength = bitCount
        if let slash {
            let prefixText = text[text.index(after: slash)...]
            guard let length = Self.decimal(prefixText, maximumDigits: 3), length <= bitCount else {
                let family = address.isIPv4 ? "IPv4" : "IPv6"
                throw RuleSyntaxError(text, "has an invalid prefix length; an \(family) prefix length is a number from 0 to \(bitCount)")
            }
            prefixLength = length
        }
        let network = IPNetwork(masking: address, prefixLength: prefixLength)!
        guard network.address == address else {
            throw RuleSyntaxError(text, "has host bits set; did you mean \(network)?")
        }
        // Destinations and clients are compared in their IPv4 form: a network written in the IPv4-mapped
        // form would never match, so it is refused with the form that does.
        if address.isIPv6, prefixLength >= 96, address.unmapped.isIPv4 {
            let ipv4 = IPNetwork(masking: address.unmapped, prefixLength: prefixLength - 96)!
            throw RuleSyntaxError(text, "is an IPv4-mapped IPv6 network; write it as \(ipv4), which covers the mapped form too")
        }
        self = network
    }

    /// Whether `address` is in this network, directly or as the IPv4 address an IPv4-mapped or NAT64
    /// (`64:ff9b::/96`) IPv6 address embeds.
    ///
    /// Written as a plain byte comparison, not with the integer masks `DestinationRules` indexes by, so that
    /// the two can be checked against each other.
    public func contains(_ address: IPAddress) -> Bool {
        if address.byteCount == self.address.byteCount {
            return leadingBitsMatch(address, from: 0)
        }
        if self.address.isIPv4, Self.embedsIPv4(address) {
            return leadingBitsMatch(address, from: 12)
        }
        return false
    }

    /// Whether the client `address` is in this network, for a network that grants trust to the clients in it
    /// (`allowFrom`, `trustedProxies`): directly, or for an IPv4 network also as the IPv4 address an
    /// IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, how a dual-stack socket sees an IPv4 peer) carries. A NAT64
    /// address (`64:ff9b::a.b.c.d`) is an IPv6 client, matched only by IPv6 networks: its owner is whoever
    /// holds that IPv6 address, not the IPv4 host its last bytes name.
    package func containsClient(_ address: IPAddress) -> Bool {
        if address.byteCount == self.address.byteCount {
            return leadingBitsMatch(address, from: 0)
        }
        if self.address.isIPv4, address.isIPv6, Self.prefix(of: address) == Self.ipv4MappedPrefix {
            return leadingBitsMatch(address, from: 12)
        }
        return false
    }

    /// The canonical form: `10.0.0.0/8`, `fd00::/8`, and a single address (/32, /128) without its prefix.
    public var description: String {
        prefixLength == address.byteCount * 8 ? address.description : "\(address)/\(prefixLength)"
    }

    /// Whether `bytes` is an IPv6 address whose last four bytes are an IPv4 address: IPv4-mapped
    /// (`::ffff:0:0/96`) or NAT64 under the well-known prefix (`64:ff9b::/96`, RFC 6052).
    static func embedsIPv4(_ address: IPAddress) -> Bool {
        guard address.isIPv6 else { return false }
        let prefix = prefix(of: address)
        return prefix == ipv4MappedPrefix || prefix == nat64WellKnownPrefix
    }

    /// The first 12 bytes of an IPv6 address, as two big-endian integers (bytes 0–7 and 8–11).
    private static func prefix(of address: IPAddress) -> Prefix96 {
        let (high, low) = address.integerHalves
        return Prefix96(high: high, middle: UInt32(truncatingIfNeeded: low >> 32))
    }

    private struct Prefix96: Equatable {
        let high: UInt64
        let middle: UInt32
    }

    /// `::ffff:0:0/96`.
    private static let ipv4MappedPrefix = Prefix96(high: 0, middle: 0x0000_FFFF)
    /// `64:ff9b::/96`.
    private static let nat64WellKnownPrefix = Prefix96(high: 0x0064_FF9B_0000_0000, middle: 0)

    /// Whether the first `prefixLength` bits of `candidate`, read from byte `start`, equal this network's.
    private func leadingBitsMatch(_ candidate: IPAddress, from start: Int) -> Bool {
        for index in 0..<address.byteCount {
            let mask = Self.prefixMask(ofByte: index, prefixLength: prefixLength)
            if mask == 0 { break }
            if candidate[byteAt: start + index] & mask != address[byteAt: index] { return false }
        }
        return true
    }

    /// The bits of byte `index` that a prefix of `prefixLength` bits covers.
    private static func prefixMask(ofByte index: Int, prefixLength: Int) -> UInt8 {
        let coveredBits = min(max(prefixLength - index * 8, 0), 8)
        return coveredBits == 0 ? 0 : 0xFF << (8 - coveredBits)
    }

    /// Hexadecimal digits, `.` and `:`: every character of an IPv4 or IPv6 address without a zone.
    private static func isAddressCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
            UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: "."), UInt8(ascii: ":"):
            true
        default: false
        }
    }

    /// `text` read as a decimal number of 1 to `maximumDigits` ASCII digits, or `nil`. Unlike `Int(_:)`,
    /// no sign and no other digits.
    static func decimal(_ text: Substring, maximumDigits: Int) -> Int? {
        guard (1...maximumDigits).contains(text.utf8.count) else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }
}
