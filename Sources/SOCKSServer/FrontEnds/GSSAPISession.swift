import SOCKSProtocol

/// What a GSS-API login (RFC 1961) leaves a session: the level granted, and above level 0 the protection
/// every message after the request travels under, with the bytes the client sent encapsulated after its
/// request (read with the handshake, not yet unwrapped).
struct GSSAPISession: Sendable {
    var protection: GSSAPIProtection
    var encapsulation: GSSAPIEncapsulation?
    var encapsulatedInput: [UInt8]
}
