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

        var description: String {
            switch self {
            case .clientClosed: "client closed the connection during the handshake"
            case .rejected(let failure): failure.description
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
            context.logger.info(record.line)
        }
        // The handshake deadline is a loop timer that closes the connection (which wakes the pending read):
        // no task group, no child task, no dispatch timer for what almost every session meets in time.
        let deadline = connection.eventLoop.schedule(after: context.configuration.handshakeTimeout) { [connection] in
            connection.close()
        }
        defer { deadline.cancel() }
        let accepted: Accepted
        do {
            accepted = try await Self.handshake(on: connection, users: context.configuration.users)
        } catch {
            deadline.cancel()
            let failure = deadline.hasFired ? SocketError.timedOut : error
            record.handshakeFailed = true
            record.outcome = handshakeOutcome(failure)
            context.logger.warning("session \(record.client): handshake failed: \(describe(failure))")
            return
        }
        record.user = accepted.user
        record.command = accepted.request.command
        record.destination = accepted.request.destination
        context.logger.debug("session \(record.client): \(accepted.request.command) \(accepted.request.destination)")

        deadline.cancel()
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

    /// Reads greeting, login and request through the sans-I/O state machine.
    private static func handshake(on connection: TCPConnection, users: UserDatabase?) async throws -> Accepted {
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
                action = machine.credentialsVerified(await users?.verify(credentials) ?? false)
            case .request(let request):
                return Accepted(request: request, earlyData: machine.takeEarlyData(), user: machine.authenticatedUser?.usernameText)
            case .fail(let reply, let failure):
                if let reply { try? await connection.write(reply) }
                throw HandshakeError.rejected(failure)
            }
        }
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
