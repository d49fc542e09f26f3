/// The fields that concern one connection and not the message (RFC 9110 §7.6.1), which a proxy removes
/// before it forwards a request or a response.
enum HTTPHopByHop {
    /// Always removed: the connection's own options, the proxy's login exchange and `Proxy-Connection` (a
    /// pre-standard `Connection` still sent by some clients). `Transfer-Encoding` is not among them: the body
    /// passes through unchanged, so the field that frames it must pass too.
    static let fixedNames: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate", "te", "trailer", "upgrade",
    ]

    /// Never removed, even when `Connection` names them: the fields the body's framing and the origin's
    /// routing depend on. Letting a client strip `Content-Length` this way would make the origin read the
    /// body as the next request (request smuggling).
    static let protectedNames: Set<String> = ["host", "content-length", "transfer-encoding"]

    /// `fields` in order without the hop-by-hop ones: the fixed set and every field `Connection` names.
    static func removing(from fields: [HTTPField]) -> [HTTPField] {
        let named = Set(fields.lowercasedListElements(of: "connection")).subtracting(protectedNames)
        return fields.filter { field in
            let name = String(decoding: field.name.utf8.map(HTTPSyntax.lowercased), as: UTF8.self)
            return !fixedNames.contains(name) && !named.contains(name)
        }
    }

    /// Appends `name: value` CRLF, the value's bytes as received.
    static func append(_ field: HTTPField, to bytes: inout [UInt8]) {
        bytes += field.name.utf8
        bytes += ": ".utf8
        bytes += field.valueBytes
        bytes += "\r\n".utf8
    }
}
