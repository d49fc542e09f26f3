import AsyncSockets
import Synchronization
import SOCKSProtocol

/// Serves absolute-form HTTP requests (`GET http://host/path HTTP/1.1`) on one client connection, for as
/// long as both sides keep it open: each request is checked against the rules, sent to its origin (the
/// connection to the origin is kept for the next request to the same origin when the origin allows it),
/// its body and the response passed on unchanged in between their rewritten heads (RFC 9110 §7.6:
/// hop-by-hop fields removed, `Connection` set by the proxy). Each request has its own access line. A next
/// request must arrive within the handshake deadline; it is judged by its own login (that of another user
/// makes it that user's request, under that user's rules and limits; none, where users log in, is answered
/// 407). A `CONNECT` among them ends the series with a tunnel. Bodies are copied, not spliced: their
/// framing must be followed.
///
/// A value of the session's task, made for the one forwarding connection: it owns what forwarding needs
/// (the client's unread bytes, the origin connection kept between requests and its unread bytes, the
/// relay's counters and idle watchdog), so no session of another command carries any of it. What is the
/// session's (its record, a request's login and limits, the policy and egress) it asks of the session
/// through `HTTPForwardingSession`, running in the session's isolation. When `run` returns, the origin
/// connection is closed; the client's is the session's.
struct HTTPForwardingRelay {
    /// Where one forwarded request has got to: what a failure means depends on it.
    private enum ForwardingStage {
        /// Sending the head and body to the origin.
        case sendingRequest
        /// Waiting for the origin's response head: a failure is still answered 502.
        case awaitingResponse
        /// The response head has gone to the client: a failure can only cut the connection.
        case sendingResponse
    }

    /// An origin connection kept for the next request to the same origin, with its unread bytes.
    private struct KeptOrigin {
        let endpoint: SOCKSEndpoint
        var inbound: HTTPInbound
    }

    /// The client's connection and what it sent that is not passed on yet.
    private var client: HTTPInbound
    private var kept: KeptOrigin?
    /// The origin connection in use now, for the idle watchdog to close.
    private let originSlot = OriginSlot()
    let frontEnd: HTTPFrontEnd
    let counters: RelayCounters
    /// How long the client has for its next request's head.
    let handshakeTimeout: Duration
    let idleTimeout: Duration?
    let logger: SOCKSLogger

    var connection: TCPConnection { client.connection }

    /// Takes what the client sent after the last request's head: after a `CONNECT`, the tunnel's early data.
    mutating func takeClientBytes() -> [UInt8] {
        client.takeAll()
    }

    /// - Parameter client: the client's connection, with the bytes read after the first request's head.
    init(client: HTTPInbound, frontEnd: HTTPFrontEnd, counters: RelayCounters, handshakeTimeout: Duration, idleTimeout: Duration?, logger: SOCKSLogger) {
        self.client = client
        self.frontEnd = frontEnd
        self.counters = counters
        self.handshakeTimeout = handshakeTimeout
        self.idleTimeout = idleTimeout
        self.logger = logger
    }

    /// Forwards `first` (whose login made the session's user) and the requests after it: the `CONNECT`
    /// that ends the series, or nil when the session ends here. The record holds the last request's bytes
    /// and outcome when it returns.
    mutating func run<Session: HTTPForwardingSession>(first: HTTPProxyRequest, in session: isolated Session) async -> HTTPProxyRequest? {
        let (connection, originSlot, counters) = (self.connection, self.originSlot, self.counters)
        let watchdog = idleTimeout.map { timeout in
            IdleWatchdog(loop: connection.eventLoop, counters: counters, timeout: timeout) {
                connection.close()
                originSlot.close()
            }
        }
        var requestStart = (up: 0, down: 0)
        defer {
            watchdog?.stop()
            originSlot.close()
            session.record.bytesUp = counters.bytesUp - requestStart.up
            session.record.bytesDown = counters.bytesDown - requestStart.down
        }
        var request = first
        // The login checked last on this connection: a request that repeats it is its user's without
        // another check.
        var login = first.authorization
        while true {
            session.record.destination = request.destination
            session.serving(request.destination)
            guard let keepAlive = await forward(request, in: session) else {
                if watchdog?.hasExpired == true { session.record.outcome = .idleTimeout }
                return nil
            }
            guard keepAlive else { return nil }
            // The next request on this connection, within the handshake deadline (an idle keep-alive
            // connection then just ends).
            let deadline = connection.closing(after: handshakeTimeout)
            let next: HTTPProxyRequest?
            do {
                next = try await frontEnd.readRequest(from: &client)
            } catch HandshakeError.httpRefused(let status, let reason) {
                deadline.cancel()
                // A head that is no request has an access line of its own; the request before keeps its
                // outcome (it used to take this one's).
                startNextRecord(requestStart: &requestStart, in: session)
                session.record.outcome = .failedHTTP(status: status.code)
                logger.warning("session \(session.record.client): HTTP request answered \(status.code): \(reason)")
                return nil
            } catch {
                deadline.cancel()
                return nil
            }
            deadline.cancel()
            guard let next else { return nil }
            startNextRecord(requestStart: &requestStart, in: session)
            session.record.httpMethod = next.head.method
            session.record.destination = next.destination
            // A kept origin connection was opened under the other user's rules: that user's request is
            // dialled, and so checked, anew (nor does one user's connection carry another's).
            guard await session.admit(next, lastLogin: &login, beforeChangingUser: { dropKeptOrigin() }) else { return nil }
            if case .tunnel = next.kind { return next }
            request = next
        }
    }

