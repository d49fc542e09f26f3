import AsyncSockets
import SOCKSServer

/// Fuzzes the destination rules of `--allow-to` / `--deny-to`: `IPNetwork(parsing:)`,
/// `DestinationRule(action:parsing:)` and the indexed `DestinationRules.firstMatch`; and the routes of
/// `--route TARGET=VIA` (`Route(parsing:)`), whose TARGET is a rule's.
///
/// Input: rule targets, one per line, up to the first empty line (the bytes decoded as UTF-8, invalid
/// sequences replaced); the bytes after it are queries, each a selector byte, two port bytes, and the bytes
/// its selector asks for (see `Query`).
///
/// Invariants, beyond not crashing:
/// - a target, network or route that parses writes a description that parses back to the same value;
/// - the indexed `firstMatch` names the same rule as `linearFirstMatch`, the plain walk, for every query:
///   the input's own, and for each rule destinations made from it (its network's first and last address,
///   also in mapped and NAT64 form, its domain and a subdomain, the ends of its port range);
/// - a destination made to match a rule is matched by that rule or an earlier one.
func fuzzOneInput(_ input: [UInt8]) {
    let blankLine = input.indices.first { input[$0] == 0x0A && $0 + 1 < input.count && input[$0 + 1] == 0x0A }
    let ruleText = String(decoding: input[..<(blankLine ?? input.endIndex)], as: UTF8.self)
    let queryBytes = blankLine.map { input[($0 + 2)...] } ?? []

    var parsed: [DestinationRule] = []
    for (line, text) in ruleText.split(separator: "\n", omittingEmptySubsequences: false).prefix(64).enumerated() {
        checkNetwork(String(text))
        checkRate(String(text))
        checkRoute(String(text))
        if let rule = checkRule(String(text), action: line % 2 == 0 ? .allow : .deny) {
            parsed.append(rule)
        }
    }
    let rules = DestinationRules(parsed)
    expect(rules.rules == parsed && rules.isEmpty == parsed.isEmpty, "the rules are not kept as given")

    for (position, rule) in parsed.enumerated() {
        for query in Query.matching(rule) {
            let match = compare(rules, query)
            expect(match.map { $0.index <= position } ?? false, "\(query) made for rule \(position) (\(rule)) matched \(String(describing: match?.index))")
        }
        for query in Query.around(rule) {
            compare(rules, query)
        }
    }
    let networks = parsed.compactMap { rule -> IPNetwork? in
        if case .network(let network) = rule.host { return network }
        return nil
    }
    let domains = parsed.compactMap { rule -> String? in
        if case .domain(let domain) = rule.host { return domain }
        return nil
    }
    var reader = ByteReader(queryBytes)
    while !reader.isAtEnd {
        compare(rules, Query(&reader, networks: networks, domains: domains))
    }
}

/// Parses `text` as a `--new-sessions-per-ip` rate; one that parses must describe itself as a rate that
/// parses back to the same value.
private func checkRate(_ text: String) {
    guard let rate = try? SessionRate(parsing: text) else { return }
    expect(rate.count >= 1, "\(text) parsed to a rate of \(rate.count)")
    expect((try? SessionRate(parsing: rate.description)) == rate, "\(text) parsed to \(rate), which does not read back")
}

/// Parses `text` as a network; one that parses must write back to itself and contain its own address.
private func checkNetwork(_ text: String) {
    let network: IPNetwork
    do {
        network = try IPNetwork(parsing: text)
    } catch {
        expect(!error.description.isEmpty && error.text == text, "a network error without a message or the text: \(error)")
        return
    }
    let again = Result { () throws(RuleSyntaxError) in try IPNetwork(parsing: network.description) }
    expect(again == .success(network), "\(network.description.debugDescription) reads as \(again), not \(network)")
    expect(network.contains(network.address), "\(network) does not contain its own address")
    expect((0...network.address.bytes.count * 8).contains(network.prefixLength), "\(network) has a prefix length out of range")
}

/// Parses `text` as a target; a rule that parses must write back to itself.
private func checkRule(_ text: String, action: DestinationRule.Action) -> DestinationRule? {
    let rule: DestinationRule
    do {
        rule = try DestinationRule(action: action, parsing: text)
    } catch {
        expect(!error.description.isEmpty, "a rule error without a message: \(error)")
        return nil
    }
    let again = Result { () throws(RuleSyntaxError) in try DestinationRule(action: action, parsing: rule.target) }
    expect(again == .success(rule), "\(rule.target.debugDescription) reads as \(again), not \(rule)")
    expect(rule.description == "\(action) \(rule.target)", "\(rule.description.debugDescription) is not the flag and the target")
    if case .domain(let domain) = rule.host {
        expect(domain == domain.lowercased() && !domain.hasSuffix(".") && !domain.isEmpty, "domain \(domain.debugDescription) is not normalised")
    }
    return rule
}

