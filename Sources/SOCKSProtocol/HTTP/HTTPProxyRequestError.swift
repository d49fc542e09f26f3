/// Why a client's bytes are not a request the HTTP proxy can serve. `status` is the answer to send (then
/// close the connection); the description is for the log (escape it: it may quote the client).
package enum HTTPProxyRequestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The head is not HTTP/1.x (400), too large (431) or of another version (505).
    case head(HTTPHeadParseError)
    /// An origin-form (`/path`) or `*` target: a request for a server, not a proxy (400).
    case notAProxyRequest
    /// A `CONNECT` authority or `http://` URI that cannot be read or names no valid host (400).
    case invalidTarget(String)
    /// An absolute-form target of another scheme than `http`, such as `https://` (501): clients reach
    /// `https://` through `CONNECT`.
    case unsupportedScheme(String)
    /// A body whose end cannot be determined safely (400).
    case framing(HTTPFramingError)

    /// The status to answer with.
    package var status: HTTPStatus {
        switch self {
        case .head(.malformed): .badRequest
        case .head(.headTooLarge), .head(.tooManyFields): .requestHeaderFieldsTooLarge
        case .head(.unsupportedVersion): .httpVersionNotSupported
        case .notAProxyRequest, .invalidTarget, .framing: .badRequest
        case .unsupportedScheme: .notImplemented
        }
    }

    package var description: String {
        switch self {
        case .head(let error): "bad request head: \(error)"
        case .notAProxyRequest: "not a proxy request (origin-form or * target)"
        case .invalidTarget(let reason): "bad target: \(reason)"
        case .unsupportedScheme(let scheme): "scheme \(scheme) is not proxied (use CONNECT)"
        case .framing(let error): "bad body framing: \(error)"
        }
    }
}
