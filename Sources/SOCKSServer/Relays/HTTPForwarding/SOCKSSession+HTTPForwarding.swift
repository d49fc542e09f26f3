import AsyncSockets
import Synchronization
import SOCKSProtocol

extension SOCKSSession {
    /// Where one forwarded request has got to: what a failure means depends on it.
    private enum ForwardingStage {
        /// Sending the head and body to the origin.
        case sendingRequest
        /// Waiting for the origin's response head: a failure is still answered 502.
        case awaitingResponse
        /// The response head has gone to the client: a failure can only cut the connection.
        case sendingResponse
    }

    /// Serves absolute-form HTTP requests (`GET http://host/path HTTP/1.1`) on one client connection, for
    /// as long as both sides keep it open: each request is checked against the rules, sent to its origin
    /// (the connection to the origin is kept for the next request to the same origin when the origin allows
    /// it), its body and the response passed on unchanged in between their rewritten heads (RFC 9110 §7.6:
    /// hop-by-hop fields removed, `Connection` set by the proxy). Each request has its own access line.
    /// A next request must arrive within the handshake deadline; it is judged by its own login (that of
    /// another user makes it that user's request, under that user's rules and limits; none, where users log
    /// in, is answered 407). A `CONNECT` among them ends the series with a tunnel. Bodies are copied, not
    /// spliced: their framing must be followed.
    func serveHTTPForwarding(_ accepted: ClientRequest) async {
        guard let start = accepted.forward else { return }
        var client = HTTPInbound(connection: connection, buffered: start.pending)
        guard let tunnel = await forwardRequests(start.request, from: &client) else { return }
        tracker.accepted(user: servedUser, command: .connect, destination: tunnel.destination)
        // Served once the forwarding has settled its own byte counts, so the tunnel's access line keeps the
        // tunnel's bytes (the forwarding's accounting used to overwrite them with its own, zero).
        await serveConnect(ClientRequest(request: SOCKSRequest(command: .connect, destination: tunnel.destination), earlyData: client.takeAll(), user: servedUser))
    }

    /// Forwards `first` (whose login made `servedUser`) and the requests after it: the `CONNECT` that
    /// ends the series, or nil when the session ends here.
    private func forwardRequests(_ first: HTTPProxyRequest, from client: inout HTTPInbound) async -> HTTPProxyRequest? {
        let counters = RelayCounters(registry: context.metrics)
        tracker.relaying(with: counters)
        let origin = OriginSlot()
        let watchdog = context.configuration.idleTimeout.map { timeout in
            IdleWatchdog(loop: connection.eventLoop, counters: counters, timeout: timeout) { [connection] in
                connection.close()
                origin.close()
            }
        }
        var requestStart = (up: 0, down: 0)
        defer {
            watchdog?.stop()
            origin.close()
            record.bytesUp = counters.bytesUp - requestStart.up
            record.bytesDown = counters.bytesDown - requestStart.down
        }
        var request = first
        // The login checked last on this connection: a request that repeats it is its user's without
        // another check (a crypt hash costs milliseconds of CPU per request).
        var login = first.authorization
        var originInbound: (endpoint: SOCKSEndpoint, inbound: HTTPInbound)?
        while true {
            record.destination = request.destination
            tracker.accepted(user: servedUser, command: .connect, destination: request.destination)
            guard let keepAlive = await forward(request, from: &client, through: &originInbound, origin: origin, counters: counters) else {
                if watchdog?.hasExpired == true { record.outcome = .idleTimeout }
                return nil
            }
            guard keepAlive else { return nil }
            // The next request on this connection, within the handshake deadline (an idle keep-alive
            // connection then just ends).
            let deadline = connection.closing(after: context.configuration.handshakeTimeout)
            let next: HTTPProxyRequest?
            do {
                next = try await httpFrontEnd.readRequest(from: &client)
            } catch HandshakeError.httpRefused(let status, let reason) {
                deadline.cancel()
                // A head that is no request has an access line of its own; the request before keeps its
                // outcome (it used to take this one's).
                startNextRecord(counters: counters, requestStart: &requestStart)
                record.outcome = .failedHTTP(status: status.code)
                context.logger.warning("session \(record.client): HTTP request answered \(status.code): \(reason)")
                return nil
            } catch {
                deadline.cancel()
                return nil
            }
            deadline.cancel()
            guard let next else { return nil }
            startNextRecord(counters: counters, requestStart: &requestStart)
            record.httpMethod = next.head.method
            record.destination = next.destination
            if context.configuration.requiresLogin && next.authorization != login {
                // Each request is judged by its own login, checked as on a new connection: a wrong one (or
                // none) is answered 407 and ends the connection; another user's makes this that user's
                // request, under that user's rules, cap and session limit.
                let user: String?
                do {
                    user = try await httpFrontEnd.authenticate(next) { credentials in await logIn(credentials) }
                } catch {
                    record.outcome = handshakeOutcome(error)
                    return nil
                }
                login = next.authorization
                record.user = user.map { Array($0.utf8) }
                if user != servedUser, let kept = originInbound {
                    // A kept origin connection was opened under the other user's rules: this user's request
                    // is dialled, and so checked, anew (nor does one user's connection carry another's).
                    kept.inbound.connection.close()
                    originInbound = nil
                }
                guard await serve(as: user) else { return nil }
            } else {
                record.user = servedUser.map { Array($0.utf8) }
            }
            if case .tunnel = next.kind { return next }
            request = next
        }
    }

