// Pure: this folder needs nothing but the standard library, so the fuzz build (Scripts/fuzz) compiles it alone.

/// The head of one HTTP/1.x request (RFC 9112 §2–§5): the request line and the header fields, as the
/// metrics endpoint reads them. Bodies are never read.
///
/// `parse(_:limits:)` is stateless: it reads the bytes received so far and says whether they hold a
/// complete head, could still become one, or never will. It fails as soon as the bytes show the head is
/// invalid (a control byte in the request line, a field without a colon), so garbage is answered at once
/// instead of at the deadline; and once it fails, more bytes never make it succeed.
@_spi(Testing) public struct HTTPRequestHead: Hashable, Sendable {
    /// The method token, case-sensitive (`GET`, `HEAD`, …).
    public var method: String
    /// The request target as sent: origin form (`/metrics?x`), absolute form (`http://host/metrics`) or `*`.
    public var target: String
    /// The `x` of `HTTP/1.x`.
    public var minorVersion: Int
    /// The header fields in order, values without the surrounding whitespace.
    public var fields: [Field]

    /// One header field line.
    public struct Field: Hashable, Sendable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(method: String, target: String, minorVersion: Int, fields: [Field]) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
        self.fields = fields
    }

    /// How much a head may hold; past it the request is refused (431), not buffered.
    public struct Limits: Hashable, Sendable {
        /// Bytes, from the first byte to the end of the empty line that ends the head.
        public var maximumLength: Int
        /// Header field lines.
        public var maximumFields: Int

        public init(maximumLength: Int = 8 * 1024, maximumFields: Int = 100) {
            self.maximumLength = maximumLength
            self.maximumFields = maximumFields
        }
    }

    /// Why bytes can never be a valid head.
    public enum ParseError: Error, Hashable, Sendable {
        /// Not HTTP/1.x request syntax (400); the reason is for logs and tests.
        case malformed(String)
        /// No end of the head within `maximumLength` bytes (431).
        case headTooLarge
        /// More than `maximumFields` field lines (431).
        case tooManyFields
        /// A well-formed request line of another major version, such as `HTTP/2.0` (505).
        case unsupportedVersion
    }

    /// What the bytes received so far are.
    public enum ParseResult: Hashable, Sendable {
        /// A prefix of a head that may still be valid: read more.
        case incomplete
        /// A valid head, `length` bytes long (including its empty line); bytes after it are not looked at.
        case complete(HTTPRequestHead, length: Int)
        /// Invalid whatever follows.
        case failed(ParseError)
    }

    /// The path the target names: the origin form's path without the query, the absolute form's path (`/`
    /// when it has none), or `*`. Always set on a head that `parse` returned.
    public var path: String? {
        Self.path(ofTarget: Array(target.utf8)[...])
    }

    /// The value of the field `name` (compared without regard to case); the first one if repeated.
    public func value(of name: String) -> String? {
        fields.first { Self.equalIgnoringASCIICase($0.name, name) }?.value
    }

    /// Reads `bytes`, the start of a connection, as a request head.
    public static func parse(_ bytes: ArraySlice<UInt8>, limits: Limits = Limits()) -> ParseResult {
        // Only the first `maximumLength` bytes can belong to an acceptable head; what lies beyond is never
        // looked at, so the answer for a longer input is the answer for that window.
        let window = bytes.prefix(max(0, limits.maximumLength))
        var lines = LineReader(bytes: window)
        var request: RequestLine?
        var fields: [Field] = []
        while true {
            switch lines.next() {
            case .line(let line):
                guard let request else {
                    // RFC 9112 §2.2: empty lines before the request line are ignored.
                    if line.isEmpty { continue }
                    switch parseRequestLine(line) {
                    case .success(let parsed): request = parsed
                    case .failure(let error): return .failed(error)
                    }
                    continue
                }
                if line.isEmpty {
                    return finish(request, fields: fields, length: window.distance(from: window.startIndex, to: lines.position))
                }
                switch parseField(line) {
                case .success(let field):
                    guard fields.count < limits.maximumFields else { return .failed(.tooManyFields) }
                    fields.append(field)
                case .failure(let error):
                    return .failed(error)
                }
            case .malformed(let reason):
                return .failed(.malformed(reason))
            case .end(let partial):
                // The partial line is checked for bytes no complete line of its kind may hold.
                if let reason = partialLineProblem(partial, isRequestLine: request == nil) {
                    return .failed(.malformed(reason))
                }
                return window.count >= limits.maximumLength ? .failed(.headTooLarge) : .incomplete
            }
        }
    }

    /// A request line's parts.
    private struct RequestLine {
        var method: String
        var target: String
        var minorVersion: Int
    }

    /// The checks that need the whole head: one `Host` field, required in HTTP/1.1 (RFC 9112 §3.2).
    private static func finish(_ request: RequestLine, fields: [Field], length: Int) -> ParseResult {
        let hosts = fields.filter { equalIgnoringASCIICase($0.name, "host") }.count
        if hosts > 1 { return .failed(.malformed("more than one Host field")) }
        if hosts == 0 && request.minorVersion >= 1 { return .failed(.malformed("no Host field in an HTTP/1.1 request")) }
        let head = HTTPRequestHead(method: request.method, target: request.target, minorVersion: request.minorVersion, fields: fields)
        return .complete(head, length: length)
    }

    // MARK: - Lines

    /// What the line reader found next.
    private enum LineEvent {
        /// A line without its CRLF (or bare LF, which RFC 9112 §2.2 lets a recipient accept).
        case line(ArraySlice<UInt8>)
        /// A CR not followed by LF.
        case malformed(String)
        /// No more complete lines: what follows the last one (possibly nothing).
        case end(ArraySlice<UInt8>)
    }

    /// Splits bytes into lines ending in LF, each without its CR LF.
    private struct LineReader {
        let bytes: ArraySlice<UInt8>
        private(set) var position: Int

        init(bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            position = bytes.startIndex
        }

        mutating func next() -> LineEvent {
            let rest = bytes[position...]
            guard let newline = rest.firstIndex(of: lf) else {
                // A CR can only be the last byte of a line still arriving.
                if let cr = rest.firstIndex(of: crByte), cr != rest.index(before: rest.endIndex) {
                    return .malformed("CR not followed by LF")
                }
                return .end(rest)
            }
            var line = rest[..<newline]
            if line.last == crByte { line = line.dropLast() }
            if line.contains(crByte) { return .malformed("CR not followed by LF") }
            position = newline + 1
            return .line(line)
        }
    }

    /// Why an incomplete last line cannot become valid, or nil. Only byte classes are checked: every byte
    /// rejected here is rejected by the complete line's own check too, so a failure stays a failure.
    private static func partialLineProblem(_ line: ArraySlice<UInt8>, isRequestLine: Bool) -> String? {
        var line = line
        if line.last == crByte { line = line.dropLast() }
        if isRequestLine {
            // A request line is visible ASCII and single spaces only.
            if line.contains(where: { $0 < 0x20 || $0 > 0x7E }) { return "a control or non-ASCII byte in the request line" }
        } else {
            if line.contains(where: isForbiddenInField) { return "a control byte in a header field" }
        }
        return nil
    }

    // MARK: - Request line

    /// `method SP request-target SP HTTP/1.x` (RFC 9112 §3).
    private static func parseRequestLine(_ line: ArraySlice<UInt8>) -> Result<RequestLine, ParseError> {
        let parts = line.split(separator: space, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(.malformed("the request line is not METHOD TARGET VERSION")) }
        let (method, target, version) = (parts[0], parts[1], parts[2])
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else { return .failure(.malformed("the method is not a token")) }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(.malformed("the target is empty or holds a space, control or non-ASCII byte"))
        }
        // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
        let versionBytes = Array(version)
        guard versionBytes.count == 8, versionBytes[0..<5].elementsEqual("HTTP/".utf8), versionBytes[6] == UInt8(ascii: "."),
              isDigit(versionBytes[5]), isDigit(versionBytes[7])
        else { return .failure(.malformed("the version is not HTTP/x.y")) }
        guard versionBytes[5] == UInt8(ascii: "1") else { return .failure(.unsupportedVersion) }
        guard path(ofTarget: target) != nil else { return .failure(.malformed("the target is not a path, an absolute URI or *")) }
        return .success(RequestLine(
            method: String(decoding: method, as: UTF8.self), target: String(decoding: target, as: UTF8.self),
            minorVersion: Int(versionBytes[7] - UInt8(ascii: "0"))))
    }

    /// The path of a request target (RFC 9112 §3.2), or nil for a target of none of the four forms this
    /// server takes: origin (`/p?q`), absolute (`scheme://authority/p?q`), asterisk (`*`). Authority form
    /// is for CONNECT alone and is refused here.
    private static func path(ofTarget target: ArraySlice<UInt8>) -> String? {
        if target.elementsEqual("*".utf8) { return "*" }
        let question = UInt8(ascii: "?")
        if target.first == UInt8(ascii: "/") {
            return String(decoding: target.prefix { $0 != question }, as: UTF8.self)
        }
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://".
        guard let colon = target.firstIndex(of: UInt8(ascii: ":")), colon > target.startIndex,
              isLetter(target[target.startIndex]),
              target[..<colon].allSatisfy({ isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }),
              target[colon...].starts(with: "://".utf8)
        else { return nil }
        let afterScheme = target[(colon + 3)...]
        let authorityEnd = afterScheme.firstIndex { $0 == UInt8(ascii: "/") || $0 == question } ?? afterScheme.endIndex
        guard authorityEnd > afterScheme.startIndex else { return nil }
        let rest = afterScheme[authorityEnd...]
        guard rest.first == UInt8(ascii: "/") else { return "/" }
        return String(decoding: rest.prefix { $0 != question }, as: UTF8.self)
    }

    // MARK: - Header fields

    /// `name ":" OWS value OWS` (RFC 9112 §5). Whitespace before the colon and obsolete line folding are
    /// refused, as RFC 9112 §5.1 and §5.2 ask of a server.
    private static func parseField(_ line: ArraySlice<UInt8>) -> Result<Field, ParseError> {
        if line.first == space || line.first == tab { return .failure(.malformed("obsolete line folding")) }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return .failure(.malformed("a header field without a colon")) }
        let name = line[..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else { return .failure(.malformed("a header field name that is not a token")) }
        var value = line[(colon + 1)...]
        guard !value.contains(where: isForbiddenInField) else { return .failure(.malformed("a control byte in a header field value")) }
        while let first = value.first, first == space || first == tab { value = value.dropFirst() }
        while let last = value.last, last == space || last == tab { value = value.dropLast() }
        return .success(Field(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
    }

    /// Bytes no field line may hold: controls other than HT (CR and LF never reach here inside a line), DEL.
    private static func isForbiddenInField(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != tab) || byte == 0x7F
    }

    // MARK: - Bytes

    /// tchar (RFC 9110 §5.6.2): letters, digits and ``!#$%&'*+-.^_`|~``.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        isLetter(byte) || isDigit(byte) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    static func equalIgnoringASCIICase(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && zip(a.utf8, b.utf8).allSatisfy { lowercased($0) == lowercased($1) }
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 0x20 : byte
    }
}

private let lf = UInt8(ascii: "\n")
private let crByte = UInt8(ascii: "\r")
private let space = UInt8(ascii: " ")
private let tab = UInt8(ascii: "\t")
