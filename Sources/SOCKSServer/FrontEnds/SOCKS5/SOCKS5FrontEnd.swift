import AsyncSockets
import SOCKSProtocol

/// The SOCKS5 front-end (RFC 1928, RFC 1929, RFC 1961): greeting, method choice, login (a password, or
/// GSS-API) and request, read through the sans-I/O `SOCKSServerHandshake` machine into one buffer, and its
/// replies written in SOCKS5's words.
///
/// The reads step around `connection.chunks`: the machine keeps the bytes in the array they were read into
/// and reads later ones into its spare room, so the whole handshake, and the success reply after it, use the
/// one buffer the session borrowed from the pool. A chunk sequence reads into its iterator's own buffer, so
/// the machine would copy every read into a second array: one allocation and one copy more per session,
/// where a CONNECT session costs 28 allocations in all (microsocks: 3; `Benchmarks/run.sh`, 2026-12-07).
struct SOCKS5FrontEnd {
    let connection: TCPConnection
    /// Whether a password login is required (users are configured): then method `02` is offered.
    let requiresLogin: Bool
    /// GSS-API logins, when configured: method `01` is offered (and, without users, it alone).
    let gssapi: GSSAPIAcceptor?

    /// Reads the request, starting with the bytes `received` already (the first of them the version byte
    /// that chose SOCKS5). `logIn` is the login stage for a password, `acceptToken` for a GSS-API token; a
    /// refusal writes the reply the machine has for it.
    ///
    /// - Returns: the request, and the buffer the handshake was read into (its capacity kept), for the
    ///   success reply.
    ///
    /// Never inlined (see `SOCKSSession.openSOCKS5`): its frame would be the session's for good.
    @inline(never)
    nonisolated(nonsending) func readRequest(
        adopting received: consuming [UInt8], logIn: (SOCKSCredentials) async -> LoginGate.Decision,
        acceptToken: ([UInt8], GSSAPISecurityContext) async -> LoginGate.GSSAPIDecision
    ) async throws -> (ClientRequest, buffer: [UInt8]) {
        // At least 256 bytes of room for each read, so a message split mid-way still gets a useful read.
        var machine = SOCKSServerHandshake(requiresAuthentication: requiresLogin, offersGSSAPI: gssapi != nil, adopting: consume received)
        // The GSS-API login, once the client chose it.
        var gssapiLogin: GSSAPILogin?
        var action = machine.next()
        // The name the login stage returned, when it differs from the one given (PAM_USER).
        var loggedInAs: String?
        while true {
            switch action {
            case .needMoreBytes:
                // After a read that left nothing queued (the greeting, as a rule), the client's next message
                // cannot be there before its edge: wait for it rather than make a `recv` that fails.
                var waitFirst = connection.inputLooksDrained
                while true {
                    if waitFirst { try await connection.waitUntilReadable() }
                    let count = try machine.receive(minimumRoom: 256) { [connection] buffer, offset throws(SocketError) in
                        try connection.readNow(into: &buffer, at: offset)
                    }
                    if let count {
                        guard count > 0 else { throw HandshakeError.clientClosed }
                        break
                    }
                    waitFirst = true
                }
                action = machine.next()
            case .send(let bytes):
                try await connection.write(bytes)
                action = machine.next()
            case .verifyCredentials(let credentials):
                switch await logIn(credentials) {
                case .checked(let verified, let user):
                    loggedInAs = user
                    action = machine.credentialsVerified(verified)
                case .refusedUnchecked(let reason):
                    if case .fail(let reply?, _) = machine.credentialsVerified(false) { try? await connection.write(reply) }
                    throw reason
                }
            case .acceptSecurityContext, .negotiateProtection, .unwrap:
                // In a function of its own, so that its locals take no room in this frame, which every SOCKS5
                // session keeps for as long as its task lives (the task allocator keeps its slabs).
                guard let gssapi else { throw HandshakeError.rejected(.outOfOrder) }
                action = try await gssapiStep(action, login: &gssapiLogin, acceptor: gssapi, machine: &machine, acceptToken: acceptToken)
            case .request(let request):
                guard let login = gssapiLogin else {
                    let accepted = ClientRequest(request: request, earlyData: machine.takeEarlyData(), user: loggedInAs ?? machine.authenticatedUser?.usernameText)
                    return (accepted, machine.takeBuffer())
                }
                return (login.clientRequest(request, machine: &machine), machine.takeBuffer())
            case .fail(let reply, let failure):
                if let reply {
                    // After a protection level was granted, the reply to a bad request is encapsulated too.
                    if let encapsulation = gssapiLogin?.encapsulation {
                        if case .success(let sealed) = encapsulation.seal(reply[...]) { try? await connection.write(sealed) }
                    } else {
                        try? await connection.write(reply)
                    }
                }
                throw HandshakeError.rejected(failure)
            }
        }
    }

