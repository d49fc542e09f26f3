import AsyncSockets

/// Pipes bytes both ways between two TCP connections until both directions have ended.
///
/// Each direction is a child task. It moves bytes with `splice(2)` through a pipe (pooled; zero copy, and
/// no user-space buffer while the relay waits), or, where no pipe can be had or the kernel refuses,
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
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [client, target, bufferSize, counters] in
                try await Self.pump(from: client, to: target, bufferSize: bufferSize, count: counters.countUp)
            }
            group.addTask { [client, target, bufferSize, counters] in
                try await Self.pump(from: target, to: client, bufferSize: bufferSize, count: counters.countDown)
            }
            if let idleTimeout {
                group.addTask { [counters] in
                    try await counters.waitUntilIdle(for: idleTimeout)
                    throw Ending.idleTimeout
                }
            }
            defer { group.cancelAll() }
            // Both pumps end normally on a double half-close; the watcher only ever ends by throwing.
            for _ in 0..<2 { try await group.next() }
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
