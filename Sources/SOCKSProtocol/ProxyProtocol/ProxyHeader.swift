/// A decoded PROXY protocol header (v1 text or v2 binary): what a load balancer in front of the server says
/// about the connection it relays.
///
/// `source` and `destination` are set together or not at all. They are `nil` whenever the specification
/// tells the receiver to use the real connection's endpoints instead:
/// - v2 `LOCAL` (the balancer's own connection, e.g. a health check): the address block is ignored;
/// - v1 `UNKNOWN`;
/// - v2 `PROXY` with the UNSPEC or UNIX family, or the UNSPEC transport: nothing an IP server can use;
/// - v2 `PROXY` with the DGRAM transport over INET or INET6. These are UDP flows: their addresses do not
///   describe a TCP connection, and a receiver that does not support a valid combination "falls back to the
///   UNSPEC mode" (HAProxy's specification, section 2.2), that is to the real endpoints.
///
/// So only TCP over IPv4 or IPv6 (v1 `TCP4`/`TCP6`, v2 `\x11`/`\x21` with `PROXY`) sets them, both of the same
/// family.
package struct ProxyHeader: Sendable, Hashable {
    /// The v2 command; v1 headers are always `.proxy`.
    package enum Command: Sendable, Hashable {
        /// The connection was relayed on behalf of a client.
        case proxy
        /// The balancer opened the connection for itself (health checks): use the real endpoints.
        case local
    }

    /// 1 (text) or 2 (binary).
    package var version: Int
    /// v1 is always `.proxy`.
    package var command: Command
    /// The original client; `nil` when the real connection endpoints are to be used (see the type's notes).
    package var source: ProxyEndpoint?
    /// The address the original client connected to; `nil` exactly when `source` is.
    package var destination: ProxyEndpoint?

    package init(version: Int, command: Command, source: ProxyEndpoint?, destination: ProxyEndpoint?) {
        self.version = version
        self.command = command
        self.source = source
        self.destination = destination
    }
}
