/// The responses the HTTP proxy writes itself, as bytes: the `CONNECT` success and the error statuses.
package enum HTTPProxyReply {
    /// The realm of the `Proxy-Authenticate` challenge (RFC 7617 §2): clients show it when asking for a login.
    package static let realm = "socksd"

    /// `HTTP/1.1 200 Connection established` and the empty line: no body and no `Content-Length`, since
    /// the bytes after it are the tunnel's (RFC 9110 §9.3.6).
    package static let connectionEstablished: [UInt8] = Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)

    /// A complete response with a short text body: `HTTP/1.1 CODE REASON`, `Content-Type`,
    /// `Content-Length`, `Proxy-Authenticate: Basic realm="socksd"` for 407, `extraFields` (such as
    /// `Allow` for 405), and `Connection: close` or `Connection: keep-alive`.
    ///
    /// - Parameters:
    ///   - message: the body's text, a line; the default is the code and reason.
    ///   - includingBody: false for the answer to a `HEAD`, which states the body's length but carries none
    ///     (RFC 9110 §9.3.2).
    package static func response(
        _ status: HTTPStatus, keepAlive: Bool = false, message: String? = nil, extraFields: [HTTPField] = [], includingBody: Bool = true
    ) -> [UInt8] {
        let body = Array((message ?? "\(status.code) \(status.reason)\n").utf8)
        var bytes = Array("HTTP/1.1 \(status.code) \(status.reason)\r\n".utf8)
        bytes += "Content-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.count)\r\n".utf8
        if status.code == HTTPStatus.proxyAuthenticationRequired.code {
            bytes += "Proxy-Authenticate: Basic realm=\"\(realm)\"\r\n".utf8
        }
        for field in extraFields { HTTPHopByHop.append(field, to: &bytes) }
        bytes += (keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n").utf8
        if includingBody { bytes += body }
        return bytes
    }
}
