/// One routing entry, from `--route TARGET=VIA` or a `routes` element of the configuration file: which
/// destinations it covers and how they leave, directly or through named upstreams.
///
/// TARGET is exactly a destination rule's target (`DestinationRule`): an address, a network, a domain with
/// its subdomains, `*` or `private`, with an optional `:PORT` or `:LOW-HIGH`. Routes are tried in order by
/// `RouteTable`; the first that matches decides.
public struct Route: Sendable, Hashable, CustomStringConvertible {
    /// How a matching request leaves.
    public enum Via: Sendable, Hashable, CustomStringConvertible {
        /// This server connects itself.
        case direct
        /// Through these upstreams, by name (`default` is the unnamed upstream), in the order written.
        case upstreams([String])

        /// `direct`, or the names joined by `,`, as `--route` writes them.
        public var description: String {
            switch self {
            case .direct: "direct"
            case .upstreams(let names): names.joined(separator: ",")
            }
        }
    }

    /// How a route with several upstreams spreads its sessions.
    public enum Strategy: String, Sendable, Hashable, CaseIterable {
        /// The first upstream that is up, in the order written; the next when one cannot be reached.
        case failover
        /// New sessions go to the healthy upstreams in turn (failing over to the next one like `failover`).
        case roundRobin = "round-robin"
    }

    /// The destinations the route covers: a rule whose host and ports are the TARGET (its action is unused).
    public let target: DestinationRule
    public let via: Via
    public let strategy: Strategy

    /// A route from its parts.
    public init(target: DestinationRule, via: Via, strategy: Strategy = .failover) {
        self.target = target
        self.via = via
        self.strategy = strategy
    }

    /// Reads `TARGET=VIA` (`--route`): the split is at the last `=`. VIA is `direct`, one upstream name, or
    /// several joined by `,` (tried in that order).
    public init(parsing text: String, strategy: Strategy = .failover) throws(RouteSyntaxError) {
        guard let equals = text.lastIndex(of: "=") else {
            throw RouteSyntaxError(text, "is not TARGET=VIA (such as private=direct or example.com=office)")
        }
        let target = try Self.parseTarget(String(text[..<equals]))
        self.init(target: target, via: try Self.parseVia(String(text[text.index(after: equals)...]), in: text), strategy: strategy)
    }

    /// Reads a route's TARGET, as a destination rule's.
    static func parseTarget(_ target: String) throws(RouteSyntaxError) -> DestinationRule {
        do {
            return try DestinationRule(action: .allow, parsing: target)
        } catch {
            throw RouteSyntaxError(target: error)
        }
    }

    /// Reads a VIA: `direct`, or upstream names joined by `,` (none empty, none twice, `direct` not among them).
    static func parseVia(_ via: String, in text: String? = nil) throws(RouteSyntaxError) -> Via {
        try names(via.split(separator: ",", omittingEmptySubsequences: false).map(String.init), in: text ?? via)
    }

    /// A VIA from names as a configuration file lists them.
    static func names(_ names: [String], in text: String) throws(RouteSyntaxError) -> Via {
        if names == ["direct"] { return .direct }
        guard !names.isEmpty, !names.contains(where: \.isEmpty) else {
            throw RouteSyntaxError(text, "needs VIA: direct, an upstream name, or names joined by ','")
        }
        if names.contains("direct") {
            throw RouteSyntaxError(text, "mixes direct with upstreams: a route is direct or goes through upstreams")
        }
        if Set(names).count != names.count {
            throw RouteSyntaxError(text, "names an upstream twice")
        }
        return .upstreams(names)
    }

    /// The upstream names the route uses (none for `direct`).
    package var upstreamNames: [String] {
        switch via {
        case .direct: []
        case .upstreams(let names): names
        }
    }

    /// `TARGET=VIA`, as `--route` takes it, with ` (round-robin)` for that strategy.
    public var description: String {
        "\(target.target)=\(via)" + (strategy == .failover ? "" : " (\(strategy.rawValue))")
    }
}

extension Route {
    /// Names an upstream may not have: `direct` is a VIA of its own, `default` the unnamed upstream's name.
    static let reservedNames: Set<String> = ["direct", "default"]

    /// Why `name` cannot name an upstream, or nil when it can: 1 to 64 of letters, digits, `.`, `_` and `-`
    /// (so that it can stand in a log field and a metrics label as it is), and not a reserved name.
    package static func problem(withUpstreamName name: String) -> String? {
        if reservedNames.contains(name) { return "'\(name)' is reserved (direct and default cannot name an upstream)" }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-")
        }
        guard allowed, (1...64).contains(name.utf8.count) else {
            return "\(RuleSyntaxError.quoted(name)) is not an upstream name: 1 to 64 letters, digits, '.', '_' or '-'"
        }
        return nil
    }
}