    /// Closes the origin connection kept for the next request, if any.
    private mutating func dropKeptOrigin() {
        kept?.inbound.connection.close()
        kept = nil
    }

    /// Logs the access line of the request just served and starts the record of the next one, whose bytes
    /// count from here.
    private func startNextRecord<Session: HTTPForwardingSession>(requestStart: inout (up: Int, down: Int), in session: isolated Session) {
        session.record.bytesUp = counters.bytesUp - requestStart.up
        session.record.bytesDown = counters.bytesDown - requestStart.down
        logger.info(session.record.accessEvent)
        requestStart = (counters.bytesUp, counters.bytesDown)
        session.record.started = .now
        session.record.outcome = .handshakeIncomplete
        session.record.user = nil
        session.record.httpMethod = nil
        session.record.destination = nil
        session.record.via = nil
    }

    /// Forwards one request and its response: whether the client connection stays open for another, or
    /// nil if the session ends here (a failure, already answered or cut, and recorded).
    private mutating func forward<Session: HTTPForwardingSession>(_ request: HTTPProxyRequest, in session: isolated Session) async -> Bool? {
        // A kept connection to another origin is of no use for this request.
        if let kept, kept.endpoint != request.destination { dropKeptOrigin() }
        var reused = kept != nil
        var stage = ForwardingStage.sendingRequest
        // HTTP/1.0 clients get no 1xx at all (RFC 9110 §15.2), and ignore the expectation themselves.
        let answersContinue = request.head.minorVersion >= 1 && request.head.value(of: "expect")?.lowercased() == "100-continue"
            && request.bodyFraming != .none
        // The user's cap for this request (another user's request brings its own).
        let (connection, counters, bandwidth, loop) = (self.connection, self.counters, session.bandwidth, self.connection.eventLoop)
        while true {
            if kept == nil {
                guard let (target, _) = await session.reach(request.destination) else { return nil }
                originSlot.set(target)
                kept = KeptOrigin(endpoint: request.destination, inbound: HTTPInbound(connection: target))
            }
            // Taken out while in use, so that its reads reuse its chunk buffer (a second copy would make
            // them copy it); put back only if it stays open for the next request.
            guard var upstream = kept.take()?.inbound else { return nil }
            do {
                if answersContinue {
                    // The client waits for this before it sends the body (RFC 9110 §10.1.1 lets a proxy
                    // answer it); the origin's own 100, if any, is then not passed on as a second one.
                    try await connection.write(Self.continueResponse)
                }
                let origin = upstream.connection
                try await Self.pass(request.forwardedHead(keepAlive: true) ?? [], to: origin, up: true, counters: counters, bandwidth: bandwidth, loop: loop)
                try await client.forwardBody(request.bodyFraming) { piece in
                    try await Self.pass(piece, to: origin, up: true, counters: counters, bandwidth: bandwidth, loop: loop)
                }
                stage = .awaitingResponse
                var head: HTTPResponseHead
                head = try await Self.awaitResponseHead(from: &upstream, client: connection)
                while head.isInterim {
                    if request.head.minorVersion >= 1 && !(answersContinue && head.status == 100) {
                        try await Self.pass(head.forwardedHead(keepAlive: true), to: connection, up: false, counters: counters, bandwidth: bandwidth, loop: loop)
                    }
                    head = try await Self.awaitResponseHead(from: &upstream, client: connection)
                }
                let framing: HTTPBodyFraming
                switch HTTPBodyFraming.response(head, requestMethod: request.head.method) {
                case .success(let value): framing = value
                case .failure(let error): throw OriginFailure.badResponse("\(error)")
                }
                let keepAlive = request.clientWantsKeepAlive && framing != .untilClose
                stage = .sendingResponse
                try await Self.pass(head.forwardedHead(keepAlive: keepAlive), to: connection, up: false, counters: counters, bandwidth: bandwidth, loop: loop)
                try await upstream.forwardBody(framing) { piece in
                    try await Self.pass(piece, to: connection, up: false, counters: counters, bandwidth: bandwidth, loop: loop)
                }
                session.record.outcome = .succeeded
                if head.originKeepsAlive && framing != .untilClose && upstream.pending.isEmpty {
                    kept = KeptOrigin(endpoint: request.destination, inbound: upstream)
                } else {
                    upstream.connection.close()
                }
                return keepAlive
            } catch OriginFailure.closedBeforeResponse where reused && request.bodyFraming == .none && request.isIdempotent {
                // The origin closed the kept connection as the request went out (its idle timeout): one more
                // try on a new connection, as clients do, for a request that may be sent twice (RFC 9110
                // §9.2.2: never a POST, which the origin may have acted on before it closed).
                upstream.connection.close()
                reused = false
                stage = .sendingRequest
                continue
            } catch {
                upstream.connection.close()
                await endForwarding(after: error, at: stage, in: session)
                return nil
            }
        }
    }

