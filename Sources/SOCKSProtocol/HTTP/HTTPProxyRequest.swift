/// A request as an HTTP proxy reads it (RFC 9112 §3.2, RFC 9110 §7.6): a `CONNECT host:port` tunnel, or
/// an absolute-form request (`GET http://host/path HTTP/1.1`) to forward to the origin; with the
/// destination as the `SOCKSEndpoint` the rules, policy and connect code take, the login, the body's
/// framing, and whether the client wants the connection kept open.
///
/// ```swift
/// switch HTTPProxyRequest.parse(received[...]) {
/// case .incomplete: // read more, within the handshake deadline
/// case .complete(let request, let length): // received[length...] is the body, tunnel data or the next request
/// case .failed(let error): // write HTTPProxyReply.response(error.status), close
/// }
/// ```
package struct HTTPProxyRequest: Hashable, Sendable {
    /// What the client asks for.
    package enum Kind: Hashable, Sendable {
        /// `CONNECT`: answer `HTTPProxyReply.connectionEstablished`, then relay raw bytes.
        case tunnel
        /// An `http://` request: send `forwardedHead(keepAlive:)` to the destination, then the body.
        /// `originTarget` is the URI's path and query (`/` when empty); `authority` its `host[:port]` as
        /// written, the `Host` the origin gets.
        case forward(originTarget: String, authority: String)
    }

    /// The head as received.
    package var head: HTTPRequestHead
    package var kind: Kind
    /// Where to connect: the `CONNECT` authority, or the URI's host and port (80 when not given).
    package var destination: SOCKSEndpoint
    /// The `Proxy-Authorization` login.
    package var authorization: HTTPProxyAuthorization
    /// Where the request's body ends (`.none` for `CONNECT`, whose following bytes are the tunnel's).
    package var bodyFraming: HTTPBodyFraming
    /// Whether the client wants the connection kept open after the response (RFC 9112 §9.3): HTTP/1.1 unless
    /// `Connection: close` (or `Proxy-Connection: close`); HTTP/1.0 only with `keep-alive` in either.
    package var clientWantsKeepAlive: Bool

    /// What the bytes received so far are.
    package enum ParseResult: Hashable, Sendable {
        /// A prefix of a head that may still be valid: read more.
        case incomplete
        /// A proxy request whose head is `length` bytes long; bytes after it are not looked at.
        case complete(HTTPProxyRequest, length: Int)
        /// Never a request this proxy serves; answer `error.status`.
        case failed(HTTPProxyRequestError)
    }

    /// Reads `bytes`, the start of a connection or what follows the previous request on it.
    package static func parse(_ bytes: ArraySlice<UInt8>, limits: HTTPHeadLimits = .proxyRequest) -> ParseResult {
        switch HTTPRequestHead.parse(bytes, limits: limits) {
        case .incomplete:
            return .incomplete
        case .failed(let error):
            return .failed(.head(error))
        case .complete(let head, let length):
            do {
                return .complete(try HTTPProxyRequest(head: head), length: length)
            } catch {
                return .failed(error)
            }
        }
    }

    /// Reads a parsed head as a proxy request.
    package init(head: HTTPRequestHead) throws(HTTPProxyRequestError) {
        self.head = head
        let target = Array(head.target.utf8)[...]
        if head.method == "CONNECT" {
            // RFC 9112 §3.2.3: authority-form, host and port, nothing else.
            guard !target.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "@") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) else {
                throw .invalidTarget("a CONNECT target that is not host:port")
            }
            kind = .tunnel
            destination = try HTTPAuthority.endpoint(target, port: .required).get()
        } else {
            guard let colon = HTTPRequestHead.schemeEnd(of: target) else { throw .notAProxyRequest }
            let scheme = String(decoding: target[..<colon].map(HTTPSyntax.lowercased), as: UTF8.self)
            guard scheme == "http" else { throw .unsupportedScheme(scheme) }
            guard !target.contains(UInt8(ascii: "#")) else { throw .invalidTarget("a fragment in the request target") }
            let afterScheme = target[(colon + 3)...]
            let authorityEnd = afterScheme.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? afterScheme.endIndex
            let authority = afterScheme[..<authorityEnd]
            guard !authority.isEmpty else { throw .invalidTarget("no host in the URI") }
            guard !authority.contains(UInt8(ascii: "@")) else { throw .invalidTarget("userinfo in the URI") }
            destination = try HTTPAuthority.endpoint(authority, port: .defaulting(to: 80)).get()
            let rest = afterScheme[authorityEnd...]
            let originTarget = rest.first == UInt8(ascii: "/") ? Array(rest) : Array("/".utf8) + rest
            kind = .forward(originTarget: String(decoding: originTarget, as: UTF8.self), authority: String(decoding: authority, as: UTF8.self))
        }
        authorization = HTTPProxyAuthorization(fields: head.fields)
        bodyFraming = try HTTPBodyFraming.request(head).mapError(HTTPProxyRequestError.framing).get()
        clientWantsKeepAlive = HTTPConnectionOptions(fields: head.fields, minorVersion: head.minorVersion, includingProxyConnection: true).keepAlive
    }

    /// Whether the method is idempotent (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE): a request
    /// a proxy may send again on its own when the connection it went out on closed without an answer.
    package var isIdempotent: Bool {
        ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"].contains(head.method)
    }

    /// The head to send the origin for a `.forward` request (RFC 9110 §7.6, RFC 9112 §3.2.2); nil for a
    /// tunnel.
    ///
    /// The request line names the origin-form target and keeps the client's HTTP version, so that the
    /// origin answers in a form the client reads (no chunked response to an HTTP/1.0 client). `Host` is the
    /// URI's authority, in place of the client's `Host` when that differs (the URI wins) or first when there
    /// is none. The hop-by-hop fields are removed — `Connection` and every field it names (except `Host`,
    /// `Content-Length` and `Transfer-Encoding`, which frame and route the message), `Keep-Alive`,
    /// `Proxy-Connection`, `Proxy-Authorization`, `Proxy-Authenticate`, `TE`, `Trailer`, `Upgrade` — and
    /// `Connection: keep-alive` or `Connection: close` ends the head, as the proxy decided for the
    /// connection to the origin. Field values pass as received, byte for byte.
    package func forwardedHead(keepAlive: Bool) -> [UInt8]? {
        guard case .forward(let originTarget, let authority) = kind else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        bytes += "\(head.method) \(originTarget) HTTP/1.\(head.minorVersion)\r\n".utf8
        let host = HTTPField(name: "Host", value: authority)
        let fields = HTTPHopByHop.removing(from: head.fields)
        if !fields.contains(where: { $0.hasName("host") }) { HTTPHopByHop.append(host, to: &bytes) }
        for field in fields {
            HTTPHopByHop.append(field.hasName("host") ? HTTPField(name: field.name, value: authority) : field, to: &bytes)
        }
        bytes += (keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n").utf8
        return bytes
    }
}
