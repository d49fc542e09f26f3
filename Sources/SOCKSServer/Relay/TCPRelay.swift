import AsyncSockets

/// Pipes bytes both ways between two TCP connections until both directions have ended.
///
/// Client → target runs in the calling task, target → client in one child task. Each direction moves
/// bytes with `splice(2)` through a pipe (pooled; zero copy, and no user-space buffer while the relay
/// waits), or, where no pipe can be had or the kernel refuses,
/// reads through the source's chunk sequence (one buffer, made once) and writes to the other side. EOF in
/// one direction becomes a half-close (`shutdown(SHUT_WR)`) on the other, and the opposite direction keeps
/// flowing. An error in either direction, the idle timeout, or cancellation ends both, and both
/// connections are closed.
struct TCPRelay {
    /// Why a relay ended early.
    enum Ending: Error, Sendable {
        case idleTimeout
    }

    let client: TCPConnection
    let target: TCPConnection
    let bufferSize: Int
    let idleTimeout: Duration?
    let counters: RelayCounters

    func run() async throws {
        defer {
            client.close()
            target.close()
        }
        let failure = FirstFailure()
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Target → client in a child task, client → target in this one: a relay costs one task, not two.
            // A child that fails closes both sockets, which wakes this task's direction; the first failure
            // is what the relay reports.
            group.addTask { [client, target, bufferSize, counters] in
                do {
                    try await Self.pump(from: target, to: client, bufferSize: bufferSize, count: counters.countDown)
                } catch {
                    failure.record(error)
                    client.close()
                    target.close()
                    throw error
                }
            }
            if let idleTimeout {
                group.addTask { [client, target, counters] in
                    try await counters.waitUntilIdle(for: idleTimeout)
                    failure.record(Ending.idleTimeout)
                    client.close()
                    target.close()
                    throw Ending.idleTimeout
                }
            }
            defer { group.cancelAll() }
            do {
                try await Self.pump(from: client, to: target, bufferSize: bufferSize, count: counters.countUp)
                // This direction ended with a half-close; wait for the other (the idle watcher only throws).
                try await group.next()
            } catch {
                failure.record(error)
                throw failure.first ?? error
            }
        }
    }

    private static func pump(
        from source: TCPConnection, to sink: TCPConnection, bufferSize: Int, count: (Int) -> Void
    ) async throws {
        if let pipe = try? SplicePipePool.shared.take() {
            defer { SplicePipePool.shared.recycle(pipe) }
            do {
                try await pipe.transfer(from: source, to: sink, moved: count)
                sink.shutdownWrite()
                return
            } catch is SplicePipe.Unsupported {
                // Fall through to copying.
            }
        }
        for try await chunk in source.chunks(chunkSize: bufferSize) {
            try await sink.write(chunk)
            count(chunk.count)
        }
        sink.shutdownWrite()
    }
}

