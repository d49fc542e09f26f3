/// The server's SOCKS4 reply: `00 CD DSTPORT DSTIP`, eight bytes.
///
/// For CONNECT clients ignore the address; for BIND the first reply says where the peer should connect and
/// the second which peer did. SOCKS4 has only IPv4: an IPv6 or name endpoint is written as `0.0.0.0` with
/// its port (RFC-less SOCKS4 says a zero address means "the server's own address").
package struct SOCKS4Reply: Hashable, Sendable {
    package var code: SOCKS4ReplyCode
    package var port: UInt16
    /// Four network-order bytes.
    package var address: [UInt8]

    package init(code: SOCKS4ReplyCode, port: UInt16 = 0, address: [UInt8] = [0, 0, 0, 0]) {
        self.code = code
        self.port = port
        self.address = address
    }

    /// A reply carrying `bound`: its IPv4 address (an IPv4-mapped IPv6 one unmapped), else `0.0.0.0`.
    package init(code: SOCKS4ReplyCode, bound: SOCKSEndpoint) {
        switch bound.address {
        case .ipv4(let bytes) where bytes.count == 4:
            self.init(code: code, port: bound.port, address: bytes)
        case .ipv6(let bytes) where bytes.count == 16 && bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF:
            self.init(code: code, port: bound.port, address: Array(bytes[12..<16]))
        default:
            self.init(code: code, port: bound.port)
        }
    }

    /// The eight bytes on the wire.
    package func encoded() -> [UInt8] {
        var bytes: [UInt8] = [0x00, code.rawValue]
        bytes.appendUInt16(port)
        bytes.append(contentsOf: address.count == 4 ? address : [0, 0, 0, 0])
        return bytes
    }

    /// - Returns: `nil` when more bytes are needed.
    /// - Throws: `SOCKS4ProtocolError.unsupportedVersion` when the first byte is not 00.
    package static func parse(from reader: inout ByteReader) throws(SOCKS4ProtocolError) -> SOCKS4Reply? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x00 else { throw .unsupportedVersion(version) }
        guard let code = reader.readByte(), let port = reader.readUInt16(), let address = reader.readBytes(4) else { return nil }
        return SOCKS4Reply(code: SOCKS4ReplyCode(rawValue: code), port: port, address: Array(address))
    }
}
