/// One RFC 1961 message on a SOCKS5 control connection after GSS-API (method `01`) was chosen: version
/// `01`, a message type, a two-byte big-endian length and a token of that length; or the abort message,
/// the two octets `01 FF`, which has neither.
package struct GSSAPIMessage: Hashable, Sendable {
    /// The message type (MTYP).
    package struct Kind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        package let rawValue: UInt8
        package init(rawValue: UInt8) { self.rawValue = rawValue }

        /// A context-establishment token (`gss_init_sec_context` / `gss_accept_sec_context` output).
        static let contextEstablishment = Kind(rawValue: 0x01)
        /// The protection-level subnegotiation: one octet, wrapped (or in clear, NEC-style).
        static let protectionNegotiation = Kind(rawValue: 0x02)
        /// Encapsulated data: a `gss_wrap` token of the SOCKS messages or relayed data it carries.
        package static let encapsulation = Kind(rawValue: 0x03)
        /// The abort message: the context (or the subnegotiation) failed; the connection closes.
        package static let abort = Kind(rawValue: 0xFF)

        package var description: String { "0x" + (rawValue < 16 ? "0" : "") + String(rawValue, radix: 16) }
    }

    /// The only version RFC 1961 defines.
    package static let version: UInt8 = 0x01
    /// The largest token one message carries (its length field is two octets).
    package static let maximumTokenLength = 0xFFFF
    /// The abort message's bytes: what a server sends before it closes on a failed login.
    package static let abortBytes: [UInt8] = [0x01, 0xFF]

    package var kind: Kind
    /// The token; empty for the abort message.
    package var token: ArraySlice<UInt8>

    package init(kind: Kind, token: ArraySlice<UInt8>) {
        self.kind = kind
        self.token = token
    }

    /// Parses one message at the reader's position: `nil` when more bytes are needed (the reader's position
    /// is then unspecified); throws on a version other than `01`.
    package static func parse(from reader: inout ByteReader) throws(SOCKSProtocolError) -> GSSAPIMessage? {
        guard let version = reader.readByte() else { return nil }
        guard version == Self.version else { throw .unsupportedVersion(version) }
        guard let kind = reader.readByte().map(Kind.init(rawValue:)) else { return nil }
        if kind == .abort { return GSSAPIMessage(kind: .abort, token: []) }
        guard let length = reader.readUInt16(), let token = reader.readBytes(Int(length)) else { return nil }
        return GSSAPIMessage(kind: kind, token: token)
    }

    /// The message's bytes (the abort message: `01 FF`). The token must be at most `maximumTokenLength`
    /// octets long.
    package func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        encode(into: &bytes)
        return bytes
    }

    /// Appends the message's bytes to `bytes`.
    package func encode(into bytes: inout [UInt8]) {
        precondition(token.count <= Self.maximumTokenLength, "an RFC 1961 token is at most 65,535 octets")
        bytes.append(Self.version)
        bytes.append(kind.rawValue)
        guard kind != .abort else { return }
        bytes.append(UInt8(token.count >> 8))
        bytes.append(UInt8(token.count & 0xFF))
        bytes.append(contentsOf: token)
    }
}
