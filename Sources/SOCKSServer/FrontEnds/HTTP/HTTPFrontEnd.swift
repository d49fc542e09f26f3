import AsyncSockets
import SOCKSProtocol

/// The HTTP front-end: request heads read (at most 16 KiB) and turned into requests to serve, the
/// `Proxy-Authorization: Basic` login taken to the login stage, and the proxy's own answers written (400,
/// 431, 501, 505; 407 for a missing or wrong login; 503 when the password checker is busy). A `CONNECT` is
/// a CONNECT like SOCKS's (its reply `200 Connection established`, then raw bytes); an absolute-form request
/// is handed to the forwarding relay, which reads the next requests on the connection through this too.
struct HTTPFrontEnd {
    let connection: TCPConnection
    /// Whether requests must carry a login (users are configured).
    let requiresLogin: Bool
    let metrics: ServerMetrics

    /// Reads one request head from `inbound`: nil if the connection ends before its first byte. A head
    /// that is no proxy request is answered with its status, and thrown as `httpRefused`.
    nonisolated(nonsending) func readRequest(from inbound: inout HTTPInbound) async throws -> HTTPProxyRequest? {
        while true {
            switch HTTPProxyRequest.parse(inbound.pending) {
            case .complete(let request, let length):
                inbound.consume(length)
                return request
            case .failed(let error):
                await answer(error.status)
                throw HandshakeError.httpRefused(error.status, reason: error.description)
            case .incomplete:
                let hadBytes = !inbound.pending.isEmpty
                guard try await inbound.fill() else {
                    if hadBytes { throw HandshakeError.clientClosed }
                    return nil
                }
            }
        }
    }

    /// Takes the request's login to `logIn` (the login stage): the user, or nil when no login is required.
    /// A missing login is answered 407 and is no failed login (browsers ask first without one); a wrong one
    /// is answered 407 and counts towards the client's backoff; a throttled client gets 407 unchecked, a
    /// busy checker 503.
    nonisolated(nonsending) func authenticate(
        _ request: HTTPProxyRequest, logIn: (SOCKSCredentials) async -> LoginGate.Decision
    ) async throws -> String? {
        guard requiresLogin else { return nil }
        switch request.authorization {
        case .absent:
            await answer(.proxyAuthenticationRequired)
            throw HandshakeError.httpLoginRequired
        case .tooLong:
            // No user can have such a name or password: a wrong login, without a hash to check.
            await answer(.proxyAuthenticationRequired)
            metrics.loginFailed()
            throw HandshakeError.rejected(.authenticationFailed(username: "<over 255 bytes>"))
        case .basic(let credentials):
            switch await logIn(credentials) {
            case .checked(true, let user):
                return user ?? credentials.usernameText
            case .checked(false, _):
                await answer(.proxyAuthenticationRequired)
                throw HandshakeError.rejected(.authenticationFailed(username: credentials.usernameText))
            case .refusedUnchecked(let reason):
                if case .checkerBusy = reason {
                    await answer(.serviceUnavailable)
                } else {
                    await answer(.proxyAuthenticationRequired)
                }
                throw reason
            }
        }
    }

    /// What the stages after login serve for `request`, once its login made `user`: a CONNECT to its
    /// destination; with the request itself attached when it is one to forward.
    func clientRequest(for request: HTTPProxyRequest, user: String?, inbound: inout HTTPInbound) -> ClientRequest {
        let connect = SOCKSRequest(command: .connect, destination: request.destination)
        switch request.kind {
        case .tunnel:
            return ClientRequest(request: connect, earlyData: inbound.takeAll(), user: user)
        case .forward:
            return ClientRequest(request: connect, earlyData: [], user: user, forward: HTTPForwardStart(request: request, pending: inbound.takeAll()))
        }
    }

    /// Answers a request the proxy refuses or cannot serve with `status`, then drains before the session
    /// closes the connection.
    nonisolated(nonsending) func answer(_ status: HTTPStatus) async {
        try? await connection.write(HTTPProxyReply.response(status))
        await drainBeforeClose()
    }

    /// After an error answer on an HTTP connection whose client may still be sending (a request body,
    /// pipelined requests): sends the FIN, then reads and throws away what comes, for at most 2 s or 64 KiB,
    /// before the session closes the socket. Closing with bytes unread would send a reset, which can
    /// destroy the answer before the client reads it (a 407 to a POST, a 403 to an upload).
    nonisolated(nonsending) func drainBeforeClose() async {
        connection.shutdownWrite()
        let limit = connection.closing(after: .seconds(2))
        defer { limit.cancel() }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var discarded = 0
        while discarded < 64 * 1024, let count = try? await connection.read(into: &buffer), count > 0 {
            discarded += count
        }
    }
}
