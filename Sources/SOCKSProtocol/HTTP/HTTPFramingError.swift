/// Why the length of a message body cannot be determined safely (RFC 9112 §6.3). On a request the proxy
/// answers 400 and closes (each of these is a way to make two parsers disagree on where the body ends:
/// request smuggling); on a response from the origin, 502.
package enum HTTPFramingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A `Content-Length` that is not a decimal number of at most 18 digits (signs, spaces inside, hex, empty).
    case invalidContentLength
    /// `Content-Length` given more than once (in several fields or as a list) with different values.
    case conflictingContentLengths
    /// A request with both `Transfer-Encoding` and `Content-Length`.
    case contentLengthWithTransferEncoding
    /// A request `Transfer-Encoding` whose last coding is not `chunked`, or that applies `chunked` twice.
    case chunkedNotLast
    /// `Transfer-Encoding` in an HTTP/1.0 request, which cannot carry it (RFC 9112 §6.1).
    case transferEncodingInHTTP10
    /// A `101 Switching Protocols` response, though the proxy removed `Upgrade` from the request.
    case unexpectedSwitchingProtocols

    package var description: String {
        switch self {
        case .invalidContentLength: "a Content-Length that is not a decimal number"
        case .conflictingContentLengths: "Content-Length values that differ"
        case .contentLengthWithTransferEncoding: "both Transfer-Encoding and Content-Length"
        case .chunkedNotLast: "a Transfer-Encoding whose last coding is not chunked (once)"
        case .transferEncodingInHTTP10: "Transfer-Encoding in an HTTP/1.0 request"
        case .unexpectedSwitchingProtocols: "101 Switching Protocols without an Upgrade request"
        }
    }
}
