import AsyncSockets
import SOCKSClient
import SOCKSProtocol

/// A SOCKS5 server that socksd forwards its clients' traffic through.
public struct UpstreamProxy: Sendable, Hashable {
    /// How a client's UDP travels to the upstream.
    public enum UDPTransport: Sendable, Hashable, CustomStringConvertible {
        /// One UDP-over-TCP stream per association, addressed framing (v2 non-connect, or v1).
        case udpOverTCP(UoTVersion)
        /// The upstream's own UDP ASSOCIATE, its control connection open for the association's life.
        case associate

        /// Parses `uot` (v2), `uot1` or `associate`.
        package init?(name: String) {
            switch name {
            case "uot", "uot2": self = .udpOverTCP(.v2)
            case "uot1": self = .udpOverTCP(.v1)
            case "associate": self = .associate
            default: return nil
            }
        }

        public var description: String {
            switch self {
            case .udpOverTCP(.v2): "uot"
            case .udpOverTCP(.v1): "uot1"
            case .associate: "associate"
            }
        }
    }

    /// Why an upstream URL cannot be used.
    public struct InvalidURL: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String
    }

    public var host: String
    public var port: UInt16
    public var credentials: SOCKSCredentials?
    /// Default: UoT v2.
    public var udpTransport: UDPTransport

    public init(host: String, port: UInt16, credentials: SOCKSCredentials? = nil, udpTransport: UDPTransport = .udpOverTCP(.v2)) {
        self.host = host
        self.port = port
        self.credentials = credentials
        self.udpTransport = udpTransport
    }

    /// Parses `socks5://[USER[:PASSWORD]@]HOST:PORT` (`socks5h://` too); user and password may be
    /// percent-encoded, an IPv6 host is written in brackets.
    ///
    /// - Parameters:
    ///   - url: the upstream's URL.
    ///   - udpTransport: how UDP goes through the upstream: UoT (v2 by default) or its UDP ASSOCIATE.
    ///   - password: the password for a URL that names a user but no password (so that the password need
    ///     not appear on a command line); an error if the URL has a password too.
    public init(url: String, udpTransport: UDPTransport = .udpOverTCP(.v2), password: String? = nil) throws(InvalidURL) {
        let schemes = ["socks5://", "socks5h://"]
        guard let scheme = schemes.first(where: { url.lowercased().hasPrefix($0) }) else {
            throw InvalidURL(description: "'\(Self.redacted(url))' must start with socks5://")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var credentials: SOCKSCredentials?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let colon = userInfo.firstIndex(of: ":")
            if colon != nil && password != nil {
                throw InvalidURL(description: "'\(Self.redacted(url))' has a password, and another was given: give it once")
            }
            if colon == nil && password == nil {
                throw InvalidURL(description: "'\(Self.redacted(url))' names a user but no password")
            }
            let passwordBytes: [UInt8]?
            if let colon {
                passwordBytes = Self.percentDecoded(userInfo[userInfo.index(after: colon)...])
            } else {
                passwordBytes = password.map { Array($0.utf8) }
            }
            guard let user = Self.percentDecoded(userInfo[..<(colon ?? userInfo.endIndex)]),
                  let password = passwordBytes,
                  !user.isEmpty, !password.isEmpty, user.count <= 255, password.count <= 255
            else { throw InvalidURL(description: "'\(Self.redacted(url))': credentials must be USER:PASSWORD, 1 to 255 bytes each") }
            credentials = SOCKSCredentials(username: user, password: password)
        } else if password != nil {
            throw InvalidURL(description: "'\(Self.redacted(url))' names no user for the password given")
        }
        let address: HostAndPort
        do {
            address = try HostAndPort(parsing: rest)
        } catch {
            throw InvalidURL(description: "'\(Self.redacted(url))': \(error)")
        }
        guard address.port != 0 else {
            throw InvalidURL(description: "'\(Self.redacted(url))' needs HOST:PORT with a port from 1 to 65535")
        }
        self.init(host: address.host, port: address.port, credentials: credentials, udpTransport: udpTransport)
    }

    /// `socks5://user@host:port`, never the password: safe to log.
    package var redactedURL: String {
        "socks5://\(credentials.map { "\($0.usernameText)@" } ?? "")\(HostAndPort(host: host, port: port))"
    }

    /// A client for this upstream.
    func client(resolver: any HostResolver, timeout: Duration) -> SOCKSClient {
        SOCKSClient(host: host, port: port, credentials: credentials, resolver: resolver, handshakeTimeout: timeout)
    }

    private static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let schemeEnd = url.range(of: "://")?.upperBound else { return url }
        let userInfo = url[schemeEnd..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<schemeEnd]) + userInfo[..<colon] + ":<redacted>" + String(url[at...])
    }

    private static func percentDecoded(_ text: Substring) -> [UInt8]? {
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                let high = utf8.index(after: index)
                guard high < utf8.endIndex, utf8.index(after: high) < utf8.endIndex,
                      let value = UInt8(String(decoding: [utf8[high], utf8[utf8.index(after: high)]], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
                index = utf8.index(high, offsetBy: 2)
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return bytes
    }
}
