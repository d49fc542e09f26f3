/// The PROXY protocol v1 line, read strictly (HAProxy's specification, section 2.1):
///
///     PROXY TCP4 <src-ip> <dst-ip> <src-port> <dst-port>\r\n      (or TCP6)
///     PROXY UNKNOWN[ <anything without CR or LF>]\r\n
///
/// Exactly one space between fields, no leading zeros in IPv4 numbers and ports, the address text of the
/// family named, and CRLF within 107 bytes. A CR or LF that does not belong to the final CRLF is refused
/// everywhere, `UNKNOWN`'s ignored rest included: the specification forbids ending the line with either alone.
struct ProxyHeaderV1Parser {
    /// The longest line, CRLF included: `PROXY UNKNOWN` with two full IPv6 addresses and ports.
    static let maximumLength = 107

    private let bytes: ArraySlice<UInt8>
    /// The offset of the next byte, from the start of the line.
    private var offset = 0

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
    }

    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")
    private static let space = UInt8(ascii: " ")
    private static let protocols: [[UInt8]] = [Array("TCP4".utf8), Array("TCP6".utf8), Array("UNKNOWN".utf8)]

    mutating func parse() throws(ProxyHeaderParseStop) -> ProxyHeaderParse {
        for expected in "PROXY ".utf8 where try read() != expected {
            throw fail(.notProxyProtocol, at: offset - 1)
        }
        let ipv6: Bool
        switch try readProtocol() {
        case .tcp4: ipv6 = false
        case .tcp6: ipv6 = true
        case .unknown(let lineEnded):
            if !lineEnded { try skipToLineEnd() }
            return .header(ProxyHeader(version: 1, command: .proxy, source: nil, destination: nil), length: offset)
        }
        let sourceAddress = try readAddress(.sourceAddress, ipv6: ipv6)
        let destinationAddress = try readAddress(.destinationAddress, ipv6: ipv6)
        let sourcePort = try readPort(.sourcePort)
        let destinationPort = try readPort(.destinationPort)
        return .header(
            ProxyHeader(
                version: 1, command: .proxy, source: ProxyEndpoint(address: sourceAddress, port: sourcePort),
                destination: ProxyEndpoint(address: destinationAddress, port: destinationPort)),
            length: offset)
    }

    /// The next byte. Past the 107-byte limit the line is refused without waiting for that byte.
    private mutating func read() throws(ProxyHeaderParseStop) -> UInt8 {
        guard offset < Self.maximumLength else { throw fail(.lineTooLong, at: offset) }
        guard offset < bytes.count else { throw .needMoreBytes }
        defer { offset += 1 }
        return bytes[bytes.startIndex + offset]
    }

    private func fail(_ reason: ProxyProtocolError.Reason, at offset: Int) -> ProxyHeaderParseStop {
        .invalid(ProxyProtocolError(reason, at: offset))
    }

    /// How a field ended.
    private enum Terminator { case space, lineEnd }

    /// Classifies the byte just read: a space, the CR of a CRLF (whose LF is then read), or `nil` for a
    /// field's own byte. A lone LF is a bad line ending wherever it is.
    private mutating func terminator(_ byte: UInt8) throws(ProxyHeaderParseStop) -> Terminator? {
        switch byte {
        case Self.space:
            return .space
        case Self.cr:
            guard try read() == Self.lf else { throw fail(.badLineEnding, at: offset - 1) }
            return .lineEnd
        case Self.lf:
            throw fail(.badLineEnding, at: offset - 1)
        default:
            return nil
        }
    }

    /// The protocol named after `PROXY `.
    private enum LineProtocol {
        case tcp4, tcp6
        /// `lineEnded`: `UNKNOWN` was followed by CRLF rather than a space.
        case unknown(lineEnded: Bool)
    }

    /// `TCP4`, `TCP6` (each followed by a space) or `UNKNOWN` (followed by a space or CRLF), refused at the
    /// first byte no protocol name has there.
    private mutating func readProtocol() throws(ProxyHeaderParseStop) -> LineProtocol {
        // The names that the bytes so far begin, as a bit set over `protocols`; no array is built, since a
        // header arriving in pieces is parsed again from its start on every read.
        var candidates = (1 << Self.protocols.count) - 1
        var length = 0
        while true {
            let byte = try read()
            let start = offset - 1
            guard let end = try terminator(byte) else {
                for (index, name) in Self.protocols.enumerated() where length >= name.count || name[length] != byte {
                    candidates &= ~(1 << index)
                }
                guard candidates != 0 else { throw fail(.unknownProtocol, at: start) }
                length += 1
                continue
            }
            // A name cut short, such as `TCP`, matches none.
            guard let index = Self.protocols.indices.first(where: { candidates & 1 << $0 != 0 && Self.protocols[$0].count == length })
            else { throw fail(.unknownProtocol, at: start) }
            if index == 2 { return .unknown(lineEnded: end == .lineEnd) }
            guard end == .space else { throw fail(.missingField(.sourceAddress), at: start) }
            return index == 0 ? .tcp4 : .tcp6
        }
    }

    /// `UNKNOWN`'s rest of the line: anything up to CRLF, ignored.
    private mutating func skipToLineEnd() throws(ProxyHeaderParseStop) {
        while true {
            let byte = try read()
            // A space is just a byte here; CR must start the CRLF, and LF alone is refused.
            if byte != Self.space, try terminator(byte) == .lineEnd { return }
        }
    }

    /// An address followed by one space.
    private mutating func readAddress(_ field: ProxyProtocolError.Field, ipv6: Bool) throws(ProxyHeaderParseStop) -> [UInt8] {
        let invalid = ProxyProtocolError.Reason.invalidAddress(field, ipv6: ipv6)
        var ipv4Scanner = IPAddressText.IPv4Scanner()
        var ipv6Scanner = IPAddressText.IPv6Scanner()
        while true {
            let byte = try read()
            let start = offset - 1
            switch try terminator(byte) {
            case nil:
                let viable = ipv6 ? ipv6Scanner.feed(byte) : ipv4Scanner.feed(byte)
                guard viable else { throw fail(invalid, at: start) }
            case .space?:
                guard let address = ipv6 ? ipv6Scanner.bytes : ipv4Scanner.bytes else { throw fail(invalid, at: start) }
                return address
            case .lineEnd?:
                guard ipv6 ? ipv6Scanner.bytes != nil : ipv4Scanner.isComplete else { throw fail(invalid, at: start) }
                throw fail(.missingField(field == .sourceAddress ? .destinationAddress : .sourcePort), at: start)
            }
        }
    }

    /// A port followed by one space (the source port) or by CRLF (the destination port).
    private mutating func readPort(_ field: ProxyProtocolError.Field) throws(ProxyHeaderParseStop) -> UInt16 {
        var value = 0
        var digits = 0
        while true {
            let byte = try read()
            let start = offset - 1
            let end = try terminator(byte)
            guard let end else {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte), !(digits == 1 && value == 0) else {
                    throw fail(.invalidPort(field), at: start)
                }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
                guard value <= 65535 else { throw fail(.invalidPort(field), at: start) }
                continue
            }
            guard digits > 0 else { throw fail(.invalidPort(field), at: start) }
            switch (field, end) {
            case (.destinationPort, .lineEnd), (.sourcePort, .space): return UInt16(value)
            case (.destinationPort, .space): throw fail(.expectedLineEnd, at: start)
            default: throw fail(.missingField(.destinationPort), at: start)
            }
        }
    }
}
