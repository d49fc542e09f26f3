/// The login a client sends an HTTP proxy: `Proxy-Authorization: Basic base64(user:password)` (RFC 9110
/// §11.7.1, RFC 7617), as the `SOCKSCredentials` SOCKS5 logins use, checked against the same users.
package enum HTTPProxyAuthorization: Hashable, Sendable, CustomStringConvertible {
    /// No usable credentials: no `Proxy-Authorization` field, more than one, another scheme than Basic,
    /// or a value that is not base64 of `user:password`. The proxy answers 407 when it requires a login.
    case absent
    /// A user and password, each at most 255 bytes as in SOCKS5 (RFC 1929).
    case basic(SOCKSCredentials)
    /// Well-formed credentials with a user or password over 255 bytes: no SOCKS5 user can have them, so
    /// they are wrong credentials (407, and a failed login where failures are counted).
    case tooLong

    /// The credentials of `.basic`, nil otherwise.
    package var credentials: SOCKSCredentials? {
        if case .basic(let credentials) = self { return credentials }
        return nil
    }

    /// Never shows a password.
    package var description: String {
        switch self {
        case .absent: "no credentials"
        case .basic(let credentials): "Basic \(credentials)"
        case .tooLong: "credentials over 255 bytes"
        }
    }

    /// Reads the `Proxy-Authorization` fields of a request head.
    package init(fields: [HTTPField]) {
        let values = fields.filter { $0.hasName("proxy-authorization") }
        guard values.count == 1 else {
            self = .absent
            return
        }
        self.init(fieldValue: values[0].valueBytes)
    }

    /// Reads one field value: `Basic` (any case), one or more spaces, base64 of `user:password`.
    package init(fieldValue: [UInt8]) {
        let parts = fieldValue.split(separator: UInt8(ascii: " "), maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].count == 5, parts[0].map(HTTPSyntax.lowercased).elementsEqual("basic".utf8) else {
            self = .absent
            return
        }
        let token = parts[1].drop { $0 == UInt8(ascii: " ") }
        // RFC 7617 §2: the user-id cannot hold a colon, so the first one ends it; the password may hold more.
        guard let decoded = Base64.decode(token), let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else {
            self = .absent
            return
        }
        let username = Array(decoded[..<colon])
        let password = Array(decoded[(colon + 1)...])
        guard username.count <= 255, password.count <= 255 else {
            self = .tooLong
            return
        }
        self = .basic(SOCKSCredentials(username: username, password: password))
    }
}
