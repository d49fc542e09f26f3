/// Why bytes can never be a valid HTTP/1.x head (request or response).
package enum HTTPHeadParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Not HTTP/1.x syntax (400 for a request, 502 for a response); the reason is for logs and tests.
    case malformed(String)
    /// No end of the head within `maximumLength` bytes (431 for a request).
    case headTooLarge
    /// More than `maximumFields` field lines (431 for a request).
    case tooManyFields
    /// A well-formed start line of another major version, such as `HTTP/2.0` (505 for a request).
    case unsupportedVersion

    package var description: String {
        switch self {
        case .malformed(let reason): reason
        case .headTooLarge: "the head is longer than the limit"
        case .tooManyFields: "the head has more fields than the limit"
        case .unsupportedVersion: "not HTTP/1.x"
        }
    }
}
