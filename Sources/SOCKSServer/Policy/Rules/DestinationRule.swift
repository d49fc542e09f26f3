import AsyncSockets

/// One destination rule, from `--allow-to TARGET` or `--deny-to TARGET`: which destinations (a host and
/// optionally ports) it covers, and whether it allows or denies them.
///
/// TARGET is `*` (any host), `private` (the ranges in `privateNetworks`), an IPv4 or IPv6 address or network
/// (`192.0.2.1`, `10.0.0.0/8`, `fd00::/8`) or a domain (`example.com`, which also covers every subdomain),
/// optionally followed by `:PORT` or `:LOW-HIGH`. An IPv6 address or network with ports is written in
/// brackets: `[::1]:1080`, `[fd00::/8]:22` (or `[fd00::]/8:22`).
///
/// Rules are evaluated in order by `DestinationRules`; `description` is the rule as a command-line flag would
/// write it, so a log can say which rule decided.
public struct DestinationRule: Sendable, Hashable, CustomStringConvertible {
    /// What a matching rule does to the connection.
    public enum Action: Sendable, Hashable, CustomStringConvertible {
        case allow
        case deny

        /// The flag that makes this action: `allow-to` or `deny-to`.
        public var description: String {
            switch self {
            case .allow: "allow-to"
            case .deny: "deny-to"
            }
        }
    }

    /// The destination hosts a rule covers.
    public enum Host: Sendable, Hashable, CustomStringConvertible {
        /// Every host, written `*`.
        case any
        /// The addresses of a network (and IPv6 addresses that embed them, see `IPNetwork`).
        case network(IPNetwork)
        /// A domain and all its subdomains: lower-case, without a trailing dot, as the parser makes it.
        case domain(String)
        /// The ranges of `DestinationRule.privateNetworks`, written `private`.
        case privateRanges

        /// The canonical form: `*`, `private`, the domain, or the network (`10.0.0.0/8`, `fd00::/8`).
        public var description: String {
            switch self {
            case .any: "*"
            case .network(let network): network.description
            case .domain(let domain): domain
            case .privateRanges: "private"
            }
        }
    }

    /// Whether the rule allows or denies.
    public let action: Action
    /// The hosts it covers.
    public let host: Host
    /// The ports it covers; `nil` for every port.
    public let ports: ClosedRange<UInt16>?

    /// A rule from its parts, for tests: a `.domain` must already be lower-case without a trailing dot, as
    /// `init(action:parsing:)` makes it, or it matches no name.
    init(action: Action, host: Host, ports: ClosedRange<UInt16>?) {
        self.action = action
        self.host = host
        self.ports = ports
    }

    /// Reads the TARGET of `--allow-to TARGET` or `--deny-to TARGET` (see the type's documentation).
    /// Domains are stored lower-case without a trailing dot; `*.example.com`, empty input, ports outside
    /// 0–65535, a range whose low end is above its high end and a trailing `:` are errors.
    public init(action: Action, parsing target: String) throws(RuleSyntaxError) {
        let (host, ports) = try Self.parseTarget(target)
        self.init(action: action, host: host, ports: ports)
    }

    /// The target in canonical form, which parses back to this rule's host and ports: `10.0.0.0/8:22`,
    /// `example.com:8000-8999`, `[fd00::/8]:22`, `private`, `*:25`.
    public var target: String {
        guard let ports else { return host.description }
        let portText = ports.lowerBound == ports.upperBound ? "\(ports.lowerBound)" : "\(ports.lowerBound)-\(ports.upperBound)"
        if case .network(let network) = host, network.address.isIPv6 {
            return "[\(network)]:\(portText)"
        }
        return "\(host):\(portText)"
    }

    /// The rule as its flag writes it: `deny-to private`, `allow-to example.com:443`.
    public var description: String { "\(action) \(target)" }

    /// The networks `private` stands for: destinations a proxy should not reach for its clients unless told
    /// to, because they are the proxy's own host, its local networks, or not unicast at all.
    ///
    /// Through the mapped and NAT64 rule of `IPNetwork`, `::ffff:127.0.0.1` and `64:ff9b::7f00:1` are
    /// private too.
    public static let privateNetworks: [IPNetwork] = [
        "0.0.0.0/8",  // "this network"; connecting to 0.0.0.0 reaches the local host
        "127.0.0.0/8",  // loopback
        "10.0.0.0/8",  // private (RFC 1918)
        "172.16.0.0/12",  // private (RFC 1918)
        "192.168.0.0/16",  // private (RFC 1918)
        "169.254.0.0/16",  // link-local, including the cloud metadata service at 169.254.169.254
        "100.64.0.0/10",  // shared address space of carrier-grade NAT (RFC 6598)
        "198.18.0.0/15",  // benchmarking (RFC 2544)
        "224.0.0.0/4",  // multicast
        "255.255.255.255",  // limited broadcast
        "::",  // unspecified
        "::1",  // loopback
        "fc00::/7",  // unique local (RFC 4193)
        "fe80::/10",  // link-local
        "fec0::/10",  // site-local (deprecated, still routed locally)
        "ff00::/8",  // multicast
        "64:ff9b:1::/48",  // local-use NAT64 (RFC 8215)
    ].map(IPNetwork.init(constant:))

    /// Whether this rule covers a destination, checked plainly (the reference `DestinationRules` indexes).
    /// `normalizedName` is the destination name as `DomainIndex.normalizedName` makes it.
    func matches(normalizedName: [UInt8]?, address: IPAddress?, port: UInt16) -> Bool {
        if let ports, !ports.contains(port) { return false }
        switch host {
        case .any:
            return true
        case .network(let network):
            return address.map(network.contains) ?? false
        case .privateRanges:
            guard let address else { return false }
            return Self.privateNetworks.contains { $0.contains(address) }
        case .domain(let domain):
            guard let normalizedName else { return false }
            let domain = Array(domain.utf8)
            return normalizedName == domain || normalizedName.ends(with: [UInt8(ascii: ".")] + domain)
        }
    }
}

extension IPNetwork {
    /// A network written in the source, such as an entry of `privateNetworks`; a typo there stops the program.
    fileprivate init(constant text: String) {
        do {
            try self.init(parsing: text)
        } catch {
            preconditionFailure("a network constant does not parse: \(error)")
        }
    }
}

extension Array where Element: Equatable {
    /// Whether the array's last elements are `suffix`.
    fileprivate func ends(with suffix: [Element]) -> Bool {
        count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }
}
