import AsyncSockets

extension SOCKSSession {
    /// Runs a wait on the client's behalf (a dial, a request to the upstream, an origin's answer) under
    /// `timeout`, while watching the client's connection: a client that hangs up ends the wait at once with
    /// `PeerHungUp`, and a stalled peer ends it with `SocketError.timedOut`.
    ///
    /// - Parameter timeout: nil for no deadline (an HTTP origin's answer, which may take as long as it takes).
    /// - Parameter endsOnFIN: whether the client's FIN counts as a hang-up. `false` for CONNECT and BIND,
    ///   where a FIN after early data is a half-close that the relay passes on, and for an HTTP origin's
    ///   answer to a complete request, which the half-closed client still gets; only a reset ends the wait.
    func whileClientWaits<Result: Sendable>(
        timeout: Duration?, endsOnFIN: Bool = true, _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await withDeadline(timeout, watching: connection, endsOnFIN: endsOnFIN, operation)
    }
}