    /// Logs the access line of the request just served and starts the record of the next one, whose bytes
    /// count from here.
    private func startNextRecord(counters: RelayCounters, requestStart: inout (up: Int, down: Int)) {
        record.bytesUp = counters.bytesUp - requestStart.up
        record.bytesDown = counters.bytesDown - requestStart.down
        context.logger.info(record.accessEvent)
        requestStart = (counters.bytesUp, counters.bytesDown)
        record.started = .now
        record.outcome = .handshakeIncomplete
        record.user = nil
        record.httpMethod = nil
        record.destination = nil
        record.via = nil
    }

    /// Forwards one request and its response: whether the client connection stays open for another, or
    /// nil if the session ends here (a failure, already answered or cut, and recorded).
    private func forward(
        _ request: HTTPProxyRequest, from client: inout HTTPInbound, through originInbound: inout (endpoint: SOCKSEndpoint, inbound: HTTPInbound)?,
        origin: OriginSlot, counters: RelayCounters
    ) async -> Bool? {
        // A kept connection to another origin is of no use for this request.
        if let kept = originInbound, kept.endpoint != request.destination {
            kept.inbound.connection.close()
            originInbound = nil
        }
        var reused = originInbound != nil
        var stage = ForwardingStage.sendingRequest
        // HTTP/1.0 clients get no 1xx at all (RFC 9110 §15.2), and ignore the expectation themselves.
        let answersContinue = request.head.minorVersion >= 1 && request.head.value(of: "expect")?.lowercased() == "100-continue"
            && request.bodyFraming != .none
        while true {
            if originInbound == nil {
                guard let (target, _) = await reach(request.destination) else { return nil }
                origin.set(target)
                originInbound = (request.destination, HTTPInbound(connection: target))
            }
            guard var upstream = originInbound?.inbound else { return nil }
            do {
                if answersContinue {
                    // The client waits for this before it sends the body (RFC 9110 §10.1.1 lets a proxy
                    // answer it); the origin's own 100, if any, is then not passed on as a second one.
                    try await connection.write(Self.continueResponse)
                }
                try await pass(request.forwardedHead(keepAlive: true) ?? [], to: upstream.connection, up: true, counters: counters)
                try await client.forwardBody(request.bodyFraming) { piece in
                    try await self.pass(piece, to: upstream.connection, up: true, counters: counters)
                }
                stage = .awaitingResponse
                var head: HTTPResponseHead
                (head, upstream) = try await awaitResponseHead(from: upstream)
                while head.isInterim {
                    if request.head.minorVersion >= 1 && !(answersContinue && head.status == 100) {
                        try await pass(head.forwardedHead(keepAlive: true), to: connection, up: false, counters: counters)
                    }
                    (head, upstream) = try await awaitResponseHead(from: upstream)
                }
                let framing: HTTPBodyFraming
                switch HTTPBodyFraming.response(head, requestMethod: request.head.method) {
                case .success(let value): framing = value
                case .failure(let error): throw OriginFailure.badResponse("\(error)")
                }
                let keepAlive = request.clientWantsKeepAlive && framing != .untilClose
                stage = .sendingResponse
                try await pass(head.forwardedHead(keepAlive: keepAlive), to: connection, up: false, counters: counters)
                try await upstream.forwardBody(framing) { piece in
                    try await self.pass(piece, to: self.connection, up: false, counters: counters)
                }
                record.outcome = .succeeded
                if head.originKeepsAlive && framing != .untilClose && upstream.pending.isEmpty {
                    originInbound?.inbound = upstream
                } else {
                    upstream.connection.close()
                    originInbound = nil
                }
                return keepAlive
            } catch OriginFailure.closedBeforeResponse where reused && request.bodyFraming == .none && request.isIdempotent {
                // The origin closed the kept connection as the request went out (its idle timeout): one more
                // try on a new connection, as clients do, for a request that may be sent twice (RFC 9110
                // §9.2.2: never a POST, which the origin may have acted on before it closed).
                upstream.connection.close()
                originInbound = nil
                reused = false
                stage = .sendingRequest
                continue
            } catch {
                upstream.connection.close()
                originInbound = nil
                await endForwarding(after: error, at: stage)
                return nil
            }
        }
    }

