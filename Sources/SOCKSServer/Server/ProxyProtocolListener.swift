import AsyncSockets

/// A listener behind a load balancer: every connection on it must start with a PROXY protocol header (v1
/// or v2, told apart by its first bytes), and only from the balancers in `trustedProxies`. The address in
/// the header is then the client's address everywhere: the access log, `allowFrom`, the per-IP limits and
/// rate, login throttling, metrics and the UDP ASSOCIATE client check.
public struct ProxyProtocolListener: Sendable, Hashable {
    /// Where to listen.
    public var address: SocketAddress
    /// The balancers allowed to connect here (and so to name a client); a connection from anywhere else is
    /// closed at accept. Must not be empty: anyone who may send a header can claim any address.
    public var trustedProxies: [IPNetwork]

    public init(address: SocketAddress, trustedProxies: [IPNetwork]) {
        self.address = address
        self.trustedProxies = trustedProxies
    }
}