/// Asks both lookups; they must agree. Returns their answer.
@discardableResult
private func compare(_ rules: DestinationRules, _ query: Query) -> (index: Int, rule: DestinationRule)? {
    let indexed = rules.firstMatch(name: query.name, address: query.address, port: query.port)
    let linear = rules.linearFirstMatch(name: query.name, address: query.address, port: query.port)
    expect(
        indexed?.index == linear?.index && indexed?.rule == linear?.rule,
        "\(query): the index says \(String(describing: indexed?.index)), the walk \(String(describing: linear?.index)) in \(rules.rules)")
    return indexed
}

/// One destination to look up.
private struct Query: CustomStringConvertible {
    var name: String?
    var address: IPAddress?
    var port: UInt16

    init(name: String?, address: IPAddress?, port: UInt16) {
        self.name = name
        self.address = address
        self.port = port
    }

    /// Reads one query, picking among the rules' `networks` and `domains`:
    ///
    /// ```
    /// byte 0     selector: bits 0-2 the address (below), bits 3-5 the name (below)
    /// bytes 1-2  the port, big-endian
    /// address    0 none; 1 IPv4 (4 bytes); 2 IPv6 (16 bytes); 3 IPv4-mapped (4 bytes); 4 NAT64 (4 bytes);
    ///            5 a rule's network address (1 byte picks the rule) with one byte changed (1 byte says
    ///            which, 1 byte XORs it); 6 the same, then mapped (IPv4) or NAT64; 7 a private network's
    ///            address (1 byte picks it) with one byte changed (2 bytes)
    /// name       0 none; 1 a rule's domain (1 byte picks it); 2 a label (1 byte length, at most 15, then
    ///            that many bytes) and a rule's domain; 3 text (1 byte length, at most 40, then the bytes);
    ///            4 a rule's domain, upper-case with a trailing dot; 5 a rule's domain without its first
    ///            character; 6, 7 none
    /// ```
    init(_ reader: inout ByteReader, networks: [IPNetwork], domains: [String]) {
        let selector = reader.byte()
        port = UInt16(reader.byte()) << 8 | UInt16(reader.byte())
        switch selector & 0x07 {
        case 1: address = IPAddress(bytes: reader.bytes(4))
        case 2: address = IPAddress(bytes: reader.bytes(16))
        case 3: address = embedding(reader.bytes(4), in: ipv4MappedPrefix)
        case 4: address = embedding(reader.bytes(4), in: nat64Prefix)
        case 5, 6:
            let network = reader.pick(from: networks)
            let changed = network.map { changing($0.address.bytes, &reader) }
            if let changed, selector & 0x07 == 6, changed.count == 4 {
                address = embedding(changed, in: reader.byte() & 1 == 0 ? ipv4MappedPrefix : nat64Prefix)
            } else {
                address = changed.flatMap { IPAddress(bytes: $0) }
            }
        case 7:
            let network = reader.pick(from: DestinationRule.privateNetworks)!
            address = IPAddress(bytes: changing(network.address.bytes, &reader))
        default: address = nil
        }
        switch (selector >> 3) & 0x07 {
        case 1: name = reader.pick(from: domains)
        case 2:
            let label = String(decoding: reader.bytes(Int(reader.byte() & 0x0F)), as: UTF8.self)
            name = reader.pick(from: domains).map { label + "." + $0 }
        case 3: name = String(decoding: reader.bytes(Int(reader.byte()) % 41), as: UTF8.self)
        case 4: name = reader.pick(from: domains).map { $0.uppercased() + "." }
        case 5: name = reader.pick(from: domains).map { String($0.dropFirst()) }
        default: name = nil
        }
    }

