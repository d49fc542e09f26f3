/// Why bytes are not a valid chunked body (RFC 9112 §7.1). The proxy has passed on the bytes before the
/// error, and then closes both connections: where the body ends is no longer known.
package enum HTTPChunkedBodyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A chunk-size line that does not start with a hex digit, or holds a byte no chunk extension may.
    case invalidChunkSize
    /// A chunk size over 2^63 − 1.
    case chunkSizeOverflow
    /// A chunk-size line longer than the limit (long extensions).
    case sizeLineTooLong
    /// A line end that is not CRLF: a bare LF, a CR followed by something else, or chunk data not followed
    /// by CRLF. Bare LF is refused here (RFC 9112 §2.2 allows it elsewhere) because the bytes are passed to
    /// another parser unchanged, which might end the line elsewhere.
    case invalidLineEnding
    /// A trailer line that is not `name: value` (also obsolete line folding).
    case invalidTrailer
    /// A trailer line longer than the limit.
    case trailerLineTooLong
    /// More trailer fields than the limit.
    case tooManyTrailerFields

    package var description: String {
        switch self {
        case .invalidChunkSize: "an invalid chunk-size line"
        case .chunkSizeOverflow: "a chunk size over 2^63 - 1"
        case .sizeLineTooLong: "a chunk-size line longer than the limit"
        case .invalidLineEnding: "a line end that is not CRLF"
        case .invalidTrailer: "an invalid trailer field"
        case .trailerLineTooLong: "a trailer line longer than the limit"
        case .tooManyTrailerFields: "more trailer fields than the limit"
        }
    }
}
