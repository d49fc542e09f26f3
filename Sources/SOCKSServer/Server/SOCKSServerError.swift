import AsyncSockets

/// Lifecycle errors of `SOCKSServer`.
public enum SOCKSServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `run()` was called on a server that is running or has stopped.
    case alreadyStarted
    /// The configuration lists no address to listen on.
    case noListenAddress
    /// The configuration would make an open proxy on an address that is not loopback: no users, no
    /// `allowFrom`, and `allowOpenProxy` not set. Carries the addresses.
    case openProxy([SocketAddress])
    /// A reload was asked of a server that has stopped or is draining after `shutdown()`.
    case notServing
    /// A PROXY protocol listener names no trusted balancer. Carries its address.
    case noTrustedProxies(SocketAddress)
    /// A listener accepts no protocol at all. Carries its address.
    case noProtocols(SocketAddress)
    /// Listeners offer SOCKS4, which carries no password, while users must log in. Carries their addresses.
    case socks4WithAuthentication([SocketAddress])
    /// One address with a fixed port is configured for two listeners (twice in `listenAddresses`, twice
    /// among `proxyProtocolListeners`, or in both): one socket can be only one of them. Carries the
    /// address. (Port 0 twice is two listeners, each on a port of its own.)
    case duplicateListenAddress(SocketAddress)
    /// A route (the server's, or a user's) names an upstream the configuration does not have.
    /// Carries the route and the name.
    case unknownUpstream(route: String, name: String)
    /// An upstream in `upstreams` is named `direct` or `default`, which routes reserve.
    case reservedUpstreamName(String)
    /// The server's event loops could not start (no descriptor left for epoll or an eventfd, no thread),
    /// or the `EventLoopGroup` given has been shut down. Carries the cause.
    case eventLoopsUnavailable(SocketError)

    public var description: String {
        switch self {
        case .alreadyStarted: "the server was already started; a SOCKSServer runs once"
        case .noListenAddress: "no listen address configured"
        case .notServing: "the server has stopped or is shutting down; it takes no new configuration"
        case .noTrustedProxies(let address):
            "the PROXY protocol listener \(address) names no trusted balancer: anyone could claim any client address"
        case .noProtocols(let address):
            "the listener \(address) accepts no protocol: give it at least one of socks5, socks4, http"
        case .socks4WithAuthentication(let addresses):
            "SOCKS4 carries no password, but users must log in: remove socks4 from the protocols of "
                + "\(addresses.map(\.description).joined(separator: ", ")), or the users"
        case .duplicateListenAddress(let address):
            "\(address) is configured for two listeners: one address can be one listener, plain or PROXY protocol; remove one"
        case .unknownUpstream(let route, let name):
            "the route \(route) names the upstream '\(name)', which is not configured"
        case .reservedUpstreamName(let name):
            "'\(name)' cannot name an upstream: direct and default are reserved"
        case .eventLoopsUnavailable(let cause):
            "cannot start the event loops: \(cause)"
        case .openProxy(let addresses):
            "refusing to run an open proxy on \(addresses.map(\.description).joined(separator: ", ")): anyone who reaches "
                + "it could use it. Configure users or allowFrom, or set allowOpenProxy if an open proxy is what you mean"
        }
    }
}