    /// Records why a forwarded request failed and answers the client if it can still be answered.
    private func endForwarding(after error: any Error, at stage: ForwardingStage) async {
        switch (stage, error) {
        case (_, is CancellationError):
            record.outcome = .cancelled
        case (.sendingResponse, _):
            record.relayFailed(error)
            context.logger.debug("session \(record.client): HTTP response cut off: \(error)")
            // A reset, not a FIN: a response cut short must not pass for a whole one (a body framed by the
            // close would), nor leave a client reading a length that never comes.
            connection.abort()
        case (.sendingRequest, HTTPInbound.Failure.chunked(let problem)):
            // The client's own body is broken: its fault, answered as such (the origin has a cut request).
            record.outcome = .failedHTTP(status: 400)
            context.logger.warning("session \(record.client): HTTP \(record.httpMethod ?? "request") refused: bad chunked request body: \(problem)")
            await httpFrontEnd.answer(.badRequest)
        case (.sendingRequest, is HTTPInbound.Failure), (_, is PeerHungUp):
            // The client's body ended early (a FIN inside a request is no half-close), or it reset the
            // connection while the origin had yet to answer: nobody to answer.
            record.outcome = .clientClosed
        case (.sendingRequest, _) where connection.isClosed:
            record.outcome = .clientClosed
        default:
            let status: HTTPStatus = error as? SocketError == .timedOut ? .gatewayTimeout : .badGateway
            record.outcome = .failedHTTP(status: status.code)
            let destination = record.destination.map { SOCKSLogger.escapingFieldValue($0.description) } ?? "-"
            context.logger.warning("session \(record.client): HTTP \(record.httpMethod ?? "request") \(destination) failed: \(error)")
            await httpFrontEnd.answer(status)
        }
    }

    /// Waits for the origin's next response head while watching the client: a client that resets the
    /// connection meanwhile ends the wait (`PeerHungUp`), so a long poll or a silent origin cannot hold the
    /// session, its two sockets and its place under the limits after the client has gone. Its FIN does not:
    /// the request is complete by now, so a FIN is a half-close (`shutdown(SHUT_WR)` after the request, as
    /// `nc -N` and some HTTP/1.0 clients do) and the response is still delivered, then the connection closed,
    /// as CONNECT does. (Over TCP such a FIN looks the same as a client that closed for good; that one is
    /// found out when the answer is written, or by `idleTimeout`.)
    private func awaitResponseHead(from upstream: HTTPInbound) async throws -> (HTTPResponseHead, HTTPInbound) {
        // Often the head is there already (or arrives before the client could hang up): no task group then.
        var upstream = upstream
        if case .complete(let head, let length) = HTTPResponseHead.parse(upstream.pending) {
            upstream.consume(length)
            return (head, upstream)
        }
        return try await whileClientWaits(timeout: nil, endsOnFIN: false) { [upstream] in try await Self.readResponseHead(from: upstream) }
    }

    /// Reads the origin's next response head: it, and the origin's bytes after it.
    private static func readResponseHead(from upstream: HTTPInbound) async throws -> (HTTPResponseHead, HTTPInbound) {
        var upstream = upstream
        while true {
            switch HTTPResponseHead.parse(upstream.pending) {
            case .complete(let head, let length):
                upstream.consume(length)
                return (head, upstream)
            case .failed(let error):
                throw OriginFailure.badResponse("\(error)")
            case .incomplete:
                let hadBytes = !upstream.pending.isEmpty
                guard try await upstream.fill() else {
                    throw hadBytes ? OriginFailure.badResponse("the origin closed inside the response head") : OriginFailure.closedBeforeResponse
                }
            }
        }
    }

    /// Writes `bytes` to `sink`, counted up (client to origin) or down, after waiting out the user's
    /// bandwidth cap.
    private func pass(_ bytes: some Collection<UInt8>, to sink: TCPConnection, up: Bool, counters: RelayCounters) async throws {
        guard !bytes.isEmpty else { return }
        if let bandwidth {
            while let wait = bandwidth.delay() { try await connection.eventLoop.sleep(for: wait) }
        }
        try await sink.write(ArraySlice(bytes))
        if up { counters.countUp(bytes.count) } else { counters.countDown(bytes.count) }
        bandwidth?.consume(bytes.count)
    }

    static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
}

/// What went wrong on the origin's side of a forwarded request.
enum OriginFailure: Error, CustomStringConvertible {
    /// The origin closed the connection before a byte of the response.
    case closedBeforeResponse
    /// The origin's response cannot be passed on.
    case badResponse(String)

    var description: String {
        switch self {
        case .closedBeforeResponse: "the origin closed the connection without a response"
        case .badResponse(let reason): "bad response from the origin: \(reason)"
        }
    }
}

/// The origin connection a forwarding session holds now, for the idle watchdog to close.
final class OriginSlot: Sendable {
    private let current = Mutex<TCPConnection?>(nil)

    func set(_ connection: TCPConnection) {
        current.withLock { $0 = connection }
    }

    func close() {
        current.withLock { $0 }?.close()
    }
}
