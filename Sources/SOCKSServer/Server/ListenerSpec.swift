import AsyncSockets

/// One address a configuration listens on: whether its connections start with a PROXY header, and which
/// protocols it accepts.
struct ListenerSpec: Sendable, Hashable {
    let address: SocketAddress
    /// The trusted balancers of a PROXY protocol listener; nil for a plain one.
    let trustedProxies: [IPNetwork]?
    /// What the first byte of a connection may choose.
    let protocols: Set<ClientProtocol>

    /// Every listener of `configuration`, plain ones first, as configured: an address given twice is there
    /// twice (`validate` refuses that unless its port is 0, which binds a new port each time).
    static func all(_ configuration: SOCKSServer.Configuration) -> [ListenerSpec] {
        let protocols = { (address: SocketAddress) in configuration.listenerProtocols[address] ?? configuration.protocols }
        return configuration.listenAddresses.map { ListenerSpec(address: $0, trustedProxies: nil, protocols: protocols($0)) }
            + configuration.proxyProtocolListeners.map {
                ListenerSpec(address: $0.address, trustedProxies: $0.trustedProxies, protocols: protocols($0.address))
            }
    }

    /// Checks what binding cannot: at least one listener, no address with a fixed port twice (one socket
    /// cannot be two listeners, and one of them would vanish without a word), a trusted balancer for each
    /// PROXY listener, at least one protocol for each, and no SOCKS4 (which has no password) while users
    /// must log in.
    static func validate(_ configuration: SOCKSServer.Configuration) throws(SOCKSServerError) -> [ListenerSpec] {
        let specs = all(configuration)
        guard !specs.isEmpty else { throw .noListenAddress }
        var fixed: Set<SocketAddress> = []
        for spec in specs where spec.address.port != 0 {
            guard fixed.insert(spec.address).inserted else { throw .duplicateListenAddress(spec.address) }
        }
        for spec in specs where spec.trustedProxies?.isEmpty == true {
            throw .noTrustedProxies(spec.address)
        }
        for spec in specs where spec.protocols.isEmpty {
            throw .noProtocols(spec.address)
        }
        if configuration.requiresLogin {
            let offering = specs.filter { $0.protocols.contains(.socks4) }.map(\.address)
            guard offering.isEmpty else { throw .socks4WithAuthentication(offering) }
        }
        return specs
    }
}
