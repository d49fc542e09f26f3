import SOCKSProtocol

/// A SOCKS5 session's GSS-API login (RFC 1961) as the front-end carries it: the security context being
/// accepted, the client's principal once it is complete, and the protection level granted.
struct GSSAPILogin {
    let context: GSSAPISecurityContext
    /// The client's principal (`alice@EXAMPLE.TEST`), once the context is established.
    var principal: String?
    /// The level granted in the subnegotiation.
    var protection: GSSAPIProtection?

    /// What wraps and unwraps the session's messages, once a level above 0 was granted.
    var encapsulation: GSSAPIEncapsulation? {
        guard let protection, protection != .none else { return nil }
        return GSSAPIEncapsulation(context: context, level: protection)
    }

    /// The request the login's handshake read, for the stages after it: the principal as its user, the
    /// level, and under encapsulation the unwrapped early data and the bytes still encapsulated after it.
    func clientRequest(_ request: SOCKSRequest, machine: inout SOCKSServerHandshake) -> ClientRequest {
        guard let encapsulation else {
            var accepted = ClientRequest(request: request, earlyData: machine.takeEarlyData(), user: principal)
            accepted.gssapi = GSSAPISession(protection: protection ?? .none, encapsulation: nil, encapsulatedInput: [])
            return accepted
        }
        let plaintext = machine.takeUnwrappedEarlyData()
        var accepted = ClientRequest(request: request, earlyData: plaintext, user: principal)
        accepted.gssapi = GSSAPISession(protection: encapsulation.level, encapsulation: encapsulation, encapsulatedInput: machine.takeEarlyData())
        return accepted
    }
}
