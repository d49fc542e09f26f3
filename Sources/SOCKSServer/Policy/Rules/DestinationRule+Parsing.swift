// The reader of a rule's TARGET: host (`*`, `private`, address or network, domain) and optional ports.

import AsyncSockets

extension DestinationRule {
    /// The longest domain name, in bytes without the trailing dot (RFC 1035's 255 bytes on the wire).
    static let domainLengthLimit = 253
    /// The longest label of a domain, in bytes.
    static let labelLengthLimit = 63

    /// Splits `target` into host and ports and reads both.
    /// Whether `text` is an IPv6 address, optionally with `/DIGITS`: the form of a network, right or wrong.
    private static func isAddressWithPrefix(_ text: String) -> Bool {
        let slash = text.firstIndex(of: "/")
        guard IPAddress(String(text[..<(slash ?? text.endIndex)])) != nil else { return false }
        guard let slash else { return true }
        let digits = text[text.index(after: slash)...]
        return !digits.isEmpty && digits.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    static func parseTarget(_ target: String) throws(RuleSyntaxError) -> (Host, ClosedRange<UInt16>?) {
        guard !target.isEmpty else {
            throw RuleSyntaxError(target, "is empty; a target is an address, a network, a domain, private or *, optionally followed by :PORT or :LOW-HIGH")
        }
        if target.hasPrefix("[") {
            return try parseBracketedTarget(target)
        }
        let colonCount = target.utf8.count { $0 == UInt8(ascii: ":") }
        if colonCount > 1 {
            // Two colons or more: an IPv6 address or network, which can have no port outside brackets.
            do {
                return (.network(try IPNetwork(parsing: target)), nil)
            } catch where Self.isAddressWithPrefix(target) {
                // An address and a prefix length that read, with a problem in the network they make (host
                // bits, a mapped form): say that rather than guess at a port.
                throw error
            } catch {
                throw RuleSyntaxError(target, "is not an IPv6 address or network (with ports, write it in brackets: [::1]:1080, [fd00::/8]:22)")
            }
        }
        guard let colon = target.firstIndex(of: ":") else {
            return (try parseHost(target[...], of: target), nil)
        }
        let hostText = target[..<colon]
        guard !hostText.isEmpty else {
            throw RuleSyntaxError(target, "has no host before the port (write *:PORT for any host)")
        }
        return (try parseHost(hostText, of: target), try parsePorts(target[target.index(after: colon)...], of: target))
    }

    /// Reads `[IPV6]`, `[IPV6/PREFIX]` or `[IPV6]/PREFIX`, each optionally followed by `:PORTS`.
    private static func parseBracketedTarget(_ target: String) throws(RuleSyntaxError) -> (Host, ClosedRange<UInt16>?) {
        guard let close = target.firstIndex(of: "]") else {
            throw RuleSyntaxError(target, "has '[' but no ']'")
        }
        var networkText = String(target[target.index(after: target.startIndex)..<close])
        var rest = target[target.index(after: close)...]
        if rest.hasPrefix("/") {
            guard !networkText.contains("/") else {
                throw RuleSyntaxError(target, "has two prefix lengths")
            }
            let prefixEnd = rest.firstIndex(of: ":") ?? rest.endIndex
            networkText += rest[..<prefixEnd]
            rest = rest[prefixEnd...]
        }
        guard networkText.contains(":") else {
            throw RuleSyntaxError(target, "has brackets, which are only for IPv6 addresses and networks ([::1]:1080, [fd00::/8]:22)")
        }
        let network = try IPNetwork(parsing: networkText)
        guard network.address.isIPv6 else {
            throw RuleSyntaxError(target, "has brackets, which are only for IPv6 addresses and networks ([::1]:1080, [fd00::/8]:22)")
        }
        guard !rest.isEmpty else { return (.network(network), nil) }
        guard rest.hasPrefix(":") else {
            throw RuleSyntaxError(target, "has \(RuleSyntaxError.quoted(rest)) after the address, where only :PORT or :LOW-HIGH may follow")
        }
        return (.network(network), try parsePorts(rest.dropFirst(), of: target))
    }

    /// Reads the host part of a target (the text before any `:PORTS`), which has no colon.
    private static func parseHost(_ text: Substring, of target: String) throws(RuleSyntaxError) -> Host {
        if text == "*" { return .any }
        if text.contains("*") {
            if text.hasPrefix("*."), !text.dropFirst(2).contains("*") {
                let domain = text.dropFirst(2)
                throw RuleSyntaxError(target, "has a wildcard, which is not needed: \(RuleSyntaxError.quoted(domain)) already covers its subdomains")
            }
            throw RuleSyntaxError(target, "has a '*' inside a host; * alone means any host")
        }
        // The keyword, in any case, as domains are: "PRIVATE" could otherwise be the domain "private".
        if text.utf8.lazy.map(DomainIndex.asciiLowercased).elementsEqual("private".utf8) { return .privateRanges }
        // A network, or text that can only have been meant as an IPv4 address: no domain ends in a
        // numeric label, and reading "127.1" as a name would hide the mistake.
        let name = text.hasSuffix(".") ? text.dropLast() : text
        let lastLabel = name.split(separator: ".", omittingEmptySubsequences: false).last ?? ""
        if text.contains("/") {
            return .network(try IPNetwork(parsing: String(text)))
        }
        if !lastLabel.isEmpty, lastLabel.utf8.allSatisfy(Self.isDigit) {
            guard let network = try? IPNetwork(parsing: String(text)) else {
                throw RuleSyntaxError(text, "is not an IPv4 address (four numbers from 0 to 255) nor a domain (whose last label is never a number)")
            }
            return .network(network)
        }
        return .domain(try parseDomain(text))
    }

    /// Checks a domain and writes it lower-case without its trailing dot.
    private static func parseDomain(_ text: Substring) throws(RuleSyntaxError) -> String {
        let name = text.hasSuffix(".") ? text.dropLast() : text
        guard !name.isEmpty else {
            throw RuleSyntaxError(text, "is not a domain: it has no label")
        }
        guard name.utf8.count <= domainLengthLimit else {
            throw RuleSyntaxError(text, "is longer than the \(domainLengthLimit) bytes of the longest domain")
        }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty else {
                throw RuleSyntaxError(text, "has an empty label (two dots in a row, or a dot first)")
            }
            guard label.utf8.count <= labelLengthLimit else {
                throw RuleSyntaxError(text, "has a label longer than \(labelLengthLimit) bytes: \(RuleSyntaxError.quoted(label))")
            }
            if let character = label.first(where: { !isDomainCharacter($0) }) {
                throw RuleSyntaxError(
                    text, "is not a domain: \(RuleSyntaxError.quoted(String(character))) is not a letter, digit, '-' or '_'")
            }
        }
        let domain = String(decoding: name.utf8.map(DomainIndex.asciiLowercased), as: UTF8.self)
        // "private." would write back as "private", the keyword: refuse rather than change its meaning.
        guard domain != "private" else {
            throw RuleSyntaxError(text, "would be the domain private, which reads as the keyword private (the private address ranges)")
        }
        return domain
    }

