import Glibc
import SOCKSProtocol

/// Fuzzes `ProxyHeaderDecoder`: the PROXY protocol v1 line and v2 header at the start of a connection, and
/// `ProxyHeader.encoded()`.
///
/// Input: a `FuzzedStream` (the options byte is not used): the bytes a balancer sends, and how reads split them.
///
/// Invariants, beyond not crashing:
/// - the same step and the same remaining bytes whether the bytes arrive in one read or in the fuzzer's chunks
///   (with `next()` after every read, so bytes after the header join the remaining ones);
/// - the decision comes with the byte that settles it, neither earlier nor later: a header with its last
///   byte, an error with the byte at its offset (or the LF after a CR there, the length's second byte, the
///   last byte of a v2 header for a TLV, the 107th byte for a v1 line without CRLF); the remaining bytes are
///   exactly those after the header;
/// - the step is what a reader written from the specification (`SpecReader`, below, with the C library's
///   `inet_pton` for addresses) finds in the whole input: the same header and length, an error where it
///   finds the header invalid, more bytes where it finds it incomplete (the decoder may also refuse an
///   incomplete header early, which the previous invariant bounds);
/// - a decoded header re-encodes to bytes that decode to the same header; for the forms that have one
///   encoding (v1 `TCP4`, `PROXY UNKNOWN\r\n`, v2 TCP without TLVs, LOCAL with no block), to the very bytes read.
func fuzzOneInput(_ input: [UInt8]) {
    let fuzzed = FuzzedStream(input)
    let stream = fuzzed.stream
    let whole = DecoderRun(chunks: [stream[...]])
    let split = DecoderRun(chunks: fuzzed.chunks(of: stream))
    expect(split.step == whole.step, "split reads changed the step: \(split.step) vs \(whole.step)")
    expect(split.remaining == whole.remaining, "split reads changed the remaining bytes")

    let expected = SpecReader.read(stream)
    switch whole.step {
    case .needMoreBytes:
        expect(whole.remaining.isEmpty, "remaining bytes before a header")
        expect(expected == .incomplete, "decoder wants more bytes, the specification: \(expected)")
    case .header(let header):
        let length = stream.count - whole.remaining.count
        expect(whole.remaining == Array(stream[length...]), "remaining bytes are not those after the header")
        checkDecided(at: length, stream: stream, step: whole.step)
        expect(expected == .header(header, length: length), "decoder read \(header) (\(length) bytes), the specification: \(expected)")
        checkEncoding(of: header, read: stream[..<length])
    case .invalid(let error):
        expect(whole.remaining.isEmpty, "remaining bytes after an error")
        checkDecided(at: decisiveLength(of: error, in: stream), stream: stream, step: whole.step)
        // The specification may need more bytes to refuse what the decoder refuses early; it never accepts it.
        if case .header(let header, _) = expected { expect(false, "decoder refused with \(error), the specification reads \(header)") }
    }
}

/// One decoder fed some reads, with `next()` after each.
struct DecoderRun {
    private(set) var step: ProxyHeaderDecoder.Step = .needMoreBytes
    private(set) var remaining: [UInt8] = []

    init(chunks: [ArraySlice<UInt8>]) {
        var decoder = ProxyHeaderDecoder()
        step = decoder.next()
        for chunk in chunks {
            decoder.receive(chunk)
            step = decoder.next()
        }
        remaining = decoder.takeRemainingBytes()
        expect(decoder.takeRemainingBytes().isEmpty, "remaining bytes handed over twice")
        expect(decoder.next() == step, "next() does not repeat its step")
    }
}

/// The decoder decides with `length` bytes and not with one fewer. Parsing is a function of the bytes
/// received (the split runs check that), so these two prefixes stand for feeding one byte at a time.
func checkDecided(at length: Int, stream: [UInt8], step: ProxyHeaderDecoder.Step) {
    expect(length >= 1 && length <= stream.count, "decided with \(length) of \(stream.count) bytes: \(step)")
    expect(DecoderRun(chunks: [stream[..<length]]).step == step, "not decided with \(length) bytes: \(step)")
    let before = DecoderRun(chunks: [stream[..<(length - 1)]]).step
    expect(before == .needMoreBytes, "decided with \(length - 1) bytes: \(before), not \(length): \(step)")
}

/// How many bytes the decoder needs to have before it can report `error`.
func decisiveLength(of error: ProxyProtocolError, in stream: [UInt8]) -> Int {
    switch error.reason {
    case .lineTooLong:
        return 107
    case .addressBlockTooShort:
        return 16
    case .truncatedTLV:
        return 16 + (Int(stream[14]) << 8 | Int(stream[15]))
    case .unknownProtocol, .missingField, .invalidAddress, .invalidPort, .expectedLineEnd:
        // A v1 field that ends with CR is judged once the LF is in (a byte other than LF is a bad line ending).
        return error.offset + (stream[error.offset] == 0x0D ? 2 : 1)
    case .notProxyProtocol, .badLineEnding, .unsupportedVersion, .unsupportedCommand, .unknownFamily, .unknownTransport:
        return error.offset + 1
    }
}

/// Re-encodes a decoded header and decodes that again.
func checkEncoding(of header: ProxyHeader, read: ArraySlice<UInt8>) {
    let encoded = header.encoded()
    let again = DecoderRun(chunks: [encoded[...]])
    expect(again.step == .header(header), "\(header) encodes to bytes that decode to \(again.step)")
    expect(again.remaining.isEmpty, "\(header) encodes to more than a header")
    let v1 = read.first == UInt8(ascii: "P")
    let canonical: Bool
    if v1 {
        // IPv4 and ports have one text form, UNKNOWN with nothing after it too; IPv6 text has several.
        canonical = header.source.map { $0.address.count == 4 } ?? (read.count == 15)
    } else {
        // TCP addresses and nothing else, or the UNSPEC family with an empty block.
        let block = read.count - 16
        canonical = header.source.map { 4 + 2 * $0.address.count == block } ?? (read[13] == 0 && block == 0)
    }
    if canonical { expect(sameBytes(encoded[...], read), "\(header) re-encodes to other bytes than those read") }
}

