/// Where a message body ends (RFC 9112 §6.3), so the proxy can pass the body through unchanged and know
/// when the next message starts.
package enum HTTPBodyFraming: Hashable, Sendable {
    /// No body: the next message starts right after the head.
    case none
    /// Exactly this many bytes follow the head.
    case contentLength(UInt64)
    /// A chunked body follows; `HTTPChunkedBodyScanner` finds its end.
    case chunked
    /// The body lasts until the origin closes the connection (responses only).
    case untilClose

    /// The framing of a request's body. `CONNECT` has none: what follows its head is the tunnel's.
    package static func request(_ head: HTTPRequestHead) -> Result<HTTPBodyFraming, HTTPFramingError> {
        if head.method == "CONNECT" { return .success(.none) }
        let hasTransferEncoding = head.fields.contains { $0.hasName("transfer-encoding") }
        if hasTransferEncoding {
            guard !head.fields.contains(where: { $0.hasName("content-length") }) else { return .failure(.contentLengthWithTransferEncoding) }
            guard head.minorVersion >= 1 else { return .failure(.transferEncodingInHTTP10) }
            let codings = head.fields.lowercasedListElements(of: "transfer-encoding")
            guard codings.last == "chunked", codings.filter({ $0 == "chunked" }).count == 1 else { return .failure(.chunkedNotLast) }
            return .success(.chunked)
        }
        return contentLength(of: head.fields).map { $0.map(HTTPBodyFraming.contentLength) ?? .none }
    }

    /// The framing of a response's body, given the method of the request it answers.
    package static func response(_ head: HTTPResponseHead, requestMethod: String) -> Result<HTTPBodyFraming, HTTPFramingError> {
        if head.status == 101 { return .failure(.unexpectedSwitchingProtocols) }
        if requestMethod == "HEAD" || head.isInterim || head.status == 204 || head.status == 304 { return .success(.none) }
        if head.fields.contains(where: { $0.hasName("transfer-encoding") }) {
            // HTTP/1.0 has no transfer codings (RFC 9112 §6.1): such a response is framed by the close.
            guard head.minorVersion >= 1, head.fields.lowercasedListElements(of: "transfer-encoding").last == "chunked" else {
                return .success(.untilClose)
            }
            return .success(.chunked)
        }
        return contentLength(of: head.fields).map { $0.map(HTTPBodyFraming.contentLength) ?? .untilClose }
    }

    /// The `Content-Length` of `fields`: nil when there is none; every value in every field must be the
    /// same decimal number (RFC 9110 §8.6 lets a recipient accept `42, 42`).
    static func contentLength(of fields: [HTTPField]) -> Result<UInt64?, HTTPFramingError> {
        var length: UInt64?
        for field in fields where field.hasName("content-length") {
            for element in field.valueBytes.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                let digits = HTTPSyntax.trimmingWhitespace(element)
                guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy(HTTPSyntax.isDigit) else { return .failure(.invalidContentLength) }
                let value = digits.reduce(UInt64(0)) { $0 * 10 + UInt64($1 - UInt8(ascii: "0")) }
                if let length, length != value { return .failure(.conflictingContentLengths) }
                length = value
            }
        }
        return .success(length)
    }
}
