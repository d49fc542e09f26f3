// Pure: this folder needs nothing but the standard library and this module, so the fuzz build (Scripts/fuzz)
// compiles the module alone.

/// The head of one HTTP/1.x request (RFC 9112 §2–§5): the request line and the header fields, as the
/// metrics endpoint and the HTTP proxy read them. Bodies are never read.
///
/// `parse(_:limits:)` is stateless: it reads the bytes received so far and says whether they hold a
/// complete head, could still become one, or never will. It fails as soon as the bytes show the head is
/// invalid (a control byte in the request line, a field without a colon), so garbage is answered at once
/// instead of at the deadline; and once it fails, more bytes never make it succeed.
///
/// The target is checked for its form only: origin (`/p?q`), absolute (`scheme://authority/p?q`) or `*` for
/// any method, and any target for `CONNECT`, whose authority form (`host:port`) `HTTPProxyRequest` reads.
package struct HTTPRequestHead: Hashable, Sendable {
    /// The method token, case-sensitive (`GET`, `HEAD`, `CONNECT`, …).
    package var method: String
    /// The request target as sent: origin form (`/metrics?x`), absolute form (`http://host/metrics`), `*`,
    /// or for `CONNECT` authority form (`host:443`).
    package var target: String
    /// The `x` of `HTTP/1.x`.
    package var minorVersion: Int
    /// The header fields in order, values without the surrounding whitespace.
    package var fields: [Field]

    /// One header field line.
    package typealias Field = HTTPField
    /// How much a head may hold.
    package typealias Limits = HTTPHeadLimits
    /// Why bytes can never be a valid head.
    package typealias ParseError = HTTPHeadParseError

    package init(method: String, target: String, minorVersion: Int, fields: [Field]) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
        self.fields = fields
    }

    /// What the bytes received so far are.
    package enum ParseResult: Hashable, Sendable {
        /// A prefix of a head that may still be valid: read more.
        case incomplete
        /// A valid head, `length` bytes long (including its empty line); bytes after it are not looked at.
        case complete(HTTPRequestHead, length: Int)
        /// Invalid whatever follows.
        case failed(ParseError)
    }

    /// The path the target names: the origin form's path without the query, the absolute form's path (`/`
    /// when it has none), or `*`. Set on every head that `parse` returned, except a `CONNECT` whose target
    /// is in none of those forms (normally its `host:port`).
    package var path: String? {
        Self.path(ofTarget: Array(target.utf8)[...])
    }

    /// The value of the field `name` (compared without regard to case); the first one if repeated.
    package func value(of name: String) -> String? {
        fields.firstValue(of: name)
    }

    /// Reads `bytes`, the start of a connection (or what follows the previous request), as a request head.
    package static func parse(_ bytes: ArraySlice<UInt8>, limits: Limits = Limits()) -> ParseResult {
        let outcome = HTTPSyntax.readHead(
            bytes, limits: limits, startLine: parseRequestLine,
            // A request line is visible ASCII and single spaces only.
            isForbiddenInStartLine: { $0 < 0x20 || $0 > 0x7E }, startLineName: "request line")
        switch outcome {
        case .incomplete: return .incomplete
        case .failed(let error): return .failed(error)
        case .complete(let request, let fields, let length): return finish(request, fields: fields, length: length)
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
        let hosts = fields.filter { $0.hasName("host") }.count
        if hosts > 1 { return .failed(.malformed("more than one Host field")) }
        if hosts == 0 && request.minorVersion >= 1 { return .failed(.malformed("no Host field in an HTTP/1.1 request")) }
        let head = HTTPRequestHead(method: request.method, target: request.target, minorVersion: request.minorVersion, fields: fields)
        return .complete(head, length: length)
    }

    // MARK: - Request line

    /// `method SP request-target SP HTTP/1.x` (RFC 9112 §3).
    private static func parseRequestLine(_ line: ArraySlice<UInt8>) -> Result<RequestLine, ParseError> {
        let parts = line.split(separator: HTTPSyntax.space, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(.malformed("the request line is not METHOD TARGET VERSION")) }
        let (method, target, version) = (parts[0], parts[1], parts[2])
        guard !method.isEmpty, method.allSatisfy(HTTPSyntax.isTokenByte) else { return .failure(.malformed("the method is not a token")) }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(.malformed("the target is empty or holds a space, control or non-ASCII byte"))
        }
        let minorVersion: Int
        switch HTTPSyntax.parseVersion(version) {
        case .success(let minor): minorVersion = minor
        case .failure(let error): return .failure(error)
        }
        guard path(ofTarget: target) != nil || method.elementsEqual("CONNECT".utf8) else {
            return .failure(.malformed("the target is not a path, an absolute URI or *"))
        }
        return .success(RequestLine(
            method: String(decoding: method, as: UTF8.self), target: String(decoding: target, as: UTF8.self), minorVersion: minorVersion))
    }

    /// The path of a request target (RFC 9112 §3.2), or nil for a target of none of these forms: origin
    /// (`/p?q`), absolute (`scheme://authority/p?q`), asterisk (`*`).
    private static func path(ofTarget target: ArraySlice<UInt8>) -> String? {
        if target.elementsEqual("*".utf8) { return "*" }
        let question = UInt8(ascii: "?")
        if target.first == UInt8(ascii: "/") {
            return String(decoding: target.prefix { $0 != question }, as: UTF8.self)
        }
        guard let colon = schemeEnd(of: target) else { return nil }
        let afterScheme = target[(colon + 3)...]
        let authorityEnd = afterScheme.firstIndex { $0 == UInt8(ascii: "/") || $0 == question } ?? afterScheme.endIndex
        guard authorityEnd > afterScheme.startIndex else { return nil }
        let rest = afterScheme[authorityEnd...]
        guard rest.first == UInt8(ascii: "/") else { return "/" }
        return String(decoding: rest.prefix { $0 != question }, as: UTF8.self)
    }

    /// The index of the colon of `scheme://` that starts an absolute-form target, or nil.
    /// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1).
    static func schemeEnd(of target: ArraySlice<UInt8>) -> Int? {
        guard let colon = target.firstIndex(of: UInt8(ascii: ":")), colon > target.startIndex,
              HTTPSyntax.isLetter(target[target.startIndex]),
              target[..<colon].allSatisfy({
                  HTTPSyntax.isLetter($0) || HTTPSyntax.isDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
              }),
              target[colon...].starts(with: "://".utf8)
        else { return nil }
        return colon
    }
}
