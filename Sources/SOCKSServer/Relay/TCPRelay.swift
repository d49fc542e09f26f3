import AsyncSockets

/// Pipes bytes both ways between two TCP connections until both directions have ended.
///
/// Both directions run in the calling task (`SplicedDirection`): each copies its first bytes through a small
/// buffer, then moves bytes with `splice(2)` through pipes taken from the pool only while bytes move (zero
/// copy; an idle relay holds no pipe, no buffer and no extra task), and copies again where the kernel
/// refuses to splice. `usesSplice = false` selects the other shape, kept for tests: a child task takes one
/// direction and each direction reads through the source's chunk sequence and writes to the other side. EOF in one direction becomes a half-close
/// (`shutdown(SHUT_WR)`) on the other, and the opposite direction keeps flowing. A reset (or any other
/// error) on one side is passed on as a reset to the other, so a cut-off download never looks complete.
/// An error, the idle timeout, or cancellation ends both directions, and both connections are closed.
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
    /// The user's bandwidth cap, if it has one: each chunk is paid for after it moves, and the relay waits
    /// before the next while the user is over its rate.
    var bandwidth: BandwidthLimiter?
    /// Whether to try splice first; `false` forces the copying path (tests use it to exercise that path).
    var usesSplice = true
    /// Where spliced directions take their pipes.
    var pipes = SplicePipePool.shared

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
            if usesSplice {
                try await runSpliced()
            } else {
                try await runWithTasks()
            }
        } catch let failure as SplicedDirection.Failure {
            passOnReset(from: failure.brokenSide, error: failure.error)
            if watchdog?.hasExpired == true { throw Ending.idleTimeout }
            throw failure.error
        } catch {
            if watchdog?.hasExpired == true { throw Ending.idleTimeout }
            throw error
        }
    }

    /// A side that failed on its own (a reset, a broken pipe) gets its peer reset too. A socket this relay
    /// closed (idle timeout, cancellation) is no reason to reset the other: it gets a FIN as usual.
    private func passOnReset(from brokenSide: TCPConnection, error: any Error) {
        switch error {
        case SocketError.closed, is CancellationError:
            return
        default:
            (brokenSide === client ? target : client).abort()
        }
    }

    /// Moves both directions from this task (copying, then splicing), waiting for whichever socket holds
    /// it up.
    private func runSpliced() async throws {
        var directions = [
            SplicedDirection(source: client, sink: target, pool: pipes, count: countUp),
            SplicedDirection(source: target, sink: client, pool: pipes, count: countDown),
        ]
        if bandwidth != nil {
            for index in directions.indices { directions[index].roundsPerAdvance = 1 }
        }
        defer {
            for index in directions.indices { directions[index].release() }
        }
        // One array for the whole relay, emptied each round: no allocation per wait.
        var needs: [(TCPConnection, SocketReadiness)] = []
        needs.reserveCapacity(directions.count)
        while true {
            try await waitForBandwidth()
            needs.removeAll(keepingCapacity: true)
            var yieldNow = false
            for index in directions.indices where !directions[index].finished {
                switch try directions[index].advance() {
                case .blocked(let need): needs.append(need)
                case .busy: yieldNow = true
                case .finished: break
                }
            }
            if directions.allSatisfy(\.finished) { return }
            if yieldNow {
                // A direction that never runs dry must not hold the event loop from other sessions.
                await Task.yield()
                try Task.checkCancellation()
            } else {
                try await TCPConnection.waitUntilReady(needs)
            }
        }
    }

    /// The copying path, for when splice cannot serve these sockets: a child task copies target → client,
    /// this task copies client → target.
    private func runWithTasks() async throws {
        let failure = FirstOutcome<any Error>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            // A direction that fails passes a reset on and closes both sockets, which wakes the other
            // direction; the first failure is what the relay reports.
            group.addTask { [self] in
                do {
                    try await Self.pump(from: target, to: client, bufferSize: bufferSize, bandwidth: bandwidth, count: countDown)
                } catch {
                    endBoth(after: error, recordingIn: failure)
                    throw error
                }
            }
            defer { group.cancelAll() }
            do {
                try await Self.pump(from: client, to: target, bufferSize: bufferSize, bandwidth: bandwidth, count: countUp)
                try await group.next()
            } catch {
                endBoth(after: error, recordingIn: failure)
                throw failure.first ?? error
            }
        }
    }

    private func countUp(_ bytes: Int) {
        counters.countUp(bytes)
        bandwidth?.consume(bytes)
    }

    private func countDown(_ bytes: Int) {
        counters.countDown(bytes)
        bandwidth?.consume(bytes)
    }

    /// While the user is over its bandwidth cap, waits on the loop's timer until it is not.
    private func waitForBandwidth() async throws {
        guard let bandwidth else { return }
        while let wait = bandwidth.delay() {
            try await client.eventLoop.sleep(for: wait)
        }
    }

    /// Records a direction's failure, resets the other side if this one broke on its own, closes both.
    private func endBoth(after error: any Error, recordingIn failure: FirstOutcome<any Error>) {
        failure.record(error)
        if let broken = error as? SplicedDirection.Failure { passOnReset(from: broken.brokenSide, error: broken.error) }
        client.close()
        target.close()
    }

    /// Copies `source` to `sink` until EOF, then half-closes `sink`; a failure names the socket it hit.
    private static func pump(
        from source: TCPConnection, to sink: TCPConnection, bufferSize: Int, bandwidth: BandwidthLimiter?, count: (Int) -> Void
    ) async throws {
        var chunks = source.chunks(chunkSize: bufferSize).makeAsyncIterator()
        while true {
            if let wait = bandwidth?.delay() { try await source.eventLoop.sleep(for: wait) }
            let chunk: ArraySlice<UInt8>?
            do { chunk = try await chunks.next() } catch { throw SplicedDirection.Failure(brokenSide: source, error: error) }
            guard let chunk else { break }
            do { try await sink.write(chunk) } catch { throw SplicedDirection.Failure(brokenSide: sink, error: error) }
            count(chunk.count)
        }
        sink.shutdownWrite()
    }
}
