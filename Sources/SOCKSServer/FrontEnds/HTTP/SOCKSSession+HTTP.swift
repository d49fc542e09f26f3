import AsyncSockets
import SOCKSProtocol

extension SOCKSSession {
    /// The HTTP side of a listener: the connection's first byte was an ASCII letter, so `firstBytes` (all
    /// read so far) start an HTTP/1.x request. Reads the request head (at most 16 KiB, within the handshake
    /// deadline, which closes the connection), checks the login, and hands back what to serve: a
    /// `CONNECT` is a CONNECT like SOCKS's (its reply `200 Connection established`, then raw bytes); an
    /// absolute-form request carries `forward`. A request that cannot be served is answered with its
    /// status (400, 431, 501, 505; 407 for a missing or wrong login) and ends the session.
    func openHTTP(firstBytes: [UInt8]) async throws -> Accepted {
        dialect = .http
        var inbound = HTTPInbound(connection: connection, buffered: firstBytes)
        guard let request = try await readHTTPRequest(from: &inbound) else { throw HandshakeError.clientClosed }
        record.httpMethod = request.head.method
        record.destination = request.destination
        let user = try await authenticateHTTP(request)
        let connect = SOCKSRequest(command: .connect, destination: request.destination)
        switch request.kind {
        case .tunnel:
            return Accepted(request: connect, earlyData: inbound.takeAll(), user: user)
        case .forward:
            return Accepted(request: connect, earlyData: [], user: user, forward: HTTPForwardStart(request: request, pending: inbound.takeAll()))
        }
    }

    /// Reads one request head from `inbound`: nil if the connection ends before its first byte. A head
    /// that is no proxy request is answered with its status, and thrown as `httpRefused`. The record is the
    /// caller's to update: on a kept connection it still describes the request before, not yet logged.
    func readHTTPRequest(from inbound: inout HTTPInbound) async throws -> HTTPProxyRequest? {
        while true {
            switch HTTPProxyRequest.parse(inbound.pending) {
            case .complete(let request, let length):
                inbound.consume(length)
                return request
            case .failed(let error):
                await answerHTTP(error.status)
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

    /// Checks the request's `Proxy-Authorization: Basic` login against the users, through the same login
    /// throttle as SOCKS5 logins: the user, or nil when no login is required. A missing login is answered
    /// 407 and is no failed login (browsers ask first without one); a wrong one is answered 407 and counts
    /// towards the client's backoff; a throttled client gets 407 unchecked, a busy checker 503.
    func authenticateHTTP(_ request: HTTPProxyRequest) async throws -> String? {
        guard let users = context.configuration.users else { return nil }
        switch request.authorization {
        case .absent:
            await answerHTTP(.proxyAuthenticationRequired)
            throw HandshakeError.httpLoginRequired
        case .tooLong:
            // No user can have such a name or password: a wrong login, without a hash to check.
            await answerHTTP(.proxyAuthenticationRequired)
            context.metrics.loginFailed()
            throw HandshakeError.rejected(.authenticationFailed(username: "<over 255 bytes>"))
        case .basic(let credentials):
            record.user = credentials.username
            switch await checkLogin(credentials, against: users) {
            case .checked(true):
                return credentials.usernameText
            case .checked(false):
                await answerHTTP(.proxyAuthenticationRequired)
                throw HandshakeError.rejected(.authenticationFailed(username: credentials.usernameText))
            case .refusedUnchecked(let reason):
                if case .checkerBusy = reason {
                    await answerHTTP(.serviceUnavailable)
                } else {
                    await answerHTTP(.proxyAuthenticationRequired)
                }
                throw reason
            }
        }
    }

    /// Answers an HTTP request the proxy refuses or cannot serve with `status`, then drains before the
    /// session closes the connection.
    func answerHTTP(_ status: HTTPStatus) async {
        try? await connection.write(HTTPProxyReply.response(status))
        await drainBeforeClose()
    }

    /// After an error answer on an HTTP connection whose client may still be sending (a request body,
    /// pipelined requests): sends the FIN, then reads and throws away what comes, for at most 2 s or 64 KiB,
    /// before the session closes the socket. Closing with bytes unread would send a reset, which can
    /// destroy the answer before the client reads it (a 407 to a POST, a 403 to an upload).
    func drainBeforeClose() async {
        connection.shutdownWrite()
        let limit = connection.eventLoop.schedule(after: .seconds(2)) { [connection] in connection.close() }
        defer { limit.cancel() }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var discarded = 0
        while discarded < 64 * 1024, let count = try? await connection.read(into: &buffer), count > 0 {
            discarded += count
        }
    }
}