    /// Reads `PORT` or `LOW-HIGH`, each a decimal number from 0 to 65535.
    private static func parsePorts(_ text: Substring, of target: String) throws(RuleSyntaxError) -> ClosedRange<UInt16> {
        guard !text.isEmpty else {
            throw RuleSyntaxError(target, "ends with ':' but no port follows")
        }
        let bounds = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        var numbers: [UInt16] = []
        for bound in bounds {
            guard let number = IPNetwork.decimal(bound, maximumDigits: 5), let port = UInt16(exactly: number) else {
                throw RuleSyntaxError(target, "has \(RuleSyntaxError.quoted(text)) where a port from 0 to 65535 or a range LOW-HIGH belongs")
            }
            numbers.append(port)
        }
        let low = numbers[0]
        let high = numbers.last!
        guard low <= high else {
            throw RuleSyntaxError(target, "has the port range \(low)-\(high), whose low end is above its high end")
        }
        return low...high
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    /// Letters, digits, `-` and `_` (which service names such as `_sip._tcp` use), ASCII only.
    private static func isDomainCharacter(_ character: Character) -> Bool {
        guard let ascii = character.asciiValue else { return false }
        return isDigit(ascii) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(ascii | 0x20) || ascii == UInt8(ascii: "-")
            || ascii == UInt8(ascii: "_")
    }
}
