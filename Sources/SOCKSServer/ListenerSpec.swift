import AsyncSockets

/// One address a configuration listens on, and whether its connections start with a PROXY header.
struct ListenerSpec: Sendable, Hashable {
    let address: SocketAddress
    /// The trusted balancers of a PROXY protocol listener; nil for a plain one.
    let trustedProxies: [IPNetwork]?

    /// Every listener of `configuration`, plain ones first, each address once (its first mention wins).
    static func all(_ configuration: SOCKSServer.Configuration) -> [ListenerSpec] {
        var specs: [ListenerSpec] = []
        let candidates = configuration.listenAddresses.map { ListenerSpec(address: $0, trustedProxies: nil) }
            + configuration.proxyProtocolListeners.map { ListenerSpec(address: $0.address, trustedProxies: $0.trustedProxies) }
        for spec in candidates where !specs.contains(where: { $0.address == spec.address }) {
            specs.append(spec)
        }
        return specs
    }

    /// Checks what binding cannot: at least one listener, and a trusted balancer for each PROXY listener.
    static func validate(_ configuration: SOCKSServer.Configuration) throws(SOCKSServerError) -> [ListenerSpec] {
        let specs = all(configuration)
        guard !specs.isEmpty else { throw .noListenAddress }
        for spec in specs where spec.trustedProxies?.isEmpty == true {
            throw .noTrustedProxies(spec.address)
        }
        return specs
    }
}
