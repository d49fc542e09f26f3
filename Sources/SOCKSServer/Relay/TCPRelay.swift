import AsyncSockets

/// Pipes bytes both ways between two TCP connections until both directions have ended.
///
/// Both directions run in the calling task, moving bytes with `splice(2)` through two pooled pipes (zero
/// copy, no user-space buffer while the relay waits, no extra task). Where no pipe can be had or the
/// kernel refuses, a child task takes one direction and each direction reads through the source's chunk
/// sequence (one buffer, made once) and writes to the other side. EOF in
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
    /// Whether to try splice first; `false` forces the copying path (tests use it to exercise that path).
    var usesSplice = true

    func run() async throws {
        defer {
            client.close()
            target.close()
        }
        let watchdog = idleTimeout.map { timeout in
            IdleWatchdog(loop: client.eventLoop, counters: counters, timeout: timeout) { [client, target] in
                client.close()
                target.close()
            }
        }
        defer { watchdog?.stop() }
        do {
            // Both directions spliced by this one task when two pipes can be had; else a child task per
            // direction, copying where splice is refused.
            if usesSplice, let up = try? SplicePipePool.shared.take() {
                defer { SplicePipePool.shared.recycle(up) }
                if let down = try? SplicePipePool.shared.take() {
                    defer { SplicePipePool.shared.recycle(down) }
                    if try await runSpliced(up: up, down: down) { return }
                }
            }
            try await runWithTasks()
        } catch {
            if watchdog?.hasExpired == true { throw Ending.idleTimeout }
            throw error
        }
    }

    /// Splices both directions from this task, waiting for whichever socket holds it up.
    ///
    /// - Returns: `false` if the kernel refused to splice before any byte moved (the caller copies instead).
    private func runSpliced(up: SplicePipe, down: SplicePipe) async throws -> Bool {
        var directions = [
            SplicedDirection(source: client, sink: target, pipe: up, count: counters.countUp),
            SplicedDirection(source: target, sink: client, pipe: down, count: counters.countDown),
        ]
        var movedAny = false
        while true {
            var needs: [(TCPConnection, SocketReadiness)] = []
            var yieldNow = false
            for index in directions.indices where !directions[index].finished {
                do {
                    switch try directions[index].advance() {
                    case .blocked(let need): needs.append(need)
                    case .busy: yieldNow = true
                    case .finished: break
                    }
                } catch is SplicePipe.Unsupported where !movedAny {
                    return false
                }
                movedAny = movedAny || directions[index].movedAny
            }
            if directions.allSatisfy(\.finished) { return true }
            if yieldNow {
                // A direction that never runs dry must not hold the event loop from other sessions.
                await Task.yield()
                try Task.checkCancellation()
            } else {
                try await TCPConnection.waitUntilReady(needs)
            }
        }
    }

    /// The copying path, for when splice cannot be had: a child task copies target → client, this task
    /// copies client → target.
    private func runWithTasks() async throws {
        let failure = FirstFailure()
        try await withThrowingTaskGroup(of: Void.self) { group in
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
            defer { group.cancelAll() }
            do {
                try await Self.pump(from: client, to: target, bufferSize: bufferSize, count: counters.countUp)
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
        for try await chunk in source.chunks(chunkSize: bufferSize) {
            try await sink.write(chunk)
            count(chunk.count)
        }
        sink.shutdownWrite()
    }
}

