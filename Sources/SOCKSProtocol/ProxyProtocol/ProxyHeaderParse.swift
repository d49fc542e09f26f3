/// What parsing the bytes received so far from the start of a connection gives.
///
/// The parsers read left to right and decide at the first byte that settles the matter, so the outcome for
/// some bytes is also the outcome for any longer run of bytes that starts with them: this is what makes
/// the decoder give the same answer however the header is split.
enum ProxyHeaderParse: Equatable {
    case needMoreBytes
    /// A whole header, `length` bytes long.
    case header(ProxyHeader, length: Int)
    case invalid(ProxyProtocolError)

    /// Detects the version from the first byte and parses the header at the start of `bytes`.
    static func parse(_ bytes: ArraySlice<UInt8>) -> ProxyHeaderParse {
        guard let first = bytes.first else { return .needMoreBytes }
        do {
            switch first {
            case UInt8(ascii: "P"):
                var parser = ProxyHeaderV1Parser(bytes)
                return try parser.parse()
            case ProxyHeaderV2Parser.signature[0]:
                return try ProxyHeaderV2Parser.parse(bytes)
            default:
                return .invalid(ProxyProtocolError(.notProxyProtocol, at: 0))
            }
        } catch {
            switch error {
            case .needMoreBytes: return .needMoreBytes
            case .invalid(let error): return .invalid(error)
            }
        }
    }
}

/// Why a parser stopped before the end of a header; thrown so that every read can stop it in one word.
enum ProxyHeaderParseStop: Error {
    case needMoreBytes
    case invalid(ProxyProtocolError)
}
