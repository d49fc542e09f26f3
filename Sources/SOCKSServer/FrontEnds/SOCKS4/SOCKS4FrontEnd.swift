import AsyncSockets
import SOCKSProtocol

/// The SOCKS4/4a front-end: one request, read through the sans-I/O `SOCKS4RequestDecoder`, and replies in
/// SOCKS4's words (`5A`, `5B`). SOCKS4 carries no password: its user id is what the client says, kept for
/// the log only.
struct SOCKS4FrontEnd {
    let connection: TCPConnection

    /// Reads the request, starting with the bytes `received` already.
    ///
    /// - Returns: the request and the user id it carried.
    /// Never inlined, like `SOCKS5FrontEnd.readRequest`: its frame would be the session's for good.
    @inline(never)
    nonisolated(nonsending) func readRequest(received: consuming [UInt8]) async throws -> (ClientRequest, userID: [UInt8]) {
        var decoder = SOCKS4RequestDecoder()
        decoder.receive(received)
        // What was received becomes the read buffer (the decoder keeps its own copy of the bytes).
        var buffer = consume received
        while true {
            switch decoder.next() {
            case .needMoreBytes:
                buffer.removeAll(keepingCapacity: true)
                buffer.append(contentsOf: repeatElement(0, count: SOCKSSession.handshakeReadSize))
                let count = try await connection.read(into: &buffer)
                guard count > 0 else { throw HandshakeError.clientClosed }
                decoder.receive(buffer[0..<count])
            case .request(let request):
                let accepted = ClientRequest(
                    request: SOCKSRequest(command: request.command, destination: request.destination), earlyData: decoder.takeEarlyData(), user: nil)
                return (accepted, request.userID)
            case .fail(let reply, let error):
                if let reply { try? await connection.write(reply) }
                throw HandshakeError.rejectedSOCKS4(error)
            }
        }
    }

    /// Refuses a request because users must log in, which SOCKS4 cannot (`5B`).
    nonisolated(nonsending) func refuseWithoutLogin() async throws(HandshakeError) {
        try? await connection.write(SOCKS4Reply(code: .rejected).encoded())
        throw HandshakeError.socks4WithoutLogin
    }
}
