import SOCKSProtocol

/// The per-message protection of a SOCKS5 session after a GSS-API login at level 1 or 2 (RFC 1961 §5):
/// everything after the subnegotiation, each way, travels as messages of type 3 whose token is `gss_wrap`
/// of the plaintext, signed at level 1 (integrity), encrypted as well at level 2 (confidentiality).
struct GSSAPIEncapsulation: Sendable {
    let context: GSSAPISecurityContext
    /// The level granted: `.integrity` or `.confidentiality`.
    let level: GSSAPIProtection

    /// The most plaintext wrapped into one message: its token (the plaintext with the mechanism's header,
    /// checksum and padding, well under 100 octets for Kerberos) must fit the two-octet length.
    static let maximumPiece = 32 * 1024

    /// `bytes` as encapsulated messages, ready to write: pieces of at most `maximumPiece` octets, each wrapped.
    func seal(_ bytes: ArraySlice<UInt8>) -> Result<[UInt8], GSSAPIMessageError> {
        var sealed: [UInt8] = []
        var start = bytes.startIndex
        repeat {
            let end = min(start + Self.maximumPiece, bytes.endIndex)
            switch context.wrap(Array(bytes[start..<end]), confidential: level == .confidentiality) {
            case .success(let token):
                guard token.count <= GSSAPIMessage.maximumTokenLength else {
                    return .failure(GSSAPIMessageError(reason: "a wrapped token of \(token.count) octets does not fit a message"))
                }
                GSSAPIMessage(kind: .encapsulation, token: token[...]).encode(into: &sealed)
            case .failure(let error):
                return .failure(error)
            }
            start = end
        } while start < bytes.endIndex
        return .success(sealed)
    }

    /// A datagram's plaintext (its SOCKS UDP header and payload) as one encapsulated message, the datagram to
    /// send (RFC 1961 §5: each datagram is wrapped whole); nil when it cannot be wrapped into one message.
    func sealDatagram(_ plaintext: [UInt8]) -> [UInt8]? {
        guard case .success(let token) = context.wrap(plaintext, confidential: level == .confidentiality),
            token.count <= GSSAPIMessage.maximumTokenLength
        else { return nil }
        return GSSAPIMessage(kind: .encapsulation, token: token[...]).encoded()
    }

    /// The plaintext of a datagram that is one encapsulated message, all of it.
    func openDatagram(_ datagram: ArraySlice<UInt8>) -> Result<[UInt8], GSSAPIMessageError> {
        var reader = ByteReader(datagram)
        guard let message = try? GSSAPIMessage.parse(from: &reader), message.kind == .encapsulation, reader.remaining == 0 else {
            return .failure(GSSAPIMessageError(reason: "not one encapsulated message"))
        }
        return open(message.token)
    }

    /// The plaintext of one encapsulated message's token; at level 2 a token without confidentiality is
    /// refused, since the client agreed to encrypt everything.
    func open(_ token: ArraySlice<UInt8>) -> Result<[UInt8], GSSAPIMessageError> {
        switch context.unwrap(token) {
        case .success(let plain):
            guard plain.confidential || level != .confidentiality else {
                return .failure(GSSAPIMessageError(reason: "a message without confidentiality at level 2"))
            }
            return .success(plain.bytes)
        case .failure(let error):
            return .failure(error)
        }
    }
}
