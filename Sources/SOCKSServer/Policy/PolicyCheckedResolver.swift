import AsyncSockets

/// A resolver that passes on only the addresses the access policy allows for the name looked up, and throws
/// `AccessDenied` when it allows none. Every direct connect and send of a session resolves through it, so a
/// name is checked again by each address it resolves to before anything connects there.
struct PolicyCheckedResolver: HostResolver {
    let base: any HostResolver
    let policy: AccessPolicy

    func resolve(host: String, port: UInt16) async throws -> [SocketAddress] {
        try allowed(try await base.resolve(host: host, port: port), host: host)
    }

    func resolve(host: String, port: UInt16, timeout: Duration) async throws -> [SocketAddress] {
        try allowed(try await base.resolve(host: host, port: port, timeout: timeout), host: host)
    }

    private func allowed(_ addresses: [SocketAddress], host: String) throws -> [SocketAddress] {
        let name = IPAddress(host) == nil ? host : nil
        var allowed: [SocketAddress] = []
        var firstDenial: AccessDenied?
        for address in addresses {
            do throws(AccessDenied) {
                try policy.check(name: name, address: address)
                allowed.append(address)
            } catch {
                firstDenial = firstDenial ?? error
            }
        }
        if allowed.isEmpty, let firstDenial { throw firstDenial }
        return allowed
    }
}