    /// One GSS-API step of the handshake: a context token accepted through the login stage, or the
    /// protection level negotiated; returns the machine's next action.
    private nonisolated(nonsending) func gssapiStep(
        _ action: SOCKSServerHandshake.Action, login: inout GSSAPILogin?, acceptor: GSSAPIAcceptor, machine: inout SOCKSServerHandshake,
        acceptToken: ([UInt8], GSSAPISecurityContext) async -> LoginGate.GSSAPIDecision
    ) async throws -> SOCKSServerHandshake.Action {
        switch action {
        case .acceptSecurityContext(let token):
            let context = login?.context ?? acceptor.makeContext()
            if login == nil { login = GSSAPILogin(context: context) }
            switch await acceptToken(token, context) {
            case .checked(.continueNeeded(let reply)):
                return machine.securityContextStep(.continueNeeded(reply))
            case .checked(.established(let reply, let initiator)):
                login?.principal = initiator
                return machine.securityContextStep(.established(reply))
            case .checked(.failed(let reason)):
                return machine.securityContextStep(.refused(reason))
            case .refusedUnchecked(let reason):
                if case .fail(let reply?, _) = machine.securityContextStep(.refused("\(reason)")) { try? await connection.write(reply) }
                throw reason
            }
        case .negotiateProtection(let token):
            guard let context = login?.context else { throw HandshakeError.rejected(.outOfOrder) }
            let (next, level) = Self.negotiateProtection(token, minimum: acceptor.minimumProtection, context: context, machine: &machine)
            login?.protection = level
            return next
        case .unwrap(let token):
            guard let encapsulation = login?.encapsulation else { throw HandshakeError.rejected(.outOfOrder) }
            switch encapsulation.open(token[...]) {
            case .success(let plaintext): return machine.requestUnwrapped(plaintext)
            case .failure(let error): return machine.unwrapFailed("\(error)")
            }
        default:
            return action
        }
    }

    /// Answers the protection-level subnegotiation (RFC 1961 §4): the client's octet in clear (one octet, the
    /// NEC form curl sends with `--socks5-gssapi-nec`) or wrapped, and the granted level answered the same
    /// way (`GSSAPIProtection.granted`). Returns the machine's next action and the level granted, if any.
    static func negotiateProtection(
        _ token: [UInt8], minimum: GSSAPIProtection, context: GSSAPISecurityContext, machine: inout SOCKSServerHandshake
    ) -> (SOCKSServerHandshake.Action, GSSAPIProtection?) {
        let clear = token.count == 1
        let requested: UInt8
        if clear {
            requested = token[0]
        } else {
            switch context.unwrap(token[...]) {
            case .success(let plain) where plain.bytes.count == 1:
                requested = plain.bytes[0]
            case .success(let plain):
                return (machine.protectionRefused("the protection level is \(plain.bytes.count) octets, not one"), nil)
            case .failure(let error):
                return (machine.protectionRefused("the protection level cannot be unwrapped: \(error)"), nil)
            }
        }
        guard let level = GSSAPIProtection.granted(requested: requested, minimum: minimum) else {
            return (machine.protectionRefused("the client asked for protection level \(requested), which does not exist"), nil)
        }
        if clear { return (machine.protectionChosen(reply: [level.rawValue], encapsulated: level != .none), level) }
        switch context.wrap([level.rawValue], confidential: false) {
        case .success(let reply): return (machine.protectionChosen(reply: reply, encapsulated: level != .none), level)
        case .failure(let error): return (machine.protectionRefused("the answer cannot be wrapped: \(error)"), nil)
        }
    }
}
