import AsyncSockets

/// A destination address as the integers `DestinationRules` indexes networks by: the IPv4 address (its own,
/// or the one an IPv4-mapped or NAT64 IPv6 address embeds) and the IPv6 address, so that a lookup masks and
/// hashes integers instead of building arrays.
struct AddressBits {
    /// The address if it is IPv4, or the IPv4 address an IPv4-mapped (`::ffff:0:0/96`) or NAT64
    /// (`64:ff9b::/96`) IPv6 address embeds.
    let ipv4: UInt32?
    /// The address if it is IPv6.
    let ipv6: IPv6Bits?

    init(_ address: IPAddress) {
        let (high, low) = address.integerHalves
        if address.isIPv4 {
            ipv4 = UInt32(truncatingIfNeeded: high >> 32)
            ipv6 = nil
            return
        }
        let bits = IPv6Bits(high: high, low: low)
        ipv6 = bits
        // Bytes 8 to 11 (the upper half of `low`) are 00 00 ff ff in a mapped address, zero under NAT64.
        let embedding = (bits.high, bits.low >> 32)
        let embedsIPv4 = embedding == (0, 0xFFFF) || embedding == (Self.nat64WellKnownPrefixHigh, 0)
        ipv4 = embedsIPv4 ? UInt32(truncatingIfNeeded: bits.low) : nil
    }

    /// The first eight bytes of `64:ff9b::/96`.
    private static let nat64WellKnownPrefixHigh: UInt64 = 0x0064_FF9B_0000_0000
}

/// A 128-bit IPv6 address or network as two integers (bytes 0–7 and 8–15, big-endian).
struct IPv6Bits: Hashable, Sendable {
    var high: UInt64
    var low: UInt64
}

/// An address as integers that can be cut to a network prefix: what `NetworkIndex` keys its tables by.
protocol NetworkBits: Hashable, Sendable {
    /// The mask of the first `prefixLength` bits.
    static func mask(prefixLength: Int) -> Self
    /// This address with only the bits of `mask` kept.
    func masked(by mask: Self) -> Self
    /// A well-mixed hash of this network and its prefix length, for `NetworkIndex`'s table (whose low bits
    /// pick the slot, so every input bit must reach them).
    func mixedHash(prefixLength: Int) -> UInt64
}

extension UInt64 {
    fileprivate func rotated(by count: Int) -> UInt64 { self << count | self >> (64 - count) }
}

/// The finalizer of SplitMix64 / MurmurHash3: spreads every input bit over all 64 output bits.
private func mix(_ value: UInt64) -> UInt64 {
    var mixed = value
    mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
    mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
    return mixed ^ (mixed >> 31)
}

extension UInt32: NetworkBits {
    static func mask(prefixLength: Int) -> UInt32 {
        // Shifting by the full width gives zero in Swift (a smart shift), so 0 and 32 need no special case.
        ~(UInt32.max >> prefixLength)
    }

    func masked(by mask: UInt32) -> UInt32 { self & mask }

    func mixedHash(prefixLength: Int) -> UInt64 { mix(UInt64(self) | UInt64(truncatingIfNeeded: prefixLength) << 32) }
}

extension IPv6Bits: NetworkBits {
    static func mask(prefixLength: Int) -> IPv6Bits {
        IPv6Bits(high: ~(UInt64.max >> min(prefixLength, 64)), low: ~(UInt64.max >> max(prefixLength - 64, 0)))
    }

    func masked(by mask: IPv6Bits) -> IPv6Bits { IPv6Bits(high: high & mask.high, low: low & mask.low) }

    func mixedHash(prefixLength: Int) -> UInt64 {
        // Multiplying spreads `low` over the upper bits, the rotation brings them down to meet `high`'s:
        // one finalizer then mixes the lot.
        mix(high ^ (low &* 0x9E37_79B9_7F4A_7C15).rotated(by: 32) ^ UInt64(truncatingIfNeeded: prefixLength))
    }
}
