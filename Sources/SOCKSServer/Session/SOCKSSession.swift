import AsyncSockets
import SOCKSProtocol

/// One client connection, from greeting to teardown.
///
/// The actor owns the session's state (what the access log will say); the data itself moves on `Sendable`
/// sockets in child tasks of `run()`'s task (a TCP relay's two directions, the UDP and UoT relays' loops),
/// never through an actor hop per chunk; HTTP forwarding runs its request loop in the session's own task.
/// The session's lifetime is its task: when the client's connection ends or the task is cancelled,
/// everything under it ends.
actor SOCKSSession {
    /// What the handshake produced.
    struct Accepted: Sendable {
        var request: SOCKSRequest
        var earlyData: [UInt8]
        var user: String?
        /// For an HTTP request to forward (absolute form), the request itself; `request` is then a CONNECT
        /// to its origin, which is what rules, limits and metrics see.
        var forward: HTTPForwardStart? = nil
    }

    /// What the first bytes of a connection opened: a SOCKS request to serve, or an HTTP request.
    enum Opening: Sendable {
        case request(Accepted)
        /// An HTTP/1.x request starts with these bytes (all read so far).
        case http(firstBytes: [UInt8])
    }

    /// Why a session ended before serving a request.
    enum HandshakeError: Error, CustomStringConvertible {
        case clientClosed
        case rejected(SOCKSHandshakeFailure)
        /// A login refused unchecked: the client's IP is serving a login backoff.
        case throttled
        /// A login refused unchecked: the password checker's queue was full.
        case checkerBusy
        /// The first byte starts no protocol socksd speaks.
        case unknownProtocol(firstByte: UInt8)
        /// The first byte chose a protocol this listener does not accept.
        case protocolNotAccepted(ClientProtocol)
        /// A SOCKS4 request that is not one.
        case rejectedSOCKS4(SOCKS4ProtocolError)
        /// A SOCKS4 request while users must log in: SOCKS4 carries no password (answered 5B).
        case socks4WithoutLogin
        /// An HTTP request refused with `status` before anything was served (already answered).
        case httpRefused(HTTPStatus, reason: String)
        /// An HTTP request without credentials while users must log in (answered 407; no failed login).
        case httpLoginRequired

        var description: String {
            switch self {
            case .clientClosed: "client closed the connection during the handshake"
            case .rejected(let failure): failure.description
            case .throttled: "login refused: too many failed logins from this address"
            case .checkerBusy: "login refused: the password checker is busy"
            case .unknownProtocol(let byte):
                "closed: the first byte \(SOCKSSession.hex(byte)) starts no protocol socksd speaks (SOCKS5, SOCKS4, HTTP)"
            case .protocolNotAccepted(let chosen):
                "closed: \(chosen) is not among this listener's protocols (--protocols)"
            case .rejectedSOCKS4(let error): "malformed SOCKS4 request: \(error)"
            case .socks4WithoutLogin: "SOCKS4 request refused (5B): users must log in, and SOCKS4 carries no password"
            case .httpRefused(let status, let reason): "HTTP request answered \(status.code): \(reason)"
            case .httpLoginRequired: "HTTP request without Proxy-Authorization answered 407"
            }
        }
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
        // The handshake deadline is a loop timer that closes the connection (which wakes the pending read):
        // no task group, no child task, no dispatch timer for what almost every session meets in time.
        let deadline = connection.eventLoop.schedule(after: context.configuration.handshakeTimeout) { [connection] in
            connection.close()
        }
        defer { deadline.cancel() }
        let accepted: Accepted
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
            return
        }
        record.user = accepted.user.map { Array($0.utf8) }
        record.command = accepted.request.command
        record.destination = accepted.request.destination
        tracker.accepted(user: accepted.user, command: accepted.request.command, destination: accepted.request.destination)
        context.metrics.handshakeCompleted(record)
        context.logger.debug("session \(record.client): \(accepted.request.command) \(SOCKSLogger.escapingFieldValue(accepted.request.destination.description))")

        deadline.cancel()
        defer { leaveUserLimit() }
        guard await serve(as: accepted.user) else { return }
        let uot = UoTVersion(destination: accepted.request.destination)
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
            return .request(try await handshake(received: consume received))
        case .socks4:
            dialect = .socks4
            return .request(try await handshakeSOCKS4(received: consume received))
        case .http:
            return .http(firstBytes: received)
        }
    }

    /// Writes the success reply (in the client's dialect) with `bound` as BND; a SOCKS5 reply is written from
    /// the handshake's buffer, if the session still holds it, which then goes back to the pool.
    func writeSuccessReply(bound: SOCKSEndpoint) async throws {
        guard dialect == .socks5, var buffer = spareBuffer.take() else {
            try await connection.write(dialect.successReply(bound: bound))
            return
        }
        buffer.removeAll(keepingCapacity: true)
        SOCKSReply(code: .succeeded, bound: bound).encode(into: &buffer)
        try await connection.write(buffer)
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

    /// Reads a SOCKS4/4a request through its sans-I/O decoder. The user id is only logged (it proves
    /// nothing); while users must log in, the request is answered 5B: SOCKS4 has no password to check.
    private func handshakeSOCKS4(received: consuming [UInt8]) async throws -> Accepted {
        var decoder = SOCKS4RequestDecoder()
        decoder.receive(received)
        // What was received becomes the read buffer (the decoder keeps its own copy of the bytes).
        var buffer = consume received
        while true {
            switch decoder.next() {
            case .needMoreBytes:
                buffer.removeAll(keepingCapacity: true)
                buffer.append(contentsOf: repeatElement(0, count: Self.handshakeReadSize))
                let count = try await connection.read(into: &buffer)
                guard count > 0 else { throw HandshakeError.clientClosed }
                decoder.receive(buffer[0..<count])
            case .request(let request):
                record.socks4UserID = request.userID
                guard context.configuration.users == nil else {
                    // Configuration refuses SOCKS4 beside users; this holds whatever a reload or an embedder did.
                    try? await connection.write(SOCKS4Reply(code: .rejected).encoded())
                    throw HandshakeError.socks4WithoutLogin
                }
                return Accepted(
                    request: SOCKSRequest(command: request.command, destination: request.destination), earlyData: decoder.takeEarlyData(), user: nil)
            case .fail(let reply, let error):
                if let reply { try? await connection.write(reply) }
                throw HandshakeError.rejectedSOCKS4(error)
            }
        }
    }

    /// Reads greeting, login and request through the sans-I/O state machine, starting with the bytes
    /// `received` already. A login from an IP serving a backoff is refused without checking the password;
    /// a failed one counts towards the IP's backoff.
    private func handshake(received: consuming [UInt8]) async throws -> Accepted {
        let users = context.configuration.users
        // The machine keeps the bytes in the array they were read into and reads later ones into its spare
        // room (at least 256 bytes, so a message split mid-way still gets a useful read): one buffer for
        // the whole handshake.
        var machine = SOCKSServerHandshake(requiresAuthentication: users != nil, adopting: consume received)
        var action = machine.next()
        while true {
            switch action {
            case .needMoreBytes:
                while true {
                    let count = try machine.receive(minimumRoom: 256) { [connection] buffer, offset throws(SocketError) in
                        try connection.readNow(into: &buffer, at: offset)
                    }
                    if let count {
                        guard count > 0 else { throw HandshakeError.clientClosed }
                        break
                    }
                    try await connection.waitUntilReadable()
                }
                action = machine.next()
            case .send(let bytes):
                try await connection.write(bytes)
                action = machine.next()
            case .verifyCredentials(let credentials):
                record.user = credentials.username
                switch await checkLogin(credentials, against: users) {
                case .checked(let verified):
                    action = machine.credentialsVerified(verified)
                case .refusedUnchecked(let reason):
                    if case .fail(let reply?, _) = machine.credentialsVerified(false) { try? await connection.write(reply) }
                    throw reason
                }
            case .request(let request):
                let accepted = Accepted(request: request, earlyData: machine.takeEarlyData(), user: machine.authenticatedUser?.usernameText)
                // Kept for the success reply if it is one of the pool's size (not the bytes read with a PROXY
                // header).
                let buffer = machine.takeBuffer()
                if buffer.capacity >= Self.handshakeReadSize { spareBuffer = buffer }
                return accepted
            case .fail(let reply, let failure):
                if let reply { try? await connection.write(reply) }
                throw HandshakeError.rejected(failure)
            }
        }
    }

    /// How a login ended: checked (right or wrong), or refused without a check.
    enum LoginDecision {
        case checked(Bool)
        case refusedUnchecked(HandshakeError)
    }

    /// Takes a login past the throttle, checks it, and counts a failure towards the client's backoff. A
    /// client that has as many logins in flight as it has tries left waits for them, polling on the loop's
    /// timer at doubling intervals (20 ms up to 1 s, so a crowd of waiting logins costs few wake-ups) within
    /// the handshake deadline, which closes the connection; one serving a backoff, or whose password cannot
    /// be checked now, is refused unchecked and summarised in the log.
    func checkLogin(_ credentials: SOCKSCredentials, against users: UserDatabase?) async -> LoginDecision {
        let client = record.client.ip
        let throttle = context.loginThrottle
        var pollInterval = Duration.milliseconds(20)
        var waited = Duration.zero
        admission: while true {
            switch throttle.beginAttempt(client) {
            case .proceed:
                break admission
            case .wait where waited < context.configuration.handshakeTimeout && !connection.isClosed:
                try? await connection.eventLoop.sleep(for: pollInterval)
                waited += pollInterval
                pollInterval = min(pollInterval * 2, .seconds(1))
            case .wait, .refuse:
                context.metrics.loginThrottled()
                record.summarized = true
                context.throttledLoginReport {
                    context.logger.warning("session \(record.client): login refused: this address is throttled after too many failed logins")
                }
                return .refusedUnchecked(.throttled)
            }
        }
        let verification = await users?.check(credentials) ?? .rejected
        let outcome = throttle.endAttempt(client, failed: verification == .rejected)
        switch verification {
        case .accepted:
            return .checked(true)
        case .rejected:
            context.metrics.loginFailed()
            if case .blocked(let backoff) = outcome {
                let settings = throttle.settings
                context.logger.warning(
                    "login throttling: \(client.clientNetwork) failed \(settings.failureLimit) logins within \(settings.window); refusing its logins for \(backoff)")
            }
            return .checked(false)
        case .unavailable:
            // The hash checker is saturated: refuse, but this is no failed guess of the client's.
            context.metrics.loginUnchecked()
            record.summarized = true
            context.busyCheckerReport {
                context.logger.warning("session \(record.client): login refused: the password checker is busy")
            }
            return .refusedUnchecked(.checkerBusy)
        }
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
        try? await connection.write(dialect.failureReply(code))
        if dialect == .http { await drainBeforeClose() }
    }

    /// The access line's outcome for a handshake (or an HTTP request's login) that ended with `error`.
    func handshakeOutcome(_ error: any Error) -> SessionOutcome {
        switch error {
        case SocketError.timedOut: .handshakeTimeout
        case HandshakeError.clientClosed: .clientClosed
        case HandshakeError.throttled: .authThrottled
        case HandshakeError.checkerBusy: .authBusy
        case HandshakeError.rejected(.authenticationFailed): .authFailed
        case HandshakeError.rejected(.noAcceptableMethod): .noAcceptableMethod
        case HandshakeError.rejected(.malformed(let problem)): .malformed("\(problem)")
        case HandshakeError.rejectedSOCKS4(let problem): .malformed("\(problem)")
        case HandshakeError.unknownProtocol(let byte): .unsupportedProtocol(Self.hex(byte))
        case HandshakeError.protocolNotAccepted(let chosen): .unsupportedProtocol("\(chosen)")
        case HandshakeError.socks4WithoutLogin, HandshakeError.httpLoginRequired: .authRequired
        case HandshakeError.httpRefused(let status, _): .failedHTTP(status: status.code)
        default: .handshakeError
        }
    }

    /// `0x16`: a byte as the log shows one.
    static func hex(_ byte: UInt8) -> String {
        "0x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
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
