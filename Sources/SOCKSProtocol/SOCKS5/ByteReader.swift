/// A cursor over received bytes for incremental parsing: every read returns `nil` when the bytes run out,
/// and the caller rewinds and waits for more.
package struct ByteReader {
    package let bytes: ArraySlice<UInt8>
    /// The index of the next unread byte.
    package private(set) var position: Int

    package init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    /// How many bytes have been read.
    package var consumed: Int { position - bytes.startIndex }
    /// How many bytes are left.
    package var remaining: Int { bytes.endIndex - position }

    mutating func readByte() -> UInt8? {
        guard position < bytes.endIndex else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readUInt16() -> UInt16? {
        guard remaining >= 2 else { return nil }
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    mutating func readBytes(_ count: Int) -> ArraySlice<UInt8>? {
        guard remaining >= count else { return nil }
        defer { position += count }
        return bytes[position..<position + count]
    }

    /// Reads `ATYP ADDR PORT` in the standard SOCKS5 encoding.
    ///
    /// - Returns: `nil` when more bytes are needed.
    /// - Throws: `SOCKSProtocolError.unsupportedAddressType`, or `.invalidDomainName` for an empty name or one
    ///   that is no host name (`HostName`).
    mutating func readEndpoint() throws(SOCKSProtocolError) -> SOCKSEndpoint? {
        guard let type = readByte() else { return nil }
        let address: SOCKSAddress
        switch SOCKSAddressType(rawValue: type) {
        case .ipv4:
            guard let bytes = readBytes(4) else { return nil }
            address = .ipv4(Array(bytes))
        case .ipv6:
            guard let bytes = readBytes(16) else { return nil }
            address = .ipv6(Array(bytes))
        case .domain:
            guard let length = readByte() else { return nil }
            guard length > 0 else { throw .invalidDomainName([]) }
            guard let name = readBytes(Int(length)) else { return nil }
            // Refused rather than decoded with U+FFFD: the text is exactly the bytes sent, or there is none.
            guard let text = HostName.text(name) else { throw .invalidDomainName(Array(name)) }
            address = .domain(text)
        default:
            throw .unsupportedAddressType(type)
        }
        guard let port = readUInt16() else { return nil }
        return SOCKSEndpoint(address: address, port: port)
    }
}

extension Array where Element == UInt8 {
    /// Appends a big-endian 16-bit integer.
    mutating func appendUInt16(_ value: UInt16) {
        append(UInt8(value >> 8))
        append(UInt8(value & 0xFF))
    }

    /// Appends `ATYP ADDR PORT` in the standard SOCKS5 encoding.
    ///
    /// A domain longer than 255 bytes cannot be encoded; it is cut to 255 (`SOCKSRequest` refuses such names
    /// before they get here).
    package mutating func appendEndpoint(_ endpoint: SOCKSEndpoint) {
        // One growth at most for the whole endpoint, not one per part.
        reserveCapacity(count + endpoint.encodedCount)
        append(endpoint.address.addressType.rawValue)
        switch endpoint.address {
        case .ipv4(let bytes), .ipv6(let bytes):
            append(contentsOf: bytes)
        case .domain(let name):
            let bytes = name.utf8.prefix(255)
            append(UInt8(bytes.count))
            append(contentsOf: bytes)
        }
        appendUInt16(endpoint.port)
    }

    /// A message of `header` bytes and then `endpoint` (`ATYP ADDR PORT`), in one allocation: the replies and
    /// requests a session writes.
    static func message(_ header: UInt8, _ second: UInt8, _ third: UInt8, endpoint: SOCKSEndpoint) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(3 + endpoint.encodedCount)
        bytes.append(header)
        bytes.append(second)
        bytes.append(third)
        bytes.appendEndpoint(endpoint)
        return bytes
    }
}
