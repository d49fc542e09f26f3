import AsyncSockets
import SOCKSProtocol

/// One client connection, from greeting to teardown.
///
/// The actor owns the session's state (what the access log will say); the data itself moves on `Sendable`
/// sockets in `run()`'s own task (a spliced TCP relay) or its child tasks (UDP and UoT relays, the copying
/// fallback), never through an actor hop per chunk. The session's lifetime is its task: when the client's
/// connection ends or the task is cancelled, everything under it ends.
actor SOCKSSession {
    /// What the handshake produced.
    struct Accepted: Sendable {
        var request: SOCKSRequest
        var earlyData: [UInt8]
        var user: String?
    }

    /// Why a session ended before serving a request.
    enum HandshakeError: Error, CustomStringConvertible {
        case clientClosed
        case rejected(SOCKSHandshakeFailure)
        /// A login refused unchecked: the client's IP is serving a login backoff.
        case throttled
        /// A login refused unchecked: the password checker's queue was full.
        case checkerBusy

        var description: String {
            switch self {
            case .clientClosed: "client closed the connection during the handshake"
            case .rejected(let failure): failure.description
            case .throttled: "login refused: too many failed logins from this address"
            case .checkerBusy: "login refused: the password checker is busy"
            }
        }
    }

    let connection: TCPConnection
    let context: SessionContext
    var record: SessionRecord

    init(connection: TCPConnection, context: SessionContext) {
        self.connection = connection
        self.context = context
        self.record = SessionRecord(client: connection.remoteAddress.unmapped)
    }

    func run() async {
        context.metrics.sessionStarted()
        defer {
            connection.close()
            context.metrics.sessionEnded(up: record.bytesUp, down: record.bytesDown, handshakeFailed: record.handshakeFailed)
            // Logins refused during a backoff are summarised by the throttle's report, not logged one by one.
            if !record.summarized { context.logger.info(record.line) }
        }
        // The handshake deadline is a loop timer that closes the connection (which wakes the pending read):
        // no task group, no child task, no dispatch timer for what almost every session meets in time.
        let deadline = connection.eventLoop.schedule(after: context.configuration.handshakeTimeout) { [connection] in
            connection.close()
        }
        defer { deadline.cancel() }
        let accepted: Accepted
        do {
            accepted = try await handshake()
        } catch {
            deadline.cancel()
            let failure = deadline.hasFired ? SocketError.timedOut : error
            record.handshakeFailed = true
            record.outcome = handshakeOutcome(failure)
            switch failure {
            case HandshakeError.rejected(.authenticationFailed), HandshakeError.throttled, HandshakeError.checkerBusy:
                // A failed login is the access line alone (outcome auth-failed, with the user name), so a
                // guessing client costs one line per try; refusals during a backoff are summarised.
                break
            default:
                context.logger.warning("session \(record.client): handshake failed: \(describe(failure))")
            }
            return
        }
        record.user = accepted.user
        record.command = accepted.request.command
        record.destination = accepted.request.destination
        context.logger.debug("session \(record.client): \(accepted.request.command) \(accepted.request.destination)")

        deadline.cancel()
        if let user = accepted.user, let limit = context.userLimit {
            guard limit.enter(user) else {
                context.metrics.refusedByUserLimit()
                await refuse("user \(SOCKSLogger.escapingFieldValue(user)) has \(limit.limit) sessions open (--max-sessions-per-user)")
                return
            }
        }
        defer { if let user = accepted.user { context.userLimit?.leave(user) } }
        switch accepted.request.command {
        case .connect:
            if let version = UoTVersion(destination: accepted.request.destination) {
                await serveUoT(version, accepted)
            } else {
                await serveConnect(accepted)
            }
        case .bind:
            await serveBind(accepted)
        case .udpAssociate:
            await serveUDPAssociate(accepted)
        default:
            await fail(.commandNotSupported, reason: "command \(accepted.request.command) not supported")
        }
    }

    /// Reads greeting, login and request through the sans-I/O state machine. A login from an IP serving a
    /// backoff is refused without checking the password; a failed one counts towards the IP's backoff.
    private func handshake() async throws -> Accepted {
        let users = context.configuration.users
        var machine = SOCKSServerHandshake(requiresAuthentication: users != nil)
        // Enough for a greeting, a login and a request sent together; early data beyond it stays in the
        // socket for the relay to read.
        var buffer = [UInt8](repeating: 0, count: 768)
        var action = machine.next()
        while true {
            switch action {
            case .needMoreBytes:
                let count = try await connection.read(into: &buffer)
                guard count > 0 else { throw HandshakeError.clientClosed }
                machine.receive(buffer[0..<count])
                action = machine.next()
            case .send(let bytes):
                try await connection.write(bytes)
                action = machine.next()
            case .verifyCredentials(let credentials):
                record.user = credentials.usernameText
                let client = record.client.ip
                if context.loginThrottle.isBlocked(client) {
                    context.metrics.loginThrottled()
                    record.summarized = true
                    context.throttledLoginReport {
                        context.logger.warning("session \(record.client): login refused: this address is throttled after too many failed logins")
                    }
                    if case .fail(let reply?, _) = machine.credentialsVerified(false) { try? await connection.write(reply) }
                    throw HandshakeError.throttled
                }
                let verification = await users?.check(credentials) ?? .rejected
                switch verification {
                case .accepted:
                    break
                case .rejected:
                    loginFailed(from: client)
                case .unavailable:
                    // The hash checker is saturated: refuse, but this is no failed guess of the client's.
                    context.metrics.loginUnchecked()
                    record.summarized = true
                    context.busyCheckerReport {
                        context.logger.warning("session \(record.client): login refused: the password checker is busy")
                    }
                    if case .fail(let reply?, _) = machine.credentialsVerified(false) { try? await connection.write(reply) }
                    throw HandshakeError.checkerBusy
                }
                action = machine.credentialsVerified(verification == .accepted)
            case .request(let request):
                return Accepted(request: request, earlyData: machine.takeEarlyData(), user: machine.authenticatedUser?.usernameText)
            case .fail(let reply, let failure):
                if let reply { try? await connection.write(reply) }
                throw HandshakeError.rejected(failure)
            }
        }
    }

    /// Counts a failed login towards the client's backoff, and says so when this one starts a backoff.
    private func loginFailed(from client: IPAddress) {
        context.metrics.loginFailed()
        if case .blocked(let backoff) = context.loginThrottle.recordFailure(client) {
            let settings = context.loginThrottle.settings
            context.logger.warning(
                "login throttling: \(client) failed \(settings.failureLimit) logins within \(settings.window); refusing its logins for \(backoff)")
        }
    }

    /// Answers a request the access policy denies: reply 02, the rule in the log and the access line.
    func deny(_ denial: AccessDenied) async {
        context.metrics.deniedRequest()
        record.outcome = "denied(\(denial.reason))"
        context.logger.warning("session \(record.client): \(record.command?.description ?? "request") \(denial)")
        try? await connection.write(SOCKSReply(code: .notAllowed).encoded())
    }

    /// Answers a request over a per-user or UDP limit: reply 02; the warning is summarised under a flood.
    func refuse(_ reason: String) async {
        record.outcome = "refused(limit)"
        context.limitReport {
            context.logger.warning("session \(record.client): \(record.command?.description ?? "request") refused: \(reason)")
        }
        try? await connection.write(SOCKSReply(code: .notAllowed).encoded())
    }

    /// Sends a failure reply and records why; the connection is closed when `run()` returns.
    func fail(_ code: SOCKSReplyCode, reason: String) async {
        record.outcome = "failed(\(code.hex) \(code))"
        context.logger.warning("session \(record.client): \(record.command?.description ?? "request") \(record.destination?.description ?? "") failed: \(reason)")
        try? await connection.write(SOCKSReply(code: code).encoded())
    }

    private func handshakeOutcome(_ error: any Error) -> String {
        switch error {
        case SocketError.timedOut: "handshake-timeout"
        case HandshakeError.clientClosed: "client-closed"
        case HandshakeError.throttled: "auth-throttled"
        case HandshakeError.checkerBusy: "auth-busy"
        case HandshakeError.rejected(.authenticationFailed): "auth-failed"
        case HandshakeError.rejected(.noAcceptableMethod): "no-acceptable-method"
        case HandshakeError.rejected(.malformed(let problem)): "malformed(\(problem))"
        default: "handshake-error"
        }
    }

    private func describe(_ error: any Error) -> String {
        switch error {
        case SocketError.timedOut: "no complete request within \(context.configuration.handshakeTimeout)"
        default: "\(error)"
        }
    }
}