    /// Destinations the rule matches: it, or an earlier rule, must be the answer.
    static func matching(_ rule: DestinationRule) -> [Query] {
        let ports: [UInt16] = rule.ports.map { [$0.lowerBound, $0.upperBound] } ?? [0, 65535]
        var destinations: [(String?, IPAddress?)] = []
        switch rule.host {
        case .any: destinations = [(nil, nil), ("example.com", IPAddress("192.0.2.1"))]
        case .privateRanges: destinations = [(nil, IPAddress("127.0.0.1")), ("x", IPAddress("::ffff:10.0.0.1"))]
        case .domain(let domain): destinations = [(domain, nil), ("A." + domain.uppercased() + ".", IPAddress("192.0.2.1"))]
        case .network(let network):
            destinations = [(nil, network.address), ("example.com", lastAddress(of: network))]
            if network.address.isIPv4 {
                destinations.append((nil, embedding(network.address.bytes, in: ipv4MappedPrefix)))
                destinations.append((nil, embedding(lastAddress(of: network).bytes, in: nat64Prefix)))
            }
        }
        return destinations.flatMap { name, address in ports.map { Query(name: name, address: address, port: $0) } }
    }

    /// Destinations just outside the rule: the ports beside its range, the addresses beside its network,
    /// a name that ends like its domain without being a subdomain.
    static func around(_ rule: DestinationRule) -> [Query] {
        var queries: [Query] = []
        if let ports = rule.ports {
            if ports.lowerBound > 0 { queries.append(Query(name: "example.com", address: IPAddress("192.0.2.1"), port: ports.lowerBound - 1)) }
            if ports.upperBound < .max { queries.append(Query(name: nil, address: IPAddress("::1"), port: ports.upperBound + 1)) }
        }
        switch rule.host {
        case .domain(let domain): queries.append(Query(name: "x" + domain, address: nil, port: rule.ports?.lowerBound ?? 1))
        case .network(let network):
            let port = rule.ports?.lowerBound ?? 1
            for address in [stepped(network.address.bytes, by: -1), stepped(lastAddress(of: network).bytes, by: 1)] {
                queries.append(Query(name: nil, address: IPAddress(bytes: address), port: port))
                if address.count == 4 { queries.append(Query(name: nil, address: embedding(address, in: nat64Prefix), port: port)) }
            }
        default: break
        }
        return queries
    }

    var description: String { "query \(name.map(\.debugDescription) ?? "-") \(address.map(String.init(describing:)) ?? "-") port \(port)" }
}

private let ipv4MappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]
private let nat64Prefix: [UInt8] = [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0]

/// The IPv6 address `prefix` + `ipv4`.
private func embedding(_ ipv4: [UInt8], in prefix: [UInt8]) -> IPAddress {
    IPAddress(bytes: prefix + ipv4)!
}

/// The network's last address: every host bit set.
private func lastAddress(of network: IPNetwork) -> IPAddress {
    var bytes = network.address.bytes
    for index in bytes.indices {
        let hostBits = min(max(index * 8 + 8 - network.prefixLength, 0), 8)
        bytes[index] |= UInt8(truncatingIfNeeded: (1 << hostBits) - 1)
    }
    return IPAddress(bytes: bytes)!
}

/// `bytes` as a big number plus `step` (wrapping around).
private func stepped(_ bytes: [UInt8], by step: Int) -> [UInt8] {
    var result = bytes
    var carry = step
    for index in result.indices.reversed() where carry != 0 {
        let sum = Int(result[index]) + carry
        result[index] = UInt8(truncatingIfNeeded: sum)
        carry = sum >> 8  // -1 when it borrowed, 1 when it carried, else 0
    }
    return result
}

/// `bytes` with one byte (chosen by the reader) XORed with the next reader byte.
private func changing(_ bytes: [UInt8], _ reader: inout ByteReader) -> [UInt8] {
    var changed = bytes
    let index = Int(reader.byte()) % bytes.count
    changed[index] ^= reader.byte()
    return changed
}

/// Reads the query bytes; past the end it reads zeros, so every selector makes a query.
private struct ByteReader {
    private var rest: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { rest = bytes }

    var isAtEnd: Bool { rest.isEmpty }

    mutating func byte() -> UInt8 { rest.popFirst() ?? 0 }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in byte() } }

    /// One of `elements`, chosen by the next byte; `nil` (reading nothing) when there are none.
    mutating func pick<Element>(from elements: [Element]) -> Element? {
        guard !elements.isEmpty else { return nil }
        return elements[Int(byte()) % elements.count]
    }
}

/// A route that parses writes itself back (`TARGET=VIA`) as text that parses to the same route.
func checkRoute(_ text: String) {
    guard let route = try? Route(parsing: text) else { return }
    let again = try? Route(parsing: route.description)
    expect(again == route, "route \(text) wrote \(route.description), which reads back as \(String(describing: again))")
}
