import AsyncSockets
import SOCKSProtocol

/// The SOCKS5 front-end (RFC 1928, RFC 1929): greeting, method choice, login and request, read through the
/// sans-I/O `SOCKSServerHandshake` machine into one buffer, and its replies written in SOCKS5's words.
///
/// The reads step around `connection.chunks`: the machine keeps the bytes in the array they were read into
/// and reads later ones into its spare room, so the whole handshake, and the success reply after it, use the
/// one buffer the session borrowed from the pool. A chunk sequence reads into its iterator's own buffer, so
/// the machine would copy every read into a second array: one allocation and one copy more per session,
/// where a CONNECT session costs 32 allocations in all (microsocks: 3; `Benchmarks/run.sh`, ONLY=counts).
struct SOCKS5FrontEnd {
    let connection: TCPConnection
    /// Whether a login is required (users are configured): then only method `02` is offered.
    let requiresLogin: Bool

    /// Reads the request, starting with the bytes `received` already (the first of them the version byte
    /// that chose SOCKS5). `logIn` is the login stage; a refusal writes the reply the machine has for it.
    ///
    /// - Returns: the request, and the buffer the handshake was read into (its capacity kept), for the
    ///   success reply.
    ///
    /// Never inlined (see `SOCKSSession.openSOCKS5`): its frame would be the session's for good.
    @inline(never)
    nonisolated(nonsending) func readRequest(
        adopting received: consuming [UInt8], logIn: (SOCKSCredentials) async -> LoginGate.Decision
    ) async throws -> (ClientRequest, buffer: [UInt8]) {
        // At least 256 bytes of room for each read, so a message split mid-way still gets a useful read.
        var machine = SOCKSServerHandshake(requiresAuthentication: requiresLogin, adopting: consume received)
        var action = machine.next()
        // The name the login stage returned, when it differs from the one given (PAM_USER).
        var loggedInAs: String?
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
                switch await logIn(credentials) {
                case .checked(let verified, let user):
                    loggedInAs = user
                    action = machine.credentialsVerified(verified)
                case .refusedUnchecked(let reason):
                    if case .fail(let reply?, _) = machine.credentialsVerified(false) { try? await connection.write(reply) }
                    throw reason
                }
            case .request(let request):
                let accepted = ClientRequest(request: request, earlyData: machine.takeEarlyData(), user: loggedInAs ?? machine.authenticatedUser?.usernameText)
                return (accepted, machine.takeBuffer())
            case .fail(let reply, let failure):
                if let reply { try? await connection.write(reply) }
                throw HandshakeError.rejected(failure)
            }
        }
    }
}
