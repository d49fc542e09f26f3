/// Why bytes at the start of a connection are not a valid PROXY protocol header. The connection must be
/// closed: nothing after a malformed header can be trusted or resynchronised.
///
/// The description names the rule that was broken and where, never the bytes themselves: a log line shows
/// what a peer sent only as numbers.
package struct ProxyProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A field of a v1 line.
    package enum Field: Sendable, Hashable, CustomStringConvertible {
        case sourceAddress, destinationAddress, sourcePort, destinationPort

        package var description: String {
            switch self {
            case .sourceAddress: "source address"
            case .destinationAddress: "destination address"
            case .sourcePort: "source port"
            case .destinationPort: "destination port"
            }
        }
    }

    /// The rule the header breaks.
    package enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// The first bytes are neither `PROXY ` (v1) nor the v2 signature.
        case notProxyProtocol
        /// v1: no CRLF within the first 107 bytes.
        case lineTooLong
        /// v1: a CR not followed by LF, or an LF not preceded by CR.
        case badLineEnding
        /// v1: the protocol is not `TCP4`, `TCP6` or `UNKNOWN`.
        case unknownProtocol
        /// v1: the line ends (CRLF) where this field should start.
        case missingField(Field)
        /// v1: not a dotted quad of 0–255 without leading zeros (`TCP4`), or not IPv6 text (`TCP6`); this also
        /// covers an empty field, that is two spaces in a row.
        case invalidAddress(Field, ipv6: Bool)
        /// v1: not a decimal 0–65535 without leading zeros.
        case invalidPort(Field)
        /// v1: something other than CRLF after the destination port.
        case expectedLineEnd
        /// v2: the high nibble of byte 13 is not 2.
        case unsupportedVersion(UInt8)
        /// v2: the low nibble of byte 13 is neither 0 (LOCAL) nor 1 (PROXY).
        case unsupportedCommand(UInt8)
        /// v2: the high nibble of byte 14 is not 0–3 (UNSPEC, INET, INET6, UNIX).
        case unknownFamily(UInt8)
        /// v2: the low nibble of byte 14 is not 0–2 (UNSPEC, STREAM, DGRAM).
        case unknownTransport(UInt8)
        /// v2 PROXY: the length is shorter than the family's address block.
        case addressBlockTooShort(length: Int, needed: Int)
        /// v2: the bytes after the address block are not whole TLVs: a TLV's 3-byte head or its value runs
        /// past the header's length.
        case truncatedTLV

        package var description: String {
            switch self {
            case .notProxyProtocol: "not a PROXY protocol header (neither \"PROXY \" nor the v2 signature)"
            case .lineTooLong: "v1 line has no CRLF within 107 bytes"
            case .badLineEnding: "v1 line ending is not CRLF (a lone CR or LF)"
            case .unknownProtocol: "v1 protocol is not TCP4, TCP6 or UNKNOWN"
            case .missingField(let field): "v1 line ends before the \(field)"
            case .invalidAddress(let field, let ipv6):
                ipv6 ? "v1 \(field) is not IPv6 text (TCP6)" : "v1 \(field) is not a dotted quad without leading zeros (TCP4)"
            case .invalidPort(let field): "v1 \(field) is not a decimal 0-65535 without leading zeros"
            case .expectedLineEnd: "v1 line has more than CRLF after the destination port"
            case .unsupportedVersion(let version): "v2 version is \(version), not 2"
            case .unsupportedCommand(let command): "v2 command is \(command), neither LOCAL (0) nor PROXY (1)"
            case .unknownFamily(let family): "v2 address family is \(family), not 0-3"
            case .unknownTransport(let transport): "v2 transport is \(transport), not 0-2"
            case .addressBlockTooShort(let length, let needed):
                "v2 length \(length) is shorter than the family's \(needed)-byte address block"
            case .truncatedTLV: "v2 TLV runs past the header's length"
            }
        }
    }

    /// The rule broken.
    package var reason: Reason
    /// Where, counted from the header's first byte: the byte that showed the problem (for a v1 line without
    /// CRLF, 107; for a v2 length, 14, the length's first byte; for a TLV, its first byte).
    package var offset: Int

    package init(_ reason: Reason, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    package var description: String { "invalid PROXY protocol header at byte \(offset): \(reason)" }
}
