import SOCKSProtocol

/// What a GSS-API login (RFC 1961) leaves a session: the level granted, and above level 0 the protection
/// every message after the request travels under, with the bytes the client sent encapsulated after its
/// request (read with the handshake, not yet unwrapped).
///
/// A class, so that the request and the session each hold one reference to it: a struct would make every
/// session's frames and state bigger, logged in by GSS-API or not.
final class GSSAPISession: Sendable {
    let protection: GSSAPIProtection
    let encapsulation: GSSAPIEncapsulation?
    let encapsulatedInput: [UInt8]

    init(protection: GSSAPIProtection, encapsulation: GSSAPIEncapsulation?, encapsulatedInput: [UInt8]) {
        self.protection = protection
        self.encapsulation = encapsulation
        self.encapsulatedInput = encapsulatedInput
    }
}
