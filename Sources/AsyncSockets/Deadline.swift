/// Runs `operation`, cancelling it and throwing `SocketError.timedOut` if it has not finished after `timeout`.
///
/// The operation must respond to cancellation (every async socket call does). The deadline is an event
/// loop's timer, which a cancellation takes out at once (no dispatch timer left behind per call).
public func withDeadline<Result: Sendable>(
    _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await EventLoop.group.loopForNewSocket().sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw SocketError.timedOut }
        guard let result = first else { throw SocketError.timedOut }
        return result
    }
}
