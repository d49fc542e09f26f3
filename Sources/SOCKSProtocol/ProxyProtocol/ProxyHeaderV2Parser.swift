/// The PROXY protocol v2 header (HAProxy's specification, section 2.2): a 16-byte head, then as many bytes as
/// its length says, which hold the address block and TLVs.
///
/// The head is checked byte by byte as it arrives: the signature, version 2, command LOCAL or PROXY, and only
/// the defined family (UNSPEC, INET, INET6, UNIX) and transport (UNSPEC, STREAM, DGRAM) nibbles. For PROXY, a
/// length shorter than the family's address block (0, 12, 36 or 216 bytes) is refused as soon as the length
/// is in, without waiting for the bytes it announces.
///
/// TLVs are skipped, but they must tile the rest exactly: a TLV whose 3-byte head or value runs past the
/// header's length is refused. The specification lets a receiver ignore the TLV bytes; it also says that a
/// sequence not matching the protocol aborts the connection, and a truncated TLV can only come from a broken
/// or forged sender (HAProxy refuses it too). For LOCAL the family is ignored, as the specification says: a
/// block shorter than the family's addresses is accepted and skipped whole; otherwise its TLVs are checked
/// as for PROXY (HAProxy's health checks send LOCAL with the UNSPEC family and their TLVs).
///
/// Addresses come out only for PROXY over STREAM with INET or INET6: see `ProxyHeader`.
enum ProxyHeaderV2Parser {
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// The signature, the version and command, the family and transport, and the length.
    static let headLength = 16

    /// Address block sizes by family nibble: UNSPEC (none), INET, INET6, UNIX.
    static let addressBlockLengths = [0, 12, 36, 216]

    static func parse(_ bytes: ArraySlice<UInt8>) throws(ProxyHeaderParseStop) -> ProxyHeaderParse {
        func byte(_ offset: Int) throws(ProxyHeaderParseStop) -> UInt8 {
            guard offset < bytes.count else { throw .needMoreBytes }
            return bytes[bytes.startIndex + offset]
        }
        func fail(_ reason: ProxyProtocolError.Reason, at offset: Int) -> ProxyHeaderParseStop {
            .invalid(ProxyProtocolError(reason, at: offset))
        }

        for (offset, expected) in signature.enumerated() where try byte(offset) != expected {
            throw fail(.notProxyProtocol, at: offset)
        }
        let versionAndCommand = try byte(12)
        guard versionAndCommand >> 4 == 2 else { throw fail(.unsupportedVersion(versionAndCommand >> 4), at: 12) }
        let command: ProxyHeader.Command
        switch versionAndCommand & 0x0F {
        case 0: command = .local
        case 1: command = .proxy
        case let other: throw fail(.unsupportedCommand(other), at: 12)
        }
        let familyAndTransport = try byte(13)
        let family = Int(familyAndTransport >> 4)
        let transport = familyAndTransport & 0x0F
        guard family < addressBlockLengths.count else { throw fail(.unknownFamily(UInt8(family)), at: 13) }
        guard transport <= 2 else { throw fail(.unknownTransport(transport), at: 13) }
        let length = Int(try byte(14)) << 8 | Int(try byte(15))
        let addressBlockLength = addressBlockLengths[family]
        if command == .proxy && length < addressBlockLength {
            throw fail(.addressBlockTooShort(length: length, needed: addressBlockLength), at: 14)
        }

        let headerLength = headLength + length
        guard bytes.count >= headerLength else { throw .needMoreBytes }
        let block = bytes.dropFirst(headLength).prefix(length)
        if length >= addressBlockLength {
            var offset = block.startIndex + addressBlockLength
            while offset < block.endIndex {
                let tlvStart = offset
                guard block.endIndex - offset >= 3 else { throw fail(.truncatedTLV, at: tlvStart - bytes.startIndex) }
                offset += 3 + (Int(block[offset + 1]) << 8 | Int(block[offset + 2]))
                guard offset <= block.endIndex else { throw fail(.truncatedTLV, at: tlvStart - bytes.startIndex) }
            }
        }

        var source: ProxyEndpoint?
        var destination: ProxyEndpoint?
        // STREAM over INET or INET6: the only addresses that describe a TCP connection.
        if command == .proxy && transport == 1 && (family == 1 || family == 2) {
            let size = family == 1 ? 4 : 16
            let start = block.startIndex
            let port = { (offset: Int) in UInt16(block[offset]) << 8 | UInt16(block[offset + 1]) }
            source = ProxyEndpoint(address: Array(block[start..<start + size]), port: port(start + 2 * size))
            destination = ProxyEndpoint(
                address: Array(block[start + size..<start + 2 * size]), port: port(start + 2 * size + 2))
        }
        return .header(ProxyHeader(version: 2, command: command, source: source, destination: destination), length: headerLength)
    }
}
