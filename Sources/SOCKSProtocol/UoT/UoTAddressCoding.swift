// UoT's two address encodings (see udp-over-tcp.md §2): the v2 request header uses SOCKS5's ATYP
// (01 IPv4, 03 domain, 04 IPv6); every per-packet address uses 00 IPv4, 01 IPv6, 02 domain. The byte 01
// means IPv4 in one and IPv6 in the other: the classic interop bug, kept in this one file.

extension ByteReader {
    /// Reads `FAM ADDR PORT` in UoT's per-packet encoding. IPv4-mapped IPv6 is read as IPv4.
    ///
    /// - Returns: `nil` when more bytes are needed.
    /// - Throws: `.invalidDomain` for an empty name, or one that is no host name (`HostName`).
    package mutating func readUoTEndpoint() throws(UoTProtocolError) -> SOCKSEndpoint? {
        switch try readUoTAddress() {
        case .endpoint(let endpoint)?: endpoint
        case .unaddressable?: throw .invalidDomain
        case nil: nil
        }
    }

    /// Reads `FAM ADDR PORT` in UoT's per-packet encoding, telling a name that is no host name (`HostName`:
    /// a space, a byte that is not UTF-8, …) apart from a malformed address: such a name is read whole, so a
    /// frame reader can skip its frame and go on.
    ///
    /// - Returns: `nil` when more bytes are needed.
    /// - Throws: `.invalidDomain` for an empty name (the reference reader desyncs on it), or an unknown family.
    mutating func readUoTAddress() throws(UoTProtocolError) -> UoTFrame.Address? {
        guard let family = readByte() else { return nil }
        let address: SOCKSAddress
        switch family {
        case 0x00:
            guard let bytes = readBytes(4) else { return nil }
            address = .ipv4(Array(bytes))
        case 0x01:
            guard let bytes = readBytes(16) else { return nil }
            address = SOCKSAddress.unmappingIPv4(Array(bytes))
        case 0x02:
            guard let length = readByte() else { return nil }
            guard length > 0 else { throw .invalidDomain }
            guard let name = readBytes(Int(length)) else { return nil }
            guard let port = readUInt16() else { return nil }
            // Refused rather than decoded with U+FFFD: the text is exactly the bytes sent, or there is none.
            guard let text = HostName.text(name) else { return .unaddressable(name: Array(name), port: port) }
            return .endpoint(SOCKSEndpoint(address: .domain(text), port: port))
        default:
            throw .unknownAddressFamily(family)
        }
        guard let port = readUInt16() else { return nil }
        return .endpoint(SOCKSEndpoint(address: address, port: port))
    }
}

extension Array where Element == UInt8 {
    /// Appends `FAM ADDR PORT` in UoT's per-packet encoding.
    mutating func appendUoTEndpoint(_ endpoint: SOCKSEndpoint) {
        switch endpoint.address {
        case .ipv4(let bytes):
            append(0x00)
            append(contentsOf: bytes)
        case .ipv6(let bytes):
            append(0x01)
            append(contentsOf: bytes)
        case .domain(let name):
            let bytes = Array(name.utf8.prefix(255))
            append(0x02)
            append(UInt8(bytes.count))
            append(contentsOf: bytes)
        }
        appendUInt16(endpoint.port)
    }
}

extension SOCKSAddress {
    /// `.ipv4` for an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), `.ipv6` otherwise.
    static func unmappingIPv4(_ bytes: [UInt8]) -> SOCKSAddress {
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            return .ipv4(Array(bytes[12..<16]))
        }
        return .ipv6(bytes)
    }
}
