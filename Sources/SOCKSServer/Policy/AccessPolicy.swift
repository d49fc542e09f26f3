import AsyncSockets
import Glibc
import SOCKSClient
import SOCKSProtocol

/// The policy stage of DESIGN §8: may a session reach this destination? One policy answers for CONNECT,
/// BIND, every UDP datagram and every UoT frame, so they can never disagree.
///
/// It is asked twice for a name: once for the request (only domain and `*` rules can match a bare name),
/// and, when this server connects directly, again for every address the name resolves to, with the name
/// (`PolicyCheckedResolver`), so a name that resolves to a denied address is denied too (no DNS rebinding
/// past a `--deny-to private`). Through an upstream, the upstream resolves: only the request is checked,
/// so names that are addresses in disguise (`127.1`, `0x7f000001`, `localhost`) are read as the addresses
/// they stand for. A name the rules cannot judge reliably (an empty label such as `example.com..`, or a
/// backslash, which the resolver may read as an escape) is denied.
///
/// Connecting to one of this server's own listening addresses — its proxy listeners and its metrics
/// listeners — is always denied (no proxy loops), and so is sending a datagram to one of its own UDP sockets
/// (another association's relay socket: no takeover through the proxy itself). `forDatagrams` checks the
/// UDP sockets in place of the TCP listeners (a datagram cannot reach a TCP listener).
final class AccessPolicy: Sendable {
    let rules: DestinationRules
    /// The session's user's own rules (`UserPolicy.destinationRules`), tried before `rules`.
    let userRules: DestinationRules
    /// This server's sockets, registered while they are open: proxy and metrics listeners, UDP relay sockets.
    let ownAddresses: OwnAddresses
    /// Which of `ownAddresses` a destination must not be: TCP (the listeners) or UDP (datagrams).
    let transport: OwnAddresses.Transport
    /// Whether this server connects to destinations itself (no upstream): then resolved addresses and its
    /// own listening addresses are checked here.
    let direct: Bool
    /// The rule that denies every destination, when the list starts with deny rules and then `*` with no
    /// port (such as `--deny-to '*'`): a UDP ASSOCIATE or UoT request is then denied outright.
    let denialOfEverything: AccessDenied?

    init(
        rules: DestinationRules, userRules: DestinationRules = DestinationRules([]), ownAddresses: OwnAddresses, transport: OwnAddresses.Transport = .tcp, direct: Bool
    ) {
        self.rules = rules
        self.userRules = userRules
        self.ownAddresses = ownAddresses
        self.transport = transport
        self.direct = direct
        var denial: AccessDenied?
        let labelled = userRules.rules.enumerated().map { ($1, "user rule \($0 + 1)") } + rules.rules.enumerated().map { ($1, "rule \($0 + 1)") }
        for (rule, label) in labelled {
            guard rule.action == .deny else { break }
            if case .any = rule.host, rule.ports == nil {
                denial = AccessDenied(destination: "*", reason: "\(rule) (\(label))")
                break
            }
        }
        denialOfEverything = denial
    }

    /// The same policy for datagrams and UoT frames: this server's own UDP sockets in place of its listeners.
    var forDatagrams: AccessPolicy {
        AccessPolicy(rules: rules, userRules: userRules, ownAddresses: ownAddresses, transport: .udp, direct: direct)
    }

    /// The rule that decides, the user's first: `deny-to private (rule 2)` when it denies, nil when it
    /// allows or none matches.
    private func denial(name: String?, address: IPAddress?, port: UInt16) -> String? {
        if let (index, rule) = userRules.firstMatch(name: name, address: address, port: port) {
            return rule.action == .deny ? "\(rule) (user rule \(index + 1))" : nil
        }
        if let (index, rule) = rules.firstMatch(name: name, address: address, port: port) {
            return rule.action == .deny ? Self.describe(rule, at: index) : nil
        }
        return nil
    }

