import AsyncSockets

/// The ordered destination rules of `--allow-to` and `--deny-to`: the first rule that matches a destination
/// decides; when none matches, the caller applies its default (allow).
///
/// A destination is asked about twice. First with its name only, before resolving it: only domain and `*`
/// rules can match then. Then with the name and each address it resolved to, where a domain rule and a
/// network rule can both match and whichever comes first decides. So `--allow-to intranet.corp
/// --deny-to private` lets intranet.corp reach its 10.x addresses, while another name that resolves to
/// 127.0.0.1 is still denied. A destination given as an IP address is asked with no name.
///
/// Lookups do not walk the list: the rules are indexed when the value is made (networks by prefix length
/// and masked address, domains by name), so a thousand rules cost a lookup about as much as ten.
public struct DestinationRules: Sendable, Hashable {
    /// The rules, in the order they are evaluated.
    public let rules: [DestinationRule]

    /// `*` rules, in order: they match whatever the destination.
    private let anyHostRules: [IndexedRule]
    /// `private` rules, in order.
    private let privateRangeRules: [IndexedRule]
    private let domains: DomainIndex
    private let ipv4Networks: NetworkIndex<UInt32>
    private let ipv6Networks: NetworkIndex<IPv6Bits>

    /// Evaluates `rules` in this order.
    public init(_ rules: [DestinationRule]) {
        self.rules = rules
        var anyHostRules: [IndexedRule] = []
        var privateRangeRules: [IndexedRule] = []
        var domains = DomainIndex()
        var ipv4Networks: [NetworkIndex<UInt32>.Entry] = []
        var ipv6Networks: [NetworkIndex<IPv6Bits>.Entry] = []
        for (position, rule) in rules.enumerated() {
            let indexed = IndexedRule(position: position, ports: rule.ports)
            switch rule.host {
            case .any:
                anyHostRules.append(indexed)
            case .privateRanges:
                privateRangeRules.append(indexed)
            case .domain(let domain):
                domains.add(indexed, domain: domain)
            case .network(let network):
                // An IPv6 network goes to the IPv6 table even when its address embeds an IPv4 one: only a
                // destination's address is also read as the IPv4 address it embeds, not a rule's network.
                let bits = AddressBits(network.address)
                if let ipv6 = bits.ipv6 {
                    ipv6Networks.append(.init(rule: indexed, network: ipv6, prefixLength: network.prefixLength))
                } else if let ipv4 = bits.ipv4 {
                    ipv4Networks.append(.init(rule: indexed, network: ipv4, prefixLength: network.prefixLength))
                }
            }
        }
        self.anyHostRules = anyHostRules
        self.privateRangeRules = privateRangeRules
        self.domains = domains
        self.ipv4Networks = NetworkIndex(ipv4Networks)
        self.ipv6Networks = NetworkIndex(ipv6Networks)
    }

    /// Whether there are no rules (every destination gets the caller's default).
    public var isEmpty: Bool { rules.isEmpty }

    /// The first rule that matches the destination, and its index in `rules`; `nil` when none does.
    ///
    /// A rule matches when its ports include `port` (or it has none) and its host matches: `*` always; a
    /// domain when `name` is that domain or a subdomain of it (ASCII case ignored, one trailing dot
    /// ignored); a network or `private` when `address` is in it, directly or as the IPv4 address an
    /// IPv4-mapped or NAT64 IPv6 address embeds (see `IPNetwork`).
    ///
    /// - Parameters:
    ///   - name: the destination's name as the client gave it, or `nil` for a destination given as an address.
    ///   - address: the address to connect to (given, or one the name resolved to), or `nil` before resolving.
    ///   - port: the destination port.
    package func firstMatch(name: String?, address: IPAddress?, port: UInt16) -> (index: Int, rule: DestinationRule)? {
        var best = anyHostRules.firstPosition(applyingTo: port, before: Int.max)
        if let address {
            let bits = AddressBits(address)
            if let first = privateRangeRules.first, first.position < best, Self.isPrivate(bits) {
                best = privateRangeRules.firstPosition(applyingTo: port, before: best)
            }
            if let ipv4 = bits.ipv4, !ipv4Networks.isEmpty {
                best = ipv4Networks.firstPosition(address: ipv4, port: port, before: best)
            }
            if let ipv6 = bits.ipv6, !ipv6Networks.isEmpty {
                best = ipv6Networks.firstPosition(address: ipv6, port: port, before: best)
            }
        }
        if let name, !domains.isEmpty {
            best = domains.firstPosition(name: name, port: port, before: best)
        }
        return best == Int.max ? nil : (best, rules[best])
    }

    /// The answer of `firstMatch` found by trying each rule in turn, with none of the indexes: the reference
    /// the unit tests and the DestinationRules fuzz target compare the indexed lookup against.
    ///
    /// SPI rather than `package`: Scripts/fuzz compiles modules with swiftc alone, without a package name,
    /// and the fuzz harness is a module of its own, which internal declarations do not reach.
    package func linearFirstMatch(
        name: String?, address: IPAddress?, port: UInt16
    ) -> (index: Int, rule: DestinationRule)? {
        let normalizedName = name.map(DomainIndex.normalizedName)
        for (index, rule) in rules.enumerated() where rule.matches(normalizedName: normalizedName, address: address, port: port) {
            return (index, rule)
        }
        return nil
    }

    /// `DestinationRule.privateNetworks` as masks and masked addresses, for checks without arrays.
    private static let privateIPv4Networks = privateNetworkBits(ipv4: true, \.ipv4)
    private static let privateIPv6Networks = privateNetworkBits(ipv4: false, \.ipv6)

    private static func privateNetworkBits<Bits: NetworkBits>(
        ipv4: Bool, _ bits: KeyPath<AddressBits, Bits?>
    ) -> [(mask: Bits, network: Bits)] {
        DestinationRule.privateNetworks.filter { $0.address.isIPv4 == ipv4 }.map { network in
            (Bits.mask(prefixLength: network.prefixLength), AddressBits(network.address)[keyPath: bits]!)
        }
    }

    /// Whether an address is in a private range, directly or through the IPv4 address it embeds.
    private static func isPrivate(_ address: AddressBits) -> Bool {
        if let ipv4 = address.ipv4, privateIPv4Networks.contains(where: { ipv4.masked(by: $0.mask) == $0.network }) {
            return true
        }
        if let ipv6 = address.ipv6, privateIPv6Networks.contains(where: { ipv6.masked(by: $0.mask) == $0.network }) {
            return true
        }
        return false
    }
}

extension DestinationRules {
    /// Rule lists are equal when they hold the same rules in the same order (the index follows from them).
    public static func == (lhs: DestinationRules, rhs: DestinationRules) -> Bool { lhs.rules == rhs.rules }

    public func hash(into hasher: inout Hasher) { hasher.combine(rules) }
}
