/// What the `Connection` field (and, from clients, the pre-standard `Proxy-Connection`) says about keeping
/// the connection open after this message (RFC 9112 §9.3).
struct HTTPConnectionOptions {
    /// Whether the sender wants the connection kept open: HTTP/1.1 and later unless `close` is listed;
    /// HTTP/1.0 only with `keep-alive` listed (and not `close`).
    var keepAlive: Bool

    init(fields: [HTTPField], minorVersion: Int, includingProxyConnection: Bool) {
        var options = fields.lowercasedListElements(of: "connection")
        if includingProxyConnection { options += fields.lowercasedListElements(of: "proxy-connection") }
        if options.contains("close") {
            keepAlive = false
        } else {
            keepAlive = minorVersion >= 1 || options.contains("keep-alive")
        }
    }
}
