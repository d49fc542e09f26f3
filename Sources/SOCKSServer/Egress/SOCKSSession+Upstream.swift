import AsyncSockets

extension SOCKSSession {
    /// The client hung up while the session waited on the upstream for it.
    struct ClientHungUp: Error, CustomStringConvertible {
        var description: String { "the client closed the connection while the upstream was asked" }
    }

    /// Runs a request to the upstream (or any wait on the client's behalf) under `timeout`, while watching
    /// the client's connection: a client that hangs up ends the wait at once with `ClientHungUp`, and a
    /// stalled upstream ends it with `SocketError.timedOut`. The client's bytes are not read meanwhile (early
    /// data stays where it is); only the TCP state is looked at.
    ///
    /// - Parameter timeout: nil for no deadline (an HTTP origin's answer, which may take as long as it takes).
    /// - Parameter endsOnFIN: whether the client's FIN counts as a hang-up. `false` for CONNECT and BIND,
    ///   where a FIN after early data is a half-close that the relay passes on, and for an HTTP origin's
    ///   answer to a complete request, which the half-closed client still gets; only a reset ends the wait.
    ///
    /// A result that arrives after the wait was given up is dropped, which closes its sockets.
    func whileClientWaits<Result: Sendable>(
        timeout: Duration?, endsOnFIN: Bool = true, _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let connection = self.connection
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await connection.waitUntilPeerCloses(orFinishes: endsOnFIN)
                throw ClientHungUp()
            }
            if let timeout {
                group.addTask {
                    try await connection.eventLoop.sleep(for: timeout)
                    throw SocketError.timedOut
                }
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else { throw SocketError.timedOut }
            return result
        }
    }
}
