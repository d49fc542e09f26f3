/// What a task waits for on a socket.
public enum SocketReadiness: Sendable {
    case readable, writable
}

extension TCPConnection {
    /// Suspends until any one of `needs` may be ready, so that one task can drive several connections
    /// (a relay that moves both directions itself). Wakes early, never late: the caller retries its calls.
    ///
    /// - Throws: `SocketError.closed` when one of the connections is closed, `CancellationError` on
    ///   cancellation.
    public static func waitUntilReady(_ needs: [(TCPConnection, SocketReadiness)]) async throws {
        try await IORegistration.waitForAny(needs.map { connection, readiness in
            (connection.descriptor.registration, readiness == .readable ? .read : .write)
        })
    }
}
