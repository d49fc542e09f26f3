import AsyncSockets
import SOCKSClient
import SOCKSProtocol

/// The policy stage of DESIGN §8: may a session reach this destination? One value answers for CONNECT,
/// BIND, every UDP datagram and every UoT frame, so they can never disagree.
///
/// It is asked twice for a name: once for the request (only domain and `*` rules can match a bare name),
/// and, when this server connects directly, again for every address the name resolves to, with the name
/// (`PolicyCheckedResolver`), so a name that resolves to a denied address is denied too (no DNS rebinding
/// past a `--deny-to private`). Through an upstream, the upstream resolves: only the request is checked.
/// Connecting to one of this server's own listening addresses is always denied (no proxy loops).
struct AccessPolicy: Sendable {
    let rules: DestinationRules
    /// Where this server listens (real ports), IPv4-mapped addresses unmapped.
    let ownListeners: [SocketAddress]
    /// Whether this server connects to destinations itself (no upstream): then resolved addresses and its
    /// own listening addresses are checked here.
    let direct: Bool

    init(rules: DestinationRules, ownListeners: [SocketAddress], direct: Bool) {
        self.rules = rules
        self.ownListeners = ownListeners.map(\.unmapped)
        self.direct = direct
    }

    /// Checks a destination as the client asked for it.
    func check(_ destination: SOCKSEndpoint) throws(AccessDenied) {
        switch destination.address {
        case .ipv4(let bytes), .ipv6(let bytes):
            guard let ip = IPAddress(bytes: bytes) else { return }
            try check(name: nil, address: SocketAddress(ip: ip, port: destination.port), asked: destination)
        case .domain(let name):
            // A name that is an address literal is connected to as that address, without a lookup.
            if let ip = IPAddress(name) {
                try check(name: nil, address: SocketAddress(ip: ip, port: destination.port), asked: destination)
                return
            }
            if let (index, rule) = rules.firstMatch(name: name, address: nil, port: destination.port), rule.action == .deny {
                throw AccessDenied(destination: destination.description, reason: Self.describe(rule, at: index))
            }
        }
    }

    /// Checks an address this server is about to connect or send to, resolved from `name` (nil for a literal).
    func check(name: String?, address: SocketAddress) throws(AccessDenied) {
        try check(name: name, address: address, asked: nil)
    }

    private func check(name: String?, address: SocketAddress, asked: SOCKSEndpoint?) throws(AccessDenied) {
        let address = address.unmapped
        if direct && isOwnListener(address) {
            throw AccessDenied(destination: asked?.description ?? address.description, reason: "own listening address")
        }
        // Through an upstream, an address literal is still the client's request: the rules apply to it.
        if let (index, rule) = rules.firstMatch(name: name, address: address.ip, port: address.port), rule.action == .deny {
            let destination = asked?.description ?? name.map { "\($0) (\(address))" } ?? address.description
            throw AccessDenied(destination: destination, reason: Self.describe(rule, at: index))
        }
    }

    /// The resolver a session uses: `base`, with every address the policy denies removed, for direct egress.
    func resolver(over base: any HostResolver) -> any HostResolver {
        direct ? PolicyCheckedResolver(base: base, policy: self) : base
    }

    /// Whether `address` reaches one of this server's listeners: the same address and port, or the port of
    /// a wildcard listener on an address of this host.
    func isOwnListener(_ address: SocketAddress) -> Bool {
        for listener in ownListeners where listener.port == address.port {
            if listener.ip == address.ip { return true }
            if listener.ip.isUnspecified && LocalAddresses.contains(address.ip) { return true }
        }
        return false
    }

    /// `rule 2 (deny-to private)`, as the log says it.
    static func describe(_ rule: DestinationRule, at index: Int) -> String {
        "\(rule) (rule \(index + 1))"
    }
}
