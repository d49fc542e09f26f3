/// The head of one HTTP/1.x response (RFC 9112 §4–§5), as the HTTP proxy reads it from an origin: the
/// status line and the header fields. Bodies are never read; `HTTPBodyFraming` says where one ends.
///
/// `parse(_:limits:)` works as `HTTPRequestHead.parse`: stateless, failing as soon as the bytes show the
/// head is invalid, and never succeeding after failing. Obsolete line folding is refused (RFC 9112 §5.2
/// lets a proxy reject it; the proxy answers 502).
package struct HTTPResponseHead: Hashable, Sendable {
    /// The `x` of `HTTP/1.x`.
    package var minorVersion: Int
    /// The three-digit status code, 100–599.
    package var status: Int
    /// The reason phrase as sent (possibly empty; obs-text bytes read as UTF-8).
    package var reason: [UInt8]
    /// The header fields in order, values without the surrounding whitespace.
    package var fields: [HTTPField]

    package init(minorVersion: Int, status: Int, reason: [UInt8], fields: [HTTPField]) {
        self.minorVersion = minorVersion
        self.status = status
        self.reason = reason
        self.fields = fields
    }

    /// What the bytes received so far are.
    package enum ParseResult: Hashable, Sendable {
        /// A prefix of a head that may still be valid: read more.
        case incomplete
        /// A valid head, `length` bytes long (including its empty line); bytes after it are not looked at.
        case complete(HTTPResponseHead, length: Int)
        /// Invalid whatever follows.
        case failed(HTTPHeadParseError)
    }

    /// A 1xx response other than 101: one that another response follows (RFC 9110 §15.2), such as
    /// `100 Continue`. The proxy passes it on and reads the next head.
    package var isInterim: Bool { (100...199).contains(status) && status != 101 }

    /// The value of the field `name` (compared without regard to case); the first one if repeated.
    package func value(of name: String) -> String? {
        fields.firstValue(of: name)
    }

    /// Whether the origin keeps the connection open after this response (RFC 9112 §9.3): HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`. A body framed by the close of the
    /// connection ends it too; see `HTTPBodyFraming`.
    package var originKeepsAlive: Bool {
        HTTPConnectionOptions(fields: fields, minorVersion: minorVersion, includingProxyConnection: false).keepAlive
    }

    /// Reads `bytes`, what an origin sent after the request (or after the previous response), as a head.
    package static func parse(_ bytes: ArraySlice<UInt8>, limits: HTTPHeadLimits = .proxyResponse) -> ParseResult {
        let outcome = HTTPSyntax.readHead(
            bytes, limits: limits, startLine: parseStatusLine, isForbiddenInStartLine: HTTPSyntax.isForbiddenInField,
            startLineName: "status line")
        switch outcome {
        case .incomplete: return .incomplete
        case .failed(let error): return .failed(error)
        case .complete(let line, let fields, let length):
            return .complete(HTTPResponseHead(minorVersion: line.minorVersion, status: line.status, reason: line.reason, fields: fields), length: length)
        }
    }

    /// The head to send the client (RFC 9110 §7.6.1): the status line as received, the fields without the
    /// hop-by-hop ones, and `Connection: keep-alive` or `Connection: close` as the proxy decided for the
    /// client connection. A `Content-Length` beside `Transfer-Encoding` is dropped too (RFC 9112 §6.3: the
    /// body is chunked and an intermediary must remove the length).
    package func forwardedHead(keepAlive: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        bytes += "HTTP/1.\(minorVersion) \(status) ".utf8
        bytes += reason
        bytes += "\r\n".utf8
        let chunked = fields.contains { $0.hasName("transfer-encoding") }
        let forwarded = HTTPHopByHop.removing(from: fields)
        for field in forwarded where !(chunked && field.hasName("content-length")) {
            HTTPHopByHop.append(field, to: &bytes)
        }
        bytes += (keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n").utf8
        return bytes
    }

    private struct StatusLine {
        var minorVersion: Int
        var status: Int
        var reason: [UInt8]
    }

    /// `HTTP/1.x SP 3DIGIT SP reason-phrase` (RFC 9112 §4). The space after the code is accepted missing
    /// when the reason is empty, as some servers send `HTTP/1.1 200`.
    private static func parseStatusLine(_ line: ArraySlice<UInt8>) -> Result<StatusLine, HTTPHeadParseError> {
        let parts = line.split(separator: HTTPSyntax.space, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2 else { return .failure(.malformed("the status line is not VERSION CODE REASON")) }
        let minorVersion: Int
        switch HTTPSyntax.parseVersion(parts[0]) {
        case .success(let minor): minorVersion = minor
        case .failure(let error): return .failure(error)
        }
        let code = parts[1]
        guard code.count == 3, code.allSatisfy(HTTPSyntax.isDigit) else { return .failure(.malformed("the status code is not three digits")) }
        let status = code.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard (100...599).contains(status) else { return .failure(.malformed("the status code is not 100–599")) }
        // reason-phrase = *( HTAB / SP / VCHAR / obs-text ): `readHead` has refused the controls.
        let reason = parts.count == 3 ? Array(parts[2]) : []
        return .success(StatusLine(minorVersion: minorVersion, status: status, reason: reason))
    }
}
