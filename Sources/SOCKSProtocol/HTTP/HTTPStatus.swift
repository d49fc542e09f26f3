/// A status the HTTP proxy answers with itself (RFC 9110 §15): the code and its reason phrase.
package struct HTTPStatus: Hashable, Sendable, CustomStringConvertible {
    /// The three-digit code.
    package var code: Int
    /// The reason phrase, ASCII.
    package var reason: String

    package init(code: Int, reason: String) {
        self.code = code
        self.reason = reason
    }

    /// `200 Connection established`: the answer to a `CONNECT` whose tunnel is open.
    package static let connectionEstablished = HTTPStatus(code: 200, reason: "Connection established")
    /// A request that is not HTTP/1.x, not a proxy request, or whose body framing is unsafe.
    package static let badRequest = HTTPStatus(code: 400, reason: "Bad Request")
    /// The access rules deny the destination.
    package static let forbidden = HTTPStatus(code: 403, reason: "Forbidden")
    /// A method the proxy does not take for this target (send an `Allow` field with it).
    package static let methodNotAllowed = HTTPStatus(code: 405, reason: "Method Not Allowed")
    /// A login is required and none, or a wrong one, was given (sent with `Proxy-Authenticate`).
    package static let proxyAuthenticationRequired = HTTPStatus(code: 407, reason: "Proxy Authentication Required")
    /// The request head did not arrive within the handshake deadline.
    package static let requestTimeout = HTTPStatus(code: 408, reason: "Request Timeout")
    /// A request target too long to read.
    package static let uriTooLong = HTTPStatus(code: 414, reason: "URI Too Long")
    /// A request head over the length or field limit.
    package static let requestHeaderFieldsTooLarge = HTTPStatus(code: 431, reason: "Request Header Fields Too Large")
    /// The proxy failed in a way that is not the client's or the origin's fault.
    package static let internalServerError = HTTPStatus(code: 500, reason: "Internal Server Error")
    /// A scheme other than `http://` in absolute form (`https://` goes through `CONNECT`).
    package static let notImplemented = HTTPStatus(code: 501, reason: "Not Implemented")
    /// The destination refused the connection, could not be reached or resolved, or answered with an
    /// invalid response.
    package static let badGateway = HTTPStatus(code: 502, reason: "Bad Gateway")
    /// A limit (sessions, per-user sessions) refuses the request for now.
    package static let serviceUnavailable = HTTPStatus(code: 503, reason: "Service Unavailable")
    /// The destination was not reached within the connect deadline.
    package static let gatewayTimeout = HTTPStatus(code: 504, reason: "Gateway Timeout")
    /// A request of another major HTTP version.
    package static let httpVersionNotSupported = HTTPStatus(code: 505, reason: "HTTP Version Not Supported")

    /// `CODE REASON`.
    package var description: String { "\(code) \(reason)" }
}
