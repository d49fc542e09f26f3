import AsyncSockets
import SOCKSProtocol

/// One client connection, from its first byte to teardown: the pipeline that calls the stages in order.
///
/// `run()` calls `handshake()`, where the first byte chooses the front-end (`SOCKS5FrontEnd`,
/// `SOCKS4FrontEnd`, `HTTPFrontEnd`), which turns the client's bytes into a `ClientRequest` (taking a login
/// to the login stage, `LoginGate`, through `logIn`); then `serveRequest(_:)`: the user's place under its
/// limits, the policy, the egress (`reach`, `makeDatagramEgress`: direct or upstream) and the command's
/// relay (`Relays/`), each answering in the client's dialect.
///
/// The actor owns only what one session owns: its access record, its access policy and user, its place
/// under the limits. The data moves on `Sendable` sockets in child tasks of `run()`'s task (a TCP relay's
/// two directions, the UDP and UoT relays' loops), never through an actor hop per chunk; HTTP forwarding
/// runs its request loop in the session's own task. The session's lifetime is its task: when the client's
/// connection ends or the task is cancelled, everything under it ends.
actor SOCKSSession {
    /// What the first bytes of a connection opened: a SOCKS request to serve, or an HTTP request.
    enum Opening: Sendable {
        case request(ClientRequest)
        /// An HTTP/1.x request starts with these bytes (all read so far).
        case http(firstBytes: [UInt8])
    }

    let connection: TCPConnection
    let context: SessionContext

    /// The loop that watches the client's connection: the session's code runs there, inline for the task
    /// that serves it, and readiness resumes it without a hop through a default actor's queue.
    nonisolated var unownedExecutor: UnownedSerialExecutor { connection.eventLoop.asUnownedSerialExecutor() }

    var record: SessionRecord
    /// The access policy this session works under: the server's until the login, then its user's.
    var access: SessionAccess
    /// What the session summary and a reload see of this session.
    nonisolated let tracker: SessionTracker
    /// The user's bandwidth cap, shared with the user's other sessions; nil for none.
    var bandwidth: BandwidthLimiter?
    /// The user whose request the session serves (nil without a login): its rules, cap and session limit
    /// apply. On an HTTP connection each request's own login decides, so it can change between requests.
    private(set) var servedUser: String?
    /// The user this session is counted for under `--max-sessions-per-user`, if any.
    private var countedUser: String?

    /// After a GSS-API login: the level granted, and above level 0 what every reply and relayed byte is
    /// wrapped with (RFC 1961 §5).
    var gssapi: GSSAPISession?

    /// What the listener accepts: the first byte must choose one of these.
    let protocols: Set<ClientProtocol>
    /// How replies are written: in the words of the protocol the client spoke.
    var dialect = ClientDialect.socks5

    /// Bytes of the greeting that came before the session started (after a PROXY header, in one segment).
    private var initialBytes: [UInt8]
    /// The SOCKS5 handshake's pooled buffer, kept until the success reply is written from it (then wiped and
    /// given back to the pool, before the relay starts), or until the session ends.
    private var spareBuffer: [UInt8]?

    /// - Parameters:
    ///   - protocols: what the listener accepts; the connection's first byte chooses among them.
    ///   - client: the client's address, when a PROXY header named it; otherwise the connection's peer.
    ///   - initialBytes: the start of the request, already read with the PROXY header.
    init(
        connection: TCPConnection, context: SessionContext, protocols: Set<ClientProtocol> = ClientProtocol.defaultSet,
        client: SocketAddress? = nil, initialBytes: [UInt8] = []
    ) {
        self.connection = connection
        self.context = context
        self.protocols = protocols
        self.initialBytes = initialBytes
        self.record = SessionRecord(client: client ?? connection.remoteAddress.unmapped)
        self.access = context.access
        self.tracker = SessionTracker(connection: connection, client: client ?? connection.remoteAddress.unmapped)
    }

    func run() async {
        context.metrics.sessionStarted()
        context.openSessions.insert(self)
        defer {
            if let buffer = spareBuffer.take() { Self.recycle(buffer) }
            context.openSessions.remove(self)
            connection.close()
            context.metrics.sessionEnded(record)
            // Logins refused during a backoff are summarised by the throttle's report, not logged one by one.
            if !record.summarized { context.logger.info(record.accessEvent) }
        }
        guard let accepted = await handshake() else { return }
        defer { leaveUserLimit() }
        await serveRequest(accepted)
    }

    /// The handshake under its deadline: the front-end the first byte chooses, its login, and the request
    /// written into the record. Nil when it failed (the record says how, and the failure is logged).
    ///
    /// This and `serveRequest(_:)` are functions of their own, never inlined into `run()`: the task
    /// allocator keeps the slabs of a session's deepest stack for the session's life, and `run()`'s frame,
    /// under every relay, held the locals of both halves (752 bytes).
    @inline(never)
    private func handshake() async -> ClientRequest? {
        // The handshake deadline closes the connection, which wakes the pending read.
        let deadline = connection.closing(after: context.configuration.handshakeTimeout)
        defer { deadline.cancel() }
        let accepted: ClientRequest
        do {
            switch try await open() {
            case .request(let request):
                accepted = request
            case .http(let firstBytes):
                accepted = try await openHTTP(firstBytes: firstBytes)
            }
        } catch {
            deadline.cancel()
            let failure = deadline.hasFired ? SocketError.timedOut : error
            record.handshakeFailed = true
            record.outcome = handshakeOutcome(failure)
            switch failure {
            case HandshakeError.rejected(.authenticationFailed), HandshakeError.throttled, HandshakeError.checkerBusy,
                HandshakeError.httpLoginRequired:
                // A failed login is the access line alone (outcome auth-failed, with the user name), so a
                // guessing client costs one line per try; refusals during a backoff are summarised.
                break
            default:
                context.logger.warning("session \(record.client): handshake failed: \(describe(failure))")
            }
            return nil
        }
        record.user = accepted.user.map { Array($0.utf8) }
        record.protection = accepted.gssapi?.protection
        gssapi = accepted.gssapi
        record.command = accepted.request.command
        record.destination = accepted.request.destination
        tracker.accepted(user: accepted.user, command: accepted.request.command, destination: accepted.request.destination)
        context.metrics.handshakeCompleted(record)
        context.logger.debug("session \(record.client): \(accepted.request.command) \(SOCKSLogger.escapingFieldValue(accepted.request.destination.description))")
        return accepted
    }

    /// The accepted request, served by its command's relay as its user, in the client's dialect.
    @inline(never)
    private func serveRequest(_ accepted: ClientRequest) async {
        guard await serve(as: accepted.user) else { return }
        let uot = UoTVersion(destination: accepted.request.destination)
        if gssapi?.encapsulation != nil, uot != nil {
            await refuseUnderProtection("UDP over TCP")
            return
        }
        switch (dialect, accepted.request.command) {
        case (.socks5, .connect) where uot != nil:
            await serveUoT(uot!, accepted)
        case (.http, .connect) where accepted.forward != nil:
            await serveHTTPForwarding(accepted)
        case (_, .connect) where uot != nil:
            // UoT's magic names mean a stream of SOCKS5 UDP frames; over SOCKS4a they are refused, not
            // looked up as names (they would only fail to resolve, after a trip to the resolver).
            await fail(.commandNotSupported, reason: "UDP over TCP is served over SOCKS5 only")
        case (_, .connect):
            await serveConnect(accepted)
        case (_, .bind):
            await serveBind(accepted)
        case (.socks5, .udpAssociate):
            await serveUDPAssociate(accepted)
        default:
            await fail(.commandNotSupported, reason: "command \(accepted.request.command) not supported over \(dialect)")
        }
    }

    /// Refuses a command not served under GSS-API per-message protection yet (07, encapsulated): UDP over
    /// TCP, whose relay reads frames from the socket itself (`UoTFrames`, shared with the client library)
    /// and writes them straight to it, with no place for the unwrapping and wrapping between.
    private func refuseUnderProtection(_ command: String) async {
        await fail(.commandNotSupported, reason: "\(command) is not served under GSS-API protection (level 1 or 2) yet")
    }

    /// Makes `user` the one this session serves: its access policy and bandwidth cap, and its place under
    /// its session limit (the previous user's place is given up). Answers 02 / 403 and returns false when
    /// the user already has as many sessions as the limit allows.
    func serve(as user: String?) async -> Bool {
        guard user != servedUser else { return true }
        leaveUserLimit()
        servedUser = user
        access = context.access(for: user)
        bandwidth = user.flatMap { user in
            context.configuration.userPolicies[user]?.bandwidthLimit.map { context.runtime.bandwidthLimiter(for: user, bytesPerSecond: $0) }
        }
        if let user, let limit = context.sessionLimit(for: user) {
            guard context.userSessions.enter(user, limit: limit) else {
                context.metrics.refusedByUserLimit()
                await refuse("user \(SOCKSLogger.escapingFieldValue(user)) has \(limit) sessions open (--max-sessions-per-user)")
                return false
            }
            countedUser = user
        }
        return true
    }

    /// Gives up the session's place under its user's session limit, if it holds one.
    private func leaveUserLimit() {
        guard let user = countedUser else { return }
        context.userSessions.leave(user)
        countedUser = nil
    }

    /// Takes the first bytes (those read with a PROXY header, or one read now), lets the first byte choose
    /// the protocol, and runs that protocol's handshake; an HTTP request is handed back to be served as HTTP.
    private func open() async throws -> Opening {
        var received: [UInt8]
        if !initialBytes.isEmpty {
            received = initialBytes
            initialBytes = []
        } else {
            // Lent by the pool, given back when a SOCKS5 handshake is done with it.
            received = DatagramBufferPool.handshakes.borrow()
            let count = try await connection.read(into: &received)
            guard count > 0 else { throw HandshakeError.clientClosed }
            // Keeps the capacity: a SOCKS5 handshake reads its later messages into it.
            received.removeSubrange(count...)
        }
        let firstByte = received[0]
        guard let chosen = ClientProtocol(firstByte: firstByte) else { throw HandshakeError.unknownProtocol(firstByte: firstByte) }
        record.clientProtocol = chosen
        guard protocols.contains(chosen) else { throw HandshakeError.protocolNotAccepted(chosen) }
        switch chosen {
        case .socks5:
            return .request(try await openSOCKS5(received: consume received))
        case .socks4:
            return .request(try await openSOCKS4(received: consume received))
        case .http:
            return .http(firstBytes: received)
        }
    }

    // The front-ends are called from functions of their own that are never inlined: a task keeps the
    // allocator slabs its deepest stack needed for as long as it lives, so a handshake's frames inlined
    // into `open()` (1,344–1,616 bytes) made every idle session pay a larger slab.

    /// The SOCKS5 front-end, with the login stage for its RFC 1929 or GSS-API (RFC 1961) login.
    @inline(never)
    private func openSOCKS5(received: consuming [UInt8]) async throws -> ClientRequest {
        let frontEnd = makeSOCKS5FrontEnd()
        let (request, buffer) = try await frontEnd.readRequest(adopting: consume received) { credentials in
            await logIn(credentials)
        } acceptToken: { token, securityContext in
            await acceptSecurityToken(token, into: securityContext)
        }
        // Kept for the success reply if it is one of the pool's size (not the bytes read with a PROXY header).
        if buffer.capacity >= Self.handshakeReadSize { spareBuffer = buffer }
        return request
    }

    /// The SOCKS5 front-end for this session's configuration. Made here, not in `openSOCKS5`: asking
    /// whether there are users copied the whole user database into that async frame (704 → 208 bytes).
    @inline(never)
    private func makeSOCKS5FrontEnd() -> SOCKS5FrontEnd {
        SOCKS5FrontEnd(connection: connection, requiresLogin: context.configuration.users != nil, gssapi: context.configuration.gssapi)
    }

    /// The SOCKS4/4a front-end; a request while users must log in is refused (`5B`).
    @inline(never)
    private func openSOCKS4(received: consuming [UInt8]) async throws -> ClientRequest {
        dialect = .socks4
        let frontEnd = SOCKS4FrontEnd(connection: connection)
        let (request, userID) = try await frontEnd.readRequest(received: consume received)
        record.socks4UserID = userID
        // Configuration refuses SOCKS4 beside users; this holds whatever a reload or an embedder did.
        if context.configuration.requiresLogin { try await frontEnd.refuseWithoutLogin() }
        return request
    }

    /// Writes the success reply (in the client's dialect) with `bound` as BND; a SOCKS5 reply is written from
    /// the handshake's buffer, if the session still holds it. Either way the buffer goes back to the pool,
    /// wiped, whether the write succeeds or not: after the reply nothing reads into it again.
    func writeSuccessReply(bound: SOCKSEndpoint) async throws {
        if let encapsulation = gssapi?.encapsulation {
            if let buffer = spareBuffer.take() { Self.recycle(buffer) }
            try await connection.write(try encapsulation.seal(SOCKSReply(code: .succeeded, bound: bound).encoded()[...]).get())
            return
        }
        guard dialect == .socks5, var buffer = spareBuffer.take() else {
            try await connection.write(dialect.successReply(bound: bound))
            return
        }
        buffer.removeAll(keepingCapacity: true)
        SOCKSReply(code: .succeeded, bound: bound).encode(into: &buffer)
        do {
            try await connection.write(buffer)
        } catch {
            Self.recycle(buffer)
            throw error
        }
        Self.recycle(buffer)
    }

    /// Gives a handshake buffer back to the pool, wiped: it held the client's messages, a password among them.
    private static func recycle(_ buffer: consuming [UInt8]) {
        var buffer = buffer
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: repeatElement(0, count: handshakeReadSize))
        DatagramBufferPool.handshakes.giveBack(buffer)
    }

    /// How much one read of the handshake takes at most: enough for a greeting, a login and a request sent
    /// together (or a whole SOCKS4a request); early data beyond it stays in the socket for the relay to read.
    static let handshakeReadSize = 768

    /// The login stage, for a front-end that read a user name and password: the record names the user as
    /// given; a refusal without a check is summarised in the log rather than logged on its own.
    func logIn(_ credentials: SOCKSCredentials) async -> LoginGate.Decision {
        record.user = credentials.username
        let decision = await LoginGate(context: context, client: record.client, connection: connection).check(credentials)
        if case .refusedUnchecked = decision { record.summarized = true }
        return decision
    }

    /// The login stage, for a GSS-API token (RFC 1961); a refusal without a check is summarised in the log.
    func acceptSecurityToken(_ token: [UInt8], into securityContext: GSSAPISecurityContext) async -> LoginGate.GSSAPIDecision {
        let decision = await LoginGate(context: context, client: record.client, connection: connection).accept(token, into: securityContext)
        if case .refusedUnchecked = decision { record.summarized = true }
        return decision
    }

    /// Answers a request the access policy denies: reply 02 (in the client's dialect), the rule in the log and the access line.
    func deny(_ denial: AccessDenied) async {
        context.metrics.deniedRequest()
        record.outcome = .denied(denial)
        context.logger.warning("session \(record.client): \(requestName) \(denial)")
        await writeFailureReply(.notAllowed)
    }

    /// Answers a request over a per-user or UDP limit: reply 02 (in the client's dialect); the warning is summarised under a flood.
    func refuse(_ reason: String) async {
        record.outcome = .refusedByLimit
        context.limitReport {
            context.logger.warning("session \(record.client): \(requestName) refused: \(reason)")
        }
        await writeFailureReply(.notAllowed)
    }

    /// Sends a failure reply (in the client's dialect) and records why; the connection is closed when `run()` returns.
    func fail(_ code: SOCKSReplyCode, reason: String) async {
        record.outcome = .failed(code)
        let destination = record.destination.map { SOCKSLogger.escapingFieldValue($0.description) } ?? ""
        context.logger.warning("session \(record.client): \(requestName) \(destination) failed: \(reason)")
        await writeFailureReply(code)
    }

    /// What the log calls the request: its HTTP method, or its SOCKS command.
    private var requestName: String {
        record.httpMethod ?? record.command?.description ?? "request"
    }

    /// Writes the failure reply in the client's dialect; an HTTP client's unread bytes are drained first, so
    /// the close does not reset the answer away.
    private func writeFailureReply(_ code: SOCKSReplyCode) async {
        if let encapsulation = gssapi?.encapsulation {
            if case .success(let sealed) = encapsulation.seal(dialect.failureReply(code)[...]) { try? await connection.write(sealed) }
            return
        }
        try? await connection.write(dialect.failureReply(code))
        if dialect == .http { await httpFrontEnd.drainBeforeClose() }
    }

    /// The HTTP front-end of this session's connection.
    var httpFrontEnd: HTTPFrontEnd {
        HTTPFrontEnd(connection: connection, requiresLogin: context.configuration.requiresLogin, metrics: context.metrics)
    }

    /// The HTTP side of a listener: the connection's first byte was an ASCII letter, so `firstBytes` (all
    /// read so far) start an HTTP/1.x request. Reads the request head within the handshake deadline, and
    /// hands back what to serve once its login (if users must log in) is accepted.
    private func openHTTP(firstBytes: [UInt8]) async throws -> ClientRequest {
        dialect = .http
        let frontEnd = httpFrontEnd
        var inbound = HTTPInbound(connection: connection, buffered: firstBytes)
        guard let request = try await frontEnd.readRequest(from: &inbound) else { throw HandshakeError.clientClosed }
        record.httpMethod = request.head.method
        record.destination = request.destination
        let user = try await frontEnd.authenticate(request) { credentials in await logIn(credentials) }
        return frontEnd.clientRequest(for: request, user: user, inbound: &inbound)
    }

    /// The access line's outcome for a handshake (or an HTTP request's login) that ended with `error`.
    func handshakeOutcome(_ error: any Error) -> SessionOutcome {
        switch error {
        case SocketError.timedOut: .handshakeTimeout
        case HandshakeError.clientClosed: .clientClosed
        case HandshakeError.throttled: .authThrottled
        case HandshakeError.checkerBusy: .authBusy
        case HandshakeError.rejected(.authenticationFailed), HandshakeError.rejected(.gssapiFailed): .authFailed
        case HandshakeError.rejected(.noAcceptableMethod): .noAcceptableMethod
        case HandshakeError.rejected(.malformed(let problem)): .malformed("\(problem)")
        case HandshakeError.rejectedSOCKS4(let problem): .malformed("\(problem)")
        case HandshakeError.unknownProtocol(let byte): .unsupportedProtocol(HandshakeError.hex(byte))
        case HandshakeError.protocolNotAccepted(let chosen): .unsupportedProtocol("\(chosen)")
        case HandshakeError.socks4WithoutLogin, HandshakeError.httpLoginRequired: .authRequired
        case HandshakeError.httpRefused(let status, _): .failedHTTP(status: status.code)
        default: .handshakeError
        }
    }

    private func describe(_ error: any Error) -> String {
        switch error {
        case SocketError.timedOut: "no complete request within \(context.configuration.handshakeTimeout)"
        // The name that is no host name, escaped as sent (the error's description leaves it out).
        case HandshakeError.rejected(.malformed(.invalidDomainName(let name))), HandshakeError.rejectedSOCKS4(.invalidHostname(let name)):
            "\(error): \(SOCKSLogger.escapingFieldValue(name))"
        default: "\(error)"
        }
    }
}
