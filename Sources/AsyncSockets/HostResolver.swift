/// Turns a host name into socket addresses. `NameResolver` (the system's `getaddrinfo`) is the standard
/// one; an embedder can supply another (a fixed table, DNS over a tunnel) through the server configuration.
public protocol HostResolver: Sendable {
    /// Every address of `host` for `port`, in the order to try them.
    ///
    /// - Throws: `SocketError.nameNotFound` when the name has no address.
    func resolve(host: String, port: UInt16) async throws -> [SocketAddress]
}

extension NameResolver: HostResolver {}
