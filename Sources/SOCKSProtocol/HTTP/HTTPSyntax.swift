/// The pieces of HTTP/1.x message syntax (RFC 9112 §2–§5) that request and response heads share: splitting
/// a head into lines, reading field lines, byte classes.
enum HTTPSyntax {
    /// What `readHead` made of some bytes.
    enum HeadOutcome<StartLine> {
        case incomplete
        case complete(StartLine, fields: [HTTPField], length: Int)
        case failed(HTTPHeadParseError)
    }

    /// Reads a head: optional empty lines, a start line read by `startLine`, field lines, an empty line.
    ///
    /// Stateless and monotone, as the callers' fuzz targets check: once bytes fail, more bytes never make
    /// them succeed, and a complete head stays complete with the same length. A partial last line is
    /// checked only for bytes no complete line of its kind may hold (`isForbiddenInStartLine` for the start
    /// line), so garbage fails at once instead of at the deadline. A CR not followed by LF is such a byte.
    static func readHead<StartLine>(
        _ bytes: ArraySlice<UInt8>, limits: HTTPHeadLimits,
        startLine parseStartLine: (ArraySlice<UInt8>) -> Result<StartLine, HTTPHeadParseError>,
        isForbiddenInStartLine: (UInt8) -> Bool, startLineName: String
    ) -> HeadOutcome<StartLine> {
        // Only the first `maximumLength` bytes can belong to an acceptable head; what lies beyond is never
        // looked at, so the answer for a longer input is the answer for that window.
        let window = bytes.prefix(max(0, limits.maximumLength))
        var lines = LineReader(bytes: window)
        var start: StartLine?
        var fields: [HTTPField] = []
        while true {
            switch lines.next() {
            case .line(let line):
                guard let start else {
                    // RFC 9112 §2.2: empty lines before the start line are ignored.
                    if line.isEmpty { continue }
                    // Checked first, and with the same words as for a partial line, so that the answer
                    // does not depend on whether the line's end has arrived.
                    if line.contains(where: isForbiddenInStartLine) { return .failed(.malformed("a forbidden byte in the \(startLineName)")) }
                    switch parseStartLine(line) {
                    case .success(let parsed): start = parsed
                    case .failure(let error): return .failed(error)
                    }
                    continue
                }
                if line.isEmpty {
                    return .complete(start, fields: fields, length: window.distance(from: window.startIndex, to: lines.position))
                }
                if line.contains(where: isForbiddenInField) { return .failed(.malformed("a control byte in a header field")) }
                switch parseField(line) {
                case .success(let field):
                    guard fields.count < limits.maximumFields else { return .failed(.tooManyFields) }
                    fields.append(field)
                case .failure(let error):
                    return .failed(error)
                }
            case .end(var partial):
                if partial.last == cr { partial = partial.dropLast() }
                if start == nil {
                    if partial.contains(where: isForbiddenInStartLine) { return .failed(.malformed("a forbidden byte in the \(startLineName)")) }
                } else if partial.contains(where: isForbiddenInField) {
                    return .failed(.malformed("a control byte in a header field"))
                }
                return window.count >= limits.maximumLength ? .failed(.headTooLarge) : .incomplete
            }
        }
    }

    // MARK: - Lines

    /// What the line reader found next.
    enum LineEvent {
        /// A line without its CRLF (or bare LF, which RFC 9112 §2.2 lets a recipient accept). A CR inside
        /// it is left for the line's checks to refuse, as the control byte it is.
        case line(ArraySlice<UInt8>)
        /// No more complete lines: what follows the last one (possibly nothing).
        case end(ArraySlice<UInt8>)
    }

    /// Splits bytes into lines ending in LF, each without its CR LF.
    struct LineReader {
        let bytes: ArraySlice<UInt8>
        private(set) var position: Int

        init(bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            position = bytes.startIndex
        }

        mutating func next() -> LineEvent {
            let rest = bytes[position...]
            guard let newline = rest.firstIndex(of: lf) else { return .end(rest) }
            var line = rest[..<newline]
            if line.last == cr { line = line.dropLast() }
            position = newline + 1
            return .line(line)
        }
    }

    // MARK: - Header fields

    /// `name ":" OWS value OWS` (RFC 9112 §5). Whitespace before the colon and obsolete line folding are
    /// refused, as RFC 9112 §5.1 and §5.2 ask of a server (and allow of a proxy reading a response).
    static func parseField(_ line: ArraySlice<UInt8>) -> Result<HTTPField, HTTPHeadParseError> {
        if line.first == space || line.first == tab { return .failure(.malformed("obsolete line folding")) }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return .failure(.malformed("a header field without a colon")) }
        let name = line[..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else { return .failure(.malformed("a header field name that is not a token")) }
        let value = line[(colon + 1)...]
        return .success(HTTPField(name: String(decoding: name, as: UTF8.self), valueBytes: Array(trimmingWhitespace(value))))
    }

    /// Bytes no field line may hold: controls other than HT (CR and LF never reach here inside a line), DEL.
    static func isForbiddenInField(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != tab) || byte == 0x7F
    }

    /// `bytes` without leading and trailing spaces and tabs (OWS).
    static func trimmingWhitespace(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var bytes = bytes
        while let first = bytes.first, first == space || first == tab { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == space || last == tab { bytes = bytes.dropLast() }
        return bytes
    }

    /// `HTTP/1.x` (case-sensitive, RFC 9112 §2.3): the minor version, `.unsupportedVersion` for another
    /// major version, or `.malformed`.
    static func parseVersion(_ version: ArraySlice<UInt8>) -> Result<Int, HTTPHeadParseError> {
        let bytes = Array(version)
        guard bytes.count == 8, bytes[0..<5].elementsEqual("HTTP/".utf8), bytes[6] == UInt8(ascii: "."), isDigit(bytes[5]), isDigit(bytes[7])
        else { return .failure(.malformed("the version is not HTTP/x.y")) }
        guard bytes[5] == UInt8(ascii: "1") else { return .failure(.unsupportedVersion) }
        return .success(Int(bytes[7] - UInt8(ascii: "0")))
    }

    // MARK: - Bytes

    /// tchar (RFC 9110 §5.6.2): letters, digits and ``!#$%&'*+-.^_`|~``.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        isLetter(byte) || isDigit(byte) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func equalIgnoringASCIICase(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && zip(a.utf8, b.utf8).allSatisfy { lowercased($0) == lowercased($1) }
    }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 0x20 : byte
    }

    static let lf = UInt8(ascii: "\n")
    static let cr = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
}
