/// Reads the authority of a proxy request (RFC 3986 §3.2.2, RFC 9112 §3.2.3): `host:port` of a `CONNECT`,
/// or `host[:port]` of an `http://` URI, as the `SOCKSEndpoint` the rest of the server takes.
///
/// The host is an IPv4 dotted quad, an IPv6 address in brackets, or a DNS name. Names are held to what DNS
/// carries, which also keeps anything a log or a resolver could misread out: letters, digits, `-` and `_`,
/// dot-separated labels of 1–63 bytes (one trailing dot allowed), at most 255 bytes as in SOCKS5. Percent
/// encoding, userinfo, zone identifiers, `IPvFuture` and names whose last label is a number (`127.1`,
/// `0x7f.1`: IPv4 in forms `inet_aton` would read, which rules written for addresses would not see) are
/// refused.
enum HTTPAuthority {
    /// Whether a port must be given.
    enum PortRule {
        /// `CONNECT`: `host:port`, port 1–65535.
        case required
        /// A URI: the port may be left out (or empty, RFC 3986 §6.2.3), meaning this one.
        case defaulting(to: UInt16)
    }

    static func endpoint(_ text: ArraySlice<UInt8>, port rule: PortRule) -> Result<SOCKSEndpoint, HTTPProxyRequestError> {
        let host: ArraySlice<UInt8>
        let portText: ArraySlice<UInt8>?
        if text.first == UInt8(ascii: "[") {
            guard let close = text.firstIndex(of: UInt8(ascii: "]")) else { return .failure(.invalidTarget("an IPv6 address without its closing bracket")) }
            host = text[(text.startIndex + 1)..<close]
            let after = text[(close + 1)...]
            if after.isEmpty {
                portText = nil
            } else if after.first == UInt8(ascii: ":") {
                portText = after.dropFirst()
            } else {
                return .failure(.invalidTarget("bytes after the IPv6 address that are not :PORT"))
            }
        } else if let colon = text.firstIndex(of: UInt8(ascii: ":")) {
            host = text[..<colon]
            portText = text[(colon + 1)...]
        } else {
            host = text
            portText = nil
        }
        let port: UInt16
        switch (portText, rule) {
        case (nil, .required), (.some([]), .required):
            return .failure(.invalidTarget("no port"))
        case (nil, .defaulting(let defaultPort)), (.some([]), .defaulting(let defaultPort)):
            port = defaultPort
        case (.some(let digits), _):
            guard digits.count <= 5, digits.allSatisfy(HTTPSyntax.isDigit),
                  let value = UInt16(String(decoding: digits, as: UTF8.self)), value > 0
            else { return .failure(.invalidTarget("the port is not a number from 1 to 65535")) }
            port = value
        }
        let isBracketed = text.first == UInt8(ascii: "[")
        if isBracketed {
            guard let bytes = IPAddressText.parseIPv6(String(decoding: host, as: UTF8.self)), host.allSatisfy({ $0 < 0x80 }) else {
                return .failure(.invalidTarget("not an IPv6 address in brackets"))
            }
            return .success(SOCKSEndpoint(address: .ipv6(bytes), port: port))
        }
        let hostText = String(decoding: host, as: UTF8.self)
        if host.allSatisfy({ HTTPSyntax.isDigit($0) || $0 == UInt8(ascii: ".") }), let bytes = IPAddressText.parseIPv4(hostText) {
            return .success(SOCKSEndpoint(address: .ipv4(bytes), port: port))
        }
        if let problem = nameProblem(host) { return .failure(.invalidTarget(problem)) }
        return .success(SOCKSEndpoint(address: .domain(hostText), port: port))
    }

    /// Why `name` is not a DNS name this proxy connects to, or nil.
    private static func nameProblem(_ name: ArraySlice<UInt8>) -> String? {
        guard !name.isEmpty else { return "an empty host" }
        guard name.count <= 255 else { return "a host name longer than 255 bytes" }
        var labels = name.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        // One trailing dot names the root: `example.com.` is `example.com`.
        if labels.count > 1, labels.last?.isEmpty == true { labels.removeLast() }
        for label in labels {
            guard !label.isEmpty else { return "an empty label in the host name" }
            guard label.count <= 63 else { return "a host name label longer than 63 bytes" }
            guard label.allSatisfy({ HTTPSyntax.isLetter($0) || HTTPSyntax.isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
            else { return "a byte other than a letter, digit, - or _ in the host name" }
        }
        let last = labels[labels.count - 1]
        let isHex = last.count > 2 && last.first == UInt8(ascii: "0") && HTTPSyntax.lowercased(last[last.startIndex + 1]) == UInt8(ascii: "x")
            && last.dropFirst(2).allSatisfy { HTTPSyntax.hexValue($0) != nil }
        if last.allSatisfy(HTTPSyntax.isDigit) || isHex || last.elementsEqual("0x".utf8) || last.elementsEqual("0X".utf8) {
            return "a host name ending in a number (not a dotted quad)"
        }
        return nil
    }
}
