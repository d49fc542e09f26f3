/// A host (an IPv4 or IPv6 literal, or a name) and a port, as written in `HOST:PORT` or `[IPv6]:PORT`.
package struct HostAndPort: Hashable, Sendable, CustomStringConvertible {
    package var host: String
    package var port: UInt16

    /// Why a `HOST:PORT` text cannot be read.
    package struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        package var description: String
    }

    package init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` or `[IPv6]:PORT`; an IPv6 address must be in brackets.
    package init(parsing text: some StringProtocol) throws(ParseError) {
        let text = Substring(text)
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ParseError(description: "'\(text)' is not [IPv6]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw ParseError(description: "'\(text)' is not HOST:PORT (write IPv6 addresses as [ADDRESS]:PORT)")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = UInt16(portText) else {
            throw ParseError(description: "'\(text)' is not HOST:PORT with a port from 0 to 65535")
        }
        // No host has a bracket in it: one there is a typo (and would not write back the way it was read).
        guard !host.contains("["), !host.contains("]") else {
            throw ParseError(description: "'\(text)' has a stray bracket in its host")
        }
        self.init(host: String(host), port: port)
    }

    /// `host:port`, with an IPv6 host in brackets.
    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
