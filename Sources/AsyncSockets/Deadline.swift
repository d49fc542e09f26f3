/// Runs `operation`, cancelling it and throwing `SocketError.timedOut` if it has not finished after `timeout`.
///
/// The operation must respond to cancellation (every async socket call does). The deadline is an event
/// loop's timer, which a cancellation takes out at once (no dispatch timer left behind per call).
package func withDeadline<Result: Sendable>(
    _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withDeadline(timeout, watching: nil, operation)
}

/// The peer of a connection watched during a wait hung up (`withDeadline(_:watching:endsOnFIN:_:)`).
package struct PeerHungUp: Error, CustomStringConvertible {
    package init() {}
    package var description: String { "the peer closed the connection during the wait" }
}

/// Runs `operation` while racing it against a deadline and the hang-up of `peer`: the first to finish ends
/// the others (cancelled). The one race behind every wait with a deadline, and behind every wait a server
/// does on a client's behalf (a dial, an upstream's answer), which a client that hangs up must end at once.
///
/// - Parameters:
///   - timeout: nil for no deadline; otherwise `SocketError.timedOut` once it passes (timed by `peer`'s
///     loop, or any loop).
///   - peer: a connection whose hang-up throws `PeerHungUp`; its bytes are not read meanwhile (early data
///     stays where it is), only its TCP state is looked at.
///   - endsOnFIN: whether the peer's FIN counts as a hang-up, or only a reset does (a FIN can be a
///     half-close that a relay passes on later).
///
/// A result that arrives after the wait was given up is dropped (which closes the sockets it holds).
package func withDeadline<Result: Sendable>(
    _ timeout: Duration?, watching peer: TCPConnection?, endsOnFIN: Bool = true, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await operation() }
        if let peer {
            group.addTask {
                try await peer.waitUntilPeerCloses(orFinishes: endsOnFIN)
                throw PeerHungUp()
            }
        }
        if let timeout {
            group.addTask {
                // The peer's loop when there is one (its socket keeps that loop running); else the
                // calling thread's or a shared one.
                if let peer {
                    try await peer.eventLoop.sleep(for: timeout)
                } else {
                    try await EventLoop.sleepOnAnyLoop(for: timeout)
                }
                return nil
            }
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else { throw SocketError.timedOut }
        return result
    }
}