    /// Records why a forwarded request failed and answers the client if it can still be answered.
    private func endForwarding<Session: HTTPForwardingSession>(after error: any Error, at stage: ForwardingStage, in session: isolated Session) async {
        switch (stage, error) {
        case (_, is CancellationError):
            session.record.outcome = .cancelled
        case (.sendingResponse, _):
            session.record.relayFailed(error)
            logger.debug("session \(session.record.client): HTTP response cut off: \(error)")
            // A reset, not a FIN: a response cut short must not pass for a whole one (a body framed by the
            // close would), nor leave a client reading a length that never comes.
            connection.abort()
        case (.sendingRequest, HTTPInbound.Failure.chunked(let problem)):
            // The client's own body is broken: its fault, answered as such (the origin has a cut request).
            session.record.outcome = .failedHTTP(status: 400)
            logger.warning(
                "session \(session.record.client): HTTP \(session.record.httpMethod ?? "request") refused: bad chunked request body: \(problem)")
            await frontEnd.answer(.badRequest)
        case (.sendingRequest, is HTTPInbound.Failure), (_, is PeerHungUp):
            // The client's body ended early (a FIN inside a request is no half-close), or it reset the
            // connection while the origin had yet to answer: nobody to answer.
            session.record.outcome = .clientClosed
        case (.sendingRequest, _) where connection.isClosed:
            session.record.outcome = .clientClosed
        default:
            let status: HTTPStatus = error as? SocketError == .timedOut ? .gatewayTimeout : .badGateway
            session.record.outcome = .failedHTTP(status: status.code)
            let destination = session.record.destination.map { SOCKSLogger.escapingFieldValue($0.description) } ?? "-"
            logger.warning("session \(session.record.client): HTTP \(session.record.httpMethod ?? "request") \(destination) failed: \(error)")
            await frontEnd.answer(status)
        }
    }

    /// Waits for the origin's next response head while watching the client: a client that resets the
    /// connection meanwhile ends the wait (`PeerHungUp`), so a long poll or a silent origin cannot hold the
    /// session, its two sockets and its place under the limits after the client has gone. Its FIN does not:
    /// the request is complete by now, so a FIN is a half-close (`shutdown(SHUT_WR)` after the request, as
    /// `nc -N` and some HTTP/1.0 clients do) and the response is still delivered, then the connection closed,
    /// as CONNECT does. (Over TCP such a FIN looks the same as a client that closed for good; that one is
    /// found out when the answer is written, or by `idleTimeout`.)
    private nonisolated(nonsending) static func awaitResponseHead(from upstream: inout HTTPInbound, client: TCPConnection) async throws -> HTTPResponseHead {
        // Often the head is there already (or arrives before the client could hang up): no task group then.
        if case .complete(let head, let length) = HTTPResponseHead.parse(upstream.pending) {
            upstream.consume(length)
            return head
        }
        // The inbound moves to the task that reads, and back: one owner at a time, so the read reuses its
        // chunk buffer (a copy left here would make the read copy the buffer). On a failure the caller
        // closes the connection, which the placeholder left here still names.
        let moving = Handover(upstream)
        upstream = HTTPInbound(connection: upstream.connection)
        let head: HTTPResponseHead
        (head, upstream) = try await withDeadline(nil, watching: client, endsOnFIN: false) { try await readResponseHead(from: moving.take()) }
        return head
    }

    /// Reads the origin's next response head: it, and the origin's bytes after it.
    private nonisolated(nonsending) static func readResponseHead(from upstream: consuming HTTPInbound) async throws -> (HTTPResponseHead, HTTPInbound) {
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

    /// Hands an origin's inbound to the task that reads its response head, without a second copy.
    private final class Handover: Sendable {
        private let inbound: Mutex<HTTPInbound?>

        init(_ inbound: HTTPInbound) {
            self.inbound = Mutex(inbound)
        }

        /// The inbound, taken out (once).
        func take() -> HTTPInbound {
            inbound.withLock { $0.take() }!
        }
    }

    /// Writes `bytes` to `sink`, counted up (client to origin) or down; under the user's bandwidth cap in
    /// the pieces it allows, paced on the client connection's loop.
    private nonisolated(nonsending) static func pass(
        _ bytes: some Collection<UInt8>, to sink: TCPConnection, up: Bool, counters: RelayCounters, bandwidth: BandwidthLimiter?, loop: EventLoop
    ) async throws {
        guard !bytes.isEmpty else { return }
        try await BandwidthLimiter.write(ArraySlice(bytes), under: bandwidth, pacedOn: loop) { piece in
            try await sink.write(piece)
            if up { counters.countUp(piece.count) } else { counters.countDown(piece.count) }
        }
    }

    static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

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
}
