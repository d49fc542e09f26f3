import AsyncSockets

extension SOCKSServer {
    /// Creates the server and binds its listeners, so that a port in use fails here, before `run()`.
    ///
    /// - Parameters:
    ///   - configuration: what the server serves, and to whom.
    ///   - eventLoops: the loops to serve on, which the caller shuts down once `run()` has returned; `nil`
    ///     (the default) for the shared loops, which start with the first server or client and stop when
    ///     the last one is done (this server holds them from now until `run()` returns).
    /// - Throws: `SocketError` when an address cannot be bound (for example `EADDRINUSE`);
    ///   `SOCKSServerError.noListenAddress` for an empty address list; `SOCKSServerError.openProxy` for an
    ///   address that is not loopback with no users, no `allowFrom` and no `allowOpenProxy`;
    ///   `SOCKSServerError.noProtocols` for a listener with an empty protocol set, and
    ///   `SOCKSServerError.socks4WithAuthentication` for SOCKS4 offered while users must log in;
    ///   `SOCKSServerError.duplicateListenAddress` for an address with a fixed port given for two listeners;
    ///   `SOCKSServerError.eventLoopsUnavailable` when the loops cannot start (no descriptor for epoll, no
    ///   thread) or `eventLoops` has been shut down.
    //
    // The daemon's listening sockets passed on by systemd or an upgrade are no embedder's concern: the
    // initialiser that takes them is `package`, and this one passes none.
    public init(configuration: Configuration, eventLoops: EventLoopGroup? = nil) throws {
        try self.init(configuration: configuration, eventLoops: eventLoops, passed: .none)
    }
}
