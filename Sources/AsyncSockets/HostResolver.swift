/// Turns a host name into socket addresses. `NameResolver` (the system's `getaddrinfo`) is the standard
/// one; an embedder can supply another (a fixed table, DNS over a tunnel) through the server configuration.
public protocol HostResolver: Sendable {
    /// Every address of `host` for `port`, in the order to try them.
    ///
    /// - Throws: `SocketError.nameNotFound` when the name has no address.
    func resolve(host: String, port: UInt16) async throws -> [SocketAddress]

    /// The same, giving up with `SocketError.timedOut` after `timeout`. A requirement (with a default in
    /// the extension below) so that calls through `any HostResolver` reach a resolver's own version.
    func resolve(host: String, port: UInt16, timeout: Duration) async throws -> [SocketAddress]
}

extension HostResolver {
    /// `resolve(host:port:)` that gives up with `SocketError.timedOut` after `timeout`. The default wraps
    /// the lookup in `withDeadline` (a task group); resolvers that can do better override it.
    public func resolve(host: String, port: UInt16, timeout: Duration) async throws -> [SocketAddress] {
        try await withDeadline(timeout) { try await self.resolve(host: host, port: port) }
    }
}

extension NameResolver: HostResolver {}