    /// Checks a destination as the client asked for it.
    func check(_ destination: SOCKSEndpoint) throws(AccessDenied) {
        switch destination.address {
        case .ipv4(let bytes), .ipv6(let bytes):
            guard let ip = IPAddress(bytes: bytes) else { return }
            try check(name: nil, address: SocketAddress(ip: ip, port: destination.port), asked: destination)
        case .domain(let name):
            if let ip = Self.numericAddress(name) {
                // Connected to as that address (directly: without a lookup, or one that returns it).
                try check(name: nil, address: SocketAddress(ip: ip, port: destination.port), asked: destination)
                return
            }
            guard Self.isJudgeable(name) else {
                throw AccessDenied(destination: destination.description, reason: "a malformed name (empty label or backslash)")
            }
            if let reason = denial(name: name, address: nil, port: destination.port) {
                throw AccessDenied(destination: destination.description, reason: reason)
            }
            if !direct && Self.isLocalhost(name) {
                // The upstream will resolve it to its own loopback: judge it as that address.
                try check(name: name, address: SocketAddress(ip: .ipv4Loopback, port: destination.port), asked: destination)
                try check(name: name, address: SocketAddress(ip: .ipv6Loopback, port: destination.port), asked: destination)
            }
        }
    }

    /// Checks an address this server is about to connect or send to, resolved from `name` (nil for a literal).
    func check(name: String?, address: SocketAddress) throws(AccessDenied) {
        try check(name: name, address: address, asked: nil)
    }

    private func check(name: String?, address: SocketAddress, asked: SOCKSEndpoint?) throws(AccessDenied) {
        let address = address.unmapped
        if direct, let reason = ownAddressReason(address) {
            throw AccessDenied(destination: asked?.description ?? address.description, reason: reason)
        }
        // Through an upstream, an address literal is still the client's request: the rules apply to it.
        if let reason = denial(name: name, address: address.ip, port: address.port) {
            let destination = asked?.description ?? name.map { "\($0) (\(address))" } ?? address.description
            throw AccessDenied(destination: destination, reason: reason)
        }
    }

    /// The resolver a session uses: `base`, with every address the policy denies removed, for direct egress.
    func resolver(over base: any HostResolver) -> any HostResolver {
        direct ? PolicyCheckedResolver(base: base, policy: self) : base
    }

    /// Why `address` is this server itself, for the transport this policy checks: `own listening address`
    /// (a proxy or metrics listener), `own UDP socket` (a relay's); nil when it is not.
    func ownAddressReason(_ address: SocketAddress) -> String? {
        switch transport {
        case .tcp:
            ownAddresses.contains(address, .tcp) ? "own listening address" : nil
        case .udp:
            ownAddresses.contains(address, .udp) ? "own UDP socket" : nil
        }
    }

    /// `deny-to private (rule 2)`, as the log says it.
    static func describe(_ rule: DestinationRule, at index: Int) -> String {
        "\(rule) (rule \(index + 1))"
    }

    /// The address a name stands for without a lookup: a literal (`::1`, `10.0.0.1`), or an IPv4 address in
    /// one of the older numeric forms `getaddrinfo` also accepts (`127.1`, `0x7f000001`, `2130706433`).
    static func numericAddress(_ name: String) -> IPAddress? {
        if let literal = IPAddress(name) { return literal }
        guard let first = name.utf8.first, first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9") else { return nil }
        var address = in_addr()
        guard inet_aton(name, &address) != 0 else { return nil }
        return IPAddress(bytes: withUnsafeBytes(of: &address) { Array($0) })
    }

    /// `localhost` and the names under it (RFC 6761: they resolve to loopback).
    static func isLocalhost(_ name: String) -> Bool {
        var name = Substring(name.lowercased())
        if name.hasSuffix(".") { name = name.dropLast() }
        return name == "localhost" || name.hasSuffix(".localhost")
    }

    /// Whether a name can be judged by name: no empty label (one trailing dot is allowed) and no backslash.
    static func isJudgeable(_ name: String) -> Bool {
        var labels = name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        if labels.count > 1 && labels.last?.isEmpty == true { labels.removeLast() }
        return !labels.contains { $0.isEmpty } && !name.utf8.contains(UInt8(ascii: "\\"))
    }
}
