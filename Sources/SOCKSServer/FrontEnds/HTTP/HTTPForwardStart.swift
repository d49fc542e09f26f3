import SOCKSProtocol

/// An absolute-form HTTP request (`GET http://host/path HTTP/1.1`) that opened a connection, handed from the
/// handshake to `serveHTTPForwarding` once the client has logged in.
///
/// A class, so that `ClientRequest` holds one reference: every session's task frames carry an
/// `ClientRequest`, and an idle UDP association must not pay for the HTTP request it never had.
final class HTTPForwardStart: Sendable {
    let request: HTTPProxyRequest
    /// What the client sent after the head: the start of the body, or further requests.
    let pending: [UInt8]

    init(request: HTTPProxyRequest, pending: [UInt8]) {
        self.request = request
        self.pending = pending
    }
}
