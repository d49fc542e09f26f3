import AsyncSockets

/// One address a configuration listens on: whether its connections start with a PROXY header, and which
/// protocols it accepts.
struct ListenerSpec: Sendable, Hashable {
    let address: SocketAddress
    /// The trusted balancers of a PROXY protocol listener; nil for a plain one.
    let trustedProxies: [IPNetwork]?
    /// What the first byte of a connection may choose.
    let protocols: Set<ClientProtocol>

    /// Every listener of `configuration`, plain ones first, each address once (its first mention wins).
    static func all(_ configuration: SOCKSServer.Configuration) -> [ListenerSpec] {
        var specs: [ListenerSpec] = []
        let protocols = { (address: SocketAddress) in configuration.listenerProtocols[address] ?? configuration.protocols }
        let candidates = configuration.listenAddresses.map { ListenerSpec(address: $0, trustedProxies: nil, protocols: protocols($0)) }
            + configuration.proxyProtocolListeners.map {
                ListenerSpec(address: $0.address, trustedProxies: $0.trustedProxies, protocols: protocols($0.address))
            }
        for spec in candidates where !specs.contains(where: { $0.address == spec.address }) {
            specs.append(spec)
        }
        return specs
    }

    /// Checks what binding cannot: at least one listener, a trusted balancer for each PROXY listener, at
    /// least one protocol for each, and no SOCKS4 (which has no password) while users must log in.
    static func validate(_ configuration: SOCKSServer.Configuration) throws(SOCKSServerError) -> [ListenerSpec] {
        let specs = all(configuration)
        guard !specs.isEmpty else { throw .noListenAddress }
        for spec in specs where spec.trustedProxies?.isEmpty == true {
            throw .noTrustedProxies(spec.address)
        }
        for spec in specs where spec.protocols.isEmpty {
            throw .noProtocols(spec.address)
        }
        if configuration.users != nil {
            let offering = specs.filter { $0.protocols.contains(.socks4) }.map(\.address)
            guard offering.isEmpty else { throw .socks4WithAuthentication(offering) }
        }
        return specs
    }
}
