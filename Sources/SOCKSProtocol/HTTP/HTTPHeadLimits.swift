/// How much an HTTP/1.x head may hold; past it the message is refused (431 for a request, 502 for a
/// response from an origin), not buffered.
package struct HTTPHeadLimits: Hashable, Sendable {
    /// Bytes, from the first byte to the end of the empty line that ends the head.
    package var maximumLength: Int
    /// Header field lines.
    package var maximumFields: Int

    /// The defaults are the metrics endpoint's: 8 KiB and 100 fields.
    package init(maximumLength: Int = 8 * 1024, maximumFields: Int = 100) {
        self.maximumLength = maximumLength
        self.maximumFields = maximumFields
    }

    /// A request head a client sends the HTTP proxy: 16 KiB and 100 fields, read within the handshake deadline.
    package static let proxyRequest = HTTPHeadLimits(maximumLength: 16 * 1024, maximumFields: 100)

    /// A response head an origin sends back through the proxy: larger, since sites send many and long
    /// `Set-Cookie` fields (64 KiB and 200 fields).
    package static let proxyResponse = HTTPHeadLimits(maximumLength: 64 * 1024, maximumFields: 200)
}