/// The PROXY protocol read straight from HAProxy's specification, from the whole input at once and with
/// none of the decoder's code: the reference the decoder is compared with. Addresses are checked by the C
/// library's `inet_pton`, which wants IPv4 without leading zeros as the specification does.
enum SpecReader: Equatable {
    case incomplete
    case header(ProxyHeader, length: Int)
    case invalid

    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    static func read(_ bytes: [UInt8]) -> SpecReader {
        if bytes.isEmpty { return .incomplete }
        if bytes[0] == signature[0] { return readV2(bytes) }
        let prefix = Array("PROXY ".utf8)
        guard bytes.starts(with: prefix.prefix(bytes.count)) else { return .invalid }
        return readV1(bytes)
    }

    /// Section 2.1: a line ending at the first CRLF within 107 bytes; no CR or LF alone before it.
    private static func readV1(_ bytes: [UInt8]) -> SpecReader {
        guard let end = bytes.prefix(107).firstIndex(where: { $0 == 0x0D || $0 == 0x0A }) else {
            return bytes.count >= 107 ? .invalid : .incomplete
        }
        guard bytes[end] == 0x0D else { return .invalid }
        guard end + 1 < bytes.count else { return end + 1 >= 107 ? .invalid : .incomplete }
        guard bytes[end + 1] == 0x0A, end + 2 <= 107 else { return .invalid }
        let fields = bytes[..<end].split(separator: 0x20, omittingEmptySubsequences: false).map { Array($0) }
        guard fields.count >= 2, fields[0] == Array("PROXY".utf8) else { return .invalid }
        let length = end + 2
        switch String(decoding: fields[1], as: UTF8.self) {
        case "UNKNOWN":
            return .header(ProxyHeader(version: 1, command: .proxy, source: nil, destination: nil), length: length)
        case "TCP4", "TCP6":
            let family = fields[1][3] == UInt8(ascii: "4") ? AF_INET : AF_INET6
            guard fields.count == 6, let source = address(fields[2], family), let destination = address(fields[3], family),
                let sourcePort = port(fields[4]), let destinationPort = port(fields[5])
            else { return .invalid }
            return .header(
                ProxyHeader(
                    version: 1, command: .proxy, source: ProxyEndpoint(address: source, port: sourcePort),
                    destination: ProxyEndpoint(address: destination, port: destinationPort)),
                length: length)
        default:
            return .invalid
        }
    }

    private static func address(_ text: [UInt8], _ family: Int32) -> [UInt8]? {
        // `inet_pton` reads a C string: no NUL inside, nor anything but printable ASCII.
        guard !text.isEmpty, text.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        var bytes = [UInt8](repeating: 0, count: family == AF_INET ? 4 : 16)
        let parsed = inet_pton(family, String(decoding: text, as: UTF8.self), &bytes)
        return parsed == 1 ? bytes : nil
    }

    /// Decimal 0–65535, no leading zeros.
    private static func port(_ text: [UInt8]) -> UInt16? {
        guard (1...5).contains(text.count), text.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        guard text.count == 1 || text[0] != 0x30 else { return nil }
        return UInt16(exactly: text.reduce(0) { $0 * 10 + Int($1 - 0x30) })
    }

    /// Section 2.2: the 16-byte head, then the length's bytes: addresses by family, TLVs to the end.
    private static func readV2(_ bytes: [UInt8]) -> SpecReader {
        guard bytes.starts(with: signature.prefix(bytes.count)) else { return .invalid }
        guard bytes.count > 12 else { return .incomplete }
        let version = bytes[12] >> 4
        let command = bytes[12] & 0x0F
        guard version == 2, command <= 1 else { return .invalid }
        guard bytes.count > 13 else { return .incomplete }
        let family = bytes[13] >> 4
        let transport = bytes[13] & 0x0F
        guard family <= 3, transport <= 2 else { return .invalid }
        guard bytes.count >= 16 else { return .incomplete }
        let length = Int(bytes[14]) << 8 | Int(bytes[15])
        let addressLength = [0, 12, 36, 216][Int(family)]
        // PROXY needs the family's addresses; LOCAL ignores the family, and a block too short for it is opaque.
        if command == 1 && length < addressLength { return .invalid }
        guard bytes.count >= 16 + length else { return .incomplete }
        if length >= addressLength {
            var tlv = 16 + addressLength
            while tlv < 16 + length {
                guard tlv + 3 <= 16 + length else { return .invalid }
                tlv += 3 + (Int(bytes[tlv + 1]) << 8 | Int(bytes[tlv + 2]))
                guard tlv <= 16 + length else { return .invalid }
            }
        }
        guard command == 1, transport == 1, family == 1 || family == 2 else {
            return .header(ProxyHeader(version: 2, command: command == 1 ? .proxy : .local, source: nil, destination: nil), length: 16 + length)
        }
        let size = family == 1 ? 4 : 16
        let ports = 16 + 2 * size
        return .header(
            ProxyHeader(
                version: 2, command: .proxy,
                source: ProxyEndpoint(address: Array(bytes[16..<16 + size]), port: UInt16(bytes[ports]) << 8 | UInt16(bytes[ports + 1])),
                destination: ProxyEndpoint(
                    address: Array(bytes[16 + size..<16 + 2 * size]), port: UInt16(bytes[ports + 2]) << 8 | UInt16(bytes[ports + 3]))),
            length: 16 + length)
    }
}
